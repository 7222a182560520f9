"""F.linear and nn.Linear / nn.Identity: gradcheck, textbook loops, PyTorch CPU, bad
inputs, parameters and default initialisation."""

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


# --- textbook loops: y[n, o] = b[o] + sum_i x[n, i] w[o, i] --------------------------------
def linear_forward_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    lead, n_in = x.shape[:-1], x.shape[-1]
    rows = x.reshape(-1, n_in)
    out = np.zeros((rows.shape[0], w.shape[0]))
    for n in range(rows.shape[0]):
        for o in range(w.shape[0]):
            s = 0.0 if b is None else b[o]
            for i in range(n_in):
                s += rows[n, i] * w[o, i]
            out[n, o] = s
    return out.reshape(lead + (w.shape[0],))


def linear_backward_naive(g: np.ndarray, x: np.ndarray, w: np.ndarray,
                          b: np.ndarray | None = None) -> list[np.ndarray]:
    rows = x.reshape(-1, x.shape[-1])
    g2 = g.reshape(-1, w.shape[0])
    gx = np.zeros_like(rows)
    gw = np.zeros_like(w)
    gb = np.zeros(w.shape[0])
    for n in range(rows.shape[0]):
        for o in range(w.shape[0]):
            gb[o] += g2[n, o]
            for i in range(w.shape[1]):
                gx[n, i] += g2[n, o] * w[o, i]
                gw[o, i] += g2[n, o] * rows[n, i]
    out = [gx.reshape(x.shape), gw]
    return out + [gb] if b is not None else out


@settings(max_examples=25, deadline=None)
@given(lead=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple),
       n_in=st.integers(1, 6), n_out=st.integers(1, 5), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_linear_against_references(lead, n_in, n_out, bias, seed) -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(lead + (n_in,)), rng.standard_normal((n_out, n_in))]
    if bias:
        arrays.append(rng.standard_normal(n_out))
    check_gradcheck(F.linear, arrays)
    check_naive(F.linear, linear_forward_naive, arrays, naive_backward=linear_backward_naive, what="linear")
    check_torch(F.linear, torch.nn.functional.linear, [a.astype(np.float32) for a in arrays], what="linear")


@pytest.mark.parametrize("mask", [(True, False, False), (False, True, True), (False, False, True),
                                  (True, True, False)])
def test_linear_partial_gradients(mask) -> None:
    """Only the inputs that require a gradient get one, and each is still right."""
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((2, 3, 5)).astype(np.float32), rng.standard_normal((4, 5)).astype(np.float32),
              rng.standard_normal(4).astype(np.float32)]
    check_torch(F.linear, torch.nn.functional.linear, arrays, grad_mask=list(mask), what="linear")
    ts = [Tensor(a, requires_grad=m) for a, m in zip(arrays, mask)]
    F.linear(*ts).sum().backward()
    assert [t.grad is not None for t in ts] == list(mask)


def test_linear_float64_stays_float64() -> None:
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    w = Tensor(np.ones((4, 3)), requires_grad=True)
    y = F.linear(x, w)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == w.grad.dtype == np.float64


BAD = [
    (lambda: F.linear(juanji.zeros(2, 5), juanji.zeros(3, 4)), ValueError,
     r"linear: input has 5 features \(input shape \(2, 5\)\) but weight expects 4 \(weight shape \(3, 4\)\)"),
    (lambda: F.linear(juanji.zeros(2, 4), juanji.zeros(3, 4, 1)), ValueError,
     r"linear: weight must be 2-D \(out_features, in_features\), got shape \(3, 4, 1\)"),
    (lambda: F.linear(juanji.zeros(2, 4), juanji.zeros(3, 4), juanji.zeros(4)), ValueError,
     r"linear: bias must have shape \(3,\) to match weight shape \(3, 4\), got \(4,\)"),
    (lambda: F.linear(juanji.zeros(2, 4), Tensor(np.zeros((3, 4)))), TypeError,
     r"linear: input, weight and bias must share one dtype, got input float32, weight float64"),
    (lambda: F.linear(np.zeros((2, 4)), juanji.zeros(3, 4)), TypeError,
     r"linear: input must be a juanji.Tensor, got ndarray"),
    (lambda: F.linear(juanji.zeros(2, 4), juanji.zeros(3, 4), np.zeros(3)), TypeError,
     r"linear: bias must be a juanji.Tensor or None, got ndarray"),
    (lambda: F.linear(juanji.tensor(1.0), juanji.zeros(3, 1)), ValueError,
     r"linear: input must have at least 1 dim"),
    (lambda: F.linear(juanji.tensor([[1, 2]]), juanji.tensor([[1, 2]])), TypeError,
     r"linear: input must be floating point, got dtype int64"),
    (lambda: nn.Linear(3, -1), ValueError, r"Linear: out_features must be a non-negative int, got -1"),
    (lambda: nn.Linear(2.5, 3), ValueError, r"Linear: in_features must be a non-negative int, got 2.5"),
    (lambda: nn.Linear(3, 4)(juanji.zeros(2, 5)), ValueError, r"linear: input has 5 features"),
]


@pytest.mark.parametrize("call, exc, message", BAD)
def test_bad_inputs(call, exc, message) -> None:
    with pytest.raises(exc, match=message):
        call()


# --- nn.Linear ------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_linear_module_matches_torch(bias: bool) -> None:
    torch = torch_or_skip()
    ours, theirs = nn.Linear(6, 4, bias=bias), torch.nn.Linear(6, 4, bias=bias)
    assert repr(ours) == repr(theirs)
    ts = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == ts
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 2, 6)).astype(np.float32)
    check_torch(lambda t: ours(t), lambda t: theirs(t), [x], what="nn.Linear")
    # Parameter gradients against PyTorch's, with the same cotangent.
    cot = np.random.default_rng(1).standard_normal((3, 2, 4)).astype(np.float32)
    ours(Tensor(x)).backward(cot)
    theirs(torch.tensor(x)).backward(torch.tensor(cot))
    for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_linear_default_init_is_pytorchs() -> None:
    """weight, bias ~ U(-1/sqrt(in), 1/sqrt(in)): the bound is reached but never exceeded,
    and the spread is that of a uniform distribution (std = bound / sqrt(3))."""
    juanji.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.data, layer.bias.data
    assert w.dtype == b.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound / math.sqrt(3)
    assert abs(w.mean()) < 0.01 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound
    juanji.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.data, w)  # seeded -> repeatable


def test_linear_module_dtype_and_no_bias() -> None:
    layer = nn.Linear(3, 2, bias=False, dtype=np.float64)
    assert layer.bias is None and layer.weight.dtype == np.float64
    assert list(layer.state_dict()) == ["weight"]
    assert layer(Tensor(np.ones((5, 3)))).dtype == np.float64


def test_identity() -> None:
    torch = torch_or_skip()
    layer = nn.Identity(54, unused="argument")
    x = juanji.randn(2, 3)
    assert layer(x) is x
    assert repr(layer) == repr(torch.nn.Identity()) and layer.state_dict() == {}


@pytest.mark.parametrize("n_in,n_out", [(0, 3), (4, 0), (0, 0)])
def test_linear_with_an_empty_feature_axis_is_pytorchs(n_in, n_out) -> None:
    # PyTorch allows in_features = 0: its init warns "Initializing zero-element tensors is a
    # no-op", the bias bound 1/sqrt(fan_in) becomes 0 (bias zeros), the output is the bias and
    # the bias gradient counts the rows. Ours raised ZeroDivisionError in the init.
    torch = torch_or_skip()
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        layer = nn.Linear(n_in, n_out)
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        t_layer = torch.nn.Linear(n_in, n_out)
    assert layer.weight.shape == tuple(t_layer.weight.shape) == (n_out, n_in)
    np.testing.assert_array_equal(layer.bias.data, t_layer.bias.detach().numpy())  # zeros (bound 0)
    x = np.random.default_rng(0).standard_normal((2, 5, n_in)).astype(np.float32)
    check_torch(lambda x, w, b: F.linear(x, w, b), torch.nn.functional.linear,
                [x, layer.weight.data, np.ones(n_out, np.float32)], what="linear, empty features")


@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_", "he_uniform_", "he_normal_"])
def test_kaiming_init_of_an_empty_tensor_warns_and_leaves_it(name) -> None:
    torch = torch_or_skip()
    t = Tensor(np.full((3, 0), 7.0, np.float32))
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        assert getattr(nn.init, name)(t) is t
    if name.startswith("kaiming"):
        with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
            getattr(torch.nn.init, name)(torch.empty(3, 0))
