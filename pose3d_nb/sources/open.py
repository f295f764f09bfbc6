"""``open_source``: one entry point from a user's spec to a frame source."""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from pose3d_nb.errors import Pose3DTypeError
from pose3d_nb.sources.base import Source, SourceError
from pose3d_nb.sources.camera import CameraSource
from pose3d_nb.sources.images import IMAGE_SUFFIXES, ImageFolderSource
from pose3d_nb.sources.sample import SampleSource
from pose3d_nb.sources.video import VideoSource

SourceSpec = Union[str, int, "os.PathLike[str]", Source]
"""What :func:`open_source` accepts."""

_CAMERA = re.compile(r"camera(?::(\d+))?", re.IGNORECASE)

#: The source name of the webcam of the computer running the browser (``pose3d_nb.browser_camera``).
BROWSER_CAMERA = "browser camera"


@dataclass(frozen=True)
class NamedSource:
    """A source opened by name from a layer above this one, imported only when asked for.

    Like the detector backends: ``open_source`` knows the name, the module and the factory, never
    imports the module itself (``tests/test_layers.py``: sources import no UI code).
    """

    names: tuple[str, ...]
    module: str
    factory: str

    def load(self) -> Callable[..., Source]:
        return getattr(importlib.import_module(self.module), self.factory)


NAMED_SOURCES: dict[str, NamedSource] = {}


def register_source(entry: NamedSource) -> None:
    """Make ``open_source(name)`` open ``entry`` for each of its names (case-insensitive)."""
    NAMED_SOURCES.update({name.lower(): entry for name in entry.names})


# The webcam of the computer running the browser, via the kernel's shared widget.
register_source(NamedSource((BROWSER_CAMERA, "browser"), "pose3d_nb.browser_camera", "BrowserCameraSource"))


def is_browser_camera(spec: Any) -> bool:
    """True when ``spec`` names the browser's webcam (``BROWSER_CAMERA`` or one of its aliases)."""
    return isinstance(spec, str) and NAMED_SOURCES.get(spec.strip().lower()) is NAMED_SOURCES[BROWSER_CAMERA]


def _resolve(spec: Any) -> tuple[Callable[..., Source], tuple]:
    """The factory ``open_source(spec)`` calls and its positional arguments (nothing opened)."""
    if isinstance(spec, bool):
        raise SourceError(f"not a source spec: {spec!r}")
    if isinstance(spec, int):
        return CameraSource, (spec,)
    if isinstance(spec, str):
        text = spec.strip()
        if text.lower() == "sample":
            return SampleSource, ()
        named = NAMED_SOURCES.get(text.lower())
        if named is not None:
            return named.load(), ()
        match = _CAMERA.fullmatch(text)
        if match:
            return CameraSource, (int(match.group(1) or 0),)
        if text.isdigit() and not Path(text).exists():
            return CameraSource, (int(text),)
    if not isinstance(spec, (str, os.PathLike)):
        raise SourceError(
            f"not a source spec: {spec!r} (use 'sample', 'camera', 'camera:N', an int, a path or a source)"
        )
    path = Path(spec).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES):
        return ImageFolderSource, (path,)
    if path.is_file():
        return VideoSource, (path,)
    raise SourceError(
        f"no such file or folder: {path} (a source is 'sample', 'camera', 'camera:N', an int, "
        "a video file, an image file or a folder of images)"
    )


def accepted_options(spec: SourceSpec) -> frozenset[str]:
    """The keyword options ``open_source(spec, ...)`` accepts for this spec, without opening it.

    E.g. ``{"loop", "pace"}`` (among others) for "sample" and video files, none for an already
    open source. Raises ``SourceError`` like ``open_source`` for a spec that names nothing.
    """
    if isinstance(spec, Source) and not isinstance(spec, (str, int)):
        return frozenset()
    factory, args = _resolve(spec)
    parameters = list(inspect.signature(factory).parameters.values())[len(args):]
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(p.name for p in parameters if p.kind in kinds)


def open_source(spec: SourceSpec = "sample", **options: Any) -> Source:
    """Open a frame source from a short spec.

    Args:
        spec: ``"sample"`` (the bundled video, the default); ``"camera"`` or ``"camera:N"`` or an
            int N (camera N on the kernel's machine); ``"browser camera"`` and other registered
            names (``NAMED_SOURCES``); a path to a video file, an image file or a folder of
            images; or an already open source, returned as is.
        options: passed to the source class: ``loop``/``pace`` for videos and the sample,
            ``backend``/``width``/``height`` for cameras, ``fps`` for image folders (see
            ``accepted_options``).

    Returns:
        An open source; iterate it for :class:`Frame` objects and close it (or use ``with``).

    Raises:
        SourceError: the spec names nothing that exists, or the source cannot be opened.
        TypeError: options the chosen source does not take, or options with a source object.
    """
    if isinstance(spec, Source) and not isinstance(spec, (str, int)):
        if options:
            raise Pose3DTypeError(
                f"options {sorted(options)} cannot be applied to an already open source {spec!r}"
            )
        return spec
    factory, args = _resolve(spec)
    return factory(*args, **options)
