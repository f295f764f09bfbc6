"""Boxes and keypoint distances in pixels, shared by the trackers and the people detector.

Boxes are (4,) or (N, 4) x1, y1, x2, y2; keypoints (K, 2) rows.
"""

from __future__ import annotations

import numpy as np


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) x1, y1, x2, y2 box with each of (N, 4) boxes -> (N,)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def box_centre(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) boxes -> (..., 2) centres."""
    boxes = np.asarray(boxes, np.float64)
    return np.stack([(boxes[..., 0] + boxes[..., 2]) / 2, (boxes[..., 1] + boxes[..., 3]) / 2], axis=-1)


def keypoint_box(keypoints: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """(4,) x1, y1, x2, y2 around the finite points of (K, 2) ``keypoints``, clipped to
    ``size`` = (width, height) when given; all NaN when no point is finite."""
    points = np.asarray(keypoints, np.float64).reshape(-1, 2)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) == 0:
        return np.full(4, np.nan)
    box = np.concatenate([points.min(axis=0), points.max(axis=0)])
    if size is not None:
        box = np.clip(box, 0, [size[0], size[1], size[0], size[1]])
    return box


def mean_distance(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean Euclidean distance between rows of (K, 2) ``a`` and ``b`` where ``mask``; inf if none."""
    if not mask.any():
        return float("inf")
    return float(np.linalg.norm(a[mask] - b[mask], axis=1).mean())
