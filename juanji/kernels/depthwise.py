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

All three take the zero-padded input ``xp`` (N, C, HP, WP), C-contiguous, and the output
geometry; the loops run in parallel over independent (image, channel) planes, so no two
threads write the same element and the sums are in a fixed order.
"""

from __future__ import annotations

import functools
import os
from types import SimpleNamespace
from typing import Any

import numpy as np

__all__ = ["available", "forward", "backward_input", "backward_weight"]


@functools.cache
def _numba() -> Any:
    """numba, imported on the first depthwise call (it adds ~0.15 s to an import), or None."""
    if os.environ.get("JUANJI_NUMBA", "1") == "0":
        return None
    try:
        import numba
    except ImportError:  # numba is optional: the NumPy path is always there
        return None
    return numba


def available() -> bool:
    """Whether the compiled depthwise kernels can run (numba installed, JUANJI_NUMBA not 0)."""
    return _numba() is not None


@functools.cache
def _kernels() -> SimpleNamespace:
    """The three loops, compiled by numba on first use (and cached on disk by numba)."""
    numba = _numba()
    njit, prange = numba.njit, numba.prange

    # reassoc lets LLVM vectorise the sums; NaN and inf keep their IEEE meaning (no 'fast').
    _MATH = {"reassoc", "contract"}

    @njit(parallel=True, cache=True, fastmath=_MATH)
    def _forward(xp, w, out, sh, sw, dh, dw):  # pragma: no cover - compiled
        n, o_ch, oh, ow = out.shape
        mult = o_ch // xp.shape[1]
        kh, kw = w.shape[2], w.shape[3]
        for p in prange(n * o_ch):
            b, o = p // o_ch, p % o_ch
            c = o // mult
            plane = out[b, o]
            plane[:, :] = 0
            for y in range(oh):
                acc = plane[y]
                for i in range(kh):
                    row = xp[b, c, y * sh + i * dh]
                    for j in range(kw):
                        wv = w[o, 0, i, j]
                        if sw == 1:  # a contiguous slice: the loop vectorises
                            seg = row[j * dw: j * dw + ow]
                            for x in range(ow):
                                acc[x] += wv * seg[x]
                        else:
                            for x in range(ow):
                                acc[x] += wv * row[x * sw + j * dw]

    @njit(parallel=True, cache=True, fastmath=_MATH)
    def _backward_input(dout, w, dxp, sh, sw, dh, dw):  # pragma: no cover - compiled
        n, o_ch, oh, ow = dout.shape
        c_ch = dxp.shape[1]
        mult = o_ch // c_ch
        kh, kw = w.shape[2], w.shape[3]
        for p in prange(n * c_ch):
            b, c = p // c_ch, p % c_ch
            plane = dxp[b, c]
            plane[:, :] = 0
            for o in range(c * mult, (c + 1) * mult):
                for y in range(oh):
                    g = dout[b, o, y]
                    for i in range(kh):
                        row = plane[y * sh + i * dh]
                        for j in range(kw):
                            wv = w[o, 0, i, j]
                            if sw == 1:
                                seg = row[j * dw: j * dw + ow]
                                for x in range(ow):
                                    seg[x] += wv * g[x]
                            else:
                                for x in range(ow):
                                    row[x * sw + j * dw] += wv * g[x]

    @njit(parallel=True, cache=True, fastmath=_MATH)
    def _backward_weight(dout, xp, dw_out, sh, sw, dh, dw):  # pragma: no cover - compiled
        n, o_ch, oh, ow = dout.shape
        mult = o_ch // xp.shape[1]
        kh, kw = dw_out.shape[2], dw_out.shape[3]
        for o in prange(o_ch):
            c = o // mult
            for i in range(kh):
                for j in range(kw):
                    acc = 0.0
                    for b in range(n):
                        for y in range(oh):
                            g = dout[b, o, y]
                            row = xp[b, c, y * sh + i * dh]
                            if sw == 1:
                                seg = row[j * dw: j * dw + ow]
                                for x in range(ow):
                                    acc += g[x] * seg[x]
                            else:
                                for x in range(ow):
                                    acc += g[x] * row[x * sw + j * dw]
                    dw_out[o, 0, i, j] = acc

    return SimpleNamespace(forward=_forward, backward_input=_backward_input, backward_weight=_backward_weight)


def _threads() -> None:
    """Follow juanji's thread setting (the BLAS pool size) in numba's own pool."""
    from ..threads import get_num_threads
    numba = _numba()
    numba.set_num_threads(max(1, min(get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


def forward(xp: np.ndarray, w: np.ndarray, out: np.ndarray, stride: tuple[int, int],
            dilation: tuple[int, int]) -> np.ndarray:
    """(N, C, HP, WP) padded input, (O, 1, KH, KW) weight -> fills ``out`` (N, O, OH, OW)
    (C-contiguous), no bias; returns it."""
    _threads()
    _kernels().forward(np.ascontiguousarray(xp), np.ascontiguousarray(w), out, *stride, *dilation)
    return out


def backward_input(dout: np.ndarray, w: np.ndarray, padded_shape: tuple[int, ...],
                   stride: tuple[int, int], dilation: tuple[int, int]) -> np.ndarray:
    """Gradient of the padded input, (N, C, HP, WP); pixels no window reads get 0."""
    _threads()
    dxp = np.empty(padded_shape, dtype=dout.dtype)
    _kernels().backward_input(np.ascontiguousarray(dout), np.ascontiguousarray(w), dxp, *stride, *dilation)
    return dxp


def backward_weight(dout: np.ndarray, xp: np.ndarray, w_shape: tuple[int, ...],
                    stride: tuple[int, int], dilation: tuple[int, int]) -> np.ndarray:
    """Gradient of the (O, 1, KH, KW) weight, summed over the batch in a fixed order."""
    _threads()
    dw = np.empty(w_shape, dtype=dout.dtype)
    _kernels().backward_weight(np.ascontiguousarray(dout), np.ascontiguousarray(xp), dw, *stride, *dilation)
    return dw
