"""The browser camera end to end: Chromium's fake webcam -> BrowserCamera -> PoseEngine.

Chromium serves a y4m file as its webcam (FACTS.md, "Browser camera in tests"); the file is
made from the bundled sample at 640x480 in a temp dir. A generated notebook displays the
camera widget (and the 3D skeleton view), runs a PoseEngine on ``BrowserCameraSource`` with
the default detector, and the test checks through the kernel that frames arrive, the person is
found and the 3D joints move; it measures delivered frames/s and capture -> kernel latency.
The same session stalls the kernel (a sleeping cell) to see the "kernel disconnected" state and
that no backlog builds up, and hides the tab (simulated: headless Chromium is always visible).
A second browser without the fake permission UI checks the permission-denied path.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from .harness import ROOT, lab_browser
from .nbutil import write_notebook

SAMPLE = ROOT / "pose3d_nb" / "data" / "single_person_balance_540x960.mp4"
CAMERA_SELECTOR = ".pose3d-browser-camera"


def write_y4m(video: Path, out: Path, size: tuple[int, int] = (640, 480), frames: int = 100) -> int:
    """Write ``frames`` frames of ``video`` as a y4m webcam file, letterboxed into ``size``.

    A landscape webcam image with the (portrait) person in the middle, like a real laptop
    camera; y4m = a header line, then per frame ``FRAME\\n`` and the I420 planes.
    """
    w, h = size
    cap = cv2.VideoCapture(str(video))
    written = 0
    try:
        with open(out, "wb") as f:
            f.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode())
            while written < frames:
                ok, bgr = cap.read()
                if not ok:
                    break
                scale = min(w / bgr.shape[1], h / bgr.shape[0])
                fw, fh = round(bgr.shape[1] * scale), round(bgr.shape[0] * scale)
                canvas = np.full((h, w, 3), 90, np.uint8)
                x, y = (w - fw) // 2, (h - fh) // 2
                canvas[y:y + fh, x:x + fw] = cv2.resize(bgr, (fw, fh), interpolation=cv2.INTER_AREA)
                f.write(b"FRAME\n")
                f.write(cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420).tobytes())
                written += 1
    finally:
        cap.release()
    return written


@pytest.fixture(scope="module")
def fake_webcam(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("webcam") / "webcam_640x480.y4m"
    assert write_y4m(SAMPLE, path) == 100
    return path


def camera_flags(y4m: Path, grant: bool = True) -> list[str]:
    flags = ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={y4m}"]
    # The fake UI answers the permission prompt with "allow"; without it headless Chromium denies.
    return [*flags, "--use-fake-ui-for-media-stream"] if grant else flags


def camera_state(lab) -> str:
    return lab.page.evaluate(f"() => document.querySelector('{CAMERA_SELECTOR}')?.dataset.state ?? 'none'")


def wait_camera_state(lab, state: str, timeout_s: float) -> None:
    lab.page.wait_for_function(
        f"() => document.querySelector('{CAMERA_SELECTOR}')?.dataset.state === {json.dumps(state)}",
        timeout=timeout_s * 1000, polling=100)


def kernel_json(lab, code: str) -> dict:
    """Run ``code`` (which prints one JSON line last) in the notebook's kernel."""
    out = lab.execute(textwrap.dedent(code))["out"]
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise AssertionError(f"kernel said: {out}") from None


ENGINE_SETUP = """
import json, threading, time
import numpy as np
import ipywidgets as widgets
from pose3d_nb.browser_camera import BrowserCamera, BrowserCameraSource
from pose3d_nb.engine import PoseEngine

camera = BrowserCamera(width=640, height=480, fps=30, preview_width=320)
source = BrowserCameraSource(camera, timeout=20)
engine = PoseEngine(source=source, out_dir=OUT_DIR)
# Every message from the browser, for the back-pressure check: (type, id, latency ms, arrival).
messages = []
camera.on_msg(lambda _w, c, _b: messages.append(
    (c.get("type"), c.get("id"), time.time() * 1000 - c.get("t_capture", float("nan")), time.monotonic())))
try:
    from pose3d_nb.ui.skeleton3d import Skeleton3D
    view3d = Skeleton3D(width=320, height=320)
except ImportError:
    view3d = None
"""

ENGINE_RUN = """
stop_view = threading.Event()
def feed_view():
    last = None
    while not stop_view.is_set():
        view = engine.latest_view()
        if view is not None and view is not last and view.joints_3d is not None:
            view3d.update(view.joints_3d if view.joints_valid else None)
            last = view
        stop_view.wait(1 / 15)
display(widgets.HBox([camera, view3d.widget]) if view3d else camera)
engine.start()
if view3d:
    threading.Thread(target=feed_view, daemon=True).start()
"""

PROGRESS = """
s = engine.stats()
print(json.dumps({"processed": s.processed, "error": s.error, "state": camera.state,
                  "received": camera.stats().frames_received}))
"""

# Rates are measured between two requests, not inside one: frames arrive only between cells.
MEASURE_START = """
c0, t0, e0 = camera.stats().frames_received, time.monotonic(), engine.stats().processed
n0 = engine.buffer.total_appended
print(json.dumps({"received": c0}))
"""

MEASURE_END = """
c1, t1 = camera.stats().frames_received, time.monotonic()
cs, es = camera.stats(), engine.stats()
snap = engine.buffer.snapshot()  # one consistent copy (the engine appends meanwhile)
# The rows of the measured seconds: the camera's first frames (blank while the fake device
# starts, longer on a busy machine) are no frames of the person.
since = max(0, min(len(snap.valid), engine.buffer.total_appended - n0))
valid = snap.valid[len(snap.valid) - since:]
moving = snap.joints_3d[len(snap.valid) - since:][valid]
print(json.dumps({
    "fps_delivered": (c1 - c0) / (t1 - t0), "engine_fps_window": (es.processed - e0) / (t1 - t0),
    "latency_ms_median": cs.latency_ms_median, "latency_ms_p95": cs.latency_ms_p95,
    "encode_ms_median": cs.encode_ms_median, "rtt_ms_median": cs.rtt_ms_median,
    "browser_skipped": cs.browser_skipped, "kernel_replaced": cs.kernel_replaced,
    "kb_per_frame": cs.kb_per_frame, "size": cs.size, "received": cs.frames_received,
    "read": cs.frames_read, "engine": {"processed": es.processed, "fps": es.fps, "dropped": es.dropped,
    "latency_ms_median": es.latency_ms_median, "frames_in": es.frames_in, "lifter": es.lifter,
    "error": es.error},
    "valid_fraction": float(valid.mean()) if len(valid) else 0.0,
    "joint_motion_m": float(np.nanmax(np.nanstd(moving, axis=0))) if len(moving) > 1 else 0.0,
    "frames_differ": bool(len(moving) > 1 and not np.allclose(moving[0], moving[-1])),
}))
"""


@pytest.mark.timeout(180)
def test_engine_runs_live_on_the_browser_camera(chromium_path, tmp_path, fake_webcam):
    out_dir = tmp_path / "out"
    write_notebook(tmp_path / "camera.ipynb", [
        f"OUT_DIR = {str(out_dir)!r}\n" + ENGINE_SETUP.strip(), ENGINE_RUN.strip()])
    with lab_browser(tmp_path, chromium_args=camera_flags(fake_webcam)) as lab:
        lab.open_notebook("camera.ipynb")
        lab.run_all_cells()
        assert not lab.widget_errors(), lab.widget_errors()
        wait_camera_state(lab, "streaming", 30)

        # ---- the engine gets frames, finds the person, the 3D joints move ----------------------
        progress: dict = {}
        for _ in range(90):
            progress = kernel_json(lab, PROGRESS)
            assert progress["error"] is None, progress
            if progress["processed"] >= 60:
                break
            lab.page.wait_for_timeout(1000)
        assert progress["processed"] >= 60, progress
        kernel_json(lab, MEASURE_START)
        lab.page.wait_for_timeout(5000)
        m = kernel_json(lab, MEASURE_END)
        print(f"\n[browser camera 640x480] delivered {m['fps_delivered']:.1f} frames/s while the engine ran "
              f"({m['engine_fps_window']:.1f} poses/s); capture -> kernel latency median "
              f"{m['latency_ms_median']:.1f} ms, p95 {m['latency_ms_p95']:.1f} ms (JPEG encode "
              f"{m['encode_ms_median']:.1f} ms, round trip {m['rtt_ms_median']:.1f} ms, "
              f"{m['kb_per_frame']:.0f} KB/frame); skipped in browser {m['browser_skipped']}, "
              f"replaced in kernel {m['kernel_replaced']}; person found in {m['valid_fraction']:.0%} of the "
              f"measured seconds' rows; engine {m['engine']}")
        assert m["size"] == [640, 480]
        # At least 8 frames/s, or, on a machine where the engine takes fewer, 80 % of what it takes:
        # with one frame in flight the browser sends what the kernel consumes. For the same reason
        # a frame waits at most about one delivery period: under 150 ms, or 1.5 periods.
        assert m["fps_delivered"] >= min(8.0, 0.8 * m["engine_fps_window"]), m
        assert m["latency_ms_median"] < max(150.0, 1500.0 / m["fps_delivered"]), m
        assert m["valid_fraction"] >= 0.8, m  # the person is found in the camera frames
        assert m["frames_differ"] and m["joint_motion_m"] > 0.01, m  # and moves in 3D
        assert (out_dir / "joints.npy").exists()
        joints_file = np.load(out_dir / "joints.npy")
        assert joints_file.shape[-2:] == (17, 3) and np.isfinite(joints_file).all()
        lab.screenshot("browser_camera_streaming.png", locator=lab.page.locator(CAMERA_SELECTOR).first)
        lab.screenshot("browser_camera_engine_page.png")
        line = lab.page.locator(f"{CAMERA_SELECTOR} .pose3d-browser-camera-state").first.inner_text()
        assert line.startswith("● streaming 640×480"), line

        # ---- a stalled kernel: the browser says so, keeps one frame in flight, then recovers -----
        # JupyterLab 4.6 + ipykernel 7 handle widget messages on a kernel subshell thread, so a
        # sleeping cell does not stop frames; C code holding the GIL does (libc sleep via PyDLL).
        lab.page.evaluate(
            "() => { window.__stall = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
            ".requestExecute({code: 'import ctypes; STALL_AT = len(messages); ctypes.PyDLL(None).sleep(6)'})"
            ".done; }")
        wait_camera_state(lab, "disconnected", 10)
        state_line = lab.page.locator(f"{CAMERA_SELECTOR} .pose3d-browser-camera-state").first
        disconnected_line = state_line.inner_text()
        lab.screenshot("browser_camera_disconnected.png", locator=lab.page.locator(CAMERA_SELECTOR).first)
        wait_camera_state(lab, "streaming", 15)
        lab.page.wait_for_timeout(1500)
        stall = kernel_json(lab, """
            after = messages[STALL_AT:]
            frames = [m for m in after if m[0] == "frame"]
            stale = [m for m in frames if m[2] > 2500]
            nudges = [m for m in after if m[0] == "nudge" and stale and m[1] == stale[0][1]]
            fresh = frames[frames.index(stale[-1]) + 1:] if stale else frames[1:]
            print(json.dumps({"frames": len(frames), "stale": len(stale), "stale_ms": [m[2] for m in stale],
                              "stale_ids": [m[1] for m in stale], "nudges_for_stale": len(nudges),
                              "fresh_latency": [m[2] for m in fresh[:5]],
                              "state": camera.state, "engine_error": engine.stats().error}))
        """)
        print(f"[kernel stall 6 s] {disconnected_line!r}; afterwards {stall}")
        assert "kernel disconnected" in disconnected_line
        # At most one frame waited through the stall (no queue), then fresh frames again. It is
        # none when the stall began after the kernel had taken the frame but before its ack left
        # (seen on a loaded machine): then the ack, not a frame, was what the browser waited for.
        # It looks like two when the stall began after the camera had acked a frame but before this
        # test's own handler (which runs after the camera's) recorded it: that frame is recorded
        # late, and the next one, sent on its ack, is the one that waited (seen in CI under load:
        # ids n and n + 1, 6047 and 6018 ms). A queue would leave a frame per capture period.
        stale_ids = stall["stale_ids"]
        assert len(stale_ids) <= 1 or stale_ids == [stale_ids[0], stale_ids[0] + 1], stall
        assert stall["frames"] >= 5, stall
        assert stall["nudges_for_stale"] <= 6, stall
        assert max(stall["fresh_latency"]) < 1000, stall
        assert stall["state"] == "streaming" and stall["engine_error"] is None, stall

        # ---- a hidden tab pauses sending and resumes when visible ------------------------------
        # Headless Chromium's pages are always "visible" (minimising or another tab in front does
        # not change it), so the page's visibility is overridden and the real event dispatched.
        lab.page.evaluate("""() => {
            Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
            Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
            document.dispatchEvent(new Event('visibilitychange')); }""")
        wait_camera_state(lab, "hidden", 5)
        lab.page.wait_for_timeout(500)
        hidden = []
        for _ in range(2):
            lab.page.wait_for_timeout(1500)
            hidden.append(kernel_json(lab, PROGRESS))
        lab.screenshot("browser_camera_hidden.png", locator=lab.page.locator(CAMERA_SELECTOR).first)
        lab.page.evaluate("""() => { delete document.hidden; delete document.visibilityState;
            document.dispatchEvent(new Event('visibilitychange')); }""")
        wait_camera_state(lab, "streaming", 5)
        for _ in range(20):  # 1.5 s at this test's usual rate; up to 10 s on a slow machine
            lab.page.wait_for_timeout(500)
            resumed = kernel_json(lab, PROGRESS)
            if resumed["received"] > hidden[1]["received"] + 10:
                break
        print(f"[hidden tab] {hidden} -> resumed {resumed}")
        assert hidden[0]["state"] == "hidden" and hidden[1]["received"] == hidden[0]["received"], hidden
        assert resumed["received"] > hidden[1]["received"] + 10, (hidden, resumed)

        lab.execute("stop_view.set(); engine.stop()")
        assert (out_dir / "session.npz").exists()

        # ---- a kernel restart: acks stop for good, the widget says to re-run the cell ----------
        lab.page.evaluate("() => jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()")
        wait_camera_state(lab, "disconnected", 15)
        restart_line = state_line.inner_text()
        lab.screenshot("browser_camera_after_restart.png", locator=lab.page.locator(CAMERA_SELECTOR).first)
        print(f"[kernel restart] {restart_line!r}")
        assert "re-run the cell" in restart_line
        assert not lab.page_errors, lab.page_errors


DENIED_NOTEBOOK = """
import json, time
from pose3d_nb.browser_camera import BrowserCamera, BrowserCameraSource
from pose3d_nb.engine import PoseEngine
from pose3d_nb.sources import SourceError
camera = BrowserCamera()
source = BrowserCameraSource(camera)
camera
"""

DENIED_CHECK = """
try:
    next(source)
    raised = None
except SourceError as exc:
    raised = str(exc)
engine = PoseEngine(source=BrowserCameraSource(camera), out_dir=None)
engine.start()
engine.wait(30)
print(json.dumps({"state": camera.state, "error": camera.error, "raised": raised,
                  "engine_error": engine.stats().error}))
"""


@pytest.mark.timeout(120)
def test_permission_denied_is_shown_and_raises_source_error(chromium_path, tmp_path, fake_webcam):
    write_notebook(tmp_path / "denied.ipynb", [DENIED_NOTEBOOK.strip()])
    # A camera exists (fake device) but the permission prompt is not auto-accepted, and the
    # context grants no camera permission: Chromium answers getUserMedia with NotAllowedError.
    with lab_browser(tmp_path, chromium_args=camera_flags(fake_webcam, grant=False), permissions=[]) as lab:
        lab.open_notebook("denied.ipynb")
        lab.run_all_cells()
        wait_camera_state(lab, "denied", 30)
        widget = lab.page.locator(CAMERA_SELECTOR).first
        text = widget.inner_text()
        lab.screenshot("browser_camera_denied.png", locator=widget)
        # The state reaches the kernel as a trait sync between cells; wait for it there too.
        for _ in range(20):
            if kernel_json(lab, "print(json.dumps({'state': camera.state}))")["state"] == "denied":
                break
            lab.page.wait_for_timeout(250)
        result = kernel_json(lab, DENIED_CHECK)
        print(f"\n[denied] widget: {text!r}\n[denied] kernel: {result}")
        assert "camera permission denied" in text and "NotAllowedError" in text
        assert result["state"] == "denied" and result["error"].startswith("NotAllowedError")
        assert result["raised"] and "permission denied" in result["raised"], result
        assert "Allow the camera for this site" in result["raised"]
        assert "SourceError" in result["engine_error"] and "permission denied" in result["engine_error"]
