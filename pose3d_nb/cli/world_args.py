"""``--fov``, ``--focal``, ``--camera``, ``--height``: the world placement's options (``pose3d_nb.world``)."""

from __future__ import annotations

import argparse
from typing import Any

WORLD_OPTIONS = ("camera", "fov", "focal", "height")


def add_world_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the lens and the person's height; each defaults to None (assumed or estimated)."""
    from pose3d_nb.world import DEFAULT_FOV_DEG

    group = parser.add_argument_group(
        "world placement", f"z up, one floor at z = 0; without these a {DEFAULT_FOV_DEG:g}-degree lens is "
        "assumed and the camera's pitch, roll and height and the person's size are estimated. The "
        "lens also turns each frame's rays to the person before the shipped lifter lifts them",
    )  # fmt: skip
    lens = group.add_mutually_exclusive_group()
    lens.add_argument(
        "--fov", type=float, metavar="DEG", help="the lens's field of view across the longer side"
    )
    lens.add_argument("--focal", type=float, metavar="PX", help="the focal length in pixels")
    lens.add_argument(
        "--camera",
        metavar="FILE",
        help="OpenCV-style calibration, JSON or TOML: K and distortion (docs/world.md)",
    )
    group.add_argument(
        "--height", type=float, metavar="M", help="the person's height in metres (sets the scale)"
    )


def world_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments ``PoseEngine`` takes for what ``add_world_arguments`` parsed."""
    return {name: getattr(args, name, None) for name in WORLD_OPTIONS}


def checked_world_options(args: argparse.Namespace) -> dict[str, Any]:
    """``world_options(args)``, each value checked now (``Pose3DValueError`` naming a bad lens,
    calibration file or height), before a command makes its output folder."""
    from pose3d_nb.world.scale import check_world_options

    options = world_options(args)
    check_world_options(**options)
    return options
