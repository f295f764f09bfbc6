"""``PoseFeed``: streams vertex arrays into a pythreejs scene without per-frame state syncs.

Setting a pythreejs ``BufferAttribute.array`` from the kernel works, but pythreejs answers each
change with a state message back (the attribute's ``version``); at 30 poses a second that makes
the kernel report busy/idle 60 times a second and JupyterLab redraw its status each time, which
slows the 3D view in a busy browser (``docs/benchmarks.md``, ``tests/browser/bench_display.py``).
This widget sends each array as one custom message with a binary buffer; its front end
(``pose_feed.js``) copies it into the attribute's three.js buffer and asks the renderer to draw.
No state changes, so nothing comes back.
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import numpy as np
import pythreejs as three
import traitlets
from ipywidgets import widget_serialization

from pose3d_nb.errors import Pose3DValueError


class PoseFeed(anywidget.AnyWidget):
    """Feeds ``positions`` (a pythreejs ``BufferAttribute``) drawn by ``renderer``.

    It needs no display of its own: the front end acts as soon as the widget exists.
    ``send_vertices`` must keep the attribute's shape; the kernel-side ``positions.array``
    is not changed (see ``Skeleton3D.sync_state`` for that).
    """

    _esm = Path(__file__).with_name("pose_feed.js")
    positions = traitlets.Instance(three.BufferAttribute).tag(sync=True, **widget_serialization)
    renderer = traitlets.Instance(three.Renderer).tag(sync=True, **widget_serialization)

    def send_vertices(self, vertices: np.ndarray) -> None:
        """Show ``vertices`` (same shape as ``positions.array``, float32) in every open view."""
        data = np.ascontiguousarray(vertices, dtype=np.float32)
        expected = np.shape(self.positions.array)
        if data.shape != expected:
            raise Pose3DValueError(f"vertices must have shape {expected}, got {data.shape}")
        self.send({"type": "pose"}, buffers=[data.tobytes()])
