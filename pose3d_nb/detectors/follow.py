"""Whom to follow among everyone in view: the ``follow=`` policy.

``follow`` is one of:

- ``"auto"``, the default of ``Settings``, ``PoseEngine``, ``Pose3D``, ``pose3d run`` and
  ``pose3d batch``: ``"largest"`` with a detector that can see everyone (``mediapipe``,
  ``mediapipe-lite`` and ``mediapipe-heavy``, each run as ``mediapipe-people`` with its landmark
  model; ``mediapipe-people`` itself), unless the detector options set up MediaPipe's
  single-person solution (``smooth_landmarks``); else (``detectron2``, a plug-in) the
  detector's own choice, as ``"none"``. Until 2026-12-08 Lite and Heavy kept their
  single-person solution under "auto";
- ``"none"`` (or None): the detector's own choice (``mediapipe``, ``mediapipe-lite``,
  ``mediapipe-heavy``: MediaPipe's single-person solution);
- ``"largest"`` (what ``PeopleFollower`` and ``mediapipe-people`` take when given nothing): the
  person with the biggest box when someone is first found;
- ``"centre"``: the person nearest the image centre;
- ``"most-moving"``: the person whose keypoints move most during their first half second;
- a track id (an int, or its digits as a string): that person, once they are in view;
- ``"X,Y"`` (or an (x, y) pair): pixels in the first frame where anyone is found; the person
  whose box holds the point (the one whose hips are nearest to it when boxes overlap), else the
  person nearest to it.

:class:`PeopleFollower` applies the policy on top of :class:`people.PeopleTracker`. When the
followed person is hidden the frame is missing, never someone else; when they reappear near
where they were predicted (same track), they are followed again. If their track is dropped
(unseen for ``max_lost_seconds``), "largest"/"centre"/"most-moving" choose again; an id or a point
takes the nearest person who appeared since, near where the followed one was last seen.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pose3d_nb.detectors.blazepose_models import VARIANTS
from pose3d_nb.detectors.facing import beside_others
from pose3d_nb.detectors.geometry import box_centre
from pose3d_nb.detectors.left_right import LeftRightStabilizer
from pose3d_nb.detectors.people import PeopleTracker, PersonTrack
from pose3d_nb.detectors.registry import DETECTORS, factory_options
from pose3d_nb.detectors.tracking import Selection
from pose3d_nb.errors import Pose3DTypeError, Pose3DValueError
from pose3d_nb.skeleton import COCO

POLICIES = ("largest", "centre", "most-moving")
VALID_VALUES = ("'largest' ('auto'), 'centre', 'most-moving', a track id (e.g. 2) or a point 'X,Y' in "
                "pixels (or 'none' for the single-person detector's own choice)")
_HIPS = [COCO.index("left_hip"), COCO.index("right_hip")]


class FollowPointError(Pose3DValueError):
    """A follow point outside the video's image: a value the caller chose, which only the first
    frame can judge (``pose3d run`` refuses it as it refuses the values it checks first, exit 2)."""


@dataclass(frozen=True)
class FollowPolicy:
    """A parsed ``follow`` value: exactly one of ``rule``, ``track_id``, ``point`` is set."""

    rule: str | None = None
    track_id: int | None = None
    point: tuple[float, float] | None = None

    @classmethod
    def parse(cls, value: object) -> FollowPolicy:
        """``value`` as a policy; raises Pose3DValueError naming the valid values."""
        if isinstance(value, FollowPolicy):
            return value
        if value is None or value is True:
            return cls(rule="largest")
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return cls._id(int(value))
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return cls._point(value)
        if isinstance(value, str):
            text = value.strip().lower().replace("center", "centre")
            if text == AUTO:  # a detector that sees everyone: the default rule
                return cls(rule="largest")
            if text in POLICIES:
                return cls(rule=text)
            if text.isdigit():
                return cls._id(int(text))
            if "," in text:
                return cls._point(text.split(","))
        raise Pose3DValueError(f"unknown follow value {value!r}; valid: {VALID_VALUES}")

    @classmethod
    def _id(cls, track_id: int) -> FollowPolicy:
        if track_id < 1:
            raise Pose3DValueError(f"track ids start at 1, got follow={track_id}; valid: {VALID_VALUES}")
        return cls(track_id=track_id)

    @classmethod
    def _point(cls, parts) -> FollowPolicy:
        try:
            x, y = (float(p) for p in parts)
        except (TypeError, ValueError):
            raise Pose3DValueError(
                f"follow point {parts!r} is not two numbers; valid: {VALID_VALUES}"
            ) from None
        if not (np.isfinite(x) and np.isfinite(y)) or x < 0 or y < 0:
            raise Pose3DValueError(f"follow point ({x:g}, {y:g}) is outside the image (pixels start at 0, 0)")
        return cls(point=(x, y))

    def __str__(self) -> str:
        if self.rule:
            return self.rule
        if self.track_id is not None:
            return str(self.track_id)
        return f"{self.point[0]:g},{self.point[1]:g}"


class PeopleFollower:
    """Tracks everyone and picks the followed person each frame (``SubjectFollower``'s interface).

    Args:
        follow: the policy (see module docstring).
        tracker: the people tracker (default settings when None).
        fix_left_right: undo the followed person's left/right label flips.
        most_moving_seconds: how long people are watched before "most-moving" chooses.
        reacquire_diagonals: after the followed person's track is dropped, an id or point policy
            takes the nearest person who appeared since within this many of their box diagonals.

    Set ``frame_size`` (width, height) before ``select`` for "centre" and point checks.
    """

    def __init__(
        self,
        follow: object = "largest",
        tracker: PeopleTracker | None = None,
        *,
        fix_left_right: bool = True,
        most_moving_seconds: float = 0.5,
        reacquire_diagonals: float = 2.0,
    ) -> None:
        self.policy = FollowPolicy.parse(follow)
        self.tracker = tracker or PeopleTracker()
        self.stabilizer = LeftRightStabilizer() if fix_left_right else None
        self.most_moving_seconds = most_moving_seconds
        self.frame_size: tuple[int, int] | None = None
        self.followed: int | None = None
        self.reacquire_diagonals = reacquire_diagonals
        self._last_box: tuple[np.ndarray, float] | None = None  # where and when the followed was last seen
        self._others: set[int] = set()  # after a replay: ids of the pass before that are someone else
        self._replayed_followed: int | None = None  # after a replay: the followed id, until seen again
        self._last_seen: tuple[np.ndarray, float] | None = None  # the same, once their track is dropped
        self._status = f"waiting for someone to follow ({self.policy})"
        # A request from another thread (``follow``, ``follow_policy``: the notebook) bumps the
        # generation; ``select`` keeps the choice it made only if no request came meanwhile.
        self._requests = threading.Lock()
        self._generation = 0

    @property
    def status(self) -> str:
        """One line for a status bar: whom it follows, or what it waits for."""
        return self._status

    @property
    def people(self) -> dict[int, PersonTrack]:
        """Every live track by id (``visible`` says who was seen in the newest frame)."""
        return dict(self.tracker.tracks)

    def follow(self, track_id: int) -> None:
        """Follow track ``track_id`` from the next frame on; raises if nobody has that id now."""
        track_id = FollowPolicy.parse(track_id).track_id
        if track_id is None or track_id not in self.tracker.tracks:
            known = ", ".join(str(t) for t in sorted(self.tracker.tracks)) or "none yet"
            raise Pose3DValueError(f"no person with track id {track_id!r} in view; ids now: {known}")
        self._request(FollowPolicy(track_id=track_id), track_id)

    def follow_policy(self, value: object) -> None:
        """Follow by ``value`` (any ``follow=`` value) from the next frame on. A point outside the
        frames seen so far raises here, in the caller, instead of in ``select`` on the detector's
        thread (where it would stop a running engine)."""
        policy = FollowPolicy.parse(value)
        if policy.point is not None:
            self.check_point(policy.point)
        self._request(policy, None)

    def _request(self, policy: FollowPolicy, followed: int | None) -> None:
        with self._requests:
            self.policy, self.followed = policy, followed
            self._generation += 1

    def _settle(self, followed: int | None, generation: int) -> int | None:
        """Keep ``followed`` as the choice unless a request came since ``generation`` was read;
        returns the choice for this frame (the request applies from the next)."""
        with self._requests:
            if self._generation == generation:
                self.followed = followed
        return followed

    def check_point(self, point: tuple[float, float]) -> None:
        """Raise ``FollowPointError`` if ``point`` (x, y) lies outside ``frame_size`` (once known)."""
        x, y = point
        if self.frame_size is not None and (x >= self.frame_size[0] or y >= self.frame_size[1]):
            width, height = self.frame_size
            raise FollowPointError(
                f"follow point ({x:g}, {y:g}) is outside the {width}x{height} image; "
                f"give X in [0, {width}) and Y in [0, {height})"
            )

    def take_state_from(self, previous: PeopleFollower) -> None:
        """Go on where ``previous`` left off (a detector switched while running): everyone's
        tracks and ids, whom it follows and by what policy, where they were last seen, their
        left/right labels. This follower's settings (its tracker's, ``most_moving_seconds``,
        ``reacquire_diagonals``, whether labels are fixed) stay its own."""
        self.tracker.take_tracks_from(previous.tracker)
        with previous._requests:
            policy, followed = previous.policy, previous.followed
        with self._requests:
            self.policy, self.followed = policy, followed
            self._generation += 1
        self.frame_size, self._status = previous.frame_size, previous._status
        self._last_box, self._last_seen = previous._last_box, previous._last_seen
        self._others, self._replayed_followed = set(previous._others), previous._replayed_followed
        if self.stabilizer is not None and previous.stabilizer is not None:
            self.stabilizer, previous.stabilizer = previous.stabilizer, self.stabilizer

    def reset(self) -> None:
        self.tracker.reset()
        self.followed = None
        self._last_box = self._last_seen = None
        self._others, self._replayed_followed = set(), None
        if self.stabilizer is not None:
            self.stabilizer.reset()

    def replay(self, timestamp: float) -> None:
        """The same footage starts again at ``timestamp`` (a looping file; the media time of its
        first frame): the tracks are dropped and their ids given back as the people appear again
        (``PeopleTracker.replay``). Whom to follow stays: the followed person by their id (a
        point, which may have been given in the middle of the clip, becomes the id it chose),
        taken up again when they reappear, or whoever appears where they first did if they come
        back too late to be given their id; a rule (largest, centre) chooses as on the clip's
        first frames."""
        followed = self.followed
        self.tracker.replay(timestamp)
        self._last_box = self._last_seen = None  # where they were at the clip's end says nothing now
        # Everyone else of the pass before is someone else, even when given their id back later.
        self._others = self.tracker.replayed_ids - {followed}
        self._replayed_followed = followed
        with self._requests:
            if self.policy.point is not None and followed is not None:
                self.policy = FollowPolicy(track_id=followed)
        birth = self.tracker.birth_box(followed) if followed is not None else None
        if birth is not None:  # if their id is not given back, whoever appears there instead
            self._last_box = (birth, float(np.nextafter(timestamp, -np.inf)))
        if self.stabilizer is not None:
            self.stabilizer.reset()

    def resize(self, size: tuple[int, int]) -> None:
        """Frames are ``size`` (width, height) pixels from now on. The tracks, in the old image's
        pixels, are dropped (ids are given anew); a person chosen by a point or a track id is
        taken up again as one lost: whoever appears nearest where they were, scaled to the new
        image, as is a point to follow (else the point may lie outside a smaller image and stop
        the run, and an id would be waited for in vain)."""
        old, last = self.frame_size, self._last_box
        self.reset()
        self.frame_size = size
        if old is None or old == size:
            return
        scale = np.array([size[0] / old[0], size[1] / old[1]] * 2)
        with self._requests:
            point = self.policy.point
            if point is not None:
                self.policy = FollowPolicy(point=(point[0] * scale[0], point[1] * scale[1]))
            chosen = self.policy.track_id is not None or self.policy.point is not None
        if chosen and last is not None:
            self._last_seen = (last[0] * scale, last[1])

    def select(self, timestamp, boxes, keypoints, scores, confidences=None, sees_face=None) -> Selection:
        """The followed person's row among this frame's candidates (see ``SubjectFollower.select``)."""
        if self.policy.point is not None and self.followed is None:
            self.check_point(self.policy.point)  # on the first frame, not once someone is found
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        matches = self.tracker.update(timestamp, boxes, keypoints, scores)
        # Read once: ``follow()`` may change it from another thread (the notebook) meanwhile.
        with self._requests:
            followed, generation = self.followed, self._generation
        if followed is not None and followed not in self.tracker.tracks:
            self._last_seen = self._last_box
            followed = self._settle(None, generation)
        if followed is None:
            followed = self._settle(self._choose(matches), generation)
        if followed is None or followed not in matches:
            if followed is not None:
                self._status = f"person {followed} hidden: frames missing until they reappear"
            return Selection(None, followed, False)
        row = matches[followed]
        self._last_box = (boxes[row].copy(), float(timestamp))
        self._status = f"following person {followed} ({len(matches)} in view)"
        swap = False
        if self.stabilizer is not None:
            swap = self.stabilizer.update(np.asarray(keypoints)[row], np.asarray(scores)[row], followed,
                                          beside_others(sees_face, keypoints, row), timestamp)
        return Selection(row, followed, swap)

    # ------------------------------------------------------------------ choosing
    def _choose(self, matches: dict[int, int]) -> int | None:
        tracks = [self.tracker.tracks[t] for t in matches]
        policy = self.policy
        if not tracks:
            self._status = f"nobody in view yet: waiting to follow {policy}"
            return None
        if self._last_seen is not None and (policy.track_id is not None or policy.point is not None):
            return self._reacquire(tracks)
        if policy.track_id is not None:
            if policy.track_id in matches:
                return policy.track_id
            self._status = self._waiting_for_id(policy.track_id, matches)
            return None
        if policy.point is not None:
            return self._at_point(tracks, policy.point)
        if policy.rule == "centre":
            width, height = self.frame_size or (0, 0)
            centre = np.array([width / 2, height / 2])
            return min(tracks, key=lambda t: float(np.linalg.norm(box_centre(t.box) - centre))).track_id
        if policy.rule == "most-moving":
            watched = [t for t in tracks if t.last_time - t.first_time >= self.most_moving_seconds]
            if not watched:
                self._status = "watching who moves most before following"
                return None
            return max(watched, key=PersonTrack.motion).track_id
        return max(tracks, key=lambda t: t.area).track_id

    def _waiting_for_id(self, track_id: int, matches: dict[int, int]) -> str:
        """Why a wanted id is not followed, naming the ids there are: one nobody has been given
        yet (ids are given in order as people appear: it may be someone still to come), or one
        given to someone who is not in view now."""
        in_view = ", ".join(map(str, matches)) or "nobody"
        given = self.tracker.next_id - 1
        if track_id > given:
            so_far = f"1-{given}" if given > 1 else (str(given) if given else "none")
            return (f"waiting for person {track_id}: nobody has had that id yet (ids so far: {so_far}; "
                    f"in view: {in_view})")
        return f"waiting for person {track_id} (in view: {in_view})"

    def _at_point(self, tracks: list[PersonTrack], point: tuple[float, float]) -> int:
        x, y = point
        self.check_point(point)
        target = np.array(point)

        def hip_distance(track: PersonTrack) -> float:
            hips = track.keypoints[_HIPS]
            centre = hips.mean(axis=0) if np.isfinite(hips).all() else box_centre(track.box)
            return float(np.linalg.norm(centre - target))

        holding = [t for t in tracks if t.box[0] <= x <= t.box[2] and t.box[1] <= y <= t.box[3]]
        if holding:
            return min(holding, key=hip_distance).track_id
        return min(tracks, key=lambda t: _box_distance(t.box, target)).track_id

    def _reacquire(self, tracks: list[PersonTrack]) -> int | None:
        """After the followed track was dropped: someone who appeared since, near where they were."""
        last, last_time = self._last_seen
        diagonal = max(float(np.hypot(last[2] - last[0], last[3] - last[1])), 1.0)
        centre = box_centre(last)
        reach = self.reacquire_diagonals * diagonal
        near = [t for t in tracks if t.first_time > last_time and _box_distance(t.box, centre) <= reach
                and t.track_id not in self._others]
        if not near:
            self._status = "followed person lost: waiting for them to come back where last seen"
            return None
        self._last_seen = None
        if self._replayed_followed is not None:  # back under a new id: the old one is theirs no more
            self.tracker.forget_birth(self._replayed_followed)
            self._replayed_followed = None
        return min(near, key=lambda t: _box_distance(t.box, centre)).track_id


def _box_distance(box: np.ndarray, point: np.ndarray) -> float:
    """Pixels from ``point`` (2,) to the (4,) box (0 inside it)."""
    dx = max(box[0] - point[0], 0.0, point[0] - box[2])
    dy = max(box[1] - point[1], 0.0, point[1] - box[3])
    return float(np.hypot(dx, dy))


#: Detector backends whose detectors take a ``follow=`` policy, and the single-person backends
#: a policy switches to them.
FOLLOWING_DETECTORS = ("mediapipe-people",)
SEES_EVERYONE_INSTEAD = {"mediapipe": "mediapipe-people"}
SINGLE_PERSON = {people: single for single, people in SEES_EVERYONE_INSTEAD.items()}
#: Single-person variants that follow a person (any ``follow=`` but "none", "auto" too) as
#: ``mediapipe-people`` running their landmark model (``model_complexity``) in each person's region.
VARIANTS_SEEING_EVERYONE = {model.detector: model.complexity for model in VARIANTS.values()}


def people_detector_of(detector: object) -> str | None:
    """The backend that follows a person for ``detector`` (a registered name, as registered):
    ``mediapipe-people`` for ``mediapipe``, ``mediapipe-lite``, ``mediapipe-heavy`` and itself;
    None for a detector that sees one person only (``detectron2``, a plug-in, an object)."""
    if not isinstance(detector, str):
        return None
    if detector in VARIANTS_SEEING_EVERYONE:
        return "mediapipe-people"
    people = SEES_EVERYONE_INSTEAD.get(detector, detector)
    return people if people in FOLLOWING_DETECTORS else None


def single_person_of(detector: object, options: dict) -> tuple[object, dict]:
    """The single-person detector (name and options) a people detector running with
    ``options`` stands for: ``mediapipe-people`` is ``mediapipe``, or ``mediapipe-lite`` /
    ``mediapipe-heavy`` when it runs their landmark model (``model_complexity`` 0 / 2, then
    left out of the options). Anything else comes back as it is."""
    if detector not in SINGLE_PERSON:
        return detector, dict(options)
    for variant, complexity in VARIANTS_SEEING_EVERYONE.items():
        if options.get("model_complexity") == complexity:
            return variant, {k: v for k, v in options.items() if k != "model_complexity"}
    return SINGLE_PERSON[detector], dict(options)



def options_only_for(detector: object, other: object) -> frozenset[str]:
    """The options registered backend ``detector`` takes and ``other`` does not, from their
    signatures: ``mediapipe-people``'s own (``workers``, ``discover_every``, ...) are dropped
    when the engine goes back to ``mediapipe`` (or Lite, Heavy), and the single-person
    solution's own (``smooth_landmarks``, ...) keep it under "auto". Empty unless both are
    registered names and differ."""
    if not (isinstance(detector, str) and isinstance(other, str)) or detector == other:
        return frozenset()
    return factory_options(detector) - factory_options(other)


#: The default ``follow``: "largest" with a detector that can see everyone (or has a backend
#: that does, like "mediapipe", "mediapipe-lite", "mediapipe-heavy": ``people_detector_of``);
#: any other detector keeps its own choice.
AUTO = "auto"


def check_follow(follow: object) -> None:
    """``Pose3DValueError`` naming the valid values for a ``follow`` value that is none of them
    (``Settings``, ``PoseEngine.follow`` and through them every entry point check it alike).
    A bool is none: ``follow=True`` was taken, stored as "True" and refused as that later (by
    the metadata, a start, the app); "largest" says what it meant."""
    if isinstance(follow, (bool, np.bool_)):
        raise Pose3DValueError(f"unknown follow value {follow!r}; valid: {VALID_VALUES}")
    if follow is not None and not (isinstance(follow, str) and follow.strip().lower() in (AUTO, "none")):
        FollowPolicy.parse(follow)


def follow_text(follow: object) -> str | None:
    """A follow value as ``Settings`` and manifests store it: a point (x, y) as "x,y"."""
    if follow is None:
        return None
    if isinstance(follow, (tuple, list)) and len(follow) == 2:
        return f"{follow[0]:g},{follow[1]:g}"
    return str(follow)


def resolved_follow(detector: object, follow: object) -> object:
    """``follow`` with "auto" and "none" decided for ``detector``: a policy value, or None for
    the detector's own single-person choice."""
    if isinstance(follow, str) and follow.strip().lower() == "none":
        return None
    if isinstance(follow, str) and follow.strip().lower() == AUTO:
        return "largest" if people_detector_of(detector) is not None else None
    return follow


def with_follow(detector: object, follow: object, options: dict | None = None) -> tuple[object, dict]:
    """The detector spec and options that follow ``follow`` (None or "none": unchanged; "auto":
    "largest" where the detector can follow, else unchanged, and unchanged too when ``options``
    set up the single-person solution, e.g. ``smooth_landmarks``).

    A backend name that sees one person ("mediapipe", "mediapipe-lite", "mediapipe-heavy")
    becomes the one that sees everyone ("mediapipe-people", with Lite's or Heavy's
    ``model_complexity``), and ``follow`` goes into its options. A name comes back as registered.

    Raises:
        Pose3DValueError: an unknown follow value, or a detector that cannot follow a choice.
        UnknownNameError: an unknown detector name (the message lists the known ones).
        Pose3DTypeError: ``options`` is not a mapping.
    """
    if options is not None and not isinstance(options, Mapping):
        raise Pose3DTypeError(
            f"detector_options must be a dict of the detector's keyword options, got {type(options).__name__}"
        )
    check_follow(follow)  # a bool too, before "auto" or the detector is looked at
    options = dict(options or {})
    if isinstance(detector, str):  # as registered ("MediaPipe" is "mediapipe"): compared below
        detector = DETECTORS.canonical(detector)
    if (isinstance(follow, str) and follow.strip().lower() == AUTO and options
            and isinstance(detector, str)
            and options_only_for(detector, people_detector_of(detector)) & set(options)):
        return detector, options  # options only the single-person solution takes keep it
    follow = resolved_follow(detector, follow)
    if follow is None:
        return detector, options
    FollowPolicy.parse(follow)
    if not isinstance(detector, str):
        raise Pose3DValueError(
            f"follow={follow!r} needs a detector name ({', '.join(FOLLOWING_DETECTORS)}); "
            "give your own detector object its policy instead"
        )
    if detector in VARIANTS_SEEING_EVERYONE:  # Lite or Heavy following someone chosen
        options["model_complexity"] = VARIANTS_SEEING_EVERYONE[detector]
        detector = "mediapipe-people"
    detector = SEES_EVERYONE_INSTEAD.get(detector, detector)
    if detector not in FOLLOWING_DETECTORS:
        able = (*FOLLOWING_DETECTORS, *SEES_EVERYONE_INSTEAD, *VARIANTS_SEEING_EVERYONE)
        raise Pose3DValueError(
            f"detector {detector!r} cannot follow a chosen person; use one of {', '.join(able)} with follow="
        )
    options["follow"] = follow
    return detector, options
