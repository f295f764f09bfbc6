"""The detector protocol and the glue every backend shares."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from pose3d_nb.detectors.detection import Detection
from pose3d_nb.errors import Pose3DImportError
from pose3d_nb.sources.frame import Frame


class DetectorUnavailable(Pose3DImportError):
    """A detector backend is not installed; the message says how to install it."""


@runtime_checkable
class Detector(Protocol):
    """Frame in, the followed person's COCO-17 keypoints out.

    ``detector(frame)`` returns a :class:`Detection` for every frame (``Detection.missing`` when
    nobody is found, never dropped). ``reset()`` forgets tracking state (call it when the source
    changes); ``close()`` frees the model; detectors are context managers.
    """

    name: str

    def __call__(self, frame: Frame) -> Detection: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Detector: ...

    def __exit__(self, *exc_info: object) -> None: ...


class BaseDetector:
    """Context-manager glue for detectors."""

    name = "detector"

    def __call__(self, frame: Frame) -> Detection:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget everything learnt from previous frames."""

    def close(self) -> None:
        """Free the model."""

    def __enter__(self) -> BaseDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def missing_detection(frame: Frame, **extras: Any) -> Detection:
    """``Detection.missing`` for ``frame``, with backend ``extras`` (e.g. candidate counts)."""
    missing = Detection.missing(frame.size, frame.timestamp, frame.index)
    if extras:
        missing.extras.update(extras)
    return missing


def found_detection(
    frame: Frame, keypoints: np.ndarray, scores: np.ndarray, bbox: np.ndarray, **extras: Any
) -> Detection:
    """A Detection for ``frame`` from (17, 2) pixel ``keypoints``, (17,) ``scores``, (4,) ``bbox``."""
    return Detection(
        keypoints=np.asarray(keypoints, np.float32).reshape(17, 2),
        scores=np.clip(np.asarray(scores, np.float32).reshape(17), 0.0, 1.0),
        bbox=np.asarray(bbox, np.float32).reshape(4),
        frame_size=frame.size,
        timestamp=frame.timestamp,
        frame_index=frame.index,
        extras=dict(extras),
    )
