"""Convolution in 1, 2 and 3 spatial dims: the public functions, their checks, and ConvNd.

Shape legend (2-D names; 1-D drops H, 3-D adds D before H):

    N       batch                        G       groups
    C       input channels               Cg      input channels per group  = C / G
    O       output channels              Og      output channels per group = O / G
    H, W    input size                   HP, WP  padded input size
    KH, KW  kernel size                  K       KH*KW (number of kernel taps)
    SH, SW  stride                       DH, DW  dilation
    PH, PW  padding (before, after)      OH, OW  output size, L = OH*OW

What deep learning calls convolution is cross-correlation (the kernel is not flipped):

    out[n, o, y, x] = b[o] + sum_{c in group(o), i, j} w[o, c, i, j] * xp[n, c, y*SH + i*DH, x*SW + j*DW]

where xp is the zero-padded input. With the patches gathered into columns (im2col,
juanji/kernels/im2col.py) this is a matrix product per group:

    cols (N, G, Cg*K, L) = im2col(xp)
    out  (N, G, Og, L)   = W (G, Og, Cg*K) @ cols          -> reshapes to (N, O, OH, OW), no transpose

and the backward pass is two more products and the adjoint scatter:

    dW  = sum_n dout_n @ cols_n^T          (G, Og, Cg*K)
    dcols = W^T @ dout                     (N, G, Cg*K, L)
    dx  = crop(col2im(dcols))              KH*KW strided adds, then drop the padding
    db  = sum of dout over n, y, x

That is the baseline route, written out in juanji/kernels/conv/im2col_gemm.py; read it
first. The same numbers are computed faster, on the shapes where each pays, by the other
routes of juanji/kernels/conv/ (one file each, headed by its derivation): products per
kernel row, Winograd's F(2x2, 3x3), a batch-last layout for short rows, 1x1 convs with no
gather, dx as a correlation, compiled depthwise and direct loops. Which one a call takes is
decided in one place, juanji/kernels/conv/planner.py, from one table of thresholds;
``conv_plan`` shows it for one call and juanji.analysis.conv_plans for a model, and
``conv_routes`` forces routes by name for a block of code.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..autograd import Function
from ..backend import xp
from ..kernels.conv import Geometry, plan, thresholds, use_routes
from ..kernels.conv.planner import Plan
from ..kernels.layout import from_batch_last, is_batch_last, to_batch_last
from ..tensor import Tensor
from ._args import check_input, ntuple, resolve_padding

__all__ = ["conv1d", "conv2d", "conv3d", "conv_plan", "conv_routes"]

Padding = int | Sequence[int] | str

conv_routes = use_routes  # juanji.functional.conv_routes(forward="im2col", ...): see planner.py


class ConvNd(Function):
    """N-d grouped, strided, dilated cross-correlation (1, 2 or 3 spatial dims).

    Forward asks the planner for a plan (a layout and a route per direction) and keeps the
    plan, the input and the weight, not the columns: the input is referenced by the graph
    anyway (so keeping it costs no memory), whereas the columns are K/(SH*SW) times larger
    than the input (9x for a 3x3 stride-1 conv: 58 MB instead of 6.4 MB for a (8, 64, 56, 56)
    float32 activation). Backward calls the plan's dW and dx routes, which re-gather what
    they need chunk by chunk; the gather is a memory copy, cheap next to the products.
    """

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, *,
                stride: tuple[int, ...], padding: tuple[tuple[int, int], ...],
                dilation: tuple[int, ...], groups: int) -> np.ndarray:
        geom = Geometry.of(x, w.shape, stride, padding, dilation, groups, is_batch_last(x))
        if geom.n == 0:
            # An empty batch, as PyTorch allows: an empty output, and zero gradients for the
            # weight and bias in backward (the routes all reshape by the batch).
            self.save_for_backward(x, w, None)
            return xp.zeros((0, geom.o, *geom.out_size), dtype=x.dtype)
        p = plan(geom)
        self.save_for_backward(x, w, p)
        if p.layout == "batch_last":
            return from_batch_last(p.forward.forward(geom, p.layout, to_batch_last(x), w, b, p.th))  # a view
        return p.forward.forward(geom, p.layout, xp.ascontiguousarray(x), w, b, p.th)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, w, p = self.saved
        need_x, need_w, need_b = self.needs_input_grad[:3]
        db = grad.sum(axis=(0, *range(2, grad.ndim))) if need_b else None  # (O,)
        if p is None:  # an empty batch (see forward)
            return (xp.zeros(x.shape, dtype=x.dtype) if need_x else None,
                    xp.zeros(w.shape, dtype=w.dtype) if need_w else None,
                    xp.zeros(grad.shape[1], dtype=grad.dtype) if need_b else None)
        dw, dx = _gradients(p, x, w, grad, need_w, need_x)
        return dx, dw, db


def _gradients(p: Plan, x: np.ndarray, w: np.ndarray, grad: np.ndarray, need_w: bool,
               need_x: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(dW, dx) by the plan's routes, in its layout; dx comes back as an (N, C, *spatial) array."""
    geom, layout, th = p.geom, p.layout, p.th
    if layout == "batch_last":
        # The output gradient arrives batch-last when the layers after this one produced it
        # from this layer's batch-last output (the usual case): no copy then.
        x = to_batch_last(x) if need_w else x
        grad = to_batch_last(grad)
    dw = dx = None
    if need_w and need_x and p.dw is p.dx:
        dw, dx = p.dw.grads(geom, layout, x, w, grad, True, True, th)  # one pass over the columns
    else:
        if need_x:
            dx = p.dx.input_grad(geom, layout, x, w, grad, th)
        if need_w:
            dw = p.dw.weight_grad(geom, layout, x, w, grad, th)
    if dx is not None and layout == "batch_last":
        dx = from_batch_last(dx)  # (N, C, *spatial), a view of (C, *spatial, N)
    return dw, dx


def conv_plan(x_shape: Sequence[int], w_shape: Sequence[int], stride: int | Sequence[int] = 1,
              padding: Padding = 0, dilation: int | Sequence[int] = 1, groups: int = 1,
              dtype: Any = np.float32, batch_last_input: bool = False) -> Plan:
    """The plan a convolution of these shapes takes: its layout and a route per direction.

    ``print(F.conv_plan((8, 64, 56, 56), (64, 64, 3, 3), padding=1).describe())`` prints one
    line per direction with the planner rule that chose it; ``plan.names()`` gives the route
    names. Arguments as conv2d's, with the shapes for the arrays; ``batch_last_input``: the
    input arrives from a batch-last layer (juanji/kernels/layout.py). Strides wider than the
    window are planned as the call runs them (on the gathered taps, see below)."""
    x_shape, w_shape = tuple(int(v) for v in x_shape), tuple(int(v) for v in w_shape)
    spatial = len(x_shape) - 2
    op = {1: "conv1d", 2: "conv2d", 3: "conv3d"}.get(spatial, "conv_plan")
    if spatial not in (1, 2, 3) or len(w_shape) != len(x_shape) or any(v < 0 for v in x_shape + w_shape):
        raise ValueError(f"conv_plan: expected (N, C, *spatial) and (O, C/groups, *kernel) shapes with 1 to 3 "
                         f"spatial dims, got {x_shape} and {w_shape}")
    x = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=dtype), shape=x_shape, strides=(0,) * len(x_shape))
    w = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=dtype), shape=w_shape, strides=(0,) * len(w_shape))
    params = _check_conv_args(op, spatial, Tensor(x), Tensor(w), None, stride, padding, dilation, groups)
    taps, params = _wide_stride_params(x_shape[2:], w_shape[2:], params)
    sizes = tuple(len(taps[2 + i]) if 2 + i in taps else n for i, n in enumerate(x_shape[2:]))
    geom = Geometry(n=x_shape[0], c=x_shape[1], o=w_shape[0], spatial=sizes, kernel=w_shape[2:],
                    stride=params["stride"], padding=params["padding"], dilation=params["dilation"],
                    groups=params["groups"], dtype=np.dtype(dtype),
                    x_batch_last=bool(batch_last_input) and not taps)  # the gathered taps are NCHW
    return plan(geom)


# --- argument checks, apart from the math ---------------------------------------------------
def _check_conv_args(op: str, spatial: int, input: Any, weight: Any, bias: Any, stride: Any,
                     padding: Any, dilation: Any, groups: Any) -> dict[str, Any]:
    """Validate a convolution call; return the normalised keyword arguments of ConvNd."""
    x = check_input(op, input, spatial)
    if not isinstance(weight, Tensor):
        raise TypeError(f"{op}: weight must be a juanji.Tensor, got {type(weight).__name__}")
    if weight.ndim != 2 + spatial:
        layout = {1: "(O, C/groups, KL)", 2: "(O, C/groups, KH, KW)", 3: "(O, C/groups, KD, KH, KW)"}
        raise ValueError(f"{op}: expected a {2 + spatial}-D weight {layout[spatial]}, "
                         f"got shape {weight.shape}")
    w = weight
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"{op}: groups must be an int, got {groups!r}")
    groups = int(groups)
    if groups < 1:
        raise ValueError(f"{op}: groups must be >= 1, got {groups}")
    if w.dtype != x.dtype:
        raise TypeError(f"{op}: input dtype {x.dtype} and weight dtype {w.dtype} differ")
    o_ch, cg = w.shape[:2]
    c = x.shape[1]
    # Empty channel axes: PyTorch raises for O < groups; for C = 0 it returns (N, 0, ...)
    # whatever O the weight declares, a shape no next layer takes, so that is an error here too.
    if o_ch < groups:
        raise ValueError(f"{op}: weight has {o_ch} output channels (weight shape {w.shape}); "
                         f"groups={groups} needs at least {groups}")
    if c == 0:
        raise ValueError(f"{op}: input has 0 channels (input shape {x.shape}); a convolution needs at least one")
    if o_ch % groups != 0:
        raise ValueError(
            f"{op}: out channels {o_ch} (weight shape {w.shape}) are not divisible by groups={groups}")
    if c % groups != 0:
        raise ValueError(f"{op}: input channels {c} (input shape {x.shape}) are not divisible by "
                         f"groups={groups}")
    if cg * groups != c:
        raise ValueError(
            f"{op}: input has {c} channels but weight expects {cg * groups} "
            f"(weight shape {w.shape}, groups={groups})")
    if bias is not None:
        if not isinstance(bias, Tensor):
            raise TypeError(f"{op}: bias must be a juanji.Tensor or None, got {type(bias).__name__}")
        if bias.shape != (o_ch,):
            raise ValueError(f"{op}: bias must have shape ({o_ch},) to match weight shape {w.shape}, "
                             f"got {bias.shape}")
        if bias.dtype != x.dtype:
            raise TypeError(f"{op}: input dtype {x.dtype} and bias dtype {bias.dtype} differ")
    kernel = w.shape[2:]
    if any(k < 1 for k in kernel):
        raise ValueError(f"{op}: weight has an empty kernel, shape {w.shape}")
    stride_t = ntuple(stride, spatial, op, "stride", minimum=1)
    dilation_t = ntuple(dilation, spatial, op, "dilation", minimum=1)
    pads = resolve_padding(padding, x.shape[2:], kernel, stride_t, dilation_t, op)
    for i, (size, k, d, (pb, pa)) in enumerate(zip(x.shape[2:], kernel, dilation_t, pads)):
        span = d * (k - 1) + 1
        if span > size + pb + pa:
            raise ValueError(
                f"{op}: kernel size {k} (dilated to {span}) is larger than the padded input size "
                f"{size + pb + pa} in spatial dim {i} (input shape {x.shape}, weight shape {w.shape}, "
                f"padding {pads[i]})")
    return {"stride": stride_t, "padding": pads, "dilation": dilation_t, "groups": groups}


# --- strides wider than the window -----------------------------------------------------------
# Along an axis whose stride S exceeds the dilated kernel extent E = D*(K-1) + 1, the windows
# do not overlap and the S - E positions between them are never read. The routes above work on
# the whole padded input and some loop over stride phases (products per kernel row, the compiled
# depthwise loops), so their time and memory would grow with S and the padding instead of with
# the output (bench/NOTES.md, "2026-12-07: strides wider than the window"). There, only the taps
# are gathered:
#
#     xg[..., o*K + t] = xp[..., o*S + t*D]      o < OUT, t < K    (xp: the padded input)
#
# which is zero where o*S + t*D - PB falls outside the input (no padding is materialised), and
# the conv runs on xg with stride K, dilation 1 and no padding along that axis: window o of xg
# is exactly the K taps of window o of xp, so the output is the same, OUT*K long per axis. Its
# backward is the adjoint scatter; the taps are distinct, so it is a plain assignment.
# Strides below the planner's gather_min_stride keep their routes: the only ordinary convs with
# S > E are ResNet's 1x1 stride-2 shortcuts, whose routes were measured as they are.


class _GatherTaps(Function):
    """xg = x at the given input positions per spatial axis, zero where a position is -1."""

    def forward(self, x: np.ndarray, taps: dict[int, np.ndarray]) -> np.ndarray:
        self.save_for_backward(x.shape, taps)
        for axis, pos in taps.items():
            inside = pos >= 0
            x = xp.take(x, xp.where(inside, pos, 0), axis=axis)  # (..., OUT*K, ...)
            x[(slice(None),) * axis + (~inside,)] = 0  # taps in the padding
        return x

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray, None]:
        shape, taps = self.saved
        for axis, pos in reversed(taps.items()):
            inside = pos >= 0
            size = list(grad.shape)
            size[axis] = shape[axis]
            dx = xp.zeros(size, dtype=grad.dtype)
            head = (slice(None),) * axis
            dx[head + (pos[inside],)] = grad[head + (inside,)]  # distinct taps: no sums needed
            grad = dx
        return grad, None  # nothing for taps


def _wide_stride_params(spatial: Sequence[int], kernel: Sequence[int],
                        params: dict[str, Any]) -> tuple[dict[int, np.ndarray], dict[str, Any]]:
    """Where the stride exceeds the dilated kernel extent: the taps to gather per axis (input
    positions, -1 in the padding) and the conv's arguments on the gathered input (see above)."""
    stride, padding, dilation = list(params["stride"]), list(params["padding"]), list(params["dilation"])
    taps: dict[int, np.ndarray] = {}
    for i, (n, k) in enumerate(zip(spatial, kernel)):
        s, d, (pb, pa) = stride[i], dilation[i], padding[i]
        if s < thresholds().gather_min_stride or s <= d * (k - 1) + 1:
            continue
        out = (n + pb + pa - d * (k - 1) - 1) // s + 1
        pos = (np.arange(out)[:, None] * s + np.arange(k)[None, :] * d - pb).reshape(-1)  # (OUT*K,)
        taps[2 + i] = np.where((pos >= 0) & (pos < n), pos, -1)
        stride[i], padding[i], dilation[i] = k, (0, 0), 1
    if not taps:
        return taps, params
    return taps, dict(params, stride=tuple(stride), padding=tuple(padding), dilation=tuple(dilation))


def _conv(op: str, spatial: int, input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any,
          padding: Any, dilation: Any, groups: int) -> Tensor:
    params = _check_conv_args(op, spatial, input, weight, bias, stride, padding, dilation, groups)
    taps, params = _wide_stride_params(input.shape[2:], weight.shape[2:], params)
    if taps:
        input = _GatherTaps.apply(input, taps)
    return ConvNd.apply(input, weight, bias, **params)


# --- public functions ---------------------------------------------------------------------
def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
           padding: Padding = 0, dilation: int | Sequence[int] = 1, groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) over a batch of sequences.

    Args:
        input: (N, C, L_in).
        weight: (O, C/groups, KL).
        bias: (O,) or None.
        stride, dilation: int or 1-tuple, >= 1.
        padding: int or 1-tuple (zeros on both ends), "valid" (none) or "same"
            (TensorFlow's rule: output = ceil(L_in / stride), odd extra pad at the end).
        groups: split channels into this many independent groups (groups = C: depthwise).

    Shape:
        output (N, O, L_out), L_out = floor((L_in + 2P - D*(KL-1) - 1) / S) + 1.

    Example:
        >>> x, w = juanji.randn(2, 3, 10), juanji.randn(4, 3, 3)
        >>> F.conv1d(x, w, padding="same").shape
        (2, 4, 10)
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
           padding: Padding = 0, dilation: int | Sequence[int] = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) over a batch of images, NCHW.

    Args:
        input: (N, C, H, W).
        weight: (O, C/groups, KH, KW).
        bias: (O,) or None.
        stride, dilation: int or (SH, SW) / (DH, DW), >= 1.
        padding: int or (PH, PW) (zeros on both sides), "valid" (none) or "same"
            (TensorFlow's rule for every stride: OH = ceil(H / SH); when the total padding
            is odd the extra row/column goes at the bottom/right).
        groups: split channels into this many independent groups (groups = C: depthwise;
            O = m*C gives a depthwise conv with channel multiplier m).

    Shape:
        output (N, O, OH, OW), OH = floor((H + 2PH - DH*(KH-1) - 1) / SH) + 1, likewise OW.

    Example:
        >>> x, w = juanji.randn(8, 1, 28, 28), juanji.randn(30, 1, 5, 5)
        >>> F.conv2d(x, w).shape
        (8, 30, 24, 24)
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
           padding: Padding = 0, dilation: int | Sequence[int] = 1, groups: int = 1) -> Tensor:
    """3-D convolution (cross-correlation) over a batch of volumes, NCDHW.

    Args:
        input: (N, C, D, H, W).
        weight: (O, C/groups, KD, KH, KW).
        bias: (O,) or None.
        stride, dilation: int or 3-tuple, >= 1.
        padding: int or 3-tuple (zeros on both sides), "valid" or "same" (TensorFlow's rule).
        groups: split channels into this many independent groups.

    Shape:
        output (N, O, OD, OH, OW), OD = floor((D + 2PD - DD*(KD-1) - 1) / SD) + 1, likewise OH, OW.

    Example:
        >>> x, w = juanji.randn(1, 2, 6, 7, 8), juanji.randn(4, 2, 3, 3, 3)
        >>> F.conv3d(x, w, stride=2).shape
        (1, 4, 2, 3, 3)
    """
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)
