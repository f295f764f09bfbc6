"""The plug-in registries: one shape for detectors, lifters, export formats and sources.

What a user relies on: a name is looked up the same way everywhere, an unknown one is refused
with the valid names, a plug-in says what it needs and provides, and the command line and
validation read the registry (a name registered from outside shows up there).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from pose3d_nb.detectors import (
    DETECTORS,
    create_detector,
    detector_provides,
    known_detectors,
    register_detector,
)
from pose3d_nb.engine import PoseEngine
from pose3d_nb.errors import Pose3DError, UnknownNameError
from pose3d_nb.export import FORMATS, ExportError, export_session, format_names, register_format
from pose3d_nb.export.formats import units_help
from pose3d_nb.lifting.checkpoint import CheckpointError
from pose3d_nb.lifting.choice import choose_lifter, describe_lifter
from pose3d_nb.lifting.registry import LIFTERS, lifter_names, register_lifter, require_capabilities
from pose3d_nb.registry import Registry
from pose3d_nb.sources import (
    SOURCES,
    SampleSource,
    accepted_options,
    open_source,
    register_source,
    source_names,
)
from pose3d_nb.sources.open import is_browser_camera


@pytest.fixture
def cleanup():
    """Registry entries a test adds, removed afterwards (registries are process-wide)."""
    added: list[tuple[Registry, str]] = []
    yield added
    for registry, name in added:
        if name in registry:
            registry.unregister(name)


def test_a_registry_refuses_unknown_and_taken_names_and_lists_the_known_ones():
    registry: Registry[int] = Registry("widget", fold_case=True)
    registry.register("Alpha", 1)
    registry.register("beta", 2)
    assert registry.names() == ["Alpha", "beta"] and registry["ALPHA"] == 1 and "BETA" in registry
    with pytest.raises(UnknownNameError, match="unknown widget 'gamma'; known: Alpha, beta") as error:
        registry["gamma"]
    assert isinstance(error.value, KeyError) and isinstance(error.value, ValueError)
    assert registry.get("gamma") is None  # a Mapping: get() and `in` work as usual
    with pytest.raises(Pose3DError, match="'alpha' is already registered; pass replace=True"):
        registry.register("alpha", 3)
    registry.register("alpha", 3, replace=True)
    assert registry.names() == ["beta", "alpha"] and registry["Alpha"] == 3
    assert registry.unregister("ALPHA") == 3 and registry.names() == ["beta"]
    with pytest.raises(Pose3DError, match="non-empty string"):
        registry.register(" ", 4)


# ---------------------------------------------------------------------------- detectors
def test_detector_entries_say_what_they_provide():
    assert {"mediapipe", "detectron2"} <= set(known_detectors())
    assert detector_provides("mediapipe") == {"world_landmarks"}
    assert detector_provides("detectron2") == frozenset()
    with create_detector("mediapipe") as detector:
        assert detector_provides(detector) == {"world_landmarks"}  # the object says it too

    class OldStyle:  # a detector object written before ``provides``
        provides_world_landmarks = True

    assert detector_provides(OldStyle()) == {"world_landmarks"}
    with pytest.raises(UnknownNameError, match="unknown detector 'openpose'; known: mediapipe"):
        detector_provides("openpose")


def test_a_registered_detector_gets_its_default_options_and_the_callers(cleanup):
    calls = []

    def factory(**options):
        calls.append(options)
        return object()

    register_detector("probe", factory, options={"model_complexity": 1, "follow": True})
    cleanup.append((DETECTORS, "probe"))
    create_detector("probe", follow=False)
    assert calls == [{"model_complexity": 1, "follow": False}]
    register_detector("needs-missing", factory, requires=("no_such_module_xyz",), install="pip install xyz")
    cleanup.append((DETECTORS, "needs-missing"))
    with pytest.raises(ImportError, match="needs no_such_module_xyz, not installed here. pip install xyz"):
        create_detector("needs-missing")


def test_the_command_line_offers_the_registered_detectors(cleanup, capsys):
    from pose3d_nb.cli import build_parser

    register_detector("probe", lambda **options: object(), description="a probe backend, 50% faster")
    cleanup.append((DETECTORS, "probe"))
    parser = build_parser()
    assert parser.parse_args(["run", "--detector", "probe"]).detector == "probe"
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--detector", "openpose"])
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--help"])  # argparse %-formats help: a plug-in's % is escaped
    assert "probe: a probe backend, 50% faster" in " ".join(capsys.readouterr().out.split())


def test_detector_and_format_names_fold_case_like_lifter_and_source_names(tmp_path):
    # A name is looked up the same way in every registry: "MediaPipe" is "mediapipe", as
    # "Shipped" is "shipped" and "SAMPLE" is "sample"; it comes back as registered, since the
    # engine compares it (a name that sees one person becomes the one that sees everyone).
    from pose3d_nb.batch.settings import BatchSettings
    from pose3d_nb.buffer import PoseSample, RollingBuffer
    from pose3d_nb.cli import build_parser
    from pose3d_nb.detectors.follow import with_follow
    from pose3d_nb.recording import write_session

    assert DETECTORS.canonical("MediaPipe-People") == "mediapipe-people"
    assert with_follow("MediaPipe", "auto") == with_follow("mediapipe", "auto")
    assert with_follow("MediaPipe", "auto")[0] == "mediapipe-people"
    assert build_parser().parse_args(["run", "--detector", "MEDIAPIPE"]).detector == "mediapipe"
    assert build_parser().parse_args(["export", "s.npz", "--format", "BVH"]).format == "bvh"
    assert BatchSettings(detector="MediaPipe").checked().detector == "mediapipe"  # manifests compare it
    with pytest.raises(UnknownNameError, match="unknown detector 'OpenPose'; known: mediapipe"):
        with_follow("OpenPose", "auto")
    buffer = RollingBuffer(4)
    for i in range(3):
        buffer.append(PoseSample(np.full((17, 3), 0.5), np.zeros((17, 2)), np.ones(17), i / 30, i, True, 0))
    write_session(tmp_path / "session.npz", buffer.snapshot(), {"fps": 30.0})
    assert export_session(tmp_path / "session.npz", "TRC") == tmp_path / "session.trc"


# ---------------------------------------------------------------------------- lifters
def test_lifter_entries_say_what_they_require_and_the_check_names_what_is_missing():
    assert lifter_names()[:3] == ["auto", "shipped", "mediapipe"]
    assert LIFTERS["mediapipe"].requires == {"world_landmarks"} and not LIFTERS["mediapipe"].temporal
    assert LIFTERS["shipped"].requires == frozenset() and LIFTERS["shipped"].temporal
    per_frame = choose_lifter("MediaPipe")  # names in any case
    assert per_frame.requires == {"world_landmarks"}
    require_capabilities(per_frame, detector_provides("mediapipe"), "mediapipe")
    with pytest.raises(ValueError, match="detector 'detectron2' gives no world_landmarks, which lifter"):
        require_capabilities(per_frame, detector_provides("detectron2"), "detectron2")
    require_capabilities(choose_lifter("shipped"), detector_provides("detectron2"), "detectron2")
    # The engine refuses the pair when made, as Pose3D, batch and pose3d run do (a PoseApp showed
    # it and failed only when Start was pressed).
    with pytest.raises(ValueError, match="detector 'detectron2' gives no world_landmarks"):
        PoseEngine(lifter="mediapipe", detector="detectron2", out_dir=None)
    with pytest.raises(
        UnknownNameError, match="unknown lifter 'mediapip': use one of auto, shipped, mediapipe"
    ):
        choose_lifter("mediapip")


def test_lifter_info_says_requires_and_is_fallback_is_deprecated():
    info = describe_lifter(choose_lifter("mediapipe"))
    assert info.requires == ("world_landmarks",) and not info.temporal
    with pytest.warns(DeprecationWarning, match="is_fallback is deprecated"):
        assert info.is_fallback is True
    shipped = describe_lifter(choose_lifter("shipped"))
    assert shipped.requires == () and shipped.temporal
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert shipped.is_fallback is False


def test_a_registered_lifter_is_chosen_by_name_everywhere(cleanup, tmp_path, monkeypatch):
    from pose3d_nb.batch.settings import BatchSettings
    from pose3d_nb.lifting.mediapipe_world import MediaPipeWorldLifter

    made = []

    def factory(world_landmark_weight=None):
        made.append(world_landmark_weight)
        return MediaPipeWorldLifter()

    register_lifter("Held-World", factory, requires=("world_landmarks",), temporal=False)
    cleanup.append((LIFTERS, "Held-World"))
    assert isinstance(choose_lifter("held-world", world_landmark_weight=0.3), MediaPipeWorldLifter)
    assert made == [0.3]
    assert BatchSettings(lifter="HELD-WORLD").checked().lifter == "Held-World"
    with pytest.raises(
        CheckpointError, match="neither one of auto, shipped, mediapipe, Held-World nor a checkpoint"
    ):
        BatchSettings(lifter=str(tmp_path / "nothing.pt")).checked()
    # The classes the engine raises for the same specs (a batch raised a plain Pose3DValueError).
    with pytest.raises(UnknownNameError, match="unknown lifter 'nothing'"):
        BatchSettings(lifter="nothing").checked()
    for spec, error in (("nothing", UnknownNameError), (str(tmp_path / "nothing.pt"), CheckpointError),
                        (tmp_path / "nothing", CheckpointError)):  # a Path is a path, not a name
        with pytest.raises(error):
            PoseEngine(lifter=spec, out_dir=None)
        with pytest.raises(error):
            BatchSettings(lifter=spec).checked()
    # A Path named like a lifter is a file, for a batch as for the engine (process() made it text
    # first, and Path("shipped") ran the registered lifter).
    from pose3d_nb.batch import process

    with pytest.raises(CheckpointError):
        process([tmp_path / "clip.mp4"], tmp_path / "out", lifter=Path("shipped"), progress=False)
    assert not (tmp_path / "out").exists()
    monkeypatch.chdir(tmp_path)
    Path("shipped").write_bytes(b"a checkpoint of the user's named shipped")
    assert BatchSettings(lifter=Path("shipped")).checked().lifter == str(tmp_path.resolve() / "shipped")
    assert BatchSettings(lifter="shipped").checked().lifter == "shipped"  # the name is the name


# ---------------------------------------------------------------------------- export formats
def test_format_entries_carry_suffix_and_units():
    assert format_names()[:5] == ["bvh", "trc", "c3d", "csv", "parquet"]
    assert FORMATS["c3d"].units == ("mm", "m") and FORMATS["c3d"].default_units == "mm"
    assert FORMATS["csv"].units == () and FORMATS["csv"].suffix == ".tidy.csv"
    assert units_help() == "bvh: m|cm, trc: m|mm, c3d: mm|m"


@pytest.mark.parametrize(
    ("fmt", "units", "message"),
    [
        ("bvh", "furlong", r"units must be one of \('m', 'cm'\) for bvh, not 'furlong'"),
        ("trc", 5, r"units must be one of \('m', 'mm'\) for trc, not 5"),  # a TypeError before
        ("csv", "mm", "csv is always in metres; units= applies to bvh, trc, c3d"),
        ("obj", None, "unknown export format 'obj'; choose one of bvh, trc, c3d, csv, parquet"),
    ],
)
def test_a_bad_format_or_units_is_one_export_error(tmp_path, fmt, units, message):
    with pytest.raises(ExportError, match=message):
        export_session(tmp_path / "session.npz", fmt, units=units)
    assert not list(tmp_path.iterdir())


def test_a_format_without_units_never_gets_units_and_refuses_them(cleanup, tmp_path):
    from pose3d_nb.buffer import PoseSample, RollingBuffer

    written = []

    def writer(path, data):  # takes no units=: the registry says so, so none is ever passed
        written.append(data.joints.shape)
        path.write_text("ok")
        return path

    register_format("probe", ".probe.txt", writer)
    cleanup.append((FORMATS, "probe"))
    buffer = RollingBuffer(4)
    for i in range(3):
        buffer.append(PoseSample(np.zeros((17, 3)), np.zeros((17, 2)), np.ones(17), i / 30, i, True, 0))
    out = export_session(buffer.snapshot(), "probe", tmp_path / "x.probe.txt", metadata={})
    assert out.read_text() == "ok" and written == [(3, 17, 3)]
    with pytest.raises(ExportError, match="probe is always in metres"):
        export_session(buffer.snapshot(), "probe", tmp_path / "y.probe.txt", metadata={}, units="mm")


# ---------------------------------------------------------------------------- sources
def test_named_sources_and_their_aliases(cleanup):
    assert source_names()[:2] == ["sample", "browser camera"]
    assert (
        is_browser_camera("Browser")
        and is_browser_camera(" browser camera ")
        and not is_browser_camera("sample")
    )
    assert accepted_options("SAMPLE") >= {"loop", "pace"}

    def looped_sample(*, pace: bool = False) -> SampleSource:
        return SampleSource(loop=True, pace=pace)

    register_source("looped sample", looped_sample, aliases=("loop",), description="the sample, forever")
    cleanup.extend([(SOURCES, "looped sample"), (SOURCES, "loop")])
    assert source_names()[-1] == "looped sample" and accepted_options("LOOP") == {"pace"}
    with open_source("looped sample") as frames:
        indices = [next(frames).index for _ in range(105)]
    assert indices[98:102] == [98, 99, 0, 1]  # the factory's loop=True: it goes on past the end
    with pytest.raises(ValueError, match="source 'loop' is already registered"):
        register_source("another", looped_sample, aliases=("loop",))
    assert "another" not in SOURCES


def test_an_unknown_source_lists_the_named_ones():
    with pytest.raises(ValueError, match="a source is 'sample', 'browser camera', 'camera'"):
        open_source("no_such_video.mp4")


# ---------------------------------------------------------------------------- old sessions
def test_a_session_recorded_with_is_fallback_still_loads_and_exports(tmp_path):
    from pose3d_nb.buffer import PoseSample, RollingBuffer
    from pose3d_nb.recording import load_session, write_session

    buffer = RollingBuffer(4)
    for i in range(3):
        buffer.append(PoseSample(np.full((17, 3), 0.5), np.zeros((17, 2)), np.ones(17), i / 30, i, True, 0))
    write_session(tmp_path / "session.npz", buffer.snapshot(), {"lifter_is_fallback": True, "fps": 30.0})
    session = load_session(tmp_path / "session.npz")
    assert session.metadata["lifter_is_fallback"] is True
    assert export_session(tmp_path / "session.npz", "trc").is_file()
