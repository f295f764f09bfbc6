"""Whom the pipeline follows among several people, and how well: ``pose3d bench follow``.

For each view of ``../shared/benchmarks/multi_person/`` it runs what a user runs, ``pose3d run
--source videos/camNN.mp4 --follow X,Y`` on the performer's first-frame hip point (the table in
that folder's README), in a fresh process, then scores the session with that folder's own
``eval.py --view camNN --session S --person 0``: frames on the performer (of 100), switches of
whom is followed, and PA-MPJPE on him.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pose3d_nb.benchmarks.scorers import run_scorer
from pose3d_nb.errors import Pose3DFileNotFoundError, Pose3DRuntimeError

DEFAULT_PEOPLE_DIR = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "multi_person"
#: The performer's first-frame hip point per view, pixels (the benchmark README's table).
PERFORMER_POINTS = {"cam02": (594, 754), "cam03": (635, 895), "cam04": (401, 980)}


def follow_view(people_dir: Path, view: str, point: tuple[int, int]) -> dict:
    """``pose3d run --follow X,Y`` on one view, scored by the folder's ``eval.py``: a dict of its
    figures (``PA-MPJPE_mm``, ``N-MPJPE_mm``, ``frames``, ``switches``, ``on_person``) and the
    run's ``seconds``."""
    video = people_dir / "videos" / f"{view}.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        command = [sys.executable, "-m", "pose3d_nb.cli", "run", "--source", str(video),
                   "--follow", f"{point[0]},{point[1]}", "--out", tmp]
        ran = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        if ran.returncode != 0:
            tail = "\n".join(ran.stderr.strip().splitlines()[-5:])
            raise Pose3DRuntimeError(f"pose3d run failed on {view} (exit {ran.returncode}):\n{tail}")
        figures = run_scorer(people_dir / "eval.py",
                             ["--view", view, "--session", str(Path(tmp) / "session.npz"), "--person", "0"])
    return {"view": view, **figures, "seconds": round(seconds, 1)}


def run(people_dir: str | Path | None = None, smoke: bool = False, as_json: bool = False) -> list[dict]:
    """Every view (cam02 only with ``smoke``), one printed line each; the rows."""
    people_dir = Path(people_dir) if people_dir else DEFAULT_PEOPLE_DIR
    if not (people_dir / "eval.py").is_file():
        raise Pose3DFileNotFoundError(f"no multi_person benchmark with eval.py at {people_dir}")
    views = ["cam02"] if smoke else list(PERFORMER_POINTS)
    print(f"following the performer on {people_dir.name}: pose3d run --follow X,Y, then eval.py --person 0")
    rows = []
    for view in views:
        row = follow_view(people_dir, view, PERFORMER_POINTS[view])
        rows.append(row)
        x, y = PERFORMER_POINTS[view]
        print(f"  {view} --follow {x},{y}: {row.get('on_person', 0):.0f} of 100 frames on him, "
              f"{row.get('switches', 0):.0f} switches, PA-MPJPE on him "
              f"{row.get('PA-MPJPE_mm', float('nan')):.1f} mm ({row['seconds']} s)", flush=True)
    if as_json:
        print(json.dumps(rows))
    return rows
