"""The attention modules models bring with them, recognised by class: those seprof has a formula for, measured and
strippable ("native" SE), and the others, counted and never entered.

With a formula: torchvision's ``SqueezeExcitation`` (EfficientNet, MobileNetV3, RegNetY, MaxViT) and timm's
SE-like modules: ``SEModule`` / ``SqueezeExcite`` (two 1×1 convs C→hidden→C, an optional norm between them), the
EfficientNet/MobileNet blocks' ``SqueezeExcite`` (``conv_reduce``/``conv_expand``), ``EffectiveSEModule``
(eSE, Lee & Park 2020: one 1×1 conv C→C) and ``EcaModule`` / ``CecaModule`` (ECA, Wang et al. 2020: a 1-D conv
of k taps across the channels). ``native_block`` reads a module into a ``NativeBlock``: what it is, its widths
and biases, and from them its parameters (exact, and the papers' weights-only formula) and its work.

Listed, never entered: the rest of timm's attention factory (``TIMM_KINDS``: ECA with an MLP, Gather-Excite, global
context, CBAM, coordinate attention, ELA, strip attention, whose parameters come from the table of kinds'
formulas, ``seprof.kinds``; and the selective kernel and split attention convs, bottleneck, halo and lambda
self-attention and non-local blocks, counted) and any class a ``register_attention`` call names (counted).
``own_attention`` reads a module of either sort. Transformer self-attention layers (``is_self_attention``) are not
listed, but seprof does not enter them either. timm is only consulted when a model has already imported it.

Strippable or not: a module that computes x·gate or x + f(x), a map of its input's shape, is an add-on to its block
and can be stripped (``nn.Identity`` in its place): the table's kinds, the non-local blocks and the native blocks. A
module that is the block's own conv or spatial mixing (the attention convs, the self-attention layers) cannot: its
block does not work without it. ``_HEAVY`` says which of timm's are which and why; a registered class is kept unless
its registration says ``strippable=True``. The table's kinds, stripped, are measured by their formulas
(``TableBlock``, ``profile(own_attention=True)``).
"""

from __future__ import annotations

import functools
import importlib
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from .accounting import SEWork, fc_params
from .kinds import KINDS, Kind, read_back
from .kinds import kind as table_kind
from .options import Choice


class NativeKind(Choice):
    """The shape of a native block's excitation."""

    SE = "se"  # C → hidden → C
    ESE = "ese"  # C → C
    ECA = "eca"  # a 1-D conv of k taps across the channels


@dataclass(frozen=True)
class NativeBlock:
    """One native attention block.

    Attributes:
        kind: its excitation's shape.
        cls: its class name (e.g. "SEModule").
        channels: C.
        hidden: the hidden width (SE), else None.
        bias: whether its excitation layers have biases.
        norm: parameters of a norm layer between the two FCs (timm's SEModule with a norm_layer).
        taps: ECA's kernel size k.
    """

    kind: NativeKind
    cls: str
    channels: int
    hidden: int | None = None
    bias: bool = True
    norm: int = 0
    taps: int | None = None

    @property
    def params(self) -> int:
        """Its exact parameter count."""
        if self.kind is NativeKind.SE:
            return fc_params(self.channels, self.hidden, self.bias) + self.norm
        if self.kind is NativeKind.ESE:
            return self.channels * self.channels + (self.channels if self.bias else 0)
        return self.taps + (1 if self.bias else 0)

    @property
    def weights(self) -> int:
        """Its excitation's weights alone (the papers' formula): 2·C·hidden (SE), C² (eSE), k (ECA)."""
        if self.kind is NativeKind.SE:
            return 2 * self.channels * self.hidden
        if self.kind is NativeKind.ESE:
            return self.channels * self.channels
        return self.taps

    def work(self, positions: int) -> SEWork:
        """The work it does on C channels over ``positions`` positions."""
        pixels = positions * self.channels
        if self.kind is NativeKind.SE:
            fc, biases = 2 * self.channels * self.hidden, (self.hidden + self.channels) if self.bias else 0
        elif self.kind is NativeKind.ESE:
            fc, biases = self.channels * self.channels, self.channels if self.bias else 0
        else:
            fc, biases = self.taps * self.channels, self.channels if self.bias else 0
        return SEWork(pool_ops=pixels, fc_macs=fc, bias_adds=biases, gates=self.channels, scale_muls=pixels)

    def work_on(self, resolution: tuple[int, ...]) -> SEWork:
        """The work it does on the map it sees: H×W, T×H×W, or a token count (a site's ``resolution``)."""
        return self.work(math.prod(resolution))


@dataclass(frozen=True)
class TableBlock:
    """One of a model's own attention modules of a kind in the table of kinds (GC, CBAM, coordinate attention...),
    read back to its kind and the knobs it was built with: its parameters and work come from the kind's formulas
    (``seprof.kinds``), never from counting the module.

    Attributes:
        kind: the kind's name in the table ("gca", "cbam", ...).
        cls: its class name (e.g. "GlobalContext").
        channels: C.
        knobs: the knobs read off the module, as (name, value) pairs; the kind's defaults stand for the rest.
    """

    kind: str
    cls: str
    channels: int
    knobs: tuple[tuple[str, Any], ...] = ()

    hidden = None  # no one hidden width: the kinds' widths are among their knobs
    bias = None  # nor one switch for biases

    @property
    def entry(self) -> Kind:
        """Its kind in the table."""
        return table_kind(self.kind)

    @property
    def params(self) -> int:
        """Its parameters by its kind's formula."""
        return self.entry.params(self.channels, self._knobs())

    @property
    def weights(self) -> int:
        """The parameters a pass reads: all of them (a kind's formula holds its biases and norms, as for the timm
        kinds seprof adds)."""
        return self.params

    def work_on(self, resolution: tuple[int, ...]) -> SEWork:
        """Its work by its kind's formula on the map it sees: H×W (T×H×W: frame by frame), or tokens as a 1×L
        map."""
        if len(resolution) == 1:
            return self.entry.work(self.channels, 1, resolution[0], self._knobs())
        frames = math.prod(resolution[:-2])
        return self.entry.work(self.channels, *resolution[-2:], self._knobs()).times(frames)

    def _knobs(self) -> dict[str, Any]:
        return {**self.entry.knobs, **dict(self.knobs)}


def _norm_params(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def _two_convs(first: str, second: str, norm: str | None = None) -> Callable[[nn.Module], NativeBlock]:
    def read(module: nn.Module) -> NativeBlock:
        reduce = getattr(module, first)
        return NativeBlock(NativeKind.SE, type(module).__name__, reduce.in_channels, reduce.out_channels,
                           reduce.bias is not None, _norm_params(getattr(module, norm, None) if norm else None))
    return read


def _one_conv(module: nn.Module) -> NativeBlock:
    return NativeBlock(NativeKind.ESE, type(module).__name__, module.fc.in_channels, bias=module.fc.bias is not None)


def _eca(module: nn.Module) -> NativeBlock | None:
    if getattr(module, "conv2", None) is not None:  # timm's experimental MLP variant: not ECA as published
        return None
    return NativeBlock(NativeKind.ECA, type(module).__name__, 0, bias=module.conv.bias is not None,
                       taps=module.conv.kernel_size[0])


_CONV = "it is the block's 3×3 conv ({what}, with the block's stride); without it the block has no spatial conv"
_MIXER = ("it is the block's spatial mixing, in place of its 3×3 conv (with the block's stride); without it the block "
          "mixes no positions")

# timm's attention convs and self-attention and non-local layers: class → (the name timm's factory gives it, why it
# cannot be stripped, or "" where it is an add-on). seprof counts them (its table of kinds, ``seprof.kinds``, has
# their lighter kin, all add-ons). The non-local blocks return x + f(x), in the block's attention slot.
_HEAVY = {
    "SelectiveKernel": ("sk", _CONV.format(what="a selective-kernel conv")),
    "SplitAttn": ("splat", _CONV.format(what="a split-attention conv")),
    "LambdaLayer": ("lambda", _MIXER),
    "BottleneckAttn": ("bottleneck", _MIXER),
    "HaloAttn": ("halo", _MIXER),
    "NonLocalAttn": ("nl", ""),
    "BatNonLocalAttn": ("bat", ""),
}
_YOURS = "it is a class of yours (register_attention); give strippable=True where its block works without it"

# The kinds timm's attention factory (``timm.layers.get_attn``) takes, by name: se, the lightweight kinds of the table
# of kinds, and the heavy ones above.
TIMM_KINDS = ("se", *(kind.name for kind in KINDS if kind.needs_timm), *(name for name, _ in _HEAVY.values()))


@dataclass(frozen=True)
class OwnAttention:
    """One attention module a model brings with it (seprof did not write it).

    Attributes:
        kind: its kind: timm's name for it ("gc", "cbam", "sk", ...; see ``TIMM_KINDS``), "se" for torchvision's
            SqueezeExcitation, or the name a ``register_attention`` call gave.
        cls: its class name.
        params: its parameters, counted on the module.
        formula: what seprof reads of it where it has a closed form (SE, eSE, ECA): those modules are measured
            against the model without them, and can be stripped; None where seprof only lists it.
        table: its kind in seprof's table of kinds (``seprof.kinds``) with the knobs read off it; None where the
            table has no formula for it (counted only).
        not_strippable: why seprof cannot strip it (it is the block's conv or spatial mixing); "" for an add-on.
    """

    kind: str
    cls: str
    params: int
    formula: NativeBlock | None = None
    table: TableBlock | None = None
    not_strippable: str = ""

    @property
    def label(self) -> str:
        """"GlobalContext (gc)"."""
        return f"{self.cls} ({self.kind})"

    @property
    def exact(self) -> int | None:
        """Its parameters by its kind's formula in the table of kinds, or None where the table has none for it."""
        return self.table.params if self.table is not None else None

    @property
    def strippable(self) -> bool:
        """Whether it is an add-on to its block, which ``seprof.strip`` replaces with ``nn.Identity``."""
        return not self.not_strippable

    @property
    def measurable(self) -> bool:
        """Whether seprof measures it against the model without it: a native block, or (with ``own_attention``) an
        add-on of a kind in the table, whose formulas give its parameters and work."""
        return self.formula is not None or (self.strippable and self.table is not None)


_TOO_GENERAL = (nn.Module, nn.Sequential, nn.ModuleList, nn.ModuleDict)
_Kind = str | Callable[[nn.Module], str]
_Reader = Callable[[nn.Module], NativeBlock | None] | None

# Attention classes of the user's (``register_attention``): class → (kind, why it cannot be stripped, or "");
# consulted before seprof's own table.
_REGISTERED: dict[type, tuple[str, str]] = {}


def register_attention(block_type: type[nn.Module], kind: str, *, strippable: bool = False) -> None:
    """Teach seprof that modules of ``block_type`` (and its subclasses) are attention of the model's own, for every
    model after this call in this process: they are listed per stage with their counted parameters, and seprof
    never places a block inside one. A registration for the same class is replaced. A registered class is
    counted even where it derives from a class seprof has a formula for (SqueezeExcitation).

    Args:
        block_type: the module's class, e.g. your ``ChannelGate``.
        kind: what to call it in reports, e.g. "gate".
        strippable: its block works without it (it returns x·gate or x + f(x), of its input's shape), so
            ``seprof.strip`` may replace it with ``nn.Identity``; seprof has no formula for it, so it is counted,
            never measured against the model without it.
    """
    from .errors import OptionError

    if not (isinstance(block_type, type) and issubclass(block_type, nn.Module)):
        raise OptionError("block_type", block_type, "is not a torch.nn.Module class")
    if block_type in _TOO_GENERAL:
        raise OptionError("block_type", block_type, "would make every module of its kind attention: name the "
                          "attention module's own class")
    if not isinstance(kind, str) or not kind.strip() or "\n" in kind:
        raise OptionError("kind", kind, "is not a name: give one line of text, e.g. 'gate'")
    if not isinstance(strippable, bool):
        raise OptionError("strippable", strippable, "is not True or False")
    _REGISTERED[block_type] = (kind.strip(), "" if strippable else _YOURS)


def _rows() -> dict[type, tuple[_Kind, _Reader]]:
    return _known_rows(sys.modules.get("timm") is not None)


@functools.lru_cache(maxsize=2)
def _known_rows(with_timm: bool) -> dict[type, tuple[_Kind, _Reader]]:
    """Attention class → (kind, or a function of the module giving it; reader of its formula, None if counted)."""
    from torchvision.ops import SqueezeExcitation

    rows: dict[type, tuple[_Kind, _Reader]] = {SqueezeExcitation: ("se", _two_convs("fc1", "fc2"))}
    if with_timm:  # a model that holds timm's modules has imported timm already
        from timm.layers import eca, squeeze_excite
        from timm.models import _efficientnet_blocks, senet

        rows |= {
            squeeze_excite.SEModule: ("se", _two_convs("fc1", "fc2", "bn")),
            squeeze_excite.SqueezeExcite: ("se", _two_convs("fc1", "fc2", "bn")),
            _efficientnet_blocks.SqueezeExcite: ("se", _two_convs("conv_reduce", "conv_expand")),
            senet.SEModule: ("se", _two_convs("fc1", "fc2")),
            squeeze_excite.EffectiveSEModule: ("ese", _one_conv),
            eca.EcaModule: (lambda m: "eca" if getattr(m, "conv2", None) is None else "ecam", _eca),
            eca.CecaModule: ("ceca", _eca),
        }
        factory = importlib.import_module("timm.layers.create_attn")  # the module (timm.layers has its function)
        listed: dict[str, str] = {}
        for kind in KINDS:  # a class's first kind names it where the table cannot read it (eca, gc)
            if kind.needs_timm:
                listed.setdefault(kind.timm_class, kind.name)
        heavy = {name: kind for name, (kind, _) in _HEAVY.items()}
        for name, kind in (listed | heavy).items():  # the classes timm's factory imports; an older timm may lack some
            cls = getattr(factory, name, None)
            if cls is not None and cls not in rows:
                rows[cls] = (kind, None)
    return rows


def _is_seprofs(module: nn.Module) -> bool:
    return type(module).__module__.partition(".")[0] == "seprof"


def _recognised(module: nn.Module) -> tuple[bool, _Kind, _Reader, type] | None:
    """(registered by the user, kind, formula reader, the class recognised) of ``module``'s class or its nearest
    recognised base class, or None (seprof's own blocks are not recognised)."""
    if _is_seprofs(module):
        return None
    rows = _rows()
    for cls in type(module).__mro__:
        if cls in _REGISTERED:
            return True, _REGISTERED[cls][0], None, cls
        if cls in rows:
            return (False, *rows[cls], cls)
    return None


def _not_strippable(registered: bool, cls: type) -> str:
    """Why seprof cannot strip a module recognised as ``cls`` ("" for an add-on)."""
    if registered:
        return _REGISTERED[cls][1]
    return _HEAVY.get(cls.__name__, ("", ""))[1]


def own_attention(module: nn.Module) -> OwnAttention | None:
    """``module`` as attention of the model's own (recognised by its class, or the nearest recognised base class),
    or None when it is not (seprof's own blocks are not)."""
    found = _recognised(module)
    if found is None:
        return None
    registered, kind, read, cls = found
    by_table = read_back(module) if not registered else None  # the table's kind (ecam, gca), knobs and width
    table = None
    if by_table is not None:
        entry, knobs, channels = by_table
        kind = entry.name
        table = TableBlock(entry.name, type(module).__name__, channels, tuple(sorted(knobs.items())))
    return OwnAttention(kind(module) if callable(kind) else kind, type(module).__name__,
                        sum(p.numel() for p in module.parameters()), read(module) if read is not None else None,
                        table, _not_strippable(registered, cls))


def is_own_attention(module: nn.Module) -> bool:
    """Whether ``module`` is attention of a model's own (by its class alone: nothing read off it)."""
    return _recognised(module) is not None


def native_block(module: nn.Module) -> NativeBlock | None:
    """``module`` as a native attention block seprof has a formula for (SE, eSE, ECA), or None when it is not one
    (seprof's own blocks are not)."""
    found = _recognised(module)
    return found[2](module) if found is not None and found[2] is not None else None


_SELF_ATTENTION = re.compile(r"Attention|Attn")
_AROUND_ATTENTION = re.compile(r"(Block|Stage)$")


def is_self_attention(module: nn.Module) -> bool:
    """Whether ``module`` is a self-attention layer seprof does not enter (torch's ``MultiheadAttention``, Swin's
    window attention, timm's ``Attention`` classes...): by its class name, which names attention and not a block
    or stage, and which holds no other such layer (a layer around attention, as MaxViT's partition attention, is
    not one)."""
    def named(m: nn.Module) -> bool:
        name = type(m).__name__
        return bool(_SELF_ATTENTION.search(name)) and not _AROUND_ATTENTION.search(name) and not _is_seprofs(m)

    return named(module) and not any(named(m) for m in module.modules() if m is not module)
