"""A video file (anything OpenCV's FFmpeg backend reads) as a frame source."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

from pose3d_nb.sources.base import BaseSource, SourceError
from pose3d_nb.sources.frame import Frame

DEFAULT_FPS = 30.0
"""Used when a file does not say its frame rate (a warning says so)."""

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts",
     ".mts", ".m2ts", ".ogv"}
)
"""File name endings taken for videos when a folder is searched (``pose3d batch``); a file named
explicitly is opened whatever its suffix."""


def _bgr_to_rgb(bgr: np.ndarray) -> np.ndarray:
    """(H, W, 3) BGR uint8 -> contiguous (H, W, 3) RGB uint8."""
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def check_file(path: Path, what: str) -> Path:
    """``path`` resolved, or SourceError when it is missing, a folder or empty."""
    path = Path(path).expanduser()
    if not path.exists():
        raise SourceError(f"{what} not found: {path}")
    if path.is_dir():
        raise SourceError(f"{what} {path} is a folder, not a file (open_source(folder) reads images)")
    if path.stat().st_size == 0:
        raise SourceError(f"{what} {path} is empty (0 bytes)")
    return path


class VideoSource(BaseSource):
    """Frames of a video file, in file order, always RGB.

    Args:
        path: any file OpenCV can decode (mp4, avi, mkv, webm, ...).
        loop: start again at the end instead of stopping (timestamps keep increasing).
        pace: behave like a live camera: release each frame at its media time on the wall
            clock, drop frames the consumer is too slow for, and stamp frames with
            ``time.monotonic()`` capture times (``is_live`` is True); ``skipped`` counts the frames
            passed over. Without it every frame is produced as fast as it decodes and
            ``timestamp = position / fps`` (media time).
        fps: override the file's frame rate (needed for files that do not store one).
        name: shown in the UI; defaults to the path.

    Raises:
        SourceError: missing, empty or unreadable file, no decodable frame, or (at the end of
            the first pass) a file that stops well before the frame count it announces.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        loop: bool = False,
        pace: bool = False,
        fps: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.path = check_file(Path(path), "video file")
        self.name = name or str(self.path)
        self.loop = bool(loop)
        self.pace = bool(pace)
        self.skipped = 0  # paced: frames whose time had passed before they were asked for
        self.is_live = self.pace
        self._cap = self._open_capture()
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise SourceError(
                f"{self.path}: OpenCV opened the file but decoded no frame from it "
                "(a video with zero frames, or a truncated or corrupt file)"
            )
        file_fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if fps is not None:
            self.fps = float(fps)
        elif 0.0 < file_fps <= 1000.0:
            self.fps = file_fps
        else:
            warnings.warn(f"{self.path} does not state its frame rate; assuming {DEFAULT_FPS}", stacklevel=2)
            self.fps = DEFAULT_FPS
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count: int | None = count if count > 0 else None
        """Frames the file announces (container metadata, may be approximate)."""
        self._pending: np.ndarray | None = first  # read early so a bad file fails in the constructor
        self._file_index = 0  # index in the file of the next frame to return
        self._pass = 0  # completed loops
        self._frames_per_pass: int | None = None  # known after the first pass
        self._clock0: float | None = None  # wall-clock time of media position 0 when pacing

    def _open_capture(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(
                f"{self.path}: OpenCV could not open it as a video (cv2.VideoCapture, FFmpeg backend): "
                "not a video, an unsupported codec, or a truncated or corrupt file"
            )
        # Upright frames: a phone's portrait video stores landscape pixels plus a rotation, which
        # OpenCV's wheels (4.11) ignore unless asked; the person would be detected lying sideways.
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        return cap

    @property
    def _position(self) -> int:
        """Media position (frames since the start, counting loops) of the next frame."""
        return self._pass * (self._frames_per_pass or 0) + self._file_index

    def _check_complete(self) -> None:
        # A truncated download still opens when its index is at the front: it just ends early.
        # Container frame counts can be off by a frame or two, hence the tolerance.
        if self._pass == 0 and self.frame_count is not None:
            shortfall = self.frame_count - self._file_index
            if shortfall > max(2, int(0.05 * self.frame_count)):
                raise SourceError(
                    f"{self.path}: the video ended after {self._file_index} of the {self.frame_count} "
                    "frames it announces: the file is truncated or corrupt"
                )

    def _restart(self) -> None:
        # Re-opening is slower than seeking to 0 by a few ms but works for every container.
        self._frames_per_pass = self._file_index
        self._pass += 1
        self._file_index = 0
        self._cap.release()
        self._cap = self._open_capture()

    def _next_raw(self, decode: bool = True) -> tuple[int, int, np.ndarray | None] | None:
        """(file index, media position, BGR image or None when not decoded), or None at the end."""
        for attempt in range(2):
            position = self._position
            if self._pending is not None:
                bgr, self._pending = self._pending, None
                ok = True
            elif decode:
                ok, bgr = self._cap.read()
            else:
                ok, bgr = self._cap.grab(), None
            if ok:
                index = self._file_index
                self._file_index += 1
                return index, position, bgr
            self._check_complete()
            if not self.loop or attempt == 1:
                return None
            self._restart()
        return None

    def _read(self) -> Frame:
        if not self.pace:
            item = self._next_raw()
            if item is None:
                raise StopIteration
            index, position, bgr = item
            return Frame(_bgr_to_rgb(bgr), index, position / self.fps, time.monotonic())
        return self._read_paced()

    def _read_paced(self) -> Frame:
        fps = self.fps
        now = time.monotonic()
        if self._clock0 is None:
            self._clock0 = now - self._position / fps
        # Like a camera, drop the frames whose time has already passed instead of falling behind;
        # but a file's last frame is always shown: catching up at the end must not skip it.
        due_position = int((now - self._clock0) * fps)
        if not self.loop and self.frame_count:
            due_position = min(due_position, self.frame_count - 1)
        while self._position < due_position:
            if self._next_raw(decode=False) is None:
                raise StopIteration
            self.skipped += 1
        item = self._next_raw()
        if item is None:
            raise StopIteration
        index, position, bgr = item
        wait = self._clock0 + position / fps - time.monotonic()
        if wait > 0 and self._closing.wait(wait):
            raise StopIteration
        captured = time.monotonic()
        return Frame(_bgr_to_rgb(bgr), index, captured, captured)

    def _release(self) -> None:
        self._pending = None
        self._cap.release()
