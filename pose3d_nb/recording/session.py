"""One session in one file: ``session.npz`` (what a clean stop leaves, what exports and scorers read).

The file is a plain numpy ``.npz``: one array per column of ``buffer.COLUMNS`` (T rows each) and
``metadata``, a JSON string. ``read_session_file`` reads it without unpickling and checks every
column's shape and length, so a damaged, truncated or foreign file is one clear error naming it.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_nb.buffer import COLUMNS, BufferSnapshot, empty_column
from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.recording.files import atomic_file

#: The version of a session or journal (``format_version`` in its metadata, a journal's
#: ``meta.json``): its layout and what its rows are.
#:
#: 1. One ``session.npz`` rewritten whole while running (no ``complete`` flag). ``joints_3d`` is
#:    the lifter's own pose: centred on the pelvis, turned upright by one fixed camera angle,
#:    each frame's lowest joint at z = 0 (no path through the room, no common floor).
#: 2. Chunks in ``session.journal/`` while running, ``session.npz`` written once at a clean stop
#:    (``complete``). Columns came in under this number: files recorded before world grounding
#:    (2026-12-05) hold 1's pelvis-centred ``joints_3d`` and no ``joints_camera``, later ones
#:    world-grounded ``joints_3d`` beside ``joints_camera``; the people columns (``track_id``,
#:    ``people_ids``, ``people_keypoints_2d``, ``people_joints_3d``) may be absent. So 2 says
#:    nothing of the rows: ``pelvis_centred_rows`` tells them apart, per row.
#: 3. 2's layout, every column of ``buffer.COLUMNS`` written, and ``joints_3d`` world-grounded
#:    (metres, z up, one floor at z = 0 for the session, x and y on the floor: docs/world.md) in
#:    each row whose ``joints_camera`` (camera axes, root translation included) holds the pose.
#:    A row with a pose and no ``joints_camera`` is a lifter's own pelvis-centred pose (a plug-in
#:    lifter that gives no camera-frame pose: nothing placed it). ``people_joints_3d``: each other
#:    person placed in the followed person's room.
#:
#: A file whose rows continue older ones (a journal an older pose3d_nb began, or one continuing
#: a ``session.npz`` of an older version) states the oldest version among them, never this one
#: (``combined_format_version``): its older rows are no more than that version says.
FORMAT_VERSION = 3
#: The version journals began with: a ``meta.json`` stating none is taken for it.
FIRST_JOURNAL_VERSION = 2
SESSION_FILE = "session.npz"
#: The columns every session file has held since version 1 (later columns may be absent).
SESSION_ARRAYS = ("joints_3d", "keypoints_2d", "scores_2d", "timestamps", "frame_index", "valid")


class SessionError(Pose3DValueError):
    """A file or folder that is not a readable pose3d_nb session; the message names it."""


class NewerFormatError(SessionError):
    """A session or journal of a format newer than ``FORMAT_VERSION``: a recording this
    pose3d_nb cannot read (never mistaken for a file that is none, nor replaced by an export).
    ``version``: the format it states."""

    def __init__(self, message: str, version: int) -> None:
        super().__init__(message)
        self.version = version


def checked_format_version(version: Any, where: Path | str) -> int:
    """``version``, the ``format_version`` a session or journal states, when this pose3d_nb
    reads it (1 to ``FORMAT_VERSION``).

    Raises ``NewerFormatError`` for a newer version (read as an older one, its new layout would
    be misread or, continued, rewritten under the old number), ``SessionError`` for a value that
    is no version number; both name ``where``.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SessionError(f"{where} is damaged: its format_version is {version!r}, not a version number")
    if version > FORMAT_VERSION:
        raise NewerFormatError(
            f"{where} was written by a newer pose3d_nb (format {version} > {FORMAT_VERSION}): "
            "upgrade pose3d_nb to read it", version
        )
    return version


@dataclass(frozen=True)
class Session(BufferSnapshot):
    """A recorded session: the columns of ``BufferSnapshot`` plus the metadata dict.

    ``metadata`` holds what produced it (source, detector, lifter...) and, from format version 2,
    ``format_version``, ``recording_id``, ``rows`` and ``complete``: True after a clean stop,
    False for what a crashed or still running recording has on disk (see ``load_session``),
    None for version-1 files (written before the flag existed).
    """

    metadata: dict[str, Any] = field(default_factory=dict)


def pelvis_centred_rows(snapshot: BufferSnapshot) -> np.ndarray:
    """(T,) bool: the rows of ``snapshot`` whose ``joints_3d`` hold a pose that was never placed
    in the world: some value finite, while ``joints_camera`` holds none. Such a pose is the
    lifter's own, centred on the pelvis and turned upright by one fixed camera angle, each
    frame's lowest joint at z = 0 (``FORMAT_VERSION``): every row of a session recorded before
    world grounding (``joints_camera`` absent from its file, so all NaN), and rows of a lifter
    that gives no camera-frame pose. Told by the rows, not the version: a version-2 file may
    hold either. (The pelvis at the origin tells nothing: a person may stand there.)"""
    columns = snapshot.columns()
    posed = np.isfinite(columns["joints_3d"]).any(axis=(1, 2))
    placed = np.isfinite(columns["joints_camera"]).any(axis=(1, 2))
    return posed & ~placed


def pelvis_centred_note(snapshot: BufferSnapshot, where: Path | str) -> str | None:
    """What ``load_session`` warns of a session ``where`` whose rows hold poses never placed in
    the world (``pelvis_centred_rows``), and what to do; None when it has none."""
    centred = pelvis_centred_rows(snapshot)
    count = int(centred.sum())
    if not count:
        return None
    posed = int(np.isfinite(snapshot.columns()["joints_3d"]).any(axis=(1, 2)).sum())
    which = ("its joints_3d are" if count == posed
             else f"{count} of its {posed} rows with a pose have joints_3d")
    return (
        f"{where}: {which} centred on the pelvis, each frame on its own (recorded before world "
        "grounding, or by a lifter that gives no camera-frame pose: joints_camera is empty there), "
        "so walking speed, distance travelled and jump height (pose3d_nb.motion) cannot be "
        "computed from them. Record it again, or place its keypoints in the world: "
        "numpy.save('keypoints.npy', session.keypoints_2d), then `pose3d lift keypoints.npy "
        "--size W H --grounded --out joints.npy` (W H: the video's frame size in pixels)"
    )


#: dtype kinds a column may be stored as (bool, signed, unsigned, float); cast to the column's dtype.
_NUMERIC_KINDS = frozenset("biuf")


def checked_columns(arrays: dict[str, np.ndarray], where: Path | str) -> dict[str, np.ndarray]:
    """``arrays`` as the columns of ``COLUMNS``: shapes and one common length checked.

    Columns absent from ``arrays`` (a file older than the column) are filled with the column's
    ``fill``; ``SESSION_ARRAYS`` must be there. Raises ``SessionError`` naming ``where``.
    """
    missing = [name for name in SESSION_ARRAYS if name not in arrays]
    if missing:
        raise SessionError(f"{where} is not a pose3d_nb session: it lacks {', '.join(missing)}")
    refuse_single_values(arrays, where)
    lengths = {name: (len(arrays[name]) if np.ndim(arrays[name]) else None)
               for name in COLUMNS if name in arrays}
    rows = lengths["timestamps"]
    if rows is None or len(set(lengths.values())) != 1:
        shown = ", ".join(f"{name} {length}" for name, length in lengths.items())
        raise SessionError(
            f"{where} is damaged: its columns have different lengths ({shown}); record it again"
        )
    columns = {}
    for name, column in COLUMNS.items():
        if name not in arrays:
            columns[name] = empty_column(name, rows)
            continue
        array = np.asarray(arrays[name])
        if array.shape[1:] != column.shape:
            raise SessionError(
                f"{where} is damaged: {name} has rows of shape {array.shape[1:]}, expected {column.shape}"
            )
        if array.dtype.kind not in _NUMERIC_KINDS:  # text, dates, records: astype would raise or invent
            raise SessionError(f"{where} is damaged: {name} holds {array.dtype} values, expected numbers")
        columns[name] = array.astype(column.dtype, copy=False)
    return columns


def refuse_single_values(arrays: dict[str, np.ndarray], where: Path | str) -> None:
    """``SessionError`` naming ``where`` and the column when a column of ``arrays`` is a single
    value (a 0-d array) instead of one entry per row: it has no length to count rows by."""
    single = [name for name in COLUMNS if name in arrays and np.ndim(arrays[name]) == 0]
    if single:
        what = "column holds" if len(single) == 1 else "columns hold"
        raise SessionError(
            f"{where} is damaged: its {', '.join(single)} {what} a single value, not one per row; "
            "record it again"
        )


def combined_format_version(*versions: int) -> int:
    """The ``format_version`` of a journal or session holding rows of each of ``versions``: the
    oldest of them (a newer number would say the older rows are what they are not), and at
    least ``FIRST_JOURNAL_VERSION``, whose layout (a journal, or what a stop writes from one,
    with ``complete``) it has. Each of ``versions`` is one this version reads (1 to
    ``FORMAT_VERSION``)."""
    return max(FIRST_JOURNAL_VERSION, min(versions))


def session_metadata(metadata: dict[str, Any], rows: int, complete: bool | None,
                     format_version: int = FORMAT_VERSION) -> dict[str, Any]:
    """``metadata`` with the format's own keys (``format_version``, ``rows``, ``complete``) set;
    ``format_version``: the version its rows are (``FORMAT_VERSION`` unless they continue older
    ones: ``combined_format_version``)."""
    return {**metadata, "format_version": format_version, "rows": int(rows), "complete": complete}


def write_session(path: str | Path, snapshot: BufferSnapshot, metadata: dict[str, Any]) -> None:
    """Write ``snapshot`` as one ``session.npz`` (atomic, durable): every column plus ``metadata``.

    ``metadata`` is stored as given (JSON); ``rows`` is added, ``complete`` defaults to True (a
    whole file written at once), and ``format_version`` is ``FORMAT_VERSION``, or, when
    ``metadata`` states an older one (metadata read with the rows from an older file or journal:
    ``Session.metadata``), that one (``combined_format_version``): rows read from an older file
    are no more than its version says. Raises ``SessionError`` (naming ``path``) for a stated
    ``format_version`` that is no version this pose3d_nb reads.
    """
    version = FORMAT_VERSION
    if "format_version" in metadata:
        stated = checked_format_version(metadata["format_version"], f"the metadata given for {path}")
        version = combined_format_version(version, stated)
    arrays = snapshot.columns()
    meta = session_metadata(metadata, len(snapshot), metadata.get("complete", True), version)
    arrays["metadata"] = np.array(json.dumps(meta, default=str))
    with atomic_file(path) as handle:
        _write_npz(handle, arrays)


def _write_npz(handle, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez(handle, **arrays)``'s layout (stored members, zip64), with its zip file closed
    even when a write fails: np.savez leaves it open on a full disk, and the garbage collector's
    later close printed a traceback ("Exception ignored ... seek of closed file")."""
    with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def read_metadata(path: Path) -> dict[str, Any]:
    """The metadata of a session file, without reading its columns (SessionError if unreadable)."""
    return _read(path, columns=False).metadata


def read_session_file(path: Path) -> Session:
    """Read one ``session.npz``: no unpickling; shapes and lengths checked (``SessionError``)."""
    return _read(path, columns=True)


def _read(path: Path, columns: bool) -> Session:
    if path.suffix == ".npy":
        raise SessionError(
            f"{path} is a single array, not a session (joints.npy holds only the newest pose); "
            "give session.npz or the folder `pose3d run --out` wrote"
        )
    wanted = None if columns else ("metadata", "timestamps")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # a bare .npy array under another name
            raise SessionError(f"{path} is a single .npy array, not a session; give session.npz")
        with data:
            arrays = {name: data[name] for name in data.files if wanted is None or name in wanted}
    except SessionError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SessionError(
            f"{path} is not a readable session file ({reason}): it may be truncated or damaged; "
            "if its run was killed, load the folder instead (its session.journal keeps what was recorded)"
        ) from None
    if "metadata" not in arrays:
        raise SessionError(f"{path} is not a pose3d_nb session: it has no metadata")
    try:
        metadata = json.loads(str(arrays.pop("metadata")))
    except ValueError:
        raise SessionError(f"{path} is damaged: its metadata is not JSON") from None
    if not isinstance(metadata, dict):
        raise SessionError(f"{path} is damaged: its metadata is not a JSON object")
    metadata["format_version"] = checked_format_version(metadata.get("format_version", 1), path)
    metadata.setdefault("complete", None)
    if not columns:
        refuse_single_values(arrays, path)
        metadata.setdefault("rows", len(arrays["timestamps"]) if "timestamps" in arrays else 0)
        return Session(**{name: empty_column(name, 0) for name in COLUMNS}, metadata=metadata)
    return Session(**checked_columns(arrays, path), metadata=metadata)
