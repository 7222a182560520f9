"""Depthwise 2-D convolution (one input channel per group) as compiled loops, when numba is installed.

A depthwise convolution multiplies each input channel by its own KH x KW kernel(s):

    out[n, o, y, x] = sum_{i, j} w[o, 0, i, j] * xp[n, o // M, y*SH + i*DH, x*SW + j*DW]

with M = O / C output channels per input channel (the multiplier; 1 in Xception and
MobileNet). Through im2col that is one 1 x (KH*KW) by (KH*KW) x L product per image and
channel: a copy of KH*KW times the input for nine multiply-adds per output, which NumPy
cannot make fast (measured 4-5x PyTorch forward, 10-12x forward+backward on 64 channels at
8x56x56). The loops below do the same sums with no columns. They are an accelerator only:
juanji/functional/conv.py uses them when numba imports, and otherwise (and in the tests,
both ways) the im2col path computes the same values.

All three take the unpadded input (N, C, H, W) and the padding: the loops skip the taps that
fall on the zero border instead of reading a padded copy. They run in parallel over
independent (image, channel) planes (or weights), so no two threads write the same element
and every sum is in a fixed order.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

from . import compiled

__all__ = ["available", "forward", "backward_input", "backward_weight"]


def available() -> bool:
    """Whether the compiled depthwise kernels can run (numba installed, JUANJI_NUMBA not 0)."""
    return compiled.available()


@functools.cache
def _kernels() -> SimpleNamespace:
    """The three loops, compiled by numba on first use (and cached on disk by numba)."""
    numba = compiled.numba()
    njit, prange = numba.njit, numba.prange
    _MATH = compiled.FASTMATH

    @njit(cache=True)
    def _cols(j_off, sw, ow, width):  # pragma: no cover - compiled
        """Output columns [lo, hi) whose input column x*sw + j_off is inside [0, width):
        the zero padding is never materialised, the loops skip it."""
        lo = 0 if j_off >= 0 else (sw - 1 - j_off) // sw
        last = width - 1 - j_off
        hi = 0 if last < 0 else min(ow, last // sw + 1)
        return lo, max(lo, hi)

    @njit(parallel=True, cache=True, fastmath=_MATH)
    def _forward(x, w, bias, out, sh, sw, dh, dw, ph, pw):  # pragma: no cover - compiled
        n, o_ch, oh, ow = out.shape
        height, width = x.shape[2], x.shape[3]
        mult = o_ch // x.shape[1]
        kh, kw = w.shape[2], w.shape[3]
        for p in prange(n * o_ch):
            b, o = p // o_ch, p % o_ch
            c = o // mult
            plane = out[b, o]
            plane[:, :] = bias[o]
            for y in range(oh):
                acc = plane[y]
                for i in range(kh):
                    r = y * sh + i * dh - ph
                    if r < 0 or r >= height:
                        continue
                    row = x[b, c, r]
                    for j in range(kw):
                        j_off = j * dw - pw
                        lo, hi = _cols(j_off, sw, ow, width)
                        wv = w[o, 0, i, j]
                        if sw == 1:  # contiguous slices: the loop vectorises
                            seg, dst = row[lo + j_off: hi + j_off], acc[lo:hi]
                            for t in range(hi - lo):
                                dst[t] += wv * seg[t]
                        else:
                            for xx in range(lo, hi):
                                acc[xx] += wv * row[xx * sw + j_off]

    @njit(parallel=True, cache=True, fastmath=_MATH)
    def _backward_input(dout, w, dx, sh, sw, dh, dw, ph, pw):  # pragma: no cover - compiled
        n, o_ch, oh, ow = dout.shape
        c_ch, height, width = dx.shape[1], dx.shape[2], dx.shape[3]
        mult = o_ch // c_ch
        kh, kw = w.shape[2], w.shape[3]
        for p in prange(n * c_ch):
            b, c = p // c_ch, p % c_ch
            plane = dx[b, c]
            plane[:, :] = 0
            for o in range(c * mult, (c + 1) * mult):
                for y in range(oh):
                    g = dout[b, o, y]
                    for i in range(kh):
                        r = y * sh + i * dh - ph
                        if r < 0 or r >= height:
                            continue
                        row = plane[r]
                        for j in range(kw):
                            j_off = j * dw - pw
                            lo, hi = _cols(j_off, sw, ow, width)
                            wv = w[o, 0, i, j]
                            if sw == 1:
                                dst, src = row[lo + j_off: hi + j_off], g[lo:hi]
                                for t in range(hi - lo):
                                    dst[t] += wv * src[t]
                            else:
                                for xx in range(lo, hi):
                                    row[xx * sw + j_off] += wv * g[xx]

    @njit(parallel=True, cache=True, fastmath=_MATH)
    def _backward_weight(dout, x, dw_out, sh, sw, dh, dw, ph, pw):  # pragma: no cover - compiled
        n, o_ch, oh, ow = dout.shape
        height, width = x.shape[2], x.shape[3]
        mult = o_ch // x.shape[1]
        kh, kw = dw_out.shape[2], dw_out.shape[3]
        for o in prange(o_ch):
            c = o // mult
            for i in range(kh):
                for j in range(kw):
                    j_off = j * dw - pw
                    lo, hi = _cols(j_off, sw, ow, width)
                    acc = 0.0
                    for b in range(n):
                        for y in range(oh):
                            r = y * sh + i * dh - ph
                            if r < 0 or r >= height:
                                continue
                            g, row = dout[b, o, y], x[b, c, r]
                            if sw == 1:
                                src, seg = g[lo:hi], row[lo + j_off: hi + j_off]
                                for t in range(hi - lo):
                                    acc += src[t] * seg[t]
                            else:
                                for xx in range(lo, hi):
                                    acc += g[xx] * row[xx * sw + j_off]
                    dw_out[o, 0, i, j] = acc

    return SimpleNamespace(forward=_forward, backward_input=_backward_input, backward_weight=_backward_weight)


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, out: np.ndarray, stride: tuple[int, int],
            padding: tuple[tuple[int, int], ...], dilation: tuple[int, int]) -> np.ndarray:
    """(N, C, H, W) input (unpadded: the loops skip the zero border), (O, 1, KH, KW) weight,
    optional (O,) bias -> fills ``out`` (N, O, OH, OW), C-contiguous; returns it."""
    compiled.follow_threads()
    bias = np.zeros(w.shape[0], dtype=x.dtype) if b is None else np.ascontiguousarray(b)
    with compiled.lock:
        _kernels().forward(np.ascontiguousarray(x), np.ascontiguousarray(w), bias, out, *stride, *dilation,
                           padding[0][0], padding[1][0])
    return out


def backward_input(dout: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...], stride: tuple[int, int],
                   padding: tuple[tuple[int, int], ...], dilation: tuple[int, int]) -> np.ndarray:
    """Gradient of the (unpadded) input, (N, C, H, W), contiguous."""
    compiled.follow_threads()
    dx = np.empty(x_shape, dtype=dout.dtype)
    with compiled.lock:
        _kernels().backward_input(np.ascontiguousarray(dout), np.ascontiguousarray(w), dx, *stride, *dilation,
                                  padding[0][0], padding[1][0])
    return dx


def backward_weight(dout: np.ndarray, x: np.ndarray, w_shape: tuple[int, ...], stride: tuple[int, int],
                    padding: tuple[tuple[int, int], ...], dilation: tuple[int, int]) -> np.ndarray:
    """Gradient of the (O, 1, KH, KW) weight, summed over the batch in a fixed order."""
    compiled.follow_threads()
    dw = np.empty(w_shape, dtype=dout.dtype)
    with compiled.lock:
        _kernels().backward_weight(np.ascontiguousarray(dout), np.ascontiguousarray(x), dw, *stride, *dilation,
                                   padding[0][0], padding[1][0])
    return dw
