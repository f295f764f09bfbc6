"""The root's path in the camera frame: where the pelvis is, frame by frame, in metres.

For each frame, the root translation ``t`` that makes the metric root-relative pose ``P`` project
onto the 2D keypoints is the linear least-squares solution of, for every keypoint j with
normalised image coordinates (x_j, y_j) and confidence w_j,

    w_j [(P_jx + t_x) - x_j (P_jz + t_z)] = 0,   w_j [(P_jy + t_y) - y_j (P_jz + t_z)] = 0

(the algebraic error of VideoPose3D's trajectory solve). Depth is the noisy part (it comes from
the body's apparent size), so smoothing works on image position (x/z, y/z) and log depth, the
latter more strongly.
"""

from __future__ import annotations

import math

import numpy as np

# The Human3.6M joint each of ``COCO_BODY_KEYPOINTS`` marks (nose, shoulders, elbows, wrists,
# hips, knees, ankles), as the lifter's training pairs them (``training.synth.KEYPOINT_JOINTS``).
KEYPOINT_JOINTS = np.array([9, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3])
MIN_SCORE = 0.3  # keypoints the detector is less sure of than this are left out of the solve
MIN_DEPTH_M = 0.3
#: A person unseen this long (seconds) starts a new path when seen again, live (``CausalSmoother``,
#: ``tracker.PersonPath``) and over a whole clip (``smooth_offline``): they may have moved
#: anywhere meanwhile, and the depth filter would take its time constant to follow, the clip's
#: smoothing would bend the path towards where they had been. Chosen live on held-out mocap (40
#: clips each of seeds 41 and 43 through random cameras, the person hidden from frame 50, the true
#: height given; /work/s35/reentry.py, a script outside the repository): the root's mean error
#: over the first 5 frames back, continuing -> starting again, 1 s hidden 0.62 -> 0.52 m (seed
#: 41) and 0.76 -> 0.64 m (43); 1.5 s 0.66 -> 0.54 and 0.83 -> 0.58 m. Starting again after 0.5 s
#: hidden was worse (seed 41: 0.60 and 0.62 m against 0.60 and 0.59 over the first 5 and the
#: next 10 frames). A recording's pause without rows (``recorded.PAUSE_S``) is as long.
LOST_AFTER_S = 1.0


def solve_translation(joints: np.ndarray, points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Root translations for many frames at once.

    joints: (T, 17, 3) root-relative camera-frame metres. points: (T, 13, 2) normalised image
    coordinates of ``COCO_BODY_KEYPOINTS`` (undistorted, x/z and y/z). weights: (T, 13)
    confidences (0 leaves a keypoint out). Returns (T, 3) metres; NaN for frames with fewer
    than 3 usable keypoints.
    """
    p = np.asarray(joints, np.float64)[:, KEYPOINT_JOINTS]
    xy = np.asarray(points, np.float64)
    w = np.where(np.isfinite(xy).all(-1) & np.isfinite(p).all(-1), np.asarray(weights, np.float64), 0.0)
    w = np.where(w >= MIN_SCORE, w, 0.0)
    xy, p = np.nan_to_num(xy), np.nan_to_num(p)
    frames = len(p)
    # Rows [1, 0, -x] t = x Pz - Px and [0, 1, -y] t = y Pz - Py, weighted.
    a = np.zeros((frames, 13, 2, 3))
    a[:, :, 0, 0] = 1
    a[:, :, 1, 1] = 1
    a[:, :, :, 2] = -xy
    b = xy * p[..., 2:3] - p[..., :2]
    a = a * w[..., None, None]
    b = b * w[..., None]
    a, b = a.reshape(frames, -1, 3), b.reshape(frames, -1)
    normal = np.einsum("tki,tkj->tij", a, a)
    rhs = np.einsum("tki,tk->ti", a, b)
    out = np.full((frames, 3), np.nan)
    ok = (w > 0).sum(-1) >= 3
    if ok.any():
        out[ok] = np.linalg.solve(normal[ok] + 1e-9 * np.eye(3), rhs[ok][..., None])[..., 0]
    out[out[:, 2] < MIN_DEPTH_M] = np.nan
    return out


def to_image_depth(translation: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 3) (x/z, y/z, log z)."""
    t = np.asarray(translation, np.float64)
    return np.concatenate([t[..., :2] / t[..., 2:], np.log(t[..., 2:])], -1)


def from_image_depth(coords: np.ndarray) -> np.ndarray:
    """Inverse of ``to_image_depth``."""
    z = np.exp(coords[..., 2:])
    return np.concatenate([coords[..., :2] * z, z], -1)


def smooth_offline(translation: np.ndarray, sigma_image: float, sigma_depth: float,
                   break_after: float = math.inf, depth_share: float = 0.0,
                   sigma_depth_min: float = 0.0, times: np.ndarray | None = None,
                   break_after_s: float = LOST_AFTER_S) -> np.ndarray:
    """Zero-phase Gaussian smoothing of a whole clip's (T, 3) translations (NaN gaps bridged,
    then restored). Sigmas in frames for image position and for log depth. break_after: a gap
    of this many frames or more without a translation (the person unseen) ends one path and
    starts another, each smoothed on its own: they may have moved anywhere meanwhile.
    depth_share: a path shorter than ``depth_share * sigma_depth`` frames has its depth smoothed
    with its length / depth_share instead, but never under ``sigma_depth_min`` frames (see
    ``offline.SMOOTH_DEPTH_SHARE``); 0: every path with ``sigma_depth``. times: (T,) each
    frame's seconds, or None; given, a path ends where ``break_after_s`` or more pass between
    two frames with a translation, as the live path starts again (``PersonPath.place``), and
    ``break_after`` counts only where a time is not known (NaN): rows of a recording come at
    their source's pace, not one per frame."""
    t = np.asarray(translation, np.float64)
    frames = np.flatnonzero(np.isfinite(t).all(-1))
    result = t.copy()
    gaps = np.diff(frames) - 1 >= break_after
    if times is not None:
        stamps = np.asarray(times, np.float64)[frames]
        known = np.flatnonzero(np.isfinite(stamps))
        if len(known):  # a row without a time takes the last one before it, as live keeps it
            at = np.maximum.accumulate(np.where(np.isfinite(stamps), np.arange(len(stamps)), known[0]))
            stamps = np.where(np.arange(len(stamps)) < known[0], np.nan, stamps[at])
        seconds = np.diff(stamps)
        gaps = np.where(np.isfinite(seconds), seconds >= break_after_s, gaps)
    for run in np.split(frames, np.flatnonzero(gaps) + 1):
        if len(run) >= 2:
            span = slice(run[0], run[-1] + 1)
            length = run[-1] + 1 - run[0]
            sigma = sigma_depth
            if length < depth_share * sigma_depth:
                sigma = max(sigma_depth_min, length / depth_share)
            result[span] = _smooth_path(t[span], sigma_image, sigma)
    return result


def _smooth_path(t: np.ndarray, sigma_image: float, sigma_depth: float) -> np.ndarray:
    """``smooth_offline`` of one path: (T, 3) translations, finite at both ends."""
    ok = np.isfinite(t).all(-1)
    coords = to_image_depth(t[ok])
    frames = np.flatnonzero(ok)
    every = np.arange(len(t))
    filled = np.stack([np.interp(every, frames, coords[:, k]) for k in range(3)], -1)
    out = np.empty_like(filled)
    for k, sigma in ((0, sigma_image), (1, sigma_image), (2, sigma_depth)):
        out[:, k] = _gaussian(filled[:, k], sigma)
    result = from_image_depth(out)
    result[~ok] = np.nan
    return result


def _gaussian(values: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return values.copy()
    radius = max(1, int(math.ceil(3 * sigma)))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    # Past the ends, the end value repeated. Continuing the trend (odd reflection, or the line
    # through the last values) keeps a steady walk straight to the end on clean data, but on the
    # held-out sweep it carried end noise into the path: WA-MPJPE 172 and 177 mm against 162.
    padded = np.pad(values, radius, mode="edge")
    return np.convolve(padded, kernel, mode="valid")


class CausalSmoother:
    """Live smoothing of one translation per frame, past frames only.

    Image position: an exponential moving average with time constant ``tau_image`` frames.
    Log depth: an alpha-beta (constant-velocity) filter with time constant ``tau_depth``
    frames, so someone walking steadily towards the camera is followed without the lag an
    average of that length would have. Its first frames (at the start, and again after
    ``lost_after`` frames in a row without a measurement) average the depth (gain 1/n) until
    that gain falls to the filter's own, so the path does not hang on its first, single
    measurement for a whole time constant.
    """

    def __init__(self, tau_image: float, tau_depth: float, lost_after: float = math.inf):
        self._lost_after = math.inf
        self.set_time_constants(tau_image, tau_depth, lost_after)
        self.reset()

    def set_time_constants(self, tau_image: float, tau_depth: float, lost_after: float | None = None) -> None:
        """New time constants (frames), keeping the state (the frame rate became known).
        lost_after: frames in a row without a measurement after which the next one starts the
        path again (the person may have moved anywhere meanwhile); inf: never; None: as it was."""
        self._alpha_image = 1 / (1 + tau_image)
        self._alpha = 1 / (1 + tau_depth)
        self._beta = self._alpha**2 / (2 - self._alpha)
        if lost_after is not None:
            self._lost_after = lost_after

    def reset(self) -> None:
        self._state: np.ndarray | None = None
        self._velocity = 0.0
        self._count = 0  # measurements since the path (re)started
        self._missed = 0  # frames in a row without one

    def miss(self) -> None:
        """One frame without a measurement (the person not seen or not solved)."""
        self._missed += 1

    def update(self, translation: np.ndarray) -> np.ndarray:
        """(3,) raw translation (NaN: no update) -> (3,) smoothed (NaN before the first)."""
        t = np.asarray(translation, np.float64)
        if not np.isfinite(t).all():
            self.miss()
        else:
            if self._missed >= self._lost_after:
                self.reset()
            self._missed = 0
            coords = to_image_depth(t)
            self._count += 1
            if self._state is None:
                self._state = coords
            else:
                state = self._state.copy()
                state[:2] += self._alpha_image * (coords[:2] - state[:2])
                gain = max(1 / self._count, self._alpha)
                predicted = state[2] + self._velocity
                residual = coords[2] - predicted
                state[2] = predicted + gain * residual
                if gain <= self._alpha:  # no velocity from the averaging frames' noise
                    self._velocity += self._beta * residual
                self._state = state
        return from_image_depth(self._state) if self._state is not None else np.full(3, np.nan)
