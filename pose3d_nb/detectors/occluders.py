"""Hiding the other people in a tracked person's region before the landmark network looks.

When two people overlap, BlazePose's landmark network in one person's region often takes the
other's body parts: seen from behind with the head down, the performer of
``benchmarks/multi_person`` cam03 "gets" the woman's face (his own head is hidden behind hers),
and his landmarks mix the two bodies until the region slides onto her. Painting the others
over in flat grey first leaves the network one body to explain.
"""

from __future__ import annotations

import cv2
import numpy as np

from pose3d_nb.detectors.mediapipe_pose import BLAZEPOSE_TO_COCO
from pose3d_nb.skeleton import COCO

GREY = (128, 128, 128)
"""The fill: the middle of the network's input range, no edges of its own but the outline."""

LIMB_WIDTH = 0.35
"""A limb's painted width, as a share of that person's breadth (``paint_over``)."""

HEAD_RADIUS = 0.6
"""The head's painted radius, as a share of the breadth."""

TORSO_BREADTH = 0.5
"""A body's breadth is its shoulder width, but at least this share of its torso's length:
seen side-on, its shoulders are no measure of its size."""

_TORSO = [11, 12, 24, 23]  # BlazePose shoulders and hips, in order around the torso


MIN_VISIBILITY = 0.5
"""Only parts the network saw (both ends' visibility at least this) are painted: a person
behind another has their hidden joints guessed on the front person's body."""


def paint_over(image: np.ndarray, bodies: list[np.ndarray]) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) uint8 with the seen parts of each body in ``bodies``
    painted grey: the torso filled, each COCO limb a thick line, the head a disc. Sizes follow
    each body's width: its shoulders, or half its torso's length for someone seen side-on (at
    least 20 px).

    ``bodies``: (33, 4) BlazePose landmarks each (x, y pixels, z, visibility); a (33, 2) body
    counts as seen everywhere; a point that is not finite counts as unseen."""
    out = image.copy()
    for body in bodies:
        points = np.asarray(body, np.float64)
        xy = np.nan_to_num(points[:, :2])
        seen = np.isfinite(points[:, :2]).all(axis=1)
        if points.shape[1] >= 4:
            seen &= points[:, 3] >= MIN_VISIBILITY
        torso = float(np.linalg.norm(xy[[11, 12]].mean(axis=0) - xy[[23, 24]].mean(axis=0)))
        breadth = max(float(np.linalg.norm(xy[11] - xy[12])), TORSO_BREADTH * torso, 20.0)
        width = max(int(LIMB_WIDTH * breadth), 6)
        joints, joint_seen = xy[BLAZEPOSE_TO_COCO].round().astype(np.int32), seen[BLAZEPOSE_TO_COCO]
        for parent, child in COCO.bones:
            if joint_seen[parent] and joint_seen[child]:
                cv2.line(out, tuple(map(int, joints[parent])), tuple(map(int, joints[child])), GREY, width)
        if seen[_TORSO].all():  # the hull: labels swapped on one side would draw a bow tie
            cv2.fillConvexPoly(out, cv2.convexHull(xy[_TORSO].round().astype(np.int32)), GREY)
        if seen[:11].mean() >= 0.5:
            head = xy[:11][seen[:11]].mean(axis=0).round().astype(int)
            cv2.circle(out, (int(head[0]), int(head[1])), int(HEAD_RADIUS * breadth), GREY, -1)
    return out
