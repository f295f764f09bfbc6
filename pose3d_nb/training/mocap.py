"""Motion-capture clips for training the lifter: loading, checking, hold-outs, sampling weights.

The training data (docs/lifter_training.md, "Data"; not in this repository): ``*.npz`` files
holding ``positions`` (N, 17, 3) float32 metres, y up, in the Human3.6M joint order, plus per-clip
``lengths``, ``fps`` and ``names``. Files are read with ``allow_pickle=False``: nothing in them is executed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.skeleton import NUM_JOINTS

# Clips never trained on (held out for validation), by file stem and a pattern on the clip name:
# CMU motion prediction keeps its source's own test split; ReActIdle holds out two whole subjects;
# CMU subject 131 and DeepMimic hold out one clip each of a motion that also occurs in training.
HELD_OUT: dict[str, str] = {
    "cmu_motionpred_dmgnn": r"^test/",
    "reactidle_mit": r"/01[45]_",
    "cmu131_bvh11": r"^131_03",
    "deepmimic_pybullet": r"(spinkick|dance_b)",
}
# ReActIdle is half the frames and only idle standing: its clips are sampled at this weight.
DATASET_WEIGHT: dict[str, float] = {"reactidle_mit": 0.25}
# Files that may be evaluated on but never trained on (no licence for shipped weights).
EVAL_ONLY_DIR = "eval_only"


class MocapDataError(Pose3DValueError):
    """Training data that cannot be used, with what is wrong and where."""


@dataclass(frozen=True)
class Clip:
    """One continuous take: positions (T, 17, 3) metres, y up; fps its native frame rate."""

    positions: np.ndarray
    fps: float
    name: str
    dataset: str
    held_out: bool


def _check_positions(positions: np.ndarray, where: str) -> np.ndarray:
    if positions.ndim != 3 or positions.shape[1:] != (NUM_JOINTS, 3):
        raise MocapDataError(
            f"{where}: positions must have shape (N, {NUM_JOINTS}, 3) (frames, Human3.6M joints, "
            f"x/y/z metres), got {positions.shape}"
        )
    if len(positions) == 0:
        raise MocapDataError(f"{where}: positions is empty (0 frames)")
    bad = ~np.isfinite(positions).all(axis=(1, 2))
    if bad.any():
        raise MocapDataError(
            f"{where}: {int(bad.sum())} frames contain NaN or inf (first at frame {int(np.argmax(bad))}); "
            "remove or fill them before training"
        )
    return positions.astype(np.float32, copy=False)


def load_file(path: str | Path, eval_only: bool = False) -> list[Clip]:
    """The clips of one ``.npz`` file; ``eval_only`` marks every clip held out.

    Raises ``MocapDataError`` naming the file for a missing key, a wrong shape, NaN or inf
    values, or lengths that do not add up to the frame count.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise MocapDataError(f"{path}: not a readable .npz without pickles ({exc})") from None
    missing = [key for key in ("positions", "lengths", "fps", "names") if key not in arrays]
    if missing:
        raise MocapDataError(f"{path}: missing {missing}; found {sorted(arrays)}")
    positions = _check_positions(np.asarray(arrays["positions"]), str(path))
    lengths = np.asarray(arrays["lengths"], dtype=np.int64)
    if lengths.sum() != len(positions) or (lengths <= 0).any():
        raise MocapDataError(f"{path}: clip lengths sum to {lengths.sum()}, positions has {len(positions)}")
    fps = np.asarray(arrays["fps"], dtype=np.float64)
    if len(fps) != len(lengths) or not (fps > 0).all():
        raise MocapDataError(f"{path}: need one positive fps per clip")
    dataset = path.stem
    pattern = HELD_OUT.get(dataset)
    clips = []
    for chunk, rate, name in zip(
        np.split(positions, np.cumsum(lengths)[:-1]), fps, arrays["names"], strict=True
    ):
        held = eval_only or (pattern is not None and re.search(pattern, str(name)) is not None)
        clips.append(Clip(chunk, float(rate), str(name), dataset, held))
    return clips


def load_mocap(directory: str | Path) -> list[Clip]:
    """Every clip under ``directory`` (``*.npz``, and ``eval_only/*.npz`` as held out)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MocapDataError(f"mocap folder not found: {directory}")
    files = sorted(directory.glob("*.npz"))
    if not files:
        raise MocapDataError(f"no .npz files in {directory}: expected the arrays of ../shared/mocap/")
    clips = [clip for path in files for clip in load_file(path)]
    for path in sorted((directory / EVAL_ONLY_DIR).glob("*.npz")):
        clips += load_file(path, eval_only=True)
    return clips


def sampling_weights(clips: list[Clip], min_frames: int) -> np.ndarray:
    """(len(clips),) probabilities of drawing each clip: its frames times its dataset's weight.

    Clips shorter than ``min_frames`` (too short for one training window) get zero.
    """
    weights = np.array(
        [
            len(c.positions) * DATASET_WEIGHT.get(c.dataset, 1.0) if len(c.positions) >= min_frames else 0.0
            for c in clips
        ]
    )
    if weights.sum() == 0:
        raise MocapDataError(f"no clip has the {min_frames} frames one training window needs")
    return weights / weights.sum()
