"""The engine driven from a notebook while it runs: plug-ins failing part way, knobs changed
between frames, stop and start from other threads. Synthetic frames and a fake 2D detector keep
these fast and deterministic (no timing: events and end-of-file decide every step)."""

from __future__ import annotations

import signal
import threading
import time
import warnings

import numpy as np
import pytest

from pose3d_nb.benchmarks.lifter import random_model
from pose3d_nb.detectors.detection import Detection
from pose3d_nb.engine import EngineError, PoseEngine
from pose3d_nb.engine import engine as engine_module
from pose3d_nb.errors import Pose3DRuntimeError
from pose3d_nb.lifting.choice import choose_lifter
from pose3d_nb.lifting.model import Architecture
from pose3d_nb.lifting.registry import LIFTERS, register_lifter
from pose3d_nb.recording import load_session
from pose3d_nb.sources.base import BaseSource
from pose3d_nb.sources.frame import Frame
from pose3d_nb.training.skeleton_model import bone_lengths

TINY = Architecture((3, 3, 3), 64)  # receptive field 27: lookahead up to 13 frames
SIZE = (160, 120)  # width, height of the synthetic frames
KEYPOINTS = (np.random.default_rng(0).random((17, 2)) * [100, 80] + 30).astype(np.float32)


class SyntheticFile(BaseSource):
    """``count`` black frames, read as fast as asked, like a file (every frame processed)."""

    name = "synthetic"
    fps = 30.0

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count, self._next = count, 0

    def _read(self) -> Frame:
        if self._next >= self.count:
            raise StopIteration
        index, self._next = self._next, self._next + 1
        return Frame(np.zeros((SIZE[1], SIZE[0], 3), np.uint8), index, index / self.fps, index / self.fps)


class FakeDetector:
    """One person whose keypoints drift a little each frame; raises on frame ``fail_on``."""

    name = "fake"
    provides = frozenset()

    def __init__(self, fail_on: int | None = None) -> None:
        self.fail_on = fail_on

    def __call__(self, frame: Frame) -> Detection:
        if frame.index == self.fail_on:
            raise RuntimeError("backend exploded")
        return Detection(KEYPOINTS + 0.1 * frame.index, np.ones(17, np.float32),
                         np.array([0, 0, 150, 110], np.float32), SIZE, frame.timestamp, frame.index, {})

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class FailingLifter:
    """A plug-in lifter (the shipped one inside) whose ``push`` raises on frame ``fail_on``."""

    def __init__(self, inner, fail_on: int) -> None:
        self._inner, self.fail_on = inner, fail_on

    def __getattr__(self, name):
        return getattr(self._inner, name)

    @property
    def settings(self):
        return self._inner.settings

    @settings.setter
    def settings(self, value) -> None:
        self._inner.settings = value

    def push(self, detection, frame=None):
        if detection.frame_index == self.fail_on:
            raise RuntimeError("lifter exploded")
        return self._inner.push(detection, frame)


@pytest.fixture
def failing_lifter():
    """A registered lifter plug-in (``docs/extending.md``) that raises on frame 40."""
    model = random_model(TINY)
    register_lifter("failing-on-40", lambda **_: FailingLifter(choose_lifter(model), fail_on=40),
                    temporal=True, description="raises on frame 40")
    yield "failing-on-40"
    LIFTERS.unregister("failing-on-40")


@pytest.mark.parametrize("lookahead", [0, 5])
@pytest.mark.parametrize("stage", ["detect", "lift"])
def test_a_plugin_failing_on_frame_n_keeps_every_row_before_it(tmp_path, failing_lifter, stage, lookahead):
    # The frames detected but not yet lifted, and those the lookahead held back, were lost: a
    # detector failing on frame 40 left rows 0..35 (0..30 with lookahead 5).
    if stage == "detect":
        detector, lifter = FakeDetector(fail_on=40), random_model(TINY)
    else:
        detector, lifter = FakeDetector(), failing_lifter
    engine = PoseEngine(source=SyntheticFile(100), detector=detector, lifter=lifter,
                        lookahead=lookahead, out_dir=tmp_path)
    engine.start()
    assert engine.wait(60)
    engine.stop()
    with pytest.raises(EngineError, match=f"{stage} failed on frame 40: RuntimeError: .* exploded"):
        engine.raise_if_failed()
    np.testing.assert_array_equal(engine.buffer.frame_index(), np.arange(40))
    session = load_session(tmp_path)
    np.testing.assert_array_equal(session.frame_index, np.arange(40))
    assert "exploded" in session.metadata["error"]
    assert not engine.finished  # a detector failing on frame 40 said the file was finished


class GatedFile(SyntheticFile):
    """A file whose frame ``pause_at`` waits for ``gate``: the test changes knobs between two
    known frames, with every earlier frame already recorded."""

    def __init__(self, count: int, pause_at: int) -> None:
        super().__init__(count)
        self.pause_at = pause_at
        self.gate = threading.Event()

    def _read(self) -> Frame:
        if self._next == self.pause_at:
            assert self.gate.wait(30), "the test never opened the gate"
        return super()._read()


def test_the_recording_says_which_settings_made_which_rows(tmp_path):
    # Changed while running, the window and flip were stored as their last values only: a session
    # lifted half with flip and half without said flip=False for every row.
    source = GatedFile(40, pause_at=20)
    engine = PoseEngine(source=source, detector=FakeDetector(), lifter=random_model(TINY),
                        window=0, flip=True, out_dir=tmp_path)
    engine.start()
    try:
        assert engine.buffer.wait_for(20, timeout=30)
        engine.flip = False
        engine.window = 9
        source.gate.set()
        assert engine.wait(30)
    finally:
        source.gate.set()
        engine.stop()
    engine.raise_if_failed()
    log = load_session(tmp_path).metadata["lift_settings_log"]
    assert log == [
        {"row": 0, "segment": 0, "frame_index": 0, "window": 0, "lookahead": 0, "flip": True},
        {"row": 20, "segment": 0, "frame_index": 20, "window": 9, "lookahead": 0, "flip": False},
    ]


class StoppedFile(GatedFile):
    """A ``GatedFile`` whose close (the engine's stop) opens the gate, as closing a camera ends
    a blocked read."""

    def close(self) -> None:
        self.gate.set()
        super().close()


def test_stop_records_the_frames_the_lookahead_held_back(tmp_path):
    # With lookahead 5, the 5 frames detected last waited in the lifter for their future; Stop
    # dropped them (frames 0..24 of the 30 read), and the next start resets the lifter.
    source = StoppedFile(60, pause_at=30)
    engine = PoseEngine(source=source, detector=FakeDetector(), lifter=random_model(TINY),
                        lookahead=5, out_dir=tmp_path)
    engine.start()
    try:
        assert engine.buffer.wait_for(25, timeout=30)  # frame 29 lifted: 25..29 held back
    finally:
        engine.stop()
    engine.raise_if_failed()
    read = source._next  # frame 30, read as the stop opened the gate, is recorded too
    assert read in (30, 31)
    np.testing.assert_array_equal(engine.buffer.frame_index(), np.arange(read))
    session = load_session(tmp_path)
    np.testing.assert_array_equal(session.frame_index, np.arange(read))
    assert session.metadata["complete"] is True


class StuckDetector(FakeDetector):
    """Waits on frame ``stuck_on`` until ``gate`` opens: meanwhile the frames read after it
    queue up between the stages."""

    def __init__(self, stuck_on: int) -> None:
        super().__init__()
        self.stuck_on, self.gate, self.reached = stuck_on, threading.Event(), threading.Event()

    def __call__(self, frame: Frame) -> Detection:
        if frame.index == self.stuck_on:
            self.reached.set()
            assert self.gate.wait(30), "the test never opened the gate"
        return super().__call__(frame)


class ClosingOpensDetector(SyntheticFile):
    """A file whose close (the engine's stop) lets the stuck detector go on."""

    def __init__(self, count: int, detector: StuckDetector) -> None:
        super().__init__(count)
        self.detector = detector

    def close(self) -> None:
        self.detector.gate.set()
        super().close()


def test_stop_records_the_frames_queued_between_the_stages(tmp_path):
    # Stop ended every stage at once: the frames read but not yet detected (the hand-off holds
    # two, the capture thread a third) and the one being detected were dropped (rows 0..2 of 6 read).
    detector = StuckDetector(stuck_on=3)
    source = ClosingOpensDetector(100, detector)
    engine = PoseEngine(source=source, detector=detector, lifter=random_model(TINY), out_dir=tmp_path)
    engine.start()
    try:
        assert detector.reached.wait(30)
        assert engine.buffer.wait_for(3, timeout=30)
        deadline = time.monotonic() + 30
        while source._next < 6 and time.monotonic() < deadline:  # the hand-off is full
            time.sleep(0.01)
    finally:
        engine.stop()
    engine.raise_if_failed()
    read = source._next
    assert read >= 6
    np.testing.assert_array_equal(engine.buffer.frame_index(), np.arange(read))
    session = load_session(tmp_path)
    np.testing.assert_array_equal(session.frame_index, np.arange(read))
    assert session.metadata["complete"] is True
    assert not engine.finished  # stopped, not at the file's end
    stats = engine.stats()
    assert stats.frames_in == read and stats.processed == read and stats.dropped == 0


def test_a_file_read_to_its_end_is_finished_when_stop_comes_before_its_last_rows(tmp_path):
    # The file's end was read (the end marker handed over) while its last frame was still being
    # detected; a Stop then recorded every frame, yet engine.finished said False ("stopped").
    detector = StuckDetector(stuck_on=9)
    source = ClosingOpensDetector(10, detector)
    engine = PoseEngine(source=source, detector=detector, lifter=random_model(TINY), out_dir=tmp_path)
    engine.start()
    try:
        assert detector.reached.wait(30)
        capture = next(thread for thread in engine._threads if thread.name == "pose3d-capture")
        capture.join(30)  # it ends once the end marker is handed to the detect stage
        assert not capture.is_alive()
    finally:
        engine.stop()
    engine.raise_if_failed()
    np.testing.assert_array_equal(load_session(tmp_path).frame_index, np.arange(10))
    assert engine.finished and engine.stats().finished


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="a signal reaches the main thread only")
def test_a_second_ctrl_c_while_stop_waits_ends_every_stage(tmp_path, monkeypatch):
    # `pose3d run` turns a second signal into KeyboardInterrupt. Arriving while Stop waited for
    # the queued frames, it left the stages running: they recorded rows 3..6 after session.npz
    # had been written with rows 0..2.
    monkeypatch.setattr(engine_module, "STOP_DRAIN_S", 60.0)  # the signal, not the time limit, ends the wait
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    detector = StuckDetector(stuck_on=3)
    engine = PoseEngine(source=SyntheticFile(100), detector=detector, lifter=random_model(TINY),
                        out_dir=tmp_path)
    draining = threading.Event()
    drain = engine._drain

    def draining_then(seconds: float) -> None:
        draining.set()
        drain(seconds)

    def second_signal() -> None:
        if draining.wait(30):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    monkeypatch.setattr(engine, "_drain", draining_then)
    engine.start()
    try:
        assert detector.reached.wait(30) and engine.buffer.wait_for(3, timeout=30)
        threading.Thread(target=second_signal, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            engine.stop()
    finally:
        detector.gate.set()
        signal.signal(signal.SIGINT, previous)
    assert engine.wait(30)
    np.testing.assert_array_equal(load_session(tmp_path).frame_index, np.arange(3))
    np.testing.assert_array_equal(engine.buffer.frame_index(), np.arange(3))


class FileFailingAfter(SyntheticFile):
    """A file whose read after frame ``last`` fails, as a truncated download's does."""

    def __init__(self, count: int, last: int) -> None:
        super().__init__(count)
        self.last = last

    def _read(self) -> Frame:
        if self._next > self.last:
            raise RuntimeError("the file is cut short")
        return super()._read()


def test_a_file_failing_part_way_says_after_which_frame(tmp_path):
    # The error named the last frame read as the one that failed ("capture failed on frame 39"),
    # whose row is recorded.
    engine = PoseEngine(source=FileFailingAfter(100, last=39), detector=FakeDetector(),
                        lifter=random_model(TINY), out_dir=tmp_path)
    engine.start()
    assert engine.wait(60)
    engine.stop()
    with pytest.raises(EngineError, match="capture failed reading the frame after frame 39: RuntimeError"
                       ) as failed:
        engine.raise_if_failed()
    assert failed.value.frame_index is None
    np.testing.assert_array_equal(load_session(tmp_path).frame_index, np.arange(40))


class LifterFailingToReset:
    """A lifter plug-in whose ``reset`` (each start) raises."""

    def __init__(self) -> None:
        self._inner = choose_lifter(random_model(TINY))

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def reset(self) -> None:
        raise RuntimeError("reset exploded")


def test_a_start_that_fails_gives_back_the_folder_and_the_source(tmp_path):
    # The lifter's reset came after out_dir was locked and the source opened, and nothing gave
    # them back: another engine on the folder was refused ("another run that has not stopped").
    source = SyntheticFile(10)
    register_lifter("failing-reset", lambda **_: LifterFailingToReset(), temporal=True,
                    description="raises when reset")
    try:
        engine = PoseEngine(source=source, detector=FakeDetector(), lifter="failing-reset", out_dir=tmp_path)
        with pytest.raises(Pose3DRuntimeError, match="start a new window: RuntimeError: reset exploded"):
            engine.start()
    finally:
        LIFTERS.unregister("failing-reset")
    assert source.closed and not engine.running
    other = PoseEngine(source=SyntheticFile(10), detector=FakeDetector(), lifter=random_model(TINY),
                       out_dir=tmp_path)
    run_to_end(other)
    assert len(load_session(tmp_path)) == 10


class DetectorAnsweringBadly(FakeDetector):
    """A detector plug-in that returns ``answer(detection)`` from frame 20 on."""

    def __init__(self, answer) -> None:
        super().__init__()
        self.answer = answer

    def __call__(self, frame: Frame) -> Detection:
        detection = super().__call__(frame)
        return self.answer(detection) if frame.index >= 20 else detection


@pytest.mark.parametrize(("answer", "said"), [
    (lambda detection: None, "returned NoneType, not a Detection"),
    (lambda detection: Detection(np.zeros((33, 2), np.float32), np.ones(33, np.float32), detection.bbox,
                                 detection.frame_size, detection.timestamp, detection.frame_index),
     r"returned keypoints of shape \(33, 2\)"),
])
def test_a_detector_s_wrong_answer_is_named_as_the_detector_s(tmp_path, answer, said):
    # It was caught by the lifter: "lift failed on frame 20: AttributeError: 'NoneType' object
    # has no attribute 'found'", or the lifter's "keypoints must have shape (17, 2)".
    engine = PoseEngine(source=SyntheticFile(40), detector=DetectorAnsweringBadly(answer),
                        lifter=random_model(TINY), out_dir=tmp_path)
    engine.start()
    assert engine.wait(60)
    engine.stop()
    with pytest.raises(EngineError, match=f"detect failed on frame 20: .*the detector 'fake' {said}"):
        engine.raise_if_failed()
    np.testing.assert_array_equal(load_session(tmp_path).frame_index, np.arange(20))


def run_to_end(engine: PoseEngine) -> None:
    """Start ``engine``, wait for its source's end, stop it (the recording written) and raise the
    run's error, if any."""
    engine.start()
    assert engine.wait(60)
    engine.stop()
    engine.raise_if_failed()


class SyntheticCamera(SyntheticFile):
    """The same frames, handed over as a live camera's (newest only), at its frame rate."""

    is_live = True

    def _read(self) -> Frame:
        time.sleep(1 / self.fps)  # a camera delivers a frame every 1/fps s; the engine keeps the newest
        return super()._read()


class WalkDetector:
    """Keypoints of a stick figure walking before a camera 20 degrees down (``test_world.film``),
    in 1080x1920 pixels: something the shipped lifter and the world step can place."""

    name = "walk"
    provides = frozenset()

    def __init__(self, frames: int) -> None:
        from test_world import film, walk

        _, self.keypoints, self.scores, *_ = film(walk(frames), 20, 5, 60, noise_px=1.0)

    def __call__(self, frame: Frame) -> Detection:
        points = self.keypoints[frame.index].astype(np.float32)
        box = np.array([*np.nanmin(points, 0), *np.nanmax(points, 0)], np.float32)
        return Detection(points, self.scores[frame.index].astype(np.float32), box, (1080, 1920),
                         frame.timestamp, frame.index, {})

    def reset(self) -> None:
        pass


class FollowedWalkDetector(WalkDetector):
    """The walker as a people detector's followed person (track 1)."""

    def __call__(self, frame: Frame) -> Detection:
        detection = super().__call__(frame)
        detection.extras["track_id"] = 1
        return detection


def test_the_followed_person_s_own_buffer_has_every_frame_with_a_lookahead():
    # With a lookahead, the poses the lifter still held back at the file's end (or at a break)
    # were recorded in the session but never reached the followed person's engine.people buffer.
    engine = PoseEngine(source=SyntheticFile(60), detector=FollowedWalkDetector(60), lifter="shipped",
                        lookahead=3, out_dir=None)
    run_to_end(engine)
    np.testing.assert_array_equal(engine.people[1].snapshot().frame_index, np.arange(60))
    np.testing.assert_array_equal(engine.buffer.snapshot().frame_index, np.arange(60))


@pytest.mark.parametrize("live", [False, True])
def test_a_recording_is_placed_again_from_the_whole_clip(tmp_path, live):
    # Live, the world step may use only past frames; once a clip is recorded (a video file, or
    # a camera's run once stopped: the rows it kept, frames dropped), every row may use every
    # other (world.recorded). The live buffer keeps what was shown.
    source = SyntheticCamera(90) if live else SyntheticFile(90)
    engine = PoseEngine(source=source, detector=WalkDetector(90), lifter="shipped", out_dir=tmp_path)
    run_to_end(engine)
    session = load_session(tmp_path)
    meta = session.metadata
    shown = engine.buffer.snapshot().joints_camera
    assert "finalize_error" not in meta and np.isfinite(shown[session.valid]).all()
    assert meta["world_placement"] == "whole clip"
    assert set(meta["live_camera"]) == {"camera_pitch_deg", "camera_roll_deg", "camera_height_m",
                                        "camera_up_source"}
    assert (len(session) >= 30 if live else len(session) == 90) and np.isfinite(session.joints_3d).all()
    assert not np.allclose(session.joints_camera, shown)  # placed again
    # The shipped lifter's rows keep one body (each bone at its clip median, every bone's
    # direction the frame's own), where live each frame's bones were the lifter's guess.
    assert meta["bones_held"] is True
    lengths = bone_lengths(session.joints_camera.astype(np.float64))
    np.testing.assert_allclose(lengths, np.broadcast_to(np.median(lengths, 0), lengths.shape), rtol=1e-3)
    assert bone_lengths(shown.astype(np.float64)).std(0).max() > 1e-3
    np.testing.assert_allclose(session.joints_camera - session.joints_camera[:, :1], shown - shown[:, :1],
                               atol=0.03)
    np.testing.assert_array_equal(np.load(tmp_path / "joints.npy")[0], session.joints_3d[-1])


def test_a_file_that_ended_by_itself_is_placed_again_when_the_engine_starts_again(tmp_path):
    # The app's play button after a file's end starts the engine again without a stop: the
    # ended run's rows were kept as placed live, under metadata saying "whole clip".
    engine = PoseEngine(source=SyntheticFile(90), detector=WalkDetector(90), lifter="shipped",
                        out_dir=tmp_path)
    engine.start()
    assert engine.wait(60)  # the file's end; no stop
    engine.set_source(SyntheticFile(60))
    run_to_end(engine)
    session, shown = load_session(tmp_path), engine.buffer.snapshot()
    assert session.metadata["world_placement"] == "whole clip" and len(session) == 150
    for segment in np.unique(session.segment):
        rows = session.segment == segment
        assert not np.allclose(session.joints_camera[rows], shown.joints_camera[rows]), segment


def test_a_recording_of_several_runs_says_which_room_each_run_s_rows_were_placed_in(tmp_path):
    # Each new source starts the room over (its own camera estimate); a file's rows are placed
    # again from the whole clip, a looping file's are not. The top-level camera keys describe
    # the last run; metadata["segments"] keeps every run's.
    engine = PoseEngine(source=SyntheticFile(90), detector=WalkDetector(90), lifter="shipped",
                        out_dir=tmp_path)
    engine.start()
    assert engine.wait(60)
    engine.stop()
    first = load_session(tmp_path).metadata
    engine.set_source(LoopingFile(60))
    engine.max_frames = 160  # 90 rows of the first run, then 70 of the loop
    run_to_end(engine)
    session = load_session(tmp_path)
    meta = session.metadata
    assert [row["segment"] for row in meta["segments"]] == sorted(np.unique(session.segment).tolist())
    file_room, loop_room = meta["segments"]
    assert file_room["world_placement"] == "whole clip" and file_room["bones_held"] is True
    assert loop_room["world_placement"] == "live" and "bones_held" not in loop_room
    for key in ("camera_pitch_deg", "camera_roll_deg", "camera_height_m", "camera_up_source"):
        assert file_room[key] == first[key], key  # as the first run's session said
        assert loop_room[key] == meta[key], key  # the top level: the last run
    assert "world_placement" not in meta


def test_the_metadata_describes_a_new_run_from_its_start(tmp_path):
    # Until a new run placed its first pose, the metadata (and the journal's periodic copy of
    # it) showed the previous run's camera at the top level as if it were this run's.
    engine = PoseEngine(source=SyntheticFile(90), detector=WalkDetector(90), lifter="shipped",
                        out_dir=tmp_path)
    run_to_end(engine)
    first = engine.metadata()
    assert first["camera_pose_source"] == "estimated" and len(first["segments"]) == 1
    source = GatedFile(60, pause_at=0)
    engine.set_source(source)
    engine.start()
    try:
        now = engine.metadata()  # nothing read yet: nobody placed in this run
        assert now["camera_pose_source"] == "estimating", now["camera_pose_source"]
        assert now["camera_up_source"] == "assumed"
        assert now["segments"] == first["segments"]  # no room yet for a run that placed nobody
    finally:
        source.gate.set()
    assert engine.wait(60)
    engine.stop()
    session = load_session(tmp_path)
    rooms = [room["segment"] for room in session.metadata["segments"]]
    assert rooms == sorted(np.unique(session.segment).tolist()) and len(rooms) == 2


class TwoWalkers(WalkDetector):
    """Two stick figures walking, seen by a people detector following the first (track 1)."""

    def __call__(self, frame: Frame) -> Detection:
        first = super().__call__(frame)
        points = np.stack([first.keypoints, first.keypoints + [300.0, -200.0]]).astype(np.float32)
        boxes = np.array([[*np.nanmin(p, 0), *np.nanmax(p, 0)] for p in points], np.float32)
        extras = {"people_ids": np.array([1, 2]), "people_keypoints": points,
                  "people_scores": np.stack([first.scores] * 2), "people_boxes": boxes, "track_id": 1}
        return Detection(first.keypoints, first.scores, first.bbox, first.frame_size, first.timestamp,
                         first.frame_index, extras)


@pytest.mark.parametrize("lookahead", [0, 3])
def test_everyone_elses_3d_in_a_row_is_of_that_row_s_frame(tmp_path, lookahead):
    # With a lookahead L, a row is recorded L frames after its frame was pushed; everyone else's
    # 3D in it used to be their newest pose at the push, L frames older than the row again.
    engine = PoseEngine(source=SyntheticFile(40), detector=TwoWalkers(40), lifter="shipped",
                        lookahead=lookahead, out_dir=None)
    run_to_end(engine)
    rows = engine.buffer.snapshot()
    other = engine.people[2].snapshot()
    by_frame = dict(zip(other.frame_index.tolist(), other.joints_3d, strict=True))
    assert sorted(by_frame) == list(range(40))  # their last L frames too, at the clip's end
    slot = rows.people_ids == 2
    compared = 0
    for row in np.flatnonzero(slot.any(1)):
        recorded = rows.people_joints_3d[row][slot[row]][0]
        if np.isfinite(recorded).all():
            np.testing.assert_array_equal(recorded, by_frame[int(rows.frame_index[row])])
            compared += 1
    assert compared == 40


def test_everyone_else_s_first_frames_stand_in_the_room_the_followed_person_settles():
    # Everyone else was placed before the followed person of the same frame: on the first frame
    # the room was not estimated yet (assumed level, 1.5 m camera height), and the second
    # walker's pelvis came down 1.47 m from the first row to the second.
    engine = PoseEngine(source=SyntheticFile(40), detector=TwoWalkers(40), lifter="shipped", out_dir=None)
    run_to_end(engine)
    for track_id, buffer in engine.people.items():
        rows = buffer.snapshot()
        pelvis = rows.joints_3d[rows.valid, 0].astype(np.float64)
        steps = np.linalg.norm(np.diff(pelvis[:10], axis=0), axis=-1)  # walking: 2-3 cm a frame
        assert len(steps) == 9 and steps.max() < 0.08, (track_id, np.round(steps, 3))


class TwoWalkersOneLeaves(TwoWalkers):
    """``TwoWalkers`` whose second person (track 2) leaves the view at frame ``leaves_at``."""

    leaves_at = 25

    def __call__(self, frame: Frame) -> Detection:
        detection = super().__call__(frame)
        if frame.index >= self.leaves_at:
            extras = detection.extras
            for key in ("people_ids", "people_keypoints", "people_scores", "people_boxes"):
                extras[key] = extras[key][:1]
        return detection


def test_a_person_leaving_the_view_keeps_their_own_3d_in_their_last_rows():
    # With a lookahead L, the rows of someone's last L frames in view are recorded after they
    # left; their lifter, pushed only while they were seen, used to hold those frames back, so
    # the rows took their newest pose (frame 21's on all of frames 22-24).
    lookahead = 3
    engine = PoseEngine(source=SyntheticFile(40), detector=TwoWalkersOneLeaves(40), lifter="shipped",
                        lookahead=lookahead, out_dir=None)
    run_to_end(engine)
    rows = engine.buffer.snapshot()
    other = engine.people[2].snapshot()
    by_frame = {int(f): pose for f, pose, valid in zip(other.frame_index, other.joints_3d, other.valid,
                                                         strict=True) if valid}
    assert sorted(by_frame) == list(range(TwoWalkersOneLeaves.leaves_at))
    last = range(TwoWalkersOneLeaves.leaves_at - lookahead - 1, TwoWalkersOneLeaves.leaves_at)
    recorded = {}
    for row in np.flatnonzero(rows.frame_index >= last.start):
        slot = rows.people_ids[row] == 2
        if slot.any():
            recorded[int(rows.frame_index[row])] = rows.people_joints_3d[row][slot][0]
    assert sorted(recorded) == list(last)
    for frame_index, pose in recorded.items():
        np.testing.assert_array_equal(pose, by_frame[frame_index])
    assert len({pose.tobytes() for pose in recorded.values()}) == len(last)  # each its own frame's


def _one_room_residual(camera: np.ndarray, world: np.ndarray) -> float:
    """The largest distance (m) between ``world`` and ``camera`` ((N, 17, 3) rows) moved by the
    one rotation and shift that best maps all of them onto it: 0 when every row is in one room."""
    x, y = camera.reshape(-1, 3).astype(np.float64), world.reshape(-1, 3).astype(np.float64)
    mx, my = x.mean(0), y.mean(0)
    u, _, vt = np.linalg.svd((x - mx).T @ (y - my))
    d = np.sign(np.linalg.det(u @ vt))
    u[:, -1] *= d
    return float(np.linalg.norm((x - mx) @ (u @ vt) + my - y, axis=1).max())


class FollowedWalkerHiddenAWhile(FollowedWalkDetector):
    """``FollowedWalkDetector`` finding nobody on frames 5-7 (the camera still settling)."""

    def __call__(self, frame: Frame) -> Detection:
        if 5 <= frame.index <= 7:
            return Detection.missing((1080, 1920), frame.timestamp, frame.index)
        return super().__call__(frame)


@pytest.mark.parametrize(("session_interval", "lookahead", "detector"), [
    (2.0, 0, FollowedWalkDetector), (0.0, 0, FollowedWalkDetector), (2.0, 13, FollowedWalkDetector),
    (2.0, 0, FollowedWalkerHiddenAWhile)])
def test_the_rows_placed_while_the_camera_settled_end_up_in_its_room(tmp_path, session_interval, lookahead,
                                                                     detector):
    # Each row of the camera's first second stood in the room estimated from the frames up to
    # it; the buffers and the recording kept that wobble. A looping file keeps its live placement
    # in the recording, so the recording shows it too, also for rows saved before the camera
    # settled (session_interval=0: every row saved as it comes), rows the lookahead gave at
    # once with the one that settled it, and rows holding the last pose while nobody was found.
    engine = PoseEngine(source=LoopingFile(60), detector=detector(60), lifter="shipped", out_dir=tmp_path,
                        session_interval=session_interval, lookahead=lookahead)
    engine.max_frames = 100
    run_to_end(engine)
    rows = engine.buffer.snapshot()
    found = np.isfinite(rows.joints_camera).all((1, 2))
    assert found.sum() == 100
    assert _one_room_residual(rows.joints_camera[found], rows.joints_3d[found]) < 1e-4
    session = load_session(tmp_path)
    np.testing.assert_array_equal(session.joints_3d, rows.joints_3d)
    person = engine.people[1].snapshot()
    np.testing.assert_array_equal(person.joints_3d, rows.joints_3d[rows.valid])


def test_the_frames_without_a_person_are_counted_over_the_whole_run():
    # pose3d run counted them in the buffer, which holds only the newest `capacity` rows.
    engine = PoseEngine(source=SyntheticFile(60), detector=FollowedWalkerHiddenAWhile(60), lifter="shipped",
                        capacity=20, out_dir=None)
    run_to_end(engine)
    assert engine.buffer.valid().all() and len(engine.buffer) == 20
    assert engine.stats().without_person == 3 and engine.stats().processed == 60


def test_the_rows_a_lookahead_gives_with_the_settling_one_end_up_in_its_room_too():
    # A 36-frame file with a lookahead of 13: its end gives frames 23-35 at once, among them
    # the frame that settles the camera (29); rows 23-28 were placed again before they were
    # recorded, so they were not, and kept the settling rooms (off by 2 cm).
    engine = PoseEngine(source=SyntheticFile(36), detector=FollowedWalkDetector(36), lifter="shipped",
                        lookahead=13, out_dir=None)
    run_to_end(engine)
    rows = engine.buffer.snapshot()
    assert len(rows) == 36 and rows.valid.all()
    assert _one_room_residual(rows.joints_camera, rows.joints_3d) < 1e-4


def test_a_camera_run_is_placed_again_though_the_engine_loops_its_files(tmp_path):
    # loop= reaches the sources that take it (a file); a camera ignores it and its run is one
    # clip, as without it (PoseApp(loop=True) on the sample, then a camera chosen in its box).
    engine = PoseEngine(source=SyntheticCamera(90), detector=WalkDetector(90), lifter="shipped",
                        out_dir=tmp_path, loop=True)
    run_to_end(engine)
    meta = load_session(tmp_path).metadata
    assert meta.get("world_placement") == "whole clip"
    assert [room["world_placement"] for room in meta["segments"]] == ["whole clip"]


class LoopingFile(SyntheticFile):
    """A file opened with ``loop=True`` (``open_source(path, loop=True)``): its frames again and again."""

    loop = True

    def _read(self) -> Frame:
        self._next %= self.count
        return super()._read()


def test_a_looping_file_shorter_than_the_settling_second_settles(tmp_path):
    # A 20-frame file looped: each seam started the camera's settling over, so it never settled
    # (metadata "estimating" after five passes, every pass's rows in a room turning and rising:
    # 5.8 cm off one room). It settles in the second pass now; that pass's rows before the
    # settling frame are placed again in its room, the first pass's keep what was shown (their
    # frame indices are the second pass's: a row placed again is found by its frame index).
    clip = 20
    engine = PoseEngine(source=LoopingFile(clip), detector=FollowedWalkDetector(clip), lifter="shipped",
                        out_dir=tmp_path)
    engine.max_frames = 5 * clip
    run_to_end(engine)
    session, rows = load_session(tmp_path), engine.buffer.snapshot()
    assert session.metadata["camera_pose_source"] == "estimated"
    assert session.metadata["segments"][0]["camera_pose_source"] == "estimated"
    assert rows.valid.all() and _one_room_residual(rows.joints_camera[clip:], rows.joints_3d[clip:]) < 1e-4
    np.testing.assert_array_equal(session.joints_3d, rows.joints_3d)
    np.testing.assert_array_equal(engine.people[1].snapshot().joints_3d, rows.joints_3d)
    first = PoseEngine(source=LoopingFile(clip), detector=FollowedWalkDetector(clip), lifter="shipped",
                       out_dir=None)
    first.max_frames = clip  # the first pass alone: as shown before the camera settled
    run_to_end(first)
    np.testing.assert_array_equal(rows.joints_3d[:clip], first.buffer.snapshot().joints_3d)
    assert first.metadata()["camera_pose_source"] == "estimating"


def test_a_looping_source_object_keeps_its_live_placement(tmp_path):
    # A looping file keeps what was shown (docs/world.md), also when the source object itself
    # loops rather than the engine's loop=: it was placed again as one clip.
    engine = PoseEngine(source=LoopingFile(60), detector=WalkDetector(60), lifter="shipped", out_dir=tmp_path)
    engine.max_frames = 100
    run_to_end(engine)
    session = load_session(tmp_path)
    assert len(session) == 100 and "world_placement" not in session.metadata
    np.testing.assert_array_equal(session.joints_3d, engine.buffer.snapshot().joints_3d)


def test_each_persons_buffer_keeps_their_camera_frame_pose_and_saves_as_placed(tmp_path):
    # engine.people's buffers kept no camera-frame joints, so a person's rows saved with
    # write_session loaded with a warning that they were never placed in the room.
    from pose3d_nb.recording import pelvis_centred_rows, write_session

    engine = PoseEngine(source=SyntheticFile(40), detector=TwoWalkers(40), lifter="shipped", out_dir=None)
    run_to_end(engine)
    for track_id, buffer in engine.people.items():
        rows = buffer.snapshot()
        posed = np.isfinite(rows.joints_3d).all((1, 2))
        assert posed.sum() >= 35 and np.isfinite(rows.joints_camera[posed]).all(), track_id
        assert not pelvis_centred_rows(rows).any()
        write_session(tmp_path / f"person{track_id}.npz", rows, engine.metadata())
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            load_session(tmp_path / f"person{track_id}.npz")
