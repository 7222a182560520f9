"""``summary(model, input_shape)``: a Keras-style table of a model's layers and its costs.

One probe forward pass (eval mode, ``no_grad``, zeros of shape (1, *input_shape)) runs
with a hook on every module. Its sizes are per sample; memory figures multiply them by
``batch_size``, and output shapes show ``batch_size`` as their first dimension, so a
summary at batch 256 costs one sample's forward pass (this assumes every activation is
batch-major, as in any NCHW model). Each module call becomes a row, children indented
under their block.

Counting rules (the per-layer tables are in juanji/analysis/costs.py):

* Parameters: a row shows the parameters its module holds directly; a container row
  (one with children) shows the total of its sub-tree. A layer that keeps fixed weights
  inside a Parameter and counts itself by overriding ``num_parameters`` (MaskedConv2d:
  LeNet-5's C3 is 1,516 parameters, not its 2,416 stored floats) is counted its way, in its
  row and the totals, so the totals equal ``model.num_parameters()``; memory figures count
  every stored float. Buffers (BatchNorm's running statistics) are not parameters, as
  in PyTorch: they are reported apart and included in every memory figure.
* Multiply-adds per sample: convolution and linear layers only (costs.py).
* Sizes are bytes in binary units (KiB, MiB, GiB), each array at its own dtype.
* Inference memory: parameters + buffers + the largest input-plus-output pair of one
  layer, at the batch size (what a sequential forward under ``no_grad`` needs at its
  peak; a residual network also keeps the skip branch alive, so treat it as a floor).
* Training memory for one step of an optimizer, at the batch size:
  parameters + buffers + one gradient per trainable parameter + optimizer state
  (``OPTIMIZER_STATE`` arrays per trainable parameter: Adam 2, SGD with momentum 1)
  + activations kept for backward + the largest layer workspace (costs.py).
  "Kept for backward" is the input batch, every array a layer makes (its output, unless
  that is a view of its input, as Flatten's is) and what it saves (costs.py); the result
  of a functional op inside a block's forward (a residual sum, an ``F.relu``) is counted
  once, on the block's row, when it reaches a child layer or leaves the block.
  The sum models juanji's backward as it runs today: every activation stays alive until
  backward ends, and the peak comes inside the backward of the layer with the largest
  workspace. Checked against tracemalloc's peak for a full training step (the second,
  with the optimizer state allocated), Adam: 1.08x (SimpleConvNet, batch 100), 1.24x and
  1.28x (a small VGG at 32x32, batch 16 and 64), 1.10x (ResNet-18 at 32x32, batch 16).
  The estimate runs high because backward frees activations as it goes (a convolution's
  scratch is counted exactly: see costs.py). The tests hold it to 2/3x-3/2x. Modules the eval-mode probe does not call (GoogLeNet's auxiliary
  classifiers) add their parameters, gradients and state but not their activations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..nn.module import Module
from ._format import format_table, human_bytes, human_count
from ._trace import Call, check_input_shape, parent_name, trace
from .costs import CONV_MODULES, conv_layer_plan, kept_bytes_extra, layer_macs, workspace_bytes

__all__ = ["summary", "ModelSummary", "LayerRow", "OPTIMIZER_STATE"]

#: Arrays of optimizer state per trainable parameter, as juanji.optim allocates them.
OPTIMIZER_STATE: dict[str, int] = {
    "none": 0, "sgd": 0, "momentum": 1, "sgd_momentum": 1, "rmsprop": 1, "adagrad": 1,
    "adam": 2, "adamw": 2, "amsgrad": 3,
}


@dataclass
class LayerRow:
    """One module call. Byte counts are at the summary's batch size; MACs are per sample.

    Attributes:
        name: dotted module name, with "#2", "#3" ... on a module's repeated calls.
        type: the module's class name.
        depth: 1 for the model's children, 2 for theirs, ...
        is_leaf: the module has no children.
        output_shapes: shape of each output Tensor, batch dimension = batch size.
        params, trainable_params: parameters held directly (0 on a repeated call).
        params_total: parameters of the whole sub-tree (equal to ``params`` for a leaf).
        macs: multiply-adds of this call's own computation; None if unknown.
        macs_total: of the whole sub-tree (None if any part is unknown).
        output_bytes: size of the output Tensor(s).
        kept_bytes: what this call adds to the memory kept for backward.
        workspace_bytes: scratch alive during its backward (0 for containers).
        route: for a convolution, the routes its plan takes at the summary's batch size,
            "forward | dW | dx", with "BL:" in front when it runs batch-last
            (juanji.analysis.conv_plans gives the reasons); None for other layers.
    """

    name: str
    type: str
    depth: int
    is_leaf: bool
    output_shapes: list[tuple[int, ...]]
    params: int
    trainable_params: int
    params_total: int
    macs: int | None
    macs_total: int | None
    output_bytes: int
    kept_bytes: int
    workspace_bytes: int
    route: str | None = None


@dataclass
class ModelSummary:
    """What ``summary`` measured; ``str(s)`` is the table. Bytes are at ``batch_size``
    unless the name says per sample; MACs are per sample."""

    model_name: str
    input_shape: tuple[int, ...]
    batch_size: int
    dtype: np.dtype
    rows: list[LayerRow]
    total_params: int
    trainable_params: int
    param_bytes: int
    trainable_param_bytes: int
    total_buffers: int
    buffer_bytes: int
    total_macs: int
    unknown_macs: list[str]
    uncalled_params: int
    input_bytes_per_sample: int
    kept_bytes_per_sample: int
    workspace_bytes_per_sample: int
    peak_pair_bytes_per_sample: int
    notes: list[str] = field(default_factory=list)
    activation_dtypes: tuple[np.dtype, ...] = ()

    # --- derived totals ----------------------------------------------------------------
    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def inference_bytes(self) -> int:
        """Parameters + buffers + the largest consecutive pair of activations, at batch size."""
        return self.param_bytes + self.buffer_bytes + self.peak_pair_bytes_per_sample * self.batch_size

    def memory_breakdown(self, optimizer: str | int = "adam",
                         batch_size: int | None = None) -> dict[str, int]:
        """The parts of ``training_bytes`` in bytes: parameters, buffers, gradients,
        optimizer_state, activations (kept for backward, with the input batch), workspace."""
        slots = _optimizer_slots(optimizer)
        b = self.batch_size if batch_size is None else _check_batch("training_bytes", batch_size)
        return {
            "parameters": self.param_bytes,
            "buffers": self.buffer_bytes,
            "gradients": self.trainable_param_bytes,
            "optimizer_state": slots * self.trainable_param_bytes,
            "activations": (self.input_bytes_per_sample + self.kept_bytes_per_sample) * b,
            "workspace": self.workspace_bytes_per_sample * b,
        }

    def training_bytes(self, optimizer: str | int = "adam", batch_size: int | None = None) -> int:
        """Estimated peak bytes of one training step (rules in the module docstring).

        Args:
            optimizer: a name in ``OPTIMIZER_STATE`` ("sgd", "momentum", "adam", ...) or the
                number of state arrays per trainable parameter.
            batch_size: defaults to the summary's batch size.
        """
        return sum(self.memory_breakdown(optimizer, batch_size).values())

    # --- printing ----------------------------------------------------------------------
    def __str__(self) -> str:
        header = ["Layer (type)", "Output shape", "Param #", "MACs", "Output size"]
        show_frozen = self.non_trainable_params > 0
        if show_frozen:
            header.insert(3, "Non-train.")
        show_route = any(r.route for r in self.rows)
        if show_route:
            header.append("Route (forward | dW | dx)")
        body = []
        for r in self.rows:
            label = "  " * max(r.depth - 1, 0) + f"{r.name or '(model)'} ({r.type})"
            shape = ", ".join(str(s) for s in r.output_shapes) or "--"
            if r.is_leaf:
                params = f"{r.params:,}" if r.params else "--"
                macs = "?" if r.macs is None else (f"{r.macs:,}" if r.macs else "--")
            else:  # a container shows its sub-tree in brackets
                params = f"[{r.params_total:,}]" if r.params_total else "--"
                macs = "[?]" if r.macs_total is None else (f"[{r.macs_total:,}]" if r.macs_total else "--")
            cells = [label, shape, params, macs, human_bytes(r.output_bytes)]
            if show_frozen:
                frozen = r.params - r.trainable_params
                cells.insert(3, f"{frozen:,}" if frozen else "--")
            if show_route:
                cells.append(r.route or "")
            body.append(cells)
        lines = format_table(header, body, ("<<>>>>" if show_frozen else "<<>>>") + ("<" if show_route else ""))
        width = max(len(line) for line in lines)
        item = self.dtype.itemsize
        b = self.batch_size
        train = self.memory_breakdown("adam")
        out = [
            f"Model: {self.model_name}   input: {self.input_shape}   batch size: {b}   dtype: {self.dtype}",
            "=" * width, lines[0], "=" * width, *lines[1:], "=" * width,
            f"Total params: {self.total_params:,} ({human_bytes(self.param_bytes)})",
            f"Trainable params: {self.trainable_params:,} ({human_bytes(self.trainable_param_bytes)})",
            f"Non-trainable params: {self.non_trainable_params:,} "
            f"({human_bytes(self.param_bytes - self.trainable_param_bytes)})",
            f"Buffers: {self.total_buffers:,} ({human_bytes(self.buffer_bytes)})",
            "-" * width,
            f"Multiply-adds per sample: {self.total_macs:,} ({human_count(self.total_macs)})",
            f"Multiply-adds per batch of {b}: {human_count(self.total_macs * b)}",
            "-" * width,
            f"Input size (batch {b}): {human_bytes(self.input_bytes_per_sample * b)}",
            f"Inference memory: {human_bytes(self.inference_bytes)} (parameters and buffers "
            f"{human_bytes(self.param_bytes + self.buffer_bytes)} + largest input/output pair "
            f"{human_bytes(self.peak_pair_bytes_per_sample * b)})",
            f"Training memory with Adam: {human_bytes(sum(train.values()))} (parameters "
            f"{human_bytes(train['parameters'] + train['buffers'])}, gradients "
            f"{human_bytes(train['gradients'])}, optimizer state {human_bytes(train['optimizer_state'])}, "
            f"kept activations {human_bytes(train['activations'])}, workspace "
            f"{human_bytes(train['workspace'])})",
            f"Training memory with SGD momentum: {human_bytes(self.training_bytes('momentum'))}",
        ]
        # Every size above is the arrays' own bytes (the input at its dtype, each layer's output
        # at its own); say which dtypes those are whenever they are not all float32.
        acts = self.activation_dtypes or (self.dtype,)
        if any(d != np.float32 for d in (self.dtype, *acts)):
            act_text = " and ".join(f"{d}, {d.itemsize} bytes per element" for d in acts)
            out.append(f"(sizes are the arrays' own: input {self.dtype}, {item} bytes per element; "
                       f"activations {act_text})")
        notes = list(self.notes)
        if any(not r.is_leaf for r in self.rows):
            notes.append("[brackets]: total of the rows indented below")
        if show_route:
            notes.append("Route: the convolution routes at this batch size, BL: batch-last layout "
                         "(juanji.analysis.conv_plans gives the planner's reasons)")
        if notes:
            out.append("-" * width)
            out.extend(f"Note: {n}" for n in notes)
        out.append("=" * width)
        return "\n".join(out)

    def __repr__(self) -> str:
        return (f"ModelSummary(model={self.model_name}, input_shape={self.input_shape}, "
                f"total_params={self.total_params:,}, total_macs={self.total_macs:,})")


def _counted_params(module: Module, trainable_only: bool) -> int:
    """The parameters a module holds directly, as the module itself counts them.

    A layer that stores fixed weights inside a Parameter (MaskedConv2d's unconnected
    kernels, kept so the weight stays PyTorch-shaped) says so by overriding
    ``num_parameters``; for a leaf, that is its own count. Otherwise: the elements.
    """
    if not module._modules and type(module).num_parameters is not Module.num_parameters:
        return int(module.num_parameters(trainable_only=trainable_only))
    return sum(p.numel() for p in module._parameters.values()
               if p is not None and (p.requires_grad or not trainable_only))


def _optimizer_slots(optimizer: str | int) -> int:
    if isinstance(optimizer, (int, np.integer)) and not isinstance(optimizer, bool):
        if optimizer < 0:
            raise ValueError(f"training_bytes: optimizer state slots must be >= 0, got {optimizer}")
        return int(optimizer)
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZER_STATE:
        return OPTIMIZER_STATE[optimizer.lower()]
    raise ValueError(f"training_bytes: unknown optimizer {optimizer!r}; use one of "
                     f"{', '.join(OPTIMIZER_STATE)} or a number of state arrays per parameter")


def _check_batch(op: str, batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"{op}: batch_size must be an int, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"{op}: batch_size must be >= 1, got {batch_size}")
    return int(batch_size)


class _Arrays:
    """The arrays seen so far in the probe pass: the input and every module output.

    An array is "known" if it is one of them or a view of one (a reshape shares memory).
    References are kept so that ids stay unique for the duration of the pass.
    """

    def __init__(self, first: np.ndarray) -> None:
        self.arrays = [first]
        self.ids = {id(first)}

    def known(self, a: np.ndarray) -> bool:
        return id(a) in self.ids or any(np.may_share_memory(a, s) for s in self.arrays)

    def add(self, a: np.ndarray) -> None:
        if id(a) not in self.ids:
            self.ids.add(id(a))
            self.arrays.append(a)


def summary(model: Module, input_shape: Sequence[int], batch_size: int = 1,
            dtype: Any = np.float32) -> ModelSummary:
    """Layer-by-layer table of output shapes, parameters, multiply-adds and memory.

    Args:
        model: any juanji ``nn.Module`` taking one Tensor.
        input_shape: one sample's shape without the batch, e.g. (3, 224, 224).
        batch_size: the batch for the memory figures and output shapes.
        dtype: input dtype (an integer dtype for models that start with an Embedding).

    Returns:
        A ``ModelSummary``: ``str()`` is the table; ``.rows``, ``.total_params``,
        ``.trainable_params``, ``.total_macs`` (per sample), ``.param_bytes``,
        ``.inference_bytes``, ``.training_bytes(optimizer="adam")``.

    Shape:
        the model is run once on zeros of shape (1, *input_shape).

    Example:
        >>> s = summary(nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU()), (1, 28, 28))
        >>> s.total_params, s.total_macs
        (156, 86400)
    """
    shape = check_input_shape("summary", input_shape)
    batch = _check_batch("summary", batch_size)
    probe = 1  # see the module docstring: sizes scale with the batch
    calls, x = trace("summary", model, shape, probe, dtype)
    names = {name for name, _ in model.named_modules()}
    rows, totals = _rows(calls, x, names, probe, batch)

    params = list(model.parameters())
    total_params, trainable_params = _param_counts(model)
    masked = sum(p.numel() for p in params) - total_params
    called = {id(c.module) for c in calls}
    called_params = {id(p) for m in model.modules() if id(m) in called
                     for p in m._parameters.values() if p is not None}
    uncalled = sum(p.numel() for p in params if id(p) not in called_params)
    buffers = list(model.buffers())
    notes = []
    if totals["unknown"]:
        notes.append("MACs exclude modules of unknown cost (marked ?): " + ", ".join(totals["unknown"]))
    if uncalled:
        notes.append(f"{uncalled:,} parameters belong to modules the forward pass did not call")
    if masked:
        notes.append(f"{masked:,} stored weights are masked (fixed zeros): not parameters, "
                     "but counted in every memory figure")
    activation_dtypes = tuple(dict.fromkeys(a.dtype for c in calls for a in c.outputs if a.dtype.kind in "fc"))
    return ModelSummary(
        model_name=type(model).__name__, input_shape=shape, batch_size=batch, dtype=x.dtype,
        rows=rows,
        total_params=total_params, trainable_params=trainable_params,
        param_bytes=sum(p.data.nbytes for p in params),
        trainable_param_bytes=sum(p.data.nbytes for p in params if p.requires_grad),
        total_buffers=sum(b.numel() for b in buffers),
        buffer_bytes=sum(b.data.nbytes for b in buffers),
        total_macs=totals["macs"], unknown_macs=totals["unknown"], uncalled_params=uncalled,
        input_bytes_per_sample=x.nbytes // probe,
        kept_bytes_per_sample=totals["kept"], workspace_bytes_per_sample=totals["workspace"],
        peak_pair_bytes_per_sample=totals["pair"], notes=notes, activation_dtypes=activation_dtypes,
    )


def _route(c: Call, batch: int) -> str | None:
    """'forward | dW | dx' of a conv call's plan at the summary's batch ('BL: ...' batch-last)."""
    if not isinstance(c.module, CONV_MODULES) or not c.inputs:
        return None
    names = conv_layer_plan(c.module, c.inputs[0].shape, batch, c.inputs[0].dtype).names()
    routes = f"{names['forward']} | {names['dw']} | {names['dx']}"
    return f"BL: {routes}" if names["layout"] == "batch_last" else routes


def _param_counts(model: Module) -> tuple[int, int]:
    """(total, trainable) parameters, each module counted as its rows are (``_counted_params``),
    each shared Parameter once. Equal to ``model.num_parameters()`` for every zoo model."""
    seen: set[int] = set()
    total = trainable = 0
    for m in model.modules():
        own = [p for p in m._parameters.values() if p is not None and id(p) not in seen]
        if not own:
            continue
        seen.update(id(p) for p in own)
        total += _counted_params(m, False)
        trainable += _counted_params(m, True)
    return total, trainable


def _rows(calls: list[Call], x: np.ndarray, names: set[str], probe: int,
          batch: int) -> tuple[list[LayerRow], dict[str, Any]]:
    """Turn the recorded calls into ordered rows and per-sample totals."""
    seen = _Arrays(x)
    functional: dict[str, int] = {}   # per-sample bytes of functional results, by module name
    rows: list[LayerRow] = []
    totals: dict[str, Any] = {"macs": 0, "unknown": [], "kept": 0, "workspace": 0, "pair": 0}
    for c in calls:
        if c.is_leaf:
            for a in c.inputs:
                if not seen.known(a):  # made by a functional op in the caller's forward
                    owner = parent_name(c.name, names) if c.name else ""
                    functional[owner] = functional.get(owner, 0) + a.nbytes // probe
                    seen.add(a)
        new_out = sum(a.nbytes for a in c.outputs if not seen.known(a)) // probe
        for a in c.outputs:
            seen.add(a)
        first = c.number == 1  # a repeated call shows no parameters: they were counted once
        n_own = _counted_params(c.module, False) if first else 0
        n_own_trainable = _counted_params(c.module, True) if first else 0
        macs = layer_macs(c.module, c.inputs, c.outputs, probe, n_own)
        if c.is_leaf:
            kept = new_out + kept_bytes_extra(c.module, c.inputs, c.outputs, probe)
            work = workspace_bytes(c.module, c.inputs, c.outputs, probe,
                                   input_grad=not any(a is x for a in c.inputs), batch=batch)
            pair = sum(a.nbytes for a in c.inputs) // probe + new_out
            totals["pair"] = max(totals["pair"], pair)
        else:
            kept = new_out + functional.pop(c.name, 0)
            work = 0
        totals["kept"] += kept
        totals["workspace"] = max(totals["workspace"], work)
        if macs is None:
            totals["unknown"].append(c.name or type(c.module).__name__)
        else:
            totals["macs"] += macs

        label = c.name if c.number == 1 else f"{c.name}#{c.number}"
        row = LayerRow(
            name=label, type=type(c.module).__name__, depth=c.name.count(".") + 1 if c.name else 0,
            is_leaf=c.is_leaf,
            output_shapes=[(batch, *a.shape[1:]) if a.ndim and a.shape[0] == probe else a.shape
                           for a in c.outputs],
            params=n_own, trainable_params=n_own_trainable,
            params_total=n_own, macs=macs, macs_total=macs,
            output_bytes=sum(a.nbytes for a in c.outputs) // probe * batch,
            kept_bytes=kept * batch, workspace_bytes=work * batch,
            route=_route(c, batch) if c.is_leaf else None,
        )
        if c.is_leaf:
            rows.append(row)
        else:
            # Children completed first: put the block above its trailing run of descendants.
            prefix = c.name + "." if c.name else ""
            pos = len(rows)
            while pos > 0 and rows[pos - 1].name.startswith(prefix):
                pos -= 1
            descendants = rows[pos:]
            row.params_total = n_own + sum(r.params for r in descendants)
            if macs is None or any(r.macs is None for r in descendants):
                row.macs_total = None
            else:
                row.macs_total = macs + sum(r.macs for r in descendants)  # type: ignore[misc]
            if c.name:
                rows.insert(pos, row)
            elif n_own or macs is None:
                rows.insert(0, row)  # the model itself holds parameters: show it
    # Functional results of the root's own forward that never reached a child's input.
    totals["kept"] += sum(functional.values())
    return rows, totals
