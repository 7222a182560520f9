"""Route "pointwise": 1x1 convolutions at stride 1, where the columns are the input itself.

With a 1x1 kernel at stride 1 there is nothing to gather: cols = x, so per image and group

    out[n, g] (Og, L) = W[g] (Og, Cg) @ x[n, g] (Cg, L)  (+ b)
    dW (O, C)         = sum_n dout_n (O, L) @ x_n^T (L, C)

* Forward on NCHW with one group, where BLAS is reachable directly (juanji/kernels/blas.py):
  the bias is written into the output first and each image's product adds onto it (BLAS's
  beta = 1), so no pass reads the output again to add it, as a stacked matmul needs. The pass
  saved is one over the output, so the gain grows with the output against the input (64 -> 256
  gains most). Otherwise one stacked matmul, then the bias.
* Forward batch-last (unpadded): x_t (C, L*N) is the column matrix, one product per group,
  W @ x_t = (O, L*N), the output already batch-last.
* dW on NCHW (one group, unpadded): one product per image on x where it lies, added up in
  order by beta = 1. The batch_inner route would copy x twice (a padded buffer, its columns)
  and dout once, for a product that needs neither.
(bench/NOTES.md, "Changes kept", "2026-12-05": the NCHW 1x1 stride-1 forward and dW.)
"""

from __future__ import annotations

import math

import numpy as np

from .. import blas
from ..im2col import pad_zeros
from .geometry import Geometry
from .route import Route

__all__ = ["Pointwise", "POINTWISE"]


class Pointwise(Route):
    name = "pointwise"
    directions = ("forward", "dw")

    def can(self, geom: Geometry, direction: str, layout: str) -> str | None:
        if not geom.pointwise:
            return "not a 1x1 kernel at stride 1"
        if (layout == "batch_last" or direction == "dw") and geom.is_padded:
            return "padded"
        if direction == "dw" and (layout != "nchw" or geom.groups != 1):
            return "dW per image needs NCHW and one group"
        return None

    def forward(self, geom: Geometry, layout: str, x, w, b, th) -> np.ndarray:
        g, o_ch, og = geom.groups, geom.o, geom.og
        if layout == "batch_last":  # x_t (C, *spatial, N)
            out_t = np.empty((o_ch, *geom.out_size, geom.n), dtype=geom.dtype)  # (O, OH, OW, N)
            out_g = out_t.reshape(g, og, -1)  # (G, Og, L*N), a view
            blas.matmul(w.reshape(g, og, -1), x.reshape(g, geom.cg, -1), out=out_g)
            if b is not None:
                out_g += b.reshape(g, -1, 1)
            return out_t
        n, c, positions = geom.n, geom.c, geom.positions
        out = np.empty((n, o_ch, positions), dtype=geom.dtype)  # (N, O, L)
        xpad = pad_zeros(x, geom.padding)  # (N, C, HP, WP); 1x1 convs are rarely padded
        if g == 1 and blas.available(geom.dtype):
            _per_image_onto_bias(xpad.reshape(n, c, positions), w.reshape(o_ch, c), b, out)
        else:
            blas.matmul(w.reshape(g, og, -1), xpad.reshape(n, g, -1, positions),
                        out=out.reshape(n, g, og, positions))
            if b is not None:
                out += b[:, None]  # broadcast (O, 1)
        return out.reshape(n, o_ch, *geom.out_size)

    def forward_workspace(self, geom: Geometry, layout: str, bias: bool, th) -> int:
        return geom.is_padded * geom.n * geom.c * math.prod(geom.padded)  # pad_zeros's copy

    def weight_grad(self, geom: Geometry, layout: str, x, w, dout, th) -> np.ndarray:
        n, c, o_ch = geom.n, geom.c, geom.o
        x3 = np.ascontiguousarray(x).reshape(n, c, -1)  # (N, C, L)
        d3 = np.ascontiguousarray(dout).reshape(n, o_ch, -1)  # (N, O, L)
        dw = np.empty((o_ch, c), dtype=geom.dtype)  # (O, C)
        for i in range(n):
            blas.gemm(d3[i], x3[i].T, dw, beta=float(i > 0))
        return dw.reshape(geom.w_shape)

    def grads_workspace(self, geom: Geometry, layout: str, need_w: bool, need_x: bool, th) -> int:
        return 0  # x and dout are read where they lie (contiguous, as a network passes them)


def _per_image_onto_bias(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, out: np.ndarray) -> np.ndarray:
    """out[i] = w @ x[i] + b for each image: x (N, C, L), w (O, C), b (O,) or None, out (N, O, L).
    The bias is written into out first and each product adds onto it (BLAS's beta = 1)."""
    beta = 0.0
    if b is not None:
        out[...] = b[:, None]  # broadcast (O, 1)
        beta = 1.0
    for i in range(x.shape[0]):
        blas.gemm(w, x[i], out[i], beta=beta)
    return out


POINTWISE = Pointwise()
