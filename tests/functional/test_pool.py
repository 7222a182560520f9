"""Pooling: every op against gradcheck, the textbook window loops and PyTorch CPU.

The naive references below are written as a CNN tutorial writes them: padding with np.pad,
``pool_forward`` looping over images, channels and output positions, and ``pool_backward``
with ``create_mask_from_window`` (max) and ``distribute_value`` (average), both from
juanji.textbook. The window loops themselves stay here: they add what the textbook's
pool_forward leaves out (1-D and 3-D, padding, dilation, ceil_mode, PyTorch's divisors).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import juanji
import juanji.functional as F
import juanji.nn as nn
from juanji import Tensor
from juanji.functional import pool as pool_module
from juanji.kernels import maxpool as compiled_max_pool
from juanji.kernels.layout import from_batch_last, is_batch_last
from juanji.textbook import create_mask_from_window, distribute_value
from tests.helpers import check_gradcheck, check_naive, check_torch, torch_or_skip

SETTINGS = settings(deadline=None, max_examples=40, derandomize=True, database=None)
# The route fixture is the same for every example of a test, so hypothesis may share it.
SETTINGS_ROUTE = settings(SETTINGS, suppress_health_check=[HealthCheck.function_scoped_fixture])
HAS_NUMBA = compiled_max_pool.usable(np.zeros((1, 1, 2, 2), np.float32), 2)
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed (pip install numba): "
                                                       "compiled max pooling")


@pytest.fixture(params=["compiled", "numpy"])
def max_pool_route(request):
    """2-D max pooling on the compiled loops (kernels/maxpool.py) and on the NumPy path of
    kernels/pool.py: the max-pool tests run on both."""
    compiled = request.param == "compiled"
    if compiled and not HAS_NUMBA:
        pytest.skip("numba is not installed (pip install numba): compiled max pooling")
    before = pool_module._COMPILED_MAX_POOL
    pool_module._COMPILED_MAX_POOL = compiled
    yield request.param
    pool_module._COMPILED_MAX_POOL = before


# --- textbook references ----------------------------------------------------------------------
def out_len(n, k, s, pb, pa, d, ceil_mode):
    """Tutorial output size, with PyTorch's ceil_mode rule (last window starts in input/left pad)."""
    span = n + pb + pa - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    o = math.ceil(span / s) + 1
    if (o - 1) * s >= n + pb:
        o -= 1
    return o


def pad_spatial(x, pads, value=0.0):
    """Pad the spatial dims of (N, C, ...) with np.pad; pads = ((before, after), ...).
    (juanji.textbook.zero_pad pads NCHW with zeros only; max pooling pads with -inf.)"""
    return np.pad(x, ((0, 0), (0, 0)) + tuple(pads), mode="constant", constant_values=value)


class Pool:
    """The geometry of one pooling call, and its naive forward/backward loops."""

    def __init__(self, x_shape, kernel, stride, pads, dilation=None, ceil_mode=False,
                 mode="max", include_pad=True, divisor=None):
        self.nd = len(kernel)
        self.kernel, self.stride, self.pads = kernel, stride, pads
        self.dilation = dilation or (1,) * self.nd
        self.mode, self.include_pad, self.divisor = mode, include_pad, divisor
        self.in_size = x_shape[2:]
        self.out = tuple(out_len(n, k, s, pb, pa, d, ceil_mode) for n, k, s, (pb, pa), d in
                         zip(self.in_size, kernel, stride, pads, self.dilation))
        # Extra cells so ceil_mode windows hanging past the right padding stay in the array.
        self.extra = tuple(max((o - 1) * s + d * (k - 1) + 1 - (n + pb + pa), 0) for o, s, d, k, n, (pb, pa)
                           in zip(self.out, stride, self.dilation, kernel, self.in_size, pads))

    def window(self, pos):
        return tuple(slice(o * s, o * s + d * (k - 1) + 1, d)
                     for o, s, d, k in zip(pos, self.stride, self.dilation, self.kernel))

    def count(self, pos):
        """PyTorch's divisor: the window clipped to the padded input (or to the input)."""
        c = 1
        for o, s, k, n, (pb, pa) in zip(pos, self.stride, self.kernel, self.in_size, self.pads):
            lo, hi = o * s - pb, min(o * s - pb + k, n + pa)
            if not self.include_pad:
                lo, hi = max(lo, 0), min(hi, n)
            c *= hi - lo
        return c if self.divisor is None else self.divisor

    def padded(self, x):
        fill = -np.inf if self.mode == "max" else 0.0
        return pad_spatial(x, [(pb, pa + e) for (pb, pa), e in zip(self.pads, self.extra)], fill)

    def forward(self, x):
        xp = self.padded(x)
        out = np.zeros(x.shape[:2] + self.out)
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                for pos in np.ndindex(*self.out):
                    win = xp[(n, c) + self.window(pos)]
                    out[(n, c) + pos] = win.max() if self.mode == "max" else win.sum() / self.count(pos)
        return out

    def backward(self, dout, x):
        xp = self.padded(x)
        dxp = np.zeros(xp.shape)
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                for pos in np.ndindex(*self.out):
                    idx = (n, c) + self.window(pos)
                    dz = dout[(n, c) + pos]
                    if self.mode == "max":
                        dxp[idx] += create_mask_from_window(xp[idx]) * dz
                    else:
                        dxp[idx] += distribute_value(dz, xp[idx].shape, self.count(pos))
        crop = tuple(slice(pb, pb + n) for (pb, _), n in zip(self.pads, self.in_size))
        return [dxp[(slice(None), slice(None)) + crop]]


def bins(n, o):
    return [(math.floor(i * n / o), math.ceil((i + 1) * n / o)) for i in range(o)]


def naive_adaptive(x, out, mode):
    res = np.zeros(x.shape[:2] + out)
    all_bins = [bins(n, o) for n, o in zip(x.shape[2:], out)]
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for pos in np.ndindex(*out):
                win = x[(n, c) + tuple(slice(*all_bins[d][p]) for d, p in enumerate(pos))]
                res[(n, c) + pos] = win.max() if mode == "max" else win.mean()
    return res


def naive_adaptive_backward(dout, x, out, mode):
    dx = np.zeros(x.shape)
    all_bins = [bins(n, o) for n, o in zip(x.shape[2:], out)]
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for pos in np.ndindex(*out):
                idx = (n, c) + tuple(slice(*all_bins[d][p]) for d, p in enumerate(pos))
                dz = dout[(n, c) + pos]
                if mode == "max":
                    dx[idx] += create_mask_from_window(x[idx]) * dz
                else:
                    dx[idx] += distribute_value(dz, x[idx].shape, x[idx].size)
    return [dx]


def naive_lp(x, p, kernel, stride, ceil_mode):
    """PyTorch's lp_pool: K * avg_pool(x^p) (clipped-window divisor), then ^(1/p)."""
    pool = Pool(x.shape, kernel, stride, ((0, 0),) * len(kernel), ceil_mode=ceil_mode, mode="avg")
    y = pool.forward(x ** p) * math.prod(kernel)
    return y ** (1 / p), pool, y


def naive_lp_backward(dout, x, p, kernel, stride, ceil_mode):
    _, pool, y = naive_lp(x, p, kernel, stride, ceil_mode)
    # out = y^(1/p), y = K * avg(x^p): chain rule through the average's window loops.
    dy = np.where(y != 0, dout * y ** (1 / p - 1) / p, 0.0) * math.prod(kernel)
    (dxp,) = pool.backward(dy, x)
    return [dxp * p * x ** (p - 1)]


def distinct(shape, seed, dtype=np.float64):
    """Values without ties (a permuted range, scaled): max-pool gradients are then unique."""
    rng = np.random.default_rng(seed)
    return ((rng.permutation(int(np.prod(shape))) - 7.5) / 4).reshape(shape).astype(dtype)


def tf_same_naive(x, kernel, stride, mode):
    """TensorFlow's SAME pooling: out = ceil(n/s), extra pad after; max ignores and avg skips padding."""
    outs, pads = [], []
    for n, k, s in zip(x.shape[2:], kernel, stride):
        o = -(-n // s)
        total = max((o - 1) * s + k - n, 0)
        outs.append(o)
        pads.append((total // 2, total - total // 2))
    res = np.zeros(x.shape[:2] + tuple(outs))
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for pos in np.ndindex(*outs):
                sl = tuple(slice(max(o * s - pb, 0), min(o * s - pb + k, size))
                           for o, s, (pb, _), k, size in zip(pos, stride, pads, kernel, x.shape[2:]))
                win = x[(n, c) + sl]
                res[(n, c) + pos] = win.max() if mode == "max" else win.mean()
    return res


# --- random configurations --------------------------------------------------------------------
@st.composite
def window_config(draw, mode, nd=None):
    nd = draw(st.sampled_from([1, 2, 3])) if nd is None else nd
    kernel = tuple(draw(st.integers(1, 4 if nd < 3 else 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd)) if mode == "max" else (1,) * nd
    eff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    pad = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = tuple(draw(st.integers(e, e + (5 if nd < 3 else 2))) for e in eff)
    batch = draw(st.integers(1, 3 if nd < 3 else 2))
    channels = draw(st.integers(1, 3 if nd < 3 else 1))
    ceil_mode = draw(st.booleans())
    include = draw(st.booleans())
    divisor = draw(st.sampled_from([None, None, 3])) if nd > 1 else None
    return dict(shape=(batch, channels) + size, kernel=kernel, stride=stride, dilation=dilation,
                pad=pad, ceil_mode=ceil_mode, include=include, divisor=divisor)


MAX_FN = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG_FN = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def torch_max(nd):
    torch = torch_or_skip()
    return {1: torch.nn.functional.max_pool1d, 2: torch.nn.functional.max_pool2d,
            3: torch.nn.functional.max_pool3d}[nd]


def torch_avg(nd):
    torch = torch_or_skip()
    return {1: torch.nn.functional.avg_pool1d, 2: torch.nn.functional.avg_pool2d,
            3: torch.nn.functional.avg_pool3d}[nd]


def max_call(c):
    nd = len(c["kernel"])
    return lambda t: MAX_FN[nd](t, c["kernel"], c["stride"], c["pad"], c["dilation"], c["ceil_mode"])


def avg_call(c, fn):
    nd = len(c["kernel"])
    if nd == 1:
        return lambda t: fn(t, c["kernel"], c["stride"], c["pad"], c["ceil_mode"], c["include"])
    return lambda t: fn(t, c["kernel"], c["stride"], c["pad"], c["ceil_mode"], c["include"], c["divisor"])


# --- max pooling ------------------------------------------------------------------------------
@pytest.mark.usefixtures("max_pool_route")
@SETTINGS_ROUTE
@given(window_config("max"), st.integers(0, 10**6))
def test_max_pool_vs_naive_and_torch(c, seed):
    nd = len(c["kernel"])
    x = distinct(c["shape"], seed)
    pool = Pool(c["shape"], c["kernel"], c["stride"], tuple((p, p) for p in c["pad"]), c["dilation"],
                c["ceil_mode"], "max")
    check_naive(max_call(c), pool.forward, [x], naive_backward=pool.backward, what=f"max_pool{nd}d")
    tm = torch_max(nd)
    check_torch(max_call(c), lambda t: tm(t, c["kernel"], c["stride"], c["pad"], c["dilation"],
                                          c["ceil_mode"]),
                [x.astype(np.float32)], what=f"max_pool{nd}d")


@pytest.mark.usefixtures("max_pool_route")
@SETTINGS_ROUTE
@given(window_config("max"), st.integers(0, 10**6))
def test_max_pool_gradcheck(c, seed):
    check_gradcheck(max_call(c), [distinct(c["shape"], seed)])


@pytest.mark.usefixtures("max_pool_route")
@pytest.mark.parametrize("shape,k,s", [((2, 3, 9, 9), 3, 2), ((1, 2, 8, 10), 2, 2),
                                       ((2, 1, 7, 6), (3, 2), (2, 1)),
                                       # tiling windows (the fast path), with leftover rows/columns
                                       ((2, 3, 9, 7), 3, 3), ((1, 2, 7, 9), (2, 3), (2, 3))])
@pytest.mark.parametrize("layout", ["nchw", "batch_last"])
def test_max_pool_ties_pick_torch_element(shape, k, s, layout):
    """Integer inputs with many ties: the gradient of each window goes to one element only."""
    torch = torch_or_skip()
    x = np.random.default_rng(3).integers(0, 3, size=shape).astype(np.float32)
    xt = Tensor(batch_last(x) if layout == "batch_last" else x.copy(), requires_grad=True)
    out = F.max_pool2d(xt, k, s)
    out.backward(np.ones(out.shape, dtype=np.float32))
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(tx, k, s).sum().backward()
    np.testing.assert_array_equal(xt.grad.data, tx.grad.numpy())
    # Non-overlapping case: every window contributes exactly 1 to exactly one cell.
    assert xt.grad.data.sum() == np.prod(out.shape)
    # First maximum in row-major window order, checked against the textbook mask too.
    pool = Pool(shape, (k, k) if isinstance(k, int) else k, (s, s) if isinstance(s, int) else s,
                ((0, 0), (0, 0)))
    (naive,) = pool.backward(np.ones(out.shape), x.astype(np.float64))
    np.testing.assert_array_equal(xt.grad.data, naive)


@pytest.mark.parametrize("shape,k", [((2, 3, 8, 10), (2, 2)), ((1, 2, 9, 7), (3, 2)), ((2, 2, 6, 4, 5), (2, 2, 2))])
def test_tiling_fast_path_equals_the_general_kernel(shape, k):
    """stride == kernel takes max_pool_tiles_*; it must agree with the separable kernel exactly."""
    from juanji.kernels import pool as K

    x = distinct(shape, 5, np.float32)
    out_size = tuple(n // kk for n, kk in zip(shape[2:], k))
    pads = tuple((0, 0) for _ in k)
    assert K.tiles_fit(k, k, (1,) * len(k), pads, shape[2:], out_size)
    fast, arg = K.max_pool_tiles_forward(x, k, out_size, with_argmax=True)
    slow, args = K.max_pool_forward(x, k, k, (1,) * len(k), pads, out_size, with_argmax=True)
    np.testing.assert_array_equal(fast, slow)
    g = np.random.default_rng(1).standard_normal(fast.shape).astype(np.float32)
    np.testing.assert_array_equal(K.max_pool_tiles_backward(g, arg, shape, k),
                                  K.max_pool_backward(g, args, shape, k, k, (1,) * len(k), pads))


@pytest.mark.usefixtures("max_pool_route")
def test_max_pool_overlap_accumulates():
    """3x3 stride 2: a cell that is the max of several windows gets the sum of their gradients."""
    x = np.zeros((1, 1, 5, 5), dtype=np.float64)
    x[0, 0, 2, 2] = 1.0          # the centre lies in all four 3x3/2 windows
    t = Tensor(x, requires_grad=True)
    out = F.max_pool2d(t, 3, 2)
    out.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert t.grad.data[0, 0, 2, 2] == 10.0
    assert t.grad.data.sum() == 10.0


@pytest.mark.usefixtures("max_pool_route")
def test_max_pool_return_indices_match_torch():
    torch = torch_or_skip()
    x = distinct((2, 3, 9, 8), 5, np.float32)
    out, idx = F.max_pool2d(Tensor(x), (3, 2), (2, 1), (1, 1), (1, 2), ceil_mode=True, return_indices=True)
    t_out, t_idx = torch.nn.functional.max_pool2d(torch.tensor(x), (3, 2), (2, 1), (1, 1), (1, 2),
                                                  ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(out.data, t_out.numpy())
    np.testing.assert_array_equal(idx.data, t_idx.numpy())


def batch_last(a):
    """The same (N, C, H, W) values stored batch-last, (C, H, W, N)."""
    return from_batch_last(np.ascontiguousarray(np.moveaxis(a, 0, -1)))


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_layout,g_layout", [("nchw", "nchw"), ("batch_last", "batch_last"),
                                               ("batch_last", "nchw"), ("nchw", "batch_last"),
                                               ("strided", "nchw")])
@pytest.mark.parametrize("k,s,p,d,ceil", [(2, 2, 0, 1, False), (3, 2, 1, 1, True), ((3, 2), (2, 1), (1, 1), (1, 2), True),
                                          (3, 3, 0, 1, True), (2, 1, 1, 2, False), (1, 3, 0, 1, False)])
def test_compiled_max_pool_matches_the_numpy_path(monkeypatch, dtype, x_layout, g_layout, k, s, p, d, ceil):
    # The compiled loops and the NumPy path on one tie-free input: outputs, gradients (with
    # overlapping windows, padding, dilation and ceil_mode) and the layout of both.
    x = distinct((3, 4, 9, 11), 7, dtype)
    x = {"nchw": x, "batch_last": batch_last(x), "strided": np.repeat(x, 2, axis=-1)[..., ::2]}[x_layout]
    calls = []
    for name in ("forward", "backward"):
        original = getattr(compiled_max_pool, name)
        monkeypatch.setattr(compiled_max_pool, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
    results = {}
    for compiled in (True, False):
        monkeypatch.setattr(pool_module, "_COMPILED_MAX_POOL", compiled)
        t = Tensor(x, requires_grad=True)
        out = F.max_pool2d(t, k, s, p, d, ceil_mode=ceil)
        g = np.random.default_rng(8).standard_normal(out.shape).astype(dtype)
        out.backward(Tensor(batch_last(g) if g_layout == "batch_last" else g))
        results[compiled] = out.data, t.grad.data
    (out_c, dx_c), (out_n, dx_n) = results[True], results[False]
    assert out_c.dtype == dx_c.dtype == dtype and calls == ["forward", "backward"]
    np.testing.assert_array_equal(out_c, out_n)
    # Overlapping windows add their gradients in another order: float32 rounding differs.
    np.testing.assert_allclose(dx_c, dx_n, rtol=1e-6, atol=1e-6 if dtype == np.float32 else 1e-14)
    # The loops keep the input's layout, forward and backward (the NumPy path keeps it only
    # for tiling windows).
    assert is_batch_last(out_c) == is_batch_last(dx_c) == (x_layout == "batch_last")


@needs_numba
@pytest.mark.parametrize("layout", ["nchw", "batch_last"])
def test_compiled_max_pool_nan_follows_torch(monkeypatch, layout):
    # PyTorch's rule: a NaN tap wins (so the window's output is NaN) and takes the gradient;
    # the last NaN of a window wins over an earlier one.
    torch = torch_or_skip()
    monkeypatch.setattr(pool_module, "_COMPILED_MAX_POOL", True)
    x = distinct((2, 2, 7, 7), 4, np.float32)
    x[0, 0, 1, 1] = x[0, 0, 2, 2] = x[1, 1, 4, 5] = np.nan
    t = Tensor(batch_last(x) if layout == "batch_last" else x.copy(), requires_grad=True)
    out = F.max_pool2d(t, 3, 2, 1)
    out.backward(Tensor(np.ones(out.shape, np.float32)))
    tx = torch.tensor(x, requires_grad=True)
    t_out = torch.nn.functional.max_pool2d(tx, 3, 2, 1)
    t_out.backward(torch.ones_like(t_out))
    np.testing.assert_array_equal(out.data, t_out.detach().numpy())  # NaN where torch has NaN
    np.testing.assert_array_equal(t.grad.data, tx.grad.numpy())


@pytest.mark.parametrize("op,args,shape,layout", [
    ("max_pool2d", (3, 2, 1), (2, 2, 7, 7), "nchw"),        # overlapping windows, one axis at a time
    ("max_pool2d", (3, 2, 1), (2, 2, 7, 7), "batch_last"),
    ("max_pool2d", (2, 2), (2, 2, 6, 6), "nchw"),           # tiling windows
    ("max_pool2d", (2, 2), (2, 2, 6, 6), "batch_last"),
    ("max_pool1d", (3, 2, 1), (2, 2, 9), "nchw"),
    ("max_pool3d", (2, 1), (1, 2, 4, 4, 4), "nchw"),
    ("adaptive_max_pool2d", ((3, 2),), (2, 2, 7, 7), "nchw"),
])
def test_numpy_max_pools_send_the_gradient_to_the_last_nan_like_torch(monkeypatch, op, args, shape, layout):
    # PyTorch's rule: a window holding a NaN outputs NaN and its gradient goes to the window's
    # last NaN in row-major order (the compiled 2-D loops' rule too). Several NaNs per window,
    # on the NumPy paths.
    torch = torch_or_skip()
    monkeypatch.setattr(pool_module, "_COMPILED_MAX_POOL", False)
    x = distinct(shape, 4, np.float32)
    flat = x.reshape(-1)
    flat[[1, 3, 9, 10, 17, flat.size - 5, flat.size - 2]] = np.nan
    t = Tensor(batch_last(x) if layout == "batch_last" else x.copy(), requires_grad=True)
    out = getattr(F, op)(t, *args)
    out.backward(Tensor(np.arange(1, out.data.size + 1, dtype=np.float32).reshape(out.shape)))
    tx = torch.tensor(x, requires_grad=True)
    t_out = getattr(torch.nn.functional, op)(tx, *args)
    t_out.backward(torch.arange(1, t_out.numel() + 1, dtype=torch.float32).reshape(t_out.shape))
    assert np.isnan(out.data).any()
    np.testing.assert_array_equal(out.data, t_out.detach().numpy())  # NaN where torch has NaN
    np.testing.assert_array_equal(t.grad.data, tx.grad.numpy())


@needs_numba
@pytest.mark.parametrize("shape,k,s,layout,compiled", [
    ((2, 3, 19, 19), 3, 2, "nchw", True),         # overlapping windows, output 9 wide
    ((2, 3, 11, 11), 3, 2, "nchw", False),        # ... 5 wide: the NumPy path
    ((2, 3, 11, 11), 3, 2, "batch_last", True),   # batch-last: any width
    ((2, 3, 64, 64), 2, 2, "nchw", True),         # tiling windows, output 32 wide
    ((2, 3, 24, 24), 2, 2, "nchw", False),        # ... 12 wide: the NumPy tiles path
    ((2, 3, 64, 64), 2, 2, "batch_last", False),  # small batch-last tiles: the NumPy tiles path
    ((128, 3, 64, 64), 2, 2, "batch_last", True),  # ... from 2^20 numbers: compiled
])
def test_compiled_max_pool_is_chosen_by_the_size_rule(monkeypatch, shape, k, s, layout, compiled):
    calls = []
    original = compiled_max_pool.forward
    monkeypatch.setattr(compiled_max_pool, "forward", lambda *a: calls.append(1) or original(*a))
    assert pool_module._COMPILED_MAX_POOL is None  # the default: by the rule
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    nn.MaxPool2d(k, s)(Tensor(batch_last(x) if layout == "batch_last" else x))
    F.max_pool1d(juanji.randn(1, 2, 40), 3, 2)  # 1-D and 3-D keep the NumPy path
    assert calls == ([1] if compiled else [])


# --- average pooling --------------------------------------------------------------------------
@SETTINGS
@given(window_config("avg"), st.integers(0, 10**6))
def test_avg_pool_vs_naive_and_torch(c, seed):
    nd = len(c["kernel"])
    x = np.random.default_rng(seed).standard_normal(c["shape"])
    pool = Pool(c["shape"], c["kernel"], c["stride"], tuple((p, p) for p in c["pad"]), None,
                c["ceil_mode"], "avg", c["include"], c["divisor"])
    check_naive(avg_call(c, AVG_FN[nd]), pool.forward, [x], naive_backward=pool.backward,
                what=f"avg_pool{nd}d")
    check_torch(avg_call(c, AVG_FN[nd]), avg_call(c, torch_avg(nd)), [x.astype(np.float32)],
                what=f"avg_pool{nd}d")
    check_gradcheck(avg_call(c, AVG_FN[nd]), [x])


def test_avg_pool_ceil_mode_divisor_is_torchs():
    """A ceil_mode window hanging past the right padding: PyTorch counts only up to the padding."""
    torch = torch_or_skip()
    x = np.arange(1 * 1 * 6 * 6, dtype=np.float32).reshape(1, 1, 6, 6)
    for include in (True, False):
        got = F.avg_pool2d(Tensor(x), 3, 2, 1, ceil_mode=True, count_include_pad=include).data
        want = torch.nn.functional.avg_pool2d(torch.tensor(x), 3, 2, 1, ceil_mode=True,
                                              count_include_pad=include).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6)
    # Output size ceil((6 + 2 - 3) / 2) + 1 = 4; the last window covers padded rows/cols
    # 5..7 = input cell 5, one pad cell (6 == right padding) and one cell past the padding.
    # Divisor with padding: 2 * 2 (the cell past the padding is not counted); without: 1.
    got = F.avg_pool2d(Tensor(x), 3, 2, 1, ceil_mode=True, count_include_pad=True).data
    assert got.shape == (1, 1, 4, 4) and got[0, 0, -1, -1] == pytest.approx(35 / 4)
    got = F.avg_pool2d(Tensor(x), 3, 2, 1, ceil_mode=True, count_include_pad=False).data
    assert got[0, 0, -1, -1] == pytest.approx(35.0)


# --- LP pooling -------------------------------------------------------------------------------
@SETTINGS
@given(window_config("avg", nd=2), st.sampled_from([1.0, 2.0, 3.0, 1.5]), st.integers(0, 10**6))
def test_lp_pool2d(c, p, seed):
    x = np.abs(np.random.default_rng(seed).standard_normal(c["shape"])) + 0.5
    fn = lambda t: F.lp_pool2d(t, p, c["kernel"], c["stride"], c["ceil_mode"])  # noqa: E731
    check_naive(fn, lambda a: naive_lp(a, p, c["kernel"], c["stride"], c["ceil_mode"])[0], [x],
                naive_backward=lambda g, a: naive_lp_backward(g, a, p, c["kernel"], c["stride"],
                                                              c["ceil_mode"]),
                rtol=1e-8, what="lp_pool2d")
    torch = torch_or_skip()
    check_torch(fn, lambda t: torch.nn.functional.lp_pool2d(t, p, c["kernel"], c["stride"], c["ceil_mode"]),
                [x.astype(np.float32)], what="lp_pool2d")
    check_gradcheck(fn, [x])


@pytest.mark.parametrize("p", [1.0, 2.0, float("inf")])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_lp_pool1d(p, ceil_mode):
    torch = torch_or_skip()
    x = distinct((2, 3, 11), 1) if p == float("inf") else np.random.default_rng(2).standard_normal((2, 3, 11))
    fn = lambda t: F.lp_pool1d(t, p, 3, 2, ceil_mode)  # noqa: E731
    check_torch(fn, lambda t: torch.nn.functional.lp_pool1d(t, p, 3, 2, ceil_mode),
                [x.astype(np.float32)], what="lp_pool1d")
    if p != float("inf"):
        check_naive(fn, lambda a: naive_lp(a, p, (3,), (2,), ceil_mode)[0], [x],
                    naive_backward=lambda g, a: naive_lp_backward(g, a, p, (3,), (2,), ceil_mode),
                    what="lp_pool1d")
    check_gradcheck(fn, [x])


def test_lp_pool_zero_window_has_zero_gradient():
    torch = torch_or_skip()
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)
    x[0, 0, :2, :2] = 1.0
    check_torch(lambda t: F.lp_pool2d(t, 2, 2), lambda t: torch.nn.functional.lp_pool2d(t, 2, 2), [x])
    t = Tensor(x, requires_grad=True)
    F.lp_pool2d(t, 2, 2).sum().backward()
    assert np.isfinite(t.grad.data).all() and t.grad.data[0, 0, 2:, 2:].sum() == 0


# --- adaptive and global pooling --------------------------------------------------------------
ADAPTIVE = [((2, 3, 10), 3), ((1, 2, 7), 7), ((1, 2, 4), 6), ((2, 3, 9, 7), (3, 2)), ((1, 2, 8, 8), 4),
            ((2, 2, 5, 6), (7, None)), ((1, 3, 6, 5), (4, 9)), ((3, 1, 7, 10), 1), ((1, 1, 13, 11), (5, 3))]


@pytest.mark.parametrize("shape,out", ADAPTIVE)
@pytest.mark.parametrize("mode", ["avg", "max"])
def test_adaptive_pool(shape, out, mode):
    torch = torch_or_skip()
    nd = len(shape) - 2
    fn = getattr(F, f"adaptive_{mode}_pool{nd}d")
    tfn = getattr(torch.nn.functional, f"adaptive_{mode}_pool{nd}d")
    size = tuple(shape[2 + i] if o is None else o for i, o in
                 enumerate(out if isinstance(out, tuple) else (out,) * nd))
    x = distinct(shape, 4) if mode == "max" else np.random.default_rng(4).standard_normal(shape)
    check_naive(lambda t: fn(t, out), lambda a: naive_adaptive(a, size, mode), [x],
                naive_backward=lambda g, a: naive_adaptive_backward(g, a, size, mode), what=fn.__name__)
    check_torch(lambda t: fn(t, out), lambda t: tfn(t, out), [x.astype(np.float32)], what=fn.__name__)
    check_gradcheck(lambda t: fn(t, out), [x])


def test_adaptive_max_ties_follow_torch():
    torch = torch_or_skip()
    x = np.random.default_rng(7).integers(0, 2, size=(2, 2, 9, 7)).astype(np.float32)
    check_torch(lambda t: F.adaptive_max_pool2d(t, (4, 3)),
                lambda t: torch.nn.functional.adaptive_max_pool2d(t, (4, 3)), [x])


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 7, 5), (4, 2, 6, 6)])
def test_global_pools(shape):
    torch_or_skip()  # check_torch needs PyTorch; the oracles here are tensor methods
    x = distinct(shape, 9)
    check_torch(F.global_avg_pool2d, lambda t: t.mean(dim=(2, 3)), [x.astype(np.float32)])
    check_torch(F.global_max_pool2d, lambda t: t.amax(dim=(2, 3)), [x.astype(np.float32)])
    check_naive(F.global_avg_pool2d, lambda a: naive_adaptive(a, (1, 1), "avg")[:, :, 0, 0], [x])
    check_naive(F.global_max_pool2d, lambda a: naive_adaptive(a, (1, 1), "max")[:, :, 0, 0], [x])
    check_gradcheck(F.global_avg_pool2d, [x])
    check_gradcheck(F.global_max_pool2d, [x])


# --- TensorFlow "same" and "valid" --------------------------------------------------------------
@pytest.mark.usefixtures("max_pool_route")
@pytest.mark.parametrize("shape,k,s", [((2, 3, 28, 28), 8, 8), ((1, 2, 7, 9), 3, 2), ((1, 1, 10, 5), (4, 2), (3, 2)),
                                       ((2, 1, 6, 6), 2, 2), ((1, 2, 5, 8), 1, 3)])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_same_padding_is_tensorflows(shape, k, s, mode):
    kt = (k, k) if isinstance(k, int) else k
    st_ = (s, s) if isinstance(s, int) else s
    fn = (lambda t: F.max_pool2d(t, k, s, padding="same")) if mode == "max" else \
        (lambda t: F.avg_pool2d(t, k, s, padding="same"))
    x = distinct(shape, 11)
    out = fn(Tensor(x))
    assert out.shape[2:] == tuple(-(-n // q) for n, q in zip(shape[2:], st_))
    check_naive(fn, lambda a: tf_same_naive(a, kt, st_, mode), [x], what=f"{mode} same")
    check_gradcheck(fn, [x])
    valid = F.max_pool2d(Tensor(x), k, s, padding="valid") if mode == "max" else \
        F.avg_pool2d(Tensor(x), k, s, padding="valid")
    ref = Pool(shape, kt, st_, ((0, 0), (0, 0)), mode=mode)
    np.testing.assert_allclose(valid.data, ref.forward(x), rtol=1e-12)


# --- dtypes and bad inputs --------------------------------------------------------------------
@pytest.mark.usefixtures("max_pool_route")
@pytest.mark.parametrize("fn", [
    lambda t: F.max_pool2d(t, 3, 2, 1), lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True),
    lambda t: F.lp_pool2d(t * t + 1, 2, 2), lambda t: F.adaptive_avg_pool2d(t, 3),
    lambda t: F.adaptive_max_pool2d(t, (3, 4)), F.global_avg_pool2d, F.global_max_pool2d,
    lambda t: F.max_pool2d(t, 3, 2, "same"), lambda t: F.avg_pool2d(t, 3, 2, "same"),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(fn, dtype):
    t = Tensor(np.random.default_rng(0).standard_normal((2, 3, 7, 8)).astype(dtype), requires_grad=True)
    out = fn(t)
    assert out.dtype == dtype
    out.backward(np.ones(out.shape, dtype=dtype))
    assert t.grad.dtype == dtype


X4 = Tensor(np.zeros((1, 1, 5, 5), dtype=np.float32))
BAD = [
    (lambda: F.max_pool2d(Tensor(np.zeros((5, 5), np.float32)), 2), ValueError, r"max_pool2d: expected a 4-D input"),
    (lambda: F.avg_pool1d(X4, 2), ValueError, r"avg_pool1d: expected a 3-D input"),
    (lambda: F.max_pool2d(np.zeros((1, 1, 4, 4)), 2), TypeError, r"max_pool2d: input must be a juanji.Tensor"),
    (lambda: F.max_pool2d(Tensor(np.zeros((1, 1, 4, 4), np.int64)), 2), TypeError,
     r"max_pool2d: input must be floating point, got dtype int64"),
    (lambda: F.max_pool2d(X4, 6), ValueError, r"max_pool2d: kernel_size \(6, 6\).*larger than the padded input"),
    (lambda: F.avg_pool2d(X4, (2, 7)), ValueError, r"avg_pool2d: kernel_size \(2, 7\) is larger than the padded input: input shape \(1, 1, 5, 5\).*output size \(2, 0\)"),
    (lambda: F.max_pool1d(Tensor(np.zeros((1, 1, 4), np.float32)), 3, dilation=2), ValueError,
     r"max_pool1d: kernel_size \(3,\) \(dilation \(2,\)\) is larger than the padded input"),
    (lambda: F.max_pool2d(X4, 2, stride=0), ValueError, r"max_pool2d: stride must be >= 1"),
    (lambda: F.avg_pool2d(X4, 2, stride=(1, -1)), ValueError, r"avg_pool2d: stride must be >= 1"),
    (lambda: F.max_pool2d(X4, 2, padding=2), ValueError, r"max_pool2d: padding should be at most half"),
    (lambda: F.avg_pool2d(X4, 3, padding=2), ValueError, r"avg_pool2d: padding should be at most half"),
    (lambda: F.max_pool2d(X4, 2, padding="full"), ValueError, r"max_pool2d: padding must be"),
    (lambda: F.max_pool2d(X4, (2, 2, 2)), ValueError, r"max_pool2d: kernel_size must be an int or a tuple of 2"),
    (lambda: F.max_pool2d(X4, 2.5), TypeError, r"max_pool2d: kernel_size must be an int"),
    (lambda: F.max_pool2d(X4, 2, dilation=0), ValueError, r"max_pool2d: dilation must be >= 1"),
    (lambda: F.avg_pool2d(X4, 2, divisor_override=0), ValueError, r"avg_pool2d: divisor_override must not be zero"),
    (lambda: F.adaptive_avg_pool2d(X4, (0, 2)), ValueError, r"adaptive_avg_pool2d: output_size must be >= 1"),
    (lambda: F.adaptive_max_pool2d(X4, (2, 2, 2)), TypeError, r"adaptive_max_pool2d: output_size must be"),
    (lambda: F.adaptive_max_pool1d(Tensor(np.zeros((1, 1, 4), np.float32)), 2.0), TypeError,
     r"adaptive_max_pool1d: output_size must be"),
    (lambda: F.lp_pool2d(X4, 0, 2), ValueError, r"lp_pool2d: norm_type must be > 0"),
    (lambda: F.lp_pool2d(X4, "2", 2), TypeError, r"lp_pool2d: norm_type must be a number"),
    (lambda: F.global_avg_pool2d(Tensor(np.zeros((1, 1, 4), np.float32))), ValueError,
     r"global_avg_pool2d: expected a 4-D input"),
]


@pytest.mark.parametrize("call,exc,msg", BAD)
def test_bad_inputs(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


# --- nn wrappers ------------------------------------------------------------------------------
LAYERS = [
    ("MaxPool1d", (3,), {"stride": 2, "padding": 1}, (2, 3, 10)),
    ("MaxPool2d", (3,), {"stride": 2, "padding": 1, "dilation": 1, "ceil_mode": True}, (2, 3, 9, 8)),
    ("MaxPool2d", (2,), {}, (2, 3, 8, 8)),
    ("MaxPool3d", ((2, 3, 2),), {"stride": (1, 2, 2)}, (1, 2, 5, 7, 6)),
    ("AvgPool1d", (3,), {"stride": 2, "padding": 1, "count_include_pad": False}, (2, 3, 10)),
    ("AvgPool2d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}, (2, 3, 9, 8)),
    ("AvgPool2d", ((2, 3),), {"divisor_override": 4}, (2, 3, 9, 8)),
    ("AvgPool3d", (2,), {"count_include_pad": False, "padding": 1}, (1, 2, 5, 6, 7)),
    ("LPPool1d", (2, 3), {"stride": 2}, (2, 3, 10)),
    ("LPPool2d", (2, 3), {"ceil_mode": True}, (2, 3, 8, 7)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 10)),
    ("AdaptiveAvgPool2d", ((3, None),), {}, (2, 3, 8, 7)),
    ("AdaptiveMaxPool1d", (3,), {}, (2, 3, 10)),
    ("AdaptiveMaxPool2d", (3,), {}, (2, 3, 8, 7)),
]


@pytest.mark.usefixtures("max_pool_route")
@pytest.mark.parametrize("name,args,kwargs,shape", LAYERS)
def test_nn_layers_match_torch(name, args, kwargs, shape):
    torch = torch_or_skip()
    ours = getattr(nn, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    assert list(ours.parameters()) == []
    x = np.abs(distinct(shape, 2, np.float32)) + 0.25
    check_torch(ours, theirs, [x], what=name)


def test_nn_global_pools():
    x = Tensor(distinct((2, 3, 5, 4), 1, np.float32))
    np.testing.assert_array_equal(nn.GlobalAvgPool2d()(x).data, F.global_avg_pool2d(x).data)
    np.testing.assert_array_equal(nn.GlobalMaxPool2d()(x).data, x.data.max(axis=(2, 3)))
    assert repr(nn.GlobalMaxPool2d()) == "GlobalMaxPool2d()"


@pytest.mark.usefixtures("max_pool_route")
def test_nn_max_pool_return_indices():
    torch = torch_or_skip()
    x = distinct((1, 2, 6, 6), 3, np.float32)
    out, idx = nn.MaxPool2d(2, return_indices=True)(Tensor(x))
    _, t_idx = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(idx.data, t_idx.numpy())


@pytest.mark.usefixtures("max_pool_route")
def test_no_cache_under_no_grad():
    x = Tensor(np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32), requires_grad=True)
    with juanji.no_grad():
        out = F.max_pool2d(x, 2)
    assert not out.requires_grad and out._ctx is None


# --- strides wider than the window ------------------------------------------------------------
BIG = 10**9
WIDE_STRIDE_POOLS = [
    ("max_pool2d", (2, 3, 8, 8), (3,), dict(stride=BIG, padding=1, ceil_mode=True)),
    ("max_pool2d", (2, 3, 8, 9), ((2, 3),), dict(stride=(BIG, 4), dilation=(3, 1))),
    ("max_pool1d", (2, 3, 8), (3,), dict(stride=BIG, padding=1)),
    ("max_pool3d", (1, 2, 5, 6, 7), (2,), dict(stride=(BIG, 1, 3), ceil_mode=True)),
    ("avg_pool2d", (2, 3, 8, 8), (3,), dict(stride=BIG, padding=1, ceil_mode=True)),
    ("avg_pool2d", (2, 3, 8, 8), (3,), dict(stride=(4, BIG), padding=1, count_include_pad=False)),
    ("avg_pool1d", (2, 3, 8), (2,), dict(stride=BIG, ceil_mode=True)),
    ("avg_pool3d", (1, 2, 5, 6, 7), (3,), dict(stride=BIG, padding=1)),
    ("lp_pool2d", (2, 3, 8, 8), (2.0, 3), dict(stride=BIG, ceil_mode=True)),
    ("lp_pool1d", (2, 3, 8), (2.0, 3), dict(stride=BIG)),
    # The largest stride accepted: its byte stride in a view would overflow int64.
    ("max_pool2d", (2, 3, 8, 8), (3,), dict(stride=2**61, padding=1)),
    ("avg_pool2d", (2, 3, 8, 8), (2,), dict(stride=(2**61, 2))),
]


@pytest.mark.usefixtures("max_pool_route")
@pytest.mark.parametrize("op,shape,args,kwargs", WIDE_STRIDE_POOLS)
def test_strides_wider_than_the_window_match_torch_in_bounded_memory(op, shape, args, kwargs):
    # Time and memory scale with the output, not the stride (numpy reports its allocations to
    # tracemalloc; the input is at most 2.3 KB). PyTorch gets the padded size as the stride
    # where ours is larger: one window at the start either way (its backward takes time by
    # the stride).
    import tracemalloc
    torch = torch_or_skip()
    nd = len(shape) - 2
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    stride = kwargs["stride"] if isinstance(kwargs["stride"], tuple) else (kwargs["stride"],) * nd
    pad = kwargs.get("padding", 0)
    tkw = dict(kwargs, stride=tuple(min(s, n + 2 * pad) for s, n in zip(stride, shape[2:])))
    check_torch(lambda t: getattr(F, op)(t, *args, **kwargs),
                lambda t: getattr(torch.nn.functional, op)(t, *args, **tkw), [x], what=op)
    t = Tensor(x, requires_grad=True)
    tracemalloc.start()
    try:
        getattr(F, op)(t, *args, **kwargs).sum().backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"{op} {kwargs}: peak {peak} bytes"


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("name,value", [("stride", 2**62), ("stride", 10**30), ("padding", 2**70)])
def test_sizes_past_int64_are_refused_by_name(op, name, value):
    x = Tensor(np.zeros((1, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match=f"{op}: {name} must be below 2\\*\\*62"):
        getattr(F, op)(x, 2, **{name: value})
