"""The rolling joint buffer: a fixed-capacity, thread-safe record of the newest poses."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from pose3d_nb.settings import DEFAULTS, check_capacity
from pose3d_nb.skeleton import NUM_JOINTS


@dataclass(frozen=True)
class Column:
    """One per-row column of a recording: the shape of one row's value and its dtype.

    ``fill`` is the value of rows that have none: a ``PoseSample`` field left at None, and every
    row of a file written before the column existed (so old sessions load with the column).
    """

    shape: tuple[int, ...]
    dtype: Any
    fill: Any


#: People recorded per row besides the followed one's own columns (the first MAX_PEOPLE by id).
MAX_PEOPLE = 4

#: Every per-row column, in file order: the one table the buffer, the recorder's chunks,
#: ``session.npz`` and ``load_session`` all read. Adding a column here (plus a field of the same
#: name, default None, on ``PoseSample`` and ``BufferSnapshot``) is all the file logic needs.
COLUMNS: dict[str, Column] = {
    "joints_3d": Column((NUM_JOINTS, 3), np.float32, np.nan),
    "keypoints_2d": Column((NUM_JOINTS, 2), np.float32, np.nan),
    "scores_2d": Column((NUM_JOINTS,), np.float32, 0.0),
    "timestamps": Column((), np.float64, np.nan),
    "frame_index": Column((), np.int64, -1),
    "valid": Column((), bool, False),
    "segment": Column((), np.int64, 0),
    # Everyone in view (a people detector, ``detectors.mediapipe_people``): the followed person's
    # track id, and up to MAX_PEOPLE people seen in the frame, by id (-1 / NaN where fewer).
    "track_id": Column((), np.int64, -1),
    "people_ids": Column((MAX_PEOPLE,), np.int64, -1),
    "people_keypoints_2d": Column((MAX_PEOPLE, NUM_JOINTS, 2), np.float32, np.nan),
    "people_joints_3d": Column((MAX_PEOPLE, NUM_JOINTS, 3), np.float32, np.nan),
    # The followed person in the camera's axes (x right, y down, z forward, metres, root
    # translation included): what ``pose3d_nb.world`` placed in the world as joints_3d.
    "joints_camera": Column((NUM_JOINTS, 3), np.float32, np.nan),
}

#: ``PoseSample`` names a row's value in the singular where the column is plural.
SAMPLE_FIELD = {"timestamps": "timestamp"}


@dataclass(frozen=True)
class PoseSample:
    """One frame's record.

    joints_3d: (17, 3) world metres, z up, floor at 0, Human3.6M order (NaN only if ``valid`` is
    False and no detection had been seen yet). keypoints_2d: (17, 2) COCO pixels (NaN when nobody
    was found). scores_2d: (17,). timestamp: seconds (source time). frame_index: index in its
    source. valid: the frame had a detection. segment: increments each time the source (re)starts.
    """

    joints_3d: np.ndarray
    keypoints_2d: np.ndarray
    scores_2d: np.ndarray
    timestamp: float
    frame_index: int
    valid: bool
    segment: int
    track_id: int | None = None
    people_ids: np.ndarray | None = None
    people_keypoints_2d: np.ndarray | None = None
    people_joints_3d: np.ndarray | None = None
    joints_camera: np.ndarray | None = None

    def value(self, column: str) -> Any:
        """This row's value for ``column`` (a name of ``COLUMNS``); its ``fill`` when None."""
        value = getattr(self, SAMPLE_FIELD.get(column, column), None)
        return COLUMNS[column].fill if value is None else value


@dataclass(frozen=True)
class BufferSnapshot:
    """Copies of every column, oldest row first; T rows.

    joints_3d (T, 17, 3) world metres z-up; keypoints_2d (T, 17, 2) pixels; scores_2d (T, 17);
    timestamps (T,) seconds; frame_index (T,) int64; valid (T,) bool; segment (T,) int64;
    track_id (T,) int64 the followed person's id (-1: none); people_ids (T, MAX_PEOPLE) int64
    (-1: no one); people_keypoints_2d (T, MAX_PEOPLE, 17, 2) pixels; people_joints_3d
    (T, MAX_PEOPLE, 17, 3) world metres like joints_3d, each person placed in the room the
    followed person's frames estimated (sessions recorded before 2026-12-05: each in their own
    lifter's upright frame; NaN where not lifted); joints_camera (T, 17, 3) camera
    metres, x right, y down, z forward (NaN in sessions recorded before world grounding).
    """

    joints_3d: np.ndarray
    keypoints_2d: np.ndarray
    scores_2d: np.ndarray
    timestamps: np.ndarray
    frame_index: np.ndarray
    valid: np.ndarray
    segment: np.ndarray
    track_id: np.ndarray | None = None
    people_ids: np.ndarray | None = None
    people_keypoints_2d: np.ndarray | None = None
    people_joints_3d: np.ndarray | None = None
    joints_camera: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.timestamps)

    def columns(self) -> dict[str, np.ndarray]:
        """Every column of ``COLUMNS`` by name (the arrays themselves, not copies; a column left
        at None, e.g. by code written before it existed, comes back filled)."""
        values = {name: getattr(self, name) for name in COLUMNS}
        return {name: empty_column(name, len(self)) if value is None else value
                for name, value in values.items()}


@dataclass(frozen=True)
class RowPlacement:
    """A recorded row's pose placed again in the world (``world.WorldStage.take_placed_again``):
    for the newest row of ``segment`` and ``frame_index`` (and in ``engine.people``, of the
    person ``track_id``), (17, 3) ``joints_3d`` world metres and ``joints_camera`` camera metres."""

    segment: int
    frame_index: int
    track_id: int | None
    joints_3d: np.ndarray
    joints_camera: np.ndarray


def own_people_slots(people_ids: np.ndarray, people_joints_3d: np.ndarray, track_id: int,
                     joints_3d: np.ndarray) -> np.ndarray:
    """(MAX_PEOPLE,) bool: the slots of one row's people columns (``people_ids`` (MAX_PEOPLE,),
    ``people_joints_3d`` (MAX_PEOPLE, 17, 3)) that hold the followed person ``track_id``'s own
    pose, ``joints_3d`` (17, 3), as the row was recorded (``recording.people.people_columns``
    fills that slot from it): where a row's joints are placed again, those slots must be too, or
    the row holds the person twice, in two rooms (``pose3d export --person`` reads the slot)."""
    if track_id < 0:  # no people detector: no slots
        return np.zeros(len(people_ids), bool)
    joints = np.asarray(joints_3d)
    same = (people_joints_3d == joints) | (np.isnan(people_joints_3d) & np.isnan(joints))
    return (people_ids == track_id) & same.all(axis=(-2, -1))


def empty_column(name: str, rows: int) -> np.ndarray:
    """``rows`` rows of column ``name`` holding its fill value."""
    column = COLUMNS[name]
    return np.full((rows, *column.shape), column.fill, dtype=column.dtype)


def stack_rows(samples: list[PoseSample]) -> dict[str, np.ndarray]:
    """The columns of ``samples`` (oldest first): name -> (len(samples), *shape) array.

    Filled row by row rather than by one ``np.array(list)`` call: each small copy lets other
    threads (the engine's lift thread) take the GIL between rows.
    """
    columns = {name: np.empty((len(samples), *c.shape), dtype=c.dtype) for name, c in COLUMNS.items()}
    for row, sample in enumerate(samples):
        for name, array in columns.items():
            array[row] = sample.value(name)
    return columns


class RollingBuffer:
    """Keeps the newest ``capacity`` poses; memory is allocated once and stays flat.

    Appends come from the engine's thread; every read returns copies in chronological order, so
    a notebook cell can analyse, plot or save them while capture goes on.
    """

    def __init__(self, capacity: int = DEFAULTS.capacity):
        self.capacity = check_capacity(capacity)
        self._lock = threading.Lock()
        # Zeroed arrays come from the OS as untouched pages: a large capacity costs memory only
        # as rows arrive (about 2 KB a row, the people columns most of it). Rows are read only once written.
        self._data = {
            name: np.zeros((self.capacity, *column.shape), dtype=column.dtype)
            for name, column in COLUMNS.items()
        }
        self._count = 0  # rows ever appended
        self._changed = threading.Condition(self._lock)

    def __len__(self) -> int:
        with self._lock:
            return min(self._count, self.capacity)

    @property
    def total_appended(self) -> int:
        """Rows appended since creation (including those rolled out)."""
        with self._lock:
            return self._count

    def append(self, sample: PoseSample) -> None:
        """Add one frame's record, overwriting the oldest when full."""
        with self._lock:
            row = self._count % self.capacity
            for name in COLUMNS:
                self._data[name][row] = sample.value(name)
            self._count += 1
            self._changed.notify_all()

    def place_again(self, rows: list[RowPlacement]) -> int:
        """Rewrite the joints of the held rows ``rows`` name (the newest row of each segment and
        frame index), the followed person's own slot of the people columns with them
        (``own_people_slots``); the number rewritten. Rows rolled out of the buffer are skipped."""
        done = 0
        with self._lock:
            size = min(self._count, self.capacity)
            if not size or not rows:
                return 0
            order = (np.arange(self._count - size, self._count)) % self.capacity
            segments, frames = self._data["segment"][order], self._data["frame_index"][order]
            for row in rows:
                held = np.flatnonzero((segments == row.segment) & (frames == row.frame_index))
                if len(held):
                    slot = order[held[-1]]
                    people = self._data["people_joints_3d"][slot]  # a view: written in place
                    people[own_people_slots(self._data["people_ids"][slot], people,
                                            int(self._data["track_id"][slot]),
                                            self._data["joints_3d"][slot])] = row.joints_3d
                    self._data["joints_3d"][slot] = row.joints_3d
                    self._data["joints_camera"][slot] = row.joints_camera
                    done += 1
        return done

    def wait_for(self, total: int, timeout: float | None = None) -> bool:
        """Block until at least ``total`` rows were ever appended (tests, scripts)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count >= total, timeout)

    def clear(self) -> None:
        with self._lock:
            self._count = 0

    def _ordered(self, name: str, last: int | None) -> np.ndarray:
        size = min(self._count, self.capacity)
        take = size if last is None else max(0, min(int(last), size))
        end = self._count % self.capacity
        indices = (np.arange(end - take, end)) % self.capacity
        return self._data[name][indices]

    def snapshot(self, last: int | None = None) -> BufferSnapshot:
        """Copies of all columns (optionally only the ``last`` rows), consistent with each other."""
        with self._lock:
            return BufferSnapshot(**{name: self._ordered(name, last) for name in COLUMNS})

    def joints_3d(self, last: int | None = None) -> np.ndarray:
        """(T, 17, 3) world metres, z up, floor at 0."""
        with self._lock:
            return self._ordered("joints_3d", last)

    def keypoints_2d(self, last: int | None = None) -> np.ndarray:
        """(T, 17, 2) COCO pixels."""
        with self._lock:
            return self._ordered("keypoints_2d", last)

    def scores_2d(self, last: int | None = None) -> np.ndarray:
        """(T, 17) keypoint confidences."""
        with self._lock:
            return self._ordered("scores_2d", last)

    def timestamps(self, last: int | None = None) -> np.ndarray:
        """(T,) seconds."""
        with self._lock:
            return self._ordered("timestamps", last)

    def frame_index(self, last: int | None = None) -> np.ndarray:
        """(T,) source frame indices."""
        with self._lock:
            return self._ordered("frame_index", last)

    def valid(self, last: int | None = None) -> np.ndarray:
        """(T,) True where the frame had a detection."""
        with self._lock:
            return self._ordered("valid", last)

    def latest(self) -> PoseSample | None:
        """The newest record, or None when empty."""
        with self._lock:
            if self._count == 0:
                return None
            row = (self._count - 1) % self.capacity
            values = {name: np.copy(self._data[name][row]) for name in COLUMNS}
        return PoseSample(
            joints_3d=values["joints_3d"],
            keypoints_2d=values["keypoints_2d"],
            scores_2d=values["scores_2d"],
            timestamp=float(values["timestamps"]),
            frame_index=int(values["frame_index"]),
            valid=bool(values["valid"]),
            segment=int(values["segment"]),
        )
