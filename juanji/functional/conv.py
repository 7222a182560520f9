"""Convolution in 1, 2 and 3 spatial dims: one Function, forward and backward side by side.

Shape legend (2-D names; 1-D drops H, 3-D adds D before H):

    N       batch                        G       groups
    C       input channels               Cg      input channels per group  = C / G
    O       output channels              Og      output channels per group = O / G
    H, W    input size                   HP, WP  padded input size
    KH, KW  kernel size                  K       KH*KW (number of kernel taps)
    SH, SW  stride                       DH, DW  dilation
    PH, PW  padding (before, after)      OH, OW  output size, L = OH*OW

What deep learning calls convolution is cross-correlation (the kernel is not flipped):

    out[n, o, y, x] = b[o] + sum_{c in group(o), i, j} w[o, c, i, j] * xp[n, c, y*SH + i*DH, x*SW + j*DW]

where xp is the zero-padded input. With the patches gathered into columns (im2col,
juanji/kernels/im2col.py) this is a matrix product per group:

    cols (N, G, Cg*K, L) = im2col(xp)
    out  (N, G, Og, L)   = W (G, Og, Cg*K) @ cols          -> reshapes to (N, O, OH, OW), no transpose

and the backward pass is two more products and the adjoint scatter:

    dW  = sum_n dout_n @ cols_n^T          (G, Og, Cg*K)
    dcols = W^T @ dout                     (N, G, Cg*K, L)
    dx  = crop(col2im(dcols))              KH*KW strided adds, then drop the padding
    db  = sum of dout over n, y, x

How the products are laid out (every choice measured; bench/NOTES.md has the figures):

* Cache-sized batch chunks. The columns are K/(SH*SW) times the input (58 MB for a 3x3
  conv on (8, 64, 56, 56)), far beyond cache. They are gathered a chunk of images at a time
  into one reused buffer of at most _COLS_BUDGET_BYTES and multiplied while still in cache:
  a loop over a handful of chunks, each one large GEMM.
* Short rows go batch-last. When an image has few output positions (L < 1024: resnet18's
  512-channel stage at 4x4 has 16), W @ cols_n is a thin product that repacks the whole
  weight per image, and NCHW column rows are OW numbers long (4 at 4x4). Those layers run
  in the batch-last layout (juanji/kernels/layout.py): the input stored as (C, *spatial, N),
  columns cols_t[(c, i, j), (y, x, n)] gathered in runs of OW*N numbers, one product per
  chunk of output rows, W @ cols_t = (O, OH*OW*N), which is the output already stored
  batch-last. The result is handed on as its (N, O, OH, OW) view, so the next layer (and
  batch norm, ReLU, pooling, the residual add in between) reads it with no transposing copy,
  and the gradients come back the same way. A batch-last input keeps the layout at any size,
  and so does a stride-1 first layer (3 -> 64 channels), so a small-image network runs
  batch-last from its stem on (see _batch_last_route).
* After a per-image (NCHW) forward, the backward's dW puts the batch inside the columns when
  Cg*K >= 64: (Cg*K, m*L) for a chunk of m images, one long sum over m*L and no
  (N, O, Cg*K) per-image intermediate.
* Most single-group 2-D convs skip most of that gather: the kernel rows differ only by a
  shift of input rows, so columns gathered along the width alone (colsj, KH/SH times
  smaller than im2col's) hold every kernel row's columns as a window BLAS reads in place, and
  the convolution is KH products (fewer at stride > 1: rows of one shift share a product)
  added up into one output by BLAS's beta = 1 (juanji/kernels/rowshift.py, through the BLAS
  NumPy uses, juanji/kernels/blas.py; _ROWSHIFT). dW is the adjoint on the same columns.
  Where a product would be thin (a first layer on 1 or 3 channels) im2col stays.
* 3x3 stride-1 convs with 128 or more channels on both sides (most of VGG's and ResNet's work)
  run by Winograd's F(2x2, 3x3) when numba is installed: 16 products of the transformed
  weights and input tiles instead of the im2col product, 2.25x fewer multiplications
  (juanji/kernels/winograd.py; _COMPILED_WINOGRAD). Backward's dW goes by kernel rows (above).
* At stride 1 the input gradient is itself a correlation, of dout (padded by D*(K-1) - P)
  with the kernel reversed and its channel axes swapped (see _adjoint_padding), so it
  reuses the forward path above: no column gradient, no col2im, and dx comes out
  contiguous. Used from 64 input channels per group; fewer (a thin product) and larger
  strides keep dcols + col2im.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..autograd import Function
from ..backend import xp
from ..kernels import blas, depthwise, direct, rowshift, winograd
from ..kernels.im2col import (col2im, col2im_batch_inner, col2im_batch_last_add, conv_output_shape,
                              im2col, im2col_batch_inner, pad_zeros, patch_view_batch_last)
from ..kernels.layout import from_batch_last, is_batch_last, to_batch_last
from ..tensor import Tensor
from ._args import check_input, ntuple, resolve_padding

__all__ = ["conv1d", "conv2d", "conv3d"]

Padding = int | Sequence[int] | str

# Backward switches to the batch-inner layout (one long GEMM over N*L) when the GEMM's
# other inner dimension Cg*K is at least this. There dW is one (Og, N*L) @ (N*L, Cg*K)
# product instead of N per-image products and an (N, Og, Cg*K) intermediate, which pays
# when Cg*K is wide (64->64 3x3: 576); with a thin one (a first layer, 1->30 5x5: 25) the
# per-image products on the forward layout measured faster, hence the threshold
# (bench/NOTES.md, "Changes kept": conv backward with the batch inside the columns).
_BATCH_INNER_MIN_CGK = 64

# NCHW 1x1 stride-1 convs take dW as one product per image on x itself (_pointwise_weight_grad).
_POINTWISE_DW_PER_IMAGE = True

# ... and their forward as one product per image onto out prefilled with the bias
# (_pointwise_forward) where BLAS is reachable directly: BLAS's beta = 1 adds each product
# onto the bias already written, so no pass reads the output again to add it, as a stacked
# matmul needs. The pass saved is one over the output, so the gain grows with the output
# against the input (64->256 gains most) and vanishes on small images (bench/NOTES.md,
# "Changes kept", "2026-12-05": the NCHW 1x1 stride-1 forward).
_POINTWISE_FORWARD_PER_IMAGE = True

# Forward and the batch-inner backward gather the columns a chunk of images at a time into
# one reused buffer of at most this many bytes, and multiply while the columns are still in
# cache (a loop over a handful of batch chunks, each a large GEMM; never over pixels). One
# (8, 64, 56, 56) 3x3 gather is 64*9 rows x 56*56*8 columns x 4 bytes = 58 MB, far beyond
# cache; per image it is 7 MB (bench/NOTES.md, "Changes kept": cache-sized chunks).
_COLS_BUDGET_BYTES = 8 * 2**20
# The batch-last layout's chunks (of output rows, every image) get a larger budget: one
# output row of resnet18-CIFAR's first stage is already 64*9 rows x 32*64 columns x 4 bytes
# = 4.7 MB of columns at batch 64, so 8 MB would hold one row and make a dW partial product
# per two rows; fewer, longer products measured faster, and a larger budget than 32 MB did
# not (bench/NOTES.md, "The batch-last layout (this session)": batch-last column budget).
_BATCH_LAST_BUDGET_BYTES = 32 * 2**20
# Backward's dW GEMM sums over the chunk's output positions: small images in small chunks
# would make that sum short and add one weight-sized partial per chunk (resnet18's last
# stage, 512 channels at 4x4: 16 positions an image of 512*9 column rows, 295 kB, so an
# 8 MB chunk holds 28 images, a sum over 448 positions, and each chunk adds a 512 x 4608
# partial; bench/NOTES.md, "Changes kept", the notes under its first table).
_MIN_DW_POSITIONS = 4096

# 2-D depthwise convolutions (one input channel per group: Xception, MobileNet) run on
# compiled loops when numba is installed: im2col there copies KH*KW times the input for a
# 1 x (KH*KW) product per channel, a copy of nine numbers for each nine multiply-adds at
# 3x3, so the copy is the cost; the loops read the input in place (bench/NOTES.md, "Changes
# kept": depthwise 2-D conv on numba loops). The tests turn this off to keep the NumPy path
# covered, and compare both.
_COMPILED_DEPTHWISE = True

# 2-D single-group convs in the batch-last layout with at most _DIRECT_MAX_OUT_CHANNELS
# output channels, a batch of at least _DIRECT_MIN_BATCH and stride 1 run as a direct
# compiled loop when numba is installed (juanji/kernels/direct.py): the GEMM route's product
# is thin there and its column copy (KH*KW times the input) is most of the time; the loop
# copies nothing, and mostly gains where the column copy slows. Its per-pixel (O, N)
# accumulator goes through the cache, where a GEMM keeps its sums in registers, so from about
# a dozen output channels it loses; each tap reads a contiguous vector of N numbers, and with
# a small batch it gains little (bench/NOTES.md, "Changes kept", "2026-12-05": the direct
# compiled loop, for the measurements behind both bounds). True: every 2-D single-group
# batch-last conv (the tests); False: none.
_COMPILED_DIRECT: bool | None = None
_DIRECT_MAX_OUT_CHANNELS = 8
_DIRECT_MIN_BATCH = 32

# 3x3 stride-1 single-group 2-D convs with at least this many input and output channels run
# by Winograd's F(2x2, 3x3) on compiled loops when numba is installed (juanji/kernels/winograd.py:
# 16 multiplications per 2x2 output tile and channel pair where im2col has 4*9 = 36, 2.25x
# fewer, but two memory-bound transforms, whose cost grows with C + O while the saving grows
# with C*O). At 64 channels the transforms ate the saving in a quiet spell (in a busy one,
# where the gathers slow down more, Winograd still won), hence 128 (bench/NOTES.md,
# "Winograd and thread pools (2026-11-23)").
# The stride-1 input gradient, a correlation, takes the same route. The tests turn this off to
# keep the im2col path covered, and compare both.
_COMPILED_WINOGRAD = True
_WINOGRAD_MIN_CHANNELS = 128

# NCHW 2-D single-group convs run as one product per kernel row (per phase-row shift at
# stride > 1) over columns gathered along the width only (juanji/kernels/rowshift.py), the
# products added up by BLAS's beta = 1 when NumPy's BLAS can be called that way
# (kernels/blas.py), if a product has at least this many rows (phases x C*KW). The gather is
# about KH/SH times smaller than im2col's, but at stride 1 each product's inner dimension is
# KH times thinner (C*KW instead of C*KH*KW); a first layer's products (1->30 5x5: 5 rows,
# 3->64 3x3: 9, 4->32 5x5: 20) lose more to thinness than the gather saves, and from 24 rows
# (8->16 3x3) on the route measured faster (bench/NOTES.md, "Products per kernel row
# (2026-12-04)": the size rule). The tests turn this off to keep the im2col path covered, and
# compare both.
_ROWSHIFT = True
_ROWSHIFT_MIN_ROWS = 24
# Batch-last, the output rows go in bands whose width-gathered columns fit this budget (a
# band is multiplied while in cache, as with _COLS_BUDGET_BYTES; budgets of 2 to 16 MB
# measured within the noise of each other, bench/NOTES.md, "Products per kernel row
# (2026-12-04)"); on NCHW, images with short outputs share products within it.
_ROWSHIFT_BUDGET_BYTES = 8 * 2**20

# The batch-last dW product is cut into pieces of this many positions when its result has at
# most _SPLIT_K_MAX_ELEMS entries (see _weight_gradient): a first layer's dW (6 x 25 over
# 50,176 positions) is one long, thin BLAS call that runs on one core, while a batch of
# pieces is shared by the cores and adds only one (pieces, Og, Cg*K) array of partials; from
# 16 x 150 up it measured no gain (bench/NOTES.md, "The batch-last layout (this session)":
# the batch-last dW cut into pieces).
_SPLIT_K_PIECE = 1024
_SPLIT_K_MAX_ELEMS = 1024

# Forward multiplies per image when each image has at least this many output positions
# (the product's long side), and with the batch inside the columns below it.
_FORWARD_PER_IMAGE_MIN_L = 1024

# A first layer at stride 1 (at least this many times more output than input channels:
# 3 -> 64) goes batch-last at any size: transposing its thin input is cheap, and every layer
# after it then runs batch-last with no transposes. Strided first layers stay NCHW: their
# batch-last columns are gathered in runs of only N numbers (at stride SW > 1 consecutive
# output columns read input columns SW apart, so only the batch axis is contiguous), and
# ImageNet's 7x7 stride-2 and AlexNet's 11x11 stride-4 stems measured slower that way
# (bench/NOTES.md, "The batch-last layout (this session)": a stride-1 first layer).
_FIRST_LAYER_WIDENING = 8

# At stride 1 the input gradient is computed as a correlation (see _adjoint_padding) instead
# of a column gradient plus col2im, when each group has at least this many input channels
# (the correlation's output channels): the correlation's product has Cg rows, so with few
# input channels it is a thin one and col2im wins. Measured with the forward included:
# better at 64, equal at 32, worse below (bench/NOTES.md, "Changes kept": conv backward at
# stride 1, dx as a correlation).
_ADJOINT_MIN_CHANNELS = 64


class ConvNd(Function):
    """N-d grouped, strided, dilated cross-correlation (1, 2 or 3 spatial dims).

    Forward keeps only the input and the weight, not the columns: the input array is
    referenced by the graph anyway (so keeping it costs no memory), whereas the columns
    are K/(SH*SW) times larger than the input (9x for a 3x3 stride-1 conv: 58 MB instead
    of 6.4 MB for a (8, 64, 56, 56) float32 activation). Backward re-gathers the columns
    chunk by chunk, and only when the weight needs a gradient; the gather is a memory
    copy, cheap next to the GEMMs.
    """

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, *,
                stride: tuple[int, ...], padding: tuple[tuple[int, int], ...],
                dilation: tuple[int, ...], groups: int) -> np.ndarray:
        self.save_for_backward(x, w, stride, padding, dilation, groups)
        if x.shape[0] == 0:
            # An empty batch, as PyTorch allows: an empty output, and zero gradients for the
            # weight and bias in backward (the routes below all reshape by the batch).
            self.batch_last = False
            padded = tuple(s + pb + pa for s, (pb, pa) in zip(x.shape[2:], padding))
            return xp.zeros((0, w.shape[0], *conv_output_shape(padded, w.shape[2:], stride, dilation)),
                            dtype=x.dtype)
        self.batch_last = _batch_last_route(x, w.shape, stride, padding, dilation, groups)
        return correlate(x, w, b, stride, padding, dilation, groups, self.batch_last)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, w, stride, padding, dilation, g = self.saved
        need_x, need_w, need_b = self.needs_input_grad[:3]
        n, o_ch = grad.shape[:2]
        if n == 0:  # an empty batch (see forward)
            return (xp.zeros(x.shape, dtype=x.dtype) if need_x else None,
                    xp.zeros(w.shape, dtype=w.dtype) if need_w else None,
                    xp.zeros(o_ch, dtype=grad.dtype) if need_b else None)
        kernel = w.shape[2:]
        spatial_axes = tuple(range(2, grad.ndim))
        # reshape copies only when grad is a broadcast view (e.g. from sum().backward()).
        dout = grad.reshape(n, g, o_ch // g, -1)  # (N, G, Og, L)

        db = grad.sum(axis=(0, *spatial_axes)) if need_b else None  # (O,)

        padded_shape = (n, x.shape[1]) + tuple(s + b + a for s, (b, a) in zip(x.shape[2:], padding))
        crop = (slice(None), slice(None)) + tuple(slice(b, b + s) for s, (b, _) in zip(x.shape[2:], padding))
        if _compiled_depthwise(x, w, g):
            grad, x = xp.ascontiguousarray(grad), xp.ascontiguousarray(x)  # NCHW for the loops
            dw = depthwise.backward_weight(grad, x, w.shape, stride, padding, dilation) if need_w else None
            dx = depthwise.backward_input(grad, w, x.shape, stride, padding, dilation) if need_x else None
            return dx, dw, db
        dx = None
        adjoint_pads = _adjoint_padding(kernel, stride, padding, dilation, w.shape[1])
        if need_x and adjoint_pads is not None:
            # Stride 1: dx is itself a correlation, of the output gradient with the flipped,
            # transposed kernel, so it goes through forward's cache-blocked path, in forward's
            # layout (dx comes back laid out like x), with no column gradient and no col2im.
            dx = correlate(grad, _adjoint_weight(w, g), None, stride, adjoint_pads, dilation, g,
                           self.batch_last)
            need_x = False
        if self.batch_last and (need_w or need_x):
            dw, dx_t = _backward_batch_last(x, w, grad, stride, padding, dilation, g, need_w, need_x)
            return (dx if dx_t is None else dx_t), dw, db
        dw = None
        if need_w and _rowshift(x.dtype, w.shape, stride, dilation, g):
            # The adjoints of forward's products per kernel row, on the same width-gathered
            # columns (juanji/kernels/rowshift.py): dW, and dx where it is no correlation.
            dw = rowshift.weight_grad_nchw(xp.ascontiguousarray(x), xp.ascontiguousarray(grad), w.shape, stride,
                                           padding, dilation, _ROWSHIFT_BUDGET_BYTES)
            need_w = False
        if need_x and _rowshift(x.dtype, w.shape, stride, dilation, g):
            dx = rowshift.input_grad_nchw(xp.ascontiguousarray(grad), w, x.shape, stride, padding, dilation,
                                          _ROWSHIFT_BUDGET_BYTES)
            need_x = False
        if need_w and _POINTWISE_DW_PER_IMAGE and g == 1 and math.prod(kernel) == 1 \
                and all(s == 1 for s in stride) and all(p == (0, 0) for p in padding):
            dw = _pointwise_weight_grad(x, grad, w.shape)
            need_w = False
        if need_w or need_x:
            cg_k = w[0].size  # Cg*K, the inner dimension of the forward GEMM
            if cg_k >= _BATCH_INNER_MIN_CGK:
                dw_cols, dxpad = self._backward_batch_inner(x, w, grad, padded_shape, need_w, need_x)
            else:
                dw_cols, dxpad = self._backward_per_image(x, w, dout, padded_shape, need_w, need_x)
            dw = dw_cols if need_w else dw
            if dxpad is not None:
                dx = dxpad[crop]  # (N, C, H, W): drop the padding
        return dx, dw, db

    def _backward_per_image(self, x: np.ndarray, w: np.ndarray, dout: np.ndarray,
                            padded_shape: tuple[int, ...], need_w: bool,
                            need_x: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Small Cg*K (e.g. 1->30 5x5): N products on the forward layout beat one big one."""
        _, _, stride, padding, dilation, g = self.saved
        n, o_ch, kernel = x.shape[0], w.shape[0], w.shape[2:]
        dw = dx = None
        if need_w:
            cols = im2col(pad_zeros(x, padding), kernel, stride, dilation)  # (N, C*K, L)
            cols = cols.reshape(n, g, -1, cols.shape[-1])  # (N, G, Cg*K, L)
            # dW[g] = sum_n dout[n, g] @ cols[n, g]^T; the transpose is a view BLAS reads as is.
            dw = blas.matmul(dout, cols.swapaxes(-1, -2)).sum(axis=0).reshape(w.shape)  # (O, Cg, KH, KW)
        if need_x:
            w_mat_t = w.reshape(g, o_ch // g, -1).swapaxes(-1, -2)  # (G, Cg*K, Og), a view
            dcols = blas.matmul(w_mat_t, dout)  # (N, G, Cg*K, L)
            dx = col2im(dcols, padded_shape, kernel, stride, dilation)  # (N, C, HP, WP)
        return dw, dx

    def _backward_batch_inner(self, x: np.ndarray, w: np.ndarray, grad: np.ndarray,
                              padded_shape: tuple[int, ...], need_w: bool,
                              need_x: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Large Cg*K: per chunk of the batch, one GEMM per group over the chunk's positions.

        The columns (for dW) and then the column gradient (for dx) of a chunk share one
        reused buffer of at most _COLS_BUDGET_BYTES, so each is consumed while in cache.
        """
        _, _, stride, padding, dilation, g = self.saved
        n, c, o_ch, kernel = x.shape[0], x.shape[1], w.shape[0], w.shape[2:]
        positions = math.prod(grad.shape[2:])  # L
        # dout with the batch inside: (O, N, L), one copy of the output gradient; a chunk
        # dout_t[:, start:stop] is then an (O, m*L) matrix BLAS reads in place.
        dout_t = xp.ascontiguousarray(grad.reshape(n, o_ch, positions).swapaxes(0, 1))  # (O, N, L)
        dout_t = dout_t.reshape(g, o_ch // g, n, positions)  # (G, Og, N, L)
        w_mat = w.reshape(g, o_ch // g, -1)  # (G, Og, Cg*K)
        rows = c * math.prod(kernel)  # C*K
        chunk = _batch_chunk(n, rows * positions * x.itemsize, -(-_MIN_DW_POSITIONS // positions))
        buf = xp.empty(rows * chunk * positions, dtype=x.dtype)  # flat, so any chunk's prefix is contiguous
        pad_buf = _padded_buffer(x, chunk, padded_shape[2:], padding) if need_w else None
        dw = xp.zeros(w_mat.shape, dtype=x.dtype) if need_w else None  # (G, Og, Cg*K)
        dxpad_t = xp.empty((c, n) + tuple(padded_shape[2:]), dtype=x.dtype) if need_x else None  # (C, N, HP, WP)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            span = (stop - start) * positions  # m*L
            scratch = buf[: rows * span].reshape(rows, span)  # (C*K, m*L)
            dout_c = dout_t[:, :, start:stop].reshape(g, o_ch // g, span)  # (G, Og, m*L), a view
            if need_w:
                xpad = pad_zeros(x[start:stop], padding, out=_head(pad_buf, stop - start))  # (m, C, HP, WP)
                cols_t = im2col_batch_inner(xpad, kernel, stride, dilation, out=scratch)
                cols_t = cols_t.reshape(g, -1, span)  # (G, Cg*K, m*L)
                dw += blas.matmul(dout_c, cols_t.swapaxes(-1, -2))  # (G, Og, Cg*K)
            if need_x:
                dcols_t = blas.matmul(w_mat.swapaxes(-1, -2), dout_c,
                                    out=scratch.reshape(g, -1, span))  # (G, Cg*K, m*L)
                col2im_batch_inner(dcols_t, (stop - start,) + tuple(padded_shape[1:]), kernel, stride,
                                   dilation, out=dxpad_t[:, start:stop])  # (C, m, HP, WP)
        return (dw.reshape(w.shape) if need_w else None,
                dxpad_t.swapaxes(0, 1) if need_x else None)  # (O, Cg, KH, KW), (N, C, HP, WP)


def _pointwise_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, out: np.ndarray) -> np.ndarray:
    """out[i] = w @ x[i] + b for each image of a single-group 1x1 stride-1 conv on an NCHW
    input: x (N, C, L), w (O, C), b (O,) or None, out (N, O, L). The bias is written into
    out first and each product adds onto it (BLAS's beta = 1), so no pass reads out again."""
    beta = 0.0
    if b is not None:
        out[...] = b[:, None]  # broadcast (O, 1)
        beta = 1.0
    for i in range(x.shape[0]):
        blas.gemm(w, x[i], out[i], beta=beta)
    return out


def _pointwise_weight_grad(x: np.ndarray, grad: np.ndarray, w_shape: Sequence[int]) -> np.ndarray:
    """dW (O, C, 1, ...) of an unpadded single-group 1x1 stride-1 conv on an NCHW input: the
    columns are the input itself, so dW = sum_n dout_n (O, L) @ x_n^T (L, C), one product per
    image added up in order by BLAS's beta = 1, reading x and dout where they lie. (The
    batch-inner path copies x twice, into a padded buffer and its columns, and dout once, for
    a product that needs neither: bench/NOTES.md, "Changes kept", the NCHW 1x1 stride-1 dW.)"""
    n, c, o_ch = x.shape[0], x.shape[1], grad.shape[1]
    x3 = xp.ascontiguousarray(x).reshape(n, c, -1)  # (N, C, L)
    d3 = xp.ascontiguousarray(grad).reshape(n, o_ch, -1)  # (N, O, L)
    dw = xp.empty((o_ch, c), dtype=x.dtype)  # (O, C)
    for i in range(n):
        blas.gemm(d3[i], x3[i].T, dw, beta=float(i > 0))
    return dw.reshape(tuple(w_shape))


def _adjoint_padding(kernel: Sequence[int], stride: Sequence[int], padding: Sequence[tuple[int, int]],
                     dilation: Sequence[int], group_channels: int) -> tuple[tuple[int, int], ...] | None:
    """Padding under which dx = correlate(dout, flipped kernel), or None where that does not hold.

    At stride 1, dx[h] = sum_i dout[h + PB - D*i] * w[i]: a correlation of dout padded by
    D*(K-1) - PB before and D*(K-1) - PA after with the kernel reversed (i -> K-1-i). It
    needs both pads non-negative (padding no wider than the dilated kernel) and stride 1;
    larger strides would correlate a zero-dilated dout, so they keep col2im. None also when
    a group has fewer than _ADJOINT_MIN_CHANNELS input channels (col2im is faster there).
    """
    if group_channels < _ADJOINT_MIN_CHANNELS or any(s != 1 for s in stride):
        return None
    pads = tuple((d * (k - 1) - pb, d * (k - 1) - pa) for k, d, (pb, pa) in zip(kernel, dilation, padding))
    if any(pb < 0 or pa < 0 for pb, pa in pads):
        return None
    return pads


def _adjoint_weight(w: np.ndarray, groups: int) -> np.ndarray:
    """(O, Cg, *K) -> (C, Og, *K): per group, in and out channels swapped, every kernel axis reversed."""
    o_ch, cg = w.shape[:2]
    nd = w.ndim - 2
    w_t = w.reshape(groups, o_ch // groups, cg, *w.shape[2:]).swapaxes(1, 2)  # (G, Cg, Og, *K)
    w_t = w_t[(Ellipsis, *(slice(None, None, -1),) * nd)]  # kernel reversed
    return w_t.reshape(groups * cg, o_ch // groups, *w.shape[2:])  # (C, Og, *K), one small copy


def _compiled_depthwise(x: np.ndarray, w: np.ndarray, groups: int) -> bool:
    """Whether a 2-D depthwise conv (one input channel per group) runs on the compiled
    loops of juanji/kernels/depthwise.py (numba installed; _COMPILED_DEPTHWISE on)."""
    return _depthwise_shape(w.shape, groups, x.ndim - 2)


def _compiled_direct(dtype: np.dtype, w_shape: Sequence[int], n: int, stride: Sequence[int],
                     groups: int) -> bool:
    """Whether a batch-last convolution runs as the direct compiled loop (see _COMPILED_DIRECT)."""
    if (_COMPILED_DIRECT is False or len(w_shape) != 4 or groups != 1
            or np.dtype(dtype) not in (np.float32, np.float64) or not direct.available()):
        return False
    return bool(_COMPILED_DIRECT) or (w_shape[0] <= _DIRECT_MAX_OUT_CHANNELS and n >= _DIRECT_MIN_BATCH
                                      and all(s == 1 for s in stride))


def _winograd(dtype: np.dtype, w_shape: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
              groups: int) -> bool:
    """Whether this convolution runs by Winograd's F(2x2, 3x3) (see _COMPILED_WINOGRAD)."""
    return _COMPILED_WINOGRAD and winograd.usable(dtype, w_shape, stride, dilation, groups,
                                                  _WINOGRAD_MIN_CHANNELS)


def _rowshift(dtype: np.dtype, w_shape: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
              groups: int) -> bool:
    """Whether an NCHW convolution runs as products per kernel row (see _ROWSHIFT)."""
    return _ROWSHIFT and rowshift.usable(dtype, w_shape, stride, dilation, groups, _ROWSHIFT_MIN_ROWS)


def _depthwise_shape(w_shape: Sequence[int], groups: int, spatial_dims: int) -> bool:
    return (_COMPILED_DEPTHWISE and groups > 1 and w_shape[1] == 1 and spatial_dims == 2
            and depthwise.available())


def _batch_chunk(n: int, bytes_per_image: int, min_images: int = 1) -> int:
    """Images per chunk: as many as the column budget holds, and at least ``min_images``;
    within [1, n]."""
    by_budget = _COLS_BUDGET_BYTES // max(bytes_per_image, 1)
    return max(1, min(n, max(by_budget, min_images)))


def _padded_buffer(x: np.ndarray, chunk: int, padded: Sequence[int],
                   padding: Sequence[tuple[int, int]]) -> np.ndarray | None:
    """A zeroed (chunk, C, HP, WP) buffer that pad_zeros refills chunk by chunk; None if unpadded."""
    if all(b == 0 and a == 0 for b, a in padding):
        return None
    return xp.zeros((chunk, x.shape[1], *padded), dtype=x.dtype)


def _head(buf: np.ndarray | None, m: int) -> np.ndarray | None:
    return None if buf is None else buf[:m]


def correlate(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Sequence[int],
              padding: Sequence[tuple[int, int]], dilation: Sequence[int], groups: int,
              batch_last: bool | None = None) -> np.ndarray:
    """The forward formula on raw arrays: (N, C, *spatial) -> (N, O, *out_size).

    ``batch_last``: compute in the batch-last layout and return a batch-last view (see
    _batch_last_route, which decides when None). Otherwise gathers the columns a chunk of
    images at a time into one reused buffer and multiplies while they are in cache (see
    _COLS_BUDGET_BYTES); 1x1 stride-1 kernels need no gather.
    """
    if batch_last is None:
        batch_last = _batch_last_route(x, w.shape, stride, padding, dilation, groups)
    if batch_last:
        return from_batch_last(_correlate_batch_last(to_batch_last(x), w, b, stride, padding, dilation,
                                                     groups))  # (N, O, *out_size), a view
    x = xp.ascontiguousarray(x)  # e.g. a batch-last view headed for the compiled depthwise loops
    n, c = x.shape[:2]
    o_ch = w.shape[0]
    kernel = w.shape[2:]
    g = groups
    padded = tuple(s + b + a for s, (b, a) in zip(x.shape[2:], padding))  # (HP, WP)
    out_size = conv_output_shape(padded, kernel, stride, dilation)
    positions = math.prod(out_size)  # L
    out = xp.empty((n, o_ch, positions), dtype=x.dtype)  # (N, O, L)
    out_groups = out.reshape(n, g, o_ch // g, positions)  # (N, G, Og, L), a view
    if _compiled_depthwise(x, w, groups):
        depthwise.forward(x, w, b, out.reshape(n, o_ch, *out_size), stride, padding, dilation)
    elif _winograd(x.dtype, w.shape, stride, dilation, groups):
        winograd.forward_nchw(x, w, b, padding, out.reshape(n, o_ch, *out_size))
    elif _rowshift(x.dtype, w.shape, stride, dilation, groups):
        rowshift.forward_nchw(x, w, b, stride, padding, dilation, out.reshape(n, o_ch, *out_size),
                              _ROWSHIFT_BUDGET_BYTES)
    elif math.prod(kernel) == 1 and all(s == 1 for s in stride):
        # 1x1 at stride 1: the columns are the input itself, no gather, no chunks; the
        # batch-inner layout would need two transposing copies for the same product
        # (bench/NOTES.md, "Changes kept": 1x1 stride-1 convs stay per image).
        xpad = pad_zeros(x, padding)  # (N, C, HP, WP); 1x1 convs are rarely padded
        if g == 1 and _POINTWISE_FORWARD_PER_IMAGE and blas.available(x.dtype):
            _pointwise_forward(xpad.reshape(n, c, positions), w.reshape(o_ch, c), b, out)
        else:
            blas.matmul(w.reshape(g, o_ch // g, -1), xpad.reshape(n, g, -1, positions), out=out_groups)
            if b is not None:
                out += b[:, None]  # broadcast (O, 1)
    else:
        # Bias inside the GEMM when there is one group: [W | b] @ [cols; 1] = W @ cols + b,
        # no extra pass over out (the row of ones lives in the reused column buffer).
        ones = b is not None and g == 1
        w_mat = _weight_matrix(w, b if ones else None, g)  # (G, Og, Cg*K [+1])
        rows = c * math.prod(kernel) + int(ones)
        chunk = _batch_chunk(n, rows * positions * x.itemsize)
        buf = xp.empty((chunk, rows, positions), dtype=x.dtype)  # the reused column buffer
        pad_buf = _padded_buffer(x, chunk, padded, padding)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            xpad = pad_zeros(x[start:stop], padding, out=_head(pad_buf, stop - start))  # (m, C, HP, WP)
            cols = im2col(xpad, kernel, stride, dilation, ones_row=ones,
                          out=buf[: stop - start])  # (m, C*K [+1], L)
            cols = cols.reshape(stop - start, g, -1, positions)  # (m, G, Cg*K [+1], L)
            blas.matmul(w_mat, cols, out=out_groups[start:stop])  # (m, G, Og, L)
        if b is not None and not ones:
            out += b[:, None]  # broadcast (O, 1)
    return out.reshape(n, o_ch, *out_size)  # (N, O, OH, OW), free


def _batch_last_route(x: np.ndarray, w_shape: Sequence[int], stride: Sequence[int],
                      padding: Sequence[tuple[int, int]], dilation: Sequence[int], groups: int) -> bool:
    """Whether a convolution runs in the batch-last layout (C, *spatial, N) (see
    _correlate_batch_last): when its input already is batch-last (the previous layer's output),
    or when each image has few output positions (L < _FORWARD_PER_IMAGE_MIN_L), where the
    per-image product is thin and the NCHW column rows are short. The compiled depthwise loops
    and 1x1 stride-1 kernels on an NCHW input (no gather at all) stay in NCHW."""
    return _batch_last_by_shape(is_batch_last(x), x.shape[2:], w_shape, stride, padding, dilation, groups)


def _batch_last_by_shape(x_batch_last: bool, spatial: Sequence[int], w_shape: Sequence[int],
                         stride: Sequence[int], padding: Sequence[tuple[int, int]],
                         dilation: Sequence[int], groups: int) -> bool:
    """_batch_last_route from the input's layout and sizes alone (conv_memory.py uses it too)."""
    if _depthwise_shape(w_shape, groups, len(spatial)):
        return False
    if x_batch_last:
        return True
    kernel = w_shape[2:]
    if math.prod(kernel) == 1 and all(s == 1 for s in stride):
        return False
    if w_shape[1] * groups * _FIRST_LAYER_WIDENING <= w_shape[0] and all(s == 1 for s in stride):
        return True
    padded = tuple(s + b + a for s, (b, a) in zip(spatial, padding))
    return math.prod(conv_output_shape(padded, kernel, stride, dilation)) < _FORWARD_PER_IMAGE_MIN_L


def _row_chunk(out_rows: int, bytes_per_row: int, min_rows: int = 1) -> int:
    """Output rows (first spatial axis) per chunk of the batch-last layout: as many as its
    column budget holds, and at least ``min_rows``; within [1, out_rows]."""
    by_budget = _BATCH_LAST_BUDGET_BYTES // max(bytes_per_row, 1)
    return max(1, min(out_rows, max(by_budget, min_rows)))


def _correlate_batch_last(x_t: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Sequence[int],
                          padding: Sequence[tuple[int, int]], dilation: Sequence[int], g: int) -> np.ndarray:
    """Forward in the batch-last layout: (C, *spatial, N) -> (O, *out_size, N).

    The columns of a chunk of output rows, cols_t[(c, i, j), (y, x, n)], are gathered from
    the padded input with runs of OW*N numbers (NCHW's are OW long: 4 at 4x4), and one
    product per group, W (Og, Cg*K) @ cols_t (Cg*K, rows*OW*N), writes those output rows of
    every image at once, already in the layout the next layer reads: no transposes.
    """
    c, n = x_t.shape[0], x_t.shape[-1]
    o_ch, kernel = w.shape[0], w.shape[2:]
    padded = tuple(s + pb + pa for s, (pb, pa) in zip(x_t.shape[1:-1], padding))
    out_size = conv_output_shape(padded, kernel, stride, dilation)
    if _winograd(x_t.dtype, w.shape, stride, dilation, g):
        return winograd.forward_batch_last(x_t, w, b, padding, out_size)  # (O, OH, OW, N)
    out_t = xp.empty((o_ch, *out_size, n), dtype=x_t.dtype)  # (O, OH, OW, N)
    if _compiled_direct(x_t.dtype, w.shape, n, stride, g):
        return direct.forward(x_t, w, b, stride, padding, dilation, out_t)
    if _rowshift(x_t.dtype, w.shape, stride, dilation, g):
        return rowshift.forward_batch_last(pad_zeros(x_t, padding, first=1), w, b, stride, dilation, out_t,
                                           _ROWSHIFT_BUDGET_BYTES)
    out_g = out_t.reshape(g, o_ch // g, -1)  # (G, Og, L*N), a view
    if math.prod(kernel) == 1 and all(s == 1 for s in stride) and padded == x_t.shape[1:-1]:
        # 1x1 at stride 1: the columns are the input itself.
        blas.matmul(w.reshape(g, o_ch // g, -1), x_t.reshape(g, c // g, -1), out=out_g)
        if b is not None:
            out_g += b.reshape(g, -1, 1)
        return out_t
    ones = b is not None and g == 1  # bias inside the GEMM: [W | b] @ [cols; 1]
    w_mat = _weight_matrix(w, b if ones else None, g)  # (G, Og, Cg*K [+1])
    gathered = c * math.prod(kernel)  # C*K
    rows = gathered + int(ones)
    row = math.prod(out_size[1:]) * n  # columns per output row: OW*N
    view = patch_view_batch_last(pad_zeros(x_t, padding, first=1), kernel, stride, dilation)  # (C, KH, KW, OH, OW, N)
    step = _row_chunk(out_size[0], rows * row * x_t.itemsize)
    buf = xp.empty(rows * step * row, dtype=x_t.dtype)  # flat: any chunk's prefix is contiguous
    for y0 in range(0, out_size[0], step):
        y1 = min(out_size[0], y0 + step)
        span = (y1 - y0) * row
        cols = buf[: rows * span].reshape(rows, span)  # (C*K [+1], rows*OW*N)
        if ones:
            cols[-1] = 1
        target = cols[:gathered].reshape(c, *kernel, y1 - y0, *out_size[1:], n)  # a view
        xp.copyto(target, view[(slice(None),) * (1 + len(kernel)) + (slice(y0, y1),)])  # the gather
        blas.matmul(w_mat, cols.reshape(g, -1, span), out=out_g[:, :, y0 * row: y1 * row])
    if b is not None and not ones:
        out_g += b.reshape(g, -1, 1)
    return out_t


def _weight_gradient(dout_c: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """dout_c (G, Og, S) @ cols (G, Cg*K, S)^T -> (G, Og, Cg*K), a sum over S positions.

    When the result is tiny (a first layer: 6 x 25 for LeNet-5's c1) and S long, one BLAS
    call runs on one core; cut S into pieces of _SPLIT_K_PIECE, multiply them as a batch,
    which the cores share, and add the partial products (bench/NOTES.md, "The batch-last
    layout (this session)").
    """
    g, og, span = dout_c.shape
    cgk = cols.shape[1]
    if og * cgk > _SPLIT_K_MAX_ELEMS or span < 2 * _SPLIT_K_PIECE:
        # As (cols @ dout_c^T)^T: OpenBLAS handles a small output-channel count better as
        # the N side of the product than as the M side, and as fast from 256 channels up
        # (bench/NOTES.md, "The batch-last layout (this session)" and "Tried and not (yet)
        # kept": dW as (cols @ dout^T)^T). The result is a transposed view, which the caller
        # adds into dW.
        return blas.matmul(cols, dout_c.swapaxes(-1, -2)).swapaxes(-1, -2)
    pieces = span // _SPLIT_K_PIECE
    cut = pieces * _SPLIT_K_PIECE
    a = dout_c[..., :cut].reshape(g, og, pieces, _SPLIT_K_PIECE).transpose(0, 2, 1, 3)  # (G, P, Og, piece)
    b = cols[..., :cut].reshape(g, cgk, pieces, _SPLIT_K_PIECE).transpose(0, 2, 3, 1)  # (G, P, piece, Cg*K)
    return blas.matmul(a, b).sum(axis=1) + blas.matmul(dout_c[..., cut:], cols[..., cut:].swapaxes(-1, -2))


def _backward_batch_last(x: np.ndarray, w: np.ndarray, grad: np.ndarray, stride: Sequence[int],
                         padding: Sequence[tuple[int, int]], dilation: Sequence[int], g: int,
                         need_w: bool, need_x: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
    """dW (and dx by col2im, when it is not a correlation) in the batch-last layout.

    Per chunk of output rows, the columns (for dW) and then the column gradient (for dx)
    share one reused buffer: dW += dout_t (Og, rows*OW*N) @ cols_t^T, and
    dcols_t = W^T @ dout_t, added back onto the padded input's rows by col2im. The output
    gradient in this layout needs no copy when it arrives batch-last (the usual case: the
    layers after this one produced it from this layer's batch-last output).
    """
    o_ch, kernel = w.shape[0], w.shape[2:]
    x_t = to_batch_last(x)  # (C, *spatial, N)
    dout_t = to_batch_last(grad)  # (O, *out_size, N)
    if _rowshift(x_t.dtype, w.shape, stride, dilation, g):
        # The adjoints of forward's products per kernel row, on the same width-gathered
        # columns (a third of im2col's for 3x3 at stride 1; juanji/kernels/rowshift.py).
        dw = dx = None
        if need_w:
            dw = rowshift.weight_grad_batch_last(pad_zeros(x_t, padding, first=1), dout_t, w.shape, stride,
                                                 dilation, _ROWSHIFT_BUDGET_BYTES, _MIN_DW_POSITIONS)
        if need_x:
            padded = tuple(s + pb + pa for s, (pb, pa) in zip(x_t.shape[1:-1], padding))
            dxpad_t = rowshift.input_grad_batch_last(dout_t, w, (x_t.shape[0], *padded, x_t.shape[-1]), stride,
                                                     dilation, _ROWSHIFT_BUDGET_BYTES)
            crop = tuple(slice(pb, pb + s) for s, (pb, _) in zip(x_t.shape[1:-1], padding))
            dx = from_batch_last(dxpad_t[(slice(None), *crop)])  # (N, C, H, W): drop the padding
        return dw, dx
    c, n = x_t.shape[0], x_t.shape[-1]
    out_size = dout_t.shape[1:-1]
    row = math.prod(out_size[1:]) * n  # OW*N
    rows = c * math.prod(kernel)  # C*K
    dout_g = dout_t.reshape(g, o_ch // g, -1)  # (G, Og, L*N)
    # dW sums over a chunk's positions: keep that sum long (see _MIN_DW_POSITIONS).
    step = _row_chunk(out_size[0], rows * row * x_t.itemsize, -(-_MIN_DW_POSITIONS // row))
    buf = xp.empty(rows * step * row, dtype=x_t.dtype)
    dw = dxpad_t = None
    if need_w:
        view = patch_view_batch_last(pad_zeros(x_t, padding, first=1), kernel, stride, dilation)
        dw = xp.zeros((g, o_ch // g, rows // g), dtype=x_t.dtype)  # (G, Og, Cg*K)
    if need_x:
        padded = tuple(s + pb + pa for s, (pb, pa) in zip(x_t.shape[1:-1], padding))
        dxpad_t = xp.zeros((c, *padded, n), dtype=x_t.dtype)  # (C, HP, WP, N)
        w_t = w.reshape(g, o_ch // g, -1).swapaxes(-1, -2)  # (G, Cg*K, Og), a view
    for y0 in range(0, out_size[0], step):
        y1 = min(out_size[0], y0 + step)
        span = (y1 - y0) * row
        scratch = buf[: rows * span].reshape(rows, span)  # (C*K, rows*OW*N)
        dout_c = dout_g[:, :, y0 * row: y1 * row]  # (G, Og, rows*OW*N), a view
        if need_w:
            xp.copyto(scratch.reshape(c, *kernel, y1 - y0, *out_size[1:], n),
                      view[(slice(None),) * (1 + len(kernel)) + (slice(y0, y1),)])
            dw += _weight_gradient(dout_c, scratch.reshape(g, -1, span))  # (G, Og, Cg*K)
        if need_x:
            dcols = blas.matmul(w_t, dout_c, out=scratch.reshape(g, -1, span))  # (G, Cg*K, rows*OW*N)
            col2im_batch_last_add(dcols, dxpad_t, kernel, stride, dilation, y0)
    dx = None
    if need_x:
        crop = tuple(slice(pb, pb + s) for s, (pb, _) in zip(x_t.shape[1:-1], padding))
        dx = from_batch_last(dxpad_t[(slice(None), *crop)])  # (N, C, H, W): drop the padding
    return (dw.reshape(w.shape) if need_w else None), dx


def _weight_matrix(w: np.ndarray, b: np.ndarray | None, g: int) -> np.ndarray:
    """(O, Cg, *K) -> (G, Og, Cg*K), with the bias appended as a last column when given (G = 1)."""
    o_ch = w.shape[0]
    if b is None:
        return w.reshape(g, o_ch // g, -1)
    return xp.concatenate([w.reshape(o_ch, -1), b[:, None]], axis=1)[None]  # (1, O, C*K + 1)


# --- argument checks, apart from the math ---------------------------------------------------
def _check_conv_args(op: str, spatial: int, input: Any, weight: Any, bias: Any, stride: Any,
                     padding: Any, dilation: Any, groups: Any) -> dict[str, Any]:
    """Validate a convolution call; return the normalised keyword arguments of ConvNd."""
    x = check_input(op, input, spatial)
    if not isinstance(weight, Tensor):
        raise TypeError(f"{op}: weight must be a juanji.Tensor, got {type(weight).__name__}")
    if weight.ndim != 2 + spatial:
        layout = {1: "(O, C/groups, KL)", 2: "(O, C/groups, KH, KW)", 3: "(O, C/groups, KD, KH, KW)"}
        raise ValueError(f"{op}: expected a {2 + spatial}-D weight {layout[spatial]}, "
                         f"got shape {weight.shape}")
    w = weight
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"{op}: groups must be an int, got {groups!r}")
    groups = int(groups)
    if groups < 1:
        raise ValueError(f"{op}: groups must be >= 1, got {groups}")
    if w.dtype != x.dtype:
        raise TypeError(f"{op}: input dtype {x.dtype} and weight dtype {w.dtype} differ")
    o_ch, cg = w.shape[:2]
    c = x.shape[1]
    # Empty channel axes: PyTorch raises for O < groups; for C = 0 it returns (N, 0, ...)
    # whatever O the weight declares, a shape no next layer takes, so that is an error here too.
    if o_ch < groups:
        raise ValueError(f"{op}: weight has {o_ch} output channels (weight shape {w.shape}); "
                         f"groups={groups} needs at least {groups}")
    if c == 0:
        raise ValueError(f"{op}: input has 0 channels (input shape {x.shape}); a convolution needs at least one")
    if o_ch % groups != 0:
        raise ValueError(
            f"{op}: out channels {o_ch} (weight shape {w.shape}) are not divisible by groups={groups}")
    if c % groups != 0:
        raise ValueError(f"{op}: input channels {c} (input shape {x.shape}) are not divisible by "
                         f"groups={groups}")
    if cg * groups != c:
        raise ValueError(
            f"{op}: input has {c} channels but weight expects {cg * groups} "
            f"(weight shape {w.shape}, groups={groups})")
    if bias is not None:
        if not isinstance(bias, Tensor):
            raise TypeError(f"{op}: bias must be a juanji.Tensor or None, got {type(bias).__name__}")
        if bias.shape != (o_ch,):
            raise ValueError(f"{op}: bias must have shape ({o_ch},) to match weight shape {w.shape}, "
                             f"got {bias.shape}")
        if bias.dtype != x.dtype:
            raise TypeError(f"{op}: input dtype {x.dtype} and bias dtype {bias.dtype} differ")
    kernel = w.shape[2:]
    if any(k < 1 for k in kernel):
        raise ValueError(f"{op}: weight has an empty kernel, shape {w.shape}")
    stride_t = ntuple(stride, spatial, op, "stride", minimum=1)
    dilation_t = ntuple(dilation, spatial, op, "dilation", minimum=1)
    pads = resolve_padding(padding, x.shape[2:], kernel, stride_t, dilation_t, op)
    for i, (size, k, d, (pb, pa)) in enumerate(zip(x.shape[2:], kernel, dilation_t, pads)):
        span = d * (k - 1) + 1
        if span > size + pb + pa:
            raise ValueError(
                f"{op}: kernel size {k} (dilated to {span}) is larger than the padded input size "
                f"{size + pb + pa} in spatial dim {i} (input shape {x.shape}, weight shape {w.shape}, "
                f"padding {pads[i]})")
    return {"stride": stride_t, "padding": pads, "dilation": dilation_t, "groups": groups}


# --- strides wider than the window -----------------------------------------------------------
# Along an axis whose stride S exceeds the dilated kernel extent E = D*(K-1) + 1, the windows
# do not overlap and the S - E positions between them are never read. The routes above work on
# the whole padded input and some loop over stride phases (products per kernel row, the compiled
# depthwise loops), so their time and memory would grow with S and the padding instead of with
# the output (bench/NOTES.md, "2026-12-07: strides wider than the window"). There, only the taps
# are gathered:
#
#     xg[..., o*K + t] = xp[..., o*S + t*D]      o < OUT, t < K    (xp: the padded input)
#
# which is zero where o*S + t*D - PB falls outside the input (no padding is materialised), and
# the conv runs on xg with stride K, dilation 1 and no padding along that axis: window o of xg
# is exactly the K taps of window o of xp, so the output is the same, OUT*K long per axis. Its
# backward is the adjoint scatter; the taps are distinct, so it is a plain assignment.
# Strides below _GATHER_MIN_STRIDE keep their routes: the only ordinary convs with S > E are
# ResNet's 1x1 stride-2 shortcuts, whose routes were measured as they are.
_GATHER_MIN_STRIDE = 3


class _GatherTaps(Function):
    """xg = x at the given input positions per spatial axis, zero where a position is -1."""

    def forward(self, x: np.ndarray, taps: dict[int, np.ndarray]) -> np.ndarray:
        self.save_for_backward(x.shape, taps)
        for axis, pos in taps.items():
            inside = pos >= 0
            x = xp.take(x, xp.where(inside, pos, 0), axis=axis)  # (..., OUT*K, ...)
            x[(slice(None),) * axis + (~inside,)] = 0  # taps in the padding
        return x

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray, None]:
        shape, taps = self.saved
        for axis, pos in reversed(taps.items()):
            inside = pos >= 0
            size = list(grad.shape)
            size[axis] = shape[axis]
            dx = xp.zeros(size, dtype=grad.dtype)
            head = (slice(None),) * axis
            dx[head + (pos[inside],)] = grad[head + (inside,)]  # distinct taps: no sums needed
            grad = dx
        return grad, None  # nothing for taps


def _gather_wide_strides(x: Tensor, kernel: Sequence[int], params: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
    """Where the stride exceeds the dilated kernel extent, gather only the taps (see above)."""
    stride, padding, dilation = list(params["stride"]), list(params["padding"]), list(params["dilation"])
    taps: dict[int, np.ndarray] = {}
    for i, (n, k) in enumerate(zip(x.shape[2:], kernel)):
        s, d, (pb, pa) = stride[i], dilation[i], padding[i]
        if s < _GATHER_MIN_STRIDE or s <= d * (k - 1) + 1:
            continue
        out = (n + pb + pa - d * (k - 1) - 1) // s + 1
        pos = (np.arange(out)[:, None] * s + np.arange(k)[None, :] * d - pb).reshape(-1)  # (OUT*K,)
        taps[2 + i] = np.where((pos >= 0) & (pos < n), pos, -1)
        stride[i], padding[i], dilation[i] = k, (0, 0), 1
    if not taps:
        return x, params
    return _GatherTaps.apply(x, taps), dict(params, stride=tuple(stride), padding=tuple(padding),
                                            dilation=tuple(dilation))


def _conv(op: str, spatial: int, input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any,
          padding: Any, dilation: Any, groups: int) -> Tensor:
    params = _check_conv_args(op, spatial, input, weight, bias, stride, padding, dilation, groups)
    input, params = _gather_wide_strides(input, weight.shape[2:], params)
    return ConvNd.apply(input, weight, bias, **params)


# --- public functions ---------------------------------------------------------------------
def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
           padding: Padding = 0, dilation: int | Sequence[int] = 1, groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) over a batch of sequences.

    Args:
        input: (N, C, L_in).
        weight: (O, C/groups, KL).
        bias: (O,) or None.
        stride, dilation: int or 1-tuple, >= 1.
        padding: int or 1-tuple (zeros on both ends), "valid" (none) or "same"
            (TensorFlow's rule: output = ceil(L_in / stride), odd extra pad at the end).
        groups: split channels into this many independent groups (groups = C: depthwise).

    Shape:
        output (N, O, L_out), L_out = floor((L_in + 2P - D*(KL-1) - 1) / S) + 1.

    Example:
        >>> x, w = juanji.randn(2, 3, 10), juanji.randn(4, 3, 3)
        >>> F.conv1d(x, w, padding="same").shape
        (2, 4, 10)
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
           padding: Padding = 0, dilation: int | Sequence[int] = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) over a batch of images, NCHW.

    Args:
        input: (N, C, H, W).
        weight: (O, C/groups, KH, KW).
        bias: (O,) or None.
        stride, dilation: int or (SH, SW) / (DH, DW), >= 1.
        padding: int or (PH, PW) (zeros on both sides), "valid" (none) or "same"
            (TensorFlow's rule for every stride: OH = ceil(H / SH); when the total padding
            is odd the extra row/column goes at the bottom/right).
        groups: split channels into this many independent groups (groups = C: depthwise;
            O = m*C gives a depthwise conv with channel multiplier m).

    Shape:
        output (N, O, OH, OW), OH = floor((H + 2PH - DH*(KH-1) - 1) / SH) + 1, likewise OW.

    Example:
        >>> x, w = juanji.randn(8, 1, 28, 28), juanji.randn(30, 1, 5, 5)
        >>> F.conv2d(x, w).shape
        (8, 30, 24, 24)
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
           padding: Padding = 0, dilation: int | Sequence[int] = 1, groups: int = 1) -> Tensor:
    """3-D convolution (cross-correlation) over a batch of volumes, NCDHW.

    Args:
        input: (N, C, D, H, W).
        weight: (O, C/groups, KD, KH, KW).
        bias: (O,) or None.
        stride, dilation: int or 3-tuple, >= 1.
        padding: int or 3-tuple (zeros on both sides), "valid" or "same" (TensorFlow's rule).
        groups: split channels into this many independent groups.

    Shape:
        output (N, O, OD, OH, OW), OD = floor((D + 2PD - DD*(KD-1) - 1) / SD) + 1, likewise OH, OW.

    Example:
        >>> x, w = juanji.randn(1, 2, 6, 7, 8), juanji.randn(4, 2, 3, 3, 3)
        >>> F.conv3d(x, w, stride=2).shape
        (1, 4, 2, 3, 3)
    """
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)
