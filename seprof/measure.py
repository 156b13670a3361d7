"""One profile: build the configurations, count their parameters and MACs, time them, return a Report.

Configurations: "base" (no SE), "se" (SE at the chosen stages), and for each ``strip_stages`` request
"se_strip_<stages>" (the SE model with those stages' blocks removed, as in the paper's "~10% → ~4%").
Parameters are counted on each configuration's own model; MACs come from one pass of each counter over the
SE model (see ``counters``); latency from real models timed interleaved (see ``latency``).
"""

from __future__ import annotations

import copy
import platform
from typing import Callable, Sequence

import torch
from torch import nn

from . import __version__, checkpoint
from .accounting import SEWork, exact_params, hidden_channels, paper_params, percent, se_work
from .counters import COUNTER_NAMES, COUNTER_NOTES, count_all
from .latency import check_timing_options, ratio, resolve_device, time_models
from .models import build_model, default_input_shape
from .report import ConfigResult, Latency, Report, StageResult
from .stages import Site, StageMap, check_stages, find_sites, meta_clone
from .surgery import check_r, inject_sites, se_modules, strip


def num_params(model: nn.Module) -> int:
    """Number of parameters (shared ones once)."""
    return sum(p.numel() for p in model.parameters())


def config_name(strip_stages: Sequence[int]) -> str:
    """The name of the SE configuration with ``strip_stages`` removed ("se" when none)."""
    return "se_strip_" + "_".join(map(str, sorted(strip_stages))) if strip_stages else "se"


def _stage_results(
    config: str,
    stage_map: StageMap,
    model: nn.Module,
    counts: dict,
    r: int,
    bias: bool,
    scope_of: dict[str, str],
) -> list[StageResult]:
    present = {m.name: m for _, m in se_modules(model)}
    rows = []
    for info in stage_map.stages:
        with_se = [site for site in info.sites if site.name in present]
        rows.append(
            StageResult(
                config=config,
                stage=info.stage,
                resolution=info.resolution,
                blocks=info.blocks,
                channels=info.channels,
                hidden=tuple(hidden_channels(c, r) for c in info.channels),
                se=bool(with_se),
                analytic_paper=float(paper_params((s.channels for s in with_se), r)),
                analytic_exact=exact_params((s.channels for s in with_se), r, bias),
                measured=sum(num_params(present[s.name].se) for s in with_se),
                se_macs={k: sum(c.scope_macs[scope_of[s.name]] for s in with_se) for k, c in counts.items()},
                work=sum((se_work(s.channels, s.height, s.width, r, bias) for s in with_se), SEWork()),
            )
        )
    return rows


def profile(
    model: nn.Module | str,
    *,
    r: int = 16,
    stages: Sequence[int] | None = None,
    bias: bool = True,
    strip_stages: Sequence[Sequence[int]] = (),
    input_shape: Sequence[int] | None = None,
    batch: int = 1,
    device: str = "auto",
    latency: bool = True,
    runs: int = 20,
    warmup: int = 3,
    threads: int | None = None,
    on_sample: Callable[[], None] | None = None,
    save: str | None = None,
) -> Report:
    """Measure what SE costs in ``model``: parameters, MACs by three counters, and latency.

    Args:
        model: a supported model name (built with random weights) or an ``nn.Module`` (never modified).
        r: reduction ratio.
        stages: stages to put SE in (all when None).
        bias: SE FC layers with biases.
        strip_stages: extra configurations, each the SE model with these stages' SE removed; an empty
            sequence means the last stage that has SE (the paper's choice).
        input_shape: C×H×W (the model's default when None). MACs are per image; latency uses ``batch``.
        batch: batch size for latency.
        device: "auto", "cpu" or "cuda" for latency.
        latency: time the models (skipped when False).
        runs, warmup, threads: timing rounds, untimed calls per model, torch threads.
        on_sample: called after each timed sample (for progress display).
        save: write the SE model (random weights, the ones timed) to this checkpoint path.

    Returns:
        A Report with one ConfigResult per configuration and one StageResult per (configuration, stage).
    """
    if isinstance(model, str):
        name = model
        input_shape = tuple(input_shape or default_input_shape(name))
        meta_base = build_model(name, "meta")
    else:
        name = type(model).__name__
        input_shape = tuple(input_shape or (3, 224, 224))
        meta_base = meta_clone(model).eval()
    check_timing_options(runs=runs, warmup=warmup, batch=batch, threads=threads)
    target = resolve_device(device, check_available=latency)
    if not latency:
        target = None

    stage_map = find_sites(meta_base, input_shape)
    sites = stage_map.select(stages)
    se_stages = sorted({s.stage for s in sites})
    strip_stages = [sorted(set(removed)) or se_stages[-1:] for removed in strip_stages]
    for removed in strip_stages:
        check_stages(removed, se_stages, "SE is in stages")
    check_r(r, sites)

    meta_se = inject_sites(meta_base, sites, r=r, bias=bias)
    configs: dict[str, nn.Module] = {"base": meta_base, "se": meta_se}
    for removed in strip_stages:
        configs[config_name(removed)] = strip(meta_se, removed)

    scope_by_name = {m.name: f"{path}.se" for path, m in se_modules(meta_se)}
    counts = count_all(meta_se, input_shape, list(scope_by_name.values()))

    timings, setup = {}, None
    if target is not None or save is not None:
        real = _real_models(model, name, sites, r, bias, strip_stages, target or torch.device("cpu"))
        if target is not None:
            setup, timings = time_models(
                real, input_shape, batch=batch, device=target, runs=runs, warmup=warmup, threads=threads,
                on_sample=on_sample,
            )
        if save is not None:
            checkpoint.save(save, real["se"], name=name, r=r, bias=bias, stages=se_stages, input_shape=input_shape)

    base_params = num_params(meta_base)
    results, stage_rows = [], []
    for config, m in configs.items():
        present = {mod.name for _, mod in se_modules(m)}
        kept = [s for s in sites if s.name in present]
        absent = [scope_by_name[s.name] for s in sites if s.name not in present]
        params = num_params(m)
        lat = None
        if config in timings:
            t = timings[config]
            lat = Latency(t.median_ms, t.iqr_ms, t.runs, ratio(t, timings["base"]))
        results.append(
            ConfigResult(
                config=config,
                se_stages=tuple(sorted({s.stage for s in kept})),
                params=params,
                params_added=params - base_params,
                params_added_pct=percent(params - base_params, base_params),
                analytic_paper=float(paper_params((s.channels for s in kept), r)),
                analytic_exact=exact_params((s.channels for s in kept), r, bias),
                macs={k: c.without(absent) for k, c in counts.items()},
                latency=lat,
            )
        )
        stage_rows += _stage_results(config, stage_map, m, counts, r, bias, scope_by_name)

    return Report(
        model=name,
        input_shape=input_shape,
        r=r,
        bias=bias,
        base_params=base_params,
        configs=tuple(results),
        stages=tuple(stage_rows),
        counters={k: {"note": COUNTER_NOTES[k], "skipped": list(counts[k].skipped)} for k in COUNTER_NAMES},
        timing=None if setup is None else {**setup.__dict__},
        versions={
            "seprof": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    )


def _real_models(
    model: nn.Module | str,
    name: str,
    sites: Sequence[Site],
    r: int,
    bias: bool,
    strip_stages: Sequence[Sequence[int]],
    device: torch.device,
) -> dict[str, nn.Module]:
    """Initialised models for timing, on ``device``, in eval mode: base, SE, and each stripped variant."""
    if isinstance(model, str):
        base = build_model(name, "cpu")
    else:
        base = copy.deepcopy(model).eval()
    base = base.to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        se = inject_sites(base, sites, r=r, bias=bias)
    models = {"base": base, "se": se}
    for removed in strip_stages:
        models[config_name(removed)] = strip(se, removed)
    return models
