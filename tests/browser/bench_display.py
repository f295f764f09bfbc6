"""Benchmark: how many 3D poses a second the demo draws in a real browser, and why.

    .venv/bin/python -m tests.browser.bench_display [--seconds 8] [--runs 1] [--json]

Runs ``notebooks/demo.ipynb`` (engine on the bundled sample) in JupyterLab + headless Chromium
in four set-ups, one process, a fresh server and browser each:

1. ``pythreejs state, default websocket``: the demo before PoseFeed and the websocket extension.
   Each pose set as the pythreejs ``BufferAttribute`` state (pythreejs answers every change
   with a message back), JupyterLab's default kernel websocket (Nagle's algorithm on), and
   ``JUPYTER_WIDGETS_ECHO=0`` as that demo ran (the kernel did not echo those answers).
2. ``pythreejs state, TCP_NODELAY``: the same with ``pose3d_nb.lab.SERVER_OPTIONS``.
3. ``PoseFeed, default websocket``: the shipped widgets in a JupyterLab started without
   ``SERVER_OPTIONS`` (what a user's own JupyterLab gives).
4. ``PoseFeed, TCP_NODELAY``: the demo as shipped (``pose3d demo``).

Prints, per set-up: 3D draws/s in the browser, video frames shown/s, 3D poses the kernel sent/s,
widget messages the page sent to the kernel/s, engine fps and the median answer time of an
unrelated cell; plus the draw rate as a ratio of the first set-up's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .harness import ROOT, lab_browser

# The state path the demo used before PoseFeed: set the pythreejs attribute, as pythreejs intends.
USE_WIDGET_STATE = """
import numpy as _np
_sk = app.view3d
_sk.feed.send_vertices = lambda v, trail=None: setattr(_sk._positions, "array", _np.asarray(v, _np.float32))
"""

NO_ECHO = {"JUPYTER_WIDGETS_ECHO": "0"}

# (name, server options (None: the shipped ones), extra server/kernel environment, widget state?)
CONFIGS = (
    ("pythreejs state, default websocket", (), NO_ECHO, True),
    ("pythreejs state, TCP_NODELAY", None, NO_ECHO, True),
    ("PoseFeed, default websocket", (), {}, False),
    ("PoseFeed, TCP_NODELAY", None, {}, False),
)


def measure(name: str, server_options, server_env: dict, widget_state: bool, seconds: float) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="pose3d-bench-"))
    try:
        shutil.copy(ROOT / "notebooks" / "demo.ipynb", tmp / "demo.ipynb")
        options = {} if server_options is None else {"server_options": server_options}
        with lab_browser(tmp, viewport=(1400, 1900), server_env=server_env, **options) as lab:
            lab.open_notebook("demo.ipynb")
            lab.run_all_cells(timeout_s=150)
            if widget_state:
                lab.execute(USE_WIDGET_STATE)
            lab.page.wait_for_function("() => __pose3d.clears.length > 10", timeout=60_000)
            lab.page.wait_for_timeout(2000)  # past start-up
            rates = lab.rates(seconds)
            responses = [lab.execute("_ = sum(range(10000))")["ms"] for _ in range(8)]
            kernel = json.loads(lab.execute(
                "import json\nprint(json.dumps({**app.display_stats(), 'fps': app.engine.stats().fps}))"
            )["out"])
        return {
            "config": name,
            "draws_per_s": round(rates["draws_per_s"], 1),
            "images_per_s": round(rates["images_per_s"], 1),
            "poses_sent_per_s": round(kernel["poses_per_s"], 1),
            "page_to_kernel_per_s": round(rates["to_kernel_per_s"], 1),
            "engine_fps": round(kernel["fps"], 1),
            "cell_response_ms_median": round(float(np.median(responses))),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measuring time per configuration")
    parser.add_argument("--runs", type=int, default=1, help="repeat the four set-ups")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    results = []
    for _ in range(args.runs):
        for name, server_options, server_env, widget_state in CONFIGS:
            results.append(measure(name, server_options, server_env, widget_state, args.seconds))
    baseline = np.mean([r["draws_per_s"] for r in results if r["config"] == CONFIGS[0][0]])
    for r in results:
        r["draws_vs_first"] = round(r["draws_per_s"] / baseline, 2) if baseline else None
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    keys = list(results[0])
    print(" | ".join(keys))
    for r in results:
        print(" | ".join(str(r[k]) for k in keys))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
