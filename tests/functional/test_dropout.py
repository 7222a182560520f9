"""Dropout and Dropout2d: statistics, seeding, eval identity, gradients through the kept
units only, PyTorch's scaling convention, bad inputs and the nn layers.

PyTorch draws its masks from its own generator, so masks cannot be compared with
PyTorch's one for one; what is compared is the convention (kept units scaled by
1/(1 - p), whole channels for Dropout2d) and everything that follows from a mask.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import juanji
import juanji.functional as F
import juanji.nn as nn
from juanji import Tensor

from tests.helpers import check_gradcheck, check_naive, torch_or_skip


def _seeded(fn, seed: int = 11):
    """Redraw the same mask on every call, so finite differences see one fixed function."""
    def call(t: Tensor) -> Tensor:
        juanji.manual_seed(seed)
        return fn(t)
    return call


def _mask_of(fn, shape: tuple[int, ...], seed: int = 11) -> np.ndarray:
    """The keep-mask fn draws under ``seed``, read off its output on an all-ones input."""
    juanji.manual_seed(seed)
    return fn(Tensor(np.ones(shape))).data != 0


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_dropout_statistics(p: float) -> None:
    x = juanji.ones(400_000)
    y = F.dropout(x, p).data
    kept = y != 0
    # Binomial: sd of the kept fraction is sqrt(p (1-p) / n) <= 0.0008; allow ~6 sd.
    assert abs(kept.mean() - (1 - p)) < 0.005, kept.mean()
    assert abs(y.mean() - 1.0) < 0.005 / (1 - p) + 0.005, y.mean()          # mean preserved
    np.testing.assert_array_equal(np.unique(y), np.array([0.0, 1 / (1 - p)], dtype=np.float32))
    assert y.dtype == np.float32


@pytest.mark.parametrize("p", [0.25, 0.6])
def test_dropout2d_drops_whole_channels(p: float) -> None:
    y = F.dropout2d(juanji.ones(300, 200, 2, 3), p).data
    per_map = y.reshape(300, 200, 6)
    assert np.all(per_map == per_map[..., :1]), "a channel was partly dropped"
    kept = per_map[..., 0] != 0
    assert abs(kept.mean() - (1 - p)) < 0.01
    np.testing.assert_array_equal(np.unique(y), np.array([0.0, 1 / (1 - p)], dtype=np.float32))


def test_dropout2d_on_3d_input_is_channelwise() -> None:
    y = F.dropout2d(juanji.ones(50, 40, 7), 0.5).data
    assert np.all(y == y[..., :1])
    assert 0.4 < (y[..., 0] != 0).mean() < 0.6


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d])
def test_same_seed_same_mask(fn) -> None:
    x = juanji.randn(4, 6, 5, 5)
    juanji.manual_seed(123)
    a = fn(x, 0.4).data
    juanji.manual_seed(123)
    b = fn(x, 0.4).data
    c = fn(x, 0.4).data  # the generator has moved on
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d])
def test_identity_when_not_training_or_p_zero(fn) -> None:
    x = juanji.randn(2, 3, 4, 4)
    assert fn(x, 0.5, training=False) is x
    assert fn(x, 0.0) is x


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d])
def test_p_one_gives_zeros_and_zero_gradient(fn) -> None:
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32), requires_grad=True)
    y = fn(x, 1.0)
    y.backward(np.ones(y.shape, np.float32))
    assert not np.any(y.data) and not np.any(x.grad.data)
    assert np.all(np.isfinite(y.data))


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_flows_only_through_kept_units(fn, dtype) -> None:
    p = 0.35
    x = Tensor((np.random.default_rng(1).random((3, 4, 5, 6)) + 0.5).astype(dtype), requires_grad=True)
    y = fn(x, p)
    g = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    y.backward(g)
    kept = y.data != 0  # x is never 0, so a zero output means a dropped unit
    assert y.dtype == x.grad.dtype == dtype
    np.testing.assert_allclose(y.data, np.where(kept, x.data / (1 - p), 0), rtol=1e-6)
    np.testing.assert_allclose(x.grad.data, np.where(kept, g / (1 - p), 0), rtol=1e-6)


@settings(max_examples=10, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=3, max_size=4).map(tuple),
       p=st.sampled_from([0.2, 0.5, 0.7]), seed=st.integers(0, 2**16))
def test_dropout_gradcheck_and_naive(shape, p, seed) -> None:
    x = np.random.default_rng(seed).standard_normal(shape)
    for fn in (lambda t: F.dropout(t, p), lambda t: F.dropout2d(t, p)):
        f = _seeded(fn, seed)
        check_gradcheck(f, [x])
        m = _mask_of(f, shape, seed)  # the mask f draws, read off its output on ones

        def naive_forward(a: np.ndarray) -> np.ndarray:
            out = np.zeros_like(a)
            for i in np.ndindex(a.shape):
                if m[i]:
                    out[i] = a[i] / (1 - p)
            return out

        def naive_backward(g: np.ndarray, a: np.ndarray) -> list[np.ndarray]:
            return [naive_forward(g)]

        check_naive(f, naive_forward, [x], naive_backward=naive_backward, what="dropout")


def test_scaling_convention_matches_torch() -> None:
    torch = torch_or_skip()
    for p in (0.2, 0.5):
        t = torch.nn.functional.dropout(torch.ones(10_000), p).numpy()
        ours = F.dropout(juanji.ones(10_000), p).data
        np.testing.assert_array_equal(np.unique(t), np.unique(ours))
        t2 = torch.nn.functional.dropout2d(torch.ones(40, 30, 2, 2), p).numpy()
        ours2 = F.dropout2d(juanji.ones(40, 30, 2, 2), p).data
        np.testing.assert_array_equal(np.unique(t2), np.unique(ours2))
        assert np.all(t2 == t2[..., :1, :1]) and np.all(ours2 == ours2[..., :1, :1])


BAD = [
    (lambda: F.dropout(juanji.zeros(3), 1.5), ValueError, r"dropout: p must be a probability in \[0, 1\], got 1.5"),
    (lambda: F.dropout(juanji.zeros(3), -0.1), ValueError, r"dropout: p must be a probability in \[0, 1\], got -0.1"),
    (lambda: F.dropout2d(juanji.zeros(1, 2, 3, 3), 2), ValueError, r"dropout2d: p must be a probability"),
    (lambda: F.dropout(juanji.zeros(3), "0.5"), TypeError, r"dropout: p must be a number in \[0, 1\], got '0.5'"),
    (lambda: F.dropout(np.zeros(3)), TypeError, r"dropout: input must be a juanji.Tensor, got ndarray"),
    (lambda: F.dropout(juanji.tensor([1, 2])), TypeError, r"dropout: input must be floating point"),
    (lambda: F.dropout2d(juanji.zeros(2, 3)), ValueError,
     r"dropout2d: expected a 4-D input \(N, C, H, W\) or 3-D \(N, C, L\), got shape \(2, 3\)"),
    (lambda: nn.Dropout(1.2), ValueError, r"Dropout: dropout probability p must be in \[0, 1\], got 1.2"),
    (lambda: nn.Dropout2d(-1), ValueError, r"Dropout2d: dropout probability p must be in \[0, 1\], got -1"),
]


@pytest.mark.parametrize("call, exc, message", BAD)
def test_bad_inputs(call, exc, message) -> None:
    with pytest.raises(exc, match=message):
        call()


@pytest.mark.parametrize("name", ["Dropout", "Dropout2d"])
def test_layers_respect_training_mode(name: str) -> None:
    torch = torch_or_skip()
    ours, theirs = getattr(nn, name)(0.3), getattr(torch.nn, name)(0.3)
    assert repr(ours) == repr(theirs)
    assert ours.state_dict() == {} and dict(theirs.state_dict()) == {}
    x = juanji.randn(8, 16, 3, 3)
    y = ours(x).data
    assert np.any(y == 0) and np.any(y != 0)  # training mode by default: some units dropped
    ours.eval()
    np.testing.assert_array_equal(ours(x).data, x.data)
    ours.train()
    assert np.any(ours(x).data == 0)
