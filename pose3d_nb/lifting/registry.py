"""Lifters by name, with what each requires from the detector.

``choose_lifter(name)`` builds the entry's lifter; anything that is not a registered name is a
checkpoint path. An entry's ``requires`` lists detector capabilities (``Detection.extras`` keys
a detector entry ``provides``, e.g. ``"world_landmarks"``); the engine and ``Pose3D`` refuse a
detector that lacks one before any frame runs. Importing this module imports no torch. Code
outside the package adds a lifter with :func:`register_lifter`; see ``docs/extending.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.registry import WORLD_LANDMARKS, Registry


@dataclass(frozen=True)
class LifterEntry:
    """One named lifter.

    Attributes:
        name: the registry name (``Pose3D(lifter=name)``, ``--lifter NAME``).
        factory: ``"package.module:function"`` (imported on first use) or a callable; called as
            ``factory(world_landmark_weight=W)`` (None: the lifter's own default) and returning
            an object with the ``lifting.protocol.Lifter`` shape.
        requires: detector capabilities it cannot run without, e.g. ``{"world_landmarks"}``.
        temporal: it uses a window of frames (the window, lookahead and flip controls apply).
        description: one line for help texts and the docs.
    """

    name: str
    factory: str | Callable[..., Any]
    requires: frozenset[str] = frozenset()
    temporal: bool = True
    description: str = ""


LIFTERS: Registry[LifterEntry] = Registry("lifter", fold_case=True)


def register_lifter(
    name: str,
    factory: str | Callable[..., Any],
    *,
    requires: Iterable[str] = (),
    temporal: bool = True,
    description: str = "",
    replace: bool = False,
) -> LifterEntry:
    """Make ``name`` a lifter everywhere: ``choose_lifter``, the engine, ``Pose3D``, the CLI.

    Args:
        name: the lifter's name (looked up case-insensitively).
        factory, requires, temporal, description: see :class:`LifterEntry`.
        replace: replace an entry of the same name instead of refusing.

    Returns:
        The registered :class:`LifterEntry`.

    Raises:
        Pose3DValueError: the name is taken (and ``replace`` is False) or empty.
    """
    entry = LifterEntry(name, factory, frozenset(requires), bool(temporal), description)
    return LIFTERS.register(name, entry, replace=replace)


register_lifter(
    "auto",
    "pose3d_nb.lifting.choice:auto_lifter",
    description="the official VideoPose3D checkpoint in model/ if present, else shipped",
)
register_lifter(
    "shipped",
    "pose3d_nb.lifting.choice:shipped_lifter",
    description="the temporal lifter shipped with pose3d_nb, fused with MediaPipe's 3D when given",
)
register_lifter(
    "mediapipe",
    "pose3d_nb.lifting.choice:mediapipe_lifter",
    requires=(WORLD_LANDMARKS,),
    temporal=False,
    description="MediaPipe's own per-frame 3D landmarks (no temporal model)",
)


def lifter_names() -> list[str]:
    """Every registered lifter name, in registration order (a checkpoint path is also accepted)."""
    return LIFTERS.names()


def is_lifter_name(spec: Any) -> bool:
    """True when ``spec`` is a registered lifter name (any case)."""
    return isinstance(spec, str) and spec in LIFTERS


def require_capabilities(lifter: Any, provided: Iterable[str], detector: Any) -> None:
    """Refuse a detector that lacks something ``lifter`` requires.

    Args:
        lifter: a lifter object; its ``requires`` (absent: nothing) lists capabilities.
        provided: what the detector's detections carry (``detectors.detector_provides``).
        detector: the detector's name or the detector object, for the message.

    Raises:
        Pose3DValueError: naming the lifter, the detector and what is missing.
    """
    missing = sorted(set(getattr(lifter, "requires", ())) - set(provided))
    if missing:
        if not isinstance(detector, str):
            detector = getattr(detector, "name", type(detector).__name__)
        givers = ", ".join(name for name in LIFTERS if not LIFTERS[name].requires) or "another lifter"
        raise Pose3DValueError(
            f"detector {detector!r} gives no {', '.join(missing)}, which lifter {lifter.name!r} requires; "
            f"use a lifter that needs none ({givers}) or a detector that gives it"
        )
