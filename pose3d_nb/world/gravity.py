"""Which way is up, seen from the camera, from the people in view.

Two cues, combined:

- the lifted trunk (pelvis to thorax), averaged over the frames seen: people hold their trunk
  near vertical most of the time; it gives pitch and roll, with the lifter's depth errors;
- the image: a balancing body keeps its centre of mass above the supporting ankle, so the
  plane through the camera centre, that ankle's keypoint and the centre of mass's image holds
  the room's up. Each frame's plane is precise across the image (roll) and says nothing about
  depth (pitch).

All arrays are camera-frame metres (x right, y down, z forward), Human3.6M joint order, with the
root translation applied (``trajectory``).
"""

from __future__ import annotations

import math

import numpy as np

RIGHT_ANKLE, LEFT_ANKLE = 3, 6
# Rough share of the body's mass carried near each joint (pelvis and trunk heavy, hands light);
# what matters is that the centre of mass sits in the trunk, just above the pelvis.
MASS = np.array([0.14, 0.10, 0.05, 0.015, 0.10, 0.05, 0.015, 0.14, 0.12, 0.03, 0.05,
                 0.04, 0.025, 0.01, 0.04, 0.025, 0.01])  # fmt: skip
MASS = MASS / MASS.sum()
SUPPORT_MARGIN_M = 0.05  # an ankle this close to the lowest one carries weight too
CAMERA_UP = np.array([0.0, -1.0, 0.0])  # before anything is known: the image's up
IMAGE_PRIOR_WEIGHT = 1.0  # refine_with_image's pull towards the 3D estimate (see estimate_up)


def unit(vectors: np.ndarray) -> np.ndarray:
    """Vectors (..., 3) scaled to length 1 (NaN where zero or NaN)."""
    v = np.asarray(vectors, np.float64)
    if v.shape == (3,):  # the live step's common case: plain floats cost a tenth of the array ops
        x, y, z = v.tolist()
        norm = math.sqrt(x * x + y * y + z * z)
        return v / norm if norm > 1e-12 else np.full(3, np.nan)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norm > 1e-12, norm, np.nan)


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross products of broadcast (..., 3) arrays, as ``np.cross`` (which costs several times
    more on the live step's few vectors)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], axis=-1)


def support_points(joints: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(T, 17, 3) -> (T, 3): the ankle carrying the weight (the lower along ``up``), or the
    midpoint of both when they are within ``SUPPORT_MARGIN_M`` of each other."""
    right, left = joints[:, RIGHT_ANKLE], joints[:, LEFT_ANKLE]
    difference = (right - left) @ up
    both = np.abs(difference) < SUPPORT_MARGIN_M
    lower = np.where((difference < 0)[:, None], right, left)
    return np.where(both[:, None], (right + left) / 2, lower)


def balance_up(joints: np.ndarray, up: np.ndarray = CAMERA_UP) -> np.ndarray:
    """(T, 17, 3) placed joints -> (T, 3) unit vectors from the supporting ankle to the centre
    of mass, per frame. ``up``: the current guess, used only to tell which ankle is lower."""
    com = np.einsum("j,tjk->tk", MASS, joints)
    return unit(com - support_points(joints, up))


def trunk_up(joints: np.ndarray) -> np.ndarray:
    """(T, 17, 3) -> (3,) the mean pelvis-to-thorax direction over the finite frames."""
    per_frame = unit(joints[:, 8] - joints[:, 0])
    per_frame = per_frame[np.isfinite(per_frame).all(-1)]
    return unit(per_frame.mean(0)) if len(per_frame) else CAMERA_UP.copy()


def estimate_up(joints: np.ndarray, points: np.ndarray | None = None) -> np.ndarray:
    """(T, 17, 3) placed joints (NaN frames allowed) -> (3,) unit up in camera coordinates.

    The mean trunk direction, then moved towards the nearest direction that the image's
    balance planes allow (``refine_with_image``) when ``points`` (T, 13, 2), the normalised
    keypoints, are given. Chosen on 120 held-out synthetic clips (pitch -20..60, roll +-30,
    fov 40..100 degrees; ``pose3d bench world``), mean angle to the true up / mean body-frame
    gravity error as ``eval_world.py`` scores it: trunk alone 11.4 / 12.3 degrees; refined with
    weight 0.03 / 0.1 / 0.3 / 1 / 3: 11.1 / 17.9, 9.9 / 15.2, 9.7 / 13.9, 9.8 / 12.9,
    10.4 / 12.4; the balance line (ankle to centre of mass) alone 11.9 / 13.0. A floor plane
    through planted ankles was worse than the trunk on the first sweep and is not used.
    With ``points``, the result is then averaged with the learned estimate
    (``gravity_model.learned_up``, when its weights are there). On the same clips: learned alone
    7.9 / 14.6, the average 8.0 / 13.2 against 9.8 / 12.9 without it (paired differences
    -1.84 +- 0.28 and +0.34 +- 0.24 degrees): a truer camera, the body's lean as good.
    """
    joints = np.asarray(joints, np.float64)
    ok = np.isfinite(joints).all((1, 2))
    if not ok.any():
        return CAMERA_UP.copy()
    up = trunk_up(joints[ok])
    if points is None:
        return up
    points = np.asarray(points, np.float64)[ok]
    up = refine_with_image(up, image_balance_normals(points, joints[ok], up), IMAGE_PRIOR_WEIGHT)
    from pose3d_nb.world.gravity_model import learned_up

    learned = learned_up(joints[ok], points)
    return up if learned is None else unit(up + learned)


# Mass shares of the 13 body keypoints (COCO order of ``COCO_BODY_KEYPOINTS``: nose, shoulders,
# elbows, wrists, hips, knees, ankles), from ``MASS``: head on the nose, trunk split between
# shoulders and hips.
KEYPOINT_MASS = np.array([0.08, 0.18, 0.18, 0.025, 0.025, 0.01, 0.01, 0.19, 0.19, 0.05, 0.05, 0.015, 0.015])
KEYPOINT_MASS = KEYPOINT_MASS / KEYPOINT_MASS.sum()
RIGHT_ANKLE_KEYPOINT, LEFT_ANKLE_KEYPOINT = 12, 11  # columns in COCO_BODY_KEYPOINTS order


def image_balance_normals(points: np.ndarray, joints: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(T, 13, 2) normalised keypoints + (T, 17, 3) placed joints -> (T, 3) unit normals of the
    planes through the camera centre, the supporting ankle and the centre of mass as the image
    shows them. The room's up lies in each such plane when the body balances: one precise
    constraint per frame (mostly on roll), independent of the lifter's depth."""
    rays = np.concatenate([points, np.ones(points.shape[:-1] + (1,))], -1)
    com = np.einsum("k,tkc->tc", KEYPOINT_MASS, rays)
    right, left = joints[:, RIGHT_ANKLE], joints[:, LEFT_ANKLE]
    difference = (right - left) @ up
    ankle_r, ankle_l = rays[:, RIGHT_ANKLE_KEYPOINT], rays[:, LEFT_ANKLE_KEYPOINT]
    both = np.abs(difference) < SUPPORT_MARGIN_M
    support = np.where(both[:, None], (ankle_r + ankle_l) / 2,
                       np.where((difference < 0)[:, None], ankle_r, ankle_l))  # fmt: skip
    return unit(cross(support, com))


def refine_with_image(up: np.ndarray, normals: np.ndarray, prior_weight: float = 0.05) -> np.ndarray:
    """The unit vector closest to ``up`` that lies (in least squares) in the image balance planes:
    argmin sum (u . n)^2 + prior_weight |u - up|^2, normalised."""
    normals = normals[np.isfinite(normals).all(-1)]
    if not len(normals):
        return up
    scatter = normals.T @ normals / len(normals)
    return unit(np.linalg.solve(scatter + prior_weight * np.eye(3), prior_weight * up))


class UpAccumulator:
    """``estimate_up`` one frame at a time, at a constant cost per frame (live settling).

    It keeps the sum of the frames' unit trunk vectors, the scatter of their image balance
    normals (each frame's supporting ankle picked with the estimate of that moment) and the sum
    of their learned up vectors.
    """

    def __init__(self) -> None:
        self._trunk = np.zeros(3)
        self._scatter = np.zeros((3, 3))
        self._learned = np.zeros(3)
        self._count = 0
        self._up = CAMERA_UP.copy()

    @property
    def up(self) -> np.ndarray:
        """The current estimate (``CAMERA_UP`` before any frame)."""
        return self._up.copy()

    def _estimate(self) -> np.ndarray:
        up = unit(self._trunk)
        up = unit(np.linalg.solve(self._scatter / self._count + IMAGE_PRIOR_WEIGHT * np.eye(3),
                                  IMAGE_PRIOR_WEIGHT * up))  # fmt: skip
        return up if not self._learned.any() else unit(up + unit(self._learned))

    def add(self, joints: np.ndarray, points: np.ndarray) -> None:
        """One frame: (17, 3) placed camera-frame joints and its (13, 2) normalised keypoints."""
        trunk = unit(joints[8] - joints[0])
        if not np.isfinite(trunk).all():
            return
        normal = image_balance_normals(points[None], joints[None], self._up)[0]
        self._trunk += trunk
        if np.isfinite(normal).all():
            self._scatter += np.outer(normal, normal)
        from pose3d_nb.world.gravity_model import learned_up

        learned = learned_up(joints[None], points[None])
        if learned is not None:
            self._learned += learned
        self._count += 1
        self._up = self._estimate()
