"""timm's models, named ``timm:NAME`` (timm is an optional extra: ``pip install "seprof[timm]"``).

A timm model is built with random weights (``pretrained=False``; nothing is downloaded) at the input size of its
default pretrained configuration. Its own SE-like modules are native attention (``seprof.native``); seprof's
blocks go into timm's ResNet/ResNeXt, RegNet, ConvNeXt and ViT blocks by the same rules as torchvision's
(``timm_placements``, registered by ``seprof.stages`` once timm is imported). Any other timm model is placed by the
generic rules, as a model of your own would be.
"""

from __future__ import annotations

import difflib
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


def timm_placements() -> list[tuple[type, Any, str, str, dict[str, str]]]:
    """Where seprof's blocks go in timm's ResNet, RegNet, ConvNeXt, ViT and EfficientNet-style blocks:
    (block class, points, description, layout, positions) rows for ``seprof.stages.register_placement``."""
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
    return rows
