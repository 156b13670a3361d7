"""Rich tables for a Report. Presentation only: every number comes from the Report as it is.

MACs print in G (10⁹) with the exact integer in the CSV/JSON; parameters print exactly.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .accounting import SEWork
from .counters import COUNTER_NOTES
from .latency import CI_TARGET, MAX_ROUNDS
from .report import ConfigResult, Report, threads_label
from .models import Family
from .stages import StageMap, describe, resolution_text

COUNTER_LABELS = {"fvcore": "fvcore", "thop": "thop", "torch": "torch flop_counter"}


def _n(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _g(macs: int) -> str:
    return f"{macs / 1e9:.4f} G"


def _pct(value: float) -> str:
    return f"{value:+.2f}%"


def _config_label(config: ConfigResult) -> str:
    if config.config == "base":
        return "base (no SE)"
    if config.config.startswith("se_only_"):
        return f"SE in stage {config.config.removeprefix('se_only_')} only"
    stages = ",".join(map(str, config.se_stages)) or "none"
    return f"SE in stages {stages}"


def _setup_line(report: Report) -> str:
    shape = "×".join(map(str, report.input_shape))
    se = report.config("se")
    if report.native:
        what = "its own SE blocks (torchvision SqueezeExcitation, each with its own hidden width)"
    else:
        what = f"SE r={report.r}, {'with' if report.bias else 'no'} FC biases"
        if report.add_missing:
            what += ", added to the blocks without SE of their own (base = the model as built)"
    return f"[bold]{report.model}[/] · {what}, stages {','.join(map(str, se.se_stages))} · input {shape}"


def render_stage_params(console: Console, report: Report, config: str = "se") -> None:
    """Per-stage parameter accounting: paper formula, exact, measured."""
    table = Table(title="SE parameters by stage", title_justify="left")
    hidden = "hidden" if report.native else "C_s//r"
    for col in ("stage", "resolution", "N_s", "C_s", hidden, "paper (2/r)·N_s·C_s²", "exact", "measured",
                "% of base", "share of SE"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    rows = [s for s in report.stages if s.config == config]
    added = report.config(config).params_added
    for s in rows:
        table.add_row(
            str(s.stage), resolution_text(s.resolution), str(s.blocks),
            "/".join(map(str, sorted(set(s.channels)))), "/".join(map(str, sorted(set(s.hidden)))),
            _n(s.analytic_paper) if s.se else "—", _n(s.analytic_exact) if s.se else "—",
            _n(s.measured) if s.se else "—",
            f"{100 * s.measured / report.base_params:.2f}%" if s.se else "—",
            f"{100 * s.measured / added:.1f}%" if s.se and added else "—",
        )
    c = report.config(config)
    table.add_section()
    table.add_row(
        "total", "", str(sum(s.blocks for s in rows if s.se)), "", "", _n(c.analytic_paper),
        _n(c.analytic_exact), _n(c.params_added), f"{c.params_added_pct:.2f}%", "100%" if added else "—",
        style="bold",
    )
    console.print(table)
    paper_pct = 100 * c.analytic_paper / report.base_params
    biases = sum(s.work.bias_adds for s in rows if s.se)  # hidden + C bias parameters per block
    rounding = c.analytic_exact - biases - c.analytic_paper  # real hidden width C//r vs the formula's C/r
    formula = ", with each block's own r = C/hidden," if report.native else ""
    console.print(
        f"Parameters: base {report.base_params:,} → SE {c.params:,} "
        f"(+{c.params_added:,}, {_pct(c.params_added_pct)}). The paper's formula{formula} counts FC weights only: "
        f"{_n(c.analytic_paper)} ({_pct(paper_pct)})"
        + (f"; FC biases add {biases:,}" if report.bias else "")
        + (f"; the real hidden width C//r changes the weights by {rounding:+,.1f}" if rounding else "")
        + ". Measured = parameter count of the SE model minus the base model's."
    )


def render_compute(console: Console, report: Report) -> None:
    """MACs of base and SE model by each counter, and what each skipped."""
    base, se = report.config("base"), report.config("se")
    table = Table(
        title="Compute per image (batch 1), in each counter's MAC-equivalent ops (FLOPs = 2 × MACs)",
        title_justify="left",
    )
    skipped_col = "not counted (in the SE model)"
    for col in ("counter", "base", "SE", "added (ops)", "added %", skipped_col):
        table.add_column(col, justify="left" if col in ("counter", skipped_col) else "right")
    for name in report.counter_names:
        b, s = base.macs[name], se.macs[name]
        skipped = report.counters[name]["skipped"]
        table.add_row(COUNTER_LABELS[name], _g(b), _g(s), f"{s - b:,}", f"{100 * (s - b) / b:+.3f}%",
                      ", ".join(skipped) or "—")
    console.print(table)

    work = Table(title="SE work per stage: analytic vs counted (per image)", title_justify="left")
    for col in ("stage", "pool adds", "FC MACs", "bias adds", "sigmoids", "scale muls",
                *(f"counted: {COUNTER_LABELS[n]}" for n in report.counter_names)):
        work.add_column(col, justify="left" if col == "stage" else "right")
    rows = [s for s in report.stages if s.config == "se" and s.se]
    for s in rows:
        w = s.work
        work.add_row(str(s.stage), f"{w.pool_adds:,}", f"{w.fc_macs:,}", f"{w.bias_adds:,}", f"{w.sigmoids:,}",
                     f"{w.scale_muls:,}", *(f"{s.se_macs[n]:,}" for n in report.counter_names))
    work.add_section()
    if rows:
        total = sum((s.work for s in rows), SEWork())
        work.add_row("total", f"{total.pool_adds:,}", f"{total.fc_macs:,}", f"{total.bias_adds:,}",
                     f"{total.sigmoids:,}", f"{total.scale_muls:,}",
                     *(f"{sum(s.se_macs[n] for s in rows):,}" for n in report.counter_names), style="bold")
    console.print(work)
    console.print(
        "[dim]" + "; ".join(f"{COUNTER_LABELS[n]}: {COUNTER_NOTES[n].split(': ', 1)[1]}" for n in report.counter_names)
        + ". No counter sees SE's scale multiply. Each counter counts the model without SE once and each distinct "
        "SE block once on its own input; stripped models are the SE count minus the removed blocks' counts.[/]"
    )


def _stop_text(t: dict) -> str:
    """How an adaptive run ended, for the latency title ('' for a fixed number of rounds)."""
    if not t.get("budget_s"):
        return ""
    ci = f"every ratio's 95% CI was within ±{100 * CI_TARGET:g}%"
    return {
        "converged": f", adaptive: stopped once {ci} (budget {t['budget_s']:g} s)",
        "budget": f", adaptive: the {t['budget_s']:g} s budget ran out before {ci}",
        "max rounds": f", adaptive: stopped at the {MAX_ROUNDS}-round cap before {ci}",
    }.get(t.get("stopped"), f", adaptive within a {t['budget_s']:g} s budget")


def _setup_title(t: dict) -> str:
    what = "forward + backward (train mode)" if t.get("mode") == "train" else "forward (inference mode)"
    layout = ", channels-last" if t.get("channels_last") else ""
    budget = _stop_text(t)
    if t.get("compiled"):
        layout += ", torch.compile (first call, which compiles, timed apart: " + ", ".join(
            f"{name} {seconds:.1f} s" for name, seconds in (t.get("compile_s") or {}).items()) + ")"
    return (
        f"Latency of {what} on {t.get('device')} ({t.get('device_name')}), {t.get('dtype')}{layout}, batch "
        f"{t.get('batch')}, {threads_label(t)}: {t.get('runs')} interleaved samples per model{budget}, "
        f"each the mean of {t.get('number')} call(s), after {t.get('warmup')} warm-up calls ({t.get('seconds', 0):.1f} s)"
    )


def _mib(value: int | None) -> str:
    return "—" if value is None else f"{value / 2**20:,.1f}"


def render_latency(console: Console, report: Report) -> None:
    """Per timing run (batch size): median, IQR, the paired ratio against base with its 95% CI, the added
    time, and peak memory when measured."""
    if not report.latency_runs:
        console.print("Latency: not measured (--no-latency).")
        return
    for run in report.latency_runs:
        console.print(_setup_title(run.setup))
        memory = any(lat.peak_memory_bytes is not None for lat in run.latency.values())
        table = Table()
        cols = ["configuration", "median ms", "IQR ms", "samples", "vs base: median (q1–q3) of paired ratios",
                "95% CI", "added ms", *(["peak memory MiB"] if memory else [])]
        for col in cols:
            table.add_column(col, justify="left" if col == "configuration" else "right")
        for c in report.configs:
            lat = run.latency[c.config]
            q1, q2, q3 = lat.ratio
            base = c.config == "base"
            table.add_row(_config_label(c), f"{lat.median_ms:.3f}", f"{lat.iqr_ms:.3f}", str(lat.runs),
                          "—" if base else f"{q2:.3f}× ({q1:.3f}–{q3:.3f})",
                          "—" if base else f"{lat.ratio_ci[0]:.3f}–{lat.ratio_ci[1]:.3f}",
                          "—" if base else f"{lat.delta_ms[1]:+.3f}",
                          *([_mib(lat.peak_memory_bytes)] if memory else []))
        console.print(table)
    if any(lat.peak_memory_bytes is not None for run in report.latency_runs for lat in run.latency.values()):
        console.print("[dim]Peak memory: bytes one call needs beyond weights and input. CUDA: "
                      "max_memory_allocated; CPU: the peak of the bytes held by tensors the call's ops create "
                      "(activations, tensors saved for backward, gradients), tracked through the dispatcher. Measured on the "
                      "eager models, also with --compile.[/]")


def _share(a, batch: int) -> str:
    if batch not in a.latency_share or a.latency_share[batch] != a.latency_share[batch]:  # absent or NaN
        return "—"
    share = f"{100 * a.latency_share[batch]:.1f}%"
    return share if a.resolved(batch) else f"({share}, n.s.)"


def render_attribution(console: Console, report: Report) -> None:
    """Per SE stage: share of SE's parameters, of its analytic work, and of the latency it adds."""
    shares = report.attribution()
    batches = [run.batch for run in report.latency_runs]
    table = Table(title="Where SE costs, by stage", title_justify="left")
    cols = ["stage", "params", "share", "pool+scale ops", "share", "FC MACs", "share",
            *(f"batch {b}: added ms" for b in batches), *(f"batch {b}: share" for b in batches)]
    for col in cols:
        table.add_column(col, justify="left" if col == "stage" else "right")
    for a in shares:
        table.add_row(
            str(a.stage), f"{a.params:,}", f"{100 * a.params_share:.1f}%", f"{a.elementwise_ops:,}",
            f"{100 * a.elementwise_share:.1f}%", f"{a.fc_macs:,}", f"{100 * a.fc_share:.1f}%",
            *(f"{a.latency_ms[b][1]:+.3f} (95% CI {a.latency_ci[b][0]:+.3f}…{a.latency_ci[b][1]:+.3f})"
              if b in a.latency_ms else "—" for b in batches),
            *(_share(a, b) for b in batches),
        )
    console.print(table)
    console.print(
        "[dim]Method: parameters and analytic work (pooling adds + scale multiplies on the full C×H×W map; FC "
        "MACs) are those of each stage's SE blocks. Latency: each stage's SE alone (configuration SE in that "
        "stage only) timed interleaved with the base model and all other configurations; added ms = median of "
        "the per-round differences against base, with the 95% bootstrap CI of that median; share = that median "
        "over the sum of the stages' medians (— when that sum is not positive; stages' costs need not add up to SE everywhere's); "
        "n.s. = the CI includes 0 (not resolved: more samples, --budget, or --threads 1 help).[/]"
    )


def render_inject(console: Console, report: Report) -> None:
    """The full report of ``seprof inject``."""
    console.print(_setup_line(report))
    render_stage_params(console, report)
    render_compute(console, report)
    render_latency(console, report)


def render_compare(console: Console, report: Report) -> None:
    """The configurations of ``seprof compare`` side by side."""
    console.print(_setup_line(report))
    table = Table(title="Configurations (compute per image, batch 1, in each counter's MAC-equivalent ops)",
                  title_justify="left")
    cols = ["configuration", "params", "added", "added %", "paper (2/r)ΣN·C²",
            *(f"{COUNTER_LABELS[n]}" for n in report.counter_names)]
    if report.timing is not None:
        cols += [f"batch {report.latency_runs[0].batch} ms", "vs base"]
    for col in cols:
        table.add_column(col, justify="left" if col == "configuration" else "right")
    for c in report.configs:
        row = [_config_label(c), f"{c.params:,}", f"{c.params_added:,}", _pct(c.params_added_pct),
               _n(c.analytic_paper), *(_g(c.macs[n]) for n in report.counter_names)]
        if c.latency is not None:
            row += [f"{c.latency.median_ms:.3f}", "—" if c.config == "base" else f"{c.latency.ratio[1]:.3f}×"]
        table.add_row(*row)
    console.print(table)
    if report.timing is not None:
        render_latency(console, report)  # spread, CI and added ms of every ratio, per batch size
    else:
        console.print("[dim]Latency: not measured (--no-latency).[/]")
    if any(c.config.startswith("se_only_") for c in report.configs):
        render_attribution(console, report)
    console.print("[dim]Not counted in the SE model: " + "; ".join(
        f"{COUNTER_LABELS[n]}: {', '.join(report.counters[n]['skipped']) or '—'}" for n in report.counter_names) + "[/]")


def _stride(stride: float) -> str:
    """A measured stride: 16, or 8.5 for Inception's 299 → 35."""
    return f"{round(stride, 1):g}"


def _stage_table(title: str, stage_map: StageMap, native: bool) -> Table:
    table = Table(title=title, title_justify="left")
    cols = ["stage", "stride", "resolution", "blocks", "channels", *(["hidden"] if native else []), "names", "where"]
    for col in cols:
        table.add_column(col, justify="right" if col in ("stride", "blocks") else "left")
    for info in stage_map.stages:
        first, last = info.sites[0], info.sites[-1]
        points = sorted({s.label for s in info.sites})
        hidden = ["/".join(map(str, sorted({s.hidden for s in info.sites})))] if native else []
        table.add_row(str(info.stage), _stride(info.sites[0].stride), resolution_text(info.resolution), str(info.blocks),
                      "/".join(map(str, sorted(set(info.channels)))), *hidden, f"{first.name}..{last.name}",
                      ", ".join(points))
    return table


def render_stages(console: Console, model: str, stage_map: StageMap, family: Family | None = None) -> None:
    """The stage tables of ``seprof stages``: where seprof can add SE, and the model's own SE blocks."""
    shape = "×".join(map(str, stage_map.input_shape))
    if family is not None:
        console.print(f"[bold]{model}[/] · family {family.name} ({family.title}) · input {shape}")
        console.print(f"SE goes: {family.where}. Source: {family.source}"
                      + (" (a placement choice, not a published one)." if family.choice else "."))
    if stage_map.native:
        console.print(_stage_table(f"Its own SE blocks by stage (stage s = round(log2(stride))): {len(stage_map.native)}",
                                   stage_map.native_map(), native=True))
        console.print(f"'seprof compare {model}' measures them; " + (
            f"--add-missing adds seprof SE to the {len(stage_map.sites)} blocks without one."
            if stage_map.sites else "every block seprof knows in it already has SE."))
    if stage_map.sites:
        title = "Blocks without SE, where --add-missing adds it" if stage_map.native else "Where seprof adds SE"
        console.print(_stage_table(f"{title} (stage s = round(log2(stride))): {len(stage_map.sites)} blocks",
                                   stage_map, native=False))
        console.print("SE point: " + "; ".join(describe(stage_map.sites)))


def render_zoo(console: Console, rows, r: int, counters) -> None:
    """The one-table static report of ``seprof zoo``."""
    table = Table(title=f"SE in every model: seprof's SE at all stages (r={r}), or the model's own SE "
                        "(per image, batch 1)", title_justify="left")
    short = {"fvcore": "fvcore", "thop": "thop", "torch": "torch"}
    cols = ["model", "SE", "stages", "blocks", "base params", "SE adds", "added %", "paper", "exact",
            *(f"{short[c]} base" for c in counters), *(f"{short[c]} +SE" for c in counters)]
    for col in cols:
        table.add_column(col, justify="left" if col in ("model", "SE", "stages") else "right", no_wrap=True)
    failed = []
    for row in rows:
        if row.error:
            failed.append(row)
            table.add_row(row.model, row.se, "—", *["—"] * (len(cols) - 3))
            continue
        table.add_row(
            row.model, row.se, row.stages, str(row.se_blocks), f"{row.base_params:,}", f"{row.params_added:+,}",
            _pct(row.params_added_pct), _n(row.analytic_paper), f"{row.analytic_exact:,}",
            *(_g(row.macs_base[c]) for c in counters),
            *(f"{row.macs_se[c] - row.macs_base[c]:+,}" for c in counters),
        )
    console.print(table)
    console.print(
        "[dim]SE: added = seprof's SE blocks (r as given, FC biases) in every stage; native = the model's own "
        "SE blocks, each with its own width (paper formula with r = C/hidden), against the model without them. "
        "paper: (2/r)·ΣC² (FC weights); exact: with the real hidden width and biases. "
        "MACs: each counter's MAC-equivalent ops (FLOPs = 2 × MACs), base in G, +SE in ops; torch = torch's flop_counter; "
        + "; ".join(f"{COUNTER_LABELS[c]}: {COUNTER_NOTES[c].split(': ', 1)[1]}" for c in counters) + ".[/]"
    )
    for row in failed:
        console.print(f"{row.model}: {row.error}")
