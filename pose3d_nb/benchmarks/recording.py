"""Recording cost: what saving takes, and how long the lift thread is held by the recorder.

``pose3d bench recording [--max-frames N] [--json]`` (N default 108,000: one hour at 30 fps).
Everything is synthetic rows written to a temporary folder on the same disk as the system's
temp dir; nothing is rounded.

1. **Formats**, saving 60 rows at a time (2 s at 30 fps), each save fsynced: the journal
   (batches appended to an Arrow IPC stream: what the Recorder writes), one npz file per save
   (the alternative), and rewriting the whole ``session.npz`` (what version 1 did every 2 s,
   here at N rows). Also the time to read all N rows back.
2. **The Recorder, as the engine drives it**: N rows recorded by one thread at 100x real time
   (3,000 rows/s) with ``session_interval`` 0.02 s, so each save holds about 60 rows as at
   30 fps with the default 2 s. Reported: each ``record`` call's duration (the lift thread's
   hold: median, p99, longest), each save on the writer thread (median, p95, longest), the
   clean stop (``session.npz`` written from the journal) and loading the session back. The
   same loop without an ``out_dir`` (no disk, no writer thread) gives this machine's floor.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from pose3d_nb.buffer import COLUMNS, RollingBuffer, empty_column
from pose3d_nb.recording import Recorder, atomic_file, load_session, write_session
from pose3d_nb.recording.journal import JournalWriter, read_journal

CHUNK_ROWS = 60  # 2 s at 30 fps


def _rows(count: int, first: int = 0) -> dict[str, np.ndarray]:
    """``count`` synthetic rows: every column filled, frame indices from ``first``."""
    columns = {name: empty_column(name, count) for name in COLUMNS}
    columns["joints_3d"][:] = np.random.default_rng(first).normal(size=columns["joints_3d"].shape)
    columns["keypoints_2d"][:] = 320.0
    columns["frame_index"][:] = np.arange(first, first + count)
    columns["timestamps"][:] = columns["frame_index"] / 30
    columns["valid"][:] = True
    return columns


def _stats(seconds: list[float]) -> dict[str, float]:
    values = np.asarray(seconds) * 1000
    return {"median_ms": float(np.median(values)), "p95_ms": float(np.percentile(values, 95)),
            "p99_ms": float(np.percentile(values, 99)), "max_ms": float(values.max()), "count": len(values),
            "over_20ms": int((values > 20).sum())}


def measure_journal(folder: Path, frames: int) -> dict[str, Any]:
    """The journal (Arrow IPC, what the Recorder writes): 60-row saves, fsynced; reading all back."""
    journal = JournalWriter(folder / "session.journal", "bench")
    journal.write_meta({})
    seconds = []
    for first in range(0, frames, CHUNK_ROWS):
        rows = _rows(min(CHUNK_ROWS, frames - first), first)
        started = time.perf_counter()
        journal.append(rows)
        seconds.append(time.perf_counter() - started)
    journal.close()
    started = time.perf_counter()
    session = read_journal(journal.folder)
    read = time.perf_counter() - started
    assert len(session) == frames
    size = sum(p.stat().st_size for p in journal.folder.iterdir())
    return {"save": _stats(seconds), "read_all_s": read, "bytes": size}


def measure_npz_chunks(folder: Path, frames: int) -> dict[str, Any]:
    """The alternative: one npz file per save (written whole, fsynced, renamed); reading all back."""
    seconds = []
    for number, first in enumerate(range(0, frames, CHUNK_ROWS)):
        rows = _rows(min(CHUNK_ROWS, frames - first), first)
        started = time.perf_counter()
        with atomic_file(folder / f"{number:08d}.npz") as handle:
            np.savez(handle, **rows)
        seconds.append(time.perf_counter() - started)
    started = time.perf_counter()
    parts = []
    for path in sorted(folder.glob("*.npz")):
        with np.load(path, allow_pickle=False) as data:
            parts.append({name: data[name] for name in data.files})
    columns = {name: np.concatenate([part[name] for part in parts]) for name in COLUMNS}
    read = time.perf_counter() - started
    assert len(columns["timestamps"]) == frames
    size = sum(p.stat().st_size for p in folder.iterdir())
    return {"save": _stats(seconds), "read_all_s": read, "bytes": size}


def measure_whole_rewrite(folder: Path, frames: int) -> dict[str, Any]:
    """Version 1's save: the whole session rewritten (fsynced) at ``frames`` rows, three times."""
    from pose3d_nb.buffer import BufferSnapshot

    snapshot = BufferSnapshot(**_rows(frames))
    seconds = []
    for _ in range(3):
        started = time.perf_counter()
        write_session(folder / "whole.npz", snapshot, {})
        seconds.append(time.perf_counter() - started)
    return {"save": _stats(seconds), "bytes": (folder / "whole.npz").stat().st_size}


def _pose(i: int, joints: np.ndarray, keypoints: np.ndarray, scores: np.ndarray) -> SimpleNamespace:
    detection = SimpleNamespace(keypoints=keypoints, scores=scores, timestamp=i / 30, extras={})
    return SimpleNamespace(joints=joints, detection=detection, frame=None, frame_index=i, valid=True)


def measure_recorder(folder: Path | None, frames: int, rate: float = 3000.0,
                     interval: float = 0.02) -> dict[str, Any]:
    """``frames`` rows through a ``Recorder`` at ``rate`` rows/s; the lift thread's holds and the saves.

    ``folder`` None: memory only (no writer thread), the floor the holds are compared with.
    """
    recorder = Recorder(RollingBuffer(1000), folder, lambda: {"source": "benchmark"}, interval)
    recorder.begin()
    joints = np.random.default_rng(0).normal(size=(17, 3)).astype(np.float32)
    keypoints, scores = np.full((17, 2), 320, np.float32), np.ones(17, np.float32)
    holds = []
    started = time.perf_counter()
    for i in range(frames):
        due = started + i / rate
        while time.perf_counter() < due:  # paced like frames arriving, without sleeping past them
            time.sleep(0.0002)
        pose = _pose(i, joints, keypoints, scores)
        call = time.perf_counter()
        recorder.record([pose], 0)
        holds.append(time.perf_counter() - call)
    recording = time.perf_counter() - started
    if folder is None:
        return {"frames": frames, "recording_s": recording, "record_call": _stats(holds)}
    chunks = list(recorder.chunk_seconds)
    started = time.perf_counter()
    recorder.finish()
    stop = time.perf_counter() - started
    started = time.perf_counter()
    session = load_session(folder)
    load = time.perf_counter() - started
    assert len(session) == frames and session.metadata["complete"] is True
    return {"frames": frames, "recording_s": recording, "record_call": _stats(holds),
            "chunk_save": _stats(chunks) if chunks else None, "stop_s": stop, "load_s": load,
            "session_bytes": (folder / "session.npz").stat().st_size}


def run(frames: int | None = None, as_json: bool = False) -> dict[str, Any]:
    """Measure and print; the numbers as a dict (also the last line with ``as_json``)."""
    frames = frames or 108_000
    results: dict[str, Any] = {"frames": frames, "chunk_rows": CHUNK_ROWS}
    with tempfile.TemporaryDirectory(prefix="pose3d-bench-recording-") as tmp:
        root = Path(tmp)
        for name, measure in (("journal_arrow_ipc", measure_journal), ("npz_chunks", measure_npz_chunks),
                              ("whole_rewrite", measure_whole_rewrite), ("recorder", measure_recorder)):
            folder = root / name
            folder.mkdir()
            results[name] = measure(folder, frames)
        results["recorder_memory_only"] = measure_recorder(None, frames)
    _print(results)
    if as_json:
        print(json.dumps(results))
    return results


def _print(results: dict[str, Any]) -> None:
    frames = results["frames"]
    minutes = frames / 30 / 60
    print(f"recording {frames} synthetic rows ({minutes:.1f} min at 30 fps) in {tempfile.gettempdir()}")
    for name in ("journal_arrow_ipc", "npz_chunks", "whole_rewrite"):
        entry = results[name]
        save = entry["save"]
        rows = CHUNK_ROWS if name != "whole_rewrite" else frames
        read = f", read all {entry['read_all_s']:.2f} s" if "read_all_s" in entry else ""
        print(f"  {name:17s} save of {rows} rows: median {save['median_ms']:.2f} ms, "
              f"p95 {save['p95_ms']:.2f} ms, max {save['max_ms']:.2f} ms{read}, "
              f"{entry['bytes'] / 1e6:.1f} MB on disk")
    rec = results["recorder"]
    hold, chunk = rec["record_call"], rec["chunk_save"]
    floor = results["recorder_memory_only"]["record_call"]
    print(f"  Recorder: lift thread held per record() median {hold['median_ms']:.3f} ms, "
          f"p99 {hold['p99_ms']:.3f} ms, longest {hold['max_ms']:.2f} ms, {hold['over_20ms']} over 20 ms "
          f"(memory only: median {floor['median_ms']:.3f}, p99 {floor['p99_ms']:.3f}, "
          f"longest {floor['max_ms']:.2f} ms, {floor['over_20ms']} over 20 ms)")
    if chunk:
        print(f"            saves (writer thread) {chunk['count']}: "
              f"median {chunk['median_ms']:.2f} ms, "
              f"p95 {chunk['p95_ms']:.2f} ms, max {chunk['max_ms']:.2f} ms")
    print(f"            clean stop (session.npz from the journal) {rec['stop_s']:.2f} s, "
          f"load {rec['load_s']:.2f} s, session.npz {rec['session_bytes'] / 1e6:.1f} MB")
