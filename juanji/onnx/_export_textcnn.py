"""TextCNN's own ONNX graph: the padding mask computed from the token ids inside the graph.

TextCNN (juanji/models/textcnn.py) takes the max over time only over the windows that start
before a sentence's padding, with a mask it builds in NumPy from the ids: a tracer would
record that mask as a constant of the example's shape. Here the whole forward is written in
ONNX ops, so the file takes token ids of any batch size N and any length L:

    ids (N, L) int64
    len       = ReduceMax(Cast(ids != pad) * [1 .. L], axis 1)     (N,): 1 + last non-padding position
    ids'      = Pad(ids, end of axis 1 by max(max h - L, 0), pad)  (N, L'), L' = max(L, max h)
    x         = Gather(embedding.weight, ids')                     (N, L', E), Unsqueeze -> (N, 1, L', E)
                (multichannel: Concat with Gather(embedding_static.weight, ids') -> (N, 2, L', E))
    per height h:
      y       = Relu(Squeeze(Conv(x, convs.i.weight (F, C, h, E), convs.i.bias), 3))   (N, F, T), T = L' - h + 1
      valid   = [0 .. T-1] <= max(len, h) - h                      (N, T): window t starts inside the sentence
      feature = ReduceMax(Where(valid, y, -inf), axis 2)           (N, F)
    output    = Gemm(Concat(features), fc.weight, fc.bias, transB=1)   (N, K); dropout is the identity

The Conv2d over (h, E) is juanji's conv1d over C*E channels (the model's docstring), so the
parameters are used as they are stored, under their state_dict names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..autograd import no_grad
from ..models.textcnn import TextCNN
from ..tensor import Tensor

if TYPE_CHECKING:
    import onnx

    from ._export_graph import GraphBuilder

__all__ = ["SPECIAL_EXPORTS"]


def _export_textcnn(model: TextCNN, ids: Tensor, g: "GraphBuilder", dynamic: bool) -> "onnx.ModelProto":
    """The graph above for ``model``; ``ids`` (N, L) is run through the model first, so a bad
    example fails here with the model's own message."""
    from ._export_graph import onnx_dtype
    from .export import ExportError

    if ids.dtype.kind not in "iu" or ids.ndim != 2:
        raise ExportError(f"export: TextCNN takes token ids of shape (N, L) and an integer dtype; the example "
                          f"input has shape {tuple(ids.shape)} and dtype {ids.dtype}")
    try:
        with no_grad():
            model(Tensor._make(ids.data.astype(np.int64)))
    except Exception as e:
        raise ExportError(f"export: TextCNN cannot run on the example input of shape {tuple(ids.shape)} "
                          f"({ids.dtype}): {type(e).__name__}: {e}") from e
    dt = model.fc.weight.dtype
    pad = model.padding_idx
    hmax = max(model.filter_sizes)

    def ints(v: int) -> str:
        return g.constant(np.array(v, dtype=np.int64))

    g.scope = "lengths"
    # len = max over positions of nonpad * (position + 1); 0 for an all-padding row.
    nonpad = g.op("Cast", [g.op("Not", [g.op("Equal", ["input", ints(pad)])])], to=onnx_dtype(np.int64))
    length = g.squeeze(g.dim("input", 1), [0])                                         # L, a scalar
    positions = g.op("Range", [ints(1), g.op("Add", [length, ints(1)]), ints(1)])       # (L,) 1..L
    lengths = g.reduce("ReduceMax", g.op("Mul", [nonpad, positions]), [1], keepdims=False)  # (N,)
    g.scope = "pad"
    extra = g.op("Max", [g.op("Sub", [ints(hmax), length]), ints(0)])                  # max(hmax - L, 0)
    pads = g.op("Concat", [g.ints([0, 0, 0]), g.unsqueeze(extra, [0])], axis=0)        # (4,)
    padded = g.op("Pad", ["input", pads, ints(pad)], mode="constant")                   # (N, L')
    g.scope = "embedding"
    x = g.unsqueeze(g.op("Gather", [g.initializer("embedding.weight", model.embedding.weight.data), padded],
                         axis=0), [1])                                                 # (N, 1, L', E)
    if model.variant == "multichannel":
        g.scope = "embedding_static"
        static = g.op("Gather", [g.initializer("embedding_static.weight", model.embedding_static.weight.data),
                                 padded], axis=0)
        g.scope = "embedding"
        x = g.op("Concat", [x, g.unsqueeze(static, [1])], axis=1)                       # (N, 2, L', E)
    features = []
    for i, (h, conv) in enumerate(zip(model.filter_sizes, model.convs)):
        g.scope = f"convs.{i}"
        w = g.initializer(f"convs.{i}.weight", conv.weight.data)                        # (F, C, h, E)
        b = g.initializer(f"convs.{i}.bias", conv.bias.data)
        y = g.op("Conv", [x, w, b], kernel_shape=list(conv.weight.shape[2:]), strides=[1, 1],
                 pads=[0, 0, 0, 0], dilations=[1, 1], group=1)                           # (N, F, T, 1)
        y = g.op("Relu", [g.squeeze(y, [3])])                                          # (N, F, T)
        windows = g.op("Range", [ints(0), g.squeeze(g.dim(y, 2), [0]), ints(1)])       # (T,)
        last = g.op("Sub", [g.op("Max", [lengths, ints(h)]), ints(h)])                  # (N,)
        valid = g.op("LessOrEqual", [g.unsqueeze(windows, [0]), g.unsqueeze(last, [1])])  # (N, T)
        masked = g.op("Where", [g.unsqueeze(valid, [1]), y, g.constant(-np.inf, dt)])   # (N, F, T)
        features.append(g.reduce("ReduceMax", masked, [2], keepdims=False))            # (N, F)
    g.scope = "fc"
    z = features[0] if len(features) == 1 else g.op("Concat", features, axis=1)        # (N, F * #h)
    out = g.op("Gemm", [z, g.initializer("fc.weight", model.fc.weight.data),
                        g.initializer("fc.bias", model.fc.bias.data)], transB=1)       # (N, K)
    g.scope = ""
    n = "N" if dynamic else int(ids.shape[0])
    length_dim = "L" if dynamic else int(ids.shape[1])
    return g.make_model([("input", "input", np.int64, [n, length_dim])],
                        [(out, "output", dt, [n, int(model.fc.weight.shape[0])])],
                        "TextCNN", {"juanji.model": "TextCNN", "juanji.textcnn.variant": model.variant})


# Models whose forward computes on the input with NumPy, which tracing cannot follow: each has
# a graph written by hand, keyed by its class (exact type).
SPECIAL_EXPORTS: dict[type, Callable[[Any, Tensor, "GraphBuilder", bool], "onnx.ModelProto"]] = {
    TextCNN: _export_textcnn,
}
