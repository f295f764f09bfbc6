"""`pose3d batch` under faults: nothing of the user's is lost or replaced, and no wait is unbounded.

Real processes and real signals: each batch is `python -m pose3d_nb.cli batch ...` in a process
of its own; a silent scheduler is a TCP peer started here that accepts connections and never
answers; a Dask scheduler and worker are started as programs and the worker is killed. Clips are
10 frames cut from the bundled sample, so the batches that do process run in seconds (plus the
worker start-up).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pose3d_nb.batch import write_clip
from pose3d_nb.batch.lock import LOCK
from pose3d_nb.batch.manifest import MANIFEST
from pose3d_nb.batch.staging import STAGING, staging_key

BIN = Path(sys.executable).parent
FRAMES = 10


# ---------------------------------------------------------------------------- helpers
class SilentPeer:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.accepted.append(self.server.accept()[0])

    def close(self) -> None:
        self.server.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def silent_peer() -> Iterator[SilentPeer]:
    peer = SilentPeer()
    yield peer
    peer.close()


def _start_batch(*args: object, new_session: bool = False) -> subprocess.Popen:
    command = [sys.executable, "-m", "pose3d_nb.cli", "batch", *map(str, args), "--no-progress"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=new_session)


def _finish(process: subprocess.Popen, timeout: float) -> tuple[int, str, str]:
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"the batch did not end within {timeout} s:\n{stdout}\n{stderr}")
    return process.returncode, stdout, stderr


def _wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the batch ended early: {process.communicate()}")
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def _errors(stderr: str) -> list[str]:
    """stderr without the native libraries' log lines (MediaPipe, TensorFlow Lite)."""
    noise = ("W0000", "I0000", "INFO:", "WARNING: All log messages")
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(noise)]


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Two different 10-frame clips with the same file name, in two folders."""
    root = tmp_path_factory.mktemp("clips")
    return {"first": write_clip(root / "first" / "clip.mp4", FRAMES),
            "second": write_clip(root / "second" / "clip.mp4", FRAMES, start=40)}


@pytest.fixture(scope="module")
def first_batch(clips, tmp_path_factory) -> dict:
    """One real batch of first/clip.mp4 and a missing file, with port 8787 taken meanwhile."""
    out = tmp_path_factory.mktemp("out")
    holder = socket.socket()
    with contextlib.suppress(OSError):  # taken already by someone else: in use all the same
        holder.bind(("0.0.0.0", 8787))
        holder.listen(1)
    try:
        started = time.monotonic()
        process = _start_batch(clips["first"], clips["first"].parent / "missing.mp4", "--out", out,
                               "--workers", "1")
        status, stdout, stderr = _finish(process, 300)
    finally:
        holder.close()
    return {"out": out, "status": status, "stdout": stdout, "stderr": stderr,
            "seconds": time.monotonic() - started}


# ---------------------------------------------------------------------------- no unbounded wait
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_one_signal_stops_a_batch_connecting_to_a_silent_scheduler(signum, clips, silent_peer, tmp_path):
    out = tmp_path / "out"
    process = _start_batch(clips["first"], "--out", out, "--scheduler", silent_peer.address,
                           "--connect-timeout", 600)  # only the signal can end it
    _wait_for(lambda: silent_peer.accepted and (out / LOCK).exists(), process)
    time.sleep(0.5)  # well inside the wait for the handshake
    sent = time.monotonic()
    process.send_signal(signum)
    status, stdout, stderr = _finish(process, 60)
    assert time.monotonic() - sent < 20, "the batch did not stop promptly"
    assert status == 128 + signum, stdout + stderr
    assert "Traceback" not in stderr and not _errors(stderr), stderr
    assert "interrupted: 1 videos: 0 ok, 0 skipped, 0 failed, 1 cancelled" in stdout, stdout
    assert not (out / LOCK).exists()  # released on the way out


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_sigterm_while_the_local_pool_starts_stops_the_batch_and_its_workers(clips, tmp_path):
    out = tmp_path / "out"
    process = _start_batch(clips["first"], "--out", out, "--workers", "2")
    _wait_for(lambda: (out / LOCK).exists(), process)  # the pool starts right after the lock
    _wait_for(lambda: len(_children(process.pid)) >= 2, process, timeout=60)  # worker processes spawning
    children = _children(process.pid)
    sent = time.monotonic()
    process.terminate()
    status, stdout, stderr = _finish(process, 90)
    assert time.monotonic() - sent < 45, "the batch did not stop promptly"
    assert status == 143, stdout + stderr
    assert "Traceback" not in stderr and not _errors(stderr), stderr
    assert "interrupted: 1 videos: 0 ok, 0 skipped, 0 failed, 1 cancelled" in stdout, stdout
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in children if _alive(pid)], "worker processes outlived the batch"
    assert not (out / LOCK).exists() and not (out / STAGING).exists()


@pytest.mark.slow
def test_a_silent_scheduler_ends_the_batch_within_60_s_with_one_line(clips, silent_peer, tmp_path):
    started = time.monotonic()
    process = _start_batch(clips["first"], "--out", tmp_path / "out", "--scheduler", silent_peer.address)
    status, stdout, stderr = _finish(process, 90)
    assert time.monotonic() - started < 60
    assert silent_peer.accepted, "the batch never connected to the peer"
    assert status == 1
    assert _errors(stderr) == [
        f"error: the Dask scheduler at {silent_peer.address} did not answer within 30 s "
        "(is it a Dask scheduler, and is it running?)"
    ], stderr


# ---------------------------------------------------------------------------- one batch per --out
@pytest.mark.slow
def test_a_second_batch_on_the_same_out_refuses_and_names_the_first(clips, silent_peer, tmp_path):
    out = tmp_path / "out"
    first = _start_batch(clips["first"], "--out", out, "--scheduler", silent_peer.address,
                         "--connect-timeout", 600)
    try:
        _wait_for(lambda: (out / LOCK).exists(), first)
        second = _start_batch(clips["second"], "--out", out, "--workers", "1")
        status, stdout, stderr = _finish(second, 120)
        assert status == 1 and stdout == ""
        lines = _errors(stderr)
        assert len(lines) == 1, stderr
        holder = f"(host {socket.gethostname()}, pid {first.pid}, started "
        assert lines[0].startswith(f"error: {out} is in use by another pose3d batch {holder}"), lines
        assert f"remove {out / LOCK}" in lines[0]
        assert first.poll() is None  # the first one is left alone
        holder = json.loads((out / LOCK).read_text())
        assert holder["pid"] == first.pid
    finally:
        first.terminate()
        _finish(first, 60)


@pytest.mark.slow
def test_the_lock_of_a_killed_batch_is_taken_over(clips, silent_peer, tmp_path):
    out = tmp_path / "out"
    killed = _start_batch(clips["first"], "--out", out, "--scheduler", silent_peer.address,
                          "--connect-timeout", 600)
    _wait_for(lambda: (out / LOCK).exists(), killed)
    killed.kill()
    killed.communicate()
    assert json.loads((out / LOCK).read_text())["pid"] == killed.pid  # left behind by kill -9
    after = _start_batch(clips["first"], "--out", out, "--scheduler", silent_peer.address,
                         "--connect-timeout", 1)
    status, _, stderr = _finish(after, 120)
    assert status == 1 and "did not answer within 1 s" in stderr, stderr  # got past the lock
    assert not (out / LOCK).exists()


# ---------------------------------------------------------------------------- nothing is replaced
def test_a_folder_the_batch_did_not_make_is_kept_and_its_video_fails(clips, tmp_path):
    out = tmp_path / "out"
    (out / "clip").mkdir(parents=True)
    (out / "clip" / "notes.txt").write_text("notes\n")
    status, stdout, stderr = _finish(_start_batch(clips["first"].parent, "--out", out), 120)
    assert status == 1, stdout + stderr
    assert (out / "clip" / "notes.txt").read_text() == "notes\n"
    assert sorted(p.name for p in out.iterdir()) == ["clip"]  # nothing written elsewhere either
    assert "1 videos: 0 ok, 0 skipped, 1 failed, 0 cancelled" in stdout
    reason = f"{out / 'clip'} exists and was not made by pose3d batch (no batch.json)"
    assert f"failed: {clips['first']}: {reason}" in stdout, stdout
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_a_missing_input_fails_alone_and_no_dashboard_port_is_taken(first_batch, clips):
    assert first_batch["status"] == 1, first_batch["stdout"] + first_batch["stderr"]
    stdout = first_batch["stdout"]
    assert "2 videos: 1 ok, 0 skipped, 1 failed, 0 cancelled" in stdout, stdout
    missing = clips["first"].parent / "missing.mp4"
    assert f"failed: {missing}: no such file or folder: {missing}" in stdout
    assert (first_batch["out"] / "clip" / "session.npz").is_file()
    assert "8787" not in first_batch["stderr"] and "already in use" not in first_batch["stderr"]
    assert "Traceback" not in first_batch["stderr"]


@pytest.mark.slow
def test_a_same_named_video_from_another_folder_gets_its_own_output(first_batch, clips, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(first_batch["out"], out)
    before = _snapshot(out)
    status, stdout, stderr = _finish(_start_batch(clips["second"], "--out", out, "--workers", "1"), 300)
    assert status == 0, stdout + stderr
    assert {k: v for k, v in _snapshot(out).items() if k.startswith("clip/")} == before  # untouched
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert [p.name for p in folders][0] == "clip" and len(folders) == 2
    inputs = {json.loads((p / MANIFEST).read_text())["input"]: p.name for p in folders}
    assert inputs[str(clips["first"])] == "clip"
    assert inputs[str(clips["second"])].startswith("clip-")  # the name stays free of the first's
    assert not (out / STAGING).exists() and not (out / LOCK).exists()


@pytest.mark.slow
def test_an_output_with_the_users_files_added_is_reused_but_never_replaced(first_batch, clips, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(first_batch["out"], out)
    (out / "clip" / "my_plot.png").write_bytes(b"mine")
    before = _snapshot(out)
    status, stdout, stderr = _finish(_start_batch(clips["first"], "--out", out), 120)
    assert status == 0 and "1 videos: 0 ok, 1 skipped" in stdout, stdout + stderr  # up to date: kept
    stamp = clips["first"].stat()
    os.utime(clips["first"], ns=(time.time_ns(), time.time_ns()))  # changed: it would be redone ...
    try:
        status, stdout, stderr = _finish(_start_batch(clips["first"], "--out", out), 120)
    finally:
        os.utime(clips["first"], ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert status == 1, stdout + stderr
    assert f"{out / 'clip'} holds files pose3d batch did not write (my_plot.png)" in stdout, stdout
    assert _snapshot(out) == before  # ... but nothing was replaced, nor written elsewhere


@pytest.mark.slow
def test_an_input_changed_while_it_is_processed_fails_and_publishes_nothing(tmp_path):
    video = write_clip(tmp_path / "in" / "long.mp4", 100)
    out = tmp_path / "out"
    batch = _start_batch(video, "--out", out, "--workers", "1")
    recording = f"{staging_key('long')}@*/*"
    _wait_for(lambda: any((out / STAGING).glob(recording)), batch, timeout=240)
    os.utime(video, ns=(time.time_ns(), time.time_ns()))  # as a copy still being written would
    status, stdout, stderr = _finish(batch, 300)
    assert status == 1, stdout + stderr
    assert f"failed: {video}: {video} changed while it was being processed; run the batch again" in stdout
    assert not (out / "long").exists() and not (out / STAGING).exists()


# ---------------------------------------------------------------------------- workers that vanish
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_batch_whose_only_worker_dies_ends_with_the_videos_failed(tmp_path):
    long = write_clip(tmp_path / "in" / "long.mp4", 100)
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = [open(tmp_path / f"{name}.log", "wb") for name in ("scheduler", "worker")]  # noqa: SIM115
    scheduler = subprocess.Popen(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        cwd=tmp_path, stdout=logs[0], stderr=subprocess.STDOUT)
    worker = subprocess.Popen(  # no nanny: nothing restarts it
        [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-nanny",
         "--no-dashboard", "--local-directory", str(tmp_path / "worker")],
        cwd=tmp_path, stdout=logs[1], stderr=subprocess.STDOUT)
    out = tmp_path / "out"
    try:
        batch = _start_batch(long, "--out", out, "--scheduler", address, "--worker-timeout", 10)
        recording = f"{staging_key('long')}@*/joints.npy"
        _wait_for(lambda: any((out / STAGING).glob(recording)), batch, timeout=240)
        worker.kill()  # mid-video, as the OOM killer would
        killed = time.monotonic()
        status, stdout, stderr = _finish(batch, 120)
        assert time.monotonic() - killed < 60
        assert status == 1, stdout + stderr
        assert "1 videos: 0 ok, 0 skipped, 1 failed, 0 cancelled" in stdout, stdout
        assert "the Dask cluster had no worker for 10 s" in stdout
        assert not _errors(stderr), stderr
        assert not (out / "long").exists() and not (out / LOCK).exists()
    finally:
        for process in (worker, scheduler):
            process.kill()
            process.wait()
        for log in logs:
            log.close()


def test_a_workers_heartbeat_that_finds_the_pool_closing_is_not_reported(caplog):
    # Closing the local pool stops its scheduler while a worker's heartbeat may be on its way:
    # the worker printed "Failed to communicate with scheduler during heartbeat" and a traceback
    # on the terminal after a clean Ctrl-C (a CI run of the Ctrl-C test). Other errors still show.
    import logging

    from pose3d_nb.batch.cluster import HEARTBEAT_MISS, QuietHeartbeatMiss, quiet_heartbeat_misses

    logger = logging.getLogger("distributed.worker")
    before = list(logger.filters)
    try:
        quiet_heartbeat_misses()
        quiet_heartbeat_misses()  # once per process, however often the plugin runs
        assert sum(isinstance(f, QuietHeartbeatMiss) for f in logger.filters) == 1
        with caplog.at_level(logging.ERROR, logger="distributed.worker"):
            logger.error(f"{HEARTBEAT_MISS}.")
            logger.error("Compute Failed")
        assert [r.getMessage() for r in caplog.records] == ["Compute Failed"]
    finally:
        logger.filters[:] = before
