"""``pose3d run``: the headless pipeline, recorded to a folder.

``--out`` is checked before anything runs: it must be a writable folder, and one holding a
recording is refused unless ``--overwrite`` is given; even then the old session is replaced only
when the new run completes (see ``docs/recording.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

from pose3d_nb.cli.common import (
    StopRequest,
    UsageError,
    add_pipeline_arguments,
    export_formats,
    export_help,
    refuse_file_as_folder,
    stop_on_signals,
)
from pose3d_nb.cli.world_args import add_world_arguments, checked_world_options, world_options
from pose3d_nb.settings import DEFAULTS, Settings

#: How ``pose3d run`` says to replace the recording already in --out.
OVERWRITE_HINT = "pass --overwrite"


def run_settings(args: argparse.Namespace) -> Settings:
    """The ``Settings`` that ``pose3d run``'s arguments describe."""
    return Settings(source=args.source, detector=args.detector, lifter=args.lifter, window=args.window,
                    lookahead=args.lookahead, flip=args.flip, capacity=args.capacity, out_dir=args.out,
                    follow=args.follow)


def check_run_options(args: argparse.Namespace) -> None:
    """``pose3d run``'s own values, checked before any work (``cli.main`` runs it first): a
    ``Pose3DValueError`` here (a negative window, or one beyond the lifter's receptive field, an
    unknown follow rule or lifter name, a checkpoint file that is not there, a detector that
    cannot follow or lacks what the lifter requires, a bad lens, calibration
    file or height, an --out holding a recording without --overwrite, a source that names
    nothing (a missing file), the browser's camera, which only a notebook can read) is a
    refusal of the command line, exit status 2, and leaves
    no folder behind."""
    from pose3d_nb.detectors.follow import with_follow
    from pose3d_nb.detectors.registry import check_lifter_detector
    from pose3d_nb.engine.switching import check_source_fps
    from pose3d_nb.lifting.choice import check_lift_limits, check_lifter_file, check_lifter_name
    from pose3d_nb.recording.folder import check_no_other_recording
    from pose3d_nb.sources.open import accepted_options, is_browser_camera

    if is_browser_camera(args.source):
        # Its frames come from a notebook's page (pose3d_nb.browser_camera): a command never
        # gets one. It failed only once the run had started, leaving an empty --out.
        raise UsageError(
            f"--source {args.source}: the browser's camera sends frames only to a notebook "
            "(PoseApp(source='browser camera')); use --source camera (or camera:N) for a camera "
            "on this machine")
    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError(f"--max-frames must be at least 1, got {args.max_frames}")
    # A source naming nothing (a missing file, an empty spec) is the command line's value
    # refused before any work, exit status 2 as `pose3d lift` refuses a missing keypoints file
    # (it exited 1 until 2026-12-07, through the run).
    taken = accepted_options(args.source)
    for flag in ("loop", "pace"):  # a camera or a folder took them and ignored them
        if getattr(args, flag) and flag not in taken:
            raise UsageError(f"--{flag}: for a video file or the sample, not --source {args.source}")
    if args.fps is not None:
        check_source_fps(args.fps)
        if "fps" not in taken:  # the sample and cameras keep their own clock
            raise UsageError(f"--fps: for a folder of images or a video file, not --source {args.source}")
    settings = run_settings(args)
    # Each of these the engine would refuse only after the folder was made.
    detector, _ = with_follow(settings.detector, settings.follow)
    check_lifter_name(settings.lifter)
    check_lifter_file(settings.lifter)  # a checkpoint path that is not there
    check_lifter_detector(settings.lifter, detector)  # --lifter mediapipe --detector detectron2
    checked_world_options(args)
    check_lift_limits(settings.lifter, settings.lift)  # a window beyond the receptive field
    refuse_file_as_folder(args.out, "the recording")
    check_no_other_recording(args.out, args.overwrite, hint=OVERWRITE_HINT)


def cmd_run(args: argparse.Namespace) -> int:
    from pose3d_nb.recording import prepare_out_dir
    from pose3d_nb.recording.folder import remove_empty_out_dir

    # The values and the source were checked (check_run_options; a camera is still tried only
    # when the run starts), then the folder: a refused run leaves no empty folder behind.
    # Before the models load and frames flow: a file, a read-only disk or another recording.
    # The folder as checked ("~" expanded), for the engine and for what is said about it after.
    made = not Path(args.out).expanduser().exists()
    args.out = str(prepare_out_dir(args.out, overwrite=args.overwrite, hint=OVERWRITE_HINT))
    try:
        with stop_on_signals() as request:
            try:
                return _run(args, request)
            except KeyboardInterrupt:  # a second signal while stopping: the journal keeps the rows
                print(f"error: stopped at once by a second signal; what was saved is in {args.out} "
                      "(load_session reads it)", file=sys.stderr)
                return request.exit_status
    finally:
        if made:  # a run that failed before writing anything (a video that cannot be read) left
            remove_empty_out_dir(Path(args.out))  # an empty --out; one holding anything stays


def _run(args: argparse.Namespace, request: StopRequest) -> int:
    from tqdm import tqdm

    from pose3d_nb.detectors.follow import FollowPointError
    from pose3d_nb.engine import PoseEngine
    from pose3d_nb.world.intrinsics import FieldOfViewError

    engine = PoseEngine(settings=run_settings(args), loop=args.loop or None, pace=args.pace or None,
                        fps=args.fps, overwrite=args.overwrite, max_frames=args.max_frames,
                        **world_options(args))
    info = engine.lifter_info
    print(f"lifter: {info.name}")
    if info.hint:
        print(f"note: {info.hint}")
    engine.start()
    interrupted = False
    unfollowed = ""  # a people detector's status when nobody is followed: whom it waits for
    bar = None
    try:
        # In the try: whatever fails from here on (the progress bar cannot write) still stops the
        # engine, which writes the session; left running, it was killed at exit with nothing saved.
        source = engine.source
        total = getattr(source, "frame_count", None) if not source.is_live and not args.loop else None
        if args.max_frames:
            total = min(total, args.max_frames) if total else args.max_frames
        bar = tqdm(total=total, unit="frame", desc=engine.source_name, dynamic_ncols=True, mininterval=0.5)
        while engine.running and not request.requested.is_set():
            engine.wait(0.25)
            stats = engine.stats()
            bar.update(stats.processed - bar.n)
            latency = f"{stats.latency_ms_median:.0f}" if stats.latency_ms_median is not None else "-"
            following = engine.follow_status  # "" with a single-person detector
            unfollowed = following if engine.followed is None else ""
            bar.set_postfix_str(
                f"{stats.fps:.1f} fps, latency {latency} ms, dropped {stats.dropped}"
                + (f", {following}" if following else ""), refresh=False
            )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        try:
            if bar is not None:
                bar.close()
        finally:
            _stop_keeping_unsaved_rows(engine)
    interrupted = interrupted or request.requested.is_set()
    stats = engine.stats()
    session = _written_session(Path(args.out), engine.recording_id)
    print(
        f"{'interrupted: ' if interrupted else ''}{stats.processed} frames, {stats.fps:.1f} fps, "
        f"{stats.without_person} without a person, dropped {stats.dropped}; "
        f"{_where(session, args.out)}"
    )
    error = engine.error
    if unfollowed and error is None:  # e.g. --follow 7 where nobody gets id 7: why no frame has a person
        print(f"note: nobody followed at the end: {unfollowed}")
    if error is not None:
        # A value the user gave that only the first frame could judge (a --follow point outside
        # the image, a --focal out of the field of view range for the video's size): refused as
        # the values checked before the run are (exit status 2).
        if isinstance(error.__cause__, (FollowPointError, FieldOfViewError)):
            raise UsageError(str(error.__cause__)) from error
        print(f"error: {error}", file=sys.stderr)
        return 1
    exports_kept = _write_exports(session, args) if session is not None else 0
    if interrupted:
        return request.exit_status
    return 1 if exports_kept else 0


def _stop_keeping_unsaved_rows(engine) -> None:
    """``engine.stop()``; when it cannot save the recording (a full disk) while rows of it are
    only in memory (``RecordingSaveError.rows_only_in_memory``), they are first written to a
    rescue file elsewhere (``rescue_rows_in_memory``) and the error, raised again for the exit
    status 1, says where, or why that failed too. The engine's own error says how to keep them
    in Python (``write_session(... engine.buffer.snapshot() ...)``), which nobody at a command
    line can run: they were lost as the process ended."""
    from pose3d_nb.errors import Pose3DRuntimeError
    from pose3d_nb.recording.recorder import RecordingSaveError

    try:
        engine.stop()
    except RecordingSaveError as exc:
        if not exc.rows_only_in_memory:
            raise
        raise Pose3DRuntimeError(f"{exc.summary}; {rescue_rows_in_memory(engine, exc)}") from exc


#: The folder a rescue file is made in, inside one of ``rescue_places``.
RESCUE_PREFIX = "pose3d-rescued-"


def rescue_places() -> list[Path]:
    """Where ``rescue_rows_in_memory`` tries, in turn: the system's temporary folder (``tempfile``:
    ``TMPDIR``...) and the home folder, often on other disks than a recording folder."""
    places = [Path(tempfile.gettempdir())]
    with contextlib.suppress(RuntimeError, KeyError):  # no home folder to be found
        places.append(Path.home())
    return places


def rescue_rows_in_memory(engine, error) -> str:
    """Write the rows ``engine``'s rolling buffer holds to ``PLACE/pose3d-rescued-XXXXXXXX/session.npz``
    in the first of ``rescue_places`` that takes them, marked unfinished (``complete`` False)
    with the folder they belong to (``rescued_from``) and the recording's id; a sentence saying
    where, or that no place took them and why. ``error``: the ``RecordingSaveError`` that left
    them only in memory (its counts word the sentence). Never raises: the save's own error is
    what the command reports."""
    from pose3d_nb.cli.common import one_line
    from pose3d_nb.recording import SESSION_FILE, write_session

    snapshot = engine.buffer.snapshot()
    rows = len(snapshot)
    if error.unsaved > rows:  # a buffer smaller than a save's rows: the oldest of them are gone
        what = (f"the {rows} rows held in memory (the newest of the {error.unsaved} since the last "
                "save, saved nowhere else)")
    elif error.unsaved > 0:
        what = f"the {rows} rows held in memory (the last {error.unsaved} of them saved nowhere else)"
    else:
        what = f"the {rows} rows held in memory"
    metadata = {**engine.metadata(), "recording_id": engine.recording_id, "complete": False,
                "rescued_from": str(error.out_dir)}
    failures = []
    for place in rescue_places():
        folder = None
        try:
            folder = Path(tempfile.mkdtemp(prefix=RESCUE_PREFIX, dir=place))
            write_session(folder / SESSION_FILE, snapshot, metadata)
        except Exception as exc:  # noqa: BLE001 - each place's reason is said; the next is tried
            failures.append(f"{place}: {one_line(exc)}")
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            continue
        rescued = folder / SESSION_FILE
        return (f"{what} are written to {rescued}, marked unfinished: load_session or "
                f"`pose3d export {rescued}` reads them")
    return (f"{what} could not be written elsewhere either ({'; '.join(failures) or 'no place to try'}): "
            "they are lost as this command ends")


def _write_exports(session: Path, args: argparse.Namespace) -> int:
    """``--csv`` and ``--export`` beside the recorded ``session``; how many were not written. An
    export file there that is not as pose3d wrote it (the user edited it while this run
    recorded: ``--overwrite`` keeps such a file) is not written over: said on stderr, and the
    run's exit status is 1 (its recording is complete)."""
    from pose3d_nb.export import ExportError, export_session, refuse_replacing_edited

    kept = 0
    if args.csv:
        from pose3d_nb.export.table import write_frame_csv
        from pose3d_nb.recording import load_session
        from pose3d_nb.recording.folder import record_exports

        csv = session.with_suffix(".csv")
        try:
            refuse_replacing_edited(csv, "csv")
            write_frame_csv(csv, load_session(session))
            record_exports([csv])  # so a later --overwrite may delete it unedited
            print(f"CSV: {csv}")
        except ExportError as exc:
            print(f"error: --csv: {exc}; the recording is complete in {session}", file=sys.stderr)
            kept += 1
    for fmt in args.export or ():
        try:
            print(f"{fmt}: {export_session(session, fmt)}")
        except ExportError as exc:
            print(f"error: --export {fmt}: {exc}; the recording is complete in {session}", file=sys.stderr)
            kept += 1
    return kept


def _written_session(out: Path, recording_id: str | None) -> Path | None:
    """``out/session.npz`` when this run wrote it (a failed run may have kept the old one)."""
    from pose3d_nb.recording import SESSION_FILE, SessionError
    from pose3d_nb.recording.session import read_metadata

    path = out / SESSION_FILE
    try:
        return path if recording_id and read_metadata(path).get("recording_id") == recording_id else None
    except (SessionError, OSError):
        return None


def _where(session: Path | None, out: str) -> str:
    """Where this run's rows are, in words."""
    from pose3d_nb.recording import JOURNAL_DIR

    if session is not None:
        from pose3d_nb.recording.session import read_metadata

        # A video file's rows were placed again from the whole clip (world.recorded): say so,
        # since they differ from what the progress showed live.
        metadata = read_metadata(session)
        if metadata.get("world_placement") != "whole clip":
            return f"recorded to {session}"
        bones = ", each bone at its length over the clip" if metadata.get("bones_held") else ""
        return f"recorded to {session} (placed in the room from the whole clip{bones})"
    journal = Path(out) / JOURNAL_DIR
    if journal.is_dir():
        return f"kept unfinished in {journal} (the recording already in {out} was not replaced)"
    return "nothing recorded"


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``pose3d run`` to the command line."""
    run = commands.add_parser("run", help="headless capture -> 2D -> 3D, recorded to --out")
    run.add_argument(
        "--source", default=DEFAULTS.source, help="sample (default), camera, camera:N, a video or a folder"
    )
    add_pipeline_arguments(run)
    add_world_arguments(run)
    run.add_argument("--out", default=DEFAULTS.out_dir, help="folder for joints.npy and session.npz")
    run.add_argument(
        "--overwrite", action="store_true",
        help="replace the recording already in --out, once this run completes (a failed run keeps it)",
    )
    run.add_argument("--max-frames", type=int, default=None,
                     help="stop after this many poses (fewer when the video ends first)")
    run.add_argument("--loop", action="store_true", help="repeat a video file")
    run.add_argument("--pace", action="store_true", help="play a video file at its frame rate, like a camera")
    run.add_argument(
        "--fps", type=float, default=None, metavar="F",
        help="a folder of images or a video file: the rate its frames were taken at (an image folder "
        "has none of its own: its images are one second apart without it)",
    )
    run.add_argument(
        "--capacity", type=int, default=DEFAULTS.capacity, help="rows kept in the rolling buffer"
    )
    run.add_argument("--csv", action="store_true", help="also write session.csv")
    run.add_argument(
        "--export", type=export_formats, default=[], metavar="FORMATS",
        help=export_help("after the run, export the session as these"),
    )
    run.set_defaults(func=cmd_run, check=check_run_options)
