"""``Pose3D``: the synchronous front door, frames in, 3D poses out, no threads.

For a script that wants 3D from its own frames (its own camera loop, a batch of images)::

    from pose3d_nb import Pose3D

    with Pose3D() as pose3d:
        for image in images:                     # (H, W, 3) uint8 RGB
            for result in pose3d.process(image): # the poses that became due, usually one
                use(result)
        for result in pose3d.flush():            # the poses the lookahead still held back
            use(result)

It runs the same detector (``detectors.create_detector``) and lifter
(``lifting.choice.choose_lifter``) objects the background ``PoseEngine`` runs, in the caller's
thread, and starts a fresh temporal window where the engine does (another person, another image
size), so on the same frames it gives what the engine shows live (its buffer). The engine's
recording of a video file is then placed again from the whole clip (``world.recorded``): the
same poses, elsewhere in the room.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pose3d_nb.buffer import RowPlacement
from pose3d_nb.detectors.detection import checked_detection
from pose3d_nb.errors import Pose3DRuntimeError, Pose3DValueError
from pose3d_nb.lifting.protocol import LiftSettings, WindowBreaks, lift_knob
from pose3d_nb.settings import FROM_SETTINGS, Settings, keyword_only_after, merge
from pose3d_nb.sources.frame import Frame
from pose3d_nb.values import is_positive_number
from pose3d_nb.world import WorldStage

if TYPE_CHECKING:
    from pose3d_nb.lifting.choice import LifterInfo

__all__ = ["Pose3D", "PoseResult", "as_frame"]


@dataclass(frozen=True)
class PoseResult:
    """One frame's pose.

    Attributes:
        frame_index: the frame this pose belongs to (with ``lookahead`` L > 0 it is the frame
            given L calls earlier: the pose trails the input).
        keypoints_2d: (17, 2) COCO keypoints in pixels of that frame (NaN where nobody was found).
        scores: (17,) keypoint confidences in [0, 1].
        joints_3d: (17, 3) Human3.6M joints, world metres: z up, one floor at z = 0, the camera
            at (0, 0, its height) (``pose3d_nb.world``); NaN before anyone was placed. On a
            frame where nobody was found (``valid`` False) the last pose is held, as in the
            engine's buffer: check ``valid`` before measuring angles or speeds.
        valid: the frame had a detection.
        joints_camera: (17, 3) the same joints in the camera's axes (x right, y down, z forward),
            metres, root translation included; None from a lifter without camera-frame output.
        scores_2d: ``scores`` under the name the buffer, ``BufferSnapshot`` and ``session.npz``
            give the column (read-only).
    """

    frame_index: int
    keypoints_2d: np.ndarray
    scores: np.ndarray
    joints_3d: np.ndarray
    valid: bool
    joints_camera: np.ndarray | None = None

    @property
    def scores_2d(self) -> np.ndarray:
        """(17,) keypoint confidences: ``scores``, named as a recording's column is."""
        return self.scores


def as_frame(image: Any, index: int, timestamp: float) -> Frame:
    """A numpy RGB image as a :class:`Frame`; a Frame is returned as is.

    Args:
        image: an (H, W, 3) uint8 RGB array, or a ``Frame``.
        index: the frame index given to an array.
        timestamp: seconds, given to an array.

    Raises:
        Pose3DValueError: ``image`` is not an (H, W, 3) uint8 array or a Frame.
    """
    if isinstance(image, Frame):
        return image
    if not isinstance(image, np.ndarray):
        raise Pose3DValueError(
            f"expected an (H, W, 3) uint8 RGB numpy array or a Frame, got {type(image).__name__}"
        )
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise Pose3DValueError(f"expected an (H, W, 3) RGB image, got an array of shape {image.shape}")
    if image.dtype != np.uint8:
        raise Pose3DValueError(f"expected a uint8 image (0-255), got dtype {image.dtype}")
    now = time.monotonic()
    return Frame(image=np.ascontiguousarray(image), index=index, timestamp=timestamp, captured_at=now)


def _checked_fps(fps: Any) -> float | None:
    """``fps`` as a positive float, or None (a zero or negative rate would stamp frames 0 and
    1 at the same or a reversed time)."""
    if fps is None:
        return None
    if not is_positive_number(fps):
        raise Pose3DValueError(f"fps must be a positive number of frames per second or None, got {fps!r}")
    return float(fps)


class Pose3D:
    """2D detection and 3D lifting frame by frame, in the caller's thread.

    ``Pose3D(settings=Settings(...), **overrides)``: as for ``PoseEngine``, the keywords given
    override ``settings`` (``pose3d_nb.settings.DEFAULTS`` when none is given); its source,
    capacity and out_dir are not used here. Only ``lifter`` is taken by position; the rest by
    keyword, as ``PoseEngine`` takes them (by position: deprecated, with a warning).

    Args:
        lifter: what ``lifting.choice.choose_lifter`` takes: "auto" (the official checkpoint in
            model/ if present, else the shipped mocap lifter), "shipped", "mediapipe", a
            checkpoint path or a ``TemporalModel``; or an already built lifter object.
        detector: a registered 2D detector name ("mediapipe", the default; "mediapipe-lite",
            "mediapipe-heavy", "mediapipe-people", "detectron2", any added with
            ``register_detector``: ``detectors.registry.known_detectors()`` lists them) or a
            detector object (used, never closed here).
        window: frames the lifter may use per pose (0 = its whole receptive field).
        lookahead: frames each pose waits for future context (the output trails the input).
            Both count 1/30 s steps rather than frames for the shipped lifter on a source
            slower than 20 fps (``Settings``); give ``fps=`` for frames from a file, or the
            timestamps, and so the steps, follow the machine's speed.
        flip: test-time flip augmentation (average with the mirrored input).
        fps: for numpy images, frame i gets timestamp ``i / fps`` (the detector's person
            following uses it); None stamps each image with ``time.monotonic()`` when it
            arrives, like a live camera.
        detector_options: passed to ``create_detector`` with a detector name.
        settings: the base choices (default ``DEFAULTS``).
        follow: whom to follow among several people ("largest", "centre", "most-moving", a
            track id, "X,Y" pixels; see ``detectors.follow``); with "mediapipe" (or
            "mediapipe-lite", "mediapipe-heavy") it runs "mediapipe-people" with that landmark
            model, which tracks people from image to image (for unrelated still images, call
            ``reset()`` between them, or pass None). "auto" (the default): "largest" where the
            detector can see everyone (those three too). None or "none": the single-person
            detector's own choice.
        camera, fov, focal, height: the lens (calibration file or ``Intrinsics``, degrees, pixels)
            and the person's height in metres, for the world placement (``pose3d_nb.world``).

    Raises:
        Pose3DValueError: a knob out of the lifter's range, an fps that is not a positive
            number, or a lifter that needs what the detector does not give (MediaPipe's 3D needs
            MediaPipe's world landmarks).
    """

    @keyword_only_after("Pose3D", 2, ("detector", "window", "lookahead", "flip", "fps", "detector_options"))
    def __init__(
        self,
        lifter: Any = FROM_SETTINGS,
        *,
        detector: Any = FROM_SETTINGS,
        window: int = FROM_SETTINGS,
        lookahead: int = FROM_SETTINGS,
        flip: bool = FROM_SETTINGS,
        fps: float | None = None,
        detector_options: dict[str, Any] | None = None,
        settings: Settings | None = None,
        follow: Any = FROM_SETTINGS,
        camera: Any = None,
        fov: float | None = None,
        focal: float | None = None,
        height: float | None = None,
    ) -> None:
        chosen = merge(settings, lifter=lifter, detector=detector, window=window, lookahead=lookahead,
                       flip=flip, follow=follow)
        fps = _checked_fps(fps)
        self._lifter = self._make_lifter(chosen["lifter"])
        self._lifter.settings = LiftSettings(chosen["window"], chosen["lookahead"], chosen["flip"])
        self._world = WorldStage(camera, fov, focal, height, fps or 30.0,
                                 lean=getattr(self._lifter, "lean_bias", None))
        from pose3d_nb.lifting.choice import give_lens

        # After the world stage checked the lens; a lifter object passed in keeps its own unless
        # a lens is given here.
        if self._lifter is not chosen["lifter"] or any(v is not None for v in (camera, fov, focal)):
            give_lens(self._lifter, camera, fov, focal)
        from pose3d_nb.detectors import detector_from
        from pose3d_nb.detectors.follow import with_follow

        spec, detector_options = with_follow(chosen["detector"], chosen["follow"], detector_options)
        self._detector, self._owns_detector = detector_from(spec, detector_options)
        from pose3d_nb.detectors import detector_provides
        from pose3d_nb.lifting.registry import require_capabilities

        try:
            # A name is checked against its registry entry, an object against its own ``provides``.
            require_capabilities(self._lifter, detector_provides(spec), spec)
        except ValueError:
            self.close()
            raise
        self.fps = fps
        self._next_index = 0
        self._breaks = WindowBreaks()

    @staticmethod
    def _make_lifter(spec: Any):
        if hasattr(spec, "push") and hasattr(spec, "flush"):
            return spec
        from pose3d_nb.lifting.choice import choose_lifter

        return choose_lifter(spec)

    @property
    def lifter(self):
        """The lifter object (its ``name``, ``receptive_field``, ``settings``)."""
        return self._lifter

    @property
    def detector(self):
        """The 2D detector object."""
        return self._detector

    @property
    def lifter_info(self) -> LifterInfo:
        """Which lifter runs and what it supports, as ``engine.lifter_info`` says it."""
        from pose3d_nb.lifting.choice import describe_lifter

        return describe_lifter(self._lifter)

    # The temporal knobs change between frames as the engine's do while it runs (``engine.window
    # = 9``): they were plain attributes here, and assigning one changed nothing.
    @property
    def lift_settings(self) -> LiftSettings:
        """Window, lookahead and flip as one object; assigning one checks it against the lifter."""
        return self._lifter.settings

    @lift_settings.setter
    def lift_settings(self, value: LiftSettings) -> None:
        self._lifter.settings = value

    window = lift_knob(
        "window", "Frames the lifter may use per pose (0 = its whole receptive field); assignable.")
    lookahead = lift_knob(
        "lookahead", "Frames each pose waits for future context; assignable (from the next frame on).")
    flip = lift_knob("flip", "Test-time flip augmentation; assignable.")

    def process(self, image: Any) -> list[PoseResult]:
        """Detect and lift one frame; the poses that became due, oldest first.

        Usually one pose. With ``lookahead`` L the first L calls return ``[]`` and each pose is
        that of the frame given L calls earlier (``PoseResult.frame_index`` says which; fewer
        calls when the shipped lifter counts 1/30 s steps of a source slower than 20 fps). Where the
        temporal window breaks (another person, another image size), the poses the old window
        held back come out first, so every frame's pose is returned exactly once by ``process``
        or ``flush``.

        Args:
            image: an (H, W, 3) uint8 RGB numpy array, or a ``pose3d_nb.sources.Frame``.

        Returns:
            The ``PoseResult``s that became due with this frame, oldest first (may be empty).

        Raises:
            Pose3DValueError: ``image`` is not an RGB image.
            Pose3DRuntimeError: this ``Pose3D`` is closed.
        """
        if self._detector is None:
            raise Pose3DRuntimeError("this Pose3D is closed")
        index = self._next_index
        timestamp = time.monotonic() if self.fps is None else index / self.fps
        frame = as_frame(image, index, timestamp)
        self._next_index = frame.index + 1
        detection = checked_detection(self._detector(frame), self._detector)
        results = []
        if self._breaks.breaks_at(detection):
            results += self._results(self._lifter.flush())  # the old window's held-back poses
            self._lifter.reset()
        results += self._results(self._lifter.push(detection, frame))
        self._world.observe(frame.image, detection)  # the room's vertical edges, while settling
        return results

    def flush(self) -> list[PoseResult]:
        """The poses still held back by the lookahead (end of the input), oldest first.

        Returns:
            One ``PoseResult`` per frame given but not yet returned (``[]`` without lookahead).
        """
        return self._results(self._lifter.flush())

    def reset(self) -> None:
        """Forget every frame seen (a new video): tracking and the temporal window restart.

        Raises:
            Pose3DRuntimeError: this ``Pose3D`` is closed.
        """
        if self._detector is None:
            raise Pose3DRuntimeError("this Pose3D is closed")
        self._lifter.reset()
        self._detector.reset()
        self._breaks.reset()
        self._world.reset()
        self._next_index = 0

    def take_placed_again(self) -> list[RowPlacement]:
        """Once the camera has settled (its first second with a person): the results given
        while it settled, placed again in the room it settled on, as the engine rewrites its
        buffer (``docs/world.md``). Each ``RowPlacement`` names the result's ``frame_index``
        and gives its new (17, 3) ``joints_3d`` and ``joints_camera``; then ``[]`` until the
        camera settles again (after ``reset``)."""
        return self._world.take_placed_again()

    @property
    def camera_estimate(self) -> dict[str, Any]:
        """Camera pitch, roll, height and focal length so far, each said given or estimated."""
        return self._world.metadata()

    def _results(self, poses) -> list[PoseResult]:
        return [
            PoseResult(p.frame_index, p.detection.keypoints, p.detection.scores, p.joints, p.valid,
                       p.joints_camera)
            for p in self._world.place(poses)
        ]

    def close(self) -> None:
        """Free the detector if this object created it."""
        if self._owns_detector and self._detector is not None:
            self._detector.close()
        self._detector = None

    def __enter__(self) -> Pose3D:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
