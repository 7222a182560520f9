"""The convolution planner (juanji/kernels/conv/planner.py): its rule tables, shape by shape.

TABLE maps a convolution (shapes, arguments, the layout its input arrives in) to the plan the
rules give it, ``plan.names()``: the layout and a route per direction (forward, dW, dx; dx as
"adjoint/<route>" when it is a correlation). Every expectation below was worked out by hand
from LAYOUT_RULES, FORWARD_RULES, DW_RULES and DX_RULES with the default Thresholds (the
comment of each row gives the rules that decide it) -- not copied from the code's output --
so a changed threshold, a reordered rule or a route that stops supporting a shape shows up
as a named row. Rows cover every rule of every table, the boundary of each threshold from
both sides, and layers of real networks (LeNet-5, SimpleConvNet, resnet18-CIFAR, ResNet-50,
Xception, AlexNet).

The rest checks the planner's controls: use_thresholds / use_routes (restored after the block,
also on an exception; nested blocks combine; context-local; not leaking through the plan
cache), set_thresholds (process-wide, returns the previous thresholds), the errors for unknown
names and impossible requests, and explain / Plan.describe naming each rule with its
thresholds' values.
"""

from __future__ import annotations

import contextvars
import dataclasses
import threading

import numpy as np
import pytest

import juanji.functional as F
from juanji.kernels import blas, compiled
from juanji.kernels.conv import Geometry, Thresholds, explain, plan, planner, set_thresholds, thresholds
from juanji.kernels.conv import use_routes, use_thresholds
from juanji.kernels.conv.route import Plan

HAVE_NUMBA = compiled.available()
HAVE_BLAS = blas.available(np.float32)
NUMBA_REASON = "numba is not installed (or JUANJI_NUMBA=0): no depthwise, winograd or direct route"
BLAS_REASON = "no BLAS that adds into its output (juanji/kernels/blas.py): no rowshift route"


def names(x_shape, w_shape, *, batch_last=False, **kwargs) -> dict[str, str]:
    return F.conv_plan(x_shape, w_shape, batch_last_input=batch_last, **kwargs).names()


def expect(layout: str, forward: str, dw: str, dx: str) -> dict[str, str]:
    return {"layout": layout, "forward": forward, "dw": dw, "dx": dx}


BL, NCHW = "batch_last", "nchw"


def row(id_, x_shape, w_shape, expected, *, needs=(), batch_last=False, **kwargs):
    marks = []
    if "numba" in needs:
        marks.append(pytest.mark.skipif(not HAVE_NUMBA, reason=NUMBA_REASON))
    if "blas" in needs:
        marks.append(pytest.mark.skipif(not HAVE_BLAS, reason=BLAS_REASON))
    return pytest.param(x_shape, w_shape, batch_last, kwargs, expected, id=id_, marks=marks)


TABLE = [
    # --- LeNet-5 c1 (1 -> 6, 5x5, 32x32 -> 28x28 = 784 positions), and the direct loop's two boundaries.
    # layout: no depthwise, NCHW input, not 1x1, 1*8 > 6 (no widening), L 784 < 1024 -> batch_last.
    # forward: winograd cannot (5x5); direct: O 6 <= 8, N 128 >= 32, stride 1. dW: rowshift rows 1*1*5 = 5 < 24,
    # not 1x1 -> batch_last. dx: adjoint Cg 1 < 64, rowshift 5 < 24 -> batch_last.
    row("lenet5-c1", (128, 1, 32, 32), (6, 1, 5, 5), expect(BL, "direct", BL, BL), needs=("numba",)),
    row("lenet5-c1-batch31", (31, 1, 32, 32), (6, 1, 5, 5), expect(BL, BL, BL, BL)),  # N 31 < 32: no direct
    row("lenet5-c1-batch32", (32, 1, 32, 32), (6, 1, 5, 5), expect(BL, "direct", BL, BL), needs=("numba",)),
    # 1 -> 8: 1*8 <= 8 widening (batch_last either way); O 8 <= 8 -> direct; O 9 -> batch_last.
    row("direct-o8", (128, 1, 32, 32), (8, 1, 5, 5), expect(BL, "direct", BL, BL), needs=("numba",)),
    row("direct-o9", (128, 1, 32, 32), (9, 1, 5, 5), expect(BL, BL, BL, BL)),
    # stride 2: no widening rule (stride-1 only), L 14*14 < 1024 -> batch_last; direct needs stride 1;
    # rowshift rows 2 phases * 1 * 5 = 10 < 24.
    row("direct-stride2", (128, 1, 32, 32), (6, 1, 5, 5), expect(BL, BL, BL, BL), stride=2),
    # direct is tried before rowshift: 8 -> 3 channels at batch 64 (rows 1*8*3 = 24 hold too); dW and dx take
    # rowshift (24 >= 24; dx: Cg 8 < 64 no adjoint).
    row("direct-before-rowshift", (64, 8, 16, 16), (3, 8, 3, 3), expect(BL, "direct", "rowshift", "rowshift"),
        needs=("numba", "blas"), batch_last=True, padding=1),
    # LeNet-5 c3 (6 -> 16, 5x5 at 14x14, batch-last input after c1): rowshift rows 1*6*5 = 30 >= 24.
    row("lenet5-c3", (128, 6, 14, 14), (16, 6, 5, 5), expect(BL, "rowshift", "rowshift", "rowshift"),
        needs=("blas",), batch_last=True),

    # --- SimpleConvNet ("Deep Learning from Scratch": 1 -> 30, 5x5, 28x28, batch 100).
    # layout: 1*8 <= 30 at stride 1 -> batch_last (widening); O 30 > 8: no direct; rows 5 < 24 -> batch_last.
    row("simpleconvnet", (100, 1, 28, 28), (30, 1, 5, 5), expect(BL, BL, BL, BL)),

    # --- the first-layer widening boundary, at L = 32*32 = 1024 (so the few-positions rule does not hold).
    # 3 -> 24: 3*8 <= 24 -> batch_last; rows 1*3*3 = 9 < 24 -> batch_last everywhere (resnet18-CIFAR conv1 is 3 -> 64).
    row("widening-3to24", (32, 3, 32, 32), (24, 3, 3, 3), expect(BL, BL, BL, BL), padding=1),
    # 3 -> 23: no widening, L 1024 not < 1024 -> nchw; rows 9 < 24; Cg*K 27 < 64 -> im2col everywhere.
    row("widening-3to23", (32, 3, 32, 32), (23, 3, 3, 3), expect(NCHW, "im2col", "im2col", "im2col"), padding=1),
    row("resnet18-cifar-conv1", (64, 3, 32, 32), (64, 3, 3, 3), expect(BL, BL, BL, BL), padding=1),

    # --- the few-positions boundary: L 1023 vs 1024 (2 -> 2 channels, 3x3 pad 1; rows 6 < 24, Cg*K 18 < 64,
    # N 8 < 32: no direct).
    row("positions-1023", (8, 2, 31, 33), (2, 2, 3, 3), expect(BL, BL, BL, BL), padding=1),
    row("positions-1024", (8, 2, 32, 32), (2, 2, 3, 3), expect(NCHW, "im2col", "im2col", "im2col"), padding=1),
    # ... in 1-D (no 2-D-only route applies): L 1023 -> batch_last; 1024 -> nchw, Cg*K 24 < 64 -> im2col.
    row("positions-1d-1023", (4, 8, 1025), (8, 8, 3), expect(BL, BL, BL, BL)),
    row("positions-1d-1024", (4, 8, 1026), (8, 8, 3), expect(NCHW, "im2col", "im2col", "im2col")),

    # --- Winograd at 127 vs 128 channels on both sides (resnet18-CIFAR stage 2, batch-last input after stage 1).
    # 128: forward winograd; dW rowshift (rows 384); dx adjoint (Cg 128 >= 64), its correlation (128 -> 128,
    # 3x3 pad 1) takes winograd.
    row("winograd-128", (64, 128, 16, 16), (128, 128, 3, 3), expect(BL, "winograd", "rowshift", "adjoint/winograd"),
        needs=("numba", "blas"), batch_last=True, padding=1),
    row("winograd-127", (64, 127, 16, 16), (127, 127, 3, 3), expect(BL, "rowshift", "rowshift", "adjoint/rowshift"),
        needs=("blas",), batch_last=True, padding=1),
    # both sides: 128 in, 127 out -> min 127: no winograd (nor for the correlation, 127 -> 128).
    row("winograd-128to127", (64, 128, 16, 16), (127, 128, 3, 3),
        expect(BL, "rowshift", "rowshift", "adjoint/rowshift"), needs=("blas",), batch_last=True, padding=1),

    # --- resnet18-CIFAR stages (batch 64; every layer after conv1 receives a batch-last input).
    # stage 1, 64 -> 64 at 32x32: rows 192 -> rowshift; dx adjoint (64), correlation 64 -> 64: min 64 < 128 -> rowshift.
    row("resnet18-cifar-stage1", (64, 64, 32, 32), (64, 64, 3, 3),
        expect(BL, "rowshift", "rowshift", "adjoint/rowshift"), needs=("blas",), batch_last=True, padding=1),
    # stage 2 down, 64 -> 128 stride 2: no winograd (stride), rows 2*64*3 = 384; dx: no adjoint at stride 2 -> rowshift.
    row("resnet18-cifar-stage2-down", (64, 64, 32, 32), (128, 64, 3, 3),
        expect(BL, "rowshift", "rowshift", "rowshift"), needs=("blas",), batch_last=True, stride=2, padding=1),
    # stage 2 shortcut, 1x1 stride 2: rowshift needs two kernel rows, pointwise needs stride 1 -> batch_last.
    row("resnet18-cifar-shortcut", (64, 64, 32, 32), (128, 64, 1, 1), expect(BL, BL, BL, BL), batch_last=True,
        stride=2),
    row("resnet18-cifar-stage3", (64, 256, 8, 8), (256, 256, 3, 3),
        expect(BL, "winograd", "rowshift", "adjoint/winograd"), needs=("numba", "blas"), batch_last=True, padding=1),
    row("resnet18-cifar-stage4", (64, 512, 4, 4), (512, 512, 3, 3),
        expect(BL, "winograd", "rowshift", "adjoint/winograd"), needs=("numba", "blas"), batch_last=True, padding=1),

    # --- adjoint at 63 vs 64 input channels per group (NCHW input, L 1024 -> nchw; rows >= 189 -> rowshift).
    row("adjoint-64", (64, 64, 32, 32), (64, 64, 3, 3), expect(NCHW, "rowshift", "rowshift", "adjoint/rowshift"),
        needs=("blas",), padding=1),
    row("adjoint-63", (64, 63, 32, 32), (64, 63, 3, 3), expect(NCHW, "rowshift", "rowshift", "rowshift"),
        needs=("blas",), padding=1),
    # ... in 1-D (L 2048 -> nchw): forward im2col; dW batch_inner (Cg*K 192 / 189 >= 64); dx adjoint whose
    # correlation (1-D) takes im2col, or at 63 channels batch_inner.
    row("adjoint-1d-64", (8, 64, 2048), (64, 64, 3), expect(NCHW, "im2col", "batch_inner", "adjoint/im2col"),
        padding=1),
    row("adjoint-1d-63", (8, 63, 2048), (64, 63, 3), expect(NCHW, "im2col", "batch_inner", "batch_inner"),
        padding=1),

    # --- rowshift at 23 vs 24 product rows: kernel (3, 1), rows = 1 phase * C * 1 (L 40*40 -> nchw).
    row("rowshift-24", (8, 24, 40, 40), (24, 24, 3, 1), expect(NCHW, "rowshift", "rowshift", "rowshift"),
        needs=("blas",), padding=(1, 0)),
    # 23 rows: forward im2col; dW and dx batch_inner (Cg*K 69 >= 64; Cg 23 < 64: no adjoint).
    row("rowshift-23", (8, 23, 40, 40), (23, 23, 3, 1), expect(NCHW, "im2col", "batch_inner", "batch_inner"),
        padding=(1, 0)),
    # stride 2 doubles the rows (two phases): 2*4*3 = 24 at stride 2 (L 32*32 = 1024 -> nchw), 1*4*3 = 12 at
    # stride 1 (L 4096 -> nchw; Cg*K 36 < 64 -> im2col).
    row("rowshift-stride2-phases", (8, 4, 64, 64), (8, 4, 3, 3), expect(NCHW, "rowshift", "rowshift", "rowshift"),
        needs=("blas",), stride=2, padding=1),
    row("rowshift-stride1-12rows", (8, 4, 64, 64), (8, 4, 3, 3), expect(NCHW, "im2col", "im2col", "im2col"),
        padding=1),

    # --- batch_inner at Cg*K 63 vs 64 (one input channel, L >= 1024 -> nchw, 1*8 > 4: no widening,
    # rows 8 or 9 < 24).
    row("batch_inner-64", (8, 1, 40, 40), (4, 1, 8, 8), expect(NCHW, "im2col", "batch_inner", "batch_inner")),
    row("batch_inner-63", (8, 1, 40, 40), (4, 1, 7, 9), expect(NCHW, "im2col", "im2col", "im2col")),

    # --- 1x1 convolutions (ResNet-50 bottlenecks, batch 32, NCHW input after a 1x1 NCHW layer).
    # layout: 1x1 at stride 1 on NCHW -> nchw. forward and dW pointwise (unpadded, one group); dx adjoint (Cg 64),
    # its correlation 1x1 too -> pointwise.
    row("resnet50-1x1-64to256", (32, 64, 56, 56), (256, 64, 1, 1),
        expect(NCHW, "pointwise", "pointwise", "adjoint/pointwise")),
    row("resnet50-1x1-256to64", (32, 256, 56, 56), (64, 256, 1, 1),
        expect(NCHW, "pointwise", "pointwise", "adjoint/pointwise")),
    # Cg 32 < 64: dx by col2im; Cg*K 32 < 64 -> im2col.
    row("pointwise-32", (32, 32, 56, 56), (32, 32, 1, 1), expect(NCHW, "pointwise", "pointwise", "im2col")),
    # the 1x1 rule comes before widening (8 -> 64 would be 8x) and few positions (L 64 < 1024).
    row("pointwise-before-widening", (32, 8, 8, 8), (64, 8, 1, 1), expect(NCHW, "pointwise", "pointwise", "im2col")),
    # padded 1x1 on NCHW: forward pointwise (pads a copy); dW pointwise needs no padding -> batch_inner
    # (Cg*K 64); dx: no adjoint (padding wider than the 1x1 kernel), rowshift needs two rows -> batch_inner.
    row("pointwise-padded", (32, 64, 56, 56), (64, 64, 1, 1),
        expect(NCHW, "pointwise", "batch_inner", "batch_inner"), padding=1),
    # ... on a batch-last input: batch_last layout, where pointwise needs no padding -> batch_last everywhere.
    row("pointwise-padded-batch_last", (32, 64, 56, 56), (64, 64, 1, 1), expect(BL, BL, BL, BL),
        batch_last=True, padding=1),
    # unpadded on a batch-last input (ResNet-50 layer 4, 512 -> 2048 at 7x7): forward pointwise; dW pointwise
    # needs NCHW -> batch_last; dx adjoint (Cg 512), correlation 2048 -> 512 1x1 -> pointwise.
    row("resnet50-layer4-1x1-batch_last", (32, 512, 7, 7), (2048, 512, 1, 1),
        expect(BL, "pointwise", BL, "adjoint/pointwise"), batch_last=True),
    # grouped 1x1 (ShuffleNet-like, 2 groups): forward pointwise; dW pointwise needs one group, Cg*K 32 < 64 ->
    # im2col; dx Cg 32 < 64 -> im2col.
    row("pointwise-groups2", (32, 64, 32, 32), (64, 32, 1, 1), expect(NCHW, "pointwise", "im2col", "im2col"),
        groups=2),
    # ResNet-50 downsampling shortcut, 1x1 stride 2 (56 -> 28): not pointwise, L 784 -> batch_last.
    row("resnet50-shortcut-1x1-stride2", (32, 256, 56, 56), (512, 256, 1, 1), expect(BL, BL, BL, BL), stride=2),
    # a stride wider than the window (4 >= gather_min_stride, 4 > 1) is planned on the gathered taps: a 1x1
    # stride-1 conv of 8x8 -> as resnet50-1x1.
    row("gathered-1x1-stride4", (8, 64, 32, 32), (64, 64, 1, 1),
        expect(NCHW, "pointwise", "pointwise", "adjoint/pointwise"), stride=4),

    # --- ResNet-50 3x3 and the stem (batch 32, NCHW input).
    # conv1 7x7/2 pad 3 (224 -> 112): stride 2, L 12544 -> nchw; rows 2 phases * 3 * 7 = 42 -> rowshift;
    # dx: stride 2, no adjoint -> rowshift.
    row("resnet50-conv1", (32, 3, 224, 224), (64, 3, 7, 7), expect(NCHW, "rowshift", "rowshift", "rowshift"),
        needs=("blas",), stride=2, padding=3),
    # layer 1 3x3 64 at 56x56: L 3136 -> nchw; winograd needs 128; rows 192 -> rowshift; dx adjoint/rowshift.
    row("resnet50-layer1-3x3", (32, 64, 56, 56), (64, 64, 3, 3),
        expect(NCHW, "rowshift", "rowshift", "adjoint/rowshift"), needs=("blas",), padding=1),
    # layer 2 3x3 128 at 28x28: L 784 -> batch_last; winograd; dx adjoint/winograd.
    row("resnet50-layer2-3x3", (32, 128, 28, 28), (128, 128, 3, 3),
        expect(BL, "winograd", "rowshift", "adjoint/winograd"), needs=("numba", "blas"), padding=1),
    # layer 2's first 3x3 at stride 2 (56 -> 28): no winograd (stride), rows 2*128*3 -> rowshift, no adjoint.
    row("resnet50-layer2-3x3-stride2", (32, 128, 56, 56), (128, 128, 3, 3),
        expect(BL, "rowshift", "rowshift", "rowshift"), needs=("blas",), stride=2, padding=1),

    # --- depthwise (Xception, MobileNet): the compiled loops read NCHW, even from a batch-last input.
    row("xception-middle-depthwise", (8, 728, 19, 19), (728, 1, 3, 3),
        expect(NCHW, "depthwise", "depthwise", "depthwise"), needs=("numba",), padding=1, groups=728),
    row("xception-depthwise-batch_last-input", (8, 728, 19, 19), (728, 1, 3, 3),
        expect(NCHW, "depthwise", "depthwise", "depthwise"), needs=("numba",), batch_last=True, padding=1,
        groups=728),
    row("mobilenet-depthwise-stride2", (8, 32, 112, 112), (32, 1, 3, 3),
        expect(NCHW, "depthwise", "depthwise", "depthwise"), needs=("numba",), stride=2, padding=1, groups=32),
    row("depthwise-multiplier2", (8, 32, 28, 28), (64, 1, 3, 3),
        expect(NCHW, "depthwise", "depthwise", "depthwise"), needs=("numba",), padding=1, groups=32),
    # Xception's pointwise after the depthwise: as resnet50-1x1 (Cg 728).
    row("xception-pointwise", (8, 728, 19, 19), (728, 728, 1, 1),
        expect(NCHW, "pointwise", "pointwise", "adjoint/pointwise")),
    # grouped but not depthwise (ResNeXt 32x4d at 28x28): no depthwise, L 784 -> batch_last; winograd, direct,
    # rowshift need one group; dx: Cg 4 < 64 -> batch_last.
    row("resnext-grouped-3x3", (8, 128, 28, 28), (128, 4, 3, 3), expect(BL, BL, BL, BL), padding=1, groups=32),
    # Xception entry flow: conv1 3x3/2 (299 -> 149): nchw; rows 2*3*3 = 18 < 24; Cg*K 27 < 64 -> im2col.
    row("xception-entry-conv1", (8, 3, 299, 299), (32, 3, 3, 3), expect(NCHW, "im2col", "im2col", "im2col"),
        stride=2),
    # conv2 3x3 32 -> 64 unpadded (149 -> 147): rows 96 -> rowshift; dx: Cg 32 < 64 -> rowshift.
    row("xception-entry-conv2", (8, 32, 149, 149), (64, 32, 3, 3), expect(NCHW, "rowshift", "rowshift", "rowshift"),
        needs=("blas",)),

    # --- AlexNet.
    # conv1 11x11/4 pad 2 (224 -> 55; 4 < 11, no gathering): nchw; rows 4 phases * 3 * 11 = 132 -> rowshift.
    row("alexnet-conv1", (32, 3, 224, 224), (64, 3, 11, 11), expect(NCHW, "rowshift", "rowshift", "rowshift"),
        needs=("blas",), stride=4, padding=2),
    # conv2 5x5 64 -> 192 pad 2 at 27x27 (batch-last input): rows 320 -> rowshift; dx adjoint (Cg 64), the
    # correlation 192 -> 64 5x5: no winograd (5x5), no direct (64 > 8) -> rowshift.
    row("alexnet-conv2", (32, 64, 27, 27), (192, 64, 5, 5), expect(BL, "rowshift", "rowshift", "adjoint/rowshift"),
        needs=("blas",), batch_last=True, padding=2),
]


@pytest.mark.parametrize("x_shape,w_shape,batch_last,kwargs,expected", TABLE)
def test_plan_table(x_shape, w_shape, batch_last, kwargs, expected):
    got = F.conv_plan(x_shape, w_shape, batch_last_input=batch_last, **kwargs)
    assert got.names() == expected, got.describe()


# Where a route is left out (by exclude, as a missing package would leave it out), the next rule decides.
@pytest.mark.parametrize("x_shape,w_shape,kwargs,exclude,expected", [
    # AlexNet conv1 without rowshift: forward im2col; dW and dx batch_inner (Cg*K 3*121 = 363 >= 64).
    pytest.param((32, 3, 224, 224), (64, 3, 11, 11), dict(stride=4, padding=2), ("rowshift",),
                 expect(NCHW, "im2col", "batch_inner", "batch_inner"), id="alexnet-conv1-no-rowshift"),
    # resnet18-CIFAR stage 3 (NCHW input, L 64 -> batch_last) without winograd: rowshift, and the correlation too.
    pytest.param((64, 256, 8, 8), (256, 256, 3, 3), dict(padding=1), ("winograd",),
                 expect(BL, "rowshift", "rowshift", "adjoint/rowshift"), id="stage3-no-winograd",
                 marks=pytest.mark.skipif(not HAVE_BLAS, reason=BLAS_REASON)),
    # Xception's depthwise without the compiled loops: the layout rules go on (L 361 < 1024 -> batch_last).
    pytest.param((8, 728, 19, 19), (728, 1, 3, 3), dict(padding=1, groups=728), ("depthwise",),
                 expect(BL, BL, BL, BL), id="depthwise-excluded"),
    # LeNet-5 c1 without the direct loop.
    pytest.param((128, 1, 32, 32), (6, 1, 5, 5), {}, ("direct",), expect(BL, BL, BL, BL), id="lenet5-no-direct"),
    # a ResNet-50 1x1 without pointwise: forward im2col, dW batch_inner (Cg*K 64), dx adjoint whose correlation
    # (also 1x1) takes im2col.
    pytest.param((32, 64, 56, 56), (256, 64, 1, 1), {}, ("pointwise",),
                 expect(NCHW, "im2col", "batch_inner", "adjoint/im2col"), id="1x1-no-pointwise"),
])
def test_plan_with_routes_left_out(x_shape, w_shape, kwargs, exclude, expected):
    with use_routes(exclude=exclude):
        got = F.conv_plan(x_shape, w_shape, **kwargs)
    assert got.names() == expected, got.describe()


# --- thresholds --------------------------------------------------------------------------------
# rowshift-23 above: 23 product rows, one short of rowshift_min_rows.
ROWS23 = ((8, 23, 40, 40), (23, 23, 3, 1))
ROWS23_KW = dict(padding=(1, 0))
ROWS23_DEFAULT = expect(NCHW, "im2col", "batch_inner", "batch_inner")
ROWS23_AT_23 = expect(NCHW, "rowshift", "rowshift", "rowshift")

needs_blas = pytest.mark.skipif(not HAVE_BLAS, reason=BLAS_REASON)
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason=NUMBA_REASON)


def test_defaults_are_the_documented_thresholds():
    # The table above was worked out with these; a changed default must change this test too.
    th = Thresholds()
    assert (th.winograd_min_channels, th.rowshift_min_rows, th.direct_max_out_channels, th.direct_min_batch,
            th.forward_per_image_min_l, th.first_layer_widening, th.batch_inner_min_cgk, th.adjoint_min_channels,
            th.gather_min_stride, th.max_chunk) == (128, 24, 8, 32, 1024, 8, 64, 64, 3, None)
    assert thresholds() == th  # nothing in force here


@needs_blas
def test_use_thresholds_moves_a_boundary_for_its_block_only():
    assert names(*ROWS23, **ROWS23_KW) == ROWS23_DEFAULT
    with use_thresholds(rowshift_min_rows=23) as th:
        assert th.rowshift_min_rows == 23 and thresholds() is th
        assert names(*ROWS23, **ROWS23_KW) == ROWS23_AT_23
        with use_thresholds(rowshift_min_rows=24):  # nested: the inner value, then the outer one again
            assert names(*ROWS23, **ROWS23_KW) == ROWS23_DEFAULT
        assert names(*ROWS23, **ROWS23_KW) == ROWS23_AT_23
    assert thresholds() == Thresholds()
    assert names(*ROWS23, **ROWS23_KW) == ROWS23_DEFAULT


@needs_blas
def test_use_thresholds_is_restored_after_an_exception():
    with pytest.raises(RuntimeError, match="inside the block"):
        with use_thresholds(rowshift_min_rows=23, winograd_min_channels=1):
            assert names(*ROWS23, **ROWS23_KW) == ROWS23_AT_23
            raise RuntimeError("inside the block")
    assert thresholds() == Thresholds()
    assert names(*ROWS23, **ROWS23_KW) == ROWS23_DEFAULT


@pytest.mark.parametrize("change,x_shape,w_shape,kwargs,before,after", [
    # winograd from 64 channels: resnet18-CIFAR stage 1 (batch-last input) takes it, and its correlation too.
    pytest.param(dict(winograd_min_channels=64), (64, 64, 32, 32), (64, 64, 3, 3), dict(padding=1, batch_last=True),
                 expect(BL, "rowshift", "rowshift", "adjoint/rowshift"),
                 expect(BL, "winograd", "rowshift", "adjoint/winograd"), id="winograd_min_channels",
                 marks=[needs_numba, needs_blas]),
    # the direct loop from batch 31 (LeNet-5 c1 at batch 31).
    pytest.param(dict(direct_min_batch=31), (31, 1, 32, 32), (6, 1, 5, 5), {}, expect(BL, BL, BL, BL),
                 expect(BL, "direct", BL, BL), id="direct_min_batch", marks=needs_numba),
    pytest.param(dict(direct_max_out_channels=9), (128, 1, 32, 32), (9, 1, 5, 5), {}, expect(BL, BL, BL, BL),
                 expect(BL, "direct", BL, BL), id="direct_max_out_channels", marks=needs_numba),
    # few positions below 1025: L 1024 goes batch-last.
    pytest.param(dict(forward_per_image_min_l=1025), (8, 2, 32, 32), (2, 2, 3, 3), dict(padding=1),
                 expect(NCHW, "im2col", "im2col", "im2col"), expect(BL, BL, BL, BL), id="forward_per_image_min_l"),
    # widening at 7x: 3 -> 23 >= 21 goes batch-last.
    pytest.param(dict(first_layer_widening=7), (32, 3, 32, 32), (23, 3, 3, 3), dict(padding=1),
                 expect(NCHW, "im2col", "im2col", "im2col"), expect(BL, BL, BL, BL), id="first_layer_widening"),
    # batch_inner from Cg*K 63.
    pytest.param(dict(batch_inner_min_cgk=63), (8, 1, 40, 40), (4, 1, 7, 9), {},
                 expect(NCHW, "im2col", "im2col", "im2col"), expect(NCHW, "im2col", "batch_inner", "batch_inner"),
                 id="batch_inner_min_cgk"),
    # adjoint from 63 channels (1-D).
    pytest.param(dict(adjoint_min_channels=63), (8, 63, 2048), (64, 63, 3), dict(padding=1),
                 expect(NCHW, "im2col", "batch_inner", "batch_inner"),
                 expect(NCHW, "im2col", "batch_inner", "adjoint/im2col"), id="adjoint_min_channels"),
    # no gathering below stride 5: the 1x1 stride-4 conv is planned as it is (L 64 -> batch_last).
    pytest.param(dict(gather_min_stride=5), (8, 64, 32, 32), (64, 64, 1, 1), dict(stride=4),
                 expect(NCHW, "pointwise", "pointwise", "adjoint/pointwise"), expect(BL, BL, BL, BL),
                 id="gather_min_stride"),
])
def test_each_threshold_moves_its_rule(change, x_shape, w_shape, kwargs, before, after):
    assert names(x_shape, w_shape, **kwargs) == before
    with use_thresholds(**change):
        assert names(x_shape, w_shape, **kwargs) == after
    assert names(x_shape, w_shape, **kwargs) == before


@needs_blas
def test_set_thresholds_is_process_wide_and_returns_the_previous_ones():
    default = thresholds()
    previous = set_thresholds(rowshift_min_rows=23)
    try:
        assert previous == default == Thresholds()
        assert thresholds().rowshift_min_rows == 23
        assert names(*ROWS23, **ROWS23_KW) == ROWS23_AT_23
        seen = {}
        thread = threading.Thread(target=lambda: seen.update(names=names(*ROWS23, **ROWS23_KW)))
        thread.start()
        thread.join()
        assert seen["names"] == ROWS23_AT_23  # process-wide: every thread sees it
        again = set_thresholds(winograd_min_channels=7)  # returns what was in force: 23 rows, default winograd
        assert again.rowshift_min_rows == 23 and again.winograd_min_channels == 128
        assert thresholds().rowshift_min_rows == 23 and thresholds().winograd_min_channels == 7
        with use_thresholds(rowshift_min_rows=24):  # a block still overrides it
            assert names(*ROWS23, **ROWS23_KW) == ROWS23_DEFAULT
    finally:
        set_thresholds(**dataclasses.asdict(previous))
    assert thresholds() == default
    assert names(*ROWS23, **ROWS23_KW) == ROWS23_DEFAULT


def test_set_thresholds_with_a_bad_name_changes_nothing():
    with pytest.raises(ValueError, match="unknown threshold 'rowshift_rows'.*rowshift_min_rows"):
        set_thresholds(rowshift_min_rows=3, rowshift_rows=2)
    assert thresholds() == Thresholds()


@pytest.mark.parametrize("changes,message", [
    (dict(winograd_channels=64), "unknown threshold 'winograd_channels'; thresholds: .*winograd_min_channels"),
    (dict(rowshift_min_rows=-1), "rowshift_min_rows must be an int >= 0, got -1"),
    (dict(rowshift_min_rows=2.5), "rowshift_min_rows must be an int >= 0, got 2.5"),
    (dict(direct_min_batch=True), "direct_min_batch must be an int >= 0, got True"),
    (dict(cols_budget_bytes=None), "cols_budget_bytes must be an int >= 0, got None"),
])
def test_bad_thresholds_raise_clear_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        with use_thresholds(**changes):
            pass
    assert thresholds() == Thresholds()


def test_max_chunk_may_be_none():
    with use_thresholds(max_chunk=2):
        with use_thresholds(max_chunk=None) as th:
            assert th.max_chunk is None


# --- forcing routes -------------------------------------------------------------------------------
# resnet18-CIFAR stage 1 on an NCHW input: nchw, rowshift forward and dW, adjoint/rowshift dx.
STAGE1 = ((8, 64, 32, 32), (64, 64, 3, 3))
STAGE1_KW = dict(padding=1)


@needs_blas
def test_nested_use_routes_combine_and_unwind():
    assert names(*STAGE1, **STAGE1_KW) == expect(NCHW, "rowshift", "rowshift", "adjoint/rowshift")
    with use_routes(forward="im2col"):
        # the forced forward route also runs the adjoint's correlation (a forward convolution)
        assert names(*STAGE1, **STAGE1_KW) == expect(NCHW, "im2col", "rowshift", "adjoint/im2col")
        with use_routes(dw="batch_inner", exclude=("adjoint",)):
            assert names(*STAGE1, **STAGE1_KW) == expect(NCHW, "im2col", "batch_inner", "rowshift")
            with use_routes(forward="rowshift", exclude=("rowshift",)):
                # the inner forward replaces the outer one; rowshift is excluded from the rules, but a
                # forced route is taken: dx, by the rules, goes on to batch_inner (Cg*K 576)
                got = F.conv_plan(*STAGE1, **STAGE1_KW)
                assert got.names() == expect(NCHW, "rowshift", "batch_inner", "batch_inner"), got.describe()
            assert names(*STAGE1, **STAGE1_KW) == expect(NCHW, "im2col", "batch_inner", "rowshift")
        with use_routes(layout="batch_last"):
            assert names(*STAGE1, **STAGE1_KW) == expect(BL, "rowshift", "rowshift", "adjoint/rowshift")
        assert names(*STAGE1, **STAGE1_KW) == expect(NCHW, "im2col", "rowshift", "adjoint/im2col")
    assert names(*STAGE1, **STAGE1_KW) == expect(NCHW, "rowshift", "rowshift", "adjoint/rowshift")


def test_strict_is_inherited_by_nested_blocks():
    with use_routes(forward="winograd", strict=True):
        with use_routes(dw="im2col"):  # strict not repeated: still strict
            with pytest.raises(ValueError, match="forced forward route 'winograd' cannot run"):
                F.conv_plan((2, 3, 8, 8), (4, 3, 5, 5))


@needs_blas
def test_use_routes_is_context_local():
    """A thread does not inherit the block (contextvars: a new thread starts from an empty context);
    a copied context does; and the block's thread sees it throughout."""
    forced = expect(NCHW, "im2col", "im2col", "im2col")
    default = expect(NCHW, "rowshift", "rowshift", "adjoint/rowshift")
    seen: dict[str, object] = {}
    with use_routes(forward="im2col", dw="im2col", dx="im2col"), use_thresholds(rowshift_min_rows=10**6):
        assert names(*STAGE1, **STAGE1_KW) == forced
        plain = threading.Thread(target=lambda: seen.update(plain=names(*STAGE1, **STAGE1_KW),
                                                            th=thresholds()))
        plain.start()
        plain.join()
        ctx = contextvars.copy_context()
        copied = threading.Thread(target=lambda: ctx.run(lambda: seen.update(copied=names(*STAGE1, **STAGE1_KW))))
        copied.start()
        copied.join()
        assert names(*STAGE1, **STAGE1_KW) == forced
    assert seen["plain"] == default and seen["th"] == Thresholds()
    assert seen["copied"] == forced


def test_a_thread_block_does_not_reach_the_caller():
    done = threading.Event()
    release = threading.Event()

    def worker():
        with use_routes(forward="im2col", layout="nchw"), use_thresholds(rowshift_min_rows=1):
            done.set()
            release.wait(5)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert done.wait(5)
        assert thresholds() == Thresholds()
        assert names((128, 1, 32, 32), (9, 1, 5, 5)) == expect(BL, BL, BL, BL)
    finally:
        release.set()
        thread.join()


@needs_blas
def test_the_plan_cache_does_not_leak_a_forced_plan():
    geom = Geometry(n=5, c=64, o=64, spatial=(32, 32), kernel=(3, 3), stride=(1, 1), padding=((1, 1), (1, 1)),
                    dilation=(1, 1), groups=1)
    # first made inside the block: the forced plan must not be what the rules give afterwards
    with use_routes(forward="im2col", dw="batch_inner", dx="im2col", layout="nchw"):
        inside = plan(geom)
        assert inside.names() == expect(NCHW, "im2col", "batch_inner", "im2col")
        assert plan(geom) is inside  # cached within the block
    outside = plan(geom)
    assert outside.names() == expect(NCHW, "rowshift", "rowshift", "adjoint/rowshift")
    assert plan(geom) is outside
    # ... and the other way round, with thresholds
    with use_thresholds(rowshift_min_rows=10**6):
        assert plan(geom).names() == expect(NCHW, "im2col", "batch_inner", "adjoint/im2col")
    assert plan(geom) is outside
    # an equal block later finds its own plan again, not the one of the other settings
    with use_routes(forward="im2col", dw="batch_inner", dx="im2col", layout="nchw"):
        assert plan(geom).names() == inside.names()


def test_the_plan_cache_follows_set_thresholds():
    geom = Geometry(n=8, c=2, o=2, spatial=(32, 32), kernel=(3, 3), stride=(1, 1), padding=((1, 1), (1, 1)),
                    dilation=(1, 1), groups=1)
    assert plan(geom).names()["layout"] == NCHW  # L 1024, cached
    previous = set_thresholds(forward_per_image_min_l=1025)
    try:
        assert plan(geom).names()["layout"] == BL
    finally:
        set_thresholds(**dataclasses.asdict(previous))
    assert plan(geom).names()["layout"] == NCHW


# --- errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,message", [
    (dict(forward="im2colx"), r"unknown forward route 'im2colx'; routes: depthwise, winograd, direct, rowshift, "
                              r"pointwise, adjoint, batch_last, batch_inner, im2col"),
    (dict(dw="Rowshift"), "unknown dw route 'Rowshift'"),
    (dict(exclude=("im2col", "gemm")), "unknown route 'gemm' in exclude"),
    (dict(dx="pointwise"), r"route 'pointwise' has no dx pass \(it has forward, dw\)"),
    (dict(dw="winograd"), r"route 'winograd' has no dw pass \(it has forward\)"),
    (dict(dw="direct"), r"route 'direct' has no dw pass \(it has forward\)"),
    (dict(forward="adjoint"), r"route 'adjoint' has no forward pass \(it has dx\)"),
    (dict(forward="batch_inner"), r"route 'batch_inner' has no forward pass \(it has dw, dx\)"),
    (dict(layout="NCHW"), r"layout must be one of \('nchw', 'batch_last'\), got 'NCHW'"),
    (dict(layout="channels_last"), "layout must be one of .*got 'channels_last'"),
])
def test_bad_use_routes_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        with use_routes(**kwargs):
            pass
    assert names((8, 2, 32, 32), (2, 2, 3, 3), padding=1) == expect(NCHW, "im2col", "im2col", "im2col")


def test_excluding_every_route_of_a_direction_is_a_clear_error():
    with use_routes(exclude=("im2col", "rowshift"), layout="nchw"):
        with pytest.raises(ValueError, match=r"no forward route can run \(8, 2, 32, 32\) \* \(2, 2, 3, 3\), stride 1, "
                                             r"padding 1 in the nchw layout \(excluded: \['im2col', 'rowshift'\]\)"):
            F.conv_plan((8, 2, 32, 32), (2, 2, 3, 3), padding=1)
    # dW alone: the forward forced onto a route the rules may not take
    with use_routes(forward="im2col", exclude=("im2col", "batch_inner", "rowshift"), layout="nchw"):
        with pytest.raises(ValueError, match=r"no dw route can run .* in the nchw layout \(excluded: "
                                             r"\['batch_inner', 'im2col', 'rowshift'\]\)"):
            F.conv_plan((8, 2, 32, 32), (2, 2, 3, 3), padding=1)


# --- explain and describe ---------------------------------------------------------------------------
def _lines(p: Plan) -> dict[str, str]:
    lines = p.describe().splitlines()
    assert lines[0] == p.geom.describe()
    assert [line.split()[0] for line in lines[1:]] == ["layout", "forward", "dw", "dx"]
    return {line.split()[0]: line for line in lines[1:]}


@needs_blas
def test_describe_names_each_direction_with_its_rule_and_threshold_values():
    p = F.conv_plan((8, 23, 40, 40), (23, 23, 3, 1), padding=(1, 0))
    lines = _lines(p)
    assert lines["layout"].split()[1] == "nchw" and "long rows" in lines["layout"]
    assert lines["forward"].split()[1] == "im2col" and lines["forward"].endswith("the general route")
    assert lines["dw"].split()[1] == "batch_inner" and "Cg*K >= batch_inner_min_cgk (64)" in lines["dw"]
    assert lines["dx"].split()[1] == "batch_inner" and "batch_inner_min_cgk (64)" in lines["dx"]
    with use_thresholds(rowshift_min_rows=23, batch_inner_min_cgk=5):
        lines = _lines(F.conv_plan((8, 23, 40, 40), (23, 23, 3, 1), padding=(1, 0)))
        for key in ("forward", "dw", "dx"):
            assert lines[key].split()[1] == "rowshift"
            assert "products per kernel row with >= rowshift_min_rows (23) rows" in lines[key]
    lines = _lines(F.conv_plan((8, 24, 40, 40), (24, 24, 3, 1), padding=(1, 0)))
    assert "rowshift_min_rows (24)" in lines["forward"]


@pytest.mark.parametrize("x_shape,w_shape,kwargs,key,fragments", [
    pytest.param((128, 1, 32, 32), (6, 1, 5, 5), {}, "forward",
                 ["direct", "direct_max_out_channels (8)", "direct_min_batch (32)"], id="direct", marks=needs_numba),
    pytest.param((128, 1, 32, 32), (6, 1, 5, 5), {}, "layout", ["batch_last", "forward_per_image_min_l (1024)"],
                 id="few-positions"),
    pytest.param((32, 3, 32, 32), (24, 3, 3, 3), dict(padding=1), "layout",
                 ["batch_last", "O >= first_layer_widening (8) * C"], id="widening"),
    pytest.param((64, 128, 16, 16), (128, 128, 3, 3), dict(padding=1, batch_last_input=True), "forward",
                 ["winograd", "winograd_min_channels (128)"], id="winograd", marks=needs_numba),
    pytest.param((64, 128, 16, 16), (128, 128, 3, 3), dict(padding=1, batch_last_input=True), "dx",
                 ["adjoint/winograd", "adjoint_min_channels (64)"], id="adjoint", marks=needs_numba),
    pytest.param((64, 128, 16, 16), (128, 128, 3, 3), dict(padding=1, batch_last_input=True), "layout",
                 ["batch_last", "arrives batch-last"], id="batch-last-input"),
    pytest.param((8, 728, 19, 19), (728, 1, 3, 3), dict(padding=1, groups=728), "dw",
                 ["depthwise", "2-D depthwise"], id="depthwise", marks=needs_numba),
    pytest.param((32, 64, 56, 56), (64, 64, 1, 1), {}, "dw", ["pointwise", "1x1 at stride 1, unpadded"],
                 id="pointwise"),
])
def test_describe_reasons(x_shape, w_shape, kwargs, key, fragments):
    line = _lines(F.conv_plan(x_shape, w_shape, **kwargs))[key]
    assert line.split()[1] == fragments[0]
    for fragment in fragments[1:]:
        assert fragment in line, line


def test_explain_is_the_plans_description_and_names_forced_routes():
    geom = Geometry(n=4, c=3, o=5, spatial=(9, 9), kernel=(3, 3), stride=(1, 1), padding=((1, 1), (1, 1)),
                    dilation=(1, 1), groups=1)
    assert explain(geom) == plan(geom).describe()
    with use_routes(forward="im2col", dx="batch_inner", layout="nchw"):
        lines = _lines(plan(geom))
        assert explain(geom) == plan(geom).describe()
    assert lines["layout"].split()[1:] == ["nchw", "forced", "(use_routes)"]
    assert lines["forward"].split()[1:] == ["im2col", "forced", "(use_routes)"]
    assert lines["dx"].split()[1:] == ["batch_inner", "forced", "(use_routes)"]
    assert "forced" not in lines["dw"]  # dW by the rules: rows 9 < 24, Cg*K 27 < 64
    assert lines["dw"].split()[1] == "im2col"


def test_every_rule_table_ends_with_a_rule_that_always_holds():
    geom = Geometry(n=1, c=1, o=1, spatial=(1,), kernel=(1,), stride=(1,), padding=((0, 0),), dilation=(1,), groups=1)
    for table in (planner.LAYOUT_RULES, planner.FORWARD_RULES, planner.DW_RULES, planner.DX_RULES):
        assert table[-1][2](geom, Thresholds())
    assert [r[0] for r in planner.FORWARD_RULES] == ["depthwise", "winograd", "direct", "rowshift", "pointwise",
                                                      "batch_last", "im2col"]
    assert [r[0] for r in planner.DW_RULES] == ["depthwise", "rowshift", "pointwise", "batch_last", "batch_inner",
                                                 "im2col"]
    assert [r[0] for r in planner.DX_RULES] == ["depthwise", "adjoint", "rowshift", "batch_last", "batch_inner",
                                                 "im2col"]
