"""`pose3d run` as a user drives it: a finished file, Ctrl-C, and a kill in the middle of writes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pose3d_nb.recording import load_session


def _spawn(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pose3d_nb.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _wait_for_saved_rows(folder: Path, rows: int, timeout: float = 120) -> int:
    """Wait until the running recording's journal holds at least ``rows``; how many it holds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            saved = len(load_session(folder))
        except (ValueError, FileNotFoundError):  # no journal yet, or its first save is being written
            saved = 0
        if saved >= rows:
            return saved
        assert time.monotonic() < deadline, f"only {saved} rows saved in {folder} after {timeout} s"
        time.sleep(0.1)


def test_run_on_the_sample_records_every_frame(tmp_path):
    process = _spawn("run", "--out", str(tmp_path), "--csv")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "100 frames" in out
    assert "lifter: VideoPose3D (receptive field 27, pose3d_nb mocap lifter (shipped)" in out
    session = load_session(tmp_path / "session.npz")
    assert len(session) == 100 and session.valid.all()
    assert np.load(tmp_path / "joints.npy").shape == (1, 17, 3)
    assert len((tmp_path / "session.csv").read_text().splitlines()) == 101


def test_run_stops_after_max_frames(tmp_path):
    process = _spawn("run", "--out", str(tmp_path), "--loop", "--max-frames", "30")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    session = load_session(tmp_path / "session.npz")
    assert len(session) == 30, "--max-frames is exact"
    np.testing.assert_array_equal(session.frame_index, np.arange(30))
    assert session.metadata["complete"] is True


def _sigint_disposition(disposition):
    """A preexec_fn giving the child SIGINT with ``disposition`` whatever this process inherited
    (a non-interactive parent shell starts its jobs with SIGINT ignored)."""
    return lambda: signal.signal(signal.SIGINT, disposition)


@pytest.mark.parametrize(
    ("signum", "inherited", "status"),
    [
        (signal.SIGINT, signal.SIG_DFL, 130),  # Ctrl-C in a terminal
        (signal.SIGINT, signal.SIG_IGN, 130),  # started with SIGINT ignored: pose3d run still stops
        (signal.SIGTERM, signal.SIG_DFL, 143),  # kill, a service manager, a container stop
    ],
    ids=["sigint", "sigint-inherited-ignored", "sigterm"],
)
def test_ctrl_c_stops_cleanly_and_keeps_the_recording(tmp_path, signum, inherited, status):
    process = _spawn(
        "run", "--out", str(tmp_path), "--loop", "--pace", preexec_fn=_sigint_disposition(inherited)
    )
    saved = _wait_for_saved_rows(tmp_path, 10)  # however slow the machine, stop mid-recording
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    assert "interrupted" in out and "Traceback" not in err
    session = load_session(tmp_path / "session.npz")
    assert len(session) >= saved >= 10  # nothing saved before the signal is lost
    assert np.isfinite(session.joints_3d[session.valid]).all()
    assert session.metadata["source"] == "sample"


def test_bad_source_is_one_clear_line(tmp_path):
    process = _spawn("run", "--source", str(tmp_path / "missing.mp4"), "--out", str(tmp_path))
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert "missing.mp4" in err and "Traceback" not in err


def test_a_source_that_names_nothing_is_refused_before_any_work(tmp_path, capsys):
    from pose3d_nb.cli import main

    # The lifter was loaded ("lifter: ..." printed) and --out made before the source was opened.
    # Exit status 2, a refusal of the command line, as `pose3d lift` refuses a missing keypoints
    # file (it was 1, the status of work that failed).
    out = tmp_path / "out"
    assert main(["run", "--source", str(tmp_path / "missing.mp4"), "--out", str(out)]) == 2
    printed = capsys.readouterr()
    assert printed.err.startswith("pose3d run: error: no such file or folder")
    assert "missing.mp4" in printed.err
    assert "lifter:" not in printed.out and not out.exists()


@pytest.mark.parametrize("source", ["browser camera", "Browser"])
def test_the_browser_camera_is_refused_before_any_work(tmp_path, capsys, source):
    from pose3d_nb.cli import main

    # It started, failed with "not a Jupyter kernel" (exit 1) and left an empty --out behind.
    out = tmp_path / "out"
    assert main(["run", "--source", source, "--out", str(out)]) == 2
    printed = capsys.readouterr()
    assert printed.err.startswith(f"pose3d run: error: --source {source}: the browser's camera sends "
                                  "frames only to a notebook")
    assert "--source camera" in printed.err and len(printed.err.splitlines()) == 1
    assert "lifter:" not in printed.out and not out.exists()


def test_run_fps_stamps_a_folder_of_images_and_is_refused_where_it_means_nothing(tmp_path, capsys):
    import cv2

    from pose3d_nb.cli import main
    from pose3d_nb.sources import open_source

    folder = tmp_path / "frames"
    folder.mkdir()
    with open_source("sample") as source:
        for index, frame in zip(range(4), source, strict=False):
            cv2.imwrite(str(folder / f"{index:03d}.png"), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    code = main(["run", "--source", str(folder), "--fps", "25", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    np.testing.assert_allclose(load_session(out).timestamps, np.arange(4) / 25)
    refused = (("sample", ["--fps", "25"], "--fps: for a folder of images or a video file"),
               (str(folder), ["--fps", "0"], "fps must be a positive frame rate"),
               # taken and ignored by a folder (or a camera) until 2026-12-07
               (str(folder), ["--loop"], "--loop: for a video file or the sample"),
               (str(folder), ["--pace"], "--pace: for a video file or the sample"))
    for source, options, says in refused:
        assert main(["run", "--source", source, *options, "--out", str(tmp_path / "no")]) == 2
        assert says in capsys.readouterr().err
        assert not (tmp_path / "no").exists()


def test_an_out_folder_whose_session_has_single_value_timestamps_is_refused_in_one_line(tmp_path, capsys):
    """Describing the folder took len() of the 0-d timestamps: a TypeError traceback."""
    import json

    from pose3d_nb.cli import main

    out = tmp_path / "out"
    out.mkdir()
    rows = 5
    np.savez(out / "session.npz", joints_3d=np.zeros((rows, 17, 3), np.float32),
             keypoints_2d=np.zeros((rows, 17, 2), np.float32), scores_2d=np.zeros((rows, 17), np.float32),
             timestamps=np.array(1.0), frame_index=np.arange(rows), valid=np.ones(rows, bool),
             metadata=np.array(json.dumps({"complete": True})))
    before = (out / "session.npz").read_bytes()
    assert main(["run", "--out", str(out), "--max-frames", "5"]) == 2
    err = capsys.readouterr().err
    assert "a session.npz that cannot be read; pass --overwrite" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert (out / "session.npz").read_bytes() == before


def test_an_out_folder_whose_session_a_newer_pose3d_nb_wrote_says_to_upgrade(tmp_path, capsys):
    """It said the session "cannot be read; pass --overwrite to replace it": the way to destroy
    a valid recording this version cannot read."""
    import json

    from pose3d_nb.cli import main
    from pose3d_nb.recording import FORMAT_VERSION

    out = tmp_path / "out"
    out.mkdir()
    rows = 5
    np.savez(out / "session.npz", joints_3d=np.zeros((rows, 17, 3), np.float32),
             keypoints_2d=np.zeros((rows, 17, 2), np.float32), scores_2d=np.zeros((rows, 17), np.float32),
             timestamps=np.arange(rows) / 30, frame_index=np.arange(rows), valid=np.ones(rows, bool),
             metadata=np.array(json.dumps({"complete": True, "format_version": FORMAT_VERSION + 1})))
    before = (out / "session.npz").read_bytes()
    assert main(["run", "--out", str(out), "--max-frames", "5"]) == 2
    err = capsys.readouterr().err
    assert (f"a session.npz written by a newer pose3d_nb (format {FORMAT_VERSION + 1} > {FORMAT_VERSION}): "
            "upgrade pose3d_nb to read it; pass --overwrite only if you mean to replace it") in err
    assert "cannot be read" not in err and len(err.strip().splitlines()) == 1
    assert (out / "session.npz").read_bytes() == before


_WRITER = """
import sys, time
from pose3d_nb.engine import PoseEngine
from pose3d_nb.recording import journal

real_append, saved = journal.JournalWriter.append, []

def append_then_tear(self, columns):
    # Four whole saves, then half of the fifth reaches the file and the process stalls: the
    # parent kills it right here, in the middle of a write.
    if len(saved) < 4:
        real_append(self, columns)
        saved.append(len(columns["timestamps"]))
        return
    data = journal._batch(columns, self._schema).serialize().to_pybytes()
    self._handle.write(data[: len(data) // 2])
    self._handle.flush()
    print("mid-write", sum(saved), flush=True)
    time.sleep(600)

journal.JournalWriter.append = append_then_tear
engine = PoseEngine(source="sample", out_dir=sys.argv[1], loop=True, session_interval=0.0)
engine.start()
time.sleep(600)
"""


def test_a_kill_in_the_middle_of_a_write_keeps_every_row_saved_before_it(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        word, saved = process.stdout.readline().split()
        assert word == "mid-write"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    session = load_session(tmp_path)  # the four whole saves; the torn fifth is dropped
    assert len(session) == int(saved) >= 4 and session.joints_3d.shape == (len(session), 17, 3)
    assert session.metadata["complete"] is False
    np.testing.assert_array_equal(np.diff(session.frame_index) % 100, 1)  # no row lost between saves
    assert not (tmp_path / "session.npz").exists()
    assert np.load(tmp_path / "joints.npy").shape == (1, 17, 3)


def _close_stderr():
    os.close(2)


def test_run_with_stderr_closed_records_every_frame(tmp_path):
    # `pose3d run 2>&-`: Python has no sys.stderr for the progress bar, and the next file
    # opened would get descriptor 2 and the native libraries' log lines. It aborted at exit
    # with the engine still running and nothing recorded.
    process = subprocess.Popen(
        [sys.executable, "-m", "pose3d_nb.cli", "run", "--out", str(tmp_path), "--max-frames", "20"],
        stdout=subprocess.PIPE, text=True, preexec_fn=_close_stderr,
    )
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    assert "20 frames" in out
    session = load_session(tmp_path / "session.npz")
    assert len(session) == 20 and session.metadata["complete"] is True


def test_a_failure_after_the_engine_started_still_stops_it(tmp_path, monkeypatch):
    # The progress bar is made after engine.start(): when it cannot be made (no terminal to
    # write to), the engine must still be stopped (its rows saved, the folder's lock released),
    # not left recording in the background until the process dies.
    import threading

    import tqdm

    from pose3d_nb.cli import main
    from pose3d_nb.recording.folder import lock_out_dir, unlock_out_dir

    class BrokenBar:
        def __init__(self, *args, **kwargs):
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(tqdm, "tqdm", BrokenBar)
    before = set(threading.enumerate())  # other tests' recorders may linger: only this run's count
    status = main(["run", "--out", str(tmp_path), "--loop", "--max-frames", "100000"])
    assert status == 1
    left = set(threading.enumerate()) - before
    assert not [thread.name for thread in left if thread.name.startswith("pose3d-")]
    unlock_out_dir(lock_out_dir(tmp_path))  # OutputError if the run still held the folder


def test_a_closed_terminal_stops_cleanly_and_keeps_the_recording(tmp_path):
    # The terminal goes away (a closed window, an ssh session that dropped): the kernel sends
    # SIGHUP, which killed the run with its last rows unsaved and no session.npz written.
    import fcntl
    import pty
    import termios

    master, terminal = pty.openpty()
    os.set_blocking(master, False)

    def on_the_terminal():
        os.setsid()
        fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        [sys.executable, "-m", "pose3d_nb.cli", "run", "--out", str(tmp_path), "--loop", "--pace"],
        stdin=terminal, stdout=terminal, stderr=terminal, preexec_fn=on_the_terminal,
    )
    os.close(terminal)
    try:
        deadline = time.monotonic() + 120
        saved = 0
        while saved < 10:
            assert time.monotonic() < deadline and process.poll() is None, f"only {saved} rows saved"
            with contextlib.suppress(OSError):
                os.read(master, 1 << 16)  # what the run prints, read as a terminal would
            with contextlib.suppress(ValueError, FileNotFoundError):
                saved = len(load_session(tmp_path))
            time.sleep(0.1)
    finally:
        os.close(master)  # the hangup
    process.wait(timeout=60)
    assert (tmp_path / "session.npz").is_file() and not (tmp_path / "session.journal").exists()
    session = load_session(tmp_path)
    assert session.metadata["complete"] is True and len(session) >= saved


def test_under_nohup_a_hangup_does_not_stop_the_run(tmp_path):
    process = _spawn("run", "--out", str(tmp_path), "--loop", "--pace",
                     preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    _wait_for_saved_rows(tmp_path, 5)
    process.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    assert process.poll() is None, "nohup asked the run to go on after a hangup"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert load_session(tmp_path).metadata["complete"] is True


def test_run_out_with_a_tilde_records_in_the_home_folder(tmp_path, monkeypatch, capsys):
    from pose3d_nb.cli import main

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--out", "~/rec", "--max-frames", "5"]) == 0
    written = tmp_path / "home" / "rec" / "session.npz"
    assert f"recorded to {written}" in capsys.readouterr().out
    assert len(load_session(written)) == 5 and not (tmp_path / "~").exists()


@pytest.mark.parametrize("place", ["temporary folder", "home folder", "neither"])
def test_a_full_disk_keeps_the_rows_only_in_memory_in_a_rescue_file_elsewhere(tmp_path, monkeypatch,
                                                                               capsys, place):
    # The disk of --out fills after the first save: the run exited 1 saying "the N rows since the
    # last save are only in memory: write_session(..., engine.buffer.snapshot(), ...) keeps them",
    # Python nobody at a command line can run, and the process ended with them.
    import errno
    import re
    import tempfile

    from pose3d_nb import recording
    from pose3d_nb.cli import main
    from pose3d_nb.recording import journal

    real_append, saves = journal.JournalWriter.append, []

    def disk_full_after_one_save(self, columns):
        saves.append(len(columns["timestamps"]))
        if len(saves) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_append(self, columns)

    monkeypatch.setattr(journal.JournalWriter, "append", disk_full_after_one_save)
    temporary, home, out = tmp_path / "tmp", tmp_path / "home", tmp_path / "out"
    temporary.mkdir()
    home.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    monkeypatch.setenv("HOME", str(home))
    full = {"temporary folder": (), "home folder": (temporary,), "neither": (temporary, home)}[place]
    real_write_session = recording.write_session

    def full_there(path, *args, **kwargs):  # the disks of these folders are full too
        if any(Path(path).is_relative_to(folder) for folder in full):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_session(path, *args, **kwargs)

    monkeypatch.setattr(recording, "write_session", full_there)
    assert main(["run", "--out", str(out), "--loop", "--max-frames", "100000"]) == 1
    err = capsys.readouterr().err
    assert "write_session(" not in err
    said = re.search(r"error: cannot save the recording in .*out: \[Errno 28\] No space left on device; "
                     r"the (\d+) rows saved before stay in .*out \(load_session reads them\); the (\d+) rows "
                     r"since the last save are only in memory \(the rolling buffer holds them\); the (\d+) "
                     r"rows held in memory \(the last \2 of them saved nowhere else\) ", err)
    assert said, err
    saved, unsaved, held = (int(said.group(n)) for n in (1, 2, 3))
    kept = load_session(out)
    assert len(kept) == saved == saves[0] and held == saved + unsaved
    if place == "neither":
        no_space = "[Errno 28] No space left on device"
        assert (f"could not be written elsewhere either ({temporary}: {no_space}; {home}: {no_space}): "
                "they are lost as this command ends") in err, err
        assert not list(temporary.glob("pose3d-rescued-*")) and not list(home.glob("pose3d-rescued-*"))
        return
    where = temporary if place == "temporary folder" else home
    (rescue_folder,) = where.glob("pose3d-rescued-*")
    rescued_path = rescue_folder / "session.npz"
    assert f"are written to {rescued_path}, marked unfinished: load_session or `pose3d export " \
           f"{rescued_path}` reads them" in err
    rescued = load_session(rescued_path)
    assert len(rescued) == held and rescued.metadata["complete"] is False
    assert rescued.metadata["rescued_from"] == str(out)
    assert rescued.metadata["recording_id"] == kept.metadata["recording_id"]
    np.testing.assert_array_equal(rescued.timestamps[:saved], kept.timestamps)  # then the unsaved ones
    assert (np.diff(rescued.timestamps) > 0).all()
