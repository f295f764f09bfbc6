"""Faults a careless or unlucky user meets with `pose3d run` / `export` / `lift`: real processes,
real signals, real files. Nothing recorded is lost, a complete session is never replaced by a
failed, killed or repeated run, and every bad input is one line on stderr with no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pose3d_nb.buffer import RollingBuffer
from pose3d_nb.recording import JOURNAL_DIR, Recorder, load_session


def _pose3d(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pose3d_nb.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pose3d_nb.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _one_line_error(result: subprocess.CompletedProcess, status: int, *words: str) -> str:
    """The single error line of a failed command (other lines may be library log noise):
    ``error: ...`` when the work failed (1), ``pose3d CMD: error: ...`` when the command line
    was refused (2)."""
    assert result.returncode == status, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    start = f"pose3d {result.args[3]}: error:" if status == 2 else "error:"
    errors = [line for line in result.stderr.splitlines() if line.startswith(start)]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def _complete_session(folder: Path, frames: int = 20) -> bytes:
    """A finished recording of ``frames`` synthetic rows in ``folder``; its session.npz bytes."""
    recorder = Recorder(RollingBuffer(100), folder, lambda: {"source": "earlier run"})
    recorder.begin()
    for i in range(frames):
        detection = SimpleNamespace(keypoints=np.zeros((17, 2)), scores=np.ones(17), timestamp=i / 30,
                                    extras={})
        recorder.record([SimpleNamespace(joints=np.zeros((17, 3)), detection=detection, frame=None,
                                         frame_index=i, valid=True)], 0)
    recorder.finish()
    return (folder / "session.npz").read_bytes()


def _wait_for_saved_rows(folder: Path, rows: int, process: subprocess.Popen, timeout: float = 120):
    """The frame indices saved in ``folder``'s journal, once it holds at least ``rows``."""
    journal = folder / JOURNAL_DIR
    deadline = time.monotonic() + timeout
    while True:
        if (journal / "meta.json").is_file():
            saved = load_session(journal)
            if len(saved) >= rows:
                return saved.frame_index
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{journal} never held {rows} rows"
        time.sleep(0.2)


def _kill_9(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL


# --------------------------------------------------------------------------- crashes
def test_kill_9_mid_run_keeps_every_row_saved_and_says_incomplete(tmp_path):
    out = tmp_path / "out"
    process = _spawn("run", "--out", str(out), "--loop", "--pace")
    try:
        written = _wait_for_saved_rows(out, 10, process)
    finally:
        _kill_9(process)
    session = load_session(out)
    assert session.metadata["complete"] is False and session.metadata["source"] == "sample"
    assert len(session) >= len(written) > 0
    np.testing.assert_array_equal(session.frame_index[: len(written)], written)  # nothing lost
    assert np.isfinite(session.joints_3d[session.valid]).all()
    assert not (out / "session.npz").exists()
    # What the user does next: export what was kept.
    result = _pose3d("export", str(out), "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert (out / "session.tidy.csv").is_file()


def test_a_killed_overwrite_keeps_the_previous_complete_session(tmp_path):
    before = _complete_session(tmp_path)
    process = _spawn("run", "--out", str(tmp_path), "--overwrite", "--loop", "--pace")
    try:
        _wait_for_saved_rows(tmp_path, 1, process)
    finally:
        _kill_9(process)
    assert (tmp_path / "session.npz").read_bytes() == before
    assert load_session(tmp_path / "session.npz").metadata["complete"] is True
    with pytest.warns(UserWarning, match="also holds a complete session.npz"):
        assert load_session(tmp_path).metadata["complete"] is False, "the folder loads the killed run's rows"


# --------------------------------------------------------------------------- never clobber
def test_a_repeated_run_is_refused_before_anything_runs(tmp_path):
    before = _complete_session(tmp_path)
    result = _pose3d("run", "--out", str(tmp_path), "--max-frames", "5")
    # A refusal of the command line's --out, naming the fix: exit 2, as the other refusals (it was 1).
    _one_line_error(result, 2, str(tmp_path), "complete session (20 frames", "pass --overwrite")
    assert "lifter:" not in result.stdout, "refused before the models load"
    assert (tmp_path / "session.npz").read_bytes() == before


def test_a_failed_run_with_overwrite_keeps_the_complete_session(tmp_path):
    before = _complete_session(tmp_path)
    corrupt = tmp_path.parent / f"{tmp_path.name}-corrupt.mp4"  # fails once the run opens it
    corrupt.write_bytes(b"not a video" * 100)
    result = _pose3d("run", "--out", str(tmp_path), "--overwrite", "--source", str(corrupt))
    _one_line_error(result, 1, corrupt.name)
    assert (tmp_path / "session.npz").read_bytes() == before
    assert not (tmp_path / JOURNAL_DIR).exists()


def test_overwrite_replaces_the_session_and_its_old_exports_once_complete(tmp_path):
    from pose3d_nb.export import export_session

    _complete_session(tmp_path)
    export_session(tmp_path, "trc")  # the earlier run's `pose3d export --format trc`
    export_session(tmp_path, "csv")  # and `--format csv`
    (tmp_path / "notes.txt").write_text("the user's own file")
    result = _pose3d("run", "--out", str(tmp_path), "--overwrite", "--max-frames", "5", "--export", "trc")
    assert result.returncode == 0, result.stderr
    session = load_session(tmp_path)
    assert len(session) == 5 and session.metadata["source"] == "sample"
    assert not (tmp_path / "session.tidy.csv").exists(), "no export of an older run beside the new session"
    assert (tmp_path / "session.trc").stat().st_mtime_ns >= (tmp_path / "session.npz").stat().st_mtime_ns, \
        "the new run's own export"
    assert (tmp_path / "notes.txt").read_text() == "the user's own file"


def test_overwrite_is_refused_before_anything_runs_when_an_export_was_edited(tmp_path):
    """`run --overwrite` deleted the old session's exports when it completed, a BVH cleaned up
    by hand or a CSV of the user's own among them: refused now (exit 2, nothing touched), naming
    them and what to do, as `pose3d batch` refuses to replace an edited output."""
    from pose3d_nb.export import export_session

    before = _complete_session(tmp_path)
    export_session(tmp_path, "trc")
    with (tmp_path / "session.trc").open("a") as trc:
        trc.write("# cleaned up by hand\n")
    edited = (tmp_path / "session.trc").read_bytes()
    (tmp_path / "session.csv").write_text("frame,notes\n0,mine\n")  # no pose3d export wrote this
    result = _pose3d("run", "--out", str(tmp_path), "--overwrite", "--max-frames", "5")
    _one_line_error(result, 2, str(tmp_path), "session.trc, session.csv", "edited since", "move them out of",
                    "choose another folder")
    assert "lifter:" not in result.stdout, "refused before the models load"
    assert (tmp_path / "session.npz").read_bytes() == before
    assert (tmp_path / "session.trc").read_bytes() == edited
    assert (tmp_path / "session.csv").read_text() == "frame,notes\n0,mine\n"
    assert not (tmp_path / JOURNAL_DIR).exists()


# --------------------------------------------------------------------------- one-line errors
def test_out_naming_a_file_is_one_line(tmp_path):
    # A refusal of the command line's own value, as `lift --out` on a folder: exit 2 (it was 1;
    # `pose3d batch` said only "File exists").
    (tmp_path / "taken").write_text("x")
    _one_line_error(_pose3d("run", "--out", str(tmp_path / "taken")), 2, "taken is a file, not a folder")
    data = Path(__file__).resolve().parents[1] / "pose3d_nb" / "data"
    video = str(data / "single_person_balance_540x960.mp4")
    _one_line_error(_pose3d("batch", video, "--out", str(tmp_path / "taken")), 2,
                    "taken is a file, not a folder: give a folder for the results")


@pytest.fixture
def read_only_dir(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_out_on_a_read_only_file_system_fails_before_processing(read_only_dir):
    result = _pose3d("run", "--out", str(read_only_dir / "session"))
    _one_line_error(result, 1, str(read_only_dir), "Read-only file system")
    assert "lifter:" not in result.stdout, "refused before the models load and frames flow"


def test_an_empty_checkpoint_is_one_line(tmp_path):
    (tmp_path / "empty.bin").write_bytes(b"")
    _one_line_error(_pose3d("run", "--lifter", str(tmp_path / "empty.bin"), "--out", str(tmp_path / "o")), 1,
                    "empty.bin", "the file is empty")
    np.save(tmp_path / "kp.npy", np.zeros((5, 17, 2), np.float32))
    result = _pose3d("lift", str(tmp_path / "kp.npy"), "--size", "640", "480", "--checkpoint",
                     str(tmp_path / "empty.bin"), "--out", str(tmp_path / "3d.npy"))
    _one_line_error(result, 1, "the file is empty")


def test_export_of_a_truncated_session_is_one_line(tmp_path):
    _complete_session(tmp_path)
    data = (tmp_path / "session.npz").read_bytes()
    (tmp_path / "session.npz").write_bytes(data[: len(data) // 3])
    _one_line_error(_pose3d("export", str(tmp_path / "session.npz"), "--format", "bvh"), 1,
                    "session.npz is not a readable session file")


def test_export_of_joints_npy_is_one_line(tmp_path):
    np.save(tmp_path / "joints.npy", np.zeros((1, 17, 3), np.float32))
    _one_line_error(_pose3d("export", str(tmp_path / "joints.npy"), "--format", "csv"), 1,
                    "joints.npy is a single array, not a session")


def test_export_of_mismatched_lengths_is_one_line(tmp_path):
    _complete_session(tmp_path)
    with np.load(tmp_path / "session.npz") as data:
        arrays = {name: data[name] for name in data.files}
    arrays["valid"] = arrays["valid"][:-3]
    np.savez(tmp_path / "session.npz", **arrays)
    _one_line_error(_pose3d("export", str(tmp_path), "--format", "trc"), 1, "different lengths", "valid 17")


def test_export_fps_zero_is_worded_for_the_command_line(tmp_path):
    _complete_session(tmp_path)
    _one_line_error(_pose3d("export", str(tmp_path), "--format", "bvh", "--fps", "0"), 2,
                    "--fps must be a positive frame rate")


def test_negative_max_frames_and_a_huge_window_are_refused(tmp_path):
    _one_line_error(_pose3d("run", "--out", str(tmp_path / "a"), "--max-frames", "-5"), 2,
                    "--max-frames", "-5")
    # Beyond the lifter's receptive field: refused as a value too (it was exit 1, after --out was made).
    _one_line_error(_pose3d("run", "--out", str(tmp_path / "b"), "--window", "100000"), 2,
                    "window must be between 0 and", "100000")
    assert not (tmp_path / "b").exists()


# --------------------------------------------------------------------------- smaller ones
def test_a_bad_image_in_a_folder_is_an_invalid_frame_and_the_run_goes_on(tmp_path):
    import cv2

    from pose3d_nb.sources import open_source

    folder = tmp_path / "images"
    folder.mkdir()
    with open_source("sample") as source:
        for position, frame in zip(range(21), source, strict=False):
            path = folder / f"{position:03d}.png"
            if position == 10:
                path.write_bytes(b"not an image")
            else:
                cv2.imwrite(str(path), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
    result = _pose3d("run", "--source", str(folder), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "010.png" in result.stderr and "Traceback" not in result.stderr
    session = load_session(tmp_path / "out")
    assert len(session) == 21, "20 good images and 1 bad one: 21 frames"
    np.testing.assert_array_equal(session.frame_index, np.arange(21))
    assert not session.valid[10] and session.valid[np.arange(21) != 10].mean() > 0.9


def test_lift_takes_the_shipped_checkpoint_by_name(tmp_path):
    keypoints = np.random.default_rng(0).uniform(100, 400, (30, 17, 2)).astype(np.float32)
    np.save(tmp_path / "kp.npy", keypoints)
    result = _pose3d("lift", str(tmp_path / "kp.npy"), "--size", "640", "480", "--checkpoint", "shipped",
                     "--out", str(tmp_path / "3d.npy"))
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "3d.npy").shape == (30, 17, 3)


def test_the_shipped_cli_leaves_no_temporary_files(tmp_path):
    """After a clean run only the session, the newest pose, the exports asked for and the record
    of those exports (what lets a later --overwrite delete them while unedited) and its lock
    remain."""
    from pose3d_nb.recording.folder import EXPORT_RECORD, EXPORT_RECORD_LOCK, unchanged_exports

    result = _pose3d("run", "--out", str(tmp_path), "--max-frames", "8", "--csv")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [EXPORT_RECORD, EXPORT_RECORD_LOCK, "joints.npy", "session.csv", "session.npz"])
    assert list(unchanged_exports(tmp_path)) == [tmp_path / "session.csv"]
    assert len(load_session(tmp_path)) == 8
