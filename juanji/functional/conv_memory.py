"""The scratch memory of juanji/functional/conv.py's kernel, for juanji.analysis's estimates.

Each function mirrors a code path of ``correlate`` / ``ConvNd.backward`` (the same chunk
sizes, from the same ``_batch_chunk`` and thresholds), so a change to the kernel changes the
estimate with it; tests/test_summary.py checks the count against tracemalloc per path.

``x_batch_last``: whether the input arrives in the batch-last layout (see conv.py). None
assumes what a network passes on: batch-last exactly when this layer itself takes the
batch-last route by its sizes (juanji.analysis probes with one sample, where the two layouts
cannot be told apart); the first batch-last layer after NCHW ones then misses one copy of
its input.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..kernels import rowshift, winograd
from ..kernels.im2col import conv_output_shape
from .conv import (_BATCH_INNER_MIN_CGK, _MIN_DW_POSITIONS, _ROWSHIFT_BUDGET_BYTES, _adjoint_padding, _batch_chunk,
                   _batch_last_by_shape, _compiled_direct, _depthwise_shape, _row_chunk, _rowshift,
                   _winograd)

__all__ = ["correlate_workspace_elems", "backward_workspace_elems"]


def _layout(x_batch_last: bool | None, spatial: Sequence[int], w_shape: Sequence[int],
            stride: Sequence[int], padding: Sequence[tuple[int, int]], dilation: Sequence[int],
            groups: int) -> tuple[bool, bool]:
    """(input is batch-last, route is batch-last)."""
    if x_batch_last is None:
        x_batch_last = _batch_last_by_shape(False, spatial, w_shape, stride, padding, dilation, groups)
    return x_batch_last, _batch_last_by_shape(x_batch_last, spatial, w_shape, stride, padding, dilation,
                                              groups)


def correlate_workspace_elems(n: int, c: int, spatial: Sequence[int], w_shape: Sequence[int],
                              stride: Sequence[int], padding: Sequence[tuple[int, int]],
                              dilation: Sequence[int], groups: int, bias: bool, itemsize: int,
                              x_batch_last: bool | None = None, route: bool | None = None) -> int:
    """Elements of the scratch arrays ``correlate`` allocates beyond its result, mirroring it
    (``route``: its ``batch_last`` argument, when the caller fixes it)."""
    kernel = tuple(w_shape[2:])
    padded = tuple(s + b + a for s, (b, a) in zip(spatial, padding))
    out_size = conv_output_shape(padded, kernel, stride, dilation)
    positions = math.prod(out_size)
    is_padded = any(b or a for b, a in padding)
    x_batch_last, by_shape = _layout(x_batch_last, spatial, w_shape, stride, padding, dilation, groups)
    route = by_shape if route is None else route
    if not route and x_batch_last:
        return n * c * math.prod(spatial) + correlate_workspace_elems(
            n, c, spatial, w_shape, stride, padding, dilation, groups, bias, itemsize, False, False)
    if _depthwise_shape(w_shape, groups, len(spatial)):
        return 0  # the compiled loops read the input in place
    ones = bias and groups == 1
    rows = c * math.prod(kernel) + int(ones)
    pointwise = math.prod(kernel) == 1 and all(s == 1 for s in stride)
    by_winograd = _winograd(np.dtype(f"f{itemsize}"), w_shape, stride, dilation, groups)
    if route:
        copy = 0 if x_batch_last else n * c * math.prod(spatial)  # to_batch_last
        if by_winograd:
            return copy + winograd.workspace_elems(n, c, w_shape[0], spatial, padding, True, itemsize)
        if _compiled_direct(np.dtype(f"f{itemsize}"), w_shape, n, stride, groups):
            return copy  # the loop reads the unpadded input in place
        if pointwise and not is_padded:
            return copy
        if _rowshift(np.dtype(f"f{itemsize}"), w_shape, stride, dilation, groups):
            return copy + is_padded * n * c * math.prod(padded) + rowshift.band_workspace_elems(
                c, w_shape, stride, dilation, out_size, n, bias, itemsize, _ROWSHIFT_BUDGET_BYTES)
        row = math.prod(out_size[1:]) * n
        step = _row_chunk(out_size[0], rows * row * itemsize)
        return copy + is_padded * n * c * math.prod(padded) + rows * step * row
    if by_winograd:
        return winograd.workspace_elems(n, c, w_shape[0], spatial, padding, False, itemsize)
    if _rowshift(np.dtype(f"f{itemsize}"), w_shape, stride, dilation, groups):
        return rowshift.workspace_elems(n, c, w_shape, spatial, stride, padding, dilation, out_size, bias,
                                        itemsize, _ROWSHIFT_BUDGET_BYTES)
    if pointwise:
        return is_padded * n * c * math.prod(padded)
    chunk = _batch_chunk(n, rows * positions * itemsize)
    return chunk * rows * positions + is_padded * chunk * c * math.prod(padded)


def backward_workspace_elems(n: int, c: int, spatial: Sequence[int], w_shape: Sequence[int],
                             stride: Sequence[int], padding: Sequence[tuple[int, int]],
                             dilation: Sequence[int], groups: int, need_x: bool, need_w: bool,
                             itemsize: int, x_batch_last: bool | None = None) -> int:
    """Peak elements of the scratch arrays ConvNd.backward allocates beyond the output gradient
    it is given and the input gradient it returns, mirroring the code paths above. The output
    gradient is taken to arrive in the layout of the output (batch-last on that route)."""
    o_ch, cg = w_shape[:2]
    kernel = tuple(w_shape[2:])
    k = math.prod(kernel)
    padded = tuple(s + b + a for s, (b, a) in zip(spatial, padding))
    out_size = conv_output_shape(padded, kernel, stride, dilation)
    positions = math.prod(out_size)
    padded_elems = c * math.prod(padded)  # one image
    is_padded = any(b or a for b, a in padding)
    x_batch_last, route = _layout(x_batch_last, spatial, w_shape, stride, padding, dilation, groups)
    if _depthwise_shape(w_shape, groups, len(spatial)):
        return x_batch_last * n * c * math.prod(spatial)  # the compiled loops read NCHW copies
    by_correlation = 0
    adjoint = _adjoint_padding(kernel, stride, padding, dilation, cg) if need_x else None
    if adjoint is not None:
        w_adj = (c, o_ch // groups, *kernel)
        by_correlation = correlate_workspace_elems(n, o_ch, out_size, w_adj, stride, adjoint, dilation,
                                                   groups, False, itemsize, x_batch_last=route, route=route)
        need_x = False
    rest = 0
    by_rows = _rowshift(np.dtype(f"f{itemsize}"), w_shape, stride, dilation, groups)
    if route and (need_w or need_x) and by_rows:
        # rowshift.py: dW, then dx (padded, cropped on return), on band columns.
        copy = 0 if x_batch_last else n * c * math.prod(spatial)  # to_batch_last(x)
        dw_phase = need_w * (is_padded * n * padded_elems           # the padded input
                             + rowshift.band_grad_workspace_elems(c, w_shape, stride, dilation, out_size, n,
                                                                  itemsize, _ROWSHIFT_BUDGET_BYTES,
                                                                  _MIN_DW_POSITIONS))
        dx_phase = need_x * (n * padded_elems                       # dxpad_t
                             + rowshift.band_input_grad_workspace_elems(c, w_shape, stride, dilation, out_size,
                                                                        n, itemsize, _ROWSHIFT_BUDGET_BYTES)
                             + need_w * o_ch * cg * k)              # dW, kept meanwhile
        rest = copy + max(dw_phase, dx_phase)
    elif route and (need_w or need_x):
        row = math.prod(out_size[1:]) * n
        rows = c * k
        step = _row_chunk(out_size[0], rows * row * itemsize, -(-_MIN_DW_POSITIONS // row))
        rest = ((0 if x_batch_last else n * c * math.prod(spatial))  # to_batch_last(x)
                + rows * step * row                                 # the column buffer
                + (is_padded and need_w) * n * padded_elems         # the padded input
                + need_w * 2 * o_ch * cg * k                        # dW and one chunk's product
                + need_x * n * padded_elems)                        # dxpad_t
    elif (need_w or need_x) and by_rows:
        # rowshift.py on NCHW: dW, then dx (allocated as returned), on chunk columns.
        dw_phase = need_w * rowshift.grad_workspace_elems(n, c, w_shape, spatial, stride, padding, dilation,
                                                          out_size, itemsize, _ROWSHIFT_BUDGET_BYTES)
        dx_phase = need_x * (rowshift.input_grad_workspace_elems(n, c, w_shape, spatial, stride, padding, dilation,
                                                                 out_size, itemsize, _ROWSHIFT_BUDGET_BYTES)
                             + need_w * o_ch * cg * k)              # dW, kept meanwhile
        rest = max(dw_phase, dx_phase)
    elif need_w or need_x:
        rest = _nchw_backward_elems(n, c, o_ch, cg, k, positions, padded_elems, stride, is_padded, need_w, need_x,
                                    itemsize)
    return max(by_correlation, rest)


def _nchw_backward_elems(n: int, c: int, o_ch: int, cg: int, k: int, positions: int, padded_elems: int,
                         stride: Sequence[int], is_padded: bool, need_w: bool, need_x: bool, itemsize: int) -> int:
    """ConvNd._backward_batch_inner / _backward_per_image (dW by im2col, dx by col2im)."""
    if not (need_w or need_x):
        return 0
    if cg * k >= _BATCH_INNER_MIN_CGK:
        chunk = _batch_chunk(n, c * k * positions * itemsize, -(-_MIN_DW_POSITIONS // positions))
        return (n * o_ch * positions                                # dout_t
                + c * k * chunk * positions                         # the column buffer
                + (is_padded and need_w) * chunk * padded_elems     # the padded chunk
                + need_w * 2 * o_ch * cg * k                        # dW and one chunk's product
                + need_x * n * padded_elems)                        # dxpad_t
    free = k == 1 and all(s == 1 for s in stride) and not is_padded
    cols = need_w * (0 if free else n * c * k * positions)
    xpad = (is_padded and need_w) * n * padded_elems
    per_sample_dw = need_w * n * o_ch * cg * k
    dcols = need_x * n * c * k * positions
    dxpad = need_x * (0 if free else n * padded_elems)
    return max(xpad + cols, cols + per_sample_dw, cols + dcols + dxpad)
