"""Rows at a fixed rate for the formats that have no time column (BVH, TRC, C3D).

Those files say one rate and play row after row at it. A live camera's rows are not evenly
spaced: the engine drops frames when it falls behind, so a 30 fps camera processed at about
25 fps records steps of 1/30 s and 2/30 s, the median step is 1/30 s, and written row after row
the motion played 1.2 times too fast. Here each recording run (``segment``) is laid on a grid at
the export's rate from its first row's time: a grid time that falls on a recorded row takes that
row as it is (an evenly spaced recording, a video file, comes out unchanged), one between two rows
with a person takes the pose linearly between them when they are at most ``MAX_BRIDGE_S`` (or 2.5
rows) apart, and any other one is a frame without a person.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pose3d_nb.export.data import ExportData

#: The longest stretch between two recorded poses that is filled in, seconds (at least 2.5 rows
#: of the export's rate): dropped frames, not a person gone for a while.
MAX_BRIDGE_S = 0.25
#: A grid time within this share of a row's period of a recorded row is that row.
ON_ROW = 0.25


def to_fixed_rate(data: ExportData) -> ExportData:
    """``data`` with one row per ``1 / data.fps`` seconds in each segment (see the module).

    Segments whose timestamps are not finite and strictly increasing are kept as recorded.
    ``timestamps`` become the grid's times; ``frame_index``, ``keypoints_2d`` and ``scores_2d``
    are those of the nearest recorded row.
    """
    period = 1.0 / data.fps
    bridge = max(MAX_BRIDGE_S, 2.5 * period)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # rows, lo, hi, weight
    times: list[np.ndarray] = []
    changed = False
    segments = np.asarray(data.segment)
    starts = np.flatnonzero(np.concatenate([[True], segments[1:] != segments[:-1]]))
    for start, stop in zip(starts, [*starts[1:], len(segments)], strict=True):
        ts = np.asarray(data.timestamps[start:stop], np.float64)
        rows = np.arange(start, stop)
        if len(ts) < 2 or not (np.isfinite(ts).all() and (np.diff(ts) > 0).all()):
            parts.append((rows, rows, rows, np.zeros(len(rows))))
            times.append(ts)
            continue
        grid = ts[0] + period * np.arange(int(np.floor((ts[-1] - ts[0]) / period + ON_ROW)) + 1)
        hi = np.clip(np.searchsorted(ts, grid), 1, len(ts) - 1)
        lo = hi - 1
        weight = (grid - ts[lo]) / (ts[hi] - ts[lo])
        nearest = np.where(weight < 0.5, lo, hi)
        on_row = np.abs(ts[nearest] - grid) <= ON_ROW * period
        weight = np.where(on_row, (nearest == hi).astype(float), weight)
        lo, hi = np.where(on_row, nearest, lo), np.where(on_row, nearest, hi)
        changed |= len(grid) != len(ts) or not on_row.all() or (nearest != np.arange(len(ts))).any()
        parts.append((start + nearest, start + lo, start + hi, np.clip(weight, 0.0, 1.0)))
        times.append(grid)
    if not changed:
        return data
    nearest, lo, hi, weight = (np.concatenate(column) for column in zip(*parts, strict=True))
    valid = data.valid[lo] & data.valid[hi]
    gap = np.asarray(data.timestamps, np.float64)[hi] - np.asarray(data.timestamps, np.float64)[lo]
    valid &= (lo == hi) | (gap <= bridge)
    w = weight[:, None, None]
    joints = np.where(valid[:, None, None], data.joints[lo] * (1 - w) + data.joints[hi] * w, np.nan)
    return replace(
        data, joints=joints, valid=valid, keypoints_2d=data.keypoints_2d[nearest],
        scores_2d=data.scores_2d[nearest], timestamps=np.concatenate(times),
        frame_index=np.asarray(data.frame_index)[nearest], segment=segments[nearest],
    )
