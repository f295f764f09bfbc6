"""A digital zoom that shows the shipped lifter the person at the size it lifts best.

Zooming the 2D keypoints about the image centre is what a longer or shorter lens would have
seen from the same place: the person's pelvis-relative 3D in camera space does not change, so
the lifter's answer should not either. It does, because the lifter learned from people of a
limited range of screen sizes: on held-out mocap through the viewpoint sweep
(docs/lifter_training.md, bench seed), people under a tenth of the image height scored 80.8 mm
PA-MPJPE against 66.6 at 35-60 % of it. Zooming every window to ``TARGET_HEIGHT`` brought the
held-out error from 72.6 to 65.2 mm PA-MPJPE and 121.9 to 102.1 mm MPJPE (noisy 2D; clean 70.2 to
61.9 and 116.9 to 95.1). Those figures are the first shipped lifter's; the second and third
(2026-12-06) were trained on zoomed 2D and need the zoom. Weights whose meta says they were
trained zoomed use it (``checkpoint.trained_zoom_height``), the shipped lifter among them; the
official checkpoints were trained on Human3.6M's fixed framing and do not.
"""

from __future__ import annotations

import numpy as np

from pose3d_nb.lifting.keypoints import COCO_BODY_KEYPOINTS

# Person height (highest to lowest of the 13 body keypoints) in VideoPose3D screen units (the
# image width spans 2). Chosen on held-out mocap, seed 17: 0.6 / 0.8 / 1.0 / 1.2 gave 68.2 / 66.2 /
# 65.3 / 65.2 mm PA-MPJPE (noisy) and 110.8 / 105.6 / 103.1 / 102.1 mm MPJPE.
TARGET_HEIGHT = 1.2
# Per frame, how far the measured height moves towards the newest frame's: slow (about 20 frames),
# so bending down does not zoom in and the window's frames share nearly one zoom.
SMOOTHING = 0.05


MIN_BODY_POINTS = 4  # fewer seen body keypoints say nothing reliable about the person's height


def person_height(keypoints_px: np.ndarray, width: int) -> np.ndarray:
    """(..., 17, 2) COCO pixels -> (...) the person's height (highest to lowest of the 13 body
    keypoints) in screen units, the image width spanning 2; NaN where fewer than
    ``MIN_BODY_POINTS`` of them are seen. The measure ``TARGET_HEIGHT`` is given in."""
    body = np.asarray(keypoints_px, np.float32)[..., COCO_BODY_KEYPOINTS, 1]
    seen = np.isfinite(body)
    spread = np.where(seen, body, -np.inf).max(-1) - np.where(seen, body, np.inf).min(-1)
    return np.where(seen.sum(-1) >= MIN_BODY_POINTS, spread.astype(np.float64) / width * 2, np.nan)


class ScreenZoom:
    """Zooms (17, 2) pixel keypoints about the image centre so the person is ``target_height`` tall.

    The person's height is a running average over the frames pushed since ``reset``.
    """

    def __init__(self, target_height: float = TARGET_HEIGHT, smoothing: float = SMOOTHING):
        self.target_height = float(target_height)
        self.smoothing = float(smoothing)
        self.height: float | None = None  # screen units, running

    def reset(self) -> None:
        """Forget the person's size (new source)."""
        self.height = None

    def __call__(self, keypoints_px: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
        """(17, 2) COCO pixels (NaN where missing) -> the same, zoomed; unchanged until a person is seen."""
        keypoints_px = np.asarray(keypoints_px, np.float32)
        width, height = frame_size
        current = float(person_height(keypoints_px, width))
        if current > 0:  # NaN (too few keypoints seen) is not
            self.height = current if self.height is None else self.height + self.smoothing * (
                current - self.height
            )
        if not self.height:
            return keypoints_px
        centre = np.array([width / 2, height / 2], np.float32)
        return (centre + (self.target_height / self.height) * (keypoints_px - centre)).astype(np.float32)


#: The whole-clip zoom's smoothing of the person's height: a centred mean over this many frames
#: each side (about the streaming zoom's 20-frame memory, without its lag).
CLIP_HALF_WINDOW = 10


def zoom_clip(keypoints_px: np.ndarray, frame_size: tuple[int, int],
              target_height: float = TARGET_HEIGHT) -> np.ndarray:
    """The whole-clip counterpart of :class:`ScreenZoom` (``pose3d lift``): (T, 17, 2) COCO pixels
    (NaN where missing) -> the same, each frame zoomed about the image centre so the person's
    height, a centred mean over ``CLIP_HALF_WINDOW`` frames each side, is ``target_height``.
    Frames without a person take their neighbours' height; a clip without anyone is unchanged.

    On 60 held-out mocap clips through random cameras (``pose3d bench offline-lift``: pitch
    -20..60, roll +-30, field of view 40..100, detector noise; ``lift_sequence``, no flip) it took
    the first shipped lifter from 80.8 to 71.0 mm PA-MPJPE and 125.5 to 108.8 mm MPJPE (the
    engine, streaming with the zoom and flip: 70.4 and 109.5); the second, trained zoomed, scores
    70.1 and 107.6 with it and 111.0 and 216.3 without; the third (twice the steps) 66.9 and
    100.9 with it and 115.0 and 220.0 without. ``CLIP_HALF_WINDOW`` was not tuned."""
    if not target_height > 0:
        raise ValueError(f"target_height must be > 0 screen units, got {target_height}")
    keypoints_px = np.asarray(keypoints_px, np.float32)
    width, height = frame_size
    heights = person_height(keypoints_px, width)
    known = np.isfinite(heights) & (heights > 0)
    if not known.any():
        return keypoints_px.copy()
    frames = np.arange(len(heights))
    heights = np.interp(frames, frames[known], heights[known])
    sums = np.concatenate([[0.0], np.cumsum(heights)])
    low = np.maximum(frames - CLIP_HALF_WINDOW, 0)
    high = np.minimum(frames + CLIP_HALF_WINDOW + 1, len(heights))
    smoothed = (sums[high] - sums[low]) / (high - low)
    centre = np.array([width / 2, height / 2], np.float32)
    scale = (target_height / smoothed).astype(np.float32)[:, None, None]
    return (centre + scale * (keypoints_px - centre)).astype(np.float32)


def zoom_windows(inputs: np.ndarray, target_height: float = TARGET_HEIGHT) -> np.ndarray:
    """The offline counterpart for evaluation: (N, T, K, 2) screen-coordinate windows of the 13
    body keypoints, each zoomed about the image centre so its mean height over the window is
    ``target_height`` (the streaming zoom's running height, settled)."""
    heights = np.ptp(inputs[..., 1], axis=2).mean(axis=1)
    scale = target_height / np.maximum(heights, 1e-6)
    return (inputs * scale[:, None, None, None]).astype(np.float32)
