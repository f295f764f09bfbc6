"""``Recorder``: each pose becomes a row of the rolling buffer and of the recording on disk.

The lift thread only appends rows in memory (``record``); a writer thread rewrites the newest
pose (``joints.npy``) as poses come and turns the rows that arrived since the last save into one
journal chunk every ``session_interval`` seconds (see ``recording.journal``), so a save costs
the new rows only and the lift thread never waits for the disk. A clean stop (``finish``)
writes ``session.npz`` once, atomically, from the journal, then removes the journal. The
rolling buffer stays the live window for displays and cells; the recording's length is
bounded by the disk.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import numbers
import os
import shutil
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_nb.buffer import (
    BufferSnapshot,
    PoseSample,
    RollingBuffer,
    RowPlacement,
    own_people_slots,
    stack_rows,
)
from pose3d_nb.errors import Pose3DRuntimeError, Pose3DValueError
from pose3d_nb.recording.files import write_latest_pose
from pose3d_nb.recording.folder import (
    LATEST_POSE_FILE,
    MERGED_PREFIX,
    REPLACED_PREFIX,
    SET_ASIDE_BEFORE,
    describe_recording,
    folder_in_use,
    keep_set_aside_bases,
    lock_out_dir,
    prepare_out_dir,
    refuse_other_recording,
    remove_leftovers,
    remove_unchanged,
    resolve_session,
    set_aside_names,
    set_aside_report,
    unchanged_exports,
    unlock_out_dir,
)
from pose3d_nb.recording.journal import JOURNAL_DIR, JournalWriter, read_journal, read_meta
from pose3d_nb.recording.people import people_columns
from pose3d_nb.recording.session import (
    SESSION_FILE,
    SessionError,
    read_metadata,
    read_session_file,
    write_session,
)

#: A chunk is written early once this many rows wait (a fast file source between two saves).
MAX_CHUNK_ROWS = 4096
#: Rows whose number and key ``place_again`` can find: the camera settles within a few seconds.
RECENT_ROW_KEYS = 8192


class RecordingSaveError(Pose3DRuntimeError):
    """The session file could not be written at stop (a full disk, a folder gone); the rows saved
    before stay in the folder. ``out_dir``: the folder; ``reason``: the system's one line;
    ``saved``: rows of the recording on disk (its journal and the ``session.npz`` a run started
    again continues); ``in_memory``: rows the rolling buffer still holds; ``unsaved``: rows
    recorded since the last save, on no disk.

    The message ends, where rows are only in memory, with how to keep them in Python
    (``write_session(... engine.buffer.snapshot() ...)``); ``summary`` is the message without
    that advice, for a caller that keeps them itself (``pose3d run`` writes them elsewhere).
    """

    #: How to keep the rows only in memory, from Python (the engine's user holds ``engine``).
    PYTHON_ADVICE = ("write_session('OTHER_DISK/session.npz', engine.buffer.snapshot(), "
                     "engine.metadata()) keeps them")

    def __init__(self, out_dir: Path, reason: str, saved: int | None = None, in_memory: int = 0,
                 unsaved: int = 0) -> None:
        advice = ""
        if saved is None or saved > 0:
            kept = "the rows saved before" if saved is None else f"the {saved} rows saved before"
            where = f"{kept} stay in {out_dir} (load_session reads them)"
            if unsaved > 0:  # rows since the last save, on no disk: say where they still are
                held = ("the rolling buffer holds them" if unsaved <= in_memory
                        else f"the rolling buffer holds the newest {in_memory} of them")
                where += f"; the {unsaved} rows since the last save are only in memory ({held})"
                advice = f": {self.PYTHON_ADVICE}"
        else:  # the disk was full from the start: saying rows "stay" would send the user looking
            where = (f"no row of it had been saved yet; only the rolling buffer holds its newest "
                     f"{in_memory} rows, in memory")
            advice = f": {self.PYTHON_ADVICE}"
        #: The message without the Python advice.
        self.summary = f"cannot save the recording in {out_dir}: {reason}; {where}"
        super().__init__(self.summary + advice)
        self.out_dir, self.reason, self.saved = out_dir, reason, saved
        self.in_memory, self.unsaved = in_memory, unsaved

    @property
    def rows_only_in_memory(self) -> bool:
        """Whether rows of the recording may be in no file, only in the rolling buffer (which
        holds some): the ones since the last save, every one (nothing was saved), or an unknown
        number (``saved`` None: the journal could not be read back to count them)."""
        return self.in_memory > 0 and (self.unsaved > 0 or not self.saved)


def checked_max_frames(value: Any) -> int | None:
    """``value`` as a limit on the rows recorded (``max_frames``): a plain int, or None for no
    limit. ``Pose3DValueError`` unless it is None or a whole number >= 1 (0 recorded nothing and
    ended the run at once; a bool is no count)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                              or value < 1):
        raise Pose3DValueError(f"max_frames must be a whole number >= 1, or None for no limit; got {value!r}")
    return None if value is None else int(value)


class Recorder:
    """Keeps a run's poses: in ``buffer`` (newest ``capacity`` rows) and under ``out_dir``.

    The engine calls ``begin`` before its threads start (the folder is checked there: see
    ``folder.prepare_out_dir``), ``record`` on its lift thread, ``flush`` at the end of a file
    and ``finish`` when it stops. Starting again after ``finish`` continues the same recording
    (a new source segment), so ``session.npz`` always holds every row since the engine was made.

    Args:
        buffer: the rolling buffer rows are appended to.
        out_dir: the recording folder (made absolute here: the working folder may change while
            it records); None keeps rows in memory only.
        metadata: called for each save: what produced the recording (JSON-able values).
        session_interval: seconds between chunk writes (what a crash may lose at most).
        overwrite: replace a recording already in ``out_dir`` (only once this one completes).
        hint: how the refusal tells a caller to overwrite ("pass overwrite=True").
        finalize: a last step over the complete recording and its metadata before a clean
            ``finish`` writes ``session.npz`` (the engine places a video file's rows again from
            the whole clip); it returns both. If it raises, the rows are written as recorded,
            with its error as ``metadata["finalize_error"]``.

    Raises:
        Pose3DValueError: ``out_dir`` is not a path or None, or ``session_interval`` is not a
            number of seconds >= 0.
    """

    def __init__(self, buffer: RollingBuffer, out_dir: str | Path | None,
                 metadata: Callable[[], dict[str, Any]], session_interval: float = 2.0,
                 overwrite: bool = False, hint: str = "pass overwrite=True",
                 finalize: Callable[[BufferSnapshot, dict[str, Any]], tuple[BufferSnapshot, dict[str, Any]]]
                 | None = None) -> None:
        if out_dir is not None and not isinstance(out_dir, (str, os.PathLike)):
            raise Pose3DValueError(f"out_dir must be a folder's path or None, got {type(out_dir).__name__}")
        # checked here: the writer thread that reads it would die of a bad one, mid-run
        interval = session_interval
        if isinstance(interval, bool) or not isinstance(interval, numbers.Real) \
                or not 0 <= interval < math.inf:
            raise Pose3DValueError(f"session_interval must be a number of seconds >= 0, got {interval!r}")
        self.buffer = buffer
        # Expanded here, as the folder checks and load_session expand it: "~/rec" was checked and
        # locked at the home folder's rec but written to a folder named "~" in the working one.
        # Made absolute once: kept relative, a %cd (os.chdir) while recording sent the saves and
        # the stop's session.npz into another folder's out_files, replacing its recording.
        self.out_dir = Path(out_dir).expanduser().absolute() if out_dir is not None else None
        self.session_interval = float(session_interval)
        self.overwrite = overwrite
        self.hint = hint
        self.finalize = finalize
        self._limit: int | None = None
        #: Rows recorded since creation (all of them, unlike the buffer's window).
        self.recorded = 0
        #: Longest ``record`` call in seconds: how long the lift thread was held.
        self.longest_record_s = 0.0
        #: Seconds each of the last chunk writes took (on the writer thread).
        self.chunk_seconds: collections.deque[float] = collections.deque(maxlen=100_000)
        self._metadata = metadata
        self._recording_id: str | None = None
        self._active = False
        self._pending: list[PoseSample] = []
        # Rows placed again (``place_again``) by their number in the recording, applied to the
        # rows when they are finished; the newest rows' numbers and keys to find them by.
        self._placed_again: dict[int, RowPlacement] = {}
        self._row_keys: collections.deque[tuple[int, int, int]] = collections.deque(maxlen=RECENT_ROW_KEYS)
        self._latest: Any = None  # the newest pose's joints, until the writer saves them
        self._pending_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._writer: threading.Thread | None = None
        self._journal: JournalWriter | None = None
        self._old_exports: dict[Path, int] = {}
        self._replaced_journal: Path | None = None  # another run's unfinished journal, set aside
        # The recordings set aside in the folder when this one opened its journal: older than it
        # (``folder.SET_ASIDE_BEFORE``), so a folder copied without its file times still tells.
        self._set_aside_before: list[str] = []
        self._write_error: BaseException | None = None
        self._folder_lock: int | None = None  # held from begin to finish: one run per folder

    @property
    def recording_id(self) -> str | None:
        """This recording's identity (in ``session.npz``'s metadata), once it began."""
        return self._recording_id

    @property
    def limit(self) -> int | None:
        """Most rows to record (None: no limit); ``full`` says when it is reached."""
        return self._limit

    @limit.setter
    def limit(self, value: int | None) -> None:
        self._limit = checked_max_frames(value)

    def session(self) -> BufferSnapshot:
        """Every row recorded so far: the recording on disk (saved first) when there is one,
        else the buffer, while it still holds every row recorded.

        Only this recording's own files are read: in a folder an overwrite run is still
        replacing, the other recording's ``session.npz`` is not this one's rows.

        Raises:
            Pose3DRuntimeError: no recording on disk and the buffer dropped its oldest rows
                (``out_dir`` None and more than ``capacity`` rows recorded): its newest rows
                alone would pass for the whole run.
        """
        if self.out_dir is None or self._recording_id is None:
            return self._all_rows_in_memory()
        self.flush()
        journal = self._own_journal()
        if journal is not None:
            return read_journal(journal)
        session_path = self._own_session_file()
        return read_session_file(session_path) if session_path is not None else self._all_rows_in_memory()

    def _all_rows_in_memory(self) -> BufferSnapshot:
        """The buffer's rows when they are every row recorded (``session``'s error otherwise)."""
        held = len(self.buffer)
        if self.recorded > held:
            if self.out_dir is None:
                why = "no out_dir"
                keep = ("To keep every row, record to disk (PoseEngine(out_dir=...)) or hold more "
                        "(capacity=...); to")
            else:  # its recording was on disk, and is no more (``replaced_by``)
                why = (f"and its recording is no longer in {self.out_dir}: another run replaced it, "
                       "or it was moved")
                keep = "To"
            raise Pose3DRuntimeError(
                f"{self.recorded} rows were recorded but only the newest {held} are held (capacity="
                f"{self.buffer.capacity}, {why}): the {self.recorded - held} oldest are gone, "
                f"and exporting the rest would pass for the whole run. {keep} export the rows held, "
                "export_session(engine.buffer.snapshot(), FORMAT, PATH, metadata=engine.metadata())"
            )
        return self.buffer.snapshot()

    def replaced_by(self) -> Path | None:
        """What took ``out_dir`` from this recording, stopped: ``out_dir`` itself when another run
        records there now (it holds the folder: ``folder_in_use``; at its stop its rows are the
        folder's), else the journal (a set-aside one standing in, too) or ``session.npz`` the
        folder stands for (``resolve_session``) when it is another recording's (an ``overwrite``
        run replaced this one, finished or killed). The folder's session names (``session.csv``,
        ``session.bvh``...) are then another recording's. None while it is this recording's, and
        for a folder holding no recording (nothing was saved: a full disk; or it was moved away)
        or one this recorder still holds (its own stop finishing)."""
        if (self.out_dir is None or self._recording_id is None or self._active or not self.recorded
                or self._folder_lock is not None):
            return None
        if folder_in_use(self.out_dir):
            return self.out_dir
        try:
            current = resolve_session(self.out_dir)
            if current.is_dir():
                owner = read_meta(current).get("recording_id")
            elif current.is_file():
                owner = read_metadata(current).get("recording_id")
            else:
                return None
        except (SessionError, OSError):
            return None
        return current if owner != self._recording_id else None

    @property
    def full(self) -> bool:
        """True once ``limit`` rows were recorded."""
        return self.limit is not None and self.recorded >= self.limit

    # ------------------------------------------------------------------ lifecycle
    def begin(self) -> None:
        """Check ``out_dir`` (``OutputError``: a file, not writable, another recording, another
        run recording there now) and start saving; the folder stays locked until ``finish``.

        No file is written and no thread started until the first rows arrive, so a run that
        fails to start leaves the folder as it was.
        """
        if self.out_dir is None or self._active:
            return
        prepare_out_dir(self.out_dir, self.overwrite, self._recording_id, self.hint)
        self._folder_lock = lock_out_dir(self.out_dir)
        try:
            # Again under the lock: a run that ended since the check may have left its session.
            refuse_other_recording(self.out_dir, self.overwrite, self._recording_id, self.hint)
            if self._recording_id is None:
                self._recording_id = uuid.uuid4().hex
            # Exports of another recording go when this one replaces it (only then: a fresh
            # folder's files are the user's), and only those pose3d wrote as they are: one the
            # user edited was refused above (check_no_other_recording), and is never deleted.
            replacing = describe_recording(self.out_dir)[1] - {self._recording_id}
            self._old_exports = unchanged_exports(self.out_dir) if replacing else {}
            if self._folder_lock is not None:  # no other recorder writes here: what killed ones left
                remove_leftovers(self.out_dir)
        except BaseException:
            self._release_folder()
            raise
        kept_aside = set_aside_report(self.out_dir)
        if kept_aside is not None:
            warnings.warn(kept_aside, UserWarning, stacklevel=2)
        self._write_error = None
        self._closing.clear()
        self._placed_again = {}
        self._active = True

    def place_again(self, rows: list[RowPlacement]) -> None:
        """Rows already recorded (the newest of each segment and frame index), placed again (the
        engine's world step, once the camera has settled): in the buffer now, and in
        ``session.npz`` when this run finishes. The journal keeps them as first recorded, so the
        rows of a killed run are as shown live."""
        self.buffer.place_again(rows)
        if not self._active:
            return
        with self._pending_lock:
            for row in rows:
                number = next((n for n, segment, frame in reversed(self._row_keys)
                               if (segment, frame) == (row.segment, row.frame_index)), None)
                if number is not None:
                    self._placed_again[number] = row

    def record(self, poses: Iterable, segment: int) -> None:
        """Append ``LiftedPose``s (oldest first) recorded in source segment ``segment``."""
        started = time.perf_counter()
        if self._write_error is not None:
            raise Pose3DRuntimeError(
                f"cannot save the recording in {self.out_dir}: {self._write_error}"
            ) from self._write_error
        newest = None
        for pose in poses:
            if self.full:
                break
            detection = pose.detection
            sample = PoseSample(
                joints_3d=pose.joints,
                keypoints_2d=detection.keypoints,
                scores_2d=detection.scores,
                timestamp=pose.frame.timestamp if pose.frame is not None else detection.timestamp,
                frame_index=pose.frame_index,
                valid=pose.valid,
                segment=segment,
                **people_columns(detection, pose.joints if pose.valid else None),
                joints_camera=getattr(pose, "joints_camera", None),  # poses of older lifters lack it
            )
            self.buffer.append(sample)
            if self._active:
                self._row_keys.append((self.recorded, segment, pose.frame_index))
            self.recorded += 1
            newest = pose
            if self._active:
                with self._pending_lock:
                    self._pending.append(sample)
                    self._latest = newest.joints
        if newest is not None and self._active:
            if self._writer is None:
                self._start_writer()
            self._wake.set()
        self.longest_record_s = max(self.longest_record_s, time.perf_counter() - started)

    def flush(self) -> None:
        """Save the rows recorded since the last save as one chunk, now (in the caller's thread)."""
        with self._write_lock:
            with self._pending_lock:
                rows, self._pending = self._pending, []
            if not rows:
                return
            started = time.perf_counter()
            appended = False
            try:
                if self._journal is None:
                    self._journal = self._open_journal()
                self._journal.append(stack_rows(rows))
                appended = True  # in the journal now: a failure of the metadata after it keeps them once
                self._journal.write_meta(self._meta())
            except BaseException:
                if not appended:
                    with self._pending_lock:
                        self._pending[:0] = rows  # kept for the next try (or the error's report)
                raise
            self.chunk_seconds.append(time.perf_counter() - started)

    def finish(self, failed: bool = False) -> Path | None:
        """Save what is left and, unless that would lose another complete session, write ``session.npz``.

        ``failed``: the run ended in an error. Its rows then never replace another recording
        (with ``overwrite``: a complete session, or the unfinished one of a killed run, which
        stays set aside): they stay in the journal, marked unfinished.
        Returns the session file written, or None (nothing recorded, or the journal kept).
        """
        if not self._active:
            return None
        try:
            return self._finish(failed)
        except OSError as exc:  # a full disk, a folder gone: say where, and that the rows stay
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            saved = self._saved_rows()
            unsaved = 0 if saved is None else max(0, self.recorded - saved)
            raise RecordingSaveError(self.out_dir, reason, saved, len(self.buffer), unsaved) from exc
        finally:
            self._release_folder()

    def _finish(self, failed: bool) -> Path | None:
        self._closing.set()
        self._wake.set()
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        self._active = False
        try:
            self.flush()
        except BaseException:
            # The rows saved before stay in the journal (it reads back as unfinished); its
            # files are closed so a failed stop leaks no descriptors.
            if self._journal is not None:
                with contextlib.suppress(Exception):
                    self._journal.close()
                self._journal = None
            raise
        journal, self._journal = self._journal, None
        if journal is None:  # no row since begin: the folder stays as it was
            return None
        journal.close()
        session_path = self.out_dir / SESSION_FILE
        # A failed run replaces no other recording: neither a complete session nor the journal
        # of a killed run it set aside (that stays there, as when this run is killed too).
        if failed and (self._holds_other_session(session_path) or self._replaced_journal is not None):
            journal.write_meta(self._meta())  # with the error, for whoever loads the journal
            return None
        session = read_journal(journal.folder)
        saved = journal.base_rows + journal.saved_rows
        if len(session) < saved:  # never turn a journal into a session.npz that lacks its rows
            raise RecordingSaveError(
                self.out_dir, f"{journal.folder} reads back {len(session)} of the {saved} rows saved "
                "into it; the journal is kept and no session.npz is written")
        with self._pending_lock:
            placed_again, self._placed_again = self._placed_again, {}
        metadata = {**self._meta(), "complete": True}
        recorded = session
        if not failed and self.finalize is not None:
            # On the rows as recorded: placing a clip again reads from them the camera each
            # row's everyone else stood in while it settled (``world.recorded``).
            session, metadata = self._finalized(session, metadata)
        session = _with_rows_placed_again(session, placed_again, recorded)
        # A recording set aside that continues the session.npz about to be replaced keeps it
        # first (a hard link, synced): its first rows are in no other file once it is replaced.
        keep_set_aside_bases(self.out_dir)
        # The version of the rows as read (read_journal): this one's, or an older one's when the
        # journal an older pose3d_nb began, or the session.npz it continues, holds rows of it. Put
        # last: whatever finalize returns, the file never says its older rows are more.
        rows_version = recorded.metadata["format_version"]
        # Every recording set aside now is older than this session (SET_ASIDE_BEFORE): one set
        # aside after it, by a later run, stands in for it when that run is killed in turn.
        write_session(session_path, session, {**metadata, "format_version": rows_version,
                                              SET_ASIDE_BEFORE: set_aside_names(self.out_dir)})
        if session is not recorded and len(session):  # finalize changed the rows: the newest pose too
            write_latest_pose(self.out_dir / LATEST_POSE_FILE, session.joints_3d[-1])
        aside = self.out_dir / f"{MERGED_PREFIX}{uuid.uuid4().hex}"
        os.replace(journal.folder, aside)  # one atomic step: the journal is never read again
        shutil.rmtree(aside, ignore_errors=True)
        remove_unchanged(self._old_exports)  # exports of what session.npz held before
        self._old_exports = {}
        if self._replaced_journal is not None:
            shutil.rmtree(self._replaced_journal, ignore_errors=True)
            self._replaced_journal = None
        return session_path

    # ------------------------------------------------------------------ internals
    def _own_journal(self) -> Path | None:
        """``session.journal`` when it is this recording's (not one it replaces), else None."""
        journal = self.out_dir / JOURNAL_DIR
        try:
            return journal if read_meta(journal).get("recording_id") == self._recording_id else None
        except (SessionError, OSError):  # no journal (not saved yet, or merged into session.npz)
            return None

    def _own_session_file(self) -> Path | None:
        """``session.npz`` when it is this recording's (not one an overwrite replaces), else None."""
        session_path = self.out_dir / SESSION_FILE
        ours = session_path.is_file() and not self._holds_other_session(session_path)
        return session_path if ours else None

    def _saved_rows(self) -> int | None:
        """Rows of this recording on disk: its journal's (with the ``session.npz`` rows a run
        started again continues), else its own ``session.npz``'s; 0 when neither is there;
        None when its journal cannot be read now and its ``meta.json`` does not count them."""
        journal = self._own_journal()
        if journal is not None:
            with contextlib.suppress(SessionError, OSError):
                return len(read_journal(journal))
            # The disk fails reading the rows back (the stop's own error): meta.json counts them.
            with contextlib.suppress(SessionError, OSError):
                meta = read_meta(journal)
                if "rows" in meta:
                    return int(meta.get("base_rows", 0)) + meta["rows"]
            return None
        session_path = self._own_session_file()
        if session_path is not None:
            with contextlib.suppress(SessionError, OSError, ValueError):
                return int(read_metadata(session_path).get("rows") or 0)
        return 0

    def _finalized(self, session: BufferSnapshot, metadata: dict[str, Any]
                   ) -> tuple[BufferSnapshot, dict[str, Any]]:
        """``finalize``'s session and metadata; on an error, the rows as recorded."""
        try:
            finalized, final_metadata = self.finalize(session, metadata)
        except Exception as exc:  # noqa: BLE001 - a bug there must not lose the recording
            return session, {**metadata, "finalize_error": f"{type(exc).__name__}: {exc}"}
        if len(finalized) != len(session):  # it places rows again: one lost would be lost for good
            return session, {**metadata, "finalize_error": (
                f"it returned {len(finalized)} rows for the {len(session)} recorded")}
        return finalized, final_metadata

    def _release_folder(self) -> None:
        unlock_out_dir(self._folder_lock)
        self._folder_lock = None

    def _meta(self) -> dict[str, Any]:
        return {**self._metadata(), "recording_id": self._recording_id,
                SET_ASIDE_BEFORE: self._set_aside_before}

    def _start_writer(self) -> None:
        self._writer = threading.Thread(target=self._write_loop, name="pose3d-recorder", daemon=True)
        self._writer.start()

    def _write_loop(self) -> None:
        """Until ``finish``: the newest pose as it comes, a chunk every ``session_interval`` s."""
        next_save = time.monotonic() + self.session_interval
        while True:
            self._wake.wait(max(next_save - time.monotonic(), 0.005))
            self._wake.clear()
            with self._pending_lock:
                latest, self._latest = self._latest, None
                waiting = len(self._pending)
            try:
                if latest is not None:
                    if self._journal is None:
                        # The journal first: a joints.npy of ours always has its recording beside
                        # it, so one without is the user's (prepare_out_dir) even after a kill.
                        self._start_journal()
                    write_latest_pose(self.out_dir / LATEST_POSE_FILE, latest)
                if self._closing.is_set():
                    return  # finish() saves the rest in its own thread
                if time.monotonic() >= next_save or waiting >= MAX_CHUNK_ROWS:
                    self.flush()
                    next_save = time.monotonic() + self.session_interval
            except BaseException as exc:  # noqa: BLE001 - reported to the lift thread by record()
                self._write_error = exc
                return

    def _start_journal(self) -> None:
        """Open the journal (its metadata, no rows yet) unless a save already has; the rows stay
        queued for the saves at their times."""
        with self._write_lock:
            if self._journal is None:
                self._journal = self._open_journal()

    def _open_journal(self) -> JournalWriter:
        """The journal for this recording: continued if it is ours, else a new one.

        A journal of another recording is an unfinished run the caller chose to replace
        (``prepare_out_dir`` refused it otherwise). When this recording was finished before
        (the engine stopped and started again), the journal continues its ``session.npz``.
        """
        folder = self.out_dir / JOURNAL_DIR
        ours = False
        with contextlib.suppress(OSError):  # an empty one (a first write that failed) holds nothing
            folder.rmdir()
        if folder.is_dir():
            with contextlib.suppress(SessionError):
                ours = read_meta(folder).get("recording_id") == self._recording_id
            if not ours:  # kept aside until this run completes (finish): never lost to a failure
                self._replaced_journal = self.out_dir / f"{REPLACED_PREFIX}{uuid.uuid4().hex}"
                os.replace(folder, self._replaced_journal)
        self._set_aside_before = set_aside_names(self.out_dir)
        session_path = self.out_dir / SESSION_FILE
        base_rows = 0
        if not ours and session_path.is_file() and not self._holds_other_session(session_path):
            base_rows = int(read_metadata(session_path).get("rows") or 0)
        try:
            journal = JournalWriter(folder, self._recording_id, base_rows)
            journal.write_meta(self._meta())
        except BaseException:
            with contextlib.suppress(OSError):  # made here and still empty: leave no husk behind
                folder.rmdir()
            self._put_back_replaced_journal(folder)
            raise
        return journal

    def _put_back_replaced_journal(self, folder: Path) -> None:
        """Move the journal set aside for this run back to ``folder`` when this run could not
        start its own there: hidden aside, it read as no recording at all (load_session, export)."""
        if self._replaced_journal is None or folder.exists():
            return  # nothing set aside, or this run's husk is still there (it reads the one aside)
        with contextlib.suppress(OSError):
            os.replace(self._replaced_journal, folder)
            self._replaced_journal = None

    def _holds_other_session(self, path: Path) -> bool:
        """True when ``path`` is a session file of another recording (or one that cannot be read)."""
        if not path.is_file():
            return False
        try:
            return read_metadata(path).get("recording_id") != self._recording_id
        except SessionError:
            return True


def _with_rows_placed_again(session: BufferSnapshot, rows: dict[int, RowPlacement],
                            recorded: BufferSnapshot) -> BufferSnapshot:
    """``session`` with the rows numbered in ``rows`` holding their new joints, and the followed
    person's own slot of the people columns with them (``own_people_slots``), where they are
    still as ``recorded`` (a row that finalize placed again from the whole clip keeps that; a
    row whose segment and frame index are not the placement's is left: the numbering is this
    recording's)."""
    rows = {n: row for n, row in rows.items() if n < len(session)
            and (session.segment[n], session.frame_index[n]) == (row.segment, row.frame_index)
            and np.array_equal(session.joints_3d[n], recorded.joints_3d[n], equal_nan=True)}
    if not rows:
        return session
    columns = session.columns()
    joints, camera = columns["joints_3d"].copy(), columns["joints_camera"].copy()
    people = columns["people_joints_3d"].copy()
    for number, row in rows.items():
        people[number][own_people_slots(columns["people_ids"][number], people[number],
                                        int(columns["track_id"][number]), joints[number])] = row.joints_3d
        joints[number], camera[number] = row.joints_3d, row.joints_camera
    return dataclasses.replace(session, joints_3d=joints, joints_camera=camera, people_joints_3d=people)
