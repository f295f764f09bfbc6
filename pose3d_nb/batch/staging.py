"""Staging folders: where a video's output is written before it appears, in one rename.

A task writes into ``OUT/.staging/NAME@HOST@PID@RANDOM/`` and, once everything (manifest last)
is there, renames that folder to ``OUT/NAME``. A worker killed half way leaves only a staging
folder, hidden and never mistaken for output; the next attempt at the same video (Dask's retry on
another worker, or a later run) removes it, and ``remove_if_empty`` drops ``.staging`` itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import uuid
from pathlib import Path

from pose3d_nb.batch.placement import FolderInTheWay, writable_reason

STAGING = ".staging"


def _owner_alive(folder_name: str) -> bool:
    """True when the staging folder belongs to a live process on this host (not this one)."""
    parts = folder_name.rsplit("@", 3)
    if len(parts) != 4:
        return False
    _, host, pid_text, _ = parts
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False  # another host's worker died (Dask retried the video here), or this process's
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(out_dir: Path, name: str) -> None:
    """Remove the staging folders earlier attempts at ``name`` left (their worker died).

    A folder whose owner is a live process on this host is kept (a cancelled task can still be
    running); folders of other hosts are removed, since Dask only retries a video after the
    worker running it is gone.

    Args:
        out_dir (Path): the batch's output folder.
        name (str): the video's output folder name.
    """
    staging = out_dir / STAGING
    if not staging.is_dir():
        return
    for folder in staging.glob(f"{glob_escape(name)}@*"):
        if folder.name.rsplit("@", 3)[0] == name and not _owner_alive(folder.name):
            shutil.rmtree(folder, ignore_errors=True)


def glob_escape(text: str) -> str:
    """``text`` with glob's special characters escaped (``[`` -> ``[[]`` ...)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def new_staging(out_dir: Path, name: str) -> Path:
    """Create and return a fresh staging folder for ``name`` (unique to this attempt)."""
    folder = out_dir / STAGING / f"{name}@{socket.gethostname()}@{os.getpid()}@{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    return folder


def publish(staging: Path, final: Path, video: Path) -> None:
    """Move a complete staging folder to ``final``, replacing an older output of ``video`` there.

    The old output is first renamed away, then the new folder renamed in: at every instant
    ``final`` is either absent, the old output or the new one, never a mixture. Only a folder
    a batch made for the same video, holding nothing else, is replaced
    (``placement.writable_reason``); a folder created at ``final`` between that check and the
    rename makes the rename fail (``OSError``) rather than be replaced, unless it is empty.

    Args:
        staging (Path): the finished staging folder (manifest written).
        final (Path): the video's output folder.
        video (Path): the input the output was made from (absolute).

    Raises:
        FolderInTheWay: ``final`` holds something else (the user's folder, another video's output).
    """
    reason = writable_reason(final, video)
    if reason is not None:
        raise FolderInTheWay(reason)
    old = None
    if final.exists():
        old = staging.with_name(staging.name + ".old")
        os.replace(final, old)
    os.replace(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def discard(staging: Path) -> None:
    """Remove a staging folder (a failed attempt): nothing of it is kept."""
    shutil.rmtree(staging, ignore_errors=True)


def remove_if_empty(out_dir: Path) -> None:
    """Remove ``out_dir/.staging`` when nothing is left in it."""
    with contextlib.suppress(OSError):
        (out_dir / STAGING).rmdir()
