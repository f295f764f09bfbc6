"""Following one subject across frames.

Detectors may see several people (Keypoint R-CNN returns N) or jump to another person after a
loss (MediaPipe tracks one person and re-detects whoever is most visible). The 3D lifter needs
one person's continuous track, so:

- :class:`PersonTracker` keeps following the same person: association by predicted-box IoU and
  keypoint distance, a motion gate that grows with the time the person has been lost, and
  re-acquisition of a new subject only after ``max_lost_seconds`` without them.
- :class:`SubjectFollower` combines it with ``left_right.LeftRightStabilizer`` (which undoes
  left/right label flips) for a detector.

All arrays are NumPy, pixels, shapes as documented; candidates are rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pose3d_nb.detectors.facing import beside_others
from pose3d_nb.detectors.geometry import box_centre, box_iou, mean_distance
from pose3d_nb.detectors.left_right import LeftRightStabilizer
from pose3d_nb.skeleton import COCO


def smoothed_velocity(velocity: np.ndarray, old_box: np.ndarray, new_box: np.ndarray, elapsed: float,
                      smoothing: float) -> np.ndarray:
    """(2,) box-centre velocity in pixels/s after a move from ``old_box`` to ``new_box``
    (``elapsed`` > 0 s): the newest measurement weighted by ``smoothing``."""
    measured = (box_centre(new_box) - box_centre(old_box)) / elapsed
    return smoothing * measured + (1 - smoothing) * velocity


def pose_distance(
    expected: np.ndarray,
    expected_scores: np.ndarray,
    points: np.ndarray,
    point_scores: np.ndarray,
    min_score: float,
    mirror: np.ndarray | None = None,
) -> float:
    """Mean pixel distance between two poses' confident keypoints; inf when none are comparable.

    Args:
        expected, points: (K, 2) pixel keypoints (NaN = missing).
        expected_scores, point_scores: (K,) confidences; keypoints below ``min_score`` are ignored.
        mirror: (K,) left/right permutation: the better of ``points`` as given and mirrored is
            taken, so a detector's left/right flip does not look like another person.
    """
    trusted = (expected_scores >= min_score) & np.isfinite(expected).all(axis=1)
    ok = trusted & (point_scores >= min_score) & np.isfinite(points).all(axis=1)
    best = mean_distance(points, expected, ok)
    if mirror is not None and len(mirror) == len(points):
        ok_m = trusted & (point_scores[mirror] >= min_score) & np.isfinite(points[mirror]).all(axis=1)
        best = min(best, mean_distance(points[mirror], expected, ok_m))
    return best


@dataclass
class _Track:
    track_id: int
    box: np.ndarray  # (4,)
    keypoints: np.ndarray | None  # (K, 2)
    scores: np.ndarray | None  # (K,)
    velocity: np.ndarray  # (2,) px per second, of the box centre
    last_time: float


class TrackIds:
    """The counter a tracker numbers new tracks by: ids only ever increase, so old and new
    tracks never share one."""

    _next_id: int = 1

    @property
    def next_id(self) -> int:
        """The id the next new track gets."""
        return self._next_id

    def continue_ids(self, after: int) -> None:
        """New tracks get ids from ``after`` on (at least): another tracker's ``next_id``, so
        that the people a replaced detector numbered keep ids nobody new is given."""
        self._next_id = max(self._next_id, int(after))


class PersonTracker(TrackIds):
    """Chooses, frame after frame, which of N candidates is the followed person.

    Args:
        max_lost_seconds: how long a lost subject is waited for; after that the most prominent
            person (box area x confidence) becomes the new subject (a new ``track_id``).
        min_iou: a candidate whose box overlaps the predicted box this much is plausible.
        gate, gate_growth, max_gate: otherwise a candidate is plausible when its centre is within
            ``min(gate + gate_growth * seconds_since_seen, max_gate)`` box diagonals of the
            predicted centre (people rarely move more than a body height per second).
        max_extrapolation_seconds: the constant-velocity prediction stops after this long, so a
            long loss does not carry the expected position into someone else.
        min_keypoint_score: keypoints below this score are ignored in distances.
        velocity_smoothing: weight of the newest velocity estimate (constant-velocity prediction
            is what keeps the right person through a crossing).
        mirror: (K,) left/right permutation; keypoint distance takes the better of as-is and
            mirrored, so a detector's left/right flip does not look like another person.

    ``update`` returns the row index of the subject, or None when the subject is not among the
    candidates (the caller reports a missing frame, never another person).
    """

    def __init__(
        self,
        *,
        max_lost_seconds: float = 1.0,
        min_iou: float = 0.3,
        gate: float = 0.5,
        gate_growth: float = 1.0,
        max_gate: float = 0.8,
        max_extrapolation_seconds: float = 0.5,
        min_keypoint_score: float = 0.3,
        velocity_smoothing: float = 0.5,
        mirror: np.ndarray | None = None,
    ) -> None:
        self.max_lost_seconds = max_lost_seconds
        self.min_iou = min_iou
        self.gate = gate
        self.gate_growth = gate_growth
        self.max_gate = max_gate
        self.max_extrapolation_seconds = max_extrapolation_seconds
        self.min_keypoint_score = min_keypoint_score
        self.velocity_smoothing = velocity_smoothing
        self.mirror = None if mirror is None else np.asarray(mirror)
        self._track: _Track | None = None
        self._next_id = 1

    @property
    def track_id(self) -> int | None:
        """Id of the current subject (a new id each time a new person is acquired), or None."""
        return None if self._track is None else self._track.track_id

    def take_track_from(self, previous: PersonTracker) -> None:
        """Go on following ``previous``'s subject, with its ids (a detector switched while
        running); this tracker's settings stay. ``previous`` forgets its subject."""
        self._track = previous._track
        self.continue_ids(previous.next_id)
        previous.reset()

    def reset(self) -> None:
        """Forget the subject (ids keep increasing, so old and new tracks never share one)."""
        self._track = None

    def update(
        self,
        timestamp: float,
        boxes: np.ndarray,
        keypoints: np.ndarray | None = None,
        scores: np.ndarray | None = None,
        confidences: np.ndarray | None = None,
    ) -> int | None:
        """Index of the subject among this frame's candidates, or None.

        Args:
            timestamp: seconds, increasing (a jump backwards, e.g. a new source, resets).
            boxes: (N, 4) x1, y1, x2, y2; N may be 0.
            keypoints: (N, K, 2) pixels, optional.
            scores: (N, K) keypoint scores, optional (all trusted when absent).
            confidences: (N,) person confidences, optional (used to pick a new subject).
        """
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        n = len(boxes)
        # (reshape(0, -1, 2) is ambiguous, and with no candidates there is nothing to compare)
        kps = None if keypoints is None or n == 0 else np.asarray(keypoints, np.float64).reshape(n, -1, 2)
        kp_scores = None
        if kps is not None:
            kp_scores = (
                np.ones(kps.shape[:2]) if scores is None else np.asarray(scores, np.float64).reshape(n, -1)
            )
        conf = np.ones(n) if confidences is None else np.asarray(confidences, np.float64).reshape(n)
        valid = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])

        track = self._track
        if track is not None:
            elapsed = timestamp - track.last_time
            if elapsed < 0 or elapsed > self.max_lost_seconds:
                track = self._track = None
        if track is None:
            return self._acquire(timestamp, boxes, kps, kp_scores, conf, valid)

        chosen = self._associate(track, timestamp - track.last_time, boxes, kps, kp_scores, valid)
        if chosen is not None:
            self._follow(track, timestamp, boxes[chosen], kps, kp_scores, chosen)
        return chosen

    def _acquire(self, timestamp, boxes, kps, kp_scores, conf, valid) -> int | None:
        if not valid.any():
            return None
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        prominence = np.where(valid, areas * conf, -np.inf)
        index = int(np.argmax(prominence))
        self._track = _Track(
            track_id=self._next_id,
            box=boxes[index].copy(),
            keypoints=None if kps is None else kps[index].copy(),
            scores=None if kp_scores is None else kp_scores[index].copy(),
            velocity=np.zeros(2),
            last_time=timestamp,
        )
        self._next_id += 1
        return index

    def _associate(self, track: _Track, elapsed: float, boxes, kps, kp_scores, valid) -> int | None:
        if not valid.any():
            return None
        shift = track.velocity * min(elapsed, self.max_extrapolation_seconds)
        predicted = track.box + np.concatenate([shift, shift])
        diagonal = max(float(np.hypot(track.box[2] - track.box[0], track.box[3] - track.box[1])), 1.0)
        ious = box_iou(predicted, boxes)
        centre_dist = np.linalg.norm(box_centre(boxes) - box_centre(predicted), axis=1) / diagonal
        radius = min(self.gate + self.gate_growth * elapsed, self.max_gate)
        plausible = valid & ((ious >= self.min_iou) | (centre_dist <= radius))
        if not plausible.any():
            return None
        # Pose similarity separates people whose boxes overlap (crossing); centre distance
        # stands in when there are no comparable keypoints.
        shape_dist = centre_dist.copy()
        if kps is not None and track.keypoints is not None and kps.shape[1] == len(track.keypoints):
            expected = track.keypoints + shift
            for i in np.flatnonzero(plausible):
                distance = self._keypoint_distance(expected, track.scores, kps[i], kp_scores[i])
                if np.isfinite(distance):
                    shape_dist[i] = distance / diagonal
        cost = np.where(plausible, (1.0 - ious) + shape_dist, np.inf)
        return int(np.argmin(cost))

    def _keypoint_distance(self, expected, expected_scores, points, point_scores) -> float:
        return pose_distance(expected, expected_scores, points, point_scores, self.min_keypoint_score,
                             self.mirror)

    def _follow(self, track: _Track, timestamp, box, kps, kp_scores, index) -> None:
        elapsed = timestamp - track.last_time
        if elapsed > 0:
            track.velocity = smoothed_velocity(
                track.velocity, track.box, box, elapsed, self.velocity_smoothing
            )
        track.box = box.copy()
        if kps is not None:
            track.keypoints = kps[index].copy()
            track.scores = kp_scores[index].copy()
        track.last_time = timestamp


@dataclass(frozen=True)
class Selection:
    """Which candidate is the subject in one frame.

    index: row of the subject among the candidates, None when not found (a missing frame).
    track_id: id of the subject being followed (None when nobody is), see PersonTracker.
    swap_left_right: the subject's keypoints must be mirrored (see LeftRightStabilizer).
    """

    index: int | None
    track_id: int | None
    swap_left_right: bool


class SubjectFollower:
    """PersonTracker + LeftRightStabilizer for COCO-17 candidates; either may be None (off)."""

    def __init__(
        self,
        tracker: PersonTracker | None = None,
        stabilizer: LeftRightStabilizer | None = None,
    ) -> None:
        self.tracker = tracker
        self.stabilizer = stabilizer

    @classmethod
    def default(
        cls, *, follow: bool = True, fix_left_right: bool = True, min_keypoint_score: float = 0.3
    ) -> SubjectFollower:
        """The standard set-up for COCO-17 detectors."""
        mirror = COCO.mirror_permutation()
        tracker = PersonTracker(mirror=mirror, min_keypoint_score=min_keypoint_score) if follow else None
        stabilizer = LeftRightStabilizer(mirror, min_score=min_keypoint_score) if fix_left_right else None
        return cls(tracker, stabilizer)

    def take_state_from(self, previous: SubjectFollower) -> None:
        """Go on with whom ``previous`` follows and its left/right labels (a detector switched
        while running); whether this one tracks and fixes labels stays its own."""
        if self.tracker is not None and previous.tracker is not None:
            self.tracker.take_track_from(previous.tracker)
        if self.stabilizer is not None and previous.stabilizer is not None:
            self.stabilizer, previous.stabilizer = previous.stabilizer, self.stabilizer

    def reset(self) -> None:
        if self.tracker is not None:
            self.tracker.reset()
        if self.stabilizer is not None:
            self.stabilizer.reset()

    def select(
        self,
        timestamp: float,
        boxes: np.ndarray,
        keypoints: np.ndarray,
        scores: np.ndarray,
        confidences: np.ndarray | None = None,
        sees_face: Callable[[np.ndarray, np.ndarray], bool] | None = None,
    ) -> Selection:
        """The subject among (N, 4) ``boxes``, (N, 17, 2) ``keypoints``, (N, 17) ``scores``;
        ``sees_face(labelled, others)``: see ``LeftRightStabilizer.update``, given the other
        candidates' keypoints too (``facing.beside_others``)."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if self.tracker is not None:
            index = self.tracker.update(timestamp, boxes, keypoints, scores, confidences)
            track_id = self.tracker.track_id
        else:
            # Without tracking: the most confident candidate, as the original VideoPose3D did.
            weights = np.ones(len(boxes)) if confidences is None else np.asarray(confidences)
            index = None if len(boxes) == 0 else int(np.argmax(weights))
            track_id = None
        if index is None:
            return Selection(None, track_id, False)
        swap = False
        if self.stabilizer is not None:
            swap = self.stabilizer.update(np.asarray(keypoints)[index], np.asarray(scores)[index], track_id,
                                          beside_others(sees_face, keypoints, index), timestamp)
        return Selection(index, track_id, swap)
