"""What one call of a model asks of the host: every aten op it dispatches and every module it calls, in order.

On a GPU in eager mode each aten op is a kernel launch (or a metadata-only op) that the host prepares in
Python and C++, and each module call is Python work around it; at small batches that host work, not the
device's, is most of the time SE adds. Two models that dispatch the same op sequence launch the same kernels,
so what is left between them is their Python: the module calls. The ops are recorded below autograd, so with
``train`` the backward pass's ops are in the list too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from .errors import ModelError
from .harness import loss_of


@dataclass(frozen=True)
class Dispatched:
    """The aten ops (``"aten.relu_.default"``...) and the classes of the modules called, in call order."""

    ops: tuple[str, ...]
    modules: tuple[str, ...]


class _Record(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def dispatched(model: nn.Module, x: torch.Tensor, train: bool = False) -> Dispatched:
    """The ops and module calls of ``model(x)`` under ``torch.no_grad``. With ``train``: of the forward pass
    with gradients and the backward pass of its loss (the float32 sum of every floating-point tensor in the
    output), the gradients set to None first, as a timed training step does. The model's train/eval mode is
    the caller's, and the model is left as it was: its buffers (a BatchNorm's running statistics, which a pass
    in train mode updates) and its parameters' gradients are put back, and nothing stays registered on it."""
    if not isinstance(model, nn.Module):
        raise ModelError(f"dispatched takes a model (torch.nn.Module), not {type(model).__name__}: build one first, "
                         "e.g. seprof.build_model(name)")
    buffers = [(module, name, tensor, tensor.detach().clone()) for module in model.modules()
               for name, tensor in module._buffers.items() if tensor is not None]
    grads = [(parameter, parameter.grad) for parameter in model.parameters()]
    modules: list[str] = []
    hook = nn.modules.module.register_module_forward_pre_hook(lambda m, i: modules.append(type(m).__name__))
    try:
        if train:
            model.zero_grad(set_to_none=True)  # else gradients left from before add accumulation ops
        with torch.set_grad_enabled(train), _Record() as record:
            out = model(x)
            if train:
                loss_of(out).backward()
    finally:
        hook.remove()
        with torch.no_grad():
            for module, name, tensor, saved in buffers:
                module._buffers[name] = tensor
                tensor.copy_(saved)
        for parameter, grad in grads:
            parameter.grad = grad
    return Dispatched(tuple(record.ops), tuple(modules))
