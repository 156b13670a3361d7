"""Pictures of a Report (matplotlib, an optional extra: pip install "seprof[plot]").

Left: per SE stage, its share of SE's parameters, of SE's element-wise work (pooling + scale, which grows
with resolution) and, when measured with ``--attribute``, of the latency SE adds. Right: the configurations
on a parameters-vs-latency plane (median paired latency ratio against base, with its 95% CI).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .accounting import floor_ms
from .errors import OptionError
from .export import atomic_output
from .render import blocks_word, config_label, main_counter, sweep_label, sweep_shared
from .report import Report, threads_label


def check_plotting(path: str | os.PathLike | None = None) -> None:
    """Raise an OptionError if matplotlib is not installed, or cannot write ``path``'s format."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise OptionError("plot", None if path is None else str(path), "needs matplotlib: pip install 'seprof[plot]' "
                          "(or pip install matplotlib)") from error
    if path is not None:
        from matplotlib.backend_bases import FigureCanvasBase

        formats = FigureCanvasBase.get_supported_filetypes()
        suffix = os.path.splitext(str(path))[1].lstrip(".").lower()
        if suffix not in formats:
            raise OptionError("plot", str(path), f"has the suffix {suffix!r}, not a picture format matplotlib "
                              f"writes; choose from {', '.join(sorted(formats))}")


def plot_report(report: Report, path: str | os.PathLike) -> None:
    """Write the report's picture to ``path`` (PNG, or any format matplotlib knows by the suffix), atomically.
    Latency bars are those of the first batch size."""
    check_plotting(path)
    with atomic_output(path) as tmp:
        figure_writer(report, path)(tmp)


def figure_writer(report: Report, path: str | os.PathLike) -> Callable[[str], None]:
    """A function that draws the report's picture into the file it is given, in the format of ``path``'s
    suffix (for writing through a temporary file)."""
    suffix = os.path.splitext(str(path))[1].lstrip(".").lower()  # check_plotting has checked it

    def write(target: str) -> None:
        _draw(report, target, suffix)

    return write


def _draw(report: Report, target: str, suffix: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shares = report.attribution()
    run = report.latency_runs[0] if report.latency_runs else None
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))

    stages = [a.stage for a in shares]
    series = [("parameters", [a.params_share for a in shares], None),
              ("pool + scale ops", [a.elementwise_share for a in shares], None)]
    if run is not None and shares and all(run.batch in a.latency_share for a in shares) and sum(
            a.latency_ms[run.batch][1] for a in shares) > 0:
        b = run.batch
        total = sum(a.latency_ms[b][1] for a in shares)
        # the CI of each stage's median delta, on the share scale; clamped at 0 where the bootstrap interval
        # of a tiny sample does not straddle the median
        errors = [[max(0.0, a.latency_share[b] - a.latency_ci[b][0] / total) for a in shares],
                  [max(0.0, a.latency_ci[b][1] / total - a.latency_share[b]) for a in shares]]
        series.append((f"latency added (batch {b}; 95% CI)", [a.latency_share[b] for a in shares], errors))
    width = 0.8 / len(series)
    for i, (label, values, errors) in enumerate(series):
        left.bar([s + (i - (len(series) - 1) / 2) * width for s in stages], [100 * v for v in values], width,
                 label=label, yerr=None if errors is None else [[100 * e for e in side] for side in errors],
                 capsize=3)
    left.axhline(0, color="grey", linewidth=0.8)
    left.set_xticks(stages, [f"stage {s}" for s in stages])
    left.set_ylabel("share of SE's total (%)")
    left.set_title(f"{report.model}: where SE's cost sits")
    left.legend()

    counter = main_counter(report)
    base = report.config("base")
    for c in report.configs:
        x = c.params_added_pct
        if run is None and counter is not None:  # no latency: the MACs each configuration adds
            y = 100 * (c.macs[counter] - base.macs[counter]) / base.macs[counter]
            right.plot([x], [y], "o")
            right.annotate(config_label(c), (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
        elif c.latency is not None:
            y, (lo, hi) = c.latency.ratio[1], c.latency.ratio_ci
            below, above = (max(0.0, y - lo), max(0.0, hi - y)) if c.config != "base" else (0.0, 0.0)
            right.errorbar([x], [y], yerr=[[below], [above]], fmt="o", capsize=4)
            right.annotate(config_label(c), (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    bandwidth = run.setup.get("bandwidth_gbs") if run is not None else None
    if bandwidth:  # the memory floor: base latency plus the least time SE's traffic can take
        base_ms = run.latency["base"].median_ms
        floors = [(c.params_added_pct, 1 + floor_ms(report.traffic_bytes(c.config, run.batch, run.setup["dtype"]),
                                                    bandwidth) / base_ms) for c in report.configs if c.config != "base"]
        right.plot([x for x, _ in floors], [y for _, y in floors], linestyle="none", marker="_", markersize=16,
                   color="black", label=f"memory floor ({bandwidth:,.0f} GB/s copy)")
        right.legend(fontsize=8)
    right.axhline(0.0 if run is None else 1.0, color="grey", linewidth=0.8)
    right.margins(x=0.15, y=0.1)
    right.set_xlabel("parameters added (% of base)")
    if run is None:
        right.set_ylabel(f"MACs added (% of base, {counter}; batch 1)")
        right.set_title("latency not measured (--no-latency)", fontsize=9)
    else:
        right.set_ylabel("latency vs base (median paired ratio, 95% CI)")
        t = run.setup
        right.set_title(f"{t['mode']}, {t['device']} ({t['device_name']}), {t['dtype']}, batch {t['batch']}, "
                        f"{threads_label(t)}, {t['runs']} rounds", fontsize=9)
    fig.tight_layout()
    try:
        fig.savefig(target, format=suffix, dpi=120)
    finally:
        plt.close(fig)


def sweep_figure_writer(report: Report, path: str | os.PathLike) -> Callable[[str], None]:
    """Like ``figure_writer``, for a sweep: every configuration on the parameters-vs-latency plane (with the
    latency's 95% CI), or on the parameters-vs-MACs plane when latency was not measured."""
    suffix = os.path.splitext(str(path))[1].lstrip(".").lower()

    def write(target: str) -> None:
        _draw_sweep(report, target, suffix)

    return write


def _draw_sweep(report: Report, target: str, suffix: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = report.latency_runs[0] if report.latency_runs else None
    counter = main_counter(report)
    base = report.config("base")
    shared = sweep_shared(report)
    fig, ax = plt.subplots(figsize=(9, 6))
    for c in report.configs:
        x = c.params_added_pct
        if run is not None:
            lat = run.latency[c.config]
            y, (lo, hi) = lat.ratio[1], lat.ratio_ci
            below, above = (max(0.0, y - lo), max(0.0, hi - y)) if c.config != "base" and lo == lo else (0.0, 0.0)
            ax.errorbar([x], [y], yerr=[[below], [above]], fmt="o", capsize=3)
        elif counter is not None:
            y = 100 * (c.macs[counter] - base.macs[counter]) / base.macs[counter]
            ax.plot([x], [y], "o")
        else:
            continue
        ax.annotate(sweep_label(c, shared, blocks_word(report)), (x, y), textcoords="offset points", xytext=(5, 3),
                    fontsize=7)
    ax.set_xlabel("parameters added (% of base)")
    added = [c.params_added_pct for c in report.configs if c.params_added_pct > 0]
    if added and max(added) / min(added) > 100:  # kinds from ECA's few taps to eSE's C² per block: a log scale
        ax.set_xscale("symlog", linthresh=min(added))
        ax.set_xlabel("parameters added (% of base; logarithmic above the smallest, linear below)")
    if run is not None:
        t = run.setup
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_ylabel("latency vs base (median paired ratio, 95% CI)")
        ax.set_title(f"{report.model}: {t['mode']}, {t['device']} ({t['device_name']}), {t['dtype']}, batch "
                     f"{t['batch']}, {threads_label(t)}", fontsize=9)
    else:
        ax.set_ylabel(f"MACs added (% of base, {counter}); latency not measured")
        ax.set_title(f"{report.model}: parameters and MACs of each configuration", fontsize=9)
    ax.margins(x=0.15, y=0.1)
    fig.tight_layout()
    try:
        fig.savefig(target, format=suffix, dpi=120)
    finally:
        plt.close(fig)
