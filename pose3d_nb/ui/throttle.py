"""Display-rate limiting: the UI refreshes at its own pace, whatever rate the engine runs at.

The engine may produce 30 results a second or 3; the browser should get at most N updates a
second and always the newest one. Nothing here queues: a value that is superseded before it
is shown is dropped (and counted), so a slow browser can never make the kernel fall behind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


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


class Throttle(Generic[T]):
    """Deliver pushed values to ``callback`` from a worker thread, at most ``max_hz`` a second.

    ``submit(value)`` never blocks and keeps only the newest value (latest wins). The callback
    runs on the throttle's own thread, so a slow widget update cannot stall the producer.
    An exception in the callback is logged and kept in ``last_error``; the throttle keeps going.
    """

    def __init__(self, callback: Callable[[T], object], max_hz: float = 15.0, name: str = "throttle") -> None:
        self._callback = callback
        self._limiter = RateLimiter(max_hz)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pending: T | None = None
        self._has_pending = False
        self.submitted = 0
        self.delivered = 0
        self.last_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def max_hz(self) -> float:
        return self._limiter.max_hz

    @max_hz.setter
    def max_hz(self, value: float) -> None:
        self._limiter.max_hz = float(value)

    @property
    def dropped(self) -> int:
        """Values replaced by a newer one before they were delivered."""
        with self._lock:
            return self.submitted - self.delivered - int(self._has_pending)

    @property
    def pending(self) -> bool:
        with self._lock:
            return self._has_pending

    def submit(self, value: T) -> None:
        """Offer a new value; an older undelivered one is dropped."""
        with self._lock:
            self._pending = value
            self._has_pending = True
            self.submitted += 1
        self._wake.set()

    def _take(self) -> tuple[bool, T | None]:
        with self._lock:
            has, value = self._has_pending, self._pending
            self._pending, self._has_pending = None, False
            self._wake.clear()
            return has, value

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._wake.wait(0.5):
                continue
            # Wait for the slot first and take the value after: anything submitted during the
            # wait replaces it, which is the point (the newest frame is the one worth showing).
            if not self._limiter.wait(self._stop):
                break
            has, value = self._take()
            if not has:
                continue
            try:
                self._callback(value)  # type: ignore[arg-type]
            except Exception as exc:  # a broken frame must not kill the display loop
                self.last_error = exc
                log.exception("throttled callback failed")
            with self._lock:
                self.delivered += 1

    def close(self, timeout: float = 2.0) -> None:
        """Stop the worker thread (pending values are discarded)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
