"""Adagrad: per-coordinate learning rates from the sum of squared gradients.

Shape legend: every array here has its parameter's shape (*), and its dtype.

PyTorch's algorithm (torch.optim.Adagrad), for each parameter p with gradient g at step t:

    g   <- -g                        if maximize
    g   <- g + weight_decay * p
    clr  = lr / (1 + (t - 1) * lr_decay)
    s   <- s + g^2                    (state "sum", starts at initial_accumulator_value)
    p   <- p - clr * g / (sqrt(s) + eps)
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from .optimizer import Optimizer, check_nonnegative

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011), as torch.optim.Adagrad.

    Args:
        params: Parameters, (name, Parameter) pairs or parameter-group dicts.
        lr: learning rate.
        lr_decay: the rate decays as lr / (1 + (t - 1) * lr_decay).
        weight_decay: L2 penalty added to the gradient.
        initial_accumulator_value: starting value of the sum of squares.
        eps: added to the root of the sum for numerical stability.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> opt = Adagrad(model.parameters(), lr=0.01)
    """

    _state_keys = frozenset({"step", "sum"})  # checked by load_state_dict

    def _required_state(self, group: dict[str, Any]) -> set[str]:
        """The state entries ``step`` reads under ``group``'s settings."""
        return {"step", "sum"}

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        # As PyTorch, the state exists from construction on (so state_dict() shows it).
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(p.data, group["initial_accumulator_value"])  # (*)
        return state

    def _check_group(self, group: dict[str, Any]) -> None:
        for name in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_nonnegative("Adagrad", "learning rate" if name == "lr" else name, group[name])

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adagrad update of every parameter with a gradient; returns ``closure()`` if given."""
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, lr_decay = float(group["lr"]), float(group["lr_decay"])
            eps, weight_decay = float(group["eps"]), float(group["weight_decay"])
            for p, g in self._grads(group):
                state = self._init_state(p, group)
                state["step"] += 1
                if group["maximize"]:
                    g = -g  # (*)
                if weight_decay != 0:
                    g = g + weight_decay * p.data  # (*)
                clr = lr / (1 + (state["step"] - 1) * lr_decay)
                state["sum"] += g * g
                std = np.sqrt(state["sum"])  # (*)
                std += eps
                p.data -= clr * g / std
        return loss
