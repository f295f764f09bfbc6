"""``PoseApp``: the notebook UI (controls, video, 3D view, plot, status) wired to a ``PoseEngine``.

The engine does all pose work on its own threads. This module only (1) forwards control
changes to the engine and (2) runs one display thread that, at the display rate, reads the
engine's newest view and stats and pushes them into the widgets: latest wins, nothing queues,
so a slow browser never slows the engine and the kernel stays free for the user's cells.
"""

from __future__ import annotations

import collections
import html
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np

from pose3d_nb.errors import Pose3DRuntimeError, Pose3DTypeError, Pose3DValueError
from pose3d_nb.rates import RateMeter, percentile
from pose3d_nb.settings import FROM_SETTINGS, LONGEST_RECEPTIVE_FIELD, renamed_option
from pose3d_nb.sources.open import BROWSER_CAMERA, is_browser_camera
from pose3d_nb.ui.controls import CONTROL_NAMES, Controls
from pose3d_nb.ui.joint_plot import JointPlot
from pose3d_nb.ui.live_image import LiveImage
from pose3d_nb.ui.skeleton3d import Skeleton3D
from pose3d_nb.ui.throttle import RateLimiter
from pose3d_nb.values import is_positive_number, is_real_number, is_whole_number

log = logging.getLogger(__name__)

#: Why a closed app's controls are off, and what a start of it raises.
_CLOSED = "this app was closed: run its cell again for a new one"

#: Seconds of history the live plot reads from the buffer each refresh (at 60 fps: 1200 rows).
_PLOT_ROWS = 1200

#: Seconds the display thread waits for a new result before refreshing status and plot anyway.
_IDLE_POLL_S = 0.1

#: Seconds a click's "following whoever is at (x, y)" note stays while the engine runs: by then
#: the follower has acted on it, and its own line says whom it follows.
_CLICK_NOTE_S = 2.0

#: A status line with nothing to say that keeps its height (an empty one collapses).
_BLANK_LINE = "&nbsp;"

#: Seconds without a new 3D pose before the shown pose is stored in the widget state (a state
#: change costs a round trip to the page, so never per frame, even for a slow engine).
_STATE_SYNC_AFTER_S = 1.0


def _fmt(value: float | None, spec: str = ".0f", unit: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{unit}"


def status_html(stats: Any, message: str = "") -> str:
    """One status line from ``EngineStats``: state, fps, latency, dropped, detector, lifter, warnings."""
    if stats.error:
        state = "<b style='color:#c62828'>● stopped by an error</b>"
    elif stats.running:
        state = "<b style='color:#2e7d32'>● running</b>"
    elif stats.finished:
        state = "<b>■ finished</b>"
    elif stats.frames_in == 0:  # nothing read yet: no rates to give ("0.0 fps · latency – ms")
        state = "<b style='color:#666'>■ ready: press Start</b>"
    else:
        state = "<b style='color:#666'>■ stopped</b>"
    parts = [state]
    if stats.running or stats.frames_in:
        parts += [
            f"{stats.fps:.1f} fps",
            f"latency {_fmt(stats.latency_ms_median)} ms (p95 {_fmt(stats.latency_ms_p95)})",
            f"processed {stats.processed}",
            f"dropped {stats.dropped}",
        ]
    parts += [f"detector <code>{html.escape(stats.detector)}</code>", f"lifter {html.escape(stats.lifter)}"]
    if stats.stage_ms:
        parts.append("stages " + ", ".join(f"{k} {v:.0f}" for k, v in stats.stage_ms.items()) + " ms")
    lines = [" · ".join(parts)]
    if stats.fallback and stats.hint:
        lines.append(f"<span style='color:#a15c00'>⚠ {html.escape(stats.hint)}</span>")
    if stats.error:
        lines.append(f"<span style='color:#c62828'>{html.escape(stats.error)}</span>")
    if message:
        lines.append(message)
    return "<div style='font-size:90%;line-height:1.5'>" + "<br>".join(lines) + "</div>"


def _check_display_options(rates: dict[str, Any], plot_window_s: Any, sizes: dict[str, Any]) -> None:
    """``PoseApp``'s own options, before an engine is built: the rates are numbers (0 or less:
    no limit, as ``RateLimiter`` takes them), the plot's span a positive number of seconds and
    the sizes whole numbers of pixels >= 1. Raises ``Pose3DValueError`` naming the value
    ("x" was a bare ValueError from inside, a negative view size matplotlib's, a width of 0 taken)."""
    for name, value in rates.items():
        if not is_real_number(value) or np.isnan(value):
            raise Pose3DValueError(f"{name} must be a number of updates a second (0: no limit), "
                                   f"got {value!r}")
    if not is_positive_number(plot_window_s):
        raise Pose3DValueError(f"plot_window_s must be a positive number of seconds, got {plot_window_s!r}")
    for name, value in sizes.items():
        if not is_whole_number(value) or value < 1:
            raise Pose3DValueError(f"{name} must be a whole number of pixels >= 1, got {value!r}")


#: What the app uses of its engine: an object without these is no engine.
_ENGINE_INTERFACE = ("start", "stop", "settings", "lifter_info", "source_name", "set_source",
                     "set_detector", "follow", "stats", "latest_view")


def _check_engine(engine: Any) -> None:
    """``Pose3DTypeError`` for a first argument that is not an engine: a source spec there
    (``PoseApp("sample")``) failed with "'str' object has no attribute 'lifter_info'"."""
    if isinstance(engine, (str, bytes, os.PathLike, int)):
        raise Pose3DTypeError(
            f"PoseApp's first argument is a PoseEngine, got {engine!r}: for a source write "
            f"PoseApp(source={engine!r}), or pass PoseApp(PoseEngine(...))")
    missing = [name for name in _ENGINE_INTERFACE if not hasattr(engine, name)]
    if missing:
        raise Pose3DTypeError(
            f"PoseApp's first argument is a PoseEngine (or an object with its interface), got a "
            f"{type(engine).__name__} without {', '.join(missing)}: pass source=... and the other "
            f"settings by keyword to have one built")


class PoseApp:
    """Live pose UI for one engine.

    ``PoseApp(engine=None, **engine_kwargs)`` builds a ``PoseEngine(**engine_kwargs)`` when no
    engine is given. Show it by leaving ``app`` as a cell's last line (or ``display(app)``).

    For your own cells: ``app.engine``, ``app.buffer`` (the rolling buffer),
    ``app.joints`` ((T, 17, 3) world metres, z up; a copy), ``app.snapshot()``, ``app.wait()``.

    Args:
        engine: a ``PoseEngine`` (or anything with its interface); None builds one from
            ``engine_kwargs`` (settings, source, detector, lifter, window, lookahead, flip,
            out_dir...; ``checkpoint``, the old name of ``lifter``, warns). A source goes by
            keyword: ``PoseApp("sample")`` is refused (``PoseApp(source="sample")``).
        display_hz: most 3D skeleton updates a second (newest pose wins; each is one small
            buffer message, so it can run faster than the video). Each rate: 0 or less, no limit.
        image_hz: most video frames a second (each a JPEG drawn in the kernel).
        plot_hz: most plot redraws a second (each a matplotlib render and a PNG; costs in
            ``docs/benchmarks.md``).
        status_hz: status line refreshes a second (a message is sent only when it changed).
        plot_window_s: the live plot's time span in seconds.
        plot_quantity: the plot's first quantity ("angle:left_knee"; see ``JointPlot``).
        image_width: the video's width in pixels (frames are shrunk to it before encoding).
        view_size: the side of the square 3D view in pixels.
        **engine_kwargs: ``PoseEngine``'s keywords, without ``engine``.

    Raises:
        Pose3DTypeError: engine keywords given together with an engine, or a first argument
            that is not an engine (a source spec: pass ``source=``).
        Pose3DValueError: a rate, span or size that is not a number of its kind (before an
            engine is built), or what ``PoseEngine`` refuses.
    """

    def __init__(self, engine: Any = None, *, display_hz: float = 30.0, image_hz: float = 20.0,
                 plot_hz: float = 2.0,
                 status_hz: float = 2.0, plot_window_s: float = 10.0, plot_quantity: str = "angle:left_knee",
                 image_width: int = 480, view_size: int = 480, **engine_kwargs: Any) -> None:
        _check_display_options({"display_hz": display_hz, "image_hz": image_hz, "plot_hz": plot_hz,
                                "status_hz": status_hz}, plot_window_s,
                               {"image_width": image_width, "view_size": view_size})
        if engine is None:
            from pose3d_nb.engine import PoseEngine

            if "checkpoint" in engine_kwargs:  # warned here, so the warning points at the caller
                engine_kwargs["lifter"] = renamed_option(
                    "PoseApp", "checkpoint", engine_kwargs.pop("checkpoint"), "lifter",
                    engine_kwargs.pop("lifter", FROM_SETTINGS))
            engine = PoseEngine(**engine_kwargs)
        else:
            _check_engine(engine)  # first: PoseApp("sample", loop=True) is a source given by position
            if engine_kwargs:
                raise Pose3DTypeError(f"engine options {sorted(engine_kwargs)} given together with an engine")
        self.engine = engine
        info = engine.lifter_info
        settings = engine.settings
        self.controls = Controls(
            window=settings.window, lookahead=settings.lookahead, flip=settings.flip,
            source=settings.source, sources=("sample", "camera", BROWSER_CAMERA),
            detector=settings.detector, detectors=self._detector_choices(settings.detector),
            max_window=info.receptive_field or LONGEST_RECEPTIVE_FIELD,
            max_lookahead=max(info.max_lookahead, 1),
        )
        # Holds the BrowserCamera widget while that source is chosen: displaying it is what
        # opens the browser's camera; removing it turns the camera off.
        self.camera_slot = widgets.Box()
        self._show_browser_camera(str(engine.source_name))
        self.live = LiveImage(max_width=image_width)
        self.live.widget.layout = widgets.Layout(width=f"{image_width}px", height="auto")
        self.view3d = Skeleton3D(width=view_size, height=view_size)
        # Under the 3D view's right corner, with it wherever it goes: after orbiting or zooming
        # there was no way back to the default view. Its row no wider than the view and the
        # output (on a narrow page the view, of fixed width, overflows a little; the button not).
        self.reset_view_button = widgets.Button(
            description="reset view", icon="undo", layout=widgets.Layout(width="auto"),
            tooltip="back to the default 3D view (after orbiting or zooming)")
        self.reset_view_button.on_click(lambda _: self.view3d.reset_view())
        self._view_panel = widgets.VBox([
            self.view3d.widget,
            widgets.HBox([self.reset_view_button],
                         layout=widgets.Layout(width="100%", max_width=f"{view_size}px",
                                               justify_content="flex-end")),
        ])
        self.plot = JointPlot(quantity=plot_quantity, window_s=plot_window_s,
                              figsize=(view_size / 90, 2.4))  # as wide as the 3D view (90 dpi)
        self._apply_lifter(info)
        self._message = ""
        # Whether the last run showed whom the engine follows: stopped, that line stays (see
        # ``_following_line``).
        self._showed_following = False
        self._click_note: tuple[str, float] | None = None  # a click's note and when it was made
        # >0 while a control's engine call (start, switch source...) is in progress: the display
        # thread must not "correct" the Start button from a half-started engine meanwhile.
        self._acting = 0
        self._shown_running = False  # the engine state last shown on the Start/Stop button
        # The engine's settings last shown on the controls: a change made from a cell
        # (``app.engine.window = 9``) is shown on them, as a Stop from a cell is on the button.
        self._shown_choices = self._engine_choices()
        self._button_lock = threading.Lock()  # the display thread and a click show it in turn
        self._wire()
        # Controls and status on top; video on the left; 3D view on the right. The plot goes under
        # whichever is shorter (``_arrange_for``): under the 3D view beside a portrait video (the
        # sample), under a landscape one (most webcams), which left that area empty.
        self._image_width, self._view_size = image_width, view_size
        self._video_column = widgets.VBox([self.live.widget])
        self._view_column = widgets.VBox([self._view_panel, self.plot.widget])
        self._plot_under_video = False
        self.widget = widgets.VBox([
            self.controls.widget,
            self.controls.status,
            self.camera_slot,
            # Wraps on a narrow page: the 3D view goes under the video instead of off the edge.
            widgets.HBox([self._video_column, self._view_column],
                         layout=widgets.Layout(align_items="flex-start", flex_flow="row wrap")),
        ])
        self._rates = {"display": RateLimiter(display_hz), "image": RateLimiter(image_hz),
                       "plot": RateLimiter(plot_hz),
                       "status": RateLimiter(status_hz)}
        self._closed = threading.Event()
        self._last_view: Any = None  # the last view whose video frame was sent
        self._seen_view: Any = None  # the last view the display thread looked at
        self._last_plot_total = -1
        self.frames_shown = 0  # video frames sent
        self.poses_shown = 0  # 3D skeleton updates sent
        self._last_joints: np.ndarray | None = None
        self._followed_id: int | None = None  # the followed person's track id in the newest view
        # A newly followed person: the frame their 3D starts from, and the last 3D frame shown.
        self._new_person_from: int | None = None
        self._last_joints_frame = -1
        self._posed_at = RateMeter(100)
        self._shown_at = RateMeter(100)
        self._show_ms: collections.deque[float] = collections.deque(maxlen=100)
        self.refresh_errors = 0
        self._refresh_once(force_status=True)
        self._thread = threading.Thread(target=self._refresh_loop, name="pose3d-display", daemon=True)
        self._thread.start()

    # ---- data for the user's cells -------------------------------------------------------------
    @property
    def buffer(self) -> Any:
        """The engine's rolling buffer (thread-safe; every read returns copies)."""
        return self.engine.buffer

    @property
    def joints(self) -> np.ndarray:
        """(T, 17, 3) world metres, z up, floor at 0, oldest first: a copy of the buffer."""
        return self.engine.buffer.joints_3d()

    def snapshot(self, last: int | None = None) -> Any:
        """Every buffer column at once, consistent with each other (see ``BufferSnapshot``)."""
        return self.engine.buffer.snapshot(last)

    def export(self, format: str, path: Any = None, **options: Any) -> Any:
        """Export the recorded frames as bvh, trc, c3d, csv or parquet; see ``PoseEngine.export``
        (``path`` or ``out=``: the file; options fps, smooth, units, segment, person). The path written."""
        return self.engine.export(format, path, **options)

    def wait(self, *, frames: int = 30, timeout: float = 60.0) -> bool:
        """Block until ``frames`` more poses are in the buffer (True) or ``timeout`` s pass (False).

        Both by name: ``engine.wait(30)`` waits up to 30 seconds for the run to end, so
        ``app.wait(30)`` read as either (it counted 30 poses)."""
        return bool(self.engine.buffer.wait_for(self.engine.buffer.total_appended + frames, timeout))

    # ---- engine control ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the engine (same as pressing Start); errors are raised and shown.

        Raises:
            Pose3DRuntimeError: the app was closed (nothing would show the engine's results).
        """
        self._guarded("start", self._start_engine, raise_=True)
        self._show_running(self.engine.running)

    def stop(self) -> None:
        """Stop the engine (same as pressing Stop); the buffer and files are kept."""
        self._guarded("stop", self.engine.stop, raise_=True)
        self._show_running(False)

    def close(self) -> None:
        """Stop the engine and the display thread; the controls are disabled (a closed app
        cannot start again: run its cell again for a new one)."""
        self._closed.set()
        for name in CONTROL_NAMES:
            self.controls.set_disabled(name, _CLOSED)
        self._thread.join(2.0)
        self.engine.stop()  # also when it ended by itself: that closes its source and detector
        self.view3d.sync_state()  # the display thread is gone: store the last pose here
        self.camera_slot.children = []  # turns a browser camera off
        self._show_running(False)
        self._refresh_status()  # the display thread is gone: it would stay "running" otherwise

    def __enter__(self) -> PoseApp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- display -------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # ---- wiring --------------------------------------------------------------------------------
    @staticmethod
    def _detector_choices(current: str) -> list[str]:
        try:
            from pose3d_nb.detectors.registry import available_detectors

            names = available_detectors()
        except ImportError:
            names = []
        return list(dict.fromkeys([current, *names]))

    def _apply_lifter(self, info: Any) -> None:
        """Temporal knobs only mean something for VideoPose3D; otherwise say why they are off."""
        if info.temporal:
            self.controls.set_limits(max_window=info.receptive_field, max_lookahead=info.max_lookahead)
            for name in ("window", "lookahead", "flip"):
                self.controls.set_disabled(name, None)
            if info.max_lookahead == 0:
                self.controls.set_disabled("lookahead", "this model has no future context")
        else:
            reason = (f"they are VideoPose3D options and the lifter in use, {info.name}, "
                      "works frame by frame")
            for name in ("window", "lookahead", "flip"):
                self.controls.set_disabled(name, reason)

    def _wire(self) -> None:
        c = self.controls
        c.on("window", lambda v: self._set("window", v))
        c.on("lookahead", lambda v: self._set("lookahead", v))
        c.on("flip", lambda v: self._set("flip", v))
        c.on("source", self._on_source)
        c.on("detector", self._on_detector)
        c.on("running", self._on_running)
        self.live.on_click(self._on_click)

    def _on_click(self, x: float, y: float) -> None:
        """A click on the live image: follow whoever is at that pixel from the next frame."""
        point = f"{x:.0f},{y:.0f}"
        if self._guarded("follow the person clicked", lambda: self.engine.follow(point)):
            self._message = f"following whoever is at ({point}) from the next frame"
            self._click_note = (self._message, time.monotonic())
        self._refresh_status()

    def _set(self, name: str, value: Any) -> None:
        """Forward a knob to the engine; on refusal show why and put the control back."""
        if self._guarded(f"set {name}", lambda: setattr(self.engine, name, value)):
            self._message = ""
        self.controls.set_value(name, getattr(self.engine, name))
        self._refresh_status()

    def _show_browser_camera(self, spec: str) -> None:
        if is_browser_camera(spec):
            from pose3d_nb.browser_camera import default_camera

            self.camera_slot.children = [default_camera()]
        else:
            self.camera_slot.children = []

    def _on_source(self, spec: str) -> None:
        if not spec or spec == str(self.engine.source_name):
            self.controls.set_value("source", str(self.engine.source_name))  # a cleared box: what runs
            return
        self._show_browser_camera(spec)  # before the switch: the engine waits for its frames
        if self._guarded("switch source", lambda: self.engine.set_source(spec)):
            self._message = f"source: {html.escape(spec)}"
        else:
            self.controls.set_value("source", str(self.engine.source_name))
            self._show_browser_camera(str(self.engine.source_name))
        self._show_running(self.engine.running)
        self._refresh_status()

    def _on_detector(self, name: str) -> None:
        if self._guarded("switch detector", lambda: self.engine.set_detector(name)):
            self._message = ""
        # The name as chosen ("mediapipe" runs as "mediapipe-people" when it follows someone).
        self.controls.set_value("detector", self.engine.settings.detector)
        self._refresh_status()

    def _start_engine(self) -> None:
        if self._closed.is_set():  # no display thread any more: the video would stay frozen
            raise Pose3DRuntimeError(_CLOSED)
        self.engine.start()

    def _on_running(self, run: bool) -> None:
        action = self._start_engine if run else self.engine.stop
        if self._guarded("start" if run else "stop", action):
            self._message = ""
        self._show_running(self.engine.running)
        self._refresh_status()

    def _guarded(self, what: str, action: Callable[[], object], raise_: bool = False) -> bool:
        """Run a UI-triggered engine call; an exception becomes a red status line, not a traceback."""
        self._acting += 1
        try:
            action()
            return True
        except Exception as exc:
            self._message = (f"<span style='color:#c62828'>could not {html.escape(what)}: "
                             f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</span>")
            self._refresh_status()
            if raise_:
                raise
            return False
        finally:
            self._acting -= 1

    def display_stats(self) -> dict[str, float]:
        """The kernel side of the display: video frames and 3D poses sent per second, and the
        milliseconds one refresh takes (drawing the overlay, JPEG encoding, sending)."""
        cost = list(self._show_ms)
        return {
            "images_per_s": self._shown_at.rate(),
            "poses_per_s": self._posed_at.rate(),
            "refresh_ms_median": percentile(cost, 50) or 0.0,
            "refresh_ms_p95": percentile(cost, 95) or 0.0,
        }

    # ---- the display thread ----------------------------------------------------------------------
    def _refresh_loop(self) -> None:
        limiter = self._rates["display"]
        while not self._closed.is_set():
            # Wake for each new engine result (polling on a clock of its own would skip a
            # result whenever two land between ticks), but never faster than display_hz.
            # The timeout keeps the status line and plot going while the engine is stopped.
            self.engine.wait_view(self._seen_view, timeout=_IDLE_POLL_S)
            if not limiter.wait(self._closed):
                break
            try:
                self._refresh_once()
            except Exception:  # keep the display alive; the next frame may be fine
                self.refresh_errors += 1
                if self.refresh_errors <= 3:
                    log.exception("display refresh failed")

    def _refresh_once(self, force_status: bool = False) -> None:
        view = self.engine.latest_view()
        self._seen_view = view
        if view is not None and view is not self._last_view:
            started = time.perf_counter()
            self._note_followed(view)
            if view.joints_3d is not None and view.joints_3d is not self._last_joints:
                self._last_joints = view.joints_3d
                self._start_trail_for_new_person(view)
                # No detection in this frame: keep the last pose, faded, rather than a held copy
                # that would look live.
                self.view3d.update(view.joints_3d if view.joints_valid else None,
                                   others=_others_3d(view.detection))
                self.poses_shown += 1
                self._posed_at.tick()
            if self._rates["image"].ready():
                self._last_view = view
                det = view.detection
                self._arrange_for(view.image.shape)
                self.live.show(view.image, det.keypoints, det.scores, det.extras)
                self.frames_shown += 1
                self._shown_at.tick()
            self._show_ms.append(1000 * (time.perf_counter() - started))
        elif view is self._last_view and (self._posed_at.latest is None
                                          or time.monotonic() - self._posed_at.latest >= _STATE_SYNC_AFTER_S):
            self.view3d.sync_state()  # poses paused: store the shown one for a page reload
        if self._rates["plot"].ready():
            total = self.engine.buffer.total_appended
            if total != self._last_plot_total and total > 0:
                self._last_plot_total = total
                snap = self.engine.buffer.snapshot(last=_PLOT_ROWS)
                self.plot.update(snap.timestamps, snap.joints_3d, snap.valid, snap.track_id)
        if force_status or self._rates["status"].ready():
            self._refresh_status()
            self._show_camera()

    def _arrange_for(self, frame_shape: tuple[int, ...]) -> None:
        """The plot under the video when the frame, shown ``image_width`` wide, is no taller than
        the 3D view; else under the 3D view. Only a change is sent (a new source's orientation).

        Args:
            frame_shape: the frame's (H, W, ...) in pixels.
        """
        height, width = frame_shape[:2]
        under_video = self._image_width * height <= self._view_size * width
        if under_video == self._plot_under_video:
            return
        self._plot_under_video = under_video
        if under_video:
            self._view_column.children = [self._view_panel]
            self._video_column.children = [self.live.widget, self.plot.widget]
        else:
            self._video_column.children = [self.live.widget]
            self._view_column.children = [self._view_panel, self.plot.widget]

    def _note_followed(self, view: Any) -> None:
        """Remember the frame from which another person is followed (a click, or the one
        followed gone and someone else chosen)."""
        followed = view.detection.extras.get("track_id")
        if followed is None:  # nobody followed in this frame: whoever comes next decides
            return
        if self._followed_id is not None and followed != self._followed_id:
            self._new_person_from = view.frame_index
        self._followed_id = followed

    def _start_trail_for_new_person(self, view: Any) -> None:
        """A new trail once the 3D shown is the newly followed person's: it trails the video by
        the lookahead, so from the frame of the change on (or an earlier index: the file looped
        or the source changed since)."""
        frame = view.joints_frame_index
        if frame is None:
            return
        went_back, self._last_joints_frame = frame < self._last_joints_frame, frame
        if self._new_person_from is not None and (frame >= self._new_person_from or went_back):
            self._new_person_from = None
            self.view3d.new_trail()

    def _show_camera(self) -> None:
        """The recording camera in the 3D view, as the world grounding estimates it (it settles
        in about a second, then stays): from the engine's metadata (``camera_*`` keys)."""
        view = self._seen_view
        metadata = getattr(self.engine, "metadata", None)
        if view is not None and metadata is not None:
            self.view3d.show_estimate(metadata(), view.detection.frame_size)

    def _show_running(self, running: bool) -> None:
        with self._button_lock:
            self._shown_running = running
            self.controls.set_running(running)

    def _refresh_status(self) -> None:
        stats = self.engine.stats()
        following = self._following_line(stats.running)
        self._expire_click_note()
        if following == _BLANK_LINE and self._message:
            following = ""  # the message keeps the line
        message = " · ".join(part for part in (following, self._message) if part)
        self.controls.set_status(status_html(stats, message))
        # The engine can stop on its own (end of a file, an error): show it on the button. Only a
        # change of the engine's state is shown, never a comparison with the button's value: that
        # value may be a click on its way to the engine, and setting it back would undo the click.
        if not self._acting:
            with self._button_lock:  # the engine's state read now, not in ``stats`` a moment ago
                running = self.engine.running
                if running != self._shown_running:
                    self._shown_running = running
                    self.controls.set_running(running)
                # Likewise only a change of a setting in the engine is shown on its control.
                choices = self._engine_choices()
                for name, value in choices.items():
                    if value != self._shown_choices.get(name):
                        self.controls.set_value(name, value)
                self._shown_choices = choices

    def _following_line(self, running: bool) -> str:
        """Several people in view: whom the engine follows (the follower's own line) while it
        runs. Stopped or finished, the follower's last line would read as still true ("person 1
        hidden ... until they reappear" under "finished"), and taking the line away moved
        everything below it up: it says whom it last followed instead, or stays blank."""
        if running:
            line = str(getattr(self.engine, "follow_status", "") or "")
            self._showed_following = bool(line)
            return line
        if not self._showed_following:
            return ""
        if self._followed_id is None:
            return _BLANK_LINE
        return f"last followed person {self._followed_id}"

    def _expire_click_note(self) -> None:
        """Drop a click's note once the engine has run ``_CLICK_NOTE_S`` after it (stopped, the
        click waits for the next start): left on, it read as a request still pending."""
        if self._click_note is None:
            return
        note, clicked_at = self._click_note
        if self._message != note:  # another message replaced it
            self._click_note = None
        elif self.engine.running and time.monotonic() - clicked_at > _CLICK_NOTE_S:
            self._message, self._click_note = "", None

    def _engine_choices(self) -> dict[str, Any]:
        """The engine's window, lookahead, flip, source and detector, as the controls show them."""
        settings = self.engine.settings
        return {"window": settings.window, "lookahead": settings.lookahead, "flip": settings.flip,
                "source": str(settings.source), "detector": str(settings.detector)}


def _others_3d(detection: Any) -> np.ndarray:
    """(M, 17, 3) the 3D of everyone in ``detection`` but the followed person (world metres, as
    the engine placed them); M = 0 when its detector tracks no one."""
    extras = detection.extras
    ids, joints = extras.get("people_ids"), extras.get("people_joints_3d")
    if ids is None or joints is None:  # nobody else tracked: clear any drawn before
        return np.zeros((0, 17, 3), np.float32)
    others = np.asarray(ids) != extras.get("track_id", -1)
    return np.asarray(joints, np.float32)[others]

