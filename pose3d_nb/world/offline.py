"""A whole clip placed in the world at once (files, batch, ``lift``): every frame may use every
other, so the trajectory is smoothed without lag and the camera is estimated from all frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose3d_nb.world.frame import WorldFrame, camera_height
from pose3d_nb.world.gravity import estimate_up
from pose3d_nb.world.intrinsics import Intrinsics
from pose3d_nb.world.lean import LeanBias, unlean
from pose3d_nb.world.placement import image_points
from pose3d_nb.world.scale import body_size, rescale, size_for_height
from pose3d_nb.world.trajectory import LOST_AFTER_S, smooth_offline, solve_translation
from pose3d_nb.world.vanishing import SceneEdges, choose_up

#: Gaussian smoothing of the offline trajectory, seconds: image position (precise) and depth
#: (from the body's apparent size, noisy). Chosen on 120 held-out synthetic clips: depth sigma
#: 0.1 / 0.25 / 0.5 / 1 / 1.5 / 2 / 3 s gave WA-MPJPE 250 / 217 / 189 / 166 / 162 / 163 / 167 mm;
#: the image sigma barely matters (0 to 0.1 s within 1 mm).
SMOOTH_IMAGE_S = 0.03
SMOOTH_DEPTH_S = 1.5
#: A path shorter than SMOOTH_DEPTH_SHARE times SMOOTH_DEPTH_S (6 s) has its depth smoothed with
#: a quarter of its length, not under SMOOTH_DEPTH_MIN_S: a 1.5 s Gaussian over a 3 s clip
#: flattens its depth to the clip's mean and pulls both ends towards it. Chosen on held-out
#: mocap (the engine's lifts of clips through random cameras, pitch -20..60, roll +-30, field of
#: view 40..100, the true intrinsics, ``place_clip`` with the lean table; /work/s37/smooth3.py,
#: a script outside the repository), WA-MPJPE in mm, seeds 41 / 43, fixed 1.5 s -> this rule:
#: 60 clips of 100 frames 130.8 -> 122.4 / 134.1 -> 130.3; 60 of 60 frames 92.9 -> 92.5 /
#: 95.8 -> 94.3; 40 of 200 and 40 of 300 frames unchanged (the cap). Fixed sigmas by length
#: (0.5 / 0.75 / 1 / 1.25 / 1.5 / 2 s): 100 frames 124.2 / 121.8 / 124.2 / 127.5 / 130.8 / 136.7
#: (seed 41), 200 frames 157.9 / 145.2 / 136.6 / 131.6 / 129.1 / 128.7. A third or a fifth of the
#: length, a kernel narrowing towards the ends, a local-linear smoother and a constant-velocity
#: Kalman (RTS) smoother were each worse on one length or another.
SMOOTH_DEPTH_SHARE = 4.0
SMOOTH_DEPTH_MIN_S = 0.75


@dataclass(frozen=True)
class PlacedClip:
    """A clip in the world.

    joints: (T, 17, 3) world metres, z up, floor at z = 0 (NaN where not valid).
    joints_camera: (T, 17, 3) camera-frame metres with the root translation (x right, y down,
    z forward). frame: the camera (up, height). body_size: metres (sum of the size bones).
    up_source: where the up came from, ``"scene"`` (the room's edges), ``"people"`` or
    ``"given"`` (``place_clip``'s ``frame``).
    """

    joints: np.ndarray
    joints_camera: np.ndarray
    frame: WorldFrame
    body_size: float
    up_source: str = "people"


def place_clip(
    joints: np.ndarray,
    keypoints: np.ndarray,
    intrinsics: Intrinsics,
    scores: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    height: float | None = None,
    fps: float = 30.0,
    scene: SceneEdges | None = None,
    lean: LeanBias | None = None,
    frame: WorldFrame | None = None,
    times: np.ndarray | None = None,
) -> PlacedClip:
    """Root-relative lifted poses + their 2D keypoints -> the clip in the world.

    joints: (T, 17, 3) camera-frame metres, root-relative (the lifter's output). keypoints:
    (T, 17, 2) COCO pixels of the video ``intrinsics`` describe. scores: (T, 17) confidences.
    valid: (T,) frames with a person. height: the person's height in metres, if known.
    scene: a frame's near-vertical edges (``vanishing.scene_edges``), if found: the room's up
    is taken from them near the people's estimate (``vanishing.choose_up``). lean: the
    lifter's lean habit (``world.lean``) to turn back out of the poses once the up is known.
    frame: the camera's up and height when already known (another person in the same clip);
    None: estimated from these poses. times: (T,) each frame's seconds (a recording's
    timestamps), or None. The path starts again where the person was unseen for
    ``LOST_AFTER_S`` or more, as live: by ``times`` where given, else by frames at ``fps``.
    """
    joints = np.asarray(joints, np.float64)
    ok = np.isfinite(joints).all((1, 2))
    if valid is not None:
        ok &= np.asarray(valid, bool)
    if height is not None:
        size = size_for_height(height)
    else:  # the lifter's own size: on held-out clips, correcting its bias made the root worse
        size = float(np.nanmedian(np.where(ok, body_size(joints), np.nan)))
    pose = rescale(joints - joints[:, :1], size)
    points, weights = image_points(intrinsics, keypoints, scores)
    weights[~ok] = 0
    raw = solve_translation(pose, points, weights)
    translation = smooth_offline(raw, SMOOTH_IMAGE_S * fps, SMOOTH_DEPTH_S * fps, LOST_AFTER_S * fps,
                                 SMOOTH_DEPTH_SHARE, SMOOTH_DEPTH_MIN_S * fps, times)
    placed = pose + translation[:, None]
    placed[~ok] = np.nan
    if frame is None:
        up, source = choose_up(estimate_up(placed, points), scene)
    else:
        up, source = frame.up, "given"
    if lean is not None:
        placed = unlean(placed, up, lean)
    if frame is None:
        frame = WorldFrame(up, camera_height(placed, up))
    return PlacedClip(frame.to_world(placed), placed.astype(np.float32), frame, size, source)
