"""Three MAC counters behind one interface: fvcore, thop and torch's flop counter.

Units: each count is MAC-equivalent operations per forward pass, as each counter defines them. fvcore counts
one fused multiply-add of a conv or matmul as one "flop", i.e. a MAC, and adds BN and pooling at one op per
element; thop hooks known module types: conv/linear MACs (bias not counted), BN 2 ops per element, average
pooling kernel+1 ops per output; ``torch.utils.flop_counter`` returns FLOPs = 2 × MACs of convolutions and
matrix products only, halved here. What each counter leaves out is returned
with its count (``Count.skipped``) instead of being printed as warnings.

Each counter runs once, on the SE model, and also reports the MACs it attributes to given module scopes
(the SE blocks): a configuration without some of those blocks counts ``total - sum(scopes)``, which equals
counting that model directly (tests check this for every counter).

fvcore traces with real tensors, so it runs on a zero-filled CPU copy; thop and torch's counter run on the
meta device and allocate nothing. No hooks, buffers or mode changes are left on any model passed in.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from .stages import meta_clone

COUNTER_NAMES = ("fvcore", "thop", "torch")

COUNTER_NOTES = {
    "fvcore": "fvcore FlopCountAnalysis: conv/matmul MACs, plus BN and pooling at 1 op per element",
    "thop": "thop.profile: conv/linear MACs (bias not counted), BN 2 ops per element, avg pooling kernel+1 "
    "per output; known module types only, functional calls unseen",
    "torch": "torch.utils.flop_counter.FlopCounterMode: FLOPs of conv/matmul ops, reported as MACs = FLOPs / 2",
}


@dataclass(frozen=True)
class Count:
    """One counter's result for one model.

    Attributes:
        counter: "fvcore", "thop" or "torch".
        macs: total MACs for one forward pass of the input it was given.
        scope_macs: MACs the counter attributes to each requested module path.
        skipped: what this counter did not count (op or module names), most frequent first.
    """

    counter: str
    macs: int
    scope_macs: dict[str, int]
    skipped: tuple[str, ...]

    def without(self, scopes: Sequence[str]) -> int:
        """Total MACs with the given scopes' MACs taken out."""
        return self.macs - sum(self.scope_macs[s] for s in scopes)




def count_fvcore(model: nn.Module, input_shape: Sequence[int], scopes: Sequence[str]) -> Count:
    """Count with fvcore on a zero-filled CPU copy of ``model`` (fvcore's jit trace needs real tensors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        real = meta_clone(model).to_empty(device="cpu").eval()
        with torch.no_grad():
            for tensor in [*real.parameters(), *real.buffers()]:
                tensor.zero_()
        analysis = FlopCountAnalysis(real, torch.zeros(1, *input_shape))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        total = int(analysis.total())
        by_module = analysis.by_module()
        skipped = tuple(f"{op} ×{n}" for op, n in analysis.unsupported_ops().most_common())
    return Count("fvcore", total, {s: int(by_module[s]) for s in scopes}, skipped)


def count_thop(model: nn.Module, input_shape: Sequence[int], scopes: Sequence[str]) -> Count:
    """Count with thop on a meta-device copy (thop leaves buffers in what it profiles)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import thop
        from thop.profile import register_hooks

        clone = meta_clone(model).eval()
        total, _params, tree = thop.profile(
            clone, inputs=(torch.empty(1, *input_shape, device="meta"),), verbose=False, ret_layer_info=True
        )

    def scope(path: str) -> int:
        node = (total, 0, tree)
        for part in path.split("."):
            node = node[2][part]
        return int(node[0])

    unknown: dict[str, int] = {}
    for module in model.modules():
        if next(module.children(), None) is None and type(module) not in register_hooks:
            unknown[type(module).__name__] = unknown.get(type(module).__name__, 0) + 1
    skipped = tuple(f"{name} ×{n}" for name, n in sorted(unknown.items(), key=lambda kv: -kv[1]))
    skipped += ("functional calls outside modules (residual add, SE scale multiply, flatten)",)
    return Count("thop", int(total), {s: scope(s) for s in scopes}, skipped)


class _OpLog(TorchDispatchMode):
    """Records every aten op that runs, with how often."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: dict[torch._ops.OpOverload, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[func] = self.ops.get(func, 0) + 1
        return func(*args, **(kwargs or {}))


def count_torch(model: nn.Module, input_shape: Sequence[int], scopes: Sequence[str]) -> Count:
    """Count with ``torch.utils.flop_counter.FlopCounterMode`` on a meta-device copy."""
    from torch.utils.flop_counter import FlopCounterMode, flop_registry

    clone = meta_clone(model).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        with _OpLog() as log:
            clone(torch.empty(1, *input_shape, device="meta"))
    flops = counter.get_flop_counts()
    root = type(clone).__name__

    def scope(path: str) -> int:
        return sum(flops.get(f"{root}.{path}", {}).values()) // 2

    uncounted: dict[str, int] = {}
    for op, n in log.ops.items():
        if op.overloadpacket not in flop_registry and not op.is_view and op.overloadpacket not in _NO_COMPUTE:
            name = f"aten::{op.overloadpacket.__name__}"
            uncounted[name] = uncounted.get(name, 0) + n
    skipped = tuple(f"{name} ×{n}" for name, n in sorted(uncounted.items(), key=lambda kv: -kv[1]))
    return Count("torch", counter.get_total_flops() // 2, {s: scope(s) for s in scopes}, skipped)


_NO_COMPUTE = {torch.ops.aten.detach, torch.ops.aten.empty, torch.ops.aten._to_copy, torch.ops.aten.clone}

COUNTERS: dict[str, Callable[[nn.Module, Sequence[int], Sequence[str]], Count]] = {
    "fvcore": count_fvcore,
    "thop": count_thop,
    "torch": count_torch,
}


def count_all(model: nn.Module, input_shape: Sequence[int], scopes: Sequence[str] = ()) -> dict[str, Count]:
    """Run every counter on ``model`` at batch 1; ``scopes`` are module paths to attribute MACs to."""
    return {name: COUNTERS[name](model, input_shape, scopes) for name in COUNTER_NAMES}
