"""Fusing the temporal lifter's 3D with MediaPipe's own per-frame 3D, joint by joint, by reliability.

The two err differently: MediaPipe's world landmarks come from the image itself (appearance,
depth cues) but are per frame and change the body's proportions as it turns; the lifter sees
only 2D keypoints but has a motion prior and the proportions it learned from mocap. MediaPipe's
pose is first moved onto the lifter's (``align_to_lifter``: so only its shape counts, in the
lifter's position, orientation and size), then each joint is a weighted mean of the two.

**The weights** are inverse expected squared errors. The lifter's expected error per joint and
frame comes from two signals (``training.reliability``): how much its flipped and unflipped
outputs disagree, and how far its pose, projected, lands from the 2D keypoints. Their mapping to
millimetres (``LIFTER_ERROR_MODEL``) is **calibrated on held-out mocap** seen through the viewpoint
sweep (``python -m pose3d_nb.training.reliability``). **MediaPipe's error is an assumption**: its
3D cannot be simulated on mocap, so it is taken as the lifter's own typical error for that joint,
scaled so that at typical lifter reliability MediaPipe gets ``weight`` (0.5: equal trust, which
beats both alone in ``pose3d bench accuracy``). Where the lifter is unsure (a
profile view's depth ambiguity, an input unlike its training), its expected error grows and the
result follows MediaPipe; where it is sure, the lifter counts more. Without the signals (no
2D or no flip spread given), the weight is ``weight`` for every joint, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose3d_nb.lifting.keypoints import COCO_BODY_KEYPOINTS
from pose3d_nb.lifting.mediapipe_world import blazepose_to_h36m

# Joints both define alike and the alignment is fitted on: all but spine, nose and head top
# (derived points whose definitions differ between MediaPipe and mocap).
BODY_JOINTS = np.array([0, 1, 2, 3, 4, 5, 6, 8, 11, 12, 13, 14, 15, 16])
MEDIAPIPE_WEIGHT = 0.5
# The Human3.6M joint each of ``COCO_BODY_KEYPOINTS`` (nose, shoulders, elbows, wrists, hips,
# knees, ankles) marks.
KEYPOINT_JOINTS = np.array([9, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3])


@dataclass(frozen=True)
class LifterErrorModel:
    """Expected squared lifter error per joint: ``intercept + per_spread² spread² + per_residual² residual²``.

    A variance model because the weights are inverse variances: fitted on squared errors, its
    root tracks the actual RMS error into the tail (where a model of the error itself fell short).
    intercept_m2: (17,) square metres. per_spread2: squared error per squared flip spread.
    per_residual2_m2: square metres per squared reprojection residual (a fraction of the 2D body
    height). typical_m: (17,) the RMS error per joint on the calibration data (metres).
    """

    intercept_m2: tuple[float, ...]
    per_spread2: float
    per_residual2_m2: float
    typical_m: tuple[float, ...]

    def expected(self, spread: np.ndarray, residual: np.ndarray) -> np.ndarray:
        """(17,) flip spread (m) and (17,) residual -> (17,) expected RMS error, metres (>= 1 mm)."""
        variance = (
            np.asarray(self.intercept_m2) + self.per_spread2 * spread**2 + self.per_residual2_m2 * residual**2
        )
        return np.sqrt(np.maximum(variance, 1e-6))


# Calibrated by `python -m pose3d_nb.training.reliability` (shipped lifter with its zoom,
# ``lifting.zoom``, each frame's rays turned to the person, ``lifting.rays``; window 0, lookahead 0,
# flip on; 4000 held-out noisy windows through the viewpoint sweep, people anywhere in the central
# 60 % of the image, seed 17; refitted 2026-12-07 for the fifth shipped lifter, trained on centred
# rays). Predicted against actual RMS error of the joints it ranks worst: top 50 % 101.8 / 101.5
# mm, top 20 % 127.4 / 128.6, top 5 % 150.2 / 165.0, top 1 % 186.4 / 189.8. Mean error 58.0 mm,
# mean flip spread 29.1 mm, mean residual 0.0389 of the 2D body height.
LIFTER_ERROR_MODEL = LifterErrorModel(
    intercept_m2=(0.00177, 0.00257, 0.0041, 0.00827, 0.0023, 0.0044, 0.0089, 0.000241, -0.000293,
                  0.000596, 0.00225, 0.000699, 0.0042, 0.0152, 0.000546, 0.00387, 0.0136),
    per_spread2=0.659,
    per_residual2_m2=0.381,
    typical_m=(0.0495, 0.0555, 0.0785, 0.1095, 0.0537, 0.0822, 0.1117, 0.0325, 0.0297, 0.049, 0.0636, 0.0442,
               0.0801, 0.1349, 0.0429, 0.0758, 0.1276),
)  # fmt: skip


def align_to_lifter(mediapipe: np.ndarray, lifted: np.ndarray) -> np.ndarray:
    """Move (17, 3) MediaPipe joints onto (17, 3) lifter joints: the best rotation (no reflection)
    and shift on ``BODY_JOINTS``, and the lifter's size (RMS distance from the centre).

    Not the least-squares scale: that shrinks MediaPipe's pose towards a point when the lifter's
    pose is unlike it (the case where the fusion must follow MediaPipe); matching the size does not.
    """
    source = np.asarray(mediapipe, np.float64)
    target = np.asarray(lifted, np.float64)
    source_centre = source[BODY_JOINTS].mean(axis=0)
    target_centre = target[BODY_JOINTS].mean(axis=0)
    a = source[BODY_JOINTS] - source_centre
    b = target[BODY_JOINTS] - target_centre
    u, _, vt = np.linalg.svd(a.T @ b)
    if np.linalg.det(u @ vt) < 0:
        u[:, -1] *= -1
    scale = np.sqrt((b * b).sum() / max((a * a).sum(), 1e-18))
    return (scale * (source - source_centre) @ (u @ vt) + target_centre).astype(np.float32)


def reprojection_residual(joints: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """How far camera-space ``joints`` (17, 3), projected, land from COCO ``keypoints`` (17, 2).

    Orthographic projection with the least-squares scale and shift (any pixel or screen units);
    the residual is divided by the keypoints' height. Returns (17,): the residual at the joints
    that have a keypoint, their mean elsewhere (pelvis, spine, thorax, head); NaN when fewer than
    four keypoints are finite.
    """
    projected = np.asarray(joints, np.float64)[KEYPOINT_JOINTS, :2]
    seen = np.asarray(keypoints, np.float64)[COCO_BODY_KEYPOINTS]
    finite = np.isfinite(seen).all(axis=1) & np.isfinite(projected).all(axis=1)
    result = np.full(17, np.nan)
    if finite.sum() < 4:
        return result
    a = projected[finite] - projected[finite].mean(axis=0)
    b = seen[finite] - seen[finite].mean(axis=0)
    scale = (a * b).sum() / max((a**2).sum(), 1e-12)
    height = max(float(np.ptp(b[:, 1])), 1e-9)
    residual = np.linalg.norm(scale * a - b, axis=1) / height
    result[:] = residual.mean()
    result[KEYPOINT_JOINTS[finite]] = residual
    return result


def mediapipe_weights(
    expected_lifter: np.ndarray,
    weight: float = MEDIAPIPE_WEIGHT,
    model: LifterErrorModel = LIFTER_ERROR_MODEL,
) -> np.ndarray:
    """(17,) expected lifter errors (m) -> (17,) MediaPipe's share of each fused joint, in [0, 1].

    Inverse-variance weights, MediaPipe's variance assumed ``typical² (1 - weight) / weight``, so
    a joint with its typical expected error gets exactly ``weight``.
    """
    if weight <= 0 or weight >= 1:
        return np.full(17, float(np.clip(weight, 0, 1)))
    lifter_var = np.asarray(expected_lifter, np.float64) ** 2
    mediapipe_var = np.asarray(model.typical_m) ** 2 * (1 - weight) / weight
    return lifter_var / (lifter_var + mediapipe_var)


def fuse_world_landmarks(
    lifted: np.ndarray,
    world_landmarks: np.ndarray | None,
    weight: float = MEDIAPIPE_WEIGHT,
    keypoints: np.ndarray | None = None,
    flip_spread: np.ndarray | None = None,
    model: LifterErrorModel = LIFTER_ERROR_MODEL,
) -> np.ndarray:
    """(17, 3) camera-space lifter joints + (33, 3) BlazePose world landmarks -> (17, 3) fused.

    keypoints: (17, 2) the frame's COCO 2D (pixels), and flip_spread: (17,) metres between the
    lifter's two flip branches; with both, each joint is weighted by reliability (module
    docstring), otherwise MediaPipe gets ``weight`` everywhere. Returns ``lifted`` unchanged when
    there are no finite landmarks (nobody found, or a detector without 3D) or ``weight`` is 0.
    """
    if weight == 0 or world_landmarks is None or not np.isfinite(world_landmarks).all():
        return lifted
    if not np.isfinite(lifted).all():
        return lifted
    mediapipe = align_to_lifter(blazepose_to_h36m(world_landmarks), lifted)
    share = np.full(17, weight)
    if keypoints is not None and flip_spread is not None:
        residual = reprojection_residual(lifted, keypoints)
        if np.isfinite(residual).all() and np.isfinite(flip_spread).all():
            share = mediapipe_weights(model.expected(np.asarray(flip_spread), residual), weight, model)
    share = share[:, None]
    return ((1 - share) * lifted + share * mediapipe).astype(np.float32)
