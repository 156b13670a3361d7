"""Three MAC counters behind one interface, ``Counter`` (``COUNTERS``): fvcore, thop and torch's flop counter.

Units: each count is MAC-equivalent operations per forward pass, as each counter defines them. fvcore counts
one fused multiply-add of a conv or matmul as one "flop", i.e. a MAC, and adds BN and pooling at one op per
element; thop hooks known module types: conv/linear MACs (bias not counted), BN 2 ops per element, average
pooling kernel+1 ops per output; ``torch.utils.flop_counter`` returns FLOPs = 2 × MACs of convolutions and
matrix products only, halved here. None of the three counts a tensor mean (``aten::mean``), with which seprof's
SE, like timm's, squeezes: SE's counted MACs are its FC MACs, and ``accounting.se_work`` has the squeeze's adds.

What each counter leaves out is returned with its count (``Count.skipped``) instead of being printed as
warnings: every kind of op that carries work (``carries_work``: it computes values, rather than making, reading
or moving them) and that the counter did not count, with its number of calls. thop sees modules only, so its
pass also traces the aten ops with the module each runs in: an op inside a module type thop has a rule for is
thop's; one that carries work anywhere else (a residual add, SE's scale multiply, attention's matmuls and
softmax) is named, as are the module types thop has no rule for and those its rules count as zero ops (ReLU).
fvcore's own list is checked the same way, with the arithmetic on sizes that its jit trace records left out.

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
from .meta import ShapeOnly, _shape_only, meta_clone, meta_model, shape_only_modules

COUNTER_NAMES = ("fvcore", "thop", "torch")

COUNTER_NOTES = {
    "fvcore": "fvcore FlopCountAnalysis: conv/matmul MACs, plus BN and pooling at 1 op per element; a tensor "
    "mean (SE's squeeze) unseen",
    "thop": "thop.profile: conv/linear MACs (bias not counted), BN 2 ops per element, avg pooling kernel+1 "
    "per output; known module types only, functional calls (SE's squeeze and scale) unseen",
    "torch": "torch.utils.flop_counter.FlopCounterMode: FLOPs of conv/matmul ops, reported as MACs = FLOPs / 2",
}


@dataclass(frozen=True)
class Count:
    """One counter's result for one model.

    Attributes:
        counter: "fvcore", "thop" or "torch".
        macs: total MACs for one forward pass of the input it was given.
        scope_macs: MACs the counter attributes to each requested module path.
        uncounted: every kind of op carrying work that this counter did not count (aten op names, or module
            types for thop), with its number of calls.
        notes: what this counter did not count that has no number of calls.
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
        checked: dict[str, int] = {}
        for name in _FVCORE_CHECKED:
            analysis.set_op_handle(name, _fvcore_recorder(name, checked))
        total = int(analysis.total())
        by_module = analysis.by_module()
        uncounted = {name: n for name, n in analysis.unsupported_ops().items() if carries_work(name)}
    return Count("fvcore", total, {s: int(by_module[s]) for s in scopes}, {**uncounted, **checked})


# Ops that fvcore's jit trace also records for a model's shape arithmetic (sizes become 0-dim tensors there), and
# the ops fvcore ignores although they carry work: each is counted as no work by fvcore and recorded here when its
# output has a dimension (a feature map, not a size).
_FVCORE_CHECKED = tuple(f"aten::{name}" for name in (
    "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "floor_divide", "remainder", "floor",
    "ceil", "neg", "pow", "sqrt", "eq", "ne", "lt", "le", "gt", "ge", "__and__", "__or__", "bitwise_not", "max",
    "min", "relu", "relu_", "clamp", "clamp_"))


def _fvcore_recorder(name: str, calls: dict[str, int]) -> Callable:
    """An fvcore op handle that counts no work, and records a call of ``name`` in ``calls`` when its output is a
    tensor with at least one dimension."""

    def handle(inputs: list, outputs: list) -> int:
        out = outputs[0].type() if outputs else None
        dim = out.dim() if isinstance(out, torch._C.TensorType) else 0
        if dim is None or dim > 0:
            calls[name] = calls.get(name, 0) + 1
        return 0

    return handle


class _OpLog(TorchDispatchMode):
    """Records every aten op that runs, with how often: on the meta device, and on the CPU tensors a model makes
    for itself on the way (MViT's relative-position indices)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: dict[torch._ops.OpOverload, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[func] = self.ops.get(func, 0) + 1
        return func(*args, **(kwargs or {}))


class _OpsByModule(TorchDispatchMode):
    """Counts every module's calls, and, by the innermost module running, the aten ops carrying work that run
    in the own code of modules whose type thop has no rule for (``known`` says which types it has).

    As a context manager it puts forward pre/post hooks on every module of ``model`` (removed on exit), which
    keep the modules running. The mode itself is active only while a module thop has no rule for is the
    innermost one running: what runs inside the others is thop's, and is neither seen nor slowed, nor is thop's
    bookkeeping. thop's rule for a module type, wrapped by ``rule``, runs right after ``_leave`` (thop registers
    its hooks after these) and resumes the mode for the module that called it.
    """

    def __init__(self, model: nn.Module, known: Callable[[type], bool]) -> None:
        super().__init__()
        self.model, self.known = model, known
        self.running: list[nn.Module] = []
        self.calls: dict[nn.Module, int] = {}
        self.ops: dict[tuple[nn.Module, str], int] = {}
        self._work: dict[torch._ops.OpOverload, bool] = {}
        self._handles: list = []
        self._active = False

    def _activate(self, active: bool) -> None:
        if active and not self._active:
            super().__enter__()
        elif self._active and not active:
            super().__exit__(None, None, None)
        self._active = active

    def _resume(self) -> None:
        self._activate(bool(self.running) and not self.known(type(self.running[-1])))

    def rule(self, rule: Callable) -> Callable:
        """thop's forward hook ``rule`` for a module type it knows, run with the mode inactive."""

        def hook(module: nn.Module, inputs: tuple, output: object) -> None:
            rule(module, inputs, output)
            self._resume()

        return hook

    def _enter(self, module: nn.Module, inputs: tuple) -> None:
        self.running.append(module)
        self.calls[module] = self.calls.get(module, 0) + 1
        self._activate(not self.known(type(module)))

    def _leave(self, module: nn.Module, inputs: tuple, output: object) -> None:
        self.running.pop()
        if not self.known(type(module)):  # else thop's rule runs next, and resumes
            self._resume()

    def __enter__(self) -> _OpsByModule:
        try:
            for module in self.model.modules():
                self._handles.append(module.register_forward_pre_hook(self._enter))
                self._handles.append(module.register_forward_hook(self._leave))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._activate(False)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        work = self._work.get(func)
        if work is None:
            work = self._work[func] = not func.is_view and carries_work(func.overloadpacket.__name__)
        if work:
            key = (self.running[-1], func.overloadpacket.__name__)
            self.ops[key] = self.ops.get(key, 0) + 1
        return func(*args, **(kwargs or {}))


def _meta_input(input_shape: Sequence[int]) -> torch.Tensor:
    return torch.empty(1, *input_shape, device="meta")


def count_thop(model: nn.Module, input_shape: Sequence[int], scopes: Sequence[str]) -> Count:
    """Count with thop in a meta-device forward pass (on ``model`` itself when it is a meta model in eval
    mode). thop observes modules only, so normalisation and activation modules run shape-only, and the aten ops
    are traced by module to find the work thop does not see. thop registers "total_ops"/"total_params" buffers
    and hooks on every module and removes them only when the pass succeeds; whatever it leaves is removed here,
    and every module's train/eval state is restored."""
    import thop
    from thop.profile import register_hooks

    clone = meta_model(model)
    hooks_before = {id(m): set(m._forward_hooks) for m in clone.modules()}
    training = [(m, m.training) for m in clone.modules()]
    trace = _OpsByModule(clone, register_hooks.__contains__)
    with warnings.catch_warnings(), torch.no_grad(), shape_only_modules(clone), _without_parameter_tally():
        warnings.simplefilter("ignore")
        try:
            with trace:
                rules = {kind: trace.rule(rule) for kind, rule in register_hooks.items()}  # thop's own, unchanged
                result = thop.profile(clone, inputs=(_meta_input(input_shape),), custom_ops=rules, verbose=False,
                                      ret_layer_info=True)
        finally:
            for module in clone.modules():
                module._buffers.pop("total_ops", None)
                module._buffers.pop("total_params", None)
                for key in set(module._forward_hooks) - hooks_before.get(id(module), set()):
                    del module._forward_hooks[key]
            for module, mode in training:
                module.training = mode
    return _thop_count(clone, result, trace, scopes)


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
    itself when it is a meta model in eval mode); every other op that carries work is logged by name, as not
    counted."""
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


def _thop_count(model: nn.Module, result: tuple, trace: _OpsByModule, scopes: Sequence[str]) -> Count:
    total, _params, tree = result

    def scope(path: str) -> int:
        node = (total, 0, tree)
        for part in path.split("."):
            node = node[2][part]
        return int(node[0])

    return Count("thop", int(total), {s: scope(s) for s in scopes}, _thop_uncounted(model, trace))


def _thop_uncounted(model: nn.Module, trace: _OpsByModule) -> dict[str, int]:
    """What thop did not count in ``model``'s traced pass, with the number of calls: the aten ops carrying work
    that ran in the own code of a module thop has no rule for (its children aside), by op; each module type
    thop has no rule for that did work, and each it counts as zero ops (``_THOP_AS_ZERO``); modules whose
    weights were used functionally (not called as a module, or held by a module thop has no rule for)."""
    from thop.profile import register_hooks

    uncounted: dict[str, int] = {}

    def add(name: str, n: int) -> None:
        uncounted[name] = uncounted.get(name, 0) + n

    worked = {module for module, _ in trace.ops}
    for (module, op), n in trace.ops.items():
        if next(module.children(), None) is not None:
            add(f"aten::{op}", n)
    for module in model.modules():
        kind, calls = type(module), trace.calls.get(module, 0)
        leaf = next(module.children(), None) is None
        if not calls:
            if leaf and _has_weight(module):
                add(f"{kind.__name__} not called as a module", 1)  # its weights used functionally, e.g. Swin's qkv
        elif kind in register_hooks:
            if kind in _THOP_AS_ZERO and _counts_zero(register_hooks[kind]):
                add(f"{kind.__name__} (counted as 0)", calls)
        elif leaf:
            if module in worked or _shape_only(module):
                add(kind.__name__, calls)
        elif any("weight" in name for name, _ in module.named_parameters(recurse=False)):
            add(f"{kind.__name__} (own weights, used functionally)", calls)  # e.g. attention's in-projection
    return uncounted


# Module types that carry work (element-wise maxima) and that thop's rules count as zero ops.
_THOP_AS_ZERO = (nn.ReLU, nn.ReLU6, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d,
                 nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)


def _counts_zero(rule: Callable) -> bool:
    from thop.vision.basic_hooks import zero_ops

    return rule is zero_ops


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
        name = op.overloadpacket.__name__
        if op.overloadpacket not in flop_registry and not op.is_view and carries_work(name):
            uncounted[f"aten::{name}"] = uncounted.get(f"aten::{name}", 0) + n
    return Count("torch", counter.get_total_flops() // 2, {s: scope(s) for s in scopes}, uncounted)


# The ops that carry no work. An op carries work when it computes values from values: multiply-adds, element-wise
# arithmetic and comparisons, reductions, activations, normalisation, pooling, softmax. An op carries none when it
# only makes a tensor (empty, zeros, full, arange), reads a size, or moves values without computing new ones:
# views, reshapes, permutes, copies and casts, concatenation, indexing and slicing, padding, rolls, masked fills
# and selections. Dropout carries none either: counts are for inference, where it is the identity. Names without
# "aten::" and without an in-place op's trailing "_" (``copy_`` is ``copy``); every op not named here carries work.
_NO_WORK = frozenset({
    "Int", "ScalarImplicit", "_local_scalar_dense", "_reshape_alias", "_to_copy", "_unsafe_view", "alias",
    "alpha_dropout", "arange", "as_strided", "broadcast_to", "cat", "channel_shuffle", "chunk", "clone",
    "constant_pad_nd", "contiguous", "copy", "detach", "dim", "dropout", "empty", "empty_like", "empty_strided",
    "expand", "expand_as", "feature_alpha_dropout", "feature_dropout", "fill", "flatten", "flip", "full",
    "full_like", "gather", "index", "index_put", "index_select", "lift_fresh", "lift_fresh_copy", "masked_fill",
    "movedim", "narrow", "native_channel_shuffle", "new_empty", "new_empty_strided", "new_full", "new_ones",
    "new_zeros", "nonzero", "numel", "ones", "ones_like", "pad", "permute", "pixel_shuffle", "pixel_unshuffle",
    "repeat", "reshape", "resize", "roll", "scalar_tensor", "select", "size", "slice", "split", "split_with_sizes",
    "squeeze", "stack", "stride", "sym_size", "t", "tensor_split", "tile", "to", "transpose", "type_as", "unbind",
    "unflatten", "unfold", "unsqueeze", "view", "view_as", "where", "zero", "zeros", "zeros_like",
})


def carries_work(op: str) -> bool:
    """Whether the aten op ``op`` ("aten::add_", "add_") computes values: every op but those that only make a
    tensor, read a size or move values (``_NO_WORK``)."""
    name = op.removeprefix("aten::")
    if name.endswith("_") and not name.endswith("__"):
        name = name[:-1]
    return name not in _NO_WORK


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
