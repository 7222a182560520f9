"""The ONNX graph under construction: nodes, initializers and the opset-dependent spellings.

``GraphBuilder`` is what the op converters (``_export_ops.py``) and the TextCNN graph
(``_export_textcnn.py``) write into. It only ever builds protobuf through the ``onnx``
package's helpers (``helper.make_node``, ``helper.make_graph``, ``helper.make_model``,
``numpy_helper.from_array``).

Some ops changed their signature between the opsets export supports (13 to 21): the axes
of ReduceMean/ReduceMax/ReduceMin/ReduceProd moved from an attribute to an input in opset 18
(ReduceSum's moved in 13), so ``reduce`` spells them for the opset at hand; Squeeze and
Unsqueeze take their axes as an input from 13 on, which every supported opset shares.
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["GraphBuilder", "onnx_dtype", "INT64_MAX", "INT64_MIN"]

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

# Anonymous constants up to this many elements that are equal (dtype, shape, bytes) share
# one initializer: every ``x * 0.5`` would otherwise add its own copy of 0.5.
_DEDUPE_MAX_ELEMS = 64


def onnx_dtype(dtype: Any) -> int:
    """The TensorProto element type of a NumPy dtype (float32 -> TensorProto.FLOAT)."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class GraphBuilder:
    """Nodes and initializers of one graph, in execution order (so already topologically sorted).

    Args:
        opset: the default-domain opset the graph is written for.

    Every ``op`` call appends one node and returns the name of its (single) output, a
    placeholder renamed at ``make_model`` after the node's name (``layer1.0.conv1/Conv``),
    so Netron shows where each value comes from.
    """

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.scope = ""  # prefix of the names of the nodes added next ("convs.0")
        self._counter = itertools.count()
        self._small_consts: dict[tuple[str, tuple[int, ...], bytes], str] = {}
        self._const_count = itertools.count()

    # --- names and constants ----------------------------------------------------------------
    def fresh(self) -> str:
        """A new placeholder value name (renamed in ``make_model``)."""
        return f"%{next(self._counter)}"

    def initializer(self, name: str, array: np.ndarray) -> str:
        """Add ``array`` as the initializer ``name`` (a state_dict name); returns the name.

        The same name given the same array again returns it unchanged; a different array
        under a taken name gets a ``_1``, ``_2``... suffix.
        """
        base, k = name, 0
        while name in self.initializers:
            if self.initializers[name] is array:
                return name
            k += 1
            name = f"{base}_{k}"
        self.initializers[name] = array
        return name

    def constant(self, value: Any, dtype: Any = None) -> str:
        """An anonymous initializer holding ``value`` (an array or Python number) as ``dtype``."""
        arr = np.asarray(value, dtype=dtype)
        if arr.size <= _DEDUPE_MAX_ELEMS:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            if key not in self._small_consts:
                self._small_consts[key] = self.initializer(f"const_{next(self._const_count)}", arr)
            return self._small_consts[key]
        return self.initializer(f"const_{next(self._const_count)}", arr)

    def ints(self, values: Sequence[int]) -> str:
        """A 1-D int64 constant: shapes, axes, pads, slice bounds, indices."""
        return self.constant(np.asarray(list(values), dtype=np.int64).reshape(len(values)))

    # --- nodes ---------------------------------------------------------------------------------
    def op(self, op_type: str, inputs: Sequence[str], n_out: int = 1, **attrs: Any) -> Any:
        """Append one node; returns its output name (a list of names when ``n_out`` > 1).

        An empty string in ``inputs`` is an omitted optional input (Clip without a min).
        Attributes whose value is None are left out.
        """
        outputs = [self.fresh() for _ in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        node = helper.make_node(op_type, list(inputs), outputs, **attrs)
        if self.scope:
            node.name = f"{self.scope}/{op_type}"
        self.nodes.append(node)
        return outputs[0] if n_out == 1 else outputs

    # --- opset-dependent spellings ----------------------------------------------------------------
    def reduce(self, op_type: str, x: str, axes: Sequence[int] | None, keepdims: bool) -> str:
        """ReduceSum/Mean/Max/Min over ``axes`` (None: every axis), for this opset.

        ReduceSum takes its axes as an input from opset 13, the others from opset 18
        (before that, an attribute).
        """
        keep = int(bool(keepdims))
        if axes is None:
            return self.op(op_type, [x], keepdims=keep)
        axes = [int(a) for a in axes]
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes)], keepdims=keep)
        return self.op(op_type, [x], axes=axes, keepdims=keep)

    def unsqueeze(self, x: str, axes: Sequence[int]) -> str:
        return self.op("Unsqueeze", [x, self.ints(axes)])

    def squeeze(self, x: str, axes: Sequence[int]) -> str:
        return self.op("Squeeze", [x, self.ints(axes)])

    def dim(self, x: str, axis: int) -> str:
        """Size of ``axis`` of ``x`` at run time, as a 1-element int64 tensor (Shape + Gather)."""
        return self.op("Gather", [self.op("Shape", [x]), self.ints([axis])], axis=0)

    # --- the model ------------------------------------------------------------------------------
    def make_model(self, inputs: Sequence[tuple[str, str, Any, Sequence[Any]]],
                   outputs: Sequence[tuple[str, str, Any, Sequence[Any]]],
                   graph_name: str, props: dict[str, str]) -> onnx.ModelProto:
        """The ModelProto: ``inputs``/``outputs`` are (value name, public name, dtype, shape)
        with a str (a dim_param, "N") for a dynamic dim; values are renamed after their nodes.

        The IR version is the lowest that carries the opset, so older runtimes open the file.
        """
        rename = self._readable_names(inputs, outputs)
        for node in self.nodes:
            node.input[:] = [rename.get(v, v) for v in node.input]
            node.output[:] = [rename.get(v, v) for v in node.output]
        nodes = list(self.nodes)
        used: set[str] = set()
        out_infos = []
        for value, public, dtype, shape in outputs:
            value = rename.get(value, value)
            if value != public:  # the graph input or another output's value: an Identity names it
                nodes.append(helper.make_node("Identity", [value], [public], name=f"{public}/Identity"))
            used.add(public)
            out_infos.append(helper.make_tensor_value_info(public, onnx_dtype(dtype), list(shape)))
        in_infos = [helper.make_tensor_value_info(public, onnx_dtype(dtype), list(shape))
                    for _, public, dtype, shape in inputs]
        referenced = {v for n in nodes for v in n.input}
        # (np.ascontiguousarray would turn a 0-d constant into shape (1,).)
        inits = [numpy_helper.from_array(a if a.flags.c_contiguous else a.copy(order="C"), name)
                 for name, a in self.initializers.items() if name in referenced]
        graph = helper.make_graph(nodes, graph_name, in_infos, out_infos, initializer=inits)
        opsets = [helper.make_opsetid("", self.opset)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="juanji")
        model.ir_version = helper.find_min_ir_version_for(opsets)
        helper.set_model_props(model, props)
        return model

    def _readable_names(self, inputs: Sequence[tuple[str, str, Any, Any]],
                        outputs: Sequence[tuple[str, str, Any, Any]]) -> dict[str, str]:
        """Placeholder value name -> final name: the graph's inputs and outputs get their public
        names, every other value its node's (unique) name; nodes get unique names too."""
        rename = {value: public for value, public, _, _ in inputs}
        for value, public, _, _ in outputs:
            if value not in rename:  # two outputs of one value: the first keeps it, Identity the rest
                rename[value] = public
        taken: set[str] = set(rename.values()) | set(self.initializers)
        for node in self.nodes:
            base = node.name or node.op_type
            name, k = base, 0
            while name in taken:
                k += 1
                name = f"{base}_{k}"
            taken.add(name)
            node.name = name
            for i, v in enumerate(node.output):
                if v not in rename:
                    rename[v] = name if len(node.output) == 1 else f"{name}:{i}"
        return rename
