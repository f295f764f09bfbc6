"""The hand-offs between the engine's threads: a bounded ``queue.Queue`` (files: every frame)
or a ``mailbox.LatestSlot`` (live sources: the newest frame only), read and written so that a
stop request is seen within 0.1 s."""

from __future__ import annotations

import queue
import threading
from typing import Any

from pose3d_nb.mailbox import LatestSlot

#: Seconds a put or take blocks before looking at the stop request again.
POLL_S = 0.1


def wait_put(target: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put ``item`` into ``target``, waiting for room until ``stop`` is set.

    Args:
        target: the bounded queue.
        item: what to hand over.
        stop: the engine's stop request.

    Returns:
        True once put; False when ``stop`` was set first (``item`` is dropped).
    """
    while not stop.is_set():
        try:
            target.put(item, timeout=POLL_S)
            return True
        except queue.Full:
            continue
    return False


def take(source: queue.Queue | LatestSlot) -> Any:
    """The next item from either hand-off, or None after ``POLL_S`` (to re-check for a stop)."""
    if isinstance(source, LatestSlot):
        return source.take(POLL_S)
    try:
        return source.get(timeout=POLL_S)
    except queue.Empty:
        return None
