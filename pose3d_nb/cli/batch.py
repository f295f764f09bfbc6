"""``pose3d batch``: many videos on a Dask pool or cluster."""

from __future__ import annotations

import argparse
import sys

from pose3d_nb.cli.common import add_pipeline_arguments, export_formats, stop_on_signals


def cmd_batch(args: argparse.Namespace) -> int:
    """``pose3d batch``: the table and a summary; 0 all ok/skipped, 1 any failed, 130/143 stopped."""
    from pose3d_nb.batch import ClusterError, exit_status, format_table, process, summary

    with stop_on_signals() as request:
        try:
            table = process(
                args.inputs, args.out, workers=args.workers, scheduler=args.scheduler,
                lifter=args.checkpoint, detector=args.detector, window=args.window,
                lookahead=args.lookahead, flip=args.flip, export=args.export,
                progress=not args.no_progress, stop=request.requested,
            )
        except ClusterError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(format_table(table))
    interrupted = table.attrs["interrupted"]
    print(f"{'interrupted: ' if interrupted else ''}{summary(table, table.attrs['seconds'])}")
    return request.exit_status if interrupted else exit_status(table)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``pose3d batch`` to the command line."""
    batch = commands.add_parser("batch", help="many videos, each to OUT/NAME/session.npz, on a Dask pool")
    batch.add_argument("inputs", nargs="+", help="video files, folders (searched), globs, .txt lists")
    batch.add_argument("--out", required=True, help="one folder per video goes here")
    batch.add_argument("--workers", type=int, default=2, help="local pool: worker processes, 1 thread each")
    batch.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="use a running Dask cluster (tcp://HOST:8786) instead of a local pool")
    add_pipeline_arguments(batch)
    batch.add_argument("--export", type=export_formats, default=[], metavar="FORMATS",
                       help="also write these beside each session (comma-separated: bvh,trc,c3d,csv,parquet)")
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    batch.set_defaults(func=cmd_batch)
