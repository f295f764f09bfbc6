"""World-grounded 3D: the camera's intrinsics, the person's metric size and path, the room's up
and floor. Plain numpy in and out; see docs/world.md.

- ``Intrinsics``, ``resolve_intrinsics``, ``load_calibration``: the camera's lens.
- ``place_clip``: a whole clip into the world at once (offline).
- ``WorldTracker``: frame by frame, past frames only (live).
- ``WorldFrame``: camera -> world (z up, floor at z = 0), with pitch, roll and height.
- ``WorldStage``: the engine's and ``Pose3D``'s step after lifting (``LiftedPose`` in and out).
"""

from pose3d_nb.world.frame import WorldFrame
from pose3d_nb.world.intrinsics import DEFAULT_FOV_DEG, Intrinsics, load_calibration, resolve_intrinsics
from pose3d_nb.world.offline import PlacedClip, place_clip
from pose3d_nb.world.stage import WorldStage
from pose3d_nb.world.tracker import CameraEstimate, WorldTracker

__all__ = [
    "DEFAULT_FOV_DEG",
    "CameraEstimate",
    "Intrinsics",
    "PlacedClip",
    "WorldFrame",
    "WorldStage",
    "WorldTracker",
    "load_calibration",
    "place_clip",
    "resolve_intrinsics",
]
