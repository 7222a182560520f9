"""juanji/kernels/conv/rowshift.py's scratch-memory models against tracemalloc, kernel by kernel.

The values of the kernels are checked through F.conv2d in tests/functional/test_conv.py (naive loops,
PyTorch, gradcheck, every route); here each memory model, which the RowShift route's workspaces sum into a
layer's estimate, must match what its kernel allocates within 5%, plus 64 KiB for NumPy's
own iterator buffers (8192 elements per operand of a strided in-place add), which no model
counts.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

from juanji.functional._args import resolve_padding
from juanji.kernels import blas
from juanji.kernels.conv import rowshift
from juanji.kernels.im2col import conv_output_shape, pad_zeros

BUDGET = 8 * 2**20
MIN_DW_POSITIONS = 4096

pytestmark = pytest.mark.skipif(not blas.available(np.float32),
                                reason="no BLAS with a known CBLAS interface in this NumPy: rowshift is off")


def _close(model_bytes: float, peak: int) -> bool:
    return abs(model_bytes - peak) <= 0.05 * peak + 2**16


def _peak(fn) -> tuple[int, object]:
    """Peak traced bytes of one call beyond what was allocated before it, and its result."""
    fn()  # warm-up
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return peak, result


CASES = [  # n, c, o, kernel, stride, padding, size
    (3, 64, 32, 3, 1, 1, 40),        # one image per chunk (1600 positions... shared: < 2048)
    (2, 16, 24, 3, 1, 1, 70),        # 4900 positions: one image per product
    (5, 32, 64, 5, 2, "same", 64),   # 1024 positions: four images per product, a shorter last chunk
    (2, 3, 16, 11, 4, 0, 67),        # 11x11 stride 4: three products of 4 phases
]


def _setup(n, c, o, k, s, p, size):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, size, size)).astype(np.float32)
    w = rng.standard_normal((o, c, k, k)).astype(np.float32)
    pads = resolve_padding(p, (size, size), (k, k), (s, s), (1, 1), "conv2d")
    padded = tuple(size + a + b for a, b in pads)
    out_size = conv_output_shape(padded, (k, k), (s, s), (1, 1))
    return x, w, pads, padded, out_size


@pytest.mark.parametrize("case", CASES)
def test_nchw_kernels_allocate_what_their_models_say(case):
    n, c, o, k, s, p, size = case
    x, w, pads, _, out_size = _setup(*case)
    b = np.ones(o, np.float32)
    stride, dil = (s, s), (1, 1)
    dout = np.ones((n, o, *out_size), np.float32)
    out = np.empty((n, o, *out_size), np.float32)
    item = 4

    peak, _ = _peak(lambda: rowshift.forward_nchw(x, w, b, stride, pads, dil, out, BUDGET))
    model = rowshift.workspace_elems(n, c, w.shape, (size, size), stride, pads, dil, out_size, True, item, BUDGET)
    assert _close(model * item, peak), (model * item, peak)

    peak, _ = _peak(lambda: rowshift.weight_grad_nchw(x, dout, w.shape, stride, pads, dil, BUDGET))
    model = rowshift.grad_workspace_elems(n, c, w.shape, (size, size), stride, pads, dil, out_size, item, BUDGET)
    assert _close(model * item, peak), (model * item, peak)

    peak, _ = _peak(lambda: rowshift.input_grad_nchw(dout, w, x.shape, stride, pads, dil, BUDGET))
    model = rowshift.input_grad_workspace_elems(n, c, w.shape, (size, size), stride, pads, dil, out_size, item,
                                                BUDGET) + x.size  # + dx itself
    assert _close(model * item, peak), (model * item, peak)


@pytest.mark.parametrize("case", CASES)
def test_batch_last_kernels_allocate_what_their_models_say(case):
    n, c, o, k, s, p, size = case
    x, w, pads, padded, out_size = _setup(*case)
    b = np.ones(o, np.float32)
    stride, dil = (s, s), (1, 1)
    xpad_t = pad_zeros(np.ascontiguousarray(np.moveaxis(x, 0, -1)), pads, first=1)  # (C, HP, WP, N)
    dout_t = np.ones((o, *out_size, n), np.float32)
    out_t = np.empty((o, *out_size, n), np.float32)
    item = 4

    peak, _ = _peak(lambda: rowshift.forward_batch_last(xpad_t, w, b, stride, dil, out_t, BUDGET))
    model = rowshift.band_workspace_elems(c, w.shape, stride, dil, out_size, n, True, item, BUDGET)
    assert _close(model * item, peak), (model * item, peak)

    peak, _ = _peak(lambda: rowshift.weight_grad_batch_last(xpad_t, dout_t, w.shape, stride, dil, BUDGET,
                                                            MIN_DW_POSITIONS))
    model = rowshift.band_grad_workspace_elems(c, w.shape, stride, dil, out_size, n, item, BUDGET, MIN_DW_POSITIONS)
    assert _close(model * item, peak), (model * item, peak)

    peak, _ = _peak(lambda: rowshift.input_grad_batch_last(dout_t, w, (c, *padded, n), stride, dil, BUDGET))
    model = rowshift.band_input_grad_workspace_elems(c, w.shape, stride, dil, out_size, n, item,
                                                     BUDGET) + c * np.prod(padded) * n  # + dxpad_t itself
    assert _close(model * item, peak), (model * item, peak)
