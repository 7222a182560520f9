"""Run one probe forward pass with a forward hook on every module and record each call.

Both ``summary`` and ``receptive_field`` start here. The probe runs in eval mode under
``no_grad`` on a zero input, so it changes nothing in the model (BatchNorm's running
statistics and the random generator are untouched) and keeps no autograd cache; every
module's ``training`` flag is restored afterwards, and every hook removed, even when the
forward pass fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..autograd import no_grad
from ..nn.module import Module
from ..tensor import Tensor

__all__: list[str] = []


@dataclass
class Call:
    """One completed call of one module during the probe forward pass."""

    name: str                          # dotted module name; "" for the model itself
    module: Module
    inputs: tuple[np.ndarray, ...]     # the arrays behind the Tensor positional arguments
    outputs: tuple[np.ndarray, ...]    # the arrays behind the returned Tensor(s)
    number: int                        # 1 for a module's first call, 2 for its second, ...
    is_leaf: bool                      # the module has no child modules


def check_input_shape(op: str, input_shape: Any) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints (one sample, without the batch)."""
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (int(input_shape),)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) == 0 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in input_shape):
        raise TypeError(f"{op}: input_shape must be a tuple of ints for one sample without the "
                        f"batch dimension, e.g. (3, 224, 224), got {input_shape!r}")
    if any(v < 1 for v in input_shape):
        raise ValueError(f"{op}: input_shape entries must be >= 1, got {tuple(input_shape)}")
    return tuple(int(v) for v in input_shape)


def _arrays(value: Any) -> tuple[np.ndarray, ...]:
    """The arrays behind a Tensor, or behind the Tensors of a (nested) tuple/list/dict."""
    if isinstance(value, Tensor):
        return (value.data,)
    if isinstance(value, (tuple, list)):
        return tuple(a for v in value for a in _arrays(v))
    if isinstance(value, dict):
        return tuple(a for v in value.values() for a in _arrays(v))
    return ()


def trace(op: str, model: Module, input_shape: Sequence[int], probe_batch: int,
          dtype: Any) -> tuple[list[Call], np.ndarray]:
    """Run ``model`` on zeros of shape (probe_batch, *input_shape); return the calls in the
    order they completed (children before their parents) and the input array."""
    if not isinstance(model, Module):
        raise TypeError(f"{op}: model must be a juanji.nn.Module, got {type(model).__name__}")
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{op}: dtype must be a NumPy dtype such as np.float32, got {dtype!r}") from e
    if dt.kind not in "fiu":
        raise TypeError(f"{op}: dtype must be a floating-point or integer dtype, got {dt}")
    x = Tensor(np.zeros((probe_batch, *input_shape), dtype=dt))  # (N, *input_shape)

    calls: list[Call] = []
    counts: dict[int, int] = {}

    def make_hook(name: str) -> Any:
        def hook(module: Module, args: tuple, output: Any) -> None:
            counts[id(module)] = counts.get(id(module), 0) + 1
            calls.append(Call(name, module, _arrays(args), _arrays(output), counts[id(module)],
                              not any(True for _ in module.children())))
        return hook

    modules = list(model.named_modules())
    flags = [(m, m.training) for _, m in modules]
    handles = [m.register_forward_hook(make_hook(name)) for name, m in modules]
    try:
        model.eval()
        with no_grad():
            model(x)
    except Exception as e:  # re-raised with the shape that was tried, the usual cause
        raise ValueError(f"{op}: the forward pass of {type(model).__name__} on an input of shape "
                         f"{(probe_batch, *input_shape)} ({dt}) failed: {type(e).__name__}: {e}") from e
    finally:
        for h in handles:
            h.remove()
        for m, flag in flags:
            object.__setattr__(m, "training", flag)  # as Module.train does, one module at a time
    return calls, x.data


def parent_name(name: str, names: set[str]) -> str:
    """The dotted name of the nearest registered ancestor of module ``name`` ("" is the root)."""
    while "." in name:
        name = name.rsplit(".", 1)[0]
        if name in names:
            return name
    return ""
