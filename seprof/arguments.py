"""The command line's options, each declared once, in groups that the commands share, and parsed once.

A group is a dataclass whose fields are typer options (``Annotated[..., typer.Option(...)]``), shown under
its own heading in ``--help``; ``seprof.cli`` spreads a group's fields into a command's signature and hands
the command one instance, whose ``parse`` turns the text given into the Python API's values (a
``BlockSpec``, ``TimingOptions``). Field names are the API's parameter names, so an error about
``input_shape`` is reported as ``--input``: ``FLAGS`` is read off these declarations. Defaults live in the
API (``BlockSpec()``, ``TimingOptions()``); the help quotes them from there.

Values arrive as text and are parsed here, so that every bad value gets the same kind of one-line message
(naming the value and the valid choices), before torch is imported. Nothing here imports torch. The annotations
are objects, not postponed strings: the groups' options are read from them at import, and evaluating strings
again each time would slow every command.
"""


import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, make_dataclass
from typing import Annotated, Any, get_args, get_type_hints

import typer

from .errors import OptionError, elided
from .families import Task
from .kinds import KIND_NAMES, SEPROF_KINDS
from .options import (
    DEFAULT_BUDGET_S,
    DEFAULT_RUNS,
    MAX_DEFAULT_WORKERS,
    MAX_ROUNDS,
    MAX_WARMUP,
    Choice,
    Device,
    Dtype,
    Mode,
    TimingOptions,
    check_workers,
    refuse_timing_options,
)
from .spec import SEPROF_KNOBS, BlockKind, BlockSpec, Combine, Gate, Position, Squeeze, StageSet, knob_refusal

BLOCK, MODEL, TIMING, OUTPUT = "Block", "Model", "Timing", "Output"
DEFAULT_BLOCK = BlockSpec()
DEFAULT_TIMING = TimingOptions()


def _choices(choice: type) -> str:
    return "[" + "|".join(m.value for m in choice) + "]"


def option(*decls: str, panel: str, **kwargs: Any) -> Any:
    """A typer option shown under ``panel`` in the command's help."""
    return typer.Option(*decls, rich_help_panel=panel, **kwargs)


# --- parsing option text: every failure is an OptionError naming the API parameter and the text given ---


_WHOLE = re.compile(r"-?[0-9]+")  # ASCII digits only: str.isdigit() also accepts '²', which int() refuses
MAX_INPUT_VALUES = 2**40  # values in one sample: 4 TiB in float32, beyond any machine seprof runs on
MAX_DIGITS = 18  # more than any count seprof takes; int() of thousands of digits is slow, then refused by Python
_DECIMAL = re.compile(r"\s*(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*")  # ASCII, no '_': not all float() takes


def _elided(text: Any) -> Any:
    """A long text shortened for a one-line message (anything else as it is)."""
    return elided(text, 60) if isinstance(text, str) else text


def whole(option: str, named: Any, text: str, what: str) -> int | None:
    """``text`` as an int when it is a whole number in ASCII digits, else None; an OptionError naming
    ``option`` and ``named`` when it has more digits than any count seprof takes."""
    if not _WHOLE.fullmatch(text):
        return None
    digits = len(text.lstrip("-").lstrip("0"))  # leading zeros add nothing
    if digits > MAX_DIGITS:
        raise OptionError(option, _elided(named), f"is too large ({digits:,} digits): {what} takes at most "
                          f"{MAX_DIGITS} digits")
    return int(text)


def integer(option: str, text: str | None, low: int, what: str) -> int | None:
    """A whole number of at least ``low`` (None stays None)."""
    if text is None:
        return None
    value = whole(option, text, text.strip(), what)
    if value is None:
        raise OptionError(option, _elided(text), f"is not a whole number: {what} is an integer of at least {low}")
    if value < low:
        raise OptionError(option, value, f"is invalid: {what} is an integer of at least {low}")
    return value


def workers(text: str | None) -> int | None:
    """The --workers value, checked against the CPUs the process may use before any work (None: the default)."""
    count = integer("workers", text, 1, "the number of worker processes")
    return None if count is None else check_workers(count)


def seconds(option: str, text: str | None) -> float | None:
    if text is None:
        return None
    value = float(text) if _DECIMAL.fullmatch(text) else float("nan")
    if not (value > 0 and value != float("inf")):
        raise OptionError(option, text, "is not a time in seconds: give a finite number above 0, e.g. 30")
    return value


def choice(option: str, text: str, kind: type) -> Any:
    return kind.parse(option, text.strip().lower())


def entries(option: str, texts: list[str], what: str, example: str, parse: Callable[[str, Any], Any],
            as_list: bool = False, same: Callable[[Any], Any] = lambda value: value) -> list[Any]:
    """The entries of ``texts`` (repetitions joined), separated by commas or spaces, each ``parse(part, named)``d,
    where ``named`` is what an error names: the text as typed, or with ``as_list`` its entries. An empty entry and
    a repeated value (two values with one ``same``, such as two names of one block) are refused."""
    shown = ",".join(texts)
    parts = [part for entry in shown.split(",") for part in re.split(" +", entry.strip(" "))]  # "2 3": two entries
    named = parts if as_list else shown
    values: list[Any] = []
    for part in parts:
        if not part:
            raise OptionError(option, named, f"has an empty entry: give {what} separated by single commas, e.g. "
                              f"{example}")
        value = parse(part, named)
        twin = next((v for v in values if same(v) == same(value)), None)
        if twin == value:
            raise OptionError(option, named, f"names {part} twice: give each once")
        if twin is not None:
            raise OptionError(option, named, f"names one block twice: {twin} and {part} are two names of it; give "
                              "it once")
        values.append(value)
    return values


def int_list(option: str, texts: list[str] | None, low: int, what: str, example: str) -> list[int] | None:
    """'2,3', '2 3' and repetitions ('--stages 2 --stages 3') → [2, 3]; empty entries and repeats are refused."""
    if texts is None:
        return None

    def number(part: str, named: str) -> int:
        value = whole(option, named, part, f"each of the {what}")
        if value is None:
            raise OptionError(option, _elided(named), f"is not a list of {what}: {_elided(part)!r} is not a whole "
                              f"number (e.g. {example})")
        if value < low:
            raise OptionError(option, named, f"is invalid: {part} is below {low} (e.g. {example})")
        return value

    return entries(option, texts, what, example, number)


def stage_list(option: str, texts: list[str] | None, example: str) -> list[int] | None:
    """Stage numbers, or None for every stage ('all', as the help's default says)."""
    if texts is not None and [t.strip().lower() for t in texts] == ["all"]:
        return None
    return int_list(option, texts, 0, "stage numbers", example)


def words(option: str, texts: list[str] | None, kind: type) -> list[Any] | None:
    """'se,scse' and repetitions → [BlockKind.SE, BlockKind.SCSE]; repeats are refused."""
    if texts is None:
        return None
    example = ",".join(m.value for m in list(kind)[:2])
    same = (lambda value: value.block) if kind is BlockKind else (lambda value: value)
    return entries(option, texts, "values", example, lambda part, _: choice(option, part, kind), as_list=True,
                   same=same)


def parse_input(text: str | None) -> tuple[int, ...] | None:
    """'3x224x224' → (3, 224, 224), '3x16x112x112' → (3, 16, 112, 112) (video); None stays None."""
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    sizes = [whole("input_shape", text, p.strip(), "each size") for p in parts] if len(parts) in (3, 4) else []
    if not sizes or not all(size is not None and size >= 1 for size in sizes):
        raise OptionError("input_shape", _elided(text), "is not C x H x W (or C x T x H x W for video) with positive "
                          "whole sizes, e.g. 3x224x224 or 3x16x112x112")
    if math.prod(sizes) > MAX_INPUT_VALUES:
        raise OptionError("input_shape", _elided(text), f"is too large: {math.prod(sizes):.3g} values per sample, and "
                          f"seprof takes at most 2^40 ({MAX_INPUT_VALUES:.3g}); use a smaller input")
    return tuple(sizes)


def stage_sets(texts: list[str] | None) -> list[Any]:
    """'each,all,4+5' → [StageSet.EACH, StageSet.ALL, (4, 5)]: words, or stages joined by '+'."""
    if texts is None:
        return [StageSet.ALL]

    def stage_set(part: str, named: str) -> Any:
        if part.lower() in ("all", "each"):
            return StageSet(part.lower())
        numbers = [whole("stage_sets", named, n, "each stage number") for n in part.split("+")]
        if not all(n is not None and n >= 0 for n in numbers):
            raise OptionError("stage_sets", _elided(named), f"has {_elided(part)!r}, which is neither all, each nor "
                              "stages joined by + (e.g. each,all or 2,4+5)")
        if len(set(numbers)) != len(numbers):
            raise OptionError("stage_sets", named, f"names a stage twice in {part!r}: give each once")
        return tuple(sorted(numbers))

    return entries("stage_sets", texts, "stage sets", "each,all", stage_set)


class Source(Choice):
    """Whose models ``seprof models`` lists."""

    TORCHVISION = "torchvision"
    TIMM = "timm"


def task(text: str | None) -> Any:
    """The --task value: a Task, None for 'all', classification when not given."""
    if text is None:
        return Task.CLASSIFICATION
    word = text.strip().lower()
    if word == "all":
        return None
    try:
        return Task(word)
    except ValueError:
        raise OptionError("task", text, f"is not one of {', '.join(t.value for t in Task)}, all") from None


# --- option groups ---


class Group:
    """An option group: a dataclass of typer options, spread into the signature of each command that takes it."""


# Options that a group and a command of their own share, each declared once.
R = Annotated[str | None, option(
    "--r", "-r", panel=BLOCK, metavar="INTEGER", show_default=str(DEFAULT_BLOCK.r),
    help="SE reduction ratio r: the hidden width is C//r.")]
PositionOpt = Annotated[str | None, option(
    "--position", panel=BLOCK, metavar=_choices(Position), show_default=str(DEFAULT_BLOCK.position),
    help="Where in a residual unit (SENet Fig. 5): before the sum (standard), before the unit (pre), after the "
    "sum and its activation (post), on the identity path (identity).")]
InputShape = Annotated[str | None, option(
    "--input", panel=MODEL, metavar="CxHxW|CxTxHxW", show_default="the model's usual input",
    help="Input size, e.g. 3x224x224; C x T x H x W for video, e.g. 3x16x112x112.")]
AddMissing = Annotated[bool, option(
    "--add-missing", panel=MODEL, help="For a model with SE of its own: add SE to its blocks without one.")]
Heads = Annotated[bool, option(
    "--heads", panel=MODEL, help="Segmentation and detection models: SE in the heads too (FPN outputs, head "
    "conv units), as a stage of its own after the backbone's.")]


def knob_value(text: str) -> Any:
    """A knob's value as typed: true/false, none, a whole number, a number or a fraction (1/16), else the word."""
    word = text.strip()
    lower = word.lower()
    if lower in ("true", "false"):
        return lower == "true"
    if lower == "none":
        return None
    for parse in (int, float):
        try:
            return parse(word)
        except ValueError:
            pass
    top, slash, bottom = word.partition("/")
    if slash:
        try:
            return int(top) / int(bottom)
        except (ValueError, ZeroDivisionError):
            pass
    return word


def knob_lists(texts: list[str] | None) -> dict[str, list[Any]] | None:
    """'--knob spatial_kernel_size=3,7 --knob rd_ratio=1/8' → {name: [values]}; a name given twice, an entry
    without '=' and an empty value are refused."""
    if texts is None:
        return None
    found: dict[str, list[Any]] = {}
    for text in texts:
        name, equals, values = text.partition("=")
        name = name.strip()
        if not equals or not name or not values.strip():
            raise OptionError("knobs", text, "is not NAME=VALUE, e.g. spatial_kernel_size=3 (seprof blocks lists "
                              "each kind's knobs)")
        if name in found:
            raise OptionError("knobs", text, f"gives {name} twice: give it once")
        parts = [part.strip() for part in values.split(",")]
        if not all(parts):
            raise OptionError("knobs", text, "has an empty value: give values separated by single commas")
        found[name] = [knob_value(part) for part in parts]
    return found


def knob_map(texts: list[str] | None) -> dict[str, Any]:
    """'--knob NAME=VALUE', repeated → {name: value}; several values for one name are for seprof sweep."""
    found = knob_lists(texts) or {}
    for name, values in found.items():
        if len(values) > 1:
            raise OptionError("knobs", f"{name}={','.join(map(str, values))}", "gives several values, which only "
                              "seprof sweep takes: give one")
    return {name: values[0] for name, values in found.items()}


_BLOCK_PARSERS: dict[str, Callable[[Any], Any]] = {
    "block": lambda t: choice("block", t, BlockKind),
    "r": lambda t: integer("r", t, 1, "the reduction ratio"),
    "squeeze": lambda t: choice("squeeze", t, Squeeze),
    "gate": lambda t: choice("gate", t, Gate),
    "divisor": lambda t: integer("divisor", t, 1, "the divisor"),
    "combine": lambda t: choice("combine", t, Combine),
    "position": lambda t: choice("position", t, Position),
    "knobs": knob_map,
}


@dataclass
class BlockOptions(Group):
    """The block seprof adds, and where in the residual unit (``BlockSpec``)."""

    block: Annotated[str | None, option(
        "--block", panel=BLOCK, metavar="KIND", show_default=str(DEFAULT_BLOCK.kind),
        help="The block: se (= cse, Hu et al.), sse (spatial SE: 1×1 conv C→1, a gate per position), scse (both; "
        f"Roy et al.), or one of timm's kinds: {', '.join(k for k in KIND_NAMES if k not in SEPROF_KINDS)} (seprof "
        "blocks lists them).")] = None
    r: R = None
    bias: Annotated[bool | None, option(
        "--bias/--no-bias", panel=BLOCK, show_default="--bias" if DEFAULT_BLOCK.bias else "--no-bias",
        help="SE FC layers with biases (the paper's ablations drop them).")] = None
    position: PositionOpt = None
    squeeze: Annotated[str | None, option(
        "--squeeze", panel=BLOCK, metavar=_choices(Squeeze), show_default=str(DEFAULT_BLOCK.squeeze),
        help="Channel squeeze: global average or max pooling (SENet Table 11).")] = None
    gate: Annotated[str | None, option(
        "--gate", panel=BLOCK, metavar=_choices(Gate), show_default=str(DEFAULT_BLOCK.gate),
        help="The excitation's gate (SENet Table 12).")] = None
    divisor: Annotated[str | None, option(
        "--divisor", panel=BLOCK, metavar="INTEGER", show_default="none: C//r, as the paper",
        help="Round the hidden width C/r to a multiple of this, as torchvision's SE does.")] = None
    combine: Annotated[str | None, option(
        "--scse-combine", panel=BLOCK, metavar=_choices(Combine), show_default=str(DEFAULT_BLOCK.combine),
        help="How scSE combines its two maps: add (the MICCAI paper) or max (the authors' released code).")] = None
    knobs: Annotated[list[str] | None, option(
        "--knob", panel=BLOCK, metavar="NAME=VALUE", show_default="the kind's own",
        help="A knob of timm's kinds, e.g. spatial_kernel_size=3 or rd_ratio=1/8; repeat for more (seprof blocks "
        "lists each kind's knobs and defaults).")] = None

    def given(self) -> dict[str, Any]:
        """The options given, parsed, in declaration order (API names: 'block' is the kind)."""
        found = {}
        for f in fields(BlockOptions):
            text = getattr(self, f.name)
            if text is not None:
                found[f.name] = text if f.name == "bias" else _BLOCK_PARSERS[f.name](text)
        return found

    def parse(self) -> dict[str, Any]:
        """``seprof.profile``'s ``block``, ``r`` and ``bias`` as the options give them: ``block`` a BlockSpec of
        the other options given (else None), ``r`` and ``bias`` on their own, so that an error names the option
        typed; None for each not given (the API's defaults; a model's own SE is then measured as built). A knob
        given at its default is still one the block does not have."""
        given = self.given()
        if "knobs" in given and "block" not in given:
            raise OptionError("knobs", ", ".join(self.knobs), "is a knob of timm's kinds: give --block KIND with it "
                              "(seprof blocks lists each kind's knobs)")
        kind = given.get("block", DEFAULT_BLOCK.kind)
        for name, value in given.items():
            if name not in ("block", "knobs") and not kind.has(name):
                raise knob_refusal(name, value, kind)
        rest = {("kind" if name == "block" else name): value for name, value in given.items()
                if name not in ("r", "bias")}
        return {"block": BlockSpec(**rest) if rest else None, "r": given.get("r"), "bias": given.get("bias")}


BLOCK_OPTIONS = tuple(f.name for f in fields(BlockOptions))


def listed(group: type, name: str, help_suffix: str) -> type:
    """``group`` with each text option taking a list (commas, spaces or repetitions; metavar LIST): the same
    flags, panels and help, declared once in ``group``. Flags (``--bias``) stay single."""
    made = []
    for f in fields(group):
        hint = get_type_hints(group, include_extras=True)[f.name]
        base, info = get_args(hint)
        if get_args(base) == (str, type(None)):  # a text option, as against a flag
            info = typer.Option(info.default, *info.param_decls, metavar="LIST", show_default=info.show_default,
                                help=f"{info.help.rstrip('.')}{help_suffix}", rich_help_panel=info.rich_help_panel)
            made.append((f.name, Annotated[list[str] | None, info], None))
        else:
            made.append((f.name, hint, f.default))
    return make_dataclass(name, made, bases=(group,))


SweepBlocks = listed(BlockOptions, "SweepBlocks", "; several are swept together (4,8, '4 8' in quotes, or repeated).")
SWEPT_FLAGS = frozenset(  # the block options of which seprof sweep takes several
    flag for name, hint in get_type_hints(SweepBlocks, include_extras=True).items()
    if get_args(hint)[0] == (list[str] | None)
    for flag in (get_args(hint)[1].default, *get_args(hint)[1].param_decls))


def sweep_specs(options: Any) -> list[BlockSpec]:
    """Every combination of the swept knobs, each knob applied to the blocks that have it (r, squeeze and
    divisor to channel SE, the combine to scSE, gate and bias to seprof's kinds, each --knob to the timm kinds
    that have it); a knob given for no block is refused."""
    kinds = words("block", options.block, BlockKind) or [DEFAULT_BLOCK.kind]
    swept = {
        "r": int_list("r", options.r, 1, "reduction ratios", "2,4,8,16,32"),
        "squeeze": words("squeeze", options.squeeze, Squeeze),
        "gate": words("gate", options.gate, Gate),
        "divisor": int_list("divisor", options.divisor, 1, "divisors", "8"),
        "combine": words("combine", options.combine, Combine),
        "position": words("position", options.position, Position),
    }
    given = {**swept, "bias": options.bias}
    for knob in ("r", "squeeze", "gate", "divisor", "combine", "bias"):
        if given[knob] is not None and not any(k.has(knob) for k in kinds):
            raise OptionError(knob, given[knob], "applies to none of the blocks swept ({other}): drop it, or add a "
                              "block that has it", other=("block", kinds))
    own = _swept_knobs(kinds, knob_lists(options.knobs) or {})
    values = {knob: given or [getattr(DEFAULT_BLOCK, knob)] for knob, given in swept.items()}
    specs = []
    for kind, *chosen in itertools.product(kinds, *values.values()):
        knobs = {k: v if kind.has(k) else SEPROF_KNOBS[k] for k, v in zip(values, chosen)}
        bias = options.bias if options.bias is not None and kind.has("bias") else DEFAULT_BLOCK.bias
        mine = {name: listed for name, listed in own.items() if not kind.seprof and name in kind.entry.uses}
        for combination in itertools.product(*mine.values()):
            specs.append(BlockSpec(kind, bias=bias, **knobs, knobs=dict(zip(mine, combination))))
    return list(dict.fromkeys(specs))


def _swept_knobs(kinds: list[Any], knobs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """``knobs`` (timm's kinds' own), each checked to belong to at least one kind swept."""
    timm_kinds = [k for k in kinds if not k.seprof]
    for name, values in knobs.items():
        if not any(name in k.entry.uses for k in timm_kinds):
            owners = "; ".join(f"{k}: {', '.join(k.entry.uses) or 'none'}" for k in timm_kinds) or \
                "none of timm's is swept"
            raise OptionError("knobs", f"{name}={','.join(map(str, values))}", "is a knob of none of the blocks "
                              f"swept ({owners})")
    return knobs


@dataclass
class ModelOptions(Group):
    """How the model is run and which of its blocks take part."""

    input_shape: InputShape = None
    add_missing: AddMissing = False
    heads: Heads = False


@dataclass
class CompareModelOptions(ModelOptions):
    """The model options of ``seprof compare``: every command's, and ``--own-attention``, which compare alone takes
    (inject and sweep measure blocks seprof adds, and refuse a model's own as they refuse its SE)."""

    own_attention: Annotated[bool, option(
        "--own-attention", panel=MODEL, help="Measure the model's own attention (GC, CBAM, ...: the add-ons of "
        "seprof blocks' kinds) against the model without it, instead of adding SE.")] = False


_WARMUP_CAP = (f"at most {MAX_WARMUP}; they stop once they have taken the sampling budget (--budget, "
               f"{DEFAULT_BUDGET_S:g} s by default)")


@dataclass
class TimingArgs(Group):
    """How to time (``TimingOptions``), or not at all."""

    no_latency: Annotated[bool, option(
        "--no-latency", panel=TIMING, help="Skip timing; report parameters and MACs only.")] = False
    batch: Annotated[list[str] | None, option(
        "--batch", panel=TIMING, metavar="LIST", show_default=",".join(map(str, DEFAULT_TIMING.batch)),
        help="Batch size(s) for latency: 1,8,32 or repeated; one interleaved run each (MACs are per "
        "sample).")] = None
    device: Annotated[str, option(
        "--device", panel=TIMING, metavar=_choices(Device),
        help="Latency device: auto is CUDA when available, else the CPU.")] = str(DEFAULT_TIMING.device)
    runs: Annotated[str | None, option(
        "--runs", panel=TIMING, metavar="INTEGER",
        show_default=f"{DEFAULT_RUNS}, then adaptive, within --budget {DEFAULT_BUDGET_S:g}",
        help=f"Timed rounds, at most {MAX_ROUNDS}: exactly this many; with --budget, at least this many unless the "
        "budget runs out first.")] = None
    warmup: Annotated[str | None, option(
        "--warmup", panel=TIMING, metavar="INTEGER", show_default=str(DEFAULT_TIMING.warmup),
        help=f"Untimed calls per model before timing, {_WARMUP_CAP}.")] = None
    threads: Annotated[str | None, option(
        "--threads", panel=TIMING, metavar="INTEGER",
        show_default="torch's; on the CPU at most the usable CPUs - 1, at least 1",
        help="torch intra-op threads while timing.")] = None
    mode: Annotated[str, option(
        "--mode", panel=TIMING, metavar=_choices(Mode),
        help="infer: a forward pass in inference mode; train: forward + backward in train mode.",
    )] = str(DEFAULT_TIMING.mode)
    dtype: Annotated[str, option(
        "--dtype", panel=TIMING, metavar=_choices(Dtype),
        help="float32, or float16 (CUDA) / bfloat16 under autocast.")] = str(DEFAULT_TIMING.dtype)
    channels_last: Annotated[bool, option(
        "--channels-last", panel=TIMING, help="Time models and input in channels-last memory format.")] = False
    budget: Annotated[str | None, option(
        "--budget", panel=TIMING, metavar="SECONDS", show_default=f"{DEFAULT_BUDGET_S:g}, unless --runs is given alone",
        help="Seconds of sampling per timing run (per batch size): sample until every ratio's 95% CI is within "
        "±1%, or this time is spent, even short of --runs; the warm-up may take as long again.")] = None
    memory: Annotated[bool, option(
        "--memory", panel=TIMING, help="Also measure each configuration's peak memory per call.")] = False
    compile: Annotated[bool, option(
        "--compile", panel=TIMING, help="Time torch.compile'd models (compile time reported apart).")] = False
    verbose: Annotated[bool, option(
        "--verbose", "-v", panel=TIMING,
        help="The whole report (--details) with the latency's spreads (IQR, ratio quartiles) and the added "
        "milliseconds.",
    )] = False

    def parse(self) -> TimingOptions | None:
        """The timing options, parsed and checked (all that can be checked without torch); None with
        --no-latency, where any other timing option given is refused."""
        batches = int_list("batch", self.batch, 1, "batch sizes", "1,8,32") or list(DEFAULT_TIMING.batch)
        warmup = integer("warmup", self.warmup, 0, "the number of warm-up calls")
        options = dict(
            device=choice("device", self.device, Device),
            mode=choice("mode", self.mode, Mode),
            dtype=choice("dtype", self.dtype, Dtype),
            runs=integer("runs", self.runs, 1, "the number of timed rounds"),
            warmup=DEFAULT_TIMING.warmup if warmup is None else warmup,
            threads=integer("threads", self.threads, 1, "the number of threads"),
            budget=seconds("budget", self.budget),
            memory=self.memory,
            compile=self.compile,
            channels_last=self.channels_last,
        )
        if self.no_latency:
            refuse_timing_options(batches, **options)
            if self.verbose:
                raise OptionError("verbose", True, "shows the latency's spreads, which {other} turns off: drop one "
                                  "of them", other=("latency", False))
            return None
        return TimingOptions(batch=tuple(batches), **options)  # checks every rule that needs no device


@dataclass
class Exports(Group):
    """The report's data files: a row per configuration, a row per stage, everything as JSON."""

    csv: Annotated[str | None, option(
        "--csv", panel=OUTPUT, metavar="PATH",
        help="Write one row per configuration to this CSV file (- for stdout).")] = None
    stages_csv: Annotated[str | None, option(
        "--stages-csv", panel=OUTPUT, metavar="PATH",
        help="Write one row per (configuration, stage) to this CSV file (- for stdout).")] = None
    json: Annotated[str | None, option(
        "--json", panel=OUTPUT, metavar="PATH",
        help="Write the whole report to this JSON file (- for stdout).")] = None

    def paths(self) -> dict[str, str | None]:
        return {"--csv": self.csv, "--stages-csv": self.stages_csv, "--json": self.json}


# Options of one or a few commands, each declared once here.
ModelArg = Annotated[str, typer.Argument(metavar="MODEL", hidden=True, show_default=False)]
ModelOrResnet50 = Annotated[str, typer.Argument(metavar="MODEL", hidden=True)]  # compare and sweep: resnet50
Plot = Annotated[str | None, option(
    "--plot", panel=OUTPUT, metavar="PATH",
    help="Write a picture in the format of its suffix (png, svg, pdf...): per-stage shares of SE's parameters (and "
    "of its latency with --attribute) beside each configuration's parameters against its latency (against its "
    "MACs with --no-latency); needs matplotlib. In a sweep: every configuration on that plane.")]
Stages = Annotated[list[str] | None, option(
    "--stages", panel=MODEL, metavar="LIST", show_default="all",
    help="Stages to put SE in: 2,3,4, '2 3 4', repeated (--stages 2 --stages 3) or all.")]
Details = Annotated[bool, option(
    "--details", panel=OUTPUT,
    help="The whole report: every counter and what it skipped, SE's analytic work per stage, memory traffic, "
    "legends.")]
Debug = Annotated[bool, option("--debug", panel=OUTPUT, help="Show the full traceback on errors.")]
Family = Annotated[str | None, option(
    "--family", panel=MODEL, metavar="FAMILY", help="Only this family, e.g. resnet (seprof models lists them).")]
TaskOpt = Annotated[str | None, option(
    "--task", panel=MODEL, metavar="|".join([*(t.value for t in Task), "all"]),
    show_default=str(Task.CLASSIFICATION), help="Which of torchvision's model groups.")]
Workers = Annotated[str | None, option(
    "--workers", panel=OUTPUT, metavar="INTEGER", show_default=f"one per core, at most {MAX_DEFAULT_WORKERS}",
    help="Worker processes.")]


def _declared_flags() -> dict[str, str | tuple[str, str]]:
    """How the command line names each API parameter, read off the declarations above: a flag, or (flag when
    True, flag when False) for a switch; plus the API's names that no option carries."""
    flags: dict[str, str | tuple[str, str]] = {"latency": ("", "--no-latency"), "blocks": "--block",
                                               "stage_sets": "--stages", "strip_stages": "--strip-stage"}
    declared = [(f.name, get_type_hints(g, include_extras=True)[f.name])
                for g in (BlockOptions, CompareModelOptions, TimingArgs, Exports) for f in fields(g)]
    declared += [("stages", Stages), ("family", Family), ("task", TaskOpt), ("workers", Workers)]
    for name, hint in declared:
        info = get_args(hint)[1]
        first, *_ = [info.default, *info.param_decls]
        if "/" in first:
            flags[name] = tuple(first.split("/"))  # type: ignore[assignment]
        elif get_args(hint)[0] is bool:
            flags[name] = (first, "")
        else:
            flags[name] = first
    return flags


FLAGS = _declared_flags()
LIST_OPTIONS = ("stages", "strip_stages", "batch", "stage_sets")  # named as typed


def flag_name(name: str, value: Any) -> str:
    """How the command line names ``name`` given ``value``: '--r 0', '--input 1x224x224', '--no-latency'."""
    flag = FLAGS.get(name, f"--{name.replace('_', '-')}")
    if isinstance(flag, tuple):
        return flag[0] if value else flag[1]
    if isinstance(value, bool) or value is None:
        return flag
    if name == "input_shape" and isinstance(value, (tuple, list)):
        return f"{flag} {'x'.join(map(str, value))}"
    if isinstance(value, (tuple, list)):
        return f"{flag} {','.join(map(str, value))}"
    if isinstance(value, str) and (not value.isprintable() or not value.strip()):  # '\n', '': escaped, quoted
        return f"{flag} {value!r}"
    if name in LIST_OPTIONS:
        return f"{flag} {value}"
    if isinstance(value, str) and not isinstance(value, Choice):
        return f"{flag} {value!r}"
    if isinstance(value, float):
        return f"{flag} {value:g}"
    return f"{flag} {value}"
