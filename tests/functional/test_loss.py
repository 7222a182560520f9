"""Losses: gradcheck (float64), textbook per-sample loops (math.log / math.exp) and PyTorch (float32).

Every configuration is drawn from a seeded generator: batch 1 and more, 2-D (N, C) and
spatial (N, C, L) / (N, C, H, W) inputs with H != W, class weights, ignored targets (the
default -100 and an in-range ignore_index), label smoothing with index and probability
targets, pos_weight, and all three reductions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import juanji
import juanji.functional as F
import juanji.nn as nn
from juanji import Tensor

from tests.helpers import assert_close, check_gradcheck, check_naive, check_torch, torch_or_skip

REDUCTIONS = ["mean", "sum", "none"]


# --- naive references: loops over samples and positions, exactly as a textbook writes them ----
def positions(index_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every (n, d1, ..., dk) position of a class-index target."""
    return list(np.ndindex(*index_shape))


def logits_at(x: np.ndarray, pos: tuple[int, ...]) -> list[float]:
    n, rest = pos[0], pos[1:]
    return [float(x[(n, c) + rest]) for c in range(x.shape[1])]


def naive_log_softmax(z: list[float]) -> list[float]:
    m = max(z)
    lse = m + math.log(sum(math.exp(v - m) for v in z))
    return [v - lse for v in z]


def naive_ce_coefficients(x, t, weight, ignore_index, eps, probs):
    """For each position: (log p, a) with loss = -sum_c a_c log p_c, and the mean's denominator."""
    C = x.shape[1]
    w = [1.0] * C if weight is None else [float(v) for v in weight]
    rows, denom = [], 0.0
    index_shape = x.shape[:1] + x.shape[2:]
    for pos in positions(index_shape):
        logp = naive_log_softmax(logits_at(x, pos))
        if probs:
            q = [float(t[(pos[0], c) + pos[1:]]) for c in range(C)]
            a = [((1 - eps) * q[c] + eps / C) * w[c] for c in range(C)]
            denom += 1
        else:
            k = int(t[pos])
            if k == ignore_index:
                a = [0.0] * C
            else:
                a = [(eps / C) * w[c] for c in range(C)]
                a[k] += (1 - eps) * w[k]
                denom += w[k]
        rows.append((pos, logp, a))
    return rows, denom


def naive_cross_entropy(x, t, weight=None, ignore_index=-100, reduction="mean", eps=0.0, probs=False):
    rows, denom = naive_ce_coefficients(x, t, weight, ignore_index, eps, probs)
    losses = np.zeros(x.shape[:1] + x.shape[2:])
    for pos, logp, a in rows:
        losses[pos] = -sum(ac * lc for ac, lc in zip(a, logp))
    if reduction == "none":
        return losses
    total = sum(losses[pos] for pos, _, _ in rows)
    return np.array(total if reduction == "sum" else total / denom)


def naive_cross_entropy_backward(cot, x, t, weight=None, ignore_index=-100, reduction="mean", eps=0.0,
                                 probs=False):
    """d loss_i / d x_ic = softmax_c * sum_k a_k - a_c, and for probabilities d/dq_c = -(1-e) w_c log p_c."""
    rows, denom = naive_ce_coefficients(x, t, weight, ignore_index, eps, probs)
    C = x.shape[1]
    w = [1.0] * C if weight is None else [float(v) for v in weight]
    gx = np.zeros_like(x)
    gt = np.zeros_like(x) if probs else None
    for pos, logp, a in rows:
        s = float(cot[pos]) if reduction == "none" else float(cot) / (denom if reduction == "mean" else 1.0)
        total_a = sum(a)
        for c in range(C):
            idx = (pos[0], c) + pos[1:]
            gx[idx] = s * (math.exp(logp[c]) * total_a - a[c])
            if probs:
                gt[idx] = -s * (1 - eps) * w[c] * logp[c]
    return [gx] if not probs else [gx, gt]


def naive_nll(x, t, weight=None, ignore_index=-100, reduction="mean"):
    losses = np.zeros(t.shape)
    denom = 0.0
    for pos in positions(t.shape):
        k = int(t[pos])
        if k == ignore_index:
            continue
        wk = 1.0 if weight is None else float(weight[k])
        losses[pos] = -wk * float(x[(pos[0], k) + pos[1:]])
        denom += wk
    if reduction == "none":
        return losses
    return np.array(losses.sum() if reduction == "sum" else losses.sum() / denom)


def naive_nll_backward(cot, x, t, weight=None, ignore_index=-100, reduction="mean"):
    gx = np.zeros_like(x)
    denom = sum((1.0 if weight is None else float(weight[int(t[p])])) for p in positions(t.shape)
                if int(t[p]) != ignore_index)
    for pos in positions(t.shape):
        k = int(t[pos])
        if k == ignore_index:
            continue
        wk = 1.0 if weight is None else float(weight[k])
        s = float(cot[pos]) if reduction == "none" else float(cot) / (denom if reduction == "mean" else 1.0)
        gx[(pos[0], k) + pos[1:]] = -wk * s
    return [gx]


def reduce_naive(losses: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return losses
    total = 0.0
    for v in losses.reshape(-1):
        total += float(v)
    return np.array(total if reduction == "sum" else total / losses.size)


def elementwise(fn, *arrays):
    """Apply a scalar formula at every index of the first array."""
    out = np.zeros(arrays[0].shape)
    for idx in np.ndindex(*arrays[0].shape):
        out[idx] = fn(*(float(a[idx]) for a in arrays))
    return out


def grad_scale(cot, reduction, size):
    """d(reduced)/d(element) times the cotangent, per element (as an array of the element shape)."""
    return cot if reduction == "none" else np.full(size, float(cot) / (np.prod(size) if reduction == "mean" else 1))


def log_sigmoid(v):
    return -math.log1p(math.exp(-v)) if v >= 0 else v - math.log1p(math.exp(v))


def naive_bce_logits(x, y, w, r, reduction):
    """-w [r y log s(x) + (1 - y) log(1 - s(x))], log(1 - s(x)) = log s(-x)."""
    losses = elementwise(lambda xv, yv, wv, rv: -wv * (rv * yv * log_sigmoid(xv) + (1 - yv) * log_sigmoid(-xv)),
                         x, y, np.broadcast_to(w, x.shape), np.broadcast_to(r, x.shape))
    return reduce_naive(losses, reduction)


def naive_bce_logits_backward(cot, x, y, w, r, reduction):
    s = grad_scale(cot, reduction, x.shape)
    sig = elementwise(lambda v: 1 / (1 + math.exp(-v)), x)
    wb, rb = np.broadcast_to(w, x.shape), np.broadcast_to(r, x.shape)
    gx = s * wb * ((1 - y) * sig - rb * y * (1 - sig))
    gy = s * wb * (-rb * elementwise(log_sigmoid, x) + elementwise(lambda v: log_sigmoid(-v), x))
    return [gx, gy]


def naive_bce(x, y, w, reduction):
    def one(xv, yv, wv):
        lx = max(math.log(xv), -100) if xv > 0 else -100
        l1x = max(math.log(1 - xv), -100) if xv < 1 else -100
        return -wv * (yv * lx + (1 - yv) * l1x)
    return reduce_naive(elementwise(one, x, y, np.broadcast_to(w, x.shape)), reduction)


def naive_bce_backward(cot, x, y, w, reduction):
    s = grad_scale(cot, reduction, x.shape) * np.broadcast_to(w, x.shape)
    gx = s * elementwise(lambda xv, yv: (xv - yv) / (xv * (1 - xv)), x, y)
    gy = s * elementwise(lambda xv: math.log(1 - xv) - math.log(xv), x)
    return [gx, gy]


# --- random configurations -------------------------------------------------------------------
def class_config(seed: int):
    rng = np.random.default_rng(seed)
    N = int(rng.integers(1, 4))
    C = int(rng.integers(2, 6))
    spatial = [(), (int(rng.integers(1, 4)),), (int(rng.integers(1, 4)), int(rng.integers(2, 4)))][seed % 3]
    x = (rng.standard_normal((N, C) + spatial) * 2).astype(np.float32)
    ignore_index = [-100, int(rng.integers(0, C))][seed % 2]
    t = rng.integers(0, C, size=(N,) + spatial)
    mask = rng.random(t.shape) < 0.25
    t[mask] = ignore_index
    t.reshape(-1)[0] = (ignore_index + 1) % C  # keep at least one counted target
    weight = (rng.random(C) + 0.2).astype(np.float32) if seed % 4 >= 2 else None
    reduction = REDUCTIONS[seed % 3]
    eps = [0.0, 0.1, 0.35][(seed // 3) % 3]
    return x, t, weight, ignore_index, reduction, eps


@pytest.mark.parametrize("seed", range(18))
def test_cross_entropy_index_targets(seed: int) -> None:
    x, t, weight, ii, red, eps = class_config(seed)
    def fn(a, tt):
        return F.cross_entropy(a, tt, weight=weight, ignore_index=ii, reduction=red, label_smoothing=eps)

    w64 = None if weight is None else weight.astype(np.float64)
    check_naive(fn, lambda a, tt: naive_cross_entropy(a, tt, w64, ii, red, eps), [x, t],
                lambda cot, a, tt: naive_cross_entropy_backward(cot, a, tt, w64, ii, red, eps), what="cross_entropy")
    check_gradcheck(fn, [x[:2], t[:2]])
    torch = torch_or_skip()
    tw = None if weight is None else torch.tensor(weight)
    check_torch(fn, lambda a, tt: torch.nn.functional.cross_entropy(
        a, tt, weight=tw, ignore_index=ii, reduction=red, label_smoothing=eps), [x, t], what="cross_entropy")


@pytest.mark.parametrize("seed", range(12))
def test_cross_entropy_probability_targets(seed: int) -> None:
    x, _, weight, _, red, eps = class_config(seed)
    rng = np.random.default_rng(100 + seed)
    q = rng.random(x.shape).astype(np.float32)
    q /= q.sum(axis=1, keepdims=True)
    fn = lambda a, qq: F.cross_entropy(a, qq, weight=weight, reduction=red, label_smoothing=eps)  # noqa: E731
    w64 = None if weight is None else weight.astype(np.float64)
    check_naive(fn, lambda a, qq: naive_cross_entropy(a, qq, w64, reduction=red, eps=eps, probs=True), [x, q],
                lambda cot, a, qq: naive_cross_entropy_backward(cot, a, qq, w64, reduction=red, eps=eps, probs=True),
                what="cross_entropy probs")
    check_gradcheck(fn, [x[:2], q[:2]])
    torch = torch_or_skip()
    tw = None if weight is None else torch.tensor(weight)
    check_torch(fn, lambda a, qq: torch.nn.functional.cross_entropy(
        a, qq, weight=tw, reduction=red, label_smoothing=eps), [x, q], what="cross_entropy probs")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_unbatched_and_extreme_logits(reduction: str) -> None:
    torch = torch_or_skip()
    x = np.array([1000.0, -1000.0, 3.0, 0.5], dtype=np.float32)  # exp would overflow without the max shift
    for target in (np.array(2), np.array(0)):
        check_torch(lambda a: F.cross_entropy(a, target, reduction=reduction, label_smoothing=0.2),
                    lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(target), reduction=reduction,
                                                                label_smoothing=0.2), [x], what="unbatched")
    q = np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)
    check_torch(lambda a, qq: F.cross_entropy(a, qq, reduction=reduction),
                lambda a, qq: torch.nn.functional.cross_entropy(a, qq, reduction=reduction), [x, q],
                what="unbatched probs")


def test_cross_entropy_all_ignored_is_nan_like_pytorch() -> None:
    x = juanji.randn(3, 4, requires_grad=True)
    t = np.full(3, -100)
    loss = F.cross_entropy(x, t)
    assert np.isnan(loss.item())
    assert F.cross_entropy(x, t, reduction="sum").item() == 0.0


@pytest.mark.parametrize("seed", range(12))
def test_nll_loss(seed: int) -> None:
    x, t, weight, ii, red, _ = class_config(seed)
    fn = lambda a, tt: F.nll_loss(a, tt, weight=weight, ignore_index=ii, reduction=red)  # noqa: E731
    w64 = None if weight is None else weight.astype(np.float64)
    check_naive(fn, lambda a, tt: naive_nll(a, tt, w64, ii, red), [x, t],
                lambda cot, a, tt: naive_nll_backward(cot, a, tt, w64, ii, red), what="nll_loss")
    check_gradcheck(fn, [x[:2], t[:2]])
    torch = torch_or_skip()
    tw = None if weight is None else torch.tensor(weight)
    check_torch(fn, lambda a, tt: torch.nn.functional.nll_loss(a, tt, weight=tw, ignore_index=ii, reduction=red),
                [x, t], what="nll_loss")


def elementwise_config(seed: int):
    rng = np.random.default_rng(200 + seed)
    shape = [(5,), (2, 3), (1, 3, 2, 4), (3, 2, 5)][seed % 4]
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.standard_normal(shape).astype(np.float32)
    return rng, shape, x, y, REDUCTIONS[seed % 3]


@pytest.mark.parametrize("seed", range(8))
def test_mse_and_l1(seed: int) -> None:
    torch = torch_or_skip()
    _, shape, x, y, red = elementwise_config(seed)
    mse = lambda a, b: F.mse_loss(a, b, reduction=red)  # noqa: E731
    check_naive(mse, lambda a, b: reduce_naive(elementwise(lambda u, v: (u - v) ** 2, a, b), red), [x, y],
                lambda cot, a, b: [2 * (a - b) * grad_scale(cot, red, shape),
                                   -2 * (a - b) * grad_scale(cot, red, shape)],
                what="mse_loss")
    check_gradcheck(mse, [x, y])
    check_torch(mse, lambda a, b: torch.nn.functional.mse_loss(a, b, reduction=red), [x, y], what="mse_loss")
    l1 = lambda a, b: F.l1_loss(a, b, reduction=red)  # noqa: E731
    check_naive(l1, lambda a, b: reduce_naive(elementwise(lambda u, v: abs(u - v), a, b), red), [x, y],
                lambda cot, a, b: [np.sign(a - b) * grad_scale(cot, red, shape),
                                   -np.sign(a - b) * grad_scale(cot, red, shape)], what="l1_loss")
    check_gradcheck(l1, [x, y])
    check_torch(l1, lambda a, b: torch.nn.functional.l1_loss(a, b, reduction=red), [x, y], what="l1_loss")


@pytest.mark.parametrize("seed", range(12))
def test_bce_with_logits(seed: int) -> None:
    torch = torch_or_skip()
    rng, shape, x, _, red = elementwise_config(seed)
    x = x * 4
    y = rng.random(shape).astype(np.float32)
    w = (rng.random(shape[-1:]) + 0.5).astype(np.float32) if seed % 2 else None
    r = (rng.random(shape[-1:]) * 3).astype(np.float32) if (seed // 2) % 2 else None
    fn = lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=w, reduction=red, pos_weight=r)  # noqa: E731
    w64 = 1.0 if w is None else w.astype(np.float64)
    r64 = 1.0 if r is None else r.astype(np.float64)
    check_naive(fn, lambda a, b: naive_bce_logits(a, b, w64, r64, red), [x, y],
                lambda cot, a, b: naive_bce_logits_backward(cot, a, b, w64, r64, red), what="bce_with_logits")
    check_gradcheck(fn, [x, y])
    tw = None if w is None else torch.tensor(w)
    tr = None if r is None else torch.tensor(r)
    check_torch(fn, lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(
        a, b, weight=tw, reduction=red, pos_weight=tr), [x, y], what="bce_with_logits")


def test_bce_with_logits_is_stable_for_huge_logits() -> None:
    torch = torch_or_skip()
    x = np.array([-200.0, -50.0, 0.0, 50.0, 200.0], dtype=np.float32)
    y = np.array([1.0, 0.0, 0.5, 1.0, 0.0], dtype=np.float32)
    r = np.full(5, 2.5, dtype=np.float32)
    out = F.binary_cross_entropy_with_logits(Tensor(x), Tensor(y), pos_weight=r, reduction="none").data
    assert np.all(np.isfinite(out))
    check_torch(lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=r, reduction="none"),
                lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(
                    a, b, pos_weight=torch.tensor(r), reduction="none"), [x, y], what="bce_with_logits extreme")


@pytest.mark.parametrize("seed", range(8))
def test_bce(seed: int) -> None:
    torch = torch_or_skip()
    rng, shape, _, _, red = elementwise_config(seed)
    x = (rng.random(shape) * 0.9 + 0.05).astype(np.float32)
    y = rng.random(shape).astype(np.float32)
    w = (rng.random(shape) + 0.5).astype(np.float32) if seed % 2 else None
    fn = lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=red)  # noqa: E731
    w64 = 1.0 if w is None else w.astype(np.float64)
    check_naive(fn, lambda a, b: naive_bce(a, b, w64, red), [x, y],
                lambda cot, a, b: naive_bce_backward(cot, a, b, w64, red), what="binary_cross_entropy")
    check_gradcheck(fn, [x, y])
    tw = None if w is None else torch.tensor(w)
    check_torch(fn, lambda a, b: torch.nn.functional.binary_cross_entropy(a, b, weight=tw, reduction=red),
                [x, y], what="binary_cross_entropy")


def test_bce_clamps_log_at_minus_100() -> None:
    torch = torch_or_skip()
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype=np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.3], dtype=np.float32)
    out = F.binary_cross_entropy(Tensor(x), Tensor(y), reduction="none").data
    expected = torch.nn.functional.binary_cross_entropy(torch.tensor(x), torch.tensor(y), reduction="none").numpy()
    assert_close(out, expected, 1e-6, 1e-6, "bce clamp")
    assert out[0] == pytest.approx(100.0) and out[1] == pytest.approx(100.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype) -> None:
    x = Tensor(np.random.default_rng(0).standard_normal((3, 4, 2)).astype(dtype), requires_grad=True)
    t = np.array([[0, 1], [3, 2], [1, 1]])
    w = np.ones(4)  # float64 weight must not promote a float32 loss
    for loss in (F.cross_entropy(x, t, weight=w, label_smoothing=0.1), F.nll_loss(x, t, weight=w),
                 F.mse_loss(x, x.detach() * 2), F.binary_cross_entropy_with_logits(x, x.detach(), pos_weight=w[:2])):
        x.grad = None
        loss.backward()
        assert loss.dtype == dtype and x.grad.dtype == dtype


# --- bad inputs -------------------------------------------------------------------------------
X = Tensor(np.zeros((2, 3), np.float32))
X4 = Tensor(np.zeros((2, 3, 4, 5), np.float32))
BAD = [
    (lambda: F.cross_entropy(X, np.array([0, 3])), ValueError,
     r"cross_entropy: target value 3 is out of range \[0, 3\) for input with 3 classes"),
    (lambda: F.cross_entropy(X, np.array([-1, 0])), ValueError, r"cross_entropy: target value -1 is out of range"),
    (lambda: F.nll_loss(X, np.array([0, 7]), ignore_index=3), ValueError,
     r"nll_loss: target value 7 is out of range \[0, 3\)"),
    (lambda: F.cross_entropy(X4, np.zeros((2, 4), np.int64)), ValueError,
     r"cross_entropy: target shape \(2, 4\) does not match input shape \(2, 3, 4, 5\): expected \(2, 4, 5\)"),
    (lambda: F.cross_entropy(X, np.zeros(3, np.int64)), ValueError,
     r"target shape \(3,\) does not match input shape \(2, 3\)"),
    (lambda: F.cross_entropy(X, np.zeros((2, 4), np.float32)), ValueError,
     r"cross_entropy: probability target shape \(2, 4\) must equal input shape \(2, 3\)"),
    (lambda: F.cross_entropy(X, np.zeros(2, np.float32)), ValueError, r"probability target shape \(2,\)"),
    (lambda: F.nll_loss(X, np.zeros((2, 3), np.float32)), TypeError,
     r"nll_loss: target must hold integer class indices, got dtype float32"),
    (lambda: F.cross_entropy(X, np.array([0, 1]), weight=np.ones(4)), ValueError,
     r"cross_entropy: weight has shape \(4,\) but input has 3 classes"),
    (lambda: F.cross_entropy(X, np.array([0, 1]), reduction="avg"), ValueError,
     r"cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    (lambda: F.cross_entropy(X, np.array([0, 1]), label_smoothing=1.5), ValueError,
     r"label_smoothing must be between 0.0 and 1.0"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1])), TypeError,
     r"cross_entropy: input must be a juanji.Tensor"),
    (lambda: F.mse_loss(X, np.zeros((2, 3), np.int64)), TypeError, r"mse_loss: target must be floating point"),
    (lambda: F.mse_loss(X, Tensor(np.zeros((1, 3), np.float32))), ValueError,
     r"mse_loss: target shape \(1, 3\) does not match input shape \(2, 3\)"),
    (lambda: F.mse_loss(X, Tensor(np.zeros((2, 3)))), TypeError, r"mse_loss: target dtype float64 differs"),
    (lambda: F.l1_loss(X, X, reduction="mean "), ValueError, r"l1_loss: reduction must be"),
    (lambda: F.binary_cross_entropy_with_logits(X, X, pos_weight=np.ones(2)), ValueError,
     r"binary_cross_entropy_with_logits: pos_weight shape \(2,\) cannot be broadcast to input shape \(2, 3\)"),
    (lambda: F.binary_cross_entropy_with_logits(X, X, weight=np.ones((4, 2, 3))), ValueError,
     r"weight shape \(4, 2, 3\) cannot be broadcast"),
    (lambda: F.binary_cross_entropy(X + 1.5, X), ValueError,
     r"binary_cross_entropy: input values must be probabilities in \[0, 1\], got values in \[1.5, 1.5\]"),
    (lambda: nn.CrossEntropyLoss(reduction="mea"), ValueError, r"CrossEntropyLoss: reduction must be"),
]


@pytest.mark.parametrize("call,exc,match", BAD)
def test_bad_inputs(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call()


# --- nn wrappers ------------------------------------------------------------------------------
def test_modules_match_functional_and_pytorch() -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3, 2, 5)).astype(np.float32)
    t = rng.integers(0, 3, size=(4, 2, 5))
    t[0, 0, 0] = 1
    w = (rng.random(3) + 0.5).astype(np.float32)
    pairs = [
        (nn.CrossEntropyLoss(weight=w, ignore_index=1, label_smoothing=0.2),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=1, label_smoothing=0.2), [x, t]),
        (nn.NLLLoss(weight=w, reduction="sum"), torch.nn.NLLLoss(weight=torch.tensor(w), reduction="sum"), [x, t]),
        (nn.MSELoss(reduction="none"), torch.nn.MSELoss(reduction="none"), [x, x[::-1].copy()]),
        (nn.L1Loss(), torch.nn.L1Loss(), [x, x[::-1].copy()]),
        (nn.BCEWithLogitsLoss(pos_weight=np.full(5, 2.0, np.float32)),
         torch.nn.BCEWithLogitsLoss(pos_weight=torch.full((5,), 2.0)), [x, (x > 0).astype(np.float32)]),
        (nn.BCELoss(weight=np.full(5, 0.5, np.float32)), torch.nn.BCELoss(weight=torch.full((5,), 0.5)),
         [1 / (1 + np.exp(-x)), (x > 0).astype(np.float32)]),
    ]
    for ours, theirs, arrays in pairs:
        name = type(ours).__name__
        assert type(theirs).__name__ == name
        assert sorted(ours.state_dict()) == sorted(theirs.state_dict()), name
        check_torch(lambda *a: ours(*a), lambda *a: theirs(*a), arrays, what=name)


def test_modules_store_weight_as_buffer_and_legacy_flags() -> None:
    m = nn.CrossEntropyLoss(weight=np.ones(3, np.float32))
    assert list(m.state_dict()) == ["weight"] and "weight" in dict(m.named_buffers())
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert list(nn.BCEWithLogitsLoss(pos_weight=np.ones(2)).state_dict()) == ["pos_weight"]
    with pytest.warns(UserWarning, match="deprecated"):
        assert nn.MSELoss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning):
        assert nn.NLLLoss(reduce=False).reduction == "none"
    assert nn.L1Loss(reduction="sum").reduction == "sum"
