"""The live lifter the engine drives: one Detection in, world-space 3D poses out."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_nb.detectors.detection import Detection
from pose3d_nb.lifting.checkpoint import load_model
from pose3d_nb.lifting.model import TemporalModel
from pose3d_nb.lifting.streaming import StreamingLifter, StreamOutput
from pose3d_nb.lifting.world import camera_to_world, rebase_floor


@dataclass(frozen=True)
class LiftedPose:
    """One frame's 3D pose as the engine records it.

    frame_index: the source frame's index. joints: (17, 3) world metres, z up, lowest joint at
    z = 0 (NaN only with ``valid`` False). valid: the frame had a detection. latency_frames: how
    many later frames were seen before this pose was produced.
    """

    frame_index: int
    joints: np.ndarray
    valid: bool
    latency_frames: int


def to_world(joints_cam: np.ndarray) -> np.ndarray:
    """(17, 3) camera space -> (17, 3) world, z up, this frame's lowest joint on the floor."""
    return rebase_floor(camera_to_world(joints_cam)[None], per_frame=True)[0]


class VideoPose3DLifter:
    """A VideoPose3D checkpoint run frame by frame (see ``StreamingLifter``), world output."""

    is_fallback = False
    temporal = True
    hint = ""

    def __init__(
        self,
        checkpoint: str | Path | TemporalModel,
        window: int = 0,
        lookahead: int = 0,
        flip: bool = False,
        causal: bool = False,
    ):
        """``checkpoint``: a file (loaded safely) or an already built model (e.g. for benchmarks)."""
        if isinstance(checkpoint, TemporalModel):
            model, self.checkpoint = checkpoint, None
        else:
            self.checkpoint = Path(checkpoint)
            model = load_model(self.checkpoint, causal=causal)
        self._stream = StreamingLifter(model, window, lookahead, flip)
        self._frame_indices: deque[int] = deque()
        self._first_position = 0

    @property
    def name(self) -> str:
        weights = self.checkpoint.name if self.checkpoint else "in-memory model"
        return f"VideoPose3D (receptive field {self.receptive_field}, {weights})"

    @property
    def receptive_field(self) -> int:
        return self._stream.receptive_field

    @property
    def max_lookahead(self) -> int:
        return self._stream.max_lookahead

    @property
    def window(self) -> int:
        return self._stream.window

    @window.setter
    def window(self, value: int) -> None:
        self._stream.window = value

    @property
    def lookahead(self) -> int:
        return self._stream.lookahead

    @lookahead.setter
    def lookahead(self, value: int) -> None:
        self._stream.lookahead = value

    @property
    def flip(self) -> bool:
        return self._stream.flip

    @flip.setter
    def flip(self, value: bool) -> None:
        self._stream.flip = bool(value)

    def reset(self) -> None:
        """Forget all frames (new source)."""
        self._stream.reset()
        self._frame_indices.clear()
        self._first_position = 0

    def push(self, detection: Detection) -> list[LiftedPose]:
        """Add one frame's detection; returns the poses that became due (usually one)."""
        self._frame_indices.append(detection.frame_index)
        return self._convert(self._stream.push(detection.keypoints, detection.frame_size))

    def flush(self) -> list[LiftedPose]:
        """Poses still held back by the lookahead (end of a file)."""
        return self._convert(self._stream.flush())

    def _convert(self, outputs: list[StreamOutput]) -> list[LiftedPose]:
        poses = []
        for output in outputs:
            while self._first_position < output.frame:
                self._frame_indices.popleft()
                self._first_position += 1
            poses.append(
                LiftedPose(
                    self._frame_indices[0], to_world(output.joints), output.valid, output.latency_frames
                )
            )
        return poses
