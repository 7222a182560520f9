"""ResNet (He et al., 2015), as torchvision builds it, and Keras's ResNet50.

Shape legend: N batch, C channels, H, W height and width.

``resnet18/34`` stack BasicBlocks (two 3x3 convs), ``resnet50/101/152`` Bottlenecks
(1x1 reduce, 3x3, 1x1 expand x4). Everything follows ``torchvision.models.resnet``:
module names (``conv1, bn1, relu, maxpool, layer1.0.conv1, ..., layer2.0.downsample.0/1,
avgpool, fc``), parameter shapes, the stride on the Bottleneck's 3x3 conv ("ResNet v1.5")
and the initialisation (Kaiming normal, fan_out, for convs; BatchNorm weight 1 and bias 0;
``zero_init_residual`` zeroes the last BN of each block so every block starts as the
identity). A torchvision ``state_dict`` therefore loads by name with no transposes.

``resnet50_keras`` is the Keras application instead: convs with biases, BatchNorm
eps = 1.001e-5, the stride on the *first* 1x1 conv of a block ("v1") and Keras's layer
names (``conv1_conv``, ``conv2_block1_0_conv`` ...).

Parameter counts (num_classes = 1000): resnet18 11,689,512; resnet34 21,797,672;
resnet50 25,557,032; resnet101 44,549,160; resnet152 60,192,808.
"""

from __future__ import annotations

from typing import Type

import numpy as np

from .. import functional as F
from .. import nn
from ..nn import init
from ..tensor import Tensor
from .registry import register_model

__all__ = [
    "BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50", "resnet101",
    "resnet152", "KerasBottleneck", "ResNet50Keras", "resnet50_keras",
]


def _positive_int(owner: str, name: str, value: object) -> int:
    """``value`` as an int, or a ValueError naming ``owner`` and the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


def _check_image(owner: str, x: Tensor, in_channels: int) -> None:
    """A clear error for anything but an (N, in_channels, H, W) Tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{owner}: input must be a juanji.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(f"{owner}: expected input of shape (N, {in_channels}, H, W), got {x.shape}")


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


def init_conv_bn(model: nn.Module) -> None:
    """torchvision's ResNet initialisation (He et al. 2015): every conv Kaiming normal with
    std = sqrt(2 / fan_out), every BatchNorm weight 1 and bias 0; a Linear keeps its default
    U(-1/sqrt(in), 1/sqrt(in))."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            init.ones_(m.weight)
            init.zeros_(m.bias)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers and a shortcut: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    Args:
        inplanes: input channels C.
        planes: output channels (``expansion`` = 1).
        stride: stride of ``conv1`` (2 halves H and W).
        downsample: the shortcut's projection (1x1 conv + BN) when shape changes, else None.

    Shape:
        (N, inplanes, H, W) -> (N, planes, ceil(H / stride), ceil(W / stride))

    Example:
        >>> BasicBlock(64, 64)(juanji.randn(2, 64, 8, 8)).shape
        (2, 64, 8, 8)
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock: only groups=1 and base_width=64 are supported, "
                             f"got groups={groups}, base_width={base_width}")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def residual(self, x: Tensor) -> Tensor:
        """The residual branch F(x), before the addition."""
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.residual(x) + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride, "ResNet v1.5"), 1x1 expand, plus a shortcut.

    width = planes * base_width / 64 * groups; output channels = planes * 4.

    Args:
        inplanes: input channels C.
        planes: bottleneck width before the x4 expansion.
        stride: stride of the 3x3 conv ``conv2`` (torchvision's choice; the original
            paper and Keras put it on the first 1x1 conv instead).
        downsample: the shortcut's projection (1x1 conv + BN) when shape changes, else None.
        groups, base_width: ResNeXt / wide-ResNet widths (1 and 64 give ResNet).

    Shape:
        (N, inplanes, H, W) -> (N, 4 * planes, ceil(H / stride), ceil(W / stride))

    Example:
        >>> Bottleneck(256, 64)(juanji.randn(2, 256, 8, 8)).shape
        (2, 256, 8, 8)
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def residual(self, x: Tensor) -> Tensor:
        """The residual branch F(x), before the addition (SE-ResNet rescales it)."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.residual(x) + identity)


_STEMS = ("imagenet", "cifar")


class ResNet(nn.Module):
    """torchvision's ResNet: stem, four stages of residual blocks, global average pool, fc.

    Args:
        block: ``BasicBlock`` or ``Bottleneck`` (or a subclass, e.g. SE-ResNet's).
        layers: blocks per stage, e.g. [3, 4, 6, 3] for ResNet-50.
        num_classes: size of the output.
        zero_init_residual: zero the last BN weight of every block (Goyal et al. 2017).
        groups, width_per_group: ResNeXt / wide-ResNet widths (1 and 64 give ResNet).
        in_channels: input channels (3 for RGB).
        stem: "imagenet" (7x7/2 conv then 3x3/2 max pool) or "cifar" (3x3/1 conv and no
            pool, for 32x32 images; ``maxpool`` becomes an Identity).

    Shape:
        (N, in_channels, H, W) -> (N, num_classes); H and W are divided by 32 before the
        pool ("imagenet" stem; by 8 with the "cifar" stem), any size >= 1 after that works.

    Example:
        >>> ResNet(BasicBlock, [2, 2, 2, 2], num_classes=10)(juanji.randn(2, 3, 32, 32)).shape
        (2, 10)
    """

    def __init__(self, block: Type[BasicBlock] | Type[Bottleneck], layers: list[int],
                 num_classes: int = 1000, zero_init_residual: bool = False, groups: int = 1,
                 width_per_group: int = 64, in_channels: int = 3, stem: str = "imagenet") -> None:
        super().__init__()
        self.num_classes = _positive_int("ResNet", "num_classes", num_classes)
        self.in_channels = _positive_int("ResNet", "in_channels", in_channels)
        if len(layers) != 4:
            raise ValueError(f"ResNet: layers must list 4 stage depths, got {list(layers)!r}")
        for depth in layers:
            _positive_int("ResNet", "every entry of layers", depth)
        if stem not in _STEMS:
            raise ValueError(f"ResNet: stem must be one of {_STEMS}, got {stem!r}")
        self.stem = stem
        self.groups = groups
        self.base_width = width_per_group
        self.inplanes = 64
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if stem == "imagenet" else nn.Identity()
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self._init_weights(zero_init_residual)

    def _make_layer(self, block: Type[BasicBlock] | Type[Bottleneck], planes: int, blocks: int,
                    stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            # Projection shortcut (He et al.'s option B): 1x1 conv + BN to the new shape.
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        stage = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            stage.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width))
        return nn.Sequential(*stage)

    def _init_weights(self, zero_init_residual: bool) -> None:
        init_conv_bn(self)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    init.zeros_(m.bn2.weight)

    def forward_features(self, x: Tensor) -> Tensor:
        """The last stage's feature map, (N, C, H, W) -> (N, 512 * expansion, H/32, W/32)."""
        _check_image("ResNet", x, self.in_channels)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        x = self.layer1(x)
        x = self.layer2(x)  # (N, 128 * e, H/8, W/8)
        x = self.layer3(x)  # (N, 256 * e, H/16, W/16)
        return self.layer4(x)  # (N, 512 * e, H/32, W/32)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.forward_features(x))  # (N, 512 * e, 1, 1)
        return self.fc(F.flatten(x, 1))  # (N, num_classes)


def _resolve_stem(builder: str, small_input: bool, stem: str | None) -> str:
    if stem is None:
        return "cifar" if small_input else "imagenet"
    if small_input and stem != "cifar":
        raise ValueError(f"{builder}: small_input=True asks for the 'cifar' stem but stem={stem!r}")
    return stem


def _resnet(name: str, block: Type[BasicBlock] | Type[Bottleneck], layers: list[int], num_classes: int,
            in_channels: int, small_input: bool, stem: str | None, zero_init_residual: bool) -> ResNet:
    _positive_int(name, "num_classes", num_classes)
    _positive_int(name, "in_channels", in_channels)
    return ResNet(block, layers, num_classes=num_classes, zero_init_residual=zero_init_residual,
                  in_channels=in_channels, stem=_resolve_stem(name, small_input, stem))


@register_model
def resnet18(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
             stem: str | None = None, zero_init_residual: bool = False) -> ResNet:
    """ResNet-18: BasicBlocks [2, 2, 2, 2]; 11,689,512 parameters with 1000 classes.

    Args:
        num_classes: output size.
        in_channels: input channels.
        small_input: use the 3x3 stride-1 "cifar" stem without max pool (for 32x32 images).
        stem: "imagenet" or "cifar" (an alternative spelling of ``small_input``).
        zero_init_residual: start each block as the identity (last BN weight 0).

    Example:
        >>> resnet18(num_classes=10, small_input=True)(juanji.randn(2, 3, 32, 32)).shape
        (2, 10)
    """
    return _resnet("resnet18", BasicBlock, [2, 2, 2, 2], num_classes, in_channels, small_input, stem,
                   zero_init_residual)


@register_model
def resnet34(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
             stem: str | None = None, zero_init_residual: bool = False) -> ResNet:
    """ResNet-34: BasicBlocks [3, 4, 6, 3]; 21,797,672 parameters. Arguments as ``resnet18``."""
    return _resnet("resnet34", BasicBlock, [3, 4, 6, 3], num_classes, in_channels, small_input, stem,
                   zero_init_residual)


@register_model
def resnet50(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
             stem: str | None = None, zero_init_residual: bool = False) -> ResNet:
    """ResNet-50 (v1.5): Bottlenecks [3, 4, 6, 3]; 25,557,032 parameters. Arguments as ``resnet18``.

    Example:
        >>> resnet50(num_classes=10)(juanji.randn(2, 3, 32, 32)).shape
        (2, 10)
    """
    return _resnet("resnet50", Bottleneck, [3, 4, 6, 3], num_classes, in_channels, small_input, stem,
                   zero_init_residual)


@register_model
def resnet101(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
              stem: str | None = None, zero_init_residual: bool = False) -> ResNet:
    """ResNet-101: Bottlenecks [3, 4, 23, 3]; 44,549,160 parameters. Arguments as ``resnet18``."""
    return _resnet("resnet101", Bottleneck, [3, 4, 23, 3], num_classes, in_channels, small_input, stem,
                   zero_init_residual)


@register_model
def resnet152(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
              stem: str | None = None, zero_init_residual: bool = False) -> ResNet:
    """ResNet-152: Bottlenecks [3, 8, 36, 3]; 60,192,808 parameters. Arguments as ``resnet18``."""
    return _resnet("resnet152", Bottleneck, [3, 8, 36, 3], num_classes, in_channels, small_input, stem,
                   zero_init_residual)


# --- Keras's ResNet50 ---------------------------------------------------------------------------

_KERAS_BN_EPS = 1.001e-5


class KerasBottleneck(nn.Module):
    """Keras's ``residual_block_v1``: the stride sits on the first 1x1 conv, convs have biases.

    Children carry Keras's layer-name suffixes, so the block named ``conv3_block1`` holds
    ``1_conv``, ``1_bn``, ``2_conv``, ``2_bn``, ``3_conv``, ``3_bn`` and, for the first block
    of a stage, the projection shortcut ``0_conv``, ``0_bn``: the Keras layer of the
    state_dict key ``conv3_block1.1_conv.weight`` is ``conv3_block1_1_conv``.

    Args:
        in_channels: input channels C.
        filters: bottleneck width; the block outputs 4 * filters channels.
        stride: stride of the first 1x1 conv and of the shortcut's projection.
        conv_shortcut: project the shortcut with a 1x1 conv + BN (first block of a stage).

    Shape:
        (N, C, H, W) -> (N, 4 * filters, ceil(H / stride), ceil(W / stride))

    Example:
        >>> KerasBottleneck(64, 64, conv_shortcut=True)(juanji.randn(2, 64, 8, 8)).shape
        (2, 256, 8, 8)
    """

    def __init__(self, in_channels: int, filters: int, stride: int = 1, conv_shortcut: bool = False) -> None:
        super().__init__()
        out = 4 * filters
        if not conv_shortcut and (stride != 1 or in_channels != out):
            raise ValueError(f"KerasBottleneck: an identity shortcut needs stride 1 and in_channels == "
                             f"4 * filters, got stride={stride}, in_channels={in_channels}, filters={filters}")
        self.conv_shortcut = conv_shortcut
        if conv_shortcut:
            self.add_module("0_conv", nn.Conv2d(in_channels, out, 1, stride=stride))
            self.add_module("0_bn", nn.BatchNorm2d(out, eps=_KERAS_BN_EPS))
        self.add_module("1_conv", nn.Conv2d(in_channels, filters, 1, stride=stride))
        self.add_module("1_bn", nn.BatchNorm2d(filters, eps=_KERAS_BN_EPS))
        self.add_module("2_conv", nn.Conv2d(filters, filters, 3, padding=1))  # Keras: padding="same"
        self.add_module("2_bn", nn.BatchNorm2d(filters, eps=_KERAS_BN_EPS))
        self.add_module("3_conv", nn.Conv2d(filters, out, 1))
        self.add_module("3_bn", nn.BatchNorm2d(out, eps=_KERAS_BN_EPS))

    def forward(self, x: Tensor) -> Tensor:
        layer = self._modules
        shortcut = layer["0_bn"](layer["0_conv"](x)) if self.conv_shortcut else x
        out = F.relu(layer["1_bn"](layer["1_conv"](x)))
        out = F.relu(layer["2_bn"](layer["2_conv"](out)))
        out = layer["3_bn"](layer["3_conv"](out))
        return F.relu(out + shortcut)


class ResNet50Keras(nn.Module):
    """``keras.applications.ResNet50`` (include_top=True, logits instead of softmax).

    conv1_pad (zero pad 3) + conv1_conv 7x7/2, conv1_bn, relu, pool1_pad (pad 1) + pool1_pool
    3x3/2 max pool, stages conv2..conv5 of [3, 4, 6, 3] KerasBottlenecks (stride 1 for conv2,
    2 for the rest, on the first 1x1 conv), global average pool ``avg_pool``, Dense
    ``predictions`` (without Keras's softmax: logits, for ``F.cross_entropy``).

    Args:
        num_classes: output size.
        in_channels: input channels.

    Shape:
        (N, in_channels, H, W) -> (N, num_classes), H, W >= 32 (Keras's minimum).

    Example:
        >>> ResNet50Keras(num_classes=10)(juanji.randn(2, 3, 32, 32)).shape
        (2, 10)
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3) -> None:
        super().__init__()
        self.num_classes = _positive_int("ResNet50Keras", "num_classes", num_classes)
        self.in_channels = _positive_int("ResNet50Keras", "in_channels", in_channels)
        # ZeroPadding2D(3) + a "valid" conv is a conv with padding 3.
        self.conv1_conv = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3)
        self.conv1_bn = nn.BatchNorm2d(64, eps=_KERAS_BN_EPS)
        # Keras zero-pads then max-pools; after the relu every value is >= 0, so zero padding
        # and PyTorch's -inf padding give the same maxima.
        self.pool1_pool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        for stage, (filters, blocks, stride) in enumerate(
                [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=2):
            for i in range(1, blocks + 1):
                block = KerasBottleneck(channels, filters, stride if i == 1 else 1, conv_shortcut=i == 1)
                self.add_module(f"conv{stage}_block{i}", block)
                channels = 4 * filters
        self.avg_pool = nn.GlobalAvgPool2d()
        self.predictions = nn.Linear(2048, num_classes)
        # Keras's defaults: glorot_uniform kernels, zero biases (BN: gamma 1, beta 0).
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init.xavier_uniform_(m.weight)
                init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        _check_image("ResNet50Keras", x, self.in_channels)
        x = self.pool1_pool(F.relu(self.conv1_bn(self.conv1_conv(x))))  # (N, 64, H/4, W/4)
        for name, module in self.named_children():
            if name.startswith("conv") and "_block" in name:
                x = module(x)  # (N, 2048, H/32, W/32) after conv5_block3
        return self.predictions(self.avg_pool(x))  # (N, num_classes)


@register_model
def resnet50_keras(num_classes: int = 1000, in_channels: int = 3) -> ResNet50Keras:
    """Keras's ResNet50 (v1, stride on the first 1x1 conv, biased convs, Keras layer names).

    25,583,592 trainable parameters + 53,120 BatchNorm moving statistics = 25,636,712,
    Keras's "Total params" with the top, for 1000 classes.

    Example:
        >>> resnet50_keras(num_classes=10)(juanji.randn(2, 3, 32, 32)).shape
        (2, 10)
    """
    return ResNet50Keras(num_classes=num_classes, in_channels=in_channels)
