"""Direct 2-D convolution in the batch-last layout, as a compiled loop, when numba is installed.

    out[o, y, x, n] = b[o] + sum_{c, i, j} w[o, c, i, j] * xp[c, y*SH + i*DH, x*SW + j*DW, n]

with xp the zero-padded input stored (C, H, W, N): every tap reads one contiguous vector of
the batch, multiplied by each output channel's weight into a per-pixel (O, N) accumulator
that stays in the first-level cache. For a layer with few output channels and a batch of
images, such as LeNet-5's first (1 -> 6 channels, 5x5, batch 128), the GEMM route is thin
(a 6-row product over columns copied KH*KW times from the input, 10 MB for 0.4 MB of
input) and bound by that copy, which slows most when the machine is busy; the loop copies
no columns. It is an accelerator only:
the planner (planner.py) picks it by a measured size rule when numba imports, and otherwise
(and in the tests, both ways) the GEMM route computes the same values.

The loop runs in parallel over output rows, so no two threads write the same element, and
each sum is in a fixed order (bias, then the taps by channel, kernel row and column).
"""

from __future__ import annotations

import functools
from types import ModuleType

import numpy as np

from .. import compiled
from .geometry import Geometry
from .route import Route

__all__ = ["available", "forward", "Direct", "DIRECT"]


def available() -> bool:
    """Whether the compiled loop can run (numba installed, JUANJI_NUMBA not 0)."""
    return compiled.available()


@functools.cache
def _kernels() -> ModuleType:
    compiled.numba()  # imports numba and picks its threading layer before the loop imports it
    from . import direct_loops
    return direct_loops


def forward(x_t: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, int],
            padding: tuple[tuple[int, int], ...], dilation: tuple[int, int],
            out_t: np.ndarray) -> np.ndarray:
    """x_t (C, H, W, N) unpadded (the loop skips the zero border), w (O, C, KH, KW), optional
    (O,) bias -> fills ``out_t`` (O, OH, OW, N), C-contiguous; returns it."""
    bias = np.zeros(w.shape[0], dtype=x_t.dtype) if b is None else np.ascontiguousarray(b)
    with compiled.lock:
        _kernels().forward(np.ascontiguousarray(x_t), np.ascontiguousarray(w), bias, out_t, *stride,
                           *dilation, padding[0][0], padding[1][0])
    return out_t


class Direct(Route):
    """Forward as the direct compiled loop, batch-last."""

    name = "direct"
    layouts = ("batch_last",)
    directions = ("forward",)

    def can(self, geom: Geometry, direction: str, layout: str) -> str | None:
        if geom.nd != 2 or geom.groups != 1 or geom.dtype not in (np.float32, np.float64):
            return "needs a 2-D single-group float convolution"
        if not available():
            return "numba is not installed"
        return None

    def forward(self, geom: Geometry, layout: str, x_t, w, b, th) -> np.ndarray:
        out_t = np.empty((geom.o, *geom.out_size, geom.n), dtype=geom.dtype)  # (O, OH, OW, N)
        return forward(x_t, w, b, geom.stride, geom.padding, geom.dilation, out_t)

    def forward_workspace(self, geom: Geometry, layout: str, bias: bool, th) -> int:
        return 0  # the loop reads the unpadded input in place


DIRECT = Direct()
