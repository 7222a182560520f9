"""Route "batch_last": im2col and one product per chunk of output rows, in the batch-last layout.

When an image has few output positions (resnet18's 512-channel stage at 4x4 has 16), the
NCHW product W @ cols_n is thin and repacks the whole weight per image, and NCHW column rows
are OW numbers long (4 at 4x4). Stored batch-last, (C, *spatial, N) (juanji/kernels/layout.py),
the columns of a chunk of output rows y0..y1 are gathered in runs of OW*N numbers,

    cols_t[(c, i, j), (y, x, n)] = xp_t[c, y*SH + i*DH, x*SW + j*DW, n]     (C*K, rows*OW*N)

and one product per group writes those output rows of every image at once,

    out_t[g] (Og, rows*OW*N) = W[g] (Og, Cg*K) @ cols_t[g]       (+ b, inside the product)

which is the output already stored batch-last: the next layer (and batch norm, ReLU, pooling
and the residual add in between) reads it with no transposing copy, and the gradients come
back the same way. Backward, per chunk of rows on one reused buffer:

    dW     += dout_t (Og, rows*OW*N) @ cols_t^T
    dcols_t = W^T @ dout_t,  added back onto the padded input's rows (col2im)

A chunk's columns get th.batch_last_budget_bytes (one output row of resnet18-CIFAR's first
stage is already 4.7 MB at batch 64; fewer, longer products measured faster), and in backward
a chunk holds at least th.min_dw_positions positions so dW's sum stays long.
"""

from __future__ import annotations

import math

import numpy as np

from .. import blas
from ..im2col import col2im_batch_last_add, pad_zeros, patch_view_batch_last
from .geometry import Geometry
from .route import OnePassRoute, row_chunk, weight_matrix

__all__ = ["BatchLast", "BATCH_LAST", "weight_gradient"]


class BatchLast(OnePassRoute):
    name = "batch_last"
    layouts = ("batch_last",)

    def forward(self, geom: Geometry, layout: str, x_t, w, b, th) -> np.ndarray:
        c, n, g, o_ch = geom.c, geom.n, geom.groups, geom.o
        kernel, out_size = geom.kernel, geom.out_size
        out_t = np.empty((o_ch, *out_size, n), dtype=geom.dtype)  # (O, OH, OW, N)
        out_g = out_t.reshape(g, geom.og, -1)  # (G, Og, L*N), a view
        ones = b is not None and g == 1  # bias inside the GEMM: [W | b] @ [cols; 1]
        w_mat = weight_matrix(w, b if ones else None, g)  # (G, Og, Cg*K [+1])
        gathered = c * geom.taps  # C*K
        rows = gathered + int(ones)
        row = math.prod(out_size[1:]) * n  # columns per output row: OW*N
        view = patch_view_batch_last(pad_zeros(x_t, geom.padding, first=1), kernel, geom.stride,
                                     geom.dilation)  # (C, KH, KW, OH, OW, N)
        step = row_chunk(out_size[0], rows * row * geom.itemsize, th)
        buf = np.empty(rows * step * row, dtype=geom.dtype)  # flat: any chunk's prefix is contiguous
        for y0 in range(0, out_size[0], step):
            y1 = min(out_size[0], y0 + step)
            span = (y1 - y0) * row
            cols = buf[: rows * span].reshape(rows, span)  # (C*K [+1], rows*OW*N)
            if ones:
                cols[-1] = 1
            target = cols[:gathered].reshape(c, *kernel, y1 - y0, *out_size[1:], n)  # a view
            np.copyto(target, view[(slice(None),) * (1 + len(kernel)) + (slice(y0, y1),)])  # the gather
            blas.matmul(w_mat, cols.reshape(g, -1, span), out=out_g[:, :, y0 * row: y1 * row])
        if b is not None and not ones:
            out_g += b.reshape(g, -1, 1)
        return out_t

    def forward_workspace(self, geom: Geometry, layout: str, bias: bool, th) -> int:
        rows = geom.c * geom.taps + int(bias and geom.groups == 1)
        row = math.prod(geom.out_size[1:]) * geom.n
        step = row_chunk(geom.out_size[0], rows * row * geom.itemsize, th)
        return geom.is_padded * geom.n * geom.c * math.prod(geom.padded) + rows * step * row

    def _step(self, geom: Geometry, th) -> int:
        row = math.prod(geom.out_size[1:]) * geom.n  # OW*N
        rows = geom.c * geom.taps
        # dW sums over a chunk's positions: keep that sum long (th.min_dw_positions).
        return row_chunk(geom.out_size[0], rows * row * geom.itemsize, th, -(-th.min_dw_positions // row))

    def grads(self, geom: Geometry, layout: str, x_t, w, dout_t, need_w, need_x, th):
        c, n, g, o_ch = geom.c, geom.n, geom.groups, geom.o
        kernel, out_size = geom.kernel, geom.out_size
        row = math.prod(out_size[1:]) * n  # OW*N
        rows = c * geom.taps  # C*K
        dout_g = dout_t.reshape(g, geom.og, -1)  # (G, Og, L*N)
        step = self._step(geom, th)
        buf = np.empty(rows * step * row, dtype=geom.dtype)
        dw = dxpad_t = None
        if need_w:
            view = patch_view_batch_last(pad_zeros(x_t, geom.padding, first=1), kernel, geom.stride, geom.dilation)
            dw = np.zeros((g, geom.og, rows // g), dtype=geom.dtype)  # (G, Og, Cg*K)
        if need_x:
            dxpad_t = np.zeros((c, *geom.padded, n), dtype=geom.dtype)  # (C, HP, WP, N)
            w_t = w.reshape(g, geom.og, -1).swapaxes(-1, -2)  # (G, Cg*K, Og), a view
        for y0 in range(0, out_size[0], step):
            y1 = min(out_size[0], y0 + step)
            span = (y1 - y0) * row
            scratch = buf[: rows * span].reshape(rows, span)  # (C*K, rows*OW*N)
            dout_c = dout_g[:, :, y0 * row: y1 * row]  # (G, Og, rows*OW*N), a view
            if need_w:
                np.copyto(scratch.reshape(c, *kernel, y1 - y0, *out_size[1:], n),
                          view[(slice(None),) * (1 + len(kernel)) + (slice(y0, y1),)])
                dw += weight_gradient(dout_c, scratch.reshape(g, -1, span), th)  # (G, Og, Cg*K)
            if need_x:
                dcols = blas.matmul(w_t, dout_c, out=scratch.reshape(g, -1, span))  # (G, Cg*K, rows*OW*N)
                col2im_batch_last_add(dcols, dxpad_t, kernel, geom.stride, geom.dilation, y0)
        dx_t = None
        if need_x:
            dx_t = dxpad_t[(slice(None), *geom.crop)]  # (C, H, W, N): drop the padding
        return (dw.reshape(geom.w_shape) if need_w else None), dx_t


    def grads_workspace(self, geom: Geometry, layout: str, need_w: bool, need_x: bool, th) -> int:
        if not (need_w or need_x):
            return 0
        row = math.prod(geom.out_size[1:]) * geom.n
        padded_elems = geom.c * math.prod(geom.padded)  # one image
        return (geom.c * geom.taps * self._step(geom, th) * row       # the column buffer
                + (geom.is_padded and need_w) * geom.n * padded_elems  # the padded input
                + need_w * 2 * geom.o * geom.cg * geom.taps            # dW and one chunk's product
                + need_x * geom.n * (padded_elems - geom.c * math.prod(geom.spatial)))  # dxpad_t, dx its view


def weight_gradient(dout_c: np.ndarray, cols: np.ndarray, th) -> np.ndarray:
    """dout_c (G, Og, S) @ cols (G, Cg*K, S)^T -> (G, Og, Cg*K), a sum over S positions.

    When the result is tiny (a first layer: 6 x 25 for LeNet-5's c1) and S long, one BLAS
    call runs on one core; cut S into pieces of th.split_k_piece, multiply them as a batch,
    which the cores share, and add the partial products (bench/NOTES.md, "The batch-last
    layout (this session)").
    """
    g, og, span = dout_c.shape
    cgk = cols.shape[1]
    piece = th.split_k_piece
    if og * cgk > th.split_k_max_elems or span < 2 * piece:
        # As (cols @ dout_c^T)^T: OpenBLAS handles a small output-channel count better as
        # the N side of the product than as the M side, and as fast from 256 channels up
        # (bench/NOTES.md, "The batch-last layout (this session)" and "Tried and not (yet)
        # kept": dW as (cols @ dout^T)^T). The result is a transposed view, which the caller
        # adds into dW.
        return blas.matmul(cols, dout_c.swapaxes(-1, -2)).swapaxes(-1, -2)
    pieces = span // piece
    cut = pieces * piece
    a = dout_c[..., :cut].reshape(g, og, pieces, piece).transpose(0, 2, 1, 3)  # (G, P, Og, piece)
    b = cols[..., :cut].reshape(g, cgk, pieces, piece).transpose(0, 2, 3, 1)  # (G, P, piece, Cg*K)
    return blas.matmul(a, b).sum(axis=1) + blas.matmul(dout_c[..., cut:], cols[..., cut:].swapaxes(-1, -2))


BATCH_LAST = BatchLast()
