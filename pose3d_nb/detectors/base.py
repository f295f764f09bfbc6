"""The detector protocol and the glue every backend shares.

A backend subclasses :class:`FollowingDetector` and only says how to find the people in a frame
(:meth:`FollowingDetector.candidates`, returning :class:`Candidates`). Following one person,
undoing left/right flips and assembling the :class:`Detection` live here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from pose3d_nb.detectors.detection import Detection
from pose3d_nb.detectors.facing import FaceCheck
from pose3d_nb.detectors.glitches import GlitchGate
from pose3d_nb.detectors.tracking import SubjectFollower
from pose3d_nb.errors import Pose3DImportError
from pose3d_nb.skeleton import COCO, NUM_JOINTS
from pose3d_nb.sources.frame import Frame

COCO_MIRROR = COCO.mirror_permutation()


class DetectorUnavailable(Pose3DImportError):
    """A detector backend is not installed; the message says how to install it."""


@runtime_checkable
class Detector(Protocol):
    """Frame in, the followed person's COCO-17 keypoints out.

    ``detector(frame)`` returns a :class:`Detection` for every frame (``Detection.missing`` when
    nobody is found, never dropped). ``reset()`` forgets tracking state (call it when the source
    changes); ``close()`` frees the model; detectors are context managers.
    """

    name: str

    def __call__(self, frame: Frame) -> Detection: ...

    def reset(self) -> None:
        """Forget everything learnt from previous frames (whom it follows, smoothing)."""

    def close(self) -> None:
        """Free the model; the detector is not used after."""

    def __enter__(self) -> Detector: ...

    def __exit__(self, *exc_info: object) -> None: ...


class BaseDetector:
    """Context-manager glue for detectors.

    ``provides``: capabilities its detections carry (e.g. ``{"world_landmarks"}``), checked
    against what a lifter requires (``detectors.registry.detector_provides``).
    """

    name = "detector"
    provides: ClassVar[frozenset[str]] = frozenset()

    def __call__(self, frame: Frame) -> Detection:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget everything learnt from previous frames."""

    def close(self) -> None:
        """Free the model."""

    def __enter__(self) -> BaseDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def missing_detection(frame: Frame, **extras: Any) -> Detection:
    """``Detection.missing`` for ``frame``, with backend ``extras`` (e.g. candidate counts)."""
    missing = Detection.missing(frame.size, frame.timestamp, frame.index)
    if extras:
        missing.extras.update(extras)
    return missing


def found_detection(
    frame: Frame, keypoints: np.ndarray, scores: np.ndarray, bbox: np.ndarray, **extras: Any
) -> Detection:
    """A Detection for ``frame`` from (17, 2) pixel ``keypoints``, (17,) ``scores``, (4,) ``bbox``."""
    return Detection(
        keypoints=np.asarray(keypoints, np.float32).reshape(17, 2),
        scores=np.clip(np.asarray(scores, np.float32).reshape(17), 0.0, 1.0),
        bbox=np.asarray(bbox, np.float32).reshape(4),
        frame_size=frame.size,
        timestamp=frame.timestamp,
        frame_index=frame.index,
        extras=dict(extras),
    )


@dataclass(frozen=True)
class Candidates:
    """Every person a backend found in one image, one row each (N may be 0).

    Attributes:
        boxes: (N, 4) float x1, y1, x2, y2 pixels.
        keypoints: (N, 17, 2) float COCO-17 pixels (x right, y down).
        scores: (N, 17) float keypoint confidences in [0, 1].
        confidences: (N,) float person confidences, or None when the backend has none (then
            the detection carries no ``box_score``).
        extras: per-person arrays, first axis N (e.g. ``world_landmarks`` (N, 33, 3)); the
            followed person's row goes into ``Detection.extras`` under the same key.
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    confidences: np.ndarray | None = None
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def none(cls) -> Candidates:
        """Nobody found."""
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros((0, NUM_JOINTS, 2), np.float32),
            np.zeros((0, NUM_JOINTS), np.float32),
        )


class FollowingDetector(BaseDetector):
    """A detector from a backend that finds candidates: follows one person through them.

    Subclasses implement :meth:`candidates` (and ``close``/``reset`` for their own model state,
    calling ``super().reset()``). Each call then picks the followed person with
    ``tracking.SubjectFollower`` (the same person across frames, a new ``track_id`` after a loss,
    left/right label flips undone) and assembles the :class:`Detection`.

    Args:
        follow: keep following the same person (else the most confident one each frame).
        fix_left_right: undo left/right label flips by temporal continuity.
        check_face: and undo a flip of its own that turns the person's back to the camera while
            a face is on their head (``facing.FaceCheck``, MediaPipe's face detector).

    Class attributes:
        min_keypoint_score: keypoints below this are ignored when following (backends whose
            scores are small probabilities set 0).
        extras_mirror: for each per-person extra, the (K,) permutation of its first axis that
            swaps left and right; applied with the keypoints' when labels are flipped back.

    Detection extras, besides the candidate's own: ``track_id``, ``swapped_left_right``,
    ``num_candidates`` and, when the backend gives person confidences, ``box_score``.
    """

    min_keypoint_score: ClassVar[float] = 0.3
    extras_mirror: ClassVar[Mapping[str, np.ndarray]] = {}

    def __init__(self, *, follow: bool = True, fix_left_right: bool = True, check_face: bool = False) -> None:
        self._follower = SubjectFollower.default(
            follow=follow, fix_left_right=fix_left_right, min_keypoint_score=self.min_keypoint_score
        )
        self._faces = FaceCheck() if check_face and fix_left_right else None
        self._glitches = GlitchGate()

    def candidates(self, frame: Frame) -> Candidates:
        """Everyone found in ``frame`` (RGB); the one method a backend must write."""
        raise NotImplementedError

    def __call__(self, frame: Frame) -> Detection:
        """The followed person's keypoints in ``frame`` (missing when they are not in it); a frame
        whose keypoints moved faster than a body can is their previous one (``glitches``)."""
        found = self.candidates(frame)
        followed = assemble_detection(frame, found, self._follower, self.extras_mirror, self._faces)
        return self._glitches(followed)

    def reset(self) -> None:
        """Forget the followed person (the next one found gets a new ``track_id``)."""
        self._follower.reset()
        self._glitches.reset()

    def take_over(self, previous: object) -> bool:
        """Go on where ``previous`` (the detector this one replaces in a running engine: another
        model of the same backend) left off: whom it follows, everyone's tracks and ids and the
        glitch gate's frames move here, as if one detector had run all along (this detector's
        own settings stay); ``previous`` forgets them. Without it a new detector numbered people
        afresh, and the id the engine followed became whoever was numbered so first.

        Returns:
            True when the state moved over; False for a detector of another kind, which keeps
            its own tracking but numbers the people it finds after ``previous``'s ids, so that
            no id the engine has buffers and paths for is given to someone new.
        """
        if type(previous) is not type(self):
            mine = getattr(self._follower, "tracker", None)
            theirs = getattr(getattr(previous, "_follower", None), "tracker", None)
            if mine is not None and theirs is not None:
                mine.continue_ids(theirs.next_id)
            return False
        self._follower.take_state_from(previous._follower)  # this detector's own settings stay
        self._glitches, previous._glitches = previous._glitches, self._glitches
        return True

    def close(self) -> None:
        """Free the face check's network; backends free their own model and call this."""
        if self._faces is not None:
            self._faces.close()


def assemble_detection(
    frame: Frame,
    found: Candidates,
    follower: SubjectFollower,
    extras_mirror: Mapping[str, np.ndarray] | None = None,
    sees_face: Callable[[np.ndarray, np.ndarray, np.ndarray], bool] | None = None,
) -> Detection:
    """The Detection of the person ``follower`` selects among ``found`` in ``frame``.

    Args:
        frame: the frame the candidates were found in.
        found: every candidate, see :class:`Candidates`.
        follower: picks the subject and says whether its left/right labels are flipped.
        extras_mirror: left/right permutation per extra (see ``FollowingDetector``).
        sees_face: ``sees_face(image, keypoints, others)``, e.g. ``facing.FaceCheck``: an
            absolute left/right cue for the follower's fixer (``LeftRightStabilizer.update``);
            ``others`` are the other candidates' (M, 17, 2) keypoints.

    Returns:
        A found Detection, or ``Detection.missing`` with ``num_candidates`` and ``track_id``.
    """
    on_this_frame = None if sees_face is None else (
        lambda keypoints, others: sees_face(frame.image, keypoints, others)
    )
    selection = follower.select(
        frame.timestamp, found.boxes, found.keypoints, found.scores, found.confidences, on_this_frame
    )
    if selection.index is None:
        return missing_detection(frame, num_candidates=len(found), track_id=selection.track_id)
    i = selection.index
    keypoints, scores = found.keypoints[i], found.scores[i]
    extras = {key: values[i] for key, values in found.extras.items()}
    if selection.swap_left_right:
        keypoints, scores = keypoints[COCO_MIRROR], scores[COCO_MIRROR]
        for key, permutation in (extras_mirror or {}).items():
            if key in extras:
                extras[key] = extras[key][permutation]
    if found.confidences is not None:
        extras["box_score"] = float(found.confidences[i])
    return found_detection(
        frame,
        keypoints,
        scores,
        found.boxes[i],
        **extras,
        track_id=selection.track_id,
        swapped_left_right=selection.swap_left_right,
        num_candidates=len(found),
    )
