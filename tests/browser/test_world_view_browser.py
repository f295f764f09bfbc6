"""The world-grounded 3D view in a real browser: a person walking across the room in front of the
recording camera, with the pelvis trail and the camera's frustum, another person dimmed behind,
and the view following them when they walk off the grid.

The screenshot of the view is ``test-artifacts/world_view.png``; with ``POSE3D_WRITE_DOCS=1`` it
also replaces ``docs/world_view.png`` (the picture the README shows).
"""

from __future__ import annotations

import os
import shutil
import textwrap

import cv2
import numpy as np
import pytest

from .harness import ROOT, lab_browser
from .nbutil import write_notebook

SETUP = """
import threading, time
import numpy as np
from pose3d_nb.skeleton import H36M
from pose3d_nb.ui.skeleton3d import Skeleton3D

def walker(t, x0=-1.0, speed=1.2, y=3.4):
    # Walking along +x (left at +y), 3.4 m in front of the camera: legs and arms swing once a stride.
    J = {}
    step = 2 * np.pi * t  # one stride a second
    p = np.array([x0 + speed * t, y + 0.03 * np.sin(step), 0.95 + 0.02 * np.cos(2 * step)])
    J["pelvis"], J["spine"] = p, p + (0.02, 0, 0.24)
    J["neck"] = p + (0.04, 0, 0.5)
    J["nose"], J["head"] = J["neck"] + (0.1, 0, 0.13), J["neck"] + (0.02, 0, 0.27)
    for side, lat, phase in (("left", 1, 0.0), ("right", -1, np.pi)):
        swing = 0.4 * np.sin(step + phase)
        bend = 0.6 * max(0.0, np.cos(step + phase))  # the knee bends as the leg swings forward
        hip = p + (0, 0.12 * lat, 0)
        knee = hip + 0.43 * np.array([np.sin(swing), 0, -np.cos(swing)])
        foot = knee + 0.44 * np.array([np.sin(swing - bend), 0, -np.cos(swing - bend)])
        arm = -0.5 * swing
        shoulder = J["neck"] + (0, 0.18 * lat, -0.05)
        elbow = shoulder + 0.28 * np.array([np.sin(arm), 0, -np.cos(arm)])
        hand = elbow + 0.25 * np.array([np.sin(arm + 0.4), 0, -np.cos(arm + 0.4)])
        J.update({f"{side}_hip": hip, f"{side}_knee": knee, f"{side}_foot": foot,
                  f"{side}_shoulder": shoulder, f"{side}_elbow": elbow, f"{side}_hand": hand})
    return np.array([J[n] for n in H36M.joint_names])
"""

RUN = """
sk = Skeleton3D(width=640, height=480)
# The recording camera as the world grounding estimates it: 1.4 m up, looking 12 degrees down.
sk.set_camera(pitch_deg=12.0, roll_deg=1.5, height_m=1.4, fov_deg=65.0, aspect=16 / 9)
done = threading.Event()

def walk(t0, t1):
    done.clear()
    def run():
        for t in np.arange(t0, t1, 1 / 30):
            # A second person strolls behind: drawn dimmed beside the followed one.
            sk.update(walker(t), timestamp=t, others=walker(t, x0=-1.8, speed=0.5, y=4.6)[None])
            time.sleep(1 / 30)
        done.set()
    threading.Thread(target=run, daemon=True).start()

display(sk.widget)
walk(0.0, 1.6)
"""


def _fraction(img: np.ndarray, rgb01: tuple[float, float, float], tol: int = 40) -> float:
    rgb = np.array(rgb01) * 255
    return float((np.abs(img[..., ::-1].astype(int) - rgb).max(axis=-1) < tol).mean())


def _greenish(img: np.ndarray) -> float:
    """Fraction of pixels in the trail's hue (any stage of its fade): clearly more green than red or blue."""
    b, g, r = (img[..., i].astype(int) for i in range(3))
    return float(((g > r + 40) & (g > b + 20)).mean())


def _wait_done(lab, timeout_s: float = 60.0) -> None:
    lab.page.wait_for_function("() => true")  # page alive
    for _ in range(int(timeout_s * 4)):
        if lab.execute("print(done.is_set())")["out"].strip() == "True":
            return
        lab.page.wait_for_timeout(250)
    raise AssertionError("the walk did not finish")


@pytest.mark.timeout(240)
def test_world_view_shows_the_trail_the_camera_and_follows_the_person(chromium_path, tmp_path):
    from pose3d_nb.ui.skeleton3d import FRUSTUM_RGB, OTHERS_RGB
    from pose3d_nb.ui.style import side_rgb01

    write_notebook(tmp_path / "world.ipynb", [textwrap.dedent(SETUP), textwrap.dedent(RUN)])
    with lab_browser(tmp_path) as lab:
        lab.open_notebook("world.ipynb")
        lab.run_all_cells()
        _wait_done(lab)
        lab.page.wait_for_timeout(500)
        assert not lab.widget_errors(), lab.widget_errors()
        canvas = lab.webgl_canvas()
        shot = lab.screenshot("world_view.png", locator=canvas)
        first = lab.execute("print(sk.view_centre)")["out"].strip()
        # Walk on, off the grid: the view recentres on the person.
        lab.execute("walk(1.6, 6.5)")
        _wait_done(lab)
        lab.page.wait_for_timeout(500)
        followed = lab.screenshot("world_view_followed.png", locator=canvas)
        last = lab.execute("print(sk.view_centre)")["out"].strip()
        assert not lab.page_errors, lab.page_errors
        warnings = [line for line in lab.console if "PoseFeed" in line]
        assert not warnings, warnings
    print(f"\n[world view] view centre after the first walk: {first}; after walking on: {last}")
    if os.environ.get("POSE3D_WRITE_DOCS") == "1":
        shutil.copy(shot, ROOT / "docs" / "world_view.png")

    img = cv2.imread(str(shot))
    print({"trail": _greenish(img), "frustum": _fraction(img, FRUSTUM_RGB),
           "left": _fraction(img, side_rgb01("left")), "others": _fraction(img, OTHERS_RGB, tol=20)})
    assert _fraction(img, OTHERS_RGB, tol=20) > 1e-4, "the other person is not drawn"
    assert _greenish(img) > 5e-4, "no trail in the view"
    assert _fraction(img, FRUSTUM_RGB) > 2e-4, "no camera frustum in the view"
    for side in ("left", "right"):
        assert _fraction(img, side_rgb01(side)) > 1e-4, f"no {side} side of the skeleton"
    # First halfway between the camera (0, 0) and the person (-1.0, 3.4); then on the person at
    # x = 2.25, 4.25 and 6.25 m (each time 2.25 m from the centre: the grid's edge less the margin).
    assert (first, last) == ("(0.0, 2.0)", "(6.0, 3.0)")
    img = cv2.imread(str(followed))
    for side in ("left", "right"):
        assert _fraction(img, side_rgb01(side)) > 1e-4, f"the person left the view ({side} side missing)"
