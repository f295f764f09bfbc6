"""The live lifter the engine drives: one Detection in, world-space 3D poses out."""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pose3d_nb.lifting.checkpoint import load_model, trained_zoom_height
from pose3d_nb.lifting.fusion import fuse_world_landmarks
from pose3d_nb.lifting.model import TemporalModel
from pose3d_nb.lifting.protocol import LiftedPose, LiftSettings, to_world
from pose3d_nb.lifting.rays import RayCentring, turn_back
from pose3d_nb.lifting.streaming import StreamingLifter, StreamOutput
from pose3d_nb.lifting.zoom import ScreenZoom

if TYPE_CHECKING:
    from pose3d_nb.detectors.detection import Detection

__all__ = ["LiftedPose", "VideoPose3DLifter", "to_world"]

#: The rate a slow source's 2D is resampled to before lifting (``VideoPose3DLifter(resample=)``):
#: the network is trained on windows at 24-60 fps. On held-out mocap (40 clips of seed 41 through
#: random cameras, the same 3 s of motion at 60 fps with every k-th frame kept, lifted as the
#: engine does; /work/s35/upsample.py, a script outside the repository) PA-MPJPE was 67.0 / 67.8 /
#: 68.9 / 70.1 / 71.8 mm at 60 / 30 / 20 / 15 / 10 fps as seen, and 67.8 at 15 and at 10 fps
#: with the 2D interpolated to 30 fps.
RESAMPLE_FPS = 30.0
#: Frames further apart than this (seconds: a pause, a stalled camera) are not bridged.
RESAMPLE_MAX_GAP_S = 0.25


class VideoPose3DLifter:
    """A VideoPose3D checkpoint run frame by frame (see ``StreamingLifter``), world output.

    ``world_landmark_weight`` > 0 averages each pose with the detection's own 3D landmarks
    (MediaPipe's ``world_landmarks``) after lifting (see ``lifting.fusion``); frames whose
    detection has none are the lifter's alone. ``label``: what to call the weights in ``name``.
    """

    requires: frozenset[str] = frozenset()  # fusion uses world landmarks when given, never needs them
    temporal = True
    hint = ""

    def __init__(
        self,
        checkpoint: str | Path | TemporalModel,
        settings: LiftSettings | None = None,
        causal: bool = False,
        world_landmark_weight: float = 0.0,
        label: str | None = None,
        zoom_height: float | None = None,
        lean_bias: Any = None,
        centre_rays: bool | None = None,
        resample: bool | None = None,
    ):
        """``checkpoint``: a file (loaded safely) or an already built model (e.g. for benchmarks).

        ``zoom_height``: zoom the 2D so the person is this tall in screen units (``lifting.zoom``;
        the shipped lifter's choice), or None: a file is then zoomed as its meta says it was
        trained (``checkpoint.trained_zoom_height``), a model or other weights lift the
        keypoints as they are.

        ``lean_bias``: a ``world.lean.LeanBias`` measured on these weights, for the world stage
        to turn back out (the shipped lifter's); None for weights without one.

        ``centre_rays``: lift each frame as a camera turned to look at the person would see it,
        and turn the pose back (``lifting.rays``; the lens from ``set_lens``, else the default
        field of view); None: whenever the 2D is zoomed (the shipped lifter), since weights
        lifting the framing as given (the official checkpoints) are kept exactly as published.

        ``resample``: a source slower than the network's training rates (two found frames more
        than 1.5 steps of ``RESAMPLE_FPS`` and at most ``RESAMPLE_MAX_GAP_S`` apart, by their
        timestamps) has its 2D linearly interpolated between them at ``RESAMPLE_FPS`` and lifted
        so, each frame's own pose the one given back; window and lookahead then count those
        steps. None: whenever the 2D is zoomed, as ``centre_rays``.
        """
        self.lean_bias = lean_bias
        if isinstance(checkpoint, TemporalModel):
            model, self.checkpoint = checkpoint, None
        else:
            self.checkpoint = Path(checkpoint)
            model = load_model(self.checkpoint, causal=causal)
            if zoom_height is None:
                zoom_height = trained_zoom_height(self.checkpoint)
        self.world_landmark_weight = float(world_landmark_weight)
        self._label = label
        self._stream = StreamingLifter(model)
        self._zoom = ScreenZoom(zoom_height) if zoom_height else None
        centre = bool(zoom_height) if centre_rays is None else centre_rays
        self._centring = RayCentring() if centre else None
        self._resample = bool(zoom_height) if resample is None else bool(resample)
        self._previous: tuple[float, np.ndarray] | None = None  # the last found frame's time and 2D
        # Fusion weighs the lifter by its flip spread: compute the mirrored branch even without flip.
        self._stream.measure_flip_spread = self.world_landmark_weight > 0
        if settings is not None:
            self.settings = settings
        # What each pushed frame came with (its detection, frame, keypoints as lifted, the turn
        # of the rays or None, and its number among the frames given), oldest first: poses are
        # answered in push order. A 2D sample interpolated for a slow source has no detection.
        self._pushed: deque[tuple[Detection | None, Any, Any, Any, int]] = deque()
        self._first_position = 0
        self._given = 0  # frames given to ``push``

    @property
    def name(self) -> str:
        weights = self._label or (self.checkpoint.name if self.checkpoint else "in-memory model")
        fused = ", fused with MediaPipe's 3D" if self.world_landmark_weight else ""
        return f"VideoPose3D (receptive field {self.receptive_field}, {weights}{fused})"

    @property
    def receptive_field(self) -> int:
        return self._stream.receptive_field

    @property
    def max_lookahead(self) -> int:
        return self._stream.max_lookahead

    @property
    def settings(self) -> LiftSettings:
        """Window, lookahead and flip (see ``LiftSettings``); assigning checks the new ones."""
        return self._stream.settings

    @settings.setter
    def settings(self, value: LiftSettings) -> None:
        self._stream.settings = value

    def set_lens(self, camera: Any = None, fov: float | None = None, focal: float | None = None) -> None:
        """The camera's lens (``camera=``, ``fov=``, ``focal=`` as ``PoseEngine`` takes them, already
        checked), used to turn each frame's rays to the person; None of them: the default field of
        view. Weights that lift the framing as given ignore it."""
        if self._centring is not None:
            self._centring.set_lens(camera, fov, focal)

    def reset(self) -> None:
        """Forget all frames (new source)."""
        self._stream.reset()
        if self._zoom is not None:
            self._zoom.reset()
        if self._centring is not None:
            self._centring.reset()
        self._pushed.clear()
        self._first_position = 0
        self._given = 0
        self._previous = None

    def push(self, detection: Detection, frame: Any = None) -> list[LiftedPose]:
        """Add one frame's detection; returns the poses that became due (usually one)."""
        poses = []
        for keypoints in self._in_between(detection):
            poses += self._push_2d(None, None, keypoints, detection.frame_size)
        self._given += 1
        poses += self._push_2d(detection, frame, detection.keypoints, detection.frame_size)
        return poses

    def _in_between(self, detection: Detection) -> list[np.ndarray]:
        """The 2D samples a slow source lacks between the last found frame and ``detection``
        (``resample``), oldest first; none for a fast enough source or across a missing frame."""
        if not self._resample:
            return []
        previous = self._previous
        self._previous = (detection.timestamp, detection.keypoints) if detection.found else None
        if previous is None or not detection.found:
            return []
        seconds = detection.timestamp - previous[0]
        if not (math.isfinite(seconds) and 0 < seconds <= RESAMPLE_MAX_GAP_S):
            return []
        steps = int(seconds * RESAMPLE_FPS + 0.5)
        if steps < 2:
            return []
        before, now = np.asarray(previous[1], np.float32), np.asarray(detection.keypoints, np.float32)
        return [before + (now - before) * (step / steps) for step in range(1, steps)]

    def _push_2d(self, detection: Detection | None, frame: Any, keypoints: np.ndarray,
                 frame_size: tuple[int, int]) -> list[LiftedPose]:
        rotation = None
        if self._centring is not None:
            keypoints, rotation = self._centring(keypoints, frame_size)
        self._pushed.append((detection, frame, keypoints, rotation, self._given - 1))
        if self._zoom is not None:
            keypoints = self._zoom(keypoints, frame_size)
        return self._convert(self._stream.push(keypoints, frame_size))

    def flush(self) -> list[LiftedPose]:
        """Poses still held back by the lookahead (end of a file)."""
        return self._convert(self._stream.flush())

    def _convert(self, outputs: list[StreamOutput]) -> list[LiftedPose]:
        poses = []
        for output in outputs:
            while self._first_position < output.frame:
                self._pushed.popleft()
                self._first_position += 1
            detection, frame, keypoints, rotation, number = self._pushed[0]
            if detection is None:  # a sample interpolated for a slow source: not a frame of its own
                continue
            joints = output.joints
            if self.world_landmark_weight and output.valid:
                joints = fuse_world_landmarks(
                    joints,
                    detection.extras.get("world_landmarks"),
                    self.world_landmark_weight,
                    keypoints=keypoints,  # as lifted: the residual compares the pose with its own view
                    flip_spread=output.flip_spread,
                )
            if rotation is not None:
                joints = turn_back(joints, rotation)
            # The frames given after it (not the samples interpolated between them).
            world, delay = to_world(joints), self._given - 1 - number
            poses.append(
                LiftedPose(detection.frame_index, world, output.valid, delay, detection, frame, joints)
            )
        return poses
