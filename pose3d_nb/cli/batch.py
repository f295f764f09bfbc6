"""``pose3d batch``: many videos on a Dask pool or cluster."""

from __future__ import annotations

import argparse
import sys

from pose3d_nb.cli.common import (
    add_pipeline_arguments,
    export_formats,
    export_help,
    positive_count,
    refuse_file_as_folder,
    stop_on_signals,
)
from pose3d_nb.cli.world_args import add_world_arguments, world_options


def _seconds(value: str) -> float:
    """A positive number of seconds (``--connect-timeout``, ``--worker-timeout``)."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {value!r}")
    return seconds


def check_batch_options(args: argparse.Namespace) -> None:
    """``pose3d batch``'s settings checked as ``batch.process`` checks them, before any work
    (``cli.main`` runs it first): a ``Pose3DValueError`` here (a negative window, an unknown
    follow rule or lifter, a bad lens or height, a --max-frames below 1, a --fps that is not a
    positive rate) is a refusal of the command line, exit status 2;
    what fails once the batch runs (its inputs, the lock, the cluster, a video) exits 1."""
    from pose3d_nb.batch.settings import PIPELINE_FIELDS, BatchSettings

    refuse_file_as_folder(args.out, "the results")
    BatchSettings(export=args.export, **world_options(args), max_frames=args.max_frames, fps=args.fps,
                  **{name: getattr(args, name) for name in PIPELINE_FIELDS}).checked()


def cmd_batch(args: argparse.Namespace) -> int:
    """``pose3d batch``: the table and a summary; 0 all ok/skipped, 1 any failed, 130/143 stopped.

    Errors of the whole batch (another batch holds ``--out``, a scheduler that cannot be reached
    or does not answer) are one line from ``cli.main``, exit status 1; bad settings were refused
    before (``check_batch_options``, exit status 2).
    """
    from pose3d_nb.batch import exit_status, format_table, process, summary

    with stop_on_signals() as request:
        try:
            table = process(
                args.inputs, args.out, workers=args.workers, scheduler=args.scheduler,
                lifter=args.lifter, detector=args.detector, window=args.window,
                lookahead=args.lookahead, flip=args.flip, follow=args.follow, export=args.export,
                max_frames=args.max_frames, fps=args.fps,
                progress=not args.no_progress, stop=request.requested, **world_options(args),
                **{name: getattr(args, name) for name in ("connect_timeout", "worker_timeout")
                   if getattr(args, name) is not None},
            )
        except KeyboardInterrupt:  # a second signal while the batch was stopping
            print("error: stopped at once by a second signal; finished videos keep their output",
                  file=sys.stderr)
            return request.exit_status
    print(format_table(table))
    interrupted = table.attrs["interrupted"]
    print(f"{'interrupted: ' if interrupted else ''}{summary(table, table.attrs['seconds'])}")
    return request.exit_status if interrupted else exit_status(table)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``pose3d batch`` to the command line."""
    batch = commands.add_parser("batch", help="many videos, each to OUT/NAME/session.npz, on a Dask pool")
    batch.add_argument("inputs", nargs="+", help="video files, folders (searched), globs, .txt lists")
    batch.add_argument("--out", required=True, help="one folder per video goes here")
    batch.add_argument("--workers", type=positive_count, default=2,
                       help="local pool: worker processes, 1 thread each")
    batch.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="use a running Dask cluster (tcp://HOST:8786) instead of a local pool")
    add_pipeline_arguments(batch)
    add_world_arguments(batch)
    batch.add_argument("--max-frames", type=int, default=None, metavar="N",
                       help="each video: stop after this many poses (fewer when it ends first); to try "
                            "settings quickly, into another --out (an output with more frames is kept, "
                            "its video failed)")
    batch.add_argument("--fps", type=float, default=None, metavar="F",
                       help="each video's frames are stamped at this rate instead of the one it stores "
                            "(a file whose stored rate is wrong)")
    batch.add_argument("--export", type=export_formats, default=[], metavar="FORMATS",
                       help=export_help("also write these beside each session"))
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    # Defaults live in batch.cluster (imported only when a batch runs: it imports Dask).
    batch.add_argument("--connect-timeout", type=_seconds, default=None, metavar="SECONDS",
                       help="--scheduler: give up when it does not answer within this (connect, handshake, "
                            "version check; default 30)")
    batch.add_argument("--worker-timeout", type=_seconds, default=None, metavar="SECONDS",
                       help="give up when the cluster has no worker for this long, at the start or "
                            "mid-batch (default 120)")
    batch.set_defaults(func=cmd_batch, check=check_batch_options)
