"""A recording while it runs: ``session.journal/``, a folder of append-only chunks.

Layout (format version 2)::

    session.journal/
        meta.json       {"format_version", "recording_id", "columns": {name: {"shape", "dtype"}},
                         "metadata": {...}}; rewritten (atomically) with each chunk
        00000000.npz    rows 0..n0-1: one array per column of ``buffer.COLUMNS``
        00000001.npz    the next rows, and so on

Each chunk is written to a temporary name, fsynced and renamed, so a chunk file is either whole
or absent: a crash or ``kill -9`` loses only the rows not yet in a chunk (at most the
recorder's ``session_interval``). Saving costs the new rows only. A temporary file left by a
kill starts with a dot and is ignored. ``read_journal`` gives every chunk's rows in order, with
``complete: False``: a journal exists only until a clean stop turns it into ``session.npz``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_nb.buffer import COLUMNS
from pose3d_nb.recording.files import atomic_file
from pose3d_nb.recording.session import (
    FORMAT_VERSION,
    Session,
    SessionError,
    checked_columns,
    session_metadata,
)

JOURNAL_DIR = "session.journal"
META_FILE = "meta.json"
_CHUNK = re.compile(r"^(\d{8})\.npz$")


def chunk_files(folder: Path) -> list[Path]:
    """The journal's chunk files, oldest first (temporary files of an interrupted write excluded)."""
    return sorted(p for p in folder.iterdir() if _CHUNK.match(p.name))


def read_meta(folder: Path) -> dict[str, Any]:
    """``meta.json`` of a journal (``SessionError`` naming it when absent or damaged)."""
    path = folder / META_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise SessionError(f"{folder} is not a session journal: it has no {META_FILE}") from None
    except (OSError, ValueError) as exc:
        raise SessionError(f"{path} is damaged ({exc}); the chunks beside it are intact") from None
    if not isinstance(meta, dict):
        raise SessionError(f"{path} is damaged: not a JSON object")
    return meta


class JournalWriter:
    """Appends chunks of rows to ``folder`` (created if needed; an existing journal is continued).

    Args:
        folder: the journal folder (``OUT/session.journal``).
        recording_id: the recording's identity, stored in ``meta.json`` and ``session.npz``.
    """

    def __init__(self, folder: Path, recording_id: str) -> None:
        self.folder = Path(folder)
        self.recording_id = recording_id
        self.folder.mkdir(parents=True, exist_ok=True)
        existing = chunk_files(self.folder)
        self._next = int(_CHUNK.match(existing[-1].name).group(1)) + 1 if existing else 0

    def adopt(self, session_file: Path) -> None:
        """Start the journal with every row of ``session_file`` (an earlier part of this recording).

        A hard link where the file system allows (no copy: the file is never modified in
        place, only replaced), else a copy.
        """
        target = self.folder / f"{self._next:08d}.npz"
        try:
            os.link(session_file, target)
        except OSError:
            with atomic_file(target) as handle, open(session_file, "rb") as source:
                while block := source.read(1 << 20):
                    handle.write(block)
        self._next += 1

    def write_meta(self, metadata: dict[str, Any], durable: bool = False) -> None:
        """Rewrite ``meta.json`` with ``metadata`` (what produced the recording)."""
        meta = {
            "format_version": FORMAT_VERSION,
            "recording_id": self.recording_id,
            "columns": {name: {"shape": list(column.shape), "dtype": np.dtype(column.dtype).str}
                        for name, column in COLUMNS.items()},
            "metadata": metadata,
        }
        with atomic_file(self.folder / META_FILE, durable=durable) as handle:
            handle.write(json.dumps(meta, default=str).encode())

    def append(self, columns: dict[str, np.ndarray]) -> Path:
        """Write one chunk (atomic, fsynced): ``columns`` maps each column name to its new rows."""
        path = self.folder / f"{self._next:08d}.npz"
        with atomic_file(path) as handle:
            np.savez(handle, **columns)
        self._next += 1
        return path


def read_journal(folder: Path) -> Session:
    """Every row a journal holds, oldest first; metadata from ``meta.json``, ``complete`` False.

    Raises ``SessionError`` naming the folder or chunk that cannot be read.
    """
    meta = read_meta(folder)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in COLUMNS}
    for chunk in chunk_files(folder):
        for name, array in _read_chunk(chunk).items():
            parts[name].append(array)
    arrays = {name: (np.concatenate(parts[name]) if parts[name] else np.zeros((0, *c.shape), c.dtype))
              for name, c in COLUMNS.items()}
    columns = checked_columns(arrays, folder)
    metadata = session_metadata(dict(meta.get("metadata") or {}), len(columns["timestamps"]), False)
    metadata["recording_id"] = meta.get("recording_id")
    return Session(**columns, metadata=metadata)


def _read_chunk(chunk: Path) -> dict[str, np.ndarray]:
    """One chunk's columns (an adopted ``session.npz`` also carries metadata: not a column)."""
    try:
        with np.load(chunk, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files if name != "metadata"}
    except Exception as exc:  # noqa: BLE001 - any failure is a damaged chunk, said in one line
        raise SessionError(
            f"{chunk} is damaged ({type(exc).__name__}); move it aside to load the chunks before it"
        ) from None
    return checked_columns(arrays, chunk)
