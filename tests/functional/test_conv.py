"""conv1d / conv2d / conv3d and nn.Conv1d/2d/3d against the three references.

The oracle is the textbook, juanji.textbook: zero_pad with np.pad, conv_single_step,
conv_forward as nested loops over images, output rows, output columns and filters, and
conv_backward accumulating dA_prev, dW and db in the same loops. (NCHW instead of the
tutorials' NHWC, and extended with stride/dilation per axis and channel groups.) 1-D runs
them with a height of 1; the 3-D loops, which the textbook does not cover, are below.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import juanji
import juanji.functional as F
from juanji import Tensor
from juanji.functional._args import ntuple, resolve_padding
from juanji.kernels import blas as blas_kernels
from juanji.kernels.conv import Thresholds, use_routes, use_thresholds
from juanji.kernels.conv import depthwise as depthwise_kernels
from juanji.kernels.conv import pointwise as pointwise_route
from juanji.kernels.conv import rowshift as rowshift_kernels
from juanji.kernels.conv.route import batch_chunk, row_chunk
from juanji.kernels.im2col import col2im, im2col
from juanji.kernels.layout import from_batch_last, is_batch_last, to_batch_last
from juanji.textbook import conv_backward, conv_forward, conv_single_step

from tests.helpers import assert_close, check_gradcheck, check_naive, check_torch, torch_or_skip


# --- the textbook reference ------------------------------------------------------------------
def tf_same_pads(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's documented "same" rule: out = ceil(n / s), extra pad at the end."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def pad_pairs(padding, sizes, kernel, stride, dilation):
    if padding == "valid":
        return [(0, 0)] * len(sizes)
    if padding == "same":
        return [tf_same_pads(*a) for a in zip(sizes, kernel, stride, dilation)]
    if isinstance(padding, int):
        return [(padding, padding)] * len(sizes)
    return [(p, p) for p in padding]


def zero_pad_3d(X, pads):
    """Pad the spatial dims of X (N, C, D, H, W) with zeros, (before, after) per dim
    (juanji.textbook.zero_pad pads NCHW only)."""
    return np.pad(X, ((0, 0), (0, 0), *pads), mode="constant", constant_values=(0, 0))


def conv_forward_2d(A_prev, W, b, stride, pads, dilation, groups):
    """juanji.textbook.conv_forward's Z, in the calling convention of the helpers below."""
    return conv_forward(A_prev, W, b, stride, pads, dilation, groups)[0]


def conv_backward_2d(dZ, A_prev, W, b, stride, pads, dilation, groups):
    """juanji.textbook.conv_backward, handed the cache conv_forward would have made (so the
    forward loops do not run again); no db without a bias."""
    hparameters = {"stride": stride, "pad": pads, "dilation": dilation, "groups": groups}
    dA_prev, dW, db = conv_backward(dZ, (A_prev, W, b, hparameters))
    return (dA_prev, dW) if b is None else (dA_prev, dW, db)


def conv_forward_3d(A_prev, W, b, stride, pads, dilation, groups):
    m = A_prev.shape[0]
    n_C, c_per_group, f_d, f_h, f_w = W.shape
    (s_d, s_h, s_w), (d_d, d_h, d_w) = stride, dilation
    A_prev_pad = zero_pad_3d(A_prev, pads)
    n_D = (A_prev_pad.shape[2] - d_d * (f_d - 1) - 1) // s_d + 1
    n_H = (A_prev_pad.shape[3] - d_h * (f_h - 1) - 1) // s_h + 1
    n_W = (A_prev_pad.shape[4] - d_w * (f_w - 1) - 1) // s_w + 1
    Z = np.zeros((m, n_C, n_D, n_H, n_W))
    out_per_group = n_C // groups
    for i in range(m):
        for dd in range(n_D):
            for h in range(n_H):
                for w in range(n_W):
                    for c in range(n_C):
                        g = c // out_per_group
                        a_slice_prev = A_prev_pad[
                            i, g * c_per_group:(g + 1) * c_per_group,
                            dd * s_d:dd * s_d + d_d * (f_d - 1) + 1:d_d,
                            h * s_h:h * s_h + d_h * (f_h - 1) + 1:d_h,
                            w * s_w:w * s_w + d_w * (f_w - 1) + 1:d_w]
                        Z[i, c, dd, h, w] = conv_single_step(a_slice_prev, W[c], 0.0 if b is None else b[c])
    return Z


def conv_backward_3d(dZ, A_prev, W, b, stride, pads, dilation, groups):
    n_C, c_per_group, f_d, f_h, f_w = W.shape
    (s_d, s_h, s_w), (d_d, d_h, d_w) = stride, dilation
    m, _, n_D, n_H, n_W = dZ.shape
    A_prev_pad = zero_pad_3d(A_prev, pads)
    dA_prev_pad = np.zeros_like(A_prev_pad)
    dW, db = np.zeros_like(W), np.zeros(n_C)
    out_per_group = n_C // groups
    for i in range(m):
        for dd in range(n_D):
            for h in range(n_H):
                for w in range(n_W):
                    for c in range(n_C):
                        g = c // out_per_group
                        window = (i, slice(g * c_per_group, (g + 1) * c_per_group),
                                  slice(dd * s_d, dd * s_d + d_d * (f_d - 1) + 1, d_d),
                                  slice(h * s_h, h * s_h + d_h * (f_h - 1) + 1, d_h),
                                  slice(w * s_w, w * s_w + d_w * (f_w - 1) + 1, d_w))
                        dA_prev_pad[window] += W[c] * dZ[i, c, dd, h, w]
                        dW[c] += A_prev_pad[window] * dZ[i, c, dd, h, w]
                        db[c] += dZ[i, c, dd, h, w]
    crop = tuple(slice(p, p + n) for (p, _), n in zip(pads, A_prev.shape[2:]))
    dA_prev = dA_prev_pad[(slice(None), slice(None), *crop)]
    return (dA_prev, dW) if b is None else (dA_prev, dW, db)


def naive_forward(nd, A_prev, W, b, stride, pads, dilation, groups):
    if nd == 3:
        return conv_forward_3d(A_prev, W, b, stride, pads, dilation, groups)
    if nd == 2:
        return conv_forward_2d(A_prev, W, b, stride, pads, dilation, groups)
    # 1-D is 2-D with a height of 1.
    Z = conv_forward_2d(A_prev[:, :, None], W[:, :, None], b, (1, *stride), [(0, 0), *pads],
                        (1, *dilation), groups)
    return Z[:, :, 0]


def naive_backward(nd, dZ, A_prev, W, b, stride, pads, dilation, groups):
    if nd == 3:
        return conv_backward_3d(dZ, A_prev, W, b, stride, pads, dilation, groups)
    if nd == 2:
        return conv_backward_2d(dZ, A_prev, W, b, stride, pads, dilation, groups)
    grads = conv_backward_2d(dZ[:, :, None], A_prev[:, :, None], W[:, :, None], b, (1, *stride),
                             [(0, 0), *pads], (1, *dilation), groups)
    return (grads[0][:, :, 0], grads[1][:, :, 0], *grads[2:])


# --- random configurations -------------------------------------------------------------------
@st.composite
def conv_configs(draw, nd: int):
    kind = draw(st.sampled_from(["groups1", "groups2", "depthwise"]))
    if kind == "groups1":
        groups, c_per_group, out_per_group = 1, draw(st.integers(1, 3)), draw(st.integers(1, 3))
    elif kind == "groups2":
        groups, c_per_group, out_per_group = 2, draw(st.integers(1, 2)), draw(st.integers(1, 2))
    else:  # depthwise, with a channel multiplier of 1 or 2
        groups, c_per_group, out_per_group = draw(st.integers(2, 3)), 1, draw(st.integers(1, 2))
    kmax, dmax, extra = (4, 3, 5) if nd < 3 else (3, 2, 2)
    kernel = tuple(draw(st.integers(1, kmax)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, dmax)) for _ in range(nd))
    form = draw(st.sampled_from(["int", "tuple", "valid", "same"]))
    if form == "int":
        padding = draw(st.integers(0, 2))
    elif form == "tuple":
        padding = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    else:
        padding = form
    sizes = []
    for i in range(nd):
        span = dilation[i] * (kernel[i] - 1) + 1
        p = {"int": lambda: 2 * padding, "tuple": lambda: 2 * padding[i]}.get(form, lambda: 0)()
        low = 1 if form == "same" else max(1, span - p)
        sizes.append(low + draw(st.integers(0, extra)))
    return {
        "nd": nd, "n": draw(st.integers(1, 3)), "groups": groups, "cin": groups * c_per_group,
        "cout": groups * out_per_group, "kernel": kernel, "stride": stride, "dilation": dilation,
        "padding": padding, "sizes": tuple(sizes), "bias": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


def make_arrays(cfg, dtype=np.float64):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal((cfg["n"], cfg["cin"], *cfg["sizes"])).astype(dtype)
    w = rng.standard_normal((cfg["cout"], cfg["cin"] // cfg["groups"], *cfg["kernel"])).astype(dtype)
    arrays = [x, w]
    if cfg["bias"]:
        arrays.append(rng.standard_normal(cfg["cout"]).astype(dtype))
    return arrays


CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def juanji_fn(cfg):
    conv = CONV[cfg["nd"]]
    kw = {k: cfg[k] for k in ("stride", "padding", "dilation", "groups")}
    if cfg["bias"]:
        return lambda x, w, b: conv(x, w, b, **kw)
    return lambda x, w: conv(x, w, None, **kw)


def torch_fn(cfg):
    torch = torch_or_skip()
    tf = torch.nn.functional
    conv = {1: tf.conv1d, 2: tf.conv2d, 3: tf.conv3d}[cfg["nd"]]
    padding, stride = cfg["padding"], cfg["stride"]
    pads = None
    if padding == "same" and any(s > 1 for s in stride):
        # PyTorch refuses "same" with stride > 1: pad asymmetrically first, TensorFlow's way.
        pairs = pad_pairs("same", cfg["sizes"], cfg["kernel"], stride, cfg["dilation"])
        pads = [p for pair in reversed(pairs) for p in pair]  # last dim first
        padding = 0

    def f(x, w, b=None):
        if pads is not None:
            x = tf.pad(x, pads)
        return conv(x, w, b, stride=stride, padding=padding, dilation=cfg["dilation"],
                    groups=cfg["groups"])
    return f


def naive_fns(cfg):
    nd = cfg["nd"]
    pads = pad_pairs(cfg["padding"], cfg["sizes"], cfg["kernel"], cfg["stride"], cfg["dilation"])
    args = (cfg["stride"], pads, cfg["dilation"], cfg["groups"])

    def fwd(x, w, b=None):
        return naive_forward(nd, x, w, b, *args)

    def bwd(dz, x, w, b=None):
        return naive_backward(nd, dz, x, w, b, *args)
    return fwd, bwd


@contextlib.contextmanager
def conv_route(batch_last: bool, chunk: int | None = None, adjoint: bool = True, compiled: bool = True,
               backward_batch_inner: bool = False, split_k: bool = False, winograd: bool | None = None,
               rowshift: bool | None = None, pointwise_per_image: bool = True,
               direct: bool | None = None):
    """Force ConvNd onto one of its routes (chosen by sizes and layouts otherwise), through the
    planner's public controls (juanji/kernels/conv/planner.py: use_thresholds, use_routes):

    * ``batch_last``: forward and backward in the batch-last layout for every output length
      (else only for a batch-last input; an NCHW one takes the per-image forward);
    * ``backward_batch_inner``: after a per-image forward, dW (and dx by col2im) with the
      batch inside the columns (else per image);
    * ``pointwise_per_image`` False: 1x1 stride-1 convs leave the pointwise route (forward by
      im2col's chunks, dW batch-inner or per image, as above);
    * ``chunk``: gather the columns ``chunk`` images (NCHW) or output rows (batch-last) at a
      time (by a byte budget otherwise; the small test shapes always fit one chunk); the
      batch-last products per kernel row then go one output row at a time;
    * ``adjoint`` False: every input gradient by col2im (stride 1 uses a correlation otherwise);
    * ``compiled`` False: 2-D depthwise convs take the NumPy path even when numba is installed;
    * ``split_k``: the batch-last dW product always cut into pieces of two positions;
    * ``winograd`` True: every 2-D 3x3 stride-1 single-group conv (and such an input-gradient
      correlation) by Winograd's F(2x2, 3x3) when numba is installed, whatever its channels;
      False: none (im2col); None: by the size rule;
    * ``rowshift`` True: every 2-D single-group NCHW conv with more than one kernel row as
      products per kernel row (juanji/kernels/rowshift.py) when NumPy's BLAS can add into
      its output; False: none (im2col); None: by the size rule;
    * ``direct`` True: every 2-D single-group batch-last forward by the direct compiled loop
      (juanji/kernels/direct.py) when numba is installed; False: none; None: by the size rule.
    """
    th = dict(forward_per_image_min_l=10**9 if batch_last else 0,
              adjoint_min_channels=0 if adjoint else 10**9,
              batch_inner_min_cgk=0 if backward_batch_inner else 10**9)
    exclude, forced = [], {}
    if not compiled:
        exclude.append("depthwise")
    if not pointwise_per_image:
        exclude.append("pointwise")
    if split_k:
        th.update(split_k_piece=2, split_k_max_elems=10**9)
    if winograd is True:
        th["winograd_min_channels"] = 0
    elif winograd is False:
        exclude.append("winograd")
    if rowshift is True:
        th["rowshift_min_rows"] = 0
    elif rowshift is False:
        exclude.append("rowshift")
    if direct is True:
        forced["forward"] = "direct"  # wherever it can run: every 2-D single-group batch-last forward
    elif direct is False:
        exclude.append("direct")
    if chunk is not None:
        # chunk images or output rows at a time; products per kernel row in bands of one row.
        th.update(max_chunk=chunk, rowshift_budget_bytes=1, min_dw_positions=1)
    with use_thresholds(**th), use_routes(exclude=exclude, **forced):
        yield


def arrays_for(cfg, dtype=np.float64, batch_last_x=False):
    """make_arrays, with x as a batch-last view (stored (C, *spatial, N)) when asked: the
    layout a layer after a batch-last convolution receives."""
    arrays = make_arrays(cfg, dtype)
    if batch_last_x:
        arrays[0] = from_batch_last(to_batch_last(arrays[0]))  # (both layouts agree when N = 1)
    return arrays


def draw_route(data):
    return dict(batch_last=data.draw(st.booleans(), label="batch_last"),
                chunk=data.draw(st.sampled_from([None, 1, 2]), label="chunk"),
                adjoint=data.draw(st.booleans(), label="adjoint_by_correlation"),
                compiled=data.draw(st.booleans(), label="compiled_depthwise"),
                backward_batch_inner=data.draw(st.booleans(), label="backward_batch_inner"),
                split_k=data.draw(st.booleans(), label="split_k"),
                winograd=data.draw(st.booleans(), label="winograd"),
                rowshift=data.draw(st.booleans(), label="rowshift"),
                pointwise_per_image=data.draw(st.booleans(), label="pointwise_per_image"),
                direct=data.draw(st.booleans(), label="direct_compiled"))


# --- forward and gradients against the three references -------------------------------------
@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on a copy it makes
@pytest.mark.parametrize("nd", [1, 2, 3])
@settings(deadline=None, max_examples=40)
@given(data=st.data())
def test_conv_matches_naive_loops_and_torch(nd, data):
    cfg = data.draw(conv_configs(nd))
    fwd, bwd = naive_fns(cfg)
    x_batch_last = data.draw(st.booleans(), label="batch_last_input")
    with conv_route(**draw_route(data)):
        check_naive(juanji_fn(cfg), fwd, arrays_for(cfg, np.float64, x_batch_last), naive_backward=bwd,
                    what=f"conv{nd}d {cfg}")
        check_torch(juanji_fn(cfg), torch_fn(cfg), arrays_for(cfg, np.float32, x_batch_last),
                    what=f"conv{nd}d {cfg}")


@pytest.mark.parametrize("nd", [1, 2, 3])
@settings(deadline=None, max_examples=25)
@given(data=st.data())
def test_conv_gradcheck(nd, data):
    cfg = data.draw(conv_configs(nd))
    cfg["n"] = min(cfg["n"], 2)
    x_batch_last = data.draw(st.booleans(), label="batch_last_input")
    with conv_route(**draw_route(data)):
        check_gradcheck(juanji_fn(cfg), arrays_for(cfg, np.float64, x_batch_last))


# Hand-picked corners the random draw might miss.
CORNERS = [
    dict(nd=2, n=2, groups=2, cin=4, cout=6, kernel=(2, 3), stride=(1, 1), dilation=(1, 2), padding="same",
         sizes=(5, 7), bias=True),  # stride 1, grouped, dilated, pads (0, 1) and (2, 2): dx by correlation
    dict(nd=2, n=2, groups=1, cin=3, cout=2, kernel=(3, 3), stride=(1, 1), dilation=(1, 1), padding=3,
         sizes=(4, 4), bias=False),  # padding wider than the kernel: dx falls back to col2im
    dict(nd=2, n=3, groups=1, cin=3, cout=4, kernel=(3, 3), stride=(1, 1), dilation=(1, 1), padding=1,
         sizes=(7, 6), bias=True),  # Winograd's 2x2 tiles: an odd height cuts the last tile row
    dict(nd=2, n=2, groups=1, cin=2, cout=3, kernel=(3, 3), stride=(1, 1), dilation=(1, 1), padding=0,
         sizes=(4, 7), bias=False),  # unpadded: odd output width (5), dx by correlation padded by 2
    dict(nd=2, n=1, groups=1, cin=1, cout=2, kernel=(5, 5), stride=(1, 1), dilation=(1, 1), padding=0,
         sizes=(5, 5), bias=True),  # kernel exactly the input: 1x1 output
    dict(nd=2, n=2, groups=1, cin=3, cout=4, kernel=(1, 1), stride=(1, 1), dilation=(1, 1), padding=0,
         sizes=(4, 5), bias=True),  # 1x1 conv: im2col is a free reshape
    dict(nd=2, n=2, groups=2, cin=4, cout=2, kernel=(1, 1), stride=(2, 3), dilation=(1, 1), padding=1,
         sizes=(7, 8), bias=False),  # 1x1 kernel, stride larger than the kernel
    dict(nd=2, n=3, groups=1, cin=2, cout=3, kernel=(2, 3), stride=(3, 2), dilation=(1, 1),
         padding="same", sizes=(7, 10), bias=True),  # "same" stride 3/2, odd total padding
    dict(nd=2, n=1, groups=4, cin=4, cout=8, kernel=(3, 3), stride=(2, 2), dilation=(2, 1),
         padding="same", sizes=(9, 6), bias=True),  # depthwise, multiplier 2, "same" stride 2
    dict(nd=1, n=2, groups=1, cin=2, cout=2, kernel=(4,), stride=(3,), dilation=(3,), padding="same",
         sizes=(11,), bias=True),
    dict(nd=3, n=1, groups=1, cin=2, cout=2, kernel=(2, 3, 1), stride=(1, 2, 3), dilation=(2, 1, 1),
         padding=(1, 0, 2), sizes=(4, 5, 6), bias=True),
]


ROUTES = {
    "per_image": dict(batch_last=False),
    "per_image-batch_inner_backward": dict(batch_last=False, backward_batch_inner=True),
    "batch_last": dict(batch_last=True),
    "batch_last_input": dict(batch_last=False),  # the input decides: batch-last
    "per_image-winograd": dict(batch_last=False, winograd=True),
    "per_image-rowshift": dict(batch_last=False, winograd=False, rowshift=True),
    "batch_last-rowshift-no_correlation": dict(batch_last=True, winograd=False, rowshift=True, adjoint=False),
    "per_image-rowshift-no_correlation": dict(batch_last=False, winograd=False, rowshift=True, adjoint=False),
    "batch_last-rowshift-bands_of_1": dict(batch_last=True, winograd=False, rowshift=True, chunk=1),
    "batch_last-winograd": dict(batch_last=True, winograd=True),
    "batch_last-direct": dict(batch_last=True, winograd=False, direct=True),
    "batch_last_input-direct": dict(batch_last=False, winograd=False, direct=True),
    "batch_last-winograd-col2im": dict(batch_last=True, winograd=True, adjoint=False),
    "per_image-chunks_of_2-col2im-numpy_depthwise": dict(batch_last=False, chunk=2, adjoint=False,
                                                         compiled=False, winograd=False, rowshift=False),
    "per_image-batch_inner-chunks_of_2-col2im": dict(batch_last=False, backward_batch_inner=True, chunk=2,
                                                     adjoint=False, compiled=False, pointwise_per_image=False),
    "batch_last-chunks_of_1-col2im-split_k-numpy_depthwise": dict(batch_last=True, chunk=1, adjoint=False,
                                                                  compiled=False, split_k=True, rowshift=False),
}


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on a copy it makes
@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("cfg", CORNERS, ids=lambda c: f"{c['nd']}d-k{c['kernel']}-s{c['stride']}-p{c['padding']}")
def test_conv_corners(cfg, route):
    cfg = dict(cfg, seed=3)
    fwd, bwd = naive_fns(cfg)
    x_batch_last = route == "batch_last_input"
    with conv_route(**ROUTES[route]):
        check_naive(juanji_fn(cfg), fwd, arrays_for(cfg, np.float64, x_batch_last), naive_backward=bwd)
        check_torch(juanji_fn(cfg), torch_fn(cfg), arrays_for(cfg, np.float32, x_batch_last))
        check_gradcheck(juanji_fn(cfg), arrays_for(cfg, np.float64, x_batch_last))


needs_numba = pytest.mark.skipif(not depthwise_kernels.available(),
                                 reason="numba is not installed (pip install numba): compiled depthwise kernels")


@needs_numba
@pytest.mark.parametrize("mult,stride,dilation,padding", [(1, 1, 1, 1), (2, 2, 1, "same"), (1, 3, 2, 2), (3, 1, 2, 0)])
def test_compiled_depthwise_matches_the_numpy_path(monkeypatch, mult, stride, dilation, padding):
    # The compiled loops and the im2col path on one input: outputs and all three gradients.
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 5, 11, 13)).astype(np.float32)
    w = rng.standard_normal((5 * mult, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5 * mult).astype(np.float32)
    g = rng.standard_normal(F.conv2d(juanji.tensor(x), juanji.tensor(w), stride=stride, padding=padding,
                                     dilation=dilation, groups=5).shape).astype(np.float32)
    results = []
    for excluded in ((), ("depthwise",)):
        tx, tw, tb = (juanji.tensor(a, requires_grad=True) for a in (x, w, b))
        with use_routes(exclude=excluded):
            out = F.conv2d(tx, tw, tb, stride=stride, padding=padding, dilation=dilation, groups=5)
            out.backward(g)
        results.append([out.data, tx.grad.data, tw.grad.data, tb.grad.data])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@needs_numba
@pytest.mark.parametrize("shape,mult,padding,stride", [
    ((2, 3, 9, 11), 1, 1, 1),       # 'same': dx by the forward loop on the flipped kernel
    ((2, 3, 9, 11), 2, 1, 1),       # two outputs per channel: dx by the general loop
    ((2, 3, 9, 11), 1, 0, 1),
    ((2, 3, 9, 11), 1, 2, 1),
    ((2, 3, 9, 11), 1, (2, 0), 1),  # different padding per axis
    ((2, 3, 9, 11), 1, 3, 1),       # padding wider than the kernel: dx by the general loop
    ((1, 2, 1, 1), 1, 1, 1),        # no interior pixel at all
    ((1, 2, 2, 5), 1, 1, 1),
    ((1, 2, 3, 3), 1, 0, 1),        # a 1x1 output, every tap inside
    ((2, 3, 9, 11), 1, 1, 2),       # stride 2: odd sizes, the last column's taps inside
    ((2, 3, 10, 12), 2, 1, 2),      # ... even sizes, the last tap on the padding; two outputs per channel
    ((2, 3, 9, 11), 1, 0, 2),
    ((2, 3, 9, 11), 1, (2, 0), 2),
    ((2, 3, 9, 11), 1, 3, 2),
    ((1, 2, 1, 1), 1, 1, 2),
    ((1, 2, 3, 4), 1, 0, 2),
])
def test_depthwise_3x3_loops_match_the_general_loops_and_torch(monkeypatch, shape, mult, padding, stride):
    # 3x3 at stride 1 or 2 runs on loops with the nine taps written out and the border pixels
    # tap by tap; against the general loops and PyTorch, float64: output and all three gradients.
    torch = torch_or_skip()
    rng = np.random.default_rng(5)
    c = shape[1]
    x = rng.standard_normal(shape)
    w = rng.standard_normal((c * mult, 1, 3, 3))
    b = rng.standard_normal(c * mult)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    t_out = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=padding, groups=c)
    g = rng.standard_normal(tuple(t_out.shape))
    t_out.backward(torch.from_numpy(g))
    results = []
    rule = depthwise_kernels._three_by_three
    assert rule((c * mult, 1, 3, 3), (stride, stride), (1, 1)) == stride
    for written_out in (True, False):
        monkeypatch.setattr(depthwise_kernels, "_three_by_three", rule if written_out else lambda *a: 0)
        jx, jw, jb = (juanji.tensor(a, requires_grad=True) for a in (x, w, b))
        out = F.conv2d(jx, jw, jb, stride=stride, padding=padding, groups=c)
        out.backward(g)
        results.append([out.data, jx.grad.data, jw.grad.data, jb.grad.data])
    for got, general, want, what in zip(*results, [t_out.detach(), tx.grad, tw.grad, tb.grad], ["out", "dx", "dW", "db"]):
        assert_close(got, want.numpy(), 1e-10, 1e-10, f"3x3 loops, {what}")
        assert_close(got, general, 1e-10, 1e-10, f"3x3 loops against the general ones, {what}")


@needs_numba
def test_compiled_depthwise_is_used_for_2d_depthwise(monkeypatch):
    calls = []
    original = depthwise_kernels.forward
    monkeypatch.setattr(depthwise_kernels, "forward", lambda *a: calls.append(1) or original(*a))
    F.conv2d(juanji.randn(2, 4, 6, 6), juanji.randn(4, 1, 3, 3), groups=4)
    F.conv2d(juanji.randn(2, 4, 6, 6), juanji.randn(4, 2, 3, 3), groups=2)  # 2 channels per group: im2col
    F.conv1d(juanji.randn(2, 4, 6), juanji.randn(4, 1, 3), groups=4)        # 1-D: im2col
    assert calls == [1]


def test_rowshift_route_rule(monkeypatch):
    # Products per kernel row where each has enough rows (phases x C*KW >= 24) on the NCHW
    # route; im2col for thin products (a 3-channel first layer), 1x1, grouped and 1-D convs.
    if not blas_kernels.available():
        pytest.skip("no BLAS with a known CBLAS interface in this NumPy: rowshift is off")
    calls = []
    original = rowshift_kernels.forward_nchw
    monkeypatch.setattr(rowshift_kernels, "forward_nchw", lambda *a: calls.append(a[1].shape) or original(*a))
    with juanji.no_grad():
        F.conv2d(juanji.randn(1, 8, 40, 40), juanji.randn(4, 8, 3, 3), padding=1)         # 24 rows: yes
        F.conv2d(juanji.randn(1, 3, 139, 139), juanji.randn(4, 3, 11, 11), stride=4)      # 4 x 33: yes
        F.conv2d(juanji.randn(1, 3, 40, 40), juanji.randn(4, 3, 3, 3), padding=1)         # 9 rows: im2col
        F.conv2d(juanji.randn(1, 8, 40, 40), juanji.randn(4, 8, 1, 1))                    # 1x1
        F.conv2d(juanji.randn(1, 8, 40, 40), juanji.randn(4, 4, 3, 3), groups=2)          # grouped
        F.conv1d(juanji.randn(1, 16, 1600), juanji.randn(4, 16, 3))                        # 1-D
        F.conv2d(juanji.randn(1, 64, 8, 8), juanji.randn(64, 64, 3, 3), padding=1)        # batch-last route
    assert calls == [(4, 8, 3, 3), (4, 3, 11, 11)]


@pytest.mark.parametrize("kernel,stride,dilation,padding", [
    ((2, 3), (3, 1), (1, 1), (0, 1)),  # the bias product spans a third phase, its last row past the input
    ((3, 2), (2, 2), (2, 1), "same"),  # dilated rows: shifts 0, 1, 2 at phase 0, phase 1 unused
    ((4, 3), (3, 2), (1, 1), (2, 0)),  # a product of phases 0 and 1 (rows 0, 1; row 3 is shift 1)
])
def test_rowshift_reads_nothing_it_did_not_write(monkeypatch, kernel, stride, dilation, padding):
    # Its column buffers are uninitialised: the padding (NCHW), phases a product spans under
    # zero weights and rows past the input (batch-last) must be zeroed, or 0 * NaN reaches
    # the output or dW. NaN-filled scratch here, in both layouts.
    monkeypatch.setattr(rowshift_kernels, "_scratch", lambda size, dtype: np.full(size, np.nan, dtype))
    rng = np.random.default_rng(6)
    x, b = rng.standard_normal((3, 4, 8, 9)), rng.standard_normal(5)  # 8 rows: phase rows past the end
    w = rng.standard_normal((5, 4, *kernel))
    args = dict(stride=stride, dilation=dilation, padding=padding)
    with conv_route(batch_last=False, rowshift=False):
        want = F.conv2d(juanji.tensor(x), juanji.tensor(w), juanji.tensor(b), **args).data
    for batch_last, chunk in ((True, None), (True, 1), (False, None)):
        tx, tw = juanji.tensor(x, requires_grad=True), juanji.tensor(w, requires_grad=True)
        with conv_route(batch_last=batch_last, rowshift=True, chunk=chunk):
            got = F.conv2d(tx, tw, juanji.tensor(b), **args)
            got.sum().backward()  # dW on the same columns
        assert is_batch_last(got.data) == batch_last
        np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)
        assert np.isfinite(tw.grad.data).all() and np.isfinite(tx.grad.data).all()


@pytest.mark.parametrize("stride,dilation,padding", [(1, 1, 1), (2, 1, "same"), (3, 2, 2), ((2, 1), (1, 2), (0, 3))])
def test_rowshift_on_the_matmul_fallback(monkeypatch, stride, dilation, padding):
    # Without a BLAS that adds into its output, blas.gemm adds a matmul's result itself: the
    # route is then off by the rule, but the kernel still computes the same values.
    monkeypatch.setattr(blas_kernels, "_cblas", lambda kind: None)
    assert not blas_kernels.available(np.float64)
    assert F.conv_plan((1, 8, 40, 40), (4, 8, 3, 3), dtype=np.float64).forward.name != "rowshift"
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 3, 11, 9)), rng.standard_normal((4, 3, 3, 4)), rng.standard_normal(4)
    want = F.conv2d(juanji.tensor(x), juanji.tensor(w), juanji.tensor(b), stride=stride, padding=padding,
                    dilation=dilation).data  # im2col
    pads = resolve_padding(padding, x.shape[2:], w.shape[2:], ntuple(stride, 2, "t", "s"),
                           ntuple(dilation, 2, "t", "d"), "conv2d")
    for budget in (1, 2**20):  # one image per product; both images in one
        got = np.full(want.shape, np.nan)
        rowshift_kernels.forward_nchw(x, w, b, ntuple(stride, 2, "t", "s"), pads, ntuple(dilation, 2, "t", "d"),
                                      got, budget)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@needs_numba
@pytest.mark.parametrize("user_layer", [None, "omp"])
def test_compiled_loops_run_on_numbas_own_pool_unless_the_user_chose(user_layer):
    # OpenMP threads that spin after each loop fought OpenBLAS's threads for the cores (an
    # Xception step 1.7x slower, Winograd 4x beside PyTorch): juanji picks numba's 'workqueue'
    # pool, and keeps a layer the user set. A fresh process: the layer is chosen once.
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    if user_layer is not None:
        env["NUMBA_THREADING_LAYER"] = user_layer
    script = ("import juanji, juanji.functional as F, numba\n"
              "F.conv2d(juanji.randn(1, 4, 5, 5), juanji.randn(4, 1, 3, 3), groups=4)\n"
              "print(numba.threading_layer())\n")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [user_layer or "workqueue"]


@needs_numba
def test_compiled_loops_load_from_numbas_disk_cache_in_a_second_process(tmp_path):
    # numba keys a closure's cache entries on its captured variables; a captured dispatcher
    # pickles with a per-process id, so every process compiled the depthwise loops again
    # (~5 s) and added entries to the cache. Two fresh processes on one cache directory:
    # the second must load every loop (depthwise, Winograd, batch norm, max pooling) and
    # compile none.
    script = """
import juanji, juanji.functional as F
from juanji.kernels import batchnorm, maxpool
from juanji.kernels.conv import depthwise, direct, winograd
x = juanji.randn(2, 8, 9, 9, requires_grad=True)
y = F.conv2d(x, juanji.randn(128, 1, 3, 3, requires_grad=True), padding=1, groups=8)  # 3x3 loops
y = y + F.conv2d(x, juanji.randn(128, 1, 3, 3, requires_grad=True), stride=2, padding=5, groups=8)  # stride 2
y = y + F.conv2d(x, juanji.randn(128, 1, 3, 3, requires_grad=True), padding=2, dilation=2, groups=8)  # general
y = F.conv2d(y, juanji.randn(128, 128, 3, 3, requires_grad=True), padding=1)
F.max_pool2d(F.batch_norm(y, None, None, training=True), 3, 2, 1).sum().backward()
F.conv2d(juanji.randn(32, 1, 12, 12), juanji.randn(6, 1, 5, 5), padding=2)  # LeNet-5's c1: direct
modules = [depthwise._kernels(), winograd._kernels(), batchnorm._loops(), maxpool._loops(), direct._kernels()]
loops = [v for m in modules for v in vars(m).values()  # the parallel loops (helpers are inlined)
         if hasattr(v, "stats") and v.targetoptions.get("parallel")]
print(len(loops), sum(sum(d.stats.cache_hits.values()) for d in loops),
      sum(sum(d.stats.cache_misses.values()) for d in loops))
"""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
            for _ in range(2)]
    loops, _, first_misses = map(int, runs[0].stdout.split())
    # Every family ran, forward and backward: depthwise 8 (the general loops, the 3x3 ones at
    # stride 1 and at stride 2), Winograd 4, batch norm 3, max pool 5, direct 1.
    assert loops == 8 + 4 + 3 + 5 + 1 and first_misses >= 15
    assert runs[1].stdout.split() == [str(loops), str(first_misses), "0"]


@needs_numba
def test_compiled_loops_from_two_threads_at_once():
    # The workqueue pool aborts the process when two threads launch loops at once; juanji's
    # launches take turns. Four threads run every compiled loop (depthwise, Winograd and
    # direct convs, batch norm, max pooling; forward and backward) side by side in a fresh
    # process, and must get what one thread gets. (128 channels: Winograd's size rule; the
    # direct loop's rule wants a batch of 32 and at most 8 output channels.)
    script = """
import threading, numpy as np, juanji, juanji.functional as F
from juanji.kernels import batchnorm, maxpool
from juanji.kernels.conv import depthwise, direct, winograd
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 128, 9, 9)).astype(np.float32)
x1 = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
w1 = rng.standard_normal((6, 1, 5, 5)).astype(np.float32)
w3 = rng.standard_normal((128, 128, 3, 3)).astype(np.float32)
wd = rng.standard_normal((128, 1, 3, 3)).astype(np.float32)
def run():
    tx = juanji.tensor(x, requires_grad=True)
    y = F.conv2d(F.conv2d(tx, juanji.tensor(wd), padding=1, groups=128), juanji.tensor(w3), padding=1)
    y = F.max_pool2d(F.batch_norm(y, None, None, training=True), 3, 2, 1)
    y.sum().backward()
    y1 = F.conv2d(juanji.tensor(x1), juanji.tensor(w1), padding=2)  # LeNet-5's c1: the direct loop
    return np.concatenate([y.data.ravel(), y1.data.ravel()]), tx.grad.data.copy()
launched = []
for module, names in ((depthwise, ["forward"]), (winograd, ["forward_batch_last", "forward_nchw"]),
                      (direct, ["forward"]), (batchnorm, ["train_forward"]), (maxpool, ["forward"])):
    for name in names:
        original = getattr(module, name)
        tag = module.__name__.rsplit(".", 1)[1] + "." + name
        setattr(module, name, lambda *a, _f=original, _t=tag, **k: launched.append(_t) or _f(*a, **k))
want = run()
assert {"depthwise.forward", "direct.forward", "batchnorm.train_forward", "maxpool.forward"} <= set(launched), launched
assert any(t.startswith("winograd.") for t in launched), launched  # Winograd ran
got = [None] * 4
def work(i):
    for _ in range(20):
        got[i] = run()
threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert all(np.array_equal(g[0], want[0]) and np.array_equal(g[1], want[1]) for g in got)
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.split() == ["ok"], out.stderr[-2000:]


@needs_numba
@pytest.mark.parametrize("batch_last", [False, True])
def test_winograd_is_used_for_3x3_stride_1_convs_with_enough_channels(monkeypatch, batch_last):
    from juanji.kernels.conv import winograd
    calls = []
    for name in ("forward_nchw", "forward_batch_last"):
        original = getattr(winograd, name)
        monkeypatch.setattr(winograd, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
    with conv_route(batch_last=batch_last):
        x = juanji.randn(2, 128, 6, 6, requires_grad=True)
        F.conv2d(x, juanji.randn(128, 128, 3, 3), padding=1).sum().backward()  # forward and dx
        assert calls == ["forward_batch_last" if batch_last else "forward_nchw"] * 2
        calls.clear()
        F.conv2d(juanji.randn(2, 64, 6, 6), juanji.randn(128, 64, 3, 3), padding=1)  # 64 channels in
        F.conv2d(juanji.randn(2, 128, 6, 6), juanji.randn(64, 128, 3, 3), padding=1)  # 64 channels out
        F.conv2d(juanji.randn(2, 128, 6, 6), juanji.randn(128, 128, 3, 3), stride=2)  # strided
        F.conv2d(juanji.randn(2, 128, 6, 6), juanji.randn(128, 128, 5, 5))  # 5x5
        F.conv2d(juanji.randn(2, 128, 6, 6), juanji.randn(128, 64, 3, 3), groups=2)  # grouped
        F.conv2d(juanji.randn(2, 128, 6, 6), juanji.randn(128, 128, 3, 3), dilation=2)  # dilated
        F.conv1d(juanji.randn(2, 128, 6), juanji.randn(128, 128, 3))  # 1-D
        assert calls == []


@needs_numba
@pytest.mark.parametrize("batch_last", [False, True])
def test_winograd_at_its_size_rule_matches_torch_and_im2col(batch_last):
    # 128 -> 160 channels at 9x11 (both last tiles cut), float32, with a bias: the route networks
    # take. Sums of 1152 unit-variance products reach ~150, where float32 rounding is ~1e-5:
    # measured against float64 (at 64 channels), im2col was off by up to 6e-5, Winograd 4e-5 and
    # PyTorch 3e-5, so the absolute tolerance scales with the outputs (the default 1e-5 suits
    # small sums).
    cfg = dict(nd=2, n=3, groups=1, cin=128, cout=160, kernel=(3, 3), stride=(1, 1), dilation=(1, 1),
               padding=1, sizes=(9, 11), bias=True, seed=7)
    arrays = arrays_for(cfg, np.float32, batch_last)
    with conv_route(batch_last=batch_last):
        check_torch(juanji_fn(cfg), torch_fn(cfg), arrays, atol=2e-4)
        by_winograd = juanji_fn(cfg)(*(juanji.tensor(a) for a in arrays)).data
    with conv_route(batch_last=batch_last, winograd=False):
        by_im2col = juanji_fn(cfg)(*(juanji.tensor(a) for a in arrays)).data
    np.testing.assert_allclose(by_winograd, by_im2col, rtol=1e-4, atol=2e-4)


@needs_numba
def test_direct_loop_takes_thin_batch_last_convs_by_its_size_rule(monkeypatch):
    # LeNet-5's c1 (1 -> 6 channels, 5x5, "same" by padding 2) at a batch of 32 or more runs
    # on the direct loop and matches PyTorch; more output channels, a smaller batch, a stride,
    # groups or 1-D keep the GEMM route.
    from juanji.kernels.conv import direct
    torch = torch_or_skip()
    calls = []
    original = direct.forward
    monkeypatch.setattr(direct, "forward", lambda *a: calls.append(a[1].shape) or original(*a))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 1, 12, 12)).astype(np.float32)
    w = rng.standard_normal((6, 1, 5, 5)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    out = F.conv2d(Tensor(x), Tensor(w), Tensor(b), padding=2)
    assert calls == [(6, 1, 5, 5)] and is_batch_last(out.data)
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=2)
    assert_close(out.data, expected.numpy(), 1e-5, 1e-5, "direct conv")
    calls.clear()
    F.conv2d(juanji.randn(32, 1, 12, 12), juanji.randn(9, 1, 5, 5), padding=2)  # 9 output channels
    F.conv2d(juanji.randn(31, 1, 12, 12), juanji.randn(6, 1, 5, 5), padding=2)  # batch of 31
    F.conv2d(juanji.randn(32, 1, 12, 12), juanji.randn(6, 1, 5, 5), stride=2)  # strided
    F.conv2d(juanji.randn(32, 2, 12, 12), juanji.randn(6, 1, 5, 5), groups=2)  # grouped
    F.conv1d(juanji.randn(32, 1, 12), juanji.randn(6, 1, 5))  # 1-D
    assert calls == []


def test_batch_chunk_follows_the_column_budget():
    th = Thresholds(cols_budget_bytes=8 * 2**20)
    # (8, 64, 56, 56) 3x3: 7.2 MB of columns per image -> one image at a time.
    assert batch_chunk(8, 64 * 9 * 56 * 56 * 4, th) == 1
    # resnet18's last stage at 4x4: 295 kB per image -> 28 images per chunk.
    assert batch_chunk(64, 512 * 9 * 16 * 4, th) == 28
    assert batch_chunk(3, 10, th) == 3  # never more than the batch
    assert batch_chunk(3, 10**12, th) == 1  # never less than one image
    assert batch_chunk(64, 10**12, th, min_images=16) == 16  # backward's floor on dW's length
    assert batch_chunk(64, 10, Thresholds(max_chunk=5)) == 5  # the cap


def test_row_chunk_follows_the_column_budget():
    th = Thresholds(batch_last_budget_bytes=32 * 2**20)
    # resnet18's 128-channel stage at 16x16, batch 64: one output row of every image is
    # 1152 x 16*64 columns (4.7 MB) -> 7 rows at a time.
    assert row_chunk(16, 1152 * 16 * 64 * 4, th) == 7
    assert row_chunk(4, 10, th) == 4  # never more than the rows
    assert row_chunk(4, 10**12, th) == 1  # never less than one row
    assert row_chunk(16, 10**12, th, min_rows=3) == 3  # backward's floor on dW's length
    assert row_chunk(16, 10, Thresholds(max_chunk=2)) == 2  # the cap


def test_conv_under_a_tiny_column_budget_matches_torch():
    # Budget of one byte: every image (NCHW) or output row (batch-last) is its own chunk, in
    # forward and in every backward layout.
    cfg = dict(nd=2, n=3, groups=1, cin=8, cout=5, kernel=(3, 3), stride=(1, 1), dilation=(1, 1),
               padding=1, sizes=(6, 7), bias=True, seed=5)
    for route in ({"batch_last": True}, {"batch_last": False}, {"batch_last": False, "backward_batch_inner": True}):
        for adjoint in (False, True):
            with conv_route(**route, adjoint=adjoint), \
                    use_thresholds(cols_budget_bytes=1, batch_last_budget_bytes=1, min_dw_positions=1):
                check_torch(juanji_fn(cfg), torch_fn(cfg), make_arrays(cfg, np.float32))


@pytest.mark.parametrize("cin,size,k,batch_last,expected", [
    (64, 6, 3, False, ("batch_last", "rowshift")),  # 6x6: short rows -> batch-last, whatever the input layout
    (1, 6, 5, False, ("batch_last", "batch_last")),
    (64, 40, 3, False, ("nchw", "rowshift")),   # 38x38 outputs, NCHW input: per-image forward; dW by kernel rows
    (64, 40, 1, False, ("nchw", "pointwise")),  # 1x1 (no kernel rows to shift): dW per image on x itself
    (2, 40, 5, False, ("nchw", "im2col")),      # Cg*K = 50 (and 2 x 5 rows per kernel row): per-image backward
    (1, 40, 5, False, ("batch_last", "batch_last")),  # a first layer (1 -> 8 channels) at stride 1: batch-last
    (4, 40, 3, True, ("batch_last", "batch_last")),  # a batch-last input stays batch-last at any size (12 rows)
])
def test_route_is_chosen_by_output_length_layout_and_gemm_size(monkeypatch, cin, size, k, batch_last,
                                                                expected):
    # The plan names the layout and the dW route, and that route is the one backward runs.
    from juanji.kernels.conv import ROUTES
    layout, dw_route = expected
    if dw_route == "rowshift" and not blas_kernels.available():
        dw_route = "batch_last" if layout == "batch_last" else "batch_inner"  # no BLAS that adds into its output
    calls = []
    for route in ROUTES.values():
        for name in ("weight_grad", "grads"):
            original = getattr(route, name)
            monkeypatch.setattr(route, name, lambda *a, _f=original, _r=route.name: calls.append(_r) or _f(*a))
    data = np.random.default_rng(0).standard_normal((3, cin, size, size)).astype(np.float32)
    if batch_last:
        data = from_batch_last(to_batch_last(data))
    x = juanji.tensor(data, requires_grad=True)
    w = juanji.randn(8, cin, k, k, requires_grad=True)
    plan = F.conv_plan(data.shape, w.shape, batch_last_input=batch_last)
    assert (plan.layout, plan.dw.name) == (layout, dw_route)
    out = F.conv2d(x, w)
    assert is_batch_last(out.data) == (layout == "batch_last")
    out.sum().backward()
    assert calls[0] == dw_route
    assert is_batch_last(x.grad.data) == (layout == "batch_last")  # the gradient in x's layout


@pytest.mark.parametrize("groups,bias,dtype", [(1, True, np.float32), (1, False, np.float64), (2, True, np.float32)])
def test_pointwise_forward_is_one_product_per_image_onto_the_bias(monkeypatch, groups, bias, dtype):
    # An NCHW 1x1 stride-1 conv with one group writes the bias into its output and adds each
    # image's product onto it; grouped ones keep the stacked matmul. Both against PyTorch.
    torch = torch_or_skip()
    calls = []
    original = pointwise_route._per_image_onto_bias
    monkeypatch.setattr(pointwise_route, "_per_image_onto_bias", lambda *a: calls.append(1) or original(*a))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5, 6)).astype(dtype)
    w = rng.standard_normal((6, 4 // groups, 1, 1)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype) if bias else None
    out = F.conv2d(Tensor(x), Tensor(w), None if b is None else Tensor(b), groups=groups)
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                          None if b is None else torch.from_numpy(b), groups=groups)
    assert_close(out.data, expected.numpy(), 1e-5, 1e-6, "1x1 conv")
    assert len(calls) == (1 if groups == 1 and blas_kernels.available(dtype) else 0)


@pytest.mark.parametrize("x_shape,w_shape,kwargs", [
    ((0, 4, 9, 9), (6, 4, 3, 3), dict(padding=1)),             # per image / products per kernel row
    ((0, 4, 9, 9), (6, 4, 1, 1), {}),                          # 1x1
    ((0, 4, 9, 9), (4, 1, 3, 3), dict(padding=1, groups=4)),   # depthwise
    ((0, 4, 9, 9), (6, 4, 3, 3), dict(stride=2)),              # short outputs: batch-last
    ((0, 1, 28, 28), (6, 1, 5, 5), dict(padding=2)),           # LeNet-5's c1
    ((0, 128, 6, 6), (128, 128, 3, 3), dict(padding=1)),       # Winograd's size
    ((0, 4, 9), (6, 4, 3), {}),                                # 1-D
])
@pytest.mark.parametrize("direct", [None, True])
def test_conv_of_an_empty_batch_matches_torch(x_shape, w_shape, kwargs, direct):
    # PyTorch allows N = 0: an empty output, an empty input gradient, zero weight and bias
    # gradients. Every route used to fail on it (a reshape by -1 of an empty array, or a
    # chunk size of zero).
    torch = torch_or_skip()
    op = "conv2d" if len(x_shape) == 4 else "conv1d"
    with conv_route(batch_last=False, direct=direct):
        x, w, b = (juanji.tensor(a, requires_grad=True) for a in
                   (np.zeros(x_shape, np.float32), np.ones(w_shape, np.float32), np.ones(w_shape[0], np.float32)))
        y = getattr(F, op)(x, w, b, **kwargs)
        y.sum().backward()
    tx, tw, tb = (torch.tensor(a.data, requires_grad=True) for a in (x, w, b))
    ty = getattr(torch.nn.functional, op)(tx, tw, tb, **kwargs)
    ty.sum().backward()
    assert y.shape == tuple(ty.shape) and x.grad.shape == x_shape
    np.testing.assert_array_equal(w.grad.data, tw.grad.numpy())
    np.testing.assert_array_equal(b.grad.data, tb.grad.numpy())


# --- strides wider than the window: work and memory scale with the output ---------------------
BIG = 10**9
# (op, input shape, weight shape, kwargs for both, kwargs for PyTorch where they differ)
WIDE_STRIDE_CASES = [
    ("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), dict(stride=BIG), None),
    ("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), dict(stride=10**7), None),              # the reported case
    ("conv2d", (2, 3, 9, 10), (4, 3, 3, 3), dict(stride=4, padding=1), None),      # s = k + 1
    ("conv2d", (2, 3, 9, 10), (4, 3, 3, 2), dict(stride=(4, 3)), None),            # s = k + 1, both axes
    ("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), dict(stride=(1, BIG), padding=(1, 2)), None),
    ("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), dict(stride=(BIG, 2)), None),
    ("conv2d", (1, 2, 23, 9), (3, 2, 3, 2), dict(stride=(7, BIG), dilation=(2, 3), padding=1), None),
    ("conv2d", (2, 4, 8, 8), (4, 1, 3, 3), dict(stride=BIG, padding=1, groups=4), None),  # depthwise
    ("conv2d", (2, 4, 8, 8), (6, 2, 3, 3), dict(stride=(BIG, 5), groups=2), None),
    ("conv2d", (2, 3, 8, 8), (4, 3, 1, 1), dict(stride=BIG, padding=1), None),     # 1x1 kernel
    ("conv2d", (2, 3, 8, 8), (4, 3, 1, 1), dict(stride=3), None),
    ("conv2d", (64, 8, 8, 8), (8, 8, 3, 3), dict(stride=BIG), None),               # batch-last sizes
    # "same" with a huge stride: out = ceil(8 / s) = 1 and the pad total max(e - n, 0) = 3 for
    # a 3-tap kernel dilated by 5 (e = 11): PyTorch refuses "same" with stride > 1, so it
    # gets TensorFlow's pads (1 before, 2 after) explicitly.
    ("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), dict(stride=BIG, dilation=5, padding="same"),
     dict(stride=BIG, dilation=5, padding=0, pad=(1, 2, 1, 2))),
    # Huge padding must not be materialised either: with P = S the windows start at padded
    # 0, S, 2S, i.e. input -S, 0, S, so an 8-long input sees one window at its start whatever
    # S >= 8 is: P = S = 10**9 gives what P = S = 10 gives, which PyTorch can pad.
    ("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), dict(stride=BIG, padding=BIG), dict(stride=10, padding=10)),
    ("conv1d", (2, 3, 8), (4, 3, 3), dict(stride=BIG, padding=1), None),
    ("conv1d", (2, 3, 30), (4, 3, 3), dict(stride=5, dilation=2, padding=2), None),
    ("conv3d", (1, 2, 5, 6, 7), (3, 2, 2, 3, 2), dict(stride=(BIG, 1, 4), padding=1), None),
]


@pytest.mark.parametrize("op,x_shape,w_shape,kwargs,torch_kwargs", WIDE_STRIDE_CASES)
def test_strides_wider_than_the_window_match_torch(op, x_shape, w_shape, kwargs, torch_kwargs):
    # Every route used to gather or loop by the stride: stride 10**7 on 8x8 took a minute and
    # 690 MB for a 1x1 output (the phase loops of the products per kernel row), 10**9 asked for
    # 67 GiB; a huge padding was allocated in full.
    torch = torch_or_skip()
    tf = torch.nn.functional
    tkw = dict(torch_kwargs or kwargs)
    pad = tkw.pop("pad", None)
    # PyTorch's own backward takes time by the stride (10**5 already runs for minutes); an axis
    # with a stride past its padded size has one window whatever the stride, so PyTorch gets
    # the padded size there instead: the same single window at the start.
    nd = len(x_shape) - 2
    strides, pads = ntuple(tkw["stride"], nd, op, "stride"), ntuple(tkw.get("padding", 0), nd, op, "padding")
    sizes = [n + 2 * p + (0 if pad is None else pad[2 * (nd - 1 - i)] + pad[2 * (nd - 1 - i) + 1])
             for i, (n, p) in enumerate(zip(x_shape[2:], pads))]
    tkw["stride"] = tuple(min(s, n) for s, n in zip(strides, sizes))

    def tconv(x, w, b):
        return getattr(tf, op)(x if pad is None else tf.pad(x, pad), w, b, **tkw)

    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(x_shape).astype(np.float32), rng.standard_normal(w_shape).astype(np.float32),
              rng.standard_normal(w_shape[0]).astype(np.float32)]
    check_torch(lambda x, w, b: getattr(F, op)(x, w, b, **kwargs), tconv, arrays, what=f"{op} {kwargs}")
    if math.prod(getattr(F, op)(Tensor(arrays[0]), Tensor(arrays[1]), **kwargs).shape) <= 1000:
        check_gradcheck(lambda x, w, b: getattr(F, op)(x, w, b, **kwargs), [a.astype(np.float64) for a in arrays])


@pytest.mark.parametrize("route", [dict(batch_last=False), dict(batch_last=True),
                                   dict(batch_last=False, rowshift=True), dict(batch_last=True, rowshift=True),
                                   dict(batch_last=False, compiled=False)])
def test_a_huge_stride_costs_what_its_output_costs(route):
    # Memory (numpy reports its allocations to tracemalloc) bounded by a small multiple of the
    # input: a (2, 4, 8, 8) float32 input is 2 KB; before, stride 10**9 asked for 67 GiB.
    import tracemalloc
    x = juanji.randn(2, 4, 8, 8, requires_grad=True)
    for w, kwargs in [(juanji.randn(6, 4, 3, 3, requires_grad=True), dict(stride=BIG, padding=BIG)),
                      (juanji.randn(4, 1, 3, 3, requires_grad=True), dict(stride=BIG, groups=4)),
                      (juanji.randn(6, 4, 5, 5, requires_grad=True), dict(stride=(BIG, 1), dilation=(BIG // 10, 1),
                                                                           padding=(BIG // 2, 2)))]:
        with conv_route(**route):
            tracemalloc.start()
            try:
                y = F.conv2d(x, w, stride=kwargs.pop("stride"), **kwargs)
                y.sum().backward()
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        assert peak < 2**20, f"stride {kwargs}: peak {peak} bytes for output {y.shape}"


@pytest.mark.parametrize("op,x_shape,w_shape,kwargs,message", [
    ("conv2d", (2, 3, 8, 8), (0, 3, 3, 3), {},
     r"conv2d: weight has 0 output channels \(weight shape \(0, 3, 3, 3\)\); groups=1 needs at least 1"),
    ("conv2d", (0, 3, 8, 8), (0, 3, 3, 3), dict(padding=1, stride=2),
     r"conv2d: weight has 0 output channels \(weight shape \(0, 3, 3, 3\)\); groups=1 needs at least 1"),
    ("conv2d", (2, 4, 8, 8), (0, 2, 3, 3), dict(groups=2),
     r"conv2d: weight has 0 output channels \(weight shape \(0, 2, 3, 3\)\); groups=2 needs at least 2"),
    ("conv1d", (2, 3, 8), (0, 3, 3), {},
     r"conv1d: weight has 0 output channels \(weight shape \(0, 3, 3\)\); groups=1 needs at least 1"),
    ("conv2d", (2, 0, 8, 8), (4, 0, 3, 3), {},
     r"conv2d: input has 0 channels \(input shape \(2, 0, 8, 8\)\); a convolution needs at least one"),
    ("conv2d", (2, 0, 8, 8), (4, 0, 3, 3), dict(groups=2),
     r"conv2d: input has 0 channels \(input shape \(2, 0, 8, 8\)\); a convolution needs at least one"),
])
def test_empty_channel_axes_raise_clear_errors(op, x_shape, w_shape, kwargs, message):
    # Zero output channels: PyTorch 2.14.1 raises ("expected weight to be at least 1 at
    # dimension 0"); ours gave NumPy's reshape error. Zero input channels: PyTorch returns an
    # (N, 0, H', W') output whatever O the weight declares (not the O bias planes the empty sum
    # would give), a shape the next layer cannot take; ours raised ZeroDivisionError. Both are
    # now a clear error naming the op, the argument and the shape.
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape).astype(np.float32), rng.standard_normal(w_shape).astype(np.float32)
    with pytest.raises(ValueError, match=message):
        getattr(F, op)(Tensor(x), Tensor(w), **kwargs)
    tconv = getattr(torch.nn.functional, op)
    if w_shape[0] == 0:
        with pytest.raises(RuntimeError, match="expected weight to be at least"):
            tconv(torch.tensor(x), torch.tensor(w), **kwargs)
    else:
        assert tconv(torch.tensor(x), torch.tensor(w), **kwargs).shape[1] == 0 != w_shape[0]


def test_tensorflow_documented_same_and_valid_example():
    # tf.nn.conv2d docs: NHWC input (1, 13, 5, 5), 6x3 filter from 5 to 2 channels,
    # strides (5, 2): "same" gives 3x3 (padding rows 1 top / 2 bottom, cols 1 / 1), "valid" 2x2.
    rng = np.random.default_rng(0)
    x_nhwc = rng.standard_normal((1, 13, 5, 5))
    x = x_nhwc.transpose(0, 3, 1, 2).copy()  # (1, 5, 13, 5)
    w = rng.standard_normal((2, 5, 6, 3))
    same = F.conv2d(Tensor(x), Tensor(w), stride=(5, 2), padding="same")
    valid = F.conv2d(Tensor(x), Tensor(w), stride=(5, 2), padding="valid")
    assert same.shape == (1, 2, 3, 3)
    assert valid.shape == (1, 2, 2, 2)
    assert_close(same.data, conv_forward_2d(x, w, None, (5, 2), [(1, 2), (1, 1)], (1, 1), 1),
                 1e-10, 1e-10, "same")
    assert_close(valid.data, conv_forward_2d(x, w, None, (5, 2), [(0, 0), (0, 0)], (1, 1), 1),
                 1e-10, 1e-10, "valid")


# --- dtype, graph and memory behaviour -------------------------------------------------------
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_float32_stays_float32_in_forward_and_every_gradient(nd):
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 4) + (5,) * nd).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((6, 2) + (3,) * nd).astype(np.float32), requires_grad=True)
    b = Tensor(rng.standard_normal(6).astype(np.float32), requires_grad=True)
    y = CONV[nd](x, w, b, stride=2, padding=1, groups=2)
    assert y.dtype == np.float32
    # Call backward directly: run_backward would cast a float64 gradient back silently.
    grads = y._ctx.backward(np.ones(y.shape, np.float32))
    assert [g.dtype for g in grads] == [np.float32] * 3
    assert [g.shape for g in grads] == [x.shape, w.shape, b.shape]


def test_no_grad_records_nothing_and_grad_mode_keeps_only_input_and_weight():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 3, 9, 9)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    with juanji.no_grad():
        y = F.conv2d(x, w, padding=1)
    assert y._ctx is None and not y.requires_grad
    y = F.conv2d(x, w, padding=1)
    saved_bytes = sum(a.nbytes for a in y._ctx.saved if isinstance(a, np.ndarray))
    assert saved_bytes == x.data.nbytes + w.data.nbytes  # no columns, no padded copy


def test_only_requested_gradients_are_computed():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 2, 6, 6)))
    w = Tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = Tensor(rng.standard_normal(3))
    y = F.conv2d(x, w, b)
    dx, dw, db = y._ctx.backward(np.ones(y.shape))
    assert dx is None and db is None and dw.shape == w.shape
    x.requires_grad_(True)
    w.requires_grad_(False)
    y = F.conv2d(x, w, b)
    dx, dw, db = y._ctx.backward(np.ones(y.shape))
    assert dw is None and db is None
    expected = conv_backward_2d(np.ones(y.shape), x.data, w.data, None, (1, 1), [(0, 0)] * 2, (1, 1), 1)[0]
    assert_close(dx, expected, 1e-12, 1e-12, "dx")


def test_gradient_from_a_broadcast_cotangent():
    # sum().backward() hands conv a read-only broadcast view as its output gradient.
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 2, 2, 3)), requires_grad=True)
    F.conv2d(x, w, stride=(2, 1)).sum().backward()
    dx, dw = conv_backward_2d(np.ones((2, 3, 2, 4)), x.data, w.data, None, (2, 1), [(0, 0)] * 2, (1, 1), 1)
    assert_close(x.grad.data, dx, 1e-12, 1e-12, "dx")
    assert_close(w.grad.data, dw, 1e-12, 1e-12, "dw")


def test_im2col_col2im_are_adjoint():
    # <im2col(x), c> == <x, col2im(c)> for every x, c: col2im is exactly the transpose.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 9, 8))
    for kernel, stride, dilation in [((3, 2), (2, 3), (1, 2)), ((1, 1), (1, 1), (1, 1)), ((4, 4), (3, 1), (2, 1))]:
        cols = im2col(x, kernel, stride, dilation)
        c = rng.standard_normal(cols.shape)
        lhs = np.sum(cols * c)
        rhs = np.sum(x * col2im(c, x.shape, kernel, stride, dilation))
        assert abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs))


# --- bad inputs --------------------------------------------------------------------------------
def _t(*shape, dtype=np.float32):
    return Tensor(np.zeros(shape, dtype=dtype))


BAD_CALLS = [
    ("rank", lambda: F.conv2d(_t(1, 28, 28), _t(6, 1, 5, 5)), ValueError,
     r"conv2d: expected a 4-D input \(N, C, H, W\), got shape \(1, 28, 28\)"),
    ("rank1d", lambda: F.conv1d(_t(1, 2, 3, 28), _t(6, 2, 5)), ValueError,
     r"conv1d: expected a 3-D input \(N, C, L\), got shape \(1, 2, 3, 28\)"),
    ("rank3d", lambda: F.conv3d(_t(1, 2, 8, 8), _t(6, 2, 3, 3, 3)), ValueError,
     r"conv3d: expected a 5-D input \(N, C, D, H, W\), got shape \(1, 2, 8, 8\)"),
    ("weight rank", lambda: F.conv2d(_t(1, 1, 28, 28), _t(6, 5, 5)), ValueError,
     r"conv2d: expected a 4-D weight \(O, C/groups, KH, KW\), got shape \(6, 5, 5\)"),
    ("channels", lambda: F.conv2d(_t(1, 3, 28, 28), _t(6, 1, 5, 5)), ValueError,
     r"conv2d: input has 3 channels but weight expects 1 \(weight shape \(6, 1, 5, 5\), groups=1\)"),
    ("kernel too large", lambda: F.conv2d(_t(1, 1, 5, 8), _t(2, 1, 7, 3)), ValueError,
     r"conv2d: kernel size 7 \(dilated to 7\) is larger than the padded input size 5 in spatial dim 0"),
    ("dilated kernel too large", lambda: F.conv2d(_t(1, 1, 8, 6), _t(2, 1, 3, 3), padding=(1, 0),
                                                  dilation=3), ValueError,
     r"conv2d: kernel size 3 \(dilated to 7\) is larger than the padded input size 6 in spatial dim 1 "
     r"\(input shape \(1, 1, 8, 6\), weight shape \(2, 1, 3, 3\), padding \(0, 0\)\)"),
    ("stride 0", lambda: F.conv2d(_t(1, 1, 8, 8), _t(2, 1, 3, 3), stride=0), ValueError,
     r"conv2d: stride must be >= 1, got 0"),
    ("negative stride", lambda: F.conv2d(_t(1, 1, 8, 8), _t(2, 1, 3, 3), stride=(1, -2)), ValueError,
     r"conv2d: stride must be >= 1, got \(1, -2\)"),
    ("dilation 0", lambda: F.conv1d(_t(1, 1, 8), _t(2, 1, 3), dilation=0), ValueError,
     r"conv1d: dilation must be >= 1, got 0"),
    ("stride length", lambda: F.conv2d(_t(1, 1, 8, 8), _t(2, 1, 3, 3), stride=(1, 2, 3)), ValueError,
     r"conv2d: stride must be an int or a tuple of 2 ints, got \(1, 2, 3\)"),
    ("negative padding", lambda: F.conv2d(_t(1, 1, 8, 8), _t(2, 1, 3, 3), padding=-1), ValueError,
     r"conv2d: padding must be >= 0, got -1"),
    ("padding string", lambda: F.conv2d(_t(1, 1, 8, 8), _t(2, 1, 3, 3), padding="full"), ValueError,
     r"conv2d: padding must be an int, a tuple, 'valid' or 'same', got 'full'"),
    ("float stride", lambda: F.conv2d(_t(1, 1, 8, 8), _t(2, 1, 3, 3), stride=1.5), TypeError,
     r"conv2d: stride must be an int or a tuple of 2 ints, got 1.5"),
    ("groups in", lambda: F.conv2d(_t(1, 4, 8, 8), _t(6, 2, 3, 3), groups=3), ValueError,
     r"conv2d: input channels 4 \(input shape \(1, 4, 8, 8\)\) are not divisible by groups=3"),
    ("groups out", lambda: F.conv2d(_t(1, 4, 8, 8), _t(5, 2, 3, 3), groups=2), ValueError,
     r"conv2d: out channels 5 \(weight shape \(5, 2, 3, 3\)\) are not divisible by groups=2"),
    ("groups mismatch", lambda: F.conv2d(_t(1, 4, 8, 8), _t(4, 1, 3, 3), groups=2), ValueError,
     r"conv2d: input has 4 channels but weight expects 2 \(weight shape \(4, 1, 3, 3\), groups=2\)"),
    ("groups 0", lambda: F.conv2d(_t(1, 4, 8, 8), _t(4, 4, 3, 3), groups=0), ValueError,
     r"conv2d: groups must be >= 1, got 0"),
    ("bias shape", lambda: F.conv2d(_t(1, 1, 8, 8), _t(6, 1, 3, 3), _t(5)), ValueError,
     r"conv2d: bias must have shape \(6,\) to match weight shape \(6, 1, 3, 3\), got \(5,\)"),
    ("bias rank", lambda: F.conv2d(_t(1, 1, 8, 8), _t(6, 1, 3, 3), _t(6, 1)), ValueError,
     r"conv2d: bias must have shape \(6,\) to match weight shape \(6, 1, 3, 3\), got \(6, 1\)"),
    ("ndarray input", lambda: F.conv2d(np.zeros((1, 1, 8, 8), np.float32), _t(6, 1, 3, 3)), TypeError,
     r"conv2d: input must be a juanji.Tensor, got ndarray"),
    ("ndarray weight", lambda: F.conv2d(_t(1, 1, 8, 8), np.zeros((6, 1, 3, 3))), TypeError,
     r"conv2d: weight must be a juanji.Tensor, got ndarray"),
    ("list bias", lambda: F.conv2d(_t(1, 1, 8, 8), _t(6, 1, 3, 3), [0.0] * 6), TypeError,
     r"conv2d: bias must be a juanji.Tensor or None, got list"),
    ("dtype mix", lambda: F.conv2d(_t(1, 1, 8, 8), _t(6, 1, 3, 3, dtype=np.float64)), TypeError,
     r"conv2d: input dtype float32 and weight dtype float64 differ"),
    ("int input", lambda: F.conv2d(_t(1, 1, 8, 8, dtype=np.int64), _t(6, 1, 3, 3)), TypeError,
     r"conv2d: input must be floating point, got dtype int64"),
]


@pytest.mark.parametrize("name,call,exc,message", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_inputs_raise_clear_errors(name, call, exc, message):
    with pytest.raises(exc, match=message):
        call()


# --- nn.Conv1d / Conv2d / Conv3d -------------------------------------------------------------
MODULE_CONFIGS = [
    ("Conv1d", dict(in_channels=3, out_channels=4, kernel_size=5, stride=2, padding=1), (2, 3, 17)),
    ("Conv2d", dict(in_channels=1, out_channels=6, kernel_size=5), (2, 1, 12, 11)),
    ("Conv2d", dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0),
                    dilation=(1, 2), groups=2, bias=False), (2, 4, 9, 8)),
    ("Conv2d", dict(in_channels=3, out_channels=6, kernel_size=3, padding="same", groups=3), (1, 3, 7, 6)),
    ("Conv3d", dict(in_channels=2, out_channels=3, kernel_size=(2, 3, 3), padding=1), (1, 2, 4, 5, 6)),
]


@pytest.mark.parametrize("cls,kwargs,shape", MODULE_CONFIGS)
def test_module_matches_torch_module(cls, kwargs, shape):
    torch = torch_or_skip()
    ours, theirs = getattr(juanji.nn, cls)(**kwargs), getattr(torch.nn, cls)(**kwargs)
    sd_ours, sd_theirs = ours.state_dict(), theirs.state_dict()
    assert list(sd_ours) == list(sd_theirs)
    assert {k: v.shape for k, v in sd_ours.items()} == {k: tuple(v.shape) for k, v in sd_theirs.items()}
    assert all(v.dtype == np.float32 for v in sd_ours.values())
    assert repr(ours) == repr(theirs)
    ours.load_state_dict({k: v.numpy() for k, v in sd_theirs.items()})
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    y = ours(Tensor(x))
    ty = theirs(torch.tensor(x))
    assert_close(y.data, ty.detach().numpy(), 1e-4, 1e-5, f"{cls} forward")
    y.sum().backward()
    ty.sum().backward()
    for name, p in ours.named_parameters():
        assert_close(p.grad.data, dict(theirs.named_parameters())[name].grad.numpy(), 1e-4, 1e-4,
                     f"{cls} grad of {name}")


def test_module_default_init_is_pytorch_uniform():
    juanji.manual_seed(0)
    conv = juanji.nn.Conv2d(8, 64, (3, 5), groups=2)
    fan_in = 4 * 3 * 5
    bound = 1 / math.sqrt(fan_in)
    w, b = conv.weight.data, conv.bias.data
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.95 * bound  # really uniform on the whole interval
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert abs(w.mean()) < 0.05 * bound
    juanji.manual_seed(0)
    again = juanji.nn.Conv2d(8, 64, (3, 5), groups=2)
    assert np.array_equal(again.weight.data, w)  # seeded through juanji.random


def test_module_options():
    conv = juanji.nn.Conv2d(3, 5, 3, bias=False, dtype=np.float64)
    assert conv.bias is None and conv.weight.dtype == np.float64
    assert [n for n, _ in conv.named_parameters()] == ["weight"]
    y = juanji.nn.Conv1d(2, 2, 3, padding="same", stride=2)(_t(1, 2, 9))
    assert y.shape == (1, 2, 5)  # TensorFlow's rule: ceil(9 / 2)


BAD_MODULES = [
    (lambda: juanji.nn.Conv2d(3, 6, 3, groups=2), r"Conv2d: in_channels=3 must be divisible by groups=2"),
    (lambda: juanji.nn.Conv2d(4, 6, 3, groups=4), r"Conv2d: out_channels=6 must be divisible by groups=4"),
    (lambda: juanji.nn.Conv2d(4, 6, 3, groups=0), r"Conv2d: groups must be a positive int, got 0"),
    (lambda: juanji.nn.Conv1d(0, 6, 3), r"Conv1d: in_channels must be a positive int, got 0"),
    (lambda: juanji.nn.Conv2d(4, 6, 3, padding_mode="reflect"),
     r"Conv2d: padding_mode 'reflect' is not supported; supported: 'zeros'"),
    (lambda: juanji.nn.Conv2d(4, 6, 3, padding="full"),
     r"Conv2d: padding must be an int, a tuple, 'valid' or 'same', got 'full'"),
    (lambda: juanji.nn.Conv3d(4, 6, (3, 3)), r"Conv3d: kernel_size must be an int or a tuple of 3 ints"),
    (lambda: juanji.nn.Conv2d(4, 6, 0), r"Conv2d: kernel_size must be >= 1, got 0"),
]


@pytest.mark.parametrize("call,message", BAD_MODULES)
def test_module_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_module_channel_mismatch_at_call():
    with pytest.raises(ValueError, match=r"conv2d: input has 1 channels but weight expects 3"):
        juanji.nn.Conv2d(3, 4, 3)(_t(1, 1, 8, 8))


@pytest.mark.parametrize("name,value", [("stride", 2**62), ("stride", (1, 10**30)), ("dilation", 2**63),
                                        ("padding", 2**64)])
def test_sizes_past_int64_are_refused_by_name(name, value):
    # Before, NumPy's OverflowError ("Python int too large to convert to C long") escaped.
    x, w = Tensor(np.zeros((1, 1, 8, 8), np.float32)), Tensor(np.zeros((2, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match=f"conv2d: {name} must be below 2\\*\\*62"):
        F.conv2d(x, w, **{name: value})
