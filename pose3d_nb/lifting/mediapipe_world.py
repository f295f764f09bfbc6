"""MediaPipe's own metric world landmarks in the Human3.6M layout, as a per-frame lifter.

Selected by name (``lifter="mediapipe"``). It is per-frame (``temporal`` is False: the UI shows
the temporal controls disabled and says why) and it ``requires`` a detector that provides
``world_landmarks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.lifting.protocol import HoldsSettings, LiftedPose, to_world
from pose3d_nb.registry import WORLD_LANDMARKS
from pose3d_nb.skeleton import NUM_JOINTS

if TYPE_CHECKING:
    from pose3d_nb.detectors.detection import Detection

# BlazePose landmark indices.
_NOSE, _LEFT_EAR, _RIGHT_EAR = 0, 7, 8
_LEFT_SHOULDER, _RIGHT_SHOULDER, _LEFT_ELBOW, _RIGHT_ELBOW, _LEFT_WRIST, _RIGHT_WRIST = 11, 12, 13, 14, 15, 16
_LEFT_HIP, _RIGHT_HIP, _LEFT_KNEE, _RIGHT_KNEE, _LEFT_ANKLE, _RIGHT_ANKLE = 23, 24, 25, 26, 27, 28

# How far above the ears the crown sits, as a fraction of the neck-to-ears distance (an
# anthropometric approximation: BlazePose has no crown landmark).
CROWN_ABOVE_EARS = 0.6


def blazepose_to_h36m(world_landmarks: np.ndarray) -> np.ndarray:
    """(33, 3) BlazePose world landmarks (metres, hip-centred, y down) -> (17, 3) Human3.6M joints.

    Direct correspondences for limbs and nose; pelvis, neck and spine are midpoints; the head
    crown is extrapolated from the ears (see ``CROWN_ABOVE_EARS``).
    """
    lm = np.asarray(world_landmarks, dtype=np.float32)
    if lm.shape != (33, 3):
        raise Pose3DValueError(f"expected (33, 3) BlazePose world landmarks, got {lm.shape}")
    pelvis = (lm[_LEFT_HIP] + lm[_RIGHT_HIP]) / 2
    neck = (lm[_LEFT_SHOULDER] + lm[_RIGHT_SHOULDER]) / 2
    ears = (lm[_LEFT_EAR] + lm[_RIGHT_EAR]) / 2
    joints = np.stack(
        [
            pelvis,
            lm[_RIGHT_HIP],
            lm[_RIGHT_KNEE],
            lm[_RIGHT_ANKLE],
            lm[_LEFT_HIP],
            lm[_LEFT_KNEE],
            lm[_LEFT_ANKLE],
            (pelvis + neck) / 2,
            neck,
            lm[_NOSE],
            ears + CROWN_ABOVE_EARS * (ears - neck),
            lm[_LEFT_SHOULDER],
            lm[_LEFT_ELBOW],
            lm[_LEFT_WRIST],
            lm[_RIGHT_SHOULDER],
            lm[_RIGHT_ELBOW],
            lm[_RIGHT_WRIST],
        ]
    )
    return joints - pelvis  # root-relative, like VideoPose3D's output


class MediaPipeWorldLifter(HoldsSettings):
    """Per-frame 3D from ``Detection.extras['world_landmarks']``; same output as the real lifter."""

    name = "MediaPipe world landmarks (per frame, no temporal model)"
    requires = frozenset({WORLD_LANDMARKS})
    temporal = False
    receptive_field = None
    max_lookahead = 0

    def __init__(self, hint: str = ""):
        self.hint = hint
        # Window and flip are accepted and kept (the UI shows them disabled): a per-frame lifter
        # uses one frame and has nothing to flip; only a lookahead is refused.
        self._held: np.ndarray | None = None
        self._held_camera: np.ndarray | None = None

    def reset(self) -> None:
        self._held = None
        self._held_camera = None

    def push(self, detection: Detection, frame: Any = None) -> list[LiftedPose]:
        world = detection.extras.get("world_landmarks") if detection.extras else None
        found = detection.found and world is not None and np.isfinite(world).all()
        if found:
            self._held_camera = blazepose_to_h36m(world)
            self._held = to_world(self._held_camera)
        joints = self._held if self._held is not None else np.full((NUM_JOINTS, 3), np.nan, np.float32)
        camera = self._held_camera if self._held_camera is not None else joints
        index = detection.frame_index
        return [LiftedPose(index, joints.copy(), bool(found), 0, detection, frame, camera.copy())]

    def flush(self) -> list[LiftedPose]:
        return []
