"""Joint-angle and speed maths on Human3.6M 3D joints.

Pure numpy, shared by the live plot (``pose3d_nb.ui.joint_plot``) and the analysis notebook.
Joints are ``(T, 17, 3)`` metres in the engine's world frame (z up, floor at z=0); a frame with
missing joints has NaN there and every quantity computed from it is NaN (never a made-up value).
A recorded session holds the last pose on frames without a person: pass its ``valid`` column
``(T,)`` as ``valid=`` (as to ``pose3d_nb.motion``'s functions) and those frames are missing too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pose3d_nb.errors import Pose3DValueError, UnknownNameError
from pose3d_nb.skeleton import H36M
from pose3d_nb.values import is_whole_number

__all__ = [
    "ANGLE_NAMES",
    "ANGLE_PRESETS",
    "SPEED_SMOOTHING_S",
    "all_angles",
    "angle_between",
    "joint_angle",
    "joint_speed",
    "moving_average",
    "smoothed_joint_speed",
    "smoothing_window",
    "named_angle",
    "trunk_inclination",
]

_J = H36M.index

#: Named three-joint angles ``(a, b, c)``: the angle at ``b`` between the bones b->a and b->c.
#: 180 degrees is a straight limb (a straight leg for the knees), 90 a right angle.
ANGLE_PRESETS: dict[str, tuple[int, int, int]] = {
    "left_knee": (_J("left_hip"), _J("left_knee"), _J("left_foot")),
    "right_knee": (_J("right_hip"), _J("right_knee"), _J("right_foot")),
    "left_elbow": (_J("left_shoulder"), _J("left_elbow"), _J("left_hand")),
    "right_elbow": (_J("right_shoulder"), _J("right_elbow"), _J("right_hand")),
    # Hip flexion as the angle between the trunk (hip -> spine) and the thigh (hip -> knee):
    # about 155 standing upright (the mid-spine is inward of the hip joint; median of standing
    # frames in the ReActIdle motion capture), smaller when the thigh comes up.
    "left_hip": (_J("spine"), _J("left_hip"), _J("left_knee")),
    "right_hip": (_J("spine"), _J("right_hip"), _J("right_knee")),
    "left_shoulder": (_J("left_hip"), _J("left_shoulder"), _J("left_elbow")),
    "right_shoulder": (_J("right_hip"), _J("right_shoulder"), _J("right_elbow")),
}

#: Every named quantity :func:`named_angle` knows: the presets plus the trunk inclination.
ANGLE_NAMES: tuple[str, ...] = (*ANGLE_PRESETS, "trunk_inclination")


def _as_sequence(joints: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """``(T, 17, 3)`` float64 view of ``joints`` (a single ``(17, 3)`` pose becomes T=1), NaN
    where ``valid`` ``(T,)`` is False (then a copy)."""
    arr = np.asarray(joints, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise Pose3DValueError(f"joints must be (T, J, 3) or (J, 3), got shape {np.shape(joints)}")
    if valid is not None:
        mask = np.asarray(valid).reshape(-1)
        if mask.shape[0] != arr.shape[0]:
            raise Pose3DValueError(f"{arr.shape[0]} poses but {mask.shape[0]} valid flags")
        arr = np.where(mask.astype(bool)[:, None, None], arr, np.nan)  # a session holds the last pose there
    return arr


def angle_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Angle in degrees between vectors ``u`` and ``v`` (``(..., 3)`` each) -> ``(...)``.

    NaN when either vector is NaN or has zero length (the angle is undefined, not 0).
    """
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    nu = np.linalg.norm(u, axis=-1)
    nv = np.linalg.norm(v, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(u * v, axis=-1) / (nu * nv)
    # Rounding can push |cos| a hair above 1 for (anti)parallel vectors; arccos would give NaN.
    cos = np.clip(cos, -1.0, 1.0)
    out = np.degrees(np.arccos(cos))
    return np.where((nu > 0) & (nv > 0), out, np.nan)


def joint_angle(joints: np.ndarray, a: int, b: int, c: int, *, valid: np.ndarray | None = None) -> np.ndarray:
    """Angle at joint ``b`` between the bones to ``a`` and ``c``, in degrees.

    joints: ``(T, 17, 3)`` (or one ``(17, 3)`` pose). valid: ``(T,)`` bool or None (a session's
    column: False frames are missing). Returns ``(T,)`` in [0, 180]; NaN where a joint is missing.
    """
    arr = _as_sequence(joints, valid)
    return angle_between(arr[:, a] - arr[:, b], arr[:, c] - arr[:, b])


def trunk_inclination(joints: np.ndarray, *, valid: np.ndarray | None = None,
                      up: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Trunk lean from vertical in degrees: angle between pelvis -> neck and ``up``.

    joints: ``(T, 17, 3)`` in the z-up world; valid: ``(T,)`` bool or None (False frames are
    missing). Returns ``(T,)``: 0 upright, 90 lying down (NaN where missing).
    In the world-grounded frame z is the room's real vertical (the camera's pitch and roll are
    taken out); for camera-frame joints pass ``up=motion.camera_up(pitch_deg, roll_deg)``.
    Walking speed, distance and jumps are in ``pose3d_nb.motion``.
    """
    arr = _as_sequence(joints, valid)
    trunk = arr[:, _J("neck")] - arr[:, _J("pelvis")]
    return angle_between(trunk, np.broadcast_to(np.asarray(up, np.float64), trunk.shape))


def named_angle(joints: np.ndarray, name: str, *, valid: np.ndarray | None = None) -> np.ndarray:
    """A named angle (one of :data:`ANGLE_NAMES`) over time: ``(T, 17, 3)`` -> ``(T,)`` degrees
    (``valid`` ``(T,)``: False frames are NaN)."""
    if name == "trunk_inclination":
        return trunk_inclination(joints, valid=valid)
    try:
        a, b, c = ANGLE_PRESETS[name]
    except KeyError:
        raise UnknownNameError(f"unknown angle {name!r}; known angles are {ANGLE_NAMES}") from None
    return joint_angle(joints, a, b, c, valid=valid)


def all_angles(joints: np.ndarray, *, valid: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every named angle: name -> ``(T,)`` degrees (``valid`` as for :func:`named_angle`)."""
    return {name: named_angle(joints, name, valid=valid) for name in ANGLE_NAMES}


def joint_speed(joints: np.ndarray, timestamps: np.ndarray, *, valid: np.ndarray | None = None) -> np.ndarray:
    """Speed of every joint in m/s: ``(T, 17, 3)``, ``(T,)`` seconds -> ``(T, 17)``.

    Backward difference ``|p[t] - p[t-1]| / (t[t] - t[t-1])``: a live buffer only has the past,
    so the speed at ``t`` must not use ``t+1``. The first frame, frames after a missing joint (NaN,
    or ``valid`` ``(T,)`` False) and steps with a non-positive time difference (a restarted or
    looping source) are NaN.
    """
    arr = _as_sequence(joints, valid)
    ts = np.asarray(timestamps, dtype=np.float64).reshape(-1)
    if ts.shape[0] != arr.shape[0]:
        raise Pose3DValueError(f"{arr.shape[0]} poses but {ts.shape[0]} timestamps")
    speed = np.full(arr.shape[:2], np.nan)
    if arr.shape[0] < 2:
        return speed
    dt = np.diff(ts)
    dist = np.linalg.norm(np.diff(arr, axis=0), axis=-1)  # (T-1, J)
    with np.errstate(invalid="ignore", divide="ignore"):
        step = dist / dt[:, None]
    speed[1:] = np.where((dt > 0)[:, None], step, np.nan)
    return speed


def _check_window(window: object) -> None:
    """``Pose3DValueError`` unless ``window`` is a whole number of frames >= 1 (``window=-3`` and
    ``window=2.5`` were taken and quietly made 1 and 3)."""
    if not is_whole_number(window) or window < 1:
        raise Pose3DValueError(f"window must be a whole number of frames >= 1, got {window!r} "
                               "(analysis smooths over frames; motion's smooth_s= is in seconds)")


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0, ignoring NaN: ``(T, ...)`` -> ``(T, ...)``.

    ``window`` frames (odd; an even one is made odd), shrinking at the ends. A frame whose whole
    window is NaN stays NaN. Frame-to-frame jitter dominates differences at 30-60 fps (a 1 cm
    wobble is 0.6 m/s), so smooth positions before :func:`joint_speed` for human-scale speeds, and
    pass it the timestamps smoothed the same way (NaN where the positions are): a window's mean
    position belongs to its mean time, not the middle frame's when frames are unevenly spaced.
    """
    _check_window(window)
    arr = np.asarray(values, dtype=np.float64)
    window = int(window) | 1
    if window == 1 or arr.shape[0] == 0:
        return arr.copy()
    half = window // 2
    finite = np.isfinite(arr)
    csum = np.concatenate([np.zeros((1, *arr.shape[1:])), np.cumsum(np.where(finite, arr, 0.0), axis=0)])
    ccount = np.concatenate([np.zeros((1, *arr.shape[1:])), np.cumsum(finite, axis=0)])
    idx = np.arange(arr.shape[0])
    lo = np.clip(idx - half, 0, arr.shape[0])
    hi = np.clip(idx + half + 1, 0, arr.shape[0])
    total = csum[hi] - csum[lo]
    count = ccount[hi] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


#: Seconds over which a speed's positions (and times) are averaged before differencing.
SPEED_SMOOTHING_S = 0.1


def smoothing_window(timestamps: np.ndarray, seconds: float = SPEED_SMOOTHING_S) -> int:
    """Frames in ``seconds`` at the (T,) ``timestamps``' median step (1 without steps)."""
    steps = np.diff(np.asarray(timestamps, dtype=np.float64).reshape(-1))
    steps = steps[np.isfinite(steps) & (steps > 0)]
    return max(1, round(seconds / float(np.median(steps)))) if steps.size else 1


def smoothed_joint_speed(joints: np.ndarray, timestamps: np.ndarray, *, valid: np.ndarray | None = None,
                         window: int | None = None) -> np.ndarray:
    """Speed of every joint in m/s from positions and times averaged over ``window`` frames:
    ``(T, 17, 3)``, ``(T,)`` seconds -> ``(T, 17)``.

    Frame-to-frame differences are mostly jitter (a 1 cm wobble at 60 fps is 0.6 m/s): this is
    the speed the live plot and the notebooks show. window: frames averaged (None:
    ``smoothing_window(timestamps)``, about ``SPEED_SMOOTHING_S``). The times are averaged like
    the positions, over seen frames only: a window's mean position belongs to its mean time when
    frames are unevenly spaced (a live source drops frames). NaN where :func:`joint_speed` is
    (the first frame, a missing pose or ``valid`` ``(T,)`` False, the frame after one).
    """
    arr = _as_sequence(joints, valid)
    ts = np.asarray(timestamps, dtype=np.float64).reshape(-1)
    if window is None:
        window = smoothing_window(ts)
    _check_window(window)
    raw = joint_speed(arr, ts)  # the NaN pattern: first, missing, after missing
    seen = np.isfinite(arr).all(axis=(1, 2))
    seen_t = np.where(seen, ts, np.nan)
    smooth = joint_speed(moving_average(arr, window), moving_average(seen_t, window))
    return np.where(np.isfinite(raw), smooth, np.nan)
