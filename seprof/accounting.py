"""Pure arithmetic of SE's cost; no torch here.

Parameters (paper Sec. 4, eq. 5): the two FC layers of a block on C channels with reduction r hold
2·C·(C/r) weights, so SE adds (2/r)·Σ_s N_s·C_s² over the stages. ``paper_params`` evaluates that formula
as printed (a Fraction where C/r is not whole); ``exact_params`` counts what a block really holds: the real
hidden width C//r, and with biases C//r + C more.

Work of one block on a C×H×W map (``se_work``, ``sse_work``): global pooling H·W·C adds (or
compares), the FCs 2·C·(C//r) multiply-accumulates (MACs), bias adds, C gate evaluations, and H·W·C multiplies
for the scale; sSE (Roy et al.) adds a 1×1 conv C→1 (H·W·C MACs), H·W gates and a second scale, and scSE H·W·C
ops to combine the two maps. Common counters see the FCs, sSE's conv and sometimes the pooling; none sees the
scale. ``SEWork`` holds the ops of the other attention kinds too (``seprof.kinds``), each field with the full-map
reads and writes its ops make, so that the traffic of every kind follows from its work.
Any kind's parameters and work come from the table of kinds through ``BlockSpec``.
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
    the rest are single ops. P = H·W positions; the full map is the block's C×H×W input or a map of that size
    made from it, the squeezed tensors are everything smaller (pooled vectors, strips, H·W maps).

    Each field is one kind of op, and each op reads and writes the full map in a fixed way (unfused, every op
    that reads the map reads it once), which gives ``feature_reads`` and ``feature_writes``. Left out: the
    activations on squeezed tensors (ReLU, Hardswish, SiLU on a hidden vector), the sum or mean of two pooled or
    excited vectors (CBAM's avg and max paths, light CBAM's and ``add_maxpool``'s halves), a softmax's sum and
    division (its exponentials are gates), an average's division, and copies (concatenation, transpose, pad).

    Attributes:
        pool_ops: reductions over the full map, P·C adds (average) or compares (max) each: a global pool, a pool
            along H or along W (coordinate attention's strips), a mean or max over channels (CBAM's spatial
            branch). Each reads the map.
        fc_macs: the excitation on squeezed tensors: FCs or 1×1 convs on pooled vectors (2·C·hidden for SE),
            ECA's 1-D conv over C, CBAM's k×k conv on its pooled H·W maps, the convs on coordinate attention's,
            ELA's and strip attention's H + W strips. They read no full map.
        spatial_macs: MACs that read the full map: sSE's 1×1 conv C→1, GC's attention conv C→1 and its
            attention-weighted sum (P·C each).
        bias_adds: bias adds of the excitation layers (hidden + C for SE's FCs, H·W for sSE's conv).
        norm_ops: elements a norm layer (BatchNorm, LayerNorm, GroupNorm) outputs on squeezed tensors, one op
            each.
        gates: gate evaluations (sigmoid, hard-sigmoid, the chosen gate, or each element of a softmax) on
            squeezed tensors: C for channel, H·W for spatial excitation, C·(H + W) for strips.
        map_gates: gate evaluations on a full map (simple coordinate and strip attention gate the sum of their
            strips at every element), P·C each: each reads that map and writes the gate map, which the scale
            reads once more.
        scale_muls: the recalibration multiplies, P·C per gate applied to the map (two in scSE, CBAM,
            coordinate attention and ELA, which apply one after the other): each reads the map and writes it.
        broadcast_adds: a squeezed tensor added at every element (GC's fusion by addition), P·C: each reads the
            map and writes it.
        expand_adds: a full map made by adding two strips broadcast over each other (simple coordinate and strip
            attention), P·C: each writes the map and reads none.
        combine_ops: two full maps made one, P·C: scSE's sum or maximum of its two maps, a skip connection's
            add (``has_skip``). Each reads both and writes one.
    """

    pool_ops: int = 0
    fc_macs: int = 0
    spatial_macs: int = 0
    bias_adds: int = 0
    norm_ops: int = 0
    gates: int = 0
    map_gates: int = 0
    scale_muls: int = 0
    broadcast_adds: int = 0
    expand_adds: int = 0
    combine_ops: int = 0

    def __add__(self, other: SEWork) -> SEWork:
        return SEWork(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def times(self, n: int) -> SEWork:
        """The work of ``n`` such passes (a block that sees ``n`` feature maps per sample)."""
        return SEWork(**{f.name: getattr(self, f.name) * n for f in fields(self)})

    @property
    def elementwise(self) -> int:
        """Ops over the full C×H×W map, which grow with resolution: pooling, sSE's and GC's MACs on the map, gates
        on the map, scales, adds and combines."""
        return (self.pool_ops + self.spatial_macs + self.map_gates + self.scale_muls + self.broadcast_adds
                + self.expand_adds + self.combine_ops)

    @property
    def feature_reads(self) -> int:
        """Elements of the C×H×W map the blocks read, unfused: each squeeze, conv or sum over the map once, each
        scale and broadcast add once, a gate on the map twice (its input, and its output read by the scale), each
        combine both maps (the squeezed tensors are left out)."""
        return (self.pool_ops + self.spatial_macs + self.scale_muls + self.broadcast_adds + 2 * self.map_gates
                + 2 * self.combine_ops)

    @property
    def feature_writes(self) -> int:
        """Elements of the C×H×W map the blocks write, unfused: each recalibrated or shifted map, each map made
        from strips and gated on the map, and each combined one."""
        return self.scale_muls + self.broadcast_adds + self.expand_adds + self.map_gates + self.combine_ops


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


def sse_work(channels: int, height: int, width: int, bias: bool = True) -> SEWork:
    """The work one sSE block does on a channels×height×width map: a 1×1 conv C→1, a gate per position, the
    scale."""
    positions = height * width
    return SEWork(spatial_macs=positions * channels, bias_adds=positions if bias else 0, gates=positions,
                  scale_muls=positions * channels)


def percent(part: float, whole: float) -> float:
    """``part`` as a percentage of ``whole``."""
    return 100.0 * part / whole
