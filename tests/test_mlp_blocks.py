"""The generic rule for transformer-style blocks on models of a user's own: SE at the output of a block's child
``mlp`` beside a token mixer; not the model itself (a CNN with an MLP head), not a stage that merely holds blocks
beside an ``mlp``, and N×C×H×W where the MLP permutes its Linear's output back to channels first."""

import torch
from torch import nn

from seprof.stages import find_sites


class Mixer(nn.Module):
    """A token mixer of its own layers (a depthwise conv and a norm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x):
        return self.norm(self.conv(x))


class TokenBlock(nn.Module):
    """x + mixer(x), then x + mlp(x) on tokens (N, L, C)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.mixer = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, channels))
        self.norm = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels),
                                 nn.Dropout(0.0))

    def forward(self, x):
        x = x + self.mixer(x)
        return x + self.mlp(self.norm(x))


class Permuted(nn.Module):
    def __init__(self, *dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)


class ConvNeXtStyle(nn.Module):
    """A depthwise mixer, then an MLP that permutes to channels last, runs Linear layers and permutes back."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.mixer = Mixer(channels)
        self.mlp = nn.Sequential(Permuted(0, 2, 3, 1), nn.LayerNorm(channels), nn.Linear(channels, 4 * channels),
                                 nn.GELU(), nn.Linear(4 * channels, channels), Permuted(0, 3, 1, 2))

    def forward(self, x):
        return x + self.mlp(self.mixer(x))


class Tokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 32, 16, stride=16)
        self.blocks = nn.Sequential(TokenBlock(32), TokenBlock(32))
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)
        return self.head(self.blocks(x).mean(1))


class ConvNet(nn.Module):
    """conv+BN+ReLU units and an MLP head named ``mlp``: the model is not a transformer-style block."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                      nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.mlp = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))

    def forward(self, x):
        return self.mlp(self.features(x))


class Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return x + self.bn(self.conv(x))


class Encoder(nn.Module):
    """A stage holding residual blocks and a 1×1 conv called ``mlp``: its blocks stay visible."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(Residual(16), Residual(16), Residual(16))
        self.mlp = nn.Conv2d(16, 16, 1)

    def forward(self, x):
        return self.mlp(self.blocks(x))


class Staged(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=4, padding=1)
        self.enc = Encoder()

    def forward(self, x):
        return self.enc(self.stem(x)).mean((2, 3))


class ConvNeXtLike(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 48, 4, stride=4)
        self.blocks = nn.Sequential(ConvNeXtStyle(48), ConvNeXtStyle(48))

    def forward(self, x):
        return self.blocks(self.stem(x)).mean((2, 3))


def test_token_blocks_take_se_at_their_mlp_output_and_no_residual_point_inside():
    found = find_sites(Tokens(), (3, 224, 224))
    assert [(s.path, s.layout, s.channels, s.height, s.stage) for s in found.sites] == [
        ("blocks.0.mlp", "tokens", 32, 196, 4), ("blocks.1.mlp", "tokens", 32, 196, 4)]
    assert found.sites[0].description == "the block's MLP output, before the residual sum (generic rule)"


def test_an_mlp_that_permutes_back_to_channels_first_is_read_as_nchw():
    found = find_sites(ConvNeXtLike(), (3, 224, 224))
    assert [(s.path, s.layout, s.channels, s.height, s.width, s.stage) for s in found.sites] == [
        ("blocks.0.mlp", "nchw", 48, 56, 56, 2), ("blocks.1.mlp", "nchw", 48, 56, 56, 2)]


def test_a_cnn_with_an_mlp_head_keeps_its_conv_units():
    found = find_sites(ConvNet(), (3, 224, 224))
    assert [(s.path, s.channels, s.stage) for s in found.sites] == [("features.2", 16, 1), ("features.5", 32, 2)]


def test_a_stage_holding_blocks_beside_an_mlp_is_not_a_block():
    found = find_sites(Staged(), (3, 224, 224))
    assert [s.path for s in found.sites] == ["enc.blocks.0.bn", "enc.blocks.1.bn", "enc.blocks.2.bn"]


def test_the_mlp_rule_leaves_the_model_untouched():
    model = Tokens()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    find_sites(model, (3, 224, 224))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
