"""Left/right labels that hold: undoing a detector's flips of a person's sides.

MediaPipe swaps a frontal person's sides on about a third of the frames of the bundled sample;
temporal continuity, the torso's facing and a face check (``facing``) undo it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pose3d_nb.detectors.facing import torso_facing
from pose3d_nb.detectors.geometry import keypoint_box, mean_distance
from pose3d_nb.skeleton import COCO

_TORSO = [COCO.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]


class LeftRightStabilizer:
    """Keeps left and right labels consistent over time.

    Pose estimators sometimes swap a person's sides for a few frames (MediaPipe does so on a
    third of the bundled sample's frames: the person faces the camera throughout). A true turn is
    continuous, a label flip is a jump: when the mirrored keypoints are much closer to the
    previous frame's than the keypoints as given, the labels are swapped back. Where the torso
    faces the camera or turns its back squarely, now and within ``max_turn_seconds`` before,
    its facing decides instead: it cannot turn round in that time.

    Continuity alone cannot tell which labelling was right to begin with: when it misses one
    swap, it keeps the wrong labels for as long as the swap lasts. Given a face check
    (``update(..., sees_face=...)``, see ``facing``), a swap of ours that turns the torso's back
    to the camera is undone when a face is found on the head. The detector's own labels are
    never overruled that way: a person looking over their shoulder shows a face above a back.

    Args:
        mirror: (K,) permutation that swaps each left joint with its right twin.
        ratio: swap when mirrored distance < ratio x as-is distance...
        min_jump: ...and the as-is distance exceeds the mirrored one by this fraction of the
            body's box diagonal (seen side-on, left and right nearly coincide and either labelling
            fits: a genuine turn must not be "corrected").
        min_score: keypoints below this score are not compared.
        min_joints: fewer comparable joints than this: keep the labels as given.
        max_swapped_frames: after this many consecutive swaps, trust the detector again (in
            case the first frame of the track was the flipped one).
        min_facing: how squarely (``facing.torso_facing``) a torso faces towards or away from
            the camera for its facing to count: for the sudden turn above, and for the face
            check, which runs when our swapped labels turn the back below minus this.
        max_turn_seconds: how long a square facing counts for the sudden-turn test.
    """

    def __init__(
        self,
        mirror: np.ndarray | None = None,
        *,
        ratio: float = 0.7,
        min_jump: float = 0.05,
        min_score: float = 0.3,
        min_joints: int = 4,
        max_swapped_frames: int = 60,
        min_facing: float = 0.8,
        max_turn_seconds: float = 0.1,
    ) -> None:
        self.mirror = COCO.mirror_permutation() if mirror is None else np.asarray(mirror)
        self.min_facing = min_facing
        self.max_turn_seconds = max_turn_seconds
        self.ratio = ratio
        self.min_jump = min_jump
        self.min_score = min_score
        self.min_joints = min_joints
        self.max_swapped_frames = max_swapped_frames
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame."""
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._track_id: int | None = None
        self._swapped_run = 0
        self._facing: tuple[float, float] | None = None  # the last square facing, and when (s)
        self._updates = 0  # the clock when no timestamps are given: one update a 30 fps frame

    def update(
        self,
        keypoints: np.ndarray,
        scores: np.ndarray,
        track_id: int | None = None,
        sees_face: Callable[[np.ndarray], bool] | None = None,
        timestamp: float | None = None,
    ) -> bool:
        """True when (K, 2) ``keypoints`` / (K,) ``scores`` should be mirrored (left<->right).

        A different ``track_id`` than last time starts afresh (another person, no history).
        ``sees_face(labelled_keypoints)`` says whether a face is on this person's head; it is
        asked only when a swap of ours would turn the torso's back to the camera. ``timestamp``
        (seconds) times the facing test; without it each update counts as a 30 fps frame. The
        facing test and the face check need COCO-17 keypoints (K = 17).
        """
        keypoints = np.asarray(keypoints, np.float64)
        scores = np.asarray(scores, np.float64)
        if track_id != self._track_id:
            self.reset()
            self._track_id = track_id
        swap = False
        if self._previous is not None:
            previous, previous_scores = self._previous
            m = self.mirror
            ok = (
                (scores >= self.min_score)
                & (scores[m] >= self.min_score)
                & (previous_scores >= self.min_score)
                & np.isfinite(keypoints).all(axis=1)
                & np.isfinite(previous).all(axis=1)
            )
            if ok.sum() >= self.min_joints:
                as_is = mean_distance(keypoints, previous, ok)
                mirrored = mean_distance(keypoints[m], previous, ok)
                box = keypoint_box(previous[ok])
                diagonal = float(np.hypot(box[2] - box[0], box[3] - box[1]))
                swap = mirrored < self.ratio * as_is and as_is - mirrored > self.min_jump * diagonal
        # Facing the camera squarely and turned away squarely within a tenth of a second is no
        # turn a person makes: that would be a spin of about 3 turns a second. (A detector's flip
        # often passes through one garbled, side-on frame.) Where the torso's facing says so, it
        # decides. Timed, not counted: a live engine drops frames, and a person may be hidden.
        self._updates += 1
        now = self._updates / 30.0 if timestamp is None else float(timestamp)
        coco = len(keypoints) == len(COCO.joint_names)
        facing = float("nan")
        if coco and (scores[_TORSO] >= self.min_score).all():
            facing = torso_facing(keypoints)
        recent = self._facing is not None and 0.0 <= now - self._facing[1] <= self.max_turn_seconds
        if recent and abs(facing) > self.min_facing:
            swap = facing * self._facing[0] < 0
        if swap and sees_face is not None and coco:
            mirrored = keypoints[self.mirror]
            if torso_facing(mirrored) < -self.min_facing and sees_face(mirrored):
                swap = False
        self._swapped_run = self._swapped_run + 1 if swap else 0
        if self._swapped_run > self.max_swapped_frames:
            swap, self._swapped_run = False, 0
        if swap:
            keypoints, scores = keypoints[self.mirror], scores[self.mirror]
            facing = -facing
        self._previous = (keypoints, scores)
        if abs(facing) > self.min_facing:
            self._facing = (facing, now)
        return swap
