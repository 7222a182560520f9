"""Shape ops: flatten, pad (all modes), cat, stack, split, chunk, and nn.Flatten/Unflatten.

Each against gradcheck, a textbook loop reference (output position by output position)
and PyTorch CPU, over randomised shapes, dims (negative included) and pads.
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

from tests.helpers import check_gradcheck, check_naive, check_torch, torch_or_skip


# --- flatten --------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=5).map(tuple), data=st.data())
def test_flatten(shape, data) -> None:
    torch = torch_or_skip()
    nd = len(shape)
    s = data.draw(st.integers(-nd, nd - 1), label="start_dim")
    e = data.draw(st.integers(s % nd - nd, -1) | st.integers(s % nd, nd - 1), label="end_dim")
    x = np.random.default_rng(0).standard_normal(shape)

    def naive(a: np.ndarray) -> np.ndarray:  # row-major order: the flat index runs fastest on the right
        lo, hi = s % nd, e % nd
        new_shape = a.shape[:lo] + (int(np.prod(a.shape[lo:hi + 1])),) + a.shape[hi + 1:]
        out = np.empty(new_shape)
        for idx in np.ndindex(a.shape):
            merged = 0
            for k in range(lo, hi + 1):
                merged = merged * a.shape[k] + idx[k]
            out[idx[:lo] + (merged,) + idx[hi + 1:]] = a[idx]
        return out

    fn = lambda t: F.flatten(t, s, e)  # noqa: E731
    check_gradcheck(fn, [x])
    check_naive(fn, naive, [x], what="flatten")
    check_torch(fn, lambda t: torch.flatten(t, s, e), [x.astype(np.float32)], what="flatten")


def test_flatten_0d_and_module() -> None:
    torch = torch_or_skip()
    assert F.flatten(juanji.tensor(3.0)).shape == (1,)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    for args in [(), (2,), (0, -2), (-3, 2)]:
        ours, theirs = nn.Flatten(*args), torch.nn.Flatten(*args)
        assert repr(ours) == repr(theirs)
        check_torch(ours, theirs, [x], what=f"Flatten{args}")


@pytest.mark.parametrize("dim, sizes", [(1, (3, 4)), (-2, (2, -1)), (-1, (5, -1)), (0, (1, 2)), (2, (5,)), (1, (-1, 2, 2))])
def test_unflatten_module(dim, sizes) -> None:
    torch = torch_or_skip()
    x = np.random.default_rng(0).standard_normal((2, 12, 5)).astype(np.float32)
    if dim == 0:
        x = x[:, :2]
    ours, theirs = nn.Unflatten(dim, sizes), torch.nn.Unflatten(dim, sizes)
    assert repr(ours) == repr(theirs)
    check_torch(ours, theirs, [x], what=f"Unflatten({dim}, {sizes})")


# --- pad: textbook reference -----------------------------------------------------------------
def _source(i: int, n: int, mode: str) -> int | None:
    """Which input index output index i (already shifted by the left pad) reads."""
    if 0 <= i < n:
        return i
    if mode == "constant":
        return None
    if mode == "reflect":
        return -i if i < 0 else 2 * (n - 1) - i
    if mode == "replicate":
        return 0 if i < 0 else n - 1
    return i % n  # circular


def _pad_naive(pad: tuple[int, ...], mode: str, value: float = 0.0):
    def widths(ndim: int) -> list[tuple[int, int]]:
        w = [(0, 0)] * ndim
        for k in range(len(pad) // 2):
            w[ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
        return w

    def sources(a: np.ndarray):
        w = widths(a.ndim)
        out_shape = tuple(n + lo + hi for n, (lo, hi) in zip(a.shape, w))
        for o in np.ndindex(out_shape):
            src = tuple(_source(o[d] - w[d][0], a.shape[d], mode) for d in range(a.ndim))
            yield o, out_shape, (None if any(s is None for s in src) else src)

    def forward(a: np.ndarray) -> np.ndarray:
        out = None
        for o, out_shape, src in sources(a):
            if out is None:
                out = np.empty(out_shape)
            out[o] = value if src is None else a[src]
        return out if out is not None else np.empty(
            tuple(n + lo + hi for n, (lo, hi) in zip(a.shape, widths(a.ndim))))

    def backward(g: np.ndarray, a: np.ndarray) -> list[np.ndarray]:
        gx = np.zeros_like(a)
        for o, _, src in sources(a):
            if src is not None:
                gx[src] += g[o]  # every copy of an input element sends its gradient home
        return [gx]
    return forward, backward


def _torch_pad_ok(ndim: int, n_padded: int, mode: str) -> bool:
    """PyTorch supports non-constant modes for 1-3 padded dims on (un)batched inputs."""
    return mode == "constant" or (1 <= n_padded <= 3 and ndim in (n_padded + 1, n_padded + 2))


@st.composite
def pad_case(draw):
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    ndim = draw(st.sampled_from([3, 4, 5]))
    shape = tuple(draw(st.lists(st.integers(1, 2), min_size=ndim - 3, max_size=ndim - 3))) + tuple(
        draw(st.lists(st.integers(1, 5), min_size=min(ndim, 3), max_size=min(ndim, 3))))
    choices = [k for k in (1, 2, 3) if k <= ndim and _torch_pad_ok(ndim, k, mode)]
    k = draw(st.sampled_from(choices))
    pad = []
    for d in range(k):
        n = shape[ndim - 1 - d]
        if mode == "reflect":
            lo = hi = st.integers(0, n - 1)
        elif mode == "circular":
            lo = hi = st.integers(0, n)
        elif mode == "replicate":
            lo = hi = st.integers(0, 3)
        else:  # constant: negative pads crop; keep the output non-empty
            lo = st.integers(-(n - 1), 3)
            hi = st.integers(0, 3)
        a = draw(lo)
        b = draw(hi) if mode != "constant" else draw(st.integers(-(n - 1 + min(a, 0)), 3))
        pad += [a, b]
    value = draw(st.sampled_from([0.0, 1.5])) if mode == "constant" else None
    return mode, shape, tuple(pad), value


@settings(max_examples=60, deadline=None)
@given(case=pad_case(), seed=st.integers(0, 2**16))
def test_pad_against_references(case, seed) -> None:
    torch = torch_or_skip()
    mode, shape, pad, value = case
    x = np.random.default_rng(seed).standard_normal(shape)
    fn = lambda t: F.pad(t, pad, mode=mode, value=value)  # noqa: E731
    tfn = lambda t: torch.nn.functional.pad(t, pad, mode=mode, value=value)  # noqa: E731
    f, b = _pad_naive(pad, mode, 0.0 if value is None else value)
    check_gradcheck(fn, [x])
    check_naive(fn, f, [x], naive_backward=b, what=f"pad {mode} {pad}")
    check_torch(fn, tfn, [x.astype(np.float32)], what=f"pad {mode} {pad}")


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_largest_allowed_and_asymmetric(mode) -> None:
    """Pads right at the limits (reflect: n - 1, circular: n), one side only, on 4-D input."""
    torch = torch_or_skip()
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 3)).astype(np.float32)
    big = {"reflect": (2, 0, 3, 1), "replicate": (4, 0, 0, 5), "circular": (3, 0, 1, 4)}[mode]
    for pad in (big, (0, 1, 0, 0), (0, 0, 1, 0)):
        check_torch(lambda t: F.pad(t, pad, mode=mode), lambda t: torch.nn.functional.pad(t, pad, mode=mode),
                    [x], what=f"pad {mode} {pad}")


def test_pad_constant_any_rank_and_crop_to_empty() -> None:
    torch = torch_or_skip()
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    for pad in [(1, 1), (0, 0, 2, 1), (-3, 0), (-1, -1, 1, 0)]:
        check_torch(lambda t: F.pad(t, pad, value=-2.0), lambda t: torch.nn.functional.pad(t, pad, value=-2.0),
                    [x], what=f"pad constant {pad}")


# --- cat / stack ------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(base=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple),
       sizes=st.lists(st.integers(1, 3), min_size=1, max_size=4), data=st.data(), seed=st.integers(0, 2**16))
def test_cat(base, sizes, data, seed) -> None:
    torch = torch_or_skip()
    nd = len(base)
    dim = data.draw(st.integers(-nd, nd - 1), label="dim")
    d = dim % nd
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(base[:d] + (s,) + base[d + 1:]) for s in sizes]

    def naive(*xs: np.ndarray) -> np.ndarray:
        out = np.empty(base[:d] + (sum(sizes),) + base[d + 1:])
        offset = 0
        for a in xs:
            for idx in np.ndindex(a.shape):
                out[idx[:d] + (idx[d] + offset,) + idx[d + 1:]] = a[idx]
            offset += a.shape[d]
        return out

    def naive_backward(g: np.ndarray, *xs: np.ndarray) -> list[np.ndarray]:
        grads, offset = [], 0
        for a in xs:
            ga = np.empty_like(a)
            for idx in np.ndindex(a.shape):
                ga[idx] = g[idx[:d] + (idx[d] + offset,) + idx[d + 1:]]
            grads.append(ga)
            offset += a.shape[d]
        return grads

    fn = lambda *ts: F.cat(list(ts), dim)  # noqa: E731
    check_gradcheck(fn, arrays)
    check_naive(fn, naive, arrays, naive_backward=naive_backward, what="cat")
    check_torch(fn, lambda *ts: torch.cat(list(ts), dim), [a.astype(np.float32) for a in arrays], what="cat")


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple), k=st.integers(1, 4),
       data=st.data(), seed=st.integers(0, 2**16))
def test_stack(shape, k, data, seed) -> None:
    torch = torch_or_skip()
    nd = len(shape) + 1
    dim = data.draw(st.integers(-nd, nd - 1), label="dim")
    d = dim % nd
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for _ in range(k)]

    def naive(*xs: np.ndarray) -> np.ndarray:
        out = np.empty(shape[:d] + (k,) + shape[d:])
        for j, a in enumerate(xs):
            for idx in np.ndindex(a.shape):
                out[idx[:d] + (j,) + idx[d:]] = a[idx]
        return out

    def naive_backward(g: np.ndarray, *xs: np.ndarray) -> list[np.ndarray]:
        grads = []
        for j, a in enumerate(xs):
            ga = np.empty_like(a)
            for idx in np.ndindex(a.shape):
                ga[idx] = g[idx[:d] + (j,) + idx[d:]]
            grads.append(ga)
        return grads

    fn = lambda *ts: F.stack(list(ts), dim)  # noqa: E731
    check_gradcheck(fn, arrays)
    check_naive(fn, naive, arrays, naive_backward=naive_backward, what="stack")
    check_torch(fn, lambda *ts: torch.stack(list(ts), dim), [a.astype(np.float32) for a in arrays], what="stack")


def test_cat_with_partial_requires_grad() -> None:
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.full((1, 3), 2.0))
    y = F.cat([a, b])
    y.backward(np.arange(9.0).reshape(3, 3))
    np.testing.assert_array_equal(a.grad.data, np.arange(6.0).reshape(2, 3))
    assert b.grad is None


# --- split / chunk ------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple), data=st.data(),
       seed=st.integers(0, 2**16))
def test_split_and_chunk(shape, data, seed) -> None:
    torch = torch_or_skip()
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1), label="dim")
    n = shape[dim % nd]
    kind = data.draw(st.sampled_from(["int", "list", "chunk"]), label="kind")
    if kind == "int":
        arg = data.draw(st.integers(1, n + 1), label="split_size")
    elif kind == "list":
        cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3), label="cuts"))
        arg = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    else:
        arg = data.draw(st.integers(1, n + 2), label="chunks")
    ours = (lambda t: F.chunk(t, arg, dim)) if kind == "chunk" else (lambda t: F.split(t, arg, dim))
    theirs = (lambda t: torch.chunk(t, arg, dim)) if kind == "chunk" else (lambda t: torch.split(t, arg, dim))
    x = np.random.default_rng(seed).standard_normal(shape)

    assert [p.shape for p in ours(Tensor(x))] == [tuple(p.shape) for p in theirs(torch.tensor(x))]

    # Join the pieces again, each scaled by a different factor, so every piece's
    # gradient is tested through one output.
    def fn(t):
        return F.cat([p * float(i + 1) for i, p in enumerate(ours(t))], dim)

    def tfn(t):
        return torch.cat([p * float(i + 1) for i, p in enumerate(theirs(t))], dim)

    def naive(a: np.ndarray) -> np.ndarray:  # piece i scaled by i + 1, by explicit index arithmetic
        sizes = arg if kind == "list" else [min(s, n - o) for s in [arg if kind == "int" else -(-n // arg)]
                                            for o in range(0, n, s)]
        owner, start = [], 0
        for i, s in enumerate(sizes):
            owner += [i] * s
            start += s
        out = np.empty_like(a)
        d = dim % nd
        for idx in np.ndindex(a.shape):
            out[idx] = a[idx] * (owner[idx[d]] + 1)
        return out

    check_gradcheck(fn, [x])
    check_naive(fn, naive, [x], what=f"{kind} {arg}")
    check_torch(fn, tfn, [x.astype(np.float32)], what=f"{kind} {arg}")


def test_chunk_and_split_edge_cases_match_torch() -> None:
    torch = torch_or_skip()
    for n, chunks in [(5, 4), (6, 4), (0, 3), (1, 3), (7, 7)]:
        ours = [p.shape for p in F.chunk(juanji.zeros(n, 2), chunks)]
        theirs = [tuple(p.shape) for p in torch.chunk(torch.zeros(n, 2), chunks)]
        assert ours == theirs, (n, chunks)
    assert [p.shape for p in F.split(juanji.zeros(0, 2), 2)] == [tuple(p.shape) for p in torch.split(torch.zeros(0, 2), 2)]


# --- bad inputs -----------------------------------------------------------------------------------
BAD = [
    (lambda: F.cat([juanji.zeros(2, 3), juanji.zeros(2, 4)]), ValueError,
     r"cat: tensors\[1\] has shape \(2, 4\) but tensors\[0\] has shape \(2, 3\); sizes must match except in dim 0"),
    (lambda: F.cat([juanji.zeros(2, 3), juanji.zeros(2, 3, 1)], 1), ValueError,
     r"cat: tensors\[1\] has shape \(2, 3, 1\) but tensors\[0\] has shape \(2, 3\)"),
    (lambda: F.cat([juanji.zeros(2), Tensor(np.zeros(2))]), TypeError,
     r"cat: tensors\[1\] has dtype float64 but tensors\[0\] has dtype float32"),
    (lambda: F.cat([]), ValueError, r"cat: expected a non-empty list of Tensors"),
    (lambda: F.cat(juanji.zeros(2)), TypeError, r"cat: tensors must be a list or tuple of Tensors, got Tensor"),
    (lambda: F.cat([juanji.zeros(2), np.zeros(2)]), TypeError, r"cat: tensors\[1\] must be a juanji.Tensor, got ndarray"),
    (lambda: F.cat([juanji.zeros(2, 3)], 2), ValueError,
     r"cat: dim 2 is out of range for shape \(2, 3\) \(expected -2..1\)"),
    (lambda: F.cat([juanji.tensor(1.0)]), ValueError, r"cat: zero-dimensional tensors cannot be concatenated"),
    (lambda: F.stack([juanji.zeros(2, 3), juanji.zeros(3, 2)]), ValueError,
     r"stack: tensors\[1\] has shape \(3, 2\) but tensors\[0\] has shape \(2, 3\); all shapes must be equal"),
    (lambda: F.stack([juanji.zeros(2, 3)], 3), ValueError, r"stack: dim 3 is out of range"),
    (lambda: F.split(juanji.zeros(5, 2), [2, 2]), ValueError,
     r"split: split sizes \[2, 2\] must be non-negative and sum to 5, the size of dim 0 of shape \(5, 2\)"),
    (lambda: F.split(juanji.zeros(5, 2), 0), ValueError, r"split: split_size must be a positive int, got 0"),
    (lambda: F.split(juanji.zeros(5, 2), 2.0), TypeError, r"split: split_size_or_sections must be an int"),
    (lambda: F.chunk(juanji.zeros(5, 2), 0), ValueError, r"chunk: chunks must be a positive int, got 0"),
    (lambda: F.flatten(juanji.zeros(2, 3, 4), 2, 1), ValueError,
     r"flatten: start_dim 2 comes after end_dim 1 for shape \(2, 3, 4\)"),
    (lambda: F.flatten(juanji.zeros(2, 3), 0, 5), ValueError, r"flatten: dim 5 is out of range"),
    (lambda: F.pad(juanji.zeros(1, 1, 3, 3), (3, 3), mode="reflect"), ValueError,
     r"pad: reflect padding \(3, 3\) is too large for dim 3 of size 3 \(input shape \(1, 1, 3, 3\)\); "
     r"each pad must be less than the size"),
    (lambda: F.pad(juanji.zeros(1, 1, 3), (4, 0), mode="circular"), ValueError,
     r"pad: circular padding \(4, 0\) would wrap more than once around dim 2 of size 3"),
    (lambda: F.pad(juanji.zeros(1, 1, 3), (-1, 1), mode="reflect"), ValueError,
     r"pad: negative padding \(-1, 1\) is supported only in 'constant' mode, not 'reflect'"),
    (lambda: F.pad(juanji.zeros(1, 1, 3), (-4, 0)), ValueError,
     r"pad: padding \(-4, 0\) of dim 2 \(size 3\) gives a negative size for input shape \(1, 1, 3\)"),
    (lambda: F.pad(juanji.zeros(1, 3), (1, 1, 1)), ValueError,
     r"pad: pad must have an even length of at most 2 \* ndim = 4 for input shape \(1, 3\), got \(1, 1, 1\)"),
    (lambda: F.pad(juanji.zeros(3), (1, 1, 1, 1)), ValueError, r"pad: pad must have an even length of at most 2"),
    (lambda: F.pad(juanji.zeros(1, 3), (1, 1), mode="zeros"), ValueError,
     r"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got 'zeros'"),
    (lambda: F.pad(juanji.zeros(1, 3), (1.0, 1)), TypeError, r"pad: pad must be a tuple of ints"),
    (lambda: F.pad(juanji.zeros(1, 1, 3), (1, 1), mode="replicate", value=2.0), ValueError,
     r"pad: mode 'replicate' takes no value argument, got value=2.0"),
    (lambda: F.pad(np.zeros((1, 3)), (1, 1)), TypeError, r"pad: input must be a juanji.Tensor, got ndarray"),
    (lambda: nn.Unflatten(1, (4, 4))(juanji.zeros(2, 12)), ValueError,
     r"Unflatten: cannot unflatten dim 1 of size 12 \(input shape \(2, 12\)\) into \(4, 4\)"),
    (lambda: nn.Unflatten(1, (-1, -1)), ValueError, r"Unflatten: unflattened_size may hold at most one -1"),
]


@pytest.mark.parametrize("call, exc, message", BAD)
def test_bad_inputs(call, exc, message) -> None:
    with pytest.raises(exc, match=message):
        call()
