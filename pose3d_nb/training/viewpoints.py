"""Held-out mocap seen through a sweep of virtual cameras: the generalization protocol's data.

Unlike training (``synth.virtual_camera``: a camera somewhere around the person, the person
filling a random share of the image), every camera here is described by the factors a user's
camera has, each drawn uniformly and recorded per sample, so errors can be binned by factor:

- ``view_deg``: where the camera stands relative to the way the person faces (0 frontal,
  90 profile, 180 back), from the hips of the window's middle frame;
- ``pitch_deg``: how far the camera looks down (negative: up) at the person's middle;
- ``roll_deg``: rotation of the camera about its optical axis;
- ``distance_m``: camera to the person's middle;
- ``fov_deg``: field of view on the image's long side;
- ``portrait``: 1 for a 9:16 portrait image, 0 for 16:9 landscape;
- ``offset_deg``: how far from the optical axis the person's pelvis is seen (the camera is
  turned after aiming at them, so they sit anywhere in the central ``offset_fraction`` of the
  image, drawn from a stream of its own: the other factors stay those of the seed);
- ``person_fraction`` (a consequence of distance and field of view, not drawn): the person's
  height on screen over the image height.

The camera aims near the person's middle, so close and narrow cameras cut the body off: those
keypoints are still given (MediaPipe also places off-image keypoints), and ``truncated`` marks
the samples whose centre frame has a keypoint outside the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from pose3d_nb.lifting.keypoints import input_columns, mirror_columns, unmirror_joints
from pose3d_nb.lifting.model import TemporalModel
from pose3d_nb.training.mocap import Clip, sampling_weights
from pose3d_nb.training.noise import DetectorNoise
from pose3d_nb.training.synth import KEYPOINT_JOINTS, SynthConfig, look_at, reshape_body, sample_sequence

_RIGHT_HIP, _LEFT_HIP = 1, 4


@dataclass(frozen=True)
class ViewpointRanges:
    """The ranges every camera factor is drawn from (uniformly), from issue 17's protocol."""

    view_deg: tuple[float, float] = (0.0, 180.0)  # the other side mirrors it (bodies are mirrored)
    pitch_deg: tuple[float, float] = (-20.0, 60.0)
    roll_deg: tuple[float, float] = (-30.0, 30.0)
    distance_m: tuple[float, float] = (1.5, 8.0)
    fov_deg: tuple[float, float] = (40.0, 100.0)
    portrait_probability: float = 0.5
    # Where the person's middle lands, as a fraction of the half image from the centre, per axis
    # (0: always at the centre, as this protocol had it until 2026-12-07).
    offset_fraction: tuple[float, float] = (-0.6, 0.6)


@dataclass(frozen=True)
class ViewSamples:
    """Windows of held-out mocap and the camera factors they were seen with.

    inputs: (N, RF, 13, 2) float32 VideoPose3D screen coordinates, the scored frame in the middle.
    targets: (N, 17, 3) float32 camera-space metres of the middle frame, pelvis at the origin.
    factors: name -> (N,) float64, the names of the module docstring.
    truncated: (N,) bool, a keypoint of the middle frame lies outside the image.
    """

    inputs: np.ndarray
    targets: np.ndarray
    factors: dict[str, np.ndarray] = field(default_factory=dict)
    truncated: np.ndarray | None = None


def facing_azimuth(joints: np.ndarray) -> float:
    """Azimuth (radians, about y up, 0 = +z) of the way a (17, 3) y-up pose faces."""
    right = joints[_RIGHT_HIP] - joints[_LEFT_HIP]
    forward = np.cross([0.0, 1.0, 0.0], right)
    return float(np.arctan2(forward[0], forward[2]))


def view_camera(
    joints: np.ndarray, view_deg: float, pitch_deg: float, roll_deg: float, distance_m: float,
    fov_deg: float, portrait: bool, aim_offset: tuple[float, float] = (0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray, bool, float]:  # fmt: skip
    """A camera with the given factors looking at (T, 17, 3) y-up ``joints``.

    ``aim_offset``: the camera is then turned so the person's middle lands this far from the image
    centre, as fractions of the half width and half height (no roll added).

    Returns camera-space metres (T, 17, 3), screen coordinates (T, 17, 2) (x in [-1, 1] across
    the width), whether the middle frame has a keypoint outside the image, and the middle
    frame's height on screen as a fraction of the image height.
    """
    middle = joints[len(joints) // 2]
    target = middle[0] + np.array([0.0, 0.1, 0.0])
    azimuth = facing_azimuth(middle) + np.radians(view_deg)
    pitch = np.radians(pitch_deg)
    offset = np.array([np.cos(pitch) * np.sin(azimuth), np.sin(pitch), np.cos(pitch) * np.cos(azimuth)])
    position = target + distance_m * offset
    rotation = look_at(position, target, np.radians(roll_deg))
    aspect = 16 / 9 if portrait else 9 / 16  # height / width
    half_long = max(1.0, aspect)  # the width spans 2 screen units
    focal = half_long / np.tan(np.radians(fov_deg) / 2)
    if any(aim_offset):  # turn the camera: the ray to the person's middle goes through the offset point
        from pose3d_nb.lifting.rays import rotation_to_axis

        turn = rotation_to_axis(np.array([aim_offset[0] / focal, aim_offset[1] * aspect / focal, 1.0]))
        rotation = turn.T @ rotation
    camera = (joints - position) @ rotation.T
    camera[..., 2] = np.maximum(camera[..., 2], 0.1)  # never behind the camera
    screen = focal * camera[..., :2] / camera[..., 2:]
    centre = screen[len(screen) // 2, KEYPOINT_JOINTS]
    truncated = bool((np.abs(centre[:, 0]) > 1).any() or (np.abs(centre[:, 1]) > aspect).any())
    fraction = float(np.ptp(screen[len(screen) // 2, :, 1]) / (2 * aspect))
    return camera.astype(np.float32), screen.astype(np.float32), truncated, fraction


def sample_viewpoints(
    clips: list[Clip],
    receptive_field: int,
    count: int,
    noise: DetectorNoise | None,
    seed: int = 2024,
    ranges: ViewpointRanges | None = None,
) -> ViewSamples:
    """``count`` seeded windows of the held-out ``clips`` through random cameras of ``ranges``."""
    ranges = ranges or ViewpointRanges()
    rng = np.random.default_rng(seed)
    config = SynthConfig()
    held = [c for c in clips if c.held_out]
    weights = sampling_weights(held, receptive_field * 3)
    inputs, targets, truncated = [], [], []
    names = ("view_deg", "pitch_deg", "roll_deg", "distance_m", "fov_deg")
    factors: dict[str, list[float]] = {name: [] for name in (*names, "portrait", "person_fraction",
                                                             "offset_deg")}
    aim = np.random.default_rng([seed, 1])  # the offsets' own stream: the rest stays the seed's
    middle = receptive_field // 2
    while len(inputs) < count:
        clip = held[rng.choice(len(held), p=weights)]
        joints = sample_sequence(rng, clip, receptive_field, np.exp(rng.uniform(*np.log(config.fps_range))))
        if joints is None:
            continue
        joints = reshape_body(rng, joints, config)
        drawn = {name: rng.uniform(*getattr(ranges, name)) for name in names}
        portrait = bool(rng.random() < ranges.portrait_probability)
        offset = (aim.uniform(*ranges.offset_fraction), aim.uniform(*ranges.offset_fraction))
        camera, screen, cut, fraction = view_camera(joints, **drawn, portrait=portrait, aim_offset=offset)
        keypoints = screen[:, KEYPOINT_JOINTS]
        if noise is not None:
            keypoints = noise.apply(rng, keypoints, float(np.ptp(screen[middle, :, 1])), camera=camera)
        inputs.append(keypoints)
        targets.append(camera[middle] - camera[middle, :1])
        truncated.append(cut)
        for name in names:
            factors[name].append(drawn[name])
        factors["portrait"].append(float(portrait))
        factors["person_fraction"].append(fraction)
        pelvis = camera[middle, 0].astype(np.float64)
        factors["offset_deg"].append(float(np.degrees(np.arccos(pelvis[2] / np.linalg.norm(pelvis)))))
    return ViewSamples(
        np.stack(inputs).astype(np.float32),
        np.stack(targets).astype(np.float32),
        {name: np.asarray(values) for name, values in factors.items()},
        np.asarray(truncated),
    )


def engine_inputs(samples: ViewSamples, zoom: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``samples``' windows as the engine shows them to zoomed weights (the shipped lifter): each
    frame's rays turned to the person with the default lens (``lifting.rays``; the engine's lens
    when none is given), then zoomed (``lifting.zoom``); ``zoom`` False: as framed, neither.

    Returns the (N, RF, 13, 2) inputs and the (N, 3, 3) rotation of each window's scored (middle)
    frame, which turns the lifted pose back into the camera's axes (identity when not turned).
    """
    from pose3d_nb.lifting.rays import centre_windows
    from pose3d_nb.lifting.zoom import zoom_windows
    from pose3d_nb.world.intrinsics import DEFAULT_FOV_DEG

    if not zoom:
        return samples.inputs, np.broadcast_to(np.eye(3), (len(samples.inputs), 3, 3))
    half_long = np.where(samples.factors["portrait"] > 0.5, 16 / 9, 1.0)  # the width spans 2
    focal = half_long / np.tan(np.radians(DEFAULT_FOV_DEG) / 2)
    centred, rotations = centre_windows(samples.inputs, focal)
    return zoom_windows(centred), rotations[:, samples.inputs.shape[1] // 2]


@torch.no_grad()
def lift_windows(
    model: TemporalModel, inputs: np.ndarray, window: int = 0, lookahead: int = 0, batch: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """The middle frame of each window, lifted as the streaming lifter would, both flip branches.

    inputs: (N, RF, K, 2) screen coordinates. Frames beyond the lookahead and before the window
    are replaced by the edge frames, as ``StreamingLifter`` pads them. Returns (plain, flipped)
    (N, 17, 3) camera-space metres, pelvis-relative; ``flipped`` is the mirrored input's output
    mirrored back (the flip average is their mean, the flip spread their distance).
    """
    pad = model.arch.pad
    newest = pad + min(lookahead, pad)
    first = max(min(pad, newest - window + 1), 0) if window else 0
    frozen = inputs.copy()
    frozen[:, newest + 1 :] = frozen[:, newest : newest + 1]
    frozen[:, :first] = frozen[:, first : first + 1]
    mirror = mirror_columns(input_columns(model.arch.num_joints_in))
    mirrored = np.ascontiguousarray(frozen[:, :, mirror] * np.array([-1, 1], np.float32))
    plain, flipped = [], []
    for start in range(0, len(frozen), batch):
        plain.append(model(torch.from_numpy(frozen[start : start + batch]))[:, 0].numpy())
        other = model(torch.from_numpy(mirrored[start : start + batch]))[:, 0].numpy()
        flipped.append(unmirror_joints(other))
    plain_joints, flipped_joints = np.concatenate(plain), np.concatenate(flipped)
    return plain_joints - plain_joints[:, :1], flipped_joints - flipped_joints[:, :1]
