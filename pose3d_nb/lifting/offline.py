"""Whole-sequence lifting, exactly as the original ``run.py`` evaluates a video."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pose3d_nb.lifting.keypoints import (
    fill_gaps,
    input_columns,
    mirror_keypoints,
    normalize_screen,
    unmirror_joints,
)
from pose3d_nb.lifting.model import TemporalModel
from pose3d_nb.lifting.rays import centre_clip, turn_back
from pose3d_nb.lifting.zoom import zoom_clip


@dataclass(frozen=True)
class LiftedSequence:
    """joints: (T, 17, 3) camera-space metres, root-relative. valid: (T,) True where the frame
    had a 2D detection; other frames were interpolated from their neighbours."""

    joints: np.ndarray
    valid: np.ndarray


def pad_sequence(sequence: np.ndarray, model: TemporalModel) -> np.ndarray:
    """Edge-pad (T, J, 2) so every frame gets an output: ``pad`` each side, or ``2*pad`` left if causal."""
    pad = model.arch.pad
    left, right = (2 * pad, 0) if model.arch.causal else (pad, pad)
    return np.pad(sequence, ((left, right), (0, 0), (0, 0)), mode="edge")


@torch.no_grad()
def lift_normalized(model: TemporalModel, normalized: np.ndarray, flip: bool = False) -> np.ndarray:
    """(T, 17, 2) normalised keypoints without gaps -> (T, 17, 3) camera-space joints."""
    padded = pad_sequence(normalized, model)
    batch = np.stack([padded, mirror_keypoints(padded)]) if flip else padded[None]
    batch = batch[:, :, input_columns(model.arch.num_joints_in)]
    predicted = model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()
    if flip:
        return ((predicted[0] + unmirror_joints(predicted[1])) / 2).astype(np.float32)
    return predicted[0]


def lift_sequence(
    model: TemporalModel,
    keypoints_px: np.ndarray,
    frame_size: tuple[int, int],
    flip: bool = False,
    zoom_height: float | None = None,
    lens: dict[str, Any] | None = None,
) -> LiftedSequence:
    """Lift a whole clip: (T, 17, 2) COCO pixels (NaN where missing) -> ``LiftedSequence``.

    Missing frames are interpolated before lifting and reported in ``valid``. ``zoom_height``:
    zoom the 2D so the person is this tall in screen units first (``lifting.zoom.zoom_clip``; the
    shipped lifter's ``TARGET_HEIGHT``), None for the original framing. ``lens``: each frame is
    lifted as a camera turned to the person sees it and turned back (``lifting.rays``), with this
    lens (``camera``, ``fov``, ``focal`` as ``world.intrinsics.resolve_intrinsics`` takes them;
    ``{}``: the default field of view), as the engine runs zoomed weights; None: as framed.
    """
    rotations = None
    if lens is not None:  # gaps filled first, in pixels: each frame is then turned as a whole
        keypoints_px, valid = fill_gaps(keypoints_px)
        keypoints_px, rotations = centre_clip(keypoints_px, frame_size, **lens)
    if zoom_height:
        keypoints_px = zoom_clip(keypoints_px, frame_size, zoom_height)
    filled, complete = fill_gaps(keypoints_px)
    valid = complete if rotations is None else valid
    normalized = normalize_screen(filled, *frame_size)
    joints = lift_normalized(model, normalized, flip=flip)
    if rotations is not None:
        joints = turn_back(joints, rotations)
    return LiftedSequence(joints=joints, valid=valid)
