"""Similarity alignment of 3D poses (rotation, uniform scale, translation; no reflection)."""

from __future__ import annotations

import numpy as np


def similarity_align(source: np.ndarray, target: np.ndarray, joints: np.ndarray | None = None) -> np.ndarray:
    """Move ``source`` onto ``target`` frame by frame with the best similarity transform.

    source, target: (..., J, 3). ``joints``: optional indices fitted on (all are moved).
    Returns the transformed ``source``, (..., J, 3). Least squares (Umeyama), reflections excluded.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    fit = slice(None) if joints is None else joints
    source_mean = source[..., fit, :].mean(axis=-2, keepdims=True)
    target_mean = target[..., fit, :].mean(axis=-2, keepdims=True)
    a = source[..., fit, :] - source_mean
    b = target[..., fit, :] - target_mean
    u, s, vt = np.linalg.svd(np.swapaxes(a, -1, -2) @ b)
    sign = np.sign(np.linalg.det(u @ vt))
    sign = np.where(sign == 0, 1.0, sign)
    s[..., -1] *= sign
    u[..., :, -1] *= sign[..., None]
    rotation = u @ vt  # row vectors: a @ rotation ~ b
    variance = (a**2).sum(axis=(-1, -2))
    scale = s.sum(axis=-1) / np.where(variance > 0, variance, 1.0)
    return (scale[..., None, None] * (source - source_mean) @ rotation + target_mean).astype(np.float32)


def pa_mpjpe(predicted: np.ndarray, truth: np.ndarray, joints: np.ndarray | None = None) -> np.ndarray:
    """Per-frame mean joint error after similarity alignment on ``joints`` (default all).

    predicted, truth: (T, J, 3) -> (T,) in the units of ``truth``.
    """
    aligned = similarity_align(predicted, truth, joints)
    error = np.linalg.norm(aligned - np.asarray(truth, np.float32), axis=-1)
    return (error if joints is None else error[..., joints]).mean(axis=-1)
