"""Dropout layers: active in training mode, the identity after ``module.eval()``.

Shape legend: N batch, C channels, H, W spatial; ``(*)`` any shape.
Masks are drawn from juanji's seeded generator (``juanji.manual_seed``).
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .module import Module

__all__ = ["Dropout", "Dropout2d"]


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name}: p must be a number in [0, 1], got {p!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name}: dropout probability p must be in [0, 1], got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability p while training; scale the rest by 1/(1 - p).

    Args:
        p: drop probability in [0, 1].
        inplace: accepted for PyTorch compatibility; ignored (always out of place).

    Shape:
        (*) -> (*)

    Example:
        >>> drop = nn.Dropout(0.5)
        >>> drop.eval()(juanji.ones(3)).numpy()
        array([1., 1., 1.], dtype=float32)
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)


class Dropout2d(_DropoutNd):
    """Zero whole channels (N, C) with probability p while training; scale the rest.

    Shape:
        (N, C, H, W) -> (N, C, H, W); (N, C, L) is accepted as PyTorch does.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training)
