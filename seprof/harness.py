"""How seprof runs a model: the batch it takes, the part a shape-only pass traces, and where SE goes in it.

Most models take one N×C×H×W tensor (N×C×T×H×W for video) and seprof runs them whole. The others are run
through a *view*: a shallow copy of the model (the same modules, so every module path stays as in the model)
whose ``forward`` takes that one tensor and calls the model the way it expects. A detector takes a list of
images; RAFT takes two frames (seprof gives it the same random frame twice: its 12 flow updates cost the same
whatever the frames hold). A detector's post-processing keeps only the boxes it finds, so its work depends on
the values; shape-only passes (stages, MAC counters, the memory floor) trace its backbone (body and neck) at
the size its transform resizes the input to, and the whole model is timed.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from .errors import OptionError
from .families import Call, Task


@dataclass(frozen=True)
class Harness:
    """How one model is run and where SE goes in it (see ``seprof.families.Family`` for the fields).

    Attributes:
        task: what the model does.
        call: how it takes a batch.
        traced: the submodule shape-only passes run ("" for the whole model).
        body: the submodules SE goes into ("" for the whole model).
        heads: the submodules SE also goes into with ``with_heads``, as a stage of its own.
        with_heads: whether SE goes into ``heads`` too.
        counterpart: builds the classifier whose stage numbers the body keeps (None: numbered by stride).
        counterpart_name: that classifier's name.
        frames_stride: for token models of video, input frames per token frame.
        float_note: for a quantizable builder, that it is built in float.
        train_batch: the smallest batch the model can be timed at in train mode.
    """

    task: Task = Task.CLASSIFICATION
    call: Call = Call.TENSOR
    traced: str = ""
    body: tuple[str, ...] = ("",)
    heads: tuple[str, ...] = ()
    with_heads: bool = False
    counterpart: Callable[[], nn.Module] | None = None
    counterpart_name: str | None = None
    frames_stride: int = 1
    float_note: str = ""
    train_batch: int = 1

    @property
    def trains(self) -> bool:
        """Whether the model can be timed in train mode from images alone (a detector needs targets)."""
        return self.call is not Call.IMAGES

    def including_heads(self, name: str) -> Harness:
        """This harness with SE in the heads too, or an OptionError for a model without heads."""
        if not self.heads:
            raise OptionError("heads", True, f"applies to segmentation and detection models, whose heads seprof "
                              f"can put SE into; {name} has none")
        return replace(self, with_heads=True)

    def part(self, path: str) -> str | None:
        """Where a module path belongs: "body", "head" (only with ``with_heads``) or None (SE does not go there)."""
        def under(prefixes: Sequence[str]) -> bool:
            return any(not p or path == p or path.startswith(p + ".") for p in prefixes)

        if under(self.body):
            return "body"
        if self.with_heads and under(self.heads):
            return "head"
        return None

    def runnable(self, model: nn.Module) -> nn.Module:
        """``model`` as a module that takes one batch tensor: itself, or a view calling it as it expects."""
        if self.call is Call.IMAGES:
            return _view(model, _images_forward)
        if self.call is Call.PAIR:
            return _view(model, _pair_forward)
        return model

    def tracing(self, model: nn.Module) -> nn.Module:
        """The module shape-only passes run: ``model`` as ``runnable`` gives it, or a view that runs only the
        traced part (a detector's backbone) on the tensor its transform would give it."""
        if not self.traced:
            return self.runnable(model)
        view = _view(model, _part_forward)
        view._seprof_part = self.traced  # read by _part_forward; copied with the view
        return view

    def counted(self, model: nn.Module) -> nn.Module:
        """What the MAC counters and the memory floor run: the traced part itself (a detector's backbone, so that
        nothing outside it is reported as skipped), else ``model`` as ``runnable`` gives it."""
        return model.get_submodule(self.traced) if self.traced else self.runnable(model)

    def traced_input(self, model: nn.Module, input_shape: Sequence[int]) -> tuple[int, ...]:
        """The input shape (no batch) of the traced part for a model input of ``input_shape``: for a detector,
        what its transform makes of one image (resized, padded to its size divisor), from a meta-device pass."""
        if not self.traced:
            return tuple(input_shape)
        transform = getattr(model, "transform", None)
        if transform is None:
            return tuple(input_shape)
        with torch.no_grad():
            images, _ = transform([torch.empty(*input_shape, device="meta")])
        return tuple(images.tensors.shape[1:])


def _view(model: nn.Module, forward: Callable) -> nn.Module:
    """A shallow copy of ``model`` (the same submodules, parameters and buffers) with its own ``forward``."""
    view = copy.copy(model)
    view.forward = types.MethodType(forward, view)
    return view


def _images_forward(self: nn.Module, x: torch.Tensor):
    return type(self).forward(self, list(x))


def _pair_forward(self: nn.Module, x: torch.Tensor):
    return type(self).forward(self, x, x)


def _part_forward(self: nn.Module, x: torch.Tensor):
    return self.get_submodule(self._seprof_part)(x)


PLAIN = Harness()


def loss_of(output) -> torch.Tensor:
    """A scalar from whatever a model returns (a tensor, or dicts, lists and tuples of them) for a backward
    pass: the sum of every floating-point tensor in it."""
    if isinstance(output, torch.Tensor):
        return output.float().sum() if output.is_floating_point() else output.new_zeros((), dtype=torch.float32)
    values = output.values() if isinstance(output, dict) else output if isinstance(output, (list, tuple)) else ()
    parts = [loss_of(v) for v in values]
    return torch.stack(parts).sum() if parts else torch.zeros(())
