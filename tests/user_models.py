"""Small models of the kind a user brings, named as factories (user_models:build_residual) in the tests."""

import torch
from torch import nn


class Block(nn.Module):
    """A residual block seprof has no rule for: found by the generic residual rule."""

    def __init__(self, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels if stride == 1 else channels // 2, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.down = None if stride == 1 else nn.Conv2d(channels // 2, channels, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.down is None else self.down(x)
        return self.act(self.bn2(self.conv2(self.act(self.bn1(self.conv1(x))))) + identity)


class ResidualNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 4, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.body = nn.Sequential(Block(16), Block(16), Block(32, stride=2), Block(32))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)))


def build_residual() -> nn.Module:
    return ResidualNet()


def build_plain() -> nn.Module:
    """A VGG-like stack of conv+BN+ReLU units, no residuals."""
    def unit(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(*unit(3, 16, 2), *unit(16, 32, 2), *unit(32, 32, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(32, 10))


def build_mlp() -> nn.Module:
    """Nothing SE fits: no residual additions, no conv+BN+activation units."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))


def build_resnet18_subclass() -> nn.Module:
    """A user's subclass of a torchvision model: its blocks are still known."""
    from torchvision.models import resnet18

    return resnet18(num_classes=7)


not_a_factory = 3


def build_not_a_module():
    return "a string"
