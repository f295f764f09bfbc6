"""2D keypoint detectors: frame in, the followed person's COCO-17 keypoints out.

Backends are imported lazily: importing this package loads neither mediapipe nor torch::

    with create_detector("mediapipe") as detect:
        detection = detect(frame)
"""

from pose3d_nb.detectors.base import BaseDetector, Detector, DetectorUnavailable
from pose3d_nb.detectors.detection import Detection
from pose3d_nb.detectors.registry import (
    BACKENDS,
    DEFAULT_DETECTOR,
    available_detectors,
    create_detector,
    detector_from,
    known_detectors,
    missing_requirements,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_DETECTOR",
    "BaseDetector",
    "Detection",
    "Detector",
    "DetectorUnavailable",
    "available_detectors",
    "create_detector",
    "detector_from",
    "known_detectors",
    "missing_requirements",
]
