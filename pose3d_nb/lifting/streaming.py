"""Frame-by-frame VideoPose3D that computes only what the newest output needs.

The original real-time loop re-ran the whole network over the last ``receptive_field`` frames for
every new frame (about 173 ms at 243 frames). Here the network is treated as a graph of
activations indexed by (level, frame): an activation whose input frames all lie inside the
current window [a, b] is a fixed function of recorded frames, so it is computed once and cached.
Only activations that reach past the window edges, where the original pads by repeating the edge
frame, are recomputed each step; those lying wholly beyond an edge see one repeated frame, so one
of them per level stands for all. Each step therefore costs a few matrix-vector products per
level instead of a full convolution over the window, and its result equals the original's edge-
padded evaluation of frames ``max(0, b - W + 1) .. b`` (checked against reference vectors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.lifting.keypoints import input_columns, mirror_keypoints, normalize_screen, unmirror_joints
from pose3d_nb.lifting.model import TemporalModel
from pose3d_nb.lifting.protocol import HoldsSettings, LiftSettings
from pose3d_nb.skeleton import NUM_JOINTS


@dataclass(frozen=True)
class StreamOutput:
    """The 3D pose for one frame.

    frame: position of the frame in the stream (0 = first pushed frame).
    joints: (17, 3) camera-space metres, root-relative; NaN only when no frame so far had a
        detection (then ``valid`` is False).
    valid: True when this frame itself had a detection (otherwise its 2D was held/repeated).
    latency_frames: frames pushed after this one before it was output (= lookahead in steady state).
    flip_spread: (17,) metres between the output for the 2D and for the mirrored 2D mirrored back
        (a reliability signal, ``lifting.fusion``), when ``measure_flip_spread`` is on; else None.
    """

    frame: int
    joints: np.ndarray
    valid: bool
    latency_frames: int
    flip_spread: np.ndarray | None = None


@dataclass(frozen=True)
class _Level:
    """One level of the network with BatchNorm folded into the matrix products."""

    taps: np.ndarray  # (w,) offsets of the child activations this level reads, in frames
    residual_tap: int  # which tap is the residual connection (-1: none, the expand layer)
    reach_left: int  # frames of input left of p that activation p depends on
    reach_right: int
    wide: torch.Tensor  # (w * C_in, C_out) wide convolution, BN scale folded in
    wide_bias: torch.Tensor  # (C_out,) folded BN shift
    point: torch.Tensor | None  # (C, C) 1x1 convolution, BN scale folded in
    point_bias: torch.Tensor | None


def _fold(conv: torch.nn.Conv1d, bn: torch.nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """(w * C_in, C_out) weight and (C_out,) bias computing bn(conv(x)) in eval mode as x @ W + b."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    weight = conv.weight.permute(0, 2, 1).reshape(conv.weight.shape[0], -1)  # (C_out, w * C_in)
    return (weight * scale[:, None]).t().contiguous(), shift.contiguous()


def _levels(model: TemporalModel) -> list[_Level]:
    arch = model.arch
    levels = []
    reach_left = reach_right = 0
    for i, (width, dilation, shift) in enumerate(
        zip(arch.filter_widths, arch.dilations, arch.causal_shifts, strict=True)
    ):
        taps = np.array([-shift + (k - width // 2) * dilation for k in range(width)], dtype=np.int64)
        reach_left += int(-taps.min())
        reach_right += int(taps.max())
        if i == 0:
            wide, wide_bias = _fold(model.expand_conv, model.expand_bn)
            point = point_bias = None
            residual_tap = -1
        else:
            wide, wide_bias = _fold(model.layers_conv[2 * i - 2], model.layers_bn[2 * i - 2])
            point, point_bias = _fold(model.layers_conv[2 * i - 1], model.layers_bn[2 * i - 1])
            residual_tap = int(np.flatnonzero(taps == 0)[0])
        levels.append(_Level(taps, residual_tap, reach_left, reach_right, wide, wide_bias, point, point_bias))
    return levels


class _Ring:
    """Fixed-size store of per-frame rows, addressed by absolute frame position."""

    def __init__(self, capacity: int, width: int):
        self.capacity = capacity
        self.values = torch.zeros((capacity, width))
        self.position = np.full(capacity, -1, dtype=np.int64)

    def holds(self, positions: np.ndarray) -> np.ndarray:
        return self.position[positions % self.capacity] == positions

    def get(self, positions: np.ndarray) -> torch.Tensor:
        return self.values[torch.from_numpy(positions % self.capacity)]

    def put(self, positions: np.ndarray, rows: torch.Tensor) -> None:
        slots = positions % self.capacity
        self.values[torch.from_numpy(slots)] = rows
        self.position[slots] = positions

    def clear(self) -> None:
        self.position[:] = -1


class StreamingLifter(HoldsSettings):
    """Push one frame's 2D keypoints at a time, get 3D poses back.

    window: how many recent frames the prediction may use (0 = every frame seen so far; only the
        receptive field matters then); it is widened to include the predicted frame when it is
        shorter than the lookahead. lookahead: output delay in frames (0 = the newest frame,
        its future replaced by copies of itself; up to ``pad`` frames). flip: test-time flip
        augmentation. All three may change between pushes.

    Not thread-safe: push from one thread; setting the knobs from another is fine (each push reads
    ``settings`` once). ``measure_flip_spread``: run the mirrored branch even without flip and
    report the two branches' distance per joint (``StreamOutput.flip_spread``).
    """

    measure_flip_spread = False

    def __init__(self, model: TemporalModel, window: int = 0, lookahead: int = 0, flip: bool = False):
        self.model = model.eval()
        self.arch = model.arch
        self._levels = _levels(model)
        self._columns = input_columns(self.arch.num_joints_in)
        with torch.no_grad():
            self._shrink_weight = model.shrink.weight[:, :, 0].t().contiguous()  # (C, J*3)
            self._shrink_bias = model.shrink.bias.detach().clone()
        # A step touches frames within 2 receptive fields of the newest one.
        self._capacity = 1 << int(np.ceil(np.log2(4 * self.arch.receptive_field + 8)))
        self.settings = LiftSettings(window, lookahead, flip)
        self.reset()

    # ----------------------------------------------------------------- knobs
    @property
    def receptive_field(self) -> int:
        return self.arch.receptive_field

    @property
    def max_lookahead(self) -> int:
        """Beyond ``pad`` frames more delay cannot change any output."""
        return self.arch.pad

    @property
    def window(self) -> int:
        return self._settings.window

    @window.setter
    def window(self, value: int) -> None:
        self.settings = self._settings.replace(window=value)

    @property
    def lookahead(self) -> int:
        return self._settings.lookahead

    @lookahead.setter
    def lookahead(self, value: int) -> None:
        self.settings = self._settings.replace(lookahead=value)

    @property
    def flip(self) -> bool:
        return self._settings.flip

    @flip.setter
    def flip(self, value: bool) -> None:
        self.settings = self._settings.replace(flip=value)

    # ----------------------------------------------------------------- state
    def reset(self) -> None:
        """Forget every frame (e.g. the source changed)."""
        branches = (0, 1)
        if hasattr(self, "_inputs"):
            # Reuse the rings: reallocating them on every restart grew the process by about
            # 1 MB per start/stop cycle (freed blocks the allocator did not give back).
            for ring in [*self._inputs.values(), *(r for level in self._cache for r in level.values())]:
                ring.clear()
        else:
            self._inputs = {b: _Ring(self._capacity, len(self._columns) * 2) for b in branches}
            channels = self.arch.channels
            self._cache = [{b: _Ring(self._capacity, channels) for b in branches} for _ in self._levels]
        self._valid = np.zeros(self._capacity, dtype=bool)
        self._newest = -1  # position of the newest pushed frame
        self._next_output = 0  # first frame not yet output
        self._first_valid: int | None = None
        self._held: np.ndarray | None = None  # last complete normalised keypoints (17, 2)
        self._frame_size: tuple[int, int] | None = None

    def push(self, keypoints_px: np.ndarray, frame_size: tuple[int, int]) -> list[StreamOutput]:
        """Add the next frame and return the outputs that became due (usually exactly one).

        keypoints_px: (17, 2) COCO pixels, NaN where not detected (held from the last detection).
        frame_size: (width, height). Every frame is output exactly once over the stream's life
        (call ``flush`` at the end); a lookahead increase delays outputs, a decrease catches up.
        """
        keypoints_px = np.asarray(keypoints_px, dtype=np.float32)
        if keypoints_px.shape != (NUM_JOINTS, 2):
            raise Pose3DValueError(f"keypoints must have shape ({NUM_JOINTS}, 2), got {keypoints_px.shape}")
        frame_size = (int(frame_size[0]), int(frame_size[1]))
        if self._frame_size is not None and frame_size != self._frame_size:
            raise Pose3DValueError(
                f"frame size changed from {self._frame_size} to {frame_size}; call reset() for a new source"
            )
        self._frame_size = frame_size
        position = self._newest + 1
        normalized = normalize_screen(keypoints_px, *frame_size)
        missing = ~np.isfinite(normalized)
        valid = not missing.any()
        if missing.any() and self._held is not None:
            normalized = np.where(missing, self._held, normalized)
        if np.isfinite(normalized).all():
            self._held = normalized
            if self._first_valid is None and valid:
                self._first_valid = position
        self._store_input(position, normalized, valid)
        self._newest = position
        settings = self._settings  # read once: another thread may replace it mid-step
        return self._emit(range(self._next_output, position - settings.lookahead + 1), settings)

    def flush(self) -> list[StreamOutput]:
        """Outputs for the frames still held back by the lookahead (end of a file)."""
        return self._emit(range(self._next_output, self._newest + 1), self._settings)

    # ----------------------------------------------------------------- internals
    def _store_input(self, position: int, normalized: np.ndarray, valid: bool) -> None:
        positions = np.array([position])
        columns = self._columns
        self._inputs[0].put(positions, torch.from_numpy(normalized[columns].reshape(1, -1)))
        self._inputs[1].put(positions, torch.from_numpy(mirror_keypoints(normalized)[columns].reshape(1, -1)))
        self._valid[position % self._capacity] = valid

    def _emit(self, frames: range, settings: LiftSettings) -> list[StreamOutput]:
        if len(frames) == 0:
            return []
        self._next_output = frames.stop
        newest = self._newest
        if self._first_valid is None:
            nan = np.full((NUM_JOINTS, 3), np.nan, dtype=np.float32)
            spread = nan[:, 0] if self.measure_flip_spread else None
            return [StreamOutput(t, nan.copy(), False, newest - t, spread) for t in frames]
        targets = np.asarray(frames, dtype=np.int64)
        window = settings.window
        start = max(0, newest - window + 1) if window else 0
        start = max(start, self._first_valid)
        # A window shorter than the lookahead would leave out the very frame being predicted:
        # such a frame's window is widened back to include it.
        early = targets[targets < start]
        parts = [
            self._predict(early[i : i + 1], max(int(t), self._first_valid), newest, settings.flip)
            for i, t in enumerate(early)
        ]
        if len(early) < len(targets):
            parts.append(self._predict(targets[len(early) :], start, newest, settings.flip))
        joints = np.concatenate([part[0] for part in parts])
        spreads = np.concatenate([part[1] for part in parts]) if self.measure_flip_spread else None
        return [
            StreamOutput(
                int(t), joints[i], bool(self._valid[t % self._capacity]), newest - int(t),
                None if spreads is None else spreads[i],
            )
            for i, t in enumerate(targets)
        ]  # fmt: skip

    @torch.no_grad()
    def _predict(
        self, targets: np.ndarray, first: int, last: int, flip: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(n,) frame positions -> (n, 17, 3) joints and (n, 17) flip spread (or None), inputs
        limited to frames first..last."""
        branches = (0, 1) if flip or self.measure_flip_spread else (0,)
        positions = [targets]
        for level in reversed(self._levels):
            below = positions[0][:, None] + level.taps[None, :]
            positions.insert(0, np.unique(below))
        # positions[0] are input frames, positions[k + 1] the activations of level k.
        clamped = np.clip(positions[0], first, last)
        values = {b: self._inputs[b].get(clamped) for b in branches}
        for k, level in enumerate(self._levels):
            values = self._level_forward(k, level, positions[k + 1], positions[k], values, first, last)
        top = torch.stack([values[b] for b in branches])  # (B, n, C)
        out = (top @ self._shrink_weight + self._shrink_bias).reshape(len(branches), -1, NUM_JOINTS, 3)
        joints = out.numpy()
        spread = None
        if len(branches) == 2:
            mirrored_back = unmirror_joints(joints[1])
            spread = np.linalg.norm(joints[0] - mirrored_back, axis=-1).astype(np.float32)
            if flip:
                return ((joints[0] + mirrored_back) / 2).astype(np.float32), spread
        return joints[0].astype(np.float32, copy=True), spread

    def _level_forward(
        self,
        index: int,
        level: _Level,
        here: np.ndarray,
        below: np.ndarray,
        below_values: dict[int, torch.Tensor],
        first: int,
        last: int,
    ) -> dict[int, torch.Tensor]:
        """Activations of ``level`` at frames ``here`` from those of the level below at ``below``."""
        lo, hi = here - level.reach_left, here + level.reach_right
        inside = (lo >= first) & (hi <= last)
        # Activations wholly beyond an edge read only the repeated edge frame: compute one.
        representative = np.arange(len(here))
        for beyond in (lo > last, hi < first):
            members = np.flatnonzero(beyond)
            if len(members):
                representative[members] = members[0]
        is_representative = representative == np.arange(len(here))
        child_index = np.searchsorted(below, here[:, None] + level.taps[None, :])

        plans, gathered = [], []
        for branch, values in below_values.items():
            cache = self._cache[index][branch]
            hit = inside & cache.holds(here)
            todo = np.flatnonzero(~hit & is_representative)
            plans.append((branch, hit, todo))
            if len(todo):
                gathered.append(values[torch.from_numpy(child_index[todo])])  # (n, w, C_in)
        if gathered:
            stacked = torch.cat(gathered)
            computed = torch.relu(torch.addmm(level.wide_bias, stacked.flatten(1), level.wide))
            if level.point is not None:
                computed = torch.relu(torch.addmm(level.point_bias, computed, level.point))
                computed += stacked[:, level.residual_tap]
        result, offset = {}, 0
        for branch, hit, todo in plans:
            out = torch.empty((len(here), self.arch.channels))
            if hit.any():
                out[torch.from_numpy(np.flatnonzero(hit))] = self._cache[index][branch].get(here[hit])
            if len(todo):
                rows = computed[offset : offset + len(todo)]
                offset += len(todo)
                out[torch.from_numpy(todo)] = rows
                keep = inside[todo]
                if keep.any():
                    self._cache[index][branch].put(here[todo][keep], rows[torch.from_numpy(keep)])
            shared = np.flatnonzero(~is_representative)
            if len(shared):
                out[torch.from_numpy(shared)] = out[torch.from_numpy(representative[shared])]
            result[branch] = out
        return result
