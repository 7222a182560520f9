"""Tensor arithmetic, reductions, indexing and shape ops: forward and backward side by side.

Broadcasting: an op on shapes (N, C, H, W) and (C, 1, 1) broadcasts in forward, so in
backward the gradient of the smaller operand is summed over the broadcast axes
(``unbroadcast``) to give back exactly its shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .autograd import Function
from .backend import xp
from .kernels.layout import from_batch_last, is_batch_last, to_batch_last


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes along which an array of ``shape`` was broadcast."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, s in enumerate(shape) if s == 1 and grad.shape[extra + i] != 1
    )
    g = grad.sum(axis=axes, keepdims=True) if axes else grad
    return g.reshape(shape)


def _shape_of(x: Any) -> tuple[int, ...]:
    return np.shape(x)


def _check_broadcast(op: str, a: np.ndarray, b: np.ndarray) -> None:
    try:
        np.broadcast_shapes(np.shape(a), np.shape(b))
    except ValueError:
        raise ValueError(
            f"{op}: shapes {np.shape(a)} and {np.shape(b)} cannot be broadcast together"
        ) from None


class Add(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _check_broadcast("add", a, b)
        self.save_for_backward(_shape_of(a), _shape_of(b))
        return a + b

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sa, sb = self.saved
        return unbroadcast(g, sa), unbroadcast(g, sb)


class Sub(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _check_broadcast("sub", a, b)
        self.save_for_backward(_shape_of(a), _shape_of(b))
        return a - b

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sa, sb = self.saved
        return unbroadcast(g, sa), unbroadcast(-g, sb)


class Mul(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _check_broadcast("mul", a, b)
        self.save_for_backward(a, b)
        return a * b

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        a, b = self.saved
        ga = unbroadcast(g * b, np.shape(a)) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * a, np.shape(b)) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _check_broadcast("div", a, b)
        self.save_for_backward(a, b)
        return a / b

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        a, b = self.saved
        # d(a/b)/da = 1/b ; d(a/b)/db = -a/b^2
        ga = unbroadcast(g / b, np.shape(a)) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g * a / (b * b), np.shape(b)) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        return -a

    def backward(self, g: np.ndarray) -> np.ndarray:
        return -g


class PowScalar(Function):
    def forward(self, a: np.ndarray, exponent: float) -> np.ndarray:
        self.save_for_backward(a, exponent)
        return a ** xp.asarray(exponent, dtype=a.dtype) if a.dtype.kind == "f" else a ** exponent

    def backward(self, g: np.ndarray) -> np.ndarray:
        a, p = self.saved
        # d(a^p)/da = p a^(p-1)
        return g * (p * a ** (p - 1)).astype(a.dtype, copy=False)


class Pow(Function):
    """Elementwise a ** b with both operands tensors."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _check_broadcast("pow", a, b)
        out = a ** b
        self.save_for_backward(a, b, out)
        return out

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        a, b, out = self.saved
        # d(a^b)/da = b a^(b-1) ; d(a^b)/db = a^b ln a (defined where a > 0)
        ga = unbroadcast(g * b * a ** (b - 1), np.shape(a)) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0).astype(out.dtype)
            gb = unbroadcast(g * out * log_a, np.shape(b))
        return ga, gb


class MatMul(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dim, got shapes {a.shape} and {b.shape}")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                             f"({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]})")
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        a, b = self.saved
        # Promote 1-D operands to matrices so one formula covers every case:
        # C = A B  =>  dA = dC B^T,  dB = A^T dC, then un-broadcast the batch dims.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = g2 @ xp.swapaxes(b2, -1, -2)
            ga = unbroadcast(ga, a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = xp.swapaxes(a2, -1, -2) @ g2
            gb = unbroadcast(gb, b2.shape).reshape(b.shape)
        return ga, gb


class Exp(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        out = xp.exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        (out,) = self.saved
        return g * out


class Log(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        self.save_for_backward(a)
        return xp.log(a)

    def backward(self, g: np.ndarray) -> np.ndarray:
        (a,) = self.saved
        return g / a


class Sqrt(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        out = xp.sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        (out,) = self.saved
        return g / (2 * out)


class Abs(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        self.save_for_backward(a)
        return xp.abs(a)

    def backward(self, g: np.ndarray) -> np.ndarray:
        (a,) = self.saved
        return g * xp.sign(a)


class Clip(Function):
    def forward(self, a: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
        if lo is None and hi is None:
            raise ValueError("clip: at least one of min and max must be given")
        out = xp.clip(a, lo, hi)
        # The gradient passes where the value was not clipped (PyTorch: inclusive bounds).
        mask = xp.ones(a.shape, dtype=bool)
        if lo is not None:
            mask &= a >= lo
        if hi is not None:
            mask &= a <= hi
        self.save_for_backward(mask)
        return out.astype(a.dtype, copy=False)

    def backward(self, g: np.ndarray) -> np.ndarray:
        (mask,) = self.saved
        return g * mask


class Cast(Function):
    def forward(self, a: np.ndarray, dtype: np.dtype) -> np.ndarray:
        self.save_for_backward(a.dtype)
        return a.astype(dtype)

    def backward(self, g: np.ndarray) -> np.ndarray:
        (dtype,) = self.saved
        return g.astype(dtype)


class Clone(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        return a.copy()

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g


class Sum(Function):
    def forward(self, a: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
        self.save_for_backward(a.shape, axis, keepdims)
        return xp.asarray(a.sum(axis=axis, keepdims=keepdims))

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, axis, keepdims = self.saved
        if axis is not None and not keepdims:
            g = xp.expand_dims(g, axis)
        return xp.broadcast_to(g, shape)


class Mean(Function):
    def forward(self, a: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
        count = a.size if axis is None else int(np.prod([a.shape[i] for i in axis]))
        self.save_for_backward(a.shape, axis, keepdims, count)
        return xp.asarray(a.mean(axis=axis, keepdims=keepdims), dtype=a.dtype)

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, axis, keepdims, count = self.saved
        if axis is not None and not keepdims:
            g = xp.expand_dims(g, axis)
        return xp.broadcast_to(g / xp.asarray(count, dtype=g.dtype), shape)


class Max(Function):
    """Maximum over ``axis``; the gradient is shared equally among tied maxima."""

    def forward(self, a: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
        if a.size == 0:
            raise ValueError(f"max: cannot reduce an empty tensor of shape {a.shape}")
        out = a.max(axis=axis, keepdims=True)
        self.save_for_backward(a, out, axis, keepdims)
        return xp.asarray(out if keepdims else (out.reshape(()) if axis is None else out.squeeze(axis)))

    def backward(self, g: np.ndarray) -> np.ndarray:
        a, out, axis, keepdims = self.saved
        if axis is None:
            g = g.reshape((1,) * a.ndim)
        elif not keepdims:
            g = xp.expand_dims(g, axis)
        mask = a == out
        count = mask.sum(axis=axis, keepdims=True)
        return (mask * (g / count)).astype(a.dtype, copy=False)


class Reshape(Function):
    def forward(self, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        try:
            out = a.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {a.shape} ({a.size} elements) into {shape}"
            ) from None
        self.save_for_backward(a.shape, is_batch_last(a))
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, batch_last = self.saved
        g = g.reshape(shape)
        # The gradient in the input's memory layout (kernels/layout.py): the ops before a
        # flatten then multiply like-ordered arrays.
        return from_batch_last(to_batch_last(g)) if batch_last else g


class Transpose(Function):
    def forward(self, a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        self.save_for_backward(axes)
        return a.transpose(axes)

    def backward(self, g: np.ndarray) -> np.ndarray:
        (axes,) = self.saved
        return g.transpose(np.argsort(axes))


class BroadcastTo(Function):
    def forward(self, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        shape = tuple(a.shape[i - (len(shape) - a.ndim)] if s == -1 else s for i, s in enumerate(shape))
        try:
            out = xp.broadcast_to(a, shape)
        except ValueError:
            raise ValueError(f"expand: cannot expand shape {a.shape} to {shape}") from None
        self.save_for_backward(a.shape)
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        (shape,) = self.saved
        return unbroadcast(g, shape)


class GetItem(Function):
    """Indexing and slicing; backward scatters the gradient into a zero array.

    Advanced (integer-array) indices may repeat an element, so the scatter uses
    ``np.add.at``, which accumulates repeats; plain slices use a direct assignment.
    """

    def forward(self, a: np.ndarray, index: Any) -> np.ndarray:
        try:
            out = a[index]
        except IndexError as e:
            raise IndexError(f"getitem: {e} (tensor shape {a.shape})") from None
        self.save_for_backward(a.shape, a.dtype, index)
        return xp.asarray(out)

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, dtype, index = self.saved
        grad = xp.zeros(shape, dtype=dtype)
        if _is_basic_index(index):
            grad[index] = g
        else:
            xp.add.at(grad, index, g)
        return grad


def _is_basic_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items
    )
