"""The recording on disk: chunks while running, one file at a clean stop, old and damaged files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pose3d_nb.buffer import COLUMNS, RollingBuffer
from pose3d_nb.errors import Pose3DRuntimeError
from pose3d_nb.recording import (
    FORMAT_VERSION,
    JOURNAL_DIR,
    NewerFormatError,
    OutputError,
    Recorder,
    SessionError,
    describe_recording,
    load_session,
    prepare_out_dir,
    write_session,
)
from pose3d_nb.recording.folder import recording_part


def _pose(i: int, valid: bool = True) -> SimpleNamespace:
    """A stand-in for a ``LiftedPose`` placed in the world: frame ``i``'s joints all equal ``i``,
    its camera-frame joints (``joints_camera``, as placed poses carry them) all ``-i``."""
    detection = SimpleNamespace(
        keypoints=np.full((17, 2), i, np.float32), scores=np.ones(17, np.float32), timestamp=i / 30,
        extras={},
    )
    return SimpleNamespace(joints=np.full((17, 3), i, np.float32), detection=detection, frame=None,
                           frame_index=i, valid=valid, joints_camera=np.full((17, 3), -i, np.float32))


def _recorder(out, capacity=100, interval=60.0, **options) -> Recorder:
    return Recorder(RollingBuffer(capacity), out, lambda: {"source": "synthetic"}, interval, **options)


def _record(recorder: Recorder, first: int, count: int, batch: int = 30) -> None:
    for start in range(first, first + count, batch):
        recorder.record([_pose(i) for i in range(start, min(start + batch, first + count))], 0)


def test_an_hour_at_30_fps_keeps_every_frame_beyond_the_buffer(tmp_path):
    frames = 30 * 60 * 60
    recorder = _recorder(tmp_path, capacity=1000, interval=0.5)
    recorder.begin()
    _record(recorder, 0, frames)
    recorder.flush()
    running = load_session(tmp_path)
    assert running.metadata["complete"] is False and len(running) == frames
    recorder.finish()
    assert len(recorder.buffer) == 1000, "the rolling buffer stays the live window"
    session = load_session(tmp_path / "session.npz")
    assert len(session) == frames and session.metadata["complete"] is True
    np.testing.assert_array_equal(session.frame_index, np.arange(frames))
    np.testing.assert_array_equal(session.joints_3d[:, 0, 0], np.arange(frames, dtype=np.float32))
    assert not (tmp_path / JOURNAL_DIR).exists(), "the journal is gone once session.npz is written"


def test_each_save_appends_only_the_new_rows(tmp_path):
    recorder = _recorder(tmp_path)
    recorder.begin()
    _record(recorder, 0, 300)
    recorder.flush()
    stream = tmp_path / JOURNAL_DIR / "rows-000.arrows"
    before = stream.read_bytes()
    _record(recorder, 300, 30)
    recorder.flush()
    after = stream.read_bytes()
    assert after[: len(before)] == before, "nothing already saved is written again"
    assert 0 < len(after) - len(before) < len(before) / 5, "the save holds the 30 new rows only"
    assert len(load_session(tmp_path)) == 330


def test_starting_again_continues_the_same_recording(tmp_path):
    recorder = _recorder(tmp_path)
    recorder.begin()
    _record(recorder, 0, 40)
    recorder.finish()
    recorder.begin()  # the engine started again: its own session is not "another recording"
    _record(recorder, 40, 20)
    recorder.finish()
    session = load_session(tmp_path)
    assert len(session) == 60 and session.metadata["complete"] is True
    np.testing.assert_array_equal(session.frame_index, np.arange(60))


def test_a_run_that_fails_to_start_leaves_the_folder_as_it_was(tmp_path):
    recorder = _recorder(tmp_path / "out")
    recorder.begin()
    assert recorder.finish() is None
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def test_two_runs_recording_into_one_folder_at_once_are_refused_and_nothing_is_lost(tmp_path):
    """Two runs started into one folder before either saved (two terminals, two notebook engines,
    --overwrite or not) would move each other's journal aside and merge one's rows under the
    other's name; the second is refused while the first records, and the first loses nothing."""
    first = _recorder(tmp_path, overwrite=True)
    second = _recorder(tmp_path, overwrite=True)
    first.begin()
    _record(first, 0, 10)
    first.flush()
    with pytest.raises(OutputError, match="being recorded into by another run"):
        second.begin()
    with pytest.raises(OutputError, match="being recorded into by another run"):
        prepare_out_dir(tmp_path, overwrite=True)  # the CLI's check before the models load
    _record(first, 10, 10)
    first.finish()
    session = load_session(tmp_path)
    assert session.metadata["complete"] is True and session.metadata["recording_id"] == first.recording_id
    np.testing.assert_array_equal(session.frame_index, np.arange(20))
    second.begin()  # the folder is free once the first stopped (and overwrite replaces its session)
    _record(second, 100, 5)
    second.finish()
    np.testing.assert_array_equal(load_session(tmp_path).frame_index, np.arange(100, 105))


def test_a_refused_start_leaves_the_folder_free(tmp_path):
    _complete_session(tmp_path)
    refused = _recorder(tmp_path)
    with pytest.raises(OutputError, match="already holds a complete session"):
        refused.begin()
    _recorder(tmp_path, overwrite=True).begin()  # not refused as "being recorded into"


def _complete_session(folder, frames=20):
    recorder = _recorder(folder)
    recorder.begin()
    _record(recorder, 0, frames)
    recorder.finish()
    return recorder.recording_id


def test_a_folder_with_a_session_is_refused_unless_overwrite(tmp_path):
    _complete_session(tmp_path)
    before = (tmp_path / "session.npz").read_bytes()
    with pytest.raises(OutputError, match="complete session .20 frames.*pass --overwrite"):
        prepare_out_dir(tmp_path, hint="pass --overwrite")
    with pytest.raises(OutputError, match="overwrite=True"):
        _recorder(tmp_path).begin()
    assert (tmp_path / "session.npz").read_bytes() == before
    prepare_out_dir(tmp_path, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        prepare_out_dir(tmp_path / "file")


def test_overwrite_replaces_the_old_session_only_when_the_new_one_completes(tmp_path):
    from pose3d_nb.recording.folder import EXPORT_RECORD_LOCK, record_exports

    old_id = _complete_session(tmp_path, frames=20)
    (tmp_path / "session.bvh").write_text("an export of the old session")
    record_exports([tmp_path / "session.bvh"])  # as `pose3d export` notes what it wrote
    failed = _recorder(tmp_path, overwrite=True)
    failed.begin()
    _record(failed, 0, 7)
    failed.flush()
    assert load_session(tmp_path / "session.npz").metadata["recording_id"] == old_id
    with pytest.warns(UserWarning, match="also holds a complete session.npz of another recording"):
        assert len(load_session(tmp_path)) == 7, "the folder loads the newest (unfinished) recording"
    assert failed.finish(failed=True) is None
    kept = load_session(tmp_path / "session.npz")
    assert kept.metadata["recording_id"] == old_id and len(kept) == 20
    assert (tmp_path / "session.bvh").exists(), "the old session keeps its exports"
    with pytest.warns(UserWarning, match=r"these are the 7 rows.*load_session\('.*session.npz'\)"):
        assert load_session(tmp_path).metadata["complete"] is False

    new = _recorder(tmp_path, overwrite=True)
    new.begin()
    _record(new, 0, 12)
    new.finish()
    session = load_session(tmp_path)
    assert len(session) == 12 and session.metadata["recording_id"] == new.recording_id
    # The exports' record goes with its last entry; its lock stays (removing it let two writers
    # hold "the" lock at once).
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [EXPORT_RECORD_LOCK, "joints.npy", "session.npz"])


def test_files_of_the_user_named_session_are_never_taken_for_exports(tmp_path):
    from pose3d_nb.recording.folder import record_exports

    mine = {"session.mp4": b"the input video", "session.toml": b"a calibration", "session.txt": b"notes"}
    for name, data in mine.items():
        (tmp_path / name).write_bytes(data)
    _complete_session(tmp_path)  # a fresh folder: nothing is replaced
    old_export = tmp_path / "session.bvh"
    old_export.write_text("an export of that session")
    record_exports([old_export])  # as `pose3d export` notes what it wrote
    replacing = _recorder(tmp_path, overwrite=True)
    replacing.begin()
    _record(replacing, 0, 5)
    replacing.finish()
    assert not old_export.exists(), "the replaced session's export goes with it"
    assert {name: (tmp_path / name).read_bytes() for name in mine} == mine


@pytest.mark.parametrize("name", ["joints.npy", "session.csv", "session.bvh"])
def test_a_folder_with_the_users_files_of_a_recordings_names_is_refused_unless_overwrite(tmp_path, name):
    # A run writes joints.npy as it goes (and exports named session.*): in a folder with no
    # recording such files are the user's (the original real-time tool wrote out_files/joints.npy)
    # and were overwritten without a word.
    theirs = tmp_path / name
    theirs.write_bytes(b"the user's own file")
    with pytest.raises(OutputError, match=f"holds {name} that no recording there wrote.*pass --overwrite"):
        prepare_out_dir(tmp_path, hint="pass --overwrite")
    with pytest.raises(OutputError, match=name):
        _recorder(tmp_path).begin()
    assert theirs.read_bytes() == b"the user's own file"
    prepare_out_dir(tmp_path, overwrite=True)  # asked to replace them


def test_the_newest_pose_file_always_has_its_recording_beside_it(tmp_path):
    # joints.npy is written as poses come, the journal was made at the first save (2 s later by
    # default): a run killed in between left a joints.npy that no recording claimed. The journal
    # is now made first (its rows still come at the saves).
    recorder = _recorder(tmp_path, interval=60.0)
    recorder.begin()
    _record(recorder, 0, 3)
    latest = tmp_path / "joints.npy"
    deadline = time.monotonic() + 30
    while not latest.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert latest.exists() and (tmp_path / JOURNAL_DIR).is_dir()
    assert load_session(tmp_path).metadata["complete"] is False  # its rows come at its saves
    recorder._release_folder()  # as a kill does
    # Not taken for the user's file; and said to hold no row (a full disk's run said "an
    # unfinished recording", as if a replace would lose rows).
    with pytest.raises(OutputError, match="a recording that saved no row .*replacing it loses nothing"):
        prepare_out_dir(tmp_path)


def test_an_overwrite_runs_own_rows_are_what_it_exports_never_the_session_it_replaces(tmp_path):
    # engine.export() reads Recorder.session(): before its first row an overwrite run read the
    # folder, i.e. the complete session it is replacing, and exported another recording's rows.
    _complete_session(tmp_path, frames=20)
    replacing = _recorder(tmp_path, interval=60.0, overwrite=True)
    replacing.begin()
    assert len(replacing.session()) == 0
    _record(replacing, 0, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # its own journal: no word about the other session
        session = replacing.session()
    assert len(session) == 7 and session.metadata["recording_id"] == replacing.recording_id
    replacing.finish()
    assert len(replacing.session()) == 7


def test_an_overwrite_run_killed_before_its_first_save_does_not_hide_the_complete_session(tmp_path):
    # The journal is made before the first joints.npy, its rows come at the saves: a run killed
    # in between leaves a journal of no rows beside the session it was replacing. The folder
    # loaded that empty journal, as if the complete recording were gone.
    old_id = _complete_session(tmp_path, frames=20)
    dying = _recorder(tmp_path, interval=60.0, overwrite=True)
    dying.begin()
    _record(dying, 0, 3)
    deadline = time.monotonic() + 30
    while not (tmp_path / JOURNAL_DIR).is_dir() and time.monotonic() < deadline:
        time.sleep(0.01)
    dying._release_folder()  # as a kill does
    assert (tmp_path / JOURNAL_DIR).is_dir()
    session = load_session(tmp_path)
    assert session.metadata["recording_id"] == old_id and len(session) == 20
    assert session.metadata["complete"] is True


def test_an_overwrite_run_that_dies_keeps_the_unfinished_recording_it_replaces(tmp_path):
    crashed = _recorder(tmp_path)
    crashed.begin()
    _record(crashed, 0, 5)
    crashed.flush()  # then the process is killed: its journal stays, unfinished
    crashed._release_folder()  # as the kill does: its descriptors close, the folder is free
    dying = _recorder(tmp_path, overwrite=True)
    dying.begin()
    _record(dying, 0, 7)
    dying.flush()  # this run dies too, before it completes
    (aside,) = tmp_path.glob(".session.journal.replaced-*")
    kept = load_session(aside)
    assert len(kept) == 5 and kept.metadata["recording_id"] == crashed.recording_id
    assert len(load_session(tmp_path)) == 7
    dying.finish()  # had it completed, the replaced recording goes
    assert not aside.exists() and len(load_session(tmp_path / "session.npz")) == 7


def _killed_with_rows(folder, count):
    """A run killed after saving ``count`` rows: its journal stays, unfinished."""
    crashed = _recorder(folder)
    crashed.begin()
    _record(crashed, 0, count)
    crashed.flush()
    crashed._release_folder()  # as the kill does: its descriptors close, the folder is free
    return crashed.recording_id


def _overwrite_killed_before_its_first_save(folder):
    """An --overwrite run killed after it started its journal (and set the folder's unfinished
    recording aside) but before its first save: a journal with its meta.json and no row."""
    dying = _recorder(folder, interval=60.0, overwrite=True)
    dying.begin()
    _record(dying, 0, 3)
    deadline = time.monotonic() + 30
    def started() -> bool:
        return (any(folder.glob(".session.journal.replaced-*"))
                and (folder / JOURNAL_DIR / "meta.json").is_file())

    while not started() and time.monotonic() < deadline:
        time.sleep(0.01)
    dying._release_folder()
    assert started()


@pytest.mark.parametrize("killed", ["before its first save", "before its meta.json"])
def test_an_overwrite_run_killed_early_does_not_hide_the_unfinished_recording_it_set_aside(tmp_path, killed):
    # The overwrite run sets a killed run's journal aside as it starts its own, before its first
    # save; killed then, the folder read as its empty journal (0 rows, or "not a session
    # journal" for one killed before its meta.json) and `pose3d export OUT` found nothing to
    # export: the earlier recording's rows were only in a hidden folder.
    earlier = _killed_with_rows(tmp_path, 5)
    _overwrite_killed_before_its_first_save(tmp_path)
    if killed == "before its meta.json":
        (tmp_path / JOURNAL_DIR / "meta.json").unlink()
    with pytest.warns(UserWarning, match=r"holds no row.*the 5 rows of the unfinished recording"):
        session = load_session(tmp_path)
    assert len(session) == 5 and session.metadata["recording_id"] == earlier
    assert session.metadata["complete"] is False


def test_a_recording_set_aside_long_ago_does_not_stand_in_for_a_newer_complete_session(tmp_path):
    # A run killed with rows, set aside by an --overwrite run killed early; then an --overwrite
    # run that completes (the old recording stays aside), then another killed early: the folder
    # is the complete session, and pose3d export must not write the old rows over its export.
    from pose3d_nb.cli import main

    _killed_with_rows(tmp_path, 5)
    _overwrite_killed_before_its_first_save(tmp_path)
    complete = _recorder(tmp_path, overwrite=True)
    complete.begin()
    _record(complete, 0, 40)
    complete.finish()
    assert main(["export", str(tmp_path), "--format", "csv"]) == 0
    exported = (tmp_path / "session.tidy.csv").read_text()
    _overwrite_killed_before_its_first_save(tmp_path)
    session = load_session(tmp_path)
    assert len(session) == 40 and session.metadata["recording_id"] == complete.recording_id
    assert main(["export", str(tmp_path), "--format", "csv"]) == 0
    assert (tmp_path / "session.tidy.csv").read_text() == exported


def test_an_unfinished_recording_set_aside_is_read_before_an_older_complete_session(tmp_path):
    # complete A, then an overwrite run B killed with rows, then an overwrite run C killed before
    # its first save: B's rows are the newest; the folder read A's and said nothing of B's.
    _complete_session(tmp_path, frames=20)
    dying = _recorder(tmp_path, overwrite=True)
    dying.begin()
    _record(dying, 0, 7)
    dying.flush()
    dying._release_folder()
    _overwrite_killed_before_its_first_save(tmp_path)
    with pytest.warns(UserWarning, match="the 7 rows"):
        session = load_session(tmp_path)
    assert len(session) == 7 and session.metadata["recording_id"] == dying.recording_id


def _with_times(paths_oldest_first) -> None:
    """Give each file of ``paths_oldest_first`` a modification time, one second apart, oldest
    first: a copy of the folder that keeps no times (cp without -p, scp, a restore) gives each
    file the time it was copied at, in whatever order the tool took them."""
    for second, path in enumerate(paths_oldest_first, start=1):
        os.utime(path, ns=(second * 10**9, second * 10**9))


def test_a_folder_copied_without_its_times_reads_its_complete_session_not_an_older_set_aside_one(
        tmp_path, capsys):
    # A completes; --overwrite runs B and C are killed after saving rows (C sets B's aside); an
    # --overwrite run D completes (it removes C's, which it set aside, and keeps B's). Copied with
    # session.npz first, the folder read B's 7 unfinished rows, and `pose3d export` wrote them as
    # the folder's session.tidy.csv: which recording stood in was decided by file times.
    from pose3d_nb.cli import main

    _complete_session(tmp_path, frames=20)
    _killed_with_rows_replacing(tmp_path, 7)
    _killed_with_rows_replacing(tmp_path, 9)
    completing = _recorder(tmp_path, overwrite=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        completing.begin()
        _record(completing, 0, 45)
        completing.finish()
    (aside,) = tmp_path.glob(".session.journal.replaced-*")
    _with_times([tmp_path / "session.npz", *aside.iterdir()])
    with pytest.warns(UserWarning, match="keeps an unfinished recording"):
        session = load_session(tmp_path)
    assert len(session) == 45 and session.metadata["complete"] is True
    assert session.metadata["recording_id"] == completing.recording_id
    with pytest.warns(UserWarning, match="keeps an unfinished recording"):
        assert main(["export", str(tmp_path), "--format", "csv"]) == 0
    assert capsys.readouterr().out.strip().endswith("session.tidy.csv")
    assert len((tmp_path / "session.tidy.csv").read_text().splitlines()) == 1 + 45 * 17


def test_the_newest_set_aside_recording_stands_in_whatever_the_files_times(tmp_path):
    # Complete A; --overwrite runs B, C, D each killed after saving rows, each setting the one
    # before aside; then E killed having set D's aside, before it made its own journal. D's rows
    # are the newest: with the times of a copy that took session.npz last and D's journal first,
    # the folder read A's complete session (newer by time than every recording set aside), and
    # the newest recording by time was B's.
    from pose3d_nb.recording.folder import set_aside_recordings

    _complete_session(tmp_path, frames=20)
    ids = []
    for rows in (7, 9, 11):
        dying = _recorder(tmp_path, overwrite=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "keeps an unfinished recording": the one before
            dying.begin()
        _record(dying, 0, rows)
        dying.flush()
        dying._release_folder()  # killed
        ids.append(dying.recording_id)
    os.replace(tmp_path / JOURNAL_DIR, tmp_path / ".session.journal.replaced-0123")  # E, then killed
    by_id = {_journal_id(journal): journal for journal in tmp_path.glob(".session.journal.replaced-*")}
    newest_first = [by_id[recording_id] for recording_id in reversed(ids)]
    _with_times([*(journal / "meta.json" for journal in newest_first), tmp_path / "session.npz"])
    assert set_aside_recordings(tmp_path) == newest_first
    with pytest.warns(UserWarning, match="the 11 rows"):
        session = load_session(tmp_path)
    assert len(session) == 11 and session.metadata["recording_id"] == ids[-1]


def test_a_set_aside_journal_of_the_sessions_own_recording_does_not_stand_in_for_it(tmp_path, monkeypatch):
    # A run killed between writing session.npz and removing its journal, whose journal an
    # --overwrite run then set aside before being killed itself: the same rows, unfinished.
    # The session names no such recording (it was no set-aside one when written), yet it is older.
    from pose3d_nb.recording import recorder as recorder_module

    class Killed(BaseException):
        pass

    real_write_session = recorder_module.write_session

    def write_then_killed(*args, **kwargs):
        real_write_session(*args, **kwargs)
        raise Killed

    monkeypatch.setattr(recorder_module, "write_session", write_then_killed)
    completing = _recorder(tmp_path)
    completing.begin()
    _record(completing, 0, 40)
    with pytest.raises(Killed):
        completing.finish()
    monkeypatch.undo()
    os.replace(tmp_path / JOURNAL_DIR, tmp_path / ".session.journal.replaced-0123")
    _with_times([tmp_path / "session.npz", tmp_path / ".session.journal.replaced-0123" / "meta.json"])
    with pytest.warns(UserWarning, match="keeps an unfinished recording"):
        session = load_session(tmp_path)
    assert len(session) == 40 and session.metadata["complete"] is True


def test_pose3d_export_of_a_folder_whose_overwrite_run_was_killed_early_exports_the_set_aside_rows(
        tmp_path, capsys):
    # `pose3d export OUT` said "no session in OUT/session.journal" or "nothing to export".
    from pose3d_nb.cli import main

    _killed_with_rows(tmp_path, 5)
    _overwrite_killed_before_its_first_save(tmp_path)
    with pytest.warns(UserWarning, match="the 5 rows"):
        assert main(["export", str(tmp_path), "--format", "csv"]) == 0
    written = tmp_path / "session.tidy.csv"  # beside the recording, not a hidden .session.journal.tidy.csv
    assert capsys.readouterr().out.strip() == f"csv: {written}"
    assert len(written.read_text().splitlines()) > 5


def test_an_overwrite_run_that_fails_keeps_the_unfinished_recording_it_replaces(tmp_path):
    # As a run that dies: a run that fails (a detector error) never replaces another recording,
    # complete or not. It wrote its rows as session.npz and deleted the killed run's journal.
    from pose3d_nb.recording.folder import record_exports

    crashed = _recorder(tmp_path)
    crashed.begin()
    _record(crashed, 0, 5)
    crashed.flush()
    crashed._release_folder()  # killed: its journal stays, unfinished
    (tmp_path / "session.bvh").write_text("an export of the unfinished recording")
    record_exports([tmp_path / "session.bvh"])  # as `pose3d export` notes what it wrote
    failing = _recorder(tmp_path, overwrite=True)
    failing.begin()
    _record(failing, 0, 7)
    assert failing.finish(failed=True) is None
    (aside,) = tmp_path.glob(".session.journal.replaced-*")
    kept = load_session(aside)
    assert len(kept) == 5 and kept.metadata["recording_id"] == crashed.recording_id
    assert not (tmp_path / "session.npz").exists()
    assert (tmp_path / "session.bvh").exists(), "the replaced recording keeps its exports"
    failed_rows = load_session(tmp_path)
    assert len(failed_rows) == 7 and failed_rows.metadata["complete"] is False
    completing = _recorder(tmp_path, overwrite=True)  # a run that completes replaces both
    completing.begin()
    _record(completing, 0, 3)
    completing.finish()
    assert len(load_session(tmp_path)) == 3


def _single_file(path, arrays, metadata):
    np.savez(path, **arrays, metadata=np.array(json.dumps(metadata)))


def _rows(count):
    return {name: np.zeros((count, *c.shape), c.dtype) for name, c in COLUMNS.items() if name != "segment"}


def test_a_version_1_session_still_loads(tmp_path):
    arrays = _rows(5)
    arrays["timestamps"] = np.arange(5) / 30
    _single_file(tmp_path / "old.npz", arrays, {"source": "sample"})  # no segment, no format keys
    session = load_session(tmp_path / "old.npz")
    assert len(session) == 5 and session.metadata["format_version"] == 1
    assert session.metadata["complete"] is None, "written before the flag existed: unknown"
    np.testing.assert_array_equal(session.segment, np.zeros(5))


def test_a_session_whose_timestamps_are_a_single_value_is_one_error_naming_file_and_column(tmp_path):
    """A 0-d timestamps array: read_metadata took its len() (TypeError), which `pose3d run --out`
    and `pose3d export --out` reach through the folder's description."""
    from pose3d_nb.recording.session import read_metadata

    arrays = _rows(5)
    arrays["timestamps"] = np.array(1.0)
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "session.npz"
    _single_file(path, arrays, {"complete": True})
    said = rf"{re.escape(str(path))} is damaged: its timestamps column holds a single value"
    for read in (read_metadata, load_session):
        with pytest.raises(SessionError, match=said):
            read(path)
    held, _ = describe_recording(tmp_path / "out")
    assert held == "a session.npz that cannot be read"
    with pytest.raises(OutputError, match="cannot be read; pass overwrite=True"):
        prepare_out_dir(tmp_path / "out")


def test_a_session_or_journal_of_a_newer_format_is_refused_saying_to_upgrade(tmp_path):
    """It loaded silently, as if this version's layout; continued, a journal's meta.json was
    rewritten with this version's number."""
    from pose3d_nb.recording import journal
    from pose3d_nb.recording.session import read_metadata

    arrays = _rows(5)
    arrays["timestamps"] = np.arange(5) / 30
    future = tmp_path / "future.npz"
    _single_file(future, arrays, {"format_version": FORMAT_VERSION + 1, "complete": True})
    upgrade = rf"written by a newer pose3d_nb \(format {FORMAT_VERSION + 1} > {FORMAT_VERSION}\): upgrade"
    for read in (read_metadata, load_session):
        with pytest.raises(NewerFormatError, match=re.escape(str(future)) + " was " + upgrade):
            read(future)
    # Still a recording: an export never replaces it.
    assert recording_part(future) == "a session recorded by a newer pose3d_nb"
    _single_file(tmp_path / "garbled.npz", arrays, {"format_version": "two"})
    with pytest.raises(SessionError, match="garbled.npz is damaged: its format_version is 'two'"):
        load_session(tmp_path / "garbled.npz")

    recorder = _recorder(tmp_path / "rec")
    recorder.begin()
    _record(recorder, 0, 30)
    recorder.flush()
    meta_file = tmp_path / "rec" / JOURNAL_DIR / "meta.json"
    meta = json.loads(meta_file.read_text())
    newer = json.dumps({**meta, "format_version": FORMAT_VERSION + 1})
    meta_file.write_text(newer)
    with pytest.raises(NewerFormatError, match=re.escape(str(meta_file)) + " was " + upgrade):
        load_session(tmp_path / "rec")
    with pytest.raises(NewerFormatError):
        journal.JournalWriter(meta_file.parent, "another run").write_meta({})
    assert meta_file.read_text() == newer, "the newer journal's meta.json was rewritten"
    meta_file.write_text(json.dumps(meta))
    recorder.finish()


def test_a_journal_read_back_keeps_its_own_format_version(tmp_path, monkeypatch):
    from pose3d_nb.recording import session as session_module

    recorder = _recorder(tmp_path)
    recorder.begin()
    _record(recorder, 0, 30)
    recorder.flush()
    written = json.loads((tmp_path / JOURNAL_DIR / "meta.json").read_text())["format_version"]
    monkeypatch.setattr(session_module, "FORMAT_VERSION", written + 1)  # read by a newer version
    assert load_session(tmp_path).metadata["format_version"] == written  # not the reader's
    monkeypatch.undo()
    recorder.finish()


# ---------------------------------------------------------------- format version 3 (issue 18)
#: What load_session says of joints_3d never placed in the world.
PELVIS_CENTRED = "centred on the pelvis"


def _pelvis_centred_joints(count: int) -> np.ndarray:
    """(count, 17, 3) poses as lifters gave them before world grounding: each frame's pelvis at
    x = y = 0 and its lowest joint at z = 0, the body walking nowhere."""
    rng = np.random.default_rng(3)
    joints = rng.normal(0.0, 0.3, (count, 17, 3)).astype(np.float32)
    joints[..., :2] -= joints[:, :1, :2]
    joints[..., 2] -= joints[..., 2].min(axis=1, keepdims=True)
    return joints


def _old_layout_session(path, rows: int = 5, world_rows: bool = False, version: int = 2) -> np.ndarray:
    """``path`` written as a pose3d_nb of format ``version`` wrote session.npz before
    ``joints_camera`` and the people columns came in (np.savez of its columns, and its metadata
    as a JSON string); with ``world_rows``, as one after world grounding (``joints_camera``
    beside world-grounded joints, still version 2). Returns its joints_3d."""
    joints = _pelvis_centred_joints(rows)
    arrays = {
        "joints_3d": joints, "keypoints_2d": np.full((rows, 17, 2), 100.0, np.float32),
        "scores_2d": np.ones((rows, 17), np.float32), "timestamps": np.arange(rows) / 30,
        "frame_index": np.arange(rows), "valid": np.ones(rows, bool), "segment": np.zeros(rows, np.int64),
    }
    if world_rows:
        arrays["joints_3d"] = joints + np.array([1.0, 2.5, 0.0], np.float32)  # somewhere in the room
        arrays["joints_camera"] = joints + np.array([0.0, 0.0, 3.0], np.float32)
    metadata = {"source": "walk.mp4", "lifter": "shipped", "recording_id": "an-older-run",
                "format_version": version, "rows": rows, "complete": True}
    np.savez(path, **arrays, metadata=np.array(json.dumps(metadata)))
    return arrays["joints_3d"]


def _said(caught, text: str) -> list[str]:
    return [str(w.message) for w in caught if text in str(w.message)]


def test_a_version_3_session_round_trips_with_every_column_and_no_warning(tmp_path):
    """Format 3: world-grounded joints_3d, joints_camera and the people columns, stated as 3 in
    the journal's meta.json while recording and in session.npz after the stop."""
    from pose3d_nb.recording.session import read_metadata

    assert FORMAT_VERSION == 3
    recorder = _recorder(tmp_path)
    recorder.begin()
    _record(recorder, 0, 30)
    recorder.flush()
    assert json.loads((tmp_path / JOURNAL_DIR / "meta.json").read_text())["format_version"] == 3
    recorder.finish()
    assert read_metadata(tmp_path / "session.npz")["format_version"] == 3
    snapshot = recorder.buffer.snapshot()
    path = tmp_path / "again.npz"
    write_session(path, snapshot, {"source": "synthetic"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # placed rows: nothing to say
        session = load_session(path)
        assert load_session(tmp_path).metadata["format_version"] == 3
    assert session.metadata["format_version"] == 3 and len(session) == 30
    for name, column in snapshot.columns().items():
        np.testing.assert_array_equal(getattr(session, name), column, err_msg=name)
    np.testing.assert_array_equal(session.joints_camera[:, 0, 0], -np.arange(30, dtype=np.float32))


def test_a_file_claiming_version_4_is_refused_saying_to_upgrade(tmp_path):
    arrays = _rows(3)
    arrays["timestamps"] = np.arange(3) / 30
    _single_file(tmp_path / "session.npz", arrays, {"format_version": 4, "complete": True})
    with pytest.raises(NewerFormatError, match=r"written by a newer pose3d_nb \(format 4 > 3\): upgrade"):
        load_session(tmp_path)


def test_a_version_2_session_recorded_before_world_grounding_loads_and_says_so_once(tmp_path):
    """Its joints_3d are each frame's pose centred on the pelvis: walking speed, distance and
    jumps read nothing from them, and loaded silently they passed for a person standing still."""
    path = tmp_path / "session.npz"
    joints = _old_layout_session(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = load_session(path)
    (said,) = _said(caught, PELVIS_CENTRED)
    assert said.startswith(f"{path}: its joints_3d are centred on the pelvis")
    assert "recorded before world grounding" in said
    assert "walking speed, distance travelled and jump height" in said
    assert "Record it again" in said and "pose3d lift keypoints.npy --size W H --grounded" in said
    assert session.metadata["format_version"] == 2 and session.metadata["complete"] is True
    np.testing.assert_array_equal(session.joints_3d, joints)
    assert np.isnan(session.joints_camera).all() and (session.people_ids == -1).all()
    assert (session.track_id == -1).all() and np.isnan(session.people_joints_3d).all()


def test_a_version_2_session_with_world_rows_loads_without_a_word(tmp_path):
    """Decided by the rows, not the version: a version-2 file written after world grounding
    holds world joints beside joints_camera (the number was not raised then)."""
    path = tmp_path / "session.npz"
    joints = _old_layout_session(path, world_rows=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        session = load_session(path)
    assert session.metadata["format_version"] == 2
    np.testing.assert_array_equal(session.joints_3d, joints)
    assert np.isfinite(session.joints_camera).all()


def test_rows_without_a_pose_or_without_a_camera_frame_pose_are_told_apart(tmp_path):
    """Only rows holding a pose that joints_camera does not hold count: rows before anyone was
    seen (NaN) are no pose at all."""
    from pose3d_nb.recording import pelvis_centred_rows

    snapshot = _snapshot(6)
    columns = snapshot.columns()
    columns["joints_3d"][0] = np.nan
    columns["joints_camera"][:2] = np.nan  # row 0: no pose; row 1: a pose never placed
    from pose3d_nb.buffer import BufferSnapshot

    mixed = BufferSnapshot(**columns)
    np.testing.assert_array_equal(pelvis_centred_rows(mixed), [False, True, False, False, False, False])
    write_session(tmp_path / "session.npz", mixed, {})
    with pytest.warns(UserWarning, match=r"1 of its 5 rows with a pose have joints_3d centred on the pelvis"):
        load_session(tmp_path)


def test_pose3d_export_of_a_session_recorded_before_world_grounding_says_so_once(tmp_path):
    """Also when the folder stands for a set-aside recording, which the command read twice."""
    from pose3d_nb.cli import main

    _old_layout_session(tmp_path / "session.npz")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["export", str(tmp_path), "--format", "csv"]) == 0
    assert len(_said(caught, PELVIS_CENTRED)) == 1

    folder = tmp_path / "aside"
    crashed = _recorder(folder)  # a run of rows never placed (a lifter without joints_camera)
    crashed.begin()
    crashed.record([SimpleNamespace(**{**vars(_pose(i)), "joints_camera": None}) for i in range(5)], 0)
    crashed.flush()
    crashed._release_folder()
    _overwrite_killed_before_its_first_save(folder)  # the folder now reads as those rows
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["export", str(folder), "--format", "csv"]) == 0
    assert len(_said(caught, PELVIS_CENTRED)) == 1
    assert len(_said(caught, "holds no row (its --overwrite run")) == 1


def _old_journal(folder, recording_id: str, stated: int | None) -> None:
    """A journal begun by a pose3d_nb of format ``stated`` (None: a meta.json stating none): 4
    rows of pelvis-centred joints in a stream without the columns added since."""
    import pyarrow as pa

    journal = folder / JOURNAL_DIR
    journal.mkdir(parents=True)
    meta = {"recording_id": recording_id, "base_rows": 0, "rows": 4, "metadata": {"source": "old"}}
    if stated is not None:
        meta["format_version"] = stated

    (journal / "meta.json").write_text(json.dumps(meta))

    def rows_of(values, width):
        return pa.FixedSizeListArray.from_arrays(pa.array(np.ravel(values).astype(np.float32)), width)

    table = pa.table({"joints_3d": rows_of(_pelvis_centred_joints(4), 51),
                      "keypoints_2d": rows_of(np.zeros(4 * 34), 34),
                      "scores_2d": rows_of(np.ones(4 * 17), 17),
                      "timestamps": pa.array(np.arange(4.0)), "frame_index": pa.array(np.arange(4)),
                      "valid": pa.array([True] * 4), "segment": pa.array(np.zeros(4, np.int64))})
    with pa.ipc.new_stream(str(journal / "rows-000.arrows"), table.schema) as writer:
        writer.write_table(table)


@pytest.mark.parametrize("stated", [2, None])
def test_a_journal_an_older_version_began_keeps_its_version_when_continued(tmp_path, stated):
    """Continued by this version (a new stream of placed rows), its meta.json was rewritten as
    this version's: its first rows, pelvis-centred, then passed for world-grounded ones, and so
    did the session.npz written from it."""
    from pose3d_nb.recording.journal import JournalWriter, read_journal

    _old_journal(tmp_path, "an-older-run", stated)
    folder = tmp_path / JOURNAL_DIR
    continuing = JournalWriter(folder, "an-older-run")
    assert continuing.format_version == 2
    recorder = _recorder(None)
    _record(recorder, 4, 5)
    continuing.append(recorder.buffer.snapshot().columns())
    continuing.write_meta({"source": "continued"})
    continuing.close()
    assert json.loads((folder / "meta.json").read_text())["format_version"] == 2
    with pytest.warns(UserWarning, match=r"4 of its 9 rows with a pose have joints_3d centred on the pelvis"):
        session = load_session(tmp_path)
    assert session.metadata["format_version"] == 2 and len(session) == 9
    assert read_journal(folder).metadata["format_version"] == 2
    write_session(tmp_path / "rewritten.npz", session, session.metadata)  # its metadata, as loaded
    with pytest.warns(UserWarning, match=PELVIS_CENTRED):
        assert load_session(tmp_path / "rewritten.npz").metadata["format_version"] == 2


def test_a_recording_that_continues_an_older_session_file_states_the_older_version(tmp_path):
    """Started again, a recording continues its session.npz (base rows); when that file is of an
    older version, the session.npz the stop writes says that version, not this one."""
    recorder = _recorder(tmp_path)
    recorder.begin()
    _record(recorder, 0, 10)
    recorder.finish()
    first = load_session(tmp_path / "session.npz")
    older = {**first.metadata, "format_version": 2}  # its rows as an older pose3d_nb wrote them
    np.savez(tmp_path / "session.npz", **first.columns(), metadata=np.array(json.dumps(older)))
    recorder.begin()
    _record(recorder, 10, 5)
    recorder.flush()
    meta = json.loads((tmp_path / JOURNAL_DIR / "meta.json").read_text())
    assert meta["format_version"] == 3 and meta["base_rows"] == 10  # its own rows are this version's
    assert load_session(tmp_path).metadata["format_version"] == 2  # with the older file's rows
    recorder.finish()
    session = load_session(tmp_path / "session.npz")
    assert len(session) == 15 and session.metadata["format_version"] == 2

def _journal_with_joints(folder, joints) -> None:
    """A journal whose one stream holds 4 rows, ``joints`` as its joints_3d column."""
    import pyarrow as pa

    journal = folder / JOURNAL_DIR
    journal.mkdir(parents=True)
    (journal / "meta.json").write_text(json.dumps({"format_version": FORMAT_VERSION, "recording_id": "x",
                                                   "base_rows": 0, "metadata": {}}))

    def rows_of(width):
        return pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(4 * width, np.float32)), width)

    table = pa.table({"joints_3d": joints, "keypoints_2d": rows_of(34), "scores_2d": rows_of(17),
                      "timestamps": pa.array(np.arange(4.0)), "frame_index": pa.array(np.arange(4)),
                      "valid": pa.array([True] * 4)})
    with pa.ipc.new_stream(str(journal / "rows-000.arrows"), table.schema) as writer:
        writer.write_table(table)


@pytest.mark.parametrize(("kind", "said"), [("narrow", r"fixed_size_list<item: float>\[6\]"),
                                            ("variable", r"list<item: double>")])
def test_a_journal_column_of_the_wrong_width_is_one_error_naming_the_stream_file(tmp_path, kind, said):
    """A ValueError from numpy's reshape, naming neither the file nor the column."""
    import pyarrow as pa

    joints = (pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(4 * 6, np.float32)), 6) if kind == "narrow"
              else pa.array([[0.0] * 51] * 4))
    _journal_with_joints(tmp_path, joints)
    stream = tmp_path / JOURNAL_DIR / "rows-000.arrows"
    expected = (rf"{re.escape(str(stream))} is damaged: its column joints_3d holds {said}, "
                "expected a fixed-size list of 51 values a row")
    with pytest.raises(SessionError, match=expected):
        load_session(tmp_path)


def test_damaged_or_foreign_files_are_one_line_errors_naming_them(tmp_path):
    arrays = _rows(5)
    arrays["valid"] = np.ones(4, bool)
    _single_file(tmp_path / "short.npz", arrays, {})
    with pytest.raises(SessionError, match=r"short.npz is damaged.*valid 4"):
        load_session(tmp_path / "short.npz")
    write_session(tmp_path / "s.npz", _snapshot(3), {})
    data = (tmp_path / "s.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(SessionError, match="cut.npz is not a readable session file") as error:
        load_session(tmp_path / "cut.npz")
    assert "\n" not in str(error.value)
    np.save(tmp_path / "joints.npy", np.zeros((1, 17, 3)))
    with pytest.raises(SessionError, match="joints.npy is a single array"):
        load_session(tmp_path / "joints.npy")
    with open(tmp_path / "renamed.npz", "wb") as handle:
        np.save(handle, np.zeros(3))
    with pytest.raises(SessionError, match="single .npy array"):
        load_session(tmp_path / "renamed.npz")
    bad = _rows(2)
    bad["joints_3d"] = np.zeros((2, 16, 3), np.float32)
    _single_file(tmp_path / "shape.npz", bad, {})
    with pytest.raises(SessionError, match=r"joints_3d has rows of shape \(16, 3\)"):
        load_session(tmp_path / "shape.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no session in"):
        load_session(tmp_path / "empty")


def test_hand_written_sessions_of_the_wrong_kind_are_one_line_errors_naming_them(tmp_path):
    texts = _rows(3)
    texts["joints_3d"] = np.full((3, 17, 3), "n/a")
    _single_file(tmp_path / "texts.npz", texts, {})
    with pytest.raises(SessionError, match=r"texts.npz is damaged: joints_3d holds <U3 values, expected num"):
        load_session(tmp_path / "texts.npz")
    dates = _rows(3)
    dates["timestamps"] = np.arange(3).astype("datetime64[s]")
    _single_file(tmp_path / "dates.npz", dates, {})
    with pytest.raises(SessionError, match="timestamps holds datetime64"):
        load_session(tmp_path / "dates.npz")
    _single_file(tmp_path / "list.npz", _rows(3), [1, 2])
    with pytest.raises(SessionError, match="list.npz is damaged: its metadata is not a JSON object"):
        load_session(tmp_path / "list.npz")
    with open(tmp_path / "renamed.npz", "wb") as handle:
        np.save(handle, np.zeros(3))
    with pytest.raises(SessionError) as error:
        load_session(tmp_path / "renamed.npz")
    assert "truncated" not in str(error.value), "an intact .npy is not a damaged file"


def test_a_hand_edited_journal_meta_of_the_wrong_kind_is_one_line_naming_it(tmp_path):
    recorder = _recorder(tmp_path)
    recorder.begin()
    _record(recorder, 0, 30)
    recorder.flush()
    meta_file = tmp_path / JOURNAL_DIR / "meta.json"
    meta = json.loads(meta_file.read_text())
    for key, value, said in [("base_rows", "12", "base_rows is '12'"), ("base_rows", -1, "base_rows is -1"),
                             ("metadata", [1], "its metadata is not a JSON object")]:
        meta_file.write_text(json.dumps({**meta, key: value}))
        with pytest.raises(SessionError, match=f"meta.json is damaged: {said}"):
            load_session(tmp_path)
    meta_file.write_text(json.dumps(meta))
    assert len(load_session(tmp_path)) == 30
    recorder.finish()


def _snapshot(count):
    recorder = _recorder(None)
    _record(recorder, 0, count)
    return recorder.buffer.snapshot()


def test_saves_run_on_the_recorders_thread_not_the_callers(tmp_path, monkeypatch):
    """record() (the engine's lift thread) only appends in memory; chunks are written elsewhere."""
    from pose3d_nb.recording.journal import JournalWriter

    writers = []
    append = JournalWriter.append

    def spy(self, columns):
        writers.append(threading.current_thread().name)
        return append(self, columns)

    monkeypatch.setattr(JournalWriter, "append", spy)
    recorder = _recorder(tmp_path, interval=0.05)
    recorder.begin()
    for i in range(200):
        recorder.record([_pose(i)], 0)
        time.sleep(0.002)
    saved_while_recording = list(writers)
    recorder.finish()
    assert len(saved_while_recording) >= 3
    assert set(saved_while_recording) == {"pose3d-recorder"}
    assert len(load_session(tmp_path)) == 200


def test_a_save_that_fails_midway_is_retried_and_nothing_is_lost(tmp_path, monkeypatch):
    """A full disk fails one save after part of it was written; the next save writes those rows."""
    import errno

    from pose3d_nb.recording import journal

    recorder = _recorder(tmp_path)
    recorder.begin()
    _record(recorder, 0, 10)
    recorder.flush()
    _record(recorder, 10, 5)
    real_fsync = journal.os.fsync

    def disk_full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        recorder.flush()
    monkeypatch.setattr(journal.os, "fsync", real_fsync)
    _record(recorder, 15, 5)
    recorder.flush()
    assert len(load_session(tmp_path)) == 20
    recorder.finish()
    np.testing.assert_array_equal(load_session(tmp_path).frame_index, np.arange(20))


def test_a_stop_whose_last_save_fails_keeps_what_was_saved_and_leaks_no_files(tmp_path, monkeypatch):
    """The disk fills up just as the run stops: the error reaches the caller, every row saved
    before is still there (an unfinished journal) and no file of the recording stays open."""
    import errno
    import os

    from pose3d_nb.recording import journal

    recorder = _recorder(tmp_path)
    recorder.begin()
    _record(recorder, 0, 10)
    recorder.flush()
    _record(recorder, 10, 5)
    open_before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    # The rows' batch is written; the metadata beside it is not.
    monkeypatch.setattr(journal, "atomic_file", disk_full)
    with pytest.raises(Pose3DRuntimeError, match="No space left.*the 15 rows saved before stay in"):
        recorder.finish()
    monkeypatch.undo()
    if open_before is not None:
        assert len(os.listdir("/proc/self/fd")) < open_before  # the stream and its fsync handle
    session = load_session(tmp_path)
    assert not session.metadata.get("complete", False)
    # The 10 saved before, and the last 5: written before their metadata failed, kept once.
    np.testing.assert_array_equal(session.frame_index, np.arange(15))
    assert not recorder._pending  # nothing queued to be written a second time


def test_a_disk_full_from_the_start_does_not_say_rows_were_saved(tmp_path, monkeypatch):
    """Nothing could be written at all: the stop's error said "the rows saved before stay in
    session.journal" when there were none, and now says where the rows still are."""
    import errno

    from pose3d_nb.recording import journal

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal, "atomic_file", disk_full)
    monkeypatch.setattr(journal.os, "fsync", disk_full)
    recorder = _recorder(tmp_path)
    recorder.begin()
    _record(recorder, 0, 12)
    with pytest.raises(Pose3DRuntimeError) as raised:
        recorder.finish()
    message = str(raised.value)
    assert "No space left" in message and "stay in" not in message
    assert "no row of it had been saved yet" in message and "newest 12 rows" in message
    assert "write_session(" in message
    monkeypatch.undo()
    # Started again after a clean stop, the disk full from the restart on: the first part's rows
    # are in its session.npz, and the message counts them ("no row saved" said it was all lost).
    again = _recorder(tmp_path / "again")
    again.begin()
    _record(again, 0, 10)
    again.finish()
    again.begin()
    _record(again, 10, 5)
    monkeypatch.setattr(journal, "atomic_file", disk_full)
    monkeypatch.setattr(journal.os, "fsync", disk_full)
    with pytest.raises(Pose3DRuntimeError, match="the 10 rows saved before stay in .*again") as raised:
        again.finish()
    monkeypatch.undo()
    # The 5 rows since were saved nowhere: the message says where they still are.
    assert "the 5 rows since the last save are only in memory (the rolling buffer holds them)" \
        in str(raised.value) and "write_session(" in str(raised.value)
    elsewhere = tmp_path / "other_disk" / "session.npz"
    elsewhere.parent.mkdir()
    write_session(elsewhere, recorder.buffer.snapshot(), {"source": "synthetic"})  # what it says
    np.testing.assert_array_equal(load_session(elsewhere).frame_index, np.arange(12))


def test_an_overwrite_run_that_could_write_nothing_leaves_the_complete_session_readable(tmp_path,
                                                                                         monkeypatch):
    """The disk is full when an overwrite run starts: its journal folder was made but no file in
    it, each save then set the last one aside as another recording's, and the folder read as
    "not a session journal" instead of the complete session beside it."""
    import errno

    from pose3d_nb.recording import journal

    old_id = _complete_session(tmp_path, frames=10)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal, "atomic_file", disk_full)
    monkeypatch.setattr(journal.os, "fsync", disk_full)
    assert "no row of it had been saved yet" in _overwrite_run_that_cannot_save(tmp_path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("joints")) == ["session.npz"]
    session = load_session(tmp_path)
    assert session.metadata["recording_id"] == old_id and len(session) == 10


def _overwrite_run_that_cannot_save(folder, failed=False) -> str:
    """An --overwrite run into ``folder`` whose saves all fail (a full disk): two saves, then its
    stop (``failed``: the run ended in an error); the stop's error message."""
    replacing = _recorder(folder, overwrite=True)
    replacing.begin()
    _record(replacing, 0, 5)
    for _ in range(2):  # two saves fail
        with pytest.raises(OSError, match="No space left"):
            replacing.flush()
    with pytest.raises(Pose3DRuntimeError) as raised:
        replacing.finish(failed=failed)
    return str(raised.value)


def test_a_session_file_that_does_not_fit_on_the_disk_is_one_error_and_the_journal_stays(tmp_path,
                                                                                        monkeypatch):
    """The journal fits but session.npz, as big again, does not: the stop says where and that the
    rows are kept, leaves no temporary file, and no half-closed zip prints a traceback later."""
    import errno
    import gc
    import sys

    recorder = _recorder(tmp_path)
    recorder.begin()
    _record(recorder, 0, 30)
    written = []
    real_write = np.lib.format.write_array

    def disk_fills_up(*args, **kwargs):
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(1)
        return real_write(*args, **kwargs)

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    monkeypatch.setattr(np.lib.format, "write_array", disk_fills_up)
    with pytest.raises(Pose3DRuntimeError) as raised:
        recorder.finish()
    monkeypatch.setattr(np.lib.format, "write_array", real_write)
    message = str(raised.value)
    del raised  # its traceback would keep what the failed write left open alive
    gc.collect()
    assert str(tmp_path) in message and "No space left on device" in message
    assert "load_session reads them" in message
    assert not unraisable, [str(u.exc_value) for u in unraisable]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joints.npy", JOURNAL_DIR]
    session = load_session(tmp_path)
    assert session.metadata["complete"] is False
    np.testing.assert_array_equal(session.frame_index, np.arange(30))


@pytest.mark.parametrize("code, warned", [("EIO", True), ("EINVAL", False), ("ENOTSUP", False)])
def test_a_folder_that_cannot_be_synced_loses_nothing_and_an_io_error_is_said(tmp_path, monkeypatch, code,
                                                                                warned):
    """A folder sync that fails must not lose the file (some SMB and FUSE mounts always fail it);
    an I/O error is said once, as a warning, because the name may not survive a power cut."""
    import errno
    import os
    import stat
    import warnings

    import pose3d_nb.recording.files as files

    real_fsync = os.fsync

    def failing_fsync(descriptor: int) -> None:
        if stat.S_ISDIR(os.fstat(descriptor).st_mode):
            raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    monkeypatch.setattr(files, "_warned_folders", set())
    target = tmp_path / "session.npz"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert files.fsync_folder(tmp_path) is False
        for text in (b"data", b"more data"):
            with files.atomic_file(target) as handle:
                handle.write(text)
    said = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(said) == (1 if warned else 0), said  # once per folder, not on every save
    if warned:
        assert str(tmp_path) in said[0] and "power cut" in said[0]
    assert target.read_bytes() == b"more data"  # every save landed


def test_a_finalize_step_that_fails_loses_no_row(tmp_path):
    # The engine places a video file's rows again from the whole clip before session.npz is
    # written; a bug there must leave the rows as recorded, and say what happened.
    def broken(session, metadata):
        raise ValueError("no luck")

    recorder = _recorder(tmp_path, finalize=broken)
    recorder.begin()
    _record(recorder, 0, 50)
    recorder.finish()
    session = load_session(tmp_path / "session.npz")
    np.testing.assert_array_equal(session.frame_index, np.arange(50))
    assert session.metadata["complete"] is True
    assert session.metadata["finalize_error"] == "ValueError: no luck"


def test_a_finalize_step_writes_its_rows_and_metadata_and_the_newest_pose(tmp_path):
    import dataclasses

    def doubled(session, metadata):
        return dataclasses.replace(session, joints_3d=2 * session.joints_3d), {**metadata, "doubled": True}

    recorder = _recorder(tmp_path, finalize=doubled)
    recorder.begin()
    _record(recorder, 0, 50)
    recorder.finish()
    session = load_session(tmp_path / "session.npz")
    np.testing.assert_array_equal(session.joints_3d[:, 0, 0], 2 * np.arange(50, dtype=np.float32))
    assert session.metadata["doubled"] is True
    np.testing.assert_array_equal(np.load(tmp_path / "joints.npy"), 2 * np.full((1, 17, 3), 49, np.float32))
    failed = _recorder(tmp_path / "failed", finalize=doubled)
    failed.begin()
    _record(failed, 0, 10)
    failed.finish(failed=True)  # a run that ended in an error: its rows as recorded
    assert "doubled" not in load_session(tmp_path / "failed").metadata


def _followed_among_others(i: int, valid: bool = True) -> SimpleNamespace:
    """``_pose(i)`` seen by a people detector that follows person 1 beside person 7 (whose
    3D is -i); a frame without the followed person's pose shows their newest one, 100 + i."""
    pose = _pose(i, valid)
    pose.detection.extras = {
        "track_id": 1, "people_ids": np.array([1, 7]),
        "people_keypoints": np.zeros((2, 17, 2), np.float32),
        "people_joints_3d": np.stack([np.full((17, 3), 100 + i), np.full((17, 3), -i)]).astype(np.float32),
    }
    return pose


def test_rows_placed_again_move_the_followed_person_s_own_people_slot_with_them(tmp_path):
    # The followed person's slot of people_joints_3d holds the row's own pose (what
    # `pose3d export --person` reads): placed again (the camera's settling second), it moved
    # with joints_3d, in the buffer and in session.npz, or the row held them in two rooms.
    import dataclasses

    from pose3d_nb.buffer import RowPlacement

    def placement(i: int) -> RowPlacement:
        world, camera = np.full((17, 3), 1000 + i, np.float32), np.full((17, 3), 2000 + i, np.float32)
        return RowPlacement(0, i, 1, world, camera)

    def whole_clip_for_row_2(session, metadata):  # placed again from the whole clip: row 2 only
        joints = session.joints_3d.copy()
        joints[2] = 5000
        return dataclasses.replace(session, joints_3d=joints), metadata

    recorder = _recorder(tmp_path, finalize=whole_clip_for_row_2)
    recorder.begin()
    recorder.record([_followed_among_others(i, valid=i != 3) for i in range(6)], 0)
    recorder.place_again([placement(i) for i in range(5)])
    recorder.finish()
    session = load_session(tmp_path / "session.npz")
    live = recorder.buffer.snapshot()
    for rows, finalized in ((live, False), (session, True)):
        followed, others = rows.people_joints_3d[:, 0, 0, 0], rows.people_joints_3d[:, 1, 0, 0]
        np.testing.assert_array_equal(rows.joints_3d[:, 0, 0],
                                      [1000, 1001, 5000 if finalized else 1002, 1003, 1004, 5])
        # Row 2: the whole clip's placement, its slot as recorded (finalize did not move it);
        # row 3 had no pose of its own: its slot showed another frame's pose, which was not placed again.
        np.testing.assert_array_equal(followed, [1000, 1001, 2 if finalized else 1002, 103, 1004, 5])
        np.testing.assert_array_equal(others, -np.arange(6))  # everyone else as placed live
    assert len(session.people_joints_3d) == 6


def test_every_save_syncs_the_journal_meta_before_it_replaces_the_old_one(tmp_path, monkeypatch):
    # The journal is read through meta.json. Rewritten at each save without a sync, a power cut
    # could leave it empty (file systems that do not flush data on rename), and load_session then
    # refused every row beside it as a damaged journal.
    import os

    from pose3d_nb.recording import files

    synced = []
    real_fsync = os.fsync

    def fsync(descriptor):
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(files.os, "fsync", fsync)
    recorder = _recorder(tmp_path)
    recorder.begin()
    for save in range(3):
        _record(recorder, save * 10, 10)
        synced.clear()
        recorder.flush()
        meta_syncs = [path for path in synced if os.path.basename(path).startswith(".meta.json.")]
        assert meta_syncs, f"save {save}: meta.json was replaced without a sync ({synced})"
    recorder.finish()


def test_a_folder_given_with_a_tilde_is_the_home_folders(tmp_path, monkeypatch):
    # Checked, locked and read back at ~/rec, it was written to a folder named "~" in the
    # working folder, and load_session("~/rec") found no session there.
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    recorder = _recorder("~/rec")
    recorder.begin()
    _record(recorder, 0, 5)
    assert recorder.finish() == home / "rec" / "session.npz"
    assert len(load_session("~/rec")) == 5
    assert not list(work.iterdir())


def test_a_run_keeps_recording_into_its_folder_when_the_working_folder_changes(tmp_path, monkeypatch):
    # out_dir was kept relative: after a %cd (os.chdir) in the notebook the stop wrote a 0-row
    # "complete" session.npz over the complete recording in the other folder's out_files, and
    # this run's rows stayed behind as an unfinished journal.
    project_a, project_b = tmp_path / "a", tmp_path / "b"
    project_a.mkdir()
    project_b.mkdir()
    monkeypatch.chdir(project_b)
    yesterday = _complete_session("out_files", frames=50)
    monkeypatch.chdir(project_a)
    assert prepare_out_dir("out_files") == project_a / "out_files"
    recorder = _recorder("out_files")
    assert recorder.out_dir == project_a / "out_files"
    recorder.begin()
    _record(recorder, 0, 30)
    recorder.flush()
    monkeypatch.chdir(project_b)  # %cd ../b while it records
    _record(recorder, 30, 12)
    assert recorder.finish() == project_a / "out_files" / "session.npz"
    kept = load_session(project_b / "out_files")
    assert len(kept) == 50 and kept.metadata["recording_id"] == yesterday
    today = load_session(project_a / "out_files")
    assert today.metadata["complete"] is True
    np.testing.assert_array_equal(today.frame_index, np.arange(42))
    assert sorted(p.name for p in (project_a / "out_files").iterdir()) == ["joints.npy", "session.npz"]


@pytest.mark.parametrize("lasting", [False, True])
def test_a_read_error_at_stop_keeps_the_journal_and_writes_no_session(tmp_path, monkeypatch, lasting):
    # Any OSError while the stop read the journal back was taken for a torn last save: the
    # stream was dropped, session.npz written "complete" with 0 rows and the journal deleted.
    # An error that lasts: the stop's message still counts the rows saved (from meta.json).
    import errno

    import pyarrow as pa

    recorder = _recorder(tmp_path)
    recorder.begin()
    _record(recorder, 0, 90)
    recorder.flush()
    real_open = pa.ipc.open_stream
    failures = []

    def failing_once(source, *args, **kwargs):  # EIO on a network disk, EMFILE in a busy kernel
        if lasting or not failures:
            failures.append(source)
            raise OSError(errno.EIO, "Input/output error")
        return real_open(source, *args, **kwargs)

    monkeypatch.setattr(pa.ipc, "open_stream", failing_once)
    with pytest.raises(Pose3DRuntimeError, match=r"Input/output error.*rows-000\.arrows") as raised:
        recorder.finish()
    monkeypatch.undo()
    assert "journal is kept" in str(raised.value) and "the 90 rows saved before stay" in str(raised.value)
    assert not (tmp_path / "session.npz").exists()
    session = load_session(tmp_path)
    assert session.metadata["complete"] is False
    np.testing.assert_array_equal(session.frame_index, np.arange(90))


def _killed_after_three_saves(folder, last_synced: bool = True):
    """A run killed after its third save of 10 rows; ``last_synced`` False: a power cut in that
    save, before meta.json counted it (it counts the first two). Returns the stream file, its
    bytes, and where each save ends."""
    recorder = _recorder(folder)
    recorder.begin()
    stream = folder / JOURNAL_DIR / "rows-000.arrows"
    meta_file = folder / JOURNAL_DIR / "meta.json"
    ends, metas = [], []
    for first in (0, 10, 20):
        _record(recorder, first, 10)
        recorder.flush()
        ends.append(stream.stat().st_size)
        metas.append(meta_file.read_bytes())
    recorder._release_folder()  # killed
    meta_file.write_bytes(metas[-1] if last_synced else metas[-2])
    return stream, stream.read_bytes(), ends


def _writing_streams_without_checksums(monkeypatch):
    """``JournalWriter`` writes its streams as before checksums: no schema metadata, no batch
    custom metadata."""
    import pyarrow as pa

    real_new_stream = pa.ipc.new_stream

    class StreamBeforeChecksums:
        def __init__(self, sink, schema):
            self._writer = real_new_stream(sink, schema.remove_metadata())

        def write_batch(self, batch, custom_metadata=None):
            self._writer.write_batch(batch)

        def close(self):
            self._writer.close()

    monkeypatch.setattr(pa.ipc, "new_stream", StreamBeforeChecksums)


@pytest.mark.parametrize("checksums", [True, False])
@pytest.mark.parametrize("counted", [10, 5])
def test_a_save_ending_in_zeros_is_dropped_only_after_the_rows_meta_counts(tmp_path, monkeypatch, counted,
                                                                          checksums):
    # A save whose last row reads back as zeros was dropped wherever it was, also one meta.json
    # counts as synced (a bad sector there): load_session quietly gave 5 rows fewer. Streams
    # written before checksums are still read so.
    from pose3d_nb.buffer import empty_column
    from pose3d_nb.recording.journal import JournalWriter

    if not checksums:
        _writing_streams_without_checksums(monkeypatch)
    folder = tmp_path / JOURNAL_DIR
    writer = JournalWriter(folder, "rid")
    for first in (0, 5):
        rows = {name: empty_column(name, 5) for name in COLUMNS}
        rows["joints_3d"][:], rows["joints_camera"][:], rows["keypoints_2d"][:] = 1.0, 2.0, 3.0
        rows["frame_index"] = np.arange(first, first + 5)
        rows["timestamps"] = rows["frame_index"] / 30.0
        rows["valid"][:] = True
        writer.append(rows)
    writer.write_meta({})
    writer.close()
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "rows": counted}))
    data = bytearray(writer.path.read_bytes())
    last_row = np.full(51, 2.0, np.float32).tobytes()  # the second save's last joints_camera row
    at = bytes(data[:-8]).rfind(last_row)
    data[at:at + len(last_row)] = bytes(len(last_row))
    writer.path.write_bytes(bytes(data))
    if counted == 10:
        reason = "a save that does not match its checksum" if checksums else "a save whose rows end in zeros"
        with pytest.raises(SessionError, match=rf"damaged at byte \d+ of \d+ \({reason}\)"):
            load_session(tmp_path)
    else:  # after the synced rows: a save the power cut caught
        assert len(load_session(tmp_path)) == 5


def test_a_torn_last_save_is_dropped_but_damage_before_the_end_is_an_error(tmp_path):
    stream, whole, ends = _killed_after_three_saves(tmp_path)
    a_save = whole[ends[0]:ends[1]]
    stream.write_bytes(whole + a_save[:len(a_save) // 2])  # a kill in the middle of a fourth save
    np.testing.assert_array_equal(load_session(tmp_path).frame_index, np.arange(30))
    damaged = bytearray(whole)
    damaged[ends[0] + 8:ends[0] + 40] = b"\x07" * 32  # the second save's header: not a torn tail
    stream.write_bytes(bytes(damaged))
    with pytest.raises(SessionError, match=r"rows-000\.arrows is damaged at byte \d+ of \d+"):
        load_session(tmp_path)


def test_a_stop_never_removes_a_journal_that_reads_back_fewer_rows_than_it_saved(tmp_path, monkeypatch):
    from pose3d_nb.recording import journal

    recorder = _recorder(tmp_path)
    recorder.begin()
    for first in (0, 10, 20):
        _record(recorder, first, 10)
        recorder.flush()
    real_read = journal._read_stream
    monkeypatch.setattr(journal, "_read_stream", lambda path: (real_read(path)[0][:-1], None))  # a save lost
    with pytest.raises(Pose3DRuntimeError, match=r"reads back 20 of the 30 rows saved into it"), \
            pytest.warns(UserWarning, match=r"reads back 20 of the 30 rows saved into it"):
        recorder.finish()
    monkeypatch.undo()
    assert not (tmp_path / "session.npz").exists()
    np.testing.assert_array_equal(load_session(tmp_path).frame_index, np.arange(30))
    # Nor does a finalize step that returns fewer rows than recorded lose any: they are written as recorded.
    import dataclasses

    def first_five(session, metadata):
        shortened = {name: getattr(session, name)[:5] for name in COLUMNS}
        return dataclasses.replace(session, **shortened), metadata

    shortening = _recorder(tmp_path / "finalized", finalize=first_five)
    shortening.begin()
    _record(shortening, 0, 30)
    shortening.finish()
    session = load_session(tmp_path / "finalized" / "session.npz")
    np.testing.assert_array_equal(session.frame_index, np.arange(30))
    assert session.metadata["finalize_error"] == "it returned 5 rows for the 30 recorded"


def test_an_overwrite_run_that_cannot_start_its_journal_puts_the_recording_it_set_aside_back(
        tmp_path, monkeypatch):
    # The set-aside journal stayed hidden once the new, empty journal was removed: the folder
    # read as "no session" and a later run was refused for a joints.npy "no recording wrote".
    import errno

    from pose3d_nb.recording.journal import JournalWriter

    earlier = _killed_with_rows(tmp_path, 60)

    def disk_full(self, metadata):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(JournalWriter, "write_meta", disk_full)
    _overwrite_run_that_cannot_save(tmp_path, failed=True)
    monkeypatch.undo()
    assert not list(tmp_path.glob(".session.journal.replaced-*"))
    session = load_session(tmp_path)
    assert len(session) == 60 and session.metadata["recording_id"] == earlier
    with pytest.raises(OutputError, match="already holds an unfinished recording"):
        _recorder(tmp_path).begin()


@pytest.mark.parametrize("session_beside", ["none", "older", "newer"])
def test_a_recording_set_aside_with_no_journal_in_the_folder_is_what_the_folder_reads(tmp_path,
                                                                                    session_beside):
    # An --overwrite run killed right after it moved the unfinished recording aside, before it
    # made its own journal: the folder said "no session" (or read an older session.npz) though
    # every row of the unfinished recording was still there.
    from pose3d_nb.cli import main

    if session_beside == "older":
        _complete_session(tmp_path, frames=20)
        _killed_with_rows_replacing(tmp_path, 7)
    else:
        _killed_with_rows(tmp_path, 7)
    os.replace(tmp_path / JOURNAL_DIR, tmp_path / ".session.journal.replaced-0123")  # then killed
    if session_beside == "newer":
        time.sleep(0.01)
        write_session(tmp_path / "session.npz", load_session(tmp_path / ".session.journal.replaced-0123"),
                      {"source": "synthetic", "recording_id": "newer"})
        assert load_session(tmp_path).metadata["recording_id"] == "newer"
        return
    with pytest.warns(UserWarning, match="has no session.journal .*the 7 rows"):
        assert len(load_session(tmp_path)) == 7
    with pytest.warns(UserWarning, match="the 7 rows"):
        assert main(["export", str(tmp_path), "--format", "csv"]) == 0
    with pytest.raises(OutputError, match="already holds .*an unfinished recording"):
        _recorder(tmp_path).begin()


def _killed_with_rows_replacing(folder, count):
    """An --overwrite run killed after saving ``count`` rows beside a complete session."""
    dying = _recorder(folder, overwrite=True)
    dying.begin()
    _record(dying, 0, count)
    dying.flush()
    dying._release_folder()


@pytest.mark.parametrize("file_system", ["hard links", "no hard links"])
def test_a_set_aside_recording_that_continues_a_session_keeps_its_rows_when_that_session_is_replaced(
        tmp_path, monkeypatch, capsys, file_system):
    """A run stopped cleanly (30 rows in session.npz), started again (its journal continues that
    file) and killed after 20 more; an --overwrite run killed after saving sets it aside; an
    --overwrite run that completes replaces session.npz. The set-aside recording, which pose3d
    keeps and names because its rows are in no other file, then could not be read: "continues a
    session.npz that was replaced since", its first 30 rows gone with the old file."""
    from pose3d_nb.cli import main
    from pose3d_nb.recording.folder import set_aside_recordings

    refused_links = []
    if file_system == "no hard links":  # some FUSE, network and FAT file systems: a copy instead
        def no_link(source, target):
            refused_links.append(target)
            raise PermissionError(1, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)
    continued = _recorder(tmp_path)
    continued.begin()
    _record(continued, 0, 30)
    continued.finish()
    continued.begin()  # started again: its journal continues the session.npz of 30 rows
    _record(continued, 30, 20)
    continued.flush()
    continued._release_folder()  # killed: its journal stays, unfinished
    _killed_with_rows_replacing(tmp_path, 10)  # sets the continued recording aside
    (aside,) = tmp_path.glob(".session.journal.replaced-*")
    assert len(load_session(aside)) == 50
    for run in range(2):  # the --overwrite run that completes, and another after it
        completing = _recorder(tmp_path, overwrite=True)
        with pytest.warns(UserWarning, match="keeps an unfinished recording"):
            completing.begin()
        _record(completing, 0, 5 + run)
        completing.finish()
        with pytest.warns(UserWarning, match="keeps an unfinished recording"):
            assert len(load_session(tmp_path / "session.npz")) == 5 + run
        assert set_aside_recordings(tmp_path) == [aside]
        kept = load_session(aside)
        assert kept.metadata["recording_id"] == continued.recording_id
        np.testing.assert_array_equal(kept.frame_index, np.arange(50))
        np.testing.assert_array_equal(kept.joints_3d[:, 0, 0], np.arange(50))
    assert len(refused_links) == (file_system == "no hard links")  # given its base once, not again
    capsys.readouterr()
    assert main(["export", str(aside), "--format", "csv"]) == 0
    written = Path(capsys.readouterr().out.strip().split(": ", 1)[1])
    assert len(written.read_text().splitlines()) == 1 + 50 * 17  # a header, then a row a joint


def _journal_id(journal):
    try:
        return json.loads((journal / "meta.json").read_text())["recording_id"]
    except (OSError, ValueError):
        return None


def test_the_next_run_removes_what_killed_runs_left_holding_no_row_and_names_what_it_keeps(tmp_path):
    """`kill -9` in the middle of an atomic write leaves its hidden temporary file (the newest
    pose's, at every frame; a save's meta.json; the stop's session.npz; an export's), and
    --overwrite runs killed one after another leave the recordings they set aside, for good. The
    next run in the folder removes the temporary files whose writer is gone and the set-aside
    recordings that hold no row; those holding rows are in no other file: kept, and named."""
    from pose3d_nb.recording.files import atomic_file
    from pose3d_nb.recording.journal import read_journal

    _killed_with_rows(tmp_path, 5)
    _killed_with_rows_replacing(tmp_path, 7)  # sets the 5 rows aside
    dying = _recorder(tmp_path, overwrite=True)  # sets the 7 aside, killed before its first save
    with pytest.warns(UserWarning, match="keeps an unfinished recording that --overwrite runs set aside"):
        dying.begin()
    _record(dying, 0, 3)
    deadline = time.monotonic() + 30
    while _journal_id(tmp_path / JOURNAL_DIR) != dying.recording_id and time.monotonic() < deadline:
        time.sleep(0.01)
    dying._release_folder()
    # One more --overwrite run, killed just after it set that rowless journal aside.
    os.replace(tmp_path / JOURNAL_DIR, tmp_path / ".session.journal.replaced-5e7a51de")
    set_aside = {path: len(read_journal(path)) for path in tmp_path.glob(".session.journal.replaced-*")}
    assert sorted(set_aside.values()) == [0, 5, 7]
    holding_rows = {path for path, rows in set_aside.items() if rows}
    husk = tmp_path / ".session.journal.replaced-0123"  # set aside before its meta.json was written
    husk.mkdir()
    # What a kill -9 in the middle of each write leaves (tempfile's names: 8 random characters).
    garbage = {
        tmp_path / ".joints.npy.k1ll3d00.tmp": b"\x93NUMPY a whole newest pose",
        tmp_path / ".session.npz.k1ll3d00.tmp": b"PK\x03\x04 half a session",
        tmp_path / ".session.journal.replaced-5e7a51de" / ".meta.json.k1ll3d00.tmp": b'{"format_ver',
        next(iter(holding_rows)) / ".meta.json.k1ll3d01.tmp": b"",
        tmp_path / ".session.bvh.k1ll3d00.tmp": b"HIERARCHY\nROOT Hips",
        tmp_path / ".session.c3d.k1ll3d00.tmp.c3d": b"half a c3d",
    }
    for path, data in garbage.items():
        path.write_bytes(data)
    # An empty export temporary may be a `pose3d export` that has just created it: left.
    kept = {tmp_path / ".session.tidy.csv.k1ll3d00.tmp": b"", tmp_path / "notes.tmp": b"mine",
            tmp_path / ".session.bvh.backup": b"mine too"}
    for path, data in kept.items():
        path.write_bytes(data)
    with pytest.warns(UserWarning) as said, atomic_file(tmp_path / "session.trc") as live:
        live.write(b"an export written while the next run starts")  # its writer is alive
        live.flush()
        following = _recorder(tmp_path, overwrite=True)
        following.begin()
    assert (tmp_path / "session.trc").read_bytes() == b"an export written while the next run starts"
    assert [path.name for path in garbage if path.exists()] == []
    assert all(path.read_bytes() == data for path, data in kept.items())
    assert {path for path in tmp_path.glob(".session.journal.replaced-*")} == holding_rows
    assert sorted(len(load_session(path)) for path in holding_rows) == [5, 7]
    (warning,) = [str(w.message) for w in said if "set aside" in str(w.message)]
    assert all(path.name in warning for path in holding_rows) and "never deletes them" in warning
    following.finish()


def test_overwrite_never_deletes_an_export_the_user_edited(tmp_path):
    """Replacing a recording deletes its exports (no export of an older run beside a newer
    session), but an export edited since pose3d wrote it (or one it did not write) is the
    user's: the run is refused before it writes anything, naming it; once it is moved away, the
    unedited exports go with the old session."""
    from pose3d_nb.export import export_session

    _complete_session(tmp_path)
    written = [export_session(tmp_path, fmt) for fmt in ("trc", "csv")]
    with (tmp_path / "session.trc").open("a") as trc:
        trc.write("# markers renamed by hand\n")
    edited = (tmp_path / "session.trc").read_bytes()
    before = (tmp_path / "session.npz").read_bytes()
    with pytest.raises(OutputError, match=r"holds session\.trc not as pose3d wrote it .*move it out of"):
        _recorder(tmp_path, overwrite=True).begin()
    assert (tmp_path / "session.trc").read_bytes() == edited
    assert (tmp_path / "session.npz").read_bytes() == before and not (tmp_path / JOURNAL_DIR).exists()
    (tmp_path / "session.trc").rename(tmp_path.parent / "kept.trc")  # what the refusal says to do
    replacing = _recorder(tmp_path, overwrite=True)
    replacing.begin()
    _record(replacing, 0, 4)
    replacing.finish()
    assert len(load_session(tmp_path)) == 4
    assert not any(path.exists() for path in written), "the unedited export of the old session went"
    assert (tmp_path.parent / "kept.trc").read_bytes() == edited


def test_a_folder_holding_a_newer_formats_recording_says_to_upgrade_not_to_overwrite(tmp_path):
    """It said the session.npz "cannot be read; pass --overwrite to replace it": a valid recording,
    written by a newer pose3d_nb, the user was steered into destroying."""
    from pose3d_nb.recording.folder import check_no_other_recording

    newer = rf"written by a newer pose3d_nb \(format {FORMAT_VERSION + 1} > {FORMAT_VERSION}\): upgrade"
    arrays = _rows(5)
    arrays["timestamps"] = np.arange(5) / 30
    single = tmp_path / "single"
    single.mkdir()
    _single_file(single / "session.npz", arrays, {"format_version": FORMAT_VERSION + 1, "complete": True})
    journal = tmp_path / "journal"
    _killed_with_rows(journal, 5)
    meta_file = journal / JOURNAL_DIR / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "format_version": FORMAT_VERSION + 1}))
    for folder, what in ((single, "a session.npz"), (journal, rf"an unfinished recording \({JOURNAL_DIR}\)")):
        with pytest.raises(OutputError, match=f"{what} {newer}") as refused:
            check_no_other_recording(folder, hint="pass --overwrite")
        assert "cannot be read" not in str(refused.value)
        assert "pass --overwrite only if you mean to replace it" in str(refused.value)


def test_a_torn_last_save_that_reads_back_as_zeros_is_dropped_and_only_it(tmp_path):
    """A power cut can leave the file grown to the save's end with zeros where its data was not
    written: the whole journal was unreadable ("damaged at byte ..., not a torn last save"), a
    bare pyarrow ArrowIndexError, or the save read back as rows of zeros."""
    stream, whole, ends = _killed_after_three_saves(tmp_path, last_synced=False)
    for kept in range(0, ends[2] - ends[1], 64):  # the third save's bytes written up to `kept`
        stream.write_bytes(whole[:ends[1] + kept] + bytes(ends[2] - ends[1] - kept))
        session = load_session(tmp_path)
        assert len(session) in (20, 30), kept
        np.testing.assert_array_equal(session.frame_index, np.arange(len(session)), err_msg=str(kept))
        np.testing.assert_array_equal(session.joints_3d[:, 0, 0], np.arange(len(session)), err_msg=str(kept))
    # Garbage after the rows meta.json counts is the unsynced save, torn: dropped.
    stream.write_bytes(whole[:ends[1] + 100] + b"\x07" * (ends[2] - ends[1] - 100))
    np.testing.assert_array_equal(load_session(tmp_path).frame_index, np.arange(20))
    # Damage in a save meta.json counts is damage, zeros or not.
    for filler in (b"\x07", b"\x00"):
        damaged = bytearray(whole)
        damaged[ends[0] + 8:ends[0] + 40] = filler * 32
        stream.write_bytes(bytes(damaged))
        with pytest.raises(SessionError, match=r"rows-000\.arrows is damaged at byte \d+ of \d+"):
            load_session(tmp_path)
    # A whole save zeroed in the middle of the file: damage, not the end of the stream.
    stream.write_bytes(whole[:ends[0]] + bytes(ends[1] - ends[0]) + whole[ends[1]:])
    with pytest.raises(SessionError, match=r"rows-000\.arrows is damaged at byte \d+ of \d+"):
        load_session(tmp_path)


def _with_a_page_of_zeros(whole: bytes, save_start: int, save_end: int) -> bytes:
    """``whole`` (a stream file's bytes) with the first 4096-byte page (4096-aligned, as a file
    system's block) that lies wholly in the column data of the save at ``save_start`` zeroed."""
    import pyarrow as pa

    message = pa.ipc.read_message(pa.BufferReader(whole[save_start:save_end]))
    body_start = save_end - message.body.size
    page = -(-body_start // 4096) * 4096
    assert page + 4096 <= save_end, "the save's column data spans a whole page"
    return whole[:page] + bytes(4096) + whole[page + 4096:]


def test_a_save_whose_column_data_reads_back_as_zeros_fails_its_checksum(tmp_path):
    """A page of a save's column data read back as zeros (a power cut, a file system that
    zero-fills blocks it did not write) was loaded as rows of wrong values: only a last row of
    zeros was seen. In a save meta.json counts as synced it is now an error naming the save."""
    import pyarrow as pa

    from pose3d_nb.recording.journal import _stream_columns

    stream, whole, ends = _killed_after_three_saves(tmp_path)
    damaged = _with_a_page_of_zeros(whole, ends[0], ends[1])  # in the second of three saves
    stream.write_bytes(damaged)
    said = (rf"rows-000\.arrows is damaged at byte {ends[0]} of {ends[2]} \(a save that does not match its "
            r"checksum\), not a torn last save; the 10 rows before it are whole")
    with pytest.raises(SessionError, match=said):
        load_session(tmp_path)
    # Read without the checksum, as before it, the stream gives all 30 rows, some values wrong.
    as_read, as_written = (_stream_columns(pa.ipc.open_stream(data).read_all().to_batches())
                           for data in (damaged, whole))
    assert len(as_read["timestamps"]) == len(as_written["timestamps"]) == 30
    assert [name for name in COLUMNS if as_read[name].tobytes() != as_written[name].tobytes()]


@pytest.mark.parametrize("damaged_save", [1, 2])
def test_a_save_after_the_synced_rows_that_fails_its_checksum_is_dropped_with_what_follows(tmp_path,
                                                                                          damaged_save):
    """The last file's saves after the rows meta.json counts, from the one read back wrong on,
    are what a power cut caught: dropped; the rows before come back bit for bit."""
    stream, whole, ends = _killed_after_three_saves(tmp_path)
    expected = load_session(tmp_path)
    meta_file = tmp_path / JOURNAL_DIR / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "rows": 10 * damaged_save}))
    stream.write_bytes(_with_a_page_of_zeros(whole, ends[damaged_save - 1], ends[damaged_save]))
    session = load_session(tmp_path)
    assert len(session) == 10 * damaged_save
    for name in COLUMNS:
        assert getattr(session, name).tobytes() == getattr(expected, name)[:len(session)].tobytes(), name


def test_a_journal_written_before_checksums_reads_as_before(tmp_path, monkeypatch):
    """Streams without checksums (and a journal continuing one in a new stream with them) read
    whole; a save without one in a stream whose saves carry them is a save read back wrong."""
    import pyarrow as pa

    from pose3d_nb.buffer import empty_column
    from pose3d_nb.recording.journal import (
        _CHECKSUM_KEY,
        _CHECKSUMMED_STREAM,
        JournalWriter,
        _batch,
        _checksum,
        _schema,
    )

    folder = tmp_path / JOURNAL_DIR
    with monkeypatch.context() as before:
        _writing_streams_without_checksums(before)
        recording_id = _killed_with_rows(tmp_path, 20)
    with pa.ipc.open_stream(pa.OSFile(str(folder / "rows-000.arrows"))) as reader:
        assert reader.schema.metadata is None
        assert reader.read_next_batch_with_custom_metadata()[1] is None
    rows = {name: empty_column(name, 5) for name in COLUMNS}
    rows["frame_index"] = np.arange(20, 25)
    rows["joints_3d"][:] = np.arange(20, 25)[:, None, None]
    rows["joints_camera"][:] = -np.arange(20, 25)[:, None, None]  # placed, as _pose's rows
    continuing = JournalWriter(folder, recording_id)  # a new stream file, with checksums
    continuing.append(rows)
    continuing.write_meta({"source": "synthetic"})
    continuing.close()
    session = load_session(tmp_path)
    np.testing.assert_array_equal(session.frame_index, np.arange(25))
    np.testing.assert_array_equal(session.joints_3d[:, 3, 1], np.arange(25))
    # A flagged stream whose second save carries no checksum: damage, where meta.json counts it.
    schema = _schema()
    with pa.OSFile(str(folder / "rows-002.arrows"), "w") as handle, \
            pa.ipc.new_stream(handle, schema.with_metadata(_CHECKSUMMED_STREAM)) as writer:
        batch = _batch(rows, schema)
        writer.write_batch(batch, custom_metadata={_CHECKSUM_KEY: _checksum(batch)})
        writer.write_batch(batch)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "rows": 35}))
    with pytest.raises(SessionError, match=r"rows-002\.arrows is damaged at byte \d+ of \d+ \(a save that "
                                           r"does not match its checksum: it has none"):
        load_session(tmp_path)


def test_a_whole_save_whose_header_reads_back_wrong_is_damage_not_a_torn_save(tmp_path):
    """A save lying whole in the file whose header pyarrow refuses (part of it zeroed) left the
    reader at the file's end, taken for a kill in the middle of the save: the save was dropped
    as torn, also in a file before the last one. Here meta.json counts the next file's first save
    only, so the 10 rows lost there were made up by an unsynced save: no warning, rows 20-29
    missing. Torn ends of such a file (a kill, a power cut) are still dropped."""
    import struct

    from pose3d_nb.buffer import empty_column
    from pose3d_nb.recording.journal import JournalWriter

    stream, whole, ends = _killed_after_three_saves(tmp_path)
    folder = tmp_path / JOURNAL_DIR
    meta = json.loads((folder / "meta.json").read_text())
    continuing = JournalWriter(folder, meta["recording_id"])  # the journal continued: rows-001.arrows
    for first in (30, 40):
        rows = {name: empty_column(name, 10) for name in COLUMNS}
        rows["frame_index"] = np.arange(first, first + 10)
        rows["timestamps"] = rows["frame_index"] / 30
        continuing.append(rows)
        if first == 30:
            continuing.write_meta(meta["metadata"])  # counts 40: the second save is not counted
    continuing.close()
    header_end = ends[1] + 8 + struct.unpack_from("<i", whole, ends[1] + 4)[0]
    damaged = bytearray(whole)
    damaged[ends[1] + 8 + 400:header_end] = bytes(header_end - ends[1] - 8 - 400)
    stream.write_bytes(bytes(damaged))
    with pytest.raises(SessionError, match=rf"rows-000\.arrows is damaged at byte {ends[1]} of {ends[2]} "
                                           r"\(.+\), not a torn last save; the 20 rows before it are whole"):
        load_session(tmp_path)
    # A kill in the middle of that save, or a power cut that left its header half written and
    # zeros after: torn, dropped; the next file's rows follow.
    half_written = ends[1] + 8 + 400
    for torn in (whole[:half_written], whole[:half_written] + bytes(ends[2] - half_written)):
        stream.write_bytes(torn)
        np.testing.assert_array_equal(load_session(tmp_path).frame_index, np.r_[0:20, 30:50])


def test_streams_of_different_schemas_in_one_journal_are_one_error_naming_the_stream_file(tmp_path):
    """pa.Table.from_batches raised a bare ArrowInvalid naming neither file nor column."""
    import pyarrow as pa

    from pose3d_nb.buffer import empty_column
    from pose3d_nb.recording.journal import _batch, _schema, read_journal

    _killed_with_rows(tmp_path, 5)
    schema = _schema()
    other = schema.set(schema.get_field_index("timestamps"), pa.field("timestamps", pa.float32()))
    stream = tmp_path / JOURNAL_DIR / "rows-001.arrows"
    with pa.OSFile(str(stream), "w") as handle, pa.ipc.new_stream(handle, other) as writer:
        writer.write_batch(_batch({name: empty_column(name, 2) for name in COLUMNS}, other))
    expected = rf"{re.escape(str(stream))} is damaged: its column timestamps holds float, expected double"
    for read in (load_session, lambda folder: read_journal(folder / JOURNAL_DIR)):
        with pytest.raises(SessionError, match=expected):
            read(tmp_path)


def test_a_journal_whose_first_stream_lacks_a_later_column_reads_with_its_fill(tmp_path):
    """A journal continued by a version with one more column: its older stream's rows get the
    column's fill (they were one pyarrow error)."""
    import pyarrow as pa

    from pose3d_nb.buffer import empty_column
    from pose3d_nb.recording.journal import _batch, _schema

    _killed_with_rows(tmp_path, 5)
    schema = _schema()
    older = schema.remove(schema.get_field_index("joints_camera"))
    first = tmp_path / JOURNAL_DIR / "rows-000.arrows"
    first.rename(tmp_path / JOURNAL_DIR / "rows-001.arrows")
    with pa.OSFile(str(first), "w") as handle, pa.ipc.new_stream(handle, older) as writer:
        columns = {name: empty_column(name, 2) for name in COLUMNS}
        columns["frame_index"] = np.array([-2, -1])
        writer.write_batch(_batch(columns, older))
    session = load_session(tmp_path)
    np.testing.assert_array_equal(session.frame_index, [-2, -1, 0, 1, 2, 3, 4])
    assert np.isnan(session.joints_camera[:2]).all()


def test_looking_for_recordings_set_aside_reads_none_of_their_rows(tmp_path, monkeypatch):
    """Every load_session(folder) without a journal, and every --out check, read each set-aside
    journal in full (an hour of rows each time) before looking at its date."""
    from pose3d_nb.recording import folder as folder_module

    _killed_with_rows(tmp_path, 5)
    _overwrite_killed_before_its_first_save(tmp_path)
    (aside,) = tmp_path.glob(".session.journal.replaced-*")
    rows_read = []
    real_read_journal = folder_module.read_journal
    monkeypatch.setattr(folder_module, "read_journal",
                        lambda journal: rows_read.append(journal) or real_read_journal(journal))
    assert folder_module.set_aside_standing_in(tmp_path) == aside
    assert rows_read == [], "meta.json counts its rows"
    completing = _recorder(tmp_path, overwrite=True)  # a session written after it was set aside
    with pytest.warns(UserWarning, match="keeps an unfinished recording"):
        completing.begin()
    _record(completing, 0, 3)
    completing.finish()
    rows_read.clear()
    assert folder_module.set_aside_standing_in(tmp_path) is None
    assert rows_read == [], "older than the folder's session.npz: not read"


def test_a_saves_checksum_is_of_its_values_even_with_nulls():
    # A bool column with a null read back as Python objects, and the checksum was taken over
    # their addresses: another process computed another one (no save writes nulls today).
    import pyarrow as pa

    from pose3d_nb.recording.journal import _checksum

    with_null = pa.record_batch([pa.array([True, None, False])], names=["valid"])
    filled = pa.record_batch([pa.array([True, False, False])], names=["valid"])
    # The same values where not null; the null counted apart (its count is hashed too).
    assert _checksum(with_null) != _checksum(filled)
    code = ("import pyarrow as pa; from pose3d_nb.recording.journal import _checksum; "
            "print(_checksum(pa.record_batch([pa.array([True, None, False])], names=['valid'])).decode())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == _checksum(with_null).decode()


def test_an_empty_recording_folder_another_run_holds_is_never_removed(tmp_path):
    """A run that failed before recording removes the empty --out it made, but not once another
    run holds it: a run refused because another one had just locked the new folder removed it,
    that run's first save made it again with its lock on the old one, and a third --overwrite run
    then took it over and lost the second run's rows."""
    from pose3d_nb.recording.folder import lock_out_dir, remove_empty_out_dir, unlock_out_dir

    held, free, full = tmp_path / "held", tmp_path / "free", tmp_path / "full"
    for folder in (held, free, full):
        folder.mkdir()
    (full / "notes.txt").write_text("mine")
    lock = lock_out_dir(held)
    try:
        for folder in (held, free, full):
            remove_empty_out_dir(folder)
    finally:
        unlock_out_dir(lock)
    assert held.is_dir() and not free.exists() and (full / "notes.txt").read_text() == "mine"


def test_two_exports_written_at_once_are_both_recorded(tmp_path, monkeypatch):
    """Each export read the folder's record of exports, added itself and wrote it back: written at
    once, one entry was lost, and a later --overwrite refused that untouched file as edited."""
    import threading

    from pose3d_nb.recording import folder as folder_module

    write_session(tmp_path / "session.npz", _snapshot(5), {"fps": 30.0, "complete": True})
    for name in ("session.trc", "session.tidy.csv"):
        (tmp_path / name).write_text(name)
    inside, release = threading.Event(), threading.Event()
    write = folder_module._write_export_record

    def slow_first_write(folder, stamps):
        if not inside.is_set():  # the first writer stops between its read and its write
            inside.set()
            release.wait(10)
        write(folder, stamps)

    monkeypatch.setattr(folder_module, "_write_export_record", slow_first_write)
    first = threading.Thread(target=folder_module.record_exports, args=([tmp_path / "session.trc"],))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=folder_module.record_exports, args=([tmp_path / "session.tidy.csv"],))
    second.start()
    second.join(0.3)  # with the lock it waits for the first; without, it read the record already
    release.set()
    first.join(10)
    second.join(10)
    assert folder_module.changed_exports(tmp_path) == []


def test_reading_a_folder_names_the_rows_killed_overwrite_runs_set_aside(tmp_path):
    """An --overwrite run killed after saving sets the folder's earlier unfinished recording
    aside; reading the folder (load_session, pose3d export) gave the newer rows and said nothing
    of the older ones, which are in no other file: only the next run in the folder named them."""
    from pose3d_nb.cli import main

    _killed_with_rows(tmp_path, 5)
    _killed_with_rows_replacing(tmp_path, 7)  # sets the 5 rows aside
    with pytest.warns(UserWarning, match="keeps an unfinished recording that --overwrite runs set aside"):
        assert len(load_session(tmp_path)) == 7
    with pytest.warns(UserWarning, match="keeps an unfinished recording"):
        assert len(load_session(tmp_path / JOURNAL_DIR)) == 7
    with pytest.warns(UserWarning, match="keeps an unfinished recording"):
        assert main(["export", str(tmp_path), "--format", "csv"]) == 0
    set_aside = next(tmp_path.glob(".session.journal.replaced-*"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reading the set-aside recording itself: nothing to add
        assert len(load_session(set_aside)) == 5


def test_a_set_aside_recording_exports_under_its_own_name_beside_the_folder_s(tmp_path, capsys):
    """`pose3d export <set-aside> --format csv`, as the warning says to read it, wrote
    session.tidy.csv, the folder's own session's export, with the set-aside rows (a user's note
    in it lost, and the file recorded as the folder session's export)."""
    import pandas as pd

    from pose3d_nb.cli import main

    _killed_with_rows(tmp_path, 5)
    _killed_with_rows_replacing(tmp_path, 7)  # sets the 5 rows aside
    with pytest.warns(UserWarning):
        assert main(["export", str(tmp_path), "--format", "csv"]) == 0
    ours = tmp_path / "session.tidy.csv"
    ours.write_text(ours.read_text() + "# my note\n")
    before = ours.read_bytes()
    set_aside = next(tmp_path.glob(".session.journal.replaced-*"))
    capsys.readouterr()
    assert main(["export", str(set_aside), "--format", "csv"]) == 0
    written = tmp_path / f"session.replaced-{set_aside.name.rsplit('-', 1)[1]}.tidy.csv"
    assert capsys.readouterr().out.strip() == f"csv: {written}"
    assert ours.read_bytes() == before
    assert pd.read_csv(written)["frame_index"].nunique() == 5
    # Exported again: replaced while as written; over a note of the user's, kept unless --overwrite.
    assert main(["export", str(set_aside), "--format", "csv"]) == 0
    written.write_text(written.read_text() + "# checked\n")
    assert main(["export", str(set_aside), "--format", "csv"]) == 2
    assert written.read_text().endswith("# checked\n")
    assert main(["export", str(set_aside), "--format", "csv", "--overwrite"]) == 0
    assert not written.read_text().endswith("# checked\n")


def test_a_set_aside_continuation_whose_count_lags_its_rows_still_stands_in(tmp_path, monkeypatch):
    # An engine stops (session.npz, 40 rows), starts again (its journal continues the file) and
    # is killed between a save's rows and its meta.json count (0 there, 10 rows on disk); an
    # --overwrite run then sets that journal aside and is killed before its own journal. The
    # folder read the 40-row file: the set-aside journal, of the file's own recording id, was
    # taken for the one its stop had merged, by the count.
    import os
    import uuid

    from pose3d_nb.recording import journal as journal_module

    class Killed(BaseException):
        pass

    recorder = _recorder(tmp_path)
    recorder.begin()
    _record(recorder, 0, 40)
    recorder.finish()
    recorder.begin()
    _record(recorder, 40, 10)
    real, calls = journal_module.JournalWriter.write_meta, []

    def killed_at_the_count(self, meta):
        calls.append(1)
        if len(calls) > 1:  # the journal's opening meta is written; the count after the rows is not
            raise Killed
        real(self, meta)

    monkeypatch.setattr(journal_module.JournalWriter, "write_meta", killed_at_the_count)
    with pytest.raises(Killed):
        recorder.flush()
    monkeypatch.setattr(journal_module.JournalWriter, "write_meta", real)
    recorder._release_folder()  # killed
    overwrite = _recorder(tmp_path, overwrite=True)
    overwrite.begin()  # sets nothing aside until its first save: a kill right after setting it aside
    os.replace(tmp_path / "session.journal", tmp_path / f".session.journal.replaced-{uuid.uuid4().hex}")
    overwrite._release_folder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(load_session(tmp_path)) == 50


def test_a_run_starting_while_an_export_asks_whether_the_folder_is_in_use_waits_for_it(tmp_path):
    # An engine's export asks whether another run records in its folder by taking and letting go
    # of the folder's lock; a `pose3d run --overwrite` starting at that instant failed with "being
    # recorded into by another run" (4 of 6 runs beside an export loop). A start waits briefly.
    import threading

    from pose3d_nb.recording.files import try_lock
    from pose3d_nb.recording.folder import LOCK_WAIT_S, OutputError, lock_out_dir, unlock_out_dir

    held = try_lock(tmp_path)
    assert held is not None
    threading.Timer(0.05, unlock_out_dir, (held,)).start()  # a probe's hold, made long to be seen
    unlock_out_dir(lock_out_dir(tmp_path))  # waits, then takes it
    run = lock_out_dir(tmp_path)  # a run that records: held for as long as it runs
    try:
        started = time.monotonic()
        with pytest.raises(OutputError, match="being recorded into by another run"):
            lock_out_dir(tmp_path)
        assert time.monotonic() - started >= LOCK_WAIT_S * 0.9
    finally:
        unlock_out_dir(run)
