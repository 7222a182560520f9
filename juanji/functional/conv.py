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
juanji/kernels/im2col.py) this is one batched matrix product per group:

    cols (N, G, Cg*K, L) = im2col(xp)
    out  (N, G, Og, L)   = W (G, Og, Cg*K) @ cols          -> reshapes to (N, O, OH, OW), no transpose

and the backward pass is two more products and the adjoint scatter:

    dW  = sum_n dout_n @ cols_n^T          (G, Og, Cg*K)
    dcols = W^T @ dout                     (N, G, Cg*K, L)
    dx  = crop(col2im(dcols))              KH*KW strided adds, then drop the padding
    db  = sum of dout over n, y, x

When Cg*K is large (64 and up) backward gathers the columns with the batch inside,
(G, Cg*K, N*L), so that dW and dcols are each ONE product over the whole batch instead of N
small ones plus an (N, O, Cg*K) intermediate (see juanji/kernels/im2col.py).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..autograd import Function
from ..backend import xp
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


class ConvNd(Function):
    """N-d grouped, strided, dilated cross-correlation (1, 2 or 3 spatial dims).

    Forward keeps only the input and the weight, not the columns: the input array is
    referenced by the graph anyway (so keeping it costs no memory), whereas the columns
    are K/(SH*SW) times larger than the input (9x for a 3x3 stride-1 conv: 58 MB instead
    of 6.4 MB for a (8, 64, 56, 56) float32 activation). Backward re-gathers the columns,
    and only when the weight needs a gradient; the gather is a memory copy, cheap next
    to the three GEMMs.
    """

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, *,
                stride: tuple[int, ...], padding: tuple[tuple[int, int], ...],
                dilation: tuple[int, ...], groups: int) -> np.ndarray:
        n = x.shape[0]
        o_ch = w.shape[0]
        kernel = w.shape[2:]
        g = groups
        xpad = pad_zeros(x, padding)  # (N, C, HP, WP)
        out_size = conv_output_shape(xpad.shape[2:], kernel, stride, dilation)
        if b is not None and g == 1:
            # Bias inside the GEMM: [W | b] @ [cols; 1] = W @ cols + b, no extra pass over out.
            cols = im2col(xpad, kernel, stride, dilation, ones_row=True)  # (N, C*K + 1, L)
            w_mat = xp.concatenate([w.reshape(o_ch, -1), b[:, None]], axis=1)  # (O, C*K + 1)
            out = w_mat @ cols  # (N, O, L)
        else:
            cols = im2col(xpad, kernel, stride, dilation)  # (N, C*K, L)
            cols = cols.reshape(n, g, -1, cols.shape[-1])  # (N, G, Cg*K, L), free: C = G*Cg is outermost
            w_mat = w.reshape(g, o_ch // g, -1)  # (G, Og, Cg*K)
            out = w_mat @ cols  # (N, G, Og, L)
            if b is not None:
                out = out.reshape(n, o_ch, -1)  # (N, O, L), free
                out += b[:, None]  # broadcast (O, 1)
        out = out.reshape(n, o_ch, *out_size)  # (N, O, OH, OW), free
        self.save_for_backward(x, w, stride, padding, dilation, groups)
        return out

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
        cg_k = w[0].size  # Cg*K, the inner dimension of the forward GEMM
        if cg_k >= _BATCH_INNER_MIN_CGK:
            dw, dx = self._backward_batch_inner(x, w, grad, padded_shape, need_w, need_x)
        else:
            dw, dx = self._backward_per_image(x, w, dout, padded_shape, need_w, need_x)
        if dx is not None:
            dx = dx[crop]  # (N, C, H, W): drop the padding
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
        """Large Cg*K: one GEMM per group over the whole batch (see im2col_batch_inner)."""
        _, _, stride, padding, dilation, g = self.saved
        n, o_ch, kernel = x.shape[0], w.shape[0], w.shape[2:]
        # dout with the batch inside: (O, N*L) = (G, Og, N*L), one copy of the output gradient.
        dout_t = xp.ascontiguousarray(grad.reshape(n, o_ch, -1).swapaxes(0, 1))  # (O, N, L)
        dout_t = dout_t.reshape(g, o_ch // g, -1)  # (G, Og, N*L)
        dw = dx = None
        if need_w:
            cols_t = im2col_batch_inner(pad_zeros(x, padding), kernel, stride, dilation)  # (C*K, N*L)
            cols_t = cols_t.reshape(g, -1, cols_t.shape[-1])  # (G, Cg*K, N*L)
            dw = (dout_t @ cols_t.swapaxes(-1, -2)).reshape(w.shape)  # (G, Og, Cg*K) -> (O, Cg, KH, KW)
        if need_x:
            w_mat_t = w.reshape(g, o_ch // g, -1).swapaxes(-1, -2)  # (G, Cg*K, Og), a view
            dcols_t = w_mat_t @ dout_t  # (G, Cg*K, N*L)
            dx = col2im_batch_inner(dcols_t, padded_shape, kernel, stride, dilation)  # (N, C, HP, WP)
        return dw, dx


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
