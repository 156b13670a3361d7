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

import os
import platform
from fractions import Fraction
from typing import Callable, Sequence

import torch
from torch import nn

from . import __version__, checkpoint
from .accounting import SEWork, fc_params, hidden_channels, percent, se_work
from .counters import COUNTER_NAMES, COUNTER_NOTES, Count, check_counters, count_with_blocks
from .errors import ModelError, OptionError, first_line
from .latency import (check_timing_options, delta, delta_ci, device_name, free_memory, peak_memory, ratio, ratio_ci,
                      resolve_device, time_models)
from .models import build_model, default_input_shape, is_factory
from .options import Device, Dtype, Mode, refuse_timing_options
from .text import stage_list
from .report import ConfigResult, Latency, LatencyRun, Report, StageResult
from .stages import Site, StageMap, check_stages, deep_copy, find_sites, largest_tensor, meta_clone
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
    device: str | Device = "auto",
    latency: bool = True,
    runs: int | None = None,
    warmup: int = 3,
    threads: int | None = None,
    on_sample: Callable[[], None] | None = None,
    save: str | os.PathLike | Callable[[dict], None] | None = None,
    add_missing: bool = False,
    counters: Sequence[str] = COUNTER_NAMES,
    refuse_native: bool = False,
    explicit_r: bool = False,
    explicit_bias: bool = False,
    attribute: bool = False,
    mode: str | Mode = "infer",
    dtype: str | Dtype = "float32",
    channels_last: bool = False,
    budget: float | None = None,
    memory: bool = False,
    compile: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> Report:
    """Measure what SE costs in ``model``: parameters, MACs by up to three counters, and latency.

    Args:
        model: a torchvision model name, a factory ``package.module:function`` (called once, with random
            weights) or an ``nn.Module`` (never modified).
        r: reduction ratio of the SE blocks seprof adds (a model's own SE blocks keep their widths).
        stages: stages to put SE in (all when None); for a model with its own SE, the stages whose SE it
            keeps in the "se" configuration.
        bias: SE FC layers with biases.
        strip_stages: extra configurations, each the SE model with these stages' SE removed; an empty
            sequence means the last stage that has SE (the paper's choice).
        input_shape: C×H×W (the model's default when None). MACs are per image; latency uses ``batch``.
        batch: batch size for latency.
        device: "auto", "cpu" or "cuda" for latency (a ``latency.Device``).
        latency: time the models (skipped when False).
        runs, warmup, threads: timing rounds, untimed calls per model, torch threads (defaults: see
            ``latency.sampling`` and ``latency.default_threads``; ``runs`` without ``budget`` is exactly that
            many rounds, neither is at least 20 rounds, adaptive within 30 s).
        on_sample: called after each timed sample (for progress display).
        save: the SE model's checkpoint (random weights, the ones timed, taken before any timing): written
            to this path once everything else has succeeded, or, for a callable, passed to it as the dict
            ``seprof.checkpoint.write`` writes.
        add_missing: for a model with its own SE blocks, add seprof SE to its blocks without one; "base" is
            then the model as built.
        counters: which MAC counters to run ("fvcore", "thop", "torch").
        attribute: add one configuration per SE stage, "se_only_<s>" (SE in that stage alone), for the
            per-stage attribution of latency (``Report.attribution``).
        mode, dtype, channels_last, budget: how to time (see ``seprof.latency``); ``batch`` may be several
            batch sizes, each timed in its own interleaved run.
        memory: measure each configuration's peak memory per call (see ``latency.peak_memory``).
        compile: time ``torch.compile`` d models (compile time reported apart, see ``latency.time_models``).
        refuse_native: raise a NativeSEError for a model with its own SE (unless ``add_missing``), as
            ``inject`` does; otherwise such a model is measured against itself without SE.
        explicit_r, explicit_bias: ``r`` / ``bias`` were chosen by the user (an error for a model whose own
            SE blocks keep their widths and biases).
        on_step: called with a short description of each step as it starts ("counting (fvcore)").

    Returns:
        A Report with one ConfigResult per configuration and one StageResult per (configuration, stage).
    """
    step = on_step or (lambda text: None)
    batches = [batch] if isinstance(batch, int) else list(batch)
    if not latency:
        refuse_timing_options(batches, compile=compile, memory=memory, budget=budget, runs=runs, warmup=warmup,
                              threads=threads, mode=mode, dtype=dtype, channels_last=channels_last, device=device)
    target = resolve_device(device, check_available=latency)
    mode, dtype = (c.value for c in check_timing_options(runs, warmup, batches, threads, mode, dtype, budget, target))
    if not latency:
        target = None
    check_counters(counters)

    if isinstance(model, str):
        name = model
        input_shape = tuple(input_shape or default_input_shape(name))
        probe = default_input_shape(name)
        step(f"building {name}")
        if is_factory(name):  # a user's factory is called once; its model is copied, never rebuilt
            owned = build_model(name, "cpu")
            built = meta_clone(owned)
        else:
            owned, built = None, build_model(name, "meta")
    else:
        name = type(model).__name__
        input_shape = tuple(input_shape or (3, 224, 224))
        owned, built, probe = None, meta_clone(model).eval(), None

    step("finding SE sites")
    found = find_sites(built, input_shape, probe)
    native = bool(found.native) and not add_missing
    if add_missing and not found.native:
        raise OptionError("add_missing", True, f"applies to models with SE blocks of their own; {name} has none, "
                          "so every SE block is added anyway: drop it")
    if native:
        if refuse_native:
            raise native_refusal(name, found)
        for given, option, value in ((explicit_r, "r", r), (explicit_bias, "bias", bias), (save, "save", save)):
            if given:
                raise OptionError(option, value, f"applies to SE that seprof adds: {name}'s own SE blocks keep "
                                  "their widths and biases ({other} adds SE to its blocks without one)",
                                  other=("add_missing", True))
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
        if set(removed) >= set(se_stages):
            raise OptionError("strip_stages", removed, f"removes SE from every stage it is in ({stage_list(se_stages)}): "
                              "that is the base model; leave at least one stage with SE")

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

    if target is not None or save is not None or "fvcore" in counters:  # real tensors are coming
        built_for_real = len(configs) if target is not None or save is not None else 1  # fvcore: one copy
        _check_memory(meta_se, name, input_shape, batches if target is not None else [1], target, built_for_real,
                      dtype if target is not None else "float32")
    blocks = [(scope_of(s), se_at(meta_se, s), s.feature_shape) for s in sites]
    counts = _count(meta_base, name, input_shape, blocks, counters, step)

    runs_by_batch: list[LatencyRun] = []
    payload = None
    if target is not None or save is not None:
        step("building the models for timing" if target is not None else "building the SE model")
        real = _real_models(owned if owned is not None else model, name, stage_map, sites, native, r, bias,
                            kept_by_config, target or torch.device("cpu"))
        if save is not None:  # taken before timing: train-mode passes would move BN statistics
            payload = checkpoint.payload(real["se"], name=name, r=r, bias=bias, stages=se_stages,
                                         input_shape=input_shape, add_missing=add_missing and bool(found.native))
        if target is not None:
            for b in batches:
                step(f"timing batch {b}")
                runs_by_batch.append(_time(real, name, input_shape, b, target, mode, dtype, memory, dict(
                    runs=runs, warmup=warmup, threads=threads, on_sample=on_sample, channels_last=channels_last,
                    budget=budget, compile=compile)))

    report = _assemble(name, input_shape, configs, sites, stage_map, counts, r_used, bias, native,
                       add_missing and bool(found.native), runs_by_batch, target)
    if payload is not None:
        if callable(save):
            save(payload)
        else:
            checkpoint.write(save, payload)
    return report


def _check_memory(model: nn.Module, name: str, input_shape: Sequence[int], batches: Sequence[int],
                  target: torch.device | None, copies: int, dtype: str) -> None:
    """Refuse an input or batch whose real tensors cannot fit in the memory that is free, before any is made.

    A forward pass holds at least the weights of every model built (``copies``) and, at the largest op, its
    input and output (two bytes an element under float16/bfloat16 autocast, else four); when even that floor
    exceeds the free memory, the run would only end in an allocation failure (or the OOM killer)."""
    device = target or torch.device("cpu")
    free = free_memory(device)
    if free is None:
        return
    largest, op = largest_tensor(model, input_shape)
    if dtype != "float32":
        largest //= 2
    weights = copies * sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    shape = "x".join(map(str, input_shape))
    for b in sorted(set(batches)):
        need = weights + 2 * largest * b
        if need > free:
            at_one = weights + 2 * largest <= free  # the batch, not the input, is what does not fit
            option, value = ("batch", b) if b > 1 and at_one else ("input_shape", tuple(input_shape))
            raise OptionError(option, value, (
                f"is too large: {name} at input {shape}, batch {b}, needs at least {need / 2**30:,.1f} GiB "
                f"({op} alone makes a {largest * b / 2**30:,.1f} GiB tensor), and {device.type.upper()} memory has "
                f"{free / 2**30:,.1f} GiB free; use a smaller input or batch"))


def _count(model: nn.Module, name: str, input_shape: Sequence[int], blocks: list, counters: Sequence[str],
           step: Callable[[str], None]) -> dict[str, Count]:
    """Each counter's count of ``model`` with ``blocks``; a counter that fails is one ModelError."""
    counts = {}
    for counter in (c for c in COUNTER_NAMES if c in counters):
        step(f"counting ({counter})")
        try:
            counts.update(count_with_blocks(model, input_shape, blocks, (counter,)))
        except (RuntimeError, MemoryError) as error:
            shape = "x".join(map(str, input_shape))
            raise ModelError(f"{counter} could not count {name} at input {shape}: {first_line(error)}") from error
    return counts


def _time(real: dict[str, nn.Module], name: str, input_shape: Sequence[int], batch: int, target: torch.device,
          mode: str, dtype: str, memory: bool, options: dict) -> LatencyRun:
    """One interleaved timing run of every configuration at ``batch`` (and each one's peak memory)."""
    try:
        setup, timings = time_models(real, input_shape, batch=batch, device=target, mode=mode, dtype=dtype,
                                     **options)
        peaks = {c: peak_memory(m, input_shape, batch, target, mode, dtype, options["channels_last"])
                 for c, m in real.items()} if memory else {}
    except (RuntimeError, ValueError, AssertionError, MemoryError) as error:
        raise ModelError(f"{name} failed while timing ({mode} mode, batch {batch}, {dtype}): "
                         f"{first_line(error, with_type=False)}") from error
    base = timings["base"]
    return LatencyRun(batch, {**setup.__dict__}, {
        c: Latency(t.median_ms, t.iqr_ms, t.runs, ratio(t, base), ratio_ci(t, base), delta(t, base), peaks.get(c),
                   delta_ci(t, base))
        for c, t in timings.items()
    })


def _assemble(name, input_shape, configs, sites, stage_map, counts, r_used, bias, native, add_missing,
              runs_by_batch, target) -> Report:
    """The Report of the configurations' parameters, counts and timings."""
    base_params = num_params(configs["base"])
    results, stage_rows = [], []
    for config, m in configs.items():
        kept = [s for s in sites if se_at(m, s) is not None]
        absent = [scope_of(s) for s in sites if se_at(m, s) is None]
        params = num_params(m)
        paper, exact = analytic(kept, r_used, bias)
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
                latency=runs_by_batch[0].latency[config] if runs_by_batch else None,
            )
        )
        stage_rows += _stage_results(config, stage_map, m, counts, r_used, bias)
    return Report(
        model=name,
        input_shape=tuple(input_shape),
        r=r_used,
        bias=bias,
        base_params=base_params,
        configs=tuple(results),
        stages=tuple(stage_rows),
        counters={k: {"note": COUNTER_NOTES[k], "skipped": list(counts[k].skipped)} for k in counts},
        timing=runs_by_batch[0].setup if runs_by_batch else None,
        versions=environment(target),
        native=native,
        add_missing=add_missing,
        latency_runs=tuple(runs_by_batch),
    )


def environment(device: torch.device | None = None) -> dict[str, str]:
    """What produced a report: seprof and its libraries' versions, Python, the OS, the CPU (and the GPU
    it was timed on), read without importing anything new."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"seprof": __version__}
    for package in ("torch", "torchvision", "fvcore", "thop", "pandas", "typer", "rich"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    found["python"] = platform.python_version()
    found["os"] = platform.platform()
    found["cpu"] = device_name(torch.device("cpu"))
    if device is not None and device.type == "cuda":
        found["gpu"] = device_name(device)
    return found


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
        built = deep_copy(model).eval()
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
