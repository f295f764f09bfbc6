"""A recording folder (``--out``, ``out_dir``): what it holds, whether a run may write there.

A folder holds at most one recording: ``session.npz`` (complete) and/or ``session.journal/``
(being recorded, or left by a run that did not stop cleanly), plus the newest pose
``joints.npy`` and exports named ``session.*`` (``session.bvh``, ``session.csv``...).
``prepare_out_dir`` is the check a run makes before it starts: the folder can be created and
written, and it does not hold another recording unless the caller said to replace it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from pose3d_nb.errors import Pose3DFileNotFoundError, Pose3DValueError
from pose3d_nb.recording.files import atomic_file, durable_link, try_lock, writer_gone
from pose3d_nb.recording.journal import BASE_SESSION_FILE, JOURNAL_DIR, META_FILE, read_journal, read_meta
from pose3d_nb.recording.session import (
    FORMAT_VERSION,
    SESSION_FILE,
    NewerFormatError,
    Session,
    SessionError,
    pelvis_centred_note,
    read_metadata,
    read_session_file,
)

#: Prefix of a finished journal renamed aside before it is deleted (so it is never read again).
MERGED_PREFIX = f".{JOURNAL_DIR}.merged-"
# An unfinished recording that an --overwrite run replaces waits here until that run completes
# (then it is removed); a run that fails or is killed leaves it, loadable with load_session.
REPLACED_PREFIX = f".{JOURNAL_DIR}.replaced-"


class OutputError(Pose3DValueError):
    """An output folder a run cannot use: a file, not writable, or holding another recording."""


def prepare_out_dir(folder: str | Path, overwrite: bool = False, own_id: str | None = None,
                    hint: str = "pass overwrite=True") -> Path:
    """Check, before anything runs, that a recording may be written into ``folder``; its path.

    Creates ``folder`` (with parents) and writes a probe file, so a path that is a file, a
    read-only file system or a missing permission fail here, not after processing started.
    A folder holding a recording (other than ``own_id``'s, the recorder's own earlier part) is
    refused unless ``overwrite``; ``hint`` tells how to say so (the CLI: "pass --overwrite").
    A folder another run is recording into now (``lock_out_dir``) is refused, overwrite or not.
    The path returned is absolute (a relative ``folder`` is taken in the working folder now), so
    a caller that records into it is not moved elsewhere by a later ``os.chdir``.
    Raises ``OutputError`` with one line naming the folder.
    """
    path = Path(folder).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} is a file, not a folder: give a folder for the recording")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".pose3d-write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or exc
        raise OutputError(f"cannot write in {path}: {reason}; choose a writable folder") from None
    unlock_out_dir(lock_out_dir(path))  # refused now, before models load, if another run records here
    refuse_other_recording(path, overwrite, own_id, hint)
    return path


def refuse_other_recording(path: Path, overwrite: bool = False, own_id: str | None = None,
                           hint: str = "pass overwrite=True") -> None:
    """``OutputError`` when ``path`` holds a recording other than ``own_id``'s and not ``overwrite``
    (``check_no_other_recording``), after removing the journals a finished run left aside."""
    for leftover in path.glob(f"{MERGED_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    check_no_other_recording(path, overwrite, own_id, hint)


def check_no_other_recording(folder: str | Path, overwrite: bool = False, own_id: str | None = None,
                             hint: str = "pass overwrite=True") -> None:
    """``OutputError`` when ``folder`` holds a recording other than ``own_id``'s, or files of a
    recording's names that no recording there wrote, and not ``overwrite``; ``hint`` tells how
    to say so. Reads the folder and changes nothing (a folder that does not exist holds
    nothing), so a command can refuse its ``--out`` before it makes or writes anything."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        return
    held, ids = describe_recording(path)
    if held and not overwrite and not (own_id is not None and ids == {own_id}):
        if _BY_A_NEWER_VERSION in held:  # a valid recording: say to upgrade first
            raise OutputError(
                f"{path} already holds {held}: upgrade pose3d_nb to read it; {hint} only if you "
                "mean to replace it (once the new run completes), or choose another folder"
            )
        raise OutputError(
            f"{path} already holds {held}; {hint} to replace it once the new run completes, "
            "or choose another folder"
        )
    if held and overwrite and not (own_id is not None and ids == {own_id}):
        edited = changed_exports(path)
        if edited:  # the new session deletes the old one's exports, never one the user changed:
            # kept, it would sit beside the new session, made from the old one (or from nothing).
            them = "it" if len(edited) == 1 else "them"
            raise OutputError(
                f"{path} holds {', '.join(edited)} not as pose3d wrote {them} (edited since, or "
                "written by hand, by pose3d batch or by a pose3d_nb that kept no record of its "
                f"exports); replacing the recording would keep {them} beside the new session, "
                f"which {them} do{'es' if them == 'it' else ''} not belong to (pose3d deletes only "
                f"the exports it wrote, as written): move {them} out of {path} first, or choose "
                "another folder"
            )
    if not held and not overwrite:
        # A run writes joints.npy (and exports named session.*) as it goes; in a folder with no
        # recording, files of those names are someone else's (the original real-time tool wrote
        # out_files/joints.npy too). A recorder's own joints.npy always has its journal beside it.
        theirs = [name for name in recording_output_names() if (path / name).is_file()]
        if theirs:
            raise OutputError(
                f"{path} holds {', '.join(theirs)} that no recording there wrote, and a run writes "
                f"files of those names; move them, {hint} to replace them, or choose another folder"
            )


def lock_out_dir(path: Path) -> int | None:
    """Hold an exclusive ``flock`` on the folder ``path`` itself while a run records into it.

    Two runs recording into one folder at once would move each other's journal aside and merge
    one's rows under the other's name, losing rows of both. The lock is on the folder (no file
    of ours in it) and ends with its descriptor, so a killed process never leaves it behind.
    Returns the descriptor for ``unlock_out_dir``; None where folders cannot be locked (not
    POSIX, some network file systems), which go on unguarded.

    Tried again for up to ``LOCK_WAIT_S``: ``folder_in_use`` takes and lets go of the lock in
    under a millisecond (an engine's export asking whether another run records there), and a
    run starting at that instant failed.

    Raises:
        OutputError: another run (this process's or another's) holds the folder.
    """
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            return try_lock(path)
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.002)
                continue
        raise OutputError(
            f"{path} is being recorded into by another run that has not stopped (a `pose3d run`, "
            "or an engine: call its stop()); stop it first, or choose another folder"
        ) from None


#: Seconds ``lock_out_dir`` tries again while the folder is held (``folder_in_use``'s probes
#: hold it under a millisecond; a run holds it for as long as it records).
LOCK_WAIT_S = 0.5


def folder_in_use(path: Path) -> bool:
    """True when a run (this process's or another's) holds the folder ``path`` now
    (``lock_out_dir``): taken and let go at once, without waiting."""
    try:
        held = try_lock(path)
    except BlockingIOError:
        return True
    unlock_out_dir(held)
    return False


def unlock_out_dir(descriptor: int | None) -> None:
    """Release a lock from ``lock_out_dir`` (None: nothing was held)."""
    if descriptor is not None:
        os.close(descriptor)


def remove_empty_out_dir(path: Path) -> None:
    """Remove the recording folder ``path`` if it is empty and no run holds it: one a run made
    and failed in before recording anything (a video that cannot be read). Under the folder's
    lock: a run refused because another one holds the folder, which has written nothing yet,
    removed that run's folder (its first save made it again, its lock on the old one)."""
    try:
        held = lock_out_dir(path)
    except OutputError:
        return
    try:
        with contextlib.suppress(OSError):
            path.rmdir()
    finally:
        unlock_out_dir(held)


def describe_recording(folder: Path) -> tuple[str | None, set[str | None]]:
    """What recording ``folder`` holds, in words (None: none), and the recording ids found."""
    parts, ids = [], set()
    single = folder / SESSION_FILE
    if single.is_file():
        try:
            meta = read_metadata(single)
        except NewerFormatError as exc:  # a valid recording: never steer the user to replace it
            parts.append(f"a {SESSION_FILE} {_written_by_a_newer_version(exc)}")
            ids.add(None)
        except SessionError:
            parts.append(f"a {SESSION_FILE} that cannot be read")
            ids.add(None)
        else:
            done = {True: "complete ", False: "unfinished "}.get(meta.get("complete"), "")
            parts.append(f"a {done}session ({meta.get('rows')} frames, {SESSION_FILE})")
            ids.add(meta.get("recording_id"))
    journal = folder / JOURNAL_DIR
    if journal.is_dir():
        newer = None
        try:
            ids.add(read_meta(journal).get("recording_id"))
        except NewerFormatError as exc:
            newer = exc
            ids.add(None)
        except SessionError:
            ids.add(None)
        if newer is not None:
            parts.append(f"an unfinished recording ({JOURNAL_DIR}) {_written_by_a_newer_version(newer)}")
        elif _holds_no_row(journal):  # a run that could save nothing (a full disk), or killed at once
            parts.append(f"a recording that saved no row ({JOURNAL_DIR}, from a run that did not stop "
                         "cleanly: replacing it loses nothing)")
        else:
            parts.append(f"an unfinished recording ({JOURNAL_DIR}, from a run that did not stop cleanly)")
    else:
        set_aside = set_aside_standing_in(folder)
        if set_aside is not None:  # what load_session reads for the folder (resolve_session)
            with contextlib.suppress(SessionError, OSError):
                ids.add(read_meta(set_aside).get("recording_id"))
            parts.append(f"an unfinished recording ({set_aside.name}, set aside by an --overwrite "
                         "run that did not complete)")
    return (" and ".join(parts) or None), ids


_BY_A_NEWER_VERSION = "written by a newer pose3d_nb"


def _written_by_a_newer_version(error: NewerFormatError) -> str:
    """How ``describe_recording`` names a recording of a newer format: a valid one, not damage."""
    return f"{_BY_A_NEWER_VERSION} (format {error.version} > {FORMAT_VERSION})"


def resolve_session(path: str | Path) -> Path:
    """The file or journal folder ``load_session(path)`` reads.

    ``path`` may be a ``session.npz`` (or any session file), a ``session.journal`` folder, or a
    recording folder: its journal when there is one (the newest recording, not finished),
    else its ``session.npz``. A journal of another recording that saved no row yet (an
    ``--overwrite`` run killed or failed in its first seconds, or an empty folder whose first
    write failed) does not hide the complete ``session.npz`` beside it: that is read. Nor does
    it, or the lack of any journal (a run killed just after it set the recording aside), hide
    an unfinished recording that run set aside and that is newer than that ``session.npz``
    (``set_aside_standing_in``): that is read.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        if (path / META_FILE).is_file():
            return path
        if (path / JOURNAL_DIR).is_dir():
            if _holds_no_row(path / JOURNAL_DIR):
                # An --overwrite run sets the folder's unfinished recording aside as it starts its
                # own journal; killed before its first save, that empty journal hid those rows.
                set_aside = set_aside_standing_in(path)
                if set_aside is not None:
                    return set_aside
            if _an_empty_journal_beside_another_session(path):
                return path / SESSION_FILE
            return path / JOURNAL_DIR
        # Killed between setting the recording aside and making its own journal: no journal.
        set_aside = set_aside_standing_in(path)
        if set_aside is not None:
            return set_aside
        if (path / SESSION_FILE).is_file():
            return path / SESSION_FILE
        raise Pose3DFileNotFoundError(
            f"no session in {path}: neither {SESSION_FILE} nor {JOURNAL_DIR}; "
            "run the engine (or `pose3d run`) first"
        )
    if not path.exists():
        unfinished = path.name == SESSION_FILE and (path.parent / JOURNAL_DIR).is_dir()
        extra = (f"; its run did not finish: load the folder {path.parent} for the rows recorded"
                 if unfinished else "; run the engine (or `pose3d run`) first")
        raise Pose3DFileNotFoundError(f"no session file at {path}{extra}")
    return path


def replaced_session_beside(journal: Path) -> Path | None:
    """The complete ``session.npz`` beside ``journal`` when it is another recording's (the one an
    ``--overwrite`` run was replacing when it was killed or failed), else None."""
    session_path = journal.parent / SESSION_FILE
    if journal.name != JOURNAL_DIR or not session_path.is_file():
        return None
    try:
        ours = read_meta(journal).get("recording_id")
        theirs = read_metadata(session_path).get("recording_id")
    except (SessionError, OSError):
        return None  # loading says what is damaged
    return session_path if theirs != ours else None


def set_aside_recordings(folder: Path) -> list[Path]:
    """The unfinished recordings an ``--overwrite`` run set aside in ``folder`` (``REPLACED_PREFIX``)
    and has not removed (it was killed or failed), those holding rows, the newest first
    (``_newest_first``)."""
    return [journal for journal, _ in _set_aside_recordings(folder)]


#: A recording's metadata key (``session.npz``, a journal's ``meta.json``): the names of the
#: recordings set aside in its folder (``REPLACED_PREFIX``...) when it opened its journal, and
#: again when it wrote its ``session.npz``. Each one named is older than it: a recording is set
#: aside only by a run that starts after it, and none starts while another records there (the
#: folder's lock). Written into the files themselves, it survives a copy that changes every
#: file's time, which the modification times compared before it (``_older_than_by_time``) did not.
SET_ASIDE_BEFORE = "set_aside_before"


def set_aside_names(folder: Path) -> list[str]:
    """The names of the recordings set aside in ``folder`` now, sorted: ``SET_ASIDE_BEFORE``."""
    return sorted(journal.name for journal in folder.glob(f"{REPLACED_PREFIX}*"))


def _set_aside_recordings(folder: Path, passed_over=None) -> list[tuple[Path, dict]]:
    """``set_aside_recordings`` with each one's ``meta.json``, newest first, leaving out those
    ``passed_over(journal, meta)`` says (an older recording than the folder's ``session.npz``)
    before their rows are counted. The rows are counted from ``meta.json``: reading each journal
    in full (an hour of rows) on every look at the folder cost seconds. Only a journal whose
    meta.json counts no row (written before it counted, or killed between its first save's sync
    and the count) is read."""
    found = []
    for journal in folder.glob(f"{REPLACED_PREFIX}*"):
        with contextlib.suppress(SessionError, OSError):
            meta = read_meta(journal)
            if passed_over is not None and passed_over(journal, meta):
                continue
            rows = meta.get("rows")
            if not rows:  # no count (an older journal), or 0: a kill between a save's sync and its count
                rows = len(read_journal(journal))
            if rows:
                found.append((journal, meta))
    return _newest_first(found)


def _set_aside_before(meta: dict) -> frozenset[str] | None:
    """A journal's ``SET_ASIDE_BEFORE`` (None: a journal written before it was kept, 2026-12-08)."""
    named = (meta.get("metadata") or {}).get(SET_ASIDE_BEFORE)
    return frozenset(named) if isinstance(named, list) and all(isinstance(n, str) for n in named) else None


def _newest_first(found: list[tuple[Path, dict]]) -> list[tuple[Path, dict]]:
    """``found`` (set-aside journals and their ``meta.json``) newest first: by how many of the
    others each one's ``SET_ASIDE_BEFORE`` names (the newest names every older one still there),
    where each one has that list; else (a journal from before it) by ``meta.json``'s
    modification time, the last saved first."""
    def saved(journal: Path) -> int:
        try:
            return (journal / META_FILE).stat().st_mtime_ns
        except OSError:
            return 0

    before = {journal: _set_aside_before(meta) for journal, meta in found}
    if all(named is not None for named in before.values()):
        names = {journal.name for journal, _ in found}
        return sorted(found, reverse=True, key=lambda item: (len(before[item[0]] & names), saved(item[0])))
    return sorted(found, reverse=True, key=lambda item: saved(item[0]))


def keep_set_aside_bases(folder: Path) -> None:
    """Before ``folder``'s ``session.npz`` is replaced: give each recording set aside there
    (``REPLACED_PREFIX``) that continues that file (``base_rows`` > 0, its ``recording_id``) the
    file under its own name (``BASE_SESSION_FILE``, a hard link or a whole copy, durable), which
    ``read_journal`` reads in its place. Without it those first rows were in no file once the
    file was replaced, and the set-aside recording, which pose3d keeps because its rows are in
    no other file, could not be read ("continues a session.npz that was replaced since").

    The one the caller's own run set aside, which it removes once the file is replaced, is given
    its base too: a kill between the two leaves it readable. The caller holds the folder's lock.
    Raises ``OSError`` when a base cannot be kept (a full disk where hard links cannot be made):
    the file must not be replaced then.
    """
    session_path = folder / SESSION_FILE
    try:
        session_id = read_metadata(session_path).get("recording_id")
    except (SessionError, OSError):  # none, or unreadable: no set-aside recording can continue it
        return
    for journal in folder.glob(f"{REPLACED_PREFIX}*"):
        if journal.is_symlink() or not journal.is_dir() or (journal / BASE_SESSION_FILE).is_file():
            continue
        try:
            meta = read_meta(journal)
        except (SessionError, OSError):  # damaged or newer: read_journal refuses it anyway
            continue
        if meta.get("base_rows") and meta.get("recording_id") == session_id:
            durable_link(session_path, journal / BASE_SESSION_FILE)


def set_aside_standing_in(folder: Path) -> Path | None:
    """The newest recording set aside in ``folder`` (``set_aside_recordings``) when it stands for
    the folder: it is newer than the folder's ``session.npz`` (or there is none); else None. The
    caller has found no journal of rows in ``folder``. A recording an older killed run left aside
    must not stand in for a complete session a later ``--overwrite`` run wrote.

    Which is newer is read from the files: a ``session.npz`` names in its ``SET_ASIDE_BEFORE``
    the recordings set aside when it was written, each older than it; one it does not name was set
    aside since, by a run that started after it was written. Only a set-aside journal of the
    session's own recording holding no more rows than the file (its run killed between writing
    the file and removing the journal) is older though not named. A ``session.npz`` without that
    list (written before it was kept, 2026-12-08, or by ``write_session`` outside a run) or
    unreadable falls back to the modification times (``_older_than_by_time``), which a copy of
    the folder that does not keep them (``cp`` without ``-p``, some sync tools) can reorder.
    """
    session_path = folder / SESSION_FILE
    if not session_path.is_file():
        found = _set_aside_recordings(folder)
    else:
        try:
            session = read_metadata(session_path)
        except (SessionError, OSError):
            session = {}
        if isinstance(session.get(SET_ASIDE_BEFORE), list):
            found = _set_aside_recordings(folder, passed_over=_older_than_named(session))
        else:
            found = _set_aside_recordings(folder, passed_over=_older_than_by_time(session_path))
    return found[0][0] if found else None


def _older_than_named(session: dict):
    """``_set_aside_recordings``'s ``passed_over`` for a ``session.npz`` with ``SET_ASIDE_BEFORE``
    (``session``: its metadata): a set-aside journal it names, or one of its own recording holding
    no more rows than it (its run killed between writing the file and removing the journal)."""
    named, in_file = session[SET_ASIDE_BEFORE], int(session.get("rows") or 0)

    def older(journal: Path, meta: dict) -> bool:
        if journal.name in named:
            return True
        if meta.get("recording_id") != session.get("recording_id"):
            return False
        # Its rows as read where the count says no more than the file: a kill between a save's
        # rows and its count leaves the count a save behind, and a journal continuing this file
        # with rows the count missed passed for the one its stop had merged. (Read only in that
        # state; a journal that cannot be read: the count.)
        if int(meta.get("base_rows", 0)) + int(meta.get("rows") or 0) > in_file:
            return False
        try:
            with warnings.catch_warnings():  # a damaged one is reported when it is read
                warnings.simplefilter("ignore")
                return len(read_journal(journal)) <= in_file
        except (SessionError, OSError):
            return True

    return older


def _older_than_by_time(session_path: Path):
    """``_set_aside_recordings``'s ``passed_over`` for a ``session.npz`` without
    ``SET_ASIDE_BEFORE``: a set-aside journal whose ``meta.json`` (rewritten at each save) is not
    newer than the file."""
    try:
        written = session_path.stat().st_mtime_ns
    except OSError:
        return None

    def older(journal: Path, meta: dict) -> bool:
        return (journal / META_FILE).stat().st_mtime_ns <= written

    return older


def _holds_no_row(journal: Path) -> bool:
    """True for a journal a run made and was killed in before its first save: an empty folder
    (killed before its ``meta.json``), or a ``meta.json`` and no row (continuing no session)."""
    if not (journal / META_FILE).is_file():
        return not any(journal.iterdir())
    try:
        meta = read_meta(journal)
        if meta.get("base_rows", 0) or meta.get("rows"):  # counted rows: no need to read them all
            return False
        return len(read_journal(journal)) == 0
    except (SessionError, OSError):
        return False


def _an_empty_journal_beside_another_session(folder: Path) -> bool:
    journal = folder / JOURNAL_DIR
    if not (folder / SESSION_FILE).is_file():
        return False
    if not (journal / META_FILE).is_file():  # made, then its first write failed (a full disk)
        return not any(journal.iterdir())
    if replaced_session_beside(journal) is None:
        return False
    try:
        if read_meta(journal).get("rows"):  # counted rows: no need to read them all
            return False
        return len(read_journal(journal)) == 0
    except SessionError:
        return False


def recording_part(path: str | Path) -> str | None:
    """What of a recording ``path`` is, in words (None: not part of one), for writers of other
    files (exports) that must never replace it: a session file (whatever its name: one that
    reads as a session), or a file inside a ``session.journal`` (one that exists, or one an
    export would create beside a complete session, which then reads as an unfinished one)."""
    path = Path(path).expanduser()
    # Any folder above it, as resolved (a relative path from inside a journal, a sub-folder).
    journal = next((folder for folder in path.resolve().parents
                    if folder.name == JOURNAL_DIR or folder.name.startswith(f".{JOURNAL_DIR}.")), None)
    if journal is not None and (journal / META_FILE).is_file():
        return f"a file of the recording {journal}"
    if journal is not None:  # not there yet: made by an export, it would read as a recording never started
        return f"inside {journal}, where a recording keeps its journal"
    if path.is_file():
        try:
            read_metadata(path)
        except NewerFormatError:  # a recording all the same, one this version cannot read
            return "a session recorded by a newer pose3d_nb"
        except (SessionError, OSError):
            return None
        return "a recorded session"
    return None


def load_session(path: str | Path) -> Session:
    """Read a session without unpickling: a ``session.npz``, a journal, or a recording folder.

    A journal (a run still recording, or one killed) gives every row up to its last chunk with
    ``metadata["complete"]`` False; ``session.npz`` after a clean stop says True (None for
    files written before version 2). Shapes and lengths are checked: a damaged, truncated or
    foreign file raises ``SessionError`` (a ``Pose3DValueError``) naming it. A folder whose
    journal is of another recording than the complete ``session.npz`` beside it (an overwrite
    run still recording, or killed or failed before completing) gives the journal's rows and a
    ``UserWarning`` naming the complete file (see ``resolve_session``). Unfinished recordings
    that killed ``--overwrite`` runs set aside in the folder, holding rows, are named in a
    ``UserWarning`` (``set_aside_report``) whatever is read. A session whose ``joints_3d`` were
    never placed in the world (recorded before world grounding: ``pelvis_centred_rows``) gives a
    ``UserWarning`` saying that walking speed, distance and jumps cannot be computed from it,
    and what to do (``pelvis_centred_note``); decided by its rows, whatever its ``format_version``.
    """
    target = resolve_session(path)
    if not target.name.startswith(REPLACED_PREFIX):
        # Rows that --overwrite runs set aside are in no other file: say so wherever the folder
        # is read, not only when the next run starts there.
        kept_aside = set_aside_report(target.parent)
        if kept_aside is not None:
            warnings.warn(kept_aside, UserWarning, stacklevel=2)
    session = read_journal(target) if target.is_dir() else read_session_file(target)
    centred = pelvis_centred_note(session, target)
    if centred is not None:
        warnings.warn(centred, UserWarning, stacklevel=2)
    if not target.is_dir():
        return session
    if target.name.startswith(REPLACED_PREFIX) and target != Path(path).expanduser():
        warnings.warn(set_aside_note(target, len(session)), UserWarning, stacklevel=2)
        return session
    replaced = replaced_session_beside(target) if target != Path(path).expanduser() else None
    if replaced is not None:  # read for the folder: say that the folder holds another recording
        warnings.warn(
            f"{target.parent} also holds a complete {SESSION_FILE} of another recording (an "
            f"overwrite run replaces it only once that run completes); these are the "
            f"{len(session)} rows of the newer, unfinished one. load_session({str(replaced)!r}) "
            "reads the complete one.",
            UserWarning, stacklevel=2)
    return session


def set_aside_note(journal: Path, rows: int) -> str:
    """Why a folder reads as the unfinished recording ``journal`` (``rows`` rows) that an
    ``--overwrite`` run set aside: that run saved no row of its own, or made no journal."""
    folder = journal.parent
    why = (f"{folder / JOURNAL_DIR} holds no row (its --overwrite run was killed or failed before "
           "its first save)" if (folder / JOURNAL_DIR).is_dir() else
           f"{folder} has no {JOURNAL_DIR} (its --overwrite run was killed or failed before it made one)")
    return f"{why}; these are the {rows} rows of the unfinished recording it was replacing, kept in {journal}"


# What the built-in exports of a session write beside it (export.formats' suffixes, bvh's sidecar
# and `pose3d run --csv`'s per-frame session.csv; tests/test_export.py checks the formats' side).
# Only these are ever taken for an old run's exports: a user's own session.mp4 or session.toml
# in the folder is never touched.
#: The newest pose, replaced as poses come (the original real-time tool's output).
LATEST_POSE_FILE = "joints.npy"
EXPORT_SUFFIXES = (".bvh", ".invalid_frames.json", ".trc", ".c3d", ".csv", ".tidy.csv", ".parquet")


def _export_names() -> tuple[str, ...]:
    """``session.bvh`` ...: the session's stem with each of ``EXPORT_SUFFIXES``."""
    stem = Path(SESSION_FILE).stem
    return tuple(f"{stem}{suffix}" for suffix in EXPORT_SUFFIXES)


def noted_export(path: str | Path) -> bool:
    """Whether ``path`` is an export ``EXPORT_RECORD`` notes when written (``record_exports``) and
    that is then replaced only as written (``written_unedited``): one of a session's export names
    (``session.bvh``..., ``EXPORT_SUFFIXES``) or a set-aside recording's
    (``set_aside_export_name``), in a folder holding a recording that is not a ``pose3d batch``
    output (``BATCH_MANIFEST``: its manifest keeps that record)."""
    path = Path(path).expanduser()
    name = path.name
    set_aside = name.startswith(_SET_ASIDE_EXPORT) and any(name.endswith(s) for s in EXPORT_SUFFIXES)
    return ((name in _export_names() or set_aside) and _holds_a_recording(path.parent)
            and not (path.parent / BATCH_MANIFEST).is_file())


#: How the exports of a recording set aside (``REPLACED_PREFIX`` + ID) begin: ``session.replaced-ID``.
_SET_ASIDE_EXPORT = f"{Path(SESSION_FILE).stem}.replaced-"


def set_aside_export_name(journal: Path, suffix: str) -> str:
    """The name an export (``suffix``, e.g. ``.bvh``) of the set-aside recording ``journal``
    (``.session.journal.replaced-ID``) has beside it: ``session.replaced-ID.bvh``. Its rows are not
    the folder's session's, whose exports ``session.bvh``... are; a run never deletes it."""
    return f"{_SET_ASIDE_EXPORT}{journal.name[len(REPLACED_PREFIX):]}{suffix}"


def written_unedited(path: str | Path) -> bool:
    """Whether ``path`` is as pose3d wrote it, by its folder's ``EXPORT_RECORD`` (``record_exports``,
    ``_as_written``); only a ``noted_export`` can be."""
    path = Path(path).expanduser()
    return _as_written(path, _read_export_record(path.parent).get(path.name))


def _as_written(path: Path, recorded: dict[str, int | str] | None) -> bool:
    """Whether ``path`` is the file ``recorded`` noted: the same size and modification time, or,
    with another time (a copy of the folder made with `cp -r`, an unzip, a sync tool), the same
    size and SHA-256 (noted since 2026-12-07; an older entry has no hash and counts as edited)."""
    if not recorded:
        return False
    try:
        now = _stamp(path)
        if now["size"] != recorded["size"]:
            return False
        if now["mtime_ns"] == recorded["mtime_ns"]:
            return True
        from pose3d_nb.lifting.weights import sha256_of  # only when a time differs: not at import

        return "sha256" in recorded and sha256_of(path) == recorded["sha256"]
    except OSError:
        return False


def recording_output_names() -> tuple[str, ...]:
    """The names a recording writes beside its session: the newest pose and the exports."""
    return (LATEST_POSE_FILE, *_export_names())


#: The exports pose3d wrote beside a session, each with its size and modification time as written
#: (``record_exports``): what tells an export an ``--overwrite`` run may delete with the session it
#: came from from one the user edited since (``changed_exports``), which it never deletes.
EXPORT_RECORD = f".{Path(SESSION_FILE).stem}.exports.json"


def _stamp(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _holds_a_recording(folder: Path) -> bool:
    return ((folder / SESSION_FILE).is_file() or (folder / JOURNAL_DIR).is_dir()
            or any(folder.glob(f"{REPLACED_PREFIX}*")))


def _read_export_record(folder: Path) -> dict[str, dict[str, int]]:
    """``EXPORT_RECORD``'s stamps by file name; {} when there is none or it cannot be read (every
    export then counts as changed: kept)."""
    try:
        record = json.loads((folder / EXPORT_RECORD).read_text())
    except (OSError, ValueError):
        return {}
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict):
        return {}
    kinds = ({"size", "mtime_ns"}, {"size", "mtime_ns", "sha256"})  # the hash since 2026-12-07
    return {name: stamp for name, stamp in files.items() if isinstance(stamp, dict) and set(stamp) in kinds}


def _write_export_record(folder: Path, stamps: dict[str, dict[str, int]]) -> None:
    with atomic_file(folder / EXPORT_RECORD) as handle:
        handle.write(json.dumps({"format": 1, "files": dict(sorted(stamps.items()))}).encode())


def record_exports(paths: Iterable[str | Path]) -> None:
    """Note each of ``paths``, files just written, that is an export of a recording folder (one of
    ``_export_names`` in a folder holding a recording) in that folder's ``EXPORT_RECORD``, with its
    size and modification time. A record that cannot be written is let be: the export is kept,
    and an ``--overwrite`` run then refuses the folder naming it rather than delete it. Nothing
    is noted in a ``pose3d batch`` output (``BATCH_MANIFEST``): its manifest keeps that record."""
    by_folder: dict[Path, list[Path]] = {}
    for path in paths:
        path = Path(path).expanduser().absolute()
        if noted_export(path) and path.is_file():
            by_folder.setdefault(path.parent, []).append(path)
    from pose3d_nb.lifting.weights import sha256_of

    for folder, written in by_folder.items():
        with _record_lock(folder), contextlib.suppress(OSError):
            stamps = _read_export_record(folder)
            for path in written:
                stamps[path.name] = {**_stamp(path), "sha256": sha256_of(path)}
            _write_export_record(folder, stamps)


#: A ``pose3d batch`` output's own record of its files (``batch.manifest.MANIFEST``). Exports
#: written into such a folder are not noted in ``EXPORT_RECORD``: the batch's manifest decides
#: what it may replace there, and two hidden files of ours were files it "did not write", left
#: behind after the user moved their export away.
BATCH_MANIFEST = "batch.json"

#: Held while ``EXPORT_RECORD`` is read, changed and written back: two exports into one folder at
#: once each wrote the record without the other's entry (a later --overwrite then refused the
#: file left out, "not as pose3d wrote it"). A file of its own: the record is replaced by a rename.
EXPORT_RECORD_LOCK = f".{Path(SESSION_FILE).stem}.exports.lock"


@contextlib.contextmanager
def _record_lock(folder: Path) -> Iterator[None]:
    """Hold ``EXPORT_RECORD_LOCK``'s ``flock`` in ``folder`` (nothing where files cannot be locked)."""
    try:
        import fcntl

        descriptor = os.open(folder / EXPORT_RECORD_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def changed_exports(folder: Path) -> list[str]:
    """The names of the session's exports in ``folder`` (``EXPORT_SUFFIXES``) that pose3d did not
    write as they are now: edited since (size or modification time differ from
    ``EXPORT_RECORD``), or not in the record (written by hand, or by a version that kept none)."""
    unchanged = unchanged_exports(folder)
    return [path.name for path in export_files(folder) if path not in unchanged]


def unchanged_exports(folder: Path) -> dict[Path, dict[str, int]]:
    """The session's exports in ``folder`` still as pose3d wrote them (``EXPORT_RECORD``,
    ``_as_written``): path -> its stamp now (``{"size", "mtime_ns"}``), for ``remove_unchanged``."""
    recorded = _read_export_record(folder)
    found = {}
    for path in export_files(folder):
        with contextlib.suppress(OSError):
            if _as_written(path, recorded.get(path.name)):
                found[path] = _stamp(path)  # remove_unchanged: deleted only while still so
    return found


def export_files(folder: Path) -> dict[Path, int]:
    """The session's exports present in ``folder`` (``EXPORT_SUFFIXES``): path -> mtime (ns)."""
    found = {}
    for name in _export_names():
        path = folder / name
        if path.is_file():
            with contextlib.suppress(OSError):
                found[path] = path.stat().st_mtime_ns
    return found


def remove_unchanged(files: dict[Path, dict[str, int]]) -> None:
    """Delete each file of ``files`` (``unchanged_exports``: exports of the old session) still
    carrying its stamp (one edited while the run recorded is kept), and its ``EXPORT_RECORD`` entry."""
    removed: dict[Path, list[str]] = {}
    for path, stamp in files.items():
        with contextlib.suppress(OSError):
            if _stamp(path) == stamp:
                path.unlink()
                removed.setdefault(path.parent, []).append(path.name)
    for folder, names in removed.items():
        with _record_lock(folder), contextlib.suppress(OSError):
            stamps = {name: stamp for name, stamp in _read_export_record(folder).items() if name not in names}
            if stamps:
                _write_export_record(folder, stamps)
            else:  # the record of nothing: not left behind (its lock stays: a writer waiting
                # on a removed lock file would write beside one that locked a new file)
                (folder / EXPORT_RECORD).unlink()


def _temporary_name(name: str, suffix: str = ".tmp") -> re.Pattern[str]:
    """The temporary files ``atomic_file`` writes ``name`` through: ``.NAME.`` + tempfile's 8
    random characters + ``suffix``."""
    return re.compile(rf"^\.{re.escape(name)}\.[a-z0-9_]{{8}}{re.escape(suffix)}$")


#: Files only a recorder writes, and only while it holds the folder's lock: the newest pose (not a
#: row) and the stop's session.npz (written from the journal, which is removed only once the
#: file is in place: all its rows are in the journal).
_RECORDER_TEMPORARIES = (_temporary_name(LATEST_POSE_FILE), _temporary_name(SESSION_FILE))
#: A journal's meta.json, rewritten at each save (the rows it counts are in the streams), and the
#: copy of its base a set-aside journal is given (``keep_set_aside_bases``) before the folder's
#: session.npz is replaced (a copy cut short: that file was not replaced, and is copied again).
_JOURNAL_TEMPORARIES = (_temporary_name(META_FILE), _temporary_name(BASE_SESSION_FILE))
#: Exports (made from the session) and their record, which a `pose3d export` writes at any time.
_EXPORT_TEMPORARIES = (*(_temporary_name(name, ".tmp.c3d" if name.endswith(".c3d") else ".tmp")
                         for name in _export_names()), _temporary_name(EXPORT_RECORD))


def remove_leftovers(folder: Path) -> list[Path]:
    """Remove what killed runs left in the recording folder ``folder`` that provably holds no
    recorded row found nowhere else; the paths removed. The caller holds the folder's lock
    (``lock_out_dir``): no recorder writes there meanwhile.

    - temporary files of ``atomic_file`` whose writer is gone (``writer_gone``: no process holds
      them): of ``joints.npy``, of the stop's ``session.npz`` and of a journal's ``meta.json``
      (in ``session.journal`` or one set aside), whose content is in the journal; of a set-aside
      journal's copy of its base (``keep_set_aside_bases``), still the folder's ``session.npz``
      (cut short, it was not replaced; the next run to replace it copies it again); of the exports
      and their record, which are made from the session, only when not empty (a `pose3d export`
      does not take the folder's lock: an empty one may be a write just begun);
    - recordings an ``--overwrite`` run set aside (``REPLACED_PREFIX``) that hold no row (killed
      before their first save).

    A set-aside recording that holds rows is never removed: they are in no other file
    (``set_aside_report`` names them). Nothing is removed where files cannot be locked.
    """
    removed = []

    def remove_temporaries(where: Path, patterns, empty_too: bool) -> None:
        with contextlib.suppress(OSError):
            for path in where.iterdir():
                if not any(pattern.match(path.name) for pattern in patterns):
                    continue
                with contextlib.suppress(OSError):
                    if (empty_too or path.stat().st_size > 0) and writer_gone(path):
                        path.unlink()
                        removed.append(path)

    remove_temporaries(folder, _RECORDER_TEMPORARIES, empty_too=True)
    remove_temporaries(folder, _EXPORT_TEMPORARIES, empty_too=False)
    journals = [folder / JOURNAL_DIR, *folder.glob(f"{REPLACED_PREFIX}*")]
    for journal in journals:
        if journal.is_dir() and not journal.is_symlink():
            remove_temporaries(journal, _JOURNAL_TEMPORARIES, empty_too=True)
    for journal in journals[1:]:
        if journal.is_dir() and not journal.is_symlink() and _holds_no_row(journal):
            shutil.rmtree(journal, ignore_errors=True)
            if not journal.exists():
                removed.append(journal)
    return removed


def set_aside_report(folder: Path) -> str | None:
    """A line naming the recordings that ``--overwrite`` runs set aside in ``folder`` and that hold
    rows (``set_aside_recordings``: those runs were killed or failed), and how to read them; None
    when there is none. Their rows are in no other file, so nothing removes them."""
    kept = set_aside_recordings(folder)
    if not kept:
        return None
    names = ", ".join(journal.name for journal in kept)
    one = len(kept) == 1
    what = "an unfinished recording" if one else f"{len(kept)} unfinished recordings"
    return (f"{folder} keeps {what} that --overwrite runs set aside and never replaced (they were "
            f"killed or failed): {names}. Their rows are in no other file, so pose3d never deletes "
            f"{'it' if one else 'them'}: load_session('{kept[0]}') or `pose3d export {kept[0]} --format "
            f"csv` reads {'it' if one else 'the newest'}; delete {'it' if one else 'each'} yourself once "
            "you no longer need its rows")
