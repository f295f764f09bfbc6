"""Per-frame steps shared by the live tracker and the whole-clip placement."""

from __future__ import annotations

import numpy as np

from pose3d_nb.lifting.keypoints import COCO_BODY_KEYPOINTS
from pose3d_nb.world.intrinsics import Intrinsics


def image_points(intrinsics: Intrinsics, keypoints: np.ndarray, scores: np.ndarray | None):
    """(..., 17, 2) COCO pixels and (..., 17) scores -> (..., 13, 2) normalised undistorted
    coordinates of ``COCO_BODY_KEYPOINTS`` and their (..., 13) weights (1 without scores)."""
    keypoints = np.asarray(keypoints, np.float64)[..., COCO_BODY_KEYPOINTS, :]
    points = intrinsics.normalize(keypoints)
    if scores is None:
        weights = np.ones(points.shape[:-1])
    else:
        weights = np.asarray(scores, np.float64)[..., COCO_BODY_KEYPOINTS]
    return points, np.where(np.isfinite(points).all(-1), weights, 0.0)
