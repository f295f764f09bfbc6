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
    """Feeds ``positions`` (and optionally ``trail`` and ``others``; pythreejs
    ``BufferAttribute``s) drawn by ``renderer``.

    It needs no display of its own: the front end acts as soon as the widget exists.
    ``send_vertices`` must keep the attributes' shapes; the kernel-side arrays are not changed
    (see ``Skeleton3D.sync_state`` for that). Both arrays travel in one message.
    """

    _esm = Path(__file__).with_name("pose_feed.js")
    positions = traitlets.Instance(three.BufferAttribute).tag(sync=True, **widget_serialization)
    trail = traitlets.Instance(three.BufferAttribute, allow_none=True).tag(sync=True, **widget_serialization)
    others = traitlets.Instance(three.BufferAttribute, allow_none=True).tag(sync=True, **widget_serialization)
    renderer = traitlets.Instance(three.Renderer).tag(sync=True, **widget_serialization)

    def send_vertices(self, vertices: np.ndarray, trail: np.ndarray | None = None,
                      others: np.ndarray | None = None) -> None:
        """Show new arrays in every open view, as one message.

        Args:
            vertices: same shape as ``positions.array``; sent as float32.
            trail: same shape as ``trail.array``, or None to leave the trail as it is.
            others: same shape as ``others.array``, or None to leave it as it is.

        Raises:
            Pose3DValueError: a shape other than the attribute's (or an array without one).
        """
        targets, buffers = ["positions"], [_checked(vertices, self.positions, "vertices")]
        for name, values in (("trail", trail), ("others", others)):
            if values is None:
                continue
            attribute = getattr(self, name)
            if attribute is None:
                raise Pose3DValueError(f"this PoseFeed has no {name} attribute to send {name} to")
            targets.append(name)
            buffers.append(_checked(values, attribute, name))
        self.send({"type": "pose", "targets": targets}, buffers=buffers)


def _checked(values: np.ndarray, attribute: three.BufferAttribute, what: str) -> bytes:
    """``values`` as float32 bytes, if they have ``attribute``'s shape."""
    data = np.ascontiguousarray(values, dtype=np.float32)
    expected = np.shape(attribute.array)
    if data.shape != expected:
        raise Pose3DValueError(f"{what} must have shape {expected}, got {data.shape}")
    return data.tobytes()
