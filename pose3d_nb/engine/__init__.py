"""The real-time engine: ``PoseEngine`` wires a source, a detector, a lifter and a recorder on
background threads (``engine.py``); ``devices.py`` owns the source and detector, ``handoff.py``
the queues between the threads, ``knobs.py`` the settings as properties, ``exports.py`` writing
the recording on request, ``stats.py`` the counters, ``live.py`` what displays read."""

from pose3d_nb.engine.engine import EngineError, PoseEngine
from pose3d_nb.engine.live import LiveView
from pose3d_nb.engine.stats import EngineStats
from pose3d_nb.lifting.choice import LifterInfo

__all__ = ["EngineError", "EngineStats", "LifterInfo", "LiveView", "PoseEngine"]
