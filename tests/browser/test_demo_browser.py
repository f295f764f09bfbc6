"""notebooks/demo.ipynb in JupyterLab in Chromium: it runs, updates live and its controls work.

Part 1 runs the demo as shipped (no official checkpoint: the temporal lifter shipped in the
package, with window/lookahead/flip active), measures the display, and moves the window slider:
the engine follows and the 3D of the same video frames changes. Part 2 adds a cell with a second
app on another VideoPose3D model (the reference checkpoint: random weights, receptive field 27)
to drive the window and lookahead sliders through the kernel; then presses Stop.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from .harness import ARTIFACTS, ROOT, lab_browser

SHARED = Path(os.environ.get("POSE3D_SHARED", ROOT.parent / "shared"))
TINY_CHECKPOINT = SHARED / "reference" / "videopose3d" / "tiny_arc333_ch64.bin"
APP_OUTPUT = ".jp-OutputArea-output:has(canvas[data-pose3d-webgl])"


# Kernel-side helpers: the mean distance (mm) between the 3D of the same video frames in two
# stretches of the rolling buffer (the sample loops, so every frame comes round again).
_SAME_FRAMES = """
import numpy as np
def _rows():
    snap = app.snapshot()
    return snap.frame_index, snap.joints_3d, app.engine.buffer.total_appended
def _distance(a, b):
    (fa, ja), (fb, jb) = a, b
    common = np.intersect1d(fa, fb)
    pick = lambda f, j: np.stack([j[np.flatnonzero(f == k)[-1]] for k in common])
    return float(1000 * np.nanmean(np.linalg.norm(pick(fa, ja) - pick(fb, jb), axis=-1)))
def _mark():
    global _baseline
    frames, joints, _ = _rows()
    older, newer = (frames[-200:-100], joints[-200:-100]), (frames[-100:], joints[-100:])
    _baseline = round(_distance(older, newer), 1)
    return newer
def _moved(before):
    frames, joints, _ = _rows()
    return _distance(before, (frames[-100:], joints[-100:]))
def _replayed(window):
    # The app's recorded 2D of the last 100 frames through a fresh lifter of the same kind with
    # `window`: deterministic, unlike two loops of a paced file (frames dropped differ per loop).
    from pose3d_nb.detectors.detection import Detection
    from pose3d_nb.lifting.choice import choose_lifter
    snap = app.snapshot()
    lifter = choose_lifter("shipped")
    lifter.window, lifter.flip = window, app.engine.flip
    poses = []
    for k, s, t, f in zip(snap.keypoints_2d[-100:], snap.scores_2d[-100:], snap.timestamps[-100:],
                          snap.frame_index[-100:]):
        poses += lifter.push(Detection(k, s, np.full(4, np.nan, np.float32), (540, 960), float(t), int(f)))
    return np.stack([p.joints for p in poses + lifter.flush()])
def _window_effect():
    # Frames before the first complete 2D pose of the replayed stretch have no 3D (NaN): a busy
    # machine's dropped frames can make the detector lose a joint there. Compare the others.
    one, full = _replayed(1), _replayed(27)
    both = np.isfinite(one).all(axis=(1, 2)) & np.isfinite(full).all(axis=(1, 2))
    return int(both.sum()), float(1000 * np.abs(one[both] - full[both]).mean()) if both.any() else 0.0
"""


def _kernel_value(lab, expr: str) -> str:
    out = lab.execute(f"print(repr({expr}))")["out"].strip()
    assert "Error" not in out, out
    return out


def _wait_for_kernel_value(lab, expr: str, expected: str, timeout_s: float = 15.0) -> None:
    """Ask the kernel until ``expr`` reads ``expected``: a widget change reaches it asynchronously."""
    deadline = time.monotonic() + timeout_s
    while (value := _kernel_value(lab, expr)) != expected and time.monotonic() < deadline:
        lab.page.wait_for_timeout(250)
    assert value == expected, f"{expr} is {value}, expected {expected} after {timeout_s:.0f} s"


def _set_slider(slider, value: int) -> None:
    """Type a value into an ipywidgets slider's editable readout (what a user can do too)."""
    # A slider just enabled from the kernel becomes editable when that state reaches the page.
    readout = slider.locator(".widget-readout[contenteditable=true]")
    readout.wait_for(timeout=15_000)
    readout.click()
    readout.press("Control+a")
    readout.type(str(value))
    readout.press("Enter")


def _changed_fraction(a: Path, b: Path) -> float:
    ia, ib = (cv2.imread(str(p)).astype(int) for p in (a, b))
    return float((np.abs(ia - ib).max(axis=-1) > 30).mean())


@pytest.mark.timeout(300)
def test_demo_notebook_live_in_browser(chromium_path, tmp_path):
    shutil.copy(ROOT / "notebooks" / "demo.ipynb", tmp_path / "demo.ipynb")
    # Tall enough that the whole app (controls, video, 3D, status, plot) is on screen at once.
    with lab_browser(tmp_path, viewport=(1400, 1900)) as lab:
        lab.open_notebook("demo.ipynb")
        lab.run_all_cells(timeout_s=150)
        lab.page.wait_for_function("() => __pose3d.images.length > 10 && __pose3d.clears.length > 10",
                                   timeout=60_000)
        assert not lab.widget_errors(), lab.widget_errors()
        # The page's kernel websocket got TCP_NODELAY (pose3d_nb.lab_websocket, as `pose3d demo`).
        assert "sends with TCP_NODELAY" in lab.server_log.read_text(errors="replace"), lab.server_log_tail()
        app_out = lab.page.locator(APP_OUTPUT).first
        canvas = lab.webgl_canvas()
        box = canvas.bounding_box()
        assert box["width"] > 100 and box["height"] > 100, box

        # ---- live rates and kernel responsiveness while the engine runs ---------------------
        # The engine's own rate over the same seconds as the views' (its frame rate varies: the
        # people detector sweeps for newcomers every 10 frames).
        processed, since = int(_kernel_value(lab, "app.engine.stats().processed")), time.monotonic()
        rates = lab.rates(6.0)
        processed = int(_kernel_value(lab, "app.engine.stats().processed")) - processed
        fps = processed / (time.monotonic() - since)
        responses = [lab.execute("_ = sum(range(10000))")["ms"] for _ in range(8)]
        shown = int(_kernel_value(lab, "app.frames_shown"))
        display = _kernel_value(lab, "{k: round(v, 1) for k, v in app.display_stats().items()}")
        print(f"\n[demo] 3D draws/s {rates['draws_per_s']:.1f}, image updates/s {rates['images_per_s']:.1f}, "
              f"widget messages page->kernel/s {rates['to_kernel_per_s']:.1f}, "
              f"kernel response to a cell median {np.median(responses):.0f} ms (max {max(responses):.0f}), "
              f"engine {fps:.1f} fps over the same seconds, frames shown {shown}, kernel display {display}")

        # ---- the 3D view and the image change ----------------------------------------------
        a = lab.screenshot("demo_canvas_a.png", locator=canvas)
        img_a = lab.page.locator(f"{APP_OUTPUT} img.widget-image").first.get_attribute("src")
        # 800 ms is several draws at the engine's usual rate; a slow machine gets up to 10 s.
        for _ in range(12):
            lab.page.wait_for_timeout(800)
            b = lab.screenshot("demo_canvas_b.png", locator=canvas)
            img_b = lab.page.locator(f"{APP_OUTPUT} img.widget-image").first.get_attribute("src")
            changed = _changed_fraction(a, b)
            if changed > 0.001 and img_a != img_b:
                break
        lab.screenshot("demo_app.png", locator=app_out)
        readme_shot = ROOT / "docs" / "screenshot.png"
        if not readme_shot.exists() or os.environ.get("POSE3D_UPDATE_SCREENSHOT") == "1":
            # Only on request (or when missing): a new binary every test run would bloat the repo.
            readme_shot.parent.mkdir(exist_ok=True)
            shutil.copy(ARTIFACTS / "demo_app.png", readme_shot)
        lab.screenshot("demo_page.png")

        # ---- the shipped temporal lifter: its controls are live and move the 3D -----------------
        assert _kernel_value(lab, "app.engine.lifter_info.temporal") == "True"
        assert "shipped" in _kernel_value(lab, "app.engine.lifter_info.name")
        sliders = app_out.locator(".widget-slider")
        for index in (0, 1):
            assert sliders.nth(index).locator(".noUi-target").get_attribute("disabled") != "true"
        assert app_out.locator("input[type=checkbox]").first.is_enabled()
        # The sample loops every 100 frames: compare each frame's 3D before and after the change,
        # against the loop-to-loop difference with unchanged settings (detector state, drops).
        lab.execute(_SAME_FRAMES)
        lab.execute("import time; time.sleep(4); _before = _mark()")
        assert _kernel_value(lab, "app.engine.window") == "27"
        _set_slider(sliders.nth(0), 1)
        _wait_for_kernel_value(lab, "app.engine.window", "1")
        lab.screenshot("demo_window_1.png", locator=app_out)
        moved = float(_kernel_value(lab, "(time.sleep(4), _moved(_before))[1]"))
        print(f"[demo] window 27 -> 1: the same frames' 3D moved {moved:.1f} mm (same settings: "
              f"{_kernel_value(lab, '_baseline')} mm)")
        # Loop-to-loop differences of a paced file are large and vary from run to run (which frames
        # are dropped changes MediaPipe's tracking): printed, not asserted. Asserted: the same
        # recorded 2D gives another 3D at window 1 than at 27.
        compared, replay = ast.literal_eval(_kernel_value(lab, "_window_effect()"))
        print(f"[demo] same recorded 2D, window 1 vs 27: {replay:.1f} mm mean coordinate difference "
              f"over {compared} of 100 frames")
        assert compared >= 50 and replay > 1.0

        # ---- Stop stops the engine ------------------------------------------------------------
        app_out.locator("button", has_text="Stop").click()
        lab.page.wait_for_function(
            "() => [...document.querySelectorAll('button')].some(b => b.innerText.trim() === 'Start')",
            timeout=20_000)
        assert _kernel_value(lab, "app.engine.running") == "False"
        lab.page.wait_for_timeout(1000)
        c0 = lab.counts()["images"]
        lab.page.wait_for_timeout(1000)
        assert lab.counts()["images"] == c0, "frames still arrive after Stop"
        assert re.search(r"stopped|finished", app_out.inner_text()), app_out.inner_text()

        # ---- a VideoPose3D app: the sliders drive the engine ---------------------------------
        if TINY_CHECKPOINT.is_file():
            lab.append_and_run_cell(
                f"app2 = PoseApp(source='sample', loop=True, pace=True, lifter={str(TINY_CHECKPOINT)!r},"
                " out_dir=None)\napp2.start()\napp2")
            app2 = lab.page.locator(APP_OUTPUT).nth(1)
            app2.locator("canvas").first.wait_for(timeout=30_000)
            assert _kernel_value(lab, "app2.engine.window") == "0"
            app2.locator("label", has_text="full receptive field").locator("input").click()
            _wait_for_kernel_value(lab, "app2.engine.window", "27")  # the slider's value, the RF
            window_slider, lookahead_slider = app2.locator(".widget-slider").nth(0), app2.locator(
                ".widget-slider").nth(1)
            _set_slider(window_slider, 9)
            _wait_for_kernel_value(lab, "app2.engine.window", "9")
            _set_slider(lookahead_slider, 5)
            _wait_for_kernel_value(lab, "app2.engine.lookahead", "5")
            assert _kernel_value(lab, "app2.engine.stats().window") == "9"
            lab.page.wait_for_timeout(1500)
            lab.screenshot("demo_vp3d_app.png", locator=app2)
            assert _kernel_value(lab, "app2.engine.error") == "None"
            assert int(_kernel_value(lab, "app2.engine.stats().processed")) > 10
            app2.locator("button", has_text="Stop").click()
            _wait_for_kernel_value(lab, "app2.engine.running", "False")  # the click reaches the kernel
        else:
            print(f"[demo] {TINY_CHECKPOINT} absent: slider-to-engine check skipped")

        assert not lab.widget_errors(), lab.widget_errors()
        assert not lab.page_errors, lab.page_errors
        console_errors = [m for m in lab.console if m.startswith("error")]
        print(f"[demo] console errors: {console_errors[:5]}")

    assert changed > 0.001, f"the 3D view did not change between screenshots ({changed:.4%} of pixels)"
    assert img_a != img_b, "the live image did not change"
    # The views follow the engine: more than 5 updates a second, or (on a machine where the engine
    # itself runs slower than that) at least 80 % of the engine's own rate in the same window.
    floor = min(5.0, 0.8 * fps)
    assert rates["draws_per_s"] > floor, (rates, fps)
    assert rates["images_per_s"] > floor, (rates, fps)
    assert np.median(responses) < 1000, responses
