"""Mocap joint centres -> the points a 2D detector marks, and bone-length retargeting.

The lifter is fed MediaPipe keypoints and scored against points with MediaPipe's definitions, so
it is trained on mocap moved to those definitions rather than on raw joint centres:

- pelvis is the midpoint of the hips and thorax the midpoint of the shoulders (as MediaPipe's
  3D is mapped in ``lifting.mediapipe_world``), spine their midpoint;
- bone lengths follow MediaPipe's proportions (``MEDIAPIPE_PROPORTIONS``): its hips are wider and
  its trunk longer than mocap joint centres;
- the nose sits in front of the head's centre line as MediaPipe places it (``NOSE_FORWARD``).

All arrays are (..., 17, 3) metres, y up, Human3.6M order.
"""

from __future__ import annotations

import numpy as np

from pose3d_nb.skeleton import H36M_PARENTS

PARENTS = np.array(H36M_PARENTS)
BONE_CHILDREN = np.arange(1, 17)  # bone k joins PARENTS[k + 1] -> k + 1
# Bones that set body size (all but the two head bones, whose definitions differ between rigs).
SIZE_BONES = np.array([0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15])

# Median bone length / sum of SIZE_BONES lengths of MediaPipe's world landmarks (mapped to the 17
# joints) on the held-apart two-people clip of the shared data (outside this repository), 166
# frames, left and right averaged. Measured with the script in docs/lifter_training.md. Order: the 16 bones
# of the Human3.6M tree (right hip, thigh, shin, left hip, thigh, shin, spine, spine to thorax,
# thorax to nose, nose to head, left shoulder, upper arm, forearm, right shoulder, upper arm,
# forearm).
MEDIAPIPE_PROPORTIONS = np.array(
    [0.031, 0.1105, 0.106, 0.031, 0.1105, 0.106, 0.068, 0.068, 0.062, 0.043,
     0.047, 0.0705, 0.066, 0.047, 0.0705, 0.066],
    dtype=np.float32,
)  # fmt: skip
# MediaPipe's nose is 0.365 trunk lengths in front of the mid-shoulder point (same clip); the
# mocap head joints sit 0.02-0.12 in front: the nose is moved forward by the difference.
NOSE_FORWARD = 0.28


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) -> (..., 16) bone lengths in the Human3.6M tree order."""
    return np.linalg.norm(joints[..., BONE_CHILDREN, :] - joints[..., PARENTS[1:], :], axis=-1)


def body_forward(joints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) y-up joints -> (..., 3) unit vectors the chest faces."""
    across = joints[..., 11, :] - joints[..., 14, :]  # right shoulder -> left shoulder
    up = joints[..., 8, :] - joints[..., 0, :]
    forward = np.cross(across, up)
    return forward / np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-6)


def detector_definitions(joints: np.ndarray) -> np.ndarray:
    """Mocap joint centres -> MediaPipe's definitions of pelvis, spine, thorax and nose."""
    out = np.array(joints, dtype=np.float32, copy=True)
    out[..., 0, :] = (out[..., 1, :] + out[..., 4, :]) / 2
    out[..., 8, :] = (out[..., 11, :] + out[..., 14, :]) / 2
    out[..., 7, :] = (out[..., 0, :] + out[..., 8, :]) / 2
    trunk = np.linalg.norm(out[..., 8, :] - out[..., 0, :], axis=-1, keepdims=True)
    out[..., 9, :] += NOSE_FORWARD * trunk * body_forward(out)
    return out


def retarget(joints: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Keep every bone's direction, set its length: (T, 17, 3), (16,) or (T, 16) -> (T, 17, 3).

    The pelvis stays where it is; children are placed parent-first along the tree.
    """
    joints = np.asarray(joints, dtype=np.float32)
    lengths = np.broadcast_to(np.asarray(lengths, dtype=np.float32), joints.shape[:-2] + (16,))
    out = np.empty_like(joints)
    out[..., 0, :] = joints[..., 0, :]
    for child in BONE_CHILDREN:  # H36M_PARENTS lists every parent before its children
        parent = PARENTS[child]
        direction = joints[..., child, :] - joints[..., parent, :]
        direction /= np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-6)
        out[..., child, :] = out[..., parent, :] + lengths[..., child - 1, None] * direction
    return out


def mediapipe_lengths(size: float, jitter: np.ndarray | None = None) -> np.ndarray:
    """(16,) bone lengths in metres with MediaPipe's proportions; ``size`` = sum of SIZE_BONES.

    ``jitter``: optional (16,) multiplicative factors (bone-length augmentation).
    """
    lengths = MEDIAPIPE_PROPORTIONS / MEDIAPIPE_PROPORTIONS[SIZE_BONES].sum() * size
    return lengths * (1.0 if jitter is None else jitter)
