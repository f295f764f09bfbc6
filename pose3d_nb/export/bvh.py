"""BVH motion capture file: a fixed skeleton and per-frame joint rotations, for Blender & co.

- Skeleton: the Human3.6M joints (``pose3d_nb.skeleton.H36M``, same names), each bone with a
  fixed length, the session's median over valid frames. The rest pose is a T-pose facing +z.
  Four connector joints with zero offset (``left_pelvis``, ``right_pelvis`` at the pelvis and
  ``left_clavicle``, ``right_clavicle`` at the neck) carry the hips and shoulders, so every bone's
  direction is reproduced exactly even though the pelvis and neck have three bones each.
  The leaf joints (feet, hands, head) have an end site a quarter of their bone long.
- Axes: y up, person facing +z in the rest pose, left at +x: the session's z-up world mapped by
  ``(x, y, z) -> (x, z, -y)``. Blender's importer (forward -Z, up Y, its defaults) maps that back,
  so in Blender the person stands on the floor (z = 0), upright, where the session had them.
- Channels: the root has ``Xposition Yposition Zposition`` (the pelvis) and every joint
  ``Zrotation Xrotation Yrotation``, degrees, the usual BVH order (rotation = Rz Rx Ry).
- Units: metres (default; Blender imports them at scale 1) or centimetres.
- Rotations: solved from the joint positions with ``scipy.spatial.transform``. The pelvis and the
  neck take their full orientation from the spine/head direction and the hip/shoulder line; every
  other joint turns its bone by the smallest rotation from its parent's frame (no twist about the
  bone, which positions cannot tell). Angles are unwrapped over time, so they never jump 360 degrees.
- Frames without a person hold the previous pose (the first valid pose before any) and are listed
  in a sidecar JSON, ``NAME.invalid_frames.json`` beside ``NAME.bvh``. So are frames with a bone
  shorter than ``MIN_BONE_M`` (e.g. every joint at one point): no rotation turns a bone of no
  length, so the BVH cannot pose them.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from pose3d_nb.export.data import ExportData, ExportError, to_y_up, unit_scale
from pose3d_nb.export.formats import FORMATS
from pose3d_nb.recording import atomic_file
from pose3d_nb.skeleton import H36M, H36M_PARENTS

UNITS = FORMATS["bvh"].units  # the registry entry is where the units are declared
EULER_ORDER = "ZXY"  # intrinsic: the BVH channel order Zrotation Xrotation Yrotation
CONNECTORS = {1: "right_pelvis", 4: "left_pelvis", 11: "left_clavicle", 14: "right_clavicle"}
# Lateral (left minus right) joints that fix the twist of the pelvis and of the neck.
TWIST = {0: (4, 1), 8: (11, 14)}
END_SITE_FRACTION = 0.25
# A bone shorter than this (metres) has no direction to turn to: float32 joints a few metres from
# the origin are only stored to about a micrometre.
MIN_BONE_M = 1e-6


def _rest_direction_z_up(name: str) -> tuple[float, float, float]:
    """Unit direction (z-up world) of the bone ending at joint ``name`` in the T-pose facing -y."""
    if any(part in name for part in ("hip", "shoulder", "elbow", "hand")):
        return (1.0, 0.0, 0.0) if name.startswith("left") else (-1.0, 0.0, 0.0)
    if "knee" in name or "foot" in name:
        return (0.0, 0.0, -1.0)
    return (0.0, 0.0, 1.0)


@dataclass(frozen=True)
class Node:
    """One BVH joint. ``bone``: the H36M (parent, child) joints its offset spans, None for the root
    and connectors (zero offset); ``joint``: the H36M joint at its head, None for connectors;
    ``rest``: unit offset direction, y-up (zero for root and connectors)."""

    name: str
    parent: int
    joint: int | None
    bone: tuple[int, int] | None
    rest: np.ndarray


def build_nodes() -> list[Node]:
    """The BVH joints in file (depth-first) order; node 0 is the pelvis, the root."""
    nodes: list[Node] = []
    zero = np.zeros(3)

    def add(joint: int, parent_node: int) -> None:
        parent_joint = H36M_PARENTS[joint]
        if joint in CONNECTORS:
            nodes.append(Node(CONNECTORS[joint], parent_node, None, None, zero))
            parent_node = len(nodes) - 1
        rest = to_y_up(np.array(_rest_direction_z_up(H36M.joint_names[joint]))) if joint else zero
        bone = (parent_joint, joint) if parent_joint >= 0 else None
        nodes.append(Node(H36M.joint_names[joint], parent_node, joint, bone, rest))
        me = len(nodes) - 1
        for child in (c for c, p in enumerate(H36M_PARENTS) if p == joint):
            add(child, me)

    add(0, -1)
    return nodes


def bone_lengths(joints: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(16,) median length of each ``H36M.bones`` bone over the valid frames of (T, 17, 3) joints."""
    parents, children = np.array(H36M.bones).T
    lengths = np.linalg.norm(joints[:, children] - joints[:, parents], axis=-1)
    return np.median(lengths[np.asarray(valid, dtype=bool)], axis=0)


def _unit(vectors: np.ndarray) -> np.ndarray:
    """(..., 3) vectors scaled to length 1; zero vectors stay zero."""
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norm, out=np.zeros_like(vectors), where=norm > 1e-12)


def _any_perpendicular(vectors: np.ndarray) -> np.ndarray:
    """(N, 3) unit vectors perpendicular to (N, 3) unit ``vectors``."""
    helper = np.where(np.abs(vectors[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    return _unit(np.cross(vectors, helper))


def swing(rest: np.ndarray, target: np.ndarray) -> Rotation:
    """Smallest rotations turning unit (3,) ``rest`` onto each of (N, 3) ``target`` directions."""
    target = _unit(target)
    axis = np.cross(rest, target)
    sine, cosine = np.linalg.norm(axis, axis=-1), target @ rest
    axis = np.where((sine < 1e-9)[:, None], _any_perpendicular(np.broadcast_to(rest, target.shape)), axis)
    return Rotation.from_rotvec(_unit(axis) * np.arctan2(sine, cosine)[:, None])


def _basis(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """(N, 3, 3) right-handed orthonormal columns: primary, secondary made perpendicular, their cross."""
    e1 = _unit(primary)
    e2 = _unit(secondary - np.sum(secondary * e1, axis=-1, keepdims=True) * e1)
    degenerate = np.linalg.norm(e2, axis=-1) < 0.5
    e2[degenerate] = _any_perpendicular(e1[degenerate])
    return np.stack([e1, e2, np.cross(e1, e2)], axis=-1)


def frame_rotation(
    rest_primary: np.ndarray, rest_secondary: np.ndarray, primary: np.ndarray, secondary: np.ndarray
) -> Rotation:
    """Rotations taking the rest frame of (3,) vectors onto each frame of (N, 3) observed vectors.

    The primary direction is matched exactly, the secondary as closely as it can be.
    """
    n = len(primary)
    rest = _basis(np.broadcast_to(rest_primary, (n, 3)), np.broadcast_to(rest_secondary, (n, 3)))
    return Rotation.from_matrix(_basis(primary, secondary) @ np.transpose(rest, (0, 2, 1)))


def _children(nodes: list[Node]) -> dict[int, list[int]]:
    """Node index -> indices of its child nodes, in file order."""
    return {i: [k for k, node in enumerate(nodes) if node.parent == i] for i in range(len(nodes))}


def solve_rotations(nodes: list[Node], points: np.ndarray) -> list[Rotation]:
    """Local rotation of each node (N frames each) making FK follow (N, 17, 3) y-up ``points``.

    Each bone's direction is reproduced exactly (given its fixed length, the positions then match
    the bone-length-normalised joints); leaves get the identity.
    """
    n = len(points)
    children = _children(nodes)
    world: list[Rotation] = []
    local: list[Rotation] = []
    for i, node in enumerate(nodes):
        parent = world[node.parent] if node.parent >= 0 else Rotation.identity(n)
        aim = next((nodes[k] for k in children[i] if nodes[k].bone is not None), None)
        if aim is None:  # a leaf
            rotation = parent
        elif node.joint in TWIST:
            left, right = TWIST[node.joint]
            target = points[:, aim.bone[1]] - points[:, aim.bone[0]]
            lateral = points[:, left] - points[:, right]
            rotation = frame_rotation(aim.rest, np.array([1.0, 0.0, 0.0]), target, lateral)
        else:
            target = points[:, aim.bone[1]] - points[:, aim.bone[0]]
            rotation = parent * swing(aim.rest, parent.inv().apply(target))
        world.append(rotation)
        local.append(parent.inv() * rotation)
    return local


def _hold_previous(valid: np.ndarray) -> np.ndarray:
    """(T,) row to show for each frame: itself if valid, else the last valid one (first if none yet)."""
    rows = np.where(valid, np.arange(len(valid)), -1)
    held = np.maximum.accumulate(rows)
    return np.where(held < 0, np.flatnonzero(valid)[0], held)


def motion_channels(nodes: list[Node], data: ExportData, scale: float) -> np.ndarray:
    """(T, 3 + 3 * len(nodes)) channel values: root position (units) then ZXY Euler degrees."""
    points = to_y_up(data.joints[data.valid])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Gimbal lock detected")
        angles = [r.as_euler(EULER_ORDER, degrees=True) for r in solve_rotations(nodes, points)]
    channels = np.concatenate([points[:, 0] * scale, *angles], axis=1) + 0.0  # no -0
    channels[:, 3:] = np.unwrap(channels[:, 3:], axis=0, period=360.0)
    row_of_valid = np.cumsum(data.valid) - 1  # frame -> its row in ``channels`` (valid frames only)
    return channels[row_of_valid[_hold_previous(data.valid)]]


def hierarchy_text(nodes: list[Node], lengths: np.ndarray, scale: float) -> str:
    """The HIERARCHY section for ``nodes`` with (16,) metre ``lengths`` of ``H36M.bones``."""
    length_of = {bone: lengths[k] for k, bone in enumerate(H36M.bones)}
    children = _children(nodes)
    lines = ["HIERARCHY"]

    def emit(i: int, depth: int) -> None:
        node, pad = nodes[i], "  " * depth
        offset = node.rest * length_of[node.bone] * scale + 0.0 if node.bone else np.zeros(3)  # no -0
        lines.append(f"{pad}{'ROOT' if node.parent < 0 else 'JOINT'} {node.name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}")
        position = "Xposition Yposition Zposition " if node.parent < 0 else ""
        lines.append(f"{pad}  CHANNELS {6 if position else 3} {position}Zrotation Xrotation Yrotation")
        for k in children[i]:
            emit(k, depth + 1)
        if not children[i]:
            end = _end_site(node) * length_of[node.bone] * scale * END_SITE_FRACTION + 0.0
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {end[0]:.6f} {end[1]:.6f} "
                          f"{end[2]:.6f}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    return "\n".join(lines) + "\n"


def _end_site(node: Node) -> np.ndarray:
    """Unit end-site direction of a leaf (y-up): feet point forward (+z), others along their bone."""
    return np.array([0.0, 0.0, 1.0]) if "foot" in node.name else node.rest


def poseable(data: ExportData) -> np.ndarray:
    """(T,) bool: valid frames whose every bone is at least ``MIN_BONE_M`` long."""
    parents, children = np.array(H36M.bones).T
    with np.errstate(invalid="ignore"):  # NaN joints of invalid frames
        lengths = np.linalg.norm(data.joints[:, children] - data.joints[:, parents], axis=-1)
        return data.valid & (lengths >= MIN_BONE_M).all(axis=1)


def bvh_text(data: ExportData, units: str = "m") -> str:
    """The whole BVH file for ``data`` (see the module docstring); ``data.valid`` must be ``poseable``."""
    scale = unit_scale(units, UNITS)
    nodes = build_nodes()
    channels = motion_channels(nodes, data, scale)
    motion = io.StringIO()
    motion.write(f"MOTION\nFrames: {len(channels)}\nFrame Time: {1.0 / data.fps:.8f}\n")
    np.savetxt(motion, channels, fmt="%.6f", delimiter=" ")
    return hierarchy_text(nodes, bone_lengths(data.joints, data.valid), scale) + motion.getvalue()


def sidecar_path(path: str | Path) -> Path:
    """Where the invalid-frame list of the BVH at ``path`` goes: ``NAME.invalid_frames.json``."""
    return Path(path).with_suffix(".invalid_frames.json")


def write_bvh(path: str | Path, data: ExportData, units: str = "m") -> Path:
    """Write ``data`` as BVH at ``path`` and its invalid-frame sidecar, both atomically.

    Raises ``ExportError`` when no frame can be posed (every one without a person or with a bone
    of no length).
    """
    path = Path(path)
    posed = poseable(data)
    if not posed.any():
        raise ExportError("nothing to export as BVH: every frame with a person has a bone of zero length")
    text = bvh_text(replace(data, valid=posed), units)
    invalid = np.flatnonzero(~posed)
    sidecar = {
        "bvh": path.name,
        "note": "frames (from 0) without a person or with a bone of zero length (zero_length_bone); "
                "the BVH holds the previous valid pose there",
        "frames": invalid.tolist(),
        "zero_length_bone": np.flatnonzero(data.valid & ~posed).tolist(),
        "frame_index": data.frame_index[invalid].tolist(),
        "fps": data.fps,
    }
    with atomic_file(path) as bvh_handle, atomic_file(sidecar_path(path)) as side_handle:
        side_handle.write(json.dumps(sidecar, indent=1).encode())
        bvh_handle.write(text.encode())
    return path
