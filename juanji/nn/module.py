"""Module: a container of Parameters, buffers and sub-modules, as in PyTorch.

Attribute assignment registers things by kind: ``self.weight = Parameter(...)`` becomes
a parameter named ``weight``, ``self.conv1 = Conv2d(...)`` a child module, and
``register_buffer`` adds state that is saved but not trained (BatchNorm's running
statistics). Names join with dots (``layer1.0.conv1.weight``), so a ``state_dict``
moves between juanji and PyTorch by name.
"""

from __future__ import annotations

from collections import OrderedDict, abc
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import numpy as np

from ..tensor import Tensor, as_array

__all__ = ["Module", "Parameter"]


class Parameter(Tensor):
    """A Tensor that a Module trains: ``requires_grad`` is on by default."""

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(as_array(data), requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer and model.

    Subclasses set up parameters and children in ``__init__`` (after calling
    ``super().__init__()``) and compute in ``forward``; call the module itself,
    ``module(x)``, which runs forward hooks too.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # --- registration ----------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attribute {name!r}"
            )
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            self._buffers.pop(name, None)
            self.__dict__.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._parameters.pop(name, None)
            self._buffers.pop(name, None)
            self.__dict__.pop(name, None)
            self._modules[name] = value
        elif name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: buffer {name!r} must be a Tensor or None")
            self._buffers[name] = value
        elif name in self._parameters or name in self._modules:
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}: cannot assign {type(value).__name__} to {name!r}, "
                    "which holds a Parameter or Module (use Parameter(...) or None)"
                )
            store = self._parameters if name in self._parameters else self._modules
            store[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails.
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add state that is saved in the state_dict (if persistent) but not trained."""
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        if "." in name or name == "":
            raise ValueError(f"add_module: module name {name!r} must be non-empty and contain no '.'")
        self._modules[name] = module

    register_module = add_module

    # --- calling ---------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_hook(self, hook: Callable[["Module", tuple, Any], Any]) -> "RemovableHandle":
        """Call ``hook(module, inputs, output)`` after every forward; returns a handle to remove it."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # --- traversal -------------------------------------------------------------------------
    def named_modules(self, prefix: str = "", memo: set[int] | None = None) -> Iterator[tuple[str, "Module"]]:
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator["Module"]:
        for _, c in self.named_children():
            yield c

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mod_name, mod in mods:
            for name, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mod_name, mod in mods:
            for name, b in mod._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # --- modes and gradients ---------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, dtype: Any) -> "Module":
        """Convert every floating-point parameter and buffer to ``dtype`` in place."""
        dtype = np.dtype(dtype)
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None
        for _, b in self.named_buffers():
            if b.data.dtype.kind == "f":
                b.data = b.data.astype(dtype)
        return self

    def float(self) -> "Module":
        return self.to(np.float32)

    def double(self) -> "Module":
        return self.to(np.float64)

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # --- state -----------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Parameters and persistent buffers by dotted name, as copies of their arrays."""
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for mod_name, mod in self.named_modules():
            pre = f"{mod_name}." if mod_name else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    out[pre + name] = p.data.copy()
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out[pre + name] = b.data.copy()
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (or Tensors, or anything array-like) into parameters and buffers by name.

        Every entry is checked before anything changes: with ``strict`` (the default) no key
        may be missing or unexpected; each value must have its target's shape exactly, be
        numeric (bool, integer or floating: strings, complex, datetimes and object arrays are
        refused, where a cast would turn ``None`` into NaN) and fit the target's dtype (no
        overflow, no NaN into an integer buffer). The error lists every problem and nothing
        is modified; then all values are assigned, converted to each target's dtype.

        Args:
            state_dict: names (``conv1.weight``) to arrays of the targets' shapes.
            strict: whether missing and unexpected keys are errors.

        Returns:
            ``(missing_keys, unexpected_keys)``.

        Raises:
            TypeError: ``state_dict`` is not a mapping.
            ValueError: naming every bad key, shape or dtype.
        """
        if not isinstance(state_dict, abc.Mapping):
            raise TypeError(f"{type(self).__name__}.load_state_dict: expected a mapping of names to arrays, "
                            f"got {type(state_dict).__name__}")
        own: dict[str, Tensor] = {}
        for mod_name, mod in self.named_modules():
            pre = f"{mod_name}." if mod_name else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    own[pre + name] = p
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    own[pre + name] = b
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        converted = {}
        for k, target in own.items():
            if k in state_dict:
                arr, problem = _converted(k, state_dict[k], target.data)
                if problem:
                    problems.append(problem)
                else:
                    converted[k] = arr
        if problems:
            raise ValueError(
                f"load_state_dict: cannot load into {type(self).__name__}: " + "; ".join(problems)
            )
        for k, arr in converted.items():
            own[k].data = arr
        return IncompatibleKeys(missing, unexpected)

    # --- printing --------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {child_repr}")
        head = type(self).__name__ + "("
        if not lines:
            return head + ")"
        if len(lines) == 1 and not self._modules:
            return head + lines[0] + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


class RemovableHandle:
    """Returned by ``register_forward_hook``; ``handle.remove()`` detaches the hook."""

    _next_id = 0

    def __init__(self, hooks: "OrderedDict[int, Any]") -> None:
        self.hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self.hooks.pop(self.id, None)


def _converted(name: str, value: Any, target: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """``value`` as a new array of ``target``'s dtype, or the reason it cannot be loaded into it."""
    try:
        arr = as_array(value)
    except (ValueError, TypeError) as e:  # e.g. a ragged nested list
        return None, f"{name}: not an array ({e})"
    if arr.dtype.kind not in "biuf":
        return None, f"{name}: dtype {arr.dtype} in the state_dict; only bool, integer and floating values load"
    if arr.shape != target.shape:
        return None, f"{name}: shape {tuple(arr.shape)} in the state_dict but {tuple(target.shape)} in the model"
    # Casts report overflow (1e300 into float32) and invalid values (NaN into int64) through
    # NumPy's floating-point error state; raise them rather than load inf or garbage integers.
    try:
        with np.errstate(over="raise", invalid="raise"):
            return np.array(arr, dtype=target.dtype, copy=True), None
    except (FloatingPointError, OverflowError, ValueError) as e:
        return None, f"{name}: {arr.dtype} values do not fit the model's {target.dtype} ({e})"

