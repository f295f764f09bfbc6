"""A camera attached to the machine running the Python kernel.

acapture (the original project's reader) is used when it is installed and works, OpenCV's
``VideoCapture`` otherwise. acapture has traps (FACTS.md): with no camera its ``read()`` spins
forever, so the device is probed with OpenCV first, and frames are taken from its queue with a
timeout instead of its busy-waiting ``read()``; its thread is stopped and joined before anything
is released.
"""

from __future__ import annotations

import contextlib
import glob
import io
import platform
import queue
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.sources.base import BaseSource, SourceError
from pose3d_nb.sources.frame import Frame

BACKENDS = ("auto", "acapture", "opencv")


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own "can't open camera by index" log lines: our error says it better."""
    level = cv2.getLogLevel()
    cv2.setLogLevel(0)
    try:
        yield
    finally:
        cv2.setLogLevel(level)


def list_video_devices() -> list[str]:
    """Video device nodes of this machine (Linux ``/dev/video*``; empty elsewhere)."""
    return sorted(glob.glob("/dev/video*"))


#: Camera indices run from 0 to this: OpenCV reads an index of 100 or more as a backend code plus
#: an index (205 opens V4L2's camera 5), and one past 2**31 - 1 does not fit its C int at all.
MAX_CAMERA_INDEX = 99


def checked_camera_index(index: int) -> int:
    """``index`` when it can name a camera (0 to ``MAX_CAMERA_INDEX``); ``SourceError`` saying
    the valid form otherwise."""
    if not 0 <= index <= MAX_CAMERA_INDEX:
        raise SourceError(
            f"no camera index {index}: a camera on this machine is 'camera:N' (or the int N) with N "
            f"from 0 to {MAX_CAMERA_INDEX}, 0 the first camera (on Linux N is that of /dev/videoN)"
        )
    return index


def _open_opencv(device: int | str) -> cv2.VideoCapture:
    with _quiet_opencv():
        return cv2.VideoCapture(device)


#: The cameras this process holds open, by device: V4L2 lets a process open a camera once, and a
#: second open fails as if there were no camera at all, which is what a notebook user meets when
#: an app from a cell run earlier still captures.
_OPEN_CAMERAS: dict[int | str, int] = {}
_OPEN_CAMERAS_LOCK = threading.Lock()


def _claim(device: int | str, owner: int) -> None:
    with _OPEN_CAMERAS_LOCK:
        if device in _OPEN_CAMERAS:
            raise SourceError(
                f"camera {device!r} is already open in this Python kernel (another PoseEngine or "
                "PoseApp, perhaps from a cell run earlier, is still capturing it): stop that one "
                "first (app.close() or engine.stop()), then start again"
            )
        _OPEN_CAMERAS[device] = owner


def _unclaim(device: int | str, owner: int) -> None:
    with _OPEN_CAMERAS_LOCK:
        if _OPEN_CAMERAS.get(device) == owner:
            del _OPEN_CAMERAS[device]


def _no_camera_message(device: int | str) -> str:
    devices = list_video_devices()
    found = ", ".join(devices) if devices else "none"
    host = platform.node() or "this machine"
    return (
        f"no camera {device!r} on the machine running the Python kernel ({host}). "
        f"Tried: OpenCV cv2.VideoCapture({device!r}).isOpened() -> False; acapture was not tried "
        f"(without a camera its reader waits forever). Video devices found: {found}. "
        "Use source='sample', a video file or an image folder instead "
        "(a webcam on the computer running the browser is not visible to a remote kernel)."
    )


def _import_acapture() -> Any:
    # acapture prints install advice for optional tools (pygame, ffmpeg) on import.
    with contextlib.redirect_stdout(io.StringIO()):
        import acapture
    return acapture


class _OpenCVReader:
    """Blocking reads from ``cv2.VideoCapture``; BGR converted to RGB."""

    backend = "opencv"

    def __init__(self, cap: cv2.VideoCapture, width: int | None, height: int | None) -> None:
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._cap = cap

    def read(self, timeout: float, closing: threading.Event) -> tuple[np.ndarray, float] | None:
        # OpenCV has no read timeout; V4L2 gives up on its own after about 10 s.
        ok, bgr = self._cap.read()
        captured = time.monotonic()
        if not ok or bgr is None:
            return None
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), captured

    def release(self) -> None:
        self._cap.release()


class _AcaptureReader:
    """Frames from an ``acapture.AsyncCamera`` thread (already RGB), read from its queue."""

    backend = "acapture"

    def __init__(
        self, device: int | str, fps: float | None, first_frame_timeout: float, closing: threading.Event
    ):
        acapture = _import_acapture()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # its Thread.setDaemon()
            camera = acapture.AsyncCamera(device)
        self._camera = camera
        # The queue/stop-queue/thread trio is acapture 1.2.x's internals; without it we cannot
        # read with a timeout or stop the thread safely, so refuse rather than risk a hang.
        if not all(hasattr(camera, attr) for attr in ("q", "q2", "t")):
            self.release()
            raise SourceError(f"unsupported acapture version {getattr(acapture, '__version__', '?')}")
        # acapture keeps the oldest unread frame, not the newest: drop frames older than this.
        self._max_age = 2.0 / fps if fps else 0.1
        self._first: tuple[np.ndarray, float] | None = None
        self._first = self.read(first_frame_timeout, closing)
        if self._first is None:
            self.release()
            raise SourceError(f"acapture delivered no frame within {first_frame_timeout:g} s")

    def read(self, timeout: float, closing: threading.Event) -> tuple[np.ndarray, float] | None:
        if self._first is not None:  # read in the constructor to prove the camera works
            first, self._first = self._first, None
            if time.monotonic() - first[1] <= self._max_age:
                return first
        deadline = time.monotonic() + timeout
        stale: tuple[np.ndarray, float] | None = None
        while not closing.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return stale
            try:
                wall_time, rgb = self._camera.q.get(timeout=min(0.05, remaining))
            except queue.Empty:
                continue
            # acapture stamps frames with time.time(); convert to the monotonic clock.
            captured = time.monotonic() - max(0.0, time.time() - wall_time)
            if time.monotonic() - captured > self._max_age and stale is None:
                stale = (rgb, captured)  # wait one more frame for a fresh one, keep this as fallback
                deadline = min(deadline, time.monotonic() + self._max_age)
                continue
            return rgb, captured
        return None

    def release(self) -> None:
        # destroy() only asks the thread to stop (it checks after its next frame); joining it
        # before the capture is dropped is what avoids the crashes seen with acapture.
        self._camera.destroy()
        thread = self._camera.t
        thread.join(timeout=2.0)
        if thread.is_alive():
            warnings.warn(
                "acapture's camera thread did not stop within 2 s (camera stopped delivering frames?); "
                "it is a daemon thread and ends with the kernel",
                RuntimeWarning,
                stacklevel=3,
            )


class CameraSource(BaseSource):
    """Live frames from a camera on the kernel's machine, always RGB.

    Args:
        device: camera index (0 is the first camera) or an OpenCV device string/URL.
        backend: "auto" (acapture when installed and working, else OpenCV), "acapture" or
            "opencv". Requesting ``width``/``height`` picks OpenCV under "auto", because acapture
            ignores resolution settings.
        width, height: requested capture size (the camera may choose another).
        first_frame_timeout: seconds to wait for acapture's first frame before falling back.
        read_timeout: seconds without a frame before reading raises SourceError.

    Frames: ``index`` counts delivered frames; ``timestamp`` = ``captured_at`` = the
    ``time.monotonic()`` capture time. A slow consumer gets the latest frames, not a backlog.

    Raises:
        SourceError: within milliseconds when there is no such camera (OpenCV is asked first),
            naming what was tried and the video devices that exist.
    """

    is_live = True

    def __init__(
        self,
        device: int | str = 0,
        *,
        backend: str = "auto",
        width: int | None = None,
        height: int | None = None,
        first_frame_timeout: float = 2.0,
        read_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise Pose3DValueError(f"camera backend must be one of {BACKENDS}, not {backend!r}")
        if isinstance(device, int):
            checked_camera_index(device)
        self.device = device
        self.name = f"camera:{device}"
        self.fallback_reason: str | None = None
        """Why acapture was not used under backend="auto" (None when it was, or not wanted)."""
        self._read_timeout = read_timeout
        self._index = 0
        _claim(device, id(self))
        try:
            self._open(device, backend, width, height, first_frame_timeout)
        except BaseException:
            _unclaim(device, id(self))
            raise
        # A source dropped without close() (``src = open_source(0)`` run again in a cell) frees
        # its device when collected, as its OpenCV capture does: the claim must not outlive it.
        weakref.finalize(self, _unclaim, device, id(self))

    def _open(self, device: int | str, backend: str, width: int | None, height: int | None,
              first_frame_timeout: float) -> None:
        probe = _open_opencv(device)
        if not probe.isOpened():
            probe.release()
            raise SourceError(_no_camera_message(device))
        reported_fps = float(probe.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = reported_fps if 0.0 < reported_fps <= 1000.0 else None
        self._reader: _OpenCVReader | _AcaptureReader
        use_acapture = backend == "acapture" or (backend == "auto" and not width and not height)
        if use_acapture:
            probe.release()  # one process cannot open a V4L2 camera twice
            try:
                self._reader = _AcaptureReader(device, self.fps, first_frame_timeout, self._closing)
            except Exception as exc:  # ImportError, or a camera acapture cannot drive
                if backend == "acapture":
                    raise SourceError(f"{self.name}: acapture failed: {exc}") from exc
                self.fallback_reason = f"acapture failed ({type(exc).__name__}: {exc}); using OpenCV"
                probe = _open_opencv(device)
                if not probe.isOpened():
                    probe.release()
                    raise SourceError(
                        f"{self.name}: {self.fallback_reason}, which could not reopen it"
                    ) from exc
            else:
                return
        self._reader = _OpenCVReader(probe, width, height)

    @property
    def backend(self) -> str:
        """ "acapture" or "opencv": the reader actually in use."""
        return self._reader.backend

    def _read(self) -> Frame:
        item = self._reader.read(self._read_timeout, self._closing)
        if item is None:
            if self._closing.is_set():
                raise StopIteration
            raise SourceError(
                f"{self.name} ({self.backend}) delivered no frame for {self._read_timeout:g} s: "
                "unplugged, or in use by another program?"
            )
        rgb, captured = item
        frame = Frame(rgb, self._index, captured, captured)
        self._index += 1
        return frame

    def _release(self) -> None:
        try:
            self._reader.release()
        finally:
            _unclaim(self.device, id(self))
