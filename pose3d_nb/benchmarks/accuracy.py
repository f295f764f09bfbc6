"""3D accuracy against real ground truth: ``pose3d bench accuracy``.

Two measurements, one row per lifter and window:

- **Real video, three views** of one trial (``../shared/benchmarks/views_3d/``): each view's
  video through the MediaPipe detector (with the subject follower), then the lifter frame by
  frame exactly as ``pose3d run`` feeds it, scored by that folder's own ``eval.py`` (PA-MPJPE,
  14 joints). The GT follows MediaPipe's keypoint definitions and is good to about 1-2 cm.
  MediaPipe's single-person solution (BlazePose Full, ``mediapipe`` with ``follow="none"``) gets
  every row; the people detector (``mediapipe-people`` following the largest person, the default
  pipeline), Lite and Heavy (``mediapipe-lite``, ``mediapipe-heavy``, when fetched) as
  ``pose3d run --detector NAME`` runs them (since 2026-12-08 the people detector with their
  model, following the largest person), then Lite's and Heavy's single-person solution
  (``--follow none``; what the Lite and Heavy rows were until then) get MediaPipe alone, the
  lifter alone and the default fusion.
  The ``equal-weight fusion`` rows are the fusion before issue 17 (MediaPipe's pose aligned by
  the least-squares similarity and averaged half and half), computed from the two rows' poses.
  These views are a final report: nothing is chosen on them (docs/lifter_training.md).
- **Held-out mocap** (clips never trained on, see ``training.mocap.HELD_OUT``, plus the
  eval-only CMU subjects): MPJPE and PA-MPJPE of the network alone on virtual-camera 2D, clean
  and with the detector noise model. MediaPipe's 3D needs images, so it has no mocap row.
"""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pose3d_nb.detectors.base import DetectorUnavailable
from pose3d_nb.errors import Pose3DFileNotFoundError
from pose3d_nb.skeleton import H36M

VIEWS = ("cam02", "cam03", "cam04")
DEFAULT_VIEWS_DIR = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "views_3d"
DEFAULT_MOCAP_DIR = Path(__file__).resolve().parents[3] / "shared" / "mocap"


@dataclass(frozen=True)
class LifterSetting:
    """One row: which lifter and how it is run."""

    lifter: str  # "mediapipe" or "shipped"
    window: int
    lookahead: int
    flip: bool
    world_landmark_weight: float
    detector: str = "mediapipe"
    equal_weight: bool = False  # the fusion before issue 17, from the lifter's and MediaPipe's rows
    follow: str = "none"  # as ``follow=`` takes it: "auto" is what --detector NAME alone runs

    @property
    def label(self) -> str:
        variant = {
            ("mediapipe-people", "auto"): "[people: Full, regions per person, largest; the default] ",
            ("mediapipe-lite", "auto"): "[Lite: regions per person, largest] ",
            ("mediapipe-heavy", "auto"): "[Heavy: regions per person, largest] ",
            ("mediapipe-lite", "none"): "[Lite, single-person: --follow none] ",
            ("mediapipe-heavy", "none"): "[Heavy, single-person: --follow none] ",
        }.get((self.detector, self.follow), "")
        if self.lifter == "mediapipe":
            return f"{variant}MediaPipe world landmarks (per frame)"
        fused = " + MediaPipe 3D" if self.world_landmark_weight else ""
        fused = " + MediaPipe 3D, equal-weight fusion" if self.equal_weight else fused
        return f"{variant}shipped lifter{fused}, window {self.window}, lookahead {self.lookahead}"


def _load_scorer(views_dir: Path):
    spec = importlib.util.spec_from_file_location("views_3d_eval", views_dir / "eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def view_videos(views_dir: Path) -> dict[str, Path]:
    """The video of each view: cam02 is the sample, the others sit in ``views_dir/videos``."""
    from pose3d_nb.sources.sample import sample_video_resource

    return {
        "cam02": Path(str(sample_video_resource())),
        **{v: views_dir / "videos" / f"{v}.mp4" for v in VIEWS[1:]},
    }


def detect_views(views_dir: Path, detector_name: str = "mediapipe", follow: str = "none") -> dict[str, list]:
    """Detections of every frame of each view (what ``pose3d run --detector NAME --follow
    FOLLOW`` lifts: ``follow`` as ``with_follow`` takes it, "none" the detector as named)."""
    from pose3d_nb.detectors import create_detector
    from pose3d_nb.detectors.follow import with_follow
    from pose3d_nb.sources import open_source

    name, options = with_follow(detector_name, follow)
    detections = {}
    for view, video in view_videos(views_dir).items():
        with open_source(str(video)) as frames, create_detector(name, **options) as detector:
            detections[view] = [detector(frame) for frame in frames]
    return detections


def make_lifter(setting: LifterSetting):
    """The engine's lifter object for ``setting``."""
    from pose3d_nb.lifting.choice import choose_lifter
    from pose3d_nb.lifting.protocol import LiftSettings

    lifter = choose_lifter(setting.lifter, world_landmark_weight=setting.world_landmark_weight)
    if lifter.temporal:
        lifter.settings = LiftSettings(setting.window, setting.lookahead, setting.flip)
    return lifter


def lift_view(setting: LifterSetting, detections: list) -> tuple[np.ndarray, list[float]]:
    """(T, 17, 3) world joints for one view's detections, and the per-frame push times (s)."""
    lifter = make_lifter(setting)
    poses, times = [], []
    for detection in detections:
        started = time.perf_counter()
        poses += lifter.push(detection)
        times.append(time.perf_counter() - started)
    poses += lifter.flush()
    return np.stack([p.joints for p in poses]), times


def equal_weight_fusion(lifted: np.ndarray, mediapipe: np.ndarray) -> np.ndarray:
    """The fusion before issue 17: (T, 17, 3) lifter and MediaPipe poses (same world frame) ->
    their half-and-half mean after MediaPipe's least-squares similarity alignment onto the lifter
    (frames where either is missing keep the lifter's). PA-MPJPE equals the camera-space fusion's:
    the world frame differs from the camera's by a rigid motion only."""
    from pose3d_nb.lifting.align import similarity_align
    from pose3d_nb.lifting.fusion import BODY_JOINTS

    fused = lifted.copy()
    both = np.isfinite(lifted).all(axis=(1, 2)) & np.isfinite(mediapipe).all(axis=(1, 2))
    fused[both] = (lifted[both] + similarity_align(mediapipe[both], lifted[both], BODY_JOINTS)) / 2
    return fused


def mocap_errors(
    model, setting: LifterSetting, samples: tuple[np.ndarray, np.ndarray]
) -> tuple[float, float]:
    """Held-out mocap (MPJPE, PA-MPJPE) in mm of the network alone under ``setting``'s window.

    samples: inputs (N, RF, 13, 2) screen coordinates centred on the target frame, targets
    (N, 17, 3). Frames outside the window are replaced by its edge frames as the streaming
    lifter does; flip averages with the mirrored input.
    """
    from pose3d_nb.lifting.align import pa_mpjpe
    from pose3d_nb.lifting.zoom import zoom_windows
    from pose3d_nb.training.viewpoints import lift_windows

    inputs, targets = samples
    # As the shipped lifter runs: the 2D zoomed to the size it lifts best (lifting.zoom).
    plain, flipped = lift_windows(model, zoom_windows(inputs), setting.window, setting.lookahead)
    predicted = (plain + flipped) / 2 if setting.flip else plain
    mpjpe = np.linalg.norm(predicted - targets, axis=-1).mean()
    return 1000 * float(mpjpe), 1000 * float(pa_mpjpe(predicted, targets).mean())


def mocap_samples(mocap_dir: Path, receptive_field: int, noisy: bool, count: int = 1000) -> tuple:
    """Seeded held-out windows: inputs (N, RF, 13, 2), targets (N, 17, 3) of the centre frame.

    Each frame is seen by a camera turned to the person (``SynthConfig.centre_rays``), the target
    in its axes: the engine turns every zoomed lifter's input so (``lifting.rays``), and a lifter
    trained on such frames (the fifth shipped one) is far off on a person as framed off centre
    (until 2026-12-07 these windows were as framed: the fourth lifter's 81.5 / 54.1 mm clean)."""
    from pose3d_nb.training.mocap import load_mocap, sampling_weights
    from pose3d_nb.training.synth import SynthConfig, SyntheticPairs
    from pose3d_nb.training.trainer import make_noise

    held = [c for c in load_mocap(mocap_dir) if c.held_out]
    pad = receptive_field // 2
    pairs = SyntheticPairs(
        held,
        sampling_weights(held, receptive_field * 3),
        receptive_field,
        pad,
        make_noise() if noisy else None,
        seed=2024,
        config=SynthConfig(edge_freeze_probability=0.0, centre_rays=True),
    )
    inputs, targets, _ = pairs.batch(count)
    return inputs, targets[:, 0]


#: The detector runs measured, as (detector, follow): MediaPipe's single-person solution
#: (``follow="none"``; every knob setting), the people detector following the largest person
#: (``follow="auto"``, the default), Lite and Heavy as ``--detector NAME`` runs them ("auto":
#: the people detector with their model), and Lite's and Heavy's single-person solution.
DETECTOR_RUNS = (
    ("mediapipe", "none"),
    ("mediapipe-people", "auto"),
    ("mediapipe-lite", "auto"),
    ("mediapipe-heavy", "auto"),
    ("mediapipe-lite", "none"),
    ("mediapipe-heavy", "none"),
)


def settings_for(receptive_field: int, detector: str = "mediapipe",
                 follow: str = "none") -> list[LifterSetting]:
    """MediaPipe alone, then the shipped lifter with and without fusion over the windows.

    For a detector run other than MediaPipe's single-person solution: MediaPipe alone, the
    lifter alone and fused (full window, lookahead 0, flip), and the equal-weight fusion.
    """
    rf = receptive_field
    if (detector, follow) != ("mediapipe", "none"):
        return [
            LifterSetting("mediapipe", 0, 0, False, 0.0, detector, follow=follow),
            LifterSetting("shipped", rf, 0, True, 0.0, detector, follow=follow),
            LifterSetting("shipped", rf, 0, True, 0.5, detector, follow=follow),
            LifterSetting("shipped", rf, 0, True, 0.5, detector, equal_weight=True, follow=follow),
        ]
    windows = [w for w in (1, 9, 27, 81, 243) if w < rf] + [rf]
    rows = [LifterSetting("mediapipe", 0, 0, False, 0.0)]
    for weight in (0.0, 0.5):
        for lookahead in (0, rf // 2):
            rows += [LifterSetting("shipped", w, lookahead, True, weight) for w in windows]
    return rows + [LifterSetting("shipped", w, 0, True, 0.5, equal_weight=True) for w in windows]


def _measure_row(setting: LifterSetting, detections: dict, poses: dict, scorer, truth: dict) -> dict:
    """Lift (or, for the equal-weight rows, combine the poses of earlier rows) and score one row."""
    times: list[float] = []
    if setting.equal_weight:
        alone = poses[(setting.lifter, setting.window, setting.lookahead, setting.flip, 0.0)]
        mediapipe = poses[("mediapipe", 0, 0, False, 0.0)]
        joints = {v: equal_weight_fusion(alone[v], mediapipe[v]) for v in VIEWS}
    else:
        joints = {}
        for view in VIEWS:
            joints[view], pushes = lift_view(setting, detections[view])
            times += pushes
        key = (setting.lifter, setting.window, setting.lookahead, setting.flip, setting.world_landmark_weight)
        poses[key] = joints
    errors = {v: round(float(scorer.score(joints[v], truth[v], 0)["pa"].mean()), 1) for v in VIEWS}
    return {
        "lifter": setting.label,
        "detector": setting.detector,
        "follow": setting.follow,
        **{f"pa_mpjpe_{v}": errors[v] for v in VIEWS},
        "pa_mpjpe_mean": round(float(np.mean(list(errors.values()))), 1),
        "ms_per_frame": round(1000 * float(np.median(times)), 2) if times else None,
    }


def _print_row(row: dict) -> None:
    mocap = [
        f"{row[f'mocap_{k}_mpjpe']:.1f}/{row[f'mocap_{k}_pa_mpjpe']:.1f}" if f"mocap_{k}_mpjpe" in row
        else "-"
        for k in ("clean", "noisy")
    ]  # fmt: skip
    views = " ".join(f"{row[f'pa_mpjpe_{v}']:6.1f}" for v in VIEWS)
    cost = f"{row['ms_per_frame']:8.2f}" if row["ms_per_frame"] is not None else f"{'-':>8s}"
    print(f"{row['lifter']:86s} {views} {row['pa_mpjpe_mean']:6.1f}  {mocap[0]:>20s} {mocap[1]:>20s} {cost}")


def run(
    views_dir: str | Path | None = None, mocap_dir: str | Path | None = None, as_json: bool = False
) -> dict:
    """Measure every row and print the table; returns the figures."""
    from pose3d_nb.lifting.choice import shipped_model

    views_dir = Path(views_dir) if views_dir else DEFAULT_VIEWS_DIR
    mocap_dir = Path(mocap_dir) if mocap_dir else DEFAULT_MOCAP_DIR
    if not (views_dir / "eval.py").is_file():
        raise Pose3DFileNotFoundError(f"no views_3d benchmark at {views_dir} (expected eval.py and gt_*.npy)")
    torch.set_num_threads(1)
    scorer = _load_scorer(views_dir)
    truth = {v: np.load(views_dir / f"gt_{v}_h36m17.npy", allow_pickle=False) for v in VIEWS}
    model = shipped_model()
    rf = model.arch.receptive_field
    have_mocap = mocap_dir.is_dir()
    samples = {n: mocap_samples(mocap_dir, rf, n) for n in (False, True)} if have_mocap else {}
    rows, skipped = [], {}
    print(f"{'lifter':86s} {'cam02':>6s} {'cam03':>6s} {'cam04':>6s} {'mean':>6s}  "
          f"{'mocap clean MPJPE/PA':>20s} {'mocap noisy MPJPE/PA':>20s} {'ms/frame':>8s}")  # fmt: skip
    for detector, follow in DETECTOR_RUNS:
        if detector in skipped:  # not fetched: said once
            continue
        try:
            detections = detect_views(views_dir, detector, follow)
        except DetectorUnavailable as exc:
            skipped[detector] = str(exc)
            print(f"[{detector}] skipped: {exc}")
            continue
        poses: dict[tuple, dict[str, np.ndarray]] = {}
        for setting in settings_for(rf, detector, follow):
            row = _measure_row(setting, detections, poses, scorer, truth)
            if setting.lifter != "mediapipe" and not setting.equal_weight and have_mocap:
                for noisy, key in ((False, "clean"), (True, "noisy")):
                    mpjpe, pa = mocap_errors(model, setting, samples[noisy])
                    row[f"mocap_{key}_mpjpe"], row[f"mocap_{key}_pa_mpjpe"] = round(mpjpe, 1), round(pa, 1)
            rows.append(row)
            _print_row(row)
    figures = {
        "receptive_field": rf,
        "joints": [H36M.joint_names[j] for j in scorer.EVAL_JOINTS],
        "rows": rows,
        "skipped_detectors": skipped,
    }
    if as_json:
        print(json.dumps(figures))
    return figures
