"""The model families seprof knows: where SE goes in each, and the torchvision models in it. No torch here.

Every classification model in ``torchvision.models`` belongs to a family; a family says where SE goes and
why (``Family.where`` / ``Family.source``), or that the model already has SE (``Family.native``).
``model_names`` lists torchvision's classification models by reading the ``@register_model`` functions in
torchvision's source, without importing it (and so without importing torch), which lets ``seprof models``
answer at once; ``seprof.models.list_models`` is the same list, from torchvision's own registry (the tests
check that both agree).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
from dataclasses import dataclass

from .errors import UnknownModelError

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


def family_of(name: str) -> str | None:
    """The name of the family a torchvision model belongs to (None if none)."""
    return next((f.name for f in FAMILIES.values() if name.startswith(f.prefixes)), None)


def natural_key(name: str) -> tuple:
    """Sorts names as a person would: resnet18, resnet34, resnet50, resnet101 (numbers by value)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def check_family(family: str) -> Family:
    """The family called ``family``, or an error naming the valid ones."""
    if family in FAMILIES:
        return FAMILIES[family]
    raise UnknownModelError(f"unknown family {family!r}: choose from {', '.join(FAMILIES)}")


def is_factory(name: str) -> bool:
    """Whether ``name`` names a user's factory (``package.module:function``) rather than a torchvision model."""
    return ":" in name


def _registered(tree: ast.Module) -> list[str]:
    """The names under which a module's top-level functions are registered with ``@register_model``."""
    names = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            if getattr(target, "id", getattr(target, "attr", None)) != "register_model":
                continue
            given = [k.value.value for k in (call.keywords if call else ()) if k.arg == "name"
                     and isinstance(k.value, ast.Constant)]
            names.append(given[0] if given else node.name)
    return names


def model_names() -> list[str] | None:
    """torchvision's classification models seprof supports, in natural order, read from torchvision's source
    files without importing it; None when the source cannot be read (then import torchvision instead)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.origin:
        return None
    folder = os.path.join(os.path.dirname(spec.origin), "models")
    names: list[str] = []
    try:
        for file in sorted(os.listdir(folder)):
            if file.endswith(".py"):
                with open(os.path.join(folder, file), encoding="utf-8") as handle:
                    source = handle.read()
                if "register_model" in source:
                    names += _registered(ast.parse(source))
    except (OSError, SyntaxError, ValueError):
        return None
    return sorted((n for n in names if family_of(n) is not None), key=natural_key) or None
