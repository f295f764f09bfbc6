"""The lifter protocol: poses carry their own detection and frame; where a window breaks."""

from __future__ import annotations

import numpy as np

from pose3d_nb.benchmarks.lifter import random_model
from pose3d_nb.detectors.detection import Detection
from pose3d_nb.lifting.lifter import VideoPose3DLifter
from pose3d_nb.lifting.model import Architecture
from pose3d_nb.lifting.protocol import LiftSettings


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
    assert not breaks.person_only
    assert not breaks.breaks_at(detection(1))
    assert not breaks.breaks_at(detection(None, found=False))  # nobody found: same window
    assert not breaks.breaks_at(detection(1))
    assert breaks.breaks_at(detection(2))  # another person
    assert breaks.person_only  # only that: everyone else's windows go on (the engine)
    assert breaks.breaks_at(detection(2, size=(320, 240)))  # another image size
    assert not breaks.person_only
    assert breaks.breaks_at(detection(2, size=(320, 240)), segment=1)  # another source
    assert not breaks.person_only
    breaks.reset()
    assert breaks.breaks_at(detection(2, size=(320, 240)), segment=1)


def test_a_window_breaks_where_a_looping_file_starts_again():
    """The frame index going back is the clip's first frame again: the person is back where it
    began, and a window holding both ends of the clip lifted a blend of the two."""
    from pose3d_nb.lifting.protocol import WindowBreaks

    def detection(index):
        return Detection(np.ones((17, 2), np.float32), np.ones(17, np.float32), np.zeros(4, np.float32),
                         (640, 480), index / 30, index, {"track_id": 1})

    breaks = WindowBreaks()
    assert [breaks.breaks_at(detection(i)) for i in (0, 1, 2, 99, 0, 1)] == [
        True, False, False, False, True, False]
