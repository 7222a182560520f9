"""AlexNet: torchvision's single-tower variant and the paper's (Krizhevsky, Sutskever and Hinton, 2012).

Shape legend: N batch, C channels, H, W spatial size, K classes.

Both variants have torchvision's module names (``features.N``, ``avgpool``,
``classifier.N``), so a torchvision ``state_dict`` loads into ``alexnet()`` by name.

    torchvision  conv 64@11x11/4 pad 2 - pool - conv 192@5x5 - pool - conv 384, 256, 256 @3x3
                 - pool - adaptive avg pool 6x6 - dropout - fc 4096 - dropout - fc 4096 - fc K;
                 no LRN, PyTorch's default init, 61,100,840 parameters for K = 1000.
    original     the paper's channel counts 96-256-384-384-256 in one tower, ReLU, LRN
                 after conv1 and conv2, overlapping 3x3/2 max pools, dropout on the
                 outputs of fc1 and fc2, the paper's init; 62,378,344 parameters for
                 K = 1000 (the paper's two GPU towers, with grouped conv2/4/5, have ~60M).
"""

from __future__ import annotations

from .. import nn
from ..tensor import Tensor
from .classic import _positive_int
from .registry import register_model

__all__ = ["AlexNet", "alexnet"]

_VARIANTS = ("torchvision", "original")


def _torchvision_features(in_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2),  # 0
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),                     # 3
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),                    # 6
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),                    # 8
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),                    # 10
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


def _torchvision_classifier(num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Dropout(p=dropout),
        nn.Linear(256 * 6 * 6, 4096),                                     # 1
        nn.ReLU(inplace=True),
        nn.Dropout(p=dropout),
        nn.Linear(4096, 4096),                                            # 4
        nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes),                                     # 6
    )


def _original_features(in_channels: int) -> nn.Sequential:
    # Section 3.3: b = a / (k + alpha * sum of a^2 over n channels)^beta with k=2, n=5,
    # alpha=1e-4, beta=0.75. PyTorch's LRN divides alpha by n, so it gets n * 1e-4.
    def lrn() -> nn.LocalResponseNorm:
        return nn.LocalResponseNorm(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0)

    return nn.Sequential(
        # Padding 2 (as torchvision): 224x224 input gives the paper's 55x55 maps (227 gives 56).
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=2),  # 0
        nn.ReLU(inplace=True),
        lrn(),
        nn.MaxPool2d(kernel_size=3, stride=2),                            # overlapping: z=3, s=2
        nn.Conv2d(96, 256, kernel_size=5, padding=2),                     # 4
        nn.ReLU(inplace=True),
        lrn(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1),                    # 8
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 384, kernel_size=3, padding=1),                    # 10
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),                    # 12
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


def _original_classifier(num_classes: int, dropout: float) -> nn.Sequential:
    # Section 4.2: dropout sets the *output* of each hidden neuron of fc1 and fc2 to zero.
    return nn.Sequential(
        nn.Linear(256 * 6 * 6, 4096),                                     # 0
        nn.ReLU(inplace=True),
        nn.Dropout(p=dropout),
        nn.Linear(4096, 4096),                                            # 3
        nn.ReLU(inplace=True),
        nn.Dropout(p=dropout),
        nn.Linear(4096, num_classes),                                     # 6
    )


class AlexNet(nn.Module):
    """AlexNet: ``features`` -> ``avgpool`` (adaptive, 6x6) -> flatten -> ``classifier``.

    Args:
        num_classes: K.
        dropout: drop probability of the two Dropout layers.
        variant: "torchvision" (single tower, no LRN, 64-192-384-256-256 channels) or
            "original" (the paper's 96-256-384-384-256 channels with LRN, in one tower).
        in_channels: input channels (3 for RGB).

    The adaptive 6x6 pool makes any input of at least 63x63 work (the smallest that
    survives the three 3x3/2 pools); at the paper's 224x224 (or 227x227) input it is
    the identity. The "original" variant is initialised as the paper (section 5):
    weights N(0, 0.01^2), biases 1 in conv2, conv4, conv5, fc1 and fc2 and 0 elsewhere;
    the "torchvision" variant keeps PyTorch's default init, as torchvision does.

    Shape:
        (N, C, 224, 224) -> features (N, 256, 6, 6) -> avgpool (N, 256, 6, 6)
        -> flatten (N, 9216) -> classifier (N, K) logits.

    Example:
        >>> AlexNet(num_classes=10)(juanji.randn(2, 3, 63, 63)).shape
        (2, 10)
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, variant: str = "torchvision",
                 in_channels: int = 3) -> None:
        super().__init__()
        num_classes = _positive_int("alexnet", "num_classes", num_classes)
        in_channels = _positive_int("alexnet", "in_channels", in_channels)
        if variant not in _VARIANTS:
            raise ValueError(f"alexnet: variant must be 'torchvision' or 'original', got {variant!r}")
        self.variant = variant
        if variant == "torchvision":
            self.features = _torchvision_features(in_channels)
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            self.classifier = _torchvision_classifier(num_classes, dropout)
        else:
            self.features = _original_features(in_channels)
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            self.classifier = _original_classifier(num_classes, dropout)
            self._paper_init()

    def _paper_init(self) -> None:
        """Weights N(0, 0.01^2); biases 1 in conv2, conv4, conv5, fc1, fc2, else 0 (section 5)."""
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        linears = [m for m in self.classifier if isinstance(m, nn.Linear)]
        ones = {id(convs[1]), id(convs[3]), id(convs[4]), id(linears[0]), id(linears[1])}
        for m in convs + linears:
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.constant_(m.bias, 1.0 if id(m) in ones else 0.0)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)                                              # (N, 256, h, w)
        x = self.avgpool(x)                                               # (N, 256, 6, 6)
        x = x.flatten(1)                                                  # (N, 9216)
        return self.classifier(x)                                         # (N, K)

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}"


@register_model
def alexnet(num_classes: int = 1000, variant: str = "torchvision", dropout: float = 0.5,
            in_channels: int = 3) -> AlexNet:
    """AlexNet (see :class:`AlexNet`): torchvision's variant by default, or ``variant="original"``.

    Example:
        >>> model = alexnet(num_classes=10)
        >>> model(juanji.randn(2, 3, 64, 64)).shape
        (2, 10)
    """
    return AlexNet(num_classes=num_classes, dropout=dropout, variant=variant, in_channels=in_channels)
