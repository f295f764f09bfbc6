"""Which way is up, seen from the camera, from the room itself: the vertical vanishing point.

Rooms and streets are full of vertical edges (door frames, wall corners, shelves, poles). Seen
through a pinhole camera, each straight edge and the camera centre span a plane, and every
vertical edge's plane holds the room's up direction. The up is the direction that lies in the
most such planes: found by RANSAC on pairs of near-vertical segments, refined by least squares
on the inliers. It does not depend on the person's pose, so a leaning trunk or a lifter's depth
error cannot tilt it; it needs the focal length (assumed when not given) for the pitch, not for
the roll.

Not every near-vertical segment is vertical: lines on the floor running away from the camera
(rails, tiles, a platform's edges) look near-vertical too and converge on the horizon. So the
segments are counted, not weighted by length (long floor lines outvoted shorter edges), and the
up is only looked for within ``SCENE_AGREE_DEG`` of the people's own estimate (the horizon's
directions are 60-90 degrees from it). On synthetic rooms (``tests/helpers/scenes.py``) with 4
floor rails among 8 edges this keeps the up within 1.5 degrees in most scenes (a reviewer found
one portrait scene 3.6 degrees off among seeds 0-7), where weighting by length alone was off by
over 2 degrees in 7 of 16 scenes, and 90 degrees with 6 rails; with 5-6 rails a portrait scene
can still be pulled 12 degrees off. A family of parallel lines leaning together (a staircase's
rails) looks exactly like the verticals of a rolled camera: the 30-degree window is all that
keeps it out.

Segments on the people themselves (limbs are straight too) are left out. A scene without enough
vertical edges spread across the image (a field, a blank wall) gives None, and the people's own
cue (``gravity``) is used instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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
#: The edges' up is only looked for this close to the people's estimate (whose error on the
#: held-out sweep is 6-8 degrees, on real video up to 20): further out are other families of
#: near-vertical lines (floor lines running away converge on the horizon, 60-90 degrees away).
SCENE_AGREE_DEG = 30.0
#: Candidate directions tried, most agreed-on first, before giving up on the frame's edges.
MAX_CANDIDATES = 20


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


@dataclass(frozen=True)
class SceneEdges:
    """Near-vertical straight edges of one or more frames of one camera, as evidence for the
    room's up.

    normals: (N, 3) unit normals of the planes each segment spans with the camera centre
    (camera coordinates). middles: (N,) each segment's midpoint x as a fraction of the width.
    Most such segments are vertical edges, but not all: lines on the floor running away from
    the camera look near-vertical too, and converge on the horizon instead. ``up`` therefore
    takes a prior (the people's up) and only looks near it.
    """

    normals: np.ndarray
    middles: np.ndarray

    def merged(self, other: SceneEdges) -> SceneEdges:
        """These edges and ``other``'s (another frame of the same camera) together."""
        return SceneEdges(np.concatenate([self.normals, other.normals]),
                          np.concatenate([self.middles, other.middles]))

    @cached_property
    def _votes(self) -> tuple[np.ndarray, np.ndarray]:
        """RANSAC's candidates, the same on every call (fixed seed): ((C, 3) unit directions
        with the image's up, (N, C) which segments agree with each). Computed once per
        ``SceneEdges``: ``up`` runs on every settling frame with a new prior."""
        normals, count = self.normals, len(self.normals)
        if count < 2:
            return np.zeros((0, 3)), np.zeros((count, 0), bool)
        pairs = np.random.default_rng(0).integers(0, count, (RANSAC_ROUNDS, 2))
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        candidates = np.cross(normals[pairs[:, 0]], normals[pairs[:, 1]])
        norms = np.linalg.norm(candidates, axis=1)
        candidates = candidates[norms > 1e-9] / norms[norms > 1e-9, None]
        candidates *= np.where(candidates[:, 1] > 0, -1.0, 1.0)[:, None]  # the image's up
        return candidates, np.abs(normals @ candidates.T) < np.sin(np.radians(INLIER_DEG))

    def up(self, prior: np.ndarray | None = None) -> SceneUp | None:
        """The direction most segments agree on (RANSAC on pairs, the most agreeing segments
        win, counted, not weighted by length: long floor lines must not outvote many short
        edges; least squares on them), within ``SCENE_AGREE_DEG`` of ``prior`` when given. The
        ``MAX_CANDIDATES`` best-agreed candidates are tried in turn; None when none has
        ``MIN_LINES`` agreeing segments spread over ``MIN_SPREAD`` of the width."""
        candidates, agreeing = self._votes
        if prior is not None:
            prior = np.asarray(prior, np.float64)
            if not np.isfinite(prior).all() or np.linalg.norm(prior) < 1e-9:
                return None
            prior = prior / np.linalg.norm(prior)
            oriented = candidates * np.where(candidates @ prior < 0, -1.0, 1.0)[:, None]
            near = oriented @ prior >= np.cos(np.radians(SCENE_AGREE_DEG))
            candidates, agreeing = oriented[near], agreeing[:, near]
        tolerance = np.sin(np.radians(INLIER_DEG))
        for column in np.argsort(-agreeing.sum(0), kind="stable")[:MAX_CANDIDATES]:
            best = agreeing[:, column]
            if best.sum() < 2:
                break
            up = np.linalg.svd(self.normals[best])[2][-1]
            reference = prior if prior is not None else candidates[column]
            up = -up if up @ reference < 0 else up
            inliers = np.abs(self.normals @ up) < tolerance
            if inliers.sum() < MIN_LINES or np.ptp(self.middles[inliers]) < MIN_SPREAD:
                continue
            if prior is not None and float(angle_between(up, prior)) > SCENE_AGREE_DEG:
                continue
            return SceneUp(up, int(inliers.sum()), float(np.ptp(self.middles[inliers])))
        return None


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


def edges_from_segments(segments: np.ndarray, intrinsics: Intrinsics,
                        boxes: np.ndarray | None = None) -> SceneEdges | None:
    """(N, 4) segments in the pixels of the image ``intrinsics`` describe -> the near-vertical
    ones as ``SceneEdges``, or None when fewer than ``MIN_LINES`` are left. ``boxes``: (M, 4)
    people's boxes, whose segments are left out."""
    segments = np.asarray(segments, np.float64).reshape(-1, 4)
    dx, dy = segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1]
    tilt = np.degrees(np.arctan2(np.abs(dx), np.abs(dy)))
    segments = segments[(tilt <= MAX_TILT_DEG) & _outside(segments, boxes)]
    if len(segments) < MIN_LINES:
        return None
    ends = intrinsics.normalize(segments.reshape(-1, 2, 2))
    rays = np.concatenate([ends, np.ones(ends.shape[:-1] + (1,))], -1)
    normals = np.cross(rays[:, 0], rays[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    middles = (segments[:, 0] + segments[:, 2]) / 2 / intrinsics.width
    usable = np.isfinite(normals).all(1)  # a zero-length or degenerate segment spans no plane
    if usable.sum() < MIN_LINES:
        return None
    return SceneEdges(normals[usable], middles[usable])


def scene_edges(image: np.ndarray, intrinsics: Intrinsics,
                boxes: np.ndarray | None = None) -> SceneEdges | None:
    """(H, W, 3) RGB uint8 frame -> its near-vertical edges (``SceneEdges``), or None when it
    shows too few. ``intrinsics``: the camera (scaled to this frame's size if it was given for
    another); ``boxes``: (M, 4) pixel boxes of the people in this frame, whose own edges are
    left out."""
    height, width = image.shape[:2]
    return edges_from_segments(line_segments(image), intrinsics.for_size(width, height), boxes)


def scene_up(image: np.ndarray, intrinsics: Intrinsics, boxes: np.ndarray | None = None,
             prior: np.ndarray | None = None) -> SceneUp | None:
    """(H, W, 3) RGB uint8 frame -> the room's up from its vertical edges (``SceneUp``) near
    ``prior`` if given, or None when the scene does not show enough of them (see
    ``scene_edges`` and ``SceneEdges.up``)."""
    edges = scene_edges(image, intrinsics, boxes)
    return None if edges is None else edges.up(prior)


def choose_up(people_up: np.ndarray, edges: SceneEdges | None) -> tuple[np.ndarray, str]:
    """The room's up (3,) from the people's estimate and the scene's edges (None: none seen),
    and where it came from: ``"scene"`` (edges agreeing within ``SCENE_AGREE_DEG`` of the
    people's up) or ``"people"``."""
    found = None if edges is None else edges.up(people_up)
    return (found.up, "scene") if found is not None else (people_up, "people")


def nearly_blank(image: np.ndarray) -> bool:
    """True for a frame with almost no contrast (a camera still opening, a lens cap, a fade):
    searching it for edges would waste one of the few tries."""
    return float(np.asarray(image[::8, ::8], np.float32).std()) < BLANK_STD
