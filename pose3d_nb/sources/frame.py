"""The frame contract shared by every source."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One image from a source.

    image: (H, W, 3) uint8, always RGB order (sources convert; OpenCV's BGR never leaks out).
    index: 0-based position in the source (for files: the frame number in the file).
    timestamp: seconds. Files: ``index / fps`` (media time). Live sources: ``time.monotonic()``
        when the frame was captured, so end-to-end latency is ``time.monotonic() - timestamp``.
    captured_at: ``time.monotonic()`` when the source produced the frame (all sources), for
        latency measurements that must not depend on media time.
    """

    image: np.ndarray
    index: int
    timestamp: float
    captured_at: float

    color_order = "RGB"

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])
