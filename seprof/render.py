"""Rich tables for a Report, fitted to the console's width (``seprof.layout``). Presentation only: every
number comes from the Report as it is.

Headers are short, with a legend under each table that says what they mean; long notes go under the tables
as wrapped text. Parameters print exactly; MACs too, but in G (10⁹) in the detailed tables (the exact
integer is in the CSV/JSON).
``bottom_line`` is the report in one plain sentence per configuration (each stage's SE alone, from
``--attribute``, is told in the attribution table instead). Without ``details`` each command prints its short
report: the answer on one screen, columns left out (and said so) rather than a table split.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from fractions import Fraction

from rich.console import Console
from rich.text import Text

from .accounting import SEWork, element_bytes, floor_ms, traffic_bytes
from .counters import COUNTER_NOTES, COUNTERS
from .families import Family
from .kinds import TIMM_FLOOR, Kind
from .kinds import kind as table_kind
from .latency import MIN_CI_SAMPLES
from .layout import Column, Grid, print_grid
from .options import CI_TARGET, DEFAULT_BUDGET_S, DEFAULT_RUNS, MAX_ROUNDS
from .report import GIVEN_INPUT, ConfigResult, Latency, LatencyRun, Report, threads_label
from .spec import BlockKind, BlockSpec, Gate, Position, Squeeze
from .stages import StageMap, describe, resolution_text
from .text import signed_percent, stage_list

COUNTER_NAMES_LONG = {name: counter.title for name, counter in COUNTERS.items()}


def _n(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _g(macs: int) -> str:
    return f"{macs / 1e9:.4f} G"


def config_label(config: ConfigResult, own: str = "SE") -> str:
    """'base (no SE)', 'SE in stages 2–5', 'SE in stage 5 only', 'scSE in stages 2–4'; a model's own blocks are
    called ``own`` ('base (no GC-add)', 'GC-add in stages 2–5')."""
    if config.config == "base":
        return f"base (no {own})"
    what = config.block.kind.title if config.block is not None else own
    if config.config.startswith("se_only_"):
        return f"{what} in stage {config.config.removeprefix('se_only_')} only"
    if len(config.se_stages) == 1:
        return f"{what} in stage {config.se_stages[0]}"
    return f"{what} in stages {stage_list(config.se_stages)}"


def _setup_line(report: Report) -> str:
    shape = "×".join(map(str, report.input_shape))
    se = report.config("se")
    if report.native and not _other_native(report):
        what = "its own SE blocks (each with its own hidden width)"
    elif report.native:
        what = f"its own attention blocks ({', '.join(report.native_blocks)})"
    else:
        what = block_words(report.block) if report.block is not None else "SE"
        if report.add_missing:
            what += ", added to the blocks without SE of their own (base: the model as built)"
    return f"{report.model} · {what} · stages {stage_list(se.se_stages)} · input {shape}"


_NATIVE_FORMULA = "each block's own formula: 2·C·hidden for SE, C² for eSE, k taps for ECA"


def _other_native(report: Report) -> bool:
    """Whether the report measures native blocks other than two-layer SE (eSE, ECA)."""
    return any(not kind.endswith("(se)") for kind in report.native_blocks)


def block_words(spec: BlockSpec) -> str:
    """'SE r=16, with FC biases' (the paper's block), else the block's label with its biases said (a timm kind's
    label alone: its knobs say what it holds)."""
    if not spec.kind.seprof:
        return spec.label
    if spec.kind is BlockKind.SE and not [k for k in spec.settings() if k != "no bias"]:
        return f"SE r={spec.r}, {'with' if spec.bias else 'no'} FC biases"
    return f"{replace(spec, bias=True).label}, {'with' if spec.bias else 'no'} biases"


def render_stage_params(console: Console, report: Report, config: str = "se") -> None:
    """Per-stage parameter accounting: paper formula, exact, measured."""
    if _timm_kind(report):
        _kind_stage_params(console, report, config)
        return
    spatial_only = report.block is not None and not report.block.kind.channel
    hidden = "hidden" if report.native or (report.block is not None and report.block.divisor) else "C_s//r"
    grid = Grid([Column("stage", "left", key=True), Column("resolution"), Column("N_s"), Column("C_s"),
                 Column(hidden), Column("paper"), Column("exact"), Column("measured"), Column("% of base"),
                 Column("share")])
    rows = [s for s in report.stages if s.config == config]
    c = report.config(config)
    added = c.params_added
    for s in rows:
        grid.add(
            str(s.stage), resolutions_text(s.resolutions), str(s.blocks),
            "/".join(map(str, sorted(set(s.channels)))), "/".join(map(str, sorted(set(s.hidden)))) or "—",
            _n(s.analytic_paper) if s.se else "—", _n(s.analytic_exact) if s.se else "—",
            _n(s.measured) if s.se else "—",
            f"{100 * s.measured / report.base_params:.2f}%" if s.se else "—",
            f"{100 * s.measured / added:.1f}%" if s.se and added else "—",
        )
    grid.add("total", "", str(sum(s.blocks for s in rows if s.se)), "", "", _n(c.analytic_paper),
             _n(c.analytic_exact), _n(c.params_added), _added_pct(c.params_added_pct, sign=False),
             "100%" if added else "—", style="bold", section=True)
    own_r = " with each block's own r = C/hidden" if report.native else ""
    hidden_text = "each block's own hidden width" if report.native else "the real hidden width C_s//r"
    if report.block is not None and report.block.divisor:
        hidden_text = f"the hidden width C_s/r rounded to a multiple of {report.block.divisor}"
    formula = f"(2/r)·N_s·C_s², the paper's eq. 5{own_r}" if not _other_native(report) else _NATIVE_FORMULA
    if report.block is not None and report.block.kind.spatial:
        formula = "N_s·C_s (Roy et al.'s sSE)" if spatial_only else formula + ", plus N_s·C_s for sSE"
    fc = "" if report.block is not None and report.block.kind.spatial else "FC "
    print_grid(console, "SE parameters by stage", grid, (
        f"paper: {formula} ({fc}weights only); exact: with {hidden_text if not spatial_only else 'the 1×1 conv'} "
        f"and the {fc}biases; measured: parameters of the stage's SE modules in the model; % of base: measured / "
        "the base model's parameters; share: of all SE parameters."))
    paper_pct = 100 * c.analytic_paper / report.base_params
    biases = sum(s.bias_params for s in rows if s.se)
    rounding = c.analytic_exact - biases - c.analytic_paper  # real hidden width vs the formula's C/r
    console.print(
        f"Parameters: base {report.base_params:,} → SE {c.params:,} (+{c.params_added:,}, "
        f"{_added_pct(c.params_added_pct)}). The paper's formula gives {_n(c.analytic_paper)} "
        f"({signed_percent(paper_pct, 2)})"
        + (f"; {fc}biases add {biases:,}" if biases else "")
        + (f"; the {'rounded' if report.block is not None and report.block.divisor else 'real'} hidden width "
           f"{'' if report.block is not None and report.block.divisor else 'C//r '}changes the weights by "
           f"{'+' if rounding > 0 else '-'}{_n(abs(rounding))}" if rounding else "")
        + "."
    )


def _kind_stage_params(console: Console, report: Report, config: str) -> None:
    """Per-stage parameters of one of timm's kinds (seprof's, or the model's own): its formula's count beside the
    measured one."""
    rows = [s for s in report.stages if s.config == config]
    c, spec = report.config(config), report.block
    what = blocks_word(report)
    grid = Grid([Column("stage", "left", key=True), Column("resolution"), Column("N_s"), Column("C_s"),
                 Column("exact"), Column("measured"), Column("% of base"), Column("share")])
    for s in rows:
        grid.add(str(s.stage), resolutions_text(s.resolutions), str(s.blocks),
                 "/".join(map(str, sorted(set(s.channels)))), _n(s.analytic_exact) if s.se else "—",
                 _n(s.measured) if s.se else "—", f"{100 * s.measured / report.base_params:.2f}%" if s.se else "—",
                 f"{100 * s.measured / c.params_added:.1f}%" if s.se and c.params_added else "—")
    grid.add("total", "", str(sum(s.blocks for s in rows if s.se)), "", _n(c.analytic_exact), _n(c.params_added),
             _added_pct(c.params_added_pct, sign=False), "100%" if c.params_added else "—",
             style="bold", section=True)
    if spec is None:  # the model's own: each module's knobs read off it
        formulas = "; ".join(f"{table_kind(k).label}: {table_kind(k).formula}".replace("\n", ", ")
                             for k in report.own_kinds)
        exact = f"each kind's formula per block ({formulas}), with the widths and knobs read off each module"
    else:
        formula = spec.kind.entry.formula.replace("\n", "; ")
        given = {**spec.kind.entry.knobs, **dict(spec.knobs)}
        knobs = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in given.items()
                          if k in spec.kind.entry.uses or k in dict(spec.knobs))
        exact = f"{what}'s formula per block, {formula}, at each block's C_s with {knobs or 'its defaults'}"
    print_grid(console, f"{what} parameters by stage", grid, (
        f"exact: {exact} (seprof blocks lists every kind's); measured: parameters of the stage's {what} modules in "
        f"the model; % of base: measured / the base model's parameters; share: of all {what} parameters."))
    console.print(f"Parameters: base {report.base_params:,} → {what} {c.params:,} (+{c.params_added:,}, "
                  f"{_added_pct(c.params_added_pct)}). {what}'s formula gives {_n(c.analytic_exact)}.",
                  highlight=False)


def _counter_note(name: str) -> str:
    """'thop: conv/linear MACs (bias not counted), ...': what one counter counts, and what it does not."""
    return f"{COUNTER_NAMES_LONG[name]}: {COUNTER_NOTES[name].split(': ', 1)[1]}"


def _counter_legend(report: Report) -> str:
    return "Each counter's own MAC-equivalent ops: " + "; ".join(map(_counter_note, report.counter_names)) + "."


def _not_counted(console: Console, report: Report) -> None:
    """What each counter skipped in the SE model, one counter per paragraph with a hanging indent."""
    console.print(Text(f"Not counted in the {blocks_word(report)} model:", style="dim"))
    for name in report.counter_names:
        # no-break spaces keep each entry whole on one line ('aten::mul ×16', 'ReLU (counted as 0) ×65')
        skipped = [item.replace(" ", "\u00a0") for item in report.counters[name]["skipped"]]
        text = f"{COUNTER_NAMES_LONG[name]}: " + (", ".join(skipped) or "—")
        lines = textwrap.wrap(text, width=max(20, console.width - 2), initial_indent="  ", subsequent_indent="    ",
                              break_long_words=False, break_on_hyphens=False)
        for line in lines:
            console.print(Text(line, style="dim"))


def render_compute(console: Console, report: Report) -> None:
    """MACs of base and SE model by each counter, and what each skipped."""
    base, se = report.config("base"), report.config("se")
    what = blocks_word(report)
    grid = Grid([Column("counter", "left", key=True), Column("base"), Column(what), Column("added"),
                 Column("added %")])
    for name in report.counter_names:
        b, s = base.macs[name], se.macs[name]
        grid.add(COUNTER_NAMES_LONG[name], _g(b), _g(s), f"{s - b:,}", f"{100 * (s - b) / b:+.3f}%")
    print_grid(console, f"Compute per {report.sample} (batch 1), in MACs (FLOPs = 2 × MACs)", grid, (
        f"base and {what} in G (10⁹) MACs, added in MACs. " + _counter_legend(report)))
    _not_counted(console, report)

    rows = [s for s in report.stages if s.config == "se" and s.se]
    total = sum((s.work for s in rows), SEWork())
    paper_columns = report.block is None or report.block.kind.channel
    columns = [(name, field) for name, field in _work_columns(report)
               if getattr(total, field) or (paper_columns and field in _ALWAYS)]
    work = Grid([Column("stage", "left", key=True), *(Column(name) for name, _ in columns),
                 *(Column(n) for n in report.counter_names)])
    for s in rows:
        work.add(str(s.stage), *(f"{getattr(s.work, f):,}" for _, f in columns),
                 *(f"{s.se_macs[n]:,}" for n in report.counter_names))
    if rows:
        work.add("total", *(f"{getattr(total, f):,}" for _, f in columns),
                 *(f"{sum(s.se_macs[n] for s in rows):,}" for n in report.counter_names), style="bold", section=True)
    counted = ", ".join(n for n in report.counter_names)
    spec = report.block
    squeeze = ("" if spec is None or not spec.kind.channel  # a model's own SE may pool with a module, counted
               else f"squeeze (a tensor {'max' if spec.squeeze is Squeeze.MAX else 'mean'}) or its ")
    print_grid(console, f"{what} work per stage, per {report.sample}: analytic vs counted", work, (
        f"{columns[0][0]} to {columns[-1][0]}: what the {what} blocks compute"
        + (f" ({_work_words(report)})" if _timm_kind(report) else "") + f"; {counted}: the ops each counter "
        f"attributes to them. No counter sees {what}'s {squeeze}scale multiply. Each counter counts the model "
        f"without {what} once and each distinct {what} block once on its own input; stripped models are the {what} "
        "count minus the removed blocks' counts."))


_ALWAYS = {"pool_ops", "fc_macs", "bias_adds", "gates", "scale_muls"}  # the paper's block: its columns, even 0


_KIND_WORK = [("pool ops", "pool_ops"), ("excitation MACs", "fc_macs"), ("full-map MACs", "spatial_macs"),
              ("bias adds", "bias_adds"), ("norm ops", "norm_ops"), ("gates", "gates"), ("map gates", "map_gates"),
              ("scale muls", "scale_muls"), ("broadcast adds", "broadcast_adds"), ("expand adds", "expand_adds"),
              ("combine ops", "combine_ops")]


def _work_words(report: Report) -> str:
    """What a timm kind's work columns count."""
    return ("by the table of kinds' formulas: pool ops reduce the full map; excitation MACs are on the squeezed "
            "tensors; full-map MACs read the whole map; gates are sigmoids or softmax exps on the squeezed tensors, "
            "map gates on the full map; broadcast and expand adds build or add to the full map; activations on "
            "squeezed tensors are not counted")


def _work_columns(report: Report) -> list[tuple[str, str]]:
    """(header, SEWork field) of the work table; the paper's block keeps 0.4's headers."""
    spec = report.block
    if _timm_kind(report):
        return _KIND_WORK
    if spec is None:  # a model's own SE blocks, whose gates vary, or a sweep of several blocks
        gate = "gates" if report.native else "sigmoids"
    else:
        gate = "sigmoids" if spec.gate is Gate.SIGMOID else f"{spec.gate} gates"
    pool = "pool compares" if spec is not None and spec.squeeze is Squeeze.MAX else "pool adds"
    return [(pool, "pool_ops"), ("FC MACs", "fc_macs"), ("sSE MACs", "spatial_macs"), ("bias adds", "bias_adds"),
            (gate, "gates"), ("scale muls", "scale_muls"), ("combine ops", "combine_ops")]


def _stop_text(t: dict) -> str:
    """How an adaptive run ended ('' for a fixed number of rounds)."""
    if not t.get("budget_s"):
        return "the number asked for"
    ci = f"every ratio's 95% CI was within ±{100 * CI_TARGET:g}%"
    asked = t.get("runs_asked")
    short = f"the {asked} rounds asked (--runs)" if asked else f"the default minimum of {DEFAULT_RUNS} rounds"
    return {
        "converged": f"stopped once {ci} (budget {t['budget_s']:g} s)",
        "budget": f"the {t['budget_s']:g} s budget ran out before {ci}",
        "max rounds": f"stopped at the {MAX_ROUNDS}-round cap before {ci}",
        "budget before runs": f"the {t['budget_s']:g} s budget ran out before {short}",
    }.get(t.get("stopped"), f"adaptive within a {t['budget_s']:g} s budget")


def _warmup_line(t: dict) -> str | None:
    """A line saying the warm-up was cut short by its time limit, or None when every call asked was made."""
    done, asked = t.get("warmup_done"), t.get("warmup")
    if done is None or asked is None or done >= asked:
        return None
    limit = f"the {t['budget_s']:g} s budget" if t.get("budget_s") else f"the default {DEFAULT_BUDGET_S:g} s budget"
    return (f"Warm-up stopped after {done} of the {asked} calls per model asked (--warmup): it may take as long "
            f"as {limit}")


def device_label(t: dict) -> str:
    """'CPU (AMD EPYC 7B13)', 'CUDA (NVIDIA H200)'."""
    return f"{str(t.get('device')).upper()} ({t.get('device_name')})"


def _what_is_timed(t: dict) -> str:
    what = "forward + backward, train mode" if t.get("mode") == "train" else "forward, inference mode"
    if t.get("channels_last"):
        what += ", channels-last"
    if t.get("compiled"):
        what += ", torch.compile"
    return what


def _setup_lines(t: dict) -> list[str]:
    """The timing setup in two short lines: where and what; how many samples and why they stopped (and a third
    when the warm-up was cut short)."""
    first = f"{device_label(t)} · {threads_label(t)} · {t.get('dtype')} · batch {t.get('batch')} · {_what_is_timed(t)}"
    rounds = f"{t.get('runs')} round{'' if t.get('runs') == 1 else 's'}"
    warmup = t.get("warmup") if t.get("warmup_done") is None else t.get("warmup_done")
    second = (f"{rounds} in {t.get('seconds', 0):.1f} s: {_stop_text(t)}; each sample the mean of "
              f"{t.get('number')} call{'' if t.get('number') == 1 else 's'}, after {warmup} warm-up "
              f"call{'' if warmup == 1 else 's'}")
    lines = [first, second, *filter(None, [_warmup_line(t)])]
    if t.get("compiled"):
        lines.append("Compile time (the first call, timed apart): " + ", ".join(
            f"{name} {seconds:.1f} s" for name, seconds in (t.get("compile_s") or {}).items()))
    return lines


def _mib(value: int | None) -> str:
    return "—" if value is None else f"{value / 2**20:,.1f}"


def _ratio_text(lat: Latency) -> str:
    return f"{lat.ratio[1]:.3f}×"


def _ci_text(lo: float, hi: float, digits: int = 3) -> str:
    """'1.043–1.071', or '—' when there is no CI (too few rounds)."""
    return "—" if lo != lo or hi != hi else f"{lo:.{digits}f}–{hi:.{digits}f}"


def _signed_ci(lo: float, hi: float) -> str:
    """'+1.873 to +6.517' (ms), or '—' when there is no CI."""
    return "—" if lo != lo or hi != hi else f"{lo:+.3f} to {hi:+.3f}"


def render_latency(console: Console, report: Report, verbose: bool = False,
                   shared: tuple[set[str], bool, bool] = (set(), False, False),
                   label: Callable[[ConfigResult], str] | None = None) -> None:
    """Per timing run (batch size): each configuration's median, and its ratio to base (the median of the
    paired per-round ratios) with the 95% CI; ``verbose`` adds the spreads and the added milliseconds. Rows are
    named by ``label`` (by default a sweep point's settings less those ``shared``)."""
    if not report.latency_runs:
        console.print("Latency: not measured.")
        return
    for run in report.latency_runs:
        memory = any(lat.peak_memory_bytes is not None for lat in run.latency.values())
        columns = [Column("configuration", "left", key=True), Column("median ms"), Column("vs base"),
                   Column("95% CI")]
        if verbose:
            columns += [Column("IQR ms"), Column("samples"), Column("ratio q1–q3"), Column("added ms"),
                        Column("added ms 95% CI")]
        if memory:
            columns.append(Column("peak MiB"))
        extra_columns, extra_cells = _device_and_floor(report, run)
        grid = Grid(columns + extra_columns)
        for c in report.configs:
            lat = run.latency[c.config]
            base = c.config == "base"
            named = sweep_label(c, shared) if c.sweep_point else config_label(c, blocks_word(report))
            cells = [label(c) if label is not None else named, f"{lat.median_ms:.3f}",
                     "—" if base else _ratio_text(lat), "—" if base else _ci_text(*lat.ratio_ci)]
            if verbose:
                cells += [f"{lat.iqr_ms:.3f}", str(lat.runs), "—" if base else _ci_text(lat.ratio[0], lat.ratio[2]),
                          "—" if base else f"{lat.delta_ms[1]:+.3f}",
                          "—" if base else _signed_ci(*lat.delta_ci)]
            if memory:
                cells.append(_mib(lat.peak_memory_bytes))
            grid.add(*cells, *extra_cells(c))
        console.print(Text(f"Latency, batch {run.batch}", style="bold"))
        for line in _setup_lines(run.setup):
            console.print(line)
        _device_line(console, run)
        print_grid(console, None, grid)
    console.print(Text(_latency_legend(report, verbose), style="dim"))
    if report.latency_runs[0].setup.get("bandwidth_gbs") and report.latency_runs[0].setup.get("mode") != "train":
        console.print(Text(_floor_legend(report), style="dim"))
        _render_traffic(console, report)


def _render_traffic(console: Console, report: Report) -> None:
    """SE's memory traffic per stage in the first timing run (batch, dtype), and the floor it sets; with the
    per-stage configurations (--attribute), each stage's added latency over its floor."""
    run = report.latency_runs[0]
    setup, bandwidth = run.setup, run.setup["bandwidth_gbs"]
    size = element_bytes(setup.get("dtype", "float32"))
    rows = [s for s in report.stages if s.config == "se" and s.se]
    if not rows:
        return
    alone = {s.stage: run.latency.get(f"se_only_{s.stage}") for s in rows}
    timed = all(lat is not None for lat in alone.values())
    grid = Grid([Column("stage", "left", key=True), Column("MB read"), Column("MB written"), Column("weights MB"),
                 Column("floor ms"), *([Column("alone adds ms"), Column("÷ floor")] if timed else [])])
    for s in rows:
        read, written = s.work.feature_reads * run.batch * size, s.work.feature_writes * run.batch * size
        floor = floor_ms(traffic_bytes(s.work, s.measured, run.batch, size), bandwidth)
        extra = [f"{alone[s.stage].delta_ms[1]:+.3f}", f"{alone[s.stage].delta_ms[1] / floor:.1f}×"] if timed else []
        grid.add(str(s.stage), f"{read / 1e6:,.2f}", f"{written / 1e6:,.2f}", f"{s.measured * 4 / 1e6:,.2f}",
                 f"{floor:.3f}", *extra)
    total = report.traffic_bytes("se", run.batch, setup.get("dtype", "float32"))
    work = sum((s.work for s in rows), SEWork())
    grid.add("total", f"{work.feature_reads * run.batch * size / 1e6:,.2f}",
             f"{work.feature_writes * run.batch * size / 1e6:,.2f}", f"{sum(s.measured for s in rows) * 4 / 1e6:,.2f}",
             f"{floor_ms(total, bandwidth):.3f}", *(["", ""] if timed else []), style="bold", section=True)
    what = blocks_word(report)
    print_grid(console, f"{what}'s memory traffic by stage (batch {run.batch}, {setup.get('dtype')}; floor at "
                        f"{bandwidth:,.1f} GB/s)", grid,
               f"MB read / written: feature-map elements {what}'s blocks read and write, unfused, at the dtype's size; "
               "weights: their parameters at 4 bytes; floor ms: all of it at the measured bandwidth"
               + (f"; alone adds ms: the latency {what} in that stage alone adds (median of per-round differences), "
                  "and that over the stage's floor." if timed else "."))


def _device_and_floor(report: Report, run: LatencyRun) -> tuple[list[Column], Callable[[ConfigResult], list[str]]]:
    """The columns a timing run adds where it has them, and each configuration's cells: device time and the
    dispatch it leaves (CUDA graphs), SE's memory traffic and its floor (not in train mode)."""
    device = any(lat.device_ms is not None for lat in run.latency.values())
    bandwidth = run.setup.get("bandwidth_gbs") if run.setup.get("mode") != "train" else None
    columns = ([Column("device ms"), Column("device added"), Column("dispatch added")] if device else []) + (
        [Column(f"{blocks_word(report)} MB moved"), Column("floor ms"), Column("added ÷ floor")] if bandwidth else [])

    def cells(c: ConfigResult) -> list[str]:
        lat, base, found = run.latency[c.config], c.config == "base", []
        if device:
            found += [f"{lat.device_ms:.3f}", "—" if base else f"{lat.device_delta_ms:+.3f}",
                      "—" if base else f"{lat.delta_ms[1] - lat.device_delta_ms:+.3f}"]
        if bandwidth:
            moved = report.traffic_bytes(c.config, run.batch, run.setup.get("dtype", "float32"))
            floor = floor_ms(moved, bandwidth)
            found += ["—", "—", "—"] if base or not moved else [
                f"{moved / 1e6:,.1f}", f"{floor:.3f}", f"{_added_ms(lat) / floor:.1f}×"]
        return found

    return columns, cells


def _device_line(console: Console, run: LatencyRun) -> None:
    """On CUDA, how device time was taken, or why it was not."""
    if run.setup.get("device") == "cuda":
        captured = any(lat.device_ms is not None for lat in run.latency.values())
        step = "forward + backward" if run.setup.get("mode") == "train" else "the forward pass"
        console.print("Device time: " + (f"{step} captured as a CUDA graph and replayed, timed with CUDA events "
                                         "(host dispatch out); dispatch added = added − device added"
                                         if captured else str(run.setup.get("graphs"))))


def _floor_legend(report: Report) -> str:
    run = report.latency_runs[0]
    copy = "a 1 GiB device-to-device copy" if run.setup.get("device") == "cuda" else "a 256 MiB tensor copy"
    added = "device time" if any(lat.device_ms is not None for lat in run.latency.values()) else "latency"
    what = blocks_word(report)
    reads = ("each feature map read by the squeeze or sSE's conv and by the scale, written by the scale; scSE's "
             "combine too" if not _timm_kind(report) else
             f"every read and write of a full feature map by {what}'s pools, convs, gates, scales and adds, by its "
             "formula")
    return (f"{what} MB moved: the bytes its blocks read and write in one forward pass of the batch, unfused "
            f"({reads}), at {run.setup.get('dtype')}'s size, plus their parameters; floor ms: that traffic at "
            f"{run.setup['bandwidth_gbs']:,.1f} GB/s, the bandwidth of {copy} measured in this run, i.e. from "
            "memory (maps small enough to stay in a cache, as at batch 1, can move faster, so the ratio can fall "
            f"below 1 there); added ÷ floor: the median added {added} over that floor (near 1, {what} costs what its "
            "traffic costs; far above it, kernel launches, host dispatch and the squeeze's reduction).")


def _latency_legend(report: Report, verbose: bool) -> str:
    run = report.latency_runs[0]
    base = run.latency["base"]
    other = next((c for c in report.configs if c.config != "base"), None)
    example = ""
    if other is not None:
        lat = run.latency[other.config]
        example = (f" (here {lat.median_ms:.3f} / {base.median_ms:.3f} = {lat.median_ms / base.median_ms:.3f}, "
                   f"against {_ratio_text(lat)})")
    text = (
        "median ms: the median of each configuration's samples. vs base: the median of the per-round ratios "
        f"configuration / base, with its 95% bootstrap confidence interval (— with fewer than {MIN_CI_SAMPLES} "
        "rounds). Every round times each "
        "configuration once, back to back, in a rotated order, so a ratio is taken between neighbours and "
        "drift that slows both cancels; it need not equal the ratio of the two medians" + example + "."
    )
    if verbose:
        text += (" IQR: interquartile range of the samples; ratio q1–q3: quartiles of the per-round ratios; "
                 "added ms: the median of the per-round differences, with its 95% bootstrap CI.")
    if any(lat.peak_memory_bytes is not None for r in report.latency_runs for lat in r.latency.values()):
        text += (" peak MiB: memory one call needs beyond weights and input (CUDA: max_memory_allocated; CPU: "
                 "the peak of the bytes held by tensors the call's ops create, tracked through the dispatcher).")
    return text


def _share(a, batch: int) -> str:
    if batch not in a.latency_share or a.latency_share[batch] != a.latency_share[batch]:  # absent or NaN
        return "—"
    share = f"{100 * a.latency_share[batch]:.1f}%"
    return share if a.resolved(batch) else f"({share}, n.s.)"


def render_attribution(console: Console, report: Report) -> None:
    """Per SE stage: share of SE's parameters, of its analytic work, and of the latency it adds (the model's own
    blocks' where they are measured)."""
    shares = report.attribution()
    batches = [run.batch for run in report.latency_runs]
    what = blocks_word(report)
    plain = not _timm_kind(report) and (report.block is None or not report.block.kind.spatial)
    full_map = "pool+scale ops" if plain else "full-map ops"
    columns = [Column("stage", "left", key=True), Column("params"), Column("% params"), Column(full_map),
               Column("% ops"), Column("excitation MACs" if _timm_kind(report) else "FC MACs"), Column("% MACs")]
    for b in batches:
        prefix = f"batch {b}: " if len(batches) > 1 else ""
        columns += [Column(f"{prefix}added ms"), Column(f"{prefix}95% CI"), Column(f"{prefix}share")]
    grid = Grid(columns)
    for a in shares:
        cells = [str(a.stage), f"{a.params:,}", f"{100 * a.params_share:.1f}%", f"{a.elementwise_ops:,}",
                 f"{100 * a.elementwise_share:.1f}%", f"{a.fc_macs:,}", f"{100 * a.fc_share:.1f}%"]
        for b in batches:
            if b in a.latency_ms:
                cells += [f"{a.latency_ms[b][1]:+.3f}", _signed_ci(*a.latency_ci[b]),
                          _share(a, b)]
            else:
                cells += ["—", "—", "—"]
        grid.add(*cells)
    if _timm_kind(report):
        ops = ("full-map ops (by each kind's formula: pooling, MACs and gates on the full C×H×W map, scales, adds) "
               "and excitation MACs (on the squeezed tensors)")
    elif plain:
        ops = "pool+scale ops (pooling adds + scale multiplies on the full C×H×W map) and FC MACs"
    else:
        ops = ("full-map ops (pooling, sSE's 1×1 conv, the scales and scSE's combine, all on the full C×H×W map) and "
               "FC MACs")
    legend = (f"params, {ops} are those of each stage's {what} blocks; each % column is the stage's share "
              f"of {what}'s total.")
    if batches:
        legend += (f" Latency: each stage's {what} alone (the configuration '{what} in stage s only') timed "
                   "interleaved with the base model and the other configurations; added ms = the median of the "
                   "per-round differences against base, with its 95% bootstrap CI; share = that median over the sum of "
                   f"the stages' medians (— when that sum is not positive; the stages' costs need not add up to {what} "
                   "everywhere's); n.s. = the CI includes 0 (not resolved: more samples, a longer budget or one "
                   "thread help).")
    else:
        legend += f" Latency was not measured, so the stages' {what}-alone configurations are counted, not timed."
    print_grid(console, f"Where {what} costs, by stage", grid, legend)


def resolutions_text(resolutions: Sequence[Sequence[int]]) -> str:
    """A stage's resolutions: '56×56', '28×28/14×14' for two, the largest to the smallest ('200×200…25×25') for
    more (a feature pyramid's levels in one stage)."""
    if len(resolutions) <= 2:
        return "/".join(resolution_text(r) for r in resolutions)
    ordered = sorted(resolutions, key=lambda r: -math.prod(r))
    return f"{resolution_text(ordered[0])}…{resolution_text(ordered[-1])}"


def input_note(origin: str) -> tuple[str, ...]:
    """Where an input comes from, as a note under a header ('Input: the evaluation crop of efficientnet_b7's
    DEFAULT weights (IMAGENET1K_V1).'); none where the caller gave it, who needs no word on it."""
    return () if origin in ("", GIVEN_INPUT) else (f"Input: {origin}.",)


def _report_notes(console: Console, report: Report) -> None:
    """The notes under a report's header: where its input comes from, then how the model was run."""
    _notes(console, input_note(report.input_origin) + report.notes)


def _notes(console: Console, notes: Sequence[str]) -> None:
    """How the model was run (its harness), one sentence a line, wrapped to the console."""
    for note in notes:
        console.print(note, markup=False, highlight=False)


def main_counter(report: Report) -> str | None:
    """The counter the short reports quote: fvcore, else thop, else torch's flop counter (None: none ran)."""
    return next((n for n in ("fvcore", "thop", "torch") if n in report.counter_names), None)


def _counter_footer(report: Report) -> str:
    """One line under a short report: which counter, which unit, that some ops went uncounted."""
    counter = main_counter(report)
    if counter is None:
        return "No MAC counter ran."
    others = [COUNTER_NAMES_LONG[n] for n in report.counter_names if n != counter]
    kinds = len(report.counters[counter]["skipped"])
    uncounted = (f"it leaves {kinds} kind{'' if kinds == 1 else 's'} of op uncounted" if kinds
                 else "it counted every op")
    also = f"; {' and '.join(others)} beside it" if others else ""
    return (f"MACs: {COUNTER_NAMES_LONG[counter]}'s count per {report.sample} at batch 1 (FLOPs = 2 × MACs); "
            f"{uncounted} (--details names them{also}).")


def blocks_word(report: Report) -> str:
    """What the report's blocks are called in its sentences, headings and labels: SE (seprof's kinds, and a model's
    own SE), the timm kind seprof added (CBAM, ECA, ...), the kinds of a model's own attention measured
    ('GC-add'), or "attention" for a sweep over kinds beside SE's."""
    if report.own_kinds:
        return "/".join(table_kind(k).label for k in report.own_kinds)
    if report.block is None and any(c.block is not None and not c.block.kind.seprof for c in report.configs):
        return "attention"
    return report.block.kind.title if _timm_kind(report) else "SE"


def _timm_kind(report: Report) -> bool:
    """Whether the blocks are of timm's kinds, whose own formula is their exact count (no paper's column): seprof
    added one, or the model's own attention is measured."""
    return bool(report.own_kinds) or (report.block is not None and not report.block.kind.seprof)


def _formula_text(report: Report) -> str:
    """'the paper's formula', or 'CBAM's formula' for one of timm's kinds."""
    return f"{blocks_word(report)}'s formula" if _timm_kind(report) else "the paper's formula"


def _totals(console: Console, report: Report, config: str = "se") -> None:
    """Parameters and MACs of base and one configuration, in whole numbers, one line each."""
    c, base = report.config(config), report.config("base")
    paper_pct = 100 * c.analytic_paper / report.base_params
    what = blocks_word(report)
    console.print(f"Parameters: base {report.base_params:,} → {what} {c.params:,} ({c.params_added:+,}, "
                  f"{_added_pct(c.params_added_pct)}); {_formula_text(report)}: {_n(c.analytic_paper)} "
                  f"({_added_pct(paper_pct)}).", highlight=False)
    counter = main_counter(report)
    if counter is not None:
        b, m = base.macs[counter], c.macs[counter]
        console.print(f"MACs per {report.sample} ({COUNTER_NAMES_LONG[counter]}): base {b:,} → {what} {m:,} "
                      f"({m - b:+,}, {_added_percent(c, base, counter)}).", highlight=False)


def _share_of_base(params: int, base: int) -> str:
    """'6.18%': ``params`` as a % of ``base`` with 2 decimals, or as many as it takes not to read 0."""
    value = 100 * params / base
    return f"{value:.{_decimals(value, 2)}f}%"


def render_brief_stages(console: Console, report: Report, config: str = "se") -> None:
    """One table per stage: the paper's formula, the exact count, its share of the base model and the MACs the
    main counter puts in the stage's blocks (the measured count too, where it differs from the exact one)."""
    rows = [s for s in report.stages if s.config == config]
    c = report.config(config)
    counter = main_counter(report)
    differs = any(s.se and s.measured != s.analytic_exact for s in rows)
    paper = [] if _timm_kind(report) else [Column("paper")]  # a timm kind's formula is its exact count
    grid = Grid([Column("stage", "left", key=True), Column("N_s"), Column("C_s"), *paper, Column("exact"),
                 *([Column("measured")] if differs else []), Column("% of base"),
                 *([Column(f"MACs ({counter})")] if counter else [])])
    for s in rows:
        se = s.se
        grid.add(str(s.stage), str(s.blocks), "/".join(map(str, sorted(set(s.channels)))),
                 *([_n(s.analytic_paper) if se else "—"] if paper else []), _n(s.analytic_exact) if se else "—",
                 *([_n(s.measured) if se else "—"] if differs else []),
                 _share_of_base(s.measured, report.base_params) if se else "—",
                 *([f"{s.se_macs[counter]:,}" if se else "—"] if counter else []))
    grid.add("total", str(sum(s.blocks for s in rows if s.se)), "", *([_n(c.analytic_paper)] if paper else []),
             _n(c.analytic_exact),
             *([_n(c.params_added)] if differs else []), _added_pct(c.params_added_pct, sign=False),
             *([f"{sum(s.se_macs[counter] for s in rows if s.se):,}"] if counter else []), style="bold",
             section=True)
    print_grid(console, None, grid)


def _latency_setup(console: Console, run: LatencyRun) -> None:
    """A timing run's setup in two lines: where and what; how many rounds and why they stopped."""
    t = run.setup
    console.print(Text(f"Latency, batch {run.batch}: {device_label(t)} · {threads_label(t)} · {t.get('dtype')} · "
                       f"{_what_is_timed(t)}", style="bold"))
    console.print(f"{t.get('runs')} round{'' if t.get('runs') == 1 else 's'} in {t.get('seconds', 0):.1f} s: "
                  f"{_stop_text(t)}", highlight=False)


def _has_memory(run: LatencyRun | None) -> bool:
    return run is not None and any(lat.peak_memory_bytes is not None for lat in run.latency.values())


def _latency_columns(run: LatencyRun | None) -> list[Column]:
    """A short table's latency columns (the median may be left out where the table is too wide), and the peak
    memory where it was measured (--memory)."""
    if run is None:
        return []
    return [Column("median ms", optional=True), Column("vs base"), Column("95% CI"),
            *([Column("peak MiB", optional=True)] if _has_memory(run) else [])]


def _latency_cells(run: LatencyRun | None, c: ConfigResult) -> list[str]:
    if run is None:
        return []
    lat, base = run.latency[c.config], c.config == "base"
    return [f"{lat.median_ms:.3f}", "—" if base else _ratio_text(lat), "—" if base else _ci_text(*lat.ratio_ci),
            *([_mib(lat.peak_memory_bytes)] if _has_memory(run) else [])]


def render_brief_latency(console: Console, report: Report,
                         label: Callable[[ConfigResult], str] | None = None) -> None:
    """Each timing run: its setup and a small table of the median, the ratio to base and its 95% CI."""
    label = label or (lambda c: config_label(c, blocks_word(report)))
    if not report.latency_runs:
        console.print("Latency: not measured (--no-latency).")
        return
    for run in report.latency_runs:
        _latency_setup(console, run)
        grid = Grid([Column("configuration", "left", key=True), *_latency_columns(run)])
        for c in report.configs:
            grid.add(label(c), *_latency_cells(run, c))
        print_grid(console, None, grid)


def _configurations_table(console: Console, report: Report, grid: Grid,
                          label: Callable[[ConfigResult], str] | None = None) -> list[str]:
    """A short report's table of configurations, whose columns end with the first timing run's: that run's
    setup above it, the other runs' tables under it; the headers of the columns left out."""
    if report.latency_runs:
        _latency_setup(console, report.latency_runs[0])
    dropped = print_grid(console, None, grid)
    if not report.latency_runs:
        console.print("Latency: not measured (--no-latency).")
    for other in report.latency_runs[1:]:
        render_brief_latency(console, replace(report, latency_runs=(other,)), label)
    return dropped


def _added_percent(c: ConfigResult, base: ConfigResult, counter: str) -> str:
    """The MACs ``c`` adds over ``base``, as a signed % with 3 decimals, or as many as it takes not to read 0."""
    value = 100 * (c.macs[counter] - base.macs[counter]) / base.macs[counter]
    return signed_percent(value, _decimals(value, 3))


def _added_pct(value: float, sign: bool = True) -> str:
    """Parameters added as a % of the base with 2 decimals, or as many as it takes not to read 0 (ECA's 86)."""
    decimals = _decimals(value, 2)
    return signed_percent(value, decimals) if sign else f"{value:.{decimals}f}%"


def _decimals(value: float, least: int) -> int:
    """``least`` decimals, or more (up to 6) where fewer would round a nonzero ``value`` to 0."""
    decimals = least
    while value and round(abs(value), decimals) == 0 and decimals < 6:
        decimals += 1
    return decimals


def render_inject(console: Console, report: Report, verbose: bool = False, details: bool = False) -> None:
    """The report of ``seprof inject``: the answer on one screen, or with ``details`` everything (counters'
    blind spots, analytic work per stage, memory traffic, legends)."""
    console.print(Text(_setup_line(report), style="bold"))
    _report_notes(console, report)
    if details:
        render_stage_params(console, report)
        render_own_attention(console, report)
        render_compute(console, report)
        render_latency(console, report, verbose)
    else:
        render_brief_stages(console, report)
        _totals(console, report)
        render_brief_latency(console, report)
        console.print(Text(_counter_footer(report), style="dim"))
    render_bottom_line(console, report)


def render_compare(console: Console, report: Report, verbose: bool = False, details: bool = False) -> None:
    """The configurations of ``seprof compare`` side by side: parameters, the main counter's MACs and latency,
    or with ``details`` every counter, the legends and what each counter skipped."""
    if not details:
        _brief_compare(console, report)
        return
    console.print(Text(_setup_line(report), style="bold"))
    _report_notes(console, report)
    grid = Grid([Column("configuration", "left", key=True), Column("params"), Column("added"), Column("added %"),
                 Column("paper"), *(Column(n) for n in report.counter_names)])
    for c in report.configs:
        grid.add(config_label(c, blocks_word(report)), f"{c.params:,}", f"{c.params_added:,}",
                 _added_pct(c.params_added_pct), _n(c.analytic_paper),
                 *(_g(c.macs[n]) for n in report.counter_names))
    counters = ", ".join(n for n in report.counter_names)
    if report.own_kinds:
        paper = "each kind's formula per block (seprof blocks), with the widths and knobs read off each module"
    elif _timm_kind(report):
        paper = f"{blocks_word(report)}'s formula per block (seprof blocks), all its parameters"
    elif _other_native(report):
        paper = f"{_NATIVE_FORMULA} (FC weights only)"
    else:
        paper = "(2/r)·Σ N_s·C_s², the paper's eq. 5 (FC weights only)"
    print_grid(console, "Configurations", grid, (
        f"params: parameters of the model; added: over the base model; paper: {paper}; {counters}: MACs per "
        f"{report.sample} (batch 1) in G (10⁹), as each counter counts them. "
        + _counter_legend(report)))
    render_own_attention(console, report)
    render_latency(console, report, verbose, label=lambda c: config_label(c, blocks_word(report)))
    if any(c.config.startswith("se_only_") for c in report.configs):
        render_attribution(console, report)
    _not_counted(console, report)
    render_bottom_line(console, report)


def _brief_compare(console: Console, report: Report) -> None:
    """``seprof compare``'s short report: one table of the configurations (parameters, the main counter's MACs
    and, when timed, the first run's latency), the other timing runs' tables, a footer and the bottom line."""
    console.print(Text(_setup_line(report), style="bold"))
    _report_notes(console, report)
    counter = main_counter(report)
    base = report.config("base")
    run = report.latency_runs[0] if report.latency_runs else None
    grid = Grid([Column("configuration", "left", key=True), Column("params", optional=True),
                 Column("added", optional=True), Column("added %"),
                 *([Column(f"MACs ({counter})", optional=True), Column(f"MACs % ({counter})")] if counter else []),
                 *_latency_columns(run)])
    for c in report.configs:
        first = c.config == "base"
        macs = ([f"{c.macs[counter]:,}", "—" if first else _added_percent(c, base, counter)] if counter else [])
        grid.add(config_label(c, blocks_word(report)), f"{c.params:,}", "—" if first else f"{c.params_added:+,}",
                 "—" if first else _added_pct(c.params_added_pct), *macs, *_latency_cells(run, c))
    dropped = _configurations_table(console, report, grid, lambda c: config_label(c, blocks_word(report)))
    if any(c.config.startswith("se_only_") for c in report.configs):
        render_attribution(console, report)
    console.print(Text(_counter_footer(report) + _left_out(dropped), style="dim"))
    render_bottom_line(console, report)


def _latency_phrase(report: Report, config: str) -> str:
    """'+5.7% latency (CPU AMD EPYC, 1 thread of 2 CPUs, float32, batch 1; 95% CI +4.3% to +7.1%)'."""
    runs = report.latency_runs
    if not runs:
        return "latency not measured"
    t = runs[0].setup
    what = "training-step time" if t.get("mode") == "train" else "latency"
    where = f"{str(t.get('device')).upper()} {t.get('device_name')}, {threads_label(t)}, {t.get('dtype')}"
    if t.get("compiled"):
        where += ", compiled"

    def change(run: LatencyRun) -> tuple[str, str]:
        lat = run.latency[config]
        lo, hi = (100 * (x - 1) for x in lat.ratio_ci)
        if lo != lo or hi != hi:
            rounds = f"{lat.runs} round{'' if lat.runs == 1 else 's'}"
            return signed_percent(100 * (lat.ratio[1] - 1), 1), f"{rounds}: too few for a CI"
        ci = f"95% CI {signed_percent(lo, 1)} to {signed_percent(hi, 1)}"
        if lo <= 0 <= hi:
            ci += ", not distinguishable from no change"
        return signed_percent(100 * (lat.ratio[1] - 1), 1), ci

    if len(runs) == 1:
        value, ci = change(runs[0])
        return f"{value} {what} ({where}, batch {runs[0].batch}; {ci})"
    parts = [f"{value} at batch {run.batch} ({ci})" for run in runs for value, ci in [change(run)]]
    return f"{what} {' and '.join(parts)}, on {where}"


def bottom_line(report: Report) -> list[str]:
    """One plain sentence per configuration with SE: what it adds in parameters, MACs and latency, with
    the device, threads and batch the latency was measured at."""
    base = report.config("base")
    counter = main_counter(report)
    sentences = []
    alone = sum(c.config.startswith("se_only_") for c in report.configs)
    for c in report.configs:
        if c.config == "base" or (c.config.startswith("se_only_") and alone < len(report.configs) - 1):
            continue  # a stage's SE alone is told in the attribution table
        what = (f"its own {blocks_word(report)}" if report.native
                else report.block.short if report.block is not None else "SE")
        where = (f"in stage {c.se_stages[0]}" if len(c.se_stages) == 1
                 else f"in stages {stage_list(c.se_stages)}")
        parts = [f"{_added_pct(c.params_added_pct)} parameters"]
        if counter is not None:
            parts.append(f"{_added_percent(c, base, counter)} MACs ({COUNTER_NAMES_LONG[counter]})")
        parts.append(_latency_phrase(report, c.config))
        sentences.append(f"{report.model} with {what} {where}: {', '.join(parts)}.")
    return sentences


def render_bottom_line(console: Console, report: Report) -> None:
    """The bottom line, each sentence on one line that the terminal wraps (so it copies whole)."""
    for sentence in bottom_line(report):
        console.print(Text.assemble(("Bottom line: ", "bold"), sentence), soft_wrap=True, highlight=False)


def _stride(stride: float) -> str:
    """A measured stride: 16, or 8.5 for Inception's 299 → 35."""
    return f"{round(stride, 1):g}"


def _stage_grid(stage_map: StageMap, native: bool) -> Grid:
    columns = [Column("stage", "left", key=True), Column("stride"), Column("resolution", "left"),
               Column("blocks"), Column("channels", "left"), *([Column("hidden", "left")] if native else []),
               Column("names", "left"), Column("where", "left", wrap=True)]
    grid = Grid(columns)
    for info in stage_map.stages:
        first, last = info.sites[0], info.sites[-1]
        points = sorted({s.label for s in info.sites})
        widths = sorted({s.hidden for s in info.sites if s.hidden is not None})
        hidden = ["/".join(map(str, widths)) or "—"] if native else []
        resolutions = resolutions_text(list(dict.fromkeys(s.resolution for s in info.sites)))
        strides = sorted({s.stride for s in info.sites})
        stride = _stride(strides[0]) if len(strides) == 1 else f"{_stride(strides[0])}–{_stride(strides[-1])}"
        grid.add(str(info.stage), stride, resolutions, str(info.blocks),
                 "/".join(map(str, sorted(set(info.channels)))), *hidden,
                 first.name if first is last else f"{first.name}..{last.name}",
                 ", ".join(points))
    return grid


_ATTENTION_LEGEND = ("seprof places no block inside these. by: formula, the kind's formula in 'seprof blocks' with "
                     "the widths read off each module (equal to the count); counted, on the modules, where seprof has "
                     "no formula or its formula does not fit the module as built. strip: yes, an add-on to its block "
                     "(x·gate or x + f(x)): seprof.strip takes it out, and 'seprof compare --own-attention' measures "
                     "it by formula; no, part of the block")


def _attention_grid(rows: Sequence[dict]) -> Grid:
    """The model's own counted attention by stage and kind (``StageMap.attention_rows`` as dicts)."""
    grid = Grid([Column("stage", "left", key=True), Column("modules"), Column("channels", "left"),
                 Column("kind", "left", wrap=True), Column("params"), Column("by", "left"), Column("strip", "left")])
    for row in rows:
        grid.add(str(row["stage"]), str(row["modules"]), "/".join(map(str, row["channels"])),
                 f"{row['cls']} ({row['kind']})", f"{row['params']:,}", "formula" if row["formula"] else "counted",
                 "no" if row["not_strippable"] else "yes")
    grid.add("total", str(sum(r["modules"] for r in rows)), "", "", f"{sum(r['params'] for r in rows):,}", "", "",
             style="bold", section=True)
    return grid


def _print_attention(console: Console, rows: Sequence[dict]) -> None:
    if rows:
        kept = {f"{r['cls']} ({r['kind']})": r["not_strippable"] for r in rows if r["not_strippable"]}
        print_grid(console, f"Its own attention: {sum(r['modules'] for r in rows)} modules", _attention_grid(rows),
                   _ATTENTION_LEGEND + (":" if kept else "."))
        for label, why in kept.items():
            console.print(Text(f"{label}: {why}.", style="dim"))


def render_own_attention(console: Console, report: Report) -> None:
    """The model's own attention that seprof counts, by stage (``--details``)."""
    _print_attention(console, report.own_attention)


def _knob_text(value: object) -> str:
    """A knob's default as a reader writes it: 1/16 for 0.0625, 2/3 for 0.666…"""
    if isinstance(value, float) and not value.is_integer():
        fraction = Fraction(value).limit_denominator(64)
        if abs(float(fraction) - value) < 1e-9:
            return f"{fraction.numerator}/{fraction.denominator}"
    return str(value)


def render_blocks(console: Console, kinds: Sequence[Kind], model: str, channels: Sequence[int]) -> None:
    """``seprof blocks``: every attention kind, its paper, what it squeezes, its knobs, its parameters per block as
    a formula, and what it adds at ``model``'s SE sites (``channels``), at its defaults."""
    grid = Grid([Column("kind", "left", key=True), Column("paper", "left", wrap=True, optional=True),
                 Column("squeezes", "left"), Column("knobs (defaults)", "left", wrap=True),
                 Column("params per block", "left", wrap=True), Column(model)])
    missing = []
    for entry in kinds:
        try:
            knobs = "\n".join(f"{k}={_knob_text(v)}" for k, v in entry.shown_knobs.items()) or "—"
            added = f"{sum(entry.count(c) for c in channels):,}"
        except ImportError:  # timm's kinds read their defaults from timm
            knobs, added = f"needs timm ≥ {TIMM_FLOOR}", "—"
            missing.append(entry.name)
        grid.add(entry.name, entry.paper, entry.squeezes, knobs, entry.formula, added)
    dropped = print_grid(console, f"Attention kinds: {len(kinds)}", grid, (
        f"C: the block's channels. {model}: the parameters the kind adds at {model}'s {len(channels)} SE sites, at "
        "its defaults (timm's kinds: as timm's factory makes them). seprof adds each kind with --block (timm's with "
        "their knobs as --knob NAME=VALUE), and recognises timm's in a model that has them (seprof stages)."
        + (f" {', '.join(missing)}: their defaults are read from timm {TIMM_FLOOR} or later (pip install "
           "\"seprof[timm]\")." if missing else "")))
    for entry in kinds:
        if entry.note:
            console.print(Text(f"{entry.name}: {entry.note}.", style="dim"))
    if dropped:
        console.print(Text(f"Left out at this width: {', '.join(dropped)} (a wider terminal shows it).", style="dim"))


def render_stages(console: Console, model: str, stage_map: StageMap, family: Family | None = None,
                  notes: Sequence[str] = ()) -> None:
    """The stage tables of ``seprof stages``: where seprof can add SE, and the model's own SE blocks."""
    shape = "×".join(map(str, stage_map.input_shape))
    if family is not None:
        console.print(Text(f"{model} · family {family.name} ({family.title}) · input {shape}", style="bold"))
        _notes(console, notes)
        moved = next((site for site in stage_map.sites if site.position is not Position.STANDARD), None)
        if moved is not None:
            console.print(f"SE goes: {moved.description}.")
        else:
            console.print(f"SE goes: {family.where}. Source: {family.source}"
                          + (" (a placement choice, not a published one)." if family.choice else "."))
    if stage_map.native:
        print_grid(console, f"Its own SE blocks by stage: {len(stage_map.native)}",
                   _stage_grid(stage_map.native_map(), native=True))
        console.print("They are measured against the model without them; " + (
            f"seprof can add SE to the {len(stage_map.sites)} blocks without one."
            if stage_map.sites else "every block seprof knows in it already has SE."))
    _print_attention(console, [asdict(row) for row in stage_map.attention_rows()])
    if stage_map.sites:
        title = "Blocks without SE, where SE can be added" if stage_map.native else "Where seprof adds SE"
        print_grid(console, f"{title}: {len(stage_map.sites)} blocks", _stage_grid(stage_map, native=False),
                   "stage s = round(log2(stride)), the stride measured at the model's usual input.")
        console.print("SE point: " + "; ".join(describe(stage_map.sites)))


def render_zoo(console: Console, rows, r: int, counters, details: bool = False) -> None:
    """The one-table static report of ``seprof zoo``: parameters and the first counter's added MACs, or with
    ``details`` the paper's formula, the exact count and every counter's MACs (the CSV has them all)."""
    if not details:
        _brief_zoo(console, rows, r, counters)
        return
    columns = [Column("model", "left", key=True), Column("SE", "left"), Column("stages", "left"),
               Column("blocks"), Column("base params"), Column("SE adds"), Column("added %"), Column("paper"),
               Column("exact"), *(Column(f"{c} base") for c in counters),
               *(Column(f"{c} +SE") for c in counters)]
    grid = Grid(columns)
    failed = []
    for row in rows:
        if row.error:
            failed.append(row)
            grid.add(row.model, row.se, *["—"] * (len(columns) - 2))
            continue
        grid.add(
            row.model, row.se, row.stages, str(row.se_blocks), f"{row.base_params:,}", f"{row.params_added:+,}",
            _added_pct(row.params_added_pct), _n(row.analytic_paper), f"{row.analytic_exact:,}",
            *(_g(row.macs_base[c]) for c in counters),
            *(f"{row.macs_se[c] - row.macs_base[c]:+,}" for c in counters),
        )
    words = {"video": "a clip for video", "optical_flow": "a frame pair for optical flow"}
    kinds = ["an image"] * any(row.task not in words for row in rows) + [
        words[t] for t in words if any(row.task == t for row in rows)]
    sample = "image" if kinds == ["an image"] else f"sample: {', '.join(kinds)}"
    print_grid(console, f"SE in every model: seprof's SE at all stages (r={r}), or the model's own SE (per {sample}, "
                        "batch 1)", grid, (
        "SE: added = seprof's SE blocks (r as given, FC biases) in every stage; native = the model's own SE "
        "blocks, each with its own width (paper formula with r = C/hidden), against the model without them. "
        "paper: (2/r)·ΣC² (FC weights); exact: with the real hidden width and biases. MACs: each counter's "
        "MAC-equivalent ops (FLOPs = 2 × MACs), base in G, +SE in ops; "
        + "; ".join(map(_counter_note, counters)) + "."))
    for row in failed:
        console.print(f"{row.model}: {row.error}", markup=False)


def _brief_zoo(console: Console, rows, r: int, counters) -> None:
    counter = counters[0]
    grid = Grid([Column("model", "left", key=True), Column("SE", "left"), Column("blocks", optional=True),
                 Column("base params", optional=True), Column("SE adds"), Column("added %"),
                 Column(f"MACs % ({counter})")])
    failed = []
    for row in rows:
        if row.error:
            failed.append(row)
            grid.add(row.model, row.se, *["—"] * 5)
            continue
        base = row.macs_base[counter]
        grid.add(row.model, row.se, str(row.se_blocks), f"{row.base_params:,}", f"{row.params_added:+,}",
                 _added_pct(row.params_added_pct),
                 signed_percent(100 * (row.macs_se[counter] - base) / base, 3))
    dropped = print_grid(console, f"SE in every model: seprof's SE in every stage (r={r}), or the model's own SE",
                         grid)
    for row in failed:
        console.print(f"{row.model}: {row.error}", markup=False)
    console.print(Text(f"SE: added = seprof's blocks; native = the model's own, against the model without them. "
                       f"MACs per sample at batch 1 (FLOPs = 2 × MACs), by {_counter_note(counter)}; fvcore, which "
                       "needs real tensors, only with --fvcore. --details (or --csv) adds the paper's formula, the "
                       "exact count, the stages and every counter." + _left_out(dropped), style="dim"))


def _settings(spec: BlockSpec) -> list[str]:
    """A block's settings in words, its kind and position aside: ['r=16', 'max', 'no bias', 'tanh gate']."""
    return spec.shape() + replace(spec, position=Position.STANDARD).settings()


def sweep_shared(report: Report) -> tuple[set[str], bool, bool]:
    """What every point of a sweep shares: settings, the position, the stage set (shown once, in the title)."""
    points = [c for c in report.configs if c.sweep_point]
    if len(points) < 2:
        return set(), False, False
    shared = set.intersection(*(set(_settings(c.block)) for c in points))
    return (shared, len({c.block.position for c in points}) == 1, len({c.stage_set_text for c in points}) == 1)


def sweep_label(config: ConfigResult, shared: tuple[set[str], bool, bool] = (set(), False, False),
                base: str = "SE") -> str:
    """A sweep point's block, position and stages, less what every point shares: 'SE (r=16) · all',
    'scSE (r=8, max) · pre · 4+5', 'base (no SE)' (``base``: what the blocks are called, ``blocks_word``)."""
    if not config.sweep_point:
        return config_label(config, base)
    settings, same_position, same_stages = shared
    spec = config.block
    words = [w for w in _settings(spec) if w not in settings]
    parts = [spec.named(words)]
    if spec.position is not Position.STANDARD and not same_position:
        parts.append(str(spec.position))
    if not same_stages:
        parts.append(config.stage_set_text)
    return " · ".join(parts)


def _sweep_title(report: Report, shared: tuple[set[str], bool, bool]) -> str:
    shape = "×".join(map(str, report.input_shape))
    settings, same_position, same_stages = shared
    points = [c for c in report.configs if c.sweep_point]
    common = [w for w in _settings(points[0].block) if w in settings] if points else []
    if same_position and points and points[0].block.position is not Position.STANDARD:
        common.append(f"position {points[0].block.position}")
    if same_stages and points:
        common.append(f"stages {points[0].stage_set_text}")
    title = f"{report.model} · {len(report.configs) - 1} configurations · input {shape}"
    return title + (f" · every one: {', '.join(common)}" if common else "")


def _left_out(dropped: Sequence[str]) -> str:
    """A footer's note on the columns a narrow console left out ('' for none)."""
    return f" Left out at this width: {', '.join(dropped)} (--details, or a wider terminal)." if dropped else ""


def _brief_sweep(console: Console, report: Report) -> None:
    """``seprof sweep``'s short report: one table, a row per configuration (columns that do not fit are left
    out rather than split into a second table), the timing setup and a footer."""
    shared = sweep_shared(report)
    console.print(Text(_sweep_title(report, shared), style="bold"))
    _report_notes(console, report)
    base = report.config("base")
    counter = main_counter(report)
    run = report.latency_runs[0] if report.latency_runs else None
    others = [n for n in report.counter_names if n != counter]
    batch, dtype = (run.batch, run.setup.get("dtype", "float32")) if run is not None else (1, "float32")
    bandwidth = run.setup.get("bandwidth_gbs") if run is not None and run.setup.get("mode") != "train" else None
    grid = Grid([Column("configuration", "left", key=True), Column("params", optional=True),
                 Column("added"), Column("added %"), Column("exact", optional=True),
                 Column("paper", optional=True), *([Column(f"MACs % ({counter})")] if counter else []),
                 *(Column(f"MACs % ({n})", optional=True) for n in others), *_latency_columns(run),
                 Column("MACs (formula)", optional=True), Column("MB moved", optional=True),
                 *([Column("added ÷ floor", optional=True)] if bandwidth else [])])
    for c in report.configs:
        first = c.config == "base"
        macs = ["—" if first else _added_percent(c, base, n) for n in ([counter] if counter else []) + others]
        moved = report.traffic_bytes(c.config, batch, dtype)
        floor = [] if not bandwidth else ["—" if first or not moved else
                                          f"{_added_ms(run.latency[c.config]) / floor_ms(moved, bandwidth):.1f}×"]
        grid.add(sweep_label(c, shared, blocks_word(report)), f"{c.params:,}", "—" if first else f"{c.params_added:+,}",
                 "—" if first else _added_pct(c.params_added_pct), "—" if first else f"{c.analytic_exact:,}",
                 "—" if first else _n(c.analytic_paper), *macs, *_latency_cells(run, c),
                 "—" if first else f"{report.analytic_macs(c.config) / 1e6:,.2f} M",
                 "—" if first else f"{moved / 1e6:,.1f}", *floor,
                 section=c is report.configs[1])
    dropped = _configurations_table(console, report, grid, lambda c: sweep_label(c, shared, blocks_word(report)))
    formulas = _formula_footer(batch, dtype, bool(bandwidth), dropped)
    if run is not None and run.setup.get("runs", MIN_CI_SAMPLES) < MIN_CI_SAMPLES:
        formulas += f" 95% CI: — with fewer than {MIN_CI_SAMPLES} rounds."
    console.print(Text(_counter_footer(report) + (" " + formulas if formulas else "") + _left_out(dropped),
                       style="dim"))


def _added_ms(lat: Latency) -> float:
    """The time a configuration adds over the base: device time where measured, else latency."""
    return lat.device_delta_ms if lat.device_delta_ms is not None else lat.delta_ms[1]


def _formula_footer(batch: int, dtype: str, floor: bool, dropped: list[str]) -> str:
    """What a sweep's formula columns hold, those printed."""
    said = {
        "exact": "exact: the blocks' parameters by the table of kinds' formulas (seprof blocks)",
        "MACs (formula)": "MACs (formula): the blocks' MACs by the table of kinds' formulas",
        "MB moved": f"MB moved: the feature-map bytes the blocks read and write, unfused, at batch {batch} in {dtype}, "
                    "and their parameters",
        "added ÷ floor": "added ÷ floor: the time added over the time the blocks' bytes (MB moved) take at the "
                         "measured bandwidth",
    }
    shown = [text for column, text in said.items() if column not in dropped and (floor or column != "added ÷ floor")]
    return "; ".join(shown) + "." if shown else ""


def render_sweep(console: Console, report: Report, verbose: bool = False, details: bool = False) -> None:
    """Every sweep point in one table: parameters (papers' formula, exact, measured), MACs added by each
    counter, and latency (and peak memory) of each timing run; without ``details``, the short version."""
    if not details:
        _brief_sweep(console, report)
        return
    shared = sweep_shared(report)
    console.print(Text(_sweep_title(report, shared), style="bold"))
    _report_notes(console, report)
    render_own_attention(console, report)
    base = report.config("base")
    run = report.latency_runs[0] if report.latency_runs else None
    memory = run is not None and any(lat.peak_memory_bytes is not None for lat in run.latency.values())
    columns = [Column("configuration", "left", key=True), Column("params"), Column("added"), Column("% of base"),
               Column("paper"), Column("exact"), *(Column(n) for n in report.counter_names), Column("formula")]
    if run is not None:
        columns += [Column("median ms"), Column("vs base"), Column("95% CI")]
    if memory:
        columns.append(Column("peak MiB"))
    extra_columns, extra_cells = _device_and_floor(report, run) if run is not None else ([], lambda c: [])
    grid = Grid(columns + extra_columns)
    for c in report.configs:
        first = c.config == "base"
        cells = [sweep_label(c, shared, blocks_word(report)), f"{c.params:,}", "—" if first else f"{c.params_added:,}",
                 "—" if first else _added_pct(c.params_added_pct, sign=False), "—" if first else _n(c.analytic_paper),
                 "—" if first else f"{c.analytic_exact:,}"]
        cells += [_g(c.macs[n]) if first else f"{100 * (c.macs[n] - base.macs[n]) / base.macs[n]:+.3f}%"
                  for n in report.counter_names]
        cells.append("—" if first else f"{report.analytic_macs(c.config):,}")
        if run is not None:
            lat = run.latency[c.config]
            cells += [f"{lat.median_ms:.3f}", "—" if first else _ratio_text(lat),
                      "—" if first else _ci_text(*lat.ratio_ci)]
        if memory:
            cells.append(_mib(run.latency[c.config].peak_memory_bytes))
        grid.add(*cells, *extra_cells(c), section=c is report.configs[1])
    legend = ("configuration: the block (its settings where they differ from the paper's or between rows), its "
              "position in the residual unit and the stages asked for, where they differ between rows (the title "
              "says what every row shares). added: parameters added over the base model, measured (the parameter "
              "count difference); % of base: "
              "of the base model's parameters; paper: the papers' formula, weights only ((2/r)·C² per SE block, C "
              "per sSE block; a timm kind's own formula, all its parameters); exact: the blocks' parameters with "
              "their real hidden widths and biases, which "
              "equals added wherever seprof adds the blocks. fvcore, thop, torch: each counter's MACs per "
              f"{report.sample} (batch 1), the base in G (10⁹), each configuration's as the % it adds; formula: the "
              "MACs of the blocks alone by the table of kinds' formulas (seprof blocks). "
              + _counter_legend(report))
    print_grid(console, "Parameters and compute of each configuration", grid, legend)
    _not_counted(console, report)
    if run is not None:
        for line in _setup_lines(run.setup):
            console.print(line)
        _device_line(console, run)
        console.print(Text(_latency_legend(report, verbose), style="dim"))
        if extra_columns and run.setup.get("bandwidth_gbs") and run.setup.get("mode") != "train":
            console.print(Text(_floor_legend(report), style="dim"))
        for other in report.latency_runs[1:]:
            render_latency(console, replace(report, latency_runs=(other,)), verbose, shared)
    else:
        console.print("Latency: not measured.")


def render_paper(console: Console, rows) -> None:
    """The paper's printed figures for SE-ResNet-50 beside seprof's exact ones (``seprof.paper.compare``): a row
    per figure, under its table's heading, and each note once under the table, numbered, so that a row's numbers
    stay on one line at any width."""
    grid = Grid([Column("row", "left", key=True, wrap=True), Column("figure", "left"), Column("printed"),
                 Column("seprof"), Column("difference"), Column("note")])
    notes: dict[str, int] = {}
    previous = None
    for c in rows:
        p = c.printed
        if p.where != previous:
            grid.add(p.where, "", "", "", "", "", style="bold", section=previous is not None)
            previous = p.where
        shown = "—" if p.printed is None else (f"{p.printed:g}%" if p.quantity == "added %" else
                                               f"{p.printed:g} {'G' if p.quantity == 'GMACs' else 'M'}")
        mark = "✓" if c.note == _MATCHED else f"[{notes.setdefault(c.note, len(notes) + 1)}]"
        grid.add(p.row, _PAPER_FIGURES[p.quantity], shown, c.exact_text, c.difference, mark)
    print_grid(console, "SENet's printed figures for SE-ResNet-50 (no FC biases) and seprof's exact numbers", grid)
    console.print(Text(f"✓: {_MATCHED}. difference: printed − seprof, in the printed unit (pp: percentage points).",
                       style="dim"))
    for note, number in notes.items():
        console.print(f"[{number}] {note}", markup=False, highlight=False)
    console.print(Text(
        "Source: Hu et al., arXiv 1709.01507 v4 (TPAMI): Sec. 4, Tables 10–14; the ablations drop the FC "
        "biases, and so does every SE row here. seprof: torchvision's ResNet-50 (v1.5) with SE at r = 16 "
        "unless the row says otherwise, counted on the meta device; parameters exact, MACs by torch's flop "
        "counter (conv and matmul MACs, as the paper's GFLOPs).", style="dim"))


_MATCHED = "matches to the printed precision"
_PAPER_FIGURES = {"params": "params", "added": "params added", "added %": "added %", "GMACs": "GMACs"}
