"""Joint layouts: the COCO 17-keypoint 2D input and the Human3.6M 17-joint 3D output.

Every module that needs a joint index, a bone or a left/right list takes it from here, so the two
layouts are defined exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose3d_nb.errors import UnknownNameError


@dataclass(frozen=True)
class Skeleton:
    """A fixed joint layout.

    ``bones`` are (parent, child) index pairs; ``left``/``right`` are matching lists, so
    ``left[i]`` mirrors ``right[i]`` (used by flip augmentation and left/right checks).
    """

    name: str
    joint_names: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    left: tuple[int, ...]
    right: tuple[int, ...]

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, joint_name: str) -> int:
        """Index of ``joint_name``; raises ``KeyError`` listing the valid names."""
        try:
            return self.joint_names.index(joint_name)
        except ValueError:
            raise UnknownNameError(
                f"{self.name} has no joint {joint_name!r}; joints are {self.joint_names}"
            ) from None

    def bone_side(self, bone: tuple[int, int]) -> str:
        """'left', 'right' or 'center' for a bone, by its child joint."""
        child = bone[1]
        if child in self.left:
            return "left"
        if child in self.right:
            return "right"
        return "center"

    def mirror_permutation(self) -> np.ndarray:
        """(J,) index array that swaps every left joint with its right twin."""
        perm = np.arange(self.num_joints)
        perm[list(self.left)] = self.right
        perm[list(self.right)] = self.left
        return perm


# Output order fixed by the original VideoPose3D Human3.6M model (DEVELOPERS.md).
H36M_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

H36M = Skeleton(
    name="Human3.6M-17",
    joint_names=(
        "pelvis",  # tailbone / hip centre, the root
        "right_hip",
        "right_knee",
        "right_foot",
        "left_hip",
        "left_knee",
        "left_foot",
        "spine",  # mid spine
        "neck",
        "nose",
        "head",  # head crown
        "left_shoulder",
        "left_elbow",
        "left_hand",
        "right_shoulder",
        "right_elbow",
        "right_hand",
    ),
    bones=tuple((parent, child) for child, parent in enumerate(H36M_PARENTS) if parent >= 0),
    left=(4, 5, 6, 11, 12, 13),
    right=(1, 2, 3, 14, 15, 16),
)

COCO = Skeleton(
    name="COCO-17",
    joint_names=(
        "nose",
        "left_eye",
        "right_eye",
        "left_ear",
        "right_ear",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
    ),
    bones=(
        (0, 1),
        (0, 2),
        (1, 3),
        (2, 4),
        (5, 6),
        (5, 7),
        (7, 9),
        (6, 8),
        (8, 10),
        (5, 11),
        (6, 12),
        (11, 12),
        (11, 13),
        (13, 15),
        (12, 14),
        (14, 16),
    ),
    left=(1, 3, 5, 7, 9, 11, 13, 15),
    right=(2, 4, 6, 8, 10, 12, 14, 16),
)

NUM_JOINTS = 17
