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
* Short outputs put the batch inside. When an image has few output positions (L < 1024:
  resnet18's 512-channel stage at 4x4 has 16), W @ cols_n is a thin product that repacks
  the whole weight per image; with the columns laid out (Cg*K, m*L) for a chunk of m images
  it is one product per chunk. The backward's dW always does this when Cg*K >= 64 (one long
  sum over m*L, no (N, O, Cg*K) per-image intermediate).
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
from ..kernels import depthwise
from ..kernels.im2col import (col2im, col2im_batch_inner, conv_output_shape, im2col,
                              im2col_batch_inner, pad_zeros)
from ..tensor import Tensor
from ._args import check_input, ntuple, resolve_padding

__all__ = ["conv1d", "conv2d", "conv3d"]

Padding = int | Sequence[int] | str

# Backward switches to the batch-inner layout (one long GEMM over N*L) when the GEMM's
# other inner dimension Cg*K is at least this; below it, per-image products on the forward
# layout were measured faster (1->30 5x5, Cg*K = 25: ~2x), above it slower (64->64 3x3,
# Cg*K = 576: ~1.5x; 512->512 3x3 at 4x4: ~4x).
_BATCH_INNER_MIN_CGK = 64

# Forward and the batch-inner backward gather the columns a chunk of images at a time into
# one reused buffer of at most this many bytes, and multiply while the columns are still in
# cache (a loop over a handful of batch chunks, each a large GEMM; never over pixels). One
# (8, 64, 56, 56) 3x3 gather is 58 MB, far beyond cache; per image it is 7 MB.
_COLS_BUDGET_BYTES = 8 * 2**20
# Backward's dW GEMM sums over the chunk's output positions: small images in small chunks
# would make that sum short and add one weight-sized partial per chunk (resnet18's last
# stage, 512 channels at 4x4: a 3x slower backward at 8 MB chunks than in one piece).
_MIN_DW_POSITIONS = 4096

# 2-D depthwise convolutions (one input channel per group: Xception, MobileNet) run on
# compiled loops when numba is installed: im2col there copies KH*KW times the input for a
# 1 x (KH*KW) product per channel (64 channels at 8x56x56: forward 4.1 -> 2.3 ms, backward
# ~45 -> 7 ms). The tests turn this off to keep the NumPy path covered, and compare both.
_COMPILED_DEPTHWISE = True

# Forward multiplies per image when each image has at least this many output positions
# (the product's long side), and with the batch inside the columns below it.
_FORWARD_PER_IMAGE_MIN_L = 1024

# At stride 1 the input gradient is computed as a correlation (see _adjoint_padding) instead
# of a column gradient plus col2im, when each group has at least this many input channels
# (the correlation's output channels). Measured with the forward included: better at 64
# (64->64 3x3, 32x32, batch 64: 148 vs 173 ms), equal at 32, worse below (1->30 5x5 on
# 100x28x28: 31 vs 6 ms; 30->50 5x5: 33 vs 23 ms), where the product is a thin one.
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
        return correlate(x, w, b, stride, padding, dilation, groups)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, w, stride, padding, dilation, g = self.saved
        need_x, need_w, need_b = self.needs_input_grad[:3]
        n, o_ch = grad.shape[:2]
        kernel = w.shape[2:]
        spatial_axes = tuple(range(2, grad.ndim))
        # reshape copies only when grad is a broadcast view (e.g. from sum().backward()).
        dout = grad.reshape(n, g, o_ch // g, -1)  # (N, G, Og, L)

        db = grad.sum(axis=(0, *spatial_axes)) if need_b else None  # (O,)

        padded_shape = (n, x.shape[1]) + tuple(s + b + a for s, (b, a) in zip(x.shape[2:], padding))
        crop = (slice(None), slice(None)) + tuple(slice(b, b + s) for s, (b, _) in zip(x.shape[2:], padding))
        if _compiled_depthwise(x, w, g):
            dw = depthwise.backward_weight(grad, x, w.shape, stride, padding, dilation) if need_w else None
            dx = depthwise.backward_input(grad, w, x.shape, stride, padding, dilation) if need_x else None
            return dx, dw, db
        dx = None
        adjoint_pads = _adjoint_padding(kernel, stride, padding, dilation, w.shape[1])
        if need_x and adjoint_pads is not None:
            # Stride 1: dx is itself a correlation, of the output gradient with the flipped,
            # transposed kernel, so it goes through forward's cache-blocked path and lands
            # contiguous in (N, C, H, W), with no column gradient and no col2im scatter.
            dx = correlate(grad, _adjoint_weight(w, g), None, stride, adjoint_pads, dilation, g)
            need_x = False
        if need_w or need_x:
            cg_k = w[0].size  # Cg*K, the inner dimension of the forward GEMM
            if cg_k >= _BATCH_INNER_MIN_CGK:
                dw, dxpad = self._backward_batch_inner(x, w, grad, padded_shape, need_w, need_x)
            else:
                dw, dxpad = self._backward_per_image(x, w, dout, padded_shape, need_w, need_x)
            if dxpad is not None:
                dx = dxpad[crop]  # (N, C, H, W): drop the padding
        else:
            dw = None
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
            dw = (dout @ cols.swapaxes(-1, -2)).sum(axis=0).reshape(w.shape)  # (O, Cg, KH, KW)
        if need_x:
            w_mat_t = w.reshape(g, o_ch // g, -1).swapaxes(-1, -2)  # (G, Cg*K, Og), a view
            dcols = w_mat_t @ dout  # (N, G, Cg*K, L)
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
                dw += dout_c @ cols_t.swapaxes(-1, -2)  # (G, Og, Cg*K)
            if need_x:
                dcols_t = xp.matmul(w_mat.swapaxes(-1, -2), dout_c,
                                    out=scratch.reshape(g, -1, span))  # (G, Cg*K, m*L)
                col2im_batch_inner(dcols_t, (stop - start,) + tuple(padded_shape[1:]), kernel, stride,
                                   dilation, out=dxpad_t[:, start:stop])  # (C, m, HP, WP)
        return (dw.reshape(w.shape) if need_w else None,
                dxpad_t.swapaxes(0, 1) if need_x else None)  # (O, Cg, KH, KW), (N, C, HP, WP)


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
              padding: Sequence[tuple[int, int]], dilation: Sequence[int], groups: int) -> np.ndarray:
    """The forward formula on raw arrays: (N, C, *spatial) -> (N, O, *out_size).

    Gathers the columns a chunk of images at a time into one reused buffer and multiplies
    while they are in cache (see _COLS_BUDGET_BYTES); 1x1 stride-1 kernels need no gather.
    """
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
    elif math.prod(kernel) == 1 and all(s == 1 for s in stride):
        # 1x1 at stride 1: the columns are the input itself, no gather, no chunks (measured
        # as fast as the batch-inner layout even at 7x7, where that one needs two transposes).
        xpad = pad_zeros(x, padding)  # (N, C, HP, WP); 1x1 convs are rarely padded
        xp.matmul(w.reshape(g, o_ch // g, -1), xpad.reshape(n, g, -1, positions), out=out_groups)
        if b is not None:
            out += b[:, None]  # broadcast (O, 1)
    elif positions < _FORWARD_PER_IMAGE_MIN_L:
        _correlate_batch_inner(x, w, b, stride, padding, dilation, groups, padded, out)
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
            xp.matmul(w_mat, cols, out=out_groups[start:stop])  # (m, G, Og, L)
        if b is not None and not ones:
            out += b[:, None]  # broadcast (O, 1)
    return out.reshape(n, o_ch, *out_size)  # (N, O, OH, OW), free


def _correlate_batch_inner(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Sequence[int],
                           padding: Sequence[tuple[int, int]], dilation: Sequence[int], g: int,
                           padded: Sequence[int], out: np.ndarray) -> None:
    """Forward for small outputs (L = OH*OW short): per chunk, ONE product over the chunk.

    Per image, W (O, C*K) @ cols (C*K, L) with a short L repacks the whole weight for a
    thin product (resnet18's 512-channel stage at 4x4: L = 16). With the batch inside the
    columns, (C*K, m*L), it is one product per chunk; the (O, m, L) result is then copied
    into out's (m, O, L) slots. Fills out (N, O, L) in place.
    """
    n, c = x.shape[:2]
    o_ch, kernel = w.shape[0], w.shape[2:]
    positions = out.shape[-1]
    ones = b is not None and g == 1
    w_mat = _weight_matrix(w, b if ones else None, g)  # (G, Og, Cg*K [+1])
    gathered = c * math.prod(kernel)  # C*K
    rows = gathered + int(ones)
    chunk = _batch_chunk(n, rows * positions * x.itemsize, -(-_MIN_DW_POSITIONS // positions))
    buf = xp.empty(rows * chunk * positions, dtype=x.dtype)  # flat: any chunk's prefix is contiguous
    res = xp.empty(o_ch * chunk * positions, dtype=x.dtype)
    pad_buf = _padded_buffer(x, chunk, padded, padding)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        span = (stop - start) * positions  # m*L
        cols_t = buf[: rows * span].reshape(rows, span)  # (C*K [+1], m*L)
        if ones:
            cols_t[-1] = 1
        xpad = pad_zeros(x[start:stop], padding, out=_head(pad_buf, stop - start))  # (m, C, HP, WP)
        im2col_batch_inner(xpad, kernel, stride, dilation, out=cols_t[:gathered])  # leading rows: contiguous
        prod = xp.matmul(w_mat, cols_t.reshape(g, -1, span),
                         out=res[: o_ch * span].reshape(g, o_ch // g, span))  # (G, Og, m*L)
        out[start:stop] = prod.reshape(o_ch, stop - start, positions).swapaxes(0, 1)  # (m, O, L)
    if b is not None and not ones:
        out += b[:, None]  # broadcast (O, 1)


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


def _conv(op: str, spatial: int, input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any,
          padding: Any, dilation: Any, groups: int) -> Tensor:
    params = _check_conv_args(op, spatial, input, weight, bias, stride, padding, dilation, groups)
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
