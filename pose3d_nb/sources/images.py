"""A folder of still images (or one image) as a frame source, in natural name order."""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

from pose3d_nb.sources.base import BaseSource, SourceError
from pose3d_nb.sources.frame import Frame

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key so that "frame2.png" comes before "frame10.png" (digit runs compare as numbers)."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name.lower()))


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (by suffix), in natural name order."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of an image file (grey and alpha images are converted)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SourceError(f"{path}: OpenCV could not read it as an image (corrupt or unsupported file)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class BadImageWarning(UserWarning):
    """An image of a folder could not be read; it was given as a blank frame (no person)."""


class ImageFolderSource(BaseSource):
    """The images of a folder as frames, in natural name order (img2 before img10), always RGB.

    Args:
        path: a folder (its image files, not sub-folders: suffixes in ``IMAGE_SUFFIXES``) or a
            single image file.
        fps: the rate the images were taken at, if known; timestamps are ``index / fps``, or
            ``index`` seconds when unknown.

    An image that cannot be decoded becomes a black frame of the previous image's size, with
    a ``BadImageWarning`` naming it: the run goes on, the frame is recorded without a person,
    and the frame numbers of the images after it stay right.

    Raises:
        SourceError: missing path, folder without images, a folder where no image can be
            decoded, or a single image file that cannot be.
    """

    def __init__(self, path: str | os.PathLike[str], *, fps: float | None = None) -> None:
        super().__init__()
        path = Path(path).expanduser()
        if not path.exists():
            raise SourceError(f"image folder not found: {path}")
        if path.is_dir():
            self.files = list_images(path)
            if not self.files:
                suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
                raise SourceError(f"image folder {path} contains no image files (looked for {suffixes})")
        else:
            self.files = [path]
        self.path = path
        self.name = str(path)
        self.fps = float(fps) if fps else None
        self.is_live = False
        self._next_index = 0
        self._pending, self._shape = self._first_readable()

    def __len__(self) -> int:
        return len(self.files)

    def _read(self) -> Frame:
        index = self._next_index
        if index >= len(self.files):
            raise StopIteration
        if self._pending is not None:
            image, self._pending = self._pending, None
        else:
            image = self._read_or_blank(self.files[index])
        self._shape = image.shape
        self._next_index += 1
        timestamp = index / self.fps if self.fps else float(index)
        return Frame(image, index, timestamp, time.monotonic())

    def _first_readable(self) -> tuple[np.ndarray | None, tuple[int, ...]]:
        """The first image's pixels (None if it cannot be read) and the first readable shape."""
        failure = None
        for position, path in enumerate(self.files):
            try:
                image = read_rgb(path)
            except SourceError as exc:
                failure = failure or exc
                continue
            return (image if position == 0 else None), image.shape
        if len(self.files) == 1:
            raise failure
        raise SourceError(f"none of the {len(self.files)} images in {self.path} can be read ({failure})")

    def _read_or_blank(self, path: Path) -> np.ndarray:
        try:
            return read_rgb(path)
        except SourceError as exc:
            warnings.warn(f"{exc}; recorded as a frame without a person", BadImageWarning, stacklevel=2)
            return np.zeros(self._shape, np.uint8)

    def _release(self) -> None:
        self._pending = None
