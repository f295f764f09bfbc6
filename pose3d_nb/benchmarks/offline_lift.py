"""``pose3d lift`` on held-out mocap: ``pose3d bench offline-lift [--smoke] [--json]``.

Held-out clips (never trained on) are filmed by random virtual cameras (pitch -20..60 degrees,
roll +-30, field of view 40..100, portrait or landscape), projected with the detector's noise
model, and lifted by the shipped lifter three ways: offline as framed (``pose3d lift
--no-zoom``), offline zoomed (``pose3d lift``, the default for the shipped checkpoint) and as the
engine runs it (streaming, zoom, flip). Offline with ``pose3d lift``'s flip, the package default
(``settings.DEFAULTS.flip``: on, as the engine). Printed: PA-MPJPE and root-relative MPJPE (14 scored
joints); ``eval_world.py``'s gravity error of the zoomed offline poses on the true path and up,
with and without the lean correction that ``pose3d lift --grounded`` applies (``world.lean``);
and ``pose3d lift --grounded`` end to end (``place_clip`` estimating the path, the up and the
floor; the true intrinsics), as it was (as framed, no lean) and as it is (zoomed, lean removed):
WA-MPJPE and gravity error. Last, what the engine records of a video file: its rows placed live
(``WorldTracker``), then placed again from the whole clip (``world.recorded.replace_recording``)
with the bones as lifted and held (what it does with the shipped lifter), and the same for a
camera, whose recording keeps only the frames the engine did not drop (``CAMERA_KEEPS`` of
them, at random): WA-MPJPE, root error, gravity error and PA-MPJPE. And what ``pose3d_nb.motion``
reads from the video file's recording against what it reads from the true motion (walking speed,
distance travelled, jumps: ``motion_counts``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_nb.benchmarks.world_synth import SCORED, SynthCase
from pose3d_nb.world.lean import LeanBias

PITCH_DEG, ROLL_DEG, FOV_DEG = (-20.0, 60.0), (-30.0, 30.0), (40.0, 100.0)
WAYS = ("offline_as_framed", "offline_zoomed_free_bones", "offline_zoomed", "engine")
RECORDING_WAYS = ("live", "whole_clip_free_bones", "whole_clip", "camera_live", "camera_whole_clip")
#: Share of frames a live source's recording keeps in the camera rows (the engine drops the rest).
CAMERA_KEEPS = 0.6


def mpjpe_mm(predicted: np.ndarray, truth: np.ndarray) -> float:
    """(T, 17, 3) and (T, 17, 3) metres -> root-relative error, mm, over the scored joints."""
    error = (predicted - predicted[:, :1]) - (truth - truth[:, :1])
    return 1000 * float(np.linalg.norm(error, axis=-1)[:, SCORED].mean())


def engine_recording(joints: np.ndarray, case: SynthCase, lean: LeanBias | None, hold_bones: bool,
                     timestamps: np.ndarray | None = None
                     ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """What the engine records of a source whose frames it lifted to ``joints`` (T, 17, 3):
    each frame placed live by a ``WorldTracker`` (the true lens, the lifter's ``lean``; the frames
    placed while the camera settled placed again in its room, as the engine does), then the
    rows placed again from the whole clip (``replace_recording``, one followed person).
    timestamps: (T,) seconds of the rows (default: every frame at 30 fps; a live source's rows
    skip the frames it dropped). Returns (camera-frame rows, world rows) live and as recorded,
    each (T, 17, 3) metres."""
    from pose3d_nb.buffer import COLUMNS, BufferSnapshot, empty_column
    from pose3d_nb.world import WorldTracker
    from pose3d_nb.world.recorded import replace_recording

    tracker = WorldTracker(camera=case.intrinsics, lean=lean)
    size = (case.intrinsics.width, case.intrinsics.height)
    placed = []
    for index, (pose, points, scores) in enumerate(zip(joints, case.keypoints, case.scores, strict=True)):
        placed.append(tracker.push(pose, points, scores, size, key=index))
        for earlier, world, camera in tracker.take_resettled():  # as the engine's buffer holds them
            placed[earlier] = (world, camera)
    frames = len(joints)
    columns = {name: empty_column(name, frames) for name in COLUMNS}
    columns.update(joints_3d=np.stack([w for w, _ in placed]), joints_camera=np.stack([c for _, c in placed]),
                   keypoints_2d=case.keypoints.astype(np.float32), scores_2d=case.scores.astype(np.float32),
                   timestamps=np.arange(frames) / 30.0 if timestamps is None else timestamps,
                   frame_index=np.arange(frames),
                   valid=np.ones(frames, bool), track_id=np.zeros(frames, np.int64))
    live = (columns["joints_camera"].astype(np.float64), columns["joints_3d"].astype(np.float64))
    estimate = tracker.estimate
    replaced = replace_recording(BufferSnapshot(**columns), estimate.frame, estimate.intrinsics,
                                 fps=tracker.fps, hold_bones=hold_bones)
    if replaced is None:  # the engine then keeps the live rows too
        return live, live
    recorded = replaced.snapshot
    return live, (recorded.joints_camera.astype(np.float64), recorded.joints_3d.astype(np.float64))


def motion_counts(recorded: np.ndarray, truth: np.ndarray, fps: float = 30.0) -> list[float]:
    """``pose3d_nb.motion`` on a recording's world rows against the same on the true motion, one
    clip: ``recorded`` and ``truth`` (T, 17, 3) world metres, z up. Returns [median |walking
    speed error| m/s, |distance travelled error| m, recorded jumps that match a true one, recorded
    jumps that match none, clear true jumps (feet >= 0.10 m up for >= 0.1 s), clear ones found];
    a recorded jump matches a true one when their times overlap (within 0.1 s)."""
    from pose3d_nb import motion

    times = np.arange(len(truth)) / fps
    speed = np.abs(motion.walking_speed(recorded, times) - motion.walking_speed(truth, times))
    travelled = [motion.distance_travelled(joints, times)[-1] for joints in (recorded, truth)]
    distance = abs(travelled[0] - travelled[1])
    # A true jump: both feet off the floor, whatever the pelvis does.
    true_jumps = motion.find_jumps(truth, times, min_pelvis_rise_m=None)
    found_jumps = motion.find_jumps(recorded, times)

    def overlap(a: Any, b: Any) -> bool:
        return a.start_s <= b.end_s + 0.1 and b.start_s <= a.end_s + 0.1

    matched = sum(any(overlap(j, t) for t in true_jumps) for j in found_jumps)
    clear = [t for t in true_jumps if t.feet_rise_m >= 0.10 and t.airtime_s >= 0.1]
    return [float(np.nanmedian(speed)), float(distance), matched, len(found_jumps) - matched, len(clear),
            sum(any(overlap(j, t) for j in found_jumps) for t in clear)]


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
    from pose3d_nb.settings import DEFAULTS
    from pose3d_nb.world import place_clip
    from pose3d_nb.world.frame import WorldFrame
    from pose3d_nb.world.lean import shipped_lean_bias, unlean

    torch.set_num_threads(1)
    pool, lifter, noise = engine_lifting(Path(mocap_dir) if mocap_dir else DEFAULT_MOCAP_DIR)
    model, lean = shipped_model(), shipped_lean_bias()
    rng = np.random.default_rng(seed)
    drops = np.random.default_rng(seed + 1)  # its own stream: the clips and cameras stay the seed's
    started = time.perf_counter()
    rows, motions = [], []
    while len(rows) < clips:
        case = make_case(rng, pool[rng.integers(len(pool))], rng.uniform(*PITCH_DEG), rng.uniform(*ROLL_DEG),
                         rng.uniform(*FOV_DEG), noise)  # fmt: skip
        if case is None:
            continue
        size = (case.intrinsics.width, case.intrinsics.height)
        keypoints = case.keypoints.astype(np.float32)
        # pose3d lift's own flip (the package default), not lift_sequence's (off); zoomed, each
        # frame's rays turned to the person with the default lens (no --fov given), as the engine.
        framed = lift_sequence(model, keypoints, size, flip=DEFAULTS.flip).joints.astype(np.float64)
        free = lift_sequence(model, keypoints, size, flip=DEFAULTS.flip, zoom_height=TARGET_HEIGHT,
                             lens={}).joints.astype(np.float64)
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
        live, free = engine_recording(engine, case, lean, hold_bones=False)
        _, held = engine_recording(engine, case, lean, hold_bones=True)
        motions.append(motion_counts(held[1], WorldFrame(case.up, 0.0).to_world(case.truth)))
        # A camera: the engine lifts and records only the frames it kept (the newest each time).
        kept = np.sort(drops.choice(len(case.truth), int(len(case.truth) * CAMERA_KEEPS), replace=False))
        seen = dataclasses.replace(case, keypoints=case.keypoints[kept], scores=case.scores[kept],
                                   truth=case.truth[kept])
        camera_live, camera_held = engine_recording(lift_as_engine(lifter, seen), seen, lean, hold_bones=True,
                                                    timestamps=kept / 30.0)
        for (camera, world), truth in ((live, case.truth), (free, case.truth), (held, case.truth),
                                       (camera_live, seen.truth), (camera_held, seen.truth)):
            wa, root = rigid_error(camera, truth, True)[0], rigid_error(camera, truth, False)[1]
            rows[-1] += [wa, root, body_gravity_deg(world, truth, case.up),
                         1000 * float(pa_mpjpe(camera, truth, SCORED).mean())]
    mean = np.mean(rows, axis=0)
    result = {
        "clips": clips,
        "seed": seed,
        "flip_offline": DEFAULTS.flip,
        "pa_mpjpe_mm": dict(zip(WAYS, mean[0:4], strict=True)),
        "mpjpe_mm": dict(zip(WAYS, mean[4:8], strict=True)),
        "gravity_deg_offline_zoomed": {"as_lifted": mean[8], "lean_removed": mean[9]},
        "grounded": {"wa_mpjpe_mm_before": mean[10], "gravity_deg_before": mean[11],
                     "wa_mpjpe_mm_free_bones": mean[12], "gravity_deg_free_bones": mean[13],
                     "wa_mpjpe_mm_now": mean[14], "gravity_deg_now": mean[15]},
        "recording": {way: dict(zip(("wa_mpjpe_mm", "root_mm", "gravity_deg", "pa_mpjpe_mm"),
                                    mean[16 + 4 * i:20 + 4 * i], strict=True))
                      for i, way in enumerate(RECORDING_WAYS)},
        "motion": _motion_summary(np.array(motions)),
        "seconds": time.perf_counter() - started,
    }
    print(f"pose3d lift, shipped lifter, {clips} held-out mocap clips through random cameras (seed {seed}), "
          f"detector noise, {'flip' if DEFAULTS.flip else 'no flip'} offline (pose3d lift's default)")
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
    print("  the engine's recording of a video file (true lens): WA-MPJPE / root / gravity / PA-MPJPE")
    labels = ("placed live", "whole clip, bones as lifted", "whole clip, bones held (now)",
              f"a camera ({CAMERA_KEEPS:.0%} kept), live", "a camera, whole clip (now)")
    for name, label in zip(RECORDING_WAYS, labels, strict=True):
        row = result["recording"][name]
        print(f"    {label:31} {row['wa_mpjpe_mm']:6.1f} mm {row['root_mm']:6.1f} mm "
              f"{row['gravity_deg']:5.2f} deg {row['pa_mpjpe_mm']:5.1f} mm")
    moved = result["motion"]
    print(f"  pose3d_nb.motion on the recording (whole clip, bones held) against the true motion: walking "
          f"speed off by {moved['walking_speed_error_m_s']:.3f} m/s and the {len(case.truth) / 30:.0f} s "
          f"distance by {moved['distance_error_m']:.2f} m (medians over clips); jumps found "
          f"{moved['jumps_found']} of which {moved['jump_precision']:.0%} true, clear jumps (feet 0.10 m up "
          f"for 0.1 s) found {moved['clear_jump_recall']:.0%} of {moved['clear_jumps']}")
    if as_json:
        print(json.dumps(_rounded(result)))
    return result


def _motion_summary(counts: np.ndarray) -> dict:
    """``motion_counts`` rows (clips, 6) -> medians and jump precision and recall."""
    matched, false, clear, found = counts[:, 2:].sum(0)
    return {
        "walking_speed_error_m_s": float(np.median(counts[:, 0])),
        "distance_error_m": float(np.median(counts[:, 1])),
        "jumps_found": int(matched + false),
        "jump_precision": float(matched / max(matched + false, 1)),
        "clear_jumps": int(clear),
        "clear_jump_recall": float(found / max(clear, 1)),
    }


def _rounded(value: Any) -> Any:
    """Floats (also in nested dicts) to two decimals, for the JSON line."""
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return round(float(value), 2) if isinstance(value, float) else value
