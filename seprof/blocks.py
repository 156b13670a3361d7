"""The attention blocks: SE / cSE (Hu et al., Sec. 3), sSE and scSE (Roy et al., Sec. 2).

SE (cSE): squeeze z = global average (or max) pool of U; excitation s = gate(W2 · relu(W1 · z)) with
W1: hidden × C and W2: C × hidden as 1×1 convolutions (hidden = C // r, or rounded to a multiple of a divisor);
scale: each channel of U multiplied by its s_c. Built on ``torchvision.ops.SqueezeExcitation``, the block
torchvision's own SE models use, with its parameters and keys; the squeeze is a tensor mean (or max) over the
positions, as in timm's SE, not a pooling module. sSE: q = gate(Conv1x1(C→1)(U)), each position scaled by its q.
scSE: both, their two recalibrated maps added (the MICCAI paper) or combined by element-wise maximum (the
authors' code).

Each kind has a block for N×C×H×W features and one for channels-last features (ViT tokens (N, L, C), Swin's
(N, H, W, C) maps, Video Swin's (N, T, H, W, C)), where the 1×1 convolutions become linear layers with the same
parameters; video features N×C×T×H×W get 3-D blocks (``SEBlock3d``: the squeeze is over T×H×W, the 1×1×1
convolutions have the 2-D block's parameters). ``BLOCKS`` maps a ``BlockKind`` to the two factories;
``VOLUME_BLOCKS`` to the 3-D one; each takes the channel count first, then the ``BlockSpec``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn
from torchvision.ops import SqueezeExcitation

from .errors import OptionError, first_line
from .spec import PAPER_R, BlockKind, BlockSpec, Combine, Gate, Squeeze, block_spec

_GATES: dict[Gate, type[nn.Module]] = {
    Gate.SIGMOID: nn.Sigmoid, Gate.HARDSIGMOID: nn.Hardsigmoid, Gate.TANH: nn.Tanh, Gate.RELU: nn.ReLU,
}


def _channel_spec(spec: BlockSpec) -> BlockSpec:
    """The channel part of an scSE spec, as an SE spec (for building its cSE half)."""
    return BlockSpec(BlockKind.SE, spec.r, spec.bias, spec.squeeze, spec.gate, spec.divisor)


class SEBlock(SqueezeExcitation):
    """The standard SE block: squeeze → FC(C→hidden) → ReLU → FC(hidden→C) → gate → scale.

    The squeeze is ``x.mean((2, 3), keepdim=True)`` (``amax`` for a max squeeze), as in timm's SE: no pooling
    module, so torchvision's ``avgpool`` child is dropped (it holds no parameters; the state_dict keys are
    torchvision's). No MAC counter counts the squeeze (fvcore and torch's counter have no rule for a mean, thop
    sees modules only); seprof's analytic work (``accounting.se_work``) does.

    Args:
        channels: C, the channels the block recalibrates.
        r: reduction ratio; the hidden width is ``C // r`` (at least 1 is required).
        bias: give the two FC layers biases (the paper's ablations drop them).
        spec: the whole block (its r and bias win over the two arguments above).
    """

    def __init__(self, channels: int, r: int = PAPER_R, bias: bool = True, spec: BlockSpec | None = None) -> None:
        spec = block_spec(spec, r if spec is None else None, bias if spec is None else None)
        hidden = spec.hidden(channels)
        # in place, as timm's SE: the ReLU writes into fc1's output instead of allocating another tensor
        super().__init__(channels, hidden, activation=partial(nn.ReLU, inplace=True))
        # never called here: left in place, print(model) would list it and the counters would attribute it nothing
        del self.avgpool
        if not spec.bias:
            self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
            self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)
        if spec.gate is not Gate.SIGMOID:
            self.scale_activation = _GATES[spec.gate]()
        self.max_squeeze = spec.squeeze is Squeeze.MAX
        self.squeeze_dims = (2, 3)  # the positions the squeeze reduces: H, W
        self.channels, self.r, self.bias, self.spec = channels, spec.r, spec.bias, spec

    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        """s, the gate's output (torchvision's method, with this block's squeeze)."""
        z = x.amax(self.squeeze_dims, keepdim=True) if self.max_squeeze else x.mean(self.squeeze_dims, keepdim=True)
        return self.scale_activation(self.fc2(self.activation(self.fc1(z))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # _scale inlined: one Python frame per block, as timm's SE
        z = x.amax(self.squeeze_dims, keepdim=True) if self.max_squeeze else x.mean(self.squeeze_dims, keepdim=True)
        return x * self.scale_activation(self.fc2(self.activation(self.fc1(z))))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, {self.spec.label}"


class SEBlock3d(SEBlock):
    """``SEBlock`` for video features N×C×T×H×W: the squeeze is a mean (or max) over T×H×W and the two FC layers
    are 1×1×1 convolutions, with the same parameters as the 2-D block's for the same C and r."""

    def __init__(self, channels: int, r: int = PAPER_R, bias: bool = True, spec: BlockSpec | None = None) -> None:
        super().__init__(channels, r, bias, spec)
        hidden = self.fc1.out_channels
        self.squeeze_dims = (2, 3, 4)  # T, H, W
        self.fc1 = nn.Conv3d(channels, hidden, 1, bias=self.spec.bias)
        self.fc2 = nn.Conv3d(hidden, channels, 1, bias=self.spec.bias)


class SSEBlock(nn.Module):
    """Spatial SE (Roy et al.): a 1×1 conv C→1, the gate, and each position of U scaled by its value."""

    def __init__(self, channels: int, spec: BlockSpec = BlockSpec(BlockKind.SSE)) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 1, bias=spec.bias)
        self.gate = _GATES[spec.gate]()
        self.channels, self.spec = channels, spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.conv(x))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, {self.spec.label}"


class SCSEBlock(nn.Module):
    """Concurrent spatial and channel SE (Roy et al.): ``cse`` and ``sse`` recalibrate U, and their two maps
    are added or combined by element-wise maximum."""

    def __init__(self, channels: int, spec: BlockSpec = BlockSpec(BlockKind.SCSE),
                 channel: Callable[..., nn.Module] | None = None,
                 spatial: Callable[..., nn.Module] | None = None) -> None:
        super().__init__()
        self.cse = (channel or SEBlock)(channels, spec=_channel_spec(spec))
        self.sse = (spatial or SSEBlock)(channels, spec=spec)
        self.combine = spec.combine
        self.channels, self.spec = channels, spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.combine is Combine.MAX:
            return torch.maximum(self.cse(x), self.sse(x))
        return self.cse(x) + self.sse(x)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, {self.spec.label}"


class TokenSE(nn.Module):
    """SE for channels-last features: tokens (N, L, C) or (N, H, W, C), as in ViT and Swin.

    squeeze: mean (or max) over every position (all tokens, class token included); excitation: gate(W2 · relu(W1 ·
    z)) with W1: hidden × C and W2: C × hidden as linear layers (the same parameters as ``SEBlock``); scale:
    every position's C values multiplied by s.
    """

    def __init__(self, channels: int, r: int = PAPER_R, bias: bool = True, spec: BlockSpec | None = None) -> None:
        super().__init__()
        spec = block_spec(spec, r if spec is None else None, bias if spec is None else None)
        hidden = spec.hidden(channels)
        self.fc1 = nn.Linear(channels, hidden, bias=spec.bias)
        self.fc2 = nn.Linear(hidden, channels, bias=spec.bias)
        self.activation = nn.ReLU(inplace=True)
        self.scale_activation = _GATES[spec.gate]()
        self.channels, self.r, self.bias, self.spec = channels, spec.r, spec.bias, spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = tuple(range(1, x.dim() - 1))
        if self.spec.squeeze is Squeeze.MAX:
            squeezed = x.amax(dim=positions, keepdim=True)
        else:
            squeezed = x.mean(dim=positions, keepdim=True)
        return x * self.scale_activation(self.fc2(self.activation(self.fc1(squeezed))))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, {self.spec.label}"


class TokenSSE(nn.Module):
    """Spatial SE for channels-last features: a per-token gate, Linear(C→1), scaling each token."""

    def __init__(self, channels: int, spec: BlockSpec = BlockSpec(BlockKind.SSE)) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, 1, bias=spec.bias)
        self.gate = _GATES[spec.gate]()
        self.channels, self.spec = channels, spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc(x))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, {self.spec.label}"


class SSEBlock3d(SSEBlock):
    """``SSEBlock`` for video features N×C×T×H×W: a 1×1×1 conv C→1 gates each position."""

    def __init__(self, channels: int, spec: BlockSpec = BlockSpec(BlockKind.SSE)) -> None:
        super().__init__(channels, spec)
        self.conv = nn.Conv3d(channels, 1, 1, bias=spec.bias)


def _token_scse(channels: int, spec: BlockSpec) -> SCSEBlock:
    return SCSEBlock(channels, spec, channel=TokenSE, spatial=TokenSSE)


def _scse3d(channels: int, spec: BlockSpec) -> SCSEBlock:
    return SCSEBlock(channels, spec, channel=SEBlock3d, spatial=SSEBlock3d)


# kind → (block for N×C×H×W features, block for channels-last features); first argument: the channel count
BLOCKS: dict[BlockKind, tuple[Callable[..., nn.Module], Callable[..., nn.Module]]] = {
    BlockKind.SE: (SEBlock, TokenSE),
    BlockKind.CSE: (SEBlock, TokenSE),
    BlockKind.SSE: (SSEBlock, TokenSSE),
    BlockKind.SCSE: (SCSEBlock, _token_scse),
}
SE_BLOCKS = BLOCKS  # the name 0.4 exported
# kind → block for video features N×C×T×H×W
VOLUME_BLOCKS: dict[BlockKind, Callable[..., nn.Module]] = {
    BlockKind.SE: SEBlock3d, BlockKind.CSE: SEBlock3d, BlockKind.SSE: SSEBlock3d, BlockKind.SCSE: _scse3d,
}


class ChannelsFirst(nn.Module):
    """A timm attention module (made for N×C×H×W maps) run on other layouts, with the module's own parameters.

    Channels-last features (ViT's tokens (N, L, C), Swin's (N, H, W, C), Video Swin's (N, T, H, W, C)) are moved
    to channels first. A channel kind then sees every position of a sample as one map: tokens as a 1×L map, video
    N×C×T×H×W as N×C×(T·H)×W, so its squeeze pools over all tokens or all frames at once. A kind that gates
    positions runs on the H×W grid, of video frame by frame (``per_frame``); it does not run on grid-less tokens.
    """

    def __init__(self, attn: nn.Module, channels_last: bool, per_frame: bool) -> None:
        super().__init__()
        self.attn = attn
        self.channels_last, self.per_frame = channels_last, per_frame

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.movedim(-1, 1)
        shape = x.shape
        if self.per_frame:  # N×C×T×H×W → (N·T)×C×H×W
            n, c, t, h, w = shape
            y = self.attn(x.transpose(1, 2).reshape(n * t, c, h, w)).reshape(n, t, c, h, w).transpose(1, 2)
        else:
            y = self.attn(x.reshape(shape[0], shape[1], -1, shape[-1])).reshape(shape)
        return y.movedim(1, -1) if self.channels_last else y

    def extra_repr(self) -> str:
        return ("channels last, " if self.channels_last else "") + ("per frame" if self.per_frame else "one map")


def timm_block(spec: BlockSpec, channels: int) -> nn.Module:
    """timm's module for ``spec``'s kind on ``channels`` channels (N×C×H×W), as timm's factory makes it for the
    name, with seprof's defaults and ``spec``'s knobs; a kernel_size given to ECA is used as the kernel (timm uses
    it only when built without C)."""
    import importlib

    entry = spec.kind.entry
    cls = getattr(importlib.import_module("timm.layers.create_attn"), entry.timm_class)
    knobs = {**entry.factory, **entry.defaults, **spec.kind_knobs}
    kernel = knobs.pop("kernel_size") if entry.timm_class in ("EcaModule", "CecaModule") else None
    try:
        return cls(None, kernel_size=kernel, **knobs) if kernel is not None else cls(channels, **knobs)
    except Exception as error:  # timm refused a knob's value
        given = ", ".join(f"{k}={v}" for k, v in spec.knobs)
        raise OptionError("knobs", given, f"cannot build timm's {entry.timm_class} on {channels} channels: "
                          f"{first_line(error)}") from None


def make_block(spec: BlockSpec, channels: int, layout: str = "nchw", video: bool = False) -> nn.Module:
    """Build the block ``spec`` describes for ``channels`` channels in ``layout`` ("nchw", "nhwc", "tokens");
    ``video``: the features are N×C×T×H×W (or N×T×H×W×C); seprof's channels-last blocks take any number of
    positions, timm's kinds run through ``ChannelsFirst``."""
    if not spec.kind.seprof:
        if spec.kind.entry.needs_grid and layout == "tokens":
            raise OptionError("block", spec.kind, f"gates positions on an H×W grid, and these features are tokens "
                              f"without one: on tokens use {', '.join(grid_free_kinds())}")
        attn = timm_block(spec, channels)
        if layout == "nchw" and not video:
            return attn
        return ChannelsFirst(attn, layout != "nchw", per_frame=video and spec.kind.entry.needs_grid)
    spatial, channels_last = BLOCKS[spec.kind]
    if layout != "nchw":
        return channels_last(channels, spec=spec)
    return (VOLUME_BLOCKS[spec.kind] if video else spatial)(channels, spec=spec)


def grid_free_kinds() -> list[str]:
    """The kinds that run on tokens without a grid: seprof's, and timm's channel kinds."""
    return [str(kind) for kind in BlockKind if not kind.entry.needs_grid and kind is kind.block]
