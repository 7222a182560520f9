"""2-D convolution as one product per kernel row, on columns gathered along the width only.

im2col gathers every tap (c, i, j) of every output position: the columns are KH*KW/(SH*SW)
times the input, and writing them (in runs of only OW numbers) costs a fifth to a third of
a large convolution's time. But the kernel rows i differ only by a shift of DH input rows,
so gathering along the width alone is enough. With the padded rows split into their SH
phases (h = SH*h' + r),

    colsj[(r, c, j), h', x] = xp[c, SH*h' + r, x*SW + j*DW]       (SH*C*KW, H'*OW)

and for kernel row i, with i*DH = SH*a + r, the columns im2col would have gathered for it,

    B_i[(c, j), (y, x)] = xp[c, y*SH + i*DH, x*SW + j*DW] = colsj[(r, c, j), y + a, x],

are a window of colsj: rows (r, ., .), OH*OW consecutive numbers of each, from a*OW on. That
is a matrix BLAS reads in place (rows H'*OW numbers apart), so the convolution is

    out[n] (O, OH*OW) = sum_i W_i (O, C*KW) @ B_i (C*KW, OH*OW),    W_i = w[:, :, i, :]

products added into one output by BLAS's beta = 1 (juanji/kernels/blas.py: NumPy's matmul
cannot add into its output, and a temporary per row would cost a pass over the output each).
The kernel rows of one shift a (phases r differing) share a product, their phases' rows
being consecutive rows of colsj: a 3x3 kernel is 3 products at stride 1 and 2 at stride 2,
11x11 at stride 4 is 3 (of K = 4*3*11 = 132 rows). The gather is about KH/SH times smaller
than im2col's (3x for a 3x3 stride-1 conv) and is KW*SH slice copies. The bias rides in
the first product as an extra row of ones: [W_0 | b] @ [B_0; 1]. dW is the adjoint, one
product per shift on the same columns, dW_a^T += B_a @ dout^T.

Two layouts (juanji/kernels/layout.py):
* NCHW (forward_nchw, weight_grad_nchw): a chunk of images at a time, copied from the
  unpadded input into a buffer whose padding is zeroed once; images with short outputs share
  products (columns (h', image, x)), the product then copied into their NCHW planes.
* batch-last (forward_batch_last, weight_grad_batch_last): columns (x, n) are every image at
  once, from the padded (C, HP, WP, N) input, in bands of output rows; the output is
  batch-last already.

A product has K = (phases)*C*KW rows, a third of im2col's for a 3x3 stride-1 kernel, so this
pays only where that is large enough for BLAS to run near its peak (the planner's rule,
rowshift_min_rows: K = 192
ran as fast per multiply-add as K = 576, while K = 5 or 9, as in a first layer on 1 or 3
channels, lost to im2col; bench/NOTES.md, "Products per kernel row (2026-12-04)").
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .. import blas
from ..im2col import pad_zeros
from .geometry import Geometry
from .route import Route

__all__ = ["usable", "forward_nchw", "weight_grad_nchw", "input_grad_nchw", "forward_batch_last",
           "weight_grad_batch_last", "input_grad_batch_last",
           "workspace_elems", "grad_workspace_elems", "band_workspace_elems", "band_grad_workspace_elems",
           "RowShift", "ROWSHIFT", "product_rows"]


def usable(dtype: np.dtype, w_shape: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
           groups: int, min_rows: int) -> bool:
    """A 2-D single-group conv with more than one kernel row whose largest product has at
    least ``min_rows`` rows (phases x C*KW), and a BLAS that adds into its output."""
    if len(w_shape) != 4 or groups != 1 or w_shape[2] < 2:
        return False
    phases = max(len(p) for p in _product_phases(w_shape[2], dilation[0], stride[0], False))
    return phases * w_shape[1] * w_shape[3] >= min_rows and blas.available(dtype)


# A product should have at least this many columns: BLAS ran 64-row products faster per
# multiply-add the more columns they had, up to 4096, so images with short outputs (the 5x5
# stride-2 conv of 32x64x64 images: 32*32 = 1024 positions each) share products, four to a
# product there, which measured best (bench/NOTES.md, "Products per kernel row (2026-12-04)":
# the product table and the row on images sharing products).
_MIN_PRODUCT_COLUMNS = 4096


def _row_groups(kh: int, dh: int, sh: int) -> dict[int, list[tuple[int, int]]]:
    """Kernel rows i grouped by the phase-row shift a of i*DH = SH*a + r: {a: [(i, r), ...]}."""
    groups: dict[int, list[tuple[int, int]]] = {}
    for i in range(kh):
        a, r = divmod(i * dh, sh)
        groups.setdefault(a, []).append((i, r))
    return groups


def _product_phases(kh: int, dh: int, sh: int, bias: bool) -> list[range]:
    """The phases r each product spans, in order of the shift a: from its kernel rows' first
    phase to their last (a phase between them that no row reads gets zero weights); the
    first product reaches the last phase when it carries the bias (the ones row follows it)."""
    spans = []
    for k, (_, members) in enumerate(sorted(_row_groups(kh, dh, sh).items())):
        r_lo, r_hi = min(r for _, r in members), max(r for _, r in members)
        spans.append(range(r_lo, sh if bias and k == 0 else r_hi + 1))
    return spans


def _unbiased_weight_elems(w_shape: Sequence[int], sh: int, dh: int) -> int:
    """Elements of the products' weights or weight gradients with no bias column: O x rows."""
    o_ch, c, kh, kw = w_shape
    return sum(o_ch * len(p) * c * kw for p in _product_phases(kh, dh, sh, False))


def _phase_rows(padded_h: int, sh: int) -> int:
    """H': padded rows per phase, ceil(HP / SH)."""
    return -(-padded_h // sh)


def workspace_elems(n: int, c: int, w_shape: Sequence[int], spatial: Sequence[int], stride: Sequence[int],
                    padding: Sequence[tuple[int, int]], dilation: Sequence[int], out_size: Sequence[int],
                    bias: bool, itemsize: int, budget_bytes: int) -> int:
    """Elements forward_nchw allocates beyond its result: the width-gathered columns of a
    chunk of images (with the ones row), the chunk's product when it has several images,
    and the products' weight matrices (RowShift's workspaces)."""
    o_ch, _, kh, kw = w_shape
    sh = stride[0]
    phase_h, m = _nchw_layout((n, c, *spatial), w_shape, stride, padding, out_size, itemsize, budget_bytes)
    cols = (sh * c * kw + 1) * phase_h * m * out_size[1]
    if m > 1:
        cols += o_ch * out_size[0] * m * out_size[1]
    weights = 0
    for k, phases in enumerate(_product_phases(kh, dilation[0], sh, bias)):
        weights += o_ch * (len(phases) * c * kw + int(bias and k == 0))
    return cols + weights


def _products(w: np.ndarray, b: np.ndarray | None, sh: int,
              dh: int) -> list[tuple[np.ndarray, slice, int]]:
    """One product per shift a, in order: (its weights (O, rows), its rows of colsj, a).

    Its rows are the phases it spans, C*KW each (plus the ones row for the first product
    when there is a bias); its weights are the kernel rows i with i*DH = SH*a + r, zero for a
    phase that no kernel row of this shift reads.
    """
    o_ch, c, kh, kw = w.shape
    gathered = c * kw
    groups = _row_groups(kh, dh, sh)
    products = []
    for k, (a, phases) in enumerate(zip(sorted(groups), _product_phases(kh, dh, sh, b is not None))):
        ones = b is not None and k == 0
        w_a = np.zeros((o_ch, len(phases) * gathered + int(ones)), dtype=w.dtype)
        for i, r in groups[a]:
            at = (r - phases.start) * gathered
            w_a[:, at: at + gathered] = w[:, :, i, :].reshape(o_ch, gathered)
        if ones:
            w_a[:, -1] = b
        products.append((w_a, slice(phases.start * gathered, phases.stop * gathered + int(ones)), a))
    return products


def _span(lo_pad: int, size: int, offset: int, step: int, count: int) -> tuple[int, int, int]:
    """For outputs t = 0..count-1 reading input index t*step + offset - lo_pad: the first and
    one-past-last t that land inside [0, size), and the input index of the first."""
    first = max(0, -(-(lo_pad - offset) // step))
    last = min(count, (size - 1 + lo_pad - offset) // step + 1)
    return first, max(first, last), first * step + offset - lo_pad


def _images_per_product(n: int, positions: int, bytes_per_image: int, budget_bytes: int) -> int:
    """Images whose columns share one product: for images with fewer than half of
    _MIN_PRODUCT_COLUMNS output positions, enough for that many columns, within the column
    budget; within [1, n]. Longer images go one at a time: the copy of a shared product into
    the images' planes then costs more than the longer product gains (64->64 3x3 at 56x56,
    3136 positions, measured slower two images at a time: bench/NOTES.md, "Products per
    kernel row (2026-12-04)")."""
    if 2 * positions >= _MIN_PRODUCT_COLUMNS:
        return 1
    wanted = -(-_MIN_PRODUCT_COLUMNS // max(positions, 1))
    return max(1, min(n, wanted, budget_bytes // max(bytes_per_image, 1)))


def _nchw_layout(x_shape: Sequence[int], w_shape: Sequence[int], stride: Sequence[int],
                 padding: Sequence[tuple[int, int]], out_size: Sequence[int], itemsize: int,
                 budget_bytes: int) -> tuple[int, int]:
    """(H', images per product) of forward_nchw."""
    n, c, h = x_shape[:3]
    kw, sh = w_shape[3], stride[0]
    phase_h = _phase_rows(h + sum(padding[0]), sh)
    per_image = (sh * c * kw + 1) * phase_h * out_size[1] * itemsize
    return phase_h, _images_per_product(n, out_size[0] * out_size[1], per_image, budget_bytes)


def _zero_outside(grid: np.ndarray, fills: list[tuple[int, ...]]) -> None:
    """Zero what the fills leave unwritten in grid (SH, C, KW, H', m, OW): the rows and
    columns of each (r, j) plane outside its fill, and the planes with no fill at all."""
    filled = set()
    for j, r, x0, x1, _, y0, y1, _ in fills:
        plane = grid[r, :, j]  # (C, H', m, OW)
        plane[:, :y0] = 0
        plane[:, y1:] = 0
        plane[:, y0:y1, :, :x0] = 0
        plane[:, y0:y1, :, x1:] = 0
        filled.add((r, j))
    for r in range(grid.shape[0]):
        for j in range(grid.shape[2]):
            if (r, j) not in filled:
                grid[r, :, j] = 0


def _nchw_fills(x_shape: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                padding: Sequence[tuple[int, int]], dilation: Sequence[int], out_size: Sequence[int],
                itemsize: int, budget_bytes: int) -> tuple[int, int, list[tuple[int, ...]]]:
    """(H', images per chunk, fills) of the NCHW layout. A fill (j, r, x0, x1, cx, y0, y1, cy)
    is the part of the (r, j) plane the input covers: output columns [x0, x1) and phase rows
    [y0, y1), read from input column cx and row cy on, every SW-th column and SH-th row."""
    n, c, h, wd = x_shape
    kh, kw = kernel
    sh, sw = stride
    (pt, _), (pl, _) = padding
    phase_h, m = _nchw_layout(x_shape, (0, c, kh, kw), stride, padding, out_size, itemsize, budget_bytes)
    fills = []
    for j in range(kw):
        x0, x1, cx = _span(pl, wd, j * dilation[1], sw, out_size[1])
        for r in range(sh):
            y0, y1, cy = _span(pt, h, r, sh, phase_h)
            if x1 > x0 and y1 > y0:
                fills.append((j, r, x0, x1, cx, y0, y1, cy))
    return phase_h, m, fills


def _chunk_matrix(a: np.ndarray, i0: int, i1: int) -> np.ndarray:
    """Images [i0, i1) of an NCHW array (N, O, OH, OW) as the (O, OH*m*OW) matrix whose
    columns (y, image, x) match a chunk's colsj: a view for one image, else one copy."""
    if i1 - i0 == 1:
        return a[i0].reshape(a.shape[1], -1)
    return np.ascontiguousarray(a[i0:i1].transpose(1, 2, 0, 3)).reshape(a.shape[1], -1)


def _image_chunks(x: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
                  padding: Sequence[tuple[int, int]], dilation: Sequence[int], out_size: Sequence[int],
                  budget_bytes: int):
    """Yield (i0, i1, cols) for chunks of images [i0, i1) of an NCHW input x (N, C, H, W):
    cols (SH*C*KW + 1, H'*m*OW) holds their width-gathered columns, columns (h', image, x),
    colsj[(r, c, j), h', i, x] = xp[i0 + i, c, SH*h' + r, x*SW + j*DW] (xp the zero-padded
    input, never made: the padding is the part of the buffer no copy writes), and a last row
    of ones under the first OH*m*OW columns. m images per chunk (see _images_per_product)."""
    n, c = x.shape[:2]
    kh, kw = kernel
    sh, sw = stride
    oh, ow = out_size
    phase_h, m, fills = _nchw_fills(x.shape, kernel, stride, padding, dilation, out_size, x.itemsize,
                                    budget_bytes)
    gathered = c * kw  # rows per phase
    rows = sh * gathered + 1
    buf = _scratch(rows * phase_h * m * ow, x.dtype)
    size = None
    for i0 in range(0, n, m):
        i1 = min(n, i0 + m)
        k = i1 - i0
        if k != size:
            # The padding zeroed once per chunk size: every chunk's copies write the same
            # positions. (A last, shorter chunk lays out the same buffer anew.)
            size = k
            cols = buf[: rows * phase_h * k * ow].reshape(rows, phase_h * k * ow)  # (SH*C*KW + 1, H'*m*OW)
            cols[-1] = 0
            cols[-1, : oh * k * ow] = 1  # the ones row, under the first product's columns, for the bias
            grid = cols[:-1].reshape(sh, c, kw, phase_h, k, ow)  # (SH, C, KW, H', m, OW), a view
            _zero_outside(grid, fills)
        for j, r, x0, x1, cx, y0, y1, cy in fills:
            grid[r, :, j, y0:y1, :, x0:x1] = x[i0:i1, :, cy: cy + sh * (y1 - y0 - 1) + 1: sh,
                                               cx: cx + sw * (x1 - x0 - 1) + 1: sw].transpose(1, 2, 0, 3)
        yield i0, i1, cols


def forward_nchw(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Sequence[int],
                 padding: Sequence[tuple[int, int]], dilation: Sequence[int], out: np.ndarray,
                 budget_bytes: int) -> np.ndarray:
    """Correlate x (N, C, H, W) with w (O, C, KH, KW) into out (N, O, OH, OW), C-contiguous.

    ``padding`` ((PT, PB), (PL, PR)) zeros around the input; ``stride`` (SH, SW), ``dilation``
    (DH, DW); ``b`` (O,) or None. Returns ``out``.

    Images with few output positions share products, m at a time (see _images_per_product):
    colsj's columns are then (h', image, x), a window is every image's rows at once, and the
    product's (O, OH, m, OW) result is copied into the m images' NCHW planes. One image has
    its product written straight into its plane.
    """
    o_ch, _, kh, kw = w.shape
    oh, ow = out.shape[2:]
    products = _products(w, b, stride[0], dilation[0])
    result = None
    for i0, i1, cols in _image_chunks(x, (kh, kw), stride, padding, dilation, (oh, ow), budget_bytes):
        k = i1 - i0
        span = oh * k * ow
        if k == 1:
            target = out[i0].reshape(o_ch, span)
        else:
            result = np.empty((o_ch, span), dtype=x.dtype) if result is None else result
            target = result[:, :span]
        for p, (w_a, rows, a) in enumerate(products):
            blas.gemm(w_a, cols[rows, a * k * ow: a * k * ow + span], target, beta=float(p > 0))
        if k > 1:  # (O, OH, m, OW) -> the images' (m, O, OH, OW)
            out[i0:i1].transpose(1, 2, 0, 3)[...] = target.reshape(o_ch, oh, k, ow)
    return out


def weight_grad_nchw(x: np.ndarray, dout: np.ndarray, w_shape: Sequence[int], stride: Sequence[int],
                     padding: Sequence[tuple[int, int]], dilation: Sequence[int], budget_bytes: int) -> np.ndarray:
    """dW (O, C, KH, KW) of forward_nchw, from x (N, C, H, W) and dout (N, O, OH, OW), NCHW.

    The adjoint of each product, dW_a^T (phases*C*KW, O) += B_a @ dout_chunk^T, on the same
    width-gathered columns as forward, added up over the chunks by BLAS's beta = 1 (see
    weight_grad_batch_last for the orientation). A chunk of several images reads its output
    gradient as (O, OH, m, OW), one small copy.
    """
    o_ch, c, kh, kw = w_shape
    sh, dh = stride[0], dilation[0]
    oh, ow = dout.shape[2:]
    gathered = c * kw
    spans = _product_phases(kh, dh, sh, False)
    shifts = sorted(_row_groups(kh, dh, sh))
    grads_t = [np.zeros((len(p) * gathered, o_ch), dtype=x.dtype) for p in spans]
    for i0, i1, cols in _image_chunks(x, (kh, kw), stride, padding, dilation, (oh, ow), budget_bytes):
        k = i1 - i0
        span = oh * k * ow
        dout_c = _chunk_matrix(dout, i0, i1)  # (O, OH*m*OW)
        for a, phases, g_t in zip(shifts, spans, grads_t):
            window = cols[phases.start * gathered: phases.stop * gathered, a * k * ow: a * k * ow + span]
            blas.gemm(window, dout_c.T, g_t, beta=1.0)
    return _assemble_weight_grad(grads_t, w_shape, sh, dh)


def input_grad_nchw(dout: np.ndarray, w: np.ndarray, x_shape: Sequence[int], stride: Sequence[int],
                    padding: Sequence[tuple[int, int]], dilation: Sequence[int], budget_bytes: int) -> np.ndarray:
    """dx (N, C, H, W) of forward_nchw, from dout (N, O, OH, OW), NCHW: the adjoint of the
    products, dcolsj[rows_a, window_a] += W_a^T @ dout (windows of different shifts overlap,
    so each chunk's buffer starts at zero), then the adjoint of the fills, KW*SH strided
    adds of colsj's planes onto dx (im2col's col2im is KH*KW of them)."""
    n, c = x_shape[:2]
    o_ch, _, kh, kw = w.shape
    sh, sw = stride
    oh, ow = dout.shape[2:]
    phase_h, m, fills = _nchw_fills(x_shape, (kh, kw), stride, padding, dilation, (oh, ow), dout.itemsize,
                                    budget_bytes)
    rows = sh * c * kw
    products = [(np.ascontiguousarray(w_a.T), sl, a) for w_a, sl, a in _products(w, None, sh, dilation[0])]
    dx = np.zeros(tuple(x_shape), dtype=dout.dtype)
    buf = _scratch(rows * phase_h * m * ow, dout.dtype)
    for i0 in range(0, n, m):
        i1 = min(n, i0 + m)
        k = i1 - i0
        span = oh * k * ow
        dcols = buf[: rows * phase_h * k * ow].reshape(rows, phase_h * k * ow)
        dcols[...] = 0
        dout_c = _chunk_matrix(dout, i0, i1)  # (O, OH*m*OW)
        for w_t, sl, a in products:
            blas.gemm(w_t, dout_c, dcols[sl, a * k * ow: a * k * ow + span], beta=1.0)
        dgrid = dcols.reshape(sh, c, kw, phase_h, k, ow)
        for j, r, x0, x1, cx, y0, y1, cy in fills:
            dx[i0:i1, :, cy: cy + sh * (y1 - y0 - 1) + 1: sh, cx: cx + sw * (x1 - x0 - 1) + 1: sw] += (
                dgrid[r, :, j, y0:y1, :, x0:x1].transpose(2, 0, 1, 3))
    return dx


def grad_workspace_elems(n: int, c: int, w_shape: Sequence[int], spatial: Sequence[int], stride: Sequence[int],
                         padding: Sequence[tuple[int, int]], dilation: Sequence[int], out_size: Sequence[int],
                         itemsize: int, budget_bytes: int) -> int:
    """Elements weight_grad_nchw allocates: a chunk's columns, its output gradient copy when
    it has several images, the products' gradients and dW (RowShift's workspaces)."""
    o_ch, _, kh, kw = w_shape
    sh = stride[0]
    phase_h, m = _nchw_layout((n, c, *spatial), w_shape, stride, padding, out_size, itemsize, budget_bytes)
    cols = (sh * c * kw + 1) * phase_h * m * out_size[1]
    dout_copy = (m > 1) * o_ch * out_size[0] * m * out_size[1]
    grads = _unbiased_weight_elems(w_shape, sh, dilation[0])
    return cols + dout_copy + grads + o_ch * c * kh * kw


def input_grad_workspace_elems(n: int, c: int, w_shape: Sequence[int], spatial: Sequence[int],
                               stride: Sequence[int], padding: Sequence[tuple[int, int]], dilation: Sequence[int],
                               out_size: Sequence[int], itemsize: int, budget_bytes: int) -> int:
    """Elements input_grad_nchw allocates beyond dx: a chunk's column gradient, its output
    gradient copy when it has several images, and the transposed product weights."""
    o_ch, _, kh, kw = w_shape
    sh = stride[0]
    phase_h, m = _nchw_layout((n, c, *spatial), w_shape, stride, padding, out_size, itemsize, budget_bytes)
    dcols = sh * c * kw * phase_h * m * out_size[1]
    dout_copy = (m > 1) * o_ch * out_size[0] * m * out_size[1]
    weights = _unbiased_weight_elems(w_shape, sh, dilation[0])
    return dcols + dout_copy + weights


def band_input_grad_workspace_elems(c: int, w_shape: Sequence[int], stride: Sequence[int],
                                    dilation: Sequence[int], out_size: Sequence[int], n: int, itemsize: int,
                                    budget_bytes: int) -> int:
    """Elements input_grad_batch_last allocates beyond the padded gradient it returns: the
    band column gradient and the transposed product weights."""
    o_ch, _, kh, kw = w_shape
    sh = stride[0]
    rows = sh * c * kw
    row = out_size[1] * n
    reach = (dilation[0] * (kh - 1)) // sh
    band = _band_rows(out_size[0], reach, (rows + 1) * row * itemsize, budget_bytes)
    weights = _unbiased_weight_elems(w_shape, sh, dilation[0])
    return rows * (band + reach) * row + weights


def _scratch(size: int, dtype: np.dtype) -> np.ndarray:
    """An uninitialised buffer (the tests fill it with NaN to show nothing unwritten is read)."""
    return np.empty(size, dtype=dtype)


def _band_rows(out_h: int, reach: int, bytes_per_row: int, budget_bytes: int, min_rows: int = 1) -> int:
    """Output rows per band of the batch-last layout: as many as keep its columns (the band's
    rows plus the ``reach`` rows its last products read beyond them) within the budget, and
    at least ``min_rows``; within [1, OH]."""
    return max(1, min(out_h, max(min_rows, budget_bytes // max(bytes_per_row, 1) - reach)))


def band_workspace_elems(c: int, w_shape: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
                         out_size: Sequence[int], n: int, bias: bool, itemsize: int, budget_bytes: int) -> int:
    """Elements forward_batch_last allocates beyond its result and the padded input: the band
    column buffer and the products' weight matrices (RowShift's workspaces)."""
    o_ch, _, kh, kw = w_shape
    sh = stride[0]
    rows = sh * c * kw + 1
    row = out_size[1] * n
    reach = (dilation[0] * (kh - 1)) // sh
    band = _band_rows(out_size[0], reach, rows * row * itemsize, budget_bytes)
    weights = sum(o_ch * (len(p) * c * kw + int(bias and k == 0))
                  for k, p in enumerate(_product_phases(kh, dilation[0], sh, bias)))
    return rows * (band + reach) * row + weights


def _bands(xpad_t: np.ndarray, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
           out_size: Sequence[int], budget_bytes: int, min_rows: int = 1):
    """Yield (y0, y1, cols) for bands of output rows [y0, y1) of the batch-last layout:
    cols (SH*C*KW + 1, (y1 - y0 + reach)*OW*N) holds the band's width-gathered columns,
    colsj[(r, c, j), h', (x, n)] = xpad_t[c, SH*h' + r, x*SW + j*DW, n] for phase rows h' from
    y0 on, and a last row of ones under the band's own columns. One reused buffer."""
    c, hp, _, n = xpad_t.shape
    kh, kw = kernel
    (sh, sw), (dh, dw) = stride, dilation
    oh, ow = out_size
    row = ow * n  # columns per output row
    rows = sh * c * kw + 1
    reach = (dh * (kh - 1)) // sh  # the largest shift a
    band = _band_rows(oh, reach, rows * row * xpad_t.itemsize, budget_bytes, min_rows)
    buf = _scratch(rows * (band + reach) * row, xpad_t.dtype)
    for y0 in range(0, oh, band):
        y1 = min(oh, y0 + band)
        span = y1 - y0 + reach  # phase rows this band's products read: h' in [y0, y1 + reach)
        cols = buf[: rows * span * row].reshape(rows, span * row)
        cols[-1, : (y1 - y0) * row] = 1  # the ones row, for the bias
        grid = cols[:-1].reshape(sh, c, kw, span, ow, n)
        for r in range(sh):
            first = sh * y0 + r  # padded row of phase row y0
            inside = max(0, min(span, (hp - 1 - first) // sh + 1))  # rows before the input's end
            for j in range(kw):
                grid[r, :, j, :inside] = xpad_t[:, first: first + sh * (inside - 1) + 1: sh,
                                                j * dw: j * dw + sw * (ow - 1) + 1: sw]
            # Rows past the input are read only under zero weights (a phase a product spans
            # but none of its kernel rows uses); zeros keep 0 * garbage from making NaN.
            grid[r, :, :, inside:] = 0
        yield y0, y1, cols


def band_grad_workspace_elems(c: int, w_shape: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
                              out_size: Sequence[int], n: int, itemsize: int, budget_bytes: int,
                              min_positions: int) -> int:
    """Elements weight_grad_batch_last allocates beyond the padded input: the band column
    buffer, the products' gradients and dW (RowShift's workspaces)."""
    o_ch, _, kh, kw = w_shape
    sh = stride[0]
    rows = sh * c * kw + 1
    row = out_size[1] * n
    reach = (dilation[0] * (kh - 1)) // sh
    band = _band_rows(out_size[0], reach, rows * row * itemsize, budget_bytes, -(-min_positions // row))
    grads = _unbiased_weight_elems(w_shape, sh, dilation[0])
    return rows * (band + reach) * row + grads + o_ch * c * kh * kw


def forward_batch_last(xpad_t: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Sequence[int],
                       dilation: Sequence[int], out_t: np.ndarray, budget_bytes: int) -> np.ndarray:
    """The same products in the batch-last layout: xpad_t (C, HP, WP, N), already padded, into
    out_t (O, OH, OW, N), both C-contiguous. Returns ``out_t``.

    Columns (x, n) are (output column, image), so a column window is every image at once:
    colsj[(r, c, j), h', (x, n)] = xpad_t[c, SH*h' + r, x*SW + j*DW, n], gathered in runs of
    OW*N numbers at stride 1, and each product writes output rows of every image in the
    layout the next layer reads. The output rows go in bands whose columns fit
    ``budget_bytes`` (a whole batch's colsj would be 53 MB for 64 channels at 32x32, batch 64).
    """
    o_ch, _, kh, kw = w.shape
    oh, ow, n = out_t.shape[1:]
    row = ow * n
    products = _products(w, b, stride[0], dilation[0])
    out_mat = out_t.reshape(o_ch, oh * row)
    for y0, y1, cols in _bands(xpad_t, (kh, kw), stride, dilation, (oh, ow), budget_bytes):
        for k, (w_a, rows, a) in enumerate(products):
            blas.gemm(w_a, cols[rows, a * row: (a + y1 - y0) * row], out_mat[:, y0 * row: y1 * row],
                      beta=float(k > 0))
    return out_t


def weight_grad_batch_last(xpad_t: np.ndarray, dout_t: np.ndarray, w_shape: Sequence[int],
                           stride: Sequence[int], dilation: Sequence[int], budget_bytes: int,
                           min_positions: int) -> np.ndarray:
    """dW (O, C, KH, KW) of the batch-last forward, from the padded input xpad_t (C, HP, WP, N)
    and the output gradient dout_t (O, OH, OW, N), both C-contiguous.

    The adjoint of each product: dW_a (O, phases*C*KW) = sum over positions of
    dout (O, S) @ B_a^T (S, phases*C*KW), on the same band columns as forward (a third of
    im2col's for a 3x3 stride-1 kernel), added up over the bands by BLAS's beta = 1; the
    kernel rows' blocks of dW_a are dW[:, :, i, :]. Zero-weight phases (stride > 1) get a
    gradient here too, which is dropped. A band spans at least ``min_positions`` columns
    (beyond the budget if need be): each band's product reads and writes all of dW_a, so
    its sum over positions should be long (512 channels at 4x4, batch 64: 256 per row).
    """
    o_ch, c, kh, kw = w_shape
    sh, dh = stride[0], dilation[0]
    oh, ow, n = dout_t.shape[1:]
    row = ow * n
    gathered = c * kw
    spans = _product_phases(kh, dh, sh, False)
    # dW_a^T (phases*C*KW, O) = B_a @ dout^T: OpenBLAS ran this orientation faster than
    # dout @ B_a^T (bench/NOTES.md, "Products per kernel row (2026-12-04)": dW by kernel rows).
    grads_t = [np.zeros((len(p) * gathered, o_ch), dtype=xpad_t.dtype) for p in spans]
    dout_mat = dout_t.reshape(o_ch, oh * row)
    shifts = sorted(_row_groups(kh, dh, sh))
    for y0, y1, cols in _bands(xpad_t, (kh, kw), stride, dilation, (oh, ow), budget_bytes,
                               -(-min_positions // row)):
        for a, phases, g_t in zip(shifts, spans, grads_t):
            window = cols[phases.start * gathered: phases.stop * gathered, a * row: (a + y1 - y0) * row]
            blas.gemm(window, dout_mat[:, y0 * row: y1 * row].T, g_t, beta=1.0)
    return _assemble_weight_grad(grads_t, w_shape, sh, dh)


def _assemble_weight_grad(grads_t: list[np.ndarray], w_shape: Sequence[int], sh: int, dh: int) -> np.ndarray:
    """dW (O, C, KH, KW) from the products' dW_a^T (phases*C*KW, O): kernel row i's block is
    the C*KW rows of its phase r in the product of its shift a (other phases are dropped)."""
    o_ch, c, kh, kw = w_shape
    gathered = c * kw
    dw = np.empty(tuple(w_shape), dtype=grads_t[0].dtype)
    groups = _row_groups(kh, dh, sh)
    for a, phases, g_t in zip(sorted(groups), _product_phases(kh, dh, sh, False), grads_t):
        for i, r in groups[a]:
            at = (r - phases.start) * gathered
            dw[:, :, i, :] = g_t[at: at + gathered].T.reshape(o_ch, c, kw)
    return dw


def input_grad_batch_last(dout_t: np.ndarray, w: np.ndarray, padded_shape: Sequence[int], stride: Sequence[int],
                          dilation: Sequence[int], budget_bytes: int) -> np.ndarray:
    """The padded input gradient dxpad_t (C, HP, WP, N) of forward_batch_last, from dout_t
    (O, OH, OW, N), C-contiguous: per band, the adjoint of the products into the band's
    columns (zeroed first: windows of different shifts overlap), then KW*SH strided adds of
    its planes onto dxpad_t (bands overlap by ``reach`` phase rows; each adds its own share)."""
    c, hp, _, n = padded_shape
    o_ch, _, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    oh, ow = dout_t.shape[1:3]
    row = ow * n
    rows = sh * c * kw
    reach = (dh * (kh - 1)) // sh
    band = _band_rows(oh, reach, (rows + 1) * row * dout_t.itemsize, budget_bytes)
    buf = _scratch(rows * (band + reach) * row, dout_t.dtype)
    products = [(np.ascontiguousarray(w_a.T), sl, a) for w_a, sl, a in _products(w, None, sh, dh)]
    dxpad_t = np.zeros(tuple(padded_shape), dtype=dout_t.dtype)
    dout_mat = dout_t.reshape(o_ch, oh * row)
    for y0 in range(0, oh, band):
        y1 = min(oh, y0 + band)
        span = y1 - y0 + reach
        dcols = buf[: rows * span * row].reshape(rows, span * row)
        dcols[...] = 0
        for w_t, sl, a in products:
            blas.gemm(w_t, dout_mat[:, y0 * row: y1 * row], dcols[sl, a * row: (a + y1 - y0) * row], beta=1.0)
        dgrid = dcols.reshape(sh, c, kw, span, ow, n)
        for r in range(sh):
            first = sh * y0 + r
            inside = max(0, min(span, (hp - 1 - first) // sh + 1))
            for j in range(kw):
                dxpad_t[:, first: first + sh * (inside - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw] += (
                    dgrid[r, :, j, :inside])
    return dxpad_t


# --- the route ----------------------------------------------------------------------------------


def product_rows(geom: Geometry) -> int:
    """Rows of the largest product, phases x C*KW: the planner's size rule (rowshift_min_rows)."""
    kh, kw = geom.kernel
    phases = max(len(p) for p in _product_phases(kh, geom.dilation[0], geom.stride[0], False))
    return phases * geom.cg * kw


class RowShift(Route):
    """Forward, dW and dx as products per kernel row (both layouts; see the top of this file)."""

    name = "rowshift"

    def can(self, geom: Geometry, direction: str, layout: str) -> str | None:
        if geom.nd != 2 or geom.groups != 1:
            return "needs a 2-D single-group convolution"
        if geom.kernel[0] < 2:
            return "a kernel with one row has nothing to shift"
        if not blas.available(geom.dtype):
            return "no BLAS that adds into its output (juanji/kernels/blas.py)"
        return None

    def forward(self, geom: Geometry, layout: str, x, w, b, th) -> np.ndarray:
        budget = th.rowshift_budget_bytes
        if layout == "batch_last":
            out_t = np.empty((geom.o, *geom.out_size, geom.n), dtype=geom.dtype)  # (O, OH, OW, N)
            return forward_batch_last(pad_zeros(x, geom.padding, first=1), w, b, geom.stride, geom.dilation,
                                      out_t, budget)
        out = np.empty((geom.n, geom.o, *geom.out_size), dtype=geom.dtype)
        return forward_nchw(np.ascontiguousarray(x), w, b, geom.stride, geom.padding, geom.dilation, out, budget)

    def weight_grad(self, geom: Geometry, layout: str, x, w, dout, th) -> np.ndarray:
        if layout == "batch_last":
            return weight_grad_batch_last(pad_zeros(x, geom.padding, first=1), dout, geom.w_shape, geom.stride,
                                          geom.dilation, th.rowshift_budget_bytes, th.min_dw_positions)
        return weight_grad_nchw(np.ascontiguousarray(x), np.ascontiguousarray(dout), geom.w_shape, geom.stride,
                                geom.padding, geom.dilation, th.rowshift_budget_bytes)

    def input_grad(self, geom: Geometry, layout: str, x, w, dout, th) -> np.ndarray:
        if layout == "batch_last":
            dxpad_t = input_grad_batch_last(dout, w, (geom.c, *geom.padded, geom.n), geom.stride, geom.dilation,
                                            th.rowshift_budget_bytes)
            return dxpad_t[(slice(None), *geom.crop)]  # (C, H, W, N): drop the padding
        return input_grad_nchw(np.ascontiguousarray(dout), w, geom.x_shape, geom.stride, geom.padding,
                               geom.dilation, th.rowshift_budget_bytes)

    def forward_workspace(self, geom: Geometry, layout: str, bias: bool, th) -> int:
        budget = th.rowshift_budget_bytes
        if layout == "batch_last":
            return geom.is_padded * geom.n * geom.c * math.prod(geom.padded) + band_workspace_elems(
                geom.c, geom.w_shape, geom.stride, geom.dilation, geom.out_size, geom.n, bias, geom.itemsize, budget)
        return workspace_elems(geom.n, geom.c, geom.w_shape, geom.spatial, geom.stride, geom.padding, geom.dilation,
                               geom.out_size, bias, geom.itemsize, budget)

    def grads_workspace(self, geom: Geometry, layout: str, need_w: bool, need_x: bool, th) -> int:
        budget, w_elems = th.rowshift_budget_bytes, geom.o * geom.cg * geom.taps
        args = (geom.c, geom.w_shape, geom.stride, geom.dilation, geom.out_size)
        if layout == "batch_last":
            padded_elems = geom.c * math.prod(geom.padded)
            dw_phase = need_w * (geom.is_padded * geom.n * padded_elems        # the padded input
                                 + band_grad_workspace_elems(*args, geom.n, geom.itemsize, budget,
                                                             th.min_dw_positions))
            dx_phase = need_x * (geom.n * (padded_elems - geom.c * math.prod(geom.spatial))  # dxpad_t, dx its view
                                 + band_input_grad_workspace_elems(*args, geom.n, geom.itemsize, budget)
                                 + need_w * w_elems)                            # dW, kept meanwhile
            return max(dw_phase, dx_phase)
        full = (geom.n, geom.c, geom.w_shape, geom.spatial, geom.stride, geom.padding, geom.dilation, geom.out_size,
                geom.itemsize, budget)
        dw_phase = need_w * grad_workspace_elems(*full)
        dx_phase = need_x * (input_grad_workspace_elems(*full) + need_w * w_elems)  # dW, kept meanwhile
        return max(dw_phase, dx_phase)


ROWSHIFT = RowShift()
