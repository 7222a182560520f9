"""Pooling layers: thin Modules over juanji.functional's pooling ops (no parameters).

Shape legend: N batch, C channels, (L | H, W | D, H, W) input size, (OL | OH, OW | OD, OH, OW)
output size; the output-size formulas are in juanji/functional/pool.py.
Class names, argument names, defaults and ``extra_repr`` follow PyTorch.
"""

from __future__ import annotations

from typing import Any, Sequence

from .. import functional as F
from ..tensor import Tensor
from .module import Module

__all__ = [
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "LPPool1d", "LPPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "GlobalAvgPool2d", "GlobalMaxPool2d",
]

Size = int | Sequence[int]


class _MaxPoolNd(Module):
    _fn: Any = None

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size | str = 0,
                 dilation: Size = 1, return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Any:
        return type(self)._fn(input, self.kernel_size, self.stride, self.padding, self.dilation,
                              ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling, (N, C, L) -> (N, C, OL). Example: ``nn.MaxPool1d(2)(juanji.randn(1, 3, 8))``"""

    _fn = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling (see ``F.max_pool2d``), (N, C, H, W) -> (N, C, OH, OW).

    Example: ``nn.MaxPool2d(3, stride=2)(juanji.randn(1, 64, 112, 112)).shape == (1, 64, 55, 55)``
    """

    _fn = staticmethod(F.max_pool2d)


class MaxPool3d(_MaxPoolNd):
    """3-D max pooling, (N, C, D, H, W) -> (N, C, OD, OH, OW)."""

    _fn = staticmethod(F.max_pool3d)


class AvgPool1d(Module):
    """1-D average pooling, (N, C, L) -> (N, C, OL). Stores tuples, as PyTorch's AvgPool1d."""

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size | str = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__()
        single = (lambda v: v if isinstance(v, (tuple, str)) else
                  (tuple(v) if isinstance(v, list) else (v,)))
        self.kernel_size = single(kernel_size)
        self.stride = single(stride if stride is not None else kernel_size)
        self.padding = single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AvgPoolNd(Module):
    _fn: Any = None

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size | str = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                              self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
    """2-D average pooling (see ``F.avg_pool2d``), (N, C, H, W) -> (N, C, OH, OW).

    Example: ``nn.AvgPool2d(2)(juanji.randn(1, 6, 28, 28)).shape == (1, 6, 14, 14)``
    """

    _fn = staticmethod(F.avg_pool2d)


class AvgPool3d(_AvgPoolNd):
    """3-D average pooling, (N, C, D, H, W) -> (N, C, OD, OH, OW)."""

    _fn = staticmethod(F.avg_pool3d)


class _LPPoolNd(Module):
    _fn: Any = None

    def __init__(self, norm_type: float, kernel_size: Size, stride: Size | None = None,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input, float(self.norm_type), self.kernel_size, self.stride,
                              self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """1-D power-average pooling (see ``F.lp_pool1d``), (N, C, L) -> (N, C, OL)."""

    _fn = staticmethod(F.lp_pool1d)


class LPPool2d(_LPPoolNd):
    """2-D power-average pooling (see ``F.lp_pool2d``). Example: ``nn.LPPool2d(2, 3)``"""

    _fn = staticmethod(F.lp_pool2d)


class _AdaptiveNd(Module):
    _fn: Any = None

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveNd):
    """Average pooling to a fixed length, (N, C, L) -> (N, C, output_size)."""

    _fn = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptiveNd):
    """Average pooling to a fixed size; ``nn.AdaptiveAvgPool2d((1, 1))`` ends ResNet."""

    _fn = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveMaxPool1d(_AdaptiveNd):
    """Max pooling to a fixed length, (N, C, L) -> (N, C, output_size)."""

    _fn = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveNd):
    """Max pooling to a fixed size, (N, C, H, W) -> (N, C, OH, OW)."""

    _fn = staticmethod(F.adaptive_max_pool2d)


class GlobalAvgPool2d(Module):
    """Keras's GlobalAveragePooling2D: mean over H and W, (N, C, H, W) -> (N, C)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.global_avg_pool2d(input)


class GlobalMaxPool2d(Module):
    """Keras's GlobalMaxPooling2D: max over H and W, (N, C, H, W) -> (N, C)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.global_max_pool2d(input)
