"""Which attention block, and where in the residual unit: one value, ``BlockSpec``, without importing torch.

The choices follow the two papers seprof is built on:
- SENet (Hu et al., arXiv 1709.01507): the SE block (Sec. 3), its reduction ratio r (Table 10), squeeze
  operator (Table 11), excitation gate (Table 12), FC biases (dropped in the ablations, Sec. 6) and the
  integration strategies of Fig. 5 / Table 14: standard (before the residual sum), PRE (before the unit),
  POST (after the sum and its activation) and Identity (on the identity path).
- Roy et al. (arXiv 1803.02579): cSE (the SE block under their name), sSE (a 1×1 conv C→1 and a gate per
  position) and scSE (both, combined by adding the two recalibrated maps, as in the MICCAI paper, or by
  their element-wise maximum, as in the authors' released code).

A ``BlockSpec`` is frozen and checked when made; the CLI, the Python API, the report, its CSV/JSON columns and
the checkpoint all carry it whole.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from fractions import Fraction
from typing import Any

from .accounting import SEWork
from .errors import OptionError, elided
from .kinds import KIND_NAMES, PAPER_R, Kind, divisible, se_hidden
from .kinds import kind as table_kind
from .options import Choice


class _KindChoice(Choice):
    """The attention block: one of the table of kinds (``seprof.kinds``), by name; cse is another name of se."""

    @property
    def block(self) -> BlockKind:
        """The block this name stands for: cse is another name of se."""
        return BlockKind.SE if self is BlockKind.CSE else self

    @property
    def entry(self) -> Kind:
        """Its entry in the table of kinds."""
        return table_kind(self.value)

    @property
    def seprof(self) -> bool:
        """Whether it is one of seprof's own blocks (se, cse, sse, scse), set by ``BlockSpec``'s own knobs; timm's
        kinds take theirs in ``BlockSpec.knobs``."""
        return self.entry.seprof

    @property
    def channel(self) -> bool:
        """Whether the block has SE's channel excitation (a squeeze and two FC layers of width C // r)."""
        return self.value in ("se", "cse", "scse")

    @property
    def spatial(self) -> bool:
        """Whether the block has sSE's spatial excitation (a 1×1 conv C→1 and a gate per position)."""
        return self.value in ("sse", "scse")

    @property
    def title(self) -> str:
        """The block's short name: SE, cSE, sSE, scSE, ECA, CBAM, ..."""
        return "cSE" if self.value == "cse" else self.entry.label

    def has(self, knob: str) -> bool:
        """Whether blocks of this kind use ``knob`` (a ``BlockSpec`` field): r, squeeze and divisor belong to
        channel excitation, combine to scSE, the position to every kind, the other knobs to seprof's kinds."""
        if knob == "position":
            return True
        if not self.seprof:
            return False
        if knob == "combine":
            return self.value == "scse"
        return self.channel or knob not in ("r", "squeeze", "divisor")


# every kind of the table by name, and cse (another name of se) after se
_NAMES = [n for name in KIND_NAMES for n in ((name, "cse") if name == "se" else (name,))]
BlockKind = _KindChoice("BlockKind", [(name.upper(), name) for name in _NAMES], module=__name__, qualname="BlockKind")


class Position(Choice):
    """Where in a residual unit the block goes (SENet Fig. 5)."""

    STANDARD = "standard"
    PRE = "pre"
    POST = "post"
    IDENTITY = "identity"


class Squeeze(Choice):
    """The channel squeeze: global average or global max pooling."""

    AVG = "avg"
    MAX = "max"


class Gate(Choice):
    """The function that turns excitations into scales."""

    SIGMOID = "sigmoid"
    HARDSIGMOID = "hardsigmoid"
    TANH = "tanh"
    RELU = "relu"


class Combine(Choice):
    """How scSE combines its two recalibrated maps: their sum (MICCAI paper) or element-wise max (authors' code)."""

    ADD = "add"
    MAX = "max"


class StageSet(Choice):
    """Stage sets a sweep names by a word: every stage together, or each stage alone."""

    ALL = "all"
    EACH = "each"


# seprof's own knobs, which timm's kinds do not take (they take theirs in ``BlockSpec.knobs``)
SEPROF_KNOBS: dict[str, Any] = {"r": PAPER_R, "bias": True, "squeeze": Squeeze.AVG, "gate": Gate.SIGMOID,
                                "divisor": None, "combine": Combine.ADD}
# The knobs only some of seprof's kinds use, each with the default that a kind without it keeps (bias and gate:
# every one of them).
KIND_KNOBS: dict[str, Any] = {k: SEPROF_KNOBS[k] for k in ("r", "squeeze", "divisor", "combine")}


def own_knobs_hint(kind: BlockKind) -> str:
    """Where a timm kind's own knobs are listed and how they are given."""
    return (f"{kind}'s own knobs are listed by seprof blocks and given as --knob NAME=VALUE (knobs= in the API)")


def knob_refusal(knob: str, value: Any, kind: BlockKind) -> OptionError:
    """The error for giving ``knob`` to a block of ``kind``, which does not use it."""
    if not kind.seprof:
        return OptionError(knob, value, "applies to seprof's se, sse and scse, not to {other}: "
                           + own_knobs_hint(kind), other=("block", kind))
    if knob == "combine":
        return OptionError(knob, value, "applies to scSE only ({other} has one map): drop it", other=("block", kind))
    return OptionError(knob, value, "applies to channel excitation, which {other} does not have: use se, cse or "
                       "scse", other=("block", kind))


_ODD_KNOBS = ("kernel_size", "spatial_kernel_size")  # a centred kernel: its size is odd


def _knob_value_error(name: str, value: Any, default: Any) -> str | None:
    """Why ``value`` cannot be the knob ``name`` (default ``default``), or None where it can."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "is not true or false"
    if name in _ODD_KNOBS:
        if (value is None and default is None) or (_whole(value) and value >= 1 and value % 2):
            return None
        return "is not an odd kernel size" + (" (or none, for γ and β's)" if default is None else "")
    if name == "rd_divisor":
        return None if _whole(value) and value >= 1 else "is not a whole number of at least 1"
    if name == "act_layer":
        return None if value is None or value in _activations() else f"is not one of {', '.join(_activations())}, none"
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "is not a number"
    return None if value > 0 or name == "beta" else "is not above 0"


def _activations() -> list[str]:
    """The activation names timm's layers take."""
    from timm.layers.create_act import _ACT_LAYER_DEFAULT

    return sorted(_ACT_LAYER_DEFAULT)


def _knob_text(value: Any) -> str:
    """A knob's value in a label: 0.125, 3, true, none."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def check_knobs(kind: BlockKind, knobs: Any) -> tuple[BlockKind, tuple[tuple[str, Any], ...]]:
    """``knobs`` (a mapping, or (name, value) pairs) as a timm kind's checked knobs that differ from its defaults,
    sorted by name, with the kind they make: a kind whose factory arguments they give is that kind (gc fused by
    addition alone is gca), so that one spec means one block. An OptionError names a knob the kind does not
    take, or a value it cannot take."""
    pairs = list(knobs.items()) if isinstance(knobs, Mapping) else list(knobs or ())
    if not pairs:
        return kind, ()
    if not all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in pairs):
        raise OptionError("knobs", knobs, "is invalid: give a mapping of knob names to values, e.g. "
                          "{'spatial_kernel_size': 3}")
    shown = ", ".join(f"{elided(k)}={_knob_text(v)}" for k, v in pairs)
    if kind.seprof:
        raise OptionError("knobs", shown, "applies to timm's kinds; {other} takes seprof's own "
                          f"({', '.join(kind.entry.knobs)}) as options of their own", other=("block", kind))
    entry = kind.entry
    try:
        defaults = entry.knobs
    except ImportError as error:
        raise OptionError("block", kind, f"needs timm: {error}") from None
    for name, value in pairs:
        named = f"{elided(name)}={_knob_text(value)}"
        if name not in entry.uses:
            reason = entry.refused.get(name)
            raise OptionError("knobs", named, f"is not a knob of {kind}" + (f": {reason}" if reason else "")
                              + f" (its knobs: {', '.join(entry.uses) or 'none'})")
        why = _knob_value_error(name, value, defaults[name])
        if why:
            raise OptionError("knobs", named, f"{why} ({kind}'s default: {_knob_text(defaults[name])})")
    given = {**defaults, **dict(pairs)}
    twins = [k for k in BlockKind if k.entry.timm_class == entry.timm_class
             and all(given.get(n) == v for n, v in k.entry.factory.items())]
    made = max(twins, key=lambda k: len(k.entry.factory))
    base = made.entry.knobs
    return made, tuple(sorted((n, v) for n, v in given.items() if n in made.entry.uses and v != base[n]))


def make_divisible(value: float, divisor: int) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``), and one more
    ``divisor`` if that rounding lost over 10%: torchvision's and timm's rule for SE hidden widths."""
    return divisible(value, divisor, 0.9)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class BlockSpec:
    """One attention block, fully described.

    Attributes:
        kind: se (= cse), sse or scse.
        r: reduction ratio of the channel excitation; the hidden width is C // r.
        bias: biases in the excitation layers (the FCs, and sSE's 1×1 conv).
        squeeze: global average or max pooling for the channel squeeze.
        gate: the function applied to the excitations (sigmoid in both papers).
        divisor: round C / r to a multiple of this (torchvision's and timm's rule) instead of flooring it.
        combine: how scSE combines its two maps.
        position: where in a residual unit the block goes.
        knobs: a timm kind's own knobs that differ from its defaults, as (name, value) pairs sorted by name (a
            mapping is accepted): ``{"spatial_kernel_size": 3}`` for CBAM; ``seprof blocks`` lists each kind's.

    Knobs that a kind does not use must keep their defaults (an sSE block has no r; timm's kinds take none of
    seprof's r, bias, squeeze, gate, divisor and combine), so that one spec means one block.
    """

    kind: BlockKind = BlockKind.SE
    r: int = PAPER_R
    bias: bool = True
    squeeze: Squeeze = Squeeze.AVG
    gate: Gate = Gate.SIGMOID
    divisor: int | None = None
    combine: Combine = Combine.ADD
    position: Position = Position.STANDARD
    knobs: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        for name, choice in (("kind", BlockKind), ("squeeze", Squeeze), ("gate", Gate), ("combine", Combine),
                             ("position", Position)):
            object.__setattr__(self, name, choice.parse(name if name != "kind" else "block", getattr(self, name)))
        if not _whole(self.r) or self.r < 1:
            raise OptionError("r", self.r, "is invalid: the reduction ratio must be a whole number of at least 1 "
                              "(the paper uses 16)")
        if not isinstance(self.bias, bool):
            raise OptionError("bias", self.bias, "is invalid: give True or False")
        if self.divisor is not None and (not _whole(self.divisor) or self.divisor < 1):
            raise OptionError("divisor", self.divisor, "is invalid: give a whole number of at least 1 (8 is "
                              "torchvision's and timm's), or none to floor C/r as the paper")
        for knob, default in (KIND_KNOBS if self.kind.seprof else SEPROF_KNOBS).items():
            if not self.kind.has(knob) and getattr(self, knob) != default:
                raise knob_refusal(knob, getattr(self, knob), self.kind)
        kind, knobs = check_knobs(self.kind, self.knobs)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "knobs", knobs)

    @property
    def kind_knobs(self) -> dict[str, Any]:
        """The knobs the table of kinds' formulas take: seprof's r, bias and divisor for its own kinds, or a timm
        kind's knobs given (its defaults fill the rest)."""
        if self.kind.seprof:
            return {name: getattr(self, name) for name in self.kind.entry.knobs}
        return dict(self.knobs)

    def params(self, channels: int) -> int:
        """Parameters of one block on ``channels`` channels, by the table of kinds' formula."""
        return self.kind.entry.count(channels, **self.kind_knobs)

    def paper_params(self, channels: int) -> Fraction:
        """The papers' formula for one block, weights only: (2/r)·C² for channel excitation (SENet eq. 5), C for
        spatial excitation (Roy et al.), scSE both; a timm kind's own formula (biases and norms included)."""
        if not self.kind.seprof:
            return Fraction(self.params(channels))
        total = Fraction(2 * channels * channels, self.r) if self.kind.channel else Fraction(0)
        return total + (channels if self.kind.spatial else 0)

    def weights(self, channels: int) -> int:
        """The parameters a pass reads once: seprof's kinds' weights without biases, a timm kind's all."""
        return replace(self, bias=False).params(channels) if self.kind.seprof else self.params(channels)

    def work(self, channels: int, height: int, width: int) -> SEWork:
        """The work one block does on a channels×height×width map (tokens: height = the token count, width =
        1), by the table of kinds' formula."""
        return self.kind.entry.work_at(channels, height, width, **self.kind_knobs)

    def hidden(self, channels: int) -> int | None:
        """The channel excitation's hidden width for ``channels`` channels (None for sSE and timm's kinds)."""
        return se_hidden(channels, self.r, self.divisor) if self.kind.channel else None

    def named(self, words: list[str]) -> str:
        """The block's title with ``words`` in parentheses: 'scSE (r=8, max)', or 'sSE' for none."""
        return self.kind.title + (f" ({', '.join(words)})" if words else "")

    def shape(self) -> list[str]:
        """What makes the block's shape, in words: its r and scSE's combine ('r=8', 'max')."""
        return (([f"r={self.r}"] if self.kind.channel else [])
                + ([str(self.combine)] if self.kind.has("combine") else [])
                + [f"{name}={_knob_text(value)}" for name, value in self.knobs])

    @property
    def label(self) -> str:
        """A short description: 'SE (r=16)', 'scSE (r=8, max)', 'sSE, no bias, position pre'."""
        return ", ".join([self.named(self.shape()), *self.settings()])

    @property
    def short(self) -> str:
        """The block and every setting that differs from the paper's, in one name: 'SE (r=16)',
        'scSE (r=8, max, no bias)', 'SE (r=16, position pre)', 'sSE'."""
        return self.named(self.shape() + self.settings())

    def settings(self) -> list[str]:
        """The settings that differ from the paper's defaults, in words ('max squeeze', 'no bias', ...)."""
        words = []
        if not self.bias:
            words.append("no bias")
        if self.squeeze is not Squeeze.AVG:
            words.append(f"{self.squeeze} squeeze")
        if self.gate is not Gate.SIGMOID:
            words.append(f"{self.gate} gate")
        if self.divisor is not None:
            words.append(f"hidden width rounded to a multiple of {self.divisor}")
        if self.position is not Position.STANDARD:
            words.append(f"position {self.position}")
        return words

    @property
    def slug(self) -> str:
        """A short, unique, filename-safe name: 'se_r16', 'scse_r8_max_pre', 'sse_nobias'."""
        parts = [str(self.kind)]
        if self.kind.channel:
            parts.append(f"r{self.r}")
        if self.kind is BlockKind.SCSE:
            parts.append(str(self.combine))
        if not self.bias:
            parts.append("nobias")
        if self.squeeze is not Squeeze.AVG:
            parts.append(f"{self.squeeze}pool")
        if self.gate is not Gate.SIGMOID:
            parts.append(str(self.gate))
        if self.divisor is not None:
            parts.append(f"div{self.divisor}")
        if self.position is not Position.STANDARD:
            parts.append(str(self.position))
        parts += [f"{name}{_knob_text(value)}".replace(" ", "") for name, value in self.knobs]
        return "_".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain data (choices as their strings; r, squeeze and divisor None for sSE)."""
        data = {k: (str(v) if isinstance(v, Choice) else v) for k, v in asdict(self).items()}
        data["block"] = data.pop("kind")
        if not self.kind.channel:
            data.update(r=None, squeeze=None)
        if self.kind is not BlockKind.SCSE:
            data["combine"] = None
        if not self.kind.seprof:
            data.update(r=None, bias=None, squeeze=None, gate=None)
        data["knobs"] = dict(self.knobs) or None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BlockSpec:
        """The spec ``as_dict`` wrote (missing or None knobs take their defaults)."""
        names = {f.name for f in fields(cls)}
        given = {("kind" if k == "block" else k): v for k, v in data.items() if v is not None}
        unknown = sorted(set(given) - names)
        if unknown:
            raise OptionError("block", data, f"has the unknown setting {unknown[0]!r}: a block has "
                              f"{', '.join(sorted(names - {'kind'}) + ['block'])}")
        return cls(**given)

    def changes(self) -> list[tuple[str, Any]]:
        """(API parameter, value) for each setting that differs from ``BlockSpec()``, the kind ("block") first."""
        default = BlockSpec()
        return [("block" if f.name == "kind" else f.name,
                 dict(self.knobs) if f.name == "knobs" else getattr(self, f.name)) for f in fields(self)
                if getattr(self, f.name) != getattr(default, f.name)]

    def with_options(self, r: int | None = None, bias: bool | None = None) -> BlockSpec:
        """This spec with ``r`` and ``bias`` replaced where given."""
        changes = {k: v for k, v in (("r", r), ("bias", bias)) if v is not None}
        return replace(self, **changes) if changes else self


def block_spec(block: BlockSpec | BlockKind | str | None = None, r: int | None = None,
               bias: bool | None = None) -> BlockSpec:
    """The spec the Python API's ``block=``, ``r=`` and ``bias=`` describe together (a kind name for ``block``
    means that kind with default knobs)."""
    if block is None:
        spec = BlockSpec()
    elif isinstance(block, BlockSpec):
        spec = block
    else:
        spec = BlockSpec(kind=block)
    return spec.with_options(r, bias)
