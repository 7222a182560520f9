"""Batch norm's passes over the activations as compiled loops, when numba is installed.

Per channel, over its m values (N and the spatial positions):

    mean = sum(x) / m,   var = sum((x - mean)^2) / m,   invstd = 1 / sqrt(var + eps)
    y = x * scale + shift,   scale = gamma * invstd,   shift = beta - mean * scale
    dx = dy * gamma * invstd - (x - mean) * gamma * invstd^3 * sum(dy * (x - mean)) / m
         - gamma * invstd * sum(dy) / m

NumPy writes each of these as its own pass over the (N, C, *spatial) array, ten or so for a
training step's forward and backward, where the loops need five: two reads for the
statistics and one read-and-write for y, then one read of dy and x for both sums and one
read-and-write for dx (bench/NOTES.md, "Changes kept": batch norm fused in compiled loops,
has the timings against NumPy and PyTorch). juanji/functional/norm.py uses them when
numba imports; otherwise, and in the tests both ways, its NumPy path computes the same values.
"""

from __future__ import annotations

import functools
from types import ModuleType

import numpy as np

from ..backend import xp
from . import compiled
from .layout import from_batch_last, is_batch_last, to_batch_last

__all__ = ["usable", "train_forward", "affine", "train_backward"]


def usable(x: np.ndarray) -> bool:
    """Whether x (N, C, *spatial) can go through the loops: float32 or float64, numba installed."""
    return x.dtype in (np.float32, np.float64) and x.ndim >= 2 and compiled.available()


@functools.cache
def _loops() -> ModuleType:
    compiled.numba()  # imports numba and picks its threading layer before the loops import it
    from . import batchnorm_loops
    return batchnorm_loops


def _channel_view(a: np.ndarray, batch_last: bool) -> np.ndarray:
    """(A, C, B) view of an (N, C, *spatial) array, C-contiguous: (N, C, S) for NCHW storage,
    (1, C, S*N) for batch-last storage (made so with one copy if ``a`` is stored otherwise)."""
    if batch_last:
        t = to_batch_last(a)  # (C, *spatial, N)
        return t.reshape(1, t.shape[0], -1)
    return xp.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def _like(x: np.ndarray, batch_last: bool) -> tuple[np.ndarray, np.ndarray]:
    """An uninitialised array shaped and stored like x, with its (A, C, B) view."""
    if batch_last:
        t = xp.empty((*x.shape[1:], x.shape[0]), dtype=x.dtype)
        return from_batch_last(t), t.reshape(1, t.shape[0], -1)
    out = xp.empty(x.shape, dtype=x.dtype)
    return out, out.reshape(x.shape[0], x.shape[1], -1)


def _per_channel(v: np.ndarray | None, c: int, fill: float, dtype: np.dtype) -> np.ndarray:
    return np.full(c, fill, dtype=dtype) if v is None else np.ascontiguousarray(v, dtype=dtype)


def train_forward(x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
                  eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(y, mean, biased var, invstd) of a training-mode batch norm; y is stored like x
    (batch-last stays batch-last), the statistics are (C,) in x's dtype."""
    c = x.shape[1]
    batch_last = is_batch_last(x)
    y, y3 = _like(x, batch_last)
    mean, var, invstd = (np.empty(c, dtype=x.dtype) for _ in range(3))
    with compiled.lock:
        _loops().train_forward(_channel_view(x, batch_last), _per_channel(gamma, c, 1.0, x.dtype),
                               _per_channel(beta, c, 0.0, x.dtype), float(eps), y3, mean, var, invstd)
    return y, mean, var, invstd


def affine(x: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """y = x * scale + shift per channel ((C,) each), stored like x, in one pass."""
    batch_last = is_batch_last(x)
    y, y3 = _like(x, batch_last)
    c = x.shape[1]
    with compiled.lock:
        _loops().affine(_channel_view(x, batch_last), _per_channel(scale, c, 1.0, x.dtype),
                        _per_channel(shift, c, 0.0, x.dtype), y3)
    return y


def train_backward(dy: np.ndarray, x: np.ndarray, gamma: np.ndarray | None, mean: np.ndarray,
                   invstd: np.ndarray, want_dx: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(dx or None, sum(dy * xhat), sum(dy)) of a training-mode batch norm, given the
    forward's mean and invstd; dx is stored like x, dy is read in x's storage order (one
    copy when it comes in the other)."""
    c = x.shape[1]
    batch_last = is_batch_last(x)
    dx, dx3 = _like(x, batch_last) if want_dx else (None, np.empty((1, c, 1), dtype=x.dtype))
    sum_dy, sum_dy_xhat = np.empty(c, dtype=x.dtype), np.empty(c, dtype=x.dtype)
    with compiled.lock:
        _loops().train_backward(_channel_view(dy.astype(x.dtype, copy=False), batch_last),
                                _channel_view(x, batch_last), _per_channel(gamma, c, 1.0, x.dtype),
                                np.ascontiguousarray(mean), np.ascontiguousarray(invstd), dx3, sum_dy,
                                sum_dy_xhat, bool(want_dx))
    return dx, sum_dy_xhat, sum_dy
