"""Which lifter runs: the official VideoPose3D checkpoint, the shipped one, or MediaPipe's 3D.

``choose_lifter("auto")`` takes the official checkpoint when it is in ``model/``, else the lifter
trained on motion capture that ships inside the package (fused with MediaPipe's own 3D when the
detector gives it). MediaPipe's world landmarks alone stay selectable as ``"mediapipe"``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.lifting.fusion import MEDIAPIPE_WEIGHT
from pose3d_nb.lifting.lifter import VideoPose3DLifter
from pose3d_nb.lifting.mediapipe_world import MediaPipeWorldLifter
from pose3d_nb.lifting.model import TemporalModel
from pose3d_nb.lifting.protocol import LIFTER_NAMES

SHIPPED_FILE = "lifter_mocap_rf27.pt"
# The committed weights (`pose3d train --steps 8000`, seed 0, one thread; tests check the file).
SHIPPED_SHA256 = "86ecc3652310e1acb22640726187c20c446e35c34d5c38091be0938e5771d9f1"
SHIPPED_LABEL = "pose3d_nb mocap lifter (shipped)"
MEDIAPIPE_HINT = (
    "Showing MediaPipe's own per-frame 3D landmarks (chosen by name). The temporal lifter shipped "
    "with pose3d_nb is `checkpoint='shipped'`; the official VideoPose3D weights: "
    "`pose3d models fetch h36m_detectron_coco`."
)


def shipped_checkpoint() -> Path:
    """The lifter weights inside the package (trained by ``pose3d train`` on mocap; see NOTICE)."""
    return Path(str(resources.files("pose3d_nb").joinpath("data", SHIPPED_FILE)))


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

    receptive_field is None and max_lookahead 0 for MediaPipe's per-frame 3D (``is_fallback``);
    checkpoint: the weights file, None for an in-memory model or MediaPipe's 3D.
    """

    name: str
    is_fallback: bool
    temporal: bool
    receptive_field: int | None
    max_lookahead: int
    hint: str
    checkpoint: str | None


def describe_lifter(lifter: Any) -> LifterInfo:
    """A ``LifterInfo`` for a lifter object (see ``lifting.protocol.Lifter``)."""
    checkpoint = getattr(lifter, "checkpoint", None)
    return LifterInfo(
        name=lifter.name,
        is_fallback=lifter.is_fallback,
        temporal=lifter.temporal,
        receptive_field=lifter.receptive_field,
        max_lookahead=lifter.max_lookahead,
        hint=lifter.hint,
        checkpoint=str(checkpoint) if checkpoint else None,
    )


def require_world_landmarks(lifter: Any, detector: Any) -> None:
    """Raise ``ValueError`` when ``lifter`` shows MediaPipe's 3D and ``detector`` (a backend name
    or a detector object) gives none; any other lifter works with any detector."""
    if not lifter.is_fallback:
        return
    if isinstance(detector, str):
        gives_3d, name = detector == "mediapipe", detector
    else:
        gives_3d = getattr(detector, "provides_world_landmarks", False)
        name = getattr(detector, "name", type(detector).__name__)
    if not gives_3d:
        raise Pose3DValueError(
            f"detector {name!r} gives no 3D landmarks, which the 'mediapipe' lifter shows; use "
            "the shipped lifter ('auto' or 'shipped') or detector 'mediapipe'"
        )


def choose_lifter(spec: Any = "auto", world_landmark_weight: float | None = None):
    """A lifter object for ``spec``.

    spec: "auto" (official checkpoint in model/ if present, else "shipped"), "shipped",
    "mediapipe" (or None: MediaPipe's world landmarks, per frame), a checkpoint path, or a
    ``TemporalModel``. world_landmark_weight: fusion weight of MediaPipe's 3D for the shipped
    lifter (default ``MEDIAPIPE_WEIGHT``; 0 = the network alone). Official checkpoints and
    paths run unfused unless a weight is given.
    Raises ``CheckpointError`` for an unusable file, ``ValueError`` for an unknown name.
    """
    from pose3d_nb.lifting.weights import find_checkpoint

    if isinstance(spec, TemporalModel):
        return VideoPose3DLifter(spec, world_landmark_weight=world_landmark_weight or 0.0)
    if spec is None or (isinstance(spec, str) and spec.lower() in ("mediapipe", "none")):
        return MediaPipeWorldLifter(hint=MEDIAPIPE_HINT)
    if isinstance(spec, str) and spec.lower() == "auto":
        found = find_checkpoint()
        spec = found if found is not None else "shipped"
    if isinstance(spec, str) and spec.lower() == "shipped":
        weight = MEDIAPIPE_WEIGHT if world_landmark_weight is None else world_landmark_weight
        return VideoPose3DLifter(shipped_checkpoint(), world_landmark_weight=weight, label=SHIPPED_LABEL)
    path = Path(spec).expanduser()
    if isinstance(spec, str) and not path.suffix and not path.exists():
        raise Pose3DValueError(
            f"unknown lifter {spec!r}: use one of {', '.join(LIFTER_NAMES)} or a checkpoint path"
        )
    return VideoPose3DLifter(path, world_landmark_weight=world_landmark_weight or 0.0)
