"""One batch at a time per output folder: ``OUT/.pose3d-batch.lock`` names the batch holding it.

Two batches writing into one ``--out`` would race for the same output folders and each remove
the other's staging folders, so ``process`` takes this lock before it writes anything and
releases it when it ends. The lock file is JSON: ``host``, ``pid``, ``started`` (UTC, ISO 8601),
``process_start`` (the holder's start time as Linux counts it, which tells a reused pid apart)
and ``command``. It is created whole in one step (written beside, then hard-linked into place,
which fails when a lock is already there).

A lock left by a batch that died (``kill -9``, a power cut) is stale when its holder ran on this
host and that process is gone; it is then taken over. A lock from another host cannot be checked
from here: the error says to remove the file once that batch is known to be gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pose3d_nb.errors import Pose3DRuntimeError

LOCK = ".pose3d-batch.lock"


class BatchLockedError(Pose3DRuntimeError):
    """Another batch holds the output folder's lock: the message names it and what to do."""


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux ``/proc``); None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, counted after the command name


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process, but it exists
    current = process_start(pid)
    return started is None or current is None or current == started


def holder_description(holder: dict[str, Any]) -> str:
    """``host H, pid P, started T, command: C`` for a message."""
    text = f"host {holder.get('host')}, pid {holder.get('pid')}, started {holder.get('started')}"
    return text + (f", command: {holder['command']}" if holder.get("command") else "")


def read_lock(path: Path) -> dict[str, Any] | None:
    """The holder recorded in the lock file at ``path``; None when it is gone or unreadable."""
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def is_stale(holder: dict[str, Any]) -> bool:
    """True when the holder ran on this host and that process no longer exists."""
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    return not _alive(pid, holder.get("process_start"))


def _write_beside(path: Path) -> Path:
    """The lock's content, complete, in a file of its own beside ``path``."""
    holder = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "process_start": process_start(os.getpid()),
        "command": " ".join(sys.argv),
    }
    draft = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}")
    draft.write_text(json.dumps(holder) + "\n")
    return draft


def _remove_if_unchanged(path: Path, stale: dict[str, Any]) -> None:
    """Remove the lock at ``path`` if it still records ``stale`` (not a lock taken meanwhile)."""
    grabbed = path.with_name(f"{path.name}.stale.{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, grabbed)  # atomic: whatever lock is there now is ours to look at
    except FileNotFoundError:
        return
    if read_lock(grabbed) != stale:
        with contextlib.suppress(FileExistsError):
            os.link(grabbed, path)  # a new batch's lock: put it back
    grabbed.unlink()


@contextlib.contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the folder itself (no file of ours in the user's folder);
    where folders cannot be locked (not POSIX, some network file systems), nothing."""
    try:
        import fcntl
    except ImportError:
        fcntl = None
    descriptor = -1
    if fcntl is not None:
        with contextlib.suppress(OSError):
            descriptor = os.open(out_dir, os.O_RDONLY)
    try:
        if descriptor >= 0:
            # A file system without flock on folders (NFS) goes on unguarded, as before.
            with contextlib.suppress(OSError):
                fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        if descriptor >= 0:
            os.close(descriptor)  # releases the flock


def acquire(out_dir: Path) -> Path:
    """Take ``out_dir``'s lock (taking over a stale one); the lock file's path.

    Raises:
        BatchLockedError: another live batch (or one on another host) holds it.
    """
    path = out_dir / LOCK
    draft = _write_beside(path)
    # One batch at a time inspects the lock and replaces a stale one: otherwise a batch putting
    # back a live lock it had moved aside could find a third batch's lock taken in the gap.
    try:
        with _exclusive(out_dir):
            for _ in range(3):
                try:
                    os.link(draft, path)
                    return path
                except FileExistsError:
                    holder = read_lock(path)
                if holder is None and path.exists():
                    raise BatchLockedError(
                        f"{path} exists but does not name a pose3d batch; remove it if no batch is running"
                    )
                if holder is None:
                    continue  # removed meanwhile (that batch ended): try again
                if not is_stale(holder):
                    raise BatchLockedError(
                        f"{out_dir} is in use by another pose3d batch ({holder_description(holder)}); "
                        f"wait for it to end, or, if it is gone, remove {path}"
                    )
                _remove_if_unchanged(path, holder)
        raise BatchLockedError(f"could not take the lock {path}: other batches keep taking it")
    finally:
        draft.unlink()


def release(path: Path) -> None:
    """Remove the lock at ``path`` if it is still this process's."""
    holder = read_lock(path)
    if holder is not None and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def batch_lock(out_dir: Path) -> Iterator[Path]:
    """Hold ``out_dir``'s lock for the block (see the module docstring).

    Args:
        out_dir (Path): the batch's output folder (it must exist).

    Yields:
        Path: the lock file.

    Raises:
        BatchLockedError: another batch holds it.
    """
    path = acquire(out_dir)
    try:
        yield path
    finally:
        release(path)
