"""A finished recording of one video file placed again from its whole clip
(``world.recorded.replace_recording``; the engine does it before writing ``session.npz``)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.skeleton import bone_directions
from test_world import FPS, angle, film, stand, walk

from pose3d_nb.buffer import BufferSnapshot, empty_column
from pose3d_nb.training.skeleton_model import bone_lengths, retarget
from pose3d_nb.world import WorldTracker
from pose3d_nb.world import recorded as recorded_module
from pose3d_nb.world.frame import ANKLE_HEIGHT_M
from pose3d_nb.world.recorded import replace_recording
from pose3d_nb.world.tracker import PersonPath

SIZE = (1080, 1920)


@pytest.fixture(autouse=True)
def geometric_up(monkeypatch):
    """The stick figure's up is checked geometrically (as in ``test_world``)."""
    from pose3d_nb.world import gravity_model

    monkeypatch.setattr(gravity_model, "load_weights", lambda *args: None)


def recorded_live(world, pitch=20, roll=5, fov=60, seed=3):
    """What a live run records of ``world`` filmed by a known camera: the rows (one followed
    person, track 1) as the live world step placed them, the tracker, and the truth."""
    pose, keypoints, scores, intrinsics, truth, up = film(world, pitch, roll, fov, noise_px=1.0, seed=seed)
    tracker = WorldTracker(camera=intrinsics, fps=FPS)
    placed = [tracker.push(p, k, s, SIZE) for p, k, s in zip(pose, keypoints, scores, strict=True)]
    return recorded(placed, keypoints, scores), tracker, truth, up


def recorded(placed, keypoints, scores):
    """The rows a live run records of one followed person (track 1) placed as ``placed``
    (``WorldTracker.push``'s (world, camera) pairs)."""
    frames = len(placed)
    columns = {name: empty_column(name, frames) for name in
               ("timestamps", "frame_index", "valid", "segment", "track_id", "people_ids",
                "people_keypoints_2d", "people_joints_3d")}
    columns.update(
        joints_3d=np.stack([w for w, _ in placed]), joints_camera=np.stack([c for _, c in placed]),
        keypoints_2d=keypoints.astype(np.float32), scores_2d=scores.astype(np.float32),
        timestamps=np.arange(frames) / FPS, frame_index=np.arange(frames), valid=np.ones(frames, bool),
        track_id=np.ones(frames, np.int64),
    )
    columns["people_ids"][:, 0] = 1
    columns["people_joints_3d"][:, 0] = columns["joints_3d"]
    return BufferSnapshot(**columns)


def test_the_whole_clip_follows_the_true_path_closer_than_live():
    snapshot, tracker, truth, up = recorded_live(walk(150))
    replaced = replace_recording(snapshot, tracker.estimate.frame, tracker.estimate.intrinsics, fps=FPS)
    live_error = np.linalg.norm(snapshot.joints_camera[:, 0] - truth[:, 0], axis=-1)
    error = np.linalg.norm(replaced.snapshot.joints_camera[:, 0] - truth[:, 0], axis=-1)
    assert np.median(error) < 0.04 and error.mean() < live_error.mean(), (error.mean(), live_error.mean())
    assert angle(replaced.frame.up, up) < 1.5 and abs(replaced.frame.height - 1.8) < 0.05
    world = replaced.snapshot.joints_3d
    assert np.abs(world[:, [3, 6], 2].min(1) - ANKLE_HEIGHT_M).max() < 0.05  # one floor, feet on it
    np.testing.assert_allclose(replaced.frame.to_world(replaced.snapshot.joints_camera), world, atol=1e-5)
    np.testing.assert_array_equal(replaced.snapshot.people_joints_3d[:, 0], world)  # the followed slot
    meta = replaced.metadata({"camera_pitch_deg": 1.0, "camera_roll_deg": 2.0, "camera_height_m": 3.0,
                              "camera_up_source": "people"})
    assert meta["world_placement"] == "whole clip" and meta["live_camera"]["camera_height_m"] == 3.0
    assert meta["camera_pitch_deg"] == pytest.approx(replaced.frame.pitch_deg, abs=0.01)


def test_a_pause_starts_a_new_path_and_dropped_frames_are_smoothed_over_their_own_time(monkeypatch):
    # A camera's recording: every other frame dropped (rows 1/15 s apart), and a 3 s pause (a
    # hidden browser tab) during which the person went 1.5 m to the side and 1 m further away.
    world = walk(160)
    world[80:] += [1.5, 1.0, 0.0]
    snapshot, tracker, truth, _ = recorded_live(world)
    kept = np.arange(0, 160, 2)
    columns = {name: np.array(column)[kept] for name, column in snapshot.columns().items()}
    columns["timestamps"] = kept / FPS + np.where(kept >= 80, 3.0, 0.0)
    camera_rows, truth = BufferSnapshot(**columns), truth[kept]
    estimate = tracker.estimate

    def root_error(replaced):
        return np.linalg.norm(replaced.snapshot.joints_camera[:, 0] - truth[:, 0], axis=-1)

    error = root_error(replace_recording(camera_rows, estimate.frame, estimate.intrinsics, fps=FPS))
    assert np.median(error) < 0.05 and error[30:50].max() < 0.15, error
    # One path across the pause (what the smoothing did before) pulls the rows on both sides
    # towards each other.
    monkeypatch.setattr(recorded_module, "PAUSE_S", np.inf)
    place_clip = recorded_module.place_clip  # and without the rows' times, which split it there too
    monkeypatch.setattr(recorded_module, "place_clip",
                        lambda *args, **kwargs: place_clip(*args, **{**kwargs, "times": None}))
    joined = root_error(replace_recording(camera_rows, estimate.frame, estimate.intrinsics, fps=FPS))
    assert joined[30:50].max() > 2 * error[30:50].max(), (joined[30:50].max(), error[30:50].max())


def test_a_stop_after_many_pauses_places_each_row_once_not_once_per_pause(monkeypatch):
    # A camera the engine reads at under a row a second (a slow machine, a stalling browser
    # tab): every row is a part of its own. Each part was placed over the whole clip's arrays,
    # so the notebook's Stop (it waits for this) took 20 s for 1200 such rows and 80 s for 2400.
    # Each part's rows (and each other person's) cost their own span only.
    snapshot, tracker, _, _ = recorded_live(walk(120))
    snapshot.people_ids[:, 1] = 7
    snapshot.people_keypoints_2d[:, 1] = snapshot.keypoints_2d
    snapshot.people_joints_3d[:, 1] = snapshot.joints_3d + [0.0, 1.5, 0.0]
    snapshot.timestamps[:] = np.arange(120) * 1.5  # a row every 1.5 s: 120 parts
    handed = []
    place_clip = recorded_module.place_clip

    def counted(joints, *args, **kwargs):
        handed.append(len(joints))
        return place_clip(joints, *args, **kwargs)

    monkeypatch.setattr(recorded_module, "place_clip", counted)
    replaced = replace_recording(snapshot, tracker.estimate.frame, tracker.estimate.intrinsics, fps=FPS)
    assert replaced is not None and np.isfinite(replaced.snapshot.joints_3d).all()
    # The camera from the whole clip once, then each row by itself (the followed person and
    # the other; a part of one row of another person is left as moved).
    assert sum(handed) <= 2 * len(snapshot), (len(handed), sum(handed))


def test_others_without_2d_keep_their_place_before_the_camera_and_rows_outside_the_clip_are_untouched():
    snapshot, tracker, _, _ = recorded_live(walk(120))
    # No 2D recorded for the bystander: nothing to place them again from, so they are only moved.
    bystander, *_ = film(stand(120), 20, 5, 60)  # root-relative; put them 1 m right, 5 m out
    bystander_camera = bystander + [1.0, 0.3, 5.0]
    live = tracker.estimate.frame
    snapshot.people_ids[:, 1] = 7
    snapshot.people_joints_3d[:, 1] = live.to_world(bystander_camera)
    # Rows 0..39: another segment, kept as recorded (the live camera settled over its first
    # second, so the clip's rows are all in the settled camera, as ``bystander`` is).
    clip = np.arange(120) >= 40
    snapshot.segment[:40] = 0
    snapshot.segment[40:] = 1
    snapshot.valid[60:70] = False  # nobody found: the last pose is held, as live
    replaced = replace_recording(snapshot, live, tracker.estimate.intrinsics, fps=FPS, rows=clip)
    out = replaced.snapshot
    for name in ("joints_3d", "joints_camera", "people_joints_3d"):
        np.testing.assert_array_equal(getattr(out, name)[:40], getattr(snapshot, name)[:40])
    np.testing.assert_allclose(replaced.frame.to_camera(out.people_joints_3d[40:, 1]), bystander_camera[40:],
                               atol=1e-4)
    assert np.isnan(out.people_joints_3d[:, 2:]).all()  # empty slots stay empty
    np.testing.assert_array_equal(out.joints_3d[60:70], np.repeat(out.joints_3d[59:60], 10, 0))
    assert np.isfinite(out.joints_3d[40:]).all()


def test_others_get_a_path_of_their_own_from_their_whole_clip():
    # Live, another person's depth comes from each frame's apparent size through a causal filter:
    # here it wobbles by up to 10 %, along the camera ray (the 2D stays where it is). Once the
    # clip is complete, their path is solved again from all their frames, in the new room.
    snapshot, tracker, _, _ = recorded_live(walk(120))
    pose, keypoints, _, _, truth, _ = film(walk(120, distance=3.0) + [0.0, 1.5, 0.0], 20, 5, 60,
                                           noise_px=1.0, seed=5)
    wobble = 1 + 0.1 * np.sin(np.arange(120) / 7)
    live_camera = pose + truth[:, :1] * wobble[:, None, None]
    live = tracker.estimate.frame
    snapshot.people_ids[:, 1] = 7
    snapshot.people_keypoints_2d[:, 1] = keypoints
    snapshot.people_joints_3d[:, 1] = live.to_world(live_camera)
    snapshot.people_ids[100:, 1] = -1  # gone for the last 20 rows: their slot stays empty
    snapshot.people_joints_3d[100:, 1] = np.nan
    replaced = replace_recording(snapshot, live, tracker.estimate.intrinsics, fps=FPS, hold_bones=True)
    out = replaced.snapshot.people_joints_3d
    placed = replaced.frame.to_camera(out[:100, 1])
    error = np.linalg.norm(placed[:, 0] - truth[:100, 0], axis=-1)
    live_error = np.linalg.norm(live_camera[:100, 0] - truth[:100, 0], axis=-1)
    # (place_clip itself is 0-12 cm off on this 6 m walk, most at the clip's ends.)
    assert np.median(error) < 0.08 and error.mean() < live_error.mean() / 3, (error.mean(), live_error.mean())
    assert np.isnan(out[100:, 1]).all()
    np.testing.assert_array_equal(out[:, 0], replaced.snapshot.joints_3d)  # the followed slot
    # On the same floor as the followed person: their feet at ankle height.
    assert np.abs(np.median(out[:100, 1][:, [3, 6], 2].min(1)) - ANKLE_HEIGHT_M) < 0.05


def test_others_placed_while_the_live_camera_settled_are_placed_again_from_that_camera():
    # Live, the engine places everyone else after the followed person of the same frame, in the
    # camera estimated so far: the first second's others stand in a camera still settling.
    # Converted with the settled camera, the first rows' poses leaned back by the pitch, and
    # their depth was carried by the smoothing into the first second and a half. (Until
    # 2026-12-07 the others came first, in the previous row's camera: the first row's in the
    # level camera assumed before anyone was placed, 1 m off in depth, 0.7 m off converted.)
    pose, keypoints, scores, intrinsics, truth, _ = film(walk(120), 30, 5, 60, noise_px=1.0, seed=3)
    other, other_keypoints, other_scores, _, other_truth, _ = film(
        walk(120, distance=3.0) + [0.0, 1.5, 0.0], 30, 5, 60, noise_px=1.0, seed=5)
    tracker, path = WorldTracker(camera=intrinsics, fps=FPS), PersonPath(None, FPS)
    placed, others, others_camera = [], [], []
    for row in range(120):  # the engine's order: the followed person, then everyone else
        placed.append(tracker.push(pose[row], keypoints[row], scores[row], SIZE))
        world, camera = tracker.place_other(path, other[row], other_keypoints[row], other_scores[row], SIZE)
        others.append(world)
        others_camera.append(camera)
    snapshot = recorded(placed, keypoints, scores)
    # The camera each row's others stood in is found again exactly (it was the previous row's
    # while the engine placed them first).
    from pose3d_nb.world.recorded import _cameras_others_were_placed_in

    placed_in, settling = _cameras_others_were_placed_in(snapshot.joints_3d, snapshot.joints_camera,
                                                         tracker.estimate.frame)
    for row in range(40):
        back = settling.get(int(placed_in[row]), tracker.estimate.frame).to_camera(others[row])
        np.testing.assert_allclose(back, others_camera[row], atol=0.005)  # 40 mm off a row early
    snapshot.people_ids[:, 1] = 7
    snapshot.people_keypoints_2d[:, 1] = other_keypoints
    snapshot.people_joints_3d[:, 1] = np.stack(others)
    live = tracker.estimate.frame
    for hold_bones in (False, True):
        replaced = replace_recording(snapshot, live, intrinsics, fps=FPS, hold_bones=hold_bones)
        again = replaced.frame.to_camera(replaced.snapshot.people_joints_3d[:, 1])
        error = np.linalg.norm(again[:, 0] - other_truth[:, 0], axis=-1)
        assert error[:45].max() < 0.15, (hold_bones, error[:45].round(2))
        shape = np.linalg.norm((again - again[:, :1]) - (other_truth - other_truth[:, :1]), axis=-1).mean(1)
        assert shape.max() < 0.03, (hold_bones, shape[:3].round(3))
    # Rows before the followed person was first placed: the camera they were placed in is not
    # known (assumed level, or the last run's), so they are only moved, and their person's path
    # is placed without them.
    snapshot.valid[:10], snapshot.joints_3d[:10], snapshot.joints_camera[:10] = False, np.nan, np.nan
    replaced = replace_recording(snapshot, tracker.estimate.frame, intrinsics, fps=FPS)
    moved = replaced.frame.to_world(tracker.estimate.frame.to_camera(snapshot.people_joints_3d[:10, 1]))
    np.testing.assert_allclose(replaced.snapshot.people_joints_3d[:10, 1], moved, atol=1e-5)
    again = replaced.frame.to_camera(replaced.snapshot.people_joints_3d[10:, 1])
    error = np.linalg.norm(again[:35, 0] - other_truth[10:45, 0], axis=-1)
    assert error.max() < 0.2 and np.median(error) < 0.15, error.round(2)  # (place_clip's start)


def test_held_bones_give_each_followed_person_one_body_over_the_clip():
    # A lifter guesses each frame's bone lengths afresh (here: each bone up to 15 % longer or
    # shorter); with hold_bones (the shipped lifter's recordings) each person keeps their clip's
    # medians.
    snapshot, tracker, _, _ = recorded_live(walk(120))
    rng = np.random.default_rng(0)
    stretch = rng.uniform(0.85, 1.15, (120, 16)) * np.where(np.arange(120) < 60, 1.0, 0.8)[:, None]
    stretched = retarget(snapshot.joints_camera, bone_lengths(snapshot.joints_camera) * stretch)
    snapshot.joints_camera[:] = stretched
    snapshot.track_id[60:] = 2  # a smaller person from row 60 on (a click changed whom it follows)
    snapshot.people_ids[60:, 0] = 2
    estimate = tracker.estimate
    held = replace_recording(snapshot, estimate.frame, estimate.intrinsics, fps=FPS, hold_bones=True)
    free = replace_recording(snapshot, estimate.frame, estimate.intrinsics, fps=FPS)
    assert held.metadata({})["bones_held"] and not free.metadata({})["bones_held"]
    lengths = bone_lengths(held.snapshot.joints_camera.astype(np.float64))
    first, second = lengths[:60], lengths[60:]
    np.testing.assert_allclose(first, np.broadcast_to(first[0], first.shape), rtol=1e-4)
    np.testing.assert_allclose(second, np.broadcast_to(second[0], second.shape), rtol=1e-4)
    assert np.median(second[0] / first[0]) == pytest.approx(0.8, abs=0.03)  # each person their own body
    free_lengths = bone_lengths(free.snapshot.joints_camera.astype(np.float64))
    assert (free_lengths[:60].std(0) / free_lengths[:60].mean(0)).min() > 0.03  # as recorded: stretched
    # The direction of every bone is the frame's own.
    np.testing.assert_allclose(bone_directions(held.snapshot.joints_camera),
                               bone_directions(snapshot.joints_camera), atol=1e-4)


def test_too_little_to_place_is_left_alone():
    snapshot, tracker, _, _ = recorded_live(walk(30))
    snapshot.valid[1:] = False
    assert replace_recording(snapshot, tracker.estimate.frame, tracker.estimate.intrinsics) is None


def test_a_row_whose_place_cannot_be_solved_holds_the_last_pose_as_live():
    # A valid row whose translation has no solution (here no keypoint with weight) came back NaN
    # while live held the last pose there (tests/test_engine.py's gap video, a random lifter).
    snapshot, tracker, _, _ = recorded_live(walk(90))
    snapshot.scores_2d[50] = 0.0
    replaced = replace_recording(snapshot, tracker.estimate.frame, tracker.estimate.intrinsics, fps=FPS)
    out = replaced.snapshot
    assert np.isfinite(out.joints_3d).all() and np.isfinite(out.joints_camera).all()
    np.testing.assert_array_equal(out.joints_3d[50], out.joints_3d[49])
    np.testing.assert_array_equal(out.people_joints_3d[50, 0], out.joints_3d[50])


def test_a_clip_that_cannot_be_placed_again_keeps_its_live_rows():
    # Without 2D keypoints nothing can be solved from the whole clip; the rows live placed are
    # kept rather than replaced by NaN.
    snapshot, tracker, _, _ = recorded_live(walk(60))
    snapshot.keypoints_2d[:] = np.nan
    assert np.isfinite(snapshot.joints_3d).all()
    assert replace_recording(snapshot, tracker.estimate.frame, tracker.estimate.intrinsics, fps=FPS) is None


@pytest.mark.parametrize(("down", "floor"), [(0.15, 0.0), (0.35, -0.5)])
def test_the_floor_of_a_placed_clip_is_the_lowest_one_stood_on_for_a_fifth_of_it(down, floor):
    # docs/world.md said the floor is the one stood on in the first second, and that `pose3d run`
    # gives two_people_walk's camera -0.33 m: that is live; the whole clip gives -0.30 m there (the
    # man is on the roof for 160 of its 197 frames with him, below a fifth on the grass).
    world = walk(150)
    world[round((1 - down) * 150):, :, 2] -= 0.5  # steps down 0.5 m for the clip's last part
    snapshot, tracker, _, _ = recorded_live(world)
    replaced = replace_recording(snapshot, tracker.estimate.frame, tracker.estimate.intrinsics, fps=FPS)
    assert abs(tracker.estimate.frame.height - 1.8) < 0.05  # live: the first second's floor
    assert abs(replaced.frame.height - (1.8 - floor)) < 0.05, replaced.frame.height
    lowest = replaced.snapshot.joints_3d[:, [3, 6], 2].min(1)
    np.testing.assert_allclose(np.median(lowest[:60]), ANKLE_HEIGHT_M - floor, atol=0.05)
    np.testing.assert_allclose(np.median(lowest[-10:]), ANKLE_HEIGHT_M - 0.5 - floor, atol=0.05)


def _recorded_with_times(world, valid, times, tracks=None, scores_zero=()):
    """``recorded_live`` with rows at ``times`` (seconds), some without the person (``valid``
    False: nothing found, as the engine records them) and the followed ``tracks``."""
    pose, keypoints, scores, intrinsics, truth, _ = film(world, 20, 0, 60, noise_px=1.0, seed=3)
    scores[list(scores_zero)] = 0.0
    tracker = WorldTracker(camera=intrinsics, fps=FPS)
    placed = []
    for row, (p, k, s) in enumerate(zip(pose, keypoints, scores, strict=True)):
        if tracks is not None and row and tracks[row] != tracks[row - 1]:
            tracker.reset(keep_camera=True)  # a click: another path in the same room, as WorldStage
        placed.append(tracker.push(p, k, s, SIZE, bool(valid[row]), float(times[row])))
    snapshot = recorded(placed, keypoints, scores)
    snapshot.valid[:] = valid
    snapshot.timestamps[:] = times
    if tracks is not None:
        snapshot.track_id[:] = tracks
    return snapshot, tracker, truth


def test_a_person_unseen_for_a_second_of_rows_starts_a_new_path_by_time_not_by_row_count():
    # Rows come at 30 a second while the person is tracked and at 10 while nobody is found (a
    # detector searching the whole frame is slower): unseen 1.5 s over 15 rows, back 2 m further
    # away. Live starts a new path after a second (by the timestamps); the whole clip counted
    # rows at the clip's row rate (27 needed) and smoothed across: 0.89 m off.
    near, far = stand(90), stand(150) + [0.0, 2.0, 0.0]
    world = np.concatenate([near, np.repeat(near[-1:], 15, 0), far])
    valid = np.ones(len(world), bool)
    valid[90:105] = False
    times = np.concatenate([[0.0], np.cumsum(np.where(valid, 1 / 30, 1 / 10)[:-1])])
    snapshot, tracker, truth = _recorded_with_times(world, valid, times)
    replaced = replace_recording(snapshot, tracker.estimate.frame, tracker.estimate.intrinsics, fps=FPS)
    error = np.linalg.norm(replaced.snapshot.joints_camera[valid, 0] - truth[valid, 0], axis=-1)
    assert error.max() < 0.1, error.max()


def test_a_pause_in_a_recording_leaves_the_camera_height_and_the_floor_as_without_it():
    # A 2 s stall (a hidden browser tab) while the person went 6 m further away: the rows were
    # placed right, path by path, but the camera came from one whole-clip path smoothed across
    # the stall: 1.91 m high instead of 1.80, the feet 11 cm above the floor.
    world = np.concatenate([stand(90), stand(120) + [0.0, 6.0, 0.0]])
    times = np.concatenate([np.arange(90) / FPS, 5.0 + np.arange(120) / FPS])
    snapshot, tracker, _ = _recorded_with_times(world, np.ones(len(world), bool), times)
    replaced = replace_recording(snapshot, tracker.estimate.frame, tracker.estimate.intrinsics, fps=FPS)
    assert abs(replaced.frame.height - 1.8) < 0.03, replaced.frame.height
    feet = replaced.snapshot.joints_3d[:, [3, 6], 2].min(1)
    assert abs(np.median(feet) - ANKLE_HEIGHT_M) < 0.03, np.median(feet)


def test_a_newly_followed_person_does_not_hold_the_previous_persons_pose():
    # After a click (track 1 -> 2) live forgets the pose it held: the new person's rows that
    # cannot be placed yet are empty. The whole clip filled them with the previous person's last
    # pose, under the new person's id, 2.9 m from where they stood.
    walker, stander = walk(120), stand(120) + [1.5, 1.5, 0.0]
    world = np.concatenate([walker[:60], stander[60:]])
    tracks = np.where(np.arange(120) < 60, 1, 2)
    snapshot, tracker, _ = _recorded_with_times(world, np.ones(120, bool), np.arange(120) / FPS, tracks,
                                                scores_zero=range(60, 64))
    replaced = replace_recording(snapshot, tracker.estimate.frame, tracker.estimate.intrinsics, fps=FPS)
    live = np.isfinite(snapshot.joints_3d).all((1, 2))
    whole = np.isfinite(replaced.snapshot.joints_3d).all((1, 2))
    assert not live[60:64].any()
    np.testing.assert_array_equal(whole, live)


def test_someone_else_standing_lower_never_moves_the_followed_persons_floor():
    # One view cannot tell a person on a lower level from a smaller one placed too far (the
    # lifter gives everyone an adult's size: a child beside a followed adult reads well below
    # the floor). A floor that went down to them lifted the followed adult 1.5 m into the air
    # (tried 2026-12-08, docs/world.md "Tried and not used"); the floor stays theirs.
    snapshot, tracker, _, _ = recorded_live(walk(120))
    pose, keypoints, _, _, truth, _ = film(walk(120, distance=3.0) + [0.0, 1.5, -1.5], 20, 5, 60,
                                           noise_px=1.0, seed=5)
    live = tracker.estimate.frame
    snapshot.people_ids[:, 1] = 7
    snapshot.people_keypoints_2d[:, 1] = keypoints
    snapshot.people_joints_3d[:, 1] = live.to_world(pose + truth[:, :1])
    replaced = replace_recording(snapshot, live, tracker.estimate.intrinsics, fps=FPS)
    assert abs(replaced.frame.height - 1.8) < 0.05, replaced.frame.height
    feet = replaced.snapshot.joints_3d[:, [3, 6], 2].min(1)
    assert abs(np.median(feet) - ANKLE_HEIGHT_M) < 0.05
