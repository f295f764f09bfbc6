"""Notebook widgets for live pose display, one small component per module.

- ``overlay``: draw the 2D skeleton on a frame, encode JPEG (pure numpy/OpenCV)
- ``live_image.LiveImage``: the video view
- ``skeleton3d.Skeleton3D``: the orbitable 3D skeleton (pythreejs)
- ``joint_plot.JointPlot``: a live plot of an angle / coordinate / speed (ipympl)
- ``controls.Controls``: settings, Start/Stop and status line
- ``throttle``: display-rate limiting (latest value wins)
- ``app.PoseApp``: all of the above wired to a ``PoseEngine``

Names are imported lazily so that, e.g., ``pose3d_nb.ui.overlay`` does not pull in pythreejs.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "draw_skeleton_2d": "overlay",
    "encode_jpeg": "overlay",
    "LiveImage": "live_image",
    "Skeleton3D": "skeleton3d",
    "JointPlot": "joint_plot",
    "Controls": "controls",
    "RateLimiter": "throttle",
    "PoseApp": "app",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
