"""The ``seprof`` command line: parse options, call the Python API, render its Report with rich.

Tables go to stdout (to stderr when an export is written to stdout with ``-``), progress and errors to
stderr. Every SeprofError becomes one line on stderr, in the command line's own words (flags, not Python
parameter names), and exit code 2 (a traceback only with ``--debug``); Ctrl-C prints "seprof: aborted" and
exits 130. Options are declared once, in groups (``seprof.arguments``), and checked before any work, most
before torch is even imported; output files are checked up front and written together only once everything
has succeeded.

This module imports nothing heavy at import time: ``seprof --help`` and ``seprof --version`` answer without
importing torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Annotated, Any, get_type_hints

import typer

from . import __version__, arguments
from .arguments import (
    MODEL,
    OUTPUT,
    Debug,
    Details,
    Exports,
    Family,
    ModelArg,
    ModelOptions,
    Stages,
    TaskOpt,
    TimingArgs,
    Workers,
    flag_name,
    option,
)
from .errors import ModelError, NativeSEError, OptionError, OutputPathError, SeprofError, UnknownModelError, first_line
from .export import Outputs, quiet_stdout
from .families import Task, family_of, is_factory

# The base class of every command-line parsing error (click's ClickException, which typer vendors in recent
# releases), reached through typer's public BadParameter: BadParameter → UsageError → ClickException.
_ParseError = typer.BadParameter.__mro__[2]


_running: list[Any] = []  # the context of the command being run (click's, as typer provides it)


def _defaulted(name: str) -> bool:
    """Whether the running command's option ``name`` was left at its default (not typed)."""
    if not _running or name not in _running[-1].params:
        return False
    source = _running[-1].get_parameter_source(name)
    return source is not None and source.name == "DEFAULT"


def _typed_block_option() -> tuple[str, Any] | None:
    """The first block option typed on the running command's line, parsed, as (API name, value)."""
    if not _running:
        return None
    for name, text in arguments.BlockOptions(**{
            n: _running[-1].params.get(n) for n in arguments.BLOCK_OPTIONS}).given().items():
        if not _defaulted(name):
            return name, text
    return None


def message(error: SeprofError) -> str:
    """A SeprofError in the command line's words; a value the user did not type is called the default, and an
    error about the block as a whole names the block option typed."""
    if isinstance(error, OptionError) and error.option == "block" and _defaulted("block"):
        typed = _typed_block_option()
        if typed is not None:
            error = OptionError(*typed, error.reason, error.other)
    if isinstance(error, OptionError):
        return error.render(lambda name, value: flag_name(name, value) + (
            " (the default)" if name == error.option and value is not None and _defaulted(name) else ""))
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
    """A command whose usage line reads 'seprof inject [OPTIONS] MODEL' (no braces around arguments), whose
    help shows its options under their groups' headings, which refuses an option that takes one value given
    twice instead of keeping the last, and which answers extra arguments with what to type instead."""

    def collect_usage_pieces(self, ctx):  # noqa: ANN001, ANN201 - click's signature
        return [piece.strip("{}") for piece in super().collect_usage_pieces(ctx)]

    def format_options(self, ctx, formatter):  # noqa: ANN001, ANN201 - click's signature
        panels: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None and param.param_type_name == "option":
                panels.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append(record)
        for panel, records in panels.items():
            with formatter.section(panel if panel == "Options" else f"{panel} options"):
                formatter.write_dl(records)

    def invoke(self, ctx):  # noqa: ANN001, ANN201 - click's signature
        _running.append(ctx)
        try:
            return super().invoke(ctx)
        finally:
            _running.pop()

    def parse_args(self, ctx, args):  # noqa: ANN001, ANN201 - click's signature
        twice = given_twice(self.params, args)
        if twice is not None:
            raise _UsageError(twice, ctx=ctx)
        words = list(args)  # click's parser consumes the list
        try:
            return super().parse_args(ctx, args)
        except _UsageError as error:
            extra = re.match(r"Got unexpected extra argument(?:s|\(s\))? \((.*)\)$", error.format_message())
            if extra is None:
                raise
            raise _UsageError(extra_arguments(self.name, words, extra.group(1).split(" "), self.params),
                              ctx=ctx) from None


def extra_arguments(command: str, words: list[str], extra: list[str], params: list[Any]) -> str:
    """What to type instead of a command line with ``extra`` words: values after a list option's value join it
    as a list ('--stages 4 5' → '--stages 4,5'); after another option's value, that it takes one; a second MODEL,
    or values after a flag, get the command's form."""
    options = {flag: p for p in params if p.param_type_name == "option" for flag in p.opts}
    shown = " ".join(extra)
    words_are = "is an extra argument" if len(extra) == 1 else "are extra arguments"
    for i in range(len(words) - len(extra), -1, -1):
        if words[i:i + len(extra)] != extra:
            continue
        flag, value = (words[i - 2], words[i - 1]) if i >= 2 else (None, None)
        option = options.get(flag)
        if option is not None and not option.is_flag and not value.startswith("-"):
            if option.multiple:
                return f"{shown!r} after {flag} {value} {words_are}: give a list as one value, {flag} " + ",".join(
                    [value, *extra])
            return (f"{shown!r} after {flag} {value} {words_are}: {flag} takes one value"
                    + (" (seprof sweep takes several)" if flag in arguments.SWEPT_FLAGS else ""))
        break
    return (f"{shown!r} {words_are}: seprof {command} takes one MODEL, and values go with their options "
            "(e.g. --stages 4,5)")


def _model_hint(word: str) -> str | None:
    """For a first word that is no command but names a model: the command to type."""
    if family_of(word) is None and not word.startswith("timm:") and not is_factory(word):
        return None
    return (f"{word!r} is a model, not a command: type 'seprof inject {word}' for what SE costs in it (or "
            f"'seprof compare {word}', 'seprof stages {word}')")


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
            unknown = re.match(r"No such command '(.*)'\.$", error.format_message())
            hint = _model_hint(unknown.group(1)) if unknown else None
            if hint is not None:
                typer.echo(f"seprof: error: {hint}", err=True)
                sys.exit(error.exit_code)
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
_signalled: list[int] = []  # the signals received (SIGINT, SIGTERM), in order


def _on_signal(signum: int, frame: Any) -> None:
    """Ctrl-C and SIGTERM unwind the run, so that temporary files are removed on the way out; each is recorded,
    so that one whose KeyboardInterrupt a library swallows (say, while it imports) still ends the run at its
    next step."""
    _signalled.append(signum)
    raise KeyboardInterrupt


def _raise_if_signalled() -> None:
    """Go on unwinding a run that was signalled, should a library have swallowed the interruption."""
    if _signalled:
        raise KeyboardInterrupt


def _aborted() -> int:
    """Say the run was aborted; the exit code for the signal that did it."""
    terminated = signal.SIGTERM in _signalled
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


def command(func: Callable[..., None]) -> Callable[..., None]:
    """Register ``func`` as a command. A parameter annotated with an option group (``arguments.Group``) is
    spread into the group's options in the signature typer reads, and ``func`` receives the group filled in."""
    hints = get_type_hints(func, include_extras=True)
    groups = {name: hint for name, hint in hints.items()
              if isinstance(hint, type) and issubclass(hint, arguments.Group)}
    spread = []
    for name, param in inspect.signature(func).parameters.items():
        if name not in groups:
            spread.append(param.replace(annotation=hints[name], kind=inspect.Parameter.KEYWORD_ONLY))
            continue
        group_hints = get_type_hints(groups[name], include_extras=True)
        spread += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                                     annotation=group_hints[f.name]) for f in dataclasses.fields(groups[name])]

    @functools.wraps(func)
    def run(**given: Any) -> None:
        for name, group in groups.items():
            given[name] = group(**{f.name: given.pop(f.name) for f in dataclasses.fields(group)})
        func(**given)

    run.__signature__ = inspect.Signature(spread)  # type: ignore[attr-defined]
    run.__annotations__ = {}
    del run.__wrapped__  # typer reads the signature above, not func's
    return app.command(cls=_Command)(run)


def main() -> None:
    """Entry point of the ``seprof`` console script: SIGTERM unwinds like Ctrl-C, and once the command has
    ended (its exit code decided), later signals are ignored, so the interpreter's shutdown cannot print a
    traceback."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        app()
    except KeyboardInterrupt:  # between typer's parsing and our command, or in typer's own code
        sys.exit(_aborted())
    except Exception:  # what an interruption left behind, e.g. a module half imported when a library swallowed it
        if _signalled:
            sys.exit(_aborted())
        raise
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


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
        _raise_if_signalled()
        if self.progress is not None:
            self.progress.update(self.task, description=f"{text}…")

    def sample(self) -> None:
        _raise_if_signalled()
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
        _raise_if_signalled()  # an error that an interrupted import left behind is the interruption's
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


def _outputs(paths: dict[str, str | None]) -> Outputs:
    """The command's output files, each checked now (before any work); the data exports may be ``-``
    (stdout)."""
    outputs = Outputs()
    for flag, path in paths.items():
        outputs.add(flag, path, stdout=flag in ("--csv", "--stages-csv", "--json"))
    return outputs


def _finish(outputs: Outputs, contents: dict[str, Any], show: Callable[[Any], None]) -> None:
    """Write every output file to a temporary file, ``show`` the report, then put the files in place: a file
    that cannot be written fails the command before anything is printed, and nothing is written unless
    everything, the report included, succeeded."""
    _raise_if_signalled()
    with outputs.staged(contents, on_written=lambda path: typer.echo(f"wrote {path}", err=True)):
        try:
            show(_stdout(outputs.stdout))
        except OSError as error:  # the report's stream is full, or its reader gone: no file is put in place
            quiet_stdout()
            raise OutputPathError(f"cannot print the report: {error.strerror or first_line(error)}; no file was "
                                  "written") from error


def _report_files(report: Any, plot: str | None, draw: Callable[[Any, str], Callable[[str], None]] | None = None
                  ) -> dict[str, Any]:
    """What a profile's outputs hold: its CSVs and JSON, and its picture when ``plot`` names a file."""
    contents: dict[str, Any] = {"--csv": report.csv_text(), "--stages-csv": report.stages_csv_text(),
                                "--json": report.json_text()}
    if plot is not None:
        from .plot import figure_writer

        contents["--plot"] = (draw or figure_writer)(report, plot)
    return contents


def _check_plot(plot: str | None) -> None:
    if plot is not None:
        from .plot import check_plotting

        check_plotting(plot)


@command
def inject(
    model: ModelArg,
    stages: Stages = None,
    block: arguments.BlockOptions = None,
    where: ModelOptions = None,
    timing: TimingArgs = None,
    exports: Exports = None,
    plot: arguments.Plot = None,
    save: Annotated[str | None, option(
        "--save", panel=OUTPUT, metavar="PATH",
        help="Save the SE model (state_dict + recipe; seprof.load rebuilds it).")] = None,
    details: Details = False,
    debug: Debug = False,
) -> None:
    """Put SE blocks into MODEL and report what they cost, per stage and in total.

    MODEL is a torchvision model name (seprof models lists them), a timm model as timm:NAME, or your own
    factory, package.module:function, called once with no arguments.
    """
    with _session(debug) as live:
        outputs = _outputs({**exports.paths(), "--plot": plot, "--save": save})
        _check_plot(plot)
        options = timing.parse()
        spec = block.parse()
        chosen = arguments.stage_list("stages", stages, "2,3,4,5")
        shape = arguments.parse_input(where.input_shape)
        live.step("loading torch")
        from . import checkpoint
        from .measure import profile

        held: dict[str, Any] = {}

        def keep(models: dict) -> None:  # before timing: train-mode passes would move BN statistics
            held["model"], held["state"] = models["se"], checkpoint.snapshot(models["se"].state_dict())

        report = profile(model, **spec, stages=chosen, input_shape=shape, timing=options, add_missing=where.add_missing,
                         heads=where.heads, refuse_native=True, on_step=live.step, on_sample=live.sample,
                         on_real=keep if save else None)
        live.stop()
        from .render import render_inject

        contents = _report_files(report, plot)
        if save:
            contents["--save"] = _checkpoint_writer(report, held, model, where.heads)
        _finish(outputs, contents,
                lambda console: render_inject(console, report, timing.verbose, details or timing.verbose))


def _checkpoint_writer(report: Any, held: dict[str, Any], name: str, heads: bool) -> Callable[[str], None]:
    """Writes the SE model as it was before timing, with the recipe ``seprof.load`` rebuilds it from."""
    from .checkpoint import payload

    data = payload(held["model"], name=name, block=report.block, stages=report.config("se").se_stages,
                   input_shape=report.input_shape, add_missing=report.add_missing, heads=heads)
    data["state_dict"] = held["state"]

    def write(path: str) -> None:
        import torch

        torch.save(data, path)

    return write


@command
def compare(
    model: arguments.ModelOrResnet50 = "resnet50",
    strip_stages: Annotated[list[str] | None, option(
        "--strip-stage", panel=MODEL, metavar="LIST", show_default="the last SE stage",
        help="Stages whose SE to remove together: 4,5, '4 5' or repeated.")] = None,
    stages: Stages = None,
    attribute: Annotated[bool, option(
        "--attribute", panel=MODEL,
        help="Also each stage's SE alone: per-stage shares of parameters, work and latency.")] = False,
    block: arguments.BlockOptions = None,
    where: arguments.CompareModelOptions = None,
    timing: TimingArgs = None,
    exports: Exports = None,
    plot: arguments.Plot = None,
    details: Details = False,
    debug: Debug = False,
) -> None:
    """Compare the base model, SE everywhere, and SE with some stages stripped (the paper's ~10% → ~4%).

    MODEL (default resnet50) is a torchvision model name, timm:NAME or package.module:function. For a model
    with SE blocks of its own (EfficientNet, MobileNetV3, RegNetY, MaxViT), or with --own-attention its own GC,
    CBAM, ... (timm:gcresnext26ts): the model as built against the model without them, and with some stages'
    stripped.
    """
    with _session(debug) as live:
        outputs = _outputs({**exports.paths(), "--plot": plot})
        _check_plot(plot)
        options = timing.parse()
        spec = block.parse()
        chosen = arguments.stage_list("stages", stages, "2,3,4")
        removed = arguments.int_list("strip_stages", strip_stages, 0, "stage numbers", "4,5") or []
        shape = arguments.parse_input(where.input_shape)
        live.step("loading torch")
        from .measure import profile

        report = profile(model, **spec, stages=chosen, strip_stages=(removed,), attribute=attribute, input_shape=shape,
                         timing=options, add_missing=where.add_missing, heads=where.heads,
                         own_attention=where.own_attention, on_step=live.step, on_sample=live.sample)
        live.stop()
        from .render import render_compare

        _finish(outputs, _report_files(report, plot),
                lambda console: render_compare(console, report, timing.verbose, details or timing.verbose))


@command
def sweep(
    model: arguments.ModelOrResnet50 = "resnet50",
    stage_sets: Annotated[list[str] | None, option(
        "--stages", panel=MODEL, metavar="SETS", show_default="all",
        help="Stage sets: all (every stage together), each (each stage alone), or stages joined by +, e.g. each,all "
        "or 4+5.")] = None,
    blocks: arguments.SweepBlocks = None,
    where: ModelOptions = None,
    timing: TimingArgs = None,
    exports: Exports = None,
    plot: arguments.Plot = None,
    details: Details = False,
    debug: Debug = False,
) -> None:
    """Measure every combination of blocks, ratios, stage sets and positions against MODEL without SE.

    MODEL (default resnet50) is a torchvision model name, timm:NAME or package.module:function. All
    configurations are built from one model, each distinct block is counted once, and with latency all are
    timed interleaved.
    """
    with _session(debug) as live:
        outputs = _outputs({**exports.paths(), "--plot": plot})
        _check_plot(plot)
        options = timing.parse()
        specs = arguments.sweep_specs(blocks)
        sets = arguments.stage_sets(stage_sets)
        shape = arguments.parse_input(where.input_shape)
        live.step("loading torch")
        from .measure import sweep as run_sweep
        from .plot import sweep_figure_writer
        from .render import render_sweep

        report = run_sweep(model, specs, sets, input_shape=shape, timing=options, add_missing=where.add_missing,
                           heads=where.heads, on_step=live.step, on_sample=live.sample)
        live.stop()
        _finish(outputs, _report_files(report, plot, sweep_figure_writer),
                lambda console: render_sweep(console, report, timing.verbose, details or timing.verbose))


@command
def paper(
    csv: Annotated[str | None, option(
        "--csv", panel=OUTPUT, metavar="PATH",
        help="Write one row per printed figure to this CSV file (- for stdout).")] = None,
    debug: Debug = False,
) -> None:
    """The SENet paper's printed figures for SE-ResNet-50 next to seprof's exact numbers, row by row.

    Table 10 (reduction ratio), Tables 11-12 (squeeze, gate), Table 13 (stages), Table 14 (integration) and the
    ~10% → ~4% claim, each with the difference and a note wherever the printed value cannot be matched.
    """
    with _session(debug) as live:
        outputs = _outputs({"--csv": csv})
        live.step("loading torch")
        from .paper import compare, comparison_csv
        from .render import render_paper

        live.step("counting SE-ResNet-50's configurations")
        rows = compare()
        live.stop()
        _finish(outputs, {"--csv": comparison_csv(rows)}, lambda console: render_paper(console, rows))


@command
def blocks(debug: Debug = False) -> None:
    """The attention kinds seprof knows: paper, what each squeezes, its knobs and their defaults, its parameters
    per block as a formula, and the count it adds to resnet50 (at its 16 SE sites)."""
    with _session(debug) as live:
        live.step("loading torch")
        from .kinds import KINDS
        from .models import build_model
        from .render import render_blocks
        from .stages import find_sites

        live.step("finding resnet50's SE sites")
        channels = [site.channels for site in find_sites(build_model("resnet50", "meta"), (3, 224, 224)).sites]
        live.stop()
        render_blocks(_stdout(), KINDS, "resnet50", channels)


@command
def stages(
    model: ModelArg,
    input_shape: arguments.InputShape = None,
    position: arguments.PositionOpt = None,
    heads: arguments.Heads = False,
    debug: Debug = False,
) -> None:
    """Show MODEL's stages: resolution, blocks, channels at the SE point, and the SE blocks it already has.

    MODEL is a torchvision model name, timm:NAME or package.module:function.
    """
    with _session(debug) as live:
        shape = arguments.parse_input(input_shape)
        where = arguments.DEFAULT_BLOCK.position if position is None else arguments.choice(
            "position", position, arguments.Position)
        live.step("loading torch")
        from .measure import open_model, site_notes
        from .models import model_family
        from .render import input_note, render_stages

        source = open_model(model, shape, live.step, heads)
        live.step("finding SE sites")
        stage_map = source.sites(where)
        live.stop()
        console = _stdout()
        render_stages(console, model, stage_map, model_family(model),
                      input_note(source.input_origin) + site_notes(source, stage_map))
        if stage_map.native:
            console.print(
                f"'seprof compare {model}' measures them"
                + (
                    f"; --add-missing adds SE to its {len(stage_map.sites)} blocks without one."
                    if stage_map.sites
                    else "."
                )
            )


@command
def models(
    family: Family = None,
    task: TaskOpt = None,
    source: Annotated[str, option(
        "--source", panel=MODEL, metavar="torchvision|timm",
        help="Whose models: torchvision's, or timm's (the families seprof has rules for; needs timm).",
    )] = str(arguments.Source.TORCHVISION),
    details: Annotated[bool, option(
        "--details", panel=OUTPUT,
        help="Also each model's stages and SE sites (builds every model on the meta device; rows appear as they "
        "are ready).")] = False,
    workers: Workers = None,
    debug: Debug = False,
) -> None:
    """List every supported model, in natural order, with its family and usual input."""
    with _session(debug) as live:
        count = arguments.workers(workers)
        if count is not None and not details:
            raise OptionError(
                "workers", count, "applies to building the models, which {other} asks for", other=("details", True)
            )
        group = arguments.task(task)
        if arguments.choice("source", source, arguments.Source) is arguments.Source.TIMM:
            if group is not Task.CLASSIFICATION:
                raise OptionError("task", task, "applies to torchvision's models; timm's are classifiers",
                                  other=("source", "timm"))
            _timm_models(live, family, details, count)
            return
        from .families import FAMILIES, check_family, input_shape_of, model_names, task_of

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
            "used by --add-missing). timm's models: seprof models --source timm. Your own model: "
            "package.module:function (docs/models.md)."
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
    from .models import TIMM
    from .timm_models import MODULES

    names = list(TIMM.names())
    module = None if family is None else family.removeprefix("timm:")
    if module is not None:
        if module not in MODULES:
            raise OptionError("family", family, f"is not one of timm's modules seprof knows: {', '.join(MODULES)}",
                              other=("source", "timm"))
        names = [n for n in names if TIMM.family(n).name == f"timm:{module}"]
    if details:
        live.stop()
        _echo_details(names, workers, 24)
        return
    grid = Grid([Column("model", "left", key=True), Column("family", "left"), Column("input", "left")])
    for name in names:
        grid.add(name, TIMM.family(name).name, "x".join(map(str, TIMM.input_shape(name))))
    live.stop()
    console = _stdout()
    print_grid(console, f"timm models in the families seprof has rules for ({len(names)})", grid)
    for shown, (title, where, origin, _) in MODULES.items():
        if module in (None, shown):
            console.print(f"timm:{shown} ({title}): {where} — {origin}", markup=False)
    console.print("Any other timm model, timm:NAME, is placed by seprof's generic rules, and its SE-like modules "
                  "(SEModule, EffectiveSEModule, SqueezeExcite, EcaModule...) are found wherever they are.")


@command
def zoo(
    r: arguments.R = None,
    family: Family = None,
    task: TaskOpt = None,
    fvcore: Annotated[bool, option(
        "--fvcore", panel=MODEL, help="Also count with fvcore (needs real tensors: much slower).")] = False,
    workers: Workers = None,
    csv: Annotated[str | None, option(
        "--csv", panel=OUTPUT, metavar="PATH",
        help="Write one row per model, every column, to this CSV file (- for stdout).")] = None,
    json: Annotated[str | None, option(
        "--json", panel=OUTPUT, metavar="PATH", help="Write every row to this JSON file (- for stdout).")] = None,
    details: Annotated[bool, option(
        "--details", panel=OUTPUT, help="Every column: the stages, the paper's formula, the exact count and each "
        "counter's MACs.")] = False,
    debug: Debug = False,
) -> None:
    """The static report (parameters, paper formula, MACs) for every supported model, in one table."""
    with _session(debug) as live:
        outputs = _outputs({"--csv": csv, "--json": json})
        ratio = arguments.integer("r", r, 1, "the reduction ratio")
        ratio = arguments.DEFAULT_BLOCK.r if ratio is None else ratio
        count = arguments.workers(workers)
        group = arguments.task(task)
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
        rows = run_zoo(names, r=ratio, counters=counters, workers=count, on_done=progress, describe=message)
        live.stop()
        if all(row.error for row in rows):  # nothing to report: as much a bad input as any other
            raise ModelError(f"none of the {len(rows)} models could be profiled; {rows[0].model}: {rows[0].error}")
        _finish(
            outputs,
            {"--csv": zoo_text(rows, "csv"), "--json": zoo_text(rows, "json")},
            lambda console: render_zoo(console, rows, ratio, counters, details),
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
