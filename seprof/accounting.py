"""Pure arithmetic of SE's cost; no torch here.

Parameters (paper Sec. 4, eq. 5): the two FC layers of a block on C channels with reduction r hold
2·C·(C/r) weights, so SE adds (2/r)·Σ_s N_s·C_s² over the stages. ``paper_params`` evaluates that formula
as printed (a Fraction where C/r is not whole); ``exact_params`` counts what a block really holds: the real
hidden width C//r, and with biases C//r + C more.

Work of one block on a C×H×W map (``se_work``): global average pooling H·W·C adds, the FCs 2·C·(C//r)
multiply-accumulates (MACs), bias adds, C sigmoids, and H·W·C multiplies for the scale. Common counters
see the FCs and sometimes the pooling; none sees the scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable


def hidden_channels(channels: int, r: int) -> int:
    """The hidden width of an SE block: ``channels // r``."""
    return channels // r


def paper_params(channels: Iterable[int], r: int) -> Fraction:
    """The paper's overhead (2/r)·Σ C² over the given blocks' channel counts (weights only)."""
    return Fraction(2, r) * sum(c * c for c in channels)


def fc_params(channels: int, hidden: int, bias: bool = True) -> int:
    """Parameters of an SE block's two FC layers, C→hidden→C."""
    return 2 * channels * hidden + ((hidden + channels) if bias else 0)


def block_params(channels: int, r: int, bias: bool = True) -> int:
    """Parameters of one SE block with its real hidden width."""
    return fc_params(channels, hidden_channels(channels, r), bias)


def exact_params(channels: Iterable[int], r: int, bias: bool = True) -> int:
    """Parameters SE adds over the given blocks' channel counts."""
    return sum(block_params(c, r, bias) for c in channels)


@dataclass(frozen=True)
class SEWork:
    """Arithmetic of SE blocks, per image. ``fc_macs`` are multiply-accumulates; the rest are single ops."""

    pool_adds: int = 0
    fc_macs: int = 0
    bias_adds: int = 0
    sigmoids: int = 0
    scale_muls: int = 0

    def __add__(self, other: SEWork) -> SEWork:
        return SEWork(
            self.pool_adds + other.pool_adds,
            self.fc_macs + other.fc_macs,
            self.bias_adds + other.bias_adds,
            self.sigmoids + other.sigmoids,
            self.scale_muls + other.scale_muls,
        )

    @property
    def elementwise(self) -> int:
        """Ops on the full C×H×W map (pooling and scale), which scale with resolution."""
        return self.pool_adds + self.scale_muls


def se_work(channels: int, height: int, width: int, r: int | None, bias: bool = True, hidden: int | None = None) -> SEWork:
    """The work one SE block does on a channels×height×width map (hidden width C//r unless given)."""
    hidden = hidden_channels(channels, r) if hidden is None else hidden
    pixels = height * width * channels
    return SEWork(
        pool_adds=pixels,
        fc_macs=2 * channels * hidden,
        bias_adds=(hidden + channels) if bias else 0,
        sigmoids=channels,
        scale_muls=pixels,
    )


def percent(part: float, whole: float) -> float:
    """``part`` as a percentage of ``whole``."""
    return 100.0 * part / whole
