"""The 2D errors of a real detector, applied to projected mocap keypoints.

What was measured (MediaPipe 0.10.21 through this package's detector and subject follower, on
the two-people clip of the shared data, outside this repository; script and clip in
docs/lifter_training.md):

- frame-to-frame jitter per keypoint, from the second difference of consecutive frames (robust
  MAD, divided by sqrt(1.5)), in fractions of the person's height: ``JITTER``;
- keypoints reported with visibility < 0.5 (occluded, guessed): up to 26% of frames for a wrist
  or an elbow: ``OCCLUDED_RATE``;
- frames without a detection (the lifter then holds the last keypoints): 28% of that clip, in runs.

What could not be measured without 2D ground truth, and is therefore a stated assumption: a
slowly varying per-keypoint offset (``bias``, 1.5% of the height, the order of the hip and shoulder
definition differences) and the size of an occluded keypoint's error (5% of the height). Left and
right are swapped in short bursts (``swap_probability``): the subject follower undoes most of
MediaPipe's swaps, not all.

Which keypoints are occluded depends on the view (``occlusion="view"``, measured 2026-12-06 on the
same clip with the default detector, ``mediapipe-people``: 197 frames of the followed man, his
facing from the lifted 3D of ``pose3d run``; ``python -m pose3d_nb.training.measure VIDEO
--detector mediapipe-people``, which takes the facing from MediaPipe's world landmarks, prints the
same within 0.03; the single-person ``mediapipe`` hides less, 75 / 72 / 44 / 23 %): turned less
than 24 degrees from square on (the hip axis's component along the camera ray under 0.4; 93 frames)
MediaPipe reports 1-3 % of limb keypoints with visibility < 0.5 on either side; turned more than 44
degrees (over 0.7; 97 frames) it reports the far side's elbow on 96 % of frames, wrist 79 %, knee
65 %, ankle 42 %, and the near side's on 1-3 %. ``OCCLUDED_COCO`` is that clip's average, in which
the man mostly walked with his left side away: the default (``occlusion="keypoint"``) occludes the
left limbs more whatever the view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose3d_nb.errors import Pose3DValueError

# Per COCO keypoint (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles; left
# first), x and y averaged, fraction of the person's height. Two_people_walk, 162 frame triples.
JITTER_COCO = np.array(
    [0.0024, 0.0026, 0.0026, 0.0027, 0.0026, 0.0033, 0.0034, 0.0042, 0.0052,
     0.0070, 0.0079, 0.0042, 0.0040, 0.0062, 0.0067, 0.0059, 0.0068],
    dtype=np.float32,
)  # fmt: skip
# Fraction of found frames with visibility < 0.5, same clip (elbows and wrists; others ~0).
OCCLUDED_COCO = np.array(
    [0, 0, 0, 0, 0, 0, 0, 0.26, 0.10, 0.25, 0.10, 0, 0, 0.22, 0.02, 0.12, 0], dtype=np.float32
)


# Where the body hides its own limbs (``occlusion="view"``): the far side's share of frames
# reported occluded in profile (elbows, wrists, knees, ankles), reached linearly between the
# lateral axis's component along the camera ray of PROFILE_RAMP[0] (the body turned 24 degrees
# from square on) and PROFILE_RAMP[1] (44 degrees), and the share on either side in any view.
FAR_SIDE_OCCLUDED_COCO = np.zeros(17, dtype=np.float32)
FAR_SIDE_OCCLUDED_COCO[[7, 8, 9, 10, 13, 14, 15, 16]] = [0.96, 0.96, 0.79, 0.79, 0.65, 0.65, 0.42, 0.42]
ANY_VIEW_OCCLUDED_COCO = np.where(FAR_SIDE_OCCLUDED_COCO > 0, 0.02, 0).astype(np.float32)
PROFILE_RAMP = (0.4, 0.7)
# Human3.6M joints whose left-minus-right axis says which side of a limb is away: shoulders for
# the arms, hips for the legs (COCO 5-10 and 11-16; left keypoints have odd indices).
_ARM_AXIS, _LEG_AXIS = (11, 14), (4, 1)


def far_side(camera: np.ndarray, coco_keypoints: np.ndarray) -> np.ndarray:
    """(T, 17, 3) camera-frame Human3.6M joints (metres, camera at the origin) -> (T, K) how far
    each keypoint's side is turned away: the unit right-to-left axis's component along the ray
    to the pelvis, signed so that 1 is the far side in profile, -1 the near side, 0 square on.
    Shoulders give the axis for the arms and shoulders, hips for the hips and legs; the nose gets 0."""
    camera = np.asarray(camera, np.float64)
    ray = camera[:, 0] / np.linalg.norm(camera[:, 0], axis=-1, keepdims=True)
    out = np.zeros((len(camera), len(coco_keypoints)))
    for column, index in enumerate(coco_keypoints):
        if index < 5:
            continue
        left, right = _ARM_AXIS if index <= 10 else _LEG_AXIS
        axis = camera[:, left] - camera[:, right]
        away = (axis * ray).sum(-1) / np.maximum(np.linalg.norm(axis, axis=-1), 1e-9)
        out[:, column] = away if index % 2 == 1 else -away
    return out


@dataclass(frozen=True)
class DetectorNoise:
    """Detector-like errors for (T, K, 2) screen keypoints of the COCO indices ``keypoints``.

    All magnitudes are fractions of the person's height on screen.
    """

    keypoints: np.ndarray  # (K,) COCO indices of the columns
    mirror: np.ndarray  # (K,) column permutation swapping left and right
    jitter_scale: tuple[float, float] = (0.5, 2.0)
    bias: float = 0.015
    drift: float = 0.01
    occluded_error: float = 0.05
    hold_probability: float = 0.15  # a run of frames without detection (last keypoints held)
    swap_probability: float = 0.08  # a burst of left/right swapped labels
    occlusion: str = "keypoint"  # "keypoint": OCCLUDED_COCO's rates; "view": where the body hides it

    def __post_init__(self) -> None:
        if self.occlusion not in ("keypoint", "view"):
            raise Pose3DValueError(f"occlusion must be 'keypoint' or 'view', got {self.occlusion!r}")

    def apply(
        self, rng: np.random.Generator, keypoints: np.ndarray, height: float, camera: np.ndarray | None = None
    ) -> np.ndarray:
        """(T, K, 2) clean screen keypoints -> noisy copy; ``height`` the person's screen height;
        ``camera`` the (T, 17, 3) camera-frame Human3.6M joints they project (``occlusion="view"``
        needs them)."""
        if self.occlusion == "view" and camera is None:
            raise Pose3DValueError('occlusion="view" needs the camera-frame joints (camera=)')
        frames, count, _ = keypoints.shape
        jitter = JITTER_COCO[self.keypoints][None, :, None] * rng.uniform(*self.jitter_scale)
        noisy = keypoints + height * jitter * rng.standard_normal((frames, count, 2))
        ramp = np.linspace(-1, 1, frames)[:, None, None]
        noisy += height * self.bias * rng.standard_normal((1, count, 2))
        noisy += height * self.drift * ramp * rng.standard_normal((1, count, 2))
        if self.occlusion == "view":
            self._hide_far_side(rng, noisy, height, camera)
        rates = OCCLUDED_COCO if self.occlusion == "keypoint" else ANY_VIEW_OCCLUDED_COCO
        occluded = rng.random(count) < rates[self.keypoints] * 2  # runs cover ~half
        for column in np.flatnonzero(occluded):
            start, stop = _run(rng, frames)
            error = height * self.occluded_error * rng.standard_normal(2)
            noisy[start:stop, column] += error + 0.3 * height * self.occluded_error * rng.standard_normal(
                (stop - start, 2)
            )
        if rng.random() < self.swap_probability:
            start, stop = _run(rng, frames, longest=6)
            noisy[start:stop] = noisy[start:stop][:, self.mirror]
        if rng.random() < self.hold_probability:
            start, stop = _run(rng, frames, longest=10)
            if start > 0:
                noisy[start:stop] = noisy[start - 1]
        return noisy.astype(np.float32)

    def _hide_far_side(
        self, rng: np.random.Generator, noisy: np.ndarray, height: float, camera: np.ndarray
    ) -> None:
        """In place: a far-side limb keypoint is guessed (off by one error for the clip, plus a
        little per frame) on the frames where the body is turned far enough to hide it; one
        uniform draw per keypoint and clip sets how far, so a hidden run lasts while the turn does."""
        low, high = PROFILE_RAMP
        turned = np.clip((far_side(camera, self.keypoints) - low) / (high - low), 0.0, 1.0)
        hidden = rng.random(len(self.keypoints)) < FAR_SIDE_OCCLUDED_COCO[self.keypoints] * turned
        error = height * self.occluded_error * rng.standard_normal((len(self.keypoints), 2))
        wobble = 0.3 * height * self.occluded_error * rng.standard_normal(noisy.shape)
        noisy += hidden[..., None] * (error + wobble)


def _run(rng: np.random.Generator, frames: int, longest: int | None = None) -> tuple[int, int]:
    """A random [start, stop) run of frames, at most ``longest`` long (default: any length)."""
    length = int(rng.integers(1, (longest or frames) + 1))
    start = int(rng.integers(0, max(frames - length, 0) + 1))
    return start, min(frames, start + length)
