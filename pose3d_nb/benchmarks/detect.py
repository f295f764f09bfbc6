"""Benchmark of the 2D detectors: decoding and detection timed separately, per installed backend.

``pose3d bench detect [--json]`` or ``python -m pose3d_nb.benchmarks.detect``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from typing import Any

import numpy as np

from pose3d_nb.detectors.registry import create_detector, known_detectors, missing_requirements
from pose3d_nb.sources.open import open_source


def _ms_stats(seconds: list[float]) -> dict[str, float | None]:
    """Median, p95 and mean in ms of a list of durations in seconds (None when empty)."""
    if not seconds:
        return {"median": None, "p95": None, "mean": None}
    ms = np.asarray(seconds) * 1000.0
    return {
        "median": round(float(np.median(ms)), 2),
        "p95": round(float(np.percentile(ms, 95)), 2),
        "mean": round(float(ms.mean()), 2),
    }


def bench_backend(name: str, source: str = "sample", max_frames: int | None = None) -> dict[str, Any]:
    """Time ``name`` on ``source``: model load, first call, then per-frame decode and detection.

    The first detection (graph/model warm-up) is reported separately and left out of the
    per-frame statistics.
    """
    started = time.perf_counter()
    detector = create_detector(name)
    load_s = time.perf_counter() - started
    decode: list[float] = []
    detect: list[float] = []
    first_call_s = None
    found = 0
    with detector, open_source(source) as frames:
        iterator = iter(frames)
        while max_frames is None or len(decode) < max_frames:
            t0 = time.perf_counter()
            try:
                frame = next(iterator)
            except StopIteration:
                break
            t1 = time.perf_counter()
            detection = detector(frame)
            t2 = time.perf_counter()
            found += detection.found
            decode.append(t1 - t0)
            if first_call_s is None:
                first_call_s = t2 - t1
            else:
                detect.append(t2 - t1)
    detect_stats = _ms_stats(detect)
    decode_stats = _ms_stats(decode)
    total = sum(detect) + sum(decode[1:])
    return {
        "frames": len(decode),
        "found": found,
        "load_ms": round(load_s * 1000, 1),
        "first_call_ms": None if first_call_s is None else round(first_call_s * 1000, 1),
        "detect_ms_median": detect_stats["median"],
        "detect_ms_p95": detect_stats["p95"],
        "detect_fps": round(len(detect) / sum(detect), 1) if detect else None,
        "decode_ms_median": decode_stats["median"],
        "decode_ms_p95": decode_stats["p95"],
        "end_to_end_fps": round(len(detect) / total, 1) if detect and total > 0 else None,
    }


def _table(results: dict[str, Any]) -> str:
    columns = [
        ("backend", "{}"),
        ("frames", "{}"),
        ("found", "{}"),
        ("detect_ms_median", "{:.1f}"),
        ("detect_ms_p95", "{:.1f}"),
        ("detect_fps", "{:.1f}"),
        ("decode_ms_median", "{:.2f}"),
        ("end_to_end_fps", "{:.1f}"),
        ("first_call_ms", "{:.0f}"),
        ("load_ms", "{:.0f}"),
    ]
    rows = [[title for title, _ in columns]]
    for name, numbers in results["backends"].items():
        values = {"backend": name, **numbers}
        rows.append(["-" if values[key] is None else fmt.format(values[key]) for key, fmt in columns])
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    for name, reason in results["skipped"].items():
        lines.append(f"{name}: skipped ({reason})")
    return "\n".join(lines)


def run(source: str = "sample", max_frames: int | None = None, as_json: bool = False) -> dict[str, Any]:
    """Benchmark every installed detector backend on ``source``; print a table, return the numbers.

    With ``as_json`` the last printed line is the returned dict as one JSON object.
    """
    results: dict[str, Any] = {
        "benchmark": "detect",
        "source": str(source),
        "max_frames": max_frames,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "backends": {},
        "skipped": {},
    }
    for name in known_detectors():
        missing = missing_requirements(name)
        if missing:
            results["skipped"][name] = f"not installed: {', '.join(missing)}"
            continue
        results["backends"][name] = bench_backend(name, source, max_frames)
    print(f"2D detector benchmark on {source!r} ({os.cpu_count()} CPUs); times in ms, decode = read + RGB")
    print(_table(results))
    if as_json:
        print(json.dumps(results))
    return results


def main(argv: list[str] | None = None) -> int:
    """``python -m pose3d_nb.benchmarks.detect``, as ``pose3d bench detect``; the exit status."""
    from pose3d_nb.cli.common import OneLineParser, positive_count, tool_exit_status

    parser = OneLineParser(prog="python -m pose3d_nb.benchmarks.detect", description=__doc__)
    parser.add_argument("--source", default="sample", help="a video, image folder or camera")
    parser.add_argument("--max-frames", type=positive_count, default=None, help="frames (default: all)")
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = parser.parse_args(argv)

    def measure() -> None:
        run(args.source, args.max_frames, args.json)

    return tool_exit_status(measure)


if __name__ == "__main__":
    raise SystemExit(main())
