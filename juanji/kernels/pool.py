"""Pooling kernels: raw ndarray code, no autograd (1, 2 and 3 spatial dims with one code path).

Shape legend (2-D names; 1-D drops H, 3-D adds D before H):

    N       batch                        C       channels
    H, W    input size                   HP, WP  padded input size
    KH, KW  kernel size                  SH, SW  stride
    DH, DW  dilation                     PH, PW  padding, as (before, after)
    OH, OW  output size

Window gathering. The input is padded once with a fill value (-inf for max, 0 for sums).
Max and sum over a KH x KW box are separable,

    max_{i,j} xp[y*SH + i*DH, x*SW + j*DW] = max_i ( max_j xp[y*SH + i*DH, x*SW + j*DW] ),

so each spatial axis is reduced in turn (last axis first): KH + KW steps, not KH*KW.
Along one axis the window element at offset j of every position is the flattened array
shifted by j*D*inner (inner = product of the later dims): a contiguous view. Each step
reduces at stride 1 over contiguous memory and then keeps the positions o*S with one
strided copy. (NumPy ufuncs on strided views, e.g. xp[:, :, i::SH, j::SW], measured slower
than on contiguous ones by more than the S-fold extra work; a reshape "tiling" path for
stride == kernel, e.g. x.reshape(N, C, OH, KH, OW, KW).max((3, 5)), was slower still, so
there is none: bench/NOTES.md, "Changes kept": pooling over shifted contiguous views.)

Max-pool backward sends each window's gradient to its arg-max only. Forward records, per
axis and output, the offset j of the first maximum (strict comparisons; reducing the last
axis first gives the first maximum in row-major window order, PyTorch's tie rule).
Backward undoes the axes in reverse: along each, the gradient of offset j is placed at the
positions o*S of a zero stride-1 array and added at shift j*D (index arithmetic and k
shifted adds; overlapping windows accumulate; no np.add.at, no per-window mask).

Adaptive pools (PyTorch's bins: start = floor(o*n/O), end = ceil((o+1)*n/O)) run one axis at
a time too: max with offsets k = 0..longest bin, average as a (O, n) matrix product.
"""

from __future__ import annotations

import itertools
from typing import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..backend import xp
from .layout import empty_as, zeros_as

__all__ = [
    "effective_pads", "pad_constant", "crop_padding", "max_pool_forward", "max_pool_backward",
    "tiles_fit", "max_pool_tiles_forward", "max_pool_tiles_backward",
    "argmax_to_indices",    "sum_pool_forward", "sum_pool_backward", "window_counts", "avg_divisor",
    "adaptive_bins", "adaptive_max_axis", "adaptive_max_axis_backward", "adaptive_avg_matrix",
    "apply_along_axis_matrix",
]

Pads = Sequence[tuple[int, int]]


# --- window gathering ------------------------------------------------------------------------
def effective_pads(in_size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                   dilation: Sequence[int], pads: Pads, out_size: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """The (before, after) padding the windows actually touch.

    The last window ends at (O-1)*S + D*(K-1) + 1 in padded coordinates. With ceil_mode it
    may hang past the user's right padding (extra cells of fill value are added); without
    it the right padding may be partly unused (it is not materialised).
    """
    out = []
    for n, k, s, d, (before, _), o in zip(in_size, kernel, stride, dilation, pads, out_size):
        need = (o - 1) * s + d * (k - 1) + 1
        out.append((before, max(need - n - before, 0)))
    return tuple(out)


def pad_constant(x: np.ndarray, pads: Pads, value: float) -> np.ndarray:
    """Pad the spatial dims of (N, C, *S) with ``value``; returns ``x`` itself when pads are 0."""
    if all(b == 0 and a == 0 for b, a in pads):
        return x
    shape = x.shape[:2] + tuple(n + b + a for n, (b, a) in zip(x.shape[2:], pads))
    out = xp.full(shape, value, dtype=x.dtype)                                   # (N, C, HP, WP)
    inner = (slice(None), slice(None)) + tuple(slice(b, b + n) for n, (b, _) in zip(x.shape[2:], pads))
    out[inner] = x
    return out


def crop_padding(gp: np.ndarray, in_shape: Sequence[int], pads: Pads) -> np.ndarray:
    """The part of a padded-shape gradient that belongs to the input (drops the padding)."""
    if all(b == 0 and a == 0 for b, a in pads):
        return gp
    inner = (slice(None), slice(None)) + tuple(slice(b, b + n) for n, (b, _) in zip(in_shape[2:], pads))
    return xp.ascontiguousarray(gp[inner])                                       # (N, C, H, W)


def _offset_dtype(count: int) -> np.dtype:
    """Smallest unsigned integer type that numbers ``count`` kernel offsets (keeps the cache small)."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if count <= np.iinfo(dt).max + 1:
            return np.dtype(dt)
    return np.dtype(np.int64)


# --- one axis at a time: shifted views of the flattened array ---------------------------------
# Max and sum over a box are separable: max over (i, j) = max over i of (max over j). Each
# axis is reduced in turn, last axis first. Along an axis with `inner` = product of the later
# dims, the window element at offset j of EVERY position is the flat array shifted by
# j*D*inner, a contiguous view; NumPy is faster on contiguous views than on strided ones (see
# the module docstring), so each stage reduces at stride 1 over contiguous memory and then picks
# positions o*S with one strided copy. Reducing the last axis first keeps PyTorch's tie
# rule: the first row holding the maximum, and in it the first column.
def _axis_geometry(shape: Sequence[int], axis: int, k: int, d: int) -> tuple[int, int, int]:
    """(outer, inner, span): dims before/after ``axis`` flattened, and the cells the shifts drop."""
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return outer, inner, (k - 1) * d * inner


def _stride_view(flat: np.ndarray, shape: Sequence[int], axis: int, s: int, o: int) -> np.ndarray:
    """View of a stride-1 result (flat, missing the last ``span`` cells) at positions o*S along axis.

    The last position read is ((outer-1)*n + (o-1)*S)*inner + inner - 1, inside the array
    because (o-1)*S + D*(k-1) + 1 <= n (the padded extent covers every window).
    """
    outer, inner, _ = _axis_geometry(shape, axis, 1, 1)
    n = shape[axis]
    it = flat.itemsize
    # With one output position the stride between positions is never used; 0 keeps a huge S
    # (one window at the start) from overflowing the view's byte strides.
    step = s * inner * it if o > 1 else 0
    return as_strided(flat, (outer, o, inner), (n * inner * it, step, it))  # (outer, O, inner)


def _reduce_axis(y: np.ndarray, axis: int, k: int, s: int, d: int, o: int, op: str,
                 with_argmax: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Max (with arg-max offset) or sum over windows of one axis of a contiguous array."""
    shape = y.shape
    out_shape = tuple(shape[:axis]) + (o,) + tuple(shape[axis + 1:])
    if y.size == 0:  # an empty batch or channel dim: nothing to reduce
        empty_arg = xp.zeros(out_shape, dtype=_offset_dtype(k)) if op == "max" and with_argmax else None
        return xp.zeros(out_shape, dtype=y.dtype), empty_arg
    _, inner, span = _axis_geometry(shape, axis, k, d)
    flat = y.reshape(-1)
    length = flat.size - span
    res = flat[:length].copy()                                                   # (length,)
    arg = tmp = mask = None
    if op == "max" and with_argmax:
        arg = xp.zeros(length, dtype=_offset_dtype(k))                           # (length,)
        tmp = xp.empty(length, dtype=arg.dtype)                                  # (length,)
        mask = xp.empty(length, dtype=bool)                                      # (length,)
    for j in range(1, k):
        view = flat[j * d * inner: j * d * inner + length]                       # (length,)
        if op == "sum":
            res += view
            continue
        if with_argmax:
            # The offsets come in increasing order, so "arg = j where view wins" is a max.
            xp.greater(view, res, out=mask)
            xp.multiply(mask, arg.dtype.type(j), out=tmp)
            xp.maximum(arg, tmp, out=arg)
        xp.maximum(res, view, out=res)
    maxima = xp.ascontiguousarray(_stride_view(res, shape, axis, s, o)).reshape(out_shape)  # (.., O, ..)
    if arg is not None and _holds_nan(maxima):
        _nan_wins(res, arg, lambda j: flat[j * d * inner: j * d * inner + length], k)
    res = maxima
    if arg is not None:
        arg = xp.ascontiguousarray(_stride_view(arg, shape, axis, s, o)).reshape(out_shape)
    return res, arg


def _holds_nan(maxima: np.ndarray) -> bool:
    """Whether some window maximum is NaN: one summing pass over the output, as a NaN anywhere
    makes the sum NaN (so does inf - inf, which only costs _nan_wins a pass that changes nothing)."""
    return bool(xp.isnan(xp.sum(maxima)))


def _nan_wins(res: np.ndarray, arg: np.ndarray, tap: Callable[[int], np.ndarray], k: int) -> None:
    """PyTorch's rule for a window holding a NaN: the last NaN is the arg-max (and takes the
    gradient). ``res`` holds the window maxima (NaN there: np.maximum propagates it), ``arg``
    the offsets of the first maxima, ``tap(j)`` window offset j's values, all of one shape.
    Only called when _holds_nan."""
    nan = xp.isnan(res)                                                          # windows with a NaN
    for j in range(k):  # increasing offsets: the last NaN stays
        arg[nan & xp.isnan(tap(j))] = j


def _scatter_axis(g: np.ndarray, arg: np.ndarray | None, n: int, axis: int, k: int, s: int,
                  d: int) -> np.ndarray:
    """Adjoint of ``_reduce_axis``: gradient (.., O, ..) -> (.., n, ..) along one axis.

    The gradient of offset j (all of g for a sum, g where arg == j for a max) is placed at
    the positions o*S of a zero stride-1 array G (one strided copy), then dy[shift j] += G:
    k contiguous shifted adds. Buffers are reused across offsets: fresh large arrays cost
    page faults, masked ufuncs (where=) branch per element, and both are slow.
    """
    shape = g.shape[:axis] + (n,) + g.shape[axis + 1:]
    o = g.shape[axis]
    _, inner, span = _axis_geometry(shape, axis, k, d)
    size = int(np.prod(shape, dtype=np.int64))
    if size == 0:
        return xp.zeros(shape, dtype=g.dtype)
    length = size - span
    full = xp.zeros(length, dtype=g.dtype)                                       # (length,)
    view = _stride_view(full, shape, axis, s, o)                                 # (outer, O, inner)
    g3 = g.reshape(view.shape)                                                   # (outer, O, inner)
    if arg is None:
        view[...] = g3
    else:
        arg3 = arg.reshape(view.shape)                                           # (outer, O, inner)
        mask = xp.empty(view.shape, dtype=bool)                                  # (outer, O, inner)
        part = xp.empty(view.shape, dtype=g.dtype)                               # (outer, O, inner)
    dy = xp.zeros(size, dtype=g.dtype)                                           # (size,)
    for j in range(k):
        if arg is not None:
            xp.equal(arg3, j, out=mask)
            xp.multiply(g3, mask, out=part)
            view[...] = part
        dy[j * d * inner: j * d * inner + length] += full
    return dy.reshape(shape)


# --- max pooling ------------------------------------------------------------------------------
def max_pool_forward(x: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
                     dilation: Sequence[int], pads: Pads, out_size: Sequence[int],
                     with_argmax: bool) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """Max over each window; optionally the winning offset per axis (one array per axis).

    ``pads`` must come from ``effective_pads``; padding cells hold -inf, so they never
    win against a real value. Comparisons are strict (a later offset must be greater), so on
    ties the first maximum in row-major window order wins, as in PyTorch; a window holding a
    NaN outputs NaN and its arg-max is its last NaN, as in PyTorch (one axis at a time: the
    last NaN along the last axis, then the last row holding one).
    """
    y = xp.ascontiguousarray(pad_constant(x, pads, -np.inf))                     # (N, C, HP, WP)
    args: list[np.ndarray | None] = [None] * len(kernel)
    for i in reversed(range(len(kernel))):
        y, args[i] = _reduce_axis(y, 2 + i, kernel[i], stride[i], dilation[i], out_size[i],
                                  "max", with_argmax)                            # (N, C, HP, OW) ..
    return y, args


def max_pool_backward(g: np.ndarray, args: Sequence[np.ndarray], in_shape: Sequence[int],
                      kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
                      pads: Pads) -> np.ndarray:
    """Send each output gradient to its window's arg-max; overlapping windows accumulate.

    The axes are undone in the reverse order of forward (first axis first): along each,
    dx[o*S + arg[o]*D] += g[o], done as k shifted adds of the masked gradient.
    """
    for i in range(len(kernel)):
        n = in_shape[2 + i] + pads[i][0] + pads[i][1]
        g = _scatter_axis(g, args[i], n, 2 + i, kernel[i], stride[i], dilation[i])  # (N, C, HP, OW) ..
    return crop_padding(g, in_shape, pads)


def argmax_to_indices(args: Sequence[np.ndarray], in_size: Sequence[int], stride: Sequence[int],
                      dilation: Sequence[int], pads: Pads) -> np.ndarray:
    """PyTorch's ``return_indices``: flat index of each arg-max in its (H*W) input plane.

    The arg of axis i was recorded on an array of shape (N, C, P_0..P_{i-1}, O_i..): it is
    read at the padded positions p_j = o_j*S_j + arg_j*D_j already found for the axes j < i.
    """
    nd = len(args)
    out_shape = args[-1].shape[:2] + args[0].shape[2:]
    grids = xp.indices(out_shape, sparse=True)                                   # (N,1..), (1,C,1..) ..
    positions: list[np.ndarray] = []
    for i, a in enumerate(args):
        index = (grids[0], grids[1]) + tuple(positions) + tuple(grids[2 + i:])
        p = grids[2 + i] * stride[i] + a[index].astype(np.int64) * dilation[i]  # (N, C, OH, OW)
        positions.append(p)
    flat = xp.zeros(out_shape, dtype=np.int64)                                   # (N, C, OH, OW)
    for i in range(nd):
        flat = flat * in_size[i] + (positions[i] - pads[i][0])
    return flat


# --- sum and average pooling ------------------------------------------------------------------
def sum_pool_forward(x: np.ndarray, kernel: Sequence[int], stride: Sequence[int], pads: Pads,
                     out_size: Sequence[int]) -> np.ndarray:
    """Sum over each window, padding cells counting as 0. ``pads`` from ``effective_pads``."""
    y = xp.ascontiguousarray(pad_constant(x, pads, 0.0))                         # (N, C, HP, WP)
    for i in reversed(range(len(kernel))):
        y, _ = _reduce_axis(y, 2 + i, kernel[i], stride[i], 1, out_size[i], "sum", False)
    return y


def sum_pool_backward(g: np.ndarray, in_shape: Sequence[int], kernel: Sequence[int],
                      stride: Sequence[int], pads: Pads) -> np.ndarray:
    """Adjoint of ``sum_pool_forward``: every cell of a window receives the window's gradient."""
    for i in range(len(kernel)):
        n = in_shape[2 + i] + pads[i][0] + pads[i][1]
        g = _scatter_axis(g, None, n, 2 + i, kernel[i], stride[i], 1)            # (N, C, HP, OW) ..
    return crop_padding(g, in_shape, pads)


def window_counts(n: int, k: int, s: int, pad: tuple[int, int], out: int,
                  include_pad: bool) -> np.ndarray:
    """Per-output divisor along one dim, PyTorch's rule (aten AvgPoolKernel).

    A window starts at o*S - P_before and is first clipped to the padded extent
    [-P_before, n + P_after): that length is the count with padding included. Clipped
    again to the input [0, n), it is the count without padding. So a window that
    ceil_mode lets hang past the right padding never counts the cells beyond it.
    """
    before, after = pad
    start = xp.arange(out) * s - before                                          # (O,)
    end = xp.minimum(start + k, n + after)                                       # (O,)
    if include_pad:
        return end - start
    return xp.minimum(end, n) - xp.maximum(start, 0)


def avg_divisor(in_size: Sequence[int], kernel: Sequence[int], stride: Sequence[int], pads: Pads,
                out_size: Sequence[int], include_pad: bool, dtype: np.dtype) -> np.ndarray:
    """Divisor of every output cell, the outer product of the per-dim counts: (OH, OW)."""
    nd = len(kernel)
    div = xp.ones((1,) * nd, dtype=dtype)                                        # (1, 1)
    for dim, (n, k, s, p, o) in enumerate(zip(in_size, kernel, stride, pads, out_size)):
        c = window_counts(n, k, s, p, o, include_pad).astype(dtype)             # (O,)
        div = div * c.reshape((1,) * dim + (o,) + (1,) * (nd - 1 - dim))        # (OH, OW)
    return div


# --- adaptive pooling, one axis at a time ----------------------------------------------------
def adaptive_bins(n: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's adaptive bins: start = floor(o*n/O), end = ceil((o+1)*n/O), as integer math."""
    o = xp.arange(out)                                                           # (O,)
    start = (o * n) // out                                                       # (O,)
    end = -((-(o + 1) * n) // out)                                               # (O,)
    return start, end


def _axis_index(ndim: int, axis: int, index: object) -> tuple[object, ...]:
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


def adaptive_max_axis(x: np.ndarray, axis: int, out: int,
                      with_argmax: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Max over PyTorch's adaptive bins along one axis; arg = offset of the first max in the bin
    (of its last NaN when it holds one, as in PyTorch).

    Offset k reads element min(start + k, end - 1): bins shorter than the longest one
    repeat their last element, which can never beat itself, so ties and results are unchanged.
    """
    start, end = adaptive_bins(x.shape[axis], out)
    longest = int((end - start).max())
    res = arg = mask = None
    for k in range(longest):
        view = xp.take(x, xp.minimum(start + k, end - 1), axis=axis)             # (..., O, ...)
        if res is None:
            res = view
            if with_argmax:
                arg = xp.zeros(res.shape, dtype=_offset_dtype(longest))         # (..., O, ...)
                mask = xp.empty(res.shape, dtype=bool)
            continue
        if with_argmax:
            xp.greater(view, res, out=mask)
            xp.copyto(arg, k, where=mask)
        xp.maximum(res, view, out=res)
    if with_argmax and res is not None and _holds_nan(res):
        _nan_wins(res, arg, lambda k: xp.take(x, xp.minimum(start + k, end - 1), axis=axis), longest)
    return res, arg


def adaptive_max_axis_backward(g: np.ndarray, arg: np.ndarray, axis: int, n: int) -> np.ndarray:
    """Adjoint of ``adaptive_max_axis``: dx[start[o] + arg[o]] += g[o] along ``axis``.

    Offset k writes to index min(start + k, end - 1) for every o. Fancy-index ``+=`` loses
    repeated indices, so outputs are split into groups o = r, r + m, r + 2m, ... where m is
    the largest repeat count (1 when O <= n, as the indices then strictly increase).
    """
    out = g.shape[axis]
    start, end = adaptive_bins(n, out)
    shape = g.shape[:axis] + (n,) + g.shape[axis + 1:]
    dx = xp.zeros(shape, dtype=g.dtype)                                          # (..., n, ...)
    zero = xp.zeros((), dtype=g.dtype)
    for k in range(int((end - start).max())):
        idx = xp.minimum(start + k, end - 1)                                     # (O,)
        contrib = xp.where(arg == k, g, zero)                                    # (..., O, ...)
        m = int(xp.bincount(idx).max())
        for r in range(m):
            sel = slice(r, None, m)
            dx[_axis_index(dx.ndim, axis, idx[sel])] += contrib[_axis_index(dx.ndim, axis, sel)]
    return dx


def adaptive_avg_matrix(n: int, out: int, dtype: np.dtype) -> np.ndarray:
    """A (O, n) with A[o, start:end] = 1 / (end - start): the adaptive average as a matrix."""
    start, end = adaptive_bins(n, out)
    cols = xp.arange(n)                                                          # (n,)
    inside = (cols >= start[:, None]) & (cols < end[:, None])                    # (O, n)
    return (inside / (end - start)[:, None]).astype(dtype)                       # (O, n)


def apply_along_axis_matrix(x: np.ndarray, a: np.ndarray, axis: int) -> np.ndarray:
    """y = A applied to ``axis`` of x: y[..., o, ...] = sum_i A[o, i] x[..., i, ...].

    The axes before and after are flattened so this is one matmul: a single GEMM
    (B, n) @ (n, O) for the last axis, a batched (O, n) @ (B, n, R) otherwise.
    """
    n = x.shape[axis]
    o = a.shape[0]
    before = int(np.prod(x.shape[:axis], dtype=np.int64))
    rest = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    if rest == 1:
        y = x.reshape(before, n) @ a.T                                           # (B, O)
    else:
        y = xp.matmul(a, x.reshape(before, n, rest))                             # (B, O, R)
    return y.reshape(x.shape[:axis] + (o,) + x.shape[axis + 1:])


# --- non-overlapping windows (stride == kernel, no padding, no dilation) ------------------------
# The common 2x2/2 pool tiles the input: window offset (i, j) of every output position is the
# strided view x[..., i::KH, j::KW] of one (OH, OW) grid. The max is KH*KW elementwise passes
# over output-sized views, and backward writes each offset's share of the gradient straight
# into its strided view of dx: no scatter, no padding, no intermediate of input size.
def tiles_fit(kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
              pads: Sequence[tuple[int, int]], in_size: Sequence[int], out_size: Sequence[int]) -> bool:
    """True when the windows tile the input: stride == kernel, no dilation, no padding, inside it."""
    return (tuple(stride) == tuple(kernel) and all(d == 1 for d in dilation)
            and all(p == (0, 0) for p in pads)
            and all(o * k <= n for o, k, n in zip(out_size, kernel, in_size)))


def _tile_view(a: np.ndarray, offset: Sequence[int], kernel: Sequence[int],
               out_size: Sequence[int]) -> np.ndarray:
    """a[..., i::KH, j::KW] cut to (OH, OW): window element ``offset`` of every output position."""
    return a[(Ellipsis, *(slice(i, i + k * o, k) for i, k, o in zip(offset, kernel, out_size)))]


def max_pool_tiles_forward(x: np.ndarray, kernel: Sequence[int], out_size: Sequence[int],
                           with_argmax: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Max over tiling windows, and the row-major offset of each window's first maximum (of
    its last NaN when it holds one, as in PyTorch)."""
    offsets = list(itertools.product(*(range(k) for k in kernel)))
    out = _tile_view(x, offsets[0], kernel, out_size).copy(order="K")            # (N, C, OH, OW), x's layout
    arg = mask = None
    if with_argmax:
        arg = xp.zeros_like(out, dtype=_offset_dtype(len(offsets)))              # (N, C, OH, OW)
        mask = xp.empty_like(out, dtype=bool)                                    # (N, C, OH, OW)
    for index, offset in enumerate(offsets[1:], start=1):
        view = _tile_view(x, offset, kernel, out_size)                           # (N, C, OH, OW)
        if with_argmax:
            # Strictly greater: on ties the earlier offset keeps the max, as in PyTorch. The
            # offsets increase, so "arg = index where view wins" is a running maximum.
            xp.greater(view, out, out=mask)
            xp.maximum(arg, mask * arg.dtype.type(index), out=arg)
        xp.maximum(out, view, out=out)
    if with_argmax and _holds_nan(out):
        _nan_wins(out, arg, lambda j: _tile_view(x, offsets[j], kernel, out_size), len(offsets))
    return out, arg


def max_pool_tiles_backward(g: np.ndarray, arg: np.ndarray, in_shape: Sequence[int],
                            kernel: Sequence[int]) -> np.ndarray:
    """dx[..., o*K + arg] = g[..., o]: each offset's share written into its strided view."""
    out_size = g.shape[2:]
    # Tiles that cover x write every element of dx; a strip they leave (an odd row or column)
    # stays zero. Not zero-filling first saves a pass over dx (bench/NOTES.md, "Changes kept",
    # "2026-12-05": max pool by tiles, backward).
    covered = all(o * k == n for o, k, n in zip(out_size, kernel, in_shape[2:]))
    dx = (empty_as if covered else zeros_as)(arg, in_shape, g.dtype)             # (N, C, H, W), x's layout
    offsets = itertools.product(*(range(k) for k in kernel))
    for index, offset in enumerate(offsets):
        xp.multiply(g, arg == index, out=_tile_view(dx, offset, kernel, out_size))  # (N, C, OH, OW)
    return dx
