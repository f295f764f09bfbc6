"""One body per clip (``lifting.bones``): every bone at its clip median, directions kept."""

from __future__ import annotations

import numpy as np

from pose3d_nb.lifting.bones import clip_bone_lengths, hold_bone_lengths
from pose3d_nb.training.skeleton_model import BONE_CHILDREN, PARENTS, bone_lengths


def wobbly_clip(frames: int = 40, seed: int = 0) -> np.ndarray:
    """A standing skeleton whose every joint jitters a few cm per frame (lengths and directions vary)."""
    rng = np.random.default_rng(seed)
    rest = np.zeros((17, 3))
    for child in BONE_CHILDREN:
        rest[child] = rest[PARENTS[child]] + rng.normal(0, 0.2, 3)
    return rest[None] + rng.normal(0, 0.03, (frames, 17, 3))


def directions(joints: np.ndarray) -> np.ndarray:
    vectors = joints[:, BONE_CHILDREN] - joints[:, PARENTS[1:]]
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def test_every_frame_gets_the_clip_median_lengths_and_keeps_its_directions_and_pelvis():
    clip = wobbly_clip()
    held = hold_bone_lengths(clip)
    lengths, medians = bone_lengths(held), np.median(bone_lengths(clip), 0)
    np.testing.assert_allclose(lengths, np.broadcast_to(medians, lengths.shape), atol=1e-5)
    np.testing.assert_allclose(directions(held), directions(clip), atol=1e-5)
    np.testing.assert_allclose(held[:, 0], clip[:, 0], atol=1e-6)
    assert bone_lengths(clip).std(0).min() > 0.005, "the input's lengths did vary"


def test_invalid_and_missing_frames_do_not_set_the_lengths_and_missing_ones_stay_missing():
    clip = wobbly_clip()
    clip[5] = np.nan
    valid = np.ones(len(clip), bool)
    valid[:10] = False
    clip[:10] *= 3  # a detection gap filled by interpolation: not counted in the median
    held = hold_bone_lengths(clip, valid)
    assert np.isnan(held[5]).all()
    np.testing.assert_allclose(bone_lengths(held[11:12])[0], np.median(bone_lengths(clip[10:]), 0), atol=1e-5)
    np.testing.assert_allclose(clip_bone_lengths(clip, valid), np.median(bone_lengths(clip[10:]), 0))


def test_a_clip_without_a_usable_frame_comes_back_unchanged():
    clip = np.full((4, 17, 3), np.nan, np.float32)
    assert np.isnan(clip_bone_lengths(clip)).all()
    held = hold_bone_lengths(clip)
    assert held.dtype == np.float32 and np.isnan(held).all()
    some = wobbly_clip(4).astype(np.float32)
    np.testing.assert_array_equal(hold_bone_lengths(some, np.zeros(4, bool)), some)
