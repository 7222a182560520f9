"""juanji.textbook, the tutorials' loop functions, against the fast ops, PyTorch and finite differences.

Each textbook function is checked in float64 against (a) juanji's fast ops (functional conv2d,
max_pool2d, avg_pool2d forward and backward; kernels/im2col.py's im2col and col2im), (b) PyTorch
CPU (conv2d, max_pool2d, avg_pool2d, unfold, fold), and, for the two backward passes, (c)
central differences of the textbook's own forward. Small shapes only: the loops are slow.
Asymmetric on purpose: H != W, f_H != f_W, unequal strides, per-side pads, groups.
"""

from __future__ import annotations

import ast
import doctest
import inspect
from pathlib import Path

import numpy as np
import pytest

import juanji.functional as F
from juanji import Tensor
from juanji import textbook
from juanji.kernels import im2col as kernels
from juanji.textbook import (col2im, conv_backward, conv_forward, conv_single_step, create_mask_from_window,
                             distribute_value, im2col, pool_backward, pool_forward, zero_pad)
from tests.helpers import assert_close, torch_or_skip

RTOL, ATOL = 1e-10, 1e-12  # float64, sums taken in another order


def per_side(pad) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) from an int, a pair or per-side pairs (written apart from
    the module's own parser, so the tests do not take its word for it)."""
    if isinstance(pad, int):
        return ((pad, pad), (pad, pad))
    if isinstance(pad[0], int):
        return ((pad[0], pad[0]), (pad[1], pad[1]))
    return (tuple(pad[0]), tuple(pad[1]))


def torch_pad_arg(pad) -> tuple[int, int, int, int]:
    """F.pad's order: last dim first, (left, right, top, bottom)."""
    (top, bottom), (left, right) = per_side(pad)
    return (left, right, top, bottom)


def numerical_gradient(f, arrays, index, R, h=1e-6):
    """d sum(f(*arrays) * R) / d arrays[index], by central differences, one element at a time."""
    arrays = [None if a is None else a.copy() for a in arrays]
    x = arrays[index]
    grad = np.zeros_like(x)
    for pos in np.ndindex(*x.shape):
        old = x[pos]
        x[pos] = old + h
        plus = np.sum(f(*arrays) * R)
        x[pos] = old - h
        minus = np.sum(f(*arrays) * R)
        x[pos] = old
        grad[pos] = (plus - minus) / (2 * h)
    return grad


def distinct(shape, seed):
    """Values without ties, at least 0.25 apart: max pooling's gradient is then unique."""
    rng = np.random.default_rng(seed)
    return ((rng.permutation(int(np.prod(shape))) - 7.5) / 4).reshape(shape)


# --- zero_pad and conv_single_step --------------------------------------------------------------
@pytest.mark.parametrize("pad", [0, 2, (1, 0), (0, 3), ((0, 1), (2, 0)), ((3, 1), (0, 2))])
def test_zero_pad_matches_torch_and_juanji_pad(pad):
    torch = torch_or_skip()
    X = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    got = zero_pad(X, pad)
    want = torch.nn.functional.pad(torch.tensor(X), torch_pad_arg(pad)).numpy()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, F.pad(Tensor(X), torch_pad_arg(pad)).data)
    assert got.dtype == X.dtype


def test_conv_single_step_is_the_windows_dot_product_plus_bias():
    rng = np.random.default_rng(1)
    a, W = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 4, 2))
    want = sum(a[idx] * W[idx] for idx in np.ndindex(*a.shape)) - 0.75
    got = conv_single_step(a, W, -0.75)
    assert isinstance(got, float) and got == pytest.approx(want, rel=1e-12)
    # The course's bias of shape (1, 1, 1) is one number too.
    assert conv_single_step(a, W, np.full((1, 1, 1), -0.75)) == got


# --- conv_forward / conv_backward ---------------------------------------------------------------
CONV_CASES = [
    # (A_prev shape, W shape, bias, stride, pad, dilation, groups)
    ((2, 3, 5, 4), (4, 3, 3, 2), True, 1, 0, 1, 1),
    ((2, 4, 6, 5), (6, 2, 2, 3), False, (2, 1), (1, 0), (1, 2), 2),      # groups, dilation in W only
    ((1, 3, 5, 7), (6, 1, 3, 3), True, 2, ((0, 1), (2, 1)), 1, 3),       # depthwise x2, per-side pads
    ((2, 2, 4, 4), (3, 2, 1, 1), True, (1, 3), 2, 1, 1),                 # 1x1, stride past the kernel
    ((1, 1, 5, 5), (2, 1, 5, 5), True, 1, 0, 1, 1),                      # kernel as large as the input
    ((2, 2, 7, 6), (2, 2, 3, 3), False, 2, 2, 2, 1),                     # dilated and strided
]
CONV_IDS = [f"x{c[0]}-w{c[1]}-s{c[3]}-p{c[4]}-d{c[5]}-g{c[6]}" for c in CONV_CASES]


def conv_arrays(case, seed=0):
    x_shape, w_shape, bias = case[:3]
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    return x, w, (rng.standard_normal(w_shape[0]) if bias else None)


def juanji_conv(case, x, w, b, R):
    """Z and (dA_prev, dW, db) from juanji.functional.conv2d, padded per side by F.pad when
    the pads differ between the two sides."""
    _, _, _, stride, pad, dilation, groups = case
    (top, bottom), (left, right) = per_side(pad)
    tensors = [Tensor(a.copy(), requires_grad=True) for a in (x, w) + ((b,) if b is not None else ())]
    tx = tensors[0]
    if top == bottom and left == right:
        padding = (top, left)
    else:
        tx, padding = F.pad(tx, torch_pad_arg(pad)), 0
    Z = F.conv2d(tx, tensors[1], tensors[2] if b is not None else None, stride=stride, padding=padding,
                 dilation=dilation, groups=groups)
    Z.backward(R)
    db = tensors[2].grad.data if b is not None else None
    return Z.data, tensors[0].grad.data, tensors[1].grad.data, db


def torch_conv(case, x, w, b, R):
    torch = torch_or_skip()
    _, _, _, stride, pad, dilation, groups = case
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, w) + ((b,) if b is not None else ())]
    tx = torch.nn.functional.pad(tensors[0], torch_pad_arg(pad))
    Z = torch.nn.functional.conv2d(tx, tensors[1], tensors[2] if b is not None else None, stride=stride,
                                   dilation=dilation, groups=groups)
    Z.backward(torch.tensor(R))
    db = tensors[2].grad.numpy() if b is not None else None
    return Z.detach().numpy(), tensors[0].grad.numpy(), tensors[1].grad.numpy(), db


def textbook_conv(case, x, w, b):
    _, _, _, stride, pad, dilation, groups = case
    return conv_forward(x, w, b, stride=stride, pad=pad, dilation=dilation, groups=groups)


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv_forward_and_backward_match_juanji_and_torch(case):
    x, w, b = conv_arrays(case)
    Z, cache = textbook_conv(case, x, w, b)
    R = np.random.default_rng(9).standard_normal(Z.shape)
    dA_prev, dW, db = conv_backward(R, cache)
    assert Z.dtype == dA_prev.dtype == dW.dtype == db.dtype == np.float64
    assert dA_prev.shape == x.shape and dW.shape == w.shape and db.shape == (w.shape[0],)
    for name, (rZ, rdA, rdW, rdb) in [("juanji", juanji_conv(case, x, w, b, R)),
                                      ("torch", torch_conv(case, x, w, b, R))]:
        assert_close(Z, rZ, RTOL, ATOL, f"conv_forward vs {name}")
        assert_close(dA_prev, rdA, RTOL, ATOL, f"conv_backward dA_prev vs {name}")
        assert_close(dW, rdW, RTOL, ATOL, f"conv_backward dW vs {name}")
        # db is what a bias would get, with or without one: the sum of dZ per filter.
        assert_close(db, R.sum(axis=(0, 2, 3)) if rdb is None else rdb, RTOL, ATOL, f"conv_backward db vs {name}")


@pytest.mark.parametrize("case", CONV_CASES[:3], ids=CONV_IDS[:3])
def test_conv_backward_matches_finite_differences(case):
    x, w, b = conv_arrays(case, seed=4)
    Z, cache = textbook_conv(case, x, w, b)
    R = np.random.default_rng(5).standard_normal(Z.shape)
    grads = conv_backward(R, cache)
    forward = lambda x, w, b: textbook_conv(case, x, w, b)[0]  # noqa: E731
    arrays = [x, w, b]
    for index, name in enumerate(["dA_prev", "dW", "db"]):
        if arrays[index] is None:
            continue
        # Z is linear in each argument, so central differences are exact up to rounding.
        assert_close(grads[index], numerical_gradient(forward, arrays, index, R), 1e-6, 1e-7,
                     f"conv_backward {name} vs finite differences")


def test_conv_backward_accepts_a_hand_made_cache():
    # The cache is the course's (A_prev, W, b, hparameters): a reader can build one.
    x, w, b = conv_arrays(CONV_CASES[1])
    Z, cache = textbook_conv(CONV_CASES[1], x, w, b)
    hand = (x, w, b, {"stride": [2, 1], "pad": (1, 0), "dilation": (1, 2), "groups": 2})
    R = np.ones(Z.shape)
    for got, want in zip(conv_backward(R, hand), conv_backward(R, cache)):
        np.testing.assert_array_equal(got, want)


# --- pool_forward / pool_backward -----------------------------------------------------------------
POOL_CASES = [
    # (A_prev shape, kernel, stride)
    ((2, 3, 5, 4), 2, 2),             # a leftover row no window reaches
    ((1, 2, 7, 6), (3, 2), (2, 1)),   # overlapping windows
    ((2, 1, 4, 5), (1, 3), (3, 1)),   # stride past the window
    ((1, 2, 5, 5), 5, 1),             # one window: global pooling
]
POOL_IDS = [f"x{c[0]}-k{c[1]}-s{c[2]}" for c in POOL_CASES]


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_pool_forward_and_backward_match_juanji_and_torch(case, mode):
    torch = torch_or_skip()
    shape, kernel, stride = case
    x = distinct(shape, 2)
    A, cache = pool_forward(x, kernel, stride, mode=mode)
    R = np.random.default_rng(3).standard_normal(A.shape)
    dA_prev = pool_backward(R, cache, mode)
    assert A.dtype == dA_prev.dtype == np.float64 and dA_prev.shape == x.shape

    ours = F.max_pool2d if mode == "max" else F.avg_pool2d
    t = Tensor(x.copy(), requires_grad=True)
    out = ours(t, kernel, stride)
    out.backward(R)
    assert_close(A, out.data, RTOL, ATOL, f"pool_forward {mode} vs juanji")
    assert_close(dA_prev, t.grad.data, RTOL, ATOL, f"pool_backward {mode} vs juanji")

    theirs = torch.nn.functional.max_pool2d if mode == "max" else torch.nn.functional.avg_pool2d
    tx = torch.tensor(x, requires_grad=True)
    tout = theirs(tx, kernel, stride)
    tout.backward(torch.tensor(R))
    assert_close(A, tout.detach().numpy(), RTOL, ATOL, f"pool_forward {mode} vs torch")
    assert_close(dA_prev, tx.grad.numpy(), RTOL, ATOL, f"pool_backward {mode} vs torch")


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("case", POOL_CASES[:3], ids=POOL_IDS[:3])
def test_pool_backward_matches_finite_differences(case, mode):
    shape, kernel, stride = case
    x = distinct(shape, 6)  # ties 0.25 apart: a step of 1e-6 never changes which cell is the max
    A, cache = pool_forward(x, kernel, stride, mode)
    R = np.random.default_rng(7).standard_normal(A.shape)
    forward = lambda a: pool_forward(a, kernel, stride, mode)[0]  # noqa: E731
    assert_close(pool_backward(R, cache), numerical_gradient(forward, [x], 0, R), 1e-6, 1e-7,
                 f"pool_backward {mode} vs finite differences")


@pytest.mark.parametrize("kernel,stride", [(2, 2), (3, 2), ((2, 3), (1, 2))])
def test_max_pool_ties_send_the_gradient_to_the_first_maximum_like_torch(kernel, stride):
    torch = torch_or_skip()
    x = np.random.default_rng(8).integers(0, 3, size=(2, 2, 6, 7)).astype(np.float64)  # many ties
    A, cache = pool_forward(x, kernel, stride, "max")
    dA_prev = pool_backward(np.ones(A.shape), cache)
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(tx, kernel, stride).sum().backward()
    np.testing.assert_array_equal(dA_prev, tx.grad.numpy())
    assert dA_prev.sum() == A.size  # every window passes its 1 on exactly once


def test_create_mask_from_window_marks_only_the_first_maximum():
    window = np.array([[1.0, 4.0, 0.0], [4.0, -2.0, 4.0]])
    mask = create_mask_from_window(window)
    assert mask.dtype == bool and mask.shape == window.shape
    np.testing.assert_array_equal(mask, [[False, True, False], [False, False, False]])
    assert (window == window.max()).sum() == 3  # the course's mask would pass the gradient on 3 times
    untied = np.array([[0.5, -1.0], [2.0, 1.5]])
    np.testing.assert_array_equal(create_mask_from_window(untied), untied == untied.max())


def test_distribute_value_spreads_evenly():
    a = distribute_value(3.0, (2, 3))
    np.testing.assert_array_equal(a, np.full((2, 3), 0.5))
    assert a.sum() == pytest.approx(3.0)
    # Another divisor (PyTorch's count_include_pad=False or divisor_override).
    np.testing.assert_array_equal(distribute_value(3.0, (2, 3), divisor=4), np.full((2, 3), 0.75))


def test_pool_backward_takes_the_mode_from_the_cache():
    x = distinct((1, 2, 4, 4), 1)
    A, cache = pool_forward(x, 2, 2, mode="average")
    np.testing.assert_array_equal(pool_backward(np.ones(A.shape), cache), np.full(x.shape, 0.25))
    # The course's cache (A_prev, {"f", "stride"}-like) holds no mode: then it must be given.
    A, (A_prev, hp) = pool_forward(x, 2, 2, mode="max")
    hand = (A_prev, {"kernel": hp["kernel"], "stride": hp["stride"]})
    np.testing.assert_array_equal(pool_backward(np.ones(A.shape), hand, "max"), pool_backward(np.ones(A.shape),
                                                                                              (A_prev, hp)))


# --- im2col / col2im ------------------------------------------------------------------------------
IM2COL_CASES = [
    # (X shape, kernel, stride, pad)
    ((2, 3, 5, 4), (3, 2), (1, 2), 1),
    ((1, 2, 6, 7), 2, 2, ((0, 1), (1, 0))),
    ((2, 1, 4, 4), 1, 1, 0),                 # 1x1: col is X itself, reordered
    ((1, 2, 5, 5), 3, 3, 0),                 # stride = kernel, pixels no window reaches
    ((1, 2, 4, 6), (2, 3), (2, 1), (2, 0)),  # a pad wider than half the kernel
]
IM2COL_IDS = [f"x{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}" for c in IM2COL_CASES]


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def out_size(shape, kernel, stride, pad):
    (top, bottom), (left, right) = per_side(pad)
    (kh, kw), (sh, sw) = pair(kernel), pair(stride)
    return (shape[2] + top + bottom - kh) // sh + 1, (shape[3] + left + right - kw) // sw + 1


def to_unfold_layout(col, shape, kernel, stride, pad):
    """The book's (N*out_h*out_w, C*fh*fw) as unfold's and juanji's kernels' (N, C*fh*fw, out_h*out_w)."""
    oh, ow = out_size(shape, kernel, stride, pad)
    return col.reshape(shape[0], oh * ow, -1).transpose(0, 2, 1)


@pytest.mark.parametrize("case", IM2COL_CASES, ids=IM2COL_IDS)
def test_im2col_matches_juanji_kernel_and_torch_unfold(case):
    torch = torch_or_skip()
    shape, kernel, stride, pad = case
    X = np.random.default_rng(0).standard_normal(shape)
    col = im2col(X, kernel, stride, pad)
    oh, ow = out_size(shape, kernel, stride, pad)
    assert col.shape == (shape[0] * oh * ow, shape[1] * np.prod(pair(kernel)))
    got = to_unfold_layout(col, shape, kernel, stride, pad)
    X_pad = np.pad(X, ((0, 0), (0, 0), *per_side(pad)))
    np.testing.assert_array_equal(got, kernels.im2col(X_pad, pair(kernel), pair(stride), (1, 1)))
    unfold = torch.nn.functional.unfold(torch.tensor(X_pad), pair(kernel), stride=pair(stride)).numpy()
    np.testing.assert_array_equal(got, unfold)


@pytest.mark.parametrize("case", IM2COL_CASES, ids=IM2COL_IDS)
def test_col2im_matches_juanji_kernel_and_torch_fold(case):
    torch = torch_or_skip()
    shape, kernel, stride, pad = case
    oh, ow = out_size(shape, kernel, stride, pad)
    col = np.random.default_rng(1).standard_normal((shape[0] * oh * ow, shape[1] * int(np.prod(pair(kernel)))))
    got = col2im(col, shape, kernel, stride, pad)
    assert got.shape == shape
    (top, bottom), (left, right) = per_side(pad)
    padded = (shape[0], shape[1], shape[2] + top + bottom, shape[3] + left + right)
    crop = (slice(None), slice(None), slice(top, top + shape[2]), slice(left, left + shape[3]))
    cols = np.ascontiguousarray(to_unfold_layout(col, shape, kernel, stride, pad))
    assert_close(got, kernels.col2im(cols, padded, pair(kernel), pair(stride), (1, 1))[crop], RTOL, ATOL,
                 "col2im vs juanji.kernels.im2col.col2im")
    fold = torch.nn.functional.fold(torch.tensor(cols), padded[2:], pair(kernel), stride=pair(stride)).numpy()
    assert_close(got, fold[crop], RTOL, ATOL, "col2im vs torch fold")


@pytest.mark.parametrize("case", IM2COL_CASES, ids=IM2COL_IDS)
def test_col2im_is_the_adjoint_of_im2col_and_sums_overlaps(case):
    shape, kernel, stride, pad = case
    rng = np.random.default_rng(2)
    X = rng.standard_normal(shape)
    col = im2col(X, kernel, stride, pad)
    c = rng.standard_normal(col.shape)
    # <im2col(X), c> == <X, col2im(c)>: col2im is the transpose of im2col.
    assert np.sum(col * c) == pytest.approx(np.sum(X * col2im(c, shape, kernel, stride, pad)), rel=1e-12)
    # col2im(im2col(1)) counts the windows holding each pixel: count them one window at a time.
    (kh, kw), (sh, sw), ((top, _), (left, _)) = pair(kernel), pair(stride), per_side(pad)
    oh, ow = out_size(shape, kernel, stride, pad)
    count = np.zeros(shape[2:])
    for h in range(oh):
        for w in range(ow):
            rows = [r for r in range(h * sh - top, h * sh - top + kh) if 0 <= r < shape[2]]
            cols = [q for q in range(w * sw - left, w * sw - left + kw) if 0 <= q < shape[3]]
            count[np.ix_(rows, cols)] += 1
    np.testing.assert_array_equal(col2im(im2col(np.ones(shape), kernel, stride, pad), shape, kernel, stride, pad),
                                  np.broadcast_to(count, shape))


@pytest.mark.parametrize("case", IM2COL_CASES, ids=IM2COL_IDS)
def test_the_books_im2col_convolution_equals_the_course_loops(case):
    # The two textbooks' routes to one convolution agree, forward and backward:
    # Z = col @ W_mat.T + b;  dW = dZ_rows.T @ col;  dA_prev = col2im(dZ_rows @ W_mat).
    shape, kernel, stride, pad = case
    rng = np.random.default_rng(3)
    X = rng.standard_normal(shape)
    W, b = rng.standard_normal((4, shape[1], *pair(kernel))), rng.standard_normal(4)
    Z, cache = conv_forward(X, W, b, stride=stride, pad=pad)
    N, n_C, oh, ow = Z.shape
    col, W_mat = im2col(X, kernel, stride, pad), W.reshape(n_C, -1)
    assert_close((col @ W_mat.T + b).reshape(N, oh, ow, n_C).transpose(0, 3, 1, 2), Z, RTOL, ATOL, "Z")
    dZ = rng.standard_normal(Z.shape)
    dA_prev, dW, db = conv_backward(dZ, cache)
    dZ_rows = dZ.transpose(0, 2, 3, 1).reshape(-1, n_C)  # (N*oh*ow, n_C)
    assert_close((dZ_rows.T @ col).reshape(W.shape), dW, RTOL, ATOL, "dW")
    assert_close(col2im(dZ_rows @ W_mat, shape, kernel, stride, pad), dA_prev, RTOL, ATOL, "dA_prev")
    assert_close(dZ_rows.sum(axis=0), db, RTOL, ATOL, "db")


# --- bad input --------------------------------------------------------------------------------
X4 = np.zeros((1, 3, 5, 8))
W4 = np.zeros((6, 3, 3, 3))
_, CONV_CACHE = conv_forward(np.zeros((1, 1, 4, 4)), np.zeros((2, 1, 3, 3)), None)
_, POOL_CACHE = pool_forward(np.zeros((1, 1, 4, 4)), 2, 2, "max")
BAD = [
    ("zero_pad rank", lambda: zero_pad(np.zeros((3, 4)), 1), ValueError,
     r"zero_pad: expected X to be 4-D \(m, n_C, n_H, n_W\), got shape \(3, 4\)"),
    ("zero_pad negative", lambda: zero_pad(X4, (1, -1)), ValueError, r"zero_pad: pad must be >= 0, got \(1, -1\)"),
    ("zero_pad three", lambda: zero_pad(X4, (1, 2, 3)), ValueError,
     r"zero_pad: pad must be an int, a pair \(pad_H, pad_W\) or per-side pairs \(\(top, bottom\), "
     r"\(left, right\)\), got \(1, 2, 3\)"),
    ("zero_pad float", lambda: zero_pad(X4, 1.5), TypeError, r"zero_pad: pad must be an int"),
    ("single step shapes", lambda: conv_single_step(np.zeros((3, 2, 2)), np.zeros((3, 3, 3)), 0.0), ValueError,
     r"conv_single_step: a_slice_prev has shape \(3, 2, 2\) but W has shape \(3, 3, 3\); they must match"),
    ("single step bias", lambda: conv_single_step(np.zeros((3, 2, 2)), np.zeros((3, 2, 2)), np.zeros(2)),
     ValueError, r"conv_single_step: b must be a single number, got shape \(2,\)"),
    ("conv rank", lambda: conv_forward(np.zeros((3, 5, 8)), W4, None), ValueError,
     r"conv_forward: expected A_prev to be 4-D \(m, n_C_prev, n_H_prev, n_W_prev\), got shape \(3, 5, 8\)"),
    ("conv NHWC", lambda: conv_forward(np.zeros((1, 5, 8, 3)), W4, None), ValueError,
     r"conv_forward: A_prev has 5 channels but W expects 3 \(W shape \(6, 3, 3, 3\), groups=1\)"),
    ("conv course W", lambda: conv_forward(np.zeros((1, 1, 8, 8)), np.zeros((5, 5, 1, 6)), None), ValueError,
     r"conv_forward: A_prev has 1 channels but W expects 5 \(W shape \(5, 5, 1, 6\), groups=1\); the layouts "
     r"are NCHW and \(n_C, n_C_prev/groups, f_H, f_W\): the course's arrays are A_prev.transpose\(0, 3, 1, 2\) "
     r"and W.transpose\(3, 2, 0, 1\)"),
    ("conv W rank", lambda: conv_forward(X4, np.zeros((6, 3, 3)), None), ValueError,
     r"conv_forward: expected W to be 4-D \(n_C, n_C_prev/groups, f_H, f_W\), got shape \(6, 3, 3\)"),
    ("conv kernel", lambda: conv_forward(X4, np.zeros((2, 3, 7, 3)), None), ValueError,
     r"conv_forward: kernel 7x3 is larger than the input 5x8 \(A_prev shape \(1, 3, 5, 8\), "
     r"W shape \(2, 3, 7, 3\), pad \(\(0, 0\), \(0, 0\)\)\)"),
    ("conv dilated kernel", lambda: conv_forward(X4, W4, None, pad=(1, 0), dilation=(1, 4)), ValueError,
     r"conv_forward: kernel 3x3 \(dilated to 3x9\) is larger than the padded input 7x8"),
    ("conv groups in", lambda: conv_forward(np.zeros((1, 4, 5, 5)), np.zeros((6, 2, 3, 3)), None, groups=3),
     ValueError, r"conv_forward: the 4 channels of A_prev \(shape \(1, 4, 5, 5\)\) are not divisible by groups=3"),
    ("conv groups out", lambda: conv_forward(np.zeros((1, 4, 5, 5)), np.zeros((5, 2, 3, 3)), None, groups=2),
     ValueError, r"conv_forward: the 5 filters of W \(shape \(5, 2, 3, 3\)\) are not divisible by groups=2"),
    ("conv groups 0", lambda: conv_forward(X4, W4, None, groups=0), ValueError,
     r"conv_forward: groups must be >= 1, got 0"),
    ("conv bias", lambda: conv_forward(X4, W4, np.zeros((1, 1, 1, 6))), ValueError,
     r"conv_forward: b must have shape \(6,\) to match W shape \(6, 3, 3, 3\), got \(1, 1, 1, 6\)"),
    ("conv stride", lambda: conv_forward(X4, W4, None, stride=(2, 0)), ValueError,
     r"conv_forward: stride must be >= 1, got \(2, 0\)"),
    ("conv stride float", lambda: conv_forward(X4, W4, None, stride=1.5), TypeError,
     r"conv_forward: stride must be an int or a pair of ints \(stride_H, stride_W\), got 1.5"),
    ("conv no channels", lambda: conv_forward(np.zeros((1, 0, 5, 5)), np.zeros((2, 0, 3, 3)), None), ValueError,
     r"conv_forward: A_prev shape \(1, 0, 5, 5\) and W shape \(2, 0, 3, 3\) need at least one"),
    ("conv strings", lambda: conv_forward(np.full((1, 1, 3, 3), "a"), np.zeros((1, 1, 1, 1)), None), TypeError,
     r"conv_forward: A_prev must hold real numbers, got dtype <U1"),
    ("conv_backward dZ", lambda: conv_backward(np.zeros((1, 2, 3, 3)), CONV_CACHE), ValueError,
     r"conv_backward: dZ has shape \(1, 2, 3, 3\) but the forward pass made Z of shape \(1, 2, 2, 2\)"),
    ("conv_backward cache", lambda: conv_backward(np.zeros((1, 2, 2, 2)), CONV_CACHE[:3]), ValueError,
     r"conv_backward: cache must be the \(A_prev, W, b, hparameters\) that conv_forward returned"),
    ("pool rank", lambda: pool_forward(np.zeros((5, 5)), 2, 2), ValueError,
     r"pool_forward: expected A_prev to be 4-D \(m, n_C, n_H_prev, n_W_prev\), got shape \(5, 5\)"),
    ("pool kernel", lambda: pool_forward(X4, (2, 9), 1), ValueError,
     r"pool_forward: kernel 2x9 is larger than the input 5x8 \(A_prev shape \(1, 3, 5, 8\)\)"),
    ("pool mode", lambda: pool_forward(X4, 2, 2, mode="avg"), ValueError,
     r"pool_forward: mode must be 'max' or 'average', got 'avg'"),
    ("pool kernel triple", lambda: pool_forward(X4, (2, 2, 2), 2), ValueError,
     r"pool_forward: kernel must be an int or a pair of ints \(kernel_H, kernel_W\), got \(2, 2, 2\)"),
    ("pool_backward dA", lambda: pool_backward(np.zeros((1, 1, 3, 3)), POOL_CACHE), ValueError,
     r"pool_backward: dA has shape \(1, 1, 3, 3\) but the forward pass made A of shape \(1, 1, 2, 2\)"),
    ("pool_backward mode", lambda: pool_backward(np.zeros((1, 1, 2, 2)), POOL_CACHE, "average"), ValueError,
     r"pool_backward: mode is 'average' but the cache comes from pool_forward with mode='max'"),
    ("pool_backward no mode", lambda: pool_backward(np.zeros((1, 1, 2, 2)),
                                                    (POOL_CACHE[0], {"kernel": 2, "stride": 2})), ValueError,
     r"pool_backward: give mode \('max' or 'average'\): the cache does not say"),
    ("mask empty", lambda: create_mask_from_window(np.zeros((0, 2))), ValueError,
     r"create_mask_from_window: x is an empty window \(shape \(0, 2\)\)"),
    ("distribute dz", lambda: distribute_value(np.ones(2), (2, 2)), ValueError,
     r"distribute_value: dz must be a single number, got shape \(2,\)"),
    ("distribute shape", lambda: distribute_value(1.0, (2, 0)), ValueError,
     r"distribute_value: shape must be positive ints, got \(2, 0\)"),
    ("im2col rank", lambda: im2col(np.zeros((3, 5, 5)), 3), ValueError,
     r"im2col: expected X to be 4-D \(N, C, H, W\), got shape \(3, 5, 5\)"),
    ("im2col kernel", lambda: im2col(X4, 6, 1, ((0, 0), (1, 0))), ValueError,
     r"im2col: kernel 6x6 is larger than the padded input 5x9 "
     r"\(X shape \(1, 3, 5, 8\), pad \(\(0, 0\), \(1, 0\)\)\)"),
    ("col2im shape", lambda: col2im(np.zeros((16, 27)), (1, 3, 5, 8), 3, 1, 0), ValueError,
     r"col2im: col has shape \(16, 27\) but X_shape \(1, 3, 5, 8\) with kernel 3x3, stride \(1, 1\) and pad "
     r"\(\(0, 0\), \(0, 0\)\) gives \(18, 27\) \(N\*out_h\*out_w, C\*filter_h\*filter_w\)"),
    ("col2im X_shape", lambda: col2im(np.zeros((18, 27)), (3, 5, 8), 3), ValueError,
     r"col2im: X_shape must be the input's shape \(N, C, H, W\), got \(3, 5, 8\)"),
]


@pytest.mark.parametrize("name,call,exc,message", BAD, ids=[c[0] for c in BAD])
def test_bad_input_raises_a_clear_error(name, call, exc, message):
    with pytest.raises(exc, match=message):
        call()


# --- the module itself --------------------------------------------------------------------------
def test_docstring_examples_run():
    result = doctest.testmod(textbook, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) of juanji.textbook failed"
    assert result.attempted >= 25, f"only {result.attempted} docstring examples ran"


def test_every_function_is_documented_with_an_example_and_hinted():
    assert sorted(textbook.__all__) == sorted(["zero_pad", "conv_single_step", "conv_forward", "conv_backward",
                                               "pool_forward", "create_mask_from_window", "distribute_value",
                                               "pool_backward", "im2col", "col2im"])
    for name in textbook.__all__:
        fn = getattr(textbook, name)
        doc = inspect.getdoc(fn) or ""
        assert "Example:" in doc and ">>> " in doc, f"{name}: no docstring example"
        assert "return" in fn.__annotations__, f"{name}: no return type hint"


def test_module_needs_numpy_only():
    # Reference code with no juanji Tensor and no autograd: only NumPy and the standard library.
    tree = ast.parse(Path(textbook.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert not any(isinstance(node, ast.ImportFrom) and node.level > 0 for node in ast.walk(tree))
    assert imported <= {"__future__", "math", "operator", "typing", "numpy"}, imported
