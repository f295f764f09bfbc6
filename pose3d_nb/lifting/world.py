"""Camera space -> the world frame the original demo shows: z up, floor at z = 0."""

from __future__ import annotations

import numpy as np

# Human3.6M subject S11, camera 0 orientation (w, x, y, z): what VideoPose3D's demo uses to turn
# camera-space predictions upright when the real camera's extrinsics are unknown.
H36M_CAMERA_ORIENTATION = np.array(
    [0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088], dtype=np.float32
)


def quaternion_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` (..., 3) by unit quaternion ``q`` (4,) in (w, x, y, z) order."""
    q = np.asarray(q, dtype=np.float32)
    axis = np.broadcast_to(q[1:], v.shape)
    uv = np.cross(axis, v)
    uuv = np.cross(axis, uv)
    return (v + 2 * (q[0] * uv + uuv)).astype(np.float32)


def camera_to_world(joints_cam: np.ndarray, orientation: np.ndarray = H36M_CAMERA_ORIENTATION) -> np.ndarray:
    """(..., 17, 3) camera-space metres -> world metres, z up (rotation only, no translation)."""
    return quaternion_rotate(orientation, np.asarray(joints_cam, dtype=np.float32))


def rebase_floor(joints_world: np.ndarray, per_frame: bool = False) -> np.ndarray:
    """Shift z so the lowest joint (normally a foot) is at z = 0.

    (T, 17, 3) -> (T, 17, 3). Offline the original subtracts one minimum over the whole sequence;
    a live stream has no whole sequence, so ``per_frame=True`` rebases each frame on its own.
    NaN frames stay NaN.
    """
    joints = np.array(joints_world, dtype=np.float32, copy=True)
    heights = np.where(np.isfinite(joints[..., 2]), joints[..., 2], np.inf)
    lowest = heights.min(axis=-1, keepdims=True) if per_frame else np.asarray(heights.min())
    joints[..., 2] -= np.where(np.isfinite(lowest), lowest, 0.0)
    return joints
