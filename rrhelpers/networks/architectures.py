"""ResNet backbones that map normalised images to a representation vector R(x).

One implementation serves the CIFAR-style ResNets (3x3 stem, no max-pool), the ImageNet ResNet-50 (7x7 stem,
max-pool; the same parameters as torchvision's, named ``stages.{i}.{j}`` where torchvision says
``layer{i+1}.{j}``) and the small nets of the quick profile. Every backbone can apply a
"fake ReLU" to its last activation: ReLU in the forward pass, identity in the backward pass, so gradients of
representation objectives flow through coordinates that are zero (as in MadryLab's ``robustness``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
import torch.nn.functional as F

from .foreign import FOREIGN_PREFIXES, build_foreign_backbone


class FakeReLU(torch.autograd.Function):
    """ReLU forward, identity backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> torch.Tensor:
        return grad_output


def relu(x: torch.Tensor, fake: bool = False) -> torch.Tensor:
    """ReLU in place (the blocks hand it a tensor nothing else holds), or the fake ReLU out of place."""
    return FakeReLU.apply(x) if fake else F.relu(x, inplace=True)


class Shortcut(nn.Sequential):
    """The projection shortcut: a strided 1x1 convolution and a BatchNorm (torchvision's ``downsample``)."""

    CONV_BN_PAIRS = (("0", "1"),)

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))


def _shortcut(in_planes: int, planes: int, stride: int) -> nn.Module | None:
    if stride == 1 and in_planes == planes:
        return None
    return Shortcut(in_planes, planes, stride)


class BasicBlock(nn.Module):
    expansion = 1
    CONV_BN_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"))  # BatchNorms that rrhelpers.networks.fusion may fold

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _shortcut(in_planes, planes, stride)

    def forward(self, x: torch.Tensor, fake_relu: bool = False) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)
        return relu(out, fake_relu)


class Bottleneck(nn.Module):
    expansion = 4
    CONV_BN_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.downsample = _shortcut(in_planes, out_planes, stride)

    def forward(self, x: torch.Tensor, fake_relu: bool = False) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return relu(out, fake_relu)


BLOCKS: dict[str, type[nn.Module]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """ResNet feature extractor: stem, residual stages, average pooling to ``pool x pool``, flatten.

    ``stem='cifar'`` is a 3x3 convolution without max-pool (small images); ``stem='imagenet'`` is the 7x7/2
    convolution followed by a 3x3/2 max-pool. ``pool=1`` is global average pooling (ResNet-50's R(x));
    ``pool=2`` keeps a 2x2 grid, which the quick profile uses to keep some layout in a small representation.
    """

    CONV_BN_PAIRS = (("conv1", "bn1"),)

    def __init__(
        self,
        block: str = "basic",
        layers: tuple[int, ...] = (2, 2, 2, 2),
        width: int = 64,
        in_channels: int = 3,
        stem: str = "cifar",
        pool: int = 1,
    ):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"unknown block {block!r}; choose one of {sorted(BLOCKS)}")
        if stem not in ("cifar", "imagenet"):
            raise ValueError(f"unknown stem {stem!r}; choose 'cifar' or 'imagenet'")
        block_cls = BLOCKS[block]
        self.stem_kind = stem
        if stem == "cifar":
            self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        in_planes = width
        self.stages = nn.ModuleList()
        for i, depth in enumerate(layers):
            planes = width * 2**i
            blocks = []
            for j in range(depth):
                blocks.append(block_cls(in_planes, planes, stride=2 if (j == 0 and i > 0) else 1))
                in_planes = planes * block_cls.expansion
            self.stages.append(nn.ModuleList(blocks))
        self.pool = pool
        self.num_features = in_planes * pool * pool

    def forward(self, x: torch.Tensor, fake_relu: bool = False) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        if self.stem_kind == "imagenet":
            out = F.max_pool2d(out, 3, 2, 1)
        for i, stage in enumerate(self.stages):
            for j, blk in enumerate(stage):
                last = i == len(self.stages) - 1 and j == len(stage) - 1
                out = blk(out, fake_relu=fake_relu and last)
        out = F.adaptive_avg_pool2d(out, self.pool)
        return torch.flatten(out, 1)


ARCHITECTURES: dict[str, Callable[..., ResNet]] = {}


def register(name: str) -> Callable[[Callable[..., ResNet]], Callable[..., ResNet]]:
    def deco(fn: Callable[..., ResNet]) -> Callable[..., ResNet]:
        ARCHITECTURES[name] = fn
        return fn

    return deco


@register("resnet18_cifar")
def resnet18_cifar(in_channels: int = 3) -> ResNet:
    return ResNet("basic", (2, 2, 2, 2), 64, in_channels, "cifar")


@register("resnet50_cifar")
def resnet50_cifar(in_channels: int = 3) -> ResNet:
    return ResNet("bottleneck", (3, 4, 6, 3), 64, in_channels, "cifar")


@register("resnet50")
def resnet50(in_channels: int = 3) -> ResNet:
    return ResNet("bottleneck", (3, 4, 6, 3), 64, in_channels, "imagenet")


@register("resnet")
def resnet(block: str = "basic", layers: tuple[int, ...] = (2, 2, 2, 2), width: int = 64, in_channels: int = 3,
           stem: str = "cifar", pool: int = 1) -> ResNet:
    """Any ResNet of this family by its structure (what :mod:`rrhelpers.networks.convert` infers from foreign
    weights)."""
    return ResNet(block, tuple(layers), width, in_channels, stem, pool)


@register("quick_resnet")
def quick_resnet(in_channels: int = 1, width: int = 32, layers: tuple[int, ...] = (1, 1, 1), pool: int = 2) -> ResNet:
    """The quick profile's net: one basic block per stage, pooled to a 2x2 grid (512-d R(x) at width 32)."""
    return ResNet("basic", tuple(layers), width, in_channels, "cifar", pool)


def build_backbone(arch: str, **kwargs: Any) -> nn.Module:
    """Build a registered backbone by name (timm-style registry), or a wrapped ``torchvision:<name>`` /
    ``timm:<name>`` classifier (see :mod:`rrhelpers.networks.foreign`)."""
    if arch.startswith(FOREIGN_PREFIXES):
        return build_foreign_backbone(arch, **kwargs)
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; registered: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](**kwargs)
