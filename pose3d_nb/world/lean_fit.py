"""Measuring the shipped lifter's lean habit (``world.lean``): ``python -m pose3d_nb.world.lean_fit``.

Fit: clips the lifter was trained on (never the held-out ones) are seen by virtual cameras
looking down from -30 to 70 degrees (every 10), with roll -30..30 and field of view 40..100,
projected with the detector's noise model and lifted by the shipped lifter as the engine runs
it (streaming, default settings, 2D zoom; unfused: MediaPipe's 3D is fused in the lifter's
orientation, so the fused pose leans alike, and it cannot be simulated). Per frame, the
lifted trunk's lean away from the camera less the true one; the bias at each angle is the mean
over the frames within 5 degrees of it. Then the same on held-out clips, to say what the
correction does where it was not fitted: the mean lean error and ``eval_world.py``'s gravity
error (true up), before and after. Writes ``data/lean_bias.json`` (``--overwrite`` to replace
the shipped one; ``--out`` to write elsewhere).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from pose3d_nb.world.frame import WorldFrame
from pose3d_nb.world.lean import TABLE, LeanBias, elevation_deg, lean_deg, unlean

ELEVATIONS_DEG = tuple(float(e) for e in range(-30, 71, 10))
ROLL_DEG, FOV_DEG = (-30.0, 30.0), (40.0, 100.0)


def lifted_cases(per_angle: int, held_out: bool, seed: int, mocap_dir: str | Path | None = None):
    """Yields (pitch, case, lifted (T, 17, 3) root-relative camera-frame metres); the clips come
    from ``mocap_dir`` (default: ../shared/mocap)."""
    from pose3d_nb.benchmarks.accuracy import DEFAULT_MOCAP_DIR
    from pose3d_nb.benchmarks.world_synth import engine_lifting, lift_as_engine, make_case

    pool, lifter, noise = engine_lifting(Path(mocap_dir or DEFAULT_MOCAP_DIR), held_out)
    rng = np.random.default_rng(seed)
    for pitch in ELEVATIONS_DEG:
        made = 0
        while made < per_angle:
            case = make_case(rng, pool[rng.integers(len(pool))], pitch, rng.uniform(*ROLL_DEG),
                             rng.uniform(*FOV_DEG), noise)
            if case is None:
                continue
            made += 1
            yield pitch, case, lift_as_engine(lifter, case)


def placed_like_truth(lifted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The lifted poses on the true pelvis positions (the lean is measured along the true line
    of sight)."""
    return lifted - lifted[:, :1] + truth[:, :1]


def fit(per_angle: int, seed: int, mocap_dir: str | Path | None = None) -> LeanBias:
    from pose3d_nb.errors import Pose3DRuntimeError
    from pose3d_nb.lifting.choice import SHIPPED_SHA256

    elevations, errors = [], []
    for _, case, lifted in lifted_cases(per_angle, held_out=False, seed=seed, mocap_dir=mocap_dir):
        ok = np.isfinite(lifted).all((1, 2))
        placed = placed_like_truth(lifted, case.truth)[ok]
        elevations.append(elevation_deg(case.truth[ok, 0], case.up))
        errors.append(lean_deg(placed, case.up) - lean_deg(case.truth[ok], case.up))
    elevation, error = np.concatenate(elevations), np.concatenate(errors)
    near = [np.abs(elevation - e) <= 5.0 for e in ELEVATIONS_DEG]
    if not all(n.any() for n in near):  # an empty bin would make the table NaN there
        raise Pose3DRuntimeError("no frames near some angles: raise --per-angle")
    bias = [float(error[n].mean()) for n in near]
    return LeanBias(ELEVATIONS_DEG, tuple(round(b, 2) for b in bias), SHIPPED_SHA256)


def evaluate(
    bias: LeanBias, per_angle: int, seed: int, mocap_dir: str | Path | None = None
) -> dict[float, dict[str, float]]:
    """Held-out clips: per camera pitch, mean lean error and gravity error (degrees) before and
    after ``unlean`` with the true up."""
    from pose3d_nb.benchmarks.world_synth import body_gravity_deg

    rows: dict[float, list] = {}
    for pitch, case, lifted in lifted_cases(per_angle, held_out=True, seed=seed, mocap_dir=mocap_dir):
        placed = placed_like_truth(lifted, case.truth)
        fixed = unlean(placed, case.up, bias)
        true_lean = lean_deg(case.truth, case.up)
        room = WorldFrame(case.up, 0.0)  # z up, as eval_world.py reads a prediction
        rows.setdefault(pitch, []).append([
            np.nanmean(lean_deg(placed, case.up) - true_lean),
            np.nanmean(lean_deg(fixed, case.up) - true_lean),
            body_gravity_deg(room.to_world(placed), case.truth, case.up),
            body_gravity_deg(room.to_world(fixed), case.truth, case.up),
        ])
    names = ("lean_before", "lean_after", "gravity_before", "gravity_after")
    return {p: dict(zip(names, np.mean(v, axis=0).round(1).tolist(), strict=True)) for p, v in rows.items()}


def main(argv: list[str] | None = None) -> int:
    """Fit, write ``--out``, report on held-out clips; the exit status."""
    from pose3d_nb.cli.common import (
        OneLineParser,
        add_data_arguments,
        positive_count,
        refuse_existing_out,
        seed_number,
        tool_exit_status,
    )

    parser = OneLineParser(prog="python -m pose3d_nb.world.lean_fit",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--per-angle", type=positive_count, default=40, help="training clips per pitch")
    parser.add_argument("--held-out", type=positive_count, default=20, help="held-out clips per pitch")
    parser.add_argument("--seed", type=seed_number, default=0)
    add_data_arguments(parser, TABLE, "the table to write (default: the shipped one)")
    args = parser.parse_args(argv)
    refuse_existing_out(parser, args)
    return tool_exit_status(lambda: _fit_and_report(args))


def _fit_and_report(args: argparse.Namespace) -> None:
    started = time.time()
    bias = fit(args.per_angle, args.seed, args.mocap)
    print("bias (deg) by elevation:", dict(zip(bias.elevation_deg, bias.bias_deg, strict=True)), flush=True)
    Path(args.out).write_text(json.dumps({
        "elevation_deg": bias.elevation_deg, "bias_deg": bias.bias_deg, "lifter": bias.lifter,
        "made_by": f"python -m pose3d_nb.world.lean_fit --per-angle {args.per_angle} --seed {args.seed}",
    }, indent=1) + "\n")
    print(f"wrote {args.out} after {time.time() - started:.0f} s", flush=True)
    for pitch, row in evaluate(bias, args.held_out, args.seed + 1, args.mocap).items():
        print(f"held-out pitch {pitch:5.0f}: " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    print(f"done after {time.time() - started:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main())
