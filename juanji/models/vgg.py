"""VGG (Simonyan and Zisserman, 2014): torchvision's configurations A, B, D and E, with or without BN.

Shape legend: N batch, C channels, H, W spatial size, K classes.

Module names and layouts are torchvision's (``features.N``, ``avgpool``, ``classifier.N``)
and so is the initialisation (conv: kaiming_normal_ fan_out/relu, bias 0; BN: weight 1,
bias 0; linear: N(0, 0.01^2), bias 0), so a torchvision ``state_dict`` loads by name and
training starts from the same distribution.

    vgg11  (A)  132,863,336 parameters for K = 1000    vgg11_bn  132,868,840
    vgg13  (B)  133,047,848                            vgg13_bn  133,053,736
    vgg16  (D)  138,357,544                            vgg16_bn  138,365,992
    vgg19  (E)  143,667,240                            vgg19_bn  143,678,248

``small_input=True`` is for 32x32 images (CIFAR): the five 2x2 pools leave 1x1 maps,
so the 7x7 adaptive pool and the 25088-4096-4096 classifier (which would copy that one
pixel 49 times) become a 1x1 adaptive pool and a 512-512-512-K classifier with the
same layout (Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear).
"""

from __future__ import annotations

from typing import Union

from .. import nn
from ..tensor import Tensor
from .classic import _positive_int
from .registry import register_model

__all__ = [
    "VGG", "VGG_CONFIGS", "make_vgg_layers",
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
]

# Numbers are 3x3 convolutions (padding 1) with that many output channels; "M" is a 2x2/2 max pool.
VGG_CONFIGS: dict[str, list[Union[int, str]]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_vgg_layers(cfg: list[Union[int, str]], batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """torchvision's ``make_layers``: conv3x3 [-> BatchNorm2d] -> ReLU per number, MaxPool2d(2) per "M".

    Example:
        >>> make_vgg_layers([8, "M"], batch_norm=True)(juanji.randn(1, 3, 8, 8)).shape
        (1, 8, 4, 4)
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"make_vgg_layers: entries must be positive ints or 'M', got {v!r}")
        layers.append(nn.Conv2d(channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG: ``features`` -> ``avgpool`` -> flatten -> ``classifier``, as torchvision's ``VGG``.

    Args:
        features: the convolutional stack (from :func:`make_vgg_layers`), ending in 512 maps.
        num_classes: K.
        init_weights: apply torchvision's initialisation.
        dropout: drop probability of the two Dropout layers.
        small_input: 1x1 adaptive pool and a 512-wide classifier, for 32x32 input.

    Shape:
        (N, 3, 224, 224) -> features (N, 512, 7, 7) -> avgpool (N, 512, 7, 7)
        -> flatten (N, 25088) -> classifier (N, K); with small_input
        (N, 3, 32, 32) -> features (N, 512, 1, 1) -> avgpool (N, 512, 1, 1) -> (N, 512) -> (N, K).
        The adaptive pool accepts any input of at least 32x32.

    Example:
        >>> VGG(make_vgg_layers(VGG_CONFIGS["A"]), 10, small_input=True)(juanji.randn(2, 3, 32, 32)).shape
        (2, 10)
    """

    def __init__(self, features: nn.Module, num_classes: int = 1000, init_weights: bool = True,
                 dropout: float = 0.5, small_input: bool = False) -> None:
        super().__init__()
        num_classes = _positive_int("vgg", "num_classes", num_classes)
        self.small_input = bool(small_input)
        side, width = (1, 512) if self.small_input else (7, 4096)
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((side, side))
        self.classifier = nn.Sequential(
            nn.Linear(512 * side * side, width),                          # 0
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(width, width),                                      # 3
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(width, num_classes),                                # 6
        )
        if init_weights:
            self._initialize_weights()

    def _initialize_weights(self) -> None:
        """torchvision's: conv kaiming_normal_(fan_out, relu), BN 1/0, linear N(0, 0.01^2), biases 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)                                              # (N, 512, h, w)
        x = self.avgpool(x)                                               # (N, 512, 7, 7) or (N, 512, 1, 1)
        x = x.flatten(1)                                                  # (N, 25088) or (N, 512)
        return self.classifier(x)                                         # (N, K)

    def extra_repr(self) -> str:
        return "small_input=True" if self.small_input else ""


def _vgg(op: str, cfg: str, num_classes: int, batch_norm: bool, small_input: bool,
         in_channels: int, dropout: float) -> VGG:
    in_channels = _positive_int(op, "in_channels", in_channels)
    num_classes = _positive_int(op, "num_classes", num_classes)
    features = make_vgg_layers(VGG_CONFIGS[cfg], batch_norm=bool(batch_norm), in_channels=in_channels)
    return VGG(features, num_classes=num_classes, dropout=dropout, small_input=small_input)


@register_model
def vgg11(num_classes: int = 1000, batch_norm: bool = False, small_input: bool = False,
          in_channels: int = 3, dropout: float = 0.5) -> VGG:
    """VGG-11 (configuration A): 8 convolutions and 3 fully connected layers.

    Args:
        num_classes: K.
        batch_norm: a BatchNorm2d after every convolution (torchvision's ``vgg11_bn``).
        small_input: 1x1 pool and a 512-wide classifier for 32x32 images (see the module doc).
        in_channels: input channels (3 for RGB).
        dropout: drop probability in the classifier.

    Example:
        >>> vgg11(num_classes=10, small_input=True)(juanji.randn(2, 3, 32, 32)).shape
        (2, 10)
    """
    return _vgg("vgg11", "A", num_classes, batch_norm, small_input, in_channels, dropout)


@register_model
def vgg13(num_classes: int = 1000, batch_norm: bool = False, small_input: bool = False,
          in_channels: int = 3, dropout: float = 0.5) -> VGG:
    """VGG-13 (configuration B): 10 convolutions and 3 fully connected layers; arguments as :func:`vgg11`."""
    return _vgg("vgg13", "B", num_classes, batch_norm, small_input, in_channels, dropout)


@register_model
def vgg16(num_classes: int = 1000, batch_norm: bool = False, small_input: bool = False,
          in_channels: int = 3, dropout: float = 0.5) -> VGG:
    """VGG-16 (configuration D): 13 convolutions and 3 fully connected layers; arguments as :func:`vgg11`."""
    return _vgg("vgg16", "D", num_classes, batch_norm, small_input, in_channels, dropout)


@register_model
def vgg19(num_classes: int = 1000, batch_norm: bool = False, small_input: bool = False,
          in_channels: int = 3, dropout: float = 0.5) -> VGG:
    """VGG-19 (configuration E): 16 convolutions and 3 fully connected layers; arguments as :func:`vgg11`."""
    return _vgg("vgg19", "E", num_classes, batch_norm, small_input, in_channels, dropout)


@register_model
def vgg11_bn(num_classes: int = 1000, small_input: bool = False, in_channels: int = 3,
             dropout: float = 0.5) -> VGG:
    """VGG-11 with batch normalisation (``vgg11(batch_norm=True)``)."""
    return _vgg("vgg11_bn", "A", num_classes, True, small_input, in_channels, dropout)


@register_model
def vgg13_bn(num_classes: int = 1000, small_input: bool = False, in_channels: int = 3,
             dropout: float = 0.5) -> VGG:
    """VGG-13 with batch normalisation (``vgg13(batch_norm=True)``)."""
    return _vgg("vgg13_bn", "B", num_classes, True, small_input, in_channels, dropout)


@register_model
def vgg16_bn(num_classes: int = 1000, small_input: bool = False, in_channels: int = 3,
             dropout: float = 0.5) -> VGG:
    """VGG-16 with batch normalisation (``vgg16(batch_norm=True)``)."""
    return _vgg("vgg16_bn", "D", num_classes, True, small_input, in_channels, dropout)


@register_model
def vgg19_bn(num_classes: int = 1000, small_input: bool = False, in_channels: int = 3,
             dropout: float = 0.5) -> VGG:
    """VGG-19 with batch normalisation (``vgg19(batch_norm=True)``)."""
    return _vgg("vgg19_bn", "E", num_classes, True, small_input, in_channels, dropout)
