"""fft_conv2d against conv2d, textbook loops, scipy.signal, PyTorch and finite differences.

Every comparison runs on both FFT libraries (numpy.fft and scipy.fft, forced by name), since
scipy.fft is only an optional fast path.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.fft
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

import juanji
import juanji.functional as F
from juanji import Tensor
from juanji.functional import fft_conv
from tests.helpers import assert_close, check_gradcheck, check_naive, check_torch, torch_or_skip

FFT_MODULES = ["numpy", "scipy"]


# --- the textbook reference ------------------------------------------------------------------
def tf_same_pads(n: int, k: int) -> tuple[int, int]:
    """TensorFlow's documented "same" rule at stride 1: total k - 1, the odd pixel after."""
    total = k - 1
    return total // 2, total - total // 2


def pad_pairs(padding, sizes, kernel):
    if padding == "valid":
        return [(0, 0), (0, 0)]
    if padding == "same":
        return [tf_same_pads(n, k) for n, k in zip(sizes, kernel)]
    if isinstance(padding, int):
        return [(padding, padding)] * 2
    return [(p, p) for p in padding]


def conv_loops(x, w, b, pads, groups, mode):
    """out[n, f, y, x] = b[f] + sum_{c, i, j} w[f, c, i, j] * xpad[n, g*Cg + c, y + i, x + j]."""
    if mode == "convolution":
        w = w[:, :, ::-1, ::-1]  # the true convolution flips the kernel
    xpad = np.pad(x, ((0, 0), (0, 0), *pads))
    n, _, hp, wp = xpad.shape
    f, cg, kh, kw = w.shape
    fg = f // groups
    out = np.zeros((n, f, hp - kh + 1, wp - kw + 1))
    for i in range(n):
        for o in range(f):
            c0 = (o // fg) * cg  # first input channel of this filter's group
            for y in range(out.shape[2]):
                for xx in range(out.shape[3]):
                    out[i, o, y, xx] = np.sum(xpad[i, c0:c0 + cg, y:y + kh, xx:xx + kw] * w[o])
            if b is not None:
                out[i, o] += b[o]
    return out


def conv_loops_backward(cot, x, w, b, pads, groups, mode):
    """The same loops, accumulating each product's gradient (conv_backward of the tutorials)."""
    wc = w[:, :, ::-1, ::-1] if mode == "convolution" else w
    xpad = np.pad(x, ((0, 0), (0, 0), *pads))
    dxpad, dwc = np.zeros_like(xpad), np.zeros_like(w)
    f, cg, kh, kw = w.shape
    fg = f // groups
    for i in range(cot.shape[0]):
        for o in range(f):
            c0 = (o // fg) * cg
            for y in range(cot.shape[2]):
                for xx in range(cot.shape[3]):
                    dxpad[i, c0:c0 + cg, y:y + kh, xx:xx + kw] += wc[o] * cot[i, o, y, xx]
                    dwc[o] += xpad[i, c0:c0 + cg, y:y + kh, xx:xx + kw] * cot[i, o, y, xx]
    (pt, _), (pl, _) = pads
    dx = dxpad[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]]
    dw = dwc[:, :, ::-1, ::-1] if mode == "convolution" else dwc
    grads = [dx, dw]
    if b is not None:
        grads.append(cot.sum(axis=(0, 2, 3)))
    return grads


# (N, C, H, W), (F, C/groups, KH, KW), padding, groups: odd / even / 1x1 kernels, groups,
# depthwise (and with a channel multiplier), "same" with even kernels (asymmetric), int and
# pair padding, a kernel larger than the input, padding wider than the kernel.
CASES = [
    ((2, 3, 7, 8), (4, 3, 3, 3), 0, 1),
    ((1, 2, 6, 5), (3, 2, 2, 4), "same", 1),
    ((2, 4, 5, 6), (6, 2, 3, 2), (1, 2), 2),
    ((2, 3, 6, 6), (3, 1, 3, 3), "same", 3),  # depthwise
    ((1, 2, 5, 4), (6, 1, 2, 3), 1, 2),  # depthwise with a channel multiplier of 3
    ((2, 2, 4, 5), (2, 2, 7, 6), 3, 1),  # kernel larger than the input, padded to fit
    ((1, 3, 4, 4), (2, 3, 1, 1), 2, 1),  # 1x1 kernel, padding wider than it: a border of bias
    ((3, 1, 6, 7), (2, 1, 4, 4), "valid", 1),
]
IDS = [f"x{x}-w{w}-p{p}-g{g}" for x, w, p, g in CASES]


def arrays(x_shape, w_shape, dtype=np.float64, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    out = [rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)]
    if bias:
        out.append(rng.standard_normal(w_shape[0]).astype(dtype))
    return out


def fft_fn(padding, groups, mode="correlation", fft_module=None):
    return lambda x, w, b=None: F.fft_conv2d(x, w, b, padding=padding, groups=groups, mode=mode,
                                              fft_module=fft_module)


def scale(w_shape) -> float:
    """Typical output size for unit-normal data: the square root of the terms in each sum."""
    return float(np.sqrt(np.prod(w_shape[1:])))


@pytest.mark.parametrize("mode", ["correlation", "convolution"])
@pytest.mark.parametrize("x_shape, w_shape, padding, groups", CASES, ids=IDS)
def test_matches_naive_loops(x_shape, w_shape, padding, groups, mode):
    pads = pad_pairs(padding, x_shape[2:], w_shape[2:])
    for fft_module in FFT_MODULES:
        check_naive(fft_fn(padding, groups, mode, fft_module),
                    lambda x, w, b: conv_loops(x, w, b, pads, groups, mode), arrays(x_shape, w_shape),
                    naive_backward=lambda cot, x, w, b: conv_loops_backward(cot, x, w, b, pads, groups, mode),
                    rtol=1e-9, atol=1e-10, what=f"fft_conv2d {mode} ({fft_module})")


@pytest.mark.parametrize("mode", ["correlation", "convolution"])
@pytest.mark.parametrize("x_shape, w_shape, padding, groups", CASES[:6], ids=IDS[:6])
def test_gradcheck(x_shape, w_shape, padding, groups, mode):
    check_gradcheck(fft_fn(padding, groups, mode), arrays(x_shape, w_shape))


def test_gradcheck_without_bias_numpy_fft():
    check_gradcheck(fft_fn("same", 2, "convolution", "numpy"), arrays((2, 4, 5, 6), (4, 2, 2, 3), bias=False))


def torch_fn(padding, x_shape, w_shape, groups, mode):
    """torch.nn.functional.conv2d on the explicitly padded input (TF's asymmetric "same")."""
    torch = torch_or_skip()
    (pt, pb), (pl, pr) = pad_pairs(padding, x_shape[2:], w_shape[2:])

    def f(x, w, b):
        if mode == "convolution":
            w = torch.flip(w, dims=(2, 3))
        return torch.nn.functional.conv2d(torch.nn.functional.pad(x, (pl, pr, pt, pb)), w, b, groups=groups)
    return f


@pytest.mark.parametrize("mode", ["correlation", "convolution"])
@pytest.mark.parametrize("x_shape, w_shape, padding, groups", CASES, ids=IDS)
def test_matches_torch(x_shape, w_shape, padding, groups, mode):
    # the default FFT library here (numpy.fft meets the loops, conv2d and the random shapes)
    for dtype, tol in ((np.float32, 1e-4), (np.float64, 1e-10)):
        check_torch(fft_fn(padding, groups, mode), torch_fn(padding, x_shape, w_shape, groups, mode),
                    arrays(x_shape, w_shape, dtype), rtol=tol, atol=tol * scale(w_shape),
                    what=f"fft_conv2d {mode} {np.dtype(dtype).name}")


# --- equal to conv2d, the direct routes ------------------------------------------------------
CONV2D_CASES = CASES + [
    ((4, 8, 20, 17), (16, 8, 5, 5), "same", 1),
    ((2, 6, 16, 16), (6, 2, 8, 8), "same", 3),  # even kernel, "same": one more pad at the bottom/right
    ((2, 16, 12, 12), (16, 1, 7, 7), 3, 16),  # depthwise 7x7
    ((2, 4, 9, 9), (8, 4, 1, 1), 0, 1),  # pointwise
    ((1, 2, 10, 10), (3, 2, 11, 11), "same", 1),  # kernel larger than the input
    ((3, 3, 31, 29), (5, 3, 13, 11), (4, 2), 1),
]
CONV2D_IDS = [f"x{x}-w{w}-p{p}-g{g}" for x, w, p, g in CONV2D_CASES]


def forward_backward(fn, arrays_, cot=None):
    tensors = [Tensor(a, requires_grad=True) for a in arrays_]
    out = fn(*tensors)
    if cot is None:
        cot = np.random.default_rng(7).standard_normal(out.shape).astype(out.dtype)
    out.backward(cot)
    return out.data, [t.grad.data for t in tensors], cot


@pytest.mark.parametrize("fft_module", FFT_MODULES)
@pytest.mark.parametrize("x_shape, w_shape, padding, groups", CONV2D_CASES, ids=CONV2D_IDS)
def test_equals_conv2d(x_shape, w_shape, padding, groups, fft_module):
    # Within float32 rounding: out and dx are sums of Cg*KH*KW (Fg*KH*KW) unit-variance products,
    # of size ~scale; dW and db sum over the N*OH*OW positions. Measured against float64, both
    # FFT libraries stay within 1e-6 of those sizes here (1e-15 in float64).
    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-11)):
        data = arrays(x_shape, w_shape, dtype, seed=3)
        out, grads, cot = forward_backward(fft_fn(padding, groups, "correlation", fft_module), data)
        ref, ref_grads, _ = forward_backward(lambda x, w, b: F.conv2d(x, w, b, padding=padding, groups=groups),
                                             data, cot)
        assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
        sums = np.sqrt(out.shape[0] * np.prod(out.shape[2:]))
        assert_close(out, ref, tol, tol * scale(w_shape), f"forward {np.dtype(dtype).name}")
        for name, g, r, size in zip(("dx", "dw", "db"), grads, ref_grads, (scale(w_shape), sums, sums)):
            assert_close(g, r, tol, tol * size, f"{name} {np.dtype(dtype).name}")


@pytest.mark.parametrize("x_shape, w_shape, padding, groups", CONV2D_CASES[-6:], ids=CONV2D_IDS[-6:])
def test_convolution_mode_is_conv2d_with_the_flipped_kernel(x_shape, w_shape, padding, groups):
    x, w, b = (Tensor(a) for a in arrays(x_shape, w_shape, np.float64, seed=4))
    got = F.fft_conv2d(x, w, b, padding=padding, groups=groups, mode="convolution").data
    flipped = Tensor(np.ascontiguousarray(w.data[:, :, ::-1, ::-1]))
    want = F.conv2d(x, flipped, b, padding=padding, groups=groups).data
    assert_close(got, want, 1e-10, 1e-10, "convolution mode vs conv2d(flipped kernel)")
    # ... and differs from the correlation (the kernels are not symmetric), except for 1x1.
    if w_shape[2:] != (1, 1):
        assert np.abs(got - F.fft_conv2d(x, w, b, padding=padding, groups=groups).data).max() > 1e-3


@settings(deadline=None, max_examples=20)
@given(data=st.data())
def test_random_shapes_match_conv2d(data):
    draw = data.draw
    g = draw(st.sampled_from([1, 2, 3]), label="groups")
    cg, fg = draw(st.integers(1, 3), label="Cg"), draw(st.integers(1, 3), label="Fg")
    kh, kw = draw(st.integers(1, 6), label="KH"), draw(st.integers(1, 6), label="KW")
    h, w = draw(st.integers(1, 12), label="H"), draw(st.integers(1, 12), label="W")
    padding = draw(st.one_of(st.just("same"), st.tuples(st.integers(0, 5), st.integers(0, 5))), label="padding")
    pads = pad_pairs(padding, (h, w), (kh, kw))
    if h + sum(pads[0]) < kh or w + sum(pads[1]) < kw:
        padding = (kh, kw)  # the kernel would not fit: pad so that it does
    x_shape, w_shape = (draw(st.integers(1, 3), label="N"), g * cg, h, w), (g * fg, cg, kh, kw)
    mode = draw(st.sampled_from(["correlation", "convolution"]), label="mode")
    data_ = arrays(x_shape, w_shape, np.float64, seed=draw(st.integers(0, 99), label="seed"))
    out, grads, cot = forward_backward(fft_fn(padding, g, mode, draw(st.sampled_from(FFT_MODULES))), data_)
    flip = (lambda a: a[:, :, ::-1, ::-1]) if mode == "convolution" else (lambda a: a)
    ref, ref_grads, _ = forward_backward(
        lambda x, w, b: F.conv2d(x, w, b, padding=padding, groups=g),
        [data_[0], np.ascontiguousarray(flip(data_[1])), data_[2]], cot)
    assert_close(out, ref, 1e-9, 1e-10, "forward")
    assert_close(grads[0], ref_grads[0], 1e-9, 1e-10, "dx")
    assert_close(grads[1], flip(ref_grads[1]), 1e-9, 1e-10, "dw")
    assert_close(grads[2], ref_grads[2], 1e-9, 1e-10, "db")


# --- the true convolution: scipy.signal ------------------------------------------------------
@pytest.mark.parametrize("fft_module", FFT_MODULES)
@pytest.mark.parametrize("image, kernel", [((9, 11), (3, 3)), ((8, 7), (4, 2)), ((6, 6), (6, 6)), ((5, 9), (1, 5))])
def test_convolution_mode_matches_scipy_convolve2d(image, kernel, fft_module):
    rng = np.random.default_rng(2)
    a, k = rng.standard_normal(image), rng.standard_normal(kernel)
    x, w = Tensor(a.reshape(1, 1, *image)), Tensor(k.reshape(1, 1, *kernel))
    kh, kw = kernel
    runs = {"valid": "valid", "full": (kh - 1, kw - 1)}  # full: every overlap, k - 1 zeros each side
    if kh % 2 and kw % 2:
        runs["same"] = "same"  # scipy centres even kernels the other way ((k - 1) // 2 before)
    for scipy_mode, padding in runs.items():
        got = F.fft_conv2d(x, w, padding=padding, mode="convolution", fft_module=fft_module).data[0, 0]
        assert_close(got, signal.convolve2d(a, k, mode=scipy_mode), 1e-10, 1e-10, f"convolve2d {scipy_mode}")
        # and "correlation" is scipy's correlate2d
        got = F.fft_conv2d(x, w, padding=padding, fft_module=fft_module).data[0, 0]
        want = signal.correlate2d(a, k, mode=scipy_mode)
        if scipy_mode != "same":
            assert_close(got, want, 1e-10, 1e-10, f"correlate2d {scipy_mode}")


def test_matches_signal_convolve2d_gradients():
    # the single-channel case against juanji's own F.convolve2d ("full"), gradients included
    rng = np.random.default_rng(8)
    a, k = rng.standard_normal((7, 9)), rng.standard_normal((3, 4))
    out, (da, dk), cot = forward_backward(
        lambda t, u: F.fft_conv2d(t.reshape(1, 1, 7, 9), u.reshape(1, 1, 3, 4), padding=(2, 3), mode="convolution"),
        [a, k])
    ref, (ra, rk), _ = forward_backward(lambda t, u: F.convolve2d(t, u), [a, k], cot.reshape(9, 12))
    assert_close(out[0, 0], ref, 1e-10, 1e-10, "forward")
    assert_close(da, ra, 1e-10, 1e-10, "d in1")
    assert_close(dk, rk, 1e-10, 1e-10, "d in2")


# --- the FFT plumbing ------------------------------------------------------------------------
def test_fast_length_matches_scipy():
    for n in range(1, 1500):
        assert fft_conv.fast_length(n) == scipy.fft.next_fast_len(n, real=True), n
        assert fft_conv.fast_length(n, (2, 3, 5, 7, 11)) == scipy.fft.next_fast_len(n), n


def test_fft_module_choice(monkeypatch):
    assert fft_conv._fft_module(None) is scipy.fft  # scipy installed: the faster library
    assert fft_conv._fft_module("numpy") is np.fft
    assert fft_conv._fft_module("scipy") is scipy.fft
    # without scipy (an import of scipy.fft fails): numpy.fft, and a clear error when named
    monkeypatch.setitem(sys.modules, "scipy.fft", None)
    assert fft_conv._fft_module(None) is np.fft
    x, w = (Tensor(a) for a in arrays((1, 2, 6, 6), (3, 2, 3, 3), bias=False))
    assert_close(F.fft_conv2d(x, w).data, F.conv2d(x, w).data, 1e-10, 1e-10, "numpy.fft fallback")
    with pytest.raises(ImportError, match=r"fft_conv2d: fft_module='scipy' needs scipy \(pip install scipy\)"):
        F.fft_conv2d(x, w, fft_module="scipy")


def test_import_does_not_load_scipy():
    # scipy.fft is imported on first use: it would double juanji's import time
    code = "import sys, juanji; print('scipy.fft' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_no_fft_wraps_around_with_large_padding():
    # Padding much wider than the kernel: the window starts far before row 0 and wraps the
    # circular buffer; the outputs there read only zeros, so they are the bias exactly.
    x, w, b = (Tensor(a) for a in arrays((1, 1, 3, 3), (1, 1, 2, 2), seed=1))
    out = F.fft_conv2d(x, w, b, padding=6).data[0, 0]
    ref = F.conv2d(x, w, b, padding=6).data[0, 0]
    assert out.shape == (14, 14)
    assert_close(out, ref, 1e-12, 1e-12, "padding 6")
    assert np.abs(out[:5] - b.data[0]).max() < 1e-12  # rows 0..4 see no image row


def test_empty_batch():
    x = Tensor(np.zeros((0, 2, 5, 5), np.float32), requires_grad=True)
    w = Tensor(np.ones((3, 2, 3, 3), np.float32), requires_grad=True)
    b = Tensor(np.ones(3, np.float32), requires_grad=True)
    out = F.fft_conv2d(x, w, b, padding=1)
    assert out.shape == (0, 3, 5, 5) and out.dtype == np.float32
    out.sum().backward()
    assert x.grad.shape == (0, 2, 5, 5)
    assert np.all(w.grad.data == 0) and np.all(b.grad.data == 0)


def test_backward_twice_with_retain_graph():
    # the saved spectra are not changed in place by backward
    x, w = (Tensor(a, requires_grad=True) for a in arrays((2, 2, 6, 6), (3, 2, 3, 3), bias=False))
    out = F.fft_conv2d(x, w, padding="same")
    out.sum().backward(retain_graph=True)
    first = x.grad.data.copy(), w.grad.data.copy()
    out.sum().backward()
    assert_close(x.grad.data, 2 * first[0], 1e-12, 1e-12, "dx twice")
    assert_close(w.grad.data, 2 * first[1], 1e-12, 1e-12, "dw twice")


def test_no_grad_keeps_nothing():
    x, w = (Tensor(a, requires_grad=True) for a in arrays((1, 1, 4, 4), (1, 1, 2, 2), bias=False))
    with juanji.no_grad():
        out = F.fft_conv2d(x, w)
    assert not out.requires_grad and out._ctx is None


def test_only_weight_needs_grad():
    x = Tensor(arrays((2, 2, 5, 5), (1, 1, 1, 1))[0])
    w = Tensor(np.random.default_rng(0).standard_normal((3, 2, 2, 2)), requires_grad=True)
    F.fft_conv2d(x, w).sum().backward()
    ref_w = Tensor(w.data, requires_grad=True)
    F.conv2d(x, ref_w).sum().backward()
    assert_close(w.grad.data, ref_w.grad.data, 1e-10, 1e-10, "dw alone")


# --- bad arguments ---------------------------------------------------------------------------
def _t(shape, dtype=np.float32):
    return Tensor(np.zeros(shape, dtype))


BAD = [
    (lambda: F.fft_conv2d(_t((3, 8, 8)), _t((4, 3, 3, 3))), ValueError,
     r"fft_conv2d: expected a 4-D input \(N, C, H, W\), got shape \(3, 8, 8\)"),
    (lambda: F.fft_conv2d(_t((1, 3, 8, 8)), _t((4, 3, 3))), ValueError,
     r"fft_conv2d: expected a 4-D weight \(O, C/groups, KH, KW\), got shape \(4, 3, 3\)"),
    (lambda: F.fft_conv2d(_t((1, 3, 8, 8)), _t((4, 2, 3, 3))), ValueError,
     r"fft_conv2d: input has 3 channels but weight expects 2 \(weight shape \(4, 2, 3, 3\), groups=1\)"),
    (lambda: F.fft_conv2d(_t((1, 4, 8, 8)), _t((6, 2, 3, 3)), groups=3), ValueError,
     r"fft_conv2d: input channels 4 \(input shape \(1, 4, 8, 8\)\) are not divisible by groups=3"),
    (lambda: F.fft_conv2d(_t((1, 4, 8, 8)), _t((5, 2, 3, 3)), groups=2), ValueError,
     r"fft_conv2d: out channels 5 \(weight shape \(5, 2, 3, 3\)\) are not divisible by groups=2"),
    (lambda: F.fft_conv2d(_t((1, 3, 8, 8)), _t((4, 3, 3, 3), np.float64)), TypeError,
     r"fft_conv2d: input dtype float32 and weight dtype float64 differ"),
    (lambda: F.fft_conv2d(_t((1, 3, 8, 8)), _t((4, 3, 3, 3)), _t((3,))), ValueError,
     r"fft_conv2d: bias must have shape \(4,\) to match weight shape \(4, 3, 3, 3\), got \(3,\)"),
    (lambda: F.fft_conv2d(_t((1, 3, 4, 4)), _t((4, 3, 6, 3))), ValueError,
     r"fft_conv2d: kernel size 6 \(dilated to 6\) is larger than the padded input size 4 in spatial dim 0"),
    (lambda: F.fft_conv2d(_t((1, 3, 8, 8)), _t((4, 3, 3, 3)), padding="full"), ValueError,
     r"fft_conv2d: padding must be an int, a tuple, 'valid' or 'same', got 'full'"),
    (lambda: F.fft_conv2d(_t((1, 3, 8, 8)), _t((4, 3, 3, 3)), padding=-1), ValueError,
     r"fft_conv2d: padding must be >= 0"),
    (lambda: F.fft_conv2d(_t((1, 3, 8, 8)), _t((4, 3, 3, 3)), groups=0), ValueError,
     r"fft_conv2d: groups must be >= 1, got 0"),
    (lambda: F.fft_conv2d(_t((1, 3, 8, 8), np.float16), _t((4, 3, 3, 3), np.float16)), TypeError,
     r"fft_conv2d: input dtype float16 is not supported \(float32 or float64; input shape \(1, 3, 8, 8\)\)"),
    (lambda: F.fft_conv2d(_t((1, 3, 8, 8), np.int64), _t((4, 3, 3, 3), np.int64)), TypeError,
     r"fft_conv2d: input must be floating point, got dtype int64"),
    (lambda: F.fft_conv2d(np.zeros((1, 3, 8, 8)), _t((4, 3, 3, 3))), TypeError,
     r"fft_conv2d: input must be a juanji.Tensor, got ndarray"),
    (lambda: F.fft_conv2d(_t((1, 3, 8, 8)), _t((4, 3, 3, 3)), mode="flipped"), ValueError,
     r"fft_conv2d: mode must be 'correlation' or 'convolution', got 'flipped'"),
    (lambda: F.fft_conv2d(_t((1, 3, 8, 8)), _t((4, 3, 3, 3)), fft_module="fftw"), ValueError,
     r"fft_conv2d: fft_module must be None, 'numpy' or 'scipy', got 'fftw'"),
    (lambda: F.fft_conv2d(_t((1, 3, 8, 8)), _t((4, 3, 3, 3)), stride=2), TypeError, r"stride"),
]


@pytest.mark.parametrize("call, exc, message", BAD, ids=range(len(BAD)))
def test_bad_arguments(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
