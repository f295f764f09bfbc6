"""Colours shared by the 2D overlay and the 3D view, so left/right read the same in both.

RGB 0-255. Left is blue, right is orange and the centre line is light grey: distinct for the
common colour-vision deficiencies and on both dark and light backgrounds.
"""

from __future__ import annotations

LEFT_RGB: tuple[int, int, int] = (40, 150, 255)
RIGHT_RGB: tuple[int, int, int] = (255, 140, 20)
CENTER_RGB: tuple[int, int, int] = (225, 225, 225)
MISSING_RGB: tuple[int, int, int] = (200, 30, 30)

SIDE_RGB: dict[str, tuple[int, int, int]] = {"left": LEFT_RGB, "right": RIGHT_RGB, "center": CENTER_RGB}


def side_rgb01(side: str) -> tuple[float, float, float]:
    """The colour of a side ('left', 'right', 'center') as floats in [0, 1] (for WebGL)."""
    r, g, b = SIDE_RGB[side]
    return r / 255.0, g / 255.0, b / 255.0

