"""Everyone in view with MediaPipe: the Tasks ``PoseLandmarker`` (``num_poses``) on square tiles.

MediaPipe's person detector looks at a 224x224 letterboxed copy of the image, so in a tall or
wide frame people shrink and it finds one or two at most. For frames whose long side is more
than ``max_aspect`` times the short one, the landmarker runs on overlapping squares spanning the
long side instead (each with its own video-mode tracking), and a person seen in two squares is
kept once (the copy least cut by its square's inner edges). Each person's box spans all 33
landmarks.

:class:`MediaPipePeopleDetector` is the ``mediapipe-people`` backend: every person gets a stable
track id (``people.PeopleTracker``) and ``follow=`` says whom the detections are about
(``follow.PeopleFollower``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pose3d_nb.detectors.base import (
    COCO_MIRROR,
    Candidates,
    DetectorUnavailable,
    FollowingDetector,
    assemble_detection,
)
from pose3d_nb.detectors.detection import Detection
from pose3d_nb.detectors.follow import PeopleFollower
from pose3d_nb.detectors.mediapipe_bundle import pose_landmarker_bundle
from pose3d_nb.detectors.mediapipe_pose import BLAZEPOSE_MIRROR, BLAZEPOSE_TO_COCO
from pose3d_nb.detectors.people import PeopleTracker, PersonTrack
from pose3d_nb.detectors.tracking import box_iou, keypoint_box
from pose3d_nb.errors import Pose3DRuntimeError, Pose3DValueError
from pose3d_nb.sources.frame import Frame


def square_tiles(width: int, height: int, max_aspect: float = 1.5) -> list[tuple[int, int, int, int]]:
    """Regions (x0, y0, w, h) to search: the whole frame, or overlapping squares along its long side.

    A 4:3 camera frame stays whole (each tile costs a landmarker run); 16:9 and portrait phone
    video are tiled.

    A frame at most ``max_aspect`` times longer than wide (or wide than tall) is one region; a
    longer one gets ``ceil(long / short) + 1`` squares of the short side, evenly spaced from one
    end to the other (so every person up to the short side tall is whole in one of them).
    """
    short, long = min(width, height), max(width, height)
    if long <= max_aspect * short:
        return [(0, 0, width, height)]
    count = math.ceil(long / short) + 1
    starts = np.linspace(0, long - short, count).round().astype(int)
    if width > height:
        return [(int(s), 0, short, short) for s in starts]
    return [(0, int(s), short, short) for s in starts]


class PeopleLandmarker:
    """Every person's 33 BlazePose landmarks in a frame, tile by tile.

    Args:
        num_poses: people looked for per tile.
        tiles: "auto" (squares when the frame is longer than ``max_aspect``) or "full".
        min_detection_confidence, min_presence_confidence, min_tracking_confidence: MediaPipe's.
    """

    def __init__(
        self,
        *,
        num_poses: int = 2,
        tiles: str = "auto",
        max_aspect: float = 1.5,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        if tiles not in ("auto", "full"):
            raise Pose3DValueError(f"tiles must be 'auto' or 'full', got {tiles!r}")
        if num_poses < 1:
            raise Pose3DValueError(f"num_poses must be >= 1, got {num_poses}")
        try:
            import mediapipe
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as exc:
            raise DetectorUnavailable(f"mediapipe is not installed ({exc}): pip install mediapipe") from exc
        self._mp = mediapipe
        self._vision = vision
        self._options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(pose_landmarker_bundle())),
            running_mode=vision.RunningMode.VIDEO,
            num_poses=num_poses,
            min_pose_detection_confidence=min_detection_confidence,
            min_pose_presence_confidence=min_presence_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        self.tiles = tiles
        self.max_aspect = max_aspect
        self._landmarkers: dict[tuple[int, int, int, int], Any] = {}
        self._last_ms = -1
        self._closed = False

    def __call__(self, frame: Frame) -> Candidates:
        """Everyone found in ``frame`` (RGB), with per-person ``world_landmarks`` (N, 33, 3) metres,
        ``visibility`` (N, 33) and ``landmarks`` (N, 33, 3) normalised to the whole frame."""
        if self._closed:
            raise Pose3DRuntimeError("this MediaPipe people detector is closed")
        width, height = frame.size
        regions = [(0, 0, width, height)]
        if self.tiles == "auto":
            regions = square_tiles(width, height, self.max_aspect)
        stamp = int(round(frame.timestamp * 1000))
        if stamp <= self._last_ms:  # video mode needs increasing times; a jump back is a new video
            if stamp < self._last_ms - 1000:
                self.reset()
            stamp = max(stamp, self._last_ms + 1)
        self._last_ms = stamp
        found: list[tuple[np.ndarray, np.ndarray, float]] = []  # (33, 4) pixels+z+vis, world, margin
        for region in regions:
            x0, y0, w, h = region
            landmarker = self._landmarkers.get(region)
            if landmarker is None:
                landmarker = self._landmarkers[region] = self._vision.PoseLandmarker.create_from_options(
                    self._options
                )
            crop = np.ascontiguousarray(frame.image[y0 : y0 + h, x0 : x0 + w])
            image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=crop)
            result = landmarker.detect_for_video(image, stamp)
            for marks, world in zip(result.pose_landmarks, result.pose_world_landmarks, strict=False):
                points = np.array([(p.x * w + x0, p.y * h + y0, p.z, p.visibility or 0.0) for p in marks])
                world_xyz = np.array([(p.x, p.y, p.z) for p in world], np.float32)
                found.append((points, world_xyz, _inner_margin(points[:, :2], region, frame.size)))
        return _merge(found, frame.size)

    def reset(self) -> None:
        """Forget every tile's tracking (a new video)."""
        for landmarker in self._landmarkers.values():
            landmarker.close()
        self._landmarkers = {}
        self._last_ms = -1

    def close(self) -> None:
        self.reset()
        self._closed = True


def _inner_margin(points: np.ndarray, region, size) -> float:
    """Pixels between a person's landmarks and the nearest tile edge that is not an image edge."""
    x0, y0, w, h = region
    box = keypoint_box(points)
    margins = [np.inf]
    if x0 > 0:
        margins.append(box[0] - x0)
    if y0 > 0:
        margins.append(box[1] - y0)
    if x0 + w < size[0]:
        margins.append(x0 + w - box[2])
    if y0 + h < size[1]:
        margins.append(y0 + h - box[3])
    return float(min(margins))


def _merge(found, size: tuple[int, int], same_iou: float = 0.5, same_pose: float = 0.2,
           same_cover: float = 0.75) -> Candidates:
    """One candidate per person: of copies of one person, the one least cut by its tile.

    Two finds are copies when their boxes overlap by ``same_iou``, or one box lies ``same_cover``
    inside the other, or their keypoints are on average within ``same_pose`` box heights (as
    given or mirrored: tiles see the same person with the same joints, at slightly different
    widths).
    """
    if not found:
        return Candidates.none()
    boxes = np.array([keypoint_box(points[:, :2], size) for points, _, _ in found])
    coco = [points[BLAZEPOSE_TO_COCO, :2] for points, _, _ in found]
    kept: list[int] = []
    for i in sorted(range(len(found)), key=lambda i: -found[i][2]):
        if not any(_same_person(boxes[i], boxes[j], coco[i], coco[j], same_iou, same_pose, same_cover)
                   for j in kept):
            kept.append(i)
    points = np.stack([found[i][0] for i in kept])
    world = np.stack([found[i][1] for i in kept])
    visibility = np.clip(points[:, :, 3], 0.0, 1.0)
    landmarks = points[:, :, :3] / np.array([size[0], size[1], 1.0])
    return Candidates(
        boxes=boxes[kept],
        keypoints=points[:, BLAZEPOSE_TO_COCO, :2],
        scores=visibility[:, BLAZEPOSE_TO_COCO],
        extras={
            "world_landmarks": world.astype(np.float32),
            "visibility": visibility.astype(np.float32),
            "landmarks": landmarks.astype(np.float32),
        },
    )


def _same_person(box_a, box_b, points_a, points_b, same_iou, same_pose, same_cover) -> bool:
    if box_iou(box_a, box_b[None])[0] >= same_iou:
        return True
    width = min(box_a[2], box_b[2]) - max(box_a[0], box_b[0])
    height = min(box_a[3], box_b[3]) - max(box_a[1], box_b[1])
    smaller = min((b[2] - b[0]) * (b[3] - b[1]) for b in (box_a, box_b))
    if width > 0 and height > 0 and smaller > 0 and width * height / smaller >= same_cover:
        return True
    tall = max(box_a[3] - box_a[1], box_b[3] - box_b[1], 1.0)
    as_is = np.linalg.norm(points_a - points_b, axis=1).mean()
    mirrored = np.linalg.norm(points_a[COCO_MIRROR] - points_b, axis=1).mean()
    return bool(min(as_is, mirrored) < same_pose * tall)


class MediaPipePeopleDetector(FollowingDetector):
    """Everyone in view, each with a stable id; the detection is about the one ``follow`` picks.

    Args:
        follow: whom to follow: "largest", "centre", "most-moving", a track id or "X,Y" (see
            ``detectors.follow``).
        num_poses, tiles, min_*_confidence: see :class:`PeopleLandmarker`.
        max_lost_seconds: how long a hidden person keeps their id.
        fix_left_right: undo the followed person's left/right label flips.

    Detection extras, besides ``mediapipe``'s (``world_landmarks``, ``visibility``, ``landmarks``,
    ``track_id``, ``swapped_left_right``, ``num_candidates``): everyone seen in the frame as
    ``people_ids`` (M,) int, ``people_keypoints`` (M, 17, 2), ``people_scores`` (M, 17),
    ``people_boxes`` (M, 4), ``people_world_landmarks`` (M, 33, 3) metres; and
    ``follow_status``, one line on whom it follows or waits for.
    """

    name = "mediapipe-people"
    provides = frozenset({"world_landmarks"})
    extras_mirror = {key: BLAZEPOSE_MIRROR for key in ("world_landmarks", "visibility", "landmarks")}

    def __init__(
        self,
        *,
        follow: object = "largest",
        num_poses: int = 2,
        tiles: str = "auto",
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        max_lost_seconds: float = 2.0,
        fix_left_right: bool = True,
    ) -> None:
        follower = PeopleFollower(follow, PeopleTracker(max_lost_seconds=max_lost_seconds),
                                  fix_left_right=fix_left_right)
        self._landmarker = PeopleLandmarker(
            num_poses=num_poses, tiles=tiles,
            min_detection_confidence=min_detection_confidence,
            min_presence_confidence=min_presence_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        super().__init__(follow=True, fix_left_right=False)
        self._follower = follower

    @property
    def people(self) -> dict[int, PersonTrack]:
        """Every live track by id (seen within ``max_lost_seconds``)."""
        return self._follower.people

    @property
    def followed(self) -> int | None:
        """The followed person's track id (None before anyone is chosen)."""
        return self._follower.followed

    @property
    def follow_status(self) -> str:
        return self._follower.status

    def follow(self, target: object) -> None:
        """Follow another person from the next frame: a track id now in view, or a policy value."""
        if isinstance(target, (int, np.integer)) or (isinstance(target, str) and target.strip().isdigit()):
            self._follower.follow(int(target))
        else:
            self._follower.policy = PeopleFollower(target).policy
            self._follower.followed = None

    def candidates(self, frame: Frame) -> Candidates:
        return self._landmarker(frame)

    def __call__(self, frame: Frame) -> Detection:
        self._follower.frame_size = frame.size
        found = self.candidates(frame)
        detection = assemble_detection(frame, found, self._follower, self.extras_mirror)
        visible = sorted((t for t in self._follower.people.values() if t.visible), key=lambda t: t.track_id)
        rows = [t.index for t in visible]
        detection.extras.update(
            people_ids=np.array([t.track_id for t in visible], np.int64),
            people_keypoints=np.asarray(found.keypoints, np.float32)[rows].reshape(-1, 17, 2),
            people_scores=np.asarray(found.scores, np.float32)[rows].reshape(-1, 17),
            people_boxes=np.asarray(found.boxes, np.float32)[rows].reshape(-1, 4),
            people_world_landmarks=np.asarray(found.extras.get("world_landmarks", np.zeros((0, 33, 3))),
                                              np.float32)[rows].reshape(-1, 33, 3),
            follow_status=self._follower.status,
        )
        return detection

    def reset(self) -> None:
        self._landmarker.reset()
        self._follower.reset()

    def close(self) -> None:
        self._landmarker.close()
