"""TRC marker file, as OpenSim reads it and Pose2Sim / Sports2D write it.

- Markers: the 17 Human3.6M joints, named as in ``pose3d_nb.skeleton.H36M`` (pelvis, right_hip, ...).
- Axes: y up (OpenSim's convention), from the session's z-up world by ``(x, y, z) -> (x, z, -y)``;
  the floor is at y = 0. The person faces wherever they faced in the session.
- Units: metres (default) or millimetres, stated in the header's ``Units`` field.
- Rows: ``Frame#`` from 1 and ``Time`` = (Frame# - 1) / DataRate; frames without a person have
  empty fields (OpenSim reads them as missing), never zeros.
- Tab separated, header as Pose2Sim writes it::

    PathFileType  4  (X/Y/Z)  NAME.trc
    DataRate  CameraRate  NumFrames  NumMarkers  Units  OrigDataRate  OrigDataStartFrame  OrigNumFrames
    60  60  100  17  m  60  1  100
    Frame#  Time  pelvis      right_hip ...
                  X1  Y1  Z1  X2  Y2  Z2 ...
"""

from __future__ import annotations

import io
from pathlib import Path

from pose3d_nb.export.data import ExportData, to_y_up, unit_scale
from pose3d_nb.export.formats import FORMATS
from pose3d_nb.recording import atomic_file
from pose3d_nb.skeleton import H36M

UNITS = FORMATS["trc"].units  # the registry entry is where the units are declared


def trc_header(name: str, fps: float, num_frames: int, units: str) -> list[str]:
    """The five header lines (without newlines) for ``num_frames`` frames of the 17 markers."""
    markers = H36M.joint_names
    rate = f"{fps:g}"
    values = [rate, rate, num_frames, len(markers), units, rate, 1, num_frames]
    return [
        f"PathFileType\t4\t(X/Y/Z)\t{name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        "\t".join(str(v) for v in values),
        "Frame#\tTime\t" + "\t\t\t".join(markers) + "\t\t",
        "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, len(markers) + 1)),
    ]


def write_trc(path: str | Path, data: ExportData, units: str = "m") -> Path:
    """Write ``data`` as a TRC file at ``path`` (atomically); returns the path.

    Coordinates are written with 6 decimals in metres (1 micrometre) or 3 in millimetres.
    """
    path = Path(path)
    scale = unit_scale(units, UNITS)
    decimals = 6 if units == "m" else 3
    points = to_y_up(data.joints) * scale
    text = io.StringIO()
    text.write("\n".join(trc_header(path.name, data.fps, len(data), units)) + "\n")
    empty = "\t".join([""] * points[0].size)
    for row, frame in enumerate(points):
        values = "\t".join(f"{v:.{decimals}f}" for v in frame.ravel()) if data.valid[row] else empty
        text.write(f"{row + 1}\t{row / data.fps:.6f}\t{values}\n")
    with atomic_file(path) as handle:
        handle.write(text.getvalue().encode())
    return path
