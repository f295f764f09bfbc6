"""Batch throughput: the same short clips with a 1-worker and a 2-worker local Dask pool.

``pose3d bench batch [--clips N] [--max-frames F] [--json]``. Per pool size it reports the time
to start the pool, to import torch and MediaPipe on its workers, and to process the clips (from
submitting the first video to the last row back); videos/s, frames/s and the speed-up over one
worker come from the processing time. Every run processes the clips afresh (its own output
folder), and the clips are cut from the bundled sample into a temporary folder.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from pose3d_nb.batch.clips import sample_clips
from pose3d_nb.batch.cluster import local_cluster
from pose3d_nb.batch.runner import process
from pose3d_nb.batch.table import counts
from pose3d_nb.batch.task import warm_up


def measure(videos: list[Path], out_dir: Path, workers: int) -> dict[str, Any]:
    """Process ``videos`` on a fresh local pool of ``workers``; the timings and rates.

    Args:
        videos (list[Path]): the clips.
        out_dir (Path): an empty folder for this run's output.
        workers (int): worker processes (one thread each).

    Returns:
        dict[str, Any]: startup_s, warm_up_s, processing_s, videos, frames, videos_per_s,
        frames_per_s, task_s_mean (mean wall time of one video's task), overhead_s_per_video,
        statuses.
    """
    started = time.perf_counter()
    with local_cluster(workers) as client:
        startup = time.perf_counter() - started
        started = time.perf_counter()
        client.run(warm_up)
        warm = time.perf_counter() - started
        started = time.perf_counter()
        table = process(videos, out_dir, client=client, progress=False)
        elapsed = time.perf_counter() - started
    frames = int(table["frames"].sum())
    return {
        "workers": workers,
        "startup_s": startup,
        "warm_up_s": warm,
        "processing_s": elapsed,
        "videos": len(table),
        "frames": frames,
        "videos_per_s": len(table) / elapsed,
        "frames_per_s": frames / elapsed,
        "task_s_mean": float(table["seconds"].mean()),
        # Worker time per video outside its task: scheduling, moving the row back, idle at the end.
        "overhead_s_per_video": elapsed * workers / len(table) - float(table["seconds"].mean()),
        "statuses": counts(table),
    }


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def run(clips: int = 6, frames: int | None = None, as_json: bool = False,
        workers: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """Measure each pool size in ``workers`` on the same clips; print a table (and JSON).

    Args:
        clips (int): clips cut from the sample.
        frames (int | None): frames per clip (default 50, at most 100).
        as_json (bool): print one JSON object as the last line.
        workers (tuple[int, ...]): pool sizes, the first is the baseline of the speed-up.

    Returns:
        dict[str, Any]: ``runs`` (one ``measure`` result per pool size, with ``speedup``),
        the clip set and the machine.
    """
    frames = frames or 50
    with tempfile.TemporaryDirectory(prefix="pose3d-bench-batch-") as tmp:
        videos = sample_clips(Path(tmp) / "clips", count=clips, frames=frames)
        print(f"batch of {clips} clips x {frames} frames (cut from the sample, 540x960, MPEG-4), "
              f"{os.cpu_count()} CPUs; each pool size processes them afresh")
        runs = [measure(videos, Path(tmp) / f"out{n}", n) for n in workers]
    base = runs[0]["processing_s"]
    print("  task s: one video's task (set-up, engine, exports); other s: worker time per video outside it")
    print(f"  {'workers':>7} {'start s':>8} {'warm-up s':>9} {'process s':>9} {'videos/s':>8} "
          f"{'frames/s':>8} {'task s':>7} {'other s':>7} {'speed-up':>8}")
    for result in runs:
        result["speedup"] = base / result["processing_s"]
        print(f"  {result['workers']:>7} {result['startup_s']:>8.2f} {result['warm_up_s']:>9.2f} "
              f"{result['processing_s']:>9.2f} {result['videos_per_s']:>8.3f} {result['frames_per_s']:>8.1f} "
              f"{result['task_s_mean']:>7.2f} {result['overhead_s_per_video']:>7.2f} "
              f"{result['speedup']:>7.2f}x")
        bad = {k: v for k, v in result["statuses"].items() if k != "ok" and v}
        if bad:
            print(f"  warning: {result['workers']} workers: {bad}")
    summary = {
        "clips": clips,
        "frames_per_clip": frames,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "runs": runs,
        "speedup": runs[-1]["speedup"],
    }
    if as_json:
        print(json.dumps(_rounded(summary)))
    return summary
