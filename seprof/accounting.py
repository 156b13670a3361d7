"""Pure arithmetic of SE's cost; no torch here.

Parameters (paper Sec. 4, eq. 5): the two FC layers of a block on C channels with reduction r hold
2·C·(C/r) weights, so SE adds (2/r)·Σ_s N_s·C_s² over the stages. ``paper_params`` evaluates that formula
as printed (a Fraction where C/r is not whole); ``exact_params`` counts what a block really holds: the real
hidden width C//r, and with biases C//r + C more.

Work of one block on a C×H×W map (``se_work``, ``block_work``): global pooling H·W·C adds (or compares), the
FCs 2·C·(C//r) multiply-accumulates (MACs), bias adds, C gate evaluations, and H·W·C multiplies for the
scale; sSE (Roy et al.) adds a 1×1 conv C→1 (H·W·C MACs), H·W gates and a second scale, and scSE H·W·C ops to
combine the two maps. Common counters see the FCs, sSE's conv and sometimes the pooling; none sees the scale.
Any kind's parameters and work come from the table of kinds (``seprof.kinds``) through ``BlockSpec``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from fractions import Fraction


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


@dataclass(frozen=True, kw_only=True)
class SEWork:
    """Arithmetic of attention blocks, per image. ``fc_macs`` and ``spatial_macs`` are multiply-accumulates;
    the rest are single ops.

    Attributes:
        pool_ops: the channel squeeze: H·W·C adds (average) or compares (max) per block.
        fc_macs: the channel excitation's FC layers, 2·C·hidden per block.
        spatial_macs: sSE's 1×1 conv C→1, H·W·C per block.
        bias_adds: bias adds of the excitation layers (hidden + C for the FCs, H·W for sSE's conv).
        gates: gate evaluations (sigmoid or the chosen gate): C for channel, H·W for spatial excitation.
        scale_muls: the recalibration multiplies, H·W·C per map (two maps in scSE).
        combine_ops: scSE's sum or maximum of its two maps, H·W·C per block.
    """

    pool_ops: int = 0
    fc_macs: int = 0
    spatial_macs: int = 0
    bias_adds: int = 0
    gates: int = 0
    scale_muls: int = 0
    combine_ops: int = 0

    def __add__(self, other: SEWork) -> SEWork:
        return SEWork(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def times(self, n: int) -> SEWork:
        """The work of ``n`` such passes (a block that sees ``n`` feature maps per sample)."""
        return SEWork(**{f.name: getattr(self, f.name) * n for f in fields(self)})

    @property
    def elementwise(self) -> int:
        """Ops over the full C×H×W map, which grow with resolution: pooling, sSE's conv, scale, combine."""
        return self.pool_ops + self.spatial_macs + self.scale_muls + self.combine_ops

    @property
    def feature_reads(self) -> int:
        """Elements of the C×H×W map the blocks read, unfused: the squeeze reads it once, sSE's conv once, each
        scale once, scSE's combine both maps (the C- and H·W-sized gate vectors are left out)."""
        return self.pool_ops + self.spatial_macs + self.scale_muls + 2 * self.combine_ops

    @property
    def feature_writes(self) -> int:
        """Elements of the C×H×W map the blocks write, unfused: each recalibrated map, and scSE's combined one."""
        return self.scale_muls + self.combine_ops


def element_bytes(dtype: str) -> int:
    """Bytes of one feature-map element in a timed pass at ``dtype`` (float16/bfloat16 autocast: 2, else 4)."""
    return 2 if str(dtype) in ("float16", "bfloat16") else 4


def floor_ms(nbytes: int, bandwidth_gbs: float) -> float:
    """The least time ``nbytes`` take to and from memory at ``bandwidth_gbs`` (10⁹ bytes per second), in ms."""
    return nbytes / (bandwidth_gbs * 1e9) * 1e3


def traffic_bytes(work: SEWork, weights: int, batch: int = 1, element_bytes: int = 4, weight_bytes: int = 4) -> int:
    """Bytes SE moves in one forward pass of ``batch`` samples: its feature-map reads and writes at
    ``element_bytes`` each, per sample, plus its ``weights`` parameters read once at ``weight_bytes``."""
    return (work.feature_reads + work.feature_writes) * batch * element_bytes + weights * weight_bytes


def se_work(channels: int, height: int, width: int, r: int | None, bias: bool = True,
            hidden: int | None = None) -> SEWork:
    """The work one SE block does on a channels×height×width map (hidden width C//r unless given)."""
    hidden = hidden_channels(channels, r) if hidden is None else hidden
    pixels = height * width * channels
    return SEWork(
        pool_ops=pixels,
        fc_macs=2 * channels * hidden,
        bias_adds=(hidden + channels) if bias else 0,
        gates=channels,
        scale_muls=pixels,
    )


def percent(part: float, whole: float) -> float:
    """``part`` as a percentage of ``whole``."""
    return 100.0 * part / whole
