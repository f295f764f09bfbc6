"""The benchmark folders' own scorers (``eval.py``, ``eval_world.py``), run as their README says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def run_scorer(script: Path, arguments: list[str]) -> dict[str, float]:
    """``python SCRIPT ARGUMENTS`` in the script's folder; the ``key=value`` figures of the last
    line it prints (e.g. ``PA-MPJPE_mm``, ``frames``). Raises ``CalledProcessError`` if it fails."""
    result = subprocess.run([sys.executable, str(script), *arguments], capture_output=True, text=True,
                            check=True, cwd=script.parent)
    last = result.stdout.strip().splitlines()[-1]
    return {key: float(value) for key, value in re.findall(r"([\w-]+)=([-\d.]+)", last)}
