"""Geometry of the 3D view's room: the recording camera's frustum and faded line colours.

Plain numpy; the world frame is that of ``pose3d_nb.world``: metres, z up, the floor at z = 0,
the camera at (0, 0, height) looking along +y (its viewing direction laid flat).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def camera_axes(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """A camera's axes in the world frame.

    Args:
        pitch_deg: how far the camera looks down below the horizon (negative: up).
        roll_deg: the room's up as seen in the image, degrees from the image's up (positive:
            it leans to the image's left, the camera turned clockwise about its view axis).

    Returns:
        (3, 3) rows: the camera's right, down and viewing directions (unit vectors).
    """
    pitch, roll = math.radians(pitch_deg), math.radians(roll_deg)
    right = np.array([1.0, 0.0, 0.0])
    forward = np.array([0.0, math.cos(pitch), -math.sin(pitch)])
    down = np.cross(forward, right)
    return np.stack([math.cos(roll) * right + math.sin(roll) * down,
                     -math.sin(roll) * right + math.cos(roll) * down, forward])


def frustum_vertices(pitch_deg: float, roll_deg: float, height_m: float, fov_deg: float,
                     aspect: float = 16 / 9, depth_m: float = 0.3) -> np.ndarray:
    """Line segments drawing a camera at (0, 0, ``height_m``) as a small frustum.

    Four edges from the lens to the image rectangle ``depth_m`` ahead, the rectangle, a small
    triangle on its top edge (which way is up in the image) and a drop line to the floor.

    Args:
        pitch_deg, roll_deg: the camera's tilt (see ``camera_axes``).
        height_m: the lens' height above the floor, metres.
        fov_deg: field of view across the image's longer side, degrees.
        aspect: the image's width / height.
        depth_m: how far ahead of the lens the rectangle is drawn.

    Returns:
        (24, 3) float32: segment ``i`` runs from row ``2*i`` to row ``2*i+1``.
    """
    right, down, forward = camera_axes(pitch_deg, roll_deg)
    half_long = math.tan(math.radians(fov_deg) / 2)
    tan_x, tan_y = (half_long, half_long / aspect) if aspect >= 1 else (half_long * aspect, half_long)
    apex = np.array([0.0, 0.0, height_m])
    centre = apex + depth_m * forward
    corners = [centre + depth_m * (sx * tan_x * right + sy * tan_y * down)
               for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]  # top-left, clockwise
    tip = centre - depth_m * tan_y * 1.6 * down
    top_left = centre + depth_m * (-0.4 * tan_x * right - tan_y * down)
    top_right = centre + depth_m * (0.4 * tan_x * right - tan_y * down)
    segments = [(apex, c) for c in corners]
    segments += [(corners[i], corners[(i + 1) % 4]) for i in range(4)]
    segments += [(top_left, tip), (tip, top_right), (top_left, top_right), (apex, apex * [1, 1, 0])]
    return np.asarray(segments, np.float32).reshape(-1, 3)


def css_colour(rgb: Sequence[float]) -> str:
    """``#rrggbb`` of (3,) RGB in [0, 1]."""
    return "#" + "".join(f"{round(255 * c):02x}" for c in rgb)


def fading_colours(rgb: Sequence[float], background: str, count: int) -> np.ndarray:
    """Colours fading a line into the background towards its start.

    Args:
        rgb: (3,) the newest end's colour, RGB in [0, 1].
        background: the scene's ``#rrggbb`` colour, the oldest end's (black for other forms).
        count: points along the line.

    Returns:
        (count, 3) float32 RGB, the first ``background``, the last ``rgb``.
    """
    hex_digits = background.lstrip("#")
    try:
        bg = np.array([int(hex_digits[i:i + 2], 16) / 255 for i in (0, 2, 4)])
    except ValueError:  # a CSS name such as "black": fade to black
        bg = np.zeros(3)
    weight = np.linspace(0.0, 1.0, count)[:, None]
    return (bg + weight * (np.asarray(rgb) - bg)).astype(np.float32)
