"""Check an op's backward against central finite differences in float64.

For a function f of tensors x_1..x_k, pick a fixed random cotangent R of f's output
shape and let L = sum(f(x) * R). Backward gives dL/dx_i; the check compares every
element with the central difference

    (L(x + eps e_j) - L(x - eps e_j)) / (2 eps)

which is exact to O(eps^2) in float64. On failure the error names the input, the
element with the worst mismatch and both values.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .autograd import no_grad
from .tensor import Tensor

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when analytical and numerical gradients disagree."""


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
    raise_exception: bool = True,
) -> bool:
    """Compare the gradients from ``backward`` with central differences.

    Args:
        fn: function of ``inputs`` returning one Tensor.
        inputs: Tensors (those with ``requires_grad=True`` are checked; they must be
            float64) and any other arguments, passed positionally to ``fn``.
        eps: finite-difference step.
        atol, rtol: an element passes if |analytic - numeric| <= atol + rtol * |numeric|.
        seed: seed of the random cotangent R.
        raise_exception: raise ``GradcheckError`` on failure (else return False).

    Returns:
        True when every checked element passes.

    Example:
        >>> x = juanji.randn(3, 4, dtype=np.float64, requires_grad=True)
        >>> juanji.gradcheck(lambda t: (t * t).sum(dim=1), [x])
        True
    """
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} has dtype {inputs[i].dtype}; finite differences need float64"
            )

    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    rng = np.random.default_rng(seed)
    cot = rng.standard_normal(out.shape)

    for i in checked:
        inputs[i].grad = None
    out.backward(cot)
    analytic = {i: (inputs[i].grad.data.copy() if inputs[i].grad is not None
                    else np.zeros(inputs[i].shape)) for i in checked}

    def objective() -> float:
        with no_grad():
            return float(np.sum(fn(*inputs).data * cot))

    for i in checked:
        x = inputs[i].data
        numeric = np.zeros(x.shape)
        for index in np.ndindex(x.shape):  # in place, whatever the layout (a batch-last view too)
            orig = x[index]
            x[index] = orig + eps
            plus = objective()
            x[index] = orig - eps
            minus = objective()
            x[index] = orig
            numeric[index] = (plus - minus) / (2 * eps)
        err = np.abs(analytic[i] - numeric) - (atol + rtol * np.abs(numeric))
        if err.size and err.max() > 0:
            worst = np.unravel_index(int(np.argmax(err)), err.shape)
            msg = (
                f"gradcheck: gradient of input {i} (shape {x.shape}) is wrong at index {worst}: "
                f"backward gives {analytic[i][worst]:.8g}, finite differences give "
                f"{numeric[worst]:.8g} ({int((err > 0).sum())} of {err.size} elements fail, "
                f"atol={atol}, rtol={rtol})"
            )
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True
