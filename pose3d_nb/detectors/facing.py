"""Which way a person faces: an absolute left/right cue that does not come from the pose network.

A pose network that swaps a person's left and right has, in effect, turned them around: its own
depth for the nose moves behind the head with the labels (checked on both samples), so nothing
in its output says the labels are wrong. Frame-to-frame continuity (``LeftRightStabilizer``)
catches a sudden swap, but when it misses one it keeps the wrong labelling for as long as the
swap lasts (frames 30-96 of ``two_people_walk``, 57-99 of the single-person sample).

A face is independent evidence: a face detector finds a face only on a head seen from the front
or the side. When the labels say the torso turns its back to the camera (:func:`torso_facing`
below ``-min_facing``) but a face is found on the head, the labels are the wrong way round.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pose3d_nb.detectors.native_logs import quiet_native_logs
from pose3d_nb.errors import Pose3DRuntimeError
from pose3d_nb.skeleton import COCO

_FACE = [COCO.index(n) for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
_LS, _RS = COCO.index("left_shoulder"), COCO.index("right_shoulder")
_LH, _RH = COCO.index("left_hip"), COCO.index("right_hip")

#: Side of the square looked at for a face, in shoulder widths (or 0.8 torso lengths, whichever
#: is larger). 0.8 / 1.2 / 1.6 / 2.2 found a face on 31 / 32 / 53 / 39 of the single-person
#: sample's 100 frames and 43 / 74 / 83 / 81 of ``two_people_walk``'s 171 (both frontal people).
FACE_CROP_SHOULDERS = 1.6
#: The face network's input side (short-range BlazeFace); a larger crop only costs time.
FACE_INPUT = 128
#: MediaPipe's default detection confidence.
MIN_FACE_SCORE = 0.5
#: How far a face's centre may be from the person's nose, in square sides: the face must be this
#: person's, not the face of someone beside them. On the samples, faces on the person's own head
#: were 0.01-0.23 away; the face of a woman leaning next to a bent-over man 0.5. A face this near
#: another person's nose too is not counted (see ``FaceCheck``).
MAX_FACE_OFFSET = 0.3


def torso_facing(keypoints: np.ndarray) -> float:
    """How squarely the labelled torso faces the camera: > 0 facing it, < 0 its back to it.

    Args:
        keypoints: (17, 2) COCO pixels (x right, y down).

    Returns:
        The cross product of the torso's up (mid-hips to mid-shoulders) and its left-right axis
        (right to left shoulder plus right to left hip), over the torso length squared: about
        +1 for a person facing the camera with correct labels, about -1 seen from behind (or
        with the labels swapped), near 0 in profile; NaN when a torso point is missing.
    """
    k = np.asarray(keypoints, np.float64)
    up = (k[_LS] + k[_RS]) / 2 - (k[_LH] + k[_RH]) / 2
    across = (k[_LS] - k[_RS]) + (k[_LH] - k[_RH])
    length2 = float(up @ up)
    if not np.isfinite(length2) or length2 <= 0:
        return float("nan")
    return float(up[0] * across[1] - up[1] * across[0]) / length2


def head_square(keypoints: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) pixels of the square around the head where a face is looked for, clipped
    to the (width, height) image, or None when the head or torso points are missing."""
    k = np.asarray(keypoints, np.float64)
    head = k[_FACE]
    if not np.isfinite(head).all() or not np.isfinite(k[[_LS, _RS, _LH, _RH]]).all():
        return None
    shoulders = float(np.linalg.norm(k[_LS] - k[_RS]))
    torso = float(np.linalg.norm((k[_LS] + k[_RS]) / 2 - (k[_LH] + k[_RH]) / 2))
    half = max(shoulders, 0.8 * torso) * FACE_CROP_SHOULDERS / 2
    cx, cy = head.mean(axis=0)
    x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
    x1, y1 = int(min(cx + half, size[0])), int(min(cy + half, size[1]))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return x0, y0, x1, y1


def beside_others(
    sees_face: Callable[[np.ndarray, np.ndarray], bool] | None, keypoints: np.ndarray, row: int
) -> Callable[[np.ndarray], bool] | None:
    """``sees_face(labelled, others)`` for candidate ``row`` of (N, 17, 2) ``keypoints``, as the
    one-argument check ``LeftRightStabilizer.update`` asks: the other rows are ``others``."""
    if sees_face is None:
        return None
    return lambda labelled: sees_face(labelled, np.delete(np.asarray(keypoints, np.float64), row, axis=0))


class FaceCheck:
    """``FaceCheck()(image, keypoints, others) -> bool``: is there a face on this person's head?

    MediaPipe's short-range face detector (in the wheel, no download) on the square
    :func:`head_square` gives, resized to ``FACE_INPUT``. About 5.5 ms a call on this project's
    2-core machine; the left/right fixer calls it only when the labels say the person turned
    their back to the camera.
    """

    def __init__(self, min_score: float = MIN_FACE_SCORE) -> None:
        self.min_score = min_score
        self._detector = None

    def __call__(self, image: np.ndarray, keypoints: np.ndarray, others: np.ndarray | None = None) -> bool:
        """True when a face is found; (H, W, 3) RGB uint8 ``image``, (17, 2) COCO ``keypoints``.

        ``others``: (M, 17, 2) the other people in view. A face within ``MAX_FACE_OFFSET`` of
        one of their noses too is not counted: it may be theirs (and so for them, a face with
        this person's nose on it: where two noses lie on one face it says nothing for either;
        a guessed nose has the same visibility as a seen one). A person whose head is hidden
        behind another's has their nose guessed on that other face (multi_person cam03, frame
        51: the performer bent over, his back to the camera, his head behind the woman's; her
        face was taken for his and undid a right swap of his labels, and the wrong labels held
        to the end of the clip)."""
        import cv2

        square = head_square(keypoints, (image.shape[1], image.shape[0]))
        if square is None:
            return False
        x0, y0, x1, y1 = square
        crop = cv2.resize(np.ascontiguousarray(image[y0:y1, x0:x1]), (FACE_INPUT, FACE_INPUT))
        side = np.array([x1 - x0, y1 - y0], np.float64)
        nose = (np.asarray(keypoints, np.float64)[_FACE[0]] - (x0, y0)) / side
        others = np.empty((0, 17, 2)) if others is None else np.asarray(others, np.float64).reshape(-1, 17, 2)
        noses = others[:, _FACE[0]]
        noses = (noses[np.isfinite(noses).all(axis=1)] - (x0, y0)) / side
        for face in self._faces(crop).detections or []:
            # Eyes, nose tip and mouth (the first four points), relative to the square.
            centre = np.mean([(p.x, p.y) for p in face.location_data.relative_keypoints[:4]], axis=0)
            offsets = np.linalg.norm((np.vstack([nose, noses]) - centre) * side, axis=1) / float(side.max())
            if face.score[0] >= self.min_score and offsets[0] <= MAX_FACE_OFFSET and not (
                offsets[1:] <= MAX_FACE_OFFSET
            ).any():
                return True
        return False

    def _faces(self, crop: np.ndarray):
        """MediaPipe's face detections in the (FACE_INPUT, FACE_INPUT, 3) RGB ``crop``; the
        network is made at the first call."""
        if self._detector is not None:
            return self._detector.process(crop)
        try:
            from mediapipe.python.solutions.face_detection import FaceDetection
        except ImportError as exc:
            raise Pose3DRuntimeError(f"the face check needs mediapipe ({exc}): "
                                     "pip install mediapipe") from exc
        # Made and first run at any time into a clip (the first suspected flip): its start-up
        # notices would show across the progress bar and as a red box in the notebook.
        with quiet_native_logs():
            self._detector = FaceDetection(model_selection=0, min_detection_confidence=self.min_score)
            return self._detector.process(crop)

    def close(self) -> None:
        """Free the face network (it is made again if called after)."""
        if self._detector is not None:
            self._detector.close()
            self._detector = None
