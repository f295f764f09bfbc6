"""Exports carry the motion through the room: a synthetic walk with a jump, world-grounded (z up,
floor at z = 0, walking 1.2 m/s along x), exported and read back by independent readers (bvhio,
ezc3d, the TRC text) keeps the pelvis' path, the floor and the jump."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.export_data import bvh_world_positions, y_up_to_z_up
from test_motion import FPS, POSE

from pose3d_nb import motion
from pose3d_nb.export import export_session
from pose3d_nb.recording import Session
from pose3d_nb.skeleton import COCO, H36M

pytestmark = pytest.mark.filterwarnings("ignore:Importing PyGLM:PendingDeprecationWarning")

PELVIS = H36M.index("pelvis")
START = np.array([-2.0, 3.5, 0.0])  # where the walk starts, metres in front of the camera
JUMP_AT_S, JUMP_M = 3.0, 0.3


def walking_session() -> Session:
    """6 s moving along +x at 1.2 m/s from ``START`` with a 3 cm sway, jumping ``JUMP_M`` at
    ``JUMP_AT_S``, with half a second unseen; the engine's session layout. The body moves
    rigidly, so the BVH's fixed bones reproduce every joint and the test is about the path."""
    t = np.arange(int(6.0 * FPS)) / FPS
    s = (t - JUMP_AT_S) / 0.5
    path = np.stack([1.2 * t, 0.03 * np.sin(2 * np.pi * t),
                     np.where((s > 0) & (s < 1), 4 * JUMP_M * s * (1 - s), 0.0)], axis=1)
    joints = POSE[None] + (START + path)[:, None]
    valid = np.ones(len(t), bool)
    valid[60:75] = False
    joints[60:75] = joints[59]  # the engine holds the last pose while nobody is seen
    frames = len(t)
    return Session(
        joints_3d=joints.astype(np.float32),
        keypoints_2d=np.zeros((frames, COCO.num_joints, 2), np.float32),
        scores_2d=np.full((frames, COCO.num_joints), 0.9, np.float32),
        timestamps=t, frame_index=np.arange(frames), valid=valid, segment=np.zeros(frames, np.int64),
        metadata={"fps": FPS, "source": "synthetic walk"},
    )


@pytest.fixture(scope="module")
def session() -> Session:
    return walking_session()


def _check_motion(read: np.ndarray, session: Session, atol: float) -> None:
    """``read``: (T, 17, 3) z-up metres read back from a file; valid frames must be the session's."""
    valid = session.valid
    truth = session.joints_3d.astype(np.float64)
    np.testing.assert_allclose(read[valid, PELVIS], truth[valid, PELVIS], atol=atol)
    # The path through the room, the floor and the jump, measured on what was read back.
    travelled = read[valid, PELVIS, 0].max() - read[valid, PELVIS, 0].min()
    assert travelled == pytest.approx(1.2 * (len(valid) - 1) / FPS, abs=0.05)
    speed = motion.walking_speed(np.where(valid[:, None, None], read, np.nan), session.timestamps)
    assert np.nanmedian(speed) == pytest.approx(1.2, abs=0.02)
    feet = read[valid][:, list(motion.ANKLES), 2]
    assert np.median(feet.min(axis=1)) == pytest.approx(0.08, abs=atol + 1e-3)  # ankles over the floor
    (jump,) = motion.find_jumps(np.where(valid[:, None, None], read, np.nan), session.timestamps)
    assert jump.feet_rise_m == pytest.approx(JUMP_M, abs=0.01)
    assert JUMP_AT_S < jump.peak_s < JUMP_AT_S + 0.5


def test_bvh_root_translation_follows_the_pelvis_through_the_room(session, tmp_path):
    import bvhio

    path = export_session(session, "bvh", tmp_path / "walk.bvh")
    root = bvhio.readAsBvh(str(path)).Root
    assert root.Name == "pelvis" and root.Channels[:3] == ["Xposition", "Yposition", "Zposition"]
    read = y_up_to_z_up(bvh_world_positions(path, len(session)))
    print(f"\nBVH pelvis path: x {read[0, PELVIS, 0]:.3f} -> {read[-1, PELVIS, 0]:.3f} m")
    _check_motion(read, session, atol=2e-6)
    # Every joint, not only the root: the bones are fixed-length and this walker's are too.
    valid = session.valid
    np.testing.assert_allclose(read[valid], session.joints_3d[valid], atol=1e-4)
    # Centimetres scale the translation with the bones.
    cm = y_up_to_z_up(bvh_world_positions(export_session(session, "bvh", tmp_path / "cm.bvh", units="cm"),
                                          len(session)))
    np.testing.assert_allclose(cm[valid, PELVIS] / 100, session.joints_3d[valid, PELVIS], atol=2e-6)


def test_c3d_points_are_in_the_world_frame(session, tmp_path):
    import ezc3d

    c3d = ezc3d.c3d(str(export_session(session, "c3d", tmp_path / "walk.c3d")))
    assert c3d["parameters"]["POINT"]["UNITS"]["value"] == ["mm"]
    points = c3d["data"]["points"][:3].transpose(2, 1, 0) / 1000  # (T, 17, 3) metres, z up as recorded
    assert np.isnan(points[~session.valid]).all()
    _check_motion(points, session, atol=1e-4)


def test_trc_markers_are_in_the_world_frame_y_up(session, tmp_path):
    path = export_session(session, "trc", tmp_path / "walk.trc")
    lines = path.read_text().splitlines()
    assert lines[2].split("\t")[4] == "m"
    rows = [line.split("\t") for line in lines[5:]]
    assert len(rows) == len(session)
    read = np.full((len(session), H36M.num_joints, 3), np.nan)
    for row in rows:
        values = row[2:2 + 3 * H36M.num_joints]
        if all(values):
            read[int(row[0]) - 1] = np.array(values, float).reshape(-1, 3)
    assert np.isnan(read[~session.valid]).all()
    _check_motion(y_up_to_z_up(read), session, atol=1e-6)
