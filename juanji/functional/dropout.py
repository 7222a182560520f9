"""Dropout (Srivastava et al., 2014) in its "inverted" form, forward and backward.

Shape legend: N batch, C channels, H, W spatial; ``(*)`` any shape.

In training each unit is kept with probability q = 1 - p and scaled by 1/q, so the
expected output equals the input and evaluation needs no rescaling:

    y = x * m / q,   m ~ Bernoulli(q),   dL/dx = g * m / q.

``dropout2d`` draws one m per (sample, channel) and broadcasts it over H, W, so whole
feature maps are dropped (Tompson et al., 2015): neighbouring pixels are correlated,
and dropping them one by one would barely regularise a conv layer.

Masks come from ``juanji.random.default_generator()`` (``juanji.manual_seed`` makes
them repeatable) and are kept as booleans, never as float64 arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Function
from ..backend import xp
from ..random import default_generator
from ..tensor import Tensor
from .activation import _check_float

__all__ = ["dropout", "dropout2d"]


class Dropout(Function):
    """Multiply by a boolean keep-mask (broadcast to the input) and by 1/(1 - p)."""

    def forward(self, x: np.ndarray, p: float, mask_shape: tuple[int, ...]) -> np.ndarray:
        # Uniform draws in float32 (float64 only for float64 input): u >= p keeps a unit
        # with probability 1 - p.
        draw_dtype = np.float64 if x.dtype == np.float64 else np.float32
        keep = default_generator().random(mask_shape, dtype=draw_dtype) >= p   # mask_shape, bool
        scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
        # One multiply by the scaled mask m = keep / (1 - p) (in the input dtype) serves forward
        # and backward alike; np.where would be an order of magnitude slower.
        mask = xp.multiply(keep, x.dtype.type(scale), dtype=x.dtype)            # mask_shape
        self.save_for_backward(mask)
        return x * mask                                                           # (*)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        (mask,) = self.saved
        return (g * mask,)                                                        # (*)


def _check_p(op: str, p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: p must be a number in [0, 1], got {p!r}")
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{op}: p must be a probability in [0, 1], got {p}")
    return float(p)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p``; scale the kept ones by 1 / (1 - p).

    Args:
        input: floating-point tensor of any shape.
        p: drop probability in [0, 1]; p = 1 gives zeros.
        training: when False (or p == 0) the input is returned unchanged.
        inplace: accepted for PyTorch compatibility; juanji always returns a new tensor.

    Shape:
        (*) -> (*)

    Example:
        >>> y = F.dropout(juanji.ones(1000), p=0.25)   # each element is 0 or 4/3
        >>> F.dropout(juanji.ones(3), training=False).numpy()
        array([1., 1., 1.], dtype=float32)
    """
    p = _check_p("dropout", p)
    x = _check_float("dropout", input)
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=p, mask_shape=x.shape)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels with probability ``p``; scale the kept ones by 1 / (1 - p).

    Args:
        input: (N, C, H, W); a 3-D input is read as (N, C, L), as PyTorch does.
        p: drop probability in [0, 1].
        training: when False (or p == 0) the input is returned unchanged.
        inplace: accepted for PyTorch compatibility; ignored.

    Shape:
        (N, C, H, W) -> (N, C, H, W); the mask has shape (N, C, 1, 1).

    Example:
        >>> y = F.dropout2d(juanji.ones(2, 3, 4, 4), p=0.5)   # each 4x4 map all 0 or all 2
    """
    p = _check_p("dropout2d", p)
    x = _check_float("dropout2d", input)
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 4-D input (N, C, H, W) or 3-D (N, C, L), got shape {x.shape}")
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=p, mask_shape=x.shape[:2] + (1,) * (x.ndim - 2))
