"""How the lifter holds on cameras it was not tuned on: ``pose3d bench viewpoints``.

Held-out mocap (clips never trained on, ``training.mocap.HELD_OUT`` and the eval-only subjects)
seen through random virtual cameras (``training.viewpoints``: view, pitch, roll, distance, field
of view, portrait or landscape), lifted by the shipped lifter with the default settings
(``Settings``: window, lookahead, flip), clean and with the detector noise model. For each factor,
the samples are binned by that factor alone (the others stay random) and each bin's errors are
printed: PA-MPJPE clean and noisy, MPJPE noisy (mm), and the noisy flip spread (mean distance
between the plain and the mirrored-back outputs, the fusion's reliability signal, mm).

This is the protocol on which lifters, checkpoints and fusion parameters are chosen; the real
views of ``pose3d bench accuracy`` are a final report only (docs/lifter_training.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pose3d_nb.errors import Pose3DFileNotFoundError

DEFAULT_MOCAP_DIR = Path(__file__).resolve().parents[3] / "shared" / "mocap"
FULL_COUNT, SMOKE_COUNT = 3000, 120


@dataclass(frozen=True)
class Factor:
    """A camera factor, its bin edges and how to print it."""

    name: str
    label: str
    edges: tuple[float, ...]
    names: tuple[str, ...] = ()  # bin labels instead of the edges


FACTORS = (
    Factor("view_deg", "view (0 frontal, 90 profile, 180 back), deg", (0, 30, 60, 120, 150, 180)),
    Factor("pitch_deg", "pitch (looking down), deg", (-20, 0, 20, 40, 60)),
    Factor("roll_deg", "roll, deg", (-30, -15, -5, 5, 15, 30)),
    Factor("distance_m", "distance, m", (1.5, 2.5, 4, 6, 8)),
    Factor("fov_deg", "field of view (long side), deg", (40, 55, 70, 85, 100)),
    Factor("portrait", "image orientation", (-0.5, 0.5, 1.5), ("landscape 16:9", "portrait 9:16")),
    Factor("person_fraction", "person height / image height", (0, 0.1, 0.2, 0.35, 0.6, 1.0, 10)),
    Factor("offset_deg", "person off the optical axis, deg", (0, 5, 10, 20, 30, 60)),
)


def per_sample_errors(predicted: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 17, 3) each, metres -> (MPJPE, PA-MPJPE) per sample, (N,) mm, pelvis-relative."""
    from pose3d_nb.lifting.align import pa_mpjpe

    mpjpe = np.linalg.norm(predicted - targets, axis=-1).mean(axis=-1)
    return 1000 * mpjpe, 1000 * pa_mpjpe(predicted, targets)


def measure(model, mocap_dir: Path, count: int, seed: int = 2024) -> dict[str, dict[str, np.ndarray]]:
    """Per-sample errors of ``model`` under the default settings, clean and noisy.

    Returns {"clean"|"noisy": {"mpjpe", "pa_mpjpe", "spread": (N,) mm, and each factor (N,)}}.
    """
    from pose3d_nb.lifting.rays import turn_back
    from pose3d_nb.settings import Settings
    from pose3d_nb.training.mocap import load_mocap
    from pose3d_nb.training.trainer import make_noise
    from pose3d_nb.training.viewpoints import engine_inputs, lift_windows, sample_viewpoints

    settings = Settings()
    clips = load_mocap(mocap_dir)
    results = {}
    for key, noise in (("clean", None), ("noisy", make_noise())):
        samples = sample_viewpoints(clips, model.arch.receptive_field, count, noise, seed=seed)
        # As the shipped lifter runs: each frame's rays turned to the person (lifting.rays), the
        # 2D zoomed to the size it lifts best (lifting.zoom), the pose turned back.
        inputs, rotations = engine_inputs(samples)
        plain, flipped = lift_windows(model, inputs, settings.window, settings.lookahead)
        plain, flipped = turn_back(plain, rotations), turn_back(flipped, rotations)
        predicted = (plain + flipped) / 2 if settings.flip else plain
        mpjpe, pa = per_sample_errors(predicted, samples.targets)
        spread = 1000 * np.linalg.norm(plain - flipped, axis=-1).mean(axis=-1)
        results[key] = {"mpjpe": mpjpe, "pa_mpjpe": pa, "spread": spread, **samples.factors}
        results[key]["truncated"] = samples.truncated.astype(np.float64)
    return results


def bin_table(results: dict[str, dict[str, np.ndarray]]) -> dict[str, list[dict]]:
    """Per factor, one row per bin: range, n, PA-MPJPE clean/noisy, MPJPE noisy, spread, % cut."""
    table = {}
    for factor in FACTORS:
        rows = []
        for low, high in zip(factor.edges[:-1], factor.edges[1:], strict=True):
            row = {"low": low, "high": high}
            for key in ("clean", "noisy"):
                values = results[key][factor.name]
                inside = (values >= low) & (values < high)
                row[f"n_{key}"] = int(inside.sum())
                if not inside.any():
                    continue
                row[f"pa_mpjpe_{key}"] = round(float(results[key]["pa_mpjpe"][inside].mean()), 1)
                if key == "noisy":
                    row["mpjpe_noisy"] = round(float(results[key]["mpjpe"][inside].mean()), 1)
                    row["spread_noisy"] = round(float(results[key]["spread"][inside].mean()), 1)
                    row["truncated_pct"] = round(100 * float(results[key]["truncated"][inside].mean()), 1)
            rows.append(row)
        table[factor.name] = rows
    return table


def print_table(table: dict[str, list[dict]], overall: dict[str, float]) -> None:
    print(
        f"all samples: PA-MPJPE clean {overall['pa_mpjpe_clean']:.1f} mm, "
        f"noisy {overall['pa_mpjpe_noisy']:.1f} mm; MPJPE noisy {overall['mpjpe_noisy']:.1f} mm"
    )
    columns = ("PA clean", "PA noisy", "MPJPE noisy", "spread", "% cut")
    header = f"  {'bin':>16s} {'n':>5s} " + " ".join(f"{c:>11s}" for c in columns)
    nan = float("nan")
    for factor in FACTORS:
        print(f"{factor.label}")
        print(header)
        for row in table[factor.name]:
            span = f"{row['low']:g} .. {row['high']:g}"
            if factor.names:
                span = factor.names[factor.edges.index(row["low"])]
            keys = ("pa_mpjpe_clean", "pa_mpjpe_noisy", "mpjpe_noisy", "spread_noisy", "truncated_pct")
            print(f"  {span:>16s} {row['n_noisy']:5d} " + " ".join(f"{row.get(k, nan):11.1f}" for k in keys))


def plot(table: dict[str, list[dict]], path: str | Path) -> Path:
    """One panel per factor: PA-MPJPE clean and noisy, MPJPE noisy per bin; PNG at ``path``."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13, 7.5), layout="constrained")
    axes = figure.subplots(2, 4).ravel()
    for axis, factor in zip(axes, FACTORS, strict=False):
        rows = [r for r in table[factor.name] if "pa_mpjpe_noisy" in r]
        labels = [f"{r['low']:g}-{r['high']:g}" for r in rows]
        if factor.names:
            labels = [factor.names[factor.edges.index(r["low"])] for r in rows]
        positions = np.arange(len(rows))
        for key, style in (("pa_mpjpe_clean", "o-"), ("pa_mpjpe_noisy", "s-"), ("mpjpe_noisy", "^--")):
            axis.plot(positions, [r.get(key, np.nan) for r in rows], style, label=key.replace("_", " "))
        axis.set_xticks(positions, labels, rotation=30, fontsize=8)
        axis.set_title(factor.label, fontsize=9)
        axis.set_ylabel("mm")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    for spare in axes[len(FACTORS):]:
        spare.axis("off")
    figure.suptitle("Shipped lifter on held-out mocap through virtual cameras (default settings)")
    path = Path(path)
    figure.savefig(path, dpi=90)
    return path


def run(
    mocap_dir: str | Path | None = None,
    smoke: bool = False,
    as_json: bool = False,
    plot_path: str | Path | None = None,
) -> dict:
    """Measure, print the per-bin table (and JSON), optionally save the plot; returns the figures."""
    from pose3d_nb.lifting.choice import shipped_model

    mocap_dir = Path(mocap_dir) if mocap_dir else DEFAULT_MOCAP_DIR
    if not mocap_dir.is_dir():
        raise Pose3DFileNotFoundError(
            f"no mocap folder at {mocap_dir}: pass --mocap DIR (the arrays of ../shared/mocap/)"
        )
    torch.set_num_threads(1)
    count = SMOKE_COUNT if smoke else FULL_COUNT
    results = measure(shipped_model(), mocap_dir, count)
    table = bin_table(results)
    overall = {
        "pa_mpjpe_clean": round(float(results["clean"]["pa_mpjpe"].mean()), 1),
        "pa_mpjpe_noisy": round(float(results["noisy"]["pa_mpjpe"].mean()), 1),
        "mpjpe_noisy": round(float(results["noisy"]["mpjpe"].mean()), 1),
    }
    from pose3d_nb.settings import Settings

    lift = Settings().lift
    print(
        f"{count} held-out windows per condition{' (smoke)' if smoke else ''}; shipped lifter, window "
        f"{lift.window or 'full'}, lookahead {lift.lookahead}, flip {'on' if lift.flip else 'off'}"
    )
    print_table(table, overall)
    figures = {"samples": count, "overall": overall, "bins": table}
    if plot_path:
        figures["plot"] = str(plot(table, plot_path))
        print(f"plot: {figures['plot']}")
    if as_json:
        print(json.dumps(figures))
    return figures
