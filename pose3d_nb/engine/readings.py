"""What a ``PoseEngine`` reports while it runs: the newest view, its stats and its metadata.

``EngineReadings`` is mixed into ``PoseEngine``. Displays read ``latest_view``/``wait_view``,
status lines ``stats()``, and the recording stores ``metadata()``; nothing here changes the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pose3d_nb.detectors.follow import VARIANTS_SEEING_EVERYONE
from pose3d_nb.engine.live import LiveView, ViewBoard
from pose3d_nb.engine.stats import EngineStats, RunCounters

if TYPE_CHECKING:
    from pose3d_nb.lifting.choice import LifterInfo
    from pose3d_nb.lifting.protocol import LiftSettings


class EngineReadings:
    """``latest_view``, ``wait_view``, ``stats`` and ``metadata``; needs the engine's ``_board``,
    ``_counters``, ``_error``, ``_world``, ``_settings_log``, ``running``, ``finished`` and its
    knobs (``knobs.py``)."""

    _board: ViewBoard
    _counters: RunCounters
    _error: BaseException | None
    _world: Any
    _settings_log: list[dict[str, Any]]
    running: bool
    finished: bool
    lifter_info: LifterInfo
    lift_settings: LiftSettings
    detector_name: str
    source_name: str

    def latest_view(self) -> LiveView | None:
        """The newest frame with its 2D and the newest 3D pose, for displays (no copy)."""
        return self._board.latest

    def wait_view(self, previous: LiveView | None, timeout: float) -> LiveView | None:
        """The newest view once it is not ``previous``; after ``timeout`` s, whatever is newest.

        Lets a display wake for each new result instead of polling on its own clock, which
        would miss results whenever two land between polls.

        Args:
            previous: the view the caller has already shown (or None).
            timeout: seconds to wait at most.
        """
        return self._board.wait_for_new(previous, timeout)

    def stats(self) -> EngineStats:
        """A snapshot of the live counters (rates over the last ~2-4 s, latencies over 300 frames)."""
        info = self.lifter_info
        settings = self.lift_settings
        return EngineStats(
            running=self.running, **self._counters.reading(), detector=self.detector_name,
            lifter=info.name, fallback=not info.temporal, hint=info.hint, source=self.source_name,
            window=settings.window, lookahead=settings.lookahead, flip=settings.flip,
            finished=self.finished, error=str(self._error) if self._error else None,
        )

    def metadata(self) -> dict[str, Any]:
        """What produced the recording (stored as JSON in ``session.npz``).

        ``window``, ``lookahead`` and ``flip`` are the settings now; ``lift_settings_log`` says
        which rows each setting made: one entry per change, oldest first, ``{"row", "segment",
        "frame_index", "window", "lookahead", "flip"}``, where ``row`` (the row's place among all
        rows recorded), ``segment`` and ``frame_index`` name the first row lifted with them.
        """
        info = self.lifter_info
        stats = self.stats()
        return {
            "source": self.source_name,
            "detector": self.detector_name,
            # Lite, Full or Heavy: the BlazePose landmark model (mediapipe-heavy following someone
            # runs as mediapipe-people with model_complexity 2)
            "landmark_model": landmark_model(self.detector_name, self._devices.detector_options),
            "follow": self.settings.follow,  # whom it was asked to follow (None: the detector's choice)
            "lifter": info.name,
            "lifter_temporal": info.temporal,
            "lifter_requires": list(info.requires),
            "checkpoint": info.checkpoint,
            "receptive_field": info.receptive_field,
            "window": stats.window,
            "lookahead": stats.lookahead,
            "flip": stats.flip,
            "lift_settings_log": [dict(entry) for entry in list(self._settings_log)],
            "fps": round(stats.fps, 2),
            **self._world.metadata(),
            "keypoints_2d": "COCO-17, pixels",
            "error": stats.error,
        }


def landmark_model(detector: Any, options: dict[str, Any]) -> str | None:
    """"Lite", "Full" or "Heavy": the BlazePose landmark model a MediaPipe detector named
    ``detector`` runs with ``options``; None for another detector."""
    if not (isinstance(detector, str) and detector.startswith("mediapipe")):
        return None
    default = VARIANTS_SEEING_EVERYONE.get(detector, 1)  # mediapipe-lite / -heavy; else Full
    return {0: "Lite", 1: "Full", 2: "Heavy"}.get(options.get("model_complexity", default))
