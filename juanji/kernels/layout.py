"""Memory layouts of (N, C, *spatial) activations: NCHW, and batch-last.

juanji's arrays are always indexed (N, C, *spatial), as in PyTorch; what varies is the
order they sit in memory. NCHW is the usual C-contiguous order. Batch-last stores
(C, *spatial, N) contiguously and is seen through its (N, C, *spatial) view: the
convolutions of short rows compute in it (juanji/kernels/conv/planner.py says when, batch_last.py why) and
hand that view on, so the next layer reads it without a transposing copy.

Elementwise NumPy ops keep their operands' order by themselves (order="K"); ops that
allocate a result of a new shape use ``empty_as``/``zeros_as`` to keep it too, so a
gradient comes back in the layout of the activation it belongs to (mixing the two orders in
one elementwise op reads one operand with long strides, using little of each cache line
it loads; see bench/NOTES.md, "The batch-last layout (this session)": ops on the path keep
the layout).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..backend import xp

__all__ = ["is_batch_last", "to_batch_last", "from_batch_last", "empty_as", "zeros_as"]


def is_batch_last(a: np.ndarray) -> bool:
    """Whether (N, C, *spatial) ``a`` is a view of a C-contiguous (C, *spatial, N) array (and
    not also C-contiguous as it stands, as when N = 1)."""
    return a.ndim >= 3 and not a.flags.c_contiguous and np.moveaxis(a, 0, -1).flags.c_contiguous


def to_batch_last(a: np.ndarray) -> np.ndarray:
    """(N, C, *spatial) -> C-contiguous (C, *spatial, N): a view when ``a`` is stored that way,
    else one transposing copy."""
    t = np.moveaxis(a, 0, -1)
    return t if t.flags.c_contiguous else xp.ascontiguousarray(t)


def from_batch_last(t: np.ndarray) -> np.ndarray:
    """(C, *spatial, N) -> its (N, C, *spatial) view (no copy)."""
    return np.moveaxis(t, -1, 0)


def _allocate(make, like: np.ndarray, shape: Sequence[int], dtype) -> np.ndarray:
    dtype = like.dtype if dtype is None else dtype
    if is_batch_last(like) and len(shape) == like.ndim:
        return from_batch_last(make((*shape[1:], shape[0]), dtype=dtype))
    return make(tuple(shape), dtype=dtype)


def empty_as(like: np.ndarray, shape: Sequence[int], dtype: np.dtype | type | None = None) -> np.ndarray:
    """An uninitialised array of ``shape`` (same rank as ``like``) laid out like ``like``:
    batch-last if ``like`` is, NCHW otherwise."""
    return _allocate(xp.empty, like, shape, dtype)


def zeros_as(like: np.ndarray, shape: Sequence[int], dtype: np.dtype | type | None = None) -> np.ndarray:
    """``empty_as`` filled with zeros."""
    return _allocate(xp.zeros, like, shape, dtype)
