"""Adadelta: per-coordinate steps whose units come from running averages of past steps.

Shape legend: every array here has its parameter's shape (*), and its dtype.

PyTorch's algorithm (torch.optim.Adadelta), for each parameter p with gradient g:

    g  <- -g                                          if maximize
    g  <- g + weight_decay * p
    v  <- rho v + (1 - rho) g^2                       (state "square_avg", E[g^2])
    d   = sqrt(u + eps) / sqrt(v + eps) * g            (u: state "acc_delta", E[dx^2])
    u  <- rho u + (1 - rho) d^2
    p  <- p - lr d

Zeiler (2012), "ADADELTA: An Adaptive Learning Rate Method", Algorithm 1, is the case lr = 1:
the ratio of the two root-mean-squares gives the step the units of the parameter, so no
global learning rate is needed. Kim (2014) trains TextCNN with it (rho = 0.95, eps = 1e-6).
eps sits inside both roots, exactly where PyTorch and Zeiler put it.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from .optimizer import Optimizer, check_nonnegative

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012), as torch.optim.Adadelta.

    Args:
        params: Parameters, (name, Parameter) pairs or parameter-group dicts.
        lr: scales the step (1.0 is Zeiler's algorithm).
        rho: decay rate of both running averages, in [0, 1].
        eps: added inside both square roots (it also sets the size of the first steps,
            sqrt(eps) / sqrt(v + eps) * g, since E[dx^2] starts at zero).
        weight_decay: L2 penalty added to the gradient.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> opt = Adadelta(model.parameters(), rho=0.95)  # Kim (2014)'s setting
    """

    _state_keys = frozenset({"step", "square_avg", "acc_delta"})  # checked by load_state_dict

    def _required_state(self, group: dict[str, Any]) -> set[str]:
        """The state entries ``step`` reads (whatever the group's settings)."""
        return {"step", "square_avg", "acc_delta"}

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        name = self._name
        check_nonnegative(name, "learning rate", group["lr"])
        check_nonnegative(name, "epsilon", group["eps"])
        check_nonnegative(name, "weight_decay", group["weight_decay"])
        rho = group["rho"]
        if not isinstance(rho, (int, float, np.integer, np.floating)) or isinstance(rho, bool):
            raise TypeError(f"{name}: rho must be a number, got {rho!r}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"{name}: invalid rho {rho!r} (must be in [0, 1])")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adadelta update of every parameter with a gradient; returns ``closure()`` if given."""
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, rho = float(group["lr"]), float(group["rho"])
            eps, weight_decay = float(group["eps"]), float(group["weight_decay"])
            for p, g in self._grads(group):
                state = self.state[p]
                if not state:  # lazily, at the first step, as PyTorch
                    state["step"] = 0
                    state["square_avg"] = np.zeros_like(p.data)  # (*) E[g^2]
                    state["acc_delta"] = np.zeros_like(p.data)  # (*) E[dx^2]
                state["step"] += 1
                if group["maximize"]:
                    g = -g  # (*)
                if weight_decay != 0:
                    g = g + weight_decay * p.data  # (*)
                square_avg, acc_delta = state["square_avg"], state["acc_delta"]
                rows = _rows_with_gradient(g, eps)
                if rows is None:
                    _update(p.data, g, square_avg, acc_delta, lr, rho, eps)
                    continue
                # Only a few rows have a gradient (an embedding table: the batch's words).
                # Every other row's update, computed densely, is v <- rho v + (1 - rho) 0^2 =
                # rho v, d = sqrt(u + eps) / sqrt(v + eps) * 0 = 0, u <- rho u, p <- p - 0: its
                # averages decay and the parameter stays. So decay everything, then redo the
                # rows with a gradient from their undecayed averages -- the same floats as the
                # dense update, without its ten passes over the whole table.
                v, u = square_avg[rows], acc_delta[rows]  # (R, ...) copies, before the decay
                square_avg *= rho
                acc_delta *= rho
                w = p.data[rows]
                _update(w, g[rows], v, u, lr, rho, eps)
                p.data[rows], square_avg[rows], acc_delta[rows] = w, v, u
        return loss


def _update(p: np.ndarray, g: np.ndarray, square_avg: np.ndarray, acc_delta: np.ndarray,
            lr: float, rho: float, eps: float) -> None:
    """One Adadelta step of ``p`` in place (all arrays of one shape), in PyTorch's order of operations."""
    square_avg *= rho
    square_avg += (1 - rho) * (g * g)
    std = np.sqrt(square_avg + eps)  # (*)
    delta = np.sqrt(acc_delta + eps)  # (*)
    delta /= std
    delta *= g
    acc_delta *= rho
    acc_delta += (1 - rho) * (delta * delta)
    delta *= lr
    p -= delta


def _rows_with_gradient(g: np.ndarray, eps: float) -> np.ndarray | None:
    """The indices of the rows (first axis) of ``g`` holding a nonzero, when they are at most a
    quarter of the rows of a table large enough to be worth the look; else None (update densely).

    eps > 0 keeps the skipped rows' step sqrt(u + eps) / sqrt(v + eps) * 0 an exact zero (with
    eps = 0 a never-updated row would give 0 / 0 * 0 = NaN, as it does in the dense update).
    """
    if g.ndim < 2 or g.size < _SPARSE_MIN_SIZE or not eps > 0:
        return None
    rows = np.flatnonzero(g.reshape(g.shape[0], -1).any(axis=1))  # NaN counts as nonzero
    return rows if 4 * rows.size <= g.shape[0] else None


# Below this many elements the dense update is cheap and the row test is not worth a pass.
_SPARSE_MIN_SIZE = 1 << 16
