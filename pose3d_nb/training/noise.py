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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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

    def apply(self, rng: np.random.Generator, keypoints: np.ndarray, height: float) -> np.ndarray:
        """(T, K, 2) clean screen keypoints -> noisy copy; ``height`` the person's screen height."""
        frames, count, _ = keypoints.shape
        jitter = JITTER_COCO[self.keypoints][None, :, None] * rng.uniform(*self.jitter_scale)
        noisy = keypoints + height * jitter * rng.standard_normal((frames, count, 2))
        ramp = np.linspace(-1, 1, frames)[:, None, None]
        noisy += height * self.bias * rng.standard_normal((1, count, 2))
        noisy += height * self.drift * ramp * rng.standard_normal((1, count, 2))
        occluded = rng.random(count) < OCCLUDED_COCO[self.keypoints] * 2  # runs cover ~half
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


def _run(rng: np.random.Generator, frames: int, longest: int | None = None) -> tuple[int, int]:
    """A random [start, stop) run of frames, at most ``longest`` long (default: any length)."""
    length = int(rng.integers(1, (longest or frames) + 1))
    start = int(rng.integers(0, max(frames - length, 0) + 1))
    return start, min(frames, start + length)
