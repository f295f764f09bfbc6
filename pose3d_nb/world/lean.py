"""The shipped lifter's lean habit, and taking it back out once the room's up is known.

Seen from above or below, a body's depth cues fade: the lifter then leans it the way its
training poses mostly stood. On mocap it never trained on, seen through virtual cameras, its
trunk leans away from the camera by about 0.3 degree per degree the camera looks down past
20 degrees (and towards it when the camera looks up), and hardly at all from 0 to 20 degrees
down (``python -m pose3d_nb.world.lean_fit`` measures it). Once the world tracker knows the
room's up, each placed pose is turned back about the horizontal axis across the line of sight,
by the bias measured at the angle the camera looks down at the person's pelvis.

The table belongs to one set of weights (``LeanBias.lifter``, their sha256): only the shipped
lifter carries it (``VideoPose3DLifter.lean_bias``), other lifters get no correction.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pose3d_nb.world.gravity import unit

TABLE = Path(__file__).resolve().parents[1] / "data" / "lean_bias.json"


@dataclass(frozen=True)
class LeanBias:
    """How far a lifter leans bodies away from the camera (degrees; negative: towards it),
    against how far the camera looks down at the pelvis (degrees; negative: up), linear
    between the measured angles and held beyond them.

    elevation_deg, bias_deg: equal-length increasing angles and their biases.
    lifter: the sha256 of the weights this was measured on.
    """

    elevation_deg: tuple[float, ...]
    bias_deg: tuple[float, ...]
    lifter: str = ""

    def at(self, elevation_deg: np.ndarray | float) -> np.ndarray:
        """The bias (degrees) at each of ``elevation_deg``."""
        return np.interp(elevation_deg, self.elevation_deg, self.bias_deg)


def shipped_lean_bias(path: str | Path = TABLE) -> LeanBias | None:
    """The shipped lifter's table (``data/lean_bias.json``), or None when the file is missing."""
    return _load(str(path))


@lru_cache(maxsize=4)
def _load(path: str) -> LeanBias | None:
    if not Path(path).is_file():
        return None
    data = json.loads(Path(path).read_text())
    return LeanBias(tuple(map(float, data["elevation_deg"])), tuple(map(float, data["bias_deg"])),
                    str(data.get("lifter", "")))


def elevation_deg(pelvis: np.ndarray, up: np.ndarray) -> np.ndarray:
    """How far below the camera's horizon each (..., 3) camera-frame pelvis is, degrees."""
    rays = unit(np.asarray(pelvis, np.float64))
    return np.degrees(np.arcsin(np.clip(-(rays @ unit(up)), -1.0, 1.0)))


def lean_deg(joints: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(T, 17, 3) camera-frame joints -> (T,) how far each trunk (pelvis to neck) leans away from
    the camera, degrees, in the vertical plane through the line of sight to the pelvis."""
    joints = np.asarray(joints, np.float64)
    up = unit(up)
    across = unit(np.cross(joints[:, 0], up))
    away = np.cross(up, across)
    trunk = joints[:, 8] - joints[:, 0]
    return np.degrees(np.arctan2((trunk * away).sum(-1), trunk @ up))


def unlean(joints: np.ndarray, up: np.ndarray, bias: LeanBias) -> np.ndarray:
    """Placed camera-frame joints, (17, 3) or (T, 17, 3) metres with the root's translation, each
    pose turned about its pelvis by minus ``bias`` at its elevation, about the horizontal axis
    across the line of sight. NaN poses stay NaN.

    One pose costs about 0.04 ms (plain floats for the turn, one matrix product): the live
    world step runs it on every frame."""
    joints = np.asarray(joints, np.float64)
    ux, uy, uz = (float(v) for v in np.asarray(up, np.float64))
    norm = math.sqrt(ux * ux + uy * uy + uz * uz)
    up_unit = (ux / norm, uy / norm, uz / norm)
    if joints.ndim == 2:
        return _unlean_one(joints, up_unit, bias)
    return np.stack([_unlean_one(pose, up_unit, bias) for pose in joints]) if len(joints) else joints.copy()


def _unlean_one(pose: np.ndarray, up: tuple[float, float, float], bias: LeanBias) -> np.ndarray:
    px, py, pz = (float(v) for v in pose[0])
    distance = math.sqrt(px * px + py * py + pz * pz)
    if not math.isfinite(distance) or distance == 0.0:
        return pose.copy()
    ux, uy, uz = up
    elevation = math.degrees(math.asin(max(-1.0, min(1.0, -(px * ux + py * uy + pz * uz) / distance))))
    angle = math.radians(float(np.interp(elevation, bias.elevation_deg, bias.bias_deg)))
    # The axis across the line of sight: pelvis x up, normalised. A positive turn about it
    # tips the trunk towards the camera (Rodrigues' rotation matrix).
    ax, ay, az = py * uz - pz * uy, pz * ux - px * uz, px * uy - py * ux
    length = math.sqrt(ax * ax + ay * ay + az * az)
    if length == 0.0:  # looking straight down or up at the pelvis: no "across"
        return pose.copy()
    ax, ay, az = ax / length, ay / length, az / length
    c, s = math.cos(angle), math.sin(angle)
    t = 1.0 - c
    rotation = np.array([
        [c + ax * ax * t, ax * ay * t - az * s, ax * az * t + ay * s],
        [ay * ax * t + az * s, c + ay * ay * t, ay * az * t - ax * s],
        [az * ax * t - ay * s, az * ay * t + ax * s, c + az * az * t],
    ])
    pelvis = pose[0]
    return (pose - pelvis) @ rotation.T + pelvis
