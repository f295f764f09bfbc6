"""The batch's result table: one row per video, and the summary the command prints.

A row is a plain dict with ``COLUMNS`` (tasks return it from the workers):

| column | what |
| --- | --- |
| path | the input video (absolute) |
| frames | frames recorded in its ``session.npz`` (missing when there is none) |
| valid_fraction | share of those frames with a person (0-1) |
| fps | frames processed per second of engine time, on its worker |
| seconds | wall time of its task, set-up (detector, lifter) and exports included; 0 when skipped
(but for the time spent adding exports to a reused recording) |
| status | ``ok``, ``skipped`` (up-to-date output reused, perhaps given the exports it lacked: not
processed again), ``failed`` or ``cancelled`` |
| error | why it failed or was cancelled (None otherwise) |
| output | its ``session.npz`` (exports lie beside it); None when there is no output (a ``failed``
row has one when only an export failed: the recording was kept) |
| note | for an ``ok`` or ``skipped`` row: why its frames lack a person (no frame has one; nobody
followed at the end, with whom the ``follow=`` choice waited for), as ``pose3d run`` says, and which
exports were added to a reused recording (``recording reused; export added: trc``); None otherwise |
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from pose3d_nb.errors import Pose3DValueError

COLUMNS = ("path", "frames", "valid_fraction", "fps", "seconds", "status", "error", "output", "note")
OK, SKIPPED, FAILED, CANCELLED = "ok", "skipped", "failed", "cancelled"
STATUSES = (OK, SKIPPED, FAILED, CANCELLED)


def make_row(path: str | Path, status: str, *, frames: int | None = None,
             valid_fraction: float | None = None, fps: float | None = None, seconds: float | None = None,
             error: str | None = None, output: str | Path | None = None,
             note: str | None = None) -> dict[str, Any]:
    """One table row (see the module docstring for the columns)."""
    if status not in STATUSES:
        raise Pose3DValueError(f"unknown status {status!r}")
    return {
        "path": str(path),
        "frames": frames,
        "valid_fraction": valid_fraction,
        "fps": fps,
        "seconds": seconds,
        "status": status,
        "error": error,
        "output": str(output) if output is not None else None,
        "note": note,
    }


def failed_row(path: str | Path, error: str, seconds: float | None = None) -> dict[str, Any]:
    """The row of a video that could not be processed, with the reason."""
    return make_row(path, FAILED, error=error, seconds=seconds)


def cancelled_row(path: str | Path) -> dict[str, Any]:
    """The row of a video the batch was stopped before finishing (Ctrl-C)."""
    return make_row(path, CANCELLED, error="the batch was interrupted before this video finished")


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a DataFrame with ``COLUMNS``: frames as a nullable integer, rates as floats.

    Args:
        rows (list[dict[str, Any]]): rows made by ``make_row`` (in the order to show).

    Returns:
        pandas.DataFrame: one row per video.
    """
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["frames"] = table["frames"].astype("Int64")
    for column in ("valid_fraction", "fps", "seconds"):
        table[column] = table[column].astype(float)
    return table


def counts(table: pd.DataFrame) -> dict[str, int]:
    """How many videos have each status (every status present, 0 when none)."""
    found = table["status"].value_counts()
    return {status: int(found.get(status, 0)) for status in STATUSES}


def exit_status(table: pd.DataFrame) -> int:
    """The command's exit status for a finished batch: 0 all ok or skipped, 1 when any failed."""
    return 1 if counts(table)[FAILED] else 0


def _number(value: Any, digits: int) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if digits else str(int(value))


def format_table(table: pd.DataFrame) -> str:
    """The table as text for a terminal: one line per video, then each failure's reason and each
    note (a video with no person found, or nobody followed)."""
    shown = pd.DataFrame({
        "video": table["path"],
        "status": table["status"],
        "frames": [_number(v, 0) for v in table["frames"]],
        "valid": [_number(v, 2) for v in table["valid_fraction"]],
        "fps": [_number(v, 1) for v in table["fps"]],
        "seconds": [_number(v, 1) for v in table["seconds"]],
        "output": [o if isinstance(o, str) else "-" for o in table["output"]],
    })
    lines = [shown.to_string(index=False)]
    failed = table[table["status"] == FAILED]
    for path, error in zip(failed["path"], failed["error"], strict=True):
        reason = error[len(path) + 2:] if error.startswith(f"{path}: ") else error
        lines.append(f"failed: {path}: {reason}")
    noted = table[table["note"].map(lambda n: isinstance(n, str) and bool(n))]
    lines += [f"note: {path}: {note}" for path, note in zip(noted["path"], noted["note"], strict=True)]
    return "\n".join(lines)


def summary(table: pd.DataFrame, seconds: float | None = None) -> str:
    """One line: how many videos of each status, frames recorded, wall time of the batch."""
    found = counts(table)
    done = table[table["status"] == OK]
    frames = int(done["frames"].sum()) if len(done) else 0
    text = f"{len(table)} videos: " + ", ".join(f"{found[s]} {s}" for s in STATUSES)
    text += f"; {frames} frames processed"
    if seconds:
        text += f" in {seconds:.1f} s ({len(done) / seconds:.2f} videos/s, {frames / seconds:.1f} frames/s)"
    return text
