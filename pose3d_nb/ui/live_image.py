"""The live video view: a JPEG frame with the 2D skeleton drawn on it, that can be clicked."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets
import numpy as np

from pose3d_nb.ui.overlay import draw_people_2d, draw_skeleton_2d, encode_jpeg, fit_width
from pose3d_nb.ui.video_view import VideoView


class LiveImage:
    """Shows video frames with their 2D keypoints.

    ``widget`` is the :class:`VideoView` to lay out. Frames are shrunk to ``max_width`` before
    drawing (cheaper than drawing at full size, and lines keep a readable width on the wire)
    and sent as JPEG: one comm message per frame.

    Args:
        max_width: the widest frame sent, in pixels.
        quality: JPEG quality, 0-100.
        min_score: keypoints scored lower are not drawn.
        width: the widget's CSS width.
    """

    def __init__(self, max_width: int = 640, quality: int = 80, min_score: float = 0.3, width: str = "100%"):
        self.max_width = max_width
        self.quality = quality
        self.min_score = min_score
        self.widget = VideoView(format="jpeg", layout=widgets.Layout(width=width, height="auto"))
        self.frames_shown = 0
        self.frame_size: tuple[int, int] | None = None  # (width, height) of the last frame drawn

    def on_click(self, callback: Callable[[float, float], None]) -> None:
        """Call ``callback(x, y)`` with the pixel of the full-size frame a user clicks on."""

        def to_pixels(fx: float, fy: float) -> None:
            if self.frame_size is not None:
                width, height = self.frame_size
                # A click on the far edge (fraction 1.0) is the last pixel, not one past it.
                callback(min(fx * width, width - 1), min(fy * height, height - 1))

        self.widget.on_click(to_pixels)

    def render(self, image_rgb: np.ndarray, keypoints: np.ndarray | None = None,
               scores: np.ndarray | None = None, people: dict | None = None) -> bytes:
        """JPEG bytes of the frame with its skeleton (no widget update; used by ``show``).

        Args:
            image_rgb: (H, W, 3) uint8 RGB.
            keypoints: (17, 2) COCO pixels of the full-size frame, NaN for missing, or None
                for no overlay at all.
            scores: (17,) keypoint confidences, or None.
            people: everyone in view, from a people detector's extras (``people_ids``,
                ``people_keypoints``, ``people_scores``, ``track_id``): drawn dimmed with ids.

        Returns:
            The JPEG file's bytes.
        """
        self.frame_size = (int(image_rgb.shape[1]), int(image_rgb.shape[0]))
        small, scale = fit_width(np.ascontiguousarray(image_rgb, dtype=np.uint8), self.max_width)
        missing_label = "no person"
        if people and people.get("people_ids") is not None and len(people["people_ids"]):
            others = np.asarray(people["people_keypoints"]) * scale
            small = draw_people_2d(small, people["people_ids"], others, people.get("people_scores"),
                                   people.get("track_id"), self.min_score)
            # Others are drawn with their ids: "no person" above them read as a wrong detection.
            followed = people.get("track_id")
            missing_label = (f"person {followed} not in view" if followed is not None and followed >= 0
                             else "nobody followed yet")
        if keypoints is not None:
            small = draw_skeleton_2d(small, np.asarray(keypoints, np.float64) * scale, scores, self.min_score,
                                     missing_label)
        return encode_jpeg(small, self.quality, max_width=None)

    def show(self, image_rgb: np.ndarray, keypoints: np.ndarray | None = None,
             scores: np.ndarray | None = None, people: dict | None = None) -> None:
        """Draw and display one frame (any thread; one message to the browser); as ``render``."""
        self.widget.value = self.render(image_rgb, keypoints, scores, people)
        self.frames_shown += 1
