"""Detector backends by name, imported only when asked for, with what each provides.

An entry says how to build the backend (a ``"module:attribute"`` string, imported on first use,
or a callable), which top-level modules it needs installed, how to install them, and what its
detections carry beyond COCO-17 keypoints (``provides``, e.g. ``{"world_landmarks"}``, checked
against what a lifter requires). Code outside the package adds a backend with
:func:`register_detector`; see ``docs/extending.md``.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pose3d_nb.detectors.base import Detector, DetectorUnavailable
from pose3d_nb.errors import Pose3DTypeError, Pose3DValueError
from pose3d_nb.registry import WORLD_LANDMARKS, Registry, load_object

DEFAULT_DETECTOR = "mediapipe"


@dataclass(frozen=True)
class Backend:
    """How to build one detector backend, what it needs installed and what it provides.

    Attributes:
        name: the registry name (``create_detector(name)``, ``--detector NAME``).
        factory: ``"package.module:Class"`` (imported on first use) or a callable returning a
            detector; called with ``options`` updated by the caller's keyword options.
        requires: top-level modules that must be importable (checked without importing them).
        install: how to install what ``requires`` names (shown when something is missing).
        description: one line for help texts and ``pose3d bench detect``.
        provides: capabilities of its detections, e.g. ``{"world_landmarks"}``.
        options: default keyword options for the factory (e.g. a model variant).
    """

    name: str
    factory: str | Callable[..., Detector]
    requires: tuple[str, ...] = ()
    install: str = ""
    description: str = ""
    provides: frozenset[str] = frozenset()
    options: Mapping[str, Any] = field(default_factory=dict)


DETECTORS: Registry[Backend] = Registry("detector", fold_case=True)
BACKENDS = DETECTORS  # the name older code imports


def register_detector(
    name: str,
    factory: str | Callable[..., Detector],
    *,
    requires: Iterable[str] = (),
    install: str = "",
    description: str = "",
    provides: Iterable[str] = (),
    options: Mapping[str, Any] | None = None,
    replace: bool = False,
) -> Backend:
    """Make ``name`` a detector everywhere: ``create_detector``, the engine, ``Pose3D``, the CLI.

    Args:
        name: the new backend's name.
        factory: ``"package.module:Class"`` or a callable taking keyword options and returning
            a detector (see ``detectors.base.FollowingDetector``).
        requires, install, description, provides, options: see :class:`Backend`.
        replace: replace an entry of the same name instead of refusing.

    Returns:
        The registered :class:`Backend`.

    Raises:
        Pose3DValueError: the name is taken (and ``replace`` is False) or empty.
    """
    backend = Backend(
        name=name,
        factory=factory,
        requires=tuple(requires),
        install=install,
        description=description,
        provides=frozenset(provides),
        options=dict(options or {}),
    )
    return DETECTORS.register(name, backend, replace=replace)


register_detector(
    "mediapipe",
    "pose3d_nb.detectors.mediapipe_pose:MediaPipePoseDetector",
    requires=("mediapipe",),
    install="pip install mediapipe==0.10.21 (part of pose3d_nb's dependencies)",
    description="MediaPipe BlazePose Full (one person, about 18 ms per frame on one CPU core; the "
                "engine runs it as mediapipe-people unless --follow none)",
    provides=(WORLD_LANDMARKS,),
)
for _variant, _complexity, _what in (
    ("mediapipe-lite", 0, "Lite (the smallest landmark model)"),
    ("mediapipe-heavy", 2, "Heavy (about half the frame rate of Full)"),
):
    register_detector(
        _variant,
        "pose3d_nb.detectors.mediapipe_pose:MediaPipePoseDetector",
        requires=("mediapipe",),
        install=f"pip install mediapipe==0.10.21, then `pose3d models fetch {_variant}`",
        description=(f"MediaPipe BlazePose {_what}; fetched once by `pose3d models fetch {_variant}`; "
                     "the engine runs it as mediapipe-people with this model unless --follow none"),
        provides=(WORLD_LANDMARKS,),
        options={"model_complexity": _complexity},
    )
register_detector(
    "mediapipe-people",
    "pose3d_nb.detectors.mediapipe_people:MediaPipePeopleDetector",
    requires=("mediapipe",),
    install="pip install mediapipe==0.10.21 (part of pose3d_nb's dependencies)",
    description="MediaPipe BlazePose for everyone in view, each with a track id; follow= picks whom",
    provides=(WORLD_LANDMARKS,),
)
register_detector(
    "detectron2",
    "pose3d_nb.detectors.detectron2_rcnn:Detectron2KeypointDetector",
    requires=("torch", "torchvision", "detectron2"),
    install=(
        "detectron2 is not on PyPI: install a torchvision build that matches your torch "
        "(see pytorch.org), then pip install 'git+https://github.com/facebookresearch/detectron2.git'"
    ),
    description="Detectron2 Keypoint R-CNN R101-FPN (several people; needs a GPU for real time)",
)


def known_detectors() -> list[str]:
    """Every backend name, installed or not, in registration order."""
    return DETECTORS.names()


def missing_requirements(name: str) -> list[str]:
    """Top-level modules ``name`` needs that cannot be found (found ones are not imported)."""
    return [module for module in DETECTORS[name].requires if importlib.util.find_spec(module) is None]


def available_detectors() -> list[str]:
    """Names of the backends whose packages are installed (without importing them)."""
    return [name for name in DETECTORS if not missing_requirements(name)]


def create_detector(name: str = DEFAULT_DETECTOR, **options: Any) -> Detector:
    """A new detector of backend ``name`` (one of ``known_detectors()``, in any case), with its
    ``options``.

    Raises:
        UnknownNameError: unknown name (the message lists the known ones).
        DetectorUnavailable: the backend's packages are missing or fail to import (the
            message says what and how to install them).
        Pose3DTypeError: an option the backend does not take (the message lists those it takes).
    """
    name = DETECTORS.canonical(name)  # "MediaPipe" is "mediapipe"
    backend = DETECTORS[name]
    missing = missing_requirements(name)
    if missing:
        raise DetectorUnavailable(
            f"detector {name!r} needs {', '.join(missing)}, not installed here. {backend.install}"
        )
    try:
        factory = load_object(backend.factory)
    except ImportError as exc:
        raise DetectorUnavailable(f"detector {name!r} failed to import: {exc}. {backend.install}") from exc
    _check_options(name, factory, options)
    try:
        return factory(**{**backend.options, **options})
    except DetectorUnavailable:
        raise
    except ImportError as exc:
        raise DetectorUnavailable(f"detector {name!r} failed to import: {exc}. {backend.install}") from exc


def _check_options(name: str, factory: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """Refuse options ``factory`` has no parameter for, naming those it has (a factory that
    takes ``**kwargs`` takes anything)."""
    parameters = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    takes = [p.name for p in parameters
             if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise Pose3DTypeError(
            f"detector {name!r} takes no option {', '.join(unknown)}; its options: {', '.join(takes)}"
        )


def factory_options(name: str) -> frozenset[str]:
    """The keyword options backend ``name``'s factory takes, read from its signature (its module
    is imported, no model is loaded)."""
    parameters = inspect.signature(load_object(DETECTORS[name].factory)).parameters.values()
    return frozenset(p.name for p in parameters
                     if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD))


def detector_provides(spec: Any) -> frozenset[str]:
    """What a detector's detections carry: for a backend name its entry's ``provides``, for a
    detector object its ``provides`` attribute (empty when it has none)."""
    if isinstance(spec, str):
        return DETECTORS[spec].provides
    provided = set(getattr(spec, "provides", ()))
    if getattr(spec, "provides_world_landmarks", False):  # objects written before ``provides``
        provided.add(WORLD_LANDMARKS)
    return frozenset(provided)


def detector_from(spec: Any, options: dict[str, Any] | None = None) -> tuple[Detector, bool]:
    """A detector for ``spec`` and whether the caller owns it (and so must close it).

    A backend name is created with ``options`` (``create_detector``; owned); any other object is
    the caller's own detector, returned as is (not owned: never closed by who received it).

    Raises:
        UnknownNameError: an unknown backend name.
        Pose3DValueError: ``spec`` is neither a name nor a detector (an object called on a frame).
    """
    if not isinstance(spec, str):
        if not callable(spec):  # else it would fail on the first frame, deep in a worker
            raise Pose3DValueError(
                f"detector must be one of {', '.join(known_detectors())} or a detector object "
                f"(called with a Frame), got {type(spec).__name__}"
            )
        return spec, False
    return create_detector(spec, **(options or {})), True


def check_lifter_detector(lifter: Any, detector: Any) -> None:
    """``Pose3DValueError`` when the detector ``detector`` names (as ``with_follow`` gives it:
    "mediapipe" following someone is "mediapipe-people") lacks what the registered lifter
    ``lifter`` requires (``require_capabilities``), read from both registries by name, so a
    command refuses it before any folder is made or model loaded (the engine refuses it only
    when it starts). A lifter path or object, or a detector object, is left for the engine."""
    from pose3d_nb.lifting.registry import LIFTERS, is_lifter_name, require_capabilities

    if lifter is None or (isinstance(lifter, str) and lifter.lower() == "none"):
        lifter = "mediapipe"  # as choose_lifter takes it
    if is_lifter_name(lifter) and isinstance(detector, str):
        require_capabilities(LIFTERS[lifter], detector_provides(detector), detector)
