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


class Cifar(nn.Module):
    """A CIFAR-style net whose head only fits a 32x32 input."""

    def __init__(self) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU(),
                               nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU())
        self.head = nn.Linear(32 * 16 * 16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.f(x).flatten(1))


def build_cifar() -> nn.Module:
    return Cifar()


class SharedActBlock(nn.Module):
    """A residual block that reuses one activation module."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, 1, 1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, 1, 1), nn.BatchNorm2d(c)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.bn2(self.conv2(self.act(self.bn1(self.conv1(x))))))


def build_shared_act() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), SharedActBlock(16), SharedActBlock(16),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def build_shared_relu_stack() -> nn.Module:
    relu = nn.ReLU()
    return nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), relu,
                         nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), relu,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


class TokenBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm, self.fc1, self.act, self.fc2 = nn.LayerNorm(c), nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.fc1(self.norm(x))))


class TinyViT(nn.Module):
    """Residual additions on tokens only, each branch ending in a Linear: token SE by the generic rule."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 64, 16, 16)
        self.blocks = nn.Sequential(TokenBlock(64), TokenBlock(64))
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.patch(x).flatten(2).transpose(1, 2)).mean(1))


def build_tiny_vit() -> nn.Module:
    return TinyViT()


class PosEmbed(nn.Module):
    """An addition of a parameter (a positional embedding) is not a residual."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, 4)
        self.pos = nn.Parameter(torch.zeros(1, 16, 56, 56))
        self.body = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(x) + self.pos).mean((2, 3))


def build_pos_embed() -> nn.Module:
    return PosEmbed()


def build_resnet18_on_cpu() -> nn.Module:
    """A factory that moves its model to a device (cannot be built on the meta device as it is)."""
    from torchvision.models import resnet18

    return resnet18().to("cpu")


class NeedsValues(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.f(x)
        return x.mean((2, 3)) * (1 if bool(x.sum() > 0) else 2)


def build_needs_values() -> nn.Module:
    return NeedsValues()


def build_tiny_r() -> nn.Module:
    """A plain stack whose only unit has 8 channels: fewer than the default r = 16."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 10))


def build_video() -> nn.Module:
    """A factory for a video model (N×C×T×H×W input)."""
    from torchvision.models.video import r3d_18

    return r3d_18()
