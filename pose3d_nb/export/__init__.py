"""Export a recorded session to the files animation, biomechanics and data tools open.

``export_session(session_or_path, format)`` writes one of the registered formats
(``FORMATS``, see ``export.formats``; ``register_format`` adds one):

| format | module | axes | units | what |
| --- | --- | --- | --- | --- |
| ``bvh`` | ``export.bvh`` | y up | m (or cm) | skeleton + joint rotations (Blender, MotionBuilder) |
| ``trc`` | ``export.trc`` | y up | m (or mm) | markers, OpenSim / Pose2Sim header |
| ``c3d`` | ``export.c3d`` | z up | mm (or m) | markers as points, residual -1 where no person (ezc3d) |
| ``csv`` / ``parquet`` | ``export.table`` | z up | m | tidy table, one row per frame and joint |

Every file is written to a temporary file and renamed into place; on any error nothing is left.
``smooth=HZ`` low-pass filters the 3D joints first (``export.smoothing``, zero-phase Butterworth).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from pose3d_nb.buffer import BufferSnapshot
from pose3d_nb.export.data import ExportData, ExportError, check_options, prepare
from pose3d_nb.export.formats import FORMATS, ExportFormat, format_names, register_format
from pose3d_nb.recording import Session, load_session, resolve_session
from pose3d_nb.recording.folder import (
    REPLACED_PREFIX,
    noted_export,
    record_exports,
    recording_part,
    set_aside_export_name,
    written_unedited,
)
from pose3d_nb.recording.journal import JOURNAL_DIR
from pose3d_nb.registry import load_object

__all__ = [
    "FORMATS",
    "ExportData",
    "ExportError",
    "ExportFormat",
    "check_units",
    "default_path",
    "default_path_of",
    "export_session",
    "format_name",
    "format_names",
    "prepare",
    "refuse_replacing_edited",
    "refuse_replacing_recording",
    "register_format",
    "units_name",
]


def format_name(format: Any) -> Any:
    """``format`` as the registry looks it up: text without the spaces around it (" bvh " was
    refused by ``export_session`` while a batch's ``export=" bvh "`` took it; the registry
    folds case itself). Anything else as given, for ``_entry`` to refuse by name."""
    return format.strip() if isinstance(format, str) else format


def _entry(format: str) -> ExportFormat:
    """The registered format ``format``; ``ExportError`` naming the choices otherwise."""
    if not isinstance(format, str) or format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[format]


def default_path(session_path: Path | None, format: str) -> Path:
    """``session.npz`` -> ``session.bvh`` etc. (``session.tidy.csv`` keeps ``session.csv`` apart).

    An unfinished recording that an ``--overwrite`` run set aside
    (``.session.journal.replaced-ID``) gets names of its own, ``session.replaced-ID.bvh`` ...: its
    rows are not the folder's session's, whose exports ``session.bvh`` ... are."""
    entry = _entry(format)
    if session_path is None:
        raise ExportError("give an output path: the session was not read from a file")
    if session_path.name.startswith(REPLACED_PREFIX):
        return session_path.with_name(set_aside_export_name(session_path, entry.suffix))
    return session_path.with_suffix(entry.suffix)


def default_path_of(given: str | Path, format: str, source: Path | None = None) -> Path:
    """Where an export of the session ``given`` (as named: a session file, a journal, a recording
    folder) goes by default; ``source``: what ``resolve_session(given)`` reads, when the caller
    has it. A folder read as the unfinished recording an ``--overwrite`` run set aside (that run
    saved no row: ``resolve_session``) exports as the folder's recording, ``session.bvh``...;
    that recording named itself exports under its own names (``default_path``)."""
    source = resolve_session(given) if source is None else source
    if source.name.startswith(REPLACED_PREFIX) and source != Path(given).expanduser():
        source = source.with_name(JOURNAL_DIR)
    return default_path(source, format)


def refuse_replacing_edited(path: str | Path, format: str) -> None:
    """``ExportError`` when writing ``format`` to ``path``, a session's own export name beside a
    recording (``session.bvh``...: where an export goes by default), would replace a file pose3d
    did not write as it is now (``recording.folder.written_unedited``): one the user edited, or
    wrote by hand, or an older version wrote without noting it. Absent files and pose3d's own
    unedited exports may be replaced (a notebook cell run again writes its export again); a
    set-aside recording's own (``session.replaced-ID.bvh``) alike."""
    from pose3d_nb.export.bvh import sidecar_path

    path = Path(path).expanduser()
    if not noted_export(path):
        return  # nothing noted there (a batch output, a renamed session): written over, as before
    targets = (path, sidecar_path(path)) if _entry(format_name(format)).name == "bvh" else (path,)
    kept = [str(target) for target in targets
            if (target.exists() or target.is_symlink()) and not written_unedited(target)]
    if kept:
        raise ExportError(
            f"{', '.join(kept)} {'is' if len(kept) == 1 else 'are'} not as pose3d wrote "
            f"{'it' if len(kept) == 1 else 'them'} (edited since, or written by hand or by an older "
            "version): not replaced. Move it away, write elsewhere (out=, --out), or replace it on "
            "purpose (overwrite=True, --overwrite)"
        )


def units_name(units: Any) -> Any:
    """``units`` as the formats list them: text in lower case without the spaces around it
    ("MM" is "mm", as "BVH" is "bvh"); anything else as given, for ``check_units`` to refuse."""
    return units.strip().lower() if isinstance(units, str) else units


def check_units(format: str, units: str | None) -> None:
    """``ExportError`` naming the choices for an unknown ``format``, or ``units`` (None: the
    format's default; any case) that it does not take; nothing is read, so a command checks
    them first."""
    entry = _entry(format_name(format))
    units = units_name(units)
    if units is not None and not entry.units:
        takes = ", ".join(name for name in FORMATS if FORMATS[name].units)
        raise ExportError(f"{format} is always in metres; units= applies to {takes}")
    if units is not None and units not in entry.units:
        raise ExportError(f"units must be one of {entry.units} for {format}, not {units!r}")


def _writer(format: str, units: str | None) -> Callable[..., Path]:
    """The writer for ``format`` with ``units`` checked against the entry and bound."""
    check_units(format, units)
    units = units_name(units)
    writer = load_object(_entry(format).writer)
    return writer if units is None else partial(writer, units=units)


def refuse_replacing_recording(path: str | Path) -> None:
    """``ExportError`` when ``path`` is part of a recording (a session file, a journal's file):
    an export is written over an earlier export, never over what it was made from."""
    replaced = recording_part(path)
    if replaced is not None:
        raise ExportError(f"{path} is {replaced}: an export never replaces a recording; "
                          "choose another output path")


def export_session(
    session_or_path: str | Path | Session | BufferSnapshot,
    format: str,
    out: str | Path | None = None,
    fps: float | None = None,
    smooth: float | None = None,
    units: str | None = None,
    segment: int | None = None,
    metadata: dict[str, Any] | None = None,
    person: int | None = None,
    *,
    record: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write a session as ``format`` (a name in ``FORMATS``); returns the path written.

    ``session_or_path``: a ``session.npz`` path, a loaded ``Session`` or a ``BufferSnapshot``
    (then pass ``metadata`` and ``out``). ``out``: default beside the session file, e.g.
    ``session.bvh``. ``fps``: the frame rate to declare (default: from the timestamps).
    ``smooth``: low-pass cutoff in Hz (default: none). ``units``: see each writer (any case). ``segment``:
    export only that recording run (default: every row). ``person``: a track id to export that
    person (the people columns of a several-people session) instead of the followed one. Raises
    ``ExportError`` (a ValueError) with a one-line reason for an empty session, no valid frame, an
    unknown format or option, a followed person who changed during the session (pass ``person``),
    a person not recorded, or a path that cannot be written; nothing is left behind then.
    An existing file at ``out`` is replaced (a notebook's cell run again writes its export again;
    only a recording is never replaced): ``pose3d export --out`` refuses one unless --overwrite.
    Where the export goes by default (``session.bvh``... beside a recording, also when ``out``
    names it) only an export pose3d wrote and nobody edited since is replaced; another file there
    raises ``ExportError`` unless ``overwrite`` (``refuse_replacing_edited``).
    A file written beside a recording as one of its exports (``session.bvh``...) is noted in that
    folder's ``.session.exports.json`` (``recording.folder.record_exports``), so that a ``pose3d
    run --overwrite`` deletes it with its session only while it is unedited; ``record=False``
    notes nothing (``pose3d batch``, whose manifest records the files it writes).
    """
    format = _entry(format_name(format)).name  # "BVH" is bvh: its sidecar noted and checked too
    writer = _writer(format, units)
    check_options(fps=fps, smooth=smooth, person=person, segment=segment)  # before the session is read
    fixed_rate = FORMATS[format].fixed_rate
    beside = None
    if isinstance(session_or_path, (str, Path)):
        # The file a recording folder stands for (its session.npz, or a killed run's journal), as
        # pose3d export reads it: the export goes beside that. The folder itself gave
        # FOLDER.bvh outside it, where two takes (walk.1, walk.2) wrote the same walk.bvh.
        source = resolve_session(session_or_path)
        beside = default_path_of(session_or_path, format, source)
        session_or_path = load_session(source)
    meta = metadata if metadata is not None else getattr(session_or_path, "metadata", None) or {}
    if out is None and beside is None:
        default_path(None, format)  # ExportError: give an output path
    path = Path(out).expanduser() if out is not None else beside
    refuse_replacing_recording(path)  # `--out session.npz`: the export would replace what it reads
    if record and not overwrite:  # a batch's own manifest decides what it rewrites in its staging
        refuse_replacing_edited(path, format)
    try:
        data = prepare(session_or_path, meta, fps=fps, smooth=smooth, segment=segment, person=person,
                       fixed_rate=fixed_rate)
    except ExportError:
        raise
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    try:
        written = writer(path, data)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    # Beside a recording: noted as written, so an --overwrite run deletes it with its session
    # only while it is as written here (one the user edits since is kept: folder.changed_exports).
    if record:
        from pose3d_nb.export.bvh import sidecar_path

        record_exports([written, *([sidecar_path(written)] if format == "bvh" else [])])
    return written
