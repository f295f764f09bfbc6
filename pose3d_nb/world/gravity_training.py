"""Training the learned up estimate (``world.gravity_model``): ``python -m pose3d_nb.world.gravity_training``.

Clips the lifter was trained on (never the held-out ones, which score it) are seen by virtual
cameras with pitch -25..65 degrees, roll -35..35 and field of view 35..105 (a little wider than
the sweep of ``pose3d bench world``), projected with the detector's noise model, lifted by the
shipped lifter with its 2D zoom (``lifting.zoom``; the lifter is trained on zoomed 2D since
2026-12-06); the network learns the camera's up from each frame's lifted pose and 2D.

The shipped ``gravity_view.npz`` is this script's output as committed (defaults, about 50 s on
2 cores), trained on the fourth shipped lifter's zoomed lifts. Chosen on held-out clips only
(offline, true intrinsics; the camera-up error, then ``eval_world.py``'s gravity error), each time
the lifter changed: for the second lifter, 120 clips at seed 43, 7.17 -> 6.85 degrees and gravity
0.26 lower, 60 at seed 41, 6.90 -> 6.39 and 0.29 lower, against weights trained on the first
lifter's lifts as framed (a rerun made that file to the bit); for the third, on its lifts, 120
clips at seed 43, 6.94 -> 6.74 degrees and gravity 10.07 -> 9.96 against the second lifter's;
for the fourth, ``--compare`` (the clips' learned up alone, 90 frames each): 7.88 -> 7.57 degrees
mean against the third lifter's (7.11 -> 6.80 median). An existing ``--out`` (by default the shipped
file) is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from pose3d_nb.world.gravity_model import WEIGHTS, features

PITCH_DEG, ROLL_DEG, FOV_DEG = (-25.0, 65.0), (-35.0, 35.0), (35.0, 105.0)


def make_clips(
    clips: int, seed: int, frames: int = 90, held_out: bool = False, mocap_dir: str | Path | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``clips`` synthetic clips lifted by the shipped lifter as the engine zooms them: per clip,
    (frames, 79) inputs (NaN rows where unusable) and its (3,) true up in camera coordinates.
    The clips come from ``mocap_dir`` (default: ../shared/mocap)."""
    import torch

    from pose3d_nb.benchmarks.accuracy import DEFAULT_MOCAP_DIR
    from pose3d_nb.benchmarks.world_synth import make_case
    from pose3d_nb.lifting.choice import shipped_model
    from pose3d_nb.lifting.offline import lift_sequence
    from pose3d_nb.lifting.zoom import TARGET_HEIGHT
    from pose3d_nb.training.mocap import load_mocap, sampling_weights
    from pose3d_nb.training.trainer import make_noise
    from pose3d_nb.world.placement import image_points

    torch.set_num_threads(1)
    pool = [c for c in load_mocap(mocap_dir or DEFAULT_MOCAP_DIR) if c.held_out == held_out]
    weights = sampling_weights(pool, 3 * frames)
    model, noise = shipped_model(), make_noise()
    rng = np.random.default_rng(seed)
    made = []
    while len(made) < clips:
        pitch, roll, fov = rng.uniform(*PITCH_DEG), rng.uniform(*ROLL_DEG), rng.uniform(*FOV_DEG)
        case = make_case(rng, pool[rng.choice(len(pool), p=weights)], pitch, roll, fov, noise, frames=frames)
        if case is None:
            continue
        size = (case.intrinsics.width, case.intrinsics.height)
        keypoints = case.keypoints.astype(np.float32)
        # As the shipped weights were fitted (2026-12-06): zoomed, the rays not turned to the person
        # (``lifting.rays``, since 2026-12-07 in the engine; these cameras aim at the person's
        # middle, so the turn is small here).
        lifted = lift_sequence(model, keypoints, size, zoom_height=TARGET_HEIGHT).joints
        points, _ = image_points(case.intrinsics, case.keypoints, case.scores)
        made.append((features(lifted, points), case.up.astype(np.float32)))
    return made


def make_data(
    clips: int, seed: int, frames: int = 90, held_out: bool = False, mocap_dir: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 79) inputs and (N, 3) true up of ``clips`` synthetic clips (every 3rd frame kept)."""
    inputs, targets = [], []
    for x, up in make_clips(clips, seed, frames, held_out, mocap_dir):
        x = x[::3]
        keep = np.isfinite(x).all(1)
        inputs.append(x[keep])
        targets.append(np.repeat(up[None], keep.sum(), 0))
    return np.concatenate(inputs), np.concatenate(targets)


def held_out_up_error(
    paths: list[str], clips: int = 120, seed: int = 43, mocap_dir: str | Path | None = None
) -> dict[str, np.ndarray]:
    """Each weights file's camera-up error on held-out clips (the clip's mean up, as
    ``learned_up`` answers it), degrees, (clips,) per path: how a retrained up is chosen."""
    from pose3d_nb.errors import Pose3DFileNotFoundError
    from pose3d_nb.world.gravity import unit
    from pose3d_nb.world.gravity_model import load_weights, predict

    weights = {path: load_weights(str(path)) for path in paths}
    missing = [path for path, arrays in weights.items() if arrays is None]
    if missing:
        raise Pose3DFileNotFoundError(f"no weights file at {', '.join(map(str, missing))}")
    errors: dict[str, list[float]] = {path: [] for path in paths}
    for x, true_up in make_clips(clips, seed, held_out=True, mocap_dir=mocap_dir):
        x = x[np.isfinite(x).all(1)]
        for path, arrays in weights.items():
            up = unit(predict(arrays, x).mean(0))
            errors[path].append(float(np.degrees(np.arccos(np.clip(up @ unit(true_up), -1.0, 1.0)))))
    return {path: np.array(values) for path, values in errors.items()}


def train(inputs: np.ndarray, targets: np.ndarray, steps: int, seed: int, hidden: int = 256) -> dict:
    """An MLP (inputs -> hidden -> hidden -> 3) trained on 1 - cosine; its arrays for ``predict``."""
    import torch

    torch.manual_seed(seed)
    mean, std = inputs.mean(0), inputs.std(0) + 1e-6
    x = torch.from_numpy((inputs - mean) / std)
    y = torch.from_numpy(targets)
    layers = [torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden)]
    net = torch.nn.Sequential(*layers, torch.nn.ReLU(), torch.nn.Linear(hidden, 3))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-5)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(seed)
    for step in range(steps):
        batch = torch.randint(0, len(x), (512,), generator=generator)
        predicted = torch.nn.functional.normalize(net(x[batch]), dim=1)
        loss = (1 - (predicted * y[batch]).sum(1)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 1000 == 0:
            print(f"step {step} loss {loss.item():.4f}", flush=True)
    linear = [m for m in net if isinstance(m, torch.nn.Linear)]
    arrays = {"mean": mean.astype(np.float32), "std": std.astype(np.float32), "layers": np.array(len(linear))}
    for k, layer in enumerate(linear):
        arrays[f"w{k}"] = layer.weight.detach().numpy().T.copy()
        arrays[f"b{k}"] = layer.bias.detach().numpy().copy()
    return arrays


def main(argv: list[str] | None = None) -> int:
    """Train and save ``--out``, or with ``--compare`` score weights files; the exit status."""
    from pose3d_nb.cli.common import (
        OneLineParser,
        add_data_arguments,
        positive_count,
        refuse_existing_out,
        seed_number,
        tool_exit_status,
    )

    parser = OneLineParser(prog="python -m pose3d_nb.world.gravity_training",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=positive_count, default=3000, help="training clips")
    parser.add_argument("--steps", type=positive_count, default=6000, help="optimiser steps (512 frames)")
    parser.add_argument("--seed", type=seed_number, default=0)
    add_data_arguments(parser, WEIGHTS, "weights to write (default: the shipped ones)")
    parser.add_argument(
        "--compare", nargs="+", metavar="NPZ",
        help="train nothing: print each weights file's camera-up error on 120 held-out clips (seed 43)",
    )
    args = parser.parse_args(argv)
    if not args.compare:
        refuse_existing_out(parser, args)
    return tool_exit_status(lambda: _compare(args) if args.compare else _train_and_save(args))


def _compare(args: argparse.Namespace) -> None:
    for path, errors in held_out_up_error(args.compare, mocap_dir=args.mocap).items():
        print(f"{path}: camera-up error mean {errors.mean():.2f} deg, median {np.median(errors):.2f}")


def _train_and_save(args: argparse.Namespace) -> None:
    started = time.time()
    inputs, targets = make_data(args.clips, args.seed, mocap_dir=args.mocap)
    print(f"{len(inputs)} frames from {args.clips} clips in {time.time() - started:.0f} s", flush=True)
    arrays = train(inputs, targets, args.steps, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **arrays)
    print(f"saved {args.out} after {time.time() - started:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main())
