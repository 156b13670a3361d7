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

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .errors import OptionError
from .options import Choice


class BlockKind(Choice):
    """The attention block: SE (= cSE), sSE or scSE."""

    SE = "se"
    CSE = "cse"
    SSE = "sse"
    SCSE = "scse"

    @property
    def block(self) -> BlockKind:
        """The block this name stands for: cse is another name of se."""
        return BlockKind.SE if self is BlockKind.CSE else self

    @property
    def channel(self) -> bool:
        """Whether the block has channel excitation (a squeeze and two FC layers)."""
        return self is not BlockKind.SSE

    @property
    def spatial(self) -> bool:
        """Whether the block has spatial excitation (a 1×1 conv C→1 and a gate per position)."""
        return self in (BlockKind.SSE, BlockKind.SCSE)

    @property
    def title(self) -> str:
        """The block's name as the papers write it: SE, cSE, sSE, scSE."""
        return {"se": "SE", "cse": "cSE", "sse": "sSE", "scse": "scSE"}[self.value]

    def has(self, knob: str) -> bool:
        """Whether blocks of this kind use ``knob`` (a ``BlockSpec`` field): r, squeeze and divisor belong to
        channel excitation, combine to scSE, every other knob to all kinds."""
        if knob == "combine":
            return self is BlockKind.SCSE
        return self.channel or knob not in ("r", "squeeze", "divisor")


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


PAPER_R = 16  # the reduction ratio the paper settles on (Sec. 6.1, Table 10), seprof's default

# The knobs only some kinds use, each with the default that a kind without it keeps.
KIND_KNOBS: dict[str, Any] = {"r": PAPER_R, "squeeze": Squeeze.AVG, "divisor": None, "combine": Combine.ADD}


def knob_refusal(knob: str, value: Any, kind: BlockKind) -> OptionError:
    """The error for giving ``knob`` to a block of ``kind``, which does not use it."""
    if knob == "combine":
        return OptionError(knob, value, "applies to scSE only ({other} has one map): drop it", other=("block", kind))
    return OptionError(knob, value, "applies to channel excitation, which {other} does not have: use se, cse or "
                       "scse", other=("block", kind))


def make_divisible(value: float, divisor: int) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``), and one more
    ``divisor`` if that rounding lost over 10%: torchvision's and timm's rule for SE hidden widths."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


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

    Knobs that a kind does not use must keep their defaults (an sSE block has no r), so that one spec means
    one block.
    """

    kind: BlockKind = BlockKind.SE
    r: int = PAPER_R
    bias: bool = True
    squeeze: Squeeze = Squeeze.AVG
    gate: Gate = Gate.SIGMOID
    divisor: int | None = None
    combine: Combine = Combine.ADD
    position: Position = Position.STANDARD

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
        for knob, default in KIND_KNOBS.items():
            if not self.kind.has(knob) and getattr(self, knob) != default:
                raise knob_refusal(knob, getattr(self, knob), self.kind)

    def hidden(self, channels: int) -> int | None:
        """The channel excitation's hidden width for ``channels`` channels (None for sSE)."""
        if not self.kind.channel:
            return None
        if self.divisor is not None:
            return make_divisible(channels / self.r, self.divisor)
        return channels // self.r

    def named(self, words: list[str]) -> str:
        """The block's title with ``words`` in parentheses: 'scSE (r=8, max)', or 'sSE' for none."""
        return self.kind.title + (f" ({', '.join(words)})" if words else "")

    def shape(self) -> list[str]:
        """What makes the block's shape, in words: its r and scSE's combine ('r=8', 'max')."""
        return (([f"r={self.r}"] if self.kind.channel else [])
                + ([str(self.combine)] if self.kind.has("combine") else []))

    @property
    def label(self) -> str:
        """A short description: 'SE (r=16)', 'scSE (r=8, max)', 'sSE, no bias, position pre'."""
        return ", ".join([self.named(self.shape()), *self.knobs()])

    @property
    def short(self) -> str:
        """The block and every setting that differs from the paper's, in one name: 'SE (r=16)',
        'scSE (r=8, max, no bias)', 'SE (r=16, position pre)', 'sSE'."""
        return self.named(self.shape() + self.knobs())

    def knobs(self) -> list[str]:
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
        return "_".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain data (choices as their strings; r, squeeze and divisor None for sSE)."""
        data = {k: (str(v) if isinstance(v, Choice) else v) for k, v in asdict(self).items()}
        data["block"] = data.pop("kind")
        if not self.kind.channel:
            data.update(r=None, squeeze=None)
        if self.kind is not BlockKind.SCSE:
            data["combine"] = None
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
        return [("block" if f.name == "kind" else f.name, getattr(self, f.name)) for f in fields(self)
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
