"""Squeeze-and-Excitation networks (Hu et al., 2018): SEBlock and SE-ResNet-50.

Shape legend: N batch, C channels, H, W height and width, R = C // reduction.

An SE block rescales each channel of a feature map by a gate learnt from the whole map:
squeeze z = mean over H, W of x (N, C); excitation s = sigmoid(W2 relu(W1 z + b1) + b2)
(N, C), with W1 (R, C) and W2 (C, R); output x * s broadcast over H, W. SE-ResNet puts one
in every Bottleneck, on the residual branch just before the addition with the shortcut.

SE-ResNet-50 here is torchvision's ResNet-50 (v1.5: stride on the 3x3 conv) plus an SE
block with biased fully connected layers (``se.fc1``, ``se.fc2``) per Bottleneck, so it has
25,557,032 + 2,530,992 = 28,088,024 parameters for 1000 classes: the figure of the
timm/Cadene implementations (their FCs are 1x1 convs with bias, same count) and the
paper's "~28.1M".
"""

from __future__ import annotations

from .. import functional as F
from .. import nn
from ..tensor import Tensor
from .registry import register_model
from .resnet import Bottleneck, ResNet, _positive_int, _resolve_stem

__all__ = ["SEBlock", "SEBottleneck", "se_resnet50"]


class SEBlock(nn.Module):
    """Squeeze-and-Excitation: x * sigmoid(fc2(relu(fc1(mean_hw(x))))), per channel.

    Args:
        channels: C.
        reduction: r; the hidden layer has max(1, C // r) units.

    Shape:
        (N, C, H, W) -> (N, C, H, W)

    Example:
        >>> SEBlock(64, reduction=16)(juanji.randn(2, 64, 5, 7)).shape
        (2, 64, 5, 7)
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.channels = _positive_int("SEBlock", "channels", channels)
        self.reduction = _positive_int("SEBlock", "reduction", reduction)
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"SEBlock: input must be a juanji.Tensor, got {type(x).__name__}")
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"SEBlock: expected input of shape (N, {self.channels}, H, W), got {x.shape}")
        z = F.global_avg_pool2d(x)  # (N, C): squeeze
        s = F.sigmoid(self.fc2(F.relu(self.fc1(z))))  # (N, C): excitation, gates in (0, 1)
        return x * s.reshape(x.shape[0], self.channels, 1, 1)  # (N, C, H, W)

    def extra_repr(self) -> str:
        return f"{self.channels}, reduction={self.reduction}"


class SEBottleneck(Bottleneck):
    """torchvision's Bottleneck with an SEBlock (``se``) on the residual branch before the addition.

    Arguments and shapes as ``Bottleneck``. Example:
        >>> SEBottleneck(256, 64)(juanji.randn(2, 256, 8, 8)).shape
        (2, 256, 8, 8)
    """

    reduction = 16

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64) -> None:
        super().__init__(inplanes, planes, stride, downsample, groups, base_width)
        self.se = SEBlock(planes * self.expansion, self.reduction)

    def residual(self, x: Tensor) -> Tensor:
        return self.se(super().residual(x))


@register_model
def se_resnet50(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
                stem: str | None = None, zero_init_residual: bool = False) -> ResNet:
    """SE-ResNet-50: ResNet-50 with an SE block (r = 16) in every Bottleneck; 28,088,024 parameters.

    Arguments as ``juanji.models.resnet50``; the module names are ResNet-50's plus
    ``layerK.B.se.fc1`` / ``se.fc2``. The SE Linear layers keep PyTorch's default init.

    Example:
        >>> se_resnet50(num_classes=10)(juanji.randn(2, 3, 32, 32)).shape
        (2, 10)
    """
    _positive_int("se_resnet50", "num_classes", num_classes)
    _positive_int("se_resnet50", "in_channels", in_channels)
    return ResNet(SEBottleneck, [3, 4, 6, 3], num_classes=num_classes, zero_init_residual=zero_init_residual,
                  in_channels=in_channels, stem=_resolve_stem("se_resnet50", small_input, stem))
