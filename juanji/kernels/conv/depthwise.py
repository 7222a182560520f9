"""Depthwise 2-D convolution (one input channel per group) as compiled loops, when numba is installed.

A depthwise convolution multiplies each input channel by its own KH x KW kernel(s):

    out[n, o, y, x] = sum_{i, j} w[o, 0, i, j] * xp[n, o // M, y*SH + i*DH, x*SW + j*DW]

with M = O / C output channels per input channel (the multiplier; 1 in Xception and
MobileNet). Through im2col that is one 1 x (KH*KW) by (KH*KW) x L product per image and
channel: a copy of KH*KW times the input for nine multiply-adds per output, which NumPy
cannot make fast (bench/NOTES.md, "Changes kept": depthwise 2-D conv on numba loops). The
loops below do the same sums with no columns. They are an accelerator only:
the planner (planner.py) picks them when numba imports, and otherwise (and in the tests,
both ways) the im2col path computes the same values.

All three take the unpadded input (N, C, H, W) and the padding: the loops skip the taps that
fall on the zero border instead of reading a padded copy. They run in parallel over
independent (image, channel) planes (or weights), so no two threads write the same element
and every sum is in a fixed order. 3x3 kernels with no dilation at stride 1 (Xception's and
MobileNet's) or 2 (MobileNet's downsampling) take loops with the nine taps written out
(depthwise_loops.py: one pass over each row's interior instead of one per tap; with one
output per channel dx is the forward loop on the flipped kernel; bench/NOTES.md, "Changes
kept", "2026-12-05": the depthwise 3x3 rows).
"""

from __future__ import annotations

import functools
import math
from types import ModuleType

import numpy as np

from .. import compiled
from .geometry import Geometry
from .route import Route

__all__ = ["available", "forward", "backward_input", "backward_weight", "Depthwise", "DEPTHWISE"]


def available() -> bool:
    """Whether the compiled depthwise kernels can run (numba installed, JUANJI_NUMBA not 0)."""
    return compiled.available()


@functools.cache
def _kernels() -> ModuleType:
    """The three loops, compiled by numba on first use (and cached on disk by numba)."""
    compiled.numba()  # imports numba and picks its threading layer before the loops import it
    from . import depthwise_loops
    return depthwise_loops


def _three_by_three(w_shape: tuple[int, ...], stride: tuple[int, int], dilation: tuple[int, int]) -> int:
    """The stride (1 or 2, both axes) of a 3x3 kernel with no dilation, for which loops with
    the nine taps written out apply; 0 where they do not."""
    if tuple(w_shape[2:]) != (3, 3) or tuple(dilation) != (1, 1) or stride[0] != stride[1]:
        return 0
    return stride[0] if stride[0] in (1, 2) else 0


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, out: np.ndarray, stride: tuple[int, int],
            padding: tuple[tuple[int, int], ...], dilation: tuple[int, int]) -> np.ndarray:
    """(N, C, H, W) input (unpadded: the loops skip the zero border), (O, 1, KH, KW) weight,
    optional (O,) bias -> fills ``out`` (N, O, OH, OW), C-contiguous; returns it."""
    bias = np.zeros(w.shape[0], dtype=x.dtype) if b is None else np.ascontiguousarray(b)
    x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
    written_out = _three_by_three(w.shape, stride, dilation)
    with compiled.lock:
        if written_out == 1:
            _kernels().forward_3x3(x, w, bias, out, padding[0][0], padding[1][0])
        elif written_out == 2:
            _kernels().forward_3x3_s2(x, w, bias, out, padding[0][0], padding[1][0])
        else:
            _kernels().forward(x, w, bias, out, *stride, *dilation, padding[0][0], padding[1][0])
    return out


def backward_input(dout: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...], stride: tuple[int, int],
                   padding: tuple[tuple[int, int], ...], dilation: tuple[int, int]) -> np.ndarray:
    """Gradient of the (unpadded) input, (N, C, H, W), contiguous."""
    dx = np.empty(x_shape, dtype=dout.dtype)
    dout, w = np.ascontiguousarray(dout), np.ascontiguousarray(w)
    (pt, _), (pl, _) = padding
    written_out = _three_by_three(w.shape, stride, dilation)
    with compiled.lock:
        if written_out == 1 and w.shape[0] == x_shape[1] and pt <= 2 and pl <= 2:
            # One output channel per input channel: dx is dout correlated with the flipped
            # kernel, padded by 2 - PT and 2 - PL, which is the forward loop's job.
            flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1])
            _kernels().forward_3x3(dout, flipped, np.zeros(w.shape[0], dtype=dout.dtype), dx, 2 - pt, 2 - pl)
        elif written_out == 2:
            _kernels().backward_input_3x3_s2(dout, w, dx, pt, pl)
        else:
            _kernels().backward_input(dout, w, dx, *stride, *dilation, pt, pl)
    return dx


def backward_weight(dout: np.ndarray, x: np.ndarray, w_shape: tuple[int, ...], stride: tuple[int, int],
                    padding: tuple[tuple[int, int], ...], dilation: tuple[int, int]) -> np.ndarray:
    """Gradient of the (O, 1, KH, KW) weight, summed over the batch in a fixed order."""
    dw = np.empty(w_shape, dtype=dout.dtype)
    dout, x = np.ascontiguousarray(dout), np.ascontiguousarray(x)
    written_out = _three_by_three(w_shape, stride, dilation)
    with compiled.lock:
        if written_out == 1:
            _kernels().backward_weight_3x3(dout, x, dw, padding[0][0], padding[1][0])
        elif written_out == 2:
            _kernels().backward_weight_3x3_s2(dout, x, dw, padding[0][0], padding[1][0])
        else:
            _kernels().backward_weight(dout, x, dw, *stride, *dilation, padding[0][0], padding[1][0])
    return dw


class Depthwise(Route):
    """Forward, dW and dx of a 2-D depthwise convolution on the compiled loops (NCHW)."""

    name = "depthwise"
    layouts = ("nchw",)

    def can(self, geom: Geometry, direction: str, layout: str) -> str | None:
        if geom.nd != 2 or geom.groups < 2 or geom.cg != 1:
            return "needs a 2-D convolution with one input channel per group"
        if not available():
            return "numba is not installed"
        return None

    def forward(self, geom: Geometry, layout: str, x, w, b, th) -> np.ndarray:
        out = np.empty((geom.n, geom.o, *geom.out_size), dtype=geom.dtype)
        return forward(np.ascontiguousarray(x), w, b, out, geom.stride, geom.padding, geom.dilation)

    def weight_grad(self, geom: Geometry, layout: str, x, w, dout, th) -> np.ndarray:
        return backward_weight(np.ascontiguousarray(dout), np.ascontiguousarray(x), geom.w_shape, geom.stride,
                               geom.padding, geom.dilation)

    def input_grad(self, geom: Geometry, layout: str, x, w, dout, th) -> np.ndarray:
        return backward_input(np.ascontiguousarray(dout), w, geom.x_shape, geom.stride, geom.padding, geom.dilation)

    def grads_workspace(self, geom: Geometry, layout: str, need_w: bool, need_x: bool, th) -> int:
        return geom.x_batch_last * geom.n * geom.c * math.prod(geom.spatial)  # the loops read NCHW copies


DEPTHWISE = Depthwise()
