"""The session as tables: tidy (one row per frame and joint) and per frame (one row per frame).

Both layouts share their column names and their fields (``time`` in seconds with microsecond
precision, other floats in ``%.6g``, NaN as an empty field, booleans as 0/1); they differ in shape
and in what they keep:

- **tidy** (``export_session(..., "csv" | "parquet")``, ``write_table_csv``/``write_parquet``):
  T x 17 rows, for pandas' ``groupby("joint")``; goes through ``export.data.prepare`` (a frame
  rate is fixed, a session without any person is refused, ``smooth``/``segment`` apply).
- **per frame** (``write_frame_csv``: ``engine.export_csv()``, ``pose3d run --csv``,
  ``session.csv``): T rows, every recorded row as it is, for a spreadsheet; an empty session or
  one without a person is written too.

Tidy columns (frame-major, joints in ``pose3d_nb.skeleton.H36M`` order):

| column | meaning |
| --- | --- |
| ``frame`` | row number in the export, from 0 (BVH/TRC frame = frame + 1) |
| ``segment`` | recording run (time restarts with each) |
| ``frame_index`` | frame number in the source |
| ``time`` | seconds, as recorded (source time for files, clock time for cameras) |
| ``joint`` | Human3.6M joint name (pelvis, right_hip, ...) |
| ``x``, ``y``, ``z`` | world metres, z up, floor at z = 0; empty/NaN where no person |
| ``valid`` | the frame had a person (bool; 0/1 in CSV) |
| ``u``, ``v`` | the 2D keypoint in pixels of the COCO keypoint at that body place (NaN if none) |
| ``score`` | the 2D detector's confidence for that keypoint (0 if none) |

The 2D columns come from the COCO keypoint that marks the same body place (``COCO_FOR_H36M``);
joints the detector does not output (pelvis, spine, neck, head) have NaN ``u``/``v`` and score 0.
Per-frame columns: ``segment``, ``frame_index``, ``time``, ``valid``, then ``<joint>_x|y|z`` for
the 17 Human3.6M joints (world metres, z up) and ``kp2d_<keypoint>_x|y`` and
``kp2d_<keypoint>_score`` for the 17 COCO keypoints (pixels), see ``frame_csv_header``.
Parquet is written through pyarrow; CSV through NumPy string formatting.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pose3d_nb.buffer import BufferSnapshot
from pose3d_nb.export.data import ExportData
from pose3d_nb.recording import atomic_file
from pose3d_nb.skeleton import COCO, H36M

COLUMNS = ("frame", "segment", "frame_index", "time", "joint", "x", "y", "z", "valid", "u", "v", "score")


def _coco_name(h36m_name: str) -> str:
    """The COCO name for the same body place (feet are ankles, hands are wrists)."""
    return h36m_name.replace("_foot", "_ankle").replace("_hand", "_wrist")


# H36M joint -> the COCO keypoint at the same body place (H36M's nose joint is COCO's nose).
COCO_FOR_H36M = {
    name: COCO.index(_coco_name(name)) for name in H36M.joint_names if _coco_name(name) in COCO.joint_names
}


def _keypoints_per_joint(data: ExportData) -> tuple[np.ndarray, np.ndarray]:
    """(T, 17, 2) pixels and (T, 17) scores laid out by H36M joint; NaN / 0 where there is none."""
    uv = np.full((len(data), H36M.num_joints, 2), np.nan)
    score = np.zeros((len(data), H36M.num_joints))
    for name, coco in COCO_FOR_H36M.items():
        uv[:, H36M.index(name)] = data.keypoints_2d[:, coco]
        score[:, H36M.index(name)] = data.scores_2d[:, coco]
    return uv, score


def tidy_columns(data: ExportData) -> dict[str, np.ndarray]:
    """The table as column arrays of length T * 17 (see the module docstring)."""
    frames, joints = len(data), H36M.num_joints
    uv, score = _keypoints_per_joint(data)
    xyz = data.joints.reshape(-1, 3)
    return {
        "frame": np.repeat(np.arange(frames), joints),
        "segment": np.repeat(data.segment, joints),
        "frame_index": np.repeat(data.frame_index, joints),
        "time": np.repeat(data.timestamps, joints),
        "joint": np.tile(np.array(H36M.joint_names, dtype=object), frames),
        "x": xyz[:, 0],
        "y": xyz[:, 1],
        "z": xyz[:, 2],
        "valid": np.repeat(data.valid, joints),
        "u": uv.reshape(-1, 2)[:, 0],
        "v": uv.reshape(-1, 2)[:, 1],
        "score": score.ravel(),
    }


def write_parquet(path: str | Path, data: ExportData) -> Path:
    """Write the tidy table as Parquet (pyarrow, default compression) at ``path``, atomically.

    NaN is written as null (the CSV's empty field): readers other than pandas (pyarrow, DuckDB,
    Polars) take NaN for a number, so a mean over a column would be NaN; pandas reads null as NaN.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = tidy_columns(data)
    table = pa.table({name: pa.array(values, from_pandas=True) for name, values in columns.items()})
    table = table.replace_schema_metadata({"fps": f"{data.fps:g}", "units": "m", "axes": "z up"})
    with atomic_file(path) as handle:
        pq.write_table(table, handle)
    return Path(path)


def _text(values: np.ndarray, float_format: str = "%.6g") -> np.ndarray:
    """A column as CSV fields: floats in ``float_format`` with NaN empty, bools as 0/1."""
    if values.dtype == bool:
        return values.astype(np.int8).astype(str)
    if np.issubdtype(values.dtype, np.floating):
        text = np.char.mod(float_format, values).astype(object)
        text[np.isnan(values)] = ""
        return text
    return values.astype(str)


def _write_csv(path: str | Path, columns: dict[str, np.ndarray]) -> Path:
    """``columns`` (name -> (N,) values) as CSV at ``path``, atomically; ``time`` to the microsecond.

    No field needs quoting: the names and the joint names are plain identifiers.
    """
    fields = [_text(values, "%.6f" if name == "time" else "%.6g") for name, values in columns.items()]
    rows = "".join(",".join(row) + "\n" for row in zip(*fields, strict=True))
    with atomic_file(path) as handle:
        handle.write((",".join(columns) + "\n" + rows).encode())
    return Path(path)


def write_table_csv(path: str | Path, data: ExportData) -> Path:
    """Write the tidy table as CSV at ``path``, atomically (see the module docstring)."""
    columns = tidy_columns(data)
    return _write_csv(path, {name: columns[name] for name in COLUMNS})


def frame_csv_header() -> list[str]:
    """The per-frame CSV's column names, in order (see the module docstring)."""
    header = ["segment", "frame_index", "time", "valid"]
    header += [f"{name}_{axis}" for name in H36M.joint_names for axis in "xyz"]
    header += [f"kp2d_{name}_{axis}" for name in COCO.joint_names for axis in "xy"]
    header += [f"kp2d_{name}_score" for name in COCO.joint_names]
    return header


def write_frame_csv(path: str | Path, data: BufferSnapshot) -> Path:
    """Write every recorded row as one CSV line per frame at ``path``, atomically.

    Args:
        path: the file to write (its folder is created).
        data: a ``BufferSnapshot`` or a loaded ``Session``: joints_3d (T, 17, 3) world metres,
            keypoints_2d (T, 17, 2) pixels, scores_2d (T, 17), timestamps, frame_index, valid,
            segment (T,). T may be 0 (a header only).

    Returns:
        ``path``.
    """
    rows = len(data.timestamps)
    flat = np.concatenate(
        [
            np.asarray(data.joints_3d, np.float64).reshape(rows, H36M.num_joints * 3),
            np.asarray(data.keypoints_2d, np.float64).reshape(rows, COCO.num_joints * 2),
            np.asarray(data.scores_2d, np.float64).reshape(rows, COCO.num_joints),
        ],
        axis=1,
    )
    header = frame_csv_header()
    columns = {
        "segment": np.asarray(data.segment, np.int64),
        "frame_index": np.asarray(data.frame_index, np.int64),
        "time": np.asarray(data.timestamps, np.float64),
        "valid": np.asarray(data.valid, bool),
    }
    columns.update({name: flat[:, i] for i, name in enumerate(header[4:])})
    return _write_csv(path, columns)
