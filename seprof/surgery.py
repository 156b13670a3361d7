"""Put SE blocks into a model, or take them out, on a copy (paper Sec. 4 and Fig. 3).

An SE site's module (e.g. a Bottleneck's ``bn3``) is replaced by ``WithSE(inner=bn3, se=SEBlock)``, so the
block's own forward runs conv → BN → SE → (+ identity) unchanged. ``strip`` puts ``inner`` back: the result's
state_dict equals the un-injected model's, key for key. The caller's model is never modified.
"""

from __future__ import annotations

import copy
from typing import Iterable, Sequence

import torch
from torch import nn

from .blocks import make_block
from .errors import ModelError, OptionError
from .stages import Site, check_stages, find_sites


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
        raise OptionError(f"--r {r!r} is invalid: the reduction ratio must be an integer of at least 1")
    if smallest is not None and r > smallest.channels:
        raise OptionError(
            f"--r {r} is larger than the {smallest.channels} channels of stage {smallest.stage}; "
            f"choose r between 1 and {smallest.channels} (the paper uses 16)"
        )


def inject_sites(model: nn.Module, sites: Sequence[Site], r: int = 16, bias: bool = True, kind: str = "se") -> nn.Module:
    """A copy of ``model`` with an SE block at each of ``sites`` (as found by ``find_sites`` on ``model``)."""
    if se_modules(model):
        raise ModelError("this model already has seprof SE blocks: strip them first (seprof.strip)")
    check_r(r, sites)
    new = copy.deepcopy(model)
    for site in sites:
        inner = new.get_submodule(site.path)
        reference = next(inner.parameters(), None)
        device = reference.device if reference is not None else torch.device("cpu")
        with torch.device(device):
            se = make_block(kind, site.channels, r, bias)
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
) -> nn.Module:
    """Return a copy of ``model`` with SE blocks in the given stages (all when None).

    Args:
        model: a model with blocks seprof knows (ResNet's BasicBlock and Bottleneck); not modified.
        r: reduction ratio; each block's hidden width is C // r.
        stages: stage numbers (stride 2^s), e.g. ``[2, 3, 4]``.
        bias: give the SE FC layers biases.
        input_shape: the C×H×W input used to find the stages.
    """
    sites = find_sites(model, input_shape).select(stages)
    return inject_sites(model, sites, r=r, bias=bias)


def strip(model: nn.Module, stages: Sequence[int] | None = None) -> nn.Module:
    """Return a copy of ``model`` without the seprof SE blocks of the given stages (all when None)."""
    present = se_modules(model)
    if not present:
        raise ModelError("this model has no seprof SE blocks to strip (seprof.inject adds them)")
    if stages is not None:
        check_stages(stages, sorted({m.stage for _, m in present}), "SE is in stages")
    new = copy.deepcopy(model)
    for path, module in se_modules(new):
        if stages is None or module.stage in stages:
            _set_submodule(new, path, module.inner)
    return new
