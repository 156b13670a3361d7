"""Model names → models with random weights (nothing is downloaded), and the families seprof knows.

Every classification model in ``torchvision.models`` belongs to a family; a family says where SE goes and
why (``Family.where`` / ``Family.source``), or that the model already has SE (``Family.native``). A user's
own model is named by an importable factory, ``package.module:function``, called with no arguments.

``build_model`` builds on the meta device when only shapes are needed (no memory, no initialisation): it
tries ``torch.device("meta")`` first, then, for constructors that compute on tensors (RegNet's width
schedule calls ``.tolist()``), builds on the CPU with each parameter and buffer moved to meta as it is
registered, so no weight memory is ever filled.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib
import os
import sys
import threading
import warnings
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torchvision
from torch import nn

from .errors import ModelError, UnknownModelError

DEFAULT_INPUT_SHAPE = (3, 224, 224)


@dataclass(frozen=True)
class Family:
    """Models that share a block design, and where SE goes in them.

    Attributes:
        name: short name used by ``--family``.
        title: the architectures it covers.
        prefixes: torchvision model names starting with one of these belong here.
        where: where an SE block recalibrates features (or where the model's own SE blocks sit).
        source: where that placement comes from.
        native: the models already contain ``torchvision.ops.SqueezeExcitation`` blocks.
        choice: the placement is seprof's choice rather than taken from a paper or reference model.
        input_size: the default square input side.
    """

    name: str
    title: str
    prefixes: tuple[str, ...]
    where: str
    source: str
    native: bool = False
    choice: bool = False
    input_size: int = 224


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "resnet", "ResNet, ResNeXt, Wide ResNet", ("resnet", "resnext", "wide_resnet"),
            "residual branch, after the last conv+BN, before the sum with the identity",
            "SE paper Fig. 3 (SE-ResNet, SE-ResNeXt)",
        ),
        Family(
            "regnetx", "RegNetX", ("regnet_x_",),
            "residual branch (the bottleneck transform's output), before the sum",
            "SE paper Fig. 3, as for ResNet (RegNetY adds SE inside the transform instead)",
        ),
        Family(
            "mobilenetv2", "MobileNetV2", ("mobilenet_v2",),
            "inverted residual: on the expanded channels, after the depthwise conv+BN+ReLU6",
            "where MobileNetV3 and EfficientNet place their own SE (Howard et al. 2019, Fig. 4)",
        ),
        Family(
            "mnasnet", "MNASNet", ("mnasnet",),
            "inverted residual: on the expanded channels, after the depthwise conv+BN+ReLU",
            "MnasNet's own SE variant (Tan et al. 2019, Fig. 7) and MobileNetV3",
        ),
        Family(
            "shufflenetv2", "ShuffleNetV2", ("shufflenet_v2",),
            "the transformed branch (branch2), before concatenation and channel shuffle",
            "ShuffleNetV2's SE variant (Ma et al. 2018, Sec. 5, 'with SE')",
        ),
        Family(
            "vgg", "VGG", ("vgg",),
            "after the ReLU that follows each conv (and BN)",
            "SE paper Sec. 6.1/Table 2 (SE-VGG-16: SE after the non-linearity of each conv)",
        ),
        Family(
            "alexnet", "AlexNet", ("alexnet",),
            "after the ReLU that follows each conv",
            "the SE paper's SE-VGG rule applied to AlexNet's plain conv stack",
            choice=True,
        ),
        Family(
            "googlenet", "GoogLeNet", ("googlenet",),
            "on the output of each Inception module",
            "SE paper Fig. 2 (SE-Inception)",
        ),
        Family(
            "inception", "Inception v3", ("inception_v3",),
            "on the output of each Inception module (A to E)",
            "SE paper Fig. 2 (SE-Inception)",
            input_size=299,
        ),
        Family(
            "densenet", "DenseNet", ("densenet",),
            "on the new features of each dense layer (its last conv), before concatenation",
            "seprof's choice: recalibrate what each layer adds, as SE recalibrates a residual branch",
            choice=True,
        ),
        Family(
            "squeezenet", "SqueezeNet", ("squeezenet",),
            "on each Fire module's output",
            "seprof's choice: a Fire module is the network's repeated unit, like an Inception module",
            choice=True,
        ),
        Family(
            "convnext", "ConvNeXt", ("convnext",),
            "the block's branch (after the last pointwise linear), before layer scale and the residual sum",
            "seprof's choice, following the SE paper's residual rule",
            choice=True,
        ),
        Family(
            "vit", "Vision Transformer", ("vit_",),
            "channel SE over tokens on the MLP branch output, before the residual sum",
            "seprof's choice: squeeze = mean over all tokens (class token included), excitation over the "
            "embedding dimension",
            choice=True,
        ),
        Family(
            "swin", "Swin Transformer (v1, v2)", ("swin_",),
            "channel SE over tokens on the MLP branch output (v2: after its post-norm), before the sum",
            "seprof's choice: squeeze = mean over the token grid, excitation over the channels",
            choice=True,
        ),
        Family(
            "efficientnet", "EfficientNet B0-B7", ("efficientnet_b",),
            "native: inside each MBConv, on the expanded channels after the depthwise conv",
            "torchvision's model (Tan & Le 2019)",
            native=True,
        ),
        Family(
            "efficientnetv2", "EfficientNetV2", ("efficientnet_v2",),
            "native: inside each MBConv (FusedMBConv blocks have none)",
            "torchvision's model (Tan & Le 2021)",
            native=True,
        ),
        Family(
            "mobilenetv3", "MobileNetV3", ("mobilenet_v3",),
            "native: in some inverted residuals, after the depthwise conv (hard-sigmoid gate)",
            "torchvision's model (Howard et al. 2019)",
            native=True,
        ),
        Family(
            "regnety", "RegNetY", ("regnet_y_",),
            "native: inside each bottleneck transform, after the grouped 3×3 conv",
            "torchvision's model (Radosavovic et al. 2020)",
            native=True,
        ),
        Family(
            "maxvit", "MaxViT", ("maxvit",),
            "native: inside each MBConv, after the depthwise conv (attention layers have none)",
            "torchvision's model (Tu et al. 2022)",
            native=True,
        ),
    )
}


def _family_of(name: str) -> str | None:
    return next((f.name for f in FAMILIES.values() if name.startswith(f.prefixes)), None)


# Every classification model torchvision registers, mapped to its family.
MODEL_FAMILIES: dict[str, str] = {
    name: family
    for name in torchvision.models.list_models(module=torchvision.models)
    if (family := _family_of(name)) is not None
}


def list_models(family: str | None = None) -> tuple[str, ...]:
    """Names of the torchvision models seprof supports, optionally of one family only."""
    return tuple(name for name, fam in MODEL_FAMILIES.items() if family in (None, fam))


def check_family(family: str) -> Family:
    """The family called ``family``, or an error naming the valid ones."""
    if family in FAMILIES:
        return FAMILIES[family]
    raise UnknownModelError(f"unknown family {family!r}: choose from {', '.join(FAMILIES)}")


def is_factory(name: str) -> bool:
    """Whether ``name`` names a user's factory (``package.module:function``) rather than a torchvision model."""
    return ":" in name


def model_family(name: str) -> Family | None:
    """The family of a supported model (None for a user's factory)."""
    if is_factory(name):
        return None
    return FAMILIES[MODEL_FAMILIES[check_model_name(name)]]


def check_model_name(name: str) -> str:
    """Return ``name`` if supported (or a factory spec), else raise an error naming the closest names."""
    if name in MODEL_FAMILIES or is_factory(name):
        return name
    close = difflib.get_close_matches(name, list_models(), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "choose a torchvision model name or package.module:function"
    raise UnknownModelError(f"unknown model {name!r}: {hint} ('seprof models' lists them)")


def default_input_shape(name: str) -> tuple[int, int, int]:
    """The C×H×W input the model is usually run at (3×224×224 for a user's factory)."""
    family = model_family(name)
    size = family.input_size if family else DEFAULT_INPUT_SHAPE[-1]
    return (3, size, size)


def load_factory(spec: str) -> Callable[[], nn.Module]:
    """The callable named by ``package.module:function``; the current folder is importable, as for python -m."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UnknownModelError(f"model {spec!r} is not package.module:function, e.g. mypkg.models:build_net")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UnknownModelError(f"cannot import {module_name!r} for model {spec!r}: {error}") from error
    finally:
        sys.path.remove(os.getcwd())
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise UnknownModelError(f"module {module_name!r} has no {attr!r} (model {spec!r})")
    if not callable(factory):
        raise UnknownModelError(f"{spec!r} is not callable: it must be a function returning an nn.Module")
    return factory


_REGISTER_LOCK = threading.Lock()


@contextlib.contextmanager
def _register_on_meta() -> Iterator[None]:
    """While active, every parameter and buffer a module registers *in this thread* is moved to the meta
    device (other threads are unaffected; one such window at a time)."""
    with _REGISTER_LOCK:
        register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer
        owner = threading.get_ident()

        def parameter_on_meta(self: nn.Module, name: str, param: nn.Parameter | None) -> None:
            if param is not None and param.device.type != "meta" and threading.get_ident() == owner:
                param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
            register_parameter(self, name, param)

        def buffer_on_meta(self: nn.Module, name: str, tensor: torch.Tensor | None, persistent: bool = True) -> None:
            if tensor is not None and tensor.device.type != "meta" and threading.get_ident() == owner:
                tensor = tensor.to("meta")
            register_buffer(self, name, tensor, persistent)

        nn.Module.register_parameter, nn.Module.register_buffer = parameter_on_meta, buffer_on_meta
        try:
            yield
        finally:
            nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer


_INIT_LOCK = threading.Lock()


@contextlib.contextmanager
def _no_init_on_meta() -> Iterator[None]:
    """While active, ``torch.nn.init``'s functions return a meta tensor untouched (they could only write
    values it does not hold), skipping their fan-in arithmetic; real tensors are initialised as usual.
    Halves the time to build the 80 torchvision models on the meta device."""
    with _INIT_LOCK:
        saved = {name: getattr(nn.init, name) for name in dir(nn.init)
                 if name.endswith("_") and not name.startswith("_") and callable(getattr(nn.init, name))}

        def skipping(initialise: Callable) -> Callable:
            @functools.wraps(initialise)
            def initialise_unless_meta(tensor, *args, **kwargs):
                if isinstance(tensor, torch.Tensor) and tensor.is_meta:
                    return tensor
                return initialise(tensor, *args, **kwargs)

            return initialise_unless_meta

        for name, initialise in saved.items():
            setattr(nn.init, name, skipping(initialise))
        try:
            yield
        finally:
            for name, initialise in saved.items():
                setattr(nn.init, name, initialise)


# Training-only heads left out: GoogLeNet's and Inception v3's auxiliary classifiers never run in eval mode,
# so their parameters would only dilute every percentage.
_BUILD_OPTIONS = {"googlenet": {"aux_logits": False}, "inception_v3": {"aux_logits": False}}


def _torchvision(name: str) -> nn.Module:
    with warnings.catch_warnings():
        # GoogLeNet and Inception v3 warn that their default initialisation will change; seprof's weights
        # are random either way.
        warnings.simplefilter("ignore", FutureWarning)
        return torchvision.models.get_model(name, weights=None, **_BUILD_OPTIONS.get(name, {}))


def _construct(name: str, device: torch.device) -> nn.Module:
    make = _checked_factory(name) if is_factory(name) else functools.partial(_torchvision, name)
    if device.type != "meta":
        with torch.device(device):
            return make()
    from .stages import ShapeOnly, meta_clone

    try:
        with torch.device("meta"), ShapeOnly(init=True), _no_init_on_meta(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. load_state_dict into meta tensors is a no-op, and says so
            return make()
    except (NotImplementedError, RuntimeError):
        pass
    try:
        # The constructor computes on tensors (e.g. RegNet's widths): build on the CPU, weights on meta.
        with _register_on_meta(), ShapeOnly(init=True), _no_init_on_meta(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return make().to("meta")
    except (NotImplementedError, RuntimeError):
        pass
    # Last resort (e.g. a factory that moves its model to a device): real weights, then a meta copy.
    with torch.device("cpu"):
        try:
            model = make()
        except (NotImplementedError, RuntimeError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ModelError(f"{name} could not be built: {type(error).__name__}: {first}") from error
    return meta_clone(model) if isinstance(model, nn.Module) else model


def _checked_factory(spec: str) -> Callable[[], nn.Module]:
    """The factory named by ``spec``, whose failures are reported as one-line ModelErrors."""
    factory = load_factory(spec)

    def make() -> nn.Module:
        try:
            return factory()
        except (NotImplementedError, RuntimeError):
            raise  # may be the meta device's doing: the caller retries another way
        except Exception as error:  # noqa: BLE001 - a user's code can raise anything
            raise ModelError(f"{spec}() failed: {type(error).__name__}: {error}") from error

    return make


def build_model(name: str, device: str | torch.device = "cpu", seed: int = 0) -> nn.Module:
    """Build ``name`` with random weights, in eval mode, on ``device`` ("meta" allocates nothing).

    ``name`` is a torchvision model name or a factory ``package.module:function``. The weights depend on
    ``seed`` only; the caller's random state is left as it was.
    """
    check_model_name(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _construct(name, torch.device(device))
    if not isinstance(model, nn.Module):
        raise ModelError(f"{name!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model.eval()
