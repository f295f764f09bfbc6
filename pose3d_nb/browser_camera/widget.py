"""``BrowserCamera``: the anywidget that streams the browser's webcam to the kernel.

The JavaScript (``camera.js``, shipped in this package, no CDN) opens the camera with
getUserMedia when the widget is displayed, shows a small preview and a state line, encodes
frames as JPEG and sends them as binary comm buffers, one in flight at a time (see
``protocol``). This class receives them on the kernel's message thread, keeps only the newest
(``LatestSlot``), acknowledges each at once and counts delivery statistics.

Frames arrive as widget messages. JupyterLab 4.6 with ipykernel 7 sends those to a kernel
subshell, handled on its own thread, so frames keep arriving while a cell runs (checked in the
browser test); frontends without subshell support deliver them only between cells, and C code
holding the GIL stops them everywhere. The widget says "kernel disconnected" when acks stop
for ``ack_timeout`` s; one frame stays in flight meanwhile, so nothing piles up.
"""

from __future__ import annotations

import logging
import pathlib
import uuid
from typing import Any

import anywidget
import traitlets

from pose3d_nb.browser_camera import protocol
from pose3d_nb.browser_camera.stats import BrowserCameraStats, DeliveryStats
from pose3d_nb.mailbox import LatestSlot

log = logging.getLogger(__name__)

_HERE = pathlib.Path(__file__).parent


class BrowserCamera(anywidget.AnyWidget):
    """The webcam of the computer running the browser, as a widget.

    Display it to start the camera (the browser asks for permission). Settings (change them any
    time; size and rate changes reopen the camera):

    - ``width``, ``height``: requested capture size in pixels (default 640x480). The camera may
      pick another; frames larger than this box are scaled down to fit it, aspect kept.
    - ``fps``: highest rate to send (frames/s).
    - ``quality``: JPEG quality, 0.1-1.0.
    - ``enabled``: False stops the camera (its light goes off); True opens it again.
    - ``preview_width``: width of the preview in pixels (0 hides the preview).
    - ``ack_timeout``: seconds without an answer from the kernel before the widget says so.
    - ``nudge_ms``: while a frame waits for its ack, the browser sends a tiny "nudge" message
      after this many ms (then 2x, 4x... later, at most 6). The kernel ignores it; it carries the
      browser's TCP ACK so that the Jupyter server's websocket, which leaves Nagle's algorithm on,
      does not hold the kernel's ack back for a delayed-ACK timeout (measured: 45 ms round trip
      and about 17 frames/s without nudges, 18 ms and about 28 frames/s with them). 0 disables.

    Read-only, set by the browser: ``state`` (one of ``protocol.STATES``: "idle", "waiting",
    "streaming", "hidden", "paused", "disconnected", "denied", "no_camera", "busy", "ended",
    "unsupported", "error") and ``error`` (the browser's own error text, "" when none).

    For readers: ``take(timeout)`` returns the newest :class:`~protocol.EncodedFrame` (or None);
    ``stats()`` gives delivery rate, latency and back-pressure counts. Use
    :class:`~pose3d_nb.browser_camera.source.BrowserCameraSource` to feed a ``PoseEngine``.
    """

    _esm = _HERE / "camera.js"

    width = traitlets.Int(640).tag(sync=True)
    height = traitlets.Int(480).tag(sync=True)
    fps = traitlets.Float(30.0).tag(sync=True)
    quality = traitlets.Float(0.8).tag(sync=True)
    enabled = traitlets.Bool(True).tag(sync=True)
    preview_width = traitlets.Int(240).tag(sync=True)
    ack_timeout = traitlets.Float(3.0).tag(sync=True)
    nudge_ms = traitlets.Float(10.0).tag(sync=True)
    state = traitlets.Unicode(protocol.IDLE).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    # Lets the views of one model share one camera stream in the browser (see camera.js).
    _uid = traitlets.Unicode().tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(_uid=uuid.uuid4().hex, **kwargs)
        self._slot: LatestSlot[protocol.EncodedFrame] = LatestSlot()
        self._stats = DeliveryStats()
        self.on_msg(self._on_message)
        # A reader blocked in take() must notice a failure at once, not at its timeout.
        self.observe(lambda _change: self._slot.wake(), names=["state"])

    # ---- validation -----------------------------------------------------------------------------
    @traitlets.validate("width", "height")
    def _check_size(self, proposal: dict) -> int:
        value = int(proposal["value"])
        if not 16 <= value <= 4096:
            raise traitlets.TraitError(f"{proposal['trait'].name} must be 16..4096 pixels, got {value}")
        return value

    @traitlets.validate("fps")
    def _check_fps(self, proposal: dict) -> float:
        value = float(proposal["value"])
        if not 0 < value <= 120:
            raise traitlets.TraitError(f"fps must be in (0, 120], got {value}")
        return value

    @traitlets.validate("quality")
    def _check_quality(self, proposal: dict) -> float:
        value = float(proposal["value"])
        if not 0.1 <= value <= 1.0:
            raise traitlets.TraitError(f"quality must be 0.1..1.0 (JPEG quality), got {value}")
        return value

    @traitlets.validate("ack_timeout")
    def _check_ack_timeout(self, proposal: dict) -> float:
        value = float(proposal["value"])
        if value <= 0:
            raise traitlets.TraitError(f"ack_timeout must be > 0 s, got {value}")
        return value

    @traitlets.validate("nudge_ms")
    def _check_nudge(self, proposal: dict) -> float:
        value = float(proposal["value"])
        if value < 0:
            raise traitlets.TraitError(f"nudge_ms must be >= 0 (0 = no nudges), got {value}")
        return value

    # ---- messages from the browser --------------------------------------------------------------
    def _on_message(self, _widget: Any, content: dict, buffers: list) -> None:
        """Store the frame, then acknowledge it (the browser may send the next).

        Runs on whichever kernel thread handles widget messages (a subshell thread in
        JupyterLab 4.6 + ipykernel 7): everything it touches is thread-safe.
        """
        if not isinstance(content, dict) or content.get("type") != protocol.FRAME:
            return  # e.g. anywidget's own "anywidget-command" messages
        try:
            frame = protocol.parse_frame(content, buffers)
        except protocol.ProtocolError as exc:
            self._stats.record_malformed()
            log.warning("browser camera: %s", exc)
        else:
            self._slot.put(frame)
            self._stats.record(frame)
        # Acknowledge even a bad message: otherwise the browser would wait for this ack forever.
        # An id that is not an int is no frame of camera.js's: nothing waits for its ack.
        frame_id = content.get("id")
        if isinstance(frame_id, int) and not isinstance(frame_id, bool):
            self.send(protocol.ack(frame_id))

    # ---- for readers ----------------------------------------------------------------------------
    @property
    def failed(self) -> bool:
        """True when the browser reported a state that waiting cannot fix (denied, no camera...)."""
        return self.state in protocol.FAILED_STATES

    def explain_state(self) -> str:
        """What ``state`` means for the user and what to do about it."""
        return protocol.explain(self.state, self.error)

    def take(self, timeout: float) -> protocol.EncodedFrame | None:
        """The newest frame not taken yet, waiting up to ``timeout`` s; None on timeout or wake()."""
        frame = self._slot.take(timeout)
        if frame is not None:
            self._stats.record_read()
        return frame

    def record_undecodable(self) -> None:
        """Count a frame a reader took but could not decode (``stats().undecodable``)."""
        self._stats.record_undecodable()

    def wake(self) -> None:
        """Make a waiting ``take`` return now (used by ``close()`` from another thread)."""
        self._slot.wake()

    def discard_pending(self) -> None:
        """Forget an unread frame (a new reader starts with a fresh one)."""
        self._slot.clear()

    def stats(self) -> BrowserCameraStats:
        """Delivery rate, latency, encode time, round trip and back-pressure counts so far."""
        return self._stats.snapshot(kernel_replaced=self._slot.replaced)
