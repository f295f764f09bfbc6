"""A detector's one-frame glitches are held back (pose3d_nb.detectors.glitches).

BlazePose on a crop sometimes answers a frame with an arm flung over the head and the next
with it back down (seen on real video: 400-550 px in 1/60 s on a person 840 px tall). The
followed person's previous frame stands in for such a frame; real motion, however fast a body
makes it, passes untouched.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pose3d_nb.detectors import Candidates, FollowingDetector
from pose3d_nb.detectors.detection import Detection
from pose3d_nb.detectors.geometry import keypoint_box
from pose3d_nb.detectors.glitches import MAX_HELD_S, MAX_SPEED_DIAGONALS_PER_S, GlitchGate
from pose3d_nb.skeleton import COCO
from pose3d_nb.sources import Frame

FPS = 60.0
WRIST = COCO.index("left_wrist")
# A standing person about 840 px tall (COCO order), arms down.
STANDING = np.array([
    [300, 100], [290, 90], [310, 90], [280, 95], [320, 95], [250, 200], [350, 200], [240, 320],
    [360, 320], [235, 430], [365, 430], [270, 470], [330, 470], [270, 700], [330, 700],
    [270, 930], [330, 930],
], np.float32)  # fmt: skip
DIAGONAL = float(np.linalg.norm(np.ptp(STANDING[[0, *range(5, 17)]], axis=0)))


def detection(keypoints: np.ndarray, index: int, track_id: int = 1, fps: float = FPS) -> Detection:
    keypoints = np.asarray(keypoints, np.float32)
    world = np.full((33, 3), float(index), np.float32)  # which frame MediaPipe's 3D belongs to
    return Detection(keypoints, np.full(17, 0.9, np.float32), keypoint_box(keypoints).astype(np.float32),
                     (600, 1000), index / fps, index, {"track_id": track_id, "world_landmarks": world})


def flung(frames: int = 1) -> list[np.ndarray]:
    """Keypoints per frame: standing, the left wrist thrown 500 px up on ``frames`` frames from
    frame 10, then down again."""
    out = []
    for index in range(30):
        points = STANDING.copy()
        if 10 <= index < 10 + frames:
            points[WRIST] = [260, -70]
        out.append(points)
    return out


def test_a_limb_flung_up_for_two_frames_is_the_previous_frame_there():
    gate = GlitchGate()
    passed = [gate(detection(points, i)) for i, points in enumerate(flung(frames=2))]
    held = [i for i, d in enumerate(passed) if d.extras.get("glitch_held")]
    assert held == [10, 11]
    for i in held:  # the last frame let through, whole: 2D, box and MediaPipe's 3D
        np.testing.assert_array_equal(passed[i].keypoints, STANDING)
        assert passed[i].extras["world_landmarks"][0, 0] == 9
        assert passed[i].frame_index == i and passed[i].timestamp == i / FPS  # its own frame still
    assert passed[12].extras["world_landmarks"][0, 0] == 12  # the wrist back down: let through


def test_an_arm_that_flickers_up_and_down_stays_down():
    # As seen on real video: up, up, down, up, down, up for a few frames.
    frames = [STANDING.copy() for _ in range(20)]
    for i in (10, 11, 13, 15):
        frames[i][WRIST] = [260, -70]
    gate = GlitchGate()
    passed = [gate(detection(points, i)) for i, points in enumerate(frames)]
    assert all(d.keypoints[WRIST][1] == 430 for d in passed)
    assert [i for i, d in enumerate(passed) if d.extras.get("glitch_held")] == [10, 11, 13, 15]


def test_a_glitch_let_through_does_not_hold_the_pose_that_follows_it():
    # As seen on real video: an ankle thrown out at 14.8 box diagonals a second (under the limit:
    # let through), then back near where it was, which is 20.8 diagonals a second from the
    # glitch: the frame that comes back is the pose, not a jump to hold the glitch against.
    frames = [STANDING.copy() for _ in range(20)]
    ankle = COCO.index("right_ankle")
    frames[10][ankle] += [14.8 / FPS * DIAGONAL, 0]
    for later in frames[11:]:
        later[ankle] -= [6.0 / FPS * DIAGONAL, 0]
    gate = GlitchGate()
    passed = [gate(detection(points, i)) for i, points in enumerate(frames)]
    assert not any(d.extras.get("glitch_held") for d in passed)
    np.testing.assert_array_equal(passed[11].keypoints, frames[11])


@pytest.mark.parametrize("fps", [30.0, 60.0])
def test_real_motion_as_fast_as_mocap_ever_moves_is_never_held(fps):
    # A wrist swung round at 16 box diagonals a second (the fastest clean mocap clip's peak).
    gate = GlitchGate()
    speed = 16.0 * DIAGONAL  # px per second
    for i in range(40):
        points = STANDING.copy()
        angle = speed / 200.0 * i / fps  # a circle of 200 px radius about the shoulder
        points[WRIST] = STANDING[5] + 200 * np.array([np.sin(angle), np.cos(angle)])
        assert not gate(detection(points, i, fps=fps)).extras.get("glitch_held"), i


def test_a_jump_that_stays_is_taken_after_a_tenth_of_a_second():
    gate = GlitchGate()
    passed = [gate(detection(points, i)) for i, points in enumerate(flung(frames=20))]
    held = [i for i, d in enumerate(passed) if d.extras.get("glitch_held")]
    assert held == list(range(10, 10 + int(MAX_HELD_S * FPS)))  # 6 frames at 60 fps
    assert passed[10 + len(held)].keypoints[WRIST][1] == -70  # then the detector is believed
    assert not any(d.extras.get("glitch_held") for d in passed[10 + len(held):])


def test_another_person_a_looping_file_s_next_pass_or_another_image_size_starts_over():
    thrown = flung()[10]

    def after_ten_frames(**changed) -> Detection:
        gate = GlitchGate()
        for i in range(10):
            gate(detection(STANDING, i))
        held = detection(thrown, 10)
        return gate(dataclasses.replace(held, **changed))

    assert after_ten_frames().extras.get("glitch_held")  # the same person, the next frame: held
    assert not after_ten_frames(extras={"track_id": 2}).extras.get("glitch_held")  # someone else
    # A looping file's next pass: its time goes on, its frame index starts again.
    assert not after_ten_frames(frame_index=0).extras.get("glitch_held")
    assert not after_ten_frames(frame_size=(300, 500)).extras.get("glitch_held")  # a resized camera
    assert not after_ten_frames(extras={}).extras.get("glitch_held")  # a detector following no one


def test_a_guess_the_detector_is_unsure_of_does_not_hold_the_frame():
    # A hidden ankle's low-score guess wanders: the frame is not held for it.
    gate = GlitchGate()
    ankle = COCO.index("left_ankle")
    for i in range(20):
        points = STANDING.copy()
        points[ankle] += [300 * (i % 2), 0]
        found = detection(points, i)
        scores = found.scores.copy()
        scores[ankle] = 0.05
        assert not gate(dataclasses.replace(found, scores=scores)).extras.get("glitch_held"), i


def test_a_held_frame_is_the_last_one_whole():
    gate = GlitchGate()
    frames = flung()
    for i in range(10):
        extras = {"track_id": 1, "num_candidates": 1, "visibility": np.full(33, i, np.float32),
                  "box_score": 0.5 + i / 100}
        gate(dataclasses.replace(detection(frames[i], i), extras=extras))
    extras = {"track_id": 1, "num_candidates": 2, "visibility": np.zeros(33, np.float32), "box_score": 0.1}
    held = gate(dataclasses.replace(detection(frames[10], 10), extras=extras))
    assert held.extras["glitch_held"] and held.extras["visibility"][0] == 9
    assert held.extras["box_score"] == pytest.approx(0.59)
    assert held.extras["num_candidates"] == 2  # what the frame itself found


@pytest.mark.parametrize(("fps", "frames"), [(25.0, 2), (30.0, 3), (60.0, 6)])
def test_a_glitch_is_held_for_a_tenth_of_a_second_wherever_it_starts(fps, frames):
    far = STANDING.copy()
    far[WRIST, 0] += 900  # 27 box diagonals a second at 25 fps
    for start in (10, 11, 17, 23, 29):
        gate = GlitchGate()
        points = [STANDING] * start + [far] * 12
        passed = [gate(detection(p, i, fps=fps)) for i, p in enumerate(points)]
        assert sum(bool(d.extras.get("glitch_held")) for d in passed) == frames, (fps, start)


def test_missing_frames_between_count_as_time():
    # Unseen for half a second, the person may be anywhere: that is not a glitch.
    gate = GlitchGate()
    for i in range(10):
        gate(detection(STANDING, i))
    gate(Detection.missing((600, 1000), 10 / FPS, 10))
    far = STANDING + np.float32([200, 0])
    assert not gate(detection(far, 40)).extras.get("glitch_held")
    assert gate(detection(far + np.float32([0, 0]), 41)).keypoints[0, 0] == pytest.approx(500)


def test_the_speed_limit_is_a_body_s_not_the_frame_rate_s():
    # The same jump in pixels is a glitch at 60 fps and at 30 fps alike when it exceeds the
    # limit in box diagonals per second, and not one when spread over frames that allow it.
    jump = 0.5 * MAX_SPEED_DIAGONALS_PER_S * DIAGONAL / 30.0  # half the limit at 30 fps
    for fps, expected in ((30.0, False), (10.0, False), (120.0, True)):
        gate = GlitchGate()
        for i in range(10):
            gate(detection(STANDING, i, fps=fps))
        points = STANDING.copy()
        points[WRIST, 1] -= jump
        assert bool(gate(detection(points, 10, fps=fps)).extras.get("glitch_held")) is expected, fps


class Scripted(FollowingDetector):
    """A backend answering each frame with the person of ``frames[index]``."""

    name = "scripted"

    def __init__(self, frames: list[np.ndarray]) -> None:
        super().__init__(fix_left_right=False)
        self.frames = frames

    def candidates(self, frame: Frame) -> Candidates:
        points = self.frames[frame.index][None]
        return Candidates(boxes=keypoint_box(points[0])[None], keypoints=points,
                          scores=np.full((1, 17), 0.9, np.float32))


def test_every_following_detector_holds_its_followed_person_s_glitches():
    detector = Scripted(flung(frames=1))
    image = np.zeros((1000, 600, 3), np.uint8)
    out = [detector(Frame(image, i, i / FPS, 0.0)) for i in range(13)]
    assert [i for i, d in enumerate(out) if d.extras.get("glitch_held")] == [10]
    np.testing.assert_array_equal(out[10].keypoints, STANDING)
    detector.reset()  # forgets the person: the next frame is let through whatever it shows
    assert not detector(Frame(image, 10, 10 / FPS, 0.0)).extras.get("glitch_held")


class Remembering:
    """A lifter that keeps what it was given and lifts nothing."""

    def __init__(self) -> None:
        self.given: list[Detection] = []
        self.settings = None

    def push(self, detection: Detection, frame=None) -> list:
        self.given.append(detection)
        return []

    def flush(self) -> list:
        return []

    def reset(self) -> None:
        self.given = []


def test_everyone_else_s_glitches_are_held_back_too():
    from pose3d_nb.engine.everyone import EveryoneLifter

    lifters: list[Remembering] = []

    def make() -> Remembering:
        lifters.append(Remembering())
        return lifters[-1]

    everyone = EveryoneLifter(make)
    followed = STANDING + np.float32([0, 0])
    for i, other in enumerate(flung(frames=1)[:13]):
        frame = detection(followed, i)  # the followed person (track 1), whom the engine lifts itself
        frame.extras.update(people_ids=np.array([1, 2]), people_keypoints=np.stack([followed, other]),
                            people_scores=np.full((2, 17), 0.9, np.float32),
                            people_boxes=np.stack([keypoint_box(followed), keypoint_box(other)]))
        everyone.push(frame, None)
    (lifter,) = lifters  # person 2's
    assert [i for i, d in enumerate(lifter.given) if d.extras.get("glitch_held")] == [10]
    np.testing.assert_array_equal(lifter.given[10].keypoints, STANDING)
