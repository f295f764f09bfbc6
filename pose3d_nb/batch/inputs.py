"""Which videos a batch processes, and the output folder each one gets.

``find_videos(inputs)`` turns what a user typed into a list of video files:

- a file: taken as it is, whatever its suffix (a ``.txt`` file is read as a list, see below);
- a folder: searched, sub-folders (linked ones too) included, for files ending in
  ``VIDEO_SUFFIXES`` (hidden files and folders, such as a batch's own ``.staging``, are left out);
- a glob (``clips/*.mp4``, ``**/*.mov``): its matches, files by video suffix, folders searched;
- a ``.txt`` file: one of the above per line (blank lines and ``#`` comments are skipped;
  relative paths are relative to the list's folder).

``gather_videos(inputs)`` does the same but sets aside an input that names nothing (a batch
fails that input alone). ``output_names(videos)`` gives every video a folder name of its own:
the file name's stem, or, when two videos share a stem, the stem plus a short hash of the full
path (``hashed_name``); ``batch.placement`` then checks those names against what the output
folder already holds.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.sources.images import natural_key
from pose3d_nb.sources.video import VIDEO_SUFFIXES

LIST_SUFFIX = ".txt"
_GLOB_CHARS = frozenset("*?[")


class BatchInputError(Pose3DValueError):
    """The inputs name nothing that exists, or no video was found: the message says which."""


def search_folder(folder: Path) -> list[Path]:
    """Video files (by suffix) anywhere under ``folder``, hidden ones left out, in natural order.

    Linked sub-folders are searched too (each real folder once, so a link back up the tree
    ends there instead of looping).

    Args:
        folder (Path): the folder to search.

    Returns:
        list[Path]: the videos, sorted by their path relative to ``folder`` (clip2 before clip10).
    """
    found, searched = [], set()
    for root, folders, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in searched:  # a link to a folder already searched (or to one above it)
            folders[:] = []
            continue
        searched.add(real)
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in files:
            path = Path(root) / name
            if not name.startswith(".") and path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
                found.append(path)
    return sorted(found, key=lambda p: [natural_key(part) for part in p.relative_to(folder).parts])


def _read_list(path: Path, reading: set[Path], missing: dict[str, str] | None) -> list[Path]:
    """The videos a ``.txt`` list names. ``reading``: the lists being read around this one (a list
    met again inside itself is a loop; one named twice side by side, or by two lists, is not)."""
    if path in reading:
        raise BatchInputError(f"the list {path} includes itself")
    reading.add(path)
    try:
        return _list_entries(path, reading, missing)
    finally:
        reading.discard(path)


def _list_entries(path: Path, reading: set[Path], missing: dict[str, str] | None) -> list[Path]:
    entries = []
    for line in path.read_text().splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            entries.append(text if Path(text).expanduser().is_absolute() else str(path.parent / text))
    found = []
    for entry in entries:
        found += _expand(entry, reading, missing)
    return found


def _names_nothing(spec: str, reason: str, missing: dict[str, str] | None) -> list[Path]:
    if missing is None:
        raise BatchInputError(reason)
    missing.setdefault(spec, reason)
    return []


def _expand(spec: str, reading: set[Path], missing: dict[str, str] | None) -> list[Path]:
    """The videos one input names (see the module docstring).

    An input naming nothing raises BatchInputError, or, with a ``missing`` dict, is recorded
    there (spec -> reason) and the others go on.
    """
    path = Path(spec).expanduser()
    if path.is_dir():
        return search_folder(path)
    if path.is_file():
        if path.suffix.lower() == LIST_SUFFIX:
            return _read_list(path.resolve(), reading, missing)
        return [path]
    if _GLOB_CHARS & set(spec):
        found: list[Path] = []
        for match in sorted(glob.glob(os.path.expanduser(spec), recursive=True), key=natural_key):
            candidate = Path(match)
            if candidate.is_dir():
                found += search_folder(candidate)
            elif candidate.suffix.lower() in VIDEO_SUFFIXES:
                found.append(candidate)
        if not found:
            return _names_nothing(spec, f"the pattern {spec!r} matches no video", missing)
        return found
    return _names_nothing(spec, f"no such file or folder: {spec}", missing)


def find_videos(inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The video files that ``inputs`` name, as absolute paths, each once, in the order given.

    Args:
        inputs (str | PathLike | Iterable[str | PathLike]): one input or several: files,
            folders, globs, ``.txt`` lists (see the module docstring).

    Returns:
        list[Path]: absolute (resolved) paths; a video named twice is listed once.

    Raises:
        BatchInputError: an input names nothing that exists, or no video was found at all.
    """
    return _gather(inputs, None)


def gather_videos(inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
                  ) -> tuple[list[Path], dict[str, str]]:
    """Like ``find_videos``, but an input that names nothing is set aside instead of raising.

    What a batch uses: a missing file among its inputs fails that input alone.

    Args:
        inputs (str | PathLike | Iterable[str | PathLike]): as ``find_videos``.

    Returns:
        tuple[list[Path], dict[str, str]]: the videos (absolute, each once, in order), and each
        input that names nothing (as written, list entries relative to their list made absolute)
        with the reason.

    Raises:
        BatchInputError: no inputs, or inputs that all exist but hold no video.
    """
    missing: dict[str, str] = {}
    return _gather(inputs, missing), missing


def _gather(inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
            missing: dict[str, str] | None) -> list[Path]:
    specs = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not specs:
        raise BatchInputError("no inputs given: name video files, folders, globs or a .txt list")
    videos: dict[Path, None] = {}
    reading: set[Path] = set()
    for spec in specs:
        for path in _expand(os.fspath(spec), reading, missing):
            videos.setdefault(path.resolve(), None)
    if not videos and not missing:
        searched = ", ".join(os.fspath(s) for s in specs)
        suffixes = " ".join(sorted(VIDEO_SUFFIXES))
        raise BatchInputError(f"no video found in {searched} (searched for {suffixes})")
    return list(videos)


NAME_BYTES = 200
"""The most UTF-8 bytes of an output folder's name taken from a file's stem: a longer stem is
cut and followed by ``-`` and a hash of all of it (``_clean``), so the name, with the hash
``hashed_name`` may add, stays under the 255 bytes a file name may have (a stem can be 250)."""


def short_hash(text: str) -> str:
    """8 hex digits of the SHA-1 of ``text``: what tells apart names cut to the same start."""
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def cut_to_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    return text.encode()[:limit].decode(errors="ignore")


def _clean(stem: str) -> str:
    """``stem`` as an output folder name: no leading dot (it would hide the folder, and
    ``.staging`` is the batch's own), at most ``NAME_BYTES`` bytes (cut, plus a hash of it all)."""
    name = ("_" + stem[1:] if stem.startswith(".") else stem) or "video"
    if len(name.encode()) <= NAME_BYTES:
        return name
    return f"{cut_to_bytes(name, NAME_BYTES - 9)}-{short_hash(name)}"


def hashed_name(video: Path) -> str:
    """The file name's stem (``_clean``) plus a short hash of its full path: a name no other
    input shares, at most ``NAME_BYTES + 9`` bytes."""
    return f"{_clean(video.stem)}-{short_hash(str(video))}"


def output_names(videos: list[Path]) -> list[str]:
    """A distinct output folder name for each video (see the module docstring).

    Args:
        videos (list[Path]): absolute paths, as ``find_videos`` returns them.

    Returns:
        list[str]: one name per video, in the same order, all different.
    """
    stems = [_clean(p.stem) for p in videos]
    counts: dict[str, int] = {}
    for stem in stems:
        counts[stem.lower()] = counts.get(stem.lower(), 0) + 1
    names = []
    for path, stem in zip(videos, stems, strict=True):
        # case-insensitive: folders may be on such a file system
        names.append(stem if counts[stem.lower()] == 1 else hashed_name(path))
    return names
