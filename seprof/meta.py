"""Meta-device tools: copies of a model that hold no data, and forward passes that compute shapes only.

seprof measures copies and never changes a caller's model (``deep_copy``); it finds stages, counts MACs and
checks memory on meta-device copies (``meta_clone``, ``meta_model``), where ``ShapeOnly`` and
``shape_only_modules`` skip the work that cannot change a shape (normalisation and activation kernels, weight
initialisation); ``largest_tensor`` finds the largest tensor a forward pass makes, and ``kept_for_backward`` the
bytes a training step's forward pass keeps for its backward pass, before any memory is taken.
"""

from __future__ import annotations

import contextlib
import copy
import weakref
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from .errors import ModelError, first_line


def deep_copy(model: nn.Module, memo: dict[int, object] | None = None) -> nn.Module:
    """``copy.deepcopy(model)``, or a ModelError when the model cannot be copied (it holds a lock, a file, a
    generator...): seprof works on copies and never changes a caller's model, so it needs one."""
    try:
        return copy.deepcopy(model, memo)
    except Exception as error:  # noqa: BLE001 - whatever a model holds can refuse to be copied in its own way
        raise ModelError(
            f"{type(model).__name__} cannot be copied ({first_line(error)}): seprof measures copies and never "
            "changes your model, so it must work with copy.deepcopy") from error


def meta_clone(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` on the meta device, made without copying any weight data."""
    memo: dict[int, object] = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        meta = torch.empty_like(tensor, device="meta")
        if isinstance(tensor, nn.Parameter):
            meta = nn.Parameter(meta, requires_grad=tensor.requires_grad)
        memo[id(tensor)] = meta
    return deep_copy(model, memo)


def with_batchnorm(model: nn.Module) -> nn.Module:
    """``model`` itself, or, where it holds FrozenBatchNorm2d layers, a meta-device copy with each one an
    eval-mode BatchNorm2d of the same width: the same function for inference, so MAC counters (which know
    BatchNorm2d, not torchvision's frozen variant) count a frozen backbone as they count a BN one."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    if not any(isinstance(m, FrozenBatchNorm2d) for m in model.modules()):
        return model
    clone = meta_clone(model)
    for name, module in list(clone.named_modules()):
        if isinstance(module, FrozenBatchNorm2d):
            parent, _, attr = name.rpartition(".")
            bn = nn.BatchNorm2d(module.weight.shape[0], eps=module.eps, device="meta").eval()
            setattr(clone.get_submodule(parent) if parent else clone, attr, bn)
    return clone


def is_meta(model: nn.Module) -> bool:
    """Whether every parameter and buffer of ``model`` is on the meta device (holds no data)."""
    return all(t.device.type == "meta" for t in [*model.parameters(), *model.buffers()])


def meta_model(model: nn.Module) -> nn.Module:
    """``model`` itself when it is a meta-device model in eval mode, else an eval-mode meta copy.

    For running shape-only passes: a meta model in eval mode changes nothing when run (no data, no running
    statistics), so it needs no copy; callers remove whatever hooks they add.
    """
    if is_meta(model) and not any(m.training for m in model.modules()):
        return model
    return meta_clone(model).eval()


class ShapeOnly(torch.overrides.TorchFunctionMode):
    """Skips work on meta tensors that cannot change a shape, for fast shape-only passes and construction.

    torch's meta kernels for batch_norm / layer_norm / group_norm are Python decompositions that cost about
    1 ms a call; these layers never change a shape, so on meta tensors their output is ``empty_like(input)``.
    With ``init`` (while building a model), in-place value-only ops (weight initialisation: ``uniform_``,
    ``normal_``, ``fill_``...) on a meta tensor return it unchanged, as they would anyway, without the dispatch.
    ``calls`` counts the short-cut normalisation layers, by aten op name, for counters that report uncounted ops.
    With ``activations``, element-wise activations and dropout are short-cut too (for passes that report no op
    names).
    """

    _NORMS = {
        torch.nn.functional.batch_norm: "aten::batch_norm",
        torch.nn.functional.layer_norm: "aten::layer_norm",
        torch.nn.functional.group_norm: "aten::group_norm",
    }

    # In-place ops that only change values, never shape or strides: on a meta tensor they do nothing.
    _VALUES_ONLY = {
        getattr(torch.Tensor, name)
        for name in ("uniform_", "normal_", "fill_", "zero_", "copy_", "erfinv_", "mul_", "add_", "clamp_",
                     "exp_", "log_", "sub_", "div_", "bernoulli_", "random_")
    }

    # Element-wise activations and dropout: shape-preserving, and counted by no counter.
    _ACTIVATIONS = {
        torch.nn.functional.relu, torch.nn.functional.relu6, torch.nn.functional.hardtanh, torch.nn.functional.gelu,
        torch.nn.functional.silu, torch.nn.functional.hardswish, torch.nn.functional.hardsigmoid,
        torch.nn.functional.mish, torch.nn.functional.leaky_relu, torch.nn.functional.elu,
        torch.nn.functional.dropout, torch.sigmoid, torch.tanh, torch.Tensor.sigmoid, torch.Tensor.tanh,
    }

    def __init__(self, activations: bool = False, init: bool = False) -> None:
        super().__init__()
        self.calls: dict[str, int] = {}
        self.activations = activations
        self.init = init

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        first = args[0] if args else None
        if not isinstance(first, torch.Tensor) or first.device.type != "meta":
            return func(*args, **kwargs)
        name = self._NORMS.get(func)
        if name is not None:
            self.calls[name] = self.calls.get(name, 0) + 1
            return torch.empty_like(first)
        if self.init and func in self._VALUES_ONLY:
            return first
        if self.activations and func in self._ACTIVATIONS:
            return first if kwargs.get("inplace") else torch.empty_like(first)
        return func(*args, **kwargs)


_SHAPE_ONLY_MODULES = (
    nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.GELU, nn.SiLU,
    nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.LeakyReLU, nn.ELU, nn.Dropout, nn.Sigmoid, nn.Tanh,
)
_SHAPE_ONLY_FORWARDS = {cls.forward for cls in _SHAPE_ONLY_MODULES}


def _shape_only(module: nn.Module) -> bool:
    """A normalisation, activation or dropout module that runs torch's own forward (a subclass with a
    forward of its own, or with children, may do more, and runs as written)."""
    return isinstance(module, _SHAPE_ONLY_MODULES) and type(module).forward in _SHAPE_ONLY_FORWARDS and not (
        module._modules)


@contextlib.contextmanager
def shape_only_modules(model: nn.Module) -> Iterator[None]:
    """While active, the normalisation, activation and dropout modules of a meta-device ``model`` return an
    empty tensor of their input's shape (or the input itself when in place), without running their kernels;
    their forward hooks still run. The module-level twin of ``ShapeOnly``, for passes that observe modules
    (thop): no torch-function mode sits between the hooks' own bookkeeping and torch, which makes thop's pass
    about a third faster. Functional calls outside these modules run as usual."""

    def shape_of_input(module: nn.Module) -> Callable:
        inplace = getattr(module, "inplace", False)
        return (lambda x, *args, **kwargs: x) if inplace else (lambda x, *args, **kwargs: torch.empty_like(x))

    patched = [(m, m.__dict__.get("forward")) for m in model.modules() if _shape_only(m)]
    for module, _ in patched:
        module.forward = shape_of_input(module)
    try:
        yield
    finally:
        for module, own in patched:
            if own is None:
                del module.forward
            else:
                module.forward = own


class _Largest(TorchDispatchMode):
    """Remembers the largest tensor any op creates, in bytes, and the op that created it; an output that shares
    an input's storage (a view, such as a transposed weight, or an in-place result) is no new tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes, self.op = 0, ""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage()._cdata for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.numel() * t.element_size() > self.bytes and (
                    t.untyped_storage()._cdata not in inputs):
                self.bytes, self.op = t.numel() * t.element_size(), func.overloadpacket.__name__
        return out


def largest_tensor(model: nn.Module, input_shape: Sequence[int]) -> tuple[int, str]:
    """(bytes, op name) of the largest tensor one image's forward pass creates (input included), from a
    meta-device pass: a floor for the memory a real pass needs, known before any memory is taken."""
    clone = meta_model(model)
    x = torch.empty(1, *input_shape, device="meta")
    with torch.no_grad(), ShapeOnly(activations=True), _Largest() as largest:
        clone(x)
    if x.numel() * x.element_size() > largest.bytes:
        return x.numel() * x.element_size(), "the input"
    return largest.bytes, f"aten::{largest.op}"


def kept_for_backward(model: nn.Module, input_shape: Sequence[int], batch: int) -> int:
    """Bytes of the activations that a forward pass of ``batch`` samples keeps for its backward pass, from a
    pass of ``model``, a meta-device model in the mode to measure (train mode changes its meta buffers, which
    hold no data).

    Every tensor autograd saves and still holds when the forward pass returns is counted once per storage (views
    share their base's); the model's parameters and buffers and the input are not. All of it is alive at once
    when the backward pass starts, so it is a floor for the memory a training step needs beyond weights, their
    gradients and the input; tensors a custom autograd function keeps outside ``save_for_backward`` are missed.
    """
    x = torch.empty(batch, *input_shape, device="meta")
    own = {t.untyped_storage()._cdata for t in [*model.parameters(), *model.buffers(), x]}
    saved: list[tuple[int, int, weakref.ref]] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        kept = t.detach()  # held by the graph alone, and no cycle through a saved output's own grad_fn
        storage = kept.untyped_storage()
        if storage._cdata not in own:
            saved.append((storage._cdata, storage.nbytes(), weakref.ref(kept)))
        return kept

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        output = model(x)  # held until the count is made: its graph holds what is saved
        held = {key: size for key, size, ref in saved if ref() is not None}
    del output
    return sum(held.values())
