"""The display widgets alone in a real browser: a Skeleton3D and a LiveImage fed from a thread.

No engine: a synthetic skeleton turns on the spot (so the 3D view must change) while the
sample video's frames play in the image with that skeleton projected on them. This proves the
harness and measures what the widgets can carry: 3D draws/s, image updates/s, and how fast the
kernel answers an unrelated request meanwhile.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from pose3d_nb.sources.sample import sample_video_resource

from .harness import lab_browser
from .nbutil import write_notebook

SETUP = """
import threading, time
import cv2, numpy as np, ipywidgets as widgets
from pose3d_nb.skeleton import H36M
from pose3d_nb.ui.live_image import LiveImage
from pose3d_nb.ui.skeleton3d import Skeleton3D
"""

POSE = """
# A 1.8 m person standing on the floor, facing -y (their left is +x), arms swinging.
P = {"pelvis": (0, 0, .95), "right_hip": (-.12, 0, .95), "right_knee": (-.12, 0, .52),
     "right_foot": (-.12, 0, .08), "left_hip": (.12, 0, .95), "left_knee": (.12, 0, .52),
     "left_foot": (.12, 0, .08), "spine": (0, 0, 1.2), "neck": (0, 0, 1.5), "nose": (0, -.1, 1.62),
     "head": (0, 0, 1.8), "left_shoulder": (.19, 0, 1.45), "left_elbow": (.21, 0, 1.17),
     "left_hand": (.22, 0, .9), "right_shoulder": (-.19, 0, 1.45), "right_elbow": (-.21, 0, 1.17),
     "right_hand": (-.22, 0, .9)}
BASE = np.array([P[n] for n in H36M.joint_names])

def pose_at(t):
    j = BASE.copy()
    swing = 0.35 * np.sin(2 * np.pi * 0.7 * t)
    for side, s in (("left", 1), ("right", -1)):
        sh = j[H36M.index(side + "_shoulder")]
        for k, length in ((side + "_elbow", .28), (side + "_hand", .55)):
            j[H36M.index(k)] = sh + length * np.array([0, s * np.sin(swing), -np.cos(swing)])
    a = 0.6 * t  # turn on the spot
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    return j @ rot.T

# H36M -> COCO-17 (eyes/ears placed around the nose) for a projected 2D overlay.
H2C = [9, 9, 9, 10, 10, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3]
def project(j3, w, h):
    kp = np.stack([w / 2 + j3[H2C, 0] * h / 2.2, h * 0.95 - j3[H2C, 2] * h / 2.2], 1)
    kp[1:5, 0] += [-8, 8, -16, 16]
    return kp
"""

RUN = """
cap = cv2.VideoCapture(SAMPLE_PATH)
frames = []
while len(frames) < 100:
    ok, f = cap.read()
    if not ok:
        break
    frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
cap.release()
sk, live = Skeleton3D(width=480, height=480), LiveImage(max_width=480)
stop = threading.Event()
sent = {"n": 0}
def loop():
    t0 = time.monotonic()
    while not stop.is_set() and time.monotonic() - t0 < 120:
        t = time.monotonic() - t0
        img = frames[int(t * 30) % len(frames)]
        j3 = pose_at(t)
        sk.update(j3)
        live.show(img, project(j3, img.shape[1], img.shape[0]), np.ones(17))
        sent["n"] += 1
        time.sleep(max(0.0, 1 / 30 - (time.monotonic() - t0 - t)))
worker = threading.Thread(target=loop, daemon=True)
clicks = []
live.on_click(lambda x, y: clicks.append((round(x), round(y))))
display(widgets.HBox([live.widget, sk.widget]))
worker.start()
"""


def _colour_fraction(png: Path, rgb: tuple[int, int, int], tol: int = 60) -> float:
    img = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB).astype(int)
    return float((np.abs(img - np.array(rgb)).max(axis=-1) < tol).mean())


@pytest.mark.timeout(240)
def test_skeleton3d_and_live_image_update_live_in_jupyterlab(chromium_path, tmp_path):
    from pose3d_nb.ui.style import LEFT_RGB, RIGHT_RGB

    sample = Path(str(sample_video_resource()))  # the bundled sample: never skipped
    write_notebook(tmp_path / "widgets.ipynb", [
        textwrap.dedent(SETUP), textwrap.dedent(POSE),
        f"SAMPLE_PATH = {str(sample)!r}\n" + textwrap.dedent(RUN),
    ])
    with lab_browser(tmp_path) as lab:
        lab.open_notebook("widgets.ipynb")
        lab.run_all_cells()
        lab.page.wait_for_function("() => __pose3d.images.length > 10 && __pose3d.clears.length > 10",
                                   timeout=60_000)
        assert not lab.widget_errors(), lab.widget_errors()
        canvas = lab.webgl_canvas()
        rates = lab.rates(6.0)
        responses = [lab.execute("print(sum(range(1000)))")["ms"] for _ in range(5)]
        a = lab.screenshot("widgets_canvas_a.png", locator=canvas)
        lab.page.wait_for_timeout(700)
        b = lab.screenshot("widgets_canvas_b.png", locator=canvas)
        lab.screenshot("widgets_page.png")
        # A click on the image reaches the kernel as a pixel of the full-size frame.
        image = lab.page.locator("img.widget-image").first
        box = image.bounding_box()
        lab.page.mouse.click(box["x"] + 0.25 * box["width"], box["y"] + 0.75 * box["height"])
        lab.page.wait_for_timeout(1500)
        clicked = json.loads(lab.execute("import json; print(json.dumps([clicks, live.frame_size]))")["out"])
        sent = lab.execute("stop.set(); worker.join(2); print(sent['n'])")["out"]
        print(f"\n[widgets] 3D draws/s {rates['draws_per_s']:.1f}, "
              f"image updates/s {rates['images_per_s']:.1f}, "
              f"widget messages page->kernel/s {rates['to_kernel_per_s']:.1f}, "
              f"kernel response ms median {np.median(responses):.0f} (max {max(responses):.0f}), "
              f"frames sent by the thread {sent.strip()}")
        assert lab.execute("print(40 + 2)")["out"].strip() == "42"
        errors = [e for e in lab.page_errors]
        assert not errors, errors

    (click,), (width, height) = clicked
    assert abs(click[0] - 0.25 * width) <= 0.02 * width, clicked
    assert abs(click[1] - 0.75 * height) <= 0.02 * height, clicked

    ia, ib = (cv2.imread(str(p)).astype(int) for p in (a, b))
    changed = float((np.abs(ia - ib).max(axis=-1) > 30).mean())
    assert changed > 0.001, f"the 3D view did not change between screenshots ({changed:.4%} pixels)"
    # The skeleton is drawn in both side colours (left blue, right orange).
    assert _colour_fraction(a, LEFT_RGB) > 1e-4 and _colour_fraction(a, RIGHT_RGB) > 1e-4
    assert rates["draws_per_s"] > 5, rates
    assert rates["images_per_s"] > 5, rates
    # Showing frames must not make the page answer each one (pythreejs state changes would).
    assert rates["to_kernel_per_s"] < 1, rates
    assert np.median(responses) < 1000, responses
