"""Tests of batch / layer / group / local response norm (functional/norm.py, nn/norm.py).

Every op is checked against (1) float64 finite differences, (2) the textbook loops below
(per-channel mean/var loops and the staged backward of the batch-norm computation graph;
LRN as a loop over channels with its window sum) and (3) PyTorch CPU in float32.
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
from juanji.functional import norm as norm_module
from juanji.kernels import batchnorm as compiled_bn
from juanji.kernels.layout import from_batch_last, is_batch_last
from tests.helpers import check_gradcheck, check_naive, check_torch, torch_or_skip

HYP = settings(max_examples=50, deadline=None, derandomize=True)
# The route fixture is the same for every example of a test, so hypothesis may share it.
HYP_ROUTE = settings(HYP, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(params=["compiled", "numpy"])
def bn_route(request):
    """Batch norm on the compiled loops (kernels/batchnorm.py) and on the NumPy path: the
    batch-norm tests run on both."""
    compiled = request.param == "compiled"
    if compiled and not compiled_bn.usable(np.zeros((2, 2), np.float32)):
        pytest.skip("numba is not installed (pip install numba): compiled batch norm")
    before = norm_module._COMPILED_BATCH_NORM
    norm_module._COMPILED_BATCH_NORM = compiled
    yield request.param
    norm_module._COMPILED_BATCH_NORM = before


# --- textbook references --------------------------------------------------------------------
def staged_backward(dxhat, x, eps):
    """dL/dx of xhat = (x - mu) / sqrt(var + eps) for one 1-D group of values, by walking
    the computation graph node by node (mu -> xmu -> sq -> var -> sqrtvar -> ivar -> xhat)."""
    n = x.size
    mu = sum(x) / n
    xmu = x - mu
    var = sum(xmu ** 2) / n
    sqrtvar = math.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    divar = sum(dxhat * xmu)
    dxmu1 = dxhat * ivar
    dsqrtvar = -1.0 / sqrtvar ** 2 * divar
    dvar = 0.5 / sqrtvar * dsqrtvar
    dsq = np.ones(n) * dvar / n
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -sum(dx1)
    return dx1 + np.ones(n) * dmu / n


def naive_bn_forward(x, w, b, training, rm=None, rv=None, eps=1e-5):
    out = np.zeros_like(x)
    for c in range(x.shape[1]):
        xc = x[:, c]
        if training:
            mu = sum(xc.ravel()) / xc.size
            var = sum((xc.ravel() - mu) ** 2) / xc.size
        else:
            mu, var = rm[c], rv[c]
        out[:, c] = (xc - mu) / math.sqrt(var + eps) * w[c] + b[c]
    return out


def naive_bn_backward(dy, x, w, b, training, rm=None, rv=None, eps=1e-5):
    dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
    for c in range(x.shape[1]):
        xc, dyc = x[:, c].ravel(), dy[:, c].ravel()
        if training:
            mu = sum(xc) / xc.size
            var = sum((xc - mu) ** 2) / xc.size
        else:
            mu, var = rm[c], rv[c]
        xhat = (xc - mu) / math.sqrt(var + eps)
        db[c] = sum(dyc)
        dw[c] = sum(dyc * xhat)
        if training:
            dx[:, c] = staged_backward(dyc * w[c], xc, eps).reshape(x[:, c].shape)
        else:
            dx[:, c] = (dyc * w[c] / math.sqrt(var + eps)).reshape(x[:, c].shape)
    return dx, dw, db


def naive_rows_forward(rows, eps):
    """Normalise each row of a list of 1-D arrays with its own mean and biased variance."""
    out = []
    for r in rows:
        mu = sum(r) / r.size
        var = sum((r - mu) ** 2) / r.size
        out.append((r - mu) / math.sqrt(var + eps))
    return out


def naive_ln_forward(x, w, b, k, eps=1e-5):
    lead = x.shape[:x.ndim - k]
    out = np.zeros_like(x)
    for idx in np.ndindex(*lead):
        (xhat,) = naive_rows_forward([x[idx].ravel()], eps)
        out[idx] = xhat.reshape(w.shape) * w + b
    return out


def naive_ln_backward(dy, x, w, b, k, eps=1e-5):
    lead = x.shape[:x.ndim - k]
    dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
    for idx in np.ndindex(*lead):
        (xhat,) = naive_rows_forward([x[idx].ravel()], eps)
        dw += dy[idx] * xhat.reshape(w.shape)
        db += dy[idx]
        dx[idx] = staged_backward((dy[idx] * w).ravel(), x[idx].ravel(), eps).reshape(w.shape)
    return dx, dw, db


def naive_gn_forward(x, w, b, g, eps=1e-5):
    n, c = x.shape[:2]
    cg = c // g
    out = np.zeros_like(x)
    for i in range(n):
        for j in range(g):
            block = x[i, j * cg:(j + 1) * cg]
            (xhat,) = naive_rows_forward([block.ravel()], eps)
            out[i, j * cg:(j + 1) * cg] = xhat.reshape(block.shape)
    for ch in range(c):
        out[:, ch] = out[:, ch] * w[ch] + b[ch]
    return out


def naive_gn_backward(dy, x, w, b, g, eps=1e-5):
    n, c = x.shape[:2]
    cg = c // g
    dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
    for i in range(n):
        for j in range(g):
            sl = slice(j * cg, (j + 1) * cg)
            block = x[i, sl]
            (xhat,) = naive_rows_forward([block.ravel()], eps)
            xhat = xhat.reshape(block.shape)
            for cc in range(cg):
                dw[j * cg + cc] += np.sum(dy[i, j * cg + cc] * xhat[cc])
                db[j * cg + cc] += np.sum(dy[i, j * cg + cc])
            dxhat = dy[i, sl] * w[sl].reshape((cg,) + (1,) * (x.ndim - 2))
            dx[i, sl] = staged_backward(dxhat.ravel(), block.ravel(), eps).reshape(block.shape)
    return dx, dw, db


def lrn_window(c, size, channels):
    return range(max(0, c - size // 2), min(channels - 1, c + (size - 1) // 2) + 1)


def naive_lrn_forward(x, size, alpha, beta, k):
    out = np.zeros_like(x)
    for c in range(x.shape[1]):
        s = sum(x[:, j] ** 2 for j in lrn_window(c, size, x.shape[1]))
        out[:, c] = x[:, c] / (k + alpha / size * s) ** beta
    return out


def naive_lrn_backward(dy, x, size, alpha, beta, k):
    channels = x.shape[1]
    d = np.stack([k + alpha / size * sum(x[:, j] ** 2 for j in lrn_window(c, size, channels))
                  for c in range(channels)], axis=1)
    dx = dy * d ** -beta
    for c in range(channels):
        for j in lrn_window(c, size, channels):
            # d out_c / d x_j through D_c = -beta x_c D_c^(-beta-1) * alpha/size * 2 x_j
            dx[:, j] += dy[:, c] * x[:, c] * (-beta) * d[:, c] ** (-beta - 1) * alpha / size * 2 * x[:, j]
    return (dx,)


# --- shapes -----------------------------------------------------------------------------------
@st.composite
def nc_shapes(draw, ranks=(2, 3, 4, 5), max_side=5):
    rank = draw(st.sampled_from(ranks))
    n = draw(st.integers(1, 4))
    c = draw(st.integers(1, 5))
    spatial = tuple(draw(st.integers(1, max_side)) for _ in range(rank - 2))
    if n * math.prod(spatial) == 1:  # batch statistics need more than one value per channel
        n = 2
    return (n, c) + spatial


def check_torch_both(fn, torch_fn, arrays, groups, what, grad_mask=None):
    """PyTorch in float64 always; in float32 (rtol 1e-4) unless a statistic is ill-conditioned.

    ``groups`` reshapes x to (number of statistics, values each). With one value, or values
    nearly equal (var < 0.05), dx is a cancellation of O(1) terms times invstd ~ 1/sqrt(var + eps):
    both float32 kernels then carry rounding noise above 1e-5 (juanji's measured to be the
    closer one to float64), so there float64 is the judge.
    """
    arrays64 = [a.astype(np.float64) for a in arrays]
    check_torch(fn, torch_fn, arrays64, grad_mask, rtol=1e-7, atol=1e-9, what=what + " float64")
    if groups.shape[1] > 1 and groups.astype(np.float64).var(axis=1).min() >= 0.05:
        check_torch(fn, torch_fn, arrays, grad_mask, what=what)


def rand(shape, seed, scale=1.0, shift=0.0, dtype=np.float32):
    return (np.random.default_rng(seed).standard_normal(shape) * scale + shift).astype(dtype)


def bn_arrays(shape, seed):
    c = shape[1]
    x = rand(shape, seed, 2.0, 0.5)
    w = rand((c,), seed + 1, 0.5, 1.0)
    b = rand((c,), seed + 2)
    rm = rand((c,), seed + 3, 0.3)
    rv = np.random.default_rng(seed + 4).uniform(0.5, 2.0, c).astype(np.float32)
    return x, w, b, rm, rv


def jbn(training, rm, rv, momentum=0.1, eps=1e-5):
    def fn(x, w=None, b=None):
        rmt = None if rm is None else Tensor(rm.astype(x.dtype))
        rvt = None if rv is None else Tensor(rv.astype(x.dtype))
        return F.batch_norm(x, rmt, rvt, w, b, training=training, momentum=momentum, eps=eps)
    return fn


def tbn(training, rm, rv, momentum=0.1, eps=1e-5):
    torch = torch_or_skip()

    def fn(x, w=None, b=None):
        rmt = None if rm is None else torch.tensor(rm, dtype=x.dtype)
        rvt = None if rv is None else torch.tensor(rv, dtype=x.dtype)
        return torch.nn.functional.batch_norm(x, rmt, rvt, w, b, training, momentum, eps)
    return fn


# --- batch norm: functional -------------------------------------------------------------------
@pytest.mark.usefixtures("bn_route")
@HYP_ROUTE
@given(shape=nc_shapes(), training=st.booleans(), seed=st.integers(0, 2**16))
def test_batch_norm_vs_torch(shape, training, seed):
    x, w, b, rm, rv = bn_arrays(shape, seed)
    groups = np.moveaxis(x, 1, 0).reshape(shape[1], -1) if training else np.ones((1, 2))
    check_torch_both(jbn(training, rm, rv), tbn(training, rm, rv), [x, w, b], groups,
                     what=f"batch_norm {shape} training={training}")


@pytest.mark.usefixtures("bn_route")
@HYP_ROUTE
@given(shape=nc_shapes(), training=st.booleans(), seed=st.integers(0, 2**16))
def test_batch_norm_vs_naive(shape, training, seed):
    x, w, b, rm, rv = (a.astype(np.float64) for a in bn_arrays(shape, seed))
    check_naive(jbn(training, rm, rv), lambda x, w, b: naive_bn_forward(x, w, b, training, rm, rv),
                [x, w, b],
                naive_backward=lambda dy, x, w, b: naive_bn_backward(dy, x, w, b, training, rm, rv),
                rtol=1e-7, atol=1e-9, what=f"batch_norm {shape}")


@pytest.mark.usefixtures("bn_route")
@pytest.mark.parametrize("shape", [(3, 2), (2, 3, 4), (2, 2, 3, 2), (2, 2, 2, 1, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(shape, training):
    x, w, b, rm, rv = (a.astype(np.float64) for a in bn_arrays(shape, 7))
    check_gradcheck(jbn(training, None if training else rm, None if training else rv), [x, w, b])


@pytest.mark.usefixtures("bn_route")
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_without_affine_and_partial_grads(training):
    x, w, b, rm, rv = bn_arrays((3, 4, 5, 2), 3)
    fn, tfn = jbn(training, rm, rv), tbn(training, rm, rv)
    check_torch(lambda x: fn(x), lambda x: tfn(x), [x], what="batch_norm no affine")
    # Only the parameters want a gradient (a frozen feature extractor's input).
    check_torch(fn, tfn, [x, w, b], grad_mask=[False, True, True], what="batch_norm params only")
    check_torch(fn, tfn, [x, w, b], grad_mask=[True, False, False], what="batch_norm input only")
    check_gradcheck(lambda x: jbn(training, None if training else rm, None if training else rv)(x),
                    [x.astype(np.float64)])


@pytest.mark.usefixtures("bn_route")
@pytest.mark.parametrize("momentum", [0.1, 0.5, 1.0])
def test_batch_norm_updates_running_stats_in_place(momentum):
    torch = torch_or_skip()
    x, _, _, rm, rv = bn_arrays((4, 3, 5, 6), 11)
    jm, jv = Tensor(rm.copy()), Tensor(rv.copy())
    tm, tv = torch.tensor(rm), torch.tensor(rv)
    data_before = jm.data
    F.batch_norm(Tensor(x), jm, jv, training=True, momentum=momentum)
    torch.nn.functional.batch_norm(torch.tensor(x), tm, tv, training=True, momentum=momentum)
    assert jm.data is data_before and jm.dtype == np.float32 and jv.dtype == np.float32
    np.testing.assert_allclose(jm.data, tm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jv.data, tv.numpy(), rtol=1e-5, atol=1e-6)
    # The textbook update with the unbiased (m - 1) batch variance.
    m = x.size // 3
    batch_var = x.astype(np.float64).var(axis=(0, 2, 3)) * m / (m - 1)
    np.testing.assert_allclose(jv.data, (1 - momentum) * rv + momentum * batch_var, rtol=1e-5)


@pytest.mark.usefixtures("bn_route")
def test_batch_norm_eval_leaves_running_stats_and_no_grad_keeps_nothing():
    x, w, b, rm, rv = bn_arrays((4, 3, 2, 2), 5)
    jm, jv = Tensor(rm.copy()), Tensor(rv.copy())
    F.batch_norm(Tensor(x), jm, jv, Tensor(w), Tensor(b), training=False)
    np.testing.assert_array_equal(jm.data, rm)
    np.testing.assert_array_equal(jv.data, rv)
    with juanji.no_grad():
        out = F.batch_norm(Tensor(x, requires_grad=True), jm, jv, training=True)
    assert not out.requires_grad and out._ctx is None
    assert not np.array_equal(jm.data, rm)  # running stats still update under no_grad


needs_numba = pytest.mark.skipif(not compiled_bn.usable(np.zeros((2, 2), np.float32)),
                                 reason="numba is not installed (pip install numba): compiled batch norm")


def batch_last(a):
    """The same (N, C, *spatial) values stored batch-last, (C, *spatial, N)."""
    return from_batch_last(np.ascontiguousarray(np.moveaxis(a, 0, -1)))


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,x_layout,dy_layout", [
    ((6, 3), "nchw", "nchw"), ((4, 3, 7), "nchw", "nchw"), ((5, 4, 3, 6), "nchw", "nchw"),
    ((5, 4, 3, 6), "batch_last", "batch_last"), ((5, 4, 3, 6), "batch_last", "nchw"),
    ((5, 4, 3, 6), "nchw", "batch_last"), ((5, 4, 3, 6), "strided", "nchw"), ((2, 3, 2, 3, 4), "nchw", "nchw")])
@pytest.mark.parametrize("training", [True, False])
def test_compiled_batch_norm_matches_the_numpy_path(monkeypatch, dtype, shape, x_layout, dy_layout, training):
    # The fused loops and the NumPy passes on one input: y, all three gradients, partial
    # gradients, the running statistics and the layout of y and dx (batch-last stays so).
    x, w, b, rm, rv = (a.astype(dtype) for a in bn_arrays(shape, 21))
    dy = rand(shape, 22, dtype=dtype)
    x = {"nchw": x, "batch_last": batch_last(x) if len(shape) > 2 else x,
         "strided": np.repeat(x, 2, axis=-1)[..., ::2]}[x_layout]
    dy = batch_last(dy) if dy_layout == "batch_last" and len(shape) > 2 else dy
    calls = []
    for name in ("train_forward", "affine", "train_backward"):
        original = getattr(compiled_bn, name)
        monkeypatch.setattr(compiled_bn, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
    results = {}
    for compiled in (True, False):
        monkeypatch.setattr(norm_module, "_COMPILED_BATCH_NORM", compiled)
        for mask in ((True, True, True), (True, False, False), (False, True, True)):
            jm, jv = Tensor(rm.copy()), Tensor(rv.copy())
            tx, tw, tb = (Tensor(a, requires_grad=g) for a, g in zip((x, w, b), mask))
            y = F.batch_norm(tx, jm, jv, tw, tb, training=training)
            y.backward(Tensor(dy))
            grads = [None if t.grad is None else t.grad.data for t in (tx, tw, tb)]
            results[compiled, mask] = (y.data, grads, jm.data, jv.data,
                                       is_batch_last(y.data), grads[0] is not None and is_batch_last(grads[0]))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for mask in ((True, True, True), (True, False, False), (False, True, True)):
        got, want = results[True, mask], results[False, mask]
        for g, e in zip([got[0], *got[1], got[2], got[3]], [want[0], *want[1], want[2], want[3]]):
            assert (g is None) == (e is None)
            if g is not None:
                assert g.dtype == dtype
                np.testing.assert_allclose(g, e, **tol)
        # y is stored like x on both paths; the loops' dx is too (NumPy's, as evaluation's on
        # both paths, follows dy's order).
        stored_batch_last = x_layout == "batch_last" and len(shape) > 2
        assert got[4] == want[4] == stored_batch_last
        assert got[5] == (mask[0] and stored_batch_last if training else want[5])
    assert calls.count("train_forward" if training else "affine") == 3
    assert calls.count("train_backward") == (3 if training else 0)


@pytest.mark.usefixtures("bn_route")
@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (2, 3, 0, 4), (0, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_of_an_empty_batch_is_torchs(shape, training):
    # Nothing to normalise: an empty output, zero parameter gradients, and the running
    # statistics left alone (both paths raised a reshape error on an empty batch before).
    torch = torch_or_skip()
    jx = Tensor(np.zeros(shape, np.float32), requires_grad=True)
    jw, jb = Tensor(np.full(3, 2.0, np.float32), requires_grad=True), Tensor(np.ones(3, np.float32), requires_grad=True)
    jm, jv = Tensor(np.full(3, 0.5, np.float32)), Tensor(np.full(3, 2.0, np.float32))
    tx = torch.zeros(shape, requires_grad=True)
    tw, tb = torch.full((3,), 2.0, requires_grad=True), torch.ones(3, requires_grad=True)
    tm, tv = torch.full((3,), 0.5), torch.full((3,), 2.0)
    jy = F.batch_norm(jx, jm, jv, jw, jb, training=training)
    ty = torch.nn.functional.batch_norm(tx, tm, tv, tw, tb, training)
    jy.sum().backward()
    ty.sum().backward()
    assert jy.shape == tuple(ty.shape) and jx.grad.shape == tuple(tx.grad.shape)
    for got, want in ((jw.grad, tw.grad), (jb.grad, tb.grad), (jm, tm), (jv, tv)):
        np.testing.assert_array_equal(got.data, want.numpy())


@needs_numba
def test_compiled_batch_norm_is_used_by_default(monkeypatch):
    calls = []
    original = compiled_bn.train_forward
    monkeypatch.setattr(compiled_bn, "train_forward", lambda *a: calls.append(1) or original(*a))
    nn.BatchNorm2d(3)(juanji.randn(2, 3, 4, 4))
    assert calls == [1]


# --- batch norm: modules ----------------------------------------------------------------------
BN_CASES = [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 7)), ("BatchNorm2d", (4, 3, 5, 6)),
            ("BatchNorm3d", (2, 3, 3, 4, 2))]


@pytest.mark.usefixtures("bn_route")
@pytest.mark.parametrize("cls,shape", BN_CASES)
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_batchnorm_module_training_steps_match_torch(cls, shape, momentum):
    torch = torch_or_skip()
    j = getattr(nn, cls)(shape[1], momentum=momentum)
    t = getattr(torch.nn, cls)(shape[1], momentum=momentum)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(rand(shape[1], 1, 0.5, 1.0)))
        t.bias.copy_(torch.tensor(rand(shape[1], 2)))
    j.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    for step in range(4):
        x = rand(shape, 100 + step, 1.0 + step, step - 1.0)
        jx, tx = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        jy, ty = j(jx), t(tx)
        cot = rand(shape, 200 + step)
        jy.backward(cot)
        ty.backward(torch.tensor(cot))
        np.testing.assert_allclose(jy.data, ty.detach().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(jx.grad.data, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
        assert int(j.num_batches_tracked.item()) == step + 1 == int(t.num_batches_tracked)
    np.testing.assert_allclose(j.weight.grad.data, t.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(j.bias.grad.data, t.bias.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(j.running_mean.data, t.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(j.running_var.data, t.running_var.numpy(), rtol=1e-5, atol=1e-6)
    for name in ("running_mean", "running_var"):
        assert getattr(j, name).dtype == np.float32
    assert j.num_batches_tracked.dtype == np.int64 and j.num_batches_tracked.shape == ()
    # Eval uses the running statistics: a single sample is fine and matches torch.
    j.eval()
    t.eval()
    x = rand((1,) + shape[1:], 300)
    y = j(Tensor(x)).data
    np.testing.assert_allclose(y, t(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    rm, rv = j.running_mean.data, j.running_var.data
    np.testing.assert_allclose(y, naive_bn_forward(x, j.weight.data, j.bias.data, False, rm, rv),
                               rtol=1e-5, atol=1e-5)
    assert int(j.num_batches_tracked.item()) == 4  # eval does not count


@pytest.mark.usefixtures("bn_route")
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("track", [True, False])
def test_batchnorm_state_dict_and_flags_match_torch(affine, track):
    torch = torch_or_skip()
    j = nn.BatchNorm2d(5, affine=affine, track_running_stats=track)
    t = torch.nn.BatchNorm2d(5, affine=affine, track_running_stats=track)
    jsd, tsd = j.state_dict(), t.state_dict()
    assert list(jsd) == list(tsd)
    for k in tsd:
        assert jsd[k].shape == tuple(tsd[k].shape), k
        assert str(jsd[k].dtype) == str(tsd[k].dtype).replace("torch.", ""), k
        np.testing.assert_array_equal(jsd[k], tsd[k].numpy())
    assert [n for n, _ in j.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert repr(j) == repr(t)
    x = rand((3, 5, 4, 2), 9, 2.0, 1.0)
    for mode in (True, False):
        j.train(mode)
        t.train(mode)
        y = j(Tensor(x)).data
        np.testing.assert_allclose(y, t(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    if not track:  # eval without running statistics normalises with the batch statistics
        np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)


@pytest.mark.usefixtures("bn_route")
def test_batchnorm_float64_module_and_reset():
    m = nn.BatchNorm2d(3).double()
    x = Tensor(rand((2, 3, 2, 2), 1, dtype=np.float64), requires_grad=True)
    y = m(x)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == m.weight.grad.dtype == m.running_var.dtype == np.float64
    m.reset_running_stats()
    np.testing.assert_array_equal(m.running_var.data, np.ones(3))
    assert int(m.num_batches_tracked.item()) == 0


# --- layer norm and group norm ------------------------------------------------------------------
@st.composite
def ln_cases(draw):
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    k = draw(st.integers(1, rank))
    return shape, k


@HYP
@given(case=ln_cases(), seed=st.integers(0, 2**16))
def test_layer_norm_vs_torch_and_naive(case, seed):
    torch = torch_or_skip()
    shape, k = case
    ns = shape[len(shape) - k:]
    x, w, b = rand(shape, seed, 2.0, 1.0), rand(ns, seed + 1, 0.5, 1.0), rand(ns, seed + 2)
    groups = x.reshape(-1, math.prod(ns))
    check_torch_both(lambda x, w, b: F.layer_norm(x, ns, w, b),
                     lambda x, w, b: torch.nn.functional.layer_norm(x, ns, w, b), [x, w, b], groups,
                     what=f"layer_norm {shape} {ns}")
    check_torch_both(lambda x: F.layer_norm(x, ns), lambda x: torch.nn.functional.layer_norm(x, ns), [x],
                     groups, what="layer_norm no affine")
    check_naive(lambda x, w, b: F.layer_norm(x, ns, w, b), lambda x, w, b: naive_ln_forward(x, w, b, k),
                [x, w, b], naive_backward=lambda dy, x, w, b: naive_ln_backward(dy, x, w, b, k),
                rtol=1e-7, atol=1e-9, what="layer_norm")


@pytest.mark.parametrize("shape,ns", [((3, 4), (4,)), ((2, 3, 4), (3, 4)), ((2, 2, 3, 2), (3, 2))])
def test_layer_norm_gradcheck(shape, ns):
    x, w, b = rand(shape, 1, 2.0), rand(ns, 2, 0.5, 1.0), rand(ns, 3)
    check_gradcheck(lambda x, w, b: F.layer_norm(x, ns, w, b), [x, w, b])


@HYP
@given(shape=nc_shapes(), seed=st.integers(0, 2**16), data=st.data())
def test_group_norm_vs_torch_and_naive(shape, seed, data):
    torch = torch_or_skip()
    c = shape[1]
    g = data.draw(st.sampled_from([d for d in range(1, c + 1) if c % d == 0]))
    if shape[0] * c // g * math.prod(shape[2:]) == 1:
        return  # PyTorch refuses this; tested in the bad-input table
    x, w, b = rand(shape, seed, 2.0, 1.0), rand((c,), seed + 1, 0.5, 1.0), rand((c,), seed + 2)
    check_torch_both(lambda x, w, b: F.group_norm(x, g, w, b),
                     lambda x, w, b: torch.nn.functional.group_norm(x, g, w, b), [x, w, b],
                     x.reshape(shape[0] * g, -1), what=f"group_norm {shape} G={g}")
    check_naive(lambda x, w, b: F.group_norm(x, g, w, b), lambda x, w, b: naive_gn_forward(x, w, b, g),
                [x, w, b], naive_backward=lambda dy, x, w, b: naive_gn_backward(dy, x, w, b, g),
                rtol=1e-7, atol=1e-9, what="group_norm")


@pytest.mark.parametrize("shape,g", [((2, 4), 2), ((2, 6, 3), 3), ((1, 4, 2, 3), 2), ((2, 2, 2, 1, 2), 1)])
def test_group_norm_gradcheck(shape, g):
    c = shape[1]
    x, w, b = rand(shape, 1, 2.0), rand((c,), 2, 0.5, 1.0), rand((c,), 3)
    check_gradcheck(lambda x, w, b: F.group_norm(x, g, w, b), [x, w, b])
    check_gradcheck(lambda x: F.group_norm(x, g), [x])


def test_layernorm_groupnorm_modules_match_torch():
    torch = torch_or_skip()
    pairs = [(nn.LayerNorm((4, 3)), torch.nn.LayerNorm((4, 3)), (2, 5, 4, 3)),
             (nn.LayerNorm(6, elementwise_affine=False), torch.nn.LayerNorm(6, elementwise_affine=False), (3, 6)),
             (nn.LayerNorm(6, bias=False), torch.nn.LayerNorm(6, bias=False), (3, 6)),
             (nn.GroupNorm(2, 6), torch.nn.GroupNorm(2, 6), (3, 6, 4, 5)),
             (nn.GroupNorm(3, 3, affine=False), torch.nn.GroupNorm(3, 3, affine=False), (2, 3, 7))]
    for j, t, shape in pairs:
        tsd = t.state_dict()
        assert list(j.state_dict()) == list(tsd) and repr(j) == repr(t)
        for k, v in tsd.items():  # default init: weight ones, bias zeros, as torch
            np.testing.assert_array_equal(j.state_dict()[k], v.numpy())
            v.copy_(torch.tensor(rand(tuple(v.shape), 5, 0.5, 1.0)))
        j.load_state_dict({k: v.numpy() for k, v in tsd.items()})
        x = rand(shape, 6, 2.0, 1.0)
        jx, tx = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        jy, ty = j(jx), t(tx)
        np.testing.assert_allclose(jy.data, ty.detach().numpy(), rtol=1e-4, atol=1e-5)
        cot = rand(shape, 7)
        jy.backward(cot)
        ty.backward(torch.tensor(cot))
        np.testing.assert_allclose(jx.grad.data, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
        for (n, p), (tn, tp) in zip(j.named_parameters(), t.named_parameters()):
            assert n == tn and p.grad.dtype == np.float32
            np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-4, atol=1e-5)


# --- local response norm --------------------------------------------------------------------------
@HYP
@given(shape=nc_shapes(ranks=(3, 4, 5), max_side=4), size=st.integers(1, 7),
       alpha=st.sampled_from([1e-4, 0.05, 1.0]), beta=st.sampled_from([0.75, 0.5, 1.3]),
       k=st.sampled_from([1.0, 2.0, 0.5]), seed=st.integers(0, 2**16))
def test_lrn_vs_torch_and_naive(shape, size, alpha, beta, k, seed):
    torch = torch_or_skip()
    x = rand(shape, seed, 2.0)
    check_torch(lambda x: F.local_response_norm(x, size, alpha, beta, k),
                lambda x: torch.nn.functional.local_response_norm(x, size, alpha, beta, k), [x],
                what=f"local_response_norm {shape} size={size}")
    check_naive(lambda x: F.local_response_norm(x, size, alpha, beta, k),
                lambda x: naive_lrn_forward(x, size, alpha, beta, k), [x],
                naive_backward=lambda dy, x: naive_lrn_backward(dy, x, size, alpha, beta, k),
                what="local_response_norm")


@pytest.mark.parametrize("shape,size", [((2, 5, 3), 3), ((1, 6, 2, 3), 4), ((2, 3, 2, 1, 2), 5), ((2, 4, 3), 1)])
def test_lrn_gradcheck(shape, size):
    check_gradcheck(lambda x: F.local_response_norm(x, size, alpha=0.3, beta=0.75, k=1.5),
                    [rand(shape, 3, 2.0)])


def test_lrn_alexnet_paper_conversion():
    # Krizhevsky et al. 2012: b = a / (k + alpha_paper * sum over n neighbours of a^2)^beta, no 1/n.
    x = rand((2, 9, 3, 3), 4, 3.0).astype(np.float64)
    n, alpha_paper, beta, k = 5, 1e-2, 0.75, 2.0
    paper = np.zeros_like(x)
    for c in range(9):
        s = sum(x[:, j] ** 2 for j in range(max(0, c - n // 2), min(8, c + n // 2) + 1))
        paper[:, c] = x[:, c] / (k + alpha_paper * s) ** beta
    got = F.local_response_norm(Tensor(x), n, alpha=n * alpha_paper, beta=beta, k=k).data
    np.testing.assert_allclose(got, paper, rtol=1e-12)


def test_lrn_module_matches_torch():
    torch = torch_or_skip()
    j, t = nn.LocalResponseNorm(5, alpha=5e-4, k=2.0), torch.nn.LocalResponseNorm(5, alpha=5e-4, k=2.0)
    assert repr(j) == repr(t) and list(j.state_dict()) == []
    x = rand((2, 8, 6, 5), 8, 3.0)
    np.testing.assert_allclose(j(Tensor(x)).data, t(torch.tensor(x)).numpy(), rtol=1e-4, atol=1e-6)


# --- bad inputs ------------------------------------------------------------------------------------
def T(*shape, dtype=np.float32):
    return Tensor(np.ones(shape, dtype=dtype) + np.arange(math.prod(shape), dtype=dtype).reshape(shape))


BAD = [
    (lambda: nn.BatchNorm2d(3)(T(2, 3, 4)), ValueError,
     r"BatchNorm2d: expected 4-D input \(N, C, H, W\), got 3-D input of shape \(2, 3, 4\)"),
    (lambda: nn.BatchNorm1d(3)(T(2, 3, 4, 4)), ValueError,
     r"BatchNorm1d: expected 2-D or 3-D input \(N, C\) or \(N, C, L\), got 4-D"),
    (lambda: nn.BatchNorm3d(3)(T(2, 3, 4, 4)), ValueError, r"BatchNorm3d: expected 5-D input"),
    (lambda: nn.BatchNorm2d(4)(T(2, 3, 5, 5)), ValueError,
     r"BatchNorm2d: input has 3 channels but num_features is 4 \(input shape \(2, 3, 5, 5\)\)"),
    (lambda: nn.BatchNorm1d(3)(T(1, 3)), ValueError,
     r"batch_norm: Expected more than 1 value per channel when training, got input size \(1, 3\)"),
    (lambda: nn.BatchNorm2d(3)(T(1, 3, 1, 1)), ValueError, r"Expected more than 1 value per channel when training"),
    (lambda: F.batch_norm(T(1, 3, 1), None, None, training=True), ValueError,
     r"Expected more than 1 value per channel when training"),
    (lambda: F.batch_norm(T(2, 4, 3), T(3), T(3), training=True), ValueError,
     r"batch_norm: running_mean has shape \(3,\) but an input with 4 channels needs shape \(4,\)"),
    (lambda: F.batch_norm(T(2, 4, 3), None, None, T(4, 1), training=True), ValueError,
     r"batch_norm: weight has shape \(4, 1\) but an input with 4 channels needs shape \(4,\)"),
    (lambda: F.batch_norm(T(2, 4), None, None, T(4, dtype=np.float64), training=True), TypeError,
     r"batch_norm: weight has dtype float64 but input has dtype float32"),
    (lambda: F.batch_norm(T(2, 4), None, None), ValueError,
     r"batch_norm: running_mean and running_var must be given in evaluation mode"),
    (lambda: F.batch_norm(T(2, 4), T(4), None, training=True), ValueError, r"must both be given or both be None"),
    (lambda: F.batch_norm(T(4), None, None, training=True), ValueError,
     r"batch_norm: expected an input of at least 2 dims \(N, C, \*\), got shape \(4,\)"),
    (lambda: F.batch_norm(np.ones((2, 3)), None, None, training=True), TypeError,
     r"batch_norm: input must be a juanji.Tensor, got ndarray"),
    (lambda: F.batch_norm(T(2, 3), None, None, training=True, eps=0.0), ValueError,
     r"batch_norm: eps must be positive, got 0.0"),
    (lambda: F.batch_norm(T(2, 3), T(3), T(3), training=True, momentum=None), TypeError,
     r"batch_norm: momentum must be a float"),
    (lambda: F.layer_norm(T(3, 4, 5), (4, 4)), ValueError,
     r"layer_norm: normalized_shape=\(4, 4\) expects an input of shape \(\*, 4, 4\), got \(3, 4, 5\)"),
    (lambda: F.layer_norm(T(3, 4), 4, T(3)), ValueError,
     r"layer_norm: weight has shape \(3,\) but normalized_shape=\(4,\) needs shape \(4,\)"),
    (lambda: F.layer_norm(T(3, 4), 4.0), TypeError, r"layer_norm: normalized_shape must be an int"),
    (lambda: F.group_norm(T(3, 4, 5), 3), ValueError,
     r"group_norm: the 4 input channels must be divisible by num_groups=3 \(input shape \(3, 4, 5\)\)"),
    (lambda: F.group_norm(T(1, 4), 4), ValueError,
     r"group_norm: Expected more than 1 value per channel when training, got input size \(1, 4\)"),
    (lambda: F.group_norm(T(2, 4), 2, None, T(2)), ValueError, r"group_norm: bias has shape \(2,\)"),
    (lambda: nn.GroupNorm(3, 4), ValueError, r"GroupNorm: num_channels \(4\) must be divisible by num_groups \(3\)"),
    (lambda: nn.GroupNorm(2, 4)(T(2, 6, 3)), ValueError,
     r"GroupNorm: input has 6 channels but num_channels is 4 \(input shape \(2, 6, 3\)\)"),
    (lambda: F.local_response_norm(T(2, 3, 4), 0), ValueError, r"local_response_norm: size must be >= 1, got 0"),
    (lambda: nn.LocalResponseNorm(-2)(T(2, 3, 4)), ValueError, r"local_response_norm: size must be >= 1, got -2"),
    (lambda: F.local_response_norm(T(2, 3, 4), 2.5), TypeError, r"local_response_norm: size must be an int, got 2.5"),
    (lambda: F.local_response_norm(T(2, 3), 2), ValueError,
     r"local_response_norm: expected an input of at least 3 dims \(N, C, \*spatial\), got shape \(2, 3\)"),
]


@pytest.mark.parametrize("call,exc,msg", BAD)
def test_bad_inputs(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_one_value_per_channel_is_fine_in_eval():
    m = nn.BatchNorm1d(3).eval()
    y = m(T(1, 3))
    np.testing.assert_allclose(y.data, T(1, 3).data / np.sqrt(1 + 1e-5), rtol=1e-6)
