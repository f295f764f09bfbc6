"""A wrong type or value for a public option is one Pose3DError naming what is valid, raised
where it is given, never a TypeError from deep inside (or a silent wrong reading)."""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_nb.benchmarks.lifter import random_model
from pose3d_nb.buffer import RollingBuffer
from pose3d_nb.detectors.registry import create_detector, detector_from
from pose3d_nb.engine import PoseEngine
from pose3d_nb.errors import Pose3DAttributeError, Pose3DTypeError, Pose3DValueError
from pose3d_nb.lifting.choice import choose_lifter, shipped_checkpoint
from pose3d_nb.lifting.model import Architecture
from pose3d_nb.lifting.protocol import LiftSettings
from pose3d_nb.pose3d import Pose3D
from pose3d_nb.settings import Settings


@pytest.fixture(scope="module")
def model():
    return random_model(Architecture((3, 3, 3), 32))


def _no_person(frame):
    return None


@pytest.mark.parametrize("flip", ["no", "false", None, 2])
def test_flip_takes_a_truth_value_only(flip, model):
    # bool("no") and bool("false") are True: text used to turn flip on without a word
    with pytest.raises(Pose3DValueError, match="flip must be True or False"):
        LiftSettings(flip=flip)
    with pytest.raises(Pose3DValueError, match="flip must be True or False"):
        Settings(flip=flip)
    engine = PoseEngine(lifter=model, out_dir=None, flip=False)
    with pytest.raises(Pose3DValueError, match="flip must be True or False"):
        engine.flip = flip
    assert engine.flip is False  # a refused change changes nothing


@pytest.mark.parametrize("flip, expected", [(True, True), (0, False), (1, True), (np.bool_(False), False)])
def test_flip_keeps_taking_booleans_and_zero_or_one(flip, expected):
    assert LiftSettings(flip=flip).flip is expected


@pytest.mark.parametrize("capacity", ["5", None, 5.5])
def test_capacity_must_be_a_whole_number(capacity, model):
    with pytest.raises(Pose3DValueError, match="capacity must be a whole number of rows"):
        Settings(capacity=capacity)
    with pytest.raises(Pose3DValueError, match="capacity must be a whole number of rows"):
        PoseEngine(lifter=model, out_dir=None, capacity=capacity)
    assert RollingBuffer(np.int64(5)).capacity == 5


def test_a_lifter_that_is_neither_name_path_nor_model_names_the_choices():
    with pytest.raises(Pose3DValueError, match="lifter must be one of auto, shipped, mediapipe.*got int"):
        choose_lifter(3)
    with pytest.raises(Pose3DValueError, match="lifter must be one of"):
        PoseEngine(lifter=3, out_dir=None)
    assert choose_lifter(shipped_checkpoint()).receptive_field == 27  # a pathlib.Path still works


def test_a_detector_that_is_neither_name_nor_callable_names_the_choices(model):
    with pytest.raises(Pose3DValueError, match="detector must be one of mediapipe.*got int"):
        detector_from(3)
    with pytest.raises(Pose3DValueError, match="detector must be one of mediapipe"):
        Pose3D(lifter=model, detector=3)
    assert detector_from(_no_person) == (_no_person, False)  # an object is used as given


def test_an_unknown_detector_option_names_the_backends_options(model):
    listed = "'mediapipe-people' takes no option bogus; its options: .*num_poses"
    with pytest.raises(Pose3DTypeError, match=listed):
        create_detector("mediapipe-people", bogus=1)
    with pytest.raises(Pose3DTypeError, match="takes no option bogus"):
        Pose3D(lifter=model, detector_options={"bogus": 1})
    with pytest.raises(Pose3DTypeError, match="detector_options must be a dict"):
        Pose3D(lifter=model, detector_options=3)


@pytest.mark.parametrize("fps", [0, -5, "30", float("nan")])
def test_pose3d_fps_must_be_a_positive_number(fps, model):
    # fps=0 used to be taken and then divide by zero on the first frame
    with pytest.raises(Pose3DValueError, match="fps must be a positive number"):
        Pose3D(lifter=model, detector=_no_person, fps=fps)


def test_pose3d_fps_takes_numpy_numbers(model):
    with Pose3D(lifter=model, detector=_no_person, fps=np.float32(25)) as pose3d:
        assert pose3d.fps == 25.0


@pytest.mark.parametrize("interval", ["x", -1, float("nan")])
def test_session_interval_is_refused_before_the_run(interval, model, tmp_path):
    # "x" used to kill the writer thread mid-run with a TypeError (the run went on unsaved)
    with pytest.raises(Pose3DValueError, match="session_interval must be a number of seconds >= 0"):
        PoseEngine(lifter=model, out_dir=tmp_path, session_interval=interval)
    assert PoseEngine(lifter=model, out_dir=tmp_path, session_interval=np.int64(1)).session_interval == 1.0


def test_out_dir_must_be_a_path_or_none(model):
    with pytest.raises(Pose3DValueError, match="out_dir must be a folder's path or None, got int"):
        PoseEngine(lifter=model, out_dir=3)


@pytest.mark.parametrize("limit", [0, -1, 2.5, "10", True])
def test_max_frames_is_a_count_of_at_least_one(limit, model):
    # 0 was accepted: the run read frames, recorded none and ended "finished" (the CLI refuses it).
    engine = PoseEngine(lifter=model)
    with pytest.raises(Pose3DValueError, match="max_frames must be a whole number >= 1, or None for no"):
        engine.max_frames = limit
    engine.max_frames = np.int64(5)
    assert engine.max_frames == 5 and type(engine.max_frames) is int
    engine.max_frames = None
    assert engine.max_frames is None


def test_max_frames_is_also_a_keyword_of_the_engine(model):
    # engine.max_frames and --max-frames existed, PoseEngine(max_frames=30) was a TypeError.
    assert PoseEngine(lifter=model, max_frames=30).max_frames == 30
    assert PoseEngine(lifter=model).max_frames is None
    with pytest.raises(Pose3DValueError, match="max_frames must be a whole number >= 1"):
        PoseEngine(lifter=model, max_frames=0)


@pytest.mark.parametrize(("name", "value", "says"), [
    # engine.follow = "centre" hid the follow() method: the app's click-to-follow then failed
    # with "'str' object is not callable"; the others were taken and changed nothing.
    ("follow", "centre", "it is a method: call engine.follow('centre')"),
    ("detector", "mediapipe-lite", "call engine.set_detector('mediapipe-lite')"),
    ("lifter", "mediapipe", "chosen when the engine is made: PoseEngine(lifter='mediapipe')"),
    ("capacity", 5, "set when the engine is made: PoseEngine(capacity=5)"),
    ("source", "camera", "call engine.set_source('camera')"),
    ("settings", Settings(window=9), "PoseEngine(settings=...)"),
    ("running", False, "a reading of the engine, not a setting (settable: flip, lift_settings, "
                       "lookahead, max_frames, window)"),
    ("stats", None, "it is a method: call engine.stats(...)"),
])
def test_assigning_what_is_not_a_setting_is_refused_naming_the_call(model, name, value, says):
    engine = PoseEngine(lifter=model, out_dir=None, capacity=50)
    before = engine.settings
    with pytest.raises(Pose3DAttributeError) as refused:
        setattr(engine, name, value)
    message = str(refused.value)
    assert message.startswith(f"engine.{name} cannot be assigned: ") and says in message
    assert isinstance(refused.value, AttributeError)
    assert engine.settings == before and name not in vars(engine)
    engine.follow("centre")  # still the method: what a click on a person calls
    assert engine.settings.follow == "centre"


def test_every_engine_keyword_is_settable_or_refused_by_assignment(model):
    """No keyword of ``PoseEngine(...)`` is taken by assignment and then ignored."""
    import inspect

    engine = PoseEngine(lifter=model, out_dir=None)
    settable = {"window": 3, "lookahead": 1, "flip": False, "max_frames": 4}
    for name in inspect.signature(PoseEngine.__init__).parameters:
        if name == "self":
            continue
        if name in settable:
            setattr(engine, name, settable[name])
            assert getattr(engine, name) == settable[name]
        else:
            with pytest.raises(Pose3DAttributeError, match=f"^engine.{name} cannot be assigned: "):
                setattr(engine, name, "x")


def test_a_function_in_a_methods_place_and_a_new_name_are_still_assigned(model):
    # What a test's monkeypatch does, and a user's own note on the engine.
    engine = PoseEngine(lifter=model, out_dir=None)
    engine.stats = lambda: "patched"
    engine.my_note = "take 2"
    assert engine.stats() == "patched" and engine.my_note == "take 2"


@pytest.mark.parametrize(("typo", "meant"), [("lookahed", "lookahead"), ("windw", "window"),
                                            ("max_frame", "max_frames"), ("flp", "flip")])
def test_a_setting_misspelt_is_refused_naming_it(model, typo, meant):
    # engine.lookahed = 3 made a new attribute and changed nothing, silently.
    engine = PoseEngine(lifter=model, out_dir=None)
    with pytest.raises(Pose3DAttributeError, match=f"no '{typo}'; did you mean engine.{meant}"):
        setattr(engine, typo, 3)
    assert not hasattr(engine, typo)


@pytest.mark.parametrize("threads", [-1, 2.5, "2", True])
def test_torch_threads_is_refused_before_the_run(threads, model):
    # Set only on the lift thread once running: -1, 2.5 and "2" ended the run there with torch's
    # RuntimeError ("set_num_threads expects ..."); the CLI's --threads refuses them up front.
    with pytest.raises(Pose3DValueError, match="torch_threads must be a whole number >= 1, or None"):
        PoseEngine(lifter=model, out_dir=None, torch_threads=threads)
    for fine in (None, 0, 1, np.int64(2)):
        PoseEngine(lifter=model, out_dir=None, torch_threads=fine)


@pytest.mark.parametrize("follow", [True, False, np.bool_(True)])
def test_a_bool_is_no_follow_value_anywhere(follow, model, tmp_path):
    # follow=True was taken by Settings, PoseEngine, Pose3D and engine.follow, stored as given
    # and refused later as "unknown follow value 'True'" (engine.settings, the metadata, start,
    # which left an empty out folder; PoseApp). Now every entry point refuses it where given.
    from pose3d_nb.batch import process

    says = rf"unknown follow value {follow!r}; valid: 'largest'"
    with pytest.raises(Pose3DValueError, match=says):
        Settings(follow=follow)
    with pytest.raises(Pose3DValueError, match=says):
        PoseEngine(lifter=model, out_dir=None, follow=follow)
    with pytest.raises(Pose3DValueError, match=says):
        Pose3D(lifter=model, detector=_no_person, follow=follow)
    with pytest.raises(Pose3DValueError, match=says):
        process([str(tmp_path / "v.mp4")], tmp_path / "out", progress=False, follow=follow)
    engine = PoseEngine(lifter=model, out_dir=None)
    with pytest.raises(Pose3DValueError, match=says):
        engine.follow(follow)
    assert engine.settings.follow == "auto"  # a refused follow changes nothing
    assert not (tmp_path / "out").exists()


def test_a_track_id_below_1_is_refused_in_the_same_words_by_the_engine_and_a_batch(model, tmp_path):
    # The batch turned -3 into text first and said "unknown follow value '-3'".
    from pose3d_nb.batch import process

    says = "track ids start at 1, got follow=-3; valid: 'largest'"
    for make in (lambda: PoseEngine(lifter=model, out_dir=None, follow=-3),
                 lambda: process([str(tmp_path / "v.mp4")], tmp_path / "out", progress=False, follow=-3)):
        with pytest.raises(Pose3DValueError, match=says):
            make()
