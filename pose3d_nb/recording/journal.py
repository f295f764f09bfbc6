"""A recording while it runs: ``session.journal/``, rows appended to Arrow IPC streams.

Layout (format versions 2 and 3: ``session.FORMAT_VERSION`` says what each holds)::

    session.journal/
        meta.json        {"format_version", "recording_id", "base_rows", "rows", "columns":
                          {name: {"shape", "dtype"}}, "metadata": {...}}; rewritten atomically
                          and durably after each save ("rows": the rows the streams hold by
                          then; journals written before it have none). "format_version": the
                          version that began the journal, kept by a newer one continuing it
                          (its first rows are no more than that version says)
        rows-000.arrows  an Arrow IPC stream: one record batch per save, each column of
        rows-001.arrows  ``buffer.COLUMNS`` (shaped ones as fixed-size lists); one file per
                         time the journal is opened (a stream cannot be reopened for appending).
                         Each batch's custom metadata holds ``pose3d.crc32``: the CRC-32 of its
                         values (``_checksum``), as 8 hex digits; the stream's schema metadata
                         says ``pose3d.checksums: crc32`` (streams written before have neither)
        base-session.npz ``BASE_SESSION_FILE``: only in a journal set aside (``--overwrite``) that
                         continues a ``session.npz``, given by the run about to replace that
                         file: the same file under a second name (a hard link), read in its place

Each save appends one batch of the rows recorded since the last save, then flushes and fsyncs
the file: it costs the new rows only, and nothing already written is touched again. A crash or
``kill -9`` can leave at most a torn last batch, which ``read_journal`` drops, keeping every
whole batch before it: what is lost is at most one save interval. A save that reads back other
than it was written (a power cut leaving a page of it as zeros, a bad sector) fails its
checksum: dropped as torn when it is the last file's save after the rows ``meta.json`` counts as
synced, else a ``SessionError`` (Arrow IPC itself checks no value). ``base_rows`` > 0 says the
journal continues this recording's ``session.npz`` beside it (the engine stopped, then started
again): its rows come first, read from the journal's own ``BASE_SESSION_FILE`` when it has one.
A journal exists only until a clean stop turns it into ``session.npz``; read back, it says
``complete: False``.

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
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_nb.buffer import COLUMNS, empty_column
from pose3d_nb.recording.files import atomic_file, fsync_folder
from pose3d_nb.recording.session import (
    FIRST_JOURNAL_VERSION,
    FORMAT_VERSION,
    SESSION_FILE,
    Session,
    SessionError,
    checked_columns,
    checked_format_version,
    combined_format_version,
    read_session_file,
    session_metadata,
)

JOURNAL_DIR = "session.journal"
META_FILE = "meta.json"
#: The ``session.npz`` a journal continues (``base_rows`` > 0), kept in the journal itself: given
#: to a journal set aside by an ``--overwrite`` run before a run replaces the folder's
#: ``session.npz`` (``folder.keep_set_aside_bases``), whose first rows were then in no file.
BASE_SESSION_FILE = "base-session.npz"
_STREAM = re.compile(r"^rows-(\d{3,})\.arrows$")
#: A record batch's custom metadata key for the save's checksum (``_checksum``).
_CHECKSUM_KEY = b"pose3d.crc32"
#: A stream's schema metadata: every batch of it carries a checksum (readers before it ignore it).
_CHECKSUMMED_STREAM = {b"pose3d.checksums": b"crc32"}


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
    meta["format_version"] = checked_format_version(meta.get("format_version", FIRST_JOURNAL_VERSION), path)
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


def _checksum(batch) -> bytes:
    """The CRC-32 of a save, as 8 hex digits: over its row count, then each column in schema order,
    its null count and its values (fixed-size lists flattened, bools one byte each, numbers as
    little-endian bytes). Computed from the values, not the file's bytes, so that the reader
    recomputes it from the batch it reads whatever padding the stream holds. Columns of other
    types (this version writes none) are counted by their null count only."""
    import pyarrow as pa

    crc = zlib.crc32(batch.num_rows.to_bytes(8, "little"))
    for column in batch.columns:
        while pa.types.is_fixed_size_list(column.type):
            crc = zlib.crc32(column.null_count.to_bytes(8, "little"), crc)
            column = column.flatten()
        crc = zlib.crc32(column.null_count.to_bytes(8, "little"), crc)
        if pa.types.is_primitive(column.type):  # numbers and bools
            if column.null_count:  # a bool column with nulls reads as Python objects: not bytes
                column = column.fill_null(pa.scalar(False if pa.types.is_boolean(column.type) else 0,
                                                    column.type))
            values = column.to_numpy(zero_copy_only=False)
            little_endian = values.astype(values.dtype.newbyteorder("<"), copy=False)
            crc = zlib.crc32(np.ascontiguousarray(little_endian), crc)
    return f"{crc:08x}".encode()


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
    ``format_version``: what ``meta.json`` states: ``FORMAT_VERSION`` for a new journal, an
    existing journal's own (begun by an older pose3d_nb, its rows are what that version wrote:
    stating this version would say they are more).
    """

    def __init__(self, folder: Path, recording_id: str, base_rows: int = 0) -> None:
        self.folder = Path(folder)
        self.recording_id = recording_id
        created = not self.folder.is_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        if created:
            fsync_folder(self.folder.parent)  # the folder's own entry survives a power cut
        saved_rows, format_version = 0, FORMAT_VERSION
        if (self.folder / META_FILE).is_file():
            meta = read_meta(self.folder)
            base_rows, saved_rows = int(meta.get("base_rows", 0)), meta.get("rows") or 0
            format_version = combined_format_version(FORMAT_VERSION, meta["format_version"])
        self.base_rows = base_rows
        self.saved_rows = saved_rows
        self.format_version = format_version
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
            "format_version": self.format_version,
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
            self._writer = pa.ipc.new_stream(self._handle, self._schema.with_metadata(_CHECKSUMMED_STREAM))
        start = self._handle.tell()
        try:
            self._writer.write_batch(batch, custom_metadata={_CHECKSUM_KEY: _checksum(batch)})
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


@dataclass(frozen=True)
class _Unread:
    """Where reading a stream file stopped before its end, and why (``_read_stream``)."""

    path: Path
    start: int  # where the message that could not be read (or was read back wrong) begins
    size: int  # the file's size
    reason: str
    torn: bool  # it is a torn last save whatever meta.json says: the rest of the file holds nothing
    # A whole save read back other than it was written (it fails its checksum, or, in a stream
    # from before checksums, its rows end in zeros): what a power cut leaves of a save whose data
    # did not all reach the disk, so torn only in the last file after the synced rows (a bad
    # sector elsewhere looks the same).
    save_read_wrong: bool = False


def _read_stream(path: Path) -> tuple[list, _Unread | None]:
    """The whole record batches of one stream file, and where reading stopped (None: at its end).

    A stop is a torn tail (``_Unread.torn``) when the save it stopped in runs past the file's end
    (a kill in the middle of a save), or when every byte after that save's header is zero
    (``_torn_at``).
    A batch that fails its checksum, or lacks one in a stream whose batches carry them, stops
    the reading there (``_Unread.save_read_wrong``; nothing after it in the file is read); in a
    stream from before checksums, so does a last batch whose rows end in zeros with nothing but
    zeros after it (a power cut after the file grew but before all of the save's data reached
    the disk). ``read_journal`` drops a torn tail, and decides about any other stop. An error of
    the system (``OSError`` with an errno: EIO, EMFILE...) is raised, naming the file.
    """
    import pyarrow as pa

    batches, starts, checksums = [], [], []
    checksummed = False  # the stream says its batches carry checksums
    with pa.OSFile(str(path)) as source:
        size = source.size()
        start = 0
        try:
            with pa.ipc.open_stream(source) as reader:
                checksummed = _CHECKSUMMED_STREAM.items() <= dict(reader.schema.metadata or {}).items()
                while True:
                    start = source.tell()
                    try:
                        batch, custom = reader.read_next_batch_with_custom_metadata()
                    except StopIteration:
                        break
                    batches.append(batch)
                    starts.append(start)
                    checksums.append(custom.get(_CHECKSUM_KEY) if custom else None)
        except (pa.ArrowException, OSError, EOFError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:  # the system's, not the data's
                raise OSError(exc.errno, f"{exc.strerror or exc} reading {path}; the journal is kept "
                              "as it is (no row of it is dropped): read it again once the disk "
                              "answers") from exc
            torn = _torn_at(path, start, size)
            unread = _Unread(path, start, size, str(exc) or type(exc).__name__, torn)
        else:
            end = source.tell()
            unread = None
            if end < size and not _zeros_from(path, end):  # more after the stream's end marker
                unread = _Unread(path, end, size, "data after the end of the stream", False)
    if checksummed or any(checksum is not None for checksum in checksums):
        for number, (batch, checksum) in enumerate(zip(batches, checksums, strict=True)):
            if checksum != _checksum(batch):
                reason = "a save that does not match its checksum"
                if checksum is None:
                    reason += ": it has none, its stream's saves carry one"
                return batches[:number], _Unread(path, starts[number], size, reason, False,
                                                 save_read_wrong=True)
    # Before checksums: a save whose data did not all reach the disk (a power cut after the file
    # grew): its header was written, the end of its rows reads back as zeros. Only the last save
    # can be such (zeros before its end go unseen there).
    elif batches and (unread is None or unread.torn) and _ends_in_zeros(batches[-1]):
        # (a bad sector can look the same: the caller drops it only after the synced rows)
        unread = _Unread(path, starts[-1], size, "a save whose rows end in zeros", False,
                         save_read_wrong=True)
        batches = batches[:-1]
    return batches, unread


def _torn_at(path: Path, start: int, size: int) -> bool:
    """True when the message at byte ``start`` of the stream file ``path`` (``size`` bytes), which
    could not be read, is a torn save: it runs past the file's end, as its own lengths say (a
    kill in the middle of the save), or every byte of the file after its header is zero (a power
    cut after the file grew, before the save's data reached the disk). False when it lies whole
    in the file with data after its header: its bytes are all there but read back wrong, damage.

    (The reader's position when it failed says neither: a message read whole and then refused,
    its header zeroed in part, left it at the file's end, and a whole save in the middle of the
    journal was dropped as torn.)
    """
    with open(path, "rb") as handle:
        handle.seek(start)
        framing = handle.read(8)
        if len(framing) < 8:
            return True
        marker, header_length = struct.unpack("<Ii", framing)
        prefix = 8
        if marker != 0xFFFFFFFF:  # the framing before Arrow 0.15: the header's length alone
            header_length, prefix = marker if marker < 1 << 31 else -1, 4
        header_length = max(header_length, 0)
        header_end = start + prefix + header_length
        if header_end > size:
            return True
        handle.seek(start + prefix)
        body_length = _body_length(handle.read(header_length))
    if body_length is not None and header_end + body_length > size:
        return True
    return _zeros_from(path, header_end)


def _body_length(header: bytes) -> int | None:
    """``bodyLength`` of an Arrow IPC message's header (a flatbuffer ``Message`` table: version,
    header_type, header, bodyLength, custom_metadata); None when the header cannot say it."""

    def read(form: str, at: int):
        if not 0 <= at <= len(header) - struct.calcsize(form):
            raise ValueError(at)
        return struct.unpack_from(form, header, at)[0]

    try:
        table = read("<I", 0)
        vtable = table - read("<i", table)
        entry = 4 + 2 * 3  # bodyLength is the table's fourth field
        offset = read("<H", vtable + entry) if entry + 2 <= read("<H", vtable) else 0
        length = read("<q", table + offset) if offset else 0  # an absent field is its default, 0
    except ValueError:
        return None
    return length if length >= 0 else None


def _zeros_from(path: Path, offset: int) -> bool:
    """True when every byte of the file ``path`` from ``offset`` to its end is zero."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        while chunk := handle.read(1 << 20):
            if chunk.count(0) != len(chunk):
                return False
    return True


#: Columns no recorded row holds as all zero bytes: coordinates are numbers (never 0.0 for every
#: joint) or NaN where nobody was seen.
_NEVER_ZEROS = frozenset({"joints_3d", "keypoints_2d", "people_joints_3d", "people_keypoints_2d",
                          "joints_camera"})


def _ends_in_zeros(batch) -> bool:
    """True when the last column of ``batch`` (the end of its body) is one of ``_NEVER_ZEROS``
    and its last row holds only zero bytes: the end of a save that never reached the disk."""
    import pyarrow as pa

    field = batch.schema.field(batch.num_columns - 1)
    if batch.num_rows == 0 or field.name not in _NEVER_ZEROS or not pa.types.is_fixed_size_list(field.type):
        return False
    column = batch.column(batch.num_columns - 1)
    row_bytes = field.type.list_size * field.type.value_type.bit_width // 8
    values = column.buffers()[-1]
    if values is None:
        return False
    last = (column.offset + batch.num_rows) * row_bytes
    return not np.frombuffer(values, np.uint8)[last - row_bytes:last].any()


def _check_stream_columns(schema, path: Path) -> None:
    """``SessionError`` naming the stream file ``path`` and the column when a column of its
    ``schema`` does not hold what this version writes (``_schema``): rows of another shape than
    the column's in ``COLUMNS`` (shaped columns are fixed-size lists of the shape's size, the
    others one plain value a row), or values of another type (read as one table with the other
    streams, it was a bare pyarrow error naming neither)."""
    import pyarrow as pa

    written = _schema()
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
        if fits and field.type != written.field(field.name).type:
            fits, expected = False, str(written.field(field.name).type)
        if not fits:
            raise SessionError(
                f"{path} is damaged: its column {field.name} holds {field.type}, expected {expected}; "
                "move that file out of the journal to read the others"
            )


def _stream_columns(batches: list) -> dict[str, np.ndarray]:
    """The columns of ``COLUMNS`` that the batches of one stream file hold, as arrays of rows."""
    import pyarrow as pa

    table = pa.Table.from_batches(batches)
    arrays = {}
    for name in table.column_names:
        if name not in COLUMNS:
            continue  # a column of a newer version: not known here
        column = table.column(name).combine_chunks()
        if pa.types.is_fixed_size_list(column.type):
            column = column.flatten()
        arrays[name] = column.to_numpy(zero_copy_only=False).reshape(len(table), *COLUMNS[name].shape)
    return arrays


def _columns_of(streams: list[list], where: Path) -> dict[str, np.ndarray]:
    """The rows of ``streams`` (each stream file's batches, oldest first) as checked columns; a
    column a stream lacks (written before the column existed) is filled for its rows."""
    parts = [_stream_columns(batches) for batches in streams if batches]
    if not parts:
        return checked_columns({name: empty_column(name, 0) for name in COLUMNS}, where)
    if len(parts) == 1:
        return checked_columns(parts[0], where)
    present = {name for part in parts for name in part}
    arrays = {}
    for name in present:
        arrays[name] = np.concatenate([
            part[name] if name in part else empty_column(name, len(next(iter(part.values()))))
            for part in parts])
    return checked_columns(arrays, where)


def _read_streams(folder: Path, counted: int | None) -> list[list]:
    """The whole batches of each stream file of ``folder``, oldest first, their columns checked.

    A stream file that stops before its end is a torn last save, dropped, when its tail holds
    nothing (``_Unread.torn``), or when it is the last stream file and stops after the
    ``counted`` rows that ``meta.json`` says were synced: its tail is a save the kill (or power
    cut) caught before it was synced. A whole save read back wrong (``_Unread.save_read_wrong``:
    it fails its checksum) is such a tail only there (or, in a journal that counts no rows, in
    the last file), and so is everything after it in that file. Any other stop is damage:
    ``SessionError`` naming the file and the byte (dropping it would drop every row after it,
    and a stop then wrote those rows nowhere and removed the journal).
    """
    paths = stream_files(folder)
    streams, rows = [], 0
    for number, path in enumerate(paths):
        read, unread = _read_stream(path)
        if read:  # a stream's batches share its schema
            _check_stream_columns(read[0].schema, path)
        streams.append(read)
        rows += sum(len(batch) for batch in read)
        last = number == len(paths) - 1
        if counted is not None:
            after_the_synced = last and rows >= counted
        else:  # a journal from before the count: only the last file's save read wrong can be torn
            after_the_synced = last and unread is not None and unread.save_read_wrong
        if unread is not None and not (unread.torn or after_the_synced):
            raise SessionError(
                f"{path} is damaged at byte {unread.start} of {unread.size} ({unread.reason}), not a "
                f"torn last save; the {rows} rows before it are whole"
            )
    return streams


def read_journal(folder: Path) -> Session:
    """Every row a journal holds, oldest first; metadata from ``meta.json``, ``complete`` False.

    ``metadata["format_version"]`` is the journal's own (not this version's), or, when it
    continues a ``session.npz`` (``base_rows``) of an older version, that one
    (``combined_format_version``): the rows read are no more than the older version says.

    Raises ``SessionError`` naming the folder or file that cannot be read (``OSError`` naming
    the file for an error of the system); a ``UserWarning`` when the streams hold fewer rows
    than ``meta.json`` says were saved.
    """
    meta = read_meta(folder)
    columns = _columns_of(_read_streams(folder, meta.get("rows")), folder)
    rows = len(columns["timestamps"])
    if rows < meta.get("rows", 0):  # each save's count is written after its rows are synced
        warnings.warn(f"{folder} reads back {rows} of the {meta['rows']} rows saved into it: a "
                      "stream file is damaged or was removed", UserWarning, stacklevel=2)
    base_rows = int(meta.get("base_rows", 0))
    version = meta["format_version"]
    if base_rows:
        own_base = folder / BASE_SESSION_FILE
        base_path = own_base if own_base.is_file() else folder.parent / SESSION_FILE
        base = read_session_file(base_path)
        if base.metadata.get("recording_id") != meta.get("recording_id"):
            raise SessionError(f"{folder} continues a {SESSION_FILE} that was replaced since")
        if len(base) == base_rows + rows:
            return base  # the stop that merged them finished; only removing the journal did not
        if len(base) != base_rows:
            raise SessionError(f"{folder} continues {base_rows} rows, but {base_path} has {len(base)}")
        columns = {name: np.concatenate([getattr(base, name), columns[name]]) for name in COLUMNS}
        version = combined_format_version(version, base.metadata["format_version"])
    metadata = session_metadata(dict(meta.get("metadata") or {}), len(columns["timestamps"]), False, version)
    metadata["recording_id"] = meta.get("recording_id")
    return Session(**columns, metadata=metadata)
