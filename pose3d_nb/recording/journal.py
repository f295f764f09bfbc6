"""A recording while it runs: ``session.journal/``, rows appended to Arrow IPC streams.

Layout (format version 2)::

    session.journal/
        meta.json        {"format_version", "recording_id", "base_rows", "rows", "columns":
                          {name: {"shape", "dtype"}}, "metadata": {...}}; rewritten atomically
                          and durably after each save ("rows": the rows the streams hold by
                          then; journals written before it have none)
        rows-000.arrows  an Arrow IPC stream: one record batch per save, each column of
        rows-001.arrows  ``buffer.COLUMNS`` (shaped ones as fixed-size lists); one file per
                         time the journal is opened (a stream cannot be reopened for appending)

Each save appends one batch of the rows recorded since the last save, then flushes and fsyncs
the file: it costs the new rows only, and nothing already written is touched again. A crash or
``kill -9`` can leave at most a torn last batch, which ``read_journal`` drops, keeping every
whole batch before it: what is lost is at most one save interval. ``base_rows`` > 0 says the
journal continues this recording's ``session.npz`` beside it (the engine stopped, then started
again): its rows come first. A journal exists only until a clean stop turns it into
``session.npz``; read back, it says ``complete: False``.

Why Arrow IPC (``pose3d bench recording`` measures the choice): a save is one append and one
fsync to one open file; reading an hour back is one sequential pass (npz chunk files cost
milliseconds each to open, and an hour at a 2 s interval is 1,800 of them); and pyarrow is
already a dependency (Parquet export).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_nb.buffer import COLUMNS
from pose3d_nb.recording.files import atomic_file, fsync_folder
from pose3d_nb.recording.session import (
    FORMAT_VERSION,
    SESSION_FILE,
    Session,
    SessionError,
    checked_columns,
    checked_format_version,
    read_session_file,
    session_metadata,
)

JOURNAL_DIR = "session.journal"
META_FILE = "meta.json"
_STREAM = re.compile(r"^rows-(\d{3,})\.arrows$")


def stream_files(folder: Path) -> list[Path]:
    """The journal's stream files, oldest first."""
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STREAM.match(p.name))]
    return [path for _, path in sorted(found)]


def read_meta(folder: Path) -> dict[str, Any]:
    """``meta.json`` of a journal (``SessionError`` naming it when absent or damaged)."""
    path = folder / META_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise SessionError(f"{folder} is not a session journal: it has no {META_FILE}") from None
    except (OSError, ValueError) as exc:
        raise SessionError(f"{path} is damaged ({exc}); the rows beside it are intact") from None
    if not isinstance(meta, dict):
        raise SessionError(f"{path} is damaged: not a JSON object")
    # Journals began with version 2. A newer one is refused here, before a reader misreads it or
    # a JournalWriter continuing it rewrites meta.json under this version's number.
    meta["format_version"] = checked_format_version(meta.get("format_version", FORMAT_VERSION), path)
    base_rows = meta.get("base_rows", 0)
    if isinstance(base_rows, bool) or not isinstance(base_rows, int) or base_rows < 0:
        raise SessionError(f"{path} is damaged: base_rows is {base_rows!r}, not a count of rows")
    if not isinstance(meta.get("metadata") or {}, dict):
        raise SessionError(f"{path} is damaged: its metadata is not a JSON object")
    rows = meta.get("rows", 0)
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise SessionError(f"{path} is damaged: rows is {rows!r}, not a count of rows")
    return meta


def _schema():
    import pyarrow as pa

    fields = []
    for name, column in COLUMNS.items():
        kind = pa.from_numpy_dtype(np.dtype(column.dtype))
        size = int(np.prod(column.shape)) if column.shape else 0
        fields.append(pa.field(name, pa.list_(kind, size) if size else kind))
    return pa.schema(fields)


def _batch(columns: dict[str, np.ndarray], schema):
    import pyarrow as pa

    arrays = []
    for field in schema:
        values = np.ascontiguousarray(columns[field.name])
        if pa.types.is_fixed_size_list(field.type):
            flat = pa.array(values.reshape(-1), type=field.type.value_type)
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, field.type.list_size))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class JournalWriter:
    """Appends batches of rows to ``folder`` (created if needed; an existing journal is continued
    in a new stream file).

    Args:
        folder: the journal folder (``OUT/session.journal``).
        recording_id: the recording's identity, stored in ``meta.json`` and ``session.npz``.
        base_rows: rows of this recording already in ``session.npz`` beside the folder, which
            the journal continues (0: none).

    ``saved_rows``: rows its streams hold, counted as each save is synced (continued from
    ``meta.json`` for an existing journal); ``meta.json`` says it as ``rows``.
    """

    def __init__(self, folder: Path, recording_id: str, base_rows: int = 0) -> None:
        self.folder = Path(folder)
        self.recording_id = recording_id
        created = not self.folder.is_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        if created:
            fsync_folder(self.folder.parent)  # the folder's own entry survives a power cut
        saved_rows = 0
        if (self.folder / META_FILE).is_file():
            meta = read_meta(self.folder)
            base_rows, saved_rows = int(meta.get("base_rows", 0)), meta.get("rows") or 0
        self.base_rows = base_rows
        self.saved_rows = saved_rows
        existing = stream_files(self.folder)
        number = int(_STREAM.match(existing[-1].name).group(1)) + 1 if existing else 0
        self.path = self.folder / f"rows-{number:03d}.arrows"
        self._schema = _schema()
        self._handle = None  # a pyarrow file: its writes release the GIL (the lift thread runs on)
        self._sync = -1  # a descriptor of the same file, for fsync (pyarrow files have none)
        self._writer = None

    def write_meta(self, metadata: dict[str, Any]) -> None:
        """Rewrite ``meta.json`` with ``metadata`` (what produced the recording), durably.

        Synced before it replaces the old one, at every save: the journal is read through it,
        and an unsynced file renamed over it may be empty after a power cut (file systems that
        do not flush data on rename), which made every row of the journal unreadable.
        """
        meta = {
            "format_version": FORMAT_VERSION,
            "recording_id": self.recording_id,
            "base_rows": self.base_rows,
            "rows": self.saved_rows,
            "columns": {name: {"shape": list(column.shape), "dtype": np.dtype(column.dtype).str}
                        for name, column in COLUMNS.items()},
            "metadata": metadata,
        }
        with atomic_file(self.folder / META_FILE) as handle:
            handle.write(json.dumps(meta, default=str).encode())

    def append(self, columns: dict[str, np.ndarray]) -> None:
        """Append one batch (``columns``: each column name -> its new rows), flushed and fsynced."""
        import pyarrow as pa

        batch = _batch(columns, self._schema)
        new_file = self._writer is None
        if new_file:
            self._handle = pa.OSFile(str(self.path), "w")
            self._sync = os.open(self.path, os.O_RDONLY)
            self._writer = pa.ipc.new_stream(self._handle, self._schema)
        start = self._handle.tell()
        try:
            self._writer.write_batch(batch)
            self._handle.flush()
            os.fsync(self._sync)
            if new_file:  # fsyncing the data is not enough: the file's name must last too
                fsync_folder(self.folder)
            self.saved_rows += batch.num_rows
        except BaseException:
            # The caller keeps these rows and saves them again: cut them off this stream (whole
            # or torn) and put later saves in a new stream file, so each row is read back once.
            self._abandon(start)
            raise

    def _abandon(self, end: int) -> None:
        with contextlib.suppress(Exception):
            self._handle.close()
        with contextlib.suppress(OSError):
            os.truncate(self.path, end)
        with contextlib.suppress(OSError):
            os.close(self._sync)
        self._writer = self._handle = None
        self._sync = -1
        number = int(_STREAM.match(self.path.name).group(1)) + 1
        self.path = self.folder / f"rows-{number:03d}.arrows"

    def close(self) -> None:
        """End the stream (a reader then sees its end marker) and close the file."""
        if self._writer is not None:
            self._writer.close()
            self._handle.close()
            os.close(self._sync)
            self._writer = self._handle = None
            self._sync = -1


def _read_stream(path: Path) -> list:
    """The whole record batches of one stream file; a torn last batch (a kill mid-save) is dropped.

    Only a torn tail is dropped: the file ends inside a message (a batch, or the schema of a
    file killed before its first batch), after the whole batches. An error of the system
    (``OSError`` with an errno: EIO, EMFILE...) is raised, naming the file, and so is damage
    before the file's end (``SessionError``): taken for a torn tail, it dropped every row after
    it, and a stop then wrote those rows nowhere and removed the journal.
    """
    import pyarrow as pa

    batches = []
    with pa.OSFile(str(path)) as source:
        size = source.size()
        try:
            with pa.ipc.open_stream(source) as reader:
                while True:
                    try:
                        batches.append(reader.read_next_batch())
                    except StopIteration:
                        break
        except (pa.ArrowInvalid, OSError, EOFError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:  # the system's, not the data's
                raise OSError(exc.errno, f"{exc.strerror or exc} reading {path}; the journal is kept "
                              "as it is (no row of it is dropped): read it again once the disk "
                              "answers") from exc
            stopped_at = source.tell()
            if stopped_at < size:  # the data stops being a stream before the file ends
                raise SessionError(
                    f"{path} is damaged at byte {stopped_at} of {size} ({exc}), not a torn last "
                    f"save; the {sum(len(b) for b in batches)} rows before it are whole"
                ) from None
    return batches


def _check_row_shapes(schema, path: Path) -> None:
    """``SessionError`` naming the stream file ``path`` and the column when a column of its
    ``schema`` does not hold rows of the column's shape in ``COLUMNS`` (shaped columns are
    fixed-size lists of the shape's size, the others one plain value a row)."""
    import pyarrow as pa

    for field in schema:
        column = COLUMNS.get(field.name)
        if column is None:
            continue  # a column of a newer version: not read
        size = int(np.prod(column.shape)) if column.shape else 0
        if size:
            fits = pa.types.is_fixed_size_list(field.type) and field.type.list_size == size
            expected = f"a fixed-size list of {size} values a row (shape {column.shape})"
        else:
            fits = not pa.types.is_nested(field.type)
            expected = "one value a row"
        if not fits:
            raise SessionError(
                f"{path} is damaged: its column {field.name} holds {field.type}, expected {expected}; "
                "move that file out of the journal to read the others"
            )


def _columns_of(batches: list, where: Path) -> dict[str, np.ndarray]:
    import pyarrow as pa

    table = pa.Table.from_batches(batches) if batches else _schema().empty_table()
    arrays = {}
    for name in table.column_names:
        if name not in COLUMNS:
            continue  # a column of a newer version: not known here
        column = table.column(name).combine_chunks()
        shape = COLUMNS[name].shape
        if pa.types.is_fixed_size_list(column.type):
            column = column.flatten()
        arrays[name] = column.to_numpy(zero_copy_only=False).reshape(len(table), *shape)
    return checked_columns(arrays, where)


def read_journal(folder: Path) -> Session:
    """Every row a journal holds, oldest first; metadata from ``meta.json``, ``complete`` False.

    Raises ``SessionError`` naming the folder or file that cannot be read (``OSError`` naming
    the file for an error of the system); a ``UserWarning`` when the streams hold fewer rows
    than ``meta.json`` says were saved.
    """
    meta = read_meta(folder)
    batches = []
    for path in stream_files(folder):
        read = _read_stream(path)
        if read:  # a stream's batches share its schema
            _check_row_shapes(read[0].schema, path)
        batches += read
    columns = _columns_of(batches, folder)
    rows = len(columns["timestamps"])
    if rows < meta.get("rows", 0):  # each save's count is written after its rows are synced
        warnings.warn(f"{folder} reads back {rows} of the {meta['rows']} rows saved into it: a "
                      "stream file is damaged or was removed", UserWarning, stacklevel=2)
    base_rows = int(meta.get("base_rows", 0))
    if base_rows:
        base = read_session_file(folder.parent / SESSION_FILE)
        if base.metadata.get("recording_id") != meta.get("recording_id"):
            raise SessionError(f"{folder} continues a {SESSION_FILE} that was replaced since")
        if len(base) == base_rows + rows:
            return base  # the stop that merged them finished; only removing the journal did not
        if len(base) != base_rows:
            raise SessionError(f"{folder} continues {base_rows} rows, but {SESSION_FILE} has {len(base)}")
        columns = {name: np.concatenate([getattr(base, name), columns[name]]) for name in COLUMNS}
    metadata = session_metadata(dict(meta.get("metadata") or {}), len(columns["timestamps"]), False)
    metadata["format_version"] = meta["format_version"]  # the journal's own, not this version's
    metadata["recording_id"] = meta.get("recording_id")
    return Session(**columns, metadata=metadata)
