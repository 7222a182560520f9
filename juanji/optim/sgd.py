"""SGD: stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

Shape legend: every array here has its parameter's shape (*), and its dtype.

PyTorch's algorithm (torch.optim.SGD), for each parameter p with gradient g:

    g <- -g                                 if maximize
    g <- g + weight_decay * p               (L2 penalty)
    b <- g                                  first step
    b <- momentum * b + (1 - dampening) g   later steps   (b: state "momentum_buffer")
    g <- g + momentum * b  if nesterov else  b             (only when momentum != 0)
    p <- p - lr * g
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from .optimizer import Optimizer, check_nonnegative

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum), as torch.optim.SGD.

    Args:
        params: Parameters, (name, Parameter) pairs or parameter-group dicts.
        lr: learning rate.
        momentum: momentum factor (0 disables the buffer).
        dampening: dampening of the momentum: the new gradient enters with weight 1 - dampening.
        weight_decay: L2 penalty added to the gradient.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening == 0).
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> opt.zero_grad(); loss.backward(); opt.step()
    """

    _state_keys = frozenset({"momentum_buffer"})  # checked by load_state_dict

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_nonnegative("SGD", "learning rate", group["lr"])
        check_nonnegative("SGD", "momentum", group["momentum"])
        check_nonnegative("SGD", "weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum requires a momentum > 0 and zero dampening, got "
                             f"momentum={group['momentum']} dampening={group['dampening']}")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One SGD update of every parameter with a gradient; returns ``closure()`` if given."""
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, momentum = float(group["lr"]), float(group["momentum"])
            dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])
            for p, g in self._grads(group):
                d_p = -g if group["maximize"] else g  # (*)
                if weight_decay != 0:
                    d_p = d_p + weight_decay * p.data  # (*)
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = d_p.copy()  # (*)
                    else:
                        buf *= momentum
                        buf += (1 - dampening) * d_p
                    d_p = d_p + momentum * buf if group["nesterov"] else buf  # (*)
                p.data -= lr * d_p
        return loss
