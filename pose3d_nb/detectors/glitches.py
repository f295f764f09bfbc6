"""A detector's one-frame glitches held back: keypoints that cannot have moved that fast.

BlazePose on a crop sometimes answers one frame with another hypothesis of a limb (an arm
flung up above the head, then back down the next frame) or of the whole body. A body cannot
move its keypoints that fast, so such a frame is not a pose the person had: the followed
person's previous frame is given again in its place (its keypoints, scores, box and
MediaPipe's 3D landmarks), as when a camera drops a frame, for at most ``MAX_HELD_S``.
After that the new answer is taken: the detector had been late, not wrong.
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np

from pose3d_nb.detectors.detection import Detection
from pose3d_nb.detectors.geometry import keypoint_box

# The keypoints a body is lifted from (nose, shoulders, elbows, wrists, hips, knees, ankles): the
# eyes and ears, drawn only, do not hold a frame back.
from pose3d_nb.lifting.keypoints import COCO_BODY_KEYPOINTS as BODY

#: Fastest a keypoint moves, in diagonals of the person's keypoint box per second: above it a
#: frame is a glitch. Measured on the 139 clips of ../shared/mocap (the 13 body keypoints' joints,
#: each clip's median 3D box diagonal; 1.8 million keypoint steps): the fastest clean clips
#: peak at 14.7, 14.8 and 16.0; the next ones at 24.4, 52.7 and 84-105, which are the data's
#: own jumps (joins and teleports). 99.9 % of steps are under 4.6, 99.99 % under 25.9. Nothing
#: was chosen on a benchmark view.
MAX_SPEED_DIAGONALS_PER_S = 20.0
#: Longest a glitch is held back, seconds: a real move the detector caught up with late is then
#: taken (a tenth of a second: 2 frames at 25 fps, 3 at 30, 6 at 60).
MAX_HELD_S = 0.1
#: Frames whose box diagonals give the person's size (their median): one glitch cannot move it.
SIZE_FRAMES = 30
#: Keypoints the detector is less sure of than this, in either frame, are not measured: a guess
#: at a hidden limb may wander without the whole frame being held back for it.
MIN_SCORE = 0.3
#: Extras that describe the frame, not the person found in it: a held frame keeps its own.
FRAME_EXTRAS = frozenset({"track_id", "num_candidates"})
#: Frames let through that a new frame may come back to: a glitch the gate let through (its jump
#: under the limit) is not held in place when the next frame returns to the pose before it.
RECENT_FRAMES = 3


class GlitchGate:
    """``Detection -> Detection`` for one followed person: a frame in which any body keypoint would
    have moved faster than ``max_speed`` diagonals of the person's box per second is replaced by the
    last frame let through (its keypoints, scores, box and per-person extras such as
    ``world_landmarks``; ``extras["glitch_held"]`` True), for at most ``max_held_s`` after that
    frame. A frame is measured against the nearest of the last ``RECENT_FRAMES`` let through, over
    the time since the person was last found (missing frames pass and count as time), on the
    keypoints seen with a score of at least ``MIN_SCORE`` in both; another ``track_id``, time or the
    frame index going back (a looping file) or another image size starts over. A detector that
    follows no one (no ``track_id``) is let through: its next frame may be someone else. Below about
    10 frames a second nothing is held (every step is longer than ``max_held_s``).
    """

    def __init__(self, max_speed: float = MAX_SPEED_DIAGONALS_PER_S, max_held_s: float = MAX_HELD_S):
        self.max_speed = float(max_speed)
        self.max_held_s = float(max_held_s)
        self.reset()

    def reset(self) -> None:
        """Forget the person (the next found frame is let through)."""
        self._recent: deque[Detection] = deque(maxlen=RECENT_FRAMES)  # let through, newest last
        self._seen = float("nan")  # when the person was last found (let through or held)
        self._track: object = None
        self._sizes: deque[float] = deque(maxlen=SIZE_FRAMES)

    def __call__(self, detection: Detection) -> Detection:
        track = detection.extras.get("track_id")
        if not detection.found or track is None:  # nobody, or a detector that follows no one
            return detection
        last = self._recent[-1] if self._recent else None
        if (last is None or track != self._track or not detection.timestamp > self._seen
                or detection.frame_index < last.frame_index  # a looping file's next pass
                or detection.frame_size != last.frame_size):  # a camera that changed its image size
            return self._let_through(detection, track)
        # Each frame is one step from the last time the person was found: a glitch that lasts
        # two frames is as far from the pose before it on the second as on the first.
        step = detection.timestamp - self._seen
        self._seen = detection.timestamp
        held_for = detection.timestamp - last.timestamp
        if self._fastest(detection, step) > self.max_speed and held_for <= self.max_held_s + 1e-6:
            extras = {key: value for key, value in last.extras.items() if key not in FRAME_EXTRAS}
            extras.update({key: detection.extras[key] for key in FRAME_EXTRAS if key in detection.extras})
            extras["glitch_held"] = True
            return dataclasses.replace(detection, keypoints=last.keypoints.copy(), scores=last.scores.copy(),
                                       bbox=last.bbox.copy(), extras=extras)
        return self._let_through(detection, track)

    def _fastest(self, detection: Detection, seconds: float) -> float:
        """How fast the fastest body keypoint would have moved in ``seconds`` from the nearest of
        the recent frames let through, box diagonals per second."""
        size = float(np.median(self._sizes)) if self._sizes else _diagonal(self._recent[-1].keypoints)
        if not size > 0:
            return 0.0
        now = np.asarray(detection.keypoints, np.float64)[BODY]
        sure = np.asarray(detection.scores)[BODY] >= MIN_SCORE
        steps = []
        for before in self._recent:
            measured = sure & (np.asarray(before.scores)[BODY] >= MIN_SCORE)
            if not measured.any():
                return 0.0
            steps.append(np.linalg.norm(now[measured] - before.keypoints[BODY][measured], axis=-1).max())
        return float(min(steps)) / seconds / size

    def _let_through(self, detection: Detection, track: object) -> Detection:
        if track != self._track:
            self._sizes.clear()
            self._recent.clear()
        self._recent.append(detection)
        self._track, self._seen = track, detection.timestamp
        diagonal = _diagonal(detection.keypoints)
        if diagonal > 0:
            self._sizes.append(diagonal)
        return detection


def _diagonal(keypoints: np.ndarray) -> float:
    box = keypoint_box(np.asarray(keypoints)[BODY])
    return float(np.hypot(box[2] - box[0], box[3] - box[1]))
