"""The world frame: z up, one floor at z = 0, x and y on the floor, origin below the camera.

x is the camera's right and y its viewing direction, both laid flat on the floor; the camera
sits at (0, 0, height). ``WorldFrame`` turns camera-frame metres (x right, y down, z forward)
into world metres and says the camera's pitch, roll and height.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pose3d_nb.world.gravity import cross, unit

#: The ankle joint stands this far above the floor when the foot is flat (the malleolus of an
#: adult, about 7-9 cm): the floor is placed this far below the supporting ankles.
ANKLE_HEIGHT_M = 0.08


@dataclass(frozen=True)
class WorldFrame:
    """Camera -> world. up: (3,) the room's up in camera coordinates (unit). height: the camera's
    height above the floor, metres."""

    up: np.ndarray
    height: float

    def __post_init__(self) -> None:
        up = unit(self.up)
        forward = np.array([0.0, 0.0, 1.0]) - up[2] * up
        if np.linalg.norm(forward) < 1e-6:  # looking straight up or down: any horizontal y
            forward = np.array([0.0, 1.0, 0.0]) - up[1] * up
        forward = unit(forward)
        object.__setattr__(self, "_rotation", np.stack([cross(forward, up), forward, up]))

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) rows: the world's x, y, z axes in camera coordinates."""
        return self._rotation.copy()

    def to_world(self, joints: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame metres -> (..., 3) world metres (float32)."""
        world = np.asarray(joints, np.float64) @ self._rotation.T
        world[..., 2] += self.height
        return world.astype(np.float32)

    def to_camera(self, world: np.ndarray) -> np.ndarray:
        """(..., 3) world metres -> (..., 3) camera-frame metres (``to_world``'s inverse), float64."""
        shifted = np.asarray(world, np.float64) - np.array([0.0, 0.0, self.height])
        return shifted @ self._rotation

    @property
    def pitch_deg(self) -> float:
        """How far the camera looks down below the horizon, degrees (negative: up)."""
        return math.degrees(math.asin(float(np.clip(-unit(self.up)[2], -1, 1))))

    @property
    def roll_deg(self) -> float:
        """The room's up as seen in the image, degrees from the image's up; positive when it
        leans to the image's left (the camera turned clockwise about its axis)."""
        up = unit(self.up)
        return math.degrees(math.atan2(-up[0], -up[1]))

    @property
    def as_dict(self) -> dict:
        """Pitch, roll (degrees) and height (metres) as plain numbers."""
        return {"pitch_deg": self.pitch_deg, "roll_deg": self.roll_deg, "height_m": float(self.height)}


def camera_height(
    joints: np.ndarray, up: np.ndarray, quantile: float = 0.2, ankles_only: bool = False
) -> float:
    """The camera's height above the floor from placed (T, 17, 3) camera-frame joints (or their
    (T, 2, 3) right and left ankles with ``ankles_only``).

    Per frame, the lower ankle's height relative to the camera; a low quantile of those (feet
    on the floor most of the time; a jump or a raised foot sits higher) less the ankle height.
    """
    from pose3d_nb.world.gravity import LEFT_ANKLE, RIGHT_ANKLE

    joints = np.asarray(joints, np.float64)
    ankles = joints if ankles_only else joints[:, [RIGHT_ANKLE, LEFT_ANKLE]]
    heights = ankles @ unit(up)
    lowest = np.where(np.isfinite(heights), heights, np.inf).min(axis=1)
    lowest = np.sort(lowest[np.isfinite(lowest)])
    if not len(lowest):
        return math.nan
    # np.quantile's linear interpolation, written out: it runs on every settling frame, and
    # the library call cost ten times as much on these few dozen numbers.
    position = quantile * (len(lowest) - 1)
    below = int(position)
    above = min(below + 1, len(lowest) - 1)
    value = lowest[below] + (lowest[above] - lowest[below]) * (position - below)
    return float(-value + ANKLE_HEIGHT_M)
