"""GoogLeNet (Inception v1, Szegedy et al. 2014) and Inception v3 (Szegedy et al. 2015), as torchvision.

Shape legend: N batch, C channels, H, W height and width.

Both follow ``torchvision.models.googlenet`` / ``inception`` module for module: names
(``conv1.conv``, ``inception3a.branch2.1.bn``, ``Mixed_6e.branch7x7dbl_3.conv`` ...),
parameter shapes and initialisation, so a torchvision ``state_dict`` loads by name.
``BasicConv2d`` is conv (no bias) + BatchNorm (eps 0.001) + relu.

In training mode with ``aux_logits`` the models also return the auxiliary classifiers'
logits (``GoogLeNetOutputs`` / ``InceptionOutputs``); in eval mode only the logits.

A known torchvision quirk kept on purpose: GoogLeNet's "5x5" branch (``branch3``) uses a
3x3 conv, where the paper has 5x5 (pytorch/vision issue 906); its pretrained weights were
ported that way. Parameter counts (1000 classes): GoogLeNet 6,624,904 without and
13,004,888 with the aux heads; Inception v3 23,834,568 without and 27,161,264 with.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any, Sequence

import numpy as np

from .. import functional as F
from .. import nn
from ..nn import init
from ..tensor import Tensor
from .registry import register_model
from .resnet import _check_image, _positive_int

__all__ = [
    "BasicConv2d", "Inception", "InceptionAux", "GoogLeNet", "GoogLeNetOutputs", "googlenet",
    "googlenet_loss", "InceptionA", "InceptionB", "InceptionC", "InceptionD", "InceptionE",
    "InceptionV3Aux", "Inception3", "InceptionOutputs", "inception_v3",
]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])
InceptionOutputs = namedtuple("InceptionOutputs", ["logits", "aux_logits"])

# ImageNet mean/std: transform_input maps (x - mean) / std inputs to torchvision's (x - 0.5) / 0.5.
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _transform_input(x: Tensor) -> Tensor:
    """x * std / 0.5 + (mean - 0.5) / 0.5 per channel, as torchvision's transform_input."""
    scale = (_STD / 0.5).reshape(1, 3, 1, 1).astype(x.dtype)
    shift = ((_MEAN - 0.5) / 0.5).reshape(1, 3, 1, 1).astype(x.dtype)
    return x * scale + shift


def _trunc_normal_init(model: nn.Module, default_std: float) -> None:
    """torchvision's init: conv/linear weights ~ N(0, std) truncated to [-2, 2], BN 1 and 0.

    ``std`` is a module's ``stddev`` attribute when it has one (Inception v3's aux head).
    The bounds are absolute, as ``torch.nn.init.trunc_normal_(a=-2, b=2)``; biases keep
    their default init.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            init.trunc_normal_(m.weight, 0.0, float(getattr(m, "stddev", default_std)), -2.0, 2.0)
        elif isinstance(m, nn.BatchNorm2d):
            init.ones_(m.weight)
            init.zeros_(m.bias)


class BasicConv2d(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d(eps=0.001) -> relu; keyword arguments go to the conv.

    Example:
        >>> BasicConv2d(3, 8, kernel_size=3, padding=1)(juanji.randn(2, 3, 9, 9)).shape
        (2, 8, 9, 9)
    """

    def __init__(self, in_channels: int, out_channels: int, **kwargs: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


# --- GoogLeNet ------------------------------------------------------------------------------------

class Inception(nn.Module):
    """The Inception v1 module: four parallel branches concatenated along channels.

    branch1: 1x1 conv; branch2: 1x1 reduce then 3x3; branch3: 1x1 reduce then "5x5"
    (3x3 in torchvision, see the module docstring); branch4: 3x3/1 max pool then 1x1 projection.

    Args:
        in_channels: input channels C.
        ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj: the widths of Table 1 of the paper.

    Shape:
        (N, C, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)

    Example:
        >>> Inception(192, 64, 96, 128, 16, 32, 32)(juanji.randn(2, 192, 7, 7)).shape
        (2, 256, 7, 7)
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                     BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                                     BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_channels, pool_proj, kernel_size=1))

    def forward(self, x: Tensor) -> Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return F.cat(branches, 1)


class InceptionAux(nn.Module):
    """GoogLeNet's auxiliary classifier: 4x4 adaptive avg pool, 1x1 conv 128, fc 1024, dropout 0.7, fc.

    Shape: (N, C, H, W) -> (N, num_classes). Example: ``InceptionAux(512, 10)(juanji.randn(2, 512, 14, 14))``
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4)))  # (N, 128, 4, 4)
        x = F.relu(self.fc1(F.flatten(x, 1)))  # (N, 1024)
        x = F.dropout(x, 0.7, training=self.training)
        return self.fc2(x)  # (N, num_classes)


class GoogLeNet(nn.Module):
    """GoogLeNet / Inception v1 exactly as torchvision's ``GoogLeNet``.

    Args:
        num_classes: output size.
        aux_logits: build the two auxiliary classifiers ``aux1`` (after inception4a) and
            ``aux2`` (after inception4d); they run in training mode only.
        transform_input: map ImageNet-normalised input to the (x - 0.5) / 0.5 scale of the
            ported TensorFlow weights (needs 3 channels).
        init_weights: torchvision's truncated-normal init (std 0.01); False keeps the
            layers' PyTorch default init.
        in_channels: input channels.

    Shape:
        (N, in_channels, H, W) -> (N, num_classes) in eval mode; in training mode with
        aux_logits, ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)``, each (N, num_classes).
        H, W >= 32 (the smallest size every pooling accepts; 224 is the paper's).

    Example:
        >>> GoogLeNet(num_classes=10).eval()(juanji.randn(2, 3, 32, 32)).shape
        (2, 10)
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True, transform_input: bool = False,
                 init_weights: bool = True, in_channels: int = 3) -> None:
        super().__init__()
        self.num_classes = _positive_int("GoogLeNet", "num_classes", num_classes)
        self.in_channels = _positive_int("GoogLeNet", "in_channels", in_channels)
        if transform_input and in_channels != 3:
            raise ValueError(f"GoogLeNet: transform_input needs in_channels=3, got {in_channels}")
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        self.aux1 = InceptionAux(512, num_classes) if aux_logits else None
        self.aux2 = InceptionAux(528, num_classes) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, num_classes)
        if init_weights:
            _trunc_normal_init(self, 0.01)

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        _check_image("GoogLeNet", x, self.in_channels)
        if self.transform_input:
            x = _transform_input(x)
        x = self.maxpool1(self.conv1(x))  # (N, 64, H/4, W/4)
        x = self.maxpool2(self.conv3(self.conv2(x)))  # (N, 192, H/8, W/8)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))  # (N, 480, H/16, W/16)
        x = self.inception4a(x)  # (N, 512, H/16, W/16)
        with_aux = self.training and self.aux1 is not None and self.aux2 is not None
        aux1 = self.aux1(x) if with_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # (N, 528, H/16, W/16)
        aux2 = self.aux2(x) if with_aux else None
        x = self.maxpool4(self.inception4e(x))  # (N, 832, H/32, W/32)
        x = self.inception5b(self.inception5a(x))  # (N, 1024, H/32, W/32)
        x = F.flatten(self.avgpool(x), 1)  # (N, 1024)
        logits = self.fc(self.dropout(x))  # (N, num_classes)
        if with_aux:
            return GoogLeNetOutputs(logits, aux2, aux1)
        return logits


@register_model
def googlenet(num_classes: int = 1000, aux_logits: bool = True, transform_input: bool = False,
              init_weights: bool = True, in_channels: int = 3) -> GoogLeNet:
    """GoogLeNet (Inception v1); arguments as ``GoogLeNet``.

    Example:
        >>> out = googlenet(num_classes=10)(juanji.randn(2, 3, 64, 64))  # training: GoogLeNetOutputs
        >>> loss = googlenet_loss(out, np.array([1, 2]))  # main + 0.3 * (aux1 + aux2)
    """
    return GoogLeNet(num_classes=num_classes, aux_logits=aux_logits, transform_input=transform_input,
                     init_weights=init_weights, in_channels=in_channels)


def googlenet_loss(outputs: Tensor | GoogLeNetOutputs | InceptionOutputs, target: Any,
                   aux_weight: float = 0.3) -> Tensor:
    """Cross-entropy of the logits plus ``aux_weight`` times that of each auxiliary head.

    The paper weights each auxiliary loss by 0.3 during training; at inference (a plain
    logits Tensor) this is just the cross-entropy. Also accepts ``InceptionOutputs``.

    Args:
        outputs: a model's output: logits (N, K), GoogLeNetOutputs or InceptionOutputs.
        target: class indices (N,).
        aux_weight: weight of each auxiliary loss.

    Example:
        >>> googlenet_loss(juanji.randn(2, 5), np.array([0, 4])).shape
        ()
    """
    if isinstance(outputs, Tensor):
        return F.cross_entropy(outputs, target)
    if not isinstance(outputs, (GoogLeNetOutputs, InceptionOutputs)):
        raise TypeError("googlenet_loss: outputs must be a Tensor, GoogLeNetOutputs or InceptionOutputs, "
                        f"got {type(outputs).__name__}")
    loss = F.cross_entropy(outputs[0], target)
    for aux in outputs[1:]:
        if aux is not None:
            loss = loss + aux_weight * F.cross_entropy(aux, target)
    return loss


# --- Inception v3 ---------------------------------------------------------------------------------

class _Branches(nn.Module):
    """Shared forward: every subclass lists its branches as sequences of child names."""

    _branches: Sequence[Sequence[str]] = ()

    def _branch(self, x: Tensor, names: Sequence[str]) -> Tensor:
        for name in names:
            if name == "avg":  # the pooling branch of the stride-1 modules
                x = F.avg_pool2d(x, 3, stride=1, padding=1)
            elif name == "max":  # the pooling branch of the grid reductions
                x = F.max_pool2d(x, 3, stride=2)
            else:
                x = self._modules[name](x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        return F.cat([self._branch(x, names) for names in self._branches], 1)


class InceptionA(_Branches):
    """35x35 module: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1.

    (N, C, H, W) -> (N, 224 + pool_features, H, W). Example: ``InceptionA(192, 32)``.
    """

    _branches = (("branch1x1",), ("branch5x5_1", "branch5x5_2"),
                 ("branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"), ("avg", "branch_pool"))

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)


class InceptionB(_Branches):
    """Grid reduction 35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2.

    (N, C, H, W) -> (N, C + 480, (H-3)//2 + 1, (W-3)//2 + 1). Example: ``InceptionB(288)``.
    """

    _branches = (("branch3x3",), ("branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"), ("max",))

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)


class InceptionC(_Branches):
    """17x17 module with factorised 7x7 convs (1x7 then 7x1).

    (N, C, H, W) -> (N, 768, H, W). Example: ``InceptionC(768, channels_7x7=128)``.
    """

    _branches = (("branch1x1",), ("branch7x7_1", "branch7x7_2", "branch7x7_3"),
                 ("branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4",
                  "branch7x7dbl_5"), ("avg", "branch_pool"))

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        row, col = {"kernel_size": (1, 7), "padding": (0, 3)}, {"kernel_size": (7, 1), "padding": (3, 0)}
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, **row)
        self.branch7x7_3 = BasicConv2d(c7, 192, **col)
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, **row)
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, **row)
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)


class InceptionD(_Branches):
    """Grid reduction 17 -> 8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2.

    (N, C, H, W) -> (N, C + 512, (H-3)//2 + 1, (W-3)//2 + 1). Example: ``InceptionD(768)``.
    """

    _branches = (("branch3x3_1", "branch3x3_2"),
                 ("branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"), ("max",))

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)


class InceptionE(nn.Module):
    """8x8 module with expanded filter banks: 1x3 and 3x1 side by side.

    (N, C, H, W) -> (N, 2048, H, W). Example: ``InceptionE(1280)``.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_1(x)  # (N, 384, H, W)
        b3 = F.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)  # (N, 768, H, W)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))  # (N, 384, H, W)
        bd = F.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)  # (N, 768, H, W)
        pool = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1))  # (N, 192, H, W)
        return F.cat([self.branch1x1(x), b3, bd, pool], 1)  # (N, 2048, H, W)


class InceptionV3Aux(nn.Module):
    """Inception v3's auxiliary head (torchvision's ``inception.InceptionAux``).

    5x5/3 avg pool, 1x1 conv 128, 5x5 conv 768, global avg pool, fc. Needs H, W >= 17 (the
    17x17 grid of a 299x299 image). torchvision initialises ``fc`` with std 0.001; it also sets
    ``conv1.stddev = 0.01`` on the BasicConv2d, which its init loop (over Conv2d and Linear)
    never reads, so ``conv1.conv`` gets the default 0.1: we do the same.

    Shape: (N, C, H, W) -> (N, num_classes). Example: ``InceptionV3Aux(768, 10)``.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv0 = BasicConv2d(in_channels, 128, kernel_size=1)
        self.conv1 = BasicConv2d(128, 768, kernel_size=5)
        self.fc = nn.Linear(768, num_classes)
        self.fc.stddev = 0.001

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 4 and min(x.shape[2:]) < 17:
            raise ValueError(f"InceptionV3Aux: needs a feature map of at least 17x17 (Inception v3 input "
                             f">= 287x287), got input of shape {x.shape}")
        x = self.conv1(self.conv0(F.avg_pool2d(x, 5, stride=3)))  # (N, 768, H', W')
        x = F.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)  # (N, 768)
        return self.fc(x)  # (N, num_classes)


class Inception3(nn.Module):
    """Inception v3 exactly as torchvision's ``Inception3``.

    Args:
        num_classes: output size.
        aux_logits: build ``AuxLogits`` (after Mixed_6e; runs in training mode only).
        transform_input: as ``GoogLeNet`` (needs 3 channels).
        init_weights: torchvision's truncated-normal init (std 0.1; 0.001 for the aux fc).
        dropout: drop probability before ``fc``.
        in_channels: input channels.

    Shape:
        (N, in_channels, H, W) -> (N, num_classes) in eval mode; in training mode with
        aux_logits, ``InceptionOutputs(logits, aux_logits)``. H, W >= 75 (299 is the
        paper's); the aux head needs H, W >= 287.

    Example:
        >>> Inception3(num_classes=10, aux_logits=False).eval()(juanji.randn(1, 3, 75, 75)).shape
        (1, 10)
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True, transform_input: bool = False,
                 init_weights: bool = True, dropout: float = 0.5, in_channels: int = 3) -> None:
        super().__init__()
        self.num_classes = _positive_int("Inception3", "num_classes", num_classes)
        self.in_channels = _positive_int("Inception3", "in_channels", in_channels)
        if transform_input and in_channels != 3:
            raise ValueError(f"Inception3: transform_input needs in_channels=3, got {in_channels}")
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.Conv2d_1a_3x3 = BasicConv2d(in_channels, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(3, stride=2)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.AuxLogits = InceptionV3Aux(768, num_classes) if aux_logits else None
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(2048, num_classes)
        if init_weights:
            _trunc_normal_init(self, 0.1)

    def forward(self, x: Tensor) -> Tensor | InceptionOutputs:
        _check_image("Inception3", x, self.in_channels)
        if min(x.shape[2:]) < 75:
            raise ValueError(f"Inception3: input must be at least 75x75, got shape {x.shape}")
        if self.transform_input:
            x = _transform_input(x)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # (N, 64, 147, 147) at 299
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(self.maxpool1(x)))  # (N, 192, 71, 71)
        x = self.maxpool2(x)  # (N, 192, 35, 35)
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))  # (N, 288, 35, 35)
        x = self.Mixed_6a(x)  # (N, 768, 17, 17)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))  # (N, 768, 17, 17)
        aux = self.AuxLogits(x) if self.training and self.AuxLogits is not None else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))  # (N, 2048, 8, 8)
        x = F.flatten(self.dropout(self.avgpool(x)), 1)  # (N, 2048)
        logits = self.fc(x)  # (N, num_classes)
        if aux is not None:
            return InceptionOutputs(logits, aux)
        return logits


@register_model
def inception_v3(num_classes: int = 1000, aux_logits: bool = True, transform_input: bool = False,
                 init_weights: bool = True, dropout: float = 0.5, in_channels: int = 3) -> Inception3:
    """Inception v3; arguments as ``Inception3``.

    Example: ``inception_v3(num_classes=10, aux_logits=False).eval()(juanji.randn(1, 3, 75, 75))``
    """
    return Inception3(num_classes=num_classes, aux_logits=aux_logits, transform_input=transform_input,
                      init_weights=init_weights, dropout=dropout, in_channels=in_channels)
