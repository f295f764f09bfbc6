"""The shipped notebooks run top to bottom headless (nbclient), in a scratch folder."""

from __future__ import annotations

import csv
import os
import re
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
    # Hand speeds of a man balancing and swinging his arms: frame-to-frame differences printed
    # a "peak" of 9-32 m/s (jitter, and the looping sample's jump back to its start); smoothed
    # over 0.1 s, the 95th percentile read 2.4-4.3 m/s (this buffer holds only about 60 frames).
    hands = re.search(r"hand speed, 95th percentile: left ([\d.]+) m/s, right ([\d.]+) m/s", text)
    assert hands, text
    print(f"\n[demo notebook] {hands.group(0)}")
    assert all(0.2 < float(v) < 8 for v in hands.groups()), text
    assert re.search(r"engine: \d+\.\d frames processed per second", text), text
    assert "running after stop: False" in text
    # MediaPipe's native start-up notices showed as red stderr boxes under the app's cell.
    stderr = "".join(o.get("text", "") for o in outputs(demo, "stream") if o.get("name") == "stderr")
    for notice in ("EGL", "XNNPACK", "Feedback manager", "absl::InitializeLog", "NORM_RECT"):
        assert notice not in stderr, stderr
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
    # The metadata's fps is the engine's rate: printed as "fps: 16.89" beside a 60 fps video.
    assert re.search(r"processing rate: [\d.]+ frames per second", text) and "fps:" not in text, text
    rows = _check_angles_csv(tmp_path / "out_files" / "angles.csv")
    assert rows == 100
    # The exports, and the BVH bone length read back beside the session's.
    for suffix in (".bvh", ".trc", ".c3d", ".parquet"):
        assert (tmp_path / "out_files" / f"session{suffix}").is_file(), suffix
    assert "left_knee -> left_foot: BVH" in text, text


def test_analysis_notebook_speeds_from_a_live_camera_that_dropped_frames(tmp_path, monkeypatch):
    # A steady 1.2 m/s walk as a live camera records it: every third frame dropped (uneven steps)
    # and a second unseen (the session holds the last pose there). The joint speeds read
    # 0.8 / 2.0 m/s by turns, and about 0.3 m/s on the frame after the gap, while positions were
    # averaged over frames but divided by the raw time steps.
    from test_motion import POSE

    from pose3d_nb.recording import Session
    from pose3d_nb.recording.session import write_session
    from pose3d_nb.skeleton import COCO

    t = (np.arange(300) / 30.0)[np.arange(300) % 3 != 2]
    joints = POSE[None] + np.stack([1.2 * t, np.zeros_like(t), np.zeros_like(t)], axis=1)[:, None]
    valid = np.ones(len(t), bool)
    valid[60:80] = False
    joints[60:80] = joints[59]
    frames = len(t)
    session = Session(
        joints_3d=joints.astype(np.float32), keypoints_2d=np.zeros((frames, COCO.num_joints, 2), np.float32),
        scores_2d=np.full((frames, COCO.num_joints), 0.9, np.float32), timestamps=t + 5000.0,
        frame_index=np.arange(frames), valid=valid, segment=np.zeros(frames, np.int64),
    )
    (tmp_path / "out_files").mkdir()
    write_session(tmp_path / "out_files" / "session.npz", session, {"source": "camera", "fps": 20.0})
    nb = run_notebook("analysis.ipynb", tmp_path, monkeypatch)
    assert not outputs(nb, "error")
    assert "walking speed median 1.20 m/s" in text_of(nb), text_of(nb)
    with open(tmp_path / "out_files" / "angles.csv") as f:
        header = next(csv.reader(f))
    table = np.loadtxt(tmp_path / "out_files" / "angles.csv", delimiter=",", skiprows=1)
    pelvis = table[:, header.index("pelvis_speed")]
    measured = valid & np.isfinite(pelvis)
    assert measured.sum() > 0.95 * valid.sum()
    np.testing.assert_allclose(pelvis[measured], 1.2, atol=0.01)
    assert np.isnan(pelvis[~valid]).all()


def test_analysis_notebook_follows_one_body_when_the_user_switched_whom_to_follow(tmp_path, monkeypatch):
    # Two people standing 3 m apart; halfway the user clicks the other one (engine.follow), so
    # joints_3d moves to the other body. The notebook read that as 3 m travelled at 30-90 m/s,
    # and its exports stopped it (one file would join two bodies). It now analyses and exports
    # the person followed at the end, from everyone's columns, and says so.
    from test_motion import POSE

    from pose3d_nb.buffer import MAX_PEOPLE
    from pose3d_nb.recording import Session
    from pose3d_nb.recording.session import write_session
    from pose3d_nb.skeleton import COCO

    frames = 120
    t = np.arange(frames) / 30.0
    people = np.full((frames, MAX_PEOPLE, 17, 3), np.nan, np.float32)
    people[:, 0], people[:, 1] = POSE, POSE + np.array([3.0, 0, 0])
    ids = np.full((frames, MAX_PEOPLE), -1)
    ids[:, :2] = (1, 2)
    track = np.where(np.arange(frames) < 60, 1, 2)
    joints = np.where((track == 1)[:, None, None], people[:, 0], people[:, 1])
    keypoints = np.full((frames, COCO.num_joints, 2), 100.0, np.float32)
    session = Session(
        joints_3d=joints, keypoints_2d=keypoints,
        scores_2d=np.full((frames, COCO.num_joints), 0.9, np.float32), timestamps=t,
        frame_index=np.arange(frames), valid=np.ones(frames, bool),
        segment=np.zeros(frames, np.int64), track_id=track, people_ids=ids,
        people_keypoints_2d=np.repeat(keypoints[:, None], MAX_PEOPLE, axis=1), people_joints_3d=people,
    )
    (tmp_path / "out_files").mkdir()
    write_session(tmp_path / "out_files" / "session.npz", session, {"source": "camera", "fps": 30.0})
    nb = run_notebook("analysis.ipynb", tmp_path, monkeypatch)
    assert not outputs(nb, "error")
    text = text_of(nb)
    assert "track ids 1 and 2" in text and "analysing person 2, followed at the end" in text, text
    assert "distance travelled: 0.00 m" in text and "below 0.2 m/s throughout" in text, text
    with open(tmp_path / "out_files" / "angles.csv") as f:
        header = next(csv.reader(f))
    table = np.loadtxt(tmp_path / "out_files" / "angles.csv", delimiter=",", skiprows=1)
    speed = table[:, header.index("pelvis_speed")]
    assert np.isfinite(speed[1:]).all() and np.nanmax(speed) < 0.01  # the first frame has no speed
    assert (tmp_path / "out_files" / "session.bvh").is_file()


# Run after analysis.ipynb: what its figures show (their Axes outlive plt.show()). A legend
# that covers plotted points, a y axis in offset notation (+3.3647e-1 with ticks in 1e-7 m: the
# BVH and the session's constant bone lengths read as two different curves), the number of jump
# labels, and the path's time scale.
_FIGURE_FACTS = """
import json
import numpy as np
def _covered(axis):
    legend = axis.get_legend()
    if legend is None:
        return 0
    axis.figure.canvas.draw()
    box = legend.get_window_extent()
    hidden = 0
    for line in axis.get_lines():
        xy = line.get_xydata()
        xy = axis.transData.transform(xy[np.isfinite(xy).all(axis=1)])
        inside = (xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)
        hidden += int(inside.sum())
    return hidden
facts = {
    "covered": {a.get_title() or a.get_ylabel(): _covered(a) for a in [*axes, ax_jump, plan, ax]},
    "jump_labels": [t.get_text() for t in ax_jump.texts],
    "jumps": [round(j.feet_rise_m, 2) for j in jumps],
    "bvh_offset": ax.yaxis.get_major_formatter().get_offset(),
    "bvh_span_m": float(np.diff(ax.get_ylim())[0]),
    "time_scale": [a.get_xlabel() or a.get_ylabel() for a in plan.figure.axes
                   if a is not plan and a.get_label() == "<colorbar>"],
}
print("FIGURES " + json.dumps(facts))
"""


def test_analysis_notebook_figures_leave_the_data_readable(tmp_path, monkeypatch):
    # A person walking at 1.2 m/s across the view, 3 m from the camera, who jumps six times
    # (0.25-0.40 m), every bone a constant length (as a recorded run writes them, placed from the
    # whole clip). One label per jump piled up into unreadable text ("0.09 m0.08 m..."), the
    # legends sat on the curves, the bone length plot magnified float noise into two curves, and
    # the path's colours had no time scale.
    import json

    from test_motion import FPS, POSE

    from pose3d_nb.recording import Session
    from pose3d_nb.recording.session import write_session
    from pose3d_nb.skeleton import COCO

    t = np.arange(int(8 * FPS)) / FPS
    heights = (0.25, 0.3, 0.4, 0.28, 0.33, 0.26)
    rise = np.zeros_like(t)
    for start, height in zip((1.0, 2.0, 3.0, 4.0, 5.0, 6.0), heights, strict=True):
        s = (t - start) / 0.5
        rise += np.where((s > 0) & (s < 1), 4 * height * s * (1 - s), 0.0)
    joints = POSE[None] + np.stack([1.2 * t, np.full_like(t, 3.0), rise], axis=1)[:, None]
    frames = len(t)
    session = Session(
        joints_3d=joints.astype(np.float32), keypoints_2d=np.zeros((frames, COCO.num_joints, 2), np.float32),
        scores_2d=np.full((frames, COCO.num_joints), 0.9, np.float32), timestamps=t,
        frame_index=np.arange(frames), valid=np.ones(frames, bool), segment=np.zeros(frames, np.int64),
    )
    (tmp_path / "out_files").mkdir()
    write_session(tmp_path / "out_files" / "session.npz", session,
                  {"source": "camera", "fps": FPS, "camera_pitch_deg": 10.0, "camera_height_m": 1.5})
    nb = run_notebook("analysis.ipynb", tmp_path, monkeypatch, extra_cells=(_FIGURE_FACTS,))
    assert not outputs(nb, "error"), outputs(nb, "error")
    line = next(s for s in text_of(nb).splitlines() if s.startswith("FIGURES "))
    facts = json.loads(line.removeprefix("FIGURES "))
    print("\n", facts)
    assert facts["jumps"] == pytest.approx(heights, abs=0.03)
    assert facts["jump_labels"] == ["highest 0.40 m"], facts["jump_labels"]
    assert not any(facts["covered"].values()), facts["covered"]
    assert facts["bvh_offset"] == "" and facts["bvh_span_m"] > 0.0199, facts
    assert facts["time_scale"] == ["seconds"], facts


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
