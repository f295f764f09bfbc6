"""The public API's one shape: ``lifter`` everywhere, ``settings=`` plus overrides, shared defaults,
and the deprecated names that keep working (with a warning) for one release."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from pose3d_nb import Pose3D, PoseApp, PoseEngine, Settings
from pose3d_nb.batch.settings import PIPELINE_FIELDS, BatchSettings
from pose3d_nb.cli import build_parser, run_settings
from pose3d_nb.errors import Pose3DTypeError
from pose3d_nb.settings import DEFAULTS


def test_settings_with_overrides_build_the_engine():
    base = Settings(lifter="shipped", window=9, lookahead=2, flip=False, capacity=50, out_dir=None)
    engine = PoseEngine(settings=base, lookahead=4, source="camera:3")
    assert engine.settings == base.replace(lookahead=4, source="camera:3")
    assert engine.buffer.capacity == 50 and engine.out_dir is None
    assert "shipped" in engine.lifter_info.name
    # An override equal to the default still overrides (it is given, not left out).
    assert PoseEngine(settings=base, flip=DEFAULTS.flip).flip is DEFAULTS.flip


def test_the_engine_without_settings_takes_the_defaults():
    assert PoseEngine().settings == DEFAULTS
    assert PoseEngine("camera", out_dir=None).settings == DEFAULTS.replace(source="camera", out_dir=None)


def test_the_engine_records_into_its_out_dir_as_it_was_when_made(tmp_path, monkeypatch):
    # Kept relative, a %cd while recording moved the saves into another folder's out_files.
    monkeypatch.chdir(tmp_path)
    engine = PoseEngine(out_dir="out_files")
    monkeypatch.chdir(tmp_path.parent)
    assert engine.out_dir == tmp_path / "out_files"
    assert engine.settings.out_dir == "out_files"  # the choice as given


def test_bad_settings_are_refused():
    with pytest.raises(Pose3DTypeError, match="Settings"):
        PoseEngine(settings={"window": 3})
    with pytest.raises(ValueError, match="window must be >= 0"):
        PoseEngine(settings=Settings(lifter="shipped"), window=-1)


def test_checkpoint_still_works_for_the_engine_and_warns():
    with pytest.warns(DeprecationWarning, match=r"checkpoint=.*use lifter=") as caught:
        engine = PoseEngine(checkpoint="mediapipe", out_dir=None)
    assert caught[0].filename == __file__  # the warning points at the caller's line
    assert engine.lifter_info.name == PoseEngine(lifter="mediapipe", out_dir=None).lifter_info.name
    assert engine.settings.lifter == "mediapipe"
    with pytest.raises(Pose3DTypeError, match="lifter= only"):
        PoseEngine(lifter="shipped", checkpoint="mediapipe")


def test_from_settings_still_works_and_warns():
    settings = Settings(lifter="shipped", window=5, out_dir=None)
    with pytest.warns(DeprecationWarning, match=r"from_settings.*PoseEngine\(settings=settings\)") as caught:
        engine = PoseEngine.from_settings(settings, loop=True)
    assert caught[0].filename == __file__
    assert engine.settings == settings


def test_the_new_names_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PoseEngine(settings=Settings(out_dir=None), lifter="shipped")
        run_settings(build_parser().parse_args(["run", "--lifter", "shipped"]))


def test_the_app_takes_checkpoint_with_a_warning(tmp_path):
    with pytest.warns(DeprecationWarning, match=r"PoseApp\(checkpoint=") as caught:
        app = PoseApp(source="sample", checkpoint="mediapipe", out_dir=None)
    try:
        assert caught[0].filename == __file__
        assert app.engine.settings.lifter == "mediapipe"
    finally:
        app.close()


def test_pose3d_takes_settings_and_overrides():
    with Pose3D(settings=Settings(lifter="shipped", window=5, flip=False), lookahead=2) as pose3d:
        assert (pose3d.lifter.settings.window, pose3d.lifter.settings.lookahead) == (5, 2)
        assert pose3d.lifter.settings.flip is False
        # The engine's reading of which lifter runs, under the same name (Pose3D had none).
        assert pose3d.lifter_info == PoseEngine(lifter="shipped", out_dir=None).lifter_info


@pytest.mark.parametrize("documented", [Settings, Pose3D, PoseEngine])
def test_the_detector_option_names_every_built_in_detector(documented):
    # Settings, Pose3D and PoseEngine named "mediapipe", "detectron2" only.
    from pose3d_nb.detectors.registry import known_detectors

    text = " ".join(documented.__doc__.split())
    described = text[text.index("detector: "):][:400]
    assert all(f'"{name}"' in described for name in known_detectors()), described


def test_command_line_defaults_are_the_settings_defaults():
    """``pose3d run`` with no option runs what ``PoseEngine()`` and the demo run (flip on)."""
    assert run_settings(build_parser().parse_args(["run"])) == DEFAULTS
    assert DEFAULTS.flip is True
    batch = build_parser().parse_args(["batch", "v.mp4", "--out", "o"])
    assert (batch.lifter, batch.flip) == (DEFAULTS.lifter, DEFAULTS.flip)
    assert BatchSettings().settings == DEFAULTS


@pytest.mark.parametrize(
    ("argv", "lifter", "flip"),
    [
        (["--lifter", "shipped"], "shipped", True),
        (["--checkpoint", "model/x.bin"], "model/x.bin", True),  # the old name: an alias
        (["--no-flip"], DEFAULTS.lifter, False),
        (["--flip"], DEFAULTS.lifter, True),
    ],
)
def test_lifter_option_with_its_old_alias_and_flip_switch(argv, lifter, flip):
    settings = run_settings(build_parser().parse_args(["run", *argv]))
    assert (settings.lifter, settings.flip) == (lifter, flip)


def test_batch_settings_wrap_settings():
    wrapped = BatchSettings(Settings(lifter="shipped", window=9, flip=False), export=("bvh",))
    assert wrapped == BatchSettings(lifter="shipped", window=9, flip=False, export=("bvh",))
    assert (wrapped.lifter, wrapped.window, wrapped.flip) == ("shipped", 9, False)
    video = wrapped.for_video("clip.mp4", "out/clip", 500)
    assert video == Settings(source="clip.mp4", lifter="shipped", window=9, flip=False, capacity=500,
                             out_dir="out/clip")
    # The manifest records every pipeline field of the wrapped Settings, as before the wrap (the
    # follow value as what it runs: "auto" with mediapipe is "largest"), and the world
    # placement's options (none given here) and how the rows are placed.
    recorded = {**{name: getattr(video, name) for name in PIPELINE_FIELDS}, "follow": "largest"}
    assert video.follow == "auto"
    lens = {"fov": None, "focal": None, "height": None, "camera": None}
    # No lifter_sha256 before checked() reads the weights (a manifest's settings are checked).
    assert wrapped.as_dict() == {**recorded, **lens, "lifter_sha256": None, "export": ["bvh"],
                                 "world_placement": "whole clip, bones held, paths by time"}
    assert {"lifter": "shipped", "window": 9, "flip": False}.items() <= wrapped.as_dict().items()
    with pytest.raises(Pose3DTypeError, match="source"):
        BatchSettings(source="clip.mp4")  # per video, never for the whole batch


def test_a_pose_result_reads_by_the_recordings_column_names():
    # PoseResult said scores where the buffer, BufferSnapshot and session.npz say scores_2d.
    from pose3d_nb.buffer import COLUMNS
    from pose3d_nb.pose3d import PoseResult

    scores = np.linspace(0, 1, 17, dtype=np.float32)
    result = PoseResult(frame_index=3, keypoints_2d=np.zeros((17, 2)), scores=scores,
                        joints_3d=np.zeros((17, 3)), valid=True, joints_camera=np.zeros((17, 3)))
    assert result.scores_2d is result.scores is scores
    for column in ("frame_index", "keypoints_2d", "scores_2d", "joints_3d", "valid", "joints_camera"):
        assert column in COLUMNS and getattr(result, column) is not None


#: The modules README.md and docs/*.md present as public (``__all__`` says what of each).
PUBLIC_MODULES = (
    "pose3d_nb", "pose3d_nb.pose3d", "pose3d_nb.engine", "pose3d_nb.ui", "pose3d_nb.batch",
    "pose3d_nb.export", "pose3d_nb.detectors", "pose3d_nb.sources", "pose3d_nb.recording",
    "pose3d_nb.settings", "pose3d_nb.errors", "pose3d_nb.world", "pose3d_nb.analysis", "pose3d_nb.motion",
    "pose3d_nb.cli",
)


def _undocumented(module_name: str) -> list[str]:
    """Public functions, classes, methods and properties of ``module_name``'s ``__all__`` without
    a docstring of their own (a class's own members only, not what it inherits from elsewhere)."""
    import importlib
    import inspect

    module = importlib.import_module(module_name)
    missing = []
    for name in module.__all__:
        value = getattr(module, name)
        if not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        if not inspect.getdoc(value):
            missing.append(f"{module_name}.{name}")
        if inspect.isclass(value) and value.__module__.startswith("pose3d_nb"):
            for member, attribute in vars(value).items():
                function = attribute.fget if isinstance(attribute, property) else attribute
                if not member.startswith("_") and inspect.isfunction(function) and not function.__doc__:
                    missing.append(f"{module_name}.{name}.{member}")
    return missing


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_says_what_it_is(module_name):
    assert _undocumented(module_name) == []


def test_the_shared_settings_are_keywords_in_every_front_end():
    # PoseEngine(source, detector, lifter, ...), Pose3D(lifter, detector, ...) and
    # process(videos, out_dir, client, workers, scheduler, lifter, detector, ...) took the same
    # settings in three positional orders: PoseEngine("clip.mp4", "shipped") set the detector.
    import inspect

    from pose3d_nb.batch import process

    for front_end, positional in ((PoseEngine, ["self", "source"]), (Pose3D, ["self", "lifter"]),
                                  (process, ["videos", "out_dir"])):
        function = front_end.__init__ if inspect.isclass(front_end) else front_end
        parameters = inspect.signature(function).parameters
        assert [name for name, p in parameters.items() if p.kind is not p.KEYWORD_ONLY] == positional
        for shared in ("detector", "window", "lookahead", "flip", "follow", "camera", "fov", "focal",
                       "height"):
            assert parameters[shared].kind is inspect.Parameter.KEYWORD_ONLY, (front_end, shared)


def test_settings_given_by_position_still_work_for_one_release_and_warn():
    with pytest.warns(DeprecationWarning, match="PoseEngine: pass detector=, lifter= by keyword") as caught:
        engine = PoseEngine("sample", "mediapipe", "mediapipe", out_dir=None)
    assert caught[0].filename == __file__  # the warning points at the caller's line
    assert (engine.settings.detector, engine.settings.lifter) == ("mediapipe", "mediapipe")
    with pytest.warns(DeprecationWarning, match="Pose3D: pass detector=, window= by keyword"):
        pose3d = Pose3D("shipped", "mediapipe", 5)
    with pose3d:
        assert pose3d.lifter.settings.window == 5
    with pytest.raises(Pose3DTypeError, match="window given by position and by keyword"):
        Pose3D("shipped", "mediapipe", 5, window=3)
