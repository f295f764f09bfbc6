"""What several commands share: the usage error, one-line errors, counts, clean stops on signals,
the pipeline options."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn

from pose3d_nb.errors import Pose3DError, Pose3DValueError
from pose3d_nb.settings import DEFAULTS


class UsageError(Pose3DValueError):
    """Bad command-line input: printed as one line, exit status 2 (``tool_exit_status``)."""


def usage_error_line(prog: str, message: str) -> str:
    """``PROG: error: MESSAGE (PROG --help lists the options)``: how every refusal of a command
    line reads, argparse's own (``OneLineParser``) and the values a command checks itself."""
    return f"{prog}: error: {message} ({prog} --help lists the options)"


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr, exit status 2, as every
    other refusal of the command line is (argparse printed its usage lines above the error);
    ``--help`` still prints the usage. Sub-parsers made from it are of this class too."""

    def error(self, message: str) -> NoReturn:
        """Print ``usage_error_line(PROG, MESSAGE)`` and exit with status 2."""
        self.exit(2, usage_error_line(self.prog, message) + "\n")


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return text.splitlines()[0] if text else type(exc).__name__


def tool_exit_status(body: Callable[[], int | None], check: Callable[[], object] | None = None,
                     prog: str | None = None) -> int:
    """Run ``check``, then ``body`` (a ``pose3d`` command, a ``python -m pose3d_nb...`` tool); the
    exit status. The one place that decides it, for every command:

    - 2, the command line refused before any work: a ``UsageError`` (raised by ``check`` or
      ``body``), and any ``Pose3DValueError`` that ``check`` raises (the command's own values
      checked before it starts: a number out of range, an unknown name, options that do not go
      together). One line on stderr, as argparse's refusals (exit 2 too, ``OneLineParser``):
      ``usage_error_line(prog, MESSAGE)``, or ``error: MESSAGE`` without ``prog``.
    - 1, the work failed: what the package raises on purpose afterwards (``Pose3DError``: a video
      that cannot be read, a worker's error, nobody found) and what the file system says (a
      read-only or full disk, a path that is a file). One line ``error: MESSAGE``, never a traceback.
    - otherwise ``body``'s own status (None: 0; ``pose3d run`` and ``pose3d batch`` say 130 or
      143 after a signal, ``pose3d batch`` 1 when a video failed).
    """
    try:
        if check is not None:
            try:
                check()
            except UsageError:
                raise
            except Pose3DValueError as exc:
                raise UsageError(one_line(exc)) from exc
        return body() or 0
    except UsageError as exc:
        print(usage_error_line(prog, one_line(exc)) if prog else f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except (Pose3DError, OSError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1


def add_data_arguments(parser: argparse.ArgumentParser, out: Path, out_help: str) -> None:
    """A fitting tool's ``--mocap`` (its training data), ``--out`` (default ``out``, the shipped
    file) and ``--overwrite``; ``refuse_existing_out`` checks the last two before any work."""
    from pose3d_nb.benchmarks.accuracy import DEFAULT_MOCAP_DIR

    parser.add_argument("--mocap", default=str(DEFAULT_MOCAP_DIR),
                        help="mocap folder, the arrays of ../shared/mocap/ (default: %(default)s)")
    parser.add_argument("--out", default=str(out), help=out_help)
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def refuse_existing_out(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A usage error (exit 2) when ``args.out`` exists and ``--overwrite`` was not given: a
    default run would replace the shipped file."""
    if Path(args.out).exists() and not args.overwrite:
        parser.error(f"{args.out} exists: pass --overwrite to replace it, or --out elsewhere")


def refuse_file_as_folder(out: str | Path | None, what: str) -> None:
    """A usage error (exit 2, ``UsageError``) when ``--out``, a folder for ``what``, names an
    existing file: a refusal of the command line's value, like any other, and said as one
    (``pose3d batch`` said "File exists")."""
    if out is not None and Path(out).expanduser().is_file():
        raise UsageError(f"--out {out} is a file, not a folder: give a folder for {what}")


def positive_count(value: str) -> int:
    """An argparse type: a whole number of at least 1 (0 steps would write an untrained
    checkpoint; 0 channels or windows fail deep inside torch)."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return number


def seed_number(value: str) -> int:
    """An argparse type: a random seed, a whole number of at least 0 (what numpy accepts)."""
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {value!r}")
    return number

class StopRequest:
    """A signal handler that asks ``pose3d run`` to stop cleanly: SIGINT (Ctrl-C), SIGTERM or SIGHUP.

    The first signal sets ``requested`` (the run loop then stops the engine and keeps the
    recording); a second one while stopping raises KeyboardInterrupt, for a stop that hangs.
    ``exit_status``: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).
    """

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.signum: int | None = None

    def __call__(self, signum: int, frame: object) -> None:
        if self.requested.is_set():
            raise KeyboardInterrupt
        self.signum = signum
        self.requested.set()

    @property
    def exit_status(self) -> int:
        """128 + the signal's number (130 for SIGINT, the default; 143 for SIGTERM)."""
        return 128 + (self.signum or signal.SIGINT)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Handle SIGINT, SIGTERM and SIGHUP (a closed terminal; not when inherited ignored, as under
    ``nohup``) with a ``StopRequest`` for the block, then restore the old handlers.

    Installed explicitly: a process started from a non-interactive shell may inherit SIGINT
    ignored, and Python's default KeyboardInterrupt would then never come.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request  # signal handlers can only be set from the main thread
        return
    signals = [signal.SIGINT, signal.SIGTERM]
    # A closed terminal (SIGHUP, an ssh session that dropped) stops cleanly too, rather than
    # killing the run with its last rows unsaved; unless started under nohup, which asks to go on.
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:
        signals.append(hangup)
    previous = {signum: signal.signal(signum, request) for signum in signals}
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --detector, --lifter (alias --checkpoint), --window, --lookahead, --flip/--no-flip.

    Their defaults are ``DEFAULTS``'s, so ``pose3d run``, ``pose3d batch``, ``PoseEngine`` and
    the demo notebook start alike. The values land in ``args.detector``, ``args.lifter``,
    ``args.window``, ``args.lookahead``, ``args.flip`` and ``args.follow``.
    """
    from pose3d_nb.detectors.registry import DETECTORS
    from pose3d_nb.lifting.registry import LIFTERS

    parser.add_argument(
        # As registered ("MediaPipe" is "mediapipe"); an unknown name is left for choices to refuse.
        "--detector", default=DEFAULTS.detector, choices=DETECTORS.names(), type=registered(DETECTORS),
        help=registry_help("2D detector backend: ", DETECTORS.values()),
    )
    parser.add_argument(
        "--lifter", "--checkpoint", dest="lifter", default=DEFAULTS.lifter,
        help=registry_help("lifter: ", LIFTERS.values(), "; or a checkpoint file (--checkpoint: old name)"),
    )
    parser.add_argument(
        "--window", type=int, default=DEFAULTS.window,
        help="frames the lifter uses (0 = all up to its receptive field; the shipped lifter counts "
        "1/30 s steps on a source slower than 20 fps)",
    )
    parser.add_argument(
        "--lookahead", type=int, default=DEFAULTS.lookahead,
        help="output delay in frames (future context; 1/30 s steps as --window on a slow source)"
    )
    parser.add_argument(
        "--flip", action=argparse.BooleanOptionalAction, default=DEFAULTS.flip,
        help=f"test-time flip augmentation (default: {'on' if DEFAULTS.flip else 'off'})",
    )
    parser.add_argument(
        "--follow", default=DEFAULTS.follow, metavar="WHO",
        help="whom to follow when several people are in view: largest, centre, most-moving, a track id, "
        "or X,Y pixels in the first frame with anyone (the person there); runs mediapipe-people (with "
        "Lite's or Heavy's model for mediapipe-lite, mediapipe-heavy). auto (the default): largest with "
        "mediapipe, mediapipe-lite and mediapipe-heavy, the detector's own choice with the others; "
        "none: the detector's own choice (mediapipe, -lite, -heavy: MediaPipe's single-person solution, "
        "whoever it finds first)",
    )


def export_help(what: str) -> str:
    """``what`` followed by the registered export formats, for ``--export``'s help."""
    from pose3d_nb.export.formats import format_names

    return escape_help(f"{what} (comma-separated: {','.join(format_names())})")


def registry_help(lead: str, entries: Iterable[Any], tail: str = "") -> str:
    """``lead``, "name: description" of each registry entry, then ``tail``, for a help text."""
    return escape_help(lead + "; ".join(f"{entry.name}: {entry.description}" for entry in entries) + tail)


def escape_help(text: str) -> str:
    """``text`` safe for argparse, which %-formats help texts (plug-in descriptions may hold a %)."""
    return text.replace("%", "%%")


def registered(registry: Any) -> Callable[[str], str]:
    """An argparse ``type``: a name as ``registry`` spells it, or the text unchanged when unknown
    (then ``choices`` refuses it, listing the known names)."""

    def name(text: str) -> str:
        try:
            return registry.canonical(text)
        except KeyError:
            return text

    return name


def export_formats(value: str) -> list[str]:
    """``--export bvh,trc`` -> ["bvh", "trc"]; an unknown name is a usage error before any run."""
    from pose3d_nb.export import FORMATS

    formats = [f.strip().lower() for f in value.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        choices = ", ".join(FORMATS)
        raise argparse.ArgumentTypeError(f"unknown export format(s) {unknown}; choose from {choices}")
    return formats


def export_recording(session: Path, formats: list[str], **options) -> None:
    from pose3d_nb.export import export_session

    for fmt in formats:
        print(f"{fmt}: {export_session(session, fmt, **options)}")
