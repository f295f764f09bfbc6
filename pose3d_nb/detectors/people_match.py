"""Whether landmark sets found in one frame are one person, a copy, or a phantom.

The people landmarker (``people_landmarks``) finds people on overlapping tiles and in regions
that can slide from one person to another; these tests decide which finds are the same person
(a copy on the next tile, a region that took someone else) and which are someone new. All take
(33, >=2) BlazePose landmark pixels and the image ``size`` (width, height) where scale matters.
"""

from __future__ import annotations

import numpy as np

from pose3d_nb.detectors.base import COCO_MIRROR
from pose3d_nb.detectors.geometry import keypoint_box
from pose3d_nb.detectors.mediapipe_pose import BLAZEPOSE_TO_COCO
from pose3d_nb.skeleton import COCO


def one_person(points_a: np.ndarray, points_b: np.ndarray, size: tuple[int, int],
               same_pose: float = 0.2) -> bool:
    """Whether two (33, >=2) landmark sets are one person: their COCO joints within ``same_pose``
    box heights on average, each left/right pair matched either way (BlazePose swaps the labels
    of single limbs, so two looks at one person may differ by the legs' labels only). Boxes
    alone would not do: a person standing in front of another has a box inside theirs.

    The face counts: a region on someone turned away can take the face of the person beside
    them, and its landmarks then mix the two bodies (a region kept on the body alone gave
    3D poses 250 mm off on multi_person cam03); such a region is better missed."""
    tall = taller(points_a, points_b, size)
    a, b = points_a[BLAZEPOSE_TO_COCO, :2], points_b[BLAZEPOSE_TO_COCO, :2]
    as_is = np.linalg.norm(a - b, axis=1)
    mirrored = np.linalg.norm(a[COCO_MIRROR] - b, axis=1)
    # Per joint, the nearer of its own and its twin's match, taken for both joints of a pair.
    pair_as_is = as_is + as_is[COCO_MIRROR]
    pair_mirrored = mirrored + mirrored[COCO_MIRROR]
    distance = np.where(pair_as_is <= pair_mirrored, as_is, mirrored)
    return bool(distance.mean() < same_pose * tall)


def held(points: np.ndarray, others: list[np.ndarray], size: tuple[int, int]) -> bool:
    """Whether ``points`` (33, >=2) are one of ``others`` (see ``one_person``)."""
    return any(one_person(points, other, size) for other in others)


def same_torso(points: np.ndarray, other: np.ndarray, same: float = 0.25) -> bool:
    """Whether ``points``' shoulders and hips ((33, >=2) landmarks) are ``other``'s: on average
    within ``same`` of ``other``'s torso (shoulders' middle to hips' middle), as labelled or
    mirrored. ``other`` is the person already found, whose size is trusted; two people side by
    side, one leaning on the other, are farther apart than that (multi_person cam03: 0.7 of her
    torso)."""
    a, b = points[_TORSO_POINTS, :2], other[_TORSO_POINTS, :2]
    torso = float(np.linalg.norm(b[:2].mean(axis=0) - b[2:].mean(axis=0)))
    as_is = np.linalg.norm(a - b, axis=1).mean()
    mirrored = np.linalg.norm(a[[1, 0, 3, 2]] - b, axis=1).mean()
    return bool(min(as_is, mirrored) < same * max(torso, 1.0))


_TORSO_POINTS = [11, 12, 23, 24]  # BlazePose shoulders, then hips, each left then right


def taller(points_a: np.ndarray, points_b: np.ndarray, size: tuple[int, int]) -> float:
    """The taller of two landmark sets' boxes, in pixels (at least 1): the scale of a match."""
    box_a, box_b = keypoint_box(points_a[:, :2], size), keypoint_box(points_b[:, :2], size)
    return max(box_a[3] - box_a[1], box_b[3] - box_b[1], 1.0)


def already_tracked(points: np.ndarray, margin: float, tracked: list[np.ndarray], size: tuple[int, int],
                     cut_margin: float = 0.05) -> bool:
    """Whether a person the detector found is one already tracked: their joints match (as
    ``one_person``); or, for a find whose landmarks reach within ``cut_margin`` of the short
    image side of its tile's inner edge (a copy cut off by the tile, its hidden joints
    guessed), the joints it sees match (``seen_alike``); or it is a small "person" made of a
    tracked person's parts (``part_of``)."""
    cut = margin < cut_margin * min(size)
    near = part_near(margin, size, cut_margin)
    return any(one_person(points, other, size) or (cut and seen_alike(points, other, size, 0.15))
               or part_of(points, other, size, near=near) for other in tracked)


def part_near(margin: float, size: tuple[int, int], cut_margin: float = 0.05) -> float:
    """``part_of``'s ``near`` for a find ``margin`` pixels from its tile's inner edge:
    ``CUT_PART_NEAR`` when that is under ``cut_margin`` of the short image side, else 0.08."""
    return CUT_PART_NEAR if margin < cut_margin * min(size) else 0.08


CUT_PART_NEAR = 0.12
"""``part_of``'s ``near`` for a find cut by its tile's edge: squeezed into part of a tile, a
phantom strays farther from the bones it is made of (the paced sample: 12 of its 17 joints
within 0.08 of the performer's height, all 17 within 0.11)."""


_COCO_BONES = np.array(COCO.bones)


def part_of(points: np.ndarray, whole: np.ndarray, size: tuple[int, int], near: float = 0.08,
             share: float = 0.8, smaller: float = 0.7) -> bool:
    """Whether ``points`` (33, >=2) are a phantom made of ``whole``'s parts: a landmark set
    under ``smaller`` of ``whole``'s height whose COCO joints lie, ``share`` of them or more,
    within ``near`` of ``whole``'s height of its bones. The detector's sweep over a tile that
    holds only someone's legs finds a whole small "person" there (the single-person sample:
    frames 60-62 and 90-99, every joint on the performer's thighs and shins). A real person in
    front of another has joints of their own, off the other's bones."""
    tall = taller(whole, whole, size)
    box = keypoint_box(points[:, :2], size)
    if box[3] - box[1] >= smaller * tall:
        return False
    joints = points[BLAZEPOSE_TO_COCO, :2].astype(np.float64)
    body = whole[BLAZEPOSE_TO_COCO, :2].astype(np.float64)
    start, end = body[_COCO_BONES[:, 0]], body[_COCO_BONES[:, 1]]  # (B, 2) each
    along = end - start
    length2 = np.maximum((along**2).sum(axis=1), 1e-9)
    t = np.clip(((joints[:, None] - start) * along).sum(axis=2) / length2, 0.0, 1.0)  # (17, B)
    distance = np.linalg.norm(joints[:, None] - (start + t[..., None] * along), axis=2).min(axis=1)
    return bool((distance < near * tall).mean() >= share)


def inner_margin(points: np.ndarray, region, size) -> float:
    """Pixels between a person's landmarks and the nearest tile edge that is not an image edge."""
    x0, y0, w, h = region
    box = keypoint_box(points)
    margins = [np.inf]
    if x0 > 0:
        margins.append(box[0] - x0)
    if y0 > 0:
        margins.append(box[1] - y0)
    if x0 + w < size[0]:
        margins.append(x0 + w - box[2])
    if y0 + h < size[1]:
        margins.append(y0 + h - box[3])
    return float(min(margins))


def distinct(found, size: tuple[int, int], same_pose: float = 0.2, same_seen: float = 0.15) -> list:
    """One find per person among the detector's finds on overlapping tiles: of copies of one
    person, the one least cut by its tile (in that order, least cut first); a find made of
    another find's parts (``part_of``) is not a person.

    Two finds are copies when their joints are on average within ``same_pose`` box heights
    (``one_person``), or the joints both see (visibility over 0.5: a copy cut by its tile's
    edge guesses the rest) are within ``same_seen`` box heights at the median. Boxes are not
    compared: a small person in front of or behind a tall one has a box inside theirs.

    Parts are judged before the order by cut: a phantom can be less cut by its tile than the
    whole person is by theirs (two_people sample, frame 5: a 70 px "person" on the man's
    arms and hips, 110 px from its tile's edge, beside him whole 64 px from the next tile's),
    and taken first it would be kept beside him as a second person.
    """
    phantoms = {i for i, (points, _, margin) in enumerate(found)
                if any(part_of(points, other, size, near=part_near(margin, size))
                       for j, (other, _, _) in enumerate(found) if j != i)}
    kept: list[int] = []
    for i in sorted(set(range(len(found))) - phantoms, key=lambda i: -found[i][2]):
        if not any(one_person(found[i][0], found[j][0], size, same_pose)
                   or seen_alike(found[i][0], found[j][0], size, same_seen) for j in kept):
            kept.append(i)
    return [found[i] for i in kept]


def seen_alike(points_a: np.ndarray, points_b: np.ndarray, size: tuple[int, int], same: float,
                min_joints: int = 4) -> bool:
    """Whether the COCO joints both (33, 4) landmark sets see are one person's (median distance
    under ``same`` box heights, as given or mirrored)."""
    a, b = points_a[BLAZEPOSE_TO_COCO], points_b[BLAZEPOSE_TO_COCO]
    tall = taller(points_a, points_b, size)
    for other in (b, b[COCO_MIRROR]):
        seen = (a[:, 3] > 0.5) & (other[:, 3] > 0.5)
        if seen.sum() < min_joints:
            continue
        if np.median(np.linalg.norm(a[seen, :2] - other[seen, :2], axis=1)) < same * tall:
            return True
    return False
