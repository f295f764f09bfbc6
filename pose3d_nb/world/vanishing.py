"""Which way is up, seen from the camera, from the room itself: the vertical vanishing point.

Rooms and streets are full of vertical edges (door frames, wall corners, shelves, poles). Seen
through a pinhole camera, each straight edge and the camera centre span a plane, and every
vertical edge's plane holds the room's up direction. The up is the direction that lies in the
most such planes: found by RANSAC on pairs of near-vertical segments, refined by least squares
on the inliers. It does not depend on the person at all, so a leaning trunk or a lifter's depth
error cannot tilt it; it needs the focal length (assumed when not given) for the pitch, not for
the roll.

Segments on the people themselves (limbs are straight too) are left out. A scene without enough
vertical edges spread across the image (a field, a blank wall) gives None, and the people's own
cue (``gravity``) is used instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose3d_nb.analysis import angle_between
from pose3d_nb.world.intrinsics import Intrinsics

#: Lines are found on an image at most this many pixels on its longer side (LSD's cost grows
#: with the pixels; the edges that matter are long).
MAX_SIDE_PX = 640
#: Shortest segment used, as a fraction of the image diagonal.
MIN_LENGTH = 0.04
#: Segments further than this from the image's vertical are not candidates (a camera rolled
#: up to 30 degrees, plus the convergence of verticals near the image edges).
MAX_TILT_DEG = 40.0
#: A segment agrees with an up direction when its plane passes within this angle of it.
INLIER_DEG = 1.5
#: Enough evidence: this many agreeing segments ...
MIN_LINES = 6
#: ... whose midpoints spread over at least this fraction of the image width (segments from one
#: object alone say little about their convergence, hence the pitch).
MIN_SPREAD = 0.25
RANSAC_ROUNDS = 300
#: Grey-level standard deviation under which a frame is taken as blank (0-255 levels).
BLANK_STD = 4.0
#: The edges' up is taken unless it is further than this from the people's estimate (whose
#: error on the held-out sweep is 6-8 degrees, on real video up to 20): then the edges are taken
#: to be another family of lines (a sloping roof, a staircase), and the people's up is kept.
SCENE_AGREE_DEG = 30.0


@dataclass(frozen=True)
class SceneUp:
    """The room's up from the image's vertical edges.

    up: (3,) unit vector in camera coordinates (x right, y down, z forward); its y is negative
    (the image's up). lines: the number of segments that agree. spread: how far apart their
    midpoints are, as a fraction of the image width.
    """

    up: np.ndarray
    lines: int
    spread: float


def line_segments(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB or (H, W) gray uint8 image -> (N, 4) segments x1, y1, x2, y2 in its pixels
    (OpenCV's LSD line segment detector, on a copy at most ``MAX_SIDE_PX`` wide or tall)."""
    import cv2

    gray = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    scale = min(1.0, MAX_SIDE_PX / max(gray.shape[:2]))
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    found = cv2.createLineSegmentDetector().detect(gray)[0]
    if found is None:
        return np.zeros((0, 4))
    segments = found.reshape(-1, 4).astype(np.float64) / scale
    length = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    return segments[length >= MIN_LENGTH * np.hypot(*image.shape[:2])]


def _outside(segments: np.ndarray, boxes: np.ndarray | None) -> np.ndarray:
    """(N,) True for segments whose midpoint is outside every (M, 4) x1, y1, x2, y2 box (each
    grown by a tenth of its size: hands and feet stick out of keypoint boxes)."""
    keep = np.ones(len(segments), bool)
    if boxes is None:
        return keep
    middle = (segments[:, :2] + segments[:, 2:]) / 2
    for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4):
        if not np.isfinite([x1, y1, x2, y2]).all():
            continue
        gx, gy = 0.1 * (x2 - x1), 0.1 * (y2 - y1)
        keep &= ~((middle[:, 0] >= x1 - gx) & (middle[:, 0] <= x2 + gx)
                  & (middle[:, 1] >= y1 - gy) & (middle[:, 1] <= y2 + gy))  # fmt: skip
    return keep


def up_from_segments(segments: np.ndarray, intrinsics: Intrinsics, boxes: np.ndarray | None = None,
                     seed: int = 0) -> SceneUp | None:
    """(N, 4) segments in the pixels of the image ``intrinsics`` describe -> the ``SceneUp``
    most of the near-vertical ones agree on, or None without enough evidence (see ``MIN_LINES``
    and ``MIN_SPREAD``). ``boxes``: (M, 4) people's boxes, whose segments are left out."""
    segments = np.asarray(segments, np.float64).reshape(-1, 4)
    dx, dy = segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1]
    tilt = np.degrees(np.arctan2(np.abs(dx), np.abs(dy)))
    segments = segments[(tilt <= MAX_TILT_DEG) & _outside(segments, boxes)]
    if len(segments) < MIN_LINES:
        return None
    ends = intrinsics.normalize(segments.reshape(-1, 2, 2))
    rays = np.concatenate([ends, np.ones(ends.shape[:-1] + (1,))], -1)
    normals = np.cross(rays[:, 0], rays[:, 1])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    weights = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    tolerance = np.sin(np.radians(INLIER_DEG))
    rng = np.random.default_rng(seed)
    best, best_weight = None, 0.0
    for _ in range(RANSAC_ROUNDS):
        i, j = rng.choice(len(segments), 2, replace=False)
        candidate = np.cross(normals[i], normals[j])
        norm = np.linalg.norm(candidate)
        if norm < 1e-9:
            continue
        inliers = np.abs(normals @ (candidate / norm)) < tolerance
        if weights[inliers].sum() > best_weight:
            best, best_weight = inliers, weights[inliers].sum()
    if best is None or best.sum() < 2:
        return None
    # The direction closest to lying in every inlier plane, longer segments counting more.
    up = np.linalg.svd(normals[best] * weights[best, None])[2][-1]
    up = -up if up[1] > 0 else up
    inliers = np.abs(normals @ up) < tolerance
    middle_x = (segments[inliers, 0] + segments[inliers, 2]) / 2
    spread = float(np.ptp(middle_x) / intrinsics.width) if inliers.any() else 0.0
    if inliers.sum() < MIN_LINES or spread < MIN_SPREAD:
        return None
    return SceneUp(up, int(inliers.sum()), spread)


def scene_up(image: np.ndarray, intrinsics: Intrinsics, boxes: np.ndarray | None = None) -> SceneUp | None:
    """(H, W, 3) RGB uint8 frame -> the room's up from its vertical edges (``SceneUp``), or
    None when the scene does not show enough of them. ``intrinsics``: the camera (scaled to this
    frame's size if it was given for another); ``boxes``: (M, 4) pixel boxes of the people in
    this frame, whose own edges are left out."""
    height, width = image.shape[:2]
    return up_from_segments(line_segments(image), intrinsics.for_size(width, height), boxes)


def choose_up(people_up: np.ndarray, scene: SceneUp | None) -> tuple[np.ndarray, str]:
    """The room's up (3,) from the people's estimate and the scene's edges (None: not found),
    and where it came from: ``"scene"`` or ``"people"`` (see ``SCENE_AGREE_DEG``)."""
    if scene is not None and float(angle_between(scene.up, people_up)) <= SCENE_AGREE_DEG:
        return scene.up, "scene"
    return people_up, "people"


def nearly_blank(image: np.ndarray) -> bool:
    """True for a frame with almost no contrast (a camera still opening, a lens cap, a fade):
    searching it for edges would waste one of the few tries."""
    return float(np.asarray(image[::8, ::8], np.float32).std()) < BLANK_STD
