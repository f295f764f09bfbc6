"""Files written whole: ``atomic_file`` and the newest pose (``joints.npy``); the CSV tables are
``pose3d_nb.export.table``'s.

A reader (the original project's plotting process, a notebook cell, a crash) never sees a half
written file: data goes to a temporary file in the same folder, is flushed, then renamed over the
target with ``os.replace``. The writer holds an ``flock`` on its temporary file from before its
first byte until after the rename, so a temporary file nobody holds is one whose writer is gone
(killed: ``kill -9``, a power cut), which ``writer_gone`` tells a cleaner.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pose3d_nb.skeleton import H36M


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, not while writing
    os.umask(mask)
    return mask


_UMASK = _read_umask()


#: What a folder fsync answers where the platform or file system cannot sync folders (Windows,
#: some network and FUSE file systems): nothing to do there.
_CANNOT_SYNC_FOLDERS = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF, errno.EACCES,
                        errno.EPERM, errno.EISDIR, errno.ENOSYS}
_warned_folders: set[str] = set()


def fsync_folder(folder: Path) -> bool:
    """Make a rename in ``folder`` durable (POSIX); True when it was synced.

    Where folders cannot be synced, nothing happens (False). Any other failure (an I/O error)
    is a ``RuntimeWarning``, once per folder, and False: the file itself is written and synced
    and stays in place, only its name may not survive a power cut. Raising instead would lose
    every recording on the file systems that always fail folder syncs (some SMB and FUSE mounts).
    """
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        return _sync_failed(folder, exc)
    try:
        os.fsync(descriptor)
        return True
    except OSError as exc:
        return _sync_failed(folder, exc)
    finally:
        os.close(descriptor)


def _sync_failed(folder: Path, exc: OSError) -> bool:
    if exc.errno not in _CANNOT_SYNC_FOLDERS and str(folder) not in _warned_folders:
        _warned_folders.add(str(folder))
        warnings.warn(f"could not sync the folder {folder} ({exc}): files saved there are written, but "
                      "their names may not survive a power cut", RuntimeWarning, stacklevel=3)
    return False


#: The longest file name (bytes) the usual file systems take (ext4, XFS, APFS, NTFS in UTF-16
#: units, near enough).
NAME_MAX = 255


def _temporary_prefix(name: str, suffix: str) -> str:
    """``.NAME.`` for the temporary file beside ``NAME``; for a name too long to take the dots,
    8 random characters and ``suffix`` within ``NAME_MAX`` bytes, its first bytes and a hash of
    the whole name (an export named with 243 to 255 bytes could not be written: "File name too
    long", although the name itself is legal)."""
    room = NAME_MAX - len(suffix.encode()) - 10  # the two dots and tempfile's 8 characters
    if len(name.encode()) <= room:
        return f".{name}."
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    kept = name.encode()[: room - 13].decode(errors="ignore")
    return f".{kept}~{digest}."


@contextlib.contextmanager
def atomic_file(path: str | Path, durable: bool = True, suffix: str = ".tmp") -> Iterator[io.BufferedWriter]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` in one step.

    ``durable`` also fsyncs before the rename (survives a power cut); the per-frame pose file
    skips that, since readers only need the rename's all-or-nothing visibility. ``suffix`` ends
    the temporary name (for libraries that write by file name and insist on an extension).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not a with-block: the handle must outlive the yield and be renamed, not deleted.
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115
        dir=path.parent, prefix=_temporary_prefix(path.name, suffix), suffix=suffix, delete=False
    )
    held = _hold(handle.fileno())  # until after the rename: a cleaner never takes a live write
    try:
        with handle:
            yield handle
            handle.flush()
            # NamedTemporaryFile is created 0600; give the file the permissions a plain open()
            # would, so another user's reader (a plotting process, a server) can open it.
            os.fchmod(handle.fileno(), 0o666 & ~_UMASK)
            if durable:
                os.fsync(handle.fileno())
        os.replace(handle.name, path)
        if durable:
            fsync_folder(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(handle.name)
        raise
    finally:
        if held is not None:
            os.close(held)


def durable_link(source: Path, target: Path) -> None:
    """Give the file ``source`` the second name ``target`` (a hard link: no byte copied), durably:
    the folder holding ``target`` is synced, so the name survives a power cut. Where the file
    system has no hard links (some FUSE, network and FAT file systems), ``target`` is a copy
    written through ``atomic_file``: it appears whole or not at all.

    Meant for files that are only ever replaced, never changed in place (``session.npz``): the
    second name keeps the content it has now after ``source`` is replaced. Raises ``OSError``
    when neither can be made (``FileExistsError`` when ``target`` exists).
    """
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:
        with open(source, "rb") as original, atomic_file(target) as handle:
            shutil.copyfileobj(original, handle, 1 << 20)
        return  # atomic_file synced the copy and its folder
    fsync_folder(target.parent)


def _hold(descriptor: int) -> int | None:
    """Take an exclusive ``flock`` on the open file ``descriptor``; a duplicate of it that keeps
    the lock once the file object is closed (None where files cannot be locked: not POSIX, some
    network file systems)."""
    try:
        import fcntl

        fcntl.flock(descriptor, fcntl.LOCK_EX)
        return os.dup(descriptor)
    except (ImportError, OSError):
        return None


def writer_gone(path: Path) -> bool:
    """True when nobody holds the temporary file ``path`` of an ``atomic_file`` (its writer was
    killed, or it was written by a version that took no lock): no process is writing it.

    False when a writer holds it, and where that cannot be told (no ``flock``: not POSIX, some
    network file systems; the file gone or unreadable). A writer takes its lock just after it
    creates the file, before its first byte: a cleaner that finds an empty one cannot tell a
    write just begun from a dead one, and should leave it unless nothing else writes there.
    """
    try:
        descriptor = try_lock(path)
    except BlockingIOError:  # held
        return False
    if descriptor is None:
        return False
    os.close(descriptor)  # also lets go of the lock just taken
    return True


def try_lock(path: Path) -> int | None:
    """Open ``path`` (a file or a folder) and take an exclusive ``flock`` on it without waiting;
    the descriptor that holds it (closing it lets go). None where that cannot be done: no
    ``flock`` (not POSIX), ``path`` cannot be opened, or it cannot be locked there (some network
    file systems).

    Raises:
        BlockingIOError: another open of ``path`` (this process's or another's) holds it.
    """
    try:
        import fcntl
    except ImportError:
        return None
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise
    except OSError:
        os.close(descriptor)
        return None
    return descriptor


def write_latest_pose(path: str | Path, joints_3d: np.ndarray) -> None:
    """The original's ``joints.npy``: the newest pose, shape (1, 17, 3), world metres, floor at 0."""
    array = np.asarray(joints_3d, dtype=np.float32).reshape(1, H36M.num_joints, 3)
    with atomic_file(path, durable=False) as handle:
        np.save(handle, array)
