"""Several people in view: stable ids for everyone, and following the one the user chooses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.waiting import until
from test_tracking import FPS, person

from pose3d_nb.detectors.follow import FollowPolicy, PeopleFollower
from pose3d_nb.detectors.people import PeopleTracker
from pose3d_nb.errors import Pose3DValueError

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
TWO_PEOPLE = SAMPLES / "two_people_walk_640x360.mp4"
SIZE = (640, 480)
FRAMES = 110  # of the two-people clip: the woman walks in at about frame 40


def run_follower(follower: PeopleFollower, frames: list[list[dict]], seed: int | None = 0):
    """Feed candidate lists (shuffled unless ``seed`` is None); per frame, return the chosen
    candidate's "name" (None when missing) and {track id: name} of everyone seen."""
    rng = None if seed is None else np.random.default_rng(seed)
    follower.frame_size = SIZE
    out = []
    for i, people in enumerate(frames):
        if rng is not None:
            people = [people[j] for j in rng.permutation(len(people))]
        boxes = np.array([p["box"] for p in people]).reshape(-1, 4)
        keypoints = np.array([p["keypoints"] for p in people]).reshape(-1, 17, 2)
        scores = np.array([p["scores"] for p in people]).reshape(-1, 17)
        selection = follower.select(i / FPS, boxes, keypoints, scores)
        ids = {t.track_id: people[t.index]["name"] for t in follower.people.values() if t.visible}
        out.append((None if selection.index is None else people[selection.index]["name"], ids))
    return out


def named(name: str, cx: float, cy: float, **kwargs) -> dict:
    return {**person(cx, cy, **kwargs), "name": name}


def crossing(hidden_frames: range) -> list[list[dict]]:
    """A walks right behind B, who walks left: A is not detected during ``hidden_frames``."""
    frames = []
    for i in range(90):
        a = named("A", 100 + 5 * i, 240, h=190)
        b = named("B", 550 - 5 * i, 250, h=210)
        frames.append([b] if i in hidden_frames else [a, b])
    return frames


def test_occlusion_gives_missing_frames_then_the_same_person():
    frames = crossing(range(38, 52))  # hidden for 14 frames (0.47 s) while the boxes overlap
    follower = PeopleFollower("120,240")  # A's hips in the first frame
    results = run_follower(follower, frames)
    chosen = [name for name, _ in results]
    assert set(chosen[:38]) == {"A"}
    assert chosen[38:52] == [None] * 14, "another person was reported while A was hidden"
    assert set(chosen[52:]) == {"A"}, "A not followed again after reappearing"
    # Both keep their ids throughout: A's id maps to A whenever A is visible, B's to B.
    ids_a = {i for _, ids in results for i, n in ids.items() if n == "A"}
    ids_b = {i for _, ids in results for i, n in ids.items() if n == "B"}
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_ids_stay_with_people_through_a_crossing_with_no_occlusion():
    tracker = PeopleTracker()
    frames = crossing(range(0))
    names = {}
    for i, people in enumerate(frames):
        matches = tracker.update(
            i / FPS, np.array([p["box"] for p in people]), np.array([p["keypoints"] for p in people]),
            np.array([p["scores"] for p in people]),
        )
        for track_id, row in matches.items():
            assert names.setdefault(track_id, people[row]["name"]) == people[row]["name"], f"frame {i}"
    assert sorted(names.values()) == ["A", "B"]


def test_a_person_gone_longer_than_max_lost_gets_a_new_id():
    frames = [[named("A", 200, 240)] for _ in range(10)] + [[] for _ in range(70)] + [
        [named("A", 200, 240)] for _ in range(5)
    ]
    results = run_follower(PeopleFollower("largest", PeopleTracker(max_lost_seconds=2.0)), frames)
    assert list(results[0][1]) == [1] and list(results[-1][1]) == [2]
    assert results[-1][0] == "A"  # "largest" chooses again once the followed track is dropped


def _walk_apart(frames: int = 60) -> list[list[dict]]:
    """A walks from the left to the right, B from the right to the left: each ends where the
    other began, so the clip's first frame puts each person near where the other was last."""
    return [[named("A", 120 + 6 * i, 240, h=190), named("B", 480 - 6 * i, 250, h=200)] for i in range(frames)]


@pytest.mark.parametrize(("follow", "expected"), [("largest", "B"), ("120,240", "A"), (1, "A")])
def test_a_looping_clip_played_again_gives_everyone_their_id_back(follow, expected):
    """A looping file's next pass (``PeopleFollower.replay`` at the frame index going back): the
    tracker matched the person at the clip's start to the track of whoever ended nearest there,
    so the followed id went on with the other person. Each person now gets their own id back,
    and the followed one is followed again."""
    frames = _walk_apart()
    follower = PeopleFollower(follow)
    first = run_follower(follower, frames, seed=None)
    follower.replay(len(frames) / FPS)
    follower.frame_size = SIZE
    again = []
    for i, people in enumerate(frames, start=len(frames)):
        boxes, keypoints = np.array([p["box"] for p in people]), np.array([p["keypoints"] for p in people])
        selection = follower.select(i / FPS, boxes, keypoints, np.array([p["scores"] for p in people]))
        ids = {t.track_id: people[t.index]["name"] for t in follower.people.values() if t.visible}
        again.append((None if selection.index is None else people[selection.index]["name"], ids))
    assert first[-1][1] == again[-1][1] == {1: "A", 2: "B"}, "each person keeps their id"
    assert {name for name, _ in first} == {name for name, _ in again} == {expected}, "followed again"

    # Without the replay, the clip's first frame is matched to where people were at its end.
    tracker = PeopleTracker()
    for i, people in enumerate(frames + frames[:5]):
        columns = [np.array([p[key] for p in people]) for key in ("box", "keypoints", "scores")]
        matches = tracker.update(i / FPS, *columns)
    assert {frames[0][row]["name"]: track for track, row in matches.items()} != {"A": 1, "B": 2}


def _pass(follower: PeopleFollower, frames: list[list[dict]], start: float) -> list[str | None]:
    """One pass of ``frames`` from media time ``start``: whom the follower chose each frame."""
    follower.frame_size = SIZE
    chosen = []
    for i, people in enumerate(frames):
        columns = [np.array([p[key] for p in people]).reshape(-1, *shape)
                   for key, shape in (("box", (4,)), ("keypoints", (17, 2)), ("scores", (17,)))]
        selection = follower.select(start + i / FPS, *columns)
        chosen.append(None if selection.index is None else people[selection.index]["name"])
    return chosen


def test_replay_survives_people_first_seen_in_another_order():
    # Two people born on one frame, seen the other way round next pass: giving one id back
    # compared the records' array boxes and raised "truth value of an array is ambiguous".
    tracker = PeopleTracker()
    a, b = named("A", 120, 240), named("B", 480, 250)
    columns = lambda people: [np.array([p[k] for p in people]) for k in ("box", "keypoints", "scores")]  # noqa: E731
    assert tracker.update(0.0, *columns([a, b])) == {1: 0, 2: 1}
    tracker.replay(1.0)
    assert tracker.update(1.0, *columns([b, a])) == {2: 0, 1: 1}


def test_a_followed_person_who_comes_back_late_in_the_next_pass_is_followed_again():
    frames = _walk_apart()
    late = [[p for p in people if p["name"] != "A" or i >= 21] for i, people in enumerate(frames)]  # 0.7 s
    follower = PeopleFollower(1)
    assert set(_pass(follower, frames, 0.0)) == {"A"}
    follower.replay(2.0)
    again = _pass(follower, late, 2.0)
    assert again[:21] == [None] * 21 and set(again[21:]) == {"A"}, again  # not B, and not lost
    follower.replay(4.0)  # and on the pass after
    assert set(_pass(follower, frames, 4.0)) == {"A"}


def test_a_person_clicked_in_the_middle_of_a_looping_clip_is_followed_on_the_next_pass():
    frames = _walk_apart()
    follower = PeopleFollower("largest")  # B, the taller
    _pass(follower, frames[:30], 0.0)
    follower.follow_policy("300,240")  # a click on A, near the middle of the image at frame 30
    assert set(_pass(follower, frames[30:], 1.0)[1:]) == {"A"}
    follower.replay(2.0)  # at the clip's first frame B is nearest that point
    assert set(_pass(follower, frames, 2.0)) == {"A"}


@pytest.mark.parametrize(
    ("follow", "expected"),
    [
        ("largest", "big"),
        ("centre", "middle"),
        ("330,250", "middle"),  # inside the middle person's box
        ("10,10", "big"),  # in nobody's box: the nearest
        (2, "middle"),  # ids are given in row order on the first frame (not shuffled here)
        ("1", "big"),
    ],
)
def test_policies_choose_whom_to_follow(follow, expected):
    frames = [[named("big", 100, 200, h=300, w=120), named("middle", 320, 240)] for _ in range(5)]
    results = run_follower(PeopleFollower(follow), frames, seed=None)
    assert {name for name, _ in results} == {expected}


def test_most_moving_waits_then_picks_the_one_who_moves():
    frames = [
        [named("still", 150, 240, h=300, w=120), named("dancer", 450 + 40 * np.sin(i / 2), 240)]
        for i in range(30)
    ]
    follower = PeopleFollower("most-moving")
    results = run_follower(follower, frames)
    assert results[0][0] is None  # nobody has been watched long enough on the first frame
    assert {name for name, _ in results[20:]} == {"dancer"}


def test_a_point_where_nobody_is_waits_and_says_so():
    follower = PeopleFollower("300,200")
    results = run_follower(follower, [[] for _ in range(5)])
    assert all(name is None for name, _ in results)
    assert "waiting" in follower.status and "300,200" in follower.status


@pytest.mark.parametrize("value", ["biggest", "", "1,2,3", "x,y", 0, -3, "-5,10", 2.5])
def test_bad_follow_values_name_the_valid_ones(value):
    with pytest.raises(Pose3DValueError) as error:
        FollowPolicy.parse(value)
    assert "largest" in str(error.value) or "outside" in str(error.value)


def test_point_outside_the_image_and_unknown_ids_are_errors():
    follower = PeopleFollower("700,100")
    with pytest.raises(Pose3DValueError, match=r"outside the 640x480 image"):
        run_follower(follower, [[named("A", 200, 240)]])
    follower = PeopleFollower("largest")
    run_follower(follower, [[named("A", 200, 240), named("B", 400, 240)]])
    with pytest.raises(Pose3DValueError, match=r"no person with track id 7 in view; ids now: 1, 2"):
        follower.follow(7)
    follower.follow(2)
    assert follower.followed == 2


def test_a_point_outside_the_image_is_refused_in_the_callers_thread():
    """``engine.follow("X,Y")`` while running used to be accepted and raise on the detector's
    thread on the next frame, stopping the engine; a point policy given at the start waited,
    with nobody in view, until someone came (then stopped the run)."""
    follower = PeopleFollower("largest")
    run_follower(follower, [[named("A", 200, 240), named("B", 400, 240)]])
    with pytest.raises(Pose3DValueError, match=r"follow point \(640, 100\) is outside the 640x480 image"):
        follower.follow_policy("640,100")
    assert str(follower.policy) == "largest" and follower.followed is not None  # unchanged
    follower.follow_policy("400,240")  # a point inside: whoever is there, from the next frame
    assert follower.followed is None
    assert run_follower(follower, [[named("A", 200, 240), named("B", 400, 240)]])[0][0] == "B"
    waiting = PeopleFollower("700,100")
    with pytest.raises(Pose3DValueError, match=r"outside the 640x480 image"):
        run_follower(waiting, [[]])  # nobody in view yet: refused on the first frame all the same


def test_a_request_made_while_a_frame_chooses_whom_to_follow_is_not_overwritten():
    """``engine.follow`` from the notebook's thread can land while the detector's thread is
    choosing (between reading the policy and storing its choice): the request must win."""
    follower = PeopleFollower("largest")
    choose = follower._choose

    def choose_while_the_user_clicks(matches):
        chosen = choose(matches)  # the old policy's choice: the larger, B
        follower.follow_policy("200,240")  # the click on A arrives meanwhile
        return chosen

    follower._choose = choose_while_the_user_clicks
    frame = [named("A", 200, 240, h=150), named("B", 400, 240, h=220)]
    assert run_follower(follower, [frame])[0][0] == "B"  # this frame keeps the choice it made
    follower._choose = choose
    assert follower.followed is None and follower.policy.point == (200, 240)
    assert run_follower(follower, [frame])[0][0] == "A"  # the next frame follows the request


@pytest.mark.timeout(300)
def test_a_folder_of_images_of_two_sizes_finds_the_person_in_every_image():
    """Tracks and regions are in one image size's pixels: after a size change they matched
    nobody, and every other image of a mixed folder was recorded without its person."""
    import cv2

    from pose3d_nb.detectors import create_detector
    from pose3d_nb.sources import Frame, open_source

    with open_source("sample") as frames:
        images = [next(frames).image for _ in range(6)]
    images = [cv2.resize(image, None, fx=0.5, fy=0.5) if k % 2 else image for k, image in enumerate(images)]
    detector = create_detector("mediapipe-people", workers=1)
    try:
        found = [detector(Frame(image=image, index=k, timestamp=k / 30, captured_at=0.0)).found
                 for k, image in enumerate(images)]
    finally:
        detector.close()
    assert found == [True] * 6


@pytest.mark.timeout(300)
@pytest.mark.parametrize("chosen", ["point", "track id"])
def test_a_person_chosen_by_click_or_id_is_followed_on_after_the_image_size_changes(chosen):
    """After a size change (a browser camera renegotiating it) the tracks start afresh: a click's
    point, in the old image's pixels, lay outside the smaller image and stopped the run ("follow
    point ... is outside"), and a chosen track id never came back (ids are given anew)."""
    import cv2

    from pose3d_nb.detectors import create_detector
    from pose3d_nb.sources import Frame, open_source

    with open_source("sample") as frames:  # 540x960: the hips are at about (290, 380)
        images = [next(frames).image for _ in range(4)]
    detector = create_detector("mediapipe-people", workers=1)
    try:
        first = detector(Frame(image=images[0], index=0, timestamp=0.0, captured_at=0.0))
        hips = first.keypoints[[11, 12]].mean(axis=0)
        detector.follow(f"{hips[0]:.0f},{hips[1]:.0f}" if chosen == "point" else detector.followed)
        found = []
        for k, image in enumerate(images[1:], start=1):
            small = cv2.resize(image, None, fx=0.5, fy=0.5) if k >= 2 else image
            found.append(detector(Frame(image=small, index=k, timestamp=k / 30, captured_at=0.0)).found)
    finally:
        detector.close()
    assert found == [True, True, True]
    assert detector.follow_status.startswith("following person")


def test_the_people_detector_refuses_a_point_outside_the_frames_it_has_seen():
    """What ``engine.follow`` calls while running (a click on the live image's edge included)."""
    from pose3d_nb.detectors import create_detector
    from pose3d_nb.sources import Frame

    detector = create_detector("mediapipe-people", workers=1)
    try:
        blank = Frame(image=np.zeros((360, 640, 3), np.uint8), index=0, timestamp=0.0, captured_at=0.0)
        detector(blank)
        with pytest.raises(Pose3DValueError, match=r"outside the 640x360 image"):
            detector.follow("640,180")
        detector.follow("639,359")
        detector(Frame(image=blank.image, index=1, timestamp=1 / 30, captured_at=0.0))  # no error here
        assert "waiting" in detector.follow_status and "639,359" in detector.follow_status
    finally:
        detector.close()


def test_following_true_while_running_means_the_largest_as_at_construction():
    from pose3d_nb.detectors import create_detector
    from pose3d_nb.sources import Frame

    detector = create_detector("mediapipe-people", workers=1)
    try:
        detector(Frame(image=np.zeros((360, 640, 3), np.uint8), index=0, timestamp=0.0, captured_at=0.0))
        detector.follow(True)  # was track id 1: "no person with track id 1 in view"
        detector(Frame(image=np.zeros((360, 640, 3), np.uint8), index=1, timestamp=1 / 30, captured_at=0.0))
        assert detector.follow_status == "nobody in view yet: waiting to follow largest"
    finally:
        detector.close()


# ---------------------------------------------------------------------------- a real clip
@pytest.fixture(scope="module")
def two_people_run(tmp_path_factory):
    """The engine over the first FRAMES frames of the two-people clip (a man on a box, a woman
    walking across the lawn below), following a point on the man: the loaded session and the
    engine's per-person buffers."""
    if not TWO_PEOPLE.exists():
        pytest.skip(f"{TWO_PEOPLE} not here")
    from pose3d_nb import PoseEngine, load_session

    out = tmp_path_factory.mktemp("two_people")
    engine = PoseEngine(source=str(TWO_PEOPLE), follow="235,100", out_dir=out)
    engine.start()
    try:
        assert engine.buffer.wait_for(FRAMES, timeout=1200)
    finally:
        engine.stop()
    engine.raise_if_failed()
    return load_session(out), engine.people


@pytest.mark.timeout(900)
def test_a_looping_file_follows_the_same_person_on_every_pass():
    """The two-people clip on loop, following the largest (the man on the box): at the loop's
    seam the tracker matched the clip's first frame to where people were at its end, so the
    second pass followed the woman under the man's id (hip x 510 against 229 at frame 60)."""
    if not TWO_PEOPLE.exists():
        pytest.skip(f"{TWO_PEOPLE} not here")
    from pose3d_nb import PoseEngine

    engine = PoseEngine(source=str(TWO_PEOPLE), loop=True, follow="largest", out_dir=None, capacity=4000)

    def passes():
        frames = engine.buffer.snapshot().frame_index
        return np.cumsum(np.r_[0, np.diff(frames) < 0]), frames

    engine.start()
    try:
        assert until(lambda: (lambda p, f: ((p == 1) & (f >= 130)).any())(*passes()), timeout=800)
    finally:
        engine.stop()
    engine.raise_if_failed()
    snapshot = engine.buffer.snapshot()
    number, frames = passes()
    hips = snapshot.keypoints_2d[:, [11, 12]].mean(axis=1)
    for frame in (60, 120):
        rows = [np.flatnonzero((number == n) & (frames == frame))[0] for n in (0, 1)]
        assert np.abs(hips[rows[0]] - hips[rows[1]]).max() < 10, (frame, hips[rows])
        assert snapshot.track_id[rows[0]] == snapshot.track_id[rows[1]], "the same person keeps their id"


@pytest.mark.timeout(900)
def test_following_someone_else_moves_nobody_in_the_room():
    """A click on the woman while the man is followed: the engine restarted every other person's
    window and path at the switch, and the woman's 3D jumped 0.17 m at the click, the man's for
    a frame (two_people_walk: she walks across the lawn, he stands on the box)."""
    if not TWO_PEOPLE.exists():
        pytest.skip(f"{TWO_PEOPLE} not here")
    from pose3d_nb import PoseEngine

    engine = PoseEngine(source=str(TWO_PEOPLE), follow="largest", pace=False, out_dir=None)
    engine.start()
    try:
        assert until(lambda: len(engine.people) >= 2 and len(engine.buffer.snapshot()) >= 90, timeout=600)
        (other,) = [track for track in engine.people if track != engine.followed]
        engine.follow(other)
        assert engine.wait(600)
    finally:
        engine.stop()
    engine.raise_if_failed()
    followed = engine.buffer.snapshot().track_id
    switch = int(np.flatnonzero(followed == other)[0])
    frame = int(engine.buffer.snapshot().frame_index[switch])
    for track, buffer in engine.people.items():
        rows = buffer.snapshot()
        near = (rows.frame_index >= frame - 5) & (rows.frame_index <= frame + 5) & rows.valid
        pelvis = rows.joints_3d[near, 0].astype(np.float64)
        steps = np.linalg.norm(np.diff(pelvis, axis=0), axis=-1)  # walking: 3-5 cm a frame
        assert len(steps) >= 8 and steps.max() < 0.08, (track, np.round(steps, 3))


def _centre_y(keypoints: np.ndarray) -> float:
    return float(np.nanmean(keypoints[..., 1]))


@pytest.mark.timeout(1500)  # the fixture runs the whole pipeline (3 tiles, two lifters) on 2 cores
def test_two_people_ids_stay_stable_and_the_man_is_followed(two_people_run):
    session, _ = two_people_run
    # The man stands on the box (upper half, y < 190); the woman walks on the lawn (y > 190).
    man_ids, woman_ids = set(), set()
    for ids, keypoints in zip(session.people_ids[:FRAMES], session.people_keypoints_2d[:FRAMES], strict=True):
        for track_id, points in zip(ids, keypoints, strict=True):
            if track_id >= 0:
                (man_ids if _centre_y(points) < 190 else woman_ids).add(int(track_id))
    assert len(man_ids) == 1, f"the man had several ids: {man_ids}"
    assert len(woman_ids) == 1, f"the woman had several ids: {woman_ids}"
    found = session.valid[:FRAMES]
    assert found.sum() >= 0.8 * FRAMES, f"the man was followed on {found.sum()} of {FRAMES} frames"
    assert set(session.track_id[:FRAMES][found].tolist()) == man_ids
    for keypoints in session.keypoints_2d[:FRAMES][found]:
        assert _centre_y(keypoints) < 190  # never the woman


@pytest.mark.timeout(1500)
def test_everyone_is_lifted_and_recorded(two_people_run):
    session, people = two_people_run
    (man,) = set(session.track_id[session.valid].tolist())
    assert len(people) == 2 and man in people
    woman = next(i for i in people if i != man)
    rows = (session.people_ids == woman).any(axis=1)
    assert rows.sum() >= 50  # she walks in after about 1.3 s
    her_3d = session.people_joints_3d[session.people_ids == woman]
    assert np.isfinite(her_3d).all(axis=(1, 2)).mean() > 0.9
    assert len(people[woman]) >= rows.sum() - 5 and np.isfinite(people[woman].joints_3d()).all()


def test_tracks_read_while_a_frame_is_tracked_are_the_last_frames_and_stay_put():
    """``engine.tracks`` (the detector's ``people``) gave the tracker's own objects: a read
    while a frame was being tracked showed everyone not ``visible`` (about 1 read in 9 from a
    notebook thread on two_people_walk, with the man found on every frame), a dict kept by the
    caller changed under them, and an in-place edit of a box reached the tracker."""
    import cv2

    from pose3d_nb.detectors import create_detector
    from pose3d_nb.sources import Frame

    if not TWO_PEOPLE.exists():
        pytest.skip(f"{TWO_PEOPLE} not here")
    capture = cv2.VideoCapture(str(TWO_PEOPLE))
    frames = []
    for index in range(3):
        image = cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB)
        frames.append(Frame(image=image, index=index, timestamp=index / 30, captured_at=0.0))
    capture.release()
    detector = create_detector("mediapipe-people", workers=1)
    try:
        detector(frames[0])
        kept = detector.people
        box = kept[1].box.copy()
        assert kept[1].visible
        tracker = detector._follower.tracker
        seen_mid_frame = []
        costs = tracker._costs  # runs after the tracker has marked every track unseen

        def reading_meanwhile(*args):
            seen_mid_frame.append({i: t.visible for i, t in detector.people.items()})
            return costs(*args)

        tracker._costs = reading_meanwhile
        detector(frames[1])
        assert seen_mid_frame and all(seen == {1: True} for seen in seen_mid_frame)
        np.testing.assert_array_equal(kept[1].box, box)  # the caller's copy stays as it was read
        detector.people[1].box[:] = 0  # the caller's own copy: the tracker keeps its box
        detector(frames[2])
        assert detector.people[1].visible and detector.people[1].area > 1000
    finally:
        detector.close()


@pytest.mark.timeout(1500)
def test_the_followed_persons_people_slot_is_their_pose_of_that_row(two_people_run):
    """``people_joints_3d`` held the followed person's pose of the frame before (their own
    lifter runs after everyone else's): 3D one frame behind their 2D in the same row."""
    session, _ = two_people_run
    slot = (session.people_ids == session.track_id[:, None]) & session.valid[:, None]  # (T, 4)
    rows = slot.any(axis=1)
    assert rows.sum() >= 0.8 * FRAMES
    np.testing.assert_array_equal(session.people_joints_3d[slot], session.joints_3d[rows])


def test_the_recorder_puts_the_rows_own_pose_in_the_followed_persons_slot():
    from types import SimpleNamespace

    from pose3d_nb.buffer import RollingBuffer
    from pose3d_nb.recording.recorder import Recorder

    now = np.full((17, 3), 1.0, np.float32)
    before = np.full((17, 3), 0.5, np.float32)  # what the extras hold for the followed person
    her = np.full((17, 3), 2.0, np.float32)
    detection = SimpleNamespace(
        keypoints=np.zeros((17, 2), np.float32), scores=np.ones(17, np.float32), timestamp=0.0,
        extras={"track_id": 3, "people_ids": np.array([3, 1]), "people_keypoints": np.zeros((2, 17, 2)),
                "people_joints_3d": np.stack([before, her])},
    )
    pose = SimpleNamespace(joints=now, valid=True, frame_index=0, frame=None, detection=detection)
    recorder = Recorder(RollingBuffer(4), None, dict)
    recorder.record([pose], 0)
    row = recorder.buffer.snapshot()
    assert row.people_ids[0, :2].tolist() == [1, 3]  # lowest ids first
    np.testing.assert_array_equal(row.people_joints_3d[0, 1], now)
    np.testing.assert_array_equal(row.people_joints_3d[0, 0], her)


def test_sessions_without_people_columns_still_load(tmp_path):
    from pose3d_nb import load_session
    from pose3d_nb.recording.session import SESSION_ARRAYS

    rows = 4
    arrays = {
        "joints_3d": np.zeros((rows, 17, 3), np.float32), "keypoints_2d": np.zeros((rows, 17, 2), np.float32),
        "scores_2d": np.ones((rows, 17), np.float32), "timestamps": np.arange(rows) / 30.0,
        "frame_index": np.arange(rows), "valid": np.ones(rows, bool),
    }
    assert set(arrays) == set(SESSION_ARRAYS)
    np.savez(tmp_path / "session.npz", **arrays, metadata=np.array('{"source": "old"}'))
    session = load_session(tmp_path / "session.npz")
    assert len(session) == rows and (session.track_id == -1).all() and (session.people_ids == -1).all()
    assert np.isnan(session.people_joints_3d).all()


# ---------------------------------------------------------------------------- entry points
def test_entry_points_refuse_bad_follow_values_before_running(tmp_path):
    from pose3d_nb import Pose3D, PoseEngine
    from pose3d_nb.settings import Settings

    for make in (lambda: PoseEngine(follow="tallest", out_dir=None), lambda: Pose3D(follow="tallest"),
                 lambda: Settings(follow="tallest")):
        with pytest.raises(Pose3DValueError, match=r"unknown follow value 'tallest'; valid: 'largest'"):
            make()
    with pytest.raises(Pose3DValueError, match=r"detector 'detectron2' cannot follow a chosen person"):
        PoseEngine(detector="detectron2", follow="largest", out_dir=None)


@pytest.mark.parametrize("command", ["run", "batch"])
def test_a_point_left_of_the_image_is_refused_with_its_own_error_by_the_commands(command, tmp_path, capsys):
    # argparse took "-5,10" for an option of its own ("expected one argument"), so only
    # "--follow=-5,10" reached the point's check.
    from pose3d_nb.cli import main

    inputs = [str(SAMPLES / "two_people_walk_640x360.mp4")]
    arguments = ["--source", *inputs] if command == "run" else inputs
    status = main([command, *arguments, "--follow", "-5,10", "--out", str(tmp_path / "out")])
    assert status == 2  # a refusal of the command line's value, as argparse's
    assert "follow point (-5, 10) is outside the image" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before the folder was made
    if command == "run":  # the lens too (the engine checked it after the folder was made)
        assert main(["run", "--source", *inputs, "--fov", "5", "--out", str(tmp_path / "out")]) == 2
        assert "field of view" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_file_named_like_a_point_after_a_double_dash_stays_an_input():
    # The "--follow -5,10" joining took the bare "--" for an option and made "--=-1,2.mp4" of
    # the file after it ("ambiguous option"); after "--" every word is an input, as argparse has it.
    from pose3d_nb.cli import _values_kept_with_their_options as kept
    from pose3d_nb.cli import build_parser

    argv = ["batch", "--out", "out", "--", "-1,2.mp4", "-3,4.mp4"]
    assert kept(argv) == argv
    assert build_parser().parse_args(kept(argv)).inputs == ["-1,2.mp4", "-3,4.mp4"]
    assert kept(["run", "--follow", "-5,10", "--", "-1,2"]) == ["run", "--follow=-5,10", "--", "-1,2"]


def test_follow_turns_mediapipe_into_mediapipe_people():
    from pose3d_nb import PoseEngine

    engine = PoseEngine(follow="10,20", out_dir=None)
    assert engine.detector_name == "mediapipe-people"
    assert engine.settings.follow == "10,20" and engine.settings.detector == "mediapipe"
    # The default, "auto", follows the largest person; "none" is MediaPipe's own single-person choice.
    assert PoseEngine(follow="none", out_dir=None).detector_name == "mediapipe"
    assert PoseEngine(follow=None, out_dir=None).detector_name == "mediapipe"
    default = PoseEngine(out_dir=None)
    assert default.detector_name == "mediapipe-people" and default.settings.follow == "auto"
    # Options only the single-person solution takes keep it under "auto" (no TypeError later).
    assert PoseEngine(out_dir=None, detector_options={"smooth_landmarks": False}).detector_name == "mediapipe"
    # Heavy (and Lite) follow the largest person under "auto" too, as the people detector with
    # their model; a detector that cannot follow keeps its own choice, and refuses a policy.
    heavy = PoseEngine(detector="mediapipe-heavy", follow="auto", out_dir=None)
    assert heavy.detector_name == "mediapipe-people"
    assert heavy._devices.detector_options == {"model_complexity": 2, "follow": "largest"}
    with pytest.raises(Pose3DValueError, match="cannot follow"):
        PoseEngine(detector="detectron2", follow="largest", out_dir=None)
    # Heavy (or Lite) following a chosen person: the people detector running that model.
    chosen = PoseEngine(detector="mediapipe-heavy", follow="largest", out_dir=None)
    assert chosen.detector_name == "mediapipe-people"
    assert chosen._devices.detector_options["model_complexity"] == 2
    # Choosing the detector by name keeps the engine's follow; "none" goes back to one person.
    default.set_detector("mediapipe-heavy")
    default.set_detector("mediapipe")
    assert default.detector_name == "mediapipe-people"
    default.follow("none")
    assert default.detector_name == "mediapipe" and default.settings.follow == "none"
    assert PoseEngine(follow=(10, 20), out_dir=None).settings.follow == "10,20"


def test_going_back_to_one_person_drops_the_people_detectors_own_options():
    """``follow("none")`` swaps ``mediapipe-people`` for ``mediapipe``, which takes no
    ``workers`` or ``discover_every``: it used to fail on them at the next start."""
    from pose3d_nb import PoseEngine
    from pose3d_nb.detectors import create_detector

    engine = PoseEngine(out_dir=None, detector_options={"workers": 1, "discover_every": 5,
                                                        "min_detection_confidence": 0.6})
    assert engine.detector_name == "mediapipe-people"
    engine.follow("none")
    assert engine.detector_name == "mediapipe"
    options = engine._devices.detector_options
    assert options == {"min_detection_confidence": 0.6}  # the option both take stays
    create_detector(engine.detector_name, **options).close()


def test_cli_follow_errors_are_one_line(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "pose3d_nb.cli", "run", "--follow", "nobody", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown follow value 'nobody'" in lines[0] and "most-moving" in lines[0]


@pytest.mark.timeout(300)
def test_cli_follow_point_outside_the_video_is_one_line_naming_the_valid_range(tmp_path):
    """Only the first frame tells the video's size, so the point is judged there; the error was
    wrapped as "detect failed on frame 0: Pose3DValueError: ..." after a note that nobody was
    followed, and the run exited 1 as if the pipeline had failed."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "pose3d_nb.cli", "run", "--follow", "9999,9999", "--max-frames", "3",
         "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert errors == ["pose3d run: error: follow point (9999, 9999) is outside the 540x960 image; "
                      "give X in [0, 540) and Y in [0, 960) (pose3d run --help lists the options)"]
    assert "note:" not in result.stdout and "failed on frame" not in result.stderr


@pytest.mark.timeout(300)
def test_cli_says_whom_it_waits_for_when_nobody_was_followed(tmp_path):
    """``pose3d run --follow 7`` on a clip where nobody gets id 7 recorded only frames without
    a person and said nothing about why; the status line and the summary now say it."""
    import subprocess
    import sys

    if not TWO_PEOPLE.exists():
        pytest.skip(f"{TWO_PEOPLE} not here")
    command = [sys.executable, "-m", "pose3d_nb.cli", "run", "--source", str(TWO_PEOPLE), "--max-frames", "5"]
    waiting = subprocess.run(command + ["--follow", "7", "--out", str(tmp_path / "seven")],
                             capture_output=True, text=True, timeout=240)
    assert waiting.returncode == 0, waiting.stderr
    assert "5 without a person" in waiting.stdout
    assert ("note: nobody followed at the end: waiting for person 7: nobody has had that id yet "
            "(ids so far: 1; in view: 1)") in waiting.stdout
    followed = subprocess.run(command + ["--follow", "1", "--out", str(tmp_path / "one")],
                              capture_output=True, text=True, timeout=240)
    assert followed.returncode == 0, followed.stderr
    assert "note:" not in followed.stdout and "following person 1" in followed.stderr  # the bar


def test_live_image_draws_everyone_with_the_followed_one_in_colour():
    from pose3d_nb.ui.overlay import OTHER_PERSON_RGB, draw_people_2d, draw_skeleton_2d

    image = np.zeros((480, 640, 3), np.uint8)
    a, b = person(200, 240), person(450, 240)
    keypoints = np.stack([a["keypoints"], b["keypoints"]])
    drawn = draw_people_2d(image, np.array([1, 2]), keypoints, None, followed=1)
    drawn = draw_skeleton_2d(drawn, a["keypoints"], a["scores"])
    # Person 2's left shoulder-hip bone midpoint is grey; person 1's is the left-side colour.
    mid_b = np.round((b["keypoints"][5] + b["keypoints"][11]) / 2).astype(int)
    mid_a = np.round((a["keypoints"][5] + a["keypoints"][11]) / 2).astype(int)
    assert tuple(drawn[mid_b[1], mid_b[0]]) == OTHER_PERSON_RGB
    assert tuple(drawn[mid_a[1], mid_a[0]]) not in {OTHER_PERSON_RGB, (0, 0, 0)}
    top_b = keypoint_top(b["keypoints"])
    assert drawn[top_b[1] - 20 : top_b[1], top_b[0] : top_b[0] + 20].any()  # the "2" label


def keypoint_top(points: np.ndarray) -> np.ndarray:
    return np.array([points[:, 0].min(), points[:, 1].min()]).round().astype(int)


def test_square_tiles_cover_long_frames_and_leave_4_3_whole():
    from pose3d_nb.detectors.people_landmarks import square_tiles

    assert square_tiles(640, 480) == [(0, 0, 640, 480)]
    assert square_tiles(640, 360) == [(0, 0, 360, 360), (140, 0, 360, 360), (280, 0, 360, 360)]
    assert square_tiles(1088, 1920) == [(0, 0, 1088, 1088), (0, 416, 1088, 1088), (0, 832, 1088, 1088)]




def _click(app, x: float, y: float) -> None:
    """What the browser sends when the user clicks pixel (x, y) of the live image."""
    width, height = app.live.frame_size
    app.live.widget._on_message(app.live.widget, {"type": "click", "x": x / width, "y": y / height}, [])


@pytest.mark.timeout(1200)
def test_clicking_a_person_in_the_live_image_follows_them(tmp_path):
    """The app starts with the single-person detector; a click on the man swaps in the people
    detector following him, and a click on the woman, once she is in view, follows her."""
    if not TWO_PEOPLE.exists():
        pytest.skip(f"{TWO_PEOPLE} not here")
    from pose3d_nb.ui.app import PoseApp

    app = PoseApp(source=str(TWO_PEOPLE), out_dir=tmp_path / "out", follow=None)
    try:
        app.controls.start_button.value = True
        assert until(lambda: app.live.frame_size is not None, 300)
        assert app.engine.followed is None  # single-person MediaPipe: nobody chosen
        _click(app, 235, 100)  # the man, standing on the box
        assert until(lambda: app.engine.followed is not None, 300), app.controls.status.value
        man = app.engine.followed
        assert _centre_y(app.engine.tracks[man].keypoints) < 190
        assert "following" in app.controls.status.value
        assert until(lambda: any(t.visible and i != man for i, t in app.engine.tracks.items()), 600)
        woman, track = next((i, t) for i, t in app.engine.tracks.items() if i != man)
        assert _centre_y(track.keypoints) > 190
        x1, y1, x2, y2 = track.box
        _click(app, (x1 + x2) / 2, (y1 + y2) / 2)
        assert until(lambda: app.engine.followed == woman, 120), app.controls.status.value
        app.engine.raise_if_failed()
    finally:
        app.close()


@pytest.mark.timeout(1500)
def test_everyone_is_placed_in_one_room(two_people_run):
    """The woman walks across the lawn below the man's box: in the world she is away from him
    and travels, on a floor near his (not each person pinned at their own origin)."""
    session, people = two_people_run
    (man,) = set(session.track_id[session.valid].tolist())
    woman = next(i for i in people if i != man)
    hers = session.people_ids == woman
    rows = hers.any(axis=1)
    her_pelvis = session.people_joints_3d[hers][:, 0]  # (N, 3): one per row she is in
    his_pelvis = session.joints_3d[rows, 0]
    both = np.isfinite(her_pelvis).all(axis=1) & np.isfinite(his_pelvis).all(axis=1) & session.valid[rows]
    assert both.sum() >= 30
    apart = np.linalg.norm(her_pelvis[both, :2] - his_pelvis[both, :2], axis=1)
    assert np.median(apart) > 0.5, f"median {np.median(apart):.2f} m between them"
    finite = her_pelvis[np.isfinite(her_pelvis).all(axis=1)]
    assert np.linalg.norm(finite[-1, :2] - finite[0, :2]) > 0.5  # she walked
    feet = session.people_joints_3d[hers][:, [3, 6], 2]
    assert np.nanmedian(feet) > -2.0 and np.nanmedian(feet) < 1.0  # near a floor, not a lifter's origin
    # The followed man's own buffer holds the placed poses the session records.
    his_buffer = people[man].joints_3d()
    assert np.isfinite(his_buffer).all() and np.abs(his_buffer[:, 0, :2]).max() > 0.0


def test_bench_follow_runs_pose3d_run_on_a_three_person_view_and_scores_whom_it_followed(tmp_path, capsys):
    """``pose3d bench follow --smoke``: the benchmark's cam02, following the performer by his
    first-frame hip point, as a user runs it; its own scorer says he was followed throughout."""
    import argparse
    import json

    from pose3d_nb.benchmarks.follow import DEFAULT_PEOPLE_DIR
    from pose3d_nb.cli.bench import cmd_bench, register
    from pose3d_nb.errors import Pose3DFileNotFoundError

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    with pytest.raises(Pose3DFileNotFoundError, match="multi_person benchmark"):
        cmd_bench(parser.parse_args(["bench", "follow", "--views", str(tmp_path)]))
    if not (DEFAULT_PEOPLE_DIR / "eval.py").is_file():
        pytest.skip(f"no multi_person benchmark at {DEFAULT_PEOPLE_DIR}")
    assert cmd_bench(parser.parse_args(["bench", "follow", "--smoke", "--json"])) == 0
    (row,) = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["view"] == "cam02"
    assert row["on_person"] >= 90 and row["switches"] == 0, row
    assert 10 < row["PA-MPJPE_mm"] < 150, row  # millimetres on him, nothing degenerate
