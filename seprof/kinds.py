"""The attention kinds seprof knows, in one table: its own SE, sSE and scSE, and the lightweight channel and spatial
attention of timm's factory (``timm.layers.get_attn``).

Each ``Kind`` holds its name, title and paper, what it squeezes (channels, positions or both), the class that
implements it (seprof's, or timm's, whose knobs' defaults are read from that class's signature), the arguments
timm's factory adds for the name (``ecam`` is ``EcaModule(use_mlp=True)``), and its parameters per block as
closed-form arithmetic in C and the knobs, written from each paper and each implementation and shown as a formula,
and the work of one block on a C×H×W map (``SEWork``: its pools, MACs, gates, scales, and so its feature-map
traffic), closed-form in C, H, W and the knobs the same way. A count of a built module is never used: the tests
compare the formulas with hand-computed values and then with the modules timm builds (their parameters, the MACs
torch's flop counter counts in them, the full maps their ops read and write).

timm's rounding of a reduced width (``make_divisible``) is written here as ``divisible``: the nearest multiple of
the divisor, at least the divisor; a ``round_limit`` of 0.9 (ECA's MLP) adds one more divisor where rounding
down lost over 10%.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .accounting import SEWork, hidden_channels, se_work, sse_work

TIMM_FLOOR = "1.0.23"  # the first timm whose attention factory makes every kind of the table (pyproject.toml's floor)

PAPER_R = 16  # the reduction ratio SENet settles on (Sec. 6.1, Table 10), seprof's default for its own kinds
SEPROF_KINDS = ("se", "sse", "scse")  # seprof's own blocks, with its knobs (``BlockSpec``'s r, divisor, bias, ...)

# Knobs shown for a kind: the numbers and switches that change what it holds (layers passed as classes are not).
_KNOB_TYPES = (int, float, bool, type(None))


def divisible(value: float, divisor: int, round_limit: float = 0.0) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``), one more multiple where that
    lost more than ``1 - round_limit`` of it: timm's ``make_divisible``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < round_limit * value else rounded


def eca_taps(channels: int, gamma: float, beta: float) -> int:
    """ECA's kernel size from the channels (Wang et al. 2020, eq. 12): t = ⌊|log₂C + β| / γ⌋, the odd number at or
    above t, at least 3 (timm's rule)."""
    t = int(abs(math.log(channels, 2) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


@dataclass(frozen=True)
class Kind:
    """One attention kind.

    Attributes:
        name: how ``--block`` names it (timm's factory name for timm's kinds).
        title: its name in words; ``paper``: where it comes from.
        squeezes: "channel", "spatial" or "both": what its gate recalibrates.
        params: its parameters on C channels, given its knobs.
        formula: the same in symbols.
        work: the work of one block on a C×H×W map (tokens: H = the token count, W = 1), given its knobs.
        timm_class: the timm class that implements it (None for seprof's own).
        factory: what timm's factory adds for this name to the class's defaults.
        defaults: seprof's defaults where they differ from the class's (a default timm cannot build).
        uses: the knobs one may set (``--knob NAME=VALUE``), shown with their defaults: those its formulas read,
            and those that change its work (a max pool beside the mean, a skip connection).
        note: what a reader should know about the defaults.
        label: its short name in reports (SE, ECA, CBAM, ...).
        refused: knobs of timm's class that seprof does not take for it, each with the reason.
    """

    name: str
    title: str
    paper: str
    squeezes: str
    params: Callable[[int, Mapping[str, Any]], int]
    formula: str
    timm_class: str | None = None
    factory: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    uses: tuple[str, ...] = ()
    note: str = ""
    label: str = ""
    refused: Mapping[str, str] = field(default_factory=dict)

    @property
    def seprof(self) -> bool:
        """Whether it is one of seprof's own blocks (se, sse, scse), set by ``BlockSpec``'s own knobs."""
        return self.timm_class is None

    @property
    def needs_grid(self) -> bool:
        """Whether it needs the positions as an H×W grid: a timm kind that gates positions (its spatial gate
        pools or convolves along rows and columns). seprof's sSE gates each position alone and runs anywhere."""
        return self.squeezes != "channel" and not self.seprof
    work: Callable[[int, int, int, Mapping[str, Any]], SEWork] = field(kw_only=True)

    @property
    def knobs(self) -> dict[str, Any]:
        """The knobs and their defaults: seprof's own block's (``BlockSpec``), or timm's class signature's, with
        the factory's arguments and seprof's defaults over them."""
        if self.timm_class is None:
            return {"bias": True} if self.name == "sse" else {"r": PAPER_R, "bias": True, "divisor": None}
        return {**_signature_defaults(self.timm_class), **self.factory, **self.defaults}

    def count(self, channels: int, **knobs: Any) -> int:
        """Its parameters on ``channels`` channels, at its defaults except ``knobs``."""
        return self.params(channels, self._with(knobs))

    def work_at(self, channels: int, height: int, width: int, **knobs: Any) -> SEWork:
        """The work of one block on a channels×height×width map (tokens: height = the token count, width = 1), at
        its defaults except ``knobs``."""
        return self.work(channels, height, width, self._with(knobs))

    def _with(self, knobs: Mapping[str, Any]) -> dict[str, Any]:
        """Its knobs' defaults with ``knobs`` over them, each checked to be one of its knobs."""
        defaults = self.knobs
        unknown = set(knobs) - set(defaults)
        if unknown:
            raise TypeError(f"{self.name} has no knob {sorted(unknown)[0]!r}; its knobs: {', '.join(defaults)} "
                            "(layers given as classes are not knobs here)")
        if knobs.get("rd_channels") is not None and knobs["rd_channels"] < 1:
            raise ValueError(f"rd_channels {knobs['rd_channels']} is not a width: give at least 1, or None for "
                             "rd_ratio's")
        return {**defaults, **knobs}

    @property
    def shown_knobs(self) -> dict[str, Any]:
        """The knobs its formula reads, with their defaults."""
        knobs = self.knobs
        return {name: knobs[name] for name in self.uses}

    @property
    def needs_timm(self) -> bool:
        """Whether timm implements it (timm is an optional extra)."""
        return self.timm_class is not None


@functools.cache
def _signature_defaults(cls_name: str) -> dict[str, Any]:
    """The knobs of a timm attention class and their defaults, read from its signature."""
    import importlib

    cls = getattr(importlib.import_module("timm.layers.create_attn"), cls_name, None)
    if cls is None:  # an older timm than the extras ask for
        version = getattr(importlib.import_module("timm"), "__version__", "?")
        raise ImportError(f"timm {version} has no {cls_name}: seprof's attention kinds need timm {TIMM_FLOOR} or later")
    return {name: p.default for name, p in inspect.signature(cls).parameters.items()
            if p.default is not inspect.Parameter.empty and isinstance(p.default, _KNOB_TYPES)
            and name not in ("channels", "device", "dtype")}


def se_hidden(channels: int, r: int, divisor: int | None) -> int:
    """SE's hidden width: ⌊C/r⌋ as the paper, or C/r rounded by ``divisible`` (limit 0.9) to a multiple of
    ``divisor``, as torchvision's and timm's SE."""
    return hidden_channels(channels, r) if divisor is None else divisible(channels / r, divisor, 0.9)


def _se(c: int, k: Mapping[str, Any]) -> int:
    h = se_hidden(c, k["r"], k["divisor"])
    return 2 * c * h + (h + c if k["bias"] else 0)  # two 1×1 convs C→h→C


def _sse(c: int, k: Mapping[str, Any]) -> int:
    return c + (1 if k["bias"] else 0)  # one 1×1 conv C→1


def _scse(c: int, k: Mapping[str, Any]) -> int:
    return _se(c, k) + _sse(c, k)


def _reduced(channels: int, knobs: Mapping[str, Any], round_limit: float = 0.0) -> int:
    """A reduced width: ``rd_channels`` where given, else C·rd_ratio (·se_factor) rounded by ``divisible``."""
    if knobs.get("rd_channels"):
        return knobs["rd_channels"]
    return divisible(channels * knobs["rd_ratio"] * knobs.get("se_factor", 1), knobs["rd_divisor"], round_limit)


def _ese(c: int, k: Mapping[str, Any]) -> int:
    return c * c + c  # one 1×1 conv C→C with its bias


def _taps(c: int, k: Mapping[str, Any]) -> int:
    # a built module's own kernel where read off it, else a kernel given, else γ and β's
    return k.get("taps") or k.get("kernel_size") or eca_taps(c, k["gamma"], k["beta"])


def _eca(c: int, k: Mapping[str, Any]) -> int:
    taps = _taps(c, k)
    if k["use_mlp"]:  # timm's ECA-MLP: Conv1d(1→d, 1) and Conv1d(d→1, k), both with biases
        d = _reduced(c, k, round_limit=0.9)
        return 2 * d + d * taps + 1
    return taps  # one Conv1d(1→1, k) without a bias


def _ceca(c: int, k: Mapping[str, Any]) -> int:
    return _taps(c, k) + (1 if k.get("conv_bias", k["act_layer"] is not None) else 0)  # a bias before an activation


def _ge(c: int, k: Mapping[str, Any]) -> int:
    if k["extra_params"]:
        raise ValueError("ge with extra_params (GE-θ, depthwise gather convs) has no formula here: timm 1.0.31 "
                         "cannot build it")
    d = _reduced(c, k)
    return 2 * c * d + d + c if k["use_mlp"] else 0  # GE-θ⁻: a parameter-free gather, then ConvMlp C→d→C or none


def _gc(c: int, k: Mapping[str, Any]) -> int:
    d = _reduced(c, k)
    mlp = c * d + d + 2 * d + d * c + c  # ConvMlp C→d→C with biases and a LayerNorm on d
    return (c + 1 if k["use_attn"] else 0) + mlp * (int(k["fuse_add"]) + int(k["fuse_scale"]))


def _cbam(spatial_inputs: int) -> Callable[[int, Mapping[str, Any]], int]:
    def params(c: int, k: Mapping[str, Any]) -> int:
        d = _reduced(c, k)
        channel = 2 * c * d + (d + c if k["mlp_bias"] else 0)
        spatial = spatial_inputs * k["spatial_kernel_size"] ** 2 + 2  # conv (no bias) and a BatchNorm on 1 map
        return channel + spatial
    return params


def _coord(c: int, k: Mapping[str, Any]) -> int:
    d = _reduced(c, k)
    bias = k["bias"]
    return c * d + (d if bias else 0) + 2 * d + 2 * (d * c + (c if bias else 0))  # conv1, BN, conv_h, conv_w


def _scoord(c: int, k: Mapping[str, Any]) -> int:
    d = _reduced(c, k)
    bias = k["bias"]
    return c * d + (d if bias else 0) + 2 * (d * c + (c if bias else 0))  # fc1, fc_h, fc_w


def _ela(c: int, k: Mapping[str, Any]) -> int:
    conv = c * k["kernel_size"] + (c if k["bias"] else 0)  # depthwise k×1 (and 1×k)
    return 2 * conv + 2 * 2 * c  # two convs, two GroupNorms of one group (weight and bias per channel)


def _strip(c: int, k: Mapping[str, Any]) -> int:
    if not k["use_conv"]:
        return 0
    return 2 * (c * k["kernel_size"] + (c if k["bias"] else 0))  # depthwise k×1 and 1×k


# --- the work of one block on a C×H×W map (P = H·W positions, L = H + W strip positions), as SEWork counts it


def _se_work(c: int, h: int, w: int, k: Mapping[str, Any]) -> SEWork:
    return se_work(c, h, w, None, k["bias"], se_hidden(c, k["r"], k["divisor"]))


def _sse_work(c: int, h: int, w: int, k: Mapping[str, Any]) -> SEWork:
    return sse_work(c, h, w, k["bias"])


def _scse_work(c: int, h: int, w: int, k: Mapping[str, Any]) -> SEWork:
    return _se_work(c, h, w, k) + _sse_work(c, h, w, k) + SEWork(combine_ops=h * w * c)  # the two maps combined


def _channel_gate(c: int, h: int, w: int, pools: int = 1) -> SEWork:
    """A global pool of the map (``pools`` of them: average, and max), C gates and the scale by them."""
    return SEWork(pool_ops=pools * h * w * c, gates=c, scale_muls=h * w * c)


def _ese_work(c: int, h: int, w: int, k: Mapping[str, Any]) -> SEWork:
    return _channel_gate(c, h, w, 1 + k["add_maxpool"]) + SEWork(fc_macs=c * c, bias_adds=c)  # one 1×1 conv C→C


def _eca_work(c: int, h: int, w: int, k: Mapping[str, Any]) -> SEWork:
    taps = _taps(c, k)
    if k["use_mlp"]:  # Conv1d(1→d, 1) and Conv1d(d→1, k) along the C pooled values, both with biases
        d = _reduced(c, k, round_limit=0.9)
        return _channel_gate(c, h, w) + SEWork(fc_macs=d * c + d * taps * c, bias_adds=d * c + c)
    return _channel_gate(c, h, w) + SEWork(fc_macs=taps * c)  # one Conv1d(1→1, k) along the C pooled values


def _ceca_work(c: int, h: int, w: int, k: Mapping[str, Any]) -> SEWork:
    bias = k.get("conv_bias", k["act_layer"] is not None)
    return _channel_gate(c, h, w) + SEWork(fc_macs=_taps(c, k) * c, bias_adds=c if bias else 0)  # padded circularly


def _ge_work(c: int, h: int, w: int, k: Mapping[str, Any]) -> SEWork:
    _ge(c, k)  # GE-θ (extra_params) is refused as its parameters are
    if k["extent"]:
        raise ValueError(f"ge with extent {k['extent']} (a local gather, upsampled back to the map) has no work "
                         "formula here: give extent=0, the global gather timm's factory makes")
    work = _channel_gate(c, h, w, 1 + k["add_maxpool"])
    if k["use_mlp"]:  # ConvMlp C→d→C with biases
        d = _reduced(c, k)
        work += SEWork(fc_macs=2 * c * d, bias_adds=d + c)
    return work


def _gc_work(c: int, h: int, w: int, k: Mapping[str, Any]) -> SEWork:
    p = h * w
    # the context: attention pooling (a 1×1 conv C→1 with its bias, a softmax over P, the weighted sum) or an average
    work = SEWork(spatial_macs=2 * p * c, bias_adds=p, gates=p) if k["use_attn"] else SEWork(pool_ops=p * c)
    d = _reduced(c, k)
    mlp = SEWork(fc_macs=2 * c * d, bias_adds=d + c, norm_ops=d)  # ConvMlp C→d→C with biases, a LayerNorm on d
    if k["fuse_scale"]:
        work += mlp + SEWork(gates=c, scale_muls=p * c)
    if k["fuse_add"]:
        work += mlp + SEWork(broadcast_adds=p * c)
    return work


def _cbam_work(maps: int) -> Callable[[int, int, int, Mapping[str, Any]], SEWork]:
    """CBAM (``maps`` 2: its MLP on the average and on the max, its conv on both channel pools) or light CBAM
    (``maps`` 1: the MLP, and the conv, on their mean)."""
    def work(c: int, h: int, w: int, k: Mapping[str, Any]) -> SEWork:
        p, d, s = h * w, _reduced(c, k), k["spatial_kernel_size"]
        # channel: average and max pools, the MLP C→d→C, C gates, the scale
        channel = SEWork(pool_ops=2 * p * c, fc_macs=maps * 2 * c * d,
                         bias_adds=maps * (d + c) if k["mlp_bias"] else 0, gates=c, scale_muls=p * c)
        # spatial: mean and max over channels, an s×s conv maps→1 at every position, a BatchNorm, P gates, the scale
        spatial = SEWork(pool_ops=2 * p * c, fc_macs=maps * s * s * p, norm_ops=p, gates=p, scale_muls=p * c)
        return channel + spatial
    return work


def _skip(c: int, h: int, w: int, k: Mapping[str, Any]) -> SEWork:
    return SEWork(combine_ops=h * w * c if k["has_skip"] else 0)  # the input added back to the output


def _coord_work(c: int, h: int, w: int, k: Mapping[str, Any]) -> SEWork:
    p, strips, d = h * w, h + w, _reduced(c, k)
    # pools along W and along H; conv1 C→d, a BatchNorm, conv_h and conv_w d→C on the L strip positions; C·L gates;
    # the map scaled by the W gates, then by the H gates
    return SEWork(pool_ops=2 * p * c, fc_macs=2 * c * d * strips, bias_adds=(d + c) * strips if k["bias"] else 0,
                  norm_ops=d * strips, gates=c * strips, scale_muls=2 * p * c) + _skip(c, h, w, k)


def _scoord_work(c: int, h: int, w: int, k: Mapping[str, Any]) -> SEWork:
    p, strips, d = h * w, h + w, _reduced(c, k)
    # pools along W and along H; fc1 C→d, fc_h and fc_w d→C on the L strip positions; the H and W strips added
    # into a full map, gated there, the map scaled by it
    return SEWork(pool_ops=2 * p * c, fc_macs=2 * c * d * strips, bias_adds=(d + c) * strips if k["bias"] else 0,
                  expand_adds=p * c, map_gates=p * c, scale_muls=p * c) + _skip(c, h, w, k)


def _ela_work(c: int, h: int, w: int, k: Mapping[str, Any]) -> SEWork:
    p, strips = h * w, h + w
    # pools along W and along H; a depthwise k-tap conv and a GroupNorm on each strip; C·L gates; two scales
    return SEWork(pool_ops=2 * p * c, fc_macs=c * k["kernel_size"] * strips, bias_adds=c * strips if k["bias"] else 0,
                  norm_ops=c * strips, gates=c * strips, scale_muls=2 * p * c) + _skip(c, h, w, k)


def _strip_work(c: int, h: int, w: int, k: Mapping[str, Any]) -> SEWork:
    p, strips = h * w, h + w
    # pools along W and along H; the strips added into a full map, gated there, the map scaled by it
    work = SEWork(pool_ops=2 * p * c, expand_adds=p * c, map_gates=p * c, scale_muls=p * c) + _skip(c, h, w, k)
    if k["use_conv"]:  # a depthwise k-tap conv on each strip
        work += SEWork(fc_macs=c * k["kernel_size"] * strips, bias_adds=c * strips if k["bias"] else 0)
    return work


_GC = ("rd_ratio", "rd_divisor", "use_attn", "fuse_add", "fuse_scale")
_GE_REFUSED = {"extent": "a local gather (extent > 0) has no work formula here: seprof takes GE's global extent",
               "use_mlp": "timm 1.0.31's GatherExcite cannot build its MLP",
               "extra_params": "timm 1.0.31's GatherExcite cannot build its depthwise gather convs"}
_GC_FORMULA = "a·(C + 1) + m·(2·C·d + 3d + C)\na = use_attn, m = fuse_add + fuse_scale, d = round(C · rd_ratio)"
_CBAM = ("rd_ratio", "rd_divisor", "spatial_kernel_size", "mlp_bias")
_COORD = ("rd_ratio", "se_factor", "rd_divisor", "bias", "has_skip")
_ECA = "Wang et al. 2020 (ECA-Net)"
_ECA_MLP = dict.fromkeys(("use_mlp", "act_layer", "rd_ratio", "rd_channels", "rd_divisor"),
                         "it belongs to ECA's MLP variant, --block ecam")
_ECA_KERNEL = {"kernel_size": None}  # timm's kernel_size is used only without C: seprof's none means γ and β's rule

KINDS: tuple[Kind, ...] = (
    Kind("se", "Squeeze-and-Excitation", "Hu et al. 2018 (SENet)", "channel", _se,
         "2·C·h + h + C\nh = ⌊C/r⌋, or C/r to a multiple of the divisor", uses=("r", "divisor", "bias"),
         note="seprof's SE, with the paper's ⌊C/r⌋; --divisor 8 rounds C/r as torchvision's SE does, and timm's se as "
         "well except where rounding down loses over 10% (C = 184, r = 16: timm 8, --divisor 8 16)",
         label="SE", work=_se_work),
    Kind("sse", "spatial SE", "Roy et al. 2018", "spatial", _sse, "C + 1", uses=("bias",),
         label="sSE", work=_sse_work),
    Kind("scse", "concurrent spatial and channel SE", "Roy et al. 2018", "both", _scse,
         "SE + sSE", uses=("r", "divisor", "bias"),
         label="scSE", work=_scse_work),
    Kind("ese", "effective SE", "Lee & Park 2020 (CenterMask)", "channel", _ese, "C² + C", "EffectiveSEModule",
         uses=("add_maxpool",), label="eSE", work=_ese_work),
    Kind("eca", "efficient channel attention", _ECA, "channel", _eca,
         "k\nk = kernel_size, or odd(⌊|log₂C + β| / γ⌋), at least 3", "EcaModule",
         defaults=_ECA_KERNEL, uses=("gamma", "beta", "kernel_size"), refused=_ECA_MLP,
         label="ECA", work=_eca_work),
    Kind("ecam", "ECA with an MLP (timm's variant)", f"{_ECA}; timm", "channel", _eca,
         "2d + d·k + 1, k as ECA's\nd = C · rd_ratio to a multiple of 8 (+8 where that lost over 10%)", "EcaModule",
         {"use_mlp": True}, _ECA_KERNEL, uses=("gamma", "beta", "rd_ratio", "rd_divisor"),
         refused={"kernel_size": "its MLP needs C, so its kernel follows gamma and beta"},
         label="ECA-MLP", work=_eca_work),
    Kind("ceca", "ECA with circular padding (timm's)", f"{_ECA}; timm", "channel", _ceca,
         "k (+1 with an act_layer), k as ECA's", "CecaModule", defaults=_ECA_KERNEL,
         uses=("gamma", "beta", "kernel_size", "act_layer"),
         label="CECA", work=_ceca_work),
    Kind("ge", "Gather-Excite", "Hu et al. 2018 (GENet)", "channel", _ge,
         "0 (GE-θ⁻, global extent)\nwith use_mlp: 2·C·d + d + C, d = round(C · rd_ratio)", "GatherExcite",
         defaults={"use_mlp": False}, uses=("add_maxpool",), refused=_GE_REFUSED,
         note="parameter-free by default: timm 1.0.31's GatherExcite cannot build its MLP (use_mlp=True)",
         label="GE", work=_ge_work),
    Kind("gc", "global context", "Cao et al. 2019 (GCNet)", "channel", _gc, _GC_FORMULA, "GlobalContext", uses=_GC,
         label="GC", work=_gc_work),
    Kind("gca", "global context, fused by addition", "Cao et al. 2019 (GCNet)", "channel", _gc, _GC_FORMULA,
         "GlobalContext", {"fuse_add": True, "fuse_scale": False}, uses=_GC,
         label="GC-add", work=_gc_work),
    Kind("cbam", "convolutional block attention", "Woo et al. 2018 (CBAM)", "both", _cbam(2),
         "2·C·d + 2·s² + 2\nd = round(C · rd_ratio), s = spatial_kernel_size", "CbamModule", uses=_CBAM,
         label="CBAM", work=_cbam_work(2)),
    Kind("lcbam", "CBAM, light (timm's variant)", "Woo et al. 2018 (CBAM); timm", "both", _cbam(1),
         "2·C·d + s² + 2\nd = round(C · rd_ratio), s = spatial_kernel_size", "LightCbamModule", uses=_CBAM,
         label="light CBAM", work=_cbam_work(1)),
    Kind("coord", "coordinate attention", "Hou et al. 2021", "both", _coord,
         "3·C·d + 2d + b·(d + 2C)\nd = C · rd_ratio · se_factor to a multiple of 8, b = bias", "CoordAttn",
         uses=_COORD,
         label="CoordAttn", work=_coord_work),
    Kind("scoord", "simple coordinate attention (timm's)", "Hou et al. 2021; timm", "both", _scoord,
         "3·C·d + b·(d + 2C)\nd = C · rd_ratio · se_factor to a multiple of 8, b = bias", "SimpleCoordAttn",
         uses=_COORD,
         label="simple CoordAttn", work=_scoord_work),
    Kind("ela", "efficient local attention", "Xu & Wan 2024 (ELA)", "both", _ela,
         "2·C·k + 4C + b·2C\nk = kernel_size, b = bias",
         "EfficientLocalAttn", uses=("kernel_size", "bias", "has_skip"),
         label="ELA", work=_ela_work),
    Kind("strip", "strip attention (timm's)", "timm", "both", _strip,
         "u·(2·C·k + b·2C)\nu = use_conv, k = kernel_size, b = bias", "StripAttn",
         uses=("use_conv", "kernel_size", "bias", "has_skip"),
         label="strip attention", work=_strip_work),
)

KIND_NAMES = tuple(kind.name for kind in KINDS)


def kind(name: str) -> Kind:
    """The kind called ``name`` (cse is another name of se)."""
    name = "se" if name == "cse" else name
    for entry in KINDS:
        if entry.name == name:
            return entry
    raise KeyError(name)


# --- a model's own copies: the knobs read off a built timm module, for the same formulas


def _width(layer: Any) -> int:
    return getattr(layer, "out_channels", None) or layer.out_features


def _eca_knobs(m: Any) -> dict[str, Any]:
    if m.conv2 is not None:
        return {"use_mlp": True, "taps": m.conv2.kernel_size[0], "rd_channels": m.conv.out_channels}
    return {"use_mlp": False, "taps": m.conv.kernel_size[0]}


def _gc_knobs(m: Any) -> dict[str, Any]:
    mlp = m.mlp_add if m.mlp_add is not None else m.mlp_scale
    return {"use_attn": m.conv_attn is not None, "fuse_add": m.mlp_add is not None,
            "fuse_scale": m.mlp_scale is not None, **({"rd_channels": mlp.fc1.out_channels} if mlp else {})}


def _cbam_knobs(m: Any) -> dict[str, Any]:
    return {"rd_channels": m.channel.fc1.out_channels, "mlp_bias": m.channel.fc1.bias is not None,
            "spatial_kernel_size": m.spatial.conv.conv.kernel_size[0]}


def _coord_knobs(m: Any) -> dict[str, Any] | None:
    first = getattr(m, "conv1", None) or m.fc1
    if hasattr(m, "bn1") and not (isinstance(m.bn1, _batchnorm()) and m.bn1.affine):
        return None  # built without its norm, or one without weights: the formula holds a BatchNorm's
    return {"rd_channels": _width(first), "bias": first.bias is not None}


def _ela_knobs(m: Any) -> dict[str, Any] | None:
    if not (isinstance(m.norm_h, _groupnorm()) and m.norm_h.affine):
        return None  # the formula holds two GroupNorms' weights
    return {"kernel_size": m.conv_h.kernel_size[0], "bias": m.conv_h.bias is not None}


def _strip_knobs(m: Any) -> dict[str, Any]:
    if not m.use_conv:
        return {"use_conv": False}
    return {"use_conv": True, "kernel_size": m.conv_h.kernel_size[0], "bias": m.conv_h.bias is not None}


def _ge_knobs(m: Any) -> dict[str, Any] | None:
    if m.gather is not None:
        return None
    fc1 = getattr(m.mlp, "fc1", None)
    return {"use_mlp": fc1 is not None, **({"rd_channels": fc1.out_channels} if fc1 is not None else {})}


def _batchnorm() -> type:
    from torch import nn

    return nn.modules.batchnorm._BatchNorm


def _groupnorm() -> type:
    from torch import nn

    return nn.GroupNorm


# timm class → the knobs of a built copy (None where it is built in a way the formula does not hold)
READERS: dict[str, Callable[[Any], dict[str, Any] | None]] = {
    "EffectiveSEModule": lambda m: {},
    "EcaModule": _eca_knobs,
    "CecaModule": lambda m: {"taps": m.conv.kernel_size[0], "conv_bias": m.conv.bias is not None},
    "GatherExcite": _ge_knobs,
    "GlobalContext": _gc_knobs,
    "CbamModule": _cbam_knobs,
    "LightCbamModule": _cbam_knobs,
    "CoordAttn": _coord_knobs,
    "SimpleCoordAttn": _coord_knobs,
    "EfficientLocalAttn": _ela_knobs,
    "StripAttn": _strip_knobs,
}


def kind_of(module: Any) -> tuple[Kind, int] | None:
    """A built timm attention module as (its kind in the table, its parameters by the kind's formula with the
    knobs read off it); None where the table has no such kind, or the module is built in a way its formula does
    not hold. Of several kinds with the module's class (eca and ecam, gc and gca), the one whose factory arguments
    the module matches most closely."""
    found = read_back(module)
    if found is None:
        return None
    chosen, knobs, channels = found
    return chosen, chosen.params(channels, {**chosen.knobs, **knobs})


def read_back(module: Any) -> tuple[Kind, dict[str, Any], int] | None:
    """A built timm attention module as (its kind in the table, the knobs read off it, its channels C as its first
    layer takes them), as ``kind_of`` reads it; None where ``kind_of`` gives None."""
    base = next((cls.__name__ for cls in type(module).__mro__ if cls.__name__ in READERS), None)  # subclasses too
    if base is None:
        return None
    try:
        knobs = READERS[base](module)
    except AttributeError:  # a module of that name built otherwise (another timm, a copy of the class elsewhere)
        return None
    if knobs is None:
        return None
    candidates = [k for k in KINDS if k.timm_class == base
                  and all(knobs.get(name, value) == value for name, value in k.factory.items())]
    if not candidates:
        return None
    return max(candidates, key=lambda k: len(k.factory)), knobs, _channels_of(module)


def _channels_of(module: Any) -> int:
    """C of a built attention module: the input width of its first layer. (ECA's first layer is a Conv1d over the
    channel axis, of one input channel; its formula, given the kernel read off it, does not use C.)"""
    for layer in module.modules():
        channels = getattr(layer, "in_channels", None) or getattr(layer, "in_features", None)
        if channels:
            return channels
    return 0  # no layer (strip attention without its convs, GE without its MLP): nothing depends on C
