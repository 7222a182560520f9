"""The CIFAR ResNets of He et al. (2016), section 4.2: ``resnet20/32/44/56/110``.

Shape legend: N batch, C channels, H, W height and width.

The paper's network for 32x32 images is small and regular: a 3x3 conv to 16 channels, then
three stages of n BasicBlocks (two 3x3 conv-BN layers and a shortcut each) on feature maps of
16, 32 and 64 channels, each stage after the first halving H and W with a stride of 2 on its
first conv, then a global average pool and a fully connected layer. That is 6n + 2 weighted
layers (1 + 3 stages x n blocks x 2 convs + 1 fc): n = 3, 5, 7, 9, 18 give the paper's
ResNet-20, 32, 44, 56 and 110, of 0.27 M, 0.46 M, 0.66 M, 0.85 M and 1.7 M parameters
(its Table 6) with option A shortcuts and 10 classes.

Where a stage doubles the channels and halves the size, the shortcut cannot be the identity.
The paper offers two answers:

- option A (its CIFAR choice, the default here): still the identity, without parameters:
  take every second pixel (``x[:, :, ::2, ::2]``, the stride-2 subsampling a 1x1 stride-2
  conv would do) and pad the new channels with zeros. The padding is split between the two
  ends of the channel axis (``(out - in) // 2`` before, the rest after), as the widely used
  PyTorch re-implementation of these nets (Yerlan Idelbayev's pytorch_resnet_cifar10, which
  pads ``planes // 4`` on each side) does, so a net trained there computes the same function
  here once its parameters are renamed;
- option B: a projection, a 1x1 conv of stride 2 and a BatchNorm (``downsample.0`` and
  ``downsample.1``, torchvision's names), 2,752 more parameters for any depth.

Everything else is named as torchvision names its ResNets (``conv1, bn1, layer1.0.conv1, ...,
layer3.2.bn2, avgpool, fc``), and the blocks are the zoo's own ``BasicBlock``, so a state_dict
moves between this and a PyTorch module of those names with no renaming.

Initialisation as the paper (its reference [13], He et al. 2015): convolutions Kaiming normal
(std = sqrt(2 / fan), fan_out as torchvision's ResNets; He et al. show that either fan keeps
the signal's scale through a ReLU network), BatchNorm weight 1 and bias 0; the fc keeps
Linear's default U(-1/sqrt(64), 1/sqrt(64)).
"""

from __future__ import annotations

from typing import Sequence

from .. import functional as F
from .. import nn
from ..tensor import Tensor
from .registry import register_model
from .resnet import BasicBlock, _check_image, _positive_int, conv1x1, conv3x3, init_conv_bn

__all__ = ["PadShortcut", "CifarResNet", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]

_SHORTCUTS = ("A", "B")


class PadShortcut(nn.Module):
    """He et al.'s option A shortcut: subsample by ``stride`` and zero-pad the new channels.

    out[:, c] = x[:, c - before, ::stride, ::stride] for before <= c < before + in_channels,
    and 0 for the other channels, with before = (out_channels - in_channels) // 2. It has no
    parameters, so the block stays an identity mapping in the paper's sense.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (>= in_channels).
        stride: subsampling step along H and W.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)),
        the size a 3x3 conv of padding 1 and that stride gives, so it adds to the block's output.

    Example:
        >>> PadShortcut(16, 32, 2)(juanji.randn(2, 16, 7, 7)).shape
        (2, 32, 4, 4)
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2) -> None:
        super().__init__()
        self.in_channels = _positive_int("PadShortcut", "in_channels", in_channels)
        self.out_channels = _positive_int("PadShortcut", "out_channels", out_channels)
        self.stride = _positive_int("PadShortcut", "stride", stride)
        if out_channels < in_channels:
            raise ValueError(f"PadShortcut: out_channels ({out_channels}) must be at least in_channels "
                             f"({in_channels}); zero padding cannot remove channels")

    def forward(self, x: Tensor) -> Tensor:
        s = self.stride
        if s > 1:
            x = x[:, :, ::s, ::s]  # (N, C_in, ceil(H / s), ceil(W / s))
        extra = self.out_channels - self.in_channels
        if extra == 0:
            return x
        before = extra // 2
        # F.pad lists widths from the last axis back: (W, W, H, H, C, C).
        return F.pad(x, (0, 0, 0, 0, before, extra - before))  # (N, C_out, ...)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class CifarResNet(nn.Module):
    """He et al. (2016)'s ResNet for 32x32 images: 6n + 2 layers in three stages (section 4.2).

    conv1 3x3 (in_channels -> w1), bn1, relu; layer1: n BasicBlocks at w1 channels, stride 1;
    layer2: n at w2, the first of stride 2; layer3: n at w3, the first of stride 2; global
    average pool; fc (w3 -> num_classes). (w1, w2, w3) = ``widths`` = (16, 32, 64) in the paper.

    Args:
        depth: 6n + 2 for n >= 1 (20, 32, 44, 56, 110 in the paper).
        num_classes: output size.
        in_channels: input channels (3 for RGB, 1 for grayscale such as Fashion-MNIST).
        shortcut: ``"A"`` (identity, subsampled and zero-padded where the shape changes; the
            paper's CIFAR choice) or ``"B"`` (a 1x1 conv + BN projection there).
        widths: the three stages' channels (the paper's (16, 32, 64); smaller ones make the
            tiny nets the tests check numerically). Each must be at least the one before it.

    Shape:
        (N, in_channels, H, W) -> (N, num_classes). H and W are divided by 4 (rounding up at
        each stride) before the pool, so any size >= 1 works: 32 -> 8, 28 -> 7.

    Example:
        >>> CifarResNet(20, num_classes=10, in_channels=1)(juanji.randn(2, 1, 28, 28)).shape
        (2, 10)
    """

    def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3, shortcut: str = "A",
                 widths: Sequence[int] = (16, 32, 64)) -> None:
        super().__init__()
        depth = _positive_int("CifarResNet", "depth", depth)
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"CifarResNet: depth must be 6n + 2 for some n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), "
                             f"got {depth}")
        self.num_classes = _positive_int("CifarResNet", "num_classes", num_classes)
        self.in_channels = _positive_int("CifarResNet", "in_channels", in_channels)
        if shortcut not in _SHORTCUTS:
            raise ValueError(f"CifarResNet: shortcut must be 'A' (zero-padded identity) or 'B' (1x1 conv projection), "
                             f"got {shortcut!r}")
        widths = tuple(widths)
        if len(widths) != 3:
            raise ValueError(f"CifarResNet: widths must list 3 stage widths, got {widths!r}")
        for w in widths:
            _positive_int("CifarResNet", "every entry of widths", w)
        if not widths[0] <= widths[1] <= widths[2]:
            raise ValueError(f"CifarResNet: widths must not decrease (a shortcut pads channels, never drops them), "
                             f"got {widths}")
        self.depth, self.shortcut, self.widths = depth, shortcut, widths
        n = (depth - 2) // 6
        self.conv1 = conv3x3(in_channels, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.inplanes = widths[0]
        self.layer1 = self._make_layer(widths[0], n, stride=1)
        self.layer2 = self._make_layer(widths[1], n, stride=2)
        self.layer3 = self._make_layer(widths[2], n, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[2], num_classes)
        init_conv_bn(self)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample: nn.Module | None = None
        if stride != 1 or self.inplanes != planes:
            if self.shortcut == "A":
                downsample = PadShortcut(self.inplanes, planes, stride)
            else:
                downsample = nn.Sequential(conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes))
        stage = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        stage += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward_features(self, x: Tensor) -> Tensor:
        """The last stage's feature map: (N, in_channels, H, W) -> (N, w3, ceil(ceil(H/2)/2), ...)."""
        _check_image("CifarResNet", x, self.in_channels)
        x = self.relu(self.bn1(self.conv1(x)))  # (N, w1, H, W)
        x = self.layer1(x)  # (N, w1, H, W)
        x = self.layer2(x)  # (N, w2, H/2, W/2)
        return self.layer3(x)  # (N, w3, H/4, W/4)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.forward_features(x))  # (N, w3, 1, 1)
        return self.fc(F.flatten(x, 1))  # (N, num_classes)


def _cifar_resnet(depth: int, num_classes: int, in_channels: int, shortcut: str) -> CifarResNet:
    return CifarResNet(depth, num_classes=num_classes, in_channels=in_channels, shortcut=shortcut)


@register_model
def resnet20(num_classes: int = 10, in_channels: int = 3, shortcut: str = "A") -> CifarResNet:
    """He et al.'s CIFAR ResNet-20 (n = 3): 269,722 parameters with option A and 10 classes (0.27 M).

    Args:
        num_classes: output size.
        in_channels: input channels (1 for grayscale).
        shortcut: "A" (zero-padded identity, the paper's CIFAR choice) or "B" (1x1 conv projection).

    Example:
        >>> resnet20(in_channels=1)(juanji.randn(2, 1, 28, 28)).shape
        (2, 10)
    """
    return _cifar_resnet(20, num_classes, in_channels, shortcut)


@register_model
def resnet32(num_classes: int = 10, in_channels: int = 3, shortcut: str = "A") -> CifarResNet:
    """CIFAR ResNet-32 (n = 5): 464,154 parameters (0.46 M). Arguments as ``resnet20``."""
    return _cifar_resnet(32, num_classes, in_channels, shortcut)


@register_model
def resnet44(num_classes: int = 10, in_channels: int = 3, shortcut: str = "A") -> CifarResNet:
    """CIFAR ResNet-44 (n = 7): 658,586 parameters (0.66 M). Arguments as ``resnet20``."""
    return _cifar_resnet(44, num_classes, in_channels, shortcut)


@register_model
def resnet56(num_classes: int = 10, in_channels: int = 3, shortcut: str = "A") -> CifarResNet:
    """CIFAR ResNet-56 (n = 9): 853,018 parameters (0.85 M). Arguments as ``resnet20``."""
    return _cifar_resnet(56, num_classes, in_channels, shortcut)


@register_model
def resnet110(num_classes: int = 10, in_channels: int = 3, shortcut: str = "A") -> CifarResNet:
    """CIFAR ResNet-110 (n = 18): 1,727,962 parameters (1.7 M). Arguments as ``resnet20``."""
    return _cifar_resnet(110, num_classes, in_channels, shortcut)
