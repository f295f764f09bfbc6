"""What a run is made of, with every default in one place.

``Settings`` is read by the engine (``PoseEngine``'s keyword defaults and ``engine.settings``),
the command line (``pose3d run`` and ``pose3d batch`` take their defaults from ``DEFAULTS``) and
the notebook controls (they open showing an engine's ``settings``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.lifting.protocol import LIFTER_NAMES, LiftSettings

__all__ = ["DEFAULTS", "LIFTER_NAMES", "LONGEST_RECEPTIVE_FIELD", "Settings"]

#: The longest receptive field of VideoPose3D's models: the window slider's range until a lifter
#: says otherwise.
LONGEST_RECEPTIVE_FIELD = 243


@dataclass(frozen=True)
class Settings:
    """One run's choices.

    source: an ``open_source`` spec ("sample", "camera", "camera:N", "browser camera", a path).
    detector: a 2D detector backend ("mediapipe", "detectron2").
    lifter: "auto" (the official checkpoint in model/ if present, else the shipped one),
        "shipped", "mediapipe", or a checkpoint path (``lifting.choice.choose_lifter``).
    window, lookahead, flip: the temporal knobs (``LiftSettings``: 0 = the full receptive field).
    capacity: rows the rolling buffer keeps (100 000 is 55 minutes at 30 fps; memory is taken
        only as rows arrive, about 0.43 KB a row).
    out_dir: where ``joints.npy`` and ``session.npz`` go; None records nothing to disk.
    """

    source: str = "sample"
    detector: str = "mediapipe"
    lifter: str = "auto"
    window: int = 0
    lookahead: int = 0
    flip: bool = False
    capacity: int = 100_000
    out_dir: str | None = "out_files"

    def __post_init__(self) -> None:
        self.lift  # noqa: B018 - checks window, lookahead and flip once, here
        if self.capacity < 1:
            raise Pose3DValueError(f"capacity must be >= 1, got {self.capacity}")

    @property
    def lift(self) -> LiftSettings:
        """The temporal knobs as the lifter takes them."""
        return LiftSettings(self.window, self.lookahead, self.flip)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)


DEFAULTS = Settings()
