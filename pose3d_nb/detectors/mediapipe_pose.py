"""MediaPipe Pose (BlazePose) as a COCO-17 detector: the default, real time on a CPU.

MediaPipe Pose finds and tracks ONE person: with several people in view it follows whoever it
detected first and, after losing them, whoever it re-detects. The :class:`SubjectFollower`
turns such a jump into missing frames and then an explicit new ``track_id`` instead of a silent
identity switch, and undoes its left/right label flips.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pose3d_nb.detectors.base import Candidates, DetectorUnavailable, FollowingDetector
from pose3d_nb.detectors.geometry import keypoint_box
from pose3d_nb.detectors.native_logs import quiet_native_logs
from pose3d_nb.errors import Pose3DRuntimeError
from pose3d_nb.sources.frame import Frame

#: Frames (before anyone is found) whose run is kept out of stderr: see ``candidates``.
QUIET_FRAMES = 300

BLAZEPOSE_TO_COCO = np.array([0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28])
"""COCO-17 joint i is BlazePose landmark BLAZEPOSE_TO_COCO[i]. Both use the person's own left
(checked on the bundled sample: facing the camera, "left_shoulder" is on the image's right)."""

# BlazePose 33: 0 nose; 1-3 left eye inner/eye/outer, 4-6 the right ones; 7/8 ears; 9/10 mouth
# corners; then left/right pairs 11/12 shoulders ... 31/32 foot index.
BLAZEPOSE_MIRROR = np.array(
    [0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9] + [i + 1 - 2 * (i % 2 == 0) for i in range(11, 33)]
)
"""(33,) permutation swapping every BlazePose left landmark with its right twin."""


def landmarks_to_array(landmark_list: Any) -> np.ndarray:
    """A MediaPipe landmark list -> (33, 4) float32 x, y, z, visibility (as stored)."""
    return np.array([(p.x, p.y, p.z, p.visibility) for p in landmark_list.landmark], np.float32)


def blazepose_to_coco(landmarks: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(33, 4) normalised x, y, z, visibility -> (17, 2) pixel keypoints, (17,) scores.

    ``size`` is the (width, height) of the image the landmarks were found in; visibility
    (the probability the landmark is in view and not occluded) is the score.
    """
    width, height = size
    pixels = landmarks[:, :2] * np.array([width, height], np.float32)
    return pixels[BLAZEPOSE_TO_COCO], np.clip(landmarks[BLAZEPOSE_TO_COCO, 3], 0.0, 1.0)


class MediaPipePoseDetector(FollowingDetector):
    """MediaPipe Pose in video mode, mapped to COCO-17.

    Args:
        model_complexity: 1 (Full, the model shipped in the wheel); 0 (Lite) and 2 (Heavy) load
            the file ``pose3d models fetch mediapipe-lite`` / ``mediapipe-heavy`` put in the
            user cache (``detectors.blazepose_models``).
        min_detection_confidence, min_tracking_confidence, smooth_landmarks, static_image_mode:
            MediaPipe's own options.
        follow: gate jumps to another person (see module docstring); False reports whatever
            MediaPipe returns.
        fix_left_right: undo left/right label flips by temporal continuity.
        check_face: undo a flip of the fixer's own that turns the person's back to the camera
            while a face is on their head (``detectors.facing``).

    Detection extras: ``world_landmarks`` (33, 3) float32 metres, hip-centred (NaN when MediaPipe
    gave none); ``visibility`` (33,); ``landmarks`` (33, 3) normalised x, y, z;
    ``track_id``; ``swapped_left_right``; ``num_candidates`` (0 or 1).
    """

    name = "mediapipe"
    provides = frozenset({"world_landmarks"})  # extras["world_landmarks"]: MediaPipe's own metric 3D
    extras_mirror = {
        "world_landmarks": BLAZEPOSE_MIRROR,
        "visibility": BLAZEPOSE_MIRROR,
        "landmarks": BLAZEPOSE_MIRROR,
    }

    def __init__(
        self,
        *,
        model_complexity: int = 1,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        smooth_landmarks: bool = True,
        static_image_mode: bool = False,
        follow: bool = True,
        fix_left_right: bool = True,
        check_face: bool = True,
    ) -> None:
        try:
            from mediapipe.python.solutions import pose as mp_pose
        except ImportError as exc:
            raise DetectorUnavailable(
                f"mediapipe is not installed ({exc}): pip install mediapipe==0.10.21"
            ) from exc
        self._options = dict(
            model_complexity=model_complexity,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
            smooth_landmarks=smooth_landmarks,
            static_image_mode=static_image_mode,
        )
        from pose3d_nb.detectors.blazepose_models import install_model

        install_model(model_complexity)  # Lite and Heavy: the fetched file, or an error naming the command
        self.name = {0: "mediapipe-lite", 2: "mediapipe-heavy"}.get(model_complexity, "mediapipe")
        try:
            with quiet_native_logs():
                self._pose = mp_pose.Pose(**self._options)
                self._wait_for_graph()
        except OSError as exc:  # URLError: complexities 0 and 2 fetch their model at run time
            raise Pose3DRuntimeError(
                f"MediaPipe Pose(model_complexity={model_complexity}) could not load its model ({exc}); "
                "model_complexity=1 is the one shipped with mediapipe and works offline; for 0 and 2 run "
                "`pose3d models fetch mediapipe-lite` or `mediapipe-heavy`"
            ) from exc
        # Frames run in a window until the first person is found: at most QUIET_FRAMES, so that
        # an empty scene does not keep descriptor 2 captured (see native_logs) for long.
        self._quiet_frames_left = QUIET_FRAMES
        super().__init__(follow=follow, fix_left_right=fix_left_right, check_face=check_face)

    def candidates(self, frame: Frame) -> Candidates:
        """The one person MediaPipe found in ``frame`` (RGB, any size), or nobody."""
        if self._pose is None:
            raise Pose3DRuntimeError("this MediaPipe detector is closed")
        image = np.ascontiguousarray(frame.image)
        if self._quiet_frames_left <= 0:
            result = self._pose.process(image)
        else:  # its landmark network prints a notice at the first person found
            with quiet_native_logs():
                result = self._pose.process(image)
            self._quiet_frames_left = 0 if result.pose_landmarks is not None else self._quiet_frames_left - 1
        if result.pose_landmarks is None:
            return Candidates.none()
        landmarks = landmarks_to_array(result.pose_landmarks)
        if result.pose_world_landmarks is not None:
            world = landmarks_to_array(result.pose_world_landmarks)[:, :3]
        else:
            world = np.full((33, 3), np.nan, np.float32)
        keypoints, scores = blazepose_to_coco(landmarks, frame.size)
        # The box spans all 33 landmarks (feet and hands included), clipped to the image.
        pixels = landmarks[:, :2] * np.array(frame.size, np.float32)
        bbox = keypoint_box(pixels, frame.size)
        return Candidates(
            boxes=bbox[None],
            keypoints=keypoints[None],
            scores=scores[None],
            extras={
                "world_landmarks": world[None],
                "visibility": landmarks[None, :, 3].copy(),
                "landmarks": landmarks[None, :, :3].copy(),
            },
        )

    def _wait_for_graph(self) -> None:
        """Return once the (re)started graph is running. It starts on threads of its own, which
        print MediaPipe's start-up notices whenever they get there (about 50 ms after a start or
        a ``reset``): one blank frame, in which nobody is found (so nothing is tracked from it),
        comes back only after that."""
        self._pose.process(np.zeros((64, 64, 3), np.uint8))

    def reset(self) -> None:
        """Forget the tracked person (MediaPipe's own tracking state included)."""
        if self._pose is not None:
            with quiet_native_logs():  # its graph starts again, with its start-up notices
                self._pose.reset()
                self._wait_for_graph()
        super().reset()

    def close(self) -> None:
        try:
            if self._pose is not None:
                self._pose.close()
                self._pose = None
        finally:
            super().close()
