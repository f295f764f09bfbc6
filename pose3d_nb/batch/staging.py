"""Staging folders: where a video's output is written before it appears, in one rename.

A task writes into ``OUT/.staging/KEY@HOST@PID@ATTEMPT/`` and, once everything (manifest last)
is there, renames that folder to ``OUT/NAME``. ``KEY`` is the start of ``NAME`` and a hash of all
of it (``staging_key``), so a staging folder's name stays well under the file system's 255 bytes
whatever the video is called, and no two output names share one. A worker killed half way
leaves only a staging folder, hidden and never mistaken for output; the next attempt at the same
video (Dask's retry on another worker, a later run, or the batch settling after Ctrl-C) removes
it (``remove_stale``), and ``remove_if_empty`` drops ``.staging`` itself. A staging folder whose
manifest was written holds a complete output: it is put in place (a worker killed right before
publishing, a publish that failed), and removed only when ``OUT/NAME`` holds an output of the
same video made from the same input (both manifests record its size and modification time) with
the same settings and every export it has, or from the input as it is now while the staged one
was not. Adding exports to an output goes the same way (``task.add_exports``: its files and the
new exports in a staging folder, published over the old folder), so it is as safe.

Replacing an older output takes two renames (``publish``): the old folder goes to
``KEY@HOST@PID@ATTEMPT.old`` beside the new one, then the new one to ``OUT/NAME``. A worker
killed between the two leaves both complete outputs in ``.staging`` and ``OUT/NAME`` empty;
``remove_stale`` then finishes that publish (or undoes it when the new folder is not complete),
and removes a ``.old`` folder only once ``OUT/NAME`` holds the same video's output again. A
second rename that fails (something appeared at ``OUT/NAME``) puts the old output back when
``OUT/NAME`` is free, and leaves the new one in ``.staging`` for the next attempt.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from pose3d_nb.batch.inputs import cut_to_bytes, short_hash
from pose3d_nb.batch.manifest import input_stamp, longer_than_limit, made_from, read_manifest, reusable_output
from pose3d_nb.batch.placement import FolderInTheWay, writable_reason
from pose3d_nb.batch.settings import comparable_settings

if TYPE_CHECKING:
    from pose3d_nb.batch.settings import BatchSettings

STAGING = ".staging"
SET_ASIDE = ".old"
"""Suffix of the staging folder that holds the output ``publish`` is replacing."""

REPLACED = ".del"
"""Suffix a set-aside output takes once the new one is in place, before it is removed."""

KEY_BYTES = 40
"""The most UTF-8 bytes of an output name a staging folder's name repeats (then a hash of it)."""

_ATTEMPT = re.compile(
    r"^(?P<key>.+)@(?P<host>[^@]+)@(?P<pid>[0-9]+)@(?P<attempt>[0-9a-f]+)(?P<mark>\.old|\.del)?$"
)


def staging_key(name: str) -> str:
    """The part of a staging folder's name that stands for the output name ``name``:
    its first ``KEY_BYTES`` bytes, ``~`` and ``short_hash(name)`` (at most 49 bytes)."""
    return f"{cut_to_bytes(name, KEY_BYTES)}~{short_hash(name)}"


def _host() -> str:
    """This host's name as staging folders carry it (kept short: a host name may be long)."""
    host = socket.gethostname().replace("@", "_")
    return host if len(host.encode()) <= 64 else f"{cut_to_bytes(host, 55)}~{short_hash(host)}"


def _owner_alive(host: str, pid: int) -> bool:
    """True when a staging folder's owner is a live process on this host (not this one)."""
    if host != _host() or pid == os.getpid():
        return False  # another host's worker died (Dask retried the video here), or this process's
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dead_attempts(out_dir: Path, name: str) -> list[tuple[Path, str]]:
    """The staging folders of ``name`` whose owner is gone, each with its mark: ``SET_ASIDE``,
    ``REPLACED`` or "" (an attempt's own folder). Only names this module makes are matched (a
    folder of another output name, or anything else in ``.staging``, never is); folders named
    before ``staging_key`` (``NAME@HOST@PID@ATTEMPT``) are matched too, so their leftovers are
    settled the same way."""
    staging = out_dir / STAGING
    keys = {staging_key(name), name}
    found = []
    with contextlib.suppress(OSError):
        for folder in staging.iterdir():
            parts = _ATTEMPT.match(folder.name)
            if parts is None or parts["key"] not in keys or folder.is_symlink() or not folder.is_dir():
                continue
            if not _owner_alive(parts["host"], int(parts["pid"])):
                found.append((folder, parts["mark"] or ""))
    return found


def _manifest_in(folder: Path) -> dict | None:
    """``folder``'s manifest; None for a link, a file, or a folder without a readable one."""
    return read_manifest(folder) if folder.is_dir() and not folder.is_symlink() else None


def _input_of(folder: Path) -> object:
    manifest = _manifest_in(folder)
    return None if manifest is None else manifest.get("input")


def _complete_input(folder: Path) -> object:
    """The input ``folder``'s output was made from when it is complete (its manifest, written
    last, is readable and every file it lists is there), else None."""
    manifest = _manifest_in(folder)
    files = manifest.get("files", ()) if manifest is not None else None
    if not isinstance(files, (list, tuple)):
        return None
    if not all(isinstance(name, str) and (folder / name).is_file() for name in files):
        return None
    return manifest.get("input")


def _made_from_current_input(folder: Path, video: Path) -> bool:
    """``folder``'s manifest records the size and modification time ``video`` has now."""
    try:
        stamp = input_stamp(video)
    except OSError:
        return False
    return made_from(read_manifest(folder) or {}, stamp)


def _is_free(final: Path) -> bool:
    """``final`` is absent or an empty folder (what a rename may take)."""
    if final.is_symlink():
        return False
    if not final.exists():
        return True
    return final.is_dir() and not any(final.iterdir())


def _settle_set_aside(old: Path, final: Path) -> None:
    """Finish or undo the publish that set ``old`` aside and was cut off; never lose an output.

    ``final`` empty: the new output (``old``'s partner, when complete and of the same video) is
    renamed into place, as publish would have; otherwise ``old`` goes back. ``old`` is removed
    only when ``final`` holds the same video's output; else it is left where it is.
    """
    video = _input_of(old)
    if video is None:
        return  # not an output the batch set aside (no manifest): not ours to judge, kept
    if _is_free(final):
        new = old.with_name(old.name[: -len(SET_ASIDE)])
        chosen = new if _input_of(new) == video else old
        try:
            os.replace(chosen, final)  # POSIX: over an empty folder; fails over anything else
        except OSError:
            return  # something appeared at final meanwhile: both kept
    if old.exists() and _input_of(final) == video:
        _remove_replaced(old)  # replaced by the same video's output: what publish was doing


def _settle_unpublished(folder: Path, final: Path, video: Path,
                        settings: BatchSettings | None = None) -> None:
    """Settle a dead attempt's staging folder that was never renamed into place; never lose an output.

    Not complete (no manifest: the worker died while recording): removed. Complete and made from
    ``video`` (the worker died after its manifest, before publishing, or publishing failed): put in
    place when ``final`` is free, or over an output of ``video`` there made from an input that has
    changed since, or with other settings than this run's ``settings`` while it was made with them
    (``publish``: never over the user's files), unless it was made with a ``max_frames`` limit that
    makes it shorter than the output there (``_cut_shorter``). Removed only when ``final`` holds an
    output of ``video`` made from the same input (the same size and modification time recorded)
    with the same settings (its exports the same or more), or made from the input as it is now
    while this one was not (what ``publish`` replaces). Made from the same input with the same
    settings but more exports (``task.add_exports`` cut off before its publish), it is put in
    place. Anything else keeps it for a later attempt: ``final`` taken by something else, another
    video's output, outputs of other settings, and two outputs of inputs that have both changed
    since (the input changed again after this one's publish failed).
    """
    input_path = _complete_input(folder)
    if input_path is None:
        shutil.rmtree(folder, ignore_errors=True)  # never finished: nothing to keep
        return
    if input_path != str(video):
        return  # not this video's output: not ours to judge, kept
    if _is_free(final):
        with contextlib.suppress(OSError):  # something appeared at final meanwhile: kept
            os.replace(folder, final)
        return
    if _input_of(final) != str(video):
        return  # final holds something else (the user's folder, another video's output): kept
    folder_current = _made_from_current_input(folder, video)
    final_current = _made_from_current_input(final, video)
    wanted = settings is not None and reusable_output(video, folder, settings) is not None \
        and reusable_output(video, final, settings) is None  # made with this run's settings
    if ((folder_current and not final_current) or wanted) and not _cut_shorter(folder, final, video):
        with contextlib.suppress(OSError, FolderInTheWay):  # the user's files in final: kept
            publish(folder, final, video)
        return
    if final_current and not folder_current:
        shutil.rmtree(folder, ignore_errors=True)  # its input is gone; final has the current one's
        return
    kept, placed = read_manifest(folder) or {}, read_manifest(final) or {}
    kept_exports, placed_exports = _exports_apart(kept, placed)
    if _same_input(kept, placed) and kept_exports is not None and placed_exports is not None:
        if kept_exports <= placed_exports:
            shutil.rmtree(folder, ignore_errors=True)  # final holds the same output, or more: a duplicate
        elif kept_exports > placed_exports:  # the same recording with more exports (some added to it)
            with contextlib.suppress(OSError, FolderInTheWay):  # the user's files in final: kept
                publish(folder, final, video)
        # else each has an export the other lacks: both kept, nothing of either lost
    # else both were made from inputs that are gone (the input changed again since): which of
    # them is newer cannot be told (a restored file's time goes back), so nothing is replaced
    # and neither is deleted; the next output of the input as it is now settles it.


def _cut_shorter(folder: Path, final: Path, video: Path) -> bool:
    """``folder``'s output was made with a ``max_frames`` limit below the frames of the output
    of ``video`` in ``final`` (``manifest.longer_than_limit``): putting it in place would replace
    a longer recording by a shorter one, which no batch does (``task.row_keeping_longer``)."""
    recorded = (read_manifest(folder) or {}).get("settings")
    limit = recorded.get("max_frames") if isinstance(recorded, dict) else None
    if isinstance(limit, bool) or not isinstance(limit, int):
        return False  # made without a limit: as long as its video
    return longer_than_limit(video, final, limit) is not None


def _exports_apart(first: dict, second: dict) -> tuple[set[str] | None, set[str] | None]:
    """The export formats two manifests record, when their settings are otherwise the same (the
    same recording: same processing, world and lifter); (None, None) when they differ."""
    settings = [manifest.get("settings") for manifest in (first, second)]
    if not all(isinstance(one, dict) and isinstance(one.get("export", []), list) for one in settings):
        return None, None
    settings = [comparable_settings(one) for one in settings]  # an older manifest's "auto" as it ran
    apart = [{key: value for key, value in one.items() if key != "export"} for one in settings]
    if apart[0] != apart[1]:
        return None, None
    exports = [{fmt for fmt in one.get("export", []) if isinstance(fmt, str)} for one in settings]
    return exports[0], exports[1]


def _same_input(first: dict, second: dict) -> bool:
    """Two manifests record the same input stamp (size and modification time)."""
    stamp = {"size": first.get("input_size"), "mtime_ns": first.get("input_mtime_ns")}
    return None not in stamp.values() and made_from(second, stamp)


def remove_stale(out_dir: Path, name: str, video: Path, settings: BatchSettings | None = None) -> None:
    """Settle what earlier attempts at ``name`` left in ``.staging`` (their worker died).

    A publish cut off between its two renames is finished (the complete new output renamed to
    ``out_dir/name``) or undone (the old one put back); a set-aside output is removed only once
    the final place holds the same video's output again, so no complete output is lost. A
    complete output never published (its worker killed after writing the manifest, or its
    publish failed) is put in place (``_settle_unpublished``); other staging folders of dead
    attempts (never finished) are removed. A folder whose owner is a live process on this host
    is kept (a cancelled task can still be running); folders of other hosts count as dead, since
    Dask only retries a video after the worker running it is gone.

    Args:
        out_dir (Path): the batch's output folder.
        name (str): the video's output folder name.
        video (Path): the input whose output ``out_dir/name`` is (absolute).
        settings (BatchSettings | None): this run's; an unpublished output made with them wins
            over one in place made with others.
    """
    final = out_dir / name
    attempts = _dead_attempts(out_dir, name)
    for folder, mark in attempts:
        if mark == SET_ASIDE:
            _settle_set_aside(folder, final)
    for folder, mark in attempts:
        if mark == REPLACED:  # renamed so only once the new output was in place
            shutil.rmtree(folder, ignore_errors=True)
        elif not mark and folder.is_dir() and not folder.with_name(folder.name + SET_ASIDE).exists():
            _settle_unpublished(folder, final, video, settings)  # (a kept .old keeps its partner too)


def new_staging(out_dir: Path, name: str) -> Path:
    """Create and return a fresh staging folder for ``name`` (unique to this attempt)."""
    attempt = f"{staging_key(name)}@{_host()}@{os.getpid()}@{uuid.uuid4().hex[:8]}"
    folder = out_dir / STAGING / attempt
    folder.mkdir(parents=True)
    return folder


def publish(staging: Path, final: Path, video: Path) -> None:
    """Move a complete staging folder to ``final``, replacing an older output of ``video`` there.

    The old output is first renamed away (to the staging folder's name plus ``.old``), then the
    new folder renamed in: at every instant ``final`` is either absent, the old output or the new
    one, never a mixture, and a kill in between is settled by the next attempt (``remove_stale``).
    Only a folder a batch made for the same video, holding nothing else, is replaced
    (``placement.writable_reason``); a folder created at ``final`` between that check and the
    rename makes the rename fail (``OSError``) rather than be replaced, unless it is empty. When
    the second rename fails, the old output goes back to ``final`` if ``final`` is free (else it
    stays set aside, settled by the next attempt) and ``staging`` is left as it is: the caller
    keeps it (``remove_stale`` puts it in place later), never discards it.

    Args:
        staging (Path): the finished staging folder (manifest written).
        final (Path): the video's output folder.
        video (Path): the input the output was made from (absolute).

    Raises:
        FolderInTheWay: ``final`` holds something else (the user's folder, another video's output).
        OSError: a rename failed (``staging`` is then still there, complete).
    """
    reason = writable_reason(final, video)
    if reason is not None:
        raise FolderInTheWay(reason)
    old = None
    if final.exists():
        old = staging.with_name(staging.name + SET_ASIDE)
        os.replace(final, old)
    try:
        os.replace(staging, final)
    except OSError:
        if old is not None and _is_free(final):
            with contextlib.suppress(OSError):  # else it stays set aside: the next attempt settles it
                os.replace(old, final)
        raise
    if old is not None:
        _remove_replaced(old)


def _remove_replaced(old: Path) -> None:
    """Remove a set-aside output once the new one is in place: renamed to ``REPLACED`` first, so
    a removal cut short leaves a folder the next attempt removes, never a partial ``.old`` that
    would look like an output to put back."""
    replaced = old.with_name(old.name[: -len(SET_ASIDE)] + REPLACED)
    try:
        os.replace(old, replaced)
    except OSError:
        return  # left as it is: the next attempt settles it
    shutil.rmtree(replaced, ignore_errors=True)


def discard(staging: Path) -> None:
    """Remove a staging folder (a failed attempt): nothing of it is kept."""
    shutil.rmtree(staging, ignore_errors=True)


def remove_if_empty(out_dir: Path) -> None:
    """Remove ``out_dir/.staging`` when nothing is left in it."""
    with contextlib.suppress(OSError):
        (out_dir / STAGING).rmdir()
