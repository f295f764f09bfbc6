"""Waits with a bound that one stop request ends: the batch's calls into Dask that may block.

Dask's own timeouts do not bound everything: ``Client(address, timeout=5)`` against a peer that
accepts the connection and never answers waits forever (its handshake read has no timeout),
and a blocked call in the main thread never looks at the stop event the command line's signal
handler sets. So:

- ``probe_scheduler(address, seconds, stop)`` asks the scheduler who it is over a connection of
  its own, in an event loop it owns, and gives up (closing everything) after ``seconds`` or as
  soon as ``stop`` is set; only a scheduler that answered is handed to ``distributed.Client``.
- ``bounded(call, seconds, stop, ...)`` runs any other blocking call on a helper thread and
  returns its result, or raises ``WaitTimeout`` after ``seconds`` / ``KeyboardInterrupt`` when
  ``stop`` is set; whatever the abandoned call returns later is handed to ``cleanup``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pose3d_nb.errors import Pose3DRuntimeError

T = TypeVar("T")

POLL_S = 0.1
"""How often a bounded wait looks at the stop event."""


class WaitTimeout(Pose3DRuntimeError):
    """A bounded wait ran out of time: the message says what was waited for and how long."""


def _stopped(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()


def bounded(call: Callable[[], T], seconds: float, stop: threading.Event | None, what: str,
            cleanup: Callable[[T], Any] | None = None) -> T:
    """``call()``'s result, waiting at most ``seconds`` and no longer than ``stop`` stays unset.

    Args:
        call (Callable[[], T]): the blocking call (run on a daemon thread).
        seconds (float): the bound.
        stop (threading.Event | None): set it to give up at once (KeyboardInterrupt).
        what (str): what is waited for, for the timeout message ("the Dask scheduler at X").
        cleanup (Callable[[T], Any] | None): called with the result of a call that finishes
            after it was given up (closes a client or cluster nobody will use).

    Returns:
        T: what ``call`` returned.

    Raises:
        WaitTimeout: ``call`` did not finish within ``seconds``.
        KeyboardInterrupt: ``stop`` was set (or Ctrl-C) before it finished.
        Exception: whatever ``call`` raised.
    """
    lock = threading.Lock()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            result = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc
            return
        with lock:
            if box.get("abandoned"):
                if cleanup is not None:
                    cleanup(result)
                return
            box["result"] = result

    thread = threading.Thread(target=target, name=f"pose3d-wait: {what}", daemon=True)
    deadline = time.monotonic() + seconds
    thread.start()
    try:
        while thread.is_alive():
            if _stopped(stop):
                raise KeyboardInterrupt
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f"{what} did not answer within {seconds:g} s")
            thread.join(min(POLL_S, left))
    except BaseException:
        with lock:
            box["abandoned"] = True
            result = box.pop("result", None)
        if result is not None and cleanup is not None:
            cleanup(result)  # it finished just as we gave up
        raise
    if "error" in box:
        raise box["error"]
    return box["result"]


async def _identity(address: str, seconds: float) -> dict[str, Any]:
    from distributed.comm import connect

    comm = await connect(address, timeout=seconds)
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        comm.abort()


async def _probe(address: str, seconds: float, stop: threading.Event | None) -> dict[str, Any]:
    task = asyncio.ensure_future(_identity(address, seconds))
    deadline = time.monotonic() + seconds
    try:
        while not task.done():
            if _stopped(stop):
                raise KeyboardInterrupt
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(
                    f"the Dask scheduler at {address} did not answer within {seconds:g} s "
                    "(is it a Dask scheduler, and is it running?)"
                )
            await asyncio.wait({task}, timeout=min(POLL_S, left))
        return task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def probe_scheduler(address: str, seconds: float, stop: threading.Event | None = None) -> dict[str, Any]:
    """The scheduler's identity (``{"type": "Scheduler", "id": ..., ...}``) within ``seconds``.

    Connect, handshake and the identity answer all count against the one bound.

    Args:
        address (str): ``tcp://HOST:PORT``.
        seconds (float): how long the whole exchange may take.
        stop (threading.Event | None): set it to give up at once.

    Raises:
        WaitTimeout: no answer within ``seconds`` (a silent peer, a firewall that drops packets).
        OSError: the connection was refused or the address is unusable.
        KeyboardInterrupt: ``stop`` was set.
    """
    box: dict[str, Any] = {}

    def target() -> None:  # a thread of its own: the caller may be inside a running event loop (Jupyter)
        try:
            box["result"] = asyncio.run(_probe(address, seconds, stop))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"pose3d-probe: {address}", daemon=True)
    thread.start()
    while thread.is_alive():  # short joins: Ctrl-C in the caller's thread is seen at once
        thread.join(POLL_S)
    if "error" in box:
        raise box["error"]
    return box["result"]
