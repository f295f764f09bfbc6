"""What seeing everyone costs: the engine with ``mediapipe-people`` against single-person MediaPipe.

For each clip: how many people the people detector finds per frame (detector alone, its
tracked regions and its discovery sweep run side by side, and again one at a time in the same
process, with the slowest frames' time), the engine's
throughput with ``follow="largest"`` and with the single-person ``mediapipe`` detector (every
frame, as fast as possible), and the engine paced at the file's frame rate like a live camera
(frames dropped, latency: a live run must drop frames, never build a backlog).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from pose3d_nb.benchmarks.pipeline import wait_for_poses
from pose3d_nb.engine import PoseEngine


def people_per_frame(source: str, max_frames: int | None, workers: int | None = None) -> dict:
    """The people detector alone on ``source``: frames/s and a histogram of people found.
    ``workers``: its threads for the tracked regions (None: its default)."""
    from pose3d_nb.detectors import create_detector
    from pose3d_nb.sources import open_source

    counts: Counter[int] = Counter()
    calls = []
    with open_source(source) as frames, create_detector("mediapipe-people", workers=workers) as detector:
        start = time.perf_counter()
        for frame in frames:
            called = time.perf_counter()
            counts[len(detector(frame).extras["people_ids"])] += 1
            calls.append(time.perf_counter() - called)
            if max_frames and sum(counts.values()) >= max_frames:
                break
        elapsed = time.perf_counter() - start
    total = sum(counts.values())
    mean = sum(k * v for k, v in counts.items()) / max(total, 1)
    histogram = dict(sorted(counts.items()))
    # A frame's time, slowest 5 %: the frames with a discovery sweep or a retry.
    p95 = 1000 * float(np.percentile(calls, 95)) if calls else float("nan")
    return {"frames": total, "fps": total / elapsed, "people_mean": mean, "people_histogram": histogram,
            "frame_ms_p95": p95}


def engine_run(source: str, follow: str | None, max_frames: int | None, pace: bool = False) -> dict:
    """One engine run over ``source``: frames/s, latency and dropped frames."""
    engine = PoseEngine(source=source, follow=follow, out_dir=None, pace=pace or None)
    engine.start()
    start = time.perf_counter()
    if max_frames and not pace:  # paced, frames are dropped: run to the end of the file
        wait_for_poses(engine, max_frames, timeout=900)
    else:
        engine.wait(900)
    elapsed = time.perf_counter() - start
    stats = engine.stats()
    engine.stop()
    engine.raise_if_failed()
    return {
        "detector": engine.detector_name,
        "frames": stats.processed,
        "fps": stats.processed / elapsed,
        "latency_ms_median": stats.latency_ms_median,
        "latency_ms_p95": stats.latency_ms_p95,
        "frames_in": stats.frames_in,
        "dropped": stats.dropped,
    }


def default_sources() -> list[str]:
    """The bundled sample (one performer, a bystander far behind) and, when the shared data is
    next to the checkout, the two-people clip."""
    sources = ["sample"]
    two_people = Path(__file__).resolve().parents[3] / "shared" / "samples" / "two_people_walk_640x360.mp4"
    if two_people.exists():
        sources.append(str(two_people))
    return sources


def run(sources: list[str] | None = None, max_frames: int | None = None, as_json: bool = False) -> dict:
    """Print and return, per clip, people found and the engine's speed with and without them."""
    results = {}
    for source in sources or default_sources():
        name = Path(source).stem if source != "sample" else "sample"
        found = people_per_frame(source, max_frames)
        one_at_a_time = people_per_frame(source, max_frames, workers=1)
        # Side by side again after, so neither order is favoured: the two runs' mean is compared.
        side_by_side_fps = (found["fps"] + people_per_frame(source, max_frames)["fps"]) / 2
        speedup = side_by_side_fps / one_at_a_time["fps"] if one_at_a_time["fps"] > 0 else float("nan")
        single = engine_run(source, None, max_frames)
        people = engine_run(source, "largest", max_frames)
        live = engine_run(source, "largest", max_frames, pace=True)
        results[name] = {"people": found, "people_one_at_a_time": one_at_a_time,
                         "regions_side_by_side_fps": side_by_side_fps, "regions_speedup": speedup,
                         "engine_single": single,
                         "engine_people": people, "live_people": live}
        print(
            f"{name}: people found per frame {found['people_mean']:.2f} {found['people_histogram']} "
            f"(detector alone {side_by_side_fps:.1f} fps, mean of a run before and after one with "
            f"its regions one at a time: {one_at_a_time['fps']:.1f} fps, x{speedup:.2f}; a frame's p95 "
            f"{found['frame_ms_p95']:.0f} ms, one at a time {one_at_a_time['frame_ms_p95']:.0f} ms)\n"
            f"  engine, mediapipe (one person)       {single['fps']:6.1f} fps, latency median "
            f"{single['latency_ms_median']:.0f} ms\n"
            f"  engine, mediapipe-people (everyone)  {people['fps']:6.1f} fps, latency median "
            f"{people['latency_ms_median']:.0f} ms\n"
            f"  live (paced), mediapipe-people       {live['fps']:6.1f} fps, latency median "
            f"{live['latency_ms_median']:.0f} ms, p95 {live['latency_ms_p95']:.0f} ms, "
            f"{live['dropped']} of {live['frames_in']} frames dropped"
        )
    if as_json:
        print(json.dumps(results, default=float))
    return results
