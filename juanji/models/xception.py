"""Xception (Chollet, 2017): depthwise separable convolutions with residual connections.

Shape legend: N batch, C channels, H, W height and width.

The network follows ``keras.applications.Xception`` layer for layer: an entry flow (two
plain 3x3 convs, then blocks 2-4, each two separable convs, a 3x3/2 "same" max pool and
a 1x1/2 conv + BN projection on the shortcut), a middle flow (blocks 5-12, each three
relu-separable-conv-BN units and an identity shortcut), an exit flow (block 13 as the
entry blocks, then 1536- and 2048-channel separable convs), global average pooling and a
Dense layer. As in Keras, separable convs have no bias (a BatchNorm follows each),
BatchNorm uses eps 0.001, and names follow Keras's (``block1_conv1``, ``block2.sepconv1``,
``block2.sepconv1_bn``, ``predictions``; the unnamed shortcut convs are ``blockK.residual``).

Parameters (1000 classes): 22,855,952 trainable + 54,528 BatchNorm moving statistics =
22,910,480, Keras's "Total params".
"""

from __future__ import annotations

from typing import Sequence

from .. import functional as F
from .. import nn
from ..nn import init
from ..tensor import Tensor
from .registry import register_model
from .resnet import _check_image, _positive_int

__all__ = ["SeparableConv2d", "XceptionBlock", "Xception", "xception"]

_KERAS_BN_EPS = 1e-3  # Keras BatchNormalization's default epsilon


class SeparableConv2d(nn.Module):
    """Depthwise KxK conv (groups = in_channels) followed by a pointwise 1x1 conv.

    Keras's SeparableConv2D with depth_multiplier 1: ``depthwise.weight`` is (C, 1, K, K)
    and ``pointwise.weight`` (O, C, 1, 1), so it costs C*K*K + C*O parameters (+ O for the
    bias) instead of the C*O*K*K of a full conv.

    Args:
        in_channels: C.
        out_channels: O.
        kernel_size: K (int or pair).
        stride, padding, dilation: of the depthwise conv (padding may be "same").
        bias: add a bias after the pointwise conv (Keras's use_bias; False before a BatchNorm).

    Shape:
        (N, C, H, W) -> (N, O, OH, OW), OH and OW as for a conv with this kernel and stride.

    Example:
        >>> SeparableConv2d(32, 64, 3, padding=1)(juanji.randn(2, 32, 9, 9)).shape
        (2, 64, 9, 9)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int] = 3,
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 1,
                 dilation: int | Sequence[int] = 1, bias: bool = False) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, stride=stride, padding=padding,
                                   dilation=dilation, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """A residual block of separable convs: [relu] sepconv-BN (relu sepconv-BN)* [pool] + shortcut.

    Units are named as Keras's layers: ``sepconv1``, ``sepconv1_bn``, ``sepconv2`` ...; a
    downsampling block ends with a 3x3/2 "same" max pool and projects its shortcut with a
    1x1/2 conv (``residual``) and BN (``residual_bn``); otherwise the shortcut is the identity.

    Args:
        in_channels: input channels C.
        channels: output channels of each separable conv, e.g. (728, 728, 728).
        start_with_relu: apply relu before the first separable conv (False only for block 2,
            whose input was just through a relu).
        downsample: end with the stride-2 max pool and project the shortcut.

    Shape:
        (N, C, H, W) -> (N, channels[-1], ceil(H / s), ceil(W / s)), s = 2 if downsample else 1.

    Example:
        >>> XceptionBlock(64, (128, 128), start_with_relu=False, downsample=True)(
        ...     juanji.randn(2, 64, 9, 9)).shape
        (2, 128, 5, 5)
    """

    def __init__(self, in_channels: int, channels: Sequence[int], start_with_relu: bool = True,
                 downsample: bool = False) -> None:
        super().__init__()
        if not downsample and channels[-1] != in_channels:
            raise ValueError(f"XceptionBlock: an identity shortcut needs channels[-1] == in_channels, "
                             f"got in_channels={in_channels}, channels={tuple(channels)}")
        self.start_with_relu = start_with_relu
        self.downsample = downsample
        self.num_units = len(channels)
        c = in_channels
        for i, out in enumerate(channels, start=1):
            self.add_module(f"sepconv{i}", SeparableConv2d(c, out, 3, padding=1))
            self.add_module(f"sepconv{i}_bn", nn.BatchNorm2d(out, eps=_KERAS_BN_EPS))
            c = out
        if downsample:
            # A 1x1 kernel with stride 2 needs no padding under TensorFlow's "same" rule.
            self.residual = nn.Conv2d(in_channels, c, 1, stride=2, bias=False)
            self.residual_bn = nn.BatchNorm2d(c, eps=_KERAS_BN_EPS)
            self.pool = nn.MaxPool2d(3, stride=2, padding="same")

    def forward(self, x: Tensor) -> Tensor:
        shortcut = self.residual_bn(self.residual(x)) if self.downsample else x
        out = x
        for i in range(1, self.num_units + 1):
            if i > 1 or self.start_with_relu:
                out = F.relu(out)
            out = self._modules[f"sepconv{i}_bn"](self._modules[f"sepconv{i}"](out))
        if self.downsample:
            out = self.pool(out)  # (N, C', ceil(H/2), ceil(W/2))
        return out + shortcut


class Xception(nn.Module):
    """Xception as ``keras.applications.Xception`` (include_top=True, logits instead of softmax).

    Args:
        num_classes: output size.
        in_channels: input channels.

    Shape:
        (N, in_channels, H, W) -> (N, num_classes); H, W >= 71 (Keras's minimum; 299 is
        the paper's size).

    Example:
        >>> Xception(num_classes=10).eval()(juanji.randn(1, 3, 71, 71)).shape
        (1, 10)
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3) -> None:
        super().__init__()
        self.num_classes = _positive_int("Xception", "num_classes", num_classes)
        self.in_channels = _positive_int("Xception", "in_channels", in_channels)
        # Entry flow: two "valid" 3x3 convs (no bias: BN follows).
        self.block1_conv1 = nn.Conv2d(in_channels, 32, 3, stride=2, bias=False)
        self.block1_conv1_bn = nn.BatchNorm2d(32, eps=_KERAS_BN_EPS)
        self.block1_conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.block1_conv2_bn = nn.BatchNorm2d(64, eps=_KERAS_BN_EPS)
        self.block2 = XceptionBlock(64, (128, 128), start_with_relu=False, downsample=True)
        self.block3 = XceptionBlock(128, (256, 256), downsample=True)
        self.block4 = XceptionBlock(256, (728, 728), downsample=True)
        # Middle flow: eight identical residual blocks at 728 channels.
        for k in range(5, 13):
            self.add_module(f"block{k}", XceptionBlock(728, (728, 728, 728)))
        # Exit flow.
        self.block13 = XceptionBlock(728, (728, 1024), downsample=True)
        self.block14_sepconv1 = SeparableConv2d(1024, 1536, 3, padding=1)
        self.block14_sepconv1_bn = nn.BatchNorm2d(1536, eps=_KERAS_BN_EPS)
        self.block14_sepconv2 = SeparableConv2d(1536, 2048, 3, padding=1)
        self.block14_sepconv2_bn = nn.BatchNorm2d(2048, eps=_KERAS_BN_EPS)
        self.avg_pool = nn.GlobalAvgPool2d()
        self.predictions = nn.Linear(2048, num_classes)
        # Keras's defaults: glorot_uniform kernels (fans computed PyTorch's way), zero biases.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        _check_image("Xception", x, self.in_channels)
        if min(x.shape[2:]) < 71:
            raise ValueError(f"Xception: input must be at least 71x71, got shape {x.shape}")
        x = F.relu(self.block1_conv1_bn(self.block1_conv1(x)))  # (N, 32, (H-3)//2+1, ...) = 149 at 299
        x = F.relu(self.block1_conv2_bn(self.block1_conv2(x)))  # (N, 64, 147, 147)
        x = self.block4(self.block3(self.block2(x)))  # (N, 728, 19, 19)
        for k in range(5, 13):
            x = self._modules[f"block{k}"](x)  # (N, 728, 19, 19)
        x = self.block13(x)  # (N, 1024, 10, 10)
        x = F.relu(self.block14_sepconv1_bn(self.block14_sepconv1(x)))  # (N, 1536, 10, 10)
        x = F.relu(self.block14_sepconv2_bn(self.block14_sepconv2(x)))  # (N, 2048, 10, 10)
        return self.predictions(self.avg_pool(x))  # (N, num_classes)


@register_model
def xception(num_classes: int = 1000, in_channels: int = 3) -> Xception:
    """Xception (Keras's definition); 22,855,952 trainable parameters with 1000 classes.

    Example:
        >>> xception(num_classes=10).eval()(juanji.randn(1, 3, 71, 71)).shape
        (1, 10)
    """
    return Xception(num_classes=num_classes, in_channels=in_channels)
