"""Everyone in 3D: each tracked person lifted with a temporal window of their own.

The engine's own lifter lifts the followed person (``joints_3d``, the single-person API).
:class:`EveryoneLifter` lifts every other person a people detector reports
(``extras["people_ids"]``, see ``detectors.mediapipe_people``) with a lifter of their own, keeps
each person's poses in a ``RollingBuffer`` of their own, and writes everyone's newest 3D into the
detection's extras (``people_joints_3d``, (M, 17, 3), aligned with ``people_ids``); when the
engine records a row it puts there everyone's 3D of that row's frame (``people_at``), so the
recording keeps every person.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from pose3d_nb.buffer import PoseSample, RollingBuffer, RowPlacement
from pose3d_nb.detectors.detection import Detection
from pose3d_nb.detectors.glitches import GlitchGate
from pose3d_nb.lifting.protocol import LiftedPose, LiftSettings
from pose3d_nb.skeleton import NUM_JOINTS

#: Frames of each person's poses kept for ``EveryoneLifter.people_at`` (more than twice the
#: largest lookahead of the 243-frame model).
RECENT_FRAMES = 256


class EveryoneLifter:
    """A lifter and a buffer per tracked person.

    Args:
        make_lifter: returns a new lifter (the engine's kind), called once per new person.
        capacity: rows each person's buffer keeps.
        forget_after: frames a person may be unseen before their lifter is freed (their buffer
            stays in ``buffers``).
        placer: puts each person's poses in the room (``world.WorldStage``: ``place_person``,
            ``forget_person``), or None to keep each lifter's own upright frame.
    """

    def __init__(
        self, make_lifter: Callable[[], Any], capacity: int = 100_000, forget_after: int = 90,
        placer: Any = None,
    ) -> None:
        self._make_lifter = make_lifter
        self._placer = placer
        self.capacity = capacity
        self.forget_after = forget_after
        self._settings: LiftSettings | None = None
        self.buffers: dict[int, RollingBuffer] = {}
        self._lifters: dict[int, Any] = {}
        # Each person's one-frame glitches held back, as the detector does for the followed one.
        self._gates: dict[int, GlitchGate] = {}
        self._unseen: dict[int, int] = {}
        self._latest: dict[int, np.ndarray] = {}
        # Each person's newest pose as of each recent frame index: a row recorded with a
        # lookahead L is L frames older than the frame just pushed (``people_at``).
        self._as_of: dict[int, dict[int, np.ndarray]] = {}
        # The frame each person was last seen in, and the newest frame their lifter has given.
        self._last_seen: dict[int, int] = {}
        self._given_up_to: dict[int, int] = {}

    @property
    def settings(self) -> LiftSettings | None:
        """The temporal knobs every person's lifter runs with (the followed person's)."""
        return self._settings

    @settings.setter
    def settings(self, value: LiftSettings | None) -> None:
        if value == self._settings:
            return
        self._settings = value
        for lifter in self._lifters.values():  # a change while running reaches everyone
            lifter.settings = value

    def reset(self, keep_paths: bool = False) -> None:
        """A new window for everyone (a new source or segment; the room is placed anew);
        buffers are kept. ``keep_paths``: another person followed in the same view: each person's
        path in the room goes on (the placer hands the newly followed one's over)."""
        for lifter in self._lifters.values():
            lifter.reset()
        self._latest, self._gates = {}, {}
        self._forget_frames()
        if self._placer is not None and not keep_paths:
            self._placer.forget_person()

    def flush(self) -> None:
        """Every person's poses their lifter's lookahead still holds back (a clip or a segment
        ends), into their buffers and ``people_at``."""
        for track_id, lifter in list(self._lifters.items()):
            self._record(track_id, lifter.flush())

    def people_at(self, detection: Any) -> np.ndarray | None:
        """(M, 17, 3) everyone's 3D as of ``detection``'s frame, aligned with its ``people_ids``
        (world metres, NaN for someone with no pose yet); None when its detector tracks no one.

        The engine records a row when the followed person's pose of that frame comes out, L
        frames after the frame was pushed with a lookahead L; the others' lifters, run with the
        same L, have given their poses of that frame by then (a person who left the view is pushed
        missing frames until their lifter has given every frame they were seen in, as the
        followed person's is). A frame not given (older than ``RECENT_FRAMES``) takes their
        newest pose, as ``push`` does.
        """
        ids = detection.extras.get("people_ids")
        if ids is None:
            return None
        joints = np.full((len(ids), NUM_JOINTS, 3), np.nan, np.float32)
        for row, track_id in enumerate(np.asarray(ids).tolist()):
            pose = self._as_of.get(track_id, {}).get(detection.frame_index, self._latest.get(track_id))
            if pose is not None:
                joints[row] = pose
        return joints

    def push(self, detection: Any, frame: Any) -> None:
        """Lift everyone but the followed person in ``detection`` and add ``people_joints_3d``."""
        ids = detection.extras.get("people_ids")
        if ids is None:  # a single-person detector: nobody else; a later people detector's ids start anew
            if self._lifters or self._latest:
                self._lifters, self._unseen, self._latest, self._gates = {}, {}, {}, {}
                self._forget_frames()
                if self._placer is not None:
                    self._placer.forget_person()
            return
        followed = detection.extras.get("track_id") if detection.found else None
        seen = set()
        for row, track_id in enumerate(np.asarray(ids).tolist()):
            seen.add(track_id)
            if track_id == followed:
                continue
            gate = self._gates.setdefault(track_id, GlitchGate())
            person = gate(_person_detection(detection, row, track_id))
            self._record(track_id, self._lifter(track_id).push(person, frame))
            self._last_seen[track_id] = detection.frame_index
        for track_id in list(self._lifters):
            if track_id in seen:
                self._unseen[track_id] = 0
                continue
            self._unseen[track_id] = self._unseen.get(track_id, 0) + 1
            if self._given_up_to.get(track_id, -1) < self._last_seen.get(track_id, -1):
                # Their lookahead still holds back frames they were seen in, whose rows the
                # engine records now: a missing frame (their last 2D held, as the followed
                # person's) brings the next one out on time.
                missing = Detection.missing(detection.frame_size, detection.timestamp, detection.frame_index)
                missing.extras["track_id"] = track_id
                self._record(track_id, self._lifters[track_id].push(missing, frame))
            if self._unseen[track_id] > self.forget_after:
                self._record(track_id, self._lifters.pop(track_id).flush())
                del self._unseen[track_id]
                self._gates.pop(track_id, None)
                self._forget_frames(track_id)
                if self._placer is not None:
                    self._placer.forget_person(track_id)
        joints = np.full((len(ids), NUM_JOINTS, 3), np.nan, np.float32)
        for row, track_id in enumerate(np.asarray(ids).tolist()):
            if track_id in self._latest:
                joints[row] = self._latest[track_id]
        # Newest poses (with a lookahead, of an older frame: the live view shows the followed
        # person's pose of that frame too); the engine sets the row's own frame's when it records.
        detection.extras["people_joints_3d"] = joints

    def record_followed(self, poses: list[LiftedPose]) -> None:
        """The engine lifter's poses (already placed by the engine) go into the followed
        person's buffer too."""
        for pose in poses:
            track_id = pose.detection.extras.get("track_id")
            if track_id is not None and pose.valid:
                self._record(int(track_id), [pose], place=False)

    def place_again(self, rows: list[RowPlacement]) -> None:
        """The followed person's rows placed again (``WorldStage.take_placed_again``), in the
        buffer of the person each was of."""
        for row in rows:
            buffer = self.buffers.get(row.track_id)
            if buffer is not None:
                buffer.place_again([dataclasses.replace(row, segment=0)])

    def _forget_frames(self, track_id: int | None = None) -> None:
        """Drop the record by frame (``people_at``'s poses, the frame last seen, the newest
        frame given) of one person, or of everyone (None)."""
        for record in (self._as_of, self._last_seen, self._given_up_to):
            if track_id is None:
                record.clear()
            else:
                record.pop(track_id, None)

    def _lifter(self, track_id: int) -> Any:
        lifter = self._lifters.get(track_id)
        if lifter is None:
            lifter = self._lifters[track_id] = self._make_lifter()
            if self._settings is not None:
                lifter.settings = self._settings
        return lifter

    def _record(self, track_id: int, poses: list[LiftedPose], place: bool = True) -> None:
        if place and self._placer is not None and poses:
            poses = self._placer.place_person(track_id, poses)
        buffer = self.buffers.get(track_id)
        if buffer is None:
            buffer = self.buffers[track_id] = RollingBuffer(self.capacity)
        as_of = self._as_of.setdefault(track_id, {})
        for pose in poses:
            self._given_up_to[track_id] = max(self._given_up_to.get(track_id, -1), pose.frame_index)
            if pose.valid and np.isfinite(pose.joints).all():
                self._latest[track_id] = pose.joints
            if track_id in self._latest:
                as_of[pose.frame_index] = self._latest[track_id]
                if len(as_of) > RECENT_FRAMES:
                    del as_of[next(iter(as_of))]  # the oldest (dicts keep insertion order)
            detection = pose.detection
            # The camera-frame pose too: without it a row reads as a lifter's own pelvis-centred
            # pose (``recording.pelvis_centred_rows``), and a person's buffer saved with
            # ``write_session`` loaded with a warning that its rows were never placed.
            buffer.append(PoseSample(
                joints_3d=pose.joints, keypoints_2d=detection.keypoints, scores_2d=detection.scores,
                timestamp=detection.timestamp, frame_index=pose.frame_index, valid=pose.valid, segment=0,
                joints_camera=pose.joints_camera,
            ))


def _person_detection(detection: Any, row: int, track_id: int) -> Any:
    """Row ``row`` of ``detection``'s ``people_*`` extras as a Detection of its own."""
    extras: dict[str, Any] = {"track_id": track_id}
    world = detection.extras.get("people_world_landmarks")
    if world is not None and len(world) > row:
        extras["world_landmarks"] = world[row]
    return Detection(
        keypoints=detection.extras["people_keypoints"][row],
        scores=detection.extras["people_scores"][row],
        bbox=detection.extras["people_boxes"][row],
        frame_size=detection.frame_size,
        timestamp=detection.timestamp,
        frame_index=detection.frame_index,
        extras=extras,
    )
