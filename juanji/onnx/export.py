"""ONNX export: trace the ops a forward pass runs and write them as a standard ONNX graph.

    >>> model = juanji.models.resnet18(num_classes=10).eval()
    >>> juanji.onnx.export(model, juanji.randn(1, 3, 224, 224), "resnet18.onnx")

The tracer
----------
Every differentiable op in juanji goes through one choke point, ``Function.apply``
(juanji/autograd.py). While an export runs, ``autograd._trace_hook`` is set, and apply
hands each op to it after forward: the Function object, its arguments (Tensors, arrays,
keyword parameters) and its output. The hook consults a thread-local recorder, so a forward
pass in another thread is not recorded; outside an export the hook is None and apply pays
one global None check.

The recorder maps juanji Tensors (by ``id``, guarded by a weak reference, so a recycled
id is never mistaken for the tensor that died) to ONNX value names:

* the example input is the graph input ``input`` (its batch dim is the symbol ``"N"``);
* parameters and buffers are initializers under their ``state_dict`` names
  (``layer1.0.conv1.weight``, ``bn1.running_mean``); batch norm's running statistics reach
  the op as arrays, so arrays are matched by ``id`` too;
* an op whose inputs are all constants (a reshape of a parameter, LeNet-5's C3 weight times
  its connection mask) is folded: its output, as juanji computed it, becomes one initializer
  named after the parameter it came from (``c3.weight.mul``);
* any other Tensor, array or number an op receives is an anonymous constant (``const_3``);
* an op with at least one graph input is converted: its converter (``_export_ops.py``)
  appends ONNX nodes and returns the name of the value that stands for its output.

While the forward runs, every module's forward is wrapped (an instance attribute, removed
afterwards) to keep a stack of the modules running, so each op's nodes are named by the
innermost module around it (``layer1.0.conv1/Conv``). Errors found while converting (an op
with no ONNX form, an adaptive pool with no fixed window) are collected and raised after the
forward, all of them, each naming the op and its module.

The dynamic batch. Each value remembers which of its axes is the batch (``batch_axis``),
as ops move it (a transpose, a reshape that keeps it whole, a reduction that removes it).
Shapes written into the graph put -1 (Reshape) or 1 (Expand) at that axis instead of the
example's N, so the file runs at any batch size. A reshape that merges the batch with other
dims is refused when the batch is dynamic (``dynamic_batch=False`` exports a fixed batch).
A constant entering an elementwise op with the example's N along the batch axis is refused
too: it was computed from the input outside juanji's ops (NumPy on ``x.data``), which a
tracer cannot see, and the graph would keep that one input's value.

The op table (juanji Function -> ONNX nodes; all in the default domain)
-----------------------------------------------------------------------
=============================  ==================================================================
Add, Sub, Mul, Div, Pow        Add, Sub, Mul, Div, Pow (NumPy broadcasting is ONNX's)
Neg, Exp, Log, Sqrt, Abs       Neg, Exp, Log, Sqrt, Abs
PowScalar (x ** p)             Pow(x, p)
MatMul                         MatMul
Clip (clamp)                   Clip(x, min, max)
Cast, Clone                    Cast, Identity
Sum, Mean, Max (reductions)    ReduceSum, ReduceMean, ReduceMax (axes as the opset wants them)
Reshape (view, flatten, ...)   Reshape, -1 at the batch axis
Transpose (permute, T)         Transpose
BroadcastTo (expand)           Expand, 1 at the batch axis
GetItem (x[...])               Slice, Squeeze, Unsqueeze; one integer-array index: Gather
ReLU, ReLU6                    Relu; Clip(0, 6)
LeakyReLU, ELU                 LeakyRelu, Elu
Sigmoid, Tanh                  Sigmoid, Tanh
Softplus(beta, threshold)      Where(beta x > threshold, x, Softplus(beta x) / beta)
GELU                           Gelu (opset >= 20); before: x (1 + Erf(x / sqrt 2)) / 2, or the
                               tanh form x (1 + Tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2
Softmax, LogSoftmax            Softmax, LogSoftmax (axis)
ConvNd (conv1d/2d/3d)          Conv: group, dilations, strides; padding (int, pair, TensorFlow
                               "same" for odd and even kernels) as explicit, possibly
                               asymmetric pads [begin..., end...]
_GatherTaps (stride > kernel)  per axis: Pad one zero at the end, Gather the taps (index n
                               for a tap in the padding)
FFTConv2d                      Conv (a convolution-mode kernel is flipped by Slice, steps -1)
Linear                         Gemm(x, W, b, transB=1) on 2-D input; else MatMul(x, W^T) + b
MaxPoolNd                      MaxPool with the pads the windows touch (ceil_mode's extra
                               cells included, so ceil_mode=0 gives PyTorch's output size)
AvgPoolNd                      AveragePool (count_include_pad) over the touched pads; where
                               ceil_mode's extra cells would count as padding there (PyTorch
                               never counts them), and for divisor_override: window sums by
                               AveragePool * K, divided by juanji's divisor table (OH, OW)
LPPoolNd (p even)              LpPool (which takes |x|^p, equal to x^p for even p); any other
                               p, or ceil_mode's clipped windows: (K * avg(x^p))^(1/p) by Pow,
                               AveragePool, Mul, Div, Pow
AdaptiveAvgPoolNd              GlobalAveragePool (output 1); AveragePool (input divisible by
                               output: uniform windows); Gather (every bin one cell); otherwise
                               MatMul by the (O, n) bin-averaging matrix along each axis
AdaptiveMaxPoolNd              GlobalMaxPool; MaxPool (uniform windows); Gather (one cell per
                               bin); otherwise refused, naming the sizes
GlobalAvgPool, GlobalMaxPool   GlobalAveragePool, GlobalMaxPool, then Flatten (N, C)
BatchNormFunction (eval)       BatchNormalization(x, weight, bias, running_mean, running_var)
LayerNormFunction              LayerNormalization (opset >= 17); before: ReduceMean, Sub, Mul,
                               Sqrt, Div
GroupNormFunction              Reshape (N, G, -1), ReduceMean statistics, Reshape back, Mul, Add
LocalResponseNormFunction      LRN (odd size, 4-D input: ONNX's window [c - (size-1)/2,
                               c + (size-1)/2] and alpha/size scaling are PyTorch's); even sizes
                               (a window one channel apart in ONNX, refused by ONNX Runtime) or
                               other ranks: AveragePool of x^2 over the channel axis (the window
                               [c - size//2, c + (size-1)//2], divided by size), Add, Pow, Mul
Pad                            Pad (constant, reflect, edge; wrap from opset 19); a negative
                               (cropping) width is a Slice
Cat, Stack                     Concat; Unsqueeze each, Concat
Embedding                      Gather(weight, ids)
Dropout                        never recorded in eval (F.dropout returns x itself); a dropout
                               forced into training mode is refused
losses                         refused: not part of an inference graph
=============================  ==================================================================

TextCNN (juanji/models/textcnn.py) builds its max-over-time mask with NumPy from the token
ids, which a tracer cannot follow, so it has its own graph (``_export_textcnn.py``) that
computes the sentence lengths and the mask from the ids inside ONNX.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from .. import autograd
from ..autograd import Function, no_grad
from ..nn import Module
from ..tensor import Tensor

if TYPE_CHECKING:
    import onnx

    from ._export_graph import GraphBuilder

__all__ = ["export", "ExportError", "DEFAULT_OPSET", "MIN_OPSET", "MAX_OPSET"]

DEFAULT_OPSET = 17
# Opset 13 moved ReduceSum's, Squeeze's and Unsqueeze's axes to inputs (the spellings used
# here); 21 is the newest this exporter writes and tests.
MIN_OPSET, MAX_OPSET = 13, 21

# ONNX protobuf files are limited to 2 GiB; initializers beyond this leave too little room.
_MAX_INITIALIZER_BYTES = 2**31 - 2**26


class ExportError(ValueError):
    """A model that cannot be exported, with the reason (op, module, shapes)."""


class ConvertError(Exception):
    """Raised by a converter: this op, with these arguments, has no ONNX form (message says why)."""


@dataclass
class Value:
    """A graph value standing for a juanji Tensor: its ONNX name, shape, dtype and batch axis."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    batch_axis: int | None


# --- the hook in Function.apply --------------------------------------------------------------
_local = threading.local()
_install_lock = threading.Lock()
_active = 0


def _dispatch(fn: Function, args: tuple[Any, ...], kwargs: dict[str, Any], out: Tensor) -> None:
    """``autograd._trace_hook`` while any export runs: record in this thread's tracer, if any."""
    tracer = getattr(_local, "tracer", None)
    if tracer is not None:
        tracer.record(fn, args, kwargs, out)


@contextlib.contextmanager
def _tracing(tracer: "Tracer") -> Iterator[None]:
    """Make ``tracer`` this thread's recorder, with the hook installed while any export runs."""
    global _active
    if getattr(_local, "tracer", None) is not None:
        raise ExportError("export: already exporting in this thread (a model's forward called export)")
    with _install_lock:
        _active += 1
        autograd._trace_hook = _dispatch
    _local.tracer = tracer
    try:
        yield
    finally:
        _local.tracer = None
        with _install_lock:
            _active -= 1
            if _active == 0:
                autograd._trace_hook = None


# --- the recorder ----------------------------------------------------------------------------
class Tracer:
    """Records one forward pass into a GraphBuilder (see the module docstring).

    Converters read the op's arguments through ``value`` (a graph value or None), ``name``
    (the ONNX name of any argument, constant or not) and ``batch_axis``; ``batch`` is the
    example's batch size and ``dynamic`` whether the graph keeps it symbolic.
    """

    def __init__(self, model: Module, graph: "GraphBuilder", example: Tensor, dynamic: bool,
                 converters: dict[type, Callable[..., Any]]) -> None:
        self.g = graph
        self.model = model
        self.dynamic = dynamic
        self.batch = int(example.shape[0]) if example.ndim else 1
        self._converters = converters
        # id -> (weak reference, Value): graph values, by Tensor and by the array behind it (ops
        # such as Embedding receive ``ids.data``); the reference guards against id reuse.
        self._values: dict[int, tuple[weakref.ref, Value]] = {}
        self._arrays: dict[int, tuple[weakref.ref, Value]] = {}
        # id -> (weak reference, name hint or None): outputs of folded (all-constant) ops.
        self._folded: dict[int, tuple[weakref.ref, str | None]] = {}
        # id -> (object, name) of every parameter and buffer, and of the arrays behind them.
        self._named: dict[int, tuple[Any, str]] = {}
        for prefix, module in model.named_modules():
            for pname, p in list(module._parameters.items()) + list(module._buffers.items()):
                if p is not None and id(p) not in self._named:
                    name = f"{prefix}.{pname}" if prefix else pname
                    self._named[id(p)] = (p, name)
                    self._named[id(p.data)] = (p.data, name)
        self._const_names: dict[int, tuple[Any, str]] = {}  # constants already made initializers
        self.input = Value("input", tuple(example.shape), example.dtype, 0 if dynamic and example.ndim else None)
        self._set(example, self.input)
        self.scopes: list[str] = []  # the modules whose forward is running, outermost first
        self.errors: list[tuple[str, str, str]] = []  # (op, message, module name)
        self._out_batch_axis_hint: int | None = None

    # --- lookups converters use -----------------------------------------------------------------
    def _set(self, t: Tensor, v: Value) -> None:
        self._values[id(t)] = (weakref.ref(t), v)
        self._arrays[id(t.data)] = (weakref.ref(t.data), v)

    def value(self, arg: Any) -> Value | None:
        """The graph value behind ``arg`` (a Tensor, or the array of one), or None for a constant."""
        table = self._values if isinstance(arg, Tensor) else self._arrays if isinstance(arg, np.ndarray) else None
        entry = None if table is None else table.get(id(arg))
        return entry[1] if entry is not None and entry[0]() is arg else None

    def batch_axis(self, arg: Any) -> int | None:
        v = self.value(arg)
        return None if v is None else v.batch_axis

    def name(self, arg: Any, dtype: Any = None) -> str:
        """The ONNX name of an argument: a graph value (Cast to ``dtype`` if it differs), a
        parameter or buffer by its state_dict name, a folded constant, or an anonymous one."""
        v = self.value(arg)
        if v is not None:
            if dtype is not None and np.dtype(dtype) != v.dtype:
                from ._export_graph import onnx_dtype

                return self.g.op("Cast", [v.name], to=onnx_dtype(dtype))
            return v.name
        data = arg.data if isinstance(arg, Tensor) else arg
        if dtype is not None and isinstance(data, np.ndarray) and data.dtype != np.dtype(dtype):
            return self.g.constant(data, dtype)  # a converted copy: numpy promotion, made explicit
        named = self._named.get(id(arg)) or (self._named.get(id(data)) if isinstance(data, np.ndarray) else None)
        if named is not None and (named[0] is arg or named[0] is data):
            return self.g.initializer(named[1], np.asarray(data))
        if isinstance(arg, Tensor):
            folded = self._folded.get(id(arg))
            if folded is not None and folded[0]() is arg and folded[1] is not None:
                made = self._const_names.get(id(arg))
                if made is None or made[0] is not arg:
                    made = (arg, self.g.initializer(folded[1], data))
                    self._const_names[id(arg)] = made
                return made[1]
        return self.g.constant(np.asarray(data), dtype)

    def fail(self, message: str) -> None:
        """Refuse this op: ``message`` says why (raised after the forward, with the module)."""
        raise ConvertError(message)

    def check_batch_constant(self, const: Any, out: Tensor) -> None:
        """Refuse an anonymous constant with the example's N on the output's batch axis (see the
        module docstring): it was computed from the input where the tracer could not see."""
        if not self.dynamic or self.batch < 2 or self.value(const) is not None:
            return
        data = const.data if isinstance(const, Tensor) else const
        if not isinstance(data, np.ndarray) or data.ndim == 0:
            return
        if id(const) in self._named or id(data) in self._named:
            return
        folded = self._folded.get(id(const))
        if folded is not None and folded[0]() is const and folded[1] is not None:
            return  # computed from parameters only
        b = self._out_batch_axis_hint
        if b is None:
            return
        j = b - (out.ndim - data.ndim)  # the constant's axis aligned with the batch axis
        if 0 <= j < data.ndim and data.shape[j] == self.batch:
            self.fail(f"a constant of shape {data.shape} (not a parameter, buffer or juanji op output) "
                      f"meets the batch axis with the example's batch size {self.batch}: it was probably "
                      "computed from the input outside juanji's ops (NumPy on x.data), which the tracer "
                      "cannot see; the graph would keep this input's values")

    # --- recording --------------------------------------------------------------------------------
    def record(self, fn: Function, args: tuple[Any, ...], kwargs: dict[str, Any], out: Tensor) -> None:
        """The hook: fold an all-constant op, convert one that reads a graph value."""
        cls = type(fn)
        graph_args = [a for a in args if self.value(a) is not None]
        if not graph_args:
            self._folded[id(out)] = (weakref.ref(out), self._fold_hint(cls, args))
            return
        first = len(self.g.nodes)
        scope = self.scopes[-1] if self.scopes else type(self.model).__name__
        default_axis = self._default_batch_axis(graph_args, out)
        self._out_batch_axis_hint = default_axis
        converter = self._converters.get(cls)
        try:
            if converter is None:
                raise ConvertError(f"no ONNX mapping for {cls.__module__}.{cls.__qualname__}")
            result = converter(self, fn, args, kwargs, out)
        except Exception as e:  # ConvertError: refused; anything else: a bug, reported the same way
            del self.g.nodes[first:]
            msg = str(e) if isinstance(e, ConvertError) else \
                f"the converter failed ({type(e).__name__}: {e}; a bug in juanji's exporter, please report it)"
            self.errors.append((cls.__name__, msg, scope))
            result = self.g.fresh()  # a stand-in, so the forward and the recording go on
        for node in self.g.nodes[first:]:
            node.name = f"{scope}/{node.op_type}"  # made unique in make_model
        name, axis = result if isinstance(result, tuple) else (result, default_axis)
        self._set(out, Value(name, tuple(out.shape), out.dtype, axis if self.dynamic else None))

    def _fold_hint(self, cls: type, args: tuple[Any, ...]) -> str | None:
        """``c3.weight.mul``: the first named input (parameter, buffer or folded constant) + the op."""
        for a in args:
            data = a.data if isinstance(a, Tensor) else a
            named = self._named.get(id(a)) or (self._named.get(id(data)) if isinstance(data, np.ndarray) else None)
            if named is not None:
                return f"{named[1]}.{cls.__name__.lower()}"
            if isinstance(a, Tensor):
                folded = self._folded.get(id(a))
                if folded is not None and folded[0]() is a and folded[1] is not None:
                    return f"{folded[1]}.{cls.__name__.lower()}"
        return None

    def _default_batch_axis(self, graph_args: list[Any], out: Tensor) -> int | None:
        """The batch axis of an op that keeps the layout (elementwise with broadcasting, conv,
        pool, norm): the first graph input's batch axis, right-aligned onto the output."""
        if not self.dynamic:
            return None
        for a in graph_args:
            v = self.value(a)
            if v is None or v.batch_axis is None:
                continue
            b = v.batch_axis + (out.ndim - len(v.shape))
            if 0 <= b < out.ndim and out.shape[b] == v.shape[v.batch_axis]:
                return b
            return None
        return None

    # --- after the forward ----------------------------------------------------------------------
    def output_value(self, out: Any, what: str) -> Value:
        """The graph value of a forward's output, or an ExportError for a constant output."""
        v = self.value(out)
        if v is None:
            raise ExportError(f"export: {what} (a Tensor of shape {tuple(out.shape)}) does not depend on the "
                              "input through juanji ops: the forward computed it with NumPy (or from constants "
                              "only), which the tracer cannot record")
        return v


# --- the public function -----------------------------------------------------------------------
def _require_onnx() -> None:
    try:
        importlib.import_module("onnx")
    except ImportError:  # pragma: no cover - onnx is installed wherever export is used
        raise ImportError("juanji.onnx.export needs the onnx package: pip install onnx") from None


def _check_opset(opset: Any) -> int:
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"export: opset must be an int, got {opset!r}")
    if not MIN_OPSET <= int(opset) <= MAX_OPSET:
        raise ValueError(f"export: opset must be between {MIN_OPSET} and {MAX_OPSET}, got {opset}")
    return int(opset)


def _example_tensor(example_input: Any) -> Tensor:
    if isinstance(example_input, Tensor):
        return example_input.detach()
    if isinstance(example_input, np.ndarray):
        return Tensor._make(example_input)
    raise TypeError(f"export: example_input must be a juanji.Tensor or numpy.ndarray, got "
                    f"{type(example_input).__name__}")


def _refuse_training(model: Module) -> None:
    for name, m in model.named_modules():
        if m.training:
            where = f" (module '{name}' is)" if name else ""
            raise ExportError(f"export: {type(model).__name__} is in training mode{where}; call model.eval() first "
                              "(dropout and batch norm behave differently in training, and the graph is for inference)")


def export(model: Module, example_input: Any, path: str | Path, opset: int = DEFAULT_OPSET, *,
           dynamic_batch: bool = True) -> Path:
    """Write ``model``'s inference graph as an ONNX file, by tracing one forward pass.

    Any Module built from juanji ops exports (see the op table in this module's docstring);
    TextCNN has a dedicated graph that computes its padding mask from the token ids.

    Args:
        model: the Module, in eval mode (``model.eval()``); a model in training mode is refused.
        example_input: a Tensor (or ndarray) of the shape the model takes, batch first: the
            forward is run on it once (under no_grad) to record the ops. Token ids for a
            text model (integer dtype, (N, L)).
        path: the ``.onnx`` file to write (atomically: a crash leaves the old file or none).
        opset: the ONNX opset, 13 to 21 (default 17).
        dynamic_batch: the batch dim of the input and output is the symbol "N", so the file
            runs at any batch size (default); False fixes it at the example's.

    Returns:
        ``path`` as a Path. The graph's input is named ``input`` and its output ``output``
        (``output``, ``output_1``, ... for a model returning a tuple); parameters and buffers
        are initializers under their state_dict names. The model passed
        ``onnx.checker.check_model(full_check=True)`` before it was written.

    Raises:
        ExportError: the model is in training mode; the forward fails on ``example_input``
            (the message names its shape); an op has no ONNX form (the message names the
            Function class and the module it ran in); the output does not depend on the input.

    Example:
        >>> model = juanji.models.lenet5().eval()
        >>> juanji.onnx.export(model, juanji.randn(1, 1, 28, 28), "lenet5.onnx")
        PosixPath('lenet5.onnx')
        >>> import onnxruntime as ort
        >>> ort.InferenceSession("lenet5.onnx").run(None, {"input": x})[0]   # x (N, 1, 28, 28) float32
    """
    if not isinstance(model, Module):
        raise TypeError(f"export: model must be a juanji.nn.Module, got {type(model).__name__}")
    opset = _check_opset(opset)
    x = _example_tensor(example_input)
    if x.ndim == 0:
        raise ExportError("export: example_input must have a batch dim, got a 0-d tensor")
    _refuse_training(model)
    _require_onnx()
    import onnx

    from ._export_graph import GraphBuilder
    from ._export_textcnn import SPECIAL_EXPORTS

    graph = GraphBuilder(opset)
    special = SPECIAL_EXPORTS.get(type(model))
    if special is not None:
        onnx_model = special(model, x, graph, dynamic_batch)
    else:
        onnx_model = _trace_model(model, x, graph, dynamic_batch)
    size = sum(a.nbytes for a in graph.initializers.values())
    if size > _MAX_INITIALIZER_BYTES:
        raise ExportError(f"export: {type(model).__name__} has {size / 2**30:.2f} GiB of weights; an ONNX file "
                          "holds at most 2 GiB (external data files are not supported)")
    data = onnx_model.SerializeToString()  # serialized once: the checker reads these bytes too
    try:
        onnx.checker.check_model(data, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"export: the graph of {type(model).__name__} failed onnx's checker "
                          f"(a bug in juanji's exporter; please report it): {e}") from e
    from ..io import atomic_write

    return atomic_write(path, lambda f: f.write(data))


def _trace_model(model: Module, x: Tensor, graph: "GraphBuilder", dynamic: bool) -> "onnx.ModelProto":
    """Run the forward under the tracer and build the ModelProto from what it recorded."""
    from ._export_ops import CONVERTERS

    tracer = Tracer(model, graph, x, dynamic, CONVERTERS)
    with _tracing(tracer), _module_scopes(model, tracer), no_grad():
        try:
            out = model(x)
        except ExportError:
            raise
        except Exception as e:
            raise ExportError(f"export: {type(model).__name__} cannot run on the example input of shape "
                              f"{tuple(x.shape)} ({x.dtype}): {type(e).__name__}: {e}") from e
    if tracer.errors:
        lines = [f"{op} in module '{scope}': {msg}" for op, msg, scope in tracer.errors]
        raise ExportError(f"export: {type(model).__name__} uses {len(lines)} op(s) with no ONNX form: "
                          + "; ".join(lines))
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    if not outs or not all(isinstance(o, Tensor) for o in outs):
        raise ExportError(f"export: {type(model).__name__}'s forward must return a Tensor or a tuple of Tensors, "
                          f"got {type(out).__name__}")
    outputs = []
    for i, o in enumerate(outs):
        public = "output" if i == 0 else f"output_{i}"
        v = tracer.output_value(o, f"the output '{public}'")
        outputs.append((v.name, public, v.dtype, _shape_spec(v)))
    inputs = [("input", "input", x.dtype, _shape_spec(tracer.input))]
    return graph.make_model(inputs, outputs, type(model).__name__,
                            {"juanji.model": type(model).__name__})


def _shape_spec(v: Value) -> list[Any]:
    """A value's shape for its ValueInfo: the symbol "N" at the batch axis."""
    return ["N" if i == v.batch_axis else int(s) for i, s in enumerate(v.shape)]


@contextlib.contextmanager
def _module_scopes(model: Module, tracer: Tracer) -> Iterator[None]:
    """While the forward runs, each module's forward pushes its name on ``tracer.scopes``, so an op
    is recorded with the innermost module around it (``layer1.0.conv1``; the model's class name
    for ops in its own forward). The wrappers are instance attributes, removed afterwards."""
    wrapped = []
    for name, m in model.named_modules():
        label = name or type(model).__name__
        own = m.__dict__.get("forward")  # an instance-level forward (rare) is put back afterwards
        inner = m.forward

        def forward(*args: Any, _inner: Callable[..., Any] = inner, _label: str = label, **kwargs: Any) -> Any:
            tracer.scopes.append(_label)
            try:
                return _inner(*args, **kwargs)
            finally:
                tracer.scopes.pop()

        object.__setattr__(m, "forward", forward)
        wrapped.append((m, own))
    try:
        yield
    finally:
        for m, own in wrapped:
            if own is None:
                m.__dict__.pop("forward", None)
            else:
                object.__setattr__(m, "forward", own)
