"""The autograd tape: differentiable Functions, gradient mode and the backward pass.

A forward call of ``SomeFunction.apply(x, w, stride=2)`` runs ``forward`` on the raw
arrays and, when gradients are wanted, records the Function object as the creator
(``_ctx``) of the output Tensor. The Function keeps the Tensors it was called with
(``inputs``) and whatever it chose to keep for backward through one named mechanism,
``save_for_backward``. ``Tensor.backward`` later walks these records in reverse
topological order, calling each ``backward`` once with the gradient of its output.

Under ``no_grad`` nothing is recorded and nothing is kept: the Function object is
dropped as soon as forward returns.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

__all__ = [
    "Function",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
]

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside a ``no_grad`` block."""
    return getattr(_state, "grad_enabled", True)


def _set_enabled(mode: bool) -> None:
    _state.grad_enabled = bool(mode)


if TYPE_CHECKING:
    from .tensor import Tensor


class _GradMode(contextlib.ContextDecorator):
    """Context manager (and decorator) that sets gradient recording on or off."""

    def __init__(self, mode: bool) -> None:
        self.mode = mode
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(is_grad_enabled())
        _set_enabled(self.mode)

    def __exit__(self, *exc: object) -> None:
        _set_enabled(self._previous.pop())


def no_grad() -> _GradMode:
    """Disable graph recording: ``with juanji.no_grad(): y = model(x)``.

    Inside the block every op returns a Tensor with ``requires_grad=False`` and keeps
    no forward cache, so inference uses only the memory of the activations themselves.
    Also usable as a decorator: ``@juanji.no_grad()``.
    """
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Re-enable graph recording inside a ``no_grad`` block."""
    return _GradMode(True)


def set_grad_enabled(mode: bool) -> _GradMode:
    """Set graph recording on or off for a ``with`` block."""
    return _GradMode(mode)


# Set by juanji.onnx's exporter while an export runs, None otherwise: called as
# ``_trace_hook(fn, args, kwargs, result)`` after every op's forward, so one forward pass can be
# recorded as a graph. Outside an export, apply pays one global None check for it.
_trace_hook: Any = None


class Function:
    """Base class of every differentiable op.

    Subclasses implement ``forward(*arrays, **params) -> array`` and
    ``backward(grad_output) -> tuple`` with one gradient (or None) per positional
    argument of forward. Inside forward, ``self.requires_grad`` says whether a
    backward pass can happen, so an op can skip building caches it would not need;
    ``self.needs_input_grad[i]`` says whether input ``i`` wants a gradient.
    """

    def __init__(self) -> None:
        self.inputs: tuple[Any, ...] = ()
        self.needs_input_grad: tuple[bool, ...] = ()
        self.requires_grad = False
        self._saved: tuple[Any, ...] | None = ()
        self._released = False

    # --- what forward keeps for backward -------------------------------------------------
    def save_for_backward(self, *values: Any) -> None:
        """Keep ``values`` (arrays, shapes, flags) for backward; nothing is kept in no_grad."""
        self._saved = values if self.requires_grad else ()

    @property
    def saved(self) -> tuple[Any, ...]:
        if self._released:
            raise RuntimeError(
                f"{type(self).__name__}.backward: the graph was freed by an earlier backward(); "
                "call backward(retain_graph=True) the first time to backpropagate twice"
            )
        return self._saved  # type: ignore[return-value]

    def release(self) -> None:
        """Drop the cache and the input references once backward has used them."""
        self._saved = None
        self.inputs = ()
        self._released = True

    # --- the op itself -------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, grad_output: np.ndarray) -> tuple[np.ndarray | None, ...] | np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> "Tensor":
        """Run forward on the arrays behind ``args`` and record the op on the tape."""
        from .tensor import Tensor

        fn = cls()
        arrays = [a.data if isinstance(a, Tensor) else a for a in args]
        fn.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        fn.requires_grad = is_grad_enabled() and any(fn.needs_input_grad)
        out = fn.forward(*arrays, **kwargs)
        result = Tensor._make(out, requires_grad=fn.requires_grad)
        if fn.requires_grad:
            fn.inputs = tuple(args)
            result._ctx = fn
        if _trace_hook is not None:
            _trace_hook(fn, args, kwargs, result)
        return result


def _topological_order(root: "Tensor") -> list["Tensor"]:
    """Tensors reachable from ``root`` through recorded ops, inputs before outputs."""
    from .tensor import Tensor

    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            if ctx._released:
                # Raise here, before any gradient is written anywhere.
                ctx.saved  # noqa: B018 - raises the explanatory RuntimeError
            parents = [p for p in ctx.inputs
                       if isinstance(p, Tensor) and p.requires_grad and id(p) not in visited]
            # Leaves (parameters) go below the op's other inputs on the stack, so they are
            # finished after that op's whole subgraph: each leaf then sits right before its
            # first consumer in the order, and backward hands it its gradient as soon as that
            # op's backward has run, not after the rest of the network. That is what lets
            # post-accumulate hooks (DistributedDataParallel's allreduce) start during backward.
            # Non-leaf inputs keep their relative order, so the sums are unchanged.
            stack.extend((p, False) for p in parents if p._ctx is None)
            stack.extend((p, False) for p in parents if p._ctx is not None)
    return order


def run_backward(root: "Tensor", grad: np.ndarray, retain_graph: bool) -> None:
    """Propagate ``grad`` (d loss / d root) to every leaf that requires a gradient.

    Gradients of a tensor used several times (a residual branch, an Inception module)
    are summed before its creator's backward runs, which the topological order ensures.
    """
    from .tensor import Tensor

    grads: dict[int, np.ndarray] = {id(root): grad}
    order = _topological_order(root)
    while order:
        # Pop rather than iterate, so a node (and the activation it holds) can be freed as
        # soon as its gradient has been passed on, instead of living until backward ends.
        node = order.pop()
        g = grads.pop(id(node), None)
        if g is None:
            continue
        ctx = node._ctx
        if ctx is None:
            node._accumulate_grad(g)
            # The leaf's gradient for this backward is final here: every consumer came before it.
            hooks = node._post_accumulate_grad_hooks
            if hooks:
                for hook in list(hooks.values()):
                    hook(node)
            continue
        input_grads = ctx.backward(g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(ctx.inputs):
            raise RuntimeError(
                f"{type(ctx).__name__}.backward returned {len(input_grads)} gradients "
                f"for {len(ctx.inputs)} inputs"
            )
        for parent, pg in zip(ctx.inputs, input_grads):
            if pg is None or not isinstance(parent, Tensor) or not parent.requires_grad:
                continue
            if pg.shape != parent.shape:
                raise RuntimeError(
                    f"{type(ctx).__name__}.backward: gradient shape {pg.shape} does not match "
                    f"input shape {parent.shape}"
                )
            if pg.dtype != parent.dtype:
                pg = pg.astype(parent.dtype)
            key = id(parent)
            grads[key] = grads[key] + pg if key in grads else pg
        if not retain_graph:
            ctx.release()

