"""Display-rate limiting: the UI refreshes at its own pace, whatever rate the engine runs at.

The engine may produce 30 results a second or 3; the browser should get at most N updates a
second and always the newest one. The display loop polls the engine's newest result when its
limiter allows, so nothing queues and a slow browser can never make the kernel fall behind.
"""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """At most ``max_hz`` events a second, for loops that pull (poll) their data.

    ``ready()`` says whether an event may happen now and, if so, books it; ``wait()`` sleeps
    until the next slot. ``max_hz <= 0`` means no limit.
    """

    def __init__(self, max_hz: float) -> None:
        self.max_hz = float(max_hz)
        self._next = 0.0

    @property
    def period(self) -> float:
        """Seconds between events (0 when unlimited)."""
        return 1.0 / self.max_hz if self.max_hz > 0 else 0.0

    def ready(self, now: float | None = None) -> bool:
        """True if an event may happen at ``now`` (seconds, ``time.monotonic()`` if None), and
        then book it; False if too soon."""
        now = time.monotonic() if now is None else now
        if now < self._next:
            return False
        # Keep to the grid when only a little late (a busy thread wakes a few ms late every time,
        # which would otherwise lower the rate), but restart the grid after a stall rather than
        # bursting to catch up.
        late = now - self._next
        self._next = self._next + self.period if late < self.period else now + self.period
        return True

    def wait(self, stop: threading.Event | None = None) -> bool:
        """Sleep until the next slot and book it. Returns False if ``stop`` was set meanwhile."""
        delay = self._next - time.monotonic()
        if delay > 0:
            if stop is not None:
                if stop.wait(delay):
                    return False
            else:
                time.sleep(delay)
        self.ready()
        return not (stop is not None and stop.is_set())
