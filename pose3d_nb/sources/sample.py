"""The sample video bundled with the package: the default source, works on any machine."""

from __future__ import annotations

import contextlib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from pose3d_nb.sources.video import VideoSource

if TYPE_CHECKING:
    from importlib.abc import Traversable

SAMPLE_FILE = "single_person_balance_540x960.mp4"
"""100 frames, 60 fps, 540x960: one man balancing, facing the camera (see data/NOTICE)."""


def sample_video_resource() -> Traversable:
    """The bundled sample as package data (a plain file unless the package is zipped)."""
    return resources.files("pose3d_nb").joinpath("data", SAMPLE_FILE)


class SampleSource(VideoSource):
    """The bundled sample video (``source="sample"``); the same options as :class:`VideoSource`."""

    def __init__(self, *, loop: bool = False, pace: bool = False) -> None:
        # as_file() gives a real path even from a zipped install (extracted until close()).
        self._files = contextlib.ExitStack()
        path: Path = self._files.enter_context(resources.as_file(sample_video_resource()))
        try:
            super().__init__(path, loop=loop, pace=pace, name="sample")
        except BaseException:
            self._files.close()
            raise

    def _release(self) -> None:
        super()._release()
        self._files.close()
