"""``VideoView``: a JPEG frame on display that reports where the user clicks on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets


class VideoView(anywidget.AnyWidget):
    """One image (``value``: JPEG or PNG bytes) in an ``<img>``; a click on it calls every
    ``on_click`` callback with where it landed, as fractions of the image's width and height
    (0-1 from the top left), whatever size the browser draws it at.

    It shows frames like ``ipywidgets.Image`` (one comm message per frame, binary) and its
    ``<img>`` has the same ``widget-image`` class.
    """

    _esm = Path(__file__).with_name("video_view.js")
    value = traitlets.Bytes(b"").tag(sync=True)
    format = traitlets.Unicode("jpeg").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._click_callbacks: list[Callable[[float, float], None]] = []
        self.on_msg(self._on_message)

    def on_click(self, callback: Callable[[float, float], None]) -> None:
        """Call ``callback(x, y)`` (fractions of the image, 0-1) on each click."""
        self._click_callbacks.append(callback)

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "click":
            return
        try:
            x, y = float(content["x"]), float(content["y"])
        except (KeyError, TypeError, ValueError):
            return  # a malformed message from the page is ignored, never raised in the kernel
        if 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0:
            for callback in list(self._click_callbacks):
                callback(x, y)
