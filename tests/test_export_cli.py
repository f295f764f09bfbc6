"""`pose3d export` and `pose3d run --export` as a user drives them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from helpers.export_data import synthetic_session

from pose3d_nb.buffer import BufferSnapshot
from pose3d_nb.cli import main
from pose3d_nb.recording import load_session, write_session


@pytest.fixture()
def session_file(tmp_path):
    session = synthetic_session()
    fields = {name: getattr(session, name) for name in BufferSnapshot.__dataclass_fields__}
    write_session(tmp_path / "session.npz", BufferSnapshot(**fields), session.metadata)
    return tmp_path / "session.npz"


@pytest.mark.parametrize("fmt", ["bvh", "trc", "c3d", "csv", "parquet"])
def test_export_each_format(session_file, fmt, capsys):
    out = session_file.parent / "exported" / f"motion.{fmt}"
    assert main(["export", str(session_file), "--format", fmt, "--out", str(out), "--smooth", "6"]) == 0
    assert capsys.readouterr().out.strip() == f"{fmt}: {out}"
    assert out.stat().st_size > 1000


@pytest.mark.parametrize("fmt", ["bvh", "csv"])
def test_an_existing_out_file_is_kept_unless_overwrite(session_file, fmt, capsys):
    # `pose3d export --out notes.txt` replaced the user's notes without a word, and an --out
    # folder failed as "cannot write" (exit 1); pose3d lift refuses both (exit 2).
    notes = session_file.parent / "notes.txt"
    notes.write_text("my notes")
    assert main(["export", str(session_file), "--format", fmt, "--out", str(notes)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pose3d export: error: ") and f"{notes} exists; pass --overwrite" in err
    assert notes.read_text() == "my notes" and not notes.with_suffix(".invalid_frames.json").exists()
    folder = session_file.parent / "exports"
    folder.mkdir()
    assert main(["export", str(session_file), "--format", fmt, "--out", str(folder)]) == 2
    assert f"--out: {folder} is a folder; name the file to write" in capsys.readouterr().err
    assert list(folder.iterdir()) == []
    assert main(["export", str(session_file), "--format", fmt, "--out", str(notes), "--overwrite"]) == 0
    assert notes.read_text() != "my notes"
    # The default path beside the session is the export's own: written again, as before.
    for _ in range(2):
        assert main(["export", str(session_file), "--format", fmt]) == 0


def test_a_bvh_out_whose_invalid_frame_list_exists_is_refused_too(session_file, capsys):
    sidecar = session_file.parent / "motion.invalid_frames.json"
    sidecar.write_text("{}")
    out = session_file.parent / "motion.bvh"
    assert main(["export", str(session_file), "--format", "bvh", "--out", str(out)]) == 2
    assert f"{sidecar} exists; pass --overwrite" in capsys.readouterr().err
    assert sidecar.read_text() == "{}"


def test_export_options_reach_the_writer(session_file, capsys):
    assert main(["export", str(session_file), "--format", "trc", "--fps", "25", "--units", "mm"]) == 0
    lines = (session_file.parent / "session.trc").read_text().splitlines()
    assert lines[2].split("\t") == ["25", "25", "120", "17", "mm", "25", "1", "120"]


@pytest.mark.parametrize("units", ["MM", " Mm "])
def test_units_are_taken_in_any_case_as_formats_are(session_file, units, capsys):
    # --format TRC was taken while --units MM was refused ("units must be one of ('m', 'mm')").
    assert main(["export", str(session_file), "--format", "TRC", "--units", units]) == 0
    assert (session_file.parent / "session.trc").read_text().splitlines()[2].split("\t")[4] == "mm"


def test_export_errors_are_one_line(session_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(session_file), "--format", "fbx"])
    assert exit_info.value.code == 2
    capsys.readouterr()
    # A session that is not there is the command line's value refused (2, as `pose3d lift` and
    # `pose3d run` refuse a missing input; it was 1, the status of work that failed).
    assert main(["export", str(tmp_path / "missing.npz"), "--format", "bvh"]) == 2
    assert capsys.readouterr().err.startswith("pose3d export: error: no session file")
    assert main(["export", str(tmp_path / "no_such_folder"), "--format", "bvh"]) == 2
    assert main(["export", str(session_file), "--format", "trc", "--units", "cm"]) == 2  # refused first
    assert "units must be one of" in capsys.readouterr().err
    assert main(["export", str(session_file), "--format", "bvh", "--out", str(session_file / "x.bvh")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write") and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session.npz"]


def test_run_rejects_an_unknown_export_format_before_running(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pose3d_nb.cli", "run", "--out", str(tmp_path),
                             "--export", "bvh,fbx"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "fbx" in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_run_then_export(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pose3d_nb.cli", "run", "--out", str(tmp_path),
                             "--max-frames", "40", "--export", "bvh,trc,parquet"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for fmt in ("bvh", "trc", "parquet"):
        assert f"{fmt}: {tmp_path / ('session.' + fmt)}" in result.stdout
    frames = len(load_session(tmp_path / "session.npz"))
    bvh_lines = (tmp_path / "session.bvh").read_text().splitlines()
    assert f"Frames: {frames}" in bvh_lines
    assert np.isfinite(np.loadtxt(bvh_lines[bvh_lines.index("MOTION") + 3:])).all()


@pytest.mark.parametrize("fmt", ["csv", "bvh"])
def test_an_export_never_replaces_the_session_it_reads(session_file, fmt, capsys):
    # `pose3d export OUT --format csv --out OUT/session.npz` wrote the table over the recording.
    before = session_file.read_bytes()
    assert main(["export", str(session_file.parent), "--format", fmt, "--out", str(session_file)]) == 2
    err = capsys.readouterr().err
    assert "never replaces a recording" in err and "Traceback" not in err
    assert session_file.read_bytes() == before


def _damaged_session(path, **arrays) -> bytes:
    """A session.npz at ``path`` with ``arrays`` in place of its own columns; its bytes."""
    import json

    session = synthetic_session()
    fields = {name: getattr(session, name) for name in BufferSnapshot.__dataclass_fields__
              if getattr(session, name) is not None}
    metadata = arrays.pop("metadata", {"complete": True})
    np.savez(path, **{**fields, **arrays}, metadata=np.array(json.dumps(metadata)))
    return path.read_bytes()


def test_an_out_that_is_a_session_with_single_value_timestamps_is_one_line_not_a_traceback(
        session_file, tmp_path, capsys):
    """Its description took len() of the 0-d timestamps: a TypeError traceback."""
    target = tmp_path / "other.npz"
    before = _damaged_session(target, timestamps=np.array(1.0))
    assert main(["export", str(session_file), "--format", "csv", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"{target} exists; pass --overwrite" in err and "Traceback" not in err
    assert target.read_bytes() == before


def test_an_export_never_replaces_a_session_of_a_newer_format(session_file, tmp_path, capsys):
    from pose3d_nb.recording import FORMAT_VERSION

    target = tmp_path / "newer.npz"
    before = _damaged_session(target, metadata={"format_version": FORMAT_VERSION + 1, "complete": True})
    assert main(["export", str(session_file), "--format", "csv", "--out", str(target), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "a session recorded by a newer pose3d_nb: an export never replaces a recording" in err
    assert target.read_bytes() == before
    assert main(["export", str(target), "--format", "csv", "--out", str(tmp_path / "t.csv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "upgrade pose3d_nb to read it" in err and len(err.splitlines()) == 1


def test_an_export_never_replaces_another_session_or_a_journal_file(session_file, tmp_path):
    from pose3d_nb.export import ExportError, export_session

    other = tmp_path / "other" / "take.npz"  # a session under any name
    other.parent.mkdir()
    other.write_bytes(session_file.read_bytes())
    journal = tmp_path / "running" / "session.journal"
    journal.mkdir(parents=True)
    (journal / "meta.json").write_text("{}")
    (journal / "rows-000.arrows").write_bytes(b"rows")
    for target in (other, journal / "rows-000.arrows", journal / "meta.json"):
        before = target.read_bytes()
        with pytest.raises(ExportError, match="never replaces a recording"):
            export_session(session_file, "trc", out=target)
        assert target.read_bytes() == before
    # an earlier export (not a session) is replaced as before
    earlier = tmp_path / "motion.trc"
    earlier.write_text("old")
    assert export_session(session_file, "trc", out=earlier) == earlier
    assert earlier.read_text() != "old"


def test_an_export_into_a_complete_folder_s_journal_place_is_refused(session_file, capsys):
    # `pose3d export OUT --out OUT/session.journal/x.bvh` made a session.journal folder beside
    # the complete session: the folder then read as a recording that never started, and later
    # runs refused it as an unfinished recording.
    folder = session_file.parent
    for target in (folder / "session.journal" / "x.bvh", folder / "session.journal" / "sub" / "x.bvh"):
        assert main(["export", str(folder), "--format", "bvh", "--out", str(target)]) == 2
        assert "where a recording keeps its journal" in capsys.readouterr().err
        assert not (folder / "session.journal").exists()
    assert len(load_session(folder)) == len(load_session(session_file))


def test_the_engines_csv_never_replaces_its_recording(tmp_path):
    from pose3d_nb.buffer import RollingBuffer
    from pose3d_nb.engine.exports import EngineExports
    from pose3d_nb.export import ExportError
    from pose3d_nb.recording import Recorder

    class Recording(EngineExports):
        def __init__(self, out):
            self.out_dir = out
            self._recorder = Recorder(RollingBuffer(8), out, self.metadata)

        def metadata(self):
            return {"source": "synthetic"}

    session = tmp_path / "session.npz"
    write_session(session, RollingBuffer(4).snapshot(), {"source": "camera"})
    before = session.read_bytes()
    with pytest.raises(ExportError, match="never replaces a recording"):
        Recording(tmp_path).export_csv(session)
    assert session.read_bytes() == before
    # Nothing recorded yet: refused, and no header-only session.csv left to make start() refuse.
    with pytest.raises(ExportError, match="nothing is recorded yet; start the engine first"):
        Recording(tmp_path).export_csv()
    assert not (tmp_path / "session.csv").exists()


def test_an_export_to_a_tilde_path_goes_to_the_home_folder(session_file, tmp_path, monkeypatch, capsys):
    # It was written to a folder named "~" in the working folder, where nobody looks for it.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(session_file), "--format", "trc", "--out", "~/motion.trc"]) == 0
    written = tmp_path / "home" / "motion.trc"
    assert capsys.readouterr().out.strip() == f"trc: {written}"
    assert written.stat().st_size > 1000 and not (tmp_path / "~").exists()


def test_the_engines_csv_to_a_tilde_path_goes_to_the_home_folder(tmp_path, monkeypatch):
    # export_session expanded "~" (pose3d export --out, engine.export), export_csv did not.
    from pose3d_nb.buffer import PoseSample, RollingBuffer
    from pose3d_nb.engine.exports import EngineExports
    from pose3d_nb.recording import Recorder

    class Recording(EngineExports):
        def __init__(self):
            self.out_dir = None
            buffer = RollingBuffer(8)
            buffer.append(PoseSample(np.full((17, 3), 0.5), np.zeros((17, 2)), np.ones(17), 0.0, 0, True, 0))
            self._recorder = Recorder(buffer, None, dict)

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    written = Recording().export_csv("~/frames.csv")
    assert written == tmp_path / "home" / "frames.csv" and written.is_file()
    assert not (tmp_path / "~").exists()


def test_exporting_a_folder_a_failed_overwrite_left_says_in_one_line_which_recording(tmp_path):
    """The folder holds the unfinished journal of an overwrite run beside the complete session it
    was replacing: the export is of the newest rows, and the command says so in one line (not a
    Python warning with its source line) and names the complete one."""
    from types import SimpleNamespace

    from pose3d_nb.buffer import RollingBuffer
    from pose3d_nb.recording import Recorder

    def pose(i):
        detection = SimpleNamespace(keypoints=np.full((17, 2), i, np.float32), scores=np.ones(17, np.float32),
                                    timestamp=i / 30, extras={})
        return SimpleNamespace(joints=np.full((17, 3), i, np.float32), detection=detection, frame=None,
                               frame_index=i, valid=True, joints_camera=np.full((17, 3), -i, np.float32))

    complete = Recorder(RollingBuffer(100), tmp_path, lambda: {"source": "synthetic"}, 60.0)
    complete.begin()
    complete.record([pose(i) for i in range(20)], 0)
    complete.finish()
    failed = Recorder(RollingBuffer(100), tmp_path, lambda: {"source": "synthetic"}, 60.0, overwrite=True)
    failed.begin()
    failed.record([pose(i) for i in range(7)], 0)
    failed.flush()
    failed.finish(failed=True)  # the run failed: its rows stay in the journal, the old session too
    out = tmp_path / "exported.csv"
    command = [sys.executable, "-m", "pose3d_nb.cli", "export", str(tmp_path), "--format", "csv",
               "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pose3d: warning: exporting the unfinished recording")
    assert str(tmp_path / "session.npz") in lines[0] and "UserWarning" not in result.stderr
    assert len(np.unique(np.loadtxt(out, delimiter=",", skiprows=1, usecols=0))) == 7


def test_export_segment_exports_one_recording_run(tmp_path, capsys):
    """export_session(segment=), engine.export and app.export took it; pose3d export had no way."""
    import pandas as pd

    session = synthetic_session()
    fields = {name: getattr(session, name) for name in BufferSnapshot.__dataclass_fields__}
    half = len(session) // 2
    fields["segment"] = np.repeat([0, 1], [half, len(session) - half]).astype(np.int64)
    path = tmp_path / "session.npz"
    write_session(path, BufferSnapshot(**fields), session.metadata)
    out = tmp_path / "second.csv"
    assert main(["export", str(path), "--format", "csv", "--segment", "1", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert set(table["segment"]) == {1} and table["frame"].nunique() == len(session) - half
    assert main(["export", str(path), "--format", "csv", "--segment", "-1"]) == 2
    assert "--segment must be" in capsys.readouterr().err
    assert main(["export", str(path), "--format", "csv", "--segment", "5"]) == 1
    assert "segment 5 has no rows (the session's segments: 0, 1)" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["bvh", "csv"])
def test_an_export_edited_beside_its_session_is_not_written_over_by_default(session_file, fmt, capsys):
    """`pose3d export FOLDER --format bvh` wrote over a session.bvh the user had edited, without a
    word (only an explicit --out was checked): where an export goes by default, only pose3d's own
    unedited export is replaced; another file there needs --overwrite, in the API too."""
    from pose3d_nb.export import ExportError, default_path, export_session

    assert main(["export", str(session_file), "--format", fmt]) == 0
    written = default_path(session_file, fmt)
    assert main(["export", str(session_file), "--format", fmt]) == 0  # pose3d's own: again
    capsys.readouterr()
    edited = written.read_text() + "my notes\n"
    written.write_text(edited)
    assert main(["export", str(session_file), "--format", fmt]) == 2
    err = capsys.readouterr().err
    assert f"{written} is not as pose3d wrote it" in err and "--overwrite" in err, err
    with pytest.raises(ExportError, match="not as pose3d wrote it"):
        export_session(session_file, fmt)
    assert written.read_text() == edited
    assert main(["export", str(session_file), "--format", fmt, "--overwrite"]) == 0
    assert written.read_text() != edited
    written.write_text(edited)
    export_session(session_file, fmt, overwrite=True)
    assert written.read_text() != edited



@pytest.mark.slow
def test_an_export_edited_while_an_overwrite_run_records_is_kept(tmp_path, monkeypatch, capsys):
    """`run --overwrite --csv --export bvh`: the old run's session.csv and session.bvh, edited by
    the user while the new run recorded, were kept at its stop and then written over by its
    exports. They are kept, the run says so, and exits 1 (its recording is complete)."""
    import pose3d_nb.cli.run as run_command

    command = ["run", "--out", str(tmp_path), "--max-frames", "10", "--csv", "--export", "bvh"]
    assert main(command) == 0
    edited = {tmp_path / name: (tmp_path / name).read_text() + "my notes\n"
              for name in ("session.csv", "session.bvh")}
    written_session = run_command._written_session

    def edit_while_recording(out, recording_id):
        for path, text in edited.items():
            path.write_text(text)
        return written_session(out, recording_id)

    monkeypatch.setattr(run_command, "_written_session", edit_while_recording)
    capsys.readouterr()
    assert main([*command, "--overwrite"]) == 1
    err = capsys.readouterr().err
    for path, text in edited.items():
        assert path.read_text() == text
        assert f"{path} is not as pose3d wrote it" in err, err
    assert "the recording is complete in" in err and len(load_session(tmp_path)) == 10


def test_exported_again_after_the_folder_was_copied_or_with_the_format_in_capitals(session_file, tmp_path):
    """A recording folder copied without its files' times (`cp -r`, an unzip) had its unedited
    exports refused as edited; `export_session(..., "BVH")` noted the BVH but not the invalid-frame
    list beside it, so the next export refused that as edited."""
    import shutil

    from pose3d_nb.export import export_session

    export_session(session_file, "BVH")
    export_session(session_file, "bvh")  # both files noted: replaced, not refused
    export_session(session_file, "csv")
    copy = tmp_path / "copy"
    shutil.copytree(session_file.parent, copy, copy_function=shutil.copyfile)  # new times
    for fmt in ("bvh", "csv"):
        export_session(copy / "session.npz", fmt)
    (copy / "session.tidy.csv").write_text("edited")
    with pytest.raises(ValueError, match="not as pose3d wrote it"):
        export_session(copy / "session.npz", "csv")


def test_a_batch_output_is_exported_again_as_before(tmp_path):
    """In a `pose3d batch` output nothing is noted (its batch.json lists its files): exporting
    there twice was refused the second time, the batch's own files taken for edited ones."""
    from helpers.export_data import synthetic_session

    from pose3d_nb.export import export_session

    session = synthetic_session()
    fields = {name: getattr(session, name) for name in BufferSnapshot.__dataclass_fields__}
    write_session(tmp_path / "session.npz", BufferSnapshot(**fields), session.metadata)
    (tmp_path / "batch.json").write_text("{}")
    export_session(tmp_path / "session.npz", "bvh", record=False)  # as the batch writes it
    for _ in range(2):
        assert main(["export", str(tmp_path), "--format", "bvh", "--smooth", "6"]) == 0
        export_session(tmp_path / "session.npz", "trc")
    assert not (tmp_path / ".session.exports.json").exists()


def _placed_pose(joints, i):
    """A stand-in for a placed ``LiftedPose`` of frame ``i`` of ``joints`` (T, 17, 3)."""
    from types import SimpleNamespace

    from helpers.export_data import camera_joints

    detection = SimpleNamespace(keypoints=np.full((17, 2), 0.5, np.float32),
                                scores=np.ones(17, np.float32), timestamp=i / 30, extras={})
    return SimpleNamespace(joints=joints[i], joints_camera=camera_joints(joints[i]),
                           detection=detection, frame=None, frame_index=i, valid=True)


def _recording_engine(out, overwrite=False, capacity=100):
    """An engine's exports over a ``Recorder`` into ``out`` (the test drives the recorder)."""
    from pose3d_nb.buffer import RollingBuffer
    from pose3d_nb.engine.exports import EngineExports
    from pose3d_nb.recording import Recorder

    class Engine(EngineExports):
        def __init__(self):
            self._recorder = Recorder(RollingBuffer(capacity), out, self.metadata, overwrite=overwrite)
            self.out_dir = self._recorder.out_dir

        def metadata(self):
            return {"source": "synthetic"}

    return Engine()


def _recorded_engine(out, joints, rows, overwrite=False, capacity=100):
    """``_recording_engine`` that recorded ``rows`` frames of ``joints`` and stopped."""
    engine = _recording_engine(out, overwrite, capacity)
    engine._recorder.begin()
    engine._recorder.record([_placed_pose(joints, i) for i in range(rows)], 0)
    engine._recorder.finish()
    return engine


def test_an_engine_whose_recording_another_run_replaced_never_writes_the_folders_exports(tmp_path):
    # Engine A records 30 rows into OUT and stops; engine B (overwrite=True, as the demo notebook
    # passes it) records 60 and replaces A's session.npz. A.export_csv() and A.export("bvh") then
    # replaced B's session.csv and session.bvh with A's 30 rows, beside B's 60-row session.npz,
    # noted in .session.exports.json as the folder's exports (a later --overwrite deleted them as
    # such). An explicit path elsewhere still exports A's rows.
    import json

    from helpers.export_data import synthetic_joints

    from pose3d_nb.errors import Pose3DRuntimeError
    from pose3d_nb.export import ExportError

    joints = synthetic_joints(60)

    def recorded(out, rows, overwrite=False, capacity=100):
        return _recorded_engine(out, joints, rows, overwrite, capacity)

    out = tmp_path / "out"
    a = recorded(out, 30)
    b = recorded(out, 60, overwrite=True)
    assert len(load_session(out)) == 60
    assert b.export_csv() == out / "session.csv" and b.export("bvh") == out / "session.bvh"
    before = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    replaced = (r"this engine's recording is no longer the session of .*out: .*out now stands for "
                r"another recording's session\.npz .*session\.(csv|bvh|"
                r"tidy\.csv) there is that session's export name.*Its 30 rows are in this "
                r"engine's memory: export them to a path elsewhere, e\.g\. engine\.export_csv\(")
    for export in (a.export_csv, lambda: a.export("bvh"), lambda: a.export("csv"),
                   lambda: a.export_csv(out / "session.csv"), lambda: a.export("bvh", out / "session.bvh")):
        with pytest.raises(ExportError, match=replaced):
            export()
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == before
    assert set(json.loads((out / ".session.exports.json").read_text())["files"]) == {
        "session.csv", "session.bvh", "session.invalid_frames.json"}
    # Elsewhere, as asked: A's own 30 rows, from memory.
    written = a.export_csv(tmp_path / "take1.csv")
    assert len(written.read_text().splitlines()) == 1 + 30
    bvh = a.export("bvh", tmp_path / "take1.bvh").read_text()
    assert "Frames: 30\n" in bvh
    assert b.export_csv() == out / "session.csv"  # the folder's own session exports as before
    # Held only in part (capacity 20): the newest rows alone would pass for the whole run.
    partly = recorded(tmp_path / "second", 30, capacity=20)
    recorded(tmp_path / "second", 60, overwrite=True)
    partial = r"Only the newest 20 of its 30 rows are still held.*export_session\(engine\.buffer"
    with pytest.raises(ExportError, match=partial):
        partly.export_csv()
    gone = (r"30 rows were recorded but only the newest 20 are held \(capacity=20, and its recording "
            r"is no longer in .*second: another run replaced it, or it was moved\)")
    with pytest.raises(Pose3DRuntimeError, match=gone):
        partly.export_csv(tmp_path / "take2.csv")
    assert not (tmp_path / "take2.csv").exists()


def test_an_engine_is_refused_the_folders_exports_while_another_run_records_there_or_was_killed(tmp_path):
    # The check asked only whether A's own session.npz was gone: while B (overwrite) recorded
    # with rows saved, or after B was killed, A's session.npz was still there and A wrote its 30
    # rows as the folder's session.csv, beside B's recording (left behind when B completed).
    # The folder's lock tells a run recording now (the probe lets go in under a millisecond, and
    # a run starting at that instant waits for it: tests/test_recording.py).
    from helpers.export_data import synthetic_joints

    from pose3d_nb.export import ExportError
    from pose3d_nb.recording.folder import unlock_out_dir

    joints = synthetic_joints(40)
    out = tmp_path / "out"
    a = _recorded_engine(out, joints, 30)
    b = _recording_engine(out, overwrite=True)
    b._recorder.begin()  # B records now (nothing saved yet): at its stop its rows are the folder's
    recording = r"no longer the session of .*out: another run is recording into .*out now"
    with pytest.raises(ExportError, match=recording):
        a.export_csv()
    b._recorder.record([_placed_pose(joints, i) for i in range(12)], 0)
    b._recorder.flush()
    with pytest.raises(ExportError, match=recording):
        a.export_csv()
    unlock_out_dir(b._recorder._folder_lock)  # B killed: its lock ends with its process
    assert len(load_session(out)) == 12
    killed = (r"no longer the session of .*out: .*out now stands for an unfinished recording of "
              r"another run \(session\.journal, killed\)")
    with pytest.raises(ExportError, match=killed):
        a.export_csv()
    assert not (out / "session.csv").exists()
    assert len(a.export_csv(tmp_path / "take1.csv").read_text().splitlines()) == 1 + 30
