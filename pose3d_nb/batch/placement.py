"""Where each video's output goes, so that no two inputs share a folder and nothing is deleted.

A batch only ever replaces a folder it made for the same video: one of the names it gives that
video, holding a manifest (``batch.json``) that names that video, and no file the manifest does
not list. Anything else in ``OUT`` is never touched:

- ``OUT/NAME`` made by a batch for another video (an earlier batch of a same-named file from
  another folder): this video goes to ``OUT/NAME-HASH`` instead (``inputs.hashed_name``);
- ``OUT/NAME`` not made by a batch (no manifest: the user's own folder), a file, or a batch
  output with files added to it: this video fails, with the reason, before anything runs.

``place_outputs`` decides this for a whole batch before it starts (``claim_reason``). A video's
own folder is one of the names the batch gives it (``own_names``: ``OUT/NAME``, the stem alone,
the stem plus the path's hash); the first of them that holds its output is its folder, reused
when up to date and replaced when not. A folder of another name whose manifest names the video
(``outputs_elsewhere``) is the user's copy or renamed folder (``cp -a results/walk
results/backup_walk``, ``mv walk walk_v1``): a rerun may reuse it when it is up to date (nothing
is written), but never replaces it or writes into it; a video to be made again goes to its own
folder, a new ``OUT/NAME`` when there is none, the copy left as it is. ``writable_reason``
(the same, and no file added or edited by the user) is asked before a video is processed again and once
more by the task right before it renames its staging folder into place, so a folder that
appeared or changed meanwhile is not replaced either.
"""

from __future__ import annotations

from pathlib import Path

from pose3d_nb.batch.inputs import hashed_name, output_names
from pose3d_nb.batch.manifest import MANIFEST, read_manifest
from pose3d_nb.errors import Pose3DRuntimeError


class FolderInTheWay(Pose3DRuntimeError):
    """A video's output folder holds something a batch did not make for it: the message says what."""


def claim_reason(folder: Path, video: Path) -> str | None:
    """Why ``folder`` is not ``video``'s to use, or None when it is absent or a batch made it for ``video``.

    Args:
        folder (Path): the candidate output folder ``OUT/NAME``.
        video (Path): the input (absolute, as ``find_videos`` gives it).

    Returns:
        str | None: a one-line reason naming the folder and what to do, or None.
    """
    if not folder.exists() and not folder.is_symlink():
        return None
    if folder.is_symlink() or not folder.is_dir():
        return f"{folder} exists and is not a folder made by pose3d batch; move it away or use another --out"
    manifest = read_manifest(folder)
    if manifest is None:
        return (
            f"{folder} exists and was not made by pose3d batch (no {MANIFEST}); it is left as it "
            "is: move it away or choose another --out"
        )
    if manifest.get("input") != str(video):
        return f"{folder} holds the output of another video ({manifest.get('input')}); it is left as it is"
    return None


def writable_reason(folder: Path, video: Path,
                    purpose: str = "have this video processed again") -> str | None:
    """Why ``folder`` may not be replaced by a new output of ``video``, or None when it may.

    It may when it does not exist, or when a batch made it for ``video`` and it holds only the
    files that batch wrote, as it wrote them (an up-to-date output with the user's files added,
    or an export the user edited, is still reused: only replacing it is refused). Adding exports
    to an output replaces its folder too (by a new one holding the same files and the exports:
    ``task.add_exports``), so the same holds for it.

    Args:
        folder (Path): the video's output folder ``OUT/NAME``.
        video (Path): the input (absolute, as ``find_videos`` gives it).
        purpose (str): what moving the user's files away would allow, for the reason.

    Returns:
        str | None: a one-line reason naming the folder and what to do, or None.
    """
    reason = claim_reason(folder, video)
    if reason is not None or not folder.exists():
        return reason
    manifest = read_manifest(folder) or {}
    files = manifest.get("files")
    listed = {MANIFEST, *(files if isinstance(files, list) else ())}
    added = sorted(p.name for p in folder.iterdir() if p.name not in listed)
    if added:
        return (
            f"{folder} holds files pose3d batch did not write ({_shown(added)}); they are left as they "
            f"are: move them away to {purpose}"
        )
    edited = _changed_files(folder, manifest.get("file_stamps"))
    if edited:  # a BVH cleaned up by hand was replaced by a new export when the video was redone
        return (
            f"{folder} holds files changed since pose3d batch wrote them ({_shown(edited)}); they are "
            f"left as they are: move them away to {purpose}"
        )
    return None


def _shown(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _changed_files(folder: Path, stamps: object) -> list[str]:
    """The files whose size or modification time differ from the manifest's ``file_stamps``
    (manifests written before they were recorded have none: nothing can be said)."""
    if not isinstance(stamps, dict):
        return []
    changed = []
    for name, recorded in sorted(stamps.items()):
        try:
            stat = (folder / name).stat()
        except OSError:
            continue  # gone: nothing of the user's to keep
        if recorded != {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}:
            changed.append(name)
    return changed


def _made_for_another_video(folder: Path, video: Path) -> bool:
    manifest = read_manifest(folder) if folder.is_dir() and not folder.is_symlink() else None
    return manifest is not None and manifest.get("input") != str(video)


def holds_output_of(folder: Path, video: Path) -> bool:
    """``folder`` is a folder (not a link) whose manifest names ``video`` (complete or not,
    current or not)."""
    manifest = read_manifest(folder) if folder.is_dir() and not folder.is_symlink() else None
    return manifest is not None and manifest.get("input") == str(video)


def own_names(video: Path, name: str) -> list[str]:
    """The folder names a batch gives ``video``, ``name`` (its ``output_names`` name in this batch)
    first: its stem alone (the name it gets in a batch without another video of that stem) and its
    stem plus its path's hash (``hashed_name``). An output of ``video`` under one of these is its
    own, replaced when made again; under any other name it is a copy the user made."""
    return list(dict.fromkeys([name, output_names([video])[0], hashed_name(video)]))


def outputs_elsewhere(out_dir: Path) -> dict[str, list[Path]]:
    """Input path -> every folder in ``out_dir`` whose manifest names it, in name order.

    Read from the manifests, so a folder the user renamed or copied (``backup_walk``) is found
    too; the caller keeps those a video does not own (``own_names``) for reuse only.
    """
    found: dict[str, list[Path]] = {}
    if not out_dir.is_dir():
        return found
    for folder in sorted(out_dir.iterdir()):
        if folder.name.startswith(".") or folder.is_symlink() or not folder.is_dir():
            continue
        manifest = read_manifest(folder)
        if manifest is not None and isinstance(manifest.get("input"), str):
            found.setdefault(manifest["input"], []).append(folder)
    return found


def place_outputs(videos: list[Path], out_dir: Path) -> tuple[dict[Path, Path], dict[Path, str]]:
    """Each video's own output folder in ``out_dir``, or the reason it cannot have one.

    A video's own folder is the first of ``own_names`` that holds its output (an earlier batch's,
    reused or replaced), else ``OUT/NAME``, or ``OUT/NAME-HASH`` when ``OUT/NAME`` holds another
    video's output. A folder of another name holding its output (the user's copy) is never
    returned: see ``outputs_elsewhere``.

    Args:
        videos (list[Path]): absolute paths, as ``find_videos`` returns them.
        out_dir (Path): the batch's output folder (absolute).

    Returns:
        tuple[dict[Path, Path], dict[Path, str]]: video -> its folder (all different, also
        case-insensitively), and video -> why it fails (see the module docstring).
    """
    folders: dict[Path, Path] = {}
    refused: dict[Path, str] = {}
    taken: set[str] = set()
    for video, name in zip(videos, output_names(videos), strict=True):
        held = [out_dir / own for own in own_names(video, name)
                if own.lower() not in taken and holds_output_of(out_dir / own, video)]
        if held:
            folders[video] = held[0]
            taken.add(held[0].name.lower())
            continue
        reasons = []
        for folder in (out_dir / name, out_dir / hashed_name(video)):
            if folder.name.lower() in taken:
                reasons.append(f"{folder} is the output of another input of this batch")
                continue
            reason = claim_reason(folder, video)
            if reason is None:
                folders[video] = folder
                taken.add(folder.name.lower())
                break
            reasons.append(reason)
            if not _made_for_another_video(folder, video):
                break  # the user's folder, or a file: said so, never worked around
        if video not in folders:
            refused[video] = reasons[-1]
    return folders, refused
