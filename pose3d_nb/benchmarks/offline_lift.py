"""``pose3d lift`` on held-out mocap: ``pose3d bench offline-lift [--smoke] [--json]``.

Held-out clips (never trained on) are filmed by random virtual cameras (pitch -20..60 degrees,
roll +-30, field of view 40..100, portrait or landscape), projected with the detector's noise
model, and lifted by the shipped lifter three ways: offline as framed (``pose3d lift
--no-zoom``), offline zoomed (``pose3d lift``, the default for the shipped checkpoint) and as the
engine runs it (streaming, zoom, flip). Printed: PA-MPJPE and root-relative MPJPE (14 scored
joints); ``eval_world.py``'s gravity error of the zoomed offline poses on the true path and up,
with and without the lean correction that ``pose3d lift --grounded`` applies (``world.lean``);
and ``pose3d lift --grounded`` end to end (``place_clip`` estimating the path, the up and the
floor; the true intrinsics), as it was (as framed, no lean) and as it is (zoomed, lean removed):
WA-MPJPE and gravity error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from pose3d_nb.benchmarks.world_synth import SCORED

PITCH_DEG, ROLL_DEG, FOV_DEG = (-20.0, 60.0), (-30.0, 30.0), (40.0, 100.0)
WAYS = ("offline_as_framed", "offline_zoomed_free_bones", "offline_zoomed", "engine")


def mpjpe_mm(predicted: np.ndarray, truth: np.ndarray) -> float:
    """(T, 17, 3) and (T, 17, 3) metres -> root-relative error, mm, over the scored joints."""
    error = (predicted - predicted[:, :1]) - (truth - truth[:, :1])
    return 1000 * float(np.linalg.norm(error, axis=-1)[:, SCORED].mean())


def run(mocap_dir: Path | None = None, clips: int = 60, seed: int = 11, as_json: bool = False) -> dict:
    """Lift ``clips`` held-out clips the four ways; print and return the mean errors."""
    import torch

    from pose3d_nb.benchmarks.accuracy import DEFAULT_MOCAP_DIR
    from pose3d_nb.benchmarks.world_synth import (
        body_gravity_deg,
        engine_lifting,
        lift_as_engine,
        make_case,
        rigid_error,
    )
    from pose3d_nb.lifting.align import pa_mpjpe
    from pose3d_nb.lifting.bones import hold_bone_lengths
    from pose3d_nb.lifting.choice import shipped_model
    from pose3d_nb.lifting.offline import lift_sequence
    from pose3d_nb.lifting.zoom import TARGET_HEIGHT
    from pose3d_nb.world import place_clip
    from pose3d_nb.world.frame import WorldFrame
    from pose3d_nb.world.lean import shipped_lean_bias, unlean

    torch.set_num_threads(1)
    pool, lifter, noise = engine_lifting(Path(mocap_dir) if mocap_dir else DEFAULT_MOCAP_DIR)
    model, lean = shipped_model(), shipped_lean_bias()
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    rows = []
    while len(rows) < clips:
        case = make_case(rng, pool[rng.integers(len(pool))], rng.uniform(*PITCH_DEG), rng.uniform(*ROLL_DEG),
                         rng.uniform(*FOV_DEG), noise)  # fmt: skip
        if case is None:
            continue
        size = (case.intrinsics.width, case.intrinsics.height)
        keypoints = case.keypoints.astype(np.float32)
        framed = lift_sequence(model, keypoints, size).joints.astype(np.float64)
        free = lift_sequence(model, keypoints, size, zoom_height=TARGET_HEIGHT).joints.astype(np.float64)
        zoomed = hold_bone_lengths(free)
        engine = lift_as_engine(lifter, case)
        on_path = zoomed - zoomed[:, :1] + case.truth[:, :1]  # the true path: only the lean differs
        room = WorldFrame(case.up, 0.0)
        rows.append([
            *(1000 * float(pa_mpjpe(p, case.truth, SCORED).mean()) for p in (framed, free, zoomed, engine)),
            *(mpjpe_mm(p, case.truth) for p in (framed, free, zoomed, engine)),
            body_gravity_deg(room.to_world(on_path), case.truth, case.up),
            body_gravity_deg(room.to_world(unlean(on_path, case.up, lean)), case.truth, case.up),
        ])
        for placed in (place_clip(framed, case.keypoints, case.intrinsics, case.scores),
                       place_clip(free, case.keypoints, case.intrinsics, case.scores, lean=lean),
                       place_clip(zoomed, case.keypoints, case.intrinsics, case.scores, lean=lean)):
            rows[-1] += [rigid_error(placed.joints_camera.astype(np.float64), case.truth, True)[0],
                         body_gravity_deg(placed.joints, case.truth, case.up)]
    mean = np.mean(rows, axis=0)
    result = {
        "clips": clips,
        "seed": seed,
        "pa_mpjpe_mm": dict(zip(WAYS, mean[0:4], strict=True)),
        "mpjpe_mm": dict(zip(WAYS, mean[4:8], strict=True)),
        "gravity_deg_offline_zoomed": {"as_lifted": mean[8], "lean_removed": mean[9]},
        "grounded": {"wa_mpjpe_mm_before": mean[10], "gravity_deg_before": mean[11],
                     "wa_mpjpe_mm_free_bones": mean[12], "gravity_deg_free_bones": mean[13],
                     "wa_mpjpe_mm_now": mean[14], "gravity_deg_now": mean[15]},
        "seconds": time.perf_counter() - started,
    }
    print(f"pose3d lift, shipped lifter, {clips} held-out mocap clips through random cameras (seed {seed}), "
          "detector noise, no flip offline")
    print(f"  {'':31} {'PA-MPJPE mm':>11} {'MPJPE mm':>9}")
    labels = ("offline, as framed (--no-zoom)", "offline, zoomed, --bones free", "offline, zoomed (default)",
              "engine (streaming, zoom, flip)")
    for name, label in zip(WAYS, labels, strict=True):
        print(f"  {label:31} {result['pa_mpjpe_mm'][name]:>11.1f} {result['mpjpe_mm'][name]:>9.1f}")
    gravity = result["gravity_deg_offline_zoomed"]
    print(f"  gravity error, zoomed offline poses on the true path and up: {gravity['as_lifted']:.2f} deg as "
          f"lifted, {gravity['lean_removed']:.2f} with the lean removed")
    grounded = result["grounded"]
    print(f"  pose3d lift --grounded, end to end (estimated path, up and floor; true intrinsics): WA-MPJPE "
          f"{grounded['wa_mpjpe_mm_before']:.1f} mm and gravity {grounded['gravity_deg_before']:.2f} deg as "
          f"framed without the lean table (before), {grounded['wa_mpjpe_mm_free_bones']:.1f} mm and "
          f"{grounded['gravity_deg_free_bones']:.2f} deg zoomed with it (--bones free), "
          f"{grounded['wa_mpjpe_mm_now']:.1f} mm and {grounded['gravity_deg_now']:.2f} deg "
          "with the bones held (now)")
    if as_json:
        print(json.dumps({k: ({kk: round(float(vv), 2) for kk, vv in v.items()} if isinstance(v, dict) else
                              round(float(v), 2) if isinstance(v, float) else v) for k, v in result.items()}))
    return result
