"""Which way a person faces (``detectors.facing``): the torso's facing and the face check."""

from __future__ import annotations

import numpy as np
import pytest
from test_people import TWO_PEOPLE
from test_tracking import person

from pose3d_nb.detectors.facing import FaceCheck, head_square, torso_facing
from pose3d_nb.skeleton import COCO
from pose3d_nb.sources import open_source

MIRROR = COCO.mirror_permutation()

# The man on the roof in frame 40 of two_people_walk, facing the camera, backlit, his head about
# 15 pixels wide: COCO keypoints as MediaPipe found them there.
ROOF_MAN_FRAME = 40
ROOF_MAN = np.array([
    [229, 40], [231, 38], [227, 38], [234, 41], [226, 41], [245, 60], [219, 62], [249, 81], [217, 84],
    [256, 101], [214, 102], [240, 97], [224, 98], [242, 128], [226, 128], [242, 157], [231, 155],
], float)  # fmt: skip


def test_torso_facing_says_front_back_and_side_on():
    frontal = person(300, 200, w=100)["keypoints"]
    assert torso_facing(frontal) > 0.8
    assert torso_facing(frontal[MIRROR]) < -0.8  # seen from behind, or labels swapped
    side_on = frontal.copy()
    side_on[:, 0] = 300 + 0.1 * (side_on[:, 0] - 300)
    assert abs(torso_facing(side_on)) < 0.15
    # Rolled images give the same answer: it is measured against the torso's own up.
    angle = np.radians(70)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    assert np.isclose(torso_facing(frontal @ rotation.T), torso_facing(frontal))
    broken = frontal.copy()
    broken[COCO.index("left_hip")] = np.nan
    assert np.isnan(torso_facing(broken)) and head_square(broken, (640, 360)) is None


def roof_frame() -> np.ndarray:
    if not TWO_PEOPLE.is_file():
        pytest.skip(f"{TWO_PEOPLE} is not here (the workplace's ../shared/samples)")
    with open_source(str(TWO_PEOPLE)) as frames:
        for frame in frames:
            if frame.index == ROOF_MAN_FRAME:
                return frame.image
    raise AssertionError("the clip is shorter than expected")


def test_face_check_finds_the_face_on_this_persons_head_only():
    image = roof_frame()
    with_face = FaceCheck()
    try:
        assert with_face(image, ROOF_MAN)  # the labels do not matter: the face is where it is
        assert with_face(image, ROOF_MAN[MIRROR])
        # The same body moved onto the tree beside him: no face there.
        assert not with_face(image, ROOF_MAN + [120, 60])
    finally:
        with_face.close()


def test_a_face_on_someone_elses_head_is_not_this_persons():
    """multi_person cam03, frame 51: the performer bent over, his back to the camera, his head
    hidden behind the woman's. His guessed nose lay on her face, which the check took for his;
    that undid a right swap of his labels and the wrong labels held to the end of the clip."""
    image = roof_frame()
    with_face = FaceCheck()
    try:
        behind = ROOF_MAN + [3, 40]  # a body below his, its head guessed on his face
        behind[:5] = ROOF_MAN[:5] + [1, 1]
        assert with_face(image, behind)  # alone, his face is taken for this body's
        assert not with_face(image, behind, others=ROOF_MAN[None])  # but it is the roof man's
        elsewhere = ROOF_MAN + [300, 100]
        assert with_face(image, ROOF_MAN, others=elsewhere[None])  # someone far off changes nothing
    finally:
        with_face.close()


def test_the_followers_give_the_face_check_everyone_else_in_view():
    from pose3d_nb.detectors.follow import PeopleFollower
    from pose3d_nb.detectors.tracking import SubjectFollower

    frontal = person(300, 200, w=100)["keypoints"]
    other = frontal + [200, 0]
    boxes = np.array([[240, 180, 360, 520], [440, 180, 560, 520]], float)
    scores = np.full((2, 17), 0.9)
    for follower in (PeopleFollower("largest"), SubjectFollower.default(follow=True, fix_left_right=True)):
        seen = []

        def sees_face(labelled, others, seen=seen):
            seen.append(others)
            return False

        # Labels as if from behind, then frontal: the fixer's swap back would turn the back to
        # the camera, so it asks whether a face is on the head.
        follower.select(0.0, boxes[:1], frontal[MIRROR][None], scores[:1], None, sees_face)
        # The followed person is the second candidate now: the others are the first.
        follower.select(1 / 30, boxes[::-1], np.stack([other, frontal]), scores, None, sees_face)
        assert len(seen) == 1 and np.array_equal(seen[0], other[None]), type(follower).__name__


def test_the_face_checks_first_call_prints_no_native_notices(capfd):
    # The face network is made at the first check (a left/right flip, any time into a clip):
    # MediaPipe's start-up notices showed on stderr there, across the progress bar and as a
    # red box in the notebook, after the detectors' own notices were kept out.
    image = roof_frame()
    with_face = FaceCheck()
    try:
        assert with_face(image, ROOF_MAN)
    finally:
        with_face.close()
    err = capfd.readouterr().err
    for notice in ("XNNPACK", "EGL", "Feedback manager", "absl::InitializeLog"):
        assert notice not in err, err
