"""The converters of the op table (see juanji/onnx/export.py): one juanji Function -> ONNX nodes.

A converter is called as ``convert(t, fn, args, kw, out)`` with the Tracer ``t``, the
Function object, its positional arguments and keyword parameters as ``Function.apply``
received them, and the output Tensor juanji computed (for its shape and dtype). It appends
nodes to ``t.g`` and returns the name of the value standing for ``out``, or
``(name, batch_axis)`` when the op moves the batch axis (by default it stays where the first
graph input had it, right-aligned). ``t.fail(reason)`` refuses arguments with no ONNX form.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from .. import _math
from ..autograd import Function
from ..functional import activation as A
from ..functional import conv as C
from ..functional import loss as LOSS
from ..functional import norm as NORM
from ..functional import pool as P
from ..functional import shape as S
# functional/__init__ rebinds the names ``linear`` and ``dropout`` to the functions: import the classes.
from ..functional.dropout import Dropout as DropoutFunction
from ..functional.linear import Linear as LinearFunction
from ..kernels import pool as K
from ..tensor import Tensor
from ._export_graph import INT64_MAX, INT64_MIN, onnx_dtype
from .export import Tracer

__all__ = ["CONVERTERS"]

Converter = Callable[[Tracer, Function, tuple, dict, Tensor], Any]
CONVERTERS: dict[type, Converter] = {}


def converts(*classes: type) -> Callable[[Converter], Converter]:
    """Register the decorated function as the converter of ``classes``."""
    def register(fn: Converter) -> Converter:
        for cls in classes:
            CONVERTERS[cls] = fn
        return fn
    return register


def _scalar(t: Tracer, value: float, dtype: Any) -> str:
    return t.g.constant(value, dtype)


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(np.shape(a.data if isinstance(a, Tensor) else a))


# --- elementwise arithmetic -----------------------------------------------------------------------
_BINARY = {_math.Add: "Add", _math.Sub: "Sub", _math.Mul: "Mul", _math.Div: "Div", _math.Pow: "Pow"}


@converts(*_BINARY)
def _binary(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """a (op) b. NumPy's broadcasting is ONNX's multidirectional broadcasting; both operands are
    brought to the output dtype, the one NumPy promoted them to in juanji's forward."""
    for a in args:
        t.check_batch_constant(a, out)
    return t.g.op(_BINARY[type(fn)], [t.name(args[0], out.dtype), t.name(args[1], out.dtype)])


_UNARY = {_math.Neg: "Neg", _math.Exp: "Exp", _math.Log: "Log", _math.Sqrt: "Sqrt", _math.Abs: "Abs",
          _math.Clone: "Identity", A.ReLU: "Relu", A.Sigmoid: "Sigmoid", A.Tanh: "Tanh"}


@converts(*_UNARY)
def _unary(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    return t.g.op(_UNARY[type(fn)], [t.name(args[0], out.dtype)])


@converts(_math.PowScalar)
def _pow_scalar(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """x ** p = Pow(x, p), p a constant in the output dtype."""
    return t.g.op("Pow", [t.name(args[0], out.dtype), _scalar(t, kw["exponent"], out.dtype)])


@converts(_math.MatMul)
def _matmul(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> Any:
    """MatMul (NumPy's matmul semantics, which are ONNX's)."""
    a, b = args
    name = t.g.op("MatMul", [t.name(a, out.dtype), t.name(b, out.dtype)])
    return name, _matmul_batch_axis(t, a, b, out)


def _matmul_batch_axis(t: Tracer, a: Any, b: Any, out: Tensor) -> int | None:
    """Where a batch axis of a or b lands in a @ b.

    a (..., M, K) @ b (..., K, P) -> (..., M, P); a 1-D a has no M and a 1-D b no P in the
    output. a's rows become the output's M axis, b's columns its last axis, the leading
    (broadcast) dims align from the right; an axis summed over (a's K, b's K) leaves none.
    """
    na, nb = len(_shape(a)), len(_shape(b))
    lead = out.ndim - (na > 1) - (nb > 1)          # the output's broadcast dims
    for v, is_a in ((t.value(a), True), (t.value(b), False)):
        if v is None or v.batch_axis is None:
            continue
        n, ax = len(v.shape), v.batch_axis
        if (is_a and ax == n - 1) or (not is_a and (n == 1 or ax == n - 2)):
            return None                            # summed over
        if is_a and ax == n - 2:
            pos = lead                             # a's rows: M
        elif not is_a and ax == n - 1:
            pos = out.ndim - 1                     # b's columns: P
        else:
            pos = lead - (n - 2) + ax              # a broadcast dim
        return pos if 0 <= pos < out.ndim and out.shape[pos] == v.shape[ax] else None
    return None


@converts(_math.Clip)
def _clip(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """clamp(x, lo, hi) = Clip(x, lo, hi); an absent bound is an omitted input."""
    lo, hi = kw["lo"], kw["hi"]
    inputs = [t.name(args[0], out.dtype),
              "" if lo is None else _scalar(t, lo, out.dtype),
              "" if hi is None else _scalar(t, hi, out.dtype)]
    while inputs[-1] == "":
        inputs.pop()
    return t.g.op("Clip", inputs)


@converts(_math.Cast)
def _cast(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    return t.g.op("Cast", [t.name(args[0])], to=onnx_dtype(kw["dtype"]))


# --- reductions ---------------------------------------------------------------------------------
_REDUCE = {_math.Sum: "ReduceSum", _math.Mean: "ReduceMean", _math.Max: "ReduceMax"}


@converts(*_REDUCE)
def _reduce(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> Any:
    """sum / mean / max over ``axis`` (None: all). Reducing over the batch axis removes it."""
    v = t.value(args[0])
    nd = len(v.shape)
    axes = list(range(nd)) if kw["axis"] is None else [a % max(nd, 1) for a in kw["axis"]]
    if nd == 0 or not axes:  # nothing to reduce (NumPy's axis=() returns the input)
        return t.g.op("Identity", [t.name(args[0], out.dtype)])
    keep = bool(kw["keepdims"])
    name = t.g.reduce(_REDUCE[type(fn)], t.name(args[0], out.dtype), axes, keep)
    b = v.batch_axis
    if b is None or b in axes:
        return name, None
    return name, b if keep else b - sum(a < b for a in axes)


# --- shapes -------------------------------------------------------------------------------------
@converts(_math.Reshape)
def _reshape(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> Any:
    """Reshape to juanji's output shape, with -1 where the batch axis lands.

    The batch axis b of the input survives as axis j of the output when the dims before it
    and after it are regrouped among themselves: prod(in[:b]) = prod(out[:j]), out[j] = N,
    prod(in[b+1:]) = prod(out[j+1:]). Flatten (N, C, H, W) -> (N, C*H*W) is [-1, C*H*W].
    """
    v = t.value(args[0])
    target = [int(s) for s in out.shape]
    b = v.batch_axis
    if b is None:
        return t.g.op("Reshape", [v.name, t.g.ints(target)]), None
    pre, post = math.prod(v.shape[:b]), math.prod(v.shape[b + 1:])
    for j in range(len(target)):
        if (math.prod(target[:j]) == pre and target[j] == v.shape[b]
                and math.prod(target[j + 1:]) == post):
            target[j] = -1
            return t.g.op("Reshape", [v.name, t.g.ints(target)]), j
    t.fail(f"reshape from {v.shape} to {tuple(out.shape)} merges the batch dim (axis {b}) with other "
           f"dims, so the graph could only run at the example's batch size {t.batch}; export with "
           "dynamic_batch=False for a fixed batch")


@converts(_math.Transpose)
def _transpose(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> Any:
    perm = [int(a) for a in kw["axes"]]
    b = t.batch_axis(args[0])
    return t.g.op("Transpose", [t.name(args[0])], perm=perm), None if b is None else perm.index(b)


@converts(_math.BroadcastTo)
def _expand(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> Any:
    """expand = Expand to juanji's output shape, 1 at the batch axis: Expand broadcasts both
    ways, so the input's own batch size fills it in."""
    v = t.value(args[0])
    shape = [int(s) for s in out.shape]
    b = None if v.batch_axis is None else v.batch_axis + len(shape) - len(v.shape)
    if b is not None:
        shape[b] = 1
    return t.g.op("Expand", [v.name, t.g.ints(shape)]), b


def _slice_bounds(s: slice) -> tuple[int, int, int]:
    """A Python slice as ONNX Slice's (start, end, step), with Python's meaning of None and of
    negative values (ONNX clamps like Python, so no input size is baked in)."""
    step = 1 if s.step is None else int(s.step)
    if step == 0:
        raise ValueError("slice step cannot be zero")
    start = (0 if step > 0 else -1) if s.start is None else int(s.start)
    end = (INT64_MAX if step > 0 else INT64_MIN) if s.stop is None else int(s.stop)
    return start, end, step


@converts(_math.GetItem)
def _getitem(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> Any:
    """x[index]: slices and ints by one Slice (an int i is the slice i:i+1) and a Squeeze,
    None by an Unsqueeze; a single integer-array index (or 1-D boolean mask) by a Gather."""
    v = t.value(args[0])
    nd = len(v.shape)
    index = kw["index"]
    items = list(index) if isinstance(index, tuple) else [index]
    if sum(it is Ellipsis for it in items) > 1:
        t.fail("an index with more than one Ellipsis")
    real = sum(1 for it in items if it is not None and it is not Ellipsis)
    expanded: list[Any] = []
    for it in items:
        if it is Ellipsis:
            expanded += [slice(None)] * (nd - real)
        else:
            expanded.append(it)
    expanded += [slice(None)] * (nd - sum(1 for it in expanded if it is not None))
    arrays = [i for i, it in enumerate(expanded) if isinstance(it, (np.ndarray, list))]
    if arrays:
        return _gather_index(t, v, expanded, arrays, out)
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis = out_pos = 0
    out_batch = None
    for it in expanded:
        if it is None:
            unsqueeze.append(out_pos)
            out_pos += 1
            continue
        if isinstance(it, (bool, np.bool_)):
            t.fail(f"a boolean scalar index ({it!r})")
        if isinstance(it, (int, np.integer)):
            i = int(it)
            starts.append(i), ends.append(INT64_MAX if i == -1 else i + 1), axes.append(axis), steps.append(1)
            squeeze.append(axis)
        elif isinstance(it, slice):
            if it != slice(None) and it != slice(None, None, 1):
                start, end, step = _slice_bounds(it)
                starts.append(start), ends.append(end), axes.append(axis), steps.append(step)
            elif axis == v.batch_axis:
                out_batch = out_pos
            out_pos += 1
        else:
            t.fail(f"an index of type {type(it).__name__} ({it!r})")
        axis += 1
    name = v.name
    if axes:
        name = t.g.op("Slice", [name, t.g.ints(starts), t.g.ints(ends), t.g.ints(axes), t.g.ints(steps)])
    if squeeze:
        name = t.g.squeeze(name, squeeze)
    if unsqueeze:
        name = t.g.unsqueeze(name, unsqueeze)
    if name == v.name:
        name = t.g.op("Identity", [name])
    return name, out_batch


def _gather_index(t: Tracer, v: Any, expanded: list[Any], arrays: list[int], out: Tensor) -> Any:
    """x[..., idx, ...] with one integer array (or a 1-D boolean mask) and full slices elsewhere."""
    full = all(it == slice(None) for i, it in enumerate(expanded) if i not in arrays)
    if len(arrays) != 1 or not full:
        t.fail("advanced indexing other than one integer array (or 1-D boolean mask) with full slices "
               "elsewhere")
    axis = arrays[0]
    idx = np.asarray(expanded[axis])
    if idx.dtype == bool:
        if idx.ndim != 1:
            t.fail(f"a boolean mask index of shape {idx.shape} (only 1-D masks are exported)")
        idx = np.nonzero(idx)[0]
    if idx.dtype.kind not in "iu":
        t.fail(f"an index array of dtype {idx.dtype}")
    name = t.g.op("Gather", [v.name, t.g.constant(idx.astype(np.int64))], axis=axis)
    b = v.batch_axis
    if b is None or b == axis:
        return name, None
    return name, b if b < axis else b + idx.ndim - 1


# --- activations ----------------------------------------------------------------------------------
@converts(A.ReLU6)
def _relu6(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    return t.g.op("Clip", [t.name(args[0]), _scalar(t, 0, out.dtype), _scalar(t, 6, out.dtype)])


@converts(A.LeakyReLU)
def _leaky_relu(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    return t.g.op("LeakyRelu", [t.name(args[0])], alpha=float(kw["slope"]))


@converts(A.ELU)
def _elu(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    return t.g.op("Elu", [t.name(args[0])], alpha=float(kw["alpha"]))


@converts(A.Softplus)
def _softplus(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """juanji's (PyTorch's) softplus: z = beta x; x where z > threshold, else Softplus(z) / beta."""
    x = t.name(args[0])
    beta, threshold = float(kw["beta"]), float(kw["threshold"])
    z = x if beta == 1 else t.g.op("Mul", [x, _scalar(t, beta, out.dtype)])
    soft = t.g.op("Softplus", [z])
    if beta != 1:
        soft = t.g.op("Div", [soft, _scalar(t, beta, out.dtype)])
    linear = t.g.op("Greater", [z, _scalar(t, threshold, out.dtype)])
    return t.g.op("Where", [linear, x, soft])


@converts(A.GELU)
def _gelu(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """Gelu from opset 20; before, exact x (1 + erf(x / sqrt 2)) / 2 or the tanh form
    x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2."""
    x = t.name(args[0])
    approximate = kw["approximate"]
    if t.g.opset >= 20:
        return t.g.op("Gelu", [x], approximate=approximate)
    dt = out.dtype
    if approximate == "tanh":
        cube = t.g.op("Mul", [t.g.op("Mul", [x, x]), x])
        inner = t.g.op("Add", [x, t.g.op("Mul", [cube, _scalar(t, 0.044715, dt)])])
        gate = t.g.op("Tanh", [t.g.op("Mul", [inner, _scalar(t, math.sqrt(2 / math.pi), dt)])])
    else:
        gate = t.g.op("Erf", [t.g.op("Mul", [x, _scalar(t, 1 / math.sqrt(2), dt)])])
    half = t.g.op("Mul", [x, _scalar(t, 0.5, dt)])
    return t.g.op("Mul", [half, t.g.op("Add", [gate, _scalar(t, 1.0, dt)])])


@converts(A.Softmax, A.LogSoftmax)
def _softmax(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    op = "Softmax" if type(fn) is A.Softmax else "LogSoftmax"
    return t.g.op(op, [t.name(args[0])], axis=int(kw["dim"]))


# --- convolution ------------------------------------------------------------------------------------
def _pads(pairs: Sequence[tuple[int, int]]) -> list[int]:
    """juanji's ((begin, end) per spatial dim) -> ONNX's [begin..., end...]."""
    return [int(p[0]) for p in pairs] + [int(p[1]) for p in pairs]


@converts(C.ConvNd)
def _conv(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """Conv with juanji's resolved padding: int, pair, "valid" and TensorFlow's "same" all arrive
    as (begin, end) pairs, "same"'s odd extra pixel at the end, as ONNX's explicit pads."""
    x, w, b = args
    inputs = [t.name(x), t.name(w, out.dtype)] + ([t.name(b, out.dtype)] if b is not None else [])
    return t.g.op("Conv", inputs, kernel_shape=list(_shape(w)[2:]), strides=list(kw["stride"]),
                  pads=_pads(kw["padding"]), dilations=list(kw["dilation"]), group=int(kw["groups"]))


@converts(C._GatherTaps)
def _gather_taps(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """Strides wider than the window (functional/conv.py): along each such axis, the taps xg[o*K + t]
    = x[pos] or 0 where pos = -1 (a tap in the padding). Pad one zero at the axis's end, index n."""
    name = t.name(args[0])
    shape = list(_shape(args[0]))
    nd = len(shape)
    for axis, pos in args[1].items():  # taps: {axis: input position per tap, -1 in the padding}
        n = shape[axis]
        pads = [0] * (2 * nd)
        pads[nd + axis] = 1
        padded = t.g.op("Pad", [name, t.g.ints(pads), _scalar(t, 0, out.dtype)])
        idx = np.where(np.asarray(pos) >= 0, pos, n).astype(np.int64)
        name = t.g.op("Gather", [padded, t.g.constant(idx)], axis=int(axis))
        shape[axis] = len(idx)
    return name


def _fft_conv2d(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """FFTConv2d computes a stride-1 correlation (or, mode "convolution", one with the kernel
    flipped, which Slice with steps -1 does): a Conv."""
    x, w, b = args
    wname = t.name(w, out.dtype)
    if kw["mode"] == "convolution":
        wname = t.g.op("Slice", [wname, t.g.ints([-1, -1]), t.g.ints([INT64_MIN, INT64_MIN]),
                                 t.g.ints([2, 3]), t.g.ints([-1, -1])])
    inputs = [t.name(x), wname] + ([t.name(b, out.dtype)] if b is not None else [])
    return t.g.op("Conv", inputs, kernel_shape=list(_shape(w)[2:]), strides=[1, 1], pads=_pads(kw["padding"]),
                  dilations=[1, 1], group=int(kw["groups"]))


try:  # functional/fft_conv.py
    from ..functional import fft_conv as _fft

    CONVERTERS[_fft.FFTConv2d] = _fft_conv2d
except ImportError:  # pragma: no cover - a tree without the FFT route
    pass


@converts(LinearFunction)
def _linear(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """y = x W^T + b: Gemm(transB=1) for (N, IN) input; MatMul(x, Transpose(W)) (+ b) otherwise."""
    x, w, b = args
    xs, ws = t.name(x), t.name(w, out.dtype)
    bs = [t.name(b, out.dtype)] if b is not None else []
    if len(_shape(x)) == 2:
        return t.g.op("Gemm", [xs, ws] + bs, transB=1)
    y = t.g.op("MatMul", [xs, t.g.op("Transpose", [ws], perm=[1, 0])])
    return t.g.op("Add", [y] + bs) if bs else y


# --- pooling ------------------------------------------------------------------------------------------
def _pool_input(t: Tracer, x: Any, geo: Any, fill: float, dtype: Any) -> tuple[str, list[int]]:
    """x and the pads a pooling node takes: the pads the windows touch (geo.eff_pads, ceil_mode's
    extra cells included, so the output size needs no ceil_mode), or, where one is not smaller
    than the kernel (ONNX Runtime refuses those), an explicit Pad with ``fill`` and no pads."""
    eff = geo.eff_pads
    if all(b < k and a < k for (b, a), k in zip(eff, geo.kernel)):
        return t.name(x), _pads(eff)
    pads = [0, 0] + [int(b) for b, _ in eff] + [0, 0] + [int(a) for _, a in eff]
    padded = t.g.op("Pad", [t.name(x), t.g.ints(pads), _scalar(t, fill, dtype)])
    return padded, [0] * (2 * len(eff))


@converts(P.MaxPoolNd)
def _max_pool(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """MaxPool; padding is never the maximum (juanji pads with -inf, ONNX ignores pads)."""
    geo = kw["geo"]
    x, pads = _pool_input(t, args[0], geo, -np.inf, out.dtype)
    return t.g.op("MaxPool", [x], kernel_shape=list(geo.kernel), strides=list(geo.stride), pads=pads,
                  dilations=list(geo.dilation), ceil_mode=0)


def _ceil_cells(geo: Any) -> bool:
    """Whether ceil_mode's windows reach past the user's right padding on some axis."""
    return any(a > p for (_, a), (_, p) in zip(geo.eff_pads, geo.pads))


def _window_sums(t: Tracer, x: str, geo: Any, dtype: Any) -> str:
    """Window sums, K times AveragePool(count_include_pad=1) over the touched pads (every window
    lies inside them, so each divides by exactly K)."""
    avg = t.g.op("AveragePool", [x], kernel_shape=list(geo.kernel), strides=list(geo.stride),
                 pads=_pads(geo.eff_pads), count_include_pad=1)
    return t.g.op("Mul", [avg, _scalar(t, math.prod(geo.kernel), dtype)])


@converts(P.AvgPoolNd)
def _avg_pool(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """AveragePool over the touched pads: count_include_pad counts the zero padding, as PyTorch,
    and TensorFlow "same" comes with include_pad False. PyTorch never counts ceil_mode's extra
    cells, which written out as pads would be counted: there, and for divisor_override, window
    sums divided by juanji's own divisor table. (ceil_mode itself is never written: runtimes have
    disagreed on its windows, and the touched pads give PyTorch's output size with floor.)"""
    geo, include, override = kw["geo"], bool(kw["include_pad"]), kw["divisor_override"]
    if override is None and not (include and _ceil_cells(geo)):
        return t.g.op("AveragePool", [t.name(args[0])], kernel_shape=list(geo.kernel),
                      strides=list(geo.stride), pads=_pads(geo.eff_pads), count_include_pad=int(include))
    sums = _window_sums(t, t.name(args[0]), geo, out.dtype)
    if override is not None:
        div = np.asarray(override, dtype=out.dtype)
    else:
        div = K.avg_divisor(geo.in_size, geo.kernel, geo.stride, geo.pads, geo.out_size, include, out.dtype)
    return t.g.op("Div", [sums, t.g.constant(div, out.dtype)])


@converts(P.LPPoolNd)
def _lp_pool(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """PyTorch's (K * avg(x^p))^(1/p). For even integer p and windows inside the input that is
    ONNX's LpPool, (sum |x|^p)^(1/p); otherwise Pow, the window average, Mul, Pow. Windows that
    ceil_mode clips are averaged over their clipped size and still scaled by K (PyTorch)."""
    geo, p = kw["geo"], float(kw["p"])
    x = t.name(args[0])
    if p.is_integer() and int(p) % 2 == 0 and not _ceil_cells(geo):
        return t.g.op("LpPool", [x], kernel_shape=list(geo.kernel), strides=list(geo.stride),
                      pads=_pads(geo.eff_pads), p=int(p))
    powered = t.g.op("Pow", [x, _scalar(t, p, out.dtype)])
    avg_k = t.g.op("AveragePool", [powered], kernel_shape=list(geo.kernel), strides=list(geo.stride),
                   pads=_pads(geo.eff_pads), count_include_pad=1)       # sum / K
    k = math.prod(geo.kernel)
    div = K.avg_divisor(geo.in_size, geo.kernel, geo.stride, geo.pads, geo.out_size, True, np.float64)
    scale = (k * k / div).astype(out.dtype)                                # (sum / K) * K^2 / div = K sum / div
    y = t.g.op("Mul", [avg_k, t.g.constant(scale)])
    return t.g.op("Pow", [y, _scalar(t, 1.0 / p, out.dtype)])


def _along_axis_matrix(t: Tracer, x: str, matrix: np.ndarray, axis: int, ndim: int) -> str:
    """y[..., o, ...] = sum_i M[o, i] x[..., i, ...] along ``axis``, by one MatMul (the axis moved
    last by a Transpose when it is neither of the last two)."""
    mt = t.g.constant(np.ascontiguousarray(matrix.T))                      # (n, O)
    if axis == ndim - 1:
        return t.g.op("MatMul", [x, mt])                                   # (..., n) @ (n, O)
    if axis == ndim - 2:
        return t.g.op("MatMul", [t.g.constant(matrix), x])                 # (O, n) @ (..., n, W)
    perm = [i for i in range(ndim) if i != axis] + [axis]
    inverse = list(np.argsort(perm))
    moved = t.g.op("MatMul", [t.g.op("Transpose", [x], perm=perm), mt])
    return t.g.op("Transpose", [moved], perm=[int(i) for i in inverse])


def _adaptive(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor, is_max: bool) -> str:
    """Adaptive pooling to fixed sizes, PyTorch's bins [floor(o n / O), ceil((o + 1) n / O)).

    Output 1 everywhere: GlobalAveragePool / GlobalMaxPool. Each axis where O divides n has
    uniform windows n/O (AveragePool / MaxPool); where every bin is one cell, a Gather picks
    them; other axes are averaged by the (O, n) bin matrix (a MatMul), which max pooling
    cannot do: refused. Bins are a product of per-axis bins, so axis by axis is exact.
    """
    x = t.name(args[0])
    in_size = _shape(args[0])[2:]
    out_size = tuple(int(o) for o in kw["out_size"])
    nd = 2 + len(in_size)
    if all(o == 1 for o in out_size):
        return t.g.op("GlobalMaxPool" if is_max else "GlobalAveragePool", [x])
    pool = "MaxPool" if is_max else "AveragePool"
    if all(n % o == 0 for n, o in zip(in_size, out_size)):
        kernel = [n // o for n, o in zip(in_size, out_size)]
        return t.g.op(pool, [x], kernel_shape=kernel, strides=kernel)
    for i, (n, o) in enumerate(zip(in_size, out_size)):
        axis = 2 + i
        start, end = K.adaptive_bins(n, o)
        if n == o:
            continue
        if n % o == 0:
            kernel = [1] * len(in_size)
            kernel[i] = n // o
            x = t.g.op(pool, [x], kernel_shape=kernel, strides=kernel)
        elif np.all(end - start == 1):
            x = t.g.op("Gather", [x, t.g.constant(np.asarray(start, dtype=np.int64))], axis=axis)
        elif is_max:
            op = "adaptive_max_pool"
            t.fail(f"{op} from {tuple(in_size)} to {out_size}: along dim {axis} the bins of {n} cells "
                   f"into {o} have no fixed window (O does not divide n, and the bins are longer than one "
                   "cell), which ONNX's MaxPool cannot express; choose an output size that divides the input")
        else:
            x = _along_axis_matrix(t, x, K.adaptive_avg_matrix(n, o, out.dtype), axis, nd)
    return x


@converts(P.AdaptiveAvgPoolNd)
def _adaptive_avg(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    return _adaptive(t, fn, args, kw, out, is_max=False)


@converts(P.AdaptiveMaxPoolNd)
def _adaptive_max(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    return _adaptive(t, fn, args, kw, out, is_max=True)


@converts(P.GlobalAvgPool, P.GlobalMaxPool)
def _global_pool(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> Any:
    """(N, C, H, W) -> (N, C): the global pool keeps (N, C, 1, 1); Flatten drops the ones."""
    op = "GlobalAveragePool" if type(fn) is P.GlobalAvgPool else "GlobalMaxPool"
    b = t.batch_axis(args[0])
    return t.g.op("Flatten", [t.g.op(op, [t.name(args[0])])], axis=1), b if b in (0, 1) else None


# --- normalisation --------------------------------------------------------------------------------------
def _param_or(t: Tracer, p: Any, fill: float, shape: tuple[int, ...], dtype: Any) -> str:
    return t.g.constant(np.full(shape, fill, dtype=dtype)) if p is None else t.name(p, dtype)


@converts(NORM.BatchNormFunction)
def _batch_norm(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """Eval batch norm, (x - running_mean) / sqrt(running_var + eps) * weight + bias:
    BatchNormalization with the running statistics as its mean and var inputs."""
    if kw["training"]:
        t.fail("batch_norm normalises with the batch's own statistics here (training=True, or a "
               "BatchNorm with track_running_stats=False); the exported graph uses running statistics")
    x, w, b = args
    c = _shape(x)[1]
    dt = out.dtype
    inputs = [t.name(x), _param_or(t, w, 1.0, (c,), dt), _param_or(t, b, 0.0, (c,), dt),
              t.name(kw["running_mean"], dt), t.name(kw["running_var"], dt)]
    return t.g.op("BatchNormalization", inputs, epsilon=float(kw["eps"]))


def _normalise(t: Tracer, x: str, axes: list[int], eps: float, dtype: Any) -> str:
    """(x - mean) / sqrt(var + eps) over ``axes``, the biased variance (two-pass, as juanji)."""
    mean = t.g.reduce("ReduceMean", x, axes, keepdims=True)
    d = t.g.op("Sub", [x, mean])
    var = t.g.reduce("ReduceMean", t.g.op("Mul", [d, d]), axes, keepdims=True)
    return t.g.op("Div", [d, t.g.op("Sqrt", [t.g.op("Add", [var, _scalar(t, eps, dtype)])])])


@converts(NORM.LayerNormFunction)
def _layer_norm(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """LayerNormalization over the last k dims from opset 17; before it, spelled out."""
    x, w, b = args
    k, eps, dt = int(kw["k"]), float(kw["eps"]), out.dtype
    shape = _shape(x)
    if t.g.opset >= 17:
        inputs = [t.name(x), _param_or(t, w, 1.0, shape[len(shape) - k:], dt)]
        inputs += [t.name(b, dt)] if b is not None else []
        return t.g.op("LayerNormalization", inputs, axis=-k, epsilon=eps)
    y = _normalise(t, t.name(x), list(range(len(shape) - k, len(shape))), eps, dt)
    if w is not None:
        y = t.g.op("Mul", [y, t.name(w, dt)])
    return t.g.op("Add", [y, t.name(b, dt)]) if b is not None else y


@converts(NORM.GroupNormFunction)
def _group_norm(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """Statistics per (sample, group): Reshape (N, G, -1), normalise over the last axis, Reshape
    back to x's shape, then the per-channel weight and bias as (C, 1, ..., 1)."""
    x, w, b = args
    g, eps, dt = int(kw["num_groups"]), float(kw["eps"]), out.dtype
    shape = _shape(x)
    xs = t.name(x)
    grouped = t.g.op("Reshape", [xs, t.g.ints([0, g, -1])])               # 0: keep N
    y = t.g.op("Reshape", [_normalise(t, grouped, [2], eps, dt), t.g.op("Shape", [xs])])
    spread = list(range(1, len(shape) - 1))
    for p, op in ((w, "Mul"), (b, "Add")):
        if p is not None:
            pname = t.name(p, dt)
            y = t.g.op(op, [y, t.g.unsqueeze(pname, spread) if spread else pname])
    return y


@converts(NORM.LocalResponseNormFunction)
def _lrn(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    """b_c = a_c / (k + alpha/size * sum_{j in W(c)} a_j^2)^beta, W(c) = [c - size//2, c + (size-1)//2].

    ONNX's LRN sums over [c - floor((size-1)/2), c + ceil((size-1)/2)] and scales alpha by
    1/size, as PyTorch: the same for odd sizes (ONNX Runtime takes 4-D input only). Even sizes
    place ONNX's window one channel apart (and ONNX Runtime refuses them), so there, and for
    other ranks, the sum is an AveragePool of x^2 across channels (x unsqueezed to
    (N, 1, C, *S)), which divides by size.
    """
    size, alpha, beta, k = int(kw["size"]), float(kw["alpha"]), float(kw["beta"]), float(kw["k"])
    x = t.name(args[0])
    nd, dt = len(_shape(args[0])), out.dtype
    if size % 2 == 1 and nd == 4:
        return t.g.op("LRN", [x], size=size, alpha=alpha, beta=beta, bias=k)
    spatial = nd - 2
    if spatial + 1 > 3:
        t.fail(f"local_response_norm of a {nd}-D input with even size {size} (ONNX Runtime pools at most 3-D)")
    sq = t.g.unsqueeze(t.g.op("Mul", [x, x]), [1])                           # (N, 1, C, *S)
    avg = t.g.op("AveragePool", [sq], kernel_shape=[size] + [1] * spatial, strides=[1] * (spatial + 1),
                 pads=[size // 2] + [0] * spatial + [(size - 1) // 2] + [0] * spatial, count_include_pad=1)
    d = t.g.op("Add", [t.g.op("Mul", [t.g.squeeze(avg, [1]), _scalar(t, alpha, dt)]), _scalar(t, k, dt)])
    return t.g.op("Mul", [x, t.g.op("Pow", [d, _scalar(t, -beta, dt)])])


# --- shape ops -------------------------------------------------------------------------------------------
_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@converts(S.Pad)
def _pad(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> Any:
    """F.pad: negative (cropping) widths by a Slice, the rest by Pad in the matching mode."""
    widths, mode = kw["widths"], kw["mode"]
    if mode == "circular" and t.g.opset < 19:
        t.fail(f"circular padding needs Pad's 'wrap' mode, opset 19 or later (exporting opset {t.g.opset})")
    x = t.name(args[0])
    shape = _shape(args[0])
    crop = [(i, max(-a, 0), n - max(-b, 0)) for i, ((a, b), n) in enumerate(zip(widths, shape)) if a < 0 or b < 0]
    if crop:
        x = t.g.op("Slice", [x, t.g.ints([c[1] for c in crop]), t.g.ints([c[2] for c in crop]),
                             t.g.ints([c[0] for c in crop])])
    pads = [max(int(a), 0) for a, _ in widths] + [max(int(b), 0) for _, b in widths]
    inputs = [x, t.g.ints(pads)] + ([_scalar(t, kw["value"], out.dtype)] if mode == "constant" else [])
    y = t.g.op("Pad", inputs, mode=_PAD_MODES[mode])
    b = t.batch_axis(args[0])
    return y, None if b is None or widths[b] != (0, 0) else b


@converts(S.Cat)
def _cat(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    dim = int(kw["dim"])
    for a in args:
        if t.dynamic and t.batch_axis(a) == dim:
            t.fail(f"cat along the batch dim ({dim}) would fix the batch size; export with dynamic_batch=False")
        t.check_batch_constant(a, out)
    return t.g.op("Concat", [t.name(a, out.dtype) for a in args], axis=dim)


@converts(S.Stack)
def _stack(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> Any:
    dim = int(kw["dim"])
    for a in args:
        t.check_batch_constant(a, out)
    parts = [t.g.unsqueeze(t.name(a, out.dtype), [dim]) for a in args]
    name = t.g.op("Concat", parts, axis=dim)
    b = next((t.batch_axis(a) for a in args if t.batch_axis(a) is not None), None)
    return name, None if b is None else (b if b < dim else b + 1)


@converts(S.Embedding)
def _embedding(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> Any:
    """weight[ids] = Gather(weight, ids, axis=0): (*) int ids -> (*, E)."""
    ids, w = args
    return t.g.op("Gather", [t.name(w), t.name(ids)], axis=0), t.batch_axis(ids)


# --- refused -------------------------------------------------------------------------------------------
@converts(DropoutFunction)
def _dropout(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    t.fail("dropout ran in training mode (F.dropout(x, training=True) in forward?), so the output is random; "
           "in eval mode F.dropout returns its input and nothing is exported")
    return ""


@converts(LOSS.CrossEntropy, LOSS.NLLLoss, LOSS.MSELoss, LOSS.L1Loss, LOSS.BCEWithLogits, LOSS.BCE)
def _loss(t: Tracer, fn: Function, args: tuple, kw: dict, out: Tensor) -> str:
    t.fail("a loss is not part of an inference graph: export a forward that returns the model's outputs")
    return ""
