"""The attention blocks models bring with them ("native" SE), recognised by class, each with its exact formula.

torchvision's ``SqueezeExcitation`` (EfficientNet, MobileNetV3, RegNetY, MaxViT) and timm's SE-like modules:
``SEModule`` / ``SqueezeExcite`` (two 1×1 convs C→hidden→C, an optional norm between them), the
EfficientNet/MobileNet blocks' ``SqueezeExcite`` (``conv_reduce``/``conv_expand``), ``EffectiveSEModule``
(eSE, Lee & Park 2020: one 1×1 conv C→C) and ``EcaModule`` / ``CecaModule`` (ECA, Wang et al. 2020: a 1-D conv
of k taps across the channels). ``native_block`` reads a module into a ``NativeBlock``: what it is, its widths
and biases, and from them its parameters (exact, and the papers' weights-only formula) and its work.
timm is only consulted when a model has already imported it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .accounting import SEWork, fc_params
from .options import Choice


class NativeKind(Choice):
    """The shape of a native block's excitation."""

    SE = "se"  # C → hidden → C
    ESE = "ese"  # C → C
    ECA = "eca"  # a 1-D conv of k taps across the channels


@dataclass(frozen=True)
class NativeBlock:
    """One native attention block.

    Attributes:
        kind: its excitation's shape.
        cls: its class name (e.g. "SEModule").
        channels: C.
        hidden: the hidden width (SE), else None.
        bias: whether its excitation layers have biases.
        norm: parameters of a norm layer between the two FCs (timm's SEModule with a norm_layer).
        taps: ECA's kernel size k.
    """

    kind: NativeKind
    cls: str
    channels: int
    hidden: int | None = None
    bias: bool = True
    norm: int = 0
    taps: int | None = None

    @property
    def params(self) -> int:
        """Its exact parameter count."""
        if self.kind is NativeKind.SE:
            return fc_params(self.channels, self.hidden, self.bias) + self.norm
        if self.kind is NativeKind.ESE:
            return self.channels * self.channels + (self.channels if self.bias else 0)
        return self.taps + (1 if self.bias else 0)

    @property
    def weights(self) -> int:
        """Its excitation's weights alone (the papers' formula): 2·C·hidden (SE), C² (eSE), k (ECA)."""
        if self.kind is NativeKind.SE:
            return 2 * self.channels * self.hidden
        if self.kind is NativeKind.ESE:
            return self.channels * self.channels
        return self.taps

    def work(self, positions: int) -> SEWork:
        """The work it does on C channels over ``positions`` positions."""
        pixels = positions * self.channels
        if self.kind is NativeKind.SE:
            fc, biases = 2 * self.channels * self.hidden, (self.hidden + self.channels) if self.bias else 0
        elif self.kind is NativeKind.ESE:
            fc, biases = self.channels * self.channels, self.channels if self.bias else 0
        else:
            fc, biases = self.taps * self.channels, self.channels if self.bias else 0
        return SEWork(pool_ops=pixels, fc_macs=fc, bias_adds=biases, gates=self.channels, scale_muls=pixels)


def _norm_params(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def _two_convs(first: str, second: str, norm: str | None = None) -> Callable[[nn.Module], NativeBlock]:
    def read(module: nn.Module) -> NativeBlock:
        reduce = getattr(module, first)
        return NativeBlock(NativeKind.SE, type(module).__name__, reduce.in_channels, reduce.out_channels,
                           reduce.bias is not None, _norm_params(getattr(module, norm, None) if norm else None))
    return read


def _one_conv(module: nn.Module) -> NativeBlock:
    return NativeBlock(NativeKind.ESE, type(module).__name__, module.fc.in_channels, bias=module.fc.bias is not None)


def _eca(module: nn.Module) -> NativeBlock | None:
    if getattr(module, "conv2", None) is not None:  # timm's experimental MLP variant: not ECA as published
        return None
    return NativeBlock(NativeKind.ECA, type(module).__name__, 0, bias=module.conv.bias is not None,
                       taps=module.conv.kernel_size[0])


def _readers() -> list[tuple[type, Callable[[nn.Module], NativeBlock | None]]]:
    return _known_readers(sys.modules.get("timm") is not None)


@functools.lru_cache(maxsize=2)
def _known_readers(with_timm: bool) -> list[tuple[type, Callable[[nn.Module], NativeBlock | None]]]:
    from torchvision.ops import SqueezeExcitation

    readers: list[tuple[type, Callable]] = [(SqueezeExcitation, _two_convs("fc1", "fc2"))]
    if with_timm:  # a model that holds timm's modules has imported timm already
        from timm.layers import eca, squeeze_excite
        from timm.models import _efficientnet_blocks, senet

        readers += [
            (squeeze_excite.SEModule, _two_convs("fc1", "fc2", "bn")),
            (squeeze_excite.SqueezeExcite, _two_convs("fc1", "fc2", "bn")),
            (_efficientnet_blocks.SqueezeExcite, _two_convs("conv_reduce", "conv_expand")),
            (senet.SEModule, _two_convs("fc1", "fc2")),
            (squeeze_excite.EffectiveSEModule, _one_conv),
            (eca.EcaModule, _eca),
            (eca.CecaModule, _eca),
        ]
    return readers


def native_block(module: nn.Module) -> NativeBlock | None:
    """``module`` as a native attention block, or None when it is not one (seprof's own blocks are not)."""
    from .blocks import SEBlock

    if isinstance(module, SEBlock):
        return None
    for cls, read in _readers():
        if type(module) is cls or isinstance(module, cls):
            return read(module)
    return None

