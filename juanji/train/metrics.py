"""Classification metrics, as plain functions and as running metric objects.

Functions take a whole batch or data set at once::

    accuracy(logits, y)               # fraction of rows whose argmax is the label
    top_k_accuracy(logits, y, k=5)    # fraction whose label is among the k highest scores
    confusion_matrix(logits, y)       # (C, C) counts, rows = true class, columns = predicted

Metric objects accumulate over batches for ``Trainer``: ``update(output, target)`` per
batch, ``compute()`` at the end, ``reset()`` before the next epoch. Their ``name`` is the
key under which ``fit``/``evaluate`` report them (``val_`` prefixed for validation).

Shape: output (N, C) scores (logits or probabilities) or (N,) predicted labels;
target (N,) integer labels in [0, C).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from ..distributed import comm as dist
from ..tensor import Tensor

__all__ = [
    "accuracy", "top_k_accuracy", "confusion_matrix",
    "Metric", "Accuracy", "TopKAccuracy", "ConfusionMatrix", "get_metric",
]


def _array(value: Any) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def _check(op: str, output: Any, target: Any, need_scores: bool = False) -> tuple[np.ndarray, np.ndarray]:
    out, tgt = _array(output), _array(target)
    if tgt.ndim != 1 or tgt.dtype.kind not in "iu":
        raise ValueError(f"{op}: target must be a 1-D array of integer labels, got shape {tgt.shape} "
                         f"dtype {tgt.dtype}")
    if out.ndim not in ((2,) if need_scores else (1, 2)):
        want = "(N, C) scores" if need_scores else "(N, C) scores or (N,) predicted labels"
        raise ValueError(f"{op}: output must be {want}, got shape {out.shape}")
    if out.shape[0] != tgt.shape[0]:
        raise ValueError(f"{op}: output has {out.shape[0]} rows but target has {tgt.shape[0]} labels "
                         f"(output shape {out.shape}, target shape {tgt.shape})")
    if out.ndim == 2 and tgt.size and (tgt.min() < 0 or tgt.max() >= out.shape[1]):
        raise ValueError(f"{op}: target labels must be in [0, {out.shape[1]}) for {out.shape[1]} classes, "
                         f"got labels from {tgt.min()} to {tgt.max()}")
    return out, tgt


def _predicted(out: np.ndarray) -> np.ndarray:
    return out.argmax(axis=1) if out.ndim == 2 else out


def accuracy(output: Any, target: Any) -> float:
    """Fraction of samples whose predicted class (argmax of the scores) equals the label.

    Args:
        output: (N, C) scores, or (N,) predicted labels.
        target: (N,) integer labels.

    Example:
        >>> accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]))
        0.5
    """
    out, tgt = _check("accuracy", output, target)
    if tgt.size == 0:
        raise ValueError("accuracy: no samples (target is empty)")
    return float((_predicted(out) == tgt).mean())


def _top_k_hits(op: str, out: np.ndarray, tgt: np.ndarray, k: int) -> np.ndarray:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= out.shape[1]:
        raise ValueError(f"{op}: k must be an int in [1, {out.shape[1]}] for {out.shape[1]} classes, got {k!r}")
    # Hit when fewer than k classes score strictly higher than the label: ties go to the
    # label, so the answer never depends on how a sort breaks ties.
    label_score = out[np.arange(len(tgt)), tgt][:, None]  # (N, 1)
    return (out > label_score).sum(axis=1) < k  # (N,)


def top_k_accuracy(output: Any, target: Any, k: int = 5) -> float:
    """Fraction of samples whose label is among the ``k`` highest-scoring classes.

    Args:
        output: (N, C) scores.
        target: (N,) integer labels.
        k: how many top classes count, 1 <= k <= C (k = 1 is ``accuracy``).

    Example:
        >>> top_k_accuracy(np.array([[0.5, 0.3, 0.2]]), np.array([1]), k=2)
        1.0
    """
    out, tgt = _check("top_k_accuracy", output, target, need_scores=True)
    if tgt.size == 0:
        raise ValueError("top_k_accuracy: no samples (target is empty)")
    return float(_top_k_hits("top_k_accuracy", out, tgt, k).mean())


def confusion_matrix(output: Any, target: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    Args:
        output: (N, C) scores or (N,) predicted labels.
        target: (N,) integer labels.
        num_classes: C; by default the score width, or 1 + the largest label seen.

    Returns:
        (C, C) int64 array M with M[i, j] = number of samples of class i predicted as j
        (scikit-learn's convention).

    Example:
        >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), num_classes=2)
        array([[1, 1],
               [0, 1]])
    """
    out, tgt = _check("confusion_matrix", output, target)
    pred = _predicted(out).astype(np.int64)
    if num_classes is None:
        num_classes = out.shape[1] if out.ndim == 2 else int(max(pred.max(initial=-1), tgt.max(initial=-1))) + 1
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"confusion_matrix: num_classes must be a positive int, got {num_classes!r}")
    for what, labels in (("target", tgt), ("predicted", pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"confusion_matrix: {what} labels must be in [0, {num_classes}), "
                             f"got labels from {labels.min()} to {labels.max()}")
    flat = tgt.astype(np.int64) * num_classes + pred  # (N,) index of the (true, predicted) cell
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


class Metric:
    """A metric accumulated over batches: ``reset()``, ``update(output, target)`` ..., ``compute()``.

    Subclasses set ``name`` (the key in ``fit``'s logs) and ``scalar`` (False for a
    matrix, which the progress bar and History leave out).
    """

    name: str = "metric"
    scalar: bool = True

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, output: Any, target: Any) -> None:
        raise NotImplementedError

    def compute(self) -> Any:
        raise NotImplementedError

    def all_reduce_(self) -> None:
        """Replace this rank's state by its sum over every rank of a distributed run (a
        collective: ``Trainer`` calls it on every rank before ``compute``)."""
        raise NotImplementedError(f"{type(self).__name__}: define all_reduce_() (sum the metric's state over the "
                                  "ranks with juanji.distributed.all_reduce) to use it in distributed training")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Accuracy(Metric):
    """Running accuracy: correct / seen over every batch since ``reset``.

    Example:
        >>> m = Accuracy(); m.update(logits, y); m.compute()
    """

    name = "accuracy"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, output: Any, target: Any) -> None:
        out, tgt = _check("Accuracy.update", output, target)
        self.correct += int((_predicted(out) == tgt).sum())
        self.total += int(tgt.size)

    def all_reduce_(self) -> None:
        self.correct, self.total = (int(v) for v in dist.all_reduce(np.array([self.correct, self.total], np.int64)))

    def compute(self) -> float:
        if self.total == 0:
            raise ValueError("Accuracy.compute: no samples seen since reset()")
        return self.correct / self.total


class TopKAccuracy(Accuracy):
    """Running top-k accuracy (label among the k highest scores); named ``top{k}_accuracy``.

    Example:
        >>> m = TopKAccuracy(5); m.update(logits, y); m.compute()
    """

    def __init__(self, k: int = 5) -> None:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"TopKAccuracy: k must be a positive int, got {k!r}")
        self.k = k
        self.name = f"top{k}_accuracy"
        super().__init__()

    def update(self, output: Any, target: Any) -> None:
        out, tgt = _check("TopKAccuracy.update", output, target, need_scores=True)
        self.correct += int(_top_k_hits("TopKAccuracy.update", out, tgt, self.k).sum())
        self.total += int(tgt.size)


class ConfusionMatrix(Metric):
    """Running confusion matrix (rows = true class, columns = predicted), an int64 (C, C) array.

    Args:
        num_classes: C; by default taken from the width of the first batch's scores.

    Example:
        >>> m = ConfusionMatrix(10); m.update(logits, y); m.compute().shape
        (10, 10)
    """

    name = "confusion_matrix"
    scalar = False

    def __init__(self, num_classes: int | None = None) -> None:
        self.num_classes = num_classes
        self.reset()

    def reset(self) -> None:
        self.matrix: np.ndarray | None = None

    def update(self, output: Any, target: Any) -> None:
        out = _array(output)
        n = self.num_classes or (out.shape[1] if out.ndim == 2 else None)
        if n is None:
            raise ValueError("ConfusionMatrix.update: give num_classes when the output is predicted labels")
        m = confusion_matrix(out, target, n)
        self.matrix = m if self.matrix is None else self.matrix + m

    def all_reduce_(self) -> None:
        # A rank that saw no samples has no matrix (its size comes from the first batch).
        parts = [m for m in dist.all_gather_object(self.matrix) if m is not None]
        self.matrix = np.sum(parts, axis=0) if parts else None

    def compute(self) -> np.ndarray:
        if self.matrix is None:
            raise ValueError("ConfusionMatrix.compute: no samples seen since reset()")
        return self.matrix.copy()


def get_metric(spec: "str | Metric") -> Metric:
    """A fresh Metric from a name (``"accuracy"``, ``"acc"``, ``"top5"``, ``"top3_accuracy"``,
    ``"confusion_matrix"``) or a Metric object (returned as is).

    Example:
        >>> get_metric("top5").name
        'top5_accuracy'
    """
    if isinstance(spec, Metric):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"get_metric: a metric must be a name or a Metric, got {type(spec).__name__}")
    if spec in ("accuracy", "acc"):
        return Accuracy()
    if spec == "confusion_matrix":
        return ConfusionMatrix()
    m = re.fullmatch(r"top_?(\d+)(_accuracy)?", spec)
    if m:
        return TopKAccuracy(int(m.group(1)))
    raise ValueError(f"get_metric: unknown metric {spec!r}; known: accuracy, top<k> (e.g. top5), "
                     "confusion_matrix, or a Metric object")


def get_metrics(specs: Sequence["str | Metric"]) -> list[Metric]:
    """``get_metric`` for each spec; names must be distinct."""
    metrics = [get_metric(s) for s in specs]
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise ValueError(f"get_metrics: metric names must be distinct, got {names}")
    return metrics
