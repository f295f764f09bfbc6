"""One video, on one worker: the task a batch submits to Dask for each video.

``process_video`` runs a ``PoseEngine`` over the file exactly as ``pose3d run --source FILE``
does (same detector, lifter, window, lookahead and flip, so the same ``session.npz`` with the
same metadata), into a staging folder; writes the requested exports beside the session, the
manifest last, and renames the folder into place (``batch.staging``). The engine lifts with one
torch thread, and a detector that runs each person's region on threads of its own runs them one
at a time (``workers=1``), so one worker thread runs one video with about one core: a batch's
parallelism is across videos.

Whatever goes wrong with the video itself (missing, empty, corrupt, no person to export, an
engine error) comes back as a ``failed`` row carrying the reason, so the error stays with its
video; only the death of the worker process is left to Dask, which reschedules the task on
another worker (a bounded number of times) and then reports it.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from pose3d_nb.batch.manifest import (
    SESSION,
    exports_to_add,
    input_stamp,
    longer_than_limit,
    recorded_frames,
    reusable_output,
    write_manifest,
    write_manifest_with_exports,
)
from pose3d_nb.batch.placement import FolderInTheWay, writable_reason
from pose3d_nb.batch.settings import BatchSettings
from pose3d_nb.batch.staging import SET_ASIDE, discard, new_staging, publish, remove_stale
from pose3d_nb.batch.table import FAILED, OK, SKIPPED, failed_row, make_row
from pose3d_nb.errors import Pose3DRuntimeError
from pose3d_nb.settings import DEFAULTS


class VideoFailed(Pose3DRuntimeError):
    """The video could not be turned into a complete output: the message says why."""


def warm_up() -> None:
    """Import what a task needs (torch, MediaPipe, OpenCV), so the first video does not pay it."""
    import mediapipe  # noqa: F401

    import pose3d_nb.engine  # noqa: F401


def describe(exc: BaseException) -> str:
    """A one-line reason for a failure, for the table."""
    from pose3d_nb.recording.recorder import RecordingSaveError
    from pose3d_nb.sources.base import SourceError

    if isinstance(exc, RecordingSaveError):  # its rows were in the attempt's folder, now discarded
        return (f"cannot save the recording: {exc.reason}; this attempt's files were discarded, "
                "run the batch again to redo the video")
    if isinstance(exc, (SourceError, VideoFailed, FolderInTheWay)):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _capacity(video: Path) -> int:
    """Buffer rows for the whole file as it announces it (the recording on disk keeps every frame
    whatever the buffer holds); opening it here also rejects a bad file with a clear reason."""
    from pose3d_nb.sources.video import VideoSource

    with VideoSource(video) as probe:  # SourceError: missing, empty, not a video, no frame
        announced = probe.frame_count or 0
    return max(DEFAULTS.capacity, announced + max(100, announced // 10))


def one_thread_options(detector: str, follow: Any) -> dict[str, Any]:
    """The detector options that keep ``detector`` (as ``follow`` resolves it: "mediapipe" with a
    choice of person becomes "mediapipe-people") on one thread: ``{"workers": 1}`` for the
    people detector, whose regions and discovery sweep otherwise run on threads of their own;
    nothing for any other detector (a plug-in's options are its own business)."""
    from pose3d_nb.detectors.follow import FOLLOWING_DETECTORS, with_follow
    from pose3d_nb.detectors.registry import factory_options

    spec, _ = with_follow(detector, follow)
    if spec in FOLLOWING_DETECTORS and "workers" in factory_options(spec):
        return {"workers": 1}
    return {}


def _run_engine(video: Path, staging: Path, settings: BatchSettings) -> dict[str, Any]:
    """Record ``video`` into ``staging`` (``session.npz``, ``joints.npy``); returns its numbers."""
    from pose3d_nb.engine import PoseEngine

    engine = PoseEngine(
        settings=settings.for_video(str(video), str(staging), _capacity(video)),
        torch_threads=1,
        detector_options=one_thread_options(settings.detector, settings.follow),
        **settings.world_options(),
        **settings.run_options(),  # max_frames, fps: as pose3d run --max-frames/--fps
    )
    started = time.perf_counter()
    engine.start()
    try:
        while not engine.wait(1.0):
            pass
        # read before stop() clears it: whom a people detector still waits for ("" when following)
        unfollowed = engine.follow_status if engine.followed is None else ""
    finally:
        engine.stop()
    seconds = time.perf_counter() - started
    if engine.error is not None:
        raise VideoFailed(_error_text(engine.error))
    frames = engine.buffer.total_appended
    if frames == 0:
        raise VideoFailed(f"{video}: no frame was processed")
    if not (staging / SESSION).is_file():
        raise VideoFailed(f"{video}: the engine wrote no {SESSION}")
    info = engine.lifter_info
    # Of every frame recorded: the rolling buffer holds only its newest ``capacity`` rows (a file
    # with more frames than it announces), while the session on disk keeps them all.
    valid_fraction = _valid_fraction(staging / SESSION)
    return {
        "frames": int(frames),
        "valid_fraction": valid_fraction,
        "note": person_note(valid_fraction, unfollowed),
        "fps": frames / seconds if seconds > 0 else None,
        "lifter": info.name,
        "checkpoint": info.checkpoint,
    }


def _valid_fraction(session: Path) -> float:
    """The share of ``session``'s rows with a person (its ``valid`` column alone is read)."""
    import numpy as np

    with np.load(session, allow_pickle=False) as arrays:
        return float(np.mean(arrays["valid"]))


def person_note(valid_fraction: float, unfollowed: str) -> str | None:
    """Why a finished video's frames lack a person, for its row's ``note`` (None: nothing to say).

    Args:
        valid_fraction (float): share of frames with a person (0-1).
        unfollowed (str): a people detector's ``follow_status`` when it followed nobody at the end
            (``waiting for person 7 (in view: 1)``); "" when it followed someone or cannot follow.
    """
    if valid_fraction > 0:
        return f"nobody followed at the end: {unfollowed}" if unfollowed else None
    return f"no frame has a person: {unfollowed}" if unfollowed else "no frame has a person"


def _error_text(error: BaseException) -> str:
    """A video's engine error as its row says it: a value the user gave that only the first
    frame could judge (a --follow point outside the image, a --focal beyond the field of view
    range for the video's size) in that value's own words, as ``pose3d run`` refuses it; any
    other as the engine words it (the stage and frame that failed)."""
    from pose3d_nb.detectors.follow import FollowPointError
    from pose3d_nb.world.intrinsics import FieldOfViewError

    cause = error.__cause__
    return str(cause) if isinstance(cause, (FollowPointError, FieldOfViewError)) else str(error)


def _export(staging: Path, formats: tuple[str, ...], note: str | None) -> dict[str, str]:
    """Write each of ``formats`` beside the session in ``staging``; the ones that could not be
    written, each with why (``note``, why no frame has a person, added to the reason)."""
    from pose3d_nb.export import export_session

    failed = {}
    for fmt in formats:
        try:
            export_session(staging / SESSION, fmt, record=False)  # batch.json records the files
        except ValueError as exc:  # ExportError: no valid frame, a C3D over 65,535 frames, ...
            failed[fmt] = f"{exc}" + (f" ({note})" if note else "")
    return failed


def export_failure(folder: Path, manifest: dict[str, Any], formats: tuple[str, ...],
                   failures: dict[str, str] | None = None) -> str | None:
    """Why an output lacks exports asked for, or None when it has them all.

    An export that failed when the video was processed is recorded in its manifest
    (``export_failed``: format -> reason); the session and the other exports were kept. One that
    failed when this run added exports to the output (``failures``) is not recorded: the next run
    tries it again. One the user has written since (``pose3d export``, at its default path)
    counts as there; it is a file the batch did not write, so the output is then reused but
    never replaced (``placement.writable_reason``), which is why the reason suggests ``--out``
    outside the folder.

    Args:
        folder (Path): the video's output folder.
        manifest (dict[str, Any]): its manifest.
        formats (tuple[str, ...]): the formats this run asks for.
        failures (dict[str, str] | None): format -> why, of the exports this run failed to add.
    """
    recorded = manifest.get("export_failed")
    recorded = {**(recorded if isinstance(recorded, dict) else {}), **(failures or {})}
    if not recorded:
        return None
    from pose3d_nb.export import default_path

    session = folder / SESSION
    missing = [fmt for fmt in formats
               if fmt in recorded and not default_path(session, fmt).is_file()]
    if not missing:
        return None
    reasons = "; ".join(f"export {fmt}: {recorded[fmt]}" for fmt in missing)
    kept = f"{session} and the other exports are kept"
    if (manifest.get("valid_fraction") or 0) > 0:  # something to export: say how, no redo needed
        kept += (f" (pose3d export {session} --format FORMAT --out FILE writes another format from it; a "
                 f"FILE outside {folder}: the batch never replaces a folder holding files it did not write)")
    return f"{reasons}; {kept}"


def process_video(path: str, output: str, settings: BatchSettings) -> dict[str, Any]:
    """Process one video into its output folder; returns its table row (never raises for the video).

    An export that cannot be written (no person in the video, a C3D over 65,535 frames) does not
    discard the recording: the session and the other exports are published and the row is
    ``failed`` with the export's reason and where the session is (``export_failure``). Nor does a
    publish that fails once the manifest is written (something appeared at ``output``): the
    staging folder is kept, the row says where, and the next attempt puts it in place
    (``staging.remove_stale``).

    An output that is up to date but for exports this run asks for (the same input, processing
    and world settings; ``manifest.exports_to_add``) is not processed again: the missing exports
    are added beside its recording (``add_exports``), the row ``skipped`` with a note saying so.
    One longer than ``settings.max_frames`` would make it is not processed: the row is ``failed``,
    the output kept (``row_keeping_longer``).

    Args:
        path (str): the video file, absolute (every worker must see the same path).
        output (str): its output folder, ``OUT/NAME``; the staging folder goes in ``OUT/.staging``.
        settings (BatchSettings): checked settings (``BatchSettings.checked``).

    Returns:
        dict[str, Any]: a row of ``batch.table.COLUMNS``: status ``ok`` (output written),
        ``skipped`` (the existing output is up to date, or was given the exports it lacked) or
        ``failed`` with the reason (with ``output`` set when the session was kept and only an
        export failed, or a longer output was kept).
    """
    started = time.perf_counter()
    video, final = Path(path), Path(output)
    staging, finished = None, False
    try:
        # first: a publish an earlier attempt left half done is settled, its output reused if current
        remove_stale(final.parent, final.name, video, settings)
        manifest = reusable_output(video, final, settings)
        if manifest is not None:
            return manifest_row(video, final, manifest, exports=settings.export)
        addition = exports_to_add(video, final, settings)
        if addition is not None:  # up to date but for exports: they are added, the video not redone
            return add_exports(video, final, settings, *addition, started=started)
        kept = row_keeping_longer(video, final, settings)  # (the plan checked; a settled publish may not be)
        if kept is not None:
            kept["seconds"] = time.perf_counter() - started
            return kept
        stamp = input_stamp(video)  # before reading: a file changed meanwhile is redone next time
        staging = new_staging(final.parent, final.name)
        result = _run_engine(video, staging, settings)
        result["export_failed"] = _export(staging, settings.export, result["note"])
        if input_stamp(video) != stamp:
            raise VideoFailed(f"{video} changed while it was being processed; run the batch again")
        files = [p.name for p in staging.iterdir() if p.is_file()]
        result["seconds"] = time.perf_counter() - started
        write_manifest(staging, video, stamp, settings, result, files)
        finished = True  # a complete output from here on: kept whatever happens to its publish
        publish(staging, final, video)
    except Exception as exc:  # noqa: BLE001 - the reason goes into the video's row
        reason = describe(exc)
        if finished:
            reason += _kept_in_staging(staging, "the finished output", (
                f"the next run of the batch puts it in place, without processing the video again, if "
                f"{final} is free by then"))
        elif staging is not None:
            discard(staging)
        return failed_row(video, reason, time.perf_counter() - started)
    result["seconds"] = time.perf_counter() - started
    return manifest_row(video, final, result, OK, exports=settings.export)


def _kept_in_staging(staging: Path, what: str, then: str) -> str:
    """The end of a failed row's reason when ``what`` (a complete output) stays in ``staging``:
    where it is, with the earlier output a failed publish set aside beside it, and ``then``."""
    set_aside = staging.with_name(staging.name + SET_ASIDE)
    earlier = f" and the earlier output in {set_aside}" if set_aside.exists() else ""
    return f"; {what} is kept in {staging}{earlier} ({then})"


def manifest_row(video: Path, folder: Path, manifest: dict[str, Any], status: str = SKIPPED,
                 exports: tuple[str, ...] = (), *, added: tuple[str, ...] = (),
                 failures: dict[str, str] | None = None, seconds: float | None = None) -> dict[str, Any]:
    """The row of a finished output read back from its manifest (or the task's own result).

    ``skipped``: reused by this run (0 s spent now, unless ``seconds`` says what adding exports
    took); ``ok``: finished by this run (or after the row was lost: a task that completed while
    the batch was being stopped). Either becomes ``failed``, the output kept, when an export in
    ``exports`` (the formats this run asks for) could not be written (``export_failure``, with
    ``failures``: those this run failed to add). ``added``: the formats this run added to the
    reused recording, said in the row's note.
    """
    if seconds is None:
        seconds = 0.0 if status == SKIPPED else manifest.get("seconds")
    error = export_failure(folder, manifest, exports, failures)
    note = manifest.get("note")
    if added:
        said = f"recording reused; export{'s' if len(added) > 1 else ''} added: {', '.join(added)}"
        note = f"{said}; {note}" if note else said
    return make_row(
        video, status if error is None else FAILED, frames=manifest.get("frames"),
        valid_fraction=manifest.get("valid_fraction"), fps=manifest.get("fps"), seconds=seconds,
        error=error, output=folder / SESSION, note=note,
    )


ADDING_EXPORTS = "have the exports asked for written beside its recording"
"""What moving the user's files out of an output folder allows, when only exports are missing."""


def row_without_adding(video: Path, folder: Path, settings: BatchSettings, manifest: dict[str, Any],
                       formats: tuple[str, ...], seconds: float = 0.0) -> dict[str, Any] | None:
    """The row of an output lacking only exports (``manifest.exports_to_add``) when no task needs
    to write them, else None.

    ``skipped`` when none is left to write (the user wrote each one into the folder); ``failed``,
    the output kept and named, when the folder holds files the batch did not write or that were
    changed since: adding exports replaces the folder (``add_exports``), which is never done then
    (``placement.writable_reason``).

    Args:
        video (Path): the input (absolute).
        folder (Path): its output folder.
        settings (BatchSettings): this run's checked settings.
        manifest (dict[str, Any]): the output's manifest.
        formats (tuple[str, ...]): the formats it lacks.
        seconds (float): time spent on it so far (the row's ``seconds``).
    """
    if not formats:
        return manifest_row(video, folder, manifest, exports=settings.export, seconds=seconds)
    reason = writable_reason(folder, video, ADDING_EXPORTS)
    if reason is None:
        return None
    return _kept_output_failed(video, folder, manifest, f"export {', '.join(formats)} not written: {reason}",
                               seconds)


def row_keeping_longer(video: Path, folder: Path, settings: BatchSettings,
                       seconds: float = 0.0) -> dict[str, Any] | None:
    """The row of a video not processed because ``settings.max_frames`` would replace the longer
    output in ``folder`` by a shorter one (``manifest.longer_than_limit``), else None.

    ``--max-frames`` is for trying settings on the start of many videos; into an ``--out`` that
    holds their complete outputs, it deleted hours of processing and reported ``ok``. The output
    is kept and the row is ``failed`` (the video was not processed as asked: the exit status says
    so), naming the output and what to do: another ``--out`` to try settings, or no limit (one
    at least as long as the output) to replace it.

    Args:
        video (Path): the input (absolute).
        folder (Path): its output folder.
        settings (BatchSettings): this run's checked settings.
        seconds (float): time spent on it so far (the row's ``seconds``).
    """
    limit = settings.max_frames
    manifest = longer_than_limit(video, folder, limit)
    if manifest is None:
        return None
    frames = recorded_frames(manifest)
    recorded = manifest.get("settings")
    made_with = recorded.get("max_frames") if isinstance(recorded, dict) else None
    made = f"made with --max-frames {made_with}" if made_with is not None else "made without --max-frames"
    length = f"{frames} frames, {made}" if frames is not None else f"its frame count not recorded, {made}"
    again = f"without --max-frames (or with --max-frames {frames} or more)" if frames is not None \
        else "without --max-frames"
    error = (f"not processed: --max-frames {limit} would replace the longer output in {folder} ({length}) "
             f"by a shorter one; it is kept as it is: give another --out to try settings on the first "
             f"frames, or run {again} to replace it")
    return _kept_output_failed(video, folder, manifest, error, seconds)


def _kept_output_failed(video: Path, folder: Path, manifest: dict[str, Any], error: str,
                        seconds: float) -> dict[str, Any]:
    """A ``failed`` row of a video whose output in ``folder`` stays as it was (its numbers shown)."""
    return make_row(video, FAILED, frames=manifest.get("frames"), fps=manifest.get("fps"),
                    valid_fraction=manifest.get("valid_fraction"), seconds=seconds, error=error,
                    output=folder / SESSION)


def _carry(folder: Path, staging: Path, names: list[str]) -> None:
    """Put each file ``names`` of ``folder`` into ``staging``, as it is: a hard link (the same
    file, no copy of a long session), or a copy keeping its modification time where the file
    system has no hard links. Exports are written by temporary file and rename, so one written
    over a carried file replaces the link in ``staging`` and never changes ``folder``'s file."""
    for name in names:
        try:
            os.link(folder / name, staging / name)
        except OSError:
            shutil.copy2(folder / name, staging / name)


def _identity(path: Path) -> tuple[int, int, int, int]:
    """What tells whether ``path`` was written since: (device, inode, size, mtime)."""
    stat = path.stat()
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def add_exports(video: Path, final: Path, settings: BatchSettings, manifest: dict[str, Any],
                formats: tuple[str, ...], started: float) -> dict[str, Any]:
    """Write the exports ``formats`` an up-to-date output lacks beside its recording; its row.

    The output is not written into: a new staging folder gets its files (``_carry``), the
    exports (``_export``, as after processing) and a manifest recording the formats it had plus
    those added (``write_manifest_with_exports``), and ``publish`` puts it in place of the old
    folder, as for a video processed again. So at every instant the folder is the old output or
    the new one, complete; a kill is settled by the next attempt (``staging.remove_stale``); no
    export already there is removed, asked for still or not. Formats that fail are not recorded
    (a later run tries them again): the row is ``failed`` with their reasons and the output, and
    when none could be written nothing is published.

    Args:
        video (Path): the input (absolute).
        final (Path): its output folder.
        settings (BatchSettings): this run's checked settings.
        manifest (dict[str, Any]): the output's manifest (``manifest.exports_to_add``).
        formats (tuple[str, ...]): the formats it lacks.
        started (float): ``time.perf_counter()`` when the task began.

    Returns:
        dict[str, Any]: ``skipped`` (with a note naming the formats added), or ``failed``.
    """
    row = row_without_adding(video, final, settings, manifest, formats)
    if row is not None:
        row["seconds"] = time.perf_counter() - started
        return row
    staging, finished = None, False
    try:
        staging = new_staging(final.parent, final.name)
        carried = list(manifest.get("files", ()))
        _carry(final, staging, carried)
        before = {name: _identity(staging / name) for name in carried}
        failures = _export(staging, formats, manifest.get("note"))
        added = tuple(fmt for fmt in formats if fmt not in failures)
        if added:
            written = [p.name for p in staging.iterdir()
                       if p.is_file() and before.get(p.name) != _identity(p)]
            write_manifest_with_exports(staging, manifest, added, written)
            finished = True  # a complete output from here on: kept whatever happens to its publish
            publish(staging, final, video)
        else:
            discard(staging)  # nothing to add: the output stays as it was
    except Exception as exc:  # noqa: BLE001 - the reason goes into the video's row
        reason = describe(exc)
        if finished:
            reason += _kept_in_staging(staging, "the output with the exports added", (
                f"the next run of the batch puts it in place if {final} is free by then, or holds only "
                "this video's output as the batch wrote it"))
        elif staging is not None:
            discard(staging)
        return _kept_output_failed(video, final, manifest, reason, time.perf_counter() - started)
    return manifest_row(video, final, manifest, exports=settings.export, added=added, failures=failures,
                        seconds=time.perf_counter() - started)
