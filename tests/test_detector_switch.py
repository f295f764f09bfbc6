"""Switching the 2D detector while the engine runs (the app's detector list, ``set_detector``):
whoever was followed stays followed and everyone keeps their track id, their buffer and their
path in the room, as if one detector had run all along."""

from __future__ import annotations

import threading

import numpy as np

from pose3d_nb.detectors.base import Candidates, FollowingDetector
from pose3d_nb.detectors.mediapipe_people import MediaPipePeopleDetector
from pose3d_nb.engine import PoseEngine
from pose3d_nb.sources.base import BaseSource
from pose3d_nb.sources.frame import Frame

FRAMES, FOLLOW_AT, SWITCH_AT = 60, 15, 30
OFFSET = np.array([300.0, -200.0])  # the second walker, beside and behind the first
_BLACK = np.zeros((1920, 1080, 3), np.uint8)


class PausingFile(BaseSource):
    """``FRAMES`` black 1080x1920 frames read as a file; each frame index in ``pauses`` waits
    for its event, so that the test acts between two known frames."""

    name = "pausing"
    fps = 30.0

    def __init__(self, *pauses: int) -> None:
        super().__init__()
        self.gates = {index: threading.Event() for index in pauses}
        self._next = 0

    def _read(self) -> Frame:
        if self._next >= FRAMES:
            raise StopIteration
        gate = self.gates.get(self._next)
        if gate is not None:
            assert gate.wait(60), "the test never opened the gate"
        index, self._next = self._next, self._next + 1
        return Frame(_BLACK, index, index / self.fps, index / self.fps)


class TwoWalkersFound(MediaPipePeopleDetector):
    """The people detector, with two stick figures walking (``test_world.walk``) as what its
    landmarker finds; ``reverse`` lists them the other way round, so that a tracker of its own
    would number them the other way round."""

    provides = frozenset()

    def __init__(self, reverse: bool = False, **options) -> None:
        from test_world import film, walk

        super().__init__(check_face=False, **options)
        _, first, self.scores, *_ = film(walk(FRAMES), 20, 5, 60, noise_px=1.0)
        self.walkers = [first, first + OFFSET]
        if reverse:
            self.walkers.reverse()

    def candidates(self, frame: Frame) -> Candidates:
        points = np.stack([walker[frame.index] for walker in self.walkers])
        boxes = np.array([[*np.nanmin(p, 0), *np.nanmax(p, 0)] for p in points])
        return Candidates(boxes, points, np.stack([self.scores[frame.index]] * 2),
                          extras={"world_landmarks": np.zeros((2, 33, 3))})


def _is_second_walker(keypoints: np.ndarray, frame_index: np.ndarray) -> np.ndarray:
    """(N,) whether each row's keypoints are the second walker's (by where their hips are)."""
    from test_world import film, walk

    _, first, *_ = film(walk(FRAMES), 20, 5, 60, noise_px=1.0)
    hips = np.nanmean(keypoints[:, [11, 12]], axis=1)
    expected = np.nanmean(first[frame_index][:, [11, 12]], axis=1)
    return np.linalg.norm(hips - expected - OFFSET, axis=1) < 20


def test_switching_the_detector_keeps_whom_it_follows_and_everyone_s_id():
    # A new detector's tracker numbered the people afresh: it was told to follow "track 2", which
    # was now the other walker (or nobody), and every person's buffer and path went on with
    # whoever got their number.
    source = PausingFile(FOLLOW_AT, SWITCH_AT)
    engine = PoseEngine(source=source, detector=TwoWalkersFound(), lifter="shipped", out_dir=None)
    engine.start()
    try:
        assert engine.buffer.wait_for(FOLLOW_AT, timeout=60)
        engine.follow(2)  # the second walker, as a click on them would
        source.gates[FOLLOW_AT].set()
        assert engine.buffer.wait_for(SWITCH_AT, timeout=60)
        engine.set_detector(TwoWalkersFound(reverse=True))
        source.gates[SWITCH_AT].set()
        assert engine.wait(60)
    finally:
        for gate in source.gates.values():
            gate.set()
        engine.stop()
    engine.raise_if_failed()
    rows = engine.buffer.snapshot()
    after = rows.frame_index >= FOLLOW_AT + 1
    assert rows.valid[after].all()
    assert set(rows.track_id[after].tolist()) == {2}
    assert _is_second_walker(rows.keypoints_2d[after], rows.frame_index[after]).all()
    assert sorted(engine.people) == [1, 2]
    for track_id, buffer in engine.people.items():
        person = buffer.snapshot()
        found = person.valid
        second = _is_second_walker(person.keypoints_2d[found], person.frame_index[found])
        assert second.all() if track_id == 2 else not second.any(), track_id
        near = found & (np.abs(person.frame_index - SWITCH_AT) <= 5)
        pelvis = person.joints_3d[near, 0].astype(np.float64)
        steps = np.linalg.norm(np.diff(pelvis, axis=0), axis=-1)  # walking: 2-3 cm a frame
        assert len(steps) == 10 and steps.max() < 0.08, (track_id, np.round(steps, 3))


class OneWalkerFound(FollowingDetector):
    """A single-person detector (as ``mediapipe`` with ``follow="none"``) finding the first walker."""

    name = "one-walker"

    def __init__(self) -> None:
        from test_world import film, walk

        super().__init__()
        _, self.walker, self.scores, *_ = film(walk(FRAMES), 20, 5, 60, noise_px=1.0)

    def candidates(self, frame: Frame) -> Candidates:
        points = self.walker[frame.index][None]
        return Candidates(np.array([[*np.nanmin(points[0], 0), *np.nanmax(points[0], 0)]]), points,
                          self.scores[frame.index][None])


def _frame(index: int) -> Frame:
    return Frame(_BLACK, index, index / 30.0, index / 30.0)


def test_a_detector_of_another_kind_numbers_people_after_the_old_one_s_ids():
    # The single-person detector swapped for the people one (a click on the live image), or any
    # other backend: the new tracker numbered from 1 again, and an id the engine already had a
    # buffer and a path for went on with whoever was numbered so.
    single = OneWalkerFound()
    single.reset()  # a lost person and a new one: the single-person tracker is at id 2 now
    for index in range(3):
        assert single(_frame(index)).extras["track_id"] == 1
    single.reset()
    assert single(_frame(3)).extras["track_id"] == 2
    people = TwoWalkersFound()
    assert people.take_over(single) is False
    ids = people(_frame(4)).extras["people_ids"]
    assert sorted(ids.tolist()) == [3, 4]
    # And the other way round: the people detector's ids were up to 4.
    single = OneWalkerFound()
    assert single.take_over(people) is False
    assert single(_frame(5)).extras["track_id"] == 5


def test_the_new_detector_keeps_its_own_settings_and_takes_only_the_state():
    # The whole follower moved over, settings included: a detector made to keep lost people
    # for 8 s without fixing left/right labels tracked with the old one's 2 s and label fixer.
    old = TwoWalkersFound()
    for index in range(5):
        old(_frame(index))
    old.follow(2)
    old(_frame(5))
    new = TwoWalkersFound(max_lost_seconds=8.0, fix_left_right=False)
    assert new.take_over(old) is True
    follower = new._follower
    assert follower.tracker.max_lost_seconds == 8.0 and follower.stabilizer is None
    assert new(_frame(6)).extras["track_id"] == 2 and sorted(new.people) == [1, 2]
    assert not old._follower.tracker.tracks  # the old one forgot them
