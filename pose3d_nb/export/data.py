"""What every writer gets: the session's rows checked, optionally smoothed, with one frame rate.

Axes: the session's world frame is metres, z up, floor at z = 0. ``to_y_up`` maps it to the y-up
frame of TRC and BVH, ``(x, y, z) -> (x, z, -y)``: a proper rotation (-90 degrees about x), so
Blender's BVH importer (which maps y-up files back to its z-up) restores the session's axes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from pose3d_nb.buffer import BufferSnapshot
from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.values import is_positive_number, is_whole_number

# Multipliers from metres for the length units the writers accept.
UNIT_SCALE = {"m": 1.0, "cm": 100.0, "mm": 1000.0}


class ExportError(Pose3DValueError):
    """The session cannot be exported as asked (empty, no valid frame, bad option, unwritable path)."""


@dataclass(frozen=True)
class ExportData:
    """A session ready to write; T rows, oldest first.

    joints (T, 17, 3) float64 world metres, z up, NaN where ``valid`` is False; valid (T,) bool
    (the frame had a person and finite joints); keypoints_2d (T, 17, 2) pixels; scores_2d (T, 17);
    timestamps (T,) seconds as recorded; frame_index (T,) source frame; segment (T,) run number;
    fps: the rate the file-based formats declare (BVH, TRC and C3D write one row per 1/fps s: see
    ``export.resample``);
    smooth_hz: the low-pass cutoff applied to ``joints``, or None.
    """

    joints: np.ndarray
    valid: np.ndarray
    keypoints_2d: np.ndarray
    scores_2d: np.ndarray
    timestamps: np.ndarray
    frame_index: np.ndarray
    segment: np.ndarray
    fps: float
    smooth_hz: float | None
    metadata: dict[str, Any]

    def __len__(self) -> int:
        return len(self.timestamps)


def estimate_fps(timestamps: np.ndarray, segment: np.ndarray) -> float | None:
    """Median frame rate (Hz) from consecutive timestamps within a segment; None if there are none."""
    steps = np.diff(np.asarray(timestamps, dtype=np.float64))
    same = np.diff(np.asarray(segment)) == 0
    steps = steps[same & np.isfinite(steps) & (steps > 0)]
    return float(1.0 / np.median(steps)) if len(steps) else None


def _frame_rate(
    fps: float | None, timestamps: np.ndarray, segment: np.ndarray, metadata: dict[str, Any],
    session: BufferSnapshot | None = None,
) -> float:
    """The rate to declare: ``fps`` if given, else from the (T,) ``timestamps`` of the rows
    exported (within each ``segment``), else from the whole ``session``'s (one exported row, or
    equal timestamps, say nothing), else the metadata's ``fps``."""
    rate = fps if fps is not None else estimate_fps(timestamps, segment)
    if rate is None and session is not None:
        rate = estimate_fps(session.timestamps, session.segment)
    if rate is None:
        rate = metadata.get("fps") or None
    if rate is None or not np.isfinite(rate) or rate <= 0:
        raise ExportError(f"cannot tell the frame rate (got {rate!r}): pass fps=")
    return round(float(rate), 6)


def one_person(data: BufferSnapshot, person: int | None, rows: np.ndarray | None = None) -> BufferSnapshot:
    """The rows of one person: ``person`` None, the followed person's (``joints_3d``...);
    a track id, that person's from the people columns (their 3D and 2D; no per-person 2D
    confidences are recorded, so ``scores_2d`` is NaN; valid where they were lifted).

    ``rows`` (T,) bool: the rows that will be exported (a segment); None: all.
    Raises ``ExportError`` when ``person`` is None and the followed person changed, within
    ``rows``, between two people who were in view together (a click in the live image,
    ``engine.follow``: one file would join two bodies into one skeleton), or when ``person`` was
    never recorded. Followed ids that were never in view together are taken for one person
    tracked again after leaving the view (a new id after ``max_lost_seconds``) and exported as one.
    """
    rows = np.ones(len(data), bool) if rows is None else np.asarray(rows, bool)
    if not rows.any():
        return data  # nothing to export: ``prepare`` says so
    ids = np.asarray(data.people_ids) if data.people_ids is not None else np.full((len(data), 1), -1)
    if person is None:
        track = np.asarray(data.track_id if data.track_id is not None else np.full(len(data), -1))
        followed = sorted({int(i) for i in track[rows & np.asarray(data.valid, bool) & (track >= 0)]})
        together = [(a, b) for a in followed for b in followed
                    if a < b and ((ids[rows] == a).any(1) & (ids[rows] == b).any(1)).any()]
        if together:
            pairs = "; ".join(f"{a} and {b}" for a, b in together)
            raise ExportError(
                f"the followed person changed during the session between people in view together "
                f"(track ids {pairs}); export one of them: person=ID (pose3d export --person ID)"
            )
        return data
    slots = ids == int(person)
    if not slots[rows].any():
        recorded = sorted({int(i) for i in ids[rows][ids[rows] >= 0]})
        known = ", ".join(map(str, recorded)) if recorded else "none (a single-person session)"
        raise ExportError(f"person {person} is not in the rows exported; track ids recorded there: {known}")
    present = slots.any(axis=1)
    slot = slots.argmax(axis=1)
    index, seen = np.arange(len(data)), present[:, None, None]
    joints = np.where(seen, data.people_joints_3d[index, slot], np.nan).astype(np.float32)
    keypoints = np.where(seen, data.people_keypoints_2d[index, slot], np.nan).astype(np.float32)
    unknown_scores = np.full(joints.shape[:2], np.nan, np.float32)
    return replace(
        data, joints_3d=joints, keypoints_2d=keypoints, scores_2d=unknown_scores, joints_camera=None,
        valid=present & np.isfinite(joints).all(axis=(1, 2)), track_id=np.where(present, int(person), -1),
    )


def check_options(fps: Any = None, smooth: Any = None, person: Any = None,
                  segment: Any = None) -> None:
    """The export options a value alone can rule out, before a session is read: what
    ``pose3d export`` refuses as --fps, --smooth and --person.

    Args:
        fps: None, or the frame rate to declare: a positive number (frames per second).
        smooth: None, or the low-pass cutoff: a positive number (Hz; its upper bound, half the
            frame rate, is checked once the rate is known).
        person: None, or a track id: a whole number >= 1.
        segment: None, or a recording run's number: a whole number >= 0.

    Raises:
        ExportError: a value out of these ranges (the message names it).
    """
    rules = (("fps", fps, "a positive frame rate"), ("smooth", smooth, "a positive cutoff in Hz"))
    for name, value, what in rules:
        if value is None:
            continue
        if not is_positive_number(value):
            raise ExportError(f"{name} must be {what} or None, got {value!r}")
    if segment is not None and (not is_whole_number(segment) or segment < 0):
        # "1" or 1.5 matched no row: "segment 1 has no rows (the session's segments: 0, 1)"
        raise ExportError(f"segment must be a recording run's number (a whole number, 0 or more) or "
                          f"None, got {segment!r}")
    if person is not None and (not is_whole_number(person) or person < 1):
        # Track ids start at 1 (as follow= says); 0 was taken here and failed once the session was read.
        raise ExportError(f"person must be a track id (a whole number; track ids start at 1) or None, "
                          f"got {person!r}")


def prepare(
    data: BufferSnapshot,
    metadata: dict[str, Any],
    fps: float | None = None,
    smooth: float | None = None,
    segment: int | None = None,
    person: int | None = None,
    fixed_rate: bool = False,
) -> ExportData:
    """Check a session, keep ``segment`` (None: every row) and ``person`` (None: the followed
    person; a track id: that person, ``one_person``), mask invalid frames with NaN, smooth.
    ``fixed_rate``: lay the rows on an even grid of their times at the rate estimated from them
    (``export.resample``; not when ``fps`` is given: then the rows are declared at that rate).

    Raises ``ExportError`` for an empty session, one without any valid frame, a bad rate or
    cutoff, a followed person who changed (without ``person``) or a person not recorded.
    """
    check_options(fps=fps, smooth=smooth, person=person, segment=segment)
    rows = np.ones(len(data), dtype=bool) if segment is None else np.asarray(data.segment) == segment
    data = one_person(data, person, rows)
    if person is not None:
        metadata = {**metadata, "exported_person": int(person)}
    if not rows.any():
        segments = ", ".join(str(int(n)) for n in np.unique(np.asarray(data.segment)))
        what = ("the session is empty" if not len(data)
                else f"segment {segment} has no rows (the session's segments: {segments})")
        raise ExportError(f"nothing to export: {what}")
    joints = np.asarray(data.joints_3d, dtype=np.float64)[rows]
    valid = np.asarray(data.valid, dtype=bool)[rows] & np.isfinite(joints).all(axis=(1, 2))
    if not valid.any():
        raise ExportError(f"nothing to export: none of the {int(rows.sum())} frames has a person")
    joints[~valid] = np.nan
    prepared = ExportData(
        joints=joints,
        valid=valid,
        keypoints_2d=np.asarray(data.keypoints_2d, dtype=np.float64)[rows],
        scores_2d=np.asarray(data.scores_2d, dtype=np.float64)[rows],
        timestamps=np.asarray(data.timestamps, dtype=np.float64)[rows],
        frame_index=np.asarray(data.frame_index)[rows],
        segment=np.asarray(data.segment)[rows],
        fps=_frame_rate(fps, np.asarray(data.timestamps)[rows], np.asarray(data.segment)[rows], metadata,
                        session=data),
        smooth_hz=None,
        metadata=dict(metadata),
    )
    if fixed_rate and fps is None:
        from pose3d_nb.export.resample import to_fixed_rate

        prepared = to_fixed_rate(prepared)
    if smooth is None:
        return prepared
    from pose3d_nb.export.smoothing import butterworth_lowpass  # scipy, only when asked for

    smoothed = butterworth_lowpass(prepared.joints, prepared.valid, prepared.fps, smooth,
                                   segment=prepared.segment)
    return replace(prepared, joints=smoothed, smooth_hz=float(smooth))


def to_y_up(points: np.ndarray) -> np.ndarray:
    """(..., 3) z-up world -> y-up: ``(x, y, z) -> (x, z, -y)`` (same units)."""
    points = np.asarray(points)
    return np.stack([points[..., 0], points[..., 2], -points[..., 1]], axis=-1)


def unit_scale(units: str, allowed: tuple[str, ...]) -> float:
    """Metres -> ``units`` multiplier; ``ExportError`` if ``units`` is not one of ``allowed``."""
    if units not in allowed:
        raise ExportError(f"units must be one of {allowed}, not {units!r}")
    return UNIT_SCALE[units]
