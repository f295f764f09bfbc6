"""``BrowserCameraSource``: frames from a ``BrowserCamera`` widget as a live frame source."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import comm
import cv2
import numpy as np

from pose3d_nb.browser_camera import protocol
from pose3d_nb.browser_camera.stats import BrowserCameraStats
from pose3d_nb.browser_camera.widget import BrowserCamera
from pose3d_nb.errors import Pose3DTypeError
from pose3d_nb.sources.base import BaseSource, SourceError
from pose3d_nb.sources.frame import Frame
from pose3d_nb.sources.open import BROWSER_CAMERA

log = logging.getLogger(__name__)

_default_camera: BrowserCamera | None = None
_default_lock = threading.Lock()

# States in which no frame is expected, so silence is not an error (the user will be back).
_PAUSED_STATES = frozenset({protocol.HIDDEN, protocol.PAUSED})
# States in which the first frame can take a while (a person must answer a permission prompt,
# or display the widget).
_STARTING_STATES = frozenset({protocol.IDLE, protocol.WAITING})
# Longest single wait for a frame (s) before the state and timeouts are checked again.
WAIT_SLICE_S = 0.5


def default_camera(**settings: Any) -> BrowserCamera:
    """The kernel's shared ``BrowserCamera`` (created on first use, again after ``close()``).

    ``settings`` (width, height, fps, quality...) are applied to it. One camera widget per
    kernel is what a notebook usually wants, and it lets a string spec ("browser") name it.
    """
    global _default_camera
    with _default_lock:
        if _default_camera is None or _default_camera.comm is None:  # comm None: widget closed
            _default_camera = BrowserCamera()
        camera = _default_camera
    for name, value in settings.items():
        if not camera.has_trait(name) or name in ("state", "error"):
            raise Pose3DTypeError(f"BrowserCamera has no setting {name!r}")
        setattr(camera, name, value)
    return camera


def decode_jpeg(jpeg: bytes) -> np.ndarray:
    """JPEG bytes -> (H, W, 3) uint8 RGB. Raises SourceError when the bytes are not an image."""
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SourceError(f"browser camera: a frame of {len(jpeg)} bytes is not a decodable JPEG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class BrowserCameraSource(BaseSource):
    """Live RGB frames from the browser's webcam (through a displayed :class:`BrowserCamera`).

    Args:
        camera: the widget to read; None uses :func:`default_camera`. Display the widget so the
            browser opens the camera (``BrowserCameraSource`` displays it when it is a cell's result).
        timeout: seconds without a frame (or with only undecodable ones) while the browser says
            it is streaming before reading raises ``SourceError`` (kernel blocked, tab closed,
            network gone, frames damaged on the way).
        start_timeout: seconds to wait for the first frame while the widget is not displayed yet
            or the permission prompt is open.
        settings: applied to the camera (width, height, fps, quality, ...).

    Frames: ``image`` (H, W, 3) uint8 RGB; ``index`` counts frames read from this source;
    ``timestamp`` = ``captured_at`` = kernel ``time.monotonic()`` at arrival (the kernel cannot
    see the browser's monotonic clock); the browser's capture time of the last frame read is
    ``last_capture_ms`` (wall-clock ms) and latencies are in :meth:`stats`.

    Reading waits for the next frame; while the tab is hidden or the camera paused it waits
    without a time limit (``close()`` from any thread ends it). A frame whose bytes are not a
    decodable JPEG is skipped (counted in ``undecodable`` and ``stats().undecodable``, a
    warning logged the first time) and reading waits for the next one. It raises
    ``SourceError`` saying what to do when the browser reports permission denied, no camera,
    camera busy, when nothing arrives for too long, or when only undecodable frames arrive
    for ``timeout`` s.
    """

    name = BROWSER_CAMERA  # also the spec that opens it and the app's source box entry
    is_live = True

    def __init__(self, camera: BrowserCamera | None = None, *, timeout: float = 10.0,
                 start_timeout: float = 60.0, **settings: Any) -> None:
        super().__init__()
        if camera is None:
            camera = default_camera(**settings)
        else:
            for name, value in settings.items():
                if not camera.has_trait(name) or name in ("state", "error"):
                    raise Pose3DTypeError(f"BrowserCamera has no setting {name!r}")
                setattr(camera, name, value)
        self.camera = camera
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.fps = float(camera.fps)
        self.last_capture_ms: float | None = None
        self.undecodable = 0
        """Frames this source skipped because their bytes are not a decodable JPEG."""
        self._warned_undecodable = False
        self._index = 0
        camera.discard_pending()  # a frame left by an earlier reader would be stale

    # ---- BaseSource hooks -----------------------------------------------------------------------
    def _read(self) -> Frame:
        # A frame whose bytes do not decode (torn in transit, a browser's encoder glitch) is
        # skipped: one bad frame must not end a live run. Only when nothing but such frames
        # arrives for ``timeout`` s is it an error, the allowance of a camera sending nothing.
        first_bad_at: float | None = None
        while True:
            encoded = self._wait_for_frame()
            try:
                rgb = decode_jpeg(encoded.jpeg)
            except SourceError as exc:
                first_bad_at = self._skip_undecodable(str(exc), first_bad_at)
                continue
            break
        self.last_capture_ms = encoded.t_capture_ms
        frame = Frame(rgb, self._index, encoded.arrived_mono, encoded.arrived_mono)
        self._index += 1
        return frame

    def _release(self) -> None:
        # The widget (and the browser's camera) stay: they belong to the notebook, not to this
        # reader, and a new source may read them. BrowserCamera.enabled = False turns it off.
        pass

    def close(self) -> None:
        """End iteration, also from another thread (a read waiting for a frame returns at once)."""
        self._closing.set()
        self.camera.wake()
        super().close()

    # ---- waiting --------------------------------------------------------------------------------
    def _wait_for_frame(self) -> protocol.EncodedFrame:
        camera = self.camera
        last_state, since = None, time.monotonic()
        while True:
            if self._closing.is_set():
                raise StopIteration
            state = camera.state
            if state in protocol.FAILED_STATES:
                raise SourceError(f"browser camera: {camera.explain_state()}")
            if state == protocol.IDLE and isinstance(camera.comm, comm.DummyComm):
                # Not in a Jupyter kernel (a script, ``pose3d run``): no browser can ever show the
                # widget, so waiting start_timeout for it would only delay this error.
                raise SourceError(
                    "browser camera: this Python is not a Jupyter kernel, so no browser can send it "
                    "frames; use it from a notebook, or source 'camera' for a camera on this machine")
            if state != last_state:  # each state gets its own allowance
                last_state, since = state, time.monotonic()
            limit = self._limit(state)
            waited = time.monotonic() - since
            if limit is not None and waited >= limit:
                raise SourceError(
                    f"browser camera: no frame for {waited:.0f} s (browser state {state!r}): "
                    f"{camera.explain_state()}")
            # A state change or close() wakes the wait; the slice only bounds a missed wake.
            step = WAIT_SLICE_S if limit is None else min(WAIT_SLICE_S, limit - waited)
            frame = camera.take(max(step, 0.01))
            if frame is not None:
                return frame

    def _skip_undecodable(self, error: str, first_bad_at: float | None) -> float:
        """Count a frame that did not decode and warn (once per source); the time the run of
        such frames began. Raises ``SourceError`` when it has lasted ``timeout`` s."""
        now = time.monotonic()
        first_bad_at = now if first_bad_at is None else first_bad_at
        self.camera.record_undecodable()
        self.undecodable += 1
        if now - first_bad_at >= self.timeout:
            last = error.removeprefix("browser camera: ")
            raise SourceError(
                f"browser camera: no decodable frame for {now - first_bad_at:.0f} s, only frames that "
                f"are not JPEG images ({self.undecodable} skipped; the last: {last}); reload the "
                "notebook page to restart the browser's camera, or try another browser")
        if not self._warned_undecodable:
            self._warned_undecodable = True
            log.warning("%s; skipped, waiting for the next frame (stats().undecodable counts such "
                        "frames)", error)
        return first_bad_at

    def _limit(self, state: str) -> float | None:
        if state in _PAUSED_STATES:
            return None
        if state in _STARTING_STATES:
            return self.start_timeout
        return self.timeout

    # ---- public ---------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """The browser's camera state (see ``BrowserCamera``)."""
        return self.camera.state

    def stats(self) -> BrowserCameraStats:
        """Frames/s delivered to the kernel, capture -> arrival latency, back-pressure drops."""
        return self.camera.stats()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # A cell ending in the source shows its camera widget, which is what starts the camera.
        return self.camera._repr_mimebundle_(**kwargs)
