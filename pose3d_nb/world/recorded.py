"""A finished recording of one clip (a video file, a camera's run), placed again from its whole clip.

Live, the world step may use only past frames (``WorldTracker``: a causal depth filter, the
camera settled on the first second). Once the recording of a clip is complete, every row may
use every other, as ``pose3d lift --grounded`` does: ``replace_recording`` places the
followed person's rows again with ``place_clip`` (depth smoothed both ways over 1.5 s, or a
quarter of a path shorter than 6 s; a path starts again where the person was unseen for a
second, by the rows' timestamps, as live; the camera's up and height from the whole clip,
the room's edges the live stage found), then places everyone else in that room the same way,
each on a path of their own from their 2D and size.

Chosen on held-out mocap (60 clips through random cameras (pitch -20..60, roll +-30, field of
view 40..100), seeds 41 and 43, lifted as the engine runs the shipped lifter, placed live and
then again from the rows a recording keeps): WA-MPJPE 165.5 -> 130.7 mm and 179.8 -> 132.1 mm,
root 190.8 -> 118.5 mm and 197.6 -> 125.9 mm, gravity 11.35 -> 9.65 and 11.59 -> 9.85 degrees
(``docs/world.md``). The rows' poses keep the lean the live step took out (with its up):
placing the raw lifts instead was within 1.5 mm and 0.3 degrees.

With the shipped lifter each followed person's bones are first held at their median lengths over
the clip (``lifting.bones``, as ``pose3d lift`` does offline), chosen the same way (``pose3d bench
offline-lift --seed 41`` and ``--seed 43``, whose last rows run this function): WA-MPJPE 130.7 ->
124.8 mm and 132.1 -> 129.3 mm, PA-MPJPE 67.96 -> 66.97 and 68.83 -> 67.81 mm, gravity within
0.06 degrees.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from pose3d_nb.buffer import BufferSnapshot
from pose3d_nb.lifting.bones import hold_bone_lengths
from pose3d_nb.world.frame import WorldFrame
from pose3d_nb.world.intrinsics import Intrinsics
from pose3d_nb.world.offline import place_clip
from pose3d_nb.world.scale import STATURE_PER_BODY_SIZE
from pose3d_nb.world.trajectory import LOST_AFTER_S
from pose3d_nb.world.vanishing import SceneEdges

#: Seconds without a row after which a recording's path starts anew (``_parts``): the live path's
#: own rule (``trajectory.LOST_AFTER_S``), one constant, so the two never disagree.
PAUSE_S = LOST_AFTER_S


@dataclasses.dataclass(frozen=True)
class Replaced:
    """A recording placed again. snapshot: its rows with ``joints_3d``, ``joints_camera`` and
    ``people_joints_3d`` replaced. frame: the camera's up and height from the whole clip.
    up_source: ``"scene"`` or ``"people"``. body_height_m: the followed person's height as
    placed (given, or from the lifted poses' median size). bones_held: each followed person's
    bones were set to their clip medians first."""

    snapshot: BufferSnapshot
    frame: WorldFrame
    up_source: str
    body_height_m: float
    bones_held: bool = False

    def metadata(self, live: dict) -> dict:
        """Session metadata keys for this placement; ``live``'s camera numbers kept beside them."""
        return {
            "world_placement": "whole clip",
            "bones_held": self.bones_held,
            "live_camera": {key: live.get(key) for key in
                            ("camera_pitch_deg", "camera_roll_deg", "camera_height_m", "camera_up_source")},
            "camera_pitch_deg": round(self.frame.pitch_deg, 2),
            "camera_roll_deg": round(self.frame.roll_deg, 2),
            "camera_height_m": round(float(self.frame.height), 3),
            "camera_pose_source": "estimated",
            "camera_up_source": self.up_source,
            "person_height_m": round(self.body_height_m, 3) if math.isfinite(self.body_height_m) else None,
        }


def replace_recording(
    snapshot: BufferSnapshot,
    live_frame: WorldFrame,
    intrinsics: Intrinsics,
    height: float | None = None,
    fps: float = 30.0,
    scene: SceneEdges | None = None,
    rows: np.ndarray | None = None,
    hold_bones: bool = False,
) -> Replaced | None:
    """A complete recording of one clip (a video file, a camera's run), placed again from its whole
    clip.

    snapshot: the recording (``joints_camera`` as the live world step placed them, lean already
    taken out; ``keypoints_2d``, ``scores_2d``, ``valid``, ``track_id``, the people columns).
    rows: (T,) bool, the clip's rows (one source segment); None: all of them. Other rows are
    returned unchanged. live_frame: the camera the live step settled on for the clip (everyone
    else's rows are moved from it). intrinsics: the lens the live step used; height: the
    person's height if given (metres); fps: the clip's frame rate, used where the rows' times do
    not give their own rate (``_row_rate``); scene: the room's edges the
    live step found, if any. hold_bones: set each followed person's bones to their median
    lengths over their rows in the clip before placing (``lifting.bones``; chosen for the shipped
    lifter). Returns None when fewer than two of the rows can be placed, or when the whole clip
    would leave rows without a pose that live placed.

    Each followed track (a click may change whom the rows follow) is placed on its own path, in
    the camera estimated from the track with the most rows. Rows without a person hold the last
    placed pose, as live. Everyone else (``people_joints_3d``) is placed again from their own
    rows in that camera (``_place_others``); a row without their 2D, or one that cannot be
    solved, keeps its live position relative to the camera, moved into the new world frame.
    """
    clip = np.ones(len(snapshot), bool) if rows is None else np.asarray(rows, bool)
    joints_camera = np.asarray(snapshot.joints_camera, np.float64)[clip]
    placeable = np.asarray(snapshot.valid, bool)[clip] & np.isfinite(joints_camera).all((1, 2))
    if placeable.sum() < 2:
        return None
    tracks = np.asarray(snapshot.track_id, np.int64)[clip]
    times = np.asarray(snapshot.timestamps, np.float64)[clip]
    parts = _parts(times)
    fps = _row_rate(times, parts, fps)
    poses = joints_camera - joints_camera[:, :1]
    if hold_bones:  # one body per person (over all their parts): a limb no longer stretches as it turns
        for track in np.unique(tracks[placeable]):
            mine = placeable & (tracks == track)
            poses[mine] = hold_bone_lengths(poses[mine])
    keypoints, scores = snapshot.keypoints_2d[clip], snapshot.scores_2d[clip]
    world = np.full(joints_camera.shape, np.nan, np.float32)
    camera = np.full(joints_camera.shape, np.nan, np.float32)
    # The track with the most rows sets the camera; then each track's rows between two pauses
    # are placed as one path in it.
    ids, counts = np.unique(tracks[placeable], return_counts=True)
    longest = placeable & (tracks == ids[np.argmax(counts)])
    # With the rows' times: a pause splits the path here too, so the camera's height and floor
    # are not estimated from a path smoothed across it.
    first = place_clip(poses, keypoints, intrinsics, scores, longest, height=height, fps=fps, scene=scene,
                       times=times)
    frame, source, size = first.frame, first.up_source, first.body_size
    for mine in _paths(tracks, parts, placeable):
        if len(mine) == longest.sum() and longest[mine].all():  # the longest track, no pause: placed
            world[mine], camera[mine] = first.joints[mine], first.joints_camera[mine]
        else:
            world[mine], camera[mine] = _place_rows(mine, poses, keypoints, scores, intrinsics, fps, frame,
                                                    times, height)
    # A row whose translation could not be solved holds the last placed pose too, as live.
    _hold_last(world, camera, np.isfinite(world).all((1, 2)), tracks, np.asarray(snapshot.valid, bool)[clip])
    live_rows = np.isfinite(np.asarray(snapshot.joints_3d, np.float64)[clip]).all((1, 2)).sum()
    if not (np.isfinite(frame.up).all() and math.isfinite(frame.height)) \
            or np.isfinite(world).all((1, 2)).sum() < live_rows:
        return None  # the whole clip would place fewer rows than live did: keep those
    # Everyone else's live rows are in the camera as it was when they were placed (settling
    # over the first second): each is taken back to the camera frame with its own.
    live_world = np.asarray(snapshot.joints_3d, np.float64)[clip]
    placed_in, settling = _cameras_others_were_placed_in(live_world, joints_camera, live_frame)
    people = _moved(snapshot.people_joints_3d[clip], snapshot.people_ids[clip], tracks, live_frame,
                    frame, world, placeable, placed_in, settling)
    _place_others(people, snapshot.people_ids[clip], snapshot.people_keypoints_2d[clip], tracks, parts,
                  frame, intrinsics, fps, times, hold_bones, known=placed_in >= 0)
    columns = {name: np.array(column) for name, column in snapshot.columns().items()}  # copies
    columns["joints_3d"][clip], columns["joints_camera"][clip] = world, camera
    columns["people_joints_3d"][clip] = people
    return Replaced(BufferSnapshot(**columns), frame, source, size * STATURE_PER_BODY_SIZE, hold_bones)


def _place_rows(rows: np.ndarray, poses: np.ndarray, keypoints: np.ndarray, scores: np.ndarray | None,
                intrinsics: Intrinsics, fps: float, frame: WorldFrame, times: np.ndarray,
                height: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One path: ``place_clip`` on ``rows`` (ascending indices into the (T, ...) ``poses``,
    ``keypoints``, ``scores`` and ``times``) in the known ``frame``, over the span of those rows
    only, so a clip with many pauses or passers-by costs its rows once, not its length once per
    path (a Stop waits for this). Returns the (len(rows), 17, 3) world and camera joints of
    ``rows``."""
    span, at = slice(rows[0], rows[-1] + 1), rows - rows[0]
    path = np.zeros(at[-1] + 1, bool)
    path[at] = True
    placed = place_clip(poses[span], keypoints[span], intrinsics, None if scores is None else scores[span],
                        path, height=height, fps=fps, frame=frame, times=times[span])
    return placed.joints[at], placed.joints_camera[at]


def _row_rate(timestamps: np.ndarray, parts: np.ndarray, fps: float) -> float:
    """Rows per second between pauses: the smoothing's frame rate. A live source drops frames
    (the engine keeps the newest), so its rows come slower than the camera's frame rate, and a
    window of 1.5 s holds fewer of them. ``fps`` when the times do not say (NaN, one row)."""
    rows = seconds = 0.0
    for part in np.unique(parts):
        times = timestamps[(parts == part) & np.isfinite(timestamps)]
        if len(times) >= 2 and times[-1] > times[0]:
            rows, seconds = rows + len(times) - 1, seconds + float(times[-1] - times[0])
    return rows / seconds if seconds > 0 else fps


def _paths(tracks: np.ndarray, parts: np.ndarray, placeable: np.ndarray) -> list[np.ndarray]:
    """(T,) track ids, ``_parts`` numbers and rows to place -> each (track, part)'s placeable
    row indices (ascending), one array per path."""
    rows = np.flatnonzero(placeable)
    _, path = np.unique(np.stack([tracks[rows], parts[rows]], 1), axis=0, return_inverse=True)
    path = path.ravel()
    order = np.argsort(path, kind="stable")
    return np.split(rows[order], np.flatnonzero(np.diff(path[order])) + 1)


def _parts(timestamps: np.ndarray) -> np.ndarray:
    """(T,) seconds -> (T,) int: rows between two pauses of more than ``PAUSE_S`` (a hidden browser
    tab, a camera that stalled) share a number. A path is not smoothed across a pause: the
    person may have moved anywhere meanwhile."""
    gaps = np.diff(timestamps) >= PAUSE_S  # as the live path's test; NaN times (not recorded) never split
    return np.concatenate([[0], np.cumsum(gaps)])


def _place_others(people: np.ndarray, people_ids: np.ndarray, people_keypoints: np.ndarray,
                  tracks: np.ndarray, parts: np.ndarray, frame: WorldFrame, intrinsics: Intrinsics,
                  fps: float, times: np.ndarray, hold_bones: bool, known: np.ndarray) -> None:
    """Everyone but the followed person placed again from their own whole clip, in place.

    people: (T, P, 17, 3) world rows, already moved into ``frame``; people_ids: (T, P);
    people_keypoints: (T, P, 17, 2) pixels; parts: (T,) the rows between pauses (``_parts``);
    times: (T,) the rows' seconds.
    Each id's rows where it is not the followed track (one body over them all) get a path of its
    own between two pauses, from its 2D and size (``place_clip`` in the known ``frame``; the
    recording keeps no per-keypoint scores for them, which changed nothing on held-out clips).
    known: (T,) rows whose live camera is known (``_cameras_others_were_placed_in``); the others
    would lend the path a pose placed in a camera not known. Rows it cannot place keep their
    moved live pose.
    """
    others = (people_ids >= 0) & (people_ids != tracks[:, None]) & np.isfinite(people).all((2, 3))
    others &= np.asarray(known, bool)[:, None]
    for person in np.unique(people_ids[others]):
        rows, slots = np.nonzero(others & (people_ids == person))
        if len(rows) < 2:
            continue
        # Only the span of rows with this person: a long clip with many passers-by costs the rows
        # they are in, not the clip's length once per person.
        first, span = rows[0], rows[-1] - rows[0] + 1
        at = rows - first
        slot_at = np.full(span, -1)
        slot_at[at] = slots
        poses = np.full((span, *people.shape[2:]), np.nan)
        keypoints = np.full((span, *people_keypoints.shape[2:]), np.nan)
        poses[at] = frame.to_camera(people[rows, slots])
        poses[at] -= poses[at, :1]
        keypoints[at] = people_keypoints[rows, slots]
        if hold_bones:
            poses[at] = hold_bone_lengths(poses[at])
        for part in np.unique(parts[rows]):
            mine = at[parts[rows] == part]
            if len(mine) < 2:
                continue
            placed, _ = _place_rows(mine, poses, keypoints, None, intrinsics, fps, frame,
                                    times[first:first + span])
            solved = np.isfinite(placed).all((1, 2))
            people[first + mine[solved], slot_at[mine[solved]]] = placed[solved]


def _hold_last(world: np.ndarray, camera: np.ndarray, placed: np.ndarray, tracks: np.ndarray,
               valid: np.ndarray) -> None:
    """Rows without a placed pose take the last placed one of the person followed (in place), as
    live (``WorldStage``): rows before the first stay NaN, and so do a newly followed person's
    (a valid row of another track: a click) until they are placed, not the previous person's."""
    last = current = None
    for row in range(len(world)):
        if valid[row] and tracks[row] != current:
            current, last = tracks[row], None
        if placed[row]:
            last = row
        elif last is not None:
            world[row], camera[row] = world[last], camera[last]


def _cameras_others_were_placed_in(world: np.ndarray, camera: np.ndarray, live: WorldFrame
                                   ) -> tuple[np.ndarray, dict[int, WorldFrame]]:
    """The live camera each row's everyone else was placed in.

    world, camera: (T, 17, 3) the followed person's live rows (``joints_3d``, ``joints_camera``).
    The engine places everyone else of a frame after the followed person of that frame (since
    2026-12-07; before, they came first, in the previous row's camera), in the camera the
    followed person's rows so far gave: until it settles (the first second) it moves with every
    row, and before the first placed row it is an assumed level one. Returns (T,) the followed
    row whose camera each row's others were placed in (the last one up to it; -1: no such row,
    the camera is not known) and, by such row, its camera where it is not ``live`` (recovered
    from that row's world and camera joints as recorded: world z = up . camera + height).
    """
    followed = np.isfinite(world).all((1, 2)) & np.isfinite(camera).all((1, 2))
    placed_in = np.maximum.accumulate(np.where(followed, np.arange(len(world)), -1)).astype(np.int64)
    other_camera = followed & (np.abs(live.to_world(camera) - world).max((1, 2), initial=0) > 1e-3)
    settling = {}
    for row in np.flatnonzero(other_camera):
        ones = np.ones((camera.shape[1], 1))
        solution = np.linalg.lstsq(np.hstack([camera[row], ones]), world[row, :, 2], rcond=None)[0]
        settling[int(row)] = WorldFrame(solution[:3] / np.linalg.norm(solution[:3]), float(solution[3]))
    return placed_in, settling


def _moved(people: np.ndarray, people_ids: np.ndarray, tracks: np.ndarray, live: WorldFrame,
           new: WorldFrame, followed: np.ndarray, placed: np.ndarray, placed_in: np.ndarray,
           settling: dict[int, WorldFrame]) -> np.ndarray:
    """(T, P, 17, 3) people poses moved from the live world frame into the new one; the followed
    person's slot (``people_ids`` equal to the row's track) takes their new pose. Rows placed
    while the live camera settled (``placed_in``, ``settling``) are moved from their own camera;
    rows whose camera is not known from ``live``, as the best guess there is."""
    camera = live.to_camera(people)  # NaN stays NaN
    for row, frame in settling.items():
        mine = placed_in == row
        camera[mine] = frame.to_camera(people[mine])
    moved = new.to_world(camera)
    track = tracks[:, None]
    mine = (np.asarray(people_ids) == track) & (track >= 0) & placed[:, None]
    moved[mine] = np.broadcast_to(followed[:, None], moved.shape)[mine]
    return moved
