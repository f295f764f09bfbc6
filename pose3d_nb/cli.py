"""The ``pose3d`` command line."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.settings import DEFAULTS, Settings


class UsageError(Pose3DValueError):
    """Bad command-line input: printed as one line, exit status 2."""


# ---------------------------------------------------------------------------- lift
def _load_keypoints(path: Path) -> np.ndarray:
    from pose3d_nb.lifting.keypoints import check_keypoints

    if not path.is_file():
        raise UsageError(f"keypoints file not found: {path}")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise UsageError(f"{path} is not a plain numeric .npy array ({exc})") from None
    try:
        return check_keypoints(array, what=str(path))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_lift(args: argparse.Namespace) -> int:
    from pose3d_nb.lifting.checkpoint import load_model
    from pose3d_nb.lifting.offline import lift_sequence
    from pose3d_nb.lifting.streaming import StreamingLifter
    from pose3d_nb.lifting.world import camera_to_world, rebase_floor

    keypoints = _load_keypoints(Path(args.keypoints))
    size = tuple(args.size)
    model = load_model(args.checkpoint, causal=args.causal)
    if args.stream:
        lifter = StreamingLifter(model, window=args.window, lookahead=args.lookahead, flip=args.flip)
        outputs = []
        for frame in keypoints:
            outputs += lifter.push(frame, size)
        outputs += lifter.flush()
        joints = np.stack([o.joints for o in outputs])
        valid = np.array([o.valid for o in outputs])
    else:
        lifted = lift_sequence(model, keypoints, size, flip=args.flip)
        joints, valid = lifted.joints, lifted.valid
    if args.world:
        joints = rebase_floor(camera_to_world(joints), per_frame=args.stream)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, joints.astype(np.float32))
    valid_path = out.with_name(out.stem + "_valid.npy")
    np.save(valid_path, valid)
    mode = f"streaming (window {args.window}, lookahead {args.lookahead})" if args.stream else "offline"
    print(
        f"lifted {len(joints)} frames ({mode}, receptive field {model.arch.receptive_field}, "
        f"{'world' if args.world else 'camera'} space, flip={args.flip}) -> {out}; "
        f"{int((~valid).sum())} frames without a detection, mask in {valid_path}"
    )
    return 0


# ---------------------------------------------------------------------------- models
def cmd_models(args: argparse.Namespace) -> int:
    from pose3d_nb.lifting.weights import KNOWN_CHECKPOINTS, FetchError, fetch, model_dir, sha256_of

    directory = Path(args.dir) if args.dir else model_dir()
    if args.action == "fetch":
        if not args.name:
            raise UsageError("usage: pose3d models fetch NAME")
        try:
            path = fetch(args.name, directory)
        except KeyError as exc:
            raise UsageError(exc.args[0]) from None
        except FetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"saved {path} ({path.stat().st_size} bytes, sha256 {sha256_of(path)})")
        return 0
    print(f"checkpoint folder: {directory}")
    for known in KNOWN_CHECKPOINTS:
        path = directory / known.filename
        present = "present" if path.is_file() else "missing"
        size = f"{known.size_bytes} B" if known.size_bytes else "size unknown"
        digest = known.sha256 or "sha256 unknown"
        usable = "usable" if known.usable else "not usable here"
        print(f"  {known.name:22s} {present:8s} {usable:16s} RF {known.receptive_field:3d}  {known.url}")
        print(f"  {'':22s} input {known.input_layout}; {size}; {digest}; {known.note}")
    from pose3d_nb.lifting.choice import choose_lifter, shipped_checkpoint, shipped_meta

    shipped, meta = shipped_checkpoint(), shipped_meta()
    print(f"shipped with the package: {shipped} ({shipped.stat().st_size} B, sha256 {sha256_of(shipped)})")
    print(
        f"  trained by `pose3d train` on motion capture, {meta.get('steps')} steps; held-out mocap MPJPE "
        f"{meta.get('held_out_mpjpe_mm')} mm; data: {meta.get('data')}"
    )
    print(f"in use with --checkpoint auto: {choose_lifter('auto', world_landmark_weight=None).name}")
    return 0


# ---------------------------------------------------------------------------- bench
def cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "lifter":
        from pose3d_nb.benchmarks.lifter import run

        run(threads=args.threads, as_json=args.json)
    elif args.what == "detect":
        from pose3d_nb.benchmarks.detect import run

        run(source=args.source, max_frames=args.max_frames, as_json=args.json)
    elif args.what == "accuracy":
        from pose3d_nb.benchmarks.accuracy import run

        run(views_dir=args.views, mocap_dir=args.mocap, as_json=args.json)
    elif args.what == "pipeline":
        from pose3d_nb.benchmarks.pipeline import run

        run(source=args.source, max_frames=args.max_frames, as_json=args.json)
    elif args.what == "batch":
        from pose3d_nb.benchmarks.batch import run

        run(clips=args.clips, frames=args.max_frames, as_json=args.json)
    return 0


# ---------------------------------------------------------------------------- run
class StopRequest:
    """A signal handler that asks ``pose3d run`` to stop cleanly: SIGINT (Ctrl-C) or SIGTERM.

    The first signal sets ``requested`` (the run loop then stops the engine and keeps the
    recording); a second one while stopping raises KeyboardInterrupt, for a stop that hangs.
    ``exit_status``: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
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
        return 128 + (self.signum or signal.SIGINT)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Handle SIGINT and SIGTERM with a ``StopRequest`` for the block, then restore the old handlers.

    Installed explicitly: a process started from a non-interactive shell may inherit SIGINT
    ignored, and Python's default KeyboardInterrupt would then never come.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request  # signal handlers can only be set from the main thread
        return
    previous = {signum: signal.signal(signum, request) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_settings(args: argparse.Namespace) -> Settings:
    """The ``Settings`` that ``pose3d run``'s arguments describe."""
    return Settings(source=args.source, detector=args.detector, lifter=args.checkpoint, window=args.window,
                    lookahead=args.lookahead, flip=args.flip, capacity=args.capacity, out_dir=args.out)


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """--detector, --checkpoint/--lifter, --window, --lookahead, --flip with ``DEFAULTS``."""
    parser.add_argument(
        "--detector", default=DEFAULTS.detector, help="2D detector backend (mediapipe, detectron2)"
    )
    parser.add_argument(
        "--checkpoint", "--lifter", dest="checkpoint", default=DEFAULTS.lifter,
        help="lifter: auto (official checkpoint in model/, else the shipped one), shipped, mediapipe, a file",
    )
    parser.add_argument(
        "--window", type=int, default=DEFAULTS.window,
        help="frames the lifter uses (0 = all up to its receptive field)",
    )
    parser.add_argument(
        "--lookahead", type=int, default=DEFAULTS.lookahead, help="output delay in frames (future context)"
    )
    parser.add_argument(
        "--flip", action="store_true", default=DEFAULTS.flip, help="test-time flip augmentation"
    )


def cmd_run(args: argparse.Namespace) -> int:
    with stop_on_signals() as request:
        return _run(args, request)


def _run(args: argparse.Namespace, request: StopRequest) -> int:
    from tqdm import tqdm

    from pose3d_nb.engine import PoseEngine

    engine = PoseEngine.from_settings(run_settings(args), loop=args.loop or None, pace=args.pace or None)
    info = engine.lifter_info
    print(f"lifter: {info.name}")
    if info.hint:
        print(f"note: {info.hint}")
    engine.start()
    source = engine.source
    total = getattr(source, "frame_count", None) if not source.is_live and not args.loop else None
    if args.max_frames:
        total = min(total, args.max_frames) if total else args.max_frames
    interrupted = False
    bar = tqdm(total=total, unit="frame", desc=engine.source_name, dynamic_ncols=True, mininterval=0.5)
    try:
        while engine.running and not request.requested.is_set():
            engine.wait(0.25)
            stats = engine.stats()
            bar.update(stats.processed - bar.n)
            latency = f"{stats.latency_ms_median:.0f}" if stats.latency_ms_median is not None else "-"
            bar.set_postfix_str(
                f"{stats.fps:.1f} fps, latency {latency} ms, dropped {stats.dropped}", refresh=False
            )
            if args.max_frames and stats.processed >= args.max_frames:
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        engine.stop()
    interrupted = interrupted or request.requested.is_set()
    stats = engine.stats()
    where = f"; recorded to {Path(args.out) / 'session.npz'}" if stats.processed else ""
    print(
        f"{'interrupted: ' if interrupted else ''}{stats.processed} frames, {stats.fps:.1f} fps, "
        f"{int((~engine.buffer.valid()).sum())} without a person, dropped {stats.dropped}{where}"
    )
    if engine.error is not None:
        print(f"error: {engine.error}", file=sys.stderr)
        return 1
    if args.csv and stats.processed:
        print(f"CSV: {engine.export_csv()}")
    if args.export and stats.processed:
        _export_recording(Path(args.out) / "session.npz", args.export)
    return request.exit_status if interrupted else 0


# ---------------------------------------------------------------------------- batch
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


# ---------------------------------------------------------------------------- export
def _export_formats(value: str) -> list[str]:
    """``--export bvh,trc`` -> ["bvh", "trc"]; an unknown name is a usage error before any run."""
    from pose3d_nb.export import FORMATS

    formats = [f.strip().lower() for f in value.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        choices = ", ".join(FORMATS)
        raise argparse.ArgumentTypeError(f"unknown export format(s) {unknown}; choose from {choices}")
    return formats


def _export_recording(session: Path, formats: list[str], **options) -> None:
    from pose3d_nb.export import export_session

    for fmt in formats:
        print(f"{fmt}: {export_session(session, fmt, **options)}")


def cmd_export(args: argparse.Namespace) -> int:
    options = {"out": args.out, "fps": args.fps, "smooth": args.smooth, "units": args.units}
    _export_recording(Path(args.session), [args.format], **options)
    return 0


# ---------------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    from pose3d_nb.training.mocap import MocapDataError
    from pose3d_nb.training.trainer import TrainConfig, train

    config = TrainConfig(steps=args.steps, batch=args.batch, channels=args.channels, seed=args.seed)
    try:
        meta = train(args.data, args.out, config, resume=not args.no_resume, threads=args.threads)
    except MocapDataError as exc:
        raise UsageError(str(exc)) from None
    held = meta["held_out_mpjpe_mm"]
    print(
        f"trained {meta['steps']} steps -> {args.out} (held-out clips MPJPE "
        f"{held if held is not None else '-'} mm); loss curve {Path(args.out).with_suffix('.loss.png')}"
    )
    return 0


# ---------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from pose3d_nb.lab import launch_demo

    launch_demo(port=args.port, open_browser=args.open, work_dir=args.work_dir)
    return 0


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pose3d", description="Live 3D human pose (VideoPose3D) tools")
    commands = parser.add_subparsers(dest="command", required=True)

    lift = commands.add_parser("lift", help="lift a (T, 17, 2) COCO pixel keypoint array to 3D")
    lift.add_argument("keypoints", help=".npy file, shape (T, 17, 2), COCO order, pixels, NaN = missing")
    lift.add_argument("--size", nargs=2, type=int, required=True, metavar=("W", "H"), help="frame size")
    lift.add_argument("--checkpoint", required=True, help="VideoPose3D checkpoint (.bin)")
    lift.add_argument("--flip", action="store_true", help="test-time flip augmentation")
    lift.add_argument("--causal", action="store_true", help="run the causal variant of the model")
    lift.add_argument("--stream", action="store_true", help="frame-by-frame: row t made at time t+L")
    lift.add_argument("--window", type=int, default=0, help="frames used per step (0 = all), --stream")
    lift.add_argument("--lookahead", type=int, default=0, help="output delay in frames, --stream")
    lift.add_argument("--world", action="store_true", help="z-up world frame, floor at z=0")
    lift.add_argument("--out", required=True, help="output .npy (T, 17, 3); a _valid.npy mask beside it")
    lift.set_defaults(func=cmd_lift)

    models = commands.add_parser("models", help="list known checkpoints, or fetch one")
    models.add_argument("action", nargs="?", choices=["list", "fetch"], default="list")
    models.add_argument("name", nargs="?")
    models.add_argument("--dir", help="checkpoint folder (default: model/ or $POSE3D_MODEL_DIR)")
    models.set_defaults(func=cmd_models)

    demo = commands.add_parser("demo", help="open the demo notebook in JupyterLab (localhost, token)")
    demo.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    demo.add_argument("--open", action="store_true", help="also open it in the default web browser")
    demo.add_argument("--work-dir", default=None, help="copy the notebooks here (installed package)")
    demo.set_defaults(func=cmd_demo)

    run = commands.add_parser("run", help="headless capture -> 2D -> 3D, recorded to --out")
    run.add_argument(
        "--source", default=DEFAULTS.source, help="sample (default), camera, camera:N, a video or a folder"
    )
    add_pipeline_arguments(run)
    run.add_argument("--out", default=DEFAULTS.out_dir, help="folder for joints.npy and session.npz")
    run.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    run.add_argument("--loop", action="store_true", help="repeat a video file")
    run.add_argument("--pace", action="store_true", help="play a video file at its frame rate, like a camera")
    run.add_argument(
        "--capacity", type=int, default=DEFAULTS.capacity, help="rows kept in the rolling buffer"
    )
    run.add_argument("--csv", action="store_true", help="also write session.csv")
    run.add_argument(
        "--export", type=_export_formats, default=[], metavar="FORMATS",
        help="after the run, export the session as these (comma-separated: bvh,trc,c3d,csv,parquet)",
    )
    run.set_defaults(func=cmd_run)

    batch = commands.add_parser("batch", help="many videos, each to OUT/NAME/session.npz, on a Dask pool")
    batch.add_argument("inputs", nargs="+", help="video files, folders (searched), globs, .txt lists")
    batch.add_argument("--out", required=True, help="one folder per video goes here")
    batch.add_argument("--workers", type=int, default=2, help="local pool: worker processes, 1 thread each")
    batch.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="use a running Dask cluster (tcp://HOST:8786) instead of a local pool")
    add_pipeline_arguments(batch)
    batch.add_argument("--export", type=_export_formats, default=[], metavar="FORMATS",
                       help="also write these beside each session (comma-separated: bvh,trc,c3d,csv,parquet)")
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    batch.set_defaults(func=cmd_batch)

    from pose3d_nb.export import FORMATS

    export = commands.add_parser("export", help="write a recorded session as BVH, TRC, C3D or a tidy table")
    export.add_argument("session", help="session.npz written by `pose3d run` or the engine")
    export.add_argument("--format", required=True, choices=list(FORMATS))
    export.add_argument("--out", default=None, help="output file (default: beside the session)")
    export.add_argument("--fps", type=float, default=None, help="frame rate to declare (default: timestamps)")
    export.add_argument("--smooth", type=float, default=None, metavar="HZ",
                        help="zero-phase Butterworth low-pass cutoff in Hz (default: off)")
    export.add_argument("--units", default=None, help="bvh: m|cm, trc: m|mm, c3d: mm|m")
    export.set_defaults(func=cmd_export)

    train = commands.add_parser("train", help="train the temporal lifter on motion capture (CPU)")
    train.add_argument("--data", required=True, help="folder of mocap .npz files (../shared/mocap)")
    train.add_argument("--out", required=True, help="output checkpoint; STATE and .loss.png beside it")
    train.add_argument("--steps", type=int, default=20000, help="optimiser steps (batch 64 windows)")
    train.add_argument("--batch", type=int, default=64, help="windows per step")
    train.add_argument("--channels", type=int, default=256, help="network width")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=1, help="torch threads (1 measured fastest here)")
    train.add_argument("--no-resume", action="store_true", help="start over even if a state exists")
    train.set_defaults(func=cmd_train)

    bench = commands.add_parser("bench", help="benchmarks that print measured numbers")
    bench.add_argument("what", choices=["lifter", "detect", "pipeline", "accuracy", "batch"])
    bench.add_argument("--views", default=None, help="views_3d benchmark folder (accuracy)")
    bench.add_argument("--mocap", default=None, help="mocap folder for the held-out rows (accuracy)")
    bench.add_argument("--json", action="store_true", help="last line: one JSON object")
    bench.add_argument("--threads", type=int, default=1, help="torch threads (lifter)")
    bench.add_argument("--source", default="sample")
    bench.add_argument("--max-frames", type=int, default=None, help="frames (batch: per clip)")
    bench.add_argument("--clips", type=int, default=6, help="batch: clips cut from the sample")
    bench.set_defaults(func=cmd_bench)
    return parser


def _one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    from pose3d_nb.errors import Pose3DError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (Pose3DError, OSError) as exc:
        # What the package raises on purpose, and what the file system says (a read-only or
        # full disk, a path that is a file): one line, never a traceback.
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
