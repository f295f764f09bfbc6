"""Per-frame cost of streaming VideoPose3D against recomputing the whole window each frame."""

from __future__ import annotations

import json
import time

import numpy as np
import torch

from pose3d_nb.lifting.model import Architecture, TemporalModel
from pose3d_nb.lifting.offline import lift_normalized
from pose3d_nb.lifting.streaming import StreamingLifter


def random_model(arch: Architecture, seed: int = 0) -> TemporalModel:
    """A model with random weights and non-trivial BatchNorm statistics (same cost as trained)."""
    torch.manual_seed(seed)
    model = TemporalModel(arch)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def synthetic_keypoints(frames: int, size: tuple[int, int] = (640, 480), seed: int = 0) -> np.ndarray:
    """(frames, 17, 2) smoothly moving pixel keypoints, for timing only."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.3, 0.7, (17, 2)) * size
    phase = np.linspace(0, 6 * np.pi, frames)[:, None, None]
    return (base + 20 * np.sin(phase + rng.uniform(0, 6, (17, 2)))).astype(np.float32)


def _median_ms(samples: list[float]) -> float:
    return float(np.median(samples) * 1000)


def run(
    widths: tuple[int, ...] = (3, 3, 3, 3, 3),
    channels: int = 1024,
    flip: bool = True,
    frames: int = 120,
    recompute_frames: int = 15,
    threads: int | None = None,
    as_json: bool = False,
) -> dict:
    """Time both strategies in this process and print them; returns the figures."""
    if threads:
        torch.set_num_threads(threads)
    arch = Architecture(filter_widths=widths, channels=channels)
    model = random_model(arch)
    rf, size = arch.receptive_field, (640, 480)
    warmup = rf + 20
    keypoints = synthetic_keypoints(warmup + frames, size)

    lifter = StreamingLifter(model, window=rf, lookahead=0, flip=flip)
    streaming = []
    for i, frame in enumerate(keypoints):
        start = time.perf_counter()
        lifter.push(frame, size)
        if i >= warmup:
            streaming.append(time.perf_counter() - start)

    normalized = (keypoints / size[0] * 2 - np.array([1, size[1] / size[0]])).astype(np.float32)
    recompute = []
    for newest in range(warmup, warmup + recompute_frames):
        start = time.perf_counter()
        window = normalized[newest - rf + 1 : newest + 1]
        lift_normalized(model, window, flip=flip)[-1]
        recompute.append(time.perf_counter() - start)

    figures = {
        "receptive_field": rf,
        "channels": channels,
        "flip": flip,
        "torch_threads": torch.get_num_threads(),
        "streaming_ms": round(_median_ms(streaming), 3),
        "streaming_p95_ms": round(float(np.percentile(streaming, 95) * 1000), 3),
        "recompute_ms": round(_median_ms(recompute), 3),
        "frames_streaming": len(streaming),
        "frames_recompute": len(recompute),
    }
    figures["speedup"] = round(figures["recompute_ms"] / figures["streaming_ms"], 2)
    print(
        f"VideoPose3D lifter, receptive field {rf}, {channels} channels, flip={flip}, "
        f"torch threads {figures['torch_threads']}"
    )
    print(
        f"  streaming (cached activations): {figures['streaming_ms']:8.2f} ms/frame median "
        f"(p95 {figures['streaming_p95_ms']:.2f}, {len(streaming)} frames)"
    )
    print(
        f"  whole-window recompute:         {figures['recompute_ms']:8.2f} ms/frame median "
        f"({len(recompute)} frames)"
    )
    print(f"  speed-up: {figures['speedup']:.1f}x")
    if as_json:
        print(json.dumps(figures))
    return figures
