"""MediaPipe's native start-up log lines, kept out of the user's stderr.

When a MediaPipe graph starts (a detector's first frame, a new landmarker for a new tile or
person), its C++ code writes a handful of harmless lines straight to file descriptor 2: "Unable
to initialize EGL" (no GPU), "Created TensorFlow Lite XNNPACK delegate", "Feedback manager
requires a model with a single signature" and the like. A terminal shows them between the
progress bar's updates; a notebook shows them as red stderr boxes under the cell that pressed
Start. Python cannot raise their threshold (absl's log is not initialised; ``GLOG_minloglevel``
is not read), so ``quiet_native_logs`` points file descriptor 2 at a temporary file for the
duration of such a call, then writes back every line that is not one of ``NOISE``, in order:
whatever else was written meanwhile (by any thread) is delayed by the call, never lost.

The detectors open such a window around making (or resetting) a graph and its first runs (the
single-person solution also runs one blank frame then, as its graph starts on threads of its
own, and keeps its frames in a window until it first finds someone, at most ``QUIET_FRAMES``).
If the process exits while another thread's window is open, an exit hook writes out what was
captured (the main thread's last traceback included). A native crash in a window, or a graph
part that finishes starting between two windows, can still lose or show a line.
``POSE3D_NATIVE_LOGS=1`` in the environment turns the filter off (everything is shown; ``0`` or
empty leaves it on).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

#: The lines left out: MediaPipe 0.10's start-up notices, matched whole (an absl prefix
#: "I0000 00:00:1796604418.193469   12774 file.cc:85] " then the file's known message).
NOISE = re.compile(
    rb"^(?:"
    rb"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} [\d:.]+\s+\d+ (?:"
    rb"task_runner\.cc:\d+\] GPU suport is not available:.*"
    rb"|gl_context(?:_egl)?\.cc:\d+\] .*"
    rb"|inference_feedback_manager\.cc:\d+\] Feedback manager requires a model with a single signature.*"
    rb"|landmark_projection_calculator\.cc:\d+\] Using NORM_RECT without IMAGE_DIMENSIONS.*"
    rb"))\r?\n?$"
)

# File descriptor 2 is one per process: one redirection at a time. The lock is held for a whole
# window, so while one is open only its own thread (a nested call) can get here.
_LOCK = threading.RLock()
# The open window's (saved descriptor 2, capture file), for nested calls and the exit hook; None
# when none is open.
_open: list | None = None


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Run the body with file descriptor 2 captured; afterwards write back to it every captured
    line but MediaPipe's start-up notices (``NOISE``). Does nothing with ``POSE3D_NATIVE_LOGS``
    set or where descriptor 2 cannot be duplicated. If the process exits while a window is open
    (another thread's), the exit hook hands back what was captured so far."""
    global _open
    if os.environ.get("POSE3D_NATIVE_LOGS", "0") not in ("", "0"):
        yield
        return
    with _LOCK:
        if _open is not None:  # already captured by an outer call on this thread
            yield
            return
        try:
            capture = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the with below
            saved = os.dup(2)
        except OSError:  # no descriptor 2 (a windowless process), no temporary folder: no filter
            yield
            return
        with capture:
            _flush_python_stderr()  # Python's own pending text goes out first, in order
            window = [saved, capture]
            os.dup2(capture.fileno(), 2)
            _open = window
            try:
                yield
            finally:
                _open = None
                _hand_back(window)


def _hand_back(window: list) -> None:
    """Point descriptor 2 back and write out what ``window`` captured, less ``NOISE`` (once)."""
    saved, capture = window
    if saved is None:  # already handed back at exit
        return
    window[0] = None
    _flush_python_stderr()
    os.dup2(saved, 2)
    os.close(saved)
    capture.seek(0)
    kept = b"".join(line for line in capture.read().splitlines(keepends=True) if not NOISE.match(line))
    if kept:
        _write_all(2, kept)


@atexit.register
def _hand_back_at_exit() -> None:
    # A detector thread may be inside a window while the main thread ends the process (an
    # uncaught exception's traceback went into the capture): what it holds is written out.
    window = _open
    if window is not None:
        with contextlib.suppress(OSError, ValueError):
            _hand_back(window)


def _flush_python_stderr() -> None:
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


#: Runs of a new graph kept in a window: its start-up notices come from its own threads too, a
#: moment after the first call returned, and on a busy machine that was after the window closed.
QUIET_RUNS = 3


def first_runs_quiet(cold: dict, key: object, call, *args):
    """``call(*args)``, under ``quiet_native_logs`` while ``cold[key]`` (runs left in a window,
    ``QUIET_RUNS`` for a new graph) is above 0, counting it down: a MediaPipe graph prints its
    start-up notices on its first runs, not its later ones."""
    left = cold.get(key, 0)
    if left <= 0:
        return call(*args)
    with quiet_native_logs():
        result = call(*args)
    if left <= 1:
        cold.pop(key, None)
    else:
        cold[key] = left - 1
    return result
