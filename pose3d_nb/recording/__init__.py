"""What a run keeps on disk, and reading it back.

A recording folder (``pose3d run --out``, ``PoseEngine(out_dir=...)``) holds:

- ``joints.npy``: the newest pose, (1, 17, 3), rewritten atomically each frame (``files``);
- ``session.journal/`` while recording: chunks of rows appended every ``session_interval``
  seconds (``journal``); what a crash or ``kill -9`` leaves, loadable with ``complete: False``;
- ``session.npz`` after a clean stop: the whole recording in one file (``session``), written
  atomically from the journal, which is then removed; ``complete: True``;
- exports beside it, named ``session.*``.

``Recorder`` (``recorder``) writes them; ``prepare_out_dir`` (``folder``) refuses a folder that
is a file, read-only, or holds another recording (unless told to overwrite, and then the old
session is replaced only when the new one completes); ``load_session`` reads any of them.

Adding a per-row column (a camera-space pose, a track id): add it to ``buffer.COLUMNS`` with
its shape, dtype and fill value, and a field of that name (default None) to ``PoseSample`` and
``BufferSnapshot``. Chunks, ``session.npz`` and ``load_session`` carry every column of the
table; files written before the column load with its fill value. Metadata is free-form JSON:
add keys to what the engine's ``metadata()`` returns. ``format_version`` (``FORMAT_VERSION``,
whose comment lists each version) changes when the layout does, or what a column's rows mean
(3: world-grounded ``joints_3d``); a file continuing older rows states the older version.
"""

from __future__ import annotations

import os  # noqa: F401 - tests patch pose3d_nb.recording.os.replace to interrupt a write

from pose3d_nb.recording.files import atomic_file, write_latest_pose
from pose3d_nb.recording.folder import (
    OutputError,
    describe_recording,
    load_session,
    prepare_out_dir,
    resolve_session,
)
from pose3d_nb.recording.journal import JOURNAL_DIR, read_journal
from pose3d_nb.recording.recorder import Recorder
from pose3d_nb.recording.session import (
    FORMAT_VERSION,
    SESSION_ARRAYS,
    SESSION_FILE,
    NewerFormatError,
    Session,
    SessionError,
    pelvis_centred_rows,
    read_session_file,
    write_session,
)

__all__ = [
    "FORMAT_VERSION",
    "JOURNAL_DIR",
    "NewerFormatError",
    "SESSION_ARRAYS",
    "SESSION_FILE",
    "OutputError",
    "Recorder",
    "Session",
    "SessionError",
    "atomic_file",
    "describe_recording",
    "load_session",
    "pelvis_centred_rows",
    "prepare_out_dir",
    "read_journal",
    "read_session_file",
    "resolve_session",
    "write_latest_pose",
    "write_session",
]
