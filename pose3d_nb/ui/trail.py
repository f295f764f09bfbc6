"""The pelvis trail of the 3D view: the last few seconds of a person's path over the floor."""

from __future__ import annotations

import numpy as np

#: Seconds of pelvis path the trail shows, and the most points it holds (60 at 30 poses/s).
TRAIL_S = 2.0
TRAIL_POINTS = 64


class Trail:
    """Points with their times, newest last; only those from the last ``TRAIL_S`` seconds count."""

    def __init__(self) -> None:
        self._xyz = np.zeros((TRAIL_POINTS, 3), np.float32)
        self._t = np.zeros(TRAIL_POINTS)
        self._count = 0

    def add(self, point: np.ndarray, now: float) -> None:
        """Append ``point`` (3,) metres seen at ``now`` seconds; a clock that went back (another
        run) starts a new trail."""
        if self._count and now < self._t[-1]:
            self._count = 0
        self._xyz[:-1] = self._xyz[1:]
        self._t[:-1] = self._t[1:]
        self._xyz[-1], self._t[-1] = point, now
        recent = int(np.count_nonzero(self._t[-self._count - 1:] >= now - TRAIL_S))
        self._count = min(self._count + 1, recent, TRAIL_POINTS)

    def points(self) -> np.ndarray:
        """(TRAIL_POINTS, 3) float32 metres, oldest first; unused points repeat the oldest one
        (zero-length segments draw nothing)."""
        out = self._xyz.copy()
        out[:TRAIL_POINTS - self._count] = out[TRAIL_POINTS - max(self._count, 1)]
        return out
