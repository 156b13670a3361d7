"""Squeeze-and-Excitation blocks (Hu et al., "Squeeze-and-Excitation Networks", Sec. 3).

squeeze: z = global average pool of U (C values); excitation: s = sigmoid(W2 · relu(W1 · z)) with
W1: C//r × C and W2: C × C//r as 1×1 convolutions; scale: each channel of U multiplied by its s_c.
Built on ``torchvision.ops.SqueezeExcitation``, the block torchvision's own SE models use.

``TokenSE`` is the same block for channels-last features (ViT tokens, Swin's N×H×W×C maps). ``SE_BLOCKS``
maps a name to a pair of factories (channels-first, channels-last) whose first positional argument is the
channel count, so other attention variants can be added beside "se" without touching the surgery.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torchvision.ops import SqueezeExcitation

from .accounting import hidden_channels


class SEBlock(SqueezeExcitation):
    """The standard SE block: avg-pool → FC(C→C//r) → ReLU → FC(C//r→C) → sigmoid → scale.

    Args:
        channels: C, the channels the block recalibrates.
        r: reduction ratio; the hidden width is ``C // r`` (at least 1 is required).
        bias: give the two FC layers biases (the paper's ablations drop them).
    """

    def __init__(self, channels: int, r: int = 16, bias: bool = True) -> None:
        hidden = hidden_channels(channels, r)
        super().__init__(channels, hidden)
        if not bias:
            self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
            self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)
        self.channels = channels
        self.r = r
        self.bias = bias

    def extra_repr(self) -> str:
        return f"channels={self.channels}, r={self.r}, bias={self.bias}"


class TokenSE(nn.Module):
    """SE for channels-last features: tokens (N, L, C) or (N, H, W, C), as in ViT and Swin.

    squeeze: mean over every position (all tokens, class token included); excitation: sigmoid(W2 · relu(W1 ·
    z)) with W1: C//r × C and W2: C × C//r as linear layers (the same parameters as ``SEBlock``); scale:
    every position's C values multiplied by s.
    """

    def __init__(self, channels: int, r: int = 16, bias: bool = True) -> None:
        super().__init__()
        hidden = hidden_channels(channels, r)
        self.fc1 = nn.Linear(channels, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, channels, bias=bias)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Sigmoid()
        self.channels = channels
        self.r = r
        self.bias = bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = x.mean(dim=tuple(range(1, x.dim() - 1)), keepdim=True)
        return x * self.scale_activation(self.fc2(self.activation(self.fc1(squeezed))))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, r={self.r}, bias={self.bias}"


# name → (block for N×C×H×W features, block for channels-last features)
SE_BLOCKS: dict[str, tuple[Callable[..., nn.Module], Callable[..., nn.Module]]] = {"se": (SEBlock, TokenSE)}


def make_block(kind: str, channels: int, r: int, bias: bool = True, layout: str = "nchw") -> nn.Module:
    """Build the attention block named ``kind`` for ``channels`` channels in ``layout`` ("nchw", "nhwc", "tokens")."""
    spatial, channels_last = SE_BLOCKS[kind]
    return (spatial if layout == "nchw" else channels_last)(channels, r=r, bias=bias)
