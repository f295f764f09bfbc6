"""Everyone in view, each with a stable id: frame-to-frame association of people.

:class:`PeopleTracker` keeps one track per person. Each frame, every live track's box is
predicted forward at constant velocity, candidates are matched to tracks by Hungarian
assignment (``scipy.optimize.linear_sum_assignment``) on a cost of box overlap and pose
distance, and a match is allowed only inside a gate that widens with the time the person has
been unseen. A person hidden behind another keeps their id for ``max_lost_seconds``; only a
candidate that matches no live or recently lost track starts a new id.

All arrays are NumPy, pixels (x right, y down); candidates are rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from pose3d_nb.detectors.geometry import box_centre, box_iou
from pose3d_nb.detectors.tracking import TrackIds, pose_distance, smoothed_velocity
from pose3d_nb.skeleton import COCO

_INFEASIBLE = 1e6
#: A looping file played again (``PeopleTracker.replay``): someone who appears within this many
#: seconds of how far into the pass before a person appeared, their boxes overlapping by at
#: least ``REPLAY_MIN_IOU``, is that person again and gets their id back.
REPLAY_SECONDS = 0.5
REPLAY_MIN_IOU = 0.3
_MAX_BIRTHS = 512  # a pass keeps its first appearances (a camera never replays)


@dataclass(frozen=True, eq=False)  # compared by identity: its box is an array
class _Birth:
    """Where and when into its pass a track first appeared."""

    offset: float  # seconds since the pass began
    box: np.ndarray
    track_id: int


@dataclass
class PersonTrack:
    """One person's state, as the tracker last saw them.

    track_id: stable id (1, 2, ...; never reused, but given back to the same person when a
        looping file plays again: ``PeopleTracker.replay``).
    box: (4,) x1, y1, x2, y2 pixels, where last seen.
    keypoints: (17, 2) pixels, where last seen; scores: (17,).
    velocity: (2,) pixels per second of the box centre (smoothed).
    first_time, last_time: seconds, when first and last seen.
    seen: frames in which they were matched.
    travel: summed keypoint displacement, in box heights (how much they move).
    """

    track_id: int
    box: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    velocity: np.ndarray
    first_time: float
    last_time: float
    seen: int = 1
    travel: float = 0.0
    index: int | None = field(default=None)  # row among the current frame's candidates, or None

    @property
    def visible(self) -> bool:
        """Matched in the newest frame."""
        return self.index is not None

    @property
    def area(self) -> float:
        return float(max(self.box[2] - self.box[0], 0.0) * max(self.box[3] - self.box[1], 0.0))

    @property
    def diagonal(self) -> float:
        return max(float(np.hypot(self.box[2] - self.box[0], self.box[3] - self.box[1])), 1.0)

    def predicted_box(self, timestamp: float, max_extrapolation: float) -> np.ndarray:
        """(4,) box moved by the velocity for the time since last seen (capped)."""
        shift = self.velocity * min(max(timestamp - self.last_time, 0.0), max_extrapolation)
        return self.box + np.concatenate([shift, shift])

    def motion(self) -> float:
        """Keypoint displacement per second, in box heights."""
        duration = self.last_time - self.first_time
        return self.travel / duration if duration > 0 else 0.0


class PeopleTracker(TrackIds):
    """Gives every person in view a stable track id.

    Args:
        max_lost_seconds: a track unseen this long is dropped (the person, if they come back,
            gets a new id). Long enough for someone to pass behind another person.
        min_iou: a candidate overlapping a track's predicted box this much is a plausible match.
        gate, gate_growth, max_gate: otherwise a candidate is plausible when its centre is within
            ``min(gate + gate_growth * seconds_unseen, max_gate)`` track box diagonals of the
            predicted centre.
        max_extrapolation_seconds: the constant-velocity prediction stops after this long.
        min_keypoint_score: keypoints below it are ignored in pose distances.
        velocity_smoothing: weight of the newest velocity measurement.
        duplicate_iou: an unmatched candidate overlapping a matched one this much is the same
            person seen twice (e.g. by two overlapping tiles) and starts no track.
    """

    def __init__(
        self,
        *,
        max_lost_seconds: float = 2.0,
        min_iou: float = 0.3,
        gate: float = 0.5,
        gate_growth: float = 1.0,
        max_gate: float = 1.0,
        max_extrapolation_seconds: float = 0.5,
        min_keypoint_score: float = 0.3,
        velocity_smoothing: float = 0.5,
        duplicate_iou: float = 0.6,
    ) -> None:
        self.max_lost_seconds = max_lost_seconds
        self.min_iou = min_iou
        self.gate = gate
        self.gate_growth = gate_growth
        self.max_gate = max_gate
        self.max_extrapolation_seconds = max_extrapolation_seconds
        self.min_keypoint_score = min_keypoint_score
        self.velocity_smoothing = velocity_smoothing
        self.duplicate_iou = duplicate_iou
        self.mirror = COCO.mirror_permutation()
        self.tracks: dict[int, PersonTrack] = {}
        self._next_id = 1
        self._time: float | None = None
        self._pass_start: float | None = None
        self._births: list[_Birth] = []  # this pass's, for the next one
        self._replayed: list[_Birth] = []  # the pass before's, not yet born again

    def take_tracks_from(self, previous: PeopleTracker) -> None:
        """Go on with ``previous``'s tracks and ids (a detector switched while running); this
        tracker's settings stay. ``previous`` forgets everyone."""
        self.tracks, self._time, self._pass_start = previous.tracks, previous._time, previous._pass_start
        self._births, self._replayed = previous._births, previous._replayed
        self.continue_ids(previous.next_id)
        previous.reset()

    def reset(self) -> None:
        """Forget everyone (ids keep increasing: old and new tracks never share one)."""
        self.tracks = {}
        self._time = self._pass_start = None
        self._births, self._replayed = [], []

    def replay(self, timestamp: float) -> None:
        """The same footage starts again at ``timestamp`` (a looping file's next pass): everyone
        is dropped, since the clip's first frame is not where anyone was at its last, and each
        person the pass before saw appear gets their id back when someone appears about as soon
        into this pass, about where they did (``REPLAY_SECONDS``, ``REPLAY_MIN_IOU``). Without
        it, the nearest person at the start of the clip took over the track of whoever was
        nearest at its end, and a followed person could silently become another."""
        self.tracks = {}
        # Those the pass before did not see again (came back late, or were missed) keep theirs.
        self._replayed, self._births = (self._births + self._replayed)[:_MAX_BIRTHS], []
        self._pass_start = timestamp

    @property
    def replayed_ids(self) -> set[int]:
        """The ids of the pass before not given back yet (after ``replay``)."""
        return {b.track_id for b in self._replayed}

    def forget_birth(self, track_id: int) -> None:
        """Give ``track_id`` back to nobody from now on (its person came back under another id)."""
        self._replayed = [b for b in self._replayed if b.track_id != track_id]

    def birth_box(self, track_id: int) -> np.ndarray | None:
        """(4,) where ``track_id`` first appeared in the pass before, while not yet given back
        (after ``replay``); else None."""
        birth = next((b for b in self._replayed if b.track_id == track_id), None)
        return None if birth is None else birth.box.copy()

    def _new_id(self, timestamp: float, box: np.ndarray) -> int:
        """The id of a person appearing now: theirs from the pass before, else a new one."""
        offset = timestamp - self._pass_start
        near = [i for i, b in enumerate(self._replayed) if abs(b.offset - offset) <= REPLAY_SECONDS]
        overlaps = [float(box_iou(box, self._replayed[i].box[None])[0]) for i in near]
        if overlaps and max(overlaps) >= REPLAY_MIN_IOU:
            track_id = self._replayed.pop(near[int(np.argmax(overlaps))]).track_id
        else:
            track_id, self._next_id = self._next_id, self._next_id + 1
        if len(self._births) < _MAX_BIRTHS:
            self._births.append(_Birth(offset, box.copy(), track_id))
        return track_id

    def update(
        self, timestamp: float, boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray
    ) -> dict[int, int]:
        """Match this frame's candidates to tracks.

        Args:
            timestamp: seconds, increasing (a jump backwards, e.g. a new source, resets).
            boxes: (N, 4) x1, y1, x2, y2; N may be 0.
            keypoints: (N, 17, 2) pixels; scores: (N, 17).

        Returns:
            {track_id: candidate row} for everyone seen in this frame. Duplicates (see
            ``duplicate_iou``) and invalid boxes belong to no track.
        """
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        n = len(boxes)
        keypoints = np.asarray(keypoints, np.float64).reshape(n, 17, 2)
        scores = np.asarray(scores, np.float64).reshape(n, 17)
        if self._time is not None and timestamp < self._time:
            self.reset()
        self._time = timestamp
        if self._pass_start is None:
            self._pass_start = timestamp
        expired = [t for t, tr in self.tracks.items() if timestamp - tr.last_time > self.max_lost_seconds]
        for track_id in expired:
            del self.tracks[track_id]
        for track in self.tracks.values():
            track.index = None
        valid = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        tracks = list(self.tracks.values())
        matches: dict[int, int] = {}
        if tracks and valid.any():
            cost = np.array([self._costs(t, timestamp, boxes, keypoints, scores, valid) for t in tracks])
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                if cost[r, c] < _INFEASIBLE:
                    matches[tracks[r].track_id] = int(c)
        for track_id, row in matches.items():
            self._follow(self.tracks[track_id], timestamp, boxes[row], keypoints[row], scores[row], row)
        taken = set(matches.values())
        for row in np.flatnonzero(valid):
            row = int(row)
            if row in taken:
                continue
            if taken and box_iou(boxes[row], boxes[sorted(taken)]).max() >= self.duplicate_iou:
                continue
            track = PersonTrack(
                track_id=self._new_id(timestamp, boxes[row]), box=boxes[row].copy(),
                keypoints=keypoints[row].copy(), scores=scores[row].copy(), velocity=np.zeros(2),
                first_time=timestamp, last_time=timestamp, index=row,
            )
            self.tracks[track.track_id] = track
            matches[track.track_id] = row
            taken.add(row)
        return matches

    def _costs(self, track: PersonTrack, timestamp, boxes, keypoints, scores, valid) -> np.ndarray:
        """(N,) cost of matching ``track`` to each candidate; ``_INFEASIBLE`` outside the gate."""
        elapsed = timestamp - track.last_time
        predicted = track.predicted_box(timestamp, self.max_extrapolation_seconds)
        diagonal = track.diagonal
        ious = box_iou(predicted, boxes)
        centre_dist = np.linalg.norm(box_centre(boxes) - box_centre(predicted), axis=1) / diagonal
        radius = min(self.gate + self.gate_growth * elapsed, self.max_gate)
        plausible = valid & ((ious >= self.min_iou) | (centre_dist <= radius))
        # Pose distance separates people whose boxes overlap; centre distance stands in when no
        # keypoints are comparable.
        shape = centre_dist.copy()
        expected = track.keypoints + (box_centre(predicted) - box_centre(track.box))
        for i in np.flatnonzero(plausible):
            distance = self._keypoint_distance(expected, track.scores, keypoints[i], scores[i])
            if np.isfinite(distance):
                shape[i] = distance / diagonal
        return np.where(plausible, (1.0 - ious) + shape, _INFEASIBLE)

    def _keypoint_distance(self, expected, expected_scores, points, point_scores) -> float:
        return pose_distance(expected, expected_scores, points, point_scores, self.min_keypoint_score,
                             self.mirror)

    def _follow(self, track: PersonTrack, timestamp, box, keypoints, scores, row) -> None:
        elapsed = timestamp - track.last_time
        if elapsed > 0:
            track.velocity = smoothed_velocity(
                track.velocity, track.box, box, elapsed, self.velocity_smoothing
            )
            ok = (scores >= self.min_keypoint_score) & (track.scores >= self.min_keypoint_score)
            if ok.any():
                height = max(float(track.box[3] - track.box[1]), 1.0)
                step = np.linalg.norm(keypoints[ok] - track.keypoints[ok], axis=1).mean() / height
                track.travel += float(step)
        track.box = box.copy()
        track.keypoints = keypoints.copy()
        track.scores = scores.copy()
        track.last_time = timestamp
        track.seen += 1
        track.index = row
