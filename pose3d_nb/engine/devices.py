"""The engine's source and detector: opening them, handing replacements to a running worker,
and closing only what the engine itself created."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.sources import BROWSER_CAMERA, Source, accepted_options, open_source


class Devices:
    """What frames come from and what finds people in them.

    Specs are what the user chose (a name, a path, or an object); ``open()`` turns them into a
    source and a detector. While a run goes on, ``offer_source``/``offer_detector`` open a
    replacement in the caller's thread (so errors raise there) and the worker thread claims it
    between frames with ``claim_source``/``claim_detector``. Sources are closed even when the
    caller gave the object (that releases the camera); detector objects the caller gave are used,
    never closed.

    Args:
        source: an ``open_source`` spec or a source object.
        source_options: options for sources that accept them (``loop``, ``pace``).
        detector: a detector name or object.
        detector_options: passed to ``create_detector`` with a name.
    """

    def __init__(self, source: Any, source_options: dict[str, Any], detector: Any,
                 detector_options: dict[str, Any]) -> None:
        self.source_spec, self.source_options = source, dict(source_options)
        self.detector_spec, self.detector_options = detector, dict(detector_options)
        self.source: Source | None = None
        self.detector: Any = None
        self._pending_source: tuple[Any, Source] | None = None
        self._pending_detector: Any = None
        self._created: set[int] = set()
        self._lock = threading.Lock()

    @property
    def source_name(self) -> str:
        """The open source's name, else the spec to open."""
        if self.source is not None:
            return self.source.name
        spec = self.source_spec
        return spec if isinstance(spec, str) else getattr(spec, "name", str(spec))

    @property
    def detector_name(self) -> str:
        spec = self.detector_spec
        return spec if isinstance(spec, str) else getattr(spec, "name", "custom")

    # ------------------------------------------------------------------ opening and closing
    def open_source(self, spec: Any) -> Source:
        """Open ``spec`` with the options it accepts (``loop``/``pace`` reach files only)."""
        if getattr(spec, "closed", False):
            raise Pose3DValueError(
                f"the source object {spec!r} was closed when the engine stopped; pass a spec "
                f"('sample', 'camera', {BROWSER_CAMERA!r}, a path) to restart freely"
            )
        if isinstance(spec, Path):
            spec = str(spec)
        accepted = accepted_options(spec)
        return open_source(spec, **{k: v for k, v in self.source_options.items() if k in accepted})

    def open_detector(self, spec: Any, options: dict[str, Any]) -> Any:
        from pose3d_nb.detectors import detector_from

        detector, owned = detector_from(spec, options)
        if owned:  # the caller's own objects are used, never closed by the engine
            self._created.add(id(detector))
        return detector

    def close_detector(self, detector: Any) -> None:
        """Close a detector the engine created; leave the caller's own objects alone."""
        if detector is not None and id(detector) in self._created:
            self._created.discard(id(detector))
            with contextlib.suppress(Exception):
                detector.close()

    def open(self) -> tuple[Source, Any]:
        """Open the chosen source and detector (errors raise here; nothing stays open then)."""
        self.close()  # a run that ended on its own (end of file, error) left them open
        source = self.open_source(self.source_spec)
        try:
            detector = self.open_detector(self.detector_spec, self.detector_options)
        except BaseException:
            source.close()
            raise
        self.source, self.detector = source, detector
        return source, detector

    def close(self) -> None:
        if self.source is not None:
            with contextlib.suppress(Exception):
                self.source.close()
        self.close_detector(self.detector)
        with self._lock:
            pending_source, self._pending_source = self._pending_source, None
            pending_detector, self._pending_detector = self._pending_detector, None
        self.close_detector(pending_detector)
        if pending_source is not None:
            with contextlib.suppress(Exception):
                pending_source[1].close()
        self.source = self.detector = None

    # ------------------------------------------------------------------ replacements while running
    def offer_source(self, spec: Any, new: Source) -> None:
        """Hand ``new`` (opened from ``spec``) to the capture thread, and end the current read."""
        with self._lock:
            old, self._pending_source = self._pending_source, (spec, new)
            current = self.source
        # A live read may block (a paused browser camera waits indefinitely): close it in the
        # background so the capture thread takes the new source.
        if current is not None:
            threading.Thread(target=current.close, daemon=True).start()
        if old is not None:
            old[1].close()

    def claim_source(self) -> Source | None:
        """The capture thread's side: the replacement source, if one was offered (now current)."""
        if self._pending_source is None:  # the common case: no lock on the hot path
            return None
        with self._lock:
            pending, self._pending_source = self._pending_source, None
        if pending is None:
            return None
        self.source_spec, self.source = pending
        return pending[1]

    @property
    def source_pending(self) -> bool:
        return self._pending_source is not None

    def offer_detector(self, spec: Any, options: dict[str, Any]) -> None:
        """Create the detector ``spec`` here and hand it to the detect thread."""
        new = self.open_detector(spec, options)
        with self._lock:
            old, self._pending_detector = self._pending_detector, new
        self.detector_spec, self.detector_options = spec, dict(options)
        self.close_detector(old)

    def claim_detector(self) -> Any:
        """The detect thread's side: the replacement detector, if one was offered (now current)."""
        if self._pending_detector is None:
            return None
        with self._lock:  # a follow() from the notebook lands before the hand-over or after it
            pending, self._pending_detector = self._pending_detector, None
            if pending is None:
                return None
            take_over = getattr(pending, "take_over", None)
            if callable(take_over) and self.detector is not None:
                take_over(self.detector)  # whom it follows and everyone's ids go on
            old, self.detector = self.detector, pending
        self.close_detector(old)
        return pending

    def follow(self, target: Any) -> bool:
        """The running detector's ``follow(target)``, under the lock its replacement takes (a
        request made while it is handed over would land on the old one, and be lost); False
        when the detector cannot follow."""
        with self._lock:
            follow = getattr(self.detector, "follow", None)
            if not callable(follow):
                return False
            follow(target)
            return True
