"""Shape ops (flatten, pad, cat, stack, split, chunk) and embedding lookup.

Shape legend: N batch, C channels, D/H/W spatial, PH/PW pads, V vocabulary size
(rows of an embedding table), E embedding dim; ``(*)`` any shape.

These ops move values without arithmetic, so each backward routes the gradient back
to where each value came from:
    cat/stack/split   slice the gradient (no arithmetic at all);
    pad "constant"    crop the gradient (negative pads: zero-fill what was cropped);
    pad reflect/replicate/circular
                      an input element can appear several times in the output, so its
                      gradient is the sum over its copies: the border strips of the
                      gradient are folded back onto the rows they were copied from;
    embedding         rows of the table gather; repeated indices accumulate (np.add.at).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..autograd import Function
from ..backend import xp
from ..kernels.layout import from_batch_last, is_batch_last, to_batch_last
from ..tensor import Tensor

__all__ = ["flatten", "pad", "cat", "stack", "split", "chunk", "embedding"]


def _check_tensor(op: str, x: Any, name: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a juanji.Tensor, got {type(x).__name__}")
    return x


def _norm_dim(op: str, dim: Any, ndim: int, shape: tuple[int, ...]) -> int:
    """Map dim in [-ndim, ndim) to [0, ndim), with an error naming the shape."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"{op}: dim {dim} is out of range for shape {shape} (expected {-ndim}..{ndim - 1})")
    return int(dim) % ndim


def _axis_slice(ndim: int, axis: int, start: int, stop: int) -> tuple[slice, ...]:
    """Index selecting [start, stop) along ``axis`` and everything along the other axes."""
    idx = [slice(None)] * ndim
    idx[axis] = slice(start, stop)
    return tuple(idx)


# --- flatten ------------------------------------------------------------------------------
def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one (torch.flatten); a 0-d input becomes (1,).

    Shape:
        (d0, ..., d_s, ..., d_e, ...) -> (d0, ..., d_s * ... * d_e, ...)

    Example:
        >>> F.flatten(juanji.zeros(2, 3, 4, 5), 1).shape
        (2, 60)
    """
    x = _check_tensor("flatten", input)
    if x.ndim == 0:
        return x.reshape(1)
    s = _norm_dim("flatten", start_dim, x.ndim, x.shape)
    e = _norm_dim("flatten", end_dim, x.ndim, x.shape)
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    return x.reshape(x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:])


# --- pad ----------------------------------------------------------------------------------
_NUMPY_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad_constant(x: np.ndarray, widths: Sequence[tuple[int, int]], value: Any) -> np.ndarray:
    """Pad by positive widths with ``value``, crop by negative ones (PyTorch's constant mode)."""
    crop = tuple(slice(max(-a, 0), n - max(-b, 0)) for (a, b), n in zip(widths, x.shape))
    grow = [(max(a, 0), max(b, 0)) for a, b in widths]
    return xp.pad(x[crop], grow, mode="constant", constant_values=value)   # padded shape


def _fold(g: np.ndarray, axis: int, a: int, b: int, n: int, mode: str) -> np.ndarray:
    """Adjoint of padding one axis of length n by (a, b): sum each copy back onto its source.

    Output index j reads input index i = j - a, mapped into [0, n):
        reflect    i < 0 -> -i,   i >= n -> 2(n - 1) - i
        replicate  clip(i, 0, n - 1)
        circular   i mod n
    so the left strip g[:a] lands (reversed for reflect) on rows 1..a, on row 0, or on
    rows n-a..n-1, and the right strip g[a+n:] on rows n-1-b..n-2 (reversed), on row
    n-1, or on rows 0..b-1.
    """
    nd = g.ndim
    gx = g[_axis_slice(nd, axis, a, a + n)].copy()        # centre: (..., n, ...)
    left = g[_axis_slice(nd, axis, 0, a)]                 # (..., a, ...)
    right = g[_axis_slice(nd, axis, a + n, a + n + b)]    # (..., b, ...)
    if mode == "reflect":
        gx[_axis_slice(nd, axis, 1, a + 1)] += xp.flip(left, axis)
        gx[_axis_slice(nd, axis, n - 1 - b, n - 1)] += xp.flip(right, axis)
    elif mode == "replicate":
        gx[_axis_slice(nd, axis, 0, 1)] += left.sum(axis=axis, keepdims=True)
        gx[_axis_slice(nd, axis, n - 1, n)] += right.sum(axis=axis, keepdims=True)
    else:  # circular
        gx[_axis_slice(nd, axis, n - a, n)] += left
        gx[_axis_slice(nd, axis, 0, b)] += right
    return gx


class Pad(Function):
    def forward(self, x: np.ndarray, widths: tuple[tuple[int, int], ...], mode: str,
                value: float) -> np.ndarray:
        self.save_for_backward(widths, mode, x.shape)
        if mode == "constant":
            return _pad_constant(x, widths, value)        # (..., H + PH, W + PW)
        return xp.pad(x, widths, mode=_NUMPY_MODE[mode])  # (..., H + PH, W + PW)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        widths, mode, shape = self.saved
        if mode == "constant":
            # The adjoint of pad-by-(a, b) is pad-by-(-a, -b) with zeros.
            return (_pad_constant(g, [(-a, -b) for a, b in widths], 0),)   # input shape
        for axis, (a, b) in enumerate(widths):
            if a or b:
                g = _fold(g, axis, a, b, shape[axis], mode)   # axis shrinks to its input size
        return (g,)


def _pad_widths(x: Tensor, pad: Any, mode: str, value: Any) -> tuple[tuple[int, int], ...]:
    """PyTorch's pad tuple (last dim first) -> NumPy's ((before, after) per axis)."""
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(
            f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}"
        )
    if not isinstance(pad, (tuple, list)) or not all(
            isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"pad: pad must be a tuple of ints (left, right, top, bottom, ...), got {pad!r}")
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(
            f"pad: pad must have an even length of at most 2 * ndim = {2 * x.ndim} "
            f"for input shape {x.shape}, got {tuple(pad)}"
        )
    if mode != "constant" and value not in (None, 0):
        raise ValueError(f"pad: mode {mode!r} takes no value argument, got value={value!r}")
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        axis = x.ndim - 1 - k
        a, b, n = int(pad[2 * k]), int(pad[2 * k + 1]), x.shape[axis]
        widths[axis] = (a, b)
        if mode == "constant":
            if n + a + b < 0:
                raise ValueError(f"pad: padding ({a}, {b}) of dim {axis} (size {n}) gives a negative "
                                 f"size for input shape {x.shape}")
            continue
        if a < 0 or b < 0:
            raise ValueError(f"pad: negative padding ({a}, {b}) is supported only in 'constant' mode, "
                             f"not {mode!r}")
        if mode == "reflect" and max(a, b) >= n:
            raise ValueError(f"pad: reflect padding ({a}, {b}) is too large for dim {axis} of size {n} "
                             f"(input shape {x.shape}); each pad must be less than the size")
        if mode == "circular" and max(a, b) > n:
            raise ValueError(f"pad: circular padding ({a}, {b}) would wrap more than once around dim "
                             f"{axis} of size {n} (input shape {x.shape})")
        if mode == "replicate" and n == 0 and (a or b):
            raise ValueError(f"pad: cannot replicate-pad the empty dim {axis} of input shape {x.shape}")
    return tuple(widths)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last dims, PyTorch's ``F.pad``: pairs are given last dim first.

    Args:
        input: tensor of any rank.
        pad: (left, right) pads the last dim, (left, right, top, bottom) the last two,
            and so on. Negative values crop ("constant" mode only).
        mode: "constant" (fill with ``value``), "reflect" (mirror, edge not repeated;
            each pad < size), "replicate" (repeat the edge), "circular" (wrap; pad <= size).
        value: fill value for "constant" (default 0).

    Shape:
        (*, H, W) -> (*, H + top + bottom, W + left + right)

    Example:
        >>> F.pad(juanji.zeros(1, 1, 3, 4), (1, 2, 0, 1), mode="reflect").shape
        (1, 1, 4, 7)
    """
    x = _check_tensor("pad", input)
    widths = _pad_widths(x, pad, mode, value)
    fill = 0.0 if value is None else float(value)
    return Pad.apply(x, widths=widths, mode=mode, value=fill)


# --- cat / stack / split / chunk -----------------------------------------------------------
def _check_list(op: str, tensors: Any) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: tensors must be a list or tuple of Tensors, got {type(tensors).__name__}")
    if len(tensors) == 0:
        raise ValueError(f"{op}: expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: tensors[{i}] must be a juanji.Tensor, got {type(t).__name__}")
        if t.dtype != tensors[0].dtype:
            raise TypeError(f"{op}: tensors[{i}] has dtype {t.dtype} but tensors[0] has dtype "
                            f"{tensors[0].dtype}; convert them to one dtype first")
    return list(tensors)


class Cat(Function):
    def forward(self, *xs: np.ndarray, dim: int) -> np.ndarray:
        self.save_for_backward(dim, [x.shape[dim] for x in xs])
        if len(xs) > 1 and all(is_batch_last(x) for x in xs):
            # Inception's branches come out of batch-last convolutions: join their (C, *S, N)
            # storage (one block copy each) so the result stays batch-last (kernels/layout.py).
            axis = dim - 1 if dim > 0 else xs[0].ndim - 1
            return from_batch_last(xp.concatenate([to_batch_last(x) for x in xs], axis=axis))
        return xp.concatenate(xs, axis=dim)               # (..., sum of sizes along dim, ...)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, ...]:
        dim, sizes = self.saved
        ends = np.cumsum(sizes)
        return tuple(g[_axis_slice(g.ndim, dim, int(e - s), int(e))] for s, e in zip(sizes, ends))


class Stack(Function):
    def forward(self, *xs: np.ndarray, dim: int) -> np.ndarray:
        self.save_for_backward(dim)
        return xp.stack(xs, axis=dim)                     # (..., len(xs), ...)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, ...]:
        (dim,) = self.saved
        lead = (slice(None),) * dim
        return tuple(g[lead + (i,)] for i in range(g.shape[dim]))   # views, each (*S)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dim; all other sizes and the dtypes must match.

    Shape:
        (a, *S), (b, *S) -> (a + b, *S) for dim=0 (likewise for any dim)

    Example:
        >>> F.cat([juanji.zeros(2, 3), juanji.ones(1, 3)]).shape
        (3, 3)
    """
    ts = _check_list("cat", tensors)
    ref = ts[0]
    if ref.ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    d = _norm_dim("cat", dim, ref.ndim, ref.shape)
    for i, t in enumerate(ts[1:], 1):
        if t.ndim != ref.ndim or t.shape[:d] + t.shape[d + 1:] != ref.shape[:d] + ref.shape[d + 1:]:
            raise ValueError(f"cat: tensors[{i}] has shape {t.shape} but tensors[0] has shape {ref.shape}; "
                             f"sizes must match except in dim {d}")
    return Cat.apply(*ts, dim=d)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join equal-shaped tensors along a new dim ``dim`` (in [-(ndim+1), ndim]).

    Shape:
        k tensors of shape S -> S with k inserted at position dim

    Example:
        >>> F.stack([juanji.zeros(2, 3)] * 4, dim=1).shape
        (2, 4, 3)
    """
    ts = _check_list("stack", tensors)
    ref = ts[0]
    d = _norm_dim("stack", dim, ref.ndim + 1, ref.shape)
    for i, t in enumerate(ts[1:], 1):
        if t.shape != ref.shape:
            raise ValueError(f"stack: tensors[{i}] has shape {t.shape} but tensors[0] has shape "
                             f"{ref.shape}; all shapes must be equal")
    return Stack.apply(*ts, dim=d)


def _pieces(x: Tensor, sizes: Sequence[int], d: int) -> tuple[Tensor, ...]:
    """Slices of x along dim d with the given sizes. Each is a basic-slice GetItem, whose
    backward writes the piece's gradient into a zero tensor of x's shape."""
    out, start = [], 0
    for s in sizes:
        out.append(x[_axis_slice(x.ndim, d, start, start + s)])
        start += s
    return tuple(out)


def split(tensor: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Cut into pieces along ``dim`` (torch.split).

    Args:
        tensor: tensor with at least one dim.
        split_size_or_sections: an int chunk size (the last piece may be smaller), or a
            list of piece sizes that sum to the size of ``dim``.
        dim: the dim to cut.

    Shape:
        (..., n, ...) -> pieces (..., s_i, ...) with sum s_i = n

    Example:
        >>> [p.shape for p in F.split(juanji.zeros(5, 2), 2)]
        [(2, 2), (2, 2), (1, 2)]
    """
    x = _check_tensor("split", tensor, "tensor")
    if x.ndim == 0:
        raise ValueError("split: cannot split a zero-dimensional tensor")
    d = _norm_dim("split", dim, x.ndim, x.shape)
    n = x.shape[d]
    s = split_size_or_sections
    if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
        if s <= 0:
            raise ValueError(f"split: split_size must be a positive int, got {s}")
        sizes = [min(s, n - i) for i in range(0, n, int(s))] or [0]
    elif isinstance(s, (list, tuple)) and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in s):
        sizes = [int(v) for v in s]
        if any(v < 0 for v in sizes) or sum(sizes) != n:
            raise ValueError(f"split: split sizes {list(sizes)} must be non-negative and sum to {n}, "
                             f"the size of dim {d} of shape {x.shape}")
    else:
        raise TypeError(f"split: split_size_or_sections must be an int or a list of ints, got {s!r}")
    return _pieces(x, sizes, d)


def chunk(tensor: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Cut into ``chunks`` pieces of size ceil(n / chunks) along ``dim`` (torch.chunk).

    As in PyTorch, fewer pieces may come back when n does not fill them all
    (n = 5, chunks = 4 gives sizes 2, 2, 1).

    Example:
        >>> [p.shape for p in F.chunk(juanji.zeros(2, 6), 3, dim=1)]
        [(2, 2), (2, 2), (2, 2)]
    """
    x = _check_tensor("chunk", tensor, "tensor")
    if not isinstance(chunks, (int, np.integer)) or isinstance(chunks, bool) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    if x.ndim == 0:
        raise ValueError("chunk: cannot chunk a zero-dimensional tensor")
    d = _norm_dim("chunk", dim, x.ndim, x.shape)
    n = x.shape[d]
    if n == 0:
        return _pieces(x, [0] * int(chunks), d)
    return split(x, -(-n // int(chunks)), d)


# --- embedding ----------------------------------------------------------------------------
class Embedding(Function):
    """out[...] = weight[idx[...]]; dL/dweight[v] = sum of g over positions where idx == v."""

    def forward(self, idx: np.ndarray, weight: np.ndarray, padding_idx: int | None) -> np.ndarray:
        self.save_for_backward(idx, weight.shape, padding_idx)
        return xp.take(weight, idx, axis=0)               # (*, E), always a copy, never a view

    def backward(self, g: np.ndarray) -> tuple[None, np.ndarray]:
        idx, shape, padding_idx = self.saved
        gw = xp.zeros(shape, dtype=g.dtype)               # (V, E)
        # Repeated indices must accumulate, which fancy-index assignment would not do.
        xp.add.at(gw, idx.reshape(-1), g.reshape(-1, shape[1]))
        if padding_idx is not None:
            gw[padding_idx] = 0   # the padding row is never trained (PyTorch)
        return None, gw


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Look up rows of ``weight`` (a table of V vectors of size E) by integer index.

    Args:
        input: integer indices (Tensor or ndarray) of any shape, each in [0, V).
        weight: (V, E) floating-point table.
        padding_idx: a row (negative counts from the end) that gets no gradient.

    Shape:
        (*) -> (*, E)

    Example:
        >>> F.embedding(juanji.tensor([[0, 2]]), juanji.ones(3, 4)).shape
        (1, 2, 4)
    """
    if not isinstance(weight, Tensor):
        raise TypeError(f"embedding: weight must be a juanji.Tensor, got {type(weight).__name__}")
    if weight.ndim != 2 or weight.dtype.kind != "f":
        raise ValueError(f"embedding: weight must be a 2-D floating-point table (V, E), got shape "
                         f"{weight.shape} and dtype {weight.dtype}")
    idx = input.data if isinstance(input, Tensor) else input
    if not isinstance(idx, np.ndarray) or idx.dtype.kind not in "iu":
        what = f"dtype {idx.dtype}" if isinstance(idx, np.ndarray) else type(input).__name__
        raise TypeError(f"embedding: input must hold integer indices (a Tensor or ndarray), got {what}")
    v = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= v):
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise ValueError(f"embedding: index {bad} is out of range for {v} embeddings "
                         f"(valid indices 0..{v - 1})")
    if padding_idx is not None:
        if not isinstance(padding_idx, (int, np.integer)) or not -v <= padding_idx < v:
            raise ValueError(f"embedding: padding_idx must be an int in [{-v}, {v - 1}], got {padding_idx!r}")
        padding_idx = int(padding_idx) % v
    return Embedding.apply(idx, weight, padding_idx=padding_idx)
