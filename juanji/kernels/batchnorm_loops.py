"""The compiled loops of juanji/kernels/batchnorm.py (see there for the formulas).

Imported only by batchnorm._loops(), after compiled.numba() has imported numba and chosen its
threading layer. Every loop takes (A, C, B) views, channel in the middle (NCHW as (N, C, S),
batch-last as (1, C, S*N)), runs in parallel over channels, and sums each channel's values
in one fixed order with float64 accumulators, whatever the number of threads.
"""

import numpy as np
from numba import njit, prange

from .compiled import FASTMATH


@njit(parallel=True, nogil=True, cache=True, fastmath=FASTMATH)
def train_forward(x, gamma, beta, eps, y, mean, var, invstd):  # pragma: no cover - compiled
    """Batch statistics (two passes: mean, then sum((x - mean)^2)), then y = x * scale + shift
    in a third; fills y and the per-channel mean, biased var and invstd."""
    a, c, b = x.shape
    m = a * b
    for ch in prange(c):
        total = 0.0
        for i in range(a):
            row = x[i, ch]
            acc = 0.0
            for k in range(b):
                acc += row[k]
            total += acc
        mu = total / m
        total = 0.0
        for i in range(a):
            row = x[i, ch]
            acc = 0.0
            for k in range(b):
                d = row[k] - mu
                acc += d * d
            total += acc
        v = total / m
        inv = 1.0 / np.sqrt(v + eps)
        scale = inv * gamma[ch]
        shift = beta[ch] - mu * scale
        for i in range(a):
            row, out = x[i, ch], y[i, ch]
            for k in range(b):
                out[k] = row[k] * scale + shift
        mean[ch], var[ch], invstd[ch] = mu, v, inv


@njit(parallel=True, nogil=True, cache=True, fastmath=FASTMATH)
def affine(x, scale, shift, y):  # pragma: no cover - compiled
    """y = x * scale + shift per channel, one pass (evaluation mode)."""
    a, c, b = x.shape
    for ch in prange(c):
        s, t = scale[ch], shift[ch]
        for i in range(a):
            row, out = x[i, ch], y[i, ch]
            for k in range(b):
                out[k] = row[k] * s + t


@njit(parallel=True, nogil=True, cache=True, fastmath=FASTMATH)
def train_backward(dy, x, gamma, mean, invstd, dx, sum_dy, sum_dy_xhat, want_dx):  # pragma: no cover
    """sum(dy) and sum(dy * xhat) per channel in one pass over dy and x; with ``want_dx`` a
    second pass writes dx = dy * k - (x - mean) * k1 - k0 (the textbook formula, expanded)."""
    a, c, b = x.shape
    m = a * b
    for ch in prange(c):
        mu = mean[ch]
        s0 = 0.0
        s1 = 0.0
        for i in range(a):
            g, row = dy[i, ch], x[i, ch]
            acc0 = 0.0
            acc1 = 0.0
            for k in range(b):
                acc0 += g[k]
                acc1 += g[k] * (row[k] - mu)
            s0 += acc0
            s1 += acc1
        inv = invstd[ch]
        sum_dy[ch], sum_dy_xhat[ch] = s0, s1 * inv
        if want_dx:
            k = gamma[ch] * inv
            k1 = k * inv * inv * s1 / m
            k0 = k * s0 / m
            for i in range(a):
                g, row, out = dy[i, ch], x[i, ch], dx[i, ch]
                for t in range(b):
                    out[t] = g[t] * k - (row[t] - mu) * k1 - k0
