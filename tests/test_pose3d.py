"""Pose3D, the synchronous front door: the engine's results, one call per frame, no threads."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
from helpers.skeleton import bone_directions

from pose3d_nb import Pose3D, load_session
from pose3d_nb.errors import Pose3DRuntimeError
from pose3d_nb.sources import open_source

pytestmark = pytest.mark.slow


def test_pose3d_gives_the_engine_recording_frame_by_frame(sample_run):
    threads = threading.active_count()
    results = []
    placed_again = []
    with Pose3D() as pose3d, open_source("sample") as frames:
        for frame in frames:
            due = pose3d.process(frame)
            assert [r.frame_index for r in due] == [frame.index]  # no lookahead: no lag
            results += due
            placed_again += pose3d.take_placed_again()
        assert pose3d.flush() == []
    # Once the camera settled, the results given while it settled, in its room (as the engine
    # rewrites its buffer).
    assert placed_again and all(row.frame_index < results[-1].frame_index for row in placed_again)
    given, results = results, list(results)
    for row in placed_again:
        results[row.frame_index] = dataclasses.replace(results[row.frame_index], joints_3d=row.joints_3d,
                                                       joints_camera=row.joints_camera)
        assert threading.active_count() == threads  # synchronous: no thread of its own
    session = load_session(sample_run[1] / "session.npz")
    assert len(results) == len(session.frame_index) == 100
    np.testing.assert_array_equal([r.frame_index for r in results], session.frame_index)
    np.testing.assert_array_equal([r.valid for r in results], session.valid)
    assert session.valid.any()
    np.testing.assert_allclose([r.keypoints_2d for r in results], session.keypoints_2d, atol=1e-5)
    np.testing.assert_allclose([r.scores for r in results], session.scores_2d, atol=1e-5)
    # The world placement is the engine's live one (its buffer); the recording of the file was
    # placed again from the whole clip, from the rows as first given: the same poses' bone
    # directions, each bone at its clip median length, moved.
    live = sample_run[0].buffer.snapshot()
    np.testing.assert_array_equal(live.frame_index, session.frame_index)
    np.testing.assert_allclose([r.joints_3d for r in results], live.joints_3d, atol=1e-5)
    assert session.metadata["world_placement"] == "whole clip" and session.metadata["bones_held"]
    camera = np.array([r.joints_camera for r in given])
    np.testing.assert_allclose(bone_directions(session.joints_camera), bone_directions(camera), atol=1e-3)
    first = results[0]
    assert first.joints_3d.shape == (17, 3) and first.keypoints_2d.shape == (17, 2)
    assert first.scores.shape == (17,)
    with pytest.raises(AttributeError):
        first.valid = False  # frozen


def test_numpy_images_and_lookahead_trail_the_input():
    with open_source("sample") as frames:
        images = [frame.image for _, frame in zip(range(8), frames, strict=False)]
    with Pose3D(lifter="shipped", lookahead=3, fps=60.0) as pose3d:
        due = [pose3d.process(image) for image in images]
        tail = pose3d.flush()
    assert due[:3] == [[], [], []]
    assert [[r.frame_index for r in poses] for poses in due[3:]] == [[0], [1], [2], [3], [4]]
    assert [r.frame_index for r in tail] == [5, 6, 7]
    results = [r for poses in due for r in poses] + tail
    assert all(r.valid and np.isfinite(r.joints_3d).all() for r in results)


def test_the_temporal_knobs_change_between_frames_as_the_engines_do():
    # pose3d.lookahead = 3 made a plain attribute and changed nothing (the engine's knobs are
    # assignable while it runs); now the next frames wait for it, and a bad value is refused.
    with open_source("sample") as frames:
        images = [frame.image for _, frame in zip(range(8), frames, strict=False)]
    with Pose3D(lifter="shipped", fps=60.0) as pose3d:
        assert (pose3d.window, pose3d.lookahead, pose3d.flip) == (pose3d.lifter.settings.window, 0, True)
        first = [pose3d.process(image) for image in images[:3]]
        pose3d.lookahead, pose3d.window, pose3d.flip = 3, 9, False
        assert pose3d.lifter.settings.lookahead == 3 and pose3d.lifter.settings.window == 9
        assert not pose3d.lifter.settings.flip
        later = [pose3d.process(image) for image in images[3:]]
        tail = pose3d.flush()
        with pytest.raises(ValueError, match="lookahead"):
            pose3d.lookahead = -1
    assert [len(poses) for poses in first] == [1, 1, 1]
    given = [r.frame_index for poses in later for r in poses] + [r.frame_index for r in tail]
    assert given == [3, 4, 5, 6, 7]
    assert sum(len(poses) == 0 for poses in later) >= 1  # the lookahead held poses back


def test_every_frame_comes_out_once_across_a_window_break_with_lookahead():
    """An image-size change restarts the window: the old window's held-back poses still come out."""
    with open_source("sample") as frames:
        images = [frame.image for _, frame in zip(range(10), frames, strict=False)]
    smaller = [np.ascontiguousarray(image[::2, ::2]) for image in images[5:]]  # half size from frame 5
    with Pose3D(lifter="shipped", lookahead=3, fps=60.0) as pose3d:
        due = [pose3d.process(image) for image in images[:5] + smaller]
        tail = pose3d.flush()
    # Frame 5 (the new size) releases frames 2-4, which the old window held back, then waits.
    assert [[r.frame_index for r in poses] for poses in due] == [
        [], [], [], [0], [1], [2, 3, 4], [], [], [5], [6]
    ]
    results = [r for poses in due for r in poses] + tail
    assert [r.frame_index for r in results] == list(range(10))  # each frame once, in order
    # The old window's poses are real ones (after the size change the detector's person
    # follower takes a few frames to pick the person up again: those are marked invalid).
    assert all(r.valid and np.isfinite(r.joints_3d).all() for r in results[:5])


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((48, 64), np.uint8), r"\(H, W, 3\) RGB image, got an array of shape \(48, 64\)"),
        (np.zeros((48, 64, 4), np.uint8), r"shape \(48, 64, 4\)"),
        (np.zeros((48, 64, 3), np.float32), "uint8"),
        ("frame.png", "numpy array or a Frame, got str"),
    ],
)
def test_a_wrong_image_is_refused_with_a_clear_error(image, message):
    with Pose3D(lifter="mediapipe") as pose3d, pytest.raises(ValueError, match=message):
        pose3d.process(image)


def test_a_closed_pose3d_refuses_frames():
    pose3d = Pose3D(lifter="mediapipe")
    pose3d.close()
    with pytest.raises(RuntimeError, match="closed"):
        pose3d.process(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(Pose3DRuntimeError, match="this Pose3D is closed"):  # was an AttributeError
        pose3d.reset()
