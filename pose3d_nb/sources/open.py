"""``open_source``: one entry point from a user's spec to a frame source."""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from pose3d_nb.errors import Pose3DTypeError, Pose3DValueError
from pose3d_nb.registry import Registry, load_object
from pose3d_nb.sources.base import Source, SourceError
from pose3d_nb.sources.camera import CameraSource, checked_camera_index
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
    """A source opened by name, imported only when asked for.

    Attributes:
        name: what ``open_source(name)`` takes (any case), and ``aliases`` too.
        factory: ``"package.module:Class"`` (imported on first open: sources from a layer above
            this one, such as the browser camera, stay unimported here, ``tests/test_layers.py``)
            or a callable; called with ``open_source``'s keyword options.
        aliases: other names for the same source.
        description: one line for help texts and the docs.
    """

    name: str
    factory: str | Callable[..., Source]
    aliases: tuple[str, ...] = ()
    description: str = ""

    def load(self) -> Callable[..., Source]:
        """The factory, imported now if it was given as a string."""
        return load_object(self.factory)


SOURCES: Registry[NamedSource] = Registry("source", fold_case=True)
"""Every name ``open_source`` knows, aliases included (``source_names()`` lists each source once)."""


def register_source(
    name: str,
    factory: str | Callable[..., Source],
    *,
    aliases: Iterable[str] = (),
    description: str = "",
    replace: bool = False,
) -> NamedSource:
    """Make ``open_source(name)`` (and the engine, ``pose3d run --source``) open ``factory``.

    Args:
        name: the source's name (case-insensitive; a named source wins over a file of that name).
        factory, aliases, description: see :class:`NamedSource`.
        replace: replace entries of the same names instead of refusing.

    Returns:
        The registered :class:`NamedSource`.

    Raises:
        Pose3DValueError: a name or alias is taken (and ``replace`` is False) or empty.
    """
    entry = NamedSource(name, factory, tuple(aliases), description)
    taken = [n for n in (name, *entry.aliases) if n in SOURCES]
    if taken and not replace:
        raise Pose3DValueError(f"source {taken[0]!r} is already registered; pass replace=True to replace it")
    for each in (name, *entry.aliases):
        SOURCES.register(each, entry, replace=True)
    return entry


def source_names() -> list[str]:
    """Every named source once (its main name), in registration order."""
    return [name for name, entry in SOURCES.items() if entry.name == name]


def source_help() -> str:
    """What ``--source`` accepts, from the registry: the named sources, cameras and paths."""
    named = "; ".join(
        f"{entry.name}: {entry.description}" if entry.description else entry.name
        for entry in (SOURCES[name] for name in source_names())
    )
    return f"{named}; camera, camera:N or N: a camera on this machine; or a video file, an image or a folder"


register_source("sample", SampleSource, description="the bundled video (the default)")
register_source(
    BROWSER_CAMERA,
    "pose3d_nb.browser_camera:BrowserCameraSource",
    aliases=("browser",),
    description="the webcam of the computer running the browser (notebooks only)",
)


def is_browser_camera(spec: Any) -> bool:
    """True when ``spec`` names the browser's webcam (``BROWSER_CAMERA`` or one of its aliases)."""
    return isinstance(spec, str) and SOURCES.get(spec.strip()) is SOURCES[BROWSER_CAMERA]


def _quoted_names() -> str:
    return ", ".join(repr(name) for name in source_names())


def _resolve(spec: Any) -> tuple[Callable[..., Source], tuple]:
    """The factory ``open_source(spec)`` calls and its positional arguments (nothing opened)."""
    if isinstance(spec, bool):
        raise SourceError(f"not a source spec: {spec!r}")
    if isinstance(spec, int):
        return CameraSource, (checked_camera_index(spec),)
    if isinstance(spec, str):
        text = spec.strip()
        named = SOURCES.get(text)
        if named is not None:
            return named.load(), ()
        match = _CAMERA.fullmatch(text)
        if match:
            return CameraSource, (checked_camera_index(int(match.group(1) or 0)),)
        if text.isdecimal() and not Path(text).exists():  # isdigit() takes "²", which int() refuses
            return CameraSource, (checked_camera_index(int(text)),)
        if not text:  # an unset variable (`--source "$VIDEO"`): Path("") is the working folder
            raise SourceError(f"empty source spec {spec!r} (use {_quoted_names()}, 'camera', 'camera:N', "
                              "an int, a video file, an image file or a folder of images)")
    if not isinstance(spec, (str, os.PathLike)):
        raise SourceError(
            f"not a source spec: {spec!r} (use {_quoted_names()}, 'camera', 'camera:N', an int, a path "
            "or a source)"
        )
    path = Path(spec).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES):
        return ImageFolderSource, (path,)
    if path.is_file():
        return VideoSource, (path,)
    raise SourceError(
        f"no such file or folder: {path} (a source is {_quoted_names()}, 'camera', 'camera:N', an int, "
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
            names (``SOURCES``, ``register_source``); a path to a video file, an image file or a folder of
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
