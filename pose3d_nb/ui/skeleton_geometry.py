"""Vertex arrays of the 3D view's skeletons: one pose as line segments, and the others in view.

Plain numpy, Human3.6M-17 joints in world metres (``pose3d_nb.world``: z up, floor at z = 0).
"""

from __future__ import annotations

import numpy as np

from pose3d_nb.skeleton import H36M

_BONES = np.asarray(H36M.bones, dtype=np.int64)  # (16, 2) parent, child
N_VERTS = 2 * len(_BONES)
"""Vertices of one skeleton: both ends of each bone."""
# Beyond this a coordinate is nonsense (a diverged lifter), not a person: treat as missing.
MAX_ABS_M = 100.0
#: Other people in view drawn beside the followed one (dimmed), at most.
MAX_OTHERS = 3
# Where an unused other's vertices wait: far below the floor, beyond the camera's far plane.
_PARKED = (0.0, 0.0, -1000.0)


def bone_vertices(joints: np.ndarray) -> tuple[np.ndarray, bool]:
    """The geometry's vertex array for one pose.

    A missing (NaN or absurd) end point is moved onto the bone's other end, so that bone shrinks
    to nothing and vanishes; a bone with both ends missing collapses onto the first valid joint.

    Args:
        joints: (17, 3) Human3.6M joints in metres.

    Returns:
        ``(vertices, any_valid)``: (32, 3) float32, row ``2*i`` / ``2*i+1`` the parent / child
        of ``H36M.bones[i]``; ``any_valid`` False (and all zeros) when no joint is valid.
    """
    j = np.asarray(joints, dtype=np.float64).reshape(H36M.num_joints, 3)
    ok = np.isfinite(j).all(axis=1) & (np.abs(np.nan_to_num(j)) < MAX_ABS_M).all(axis=1)
    if not ok.any():
        return np.zeros((N_VERTS, 3), np.float32), False
    verts = j[_BONES]  # (16, 2, 3)
    vok = ok[_BONES]  # (16, 2)
    anchor = j[np.flatnonzero(ok)[0]]
    other = verts[:, ::-1]  # the opposite end of each bone
    other_ok = vok[:, ::-1]
    fill = np.where(other_ok[..., None], other, anchor)
    verts = np.where(vok[..., None], verts, fill)
    return verts.reshape(N_VERTS, 3).astype(np.float32), True


def others_vertices(people: np.ndarray | None) -> np.ndarray:
    """The other people's vertex array: (MAX_OTHERS * 32, 3) float32, person ``i`` in rows
    ``32*i`` to ``32*i+31`` as ``bone_vertices`` gives them; unused or all-missing slots parked
    out of sight. ``people``: (M, 17, 3) world metres (NaN for missing), the first
    ``MAX_OTHERS`` drawn."""
    out = np.tile(np.asarray(_PARKED, np.float32), (MAX_OTHERS * N_VERTS, 1))
    if people is None:
        return out
    people = np.asarray(people, np.float64).reshape(-1, H36M.num_joints, 3)
    for slot, joints in enumerate(people[:MAX_OTHERS]):
        verts, any_valid = bone_vertices(joints)
        if any_valid:
            out[slot * N_VERTS:(slot + 1) * N_VERTS] = verts
    return out
