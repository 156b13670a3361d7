"""Three MAC counters behind one interface, ``Counter`` (``COUNTERS``): fvcore, thop and torch's flop counter.

Units: each count is MAC-equivalent operations per forward pass, as each counter defines them. fvcore counts
one fused multiply-add of a conv or matmul as one "flop", i.e. a MAC, and adds BN and pooling at one op per
element; thop hooks known module types: conv/linear MACs (bias not counted), BN 2 ops per element, average
pooling kernel+1 ops per output; ``torch.utils.flop_counter`` returns FLOPs = 2 × MACs of convolutions and
matrix products only, halved here. What each counter leaves out is returned
with its count (``Count.skipped``) instead of being printed as warnings.

Each counter reports, besides the total, the MACs it attributes to given module scopes (the SE blocks): a
configuration without some of those blocks counts ``total - sum(scopes)``, which equals counting that model
directly (tests check this for every counter). ``count_with_blocks`` gets the SE model's count without
running it: the model without SE once, plus each distinct SE block once on its own input.

fvcore traces with real tensors, so it runs on a zero-filled CPU copy; thop and torch's counter run on the
meta device and allocate nothing (a meta model in eval mode is used as it is, without a copy). No hooks,
buffers or mode changes are left on any model passed in.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from .errors import OptionError
from .meta import ShapeOnly, meta_clone, meta_model, shape_only_modules

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
    uncounted: dict[str, int]
    notes: tuple[str, ...] = ()

    @property
    def skipped(self) -> tuple[str, ...]:
        """What this counter did not count, as "name ×n", most frequent first, then general notes."""
        ranked = sorted(self.uncounted.items(), key=lambda kv: (-kv[1], kv[0]))
        return tuple(f"{name} ×{n}" for name, n in ranked) + self.notes

    def without(self, scopes: Sequence[str]) -> int:
        """Total MACs with the given scopes' MACs taken out."""
        return self.macs - sum(self.scope_macs[s] for s in scopes)

    def times(self, n: int) -> Count:
        """This count for ``n`` passes (a block that sees ``n`` feature maps per sample)."""
        if n == 1:
            return self
        return Count(self.counter, self.macs * n, {s: m * n for s, m in self.scope_macs.items()},
                     {name: k * n for name, k in self.uncounted.items()}, self.notes)

    def plus(self, scope: str, block: Count) -> Count:
        """This count with ``block``'s (one module counted on its own input) added under ``scope``."""
        uncounted = dict(self.uncounted)
        for name, n in block.uncounted.items():
            uncounted[name] = uncounted.get(name, 0) + n
        notes = self.notes + tuple(n for n in block.notes if n not in self.notes)
        return Count(self.counter, self.macs + block.macs, {**self.scope_macs, scope: block.macs}, uncounted, notes)



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
        uncounted = dict(analysis.unsupported_ops())
    return Count("fvcore", total, {s: int(by_module[s]) for s in scopes}, uncounted)


class _OpLog(TorchDispatchMode):
    """Records every aten op that runs on meta tensors, with how often (thop's own bookkeeping on CPU
    tensors is left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: dict[torch._ops.OpOverload, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if any(isinstance(a, torch.Tensor) and a.device.type == "meta" for a in args):
            self.ops[func] = self.ops.get(func, 0) + 1
        return func(*args, **(kwargs or {}))


def _meta_input(input_shape: Sequence[int]) -> torch.Tensor:
    return torch.empty(1, *input_shape, device="meta")


def count_thop(model: nn.Module, input_shape: Sequence[int], scopes: Sequence[str]) -> Count:
    """Count with thop in a meta-device forward pass (on ``model`` itself when it is a meta model in eval
    mode). thop observes modules only, so normalisation and activation modules run shape-only. thop
    registers "total_ops"/"total_params" buffers and hooks on every module and removes them only when the
    pass succeeds; whatever it leaves is removed here, and every module's train/eval state is restored."""
    import thop

    clone = meta_model(model)
    hooks_before = {id(m): set(m._forward_hooks) for m in clone.modules()}
    training = [(m, m.training) for m in clone.modules()]
    with warnings.catch_warnings(), torch.no_grad(), shape_only_modules(clone), _without_parameter_tally():
        warnings.simplefilter("ignore")
        try:
            result = thop.profile(clone, inputs=(_meta_input(input_shape),), verbose=False, ret_layer_info=True)
        finally:
            for module in clone.modules():
                module._buffers.pop("total_ops", None)
                module._buffers.pop("total_params", None)
                for key in set(module._forward_hooks) - hooks_before.get(id(module), set()):
                    del module._forward_hooks[key]
            for module, mode in training:
                module.training = mode
    return _thop_count(model, result, scopes)


_THOP_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_parameter_tally():
    """While active, thop's per-module parameter tally (a forward hook that sums every module's parameters
    into a float64 tensor, a quarter of its pass's time) does nothing: seprof counts parameters itself and
    reads only thop's ops. thop's op counts are unchanged (the tests compare them with a plain thop pass)."""
    import importlib

    profile = importlib.import_module("thop.profile")
    tally = getattr(profile, "count_parameters", None)
    with _THOP_LOCK:
        if tally is not None:
            profile.count_parameters = lambda module, inputs, output: None
        try:
            yield
        finally:
            if tally is not None:
                profile.count_parameters = tally


def count_torch(model: nn.Module, input_shape: Sequence[int], scopes: Sequence[str]) -> Count:
    """Count with ``torch.utils.flop_counter.FlopCounterMode`` in a meta-device forward pass (on ``model``
    itself when it is a meta model in eval mode); every other op is logged by name, as not counted."""
    from torch.utils.flop_counter import FlopCounterMode

    clone = meta_model(model)
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        flop_counter = stack.enter_context(FlopCounterMode(display=False))
        stack.enter_context(torch.no_grad())
        norms = stack.enter_context(ShapeOnly())  # normalisation layers: shape-only, logged as not counted
        log = stack.enter_context(_OpLog())
        clone(_meta_input(input_shape))
    return _torch_count(type(clone).__name__, flop_counter, log, norms, scopes)


def _thop_count(model: nn.Module, result: tuple, scopes: Sequence[str]) -> Count:
    from thop.profile import register_hooks

    total, _params, tree = result

    def scope(path: str) -> int:
        node = (total, 0, tree)
        for part in path.split("."):
            node = node[2][part]
        return int(node[0])

    unknown: dict[str, int] = {}

    def add(name: str) -> None:
        unknown[name] = unknown.get(name, 0) + 1

    ops_by_path = _thop_ops_by_path(tree)
    for path, module in model.named_modules():
        leaf = next(module.children(), None) is None
        if leaf and type(module) not in register_hooks and not isinstance(module, nn.Identity):
            add(type(module).__name__)
        elif not leaf and type(module) not in register_hooks and any(
            "weight" in name for name, _ in module.named_parameters(recurse=False)
        ):
            add(f"{type(module).__name__} (own weights, used functionally)")  # e.g. attention's in-projection
        elif leaf and type(module) in register_hooks and ops_by_path.get(path) == 0 and _has_weight(module):
            add(f"{type(module).__name__} not called as a module")  # its weights used functionally, e.g. Swin's qkv
    notes = ("functional calls outside modules (residual add, SE scale multiply, flatten)",)
    return Count("thop", int(total), {s: scope(s) for s in scopes}, unknown, notes)


def _thop_ops_by_path(tree: dict, prefix: str = "") -> dict[str, float]:
    """thop's per-module counts, by module path."""
    out: dict[str, float] = {}
    for name, (ops, _params, children) in tree.items():
        path = f"{prefix}.{name}" if prefix else name
        out[path] = ops
        out.update(_thop_ops_by_path(children, path))
    return out


def _has_weight(module: nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    return isinstance(weight, torch.Tensor) and weight.numel() > 0


def _torch_count(root: str, counter, log: _OpLog, norms: ShapeOnly, scopes: Sequence[str]) -> Count:
    from torch.utils.flop_counter import flop_registry

    flops = counter.get_flop_counts()

    def scope(path: str) -> int:
        return sum(flops.get(f"{root}.{path}", {}).values()) // 2

    uncounted: dict[str, int] = dict(norms.calls)  # normalisation layers: never counted, run as shape-only
    for op, n in log.ops.items():
        if op.overloadpacket not in flop_registry and not op.is_view and op.overloadpacket not in _NO_COMPUTE:
            name = f"aten::{op.overloadpacket.__name__}"
            uncounted[name] = uncounted.get(name, 0) + n
    return Count("torch", counter.get_total_flops() // 2, {s: scope(s) for s in scopes}, uncounted)


_NO_COMPUTE = {
    torch.ops.aten.detach, torch.ops.aten.empty, torch.ops.aten.empty_like, torch.ops.aten._to_copy,
    torch.ops.aten.clone,
}

@dataclass(frozen=True)
class Counter:
    """One MAC counter behind seprof's interface: ``counter(model, input_shape, scopes) -> Count``.

    Attributes:
        name: its key ("fvcore", "thop", "torch"): the CSV's ``macs_<name>`` column.
        title: its name in a sentence ("torch's flop counter").
        unit: what one count is.
        note: what it counts and what it never sees (its own ``Count.skipped`` lists what it skipped).
        count: counts a model at one input shape (no batch dimension), attributing MACs to module ``scopes``
            (module paths: SE blocks, or any part of the model, such as a backbone).
    """

    name: str
    title: str
    unit: str
    note: str
    count: Callable[[nn.Module, Sequence[int], Sequence[str]], Count]

    def __call__(self, model: nn.Module, input_shape: Sequence[int], scopes: Sequence[str] = ()) -> Count:
        return self.count(model, input_shape, scopes)


COUNTERS: dict[str, Counter] = {
    "fvcore": Counter("fvcore", "fvcore", "MAC-equivalent ops (one fused multiply-add = 1)", COUNTER_NOTES["fvcore"],
                      count_fvcore),
    "thop": Counter("thop", "thop", "MACs, plus its element-wise ops", COUNTER_NOTES["thop"], count_thop),
    "torch": Counter("torch", "torch's flop counter", "MACs (its FLOPs / 2)", COUNTER_NOTES["torch"], count_torch),
}


def check_counters(counters: Sequence[str]) -> None:
    """An OptionError unless every name in ``counters`` is one of ``COUNTER_NAMES``."""
    unknown = [c for c in counters if c not in COUNTER_NAMES]
    if unknown:
        raise OptionError("counters", tuple(counters), f"names {unknown[0]!r}: choose from {', '.join(COUNTER_NAMES)}")


def count_with_blocks(
    model: nn.Module,
    input_shape: Sequence[int],
    blocks: Sequence[tuple[str, nn.Module, Sequence[int]]],
    counters: Sequence[str] = COUNTER_NAMES,
) -> dict[str, Count]:
    """Counts of ``model`` with shape-preserving ``blocks`` inserted, without running the combined model.

    ``blocks`` are (scope, module, input shape without batch) triples: each counter counts ``model`` once and
    each distinct block (same class, parameter shapes and input) once on its own input; the combined count is
    the sum, with each block's count under its scope. An SE block's work does not depend on the network
    around it, so this equals counting the model with the blocks in place (tests check it, for every counter).
    """
    counts = count_all(model, input_shape, (), counters)
    cache: dict[tuple, dict[str, Count]] = {}
    for scope, block, shape in blocks:
        key = block_key(block, shape)
        if key not in cache:
            cache[key] = count_all(block, shape, (), counters)
        counts = {name: c.plus(scope, cache[key][name]) for name, c in counts.items()}
    return counts


def block_key(block: nn.Module, shape: Sequence[int]) -> tuple:
    """What decides a block's counts: its class and settings (a seprof block's ``spec``), its modules'
    classes, its parameters' shapes, and its input's shape."""
    return (type(block), getattr(block, "spec", None), tuple((n, tuple(p.shape)) for n, p in block.named_parameters()),
            tuple(type(m) for m in block.modules()), tuple(shape))


def count_all(
    model: nn.Module, input_shape: Sequence[int], scopes: Sequence[str] = (), counters: Sequence[str] = COUNTER_NAMES
) -> dict[str, Count]:
    """Run the given counters (all by default) on ``model`` at batch 1; ``scopes`` are module paths to
    attribute MACs to."""
    return {name: COUNTERS[name](model, input_shape, scopes) for name in COUNTER_NAMES if name in counters}
