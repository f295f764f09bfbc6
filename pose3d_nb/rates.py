"""Rolling rates and percentiles: the one place frame rates and latency figures are computed.

The engine (frames processed per second, latency), the browser camera (frames received) and the
notebook display (images and poses shown) all report through these.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable

import numpy as np


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values``; None when there are none."""
    array = np.fromiter(values, float)
    return float(np.percentile(array, q)) if array.size else None


class RateMeter:
    """Events per second over the last ``window`` events (monotonic clock).

    ``tick()`` from one thread while another reads ``rate()``: reads copy the deque first.
    """

    def __init__(self, window: int = 120) -> None:
        self._times: collections.deque[float] = collections.deque(maxlen=window)

    def tick(self, at: float | None = None) -> None:
        """Count one event (now, or at monotonic time ``at``)."""
        self._times.append(time.monotonic() if at is None else at)

    def rate(self) -> float:
        """Events per second between the oldest and newest kept event; 0.0 with fewer than two."""
        times = list(self._times)
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        return (len(times) - 1) / span if span > 0 else 0.0

    @property
    def latest(self) -> float | None:
        """Monotonic time of the newest event, None before any."""
        times = self._times
        return times[-1] if times else None

    def clear(self) -> None:
        self._times.clear()
