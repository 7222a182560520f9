"""Loss functions: cross-entropy, negative log-likelihood, MSE, L1 and binary cross-entropy.

Shape legend:
    N   batch size
    C   number of classes
    *   any extra dims: (d1, ..., dk), e.g. (H, W) for per-pixel segmentation losses
    P   number of target positions: N * d1 * ... * dk

Class losses take input (N, C, *) and a target of class indices (N, *) (or class
probabilities (N, C, *) for ``cross_entropy``); an unbatched input (C,) goes with a
scalar index target (or a (C,) probability target). Element-wise losses take input and
target of one and the same shape. ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``
(``"none"`` keeps the per-position losses, shape (N, *) or the input's shape).

Weights (``weight``, ``pos_weight``) are constants, as in PyTorch: no gradient flows to
them. Probability and element-wise targets do receive gradients, as in PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Function
from ..backend import xp
from ..tensor import Tensor

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy_with_logits",
           "binary_cross_entropy"]

_REDUCTIONS = ("mean", "sum", "none")


# --- argument checks (kept apart from the math) ------------------------------------------------
def _check_reduction(op: str, reduction: Any) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _check_float_tensor(op: str, x: Any, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a juanji.Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be floating point, got dtype {x.dtype}")
    return x


def _check_pair(op: str, x: Any, y: Any) -> tuple[Tensor, Any]:
    """Input and target of an element-wise loss: same shape, same float dtype, no broadcasting."""
    _check_float_tensor(op, x, "input")
    y_arr = y.data if isinstance(y, Tensor) else xp.asarray(y)
    if y_arr.dtype.kind != "f":
        raise TypeError(f"{op}: target must be floating point, got dtype {y_arr.dtype} "
                        f"(convert integer labels with .float())")
    if y_arr.shape != x.shape:
        raise ValueError(f"{op}: target shape {y_arr.shape} does not match input shape {x.shape} "
                         f"(no broadcasting; reshape one of them)")
    if y_arr.dtype != x.dtype:
        raise TypeError(f"{op}: target dtype {y_arr.dtype} differs from input dtype {x.dtype}")
    return x, (y if isinstance(y, Tensor) else Tensor._make(y_arr))


def _elementwise_weight(op: str, w: Any, x: Tensor, name: str) -> np.ndarray | None:
    """A constant weight that broadcasts to the input's shape (and does not grow it)."""
    if w is None:
        return None
    arr = w.data if isinstance(w, Tensor) else xp.asarray(w)
    try:
        ok = np.broadcast_shapes(arr.shape, x.shape) == x.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{op}: {name} shape {arr.shape} cannot be broadcast to input shape {x.shape}")
    return arr.astype(x.dtype, copy=False)


def _check_class_args(op: str, x: Any, target: Any, weight: Any, ignore_index: int,
                      allow_probs: bool) -> tuple[Tensor, Any, np.ndarray | None, bool]:
    """Validate (input, target, weight) of a class loss; returns them and "target is probabilities".

    Index targets must lie in [0, C) unless equal to ``ignore_index``.
    """
    _check_float_tensor(op, x, "input")
    if x.ndim < 1:
        raise ValueError(f"{op}: input must have shape (C,) or (N, C, *), got a 0-d tensor")
    C = x.shape[0] if x.ndim == 1 else x.shape[1]
    t_arr = target.data if isinstance(target, Tensor) else xp.asarray(target)
    index_shape = () if x.ndim == 1 else x.shape[:1] + x.shape[2:]
    if t_arr.dtype.kind in "iu":
        if t_arr.shape != index_shape:
            probs = f" or {x.shape} for probabilities" if allow_probs else ""
            raise ValueError(f"{op}: target shape {t_arr.shape} does not match input shape {x.shape}: "
                             f"expected {index_shape} for class indices{probs}")
        bad = (t_arr != ignore_index) & ((t_arr < 0) | (t_arr >= C))
        if bad.any():
            value = int(t_arr[bad].reshape(-1)[0])
            raise ValueError(f"{op}: target value {value} is out of range [0, {C}) for input with {C} "
                             f"classes (ignore_index={ignore_index})")
        is_probs = False
    elif t_arr.dtype.kind == "f" and allow_probs:
        if t_arr.shape != x.shape:
            raise ValueError(f"{op}: probability target shape {t_arr.shape} must equal input shape {x.shape} "
                             f"(class-index targets must be integers of shape {index_shape})")
        if t_arr.dtype != x.dtype:
            raise TypeError(f"{op}: probability target dtype {t_arr.dtype} differs from input dtype {x.dtype}")
        is_probs = True
    else:
        kinds = "integer class indices or floating-point probabilities" if allow_probs else "integer class indices"
        raise TypeError(f"{op}: target must hold {kinds}, got dtype {t_arr.dtype}")
    w = None
    if weight is not None:
        w = weight.data if isinstance(weight, Tensor) else xp.asarray(weight)
        if w.shape != (C,):
            raise ValueError(f"{op}: weight has shape {w.shape} but input has {C} classes "
                             f"(expected shape ({C},))")
        w = w.astype(x.dtype, copy=False)  # (C,)
    return x, target if is_probs else t_arr, w, is_probs


def _scale(g: np.ndarray, reduction: str, count: Any) -> np.ndarray:
    """d(reduced loss)/d(per-element loss) times the incoming gradient ``g``.

    none: g itself (same shape as the losses); sum: g (0-d, broadcasts); mean: g / count.
    """
    if reduction == "mean":
        return g / count
    return g


def _reduce(loss: np.ndarray, reduction: str, count: Any = None) -> np.ndarray:
    """Sum or mean of per-element losses; ``count`` replaces the element count for a weighted mean."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return xp.asarray(total, dtype=loss.dtype)  # ()
    n = loss.size if count is None else count
    with np.errstate(invalid="ignore", divide="ignore"):
        return xp.asarray(total / n, dtype=loss.dtype)  # (); 0/0 = nan as in PyTorch


# --- cross-entropy: log-softmax and NLL fused --------------------------------------------------
def _log_softmax(x: np.ndarray) -> np.ndarray:
    """log p = x - max - log(sum(exp(x - max))) along the class axis 1 (stable for any logits)."""
    z = x - x.max(axis=1, keepdims=True)  # (N, C, *)
    return z - xp.log(xp.exp(z).sum(axis=1, keepdims=True))  # (N, C, *)


def _class_view(a: np.ndarray, ndim: int) -> np.ndarray:
    """A (C,) vector shaped (1, C, 1, ..., 1) to broadcast against (N, C, *)."""
    return a.reshape((1, -1) + (1,) * (ndim - 2))


class CrossEntropy(Function):
    """Cross-entropy of logits (N, C, *) against class indices (N, *) or probabilities (N, C, *).

    With log p = log_softmax(x) and label smoothing e, every form of the loss is linear in log p:

        loss_i = -sum_c a_ic log p_ic

      indices:        a_ic = (1 - e) w_{t_i} [c == t_i] + (e / C) w_c   (0 where t_i is ignored)
      probabilities:  a_ic = ((1 - e) q_ic + e / C) w_c

    so the gradient is one fused expression, d loss_i / d x_ic = p_ic * sum_k a_ik - a_ic,
    rather than a chain of small ops. The mean over index targets divides by
    W = sum_i w_{t_i} over non-ignored positions (their count without weights), as PyTorch
    does; the mean over probability targets divides by the number of positions P.
    """

    def forward(self, x: np.ndarray, target: np.ndarray, weight: np.ndarray | None, ignore_index: int,
                reduction: str, label_smoothing: float, probs: bool) -> np.ndarray:
        C = x.shape[1]
        eps = label_smoothing
        logp = _log_softmax(x)  # (N, C, *)
        w_c = None if weight is None else _class_view(weight, x.ndim)  # (1, C, 1, ..)
        if probs:
            q = target if eps == 0 else target * (1 - eps) + eps / C  # (N, C, *)
            a = q if w_c is None else q * w_c  # (N, C, *)
            loss = -(a * logp).sum(axis=1)  # (N, *)
            count = loss.size  # P
            self.save_for_backward(logp, a, w_c, count, reduction, eps)
            return _reduce(loss, reduction, count)
        valid = target != ignore_index  # (N, *)
        t = xp.where(valid, target, 0)[:, None]  # (N, 1, *)
        picked = xp.take_along_axis(logp, t, axis=1)[:, 0]  # (N, *) = log p_{i, t_i}
        w_t = valid.astype(x.dtype) if weight is None else weight[t[:, 0]] * valid  # (N, *)
        loss = -w_t * picked  # (N, *)
        if eps > 0:
            # The smoothing term -(e/C) sum_c w_c log p_ic, zero at ignored positions.
            smooth = -(logp.sum(axis=1) if w_c is None else (logp * w_c).sum(axis=1))  # (N, *)
            loss = (1 - eps) * loss + (eps / C) * (smooth * valid)  # (N, *)
        count = w_t.sum()  # W, a 0-d value in the input dtype
        self.save_for_backward(logp, t, w_t, valid, w_c, count, reduction, eps)
        return _reduce(loss, reduction, count)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        if len(self.saved) == 6:
            logp, a, w_c, count, reduction, eps = self.saved
            s = _scale(g, reduction, count)  # () or (N, *)
            s = s[:, None] if s.ndim else s  # broadcasts over the class axis
            p = xp.exp(logp)  # (N, C, *) softmax
            grad_x = (p * a.sum(axis=1, keepdims=True) - a) * s  # (N, C, *)
            grad_t = None
            if self.needs_input_grad[1]:
                # d loss_i / d q_ic = -(1 - e) w_c log p_ic
                coef = logp if w_c is None else logp * w_c  # (N, C, *)
                grad_t = coef * (-(1 - eps) * s)  # (N, C, *)
            return grad_x, grad_t, None
        logp, t, w_t, valid, w_c, count, reduction, eps = self.saved
        C = logp.shape[1]
        s = _scale(g, reduction, count)  # () or (N, *)
        alpha = (1 - eps) * w_t * s  # (N, *) weight of the one-hot part of a
        p = xp.exp(logp)  # (N, C, *) softmax
        if eps > 0:
            beta = (eps / C) * (valid * s)  # (N, *) weight of the smoothing part of a (bool * float keeps the dtype)
            w_sum = C if w_c is None else w_c.sum()
            grad_x = p * (alpha + beta * w_sum)[:, None]  # (N, C, *)
            grad_x -= beta[:, None] if w_c is None else beta[:, None] * w_c
        else:
            grad_x = p * alpha[:, None]  # (N, C, *)
        at_t = xp.take_along_axis(grad_x, t, axis=1)  # (N, 1, *)
        xp.put_along_axis(grad_x, t, at_t - alpha[:, None], axis=1)
        return grad_x, None, None


class NLLLoss(Function):
    """Negative log-likelihood: loss_i = -w_{t_i} x_{i, t_i}, 0 where t_i == ignore_index.

    x holds log-probabilities (N, C, *). The mean divides by W = sum of w_{t_i} over the
    non-ignored positions. Backward scatters -w_{t_i} * scale into the target classes.
    """

    def forward(self, x: np.ndarray, target: np.ndarray, weight: np.ndarray | None, ignore_index: int,
                reduction: str) -> np.ndarray:
        valid = target != ignore_index  # (N, *)
        t = xp.where(valid, target, 0)[:, None]  # (N, 1, *)
        w_t = valid.astype(x.dtype) if weight is None else weight[t[:, 0]] * valid  # (N, *)
        loss = -w_t * xp.take_along_axis(x, t, axis=1)[:, 0]  # (N, *)
        count = w_t.sum()  # W
        self.save_for_backward(x.shape, t, w_t, count, reduction)
        return _reduce(loss, reduction, count)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        shape, t, w_t, count, reduction = self.saved
        grad_x = xp.zeros(shape, dtype=w_t.dtype)  # (N, C, *)
        xp.put_along_axis(grad_x, t, (-w_t * _scale(g, reduction, count))[:, None], axis=1)
        return grad_x, None, None


def _batched(x: Tensor, target: Any, probs: bool) -> tuple[Tensor, Any]:
    """Give an unbatched input (C,) a batch of one: (1, C), target () -> (1,) or (C,) -> (1, C)."""
    x = x.reshape(1, x.shape[0])
    if probs:
        target = target.reshape(1, -1) if isinstance(target, Tensor) else xp.asarray(target).reshape(1, -1)
    else:
        target = target.reshape(1)
    return x, target


def cross_entropy(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and class indices or class probabilities (PyTorch's).

    Computed stably through log-softmax, with one fused backward (softmax - target).

    Args:
        input: logits, (N, C, *) or unbatched (C,).
        target: class indices (integer dtype), shape (N, *) or (); or class probabilities
            (floating dtype), the input's shape. Probability targets receive a gradient.
        weight: optional per-class rescaling weight of shape (C,), a constant.
        ignore_index: index targets equal to it contribute neither loss nor gradient and
            are left out of the mean's denominator. Unused for probability targets.
        reduction: "mean" (weighted mean over non-ignored targets for indices, mean over
            positions for probabilities), "sum" or "none".
        label_smoothing: e in [0, 1]; the target becomes (1 - e) * target + e / C.

    Shape:
        input (N, C, *), target (N, *) or (N, C, *); output () or, with "none", (N, *).

    Example:
        >>> x = juanji.randn(4, 10, requires_grad=True)
        >>> F.cross_entropy(x, np.array([1, 0, 9, 3])).backward()
    """
    op = "cross_entropy"
    reduction = _check_reduction(op, reduction)
    if not isinstance(label_smoothing, (int, float)) or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing!r}")
    x, target, w, probs = _check_class_args(op, input, target, weight, ignore_index, allow_probs=True)
    unbatched = x.ndim == 1
    if unbatched:
        x, target = _batched(x, target, probs)
    out = CrossEntropy.apply(x, target, w, ignore_index=int(ignore_index), reduction=reduction,
                             label_smoothing=float(label_smoothing), probs=probs)
    return out.reshape(()) if unbatched and reduction == "none" else out


def nll_loss(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities at the target classes (PyTorch's).

    Args:
        input: log-probabilities (e.g. from log_softmax), (N, C, *) or unbatched (C,).
        target: class indices (integer dtype), shape (N, *) or ().
        weight: optional per-class weight of shape (C,), a constant.
        ignore_index: targets equal to it are skipped (no loss, no gradient, not counted).
        reduction: "mean" (weighted mean: divided by the sum of the targets' weights),
            "sum" or "none".

    Shape:
        input (N, C, *), target (N, *); output () or, with "none", (N, *).

    Example:
        >>> logp = F.log_softmax(juanji.randn(4, 10), dim=1)
        >>> F.nll_loss(logp, np.array([1, 0, 9, 3]))
    """
    op = "nll_loss"
    reduction = _check_reduction(op, reduction)
    x, target, w, _ = _check_class_args(op, input, target, weight, ignore_index, allow_probs=False)
    unbatched = x.ndim == 1
    if unbatched:
        x, target = _batched(x, target, False)
    out = NLLLoss.apply(x, target, w, ignore_index=int(ignore_index), reduction=reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


# --- element-wise losses -----------------------------------------------------------------------
class MSELoss(Function):
    """loss = (x - y)^2; d/dx = 2 (x - y), d/dy = -2 (x - y)."""

    def forward(self, x: np.ndarray, y: np.ndarray, reduction: str) -> np.ndarray:
        diff = x - y  # (*)
        self.save_for_backward(diff, reduction)
        return _reduce(diff * diff, reduction)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        diff, reduction = self.saved
        gx = diff * (2 * _scale(g, reduction, diff.size))  # (*)
        return gx, (-gx if self.needs_input_grad[1] else None)


class L1Loss(Function):
    """loss = |x - y|; d/dx = sign(x - y) (0 where x == y, as PyTorch), d/dy = -sign(x - y)."""

    def forward(self, x: np.ndarray, y: np.ndarray, reduction: str) -> np.ndarray:
        diff = x - y  # (*)
        self.save_for_backward(xp.sign(diff), reduction)
        return _reduce(xp.abs(diff), reduction)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        sign, reduction = self.saved
        gx = sign * _scale(g, reduction, sign.size)  # (*)
        return gx, (-gx if self.needs_input_grad[1] else None)


def _softplus_neg(x: np.ndarray) -> np.ndarray:
    """softplus(-x) = log(1 + exp(-x)) = max(-x, 0) + log1p(exp(-|x|)), finite for any x."""
    return xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


class BCEWithLogits(Function):
    """Binary cross-entropy of logits x against targets y, with weight w and pos_weight r.

        loss = w [ r y softplus(-x) + (1 - y) softplus(x) ]      (= -w[r y log s + (1-y) log(1-s)])
        d/dx = w [ (1 - y) s - r y (1 - s) ],   s = sigmoid(x) = exp(-softplus(-x))
        d/dy = w [ (r - 1) softplus(-x) - x ]     (softplus(x) = softplus(-x) + x)
    """

    def forward(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, r: np.ndarray | None,
                reduction: str) -> np.ndarray:
        sp_neg = _softplus_neg(x)  # (*)
        pos = y * sp_neg if r is None else (r * y) * sp_neg  # (*)
        loss = pos + (1 - y) * (sp_neg + x)  # (*)
        if w is not None:
            loss = loss * w
        self.save_for_backward(x, y, w, r, sp_neg, reduction)
        return _reduce(loss, reduction)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y, w, r, sp_neg, reduction = self.saved
        s = _scale(g, reduction, x.size)  # () or (*)
        if w is not None:
            s = s * w
        sig = xp.exp(-sp_neg)  # (*)
        if r is None:
            gx = (sig - y) * s  # (*): (1-y)s - y(1-s) = s - y
        else:
            gx = ((1 - y) * sig - (r * y) * (1 - sig)) * s  # (*)
        gy = None
        if self.needs_input_grad[1]:
            gy = (-x if r is None else (r - 1) * sp_neg - x) * s  # (*)
        return gx, gy, None, None


class BCE(Function):
    """Binary cross-entropy of probabilities x in [0, 1], logs clamped at -100 as PyTorch:

        loss = -w [ y max(log x, -100) + (1 - y) max(log(1 - x), -100) ]
        d/dx = w (x - y) / max(x (1 - x), 1e-12)       (PyTorch's backward formula)
        d/dy = w [ max(log(1 - x), -100) - max(log x, -100) ]
    """

    def forward(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, reduction: str) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(x), -100)  # (*)
            log_1mx = xp.maximum(xp.log1p(-x), -100)  # (*)
        loss = -(y * log_x + (1 - y) * log_1mx)  # (*)
        if w is not None:
            loss = loss * w
        self.save_for_backward(x, y, w, log_x, log_1mx, reduction)
        return _reduce(loss, reduction)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y, w, log_x, log_1mx, reduction = self.saved
        s = _scale(g, reduction, x.size)  # () or (*)
        if w is not None:
            s = s * w
        gx = (x - y) / xp.maximum(x * (1 - x), xp.asarray(1e-12, dtype=x.dtype)) * s  # (*)
        gy = (log_1mx - log_x) * s if self.needs_input_grad[1] else None  # (*)
        return gx, gy, None


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error, (input - target)^2 reduced (PyTorch's).

    Unlike PyTorch (which warns), input and target of different shapes are an error.

    Args:
        input: any shape, floating point.
        target: the same shape and dtype; receives a gradient if it requires one.
        reduction: "mean", "sum" or "none".

    Shape:
        input (*), target (*); output () or, with "none", (*).

    Example:
        >>> F.mse_loss(juanji.tensor([1.0, 2.0]), juanji.tensor([1.0, 4.0]))   # 2.0
    """
    reduction = _check_reduction("mse_loss", reduction)
    x, y = _check_pair("mse_loss", input, target)
    return MSELoss.apply(x, y, reduction=reduction)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error, |input - target| reduced (PyTorch's); arguments as ``mse_loss``.

    Shape:
        input (*), target (*); output () or, with "none", (*).

    Example:
        >>> F.l1_loss(juanji.tensor([1.0, 2.0]), juanji.tensor([1.0, 4.0]))   # 1.0
    """
    reduction = _check_reduction("l1_loss", reduction)
    x, y = _check_pair("l1_loss", input, target)
    return L1Loss.apply(x, y, reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one numerically stable step (PyTorch's).

    loss = -w [ pos_weight * y * log sigmoid(x) + (1 - y) * log(1 - sigmoid(x)) ],
    computed with softplus so large |x| neither overflows nor loses precision.

    Args:
        input: logits, any shape.
        target: targets in [0, 1], same shape and dtype as input.
        weight: optional constant weight broadcastable to the input's shape.
        reduction: "mean", "sum" or "none".
        pos_weight: optional constant weight of positive examples, broadcastable to the
            input's shape (typically (C,) for input (N, C)).

    Shape:
        input (*), target (*); output () or, with "none", (*).

    Example:
        >>> F.binary_cross_entropy_with_logits(juanji.randn(4, 3), juanji.rand(4, 3))
    """
    op = "binary_cross_entropy_with_logits"
    reduction = _check_reduction(op, reduction)
    x, y = _check_pair(op, input, target)
    w = _elementwise_weight(op, weight, x, "weight")
    r = _elementwise_weight(op, pos_weight, x, "pos_weight")
    return BCEWithLogits.apply(x, y, w, r, reduction=reduction)


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities (PyTorch's; each log clamped at -100).

    Prefer ``binary_cross_entropy_with_logits`` on logits: it is stable where this is not.

    Args:
        input: probabilities in [0, 1], any shape.
        target: targets in [0, 1], same shape and dtype as input.
        weight: optional constant weight broadcastable to the input's shape.
        reduction: "mean", "sum" or "none".

    Shape:
        input (*), target (*); output () or, with "none", (*).

    Example:
        >>> F.binary_cross_entropy(juanji.tensor([0.9, 0.2]), juanji.tensor([1.0, 0.0]))
    """
    op = "binary_cross_entropy"
    reduction = _check_reduction(op, reduction)
    x, y = _check_pair(op, input, target)
    if x.data.size and (x.data.min() < 0 or x.data.max() > 1):
        raise ValueError(f"{op}: input values must be probabilities in [0, 1], got values in "
                         f"[{float(x.data.min()):.4g}, {float(x.data.max()):.4g}] "
                         f"(use binary_cross_entropy_with_logits for logits)")
    w = _elementwise_weight(op, weight, x, "weight")
    return BCE.apply(x, y, w, reduction=reduction)
