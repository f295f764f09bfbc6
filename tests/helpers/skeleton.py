"""Shape checks on 17-joint Human3.6M poses shared by tests."""

from __future__ import annotations

import numpy as np

from pose3d_nb.training.skeleton_model import BONE_CHILDREN, PARENTS


def bone_directions(joints: np.ndarray) -> np.ndarray:
    """(T, 17, 3) -> (T, 16, 3) unit vectors from each joint's parent to it (tree order)."""
    bones = np.asarray(joints, np.float64)[:, BONE_CHILDREN] - np.asarray(joints, np.float64)[:, PARENTS[1:]]
    return bones / np.linalg.norm(bones, axis=-1, keepdims=True)
