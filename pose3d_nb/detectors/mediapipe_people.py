"""Everyone in view with MediaPipe: the ``mediapipe-people`` backend.

:class:`MediaPipePeopleDetector` finds everyone's landmarks (``people_landmarks``), gives every
person a stable track id (``people.PeopleTracker``) and follows the one ``follow=`` says
(``follow.PeopleFollower``).
"""

from __future__ import annotations

import copy

import numpy as np

from pose3d_nb.detectors.base import (
    Candidates,
    FollowingDetector,
    assemble_detection,
)
from pose3d_nb.detectors.detection import Detection
from pose3d_nb.detectors.follow import PeopleFollower
from pose3d_nb.detectors.mediapipe_pose import BLAZEPOSE_MIRROR
from pose3d_nb.detectors.people import PeopleTracker, PersonTrack
from pose3d_nb.detectors.people_landmarks import PeopleLandmarker
from pose3d_nb.sources.frame import Frame


class MediaPipePeopleDetector(FollowingDetector):
    """Everyone in view, each with a stable id; the detection is about the one ``follow`` picks.

    Args:
        follow: whom to follow: "largest", "centre", "most-moving", a track id or "X,Y" (see
            ``detectors.follow``).
        num_poses, tiles, regions, discover_every, workers, min_*_confidence: see
            :class:`PeopleLandmarker`.
        model_complexity: the landmark model of each person's region: 1 Full (the default, in
            the wheel), 0 Lite, 2 Heavy (fetched once by ``pose3d models fetch mediapipe-lite``
            / ``mediapipe-heavy``; without the file, ``DetectorUnavailable`` names the command).
            ``mediapipe-lite`` and ``mediapipe-heavy`` run as this with any ``follow=`` but
            "none" (the default "auto" too, since 2026-12-08).
        max_lost_seconds: how long a hidden person keeps their id.
        fix_left_right: undo the followed person's left/right label flips.
        check_face: when the followed person's labels turn their back to the camera, look for a
            face on their head and turn the labels round if one is there (``facing``).

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
        regions: str = "tracked",
        discover_every: int = 10,
        workers: int | None = None,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        max_lost_seconds: float = 2.0,
        fix_left_right: bool = True,
        check_face: bool = True,
        model_complexity: int = 1,
    ) -> None:
        from pose3d_nb.detectors.blazepose_models import install_model

        if model_complexity in (0, 2):  # Lite and Heavy: the fetched file, or an error naming the command
            install_model(model_complexity)
        follower = PeopleFollower(follow, PeopleTracker(max_lost_seconds=max_lost_seconds),
                                  fix_left_right=fix_left_right)
        self._landmarker = PeopleLandmarker(
            num_poses=num_poses, tiles=tiles, regions=regions, discover_every=discover_every,
            workers=workers, min_detection_confidence=min_detection_confidence,
            min_presence_confidence=min_presence_confidence,
            min_tracking_confidence=min_tracking_confidence, model_complexity=model_complexity,
        )
        super().__init__(follow=True, fix_left_right=fix_left_right, check_face=check_face)
        self._follower = follower  # everyone tracked, one followed: in place of the base's own
        self._published: dict[int, PersonTrack] = {}  # copies of the tracks, as of the last frame
        self._last_index: int | None = None  # the source's index of the last frame
        self._pass: tuple[float, int, float, int] | None = None  # this pass's first and last (time, index)

    @property
    def workers(self) -> int:
        """Threads the tracked people's regions run on at once (``workers=``)."""
        return self._landmarker.workers

    @property
    def people(self) -> dict[int, PersonTrack]:
        """Every live track by id (seen within ``max_lost_seconds``), as of the newest frame
        processed: copies made once that frame was done, so that reading them from another
        thread never sees a frame half-tracked (everyone briefly not ``visible``), and what the
        caller does to them never reaches the tracker."""
        return dict(self._published)

    @property
    def followed(self) -> int | None:
        """The followed person's track id (None before anyone is chosen)."""
        return self._follower.followed

    @property
    def follow_status(self) -> str:
        return self._follower.status

    def follow(self, target: object) -> None:
        """Follow another person from the next frame: a track id now in view, or a policy value."""
        # True is a policy ("largest", as for follow=True), never track id 1
        is_id = isinstance(target, (int, np.integer)) and not isinstance(target, bool)
        if is_id or (isinstance(target, str) and target.strip().isdigit()):
            self._follower.follow(int(target))
        else:
            self._follower.follow_policy(target)

    def candidates(self, frame: Frame) -> Candidates:
        return self._landmarker(frame)

    def __call__(self, frame: Frame) -> Detection:
        if self._follower.frame_size not in (None, tuple(frame.size)):
            # Another image size (a folder of mixed images, a browser camera changing resolution):
            # the regions and tracks are in the old image's pixels and would match nobody, so
            # tracking starts afresh (track ids are given anew; the follow policy stays, a chosen
            # person's place scaled to the new image: ``PeopleFollower.resize``).
            self._landmarker.reset()
            self._follower.resize(tuple(frame.size))
        self._follower.frame_size = tuple(frame.size)
        if self._last_index is not None and frame.index < self._last_index:
            # The source started over (a looping file): the regions are where the people were at
            # the clip's end, and each person is given their id back (``PeopleFollower.replay``),
            # at the media time of the clip's first frame (a paced file drops frames, and the
            # first one seen may be a later one).
            self._landmarker.reset()
            first_time, first_index, last_time, last_index = self._pass
            frames = last_index - first_index
            per_frame = (last_time - first_time) / frames if frames > 0 else 0.0
            self._follower.replay(frame.timestamp - frame.index * per_frame)
            self._pass = None
        self._last_index = frame.index
        first = self._pass[:2] if self._pass else (frame.timestamp, frame.index)
        self._pass = (*first, frame.timestamp, frame.index)
        found = self.candidates(frame)
        followed = assemble_detection(frame, found, self._follower, self.extras_mirror, self._faces)
        detection = self._glitches(followed)  # its one-frame glitches held back (``glitches``)
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
        self._published = {track_id: copy.deepcopy(t) for track_id, t in self._follower.people.items()}
        return detection

    def take_over(self, previous: object) -> bool:
        """As ``FollowingDetector.take_over``; the people's regions in the image move over too
        (this one's model then looks where ``previous`` last found each of them)."""
        if not super().take_over(previous):
            return False
        for name in ("_published", "_last_index", "_pass"):
            mine, theirs = getattr(self, name), getattr(previous, name)
            setattr(self, name, theirs)
            setattr(previous, name, mine)
        self._landmarker.take_regions(previous._landmarker)
        return True

    def reset(self) -> None:
        self._landmarker.reset()
        self._follower.reset()
        self._glitches.reset()
        self._published = {}
        self._last_index = self._pass = None

    def close(self) -> None:
        try:
            self._landmarker.close()
        finally:
            super().close()
