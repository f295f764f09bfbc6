"""A one-item, latest-wins mailbox between the kernel's message thread and a reader thread."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds at most one item: ``put`` replaces an unread one, ``take`` waits for one.

    The kernel thread that receives frames must never block on a slow reader, and a slow
    reader wants the newest frame, not a backlog: so a put never waits and an unread item is
    replaced (and counted in ``replaced``). ``wake()`` makes a waiting ``take`` return early
    (None) so the reader can re-check for errors or a close.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._wakes = 0
        self.replaced = 0
        """Items overwritten before anyone took them."""

    def put(self, item: T) -> bool:
        """Store ``item``; True when it replaced an unread one."""
        with self._cond:
            dropped = self._item is not None
            if dropped:
                self.replaced += 1
            self._item = item
            self._cond.notify_all()
            return dropped

    def take(self, timeout: float) -> T | None:
        """The item (removing it), waiting up to ``timeout`` s; None on timeout or ``wake()``."""
        with self._cond:
            wakes = self._wakes
            self._cond.wait_for(lambda: self._item is not None or self._wakes != wakes, timeout)
            item, self._item = self._item, None
            return item

    def wake(self) -> None:
        """Make current ``take`` calls return now (with the item if there is one)."""
        with self._cond:
            self._wakes += 1
            self._cond.notify_all()

    def clear(self) -> None:
        """Drop an unread item (not counted as replaced)."""
        with self._cond:
            self._item = None
