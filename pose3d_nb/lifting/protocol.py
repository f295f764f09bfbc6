"""What every lifter is: its settings, its interface, and what it returns.

A lifter takes one frame's 2D detection per ``push`` and answers with the ``LiftedPose``s that
became due (usually one; none while a lookahead fills). The engine and ``Pose3D`` drive any
object with this shape: ``VideoPose3DLifter`` (a temporal network) and ``MediaPipeWorldLifter``
(MediaPipe's own per-frame 3D) are the two shipped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from pose3d_nb.errors import Pose3DTypeError, Pose3DValueError
from pose3d_nb.lifting.world import camera_to_world, rebase_floor

if TYPE_CHECKING:
    from pose3d_nb.detectors.detection import Detection



@dataclass(frozen=True)
class LiftSettings:
    """The temporal knobs, checked once here.

    window: frames of 2D history a prediction may use (0 = all up to the receptive field).
    lookahead: output delay in frames (future context; 0 = the newest frame).
    flip: test-time flip augmentation (average with the mirrored input; about 2x lifter cost);
    True or False (1 and 0 are taken too).
    A new object replaces the old one as a whole, so a lifter's worker thread always reads a
    consistent triple.
    """

    window: int = 0
    lookahead: int = 0
    flip: bool = False

    def __post_init__(self) -> None:
        for name in ("window", "lookahead"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise Pose3DValueError(f"{name} must be a whole number of frames, got {value!r}")
            if value < 0:
                raise Pose3DValueError(f"{name} must be >= 0, got {value}")
            object.__setattr__(self, name, int(value))
        flip = self.flip
        # bool("no") is True: only a truth value (or 0/1) is taken, never text or None
        if not isinstance(flip, (bool, np.bool_)) and not (
                isinstance(flip, (int, np.integer)) and flip in (0, 1)):
            raise Pose3DValueError(f"flip must be True or False, got {flip!r}")
        object.__setattr__(self, "flip", bool(flip))

    def replace(self, **changes: Any) -> LiftSettings:
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)

    def check_for(self, max_lookahead: int, receptive_field: int | None) -> LiftSettings:
        """Raise ``ValueError`` when a lifter with these limits cannot honour the settings (a
        lookahead beyond what it can see, a window longer than its receptive field)."""
        if self.lookahead > max_lookahead:
            if receptive_field is None:
                raise Pose3DValueError(
                    "lookahead needs a temporal lifter; MediaPipe's per-frame 3D has no future context"
                )
            raise Pose3DValueError(
                f"lookahead must be between 0 and {max_lookahead} frames for receptive field "
                f"{receptive_field}, got {self.lookahead}"
            )
        if receptive_field is not None and self.window > receptive_field:
            raise Pose3DValueError(
                f"window must be between 0 and {receptive_field} frames (the lifter's receptive field; "
                f"0 = all of it), got {self.window}"
            )
        return self


def lift_knob(name: str, doc: str) -> property:
    """A property for one field ``name`` of ``LiftSettings`` (window, lookahead, flip) on an object
    with a ``lift_settings`` property (``PoseEngine``, ``Pose3D``): read from it, and assigned as a
    new ``LiftSettings`` with that field replaced, which the lifter checks."""

    def get(self: Any) -> Any:
        return getattr(self.lift_settings, name)

    def put(self: Any, value: Any) -> None:
        self.lift_settings = self.lift_settings.replace(**{name: value})

    get.__doc__ = doc  # the property's docstring, as a written-out getter's is
    return property(get, put)


class HoldsSettings:
    """The ``settings`` property of a lifter: a ``LiftSettings`` checked against the lifter's
    ``max_lookahead`` and ``receptive_field`` whenever one is assigned."""

    _settings: LiftSettings = LiftSettings()
    max_lookahead: int
    receptive_field: int | None

    @property
    def settings(self) -> LiftSettings:
        """Window, lookahead and flip as one object (see ``LiftSettings``)."""
        return self._settings

    @settings.setter
    def settings(self, value: LiftSettings) -> None:
        if not isinstance(value, LiftSettings):  # engine.lift_settings = 3 raised a bare AttributeError
            raise Pose3DTypeError(
                f"lift settings must be a LiftSettings, got {value!r}; change one knob by assigning "
                "window, lookahead or flip, or give settings.replace(window=...)"
            )
        self._settings = value.check_for(self.max_lookahead, self.receptive_field)


@dataclass(frozen=True)
class LiftedPose:
    """One frame's 3D pose, carrying the detection (and frame) it was lifted from.

    frame_index: the source frame's index. joints: (17, 3) world metres, z up, lowest joint at
    z = 0 (NaN only with ``valid`` False). valid: the frame had a detection. latency_frames: how
    many later frames were seen before this pose was produced. detection: the 2D result of this
    very frame. frame: whatever the caller passed to ``push`` with it (the engine passes the
    source ``Frame``), else None. joints_camera: (17, 3) the same pose in the camera's axes
    (x right, y down, z forward), pelvis at the origin, metres, before ``to_world`` (what
    ``pose3d_nb.world`` places in the room); None from lifters that do not give it.
    """

    frame_index: int
    joints: np.ndarray
    valid: bool
    latency_frames: int
    detection: Detection
    frame: Any = None
    joints_camera: np.ndarray | None = None


@runtime_checkable
class Lifter(Protocol):
    """2D detections in, world-space 3D poses out, one frame per ``push``.

    name: what to show a person. temporal: uses a window of frames (the window, lookahead and
    flip controls mean something). receptive_field: frames the network can see (None: per
    frame). max_lookahead: the largest useful lookahead. hint: a note for the UI ("" if none).
    requires: detector capabilities it cannot run without (``lifting.registry``), e.g.
    ``{"world_landmarks"}`` for MediaPipe's per-frame 3D.
    settings: the current ``LiftSettings``; assigning a new one checks it against the limits.
    A lifter may also carry ``lean_bias`` (a ``world.lean.LeanBias`` measured on its weights),
    which the world stage turns back out of its poses; without it they are placed as lifted.
    """

    name: str
    temporal: bool
    requires: frozenset[str]
    receptive_field: int | None
    max_lookahead: int
    hint: str
    settings: LiftSettings

    def reset(self) -> None:
        """Forget every frame (a new source, another person)."""

    def push(self, detection: Detection, frame: Any = None) -> list[LiftedPose]:
        """Add one frame's detection; the poses that became due, oldest first."""

    def flush(self) -> list[LiftedPose]:
        """Poses still held back by the lookahead (end of the input)."""


class WindowBreaks:
    """Where a lifter's temporal window must restart, so that one window never mixes two.

    A new source segment, another person (a new ``track_id`` in the detection's extras; a frame
    without a person keeps the current one), a new image size (a browser camera may renegotiate
    it) or a frame index going back (a looping file's next pass: the person is back where the
    clip began) each break the window. The engine and ``Pose3D`` both ask this before every push.
    """

    def __init__(self) -> None:
        self._current: tuple[Any, Any, Any] | None = None  # (segment, track, frame size)
        self._index: int | None = None
        #: True when the last break was only another person followed (same segment, image size
        #: and pass): everyone's paths in the room go on.
        self.person_only = False

    def breaks_at(self, detection: Detection, segment: int = 0) -> bool:
        """True when ``detection`` (of source segment ``segment``) starts a new window."""
        track = detection.extras.get("track_id") if detection.found else (
            self._current[1] if self._current else None)
        current = (segment, track, detection.frame_size)
        again = self._index is not None and detection.frame_index < self._index
        previous = self._current
        broken, self._current, self._index = current != previous or again, current, detection.frame_index
        self.person_only = bool(broken and not again and previous is not None
                                and (previous[0], previous[2]) == (segment, detection.frame_size))
        return broken

    def reset(self) -> None:
        """Forget the current window (the next detection breaks)."""
        self._current = self._index = None


def to_world(joints_cam: np.ndarray) -> np.ndarray:
    """(17, 3) camera space -> (17, 3) world, z up, this frame's lowest joint on the floor."""
    return rebase_floor(camera_to_world(joints_cam)[None], per_frame=True)[0]
