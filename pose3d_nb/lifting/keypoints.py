"""Preparing 2D keypoints for the lifter: validation, screen normalisation, flipping, gap filling."""

from __future__ import annotations

import numpy as np

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.skeleton import COCO, H36M, NUM_JOINTS


def check_keypoints(keypoints: np.ndarray, what: str = "keypoints") -> np.ndarray:
    """``keypoints`` as float32 (T, 17, 2); raises ``ValueError`` naming the shape otherwise."""
    array = np.asarray(keypoints)
    if array.ndim != 3 or array.shape[1:] != (NUM_JOINTS, 2):
        raise Pose3DValueError(
            f"{what} must have shape (T, {NUM_JOINTS}, 2) (frames, COCO keypoints, x/y pixels); "
            f"got {array.shape}"
        )
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise Pose3DValueError(f"{what} must be real numbers, got dtype {array.dtype}")
    if len(array) == 0:
        raise Pose3DValueError(f"{what} has no frames (shape {array.shape}); nothing to lift")
    return array.astype(np.float32, copy=False)


def normalize_screen(keypoints_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixels -> VideoPose3D screen coordinates: x in [-1, 1], y scaled by the same factor.

    (..., 2) -> (..., 2), ``X / w * 2 - [1, h / w]`` as in the original.
    """
    if width <= 0 or height <= 0:
        raise Pose3DValueError(f"frame size must be positive, got {width}x{height}")
    return (keypoints_px / width * 2 - np.array([1, height / width], dtype=np.float32)).astype(np.float32)


COCO_MIRROR = COCO.mirror_permutation()
H36M_MIRROR = H36M.mirror_permutation()


def mirror_keypoints(normalized: np.ndarray) -> np.ndarray:
    """Horizontal flip of normalised COCO keypoints (..., 17, 2): x negated, left/right swapped."""
    flipped = normalized[..., COCO_MIRROR, :].copy()
    flipped[..., 0] *= -1
    return flipped


# The COCO keypoints a 13-input model reads: every one but the eyes and ears (motion capture, on
# which the shipped lifter is trained, has none). A 17-input model (the official) reads all.
COCO_BODY_KEYPOINTS = np.array([0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])


def input_columns(num_joints_in: int) -> np.ndarray:
    """COCO indices a model with ``num_joints_in`` input joints reads, in its input order."""
    if num_joints_in == NUM_JOINTS:
        return np.arange(NUM_JOINTS)
    if num_joints_in == len(COCO_BODY_KEYPOINTS):
        return COCO_BODY_KEYPOINTS
    raise Pose3DValueError(
        f"a lifter reads {NUM_JOINTS} COCO keypoints or the {len(COCO_BODY_KEYPOINTS)} without eyes and "
        f"ears; this model takes {num_joints_in}"
    )


def mirror_columns(columns: np.ndarray) -> np.ndarray:
    """Permutation of a model's input columns (COCO indices ``columns``) swapping left and right."""
    return np.searchsorted(columns, COCO_MIRROR[columns])


def unmirror_joints(joints: np.ndarray) -> np.ndarray:
    """Undo a horizontal flip on Human3.6M joints (..., 17, 3): x negated, left/right swapped."""
    restored = joints[..., H36M_MIRROR, :].copy()
    restored[..., 0] *= -1
    return restored


def fill_gaps(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation over frames where keypoints are NaN, edge values held at the ends.

    keypoints: (T, 17, 2) with NaN for missing joints. Returns (filled (T, 17, 2), valid (T,) bool),
    valid meaning the frame had all 17 keypoints before filling. Raises ``ValueError`` if no frame
    has a detection, since there is nothing to interpolate from.
    """
    keypoints = check_keypoints(keypoints)
    valid = np.isfinite(keypoints).all(axis=(1, 2))
    filled = keypoints.copy()
    frames = np.arange(len(keypoints))
    flat = filled.reshape(len(keypoints), -1)
    for column in range(flat.shape[1]):
        series = flat[:, column]
        known = np.isfinite(series)
        if known.all():
            continue
        if not known.any():
            raise Pose3DValueError(
                "no frame has a detection for keypoint "
                f"{COCO.joint_names[column // 2]}; cannot lift a sequence with nobody in it"
            )
        series[~known] = np.interp(frames[~known], frames[known], series[known])
    return filled, valid
