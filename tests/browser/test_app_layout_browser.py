"""PoseApp's layout on a narrow page (a laptop's half screen, the file browser open): every
control keeps its size and stays inside the cell's output, the 3D view goes under the video
instead of off the edge; on a wide page the video and the 3D view stay side by side.

Screenshots: ``test-artifacts/app_layout_narrow.png`` and ``app_layout_wide.png``.
"""

from __future__ import annotations

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
