"""Everyone's BlazePose landmarks in a frame: each tracked person in a region of their own, the
person detector on square tiles to find who came into view.

MediaPipe's person detector looks at a 224x224 letterboxed copy of the image, so in a tall or
wide frame people shrink and it finds one or two at most. For frames whose long side is more
than ``max_aspect`` times the short one it runs on overlapping squares spanning the long side
instead, and a person seen in two squares is kept once (the copy least cut by its square's
inner edges). Each person's box spans all 33 landmarks.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from pose3d_nb.detectors.base import (
    Candidates,
    DetectorUnavailable,
)
from pose3d_nb.detectors.blazepose_roi import Roi, RoiLandmarks, RoiPerson, region_workers, roi_from_landmarks
from pose3d_nb.detectors.geometry import box_iou, keypoint_box
from pose3d_nb.detectors.mediapipe_bundle import pose_landmarker_bundle
from pose3d_nb.detectors.mediapipe_pose import BLAZEPOSE_TO_COCO
from pose3d_nb.detectors.native_logs import QUIET_RUNS, first_runs_quiet, quiet_native_logs
from pose3d_nb.detectors.occluders import paint_over
from pose3d_nb.detectors.people_match import already_tracked, distinct, held, inner_margin, same_torso
from pose3d_nb.errors import Pose3DRuntimeError, Pose3DValueError
from pose3d_nb.sources.frame import Frame

DISCOVERY = "discovery"
"""The image-mode landmarker of the discovery sweep that runs beside the tracked regions."""

RETRY_SCALE = 1.3
"""How much wider a tracked person's region is framed for a second try when the landmark
network finds nobody in it."""
RETRY_MIN_IOU = 0.5
"""How much the wider try's box must overlap the box the person was expected in."""


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
    """Every person's 33 BlazePose landmarks in a frame.

    With ``regions="tracked"`` (the default) each person found keeps a region of their own:
    every frame BlazePose's landmark network runs once per person, on the rotated square their
    previous landmarks give, moved on by their motion (``blazepose_roi``), as BlazePose tracks
    one person. The person detector sweeps the frame (on square tiles, below) only every
    ``discover_every`` frames and when nobody is tracked, to find people who came into view.
    A region that finds nobody, or someone an older region holds (it slid onto the person in
    front or behind), is tried again with everyone else in it painted over (``occluders``),
    then framed ``RETRY_SCALE`` times wider, then with the detector near where the person
    should be; otherwise the frame is a miss. A region never outputs someone an older region
    holds, so it does not make a copy of them; the painted-over retry judges that by the torso
    alone (a head hidden behind another's lies on it).

    With ``regions="tiles"`` MediaPipe's Tasks landmarker tracks on every tile every frame (the
    detector runs each frame on each tile that tracks fewer than ``num_poses`` people).

    Tiles: MediaPipe's person detector looks at a 224x224 letterboxed copy, so in a frame more
    than ``max_aspect`` times longer than wide (or wide than tall) people shrink; the sweep runs
    on overlapping squares along the long side instead.

    Args:
        num_poses: people looked for per tile.
        tiles: "auto" (squares when the frame is longer than ``max_aspect``) or "full".
        regions: "tracked" or "tiles" (see above).
        discover_every: frames between detector sweeps while someone is tracked ("tracked"),
            each on the next tile in turn (every tile, every frame, while nobody is).
        max_misses: frames in a row a tracked person's region may miss them (after the wider
            try and the detector, see above) before it is given up.
        workers: threads for the tracked regions' first tries, each person's at once
            (``RoiLandmarks.map``; default: the CPUs, at most 4), and above 1 one more for the
            discovery sweep beside them; 1: everything one after the other on the caller's thread.
        min_detection_confidence, min_presence_confidence, min_tracking_confidence: MediaPipe's.
        model_complexity: the landmark model each tracked person's region runs: 1 Full (in the
            wheel), 0 Lite or 2 Heavy (``pose3d models fetch mediapipe-lite`` / ``-heavy``; the
            caller installs it, ``blazepose_models.install_model``). The discovery sweep keeps
            MediaPipe's Tasks landmarker.
    """

    def __init__(
        self,
        *,
        num_poses: int = 2,
        tiles: str = "auto",
        regions: str = "tracked",
        discover_every: int = 10,
        max_misses: int = 5,
        max_aspect: float = 1.5,
        workers: int | None = None,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        model_complexity: int = 1,
    ) -> None:
        if tiles not in ("auto", "full"):
            raise Pose3DValueError(f"tiles must be 'auto' or 'full', got {tiles!r}")
        if regions not in ("tracked", "tiles"):
            raise Pose3DValueError(f"regions must be 'tracked' or 'tiles', got {regions!r}")
        if num_poses < 1:
            raise Pose3DValueError(f"num_poses must be >= 1, got {num_poses}")
        if discover_every < 1:
            raise Pose3DValueError(f"discover_every must be >= 1, got {discover_every}")
        if model_complexity not in (0, 1, 2) or isinstance(model_complexity, bool):
            raise Pose3DValueError(
                f"model_complexity must be 0 (Lite), 1 (Full) or 2 (Heavy), got {model_complexity!r}")
        if regions == "tiles" and model_complexity != 1:  # tiles run MediaPipe's Tasks model only
            raise Pose3DValueError(
                f"model_complexity={model_complexity} needs regions='tracked' (the tiles run Full only)")
        self.model_complexity = int(model_complexity)
        try:
            import mediapipe
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as exc:
            raise DetectorUnavailable(f"mediapipe is not installed ({exc}): pip install mediapipe") from exc
        self._mp = mediapipe
        self._vision = vision
        self._video_mode = regions == "tiles"  # sweeps between tracked frames see no continuity
        self._options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(pose_landmarker_bundle())),
            running_mode=vision.RunningMode.VIDEO if self._video_mode else vision.RunningMode.IMAGE,
            num_poses=num_poses,
            min_pose_detection_confidence=min_detection_confidence,
            min_pose_presence_confidence=min_presence_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        self.tiles = tiles
        self.regions = regions
        self.discover_every = discover_every
        self.max_misses = max_misses
        self.max_aspect = max_aspect
        self.workers = region_workers(workers)
        self._landmarkers: dict[tuple[int, int, int, int] | str | None, Any] = {}
        self._cold: dict = {}  # landmarker -> its first runs left in a quiet window
        self._roi: RoiLandmarks | None = None
        self._chains: list[_Chain] = []
        self._since_sweep = 0
        self._next_tile = -1
        self._last_ms = -1
        self._closed = False

    def __call__(self, frame: Frame) -> Candidates:
        """Everyone found in ``frame`` (RGB), with per-person ``world_landmarks`` (N, 33, 3) metres,
        ``visibility`` (N, 33) and ``landmarks`` (N, 33, 3) normalised to the whole frame."""
        if self._closed:
            raise Pose3DRuntimeError("this MediaPipe people detector is closed")
        stamp = int(round(frame.timestamp * 1000))
        if stamp <= self._last_ms:  # video mode needs increasing times; a jump back is a new video
            if stamp < self._last_ms - 1000:
                self.reset()
            stamp = max(stamp, self._last_ms + 1)
        self._last_ms = stamp
        if self.regions == "tiles":
            return _candidates(distinct(self._sweep(frame, stamp), frame.size), frame.size)
        # A discovery sweep due while someone is tracked looks at this frame's next tile on a
        # thread of its own while the regions run (it needs nothing they find, and the people
        # found are only judged against them afterwards), so the two share the CPUs. One
        # person on the sample: a sweep frame took about 90 ms instead of 129.
        ahead = None
        if self._chains and self._since_sweep + 1 >= self.discover_every and self.workers > 1:
            tiles = self._regions(frame.size)
            tile = tiles[(self._next_tile + 1) % len(tiles)]
            self._landmarker(DISCOVERY)  # made here, so only the caller's thread adds landmarkers
            ahead = _Beside(self._sweep, frame, stamp, [tile], DISCOVERY)
        try:
            found = self._track(frame)
        finally:
            if ahead is not None:
                ahead.join()  # never left running: reset() and close() may follow
        self._since_sweep += 1
        if not self._chains or self._since_sweep >= self.discover_every:
            # While someone is tracked, one tile per sweep, in turn: the cost is spread out.
            self._since_sweep = 0
            tiles = self._regions(frame.size)
            if self._chains:
                self._next_tile = (self._next_tile + 1) % len(tiles)
                tiles = [tiles[self._next_tile]]
            # The tile looked at ahead is this one, unless everyone was lost meanwhile (then
            # every tile is swept here, as when nobody is tracked).
            swept = ahead.result() if ahead is not None and self._chains else self._sweep(frame, stamp, tiles)
            tracked = [points for points, _, _ in found]
            # Least cut first (``distinct``), and each new person joins ``tracked`` at once: a
            # sliver of someone found in the same sweep is judged against them too.
            for points, world, margin in distinct(swept, frame.size):
                if not already_tracked(points, margin, tracked, frame.size):
                    self._chains.append(_Chain(points))
                    found.append((points, world, margin))
                    tracked.append(points)
        # One person each: a person in front of another has a box inside theirs, and stays.
        return _candidates(found, frame.size)

    def _track(self, frame: Frame) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Each tracked person's landmarks in their own region. A region that finds nobody, or
        someone an older chain holds (it slid onto a person in front or behind), is tried
        again with the others painted over, then wider, then with the detector; a chain missed
        ``max_misses`` frames in a row is dropped."""
        if self._roi is None:
            self._roi = RoiLandmarks(model_complexity=self.model_complexity, workers=self.workers)
        kept: list[_Chain] = []
        found: list[tuple[np.ndarray, np.ndarray, float]] = []
        regions = [chain.predicted() for chain in self._chains]
        # Every region's first try at once (they depend on nothing but the frame); the checks
        # and retries below go oldest first, each seeing what the older regions found.
        firsts = self._roi.map(frame.image, regions)
        for index, (chain, region, person) in enumerate(zip(self._chains, regions, firsts, strict=True)):
            others = [other for other, _, _ in found]
            if person is not None and held(person.points, others, frame.size):
                person = None
            if person is None:  # the others painted over (``occluders``)
                younger = [later.points for later in self._chains[index + 1 :]]
                person = self._alone(frame, chain, region, others, younger)
            if person is None:
                # The network's presence score dips under 0.5 on some poses (a body bent over,
                # seen from behind) while the person is still in the region, and with two
                # people overlapping it can settle on the other; framed a little wider it
                # usually finds them again. The person detector cannot stand in there: it
                # finds people by their face.
                person = self._wider(frame, chain, region, others)
            if person is None:  # then the detector, near where they should be
                person = self._redetect(frame, chain, others)
            if person is None:
                chain.misses += 1
                if chain.misses <= self.max_misses:
                    kept.append(chain)
                continue
            chain.update(person)
            kept.append(chain)
            found.append((person.points, person.world, np.inf))
        self._chains = kept
        return found

    def _wider(self, frame: Frame, chain: _Chain, region: Roi, others: list[np.ndarray]) -> RoiPerson | None:
        """The landmarks in ``region`` framed ``RETRY_SCALE`` times wider, if they are nobody in
        ``others`` and cover about the box the person was expected in: a wider frame around a
        region that held only part of someone (a phantom person inside a real one) finds that
        whole someone instead, and would keep the phantom alive."""
        person = self._roi(frame.image, region.scaled(RETRY_SCALE))
        if person is None or held(person.points, others, frame.size):
            return None
        return person if chain.overlap(person.points, frame.size) >= RETRY_MIN_IOU else None

    def _alone(self, frame: Frame, chain: _Chain, region: Roi, others: list[np.ndarray],
               younger: list[np.ndarray]) -> RoiPerson | None:
        """The landmarks in ``region`` with everyone else in it painted over: this frame's
        ``others`` and the ``younger`` chains' last landmarks. Kept if their torso is nobody's
        in ``others`` (a hidden head may lie on another's, so the face cannot judge here) and
        they cover about the box the person was expected in."""
        half = region.side / math.sqrt(2.0)  # the rotated square's farthest reach
        corners = np.array([region.x - half, region.y - half, region.x + half, region.y + half])
        bodies = [body for body in others + younger
                  if box_iou(corners, keypoint_box(body[:, :2])[None])[0] > 0]
        if not bodies:
            return None
        person = self._roi(paint_over(frame.image, bodies), region)
        if person is None or any(same_torso(person.points, other) for other in others):
            return None
        return person if chain.overlap(person.points, frame.size) >= RETRY_MIN_IOU else None

    def _redetect(self, frame: Frame, chain: _Chain, others: list[np.ndarray]) -> RoiPerson | None:
        """The person detector and landmarks on a square around where ``chain``'s person should
        be: the find that overlaps that place most (and is nobody in ``others``), as a region
        result, or None."""
        region = chain.search_region(frame.size)
        best, best_iou = None, 0.2
        for points, world, _ in self._sweep(frame, self._last_ms, [region]):
            if held(points, others, frame.size):
                continue
            overlap = chain.overlap(points, frame.size)
            if overlap > best_iou:
                best, best_iou = (points, world), overlap
        if best is None:
            return None
        points, world = best
        start = roi_from_landmarks(points[:, :2])
        return RoiPerson(points=points, world=world, alignment=start.alignment_points())

    def _regions(self, size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
        if self.tiles == "auto":
            return square_tiles(size[0], size[1], self.max_aspect)
        return [(0, 0, size[0], size[1])]

    def _landmarker(self, key: tuple[int, int, int, int] | str | None) -> Any:
        """The Tasks landmarker for ``key`` (a tile in video mode; in image mode, which keeps no
        state, None for every call on the calling thread and ``DISCOVERY`` for the sweep run
        beside the regions), made on first use."""
        landmarker = self._landmarkers.get(key)
        if landmarker is None:
            options = self._options
            with quiet_native_logs():
                landmarker = self._landmarkers[key] = self._vision.PoseLandmarker.create_from_options(options)
            self._cold[key] = QUIET_RUNS  # its first runs print MediaPipe's start-up notices
        return landmarker

    def _sweep(self, frame: Frame, stamp: int, regions=None,
               slot: str | None = None) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """The Tasks landmarker on ``regions`` (default: every tile): (points (33, 4), world, margin)
        for each person found. ``slot``: which image-mode landmarker (see ``_landmarker``)."""
        if regions is None:
            regions = self._regions(frame.size)
        found: list[tuple[np.ndarray, np.ndarray, float]] = []  # (33, 4) pixels+z+vis, world, margin
        for region in regions:
            x0, y0, w, h = region
            landmarker = self._landmarker(region if self._video_mode else slot)
            crop = np.ascontiguousarray(frame.image[y0 : y0 + h, x0 : x0 + w])
            image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=crop)
            key = region if self._video_mode else slot
            if self._video_mode:
                result = first_runs_quiet(self._cold, key, landmarker.detect_for_video, image, stamp)
            else:
                result = first_runs_quiet(self._cold, key, landmarker.detect, image)
            for marks, world in zip(result.pose_landmarks, result.pose_world_landmarks, strict=False):
                points = np.array([(p.x * w + x0, p.y * h + y0, p.z * w, p.visibility or 0.0) for p in marks])
                world_xyz = np.array([(p.x, p.y, p.z) for p in world], np.float32)
                found.append((points, world_xyz, inner_margin(points[:, :2], region, frame.size)))
        return found

    def take_regions(self, previous: PeopleLandmarker) -> None:
        """Track each person ``previous`` tracked from where it last found them (``previous``
        then tracks nobody): a detector switched while running keeps finding everyone without
        a sweep. Tiles (``regions="tiles"``) keep their tracking inside MediaPipe's landmarkers,
        which stay with their model: this one sweeps afresh."""
        if self.regions == previous.regions == "tracked":
            self._chains, previous._chains = previous._chains, []
            self._since_sweep, self._next_tile = previous._since_sweep, previous._next_tile
        self._last_ms = max(self._last_ms, previous._last_ms)

    def reset(self) -> None:
        """Forget every tile's and person's tracking (a new video)."""
        for landmarker in self._landmarkers.values():
            landmarker.close()
        self._landmarkers = {}
        self._chains = []
        self._since_sweep = 0
        self._next_tile = -1
        self._last_ms = -1

    def close(self) -> None:
        self.reset()
        if self._roi is not None:
            self._roi.close()
            self._roi = None
        self._closed = True


class _Beside:
    """``function(*args)`` on a thread of its own, started now and joined within the frame, so
    no thread outlives a call (``Pose3D`` stays synchronous between frames)."""

    def __init__(self, function: Any, *args: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function, args), name="pose3d-discovery",
                                        daemon=True)
        self._thread.start()

    def _run(self, function: Any, args: tuple) -> None:
        try:
            self._value = function(*args)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def join(self) -> None:
        self._thread.join()

    def result(self) -> Any:
        """The function's value, or its exception raised here."""
        self.join()
        if self._error is not None:
            raise self._error
        return self._value


class _Chain:
    """One tracked person's region: where their last landmarks put it, moved on by the body
    centre's last step. ``misses``: frames in a row the person was not found."""

    def __init__(self, points: np.ndarray) -> None:
        self._roi = roi_from_landmarks(points)
        self._box = keypoint_box(points[:, :2])
        self.points = np.asarray(points, np.float64)
        self._step = np.zeros(2)
        self.misses = 0

    def predicted(self) -> Roi:
        return self._roi.shifted(*self._step)

    def expected_box(self) -> np.ndarray:
        """(4,) the last landmarks' box moved on like ``predicted``."""
        return self._box + np.tile(self._step, 2)

    def overlap(self, points: np.ndarray, size: tuple[int, int]) -> float:
        """IoU of the box around (33, >=2) landmark ``points`` with ``expected_box``."""
        return float(box_iou(self.expected_box(), keypoint_box(points[:, :2], size)[None])[0])

    def search_region(self, size: tuple[int, int], margin: float = 1.5) -> tuple[int, int, int, int]:
        """(x0, y0, w, h): a square ``margin`` times the expected box's long side around it,
        inside the image (as large as the short image side at most)."""
        x1, y1, x2, y2 = self.expected_box()
        side = int(min(margin * max(x2 - x1, y2 - y1), min(size)))
        x0 = int(np.clip((x1 + x2 - side) / 2, 0, size[0] - side))
        y0 = int(np.clip((y1 + y2 - side) / 2, 0, size[1] - side))
        return (x0, y0, side, side)

    def update(self, person: RoiPerson) -> None:
        roi = person.next_roi()
        self._step = np.array([roi.x - self._roi.x, roi.y - self._roi.y]) / (1 + self.misses)
        self._roi = roi
        self._box = keypoint_box(person.points[:, :2])
        self.points = person.points
        self.misses = 0


def _candidates(found, size: tuple[int, int]) -> Candidates:
    """Candidates from finds that are one person each: (points (33, 4), world (33, 3), margin)."""
    if not found:
        return Candidates.none()
    boxes = np.array([keypoint_box(points[:, :2], size) for points, _, _ in found])
    points = np.stack([f[0] for f in found])
    world = np.stack([f[1] for f in found])
    visibility = np.clip(points[:, :, 3], 0.0, 1.0)
    landmarks = points[:, :, :3] / np.array([size[0], size[1], size[0]])  # z, like x, in widths
    return Candidates(
        boxes=boxes,
        keypoints=points[:, BLAZEPOSE_TO_COCO, :2],
        scores=visibility[:, BLAZEPOSE_TO_COCO],
        extras={
            "world_landmarks": world.astype(np.float32),
            "visibility": visibility.astype(np.float32),
            "landmarks": landmarks.astype(np.float32),
        },
    )
