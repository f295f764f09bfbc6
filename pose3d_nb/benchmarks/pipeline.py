"""End-to-end throughput and latency of the engine, against a one-thread sequential baseline."""

from __future__ import annotations

import json
import time

from pose3d_nb.benchmarks.lifter import random_model
from pose3d_nb.engine import PoseEngine
from pose3d_nb.lifting.model import Architecture


def _sequential(source: str, lifter_spec, max_frames: int | None) -> dict:
    """Decode, detect and lift one frame after another on one thread: the baseline, with the
    engine's default detector (``mediapipe`` as ``follow="auto"`` runs it)."""
    from pose3d_nb.detectors import create_detector
    from pose3d_nb.detectors.follow import with_follow
    from pose3d_nb.lifting.choice import choose_lifter
    from pose3d_nb.settings import DEFAULTS
    from pose3d_nb.sources import open_source

    lifter = choose_lifter(lifter_spec)
    count = 0
    name, options = with_follow(DEFAULTS.detector, DEFAULTS.follow)
    with open_source(source) as frames, create_detector(name, **options) as detector:
        start = time.perf_counter()
        for frame in frames:
            lifter.push(detector(frame))
            count += 1
            if max_frames and count >= max_frames:
                break
        lifter.flush()
        elapsed = time.perf_counter() - start
    return {"frames": count, "fps": count / elapsed}


def wait_for_poses(engine: PoseEngine, poses: int, timeout: float) -> None:
    """Block until ``poses`` poses are in ``engine``'s buffer, the run ended (a short file, or a
    paced one whose dropped frames leave fewer), or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while not engine.buffer.wait_for(poses, timeout=0.1):  # wakes at once when they arrive
        if not engine.running or time.monotonic() > deadline:
            return


def _engine(source: str, lifter_model, max_frames: int | None, pace: bool = False) -> dict:
    engine = PoseEngine(
        source=source, lifter=lifter_model, out_dir=None, capacity=100_000, pace=pace or None
    )
    engine.start()  # opens source and detector, as the sequential baseline's set-up does
    start = time.perf_counter()
    if max_frames:
        wait_for_poses(engine, max_frames, timeout=600)
    else:
        engine.wait(600)
    elapsed = time.perf_counter() - start
    stats = engine.stats()
    engine.stop()
    engine.raise_if_failed()
    return {
        "frames": stats.processed,
        "fps": stats.processed / elapsed,
        "latency_ms_median": stats.latency_ms_median,
        "latency_ms_p95": stats.latency_ms_p95,
        "stage_ms": stats.stage_ms,
        "lifter": stats.lifter,
        "frames_in": stats.frames_in,
        "dropped": stats.dropped,
    }


def _rounded(value):
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def run(source: str = "sample", max_frames: int | None = None, as_json: bool = False) -> dict:
    """Each lifter, engine vs sequential: the default (the shipped lifter fused with MediaPipe's 3D),
    MediaPipe's 3D alone, and the official architecture (RF 243, random weights, same cost)."""
    configs = {
        "shipped_default": "shipped",
        "mediapipe_world": "mediapipe",
        "videopose3d_rf243": random_model(Architecture(filter_widths=(3, 3, 3, 3, 3), channels=1024)),
    }
    print(f"pipeline on {source!r}: every frame, as fast as possible, after start-up")
    results = {}
    for name, model in configs.items():
        sequential = _sequential(source, model, max_frames)
        threaded = _engine(source, model, max_frames)
        live = _engine(source, model, max_frames, pace=True)
        threaded["sequential_fps"] = sequential["fps"]
        threaded["speedup_vs_sequential"] = threaded["fps"] / sequential["fps"]
        threaded["live"] = {
            k: live[k] for k in ("fps", "latency_ms_median", "latency_ms_p95", "frames_in", "dropped")
        }
        results[name] = threaded
        stages = ", ".join(f"{k} {v:.1f}" for k, v in threaded["stage_ms"].items())
        print(
            f"  {name:19s} engine {threaded['fps']:6.1f} fps | sequential {sequential['fps']:6.1f} fps | "
            f"x{threaded['speedup_vs_sequential']:.2f} | end-to-end latency median "
            f"{threaded['latency_ms_median']:.0f} ms, p95 {threaded['latency_ms_p95']:.0f} ms | "
            f"stage medians (ms): {stages}"
        )
        print(
            f"  {'':19s} live (paced to the file's rate): latency median {live['latency_ms_median']:.0f} ms, "
            f"p95 {live['latency_ms_p95']:.0f} ms, {live['dropped']} of {live['frames_in']} frames dropped"
        )
    default = results["shipped_default"]
    summary = {
        "fps": default["fps"],
        "latency_ms_median": default["latency_ms_median"],
        "latency_ms_p95": default["latency_ms_p95"],
        "stage_ms": default["stage_ms"],
        "sequential_fps": default["sequential_fps"],
        "live": default["live"],
        "frames": default["frames"],
        "source": source,
        "lifter": default["lifter"],
        "mediapipe_world": results["mediapipe_world"],
        "videopose3d_rf243": results["videopose3d_rf243"],
    }
    if as_json:
        print(json.dumps(_rounded(summary)))
    return summary
