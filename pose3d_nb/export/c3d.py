"""C3D motion file, written with ``ezc3d`` (the maintained C3D library Biorbd and Pose2Sim use).

- Points: the 17 Human3.6M joints, labelled as in ``pose3d_nb.skeleton.H36M`` (pelvis, right_hip, ...).
- Axes: the session's world frame unchanged: z up, floor at z = 0 (C3D has no fixed axes; z up
  is the common lab set-up).
- Units: millimetres (default, the C3D custom) or metres, in ``POINT:UNITS``.
- Frame rate: ``POINT:RATE`` (the session's, or the one asked for).
- Frames without a person: residual -1 (the C3D flag for an invalid point) and NaN coordinates;
  every other point has residual 0.
- Length: at most ``MAX_FRAMES`` (65535) frames, the most the header's 16-bit frame count holds:
  ezc3d writes the points of a longer session but reads back (as other readers do) only the
  first 65535, so a longer one is refused rather than cut short without a word.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pose3d_nb.export.data import ExportData, ExportError, unit_scale
from pose3d_nb.export.formats import FORMATS
from pose3d_nb.recording import atomic_file
from pose3d_nb.skeleton import H36M

UNITS = FORMATS["c3d"].units  # the registry entry is where the units are declared
MAX_FRAMES = 0xFFFF  # the header's last-frame word (and POINT:FRAMES read unsigned) is 16-bit


def _c3d_object(data: ExportData, units: str):  # -> ezc3d.c3d
    """An ``ezc3d.c3d`` holding the points (4, 17, T), residuals (1, 17, T), labels, rate, units."""
    import ezc3d

    scale = unit_scale(units, UNITS)
    points = np.ones((4, H36M.num_joints, len(data)))
    points[:3] = np.transpose(data.joints * scale, (2, 1, 0))
    residuals = np.zeros((1, H36M.num_joints, len(data)))
    residuals[:, :, ~data.valid] = -1.0
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = [data.fps]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = list(H36M.joint_names)
    c3d["parameters"]["POINT"]["UNITS"]["value"] = [units]
    c3d["data"]["points"] = points
    c3d["data"]["meta_points"]["residuals"] = residuals
    return c3d


def write_c3d(path: str | Path, data: ExportData, units: str = "mm") -> Path:
    """Write ``data`` as a C3D file at ``path`` (atomically: ezc3d fills the temporary file).

    Raises ``ExportError`` for more than ``MAX_FRAMES`` frames (nothing is written then).
    """
    path = Path(path)
    if len(data) > MAX_FRAMES:
        # one recording run (a video file, a batch's video) has no shorter run to offer
        runs = len(np.unique(data.segment))
        shorter = "export one recording run (export_session(..., segment=N)) or " if runs > 1 else ""
        raise ExportError(
            f"C3D holds at most {MAX_FRAMES} frames and this export has {len(data)}: {shorter}"
            "use trc, csv or parquet"
        )
    c3d = _c3d_object(data, units)
    # ezc3d appends ".c3d" to a name without it: give the temporary file that suffix.
    with atomic_file(path, suffix=".tmp.c3d") as handle:
        c3d.write(handle.name)
    return path
