"""The room's up from its vertical edges (``world.vanishing``) and its use by the world tracker."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers.scenes import camera_rotation, room_image

from pose3d_nb.analysis import angle_between
from pose3d_nb.world import WorldTracker, place_clip
from pose3d_nb.world.frame import WorldFrame
from pose3d_nb.world.intrinsics import from_fov
from pose3d_nb.world.stage import SCENE_TRIES, WorldStage
from pose3d_nb.world.vanishing import scene_edges, scene_up


def angle(a, b) -> float:
    return float(angle_between(a, b))


@pytest.mark.parametrize("size", [(960, 540), (540, 960)])
@pytest.mark.parametrize(("pitch", "roll"), [(0, 0), (20, 0), (20, 10), (-15, -25)])
def test_the_rooms_up_is_found_from_its_vertical_edges(size, pitch, roll):
    intrinsics = from_fov(60, *size)
    image, up = room_image(intrinsics, pitch, roll)
    found = scene_up(np.repeat(image[..., None], 3, -1), intrinsics)
    assert found is not None
    assert angle(found.up, up) < 1.0
    frame = WorldFrame(found.up, 1.5)
    assert frame.pitch_deg == pytest.approx(pitch, abs=1.0) and frame.roll_deg == pytest.approx(roll, abs=1.0)


def test_a_scene_without_vertical_edges_says_so():
    intrinsics = from_fov(60, 960, 540)
    blank = np.full((540, 960, 3), 90, np.uint8)
    assert scene_up(blank, intrinsics) is None
    rails, _ = room_image(intrinsics, 20, 0, verticals=0, horizontals=25)  # level lines only
    assert scene_up(np.repeat(rails[..., None], 3, -1), intrinsics) is None


def _tilted(up: np.ndarray, degrees: float) -> np.ndarray:
    """``up`` turned by ``degrees`` about the camera's x axis (a people's estimate that far off)."""
    a = math.radians(degrees)
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]]) @ up


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("size", [(540, 960), (960, 540)])
def test_floor_lines_running_away_are_not_taken_for_verticals(size, seed):
    """Rails on the floor look near-vertical and converge on the horizon; long as they are,
    they outvoted the room's shorter edges when segments were weighted by length. Counted, and
    looked for near the people's up (here 15 degrees off), they do not."""
    intrinsics = from_fov(60, *size)
    image, up = room_image(intrinsics, 18, 3, verticals=8, floor_rails=4, seed=seed)
    edges = scene_edges(np.repeat(image[..., None], 3, -1), intrinsics)
    found = edges.up(prior=_tilted(up, 15))
    assert found is not None and angle(found.up, up) < 1.5


def test_the_peoples_own_edges_are_left_out():
    """Limbs are straight edges too: inside a person's box they are not evidence of the room."""
    intrinsics = from_fov(60, 960, 540)
    image, _ = room_image(intrinsics, 10, 5)
    image = np.repeat(image[..., None], 3, -1)
    assert scene_up(image, intrinsics) is not None
    everything = np.array([[-100.0, -100.0, 1060.0, 640.0]])  # a person box over the whole image
    assert scene_up(image, intrinsics, everything) is None


def _leaning_person(frames: int, rotation: np.ndarray) -> tuple:
    """A person whose trunk leans 15 degrees to their side throughout (a lunge, a sway), filmed
    by ``rotation`` from 4.5 m: root-relative camera-frame poses, COCO pixels, scores."""
    from pose3d_nb.lifting.keypoints import COCO_BODY_KEYPOINTS
    from pose3d_nb.world.trajectory import KEYPOINT_JOINTS

    standing = np.array([
        [0, 0, 0.95], [-0.1, 0, 0.95], [-0.1, 0, 0.52], [-0.1, 0, 0.08],
        [0.1, 0, 0.95], [0.1, 0, 0.52], [0.1, 0, 0.08], [0, 0, 1.2], [0, 0, 1.45],
        [0, -0.1, 1.6], [0, 0, 1.75], [0.2, 0, 1.45], [0.22, 0, 1.18], [0.23, 0, 0.92],
        [-0.2, 0, 1.45], [-0.22, 0, 1.18], [-0.23, 0, 0.92],
    ])  # fmt: skip
    lean = math.radians(15)
    upper = [7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    above = standing[upper] - standing[0]
    tilt = np.array([[math.cos(lean), 0, -math.sin(lean)], [0, 1, 0], [math.sin(lean), 0, math.cos(lean)]])
    standing[upper] = standing[0] + above @ tilt.T
    world = np.repeat(standing[None], frames, 0) + [0.0, 1.0, 0.0]
    world[:, 13, 0] += 0.03 * np.sin(np.arange(frames) / 5)
    truth = (world - [0.0, -4.5, 1.8]) @ rotation.T
    intrinsics = from_fov(60, 960, 540)
    keypoints = np.full((frames, 17, 2), np.nan)
    keypoints[:, COCO_BODY_KEYPOINTS] = intrinsics.project(truth[:, KEYPOINT_JOINTS])
    keypoints[:, 1:5] = keypoints[:, :1]
    return truth - truth[:, :1], keypoints, np.full((frames, 17), 0.9), intrinsics


def _settle(tracker: WorldTracker, pose, keypoints, scores) -> None:
    for p, k, s in zip(pose, keypoints, scores, strict=True):
        tracker.push(p, k, s, (960, 540))
    assert tracker.settled


def test_the_tracker_takes_the_rooms_up_over_a_leaning_persons():
    rotation = camera_rotation(20, 8)
    true_up = rotation @ [0.0, 0.0, 1.0]
    pose, keypoints, scores, intrinsics = _leaning_person(45, rotation)
    room, _ = room_image(intrinsics, 20, 8)
    room = np.repeat(room[..., None], 3, -1)

    people_only = WorldTracker(camera=intrinsics)
    _settle(people_only, pose, keypoints, scores)
    assert angle(people_only.estimate.frame.up, true_up) > 8  # the lean tilts the people's up
    assert people_only.estimate.metadata()["camera_up_source"] == "people"

    offline = place_clip(pose, keypoints, intrinsics, scores, scene=scene_edges(room, intrinsics))
    assert angle(offline.frame.up, true_up) < 1.0 and offline.up_source == "scene"

    tracker = WorldTracker(camera=intrinsics)
    assert tracker.offer_scene(room)
    _settle(tracker, pose, keypoints, scores)
    assert angle(tracker.estimate.frame.up, true_up) < 1.0
    assert tracker.estimate.metadata()["camera_up_source"] == "scene"
    tracker.reset(keep_camera=True)  # another person: the same room
    assert tracker.estimate.metadata()["camera_up_source"] == "scene"
    tracker.reset()  # another source: the room is forgotten
    assert tracker.scene is None


def test_edges_far_from_the_peoples_up_are_not_taken_for_the_rooms():
    rotation = camera_rotation(20, 0)
    pose, keypoints, scores, intrinsics = _leaning_person(45, rotation)
    tilted, _ = room_image(intrinsics, 20, 50)  # a family of lines 50 degrees off: not verticals
    tracker = WorldTracker(camera=intrinsics)
    tracker.offer_scene(np.repeat(tilted[..., None], 3, -1))
    _settle(tracker, pose, keypoints, scores)
    assert tracker.estimate.metadata()["camera_up_source"] == "people"


def _stage_frames(stage: WorldStage, frames: int, image_at) -> None:
    """Feed ``frames`` frames of a leaning person to ``stage`` as the engine does (place, then
    observe), each with the image ``image_at(i)``."""
    from pose3d_nb.detectors.detection import Detection
    from pose3d_nb.lifting.protocol import LiftedPose

    pose, keypoints, scores, _ = _leaning_person(frames, camera_rotation(20, 0))
    for i in range(frames):
        detection = Detection(keypoints[i].astype(np.float32), scores[i].astype(np.float32),
                              np.array([300, 100, 600, 500], np.float32), (960, 540), i / 30.0, i)
        stage.place([LiftedPose(i, np.zeros((17, 3), np.float32), True, 0, detection,
                                joints_camera=pose[i].astype(np.float32))])
        stage.observe(image_at(i), detection)


def test_the_stage_offers_a_few_frames_while_settling_then_none(monkeypatch):
    """The line search costs about a detector frame: it must not run on every live frame."""
    stage = WorldStage(fov=60)
    offered = []
    monkeypatch.setattr(stage.tracker, "offer_scene",
                        lambda image, boxes=None: offered.append((image[0, 0, 0], boxes)) or False)
    textured = np.random.default_rng(0).integers(0, 255, (540, 960, 3), dtype=np.uint8)
    blank = np.zeros_like(textured)  # a camera still opening: not a try
    _stage_frames(stage, 90, lambda i: blank if i < 5 else textured)
    assert len(offered) == SCENE_TRIES  # the first frame with contrast, then every SCENE_EVERY_S
    assert offered[0][1][0].tolist() == [300, 100, 600, 500]  # the person's box is left out


def test_a_first_frame_whose_edges_give_no_up_does_not_end_the_search():
    """First a frame whose only edges are one bookshelf's (many, but all in one spot: their
    convergence says nothing), then the room: the later frames are still searched, and the up
    comes from the room."""
    import cv2

    intrinsics = from_fov(60, 960, 540)
    room, up = room_image(intrinsics, 20, 0)
    room = np.repeat(room[..., None], 3, -1)
    shelf = np.full((540, 960, 3), 40, np.uint8)
    rotation = camera_rotation(20, 0)
    for x in np.linspace(-1.9, -1.6, 9):  # the shelf's uprights: true verticals, 30 cm apart
        ends = intrinsics.project((np.array([[x, 4.0, 0.1], [x, 4.0, 1.9]]) - [0, 0, 1.5]) @ rotation.T)
        cv2.line(shelf, tuple(int(v) for v in ends[0]), tuple(int(v) for v in ends[1]), (220, 220, 220), 3)
    edges = scene_edges(shelf, intrinsics)
    assert edges is not None and edges.up(prior=up) is None  # edges, but too close together
    stage = WorldStage(camera=intrinsics)
    _stage_frames(stage, 60, lambda i: shelf if i == 0 else room)
    assert stage.metadata()["camera_up_source"] == "scene"
    assert angle(stage.tracker.estimate.frame.up, up) < 1.0


def test_a_failing_edge_search_falls_back_to_the_people_and_says_why(monkeypatch):
    stage = WorldStage(fov=60)
    calls = []

    def broken(image, boxes=None):
        calls.append(1)
        raise ValueError("no lines today")

    monkeypatch.setattr(stage.tracker, "offer_scene", broken)
    textured = np.random.default_rng(0).integers(0, 255, (540, 960, 3), dtype=np.uint8)
    _stage_frames(stage, 60, lambda i: textured)
    meta = stage.metadata()
    assert len(calls) == 1 and meta["camera_up_scene_error"] == "ValueError: no lines today"
    assert meta["camera_up_source"] == "people" and meta["camera_pose_source"] == "estimated"
