"""The baseline route, "im2col": gather the patches into columns and multiply (NCHW).

Every other route computes the same numbers faster on some shapes; this one computes them
for every shape, and is the one to read first. With xp the zero-padded input and the
patches of each image gathered into columns (juanji/kernels/im2col.py),

    cols[n, (c, i, j), (y, x)] = xp[n, c, y*SH + i*DH, x*SW + j*DW]      (N, C*K, L)

the convolution is one matrix product per image and group:

    out[n, g] (Og, L) = W[g] (Og, Cg*K) @ cols[n, g] (Cg*K, L)   (+ b)

and its backward two more products and the adjoint of the gather:

    dW[g]   = sum_n dout[n, g] @ cols[n, g]^T                      (Og, Cg*K)
    dcols   = W^T @ dout                                           (N, G, Cg*K, L)
    dx      = crop(col2im(dcols))        K strided adds, then drop the padding

Forward gathers a chunk of images at a time into one reused buffer of at most
th.cols_budget_bytes and multiplies while the columns are still in cache: the columns are
K/(SH*SW) times the input (58 MB for a 3x3 conv of (8, 64, 56, 56)), far beyond any cache,
so a loop over a handful of chunks, each one large product, beats one huge gather. With one
group the bias rides inside the product as a row of ones in the column buffer. Backward
here goes image by image on the forward layout (the products are thin when Cg*K is small,
as in a first layer, and N of them measured faster than one long one; the batch_inner route
takes the wide ones).
"""

from __future__ import annotations

import math

import numpy as np

from .. import blas
from ..im2col import col2im, im2col, pad_zeros
from .geometry import Geometry
from .route import OnePassRoute, batch_chunk, padded_buffer, padded_chunk, weight_matrix

__all__ = ["Im2colGemm", "IM2COL"]


class Im2colGemm(OnePassRoute):
    name = "im2col"
    layouts = ("nchw",)

    def forward(self, geom: Geometry, layout: str, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, th) -> np.ndarray:
        n, g, o_ch, positions = geom.n, geom.groups, geom.o, geom.positions
        out = np.empty((n, o_ch, positions), dtype=geom.dtype)  # (N, O, L)
        out_groups = out.reshape(n, g, geom.og, positions)  # (N, G, Og, L), a view
        ones = b is not None and g == 1  # bias inside the product: [W | b] @ [cols; 1]
        w_mat = weight_matrix(w, b if ones else None, g)  # (G, Og, Cg*K [+1])
        rows = geom.c * geom.taps + int(ones)
        chunk = batch_chunk(n, rows * positions * geom.itemsize, th)
        buf = np.empty((chunk, rows, positions), dtype=geom.dtype)  # the reused column buffer
        pad_buf = padded_buffer(geom, chunk)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            xpad = padded_chunk(x, geom, pad_buf, start, stop)  # (m, C, HP, WP)
            cols = im2col(xpad, geom.kernel, geom.stride, geom.dilation, ones_row=ones,
                          out=buf[: stop - start])  # (m, C*K [+1], L)
            cols = cols.reshape(stop - start, g, -1, positions)  # (m, G, Cg*K [+1], L)
            blas.matmul(w_mat, cols, out=out_groups[start:stop])  # (m, G, Og, L)
        if b is not None and not ones:
            out += b[:, None]  # broadcast (O, 1)
        return out.reshape(n, o_ch, *geom.out_size)  # (N, O, OH, OW), free

    def forward_workspace(self, geom: Geometry, layout: str, bias: bool, th) -> int:
        rows = geom.c * geom.taps + int(bias and geom.groups == 1)
        chunk = batch_chunk(geom.n, rows * geom.positions * geom.itemsize, th)
        return chunk * rows * geom.positions + geom.is_padded * chunk * geom.c * math.prod(geom.padded)

    def grads(self, geom: Geometry, layout: str, x, w, dout, need_w, need_x, th):
        """Per image: dW = sum_n dout_n @ cols_n^T, dcols = W^T @ dout, then col2im."""
        n, g, positions = geom.n, geom.groups, geom.positions
        d4 = dout.reshape(n, g, geom.og, positions)  # (N, G, Og, L); copies only a broadcast view
        dw = dx = None
        if need_w:
            cols = im2col(pad_zeros(x, geom.padding), geom.kernel, geom.stride, geom.dilation)  # (N, C*K, L)
            cols = cols.reshape(n, g, -1, positions)  # (N, G, Cg*K, L)
            # dW[g] = sum_n dout[n, g] @ cols[n, g]^T; the transpose is a view BLAS reads as is.
            dw = blas.matmul(d4, cols.swapaxes(-1, -2)).sum(axis=0).reshape(geom.w_shape)  # (O, Cg, *K)
        if need_x:
            w_mat_t = w.reshape(g, geom.og, -1).swapaxes(-1, -2)  # (G, Cg*K, Og), a view
            dcols = blas.matmul(w_mat_t, d4)  # (N, G, Cg*K, L)
            dxpad = col2im(dcols, (n, geom.c, *geom.padded), geom.kernel, geom.stride, geom.dilation)
            dx = dxpad[(slice(None), slice(None), *geom.crop)]  # (N, C, H, W): drop the padding
        return dw, dx


    def grads_workspace(self, geom: Geometry, layout: str, need_w: bool, need_x: bool, th) -> int:
        n, c, k, positions = geom.n, geom.c, geom.taps, geom.positions
        padded_elems = c * math.prod(geom.padded)
        free = geom.pointwise and not geom.is_padded  # the columns are x itself
        cols = need_w * (0 if free else n * c * k * positions)
        xpad = (geom.is_padded and need_w) * n * padded_elems
        per_sample_dw = need_w * n * geom.o * geom.cg * k
        dcols = need_x * n * c * k * positions
        dxpad = need_x * (0 if free else n * (padded_elems - c * math.prod(geom.spatial)))  # dx is its view
        return max(xpad + cols, cols + per_sample_dw, cols + dcols + dxpad)


IM2COL = Im2colGemm()
