"""Fully connected (affine) layer: y = x W^T + b, forward and backward.

Shape legend:
    N     rows of the GEMM: the product of all leading dims of the input (*)
    IN    input features (last dim of the input, second dim of the weight)
    OUT   output features (first dim of the weight, length of the bias)

The weight is stored (OUT, IN) as in PyTorch, so a state_dict moves over unchanged.
x W^T multiplies by ``weight.T``, a strided view, never a transposed copy: the GEMM
routine reads the transpose directly.

Backward, with G = dL/dy of shape (N, OUT):
    dL/dx = G W          (N, OUT) @ (OUT, IN)
    dL/dW = G^T x        (OUT, N) @ (N, IN)
    dL/db = sum_n G[n]   (OUT,)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd import Function
from ..kernels import blas
from ..tensor import Tensor

__all__ = ["linear"]


class Linear(Function):
    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        lead = x.shape[:-1]
        # N spelled out, not -1: with IN = 0 (nn.Linear(0, k), as PyTorch allows) -1 is ambiguous.
        x2 = x.reshape(math.prod(lead), x.shape[-1])      # (N, IN), a view when x is contiguous
        out = blas.matmul(x2, w.T)                        # (N, OUT), one GEMM
        if b is not None:
            out += b                                      # (N, OUT), in place on a fresh array
        # dL/dW needs x, dL/dx needs W: keep only what will be used.
        self.save_for_backward(x2 if self.needs_input_grad[1] else None,
                               w if self.needs_input_grad[0] else None, x.shape)
        return out.reshape(lead + (w.shape[0],))          # (*, OUT)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x2, w, x_shape = self.saved
        g2 = g.reshape(math.prod(g.shape[:-1]), g.shape[-1])  # (N, OUT); N spelled out as in forward
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            gx = blas.matmul(g2, w).reshape(x_shape)      # (*, IN)
        if self.needs_input_grad[1]:
            gw = blas.matmul(g2.T, x2)                    # (OUT, IN)
        if self.needs_input_grad[2]:
            gb = g2.sum(axis=0)                           # (OUT,)
        return gx, gw, gb


def _check_linear(x: Any, weight: Any, bias: Any) -> None:
    for name, t in (("input", x), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"linear: {name} must be a juanji.Tensor, got {type(t).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"linear: bias must be a juanji.Tensor or None, got {type(bias).__name__}")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if x.ndim == 0:
        raise ValueError("linear: input must have at least 1 dim (*, in_features), got a 0-d tensor")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input has {x.shape[-1]} features (input shape {x.shape}) but weight expects "
            f"{weight.shape[1]} (weight shape {weight.shape})"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(
            f"linear: bias must have shape ({weight.shape[0]},) to match weight shape {weight.shape}, "
            f"got {bias.shape}"
        )
    for name, t in (("input", x), ("weight", weight), ("bias", bias)):
        if t is not None and t.dtype.kind != "f":
            raise TypeError(f"linear: {name} must be floating point, got dtype {t.dtype}")
    dtypes = {t.dtype for t in (x, weight, bias) if t is not None}
    if len(dtypes) > 1:
        got = ", ".join(f"{n} {t.dtype}" for n, t in (("input", x), ("weight", weight), ("bias", bias))
                        if t is not None)
        raise TypeError(f"linear: input, weight and bias must share one dtype, got {got}")


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map y = x W^T + b over the last dim.

    Args:
        input: tensor (*, in_features); any number of leading dims, including none.
        weight: (out_features, in_features), PyTorch's layout.
        bias: optional (out_features,).

    Shape:
        (*, IN) -> (*, OUT)

    Example:
        >>> x, w = juanji.ones(2, 3), juanji.ones(4, 3)
        >>> F.linear(x, w).shape
        (2, 4)
    """
    _check_linear(input, weight, bias)
    return Linear.apply(input, weight, bias)
