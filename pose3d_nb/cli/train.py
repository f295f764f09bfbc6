"""``pose3d train``: train the temporal lifter on motion capture."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pose3d_nb.cli.common import UsageError, positive_count, seed_number, stop_on_signals


def positive_rate(text: str) -> float:
    """A learning rate from the command line: a number above 0 and at most 1."""
    try:
        rate = float(text)
    except ValueError:
        rate = float("nan")
    if not 0 < rate <= 1:
        raise argparse.ArgumentTypeError(f"a learning rate above 0 and at most 1, got {text!r}")
    return rate


def train_config(args: argparse.Namespace):
    """The ``TrainConfig`` that ``pose3d train``'s arguments describe."""
    from pose3d_nb.training.trainer import TrainConfig, with_init

    extra = {"occlusion": args.occlusion} if args.occlusion != "keypoint" else {}
    if args.centre_rays:
        extra["centre_rays"] = True
    rates = {"learning_rate": args.learning_rate, "final_learning_rate": args.final_learning_rate}
    config = TrainConfig(
        steps=args.steps, batch=args.batch, channels=args.channels, seed=args.seed, extra=extra,
        **{name: rate for name, rate in rates.items() if rate is not None},
    )
    return with_init(config, args.init)


def check_train_options(args: argparse.Namespace) -> None:
    """``pose3d train``'s --out and --init, checked before any data loads (``cli.main`` runs it
    first): an --init that is not a checkpoint to start from (``with_init``), an --out that is a
    folder, a file that is not a checkpoint ``pose3d train`` wrote, or (unless --no-resume) a
    state beside it that this run cannot resume (not a state, other settings, an older
    version) is a refusal of the command line, exit status 2, naming the fix. An --out where
    nothing can be written fails in the work (exit status 1), as a read-only disk does."""
    from pose3d_nb.lifting.checkpoint import CheckpointError
    from pose3d_nb.training.trainer import refuse_init_as_output, refuse_output, resumed_state

    out = Path(args.out).expanduser()
    refuse_output(out)
    refuse_init_as_output(args.init, out)
    try:
        config = train_config(args)
    except CheckpointError as exc:
        raise UsageError(f"--init: {exc}") from None
    if not args.no_resume:
        resumed_state(out, config)


def cmd_train(args: argparse.Namespace) -> int:
    from pose3d_nb.training.mocap import MocapDataError
    from pose3d_nb.training.trainer import TrainingStopped, train

    config = train_config(args)
    # Ctrl-C or SIGTERM: stop after the step under way with the state saved, not up to
    # save_every steps back (Python's default) or with nothing saved since then (SIGTERM).
    with stop_on_signals() as request:
        try:
            meta = train(
                args.data, args.out, config, not args.no_resume, args.threads, stop=request.requested,
                init=args.init,
            )
        except MocapDataError as exc:
            raise UsageError(str(exc)) from None
        except TrainingStopped as exc:
            print(str(exc), file=sys.stderr)
            return request.exit_status
        except KeyboardInterrupt:  # a second signal while the state was being saved
            print("error: stopped at once by a second signal; the state saved last is kept", file=sys.stderr)
            return request.exit_status
    held = meta["held_out_mpjpe_mm"]
    print(
        f"trained {meta['steps']} steps -> {args.out} (held-out clips MPJPE "
        f"{held if held is not None else '-'} mm); loss curve {Path(args.out).with_suffix('.loss.png')}"
    )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``pose3d train`` to the command line."""
    train = commands.add_parser("train", help="train the temporal lifter on motion capture (CPU)")
    train.add_argument("--data", "--mocap", dest="data", required=True,
                       help="folder of mocap .npz files (../shared/mocap); --mocap: the same, as the "
                            "benchmarks and the other fitting tools name it")
    train.add_argument("--out", required=True, help="output checkpoint; STATE and .loss.png beside it")
    train.add_argument(
        "--steps", type=positive_count, default=20000, help="optimiser steps (batch 64 windows)"
    )
    train.add_argument("--batch", type=positive_count, default=64, help="windows per step")
    train.add_argument("--channels", type=positive_count, default=256, help="network width")
    train.add_argument("--seed", type=seed_number, default=0, help="random seed, 0 or more")
    train.add_argument(
        "--occlusion",
        choices=("keypoint", "view"),
        default="keypoint",
        help="which 2D keypoints are trained as occluded: each at the rate measured on one clip "
        "(keypoint, as every shipped lifter), or the limbs the body hides from the camera (view)",
    )
    train.add_argument(
        "--threads", type=positive_count, default=1, help="torch threads (1 measured fastest here)"
    )
    train.add_argument("--no-resume", action="store_true", help="start over even if a state exists")
    train.add_argument(
        "--init", metavar="CKPT",
        help="start from these weights (a checkpoint pose3d train wrote, same --channels) instead of "
        "random ones: fine-tuning; its hash is part of the run's settings",
    )
    train.add_argument(
        "--centre-rays", action="store_true",
        help="train each frame as a camera turned to the person sees it, as the engine lifts it "
        "(lifting.rays); the shipped lifters were trained on the image as framed",
    )
    train.add_argument("--learning-rate", type=positive_rate, help="first learning rate (default 1e-3)")
    train.add_argument(
        "--final-learning-rate", type=positive_rate,
        help="last learning rate, reached by exponential decay (default 1e-4)",
    )
    train.set_defaults(func=cmd_train, check=check_train_options)
