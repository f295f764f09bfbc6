"""PoseApp's layout on a narrow page (a laptop's half screen, the file browser open): every
control keeps its size and stays inside the cell's output, the 3D view goes under the video
instead of off the edge; on a wide page the video and the 3D view stay side by side.

Screenshots: ``test-artifacts/app_layout_narrow.png`` and ``app_layout_wide.png``.

The app running on the sample: the empty 3D view before Start shows the grid alone, Stop leaves
the views where they were, and "reset view" brings an orbited and zoomed view back. Screenshots:
``test-artifacts/app_view_before_start.png``, ``app_stopped.png``, ``app_view_default.png``,
``app_view_orbited.png`` and ``app_view_reset.png``.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from .harness import lab_browser
from .nbutil import write_notebook

APP = ".jp-OutputArea-output:has(canvas[data-pose3d-webgl])"

# Boxes (page pixels) of the output area, the controls and the two views.
MEASURE = """(sel) => {
  const out = document.querySelector(sel);
  const box = (e) => { const r = e.getBoundingClientRect();
                       return {left: r.left, right: r.right, top: r.top, width: r.width, height: r.height}; };
  const button = out.querySelector('button');
  return {
    output: box(out),
    button: {...box(button), clipped: button.scrollWidth > button.clientWidth + 1,
             text: button.innerText.trim()},
    controls: [...out.querySelectorAll(
        '.widget-slider, .widget-checkbox, .widget-dropdown, .widget-combobox, button')]
      .map(e => ({cls: e.className.split(' ').find(c => c.startsWith('widget-')) || e.tagName, ...box(e)})),
    sliders: [...out.querySelectorAll('.widget-slider .slider-container')].map(box),
    image: box(out.querySelector('img')),
    canvas: box(out.querySelector('canvas[data-pose3d-webgl]')),
  };
}"""


def _measure(lab) -> dict:
    lab.page.locator(APP).first.scroll_into_view_if_needed()
    lab.page.wait_for_timeout(500)  # the relayout after a viewport change
    return lab.page.evaluate(MEASURE, APP)


@pytest.mark.timeout(240)
def test_app_controls_and_views_fit_a_narrow_page(chromium_path, tmp_path):
    write_notebook(tmp_path / "app.ipynb", [
        "from pose3d_nb.ui.app import PoseApp\napp = PoseApp(source='sample', out_dir=None)\napp"])
    with lab_browser(tmp_path, viewport=(900, 700)) as lab:
        lab.open_notebook("app.ipynb")
        lab.run_all_cells()
        lab.page.locator(f"{APP} img").first.wait_for(timeout=30_000)
        # Before Start the video area is a drawn placeholder, not a broken-image icon.
        before_start = lab.page.evaluate(
            "(sel) => { const i = document.querySelector(sel + ' img');"
            " return {loaded: i.complete && i.naturalWidth > 0, src: i.src.slice(0, 20)}; }", APP)
        narrow = _measure(lab)
        lab.screenshot("app_layout_narrow.png", locator=lab.page.locator(APP).first)
        lab.page.set_viewport_size({"width": 1000, "height": 700})
        laptop = _measure(lab)
        lab.page.set_viewport_size({"width": 1600, "height": 1000})
        wide = _measure(lab)
        lab.screenshot("app_layout_wide.png", locator=lab.page.locator(APP).first)
        assert not lab.widget_errors(), lab.widget_errors()
        assert not lab.page_errors, lab.page_errors

    assert before_start["loaded"], before_start
    out = narrow["output"]
    assert narrow["button"]["text"] == "Start" and not narrow["button"]["clipped"], narrow["button"]
    assert narrow["button"]["width"] > 60, narrow["button"]
    for control in narrow["controls"]:  # none pushed past the output's right edge
        assert control["right"] <= out["right"] + 1, (control, out)
    assert len(narrow["sliders"]) == 2
    for track in narrow["sliders"]:  # the slider tracks keep a usable length
        assert track["width"] > 80, narrow["sliders"]
    # The 3D view goes under the video rather than half off the edge (its width is fixed: 480 px,
    # 12 px more than this output, so it fits whole from a slightly wider page on).
    image, canvas = narrow["image"], narrow["canvas"]
    assert canvas["top"] >= image["top"] + image["height"] - 1, (image, canvas)
    assert image["width"] > 300, image
    assert laptop["canvas"]["right"] <= laptop["output"]["right"] + 1, (laptop["canvas"], laptop["output"])
    # Wide: the 3D view beside the video, as before.
    assert wide["canvas"]["left"] >= wide["image"]["right"] - 1, (wide["image"], wide["canvas"])
    assert abs(wide["canvas"]["top"] - wide["image"]["top"]) < 5, (wide["image"], wide["canvas"])


# The 3D view's offset in the app's output and the status line's height (page pixels).
OFFSETS = """(sel) => {
  const out = document.querySelector(sel).getBoundingClientRect();
  const canvas = document.querySelector(sel + ' canvas[data-pose3d-webgl]').getBoundingClientRect();
  const img = document.querySelector(sel + ' img').getBoundingClientRect();
  return {canvas_top: canvas.top - out.top, image_top: img.top - out.top,
          text: document.querySelector(sel).innerText};
}"""


def _changed(a, b) -> float:
    """Fraction of pixels that differ clearly between two screenshots."""
    ia, ib = (cv2.imread(str(p)).astype(int) for p in (a, b))
    return float((np.abs(ia - ib).max(axis=-1) > 30).mean())


@pytest.mark.timeout(300)
def test_app_on_the_sample_stop_keeps_the_layout_and_reset_view_undoes_an_orbit(chromium_path, tmp_path):
    write_notebook(tmp_path / "app.ipynb", [
        "from pose3d_nb.ui.app import PoseApp\n"
        "app = PoseApp(source='sample', out_dir=None, loop=True, pace=True)\napp"])
    with lab_browser(tmp_path, viewport=(1400, 1100)) as lab:
        lab.open_notebook("app.ipynb")
        lab.run_all_cells()
        lab.page.locator(f"{APP} img").first.wait_for(timeout=30_000)
        lab.page.wait_for_timeout(1000)
        canvas = lab.webgl_canvas()
        empty = lab.screenshot("app_view_before_start.png", locator=canvas)
        lab.execute("app.start()")
        lab.page.wait_for_function(
            "(sel) => document.querySelector(sel).innerText.includes('following person 1')", arg=APP,
            timeout=60_000)
        assert lab.execute("import time; time.sleep(2); print(app.view3d.camera_shown is not None)"
                           )["out"].strip() == "True"
        running = lab.page.evaluate(OFFSETS, APP)
        lab.execute("app.stop()")
        lab.page.wait_for_function("(sel) => document.querySelector(sel).innerText.includes('stopped')",
                                   arg=APP, timeout=10_000)
        lab.page.wait_for_timeout(1500)  # the shown pose stored, the status refreshed
        stopped = lab.page.evaluate(OFFSETS, APP)
        lab.screenshot("app_stopped.png", locator=lab.page.locator(APP).first)
        canvas.scroll_into_view_if_needed()
        default = lab.screenshot("app_view_default.png", locator=canvas)
        # Orbit by dragging across the view, then zoom in with the wheel.
        box = canvas.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        lab.page.mouse.move(x, y)
        lab.page.mouse.down()
        for step in range(1, 11):
            lab.page.mouse.move(x + 15 * step, y - 6 * step)
            lab.page.wait_for_timeout(30)
        lab.page.mouse.up()
        lab.page.mouse.wheel(0, -400)
        lab.page.wait_for_timeout(1000)
        orbited = lab.screenshot("app_view_orbited.png", locator=canvas)
        lab.page.locator(f"{APP} button:has-text('reset view')").click()
        lab.page.wait_for_timeout(1000)
        reset = lab.screenshot("app_view_reset.png", locator=canvas)
        view = lab.execute("v = app.view3d; print(v.camera.position == v._home['position'], "
                           "tuple(v.controls.target))")["out"].strip()
        assert not lab.widget_errors(), lab.widget_errors()
        assert not lab.page_errors, lab.page_errors

    # Before Start: the grid on the background, nothing coloured (a lone blue axis stood there).
    img = cv2.imread(str(empty)).astype(int)
    coloured = int((img.max(axis=-1) - img.min(axis=-1) > 40).sum())
    assert coloured == 0, f"{coloured} coloured pixels in the empty view"
    # Stop: the follow line stays (whom it followed), so the views stay where they were.
    assert stopped["canvas_top"] == running["canvas_top"], (running, stopped)
    assert stopped["image_top"] == running["image_top"], (running, stopped)
    assert "last followed person 1" in stopped["text"], stopped["text"]
    # The orbit moved the view; the reset brought back the very same picture.
    print(f"\n[reset view] pixels changed by the orbit {_changed(default, orbited):.2%}, "
          f"left changed after the reset {_changed(default, reset):.3%}")
    assert _changed(default, orbited) > 0.02
    assert _changed(default, reset) < 0.002
    assert view == "True (0.0, 0.0, 0.0)", view
