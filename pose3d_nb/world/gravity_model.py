"""A learned estimate of the room's up, seen from the camera ("gravity-view", as in GVHMR).

A small network reads one frame's lifted pose (camera axes, root-relative, scaled to unit body
size) and its 2D keypoints (relative to the hips, scaled to unit spread, plus where the hips
are in the image) and answers the up direction in camera coordinates; a clip's estimate is the
mean of its frames'. It is trained on mocap clips the lifter was trained on, projected through
virtual cameras with known pitch, roll and field of view and lifted by the shipped lifter, so it
learns that lifter's habits (``python -m pose3d_nb.world.gravity_training``). Inference is plain
numpy; the weights are a ``.npz`` read without pickles.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from pose3d_nb.world.gravity import unit
from pose3d_nb.world.scale import body_size

WEIGHTS = Path(__file__).resolve().parents[1] / "data" / "gravity_view.npz"
HIP_COLUMNS = (7, 8)  # left and right hip among the 13 body keypoints


def features(joints: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(T, 17, 3) camera-frame joints and (T, 13, 2) normalised keypoints -> (T, 79) float32
    network inputs (NaN rows where either is missing)."""
    joints = np.asarray(joints, np.float64)
    pose = joints - joints[:, :1]
    pose = pose / body_size(pose)[:, None, None]
    points = np.asarray(points, np.float64)
    hips = points[:, HIP_COLUMNS].mean(1)
    relative = points - hips[:, None]
    spread = np.sqrt((relative**2).sum(-1).mean(-1))
    relative = relative / spread[:, None, None]
    return np.concatenate([pose.reshape(len(pose), -1), relative.reshape(len(pose), -1), hips], 1).astype(
        np.float32
    )


@lru_cache(maxsize=1)
def load_weights(path: str = str(WEIGHTS)) -> dict[str, np.ndarray] | None:
    """The network's arrays, or None when the weights file is not there."""
    if not Path(path).is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def predict(weights: dict[str, np.ndarray], inputs: np.ndarray) -> np.ndarray:
    """(N, 79) -> (N, 3) unit up vectors (camera coordinates)."""
    x = (inputs - weights["mean"]) / weights["std"]
    layers = int(weights["layers"])
    for k in range(layers):
        # einsum, not @: a few frames at a time, BLAS's thread hand-off cost more than the
        # products (14 ms against under 1 ms per live frame on a loaded 2-core machine).
        x = np.einsum("ni,ij->nj", x, weights[f"w{k}"]) + weights[f"b{k}"]
        if k < layers - 1:
            x = np.maximum(x, 0)
    return unit(x)


def learned_up(joints: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """(T, 17, 3), (T, 13, 2) -> (3,) the mean of the frames' learned up, or None without
    weights or usable frames."""
    weights = load_weights()
    if weights is None:
        return None
    inputs = features(joints, points)
    inputs = inputs[np.isfinite(inputs).all(1)]
    if not len(inputs):
        return None
    return unit(predict(weights, inputs).mean(0))
