"""Live world placement: one lifted pose in, the same pose in the world out, past frames only.

The camera estimate settles over the first ``SETTLE_S`` seconds of valid frames (pitch, roll and
height from everything seen so far) and is then frozen, so the world never jumps while the
person moves; ``reset`` starts over (another source or person; a looping file's next pass goes
on settling). Scale settles the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.values import is_positive_number
from pose3d_nb.world.frame import WorldFrame, camera_height
from pose3d_nb.world.gravity import CAMERA_UP, LEFT_ANKLE, RIGHT_ANKLE, UpAccumulator
from pose3d_nb.world.intrinsics import Intrinsics, check_camera_options, resolve_intrinsics
from pose3d_nb.world.lean import LeanBias, unlean
from pose3d_nb.world.placement import image_points
from pose3d_nb.world.scale import SizeEstimate, rescale
from pose3d_nb.world.trajectory import LOST_AFTER_S, CausalSmoother, solve_translation
from pose3d_nb.world.vanishing import SceneEdges, choose_up, scene_edges

#: Seconds of valid frames after which the camera (up, floor) is frozen. On the held-out sweep,
#: 0.5 / 1 / 2 s settled with a mean up error of 12.4 / 11.5 / 10.6 degrees.
SETTLE_S = 1.0
#: Live trajectory smoothing time constants, seconds (image position; depth, alpha-beta filter).
#: Depth on the held-out sweep, WA-MPJPE in camera axes: an average of 0.15 / 0.5 / 1 / 2 s gave
#: 249 / 217 / 201 / 190 mm; the alpha-beta filter 0.5 / 1 / 2 / 4 s: 241 / 217 / 201 / 187 mm.
#: Longer is better on those mostly short-travel clips, but follows a walk towards the camera
#: later (tests/test_world.py: 5-8 cm behind the whole-clip path at 1 s, 10-18 cm at 2 s): 1 s.
TAU_IMAGE_S = 0.02
TAU_DEPTH_S = 1.0
#: Until the first estimate, the camera is assumed this high and level.
ASSUMED_HEIGHT_M = 1.5
#: Poses kept while the camera settles, to be placed again once it has (``take_resettled``):
#: a second of frames per person followed meanwhile; beyond this many (one click after another
#: for minutes before anyone was seen for a second), later poses keep their live place.
SETTLING_POSES_KEPT = 3000


@dataclass(frozen=True)
class CameraEstimate:
    """What a session knows of its camera: the numbers and whether each was given or estimated."""

    intrinsics: Intrinsics
    frame: WorldFrame
    settled: bool
    body_height_m: float
    height_given: bool
    up_source: str = "people"

    def metadata(self) -> dict:
        """Plain numbers and strings for a session's metadata."""
        return {
            "camera_pitch_deg": round(self.frame.pitch_deg, 2),
            "camera_roll_deg": round(self.frame.roll_deg, 2),
            "camera_height_m": round(float(self.frame.height), 3),
            "camera_pose_source": "estimated" if self.settled else "estimating",
            "camera_up_source": self.up_source,
            "focal_px": round(self.intrinsics.focal, 2),
            "focal_source": self.intrinsics.source,
            "person_height_m": round(self.body_height_m, 3) if math.isfinite(self.body_height_m) else None,
            "person_height_source": "given" if self.height_given else "estimated",
        }


class PersonPath:
    """One person's metric size and smoothed root translation in the camera frame (past frames
    only). ``height``: their height in metres if known; ``fps`` sets the smoothing in frames."""

    def __init__(self, height: float | None = None, fps: float = 30.0):
        self.size = SizeEstimate(height)
        self._smoother = CausalSmoother(TAU_IMAGE_S * fps, TAU_DEPTH_S * fps, LOST_AFTER_S * fps)
        self._placed_at = math.nan  # the timestamp of the last frame placed

    def set_fps(self, fps: float) -> None:
        self._smoother.set_time_constants(TAU_IMAGE_S * fps, TAU_DEPTH_S * fps, LOST_AFTER_S * fps)

    def miss(self) -> None:
        """A frame without this person: after ``LOST_AFTER_S`` of them the path starts again
        (their size is kept)."""
        self._smoother.miss()

    def place(self, joints: np.ndarray, intrinsics: Intrinsics, keypoints: np.ndarray,
              scores: np.ndarray | None, timestamp: float | None = None
              ) -> tuple[np.ndarray | None, np.ndarray]:
        """(17, 3) root-relative camera-frame joints and their (17, 2) COCO pixel keypoints ->
        (the pose placed in the camera frame (17, 3) metres, or None when it cannot be solved;
        the normalised image points (17, 2) it was solved on). timestamp: the frame's seconds;
        ``LOST_AFTER_S`` or more after the last frame placed, the path starts again (a stalled
        camera, or a person whose frames were not given meanwhile), as after as many missed
        frames."""
        if timestamp is not None and math.isfinite(timestamp):
            if timestamp - self._placed_at >= LOST_AFTER_S:
                self._smoother.reset()
            self._placed_at = timestamp
        pose = rescale(joints - joints[:1], self.size.update(joints))
        points, weights = image_points(intrinsics, keypoints, scores)
        raw = solve_translation(pose[None], points[None], weights[None])[0]
        translation = self._smoother.update(raw)
        if not np.isfinite(translation).all():
            return None, points
        return pose + translation, points


class WorldTracker:
    """Streams lifted poses into the world frame.

    camera: an ``Intrinsics``, a calibration file, or None (then ``fov``/``focal`` or the
    default field of view, fitted to each frame's size). height: the person's height in metres
    if known. fps: frames per second of the source, a positive number (sets the smoothing in
    frames; a bad one is a ``Pose3DValueError``, as ``Pose3D(fps=)`` refuses it). lean: the
    lifter's lean habit (``world.lean``), turned back out of every placed pose once the up is
    estimated; None (the default, and for lifters without a table): poses as lifted.
    """

    def __init__(
        self,
        camera=None,
        fov: float | None = None,
        focal: float | None = None,
        height: float | None = None,
        fps: float = 30.0,
        lean: LeanBias | None = None,
    ):
        check_camera_options(camera, fov, focal)  # bad options fail here, before frames
        if not is_positive_number(fps):  # 0 or less divided the smoothing times by it
            raise Pose3DValueError(f"fps must be a positive number of frames per second, got {fps!r}")
        self._options = (camera, fov, focal)
        self.lean = lean
        self._height = height
        self._fps = float(fps)
        self._intrinsics: Intrinsics | None = None
        self._scene = None
        self.reset()
        SizeEstimate(height)  # checks the height

    def reset(self, keep_camera: bool = False, path: PersonPath | None = None,
              keep_settling: bool = False, next_pass: bool = False) -> PersonPath | None:
        """Forget the person (size, path) and, unless ``keep_camera``, the camera estimate:
        another person in the same view keeps the camera, a new source does not. ``path``: the
        newly followed person's own path when they were placed already (as someone else in
        view): their depth goes on from it (their size too, unless the user gave a height, which
        is the followed person's). A camera that has not settled yet settles again from the new
        person's frames; ``keep_settling`` (with ``keep_camera``): the poses placed while it
        settled so far are still placed again once it has (``take_resettled``): they are camera-frame
        poses, each placed on its own person's path, so the settled room takes them as it takes
        everyone's. ``next_pass`` (with ``keep_camera``): a looping file started its next pass,
        the same footage of the same room: a new path, but a camera still settling goes on
        settling from the frames seen so far (it started over at each pass, so a pass shorter
        than ``SETTLE_S`` never settled); the poses kept to be placed again are dropped unless
        ``keep_settling``. Returns the path of the person followed until now."""
        previous = getattr(self, "_path", None)
        if path is None:
            path = PersonPath(self._height, self._fps)
        else:
            path.set_fps(self._fps)
            if self._height is not None:
                path.size = SizeEstimate(self._height)
        self._path = path
        if keep_camera and next_pass and not self._settled:
            if not keep_settling:
                self._settling = []
            return previous
        if keep_camera and self._settled:
            return previous
        scene = self._scene if keep_camera else None  # the room is the same for another person
        self._up = UpAccumulator()
        self._ankles: list[np.ndarray] = []
        self._frame = WorldFrame(CAMERA_UP, ASSUMED_HEIGHT_M)
        self._settled = False
        # The followed person's poses placed while the camera settled (their key and the pose
        # before its lean was taken out), and once it has, the same in the settled room.
        settling = self._settling if keep_camera and keep_settling else []
        self._settling: list[tuple[object, np.ndarray]] = settling
        self._resettled: list[tuple[object, np.ndarray, np.ndarray]] = []
        self._scene: SceneEdges | None = scene
        self._up_source = "assumed"  # level, until a person (or the room) says otherwise
        return previous

    @property
    def path(self) -> PersonPath:
        """The followed person's path (their size and smoothed translation)."""
        return self._path

    @property
    def settled(self) -> bool:
        """True once the camera estimate is frozen (``SETTLE_S`` of frames with a person)."""
        return self._settled

    @property
    def scene(self) -> SceneEdges | None:
        """The near-vertical edges of the frames offered so far (the room's up is taken from
        them near the people's estimate, see ``vanishing.choose_up``)."""
        return self._scene

    @property
    def up_source(self) -> str:
        """Where the current up comes from: ``"scene"``, ``"people"`` or ``"assumed"``."""
        return self._up_source

    def offer_scene(self, image: np.ndarray, boxes: np.ndarray | None = None) -> bool:
        """Add one (H, W, 3) RGB frame's near-vertical edges (people's (M, 4) pixel ``boxes``
        left out) to the evidence for the room's up, until the camera settles. True when the
        frame had enough of them. One call costs a line detection (about one detector frame:
        70-130 ms on a 2-core machine): callers offer a few frames, not every frame."""
        if self._settled:
            return False
        height, width = image.shape[:2]
        edges = scene_edges(image, self.intrinsics_for((width, height)), boxes)
        if edges is not None:
            self._scene = edges if self._scene is None else self._scene.merged(edges)
        return edges is not None

    @property
    def given_height(self) -> float | None:
        """The person's height the user gave (metres), or None."""
        return self._height

    @property
    def fps(self) -> float:
        """Frames per second the smoothing and settling times are counted in."""
        return self._fps

    @fps.setter
    def fps(self, value: float) -> None:
        if value > 0 and math.isfinite(value):
            self._fps = float(value)
            self._path.set_fps(self._fps)

    def intrinsics_for(self, frame_size: tuple[int, int]) -> Intrinsics:
        """The intrinsics for frames of ``frame_size`` (width, height)."""
        if self._intrinsics is None or (self._intrinsics.width, self._intrinsics.height) != tuple(frame_size):
            self._intrinsics = resolve_intrinsics(*frame_size, *self._options)
        return self._intrinsics

    @property
    def estimate(self) -> CameraEstimate:
        """The current camera estimate (see ``CameraEstimate``)."""
        intrinsics = self._intrinsics or resolve_intrinsics(None, None, *self._options)
        size = self._path.size
        return CameraEstimate(intrinsics, self._frame, self._settled, size.height, size.given,
                              self._up_source)

    def push(
        self,
        joints: np.ndarray,
        keypoints: np.ndarray,
        scores: np.ndarray | None,
        frame_size: tuple[int, int],
        valid: bool = True,
        timestamp: float | None = None,
        key: object = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One frame: (17, 3) root-relative camera-frame joints and its (17, 2) COCO pixel
        keypoints (with (17,) scores) -> ((17, 3) world joints, (17, 3) camera-frame joints with
        the root translation), float32; NaN when ``valid`` is False or nothing can be solved.
        timestamp: the frame's seconds, if known (see ``PersonPath.place``). key: what the
        caller knows this frame by, given back by ``take_resettled``."""
        return self._place(self._path, joints, keypoints, scores, frame_size, valid, True, timestamp, key)

    def take_resettled(self) -> list[tuple[object, np.ndarray, np.ndarray]]:
        """Once, after the camera has settled: every pose ``push`` placed while it settled,
        placed again in the settled room, as (key, (17, 3) world joints, (17, 3) camera-frame
        joints) float32, oldest first (the frame that settled it is not among them: it was
        placed in that room). While it settles, each frame stood in the room estimated from the
        frames up to it, a room that turned and rose from frame to frame; callers rewrite those
        rows (``PoseEngine``'s buffer and recording). Empty otherwise."""
        taken, self._resettled = self._resettled, []
        return taken

    def place_other(
        self,
        path: PersonPath,
        joints: np.ndarray,
        keypoints: np.ndarray,
        scores: np.ndarray | None,
        frame_size: tuple[int, int],
        valid: bool = True,
        timestamp: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Another person in the same view, as ``push`` but on their own ``path`` and in the
        camera and floor this tracker estimated from the followed person (which they do not
        change)."""
        return self._place(path, joints, keypoints, scores, frame_size, valid, False, timestamp)

    def _place(self, path: PersonPath, joints, keypoints, scores, frame_size, valid: bool,
               settle: bool, timestamp: float | None = None, key: object = None
               ) -> tuple[np.ndarray, np.ndarray]:
        nan = np.full((17, 3), np.nan, np.float32)
        joints = np.asarray(joints, np.float64)
        if not valid or not np.isfinite(joints).all():
            path.miss()
            return nan, nan
        placed, points = path.place(joints, self.intrinsics_for(frame_size), keypoints, scores, timestamp)
        if placed is None:
            return nan, nan
        if settle and not self._settled:
            placed = self._settle(placed, points, key)
        else:
            placed = self._unlean(placed, self._frame.up)
        return self._frame.to_world(placed), placed.astype(np.float32)

    def _unlean(self, placed: np.ndarray, up: np.ndarray) -> np.ndarray:
        return placed if self.lean is None else unlean(placed, up, self.lean)

    def _settle(self, placed: np.ndarray, points: np.ndarray, key: object = None) -> np.ndarray:
        """Update the camera estimate with one placed pose; returns the pose as it is shown
        (its lean taken out with the new up)."""
        # Constant cost per frame: running sums for the up, the ankles kept for the floor.
        # The up is estimated from the lifter's own poses (the learned part knows its habits);
        # the floor from the ankles of the poses as they will be shown.
        self._up.add(placed, points)
        up, self._up_source = choose_up(self._up.up, self._scene)
        shown = self._unlean(placed, up)
        self._ankles.append(shown[[RIGHT_ANKLE, LEFT_ANKLE]])
        height = camera_height(np.stack(self._ankles), up, ankles_only=True)
        self._frame = WorldFrame(up, height if math.isfinite(height) else ASSUMED_HEIGHT_M)
        if len(self._ankles) >= SETTLE_S * self._fps:
            self._settled = True
            self._ankles.clear()
            for earlier, pose in self._settling:
                again = self._unlean(pose, up)
                self._resettled.append((earlier, self._frame.to_world(again), again.astype(np.float32)))
            self._settling = []
        elif len(self._settling) < SETTLING_POSES_KEPT:
            self._settling.append((key, placed))
        return shown

