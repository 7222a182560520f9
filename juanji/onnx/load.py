"""Import an ONNX model as a juanji Module that runs the graph with juanji's own ops.

``juanji.onnx.load("resnet18.onnx")`` reads the file with the ``onnx`` package, checks it,
and returns an ``ONNXModel``: a ``juanji.nn.Module`` whose ``forward`` walks the graph's
nodes in order, each one a juanji call, so the imported network is differentiable and
trainable like any juanji model. The file's float initializers become Parameters (and
BatchNormalization's running statistics buffers), registered under the initializer's own
name where it is a valid attribute path, so a PyTorch export keeps ``conv1.weight`` and
``layer1.0.bn1.running_mean`` and its ``state_dict`` matches the source model's by name.

The op table: ONNX op -> juanji (F is juanji.functional; the functions are in _load_ops.py)

    Conv                      F.conv1d / conv2d / conv3d (group, strides, dilations, pads,
                              auto_pad); asymmetric pads: F.pad (zeros), then padding 0
    MaxPool                   F.max_pool1d/2d/3d (strides, dilations, pads, auto_pad,
                              ceil_mode); pads juanji cannot express: F.pad (-inf) + crop
    AveragePool               F.avg_pool1d/2d/3d (count_include_pad, ceil_mode, pads,
                              auto_pad); otherwise F.pad (zeros) and avg(x) / avg(ones)
    LpPool                    F.lp_pool1d/2d on the zero-padded |x| (x itself for p = 2)
    GlobalAveragePool         F.global_avg_pool2d (4-D) or Tensor.mean over the spatial dims
    GlobalMaxPool             F.global_max_pool2d (4-D) or Tensor.max over the spatial dims
    BatchNormalization        F.batch_norm (running statistics; batch statistics in .train())
    LRN                       F.local_response_norm (an even size, which ONNX Runtime
                              refuses, runs on reversed channels: ONNX's window)
    Relu, Sigmoid, Tanh       F.relu, F.sigmoid, F.tanh
    LeakyRelu, Elu, Selu      F.leaky_relu, F.elu, gamma * F.elu
    PRelu                     F.relu(x) - slope * F.relu(-x)
    HardSigmoid, HardSwish    Tensor.clip(alpha x + beta, 0, 1), x * that with (1/6, 1/2)
    Softplus, Gelu            F.softplus, F.gelu (approximate "none" / "tanh")
    Softmax, LogSoftmax       F.softmax, F.log_softmax (before opset 13: on the 2-D view)
    Gemm                      F.linear (transB=1, the Linear layer) or Tensor @, * alpha, + beta C
    MatMul                    Tensor @ (NumPy's matmul broadcasting)
    Add, Sub, Mul, Div, Pow   Tensor operators, broadcasting (NumPy on constants; integer
                              Div truncates toward zero)
    Neg, Abs, Sqrt, Exp, Log, Reciprocal
                              Tensor operators and methods
    Clip                      Tensor.clip
    Sum, Mean, Max, Min       Tensor + ... ; F.stack(...).max(dim=0) for Max / Min
    Flatten, Reshape, Squeeze, Unsqueeze
                              Tensor.reshape (Reshape's 0 copies a dim, -1 is inferred)
    Transpose                 Tensor.permute
    Concat, Split             F.cat, F.split
    Gather                    F.embedding (a 2-D float table along axis 0), else Tensor indexing
    Slice                     Tensor indexing with slices (ONNX's clamping of starts and ends)
    Pad                       F.pad (constant, reflect, edge -> replicate, wrap -> circular)
    ReduceMean, ReduceSum, ReduceMax, ReduceMin
                              Tensor.mean / sum / max over the axes (keepdims)
    Cast                      Tensor.astype between floats; to integers it leaves the tape
    Dropout                   the identity; F.dropout with the graph's ratio in .train()
    Identity                  the identity
    Constant                  a constant array, made at load
    Shape                     the input's shape as an int64 array
    Where, Equal, Less, Greater, LessOrEqual, GreaterOrEqual, Not, And, Or
                              NumPy on the values (no gradient through a comparison);
                              Where on Tensors: a Function in _load_ops.py
    Range                     NumPy's arange (positions, e.g. TextCNN's padding mask; at most
                              2**24 elements)
    Expand                    Tensor.broadcast_to (NumPy's two-way broadcasting)

Shapes computed in the graph (torch's exporter writes ``x.view(x.size(0), -1)`` as Shape ->
Gather -> Unsqueeze -> Concat -> Reshape) run on NumPy arrays, not Tensors: at load when they
depend on constants only (the node is evaluated once and removed), else at forward.

Parameter names. An initializer (or an Identity of one) is registered under its own name
when the name is a dotted path of attribute names, each part a Python identifier or a
number (``layer1.0.bn1.weight``): ``ONNXModel`` gets a child module ``layer1``, which has a
child ``0``, and so on, holding the tensor as ``weight``. Any other name (``onnx::Conv_193``,
``/conv1/Constant_output_0``), a name whose path would pass through another parameter, or one
that would shadow a Module attribute (``forward``, ``training``), becomes a flat name on the
model itself: every character outside [A-Za-z0-9_] replaced by "_", a leading "_" before a
digit, and "_1", "_2", ... appended until it is unique (``onnx__Conv_193``).
``model.initializer_keys`` maps each ONNX name to its state_dict key.

What becomes what:
    float initializer used as an op's data input       Parameter (trained)
    float initializer used only as BatchNormalization's mean / var
                                                       buffer (saved, not trained)
    integer or bool initializer, or one used only as a shape, axes, pads or bound
                                                       constant array (not in the state_dict)
    Constant node                                      constant array
    Identity of an initializer                         a copy under the Identity's output name:
        torch's exporter merges initializers of equal value into one and names the others
        through Identity nodes; giving each name its own tensor again keeps the source
        model's parameters apart (and its state_dict keys) when the import is trained.

Mode. ``load`` returns the model in eval mode: it computes what ONNX Runtime computes.
``model.train()`` switches BatchNormalization to batch statistics (the running ones, held as
buffers, then move by ONNX's momentum) and Dropout to dropping with the graph's ratio, as
PyTorch's layers do, so an imported network can be fine-tuned. The module's mode decides:
Dropout's training_mode input is not read, and a BatchNormalization exported with
training_mode=1 is refused.

What load refuses, each with a ValueError naming the file (nothing is computed first):
    a file that is not a valid ONNX model (undecodable, truncated, failing onnx's checker
    with its full shape inference); an opset of the default domain outside 9..25; every op
    juanji does not run, all listed at once; tensors whose data lives in external files (which
    load would have to open by a name the file chooses) or in segments; sparse tensors;
    element types juanji does not compute in (strings, bfloat16, float8, complex); an
    initializer whose data does not hold exactly the values its shape declares (checked
    before anything is allocated); op attributes juanji cannot honour, all listed at once
    (MaxPool's Indices output, Dropout's mask, AveragePool and LpPool dilations, pool pads
    as wide as the kernel, pads beyond MAX_PAD, auto_pad VALID with ceil_mode, on which the
    ONNX specification and ONNX Runtime disagree).
A graph may have several inputs (forward takes them in order). A graph input that also has
an initializer is that constant (ONNX Runtime would let a caller feed it instead).
"""

from __future__ import annotations

import math
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..nn.module import Module, Parameter
from ..tensor import Tensor
from ._load_ops import OPS, SUPPORTED, Node, NodeError, array, numeric_dtype

try:
    import onnx
    from onnx import numpy_helper
except ImportError:  # onnx is needed only here and by the exporter
    onnx = None  # type: ignore[assignment]

__all__ = ["load", "ONNXModel", "OPSET_RANGE"]

# Opsets of the default ONNX domain whose semantics every op here follows (from 20 on, the ops
# here changed only in the element types they take, and Cast gained a rounding mode for float8
# targets, which juanji refuses). Below 9, BatchNormalization had its ``spatial`` attribute
# and MaxPool no ceil_mode; an op of a later opset may change meaning.
OPSET_RANGE = (9, 25)


# --- reading and checking the file --------------------------------------------------------------
def _fail(path: Path, message: str) -> ValueError:
    return ValueError(f"onnx.load: '{path}' {message}")


def _read(path: Path) -> "onnx.ModelProto":
    """Decode the file without opening anything it names (external data is refused later)."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError, and whatever a mangled file provokes
        raise _fail(path, f"is not a valid ONNX file (truncated or corrupt): {type(e).__name__}: {e}") from e
    if model.ir_version == 0 or not model.HasField("graph"):
        raise _fail(path, "is not a valid ONNX file (truncated or corrupt): it holds no model graph")
    return model


def _all_tensors(model: "onnx.ModelProto") -> list[tuple[str, "onnx.TensorProto"]]:
    """(where, tensor) for every dense tensor the model holds: initializers and node
    attributes, in the main graph, in subgraphs and in local functions. Sparse tensors are
    refused here: no op juanji runs takes one."""
    found: list[tuple[str, onnx.TensorProto]] = []
    sparse: list[str] = []

    def nodes(ns: Sequence["onnx.NodeProto"], where: str) -> None:
        for node in ns:
            for a in node.attribute:
                what = f"attribute '{a.name}' of node '{node.name or node.op_type}' {where}"
                if a.HasField("t"):
                    found.append((what, a.t))
                found.extend((what, t) for t in a.tensors)
                if a.HasField("sparse_tensor") or len(a.sparse_tensors):
                    sparse.append(what)
                if a.HasField("g"):
                    graph(a.g, f"in a subgraph of '{node.name or node.op_type}'")
                for g in a.graphs:
                    graph(g, f"in a subgraph of '{node.name or node.op_type}'")

    def graph(g: "onnx.GraphProto", where: str) -> None:
        found.extend((f"initializer '{t.name}' {where}", t) for t in g.initializer)
        sparse.extend(f"sparse initializer '{t.values.name}' {where}" for t in g.sparse_initializer)
        nodes(g.node, where)

    graph(model.graph, "of the graph")
    for f in model.functions:
        nodes(f.node, f"of function '{f.name}'")
    if sparse:
        raise ValueError(f"holds sparse tensors ({', '.join(sparse)}), which juanji does not read")
    return found


def _check_tensors(model: "onnx.ModelProto", path: Path) -> None:
    """Every tensor holds its data in the file, exactly as many values as its dims declare.

    Runs before onnx's checker and before anything is allocated: a tensor declaring 10**12
    values with no data behind them is refused by counting.
    """
    try:
        tensors = _all_tensors(model)
    except ValueError as e:
        raise _fail(path, str(e)) from None
    for where, t in tensors:
        if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data):
            raise _fail(path, f"keeps the data of {where} in an external file; juanji reads only "
                              "self-contained .onnx files (save with onnx.save_model(..., "
                              "save_as_external_data=False))")
        if t.HasField("segment"):
            raise _fail(path, f"splits {where} into segments, which juanji does not read")
        _check_size(t, where, path)


def _opset(model: "onnx.ModelProto", path: Path) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise _fail(path, "imports no opset of the default ONNX domain")
    lo, hi = OPSET_RANGE
    if not lo <= versions[0] <= hi:
        raise _fail(path, f"uses opset {versions[0]}; juanji reads opsets {lo} to {hi} "
                          "(convert it with onnx.version_converter.convert_version)")
    return versions[0]


def _refuse_unsupported(model: "onnx.ModelProto", path: Path) -> None:
    """List every op type juanji does not run, with how often each occurs, at once."""
    missing: dict[str, int] = {}
    for node in model.graph.node:
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        if key not in SUPPORTED:
            missing[key] = missing.get(key, 0) + 1
    if missing:
        listed = ", ".join(f"{op} (x{count})" for op, count in sorted(missing.items()))
        raise _fail(path, f"uses ops juanji does not support: {listed}")


def _check(model: "onnx.ModelProto", path: Path) -> None:
    """onnx's checker, with its full check: strict shape inference over the graph, which finds
    inconsistent shapes and types before anything runs."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # ValidationError, InferenceError
        raise _fail(path, f"is not a valid ONNX model: {type(e).__name__}: {e}") from e


def _check_size(t: "onnx.TensorProto", where: str, path: Path) -> np.dtype:
    """The tensor's dtype, after checking that its data holds exactly the values its dims declare."""
    try:
        dtype = numeric_dtype(t.data_type, f"{where} has element type")
    except NodeError as e:
        raise _fail(path, str(e)) from None
    dims = list(t.dims)
    if any(d < 0 for d in dims):
        raise _fail(path, f"declares negative dims {dims} for {where}")
    count = math.prod(dims)
    if t.raw_data:
        held = len(t.raw_data) // dtype.itemsize
        exact = len(t.raw_data) % dtype.itemsize == 0
    else:
        field = onnx.helper.tensor_dtype_to_field(t.data_type)
        held, exact = len(getattr(t, field)), True
    if held != count or not exact:
        holds = f"{len(t.raw_data)} bytes ({dtype.itemsize} per value)" if t.raw_data else f"{held} values"
        raise _fail(path, f"declares {count} values (dims {dims}) for {where} but its data holds {holds}")
    return dtype


def _tensor_array(t: "onnx.TensorProto", where: str, path: Path) -> np.ndarray:
    """A TensorProto's values as a new (writable, owned) NumPy array, its size checked first."""
    dtype = _check_size(t, where, path)
    return np.array(numpy_helper.to_array(t), dtype=dtype, copy=True)


def _attributes(node: "onnx.NodeProto", where: str, path: Path) -> dict[str, Any]:
    """Attribute values as Python values: ints, floats, str, lists of them, arrays."""
    out: dict[str, Any] = {}
    for a in node.attribute:
        if a.type == onnx.AttributeProto.TENSOR:
            out[a.name] = _tensor_array(a.t, f"attribute '{a.name}' of {where}", path)
        elif a.type in (onnx.AttributeProto.STRING, onnx.AttributeProto.STRINGS):
            v = onnx.helper.get_attribute_value(a)
            out[a.name] = v.decode("utf-8", "replace") if isinstance(v, bytes) else \
                [s.decode("utf-8", "replace") for s in v]
        elif a.type in (onnx.AttributeProto.INT, onnx.AttributeProto.FLOAT,
                        onnx.AttributeProto.INTS, onnx.AttributeProto.FLOATS):
            v = onnx.helper.get_attribute_value(a)
            out[a.name] = list(v) if isinstance(v, (list, tuple)) or not np.isscalar(v) else v
        else:  # graphs, sparse tensors, type protos: no supported op takes them
            out[a.name] = a
    return out


def _constant_value(n: Node, path: Path) -> np.ndarray:
    """The array a Constant node holds (``value`` or one of the typed forms of opset 12)."""
    forms = {"value": None, "value_float": np.float32, "value_floats": np.float32,
             "value_int": np.int64, "value_ints": np.int64}
    given = [k for k in n.attrs if k in forms or k in ("sparse_value", "value_string", "value_strings")]
    if len(given) != 1 or given[0] not in forms:
        raise _fail(path, f"{n.label}: a Constant must hold a dense numeric value "
                          f"(value, value_float(s) or value_int(s)), got {given}")
    key = given[0]
    v = n.attrs[key]
    return v if key == "value" else np.array(v, dtype=forms[key])


def _fold_size(n: Node, xs: list[np.ndarray | None]) -> int:
    """An upper bound on the number of values evaluating node ``n`` on ``xs`` creates. Only
    broadcasting and Gather make more than their inputs hold; the other array ops rearrange."""
    arrays = [x for x in xs if x is not None]
    if n.op == "Gather" and len(arrays) == 2:
        data, idx = arrays
        axis = int(n.attr("axis", 0)) % max(data.ndim, 1)
        return idx.size * (data.size // data.shape[axis] if data.ndim and data.shape[axis] else 1)
    try:
        return max(math.prod(np.broadcast_shapes(*(x.shape for x in arrays))), sum(x.size for x in arrays))
    except ValueError:  # shapes that do not broadcast: the op itself reports it
        return sum(x.size for x in arrays)


def _with_node(e: Exception, message: str) -> Exception:
    """The same kind of error with the node named (a NodeError becomes a plain ValueError)."""
    kind = ValueError if isinstance(e, NodeError) else type(e)
    try:
        return kind(message)
    except Exception:  # an exception class whose constructor wants more than a message
        return ValueError(message)


# --- names ------------------------------------------------------------------------------------
_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")


class _Scope(Module):
    """A node of the name tree (``layer1``, ``layer1.0``): it holds Parameters and buffers
    under the names an exporter gave them; the graph runs in the ONNXModel at the root."""

    def forward(self, *args: Any) -> Any:
        raise TypeError("ONNXModel: this submodule only holds parameters of the imported graph; "
                        "call the model it belongs to")

    def extra_repr(self) -> str:
        return "\n".join(f"{k}: {tuple(v.shape)}" for k, v in
                         list(self._parameters.items()) + list(self._buffers.items()))


def _state_keys(names: Sequence[str], reserved: frozenset[str]) -> dict[str, str]:
    """Each ONNX name -> its dotted state_dict key, by the scheme in the module docstring."""
    paths: dict[str, tuple[str, ...]] = {}
    for name in names:
        parts = tuple(name.split("."))
        if all(_PART.fullmatch(p) and p not in reserved for p in parts):
            paths[name] = parts
    # A path that another one passes through (``a`` beside ``a.b``) cannot be both a tensor
    # and a module: it is flattened instead.
    prefixes = {p[:i] for p in paths.values() for i in range(1, len(p))}
    keys = {name: ".".join(p) for name, p in paths.items() if p not in prefixes}
    taken = {k.split(".")[0] for k in keys.values()} | set(keys.values())
    for name in names:
        if name in keys:
            continue
        base = re.sub(r"[^A-Za-z0-9_]", "_", name) or "_"
        if base[0].isdigit() and not base.isdigit():
            base = "_" + base
        key, i = base, 0
        while key in taken or key in reserved:
            i += 1
            key = f"{base}_{i}"
        taken.add(key)
        keys[name] = key
    return keys


# --- the module -------------------------------------------------------------------------------
@dataclass
class _Input:
    name: str
    kind: str                           # "f" float, "i" integer, "b" bool (NumPy dtype kinds)
    dtype: np.dtype
    dims: tuple[int | str | None, ...] | None   # None: shape not declared; a str: a named dim


@dataclass
class _Step:
    node: Node
    fn: Any
    static: tuple[int, ...]
    frees: tuple[str, ...] = ()         # values no later step reads: dropped after this one


class ONNXModel(Module):
    """A juanji Module running an imported ONNX graph; made by ``juanji.onnx.load``.

    Its Parameters and buffers are the graph's initializers (see ``initializer_keys``), its
    ``forward`` the graph's nodes as juanji calls. Attributes describing the import:
    ``path`` (the file), ``opset``, ``input_names``, ``output_names``, ``initializer_keys``
    (ONNX initializer name -> state_dict key).
    """

    def __init__(self, model: "onnx.ModelProto", path: Path, opset: int) -> None:
        super().__init__()
        self.path = str(path)
        self.opset = opset
        g = model.graph
        where = "of the graph"
        inits: dict[str, np.ndarray] = OrderedDict(
            (t.name, _tensor_array(t, f"initializer '{t.name}' {where}", path)) for t in g.initializer)
        self.input_names = [i.name for i in g.input if i.name not in inits]
        self.output_names = [o.name for o in g.output]
        self._inputs = [self._input_spec(i, path) for i in g.input if i.name not in inits]

        nodes = [self._node(k, node, opset, path) for k, node in enumerate(g.node)]
        self._check_nodes(nodes, path)
        constants: dict[str, np.ndarray] = {}
        kept: list[Node] = []
        for n in nodes:
            if n.op == "Constant":
                constants[n.outputs[0]] = _constant_value(n, path)
            elif n.op == "Identity" and n.inputs[0] in inits:
                inits[n.outputs[0]] = inits[n.inputs[0]].copy()   # see "Identity of an initializer"
            else:
                kept.append(n)

        kinds = self._classify(kept, inits)
        for name, kind in kinds.items():
            if kind == "constant":
                constants[name] = inits[name]
        self._steps = self._fold(kept, constants, path)
        self._register(inits, kinds)
        for s in self._steps:
            if s.node.op == "BatchNormalization":
                s.node.extra["stats_are_buffers"] = all(
                    kinds.get(v) == "buffer" for v in s.node.inputs[3:5])
        self._constants = constants
        self._plan_frees()
        self.eval()

    # --- building -------------------------------------------------------------------------
    @staticmethod
    def _input_spec(vi: "onnx.ValueInfoProto", path: Path) -> _Input:
        if not vi.type.HasField("tensor_type"):
            raise _fail(path, f"input '{vi.name}' is not a tensor (sequences, maps and optionals "
                              "are not supported)")
        tt = vi.type.tensor_type
        try:
            dtype = numeric_dtype(tt.elem_type, f"input '{vi.name}' has element type")
        except NodeError as e:
            raise _fail(path, str(e)) from None
        dims = None
        if tt.HasField("shape"):
            dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                         for d in tt.shape.dim)
        return _Input(vi.name, "f" if dtype.kind == "f" else ("b" if dtype.kind == "b" else "i"), dtype, dims)

    @staticmethod
    def _node(k: int, node: "onnx.NodeProto", opset: int, path: Path) -> Node:
        label = f"node {k} '{node.name}' ({node.op_type})" if node.name else f"node {k} ({node.op_type})"
        return Node(op=node.op_type, label=label,
                    inputs=tuple(i or None for i in node.input), outputs=tuple(node.output),
                    attrs=_attributes(node, label, path), opset=opset)

    @staticmethod
    def _check_nodes(nodes: list[Node], path: Path) -> None:
        """Every op's attribute checks; all problems reported together."""
        problems = []
        for n in nodes:
            spec = OPS.get(n.op)
            if spec is not None and spec.check is not None:
                try:
                    spec.check(n)
                except NodeError as e:
                    problems.append(f"{n.label}: {e}")
        if problems:
            raise _fail(path, "has nodes juanji cannot run as written:\n  " + "\n  ".join(problems))

    def _classify(self, nodes: list[Node], inits: dict[str, np.ndarray]) -> dict[str, str]:
        """Each initializer -> "parameter", "buffer" or "constant" (see the module docstring)."""
        uses: dict[str, set[str]] = {name: set() for name in inits}
        for n in nodes:
            spec = OPS[n.op]
            for i, name in enumerate(n.inputs):
                if name in uses:
                    uses[name].add("static" if i in spec.static else "stat" if i in spec.stats else "data")
        for name in self.output_names:
            if name in uses:
                uses[name].add("data")
        kinds = {}
        for name, arr in inits.items():
            u = uses[name]
            if arr.dtype.kind != "f":
                kinds[name] = "constant"
            elif "data" in u or not u:
                kinds[name] = "parameter"
            elif "stat" in u:
                kinds[name] = "buffer"
            else:
                kinds[name] = "constant"
        return kinds

    @staticmethod
    def _fold(nodes: list[Node], constants: dict[str, np.ndarray], path: Path) -> list[_Step]:
        """Evaluate, once, every array op whose inputs are all constants; keep the rest as steps.

        A fold that would create much more than its inputs hold (a broadcast of two long
        vectors into a matrix, a gather repeating rows) is left to forward, so that loading
        allocates no more than a small multiple of what the file holds.
        """
        steps = []
        for n in nodes:
            spec = OPS[n.op]
            xs = [None if i is None else constants.get(i) for i in n.inputs]
            if spec.arrays and all(i is None or i in constants for i in n.inputs) \
                    and _fold_size(n, xs) <= 2 * sum(x.size for x in xs if x is not None) + 4096:
                try:
                    out = spec.fn(n, xs, False)
                except (ValueError, TypeError, IndexError) as e:
                    raise _fail(path, f"{n.label}: {e}") from e
                for name, v in zip(n.outputs, out if isinstance(out, list) else [out]):
                    if name:
                        constants[name] = np.asarray(v)
                continue
            steps.append(_Step(n, spec.fn, spec.static))
        return steps

    def _register(self, inits: dict[str, np.ndarray], kinds: dict[str, str]) -> None:
        """Parameters and buffers on the module tree, under the names _state_keys gives."""
        held = [name for name in inits if kinds[name] != "constant"]
        keys = _state_keys(held, _RESERVED)
        self.initializer_keys = dict((name, keys[name]) for name in held)
        self._sources: dict[str, tuple[Module, str]] = {}
        for name in held:
            *scopes, leaf = keys[name].split(".")
            owner: Module = self
            for s in scopes:
                if s not in owner._modules:
                    owner.add_module(s, _Scope())
                owner = owner._modules[s]
            if kinds[name] == "parameter":
                owner.register_parameter(leaf, Parameter(inits[name]))
            else:
                owner.register_buffer(leaf, Tensor(inits[name]))
            self._sources[name] = (owner, leaf)

    def _plan_frees(self) -> None:
        """After each step, drop the values no later step (and no output) reads, so forward
        holds only live activations, as a hand-written model does."""
        last: dict[str, int] = {}
        for k, s in enumerate(self._steps):
            for name in s.node.inputs:
                if name is not None:
                    last[name] = k
        outputs = set(self.output_names)
        frees: dict[int, list[str]] = {}
        for name, k in last.items():
            if name not in outputs:
                frees.setdefault(k, []).append(name)
        for k, s in enumerate(self._steps):
            s.frees = tuple(frees.get(k, ()))

    # --- running --------------------------------------------------------------------------
    def _bind(self, spec: _Input, x: Any) -> Tensor:
        t = x if isinstance(x, Tensor) else Tensor(x)
        kind = t.dtype.kind
        if (spec.kind == "f") != (kind == "f") or (spec.kind == "b") != (kind == "b"):
            raise TypeError(f"ONNXModel('{self.path}'): input '{spec.name}' has dtype {t.dtype} but the "
                            f"graph declares {spec.dtype}")
        if spec.dims is not None:
            ok = len(spec.dims) == t.ndim and all(
                not isinstance(d, int) or d == s for d, s in zip(spec.dims, t.shape))
            if not ok:
                shown = "(" + ", ".join(str(d) if d is not None else "?" for d in spec.dims) + \
                        ("," if len(spec.dims) == 1 else "") + ")"
                raise ValueError(f"ONNXModel('{self.path}'): input '{spec.name}' has shape "
                                 f"{tuple(t.shape)} but the graph expects {shown}")
        return t

    def _named_dims(self, bound: list[tuple[_Input, Tensor]]) -> None:
        """A dim named in several places (``batch`` in two inputs) must agree across them."""
        seen: dict[str, tuple[int, str]] = {}
        for spec, t in bound:
            for d, s in zip(spec.dims or (), t.shape):
                if isinstance(d, str):
                    if d in seen and seen[d][0] != s:
                        raise ValueError(f"ONNXModel('{self.path}'): dim '{d}' is {seen[d][0]} in input "
                                         f"'{seen[d][1]}' but {s} in input '{spec.name}'")
                    seen.setdefault(d, (s, spec.name))

    def forward(self, *inputs: Any) -> Tensor | tuple[Tensor, ...]:
        """Run the graph.

        Args:
            *inputs: one per graph input, in the graph's order (``input_names``): juanji
                Tensors, NumPy arrays or nested lists, NCHW float (or integer ids for an
                embedding), of the shapes the graph declares (named dims are free).

        Returns:
            The graph's output as a Tensor, or a tuple of Tensors when it has several.

        Raises:
            ValueError / TypeError: a wrong number of inputs, or an input of the wrong shape or
                dtype (naming the shape the graph declares); an op that fails names its node.
        """
        if len(inputs) != len(self._inputs):
            raise TypeError(f"ONNXModel('{self.path}'): the graph takes {len(self._inputs)} input(s) "
                            f"{self.input_names}, got {len(inputs)}")
        bound = [(spec, self._bind(spec, x)) for spec, x in zip(self._inputs, inputs)]
        self._named_dims(bound)
        env: dict[str, Any] = dict(self._constants)
        for name, (owner, leaf) in self._sources.items():
            env[name] = owner._parameters[leaf] if leaf in owner._parameters else owner._buffers[leaf]
        env.update((spec.name, t) for spec, t in bound)
        training = self.training
        for s in self._steps:
            n = s.node
            xs = [None if i is None else env[i] for i in n.inputs]
            for i in s.static:
                if i < len(xs) and xs[i] is not None:
                    xs[i] = array(xs[i])
            try:
                out = s.fn(n, xs, training)
            except (ValueError, TypeError, IndexError) as e:
                raise _with_node(e, f"ONNXModel('{self.path}'): {n.label}: {e}") from e
            for name, v in zip(n.outputs, out if isinstance(out, list) else [out]):
                if name:
                    env[name] = v
            for name in s.frees:
                env.pop(name, None)
        outs = tuple(v if isinstance(v, Tensor) else Tensor._make(np.array(v))
                     for v in (env[name] for name in self.output_names))
        return outs[0] if len(outs) == 1 else outs

    def extra_repr(self) -> str:
        head = (f"path='{self.path}', opset={self.opset}, nodes={len(self._steps)}, "
                f"inputs={self.input_names}, outputs={self.output_names}")
        return "\n".join([head] + [f"{k}: {tuple(v.shape)}" for k, v in
                                   list(self._parameters.items()) + list(self._buffers.items())])


# Names an initializer may not take as a module attribute: everything a Module (and this
# class) already has, methods and the attributes set in __init__.
_RESERVED = frozenset(dir(ONNXModel)) | {
    "training", "_parameters", "_buffers", "_non_persistent", "_modules", "_forward_hooks",
    "path", "opset", "input_names", "output_names", "initializer_keys", "_inputs", "_steps",
    "_constants", "_sources"}


def load(path: str | os.PathLike[str]) -> ONNXModel:
    """Import an ONNX model as a juanji Module that runs the graph with juanji ops.

    The file is decoded with ``onnx`` (never opening a file it names), checked (onnx's
    checker with full shape inference, the opset, every op type and attribute, every
    tensor's size against its data), and turned into an ``ONNXModel`` in eval mode: float
    initializers become Parameters, BatchNormalization's running statistics buffers, under
    the initializers' names where they are attribute paths (see this module's docstring).

    Args:
        path: an .onnx file holding its own weights (no external data).

    Returns:
        ONNXModel: call it with the graph's input(s); ``.train()`` switches BatchNormalization
        to batch statistics and Dropout on; ``initializer_keys`` maps ONNX names to
        state_dict keys.

    Raises:
        FileNotFoundError: no such file.
        ImportError: the ``onnx`` package is not installed.
        ValueError: the file is corrupt or truncated, uses an opset outside ``OPSET_RANGE``,
            ops juanji does not support (all listed), external data, or tensors whose data
            does not match their declared shape; the message names the file.

    Example:
        >>> model = juanji.onnx.load("resnet18.onnx")
        >>> logits = model(juanji.randn(1, 3, 224, 224))       # (1, 1000)
        >>> logits.sum().backward()                            # gradients on model.parameters()
    """
    if onnx is None:
        raise ImportError("juanji.onnx.load needs the onnx package: pip install onnx")
    p = Path(os.fspath(path))
    if not p.is_file():
        raise FileNotFoundError(f"onnx.load: no such file: '{p}'")
    model = _read(p)
    _check_tensors(model, p)
    opset = _opset(model, p)
    _refuse_unsupported(model, p)
    _check(model, p)
    return ONNXModel(model, p, opset)
