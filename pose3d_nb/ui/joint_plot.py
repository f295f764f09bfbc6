"""A live time plot of one joint quantity (an angle, a coordinate or a speed) over the last seconds.

An ipympl ``Canvas`` around a plain ``matplotlib.figure.Figure``: interactive in JupyterLab
without ``%matplotlib widget`` and without touching pyplot's global figure list. The maths
comes from :mod:`pose3d_nb.analysis`; this module only selects and draws.
"""

from __future__ import annotations

import threading

import ipywidgets as widgets
import numpy as np
from ipympl.backend_nbagg import Canvas, FigureManager
from matplotlib.figure import Figure

from pose3d_nb import analysis
from pose3d_nb.errors import UnknownNameError
from pose3d_nb.skeleton import H36M

_AXES = "xyz"

def quantity_options() -> list[tuple[str, str]]:
    """Every plottable quantity.

    Returns:
        (label, key) pairs; keys are ``angle:<name>`` (see ``analysis.ANGLE_NAMES``),
        ``pos:<joint>:<x|y|z>`` and ``speed:<joint>``.
    """
    opts = [(f"{name.replace('_', ' ')} angle (deg)", f"angle:{name}") for name in analysis.ANGLE_NAMES]
    for joint in H36M.joint_names:
        for ax in _AXES:
            opts.append((f"{joint.replace('_', ' ')} {ax} (m)", f"pos:{joint}:{ax}"))
    opts += [(f"{joint.replace('_', ' ')} speed (m/s)", f"speed:{joint}") for joint in H36M.joint_names]
    return opts


def check_quantity(key: str) -> str:
    """``key`` itself when it names a quantity of ``quantity_options``.

    Raises:
        UnknownNameError: any other key; the message gives the forms keys take.
    """
    if key not in {k for _, k in quantity_options()}:
        raise UnknownNameError(
            f"unknown plot quantity {key!r}: use angle:<{'|'.join(analysis.ANGLE_NAMES)}>, "
            f"pos:<joint>:<x|y|z> or speed:<joint>, a joint being one of {', '.join(H36M.joint_names)}")
    return key


def quantity_label(key: str) -> str:
    """The label shown for quantity ``key`` (see ``quantity_options``)."""
    return dict((k, label) for label, k in quantity_options())[key]


def latest_segment(timestamps: np.ndarray, window_s: float) -> slice:
    """The slice of the last ``window_s`` seconds of a buffer.

    Stops at the most recent time that goes backwards (a looping file restarts at 0), so a
    plot never folds two passes of the video on top of each other.

    Args:
        timestamps: (T,) seconds, oldest first.
        window_s: the span wanted, in seconds.

    Returns:
        The slice of the rows to plot.
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    if ts.size == 0:
        return slice(0, 0)
    back = np.flatnonzero(np.diff(ts) <= 0)
    start = int(back[-1]) + 1 if back.size else 0
    # 1e-9: a frame exactly window_s old stays in despite float rounding of the subtraction.
    start += int(np.searchsorted(ts[start:], ts[-1] - window_s - 1e-9))
    return slice(start, ts.size)


def compute_series(key: str, timestamps: np.ndarray, joints: np.ndarray,
                   valid: np.ndarray | None = None, person: np.ndarray | None = None) -> np.ndarray:
    """Values of quantity ``key`` at every frame.

    Args:
        key: a quantity key (``quantity_options``).
        timestamps: (T,) seconds (speeds need them).
        joints: (T, 17, 3) world metres, z up.
        valid: (T,) bool, or None (all valid).
        person: (T,) int, the followed person's track id per frame (-1: none), or None (one
            person throughout). A frame whose id differs from the one before starts anew: it is
            NaN (a gap in the line) and no speed or smoothing spans the two people.

    Returns:
        (T,) float: degrees, metres or metres per second (from positions averaged over
        ``analysis.SPEED_SMOOTHING_S``); NaN where ``valid`` is False (a gap in the line, not a made-up
        value), for a speed on the first frame after such a gap, and where ``person`` changes.

    Raises:
        UnknownNameError: ``key`` names no quantity.
    """
    j = np.asarray(joints, dtype=np.float64)
    if valid is not None:  # a session holds the last pose there: a speed would span the whole gap
        j = np.where(np.asarray(valid, bool)[:, None, None], j, np.nan)
    # Another person followed (a click, or the followed one lost): a speed from one body to the
    # other read as tens of m/s.
    switched = np.zeros(len(j), bool)
    if person is not None:
        ids = np.asarray(person).reshape(-1)
        switched[1:] = ids[1:] != ids[:-1]
    kind, _, rest = key.partition(":")
    if kind == "angle":
        y = analysis.named_angle(j, rest)
    elif kind == "pos":
        joint, _, ax = rest.partition(":")
        y = j[:, H36M.index(joint), _AXES.index(ax)].copy()
    elif kind == "speed":
        ts = np.asarray(timestamps, dtype=np.float64)
        bounds = [0, *np.flatnonzero(switched).tolist(), len(j)]
        window = analysis.smoothing_window(ts)
        column = H36M.index(rest)
        y = np.concatenate([analysis.smoothed_joint_speed(j[lo:hi], ts[lo:hi], window=window)[:, column]
                            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)])
    else:
        raise UnknownNameError(f"unknown quantity {key!r}")
    y[switched] = np.nan
    return y


def _drawn(y: np.ndarray) -> np.ndarray:
    """(T,) bool: the values a line without markers shows, finite with a finite neighbour (a
    lone value between gaps draws nothing, and must not stretch the axis: a 17 m/s speed on the
    one frame between two gaps did); every finite value when none has a neighbour."""
    finite = np.isfinite(y)
    neighbour = np.zeros_like(finite)
    neighbour[1:] |= finite[:-1]
    neighbour[:-1] |= finite[1:]
    drawn = finite & neighbour
    return drawn if drawn.any() else finite


class JointPlot:
    """Live plot of one quantity over the last ``window_s`` seconds (x axis: seconds ago).

    ``widget`` is a VBox: a quantity dropdown above the ipympl canvas. ``update`` redraws with
    the new data (call it at a few Hz: every draw sends a PNG to the browser).

    Args:
        quantity: the first quantity shown (``quantity_options``).
        window_s: the time span shown, in seconds.
        figsize: the figure's (width, height) in inches at 90 dpi.
    """

    def __init__(self, quantity: str = "angle:left_knee", window_s: float = 10.0,
                 figsize: tuple[float, float] = (7.0, 2.4)) -> None:
        self.window_s = float(window_s)
        self.figure = Figure(figsize=figsize, dpi=90)
        # Fixed margins, not constrained layout: its solver is a large part of each redraw.
        self.figure.subplots_adjust(left=0.11, right=0.97, top=0.87, bottom=0.2)
        self.canvas = Canvas(self.figure)
        self._manager = FigureManager(self.canvas, 0)  # ipympl's canvas needs a manager for its toolbar
        self.canvas.header_visible = False
        self.canvas.footer_visible = False
        self.canvas.toolbar_visible = False
        self.canvas.resizable = False
        self.ax = self.figure.add_subplot(1, 1, 1)
        (self.line,) = self.ax.plot([], [], lw=1.8, color="#2896ff")
        self.ax.set_xlabel("seconds ago")
        self.ax.grid(True, alpha=0.3)
        self.selector = widgets.Dropdown(options=quantity_options(), value=check_quantity(quantity),
                                         description="plot",
                                         layout=widgets.Layout(width="340px"))
        self.selector.observe(self._on_quantity, names="value")
        self.widget = widgets.VBox([self.selector, self.canvas])
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None] | None = None
        # update() runs on the app's display thread, a quantity change on the kernel's main
        # thread: matplotlib artists are not thread-safe, so both go through this lock.
        self._lock = threading.RLock()
        self.draws = 0
        self._set_axes()

    @property
    def quantity(self) -> str:
        """The plotted quantity's key (``quantity_options``); setting an unknown one raises."""
        return self.selector.value

    @quantity.setter
    def quantity(self, key: str) -> None:
        self.selector.value = check_quantity(key)

    def _on_quantity(self, _change: dict) -> None:
        with self._lock:
            self._set_axes()
            if self._last is not None:
                self.update(*self._last)
            else:
                self.canvas.draw_idle()

    def _set_axes(self) -> None:
        self.ax.set_ylabel(quantity_label(self.quantity).rsplit(" ", 1)[-1].strip("()"))
        self.ax.set_title(quantity_label(self.quantity), fontsize=10)
        self.ax.set_xlim(-self.window_s, 0)
        if self.quantity.startswith("angle:"):
            self.ax.set_ylim(0, 180)  # fixed: a jumping scale would hide how bent a joint is

    def series(self, timestamps: np.ndarray, joints: np.ndarray, valid: np.ndarray | None = None,
               person: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """What ``update`` would draw, the last ``window_s`` seconds only (arguments as ``update``).

        Returns:
            ``(seconds_ago, values)``, both (N,) float.
        """
        ts = np.asarray(timestamps, dtype=np.float64)
        seg = latest_segment(ts, self.window_s)
        if seg.stop - seg.start == 0:
            return np.zeros(0), np.zeros(0)
        # Compute on one extra frame before the window so a speed at the window start is defined.
        lo = max(seg.start - 1, 0)
        v = None if valid is None else np.asarray(valid, bool)[lo:seg.stop]
        who = None if person is None else np.asarray(person)[lo:seg.stop]
        y = compute_series(self.quantity, ts[lo:seg.stop], np.asarray(joints)[lo:seg.stop], v, who)
        y = y[seg.start - lo:]
        return ts[seg] - ts[seg.stop - 1], y

    def update(self, timestamps: np.ndarray, joints: np.ndarray, valid: np.ndarray | None = None,
               person: np.ndarray | None = None) -> None:
        """Redraw with new data.

        Args:
            timestamps: (T,) seconds, oldest first.
            joints: (T, 17, 3) world metres, z up.
            valid: (T,) bool, or None (all valid).
            person: (T,) int followed track id per frame, or None (see ``compute_series``).
        """
        with self._lock:
            self._last = (timestamps, joints, valid, person)
            x, y = self.series(timestamps, joints, valid, person)
            self.line.set_data(x, y)
            if not self.quantity.startswith("angle:"):
                finite = y[_drawn(y)]
                if finite.size:
                    lo, hi = float(finite.min()), float(finite.max())
                    pad = max(0.05, 0.1 * (hi - lo))
                    self.ax.set_ylim(lo - pad, hi + pad)
            self.canvas.draw_idle()
            self.draws += 1
