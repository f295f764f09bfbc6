"""Batch processing of video collections on Dask: ``pose3d batch`` and ``process``.

```python
from pose3d_nb.batch import process

table = process(["videos/", "more/*.mp4"], "results/", workers=2, export=["bvh"])
```

Each video gets ``results/NAME/session.npz``, the file ``pose3d run`` writes for it, plus the
exports; ``table`` is a pandas DataFrame, one row per video (``batch.table``). Modules:
``inputs`` (finding videos, naming outputs), ``placement`` (never sharing or replacing a
folder the batch did not make for the video), ``lock`` (one batch per output folder),
``settings``, ``task`` (one video on a worker), ``staging`` and ``manifest`` (atomic, resumable
output), ``cluster`` (a local pool or an existing Dask cluster), ``waits`` (bounded waits that a
stop ends), ``runner`` (``process``), ``table`` (rows, summary), ``clips`` (sample clips to try
it on).
"""

from pose3d_nb.batch.clips import sample_clips, write_clip
from pose3d_nb.batch.cluster import ClusterError
from pose3d_nb.batch.inputs import BatchInputError, find_videos, gather_videos, output_names
from pose3d_nb.batch.lock import BatchLockedError
from pose3d_nb.batch.placement import FolderInTheWay, place_outputs
from pose3d_nb.batch.runner import process
from pose3d_nb.batch.settings import BatchSettings
from pose3d_nb.batch.table import COLUMNS, STATUSES, exit_status, format_table, summary
from pose3d_nb.batch.task import process_video

__all__ = [
    "COLUMNS",
    "STATUSES",
    "BatchInputError",
    "BatchLockedError",
    "BatchSettings",
    "ClusterError",
    "FolderInTheWay",
    "exit_status",
    "find_videos",
    "format_table",
    "gather_videos",
    "output_names",
    "place_outputs",
    "process",
    "process_video",
    "sample_clips",
    "summary",
    "write_clip",
]
