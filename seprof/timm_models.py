"""timm's models, named ``timm:NAME`` (timm is an optional extra: ``pip install "seprof[timm]"``).

A timm model is built with random weights (``pretrained=False``; nothing is downloaded) at the input size of its
default pretrained configuration. Its own SE-like modules are native attention (``seprof.native``); seprof's
blocks go into timm's ResNet/ResNeXt, RegNet, ConvNeXt, ViT, DenseNet, VGG and Inception blocks by the same rules
as torchvision's, and into the blocks of the families in ``MODULES`` (``timm_placements``, registered by
``seprof.stages`` once timm is imported). Any other timm model is placed by the generic rules, as a model of your
own would be.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any

from .errors import UnknownModelError
from .families import TIMM_PREFIX as PREFIX
from .families import Family

# timm's model modules seprof has rules for: module → (title, where SE goes, source, native)
MODULES: dict[str, tuple[str, str, str, bool]] = {
    "resnet": ("ResNet, ResNeXt, SE-ResNet(X)t, ECA-ResNet (timm)",
               ("residual branch after the last conv+BN (bn2/bn3), before the sum; SE/ECA variants: their own module "
                "there"), "SE paper Fig. 3; timm's models", False),
    "senet": ("SENet, legacy SE-ResNet(X)t (timm)", "native: the SE module of each residual unit",
              "timm's port of the SENet authors' models", True),
    "regnet": ("RegNetX, RegNetY (timm)", "residual branch (conv3), before the sum; RegNetY: its own SE after conv2",
               "SE paper Fig. 3; timm's models", False),
    "efficientnet": ("EfficientNet, MobileNetV2, MixNet... (timm)",
                     ("its own SqueezeExcite in the blocks that have one (native); in the others, after the depthwise "
                      "conv, where timm's blocks hold theirs"), "timm's models", False),
    "mobilenetv3": ("MobileNetV3, MobileNetV4 (timm)",
                    ("its own SqueezeExcite in the blocks that have one (native); in the others, where timm's blocks "
                     "hold theirs"), "timm's models", False),
    "convnext": ("ConvNeXt (timm)", "the block's MLP output, before layer scale and the residual sum",
                 "seprof's choice, as for torchvision's ConvNeXt", False),
    "vision_transformer": ("ViT, DeiT (timm)", "token SE on the MLP branch output, before the residual sum",
                           "seprof's choice, as for torchvision's ViT", False),
    "swin_transformer": ("Swin Transformer (timm)", "token SE on the MLP branch output, before the residual sum",
                         "seprof's choice, as for torchvision's Swin", False),
    "swin_transformer_v2": ("Swin Transformer V2 (timm)",
                            "token SE on the MLP branch output after its post-norm, before the residual sum",
                            "seprof's choice, as for torchvision's Swin V2", False),
    "eva": ("EVA, DINOv3, RoPE and PE ViTs (timm)", ("token SE on the MLP branch output (after its post-norm in "
                                                     "post-norm blocks), before the residual sum"),
            "seprof's choice, as for torchvision's ViT", False),
    "cait": ("CaiT (timm)", ("token SE on the MLP branch output of the self-attention blocks; none in the "
                             "class-attention blocks, whose MLP sees the class token alone"),
             "seprof's choice, as for torchvision's ViT", False),
    "xcit": ("XCiT (timm)", ("token SE on the MLP branch output of the XCA blocks; none in the class-attention "
                             "blocks"), "seprof's choice, as for torchvision's ViT", False),
    "volo": ("VOLO (timm)", ("SE on the MLP branch output of the Outlooker and Transformer blocks (channels "
                             "last); none in the class-attention blocks"), "seprof's choice, as for torchvision's Swin",
             False),
    "mlp_mixer": ("MLP-Mixer, ResMLP, gMLP (timm)", ("token SE on the output of the block's channel MLP "
                                                     "(`mlp_channels`; gMLP's holds its spatial gating unit), before "
                                                     "the sum"),
                  "seprof's choice, as for torchvision's ViT", False),
    "mobilevit": ("MobileViT v1, v2 (timm)", ("the transformer path's output, projected back onto the feature "
                                              "map; none in the MobileNetV2 blocks"),
                  "seprof's choice", False),
    "densenet": ("DenseNet (timm)", "the layer's new features (last conv), before concatenation",
                 "as for torchvision's DenseNet", False),
    "vgg": ("VGG (timm)", "after the ReLU of each conv", "SE paper (SE-VGG), as for torchvision's VGG", False),
    "vovnet": ("VoVNet, eSE-VoVNet (timm)", ("after the aggregation conv of each OSA block; eSE-VoVNet: its own "
                                             "eSE there"), "timm's eSE-VoVNet", False),
    "inception_v3": ("Inception v3 (timm)", "each Inception module's output, after concatenation",
                     "SE paper Fig. 2", False),
    "inception_v4": ("Inception v4 (timm)", "each Inception and reduction module's output, after concatenation",
                     "SE paper Fig. 2", False),
    "nasnet": ("NASNet-A (timm)", "each cell's output, after concatenation", "seprof's choice, as for Inception",
               False),
    "pnasnet": ("PNASNet-5 (timm)", "each cell's output, after concatenation", "seprof's choice, as for Inception",
                False),
}


def is_timm(name: str) -> bool:
    """Whether ``name`` names a timm model (``timm:resnet50``)."""
    return name.startswith(PREFIX)


def timm_package() -> Any:
    """The timm package, or one UnknownModelError saying how to install it."""
    try:
        import timm
    except ImportError as error:
        raise UnknownModelError('timm is not installed, and timm: models need it: pip install "seprof[timm]"') \
            from error
    return timm


def check_timm_name(name: str) -> str:
    """``name`` if timm has that model (and, for ``timm:ARCH.TAG``, that pretrained tag), else an error naming
    the closest names, or the model's tags."""
    timm = timm_package()
    arch = name[len(PREFIX):]
    if arch and timm.is_model(arch):
        base, tag = timm.models.split_model_name_tag(arch)
        tags = list(timm.models.get_arch_pretrained_cfgs(base))  # ARCH.TAG, timm's default first
        if "." in arch and arch not in tags:
            known = ", ".join(t.partition(".")[2] for t in tags) or "none"
            raise UnknownModelError(f"unknown pretrained tag {tag!r} in {name!r}: the tags of {PREFIX}{base} are "
                                    f"{known} (the first is its default); or name {PREFIX}{base} alone")
        return name
    close = difflib.get_close_matches(arch, timm.list_models(), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(PREFIX + c for c in close)}?" if close else "timm.list_models() lists them"
    raise UnknownModelError(f"unknown timm model {name!r}: {hint}")


def timm_input_shape(name: str) -> tuple[int, ...]:
    """The input of a timm model's default pretrained configuration (3×224×224 when it has none)."""
    timm = timm_package()
    cfg = timm.models.get_pretrained_cfg(name[len(PREFIX):])
    return tuple(cfg.input_size) if cfg is not None and cfg.input_size else (3, 224, 224)


def timm_module_of(name: str) -> str:
    """timm's module for a model name ("resnet" for timm:seresnet50, and for timm:resnet50.a1_in1k)."""
    timm = timm_package()
    arch = name[len(PREFIX):].partition(".")[0]
    return next((m for m in MODULES if timm.models.is_model_in_modules(arch, [m])), "") or next(
        (m for m in timm.list_modules() if timm.models.is_model_in_modules(arch, [m])), "")


def timm_family(name: str) -> Family:
    """The family seprof shows for a timm model: its timm module, with seprof's rule for it."""
    module = timm_module_of(name)
    if module in MODULES:
        title, where, source, native = MODULES[module]
        return Family(f"timm:{module}", title, (), where, source, native=native)
    return Family(f"timm:{module or 'other'}", f"timm's {module or ''} models".replace("  ", " "), (),
                  "by seprof's generic rules (residual branches, else conv+BN+activation units) and any SE-like "
                  "module of timm's it holds", "seprof's generic rules", choice=True)


def timm_names() -> list[str]:
    """The timm models in the modules seprof has rules for, as ``timm:NAME``, module by module."""
    timm = timm_package()
    return [PREFIX + n for module in MODULES for n in timm.list_models(module=module)]


def build_timm(name: str, **options: Any) -> Any:
    """A timm model with random weights (the caller sets the device and the meta-device machinery); ``options``
    go to its builder (``img_size``)."""
    timm = timm_package()
    return timm.create_model(name[len(PREFIX):], pretrained=False, **options)


def timm_placements(points_of: Callable[[type], Any]) -> list[tuple[type, Any, str, str, dict[str, str]]]:
    """Where seprof's blocks go in timm's ResNet, RegNet, ConvNeXt, ViT and EfficientNet-style blocks, and in the
    other families of ``MODULES``: (block class, points, description, layout, positions) rows for
    ``seprof.stages.register_placement``. ``points_of`` gives the points of a torchvision block class, for timm's
    twins of torchvision's models (VGG)."""
    from timm.models import _efficientnet_blocks as blocks
    from timm.models import convnext, regnet, resnet, swin_transformer, swin_transformer_v2, vision_transformer

    residual = "residual branch, after the last conv+BN, before the sum (paper Fig. 3)"
    unit = {"pre": "conv1", "identity": "downsample"}
    rows: list[tuple[type, Any, str, str, dict[str, str]]] = [
        (resnet.BasicBlock, "bn2", residual, "nchw", unit),
        (resnet.Bottleneck, "bn3", residual, "nchw", unit),
        (regnet.Bottleneck, "conv3", "residual branch: the last conv+BN, before the sum", "nchw", unit),
        (convnext.ConvNeXtBlock, "mlp", "the branch's MLP output, before layer scale and the residual sum",
         lambda block: "nchw" if block.use_conv_mlp else "nhwc", {}),  # ConvNeXt-V2 and the small ones: conv MLPs
        (swin_transformer.SwinTransformerBlock, "mlp", "token SE on the MLP branch output, before the residual sum",
         "tokens", {}),
        (swin_transformer_v2.SwinTransformerV2Block, "norm2", ("token SE on the MLP branch output after its "
                                                               "post-norm, before the residual sum"), "tokens", {}),
        (vision_transformer.Block, "mlp", "MLP branch output, before the residual sum", "tokens", {}),
        (vision_transformer.ResPostBlock, "norm2", "MLP branch output after its post-norm, before the residual sum",
         "tokens", {}),
        (vision_transformer.ParallelThingsBlock, lambda block: [f"ffns.{i}.mlp" for i in range(len(block.ffns))],
         "each parallel MLP branch's output, before layer scale and the sum", "tokens", {}),
    ]
    # Parallel blocks: the MLP half's own projection, or the fused attention+MLP projection where there is one
    parallel = "the MLP half's output projection (or the fused attention+MLP projection), before the residual sum"
    for block in (vision_transformer.ParallelScalingBlock, getattr(vision_transformer, "DiffParallelScalingBlock",
                                                                   None)):
        if block is not None:
            rows.append((block, lambda b: ["mlp_out_proj" if getattr(b, "out_proj", None) is None else "out_proj"],
                         parallel, "tokens", {}))
    # EfficientNet-style blocks without SE: where timm's own SE goes (its `se` slot, after the depthwise conv)
    where = "after the depthwise conv+BN+activation, where timm's EfficientNet blocks hold their own SE"
    rows += [
        (blocks.DepthwiseSeparableConv, "bn1", where, "nchw", {}),
        (blocks.InvertedResidual, "bn2", where, "nchw", {}),
        (blocks.EdgeResidual, "bn1", ("after the fused expansion conv+BN+activation, where timm's EdgeResidual holds "
                                      "its own SE"), "nchw", {}),
        (blocks.UniversalInvertedResidual, "se", ("after the middle depthwise conv, in the SE slot of timm's universal "
                                                  "inverted residual (MobileNetV4)"), "nchw", {}),
    ]
    rows += _more_timm_rows(points_of)
    return rows


def _more_timm_rows(points_of: Callable[[type], Any]) -> list[tuple[type, Any, str, str, dict[str, str]]]:
    """Rows for timm's other families whose blocks the generic rules miss or misread: DenseNet, VGG, VoVNet,
    Inception and NAS cells (convolutional, untraceable), MLP-Mixer (its token-mixing MLP is not a channel
    branch), MobileViT (its transformer runs on unfolded patches), and the transformers whose class-attention
    blocks (CaiT, XCiT, VOLO) or attention-pool heads (Eva's PE-core) run an MLP over one token."""
    from torchvision.models.vgg import VGG

    # by import_module: timm.models.inception_v3 and inception_v4 are shadowed by the builders of the same names
    cait, densenet, eva, inception_v3, inception_v4, mlp_mixer, mobilevit, nasnet, pnasnet, vgg, volo, vovnet, xcit = (
        importlib.import_module(f"timm.models.{name}") for name in (
            "cait", "densenet", "eva", "inception_v3", "inception_v4", "mlp_mixer", "mobilevit", "nasnet", "pnasnet",
            "vgg", "volo", "vovnet", "xcit"))

    def nowhere(block: Any) -> list[str]:
        return []

    mlp = "the block's MLP output, before the residual sum"
    class_token = "none: a class-attention block's MLP sees the class token alone"
    channel_mlp = "the channel-mixing MLP's output, before the residual sum"
    output = "the module's output, after concatenation (paper Fig. 2)"
    cell = "the cell's output, after concatenation"
    rows: list[tuple[type, Any, str, str, dict[str, str]]] = [
        # Eva (EVA, DINOv3, RoPE and PE ViTs, Qwen3's encoder); an attention-pool head (PE-core) takes no SE
        (eva.EvaBlock, "mlp", mlp, "tokens", {}),
        (eva.EvaBlockPostNorm, "norm2", "the block's MLP output after its post-norm, before the residual sum",
         "tokens", {}),
        (cait.LayerScaleBlock, "mlp", mlp, "tokens", {}),
        (cait.LayerScaleBlockClassAttn, nowhere, class_token, "tokens", {}),
        (xcit.XCABlock, "mlp", mlp, "tokens", {}),
        (xcit.ClassAttentionBlock, nowhere, class_token, "tokens", {}),
        (volo.Outlooker, "mlp", mlp, "nhwc", {}),
        (volo.Transformer, "mlp", mlp, "nhwc", {}),
        (volo.ClassBlock, nowhere, class_token, "tokens", {}),
        *[(block, "mlp_channels", channel_mlp, "tokens", {})
          for block in (mlp_mixer.MixerBlock, mlp_mixer.ResBlock, mlp_mixer.SpatialGatingBlock)],
        (mobilevit.MobileVitBlock, "conv_proj", ("the transformer path's output, projected back onto the feature "
                                                 "map, before its fusion with the block's input"), "nchw", {}),
        (mobilevit.MobileVitV2Block, "conv_proj", ("the transformer path's output, projected back onto the feature "
                                                   "map (the block's output)"), "nchw", {}),
        (densenet.DenseLayer, "conv2", "the layer's new features (last conv), before concatenation", "nchw", {}),
        (vgg.VGG, points_of(VGG), "after the ReLU of each conv (paper's SE-VGG)", "nchw", {}),
        (vovnet.OsaBlock, "conv_concat", ("after the aggregation conv+BN+activation, where eSE-VoVNet holds its "
                                          "eSE"), "nchw", {}),
        *[(block, "", output, "nchw", {}) for block in (
            inception_v3.InceptionA, inception_v3.InceptionB, inception_v3.InceptionC, inception_v3.InceptionD,
            inception_v3.InceptionE, inception_v4.Mixed3a, inception_v4.Mixed4a, inception_v4.Mixed5a,
            inception_v4.InceptionA, inception_v4.ReductionA, inception_v4.InceptionB, inception_v4.ReductionB,
            inception_v4.InceptionC)],
        *[(block, "", cell, "nchw", {}) for block in (
            nasnet.CellStem0, nasnet.CellStem1, nasnet.FirstCell, nasnet.NormalCell, nasnet.ReductionCell0,
            nasnet.ReductionCell1, pnasnet.CellBase)],
    ]
    return rows
