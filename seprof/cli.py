"""The ``seprof`` command line: parse options, call the Python API, render its Report with rich.

Tables go to stdout (to stderr when an export is written to stdout with ``-``), progress and errors to
stderr. Every SeprofError becomes one line on stderr, in the command line's own words (flags, not Python
parameter names), and exit code 2 (a traceback only with ``--debug``); Ctrl-C prints "seprof: aborted" and
exits 130. Options are checked before any work, most before torch is even imported; output files are
checked up front and written together only once everything has succeeded.

This module imports nothing heavy at import time: ``seprof --help`` and ``seprof --version`` answer without
importing torch.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import sys
from typing import Annotated, Any, Callable, Iterator, Optional

import typer

from . import __version__
from .errors import (ModelError, NativeSEError, OptionError, OutputPathError, SeprofError, UnknownModelError, elided,
                     first_line)
from .export import Outputs, quiet_stdout
from .families import Task
from .options import Choice, Device, Dtype, Mode, TimingOptions, check_workers
from .spec import KIND_KNOBS, BlockKind, BlockSpec, Combine, Gate, Position, Squeeze, knob_refusal

# The base class of every command-line parsing error (click's ClickException, which typer vendors in recent
# releases), reached through typer's public BadParameter: BadParameter → UsageError → ClickException.
_ParseError = typer.BadParameter.__mro__[2]

# How the command line names each parameter of the Python API: a flag, or (flag when True, flag when False).
FLAGS: dict[str, str | tuple[str, str]] = {
    "r": "--r",
    "stages": "--stages",
    "strip_stages": "--strip-stage",
    "bias": ("--bias", "--no-bias"),
    "input_shape": "--input",
    "batch": "--batch",
    "device": "--device",
    "latency": ("", "--no-latency"),
    "runs": "--runs",
    "warmup": "--warmup",
    "threads": "--threads",
    "mode": "--mode",
    "dtype": "--dtype",
    "channels_last": ("--channels-last", ""),
    "budget": "--budget",
    "memory": ("--memory", ""),
    "compile": ("--compile", ""),
    "attribute": ("--attribute", ""),
    "add_missing": ("--add-missing", ""),
    "save": "--save",
    "workers": "--workers",
    "family": "--family",
    "plot": "--plot",
    "block": "--block",
    "position": "--position",
    "squeeze": "--squeeze",
    "gate": "--gate",
    "divisor": "--divisor",
    "combine": "--scse-combine",
    "stage_sets": "--stages",
    "heads": ("--heads", ""),
    "task": "--task",
    "source": "--source",
}


def flag_name(option: str, value: Any) -> str:
    """How the command line names ``option`` given ``value``: '--r 0', '--input 1x224x224', '--no-latency'."""
    flag = FLAGS.get(option, f"--{option.replace('_', '-')}")
    if isinstance(flag, tuple):
        return flag[0] if value else flag[1]
    if isinstance(value, bool) or value is None:
        return flag
    if option == "input_shape" and isinstance(value, (tuple, list)):
        return f"{flag} {'x'.join(map(str, value))}"
    if isinstance(value, (tuple, list)):
        return f"{flag} {','.join(map(str, value))}"
    if isinstance(value, str) and (not value.isprintable() or not value.strip()):  # '\n', '': escaped, quoted
        return f"{flag} {value!r}"
    if option in ("stages", "strip_stages", "batch", "stage_sets"):  # list options: the text as typed
        return f"{flag} {value}"
    if isinstance(value, str) and not isinstance(value, Choice):
        return f"{flag} {value!r}"
    if isinstance(value, float):
        return f"{flag} {value:g}"
    return f"{flag} {value}"


def message(error: SeprofError) -> str:
    """A SeprofError in the command line's words."""
    if isinstance(error, OptionError):
        return error.render(flag_name)
    if isinstance(error, UnknownModelError) and str(error).startswith("unknown model"):
        return f"{error} ('seprof models' lists them)"
    if isinstance(error, NativeSEError):
        return error.render(f"'seprof compare {error.model}'", "--add-missing")
    return str(error)


# A command-line usage error (click's UsageError, exit code 2), reached through typer's public BadParameter.
_UsageError = typer.BadParameter.__mro__[1]


def given_twice(params: list[Any], args: list[str]) -> str | None:
    """The message for the first option in ``args`` that takes one value and is given more than once (a flag
    and its opposite count as one option), or None. Options that collect a list (``--stages 2 --stages 3``)
    may repeat. ``params`` are a command's parameters, ``args`` its words as typed; words are read as click
    reads them: ``--r=8``, ``-r8``, a cluster of short flags ending in one that takes a value (``-vr8``)."""
    flags = {flag: p for p in params if p.param_type_name == "option" for flag in (*p.opts, *p.secondary_opts)}
    seen: dict[str, str] = {}
    words = iter(args)
    for word in words:
        if word == "--":
            break
        for flag, value in _options_in(word, flags, words):
            param = flags[flag]
            if param.multiple or param.count:
                continue
            plain = value is not None and value.strip() and value.isprintable()
            shown = flag if value is None else f"{flag} {value if plain else repr(value)}"
            if param.name in seen:
                name = "/".join([param.opts[0], *param.secondary_opts])
                return f"{name} is given twice ({seen[param.name]}, then {shown}): give it once"
            seen[param.name] = shown
    return None


def _options_in(word: str, flags: dict[str, Any], rest: Iterator[str]) -> list[tuple[str, str | None]]:
    """The (flag, value) pairs one command-line word gives (value None for a flag), taking a value from the
    words that follow where the option's value is not in the word itself."""
    if word.startswith("--"):
        flag, equals, value = word.partition("=")
        param = flags.get(flag)
        if param is None:
            return []
        if param.is_flag:
            return [(flag, None)]
        value = value if equals else next(rest, None)
        return [] if value is None else [(flag, value)]
    found: list[tuple[str, str | None]] = []
    for i in range(1, len(word) if word.startswith("-") else 0):  # -v, -r8, -vr8, -vr 8
        param = flags.get(f"-{word[i]}")
        if param is None:
            break
        if param.is_flag:
            found.append((f"-{word[i]}", None))
            continue
        value = word[i + 1:] or next(rest, None)
        if value is not None:
            found.append((f"-{word[i]}", value))
        break
    return found


class _Command(typer.core.TyperCommand):
    """A command whose usage line reads 'seprof inject [OPTIONS] MODEL' (no braces around arguments), and
    which refuses an option that takes one value given twice instead of keeping the last."""

    def collect_usage_pieces(self, ctx):  # noqa: ANN001, ANN201 - click's signature
        return [piece.strip("{}") for piece in super().collect_usage_pieces(ctx)]

    def parse_args(self, ctx, args):  # noqa: ANN001, ANN201 - click's signature
        twice = given_twice(self.params, args)
        if twice is not None:
            raise _UsageError(twice, ctx=ctx)
        return super().parse_args(ctx, args)


class _OneLineErrors(typer.core.TyperGroup):
    """Reports a command-line parsing error (unknown option, missing argument) in one line, exit code 2,
    and an interruption (Ctrl-C, SIGTERM) as 'seprof: aborted', exit code 130 (143 for SIGTERM)."""

    def invoke(self, ctx):  # noqa: ANN001, ANN201 - click's signature
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise typer.Exit(INTERRUPTED) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _ParseError as error:
            if not standalone_mode:
                raise
            context = getattr(error, "ctx", None)
            if not error.format_message():  # help was shown for a bare command
                sys.exit(error.exit_code)
            if context is not None and error.format_message() == context.get_help():  # a bare command: its help
                typer.echo(error.format_message())
                sys.exit(error.exit_code)
            where = getattr(context, "command_path", None) or "seprof"
            if " " not in where:  # the error came before the command's own context: name the command given
                command = next((a for a in (sys.argv[1:] if args is None else args) if a in self.commands), None)
                where = f"{where} {command}" if command else where
            typer.echo(f"seprof: error: {error.format_message()} (see '{where} --help')", err=True)
            sys.exit(error.exit_code)
        except typer.Abort:
            if not standalone_mode:
                raise
            code = INTERRUPTED
        if code == INTERRUPTED:  # Ctrl-C or SIGTERM, while parsing (typer's own Exit(130)) or while running
            code = _aborted()
        if standalone_mode:
            sys.exit(code if isinstance(code, int) else 0)
        return code


INTERRUPTED = 130  # the exit code of Ctrl-C, as shells expect (128 + SIGINT); 143 for SIGTERM
_terminated: list[bool] = []


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM unwinds like Ctrl-C, so that temporary files are removed on the way out."""
    _terminated.append(True)
    raise KeyboardInterrupt


def _aborted() -> int:
    """Say the run was aborted; the exit code for the signal that did it."""
    terminated = bool(_terminated)
    typer.echo("\nseprof: aborted" + (" (terminated)" if terminated else ""), err=True)
    return 143 if terminated else INTERRUPTED


app = typer.Typer(
    cls=_OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="What does Squeeze-and-Excitation cost in this model, and where?",
)


def _choices(choice: type) -> str:
    return "[" + "|".join(m.value for m in choice) + "]"


# Options shared by several commands. Values arrive as text and are parsed below, so that every bad value
# gets the same kind of one-line message (naming the value and the valid choices).
ModelArg = Annotated[str, typer.Argument(metavar="MODEL", hidden=True, show_default=False)]
R = Annotated[
    Optional[str],
    typer.Option(
        "--r", "-r", metavar="INTEGER", show_default="16", help="SE reduction ratio r: the hidden width is C//r."
    ),
]
Stages = Annotated[
    Optional[list[str]],
    typer.Option(
        "--stages",
        metavar="LIST",
        show_default="all",
        help="Stages to put SE in: 2,3,4 or repeated (--stages 2 --stages 3).",
    ),
]
Bias = Annotated[
    Optional[bool],
    typer.Option(
        "--bias/--no-bias", show_default="--bias", help="SE FC layers with biases (the paper's ablations drop them)."
    ),
]
BlockOpt = Annotated[
    Optional[str],
    typer.Option(
        "--block",
        metavar=_choices(BlockKind),
        show_default="se",
        help="The block: se (= cse, Hu et al.), sse (spatial SE: 1×1 conv C→1, a gate per position) or scse (both; "
        "Roy et al.).",
    ),
]
PositionOpt = Annotated[
    Optional[str],
    typer.Option(
        "--position",
        metavar=_choices(Position),
        show_default="standard",
        help="Where in a residual unit (SENet Fig. 5): before the sum (standard), before the unit (pre), after the "
        "sum and its activation (post), on the identity path (identity).",
    ),
]
SqueezeOpt = Annotated[
    Optional[str],
    typer.Option("--squeeze", metavar=_choices(Squeeze), show_default="avg",
                 help="Channel squeeze: global average or max pooling (SENet Table 11)."),
]
GateOpt = Annotated[
    Optional[str],
    typer.Option("--gate", metavar=_choices(Gate), show_default="sigmoid",
                 help="The excitation's gate (SENet Table 12)."),
]
DivisorOpt = Annotated[
    Optional[str],
    typer.Option("--divisor", metavar="INTEGER", show_default="none: C//r, as the paper",
                 help="Round the hidden width C/r to a multiple of this, as torchvision's and timm's SE do."),
]
CombineOpt = Annotated[
    Optional[str],
    typer.Option("--scse-combine", metavar=_choices(Combine), show_default="add",
                 help="How scSE combines its two maps: add (the MICCAI paper) or max (the authors' released code)."),
]
Input = Annotated[
    Optional[str],
    typer.Option(
        "--input", metavar="CxHxW|CxTxHxW", show_default="the model's usual input",
        help="Input size, e.g. 3x224x224; C x T x H x W for video, e.g. 3x16x112x112.",
    ),
]
Heads = Annotated[
    bool,
    typer.Option("--heads", help="Segmentation and detection models: SE in the heads too (FPN outputs, head "
                 "conv units), as a stage of its own after the backbone's."),
]
TaskOpt = Annotated[
    Optional[str],
    typer.Option("--task", metavar="classification|segmentation|detection|video|optical_flow|quantization|all",
                 show_default="classification", help="Which of torchvision's model groups."),
]
Batch = Annotated[
    Optional[list[str]],
    typer.Option(
        "--batch",
        metavar="LIST",
        show_default="1",
        help="Batch size(s) for latency: 1,8,32 or repeated; one interleaved run each (MACs are per sample).",
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device", metavar=_choices(Device), help="Latency device: auto is CUDA when available, else the CPU."
    ),
]
ModeOpt = Annotated[
    str,
    typer.Option(
        "--mode",
        metavar=_choices(Mode),
        help="infer: a forward pass in inference mode; train: forward + backward in train mode.",
    ),
]
DtypeOpt = Annotated[
    str, typer.Option("--dtype", metavar=_choices(Dtype), help="float32, or float16 (CUDA) / bfloat16 under autocast.")
]
ChannelsLast = Annotated[
    bool, typer.Option("--channels-last", help="Time models and input in channels-last memory format.")
]
Budget = Annotated[
    Optional[str],
    typer.Option(
        "--budget",
        metavar="SECONDS",
        show_default="30, unless --runs is given alone",
        help="Seconds of sampling per timing run (per batch size): sample until every ratio's 95% CI is within ±1%, "
        "or this time is spent, even short of --runs; the warm-up may take as long again.",
    ),
]
Memory = Annotated[bool, typer.Option("--memory", help="Also measure each configuration's peak memory per call.")]
Compile = Annotated[bool, typer.Option("--compile", help="Time torch.compile'd models (compile time reported apart).")]
NoLatency = Annotated[bool, typer.Option("--no-latency", help="Skip timing; report parameters and MACs only.")]
Runs = Annotated[
    Optional[str],
    typer.Option(
        "--runs",
        metavar="INTEGER",
        show_default="20, then adaptive, within --budget 30",
        help="Timed rounds, at most 1000: exactly this many; with --budget, at least this many unless the budget "
        "runs out first.",
    ),
]
Warmup = Annotated[
    Optional[str],
    typer.Option("--warmup", metavar="INTEGER", show_default="3",
                 help="Untimed calls per model before timing, at most 1000; they stop once they have taken the "
                 "sampling budget (--budget, 30 s by default)."),
]
Threads = Annotated[
    Optional[str],
    typer.Option(
        "--threads",
        metavar="INTEGER",
        show_default="torch's; on the CPU at most the usable CPUs - 1, at least 1",
        help="torch intra-op threads while timing.",
    ),
]
Csv = Annotated[
    Optional[str],
    typer.Option("--csv", metavar="PATH", help="Write one row per configuration to this CSV file (- for stdout)."),
]
StagesCsv = Annotated[
    Optional[str],
    typer.Option(
        "--stages-csv", metavar="PATH", help="Write one row per (configuration, stage) to this CSV file (- for stdout)."
    ),
]
Json = Annotated[
    Optional[str],
    typer.Option("--json", metavar="PATH", help="Write the whole report to this JSON file (- for stdout)."),
]
AddMissing = Annotated[
    bool, typer.Option("--add-missing", help="For a model with SE of its own: add SE to its blocks without one.")
]
Verbose = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v", help="Latency: also the spreads (IQR, ratio quartiles) and the added milliseconds."
    ),
]
Debug = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]
Family = Annotated[
    Optional[str],
    typer.Option("--family", metavar="FAMILY", help="Only this family, e.g. resnet (seprof models lists them)."),
]
Workers = Annotated[
    Optional[str],
    typer.Option("--workers", metavar="INTEGER", show_default="one per core, at most 4", help="Worker processes."),
]


def main() -> None:
    """Entry point of the ``seprof`` console script: SIGTERM unwinds like Ctrl-C, and once the command has
    ended (its exit code decided), later signals are ignored, so the interpreter's shutdown cannot print a
    traceback."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app()
    except KeyboardInterrupt:  # between typer's parsing and our command, or in typer's own code
        sys.exit(_aborted())
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


# --- parsing option text: every failure is an OptionError naming the API parameter and the text given ---


_WHOLE = re.compile(r"-?[0-9]+")  # ASCII digits only: str.isdigit() also accepts '²', which int() refuses
MAX_INPUT_VALUES = 2**40  # values in one sample: 4 TiB in float32, beyond any machine seprof runs on
MAX_DIGITS = 18  # more than any count seprof takes; int() of thousands of digits is slow, then refused by Python


def _elided(text: Any) -> Any:
    """A long text shortened for a one-line message (anything else as it is)."""
    return elided(text, 60) if isinstance(text, str) else text


def _whole(option: str, named: Any, text: str, what: str) -> int | None:
    """``text`` as an int when it is a whole number in ASCII digits, else None; an OptionError naming
    ``option`` and ``named`` when it has more digits than any count seprof takes."""
    if not _WHOLE.fullmatch(text):
        return None
    digits = len(text.lstrip("-").lstrip("0"))  # leading zeros add nothing
    if digits > MAX_DIGITS:
        raise OptionError(option, _elided(named), f"is too large ({digits:,} digits): {what} takes at most "
                          f"{MAX_DIGITS} digits")
    return int(text)


def _integer(option: str, text: str | None, low: int, what: str) -> int | None:
    if text is None:
        return None
    value = _whole(option, text, text.strip(), what)
    if value is None:
        raise OptionError(option, _elided(text), f"is not a whole number: {what} is an integer of at least {low}")
    if value < low:
        raise OptionError(option, value, f"is invalid: {what} is an integer of at least {low}")
    return value


_DECIMAL = re.compile(r"\s*(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*")  # ASCII, no '_': not all float() takes


def _workers(text: str | None) -> int | None:
    """The --workers value, checked against the CPUs the process may use before any work (None: the default)."""
    count = _integer("workers", text, 1, "the number of worker processes")
    return None if count is None else check_workers(count)


def _seconds(option: str, text: str | None) -> float | None:
    if text is None:
        return None
    value = float(text) if _DECIMAL.fullmatch(text) else float("nan")
    if not (value > 0 and value != float("inf")):
        raise OptionError(option, text, "is not a time in seconds: give a finite number above 0, e.g. 30")
    return value


def _entries(option: str, texts: list[str], what: str, example: str, parse: Callable[[str, Any], Any],
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


def _int_list(option: str, texts: list[str] | None, low: int, what: str, example: str) -> list[int] | None:
    """'2,3' and repetitions ('--stages 2 --stages 3') → [2, 3]; empty entries and repeats are refused."""
    if texts is None:
        return None

    def whole(part: str, named: str) -> int:
        value = _whole(option, named, part, f"each of the {what}")
        if value is None:
            raise OptionError(option, _elided(named), f"is not a list of {what}: {_elided(part)!r} is not a whole "
                              f"number (e.g. {example})")
        if value < low:
            raise OptionError(option, named, f"is invalid: {part} is below {low} (e.g. {example})")
        return value

    return _entries(option, texts, what, example, whole)


def parse_input(text: str | None) -> tuple[int, ...] | None:
    """'3x224x224' → (3, 224, 224), '3x16x112x112' → (3, 16, 112, 112) (video); None stays None."""
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    sizes = [_whole("input_shape", text, p.strip(), "each size") for p in parts] if len(parts) in (3, 4) else []
    if not sizes or not all(size is not None and size >= 1 for size in sizes):
        raise OptionError("input_shape", _elided(text), "is not C x H x W (or C x T x H x W for video) with positive "
                          "whole sizes, e.g. 3x224x224 or 3x16x112x112")
    if math.prod(sizes) > MAX_INPUT_VALUES:
        raise OptionError("input_shape", _elided(text), f"is too large: {math.prod(sizes):.3g} values per sample, and "
                          f"seprof takes at most 2^40 ({MAX_INPUT_VALUES:.3g}); use a smaller input")
    return tuple(sizes)


class Source(Choice):
    """Whose models ``seprof models`` lists."""

    TORCHVISION = "torchvision"
    TIMM = "timm"


def _task(text: str | None) -> Any:
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


def _choice(option: str, text: str, choice: type) -> Any:
    return choice.parse(option, text.strip().lower())


# --- running a command ---


class _Live:
    """What the command is doing, on stderr, only when stderr is a terminal: a spinner with the current step,
    then a bar for the timed samples. Appears within a second of starting, before torch is imported."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.progress = None
        self.task = None
        if self.console.is_terminal:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[samples]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.task = self.progress.add_task("starting…", total=None, samples="")
            self.progress.start()

    def step(self, text: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=f"{text}…")

    def sample(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)
            done = int(self.progress.tasks[0].completed)
            self.progress.update(self.task, samples=f"{done} sample{'' if done == 1 else 's'}")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


@contextlib.contextmanager
def _session(debug: bool) -> Iterator[_Live]:
    """Run a command: a live status on a terminal, and every SeprofError as one line on stderr, exit 2."""
    live = _Live()
    try:
        yield live
    except SeprofError as error:
        live.stop()
        if debug:
            raise
        typer.echo(f"seprof: error: {' '.join(message(error).splitlines())}", err=True)
        raise typer.Exit(2) from None
    finally:
        live.stop()


DEFAULT_WIDTH = 100


def _stdout(report_to_stderr: bool = False):
    """The console for the report: the terminal's width, else COLUMNS, else 100 columns; stderr when stdout
    carries an export."""
    from rich.console import Console

    console = Console(stderr=report_to_stderr, highlight=False)
    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isascii() and columns.isdigit() and int(columns) > 0 else DEFAULT_WIDTH
    return Console(stderr=report_to_stderr, highlight=False, width=width)


def _outputs(**paths: str | None) -> Outputs:
    """The command's output files, each checked now (before any work); ``--csv``-style text outputs may be
    ``-`` (stdout)."""
    outputs = Outputs()
    for option, path in paths.items():
        flag = "--" + option.replace("_", "-")
        outputs.add(flag, path, stdout=option in ("csv", "stages_csv", "json"))
    return outputs


def _finish(outputs: Outputs, contents: dict[str, Any], show: Callable[[Any], None]) -> None:
    """Write every output file to a temporary file, ``show`` the report, then put the files in place: a file
    that cannot be written fails the command before anything is printed, and nothing is written unless
    everything, the report included, succeeded."""
    with outputs.staged(contents, on_written=lambda path: typer.echo(f"wrote {path}", err=True)):
        try:
            show(_stdout(outputs.stdout))
        except OSError as error:  # the report's stream is full, or its reader gone: no file is put in place
            quiet_stdout()
            raise OutputPathError(f"cannot print the report: {error.strerror or first_line(error)}; no file was "
                                  "written") from error


def _timing(
    no_latency: bool,
    batch: list[str] | None,
    device: str,
    runs: str | None,
    warmup: str | None,
    threads: str | None,
    mode: str,
    dtype: str,
    budget: str | None,
    memory: bool,
    compile: bool,
    channels_last: bool,
    verbose: bool,
) -> TimingOptions | None:
    """The timing options, parsed and checked (all that can be checked without torch); None with --no-latency."""
    from .options import refuse_timing_options

    batches = _int_list("batch", batch, 1, "batch sizes", "1,8,32") or [1]
    options = dict(
        device=_choice("device", device, Device),
        mode=_choice("mode", mode, Mode),
        dtype=_choice("dtype", dtype, Dtype),
        runs=_integer("runs", runs, 1, "the number of timed rounds"),
        warmup=_integer("warmup", warmup, 0, "the number of warm-up calls"),
        threads=_integer("threads", threads, 1, "the number of threads"),
        budget=_seconds("budget", budget),
        memory=memory,
        compile=compile,
        channels_last=channels_last,
    )
    if options["warmup"] is None:
        options["warmup"] = 3
    if no_latency:
        refuse_timing_options(batches, **options)
        if verbose:
            raise OptionError("verbose", True, "shows the latency's spreads, which {other} turns off: drop one of "
                              "them", other=("latency", False))
        return None
    return TimingOptions(batch=tuple(batches), **options)  # checks every rule that needs no device


def _block(
    block: str | None,
    r: str | None,
    bias: bool | None,
    position: str | None,
    squeeze: str | None,
    gate: str | None,
    divisor: str | None,
    combine: str | None,
) -> tuple[BlockSpec, list[tuple[str, Any]]]:
    """The block the options describe, and the options given (as (API name, value), in command-line order)."""
    given: list[tuple[str, Any]] = []
    for name, text, parse in (
        ("block", block, lambda t: _choice("block", t, BlockKind)),
        ("r", r, lambda t: _integer("r", t, 1, "the reduction ratio")),
        ("bias", bias, lambda v: v),
        ("squeeze", squeeze, lambda t: _choice("squeeze", t, Squeeze)),
        ("gate", gate, lambda t: _choice("gate", t, Gate)),
        ("divisor", divisor, lambda t: _integer("divisor", t, 1, "the divisor")),
        ("combine", combine, lambda t: _choice("combine", t, Combine)),
        ("position", position, lambda t: _choice("position", t, Position)),
    ):
        if text is not None:
            given.append((name, parse(text)))
    knobs = {("kind" if name == "block" else name): value for name, value in given}
    kind = knobs.get("kind", BlockKind.SE)
    for name, value in given:  # a knob given at its default is still one the block does not have
        if not kind.has(name):
            raise knob_refusal(name, value, kind)
    return BlockSpec(**knobs), given


def _default_r(error: OptionError, given: list[tuple[str, Any]]) -> OptionError:
    """An error about r, saying that 16 is the default when the user gave no -r."""
    if error.option == "r" and "r" not in dict(given):
        return OptionError("r", error.value, "(the default) " + error.reason, error.other)
    return error


def _profile(
    live: _Live,
    model: str,
    block: tuple[BlockSpec, list[tuple[str, Any]]],
    stages: list[int] | None,
    input_shape: tuple[int, ...] | None,
    timing: TimingOptions | None,
    *,
    strip_stages: tuple = (),
    attribute: bool = False,
    add_missing: bool = False,
    heads: bool = False,
    refuse_native: bool = False,
    save: Callable[[dict], None] | None = None,
):
    """Import what profiling needs (with the status showing), check the model name, plan and measure. A
    model with SE of its own is refused (``refuse_native``, as ``inject`` does) or measured as built, where no
    block option may be given."""
    spec, given = block
    live.step("loading torch")
    from . import checkpoint
    from .measure import measure, open_model, plan_profile
    from .models import check_model_name
    from .surgery import native_refusal

    check_model_name(model)
    source = open_model(model, input_shape, live.step, heads)
    live.step("finding SE sites")
    found = source.sites()  # the standard places tell whether the model has SE of its own
    if refuse_native and found.native and not add_missing:
        raise native_refusal(model, found)
    try:
        plan = plan_profile(source, spec if given else None, stages, strip_stages, attribute, add_missing,
                            given[0] if given else None)
    except OptionError as error:
        raise _default_r(error, given) from error

    def keep(models: dict) -> None:
        se = plan.configs[1]
        save(checkpoint.payload(models["se"], name=model, block=plan.block, stages=se.se_stages,
                                input_shape=plan.input_shape, add_missing=plan.add_missing, heads=heads))

    return measure(source, plan, timing, on_step=live.step, on_sample=live.sample,
                   on_real=keep if save is not None else None)


@app.command(cls=_Command)
def inject(
    model: ModelArg,
    r: R = None,
    stages: Stages = None,
    bias: Bias = None,
    block: BlockOpt = None,
    position: PositionOpt = None,
    squeeze: SqueezeOpt = None,
    gate: GateOpt = None,
    divisor: DivisorOpt = None,
    scse_combine: CombineOpt = None,
    input: Input = None,
    batch: Batch = None,
    device: DeviceOpt = "auto",
    no_latency: NoLatency = False,
    runs: Runs = None,
    warmup: Warmup = None,
    threads: Threads = None,
    mode: ModeOpt = "infer",
    dtype: DtypeOpt = "float32",
    channels_last: ChannelsLast = False,
    budget: Budget = None,
    memory: Memory = False,
    compile: Compile = False,
    csv: Csv = None,
    stages_csv: StagesCsv = None,
    json: Json = None,
    save: Annotated[
        Optional[str],
        typer.Option(
            "--save", metavar="PATH", help="Save the SE model (state_dict + recipe; seprof.load rebuilds it)."
        ),
    ] = None,
    add_missing: AddMissing = False,
    heads: Heads = False,
    verbose: Verbose = False,
    debug: Debug = False,
) -> None:
    """Put SE blocks into MODEL and report what they cost, per stage and in total.

    MODEL is a torchvision model name (seprof models lists them) or your own factory,
    package.module:function, called once with no arguments.
    """
    with _session(debug) as live:
        outputs = _outputs(csv=csv, stages_csv=stages_csv, json=json, save=save)
        timing = _timing(
            no_latency, batch, device, runs, warmup, threads, mode, dtype, budget, memory, compile, channels_last,
            verbose,
        )
        spec = _block(block, r, bias, position, squeeze, gate, divisor, scse_combine)
        chosen = _int_list("stages", stages, 0, "stage numbers", "2,3,4,5")
        checkpoints: list[dict] = []
        report = _profile(
            live,
            model,
            spec,
            chosen,
            parse_input(input),
            timing,
            add_missing=add_missing,
            heads=heads,
            refuse_native=True,
            save=checkpoints.append if save else None,
        )
        live.stop()
        from .render import render_inject

        _finish(
            outputs,
            {
                "--csv": report.csv_text(),
                "--stages-csv": report.stages_csv_text(),
                "--json": report.json_text(),
                "--save": _checkpoint_writer(checkpoints),
            },
            lambda console: render_inject(console, report, verbose),
        )


def _checkpoint_writer(checkpoints: list[dict]) -> Callable[[str], None]:
    def write(path: str) -> None:
        import torch

        torch.save(checkpoints[0], path)

    return write


@app.command(cls=_Command)
def compare(
    model: Annotated[str, typer.Argument(metavar="MODEL", hidden=True)] = "resnet50",
    strip_stage: Annotated[
        Optional[list[str]],
        typer.Option(
            "--strip-stage",
            metavar="LIST",
            show_default="the last SE stage",
            help="Stages whose SE to remove together: 4,5 or repeated.",
        ),
    ] = None,
    r: R = None,
    stages: Stages = None,
    bias: Bias = None,
    block: BlockOpt = None,
    position: PositionOpt = None,
    squeeze: SqueezeOpt = None,
    gate: GateOpt = None,
    divisor: DivisorOpt = None,
    scse_combine: CombineOpt = None,
    input: Input = None,
    batch: Batch = None,
    device: DeviceOpt = "auto",
    no_latency: NoLatency = False,
    runs: Runs = None,
    warmup: Warmup = None,
    threads: Threads = None,
    mode: ModeOpt = "infer",
    dtype: DtypeOpt = "float32",
    channels_last: ChannelsLast = False,
    budget: Budget = None,
    memory: Memory = False,
    compile: Compile = False,
    attribute: Annotated[
        bool,
        typer.Option(
            "--attribute", help="Also each stage's SE alone: per-stage shares of parameters, work and latency."
        ),
    ] = False,
    plot: Annotated[
        Optional[str],
        typer.Option(
            "--plot",
            metavar="PATH",
            help="Write a picture in the format of its suffix (png, svg, pdf...): per-stage shares, configurations "
            "on a params-vs-latency plane (needs matplotlib).",
        ),
    ] = None,
    csv: Csv = None,
    stages_csv: StagesCsv = None,
    json: Json = None,
    add_missing: AddMissing = False,
    heads: Heads = False,
    verbose: Verbose = False,
    debug: Debug = False,
) -> None:
    """Compare the base model, SE everywhere, and SE with some stages stripped (the paper's ~10% → ~4%).

    MODEL (default resnet50) is a torchvision model name or package.module:function. For a model with SE
    blocks of its own (EfficientNet, MobileNetV3, RegNetY, MaxViT): the model as built against the model
    without them, and with some stages' SE stripped.
    """
    with _session(debug) as live:
        outputs = _outputs(csv=csv, stages_csv=stages_csv, json=json, plot=plot)
        if plot is not None:
            from .plot import check_plotting

            check_plotting(plot)
        timing = _timing(
            no_latency, batch, device, runs, warmup, threads, mode, dtype, budget, memory, compile, channels_last,
            verbose,
        )
        spec = _block(block, r, bias, position, squeeze, gate, divisor, scse_combine)
        chosen = _int_list("stages", stages, 0, "stage numbers", "2,3,4")
        removed = _int_list("strip_stages", strip_stage, 0, "stage numbers", "4,5") or []
        report = _profile(
            live,
            model,
            spec,
            chosen,
            parse_input(input),
            timing,
            strip_stages=(removed,),
            add_missing=add_missing,
            heads=heads,
            attribute=attribute,
        )
        live.stop()
        from .render import render_compare

        contents: dict[str, Any] = {
            "--csv": report.csv_text(),
            "--stages-csv": report.stages_csv_text(),
            "--json": report.json_text(),
        }
        if plot is not None:
            from .plot import figure_writer

            contents["--plot"] = figure_writer(report, plot)
        _finish(outputs, contents, lambda console: render_compare(console, report, verbose))


def _words(option: str, texts: list[str] | None, choice: type) -> list[Any] | None:
    """'se,scse' and repetitions → [BlockKind.SE, BlockKind.SCSE]; repeats are refused."""
    if texts is None:
        return None
    example = ",".join(m.value for m in list(choice)[:2])
    same = (lambda kind: kind.block) if choice is BlockKind else (lambda value: value)
    return _entries(option, texts, "values", example, lambda part, _: _choice(option, part, choice), as_list=True,
                    same=same)


def _stage_sets(texts: list[str] | None) -> list[Any]:
    """'each,all,4+5' → [StageSet.EACH, StageSet.ALL, (4, 5)]: words, or stages joined by '+'."""
    from .spec import StageSet

    if texts is None:
        return [StageSet.ALL]

    def stage_set(part: str, named: str) -> Any:
        if part.lower() in ("all", "each"):
            return StageSet(part.lower())
        numbers = [_whole("stage_sets", named, n, "each stage number") for n in part.split("+")]
        if not all(n is not None and n >= 0 for n in numbers):
            raise OptionError("stage_sets", _elided(named), f"has {_elided(part)!r}, which is neither all, each nor "
                              "stages joined by + (e.g. each,all or 2,4+5)")
        if len(set(numbers)) != len(numbers):
            raise OptionError("stage_sets", named, f"names a stage twice in {part!r}: give each once")
        return tuple(sorted(numbers))

    return _entries("stage_sets", texts, "stage sets", "each,all", stage_set)


def _sweep_blocks(
    blocks: list[Any] | None,
    ratios: list[int] | None,
    bias: bool | None,
    squeezes: list[Any] | None,
    gates: list[Any] | None,
    divisors: list[int] | None,
    combines: list[Any] | None,
    positions: list[Any] | None,
) -> list[BlockSpec]:
    """Every combination of the swept knobs, each knob applied to the blocks that have it (r, squeeze and
    divisor to channel SE, the combine to scSE); a knob given for no block is refused."""
    import itertools

    kinds = blocks or [BlockKind.SE]
    for option, given in (("r", ratios), ("squeeze", squeezes), ("divisor", divisors), ("combine", combines)):
        if given is not None and not any(k.has(option) for k in kinds):
            raise OptionError(option, given, "applies to none of the blocks swept ({other}): drop it, or add a "
                              "block that has it", other=("block", kinds))
    specs = []
    for kind, r, squeeze, gate, divisor, combine, position in itertools.product(
            kinds, ratios or [16], squeezes or [Squeeze.AVG], gates or [Gate.SIGMOID], divisors or [None],
            combines or [Combine.ADD], positions or [Position.STANDARD]):
        knobs = {"r": r, "squeeze": squeeze, "divisor": divisor, "combine": combine}
        knobs = {k: v if kind.has(k) else KIND_KNOBS[k] for k, v in knobs.items()}  # the kind's own knobs only
        specs.append(BlockSpec(kind, bias=True if bias is None else bias, gate=gate, position=position, **knobs))
    return list(dict.fromkeys(specs))


@app.command(cls=_Command)
def sweep(
    model: Annotated[str, typer.Argument(metavar="MODEL", hidden=True)] = "resnet50",
    block: Annotated[
        Optional[list[str]],
        typer.Option("--block", metavar="LIST", show_default="se",
                     help="Blocks to sweep: se, cse, sse, scse (e.g. se,sse,scse)."),
    ] = None,
    r: Annotated[
        Optional[list[str]],
        typer.Option("--r", "-r", metavar="LIST", show_default="16", help="Reduction ratios, e.g. 2,4,8,16,32."),
    ] = None,
    stages: Annotated[
        Optional[list[str]],
        typer.Option("--stages", metavar="SETS", show_default="all",
                     help="Stage sets: all (every stage together), each (each stage alone), or stages joined by +, "
                     "e.g. each,all or 4+5."),
    ] = None,
    position: Annotated[
        Optional[list[str]],
        typer.Option("--position", metavar="LIST", show_default="standard",
                     help="Positions in the residual unit (SENet Fig. 5): standard, pre, post, identity."),
    ] = None,
    squeeze: Annotated[
        Optional[list[str]],
        typer.Option("--squeeze", metavar="LIST", show_default="avg", help="Channel squeezes: avg, max."),
    ] = None,
    gate: Annotated[
        Optional[list[str]],
        typer.Option("--gate", metavar="LIST", show_default="sigmoid",
                     help="Excitation gates: sigmoid, hardsigmoid, tanh, relu."),
    ] = None,
    divisor: Annotated[
        Optional[list[str]],
        typer.Option("--divisor", metavar="LIST", show_default="none: C//r",
                     help="Round the hidden width to multiples of these, e.g. 8."),
    ] = None,
    scse_combine: Annotated[
        Optional[list[str]],
        typer.Option("--scse-combine", metavar="LIST", show_default="add",
                     help="scSE's combination: add (the MICCAI paper), max (the authors' released code)."),
    ] = None,
    bias: Bias = None,
    input: Input = None,
    batch: Batch = None,
    device: DeviceOpt = "auto",
    no_latency: NoLatency = False,
    runs: Runs = None,
    warmup: Warmup = None,
    threads: Threads = None,
    mode: ModeOpt = "infer",
    dtype: DtypeOpt = "float32",
    channels_last: ChannelsLast = False,
    budget: Budget = None,
    memory: Memory = False,
    compile: Compile = False,
    plot: Annotated[
        Optional[str],
        typer.Option("--plot", metavar="PATH",
                     help="Write a picture of every configuration on the params-vs-latency plane (params vs "
                     "MACs with --no-latency), in the format of its suffix (needs matplotlib)."),
    ] = None,
    csv: Csv = None,
    stages_csv: StagesCsv = None,
    json: Json = None,
    add_missing: AddMissing = False,
    heads: Heads = False,
    verbose: Verbose = False,
    debug: Debug = False,
) -> None:
    """Measure every combination of blocks, ratios, stage sets and positions against MODEL without SE.

    MODEL (default resnet50) is a torchvision model name or package.module:function. All configurations are
    built from one model, each distinct block is counted once, and with latency all are timed interleaved.
    """
    with _session(debug) as live:
        outputs = _outputs(csv=csv, stages_csv=stages_csv, json=json, plot=plot)
        if plot is not None:
            from .plot import check_plotting

            check_plotting(plot)
        timing = _timing(
            no_latency, batch, device, runs, warmup, threads, mode, dtype, budget, memory, compile, channels_last,
            verbose,
        )
        specs = _sweep_blocks(
            _words("block", block, BlockKind),
            _int_list("r", r, 1, "reduction ratios", "2,4,8,16,32"),
            bias,
            _words("squeeze", squeeze, Squeeze),
            _words("gate", gate, Gate),
            _int_list("divisor", divisor, 1, "divisors", "8"),
            _words("combine", scse_combine, Combine),
            _words("position", position, Position),
        )
        sets = _stage_sets(stages)
        shape = parse_input(input)
        live.step("loading torch")
        from .measure import measure, open_model, plan_sweep
        from .models import check_model_name

        check_model_name(model)
        source = open_model(model, shape, live.step, heads)
        live.step("finding SE sites")
        try:
            plan = plan_sweep(source, specs, sets, add_missing)
        except OptionError as error:
            raise _default_r(error, [("r", r)] if r else []) from error
        report = measure(source, plan, timing, on_step=live.step, on_sample=live.sample)
        live.stop()
        from .render import render_sweep

        contents: dict[str, Any] = {
            "--csv": report.csv_text(),
            "--stages-csv": report.stages_csv_text(),
            "--json": report.json_text(),
        }
        if plot is not None:
            from .plot import sweep_figure_writer

            contents["--plot"] = sweep_figure_writer(report, plot)
        _finish(outputs, contents, lambda console: render_sweep(console, report, verbose))


@app.command(cls=_Command)
def paper(
    csv: Annotated[
        Optional[str],
        typer.Option("--csv", metavar="PATH", help="Write one row per printed figure to this CSV file (- for stdout)."),
    ] = None,
    debug: Debug = False,
) -> None:
    """The SENet paper's printed figures for SE-ResNet-50 next to seprof's exact numbers, row by row.

    Table 10 (reduction ratio), Tables 11-12 (squeeze, gate), Table 13 (stages), Table 14 (integration) and the
    ~10% → ~4% claim, each with the difference and a note wherever the printed value cannot be matched.
    """
    with _session(debug) as live:
        outputs = _outputs(csv=csv)
        live.step("loading torch")
        from .paper import compare, comparison_csv
        from .render import render_paper

        live.step("counting SE-ResNet-50's configurations")
        rows = compare()
        live.stop()
        _finish(outputs, {"--csv": comparison_csv(rows)}, lambda console: render_paper(console, rows))


@app.command(cls=_Command)
def stages(
    model: ModelArg,
    input: Input = None,
    position: PositionOpt = None,
    heads: Heads = False,
    debug: Debug = False,
) -> None:
    """Show MODEL's stages: resolution, blocks, channels at the SE point, and the SE blocks it already has.

    MODEL is a torchvision model name or package.module:function.
    """
    with _session(debug) as live:
        shape = parse_input(input)
        where = Position.STANDARD if position is None else _choice("position", position, Position)
        live.step("loading torch")
        from .measure import open_model, site_notes
        from .models import check_model_name, model_family
        from .render import render_stages

        check_model_name(model)
        source = open_model(model, shape, live.step, heads)
        live.step("finding SE sites")
        stage_map = source.sites(where)
        live.stop()
        console = _stdout()
        render_stages(console, model, stage_map, model_family(model), site_notes(source, stage_map))
        if stage_map.native:
            console.print(
                f"'seprof compare {model}' measures them"
                + (
                    f"; --add-missing adds SE to its {len(stage_map.sites)} blocks without one."
                    if stage_map.sites
                    else "."
                )
            )


@app.command(cls=_Command)
def models(
    family: Family = None,
    task: TaskOpt = None,
    source: Annotated[
        str,
        typer.Option("--source", metavar="torchvision|timm",
                     help="Whose models: torchvision's, or timm's (the families seprof has rules for; needs timm)."),
    ] = "torchvision",
    details: Annotated[
        bool,
        typer.Option(
            "--details",
            help="Also each model's stages and SE sites (builds every model on the meta device; rows appear as "
            "they are ready).",
        ),
    ] = False,
    workers: Workers = None,
    debug: Debug = False,
) -> None:
    """List every supported model, in natural order, with its family and usual input."""
    with _session(debug) as live:
        count = _workers(workers)
        if count is not None and not details:
            raise OptionError(
                "workers", count, "applies to building the models, which {other} asks for", other=("details", True)
            )
        group = _task(task)
        if _choice("source", source, Source) is Source.TIMM:
            if group is not Task.CLASSIFICATION:
                raise OptionError("task", task, "applies to torchvision's models; timm's are classifiers",
                                  other=("source", "timm"))
            _timm_models(live, family, details, count)
            return
        from .families import FAMILIES, check_family, family_of, input_shape_of, model_names, task_of

        if family is not None:
            check_family(family)
        names = model_names(group)
        if names is None or details:  # torchvision's source is not readable, or the models get built anyway
            live.step("loading torchvision")
            from .models import list_models

            names = list(list_models(task=group))
        names = [n for n in names if family in (None, family_of(n))]
        if not names:
            raise OptionError("family", family, f"has no {group} model: seprof models --task all lists every family")
        live.stop()
        console = _stdout()
        if not details:
            from .layout import Column, Grid, print_grid

            grid = Grid([Column("model", "left", key=True), Column("family", "left"),
                         *([Column("task", "left")] if group is None else []), Column("input", "left")])
            for name in names:
                grid.add(name, family_of(name), *([str(task_of(name))] if group is None else []),
                         "x".join(map(str, input_shape_of(name))))
            print_grid(console, f"Supported models ({len(names)})", grid)
        else:
            _echo_details(names, count, 14)
        shown = [f for f in FAMILIES.values() if any(family_of(n) == f.name for n in names)]
        for f in shown:
            console.print(f"{f.name} ({f.title}): {f.where} — {f.source}" + (" [choice]" if f.choice else ""),
                          markup=False)
        console.print(
            "SE sites: where seprof adds SE (for models with SE of their own, the blocks without one, "
            "used by --add-missing). Your own model: package.module:function (see the README)."
        )


def _echo_details(names: list[str], workers: int | None, family_width: int) -> None:
    """``seprof models --details``: a line per model as each is ready (built on the meta device, in workers);
    a model seprof cannot place SE in gets its reason at the end of its line."""
    from .zoo import model_info, parallel_imap

    width = max(len(n) for n in names)
    typer.echo(f"{'model':<{width}}  {'family':<{family_width}}  {'stages':<11}  {'SE sites':>8}  {'own SE':>6}  input")
    for info in parallel_imap(model_info, names, workers):
        if info.refused:
            typer.echo(f"{info.model:<{width}}  {info.family:<{family_width}}  refused: {info.refused}")
            continue
        typer.echo(f"{info.model:<{width}}  {info.family:<{family_width}}  {info.stages:<11}  "
                   f"{info.blocks or '—':>8}  {info.native_blocks or '—':>6}  {info.input}")


def _timm_models(live: _Live, family: str | None, details: bool, workers: int | None) -> None:
    """``seprof models --source timm``: timm's models in the modules seprof has rules for."""
    live.step("loading timm")
    from .layout import Column, Grid, print_grid
    from .timm_models import MODULES, timm_input_shape, timm_module_of, timm_names

    names = timm_names()
    if family is not None:
        module = family.removeprefix("timm:")
        if module not in MODULES:
            raise OptionError("family", family, f"is not one of timm's modules seprof knows: {', '.join(MODULES)}",
                              other=("source", "timm"))
        names = [n for n in names if timm_module_of(n) == module]
    if details:
        live.stop()
        _echo_details(names, workers, 24)
        return
    grid = Grid([Column("model", "left", key=True), Column("family", "left"), Column("input", "left")])
    for name in names:
        grid.add(name, f"timm:{timm_module_of(name)}", "x".join(map(str, timm_input_shape(name))))
    live.stop()
    console = _stdout()
    print_grid(console, f"timm models in the families seprof has rules for ({len(names)})", grid)
    for module, (title, where, origin, _) in MODULES.items():
        if family in (None, module):
            console.print(f"timm:{module} ({title}): {where} — {origin}", markup=False)
    console.print("Any other timm model, timm:NAME, is placed by seprof's generic rules, and its SE-like modules "
                  "(SEModule, EffectiveSEModule, SqueezeExcite, EcaModule...) are found wherever they are.")


@app.command(cls=_Command)
def zoo(
    r: R = None,
    family: Family = None,
    task: TaskOpt = None,
    fvcore: Annotated[
        bool, typer.Option("--fvcore", help="Also count with fvcore (needs real tensors: much slower).")
    ] = False,
    workers: Workers = None,
    csv: Annotated[
        Optional[str],
        typer.Option("--csv", metavar="PATH", help="Write one row per model to this CSV file (- for stdout)."),
    ] = None,
    json: Json = None,
    debug: Debug = False,
) -> None:
    """The static report (parameters, paper formula, MACs) for every supported model, in one table."""
    with _session(debug) as live:
        outputs = _outputs(csv=csv, json=json)
        ratio = _integer("r", r, 1, "the reduction ratio")
        count = _workers(workers)
        group = _task(task)
        live.step("loading torch")
        from .families import check_family
        from .models import list_models
        from .render import render_zoo
        from .zoo import ZOO_COUNTERS, run_zoo, zoo_text

        if family is not None:
            check_family(family)
        names = list_models(family, group)
        if not names:
            raise OptionError("family", family, f"has no {group} model: seprof models --task all lists every family")
        counters = ("fvcore", *ZOO_COUNTERS) if fvcore else ZOO_COUNTERS
        done = [0]

        def progress(row) -> None:
            done[0] += 1
            live.step(f"profiled {done[0]} of {len(names)} models ({row.model})")

        live.step(f"profiling {len(names)} models")
        rows = run_zoo(names, r=16 if ratio is None else ratio, counters=counters, workers=count, on_done=progress,
                       describe=message)
        live.stop()
        if all(row.error for row in rows):  # nothing to report: as much a bad input as any other
            raise ModelError(f"none of the {len(rows)} models could be profiled; {rows[0].model}: {rows[0].error}")
        _finish(
            outputs,
            {"--csv": zoo_text(rows, "csv"), "--json": zoo_text(rows, "json")},
            lambda console: render_zoo(console, rows, 16 if ratio is None else ratio, counters),
        )


def _version(value: bool) -> None:
    if value:
        typer.echo(f"seprof {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """What does Squeeze-and-Excitation cost in this model, and where?"""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
