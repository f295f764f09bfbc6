"""BlazePose's landmark network on regions we choose (``detectors.blazepose_roi``), and the
people landmarker that tracks each person in a region of their own."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pose3d_nb.detectors.blazepose_roi import Roi, roi_from_alignment, roi_from_landmarks
from pose3d_nb.sources.sample import sample_video_resource


def test_an_upright_body_gives_an_unrotated_square_around_it():
    roi = roi_from_alignment(np.array([100.0, 200.0]), np.array([100.0, 100.0]))
    assert roi == Roi(100.0, 200.0, 250.0, 0.0)  # side: 2 x 1.25 x the 100 px radius
    # Leaning right on screen (top towards +x) turns the square clockwise: positive rotation.
    leaning = roi_from_alignment(np.array([0.0, 0.0]), np.array([50.0, -50.0]))
    assert leaning.rotation == pytest.approx(math.pi / 4)


@pytest.mark.parametrize("rotation", [0.0, 0.7, -2.5])
def test_alignment_points_give_back_their_region(rotation):
    roi = Roi(320.0, 240.0, 300.0, rotation)
    again = roi_from_alignment(*roi.alignment_points())
    assert again.x == pytest.approx(roi.x) and again.y == pytest.approx(roi.y)
    assert again.side == pytest.approx(roi.side) and again.rotation == pytest.approx(rotation)


def test_a_region_from_landmarks_is_centred_on_the_hips_and_covers_the_body():
    points = np.zeros((33, 2))
    points[:] = [100.0, 50.0]  # head and arms up high
    points[[23, 24]] = [[90.0, 200.0], [110.0, 200.0]]  # hips
    points[[11, 12]] = [[90.0, 120.0], [110.0, 120.0]]  # shoulders straight above
    points[[27, 28]] = [[95.0, 330.0], [105.0, 330.0]]  # ankles
    roi = roi_from_landmarks(points)
    assert (roi.x, roi.y) == (100.0, 200.0) and roi.rotation == pytest.approx(0.0)
    assert roi.side / 2 >= 150.0  # reaches the head (150 px up) and the feet (130 px down)


def _sample_frames(count: int):
    from pose3d_nb.sources import open_source

    with open_source(str(sample_video_resource())) as frames:
        for index, frame in enumerate(frames):
            if index >= count:
                return
            yield frame


def test_the_landmark_network_finds_the_person_in_a_region_and_nobody_in_an_empty_one():
    from pose3d_nb.detectors.blazepose_roi import RoiLandmarks

    frame = next(_sample_frames(1))
    width, height = frame.size
    with_person = Roi(width / 2, height / 2, float(height))
    network = RoiLandmarks()
    try:
        person = network(frame.image, with_person)
        assert person is not None
        assert person.points.shape == (33, 4) and person.world.shape == (33, 3)
        x1, y1 = person.points[:, :2].min(axis=0)
        x2, y2 = person.points[:, :2].max(axis=0)
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height and y2 - y1 > 0.4 * height
        # Tracking: the region from the landmarks' alignment points fits the person, so running
        # again on it finds the same landmarks (the first, whole-frame region was coarser).
        fitted = network(frame.image, person.next_roi())
        again = network(frame.image, fitted.next_roi())
        assert np.abs(again.points[:, :2] - fitted.points[:, :2]).mean() < 0.05 * height
        assert network(np.zeros_like(frame.image), with_person) is None
    finally:
        network.close()


def test_regions_run_side_by_side_give_what_one_at_a_time_gives_in_order():
    """``map`` runs several people's regions of one frame at once, one network per thread."""
    from pose3d_nb.detectors.blazepose_roi import RoiLandmarks

    frame = next(_sample_frames(1))
    width, height = frame.size
    rois = [Roi(width / 2, height / 2, float(height)), Roi(30.0, 30.0, 60.0),  # nobody there
            Roi(width / 2 + 20, height / 2, 0.9 * height), Roi(width / 2, height / 2 - 10, 1.1 * height)]
    network = RoiLandmarks(workers=2)
    try:
        one_at_a_time = [network(frame.image, roi) for roi in rois]
        together = network.map(frame.image, rois)
        assert len(network._graphs) == 2  # a network per lane
    finally:
        network.close()
    assert together[1] is None and one_at_a_time[1] is None
    for alone, side_by_side in zip(one_at_a_time, together, strict=True):
        if alone is not None:
            np.testing.assert_allclose(side_by_side.points, alone.points, atol=1e-4)
            np.testing.assert_allclose(side_by_side.world, alone.world, atol=1e-5)
    with pytest.raises(Exception, match="closed"):
        network.map(frame.image, rois)


def test_a_people_landmarker_with_no_threads_says_what_it_takes():
    from pose3d_nb.detectors.blazepose_roi import RoiLandmarks
    from pose3d_nb.detectors.people_landmarks import PeopleLandmarker
    from pose3d_nb.errors import Pose3DValueError

    for wrong in (0, -3, 2.5, True):
        with pytest.raises(Pose3DValueError, match="workers must be an integer >= 1"):
            PeopleLandmarker(workers=wrong)
        with pytest.raises(Pose3DValueError, match="workers must be an integer >= 1"):
            RoiLandmarks(workers=wrong)


def test_a_region_that_fails_side_by_side_raises_and_leaves_the_network_usable():
    from pose3d_nb.detectors.blazepose_roi import RoiLandmarks

    frame = next(_sample_frames(1))
    width, height = frame.size
    good, bad = Roi(width / 2, height / 2, float(height)), Roi(-1.0, -1.0, 10.0)
    network = RoiLandmarks(workers=2)
    run = network._run

    def failing(graph, image, roi):
        if roi is bad:
            raise RuntimeError("a worker failed")
        return run(graph, image, roi)

    network._run = failing
    try:
        with pytest.raises(RuntimeError, match="a worker failed"):
            network.map(frame.image, [good, bad, good])
        network._run = run
        assert all(found is not None for found in network.map(frame.image, [good, good]))
    finally:
        network.close()


@pytest.mark.timeout(600)
def test_tracked_regions_keep_one_person_without_sweeping_every_frame():
    from pose3d_nb.detectors.people_landmarks import PeopleLandmarker

    landmarker = PeopleLandmarker(discover_every=10)
    sweeps = []
    sweep = landmarker._sweep
    landmarker._sweep = lambda *args: sweeps.append(1) or sweep(*args)
    try:
        found = [len(landmarker(frame)) for frame in _sample_frames(40)]
    finally:
        landmarker.close()
    assert found == [1] * 40  # the one person of the sample, once, on every frame
    assert len(sweeps) <= 5  # the first frame and every 10th: the detector is not run per frame


def test_a_person_in_front_of_another_is_not_taken_for_them():
    """A child standing in front of an adult has a box inside theirs: two people, not copies."""
    from pose3d_nb.detectors.people_landmarks import _candidates
    from pose3d_nb.detectors.people_match import already_tracked, distinct, one_person

    def person(x: float, top: float, tall: float) -> np.ndarray:
        points = np.zeros((33, 4))
        rows = np.linspace(0.0, 1.0, 33)
        points[:, 0] = x + 0.15 * tall * np.sin(7 * rows)  # some width
        points[:, 1] = top + tall * rows
        points[:, 3] = 1.0
        return points

    adult, child = person(300, 100, 500), person(330, 380, 200)
    size = (640, 720)
    assert not one_person(adult, child, size)
    assert not already_tracked(child, np.inf, [adult], size)  # a whole find: someone new
    found = [(adult, np.zeros((33, 3)), np.inf), (child, np.zeros((33, 3)), np.inf)]
    assert len(_candidates(found, size)) == 2  # tracked people are kept apart
    assert len(distinct(found, size)) == 2  # and so are two of the detector's finds
    assert len(distinct(found + [(adult + [3.0, 2.0, 0, 0], np.zeros((33, 3)), 10.0)], size)) == 2  # a copy


def _figure(x: float, top: float, tall: float) -> np.ndarray:
    """(33, 4) landmarks of a standing figure: x, y pixels, z 0, visibility 1."""
    points = np.zeros((33, 4))
    rows = np.linspace(0.0, 1.0, 33)
    points[:, 0] = x + 0.15 * tall * np.sin(7 * rows)
    points[:, 1] = top + tall * rows
    points[:, 3] = 1.0
    return points


class _ScriptedRegions:
    """Stands in for the landmark network: answers each call from a queue (a (33, 4) landmark
    set, or None for "nobody"), and records the regions it was asked about."""

    def __init__(self, answers):
        self.answers, self.asked = list(answers), []

    def __call__(self, image, roi):
        self.asked.append(roi)
        return _found(self.answers.pop(0))

    def map(self, image, rois):
        return [self(image, roi) for roi in rois]

    def close(self):
        pass


def _found(points):
    """The region result for (33, 4) ``points``, or None for None."""
    from pose3d_nb.detectors.blazepose_roi import RoiPerson

    if points is None:
        return None
    return RoiPerson(points=points, world=np.zeros((33, 3), np.float32),
                     alignment=roi_from_landmarks(points[:, :2]).alignment_points())


def _landmarker_on(answers, *people):
    """A people landmarker tracking ``people`` (landmark sets, oldest first) whose landmark
    network answers ``answers`` and whose detector finds nobody."""
    from pose3d_nb.detectors.people_landmarks import PeopleLandmarker, _Chain

    landmarker = PeopleLandmarker()
    landmarker._roi = _ScriptedRegions(answers)
    landmarker._sweep = lambda *args: []
    landmarker._chains = [_Chain(points[:, :2]) for points in people]
    return landmarker


def _blank(index: int):
    from pose3d_nb.sources.frame import Frame

    return Frame(image=np.zeros((720, 1280, 3), np.uint8), index=index, timestamp=index / 30, captured_at=0.0)


def test_a_person_the_region_misses_is_found_framed_wider():
    """BlazePose's presence score dips on some poses (bent over, seen from behind) while the
    person is still in the region: the region is tried again wider before the person is missed."""
    from pose3d_nb.detectors.people_landmarks import RETRY_SCALE

    him = _figure(600, 100, 500)
    landmarker = _landmarker_on([None, him + [4.0, 0, 0, 0]], him)
    try:
        found = landmarker._track(_blank(1))
        first, second = landmarker._roi.asked
        assert second.side == pytest.approx(RETRY_SCALE * first.side)
        assert (second.x, second.y, second.rotation) == (first.x, first.y, first.rotation)
        assert len(found) == 1 and landmarker._chains[0].misses == 0
        np.testing.assert_allclose(found[0][0], him + [4.0, 0, 0, 0])
    finally:
        landmarker.close()


def test_a_wider_region_around_part_of_someone_does_not_keep_that_part_alive():
    """A region holding only part of a body (a phantom person inside a real one), framed wider,
    finds the whole body: a box unlike the one expected, refused, so the phantom is missed."""
    whole = _figure(600, 100, 500)
    part = _figure(600, 350, 200)  # the legs' height of the same body
    landmarker = _landmarker_on([None, whole], part)
    try:
        assert landmarker._track(_blank(1)) == []
        assert landmarker._chains[0].misses == 1
    finally:
        landmarker.close()


def test_a_region_that_lands_on_someone_older_is_missed_then_found_again():
    """Two people overlapping: the younger one's region takes the older one's landmarks for a
    frame (retried with her painted over, and wider: the same). That frame is a miss, not the
    end of the younger's region; when it finds them again they are still the same tracked
    person."""
    her, him = _figure(300, 100, 500), _figure(600, 100, 500)
    landmarker = _landmarker_on([her, her + [2.0, 0, 0, 0], her + [3.0, 0, 0, 0], her + [1.0, 0, 0, 0],
                                 her, him], her, him)  # frame 2
    try:
        found = landmarker._track(_blank(1))
        assert len(found) == 1 and np.allclose(found[0][0], her)  # never a copy of her
        assert len(landmarker._chains) == 2 and landmarker._chains[1].misses == 1
        found = landmarker._track(_blank(2))
        assert len(found) == 2 and np.allclose(found[1][0], him)
        assert landmarker._chains[1].misses == 0
    finally:
        landmarker.close()


class _SeesPaint(_ScriptedRegions):
    """Stands in for the landmark network where two people overlap: on the plain image it finds
    ``plain`` (the person in front), on an image with grey painted on it ``painted``."""

    def __init__(self, plain, painted):
        super().__init__([])
        self.plain, self.painted, self.images = plain, painted, []

    def __call__(self, image, roi):
        from pose3d_nb.detectors.occluders import GREY

        self.images.append(image)
        return _found(self.painted if (image == GREY[0]).all(axis=2).any() else self.plain)


def test_a_region_that_takes_the_person_in_front_finds_its_own_with_them_painted_over():
    """multi_person cam03: seen from behind, bent over, the performer's region takes the woman
    in front (his head is hidden behind hers). With her painted grey the network finds him,
    and his region lives on instead of being dropped."""
    her, him = _figure(300, 100, 500), _figure(520, 100, 500)
    landmarker = _landmarker_on([], her, him)
    landmarker._roi = network = _SeesPaint(plain=her, painted=him + [3.0, 0, 0, 0])
    try:
        found = landmarker._track(_blank(1))
        assert len(found) == 2 and np.allclose(found[1][0], him + [3.0, 0, 0, 0])
        assert landmarker._chains[1].misses == 0
        # Her own region sees the plain frame; only his retry sees her painted over.
        assert not network.images[0].any() and not network.images[1].any()
        assert network.images[2].any() and not _blank(1).image.any()
    finally:
        landmarker.close()


def test_a_painted_over_retry_that_still_finds_the_other_torso_is_refused():
    """Painting is no licence to copy: a find whose shoulders and hips are hers is a miss."""
    her, him = _figure(300, 100, 500), _figure(520, 100, 500)
    landmarker = _landmarker_on([], her, him)
    landmarker._roi = _SeesPaint(plain=her, painted=her + [6.0, 0, 0, 0])
    try:
        found = landmarker._track(_blank(1))
        assert len(found) == 1 and landmarker._chains[1].misses == 1
    finally:
        landmarker.close()


def test_painting_covers_what_was_seen_of_a_body_and_nothing_else():
    from test_tracking import TEMPLATE

    from pose3d_nb.detectors.occluders import GREY, paint_over

    image = np.full((400, 300, 3), 10, np.uint8)
    body = _body(TEMPLATE * [100, 300] + [100, 50])  # 300 px tall, from y 50
    body[[25, 26, 27, 28, 29, 30, 31, 32], 3] = 0.1  # knees down: hidden, their places guessed
    painted = paint_over(image, [body])
    grey = (painted == GREY[0]).all(axis=2)
    hips = body[[23, 24], :2].mean(axis=0).astype(int)
    assert grey[hips[1], hips[0]]  # the torso is filled
    ankle = body[27, :2].astype(int)
    assert not grey[ankle[1], ankle[0]]  # a guessed joint is not painted
    assert not grey[:, :40].any() and not grey[:, 260:].any()  # far from the body: untouched
    assert (image == 10).all()  # the caller's frame is left as it was
    # A point that is not finite is unseen, not the end of the body's painting.
    body[0, :2] = np.nan
    assert (paint_over(image, [body]) == GREY[0]).all(axis=2)[hips[1], hips[0]]


def test_a_body_seen_side_on_is_painted_as_wide_as_its_torso_says():
    """Seen side-on, the shoulders coincide: the painted width follows the torso's length."""
    from test_tracking import TEMPLATE

    from pose3d_nb.detectors.occluders import GREY, LIMB_WIDTH, TORSO_BREADTH, paint_over

    coco = TEMPLATE * [100, 300] + [100, 50]
    coco[:, 0] = 150.0  # everyone's x on one line: a profile
    body = _body(coco)
    painted = (paint_over(np.zeros((400, 300, 3), np.uint8), [body]) == GREY[0]).all(axis=2)
    torso = np.linalg.norm(body[[11, 12], :2].mean(axis=0) - body[[23, 24], :2].mean(axis=0))
    row = int(body[25, 1] + body[27, 1]) // 2  # mid-shin
    assert painted[row].sum() >= 0.9 * LIMB_WIDTH * TORSO_BREADTH * torso


def test_one_torso_is_a_copy_and_a_neighbour_leaning_in_is_not():
    from test_tracking import TEMPLATE

    from pose3d_nb.detectors.people_match import same_torso

    her = _body(TEMPLATE * [100, 300] + [100, 50])
    assert same_torso(her + [5.0, 3.0, 0, 0], her)
    mirrored = her.copy()
    mirrored[[11, 12, 23, 24]] = her[[12, 11, 24, 23]]  # labels swapped, same body
    assert same_torso(mirrored, her)
    torso = np.linalg.norm(her[[11, 12], :2].mean(axis=0) - her[[23, 24], :2].mean(axis=0))
    assert not same_torso(her + [0.7 * torso, 0, 0, 0], her)  # cam03: 0.7 of her torso apart


def _body(coco: np.ndarray) -> np.ndarray:
    """(33, 4) landmarks whose COCO joints are the (17, 2) ``coco`` (the rest on the nose)."""
    from pose3d_nb.detectors.mediapipe_pose import BLAZEPOSE_TO_COCO

    points = np.zeros((33, 4))
    points[:, :2] = coco[0]
    points[BLAZEPOSE_TO_COCO, :2] = coco
    points[:, 3] = 1.0
    return points


def test_a_small_person_made_of_someone_elses_legs_is_not_someone_new():
    """The sweep over a tile holding only the performer's legs found a whole small "person"
    there (the sample, frames 60-62 and 90-99): every joint on his thighs and shins."""
    from test_tracking import TEMPLATE

    from pose3d_nb.detectors.people_match import already_tracked, part_of

    size = (540, 960)
    performer = TEMPLATE * [200, 600] + [170, 200]  # (17, 2): 600 px tall
    hip, knee, ankle = performer[11], performer[13], performer[15]
    along = np.linspace(0.0, 1.0, 17)[:, None]
    # Squeezed onto his left leg, hip to ankle, 1 % of his height off the bone.
    legs = np.where(along < 0.5, hip + 2 * along * (knee - hip), knee + (2 * along - 1) * (ankle - knee))
    legs = legs + [6, 0]
    assert part_of(_body(legs), _body(performer), size)
    assert already_tracked(_body(legs), np.inf, [_body(performer)], size)
    # A child beside him, as tall as the phantom and overlapping his box, has joints of its own.
    # (One first seen squarely in front of his legs would be taken for a part of him until it
    # moves away: docs/people.md, Limits.)
    child = TEMPLATE * [90, 270] + [290, 470]
    assert not part_of(_body(child), _body(performer), size)
    # And someone as tall as he is is never a part of him.
    assert not part_of(_body(performer + [4, 0]), _body(performer), size)


def _legs_phantom(performer: np.ndarray, off: float) -> np.ndarray:
    """(17, 2): a squeezed "person" along ``performer``'s left leg, hip to ankle, ``off`` px to
    the side of it."""
    hip, knee, ankle = performer[11], performer[13], performer[15]
    along = np.linspace(0.0, 1.0, 17)[:, None]
    legs = np.where(along < 0.5, hip + 2 * along * (knee - hip), knee + (2 * along - 1) * (ankle - knee))
    return legs + [off, 0]


def test_a_phantom_cut_by_its_tile_may_stray_farther_from_the_bones_it_is_made_of():
    """The paced sample: squeezed into part of a tile, a legs phantom had 12 of its 17 joints
    within 0.08 of the performer's height of his bones, all within 0.11."""
    from test_tracking import TEMPLATE

    from pose3d_nb.detectors.people_match import already_tracked, taller

    size = (540, 960)
    coco = TEMPLATE * [200, 600] + [170, 200]
    performer = _body(coco)
    legs = _body(_legs_phantom(coco, 0.10 * taller(performer, performer, size)))
    assert already_tracked(legs, -10.0, [performer], size)  # cut by its tile: a part of him
    assert not already_tracked(legs, np.inf, [performer], size)  # whole in its tile: judged as before


def test_a_sliver_found_beside_someone_in_the_same_first_sweep_is_not_a_second_person():
    """The paced sample's first frame: the sweep found the performer and, on the next tile, a
    sliver of his legs cut by its edge. Nobody was tracked yet, so the sliver was judged against
    nobody and lived on as a second, garbled skeleton of him."""
    from test_tracking import TEMPLATE

    from pose3d_nb.detectors.people_landmarks import PeopleLandmarker

    coco = TEMPLATE * [200, 600] + [170, 200]
    performer, legs = _body(coco), _body(_legs_phantom(coco, 6.0))
    landmarker = PeopleLandmarker()
    landmarker._roi = _ScriptedRegions([])
    landmarker._sweep = lambda *args: [(legs, np.zeros((33, 3), np.float32), -31.0),
                                       (performer, np.zeros((33, 3), np.float32), 49.0)]
    try:
        found = landmarker(_blank(0))
        assert len(found) == 1 and np.allclose(found.keypoints[0], coco)
        assert len(landmarker._chains) == 1
    finally:
        landmarker.close()


def test_a_phantom_less_cut_by_its_tile_than_the_person_it_is_made_of_is_not_kept():
    """two_people, frame 5 (the first frame of the people detector after a click in the app):
    a 70 px "person" on the man's arms and hips, 110 px inside its tile, and the whole man,
    64 px inside the next one. Least cut first, the phantom was kept and the man judged
    against it; the app then offered it as a second person to click. A legs phantom stands in
    for that one here (the real frames: the next test)."""
    from test_tracking import TEMPLATE

    from pose3d_nb.detectors.people_match import distinct

    size = (640, 360)
    coco = TEMPLATE * [60, 125] + [205, 43]
    performer, legs = _body(coco), _body(_legs_phantom(coco, 2.0))
    world = np.zeros((33, 3), np.float32)
    kept = distinct([(legs, world, 110.0), (performer, world, 64.0)], size)
    assert len(kept) == 1 and kept[0][0] is performer


TWO_PEOPLE = Path(__file__).resolve().parents[2] / "shared" / "samples" / "two_people_walk_640x360.mp4"


@pytest.mark.skipif(not TWO_PEOPLE.is_file(), reason=f"needs {TWO_PEOPLE}")
def test_the_first_sweep_on_the_two_people_sample_finds_the_man_once():
    """The real frames behind the test above: every one of the first twelve frames, swept as
    the first frame of a fresh people detector, gives one person (the woman comes later)."""
    from pose3d_nb.detectors.people_landmarks import PeopleLandmarker
    from pose3d_nb.sources.video import VideoSource

    with VideoSource(TWO_PEOPLE) as source:
        frames = [frame for _, frame in zip(range(12), source, strict=False)]
    counts = []
    for frame in frames:
        landmarker = PeopleLandmarker(workers=1)
        try:
            counts.append(len(landmarker(frame)))
        finally:
            landmarker.close()
    assert counts == [1] * 12


@pytest.mark.skipif(not TWO_PEOPLE.is_file(), reason=f"needs {TWO_PEOPLE}")
def test_the_discovery_sweep_beside_the_regions_finds_what_it_finds_after_them():
    """While someone is tracked, the sweep for newcomers runs on a thread of its own beside the
    tracked regions (``workers`` > 1): everyone found, every frame, is what one thread finds,
    including the woman who walks in while the man is tracked."""
    from pose3d_nb.detectors.people_landmarks import DISCOVERY, PeopleLandmarker
    from pose3d_nb.sources.video import VideoSource

    beside = PeopleLandmarker(workers=2, discover_every=3)
    after = PeopleLandmarker(workers=1, discover_every=3)
    counts = []
    try:
        with VideoSource(TWO_PEOPLE) as source:
            for index, frame in enumerate(source):
                if index >= 75:  # she comes into view at about frame 60
                    break
                found, alone = beside(frame), after(frame)
                np.testing.assert_array_equal(found.boxes, alone.boxes)
                np.testing.assert_array_equal(found.keypoints, alone.keypoints)
                counts.append(len(found.boxes))
        assert DISCOVERY in beside._landmarkers and DISCOVERY not in after._landmarkers
    finally:
        beside.close()
        after.close()
    assert counts[0] == 1 and max(counts) == 2  # someone new was found while one was tracked
