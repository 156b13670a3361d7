"""Squeeze-and-Excitation blocks (Hu et al., "Squeeze-and-Excitation Networks", Sec. 3).

squeeze: z = global average pool of U (C values); excitation: s = sigmoid(W2 · relu(W1 · z)) with
W1: C//r × C and W2: C × C//r as 1×1 convolutions; scale: each channel of U multiplied by its s_c.
Built on ``torchvision.ops.SqueezeExcitation``, the block torchvision's own SE models use.

``SE_BLOCKS`` maps a name to a factory whose first positional argument is the channel count, so
other attention variants can be added beside "se" without touching the surgery.
"""

from __future__ import annotations

from typing import Callable

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


SE_BLOCKS: dict[str, Callable[..., nn.Module]] = {"se": SEBlock}


def make_block(kind: str, channels: int, r: int, bias: bool = True) -> nn.Module:
    """Build the attention block named ``kind`` for ``channels`` channels."""
    return SE_BLOCKS[kind](channels, r=r, bias=bias)
