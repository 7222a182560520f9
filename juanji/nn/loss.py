"""Loss modules: thin wrappers of ``juanji.functional.loss`` with PyTorch's names and arguments.

Shape legend:
    N   batch size
    C   number of classes
    *   any extra dims (d1, ..., dk), e.g. (H, W) for a per-pixel loss

Class weights (``weight``) and BCE's ``pos_weight`` are stored as buffers, so they move
with ``module.to(dtype)`` and appear in the ``state_dict`` (as in PyTorch) when given.
The deprecated ``size_average`` / ``reduce`` arguments are accepted and mapped onto
``reduction`` exactly as PyTorch's legacy rule does.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..functional import loss as _F
from ..tensor import Tensor
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCEWithLogitsLoss", "BCELoss"]


def _legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    """PyTorch's mapping of the deprecated flags: reduce=False -> none, else size_average -> mean/sum."""
    warnings.warn("size_average and reduce are deprecated; use reduction='mean', 'sum' or 'none'",
                  UserWarning, stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _as_tensor(value: Any) -> Tensor | None:
    if value is None or isinstance(value, Tensor):
        return value
    return Tensor(value)


class _Loss(Module):
    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce)
        _F._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight: Any = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _as_tensor(weight))


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits against class indices or class probabilities.

    Args:
        weight: optional per-class weight of shape (C,) (a buffer).
        ignore_index: index target to skip (no loss, no gradient, not counted in the mean).
        reduction: "mean", "sum" or "none".
        label_smoothing: e in [0, 1]; targets become (1 - e) * target + e / C.

    Shape:
        input (N, C, *) or (C,); target (N, *) of class indices or (N, C, *) of
        probabilities; output () or, with "none", (N, *).

    Example:
        >>> loss = nn.CrossEntropyLoss(label_smoothing=0.1)
        >>> loss(juanji.randn(4, 10), np.array([1, 0, 9, 3]))
    """

    def __init__(self, weight: Any = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return _F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                                reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities at the target classes.

    Args:
        weight: optional per-class weight of shape (C,) (a buffer).
        ignore_index: target to skip.
        reduction: "mean" (divided by the sum of the targets' weights), "sum" or "none".

    Shape:
        input (N, C, *) or (C,); target (N, *); output () or, with "none", (N, *).

    Example:
        >>> nn.NLLLoss()(F.log_softmax(juanji.randn(4, 10), dim=1), np.array([1, 0, 9, 3]))
    """

    def __init__(self, weight: Any = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return _F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                           reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error; input and target must have the same shape.

    Shape:
        input (*), target (*); output () or, with "none", (*).

    Example:
        >>> nn.MSELoss()(juanji.randn(3, 5), juanji.randn(3, 5))
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return _F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error; input and target must have the same shape.

    Shape:
        input (*), target (*); output () or, with "none", (*).

    Example:
        >>> nn.L1Loss()(juanji.randn(3, 5), juanji.randn(3, 5))
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return _F.l1_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross-entropy in one stable step.

    Args:
        weight: optional weight broadcastable to the input's shape (a buffer).
        reduction: "mean", "sum" or "none".
        pos_weight: optional weight of positive examples, broadcastable to the input's
            shape, typically (C,) (a buffer).

    Shape:
        input (*), target (*); output () or, with "none", (*).

    Example:
        >>> nn.BCEWithLogitsLoss(pos_weight=np.full(3, 2.0, np.float32))(juanji.randn(4, 3), juanji.rand(4, 3))
    """

    def __init__(self, weight: Any = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _as_tensor(weight))
        self.register_buffer("pos_weight", _as_tensor(pos_weight))

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return _F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                   reduction=self.reduction, pos_weight=self.pos_weight)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities in [0, 1] (logs clamped at -100).

    Args:
        weight: optional weight broadcastable to the input's shape (a buffer).
        reduction: "mean", "sum" or "none".

    Shape:
        input (*), target (*); output () or, with "none", (*).

    Example:
        >>> nn.BCELoss()(juanji.tensor([0.9, 0.2]), juanji.tensor([1.0, 0.0]))
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return _F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)
