"""Where SE goes in a model, and which stage each place belongs to. Read-only: the model is never changed.

A stage is "the collection of blocks operating on feature maps of a common spatial dimension" (paper
Sec. 4). seprof numbers it by stride: stage s works at stride 2^s of the input, so ResNet's conv2_x..conv5_x
are stages 2..5 (224 → 56, 28, 14, 7), and a ViT-B/16's tokens (a 14×14 grid) are stage 4. Strides and
channels come from one forward pass on the meta device, not from a table.

Two kinds of site:
- a *point* where seprof can add SE: the output of a submodule of a known block (``PLACEMENTS``, one rule per
  block type, matched through subclasses too), e.g. a Bottleneck's ``bn3``; for a model with none of these
  blocks, a generic rule (``generic_points``) looks for transformer-style blocks (SE at their MLP output) and
  residual additions, then conv+BN+activation units;
- a *native* SE block the model already has (``torchvision.ops.SqueezeExcitation``, as in EfficientNet,
  MobileNetV3, RegNetY, MaxViT, or one of timm's SE-like modules: ``seprof.native``). A block that already
  holds one is not a point.
"""

from __future__ import annotations

import functools
import importlib
import math
import operator
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn
from torchvision.models import (
    convnext,
    densenet,
    efficientnet,
    inception,
    mnasnet,
    mobilenetv2,
    mobilenetv3,
    regnet,
    resnet,
    shufflenetv2,
    squeezenet,
    swin_transformer,
    vgg,
    vision_transformer,
)
from torchvision.models.alexnet import AlexNet
from torchvision.models.detection.ssd import SSDFeatureExtractorVGG
from torchvision.models.googlenet import Inception as GoogLeNetInception
from torchvision.models.optical_flow import raft
from torchvision.models.video import mvit
from torchvision.models.video import resnet as video_resnet
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelP6P7

from .errors import ModelError, OptionError, StageError, first_line
from .harness import PLAIN, Harness
from .meta import ShapeOnly, meta_model
from .native import NativeBlock, OwnAttention, TableBlock, is_self_attention, native_block, own_attention
from .spec import Position

# torchvision.models.video.s3d is shadowed by the builder of the same name
_S3D = importlib.import_module("torchvision.models.video.s3d")

LAYOUTS = ("nchw", "nhwc", "tokens")  # tokens: (N, L, C); nhwc: (N, H, W, C)


@dataclass(frozen=True)
class Placement:
    """Where SE goes in one kind of block.

    Attributes:
        points: the block → paths, relative to the block, of the submodules whose outputs SE recalibrates
            ("" is the block's own output): the standard position.
        description: the same in words.
        layout: the layout of those outputs (one of ``LAYOUTS``), or a function of the block giving it (a block
            that runs its MLP channels-first or channels-last by a flag of its own).
        pre: for a residual unit, the branch's first submodule: SE-PRE recalibrates its input (Fig. 5c).
        identity: for a residual unit, the attribute holding the identity path's module (a projection, or
            None where the identity is the input itself): SE-Identity recalibrates its output (Fig. 5e).
            A residual unit with ``pre`` and ``identity`` also takes SE-POST, on the unit's own output (Fig. 5d).
    """

    points: Callable[[nn.Module], list[str]]
    description: str
    layout: str | Callable[[nn.Module], str] = "nchw"
    pre: str | None = None
    identity: str | None = None

    def layout_of(self, block: nn.Module) -> str:
        """The layout of this block's features at its points."""
        return self.layout(block) if callable(self.layout) else self.layout

    def supports(self, position: Position) -> bool:
        """Whether blocks of this kind have a place for ``position``."""
        return position is Position.STANDARD or (self.pre is not None and self.identity is not None)


def _at(path: str) -> Callable[[nn.Module], list[str]]:
    return lambda block: [path]


def _after_depthwise(sequence: str) -> Callable[[nn.Module], list[str]]:
    """The conv+BN+activation unit of ``block.<sequence>`` whose conv is depthwise (groups > 1)."""

    def points(block: nn.Module) -> list[str]:
        for i, unit in enumerate(block.get_submodule(sequence)):
            conv = unit[0] if isinstance(unit, nn.Sequential) else unit
            if isinstance(conv, nn.Conv2d) and conv.groups > 1 and conv.groups == conv.in_channels:
                return [f"{sequence}.{i}"]
        return []

    return points


def _conv_activations(*sequences: str) -> Callable[[nn.Module], list[str]]:
    """The ReLUs that follow a conv (or conv+BN) in the block's ``sequences`` (VGG, AlexNet, SSD's VGG)."""

    def points(block: nn.Module) -> list[str]:
        found = []
        for sequence in sequences:
            layers = list(block.get_submodule(sequence))
            found += [f"{sequence}.{i}" for i, layer in enumerate(layers)
                      if isinstance(layer, nn.ReLU) and i and isinstance(layers[i - 1], (nn.Conv2d, nn.BatchNorm2d))]
        return found

    return points


_after_conv_activations = _conv_activations("features")


_RESIDUAL = "residual branch, after the last conv+BN, before the sum (paper Fig. 3)"
_INVERTED = "expanded channels, after the depthwise conv+BN+activation"
_INCEPTION = "the module's output, after concatenation (paper Fig. 2)"

# The placement registry: block class → rule (matched through subclasses too); extend it with register_placement.
PLACEMENTS: dict[type[nn.Module], Placement] = {
    resnet.BasicBlock: Placement(_at("bn2"), _RESIDUAL, pre="conv1", identity="downsample"),
    resnet.Bottleneck: Placement(_at("bn3"), _RESIDUAL, pre="conv1", identity="downsample"),
    regnet.ResBottleneckBlock: Placement(
        _at("f"), "residual branch: the bottleneck transform's output, before the sum", pre="f", identity="proj"),
    mobilenetv2.InvertedResidual: Placement(lambda b: [f"conv.{len(b.conv) - 3}"], _INVERTED),
    mnasnet._InvertedResidual: Placement(_at("layers.5"), _INVERTED),
    shufflenetv2.InvertedResidual: Placement(_at("branch2"), "the transformed branch, before concat and shuffle"),
    vgg.VGG: Placement(_after_conv_activations, "after the ReLU of each conv (paper's SE-VGG)"),
    AlexNet: Placement(_after_conv_activations, "after the ReLU of each conv"),
    GoogLeNetInception: Placement(_at(""), _INCEPTION),
    **{cls: Placement(_at(""), _INCEPTION) for cls in (
        inception.InceptionA, inception.InceptionB, inception.InceptionC, inception.InceptionD, inception.InceptionE)},
    densenet._DenseLayer: Placement(_at("conv2"), "the layer's new features (last conv), before concatenation"),
    squeezenet.Fire: Placement(_at(""), "the Fire module's output"),
    convnext.CNBlock: Placement(_at("block"), "the branch, before layer scale and the residual sum"),
    vision_transformer.EncoderBlock: Placement(_at("mlp"), "MLP branch output, before the residual sum", "tokens"),
    swin_transformer.SwinTransformerBlock: Placement(_at("mlp"), "MLP branch output, before the residual sum", "nhwc"),
    swin_transformer.SwinTransformerBlockV2: Placement(
        _at("norm2"), "MLP branch output after its post-norm, before the residual sum", "nhwc"),
    # Video: 3-D residual units and separable Inception modules (3-D SE), MViT's blocks (token SE).
    video_resnet.BasicBlock: Placement(_at("conv2"), _RESIDUAL, pre="conv1", identity="downsample"),
    video_resnet.Bottleneck: Placement(_at("conv3"), _RESIDUAL, pre="conv1", identity="downsample"),
    _S3D.SepInceptionBlock3D: Placement(_at(""), _INCEPTION),
    mvit.MultiscaleBlock: Placement(_at("mlp"), "MLP branch output, before the residual sum", "tokens"),
    # RAFT's encoders: the branch ends in conv+norm+ReLU, before the sum.
    raft.ResidualBlock: Placement(_at("convnormrelu2"), "residual branch output (conv+norm+ReLU), before the sum",
                                  pre="convnormrelu1", identity="downsample"),
    raft.BottleneckBlock: Placement(_at("convnormrelu3"), "residual branch output (conv+norm+ReLU), before the sum",
                                    pre="convnormrelu1", identity="downsample"),
    # SSD300's VGG-16: conv1_1 to conv4_3 in features, conv5_x in extra.0, fc6 and fc7 (as convs) in extra.0.7.
    SSDFeatureExtractorVGG: Placement(_conv_activations("features", "extra.0", "extra.0.7"),
                                      "after the ReLU of each conv (paper's SE-VGG)"),
    # Blocks of native-SE models that have no SE of their own (used with add_missing).
    mobilenetv3.InvertedResidual: Placement(_after_depthwise("block"), _INVERTED),
    efficientnet.FusedMBConv: Placement(_at("block.0"), "after the fused expansion conv+BN+SiLU"),
    efficientnet.MBConv: Placement(_after_depthwise("block"), _INVERTED),
}


def register_placement(
    block_type: type[nn.Module],
    points: str | Callable[[nn.Module], list[str]],
    description: str,
    layout: str | Callable[[nn.Module], str] = "nchw",
    *,
    pre: str | None = None,
    identity: str | None = None,
) -> None:
    """Teach seprof where SE goes in blocks of ``block_type`` (and its subclasses), for every model after this
    call in this process; a rule for the same class is replaced.

    Args:
        block_type: the block's class, e.g. your ``ResidualUnit``.
        points: the path, relative to the block, of the submodule whose output SE recalibrates ("bn2"; "" is
            the block's own output), or a function from a block to such paths.
        description: where that is, in words (shown by ``seprof stages``).
        layout: "nchw", or "nhwc" / "tokens" for channels-last features.
        pre: for a residual unit, the branch's first submodule (SE-PRE recalibrates its input).
        identity: for a residual unit, the attribute that holds the identity path's module, or None there
            (SE-Identity). With ``pre`` and ``identity`` the unit takes every SENet Fig. 5 position.
    """
    if not (isinstance(block_type, type) and issubclass(block_type, nn.Module)):
        raise OptionError("block_type", block_type, "is not a torch.nn.Module class")
    if not callable(layout) and layout not in LAYOUTS:
        raise OptionError("layout", layout, f"is not one of {', '.join(LAYOUTS)}")
    rule = _at(points) if isinstance(points, str) else points
    PLACEMENTS[block_type] = Placement(rule, description, layout, pre=pre, identity=identity)


@functools.lru_cache(maxsize=1)
def _register_timm() -> None:
    """Register the placements of timm's blocks (once, when timm has been imported)."""
    from .timm_models import timm_placements

    for block_type, points, description, layout, positions in timm_placements(lambda cls: PLACEMENTS[cls].points):
        if block_type not in PLACEMENTS:  # a rule of the user's for the same class stays
            register_placement(block_type, points, description, layout, **positions)


@dataclass(frozen=True)
class Site:
    """One place for an SE block, and the shape of the features it recalibrates.

    Attributes:
        path: the module whose output SE recalibrates (for a native site: the SE module itself).
        block: the block holding it; ``block_type`` its class name; ``point`` the path inside the block.
        stage, index: stage number (stride 2^stage) and 1-based position in the stage.
        channels: C at the site.
        height, width: spatial size of the features (for tokens: the token count and 1).
        layout: "nchw", "nhwc" or "tokens".
        native: an SE block the model already has; ``hidden`` and ``bias`` then describe it.
        description: where the site is, in words.
        stride: the measured stride of the block's output (stage = round(log2(stride))), at the probe input.
        position: where in the residual unit the site is (SENet Fig. 5).
        feed: what the block at ``path`` recalibrates: "output" (the module's output), "input" (its input,
            SE-PRE) or "absent" (no module at ``path``: the identity path is the unit's input itself).
        frames: for video features (N×C×T×H×W, or N×T×H×W×C), the frame count T; None for images.
        own: for a native site, the block the model has (its kind, widths and formula): a ``NativeBlock``, or a
            ``TableBlock`` for attention of a kind in the table of kinds measured as the model's own.
        maps: how many feature maps the block sees per sample (RAFT's feature encoder runs on both frames
            of a pair: 2); its work, and its MACs, count that many times.
        head: the site is in the model's heads (``--heads``), not its body.
        attention: for a native site, or one of ``StageMap.attention``, the model's own attention module there.
    """

    path: str
    block: str
    block_type: str
    point: str
    stage: int
    index: int
    channels: int
    height: int
    width: int
    layout: str = "nchw"
    native: bool = False
    hidden: int | None = None
    bias: bool | None = None
    description: str = ""
    stride: float = 0.0
    position: Position = Position.STANDARD
    feed: str = "output"
    frames: int | None = None
    own: NativeBlock | TableBlock | None = None
    maps: int = 1
    head: bool = False
    attention: OwnAttention | None = None

    @property
    def name(self) -> str:
        """The paper's name for the block, SE_{stage}_{index} (e.g. SE_5_1)."""
        return f"SE_{self.stage}_{self.index}"

    @property
    def resolution(self) -> tuple[int, ...]:
        """(H, W) of the features, (T, H, W) for video, or (tokens,) for a token sequence."""
        if self.layout == "tokens":
            return (self.height,)
        return (self.height, self.width) if self.frames is None else (self.frames, self.height, self.width)

    @property
    def positions(self) -> int:
        """How many positions the block squeezes over: H·W, T·H·W, or the token count."""
        return math.prod(self.resolution)

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one image's features at the site, in the site's layout (no batch dimension)."""
        if self.layout == "tokens":
            return (self.height, self.channels)
        if self.layout == "nhwc":
            return (*self.resolution, self.channels)
        return (self.channels, *self.resolution)

    @property
    def label(self) -> str:
        """The site as "BlockType.point" (e.g. "Bottleneck.bn3", "Inception (output)")."""
        if self.native:
            return f"{self.block_type}.{self.point} (native)"
        if self.feed == "input":
            return f"{self.block_type}.{self.point} (input)"
        if self.feed == "absent":
            return f"{self.block_type}.{self.point} (the identity itself)"
        return f"{self.block_type}.{self.point}" if self.point else f"{self.block_type} (output)"


def resolution_text(resolution: Sequence[int]) -> str:
    """'56×56', '8×28×28' (T×H×W), or '197 tokens' for a token sequence."""
    return f"{resolution[0]} tokens" if len(resolution) == 1 else "×".join(map(str, resolution))


@dataclass(frozen=True)
class StageInfo:
    """The sites of one stage."""

    stage: int
    sites: tuple[Site, ...]

    @property
    def blocks(self) -> int:
        return len(self.sites)

    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(site.channels for site in self.sites)

    @property
    def resolution(self) -> tuple[int, ...]:
        return self.sites[0].resolution


@dataclass(frozen=True)
class StageMap:
    """The sites of a model at one input shape, grouped into stages.

    ``sites`` are where seprof can add SE; ``native`` are the SE blocks the model already has (seprof has their
    formula, measures them and can strip them); ``attention`` are the model's other attention modules, which
    seprof counts and lists, and never places a block inside.
    """

    input_shape: tuple[int, ...]
    sites: tuple[Site, ...]
    native: tuple[Site, ...] = ()
    attention: tuple[Site, ...] = ()

    @property
    def stage_numbers(self) -> tuple[int, ...]:
        return tuple(sorted({site.stage for site in self.sites}))

    @property
    def stages(self) -> tuple[StageInfo, ...]:
        return tuple(
            StageInfo(s, tuple(site for site in self.sites if site.stage == s)) for s in self.stage_numbers
        )

    def select(self, stages: Sequence[int] | None) -> tuple[Site, ...]:
        """The sites of the given stages (all when None); unknown stages are an error."""
        if stages is None:
            return self.sites
        check_stages(stages, self.stage_numbers)
        wanted = set(stages)
        return tuple(site for site in self.sites if site.stage in wanted)

    def native_map(self) -> StageMap:
        """The model's own SE blocks as a StageMap of their own (its other attention beside them)."""
        return StageMap(self.input_shape, self.native, attention=self.attention)

    def attention_rows(self) -> list[AttentionRow]:
        """The model's other attention (``attention``) by stage and kind, in model order."""
        rows: dict[tuple[int, str, str], list[Site]] = {}
        for site in self.attention:
            rows.setdefault((site.stage, site.attention.kind, site.attention.cls), []).append(site)
        return [AttentionRow(stage, kind, cls, len(sites), sum(s.attention.params for s in sites),
                             tuple(sorted({s.channels for s in sites})),
                             all(s.attention.exact == s.attention.params for s in sites),
                             sites[0].attention.not_strippable)
                for (stage, kind, cls), sites in sorted(rows.items(), key=lambda item: item[0][0])]


@dataclass(frozen=True)
class AttentionRow:
    """The model's own attention modules of one kind in one stage, which seprof counts and lists."""

    stage: int
    kind: str
    cls: str
    modules: int
    params: int
    channels: tuple[int, ...]
    formula: bool = False  # the table of kinds' formula gives ``params`` exactly (else they are only counted)
    not_strippable: str = ""  # why seprof cannot strip them (they are their blocks' convs); "" for add-ons


def attention_words(sites: Sequence[Site], why: Callable[[OwnAttention], str]) -> str:
    """The model's own attention at ``sites`` by kind, each with ``why`` of it: "8 SelectiveKernel (sk): it is the
    block's 3×3 conv ...; 3 HaloAttn (halo): ..."."""
    kinds: dict[str, list[Site]] = {}
    for site in sites:
        kinds.setdefault(site.attention.label, []).append(site)
    return "; ".join(f"{len(found)} {label}: {why(found[0].attention)}" for label, found in kinds.items())


def check_stages(stages: Sequence[int], valid: Sequence[int], context: str = "this model's stages are") -> None:
    """Raise a StageError naming the valid stages if any of ``stages`` is not among them."""
    unknown = [s for s in stages if s not in valid]
    if unknown:
        have = ", ".join(map(str, valid)) or "none"
        raise StageError(f"stage {unknown[0]} is not available: {context} {have}")


def stage_of(input_size: int, output_size: int) -> int:
    """The stage number of a feature map: log2 of its stride, rounded (299 → 35 is stride 8.5 → 3)."""
    return round(math.log2(input_size / output_size))


def is_native_se(module: nn.Module) -> bool:
    """A model's own SE-like block that seprof has a formula for (torchvision's SqueezeExcitation, timm's SE, eSE
    and ECA modules: see ``seprof.native``), not one seprof added."""
    return native_block(module) is not None


def attention_modules(model: nn.Module) -> tuple[dict[str, OwnAttention], list[str]]:
    """The model's own attention: (path → each recognised module, outermost ones only; the paths seprof never
    enters, those and the transformer self-attention layers)."""
    found: dict[str, OwnAttention] = {}
    closed: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(path + ".") for path in closed):
            continue
        own = own_attention(module)
        if own is not None:
            found[name] = own
        if own is not None or is_self_attention(module):
            closed.append(name)
    return found, closed


def _outside(paths: Sequence[str], closed: Sequence[str]) -> bool:
    return not any(p.startswith(c + ".") for p in paths if p for c in closed)


def placement_for(module: nn.Module) -> Placement | None:
    """The placement rule for a module's class or its nearest listed base class."""
    return next((PLACEMENTS[cls] for cls in type(module).__mro__ if cls in PLACEMENTS), None)


@dataclass(frozen=True)
class _Candidate:
    block: str
    block_type: str
    point: str
    layout: str
    description: str
    fallback: str | None = None  # used when ``point`` turns out to run more than once
    fallback_description: str = ""
    feed: str = "output"  # see Site.feed
    stage_path: str | None = None  # the module whose output stride numbers the stage (default: the site's)
    position: Position = Position.STANDARD


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


_PRE = "SE-PRE: the unit's input, on the residual branch before its first layer (paper Fig. 5c)"
_POST = "SE-POST: the unit's output, after the sum with the identity and its activation (paper Fig. 5d)"
_IDENTITY = "SE-Identity: the identity path (its projection, or the input itself), beside the branch (paper Fig. 5e)"
RESIDUAL_UNITS = "ResNet, ResNeXt and Wide ResNet (BasicBlock, Bottleneck), RegNet (ResBottleneckBlock)"


def position_refusal(position: Position, where: str) -> OptionError:
    """The error for a position seprof has no place for in ``where`` (a block type, or a model)."""
    return OptionError("position", position, f"has no place in {where}: SENet's positions (Fig. 5) are defined "
                       f"for the residual units of {RESIDUAL_UNITS}, and for models seprof places by its generic "
                       "residual rule; use the standard position here")


def _positioned(name: str, module: nn.Module, rule: Placement, position: Position) -> dict[str, _Candidate]:
    """The candidates of one matched block for ``position``."""
    kind = type(module).__name__
    layout = rule.layout_of(module)
    standard = [_join(name, point) for point in rule.points(module)]
    if position is Position.STANDARD:
        return {path: _Candidate(name if name or not point else point.rpartition(".")[0], kind, point, layout,
                                 rule.description) for path, point in zip(standard, rule.points(module))}
    if not rule.supports(position):
        raise position_refusal(position, f"{kind} blocks" if name else kind)
    stage_path = standard[0]
    if position is Position.PRE:
        return {_join(name, rule.pre): _Candidate(name, kind, rule.pre, layout, _PRE, feed="input",
                                                  stage_path=stage_path, position=position)}
    if position is Position.POST:
        return {name: _Candidate(name, kind, "", layout, _POST, stage_path=name, position=position)}
    feed = "absent" if getattr(module, rule.identity, None) is None else "output"
    return {_join(name, rule.identity): _Candidate(name, kind, rule.identity, layout, _IDENTITY, feed=feed,
                                                   stage_path=stage_path, position=position)}


def _known_points(model: nn.Module, position: Position = Position.STANDARD) -> dict[str, _Candidate]:
    """Points from ``PLACEMENTS``; blocks inside a matched block, and blocks with native SE, are skipped."""
    found: dict[str, _Candidate] = {}
    matched: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") or not prefix for prefix in matched):
            continue
        rule = placement_for(module)
        if rule is None:
            continue
        matched.append(name)
        if any(is_native_se(m) for m in module.modules()):
            continue
        found.update(_positioned(name, module, rule, position))
    return found


_ADDS = {operator.add, operator.iadd, torch.add}
_MAX_WALK = 3


def _residual_points(model: nn.Module, position: Position = Position.STANDARD) -> dict[str, _Candidate]:
    """Points on residual branches, from a symbolic trace: for each ``a + b`` of two computed tensors, the
    module that produced the deeper operand (the branch; the other is the identity or its projection).
    SE-PRE goes before the branch's first module, SE-POST after the module that takes the sum (its
    activation); SE-Identity needs a module on the identity path, which a traced graph cannot add."""
    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception:  # noqa: BLE001 - any model that does not trace simply has no residual points here
        return {}
    ancestors: dict[torch.fx.Node, set[torch.fx.Node]] = {}
    for node in traced.graph.nodes:
        ancestors[node] = set().union(*([{a} | ancestors[a] for a in node.all_input_nodes] or [set()]))
    found: dict[str, _Candidate] = {}
    done: set[str] = set()
    for node in traced.graph.nodes:
        is_add = (node.op == "call_function" and node.target in _ADDS) or (
            node.op == "call_method" and node.target in ("add", "add_"))
        args = [a for a in node.args[:2] if isinstance(a, torch.fx.Node)]
        if not is_add or len(args) != 2 or not all(_computed(a, ancestors) for a in args):
            continue
        if position is Position.IDENTITY:
            raise OptionError("position", position, f"cannot be placed in {type(model).__name__}: seprof places SE "
                              "there by its generic residual rule, which puts SE on modules, and an identity path "
                              f"holds none; SE-Identity needs a block seprof has a rule for: {RESIDUAL_UNITS}")
        branch = max(args, key=lambda a: len(ancestors[a]))
        other = args[0] if branch is args[1] else args[1]
        modules = _modules_upstream(branch, 2)
        if not modules or modules[0].target in done:
            continue
        point = modules[0].target
        weighted = next((m.target for m in _modules_upstream(branch, _MAX_WALK) if any(
            True for _ in model.get_submodule(m.target).parameters())), point)  # past DropPath, Identity...
        done.add(point)
        block = point.rpartition(".")[0]
        parent = model.get_submodule(block) if block else model
        kind = type(parent).__name__
        if position is Position.STANDARD:
            found[point] = _Candidate(
                block, kind, point.rpartition(".")[2],
                "nhwc" if _channels_last(model.get_submodule(weighted)) else "nchw",
                "residual branch output, before the sum (generic rule)",
                fallback=modules[1].target if len(modules) > 1 else None,
                fallback_description="residual branch, before its shared activation module (generic rule)")
            continue
        target = _branch_start(branch, {other} | ancestors[other]) if position is Position.PRE else _taker(node)
        if target is None:
            where = "no module starts its residual branch" if position is Position.PRE else "no module takes its sum"
            raise OptionError("position", position, f"cannot be placed in {type(model).__name__}: at {point!r}, "
                              f"{where} (the generic rule puts SE on modules); use the standard position")
        path = target.target
        owner = path.rpartition(".")[0]
        found[path] = _Candidate(
            owner, type(model.get_submodule(owner) if owner else model).__name__, path.rpartition(".")[2], "nchw",
            (_PRE if position is Position.PRE else _POST) + " (generic rule)",
            feed="input" if position is Position.PRE else "output", stage_path=point, position=position)
    return found


def _channels_last(module: nn.Module) -> bool:
    """Whether a branch ending in ``module`` leaves its channels last (a Linear or LayerNorm, or a module whose
    last layer is one, as in a transformer's MLP): its features are then tokens (N, L, C) or (N, H, W, C)."""
    leaves = [m for m in module.modules() if not m._modules] or [module]
    return isinstance(leaves[-1], (nn.Linear, nn.LayerNorm))


def _branch_start(node: torch.fx.Node, split: set[torch.fx.Node]) -> torch.fx.Node | None:
    """The first module call of the branch ending at ``node``: walking up first inputs until the split."""
    start = None
    while node not in split:
        if node.op == "call_module":
            start = node
        if not node.all_input_nodes:
            return None
        node = node.all_input_nodes[0]
    return start


def _taker(node: torch.fx.Node) -> torch.fx.Node | None:
    """The module call that is the only user of ``node`` (the activation after a residual sum), if any."""
    users = list(node.users)
    return users[0] if len(users) == 1 and users[0].op == "call_module" else None


def _computed(node: torch.fx.Node, ancestors: dict) -> bool:
    """Whether ``node`` is computed from the model's input (not a parameter or constant)."""
    return node.op == "placeholder" or any(a.op == "placeholder" for a in ancestors[node])


def _modules_upstream(node: torch.fx.Node, count: int) -> list[torch.fx.Node]:
    """The first ``count`` module calls met walking up from ``node`` along first inputs (a few steps)."""
    found = []
    for _ in range(_MAX_WALK + count):
        if node.op == "call_module":
            found.append(node)
            if len(found) == count:
                break
        if not node.all_input_nodes:
            break
        node = node.all_input_nodes[0]
    return found


_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.GELU, nn.LeakyReLU, nn.Mish, nn.PReLU, nn.ELU)


def _conv_units(module: nn.Module, batchnorm: bool = True) -> Iterator[tuple[str | None, str]]:
    """(BN name, activation name) of each conv+BN+activation run among ``module``'s children, in order; with
    ``batchnorm`` False conv+activation runs too, with None for the BN."""
    children = [(n, m) for n, m in module._modules.items() if m is not None]  # a shared module under each name
    for i, (act_name, act) in enumerate(children):
        if i == 0 or not isinstance(act, _ACTIVATIONS):
            continue
        before_name, before = children[i - 1]
        if i >= 2 and isinstance(children[i - 2][1], nn.Conv2d) and isinstance(before, nn.BatchNorm2d):
            yield before_name, act_name
        elif not batchnorm and isinstance(before, nn.Conv2d):
            yield None, act_name


def _unit_points(model: nn.Module) -> dict[str, _Candidate]:
    """Points after conv+BN+activation units (consecutive children of one module), e.g. a VGG-style stack."""
    return {_join(name, act_name): _Candidate(
                name, type(module).__name__, act_name, "nchw", "after conv+BN+activation (generic rule)",
                fallback=_join(name, bn_name),
                fallback_description="after conv+BN, before a shared activation module (generic rule)")
            for name, module in model.named_modules() for bn_name, act_name in _conv_units(module)}


_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase)


def _last_layer(module: nn.Module) -> nn.Module | None:
    """The last Linear or convolution among ``module``'s layers (in registration order), if any."""
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]
    return layers[-1] if layers else None


def _is_mlp_block(module: nn.Module) -> bool:
    """A transformer-style block: a child ``mlp`` (its feed-forward branch, ending in a Linear or a convolution)
    beside a token mixer (another child made of layers of its own that is neither a normalization nor a container
    of further blocks: attention, pooling, a convolutional mixer module, a stack of layers)."""
    mlp = module._modules.get("mlp")
    if mlp is None or _last_layer(mlp) is None:
        return False
    return any(child is not mlp and child._modules and not isinstance(child, _NORMS) and not (
        isinstance(child, _CONTAINERS) and any(inner._modules for inner in child.children()))  # a stack of blocks
        for child in module.children())


def _mlp_block_points(model: nn.Module) -> dict[str, _Candidate]:
    """Points at the MLP output of each transformer-style block (``_is_mlp_block``), as the known ViT and Swin
    blocks take SE: channels last after a Linear (tokens, or N×H×W×C), channels first after a convolution.
    Blocks inside a matched block are not matched again."""
    found: dict[str, _Candidate] = {}
    matched: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(prefix + ".") for prefix in matched) or not _is_mlp_block(module):
            continue  # the model itself is no block (a CNN with an MLP head)
        matched.append(name)
        layout = "nhwc" if isinstance(_last_layer(module.mlp), nn.Linear) else "nchw"
        found[_join(name, "mlp")] = _Candidate(name, type(module).__name__, "mlp", layout,
                                               "the block's MLP output, before the residual sum (generic rule)")
    return found


def generic_points(model: nn.Module, position: Position = Position.STANDARD) -> dict[str, _Candidate]:
    """The generic rule for a model without known blocks. At the standard position: the MLP output of each
    transformer-style block, and residual branches outside those blocks; where there are neither,
    conv+BN+activation units. Other positions: residual branches only."""
    if position is not Position.STANDARD:
        found = _residual_points(model, position)
        if found:
            return found
        raise position_refusal(position, f"{type(model).__name__}, where seprof finds no residual sum")
    blocks = _mlp_block_points(model)
    inside = tuple(c.block + "." for c in blocks.values())
    residual = {path: c for path, c in _residual_points(model).items() if not path.startswith(inside)}
    return {**blocks, **residual} if blocks or residual else _unit_points(model)


PROBE_SIZE = 224


def find_sites(model: nn.Module, input_shape: Sequence[int], probe_shape: Sequence[int] | None = None,
               position: Position | str = Position.STANDARD, harness: Harness | None = None,
               own_attention: bool = False) -> StageMap:
    """Find every place SE can go in ``model`` for an ``input_shape`` (C×H×W, or C×T×H×W for video), and its
    native SE blocks.

    Runs a forward pass of a meta-device copy with hooks; ``model`` itself is untouched. Stage numbers are
    a property of the architecture: they come from a pass at ``probe_shape`` (the model's usual input, by
    default C×224×224) whenever the input differs, so late maps that shrink to 1×1, or valid-padding
    roundings at odd sizes, do not move a block to another stage. A model that cannot run at the probe
    shape (e.g. a fixed-size head) is numbered from ``input_shape`` itself. ``position`` chooses the places
    in residual units (SENet Fig. 5); a block is numbered by its output's stride whatever the position, so
    SE-PRE in the first block of conv3_x is in stage 3 although it sees conv2_x's resolution.

    ``harness`` (see ``seprof.harness``) says how the model is called, which part runs (a detector's
    backbone), where SE goes (its body; its heads too, as one stage after the body's), and whether the body
    keeps the stage numbers of the classifier it comes from (a dilated backbone's conv5_x is stage 5 at
    stride 8): then its sites are matched, in order, with that classifier's.

    With ``own_attention`` the model's own add-ons of the table of kinds' (GC, CBAM, ...; ``OwnAttention.measurable``)
    are native sites, measured as its native SE blocks are, rather than listed; the places for SE stay as without.
    """
    position = Position.parse("position", position)
    harness = harness or PLAIN
    if sys.modules.get("timm") is not None:  # a timm model may be among them
        _register_timm()
    recognised, closed = attention_modules(model)
    recognised = {p: own for p, own in recognised.items() if harness.part(p) == "body"}
    native = {p: model.get_submodule(p) for p, own in recognised.items() if own.formula is not None}
    counted = {p: model.get_submodule(p) for p, own in recognised.items() if own.formula is None}

    left_out: list[str] = []

    def outside(points: dict[str, _Candidate]) -> dict[str, _Candidate]:  # never inside the model's own attention
        kept = {p: c for p, c in points.items() if _outside((p, c.stage_path or "", c.block), closed)}
        left_out.extend(p for p in points if p not in kept)
        return {p: c if _outside((c.fallback or "",), closed) else replace(c, fallback=None) for p, c in kept.items()}

    known = outside({p: c for p, c in _known_points(model, position).items() if harness.part(p) == "body"})
    generic = not known and not native and placement_for(model) is None
    candidates = outside(generic_points(model, position)) if generic else known
    if not candidates and not native and not counted:
        raise ModelError(
            f"{type(model).__name__} has nowhere seprof can put SE: no block it has a rule for, no transformer-style "
            "block, no residual addition and no conv+BN+activation unit"
            + (" outside its own attention layers" if left_out else "")
            + " (see the README, 'Your own model')"
        )
    if position is not Position.STANDARD and not candidates:
        raise position_refusal(position, f"{type(model).__name__}, whose blocks all hold SE of their own")
    heads = _head_points(model, harness, position) if harness.with_heads else {}
    candidates = {**candidates, **heads}
    skip_repeated = generic and position is Position.STANDARD
    view = harness.tracing(model)
    traced = harness.traced_input(meta_model(model), input_shape)

    def strides(shape: Sequence[int], entries: list) -> dict[str, float]:
        return {p: _stride(shape, layout, stage_shape, harness.frames_stride) for p, layout, _, stage_shape in entries}

    listed = {**native, **counted}
    seen = _run(view, traced, candidates, listed, skip_repeated=skip_repeated)
    if generic:  # the generic rules take N×C×H×W and N×H×W×C maps, and (N, L, C) tokens after a Linear
        seen = [(path, _seen_layout(model, path, layout, shape), shape, stage_shape)
                for path, layout, shape, stage_shape in seen]
        seen = [entry for entry in seen if len(entry[2]) == 4 or entry[1] == "tokens"]
    ratios = strides(traced, seen)
    probe = tuple(probe_shape or (*input_shape[:-2], PROBE_SIZE, PROBE_SIZE))
    if tuple(input_shape) != probe:
        try:
            probe = harness.traced_input(meta_model(model), probe)
            probed = strides(probe, _run(view, probe, candidates, listed, skip_repeated=skip_repeated))
        except ModelError:
            probed = {}
        if all(entry[0] in probed for entry in seen):
            ratios = probed

    sites, native_sites, head_sites, counted_sites = [], [], [], []
    for path, layout, shape, _ in seen:
        if path in counted and len(shape) == 3:  # a registered module on tokens
            layout = "tokens"
        stride = ratios[path]
        stage = round(math.log2(stride))
        channels, height, width, frames = _dims(layout, shape)
        if path in listed:
            attention = recognised[path]
            block, owner = _owner(model, path)
            where = (path, block, type(owner).__name__, path[len(block) + 1 if block else 0:], stage, 0, channels,
                     height, width, layout)
            if path in counted and not (own_attention and attention.measurable):
                counted_sites.append(Site(*where, description=f"the model's own {attention.label}, counted",
                                          stride=stride, frames=frames, maps=shape[0], attention=attention))
                continue
            own = replace(attention.formula or attention.table, channels=channels)
            native_sites.append(Site(*where, native=True, hidden=own.hidden, bias=own.bias,
                                     description=f"the model's own {own.cls}", stride=stride, frames=frames, own=own,
                                     maps=shape[0], attention=attention))
            continue
        primary = path in candidates
        c = candidates[path] if primary else next(x for x in candidates.values() if x.fallback == path)
        block = c.block if primary else path.rpartition(".")[0]
        point = path[len(block) + 1 if block else 0:]
        site = Site(path, block, type(model.get_submodule(block) if block else model).__name__, point,
                    stage, 0, channels, height, width, layout,
                    description=c.description if primary else c.fallback_description, stride=stride,
                    position=c.position, feed=c.feed, frames=frames, maps=shape[0], head=path in heads)
        if path in heads:
            if math.prod(site.resolution) > 1:  # a pooled 1×1 branch (ASPP's image pooling) has nothing to squeeze
                head_sites.append(site)
        else:
            sites.append(site)
    if generic and (first := _first_feature_stride(model)) is not None:  # the stem is not a stage
        sites = [site for site in sites if site.stride >= first / _STRIDE_TOLERANCE] or sites
    if generic and not sites and not counted_sites:
        raise ModelError(f"{type(model).__name__}: no residual branch or conv+BN+activation unit has N×C×H×W "
                         "features, nor a token branch ending in a Linear or LayerNorm")
    if harness.counterpart is not None:
        sites, native_sites = _as_in_counterpart(harness, sites, native_sites, position, input_shape[0])
    if head_sites:
        after = max(s.stage for s in (*sites, *native_sites)) + 1
        head_sites = [replace(site, stage=after) for site in head_sites]
    return StageMap(tuple(int(d) for d in input_shape), _numbered([*sites, *head_sites]), _numbered(native_sites),
                    _numbered(counted_sites))


_STRIDE_TOLERANCE = 2 ** 0.25  # a stride within this factor of a feature stride is at it


def _first_feature_stride(model: nn.Module) -> float | None:
    """The finest stride among the features the model declares (timm's ``feature_info`` reductions), or None
    where it declares none: the generic rules put no SE in a stem finer than that."""
    info = getattr(model, "feature_info", None)
    try:
        found = [float(entry["reduction"]) for entry in info or () if entry.get("reduction")]
    except (TypeError, AttributeError, KeyError, ValueError):
        return None
    return min(found) if found else None


def _seen_layout(model: nn.Module, path: str, layout: str, shape: torch.Size) -> str:
    """The layout of a generic point's features as traced: channels-last features on three axes are tokens, and a
    branch ending in a Linear whose output is permuted back to channels first (a ConvNeXt-style MLP) is N×C×H×W."""
    if layout != "nhwc":
        return layout
    if len(shape) == 3:
        return "tokens"
    last = _last_layer(model.get_submodule(path)) if path else None
    if isinstance(last, nn.Linear) and len(shape) == 4 and shape[-1] != last.out_features \
            and shape[1] == last.out_features:
        return "nchw"
    return layout


def _numbered(sites: Sequence[Site]) -> tuple[Site, ...]:
    """``sites`` with each one's 1-based index in its stage, in model order."""
    counts: dict[int, int] = {}
    numbered = []
    for site in sites:
        counts[site.stage] = counts.get(site.stage, 0) + 1
        numbered.append(replace(site, index=counts[site.stage]))
    return tuple(numbered)


def _as_in_counterpart(harness: Harness, sites: list[Site], native: list[Site], position: Position,
                       channels: int) -> tuple[list[Site], list[Site]]:
    """``sites`` and ``native`` with the stage numbers of the classifier the backbone comes from: its sites,
    at its usual input, matched one for one in model order (the backbone holds the same blocks in the same
    order; only strides may have become dilations)."""
    reference = find_sites(harness.counterpart(), (channels, PROBE_SIZE, PROBE_SIZE), position=position)

    def matched(ours: list[Site], theirs: Sequence[Site]) -> list[Site]:
        if [s.label for s in ours] != [s.label for s in theirs]:
            raise ModelError(f"the backbone's blocks do not match {harness.counterpart_name}'s one for one, so "
                             "seprof cannot number its stages as that classifier's")
        return [replace(s, stage=t.stage) for s, t in zip(ours, theirs)]

    return matched(sites, reference.sites), matched(native, reference.native)


def _head_points(model: nn.Module, harness: Harness, position: Position) -> dict[str, _Candidate]:
    """Where SE goes in a model's heads (``harness.heads``): each output of a feature pyramid (and its P6/P7
    levels), and after every conv(+BN)+activation unit elsewhere (segmentation heads, SSD's extra layers)."""
    if position is not Position.STANDARD:
        raise position_refusal(position, "a model's heads (they have no residual units)")
    found: dict[str, _Candidate] = {}
    for head in harness.heads:
        try:
            module = model.get_submodule(head)
        except AttributeError:  # an optional head the model was built without (an auxiliary classifier)
            continue
        if module is None:
            continue
        for name, sub in module.named_modules(prefix=head):
            if harness.part(name) != "head":
                continue
            if isinstance(sub, FeaturePyramidNetwork):
                for i in range(len(sub.layer_blocks)):
                    found[f"{name}.layer_blocks.{i}"] = _Candidate(
                        name, type(sub).__name__, f"layer_blocks.{i}", "nchw", "head: a feature pyramid output")
            elif isinstance(sub, LastLevelP6P7):
                for level in ("p6", "p7"):
                    found[f"{name}.{level}"] = _Candidate(
                        name, type(sub).__name__, level, "nchw", "head: an extra pyramid level (P6, P7)")
            else:
                found.update(_head_units(name, sub))
    return found


def _head_units(name: str, module: nn.Module) -> dict[str, _Candidate]:
    """The activations ending conv+BN+activation or conv+activation runs among ``module``'s children."""
    return {_join(name, act_name): _Candidate(name, type(module).__name__, act_name, "nchw",
                                              "head: after a conv(+BN)+activation unit")
            for _, act_name in _conv_units(module, batchnorm=False)}


_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _owner(model: nn.Module, path: str) -> tuple[str, nn.Module]:
    """The nearest module above ``path`` that is a block rather than a plain container."""
    block = path.rpartition(".")[0]
    while block and type(model.get_submodule(block)) in _CONTAINERS:
        block = block.rpartition(".")[0]
    return block, model.get_submodule(block) if block else model


def _dims(layout: str, shape: torch.Size) -> tuple[int, int, int, int | None]:
    """(C, H, W, T) of batched features in ``layout``; T is None for images (4-D), H the token count and W 1
    for tokens."""
    if layout == "tokens":
        return shape[-1], shape[1], 1, None
    frames = shape[1 if layout == "nhwc" else 2] if len(shape) == 5 else None
    if layout == "nhwc":
        return shape[-1], shape[-3], shape[-2], frames
    return shape[1], shape[-2], shape[-1], frames


def _stride(input_shape: Sequence[int], layout: str, shape: torch.Size, frames_stride: int = 1) -> float:
    """The stride of features of ``shape``: input height / height; for channels-last maps √(input pixels /
    positions), as the two axes before the channels need not be a grid's rows and columns (NesT holds its
    tokens as N×blocks×tokens per block×C); for tokens √(input pixels / grid tokens), where a class token (one
    token beside a square grid, as in ViT's 197 = 1 + 14²) is not part of the grid; for video tokens (a C×T×H×W
    input) the grid holds T / ``frames_stride`` frames."""
    if layout == "tokens":
        tokens = shape[1]
        frames = input_shape[1] // frames_stride if len(input_shape) == 4 else 1

        def square(n: int) -> bool:
            return n % frames == 0 and math.isqrt(n // frames) ** 2 == n // frames

        if not square(tokens) and square(tokens - 1):
            tokens -= 1
        return math.sqrt(input_shape[-2] * input_shape[-1] * frames / tokens)
    _, height, width, _ = _dims(layout, shape)
    if layout == "nhwc":
        return math.sqrt(input_shape[-2] * input_shape[-1] / (height * width))
    return input_shape[-2] / height


def _feature_key(path: str, c: _Candidate) -> tuple[str, str]:
    """Which hook sees the features a candidate's block recalibrates: ("out"|"in", module path)."""
    if c.feed == "input":
        return ("in", path)
    if c.feed == "absent":
        return ("in", c.block)
    return ("out", path)


def _run(
    model: nn.Module,
    input_shape: Sequence[int],
    candidates: dict[str, _Candidate],
    native: dict[str, nn.Module],
    skip_repeated: bool = False,
) -> list[tuple[str, str, torch.Size, torch.Size]]:
    """(path, layout, features' shape, shape that numbers the stage) of each site in forward order, from one
    meta-device forward pass."""
    clone = meta_model(model)
    events: list[tuple[tuple[str, str], torch.Size]] = []
    wanted: dict[str, tuple[tuple[str, str], tuple[str, str], str]] = {}  # path → feature key, stage key, layout
    for path, c in candidates.items():
        wanted[path] = (_feature_key(path, c), ("out", c.stage_path or path), c.layout)
        if c.fallback:
            wanted[c.fallback] = (("out", c.fallback), ("out", c.fallback), c.layout)
    wanted.update({path: (("out", path), ("out", path), "nchw") for path in native})
    keys = {key for feature, stage, _ in wanted.values() for key in (feature, stage)}

    def hook(key: tuple[str, str]) -> Callable:
        def record(_module, inputs, output=None) -> None:
            value = inputs[0] if key[0] == "in" and inputs else output
            if isinstance(value, torch.Tensor):
                events.append((key, value.shape))
        return record

    handles = [clone.get_submodule(path).register_forward_pre_hook(hook((kind, path))) if kind == "in" else
               clone.get_submodule(path).register_forward_hook(hook((kind, path))) for kind, path in keys]
    try:
        with torch.no_grad(), ShapeOnly(activations=True):
            clone(torch.empty(1, *input_shape, device="meta"))
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 - a model's forward can raise anything, or exit
        shape = "x".join(map(str, input_shape))
        first = first_conv(model)
        if first is not None and first[1] != input_shape[0]:
            path, channels = first
            raise OptionError("input_shape", tuple(input_shape), (
                f"has {input_shape[0]} channel{'s' if input_shape[0] != 1 else ''}, but {type(model).__name__} "
                f"takes {channels}: its first convolution ({path}) has in_channels={channels}")) from error
        reason = first_line(error, with_type=False)
        if "meta" in reason.lower() or isinstance(error, NotImplementedError):
            reason += (" (seprof runs shapes only, on the meta device: a forward that needs tensor values "
                       "cannot be analysed)")
        raise ModelError(f"{type(model).__name__} cannot run on input {shape}: {reason}") from error
    finally:
        for handle in handles:
            handle.remove()

    runs: dict[tuple[str, str], int] = {}
    first: dict[tuple[str, str], tuple[int, torch.Size]] = {}
    for i, (key, shape) in enumerate(events):
        runs[key] = runs.get(key, 0) + 1
        first.setdefault(key, (i, shape))

    def once(path: str) -> bool:
        feature, stage, _ = wanted[path]
        return runs.get(feature, 0) == 1 and stage in first

    chosen = [path for path in native if ("out", path) in first]
    for path, c in candidates.items():
        if once(path):
            chosen.append(path)
        elif c.fallback and once(c.fallback):
            chosen.append(c.fallback)
        elif runs.get(wanted[path][0], 0) > 1 and not skip_repeated:
            if c.position is not Position.STANDARD:
                raise OptionError("position", c.position, f"cannot be placed in {type(model).__name__}: {path!r}, "
                                  "where it goes, runs more than once per forward pass (one module used twice), so "
                                  "one block there would recalibrate every use; use the standard position")
            raise ModelError(f"module {path!r} runs more than once per forward pass; "
                             "seprof cannot place one SE block there")
    chosen.sort(key=lambda path: first[wanted[path][0]][0])
    return [(path, wanted[path][2], first[wanted[path][0]][1], first[wanted[path][1]][1]) for path in chosen]


def first_conv(model: nn.Module) -> tuple[str, int] | None:
    """The path and input channels of the model's first convolution (in module order), if it has one."""
    return next(((name, m.in_channels) for name, m in model.named_modules()
                 if isinstance(m, nn.modules.conv._ConvNd)), None)


def describe(sites: Sequence[Site]) -> list[str]:
    """The distinct placements of ``sites``, in words: "label, label: description"."""
    labels: dict[str, list[str]] = {}
    for site in sites:
        if site.label not in labels.setdefault(site.description, []):
            labels[site.description].append(site.label)
    return [f"{', '.join(names)}: {description}" for description, names in labels.items()]
