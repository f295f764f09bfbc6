"""A one-item, latest-wins mailbox between a producer that must never wait and a reader.

Used wherever a slow reader wants the newest item rather than a backlog: the engine's hand-off
of live camera frames to the detector, and the browser camera's hand-off of received frames from
the kernel's message thread to the capture thread.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class _End:
    def __repr__(self) -> str:
        return "LatestSlot.END"


class LatestSlot(Generic[T]):
    """Holds at most one item: ``put`` replaces an unread one, ``take`` waits for one.

    A put never waits; an unread item it replaces is counted in ``replaced``. ``take`` returns the
    item, or None on timeout or after ``wake()`` (so the reader can re-check for errors or a
    close). After ``finish()`` a take hands out the unread item first, then ``LatestSlot.END``,
    so a producer's last item is never lost to its end marker.
    """

    END = _End()
    """What ``take`` returns once the producer has finished and nothing is left."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._finished = False
        self._wakes = 0
        self.replaced = 0
        """Items overwritten before anyone took them."""

    def put(self, item: T) -> bool:
        """Store ``item``; True when it replaced an unread one."""
        with self._cond:
            dropped = self._full
            if dropped:
                self.replaced += 1
            self._item, self._full = item, True
            self._cond.notify_all()
            return dropped

    def take(self, timeout: float) -> T | _End | None:
        """The item (removing it), waiting up to ``timeout`` s; None on timeout or ``wake()``;
        ``END`` once ``finish()`` was called and the last item was taken."""
        with self._cond:
            wakes = self._wakes
            self._cond.wait_for(lambda: self._full or self._finished or self._wakes != wakes, timeout)
            if not self._full:
                return self.END if self._finished else None
            item, self._item, self._full = self._item, None, False
            return item

    def finish(self) -> None:
        """The producer is done: after the unread item (if any), ``take`` returns ``END``."""
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    def wake(self) -> None:
        """Make current ``take`` calls return now (with the item if there is one)."""
        with self._cond:
            self._wakes += 1
            self._cond.notify_all()

    def clear(self) -> None:
        """Drop an unread item (not counted as replaced)."""
        with self._cond:
            self._item, self._full = None, False
