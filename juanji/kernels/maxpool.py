"""2-D max pooling as compiled loops, when numba is installed.

    out[n, c, y, x] = max_{i, j} x[n, c, y*SH - PT + i*DH, x*SW - PL + j*DW]   (taps inside the input)

The rule is PyTorch's CPU kernel: the taps are visited in row-major window order and a tap
wins when it is greater than the running maximum or NaN, so the gradient goes to the first
maximum on ties, and to the last NaN of a window that holds one (whose output is NaN).
juanji/kernels/pool.py's NumPy path reduces one axis at a time and gives the same outputs and
gradients, NaNs included (the last NaN along each axis, which is the last in row-major order).

NumPy needs about a dozen passes over window-sized views for the forward with its arg-max,
and several masked adds for the backward; the loops read the input once and write the output
and the arg-max once, then write dx once (bench/NOTES.md, "Changes kept": 2-D max pooling
on compiled loops). juanji/functional/pool.py uses them for 2-D max pooling where its size rule says
they are faster and numba imports; otherwise, and in the tests both ways, the NumPy path
computes the same values.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Sequence

import numpy as np

from ..backend import xp
from . import compiled
from .layout import from_batch_last, is_batch_last, to_batch_last

__all__ = ["usable", "forward", "backward"]

Pads = Sequence[tuple[int, int]]


def usable(x: np.ndarray, nd: int) -> bool:
    """Whether a max pool over x can run here: 2-D, float32 or float64, numba installed."""
    return nd == 2 and x.ndim == 4 and x.dtype in (np.float32, np.float64) and compiled.available()


@functools.cache
def _loops() -> ModuleType:
    compiled.numba()  # imports numba and picks its threading layer before the loops import it
    from . import maxpool_loops
    return maxpool_loops


def _arg_dtype(taps: int) -> np.dtype:
    """Smallest unsigned type that holds 0..taps (taps itself marks a window with no tap inside)."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if taps <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise ValueError(f"max_pool2d: a window of {taps} taps is too large")


def _tiles(kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int], pads: Pads) -> bool:
    """Windows that tile the input: stride = kernel, no dilation, no padding on either side."""
    return (tuple(stride) == tuple(kernel) and all(d == 1 for d in dilation)
            and all(p == (0, 0) for p in pads))


def _geometry(kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
              pads: Pads) -> tuple[int, ...]:
    return (*kernel, *stride, *dilation, pads[0][0], pads[1][0])


def forward(x: np.ndarray, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
            pads: Pads, out_size: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(out, arg) of a max pool over x (N, C, H, W): out (N, C, OH, OW) stored like x (batch-last
    stays batch-last), arg the window offset i*KW + j of each maximum, in out's layout.
    ``pads`` are the (before, after) paddings of pool.effective_pads."""
    n, c = x.shape[:2]
    oh, ow = out_size
    arg_dtype = _arg_dtype(kernel[0] * kernel[1])
    if is_batch_last(x):
        x4 = to_batch_last(x)  # (C, H, W, N), a view
        out4 = xp.empty((c, oh, ow, n), dtype=x.dtype)
        arg4 = xp.empty((c, oh, ow, n), dtype=arg_dtype)
        with compiled.lock:
            _loops().forward_batch_last(x4, *_geometry(kernel, stride, dilation, pads), out4, arg4)
        return from_batch_last(out4), from_batch_last(arg4)
    x3 = xp.ascontiguousarray(x).reshape(n * c, *x.shape[2:])  # (N*C, H, W)
    out = xp.empty((n, c, oh, ow), dtype=x.dtype)
    arg = xp.empty((n, c, oh, ow), dtype=arg_dtype)
    with compiled.lock:
        _loops().forward_planes(x3, *_geometry(kernel, stride, dilation, pads),
                                out.reshape(n * c, oh, ow), arg.reshape(n * c, oh, ow))
    return out, arg


def backward(g: np.ndarray, arg: np.ndarray, in_shape: Sequence[int], kernel: Sequence[int],
             stride: Sequence[int], dilation: Sequence[int], pads: Pads) -> np.ndarray:
    """dx (N, C, H, W), stored like arg (that is, like forward's x): each window's gradient
    added at its arg-max; g is read in arg's layout (one copy if it comes in the other)."""
    n, c, h, w = in_shape
    if is_batch_last(arg):
        arg4 = to_batch_last(arg)  # (C, OH, OW, N), a view
        dx4 = xp.empty((c, h, w, n), dtype=g.dtype)
        with compiled.lock:
            if _tiles(kernel, stride, dilation, pads):
                _loops().backward_tiles_batch_last(to_batch_last(g), arg4, *kernel, dx4)
            else:
                _loops().backward_batch_last(to_batch_last(g), arg4, *_geometry(kernel, stride, dilation, pads),
                                             dx4)
        return from_batch_last(dx4)
    oh, ow = arg.shape[2:]
    dx = xp.empty((n, c, h, w), dtype=g.dtype)
    with compiled.lock:
        _loops().backward_planes(xp.ascontiguousarray(g).reshape(n * c, oh, ow), arg.reshape(n * c, oh, ow),
                                 *_geometry(kernel, stride, dilation, pads), dx.reshape(n * c, h, w))
    return dx
