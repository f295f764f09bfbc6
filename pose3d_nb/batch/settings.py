"""What every video of a batch is processed with: the same knobs as ``pose3d run``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.lifting.protocol import LiftSettings
from pose3d_nb.lifting.registry import LIFTERS, is_lifter_name, lifter_names
from pose3d_nb.settings import DEFAULTS, Settings


@dataclass(frozen=True)
class BatchSettings:
    """The processing settings of a batch; a video's output is reused only when they match.

    Attributes:
        lifter (str): "auto", "shipped", "mediapipe" or a checkpoint path (``pose3d run
            --checkpoint``). A path is made absolute by ``checked()``: workers must see it too.
        detector (str): 2D detector backend name ("mediapipe", "detectron2").
        window (int): frames the lifter uses (0 = all up to its receptive field).
        lookahead (int): output delay in frames (future context).
        flip (bool): test-time flip augmentation.
        export (tuple[str, ...]): export formats written beside each session (``pose3d_nb.export``).
    """

    lifter: str = DEFAULTS.lifter
    detector: str = DEFAULTS.detector
    window: int = DEFAULTS.window
    lookahead: int = DEFAULTS.lookahead
    flip: bool = DEFAULTS.flip
    export: tuple[str, ...] = field(default_factory=tuple)

    def checked(self) -> BatchSettings:
        """These settings validated and normalised, before any worker starts.

        Returns:
            BatchSettings: a copy with the lifter path absolute and the export formats
            lower-case, sorted and unique.

        Raises:
            ValueError: an unknown detector, lifter name or export format, a lifter file that
                does not exist, or a negative window or lookahead.
        """
        from pose3d_nb.detectors.registry import known_detectors
        from pose3d_nb.export import FORMATS

        if self.detector not in known_detectors():
            raise Pose3DValueError(
                f"unknown detector {self.detector!r}; known: {', '.join(known_detectors())}"
            )
        lifter = str(self.lifter)
        if is_lifter_name(lifter):
            lifter = LIFTERS[lifter].name
        else:
            path = Path(lifter).expanduser()
            if not path.is_file():
                raise Pose3DValueError(
                    f"lifter {lifter!r} is neither one of {', '.join(lifter_names())} nor a checkpoint file"
                )
            lifter = str(path.resolve())
        lift = LiftSettings(self.window, self.lookahead, self.flip)  # ValueError: a bad knob
        formats = tuple(sorted({str(f).strip().lower() for f in self.export if str(f).strip()}))
        unknown = [f for f in formats if f not in FORMATS]
        if unknown:
            raise Pose3DValueError(f"unknown export format(s) {unknown}; choose from {', '.join(FORMATS)}")
        return replace(
            self, lifter=lifter, window=lift.window, lookahead=lift.lookahead, flip=lift.flip, export=formats
        )

    def for_video(self, video: str, out_dir: str, capacity: int) -> Settings:
        """The engine ``Settings`` of one video (what ``pose3d run --source VIDEO`` would use)."""
        return Settings(source=video, detector=self.detector, lifter=self.lifter, window=self.window,
                        lookahead=self.lookahead, flip=self.flip, capacity=capacity, out_dir=out_dir)

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values (what a video's manifest records)."""
        values = asdict(self)
        values["export"] = list(self.export)
        return values

    def reusable(self, recorded: dict[str, Any]) -> bool:
        """True when output made with ``recorded`` settings is what these settings would make.

        Every processing setting must be equal; the exports recorded must include the ones
        asked for now (more is fine).

        Args:
            recorded (dict[str, Any]): ``as_dict()`` of the settings the output was made with.
        """
        wanted = self.as_dict()
        exports = set(wanted.pop("export"))
        try:
            recorded_exports = set(recorded.get("export", ()))
        except TypeError:
            return False
        same = all(recorded.get(key) == value for key, value in wanted.items())
        return same and exports <= recorded_exports
