"""What every frame source shares: the protocol, the error type and the iterator/closing glue."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.sources.frame import Frame


class SourceError(Pose3DValueError):
    """A source could not be opened or read: the message names the source and what was tried."""


@runtime_checkable
class Source(Protocol):
    """An iterable of RGB :class:`Frame` objects that must be closed (the built-in sources are
    also iterators: ``next(source)`` works).

    ``name`` says what it reads ("sample", "camera:0", a path); ``fps`` is the nominal rate
    (None when unknown); ``is_live`` is True when frames arrive in real time and are dropped
    when the consumer is slower (cameras, paced videos).
    """

    name: str
    fps: float | None
    is_live: bool

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None:
        """Stop and release the device or file; iteration then ends (callable from another thread)."""

    def __enter__(self) -> Source: ...

    def __exit__(self, *exc_info: object) -> None: ...


class BaseSource:
    """Iterator and context-manager glue; subclasses implement ``_read`` and ``_release``.

    A source is consumed once, like a file object: iterating again continues where the last
    loop stopped (so a notebook can stop a live loop and resume it). ``close()`` may be called
    from another thread: it signals a blocked read to give up, then waits for it so the decoder
    is never released under a running read (that is what crashes acapture, see FACTS.md).
    After ``close()`` iteration simply ends.
    """

    name: str = "source"
    fps: float | None = None
    is_live: bool = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._closed = False

    # -- subclass hooks
    def _read(self) -> Frame:
        """The next frame; raise StopIteration at a clean end, SourceError on failure."""
        raise NotImplementedError

    def _release(self) -> None:
        """Free the device or file (called once, under the read lock)."""

    # -- public API
    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._closed

    def __iter__(self) -> BaseSource:
        return self

    def __next__(self) -> Frame:
        with self._lock:
            if self._closed or self._closing.is_set():
                raise StopIteration
            return self._read()

    def close(self) -> None:
        """Release the source; idempotent and safe to call from another thread."""
        self._closing.set()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._release()

    def __enter__(self) -> BaseSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {self.name!r} fps={self.fps} live={self.is_live} {state}>"
