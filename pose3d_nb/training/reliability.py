"""Calibrating how wrong the lifter is likely to be, per joint and frame, from what it can see.

Two signals, both available while streaming:

- **flip spread**: the distance between the lifter's output for the 2D and its output for the
  mirrored 2D mirrored back (both branches are computed with flip augmentation anyway). Where
  the 2D leaves depth ambiguous, the two branches disagree;
- **reprojection residual**: how far the lifted joints, projected orthographically (best scale
  and shift), land from the 2D keypoints, as a fraction of the 2D body height. A pose that does
  not explain its own 2D (out-of-distribution input, a confused network) lands far.

``calibrate`` fits ``expected squared error = intercept[joint] + a spread² + b residual²`` (least
squares) on held-out mocap through the viewpoint sweep (``training.viewpoints``) with the
detector noise model: the numbers in ``lifting.fusion.LIFTER_ERROR_MODEL`` come from
``python -m pose3d_nb.training.reliability``. MediaPipe's 3D cannot be simulated on mocap, so
its side of the fusion is an assumption, stated in ``lifting.fusion``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pose3d_nb.lifting.fusion import LifterErrorModel, reprojection_residual
from pose3d_nb.lifting.keypoints import COCO_BODY_KEYPOINTS
from pose3d_nb.lifting.protocol import LiftSettings

CALIBRATION_SEED = 17  # not the viewpoint bench's seed (2024): other windows and cameras
CALIBRATION_COUNT = 4000
DEFAULT_MOCAP_DIR = Path(__file__).resolve().parents[3] / "shared" / "mocap"


def signals(plain: np.ndarray, flipped: np.ndarray, keypoints: np.ndarray, flip: bool) -> tuple:
    """(N, 17, 3) both branches, (N, 13, 2) the output frame's 2D -> output, spread, residual.

    Returns the output the streaming lifter gives (flip average or plain), (N, 17, 3); the flip
    spread (N, 17) metres; the reprojection residual (N, 17) fractions of the 2D body height.
    """
    output = (plain + flipped) / 2 if flip else plain
    spread = np.linalg.norm(plain - flipped, axis=-1)
    full = np.full((len(keypoints), 17, 2), np.nan, np.float32)
    full[:, COCO_BODY_KEYPOINTS] = keypoints
    residual = np.stack([reprojection_residual(o, k) for o, k in zip(output, full, strict=True)])
    return output, spread, residual


def calibrate(
    model,
    mocap_dir: str | Path,
    count: int = CALIBRATION_COUNT,
    seed: int = CALIBRATION_SEED,
    settings: LiftSettings | None = None,
    zoom: bool = True,
) -> tuple[LifterErrorModel, dict]:
    """Fit the lifter's error model on held-out mocap; returns it and fit figures (R², means).

    settings: window, lookahead and flip the lifter runs with (default: ``Settings()``'s).
    zoom: show the lifter the 2D as the shipped lifter runs: rays turned to the person and zoomed
        (``training.viewpoints.engine_inputs``); False: as framed.
    """
    from pose3d_nb.lifting.align import similarity_align
    from pose3d_nb.training.mocap import load_mocap
    from pose3d_nb.training.trainer import make_noise
    from pose3d_nb.training.viewpoints import engine_inputs, lift_windows, sample_viewpoints

    if settings is None:
        from pose3d_nb.settings import Settings

        settings = Settings().lift
    samples = sample_viewpoints(load_mocap(mocap_dir), model.arch.receptive_field, count, make_noise(), seed)
    inputs, _ = engine_inputs(samples, zoom)  # the residual and spread are the lifter's own view's
    plain, flipped = lift_windows(model, inputs, settings.window, settings.lookahead)
    centre = inputs[:, model.arch.pad]
    output, spread, residual = signals(plain, flipped, centre, settings.flip)
    error = np.linalg.norm(similarity_align(output, samples.targets) - samples.targets, axis=-1)
    joints = np.broadcast_to(np.eye(17), (count, 17, 17)).reshape(-1, 17)
    design = np.column_stack([joints, spread.reshape(-1) ** 2, residual.reshape(-1) ** 2])
    coefficients, *_ = np.linalg.lstsq(design, error.reshape(-1) ** 2, rcond=None)
    fitted = LifterErrorModel(
        intercept_m2=tuple(float(f"{c:.3g}") for c in coefficients[:17]),
        per_spread2=round(float(coefficients[17]), 3),
        per_residual2_m2=round(float(coefficients[18]), 4),
        typical_m=tuple(round(float(e), 4) for e in np.sqrt((error**2).mean(axis=0))),
    )
    predicted = np.stack([fitted.expected(s, r) for s, r in zip(spread, residual, strict=True)])
    # Does the predicted RMS hold into the tail? Actual against predicted RMS per tail share.
    order = np.argsort(predicted.reshape(-1))
    tail = {}
    for share in (0.5, 0.2, 0.05, 0.01):
        top = order[int(len(order) * (1 - share)) :]
        tail[f"top {share:.0%}"] = (
            round(1000 * float(np.sqrt((predicted.reshape(-1)[top] ** 2).mean())), 1),
            round(1000 * float(np.sqrt((error.reshape(-1)[top] ** 2).mean())), 1),
        )
    figures = {
        "samples": count,
        "predicted_vs_actual_rms_mm": tail,
        "mean_error_mm": round(1000 * float(error.mean()), 1),
        "mean_spread_mm": round(1000 * float(spread.mean()), 1),
        "mean_residual": round(float(residual.mean()), 4),
    }
    return fitted, figures


def main(argv: list[str] | None = None) -> int:
    """Print the calibrated error model (to paste into ``lifting/fusion.py``) and its fit."""
    from pose3d_nb.cli.common import OneLineParser, positive_count, tool_exit_status
    from pose3d_nb.lifting.choice import shipped_model

    parser = OneLineParser(prog="python -m pose3d_nb.training.reliability",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--mocap", default=str(DEFAULT_MOCAP_DIR),
                        help="mocap folder, the arrays of ../shared/mocap/ (default: %(default)s)")
    parser.add_argument("--count", type=positive_count, default=CALIBRATION_COUNT,
                        help="held-out windows to fit on (default: %(default)s)")
    args = parser.parse_args(argv)

    def report() -> None:
        torch.set_num_threads(1)
        fitted, figures = calibrate(shipped_model(), args.mocap, args.count)
        print(figures)
        print(repr(fitted))

    return tool_exit_status(report)


if __name__ == "__main__":
    raise SystemExit(main())
