"""Put SE blocks into a model, or take them out, on a copy (paper Sec. 4 and Fig. 3).

An SE site's module (e.g. a Bottleneck's ``bn3``) is replaced by ``WithSE(inner=bn3, se=SEBlock)``, so the
block's own forward runs conv → BN → SE → (+ identity) unchanged. ``strip`` puts ``inner`` back: the result's
state_dict equals the un-injected model's, key for key. A model's own SE blocks (EfficientNet, MobileNetV3,
RegNetY, MaxViT) are stripped by replacing them with ``nn.Identity``. The caller's model is never modified.
"""

from __future__ import annotations

import copy
from typing import Iterable, Sequence

import torch
from torch import nn

from .blocks import make_block
from .errors import ModelError, NativeSEError, OptionError
from .stages import Site, StageMap, check_stages, deep_copy, find_sites, is_native_se


class WithSE(nn.Module):
    """A module followed by an SE block that recalibrates its output.

    Args:
        inner: the original module (its parameters keep their names under ``inner.``).
        se: the attention block.
        stage: the stage of this site (stride 2^stage).
        index: 1-based position of the site in its stage.
    """

    def __init__(self, inner: nn.Module, se: nn.Module, stage: int, index: int) -> None:
        super().__init__()
        self.inner = inner
        self.se = se
        self.stage = stage
        self.index = index

    @property
    def name(self) -> str:
        return f"SE_{self.stage}_{self.index}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.inner(x))

    def extra_repr(self) -> str:
        return self.name


def se_modules(model: nn.Module) -> list[tuple[str, WithSE]]:
    """The (path, module) pairs of every SE site seprof injected into ``model``, in model order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, WithSE)]


def _set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def check_r(r: int, sites: Iterable[Site]) -> None:
    """Raise an OptionError unless 1 <= r <= the channels of every site."""
    sites = list(sites)
    smallest = min(sites, key=lambda s: s.channels) if sites else None
    if not isinstance(r, int) or isinstance(r, bool) or r < 1:
        raise OptionError("r", r, "is invalid: the reduction ratio must be a whole number of at least 1 (the "
                          "paper uses 16)")
    if smallest is not None and r > smallest.channels:
        raise OptionError("r", r, f"is larger than the {smallest.channels} channels of stage {smallest.stage}; "
                          f"choose r between 1 and {smallest.channels} (the paper uses 16)")


def se_at(model: nn.Module, site: Site) -> nn.Module | None:
    """The SE block at ``site`` in ``model`` (seprof's or the model's own), or None if there is none."""
    module = model.get_submodule(site.path)
    if site.native:
        return module if is_native_se(module) else None
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
        module = new.get_submodule(site.path)
        _set_submodule(new, site.path, nn.Identity().train(module.training) if site.native else module.inner)
    return new


def native_refusal(model: str, stage_map: StageMap) -> NativeSEError:
    """The error for adding SE to a model that already has SE blocks of its own."""
    return NativeSEError(model, len(stage_map.native), stage_map.native_map().stage_numbers, len(stage_map.sites))


def inject_sites(
    model: nn.Module, sites: Sequence[Site], r: int = 16, bias: bool = True, kind: str = "se", share: bool = False
) -> nn.Module:
    """A copy of ``model`` with an SE block at each of ``sites`` (as found by ``find_sites`` on ``model``);
    ``share`` as for ``strip_sites``."""
    if any(site.native for site in sites):
        raise ModelError("a native SE site already has an SE block; seprof adds SE only where there is none")
    if se_modules(model):
        raise ModelError("this model already has seprof SE blocks: strip them first (seprof.strip)")
    check_r(r, sites)
    new = _copy(model, sites, share)
    # the block's own weights tell its device and dtype; a site without weights (an activation, an Inception
    # module's output) takes the model's, so a meta model gets meta SE blocks
    fallback = next(new.parameters(), None)
    for site in sites:
        inner = new.get_submodule(site.path)
        reference = next(inner.parameters(), fallback)
        device = reference.device if reference is not None else torch.device("cpu")
        with torch.device(device):
            se = make_block(kind, site.channels, r, bias, site.layout)
        if reference is not None:
            se = se.to(reference.dtype)
        _set_submodule(new, site.path, WithSE(inner, se, site.stage, site.index).train(inner.training))
    return new


def inject(
    model: nn.Module,
    r: int = 16,
    stages: Sequence[int] | None = None,
    bias: bool = True,
    input_shape: Sequence[int] = (3, 224, 224),
    add_missing: bool = False,
) -> nn.Module:
    """Return a copy of ``model`` with SE blocks in the given stages (all when None).

    Args:
        model: any model with blocks seprof has a placement for (see ``seprof.stages``); not modified.
        r: reduction ratio; each block's hidden width is C // r.
        stages: stage numbers (stride 2^s), e.g. ``[2, 3, 4]``.
        bias: give the SE FC layers biases.
        input_shape: the C×H×W input used to find the stages.
        add_missing: for a model with SE blocks of its own, add SE to its blocks that have none (refused
            otherwise).
    """
    stage_map = find_sites(model, input_shape)
    if stage_map.native and not add_missing:
        raise native_refusal(type(model).__name__, stage_map)
    if not stage_map.sites:
        raise ModelError(f"every block of {type(model).__name__} that seprof knows already has an SE block")
    return inject_sites(model, stage_map.select(stages), r=r, bias=bias)


def strip(model: nn.Module, stages: Sequence[int] | None = None, input_shape: Sequence[int] = (3, 224, 224)) -> nn.Module:
    """Return a copy of ``model`` without the SE blocks of the given stages (all when None).

    seprof's own SE blocks are removed when there are any; otherwise the model's own SE blocks
    (``torchvision.ops.SqueezeExcitation``), whose stages are found at ``input_shape``.
    """
    present = se_modules(model)
    if not present:
        native = find_sites(model, input_shape).native_map() if _has_native(model) else None
        if native is None:
            raise ModelError("this model has no SE blocks to strip (seprof.inject adds them)")
        return strip_sites(model, native.select(stages))
    if stages is not None:
        check_stages(stages, sorted({m.stage for _, m in present}), "SE is in stages")
    new = deep_copy(model)
    for path, module in se_modules(new):
        if stages is None or module.stage in stages:
            _set_submodule(new, path, module.inner)
    return new


def _has_native(model: nn.Module) -> bool:
    return any(is_native_se(m) for m in model.modules())
