"""The control panel: engine settings, Start/Stop and a status line.

Controls only hold values and report changes; they do not know the engine. Whoever owns both
(``pose3d_nb.ui.app.PoseApp``) wires ``on(name, callback)`` to the engine and pushes state back
with ``set_value``, ``set_running``, ``set_disabled`` and ``set_status``.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets

from pose3d_nb.errors import UnknownNameError
from pose3d_nb.settings import DEFAULTS, LONGEST_RECEPTIVE_FIELD

#: Names accepted by ``on``, ``value``, ``set_value`` and ``set_disabled``.
CONTROL_NAMES = ("window", "lookahead", "flip", "source", "detector", "running")


class Controls:
    """Window size, lookahead, flip, source, detector, Start/Stop and status.

    Each control opens with the value given (defaults: ``pose3d_nb.settings.DEFAULTS``) and
    carries a tooltip saying what it does; a disabled one says why instead.

    Args:
        window: frames of 2D history the lifter sees, 1..``max_window``; 0 ("full" ticked)
            means all frames up to the lifter's receptive field (the original VideoPose3D
            behaviour).
        lookahead: frames the output waits for future frames (more context, more delay).
        flip: test-time flip augmentation.
        source: "sample", "camera" or a video path (free text, applied on Enter).
        sources: the source box's suggestions.
        detector: the detector shown.
        detectors: the detector dropdown's choices.
        max_window: the window slider's largest value.
        max_lookahead: the lookahead slider's largest value.
    """

    def __init__(self, window: int = DEFAULTS.window, lookahead: int = DEFAULTS.lookahead,
                 flip: bool = DEFAULTS.flip, source: str = DEFAULTS.source,
                 sources: Sequence[str] = ("sample", "camera"), detector: str = DEFAULTS.detector,
                 detectors: Sequence[str] = (DEFAULTS.detector,), max_window: int = LONGEST_RECEPTIVE_FIELD,
                 max_lookahead: int = LONGEST_RECEPTIVE_FIELD // 2) -> None:
        self._callbacks: dict[str, list[Callable[[Any], object]]] = {n: [] for n in CONTROL_NAMES}
        # Per thread: the display thread syncing a control must not swallow a user's click that
        # the kernel's message thread is handling at the same moment.
        self._quiet = threading.local()
        self._reasons: dict[str, str] = {}
        wide = {"description_width": "80px"}
        self.window_slider = widgets.IntSlider(
            value=max(1, min(int(window) or max_window, max_window)), min=1, max=max_window,
            description="window", continuous_update=False, style=wide,
            tooltip="frames of 2D history given to the 3D lifter")
        self.full_window = widgets.Checkbox(
            value=int(window) == 0, description="full receptive field", indent=False,
            tooltip="use every frame up to the lifter's receptive field (window_size 0)",
            layout=widgets.Layout(width="auto"))
        self.lookahead_slider = widgets.IntSlider(
            value=int(lookahead), min=0, max=max_lookahead, description="lookahead",
            continuous_update=False, style=wide,
            tooltip="frames of delay: the lifter also sees this many future frames")
        self.flip_box = widgets.Checkbox(
            value=bool(flip), description="flip augmentation", indent=False,
            tooltip="average with the mirrored pose (smoother, about 2x lifter cost)",
            layout=widgets.Layout(width="auto"))
        options = list(dict.fromkeys([*sources, source]))
        self.source_box = widgets.Combobox(
            value=source, options=options, description="source", ensure_option=False,
            continuous_update=False, style=wide, placeholder="sample, camera or a video path",
            tooltip="sample, camera or a path to a video file; press Enter to apply")
        self.detector_dropdown = widgets.Dropdown(
            options=list(dict.fromkeys([*detectors, detector])), value=detector,
            description="detector", style=wide)
        self.start_button = widgets.ToggleButton(value=False, description="Start", icon="play",
                                                 button_style="success", tooltip="start / stop the engine")
        self.status = widgets.HTML(value="<i>stopped</i>")
        self.notes = widgets.HTML(value="")
        self.window_slider.disabled = self.full_window.value

        self._widgets: dict[str, list[widgets.DOMWidget]] = {
            "window": [self.window_slider, self.full_window],
            "lookahead": [self.lookahead_slider],
            "flip": [self.flip_box],
            "source": [self.source_box],
            "detector": [self.detector_dropdown],
            "running": [self.start_button],
        }
        # Each control's own help, shown again when a control is re-enabled.
        self._help = {id(w): w.tooltip for ws in self._widgets.values() for w in ws}
        self.window_slider.observe(lambda _: self._emit("window"), names="value")
        self.full_window.observe(self._on_full, names="value")
        self.lookahead_slider.observe(lambda _: self._emit("lookahead"), names="value")
        self.flip_box.observe(lambda _: self._emit("flip"), names="value")
        self.source_box.observe(lambda _: self._emit("source"), names="value")
        self.detector_dropdown.observe(lambda _: self._emit("detector"), names="value")
        self.start_button.observe(self._on_toggle, names="value")

        # Rows wrap on a narrow page (a laptop's half screen): squeezed onto one line the
        # sliders shrink to nothing and the button loses its label.
        wrap = {"flex_flow": "row wrap"}
        row1 = widgets.HBox([self.start_button, self.source_box, self.detector_dropdown],
                            layout=widgets.Layout(**wrap))
        row2 = widgets.HBox([self.window_slider, self.full_window, self.lookahead_slider, self.flip_box],
                            layout=widgets.Layout(**wrap))
        self.widget = widgets.VBox([row1, row2, self.notes])

    # ---- values -------------------------------------------------------------------------------
    @property
    def window(self) -> int:
        """Window size; 0 means all frames up to the receptive field."""
        return 0 if self.full_window.value else int(self.window_slider.value)

    @property
    def lookahead(self) -> int:
        """The lookahead slider's value: output delay in frames."""
        return int(self.lookahead_slider.value)

    @property
    def flip(self) -> bool:
        """The flip box: test-time flip augmentation on or off."""
        return bool(self.flip_box.value)

    @property
    def source(self) -> str:
        """The source box's text, an ``open_source`` spec ("sample", "camera:1", a path)."""
        return str(self.source_box.value).strip()

    @property
    def detector(self) -> str:
        """The detector dropdown's name (``detectors.DETECTORS``)."""
        return str(self.detector_dropdown.value)

    @property
    def running(self) -> bool:
        """Whether the Start/Stop toggle is pressed (the engine should run)."""
        return bool(self.start_button.value)

    def value(self, name: str) -> Any:
        """Current value of control ``name`` (one of ``CONTROL_NAMES``)."""
        self._check(name)
        return getattr(self, name)

    # ---- events -------------------------------------------------------------------------------
    def on(self, name: str, callback: Callable[[Any], object]) -> Callable[[], None]:
        """Call ``callback(new_value)`` whenever the user changes control ``name``.

        Returns:
            A function that unsubscribes ``callback``.
        """
        self._check(name)
        self._callbacks[name].append(callback)
        return lambda: self._callbacks[name].remove(callback)

    def _emit(self, name: str, value: Any = None) -> None:
        if getattr(self._quiet, "depth", 0):
            return
        if value is None:
            value = getattr(self, name)
        for cb in list(self._callbacks[name]):
            cb(value)

    def _on_full(self, change: dict) -> None:
        self.window_slider.disabled = bool(change["new"]) or "window" in self._reasons
        self._emit("window")

    def _on_toggle(self, change: dict) -> None:
        self._style_button(bool(change["new"]))
        # The click's own value: another thread may set the button again before this line.
        self._emit("running", bool(change["new"]))

    def _style_button(self, running: bool) -> None:
        self.start_button.description = "Stop" if running else "Start"
        self.start_button.icon = "stop" if running else "play"
        self.start_button.button_style = "danger" if running else "success"

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Change values from this thread without calling the callbacks (engine -> UI sync)."""
        self._quiet.depth = getattr(self._quiet, "depth", 0) + 1
        try:
            yield
        finally:
            self._quiet.depth -= 1

    # ---- state pushed from the owner -----------------------------------------------------------
    def set_value(self, name: str, value: Any, notify: bool = False) -> None:
        """Set a control from code; callbacks run only when ``notify`` is True."""
        self._check(name)
        ctx = _null() if notify else self.quiet()
        with ctx:
            if name == "window":
                v = int(value)
                self.full_window.value = v == 0
                if v > 0:
                    self.window_slider.value = min(max(v, self.window_slider.min), self.window_slider.max)
            elif name == "lookahead":
                self.lookahead_slider.value = int(value)
            elif name == "flip":
                self.flip_box.value = bool(value)
            elif name == "source":
                if value not in self.source_box.options:
                    self.source_box.options = [*self.source_box.options, str(value)]
                self.source_box.value = str(value)
            elif name == "detector":
                if value not in self.detector_dropdown.options:  # e.g. set from a cell
                    self.detector_dropdown.options = [*self.detector_dropdown.options, str(value)]
                self.detector_dropdown.value = value
            elif name == "running":
                self.start_button.value = bool(value)
                self._style_button(bool(value))

    def set_running(self, running: bool) -> None:
        """Show the engine's real state on the Start/Stop button (no callback)."""
        if self.running != running:
            self.set_value("running", running)

    def set_limits(self, max_window: int | None = None, max_lookahead: int | None = None) -> None:
        """Adapt slider ranges to the lifter (e.g. its receptive field); values are clamped."""
        with self.quiet():
            if max_window is not None and max_window >= 1:
                self.window_slider.max = int(max_window)
            if max_lookahead is not None and max_lookahead >= 0:
                self.lookahead_slider.max = int(max_lookahead)

    def set_disabled(self, name: str, reason: str | None) -> None:
        """Disable control ``name`` and show why (tooltip and a visible note).

        Args:
            name: one of ``CONTROL_NAMES``.
            reason: why it is off, or None to re-enable it (its own tooltip comes back).
        """
        self._check(name)
        if reason:
            self._reasons[name] = reason
        else:
            self._reasons.pop(name, None)
        for w in self._widgets[name]:
            w.disabled = bool(reason)
            if hasattr(w, "tooltip"):
                w.tooltip = f"disabled: {reason}" if reason else self._help[id(w)]
        if name == "window" and not reason:
            self.window_slider.disabled = self.full_window.value
        self._render_notes()

    def _render_notes(self) -> None:
        by_reason: dict[str, list[str]] = {}
        for n, r in self._reasons.items():  # one line per reason: "window, lookahead disabled: ..."
            by_reason.setdefault(r, []).append(n)
        items = [f"<b>{html.escape(', '.join(ns))}</b> disabled: {html.escape(r)}"
                 for r, ns in by_reason.items()]
        self.notes.value = ("<div style='color:#a15c00;font-size:90%'>" + "<br>".join(items) + "</div>"
                            if items else "")

    def set_status(self, html_text: str) -> None:
        """Replace the status line (HTML; callers escape any untrusted text)."""
        if self.status.value != html_text:  # an unchanged line costs no message
            self.status.value = html_text

    @staticmethod
    def _check(name: str) -> None:
        if name not in CONTROL_NAMES:
            raise UnknownNameError(f"unknown control {name!r}; controls are {CONTROL_NAMES}")


@contextmanager
def _null():
    yield
