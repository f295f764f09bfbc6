"""The ``pose3d`` command line: one module per command, each adding its own parser.

``main`` turns every error the package raises on purpose (``Pose3DError``) and every file-system
error into one line on stderr and a non-zero exit status, in one place (``tool_exit_status``): 2
when the command line is refused before any work (argparse's refusals, and the values a command
checks first: its ``check`` default, ``set_defaults(check=...)``), 1 when the work fails.
"""

from __future__ import annotations

import argparse
import re
import sys

from pose3d_nb.cli import batch, bench, demo, export, lift, models, run, train
from pose3d_nb.cli.common import (
    OneLineParser,
    StopRequest,
    UsageError,
    add_pipeline_arguments,
    stop_on_signals,
    tool_exit_status,
)
from pose3d_nb.cli.run import run_settings

__all__ = [
    "StopRequest",
    "UsageError",
    "add_pipeline_arguments",
    "build_parser",
    "main",
    "run_settings",
    "stop_on_signals",
]

COMMANDS = (lift, models, demo, run, batch, export, train, bench)


def build_parser() -> argparse.ArgumentParser:
    """The ``pose3d`` parser with every command's sub-parser."""
    parser = OneLineParser(prog="pose3d", description="Live 3D human pose (VideoPose3D) tools")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands)
    return parser


def open_closed_std_streams() -> None:
    """Point a standard stream the process was started without (``pose3d run 2>&-``) at os.devnull.

    With descriptor 2 closed, the next file opened gets it and the native libraries' log lines
    (MediaPipe, TensorFlow Lite) are written into that file; and Python's ``sys.stderr`` is
    None, which the progress bar cannot write to. Descriptors 0-2 that are open are left alone.
    """
    import os

    for descriptor, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(descriptor)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
            if opened != descriptor:
                os.dup2(opened, descriptor)
                os.close(opened)
        if getattr(sys, name) is None:
            setattr(sys, name, open(descriptor, mode, closefd=False))  # noqa: SIM115 - for the process


def one_line_warnings() -> None:
    """Print the package's warnings as ``pose3d: warning: MESSAGE`` lines: Python's own format
    adds the warning's class and the source line that raised it, which say nothing to a person
    at a terminal (``pose3d export`` of a folder a failed overwrite left behind, say). Only the
    printed form changes: code that records warnings (``catch_warnings``, pytest) sees them as
    before."""
    import warnings

    def formatted(message, category, filename, lineno, line=None) -> str:
        return f"pose3d: warning: {message}\n"

    warnings.formatwarning = formatted


def main(argv: list[str] | None = None) -> int:
    """Run ``pose3d ARGS``; the exit status."""
    open_closed_std_streams()
    one_line_warnings()
    parser = build_parser()
    args, unknown = parser.parse_known_args(
        _values_kept_with_their_options(sys.argv[1:] if argv is None else argv))
    if unknown:  # the command's own words ("pose3d batch: error: ..."), as its other refusals say
        _command_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown)}")
    # A command's own checks of its values (set_defaults(check=...)) run before it: what they
    # refuse exits 2, as argparse's refusals do; what fails in the command itself exits 1.
    check = getattr(args, "check", None)
    return tool_exit_status(lambda: args.func(args), check=check and (lambda: check(args)),
                            prog=f"{parser.prog} {args.command}")


def _command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The sub-parser of ``command`` (``pose3d batch``'s), as ``build_parser`` added it."""
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return commands.choices[command]


def _values_kept_with_their_options(argv: list[str]) -> list[str]:
    """``--follow -5,10`` as ``--follow=-5,10``. argparse takes a value that starts with "-" for
    an option of its own unless it reads as one negative number, so a point left of the image
    failed as "expected one argument" instead of with the point's own error. What follows a
    bare ``--`` is positional (``pose3d batch --out OUT -- -1,2.mp4``) and is left as given."""
    out: list[str] = []
    for position, token in enumerate(argv):
        if token == "--":
            return out + list(argv[position:])
        if out and out[-1].startswith("--") and "=" not in out[-1] and _NEGATIVE_PAIR.match(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


_NEGATIVE_PAIR = re.compile(r"^-\d[\d.]*,\s*-?\d")


if __name__ == "__main__":
    sys.exit(main())
