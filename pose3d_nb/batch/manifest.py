"""A video's manifest: the small JSON file that marks its output folder complete.

``batch.json`` is the last file written into a video's staging folder (atomically), and the
folder is then renamed into place in one step. So an output folder with a manifest holds a
finished ``session.npz`` and the exports it lists; a rerun reuses it when the input file is
unchanged (same size and modification time, and older than the session) and the settings match,
and when only exports are missing, writes them beside the recording (``exports_to_add``).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from pose3d_nb.batch.settings import BatchSettings
from pose3d_nb.recording import atomic_file
from pose3d_nb.recording.folder import BATCH_MANIFEST

MANIFEST = BATCH_MANIFEST  # "batch.json" (recording.folder keeps no record of exports beside it)
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


def current_output(video: Path, folder: Path) -> dict[str, Any] | None:
    """The manifest of ``folder`` when it holds a complete output of ``video`` as the file is now,
    whatever settings it was made with, else None.

    That is: the manifest names this input, the input's size and modification time are the
    recorded ones, ``session.npz`` is newer than the input and every listed file is there.

    Args:
        video (Path): the input file (absolute).
        folder (Path): its output folder.
    """
    manifest = complete_output(video, folder)
    if manifest is None:
        return None
    try:
        stamp = input_stamp(video)
        session_mtime = (folder / SESSION).stat().st_mtime_ns
    except OSError:
        return None
    if not made_from(manifest, stamp) or session_mtime < stamp["mtime_ns"]:
        return None
    return manifest


def complete_output(video: Path, folder: Path) -> dict[str, Any] | None:
    """The manifest of ``folder`` when it holds a complete output of ``video``, made from the
    input as it is now or not, with whatever settings; else None.

    That is: the manifest names this input and every file it lists is there.

    Args:
        video (Path): the input file (absolute).
        folder (Path): its output folder.
    """
    manifest = _manifest_naming(video, folder)
    if manifest is None:
        return None
    files = manifest.get("files", ())
    if not isinstance(files, (list, tuple)) or not all(
            isinstance(name, str) and (folder / name).is_file() for name in files):
        return None
    return manifest


def _manifest_naming(video: Path, folder: Path) -> dict[str, Any] | None:
    """``folder``'s manifest when it names ``video`` as its input, else None."""
    manifest = read_manifest(folder)
    return manifest if manifest is not None and manifest.get("input") == str(video) else None


def recorded_frames(manifest: dict[str, Any]) -> int | None:
    """The number of frames ``manifest`` says its recording holds (its ``frames``), or None when
    it says none that can be one (an edited file)."""
    frames = manifest.get("frames")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 0:
        return None
    return frames


def longer_than_limit(video: Path, folder: Path, max_frames: int | None) -> dict[str, Any] | None:
    """The manifest of ``folder`` when it holds an output of ``video`` whose recording (its
    ``session.npz``, whatever else it lists is missing) has more frames than a run recording at
    most ``max_frames`` poses would make, else None (always None without a limit).

    Such a run's output would be shorter than the one there, whatever the video's length: the
    old output holds ``frames`` rows, so the video has at least that many, and the new one would
    hold ``max_frames`` of them. One whose frame count is not recorded counts as longer, since
    nothing says it is not. An output that holds fewer (or as many) frames is not longer, even if
    it was made with a higher limit or none: its video ended first, and the new run makes it as
    long again.

    Args:
        video (Path): the input file (absolute).
        folder (Path): its output folder.
        max_frames (int | None): the limit of this run (``BatchSettings.max_frames``).
    """
    if max_frames is None:
        return None
    # Its recording is what would be cut: an output missing another file it lists (an export the
    # user deleted, joints.npy) still holds it, and was replaced by a cut one.
    manifest = _manifest_naming(video, folder)
    if manifest is None or not (folder / SESSION).is_file():
        return None
    frames = recorded_frames(manifest)
    return manifest if frames is None or frames > max_frames else None


def reusable_output(video: Path, folder: Path, settings: BatchSettings) -> dict[str, Any] | None:
    """The manifest of ``folder`` when its output can stand for processing ``video`` again, else None.

    Reusable means: a complete output of the input as it is now (``current_output``) made with
    matching settings (``BatchSettings.reusable``: the same processing, every export asked for).

    Args:
        video (Path): the input file (absolute).
        folder (Path): its output folder.
        settings (BatchSettings): the checked settings of this run.
    """
    manifest = current_output(video, folder)
    if manifest is None or not settings.reusable(manifest.get("settings")):
        return None
    return manifest


def exports_to_add(video: Path, folder: Path,
                   settings: BatchSettings) -> tuple[dict[str, Any], tuple[str, ...]] | None:
    """An output of ``video`` that is up to date but for exports asked for now: its manifest and
    the formats to write beside its recording; None when it is reusable as it is, or must be
    processed again (``current_output``, ``BatchSettings.missing_exports``).

    A format the user has written into the folder themselves, at its default path (``pose3d
    export`` without ``--out``), counts as there, as for an export that failed
    (``task.export_failure``): it is never overwritten, so the formats returned may be ().
    Its listed files must be plain names in the folder (they are carried into a new folder).

    Args:
        video (Path): the input file (absolute).
        folder (Path): its output folder.
        settings (BatchSettings): the checked settings of this run.

    Returns:
        tuple[dict[str, Any], tuple[str, ...]] | None: the manifest and the missing formats.
    """
    manifest = current_output(video, folder)
    if manifest is None:
        return None
    missing = settings.missing_exports(manifest.get("settings"))
    if not missing or not all(_plain_name(name) for name in manifest.get("files", ())):
        return None
    from pose3d_nb.export import default_path

    return manifest, tuple(fmt for fmt in missing if not default_path(folder / SESSION, fmt).is_file())


def _plain_name(name: str) -> bool:
    """A file name inside a folder (not a path leading elsewhere, nor the manifest itself)."""
    return name not in ("", ".", "..", MANIFEST) and Path(name).name == name


def write_manifest_with_exports(folder: Path, manifest: dict[str, Any], formats: tuple[str, ...],
                                written: list[str]) -> None:
    """Write ``folder/batch.json`` atomically for an output whose exports ``formats`` were added:
    ``manifest`` (the one the output had) with ``formats`` added to its settings' exports and the
    files ``written`` (names inside ``folder``) to its files, with their size and modification
    time. Everything else stays as recorded when the video was processed (the stamps of the files
    it had among them, so a file edited since is still seen as edited).

    Args:
        folder (Path): the staging folder holding the output with the exports added.
        manifest (dict[str, Any]): the manifest the output had (``exports_to_add``).
        formats (tuple[str, ...]): the export formats written.
        written (list[str]): the files the exports wrote, or rewrote (names inside ``folder``).
    """
    settings = dict(manifest["settings"])
    settings["export"] = sorted({*(f for f in settings.get("export", ()) if isinstance(f, str)), *formats})
    stamps = manifest.get("file_stamps")
    stamps = dict(stamps) if isinstance(stamps, dict) else {}
    stamps.update({name: file_stamp(folder / name) for name in written})
    files = sorted({*manifest.get("files", ()), *written})
    updated = {**manifest, "settings": settings, "files": files,
               "file_stamps": {name: stamps[name] for name in files if name in stamps}}
    with atomic_file(folder / MANIFEST) as handle:
        handle.write((json.dumps(updated, indent=1) + "\n").encode())
