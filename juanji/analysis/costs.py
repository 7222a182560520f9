"""Per-layer cost rules: multiply-adds, memory kept for backward, and backward workspace.

Every rule takes one recorded module call (its input and output arrays at the probe
batch) and returns a count for ONE sample; ``summary`` multiplies by the batch size.

Multiply-adds (MACs), the convention of Keras-style summaries and of published model
costs (VGG-16 15.5 G, ResNet-50 4.1 G):

=====================================  ==============================================
Conv1d / Conv2d / Conv3d               out elements x (C_in / groups) x prod(kernel);
                                       the bias add is not a multiply-add
Linear                                 out elements x in_features (bias not counted)
every other juanji.nn layer            0: activations, pooling, dropout, reshapes and
                                       Embedding (a lookup) multiply nothing by weights;
                                       BatchNorm folds into the preceding convolution at
                                       inference; LRN's sum of squares is not counted
a non-juanji module with parameters    unknown (None): its forward is not known here
=====================================  ==============================================

Functional ops called inside a module's ``forward`` (a residual ``out + identity``,
``F.relu``) are not visible to module hooks: they add no MACs under this convention, and
their results are counted in memory through the block that calls them (see summary.py).

Kept for backward (bytes beyond the layer's own output, which the autograd graph keeps as
the input of the next op), from what juanji's Functions ``save_for_backward``:

=====================================  ==============================================
ReLU, ReLU6, LeakyReLU, Hardtanh       a bool mask: 1 byte per element
GELU                                   the Gaussian CDF: 1 element per element
LocalResponseNorm                      the denominator D: 1 element per element
MaxPool1d/2d/3d                        uint8 window offsets: 1 byte per output element
                                       per pass (2-D pools run one pass per axis: the
                                       first pass's output has OH x W cells)
Dropout, Dropout2d (p > 0)             the mask, 1 element per element, plus the output,
                                       which the eval-mode probe did not allocate
everything else                        nothing (Conv and Linear keep their input, BatchNorm
                                       its input and two (C,) vectors, Sigmoid/Tanh their
                                       output: arrays that are kept anyway)
=====================================  ==============================================

Workspace: the scratch arrays alive while one layer runs its backward pass, beyond
what is kept: the gradient of its output and of its input; for a convolution, the scratch
arrays its backward allocates as its plan's routes count them (juanji/kernels/conv: each
route's ``grads_workspace`` mirrors its code: cache-sized column and padding buffers for a
chunk of the batch, the transposed output gradient, per-sample weight gradients for small
kernels, col2im's padded input gradient where the input gradient is not a correlation),
worked out at the summary's batch; for a max
pool whose windows tile the input (stride == kernel, no padding), one output-sized product; for
any other max or average pool, a second input-sized buffer and the first axis pass's result (input size /
last stride), as juanji's separable pool backward allocates them.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import nn
from ..functional.conv import conv_plan
from ..kernels.conv import Plan, plan
from ..nn.module import Module

__all__ = ["layer_macs", "kept_bytes_extra", "workspace_bytes", "conv_layer_plan"]

CONV_MODULES = _CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_MASK_ACTIVATIONS = tuple(getattr(nn, n) for n in ("ReLU", "ReLU6", "LeakyReLU", "Hardtanh")
                          if hasattr(nn, n))
_MAX_POOLS = tuple(getattr(nn, n) for n in ("MaxPool1d", "MaxPool2d", "MaxPool3d") if hasattr(nn, n))
_POOLS = _MAX_POOLS + tuple(getattr(nn, n) for n in ("AvgPool1d", "AvgPool2d", "AvgPool3d")
                            if hasattr(nn, n))
_DROPOUTS = tuple(getattr(nn, n) for n in ("Dropout", "Dropout2d", "Dropout3d") if hasattr(nn, n))


def _elements(arrays: tuple[np.ndarray, ...]) -> int:
    return sum(int(a.size) for a in arrays)


def _is_juanji_layer(module: Module) -> bool:
    return type(module).__module__.startswith("juanji.nn")


def layer_macs(module: Module, inputs: tuple[np.ndarray, ...], outputs: tuple[np.ndarray, ...],
               probe: int, own_params: int) -> int | None:
    """Multiply-adds of one call for one sample; None when the module's cost is unknown.

    Args:
        module: the module that ran.
        inputs, outputs: its arrays at the probe batch size ``probe``.
        own_params: parameters held directly by the module (not by its children).
    """
    if isinstance(module, _CONV):
        cin_per_group = module.in_channels // module.groups
        per_output = cin_per_group * math.prod(module.kernel_size)
        return _elements(outputs) // probe * per_output
    if isinstance(module, nn.Linear):
        return _elements(outputs) // probe * module.in_features
    if own_params == 0 or _is_juanji_layer(module):
        return 0
    return None


def kept_bytes_extra(module: Module, inputs: tuple[np.ndarray, ...],
                     outputs: tuple[np.ndarray, ...], probe: int) -> int:
    """Bytes per sample that the layer saves for backward beyond its output (table above)."""
    if not outputs:
        return 0
    out_elems = _elements(outputs) // probe
    itemsize = outputs[0].dtype.itemsize
    if isinstance(module, _MASK_ACTIVATIONS):
        return out_elems  # bool, 1 byte
    if isinstance(module, (nn.GELU, nn.LocalResponseNorm)):
        return out_elems * itemsize
    if isinstance(module, _MAX_POOLS):
        if isinstance(module, nn.MaxPool2d) and outputs[0].ndim == 4 and inputs:
            first_pass = outputs[0].shape[1] * outputs[0].shape[2] * inputs[0].shape[3]  # C*OH*W
            return first_pass + out_elems
        return out_elems
    if isinstance(module, _DROPOUTS) and module.p > 0:
        return 2 * out_elems * itemsize  # the mask and the product x * mask
    return 0


def workspace_bytes(module: Module, inputs: tuple[np.ndarray, ...],
                    outputs: tuple[np.ndarray, ...], probe: int, input_grad: bool = True,
                    batch: int = 1) -> int:
    """Bytes per sample of scratch arrays alive during the layer's backward (see above).

    ``input_grad`` False (the layer reads the model's input, which needs no gradient)
    leaves out the input gradient and, for a convolution, the column gradient and col2im.
    ``batch``: the batch the estimate is for; a convolution's scratch is not proportional
    to it (its buffers hold a cache-sized chunk of the batch), so it is worked out at this
    batch and returned per sample.
    """
    if not outputs:
        return 0
    itemsize = outputs[0].dtype.itemsize
    grads = (_elements(outputs) + (_elements(inputs) if input_grad else 0)) // probe * itemsize
    if isinstance(module, _MAX_POOLS) and inputs and input_grad and _tiles(module, inputs[0], outputs[0]):
        # The tiling fast path (stride == kernel, no padding): dx plus one output-sized
        # product at a time, no separable intermediate.
        return grads + _elements(outputs[:1]) // probe * itemsize
    if isinstance(module, _POOLS) and inputs and input_grad:
        # Each axis pass scatters into a zero buffer and adds shifted copies into a second:
        # two input-sized arrays at the last pass, while the first pass's result
        # (the input size divided by the last stride) is still alive.
        in_elems = _elements(inputs[:1]) // probe
        last_stride = _last_stride(module)
        first_pass = -(-in_elems // last_stride) if outputs[0].ndim > 3 else 0
        return grads + (in_elems + first_pass) * itemsize
    if not isinstance(module, _CONV) or not inputs:
        return grads
    # The routes' own model of their scratch arrays (column and padding buffers of cache-sized
    # batch chunks, the transposed output gradient, ...), at the real batch, then per sample.
    p = conv_layer_plan(module, inputs[0].shape, batch, inputs[0].dtype)
    scratch = p.backward_workspace(need_w=module.weight.requires_grad, need_x=input_grad)
    return grads + -(-scratch // batch) * itemsize


def conv_layer_plan(module: Module, x_shape: tuple[int, ...], batch: int, dtype: np.dtype) -> Plan:
    """The plan a conv layer takes on a batch of ``batch`` inputs of ``x_shape[1:]``, as in a
    network: its input is taken to arrive batch-last exactly when the layer itself runs
    batch-last (a probe of one sample cannot tell the two layouts apart), so the first
    batch-last layer after NCHW ones misses one copy of its input."""
    p = conv_plan((batch, *x_shape[1:]), module.weight.shape, module.stride, module.padding, module.dilation,
                  module.groups, dtype=dtype)
    if p.layout == "batch_last" and not p.geom.x_batch_last:
        p = plan(dataclasses.replace(p.geom, x_batch_last=True))
    return p


def _tiles(module: Module, x: np.ndarray, out: np.ndarray) -> bool:
    """Whether max pooling takes the tiling fast path (see juanji/kernels/pool.py)."""
    nd = x.ndim - 2

    def tup(v: object) -> tuple:
        return tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd

    kernel = tup(module.kernel_size)
    stride = tup(module.stride if module.stride is not None else module.kernel_size)
    padding, dilation = module.padding, tup(getattr(module, "dilation", 1))
    no_pad = padding == "valid" or (not isinstance(padding, str) and all(p == 0 for p in tup(padding)))
    fits = all(o * k <= n for o, k, n in zip(out.shape[2:], kernel, x.shape[2:]))
    return stride == kernel and all(d == 1 for d in dilation) and no_pad and fits


def _last_stride(module: Module) -> int:
    stride = module.stride if module.stride is not None else module.kernel_size
    if isinstance(stride, (tuple, list)):
        return int(stride[-1])
    return int(stride)
