"""What every lifter returns: one frame's 3D pose in the world frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose3d_nb.lifting.world import camera_to_world, rebase_floor


@dataclass(frozen=True)
class LiftedPose:
    """One frame's 3D pose as the engine records it.

    frame_index: the source frame's index. joints: (17, 3) world metres, z up, lowest joint at
    z = 0 (NaN only with ``valid`` False). valid: the frame had a detection. latency_frames: how
    many later frames were seen before this pose was produced.
    """

    frame_index: int
    joints: np.ndarray
    valid: bool
    latency_frames: int


def to_world(joints_cam: np.ndarray) -> np.ndarray:
    """(17, 3) camera space -> (17, 3) world, z up, this frame's lowest joint on the floor."""
    return rebase_floor(camera_to_world(joints_cam)[None], per_frame=True)[0]
