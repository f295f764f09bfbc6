"""The small shared parts the engine is built from: the mailbox, rates, the settings objects,
what a source accepts, and poses that carry their own detection."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pose3d_nb.benchmarks.lifter import random_model
from pose3d_nb.cli import build_parser, run_settings
from pose3d_nb.detectors.detection import Detection
from pose3d_nb.engine import PoseEngine
from pose3d_nb.lifting.choice import choose_lifter
from pose3d_nb.lifting.lifter import VideoPose3DLifter
from pose3d_nb.lifting.model import Architecture
from pose3d_nb.lifting.protocol import Lifter, LiftSettings
from pose3d_nb.mailbox import LatestSlot
from pose3d_nb.pose3d import Pose3D
from pose3d_nb.rates import RateMeter, percentile
from pose3d_nb.settings import DEFAULTS, Settings
from pose3d_nb.sources import SourceError, accepted_options
from pose3d_nb.ui.controls import Controls


# --------------------------------------------------------------------------- mailbox
def test_latest_slot_keeps_the_newest_counts_the_replaced_and_ends_after_the_last_item():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.take(0.01) is None  # timeout
    assert slot.put(1) is False and slot.put(2) is True and slot.replaced == 1
    slot.finish()
    assert slot.take(0.01) == 2, "the last item before finish() is not lost to the end marker"
    assert slot.take(0.01) is LatestSlot.END


def test_latest_slot_wake_releases_a_waiting_reader():
    slot: LatestSlot[int] = LatestSlot()
    got = []
    reader = threading.Thread(target=lambda: got.append(slot.take(30)))
    reader.start()
    while not reader.is_alive():
        pass
    slot.wake()
    reader.join(10)
    assert not reader.is_alive() and got == [None]


# --------------------------------------------------------------------------- rates
def test_rate_meter_and_percentile():
    meter = RateMeter(window=5)
    assert meter.rate() == 0.0 and meter.latest is None
    for i in range(10):
        meter.tick(at=100 + i * 0.5)  # 2 per second; only the newest 5 are kept
    assert meter.rate() == pytest.approx(2.0) and meter.latest == pytest.approx(104.5)
    assert percentile([], 50) is None and percentile([1.0, 2.0, 3.0], 50) == 2.0


# --------------------------------------------------------------------------- settings
@pytest.mark.parametrize("bad", [{"window": -1}, {"lookahead": -2}, {"window": 2.5}, {"window": True}])
def test_lift_settings_refuse_what_no_lifter_could_use(bad):
    with pytest.raises(ValueError, match="window|lookahead"):
        LiftSettings(**bad)
    with pytest.raises(ValueError):
        Settings(**bad)


def test_one_check_for_every_lifter_and_every_front():
    model = random_model(Architecture((3, 3, 3), 32))  # receptive field 27, pad 13
    lifter = VideoPose3DLifter(model)
    assert isinstance(lifter, Lifter) and isinstance(choose_lifter("mediapipe"), Lifter)
    with pytest.raises(ValueError, match="between 0 and 13"):
        lifter.settings = LiftSettings(lookahead=14)
    with pytest.raises(ValueError, match="temporal lifter"):
        choose_lifter("mediapipe").settings = LiftSettings(lookahead=1)
    engine = PoseEngine(lifter=model, out_dir=None)
    with pytest.raises(ValueError, match="between 0 and 13"):
        engine.lookahead = 14
    with pytest.raises(ValueError, match="window must be >= 0"):
        engine.window = -1
    assert engine.lift_settings == DEFAULTS.lift  # a refused change changes nothing
    engine.window, engine.flip = 9, not DEFAULTS.flip
    assert engine.settings.window == 9 and engine.settings.flip is not DEFAULTS.flip
    assert engine.lift_settings == LiftSettings(9, 0, not DEFAULTS.flip)
    with pytest.raises(ValueError, match="between 0 and 13"):
        Pose3D(lifter=model, lookahead=20, detector=object())


def test_engine_cli_and_controls_share_the_defaults():
    engine = PoseEngine(out_dir=DEFAULTS.out_dir)
    assert engine.settings == DEFAULTS
    args = build_parser().parse_args(["run"])
    assert run_settings(args) == DEFAULTS
    controls = Controls()
    knobs = (controls.window, controls.lookahead, controls.flip)
    assert knobs == (DEFAULTS.window, DEFAULTS.lookahead, DEFAULTS.flip)
    assert (controls.source, controls.detector) == (DEFAULTS.source, DEFAULTS.detector)
    assert build_parser().parse_args(["run", "--lifter", "mediapipe"]).lifter == "mediapipe"


# --------------------------------------------------------------------------- sources
def test_a_source_says_which_options_it_accepts(tmp_path):
    assert {"loop", "pace"} <= accepted_options("sample")
    assert "loop" not in accepted_options(str(tmp_path))  # a folder of images
    assert "fps" in accepted_options(str(tmp_path))
    assert "loop" not in accepted_options("camera:3")  # nothing is opened to answer
    with pytest.raises(SourceError, match="no such file"):
        accepted_options(str(tmp_path / "missing.mp4"))


# --------------------------------------------------------------------------- poses
def test_each_pose_carries_the_detection_and_frame_it_was_lifted_from():
    model = random_model(Architecture((3, 3), 16))  # receptive field 9
    lifter = VideoPose3DLifter(model, settings=LiftSettings(lookahead=3))
    rng = np.random.default_rng(0)
    detections = [
        Detection(rng.uniform(100, 500, (17, 2)).astype(np.float32), np.ones(17, np.float32),
                  np.zeros(4, np.float32), (640, 480), i / 30, i)
        for i in range(12)
    ]
    poses = [p for i, d in enumerate(detections) for p in lifter.push(d, frame=f"frame {i}")] + lifter.flush()
    assert [p.frame_index for p in poses] == list(range(12))
    assert all(p.detection is detections[p.frame_index] for p in poses)
    assert [p.frame for p in poses] == [f"frame {i}" for i in range(12)]
    assert [p.latency_frames for p in poses[:9]] == [3] * 9


def test_a_window_breaks_for_a_new_segment_person_or_image_size_never_for_a_lost_person():
    from pose3d_nb.lifting.protocol import WindowBreaks

    def detection(track, size=(640, 480), found=True):
        keypoints = np.ones((17, 2), np.float32) if found else np.full((17, 2), np.nan, np.float32)
        return Detection(keypoints, np.ones(17, np.float32), np.zeros(4, np.float32), size, 0.0, 0,
                         {"track_id": track} if found else {})

    breaks = WindowBreaks()
    assert breaks.breaks_at(detection(1))  # the first frame starts a window
    assert not breaks.breaks_at(detection(1))
    assert not breaks.breaks_at(detection(None, found=False))  # nobody found: same window
    assert not breaks.breaks_at(detection(1))
    assert breaks.breaks_at(detection(2))  # another person
    assert breaks.breaks_at(detection(2, size=(320, 240)))  # another image size
    assert breaks.breaks_at(detection(2, size=(320, 240)), segment=1)  # another source
    breaks.reset()
    assert breaks.breaks_at(detection(2, size=(320, 240)), segment=1)
