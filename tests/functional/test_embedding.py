"""F.embedding and nn.Embedding: gradcheck, textbook lookup loops, PyTorch CPU, repeated
indices, padding_idx, bad inputs, parameters and initialisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import juanji
import juanji.functional as F
import juanji.nn as nn
from juanji import Tensor

from tests.helpers import check_gradcheck, check_naive, check_torch, torch_or_skip


def _naive(padding_idx: int | None):
    def forward(idx: np.ndarray, w: np.ndarray) -> np.ndarray:
        out = np.empty(idx.shape + (w.shape[1],))
        for pos in np.ndindex(idx.shape):
            for e in range(w.shape[1]):
                out[pos + (e,)] = w[idx[pos], e]
        return out

    def backward(g: np.ndarray, idx: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
        gw = np.zeros_like(w)
        for pos in np.ndindex(idx.shape):
            if idx[pos] == padding_idx:
                continue  # the padding row is never trained
            for e in range(w.shape[1]):
                gw[idx[pos], e] += g[pos + (e,)]
        return [gw]
    return forward, backward


@settings(max_examples=30, deadline=None)
@given(idx_shape=st.lists(st.integers(1, 5), min_size=0, max_size=3).map(tuple),
       v=st.integers(1, 6), e=st.integers(1, 4), use_pad=st.booleans(), data=st.data(),
       seed=st.integers(0, 2**16))
def test_embedding_against_references(idx_shape, v, e, use_pad, data, seed) -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v, idx_shape)  # small V, so indices repeat
    w = rng.standard_normal((v, e))
    padding_idx = data.draw(st.integers(-v, v - 1), label="padding_idx") if use_pad else None
    norm_pad = None if padding_idx is None else padding_idx % v
    # Weight first: the helpers take the output dtype from the first array.
    fn = lambda t, i: F.embedding(i, t, padding_idx=padding_idx)  # noqa: E731
    f, b = _naive(norm_pad)
    # The padding row feeds the output but by design gets no gradient, so finite
    # differences only agree without it.
    check_gradcheck(lambda t, i: F.embedding(i, t), [w, idx], grad_mask=[True, False])
    check_naive(fn, lambda t, i: f(i, t), [w, idx], naive_backward=lambda g, t, i: b(g, i, t),
                grad_mask=[True, False], what="embedding")
    check_torch(fn, lambda t, i: torch.nn.functional.embedding(i, t, padding_idx=padding_idx),
                [w.astype(np.float32), idx], grad_mask=[True, False], what="embedding")


def test_repeated_indices_accumulate() -> None:
    w = Tensor(np.zeros((4, 2)), requires_grad=True)
    idx = juanji.tensor([[1, 1, 3], [1, 0, 3]])
    F.embedding(idx, w).backward(np.ones((2, 3, 2)))
    np.testing.assert_array_equal(w.grad.data, [[1, 1], [3, 3], [0, 0], [2, 2]])


def test_output_is_a_copy_and_dtypes() -> None:
    w = Tensor(np.arange(6, dtype=np.float32).reshape(3, 2))
    y = F.embedding(np.array(1), w)  # 0-d index -> (E,)
    assert y.shape == (2,) and y.dtype == np.float32
    w.data[1] = 99.0
    np.testing.assert_array_equal(y.data, [2.0, 3.0])
    assert F.embedding(np.array([0, 2], dtype=np.uint8), w).shape == (2, 2)


BAD = [
    (lambda: F.embedding(juanji.tensor([0, 10]), juanji.zeros(10, 3)), ValueError,
     r"embedding: index 10 is out of range for 10 embeddings \(valid indices 0..9\)"),
    (lambda: F.embedding(juanji.tensor([-1, 2]), juanji.zeros(10, 3)), ValueError,
     r"embedding: index -1 is out of range for 10 embeddings \(valid indices 0..9\)"),
    (lambda: F.embedding(juanji.tensor([0.0, 1.0]), juanji.zeros(10, 3)), TypeError,
     r"embedding: input must hold integer indices \(a Tensor or ndarray\), got dtype float32"),
    (lambda: F.embedding([0, 1], juanji.zeros(10, 3)), TypeError,
     r"embedding: input must hold integer indices \(a Tensor or ndarray\), got list"),
    (lambda: F.embedding(juanji.tensor([0]), juanji.zeros(10)), ValueError,
     r"embedding: weight must be a 2-D floating-point table \(V, E\), got shape \(10,\)"),
    (lambda: F.embedding(juanji.tensor([0]), np.zeros((10, 3))), TypeError,
     r"embedding: weight must be a juanji.Tensor, got ndarray"),
    (lambda: F.embedding(juanji.tensor([0]), juanji.zeros(10, 3), padding_idx=10), ValueError,
     r"embedding: padding_idx must be an int in \[-10, 9\], got 10"),
    (lambda: nn.Embedding(5, 2, padding_idx=-6), ValueError,
     r"Embedding: padding_idx must be within num_embeddings \[-5, 4\], got -6"),
    (lambda: nn.Embedding(-1, 2), ValueError, r"Embedding: num_embeddings must be a non-negative int, got -1"),
    (lambda: nn.Embedding(5, 2)(juanji.tensor([5])), ValueError, r"embedding: index 5 is out of range for 5"),
]


@pytest.mark.parametrize("call, exc, message", BAD)
def test_bad_inputs(call, exc, message) -> None:
    with pytest.raises(exc, match=message):
        call()


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_module_matches_torch(padding_idx) -> None:
    torch = torch_or_skip()
    ours, theirs = nn.Embedding(7, 3, padding_idx=padding_idx), torch.nn.Embedding(7, 3, padding_idx=padding_idx)
    assert repr(ours) == repr(theirs)
    assert ours.padding_idx == theirs.padding_idx
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    if padding_idx is not None:
        assert not np.any(ours.weight.data[padding_idx])
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    idx = np.random.default_rng(0).integers(0, 7, (4, 5))
    cot = np.random.default_rng(1).standard_normal((4, 5, 3)).astype(np.float32)
    y = ours(Tensor(idx))
    ty = theirs(torch.tensor(idx))
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    y.backward(cot)
    ty.backward(torch.tensor(cot))
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_default_init_is_standard_normal() -> None:
    juanji.manual_seed(0)
    w = nn.Embedding(2000, 50).weight.data
    assert w.dtype == np.float32
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1.0) < 0.01  # 1e5 draws: sd of the mean 0.003
    assert 0.30 < np.mean(np.abs(w) > 1) < 0.34  # P(|z| > 1) = 0.317 for a standard normal


def test_from_pretrained() -> None:
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    emb = nn.Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(juanji.tensor([3, 0])).data, table[[3, 0]])
    table[0] = -1  # a copy was taken
    assert emb.weight.data[0, 0] == 0
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


@pytest.mark.parametrize("freeze", [True, False])
@pytest.mark.parametrize("padding_idx", [None, 1, -1])
def test_from_pretrained_matches_torch(freeze, padding_idx) -> None:
    """Frozen: no gradient at all; trained: every row's gradient but the padding row's; the
    padding row keeps its pretrained values (not zeroed), as in PyTorch."""
    torch = torch_or_skip()
    table = np.random.default_rng(2).standard_normal((6, 4)).astype(np.float32)
    ours = nn.Embedding.from_pretrained(table, freeze=freeze, padding_idx=padding_idx)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(table), freeze=freeze, padding_idx=padding_idx)
    assert ours.weight.requires_grad == theirs.weight.requires_grad == (not freeze)
    assert ours.padding_idx == theirs.padding_idx and repr(ours) == repr(theirs)
    np.testing.assert_array_equal(ours.weight.data, theirs.weight.detach().numpy())
    idx = np.array([[1, 5, 5, 0], [3, 1, 2, 5]])
    cot = np.random.default_rng(3).standard_normal((2, 4, 4)).astype(np.float32)
    y, ty = ours(Tensor(idx)), theirs(torch.tensor(idx))
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    if freeze:
        assert not y.requires_grad and not ty.requires_grad
        return
    y.backward(cot)
    ty.backward(torch.tensor(cot))
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-6, atol=1e-6)
    if padding_idx is not None:
        assert not ours.weight.grad.data[padding_idx].any()
    assert ours.weight.grad.data[3].any()  # a used row (never the padding one) gets its gradient


def test_from_pretrained_refuses_what_is_not_a_float_table() -> None:
    with pytest.raises(TypeError, match=r"Embedding.from_pretrained: embeddings must be floating point, got dtype "
                                        r"int64 \(shape \(3, 2\)\)"):
        nn.Embedding.from_pretrained(np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"Embedding.from_pretrained: embeddings must be 2-D \(V, E\), got shape "
                                         r"\(3,\)"):
        nn.Embedding.from_pretrained(np.zeros(3))
    with pytest.raises(ValueError, match=r"Embedding: padding_idx must be within num_embeddings \[-3, 2\], got 3"):
        nn.Embedding.from_pretrained(np.zeros((3, 2)), padding_idx=3)


def test_frozen_table_is_left_alone_by_an_optimizer() -> None:
    import juanji.optim as optim

    table = np.random.default_rng(4).standard_normal((5, 3))
    emb = nn.Embedding.from_pretrained(table)
    lin = nn.Linear(3, 1).double()
    opt = optim.SGD(list(emb.parameters()) + list(lin.parameters()), lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        lin(emb(juanji.tensor([[0, 1, 4]]))).sum().backward()
        opt.step()
    assert emb.weight.grad is None
    np.testing.assert_array_equal(emb.weight.data, table)
