"""The ONNX operators juanji.onnx.load runs: one small function per op, and the table of them.

Each op is a function ``op(n, xs, training) -> output or list of outputs`` where ``n`` is
the node (its attributes, opset and label), ``xs`` its inputs (None for an omitted optional
input) and ``training`` the mode of the module that runs it. The table ``OPS`` says, per op
type, which inputs are *static* (shapes, axes, bounds: read as NumPy arrays), which are
running statistics (BatchNormalization's mean and variance: buffers), whether the op also
computes on plain NumPy arrays (then a node whose inputs are all constants is evaluated once,
at load), and a load-time check of its attributes.

Values are of two kinds. juanji Tensors carry the data and the autograd tape (the input,
Parameters, every activation). NumPy arrays carry what depends only on constants and
shapes: ``Shape`` returns one, and the ``Gather``/``Slice``/``Concat``/``Unsqueeze`` chain
that torch's exporter builds from it to compute a ``Reshape`` target stays in NumPy, at
forward time (a batch size is only known then). The "array ops" below accept both kinds
and return NumPy when every input is NumPy.

The ONNX specification of every op is at https://onnx.ai/onnx/operators/; where an op's
inputs moved from attributes to inputs across opsets (axes of Squeeze/Unsqueeze/Reduce*,
Clip's bounds, Pad's pads, Slice's starts/ends, Dropout's ratio, Split's sizes), the
functions read whichever of the two the node has: the checker has already verified that
the node matches its opset's schema.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .. import functional as F
from .._math import unbroadcast
from ..autograd import Function
from ..backend import xp
from ..tensor import Tensor

__all__: list[str] = []

# Padding is the one size an ONNX file states directly (every other size comes from the
# input or from tensors whose data the file holds). A pad of 10**9 in a Conv or Pad node would
# make forward allocate gigabytes from one number; no CNN pads by more than a few pixels, so
# pads beyond this are refused: at load for Conv's, the pools' and opset < 11 Pad's pads
# attribute, at forward (before F.pad allocates) for the pads input of later Pad nodes.
MAX_PAD = 1024


class NodeError(ValueError):
    """A node's attributes or inputs are invalid; the loader adds the file and node."""


@dataclass
class Node:
    """One ONNX node as the loader runs it."""

    op: str                          # op_type
    label: str                       # "node 12 'Conv_3' (Conv)", for messages
    inputs: tuple[str | None, ...]   # value names, None for an omitted optional input
    outputs: tuple[str, ...]         # value names ("" for an omitted optional output)
    attrs: dict[str, Any]            # attribute name -> Python value (str, int, float, lists, arrays)
    opset: int                       # the model's opset for the default domain
    extra: dict[str, Any] = field(default_factory=dict)  # facts the loader adds (see batch_norm)

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def arg(self, xs: Sequence[Any], attr_name: str, index: int) -> Any:
        """An argument given as an attribute in early opsets and as input ``index`` later."""
        if attr_name in self.attrs:
            return self.attrs[attr_name]
        if index < len(xs) and xs[index] is not None:
            return array(xs[index])
        return None


# An op: (node, inputs, training) -> its output, or the list of its outputs.
OpFn = Callable[[Node, list[Any], bool], Any]


# The element types juanji computes in (ONNX's TensorProto.DataType codes). The others
# (strings, bfloat16, the float8 and 4-bit types, complex) have no NumPy dtype juanji's ops take.
_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32,
           7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}


def numeric_dtype(code: int, what: str) -> np.dtype:
    """The NumPy dtype of an ONNX element type, or a NodeError naming the type."""
    if code not in _DTYPES:
        from onnx import TensorProto  # the names of the codes, for the message only

        name = TensorProto.DataType.Name(code) if code in TensorProto.DataType.values() else str(code)
        raise NodeError(f"{what} {name}, which juanji does not compute in (it computes in "
                        "float16/32/64, integers and bool)")
    return np.dtype(_DTYPES[code])


# --- the two kinds of values ------------------------------------------------------------------
def array(v: Any) -> np.ndarray:
    """A value as a NumPy array (a Tensor's data, without its gradient)."""
    return v.data if isinstance(v, Tensor) else np.asarray(v)


def tensor(v: Any) -> Tensor:
    """A value as a Tensor (a constant array wraps without copying and needs no gradient)."""
    return v if isinstance(v, Tensor) else Tensor._make(np.asarray(v))


def _all_arrays(xs: Sequence[Any]) -> bool:
    return not any(isinstance(x, Tensor) for x in xs)


def _ints(v: Any) -> list[int]:
    return [int(i) for i in np.asarray(array(v)).reshape(-1)]


def _scalar(v: Any, what: str) -> float:
    """A one-element value (ONNX's scalar inputs and bounds) as a Python float."""
    arr = array(v)
    if arr.size != 1:
        raise NodeError(f"{what} must be a single value, got shape {tuple(arr.shape)}")
    return float(arr.reshape(-1)[0])


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise NodeError(f"axis {axis} is out of range for a tensor of rank {rank}")
    return axis % max(rank, 1)


# --- windows: Conv and the pools --------------------------------------------------------------
def window_geometry(n: Node, in_sizes: Sequence[int], kernel: Sequence[int], ceil_mode: bool = False
                    ) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
    """(strides, dilations, pads_before, pads_after, out_sizes) of a Conv or pool, by ONNX's rules.

    With E = D*(K-1) + 1 the dilated kernel extent of one spatial dim of size L:
        NOTSET (explicit pads):  OUT = floor((L + PB + PE - E) / S) + 1, or with ceil_mode
                                 ceil(...) + 1, dropping a last window that would start in
                                 the right padding ((OUT-1)*S >= L + PB), as PyTorch does;
        VALID:                   no padding, OUT = floor((L - E) / S) + 1;
        SAME_UPPER / SAME_LOWER: OUT = ceil(L / S), total padding
                                 max((OUT-1)*S + E - L, 0), its odd pixel at the end
                                 (UPPER, TensorFlow's "same") or at the beginning (LOWER).
    """
    nd = len(kernel)
    strides = list(n.attr("strides", [1] * nd))
    dilations = list(n.attr("dilations", [1] * nd))
    pads = list(n.attr("pads", [0] * (2 * nd)))
    auto = n.attr("auto_pad", "NOTSET")
    if len(strides) != nd or len(dilations) != nd or len(pads) != 2 * nd:
        raise NodeError(f"strides {strides}, dilations {dilations} and pads {pads} must hold {nd}, {nd} "
                        f"and {2 * nd} values for a kernel of shape {tuple(kernel)}")
    before, after, out = [], [], []
    for i in range(nd):
        size, k, s, d = in_sizes[i], kernel[i], strides[i], dilations[i]
        extent = d * (k - 1) + 1
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-size // s)
            total = max((o - 1) * s + extent - size, 0)
            small = total // 2
            pb, pe = (small, total - small) if auto == "SAME_UPPER" else (total - small, small)
        elif auto == "VALID":
            pb = pe = 0
            o = (size - extent) // s + 1
        else:
            pb, pe = pads[i], pads[i + nd]
            span = size + pb + pe - extent
            if ceil_mode:
                o = -(-span // s) + 1
                if (o - 1) * s >= size + pb:
                    o -= 1
            else:
                o = span // s + 1
        if o < 1:
            raise NodeError(f"kernel {tuple(kernel)} (dilations {tuple(dilations)}) is larger than the "
                            f"padded input: spatial size {tuple(in_sizes)}, pads {pads}, auto_pad {auto}")
        before.append(pb)
        after.append(pe)
        out.append(o)
    return strides, dilations, before, after, out


def _torch_pad(before: Sequence[int], after: Sequence[int]) -> tuple[int, ...]:
    """Per-dim (before, after) of the spatial dims -> F.pad's tuple, last dim first."""
    return tuple(v for b, a in zip(reversed(before), reversed(after)) for v in (b, a))


def _crop(y: Tensor, out: Sequence[int]) -> Tensor:
    """Keep the first ``out`` positions of each spatial dim (a no-op when they already agree)."""
    if tuple(y.shape[2:]) == tuple(out):
        return y
    return y[(slice(None), slice(None)) + tuple(slice(0, o) for o in out)]


def _check_pads(pads: Sequence[int], what: str = "pads") -> None:
    if any(abs(p) > MAX_PAD for p in pads):
        raise NodeError(f"{what} {list(pads)} exceed {MAX_PAD} pixels; juanji refuses paddings that "
                        "large (a file must not make forward allocate unboundedly)")


def _by_rank(op: str, table: dict[int, Callable[..., Tensor]], nd: int) -> Callable[..., Tensor]:
    if nd not in table:
        ranks = ", ".join(f"{r}-D" for r in table)
        raise NodeError(f"juanji runs {op} over {ranks} spatial inputs, not {nd}-D")
    return table[nd]


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_LP_POOL = {1: F.lp_pool1d, 2: F.lp_pool2d}


def _spatial_input(x: Tensor, nd: int) -> None:
    if x.ndim != nd + 2:
        raise NodeError(f"input of shape {tuple(x.shape)} is not (N, C) followed by the kernel's "
                        f"{nd} spatial dims")


def conv(n: Node, xs: list[Any], training: bool) -> Tensor:
    """Conv: F.conv{1,2,3}d; asymmetric pads are applied first with F.pad (zeros)."""
    x, w = tensor(xs[0]), tensor(xs[1])
    b = None if len(xs) < 3 or xs[2] is None else tensor(xs[2])
    kernel = tuple(w.shape[2:])
    if "kernel_shape" in n.attrs and tuple(n.attrs["kernel_shape"]) != kernel:
        raise NodeError(f"kernel_shape {n.attrs['kernel_shape']} does not match the weight's shape "
                        f"{tuple(w.shape)}")
    _spatial_input(x, len(kernel))
    strides, dilations, before, after, _ = window_geometry(n, x.shape[2:], kernel)
    _check_pads(before + after)
    padding: Any = tuple(before)
    if before != after:
        x = F.pad(x, _torch_pad(before, after))
        padding = 0
    fn = _by_rank("Conv", _CONV, len(kernel))
    return fn(x, w, b, stride=tuple(strides), padding=padding, dilation=tuple(dilations),
              groups=int(n.attr("group", 1)))


@dataclass
class _Pool:
    """A pooling node's input and window geometry, by ONNX's rules (window_geometry)."""

    x: Tensor
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    before: list[int]            # pads before each spatial dim
    after: list[int]             # pads after each spatial dim
    out: list[int]               # ONNX's output size of each spatial dim
    ceil_mode: bool

    @classmethod
    def of(cls, n: Node, x: Any) -> "_Pool":
        x = tensor(x)
        kernel = tuple(n.attr("kernel_shape"))
        _spatial_input(x, len(kernel))
        ceil_mode = bool(n.attr("ceil_mode", 0))
        strides, dilations, before, after, out = window_geometry(n, x.shape[2:], kernel, ceil_mode)
        return cls(x, kernel, tuple(strides), tuple(dilations), before, after, out, ceil_mode)

    def native(self) -> bool:
        """Whether juanji's own padding argument gives ONNX's windows: symmetric pads of at most
        half the kernel (juanji's and PyTorch's rule), and the same window count, which with
        ceil_mode juanji (as PyTorch) computes as ONNX does."""
        if self.before != self.after or any(2 * p > k for p, k in zip(self.before, self.kernel)):
            return False
        return all(_juanji_out(size, k, s, p, d, self.ceil_mode) == o for size, k, s, p, d, o in zip(
            self.x.shape[2:], self.kernel, self.strides, self.before, self.dilations, self.out))

    def end_fill(self) -> list[int]:
        """Padding after each dim so that floor-mode windows reach ONNX's count of windows:
        the padded length must be at least (OUT-1)*S + E."""
        return [max(pe, (o - 1) * s + d * (k - 1) + 1 - size - pb) for size, k, s, d, pb, pe, o in zip(
            self.x.shape[2:], self.kernel, self.strides, self.dilations, self.before, self.after, self.out)]


def _juanji_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """The output size juanji's pooling gives with symmetric padding p (PyTorch's rule)."""
    span = size + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    o = -(-span // s) + 1
    return o - 1 if (o - 1) * s >= size + p else o


def max_pool(n: Node, xs: list[Any], training: bool) -> Tensor:
    """MaxPool: F.max_pool{1,2,3}d. Pads juanji cannot express (asymmetric, more than half the
    kernel, or a ceil_mode window count that differs) are applied with F.pad as -inf, padded
    far enough at the end for floor-mode windows to reach ONNX's count, then cropped."""
    g = _Pool.of(n, xs[0])
    fn = _by_rank("MaxPool", _MAX_POOL, len(g.kernel))
    if g.native():
        return fn(g.x, g.kernel, g.strides, tuple(g.before), g.dilations, ceil_mode=g.ceil_mode)
    padded = F.pad(g.x, _torch_pad(g.before, g.end_fill()), value=-math.inf)
    return _crop(fn(padded, g.kernel, g.strides, 0, g.dilations), g.out)


def average_pool(n: Node, xs: list[Any], training: bool) -> Tensor:
    """AveragePool: F.avg_pool{1,2,3}d (count_include_pad defaults to 0 in ONNX, 1 in PyTorch).

    Pads juanji cannot express are applied with F.pad (zeros). With count_include_pad = 1
    those zeros count, and windows that ceil_mode lets run past the right padding are clipped
    to it (juanji's ceil_mode divides by the clipped size, as PyTorch and ONNX Runtime do);
    with 0, the result is sum / (number of input cells), computed as avg(x) / avg(ones) over
    identical windows, whose divisors cancel.
    """
    g = _Pool.of(n, xs[0])
    include = bool(n.attr("count_include_pad", 0))
    fn = _by_rank("AveragePool", _AVG_POOL, len(g.kernel))
    if g.native():
        return fn(g.x, g.kernel, g.strides, tuple(g.before), ceil_mode=g.ceil_mode, count_include_pad=include)
    pad = _torch_pad(g.before, g.after)

    def pooled(t: Tensor) -> Tensor:
        return _crop(fn(F.pad(t, pad), g.kernel, g.strides, 0, ceil_mode=g.ceil_mode), g.out)

    if include:
        return pooled(g.x)
    ones = Tensor._make(np.ones((1, 1) + tuple(g.x.shape[2:]), dtype=g.x.dtype))  # (1, 1, *S), no gradient
    return pooled(g.x) / pooled(ones).data


def lp_pool(n: Node, xs: list[Any], training: bool) -> Tensor:
    """LpPool: (sum over the window of |x|^p)^(1/p) with F.lp_pool{1,2}d on a zero-padded input
    (zeros add nothing to the sum; padding to the full last window also keeps juanji's ceil_mode
    rescaling of clipped windows out of it). For p = 2, |x|^2 = x^2 and the abs is skipped."""
    g = _Pool.of(n, xs[0])
    p = float(n.attr("p", 2))
    fn = _by_rank("LpPool", _LP_POOL, len(g.kernel))
    ends = g.end_fill()
    x = F.pad(g.x, _torch_pad(g.before, ends)) if any(g.before) or any(ends) else g.x
    return _crop(fn(x if p == 2 else x.abs(), p, g.kernel, g.strides), g.out)


def global_average_pool(n: Node, xs: list[Any], training: bool) -> Tensor:
    """GlobalAveragePool: the mean over every spatial dim, kept as size-1 dims (N, C, 1, 1)."""
    x = tensor(xs[0])
    if x.ndim == 4:
        return F.global_avg_pool2d(x).reshape(x.shape[:2] + (1, 1))
    return x.mean(dim=tuple(range(2, x.ndim)), keepdim=True)


def global_max_pool(n: Node, xs: list[Any], training: bool) -> Tensor:
    """GlobalMaxPool: the max over every spatial dim, kept as size-1 dims (N, C, 1, 1)."""
    x = tensor(xs[0])
    if x.ndim == 4:
        return F.global_max_pool2d(x).reshape(x.shape[:2] + (1, 1))
    return x.max(dim=tuple(range(2, x.ndim)), keepdim=True)  # type: ignore[arg-type]


def check_pool(n: Node) -> None:
    kernel = n.attr("kernel_shape")
    if not kernel:
        raise NodeError("kernel_shape is required")
    nd = len(kernel)
    ranks = {"MaxPool": _MAX_POOL, "AveragePool": _AVG_POOL, "LpPool": _LP_POOL}[n.op]
    _by_rank(n.op, ranks, nd)
    pads = list(n.attr("pads", [0] * (2 * nd)))
    # ONNX Runtime's rule too: a pad as wide as the kernel would give windows of padding only.
    if any(p < 0 or p >= kernel[i % nd] for i, p in enumerate(pads)):
        raise NodeError(f"pads {pads} must be >= 0 and smaller than kernel_shape {list(kernel)}")
    if n.op in ("AveragePool", "LpPool") and any(d != 1 for d in n.attr("dilations", [1] * nd)):
        raise NodeError(f"dilations {n.attr('dilations')} are not supported: juanji's "
                        f"{'average' if n.op == 'AveragePool' else 'power-average'} pooling has no dilation")
    if n.attr("auto_pad") == "VALID" and int(n.attr("ceil_mode", 0)):
        # The specification (and onnx's reference evaluator) give floor((L - E) / S) + 1 windows
        # here, onnx's shape inference and ONNX Runtime ceil((L - E) / S) + 1: no answer is right.
        raise NodeError("auto_pad VALID with ceil_mode=1 is ambiguous (the ONNX specification and "
                        "ONNX Runtime count the windows differently); use explicit pads")
    if n.op == "MaxPool" and len(n.outputs) > 1 and n.outputs[1]:
        raise NodeError("the Indices output is not supported")
    if n.op == "LpPool" and not float(n.attr("p", 2)) > 0:
        raise NodeError(f"p must be > 0, got {n.attr('p')}")
    _check_window_attrs(n, nd)


def check_conv(n: Node) -> None:
    nd = len(n.attr("kernel_shape", [])) or None
    if nd is not None:
        _by_rank("Conv", _CONV, nd)
    _check_pads(n.attr("pads", []))
    if int(n.attr("group", 1)) < 1:
        raise NodeError(f"group must be >= 1, got {n.attr('group')}")
    _check_window_attrs(n, nd)


def _check_window_attrs(n: Node, nd: int | None) -> None:
    auto = n.attr("auto_pad", "NOTSET")
    if auto not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise NodeError(f"auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got {auto!r}")
    if auto != "NOTSET" and "pads" in n.attrs:
        raise NodeError(f"pads and auto_pad {auto} cannot both be given")
    for name, lowest in (("strides", 1), ("dilations", 1)):
        vals = n.attr(name)
        if vals is not None and (any(v < lowest for v in vals) or (nd is not None and len(vals) != nd)):
            raise NodeError(f"{name} {list(vals)} must be {nd or 'one per spatial dim'} values >= {lowest}")
    pads = n.attr("pads")
    if pads is not None and nd is not None and len(pads) != 2 * nd:
        raise NodeError(f"pads {list(pads)} must hold {2 * nd} values (begin and end of each spatial dim)")


# --- normalisation ----------------------------------------------------------------------------
def batch_norm(n: Node, xs: list[Any], training: bool) -> Tensor:
    """BatchNormalization: F.batch_norm with the running statistics (ONNX's inference form).

    In training mode (module.train()) it normalises with the batch's statistics, as juanji's
    and PyTorch's BatchNorm do, and moves the running statistics toward them with ONNX's
    momentum m: running = m * running + (1 - m) * batch (juanji's momentum is 1 - m). Only
    statistics held as buffers move; any other (shared with a Parameter, or computed) is
    used as is.
    """
    x, scale, bias, mean, var = (tensor(v) for v in xs[:5])
    momentum = 1.0 - float(n.attr("momentum", 0.9))
    if training and not n.extra.get("stats_are_buffers", False):
        mean, var = Tensor._make(mean.data.copy()), Tensor._make(var.data.copy())
    return F.batch_norm(x, mean, var, scale, bias, training=training, momentum=momentum,
                        eps=float(n.attr("epsilon", 1e-5)))


def check_batch_norm(n: Node) -> None:
    if int(n.attr("training_mode", 0)):
        raise NodeError("training_mode=1 (a graph exported for training) is not supported; export the "
                        "model in eval mode (the loaded module uses batch statistics under .train())")
    if any(n.outputs[1:]):
        raise NodeError("the running-statistics outputs are not supported (inference graphs have one output)")


def lrn(n: Node, xs: list[Any], training: bool) -> Tensor:
    """LRN: F.local_response_norm(x, size, alpha, beta, k=bias).

    Both divide x by (bias + alpha/size * sum of squares over a window of ``size`` channels)
    ** beta; for an even size ONNX's window has one more channel after c than before it
    (floor((size-1)/2) before, ceil((size-1)/2) after), juanji's (PyTorch's) one more before.
    Reversing the channels swaps before and after, so an even size runs on the reversed
    channels and reverses back.
    """
    x = tensor(xs[0])
    size = int(n.attr("size"))
    args = dict(size=size, alpha=float(n.attr("alpha", 1e-4)), beta=float(n.attr("beta", 0.75)),
                k=float(n.attr("bias", 1.0)))
    if size % 2:
        return F.local_response_norm(x, **args)
    flip = (slice(None), slice(None, None, -1))
    return F.local_response_norm(x[flip], **args)[flip]


# --- activations ------------------------------------------------------------------------------
def _unary(fn: Callable[[Tensor], Tensor]) -> OpFn:
    return lambda n, xs, training: fn(tensor(xs[0]))


def leaky_relu(n: Node, xs: list[Any], training: bool) -> Tensor:
    return F.leaky_relu(tensor(xs[0]), float(n.attr("alpha", 0.01)))


def elu(n: Node, xs: list[Any], training: bool) -> Tensor:
    return F.elu(tensor(xs[0]), float(n.attr("alpha", 1.0)))


def selu(n: Node, xs: list[Any], training: bool) -> Tensor:
    """Selu: gamma * elu(x, alpha) (gamma x for x > 0, gamma alpha (e^x - 1) otherwise)."""
    alpha = float(n.attr("alpha", 1.67326319217681884765625))
    gamma = float(n.attr("gamma", 1.05070102214813232421875))
    return F.elu(tensor(xs[0]), alpha) * gamma


def hard_sigmoid(n: Node, xs: list[Any], training: bool) -> Tensor:
    """HardSigmoid: clip(alpha x + beta, 0, 1)."""
    return (tensor(xs[0]) * float(n.attr("alpha", 0.2)) + float(n.attr("beta", 0.5))).clip(0.0, 1.0)


def hard_swish(n: Node, xs: list[Any], training: bool) -> Tensor:
    """HardSwish: x * clip(x / 6 + 1/2, 0, 1)."""
    x = tensor(xs[0])
    return x * (x * (1.0 / 6.0) + 0.5).clip(0.0, 1.0)


def prelu(n: Node, xs: list[Any], training: bool) -> Tensor:
    """PRelu: max(x, 0) + slope * min(x, 0) = relu(x) - slope * relu(-x), so the slope trains."""
    x, slope = tensor(xs[0]), tensor(xs[1])
    return F.relu(x) - slope * F.relu(-x)


def gelu(n: Node, xs: list[Any], training: bool) -> Tensor:
    return F.gelu(tensor(xs[0]), approximate=n.attr("approximate", "none"))


def check_gelu(n: Node) -> None:
    if n.attr("approximate", "none") not in ("none", "tanh"):
        raise NodeError(f"approximate must be 'none' or 'tanh', got {n.attr('approximate')!r}")


def _softmax_like(fn: Callable[..., Tensor]) -> OpFn:
    def op(n: Node, xs: list[Any], training: bool) -> Tensor:
        """Softmax / LogSoftmax. From opset 13 along one axis (default -1); before, the input is
        seen as 2-D, (prod of dims before axis, prod from axis on) (default axis 1), and
        normalised along its second dim."""
        x = tensor(xs[0])
        if n.opset >= 13:
            return fn(x, dim=_axis(int(n.attr("axis", -1)), x.ndim))
        axis = _axis(int(n.attr("axis", 1)), x.ndim)
        rows = math.prod(x.shape[:axis])
        return fn(x.reshape(rows, math.prod(x.shape[axis:])), dim=1).reshape(x.shape)
    return op


# --- products ---------------------------------------------------------------------------------
def gemm(n: Node, xs: list[Any], training: bool) -> Tensor:
    """Gemm: Y = alpha * A' B' + beta * C, A' = A^T if transA, B' = B^T if transB.

    PyTorch's Linear exports as Gemm(x, W, b, transB=1): that is F.linear(x, W, b), which
    multiplies by W's transposed view directly; other forms compose the same pieces.
    """
    a, b = tensor(xs[0]), tensor(xs[1])
    c = xs[2] if len(xs) > 2 else None
    alpha, beta = float(n.attr("alpha", 1.0)), float(n.attr("beta", 1.0))
    trans_a, trans_b = int(n.attr("transA", 0)), int(n.attr("transB", 0))
    if a.ndim != 2 or b.ndim != 2:
        raise NodeError(f"A and B must be 2-D, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if trans_a:
        a = a.T
    if trans_b:
        if c is not None and alpha == 1.0 and beta == 1.0 and tuple(np.shape(array(c))) == (b.shape[0],):
            return F.linear(a, b, tensor(c))
        y = F.linear(a, b)
    else:
        y = a @ b
    if alpha != 1.0:
        y = y * alpha
    if c is not None:
        y = y + (tensor(c) * beta if beta != 1.0 else tensor(c))
    return y


def matmul(n: Node, xs: list[Any], training: bool) -> Tensor:
    """MatMul: NumPy's matmul semantics (batch dims broadcast, 1-D operands promoted)."""
    return tensor(xs[0]) @ tensor(xs[1])


# --- elementwise arithmetic (array ops) -------------------------------------------------------
def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer Div rounds toward zero (C's division, as ONNX Runtime), unlike NumPy's //."""
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q).astype(np.result_type(a, b))


def _binary(np_fn: Callable[[Any, Any], Any], t_fn: Callable[[Any, Any], Any]) -> OpFn:
    def op(n: Node, xs: list[Any], training: bool) -> Any:
        a, b = xs[0], xs[1]
        if _all_arrays(xs):
            return np_fn(np.asarray(a), np.asarray(b))
        return t_fn(tensor(a), b if isinstance(b, Tensor) else np.asarray(b))
    return op


def _div_arrays(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        if np.any(b == 0):
            raise NodeError("integer division by zero")
        return _int_div(a, b)
    return a / b


def pow_(n: Node, xs: list[Any], training: bool) -> Any:
    """Pow: x ** y. A one-element constant exponent uses the scalar power (its derivative is
    p x^(p-1)); a tensor exponent the general one (which also differentiates in y)."""
    x, y = xs[0], xs[1]
    if _all_arrays(xs):
        x = np.asarray(x)
        return np.power(x, np.asarray(y).astype(x.dtype) if x.dtype.kind == "f" else y).astype(x.dtype)
    x = tensor(x)
    if not isinstance(y, Tensor):
        y = np.asarray(y)
        if y.size == 1 and y.ndim <= x.ndim:
            return x ** float(y.reshape(()))
        y = Tensor._make(y.astype(x.dtype))
    return x.pow(y)


def _unary_array(np_fn: Callable[[np.ndarray], np.ndarray], t_fn: Callable[[Tensor], Tensor]
                 ) -> OpFn:
    def op(n: Node, xs: list[Any], training: bool) -> Any:
        if _all_arrays(xs):
            return np_fn(np.asarray(xs[0]))
        return t_fn(tensor(xs[0]))
    return op


def clip(n: Node, xs: list[Any], training: bool) -> Any:
    """Clip: min and max are attributes before opset 11, optional inputs after."""
    lo = n.attr("min") if n.opset < 11 else (None if len(xs) < 2 or xs[1] is None else array(xs[1]))
    hi = n.attr("max") if n.opset < 11 else (None if len(xs) < 3 or xs[2] is None else array(xs[2]))
    x = xs[0]
    if _all_arrays([x]):
        x = np.asarray(x)
        return np.clip(x, lo, hi).astype(x.dtype) if (lo is not None or hi is not None) else x
    if lo is None and hi is None:
        return x
    return tensor(x).clip(None if lo is None else _scalar(lo, "min"), None if hi is None else _scalar(hi, "max"))


def variadic(n: Node, xs: list[Any], training: bool) -> Any:
    """Sum / Mean / Max / Min of any number of inputs, with broadcasting. Max and Min stack
    the broadcast inputs and reduce over the new dim (the gradient goes to the maxima)."""
    if _all_arrays(xs):
        arrs = [np.asarray(x) for x in xs]
        fn = {"Sum": np.add, "Mean": np.add, "Max": np.maximum, "Min": np.minimum}[n.op]
        out = functools.reduce(fn, arrs)
        return out / len(arrs) if n.op == "Mean" else out
    ts = [tensor(x) for x in xs]
    if n.op in ("Sum", "Mean"):
        out = functools.reduce(lambda p, q: p + q, ts)
        return out / float(len(ts)) if n.op == "Mean" else out
    shape = np.broadcast_shapes(*(t.shape for t in ts))
    stacked = F.stack([t.expand(shape) if t.shape != shape else t for t in ts], dim=0)
    return stacked.max(dim=0) if n.op == "Max" else stacked.min(dim=0)


class Where(Function):
    """out = x where cond else y (broadcast); dx = g where cond, dy = g elsewhere.

    The one op of an ONNX graph juanji.functional has no Function for; it lives here, with
    the importer that needs it.
    """

    def forward(self, cond: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.save_for_backward(cond, np.shape(x), np.shape(y))
        return xp.where(cond, x, y)

    def backward(self, g: np.ndarray) -> tuple[None, np.ndarray, np.ndarray]:
        cond, sx, sy = self.saved
        zero = xp.zeros((), dtype=g.dtype)
        return None, unbroadcast(xp.where(cond, g, zero), sx), unbroadcast(xp.where(cond, zero, g), sy)


def where(n: Node, xs: list[Any], training: bool) -> Any:
    cond = array(xs[0]).astype(bool)
    if _all_arrays(xs[1:]):
        return np.where(cond, np.asarray(xs[1]), np.asarray(xs[2]))
    return Where.apply(cond, tensor(xs[1]), tensor(xs[2]))


def _compare(np_fn: Callable[..., np.ndarray]) -> OpFn:
    """Comparisons and logic give boolean arrays, which carry no gradient (as in PyTorch)."""
    return lambda n, xs, training: np_fn(*(array(x) for x in xs))


# The most elements Range may make: the sequence positions and shape arithmetic it serves are
# short, and a file must not make juanji allocate what it does not hold (Range(0, 1e12, 1)).
MAX_RANGE = 1 << 24


def range_(n: Node, xs: list[Any], training: bool) -> np.ndarray:
    """Range(start, limit, delta): start, start + delta, ... up to (not including) limit, in the
    inputs' dtype; max(ceil((limit - start) / delta), 0) elements (ONNX's formula)."""
    start, limit, delta = (array(x).reshape(()) if array(x).size == 1 else None for x in xs)
    if start is None or limit is None or delta is None:
        raise NodeError(f"start, limit and delta must be scalars, got shapes {[tuple(array(x).shape) for x in xs]}")
    if delta == 0:
        raise NodeError("delta is 0")
    count = max(int(math.ceil((float(limit) - float(start)) / float(delta))), 0)
    if count > MAX_RANGE:
        raise NodeError(f"Range({start}, {limit}, {delta}) would make {count:,} elements (at most {MAX_RANGE:,})")
    return (start + delta * np.arange(count)).astype(np.asarray(start).dtype)


def expand(n: Node, xs: list[Any], training: bool) -> Any:
    """Expand: broadcast the input with the shape (both ways, as NumPy's broadcasting: a 1 in
    the shape keeps the input's dim)."""
    x, target = xs[0], _ints(xs[1])
    try:
        out_shape = np.broadcast_shapes(tuple(x.shape), tuple(target))
    except ValueError:
        raise NodeError(f"cannot expand shape {tuple(x.shape)} to {target}") from None
    if math.prod(out_shape) > max(MAX_RANGE, 64 * math.prod(x.shape)):
        raise NodeError(f"expanding shape {tuple(x.shape)} to {out_shape} would make {math.prod(out_shape):,} elements")
    if isinstance(x, np.ndarray):
        return np.broadcast_to(x, out_shape)
    return x.expand(out_shape) if tuple(x.shape) != out_shape else x


# --- shapes (array ops) -----------------------------------------------------------------------
def _reshape(v: Any, shape: Sequence[int]) -> Any:
    return v.reshape(tuple(int(s) for s in shape))


def reshape(n: Node, xs: list[Any], training: bool) -> Any:
    """Reshape: a 0 copies the input's dim at that position (unless allowzero=1), one -1 is
    inferred from the element count."""
    x, target = xs[0], _ints(xs[1])
    if not int(n.attr("allowzero", 0)):
        for i, s in enumerate(target):
            if s == 0:
                if i >= len(x.shape):
                    raise NodeError(f"shape {target} copies dim {i} (a 0) of an input of shape {tuple(x.shape)}")
                target[i] = x.shape[i]
    if target.count(-1) > 1 or any(s < -1 for s in target):
        raise NodeError(f"shape {target} may hold one -1 and no other negative value")
    size = math.prod(x.shape)
    if -1 in target:
        known = math.prod(s for s in target if s != -1)
        if known == 0 or size % known:
            raise NodeError(f"cannot reshape an input of shape {tuple(x.shape)} into {target}")
        target[target.index(-1)] = size // known
    if math.prod(target) != size:
        raise NodeError(f"cannot reshape an input of shape {tuple(x.shape)} ({size} elements) into {target}")
    return _reshape(x, target)


def flatten(n: Node, xs: list[Any], training: bool) -> Any:
    """Flatten: (d0 .. d_{axis-1}, d_axis .. d_{r-1}) -> (prod of the first, prod of the rest)."""
    x = xs[0]
    rank = len(x.shape)
    axis = int(n.attr("axis", 1))
    if not -rank <= axis <= rank:
        raise NodeError(f"axis {axis} is out of range for a tensor of rank {rank}")
    axis = axis + rank if axis < 0 else axis
    return _reshape(x, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))


def transpose(n: Node, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    rank = len(x.shape)
    perm = tuple(n.attr("perm", range(rank - 1, -1, -1)))
    if sorted(perm) != list(range(rank)):
        raise NodeError(f"perm {list(perm)} is not a permutation of the {rank} dims of shape {tuple(x.shape)}")
    return np.transpose(x, perm) if isinstance(x, np.ndarray) else x.permute(perm)


def squeeze(n: Node, xs: list[Any], training: bool) -> Any:
    """Squeeze: drop the listed size-1 dims (axes: attribute before opset 13, input after);
    without axes, every size-1 dim."""
    x = xs[0]
    shape = tuple(x.shape)
    axes = n.arg(xs, "axes", 1)
    if axes is None:
        keep = [s for s in shape if s != 1]
    else:
        drop = {_axis(a, len(shape)) for a in _ints(axes)}
        bad = [a for a in drop if shape[a] != 1]
        if bad:
            raise NodeError(f"cannot squeeze dims {sorted(bad)} of shape {shape}: their size is not 1")
        keep = [s for i, s in enumerate(shape) if i not in drop]
    return _reshape(x, keep)


def unsqueeze(n: Node, xs: list[Any], training: bool) -> Any:
    """Unsqueeze: insert size-1 dims at the listed positions of the output."""
    x = xs[0]
    axes = _ints(n.arg(xs, "axes", 1))
    rank = len(x.shape) + len(axes)
    where_ = sorted(_axis(a, rank) for a in axes)
    if len(set(where_)) != len(where_):
        raise NodeError(f"axes {axes} repeat a position")
    dims = list(x.shape)
    for a in where_:
        dims.insert(a, 1)
    return _reshape(x, dims)


def concat(n: Node, xs: list[Any], training: bool) -> Any:
    axis = int(n.attr("axis"))
    if _all_arrays(xs):
        arrs = [np.asarray(v) for v in xs]
        return np.concatenate(arrs, axis=_axis(axis, arrs[0].ndim))
    ts = [tensor(v) for v in xs]
    return F.cat(ts, dim=_axis(axis, ts[0].ndim))


def split(n: Node, xs: list[Any], training: bool) -> list[Any]:
    """Split: sizes from the ``split`` attribute (before opset 13) or input, else equal parts,
    one per output (opset 18's num_outputs: ceil(n / parts) each, the last smaller)."""
    x = xs[0]
    axis = _axis(int(n.attr("axis", 0)), len(x.shape))
    length = x.shape[axis]
    sizes = n.arg(xs, "split", 1)
    parts = len(n.outputs)
    if sizes is not None:
        sizes = _ints(sizes)
    elif "num_outputs" in n.attrs:
        step = -(-length // int(n.attrs["num_outputs"]))
        sizes = [min(step, length - i) for i in range(0, length, step)]
    else:
        if length % parts:
            raise NodeError(f"cannot split dim {axis} of size {length} into {parts} equal parts")
        sizes = [length // parts] * parts
    if len(sizes) != parts or sum(sizes) != length or any(s < 0 for s in sizes):
        raise NodeError(f"split sizes {sizes} must be {parts} values >= 0 summing to {length}")
    if isinstance(x, np.ndarray):
        return list(np.split(x, np.cumsum(sizes)[:-1], axis=axis))
    return list(F.split(x, sizes, dim=axis))


def gather(n: Node, xs: list[Any], training: bool) -> Any:
    """Gather: take entries of ``data`` along ``axis`` at ``indices`` (negative counts from the end).

    A 2-D float table gathered along axis 0 is an embedding lookup: F.embedding, whose backward
    adds each output row's gradient into its table row. Any other gather indexes the Tensor.
    """
    data, idx = xs[0], array(xs[1])
    if idx.dtype.kind not in "iu":
        raise NodeError(f"indices must be integers, got dtype {idx.dtype}")
    rank = len(data.shape)
    axis = _axis(int(n.attr("axis", 0)), rank)
    size = data.shape[axis]
    if idx.size and (idx.min() < -size or idx.max() >= size):
        raise NodeError(f"index {int(idx.min() if idx.min() < -size else idx.max())} is out of range for "
                        f"dim {axis} of size {size} (data shape {tuple(data.shape)})")
    idx = np.where(idx < 0, idx + size, idx).astype(np.int64)
    if isinstance(data, np.ndarray):
        return np.take(data, idx, axis=axis)
    if axis == 0 and data.ndim == 2 and data.dtype.kind == "f":
        return F.embedding(idx, data)
    return data[(slice(None),) * axis + (idx,)]


def slice_(n: Node, xs: list[Any], training: bool) -> Any:
    """Slice: starts/ends/axes/steps (attributes before opset 10, inputs after).

    Each start and end is clamped as ONNX says: for a positive step into [0, dim]; for a
    negative step the start into [0, dim-1] and the end into [-1, dim-1], where -1 means
    "past the first element" (Python's None, since -1 would mean the last).
    """
    x = xs[0]
    rank = len(x.shape)
    starts, ends = _ints(n.arg(xs, "starts", 1)), _ints(n.arg(xs, "ends", 2))
    axes_v = n.arg(xs, "axes", 3)
    axes = _ints(axes_v) if axes_v is not None else list(range(len(starts)))
    steps_v = None if n.opset < 10 else (xs[4] if len(xs) > 4 and xs[4] is not None else None)
    steps = _ints(steps_v) if steps_v is not None else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise NodeError(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} differ in length")
    index: list[Any] = [slice(None)] * rank
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = _axis(a, rank)
        dim = x.shape[a]
        if st == 0:
            raise NodeError("a step of 0")
        s = s + dim if s < 0 else s
        e = e + dim if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
            index[a] = slice(s, e, st)
        else:
            s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
            index[a] = slice(s, e if e >= 0 else None, st)
    return x[tuple(index)]


def shape(n: Node, xs: list[Any], training: bool) -> np.ndarray:
    """Shape: the input's shape as int64 (opset 15's start/end slice it, as Python would)."""
    dims = np.array(xs[0].shape, dtype=np.int64)
    start, end = n.attr("start", 0), n.attr("end")
    return dims[start:end]


def cast(n: Node, xs: list[Any], training: bool) -> Any:
    """Cast: between float types a differentiable Tensor.astype; to integers or bool the value
    leaves the tape (float -> int truncates toward zero, as C and ONNX Runtime)."""
    x, dtype = xs[0], n.extra["dtype"]
    if isinstance(x, np.ndarray):
        return x.astype(dtype)
    if x.dtype == dtype:
        return x
    if dtype.kind == "f":
        return x.astype(dtype)
    return Tensor._make(x.data.astype(dtype))


def check_cast(n: Node) -> None:
    """Resolve the target type once, at load: a NumPy dtype juanji computes in."""
    n.extra["dtype"] = numeric_dtype(int(n.attr("to", 0)), "the target type 'to' is")


def identity(n: Node, xs: list[Any], training: bool) -> Any:
    return xs[0]


def dropout(n: Node, xs: list[Any], training: bool) -> Any:
    """Dropout: the identity in eval mode (ONNX's inference); in training mode F.dropout with the
    graph's ratio (attribute before opset 12, input after; 0.5 by default), whatever the
    graph's training_mode input says: the module's mode decides, as for BatchNormalization."""
    if not training:
        return xs[0]
    ratio = n.arg(xs, "ratio", 1)
    p = 0.5 if ratio is None else _scalar(ratio, "ratio")
    return F.dropout(tensor(xs[0]), p=p, training=True)


def check_dropout(n: Node) -> None:
    if len(n.outputs) > 1 and n.outputs[1]:
        raise NodeError("the mask output is not supported")


def pad(n: Node, xs: list[Any], training: bool) -> Tensor:
    """Pad: pads [x1_begin, x2_begin, ..., x1_end, x2_end, ...] over ``axes`` (all dims by
    default; opset 18) -> F.pad's (last dim first) tuple. Modes constant, reflect, edge
    (juanji's replicate) and wrap (circular); negative pads crop (constant mode)."""
    x = tensor(xs[0])
    rank = x.ndim
    if n.opset < 11:
        pads, value, axes = list(n.attr("pads")), float(n.attr("value", 0.0)), None
    else:
        pads = _ints(xs[1])
        value = 0.0 if len(xs) < 3 or xs[2] is None or array(xs[2]).size == 0 else _scalar(xs[2], "constant_value")
        axes = _ints(xs[3]) if len(xs) > 3 and xs[3] is not None else None
    axes = [_axis(a, rank) for a in axes] if axes is not None else list(range(rank))
    if len(pads) != 2 * len(axes):
        raise NodeError(f"pads {pads} must hold 2 values per padded axis ({len(axes)} axes)")
    _check_pads(pads)
    widths = [(0, 0)] * rank
    for i, a in enumerate(axes):
        widths[a] = (pads[i], pads[i + len(axes)])
    mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}[
        n.attr("mode", "constant")]
    torch_pads = tuple(v for b, e in reversed(widths) for v in (b, e))
    return F.pad(x, torch_pads, mode=mode, value=value if mode == "constant" else None)


def check_pad(n: Node) -> None:
    if n.attr("mode", "constant") not in ("constant", "reflect", "edge", "wrap"):
        raise NodeError(f"mode must be constant, reflect, edge or wrap, got {n.attr('mode')!r}")
    if n.opset < 11:
        _check_pads(n.attr("pads", []))


def reduce(n: Node, xs: list[Any], training: bool) -> Any:
    """ReduceMean / ReduceSum / ReduceMax / ReduceMin over ``axes`` (attribute, or input from
    opset 13 for Sum, 18 for the others); no axes reduces everything, unless
    noop_with_empty_axes=1, which returns the input. keepdims defaults to 1."""
    x = xs[0]
    axes_v = n.arg(xs, "axes", 1)
    keep = bool(n.attr("keepdims", 1))
    rank = len(x.shape)
    axes = tuple(sorted({_axis(a, rank) for a in _ints(axes_v)})) if axes_v is not None else ()
    if not axes:
        if int(n.attr("noop_with_empty_axes", 0)):
            return x
        axes = tuple(range(rank))
    name = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min"}[n.op]
    if isinstance(x, np.ndarray):
        return getattr(np, name)(x, axis=axes, keepdims=keep).astype(x.dtype)
    if name == "min":
        return -((-x).max(dim=axes, keepdim=keep))  # type: ignore[arg-type]
    return getattr(x, name)(dim=axes, keepdim=keep)


# --- the table --------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpSpec:
    fn: OpFn
    static: tuple[int, ...] = ()     # inputs read as arrays: shapes, axes, pads, bounds
    stats: tuple[int, ...] = ()      # BatchNormalization's running mean and variance
    arrays: bool = False             # also computes on NumPy arrays: folded at load on constants
    check: Callable[[Node], None] | None = None


OPS: dict[str, OpSpec] = {
    "Conv": OpSpec(conv, check=check_conv),
    "MaxPool": OpSpec(max_pool, check=check_pool),
    "AveragePool": OpSpec(average_pool, check=check_pool),
    "LpPool": OpSpec(lp_pool, check=check_pool),
    "GlobalAveragePool": OpSpec(global_average_pool),
    "GlobalMaxPool": OpSpec(global_max_pool),
    "BatchNormalization": OpSpec(batch_norm, stats=(3, 4), check=check_batch_norm),
    "LRN": OpSpec(lrn),
    "Relu": OpSpec(_unary(F.relu)),
    "LeakyRelu": OpSpec(leaky_relu),
    "PRelu": OpSpec(prelu),
    "Elu": OpSpec(elu),
    "Selu": OpSpec(selu),
    "Sigmoid": OpSpec(_unary(F.sigmoid)),
    "HardSigmoid": OpSpec(hard_sigmoid),
    "HardSwish": OpSpec(hard_swish),
    "Tanh": OpSpec(_unary(F.tanh)),
    "Softplus": OpSpec(_unary(F.softplus)),
    "Gelu": OpSpec(gelu, check=check_gelu),
    "Softmax": OpSpec(_softmax_like(F.softmax)),
    "LogSoftmax": OpSpec(_softmax_like(F.log_softmax)),
    "Gemm": OpSpec(gemm),
    "MatMul": OpSpec(matmul),
    "Add": OpSpec(_binary(np.add, lambda a, b: a + b), arrays=True),
    "Sub": OpSpec(_binary(np.subtract, lambda a, b: a - b), arrays=True),
    "Mul": OpSpec(_binary(np.multiply, lambda a, b: a * b), arrays=True),
    "Div": OpSpec(_binary(_div_arrays, lambda a, b: a / b), arrays=True),
    "Pow": OpSpec(pow_, arrays=True),
    "Neg": OpSpec(_unary_array(np.negative, lambda t: -t), arrays=True),
    "Abs": OpSpec(_unary_array(np.abs, lambda t: t.abs()), arrays=True),
    "Sqrt": OpSpec(_unary_array(np.sqrt, lambda t: t.sqrt()), arrays=True),
    "Exp": OpSpec(_unary_array(np.exp, lambda t: t.exp()), arrays=True),
    "Log": OpSpec(_unary_array(np.log, lambda t: t.log()), arrays=True),
    "Reciprocal": OpSpec(_unary_array(lambda a: 1 / a, lambda t: 1.0 / t), arrays=True),
    "Clip": OpSpec(clip, static=(1, 2), arrays=True),
    "Sum": OpSpec(variadic, arrays=True),
    "Mean": OpSpec(variadic, arrays=True),
    "Max": OpSpec(variadic, arrays=True),
    "Min": OpSpec(variadic, arrays=True),
    "Where": OpSpec(where, arrays=True),
    "Equal": OpSpec(_compare(np.equal), arrays=True),
    "Less": OpSpec(_compare(np.less), arrays=True),
    "Greater": OpSpec(_compare(np.greater), arrays=True),
    "LessOrEqual": OpSpec(_compare(np.less_equal), arrays=True),
    "GreaterOrEqual": OpSpec(_compare(np.greater_equal), arrays=True),
    "Range": OpSpec(range_, arrays=True),
    "Expand": OpSpec(expand, static=(1,), arrays=True),
    "Not": OpSpec(_compare(np.logical_not), arrays=True),
    "And": OpSpec(_compare(np.logical_and), arrays=True),
    "Or": OpSpec(_compare(np.logical_or), arrays=True),
    "Reshape": OpSpec(reshape, static=(1,), arrays=True),
    "Flatten": OpSpec(flatten, arrays=True),
    "Transpose": OpSpec(transpose, arrays=True),
    "Squeeze": OpSpec(squeeze, static=(1,), arrays=True),
    "Unsqueeze": OpSpec(unsqueeze, static=(1,), arrays=True),
    "Concat": OpSpec(concat, arrays=True),
    "Split": OpSpec(split, static=(1,), arrays=True),
    "Gather": OpSpec(gather, arrays=True),
    "Slice": OpSpec(slice_, static=(1, 2, 3, 4), arrays=True),
    "Shape": OpSpec(shape, arrays=True),
    "Cast": OpSpec(cast, arrays=True, check=check_cast),
    "Identity": OpSpec(identity, arrays=True),
    "Dropout": OpSpec(dropout, static=(1, 2), check=check_dropout),
    "Pad": OpSpec(pad, static=(1, 2, 3), check=check_pad),
    "ReduceMean": OpSpec(reduce, static=(1,), arrays=True),
    "ReduceSum": OpSpec(reduce, static=(1,), arrays=True),
    "ReduceMax": OpSpec(reduce, static=(1,), arrays=True),
    "ReduceMin": OpSpec(reduce, static=(1,), arrays=True),
}
# Constant has no function: the loader turns its attribute into a constant array at load.
SUPPORTED = frozenset(OPS) | {"Constant"}
