"""RMSprop: divide the gradient by a running root-mean-square of recent gradients.

Shape legend: every array here has its parameter's shape (*), and its dtype.

PyTorch's algorithm (torch.optim.RMSprop), for each parameter p with gradient g:

    g  <- -g                                   if maximize
    g  <- g + weight_decay * p
    v  <- alpha v + (1 - alpha) g^2            (state "square_avg")
    m  <- alpha m + (1 - alpha) g              (state "grad_avg", only if centered)
    d   = sqrt(v - m^2) + eps   if centered else   sqrt(v) + eps
    b  <- momentum b + g / d;  p <- p - lr b   if momentum > 0   (state "momentum_buffer")
    p  <- p - lr g / d                          otherwise
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from .optimizer import Optimizer, check_nonnegative

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e; centered form from Graves, 2013), as torch.optim.RMSprop.

    Args:
        params: Parameters, (name, Parameter) pairs or parameter-group dicts.
        lr: learning rate.
        alpha: smoothing constant of the running averages.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty added to the gradient.
        momentum: momentum factor.
        centered: normalise by an estimate of the gradient's variance instead of its second moment.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> opt = RMSprop(model.parameters(), lr=0.01, momentum=0.9)
    """

    _state_keys = frozenset({"step", "square_avg", "momentum_buffer", "grad_avg"})  # checked by load_state_dict

    def _required_state(self, group: dict[str, Any]) -> set[str]:
        """The state entries ``step`` reads under ``group``'s settings."""
        need = {"step", "square_avg"}
        if group.get("momentum", 0) > 0:
            need.add("momentum_buffer")
        if group.get("centered"):
            need.add("grad_avg")
        return need

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        for name in ("lr", "eps", "momentum", "weight_decay", "alpha"):
            check_nonnegative("RMSprop", "learning rate" if name == "lr" else name, group[name])

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One RMSprop update of every parameter with a gradient; returns ``closure()`` if given."""
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
            weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
            for p, g in self._grads(group):
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = np.zeros_like(p.data)  # (*)
                    if momentum > 0:
                        state["momentum_buffer"] = np.zeros_like(p.data)  # (*)
                    if group["centered"]:
                        state["grad_avg"] = np.zeros_like(p.data)  # (*)
                state["step"] += 1
                if group["maximize"]:
                    g = -g  # (*)
                if weight_decay != 0:
                    g = g + weight_decay * p.data  # (*)
                square_avg = state["square_avg"]
                square_avg *= alpha
                square_avg += (1 - alpha) * (g * g)
                if group["centered"]:
                    grad_avg = state["grad_avg"]
                    grad_avg += (1 - alpha) * (g - grad_avg)  # lerp towards g, as PyTorch
                    avg = np.sqrt(square_avg - grad_avg * grad_avg)  # (*)
                else:
                    avg = np.sqrt(square_avg)  # (*)
                avg += eps
                if momentum > 0:
                    buf = state["momentum_buffer"]
                    buf *= momentum
                    buf += g / avg
                    p.data -= lr * buf
                else:
                    p.data -= lr * (g / avg)
        return loss
