"""The real-time engine: ``PoseEngine`` wires a source, a detector, a lifter and a recorder on
background threads (``engine.py``); ``devices.py`` owns the source and detector, ``handoff.py``
the queues between the threads; mixins give ``PoseEngine`` its settings as properties
(``knobs.py``), its changes while running (``switching.py``), what it reports (``readings.py``)
and its file exports (``exports.py``); ``stats.py`` counts, ``live.py`` holds what displays read."""

from pose3d_nb.engine.engine import EngineError, PoseEngine
from pose3d_nb.engine.live import LiveView
from pose3d_nb.engine.stats import EngineStats
from pose3d_nb.lifting.choice import LifterInfo

__all__ = ["EngineError", "EngineStats", "LifterInfo", "LiveView", "PoseEngine"]
