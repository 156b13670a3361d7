"""The ``seprof`` command line: parse options, call the Python API, render its Report with rich.

Tables go to stdout, progress and errors to stderr. Every SeprofError becomes one line on stderr and exit
code 2 (a traceback only with ``--debug``); output paths are checked before any work, and files are written
only once everything has succeeded.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated, Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from . import __version__
from .errors import OptionError, SeprofError
from .report import Report, check_writable

# The base class of every command-line parsing error (click's ClickException, which typer vendors in recent
# releases), reached through typer's public BadParameter: BadParameter → UsageError → ClickException.
_ParseError = typer.BadParameter.__mro__[2]


class _OneLineErrors(typer.core.TyperGroup):
    """Reports a command-line parsing error (bad option type, missing argument) in one line, exit code 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _ParseError as error:
            if not standalone_mode:
                raise
            if not error.format_message():  # help was shown for a bare command
                sys.exit(error.exit_code)
            where = getattr(getattr(error, "ctx", None), "command_path", None) or "seprof"
            typer.echo(f"seprof: error: {error.format_message()} (see '{where} --help')", err=True)
            sys.exit(error.exit_code)
        except typer.Abort:
            if not standalone_mode:
                raise
            typer.echo("seprof: aborted", err=True)
            sys.exit(1)
        if standalone_mode:
            sys.exit(code if isinstance(code, int) else 0)
        return code


app = typer.Typer(
    cls=_OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="What does Squeeze-and-Excitation cost in this model, and where?",
)

# Options shared by several commands.
R = Annotated[Optional[int], typer.Option("--r", help="SE reduction ratio r (hidden width C//r); default 16.")]
ModelArg = Annotated[str, typer.Argument(help="A torchvision model name (seprof models) or package.module:function.")]
AddMissing = Annotated[bool, typer.Option("--add-missing", help="For a model with its own SE: add SE to its blocks without one.")]
Stages = Annotated[Optional[str], typer.Option("--stages", help="Stages to put SE in, e.g. 2,3,4 (default: all).")]
Bias = Annotated[Optional[bool], typer.Option("--bias/--no-bias", help="SE FC layers with biases (default; the paper's ablations drop them).")]
Input = Annotated[Optional[str], typer.Option("--input", help="Input C x H x W, e.g. 3x224x224 (default: the model's).")]
Batch = Annotated[str, typer.Option("--batch", help="Batch size(s) for latency, e.g. 1,8,32: one interleaved run each (MACs are per image).")]
Mode = Annotated[str, typer.Option("--mode", help="infer (forward, inference mode) or train (forward + backward, train mode).")]
Dtype = Annotated[str, typer.Option("--dtype", help="float32, float16 (CUDA) or bfloat16, by autocast.")]
ChannelsLast = Annotated[bool, typer.Option("--channels-last", help="Time models and input in channels-last memory format.")]
Budget = Annotated[Optional[float], typer.Option("--budget", help="Seconds per timing run (per batch size): keep sampling past --runs until each ratio's 95% CI is within ±1%.", show_default="30, unless --runs is given alone")]
Memory = Annotated[bool, typer.Option("--memory", help="Also measure each configuration's peak memory per call.")]
Compile = Annotated[bool, typer.Option("--compile", help="Time torch.compile'd models (compile time reported apart, never in the latency).")]
Device = Annotated[str, typer.Option("--device", help="Latency device: auto (CUDA if available), cpu or cuda.")]
NoLatency = Annotated[bool, typer.Option("--no-latency", help="Skip timing; report parameters and MACs only.")]
Runs = Annotated[Optional[int], typer.Option("--runs", help="Timed samples per model (interleaved rounds): exactly this many, or at least this many with --budget.", show_default="at least 20, adaptive within --budget 30")]
Warmup = Annotated[int, typer.Option("--warmup", help="Untimed calls per model before timing.")]
Threads = Annotated[Optional[int], typer.Option("--threads", help="torch intra-op threads while timing.", show_default="torch's; on the CPU at most the usable CPUs - 1, at least 1")]
Csv = Annotated[Optional[str], typer.Option("--csv", help="Write one row per configuration to this CSV file.")]
StagesCsv = Annotated[Optional[str], typer.Option("--stages-csv", help="Write one row per (configuration, stage) to this CSV.")]
Json = Annotated[Optional[str], typer.Option("--json", help="Write the whole report to this JSON file.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]


def main() -> None:
    """Entry point of the ``seprof`` console script."""
    app()


@contextlib.contextmanager
def _errors(debug: bool) -> Iterator[None]:
    """Turn a SeprofError into one line on stderr and exit code 2."""
    try:
        yield
    except SeprofError as error:
        if debug:
            raise
        typer.echo(f"seprof: error: {error}", err=True)
        raise typer.Exit(2) from None


def _stdout(width: int = 160) -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=width)


def _int_list(text: str) -> list[int]:
    """'2, 3,4' → [2, 3, 4]; [] when any part is not an integer or there is none."""
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        return []


def parse_stages(text: str | None, option: str = "--stages") -> list[int] | None:
    """'2,3,4' → [2, 3, 4]; None stays None."""
    if text is None:
        return None
    values = _int_list(text)
    if not values:
        raise OptionError(f"{option} {text!r} is not a comma-separated list of stage numbers, e.g. 2,3,4,5")
    return sorted(set(values))


def parse_input(text: str | None) -> tuple[int, int, int] | None:
    """'3x224x224' → (3, 224, 224); None stays None."""
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise OptionError(f"--input {text!r} is not C x H x W with positive sizes, e.g. 3x224x224")
    return shape  # type: ignore[return-value]


def _check_outputs(*paths: str | None) -> None:
    for path in paths:
        if path is not None:
            check_writable(path)


class _TimingBar:
    """A rich progress bar on stderr that appears with the first timed sample and is gone when done."""

    def __init__(self, total: int | None) -> None:
        self.total = total  # None: open-ended (adaptive sampling, attribution)
        self.progress: Progress | None = None

    def advance(self) -> None:
        if self.progress is None:
            console = Console(stderr=True)
            if not console.is_terminal:
                return
            self.progress = Progress(
                TextColumn("timing"), BarColumn(), MofNCompleteColumn(),
                TimeRemainingColumn() if self.total else TimeElapsedColumn(),  # adaptive: no end to count down to
                console=console, transient=True,
            )
            self.task = self.progress.add_task("timing", total=self.total)
            self.progress.start()
        self.progress.advance(self.task)

    def __enter__(self) -> _TimingBar:
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()


def parse_batches(text: str) -> list[int]:
    """'1,8,32' → [1, 8, 32] (order kept, duplicates dropped)."""
    values = _int_list(text)
    if not values:
        raise OptionError(f"--batch {text!r} is not a comma-separated list of batch sizes, e.g. 1,8,32")
    return list(dict.fromkeys(values))


def _run_profile(model: str, strip_stages, *, r: int | None, runs: int | None, latency: bool, **kwargs) -> Report:
    from .latency import sampling
    from .measure import profile
    from .models import check_model_name

    check_model_name(model)
    kwargs["r"] = 16 if r is None else r
    kwargs["explicit_r"] = r is not None
    kwargs["explicit_bias"] = kwargs.get("bias") is not None
    kwargs["bias"] = True if kwargs.get("bias") is None else kwargs["bias"]
    kwargs["batch"] = parse_batches(kwargs["batch"])
    if not latency:
        return profile(model, strip_stages=strip_stages, latency=False, runs=runs, **kwargs)
    rounds, budget = sampling(runs, kwargs.get("budget"))
    fixed = budget is None and not kwargs.get("attribute")
    with _TimingBar(rounds * (2 + len(strip_stages)) * len(kwargs["batch"]) if fixed else None) as bar:
        return profile(model, strip_stages=strip_stages, latency=True, runs=runs, on_sample=bar.advance, **kwargs)


def _write(report: Report, csv: str | None, stages_csv: str | None, json: str | None) -> None:
    for path, write in ((csv, report.to_csv), (stages_csv, report.stages_to_csv), (json, report.to_json)):
        if path is not None:
            write(path)
            typer.echo(f"wrote {path}", err=True)


@app.command()
def inject(
    model: ModelArg,
    r: R = None,
    stages: Stages = None,
    bias: Bias = None,
    input: Input = None,
    batch: Batch = "1",
    device: Device = "auto",
    no_latency: NoLatency = False,
    runs: Runs = None,
    warmup: Warmup = 3,
    threads: Threads = None,
    mode: Mode = "infer",
    dtype: Dtype = "float32",
    channels_last: ChannelsLast = False,
    budget: Budget = None,
    memory: Memory = False,
    compile: Compile = False,
    csv: Csv = None,
    stages_csv: StagesCsv = None,
    json: Json = None,
    save: Annotated[Optional[str], typer.Option("--save", help="Save the SE model (state_dict + recipe; seprof.load rebuilds it).")] = None,
    add_missing: AddMissing = False,
    debug: Debug = False,
) -> None:
    """Put SE blocks into MODEL and report what they cost, per stage and in total."""
    with _errors(debug):
        _check_outputs(csv, stages_csv, json, save)
        report = _run_profile(
            model, (), r=r, stages=parse_stages(stages), bias=bias, input_shape=parse_input(input), batch=batch,
            device=device, latency=not no_latency, runs=runs, warmup=warmup, threads=threads, save=save,
            add_missing=add_missing, refuse_native=True, mode=mode, dtype=dtype, channels_last=channels_last,
            budget=budget, memory=memory, compile=compile,
        )
        console = _stdout()
        from .render import render_inject

        render_inject(console, report)
        _write(report, csv, stages_csv, json)
        if save:
            typer.echo(f"wrote {save}", err=True)


@app.command()
def compare(
    model: Annotated[str, typer.Argument(help="A torchvision model name or package.module:function.")] = "resnet50",
    strip_stage: Annotated[Optional[list[int]], typer.Option("--strip-stage", help="Stage whose SE to remove (repeat for several; default: the last SE stage).")] = None,
    r: R = None,
    stages: Stages = None,
    bias: Bias = None,
    input: Input = None,
    batch: Batch = "1",
    device: Device = "auto",
    no_latency: NoLatency = False,
    runs: Runs = None,
    warmup: Warmup = 3,
    threads: Threads = None,
    mode: Mode = "infer",
    dtype: Dtype = "float32",
    channels_last: ChannelsLast = False,
    budget: Budget = None,
    memory: Memory = False,
    compile: Compile = False,
    attribute: Annotated[bool, typer.Option("--attribute", help="Also time SE in each stage alone: per-stage shares of parameters, work and latency.")] = False,
    plot: Annotated[Optional[str], typer.Option("--plot", help="Write a picture (PNG): per-stage shares, configurations on a params-vs-latency plane (needs matplotlib).")] = None,
    csv: Csv = None,
    stages_csv: StagesCsv = None,
    json: Json = None,
    add_missing: AddMissing = False,
    debug: Debug = False,
) -> None:
    """Compare the base model, SE everywhere, and SE with some stages stripped (the paper's ~10% → ~4%).

    For a model with its own SE blocks (EfficientNet, MobileNetV3, RegNetY, MaxViT): the model as built
    against the model without them, and with some stages' SE stripped.
    """
    with _errors(debug):
        _check_outputs(csv, stages_csv, json, plot)
        if plot is not None:
            from .plot import check_plotting

            check_plotting(plot)
        chosen = parse_stages(stages)
        removed = sorted(set(strip_stage)) if strip_stage else []
        report = _run_profile(
            model, (removed,), r=r, stages=chosen, bias=bias, input_shape=parse_input(input), batch=batch,
            device=device, latency=not no_latency, runs=runs, warmup=warmup, threads=threads,
            add_missing=add_missing, mode=mode, dtype=dtype, channels_last=channels_last, budget=budget,
            memory=memory, attribute=attribute, compile=compile,
        )
        from .render import render_compare

        render_compare(_stdout(), report)
        _write(report, csv, stages_csv, json)
        if plot is not None:
            from .plot import plot_report

            plot_report(report, plot)
            typer.echo(f"wrote {plot}", err=True)


@app.command()
def stages(
    model: ModelArg,
    input: Input = None,
    debug: Debug = False,
) -> None:
    """Show MODEL's stages: resolution, blocks, channels at the SE point, and the SE blocks it already has."""
    with _errors(debug):
        from .models import build_model, default_input_shape, model_family
        from .render import render_stages
        from .stages import find_sites

        shape = parse_input(input) or default_input_shape(model)
        stage_map = find_sites(build_model(model, "meta"), shape, default_input_shape(model))
        render_stages(_stdout(), model, stage_map, model_family(model))


class _Bar:
    """A rich progress bar on stderr, shown only on a terminal."""

    def __init__(self, label: str, total: int) -> None:
        console = Console(stderr=True)
        self.progress = None
        if console.is_terminal:
            self.progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                     TextColumn("{task.description}"), console=console, transient=True)
            self.task = self.progress.add_task("", total=total)

    def done(self, name: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=1, description=name)

    def __enter__(self) -> _Bar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()


Family = Annotated[Optional[str], typer.Option("--family", help="Only this family, e.g. resnet (seprof models lists them).")]
Workers = Annotated[Optional[int], typer.Option("--workers", help="Worker processes (default: one per core, at most 4).")]


@app.command()
def models(
    family: Family = None,
    workers: Workers = None,
    debug: Debug = False,
) -> None:
    """List every supported model: family, stages, SE sites, native SE blocks, default input."""
    with _errors(debug):
        from .models import FAMILIES, check_family, list_models
        from .zoo import model_info, parallel_map

        if family is not None:
            check_family(family)
        names = list_models(family)
        with _Bar("models", len(names)) as bar:
            infos = parallel_map(model_info, names, workers, on_done=lambda info: bar.done(info.model))
        table = Table(title=f"Supported models ({len(names)})", title_justify="left")
        for col in ("model", "family", "stages", "SE sites", "own SE blocks", "input"):
            table.add_column(col, justify="right" if col in ("SE sites", "own SE blocks") else "left")
        for info in infos:
            table.add_row(info.model, info.family, info.stages, str(info.blocks) if info.blocks else "—",
                          str(info.native_blocks) if info.native_blocks else "—", info.input)
        console = _stdout()
        console.print(table)
        shown = sorted({i.family for i in infos}, key=list(FAMILIES).index)
        for name in shown:
            f = FAMILIES[name]
            console.print(f"[bold]{f.name}[/] ({f.title}): {f.where} — {f.source}" + (" [choice]" if f.choice else ""))
        console.print("SE sites: where seprof adds SE (for models with their own SE, the blocks without one, "
                      "used by --add-missing). Your own model: package.module:function (see the README).")


@app.command()
def zoo(
    r: Annotated[int, typer.Option("--r", help="SE reduction ratio for the models without SE of their own.")] = 16,
    family: Family = None,
    fvcore: Annotated[bool, typer.Option("--fvcore", help="Also count with fvcore (needs real tensors: much slower).")] = False,
    workers: Workers = None,
    csv: Annotated[Optional[str], typer.Option("--csv", help="Write one row per model to this CSV file.")] = None,
    json: Json = None,
    debug: Debug = False,
) -> None:
    """The static report (parameters, paper formula, MACs) for every supported model, in one table."""
    with _errors(debug):
        from .models import check_family, list_models
        from .render import render_zoo
        from .zoo import ZOO_COUNTERS, run_zoo, write_zoo

        _check_outputs(csv, json)
        if family is not None:
            check_family(family)
        names = list_models(family)
        counters = ("fvcore", *ZOO_COUNTERS) if fvcore else ZOO_COUNTERS
        with _Bar("zoo", len(names)) as bar:
            rows = run_zoo(names, r=r, counters=counters, workers=workers, on_done=lambda row: bar.done(row.model))
        render_zoo(_stdout(width=200), rows, r, counters)
        for path, kind in ((csv, "csv"), (json, "json")):
            if path is not None:
                write_zoo(rows, path, kind)
                typer.echo(f"wrote {path}", err=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"seprof {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    """What does Squeeze-and-Excitation cost in this model, and where?"""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
