"""Every convolution route, forced by name, on the edge shapes it can run.

For each route of juanji/kernels/conv (planner.ROUTES) and each layout and direction it has,
the route is forced with ``use_routes(..., strict=True)`` and checked

  (a) against the textbook loops (juanji.textbook) in float64: forward, dx, dW and db;
  (b) against PyTorch CPU in float32;
  (c) by float64 finite differences (juanji.gradcheck) on a small case;
  (d) its plan's workspace estimate against tracemalloc's peak of the call, on a shape where
      the route allocates a few MB (within the bounds of tests/analysis/test_summary.py);

with the plan naming the route (``plan.names()``), the route's own method observed running
that direction, and a route forced where it cannot run raising a ValueError that names it
(strict) or leaving the plan to the rules (not strict).

Inputs arrive NCHW or batch-last (the (N, C, *spatial) view of a (C, *spatial, N) array, as a
batch-last layer hands on); the output gradient comes back in the output's layout for a
batch-last input, C-contiguous otherwise, so both arrivals are exercised.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
import tracemalloc
from dataclasses import dataclass, field

import numpy as np
import pytest

import juanji
import juanji.functional as F
from juanji.kernels import blas, compiled
from juanji.kernels.conv import ROUTES, planner, use_routes, use_thresholds
from juanji.kernels.layout import from_batch_last, is_batch_last, to_batch_last
from juanji.textbook import conv_backward, conv_forward

from tests.helpers import assert_close, torch_or_skip

HAVE_NUMBA = compiled.available()
NEEDS = {  # what a route needs installed, and the reason to skip without it
    "depthwise": (HAVE_NUMBA, "numba is not installed: no compiled depthwise loops"),
    "winograd": (HAVE_NUMBA, "numba is not installed: no Winograd loops"),
    "direct": (HAVE_NUMBA, "numba is not installed: no direct loop"),
    "rowshift": (blas.available(np.float32) and blas.available(np.float64),
                 "no BLAS that adds into its output (juanji/kernels/blas.py): no rowshift"),
}


def skip_unless_installed(route: str) -> None:
    ok, reason = NEEDS.get(route, (True, ""))
    if not ok:
        pytest.skip(reason)


# --- configurations ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Conv:
    """One convolution call: shapes and arguments (padding: an int, one int per axis, or "same")."""

    sizes: tuple[int, ...]
    cin: int
    cout: int
    kernel: tuple[int, ...]
    n: int = 2
    stride: int | tuple[int, ...] = 1
    padding: int | tuple[int, ...] | str = 0
    dilation: int | tuple[int, ...] = 1
    groups: int = 1
    bias: bool = True
    note: str = ""

    @property
    def nd(self) -> int:
        return len(self.sizes)

    def per_axis(self, v) -> tuple[int, ...]:
        return tuple(v) if isinstance(v, tuple) else (v,) * self.nd

    @property
    def pads(self) -> list[tuple[int, int]]:
        """(before, after) per axis; "same" by TensorFlow's rule (the odd pad at the end)."""
        if self.padding == "same":
            pads = []
            for n, k, s, d in zip(self.sizes, self.kernel, self.per_axis(self.stride), self.per_axis(self.dilation)):
                total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
                pads.append((total // 2, total - total // 2))
            return pads
        return [(p, p) for p in self.per_axis(self.padding)]

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.n, self.cin, *self.sizes)

    @property
    def w_shape(self) -> tuple[int, ...]:
        return (self.cout, self.cin // self.groups, *self.kernel)

    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)

    def describe(self) -> str:
        return self.note or f"{self.x_shape}*{self.w_shape}"


def arrays(cfg: Conv, dtype, x_batch_last: bool, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(cfg.x_shape).astype(dtype)
    if x_batch_last:
        x = from_batch_last(to_batch_last(x))
    out = [x, rng.standard_normal(cfg.w_shape).astype(dtype)]
    if cfg.bias:
        out.append(rng.standard_normal(cfg.cout).astype(dtype))
    return out


def conv(cfg: Conv, x, w, b=None):
    return {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[cfg.nd](x, w, b, **cfg.kwargs())


def plan_of(cfg: Conv, dtype, x_batch_last: bool):
    return F.conv_plan(cfg.x_shape, cfg.w_shape, dtype=dtype, batch_last_input=x_batch_last, **cfg.kwargs())


# --- the textbook oracle (juanji.textbook: 2-D; 1-D as a height of 1; 3-D loops below) -------------
def naive(cfg: Conv, x, w, b, dz):
    """(out, dx, dW, db) by the textbook loops, float64."""
    stride, dilation, pads = cfg.per_axis(cfg.stride), cfg.per_axis(cfg.dilation), cfg.pads
    if cfg.nd == 3:
        return _naive_3d(x, w, b, dz, stride, pads, dilation, cfg.groups)
    if cfg.nd == 1:
        x, w, stride, dilation, pads = x[:, :, None], w[:, :, None], (1, *stride), (1, *dilation), [(0, 0), *pads]
        dz = None if dz is None else dz[:, :, None]
    z, cache = conv_forward(x, w, b, stride, pads, dilation, cfg.groups)
    dx = dw = db = None
    if dz is not None:
        dx, dw, db = conv_backward(dz, cache)
    if cfg.nd == 1:
        z, dx, dw = z[:, :, 0], (None if dx is None else dx[:, :, 0]), (None if dw is None else dw[:, :, 0])
    return z, dx, dw, db


def _naive_3d(x, w, b, dz, stride, pads, dilation, groups):
    """conv_forward's and conv_backward's loops with a depth axis (the textbook has none)."""
    xp = np.pad(x, ((0, 0), (0, 0), *pads))
    o_ch, cg = w.shape[:2]
    og = o_ch // groups
    out_size = [(p - d * (k - 1) - 1) // s + 1 for p, k, s, d in zip(xp.shape[2:], w.shape[2:], stride, dilation)]
    z = np.zeros((x.shape[0], o_ch, *out_size))
    dxp, dw, db = np.zeros_like(xp), np.zeros_like(w), np.zeros(o_ch)
    for i, pos in itertools.product(range(x.shape[0]), itertools.product(*map(range, out_size))):
        window = tuple(slice(p * s, p * s + d * (k - 1) + 1, d)
                       for p, s, d, k in zip(pos, stride, dilation, w.shape[2:]))
        for c in range(o_ch):
            ch = slice((c // og) * cg, (c // og + 1) * cg)
            a = xp[(i, ch, *window)]
            z[(i, c, *pos)] = np.sum(a * w[c]) + (0.0 if b is None else b[c])
            if dz is not None:
                g = dz[(i, c, *pos)]
                dxp[(i, ch, *window)] += w[c] * g
                dw[c] += a * g
                db[c] += g
    crop = tuple(slice(pb, pb + n) for (pb, _), n in zip(pads, x.shape[2:]))
    return z, dxp[(slice(None), slice(None), *crop)], dw, db


def torch_conv(cfg: Conv, x, w, b, dz):
    """(out, dx, dW, db) by PyTorch CPU, the padding applied first (asymmetric "same" included)."""
    torch = torch_or_skip()
    tf = torch.nn.functional
    tx = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    padded = tf.pad(tx, [p for pair in reversed(cfg.pads) for p in pair])
    out = {1: tf.conv1d, 2: tf.conv2d, 3: tf.conv3d}[cfg.nd](
        padded, tw, tb, stride=cfg.stride, dilation=cfg.dilation, groups=cfg.groups)
    out.backward(torch.tensor(np.ascontiguousarray(dz)))
    return (out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), None if tb is None else tb.grad.numpy())


# --- observing which route runs which direction --------------------------------------------------
@contextlib.contextmanager
def spy_routes():
    """Record (route name, direction, geometry) for every call of a route's passes, on the route classes
    (so instances the planner makes, such as an adjoint bound to its correlation's route, are seen too)."""
    calls: list[tuple[str, str, object]] = []
    passes = {"forward": lambda a: ["forward"], "weight_grad": lambda a: ["dw"], "input_grad": lambda a: ["dx"],
              "grads": lambda a: ["dw"] * bool(a[3]) + ["dx"] * bool(a[4])}  # (x, w, dout, need_w, need_x, th)

    def wrap(original, directions):
        def spy(self, geom, layout, *args, **kwargs):
            for d in directions(args):
                calls.append((self.name, d, geom))
            return original(self, geom, layout, *args, **kwargs)
        return spy

    saved = []
    try:
        for cls in {type(route) for route in ROUTES.values()}:
            for method, directions in passes.items():
                saved.append((cls, method, cls.__dict__.get(method)))
                setattr(cls, method, wrap(getattr(cls, method), directions))
        yield calls
    finally:
        for cls, method, own in reversed(saved):
            if own is None:
                delattr(cls, method)
            else:
                setattr(cls, method, own)


# --- the cases: route, layout, the directions forced, the convolution ------------------------------
ALL = ("forward", "dw", "dx")

# Shapes every general route (im2col, batch_inner, batch_last) runs.
GENERAL = [
    Conv((7, 5), 3, 4, (3, 3), padding=1, note="3x3-pad1-odd7x5"),
    Conv((5, 6), 3, 2, (1, 1), bias=False, note="1x1"),
    Conv((5, 5), 2, 3, (5, 5), n=1, note="kernel-is-input-batch1"),
    Conv((4, 4), 2, 2, (3, 3), padding=2, bias=False, note="pad2-wider-than-half"),
    Conv((4, 5), 2, 3, (3, 3), padding=3, note="pad3-wider-than-kernel"),
    Conv((7, 8), 2, 3, (3, 3), stride=2, padding=1, note="stride2"),
    Conv((8, 10), 2, 2, (3, 3), stride=3, padding=1, note="stride3"),
    Conv((7, 7), 2, 2, (3, 3), dilation=2, padding=2, note="dilation2"),
    Conv((5, 7), 4, 6, (2, 3), stride=(1, 2), padding="same", groups=2, note="groups2-same-stride12"),
    Conv((7, 8), 4, 2, (1, 1), stride=3, padding=1, groups=2, note="1x1-stride3-gathered-groups2"),
    Conv((11,), 2, 3, (3,), stride=2, dilation=2, padding=1, note="1d-stride2-dilation2"),
    Conv((3, 4, 5), 2, 2, (2, 3, 1), stride=(1, 2, 1), padding=(1, 0, 1), note="3d"),
]

CASES: list[tuple[str, str, tuple[str, ...], Conv]] = []
CASES += [("im2col", "nchw", ALL, c) for c in GENERAL]
CASES += [("batch_inner", "nchw", ("dw", "dx"), c) for c in GENERAL]
CASES += [("batch_last", "batch_last", ALL, c) for c in GENERAL]
CASES += [("pointwise", "nchw", ("forward", "dw"), c) for c in [
    Conv((5, 7), 3, 4, (1, 1), note="1x1-odd"),
    Conv((4, 4), 5, 2, (1, 1), n=1, bias=False, note="1x1-batch1"),
    Conv((3, 5), 3, 4, (1, 1), dilation=2, note="1x1-dilation2"),
    Conv((9, 10), 2, 3, (1, 1), stride=3, note="1x1-stride3-gathered"),
    Conv((9,), 3, 2, (1,), note="1d"),
    Conv((2, 3, 4), 2, 3, (1, 1, 1), note="3d"),
]]
CASES += [("pointwise", "nchw", ("forward",), c) for c in [  # dW per image needs no padding and one group
    Conv((4, 5), 3, 2, (1, 1), padding=1, note="1x1-padded"),
    Conv((4, 5), 4, 6, (1, 1), padding=(2, 0), groups=2, note="1x1-padded-groups2"),
]]
CASES += [("pointwise", "batch_last", ("forward",), c) for c in [  # batch-last: unpadded only
    Conv((5, 7), 3, 4, (1, 1), note="1x1-odd"),
    Conv((4, 4), 4, 6, (1, 1), groups=2, note="1x1-groups2"),
    Conv((4, 4), 3, 2, (1, 1), n=1, bias=False, note="1x1-batch1"),
    Conv((9,), 3, 2, (1,), note="1d"),
    Conv((2, 3, 4), 2, 3, (1, 1, 1), note="3d"),
]]
ADJOINT = [  # stride 1, padding no wider than the dilated kernel
    Conv((7, 5), 3, 4, (3, 3), padding=1, note="3x3-pad1-odd7x5"),
    Conv((4, 5), 2, 3, (3, 3), padding=2, note="pad2-wider-than-half"),
    Conv((5, 5), 2, 3, (5, 5), n=1, note="kernel-is-input-batch1"),
    Conv((7, 6), 2, 2, (3, 3), dilation=2, padding=(4, 1), note="dilation2-pad4"),
    Conv((5, 7), 4, 6, (2, 3), dilation=(1, 2), padding="same", groups=2, note="groups2-same-asymmetric"),
    Conv((4, 5), 3, 2, (1, 1), bias=False, note="1x1"),
    Conv((10,), 2, 3, (4,), padding=3, note="1d"),
    Conv((3, 4, 4), 2, 2, (2, 3, 2), padding=(1, 1, 0), note="3d"),
]
CASES += [("adjoint", layout, ("dx",), c) for layout in ("nchw", "batch_last") for c in ADJOINT]
ROWSHIFT = [
    Conv((7, 5), 3, 4, (3, 3), padding=1, note="3x3-pad1-odd7x5"),
    Conv((5, 5), 2, 3, (5, 5), n=1, note="kernel-is-input-batch1"),
    Conv((4, 5), 2, 3, (3, 3), padding=2, bias=False, note="pad2-wider-than-half"),
    Conv((7, 8), 2, 3, (3, 3), stride=2, padding=1, note="stride2"),
    Conv((8, 10), 2, 2, (3, 3), stride=3, padding=1, note="stride3"),
    Conv((7, 7), 2, 2, (3, 3), dilation=2, padding=2, note="dilation2"),
    Conv((6, 7), 2, 3, (2, 3), stride=(2, 1), dilation=(2, 1), note="k2x3-stride2-dilation2"),
    Conv((9, 9), 3, 2, (5, 5), stride=2, padding=2, note="5x5-stride2"),
    Conv((23, 21), 1, 2, (11, 11), stride=4, padding=2, note="11x11-stride4"),
]
CASES += [("rowshift", layout, ALL, c) for layout in ("nchw", "batch_last") for c in ROWSHIFT]
WINOGRAD = [
    Conv((7, 5), 3, 4, (3, 3), padding=1, note="pad1-odd7x5"),
    Conv((6, 7), 2, 3, (3, 3), bias=False, note="unpadded"),
    Conv((4, 5), 2, 2, (3, 3), padding=2, note="pad2-wider-than-half"),
    Conv((3, 3), 2, 3, (3, 3), n=1, note="kernel-is-input-batch1"),
    Conv((5, 4), 1, 1, (3, 3), padding="same", note="one-channel"),
]
CASES += [("winograd", layout, ("forward",), c) for layout in ("nchw", "batch_last") for c in WINOGRAD]
CASES += [("direct", "batch_last", ("forward",), c) for c in [
    Conv((7, 5), 3, 4, (3, 3), padding=1, note="3x3-pad1-odd7x5"),
    Conv((7, 8), 2, 3, (3, 3), stride=2, padding=1, note="stride2"),
    Conv((8, 10), 2, 2, (3, 3), stride=3, padding=1, note="stride3"),
    Conv((7, 7), 2, 2, (3, 3), dilation=2, padding=2, note="dilation2"),
    Conv((5, 6), 3, 2, (1, 1), bias=False, note="1x1"),
    Conv((5, 5), 2, 3, (5, 5), n=1, note="kernel-is-input-batch1"),
    Conv((4, 4), 1, 2, (3, 5), padding=(2, 4), note="pad-wider-than-kernel"),
]]
CASES += [("depthwise", "nchw", ALL, c) for c in [
    Conv((7, 5), 3, 3, (3, 3), padding=1, groups=3, note="3x3-pad1-odd7x5"),
    Conv((9, 6), 4, 8, (3, 3), stride=2, padding="same", groups=4, note="multiplier2-stride2-same"),
    Conv((10, 11), 2, 2, (3, 3), stride=3, dilation=2, padding=2, groups=2, note="stride3-dilation2"),
    Conv((5, 5), 3, 3, (1, 1), groups=3, bias=False, note="1x1"),
    Conv((4, 4), 2, 4, (4, 4), n=1, groups=2, note="kernel-is-input-batch1"),
    Conv((4, 5), 3, 3, (3, 3), padding=2, groups=3, note="pad2-wider-than-half"),
    Conv((6, 7), 2, 2, (2, 3), stride=(1, 2), groups=2, note="k2x3-stride12"),
]]


def case_id(route, layout, dirs, cfg) -> str:
    return f"{route}-{layout}-{'+'.join(dirs)}-{cfg.describe()}"


PARAMS = [pytest.param(route, layout, dirs, cfg, x_bl, False,
                       id=f"{case_id(route, layout, dirs, cfg)}-x_{'bl' if x_bl else 'nchw'}")
          for route, layout, dirs, cfg in CASES for x_bl in ((False, True) if cfg.n > 1 else (False,))]
# The first case of each route, layout and directions once more with every budget at its least: images (NCHW)
# or output rows (batch-last) one chunk at a time, products per kernel row in bands of one row, the batch-last
# dW product cut into pieces of two positions.
TINY_BUDGETS = dict(max_chunk=1, cols_budget_bytes=1, batch_last_budget_bytes=1, rowshift_budget_bytes=1,
                    min_dw_positions=1, split_k_piece=2, split_k_max_elems=10**9)
PARAMS += [pytest.param(route, layout, dirs, cfg, layout == "batch_last", True,
                        id=f"{case_id(route, layout, dirs, cfg)}-x_{'bl' if layout == 'batch_last' else 'nchw'}-chunks")
           for (route, layout, dirs), group in itertools.groupby(CASES, key=lambda c: c[:3])
           for cfg in [next(c[3] for c in group)]]


def forced(route: str, layout: str, dirs: tuple[str, ...]):
    return use_routes(layout=layout, strict=True, **{d: route for d in dirs})


def assert_forced_plan(p, route, layout, dirs) -> None:
    got = p.names()
    assert got["layout"] == layout, p.describe()
    for d in dirs:
        if route == "adjoint":
            assert got[d].startswith("adjoint/"), p.describe()
        else:
            assert got[d] == route, p.describe()
        assert p.reasons[d] == "forced (use_routes)", p.describe()


def run(cfg: Conv, arrs: list[np.ndarray], dz: np.ndarray | None, x_batch_last: bool):
    """juanji forward (and backward with dz): (out, dx, dW, db, the output array)."""
    tensors = [juanji.tensor(a, requires_grad=True) for a in arrs]
    assert is_batch_last(tensors[0].data) == (x_batch_last and cfg.n > 1)
    y = conv(cfg, *tensors)
    if dz is None:
        return y.data, None, None, None, y.data
    g = from_batch_last(to_batch_last(dz)) if x_batch_last and is_batch_last(y.data) else dz
    y.backward(juanji.tensor(g))
    grads = [t.grad.data for t in tensors] + [None] * (3 - len(tensors))
    return (y.data, *grads, y.data)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("route,layout,dirs,cfg,x_batch_last,chunks", PARAMS)
def test_forced_route_matches_textbook_and_torch(route, layout, dirs, cfg, x_batch_last, chunks):
    skip_unless_installed(route)
    for dtype in (np.float64, np.float32):
        arrs = arrays(cfg, dtype, x_batch_last)
        budgets = use_thresholds(**TINY_BUDGETS) if chunks else contextlib.nullcontext()
        with budgets, forced(route, layout, dirs), spy_routes() as calls:
            p = plan_of(cfg, dtype, x_batch_last)
            assert_forced_plan(p, route, layout, dirs)
            out_shape = run(cfg, arrs, None, x_batch_last)[0].shape
            dz = np.random.default_rng(1).standard_normal(out_shape).astype(dtype)
            calls.clear()
            out, dx, dw, db, y = run(cfg, arrs, dz, x_batch_last)
        # this call's geometry (x_batch_last aside: a gathered wide stride hands the conv an NCHW copy, see
        # test_conv_plan_of_a_gathered_batch_last_input_is_the_calls_plan)
        ran = {(name, d) for name, d, geom in calls
               if dataclasses.replace(geom, x_batch_last=p.geom.x_batch_last) == p.geom}
        for d in dirs:
            assert (route, d) in ran, f"{route} did not run {d}: {sorted(ran)}"
        if layout == "batch_last" and cfg.n > 1 and "forward" in dirs:
            assert is_batch_last(y), "a batch-last forward hands on its output batch-last"
        if dtype == np.float64:
            want = naive(cfg, *arrs[:2], arrs[2] if cfg.bias else None, dz)
            rtol, atol, what = 1e-9, 1e-10, "textbook loops"
        else:
            want = torch_conv(cfg, *arrs[:2], arrs[2] if cfg.bias else None, dz)
            rtol, atol, what = 1e-4, 1e-5, "PyTorch"
        for name, g, e in zip(("forward", "dx", "dW", "db"), (out, dx, dw, db), want):
            if name != "db" or cfg.bias:
                assert g.dtype == dtype, f"{name}: {g.dtype}"
                assert_close(g, e, rtol, atol, f"{route} {layout} {cfg.describe()} {name} ({dtype.__name__}) vs {what}")


# --- (c) finite differences, one small case per route and layout -----------------------------------
GRADCHECK = [
    ("im2col", "nchw", ALL, Conv((5, 4), 2, 3, (3, 3), stride=(2, 1), padding=1, groups=1)),
    ("batch_inner", "nchw", ("dw", "dx"), Conv((5, 4), 4, 2, (2, 3), dilation=(2, 1), padding=1, groups=2)),
    ("batch_last", "batch_last", ALL, Conv((5, 4), 2, 3, (3, 2), stride=2, padding=(1, 0))),
    ("pointwise", "nchw", ("forward", "dw"), Conv((4, 3), 3, 2, (1, 1))),
    ("pointwise", "batch_last", ("forward",), Conv((4, 3), 2, 4, (1, 1), groups=2)),
    ("adjoint", "nchw", ("dx",), Conv((5, 4), 2, 3, (3, 3), padding=(2, 1))),
    ("adjoint", "batch_last", ("dx",), Conv((5, 4), 2, 2, (2, 2), dilation=2, padding=1)),
    ("rowshift", "nchw", ALL, Conv((6, 5), 2, 2, (3, 3), stride=2, padding=1)),
    ("rowshift", "batch_last", ALL, Conv((6, 5), 2, 2, (3, 2), dilation=(2, 1), padding=1)),
    ("winograd", "nchw", ("forward",), Conv((5, 4), 2, 2, (3, 3), padding=1)),
    ("winograd", "batch_last", ("forward",), Conv((5, 4), 2, 2, (3, 3), padding=1)),
    ("direct", "batch_last", ("forward",), Conv((5, 4), 2, 2, (3, 3), stride=2, padding=1)),
    ("depthwise", "nchw", ALL, Conv((5, 4), 2, 4, (3, 3), stride=2, padding=1, groups=2)),
]


@pytest.mark.parametrize("route,layout,dirs,cfg", [pytest.param(*c, id=f"{c[0]}-{c[1]}") for c in GRADCHECK])
def test_forced_route_gradcheck(route, layout, dirs, cfg):
    skip_unless_installed(route)
    x_batch_last = layout == "batch_last"
    tensors = [juanji.tensor(a, requires_grad=True) for a in arrays(cfg, np.float64, x_batch_last, seed=5)]
    with forced(route, layout, dirs):
        assert_forced_plan(plan_of(cfg, np.float64, x_batch_last), route, layout, dirs)
        assert juanji.gradcheck(lambda *t: conv(cfg, *t), tensors, atol=1e-6, rtol=1e-4)


def test_every_route_and_layout_is_covered():
    pairs = {(r, layout, d) for r, layout, dirs, _ in CASES for d in dirs}
    want = {(r.name, layout, d) for r in ROUTES.values() for layout in r.layouts for d in r.directions}
    # pointwise's dW runs NCHW only (route.can): nothing to force batch-last
    assert want - pairs == {("pointwise", "batch_last", "dw")}
    assert {(r, layout) for r, layout, *_ in GRADCHECK} == {(r.name, layout) for r in ROUTES.values()
                                                            for layout in r.layouts}


# --- (d) the workspace estimates against tracemalloc ------------------------------------------------
@dataclass(frozen=True)
class Mem:
    route: str
    layout: str
    cfg: Conv
    x_batch_last: bool = False
    need_w: bool = True
    need_x: bool = True
    dirs: tuple[str, ...] = field(default=ALL)


FORWARD_MEM = [  # float32, no bias; a few MB of scratch unless noted
    Mem("im2col", "nchw", Conv((32, 32), 32, 32, (3, 3), n=4, padding=1, bias=False)),  # chunk of columns, padded
    Mem("im2col", "nchw", Conv((32, 32), 64, 16, (1, 1), n=4, padding=2, bias=False)),  # padded chunk = columns
    Mem("batch_last", "batch_last", Conv((16, 16), 32, 32, (3, 3), n=16, padding=1, bias=False), True),
    Mem("batch_last", "batch_last", Conv((16, 16), 32, 32, (3, 3), n=16, padding=1, bias=False), False),  # + copy
    Mem("pointwise", "nchw", Conv((32, 32), 64, 64, (1, 1), n=8, padding=1, bias=False)),  # the padded copy
    Mem("pointwise", "batch_last", Conv((32, 32), 64, 64, (1, 1), n=8, bias=False), False),  # the layout copy
    Mem("rowshift", "nchw", Conv((32, 32), 32, 32, (3, 3), n=4, padding=1, bias=False)),
    Mem("rowshift", "batch_last", Conv((16, 16), 32, 32, (3, 3), n=16, padding=1, bias=False), True),
    Mem("winograd", "nchw", Conv((32, 32), 32, 32, (3, 3), n=4, padding=1, bias=False)),
    Mem("winograd", "batch_last", Conv((16, 16), 32, 32, (3, 3), n=16, padding=1, bias=False), True),
    # no scratch: the output alone
    Mem("pointwise", "nchw", Conv((32, 32), 64, 64, (1, 1), n=4, bias=False)),
    Mem("pointwise", "batch_last", Conv((32, 32), 64, 64, (1, 1), n=4, bias=False), True),
    Mem("direct", "batch_last", Conv((28, 28), 1, 6, (5, 5), n=32, padding=2, bias=False), True),
    Mem("depthwise", "nchw", Conv((32, 32), 64, 64, (3, 3), n=4, padding=1, groups=64, bias=False)),
]

BACKWARD_MEM = [
    Mem("im2col", "nchw", Conv((32, 32), 32, 32, (3, 3), n=4, padding=1, bias=False)),
    Mem("batch_inner", "nchw", Conv((32, 32), 32, 32, (3, 3), n=4, padding=1, bias=False), dirs=("dw", "dx")),
    Mem("batch_last", "batch_last", Conv((16, 16), 32, 32, (3, 3), n=16, padding=1, bias=False), True),
    Mem("rowshift", "nchw", Conv((32, 32), 32, 32, (3, 3), n=4, padding=1, bias=False)),
    Mem("rowshift", "batch_last", Conv((16, 16), 32, 32, (3, 3), n=16, padding=1, bias=False), True),
    Mem("rowshift", "nchw", Conv((32, 32), 32, 32, (5, 5), n=4, stride=2, padding=2, bias=False), dirs=("dx",),
        need_w=False),
    Mem("adjoint", "nchw", Conv((32, 32), 32, 32, (3, 3), n=4, padding=1, bias=False), need_w=False, dirs=("dx",)),
    Mem("adjoint", "batch_last", Conv((16, 16), 32, 32, (3, 3), n=16, padding=1, bias=False), True, need_w=False,
        dirs=("dx",)),
    # no scratch: the gradients alone
    Mem("pointwise", "nchw", Conv((32, 32), 64, 64, (1, 1), n=4, bias=False), need_x=False, dirs=("dw",)),
    Mem("depthwise", "nchw", Conv((32, 32), 64, 64, (3, 3), n=4, padding=1, groups=64, bias=False)),
]


# dx alone by col2im on a padded 1x1 conv: the estimate counts the padded input gradient as scratch besides dx,
# which is a cropped view of it (im2col_gemm.py grads_workspace: dxpad; route.py Plan.backward_workspace), so
# the estimate is 1.53x the measured peak. The batch_inner, batch_last and rowshift (batch-last) models count it
# the same way (1.39x-1.47x on this shape, inside the band).
DX_VIEW_OF_PADDED = Mem("im2col", "nchw", Conv((32, 32), 32, 8, (1, 1), n=8, padding=1, bias=False), need_w=False,
                dirs=("dx",))


def mem_id(m: Mem, backward: bool = True) -> str:
    what = ("dw+dx" if m.need_w and m.need_x else "dw" if m.need_w else "dx") if backward else "forward"
    pad = f"-pad{m.cfg.padding}" if m.cfg.padding else ""
    return f"{m.route}-{m.layout}-{m.cfg.x_shape}*{m.cfg.w_shape}{pad}-x_{'bl' if m.x_batch_last else 'nchw'}-{what}"


def traced_peak(call) -> tuple[int, object]:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = call()
        return tracemalloc.get_traced_memory()[1] - base, result
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("m", [pytest.param(m, id=mem_id(m, backward=False)) for m in FORWARD_MEM])
def test_forward_workspace_matches_tracemalloc(m: Mem):
    skip_unless_installed(m.route)
    cfg = m.cfg
    x, w = (juanji.tensor(a) for a in arrays(cfg, np.float32, m.x_batch_last))
    dirs = tuple(d for d in m.dirs if d in ROUTES[m.route].directions and d == "forward")
    with forced(m.route, m.layout, dirs), juanji.no_grad():
        p = plan_of(cfg, np.float32, m.x_batch_last)
        assert p.names()["forward"] == m.route and p.layout == m.layout, p.describe()
        conv(cfg, x, w)  # warm-up: any compiling
        peak, out = traced_peak(lambda: conv(cfg, x, w).data)
    scratch = p.forward_workspace(bias=False)
    if scratch < out.size // 100:  # no scratch to speak of: the call allocates its output and little else
        assert peak < 1.1 * out.nbytes, f"peak {peak:,} for an output of {out.nbytes:,} bytes"
        return
    assert scratch * 4 >= 2**20, f"a shape with measurable scratch, not {scratch * 4:,} bytes"
    estimate = (scratch + out.size) * 4
    assert 0.8 < estimate / peak < 1.25, f"estimate {estimate:,} vs measured peak {peak:,} ({p.describe()})"


@pytest.mark.parametrize("m", [pytest.param(m, id=mem_id(m)) for m in BACKWARD_MEM + [DX_VIEW_OF_PADDED]])
def test_backward_workspace_matches_tracemalloc(m: Mem):
    skip_unless_installed(m.route)
    cfg = m.cfg
    xa, wa = arrays(cfg, np.float32, m.x_batch_last)
    x, w = juanji.tensor(xa, requires_grad=m.need_x), juanji.tensor(wa, requires_grad=m.need_w)
    dirs = tuple(d for d in m.dirs if (d == "dw" and m.need_w) or (d == "dx" and m.need_x))
    with forced(m.route, m.layout, dirs):
        p = plan_of(cfg, np.float32, m.x_batch_last)
        assert_forced_plan(p, m.route, m.layout, dirs)
        g = np.ones_like(conv(cfg, x, w).data)  # in the output's layout, as in a network
        conv(cfg, x, w).backward(g)  # warm-up: any compiling
        x.grad = w.grad = None
        out = conv(cfg, x, w)
        peak, _ = traced_peak(lambda: out.backward(g))
    scratch = p.backward_workspace(need_w=m.need_w, need_x=m.need_x)
    grads = m.need_x * x.data.size + m.need_w * w.data.size
    if scratch < grads // 100:  # no scratch: the gradients and the copies the leaves keep
        assert peak < 1.1 * 2 * grads * 4, f"peak {peak:,} for gradients of {grads * 4:,} bytes"
        return
    assert scratch * 4 >= 2**20, f"a shape with measurable scratch, not {scratch * 4:,} bytes"
    estimate = max(scratch + grads, 2 * grads) * 4
    assert 2 / 3 < estimate / peak < 3 / 2, f"estimate {estimate:,} vs measured peak {peak:,} ({p.describe()})"


def test_memory_cases_cover_every_route():
    assert {m.route for m in FORWARD_MEM} == {r.name for r in ROUTES.values() if "forward" in r.directions}
    assert {m.route for m in BACKWARD_MEM} == {r.name for r in ROUTES.values() if {"dw", "dx"} & set(r.directions)}


# --- a forced route that cannot run --------------------------------------------------------------------
# (route, direction, layout forced or None, the convolution, words of the route's reason)
CANNOT = [
    ("depthwise", "forward", None, Conv((32, 32), 4, 4, (3, 3), padding=1, note="groups1"),
     "one input channel per group"),
    ("depthwise", "dw", "batch_last", Conv((8, 8), 4, 4, (3, 3), padding=1, groups=4, note="depthwise"),
     "does not run in the batch_last layout"),
    ("winograd", "forward", None, Conv((8, 8), 4, 4, (5, 5), padding=2, note="5x5"), "3x3 stride-1"),
    ("winograd", "forward", None, Conv((8, 8), 4, 4, (3, 3), stride=2, padding=1, note="stride2"), "3x3 stride-1"),
    ("direct", "forward", "nchw", Conv((8, 8), 4, 4, (3, 3), padding=1, note="3x3"),
     "does not run in the nchw layout"),
    ("direct", "forward", "batch_last", Conv((8, 8), 4, 4, (3, 3), padding=1, groups=2, note="groups2"),
     "single-group"),
    ("rowshift", "forward", None, Conv((40, 40), 24, 24, (1, 3), padding=(0, 1), note="1x3"), "one row"),
    ("rowshift", "dw", None, Conv((12,), 4, 4, (3,), note="1d"), "2-D single-group"),
    ("pointwise", "forward", None, Conv((8, 8), 4, 4, (3, 3), padding=1, note="3x3"),
     "not a 1x1 kernel at stride 1"),
    ("pointwise", "dw", None, Conv((40, 40), 64, 64, (1, 1), padding=1, note="1x1-padded"), "padded"),
    ("pointwise", "forward", "batch_last", Conv((8, 8), 4, 4, (1, 1), padding=1, note="1x1-padded"), "padded"),
    ("adjoint", "dx", None, Conv((8, 8), 4, 4, (3, 3), stride=2, padding=1, note="stride2"), "stride > 1"),
    ("adjoint", "dx", None, Conv((8, 8), 4, 4, (3, 3), padding=3, note="pad3-wider-than-kernel"),
     "padding wider than the dilated kernel"),
    ("batch_last", "forward", "nchw", Conv((8, 8), 4, 4, (3, 3), padding=1, note="3x3"),
     "does not run in the nchw layout"),
    ("batch_inner", "dw", "batch_last", Conv((8, 8), 4, 4, (3, 3), padding=1, note="3x3"),
     "does not run in the batch_last layout"),
    ("im2col", "dx", "batch_last", Conv((8, 8), 4, 4, (3, 3), padding=1, note="3x3"),
     "does not run in the batch_last layout"),
]


@pytest.mark.parametrize("route,direction,layout,cfg,why",
                         [pytest.param(*c, id=f"{c[0]}-{c[1]}-{c[2] or 'rules'}-{c[3].describe()}") for c in CANNOT])
def test_forced_route_that_cannot_run(route, direction, layout, cfg, why):
    skip_unless_installed(route)
    rules_layout = use_routes(layout=layout) if layout else contextlib.nullcontext()
    with rules_layout:
        by_rules = plan_of(cfg, np.float32, False).names()
    assert by_rules[direction].split("/")[0] != route  # the rules do not pick it either
    with use_routes(layout=layout, strict=True, **{direction: route}):
        with pytest.raises(ValueError, match=rf"forced {direction} route '{route}' cannot run .*: .*{why}"):
            plan_of(cfg, np.float32, False)
        x, w = (juanji.tensor(a) for a in arrays(cfg, np.float32, False)[:2])
        with pytest.raises(ValueError, match=f"'{route}'"):  # the call raises too, before computing anything
            conv(cfg, x, w)
    with use_routes(layout=layout, **{direction: route}):  # not strict: the rules decide
        assert plan_of(cfg, np.float32, False).names() == by_rules


def test_numba_routes_refuse_by_name_without_numba(monkeypatch):
    """Without numba (JUANJI_NUMBA=0), a forced compiled route says so."""
    monkeypatch.setattr(compiled, "available", lambda: False)
    cfg = Conv((8, 8), 4, 4, (3, 3), padding=1)
    monkeypatch.setattr(planner, "_CACHE", {})  # no plan cached while numba was there
    for route, layout, groups in (("winograd", "nchw", 1), ("direct", "batch_last", 1), ("depthwise", "nchw", 4)):
        c = dataclasses.replace(cfg, groups=groups)
        with use_routes(forward=route, layout=layout, strict=True):
            with pytest.raises(ValueError, match=f"'{route}' cannot run .*numba is not installed"):
                plan_of(c, np.float32, False)


# --- the plan is what runs ------------------------------------------------------------------------------
def test_non_strict_forced_route_on_a_depthwise_conv_leaves_the_rules_plan():
    skip_unless_installed("depthwise")
    cfg = Conv((16, 16), 32, 32, (3, 3), n=8, padding=1, groups=32)
    by_rules = plan_of(cfg, np.float32, False).names()
    assert by_rules == {"layout": "nchw", "forward": "depthwise", "dw": "depthwise", "dx": "depthwise"}
    with use_routes(forward="winograd"):  # cannot run a grouped conv: the rules decide
        assert plan_of(cfg, np.float32, False).names() == by_rules


def test_backward_runs_the_correlation_its_plan_named():
    """The adjoint's correlation is the route the plan named (dx_via), even when backward runs after the
    block that forced it."""
    skip_unless_installed("rowshift")
    cfg = Conv((32, 32), 64, 64, (3, 3), n=2, padding=1, bias=False)
    x, w = (juanji.tensor(a, requires_grad=True) for a in arrays(cfg, np.float32, False))
    with use_routes(forward="im2col", dx="adjoint"):
        p = plan_of(cfg, np.float32, False)
        assert p.names()["dx"] == "adjoint/im2col"
        y = conv(cfg, x, w)
    with spy_routes() as calls:
        y.backward(np.ones(y.shape, np.float32))  # after the block, as a training step's backward may run
    correlation = [name for name, d, geom in calls if d == "forward"]
    assert correlation == ["im2col"], correlation


def test_conv_plan_of_a_gathered_batch_last_input_is_the_calls_plan():
    cfg = Conv((32, 32), 64, 64, (1, 1), n=8, stride=4, bias=False)  # 4 >= gather_min_stride, 4 > 1: gathered
    x, w = (juanji.tensor(a) for a in arrays(cfg, np.float32, True))
    with spy_routes() as calls:
        conv(cfg, x, w)
    ran = [(name, geom.x_batch_last) for name, d, geom in calls if d == "forward"]
    p = plan_of(cfg, np.float32, True)
    assert ran == [(p.forward.name, p.geom.x_batch_last)], (ran, p.describe())
