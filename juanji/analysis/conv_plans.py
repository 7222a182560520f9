"""Which route each convolution of a model takes, and why: ``conv_plans(model, input_shape)``.

Every conv call is planned as juanji/kernels/conv/planner.py plans it during training, at the
given batch size: the layout (NCHW or batch-last), the forward, dW and dx routes, and the
rule behind each choice, with the scratch memory the plan's routes allocate.

    >>> from juanji.analysis import conv_plans
    >>> print(conv_plans(get_model("resnet18"), (3, 32, 32), batch_size=64))

A layer's input is taken to arrive batch-last exactly when the layer itself runs batch-last
(the trace runs one sample, whose two layouts cannot be told apart), as ``summary`` assumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .. import nn
from ..kernels.conv import Plan
from ..nn.module import Module
from ._format import format_table, human_bytes
from ._trace import check_input_shape, trace
from .costs import conv_layer_plan

__all__ = ["conv_plans", "ConvPlans", "LayerPlan"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class LayerPlan:
    """One conv call: its dotted name (with "#2" on a repeated call) and its plan."""

    name: str
    plan: Plan

    @property
    def forward_workspace_bytes(self) -> int:
        return self.plan.forward_workspace(bias=True) * self.plan.geom.itemsize

    @property
    def backward_workspace_bytes(self) -> int:
        return self.plan.backward_workspace(need_w=True, need_x=True) * self.plan.geom.itemsize


@dataclass(frozen=True)
class ConvPlans:
    """The plans of a model's conv calls; ``str()`` is a table, ``explain()`` the reasons."""

    model_name: str
    batch_size: int
    layers: tuple[LayerPlan, ...]

    def routes(self) -> dict[str, dict[str, str]]:
        """{layer name: plan.names()}."""
        return {lp.name: lp.plan.names() for lp in self.layers}

    def counts(self) -> dict[tuple[str, str, str], int]:
        """How many calls take each (direction, layout, route): the distinct combinations."""
        out: dict[tuple[str, str, str], int] = {}
        for lp in self.layers:
            names = lp.plan.names()
            for direction in ("forward", "dw", "dx"):
                key = (direction, names["layout"], names[direction])
                out[key] = out.get(key, 0) + 1
        return out

    def explain(self) -> str:
        """Every layer's plan with the planner rule behind each choice."""
        return "\n".join(f"{lp.name}: {lp.plan.describe()}" for lp in self.layers)

    def __str__(self) -> str:
        header = ["Layer", "Input", "Layout", "Forward", "dW", "dx", "Scratch fwd", "Scratch bwd"]
        body = []
        for lp in self.layers:
            names, g = lp.plan.names(), lp.plan.geom
            body.append([lp.name, "x".join(map(str, g.x_shape[1:])), names["layout"], names["forward"], names["dw"],
                         names["dx"], human_bytes(lp.forward_workspace_bytes),
                         human_bytes(lp.backward_workspace_bytes)])
        lines = format_table(header, body, "<<<<<<>>")
        width = max((len(line) for line in lines), default=0)
        return "\n".join([f"Conv plans: {self.model_name}, batch size {self.batch_size} "
                          f"({len(self.layers)} conv calls, {len(self.counts())} direction/layout/route "
                          f"combinations)", "=" * width, lines[0], "=" * width, *lines[1:], "=" * width])

    def __repr__(self) -> str:
        return f"ConvPlans(model={self.model_name}, batch_size={self.batch_size}, layers={len(self.layers)})"


def conv_plans(model: Module, input_shape: Sequence[int], batch_size: int = 1,
               dtype: Any = np.float32) -> ConvPlans:
    """The plan (layout and forward/dW/dx routes) of every convolution ``model`` calls on a
    batch of ``batch_size`` inputs of ``input_shape`` (one sample's shape, without the batch).

    Example:
        >>> plans = conv_plans(nn.Sequential(nn.Conv2d(1, 6, 5, padding=2)), (1, 28, 28), batch_size=128)
        >>> plans.routes()["0"]["forward"]
        'direct'
    """
    shape = check_input_shape("conv_plans", input_shape)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"conv_plans: batch_size must be an int >= 1, got {batch_size!r}")
    calls, _ = trace("conv_plans", model, shape, 1, dtype)
    layers = []
    for c in calls:
        if isinstance(c.module, _CONV) and c.inputs:
            label = c.name if c.number == 1 else f"{c.name}#{c.number}"
            x = c.inputs[0]
            layers.append(LayerPlan(label, conv_layer_plan(c.module, x.shape, int(batch_size), x.dtype)))
    return ConvPlans(type(model).__name__, int(batch_size), tuple(layers))
