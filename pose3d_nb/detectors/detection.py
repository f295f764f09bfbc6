"""The per-frame 2D result every detector returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pose3d_nb.errors import Pose3DTypeError, Pose3DValueError
from pose3d_nb.skeleton import NUM_JOINTS


@dataclass(frozen=True)
class Detection:
    """One followed person's COCO-17 keypoints in one frame.

    keypoints: (17, 2) float32 pixels (x right, y down) in COCO order; all NaN when nobody
        was found (the frame is kept and marked missing, never dropped).
    scores: (17,) float32 per-keypoint confidence in [0, 1]; zeros when nobody was found.
    bbox: (4,) float32 x1, y1, x2, y2 pixels; NaN when nobody was found.
    frame_size: (width, height) of the image the keypoints refer to.
    timestamp, frame_index: copied from the source frame.
    extras: backend-specific arrays, e.g. ``world_landmarks`` (33, 3) metres for mediapipe.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    bbox: np.ndarray
    frame_size: tuple[int, int]
    timestamp: float
    frame_index: int
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """True when a person was detected in this frame."""
        return bool(np.isfinite(self.keypoints).all())

    @classmethod
    def missing(cls, frame_size: tuple[int, int], timestamp: float, frame_index: int) -> Detection:
        """The result for a frame in which nobody was found."""
        return cls(
            keypoints=np.full((NUM_JOINTS, 2), np.nan, np.float32),
            scores=np.zeros(NUM_JOINTS, np.float32),
            bbox=np.full(4, np.nan, np.float32),
            frame_size=frame_size,
            timestamp=timestamp,
            frame_index=frame_index,
        )


def checked_detection(detection: object, detector: object) -> Detection:
    """``detection`` as ``detector`` returned it, if it is a ``Detection`` with (17, 2) keypoints
    and (17,) scores: a plug-in's wrong answer is named as the detector's, where it was caught
    later as the lifter's (an AttributeError, or "keypoints must have shape (17, 2)").

    Raises:
        Pose3DTypeError: not a ``Detection``.
        Pose3DValueError: keypoints or scores of another shape.
    """
    name = getattr(detector, "name", type(detector).__name__)
    if not isinstance(detection, Detection):
        raise Pose3DTypeError(
            f"the detector {name!r} returned {type(detection).__name__}, not a Detection "
            "(a frame without a person is Detection.missing(...); docs/extending.md)"
        )
    for what, value, shape in (("keypoints", detection.keypoints, (NUM_JOINTS, 2)),
                               ("scores", detection.scores, (NUM_JOINTS,))):
        if np.shape(value) != shape:
            raise Pose3DValueError(
                f"the detector {name!r} returned {what} of shape {np.shape(value)}; a Detection's "
                f"{what} are {shape} (COCO-17, docs/extending.md)"
            )
    return detection
