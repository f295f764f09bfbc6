"""``pose3d export``: a recorded session as BVH, TRC, C3D, CSV or Parquet."""

from __future__ import annotations

import argparse
from pathlib import Path

from pose3d_nb.cli.common import UsageError, escape_help, export_recording, one_line, registered


def check_export_options(args: argparse.Namespace) -> None:
    """``pose3d export``'s own values, before the session is read (``cli.main`` runs it first; a
    ``Pose3DValueError`` here is a refusal of the command line, exit status 2): a session that
    is not there, the numbers,
    the units the format takes, and an --out that is part of a recording (never replaced), a
    folder, or a file that exists without --overwrite. The default path beside the session
    (``session.bvh``) is the export's own: written again, as ``export_session`` does, unless the
    file there is not as pose3d wrote it (edited since, or not pose3d's) and --overwrite is not
    given (``export.refuse_replacing_edited``)."""
    from pose3d_nb.export import (
        check_units,
        default_path_of,
        refuse_replacing_edited,
        refuse_replacing_recording,
    )
    from pose3d_nb.recording import resolve_session

    try:  # a session that is not there: the command line's value, refused as lift's missing input
        resolve_session(args.session)
    except FileNotFoundError as exc:
        raise UsageError(one_line(exc)) from exc
    if args.fps is not None and not args.fps > 0:
        raise UsageError(f"--fps must be a positive frame rate, got {args.fps:g}")
    if args.smooth is not None and not args.smooth > 0:
        raise UsageError(f"--smooth must be a positive cutoff in Hz, got {args.smooth:g}")
    if args.segment is not None and args.segment < 0:
        raise UsageError(f"--segment must be a recording run's number (0 or more), got {args.segment}")
    if args.person is not None and args.person < 1:
        raise UsageError(f"--person must be a track id (track ids start at 1), got {args.person}")
    check_units(args.format, args.units)
    if args.out is not None:
        refuse_replacing_recording(args.out)
        _check_out(Path(args.out).expanduser(), args.format, args.overwrite)
    elif not args.overwrite:
        refuse_replacing_edited(default_path_of(args.session, args.format), args.format)


def _check_out(out: Path, format: str, overwrite: bool) -> None:
    """``--out`` checked as ``pose3d lift`` checks its own: not a folder (that exited 1, "cannot
    write"), and not a file that exists unless ``--overwrite`` (a user's notes.txt was replaced
    without a word). A BVH's invalid-frame list beside it (``export.bvh.sidecar_path``) too."""
    from pose3d_nb.export.bvh import sidecar_path

    if out.is_dir():
        raise UsageError(f"--out: {out} is a folder; name the file to write (in it, if you like)")
    for path in (out, sidecar_path(out)) if format == "bvh" else (out,):
        if (path.exists() or path.is_symlink()) and not overwrite:
            raise UsageError(f"{path} exists; pass --overwrite to replace it, or choose another --out")


def cmd_export(args: argparse.Namespace) -> int:
    import warnings

    from pose3d_nb.recording import resolve_session
    from pose3d_nb.recording.folder import REPLACED_PREFIX, replaced_session_beside, set_aside_note

    options = {"out": args.out, "fps": args.fps, "smooth": args.smooth, "units": args.units,
               "person": args.person, "segment": args.segment, "overwrite": args.overwrite}
    # A recording folder gives its session.npz, or the journal a killed run left.
    session = resolve_session(args.session)
    replaced = replaced_session_beside(session) if session.is_dir() else None
    if session.name.startswith(REPLACED_PREFIX) and session != Path(args.session).expanduser():
        from pose3d_nb.recording import read_journal

        # Its rows counted without load_session: the export reads them with it, and warns once.
        warnings.warn(set_aside_note(session, len(read_journal(session))), stacklevel=1)
    elif replaced is not None:  # the folder was named: say what else it holds, as load_session does
        warnings.warn(f"exporting the unfinished recording {session}; the complete one an overwrite "
                      f"run was replacing is {replaced} (pose3d export {replaced} for it)", stacklevel=1)
    export_recording(Path(args.session), [args.format], **options)  # named as given: see default_path_of
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``pose3d export`` to the command line."""
    from pose3d_nb.export.formats import FORMATS, units_help

    export = commands.add_parser("export", help="write a recorded session as BVH, TRC, C3D or a tidy table")
    export.add_argument(
        "session", help="session.npz written by `pose3d run` or the engine, or its folder (--out)"
    )
    export.add_argument("--format", required=True, choices=list(FORMATS), type=registered(FORMATS))
    export.add_argument("--out", default=None,
                        help="output file (default: beside the session, replacing an earlier export "
                             "pose3d wrote there, not one edited since); an existing file is refused "
                             "unless --overwrite")
    export.add_argument("--overwrite", action="store_true",
                        help="replace the --out file if it exists, or a default one pose3d did not "
                             "write as it is now")
    export.add_argument("--fps", type=float, default=None,
                        help="frame rate to declare, rows written as recorded (default: from the "
                             "timestamps, BVH/TRC/C3D rows laid on an even grid at it)")
    export.add_argument("--smooth", type=float, default=None, metavar="HZ",
                        help="zero-phase Butterworth low-pass cutoff in Hz (default: off)")
    export.add_argument(
        "--units", default=None, help=escape_help(f"length units, default first: {units_help()}")
    )
    export.add_argument(
        "--segment", type=int, default=None, metavar="N",
        help="export only this recording run (the session's segment column, counted from 0: "
             "each time the source starts or restarts; default: every row)",
    )
    export.add_argument(
        "--person", type=int, default=None, metavar="ID",
        help="export this tracked person (a track id of a several-people session) instead of the "
        "followed one; needed when the followed person changed during the session",
    )  # fmt: skip
    export.set_defaults(func=cmd_export, check=check_export_options)
