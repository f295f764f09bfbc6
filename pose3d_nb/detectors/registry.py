"""Detector backends by name, imported only when asked for."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any

from pose3d_nb.detectors.base import Detector, DetectorUnavailable
from pose3d_nb.errors import UnknownNameError

DEFAULT_DETECTOR = "mediapipe"


@dataclass(frozen=True)
class Backend:
    """How to build one detector backend and what it needs installed."""

    name: str
    module: str
    factory: str
    requires: tuple[str, ...]
    install: str
    description: str


BACKENDS: dict[str, Backend] = {
    "mediapipe": Backend(
        name="mediapipe",
        module="pose3d_nb.detectors.mediapipe_pose",
        factory="MediaPipePoseDetector",
        requires=("mediapipe",),
        install="pip install mediapipe==0.10.21 (part of pose3d_nb's dependencies)",
        description="MediaPipe BlazePose (one person, about 18 ms per frame on one CPU core)",
    ),
    "detectron2": Backend(
        name="detectron2",
        module="pose3d_nb.detectors.detectron2_rcnn",
        factory="Detectron2KeypointDetector",
        requires=("torch", "torchvision", "detectron2"),
        install=(
            "detectron2 is not on PyPI: install a torchvision build that matches your torch "
            "(see pytorch.org), then pip install 'git+https://github.com/facebookresearch/detectron2.git'"
        ),
        description="Detectron2 Keypoint R-CNN R101-FPN (several people; needs a GPU for real time)",
    ),
}


def known_detectors() -> list[str]:
    """Every backend name, installed or not."""
    return list(BACKENDS)


def missing_requirements(name: str) -> list[str]:
    """Top-level modules ``name`` needs that cannot be found (found ones are not imported)."""
    return [module for module in _backend(name).requires if importlib.util.find_spec(module) is None]


def available_detectors() -> list[str]:
    """Names of the backends whose packages are installed (without importing them)."""
    return [name for name in BACKENDS if not missing_requirements(name)]


def create_detector(name: str = DEFAULT_DETECTOR, **options: Any) -> Detector:
    """A new detector of backend ``name`` ("mediapipe" or "detectron2"), with its ``options``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
        DetectorUnavailable: the backend's packages are missing or fail to import (the
            message says what and how to install them).
    """
    backend = _backend(name)
    missing = missing_requirements(name)
    if missing:
        raise DetectorUnavailable(
            f"detector {name!r} needs {', '.join(missing)}, not installed here. {backend.install}"
        )
    try:
        module = importlib.import_module(backend.module)
        return getattr(module, backend.factory)(**options)
    except DetectorUnavailable:
        raise
    except ImportError as exc:
        raise DetectorUnavailable(f"detector {name!r} failed to import: {exc}. {backend.install}") from exc


def detector_from(spec: Any, options: dict[str, Any] | None = None) -> tuple[Detector, bool]:
    """A detector for ``spec`` and whether the caller owns it (and so must close it).

    A backend name is created with ``options`` (``create_detector``; owned); any other object is
    the caller's own detector, returned as is (not owned: never closed by who received it).
    """
    if not isinstance(spec, str):
        return spec, False
    return create_detector(spec, **(options or {})), True


def _backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise UnknownNameError(f"unknown detector {name!r}; known detectors: {', '.join(BACKENDS)}") from None
