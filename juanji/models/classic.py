"""The classic small CNNs: SimpleConvNet, LeNet-5 (modern and 1998), a hand-signs net, a digits CNN.

Shape legend: N batch, C channels, H, W spatial size, K classes.

Builders (registered by name): ``simple_convnet``, ``lenet5`` (``variant="modern"`` or
``"original"``, LeCun et al. 1998), ``signs_convnet`` and ``four_stage_cnn``. The networks
are ``nn.Sequential`` subclasses, so every stage is reachable by name (``model.c3``), and
their forward checks the input shape with a clear error.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np

from .. import functional as F
from .. import nn
from ..tensor import Tensor
from .registry import register_model

__all__ = [
    "SimpleConvNet", "LeNet5", "LeNet5Original", "SignsConvNet", "FourStageCNN",
    "ScaledTanh", "Subsampling2d", "MaskedConv2d", "RBFOutput", "LENET5_C3_TABLE",
    "simple_convnet", "lenet5", "signs_convnet", "four_stage_cnn",
]


# --- argument checks ------------------------------------------------------------------------
def _positive_int(op: str, name: str, value: Any) -> int:
    """``value`` as an int >= 1, or a ValueError naming the builder and the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {value!r}")
    return int(value)


def _positive_ints(op: str, **values: Any) -> list[int]:
    """``_positive_int`` for each keyword argument, in order."""
    return [_positive_int(op, name, value) for name, value in values.items()]


class _FixedInputNet(nn.Sequential):
    """A Sequential whose layer sizes fix the input shape (C, H, W); forward checks it."""

    def __init__(self, layers: list[tuple[str, nn.Module]], input_shape: tuple[int, int, int]) -> None:
        super().__init__(OrderedDict(layers))
        self.input_shape = input_shape

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__}: input must be a juanji.Tensor, got {type(x).__name__}")
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{type(self).__name__}: expected input of shape (N, "
                             f"{', '.join(map(str, self.input_shape))}), got {tuple(x.shape)}")
        return super().forward(x)


def _keras_init(model: nn.Module) -> None:
    """Keras's defaults: glorot_uniform weights and zero biases in every Conv2d and Linear."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.glorot_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _same_size(size: int, stride: int) -> int:
    """Spatial size after a TensorFlow "same" pool: ceil(size / stride)."""
    return -(-size // stride)


# --- SimpleConvNet ---------------------------------------------------------------------------
class SimpleConvNet(_FixedInputNet):
    """conv 30@5x5 - relu - maxpool 2x2 - linear 100 - relu - linear K (the tutorials' SimpleConvNet).

    Initialisation is PyTorch's default (the tutorials draw N(0, 0.01) weights, which
    trains more slowly with plain SGD).

    Shape:
        (N, C, S, S) -> conv1 (N, 30, S-4, S-4) -> pool1 (N, 30, (S-4)//2, (S-4)//2)
        -> fc1 (N, 100) -> fc2 (N, K); S = input_size, e.g. 28 -> 24 -> 12 -> 4320 features.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28) -> None:
        op = "simple_convnet"
        num_classes, in_channels, input_size = _positive_ints(
            op, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        if input_size < 6:
            raise ValueError(f"{op}: input_size must be >= 6 (5x5 conv then 2x2 pool), got {input_size}")
        pooled = (input_size - 4) // 2
        super().__init__([
            ("conv1", nn.Conv2d(in_channels, 30, 5)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2, stride=2)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(30 * pooled * pooled, 100)),
            ("relu2", nn.ReLU()),
            ("fc2", nn.Linear(100, num_classes)),
        ], (in_channels, input_size, input_size))


@register_model
def simple_convnet(num_classes: int = 10, in_channels: int = 1, input_size: int = 28) -> SimpleConvNet:
    """The tutorials' SimpleConvNet (see :class:`SimpleConvNet`); 433,890 parameters at 28x28, K=10.

    Example:
        >>> simple_convnet()(juanji.randn(2, 1, 28, 28)).shape
        (2, 10)
    """
    return SimpleConvNet(num_classes, in_channels, input_size)


# --- LeNet-5, modern -------------------------------------------------------------------------
def _c1_padding(op: str, input_size: Any) -> int:
    # LeNet-5 is laid out for 32x32 input; 28x28 digits get C1 padding 2, which is the
    # same as zero-padding them to 32x32 (the paper centres its digits in a 32x32 field).
    if input_size not in (28, 32) or isinstance(input_size, bool):
        raise ValueError(f"{op}: input_size must be 28 (C1 pads by 2) or 32, got {input_size!r}")
    return (32 - int(input_size)) // 2


class LeNet5(_FixedInputNet):
    """LeNet-5 as it is written today: ReLU, 2x2 max pooling, a linear output layer.

    Shape (input_size 28, C1 padding 2; or input_size 32, no padding):
        (N, C, 28, 28) -> c1 (N, 6, 28, 28) -> s2 (N, 6, 14, 14) -> c3 (N, 16, 10, 10)
        -> s4 (N, 16, 5, 5) -> flatten 400 -> c5 120 -> f6 84 -> output (N, K) logits.

    C3 connects to all 6 maps of S2 and C5 is a Linear layer (on 5x5 maps the same as
    the paper's 5x5 convolution): 61,706 parameters for K = 10. PyTorch's default init.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28) -> None:
        num_classes, in_channels = _positive_ints("lenet5", num_classes=num_classes, in_channels=in_channels)
        super().__init__([
            ("c1", nn.Conv2d(in_channels, 6, 5, padding=_c1_padding("lenet5", input_size))),
            ("relu1", nn.ReLU()),
            ("s2", nn.MaxPool2d(2, stride=2)),
            ("c3", nn.Conv2d(6, 16, 5)),
            ("relu3", nn.ReLU()),
            ("s4", nn.MaxPool2d(2, stride=2)),
            ("flatten", nn.Flatten()),
            ("c5", nn.Linear(16 * 5 * 5, 120)),
            ("relu5", nn.ReLU()),
            ("f6", nn.Linear(120, 84)),
            ("relu6", nn.ReLU()),
            ("output", nn.Linear(84, num_classes)),
        ], (in_channels, int(input_size), int(input_size)))


# --- LeNet-5, 1998: its special layers --------------------------------------------------------
class ScaledTanh(nn.Module):
    """LeCun's squashing function f(a) = A * tanh(S * a), with A = 1.7159 and S = 2/3.

    With these constants f(1) = 1 and f(-1) = -1, and the gain is largest near the
    targets (LeCun et al. 1998, Appendix A). Shape (*) -> (*).
    """

    def __init__(self, A: float = 1.7159, S: float = 2.0 / 3.0) -> None:
        super().__init__()
        self.A = float(A)
        self.S = float(S)

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x * self.S) * self.A

    def extra_repr(self) -> str:
        return f"A={self.A}, S={self.S:.4f}"


class Subsampling2d(nn.Module):
    """LeNet-5's trainable sub-sampling (S2, S4): a window sum times a coefficient, plus a bias.

        out[n, c, y, x] = weight[c] * sum_{i,j < k} x[n, c, k*y + i, k*x + j] + bias[c]

    One coefficient and one bias per map (2 * C parameters); the activation is a
    separate layer. Both start as U(-2.4/F, 2.4/F), F = k*k the fan-in (the paper's rule).

    Shape:
        (N, C, H, W) -> (N, C, H // k, W // k)

    Example:
        >>> Subsampling2d(6)(juanji.randn(2, 6, 28, 28)).shape
        (2, 6, 14, 14)
    """

    def __init__(self, channels: int, kernel_size: int = 2) -> None:
        super().__init__()
        self.channels = _positive_int("Subsampling2d", "channels", channels)
        self.kernel_size = _positive_int("Subsampling2d", "kernel_size", kernel_size)
        self.weight = nn.Parameter(np.empty(self.channels, dtype=np.float32))  # (C,)
        self.bias = nn.Parameter(np.empty(self.channels, dtype=np.float32))    # (C,)
        bound = 2.4 / self.kernel_size**2
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel_size
        window_sum = F.avg_pool2d(x, k, stride=k) * float(k * k)         # (N, C, H/k, W/k)
        return window_sum * self.weight.reshape(1, -1, 1, 1) + self.bias.reshape(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.channels}, kernel_size={self.kernel_size}"


# LeCun et al. 1998, Table I: column j is C3's map j, row i is S2's map i; X = connected.
# C3 maps 0-5 see 3 neighbouring S2 maps, 6-11 see 4 neighbouring maps, 12-14 see 4
# non-neighbouring maps and 15 sees all 6: 60 connections, each a 5x5 kernel.
LENET5_C3_TABLE = """
X...XXX..XXXX.XX
XX...XXX..XXXX.X
XXX...XXX..X.XXX
.XXX..XXXX..X.XX
..XXX..XXXX.XX.X
...XXX..XXXX.XXX
"""
# connections[o, i]: C3 map o sees S2 map i.
_C3_CONNECTIONS = np.array([[ch == "X" for ch in row] for row in LENET5_C3_TABLE.split()]).T  # (16, 6)


class MaskedConv2d(nn.Conv2d):
    """A Conv2d in which output map o sees input map i only where ``connections[o, i]``.

    The weight keeps its full (O, C, KH, KW) shape (so state_dicts stay PyTorch-shaped),
    but the forward uses ``weight * mask``: the unconnected kernels start at zero and
    get zero gradient, so they stay exactly zero under any optimiser (weight decay of
    a zero is zero). ``num_parameters()`` counts only the connected weights and biases.

    Args:
        in_channels, out_channels, kernel_size: as Conv2d (no groups).
        connections: boolean (out_channels, in_channels) array.
        **kwargs: stride, padding, dilation, bias, dtype as Conv2d.

    Shape:
        as Conv2d: (N, C, H, W) -> (N, O, OH, OW).

    Example:
        >>> c3 = MaskedConv2d(6, 16, 5, connections=np.eye(16, 6, dtype=bool))
        >>> c3(juanji.randn(2, 6, 14, 14)).shape
        (2, 16, 10, 10)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 connections: Any, **kwargs: Any) -> None:
        if kwargs.get("groups", 1) != 1:
            raise ValueError(f"MaskedConv2d: groups must be 1, got {kwargs['groups']!r}")
        super().__init__(in_channels, out_channels, kernel_size, **kwargs)
        conn = np.asarray(connections)
        if conn.shape != (out_channels, in_channels):
            raise ValueError(f"MaskedConv2d: connections must have shape (out_channels, in_channels) = "
                             f"({out_channels}, {in_channels}), got {conn.shape}")
        # A float mask, so model.double() converts it with the weight; not saved.
        mask = conn.astype(bool).astype(self.weight.dtype)[:, :, None, None]  # (O, C, 1, 1)
        self.register_buffer("mask", Tensor(mask), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default Conv2d init, then the unconnected kernels set to zero."""
        super().reset_parameters()
        if self._buffers.get("mask") is not None:   # not yet while Conv2d.__init__ runs
            self.weight.data *= self.mask.data

    def num_connections(self) -> int:
        """How many (output map, input map) pairs are connected."""
        return int(self.mask.data.sum())

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Connected kernel weights plus biases (the paper's count: 1,516 for C3)."""
        kh, kw = self.kernel_size
        n = self.num_connections() * kh * kw if self.weight.requires_grad or not trainable_only else 0
        if self.bias is not None and (self.bias.requires_grad or not trainable_only):
            n += self.bias.numel()
        return n

    def forward(self, input: Tensor) -> Tensor:
        return F.conv2d(input, self.weight * self.mask, self.bias, self.stride, self.padding,
                        self.dilation, self.groups)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", connections={self.num_connections()}"


# Stylised 7x12 digit bitmaps for the RBF centres, in the manner of the paper's Fig. 3
# (drawn for juanji, not copied from the paper): '#' -> +1 (ink), '.' -> -1.
_DIGIT_BITMAPS = """
..###.. ...#... .#####. .#####. ....#.. ####### ..####. ####### .#####. .#####.
.#...#. ..##... #.....# #.....# ...##.. #...... .#..... ......# #.....# #.....#
#.....# .#.#... ......# ......# ..#.#.. #...... #...... .....#. #.....# #.....#
#.....# ...#... ......# ......# .#..#.. #...... #...... ....#.. #.....# #.....#
#.....# ...#... .....#. ..####. #...#.. ######. ######. ...#... .#####. .######
#.....# ...#... ....#.. ......# #...#.. ......# #.....# ...#... #.....# ......#
#.....# ...#... ...#... ......# ####### ......# #.....# ..#.... #.....# ......#
#.....# ...#... ..#.... ......# ....#.. ......# #.....# ..#.... #.....# ......#
#.....# ...#... .#..... ......# ....#.. ......# #.....# ..#.... #.....# ......#
.#...#. ...#... #...... #.....# ....#.. #.....# #.....# ..#.... #.....# .....#.
..###.. .#####. ####### .#####. ....#.. .#####. .#####. ..#.... .#####. .####..
....... ....... ....... ....... ....... ....... ....... ....... ....... .......
"""


def digit_bitmaps() -> np.ndarray:
    """The ten 7x12 digit bitmaps as a (10, 84) array of +-1 (row-major 12 rows of 7)."""
    rows = [line.split() for line in _DIGIT_BITMAPS.strip().splitlines()]  # 12 rows x 10 digits
    glyphs = ["".join(row[d] for row in rows) for d in range(10)]
    return np.array([[1.0 if ch == "#" else -1.0 for ch in g] for g in glyphs], dtype=np.float32)


class RBFOutput(nn.Module):
    """LeNet-5's output layer: one Euclidean radial basis function unit per class.

        distance[n, k] = sum_j (x[n, j] - weight[k, j])^2,   logits = -distance

    The paper predicts the class with the *smallest* distance; the layer returns the
    negative distances, so argmax, ``F.cross_entropy`` and accuracy work unchanged.
    The centres are +-1 vectors fixed by hand in the paper ("at least initially"):
    here the stylised 7x12 digit bitmaps when (in, out) = (84, 10), random +-1
    otherwise, with ``requires_grad=False`` (call ``requires_grad_()`` to train them).

    Shape:
        (N, IN) -> (N, OUT)

    Example:
        >>> RBFOutput(84, 10)(juanji.randn(2, 84)).shape
        (2, 10)
    """

    def __init__(self, in_features: int = 84, out_features: int = 10) -> None:
        super().__init__()
        self.in_features = _positive_int("RBFOutput", "in_features", in_features)
        self.out_features = _positive_int("RBFOutput", "out_features", out_features)
        self.weight = nn.Parameter(np.empty((self.out_features, self.in_features), dtype=np.float32),
                                   requires_grad=False)  # (OUT, IN)
        if (self.out_features, self.in_features) == (10, 84):
            self.weight.data[...] = digit_bitmaps()
        else:
            nn.init.uniform_(self.weight, -1.0, 1.0)
            self.weight.data[...] = np.where(self.weight.data >= 0, 1.0, -1.0)

    def distances(self, x: Tensor) -> Tensor:
        """Squared Euclidean distance of each input row to each centre, (N, IN) -> (N, OUT)."""
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.in_features:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"RBFOutput: expected input of shape (N, {self.in_features}), got {got}")
        diff = x.unsqueeze(1) - self.weight.unsqueeze(0)                 # (N, OUT, IN)
        return (diff * diff).sum(dim=2)                                   # (N, OUT)

    def forward(self, x: Tensor) -> Tensor:
        return -self.distances(x)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class LeNet5Original(_FixedInputNet):
    """LeNet-5 as published (LeCun, Bottou, Bengio and Haffner, 1998).

    Layers (input 32x32, or 28x28 zero-padded to 32x32 by C1's padding of 2; the
    paper scales pixels to -0.1 for background and 1.175 for ink, so pad with care):

        c1 conv 6@5x5 (156)        (N, 6, 28, 28)    act1 scaled tanh
        s2 subsampling 2x2 (12)    (N, 6, 14, 14)    act2
        c3 masked conv 16@5x5      (N, 16, 10, 10)   act3   Table I: 60 of 96 maps, 1,516
        s4 subsampling 2x2 (32)    (N, 16, 5, 5)     act4
        c5 conv 120@5x5 (48,120)   (N, 120, 1, 1)    act5   flatten
        f6 linear 84 (10,164)      (N, 84)           act6
        output RBF (840, fixed)    (N, K) logits = -squared distances

    ``num_parameters(trainable_only=True)`` is the paper's 60,000; ``parameters()``
    also yields the 900 fixed zeros of C3's unconnected kernels and the fixed RBF
    centres. Trainable weights and biases start as U(-2.4/F, 2.4/F), F = the fan-in of
    the unit (the paper's Appendix); all activations are A*tanh(S*a).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 32) -> None:
        num_classes, in_channels = _positive_ints("lenet5", num_classes=num_classes, in_channels=in_channels)
        super().__init__([
            ("c1", nn.Conv2d(in_channels, 6, 5, padding=_c1_padding("lenet5", input_size))),
            ("act1", ScaledTanh()),
            ("s2", Subsampling2d(6)),
            ("act2", ScaledTanh()),
            ("c3", MaskedConv2d(6, 16, 5, connections=_C3_CONNECTIONS)),
            ("act3", ScaledTanh()),
            ("s4", Subsampling2d(16)),
            ("act4", ScaledTanh()),
            ("c5", nn.Conv2d(16, 120, 5)),
            ("act5", ScaledTanh()),
            ("flatten", nn.Flatten()),
            ("f6", nn.Linear(120, 84)),
            ("act6", ScaledTanh()),
            ("output", RBFOutput(84, num_classes)),
        ], (in_channels, int(input_size), int(input_size)))
        self._paper_init()

    def _paper_init(self) -> None:
        """U(-2.4/F, 2.4/F) for every trainable weight and bias, F = the unit's fan-in."""
        for layer in (self.c1, self.c3, self.c5, self.f6):
            w = layer.weight                                               # (O, C, KH, KW) or (O, IN)
            fan_in = np.full(w.shape[0], math.prod(w.shape[1:]), dtype=np.float64)  # (O,)
            if isinstance(layer, MaskedConv2d):
                fan_in = layer.mask.data.reshape(w.shape[0], -1).sum(axis=1) * math.prod(w.shape[2:])
            bound = (2.4 / fan_in).astype(w.dtype)                         # (O,)
            nn.init.uniform_(w, -1.0, 1.0)
            w.data *= bound.reshape((-1,) + (1,) * (w.ndim - 1))
            nn.init.uniform_(layer.bias, -1.0, 1.0)
            layer.bias.data *= bound
        self.c3.weight.data *= self.c3.mask.data

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Parameters as the paper counts them: C3's unconnected kernels are not parameters."""
        c3 = self.c3
        raw = sum(p.numel() for p in c3.parameters() if p.requires_grad or not trainable_only)
        return super().num_parameters(trainable_only) - raw + c3.num_parameters(trainable_only)


@register_model
def lenet5(num_classes: int = 10, in_channels: int = 1, variant: str = "modern",
           input_size: int | None = None) -> LeNet5 | LeNet5Original:
    """LeNet-5: ``variant="modern"`` (:class:`LeNet5`) or ``"original"`` (:class:`LeNet5Original`).

    Args:
        num_classes: K, the number of outputs.
        in_channels: input channels (1 for digits).
        variant: "modern" (ReLU, max pooling, linear output; 61,706 parameters for K=10)
            or "original" (the 1998 paper's network; 60,000 trainable parameters).
        input_size: 28 (C1 pads by 2, i.e. the digits are zero-padded to 32x32) or 32;
            default 28 for "modern", 32 for "original".

    Returns:
        the model; its output is (N, K) logits (negative RBF distances for "original").

    Example:
        >>> lenet5()(juanji.randn(2, 1, 28, 28)).shape
        (2, 10)
        >>> lenet5(variant="original")(juanji.randn(2, 1, 32, 32)).shape
        (2, 10)
    """
    if variant == "modern":
        return LeNet5(num_classes, in_channels, 28 if input_size is None else input_size)
    if variant == "original":
        return LeNet5Original(num_classes, in_channels, 32 if input_size is None else input_size)
    raise ValueError(f"lenet5: variant must be 'modern' or 'original', got {variant!r}")


# --- the hand-signs net and the four-stage digits CNN ----------------------------------------
class SignsConvNet(_FixedInputNet):
    """The hand-signs CNN of a well-known CNN course (64x64 RGB photos of 0-5 fingers).

    conv 8@4x4 same - relu - maxpool 8x8/8 same - conv 16@2x2 same - relu -
    maxpool 4x4/4 same - flatten - linear K (logits; the softmax is in the loss).
    "same" is TensorFlow's rule; weights glorot_uniform and biases zero, as Keras.

    Shape (input_size 64):
        (N, 3, 64, 64) -> conv1 (N, 8, 64, 64) -> pool1 (N, 8, 8, 8) -> conv2 (N, 16, 8, 8)
        -> pool2 (N, 16, 2, 2) -> flatten 64 -> fc (N, K); 1,310 parameters for K = 6.
    """

    def __init__(self, num_classes: int = 6, in_channels: int = 3, input_size: int = 64) -> None:
        num_classes, in_channels, input_size = _positive_ints(
            "signs_convnet", num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        side = _same_size(_same_size(input_size, 8), 4)
        super().__init__([
            ("conv1", nn.Conv2d(in_channels, 8, 4, padding="same")),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(8, stride=8, padding="same")),
            ("conv2", nn.Conv2d(8, 16, 2, padding="same")),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(4, stride=4, padding="same")),
            ("flatten", nn.Flatten()),
            ("fc", nn.Linear(16 * side * side, num_classes)),
        ], (in_channels, input_size, input_size))
        _keras_init(self)


@register_model
def signs_convnet(num_classes: int = 6, in_channels: int = 3, input_size: int = 64) -> SignsConvNet:
    """The 64x64x3, 6-class hand-signs net (see :class:`SignsConvNet`).

    Example:
        >>> signs_convnet()(juanji.randn(2, 3, 64, 64)).shape
        (2, 6)
    """
    return SignsConvNet(num_classes, in_channels, input_size)


class FourStageCNN(_FixedInputNet):
    """Four conv-relu-pool-dropout stages and two linear layers, for 28x28 digits.

    conv 16@5x5, 32@2x2, 64@5x5, 128@5x5 ("same" padding, each followed by ReLU, a 2x2
    "same" max pool and dropout 0.25), then linear 128 - relu - linear K. Weights
    glorot_uniform and biases zero, as Keras (the course exercise's framework).

    Shape (input_size 28; a "same" pool gives ceil(size / 2)):
        (N, C, 28, 28) -> stage1 (N, 16, 14, 14) -> stage2 (N, 32, 7, 7)
        -> stage3 (N, 64, 4, 4) -> stage4 (N, 128, 2, 2) -> flatten 512 -> fc1 128
        -> fc2 (N, K); 325,642 parameters for C = 1, K = 10.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28,
                 dropout: float = 0.25) -> None:
        num_classes, in_channels, input_size = _positive_ints(
            "four_stage_cnn", num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        layers: list[tuple[str, nn.Module]] = []
        channels, side = in_channels, input_size
        for i, (width, k) in enumerate([(16, 5), (32, 2), (64, 5), (128, 5)], start=1):
            layers += [
                (f"conv{i}", nn.Conv2d(channels, width, k, padding="same")),
                (f"relu{i}", nn.ReLU()),
                (f"pool{i}", nn.MaxPool2d(2, stride=2, padding="same")),
                (f"drop{i}", nn.Dropout(dropout)),
            ]
            channels, side = width, _same_size(side, 2)
        layers += [
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(channels * side * side, 128)),
            ("relu5", nn.ReLU()),
            ("fc2", nn.Linear(128, num_classes)),
        ]
        super().__init__(layers, (in_channels, input_size, input_size))
        _keras_init(self)


@register_model
def four_stage_cnn(num_classes: int = 10, in_channels: int = 1, input_size: int = 28,
                   dropout: float = 0.25) -> FourStageCNN:
    """The four-stage digits CNN (see :class:`FourStageCNN`).

    Example:
        >>> four_stage_cnn()(juanji.randn(2, 1, 28, 28)).shape
        (2, 10)
    """
    return FourStageCNN(num_classes, in_channels, input_size, dropout)
