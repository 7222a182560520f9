"""How a classifier errs: a confusion matrix, accuracy per class, the most confident mistakes.

Shape legend: N samples, K classes; images (N, C, H, W) or (N, H, W).

Labels are integer class indices 0..K-1 (``y_pred`` is typically ``logits.argmax(1)``).

    counts[i, j]  = #{n : y_true[n] = i and y_pred[n] = j}   rows true, columns predicted
                                                             (scikit-learn's convention)
    accuracy[i]   = counts[i, i] / sum_j counts[i, j]        (recall of class i; NaN when
                                                              class i has no samples)
    confidence[n] = max_k probs[n, k]                        the predicted class's probability
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ._picture import Picture, as_numpy, check_finite, colormap, display_image, grid_shape, new_figure, positive_int

__all__ = ["confusion_matrix", "per_class_accuracy", "misclassified",
           "ConfusionMatrix", "PerClassAccuracy", "Misclassified"]

_NORMALIZE = (None, "true", "pred", "all")
#: Above this many classes the confusion matrix's cells carry no numbers (they would overlap).
_MAX_ANNOTATED = 30


@dataclass(eq=False, repr=False)
class ConfusionMatrix(Picture):
    """The result of :func:`confusion_matrix`.

    Attributes:
        figure: the matrix as a heat map, class names on both axes, values in the cells.
        counts: (K, K) int64, rows the true class, columns the predicted one.
        matrix: what is drawn: ``counts``, or (float64) ``counts`` normalised as ``normalize`` says.
        normalize: None, "true", "pred" or "all".
        class_names: the K names on the axes.
    """

    counts: np.ndarray
    matrix: np.ndarray
    normalize: str | None
    class_names: list[str]


@dataclass(eq=False, repr=False)
class PerClassAccuracy(Picture):
    """The result of :func:`per_class_accuracy`.

    Attributes:
        figure: a horizontal bar per class (classes without samples marked "no samples").
        accuracy: (K,) float64, correct / support; NaN for a class with no samples.
        support: (K,) int64, the number of samples of each true class.
        correct: (K,) int64, how many of them were predicted right.
        class_names: the K names.
    """

    accuracy: np.ndarray
    support: np.ndarray
    correct: np.ndarray
    class_names: list[str]


@dataclass(eq=False, repr=False)
class Misclassified(Picture):
    """The result of :func:`misclassified`.

    Attributes:
        figure: the chosen images, each titled true / predicted (confidence).
        indices: (k',) int64 indices into the inputs, most confident mistake first.
        confidence: (k',) float64, the probability the model gave its (wrong) prediction.
        true: (k',) int64 true classes.
        pred: (k',) int64 predicted classes.
        total: how many of the N images were misclassified in all.
    """

    indices: np.ndarray
    confidence: np.ndarray
    true: np.ndarray
    pred: np.ndarray
    total: int


# --- argument checks -----------------------------------------------------------------------------
def _labels(op: str, name: str, value: Any) -> np.ndarray:
    """Class indices as a 1-D int64 array (integral floats accepted, e.g. from a float tensor)."""
    arr = as_numpy(op, name, value)
    if arr.ndim != 1:
        raise ValueError(f"{op}: {name} must be 1-D class indices (N,), got shape {arr.shape}")
    if arr.dtype.kind == "f":
        check_finite(op, name, arr)
        if not np.all(arr == np.round(arr)):
            raise TypeError(f"{op}: {name} must hold integer class indices, got non-integral {arr.dtype} values")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{op}: {name} must hold class indices >= 0, got {arr.min()}")
    return arr.astype(np.int64)


def _classes(op: str, num_classes: Any, class_names: Any, *labels: np.ndarray) -> tuple[int, list[str]]:
    """K, from ``num_classes``, else ``len(class_names)``, else the largest label + 1; and the names."""
    if class_names is not None:
        if isinstance(class_names, str) or not isinstance(class_names, Sequence):
            raise TypeError(f"{op}: class_names must be a list of str, got {type(class_names).__name__}")
        class_names = [str(n) for n in class_names]
    if num_classes is not None:
        K = positive_int(op, "num_classes", num_classes)
    elif class_names is not None:
        K = len(class_names)
    else:
        present = [int(a.max()) for a in labels if a.size]
        if not present:
            raise ValueError(f"{op}: cannot infer the number of classes from empty labels; pass num_classes")
        K = max(present) + 1
    if class_names is not None and len(class_names) != K:
        raise ValueError(f"{op}: class_names has {len(class_names)} names but there are {K} classes")
    top = max((int(a.max()) for a in labels if a.size), default=-1)
    if top >= K:
        raise ValueError(f"{op}: a label is {top} but there are only {K} classes (0..{K - 1})")
    return K, class_names if class_names is not None else [str(k) for k in range(K)]


def _pair(op: str, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = _labels(op, "y_true", y_true)
    p = _labels(op, "y_pred", y_pred)
    if t.shape != p.shape:
        raise ValueError(f"{op}: y_true has shape {t.shape} but y_pred has shape {p.shape}")
    return t, p


def _counts(t: np.ndarray, p: np.ndarray, K: int) -> np.ndarray:
    # One bincount over the flat index i*K + j counts every (true, predicted) pair at once.
    return np.bincount(t * K + p, minlength=K * K).reshape(K, K).astype(np.int64)


# --- confusion matrix ----------------------------------------------------------------------------
def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None,
                     class_names: Sequence[str] | None = None, normalize: str | None = None) -> ConfusionMatrix:
    """Count (true, predicted) pairs in a K x K table and draw it.

    Args:
        y_true, y_pred: class indices (N,), arrays, lists or Tensors.
        num_classes: K (default: ``len(class_names)``, else the largest label + 1).
        class_names: K names for the axes (default "0", "1", ...).
        normalize: as scikit-learn's: None (counts), "true" (each row sums to 1: recall),
            "pred" (each column sums to 1: precision) or "all" (the table sums to 1). A row
            or column with no samples normalises to zeros, as scikit-learn's does.

    Returns:
        :class:`ConfusionMatrix` with ``.counts`` (K, K) int64 and ``.matrix`` (what is drawn).

    Example:
        >>> juanji.viz.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2]).counts
        array([[1, 0, 0],
               [0, 1, 1],
               [0, 0, 1]])
    """
    op = "confusion_matrix"
    if normalize not in _NORMALIZE:
        raise ValueError(f"{op}: normalize must be one of {_NORMALIZE}, got {normalize!r}")
    t, p = _pair(op, y_true, y_pred)
    K, names = _classes(op, num_classes, class_names, t, p)
    counts = _counts(t, p, K)
    if normalize is None:
        matrix: np.ndarray = counts
    else:
        axis = {"true": 1, "pred": 0, "all": None}[normalize]
        total = counts.sum(axis=axis, keepdims=axis is not None)
        with np.errstate(invalid="ignore", divide="ignore"):
            matrix = np.nan_to_num(counts / total)  # 0/0 (an empty row or column) -> 0
    fig = _draw_matrix(counts, matrix, normalize, names)
    return ConfusionMatrix(fig, counts, matrix, normalize, names)


def _draw_matrix(counts: np.ndarray, matrix: np.ndarray, normalize: str | None, names: list[str]) -> Any:
    K = counts.shape[0]
    side = min(16.0, max(4.5, 0.5 * K + 2.5))
    fig = new_figure("confusion_matrix", side + 1.0, side)
    ax = fig.subplots()
    im = ax.imshow(matrix, cmap=colormap("Blues"), interpolation="nearest",
                   vmin=0.0, vmax=max(float(matrix.max()), 1e-12))
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_xticks(range(K), names, rotation=45 if max(map(len, names), default=0) > 2 else 0, ha="right"
                  if max(map(len, names), default=0) > 2 else "center", fontsize=8)
    ax.set_yticks(range(K), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if K <= _MAX_ANNOTATED:
        half = matrix.max() / 2.0
        for i in range(K):  # K^2 labels, at most 900
            for j in range(K):
                text = str(counts[i, j]) if normalize is None else f"{matrix[i, j]:.2f}\n({counts[i, j]})"
                ax.text(j, i, text, ha="center", va="center", fontsize=7 if normalize else 8,
                        color="white" if matrix[i, j] > half else "black")
    n = int(counts.sum())
    acc = np.trace(counts) / n if n else float("nan")
    how = {None: "counts", "true": "normalised over true (rows)", "pred": "normalised over predicted (columns)",
           "all": "normalised over all"}[normalize]
    ax.set_title(f"confusion matrix ({how})\n{n} samples, accuracy {acc:.2%}", fontsize=10)
    return fig


# --- accuracy per class --------------------------------------------------------------------------
def per_class_accuracy(y_true: Any, y_pred: Any, num_classes: int | None = None,
                       class_names: Sequence[str] | None = None) -> PerClassAccuracy:
    """The fraction of each true class predicted right, as horizontal bars.

    Args:
        y_true, y_pred: class indices (N,).
        num_classes: K (default: ``len(class_names)``, else the largest label + 1).
        class_names: K names (default "0", "1", ...).

    Returns:
        :class:`PerClassAccuracy` with ``.accuracy`` (K,) (NaN for a class without samples),
        ``.support`` and ``.correct`` (K,).

    Example:
        >>> juanji.viz.per_class_accuracy([0, 0, 1], [0, 1, 1]).accuracy
        array([0.5, 1. ])
    """
    op = "per_class_accuracy"
    t, p = _pair(op, y_true, y_pred)
    K, names = _classes(op, num_classes, class_names, t, p)
    support = np.bincount(t, minlength=K).astype(np.int64)
    correct = np.bincount(t[t == p], minlength=K).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(support > 0, correct / np.maximum(support, 1), np.nan)

    fig = new_figure(op, 7.0, min(30.0, max(3.0, 0.3 * K + 1.5)))
    ax = fig.subplots()
    ys = np.arange(K)
    ax.barh(ys, np.nan_to_num(accuracy), color="tab:blue")
    for k in range(K):
        label = "no samples" if support[k] == 0 else f"{accuracy[k]:.1%} ({correct[k]}/{support[k]})"
        ax.text(min(np.nan_to_num(accuracy[k]), 1.0) + 0.01, k, label, va="center", fontsize=7)
    n = int(support.sum())
    if n:
        overall = float(correct.sum() / n)
        ax.axvline(overall, color="tab:red", linestyle="--", linewidth=1, label=f"overall {overall:.1%}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(ys, names, fontsize=8)
    ax.invert_yaxis()  # class 0 at the top, as in the confusion matrix
    ax.set_xlim(0, 1.25)
    ax.set_xlabel("accuracy (recall of the class)")
    ax.set_title("accuracy per class", fontsize=10)
    return PerClassAccuracy(fig, accuracy, support, correct, names)


# --- the most confident mistakes ----------------------------------------------------------------
def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)  # shift by the row max: exp never overflows
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def misclassified(images: Any, y_true: Any, probs: Any, class_names: Sequence[str] | None = None,
                  k: int = 16, *, logits: bool = False) -> Misclassified:
    """The k misclassified images the model was most confident about, worst first.

    Args:
        images: (N, C, H, W) or (N, H, W).
        y_true: true class indices (N,).
        probs: class probabilities (N, K) (softmax of the logits; each row sums to 1), or the
            logits themselves with ``logits=True`` (softmax is applied here).
        class_names: K names for the tile titles (default "0", "1", ...).
        k: how many images to show at most.
        logits: ``probs`` holds logits.

    Returns:
        :class:`Misclassified` with ``.indices``, ``.confidence``, ``.true``, ``.pred`` (k',)
        sorted by decreasing confidence (ties: lower index first), k' = min(k, mistakes),
        and ``.total``. With no mistakes the arrays are empty and the figure says so.

    Raises:
        ValueError: lengths that disagree, labels out of range, probabilities that are not
            in [0, 1] or do not sum to 1 (logits passed without ``logits=True``?).

    Example:
        >>> m = juanji.viz.misclassified(x_test, y_test, probs, k=8)
        >>> m.indices[0]   # the test image the model got wrong with the most confidence
    """
    op = "misclassified"
    imgs = as_numpy(op, "images", images)
    if imgs.ndim not in (3, 4):
        raise ValueError(f"{op}: images must be (N, C, H, W) or (N, H, W), got shape {imgs.shape}")
    t = _labels(op, "y_true", y_true)
    P = as_numpy(op, "probs", probs).astype(np.float64)
    if P.ndim != 2 or P.shape[1] < 1:
        raise ValueError(f"{op}: probs must be (N, K), got shape {P.shape}")
    if not (imgs.shape[0] == t.shape[0] == P.shape[0]):
        raise ValueError(f"{op}: images {imgs.shape}, y_true {t.shape} and probs {P.shape} must have the same N")
    check_finite(op, "probs", P)
    k = positive_int(op, "k", k)
    if logits:
        P = _softmax(P)
    elif P.size and (P.min() < 0 or P.max() > 1 or not np.allclose(P.sum(axis=1), 1.0, atol=1e-3)):
        raise ValueError(f"{op}: probs (shape {P.shape}) must be probabilities in [0, 1] with rows summing "
                         f"to 1; pass logits=True if they are logits")
    K = P.shape[1]
    _, names = _classes(op, K, class_names, t)

    pred = P.argmax(axis=1)                                   # (N,)
    conf = P[np.arange(P.shape[0]), pred]                     # (N,)
    wrong = np.flatnonzero(pred != t)                         # ascending indices
    order = np.argsort(-conf[wrong], kind="stable")           # most confident first, ties by index
    chosen = wrong[order][:k].astype(np.int64)
    result = dict(indices=chosen, confidence=conf[chosen], true=t[chosen], pred=pred[chosen].astype(np.int64))

    if chosen.size == 0:
        fig = new_figure(op, 5.0, 2.0)
        ax = fig.subplots()
        ax.text(0.5, 0.5, f"no misclassified images ({t.size} of {t.size} correct)",
                ha="center", va="center", fontsize=11)
        ax.axis("off")
        return Misclassified(fig, total=0, **result)

    rows, cols = grid_shape(chosen.size)
    fig = new_figure(op, min(16.0, 1.9 * cols + 0.5), min(30.0, 2.1 * rows + 0.8))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, n in zip(axes, chosen):
        shown, cmap = display_image(imgs[n])
        ax.imshow(shown, cmap=cmap, interpolation="nearest")
        ax.set_title(f"#{n} true {names[t[n]]}\npred {names[pred[n]]} ({conf[n]:.2f})", fontsize=7)
        ax.axis("off")
    for ax in axes[chosen.size:]:
        ax.remove()
    fig.suptitle(f"{chosen.size} most confident of {wrong.size} misclassified (of {t.size})", fontsize=10)
    return Misclassified(fig, total=int(wrong.size), **result)
