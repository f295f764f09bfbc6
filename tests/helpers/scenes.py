"""Synthetic camera views of a room's edges, with a known camera (for the vanishing-point tests)."""

from __future__ import annotations

import math

import numpy as np


def camera_rotation(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """(3, 3) world (x right, y ahead, z up) -> camera (rows: right, down, forward) for a camera
    looking along +y, ``pitch_deg`` down and rolled ``roll_deg`` (``WorldFrame``'s signs)."""
    pitch, roll = math.radians(pitch_deg), math.radians(roll_deg)
    forward = np.array([0.0, math.cos(pitch), -math.sin(pitch)])
    right = np.array([1.0, 0.0, 0.0])
    down = np.cross(forward, right)
    c, s = math.cos(roll), math.sin(roll)
    return np.stack([c * right + s * down, -s * right + c * down, forward])


def room_image(intrinsics, pitch_deg: float, roll_deg: float, seed: int = 0,
               verticals: int = 14, horizontals: int = 10,
               floor_rails: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A gray image of vertical poles and level rails in a room seen by a camera 1.5 m up, and
    ``floor_rails`` long lines on the floor running away from the camera (they look near-vertical
    and converge on the horizon) -> (image (H, W) uint8, the true up (3,) in camera coordinates)."""
    import cv2

    rng = np.random.default_rng(seed)
    rotation = camera_rotation(pitch_deg, roll_deg)
    image = np.full((intrinsics.height, intrinsics.width), 40, np.uint8)

    def draw(a, b):
        ca, cb = rotation @ (a - [0, 0, 1.5]), rotation @ (b - [0, 0, 1.5])
        if ca[2] < 0.2 or cb[2] < 0.2:
            return
        pa, pb = intrinsics.project(np.stack([ca, cb]))
        cv2.line(image, tuple(int(v) for v in pa), tuple(int(v) for v in pb), 220, 3, cv2.LINE_AA)

    for _ in range(verticals):
        x, y = rng.uniform(-3, 3), rng.uniform(2.5, 7)
        z0 = rng.uniform(0, 0.8)
        draw(np.array([x, y, z0]), np.array([x, y, z0 + rng.uniform(0.8, 2.0)]))
    for _ in range(horizontals):
        x, y, z = rng.uniform(-3, 3), rng.uniform(2.5, 7), rng.uniform(0, 2.5)
        d = rng.normal(size=2)
        d = 0.8 * d / np.linalg.norm(d)
        draw(np.array([x, y, z]), np.array([x + d[0], y + d[1], z]))
    for _ in range(floor_rails):
        x = rng.uniform(-1.5, 1.5)
        draw(np.array([x, 2.0, 0.0]), np.array([x, 6.0, 0.0]))
    return image, rotation @ np.array([0.0, 0.0, 1.0])
