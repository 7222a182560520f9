"""Convolution layers Conv1d, Conv2d, Conv3d: PyTorch's names, parameters and initialisation.

Shape legend: N batch, C = in_channels, O = out_channels, G = groups,
KH, KW kernel, SH, SW stride, PH, PW padding, DH, DW dilation, OH, OW output.

Each layer holds ``weight`` (O, C/G, *kernel) and ``bias`` (O,) (or None), so a
``state_dict`` moves to and from ``torch.nn.Conv2d`` by name with no transposes, and
calls ``F.conv1d/2d/3d``. The initialisation is PyTorch's default
(``init.default_layer_init_``): weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
fan_in = C/G * KH * KW.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import functional as F
from ..functional._args import ntuple
from ..tensor import Tensor
from .init import default_layer_init_
from .module import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "Conv3d"]

_PADDING_MODES = ("zeros",)


class _ConvNd(Module):
    """Shared constructor, checks, init and repr of Conv1d/2d/3d."""

    _spatial = 0
    _functional: Any = None

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
                 dilation: int | Sequence[int] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        n = self._spatial
        for arg, value in (("in_channels", in_channels), ("out_channels", out_channels),
                           ("groups", groups)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}: {arg} must be a positive int, got {value!r}")
        if in_channels % groups != 0:
            raise ValueError(f"{name}: in_channels={in_channels} must be divisible by groups={groups}")
        if out_channels % groups != 0:
            raise ValueError(f"{name}: out_channels={out_channels} must be divisible by groups={groups}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode {padding_mode!r} is not supported; "
                             f"supported: {', '.join(repr(m) for m in _PADDING_MODES)}")
        if device not in (None, "cpu"):
            raise ValueError(f"{name}: device must be None or 'cpu', got {device!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = ntuple(kernel_size, n, name, "kernel_size", minimum=1)
        self.stride = ntuple(stride, n, name, "stride", minimum=1)
        if isinstance(padding, str):
            if padding.lower() not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple, 'valid' or 'same', "
                                 f"got {padding!r}")
            self.padding: tuple[int, ...] | str = padding.lower()
        else:
            self.padding = ntuple(padding, n, name, "padding", minimum=0)
        self.dilation = ntuple(dilation, n, name, "dilation", minimum=1)
        self.groups = int(groups)
        self.padding_mode = padding_mode
        dt = np.dtype(np.float32 if dtype is None else dtype)
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, dtype=dt))  # (O, C/G, KH, KW)
        if bias:
            self.bias = Parameter(np.empty((self.out_channels,), dtype=dt))  # (O,)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        default_layer_init_(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._functional(input, self.weight, self.bias, self.stride, self.padding,
                                      self.dilation, self.groups)

    def extra_repr(self) -> str:
        # Same text as torch.nn.Conv2d's repr, e.g. "1, 6, kernel_size=(5, 5), stride=(1, 1)".
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._spatial:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._spatial:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution layer over (N, C, L) input.

    Args:
        in_channels, out_channels: C and O (both divisible by ``groups``).
        kernel_size, stride, dilation: int or 1-tuple.
        padding: int, 1-tuple, "valid" or "same" (TensorFlow's rule, any stride).
        groups: channel groups (groups = in_channels: depthwise).
        bias: learn a bias (O,).
        padding_mode: only "zeros" is supported.
        device: None or "cpu"; dtype: parameter dtype (default float32).

    Shape:
        input (N, C, L_in) -> output (N, O, L_out),
        L_out = floor((L_in + 2P - D*(K-1) - 1) / S) + 1.

    Example:
        >>> nn.Conv1d(3, 8, 5, padding=2)(juanji.randn(4, 3, 20)).shape
        (4, 8, 20)
    """

    _spatial = 1
    _functional = staticmethod(F.conv1d)


class Conv2d(_ConvNd):
    """2-D convolution layer over NCHW images (cross-correlation, as in PyTorch).

    Args:
        in_channels, out_channels: C and O (both divisible by ``groups``).
        kernel_size, stride, dilation: int or (H, W) pair.
        padding: int, (PH, PW), "valid" or "same" (TensorFlow's rule, any stride).
        groups: channel groups (groups = in_channels: depthwise).
        bias: learn a bias (O,).
        padding_mode: only "zeros" is supported.
        device: None or "cpu"; dtype: parameter dtype (default float32).

    Shape:
        input (N, C, H, W) -> output (N, O, OH, OW),
        OH = floor((H + 2PH - DH*(KH-1) - 1) / SH) + 1, likewise OW.

    Example:
        >>> nn.Conv2d(1, 6, 5)(juanji.randn(2, 1, 32, 32)).shape
        (2, 6, 28, 28)
    """

    _spatial = 2
    _functional = staticmethod(F.conv2d)


class Conv3d(_ConvNd):
    """3-D convolution layer over NCDHW volumes.

    Args:
        in_channels, out_channels: C and O (both divisible by ``groups``).
        kernel_size, stride, dilation: int or (D, H, W) triple.
        padding: int, 3-tuple, "valid" or "same" (TensorFlow's rule, any stride).
        groups: channel groups.
        bias: learn a bias (O,).
        padding_mode: only "zeros" is supported.
        device: None or "cpu"; dtype: parameter dtype (default float32).

    Shape:
        input (N, C, D, H, W) -> output (N, O, OD, OH, OW),
        OD = floor((D + 2PD - DD*(KD-1) - 1) / SD) + 1, likewise OH, OW.

    Example:
        >>> nn.Conv3d(2, 4, 3)(juanji.randn(1, 2, 5, 6, 7)).shape
        (1, 4, 3, 4, 5)
    """

    _spatial = 3
    _functional = staticmethod(F.conv3d)
