"""The scratch memory of juanji/functional/conv.py's kernel, for juanji.analysis's estimates.

Each function mirrors a code path of ``correlate`` / ``ConvNd.backward`` (the same chunk
sizes, from the same ``_batch_chunk`` and thresholds), so a change to the kernel changes the
estimate with it; tests/test_summary.py checks the count against tracemalloc per path.
"""

from __future__ import annotations

import math
from typing import Sequence

from ..kernels.im2col import conv_output_shape
from .conv import (_BATCH_INNER_MIN_CGK, _FORWARD_PER_IMAGE_MIN_L, _MIN_DW_POSITIONS, _adjoint_padding,
                   _batch_chunk, _depthwise_shape)

__all__ = ["correlate_workspace_elems", "backward_workspace_elems"]


def correlate_workspace_elems(n: int, c: int, spatial: Sequence[int], w_shape: Sequence[int],
                              stride: Sequence[int], padding: Sequence[tuple[int, int]],
                              dilation: Sequence[int], groups: int, bias: bool, itemsize: int) -> int:
    """Elements of the scratch arrays ``correlate`` allocates beyond its result, mirroring it."""
    kernel = tuple(w_shape[2:])
    padded = tuple(s + b + a for s, (b, a) in zip(spatial, padding))
    positions = math.prod(conv_output_shape(padded, kernel, stride, dilation))
    is_padded = any(b or a for b, a in padding)
    if _depthwise_shape(w_shape, groups, len(spatial)):
        return 0  # the compiled loops read the input in place
    ones = bias and groups == 1
    rows = c * math.prod(kernel) + int(ones)
    if math.prod(kernel) == 1 and all(s == 1 for s in stride):
        return is_padded * n * c * math.prod(padded)
    if positions < _FORWARD_PER_IMAGE_MIN_L:
        chunk = _batch_chunk(n, rows * positions * itemsize, -(-_MIN_DW_POSITIONS // positions))
        return (rows + w_shape[0]) * chunk * positions + is_padded * chunk * c * math.prod(padded)
    chunk = _batch_chunk(n, rows * positions * itemsize)
    return chunk * rows * positions + is_padded * chunk * c * math.prod(padded)


def backward_workspace_elems(n: int, c: int, spatial: Sequence[int], w_shape: Sequence[int],
                             stride: Sequence[int], padding: Sequence[tuple[int, int]],
                             dilation: Sequence[int], groups: int, need_x: bool, need_w: bool,
                             itemsize: int) -> int:
    """Peak elements of the scratch arrays ConvNd.backward allocates beyond the output gradient
    it is given and the input gradient it returns, mirroring the code paths above."""
    o_ch, cg = w_shape[:2]
    kernel = tuple(w_shape[2:])
    k = math.prod(kernel)
    padded = tuple(s + b + a for s, (b, a) in zip(spatial, padding))
    out_size = conv_output_shape(padded, kernel, stride, dilation)
    positions = math.prod(out_size)
    padded_elems = c * math.prod(padded)  # one image
    is_padded = any(b or a for b, a in padding)
    if _depthwise_shape(w_shape, groups, len(spatial)):
        return 0  # the compiled loops: no padded copies; dx is the returned input gradient
    by_correlation = 0
    adjoint = _adjoint_padding(kernel, stride, padding, dilation, cg) if need_x else None
    if adjoint is not None:
        w_adj = (c, o_ch // groups, *kernel)
        by_correlation = correlate_workspace_elems(n, o_ch, out_size, w_adj, stride, adjoint, dilation,
                                                   groups, False, itemsize)
        need_x = False
    rest = 0
    if (need_w or need_x) and cg * k >= _BATCH_INNER_MIN_CGK:
        chunk = _batch_chunk(n, c * k * positions * itemsize, -(-_MIN_DW_POSITIONS // positions))
        rest = (n * o_ch * positions                                # dout_t
                + c * k * chunk * positions                         # the column buffer
                + (is_padded and need_w) * chunk * padded_elems     # the padded chunk
                + need_w * 2 * o_ch * cg * k                        # dW and one chunk's product
                + need_x * n * padded_elems)                        # dxpad_t
    elif need_w or need_x:
        free = k == 1 and all(s == 1 for s in stride) and not is_padded
        cols = need_w * (0 if free else n * c * k * positions)
        xpad = (is_padded and need_w) * n * padded_elems
        per_sample_dw = need_w * n * o_ch * cg * k
        dcols = need_x * n * c * k * positions
        dxpad = need_x * (0 if free else n * padded_elems)
        rest = max(xpad + cols, cols + per_sample_dw, cols + dcols + dxpad)
    return max(by_correlation, rest)
