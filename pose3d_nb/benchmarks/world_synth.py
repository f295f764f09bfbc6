"""Synthetic world-grounding sweep: held-out mocap seen by known cameras, lifted, placed, scored.

Each case takes a held-out clip (never trained on, ``training.mocap.HELD_OUT`` and the eval-only
files), gives it a body size, puts a camera at a known pitch, roll and field of view a few
metres away looking at where the person moves, projects the joints to pixels with the
detector's noise model, lifts the 2D with the shipped lifter and places the result in the world
(``world.place_clip`` offline, ``world.WorldTracker`` live). The truth is the camera-frame mocap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pose3d_nb.training.synth import (
    KEYPOINT_JOINTS,
    LIFT_KEYPOINTS,
    SynthConfig,
    reshape_body,
    sample_sequence,
)
from pose3d_nb.world.gravity import unit
from pose3d_nb.world.intrinsics import Intrinsics, from_fov

SCORED = [0, 1, 2, 3, 4, 5, 6, 8, 11, 12, 13, 14, 15, 16]  # the views' 14 scored joints


@dataclass(frozen=True)
class SynthCase:
    """One synthetic clip: truth (T, 17, 3) camera-frame metres, keypoints (T, 17, 2) pixels,
    scores (T, 17), the true intrinsics, the room's up in camera coordinates and the camera's
    height above the lowest ankle."""

    truth: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    intrinsics: Intrinsics
    up: np.ndarray
    pitch_deg: float
    roll_deg: float
    fov_deg: float


def camera_rotation(forward_flat: np.ndarray, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """(3, 3) world (y up) -> camera (x right, y down, z forward) for a camera facing
    ``forward_flat`` (horizontal), looking ``pitch_deg`` down and rolled ``roll_deg``."""
    pitch, roll = math.radians(pitch_deg), math.radians(roll_deg)
    up = np.array([0.0, 1.0, 0.0])
    forward = math.cos(pitch) * unit(forward_flat) - math.sin(pitch) * up
    right = unit(np.cross(forward, up))
    down = np.cross(forward, right)
    c, s = math.cos(roll), math.sin(roll)
    right, down = c * right + s * down, -s * right + c * down
    return np.stack([right, down, forward])


def make_case(rng, clip, pitch_deg, roll_deg, fov_deg, noise, frames=150, fps=30.0) -> SynthCase | None:
    """A case from ``clip`` (None when it is too short), image 1080x1920 portrait or landscape."""
    joints = sample_sequence(rng, clip, frames, fps)
    if joints is None:
        return None
    joints = reshape_body(rng, joints, SynthConfig()).astype(np.float64)
    pelvis = joints[:, 0]
    middle = pelvis.mean(0)
    floor = np.quantile(joints[:, [3, 6], 1].min(1), 0.2)
    travel = np.ptp(pelvis[:, [0, 2]], axis=0).max()
    width, height = (1080, 1920) if rng.random() < 0.5 else (1920, 1080)
    intrinsics = from_fov(fov_deg, width, height)
    # Far enough that the whole body and its travel fit the image's shorter field of view.
    short_fov = 2 * math.atan(min(width, height) / 2 / intrinsics.fx)
    need = (2.0 + travel) / 2 / math.tan(short_fov / 2) * 1.15
    distance = max(need, 2.5) * rng.uniform(1.0, 1.3)
    azimuth = rng.uniform(0, 2 * math.pi)
    forward_flat = np.array([math.sin(azimuth), 0.0, math.cos(azimuth)])
    rotation = camera_rotation(forward_flat, pitch_deg, roll_deg)
    # The optical axis passes through the person's middle (hip height): camera behind and above.
    target = np.array([middle[0], middle[1], middle[2]])
    position = target - distance * rotation[2]
    camera = (joints - position) @ rotation.T
    if (camera[..., 2] < 0.5).any():
        return None
    pixels = intrinsics.project(camera[:, KEYPOINT_JOINTS])
    if noise is not None:
        screen_scale = width / 2
        screen = pixels / screen_scale
        person = np.ptp(screen[len(screen) // 2, :, 1])
        noisy = noise.apply(rng, screen.astype(np.float32), person, camera=camera)
        pixels = noisy.astype(np.float64) * screen_scale
    keypoints = np.full((frames, 17, 2), np.nan)
    keypoints[:, LIFT_KEYPOINTS] = pixels
    keypoints[:, [1, 2, 3, 4]] = pixels[:, :1]  # eyes and ears at the nose (the lifter ignores them)
    scores = np.full((frames, 17), 0.9)
    del floor
    return SynthCase(
        camera, keypoints, scores, intrinsics, rotation @ np.array([0, 1.0, 0]), pitch_deg, roll_deg, fov_deg
    )


def rigid_error(predicted: np.ndarray, truth: np.ndarray, scale: bool) -> tuple[float, float]:
    """One (similarity if ``scale``) transform for the whole clip: (mean joint error, mean root
    error) in mm over frames where both are finite, the 14 scored joints."""
    ok = np.isfinite(predicted).all((1, 2)) & np.isfinite(truth).all((1, 2))
    x, y = predicted[ok][:, SCORED].reshape(-1, 3), truth[ok][:, SCORED].reshape(-1, 3)
    mx, my = x.mean(0), y.mean(0)
    u, s, vt = np.linalg.svd((x - mx).T @ (y - my))
    d = np.sign(np.linalg.det(u @ vt))
    u[:, -1] *= d
    s[-1] *= d
    r = u @ vt
    c = s.sum() / ((x - mx) ** 2).sum() if scale else 1.0
    joints = np.linalg.norm(c * (x - mx) @ r + my - y, axis=1).mean()
    roots = c * (predicted[ok][:, 0] - mx) @ r + my
    return 1000 * float(joints), 1000 * float(np.linalg.norm(roots - truth[ok][:, 0], axis=1).mean())


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two 3-vectors, degrees."""
    return math.degrees(math.acos(float(np.clip(unit(a) @ unit(b), -1, 1))))


def body_frames(joints: np.ndarray) -> np.ndarray:
    """(T, 17, 3) -> (T, 3, 3) pelvis frames as ``eval_world.py`` builds them (rows: right hip to
    left hip, pelvis to thorax orthogonalised, their cross product)."""
    x = unit(joints[:, 4] - joints[:, 1])
    y = joints[:, 8] - joints[:, 0]
    y = unit(y - (y * x).sum(1, keepdims=True) * x)
    return np.stack([x, y, np.cross(x, y)], 1)


def body_gravity_deg(world: np.ndarray, truth: np.ndarray, up: np.ndarray) -> float:
    """``eval_world.py``'s gravity error: per frame, the prediction's +z and the true up, each
    seen from its own pelvis frame; mean degrees over frames where both are finite."""
    ok = np.isfinite(world).all((1, 2)) & np.isfinite(truth).all((1, 2))
    predicted = body_frames(np.asarray(world, np.float64)[ok])[:, :, 2]
    true = np.einsum("tij,j->ti", body_frames(truth[ok]), unit(up))
    return float(np.degrees(np.arccos(np.clip((predicted * true).sum(1), -1, 1))).mean())


def engine_lifting(mocap_dir, held_out: bool = True) -> tuple[list, object, object]:
    """What the synthetic world checks lift with: (the clips longer than 6 s that are held out,
    or with ``held_out=False`` trained on; the shipped lifter, unfused, with the engine's default
    settings (window, lookahead, flip: ``settings.DEFAULTS``); the detector's noise model), torch
    on one thread."""
    import torch

    from pose3d_nb.lifting.choice import choose_lifter
    from pose3d_nb.settings import DEFAULTS
    from pose3d_nb.training.mocap import load_mocap
    from pose3d_nb.training.trainer import make_noise

    torch.set_num_threads(1)
    clips = [c for c in load_mocap(mocap_dir) if c.held_out == held_out and len(c.positions) / c.fps > 6]
    lifter = choose_lifter("shipped", world_landmark_weight=0.0)
    # A lifter object starts with LiftSettings() (flip off); the engine sets its own defaults
    # (flip on), and these checks claim to lift as the engine runs it.
    lifter.settings = DEFAULTS.lift
    return clips, lifter, make_noise()


def lift_as_engine(lifter, case: SynthCase, fps: float = 30.0) -> np.ndarray:
    """``case``'s keypoints through a lifter object as the engine runs it (one ``Detection`` a
    frame, streaming; e.g. ``choose_lifter("shipped", world_landmark_weight=0.0)``, whose 2D
    zoom and settings are the engine's): (T, 17, 3) root-relative camera-frame metres."""
    from pose3d_nb.detectors.detection import Detection
    from pose3d_nb.detectors.geometry import keypoint_box

    size = (case.intrinsics.width, case.intrinsics.height)
    lifter.reset()
    poses = []
    for index, (points, scores) in enumerate(zip(case.keypoints, case.scores, strict=True)):
        box = keypoint_box(points).astype(np.float32)
        points, scores = points.astype(np.float32), scores.astype(np.float32)
        poses += lifter.push(Detection(points, scores, box, size, index / fps, index))
    poses += lifter.flush()
    return np.stack([p.joints_camera for p in poses]).astype(np.float64)
