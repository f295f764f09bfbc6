"""One body per clip: every frame's bones set to the clip's median lengths, directions kept.

A lifter guesses each frame's bone lengths afresh from the 2D, so a limb stretches and shrinks as
it turns; a person's bones do not. When the whole clip is known (``pose3d lift`` offline, by
default with the shipped lifter: ``--bones``), each bone is given its median length over the
clip's valid frames and every frame is rebuilt along the tree from the pelvis with its own bone
directions (``training.skeleton_model.retarget``).

Chosen on held-out mocap (never trained on) through random cameras with the detector's noise
model, the shipped lifter zoomed, offline: ``pose3d bench offline-lift --seed 41`` and ``--seed
43`` (the default seed, 11, only reports; figures in docs/benchmarks.md). The gain is largest in
the world placement (``world.place_clip``), whose depth comes from the body's apparent size and
so no longer follows each frame's stretched or shrunk limbs. Live, the running median of the
frames seen so far gained nothing measurable in PA-MPJPE (69.45 against 69.50 mm on 60 clips
lifted as the engine runs, seed 41; WA-MPJPE 166.5 against 164.9), so the engine does not do this.
"""

from __future__ import annotations

import numpy as np

from pose3d_nb.training.skeleton_model import bone_lengths, retarget


def clip_bone_lengths(joints: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """(T, 17, 3) joints (any units), (T,) frames to use -> (16,) median length of each bone of
    the Human3.6M tree (``skeleton_model.BONE_CHILDREN`` order); NaN when no frame is usable."""
    joints = np.asarray(joints, np.float64)
    usable = np.isfinite(joints).all(axis=(1, 2))
    if valid is not None:
        usable &= np.asarray(valid, bool)
    if not usable.any():
        return np.full(16, np.nan)
    return np.median(bone_lengths(joints[usable]), axis=0)


def hold_bone_lengths(joints: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """(T, 17, 3) joints -> the same clip with every frame's bones at the clip's median lengths
    (``clip_bone_lengths`` over ``valid`` frames), each bone's direction and the pelvis kept.

    Frames that are not finite stay as they are; a clip without a usable frame is returned unchanged.
    """
    joints = np.asarray(joints)
    lengths = clip_bone_lengths(joints, valid)
    if not np.isfinite(lengths).all():
        return joints.copy()
    held = retarget(joints, lengths).astype(joints.dtype)
    finite = np.isfinite(joints).all(axis=(1, 2))
    held[~finite] = joints[~finite]
    return held
