"""The VideoPose3D temporal convolution network (Pavllo et al., CVPR 2019).

Module names and parameter shapes are identical to the original ``TemporalModel`` so that its
checkpoints load with ``load_state_dict(strict=True)``. Only inference is needed here, so dropout
is kept as a no-op module for structural parity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pose3d_nb.errors import Pose3DValueError


@dataclass(frozen=True)
class Architecture:
    """Hyper-parameters of a temporal model; everything a checkpoint's tensors determine."""

    filter_widths: tuple[int, ...] = (3, 3, 3, 3, 3)
    channels: int = 1024
    num_joints_in: int = 17
    in_features: int = 2
    num_joints_out: int = 17
    causal: bool = False

    @property
    def receptive_field(self) -> int:
        """Frames one output depends on (27, 81, 243 for 3, 4, 5 widths of 3)."""
        return 1 + 2 * sum(self.pads)

    @property
    def pads(self) -> tuple[int, ...]:
        """Half-width each level adds to the receptive field."""
        pads = [self.filter_widths[0] // 2]
        dilation = self.filter_widths[0]
        for width in self.filter_widths[1:]:
            pads.append((width - 1) * dilation // 2)
            dilation *= width
        return tuple(pads)

    @property
    def dilations(self) -> tuple[int, ...]:
        """Dilation of each level's wide convolution (1 for the expand layer)."""
        dilations = [1]
        for width in self.filter_widths[:-1]:
            dilations.append(dilations[-1] * width)
        return tuple(dilations)

    @property
    def causal_shifts(self) -> tuple[int, ...]:
        """Per-level shift of the residual slice in the causal variant (zeros otherwise)."""
        if not self.causal:
            return tuple(0 for _ in self.filter_widths)
        return tuple((w // 2) * d for w, d in zip(self.filter_widths, self.dilations, strict=True))

    @property
    def pad(self) -> int:
        """Total half receptive field: frames of context each side (or 2x on the left, causal)."""
        return (self.receptive_field - 1) // 2


class TemporalModel(nn.Module):
    """Dilated temporal convolutions over a keypoint sequence.

    forward: (N, T, J_in, F) -> (N, T - receptive_field + 1, J_out, 3), camera space, root-relative.
    """

    def __init__(self, arch: Architecture, dropout: float = 0.25):
        super().__init__()
        for width in arch.filter_widths:
            if width % 2 != 1:
                raise Pose3DValueError(f"filter widths must be odd, got {arch.filter_widths}")
        self.arch = arch
        channels = arch.channels
        self.drop = nn.Dropout(dropout)
        self.relu = nn.ReLU(inplace=True)
        self.expand_conv = nn.Conv1d(
            arch.num_joints_in * arch.in_features, channels, arch.filter_widths[0], bias=False
        )
        self.expand_bn = nn.BatchNorm1d(channels, momentum=0.1)
        convs, norms = [], []
        for width, dilation in zip(arch.filter_widths[1:], arch.dilations[1:], strict=True):
            convs.append(nn.Conv1d(channels, channels, width, dilation=dilation, bias=False))
            norms.append(nn.BatchNorm1d(channels, momentum=0.1))
            convs.append(nn.Conv1d(channels, channels, 1, dilation=1, bias=False))
            norms.append(nn.BatchNorm1d(channels, momentum=0.1))
        self.layers_conv = nn.ModuleList(convs)
        self.layers_bn = nn.ModuleList(norms)
        self.shrink = nn.Conv1d(channels, arch.num_joints_out * 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[2] != self.arch.num_joints_in or x.shape[3] != self.arch.in_features:
            raise Pose3DValueError(
                f"expected (N, T, {self.arch.num_joints_in}, {self.arch.in_features}) input, "
                f"got {tuple(x.shape)}"
            )
        if x.shape[1] < self.arch.receptive_field:
            raise Pose3DValueError(
                f"need at least {self.arch.receptive_field} frames (the receptive field), got {x.shape[1]}"
            )
        batch = x.shape[0]
        x = x.reshape(batch, x.shape[1], -1).permute(0, 2, 1)
        x = self.drop(self.relu(self.expand_bn(self.expand_conv(x))))
        pads, shifts = self.arch.pads, self.arch.causal_shifts
        for i in range(len(pads) - 1):
            pad, shift = pads[i + 1], shifts[i + 1]
            res = x[:, :, pad + shift : x.shape[2] - pad + shift]
            x = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](x))))
            x = res + self.drop(self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x))))
        x = self.shrink(x)
        return x.permute(0, 2, 1).reshape(batch, -1, self.arch.num_joints_out, 3)
