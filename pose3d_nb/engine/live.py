"""What a display reads from a running engine: the newest frame with its 2D and the newest 3D."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from pose3d_nb.detectors.detection import Detection


@dataclass(frozen=True)
class LiveView:
    """The newest processed frame and the newest 3D pose.

    Attributes:
        image: (H, W, 3) RGB uint8, the newest frame.
        detection: its 2D result.
        frame_index: its index in the source.
        joints_3d: (17, 3) world metres of the newest lifted frame, None before the first pose.
        joints_valid: that frame had a person.
        joints_frame_index: the frame ``joints_3d`` belongs to; it trails ``frame_index`` by the
            lookahead.
    """

    image: np.ndarray
    detection: Detection
    frame_index: int
    joints_3d: np.ndarray | None
    joints_valid: bool
    joints_frame_index: int | None


class ViewBoard:
    """Holds the newest ``LiveView``; readers may wait for the next one."""

    def __init__(self) -> None:
        self._view: LiveView | None = None
        self._changed = threading.Condition()

    @property
    def latest(self) -> LiveView | None:
        return self._view

    def show(self, view: LiveView | None) -> None:
        with self._changed:
            self._view = view
            self._changed.notify_all()

    def wait_for_new(self, previous: LiveView | None, timeout: float) -> LiveView | None:
        """The newest view once it is not ``previous``; after ``timeout`` s, whatever is newest."""
        with self._changed:
            self._changed.wait_for(lambda: self._view is not previous, timeout)
            return self._view
