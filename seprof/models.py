"""Model names → torchvision models with random weights (nothing is downloaded).

``list_models()`` is what seprof supports; ``build_model`` builds one, on the meta device when only
shapes are needed (no memory, no initialisation cost) or on a real device for timing.
"""

from __future__ import annotations

import difflib

import torch
import torchvision
from torch import nn

from .errors import UnknownModelError

RESNET_FAMILY = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet50_2",
    "wide_resnet101_2",
)

DEFAULT_INPUT_SHAPE = (3, 224, 224)


FAMILIES = {name: "resnet" for name in RESNET_FAMILY}


def list_models(family: str | None = None) -> tuple[str, ...]:
    """Names of the models seprof supports, optionally of one family only."""
    return tuple(name for name, fam in FAMILIES.items() if family in (None, fam))


def model_family(name: str) -> str:
    """The family a supported model belongs to."""
    return FAMILIES[check_model_name(name)]


def check_model_name(name: str) -> str:
    """Return ``name`` if supported, else raise an error naming the closest supported names."""
    if name in list_models():
        return name
    close = difflib.get_close_matches(name, list_models(), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"choose from {', '.join(list_models())}"
    raise UnknownModelError(f"unknown model {name!r}: {hint} ('seprof models' lists them)")


def default_input_shape(name: str) -> tuple[int, int, int]:
    """The C×H×W input the model is usually run at."""
    check_model_name(name)
    return DEFAULT_INPUT_SHAPE


def build_model(name: str, device: str | torch.device = "cpu", seed: int = 0) -> nn.Module:
    """Build ``name`` with random weights, in eval mode, on ``device`` ("meta" allocates nothing).

    The weights depend on ``seed`` only; the caller's random state is left as it was.
    """
    check_model_name(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.device(device):
            model = torchvision.models.get_model(name, weights=None)
    return model.eval()
