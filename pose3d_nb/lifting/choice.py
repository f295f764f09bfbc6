"""Which lifter runs: the official VideoPose3D checkpoint, the shipped one, or MediaPipe's 3D.

``choose_lifter(name)`` builds a registered lifter (``lifting.registry``) or loads a checkpoint
path. ``"auto"`` takes the official checkpoint when it is in ``model/``, else the lifter trained
on motion capture that ships inside the package (fused with MediaPipe's own 3D when the detector
gives it). MediaPipe's world landmarks alone stay selectable as ``"mediapipe"``.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pose3d_nb.errors import Pose3DError, Pose3DValueError, UnknownNameError
from pose3d_nb.lifting.checkpoint import CheckpointError
from pose3d_nb.lifting.fusion import MEDIAPIPE_WEIGHT
from pose3d_nb.lifting.lifter import VideoPose3DLifter
from pose3d_nb.lifting.mediapipe_world import MediaPipeWorldLifter
from pose3d_nb.lifting.model import TemporalModel
from pose3d_nb.lifting.protocol import LiftSettings
from pose3d_nb.lifting.registry import LIFTERS, is_lifter_name, lifter_names, require_capabilities
from pose3d_nb.lifting.weights import shipped_checkpoint
from pose3d_nb.registry import load_object

__all__ = [
    "LifterInfo",
    "auto_lifter",
    "check_lift_limits",
    "check_lifter_file",
    "choose_lifter",
    "describe_lifter",
    "give_lens",
    "mediapipe_lifter",
    "require_capabilities",
    "shipped_checkpoint",
    "shipped_lifter",
]

# The committed weights (`pose3d train --steps 32000`, seed 0, one thread; tests check the file).
SHIPPED_SHA256 = "102ebe40f4d6a8e82aa8c49e1e934661f0c0b8f36266ec520d9fbfa7a5cbfa3b"
SHIPPED_LABEL = "pose3d_nb mocap lifter (shipped)"
MEDIAPIPE_HINT = (
    "Showing MediaPipe's own per-frame 3D landmarks (chosen by name). The temporal lifter shipped "
    "with pose3d_nb is `lifter='shipped'`; the official VideoPose3D weights: "
    "`pose3d models fetch h36m_detectron_coco`."
)


def shipped_model() -> TemporalModel:
    """The shipped weights as a model in eval mode (loaded through the safe loader)."""
    from pose3d_nb.lifting.checkpoint import load_model

    return load_model(shipped_checkpoint())


def shipped_meta() -> dict:
    """What the shipped weights were trained with (the ``meta`` entry the trainer writes)."""
    from pose3d_nb.lifting.checkpoint import read_checkpoint

    return json.loads(read_checkpoint(shipped_checkpoint()).get("meta", "{}"))


@dataclass(frozen=True)
class LifterInfo:
    """Which lifter runs and what it supports, for status lines, metadata and ``pose3d models``.

    Attributes:
        name: what to show a person.
        temporal: it uses a window of frames (False for MediaPipe's per-frame 3D: then
            receptive_field is None and max_lookahead 0, and the temporal controls are disabled).
        requires: detector capabilities it needs (e.g. ``("world_landmarks",)``), sorted.
        receptive_field: frames the network sees, None when per frame.
        max_lookahead: the largest useful lookahead.
        hint: a note for the UI ("" if none).
        checkpoint: the weights file, None for an in-memory model or MediaPipe's 3D.
    """

    name: str
    temporal: bool
    requires: tuple[str, ...]
    receptive_field: int | None
    max_lookahead: int
    hint: str
    checkpoint: str | None

    @property
    def is_fallback(self) -> bool:
        """Deprecated: ``not temporal`` (what it meant); a lifter's needs are ``requires``."""
        warnings.warn(
            "LifterInfo.is_fallback is deprecated: use `not info.temporal` (and `info.requires`)",
            DeprecationWarning,
            stacklevel=2,
        )
        return not self.temporal


def describe_lifter(lifter: Any) -> LifterInfo:
    """A ``LifterInfo`` for a lifter object (see ``lifting.protocol.Lifter``)."""
    checkpoint = getattr(lifter, "checkpoint", None)
    return LifterInfo(
        name=lifter.name,
        temporal=lifter.temporal,
        requires=tuple(sorted(getattr(lifter, "requires", ()))),
        receptive_field=lifter.receptive_field,
        max_lookahead=lifter.max_lookahead,
        hint=lifter.hint,
        checkpoint=str(checkpoint) if checkpoint else None,
    )


def auto_lifter(world_landmark_weight: float | None = None):
    """The official checkpoint in ``model/`` if present (unfused unless a weight is given), else
    the shipped lifter."""
    from pose3d_nb.lifting.weights import find_checkpoint

    found = find_checkpoint()
    if found is None:
        return shipped_lifter(world_landmark_weight)
    return VideoPose3DLifter(found, world_landmark_weight=world_landmark_weight or 0.0)


def shipped_lifter(world_landmark_weight: float | None = None) -> VideoPose3DLifter:
    """The lifter shipped in the package, fused with MediaPipe's 3D (default ``MEDIAPIPE_WEIGHT``;
    0 = the network alone)."""
    weight = MEDIAPIPE_WEIGHT if world_landmark_weight is None else world_landmark_weight
    from pose3d_nb.world.lean import shipped_lean_bias

    return VideoPose3DLifter(
        shipped_checkpoint(), world_landmark_weight=weight, label=SHIPPED_LABEL,
        lean_bias=shipped_lean_bias(),  # zoomed as its meta says it was trained (``lifting.zoom``)
    )


def mediapipe_lifter(world_landmark_weight: float | None = None) -> MediaPipeWorldLifter:
    """MediaPipe's world landmarks, per frame (``world_landmark_weight`` does not apply)."""
    return MediaPipeWorldLifter(hint=MEDIAPIPE_HINT)


def choose_lifter(spec: Any = "auto", world_landmark_weight: float | None = None):
    """A lifter object for ``spec``.

    Args:
        spec: a registered lifter name (``lifting.registry.lifter_names()``: "auto", "shipped",
            "mediapipe", ...; None or "none" mean "mediapipe"), a checkpoint path, or a
            ``TemporalModel``.
        world_landmark_weight: fusion weight of MediaPipe's 3D (see each factory; official
            checkpoints and paths run unfused unless a weight is given).

    Raises:
        CheckpointError: an unusable file.
        UnknownNameError: a name that is neither registered nor a path (lists the names).
        Pose3DValueError: ``spec`` is none of these (a number, say; the message lists the names).
    """
    if isinstance(spec, TemporalModel):
        return VideoPose3DLifter(spec, world_landmark_weight=world_landmark_weight or 0.0)
    if spec is None or (isinstance(spec, str) and spec.lower() == "none"):
        spec = "mediapipe"
    if is_lifter_name(spec):
        return load_object(LIFTERS[spec].factory)(world_landmark_weight=world_landmark_weight)
    if not isinstance(spec, (str, os.PathLike)):
        raise Pose3DValueError(
            f"lifter must be one of {', '.join(lifter_names())}, a checkpoint path or a TemporalModel, "
            f"got {type(spec).__name__}"
        )
    check_lifter_name(spec)
    return VideoPose3DLifter(Path(spec).expanduser(), world_landmark_weight=world_landmark_weight or 0.0)


def check_lifter_name(spec: Any) -> None:
    """``UnknownNameError`` (listing the names) for a text that is neither a registered lifter
    name nor something that reads as a path (a suffix, or a file or folder that exists), as
    ``choose_lifter`` refuses it; nothing is loaded, so a command can check it before any work."""
    if isinstance(spec, str) and not is_lifter_name(spec) and spec.lower() != "none":
        path = Path(spec).expanduser()
        if not path.suffix and not path.exists():
            raise UnknownNameError(
                f"unknown lifter {spec!r}: use one of {', '.join(lifter_names())} or a checkpoint path"
            )


def check_lifter_file(spec: Any) -> None:
    """``UnknownNameError`` (as ``check_lifter_name``) or ``CheckpointError`` for a lifter
    ``spec`` given as a path (neither a registered name nor
    "none") that is not a file, as ``choose_lifter`` would fail on it once the run starts; a
    command checks it before any work (``pose3d run``, ``lift`` and ``batch`` alike). A model or
    a lifter object passes: it is already loaded."""
    if not isinstance(spec, (str, os.PathLike)) or (
            isinstance(spec, str) and (is_lifter_name(spec) or spec.lower() == "none")):
        return
    # The classes the engine raises for the same spec (a batch raised a plain Pose3DValueError
    # for both, which `except CheckpointError` or `except KeyError` missed).
    check_lifter_name(spec)
    if not Path(spec).expanduser().is_file():
        raise CheckpointError(
            f"lifter {str(spec)!r} is neither one of {', '.join(lifter_names())} nor a checkpoint file"
        )


def check_lift_limits(spec: Any, lift: LiftSettings) -> None:
    """``Pose3DValueError`` when the lifter ``spec`` names (as ``choose_lifter`` takes it) cannot
    honour ``lift``: a window beyond its receptive field, a lookahead beyond what it sees (or
    any with MediaPipe's per-frame 3D), as the engine refuses them once the lifter is loaded;
    so a command can refuse them before it makes its output. Loads the lifter only for a
    window or lookahead above 0 (0 suits every lifter; the shipped one loads in about 0.05 s).
    A lifter that cannot be loaded is left for the run to report, as without a window."""
    if lift.window == 0 and lift.lookahead == 0:
        return
    try:
        lifter = choose_lifter(spec)
    except Pose3DError:
        return
    lift.check_for(lifter.max_lookahead, lifter.receptive_field)


def give_lens(lifter: Any, camera: Any = None, fov: float | None = None, focal: float | None = None) -> Any:
    """Tell ``lifter`` the camera's lens (``camera=``, ``fov=``, ``focal=`` as the engine takes
    them, checked by the world stage) when it uses one (``VideoPose3DLifter.set_lens``: zoomed
    weights lift each frame as a camera turned to the person sees it); returns ``lifter``."""
    set_lens = getattr(lifter, "set_lens", None)
    if callable(set_lens):
        set_lens(camera, fov, focal)
    return lifter
