"""The model families seprof knows: where SE goes in each, and the torchvision models in it. No torch here.

Every model torchvision registers belongs to a family and a task (``Task``): classification, segmentation,
detection, video, optical flow, or quantization (the ``quantized_*`` builders, which seprof builds in float
and places like their float counterparts: ``quantized_resnet50`` is in the ``resnet`` family). A family says
where SE goes and why (``Family.where`` / ``Family.source``), or that the model already has SE
(``Family.native``), and how the model is run: its usual input, how it takes a batch (``Call``), which part a
shape-only pass traces (a detector's backbone), where SE goes by default (``body``) and with ``--heads``
(``heads``), and whether its stages are numbered as in the classifier its backbone comes from.
``model_names`` lists torchvision's models by reading the ``@register_model`` functions in torchvision's
source, without importing it (and so without importing torch), which lets ``seprof models`` answer at once;
``seprof.models.list_models`` is the same list, from torchvision's own registry (the tests check that both
agree).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import re
from dataclasses import dataclass

from .errors import UnknownModelError
from .options import Choice

DEFAULT_INPUT_SHAPE = (3, 224, 224)


class Task(Choice):
    """What a torchvision model does, as torchvision groups its builders."""

    CLASSIFICATION = "classification"
    SEGMENTATION = "segmentation"
    DETECTION = "detection"
    VIDEO = "video"
    OPTICAL_FLOW = "optical_flow"
    QUANTIZATION = "quantization"


class Call(Choice):
    """How a model takes a batch: one N×C×H×W (or N×C×T×H×W) tensor, two frames (optical flow: the same random
    frame twice), or a list of N C×H×W images (detection)."""

    TENSOR = "tensor"
    PAIR = "pair"
    IMAGES = "images"


QUANTIZED_PREFIX = "quantized_"
TIMM_PREFIX = "timm:"  # timm's models: timm:NAME

# torchvision's folder for each task's builders (classification: the models folder itself)
TASK_FOLDERS = {
    Task.CLASSIFICATION: "", Task.SEGMENTATION: "segmentation", Task.DETECTION: "detection", Task.VIDEO: "video",
    Task.OPTICAL_FLOW: "optical_flow", Task.QUANTIZATION: "quantization",
}


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
        task: what the family's models do (a quantized builder is in its float counterpart's family).
        frames: for video models, the clip length T of the usual input (C×T×H×W).
        call: how the model takes a batch.
        traced: the submodule a shape-only pass (stages, MAC counters) runs, "" for the whole model; a
            detector's backbone runs at ``input_size`` (the size its transform resizes to) while the whole
            model, post-processing included, is what is timed.
        body: the submodules SE goes into ("" for the whole model).
        heads: more submodules SE goes into with ``--heads``, numbered as a stage of their own after the body's.
        counterpart: the body's stages are numbered as in the classifier the backbone comes from (the name
            after the family's prefix), even where the backbone trades stride for dilation.
        frames_stride: for token models of video, how many input frames become one token frame.
        train_batch: the smallest batch the model trains on (DeepLabV3's ASPP normalises a pooled 1×1 map
            with BatchNorm, which needs two values per channel).
        size_argument: the builder's argument that fixes the input size a model is built for (ViT's
            ``image_size``, whose position embedding follows it; MaxViT's ``input_size``), or "" for none.
    """

    name: str
    title: str
    prefixes: tuple[str, ...]
    where: str
    source: str
    native: bool = False
    choice: bool = False
    input_size: int = 224
    task: Task = Task.CLASSIFICATION
    frames: int | None = None
    call: Call = Call.TENSOR
    traced: str = ""
    body: tuple[str, ...] = ("",)
    heads: tuple[str, ...] = ()
    counterpart: bool = False
    frames_stride: int = 1
    train_batch: int = 1
    size_argument: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The usual input of one sample: C×H×W, or C×T×H×W for video."""
        return (3, *(() if self.frames is None else (self.frames,)), self.input_size, self.input_size)


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
            choice=True, size_argument="image_size",
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
            native=True, size_argument="input_size",
        ),
        Family(
            "fcn", "FCN (ResNet-50/101 backbone)", ("fcn_",),
            "backbone as ResNet (residual branch, before the sum); with heads: after the head's conv+BN+ReLU",
            "SE paper Fig. 3 in the backbone; in the head, seprof's choice (the conv+BN+activation rule)",
            task=Task.SEGMENTATION, input_size=520, body=("backbone",), heads=("classifier", "aux_classifier"),
            counterpart=True,
        ),
        Family(
            "deeplabv3", "DeepLabV3 (ResNet-50/101, MobileNetV3-Large backbone)", ("deeplabv3_",),
            "backbone as its classifier (ResNet: residual branch; MobileNetV3: its own SE); with heads: after each "
            "conv+BN+ReLU of the ASPP head",
            "SE paper Fig. 3 / torchvision's MobileNetV3 in the backbone; in the head, seprof's choice",
            task=Task.SEGMENTATION, input_size=520, body=("backbone",), heads=("classifier", "aux_classifier"),
            counterpart=True, train_batch=2,
        ),
        Family(
            "lraspp", "LR-ASPP (MobileNetV3-Large backbone)", ("lraspp_",),
            "native: MobileNetV3's own SE in the backbone; with heads: after the head's conv+BN+ReLU",
            "torchvision's model (Howard et al. 2019, Sec. 6.3)",
            native=True, task=Task.SEGMENTATION, input_size=520, body=("backbone",), heads=("classifier",),
            counterpart=True,
        ),
        Family(
            "rcnn", "Faster, Mask and Keypoint R-CNN (ResNet-50, MobileNetV3-Large + FPN)",
            ("fasterrcnn_", "maskrcnn_", "keypointrcnn_"),
            "backbone body as its classifier (ResNet: residual branch; MobileNetV3: its own SE); with heads: "
            "each FPN output",
            "SE paper Fig. 3 in the body; on the FPN outputs, seprof's choice",
            task=Task.DETECTION, input_size=800, call=Call.IMAGES, traced="backbone", body=("backbone.body",),
            heads=("backbone.fpn",),
        ),
        Family(
            "retinanet", "RetinaNet and FCOS (ResNet-50 + FPN)", ("retinanet_", "fcos_"),
            "backbone body as ResNet (residual branch); with heads: each FPN output, P6 and P7",
            "SE paper Fig. 3 in the body; on the FPN outputs, seprof's choice",
            task=Task.DETECTION, input_size=800, call=Call.IMAGES, traced="backbone", body=("backbone.body",),
            heads=("backbone.fpn",),
        ),
        Family(
            "ssd", "SSD300 (VGG-16)", ("ssd300_",),
            "after the ReLU of each VGG conv (conv1_1 to fc7, as SE-VGG); with heads: the extra layers' ReLUs",
            "SE paper Sec. 6.1 (SE-VGG) in the body; in the extra layers, seprof's choice",
            task=Task.DETECTION, input_size=300, call=Call.IMAGES, traced="backbone",
            body=("backbone.features", "backbone.extra.0"), heads=("backbone.extra",),
        ),
        Family(
            "ssdlite", "SSDlite (MobileNetV3-Large)", ("ssdlite",),
            "native: MobileNetV3's own SE in the backbone; with heads: the extra blocks' conv+BN+ReLU6 units",
            "torchvision's model (Howard et al. 2019)",
            native=True, task=Task.DETECTION, input_size=320, call=Call.IMAGES, traced="backbone",
            body=("backbone.features",), heads=("backbone.extra",),
        ),
        Family(
            "video_resnet", "R3D, MC3, R(2+1)D", ("r3d_", "mc3_", "r2plus1d_"),
            "residual branch, after the last conv+BN, before the sum; 3-D SE (squeeze over T×H×W)",
            "SE paper Fig. 3, with the squeeze over time and space",
            task=Task.VIDEO, input_size=112, frames=16,
        ),
        Family(
            "s3d", "S3D", ("s3d",),
            "on the output of each separable Inception module; 3-D SE (squeeze over T×H×W)",
            "SE paper Fig. 2 (SE-Inception), with the squeeze over time and space",
            task=Task.VIDEO, frames=16,
        ),
        Family(
            "mvit", "MViT v1, v2", ("mvit_",),
            "token SE on the MLP branch output, before the residual sum; squeeze = mean over all tokens",
            "seprof's choice, as for ViT",
            choice=True, task=Task.VIDEO, frames=16, frames_stride=2,
        ),
        Family(
            "swin3d", "Video Swin Transformer", ("swin3d_",),
            "token SE on the MLP branch output, before the residual sum; squeeze = mean over T×H×W",
            "seprof's choice, as for Swin",
            choice=True, task=Task.VIDEO, frames=16,
        ),
        Family(
            "raft", "RAFT (large, small)", ("raft_",),
            "the feature and context encoders' residual blocks: residual branch, before the sum",
            "SE paper Fig. 3, in RAFT's encoders",
            task=Task.OPTICAL_FLOW, input_size=368, call=Call.PAIR,
            body=("feature_encoder", "context_encoder"),
        ),
    )
}

# Usual inputs that differ from their family's.
_INPUT_SIZES = {"fasterrcnn_mobilenet_v3_large_320_fpn": 320}
_FLOW_WIDTH = 496  # RAFT's usual input is 368×496 (FlyingChairs' training crop), not square


def family_of(name: str) -> str | None:
    """The name of the family a torchvision model belongs to (None if none); a quantized builder belongs to
    its float counterpart's."""
    name = name.removeprefix(QUANTIZED_PREFIX)
    return next((f.name for f in FAMILIES.values() if name.startswith(f.prefixes)), None)


def task_of(name: str) -> Task:
    """The task of a torchvision model seprof supports (its family's, or quantization for ``quantized_*``)."""
    if name.startswith(QUANTIZED_PREFIX):
        return Task.QUANTIZATION
    if name.startswith(TIMM_PREFIX):
        return Task.CLASSIFICATION
    return FAMILIES[family_of(name)].task


def input_shape_of(name: str) -> tuple[int, ...]:
    """The usual input of one sample for a supported model: C×H×W, or C×T×H×W for video. A classifier's is the
    crop of its DEFAULT weights' evaluation transform (``evaluation_crop``); other tasks' come from the family."""
    family = FAMILIES[family_of(name)]
    if family.task is Task.OPTICAL_FLOW:
        return (3, family.input_size, _FLOW_WIDTH)
    if name in _INPUT_SIZES:
        return (*family.input_shape[:-2], _INPUT_SIZES[name], _INPUT_SIZES[name])
    crop = evaluation_crop(name)
    return family.input_shape if crop is None else (3, crop[0], crop[0])


def input_origin(name: str) -> str:
    """Where a supported model's usual input comes from, in words for a report's header."""
    crop = evaluation_crop(name)
    if crop is not None:
        return f"the evaluation crop of {name}'s DEFAULT weights ({crop[1]})"
    family = FAMILIES[family_of(name)]
    if family.task is Task.CLASSIFICATION and _model_sources(Task.CLASSIFICATION) is None:
        return (f"seprof's usual input for {family.title}, as torchvision's source, where each model's evaluation "
                "crop is written, could not be read")
    return f"seprof's usual input for {family.title}"


def evaluation_crop(name: str) -> tuple[int, str] | None:
    """The crop size of a torchvision classifier's DEFAULT weights' evaluation transform, and the weights'
    name ('IMAGENET1K_V1'), read from torchvision's source without importing it (None where it names none, and
    for other tasks: their inputs are their families')."""
    if FAMILIES[family_of(name)].task is not Task.CLASSIFICATION:
        return None
    return _weights_crops(task_of(name)).get(name)


@functools.cache
def _weights_crops(task: Task) -> dict[str, tuple[int, str]]:
    """Every registered model of ``task``'s DEFAULT weights' crop, from torchvision's sources (read once; empty
    where they cannot be read)."""
    return {name: crop for tree in _model_sources(task) or () for name, crop in _crops(tree).items()}


@functools.cache
def _model_sources(task: Task) -> tuple[ast.Module, ...] | None:
    """torchvision's source files of ``task`` that register models, parsed (None when they cannot be read)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.origin:
        return None
    folder = os.path.join(os.path.dirname(spec.origin), "models", TASK_FOLDERS[task])
    trees = []
    try:
        for file in sorted(os.listdir(folder)):
            if file.endswith(".py"):
                with open(os.path.join(folder, file), encoding="utf-8") as handle:
                    source = handle.read()
                if "register_model" in source:
                    trees.append(ast.parse(source))
    except (OSError, SyntaxError, ValueError):
        return None
    return tuple(trees)


def _crops(tree: ast.Module) -> dict[str, tuple[int, str]]:
    """A torchvision module's builders and their DEFAULT weights' crop: each ``WeightsEnum`` class's entries
    (``partial(ImageClassification, crop_size=N, ...)``) and ``DEFAULT = ENTRY``, and each registered builder's
    ``weights`` annotation (the first class of a Union)."""
    enums: dict[str, tuple[int, str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        entries: dict[str, int] = {}
        default = None
        for statement in node.body:
            if not (isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name)):
                continue
            target = statement.targets[0].id
            if target == "DEFAULT" and isinstance(statement.value, ast.Name):
                default = statement.value.id
            elif isinstance(statement.value, ast.Call):
                transforms = next((k.value for k in statement.value.keywords if k.arg == "transforms"), None)
                crop = next((k.value for k in getattr(transforms, "keywords", ()) if k.arg == "crop_size"), None)
                if isinstance(crop, ast.Constant) and isinstance(crop.value, int):
                    entries[target] = crop.value
        if default in entries:
            enums[node.name] = (entries[default], default)
    found = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        weights = next((a.annotation for a in node.args.kwonlyargs if a.arg == "weights"), None)
        names = [n.id for n in ast.walk(weights) if isinstance(n, ast.Name)] if weights is not None else []
        enum = next((n for n in names if n in enums), None)
        for name in _registered_names(node) if enum is not None else ():
            found[name] = enums[enum]
    return found


def counterpart_of(name: str) -> str | None:
    """The classifier whose stage numbers a model's backbone keeps (``deeplabv3_resnet50`` → ``resnet50``)."""
    family = FAMILIES[family_of(name)]
    if not family.counterpart:
        return None
    prefix = next(p for p in family.prefixes if name.startswith(p))
    return name[len(prefix):]


def natural_key(name: str) -> tuple:
    """Sorts names as a person would: resnet18, resnet34, resnet50, resnet101 (numbers by value)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def check_family(family: str) -> Family:
    """The family called ``family``, or an error naming the valid ones."""
    if family in FAMILIES:
        return FAMILIES[family]
    raise UnknownModelError(f"unknown family {family!r}: choose from {', '.join(FAMILIES)}")


def is_factory(name: str) -> bool:
    """Whether ``name`` names a user's factory (``package.module:function``) rather than a torchvision or timm
    (``timm:NAME``) model."""
    return ":" in name and not name.startswith(TIMM_PREFIX)


def _registered(tree: ast.Module) -> list[str]:
    """The names under which a module's top-level functions are registered with ``@register_model``."""
    return [name for node in tree.body if isinstance(node, ast.FunctionDef) for name in _registered_names(node)]


def _registered_names(node: ast.FunctionDef) -> list[str]:
    """The names under which one function is registered with ``@register_model`` (none if it is not)."""
    names = []
    for decorator in node.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        target = call.func if call else decorator
        if getattr(target, "id", getattr(target, "attr", None)) != "register_model":
            continue
        given = [k.value.value for k in (call.keywords if call else ()) if k.arg == "name"
                 and isinstance(k.value, ast.Constant)]
        names.append(given[0] if given else node.name)
    return names


def model_names(task: Task | None = Task.CLASSIFICATION) -> list[str] | None:
    """torchvision's models of ``task`` (every task when None) that seprof supports, in natural order, read from
    torchvision's source files without importing it; None when the source cannot be read (then import
    torchvision instead)."""
    names: list[str] = []
    for each in Task:
        if task not in (None, each):
            continue
        trees = _model_sources(each)
        if trees is None:
            return None
        names += [name for tree in trees for name in _registered(tree)]
    return sorted((n for n in names if family_of(n) is not None), key=natural_key) or None
