"""Where SE goes in a model, and which stage each place belongs to. Read-only: the model is never changed.

A stage is "the collection of blocks operating on feature maps of a common spatial dimension" (paper
Sec. 4). seprof numbers it by stride: stage s works at stride 2^s of the input, so ResNet's conv2_x..conv5_x
are stages 2..5 (224 → 56, 28, 14, 7). Strides and channels come from one forward pass on the meta device,
not from a table, so any model with the same kind of blocks gets the same treatment.

Placement follows the paper's standard SE (Fig. 3, Table 14): on the residual branch, after the last
conv+BN, before the sum with the identity — ``bn2`` of a BasicBlock, ``bn3`` of a Bottleneck.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from .errors import ModelError, StageError


@dataclass(frozen=True)
class Placement:
    """Where SE goes in one kind of block: the submodule whose output it recalibrates."""

    submodule: str
    description: str


PLACEMENTS: dict[type[nn.Module], Placement] = {
    BasicBlock: Placement("bn2", "residual branch, after the last conv+BN, before the sum (paper Fig. 3)"),
    Bottleneck: Placement("bn3", "residual branch, after the last conv+BN, before the sum (paper Fig. 3)"),
}


@dataclass(frozen=True)
class Site:
    """One place for an SE block: the module whose output it recalibrates, and that output's shape."""

    path: str
    block: str
    block_type: str
    stage: int
    index: int
    channels: int
    height: int
    width: int

    @property
    def name(self) -> str:
        """The paper's name for the block, SE_{stage}_{index} (e.g. SE_5_1)."""
        return f"SE_{self.stage}_{self.index}"


@dataclass(frozen=True)
class StageInfo:
    """The blocks of one stage."""

    stage: int
    sites: tuple[Site, ...]

    @property
    def blocks(self) -> int:
        return len(self.sites)

    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(site.channels for site in self.sites)

    @property
    def resolution(self) -> tuple[int, int]:
        return self.sites[0].height, self.sites[0].width


@dataclass(frozen=True)
class StageMap:
    """Every SE site of a model at one input shape, grouped into stages."""

    input_shape: tuple[int, ...]
    sites: tuple[Site, ...]

    @property
    def stage_numbers(self) -> tuple[int, ...]:
        return tuple(sorted({site.stage for site in self.sites}))

    @property
    def stages(self) -> tuple[StageInfo, ...]:
        return tuple(
            StageInfo(s, tuple(site for site in self.sites if site.stage == s)) for s in self.stage_numbers
        )

    def select(self, stages: Sequence[int] | None) -> tuple[Site, ...]:
        """The sites of the given stages (all when None); unknown stages are an error."""
        if stages is None:
            return self.sites
        check_stages(stages, self.stage_numbers)
        wanted = set(stages)
        return tuple(site for site in self.sites if site.stage in wanted)


def check_stages(stages: Sequence[int], valid: Sequence[int], context: str = "this model's stages are") -> None:
    """Raise a StageError naming the valid stages if any of ``stages`` is not among them."""
    unknown = [s for s in stages if s not in valid]
    if unknown:
        have = ", ".join(map(str, valid))
        raise StageError(f"stage {unknown[0]} is not available: {context} {have}")


def meta_clone(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` on the meta device, made without copying any weight data."""
    memo: dict[int, object] = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        meta = torch.empty_like(tensor, device="meta")
        if isinstance(tensor, nn.Parameter):
            meta = nn.Parameter(meta, requires_grad=tensor.requires_grad)
        memo[id(tensor)] = meta
    return copy.deepcopy(model, memo)


def stage_of(input_size: int, output_size: int) -> int:
    """The stage number of a feature map: log2 of its stride, rounded (299 → 35 is stride 8.5 → 3)."""
    return round(math.log2(input_size / output_size))


PROBE_SIZE = 224


def find_sites(model: nn.Module, input_shape: Sequence[int]) -> StageMap:
    """Find every place SE can go in ``model`` for a C×H×W ``input_shape``, grouped by stage.

    Runs a forward pass of a meta-device copy with hooks on the candidate modules; ``model`` itself is
    untouched. Stage numbers are a property of the architecture: when the input is not 224×224 they come from
    a second pass at 224×224, so a small input whose late feature maps shrink to 1×1 keeps its stages apart.
    """
    paths, shapes = _site_shapes(model, input_shape)
    if tuple(input_shape[-2:]) == (PROBE_SIZE, PROBE_SIZE):
        stages = [stage_of(PROBE_SIZE, shape[-2]) for shape in shapes]
    else:
        probe = (*input_shape[:-2], PROBE_SIZE, PROBE_SIZE)
        stages = [stage_of(PROBE_SIZE, shape[-2]) for shape in _site_shapes(model, probe)[1]]
    blocks = _candidates(model)
    counts: dict[int, int] = {}
    sites = []
    for path, shape, stage in zip(paths, shapes, stages):
        counts[stage] = counts.get(stage, 0) + 1
        block, block_type = blocks[path]
        sites.append(Site(path, block, block_type, stage, counts[stage], shape[1], shape[-2], shape[-1]))
    return StageMap(tuple(int(d) for d in input_shape), tuple(sites))


def _candidates(model: nn.Module) -> dict[str, tuple[str, str]]:
    """SE point path → (block path, block type name) for every block with a placement rule."""
    return {
        f"{name}.{PLACEMENTS[type(module)].submodule}": (name, type(module).__name__)
        for name, module in model.named_modules()
        if type(module) in PLACEMENTS
    }


def _site_shapes(model: nn.Module, input_shape: Sequence[int]) -> tuple[list[str], list[torch.Size]]:
    """The SE point paths in forward order and their output shapes, from one meta-device forward pass."""
    candidates = _candidates(model)
    if not candidates:
        kinds = ", ".join(sorted(t.__name__ for t in PLACEMENTS))
        raise ModelError(f"{type(model).__name__} has no blocks seprof knows where to put SE in (looked for {kinds})")

    clone = meta_clone(model).eval()
    seen: list[tuple[str, torch.Size]] = []
    handles = [
        clone.get_submodule(path).register_forward_hook(
            lambda _m, _i, out, path=path: seen.append((path, out.shape))
        )
        for path in candidates
    ]
    try:
        with torch.no_grad():
            clone(torch.empty(1, *input_shape, device="meta"))
    except RuntimeError as error:
        shape = "x".join(map(str, input_shape))
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"{type(model).__name__} cannot run on input {shape}: {reason}") from error
    finally:
        for handle in handles:
            handle.remove()

    paths = [path for path, _ in seen]
    if len(set(paths)) != len(paths):
        twice = next(p for p in paths if paths.count(p) > 1)
        raise ModelError(f"module {twice!r} runs more than once per forward pass; seprof cannot place one SE block there")
    return paths, [shape for _, shape in seen]


def placement_of(block_type: str) -> Placement:
    """The placement rule for a block type by name."""
    return next(p for t, p in PLACEMENTS.items() if t.__name__ == block_type)
