"""Training pairs from mocap: detector-like 2D keypoint windows and their 3D camera-space poses.

One sample: a mocap clip resampled to a random frame rate, moved to MediaPipe's joint
definitions and proportions (``skeleton_model``), maybe mirrored, seen by a random virtual camera
anywhere around the person, projected to VideoPose3D screen coordinates, then given the 2D
errors of a detector (``noise``). Window edges are sometimes frozen the way ``StreamingLifter``
pads a short window or a zero lookahead, so small windows are trained too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose3d_nb.lifting.fusion import KEYPOINT_JOINTS
from pose3d_nb.lifting.keypoints import COCO_BODY_KEYPOINTS, mirror_columns
from pose3d_nb.lifting.rays import centre_windows
from pose3d_nb.skeleton import H36M
from pose3d_nb.training.mocap import Clip
from pose3d_nb.training.noise import DetectorNoise
from pose3d_nb.training.skeleton_model import (
    SIZE_BONES,
    bone_lengths,
    detector_definitions,
    mediapipe_lengths,
    retarget,
)

# The COCO keypoints the lifter reads (mocap has no eyes or ears) and the H36M joint each one is.
LIFT_KEYPOINTS = COCO_BODY_KEYPOINTS
H36M_MIRROR = H36M.mirror_permutation()
LIFT_MIRROR = mirror_columns(LIFT_KEYPOINTS)


@dataclass(frozen=True)
class SynthConfig:
    """Ranges of the random choices, with the reason for each."""

    fps_range: tuple[float, float] = (24.0, 60.0)  # webcams and the sample videos: 25-60 fps
    body_size_range: tuple[float, float] = (2.9, 3.9)  # sum of SIZE_BONES, metres (people 1.5-2.0 m)
    bone_jitter: float = 0.06  # per-bone length spread around MediaPipe's proportions
    elevation_deg: tuple[float, float] = (-15.0, 35.0)  # below the hips to well above the head
    distance_m: tuple[float, float] = (2.0, 9.0)
    person_fraction: tuple[float, float] = (0.3, 0.95)  # person's height / image height
    roll_deg: float = 6.0
    aspects: tuple[float, ...] = (9 / 16, 3 / 4, 16 / 9, 4 / 3)  # height / width
    edge_freeze_probability: float = 0.5
    # Each frame's 2D as a camera turned to the person sees it, and its 3D target in that
    # camera's axes, as the engine lifts (``lifting.rays``); False for the shipped lifters so far.
    centre_rays: bool = False


def sample_sequence(rng: np.random.Generator, clip: Clip, frames: int, fps: float) -> np.ndarray | None:
    """``frames`` poses of ``clip`` resampled to ``fps`` (linear interpolation), or None if too short."""
    step = clip.fps / fps
    span = (frames - 1) * step
    if span > len(clip.positions) - 1:
        return None
    start = rng.uniform(0, len(clip.positions) - 1 - span)
    times = start + step * np.arange(frames)
    low = np.floor(times).astype(np.int64)
    high = np.minimum(low + 1, len(clip.positions) - 1)
    weight = (times - low)[:, None, None].astype(np.float32)
    return clip.positions[low] * (1 - weight) + clip.positions[high] * weight


def reshape_body(rng: np.random.Generator, joints: np.ndarray, config: SynthConfig) -> np.ndarray:
    """Detector definitions, MediaPipe proportions with jitter, random size; maybe mirrored."""
    joints = detector_definitions(joints)
    size = rng.uniform(*config.body_size_range)
    jitter = rng.normal(1.0, config.bone_jitter, 16).clip(0.8, 1.2)
    # Left and right limbs of one person differ little: share most of the jitter.
    for right, left in ((0, 3), (1, 4), (2, 5), (10, 13), (11, 14), (12, 15)):
        jitter[left] = jitter[right] * rng.normal(1.0, 0.015)
    lengths = mediapipe_lengths(size, jitter)
    own = np.median(bone_lengths(joints), axis=0)
    # Retarget the per-frame lengths by the clip's median, keeping the mocap's small variations.
    joints = retarget(joints, bone_lengths(joints) / np.maximum(own, 1e-6) * lengths)
    if rng.random() < 0.5:
        joints = joints[:, H36M_MIRROR] * np.array([-1, 1, 1], dtype=np.float32)
    return joints


def look_at(position: np.ndarray, target: np.ndarray, roll: float) -> np.ndarray:
    """(3, 3) rotation world (y up) -> camera (x right, y down, z forward)."""
    forward = target - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    cos, sin = np.cos(roll), np.sin(roll)
    right, down = cos * right + sin * down, -sin * right + cos * down
    return np.stack([right, down, forward])


def virtual_camera(
    rng: np.random.Generator, joints: np.ndarray, config: SynthConfig
) -> tuple[np.ndarray, np.ndarray, float]:
    """Place a camera around the person: -> (T, 17, 3) camera-space metres, (T, 17, 2) screen,
    the focal length in screen units.

    Screen coordinates are VideoPose3D's (x in [-1, 1] across the image width, y scaled alike,
    0 at the centre). The person fills ``person_fraction`` of a random-aspect image and is placed
    off centre when the image leaves room (a shift of the image, not a turn of the camera; with
    ``centre_rays`` the 2D stays a true projection, which centring needs, and where the person
    is in the image does not matter once each frame is turned to them).
    """
    azimuth = rng.uniform(0, 2 * np.pi)
    elevation = np.radians(rng.uniform(*config.elevation_deg))
    distance = rng.uniform(*config.distance_m)
    middle = joints[len(joints) // 2]
    target = middle[0] + np.array([0.0, rng.uniform(-0.2, 0.3), 0.0])
    target[[0, 2]] = middle[:, [0, 2]].mean(axis=0)
    offset = np.array(
        [np.cos(elevation) * np.sin(azimuth), np.sin(elevation), np.cos(elevation) * np.cos(azimuth)]
    )
    position = target + distance * offset
    rotation = look_at(position, target, np.radians(rng.normal(0, config.roll_deg)))
    camera = (joints - position) @ rotation.T
    camera[..., 2] = np.maximum(camera[..., 2], 0.3)  # never behind the camera
    aspect = config.aspects[rng.integers(len(config.aspects))]
    image_height = 2 * aspect  # screen units: the width spans 2
    height_m = np.ptp(middle[:, 1]) + 0.15  # head top to feet, plus the hair and the soles
    focal = rng.uniform(*config.person_fraction) * image_height * distance / max(height_m, 0.5)
    screen = focal * camera[..., :2] / camera[..., 2:]
    extent = screen.max(axis=(0, 1)) - screen.min(axis=(0, 1))
    room = np.maximum(np.array([2.0, image_height]) - extent, 0) / 2
    shift = rng.uniform(-room, room) * 0.8  # drawn either way: the same seed, the same cameras
    if not config.centre_rays:
        screen += shift
    return camera.astype(np.float32), screen.astype(np.float32), float(focal)


def freeze_edges(rng: np.random.Generator, keypoints: np.ndarray, pad: int) -> np.ndarray:
    """Repeat edge frames beyond random cut points, as a short window or zero lookahead does.

    keypoints: (T, K, 2), modified in place. Returns the (T - 2 * pad,) mask of outputs whose own
    frame is not replaced (the others' 2D no longer shows their 3D).
    """
    frames = len(keypoints)
    first = int(rng.integers(0, frames - 2 * pad)) + pad if rng.random() < 0.5 else 0
    last = int(rng.integers(first, frames)) if rng.random() < 0.7 else frames - 1
    last = max(last, pad, first)
    keypoints[:first] = keypoints[first]
    keypoints[last + 1 :] = keypoints[last]
    centres = np.arange(pad, frames - pad)
    return (centres >= first) & (centres <= last)


class SyntheticPairs:
    """Draws training batches: ``(inputs, targets, mask)``.

    inputs: (N, frames, 13, 2) float32 screen coordinates of ``LIFT_KEYPOINTS``.
    targets: (N, frames - 2 * pad, 17, 3) float32 camera-space metres, pelvis at the origin.
    mask: (N, frames - 2 * pad) float32, 1 where the target frame's own 2D was kept.
    """

    def __init__(
        self,
        clips: list[Clip],
        weights: np.ndarray,
        frames: int,
        pad: int,
        noise: DetectorNoise | None,
        seed: int,
        config: SynthConfig | None = None,
    ):
        self.clips, self.weights = clips, weights
        self.frames, self.pad = frames, pad
        self.noise = noise
        self.config = config or SynthConfig()
        self.rng = np.random.default_rng(seed)

    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One (inputs (frames, 13, 2), targets (frames - 2 pad, 17, 3), mask) triple."""
        rng, config = self.rng, self.config
        while True:
            clip = self.clips[rng.choice(len(self.clips), p=self.weights)]
            fps = np.exp(rng.uniform(*np.log(config.fps_range)))
            joints = sample_sequence(rng, clip, self.frames, fps)
            if joints is not None:
                break
        joints = reshape_body(rng, joints, config)
        camera, screen, focal = virtual_camera(rng, joints, config)
        keypoints = screen[:, KEYPOINT_JOINTS]
        if self.noise is not None:
            height = np.ptp(screen[len(screen) // 2, :, 1])
            keypoints = self.noise.apply(rng, keypoints, height, camera=camera)
        mask = np.ones(self.frames - 2 * self.pad, dtype=np.float32)
        if rng.random() < config.edge_freeze_probability:
            mask = freeze_edges(rng, keypoints, self.pad).astype(np.float32)
        targets = camera[self.pad : self.frames - self.pad]
        if config.centre_rays:
            turned, rotations = centre_windows(keypoints[None], np.array([focal]))
            keypoints = turned[0]
            targets = np.einsum("tij,tkj->tki", rotations[0, self.pad : self.frames - self.pad], targets)
            targets = targets.astype(np.float32)
        return keypoints, targets - targets[:, :1], mask

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``size`` samples stacked (see the class docstring)."""
        inputs, targets, masks = zip(*(self.sample() for _ in range(size)), strict=True)
        return np.stack(inputs), np.stack(targets), np.stack(masks)


def body_size(joints: np.ndarray) -> float:
    """Sum of the median SIZE_BONES lengths of (T, 17, 3) joints, metres."""
    return float(np.median(bone_lengths(joints), axis=0)[SIZE_BONES].sum())
