"""A video's manifest: the small JSON file that marks its output folder complete.

``batch.json`` is the last file written into a video's staging folder (atomically), and the
folder is then renamed into place in one step. So an output folder with a manifest holds a
finished ``session.npz`` and the exports it lists; a rerun reuses it when the input file is
unchanged (same size and modification time, and older than the session) and the settings match.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from pose3d_nb.batch.settings import BatchSettings
from pose3d_nb.recording import atomic_file

MANIFEST = "batch.json"
SESSION = "session.npz"


def input_stamp(video: Path) -> dict[str, int]:
    """What identifies the input's content cheaply: ``{"size": bytes, "mtime_ns": int}``."""
    stat = video.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def file_stamp(path: Path) -> dict[str, int]:
    """An output file's ``{"size": bytes, "mtime_ns": int}`` (a rename keeps both)."""
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def write_manifest(folder: Path, video: Path, stamp: dict[str, int], settings: BatchSettings,
                   result: dict[str, Any], files: list[str]) -> None:
    """Write ``folder/batch.json`` atomically: the last step before the folder is published.

    Args:
        folder (Path): the staging folder holding the finished output.
        video (Path): the input file (absolute).
        stamp (dict[str, int]): ``input_stamp(video)`` taken before the video was read.
        settings (BatchSettings): the checked settings it was processed with.
        result (dict[str, Any]): frames, valid_fraction, note, fps, seconds, lifter, checkpoint.
        files (list[str]): the files of the output (names inside ``folder``); each one's size
            and modification time are recorded too (``file_stamps``), so a file the user edited
            afterwards (a BVH cleaned up by hand) is never replaced (``placement.writable_reason``).
    """
    from pose3d_nb import __version__

    manifest = {
        "input": str(video),
        "input_size": stamp["size"],
        "input_mtime_ns": stamp["mtime_ns"],
        "settings": settings.as_dict(),
        **result,
        "files": sorted(files),
        "file_stamps": {name: file_stamp(folder / name) for name in sorted(files)},
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "pose3d_nb": __version__,
    }
    with atomic_file(folder / MANIFEST) as handle:
        handle.write((json.dumps(manifest, indent=1) + "\n").encode())


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest in ``folder``, or None when there is none or it cannot be read."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def made_from(manifest: dict[str, Any], stamp: dict[str, int]) -> bool:
    """``manifest`` records the input's size and modification time ``stamp`` (``input_stamp``)."""
    return {"size": manifest.get("input_size"), "mtime_ns": manifest.get("input_mtime_ns")} == stamp


def reusable_output(video: Path, folder: Path, settings: BatchSettings) -> dict[str, Any] | None:
    """The manifest of ``folder`` when its output can stand for processing ``video`` again, else None.

    Reusable means: the manifest names this input, the input's size and modification time are
    the recorded ones, ``session.npz`` is newer than the input, every listed file is there and
    the settings match (``BatchSettings.reusable``).

    Args:
        video (Path): the input file (absolute).
        folder (Path): its output folder.
        settings (BatchSettings): the checked settings of this run.
    """
    manifest = read_manifest(folder)
    if manifest is None or manifest.get("input") != str(video):
        return None
    try:
        stamp = input_stamp(video)
        session_mtime = (folder / SESSION).stat().st_mtime_ns
    except OSError:
        return None
    if not made_from(manifest, stamp) or session_mtime < stamp["mtime_ns"]:
        return None
    if not all((folder / name).is_file() for name in manifest.get("files", ())):
        return None
    settings_recorded = manifest.get("settings")
    if not isinstance(settings_recorded, dict) or not settings.reusable(settings_recorded):
        return None
    return manifest
