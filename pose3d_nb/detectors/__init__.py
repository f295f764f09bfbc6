"""2D keypoint detectors: frame in, the followed person's COCO-17 keypoints out.

Backends are imported lazily: importing this package loads neither mediapipe nor torch::

    with create_detector("mediapipe") as detect:
        detection = detect(frame)

A new backend subclasses :class:`FollowingDetector` (it only finds candidates) and is added
with :func:`register_detector`; see ``docs/extending.md``.
"""

from pose3d_nb.detectors.base import (
    BaseDetector,
    Candidates,
    Detector,
    DetectorUnavailable,
    FollowingDetector,
    assemble_detection,
)
from pose3d_nb.detectors.detection import Detection
from pose3d_nb.detectors.registry import (
    BACKENDS,
    DEFAULT_DETECTOR,
    DETECTORS,
    WORLD_LANDMARKS,
    Backend,
    available_detectors,
    create_detector,
    detector_from,
    detector_provides,
    known_detectors,
    missing_requirements,
    register_detector,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "WORLD_LANDMARKS",
    "Backend",
    "BaseDetector",
    "Candidates",
    "Detection",
    "Detector",
    "DetectorUnavailable",
    "FollowingDetector",
    "assemble_detection",
    "available_detectors",
    "create_detector",
    "detector_from",
    "detector_provides",
    "known_detectors",
    "missing_requirements",
    "register_detector",
]
