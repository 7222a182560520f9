"""correlate2d / convolve2d against scipy.signal, textbook loops, PyTorch and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

import juanji
import juanji.functional as F
from juanji import Tensor
from tests.helpers import assert_close, check_gradcheck, check_naive, check_torch, torch_or_skip

# (in1 shape, in2 shape): kernel smaller, equal, larger in one dim, larger in both, 1x1 ...
SHAPES = [
    ((5, 6), (2, 3)), ((5, 6), (3, 4)), ((4, 4), (4, 4)), ((3, 7), (5, 2)), ((7, 4), (2, 6)),
    ((4, 5), (6, 7)), ((1, 1), (1, 1)), ((1, 5), (1, 2)), ((6, 6), (1, 1)), ((2, 9), (3, 2)),
    ((6, 5), (6, 2)),
]
MODES = ["full", "same", "valid"]
OPS = {"correlate2d": (F.correlate2d, signal.correlate2d), "convolve2d": (F.convolve2d, signal.convolve2d)}


def valid_possible(s1, s2):
    return all(a >= b for a, b in zip(s1, s2)) or all(b >= a for a, b in zip(s1, s2))


def cases():
    for s1, s2 in SHAPES:
        for mode in MODES:
            if mode == "valid" and not valid_possible(s1, s2):
                continue
            for op in OPS:
                yield op, s1, s2, mode


CASES = list(cases())
IDS = [f"{op}-{s1}-{s2}-{mode}" for op, s1, s2, mode in CASES]


def arrays(s1, s2, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s1).astype(dtype), rng.standard_normal(s2).astype(dtype)]


# --- the textbook reference ------------------------------------------------------------------
def correlate_full_loops(a, k):
    """Sliding dot product of k over a zero-padded a, at every overlap."""
    kh, kw = k.shape
    a_pad = np.pad(a, ((kh - 1, kh - 1), (kw - 1, kw - 1)), mode="constant")
    out = np.zeros((a.shape[0] + kh - 1, a.shape[1] + kw - 1))
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            out[y, x] = np.sum(a_pad[y:y + kh, x:x + kw] * k)
    return out


def mode_window(op, s1, s2, mode):
    """Where scipy's "same"/"valid" output sits inside "full" (scipy's documented behaviour)."""
    if mode == "full":
        return tuple(slice(0, n + k - 1) for n, k in zip(s1, s2))
    if mode == "same":
        # The size of in1, starting at k // 2 (correlate2d) or (k - 1) // 2 (convolve2d).
        starts = [k // 2 if op == "correlate2d" else (k - 1) // 2 for k in s2]
        return tuple(slice(start, start + n) for n, start in zip(s1, starts))
    # "valid": the positions where one input covers the other completely.
    return tuple(slice(min(n, k) - 1, max(n, k)) for n, k in zip(s1, s2))


def naive_forward(op, mode):
    def f(a, k):
        kernel = k if op == "correlate2d" else k[::-1, ::-1]
        return correlate_full_loops(a, kernel)[mode_window(op, a.shape, k.shape, mode)]
    return f


def naive_backward(op, mode):
    def f(cot, a, k):
        kernel = k if op == "correlate2d" else k[::-1, ::-1]
        kh, kw = k.shape
        g_full = np.zeros((a.shape[0] + kh - 1, a.shape[1] + kw - 1))
        g_full[mode_window(op, a.shape, k.shape, mode)] = cot
        a_pad = np.pad(a, ((kh - 1, kh - 1), (kw - 1, kw - 1)), mode="constant")
        da_pad, dkernel = np.zeros_like(a_pad), np.zeros_like(k)
        for y in range(g_full.shape[0]):
            for x in range(g_full.shape[1]):
                da_pad[y:y + kh, x:x + kw] += g_full[y, x] * kernel
                dkernel += g_full[y, x] * a_pad[y:y + kh, x:x + kw]
        da = da_pad[kh - 1:kh - 1 + a.shape[0], kw - 1:kw - 1 + a.shape[1]]
        return da, (dkernel if op == "correlate2d" else dkernel[::-1, ::-1])
    return f


def torch_op(op, mode):
    torch = torch_or_skip()

    def f(a, k):
        kernel = k if op == "correlate2d" else torch.flip(k, (0, 1))
        kh, kw = k.shape
        full = torch.nn.functional.conv2d(a[None, None], kernel[None, None], padding=(kh - 1, kw - 1))[0, 0]
        return full[mode_window(op, tuple(a.shape), tuple(k.shape), mode)]
    return f


# --- tests ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("op,s1,s2,mode", CASES, ids=IDS)
def test_matches_scipy(op, s1, s2, mode):
    ours, theirs = OPS[op]
    a, k = arrays(s1, s2)
    expected = theirs(a, k, mode=mode)
    got = ours(Tensor(a), Tensor(k), mode=mode)
    assert_close(got.data, expected, 1e-12, 1e-12, f"{op} {mode}")
    a32, k32 = arrays(s1, s2, np.float32)
    got32 = ours(Tensor(a32), Tensor(k32), mode=mode)
    assert got32.dtype == np.float32
    assert_close(got32.data, theirs(a32, k32, mode=mode), 1e-5, 1e-5, f"{op} {mode} float32")


@pytest.mark.parametrize("op,s1,s2,mode", CASES, ids=IDS)
def test_matches_naive_loops_torch_and_gradcheck(op, s1, s2, mode):
    fn = lambda a, k: OPS[op][0](a, k, mode=mode)  # noqa: E731
    check_naive(fn, naive_forward(op, mode), arrays(s1, s2), naive_backward=naive_backward(op, mode))
    check_torch(fn, torch_op(op, mode), arrays(s1, s2, np.float32, seed=1))
    check_gradcheck(fn, arrays(s1, s2, seed=2))


def test_default_mode_is_full_and_kernel_flip_is_the_difference():
    a, k = arrays((5, 7), (3, 2))
    full = F.correlate2d(Tensor(a), Tensor(k))
    assert full.shape == (7, 8)
    flipped = F.convolve2d(Tensor(a), Tensor(k[::-1, ::-1].copy()))
    assert_close(full.data, flipped.data, 1e-12, 1e-12, "correlate == convolve with flipped kernel")


def test_gradient_reaches_both_inputs_under_a_graph():
    a = Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    k = Tensor(np.ones((2, 2)), requires_grad=True)
    F.convolve2d(a, k, mode="valid").sum().backward()
    # d/da of the sum of all 2x2 window sums: how many windows cover each pixel.
    assert_close(a.grad.data, np.array([[1, 2, 2, 1], [2, 4, 4, 2], [1, 2, 2, 1.0]]), 0, 0, "da")
    # d/dk[i, j] = sum of the pixels that tap (i, j) meets (flipped for convolution).
    windows = [a.data[1 - i:3 - i, 1 - j:4 - j].sum() for i in range(2) for j in range(2)]
    assert_close(k.grad.data, np.array(windows).reshape(2, 2), 0, 0, "dk")
    with juanji.no_grad():
        assert F.correlate2d(a, k)._ctx is None


def _t(*shape, dtype=np.float64):
    return Tensor(np.zeros(shape, dtype=dtype))


BAD = [
    (lambda: F.correlate2d(np.zeros((3, 3)), _t(2, 2)), TypeError,
     r"correlate2d: in1 must be a juanji.Tensor, got ndarray"),
    (lambda: F.convolve2d(_t(3, 3), [[1.0]]), TypeError, r"convolve2d: in2 must be a juanji.Tensor, got list"),
    (lambda: F.correlate2d(_t(1, 3, 3), _t(2, 2)), ValueError, r"correlate2d: in1 must be 2-D, got shape \(1, 3, 3\)"),
    (lambda: F.convolve2d(_t(3, 3), _t(2,)), ValueError, r"convolve2d: in2 must be 2-D, got shape \(2,\)"),
    (lambda: F.correlate2d(_t(3, 3), _t(2, 2), mode="circular"), ValueError,
     r"correlate2d: mode must be 'full', 'same' or 'valid', got 'circular'"),
    (lambda: F.convolve2d(_t(3, 7), _t(5, 2), mode="valid"), ValueError,
     r"convolve2d: for 'valid' mode one input must be at least as large as the other in every "
     r"dimension, got in1 shape \(3, 7\) and in2 shape \(5, 2\)"),
    (lambda: F.correlate2d(_t(3, 3), _t(2, 2, dtype=np.float32)), TypeError,
     r"correlate2d: in1 dtype float64 and in2 dtype float32 differ"),
    (lambda: F.correlate2d(_t(3, 3, dtype=np.int64), _t(2, 2, dtype=np.int64)), TypeError,
     r"correlate2d: in1 must be floating point, got dtype int64"),
    (lambda: F.correlate2d(_t(0, 3), _t(2, 2)), ValueError, r"correlate2d: in1 must not be empty, got shape \(0, 3\)"),
]


@pytest.mark.parametrize("call,exc,message", BAD)
def test_bad_inputs(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
