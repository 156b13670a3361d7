"""One profile: plan the configurations, build them, count their parameters and MACs, time them, report.

``profile`` is a composition of five steps, each usable on its own:

- ``open_model``: the model as a ``Source`` (a meta-device copy for shapes and counts, real weights on demand);
- ``plan_profile`` / ``plan_sweep``: which configurations to measure, each a named set of attention blocks at
  sites (``Config``), e.g. "base" (no SE), "se" (SE at the chosen stages), "se_strip_<stages>" (the paper's
  "~10% → ~4%"), "se_only_<s>" (one stage's SE alone), or one per point of a sweep;
- ``build``: the configurations as models, on the meta device (sharing every untouched module) or real;
- ``count``: each counter's MACs, from one pass over the base model plus each distinct block on its own input;
- ``time_runs``: interleaved latency of the real models (see ``latency``), one run per batch size;
- ``assemble``: the Report.

For a model with SE blocks of its own (EfficientNet, MobileNetV3, RegNetY, MaxViT) "se" is the model as
built, "base" the model with its SE blocks removed, and each SE block keeps its own hidden width. With
``own_attention`` the same holds for its own attention of the table of kinds' (GC, CBAM, ...), whose parameters and
work come from the kinds' formulas with the knobs read off each module.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from . import __version__
from .accounting import SEWork, percent
from .counters import COUNTER_NAMES, COUNTER_NOTES, COUNTERS, Count, block_key, check_counters, count_all
from .errors import ModelError, OptionError, first_line
from .families import Call
from .harness import PLAIN, Harness
from .latency import (
    check_timing_options,
    delta,
    delta_ci,
    device_name,
    free_memory,
    graph_times,
    peak_memory,
    ratio,
    ratio_ci,
    resolve_device,
    time_models,
)
from .meta import deep_copy, kept_for_backward, largest_tensor, meta_clone, with_batchnorm
from .models import build_model, default_input_shape, harness_of, object_input, source_of
from .native import OwnAttention, TableBlock
from .options import TimingOptions
from .report import GIVEN_INPUT, ConfigResult, Latency, LatencyRun, Report, StageResult
from .spec import BlockSpec, Position, StageSet, block_spec
from .stages import Site, StageMap, attention_words, check_stages, find_sites
from .surgery import check_block, inject_sites, native_refusal, scope_of, se_at, strip_sites
from .text import stage_list, stage_set_text

Step = Callable[[str], None]
DEFAULT_TIMING = TimingOptions()  # ``profile``'s default, told apart from a TimingOptions() the caller passes


def _quiet(text: str) -> None:
    """The default ``on_step``: progress goes nowhere."""


def num_params(model: nn.Module) -> int:
    """Number of parameters (shared ones once)."""
    return sum(p.numel() for p in model.parameters())


def config_name(strip_stages: Sequence[int]) -> str:
    """The name of the SE configuration with ``strip_stages`` removed ("se" when none)."""
    return "se_strip_" + "_".join(map(str, sorted(strip_stages))) if strip_stages else "se"


@dataclass(frozen=True)
class Source:
    """A model to profile: its name, a meta-device copy (eval mode) and a way to get real weights.

    Attributes:
        name: the torchvision name, factory ``package.module:function``, or class name of a model object.
        meta: the model on the meta device, in eval mode; shared by every meta configuration, never changed.
        input_shape: C×H×W of one sample (C×T×H×W for video).
        probe: the input that numbers the stages (the model's usual one), or None for C×224×224.
        real: builds a fresh copy with weights, on the CPU, in eval mode.
        harness: how the model is run and where SE goes in it (``seprof.harness``).
        input_origin: where ``input_shape`` comes from, in words ("as given", "the evaluation crop of ...").
    """

    name: str
    meta: nn.Module
    input_shape: tuple[int, ...]
    probe: tuple[int, ...] | None
    real: Callable[[], nn.Module]
    harness: Harness = PLAIN
    input_origin: str = ""
    _found: dict[tuple[Position, bool], StageMap] = field(default_factory=dict, repr=False, compare=False)

    def sites(self, position: Position = Position.STANDARD, own_attention: bool = False) -> StageMap:
        """Where blocks can go for ``position``, and the model's own SE blocks (found once per position); with
        ``own_attention`` its own attention of the table of kinds' among them (``find_sites``)."""
        key = (position, own_attention)
        if key not in self._found:
            self._found[key] = find_sites(self.meta, self.input_shape, self.probe, position, self.harness,
                                          own_attention)
        return self._found[key]


def open_model(model: nn.Module | str, input_shape: Sequence[int] | None = None, on_step: Step = _quiet,
               heads: bool = False, harness: Harness | None = None) -> Source:
    """The model to profile, from a torchvision name, a factory (called once: its model is copied, never
    rebuilt) or an ``nn.Module`` (never modified). ``heads``: SE goes into a segmentation or detection
    model's heads too. ``harness``: how to run a model object that is a torchvision segmentation, detection
    or optical-flow model (``seprof.harness_of(name)``); a name brings its own."""
    name = model if isinstance(model, str) else type(model).__name__
    if harness is not None and isinstance(model, str):
        raise OptionError("harness", harness, f"applies to a model object; {model} brings its own")
    harness = harness_of(model) if isinstance(model, str) else harness or PLAIN
    if heads:
        harness = harness.including_heads(name)
    if not isinstance(model, str):
        own, said = object_input(model)
        return Source(name, meta_clone(model).eval(), tuple(input_shape or own), None,
                      lambda: deep_copy(model).eval(), harness, GIVEN_INPUT if input_shape else said)
    on_step(f"building {model}")
    origin = source_of(model)  # torchvision, timm or a factory
    said = GIVEN_INPUT if input_shape else origin.input_origin(model)
    probe = tuple(default_input_shape(model))
    shape = tuple(input_shape or probe)
    if origin.stages_follow_input and len(shape) != len(probe):  # a factory's model: the input given sets the stages
        probe = None
    elif len(shape) != len(probe):
        kind = "C×T×H×W (a video clip)" if len(probe) == 4 else "C×H×W"
        raise OptionError("input_shape", shape, f"is not {kind}, the input {model} takes, e.g. "
                          f"{'x'.join(map(str, probe))}")
    elif origin.built_for_input(model):  # built for the input given (ViT's image_size): its stages follow it
        probe = shape
    if origin.runs_user_code:  # called once: its model is copied, never rebuilt
        owned = build_model(model, "cpu", input_shape=shape)
        return Source(model, meta_clone(owned).eval(), shape, probe, lambda: deep_copy(owned).eval(), harness,
                      said)
    return Source(model, build_model(model, "meta", input_shape=shape), shape, probe,
                  lambda: build_model(model, "cpu", input_shape=shape), harness, said)



@dataclass(frozen=True)
class Config:
    """One configuration of the model: the attention blocks it has, and where.

    Attributes:
        name: "base", "se", "se_strip_5", "se_only_3", or a sweep point's name.
        sites: every site of its position (with a block or not): the rows of its stage table.
        block: the block seprof adds at ``added`` (None when it adds none).
        added: the sites seprof puts ``block`` at.
        kept: the model's own SE blocks it keeps; ``removed``: those it takes out.
        stage_set: the stages the configuration was asked for (None: all), for sweeps.
    """

    name: str
    sites: tuple[Site, ...]
    block: BlockSpec | None = None
    added: tuple[Site, ...] = ()
    kept: tuple[Site, ...] = ()
    removed: tuple[Site, ...] = ()
    stage_set: tuple[int, ...] | None = None

    @property
    def present(self) -> tuple[Site, ...]:
        """The sites that hold an attention block in this configuration, in model order."""
        return (*self.kept, *self.added)

    @property
    def se_stages(self) -> tuple[int, ...]:
        return tuple(sorted({s.stage for s in self.present}))

    def with_only(self, name: str, sites: Iterable[Site]) -> Config:
        """This configuration with blocks only at ``sites`` (a subset of its present ones)."""
        keep = set(sites)
        removed = (*self.removed, *(s for s in self.kept if s not in keep))
        return Config(name, self.sites, self.block, tuple(s for s in self.added if s in keep),
                      tuple(s for s in self.kept if s in keep), removed)


@dataclass(frozen=True)
class Plan:
    """Which configurations to measure, the first being the base model.

    Attributes:
        model, input_shape: what is measured.
        stage_map: the sites of the (first) position, or the model's own SE blocks when ``native``.
        native: the model's own SE blocks are measured (against the model without them).
        add_missing: seprof's blocks are added beside the model's own.
        own_attention: the model's own attention of the table of kinds' is measured with its SE blocks.
        block: the block of a single-block plan (None when native, or a sweep of several).
        configs: base first.
        harness: how the model is run (its source's).
        notes: what the plan itself needs said (a comparison left out, and why).
        input_origin: where ``input_shape`` comes from (the source's ``input_origin``).
    """

    model: str
    input_shape: tuple[int, ...]
    stage_map: StageMap
    native: bool
    add_missing: bool
    block: BlockSpec | None
    configs: tuple[Config, ...]
    harness: Harness = PLAIN
    notes: tuple[str, ...] = ()
    input_origin: str = ""
    own_attention: bool = False


def _site_map(source: Source, spec: BlockSpec, add_missing: bool) -> StageMap:
    """The sites seprof may add ``spec`` to, at the spec's position (a model's own SE blocks left out)."""
    found = source.sites(spec.position)
    if add_missing and not found.native:
        raise OptionError("add_missing", True, f"applies to models with SE blocks of their own; {source.name} has "
                          "none, so every SE block is added anyway: drop it")
    if add_missing and not found.sites:
        raise ModelError(f"every block of {source.name} that seprof knows already has an SE block of its own")
    if not found.sites:
        kinds = ", ".join(dict.fromkeys(s.attention.label for s in found.attention))
        raise ModelError(f"{source.name} has nowhere seprof can put SE outside its own attention ({kinds}, "
                         f"{len(found.attention)} modules; 'seprof stages {source.name}' lists them), and seprof "
                         "never places a block inside attention")
    return StageMap(found.input_shape, found.sites, attention=found.attention)


def plan_profile(
    source: Source,
    block: BlockSpec | None = None,
    stages: Sequence[int] | None = None,
    strip_stages: Sequence[Sequence[int]] = (),
    attribute: bool = False,
    add_missing: bool = False,
    asked: tuple[str, Any] | None = None,
    own_attention: bool = False,
) -> Plan:
    """The configurations of one profile: base, the SE model (``block`` at ``stages``, all when None), one
    per ``strip_stages`` entry (the SE model without those stages' blocks; an empty entry means the last SE
    stage, and none where SE is in one stage only) and, with ``attribute``, one per SE stage alone. For a model
    with its own SE blocks (unless ``add_missing``) ``block`` must be None: its blocks are measured as built, and
    a block is refused in the name of ``asked``, (parameter, value) the caller described it by (default: the
    first setting in which it differs from ``BlockSpec()``). ``own_attention``: the model's own attention of the
    table of kinds' (GC, CBAM, ...) is measured the same way, as built against the model without it."""
    if stages is not None and not list(stages):
        raise OptionError("stages", list(stages), "selects no stage: give None for every stage, or at least one")
    found = source.sites(own_attention=own_attention)  # the standard places tell whether the model has SE of its own
    if own_attention:
        _check_own_attention(source.name, found, add_missing)
    if found.native and not add_missing:
        if source.harness.with_heads:
            raise OptionError("heads", True, f"applies to SE that seprof adds: {source.name}'s own SE blocks are "
                              "measured as built, and its heads have none ({other} adds SE to its blocks without "
                              "one, heads included)", other=("add_missing", True))
        if block is not None:
            option, value = asked or next(iter(block.changes()), ("block", block.kind))
            if own_attention:
                raise OptionError(option, value, "applies to SE that seprof adds, and {other} measures "
                                  f"{source.name}'s own attention as built: give one of them",
                                  other=("own_attention", True))
            raise OptionError(option, value, f"applies to SE that seprof adds: {source.name}'s own SE blocks keep "
                              "their widths and biases ({other} adds SE to its blocks without one)",
                              other=("add_missing", True))
        stage_map = found.native_map()
        chosen = stage_map.select(stages)
        se = Config("se", stage_map.sites, kept=chosen, removed=tuple(s for s in stage_map.sites if s not in chosen))
        base = Config("base", stage_map.sites, removed=stage_map.sites)
    else:
        block = block or BlockSpec()
        stage_map = _site_map(source, block, add_missing)
        chosen = stage_map.select(stages)
        check_block(block, chosen)
        se = Config("se", stage_map.sites, block, added=chosen)
        base = Config("base", stage_map.sites)
    configs = [base, se]
    se_stages = se.se_stages
    notes = []
    for removed in strip_stages:
        if not removed and len(se_stages) < 2:  # the default, where no stage can go: base against SE alone
            notes.append(f"SE is in one stage only ({stage_list(se_stages)}): no configuration strips a stage, as "
                         "stripping it leaves the base model.")
            continue
        removed = sorted(set(removed)) or list(se_stages[-1:])
        check_stages(removed, se_stages, "SE is in stages")
        if set(removed) >= set(se_stages):
            raise OptionError("strip_stages", removed, f"removes SE from every stage it is in ({stage_list(se_stages)}"
                              "): that is the base model; leave at least one stage with SE")
        configs.append(se.with_only(config_name(removed), [s for s in se.present if s.stage not in removed]))
    if attribute:
        configs += [se.with_only(f"se_only_{stage}", [s for s in se.present if s.stage == stage])
                    for stage in se_stages]
    unique = {c.name: c for c in configs}
    return Plan(source.name, source.input_shape, stage_map, bool(found.native) and not add_missing, add_missing,
                block if se.added else None, tuple(unique.values()), source.harness, tuple(notes), source.input_origin,
                own_attention)


def _check_own_attention(name: str, found: StageMap, add_missing: bool) -> None:
    """Refuse ``own_attention`` beside ``add_missing``, and for a model with no attention of the table's kinds
    that seprof can strip and measure, saying what it has."""
    if add_missing:
        raise OptionError("own_attention", True, "measures the model's own attention against the model without it, "
                          "and {other} adds SE beside it: give one of them", other=("add_missing", True))
    if any(isinstance(s.own, TableBlock) for s in found.native):
        return
    if not found.native and not found.attention:
        raise OptionError("own_attention", True, f"finds no attention of {name}'s own: drop it, and seprof adds SE "
                          "to its blocks")

    def why(own: OwnAttention) -> str:
        return own.not_strippable or ("seprof's table of kinds has no formula for it (seprof.strip removes it, and "
                                      "it stays counted)")

    have = []
    if found.native:
        kinds = ", ".join(dict.fromkeys(s.attention.label for s in found.native))
        have.append(f"its SE-like attention ({kinds}) is measured without it")
    if found.attention:
        have.append(f"seprof cannot measure {'the rest' if found.native else 'its own attention'}, "
                    + attention_words(found.attention, why))
    raise OptionError("own_attention", True, f"adds nothing for {name} (drop it): {', and '.join(have)}")


def _stage_sets(requested: Sequence[Sequence[int] | StageSet | str | None], stages: Sequence[int]) -> list:
    """The stage sets a sweep asked for, with "each" expanded to one set per stage and "all" as None."""
    sets: list[tuple[int, ...] | None] = []
    for entry in requested:
        if entry is None or isinstance(entry, (str, StageSet)):
            word = StageSet.parse("stage_sets", entry or StageSet.ALL)
            found = [None] if word is StageSet.ALL else [(s,) for s in stages]
        elif isinstance(entry, (list, tuple)) and entry and all(
                isinstance(s, int) and not isinstance(s, bool) for s in entry):
            check_stages(entry, stages)
            found = [tuple(sorted(set(entry)))]
        else:
            raise OptionError("stage_sets", entry, "is not a stage set: give a list of stages (e.g. [4, 5]), "
                              "'all' or 'each'")
        for stage_set in found:
            if stage_set in sets:
                raise OptionError("stage_sets", stage_set_text(stage_set), "is asked for twice (each stage alone is "
                                  "in 'each'): give each stage set once")
            sets.append(stage_set)
    return sets


def plan_sweep(
    source: Source,
    blocks: Sequence[BlockSpec],
    stage_sets: Sequence[Sequence[int] | StageSet | str | None] = (None,),
    add_missing: bool = False,
) -> Plan:
    """The configurations of a sweep: base, then one per (block, stage set), named "<block slug>@<stages>"
    (e.g. "se_r16@all", "scse_r8_max@4"). Stage sets are lists of stages, "all" (or None) or "each" (one set
    per stage). A model with its own SE blocks takes part only with ``add_missing``."""
    if not blocks:
        raise OptionError("blocks", list(blocks), "is empty: give at least one block to sweep")
    maps: dict[Position, StageMap] = {}
    configs: list[Config] = []
    for spec in dict.fromkeys(blocks):
        if spec.position not in maps:
            found = source.sites(spec.position)
            if found.native and not add_missing:
                raise native_refusal(source.name, found)
            maps[spec.position] = _site_map(source, spec, add_missing)
        stage_map = maps[spec.position]
        for stage_set in _stage_sets(stage_sets, stage_map.stage_numbers):
            chosen = stage_map.select(stage_set)
            check_block(spec, chosen)
            configs.append(Config(f"{spec.slug}@{stage_set_text(stage_set)}", stage_map.sites, spec, chosen,
                                  stage_set=stage_set))
    first = next(iter(maps.values()))
    base = Config("base", first.sites)
    return Plan(source.name, source.input_shape, first, False, add_missing, None, (base, *configs), source.harness,
                input_origin=source.input_origin)


def build(source: Source, plan: Plan, device: torch.device | None = None) -> dict[str, nn.Module]:
    """Each configuration of ``plan`` as a model: on the meta device (``device`` None) sharing every module
    off the way to its sites, or with real weights on ``device``, in eval mode, one copy each (the added
    blocks initialised from seed 1, so configurations share their blocks' weights)."""
    model = source.meta if device is None else source.real().to(device).eval()
    share = device is None
    models = {}
    for config in plan.configs:
        built = strip_sites(model, config.removed, share=share) if config.removed else model
        if config.added:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(1)
                built = inject_sites(built, config.added, config.block, share=share)
        models[config.name] = built
    return models


def count(plan: Plan, models: dict[str, nn.Module], counters: Sequence[str] = COUNTER_NAMES,
          on_step: Step = _quiet) -> dict[str, dict[str, Count]]:
    """Each configuration's counts by each counter: the base model counted once, plus each distinct block
    (same kind, knobs, parameter shapes and input) counted once on its own input, under its scope. A block's
    work does not depend on the network around it, so this equals counting each model (tests check it)."""
    base = plan.configs[0].name
    counted = with_batchnorm(plan.harness.counted(models[base]))
    shape = plan.harness.traced_input(models[base], plan.input_shape)
    totals: dict[str, Count] = {}
    for counter in (c for c in COUNTER_NAMES if c in counters):
        on_step(f"counting ({counter})")
        totals.update(_counted(lambda counter=counter: count_all(counted, shape, (), (counter,)), counter, plan))
    cache: dict[tuple, dict[str, Count]] = {}
    result = {}
    for i, config in enumerate(plan.configs, 1):
        if len(plan.configs) > 3:
            on_step(f"counting blocks ({i} of {len(plan.configs)} configurations)")
        counts = dict(totals)
        for site in config.present:
            block = se_at(models[config.name], site)
            key = block_key(block, site.feature_shape)
            if key not in cache:
                cache[key] = _counted(lambda block=block, site=site: count_all(block, site.feature_shape, (), counters),
                                      "a counter", plan)
            counts = {name: c.plus(scope_of(site), cache[key][name].times(site.maps)) for name, c in counts.items()}
        result[config.name] = counts
    return result


def not_counted(harness: Harness, model: nn.Module, traced_shape: Sequence[int]) -> str:
    """What the counters leave out of a model whose shape-only passes trace one part (a detector's
    backbone), in words; "" when they trace the whole model."""
    if not harness.traced:
        return ""
    rest = [name for name, _ in model.named_children() if name not in (harness.traced, "transform")]
    return (f"counts cover the {harness.traced} only, at {'×'.join(map(str, traced_shape))} (what the transform "
            f"makes of the input); not counted: the transform, {', '.join(rest)} and post-processing "
            "(their work depends on the boxes found)")


def _counted(run: Callable[[], dict[str, Count]], counter: str, plan: Plan) -> dict[str, Count]:
    """A counter's result, or one ModelError when it fails."""
    try:
        return run()
    except (RuntimeError, MemoryError) as error:
        shape = "x".join(map(str, plan.input_shape))
        raise ModelError(f"{counter} could not count {plan.model} at input {shape}: {first_line(error)}") from error


def check_memory(plan: Plan, models: dict[str, nn.Module], timing: TimingOptions | None, target: torch.device | None,
                 copies: int) -> None:
    """Refuse an input or batch whose real tensors cannot fit in the memory that is free, before any is made.

    A forward pass holds at least the weights of every model built (``copies``) and, at the largest op, its
    input and output (two bytes an element under float16/bfloat16 autocast, else four). A training step holds at
    least the weights of every model, the gradients of all but the one stepping, the input batch and the
    activations its forward pass keeps for the backward pass (``kept_for_backward``, halved under autocast).
    When even that floor exceeds the free memory, the run would only end in an allocation failure (or the OOM
    killer)."""
    device = target or torch.device("cpu")
    free = free_memory(device)
    if free is None:
        return
    largest_model = max(models.values(), key=num_params)
    largest, op = largest_tensor(plan.harness.counted(largest_model),
                                 plan.harness.traced_input(largest_model, plan.input_shape))
    half = timing is not None and str(timing.dtype) != "float32"
    if half:
        largest //= 2
    weights = copies * sum(t.numel() * t.element_size() for t in [*largest_model.parameters(),
                                                                  *largest_model.buffers()])
    batches = sorted(set(timing.batch if timing is not None else (1,)))
    train = _train_floor(plan, largest_model, batches[-1], half, copies) if (
        timing is not None and str(timing.mode) == "train") else None
    shape = "x".join(map(str, plan.input_shape))
    for b in batches:
        need = weights + 2 * largest * b
        if need > free:
            at_one = weights + 2 * largest <= free  # the batch, not the input, is what does not fit
            option, value = ("batch", b) if b > 1 and at_one else ("input_shape", tuple(plan.input_shape))
            raise OptionError(option, value, (
                f"is too large: {plan.model} at input {shape}, batch {b}, needs at least {need / 2**30:,.1f} GiB "
                f"({op} alone makes a {largest * b / 2**30:,.1f} GiB tensor), and {device.type.upper()} memory has "
                f"{free / 2**30:,.1f} GiB free; use a smaller input or batch"))
        if train is None:
            continue
        fixed, per_sample = train
        if fixed + per_sample * b > free:
            option, value = ("batch", b) if b > 1 and fixed + per_sample <= free else (
                "input_shape", tuple(plan.input_shape))
            raise OptionError(option, value, (
                f"is too large: {plan.model} at input {shape}, batch {b}, needs at least "
                f"{(fixed + per_sample * b) / 2**30:,.1f} GiB in train mode ({per_sample * b / 2**30:,.1f} GiB of "
                f"input and activations kept for the backward pass, {fixed / 2**30:,.1f} GiB of weights and "
                f"gradients), and {device.type.upper()} memory has {free / 2**30:,.1f} GiB free; use a smaller "
                "input or batch"))


def _train_floor(plan: Plan, model: nn.Module, batch: int, half: bool, copies: int) -> tuple[int, float] | None:
    """(bytes, bytes per sample) a training step of ``copies`` models like ``model`` holds at least when the
    stepping model's forward pass ends: the weights of all and gradients of all but one; the input and the
    activations kept for the backward pass, from a meta-device pass at ``batch`` (a per-sample share that is
    never more than a smaller batch's). None when that pass fails, as some models do at shapes their real
    run refuses in its own words."""
    clone = meta_clone(model).train()
    try:
        kept = kept_for_backward(plan.harness.runnable(clone), plan.input_shape, batch)
    except Exception:  # noqa: BLE001 - the real run reports the model's own error
        return None
    if half:
        kept //= 2
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(t.numel() * t.element_size() for t in model.buffers())
    sample = math.prod(plan.input_shape) * 4  # the random batch is float32
    return copies * (params + buffers) + (copies - 1) * params, sample + kept / batch


def time_runs(plan: Plan, models: dict[str, nn.Module], timing: TimingOptions, target: torch.device,
              on_step: Step = _quiet, on_sample: Callable[[], None] | None = None) -> list[LatencyRun]:
    """One interleaved timing run of every configuration per batch size (and each one's peak memory)."""
    runs = []
    mode, dtype = str(timing.mode), str(timing.dtype)
    models = {name: plan.harness.runnable(model) for name, model in models.items()}
    for batch in timing.batch:
        on_step(f"timing batch {batch}")
        try:
            setup, timings = time_models(
                models, plan.input_shape, batch=batch, device=target, runs=timing.runs, warmup=timing.warmup,
                threads=timing.threads, on_sample=on_sample, mode=mode, dtype=dtype,
                channels_last=timing.channels_last, budget=timing.budget, compile=timing.compile)
            graphs, device = graph_times(models, plan.input_shape, batch, target, mode, dtype, timing.channels_last,
                                         timing.compile)
            peaks = {c: peak_memory(m, plan.input_shape, batch, target, mode, dtype, timing.channels_last)
                     for c, m in models.items()} if timing.memory else {}
        except (RuntimeError, ValueError, AssertionError, MemoryError) as error:
            raise ModelError(f"{plan.model} failed while timing ({mode} mode, batch {batch}, {dtype}): "
                             f"{first_line(error, with_type=False)}") from error
        base = timings[plan.configs[0].name]
        device_base = device[plan.configs[0].name] if device else None
        runs.append(LatencyRun(batch, {**setup.__dict__, "graphs": graphs}, {
            c: Latency(t.median_ms, t.iqr_ms, t.runs, ratio(t, base), ratio_ci(t, base), delta(t, base), peaks.get(c),
                       delta_ci(t, base), device[c].median_ms if device else None,
                       delta(device[c], device_base)[1] if device else None)
            for c, t in timings.items()
        }))
    return runs


def _hidden(site: Site, spec: BlockSpec | None) -> int | None:
    """The hidden width at ``site``: the native block's own, or the spec's (None for sSE)."""
    return site.hidden if site.native else spec.hidden(site.channels)


def analytic(sites: Sequence[Site], spec: BlockSpec | None) -> tuple[Fraction, int]:
    """(papers' formula, exact count) of the block parameters at ``sites``: ``spec``'s blocks, or for native
    sites the model's own (paper: 2·C·hidden, its own ratio C/hidden; exact: with its biases)."""
    paper, exact = Fraction(0), 0
    for s in sites:
        if s.native:
            paper += s.own.weights
            exact += s.own.params
        else:
            paper += spec.paper_params(s.channels)
            exact += spec.params(s.channels)
    return paper, exact


def _weights(sites: Sequence[Site], spec: BlockSpec | None) -> int:
    """The block parameters at ``sites`` without their biases."""
    return sum(s.own.weights if s.native else spec.weights(s.channels) for s in sites)


def _work(site: Site, spec: BlockSpec | None) -> SEWork:
    if site.native:
        return site.own.work_on(site.resolution).times(site.maps)
    return site_work(spec, site).times(site.maps)


def site_work(spec: BlockSpec, site: Site) -> SEWork:
    """The work of ``spec``'s block at ``site``, on the map it sees: seprof's kinds over the site's positions; a
    timm kind as ``ChannelsFirst`` runs it (tokens as a 1×L map; video whole, as a (T·H)×W map, or frame by
    frame for a kind that gates positions)."""
    if spec.kind.seprof:
        return spec.work(site.channels, site.positions, 1)
    if site.layout == "tokens":
        return spec.work(site.channels, 1, site.height)
    frames = site.frames or 1
    if spec.kind.entry.needs_grid:
        return spec.work(site.channels, site.height, site.width).times(frames)
    return spec.work(site.channels, frames * site.height, site.width)


def _stage_results(config: Config, model: nn.Module, counts: dict[str, Count]) -> list[StageResult]:
    present = set(config.present)
    rows = []
    for stage in sorted({s.stage for s in config.sites}):
        sites = [s for s in config.sites if s.stage == stage]
        with_se = [s for s in sites if s in present]
        paper, exact = analytic(with_se, config.block)
        hidden = tuple(h for s in sites if (h := _hidden(s, config.block)) is not None) if (
            config.block is not None or any(s.native for s in sites)) else ()
        rows.append(StageResult(
            config=config.name,
            stage=stage,
            resolution=sites[0].resolution,
            resolutions=tuple(dict.fromkeys(s.resolution for s in sites)),
            blocks=len(sites),
            channels=tuple(s.channels for s in sites),
            hidden=hidden,
            se=bool(with_se),
            analytic_paper=float(paper),
            analytic_exact=exact,
            measured=sum(num_params(se_at(model, s)) for s in with_se),
            se_macs={k: sum(c.scope_macs[scope_of(s)] for s in with_se) for k, c in counts.items()},
            work=sum((_work(s, config.block) for s in with_se), SEWork()),
            bias_params=exact - _weights(with_se, config.block),
        ))
    return rows


def assemble(plan: Plan, models: dict[str, nn.Module], counts: dict[str, dict[str, Count]],
             runs: Sequence[LatencyRun] = (), target: torch.device | None = None) -> Report:
    """The Report of the configurations' parameters, counts and timings (``models`` on any device)."""
    base_params = num_params(models[plan.configs[0].name])
    results, stage_rows = [], []
    for config in plan.configs:
        model = models[config.name]
        params = num_params(model)
        paper, exact = analytic(config.present, config.block)
        results.append(ConfigResult(
            config=config.name,
            se_stages=config.se_stages,
            params=params,
            params_added=params - base_params,
            params_added_pct=percent(params - base_params, base_params),
            analytic_paper=float(paper),
            analytic_exact=exact,
            macs={k: c.macs for k, c in counts[config.name].items()},
            latency=runs[0].latency[config.name] if runs else None,
            block=config.block if config.added else None,
            stage_set=config.stage_set,
        ))
        stage_rows += _stage_results(config, model, counts[config.name])
    any_counts = counts[plan.configs[0].name]
    spec = plan.block
    return Report(
        model=plan.model,
        input_shape=tuple(plan.input_shape),
        r=spec.r if spec is not None and spec.kind.channel else None,
        bias=_bias(plan),
        base_params=base_params,
        configs=tuple(results),
        stages=tuple(stage_rows),
        counters={k: {"note": COUNTER_NOTES[k], "unit": COUNTERS[k].unit, "skipped": list(_skipped(counts, k))}
                  for k in any_counts},
        timing=runs[0].setup if runs else None,
        versions=environment(target),
        native=plan.native,
        add_missing=plan.add_missing,
        latency_runs=tuple(runs),
        block=spec,
        notes=run_notes(plan.model, plan.harness, models[plan.configs[0].name], plan.input_shape, plan.stage_map)
        + plan.notes + ((attention_note(plan.model, plan.stage_map),) if plan.stage_map.attention else ()),
        sample="clip" if len(plan.input_shape) == 4 else "frame pair" if plan.harness.call is Call.PAIR else "image",
        native_blocks=tuple(dict.fromkeys(f"{s.own.cls} ({s.own.kind})" for c in plan.configs for s in c.kept)),
        input_origin=plan.input_origin,
        own_attention=tuple(asdict(row) for row in plan.stage_map.attention_rows()),
        own_kinds=tuple(dict.fromkeys(str(s.own.kind) for c in plan.configs for s in c.kept)) if plan.own_attention
        else (),
    )


def run_notes(name: str, harness: Harness, model: nn.Module, input_shape: Sequence[int],
              stage_map: StageMap) -> tuple[str, ...]:
    """How the model is run, where it is not simply called on one input tensor, in sentences."""
    notes = []
    if harness.float_note:
        notes.append(f"{name} is {harness.float_note}.")
    if harness.counterpart_name:
        notes.append(f"Stages are numbered as in {harness.counterpart_name}, the classifier its backbone comes from "
                     "(a dilated stage keeps its number at a finer stride).")
    if harness.traced:
        shape = harness.traced_input(model, input_shape)
        notes.append(f"MACs: {not_counted(harness, model, shape)}. Parameters are the whole model's; latency "
                     "times the whole model in eval mode on random images, post-processing included.")
    if harness.call is Call.PAIR:
        notes.append("Input: two frames, the same random frame twice (RAFT's 12 flow updates cost the same "
                     "whatever the frames hold).")
    if harness.with_heads:
        head = [s for s in stage_map.sites if s.head]
        present = [h for h in harness.heads if any(s.path.startswith(h + ".") for s in head)]
        notes.append(f"Heads: stage {head[0].stage} holds the {len(head)} sites in {', '.join(present)}." if head else
                     f"Heads: none of {', '.join(harness.heads)} has a site (a conv unit over more than 1×1).")
    return tuple(notes)


def attention_note(name: str, stage_map: StageMap) -> str:
    """The model's own attention that seprof counts, in one sentence: what, how many, their parameters, where."""
    kinds: dict[str, list] = {}
    for row in stage_map.attention_rows():
        kinds.setdefault(f"{row.cls} ({row.kind})", []).append(row)
    each = [f"{sum(r.modules for r in rows)} {label} in stage{'s' if len(rows) > 1 else ''} "
            f"{stage_list(r.stage for r in rows)}, {sum(r.params for r in rows):,} parameters "
            f"{'by its formula' if all(r.formula for r in rows) else 'counted'}"
            for label, rows in kinds.items()]
    return (f"Its own attention, neither entered nor measured: {'; '.join(each)}. 'seprof stages {name}' lists it by "
            "stage.")


def site_notes(source: Source, stage_map: StageMap) -> tuple[str, ...]:
    """``run_notes`` for a source's model."""
    return run_notes(source.name, source.harness, source.meta, source.input_shape, stage_map)


def _bias(plan: Plan) -> bool | None:
    """Whether the blocks have biases: the plan's block's, every native block measured, or every sweep
    point's (None where the points differ)."""
    if plan.block is not None:
        return plan.block.bias if plan.block.kind.seprof else None  # a timm kind's biases are among its knobs
    if plan.own_attention:  # the table's kinds have biases by their own knobs
        return None
    if plan.native:
        return all(s.bias for c in plan.configs for s in c.kept)
    biases = {c.block.bias for c in plan.configs if c.block is not None and c.block.kind.seprof}
    return biases.pop() if len(biases) == 1 else None


def _skipped(counts: dict[str, dict[str, Count]], counter: str) -> tuple[str, ...]:
    """What ``counter`` did not count in the configuration with the most blocks (every op kind any has)."""
    richest = max(counts.values(), key=lambda c: len(c[counter].scope_macs))
    return richest[counter].skipped


def measure(source: Source, plan: Plan, timing: TimingOptions | None = None, counters: Sequence[str] = COUNTER_NAMES,
            on_step: Step = _quiet, on_sample: Callable[[], None] | None = None,
            on_real: Callable[[dict[str, nn.Module]], None] | None = None) -> Report:
    """Build, count, time (unless ``timing`` is None) and assemble ``plan``. ``on_real`` is given the real
    models, before any is timed (they are built for it even without timing)."""
    check_counters(counters)
    target = resolve_device(timing.device) if timing is not None else None
    if timing is not None:
        check_timing_options(timing.runs, timing.warmup, list(timing.batch), timing.threads, timing.mode,
                             timing.dtype, timing.budget, target)
        if str(timing.mode) == "train" and not plan.harness.trains:
            raise OptionError("mode", timing.mode, f"needs a model that trains on images alone: {plan.model} "
                              f"({plan.harness.task}) takes targets in train mode; time it in infer mode")
        small = min(timing.batch)
        if str(timing.mode) == "train" and small < plan.harness.train_batch:
            raise OptionError("batch", small, f"is too small to time {plan.model} in train mode: its ASPP head "
                              "normalises a pooled 1×1 map with BatchNorm, which needs more than one value per "
                              f"channel; use a batch of {plan.harness.train_batch} or more")
    on_step(f"building {len(plan.configs)} configurations")
    meta = build(source, plan)
    if timing is not None or on_real is not None or "fvcore" in counters:  # real tensors are coming
        copies = len(plan.configs) if timing is not None or on_real is not None else 1  # fvcore: one copy
        check_memory(plan, meta, timing, target, copies)
    counts = count(plan, meta, counters, on_step)
    runs: list[LatencyRun] = []
    if timing is not None or on_real is not None:
        on_step("building the models for timing" if timing is not None else "building the SE model")
        real = build(source, plan, target or torch.device("cpu"))
        if on_real is not None:  # before timing: train-mode passes would move BN statistics
            on_real(real)
        if timing is not None:
            runs = time_runs(plan, real, timing, target, on_step, on_sample)
    return assemble(plan, meta, counts, runs, target)


def profile(
    model: nn.Module | str,
    block: BlockSpec | str | None = None,
    *,
    r: int | None = None,
    bias: bool | None = None,
    stages: Sequence[int] | None = None,
    strip_stages: Sequence[Sequence[int]] = (),
    attribute: bool = False,
    input_shape: Sequence[int] | None = None,
    timing: TimingOptions | None = DEFAULT_TIMING,
    counters: Sequence[str] = COUNTER_NAMES,
    add_missing: bool = False,
    heads: bool = False,
    harness: Harness | None = None,
    refuse_native: bool = False,
    own_attention: bool = False,
    on_step: Step | None = None,
    on_sample: Callable[[], None] | None = None,
    on_real: Callable[[dict[str, nn.Module]], None] | None = None,
    **timing_options,
) -> Report:
    """Measure what attention blocks cost in ``model``: parameters, MACs by up to three counters, latency.

    Args:
        model: a torchvision model name, a factory ``package.module:function`` (called once, with random
            weights) or an ``nn.Module`` (never modified).
        block: the block and its position: a ``BlockSpec``, or a kind ("se", "cse", "sse", "scse", or one of
            timm's, "eca", "cbam", ..., as ``seprof blocks`` lists them, its knobs in ``BlockSpec.knobs``); SE with
            the paper's settings by default. Not for a model's own SE blocks, which are measured as built.
        r, bias: the reduction ratio and FC biases, replacing ``block``'s.
        stages: stages to put blocks in (all when None); for a model with its own SE, the stages whose SE it
            keeps in the "se" configuration.
        strip_stages: extra configurations, each the SE model with these stages' blocks removed; an empty
            sequence means the last stage that has SE (the paper's choice).
        attribute: add one configuration per SE stage, "se_only_<s>" (SE in that stage alone), for the
            per-stage attribution of latency (``Report.attribution``).
        input_shape: C×H×W, or C×T×H×W for video (the model's usual input when None). MACs are per sample
            (image or clip); latency per batch.
        timing: how to time (``TimingOptions``), or None to skip timing.
        counters: which MAC counters to run ("fvcore", "thop", "torch").
        add_missing: for a model with its own SE blocks, add seprof's to its blocks without one; "base" is
            then the model as built.
        heads: also put blocks into a segmentation or detection model's heads (a stage of their own).
        harness: for a model object that is a torchvision segmentation, detection, video-token or
            optical-flow model, how to run it: ``seprof.harness_of("fcn_resnet50")`` (a name brings its own).
        refuse_native: for a model with its own SE blocks (and no ``add_missing``), raise a NativeSEError
            (as ``seprof inject`` does) instead of measuring them as built.
        own_attention: measure the model's own attention of the table of kinds' (timm's GC, CBAM, coordinate
            attention, ...: an add-on to its block) as its own SE blocks are measured: the model as built ("se")
            against the model without it ("base"), parameters and work by each kind's formula with the knobs read
            off each module. Refused for a model without such attention (SK and SplitAttn are their blocks'
            convs, and stay listed), and beside ``add_missing`` or ``refuse_native``.
        on_step: called with a short description of each step as it starts ("counting (fvcore)").
        on_sample: called after each timed sample (for progress display).
        on_real: given the configurations' real models (name → module, on the timing device or the CPU)
            before any is timed, e.g. to save the SE model; they are built for it even without timing.
        **timing_options: seprof 0.4's separate timing arguments (``latency=False``, ``batch``, ``device``,
            ``runs``, ``warmup``, ``threads``, ``mode``, ``dtype``, ``channels_last``, ``budget``, ``memory``,
            ``compile``), still accepted in place of ``timing``.

    Returns:
        A Report with one ConfigResult per configuration and one StageResult per (configuration, stage).
    """
    if timing_options:
        if timing is not DEFAULT_TIMING:
            raise OptionError("timing", timing, f"and {sorted(timing_options)[0]}= both say how to time: give the "
                              "options in the TimingOptions (or None for no timing) alone")
        timing = TimingOptions.from_legacy(**timing_options)
    given = [(name, value) for name, value in (("block", block), ("r", r), ("bias", bias)) if value is not None]
    spec = block_spec(block, r, bias) if given else None
    asked = None if not given or isinstance(given[0][1], BlockSpec) else given[0]  # a spec names its own change
    step = on_step or _quiet
    if own_attention and refuse_native:
        raise OptionError("own_attention", True, "measures the model's own attention, which {other} refuses: give "
                          "one of them", other=("refuse_native", True))
    source = _opened(model, input_shape, timing, counters, step, heads, harness)
    if refuse_native and not add_missing:
        found = source.sites()
        if found.native:
            raise native_refusal(source.name, found)
    plan = plan_profile(source, spec, stages, strip_stages, attribute, add_missing, asked, own_attention)
    return measure(source, plan, timing, counters, step, on_sample, on_real)


def sweep(
    model: nn.Module | str,
    blocks: Sequence[BlockSpec] = (BlockSpec(),),
    stage_sets: Sequence[Sequence[int] | StageSet | str | None] = (None,),
    *,
    input_shape: Sequence[int] | None = None,
    timing: TimingOptions | None = None,
    counters: Sequence[str] = COUNTER_NAMES,
    add_missing: bool = False,
    heads: bool = False,
    harness: Harness | None = None,
    on_step: Step | None = None,
    on_sample: Callable[[], None] | None = None,
) -> Report:
    """Measure every combination of ``blocks`` × ``stage_sets`` against the base model in one report (one
    configuration each, see ``plan_sweep``); configurations share one model build, counted blocks are
    counted once, and with ``timing`` all are timed interleaved."""
    step = on_step or _quiet
    source = _opened(model, input_shape, timing, counters, step, heads, harness)
    plan = plan_sweep(source, [block_spec(b) for b in blocks], stage_sets, add_missing)
    return measure(source, plan, timing, counters, step, on_sample)


def _opened(model: nn.Module | str, input_shape: Sequence[int] | None, timing: TimingOptions | None,
            counters: Sequence[str], step: Step, heads: bool = False, harness: Harness | None = None) -> Source:
    """The model as a Source, once the options that need no model are checked (a missing CUDA first)."""
    check_counters(counters)
    if timing is not None:
        resolve_device(timing.device)
    source = open_model(model, input_shape, step, heads, harness)
    step("finding SE sites")
    return source


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
