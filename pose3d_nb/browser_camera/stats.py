"""Delivery statistics of the browser camera: rate, latency and frames lost to back-pressure."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

import numpy as np

from pose3d_nb.browser_camera.protocol import EncodedFrame
from pose3d_nb.rates import RateMeter, percentile


@dataclass(frozen=True)
class BrowserCameraStats:
    """A consistent reading; rates per second, times in milliseconds, None before any frame.

    frames_received: frames that reached the kernel. fps: their arrival rate over the last
    ``window`` arrivals. latency_ms_median/p95: browser capture -> kernel arrival, by the browser's
    and the kernel's wall clocks (exact when both run on one machine). encode_ms_median: browser
    JPEG encode time. rtt_ms_median: browser-measured send -> ack round trip (clock-free).
    browser_skipped: camera frames the browser did not send because a frame was in flight.
    kernel_replaced: frames that arrived but were replaced by a newer one before the reader took
    them. frames_read: frames handed to the reader. kb_per_frame: mean JPEG size.
    size: (width, height) of the last frame. malformed: messages that broke the protocol.
    undecodable: frames that arrived whole but whose bytes are not a decodable JPEG (the reader
    skipped them and waited for the next).
    """

    frames_received: int
    frames_read: int
    fps: float
    latency_ms_median: float | None
    latency_ms_p95: float | None
    encode_ms_median: float | None
    rtt_ms_median: float | None
    browser_skipped: int
    kernel_replaced: int
    kb_per_frame: float | None
    size: tuple[int, int] | None
    malformed: int
    undecodable: int = 0


class DeliveryStats:
    """Rolling counters fed at each arrival (kernel message thread) and read from any thread."""

    def __init__(self, window: int = 300) -> None:
        self._lock = threading.Lock()
        self._arrivals = RateMeter(window)
        self._latency: collections.deque[float] = collections.deque(maxlen=window)
        self._encode: collections.deque[float] = collections.deque(maxlen=window)
        self._rtt: collections.deque[float] = collections.deque(maxlen=window)
        self._bytes: collections.deque[int] = collections.deque(maxlen=window)
        self.frames_received = 0
        self.frames_read = 0
        self.malformed = 0
        self.undecodable = 0
        self._skipped_base: int | None = None  # the browser's count when we started counting
        self._skipped = 0
        self._size: tuple[int, int] | None = None

    def record(self, frame: EncodedFrame) -> None:
        """Count one arrival."""
        with self._lock:
            self.frames_received += 1
            self._arrivals.tick(frame.arrived_mono)
            self._latency.append(frame.latency_ms)
            self._encode.append(frame.encode_ms)
            if frame.rtt_ms is not None:
                self._rtt.append(frame.rtt_ms)
            self._bytes.append(len(frame.jpeg))
            # The browser's count is cumulative since its camera started; report it relative to
            # our first frame so a reset here (new source) starts from zero.
            if self._skipped_base is None or frame.skipped < self._skipped_base:
                self._skipped_base = frame.skipped
            self._skipped = frame.skipped - self._skipped_base
            self._size = (frame.width, frame.height)

    def record_read(self) -> None:
        with self._lock:
            self.frames_read += 1

    def record_malformed(self) -> None:
        with self._lock:
            self.malformed += 1

    def record_undecodable(self) -> None:
        with self._lock:
            self.undecodable += 1

    def snapshot(self, kernel_replaced: int = 0) -> BrowserCameraStats:
        with self._lock:
            sizes = list(self._bytes)
            return BrowserCameraStats(
                frames_received=self.frames_received,
                frames_read=self.frames_read,
                fps=self._arrivals.rate(),
                latency_ms_median=percentile(list(self._latency), 50),
                latency_ms_p95=percentile(list(self._latency), 95),
                encode_ms_median=percentile(list(self._encode), 50),
                rtt_ms_median=percentile(list(self._rtt), 50),
                browser_skipped=self._skipped,
                kernel_replaced=kernel_replaced,
                kb_per_frame=float(np.mean(sizes)) / 1024 if sizes else None,
                size=self._size,
                malformed=self.malformed,
                undecodable=self.undecodable,
            )
