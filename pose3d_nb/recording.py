"""What a run keeps: ``Recorder`` (rows into the rolling buffer, files to disk) and the files
it writes: the newest pose, the session, CSV. Every write is atomic.

A reader (the original project's plotting process, a notebook cell, a crash) never sees a half
written file: data goes to a temporary file in the same folder, is flushed, then renamed over the
target with ``os.replace``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_nb.buffer import BufferSnapshot, PoseSample, RollingBuffer
from pose3d_nb.errors import Pose3DFileNotFoundError, Pose3DValueError
from pose3d_nb.skeleton import COCO, H36M

SESSION_ARRAYS = ("joints_3d", "keypoints_2d", "scores_2d", "timestamps", "frame_index", "valid")


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, not while writing
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@contextlib.contextmanager
def atomic_file(path: str | Path, durable: bool = True, suffix: str = ".tmp") -> Iterator[io.BufferedWriter]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` in one step.

    ``durable`` also fsyncs before the rename (survives a power cut); the per-frame pose file
    skips that, since readers only need the rename's all-or-nothing visibility. ``suffix`` ends
    the temporary name (for libraries that write by file name and insist on an extension).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not a with-block: the handle must outlive the yield and be renamed, not deleted.
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115
        dir=path.parent, prefix=f".{path.name}.", suffix=suffix, delete=False
    )
    try:
        with handle:
            yield handle
            handle.flush()
            # NamedTemporaryFile is created 0600; give the file the permissions a plain open()
            # would, so another user's reader (a plotting process, a server) can open it.
            os.fchmod(handle.fileno(), 0o666 & ~_UMASK)
            if durable:
                os.fsync(handle.fileno())
        os.replace(handle.name, path)
        if durable:
            _fsync_folder(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(handle.name)
        raise


def write_latest_pose(path: str | Path, joints_3d: np.ndarray) -> None:
    """The original's ``joints.npy``: the newest pose, shape (1, 17, 3), world metres, floor at 0."""
    array = np.asarray(joints_3d, dtype=np.float32).reshape(1, H36M.num_joints, 3)
    with atomic_file(path, durable=False) as handle:
        np.save(handle, array)


def write_session(path: str | Path, snapshot: BufferSnapshot, metadata: dict[str, Any]) -> None:
    """``session.npz``: the arrays of ``SESSION_ARRAYS`` plus ``segment`` and ``metadata`` (JSON)."""
    arrays = {name: getattr(snapshot, name) for name in SESSION_ARRAYS}
    arrays["segment"] = snapshot.segment
    arrays["metadata"] = np.array(json.dumps(metadata, default=str))
    with atomic_file(path) as handle:
        np.savez(handle, **arrays)


class Recorder:
    """Keeps a run's poses: each one a row of ``buffer``, and on disk under ``out_dir``.

    ``record`` appends each pose (with the 2D of its own detection) and rewrites ``joints.npy``
    with the newest; ``session.npz`` is rewritten at most every ``session_interval`` seconds
    while recording and by ``write_session`` at the end. ``metadata`` is called for each session
    write (what produced the recording, as JSON-able values). ``out_dir`` None keeps rows in
    memory only.
    """

    def __init__(self, buffer: RollingBuffer, out_dir: str | Path | None,
                 metadata: Callable[[], dict[str, Any]], session_interval: float = 2.0) -> None:
        self.buffer = buffer
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.session_interval = session_interval
        self._metadata = metadata
        self._last_session = time.monotonic()

    def record(self, poses: Iterable, segment: int) -> None:
        """Append ``LiftedPose``s (oldest first) recorded in source segment ``segment``."""
        newest = None
        for pose in poses:
            detection = pose.detection
            self.buffer.append(
                PoseSample(
                    joints_3d=pose.joints,
                    keypoints_2d=detection.keypoints,
                    scores_2d=detection.scores,
                    timestamp=pose.frame.timestamp if pose.frame is not None else detection.timestamp,
                    frame_index=pose.frame_index,
                    valid=pose.valid,
                    segment=segment,
                )
            )
            newest = pose
        if newest is None or self.out_dir is None:
            return
        write_latest_pose(self.out_dir / "joints.npy", newest.joints)
        if time.monotonic() - self._last_session > self.session_interval:
            self.write_session()

    def write_session(self) -> None:
        """Write ``out_dir/session.npz`` now (nothing without an ``out_dir`` or any row)."""
        self._last_session = time.monotonic()
        if self.out_dir is not None and self.buffer.total_appended:
            write_session(self.out_dir / "session.npz", self.buffer.snapshot(), self._metadata())


@dataclass(frozen=True)
class Session(BufferSnapshot):
    """A recorded session: the columns of ``BufferSnapshot`` plus the metadata dict."""

    metadata: dict[str, Any]


def load_session(path: str | Path) -> Session:
    """Read ``session.npz`` without unpickling (object arrays are refused)."""
    path = Path(path)
    if not path.is_file():
        raise Pose3DFileNotFoundError(f"no session file at {path}; run the engine (or `pose3d run`) first")
    with np.load(path, allow_pickle=False) as data:
        missing = [name for name in (*SESSION_ARRAYS, "metadata") if name not in data.files]
        if missing:
            raise Pose3DValueError(f"{path} is not a pose3d_nb session: missing {missing}")
        arrays = {name: data[name] for name in SESSION_ARRAYS}
        segment = (
            data["segment"] if "segment" in data.files else np.zeros(len(arrays["timestamps"]), np.int64)
        )
        metadata = json.loads(str(data["metadata"]))
    return Session(**arrays, segment=segment, metadata=metadata)


def csv_header() -> list[str]:
    """Column names: frame, time, validity, then every 3D joint and 2D keypoint coordinate."""
    header = ["segment", "frame_index", "timestamp", "valid"]
    header += [f"{name}_{axis}" for name in H36M.joint_names for axis in "xyz"]
    header += [f"kp2d_{name}_{axis}" for name in COCO.joint_names for axis in "xy"]
    header += [f"kp2d_{name}_score" for name in COCO.joint_names]
    return header


def write_csv(path: str | Path, data: BufferSnapshot | Session) -> None:
    """One row per frame: see ``csv_header``; 3D in metres (world, z up), 2D in pixels."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(csv_header())
    rows = len(data.timestamps)
    flat = np.concatenate(
        [
            data.joints_3d.reshape(rows, -1),
            data.keypoints_2d.reshape(rows, -1),
            data.scores_2d.reshape(rows, -1),
        ],
        axis=1,
    )
    for i in range(rows):
        writer.writerow(
            [int(data.segment[i]), int(data.frame_index[i]), f"{data.timestamps[i]:.6f}", int(data.valid[i])]
            + [f"{value:.6g}" for value in flat[i]]
        )
    with atomic_file(path) as handle:
        handle.write(text.getvalue().encode())
