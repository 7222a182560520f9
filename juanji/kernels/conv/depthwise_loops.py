"""The compiled loops of juanji/kernels/depthwise.py (see there for the formula).

Imported only by depthwise._kernels(), after compiled.numba() has imported numba and chosen
its threading layer. The loops live at module level, not in a closure, because numba's disk
cache keys a closure's entries on its captured variables: a captured dispatcher (``span``)
pickles with a per-process id, so the cache never hit: every process compiled all three
loops again and added entries to the cache (bench/NOTES.md, "Changes kept": the depthwise
loops at module level).
"""

import numpy as np
from numba import njit, prange

from ..compiled import FASTMATH
from ..loop_helpers import span


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def forward(x, w, bias, out, sh, sw, dh, dw, ph, pw):  # pragma: no cover - compiled
    n, o_ch, oh, ow = out.shape
    height, width = x.shape[2], x.shape[3]
    mult = o_ch // x.shape[1]
    kh, kw = w.shape[2], w.shape[3]
    for p in prange(n * o_ch):
        b, o = p // o_ch, p % o_ch
        c = o // mult
        plane = out[b, o]
        plane[:, :] = bias[o]
        for y in range(oh):
            acc = plane[y]
            for i in range(kh):
                r = y * sh + i * dh - ph
                if r < 0 or r >= height:
                    continue
                row = x[b, c, r]
                for j in range(kw):
                    j_off = j * dw - pw
                    lo, hi = span(j_off, sw, ow, width)
                    wv = w[o, 0, i, j]
                    if sw == 1:  # contiguous slices: the loop vectorises
                        seg, dst = row[lo + j_off: hi + j_off], acc[lo:hi]
                        for t in range(hi - lo):
                            dst[t] += wv * seg[t]
                    else:
                        for xx in range(lo, hi):
                            acc[xx] += wv * row[xx * sw + j_off]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def backward_input(dout, w, dx, sh, sw, dh, dw, ph, pw):  # pragma: no cover - compiled
    n, o_ch, oh, ow = dout.shape
    c_ch, height, width = dx.shape[1], dx.shape[2], dx.shape[3]
    mult = o_ch // c_ch
    kh, kw = w.shape[2], w.shape[3]
    for p in prange(n * c_ch):
        b, c = p // c_ch, p % c_ch
        plane = dx[b, c]
        plane[:, :] = 0
        for o in range(c * mult, (c + 1) * mult):
            for y in range(oh):
                g = dout[b, o, y]
                for i in range(kh):
                    r = y * sh + i * dh - ph
                    if r < 0 or r >= height:
                        continue
                    row = plane[r]
                    for j in range(kw):
                        j_off = j * dw - pw
                        lo, hi = span(j_off, sw, ow, width)
                        wv = w[o, 0, i, j]
                        if sw == 1:
                            dst, src = row[lo + j_off: hi + j_off], g[lo:hi]
                            for t in range(hi - lo):
                                dst[t] += wv * src[t]
                        else:
                            for xx in range(lo, hi):
                                row[xx * sw + j_off] += wv * g[xx]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def backward_weight(dout, x, dw_out, sh, sw, dh, dw, ph, pw):  # pragma: no cover - compiled
    """dW[o, 0, i, j] = sum over images and output rows of the row dot products
    dout[b, o, y] . x[b, c, y*SH + i*DH - PH, shifted by j]: each output-gradient row is read
    once for all KH*KW taps (in L1), instead of once per tap (nine reads of every row for 3x3;
    bench/NOTES.md, "Changes kept": depthwise dW with the rows outermost), the taps' sums kept
    in float64 and added in one fixed order."""
    n, o_ch, oh, ow = dout.shape
    height, width = x.shape[2], x.shape[3]
    mult = o_ch // x.shape[1]
    kh, kw = dw_out.shape[2], dw_out.shape[3]
    for o in prange(o_ch):
        c = o // mult
        acc = np.zeros((kh, kw))
        for b in range(n):
            for y in range(oh):
                g = dout[b, o, y]
                for i in range(kh):
                    r = y * sh + i * dh - ph
                    if r < 0 or r >= height:
                        continue
                    row = x[b, c, r]
                    for j in range(kw):
                        j_off = j * dw - pw
                        lo, hi = span(j_off, sw, ow, width)
                        s = 0.0
                        if sw == 1:
                            src, seg = g[lo:hi], row[lo + j_off: hi + j_off]
                            for t in range(hi - lo):
                                s += src[t] * seg[t]
                        else:
                            for xx in range(lo, hi):
                                s += g[xx] * row[xx * sw + j_off]
                        acc[i, j] += s
        for i in range(kh):
            for j in range(kw):
                dw_out[o, 0, i, j] = acc[i, j]


# --- 3x3 at stride 1 or 2, no dilation: Xception's and MobileNet's depthwise convs -----------
# The loops above make one pass over a row per tap (nine for 3x3), each of a row's ~56
# numbers: loop overhead, not arithmetic; at stride 2 they go element by element. Below, the
# interior of each output row is one pass with all nine taps written out (the loop
# vectorises over the row), and only the border pixels, where a tap falls on the zero
# padding, go tap by tap; dx at stride 1 is the same forward loop on the flipped kernel
# (bench/NOTES.md, "Changes kept", "2026-12-05": the depthwise 3x3 rows, for the timings).

@njit(cache=True, inline="always")
def _pixel_3x3(plane, k, start, r0, c0, height, width):  # pragma: no cover - compiled
    """start + sum of k[i, j] * plane[r0 + i, c0 + j] over the taps inside the plane."""
    s = start
    for i in range(3):
        r = r0 + i
        if r < 0 or r >= height:
            continue
        for j in range(3):
            c = c0 + j
            if 0 <= c < width:
                s += k[i, j] * plane[r, c]
    return s


@njit(cache=True, inline="always")
def _add_pixel_grad_3x3(acc, gt, plane, r0, c0, height, width):  # pragma: no cover - compiled
    """acc[i, j] += gt * plane[r0 + i, c0 + j] for the taps inside the plane."""
    for i in range(3):
        r = r0 + i
        if r < 0 or r >= height:
            continue
        for j in range(3):
            c = c0 + j
            if 0 <= c < width:
                acc[i, j] += gt * plane[r, c]


@njit(cache=True, inline="always")
def _tap_rows_3x3(plane, r, c0, c1):  # pragma: no cover - compiled
    """Columns [c0, c1) of the three input rows r, r + 1, r + 2 a 3x3 kernel reads."""
    return plane[r, c0:c1], plane[r + 1, c0:c1], plane[r + 2, c0:c1]


@njit(cache=True, inline="always")
def _interior_3x3(ow, width, pw, step=1):  # pragma: no cover - compiled
    """Output columns [lo, hi) whose three taps (columns t*step - pw + 0..2) all lie inside a
    row of ``width``."""
    lo = max(0, -(-pw // step))
    return lo, max(lo, min(ow, (width - 3 + pw) // step + 1))


@njit(cache=True, inline="always")
def _forward_3x3(x, w, bias, out, ph, pw, step):  # pragma: no cover - compiled
    """forward() for a 3x3 kernel at stride ``step`` (both axes), no dilation; ph, pw the top
    and left padding. Inlined into one loop per stride, where ``step`` is a constant: at 1
    the row reads are contiguous and the loop vectorises."""
    n, o_ch, oh, ow = out.shape
    height, width = x.shape[2], x.shape[3]
    mult = o_ch // x.shape[1]
    lo, hi = _interior_3x3(ow, width, pw, step)
    for p in prange(n * o_ch):
        b, o = p // o_ch, p % o_ch
        plane = x[b, o // mult]
        k = w[o, 0]
        w00, w01, w02 = k[0, 0], k[0, 1], k[0, 2]
        w10, w11, w12 = k[1, 0], k[1, 1], k[1, 2]
        w20, w21, w22 = k[2, 0], k[2, 1], k[2, 2]
        start = bias[o]
        for y in range(oh):
            acc = out[b, o, y]
            r = step * y - ph
            if r >= 0 and r + 2 < height and hi > lo:
                a0, a1, a2 = _tap_rows_3x3(plane, r, step * lo - pw, step * (hi - 1) - pw + 3)
                dst = acc[lo:hi]
                for t in range(hi - lo):  # the taps in forward()'s order: bias, then row by row
                    u = step * t
                    dst[t] = (start + w00 * a0[u] + w01 * a0[u + 1] + w02 * a0[u + 2]
                              + w10 * a1[u] + w11 * a1[u + 1] + w12 * a1[u + 2]
                              + w20 * a2[u] + w21 * a2[u + 1] + w22 * a2[u + 2])
                for t in range(lo):  # the border pixels, tap by tap
                    acc[t] = _pixel_3x3(plane, k, start, r, step * t - pw, height, width)
                for t in range(hi, ow):
                    acc[t] = _pixel_3x3(plane, k, start, r, step * t - pw, height, width)
            else:  # a row whose taps leave the plane vertically (or with no interior)
                for t in range(ow):
                    acc[t] = _pixel_3x3(plane, k, start, r, step * t - pw, height, width)


@njit(cache=True, inline="always")
def _weight_grad_3x3(dout, x, dw_out, ph, pw, step):  # pragma: no cover - compiled
    """backward_weight() for a 3x3 kernel at stride ``step``, no dilation (inlined as
    _forward_3x3): the nine row dot products of an interior row in one pass (nine sums), the
    border pixels tap by tap; each row's sums added into float64 in one fixed order."""
    n, o_ch, oh, ow = dout.shape
    height, width = x.shape[2], x.shape[3]
    mult = o_ch // x.shape[1]
    lo, hi = _interior_3x3(ow, width, pw, step)
    for o in prange(o_ch):
        c = o // mult
        acc = np.zeros((3, 3))
        for b in range(n):
            plane = x[b, c]
            for y in range(oh):
                g = dout[b, o, y]
                r = step * y - ph
                if r >= 0 and r + 2 < height and hi > lo:
                    a0, a1, a2 = _tap_rows_3x3(plane, r, step * lo - pw, step * (hi - 1) - pw + 3)
                    gs = g[lo:hi]
                    # Row sums in the input's precision (float32 widens to float64 for float64
                    # inputs), vectorised; added into float64 per row.
                    s00 = s01 = s02 = s10 = s11 = s12 = s20 = s21 = s22 = np.float32(0.0)
                    for t in range(hi - lo):
                        gt = gs[t]
                        u = step * t
                        s00 += gt * a0[u]
                        s01 += gt * a0[u + 1]
                        s02 += gt * a0[u + 2]
                        s10 += gt * a1[u]
                        s11 += gt * a1[u + 1]
                        s12 += gt * a1[u + 2]
                        s20 += gt * a2[u]
                        s21 += gt * a2[u + 1]
                        s22 += gt * a2[u + 2]
                    acc[0, 0] += s00
                    acc[0, 1] += s01
                    acc[0, 2] += s02
                    acc[1, 0] += s10
                    acc[1, 1] += s11
                    acc[1, 2] += s12
                    acc[2, 0] += s20
                    acc[2, 1] += s21
                    acc[2, 2] += s22
                    for t in range(lo):  # the border pixels, as in forward
                        _add_pixel_grad_3x3(acc, g[t], plane, r, step * t - pw, height, width)
                    for t in range(hi, ow):
                        _add_pixel_grad_3x3(acc, g[t], plane, r, step * t - pw, height, width)
                else:
                    for t in range(ow):
                        _add_pixel_grad_3x3(acc, g[t], plane, r, step * t - pw, height, width)
        for i in range(3):
            for j in range(3):
                dw_out[o, 0, i, j] = acc[i, j]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def forward_3x3(x, w, bias, out, ph, pw):  # pragma: no cover - compiled
    """forward() for a 3x3 kernel at stride 1, no dilation."""
    _forward_3x3(x, w, bias, out, ph, pw, 1)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def backward_weight_3x3(dout, x, dw_out, ph, pw):  # pragma: no cover - compiled
    """backward_weight() for a 3x3 kernel at stride 1, no dilation."""
    _weight_grad_3x3(dout, x, dw_out, ph, pw, 1)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def forward_3x3_s2(x, w, bias, out, ph, pw):  # pragma: no cover - compiled
    """forward() for a 3x3 kernel at stride 2, no dilation."""
    _forward_3x3(x, w, bias, out, ph, pw, 2)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def backward_weight_3x3_s2(dout, x, dw_out, ph, pw):  # pragma: no cover - compiled
    """backward_weight() for a 3x3 kernel at stride 2, no dilation."""
    _weight_grad_3x3(dout, x, dw_out, ph, pw, 2)


@njit(cache=True, inline="always")
def _scatter_pixel_3x3(row, k_row, gt, c0, width):  # pragma: no cover - compiled
    """row[c0 + j] += k_row[j] * gt for the three taps inside the row."""
    for j in range(3):
        if 0 <= c0 + j < width:
            row[c0 + j] += k_row[j] * gt


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def backward_input_3x3_s2(dout, w, dx, ph, pw):  # pragma: no cover - compiled
    """backward_input() for a 3x3 kernel at stride 2, no dilation: each output-gradient row
    adds into its three input rows; inside a row, columns 2t - PW and 2t + 1 - PW take the
    first two taps of every interior t in one pass, columns 2t + 2 - PW the third in another
    (each pass writes every other column once: no element twice), the border tap by tap."""
    n, o_ch, oh, ow = dout.shape
    c_ch, height, width = dx.shape[1], dx.shape[2], dx.shape[3]
    mult = o_ch // c_ch
    lo, hi = _interior_3x3(ow, width, pw, 2)
    for p in prange(n * c_ch):
        b, c = p // c_ch, p % c_ch
        plane = dx[b, c]
        plane[:, :] = 0
        for o in range(c * mult, (c + 1) * mult):
            k = w[o, 0]
            for y in range(oh):
                g = dout[b, o, y]
                for i in range(3):
                    r = 2 * y + i - ph
                    if r < 0 or r >= height:
                        continue
                    row = plane[r]
                    k0, k1, k2 = k[i, 0], k[i, 1], k[i, 2]
                    if hi > lo:
                        seg = row[2 * lo - pw: 2 * hi - pw + 1]
                        gs = g[lo:hi]
                        for t in range(hi - lo):
                            seg[2 * t] += k0 * gs[t]
                            seg[2 * t + 1] += k1 * gs[t]
                        for t in range(hi - lo):
                            seg[2 * t + 2] += k2 * gs[t]
                    for t in range(lo):  # the border, tap by tap (hi == lo: every column)
                        _scatter_pixel_3x3(row, k[i], g[t], 2 * t - pw, width)
                    for t in range(hi, ow):
                        _scatter_pixel_3x3(row, k[i], g[t], 2 * t - pw, width)
