"""Map-style datasets: the base class, in-memory arrays, subsets and random splits.

A dataset answers ``len(ds)`` and ``ds[i] -> (x, y)`` where ``x`` is one image as a
``(C, H, W)`` ndarray (uint8 or float32), or one sequence of int64 token ids, and ``y`` an
int class label. Datasets that hold
all their images in one array (``ArrayDataset`` and the readers built on it: MNIST, CIFAR,
digits) also answer ``_gather(indices)``, which the DataLoader uses to build a whole
batch with one fancy-index instead of a Python loop over samples.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from .. import random as _random
from ..tensor import as_array

__all__ = ["Dataset", "ArrayDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]

Transform = Callable[[np.ndarray], np.ndarray]
TargetTransform = Callable[[Any], Any]


class Dataset:
    """Base class of map-style datasets: ``__len__`` and ``__getitem__(i) -> (x, y)``.

    Subclasses return ``x`` as a ``(C, H, W)`` ndarray (uint8 or float32) and ``y`` as an
    int, so any of them can be fed to ``juanji.data.DataLoader``.

    Example:
        >>> class Squares(Dataset):
        ...     def __len__(self): return 4
        ...     def __getitem__(self, i): return np.full((1, 2, 2), i, np.float32), i
        >>> len(Squares()), Squares()[3][1]
        (4, 3)
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def _gather(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The samples at ``indices`` as two batch arrays, or None when only a loop can do it."""
        return None

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


def _check_index(name: str, index: Any, n: int) -> int:
    """A Python int in [0, n), with negative indices counted from the end as for lists."""
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"{name}: index must be an int, got {type(index).__name__}")
    i = int(index)
    if i < -n or i >= n:
        raise IndexError(f"{name}: index {i} is out of range for a dataset of {n} samples")
    return i + n if i < 0 else i


class ArrayDataset(Dataset):
    """A dataset over in-memory arrays: images ``X`` and integer labels ``y``.

    Images are stored as one NCHW array (converted once from NHWC when ``layout="NHWC"``),
    keeping their dtype: uint8 images stay uint8 (the DataLoader scales them to [0, 1]),
    float images are stored as float32, and other integer arrays (token ids, e.g. ``(N, L)``
    padded sequences) are stored as int64 and reach the model as int64, never scaled or cast
    to float. (uint8 always means pixels: keep token ids in a wider integer type.) With no
    per-sample ``transform``, the DataLoader builds each batch with one fancy-index into these
    arrays.

    Args:
        X: images, ``(N, C, H, W)`` or ``(N, H, W, C)`` as ``layout`` says; a 3-D ``(N, H, W)``
            array is taken as single-channel images and a 2-D ``(N, F)`` array as feature
            vectors or token ids (no layout applies to either).
        y: ``(N,)`` integer labels.
        layout: ``"NCHW"`` (PyTorch's, the default) or ``"NHWC"`` (Keras/TensorFlow's). It is
            never guessed from the shape.
        transform: optional callable applied to each ``(C, H, W)`` image in ``__getitem__``.
        target_transform: optional callable applied to each label.

    Shape:
        - ``self.data``: ``(N, C, H, W)``; ``self.targets``: ``(N,)`` int64.

    Example:
        >>> ds = ArrayDataset(np.zeros((10, 28, 28, 1), np.uint8), np.arange(10), layout="NHWC")
        >>> ds[3][0].shape, ds[3][1]
        ((1, 28, 28), 3)
    """

    def __init__(self, X: Any, y: Any, layout: str = "NCHW", transform: Transform | None = None,
                 target_transform: TargetTransform | None = None) -> None:
        name = type(self).__name__
        X = as_array(X)  # a juanji Tensor, an ndarray or nested lists
        y = as_array(y)
        if layout not in ("NCHW", "NHWC"):
            raise ValueError(f"{name}: layout must be 'NCHW' or 'NHWC', got {layout!r}")
        if X.dtype.kind not in "fiu":
            raise TypeError(f"{name}: X must be uint8 images, floating point or integer ids, got dtype {X.dtype}")
        if X.ndim == 4 and layout == "NHWC":
            X = np.ascontiguousarray(X.transpose(0, 3, 1, 2))  # (N, H, W, C) -> (N, C, H, W)
        elif X.ndim == 3:
            X = X[:, None, :, :]  # (N, H, W) -> (N, 1, H, W)
        elif X.ndim not in (2, 4):
            raise ValueError(f"{name}: X must be 2-D (N, F), 3-D (N, H, W) or 4-D images, got shape {X.shape}")
        if X.dtype.kind == "f" and X.dtype != np.float32:
            X = X.astype(np.float32)
        elif X.dtype.kind in "iu" and X.dtype != np.uint8:
            X = X.astype(np.int64, copy=False)  # token ids: int64 end to end
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise ValueError(f"{name}: y must be a 1-D array of integer labels, got shape {y.shape} "
                             f"and dtype {y.dtype}")
        if len(y) != len(X):
            raise ValueError(f"{name}: X has {len(X)} samples but y has {len(y)} labels "
                             f"(X shape {X.shape}, y shape {y.shape})")
        self.data: np.ndarray = X
        self.targets: np.ndarray = y.astype(np.int64)
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[np.ndarray, Any]:
        i = _check_index(type(self).__name__, index, len(self))
        x = self.data[i]  # (C, H, W)
        y: Any = int(self.targets[i])
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def _gather(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        if self.transform is not None or self.target_transform is not None:
            return None
        return self.data[indices], self.targets[indices]  # (B, C, H, W), (B,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={len(self)}, image shape={self.data.shape[1:]}, dtype={self.data.dtype})"


#: PyTorch's name for the same thing.
TensorDataset = ArrayDataset


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Args:
        dataset: any map-style dataset.
        indices: sequence of ints in ``[0, len(dataset))``.

    Example:
        >>> sub = Subset(ArrayDataset(np.zeros((5, 1, 2, 2), np.uint8), np.arange(5)), [4, 0])
        >>> [sub[i][1] for i in range(len(sub))]
        [4, 0]
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int] | np.ndarray) -> None:
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise TypeError(f"Subset: indices must be a 1-D sequence of ints, got shape {idx.shape} "
                            f"and dtype {idx.dtype}")
        n = len(dataset)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            bad = int(idx[(idx < 0) | (idx >= n)][0])
            raise IndexError(f"Subset: index {bad} is out of range for a dataset of {n} samples")
        self.dataset = dataset
        self.indices = idx.astype(np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        return self.dataset[int(self.indices[_check_index("Subset", index, len(self))])]

    def _gather(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        return self.dataset._gather(self.indices[indices])


class ConcatDataset(Dataset):
    """Several datasets one after the other.

    Example:
        >>> a = ArrayDataset(np.zeros((2, 1, 2, 2), np.uint8), [0, 1])
        >>> len(ConcatDataset([a, a]))
        4
    """

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: needs at least one dataset, got an empty list")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets])

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        i = _check_index("ConcatDataset", index, len(self))
        d = int(np.searchsorted(self.cumulative_sizes, i, side="right"))
        start = 0 if d == 0 else int(self.cumulative_sizes[d - 1])
        return self.datasets[d][i - start]


def _split_lengths(lengths: Sequence[float], n: int) -> list[int]:
    """Counts from ``lengths``: ints summing to ``n``, or fractions summing to 1 (PyTorch's rule)."""
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths is empty")
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in lengths):
        counts = [int(v) for v in lengths]
        if any(c < 0 for c in counts) or sum(counts) != n:
            raise ValueError(f"random_split: the lengths {counts} must be non-negative and sum to the "
                             f"dataset's length {n}")
        return counts
    fracs = [float(v) for v in lengths]
    if any(f < 0 or f > 1 for f in fracs) or not math.isclose(sum(fracs), 1.0, abs_tol=1e-6):
        raise ValueError(f"random_split: fractions {fracs} must lie in [0, 1] and sum to 1 "
                         f"(or give counts that sum to {n})")
    counts = [int(math.floor(n * f)) for f in fracs]
    # As PyTorch: the remainder goes one sample at a time to the splits in order.
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    return counts


def random_split(dataset: Dataset, lengths: Sequence[float], seed: int | None = None,
                 generator: np.random.Generator | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets.

    Args:
        dataset: the dataset to split.
        lengths: counts summing to ``len(dataset)``, or fractions summing to 1 (each split
            gets ``floor(n * f)`` and the remainder is dealt one by one from the first split,
            as in ``torch.utils.data.random_split``).
        seed: draw the permutation from ``numpy.random.default_rng(seed)``.
        generator: or draw it from this generator; with neither, from
            ``juanji.random.default_generator()`` (so ``juanji.manual_seed`` makes it repeatable).

    Example:
        >>> train, val = random_split(ArrayDataset(np.zeros((10, 4), np.float32), np.arange(10)), [0.8, 0.2], seed=0)
        >>> len(train), len(val)
        (8, 2)
    """
    if seed is not None and generator is not None:
        raise ValueError("random_split: give seed or generator, not both")
    n = len(dataset)
    counts = _split_lengths(lengths, n)
    if generator is None:
        if seed is not None:
            generator = np.random.default_rng(seed)
        else:
            generator = _random.default_generator()
    order = generator.permutation(n)
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, order[bounds[k]:bounds[k + 1]]) for k in range(len(counts))]
