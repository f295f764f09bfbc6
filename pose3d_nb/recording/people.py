"""Everyone in view, as a recording row's people columns (``buffer.COLUMNS``: ``track_id``,
``people_ids``, ``people_keypoints_2d``, ``people_joints_3d``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pose3d_nb.buffer import MAX_PEOPLE, empty_column


def people_columns(detection: Any, followed_joints: np.ndarray | None = None) -> dict[str, Any]:
    """A row's people values from a detection's extras; {} when its detector tracks no one.

    The first ``MAX_PEOPLE`` people by track id are kept; ``people_joints_3d`` is each one's
    3D pose of the row's frame (``engine.everyone.EveryoneLifter.people_at``; their newest when
    that frame's is gone), NaN where there is none.
    ``followed_joints`` (17, 3), the row's own pose, fills the followed person's slot: the
    extras hold their pose of the frame before (the engine's lifter runs after the others').
    """
    extras = detection.extras
    ids = extras.get("people_ids")
    if ids is None:
        return {}
    ids = np.asarray(ids, np.int64)
    keep = np.argsort(ids, kind="stable")[:MAX_PEOPLE]
    people_ids = empty_column("people_ids", 1)[0]
    keypoints = empty_column("people_keypoints_2d", 1)[0]
    joints = empty_column("people_joints_3d", 1)[0]
    people_ids[: len(keep)] = ids[keep]
    keypoints[: len(keep)] = np.asarray(extras["people_keypoints"])[keep]
    if extras.get("people_joints_3d") is not None:
        joints[: len(keep)] = np.asarray(extras["people_joints_3d"])[keep]
    track_id = extras.get("track_id")
    if followed_joints is not None and track_id is not None:
        joints[: len(keep)][ids[keep] == int(track_id)] = followed_joints
    return {
        "track_id": -1 if track_id is None else int(track_id),
        "people_ids": people_ids,
        "people_keypoints_2d": keypoints,
        "people_joints_3d": joints,
    }
