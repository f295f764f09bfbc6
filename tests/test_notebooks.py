"""The shipped notebooks run top to bottom headless (nbclient), in a scratch folder."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

pytestmark = pytest.mark.slow


def run_notebook(name: str, cwd: Path, monkeypatch: pytest.MonkeyPatch, timeout: int = 300,
                 extra_cells: tuple[str, ...] = ()):
    """Execute ``notebooks/<name>`` (plus ``extra_cells``) in ``cwd``; return the executed notebook."""
    # The kernel imports this checkout's pose3d_nb whether or not it is pip-installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    shutil.copy(NOTEBOOKS / name, cwd / name)
    nb = nbformat.read(cwd / name, as_version=4)
    nb.cells += [nbformat.v4.new_code_cell(c) for c in extra_cells]
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=False,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def outputs(nb, output_type: str | None = None) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if output_type is None or o["output_type"] == output_type]


def text_of(nb) -> str:
    return "".join(o.get("text", "") for o in outputs(nb, "stream"))


def test_demo_then_analysis_notebook(tmp_path, monkeypatch):
    # The user presses Stop at the end (the notebook itself leaves the engine running).
    demo = run_notebook("demo.ipynb", tmp_path, monkeypatch,
                        extra_cells=("app.stop()\nprint('running after stop:', app.engine.running)",))
    assert not outputs(demo, "error")
    # The app cell displayed a widget view (the UI), not a text repr.
    views = [o for o in outputs(demo, "display_data") + outputs(demo, "execute_result")
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views, "the PoseApp cell shows no widget"
    text = text_of(demo)
    assert "frames in the buffer" in text and "left knee: median" in text, text
    n_frames = int(text.split(" frames in the buffer")[0].split()[-1])
    assert n_frames >= 60
    assert "running after stop: False" in text
    # On stop, the engine wrote the session the analysis notebook reads.
    assert (tmp_path / "out_files" / "session.npz").is_file()

    analysis = run_notebook("analysis.ipynb", tmp_path, monkeypatch)
    assert not outputs(analysis, "error")
    images = [o for o in outputs(analysis, "display_data") if "image/png" in o.get("data", {})]
    assert images, "the analysis notebook draws no plot"
    _check_angles_csv(tmp_path / "out_files" / "angles.csv")
    assert (tmp_path / "out_files" / "session.csv").is_file()


def test_analysis_notebook_records_the_sample_when_there_is_no_session(tmp_path, monkeypatch):
    nb = run_notebook("analysis.ipynb", tmp_path, monkeypatch)
    assert not outputs(nb, "error")
    text = text_of(nb)
    assert "100 frames" in text, text  # the whole sample, once
    rows = _check_angles_csv(tmp_path / "out_files" / "angles.csv")
    assert rows == 100
    # The exports, and the BVH bone length read back beside the session's.
    for suffix in (".bvh", ".trc", ".c3d", ".parquet"):
        assert (tmp_path / "out_files" / f"session{suffix}").is_file(), suffix
    assert "left_knee -> left_foot: BVH" in text, text


def _check_angles_csv(path: Path) -> int:
    with open(path) as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [list(map(float, r)) for r in reader]
    assert header[:3] == ["time_s", "frame_index", "valid"] and "left_knee" in header
    table = np.array(rows)
    knee = table[:, header.index("left_knee")]
    valid = table[:, header.index("valid")] == 1
    assert valid.mean() > 0.8
    # Real angles of a person standing and balancing: a knee between bent and straight.
    assert np.all((knee[valid] > 20) & (knee[valid] <= 180))
    return len(rows)
