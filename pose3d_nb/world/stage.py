"""The step after lifting, for the engine and ``Pose3D``: lifted poses in camera axes -> the same
poses in the world (``LiftedPose.joints``), with the placed camera-frame pose beside them
(``LiftedPose.joints_camera``, now with the root's translation)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_nb.buffer import RowPlacement
from pose3d_nb.world.intrinsics import Intrinsics
from pose3d_nb.world.lean import LeanBias
from pose3d_nb.world.tracker import PersonPath, WorldTracker
from pose3d_nb.world.vanishing import nearly_blank

#: What ``joints_3d`` and ``joints_camera`` hold, for session metadata.
JOINTS_3D_MEANING = (
    "Human3.6M-17, world metres: z up, floor at z=0 for the whole session, x right and y ahead of "
    "the camera on the floor, the camera at (0, 0, camera_height_m)"
)
FPS_FRAMES = 10  # timestamps of a segment's first frames that set the frame rate
#: Frames offered for the room's vertical edges while the camera settles (``vanishing``): the
#: first one of a segment, then one every ``SCENE_EVERY_S`` until they are found.
SCENE_TRIES = 3
SCENE_EVERY_S = 0.3
#: Rows remembered while the camera settles, to be placed again once it has (its first second
#: with a person, and the rows of anyone followed before a click meanwhile; rows holding the
#: last pose while nobody is found count too): beyond this many
#: (a person seen for a moment, then nobody for minutes), later rows keep their live place.
SETTLING_ROWS_KEPT = 3000
JOINTS_CAMERA_MEANING = "Human3.6M-17, camera metres: x right, y down, z forward, root translation included"


class WorldStage:
    """Places every ``LiftedPose`` in the world as it comes (past frames only, see ``WorldTracker``).

    camera, fov, focal: the lens (an ``Intrinsics`` or calibration file; degrees; pixels), at
    most one; None: ``DEFAULT_FOV_DEG``. height: the person's height in metres, if known.
    fps: the source's frame rate until the detections' timestamps tell it (the smoothing and
    settling times are in seconds; ``FPS_FRAMES`` frames of a new segment measure it). A new source
    segment forgets the camera; a new ``track_id`` (another person) keeps it. Frames that cannot
    be placed (nobody found) hold the last placed pose, as the lifters hold theirs.
    lean: the lifter's lean habit (its ``lean_bias``, ``world.lean``), or None; it can be
    changed with the lifter (``stage.tracker.lean``).
    """

    def __init__(
        self,
        camera: Intrinsics | str | Path | None = None,
        fov: float | None = None,
        focal: float | None = None,
        height: float | None = None,
        fps: float = 30.0,
        lean: LeanBias | None = None,
    ):
        self.tracker = WorldTracker(camera, fov, focal, height, fps, lean)
        self._segment: Any = None
        self._placed_in_segment = False
        self._track: Any = None
        self._index: int | None = None  # the frame index of the last pose placed
        self._held: tuple[np.ndarray, np.ndarray, int] | None = None  # the last pose placed, its push
        self._times: list[float] = []
        self._people: dict[int, PersonPath] = {}
        self._scene_offers: list[float] = []
        self._scene_error: str | None = None
        self._placed_again: list[RowPlacement] = []
        # While the camera settles: each push's row by push number, as (segment, frame index,
        # track, the push whose pose it shows: its own, or the one it holds while nobody is found).
        self._pushes = 0
        self._settling_rows: dict[int, tuple[Any, int, Any, int]] = {}
        # Each earlier source segment's room (its camera and size keys), kept when the next one
        # starts over or once it was placed again: a recording of several runs holds rows
        # placed in different rooms, and the metadata must say which (not only the last).
        self._segment_rooms: dict[Any, dict[str, Any]] = {}

    def reset(self) -> None:
        """Forget everything (a new source)."""
        self.tracker.reset()
        self._segment = self._track = self._held = self._index = None
        self._placed_in_segment = False  # a run that placed nobody has no room of its own
        self._times = []
        self._people = {}
        self._scene_offers = []
        self._scene_error = None
        self._placed_again = []
        self._settling_rows = {}

    def begin(self, segment: int) -> None:
        """Source segment ``segment`` starts (a Start, another source): the previous segment's
        room is kept for ``segments`` and the camera estimate starts over, so that the metadata
        describes the new run from its first moment, before it has placed anyone. The engine
        calls it on Start; ``place`` calls it for a segment it has not begun."""
        if segment == self._segment:
            return
        if self._segment is not None and self._placed_in_segment:
            self._segment_rooms.setdefault(self._segment, _room(self._current_metadata()))
        self.reset()
        self._segment = segment

    def observe(self, image: np.ndarray, detection: Any, segment: int = 0) -> None:
        """Show the stage a frame of source segment ``segment`` (RGB (H, W, 3)) with its
        ``Detection``: while the camera settles, a few such frames are searched for the room's
        vertical edges, which give its up better than the people can (``world.vanishing``):
        the first frame, then one every ``SCENE_EVERY_S``, their edges pooled, until the up
        comes from them or ``SCENE_TRIES`` frames were searched. Nearly blank frames (a camera
        still opening) are skipped without using a try. Costs nothing once the camera has
        settled, the up came from the edges or the tries are used up.
        Call it after ``place`` for the same frame, so a new segment's first frame counts."""
        tracker = self.tracker
        if segment != self._segment or tracker.settled or tracker.up_source == "scene":
            return
        offers, now = self._scene_offers, float(detection.timestamp)
        if len(offers) >= SCENE_TRIES or (offers and math.isfinite(now) and now - offers[-1] < SCENE_EVERY_S):
            return
        if nearly_blank(image):
            return
        offers.append(now)
        try:
            tracker.offer_scene(image, _people_boxes(detection))
        except Exception as exc:  # noqa: BLE001 - optional: the people's up is used instead
            self._scene_error = f"{type(exc).__name__}: {exc}"
            offers.extend([now] * SCENE_TRIES)  # no more tries for this source

    def place_person(self, track_id: int, poses: list) -> list:
        """Another tracked person's ``LiftedPose``s -> the same, placed in the room the followed
        person's frames estimated (its camera and floor), each person on a path of their own.
        A pose that cannot be placed gets NaN joints."""
        path = self._people.get(track_id)
        if path is None:  # the person followed until now has theirs already (``_follow_path``)
            path = self._people[track_id] = PersonPath(None, self.tracker.fps)
        path.set_fps(self.tracker.fps)  # measured from the timestamps after the path began
        placed = []
        for pose in poses:
            if pose.joints_camera is None:
                placed.append(pose)
                continue
            detection = pose.detection
            world, camera = self.tracker.place_other(path, pose.joints_camera, detection.keypoints,
                                                     detection.scores, detection.frame_size, pose.valid,
                                                     detection.timestamp)
            placed.append(dataclasses.replace(pose, joints=world, joints_camera=camera))
        return placed

    def forget_person(self, track_id: int | None = None) -> None:
        """Drop another person's path (their track ended); None: everyone's."""
        if track_id is None:
            self._people = {}
        else:
            self._people.pop(track_id, None)

    def place(self, poses: list, segment: int = 0) -> list:
        """``LiftedPose``s (oldest first) of source segment ``segment`` -> the same, placed.

        Poses without ``joints_camera`` (a lifter that does not give it) pass unchanged.
        """
        placed: list = []
        here: dict[int, int] = {}  # this call's poses placed while the camera settles, by push number
        for pose in poses:
            if pose.joints_camera is None:
                placed.append(pose)
                continue
            self.begin(segment)
            self._placed_in_segment = True
            detection = pose.detection
            self._measure_fps(detection.timestamp)
            track = detection.extras.get("track_id") if pose.valid else self._track
            again = self._index is not None and pose.frame_index < self._index  # a looping file's next pass
            self._index = pose.frame_index
            if track != self._track or again:  # another path in the same room
                self._follow_path(track, again)
            settling, number = not self.tracker.settled, self._pushes
            self._pushes += 1
            world, camera = self.tracker.push(
                pose.joints_camera, detection.keypoints, detection.scores, detection.frame_size, pose.valid,
                detection.timestamp, key=number,
            )
            shown, row_track = None, None  # a row without a pose of its own is in nobody's buffer
            if np.isfinite(world).all():
                self._held = (world, camera, number)
                shown, row_track = number, track
            elif self._held is not None:
                world, camera, shown = self._held
            if settling and shown is not None and len(self._settling_rows) < SETTLING_ROWS_KEPT:
                self._settling_rows[number] = (self._segment, pose.frame_index, row_track, shown)
                here[number] = len(placed)
            placed.append(dataclasses.replace(pose, joints=world.copy(), joints_camera=camera.copy()))
            self._place_again(self.tracker.take_resettled(), placed, here)
        return placed

    def _place_again(self, resettled: list, placed: list, here: dict[int, int]) -> None:
        """The rows placed while the camera settled, in the room it settled on: those of this
        ``place`` call in ``placed`` itself (a lookahead's flush gives several poses at once, and
        the engine records them after), the earlier ones for ``take_placed_again``; a row that
        held a pose (nobody found) takes that pose's new place."""
        if not resettled:
            return
        again = {number: (world, camera) for number, world, camera in resettled}
        for number, (segment, frame_index, track, shown) in self._settling_rows.items():
            if shown not in again:
                continue
            world, camera = again[shown]
            if number in here:
                index = here[number]
                placed[index] = dataclasses.replace(placed[index], joints=world.copy(),
                                                    joints_camera=camera.copy())
            else:
                self._placed_again.append(RowPlacement(segment, frame_index, track, world, camera))
        self._settling_rows = {}

    def take_placed_again(self) -> list[RowPlacement]:
        """Once: the followed person's rows ``place`` gave while the camera settled, placed
        again in the room it settled on (``WorldTracker.take_resettled``), for the caller to
        rewrite where it keeps them (the engine: its buffer, the person's, the recording)."""
        taken, self._placed_again = self._placed_again, []
        return taken

    def _follow_path(self, track: Any, again: bool) -> None:
        """The followed person changed (``track``) or a looping file began its next pass
        (``again``): the tracker places them on a new path in the same room; a person placed
        until now as someone else in view keeps their own path (depth and size), so the one the
        user clicked does not jump, and the person followed until now goes on as someone else.
        A camera still settling settles again from this person's frames; the rows placed so far
        (the person followed until now, under their track id) are placed again in its room with
        theirs. At a looping file's seam it goes on settling instead (the same footage of the
        same room; it started over at each pass, so a pass shorter than the settling second never
        settled), and a pass before this one keeps its rows as shown: they have the frame indices
        of this one's, and a row placed again is found by its frame index."""
        handed = self._people.pop(track, None) if not again and track is not None else None
        previous = self.tracker.reset(keep_camera=True, path=handed, keep_settling=not again, next_pass=again)
        if again:
            self._settling_rows = {}
        if not again and None not in (track, self._track) and previous is not None \
                and not previous.size.given:  # a given height is the followed person's, not theirs
            self._people[self._track] = previous
        self._track, self._held = track, None

    def placed_again(self, session: Any, metadata: dict[str, Any], rows: np.ndarray,
                     hold_bones: bool = False) -> tuple[Any, dict[str, Any]]:
        """A finished recording (a ``BufferSnapshot``) and its metadata, with ``rows`` (the
        current segment's, one whole clip) placed again from the whole clip, in the lens
        and room this stage used (``world.recorded``; ``hold_bones``: each followed person's
        bones at their clip medians first); unchanged when nothing can be placed."""
        from pose3d_nb.world.recorded import replace_recording

        tracker = self.tracker
        estimate = tracker.estimate
        replaced = replace_recording(session, estimate.frame, estimate.intrinsics, tracker.given_height,
                                     tracker.fps, tracker.scene, rows=rows, hold_bones=hold_bones)
        if replaced is not None:
            session, metadata = replaced.snapshot, {**metadata, **replaced.metadata(metadata)}
        if self._segment is not None:  # its room is final now; the next run starts another
            self._segment_rooms[self._segment] = _room(metadata)
        return session, {**metadata, "segments": self._segments_record()}

    def _measure_fps(self, timestamp: float) -> None:
        if len(self._times) >= FPS_FRAMES or not math.isfinite(timestamp):
            return
        self._times.append(timestamp)
        steps = np.diff(self._times)
        steps = steps[steps > 0]
        if len(steps) >= 2:
            self.tracker.fps = 1.0 / float(np.median(steps))

    def metadata(self) -> dict[str, Any]:
        """The camera estimate and what the joints mean, for a session's metadata; ``segments``:
        each source segment's room, oldest first (``{"segment", <the camera keys>,
        "world_placement"}``), the current one as it stands."""
        return {
            **self._current_metadata(),
            "segments": self._segments_record(),
        }

    def _segments_record(self) -> list[dict[str, Any]]:
        rooms = dict(self._segment_rooms)
        if self._segment is not None and self._placed_in_segment and self._segment not in rooms:
            rooms[self._segment] = _room(self._current_metadata())
        return [{"segment": segment, **rooms[segment]} for segment in sorted(rooms)]

    def _current_metadata(self) -> dict[str, Any]:
        scene_error = {"camera_up_scene_error": self._scene_error} if self._scene_error else {}
        return {
            **self.tracker.estimate.metadata(),
            **scene_error,
            # Whether the lifter's lean habit was turned back out of the poses (world.lean).
            "lifter_lean_removed": self.tracker.lean is not None,
            "joints_3d": JOINTS_3D_MEANING,
            "joints_camera": JOINTS_CAMERA_MEANING,
        }


#: The keys of one segment's room in ``metadata["segments"]`` (see ``WorldStage.metadata``).
ROOM_KEYS = ("camera_pitch_deg", "camera_roll_deg", "camera_height_m", "camera_pose_source",
             "camera_up_source", "focal_px", "focal_source", "person_height_m", "person_height_source",
             "world_placement", "bones_held")


def _room(metadata: dict[str, Any]) -> dict[str, Any]:
    """A segment's room from a metadata dict: ``ROOM_KEYS`` present, ``world_placement`` "live"
    when it was not placed again."""
    return {"world_placement": "live", **{key: metadata[key] for key in ROOM_KEYS if key in metadata}}


def _people_boxes(detection: Any) -> np.ndarray:
    """(M, 4) pixel boxes of everyone ``detection`` shows: the followed person's box and the
    keypoint extents of the others a people detector tracks (NaN for one with no keypoints)."""
    # Imported here: ``pose3d_nb.world`` alone (offline placement) need not load the detectors;
    # whoever has a Detection to pass has loaded them already.
    from pose3d_nb.detectors.geometry import keypoint_box

    boxes = [np.asarray(detection.bbox, np.float64).reshape(4)]
    others = detection.extras.get("people_keypoints")
    if others is not None:
        boxes += [keypoint_box(points) for points in np.asarray(others, np.float64)]
    return np.stack(boxes)
