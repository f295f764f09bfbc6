"""Left/right label stability: ``pose3d bench left-right``.

Held-out mocap (never trained on) seen by random cameras gives COCO keypoints whose labels are
known. BlazePose-like label faults are put in (as seen in its raw output on real video: whole
left/right flips lasting 5-39 frames, optionally with frames back at the right labels inside
them; one limb group flipped for one frame; outlier frames), and the share of frames whose
labels come out right is counted, with ``LeftRightStabilizer`` and without (labels as given).
Frames seen nearly side-on (left and right within a tenth of the body's height of each other),
outlier frames and one-limb flips are not scored: either labelling fits the first two, and the
whole-body score (the torso's joints) does not say whether one limb's labels are right.

What the labels cost in 3D (``lifted_by_view``): held-out clips through the viewpoint protocol's
cameras (``training.viewpoints``: any view from frontal through profile to the back, pitch,
roll, distance, field of view), the same faults, lifted by the shipped lifter as the engine runs
it, and PA-MPJPE per view with the labels as given, as the stabilizer leaves them, and right.
In profile, flips cost the most and are the hardest to see: left and right limbs cross in the
image with every step, and a flip that starts while they do looks like no jump at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pose3d_nb.detectors.left_right import LeftRightStabilizer
from pose3d_nb.skeleton import COCO

COCO_JOINTS = [0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]  # nose, shoulders ... ankles
H36M_JOINTS = [9, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3]  # the same points in Human3.6M order
ARMS, LEGS = [5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]
TORSO = [5, 6, 11, 12]
FLIP_START, LIMB_FLIP, OUTLIER = 0.02, 0.02, 0.02  # chance per frame of each fault starting


def label_faults(rng: np.random.Generator, frames: int, returns: float) -> np.ndarray:
    """(frames,) 0 clean, 1 whole flip (5-39 frames), 2 arms flipped, 3 legs flipped, 4 outlier
    frame. ``returns``: chance of each frame inside a flip (but its ends) showing the right
    labels."""
    faults = np.zeros(frames, int)
    t = 0
    while t < frames:
        r = rng.random()
        if r < FLIP_START:
            length = int(rng.integers(5, 40))
            faults[t:t + length] = 1
            inside = np.arange(t + 2, min(t + length, frames) - 2)
            faults[inside[rng.random(len(inside)) < returns]] = 0
            t += length
        elif r < FLIP_START + LIMB_FLIP:
            faults[t] = rng.choice([2, 3])
            t += 1
        elif r < FLIP_START + LIMB_FLIP + OUTLIER:
            faults[t] = 4
            t += 1
        else:
            t += 1
    return faults


def with_faults(
    rng: np.random.Generator, truth: np.ndarray, height: float, returns: float
) -> tuple[np.ndarray, np.ndarray]:
    """(T, 17, 2) pixels with the right labels -> (the same with ``label_faults`` put in, the
    (T,) faults). ``height``: the person's height in pixels (outliers scale with it);
    ``returns`` as in ``label_faults``."""
    frames = len(truth)
    mirror = COCO.mirror_permutation()
    faults = label_faults(rng, frames, returns)
    given = truth.copy()
    given[faults == 1] = truth[faults == 1][:, mirror]
    for fault, group in ((2, ARMS), (3, LEGS)):
        given[np.ix_(faults == fault, group)] = truth[faults == fault][:, mirror][:, group]
    given[faults == 4] += rng.normal(0, 0.12 * height, (int((faults == 4).sum()), 17, 2))
    return given, faults


def one_clip(rng: np.random.Generator, clip, returns: float) -> dict[str, tuple[int, int]] | None:
    """(right, scored) frame counts per method on one clip with faults; None if too short."""
    from pose3d_nb.training.synth import SynthConfig, sample_sequence, virtual_camera

    joints = sample_sequence(rng, clip, 120, 30.0)
    if joints is None:
        return None
    _, screen, _ = virtual_camera(rng, joints, SynthConfig())
    frames = len(screen)
    truth = np.zeros((frames, 17, 2))
    truth[:, COCO_JOINTS] = screen[:, H36M_JOINTS] * 500  # pixels of a 1000-pixel-wide image
    scores = np.zeros((frames, 17))
    scores[:, COCO_JOINTS] = 1.0
    height = np.ptp(truth[frames // 2, COCO_JOINTS, 1])
    truth += rng.normal(0, 0.01 * height, truth.shape)
    mirror = COCO.mirror_permutation()
    given, faults = with_faults(rng, truth, height, returns)
    apart = np.linalg.norm(truth[:, COCO_JOINTS] - truth[:, mirror][:, COCO_JOINTS], axis=2).mean(1)
    scored = (apart > 0.1 * height) & np.isin(faults, (0, 1))
    out = {}
    for name, stabilizer in (("as given", None), ("LeftRightStabilizer", LeftRightStabilizer(mirror))):
        right = 0
        for t in range(frames):
            swap = stabilizer.update(given[t], scores[t], track_id=1) if stabilizer else False
            labelled = given[t][mirror] if swap else given[t]
            near = np.linalg.norm(labelled[TORSO] - truth[t, TORSO], axis=1).mean()
            far = np.linalg.norm(labelled[TORSO] - truth[t][mirror][TORSO], axis=1).mean()
            right += bool(scored[t] and near < far)
        out[name] = (right, int(scored.sum()))
    return out


VIEW_BINS = ((0, 30), (30, 60), (60, 120), (120, 150), (150, 180))  # degrees; 90 is profile
LABELS_3D = ("as given", "LeftRightStabilizer", "right labels")


def lifted_clip(rng: np.random.Generator, clip, lifter, frames: int = 90, fps: float = 30.0) -> dict | None:
    """One held-out clip through a viewpoint-protocol camera, with label faults, lifted three
    ways (``LABELS_3D``): {"view_deg": ..., label: mean PA-MPJPE in mm}; None if too short."""
    from pose3d_nb.benchmarks.world_synth import SCORED, SynthCase, lift_as_engine
    from pose3d_nb.lifting.align import pa_mpjpe
    from pose3d_nb.training.synth import SynthConfig, reshape_body, sample_sequence
    from pose3d_nb.training.viewpoints import ViewpointRanges, view_camera
    from pose3d_nb.world.intrinsics import from_fov

    joints = sample_sequence(rng, clip, frames, fps)
    if joints is None:
        return None
    ranges = ViewpointRanges()
    joints = reshape_body(rng, joints, SynthConfig())
    view, pitch, roll, distance, fov = (rng.uniform(*getattr(ranges, name)) for name in
                                        ("view_deg", "pitch_deg", "roll_deg", "distance_m", "fov_deg"))
    portrait = bool(rng.random() < ranges.portrait_probability)
    camera, screen, _, _ = view_camera(joints, view, pitch, roll, distance, fov, portrait)
    width, height = (1080, 1920) if portrait else (1920, 1080)
    truth = np.full((frames, 17, 2), np.nan)
    truth[:, COCO_JOINTS] = screen[:, H36M_JOINTS] * (width / 2) + np.array([width / 2, height / 2])
    person = float(np.ptp(truth[frames // 2, COCO_JOINTS, 1]))
    truth[:, COCO_JOINTS] += rng.normal(0, 0.005 * person, (frames, len(COCO_JOINTS), 2))
    truth[:, 1:5] = truth[:, :1]  # eyes and ears at the nose: the lifter does not read them
    given, _ = with_faults(rng, truth, person, returns=0.0)
    scores = np.full((frames, 17), 0.9)
    mirror = COCO.mirror_permutation()
    stabilizer = LeftRightStabilizer(mirror)
    fixed = np.stack([k[mirror] if stabilizer.update(k, s, track_id=1, timestamp=t / fps) else k
                      for t, (k, s) in enumerate(zip(given, scores, strict=True))])
    target = camera.astype(np.float64)
    target -= target[:, :1]
    intrinsics = from_fov(fov, width, height)
    row = {"view_deg": view}
    for name, keypoints in zip(LABELS_3D, (given, fixed, truth), strict=True):
        case = SynthCase(target, keypoints, scores, intrinsics, np.zeros(3), pitch, roll, fov)
        row[name] = 1000 * float(pa_mpjpe(lift_as_engine(lifter, case, fps), target, np.array(SCORED)).mean())
    return row


def lifted_by_view(held_out: list, clips: int, seed: int = 4) -> dict[str, dict[str, float]]:
    """PA-MPJPE (mm) per view bin and over all, per labelling (``LABELS_3D``), on ``clips``
    held-out clips; the shipped lifter unfused, as the engine runs it, on one torch thread."""
    import torch

    from pose3d_nb.lifting.choice import choose_lifter

    torch.set_num_threads(1)
    lifter = choose_lifter("shipped", world_landmark_weight=0.0)
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    while len(rows) < clips:
        row = lifted_clip(rng, held_out[rng.integers(len(held_out))], lifter)
        if row is not None:
            rows.append(row)
    out = {}
    for low, high in (*VIEW_BINS, (0, 180)):
        chosen = [row for row in rows if low <= row["view_deg"] <= high]
        if chosen:
            out[f"view {low}-{high}"] = {"clips": len(chosen),
                                         **{name: round(float(np.mean([r[name] for r in chosen])), 1)
                                            for name in LABELS_3D}}
    return out


def run(mocap_dir=None, clips: int = 300, seed: int = 4, as_json: bool = False) -> dict:
    """Share of frames with the right labels, per method, flips without and with returns; then
    what the labels cost in 3D per view (``lifted_by_view``)."""
    from pose3d_nb.benchmarks.accuracy import DEFAULT_MOCAP_DIR
    from pose3d_nb.training.mocap import load_mocap

    held_out = [c for c in load_mocap(Path(mocap_dir) if mocap_dir else DEFAULT_MOCAP_DIR) if c.held_out]
    results: dict = {}
    for returns in (0.0, 0.1):
        rng = np.random.default_rng(seed)
        totals: dict[str, np.ndarray] = {}
        done = 0
        while done < clips:
            counts = one_clip(rng, held_out[rng.integers(len(held_out))], returns)
            if counts is None:
                continue
            done += 1
            for name, pair in counts.items():
                totals[name] = totals.get(name, np.zeros(2)) + pair
        row = {name: round(100 * right / max(scored, 1), 1) for name, (right, scored) in totals.items()}
        results[f"returns {returns:g}"] = row
        print(f"flips with returns {returns:g}, {clips} held-out clips: "
              + ", ".join(f"{name} {pct}% of frames right" for name, pct in row.items()), flush=True)
    results["3d"] = lifted_by_view(held_out, clips, seed)
    print("PA-MPJPE (mm), shipped lifter, by view (0 frontal, 90 profile, 180 back), flips without returns:")
    for name, row in results["3d"].items():
        print(f"  {name:12s} ({row['clips']:3d} clips): "
              + ", ".join(f"{label} {row[label]:.1f}" for label in LABELS_3D), flush=True)
    if as_json:
        print(json.dumps(results))
    return results
