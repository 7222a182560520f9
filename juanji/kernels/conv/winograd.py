"""3x3 stride-1 convolution by Winograd's minimal filtering, F(2x2, 3x3), as compiled loops.

A 2x2 block of outputs of a 3x3 correlation reads a 4x4 tile d of the padded input. Winograd
(Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016) computes it as

    Y = A^T [ sum_c (G g_oc G^T) * (B^T d_c B) ] A          (* elementwise, over the 4x4 tile)

    B^T = [[1,  0, -1,  0],     G = [[1,    0,   0],     A^T = [[1, 1,  1,  0],
           [0,  1,  1,  0],          [1/2,  1/2, 1/2],          [0, 1, -1, -1]]
           [0, -1,  1,  0],          [1/2, -1/2, 1/2],
           [0,  1,  0, -1]]          [0,    0,   1]]

so the sum over input channels becomes 16 matrix products, one per tile position k:

    U[k] (O, C)  = the transformed weights        (G g G^T, position k)
    V[k] (C, T)  = the transformed input tiles     (B^T d B, position k, for T tiles)
    M[k] (O, T)  = U[k] @ V[k]
    out          = A^T M A for every tile (plus the bias)

16 products of O x C x T multiply-adds where the im2col product has 9 x 4 = 36 per tile:
2.25x fewer, and V is 4x the input where the columns are 9x. The transforms are only
additions, but NumPy would run them as ~40 passes over arrays larger than the input (a
NumPy prototype was slower than im2col: bench/NOTES.md, "Winograd and thread pools
(2026-11-23)"), so they are loops here,
vectorised over the image (batch-last) or the tile column (NCHW). The planner picks this when numba
imports, for 3x3 stride-1 undilated single-group convs with enough channels on both sides
(the products are thin otherwise); the im2col path computes the same values and stays tested.

Rounding: the transforms add and subtract inputs and halve weights, so float32 results differ
from the direct sum by a few units in the last place of the largest terms (~1e-6 relative),
as with any reordering of the sums; the tests compare both against the naive loops in float64.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

from .. import blas, compiled
from .geometry import Geometry
from .route import Route

__all__ = ["usable", "forward_nchw", "forward_batch_last", "workspace_elems", "Winograd", "WINOGRAD"]

# The input and output transforms and the 16 products run a chunk at a time (of images on
# NCHW, of tile rows batch-last), with V and M together at most this many bytes, so each is
# consumed while in cache.
_BUDGET_BYTES = 8 * 2**20
# V's and M's 16 slices are this many elements further apart than their size: at exact
# power-of-two distances (4 MB for 64 channels at 32x32, batch 64: 16*16*64 tiles x 64
# channels x 4 bytes) the 16 write streams map to the same cache sets and evict each other,
# which slowed the input transform several-fold (bench/NOTES.md, "Winograd and thread pools
# (2026-11-23)": the skew row).
_SKEW = 16

_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
_G2 = np.kron(_G, _G)  # (16, 9): vec(G g G^T) = (G kron G) vec(g)


def _tiles(out_size: tuple[int, int]) -> tuple[int, int]:
    """Tile rows and columns, (TH, TW): 2x2 outputs per tile, the last ones cut at odd sizes."""
    return (out_size[0] + 1) // 2, (out_size[1] + 1) // 2


def _chunk(count: int, bytes_each: int) -> int:
    return max(1, min(count, _BUDGET_BYTES // max(bytes_each, 1)))


def _images_per_chunk(n: int, c: int, o_ch: int, th: int, tw: int, itemsize: int) -> int:
    """NCHW: images whose V and M fit the budget together."""
    return _chunk(n, 16 * (c + o_ch) * th * tw * itemsize)


def _rows_per_chunk(th: int, c: int, o_ch: int, tw: int, n: int, itemsize: int) -> int:
    """Batch-last: tile rows (of every image) whose V and M fit the budget together."""
    return _chunk(th, 16 * (c + o_ch) * tw * n * itemsize)


def _weights(w: np.ndarray) -> np.ndarray:
    """U (16, O, C) = G g G^T for every (o, c), as one (16, 9) @ (9, O*C) product."""
    o_ch, c = w.shape[:2]
    return (_G2.astype(w.dtype) @ w.reshape(o_ch * c, 9).T).reshape(16, o_ch, c)


def _buffer(rows: int, cols: int, dtype: np.dtype) -> np.ndarray:
    """(16, rows, cols) with the 16 slices _SKEW elements further apart than their size."""
    return np.empty((16, rows * cols + _SKEW), dtype=dtype)[:, : rows * cols].reshape(16, rows, cols)


def _bias(b: np.ndarray | None, o_ch: int, dtype: np.dtype) -> np.ndarray:
    return np.zeros(o_ch, dtype=dtype) if b is None else np.ascontiguousarray(b, dtype=dtype)


def workspace_elems(n: int, c: int, o_ch: int, spatial: tuple[int, int], padding, batch_last: bool,
                    itemsize: int) -> int:
    """Elements forward_nchw / forward_batch_last allocate beyond their result (the route's forward_workspace)."""
    out_size = (spatial[0] + sum(padding[0]) - 2, spatial[1] + sum(padding[1]) - 2)
    th, tw = _tiles(out_size)
    tile_plane = (2 * th + 2) * (2 * tw + 2)
    if batch_last:
        step = _rows_per_chunk(th, c, o_ch, tw, n, itemsize)
        t, padded = step * tw * n, c * tile_plane * n
    else:
        m = _images_per_chunk(n, c, o_ch, th, tw, itemsize)
        t, padded = m * th * tw, m * c * tile_plane
    return padded + 16 * (c * t + o_ch * t + 2 * _SKEW) + 16 * o_ch * c + o_ch


@functools.cache
def _kernels() -> SimpleNamespace:
    """The transforms, compiled by numba on first use (and cached on disk by numba)."""
    numba = compiled.numba()
    njit, prange = numba.njit, numba.prange

    @njit(parallel=True, cache=True, fastmath=compiled.FASTMATH)
    def input_nchw(xp, th, tw, v):  # pragma: no cover - compiled
        """xp (m, C, 2TH+2, 2TW+2) padded -> v (16, C, m*TH*TW), tile t = (n*TH + a)*TW + b:
        one tile row of one channel per task, vectorised along the tile columns."""
        m, c_ch = xp.shape[0], xp.shape[1]
        for q in prange(m * c_ch * th):
            n, c, a = q // (c_ch * th), (q // th) % c_ch, q % th
            r0, r1, r2, r3 = xp[n, c, 2 * a], xp[n, c, 2 * a + 1], xp[n, c, 2 * a + 2], xp[n, c, 2 * a + 3]
            t0 = (n * th + a) * tw
            v0, v1, v2, v3 = v[0, c, t0:t0 + tw], v[1, c, t0:t0 + tw], v[2, c, t0:t0 + tw], v[3, c, t0:t0 + tw]
            v4, v5, v6, v7 = v[4, c, t0:t0 + tw], v[5, c, t0:t0 + tw], v[6, c, t0:t0 + tw], v[7, c, t0:t0 + tw]
            v8, v9, v10, v11 = v[8, c, t0:t0 + tw], v[9, c, t0:t0 + tw], v[10, c, t0:t0 + tw], v[11, c, t0:t0 + tw]
            v12, v13, v14, v15 = (v[12, c, t0:t0 + tw], v[13, c, t0:t0 + tw], v[14, c, t0:t0 + tw],
                                  v[15, c, t0:t0 + tw])
            for b in range(tw):
                x = 2 * b
                # B^T d: rows (d0 - d2, d1 + d2, d2 - d1, d1 - d3), for each of the 4 columns
                t00, t01 = r0[x] - r2[x], r0[x + 1] - r2[x + 1]
                t02, t03 = r0[x + 2] - r2[x + 2], r0[x + 3] - r2[x + 3]
                t10, t11 = r1[x] + r2[x], r1[x + 1] + r2[x + 1]
                t12, t13 = r1[x + 2] + r2[x + 2], r1[x + 3] + r2[x + 3]
                t20, t21 = r2[x] - r1[x], r2[x + 1] - r1[x + 1]
                t22, t23 = r2[x + 2] - r1[x + 2], r2[x + 3] - r1[x + 3]
                t30, t31 = r1[x] - r3[x], r1[x + 1] - r3[x + 1]
                t32, t33 = r1[x + 2] - r3[x + 2], r1[x + 3] - r3[x + 3]
                # (B^T d) B: the same combination along each row
                v0[b], v1[b], v2[b], v3[b] = t00 - t02, t01 + t02, t02 - t01, t01 - t03
                v4[b], v5[b], v6[b], v7[b] = t10 - t12, t11 + t12, t12 - t11, t11 - t13
                v8[b], v9[b], v10[b], v11[b] = t20 - t22, t21 + t22, t22 - t21, t21 - t23
                v12[b], v13[b], v14[b], v15[b] = t30 - t32, t31 + t32, t32 - t31, t31 - t33

    @njit(parallel=True, cache=True, fastmath=compiled.FASTMATH)
    def output_nchw(mm, th, tw, bias, out):  # pragma: no cover - compiled
        """mm (16, O, m*TH*TW) -> out (m, O, OH, OW) = A^T M A + bias; the last tile row and
        column are cut at odd sizes."""
        m, o_ch, oh, ow = out.shape
        full = ow // 2
        for q in prange(m * o_ch * th):
            n, o, a = q // (o_ch * th), (q // th) % o_ch, q % th
            t0 = (n * th + a) * tw
            m0, m1, m2, m3 = mm[0, o, t0:t0 + tw], mm[1, o, t0:t0 + tw], mm[2, o, t0:t0 + tw], mm[3, o, t0:t0 + tw]
            m4, m5, m6, m7 = mm[4, o, t0:t0 + tw], mm[5, o, t0:t0 + tw], mm[6, o, t0:t0 + tw], mm[7, o, t0:t0 + tw]
            m8, m9, m10, m11 = (mm[8, o, t0:t0 + tw], mm[9, o, t0:t0 + tw], mm[10, o, t0:t0 + tw],
                                mm[11, o, t0:t0 + tw])
            m12, m13, m14, m15 = (mm[12, o, t0:t0 + tw], mm[13, o, t0:t0 + tw], mm[14, o, t0:t0 + tw],
                                  mm[15, o, t0:t0 + tw])
            bo = bias[o]
            two_rows = 2 * a + 1 < oh
            y0 = out[n, o, 2 * a]
            y1 = out[n, o, 2 * a + 1] if two_rows else y0
            for b in range(tw):
                # A^T M: rows (m0 + m1 + m2, m1 - m2 - m3) over the 4 columns, then the same along rows
                q0, q1 = m0[b] + m4[b] + m8[b], m1[b] + m5[b] + m9[b]
                q2, q3 = m2[b] + m6[b] + m10[b], m3[b] + m7[b] + m11[b]
                s0, s1 = m4[b] - m8[b] - m12[b], m5[b] - m9[b] - m13[b]
                s2, s3 = m6[b] - m10[b] - m14[b], m7[b] - m11[b] - m15[b]
                y0[2 * b] = q0 + q1 + q2 + bo
                if b < full:
                    y0[2 * b + 1] = q1 - q2 - q3 + bo
                if two_rows:
                    y1[2 * b] = s0 + s1 + s2 + bo
                    if b < full:
                        y1[2 * b + 1] = s1 - s2 - s3 + bo

    @njit(parallel=True, cache=True, fastmath=compiled.FASTMATH)
    def input_batch_last(xp, a0, a1, tw, v):  # pragma: no cover - compiled
        """xp (C, 2TH+2, 2TW+2, N) padded -> v (16, C, (a1-a0)*TW*N) for tile rows [a0, a1),
        tile t = ((a - a0)*TW + b)*N + n: vectorised along the batch."""
        c_ch, n_img = xp.shape[0], xp.shape[3]
        rows = a1 - a0
        for q in prange(c_ch * rows):
            c, a = q // rows, q % rows
            y = 2 * (a0 + a)
            for b in range(tw):
                x = 2 * b
                t0 = (a * tw + b) * n_img
                p00, p01, p02, p03 = xp[c, y, x], xp[c, y, x + 1], xp[c, y, x + 2], xp[c, y, x + 3]
                p10, p11, p12, p13 = xp[c, y + 1, x], xp[c, y + 1, x + 1], xp[c, y + 1, x + 2], xp[c, y + 1, x + 3]
                p20, p21, p22, p23 = xp[c, y + 2, x], xp[c, y + 2, x + 1], xp[c, y + 2, x + 2], xp[c, y + 2, x + 3]
                p30, p31, p32, p33 = xp[c, y + 3, x], xp[c, y + 3, x + 1], xp[c, y + 3, x + 2], xp[c, y + 3, x + 3]
                e = t0 + n_img
                v0, v1, v2, v3 = v[0, c, t0:e], v[1, c, t0:e], v[2, c, t0:e], v[3, c, t0:e]
                v4, v5, v6, v7 = v[4, c, t0:e], v[5, c, t0:e], v[6, c, t0:e], v[7, c, t0:e]
                v8, v9, v10, v11 = v[8, c, t0:e], v[9, c, t0:e], v[10, c, t0:e], v[11, c, t0:e]
                v12, v13, v14, v15 = v[12, c, t0:e], v[13, c, t0:e], v[14, c, t0:e], v[15, c, t0:e]
                for i in range(n_img):
                    t00, t01, t02, t03 = p00[i] - p20[i], p01[i] - p21[i], p02[i] - p22[i], p03[i] - p23[i]
                    t10, t11, t12, t13 = p10[i] + p20[i], p11[i] + p21[i], p12[i] + p22[i], p13[i] + p23[i]
                    t20, t21, t22, t23 = p20[i] - p10[i], p21[i] - p11[i], p22[i] - p12[i], p23[i] - p13[i]
                    t30, t31, t32, t33 = p10[i] - p30[i], p11[i] - p31[i], p12[i] - p32[i], p13[i] - p33[i]
                    v0[i], v1[i], v2[i], v3[i] = t00 - t02, t01 + t02, t02 - t01, t01 - t03
                    v4[i], v5[i], v6[i], v7[i] = t10 - t12, t11 + t12, t12 - t11, t11 - t13
                    v8[i], v9[i], v10[i], v11[i] = t20 - t22, t21 + t22, t22 - t21, t21 - t23
                    v12[i], v13[i], v14[i], v15[i] = t30 - t32, t31 + t32, t32 - t31, t31 - t33

    @njit(parallel=True, cache=True, fastmath=compiled.FASTMATH)
    def output_batch_last(mm, a0, a1, tw, bias, out):  # pragma: no cover - compiled
        """mm (16, O, (a1-a0)*TW*N) -> out (O, OH, OW, N) rows 2*a0 ... = A^T M A + bias."""
        o_ch, oh, ow, n_img = out.shape
        rows = a1 - a0
        for q in prange(o_ch * rows):
            o, a = q // rows, q % rows
            y = 2 * (a0 + a)
            bo = bias[o]
            for b in range(tw):
                x = 2 * b
                t0 = (a * tw + b) * n_img
                e = t0 + n_img
                m0, m1, m2, m3 = mm[0, o, t0:e], mm[1, o, t0:e], mm[2, o, t0:e], mm[3, o, t0:e]
                m4, m5, m6, m7 = mm[4, o, t0:e], mm[5, o, t0:e], mm[6, o, t0:e], mm[7, o, t0:e]
                m8, m9, m10, m11 = mm[8, o, t0:e], mm[9, o, t0:e], mm[10, o, t0:e], mm[11, o, t0:e]
                m12, m13, m14, m15 = mm[12, o, t0:e], mm[13, o, t0:e], mm[14, o, t0:e], mm[15, o, t0:e]
                two_cols, two_rows = x + 1 < ow, y + 1 < oh
                o00 = out[o, y, x]
                o01 = out[o, y, x + 1] if two_cols else o00
                o10 = out[o, y + 1, x] if two_rows else o00
                o11 = out[o, y + 1, x + 1] if two_rows and two_cols else o00
                for i in range(n_img):  # the ifs are the same for every i: LLVM hoists them
                    q0, q1 = m0[i] + m4[i] + m8[i], m1[i] + m5[i] + m9[i]
                    q2, q3 = m2[i] + m6[i] + m10[i], m3[i] + m7[i] + m11[i]
                    s0, s1 = m4[i] - m8[i] - m12[i], m5[i] - m9[i] - m13[i]
                    s2, s3 = m6[i] - m10[i] - m14[i], m7[i] - m11[i] - m15[i]
                    o00[i] = q0 + q1 + q2 + bo
                    if two_cols:  # not past an odd width
                        o01[i] = q1 - q2 - q3 + bo
                    if two_rows:  # not past an odd height
                        o10[i] = s0 + s1 + s2 + bo
                        if two_cols:
                            o11[i] = s1 - s2 - s3 + bo

    return SimpleNamespace(input_nchw=input_nchw, output_nchw=output_nchw, input_batch_last=input_batch_last,
                           output_batch_last=output_batch_last)


def forward_nchw(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, padding, out: np.ndarray) -> np.ndarray:
    """x (N, C, H, W), w (O, C, 3, 3), optional b (O,), padding ((top, bottom), (left, right))
    -> fills ``out`` (N, O, OH, OW), C-contiguous, a chunk of images at a time; returns it."""
    k = _kernels()
    n, c, h, wd = x.shape
    o_ch, oh, ow = out.shape[1:]
    th, tw = _tiles((oh, ow))
    (pt, _), (pl, _) = padding
    u = _weights(w)
    bias = _bias(b, o_ch, x.dtype)
    m = _images_per_chunk(n, c, o_ch, th, tw, x.itemsize)
    xp = np.zeros((m, c, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)  # zero border, refilled inside
    v, mm = _buffer(c, m * th * tw, x.dtype), _buffer(o_ch, m * th * tw, x.dtype)
    for start in range(0, n, m):
        stop = min(n, start + m)
        t = (stop - start) * th * tw
        xp[: stop - start, :, pt:pt + h, pl:pl + wd] = x[start:stop]
        with compiled.lock:
            k.input_nchw(xp[: stop - start], th, tw, v[:, :, :t])
        blas.matmul(u, v[:, :, :t], out=mm[:, :, :t])
        with compiled.lock:
            k.output_nchw(mm[:, :, :t], th, tw, bias, out[start:stop])
    return out


def forward_batch_last(x_t: np.ndarray, w: np.ndarray, b: np.ndarray | None, padding,
                       out_size: tuple[int, int]) -> np.ndarray:
    """x_t (C, H, W, N) batch-last -> (O, OH, OW, N), a chunk of tile rows at a time."""
    k = _kernels()
    c, h, wd, n = x_t.shape
    o_ch = w.shape[0]
    th, tw = _tiles(out_size)
    (pt, _), (pl, _) = padding
    u = _weights(w)
    bias = _bias(b, o_ch, x_t.dtype)
    xp = np.zeros((c, 2 * th + 2, 2 * tw + 2, n), dtype=x_t.dtype)
    xp[:, pt:pt + h, pl:pl + wd] = x_t
    out = np.empty((o_ch, *out_size, n), dtype=x_t.dtype)
    step = _rows_per_chunk(th, c, o_ch, tw, n, x_t.itemsize)
    v, mm = _buffer(c, step * tw * n, x_t.dtype), _buffer(o_ch, step * tw * n, x_t.dtype)
    for a0 in range(0, th, step):
        a1 = min(th, a0 + step)
        t = (a1 - a0) * tw * n
        with compiled.lock:
            k.input_batch_last(xp, a0, a1, tw, v[:, :, :t])
        blas.matmul(u, v[:, :, :t], out=mm[:, :, :t])
        with compiled.lock:
            k.output_batch_last(mm[:, :, :t], a0, a1, tw, bias, out)
    return out


def usable(x_dtype: np.dtype, w_shape, stride, dilation, groups: int, min_channels: int) -> bool:
    """Whether a convolution can run here: 2-D, 3x3, stride 1, no dilation, one group, at least
    ``min_channels`` input and output channels, float32 or float64, and numba installed."""
    return (len(w_shape) == 4 and tuple(w_shape[2:]) == (3, 3) and groups == 1
            and all(s == 1 for s in stride) and all(d == 1 for d in dilation)
            and min(w_shape[0], w_shape[1]) >= min_channels
            and np.dtype(x_dtype) in (np.float32, np.float64) and compiled.available())



class Winograd(Route):
    """Forward by F(2x2, 3x3) in either layout (the stride-1 input gradient, a correlation,
    comes here through the adjoint route)."""

    name = "winograd"
    directions = ("forward",)

    def can(self, geom: Geometry, direction: str, layout: str) -> str | None:
        if not usable(geom.dtype, geom.w_shape, geom.stride, geom.dilation, geom.groups, 0):
            return ("needs a 2-D 3x3 stride-1 undilated single-group float convolution and numba"
                    if compiled.available() else "numba is not installed")
        return None

    def forward(self, geom: Geometry, layout: str, x, w, b, th) -> np.ndarray:
        if layout == "batch_last":
            return forward_batch_last(x, w, b, geom.padding, geom.out_size)  # (O, OH, OW, N)
        out = np.empty((geom.n, geom.o, *geom.out_size), dtype=geom.dtype)
        return forward_nchw(np.ascontiguousarray(x), w, b, geom.padding, out)

    def forward_workspace(self, geom: Geometry, layout: str, bias: bool, th) -> int:
        return workspace_elems(geom.n, geom.c, geom.o, geom.spatial, geom.padding, layout == "batch_last",
                               geom.itemsize)


WINOGRAD = Winograd()
