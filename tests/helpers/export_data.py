"""Test data and independent references for the export tests (none of it uses the writers' code).

``synthetic_session``: a person turning a full circle while walking a circle, every bone wobbling
about its own axis and changing length a little (as a per-frame lifter's bones do), with frames
without a person at the start, in the middle (held pose, as the engine records them) and at the end.
Placed in the world, as recorded since world grounding: ``joints_camera`` holds the same joints in
the axes of a level camera 1.5 m up, 3 m behind the origin (``camera_joints``).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from pose3d_nb.recording import Session
from pose3d_nb.skeleton import COCO, H36M

FPS = 30.0
INVALID = (0, 1, 50, 51, 52, 119)
BONE_LENGTH_M = {  # child joint -> a typical adult bone length
    "right_hip": 0.13, "right_knee": 0.44, "right_foot": 0.44, "left_hip": 0.13, "left_knee": 0.44,
    "left_foot": 0.44, "spine": 0.23, "neck": 0.25, "nose": 0.11, "head": 0.11, "left_shoulder": 0.15,
    "left_elbow": 0.28, "left_hand": 0.25, "right_shoulder": 0.15, "right_elbow": 0.28, "right_hand": 0.25,
}


def _rest(name: str) -> np.ndarray:
    """A T-pose bone direction, z up, facing -y, left at +x (independent of the writer's table)."""
    side = 1.0 if name.startswith("left") else -1.0
    if name.endswith(("hip", "shoulder", "elbow", "hand")):
        return np.array([side, 0.0, 0.0])
    return np.array([0.0, 0.0, -1.0 if name.endswith(("knee", "foot")) else 1.0])


def synthetic_joints(frames: int = 120, seed: int = 0) -> np.ndarray:
    """(frames, 17, 3) world metres, z up."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FPS
    turn = 2 * np.pi * t / t[-1]
    joints = np.zeros((frames, H36M.num_joints, 3))
    joints[:, 0] = np.stack([np.cos(turn), np.sin(turn), 0.95 + 0.03 * np.sin(4 * turn)], axis=1)
    yaw = Rotation.from_euler("z", (turn + np.pi / 2)[:, None])
    for parent, child in H36M.bones:
        name = H36M.joint_names[child]
        axis = rng.normal(size=3)
        angle = rng.uniform(0.4, 1.3) * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t + rng.uniform(0, 6))
        wobble = Rotation.from_rotvec(np.outer(angle, axis / np.linalg.norm(axis)))
        length = BONE_LENGTH_M[name] * (1 + 0.04 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
        joints[:, child] = joints[:, parent] + length[:, None] * (yaw * wobble).apply(_rest(name))
    # One frame with the left forearm folded straight back onto the upper arm (180 degrees).
    upper = joints[10, 12] - joints[10, 11]
    joints[10, 13] = joints[10, 12] - 0.25 * upper / np.linalg.norm(upper)
    return joints


def camera_joints(joints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) world metres, z up -> the camera's axes (x right, y down, z forward) of a level
    camera at (0, -3, 1.5) looking along +y: what a recording keeps as ``joints_camera``."""
    x, y, z = np.moveaxis(np.asarray(joints, np.float32), -1, 0)
    return np.stack([x, 1.5 - z, y + 3.0], axis=-1)


def synthetic_session(frames: int = 120) -> Session:
    """A session (see the module docstring); ``INVALID`` frames have no person."""
    joints = synthetic_joints(frames).astype(np.float32)
    valid = np.ones(frames, dtype=bool)
    valid[list(INVALID)] = False
    joints[[0, 1, 119]] = np.nan
    joints[50:53] = joints[49]  # the engine holds the last pose when nobody is seen
    keypoints = np.random.default_rng(1).uniform(0, 640, (frames, COCO.num_joints, 2)).astype(np.float32)
    keypoints[~valid] = np.nan
    scores = np.where(valid[:, None], 0.9, 0.0) * np.ones((1, COCO.num_joints), np.float32)
    return Session(
        joints_3d=joints, keypoints_2d=keypoints, scores_2d=scores.astype(np.float32),
        timestamps=np.arange(frames) / FPS, frame_index=np.arange(frames) + 7,
        valid=valid, segment=np.zeros(frames, np.int64), metadata={"fps": 12.5, "source": "synthetic"},
        joints_camera=camera_joints(joints),
    )


def bone_lengths_median(joints: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(16,) median length of each H36M bone over the valid frames."""
    parents, children = np.array(H36M.bones).T
    return np.median(np.linalg.norm(joints[valid][:, children] - joints[valid][:, parents], axis=-1), axis=0)


def normalised(joints: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(T, 17, 3) joints rebuilt from the pelvis with every bone's direction kept and its length fixed."""
    out = np.zeros_like(joints, dtype=np.float64)
    out[:, 0] = joints[:, 0]
    for k, (parent, child) in enumerate(H36M.bones):  # parents come before children
        direction = joints[:, child] - joints[:, parent]
        direction /= np.linalg.norm(direction, axis=-1)[..., None]
        out[:, child] = out[:, parent] + lengths[k] * direction
    return out


def chain_length_error(joints: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(T, 17) sum over the bones from the pelvis to each joint of |bone length - fixed length| (m):
    how far a fixed-length skeleton with the right bone directions can be from the joints."""
    out = np.zeros(joints.shape[:2])
    for k, (parent, child) in enumerate(H36M.bones):
        actual = np.linalg.norm(joints[:, child] - joints[:, parent], axis=-1)
        out[:, child] = out[:, parent] + np.abs(actual - lengths[k])
    return out


def y_up_to_z_up(points: np.ndarray) -> np.ndarray:
    """BVH/TRC y-up (x, y, z) -> the session's z-up world (x, -z, y), as Blender's importer maps it."""
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


def bvh_world_positions(path, frames: int) -> np.ndarray:
    """(frames, 17, 3) joint positions (file units, y up) by forward kinematics in ``bvhio``."""
    import bvhio

    root = bvhio.readAsHierarchy(str(path))
    by_name = {joint.Name: joint for joint, _, _ in root.layout()}
    out = np.zeros((frames, H36M.num_joints, 3))
    for frame in range(frames):
        root.loadPose(frame)
        for k, name in enumerate(H36M.joint_names):
            position = by_name[name].PositionWorld
            out[frame, k] = (position.x, position.y, position.z)
    return out
