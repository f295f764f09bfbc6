"""Safe loading of VideoPose3D checkpoints.

The original training script saves ``{'epoch', 'lr', 'random_state', 'optimizer', 'model_pos'}``
where ``random_state`` is a pickled ``numpy.random.RandomState``. ``torch.load`` with
``weights_only=True`` refuses that; falling back to full unpickling would let a downloaded file run
arbitrary code. Instead we keep ``weights_only=True`` and allow exactly the few numpy globals those
files contain, nothing else.
"""

from __future__ import annotations

import _codecs
import collections
import json
import pickle
import re
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.lifting.keypoints import input_columns
from pose3d_nb.lifting.model import Architecture, TemporalModel
from pose3d_nb.skeleton import NUM_JOINTS


class CheckpointError(Pose3DValueError):
    """A checkpoint file that cannot be used, with a message saying why and what to do."""


def _numpy_globals() -> list:
    """The globals numpy 1.x wrote when pickling a RandomState (the original checkpoints)."""
    allowed: list = [
        np.random.__dict__["__RandomState_ctor"],
        np.random.RandomState,
        np.ndarray,
        np.dtype,
        type(np.dtype(np.uint32)),
        _codecs.encode,
    ]
    # numpy 2 moved numpy.core to numpy._core; the pickle still names the old path.
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct
    allowed.append((_reconstruct, "numpy.core.multiarray._reconstruct"))
    allowed.append((_reconstruct, "numpy._core.multiarray._reconstruct"))
    return allowed


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint file without executing pickled code.

    Returns the raw dictionary. Raises ``CheckpointError`` for a missing, truncated or
    non-PyTorch file, and for any pickled object outside the allow-list.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint not found: {path}. Put the file in model/ "
            "or run `pose3d models` to see how to get it."
        )
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, KeyError, IndexError) as exc:
        # Bytes that are not a pickle at all ("junk") fail inside torch's unpickler as KeyError or
        # IndexError, which went up as a traceback.
        names = re.findall(r"GLOBAL ([\w.]+)", str(exc)) if isinstance(exc, pickle.UnpicklingError) else []
        if not names:
            raise CheckpointError(
                f"cannot read {path} as a PyTorch checkpoint (unreadable pickle data). The file may be "
                "truncated or not a checkpoint; download it again (`pose3d models fetch NAME`)."
            ) from None
        what = f" ({', '.join(sorted(set(names)))})"
        raise CheckpointError(
            f"refusing to load {path}: it contains pickled Python objects outside the allow-list{what}. "
            "A VideoPose3D checkpoint only holds tensors, optimizer state and a numpy RandomState; "
            "anything else could run code on load. Re-save the weights as a plain state_dict if you trust it."
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        # An empty file raises EOFError with no message: say so rather than index an empty list.
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else ("the file is empty" if path.stat().st_size == 0 else "no detail")
        raise CheckpointError(
            f"cannot read {path} as a PyTorch checkpoint ({type(exc).__name__}: {reason}). "
            "The file may be truncated or not a checkpoint; download it again (`pose3d models fetch NAME`)."
        ) from None
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path} holds a {type(data).__name__}, expected a dict with 'model_pos'")
    return dict(data)


def extract_state_dict(data: Mapping, key: str = "model_pos") -> dict[str, torch.Tensor]:
    """The model weights in a checkpoint: ``data[key]``, or ``data`` itself if it is a bare state_dict."""
    if key in data:
        state = data[key]
    elif data and all(isinstance(v, torch.Tensor) for v in data.values()):
        state = data
    else:
        raise CheckpointError(
            f"no '{key}' entry in the checkpoint (found keys: {sorted(map(str, data))}); "
            "expected a file written by VideoPose3D's run.py"
        )
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"'{key}' is not a state_dict of tensors")
    return dict(state)


def infer_architecture(state: Mapping[str, torch.Tensor], causal: bool = False) -> Architecture:
    """Filter widths, channels and joint counts from a state_dict's tensor shapes.

    ``causal`` is not stored in the weights (the same weights run either way), so it is passed in.
    """
    for name in ("expand_conv.weight", "shrink.weight"):
        if name not in state:
            raise CheckpointError(
                f"not a VideoPose3D temporal model: missing {name!r} "
                f"(has {len(state)} tensors, e.g. {sorted(state)[:5]})"
            )
    # Every convolution's shape is read below (or compared by describe_mismatch): one of the
    # wrong rank unpacked or indexed into a ValueError / IndexError traceback.
    shapes = {name: _conv_weight_shape(name, tensor) for name, tensor in state.items()
              if _CONV_WEIGHT.fullmatch(name)}
    channels, in_flat, first_width = shapes["expand_conv.weight"]
    if in_flat % 2:
        raise CheckpointError(f"expand_conv takes {in_flat} input features; expected 2 per joint")
    widths = [first_width]
    level = 0
    while f"layers_conv.{2 * level}.weight" in shapes:
        widths.append(shapes[f"layers_conv.{2 * level}.weight"][2])
        level += 1
    return Architecture(
        filter_widths=tuple(widths),
        channels=channels,
        num_joints_in=in_flat // 2,
        in_features=2,
        num_joints_out=shapes["shrink.weight"][0] // 3,
        causal=causal,
    )


#: The convolution weights of a VideoPose3D temporal model (each (out, in, filter width)).
_CONV_WEIGHT = re.compile(r"(expand_conv|layers_conv\.\d+|shrink)\.weight")


def _conv_weight_shape(name: str, tensor: torch.Tensor) -> tuple[int, int, int]:
    """(out channels, in channels, filter width) of the 1-D convolution weight ``name``.

    Raises ``CheckpointError`` naming the tensor and its shape unless it has 3 dimensions of
    at least 1 each (a damaged file, or a model that is no VideoPose3D temporal model).
    """
    shape = tuple(int(size) for size in tensor.shape)
    if len(shape) != 3 or min(shape) < 1:
        raise CheckpointError(
            f"checkpoint tensor {name} has shape {shape}; a VideoPose3D convolution weight has 3 "
            "dimensions (out channels, in channels, filter width), each at least 1: the file is "
            "damaged or not a VideoPose3D temporal model"
        )
    return shape


def describe_mismatch(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> list[str]:
    """Human-readable differences between a model's state_dict and ``state`` (empty if they match)."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    problems = [
        f"{k}: checkpoint {found[k]} vs model {expected[k]}"
        for k in expected
        if k in found and found[k] != expected[k]
    ]
    problems += [f"missing {k} {expected[k]}" for k in expected if k not in found]
    problems += [f"unexpected {k} {found[k]}" for k in found if k not in expected]
    return problems


def build_model(
    state: Mapping[str, torch.Tensor],
    causal: bool = False,
    expected: Architecture | None = None,
) -> TemporalModel:
    """A ``TemporalModel`` in eval mode holding ``state``.

    ``expected``: if given, the architecture the caller needs; a checkpoint of any other
    architecture raises ``CheckpointError`` listing each mismatching name and shape.
    """
    arch = expected if expected is not None else infer_architecture(state, causal=causal)
    try:
        input_columns(arch.num_joints_in)
        fits = arch.num_joints_out == NUM_JOINTS
    except ValueError:
        fits = False
    if not fits:
        raise CheckpointError(
            f"checkpoint maps {arch.num_joints_in} 2D joints to {arch.num_joints_out} 3D joints; pose3d_nb "
            f"needs {NUM_JOINTS} COCO keypoints (or the 13 without eyes and ears) in and {NUM_JOINTS} "
            "Human3.6M joints out (use pretrained_h36m_detectron_coco.bin or a model trained like it)"
        )
    model = TemporalModel(arch)
    problems = describe_mismatch(model, state)
    if problems:
        shown = "\n  ".join(problems[:40])
        more = f"\n  ... and {len(problems) - 40} more" if len(problems) > 40 else ""
        raise CheckpointError(
            f"checkpoint does not fit a VideoPose3D model with filter widths {list(arch.filter_widths)} "
            f"and {arch.channels} channels:\n  {shown}{more}"
        )
    model.load_state_dict(state, strict=True)
    return model.eval()


_LOADED: collections.OrderedDict[tuple, TemporalModel] = collections.OrderedDict()
_LOADED_LOCK = threading.Lock()
_LOADED_MAX = 4


def load_model(path: str | Path, causal: bool = False, expected: Architecture | None = None) -> TemporalModel:
    """Read ``path`` safely and build the model it holds (see ``build_model``).

    The model is in eval mode and only run for inference, so the same file (unchanged on disk)
    gives the same model object again: the engine makes a lifter per person in view, and each
    would otherwise read and build the checkpoint on the lift thread.
    """
    path = Path(path)
    file = _file_key(path)
    key = None if file is None else (*file, causal, expected)
    with _LOADED_LOCK:
        if key is not None and key in _LOADED:
            _LOADED.move_to_end(key)
            return _LOADED[key]
    raw = read_checkpoint(path)
    if file is not None:  # the lifter asks next (``trained_zoom_height``): no second read
        _ZOOM_HEIGHTS[file] = _zoom_height_in(raw)
    model = build_model(extract_state_dict(raw), causal=causal, expected=expected)
    if key is not None:
        with _LOADED_LOCK:
            _LOADED[key] = model
            while len(_LOADED) > _LOADED_MAX:
                _LOADED.popitem(last=False)
    return model


def trained_zoom_height(path: str | Path) -> float | None:
    """The person height (screen units, ``lifting.zoom``) the checkpoint at ``path`` was trained
    to see, from the ``input_zoom_height`` its meta records (``pose3d train`` since 2026-12-06), or
    None for weights trained on 2D as framed (the official checkpoints, older ``pose3d train``
    output). Such weights must be given zoomed 2D: as framed they are far off.

    Remembered per file (unchanged on disk), and noted by ``load_model`` when it reads the file:
    the engine makes a lifter per person in view, and an official checkpoint is tens of megabytes
    to read."""
    file = _file_key(Path(path))
    if file is not None and file in _ZOOM_HEIGHTS:
        return _ZOOM_HEIGHTS[file]
    height = _zoom_height_in(read_checkpoint(path))
    if file is not None:
        _ZOOM_HEIGHTS[file] = height
    return height


def _zoom_height_in(raw: dict) -> float | None:
    """``input_zoom_height`` from a read checkpoint's meta, or None."""
    meta = raw.get("meta")
    try:
        height = json.loads(meta).get("input_zoom_height") if isinstance(meta, str) else None
    except (ValueError, AttributeError):
        return None
    return float(height) if isinstance(height, (int, float)) and height > 0 else None


def _file_key(path: Path) -> tuple | None:
    """A file as it is on disk (resolved path, modification time, size), or None when it cannot
    be looked at (``read_checkpoint`` then says what is wrong)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


_ZOOM_HEIGHTS: dict[tuple, float | None] = {}
