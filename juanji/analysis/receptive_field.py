"""``receptive_field(model, input_shape)``: the input window each layer of a chain sees.

For every spatial dimension, with input pixels indexed 0, 1, 2, ... (pixel centres):

    k_eff     = d * (k - 1) + 1                         dilated kernel extent
    j_out     = j_in * s                                jump: input pixels between
                                                        neighbouring output units
    r_out     = r_in + (k_eff - 1) * j_in               receptive-field size
    start_out = start_in + ((k_eff - 1) / 2 - p_before) * j_in
                                                        centre of output unit 0's field

starting from r = 1, j = 1, start = 0 at the input. ``p_before`` is the padding before
the first pixel (TensorFlow's "same" puts any odd extra pixel after, so it is the smaller
half). A negative start or a size beyond the input means the field reaches into padding.

Layer windows: Conv1d/2d/3d, MaxPool/AvgPool/LPPool use their kernel, stride, padding
and dilation; an adaptive or global pool whose output divides its input is a pool with
k = s = input / output; Flatten sees every remaining position (k = the spatial size, s = 1);
activations, normalisations, dropout, Identity and Linear are pointwise (k = s = 1;
the batch statistics of a normalisation, which mix positions, are ignored, as usual).
Only chains are supported: every layer must take the previous layer's output (the
layers of an ``nn.Sequential``, however nested); branches, residual sums and functional
ops between layers make it an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .. import nn
from ..functional._args import same_padding
from ..nn.module import Module
from ._format import format_table
from ._trace import Call, check_input_shape, trace

__all__ = ["receptive_field", "ReceptiveField", "RFLayer"]

_POINTWISE_FILES = ("juanji.nn.activation", "juanji.nn.norm", "juanji.nn.dropout")
_WINDOWED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
             nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.LPPool1d, nn.LPPool2d)
_ADAPTIVE = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)
_GLOBAL = (nn.GlobalAvgPool2d, nn.GlobalMaxPool2d)


@dataclass
class RFLayer:
    """One layer's window and the receptive field of its output units, per spatial dim.

    Attributes:
        name, type: dotted module name and class name.
        kernel: effective (dilated) kernel extent k_eff; stride; pad_before.
        output_size: spatial size of the output (empty after Flatten).
        size: receptive-field size r; jump: j; start: centre of unit 0's field.
    """

    name: str
    type: str
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    pad_before: tuple[int, ...]
    output_size: tuple[int, ...]
    size: tuple[int, ...]
    jump: tuple[int, ...]
    start: tuple[float, ...]


@dataclass
class ReceptiveField:
    """The layers of a chain with their receptive fields; ``str()`` prints the table."""

    input_shape: tuple[int, ...]
    layers: list[RFLayer]

    @property
    def size(self) -> tuple[int, ...]:
        """Receptive-field size of the last layer's output units."""
        return self.layers[-1].size if self.layers else (1,) * (len(self.input_shape) - 1)

    @property
    def jump(self) -> tuple[int, ...]:
        return self.layers[-1].jump if self.layers else (1,) * (len(self.input_shape) - 1)

    @property
    def start(self) -> tuple[float, ...]:
        return self.layers[-1].start if self.layers else (0.0,) * (len(self.input_shape) - 1)

    def __str__(self) -> str:
        def fmt(t: Sequence[Any]) -> str:
            return "x".join(f"{v:g}" if isinstance(v, float) else str(v) for v in t) or "--"

        body = [[f"{r.name} ({r.type})", fmt(r.output_size), fmt(r.kernel), fmt(r.stride),
                 fmt(r.pad_before), fmt(r.size), fmt(r.jump), fmt(r.start)] for r in self.layers]
        spatial = self.input_shape[1:]
        body.insert(0, ["input", fmt(spatial), "--", "--", "--", fmt((1,) * len(spatial)),
                        fmt((1,) * len(spatial)), fmt((0.0,) * len(spatial))])
        lines = format_table(["Layer (type)", "Output", "Kernel", "Stride", "Pad", "RF size",
                              "Jump", "Start"], body, "<>>>>>>>")
        width = max(len(line) for line in lines)
        return "\n".join(["=" * width, lines[0], "=" * width, *lines[1:], "=" * width])


def receptive_field(model: Module, input_shape: Sequence[int]) -> ReceptiveField:
    """Receptive field (size, jump, start) after every layer of a chain of layers.

    Args:
        model: a module whose leaf layers run one after another, each on the previous
            one's output (an ``nn.Sequential`` of Conv/Pool/activation/... layers).
        input_shape: one sample's shape without the batch, (C, H, W) or (C, L) or (C, D, H, W).

    Returns:
        ``ReceptiveField``: ``.layers`` (one ``RFLayer`` per leaf call), ``.size``,
        ``.jump`` and ``.start`` of the last layer; ``str()`` is a table.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
        >>> receptive_field(net, (1, 16, 16)).size
        (5, 5)
    """
    shape = check_input_shape("receptive_field", input_shape)
    if len(shape) < 2:
        raise ValueError(f"receptive_field: input_shape must be (C, *spatial) with at least one "
                         f"spatial dimension, got {shape}")
    calls, x = trace("receptive_field", model, shape, 1, np.float32)
    leaves = [c for c in calls if c.is_leaf]
    nd = len(shape) - 1
    r, j, start = [1] * nd, [1] * nd, [0.0] * nd
    spatial = True
    previous: np.ndarray = x
    previous_name = "the model input"
    layers = []
    for c in leaves:
        if not c.inputs or not any(a is previous or np.may_share_memory(a, previous) for a in c.inputs[:1]):
            raise ValueError(
                f"receptive_field: the model is not a chain of layers: the input of {c.name!r} "
                f"({type(c.module).__name__}) is not the output of {previous_name} (branches, "
                "residual additions and functional ops between layers are not supported)")
        if spatial:
            k, s, p = _window(c, nd)
            for i in range(nd):
                start[i] = start[i] + ((k[i] - 1) / 2 - p[i]) * j[i]
                r[i] = r[i] + (k[i] - 1) * j[i]
                j[i] = j[i] * s[i]
            out_size = tuple(c.outputs[0].shape[2:]) if c.outputs and c.outputs[0].ndim == nd + 2 else ()
            if not out_size:
                spatial = False  # flattened: later layers see every position already
        else:
            k, s, p, out_size = (1,) * nd, (1,) * nd, (0,) * nd, ()
        layers.append(RFLayer(c.name, type(c.module).__name__, tuple(k), tuple(s), tuple(p),
                              out_size, tuple(r), tuple(j), tuple(float(v) for v in start)))
        if not c.outputs:
            raise ValueError(f"receptive_field: layer {c.name!r} returned no Tensor")
        previous, previous_name = c.outputs[0], repr(c.name)
    return ReceptiveField(shape, layers)


def _window(c: Call, nd: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(k_eff, stride, pad_before) of one layer call, per spatial dim."""
    m = c.module
    x = c.inputs[0]
    in_size = tuple(x.shape[2:])
    name = f"receptive_field: layer {c.name!r} ({type(m).__name__})"
    if len(in_size) != nd:
        if isinstance(m, nn.Flatten) or _pointwise(m):
            return (1,) * nd, (1,) * nd, (0,) * nd
        raise ValueError(f"{name} gets input of shape {x.shape}, expected {nd} spatial dims")
    if isinstance(m, _WINDOWED):
        kernel = _tuple(m.kernel_size, nd)
        stride = _tuple(m.stride if m.stride is not None else m.kernel_size, nd)
        dilation = _tuple(getattr(m, "dilation", 1), nd)
        padding = getattr(m, "padding", 0)
        if isinstance(padding, str):
            pads = tuple(same_padding(n, k, s, d)[0] if padding.lower() == "same" else 0
                         for n, k, s, d in zip(in_size, kernel, stride, dilation))
        else:
            pads = _tuple(padding, nd)
        k_eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        return k_eff, stride, pads
    if isinstance(m, _ADAPTIVE + _GLOBAL):
        out = tuple(c.outputs[0].shape[2:]) if c.outputs[0].ndim == nd + 2 else (1,) * nd
        if any(n % o for n, o in zip(in_size, out)):
            raise ValueError(f"{name}: adaptive pooling from {in_size} to {out} has windows of "
                             "unequal size; receptive_field needs the output to divide the input")
        k = tuple(n // o for n, o in zip(in_size, out))
        return k, k, (0,) * nd
    if isinstance(m, nn.Flatten):
        return in_size, (1,) * nd, (0,) * nd
    if _pointwise(m):
        return (1,) * nd, (1,) * nd, (0,) * nd
    raise ValueError(f"{name}: its window is unknown; supported: convolutions, pools, Flatten "
                     "and pointwise layers (activations, normalisation, dropout, Identity, Linear)")


def _pointwise(m: Module) -> bool:
    return type(m).__module__ in _POINTWISE_FILES or isinstance(m, (nn.Identity, nn.Linear))


def _tuple(v: Any, nd: int) -> tuple[int, ...]:
    if isinstance(v, (tuple, list)):
        if len(v) == 1 and nd > 1:
            return tuple(int(v[0]) for _ in range(nd))
        return tuple(int(e) for e in v)
    return (int(v),) * nd

