"""Fusing the temporal lifter's 3D with MediaPipe's own per-frame 3D (after lifting).

The two err differently: MediaPipe's world landmarks come from the image itself (appearance,
depth cues) but are per frame and change the body's proportions as it turns; the lifter sees
only 2D keypoints but has a motion prior and the proportions it learned from mocap. Their
per-frame average, after MediaPipe's pose is moved onto the lifter's by a similarity transform
(so only its shape counts, in the lifter's position, orientation and size), beat both alone in
the measurements of ``pose3d bench accuracy`` (README). The weight is not tuned: equal trust.
"""

from __future__ import annotations

import numpy as np

from pose3d_nb.lifting.align import similarity_align
from pose3d_nb.lifting.mediapipe_world import blazepose_to_h36m

# Joints both define alike and the alignment is fitted on: all but spine, nose and head top
# (derived points whose definitions differ between MediaPipe and mocap).
BODY_JOINTS = np.array([0, 1, 2, 3, 4, 5, 6, 8, 11, 12, 13, 14, 15, 16])
MEDIAPIPE_WEIGHT = 0.5


def fuse_world_landmarks(
    lifted: np.ndarray, world_landmarks: np.ndarray | None, weight: float = MEDIAPIPE_WEIGHT
) -> np.ndarray:
    """(17, 3) camera-space lifter joints + (33, 3) BlazePose world landmarks -> (17, 3) fused.

    Returns ``lifted`` unchanged when there are no finite landmarks (nobody found, or a detector
    without 3D) or ``weight`` is 0.
    """
    if weight == 0 or world_landmarks is None or not np.isfinite(world_landmarks).all():
        return lifted
    if not np.isfinite(lifted).all():
        return lifted
    mediapipe = similarity_align(blazepose_to_h36m(world_landmarks), lifted, BODY_JOINTS)
    return ((1 - weight) * lifted + weight * mediapipe).astype(np.float32)
