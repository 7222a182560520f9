"""Activations: gradcheck, textbook elementwise formulas (math module, one element at a
time), PyTorch CPU, numerical stability, bad inputs, and the nn layers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import juanji
import juanji.functional as F
import juanji.nn as nn
from juanji import Tensor

from tests.helpers import check_gradcheck, check_naive, check_torch, torch_or_skip


# --- textbook formulas, one scalar at a time -----------------------------------------------
def _phi(x: float) -> float:  # standard normal CDF
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _gelu_tanh(x: float) -> float:
    return 0.5 * x * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _gelu_tanh_d(x: float) -> float:
    u = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
    du = math.sqrt(2.0 / math.pi) * (1 + 3 * 0.044715 * x * x)
    return 0.5 * (1 + math.tanh(u)) + 0.5 * x * (1 - math.tanh(u) ** 2) * du


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# name -> (juanji fn, torch fn builder, f(x), f'(x), kinks to keep inputs away from)
ELEMENTWISE = {
    "relu": (F.relu, lambda T: T.relu,
             lambda x: max(x, 0.0), lambda x: 1.0 if x > 0 else 0.0, (0.0,)),
    "relu6": (F.relu6, lambda T: T.nn.functional.relu6,
              lambda x: min(max(x, 0.0), 6.0), lambda x: 1.0 if 0 < x < 6 else 0.0, (0.0, 6.0)),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.2), lambda T: (lambda t: T.nn.functional.leaky_relu(t, 0.2)),
                   lambda x: x if x > 0 else 0.2 * x, lambda x: 1.0 if x > 0 else 0.2, (0.0,)),
    "leaky_relu_default": (F.leaky_relu, lambda T: T.nn.functional.leaky_relu,
                           lambda x: x if x > 0 else 0.01 * x, lambda x: 1.0 if x > 0 else 0.01, (0.0,)),
    "elu": (F.elu, lambda T: T.nn.functional.elu,
            lambda x: x if x > 0 else math.exp(x) - 1, lambda x: 1.0 if x > 0 else math.exp(x), (0.0,)),
    "elu_alpha": (lambda t: F.elu(t, 0.7), lambda T: (lambda t: T.nn.functional.elu(t, 0.7)),
                  lambda x: x if x > 0 else 0.7 * (math.exp(x) - 1),
                  lambda x: 1.0 if x > 0 else 0.7 * math.exp(x), (0.0,)),
    "sigmoid": (F.sigmoid, lambda T: T.sigmoid,
                _sig, lambda x: _sig(x) * (1 - _sig(x)), ()),
    "tanh": (F.tanh, lambda T: T.tanh,
             math.tanh, lambda x: 1 - math.tanh(x) ** 2, ()),
    "gelu": (F.gelu, lambda T: T.nn.functional.gelu,
             lambda x: x * _phi(x), lambda x: _phi(x) + x * math.exp(-x * x / 2) / math.sqrt(2 * math.pi), ()),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"),
                  lambda T: (lambda t: T.nn.functional.gelu(t, approximate="tanh")),
                  _gelu_tanh, _gelu_tanh_d, ()),
    "softplus": (F.softplus, lambda T: T.nn.functional.softplus,
                 lambda x: math.log1p(math.exp(x)) if x <= 20 else x,
                 lambda x: _sig(x) if x <= 20 else 1.0, ()),
    # beta = 2, threshold = 3: the linear branch starts at x = 1.5, inside the test range.
    "softplus_beta": (lambda t: F.softplus(t, beta=2.0, threshold=3.0),
                      lambda T: (lambda t: T.nn.functional.softplus(t, beta=2.0, threshold=3.0)),
                      lambda x: math.log1p(math.exp(2 * x)) / 2 if 2 * x <= 3 else x,
                      lambda x: _sig(2 * x) if 2 * x <= 3 else 1.0, (1.5,)),
}


def _elementwise_naive(f):
    def forward(x: np.ndarray) -> np.ndarray:
        out = np.empty_like(x)
        for i in np.ndindex(x.shape):
            out[i] = f(float(x[i]))
        return out
    return forward


def _elementwise_naive_grad(df):
    def backward(g: np.ndarray, x: np.ndarray) -> list[np.ndarray]:
        gx = np.empty_like(x)
        for i in np.ndindex(x.shape):
            gx[i] = g[i] * df(float(x[i]))
        return [gx]
    return backward


def _inputs(shape: tuple[int, ...], seed: int, kinks: tuple[float, ...], scale: float = 3.0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    for k in kinks:  # finite differences are meaningless across a kink
        near = np.abs(x - k) < 1e-3
        x[near] = k + 0.01
    return x


shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@settings(max_examples=12, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_elementwise_against_references(name: str, shape: tuple[int, ...], seed: int) -> None:
    fn, torch_fn, f, df, kinks = ELEMENTWISE[name]
    torch = torch_or_skip()
    x = _inputs(shape, seed, kinks)
    check_gradcheck(fn, [x])
    check_naive(fn, _elementwise_naive(f), [x], naive_backward=_elementwise_naive_grad(df), what=name)
    check_torch(fn, torch_fn(torch), [x.astype(np.float32)], what=name)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_dtype_is_preserved(name: str) -> None:
    fn = ELEMENTWISE[name][0]
    for dtype in (np.float32, np.float64):
        x = Tensor(_inputs((3, 4), 1, ELEMENTWISE[name][4]).astype(dtype), requires_grad=True)
        y = fn(x)
        y.backward(np.ones(y.shape, dtype=dtype))
        assert y.dtype == dtype and x.grad.dtype == dtype, (name, dtype, y.dtype, x.grad.dtype)


def test_kinks_follow_pytorch() -> None:
    """Gradients exactly at 0 and 6 are PyTorch's choices, not the finite-difference average."""
    torch = torch_or_skip()
    x = np.array([-1.0, 0.0, 3.0, 6.0, 7.0], dtype=np.float32)
    for fn, tfn in ((F.relu, torch.relu), (F.relu6, torch.nn.functional.relu6),
                    (F.leaky_relu, torch.nn.functional.leaky_relu), (F.elu, torch.nn.functional.elu)):
        check_torch(fn, tfn, [x], what=fn.__name__)


def test_gelu_tails_are_accurate() -> None:
    """The exact GELU uses an erfc series: check it against math.erfc far into both tails."""
    x = np.concatenate([np.linspace(-30, 30, 6001), np.geomspace(1e-9, 3, 200), -np.geomspace(1e-9, 3, 200)])
    expected = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    got = F.gelu(Tensor(x)).data
    rel = np.abs(got - expected) / np.maximum(np.abs(expected), 1e-300)
    assert rel.max() < 1e-11, f"worst relative error {rel.max():.3g} at x={x[np.argmax(rel)]}"
    x32 = x.astype(np.float32)
    expected32 = np.array([float(v) * 0.5 * math.erfc(-float(v) / math.sqrt(2)) for v in x32])
    got32 = F.gelu(Tensor(x32)).data
    assert got32.dtype == np.float32
    ok = (np.abs(x32) < 9) & (x32 != 0)  # beyond 9 the float32 results are subnormal
    rel32 = np.abs(got32[ok] - expected32[ok]) / np.abs(expected32[ok])
    assert rel32.max() < 5e-5, f"float32 worst relative error {rel32.max():.3g}"


# --- softmax / log_softmax -----------------------------------------------------------------
def _softmax_naive(dim: int):
    def forward(x: np.ndarray) -> np.ndarray:
        xm = np.moveaxis(x, dim, -1)
        out = np.empty_like(xm)
        for idx in np.ndindex(xm.shape[:-1]):
            row = xm[idx]
            m = max(row)
            exps = [math.exp(v - m) for v in row]
            total = sum(exps)
            for j, e in enumerate(exps):
                out[idx + (j,)] = e / total
        return np.moveaxis(out, -1, dim)

    def backward(g: np.ndarray, x: np.ndarray) -> list[np.ndarray]:
        y = np.moveaxis(forward(x), dim, -1)
        gm = np.moveaxis(g, dim, -1)
        gx = np.zeros_like(y)
        n = y.shape[-1]
        for idx in np.ndindex(y.shape[:-1]):
            for i in range(n):      # dx_i = sum_j g_j dy_j/dx_i, dy_j/dx_i = y_j (delta_ij - y_i)
                gx[idx + (i,)] = sum(gm[idx + (j,)] * y[idx + (j,)] * ((i == j) - y[idx + (i,)])
                                     for j in range(n))
        return [np.moveaxis(gx, -1, dim)]
    return forward, backward


def _log_softmax_naive(dim: int):
    soft, _ = _softmax_naive(dim)

    def forward(x: np.ndarray) -> np.ndarray:
        xm = np.moveaxis(x, dim, -1)
        out = np.empty_like(xm)
        for idx in np.ndindex(xm.shape[:-1]):
            row = xm[idx]
            lse = math.log(sum(math.exp(v) for v in row))
            for j, v in enumerate(row):
                out[idx + (j,)] = v - lse
        return np.moveaxis(out, -1, dim)

    def backward(g: np.ndarray, x: np.ndarray) -> list[np.ndarray]:
        y = np.moveaxis(soft(x), dim, -1)
        gm = np.moveaxis(g, dim, -1)
        gx = np.zeros_like(y)
        for idx in np.ndindex(y.shape[:-1]):
            total = sum(gm[idx])
            for i in range(y.shape[-1]):
                gx[idx + (i,)] = gm[idx + (i,)] - y[idx + (i,)] * total
        return [np.moveaxis(gx, -1, dim)]
    return forward, backward


@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
@settings(max_examples=25, deadline=None)
@given(shape=shapes, data=st.data(), seed=st.integers(0, 2**16))
def test_softmax_against_references(which: str, shape: tuple[int, ...], data: st.DataObject, seed: int) -> None:
    torch = torch_or_skip()
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    fn = (lambda t: F.softmax(t, dim)) if which == "softmax" else (lambda t: F.log_softmax(t, dim=dim))
    tfn = (lambda t: torch.softmax(t, dim)) if which == "softmax" else (lambda t: torch.log_softmax(t, dim))
    naive_f, naive_b = (_softmax_naive if which == "softmax" else _log_softmax_naive)(dim % len(shape))
    check_gradcheck(fn, [x])
    check_naive(fn, naive_f, [x], naive_backward=naive_b, what=which)
    check_torch(fn, tfn, [x.astype(np.float32)], what=which)


def test_softmax_rows_sum_to_one_and_tensor_methods() -> None:
    x = juanji.randn(4, 7, 3)
    np.testing.assert_allclose(F.softmax(x, 1).data.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(x.softmax(1).data, F.softmax(x, 1).data)
    np.testing.assert_allclose(np.exp(x.log_softmax(-1).data).sum(axis=-1), 1.0, rtol=1e-6)


def test_softmax_of_a_scalar_is_one() -> None:
    torch = torch_or_skip()
    x = np.array(2.5, dtype=np.float32)
    check_torch(lambda t: F.softmax(t, 0), lambda t: torch.softmax(t, 0), [x], what="softmax 0-d")
    check_torch(lambda t: F.log_softmax(t, -1), lambda t: torch.log_softmax(t, -1), [x], what="log_softmax 0-d")


def test_softmax_over_an_empty_dim_is_empty() -> None:
    torch = torch_or_skip()
    x = np.zeros((3, 0, 2), dtype=np.float32)
    for dim in (1, 0):
        check_torch(lambda t: F.softmax(t, dim), lambda t: torch.softmax(t, dim), [x], what="softmax empty")
        check_torch(lambda t: F.log_softmax(t, dim), lambda t: torch.log_softmax(t, dim), [x], what="log_softmax empty")


# --- stability ------------------------------------------------------------------------------
STABLE = {
    "softmax": (lambda t: F.softmax(t, 1), lambda T: (lambda t: T.softmax(t, 1))),
    "log_softmax": (lambda t: F.log_softmax(t, 1), lambda T: (lambda t: T.log_softmax(t, 1))),
    "sigmoid": (F.sigmoid, lambda T: T.sigmoid),
    "softplus": (F.softplus, lambda T: T.nn.functional.softplus),
    "elu": (F.elu, lambda T: T.nn.functional.elu),
    "tanh": (F.tanh, lambda T: T.tanh),
    "gelu": (F.gelu, lambda T: T.nn.functional.gelu),
}


@pytest.mark.parametrize("name", sorted(STABLE))
def test_large_inputs_are_finite_and_match_torch(name: str) -> None:
    torch = torch_or_skip()
    fn, tfn = STABLE[name]
    x = np.array([[1e4, -1e4, 0.0, 5e3], [-1e4, -1e4 + 1, -1e4 + 2, -9e3], [1e4, 1e4, 1e4, 1e4]],
                 dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = fn(Tensor(x)).data
        t = Tensor(x, requires_grad=True)
        fn(t).backward(np.ones(x.shape, np.float32))
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(t.grad.data)), name
    check_torch(fn, tfn(torch), [x], what=f"{name} at |x| = 1e4")


def test_log_softmax_large_gap_is_exact() -> None:
    """log_softmax([0, -1e4]) is [0, -1e4] exactly: log(softmax) would give -inf."""
    y = F.log_softmax(Tensor(np.array([[0.0, -1e4]], np.float32)), 1).data
    np.testing.assert_array_equal(y, np.array([[0.0, -1e4]], np.float32))


# --- bad inputs -----------------------------------------------------------------------------
BAD = [
    (lambda: F.relu(np.ones(3)), TypeError, r"relu: input must be a juanji.Tensor, got ndarray"),
    (lambda: F.sigmoid(juanji.tensor([1, 2])), TypeError, r"sigmoid: input must be floating point, got dtype int64"),
    (lambda: F.softmax(juanji.zeros(2, 3), 2), ValueError,
     r"softmax: dim 2 is out of range for input of shape \(2, 3\) \(expected -2..1\)"),
    (lambda: F.log_softmax(juanji.zeros(2, 3), -3), ValueError, r"log_softmax: dim -3 is out of range"),
    (lambda: F.softmax(juanji.zeros(2, 3)), TypeError, r"softmax: dim must be given"),
    (lambda: F.log_softmax(juanji.zeros(2, 3), None), TypeError, r"log_softmax: dim must be given"),
    (lambda: F.softmax(juanji.zeros(2, 3), 1.0), TypeError, r"softmax: dim must be an int, got 1.0"),
    (lambda: F.gelu(juanji.zeros(2), approximate="erf"), ValueError,
     r"gelu: approximate must be 'none' or 'tanh', got 'erf'"),
    (lambda: F.softplus(juanji.zeros(2), beta=0), ValueError, r"softplus: beta must be non-zero"),
    (lambda: F.leaky_relu(juanji.zeros(2), "0.1"), TypeError, r"leaky_relu: negative_slope must be a number"),
    (lambda: F.elu(juanji.zeros(2), alpha=None), TypeError, r"elu: alpha must be a number"),
    (lambda: nn.Softmax(), ValueError, r"Softmax: dim must be given"),
    (lambda: nn.LogSoftmax(), ValueError, r"LogSoftmax: dim must be given"),
    (lambda: nn.GELU("fast"), ValueError, r"GELU: approximate must be 'none' or 'tanh'"),
]


@pytest.mark.parametrize("call, exc, message", BAD)
def test_bad_inputs(call, exc, message) -> None:
    with pytest.raises(exc, match=message):
        call()


# --- nn layers ------------------------------------------------------------------------------
LAYERS = [
    ("ReLU", (), {}), ("ReLU", (), {"inplace": True}), ("ReLU6", (), {}), ("LeakyReLU", (0.2,), {}),
    ("LeakyReLU", (), {}), ("ELU", (0.5,), {}), ("Sigmoid", (), {}), ("Tanh", (), {}), ("GELU", (), {}),
    ("GELU", (), {"approximate": "tanh"}), ("Softplus", (), {"beta": 2.0, "threshold": 5.0}),
    ("Softplus", (), {}), ("Softmax", (), {"dim": 1}), ("LogSoftmax", (), {"dim": -1}),
]


@pytest.mark.parametrize("name, args, kwargs", LAYERS)
def test_layers_match_torch_modules(name: str, args: tuple, kwargs: dict) -> None:
    torch = torch_or_skip()
    ours = getattr(nn, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    x = _inputs((2, 3, 4), 3, (0.0, 6.0)).astype(np.float32)
    check_torch(ours, lambda t: theirs(t.clone()) if kwargs.get("inplace") else theirs(t), [x], what=name)
