"""C3D motion file, written with ``ezc3d`` (the maintained C3D library Biorbd and Pose2Sim use).

- Points: the 17 Human3.6M joints, labelled as in ``pose3d_nb.skeleton.H36M`` (pelvis, right_hip, ...).
- Axes: the session's world frame unchanged: z up, floor at z = 0 (C3D has no fixed axes; z up
  is the common lab set-up).
- Units: millimetres (default, the C3D custom) or metres, in ``POINT:UNITS``.
- Frame rate: ``POINT:RATE`` (the session's, or the one asked for).
- Frames without a person: residual -1 (the C3D flag for an invalid point) and NaN coordinates;
  every other point has residual 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pose3d_nb.export.data import ExportData, unit_scale
from pose3d_nb.export.formats import FORMATS
from pose3d_nb.recording import atomic_file
from pose3d_nb.skeleton import H36M

UNITS = FORMATS["c3d"].units  # the registry entry is where the units are declared


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
    """Write ``data`` as a C3D file at ``path`` (atomically: ezc3d fills the temporary file)."""
    path = Path(path)
    c3d = _c3d_object(data, units)
    # ezc3d appends ".c3d" to a name without it: give the temporary file that suffix.
    with atomic_file(path, suffix=".tmp.c3d") as handle:
        c3d.write(handle.name)
    return path
