"""One profile: build the configurations, count their parameters and MACs, time them, return a Report.

Configurations: "base" (no SE), "se" (SE at the chosen stages), and for each ``strip_stages`` request
"se_strip_<stages>" (the SE model with those stages' blocks removed, as in the paper's "~10% → ~4%").
For a model with SE blocks of its own (EfficientNet, MobileNetV3, RegNetY, MaxViT) "se" is the model as
built, "base" the model with its SE blocks removed, and each SE block keeps its own hidden width.
Parameters are counted on each configuration's own model; MACs from each counter's pass over the model
without SE plus each distinct SE block counted on its own input (``counters.count_with_blocks``); latency
from real models timed interleaved (see ``latency``).
"""

from __future__ import annotations

import copy
import platform
from fractions import Fraction
from typing import Callable, Sequence

import torch
from torch import nn

from . import __version__, checkpoint
from .accounting import SEWork, fc_params, hidden_channels, percent, se_work
from .counters import COUNTER_NAMES, COUNTER_NOTES, count_with_blocks
from .latency import check_timing_options, delta, delta_ci, peak_memory, ratio, ratio_ci, resolve_device, time_models
from .models import build_model, default_input_shape
from .errors import ModelError, OptionError
from .report import ConfigResult, Latency, LatencyRun, Report, StageResult
from .stages import Site, StageMap, check_stages, find_sites, meta_clone
from .surgery import check_r, inject_sites, native_refusal, scope_of, se_at, strip_sites


def num_params(model: nn.Module) -> int:
    """Number of parameters (shared ones once)."""
    return sum(p.numel() for p in model.parameters())


def config_name(strip_stages: Sequence[int]) -> str:
    """The name of the SE configuration with ``strip_stages`` removed ("se" when none)."""
    return "se_strip_" + "_".join(map(str, sorted(strip_stages))) if strip_stages else "se"


def hidden_of(site: Site, r: int | None) -> int:
    """The SE hidden width at ``site``: the native block's own, or C // r."""
    return site.hidden if site.native else hidden_channels(site.channels, r)


def analytic(sites: Sequence[Site], r: int | None, bias: bool) -> tuple[Fraction, int]:
    """(paper formula, exact count) of the SE parameters at ``sites``.

    Paper: (2/r)·C² per block, FC weights only; a native block uses its own ratio C/hidden, i.e. 2·C·hidden.
    Exact: the real hidden width, with FC biases when present.
    """
    paper = sum(
        (Fraction(2 * s.channels * s.hidden) if s.native else Fraction(2 * s.channels * s.channels, r) for s in sites),
        Fraction(0),
    )
    exact = sum(fc_params(s.channels, hidden_of(s, r), s.bias if s.native else bias) for s in sites)
    return paper, exact


def _stage_results(
    config: str,
    stage_map: StageMap,
    model: nn.Module,
    counts: dict,
    r: int | None,
    bias: bool,
) -> list[StageResult]:
    rows = []
    for info in stage_map.stages:
        present = {s.name: se for s in info.sites if (se := se_at(model, s)) is not None}
        with_se = [s for s in info.sites if s.name in present]
        paper, exact = analytic(with_se, r, bias)
        rows.append(
            StageResult(
                config=config,
                stage=info.stage,
                resolution=info.resolution,
                blocks=info.blocks,
                channels=info.channels,
                hidden=tuple(hidden_of(s, r) for s in info.sites),
                se=bool(with_se),
                analytic_paper=float(paper),
                analytic_exact=exact,
                measured=sum(num_params(present[s.name]) for s in with_se),
                se_macs={k: sum(c.scope_macs[scope_of(s)] for s in with_se) for k, c in counts.items()},
                work=sum(
                    (se_work(s.channels, s.height, s.width, r, s.bias if s.native else bias, hidden_of(s, r))
                     for s in with_se),
                    SEWork(),
                ),
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
    batch: int | Sequence[int] = 1,
    device: str = "auto",
    latency: bool = True,
    runs: int | None = None,
    warmup: int = 3,
    threads: int | None = None,
    on_sample: Callable[[], None] | None = None,
    save: str | None = None,
    add_missing: bool = False,
    counters: Sequence[str] = COUNTER_NAMES,
    refuse_native: bool = False,
    explicit_r: bool = False,
    explicit_bias: bool = False,
    attribute: bool = False,
    mode: str = "infer",
    dtype: str = "float32",
    channels_last: bool = False,
    budget: float | None = None,
    memory: bool = False,
    compile: bool = False,
) -> Report:
    """Measure what SE costs in ``model``: parameters, MACs by up to three counters, and latency.

    Args:
        model: a torchvision model name, a factory ``package.module:function`` (built with random weights)
            or an ``nn.Module`` (never modified).
        r: reduction ratio of the SE blocks seprof adds (a model's own SE blocks keep their widths).
        stages: stages to put SE in (all when None); for a model with its own SE, the stages whose SE it
            keeps in the "se" configuration.
        bias: SE FC layers with biases.
        strip_stages: extra configurations, each the SE model with these stages' SE removed; an empty
            sequence means the last stage that has SE (the paper's choice).
        input_shape: C×H×W (the model's default when None). MACs are per image; latency uses ``batch``.
        batch: batch size for latency.
        device: "auto", "cpu" or "cuda" for latency.
        latency: time the models (skipped when False).
        runs, warmup, threads: timing rounds, untimed calls per model, torch threads (defaults: see
            ``latency.sampling`` and ``latency.default_threads``; ``runs`` without ``budget`` is exactly that
            many rounds, neither is at least 20 rounds, adaptive within 30 s).
        on_sample: called after each timed sample (for progress display).
        save: write the SE model (random weights, the ones timed) to this checkpoint path.
        add_missing: for a model with its own SE blocks, add seprof SE to its blocks without one; "base" is
            then the model as built.
        counters: which MAC counters to run ("fvcore", "thop", "torch").
        attribute: add one configuration per SE stage, "se_only_<s>" (SE in that stage alone), for the
            per-stage attribution of latency (``Report.attribution``).
        mode, dtype, channels_last, budget: how to time (see ``seprof.latency``); ``batch`` may be several
            batch sizes, each timed in its own interleaved run.
        memory: measure each configuration's peak memory per call (see ``latency.peak_memory``).
        compile: time ``torch.compile`` d models (compile time reported apart, see ``latency.time_models``).
        refuse_native: raise a ModelError for a model with its own SE (unless ``add_missing``), as ``inject``
            does; otherwise such a model is measured against itself without SE.
        explicit_r, explicit_bias: ``r`` / ``bias`` were chosen by the user (an error for a model whose own
            SE blocks keep their widths and biases).

    Returns:
        A Report with one ConfigResult per configuration and one StageResult per (configuration, stage).
    """
    if isinstance(model, str):
        name = model
        input_shape = tuple(input_shape or default_input_shape(name))
        built = build_model(name, "meta")
        probe = default_input_shape(name)
    else:
        name = type(model).__name__
        input_shape = tuple(input_shape or (3, 224, 224))
        built = meta_clone(model).eval()
        probe = None
    batches = [batch] if isinstance(batch, int) else list(batch)
    target = resolve_device(device, check_available=latency)
    check_timing_options(runs, warmup, batches, threads, mode, dtype, budget, target)
    if not latency:
        for given, option in ((compile, "--compile"), (memory, "--memory"), (budget is not None, "--budget"),
                              (runs is not None, "--runs"), (threads is not None, "--threads"),
                              (mode != "infer", "--mode"), (dtype != "float32", "--dtype"),
                              (channels_last, "--channels-last"), (len(batches) > 1, "--batch with several sizes")):
            if given:
                raise OptionError(f"{option} applies to timing, which --no-latency turns off: drop one of them")
    if not latency:
        target = None

    found = find_sites(built, input_shape, probe)
    native = bool(found.native) and not add_missing
    if native:
        if refuse_native:
            raise native_refusal(name, found)
        for given, option in ((explicit_r, f"--r {r}"), (explicit_bias, "--bias/--no-bias"), (save, "--save")):
            if given:
                raise OptionError(
                    f"{option} applies to SE that seprof adds: {name}'s own SE blocks keep their widths and "
                    "biases (use --add-missing to add SE to its blocks without one)"
                )
        stage_map = found.native_map()
        sites = stage_map.select(stages)
        meta_base = strip_sites(built, stage_map.sites, share=True)
        meta_se = built if len(sites) == len(stage_map.sites) else strip_sites(
            built, set(stage_map.sites) - set(sites), share=True)
        r_used, bias = None, all(s.bias for s in sites)
    else:
        if add_missing and not found.sites:
            raise ModelError(f"every block of {name} that seprof knows already has an SE block of its own")
        stage_map = StageMap(found.input_shape, found.sites)
        sites = stage_map.select(stages)
        check_r(r, sites)
        meta_base, meta_se, r_used = built, inject_sites(built, sites, r=r, bias=bias, share=True), r
    se_stages = sorted({s.stage for s in sites})
    strip_stages = [sorted(set(removed)) or se_stages[-1:] for removed in strip_stages]
    for removed in strip_stages:
        check_stages(removed, se_stages, "SE is in stages")

    kept_by_config: dict[str, list[Site]] = {"base": [], "se": list(sites)}
    for removed in strip_stages:
        kept_by_config[config_name(removed)] = [s for s in sites if s.stage not in removed]
    if attribute:
        for stage in se_stages:
            kept_by_config[f"se_only_{stage}"] = [s for s in sites if s.stage == stage]
    configs: dict[str, nn.Module] = {"base": meta_base, "se": meta_se}
    for config, kept in kept_by_config.items():
        if config not in configs:
            configs[config] = strip_sites(meta_se, [s for s in sites if s not in kept], share=True)

    blocks = [(scope_of(s), se_at(meta_se, s), s.feature_shape) for s in sites]
    counts = count_with_blocks(meta_base, input_shape, blocks, counters)

    runs_by_batch: list[LatencyRun] = []
    if target is not None or save is not None:
        real = _real_models(model, name, stage_map, sites, native, r, bias, kept_by_config,
                            target or torch.device("cpu"))
        if save is not None:  # before timing: train-mode passes would move BN statistics, channels-last strides
            checkpoint.save(save, real["se"], name=name, r=r, bias=bias, stages=se_stages, input_shape=input_shape,
                            add_missing=add_missing and bool(found.native))
        if target is not None:
            for b in batches:
                try:
                    setup, timings = time_models(
                        real, input_shape, batch=b, device=target, runs=runs, warmup=warmup, threads=threads,
                        on_sample=on_sample, mode=mode, dtype=dtype, channels_last=channels_last, budget=budget,
                        compile=compile,
                    )
                    peaks = {c: peak_memory(m, input_shape, b, target, mode, dtype, channels_last)
                             for c, m in real.items()} if memory else {}
                except (RuntimeError, ValueError, AssertionError) as error:
                    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                    raise ModelError(f"{name} failed while timing ({mode} mode, batch {b}, {dtype}): {reason}") from error
                runs_by_batch.append(LatencyRun(b, {**setup.__dict__}, {
                    c: Latency(t.median_ms, t.iqr_ms, t.runs, ratio(t, timings["base"]), ratio_ci(t, timings["base"]),
                               delta(t, timings["base"]), peaks.get(c), delta_ci(t, timings["base"]))
                    for c, t in timings.items()
                }))

    base_params = num_params(meta_base)
    results, stage_rows = [], []
    for config, m in configs.items():
        kept = [s for s in sites if se_at(m, s) is not None]
        absent = [scope_of(s) for s in sites if se_at(m, s) is None]
        params = num_params(m)
        paper, exact = analytic(kept, r_used, bias)
        lat = runs_by_batch[0].latency[config] if runs_by_batch else None
        results.append(
            ConfigResult(
                config=config,
                se_stages=tuple(sorted({s.stage for s in kept})),
                params=params,
                params_added=params - base_params,
                params_added_pct=percent(params - base_params, base_params),
                analytic_paper=float(paper),
                analytic_exact=exact,
                macs={k: c.without(absent) for k, c in counts.items()},
                latency=lat,
            )
        )
        stage_rows += _stage_results(config, stage_map, m, counts, r_used, bias)

    return Report(
        model=name,
        input_shape=input_shape,
        r=r_used,
        bias=bias,
        base_params=base_params,
        configs=tuple(results),
        stages=tuple(stage_rows),
        counters={k: {"note": COUNTER_NOTES[k], "skipped": list(counts[k].skipped)} for k in counts},
        timing=runs_by_batch[0].setup if runs_by_batch else None,
        versions={
            "seprof": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        native=native,
        add_missing=add_missing and bool(found.native),
        latency_runs=tuple(runs_by_batch),
    )


def _real_models(
    model: nn.Module | str,
    name: str,
    stage_map: StageMap,
    sites: Sequence[Site],
    native: bool,
    r: int,
    bias: bool,
    kept_by_config: dict[str, list[Site]],
    device: torch.device,
) -> dict[str, nn.Module]:
    """Initialised models for timing, on ``device``, in eval mode: one per configuration."""
    if isinstance(model, str):
        built = build_model(name, "cpu")
    else:
        built = copy.deepcopy(model).eval()
    built = built.to(device)
    if native:
        base = strip_sites(built, stage_map.sites)
        se = built if len(sites) == len(stage_map.sites) else strip_sites(built, set(stage_map.sites) - set(sites))
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            base, se = built, inject_sites(built, sites, r=r, bias=bias)
    models = {"base": base, "se": se}
    for config, kept in kept_by_config.items():
        if config not in models:
            models[config] = strip_sites(se, [s for s in sites if s not in kept])
    return models
