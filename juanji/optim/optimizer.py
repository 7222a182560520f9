"""Optimizer: the base class of every juanji optimizer, with PyTorch's structure.

An optimizer holds ``param_groups``, a list of dicts each with a ``"params"`` list and
that group's hyper-parameters (``lr``, ``weight_decay`` ...), and ``state``, a dict from
parameter to that parameter's running buffers (momentum, moment estimates ...).
``step()`` updates every parameter that has a gradient, in place on ``p.data`` and in
the parameter's own dtype: a float32 model stays float32 and its state arrays are
float32 too.

``state_dict()`` follows PyTorch's layout, with parameters replaced by their index in
the order the groups list them:

    {"state": {0: {"step": 3, "exp_avg": ndarray, ...}, 1: {...}},
     "param_groups": [{"lr": 0.01, ..., "params": [0, 1]}, ...]}

plus ``"optimizer_class": "Adam"`` (a key PyTorch does not have, and ignores), so that an
optimizer refuses another's state when it is loaded instead of failing at its next step.
The arrays are NumPy arrays, so the dict can be written to ``.npz`` or safetensors.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from ..autograd import enable_grad
from ..tensor import Tensor

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyper-parameter with no default: every group must give it."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def check_nonnegative(op: str, name: str, value: Any) -> None:
    """Raise a ValueError naming the optimizer unless ``value`` is a number >= 0."""
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be a number, got {value!r}")
    if not value >= 0.0:
        raise ValueError(f"{op}: invalid {name} {value!r} (must be >= 0)")


class Optimizer:
    """Base class: parameter groups, per-parameter state, zero_grad, state_dict.

    Subclasses pass their defaults (hyper-parameter dict) to ``__init__``, check a
    group's hyper-parameters in ``_check_group`` and implement ``step``.

    Args:
        params: an iterable of Parameters, of ``(name, Parameter)`` pairs, or of dicts
            (parameter groups: ``{"params": [...], "lr": 0.1}``); a group's missing
            hyper-parameters are taken from ``defaults``.
        defaults: the optimizer's default hyper-parameters.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(f"{self._name}: params should be an iterable of Parameters or dicts, "
                            f"got a single {type(params).__name__} (wrap it in a list)")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{self._name}: parameters must be given in an ordered collection (a list), "
                            "not a set, whose order changes between runs")
        groups = list(params)
        if len(groups) == 0:
            raise ValueError(f"{self._name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k not in ("params", "param_names")):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    # --- groups ----------------------------------------------------------------------------
    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate one group's hyper-parameters (subclasses override)."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (e.g. a new layer to fine-tune).

        Args:
            param_group: ``{"params": Parameter or iterable of them, **hyper-parameters}``;
                hyper-parameters left out take the optimizer's defaults.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name}: a param group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{self._name}: a param group needs a 'params' entry, got keys {sorted(param_group)}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{self._name}: parameters must be given in an ordered collection (a list), "
                            "not a set, whose order changes between runs")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        if names:
            if len(names) != len(params):
                raise ValueError(f"{self._name}: give either all parameters with names or none")
            params = [p[1] for p in params]
            group["param_names"] = names
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name}: can only optimize Tensors, but parameter {i} of the group "
                                f"is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{self._name}: can't optimize a non-leaf Tensor (parameter {i}, "
                                 f"shape {p.shape}); optimize the leaf it was computed from")
            if p.dtype.kind != "f":
                raise TypeError(f"{self._name}: parameter {i} has dtype {p.dtype}; "
                                "only floating point can be optimized")
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self._name}: a parameter group lists the same parameter twice")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if taken.intersection(ids):
            raise ValueError(f"{self._name}: some parameters appear in more than one parameter group")
        if self.param_groups and (("param_names" in group) != ("param_names" in self.param_groups[0])):
            raise ValueError(f"{self._name}: all parameter groups must be given with names or all without")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"{self._name}: parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        self._check_group(group)
        self.param_groups.append(group)

    # --- gradients and steps ---------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: drop it (default) or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif p.grad.data.flags.writeable:
                    p.grad.data.fill(0)
                else:
                    p.grad.data = np.zeros_like(p.grad.data)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update the parameters once from their gradients; returns ``closure()`` if given."""
        raise NotImplementedError(f"{self._name} does not define step()")

    def _closure(self, closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _grads(self, group: dict[str, Any]) -> Iterable[tuple[Tensor, np.ndarray]]:
        """(parameter, gradient array) for each parameter of the group that has a gradient.

        The gradient is in the parameter's dtype (a cast only if someone assigned a
        gradient of another dtype), so updates never promote a float32 parameter.
        """
        for i, p in enumerate(group["params"]):
            if p.grad is None:
                continue
            g = p.grad.data
            if g.shape != p.data.shape:
                raise ValueError(f"{self._name}: the gradient of parameter {i} has shape {g.shape} "
                                 f"but the parameter has shape {p.data.shape}")
            yield p, g.astype(p.data.dtype, copy=False)

    # --- state_dict ------------------------------------------------------------------------
    # The names of a parameter's state entries this optimizer keeps (None: not declared, as
    # in a user's subclass, so not checked), and those every non-empty entry must have.
    _state_keys: frozenset[str] | None = None

    def _required_state(self, group: dict[str, Any]) -> set[str]:
        """The entries a non-empty per-parameter state needs for ``step`` under ``group``."""
        return set()

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout, parameters replaced by indices; arrays copied.

        Beside PyTorch's ``state`` and ``param_groups`` it holds ``optimizer_class``, the
        class name (``"Adam"``), so that ``load_state_dict`` can refuse another optimizer's
        state (PyTorch ignores the extra key).
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, entry in self.state.items():
            if id(p) in index:
                state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in entry.items()}
        return {"state": state, "param_groups": groups, "optimizer_class": self._name}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` (this optimizer's, or a PyTorch optimizer's of the same kind).

        Everything is checked before anything changes: the optimizer class (recorded as
        ``optimizer_class``; a state without it, from PyTorch or an older juanji, must hold
        every hyper-parameter this optimizer has), the group count and each group's
        parameter count, the hyper-parameters' values, the names of the state entries, and
        every state array's shape and dtype (numeric, of its parameter's shape). Arrays are
        copied into the parameter's dtype; hyper-parameters (lr ...) come from the state_dict.

        Args:
            state_dict: ``{"state": {index: {name: value}}, "param_groups": [{..., "params":
                [index, ...]}], "optimizer_class": name}``; each state array has its
                parameter's shape.

        Raises:
            TypeError: ``state_dict`` is not a dict.
            ValueError: naming this optimizer and what does not fit (the other optimizer's
                name when the state is another optimizer's).
        """
        op = f"{self._name}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{op}: expected a dict with keys 'state' and 'param_groups', "
                            f"got {type(state_dict).__name__}")
        if "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{op}: expected a dict with keys 'state' and 'param_groups'")
        saved_name = state_dict.get("optimizer_class", self._name)
        if saved_name != self._name:
            raise ValueError(f"{op}: the state_dict is {saved_name}'s, not {self._name}'s; an optimizer "
                             f"loads only its own kind of state (resume it with {saved_name})")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, list):
            raise ValueError(f"{op}: 'param_groups' must be a list, got {type(saved_groups).__name__}")
        if not isinstance(saved_state, dict):
            raise ValueError(f"{op}: 'state' must be a dict, got {type(saved_state).__name__}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{op}: the state_dict has {len(saved_groups)} parameter groups "
                             f"but the optimizer has {len(self.param_groups)}")
        id_map: dict[int, Tensor] = {}
        group_of: dict[int, dict[str, Any]] = {}
        new_groups = []
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            ng = self._loaded_group(op, gi, saved, group)
            for k, p in zip(saved["params"], group["params"]):
                k = _index(k)
                if k in id_map:
                    raise ValueError(f"{op}: parameter index {k} appears twice in the state_dict's groups")
                id_map[k] = p
                group_of[k] = ng
            new_groups.append(ng)
        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for k, entry in saved_state.items():
            index = _index(k)
            if index is None or index not in id_map:
                raise ValueError(f"{op}: the state_dict has state for parameter index {k!r}, "
                                 f"but its groups list only indices {sorted(id_map)}")
            if not isinstance(entry, dict):
                raise ValueError(f"{op}: the state of parameter {index} must be a dict, got {type(entry).__name__}")
            self._check_state_names(op, index, entry, group_of[index])
            p = id_map[index]
            state[p] = {name: self._load_value(op, index, name, value, p) for name, value in entry.items()}
        self.state = state
        self.param_groups = new_groups

    def _loaded_group(self, op: str, gi: int, saved: Any, group: dict[str, Any]) -> dict[str, Any]:
        """A new parameter group from a saved one, checked; the optimizer is not touched."""
        if not isinstance(saved, dict):
            raise ValueError(f"{op}: parameter group {gi} must be a dict, got {type(saved).__name__}")
        indices = saved.get("params")
        if not isinstance(indices, list) or not all(_index(k) is not None for k in indices):
            raise ValueError(f"{op}: parameter group {gi} must list its parameters as int indices under "
                             f"'params', got {indices!r:.80}")
        if len(indices) != len(group["params"]):
            raise ValueError(f"{op}: parameter group {gi} has {len(indices)} parameters in the "
                             f"state_dict but {len(group['params'])} in the optimizer")
        missing = sorted(k for k in self.defaults if k not in saved)
        if missing:
            # A state without the class name (PyTorch's, an older juanji's): another optimizer's
            # groups lack this one's hyper-parameters; say whose they look like.
            raise ValueError(f"{op}: parameter group {gi} of the state_dict lacks {self._name}'s "
                             f"hyper-parameters {missing}{_whose(saved)}")
        ng = {key: copy.deepcopy(v) for key, v in saved.items() if key != "params"}
        ng["params"] = group["params"]
        if "param_names" in group and "param_names" not in ng:
            ng["param_names"] = group["param_names"]
        try:
            self._check_group(ng)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{op}: parameter group {gi}: {e}") from e
        return ng

    def _check_state_names(self, op: str, index: int, entry: dict[str, Any], group: dict[str, Any]) -> None:
        if self._state_keys is None:
            return
        foreign = sorted(str(n) for n in entry if n not in self._state_keys)
        if foreign:
            raise ValueError(f"{op}: the state of parameter {index} has entries {self._name} does not keep: "
                             f"{foreign}")
        lacking = sorted(self._required_state(group) - set(entry)) if entry else []
        if lacking:
            raise ValueError(f"{op}: the state of parameter {index} lacks {lacking}, which {self._name}'s step "
                             "needs with this group's settings")

    def _load_value(self, op: str, index: int, name: str, value: Any, p: Tensor) -> Any:
        """A state entry as juanji keeps it: ``step`` a number, arrays in the parameter's dtype."""
        if name == "step":
            try:
                v = float(np.asarray(value)) if not isinstance(value, (str, bool)) else math.nan
            except (TypeError, ValueError):
                v = math.nan
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{op}: state 'step' of parameter {index} must be a finite number >= 0, "
                                 f"got {value!r:.60}")
            return int(v) if v.is_integer() else v
        declared = self._state_keys is not None  # then every other entry is a buffer of p's shape
        if value is None or (not declared and isinstance(value, (int, float, bool, str))):
            return value  # PyTorch's SGD saves momentum_buffer=None before its first step
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{op}: state {name!r} of parameter {index} is not an array ({e})") from e
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{op}: state {name!r} of parameter {index} has dtype {arr.dtype}; only numeric "
                             "arrays load")
        if arr.ndim == 0 and not declared:
            return arr.item()
        if arr.ndim == 0:
            raise ValueError(f"{op}: state {name!r} of parameter {index} must be an array of shape "
                             f"{p.data.shape}, got the scalar {value!r:.40}")
        if arr.shape != p.data.shape:
            raise ValueError(f"{op}: state {name!r} of parameter {index} has shape {arr.shape} "
                             f"but the parameter has shape {p.data.shape}")
        try:
            with np.errstate(over="raise", invalid="raise"):
                return np.array(arr, dtype=p.data.dtype, copy=True)
        except FloatingPointError as e:
            raise ValueError(f"{op}: state {name!r} of parameter {index}: {arr.dtype} values do not fit the "
                             f"parameter's {p.data.dtype} ({e})") from e


def _index(k: Any) -> int | None:
    """A parameter index: an int (or its decimal string, as a JSON round trip leaves it), else None."""
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        return int(k)
    if isinstance(k, str) and k.isascii() and k.isdigit():
        return int(k)
    return None


def _whose(group: dict[str, Any]) -> str:
    """`` (it holds those of Adam or AdamW)``: the known optimizers whose hyper-parameters ``group`` has."""
    names = []
    todo = list(Optimizer.__subclasses__())
    while todo:
        cls = todo.pop(0)
        todo.extend(cls.__subclasses__())
        if not cls.__module__.startswith("juanji."):  # juanji's own optimizers only: a guess, not a lookup
            continue
        try:
            signature = inspect.signature(cls.__init__)
        except (TypeError, ValueError):  # a user's class with an opaque __init__: no guess
            continue
        hyper = {n for n, prm in signature.parameters.items()
                 if n not in ("self", "params") and prm.kind not in (prm.VAR_KEYWORD, prm.VAR_POSITIONAL)}
        if hyper and hyper <= set(group):
            names.append(cls.__name__)
    return f" (it holds those of {' or '.join(sorted(names))})" if names else ""
