"""pose3d_nb: live 3D human pose estimation (VideoPose3D) inside Jupyter.

The front door (each name is imported on first use, so ``import pose3d_nb`` stays light)::

    from pose3d_nb import Pose3D, PoseEngine, PoseApp, Settings, load_session

- ``Pose3D``: synchronous, no threads: ``process(image)`` returns the poses that became due
  (a list, usually one ``PoseResult``), ``flush()`` the rest (``pose3d_nb.pose3d``).
- ``PoseEngine``: capture, detection and lifting on background threads (``pose3d_nb.engine``).
- ``PoseApp``: the notebook app around an engine (``pose3d_nb.ui.app``).
- ``Settings``: every choice with its default; ``PoseEngine(settings=Settings(...), **overrides)``,
  ``Pose3D(settings=...)`` and ``PoseApp(settings=...)`` take one (``pose3d_nb.settings``).
- ``load_session``: read a recorded ``session.npz`` back (``pose3d_nb.recording``).
- ``Pose3DError``: the base of every exception the package raises on purpose (``pose3d_nb.errors``).

All of them name the 3D lifter ``lifter`` ("auto", "shipped", "mediapipe" or a checkpoint path).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Pose3D": "pose3d_nb.pose3d",
    "PoseResult": "pose3d_nb.pose3d",
    "PoseEngine": "pose3d_nb.engine",
    "PoseApp": "pose3d_nb.ui.app",
    "load_session": "pose3d_nb.recording",
    "Pose3DError": "pose3d_nb.errors",
    "Settings": "pose3d_nb.settings",
}

__all__ = [
    "Pose3D", "Pose3DError", "PoseApp", "PoseEngine", "PoseResult", "Settings", "__version__", "load_session",
]

if TYPE_CHECKING:
    from pose3d_nb.engine import PoseEngine
    from pose3d_nb.errors import Pose3DError
    from pose3d_nb.pose3d import Pose3D, PoseResult
    from pose3d_nb.recording import load_session
    from pose3d_nb.settings import Settings
    from pose3d_nb.ui.app import PoseApp


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pose3d_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
