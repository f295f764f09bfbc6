"""The wire protocol between ``camera.js`` and the kernel, and what each camera state means.

Browser -> kernel, one custom widget message per frame, the JPEG as the only binary buffer::

    {"type": "frame", "id": int, "t_capture": ms, "t_send": ms, "width": px, "height": px,
     "encode_ms": float, "rtt_ms": float | None, "skipped": int}   + [jpeg bytes]

``t_capture``/``t_send`` are browser wall-clock milliseconds (``performance.timeOrigin +
performance.now()``), comparable with the kernel's ``time.time()`` when both run on one machine
(on different machines the clock offset adds in; ``rtt_ms``, the browser-measured send -> ack
round trip of the previous frame, is clock-free). ``skipped`` counts, cumulatively, camera frames
the browser did not send because the previous frame was still in flight (back-pressure).

Kernel -> browser, as soon as the frame has been taken off the wire::

    {"type": "ack", "id": int}

Browser -> kernel while waiting for an ack, ignored by the kernel::

    {"type": "nudge", "id": int}

A nudge exists only to carry the browser's TCP ACK to the Jupyter server at once: the server's
websocket leaves Nagle's algorithm on, so the kernel's ack (written right after its "busy"
status message) otherwise waits for the browser's delayed-ACK timer (40 ms on Linux).

The browser sends the next frame only after the ack of the previous one: at most one frame is
in flight and the newest camera frame is always the one sent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pose3d_nb.errors import Pose3DValueError

FRAME = "frame"
ACK = "ack"
NUDGE = "nudge"

# States, set by the browser (``BrowserCamera.state``).
IDLE = "idle"  # not displayed yet (no view has opened the camera)
WAITING = "waiting"  # getUserMedia asked; the user has not answered the permission prompt yet
STREAMING = "streaming"
HIDDEN = "hidden"  # tab hidden: sending paused until it is visible again
PAUSED = "paused"  # BrowserCamera.enabled is False
DISCONNECTED = "disconnected"  # no ack for ack_timeout s: kernel busy, restarted or gone
DENIED = "denied"  # NotAllowedError / SecurityError
NO_CAMERA = "no_camera"  # NotFoundError / OverconstrainedError
BUSY = "busy"  # NotReadableError / AbortError: another program holds the camera
ENDED = "ended"  # the camera track ended (unplugged, revoked)
UNSUPPORTED = "unsupported"  # no getUserMedia: insecure (non-https, non-localhost) page or old browser
ERROR = "error"  # anything else the browser reported

STATES = (IDLE, WAITING, STREAMING, HIDDEN, PAUSED, DISCONNECTED, DENIED, NO_CAMERA, BUSY, ENDED,
          UNSUPPORTED, ERROR)
FAILED_STATES = frozenset({DENIED, NO_CAMERA, BUSY, ENDED, UNSUPPORTED, ERROR})
"""States a source cannot recover from by waiting: reading raises ``SourceError``."""

_HELP = {
    DENIED: "camera permission denied in the browser. Allow the camera for this site (the camera "
            "or lock icon in the address bar), then re-run the cell that creates the BrowserCamera",
    NO_CAMERA: "the browser found no camera (or none matching the requested size/rate). Plug one in, "
               "or check that the browser may use it (system privacy settings), then re-run the cell",
    BUSY: "the camera is in use by another program or browser tab (it could not be started). "
          "Close the other program, then re-run the cell",
    ENDED: "the browser camera stopped delivering (unplugged, or access revoked). Re-run the cell",
    UNSUPPORTED: "this page cannot use a camera: browsers allow getUserMedia only on https:// or "
                 "http://localhost pages. Open Jupyter over https (or a localhost tunnel)",
    ERROR: "the browser could not open the camera",
    IDLE: "the BrowserCamera widget is not displayed, so the browser never opened the camera: show "
          "it (leave it as the last line of a cell, or display(camera)) in an open notebook tab",
    WAITING: "the browser is still waiting for camera permission: answer the browser's prompt",
    STREAMING: "the browser says it is streaming, but no frame reached the kernel: is the kernel "
               "blocked (C code holding the GIL, or a frontend without kernel subshells, where "
               "widget messages wait until the running cell ends)?",
    DISCONNECTED: "the browser got no answer from the kernel; after a kernel restart re-run the cell",
    HIDDEN: "the notebook's browser tab is hidden; frames resume when it is visible",
    PAUSED: "the camera is paused (BrowserCamera.enabled is False)",
}


def explain(state: str, error: str = "") -> str:
    """A sentence for users: what ``state`` means and what to do, with the browser's own error."""
    text = _HELP.get(state, f"unknown browser camera state {state!r}")
    return f"{text} (browser said: {error})" if error else text


@dataclass(frozen=True)
class EncodedFrame:
    """One frame as it arrived from the browser, still JPEG-encoded.

    jpeg: the encoded bytes. width, height: pixels the browser encoded. frame_id: the browser's
    counter (gaps = frames never sent). t_capture_ms: browser wall clock at capture (ms since the
    epoch). arrived_wall: kernel ``time.time()`` at arrival (s); arrived_mono: kernel
    ``time.monotonic()`` at arrival (s). encode_ms: browser JPEG encode time. rtt_ms: browser-measured
    round trip of the previous frame (None for the first). skipped: browser's cumulative count of
    camera frames not sent because of back-pressure.
    """

    jpeg: bytes
    width: int
    height: int
    frame_id: int
    t_capture_ms: float
    arrived_wall: float
    arrived_mono: float
    encode_ms: float
    rtt_ms: float | None
    skipped: int

    @property
    def latency_ms(self) -> float:
        """Browser capture -> kernel arrival, by the two wall clocks (same machine: exact-ish)."""
        return 1000.0 * self.arrived_wall - self.t_capture_ms


class ProtocolError(Pose3DValueError):
    """A message from the browser that does not follow the protocol."""


def parse_frame(content: Mapping[str, Any], buffers: Sequence[Any], arrived_wall: float | None = None,
                arrived_mono: float | None = None) -> EncodedFrame:
    """Build an :class:`EncodedFrame` from a ``"frame"`` message.

    Args:
        content: the JSON part (see the module docstring).
        buffers: the binary buffers (memoryview/bytes); the first is the JPEG.
        arrived_wall, arrived_mono: arrival times; now when None.

    Raises:
        ProtocolError: wrong type, missing fields or no JPEG buffer.
    """
    if content.get("type") != FRAME:
        raise ProtocolError(f"not a frame message: type={content.get('type')!r}")
    if not buffers or len(buffers[0]) == 0:
        raise ProtocolError(f"frame {content.get('id')!r} came without its JPEG buffer")
    try:
        rtt = content.get("rtt_ms")
        return EncodedFrame(
            jpeg=bytes(buffers[0]),
            width=int(content["width"]),
            height=int(content["height"]),
            frame_id=int(content["id"]),
            t_capture_ms=float(content["t_capture"]),
            arrived_wall=time.time() if arrived_wall is None else arrived_wall,
            arrived_mono=time.monotonic() if arrived_mono is None else arrived_mono,
            encode_ms=float(content.get("encode_ms") or 0.0),
            rtt_ms=None if rtt is None else float(rtt),
            skipped=int(content.get("skipped") or 0),
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # Overflow: int(Infinity)
        raise ProtocolError(f"malformed frame message {dict(content)!r}: {exc}") from exc


def ack(frame_id: int) -> dict[str, Any]:
    """The kernel's answer to frame ``frame_id``: the browser may send the next one."""
    return {"type": ACK, "id": int(frame_id)}
