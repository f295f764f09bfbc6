"""A slow source's 2D is lifted at 30 fps (VideoPose3DLifter's ``resample``).

The shipped network is trained on windows at 24-60 fps; at 10-20 fps it was 1-4 mm PA-MPJPE
worse on held-out mocap. The lifter now interpolates the 2D between two found frames of a slow
source and lifts that, giving back one pose per frame as before.
"""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_nb.detectors.detection import Detection
from pose3d_nb.detectors.geometry import keypoint_box
from pose3d_nb.lifting.choice import choose_lifter
from pose3d_nb.lifting.lifter import VideoPose3DLifter
from pose3d_nb.lifting.protocol import LiftSettings

SIZE = (720, 1280)
# A person about 900 px tall (COCO order), arms down, feet apart.
STANDING = np.array([
    [360, 200], [350, 190], [370, 190], [340, 195], [380, 195], [300, 300], [420, 300], [290, 420],
    [430, 420], [285, 530], [435, 530], [330, 570], [390, 570], [325, 800], [395, 800],
    [320, 1030], [400, 1030],
], np.float32)  # fmt: skip


def moving(seconds: float, fps: float) -> list[np.ndarray]:
    """2D of the person at ``fps`` for ``seconds``: arms swinging, a knee bending (1 Hz)."""
    frames = []
    for i in range(int(seconds * fps)):
        phase = 2 * np.pi * i / fps
        points = STANDING.copy()
        points[[9, 10], 0] += 80 * np.sin(phase) * np.array([-1, 1])
        points[[7, 8], 0] += 40 * np.sin(phase) * np.array([-1, 1])
        points[13, 1] -= 60 * max(0.0, np.sin(phase))
        frames.append(points)
    return frames


def detection(points: np.ndarray, index: int, fps: float) -> Detection:
    return Detection(points, np.full(17, 0.9, np.float32), keypoint_box(points).astype(np.float32), SIZE,
                     index / fps, index)


def shipped(resample: bool | None = None, lookahead: int = 0) -> VideoPose3DLifter:
    lifter = choose_lifter("shipped", world_landmark_weight=0.0)
    if resample is not None:
        lifter._resample = resample  # as the constructor's ``resample=`` sets it
    lifter.settings = LiftSettings(window=27, lookahead=lookahead, flip=True)
    return lifter


def lift(lifter: VideoPose3DLifter, frames: list[np.ndarray], fps: float) -> list:
    poses = []
    for i, points in enumerate(frames):
        poses += lifter.push(detection(points, i, fps))
    return poses + lifter.flush()


def test_a_10_fps_source_is_lifted_as_its_2d_at_30_fps():
    slow = moving(2.0, 10.0)
    poses = lift(shipped(), slow, 10.0)
    assert [p.frame_index for p in poses] == list(range(len(slow)))  # one pose per frame, its own
    assert all(p.latency_frames == 0 for p in poses)
    # What the network saw: each frame with two samples interpolated before it, at 30 fps.
    at_30 = [slow[0]]
    for before, now in zip(slow, slow[1:], strict=False):
        at_30 += [before + (now - before) / 3, before + (now - before) * 2 / 3, now]
    expected = lift(shipped(resample=False), at_30, 30.0)[::3]
    for pose, same in zip(poses, expected, strict=True):
        np.testing.assert_allclose(pose.joints_camera, same.joints_camera, atol=1e-5)
    plain = lift(shipped(resample=False), slow, 10.0)  # as before: another answer
    difference = np.stack([p.joints_camera for p in plain]) - np.stack([p.joints_camera for p in poses])
    assert np.abs(difference).max() > 0.01


@pytest.mark.parametrize("fps", [25.0, 30.0, 60.0])
def test_a_source_at_the_training_rates_is_lifted_as_it_is(fps):
    frames = moving(1.5, fps)
    resampled = lift(shipped(), frames, fps)
    plain = lift(shipped(resample=False), frames, fps)
    for a, b in zip(resampled, plain, strict=True):
        np.testing.assert_array_equal(a.joints_camera, b.joints_camera)


def test_nothing_is_bridged_across_a_missing_frame_or_a_pause():
    lifter = shipped()
    pushed = []
    original = lifter._stream.push
    lifter._stream.push = lambda keypoints, size: pushed.append(1) or original(keypoints, size)
    frames = moving(1.0, 10.0)
    lifter.push(detection(frames[0], 0, 10.0))
    lifter.push(Detection.missing(SIZE, 0.1, 1))
    lifter.push(detection(frames[2], 2, 10.0))  # after a missing frame: no samples
    assert len(pushed) == 3
    lifter.push(Detection(frames[3], np.full(17, 0.9, np.float32), keypoint_box(frames[3]), SIZE, 0.6, 3))
    assert len(pushed) == 4  # 0.4 s after the last: a pause, not a slow camera
    lifter.push(Detection(frames[4], np.full(17, 0.9, np.float32), keypoint_box(frames[4]), SIZE, 0.7, 4))
    assert len(pushed) == 7  # 0.1 s: two samples, then the frame


def test_with_a_lookahead_every_frame_comes_out_once_in_order():
    slow = moving(2.0, 12.0)
    poses = lift(shipped(lookahead=6), slow, 12.0)
    assert [p.frame_index for p in poses] == list(range(len(slow)))
    # Six 1/30 s steps ahead are two or three 12 fps frames: latency counts frames, not samples.
    assert max(p.latency_frames for p in poses) <= 3


def test_the_official_checkpoints_lift_every_frame_as_given():
    model = shipped()._stream.model  # any TemporalModel: without a zoom, nothing is resampled
    lifter = VideoPose3DLifter(model)
    assert not lifter._resample
