"""World-grounded 3D: ``pose3d bench world``.

- **Real video, three views** (``../shared/benchmarks/views_3d/``): each view through the default
  pipeline (MediaPipe with the subject follower, the shipped lifter fused with MediaPipe's 3D,
  window 0, lookahead 0), placed in the world live (``WorldTracker``) and offline
  (``place_clip``), with the default field of view and with the true intrinsics of
  ``cameras.json``; each prediction is saved and scored by that folder's ``eval_world.py``
  (WA-MPJPE, W-MPJPE, root, gravity) and ``eval.py`` (PA-MPJPE). The live tracker's own cost
  per frame is timed.
- **Synthetic sweep** on held-out mocap (``benchmarks.world_synth``): cameras at known pitch,
  roll and field of view, one factor at a time; mean gravity error, root error and WA-MPJPE of
  the offline placement per value, and a plot.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from pose3d_nb.benchmarks.accuracy import DEFAULT_MOCAP_DIR, DEFAULT_VIEWS_DIR, VIEWS
from pose3d_nb.benchmarks.scorers import run_scorer
from pose3d_nb.errors import Pose3DFileNotFoundError
from pose3d_nb.world import Intrinsics, WorldTracker, place_clip, resolve_intrinsics
from pose3d_nb.world.stage import SCENE_EVERY_S, SCENE_TRIES
from pose3d_nb.world.tracker import SETTLE_S
from pose3d_nb.world.vanishing import SceneEdges, scene_edges

#: The sweep: each factor varied alone around a typical camera (20 degrees down, level, 60 degrees).
BASE = {"pitch": 20.0, "roll": 0.0, "fov": 60.0}
FACTORS = {
    "pitch": (-20.0, 0.0, 20.0, 40.0, 60.0),
    "roll": (-30.0, -15.0, 0.0, 15.0, 30.0),
    "fov": (40.0, 55.0, 70.0, 85.0, 100.0),
}
DEFAULT_PLOT = Path(__file__).resolve().parents[2] / "docs" / "world_sweep.png"


def view_poses(views_dir: Path) -> dict[str, dict]:
    """Per view: the default pipeline's camera-frame poses, keypoints, scores, frame size, fps,
    the frames the live stage would search for the room's edges and the lifter's lean habit.
    ``joints`` are lifted with the default lens, ``joints_true_lens`` with ``cameras.json``'s
    (the lens also turns each frame's rays to the person before lifting, ``lifting.rays``)."""
    import cv2

    from pose3d_nb.benchmarks.accuracy import LifterSetting, detect_views, make_lifter, view_videos
    from pose3d_nb.detectors.follow import with_follow
    from pose3d_nb.lifting.fusion import MEDIAPIPE_WEIGHT
    from pose3d_nb.settings import DEFAULTS

    detections = detect_views(views_dir, with_follow(DEFAULTS.detector, DEFAULTS.follow)[0])  # its follow
    # option is "largest", the people detector's own default
    out = {}
    for view, video in view_videos(views_dir).items():
        # The default pipeline's lifter settings (window, lookahead, flip) and fusion weight.
        lifted = {}
        for lens in (None, true_intrinsics(views_dir, view)):
            lifter = make_lifter(
                LifterSetting("shipped", DEFAULTS.window, DEFAULTS.lookahead, DEFAULTS.flip, MEDIAPIPE_WEIGHT)
            )
            lifter.set_lens(camera=lens)
            poses = []
            for detection in detections[view]:
                poses += lifter.push(detection)
            poses += lifter.flush()
            lifted[lens is None] = poses
        poses = lifted[True]
        capture = cv2.VideoCapture(str(video))
        fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
        # The frames the live stage would search for the room's edges (its first, then one
        # every SCENE_EVERY_S), each with the person's box: (frame index, RGB image, box).
        step = max(1, round(SCENE_EVERY_S * fps))
        offered = set(range(0, SCENE_TRIES * step, step))
        scene_frames, index = [], 0
        while index <= max(offered):
            ok, image = capture.read()
            if not ok:
                break
            if index in offered:
                scene_frames.append((index, image[..., ::-1].copy(), detections[view][index].bbox[None]))
            index += 1
        capture.release()
        out[view] = {
            "joints": np.stack([p.joints_camera for p in poses]),
            "joints_true_lens": np.stack([p.joints_camera for p in lifted[False]]),
            "valid": np.array([p.valid for p in poses]),
            "keypoints": np.stack([p.detection.keypoints for p in poses]),
            "scores": np.stack([p.detection.scores for p in poses]),
            "frame_size": tuple(poses[0].detection.frame_size),
            "fps": float(fps),
            "scene_frames": scene_frames,
            "lean": getattr(lifter, "lean_bias", None),  # the stage turns it back out, as here
        }
    return out


def true_intrinsics(views_dir: Path, view: str) -> Intrinsics:
    """``cameras.json``'s calibration of ``view`` (for the 'true intrinsics' rows only)."""
    camera = json.loads((views_dir / "cameras.json").read_text())[view]
    return Intrinsics(
        camera["fx"],
        camera["fy"],
        camera["cx"],
        camera["cy"],
        camera["width"],
        camera["height"],
        tuple(camera["distortion_k1_k2_p1_p2"]),
        "file",
    )


def place_live(data: dict, intrinsics: Intrinsics) -> tuple[np.ndarray, list[float], dict]:
    """Every frame through a ``WorldTracker``, offered the view's scene frames as ``WorldStage``
    does: (T, 17, 3) world joints (the frames placed while the camera settled placed again in
    its room, as the engine's buffer holds them), per-frame seconds of ``push``, metadata (with
    ``scene_ms``: each edge search's milliseconds)."""
    tracker = WorldTracker(camera=intrinsics, fps=data["fps"], lean=data["lean"])
    scenes = {index: (image, boxes) for index, image, boxes in data["scene_frames"]}
    joints, times, scene_times = [], [], []
    for index, (pose, keypoints, scores, valid) in enumerate(zip(
        data["joints"], data["keypoints"], data["scores"], data["valid"], strict=True
    )):
        if index in scenes and tracker.up_source != "scene":  # as WorldStage.observe, while settling
            started = time.perf_counter()
            tracker.offer_scene(*scenes[index])
            scene_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        world, _ = tracker.push(pose, keypoints, scores, data["frame_size"], bool(valid), key=index)
        times.append(time.perf_counter() - started)
        joints.append(world)
        for earlier, again, _ in tracker.take_resettled():  # as the engine's buffer holds them
            joints[earlier] = again
    meta = {**tracker.estimate.metadata(), "scene_ms": [round(1000 * t, 1) for t in scene_times]}
    return np.stack(joints), times, meta


def pooled_scene(data: dict, intrinsics: Intrinsics) -> SceneEdges | None:
    """The edges of the view's offered frames, pooled (what the live stage may gather)."""
    pooled = None
    for _, image, boxes in data["scene_frames"]:
        found = scene_edges(image, intrinsics, boxes)
        if found is not None:
            pooled = found if pooled is None else pooled.merged(found)
    return pooled


def score(views_dir: Path, view: str, joints: np.ndarray) -> dict[str, float]:
    """Save ``joints`` and score them with the folder's own ``eval_world.py`` and ``eval.py``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pred.npy"
        np.save(path, joints.astype(np.float32))
        figures = {}
        for script, extra in (
            ("eval_world.py", ["--view", view]),
            ("eval.py", ["--gt", str(views_dir / f"gt_{view}_h36m17.npy")]),
        ):
            figures.update(run_scorer(views_dir / script, [str(path), *extra]))
    figures.pop("frames", None)
    return figures


def run_views(views_dir: Path) -> list[dict]:
    """One row per view, placement (live, offline) and intrinsics (assumed, true)."""
    rows = []
    for view, data in view_poses(views_dir).items():
        assumed = resolve_intrinsics(*data["frame_size"])
        for intrinsics_name, intrinsics, joints_key in (
            ("default fov", assumed, "joints"),
            ("true K", true_intrinsics(views_dir, view), "joints_true_lens"),
        ):
            lens_data = {**data, "joints": data[joints_key]}  # lifted with this lens
            live, times, meta = place_live(lens_data, intrinsics)
            placed = place_clip(
                lens_data["joints"], data["keypoints"], intrinsics, data["scores"], data["valid"],
                fps=data["fps"], scene=pooled_scene(data, intrinsics), lean=data["lean"],
            )
            for mode, joints in (("live", live), ("offline", placed.joints)):
                row = {
                    "view": view,
                    "intrinsics": intrinsics_name,
                    "mode": mode,
                    **score(views_dir, view, joints),
                }
                frame = placed.frame if mode == "offline" else None
                row["pitch_deg"] = round(frame.pitch_deg if frame else meta["camera_pitch_deg"], 1)
                row["roll_deg"] = round(frame.roll_deg if frame else meta["camera_roll_deg"], 1)
                row["height_m"] = round(float(frame.height) if frame else meta["camera_height_m"], 2)
                row["up_source"] = placed.up_source if mode == "offline" else meta["camera_up_source"]
                if mode == "live":
                    row["live_ms_median"] = round(1000 * float(np.median(times[5:])), 3)
                    row["live_ms_p95"] = round(1000 * float(np.percentile(times[5:], 95)), 3)
                    row["scene_ms"] = meta["scene_ms"]  # each frame searched for the room's edges
                rows.append(row)
                print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return rows


def run_sweep(mocap_dir: Path, cases: int, plot: Path | None, seed: int = 2026) -> dict:
    """Each factor of ``FACTORS`` alone: mean errors over ``cases`` held-out clips per value.

    The clips are lifted as the engine runs the shipped lifter (streaming, its 2D zoom, not
    fused: MediaPipe's 3D cannot be simulated) and placed offline with its lean table;
    ``gravity_deg_as_lifted`` is the gravity error without the table."""
    from pose3d_nb.benchmarks.world_synth import (
        angle_deg,
        body_gravity_deg,
        engine_lifting,
        lift_as_engine,
        make_case,
        rigid_error,
    )

    clips, lifter, noise = engine_lifting(mocap_dir)
    results: dict = {}
    for factor, values in FACTORS.items():
        results[factor] = []
        for value in values:
            rng = np.random.default_rng(seed)  # the same clips and noise for every value
            camera = {**BASE, factor: value}
            errors = []
            while len(errors) < cases:
                case = make_case(
                    rng,
                    clips[rng.integers(len(clips))],
                    camera["pitch"],
                    camera["roll"],
                    camera["fov"],
                    noise,
                )
                if case is None:
                    continue
                default_lens = resolve_intrinsics(case.intrinsics.width, case.intrinsics.height)
                lifted = lift_as_engine(lifter, case)
                lean = lifter.lean_bias
                placed = place_clip(lifted, case.keypoints, case.intrinsics, case.scores, lean=lean)
                as_lifted = place_clip(lifted, case.keypoints, case.intrinsics, case.scores)
                default = place_clip(lifted, case.keypoints, default_lens, case.scores, lean=lean)
                wa, _ = rigid_error(placed.joints_camera.astype(float), case.truth, True)
                _, root = rigid_error(placed.joints_camera.astype(float), case.truth, False)
                wa_default, _ = rigid_error(default.joints_camera.astype(float), case.truth, True)
                errors.append(
                    [
                        angle_deg(placed.frame.up, case.up),
                        body_gravity_deg(placed.joints, case.truth, case.up),
                        body_gravity_deg(as_lifted.joints, case.truth, case.up),
                        root,
                        wa,
                        angle_deg(default.frame.up, case.up),
                        wa_default,
                    ]
                )
            mean = np.mean(errors, axis=0)
            names = ("up_error_deg", "gravity_deg", "gravity_deg_as_lifted", "root_mm", "wa_mpjpe_mm",
                     "up_error_deg_default_fov", "wa_mpjpe_mm_default_fov")  # fmt: skip
            row = {factor: value, **{name: round(float(m), 1) for name, m in zip(names, mean, strict=True)}}
            results[factor].append(row)
            print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    if plot is not None:
        plot_sweep(results, plot)
    return results


def live_cost(mocap_dir: Path, runs: int, seed: int = 2026) -> dict:
    """``WorldTracker.push`` per frame on one held-out clip (150 frames, camera 20 degrees down)
    lifted as the engine runs the shipped lifter: the median over the settled frames and over
    the first second's (settling) frames of each run, then the median over ``runs``, with the
    lifter's lean table and without, alternating in one process."""
    from pose3d_nb.benchmarks.world_synth import engine_lifting, lift_as_engine, make_case

    clips, lifter, noise = engine_lifting(mocap_dir)
    rng, case = np.random.default_rng(seed), None
    while case is None:
        clip = clips[rng.integers(len(clips))]
        case = make_case(rng, clip, BASE["pitch"], BASE["roll"], BASE["fov"], noise)
    lifted, size, fps = lift_as_engine(lifter, case), (case.intrinsics.width, case.intrinsics.height), 30.0
    settle = int(SETTLE_S * fps)  # the frames over which the camera settles
    medians: dict[str, list] = {"with_lean": [], "as_lifted": []}
    for _ in range(runs):
        for name, lean in (("with_lean", lifter.lean_bias), ("as_lifted", None)):
            tracker, times = WorldTracker(camera=case.intrinsics, fps=fps, lean=lean), []
            for pose, points, scores in zip(lifted, case.keypoints, case.scores, strict=True):
                started = time.perf_counter()
                tracker.push(pose, points, scores, size)
                times.append(time.perf_counter() - started)
            medians[name].append((np.median(times[settle + 5:]), np.median(times[1:settle])))
    row = {}
    for name, values in medians.items():
        settled, settling = np.median(np.array(values), axis=0)
        row[f"settled_ms_{name}"] = round(1000 * float(settled), 3)
        row[f"settling_ms_{name}"] = round(1000 * float(settling), 3)
    print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return row


def plot_sweep(results: dict, path: Path) -> None:
    """One panel per factor: gravity error (left axis) and root error / WA-MPJPE (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4.0), constrained_layout=True)
    for axis, (factor, rows) in zip(np.atleast_1d(axes), results.items(), strict=True):
        x = [r[factor] for r in rows]
        axis.plot(x, [r["up_error_deg"] for r in rows], "o-", color="tab:red", label="camera up error (deg)")
        gravity = [r["gravity_deg"] for r in rows]
        axis.plot(x, gravity, "o:", color="tab:purple", label="gravity, as eval_world (deg)")
        axis.plot(x, [r["gravity_deg_as_lifted"] for r in rows], "o:", color="tab:purple", alpha=0.4,
                  label="gravity, lean not taken out")  # fmt: skip
        axis.plot(x, [r["up_error_deg_default_fov"] for r in rows], "o--", color="tab:red", alpha=0.5,
                  label="camera up, default fov")  # fmt: skip
        axis.set_xlabel(f"{factor} (deg)")
        axis.set_ylabel("degrees", color="tab:red")
        axis.set_ylim(bottom=0)
        right = axis.twinx()
        right.plot(x, [r["root_mm"] for r in rows], "s-", color="tab:blue", label="root error (mm)")
        right.plot(x, [r["wa_mpjpe_mm"] for r in rows], "^-", color="tab:green", label="WA-MPJPE (mm)")
        right.set_ylabel("mm")
        right.set_ylim(bottom=0)
        handles = axis.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
        axis.set_title(
            f"{factor}, others at " + ", ".join(f"{k} {v:g}" for k, v in BASE.items() if k != factor),
            fontsize=8,
        )
    figure.legend(handles, [h.get_label() for h in handles], loc="outside lower center", ncol=5, fontsize=8)
    figure.suptitle("World placement on held-out mocap (true intrinsics unless 'default fov')", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run(views_dir=None, mocap_dir=None, as_json: bool = False, smoke: bool = False, plot=None) -> dict:
    """Views (skipped with ``smoke``), the sweep (2 clips per value with ``smoke``, else 12) and
    the live step's cost (2 runs with ``smoke``, else 12)."""
    views_dir = Path(views_dir) if views_dir else DEFAULT_VIEWS_DIR
    mocap_dir = Path(mocap_dir) if mocap_dir else DEFAULT_MOCAP_DIR
    if not mocap_dir.is_dir():
        raise Pose3DFileNotFoundError(f"no mocap folder at {mocap_dir} (needed for the synthetic sweep)")
    figures: dict = {}
    if not smoke:
        if not (views_dir / "eval_world.py").is_file():
            raise Pose3DFileNotFoundError(f"no views_3d benchmark with eval_world.py at {views_dir}")
        print(f"views ({', '.join(VIEWS)}): eval_world.py and eval.py")
        figures["views"] = run_views(views_dir)
    print("synthetic sweep (held-out mocap, offline placement)")
    plot_path = Path(plot) if plot else (None if smoke else DEFAULT_PLOT)
    figures["sweep"] = run_sweep(mocap_dir, 2 if smoke else 12, plot_path)
    print(f"live cost per frame ({2 if smoke else 12} runs, one held-out clip)")
    figures["live_cost"] = live_cost(mocap_dir, 2 if smoke else 12)
    if as_json:
        print(json.dumps(figures))
    return figures
