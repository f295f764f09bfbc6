"""Fusing the lifter's 3D with MediaPipe's world landmarks, and the similarity alignment under it."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from pose3d_nb.lifting.align import pa_mpjpe, similarity_align
from pose3d_nb.lifting.fusion import BODY_JOINTS, fuse_world_landmarks
from pose3d_nb.lifting.mediapipe_world import blazepose_to_h36m


def _landmarks(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.3, (33, 3)).astype(np.float32)


def test_alignment_undoes_rotation_scale_and_shift_but_not_shape():
    pose = np.random.default_rng(1).normal(size=(4, 17, 3))
    rotation = Rotation.random(random_state=2).as_matrix()
    moved = 2.5 * pose @ rotation.T + np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(similarity_align(pose, moved), moved, atol=1e-5)
    np.testing.assert_allclose(pa_mpjpe(pose, moved), 0, atol=1e-5)
    mirrored = pose * np.array([-1, 1, 1])  # a reflection is not a similarity transform
    assert (pa_mpjpe(mirrored, pose) > 0.1).all()


def test_fusion_keeps_the_lifters_place_and_size_and_averages_the_shape():
    mediapipe = blazepose_to_h36m(_landmarks())
    rotation = Rotation.from_euler("y", 70, degrees=True).as_matrix()
    lifted = (0.8 * mediapipe @ rotation.T + 0.1).astype(np.float32)
    # Same shape, other pose of the camera: fusion changes nothing.
    np.testing.assert_allclose(fuse_world_landmarks(lifted, _landmarks()), lifted, atol=1e-5)
    # Another shape: halfway between, in the lifter's frame.
    other = _landmarks(seed=5)
    fused = fuse_world_landmarks(lifted, other)
    aligned = similarity_align(blazepose_to_h36m(other), lifted, BODY_JOINTS)
    np.testing.assert_allclose(fused, (lifted + aligned) / 2, atol=1e-5)


def test_no_landmarks_or_zero_weight_leave_the_lifter_alone():
    lifted = blazepose_to_h36m(_landmarks())
    assert fuse_world_landmarks(lifted, None) is lifted
    assert fuse_world_landmarks(lifted, np.full((33, 3), np.nan)) is lifted
    assert fuse_world_landmarks(lifted, _landmarks(3), weight=0.0) is lifted
