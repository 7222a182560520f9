"""The compiled loops of juanji/kernels/maxpool.py (see there for the rule they follow).

Imported only by maxpool._loops(), after compiled.numba() has imported numba and chosen its
threading layer. Two layouts: planes (P, H, W), an NCHW input's N*C planes, vectorised
along the output columns; and batch-last (P, H, W, Q), a (C, H, W, N) input, vectorised
along the batch. Each output row keeps its running maximum and arg-max in the output
arrays themselves and is updated tap by tap with selects, not branches (on random data the
t-th tap beats the running maximum of the t - 1 before it with chance 1/t, 1/2 for the
second, so such a branch mispredicts often; bench/NOTES.md, "Changes kept": 2-D max pooling
on compiled loops). Parallel over
planes; no two threads write the same element, and the backward adds into a plane in one
fixed order.
"""

import numpy as np
from numba import njit, prange

from .loop_helpers import span


@njit(cache=True, inline="always")
def _wins(v, m, a, none):  # pragma: no cover - compiled
    """Whether tap value v takes over from the running maximum m (arg-max a): PyTorch's rule,
    greater or NaN, and the first tap inside the input (a still ``none``) always."""
    return (v > m) | (v != v) | (a == none)


@njit(cache=True)
def _tap_offsets(kh, kw, dh, dw):  # pragma: no cover - compiled
    """Row and column offset of each window tap i*KW + j: (i*DH, j*DW), looked up instead of a
    division by KW per gradient element."""
    rows = np.empty(kh * kw, dtype=np.int64)
    cols = np.empty(kh * kw, dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            rows[i * kw + j], cols[i * kw + j] = i * dh, j * dw
    return rows, cols


@njit(parallel=True, nogil=True, cache=True)
def forward_planes(x, kh, kw, sh, sw, dh, dw, pt, pl, out, arg):  # pragma: no cover - compiled
    """x (P, H, W) -> out, arg (P, OH, OW); arg is the window offset i*KW + j of the maximum,
    KH*KW where no tap of the window lies inside the input."""
    planes, height, width = x.shape
    oh, ow = out.shape[1], out.shape[2]
    none = kh * kw
    for p in prange(planes):
        for y in range(oh):
            m, a = out[p, y], arg[p, y]
            m[:] = -np.inf
            a[:] = none
            for i in range(kh):
                r = y * sh - pt + i * dh
                if r < 0 or r >= height:
                    continue
                row = x[p, r]
                for j in range(kw):
                    off = j * dw - pl
                    lo, hi = span(off, sw, ow, width)
                    idx = i * kw + j
                    if sw == 1:  # contiguous slices: the loop vectorises
                        seg, ms, as_ = row[lo + off: hi + off], m[lo:hi], a[lo:hi]
                        for t in range(hi - lo):
                            v, mt, at = seg[t], ms[t], as_[t]
                            take = _wins(v, mt, at, none)
                            ms[t] = v if take else mt
                            as_[t] = idx if take else at
                    else:
                        for t in range(lo, hi):
                            v, mt, at = row[t * sw + off], m[t], a[t]
                            take = _wins(v, mt, at, none)
                            m[t] = v if take else mt
                            a[t] = idx if take else at


@njit(parallel=True, nogil=True, cache=True)
def forward_batch_last(x, kh, kw, sh, sw, dh, dw, pt, pl, out, arg):  # pragma: no cover - compiled
    """x (P, H, W, Q) -> out, arg (P, OH, OW, Q), as forward_planes."""
    planes, height, width, q_len = x.shape
    oh, ow = out.shape[1], out.shape[2]
    none = kh * kw
    for p in prange(planes):
        for y in range(oh):
            m, a = out[p, y], arg[p, y]
            m[:, :] = -np.inf
            a[:, :] = none
            for i in range(kh):
                r = y * sh - pt + i * dh
                if r < 0 or r >= height:
                    continue
                for j in range(kw):
                    off = j * dw - pl
                    lo, hi = span(off, sw, ow, width)
                    idx = i * kw + j
                    for t in range(lo, hi):
                        src, mt, at = x[p, r, t * sw + off], m[t], a[t]
                        for q in range(q_len):
                            v, mq, aq = src[q], mt[q], at[q]
                            take = _wins(v, mq, aq, none)
                            mt[q] = v if take else mq
                            at[q] = idx if take else aq


@njit(parallel=True, nogil=True, cache=True)
def backward_planes(g, arg, kh, kw, sh, sw, dh, dw, pt, pl, dx):  # pragma: no cover - compiled
    """dx (P, H, W) = zeros, then dx[window's arg-max] += g for every window, in output order."""
    planes, oh, ow = g.shape
    rows, cols = _tap_offsets(kh, kw, dh, dw)
    for p in prange(planes):
        plane = dx[p]
        plane[:, :] = 0
        for y in range(oh):
            gr, ar = g[p, y], arg[p, y]
            for t in range(ow):
                a = ar[t]
                if a < kh * kw:
                    plane[y * sh - pt + rows[a], t * sw - pl + cols[a]] += gr[t]


@njit(parallel=True, nogil=True, cache=True)
def backward_batch_last(g, arg, kh, kw, sh, sw, dh, dw, pt, pl, dx):  # pragma: no cover - compiled
    """dx (P, H, W, Q) from g, arg (P, OH, OW, Q), as backward_planes."""
    planes, oh, ow, q_len = g.shape
    rows, cols = _tap_offsets(kh, kw, dh, dw)
    for p in prange(planes):
        plane = dx[p]
        plane[:, :, :] = 0
        for y in range(oh):
            for t in range(ow):
                for q in range(q_len):
                    a = arg[p, y, t, q]
                    if a < kh * kw:
                        plane[y * sh - pt + rows[a], t * sw - pl + cols[a], q] += g[p, y, t, q]


@njit(parallel=True, nogil=True, cache=True)
def backward_tiles_batch_last(g, arg, kh, kw, dx):  # pragma: no cover - compiled
    """dx (P, H, W, Q) of windows that tile the input (stride = kernel, no padding or
    dilation): every element of dx lies in at most one window, so it is written once, g where
    it is the window's arg-max and 0 elsewhere (and 0 in the rows and columns no window
    reaches), with no zeroing pass and no scatter."""
    planes, oh, ow, q_len = g.shape
    height, width = dx.shape[1], dx.shape[2]
    for p in prange(planes):
        for y in range(oh):
            for i in range(kh):
                r = y * kh + i
                for t in range(ow):
                    gt, at = g[p, y, t], arg[p, y, t]
                    for j in range(kw):
                        idx = i * kw + j
                        out = dx[p, r, t * kw + j]
                        for q in range(q_len):
                            out[q] = gt[q] if at[q] == idx else 0.0
                for c in range(ow * kw, width):
                    dx[p, r, c] = 0.0
        for r in range(oh * kh, height):
            dx[p, r] = 0.0
