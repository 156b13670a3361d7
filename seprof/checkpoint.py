"""Save an SE model's weights with what it takes to rebuild it, and load it back.

A checkpoint is a plain dict (loadable with ``torch.load(..., weights_only=True)``): the format name and
version, the base model's name (or factory), r, bias, the SE stages, the input shape used to find them,
whether SE was added beside the model's own (``add_missing``), and the state_dict of the SE model.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import torch
from torch import nn

from .errors import ModelError
from .models import build_model
from .report import atomic_output
from .surgery import inject

FORMAT = "seprof-se-model"
VERSION = 1


def save(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    name: str,
    r: int,
    bias: bool,
    stages: Sequence[int],
    input_shape: Sequence[int],
    add_missing: bool = False,
) -> None:
    """Write ``model``'s state_dict and its recipe to ``path`` atomically."""
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "model": name,
        "r": r,
        "bias": bias,
        "stages": list(stages),
        "input_shape": list(input_shape),
        "add_missing": add_missing,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)


def load(path: str | os.PathLike, base: nn.Module | None = None) -> nn.Module:
    """Rebuild the SE model saved at ``path`` (with ``seprof inject --save`` or ``save``).

    Args:
        path: the checkpoint file.
        base: the un-injected model to rebuild from; by default the named torchvision model is built.
    """
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError(f"{str(path)!r} is not a seprof SE-model checkpoint (no format {FORMAT!r})")
    if base is None:
        base = build_model(payload["model"], "cpu")
    model = inject(base, r=payload["r"], stages=payload["stages"], bias=payload["bias"],
                   input_shape=payload["input_shape"], add_missing=payload.get("add_missing", False))
    model.load_state_dict(payload["state_dict"])
    return model
