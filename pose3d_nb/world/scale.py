"""Metric scale: the person's size, from the user's height or from the lifted pose itself.

A lifter guesses a body's size from 2D alone, so its metric size is a guess close to the
average adult of its training data. The trajectory's depth scales with that size (a body twice
as big is twice as far away for the same image), so one size is fixed per session and every
frame is brought to it: the depth then no longer jitters with the lifter's per-frame size.
"""

from __future__ import annotations

import math

import numpy as np

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.training.skeleton_model import SIZE_BONES, bone_lengths
from pose3d_nb.values import is_real_number

#: Standing height per metre of body size (sum of the ``SIZE_BONES`` lengths), as the lifter's
#: training data relates them (``training.synth.SynthConfig``: body size 2.9-3.9 m for people
#: 1.5-2.0 m tall).
STATURE_PER_BODY_SIZE = 0.515
HEIGHT_RANGE_M = (0.0, 2.5)


def check_height(height: float) -> float:
    """``height`` in metres, or ``Pose3DValueError`` naming it when not in (0, 2.5]."""
    low, high = HEIGHT_RANGE_M
    if not (is_real_number(height) and math.isfinite(height) and low < height <= high):  # True is not 1 m
        raise Pose3DValueError(
            f"height must be a person's height in metres, above {low:g} and at most {high:g}, got {height!r}"
        )
    return float(height)


def check_world_options(camera=None, fov: float | None = None, focal: float | None = None,
                        height: float | None = None) -> None:
    """The world placement's options checked before any frame (``Pose3DValueError`` naming a
    bad lens, calibration file or height): at most one of ``camera``, ``fov``, ``focal``, each
    value valid, and ``height`` (None: estimated) a person's height in metres."""
    from pose3d_nb.world.intrinsics import check_camera_options

    check_camera_options(camera, fov, focal)
    if height is not None:
        check_height(height)


def body_size(joints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) metres -> (...,) sum of the ``SIZE_BONES`` lengths, metres (NaN if unknown)."""
    return bone_lengths(np.asarray(joints, dtype=np.float64))[..., SIZE_BONES].sum(-1)


def size_for_height(height: float) -> float:
    """The body size (sum of ``SIZE_BONES``) of a person ``height`` metres tall."""
    return check_height(height) / STATURE_PER_BODY_SIZE


def rescale(joints: np.ndarray, size: float | np.ndarray) -> np.ndarray:
    """Scale root-relative (..., 17, 3) joints about the pelvis so their body size is ``size``."""
    joints = np.asarray(joints, dtype=np.float64)
    own = body_size(joints)
    factor = np.asarray(size, dtype=np.float64) / np.where(own > 1e-6, own, np.nan)
    root = joints[..., :1, :]
    return root + (joints - root) * factor[..., None, None]


class SizeEstimate:
    """The session's body size: the user's height when given, else the running median of the
    lifted poses' own sizes (it settles within a few frames and then barely moves).

    ``given``: True when it comes from the user's height.
    """

    def __init__(self, height: float | None = None, history: int = 300):
        self.given = height is not None
        self._fixed = size_for_height(height) if height is not None else None
        self._sizes: list[float] = []
        self._history = history

    def update(self, joints: np.ndarray) -> float:
        """Add one frame's (17, 3) joints; the current size in metres."""
        if self._fixed is not None:
            return self._fixed
        size = float(body_size(joints))
        if math.isfinite(size) and len(self._sizes) < self._history:
            self._sizes.append(size)
        return self.value

    @property
    def value(self) -> float:
        """Current body size, metres (NaN before the first valid frame)."""
        if self._fixed is not None:
            return self._fixed
        return float(np.median(self._sizes)) if self._sizes else math.nan

    @property
    def height(self) -> float:
        """The person's standing height this size implies, metres."""
        return self.value * STATURE_PER_BODY_SIZE
