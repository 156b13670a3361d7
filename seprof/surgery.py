"""Put attention blocks into a model, or take them out, on a copy (paper Sec. 4, Fig. 3 and Fig. 5).

An SE site's module (e.g. a Bottleneck's ``bn3``) is replaced by ``WithSE(inner=bn3, se=SEBlock)``, so the
block's own forward runs conv → BN → SE → (+ identity) unchanged. The other positions of Fig. 5 wrap other
modules: SE-PRE the branch's first conv (``WithSE`` then recalibrates its *input*), SE-POST the whole unit,
SE-Identity the identity path's projection, or, where the identity is the input itself (``downsample`` is
None), a ``WithSE`` with no inner module takes the empty place. ``strip`` puts ``inner`` back (None included):
the result's state_dict equals the un-injected model's, key for key. A model's own SE blocks (EfficientNet, MobileNetV3,
RegNetY, MaxViT), and its other attention that is an add-on to its block (GC, CBAM, ...: ``OwnAttention.strippable``),
are stripped by replacing them with ``nn.Identity``. The caller's model is never modified.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import replace

import torch
from torch import nn

from .blocks import grid_free_kinds, make_block
from .errors import ModelError, NativeSEError, OptionError
from .harness import Harness
from .meta import deep_copy
from .models import object_input
from .native import is_own_attention
from .spec import BlockSpec, block_spec
from .stages import Site, StageMap, attention_words, check_stages, find_sites


class WithSE(nn.Module):
    """A module followed by an SE block that recalibrates its output.

    Args:
        inner: the original module (its parameters keep their names under ``inner.``), or None where there
            was none (an identity path without a projection: the block then recalibrates its input).
        se: the attention block.
        stage: the stage of this site (stride 2^stage).
        index: 1-based position of the site in its stage.
        before: recalibrate ``inner``'s input instead of its output (SE-PRE).
    """

    def __init__(self, inner: nn.Module | None, se: nn.Module, stage: int, index: int, before: bool = False) -> None:
        super().__init__()
        self.add_module("inner", inner)
        self.se = se
        self.stage = stage
        self.index = index
        self.before = before

    @property
    def name(self) -> str:
        return f"SE_{self.stage}_{self.index}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inner = self.inner
        if inner is None:
            return self.se(x)
        if self.before:
            return inner(self.se(x))
        return self.se(inner(x))

    def extra_repr(self) -> str:
        return f"{self.name}, before" if self.before else self.name


def se_modules(model: nn.Module) -> list[tuple[str, WithSE]]:
    """The (path, module) pairs of every SE site seprof injected into ``model``, in model order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, WithSE)]


def _set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def check_r(r: int, sites: Iterable[Site]) -> None:
    """Raise an OptionError unless 1 <= r <= the channels of every site."""
    check_block(block_spec(r=r), sites)


def check_block(spec: BlockSpec, sites: Iterable[Site]) -> None:
    """Raise an OptionError unless ``spec`` gives every site a hidden width of at least 1 (r <= C when the
    width is C // r) and at most its channels (a divisor rounds the width up to a multiple of itself)."""
    sites = list(sites)
    smallest = min(sites, key=lambda s: s.channels) if sites else None
    r = spec.r
    tokens = next((s for s in sites if s.layout == "tokens"), None)
    if spec.kind.entry.needs_grid and tokens is not None:
        raise OptionError("block", spec.kind, f"gates positions on an H×W grid, and stage {tokens.stage}'s features "
                          f"are {tokens.height} tokens without one; on tokens use {', '.join(grid_free_kinds())}")
    if not spec.kind.channel:
        return
    if spec.divisor is not None:
        wide = next((s for s in sorted(sites, key=lambda s: s.channels) if spec.hidden(s.channels) > s.channels), None)
        if wide is not None:
            way = f"a divisor of at most {wide.channels}" if spec.divisor > wide.channels else "a smaller divisor"
            raise OptionError("divisor", spec.divisor, f"rounds the hidden width of stage {wide.stage}'s "
                              f"{wide.channels} channels up to {spec.hidden(wide.channels)}, wider than the channels "
                              f"it reduces; choose {way} (timm's and torchvision's SE use 8)")
        return
    if smallest is not None and r > smallest.channels:
        raise OptionError("r", r, f"is larger than the {smallest.channels} channels of stage {smallest.stage}; "
                          f"choose r between 1 and {smallest.channels} (the paper uses 16)")


def _module_at(model: nn.Module, path: str) -> nn.Module | None:
    """The module at ``path``, or None where the place is empty (an identity path without a projection)."""
    parent, _, leaf = path.rpartition(".")
    return getattr(model.get_submodule(parent) if parent else model, leaf, None)


def se_at(model: nn.Module, site: Site) -> nn.Module | None:
    """The SE block at ``site`` in ``model`` (seprof's or the model's own attention), or None if there is none."""
    module = _module_at(model, site.path)
    if site.native:
        return module if is_own_attention(module) else None
    return module.se if isinstance(module, WithSE) else None


def scope_of(site: Site) -> str:
    """The module path of the SE block at ``site`` once present (what counters attribute MACs to)."""
    return site.path if site.native else f"{site.path}.se"


def _copy_along(model: nn.Module, paths: Iterable[str]) -> nn.Module:
    """A copy of ``model`` in which only the modules on the way to ``paths`` are new objects (each with its
    own child table); every other submodule, and every parameter, is shared with ``model``."""

    def shallow(module: nn.Module) -> nn.Module:
        new = copy.copy(module)
        for key, value in vars(module).items():  # its own child table, parameter and buffer tables, hook tables
            if isinstance(value, (dict, set)):
                new.__dict__[key] = copy.copy(value)
        return new

    root = shallow(model)
    fresh = {id(root)}
    for path in paths:
        parent = root
        for name in path.split(".")[:-1]:
            child = parent._modules[name]
            if id(child) not in fresh:
                child = shallow(child)
                parent._modules[name] = child
                fresh.add(id(child))
            parent = child
    return root


def _copy(model: nn.Module, sites: Iterable[Site], share: bool) -> nn.Module:
    """A deep copy of ``model``, or with ``share`` one that shares everything but the way to ``sites``."""
    return _copy_along(model, [site.path for site in sites]) if share else deep_copy(model)


def strip_sites(model: nn.Module, sites: Iterable[Site], share: bool = False) -> nn.Module:
    """A copy of ``model`` without the SE blocks at ``sites`` (seprof's: the inner module back; the model's
    own: ``nn.Identity``). Sites without SE are left as they are.

    With ``share`` only the modules on the way to ``sites`` are copied and the rest is shared with ``model``:
    for meta-device models that are only counted, never changed or run with data.
    """
    sites = list(sites)
    new = _copy(model, sites, share)
    for site in sites:
        if se_at(new, site) is None:
            continue
        module = _module_at(new, site.path)
        _set_submodule(new, site.path, nn.Identity().train(module.training) if site.native else module.inner)
    return new


def native_refusal(model: str, stage_map: StageMap) -> NativeSEError:
    """The error for adding SE to a model that already has SE blocks of its own."""
    return NativeSEError(model, len(stage_map.native), stage_map.native_map().stage_numbers, len(stage_map.sites))


def inject_sites(model: nn.Module, sites: Sequence[Site], block: BlockSpec | None = None, share: bool = False, *,
                 r: int | None = None, bias: bool | None = None) -> nn.Module:
    """A copy of ``model`` with the block ``block`` describes (SE, r = 16 by default; ``r``/``bias`` override
    it) at each of ``sites`` (as found by ``find_sites`` on ``model``); ``share`` as for ``strip_sites``."""
    if isinstance(block, int):
        raise TypeError(f"inject_sites() takes the block as a BlockSpec since seprof 0.5; give r={block} by name")
    spec = block_spec(block, r, bias)
    if any(site.native for site in sites):
        raise ModelError("a native SE site already has an SE block; seprof adds SE only where there is none")
    if se_modules(model):
        raise ModelError("this model already has seprof SE blocks: strip them first (seprof.strip)")
    check_block(spec, sites)
    new = _copy(model, sites, share)
    # the block's own weights tell its device and dtype; a site without weights (an activation, an Inception
    # module's output, an empty identity path) takes the model's, so a meta model gets meta SE blocks
    fallback = next(new.parameters(), None)
    for site in sites:
        inner = _module_at(new, site.path)
        reference = next(inner.parameters(), fallback) if inner is not None else fallback
        device = reference.device if reference is not None else torch.device("cpu")
        with torch.device(device):
            se = make_block(spec, site.channels, site.layout, video=site.frames is not None)
        if reference is not None:
            se = se.to(reference.dtype)
        training = inner.training if inner is not None else model.training
        wrapped = WithSE(inner, se.train(training), site.stage, site.index, before=site.feed == "input")
        wrapped.training = training  # not .train(): the modules inside keep their own modes (a frozen BN stays so)
        _set_submodule(new, site.path, wrapped)
    return new


def inject(
    model: nn.Module,
    r: int | None = None,
    stages: Sequence[int] | None = None,
    bias: bool | None = None,
    input_shape: Sequence[int] | None = None,
    add_missing: bool = False,
    *,
    block: BlockSpec | str | None = None,
    harness: Harness | None = None,
) -> nn.Module:
    """Return a copy of ``model`` with attention blocks in the given stages (all when None).

    Args:
        model: any model with blocks seprof has a placement for (see ``seprof.stages``); not modified.
        r: reduction ratio (default 16, or ``block``'s); each block's hidden width is C // r.
        stages: stage numbers (stride 2^s), e.g. ``[2, 3, 4]``.
        bias: biases in the blocks' excitation layers (default True, or ``block``'s).
        input_shape: the C×H×W input used to find the stages (the model's own when None: a timm model's
            pretrained config, a ViT's image_size, else 3×224×224).
        add_missing: for a model with SE blocks of its own, add SE to its blocks that have none (refused
            otherwise).
        block: the block and its position (a ``BlockSpec``, or a kind: "se", "cse", "sse", "scse", or one of
            timm's, "eca", "cbam", ..., as ``seprof blocks`` lists them; a timm kind's knobs in ``BlockSpec.knobs``).
        harness: how the model runs and where SE goes in it, for a torchvision segmentation, detection or
            optical-flow model: ``seprof.harness_of(name)`` (``.including_heads(name)`` for its heads too).
    """
    spec = block_spec(block, r, bias)
    stage_map = find_sites(model, input_shape or object_input(model)[0], position=spec.position, harness=harness)
    if stage_map.native and not add_missing:
        raise native_refusal(type(model).__name__, stage_map)
    if not stage_map.sites:
        raise ModelError(f"every block of {type(model).__name__} that seprof knows already has an SE block")
    return inject_sites(model, stage_map.select(stages), spec)


def strip(
    model: nn.Module,
    stages: Sequence[int] | None = None,
    input_shape: Sequence[int] | None = None,
    *,
    harness: Harness | None = None,
) -> nn.Module:
    """Return a copy of ``model`` without the SE blocks of the given stages (all when None).

    seprof's own SE blocks are removed when there are any; otherwise the model's own SE blocks
    (``torchvision.ops.SqueezeExcitation``, timm's SE, eSE and ECA); otherwise its own attention that is an add-on
    to its block (timm's GC, CBAM, coordinate attention..., non-local blocks, a class registered with
    ``strippable=True``). The model's own blocks are replaced with ``nn.Identity``, their stages found at
    ``input_shape``. Attention that is the block's conv or spatial mixing (SK, SplitAttn, self-attention layers)
    stays; a model with only that is refused.

    Args:
        model: a model with SE blocks (seprof's or its own) or attention of its own; not modified.
        stages: stage numbers (stride 2^s) whose SE blocks to remove, e.g. ``[5]``.
        input_shape: the C×H×W input used to find the stages of the model's own blocks (the model's own
            when None, as for ``inject``).
        harness: how the model runs and where SE goes in it, for a torchvision segmentation, detection or
            optical-flow model: ``seprof.harness_of(name)`` (``.including_heads(name)`` for its heads too).
    """
    present = se_modules(model)
    if not present:
        if not any(is_own_attention(m) for m in model.modules()):
            raise ModelError("this model has no SE blocks to strip (seprof.inject adds them)")
        found = find_sites(model, input_shape or object_input(model)[0], harness=harness)
        if found.native:
            return strip_sites(model, found.native_map().select(stages))
        return strip_sites(model, _add_ons(type(model).__name__, found).select(stages))
    if stages is not None:
        check_stages(stages, sorted({m.stage for _, m in present}), "SE is in stages")
    new = deep_copy(model)
    for path, module in se_modules(new):
        if stages is None or module.stage in stages:
            _set_submodule(new, path, module.inner)
    return new


def _add_ons(model: str, found: StageMap) -> StageMap:
    """The model's own attention that is an add-on to its block, as native sites; a ModelError where it has none
    (its attention is all its blocks' convs or spatial mixing)."""
    add_ons = tuple(replace(s, native=True) for s in found.attention if s.attention.strippable)
    if not found.attention:
        raise ModelError("this model has no SE blocks to strip (seprof.inject adds them)")
    if not add_ons:
        raise ModelError(f"{model} has no SE blocks to strip, and seprof cannot strip its own attention, "
                         f"{attention_words(found.attention, lambda own: own.not_strippable)}")
    return StageMap(found.input_shape, add_ons)
