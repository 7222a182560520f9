"""Patch gathering for convolution: im2col and its adjoint col2im, for 1, 2 or 3 spatial dims.

Raw array code: no Tensors, no autograd. Shape legend (2-D names; 1-D drops H, 3-D adds D):

    N   batch            C   channels
    H, W    input size (already padded: HP, WP)
    KH, KW  kernel size  DH, DW  dilation
    SH, SW  stride       OH, OW  output size

A convolution with weight w of shape (O, C, KH, KW) computes

    out[n, o, y, x] = sum_{c, i, j} w[o, c, i, j] * xp[n, c, y*SH + i*DH, x*SW + j*DW]

im2col lays the patches out so this sum becomes one matrix product:

    cols[n, (c, i, j), (y, x)] = xp[n, c, y*SH + i*DH, x*SW + j*DW]        (N, C*KH*KW, OH*OW)

For a fixed kernel offset (i, j) the slice cols[:, c, i, j, :, :] is the strided view
xp[:, :, i*DH : i*DH + SH*(OH-1) + 1 : SH, j*DW : ... : SW] of the padded input. All
KH*KW of them together are one strided view of xp (``patch_view``, no copy), and im2col
is a single copy of that view. (Writing it as KH*KW separate slice copies gives the same
array but is slower: each copy sweeps the whole input, whereas the single copy reads each
channel plane KH*KW times while it is in cache; bench/NOTES.md, "Changes kept".)

col2im is the adjoint (the transpose of that linear map): each column entry adds back into
the input pixel it was read from. A pixel read by several overlapping windows receives the
sum of their gradients, so col2im cannot be one copy; it is KH*KW strided adds, one per
kernel offset (a loop over offsets, never over pixels or images). Within one offset the
strided view never repeats a pixel, so each ``+=`` is a plain elementwise add.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..backend import xp

__all__ = ["conv_output_shape", "patch_view", "im2col", "col2im", "im2col_batch_inner",
           "col2im_batch_inner", "pad_zeros", "patch_view_batch_last", "col2im_batch_last_add"]


def conv_output_shape(spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                      dilation: Sequence[int]) -> tuple[int, ...]:
    """Output size of a convolution over an already padded input, per spatial dim.

    OH = floor((HP - DH*(KH-1) - 1) / SH) + 1
    """
    return tuple((n - d * (k - 1) - 1) // s + 1
                 for n, k, s, d in zip(spatial, kernel, stride, dilation))


def _window_slices(offset: Sequence[int], out: Sequence[int], stride: Sequence[int],
                   dilation: Sequence[int]) -> tuple[slice, ...]:
    """The strided slices, one per spatial dim, that kernel ``offset`` reads from the padded input.

    Kernel tap i (dilated to i*D) meets output positions y = 0..O-1 at rows i*D + y*S.
    """
    return tuple(slice(i * d, i * d + s * (o - 1) + 1, s)
                 for i, o, s, d in zip(offset, out, stride, dilation))


def pad_zeros(x: np.ndarray, pads: Sequence[tuple[int, int]], out: np.ndarray | None = None,
              first: int | None = None) -> np.ndarray:
    """Zero-pad ``len(pads)`` (spatial) dims by (before, after) pairs: the trailing ones, or
    those from axis ``first`` on (``first=1`` for the batch-last layout (C, *spatial, N)).

    Same result as ``np.pad(x, ((0, 0), (0, 0), *pads))``, but one allocation and one copy
    (np.pad is slower on small arrays). Returns ``x`` itself when nothing is padded.

    ``out``: a buffer of the padded shape whose border is already zero (one this function
    filled before, or one made with zeros): only the interior is written, so a buffer reused
    across batch chunks costs one copy of the chunk and stays in cache.
    """
    if all(b == 0 and a == 0 for b, a in pads):
        return x
    first = x.ndim - len(pads) if first is None else first
    spatial = x.shape[first: first + len(pads)]
    shape = (x.shape[:first] + tuple(n + b + a for n, (b, a) in zip(spatial, pads))
             + x.shape[first + len(pads):])  # (N, C, HP, WP) or (C, HP, WP, N)
    if out is None:
        out = xp.zeros(shape, dtype=x.dtype)
    elif out.shape != shape:
        raise ValueError(f"pad_zeros: out has shape {out.shape}, expected {shape}")
    interior = tuple(slice(b, b + n) for n, (b, _) in zip(spatial, pads))
    out[(slice(None),) * first + interior] = x
    return out


def patch_view(xpad: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
               dilation: Sequence[int]) -> np.ndarray:
    """Every convolution patch of a padded input as a read-only strided view (no copy).

    view[n, c, i, j, y, x] = xpad[n, c, y*SH + i*DH, x*SW + j*DW]; shape (N, C, KH, KW, OH, OW).

    ``sliding_window_view`` gives all windows of the dilated span DH*(KH-1)+1 at stride 1;
    taking every SH-th window and every DH-th element inside it gives the strided, dilated
    patches; the view is bounds-checked by construction (unlike a hand-made as_strided).
    """
    nd = len(kernel)
    axes = tuple(range(2, 2 + nd))
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    windows = sliding_window_view(xpad, spans, axis=axes)  # (N, C, HP-span+1, WP-span+1, spanH, spanW)
    windows = windows[(Ellipsis, *(slice(None, None, s) for s in stride),
                       *(slice(None, None, d) for d in dilation))]  # (N, C, OH, OW, KH, KW)
    # Kernel taps before output positions, so rows of cols are (c, i, j) and columns (y, x).
    order = (0, 1, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))
    return windows.transpose(order)  # (N, C, KH, KW, OH, OW)


def im2col(xpad: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
           dilation: Sequence[int], ones_row: bool = False,
           out: np.ndarray | None = None) -> np.ndarray:
    """Gather every convolution patch of a padded input into columns.

    Args:
        xpad: padded input, shape (N, C, *spatial), e.g. (N, C, HP, WP).
        kernel, stride, dilation: one int per spatial dim.
        ones_row: append a row of ones, giving (N, C*KH*KW + 1, OH*OW), so a weight
            matrix with the bias as its last column adds the bias inside the GEMM
            (saves a separate pass over the output; bench/NOTES.md, "Changes kept": conv
            bias inside the GEMM).
        out: optional C-contiguous buffer of the result's shape to gather into (a buffer
            reused across batch chunks stays in cache; see ConvNd). Always copies.

    Returns:
        cols of shape (N, C*KH*KW, OH*OW): row (c, i, j) holds, for every output position,
        the input value that kernel tap (c, i, j) multiplies there. When the kernel is
        1x1 with stride 1 no copy is made (the columns are the input itself).

    Shape:
        OH = floor((HP - DH*(KH-1) - 1) / SH) + 1, likewise OW (and OD in 3-D).

    Example:
        >>> im2col(np.arange(16.).reshape(1, 1, 4, 4), (3, 3), (1, 1), (1, 1)).shape
        (1, 9, 4)
    """
    n, c = xpad.shape[:2]
    k_count = int(np.prod(kernel))
    out_size = conv_output_shape(xpad.shape[2:], kernel, stride, dilation)
    o_count = int(np.prod(out_size))
    if k_count == 1 and all(s == 1 for s in stride) and not ones_row and out is None:
        # A 1x1 kernel at stride 1 reads every pixel once, in order: a free reshape.
        return xpad.reshape(n, c, o_count)  # (N, C, OH*OW)
    windows = patch_view(xpad, kernel, stride, dilation)  # (N, C, KH, KW, OH, OW), a view
    if ones_row or out is not None:
        rows = c * k_count + int(ones_row)
        cols = xp.empty((n, rows, o_count), dtype=xpad.dtype) if out is None else out  # (N, C*KH*KW [+1], OH*OW)
        if cols.shape != (n, rows, o_count):
            raise ValueError(f"im2col: out has shape {cols.shape}, expected {(n, rows, o_count)}")
        if ones_row:
            cols[:, -1, :] = 1
        body = cols[:, : c * k_count, :]  # (N, C*KH*KW, OH*OW), a view with row stride OH*OW
        body.shape = (n, c, *kernel, *out_size)  # splitting axes of a view never copies (raises if it would)
        xp.copyto(body, windows)  # the one gathering copy
        return cols
    # The one copy: reshape cannot view these strides, so it gathers the columns.
    return windows.reshape(n, c * k_count, o_count)  # (N, C*KH*KW, OH*OW)


def col2im(cols: np.ndarray, padded_shape: Sequence[int], kernel: Sequence[int],
           stride: Sequence[int], dilation: Sequence[int]) -> np.ndarray:
    """Adjoint of ``im2col``: scatter-add columns back onto the padded input grid.

    Args:
        cols: shape (N, C*KH*KW, OH*OW) (any shape with those elements in that order).
        padded_shape: (N, C, *spatial) of the padded input the columns were gathered from.
        kernel, stride, dilation: as given to im2col.

    Returns:
        array of ``padded_shape`` with
        dxp[n, c, y*SH + i*DH, x*SW + j*DW] += cols[n, (c, i, j), (y, x)] for every entry.
        Pixels that no window reaches (the bottom/right remainder when the stride does not
        divide the size) get 0.

    Example:
        >>> col2im(np.ones((1, 9, 4)), (1, 1, 4, 4), (3, 3), (1, 1), (1, 1))[0, 0, 1]
        array([2., 4., 4., 2.])
    """
    n, c = padded_shape[:2]
    out = conv_output_shape(padded_shape[2:], kernel, stride, dilation)
    if int(np.prod(kernel)) == 1 and all(s == 1 for s in stride):
        return cols.reshape(padded_shape)  # (N, C, HP, WP): the inverse of the free reshape
    cols = cols.reshape(n, c, *kernel, *out)  # (N, C, KH, KW, OH, OW)
    dxpad = xp.zeros(tuple(padded_shape), dtype=cols.dtype)  # (N, C, HP, WP)
    for offset in itertools.product(*(range(k) for k in kernel)):
        dxpad[(slice(None), slice(None), *_window_slices(offset, out, stride, dilation))] += cols[
            (slice(None), slice(None), *offset)
        ]  # (N, C, OH, OW)
    return dxpad


# --- the batch-inner layout, for backward's two big GEMMs ------------------------------------
# Backward needs dW = sum_n dout_n @ cols_n^T. With the batch outside (N, C*K, L) that is N
# small products and an (N, O, C*K) intermediate (N weight-sized arrays: 151 MB for
# resnet18's last stage at batch 16) before the sum. Gathering the columns with the batch
# inside instead, (C*K, N*L), turns it into ONE product whose inner dimension N*L is long,
# which BLAS runs at full speed on every core, with no intermediate:
#
#     dW (O, C*K) = dout_t (O, N*L) @ cols_t^T (N*L, C*K)
#     dcols_t (C*K, N*L) = W^T (C*K, O) @ dout_t (O, N*L)
#
# The gather is the same single copy of the patch view, only in another order.


def im2col_batch_inner(xpad: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
                       dilation: Sequence[int], out: np.ndarray | None = None) -> np.ndarray:
    """Columns with the batch inside: cols_t[(c, i, j), (n, y, x)], shape (C*KH*KW, N*OH*OW).

    ``out``: optional C-contiguous (C*KH*KW, N*OH*OW) buffer to gather into.

    Example:
        >>> im2col_batch_inner(np.zeros((2, 3, 5, 5)), (3, 3), (1, 1), (1, 1)).shape
        (27, 18)
    """
    n, c = xpad.shape[:2]
    nd = len(kernel)
    k_count = int(np.prod(kernel))
    o_count = int(np.prod(conv_output_shape(xpad.shape[2:], kernel, stride, dilation)))
    windows = patch_view(xpad, kernel, stride, dilation)  # (N, C, KH, KW, OH, OW), a view
    order = (1, *range(2, 2 + nd), 0, *range(2 + nd, 2 + 2 * nd))
    windows = windows.transpose(order)  # (C, KH, KW, N, OH, OW), a view
    if out is None:
        return windows.reshape(c * k_count, n * o_count)  # (C*KH*KW, N*OH*OW), one copy
    if out.shape != (c * k_count, n * o_count):
        raise ValueError(f"im2col_batch_inner: out has shape {out.shape}, expected {(c * k_count, n * o_count)}")
    target = out.view()
    target.shape = windows.shape  # splitting axes of a view never copies (raises if it would)
    xp.copyto(target, windows)  # the one gathering copy
    return out


def col2im_batch_inner(cols_t: np.ndarray, padded_shape: Sequence[int], kernel: Sequence[int],
                       stride: Sequence[int], dilation: Sequence[int],
                       out: np.ndarray | None = None) -> np.ndarray:
    """Adjoint of ``im2col_batch_inner``: (C*KH*KW, N*OH*OW) -> padded input layout (N, C, HP, WP).

    Accumulates into a (C, N, HP, WP) buffer, so every one of the KH*KW strided adds reads
    its source contiguously, and returns the (N, C, HP, WP) transposed view of it.
    ``out``: optional (C, N, HP, WP) array (may be a view, e.g. a batch slice of a larger
    buffer) that is overwritten with the result instead of allocating one.
    """
    n, c = padded_shape[:2]
    spatial = tuple(padded_shape[2:])
    out_size = conv_output_shape(spatial, kernel, stride, dilation)
    cols = cols_t.reshape(c, *kernel, n, *out_size)  # (C, KH, KW, N, OH, OW)
    if out is None:
        dxpad_t = xp.zeros((c, n) + spatial, dtype=cols_t.dtype)  # (C, N, HP, WP)
    else:
        if out.shape != (c, n) + spatial:
            raise ValueError(f"col2im_batch_inner: out has shape {out.shape}, expected {(c, n) + spatial}")
        dxpad_t = out
        dxpad_t[...] = 0
    for offset in itertools.product(*(range(k) for k in kernel)):
        dxpad_t[(slice(None), slice(None), *_window_slices(offset, out_size, stride, dilation))] += cols[
            (slice(None), *offset)
        ]  # (C, N, OH, OW)
    return dxpad_t.swapaxes(0, 1)  # (N, C, HP, WP), a view


# --- the batch-last layout, for short rows -----------------------------------------------------
# An activation stored as (C, *spatial, N) in memory and seen as its (N, C, *spatial) view.
# Its columns are cols_t[(c, i, j), (y, x, n)] = xp[c, y*SH + i*DH, x*SW + j*DW, n]: at
# stride 1 the run for one (c, i, j, y) is OW*N consecutive numbers, where the NCHW layouts
# copy runs of OW (4 numbers at 4x4, which NumPy's copy loop handles one short run at a
# time). The product W @ cols_t is (O, OH*OW*N): the next layer's input in the same layout,
# so no transposes between layers (juanji/kernels/conv/planner.py says when it is used).


def patch_view_batch_last(xpad_t: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
                          dilation: Sequence[int]) -> np.ndarray:
    """Every patch of a padded batch-last input (C, *spatial, N) as a strided view (no copy).

    view[c, i, j, y, x, n] = xpad_t[c, y*SH + i*DH, x*SW + j*DW, n]; shape (C, KH, KW, OH, OW, N).
    """
    nd = len(kernel)
    axes = tuple(range(1, 1 + nd))
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    windows = sliding_window_view(xpad_t, spans, axis=axes)  # (C, HP-span+1, WP-span+1, N, spanH, spanW)
    windows = windows[(slice(None), *(slice(None, None, s) for s in stride), slice(None),
                       *(slice(None, None, d) for d in dilation))]  # (C, OH, OW, N, KH, KW)
    order = (0, *range(2 + nd, 2 + 2 * nd), *range(1, 1 + nd), 1 + nd)
    return windows.transpose(order)  # (C, KH, KW, OH, OW, N)


def col2im_batch_last_add(dcols: np.ndarray, dxpad_t: np.ndarray, kernel: Sequence[int],
                          stride: Sequence[int], dilation: Sequence[int], row0: int) -> None:
    """Adjoint of the batch-last gather for output rows row0, row0 + 1, ... (first spatial axis):
    add dcols (C*KH*KW, rows*OW*N) onto the padded batch-last gradient (C, HP, WP, N) in place.

    KH*KW strided adds, one per kernel offset; within one offset no pixel repeats.
    """
    c, n = dxpad_t.shape[0], dxpad_t.shape[-1]
    out_size = list(conv_output_shape(dxpad_t.shape[1:-1], kernel, stride, dilation))
    out_size[0] = dcols.size // (c * int(np.prod(kernel)) * int(np.prod(out_size[1:])) * n)  # rows here
    cols = dcols.reshape(c, *kernel, *out_size, n)  # (C, KH, KW, rows, OW, N)
    for offset in itertools.product(*(range(k) for k in kernel)):
        window = list(_window_slices(offset, out_size, stride, dilation))
        first = window[0]
        window[0] = slice(first.start + stride[0] * row0, first.stop + stride[0] * row0, first.step)
        dxpad_t[(slice(None), *window, slice(None))] += cols[(slice(None), *offset)]  # (C, rows, OW, N)
