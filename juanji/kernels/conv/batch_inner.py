"""Route "batch_inner": the backward's products with the batch inside the columns (NCHW).

After a per-image (NCHW) forward, the im2col route's dW is N products of (Og, L) by
(L, Cg*K) and an (N, Og, Cg*K) intermediate summed over the images. With the images of a
chunk side by side in the columns,

    cols_t[(c, i, j), (n, y, x)] = xp[n, c, y*SH + i*DH, x*SW + j*DW]      (C*K, m*L)
    dW[g]    += dout_t[g] (Og, m*L) @ cols_t[g]^T (m*L, Cg*K)
    dcols_t   = W[g]^T (Cg*K, Og) @ dout_t[g] (Og, m*L)  ->  col2im into dx

dW is one long sum over m*L per chunk and no per-image intermediate, which pays when Cg*K is
wide (64 -> 64 3x3: 576); with a thin one (a first layer, 1 -> 30 5x5: 25) the per-image
products measured faster (the planner's ``batch_inner_min_cgk``). The columns (for dW) and
then the column gradient (for dx) of a chunk share one reused buffer of at most
th.cols_budget_bytes, each consumed while in cache; a chunk holds at least
th.min_dw_positions positions so the sum stays long.
"""

from __future__ import annotations

import math

import numpy as np

from .. import blas
from ..im2col import col2im_batch_inner, im2col_batch_inner
from .geometry import Geometry
from .route import OnePassRoute, batch_chunk, padded_buffer, padded_chunk

__all__ = ["BatchInner", "BATCH_INNER"]


class BatchInner(OnePassRoute):
    name = "batch_inner"
    layouts = ("nchw",)
    directions = ("dw", "dx")

    def _chunk(self, geom: Geometry, th) -> int:
        rows = geom.c * geom.taps  # C*K
        return batch_chunk(geom.n, rows * geom.positions * geom.itemsize, th,
                           -(-th.min_dw_positions // geom.positions))

    def grads(self, geom: Geometry, layout: str, x, w, dout, need_w, need_x, th):
        n, c, o_ch, g, positions = geom.n, geom.c, geom.o, geom.groups, geom.positions
        kernel = geom.kernel
        # dout with the batch inside: (O, N, L), one copy of the output gradient; a chunk
        # dout_t[:, start:stop] is then an (O, m*L) matrix BLAS reads in place.
        dout_t = np.ascontiguousarray(dout.reshape(n, o_ch, positions).swapaxes(0, 1))  # (O, N, L)
        dout_t = dout_t.reshape(g, geom.og, n, positions)  # (G, Og, N, L)
        w_mat = w.reshape(g, geom.og, -1)  # (G, Og, Cg*K)
        rows = c * geom.taps  # C*K
        chunk = self._chunk(geom, th)
        buf = np.empty(rows * chunk * positions, dtype=geom.dtype)  # flat, so any chunk's prefix is contiguous
        pad_buf = padded_buffer(geom, chunk) if need_w else None
        dw = np.zeros(w_mat.shape, dtype=geom.dtype) if need_w else None  # (G, Og, Cg*K)
        dxpad_t = np.empty((c, n, *geom.padded), dtype=geom.dtype) if need_x else None  # (C, N, HP, WP)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            span = (stop - start) * positions  # m*L
            scratch = buf[: rows * span].reshape(rows, span)  # (C*K, m*L)
            dout_c = dout_t[:, :, start:stop].reshape(g, geom.og, span)  # (G, Og, m*L), a view
            if need_w:
                xpad = padded_chunk(x, geom, pad_buf, start, stop)  # (m, C, HP, WP)
                cols_t = im2col_batch_inner(xpad, kernel, geom.stride, geom.dilation, out=scratch)
                cols_t = cols_t.reshape(g, -1, span)  # (G, Cg*K, m*L)
                dw += blas.matmul(dout_c, cols_t.swapaxes(-1, -2))  # (G, Og, Cg*K)
            if need_x:
                dcols_t = blas.matmul(w_mat.swapaxes(-1, -2), dout_c,
                                      out=scratch.reshape(g, -1, span))  # (G, Cg*K, m*L)
                col2im_batch_inner(dcols_t, (stop - start, c, *geom.padded), kernel, geom.stride,
                                   geom.dilation, out=dxpad_t[:, start:stop])  # (C, m, HP, WP)
        dx = None
        if need_x:
            dx = dxpad_t.swapaxes(0, 1)[(slice(None), slice(None), *geom.crop)]  # (N, C, H, W): drop the padding
        return (dw.reshape(geom.w_shape) if need_w else None), dx


    def grads_workspace(self, geom: Geometry, layout: str, need_w: bool, need_x: bool, th) -> int:
        if not (need_w or need_x):
            return 0
        chunk = self._chunk(geom, th)
        padded_elems = geom.c * math.prod(geom.padded)  # one image
        return (geom.n * geom.o * geom.positions                       # dout_t
                + geom.c * geom.taps * chunk * geom.positions           # the column buffer
                + (geom.is_padded and need_w) * chunk * padded_elems    # the padded chunk
                + need_w * 2 * geom.o * geom.cg * geom.taps             # dW and one chunk's product
                + need_x * geom.n * (padded_elems - geom.c * math.prod(geom.spatial)))  # dxpad_t, dx its view


BATCH_INNER = BatchInner()
