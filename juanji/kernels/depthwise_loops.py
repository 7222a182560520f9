"""The compiled loops of juanji/kernels/depthwise.py (see there for the formula).

Imported only by depthwise._kernels(), after compiled.numba() has imported numba and chosen
its threading layer. The loops live at module level, not in a closure, because numba's disk
cache keys a closure's entries on its captured variables: a captured dispatcher (``span``)
pickles with a per-process id, so every process compiled all three loops again (~5 s) and
added ~1 MB to the cache (343 entries for the forward loop after a day of tests).
"""

import numpy as np
from numba import njit, prange

from .compiled import FASTMATH
from .loop_helpers import span


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def forward(x, w, bias, out, sh, sw, dh, dw, ph, pw):  # pragma: no cover - compiled
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
                    lo, hi = span(j_off, sw, ow, width)
                    wv = w[o, 0, i, j]
                    if sw == 1:  # contiguous slices: the loop vectorises
                        seg, dst = row[lo + j_off: hi + j_off], acc[lo:hi]
                        for t in range(hi - lo):
                            dst[t] += wv * seg[t]
                    else:
                        for xx in range(lo, hi):
                            acc[xx] += wv * row[xx * sw + j_off]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def backward_input(dout, w, dx, sh, sw, dh, dw, ph, pw):  # pragma: no cover - compiled
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
                        lo, hi = span(j_off, sw, ow, width)
                        wv = w[o, 0, i, j]
                        if sw == 1:
                            dst, src = row[lo + j_off: hi + j_off], g[lo:hi]
                            for t in range(hi - lo):
                                dst[t] += wv * src[t]
                        else:
                            for xx in range(lo, hi):
                                row[xx * sw + j_off] += wv * g[xx]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def backward_weight(dout, x, dw_out, sh, sw, dh, dw, ph, pw):  # pragma: no cover - compiled
    """dW[o, 0, i, j] = sum over images and output rows of the row dot products
    dout[b, o, y] . x[b, c, y*SH + i*DH - PH, shifted by j]: each output-gradient row is read
    once for all KH*KW taps (in L1), instead of once per tap (3x3, toggled in one process:
    0.71x on 8x64x56x56, 2.4 -> 1.7 ms; 0.77x on 4x128x75x75; 0.82x on 64x32x32x32), the taps'
    sums kept in float64 and added in one fixed order."""
    n, o_ch, oh, ow = dout.shape
    height, width = x.shape[2], x.shape[3]
    mult = o_ch // x.shape[1]
    kh, kw = dw_out.shape[2], dw_out.shape[3]
    for o in prange(o_ch):
        c = o // mult
        acc = np.zeros((kh, kw))
        for b in range(n):
            for y in range(oh):
                g = dout[b, o, y]
                for i in range(kh):
                    r = y * sh + i * dh - ph
                    if r < 0 or r >= height:
                        continue
                    row = x[b, c, r]
                    for j in range(kw):
                        j_off = j * dw - pw
                        lo, hi = span(j_off, sw, ow, width)
                        s = 0.0
                        if sw == 1:
                            src, seg = g[lo:hi], row[lo + j_off: hi + j_off]
                            for t in range(hi - lo):
                                s += src[t] * seg[t]
                        else:
                            for xx in range(lo, hi):
                                s += g[xx] * row[xx * sw + j_off]
                        acc[i, j] += s
        for i in range(kh):
            for j in range(kw):
                dw_out[o, 0, i, j] = acc[i, j]
