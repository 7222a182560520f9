"""Tensor: an ndarray with an optional gradient and a link to the op that made it.

The arithmetic behind the operators and methods lives in ``juanji/_math.py``, one
Function per op with its backward beside its forward.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np

from . import random as _random
from .autograd import is_grad_enabled, run_backward
from .backend import DEFAULT_DTYPE, xp

__all__ = ["Tensor", "tensor", "zeros", "ones", "full", "randn", "rand", "arange", "from_numpy",
           "zeros_like", "ones_like", "as_array"]

_FLOAT_KINDS = "f"


def _as_data(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert Python data or an array into an ndarray with juanji's dtype rules.

    Python floats (and lists of them) become float32, as in PyTorch; NumPy arrays keep
    their dtype (float64 stays float64, integers stay integers) unless ``dtype`` is given.
    """
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray):
        arr = data
    else:
        try:
            arr = xp.asarray(data)
        except ValueError as e:  # NumPy's "inhomogeneous shape" for [[1, 2], [3]]
            raise ValueError(f"tensor: the nested sequences are ragged (rows of different lengths): {e}") from None
    _check_numeric(arr.dtype)  # before any dtype conversion: NumPy would parse "2" as 2.0
    if dtype is not None:
        arr = xp.asarray(arr, dtype=dtype)
        _check_numeric(arr.dtype)
        return arr
    if arr.dtype == np.float64 and not isinstance(data, (np.ndarray, np.generic)):
        arr = arr.astype(DEFAULT_DTYPE)
    return arr


# NumPy kinds a tensor may hold: bool, signed and unsigned ints, floats, complex (as PyTorch).
# Strings, bytes, objects (None, datetime.datetime, dicts), datetimes, timedeltas and records
# are refused, as PyTorch refuses them: no op here computes on them.
_NUMERIC_KINDS = "biufc"


def _check_numeric(dtype: np.dtype) -> None:
    if dtype.kind not in _NUMERIC_KINDS:
        name = {"M": "datetime64", "m": "timedelta64"}.get(dtype.kind, dtype.str if dtype.kind in "US" else dtype.name)
        raise TypeError(f"tensor: cannot hold data of dtype {name}; a tensor holds numbers or bools")


def as_array(value: Any) -> np.ndarray:
    """The ndarray behind a Tensor, or ``value`` itself converted with ``numpy.asarray``."""
    return value.data if isinstance(value, Tensor) else xp.asarray(value)


class HookHandle:
    """Returned by ``Tensor.register_post_accumulate_grad_hook``; ``remove()`` detaches the hook."""

    _next_id = 0

    def __init__(self, hooks: dict[int, Any]) -> None:
        self.hooks = hooks
        self.id = HookHandle._next_id
        HookHandle._next_id += 1

    def remove(self) -> None:
        self.hooks.pop(self.id, None)


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    Args:
        data: array-like; Python floats become float32, NumPy arrays keep their dtype.
        requires_grad: record ops on this tensor so ``backward`` fills ``.grad``.
        dtype: optional NumPy dtype to convert to.

    Example:
        >>> x = juanji.tensor([[1.0, 2.0]], requires_grad=True)
        >>> (x * x).sum().backward(); x.grad.numpy()
        array([[2., 4.]], dtype=float32)
    """

    # Make ``ndarray + Tensor`` call Tensor.__radd__ instead of broadcasting elementwise.
    __array_priority__ = 1000
    __hash__ = object.__hash__
    # id -> hook(tensor), called by backward once this leaf's gradient is final; a class-level
    # None until the first registration, so the millions of op outputs carry no empty dict.
    _post_accumulate_grad_hooks: "dict[int, Callable[[Tensor], None]] | None" = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data: np.ndarray = _as_data(data, dtype)
        self.grad: Tensor | None = None
        self._ctx: Any = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool = False) -> "Tensor":
        """Wrap an op's output without copying or dtype conversion."""
        t = cls.__new__(cls)
        t.data = data if isinstance(data, np.ndarray) else xp.asarray(data)
        t.grad = None
        t._ctx = None
        t.requires_grad = requires_grad
        return t

    # --- basic properties ------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied); refuses if the tensor needs a gradient."""
        if self.requires_grad:
            raise RuntimeError(
                "numpy: cannot call numpy() on a tensor that requires grad; use tensor.detach().numpy()"
            )
        return self.data

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype != DEFAULT_DTYPE:
            extra += f", dtype={self.data.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn=<{type(self._ctx).__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"bool: the truth value of a tensor with {self.data.size} elements is ambiguous"
            )
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __iter__(self) -> Iterator["Tensor"]:
        for i in range(len(self)):
            yield self[i]

    # --- gradients -------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(
                f"requires_grad: only floating-point tensors can require gradients, got dtype {self.dtype}"
            )
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_: cannot turn off gradients of a non-leaf tensor; use detach()")
        self.requires_grad = requires_grad
        return self

    def detach(self) -> "Tensor":
        """A tensor sharing this data, cut from the graph."""
        return Tensor._make(self.data, requires_grad=False)

    def _accumulate_grad(self, g: np.ndarray) -> None:
        if g.dtype != self.data.dtype:
            g = g.astype(self.data.dtype)
        if self.grad is None:
            # Own the buffer: g may alias an array another node still reads.
            self.grad = Tensor._make(np.array(g, copy=True))
        else:
            self.grad.data = self.grad.data + g

    def register_post_accumulate_grad_hook(self, hook: "Callable[[Tensor], None]") -> "HookHandle":
        """Call ``hook(self)`` in every ``backward`` right after this leaf's ``.grad`` has been
        updated, when no later part of that backward pass will change it (PyTorch's name).

        Backward reaches a leaf right after the op that consumes it (its last consumer, when
        it has several), not at the end of the pass, so a hook can act while the rest of the
        network's backward still runs: ``juanji.distributed.DistributedDataParallel`` starts
        reducing a bucket of gradients there. The hook reads ``self.grad`` and returns None.

        Returns:
            A handle whose ``remove()`` detaches the hook.

        Raises:
            RuntimeError: ``self`` is not a leaf (an op's output has no ``.grad`` to accumulate).
        """
        if self._ctx is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks cannot be "
                               "registered on non-leaf tensors (only leaves, such as Parameters, accumulate .grad)")
        if not callable(hook):
            raise TypeError(f"register_post_accumulate_grad_hook: hook must be callable, got {type(hook).__name__}")
        if self._post_accumulate_grad_hooks is None:
            self._post_accumulate_grad_hooks = {}
        handle = HookHandle(self._post_accumulate_grad_hooks)
        self._post_accumulate_grad_hooks[handle.id] = hook
        return handle

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Compute d(self)/d(leaf) for every leaf that requires grad; results add into ``.grad``.

        Args:
            grad: gradient of the final objective with respect to this tensor, same shape.
                May be omitted for a one-element tensor (it is then 1).
            retain_graph: keep the recorded graph so backward can be called again.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: tensor does not require grad and has no grad_fn "
                "(was it computed under no_grad, or from inputs without requires_grad=True?)"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for one-element outputs, "
                    f"got shape {self.shape}; pass grad= of that shape"
                )
            g = xp.ones_like(self.data)
        else:
            g = as_array(grad)
            if g.shape != self.shape:
                raise ValueError(f"backward: grad has shape {g.shape} but the tensor has shape {self.shape}")
            g = g.astype(self.dtype, copy=False)
        run_backward(self, g, retain_graph)

    def zero_grad(self) -> None:
        self.grad = None

    # --- conversions -----------------------------------------------------------------------
    def astype(self, dtype: Any) -> "Tensor":
        from . import _math

        return _math.Cast.apply(self, dtype=np.dtype(dtype))

    def to(self, dtype: Any) -> "Tensor":
        return self.astype(dtype)

    def float(self) -> "Tensor":
        return self.astype(np.float32)

    def double(self) -> "Tensor":
        return self.astype(np.float64)

    def long(self) -> "Tensor":
        return Tensor._make(self.data.astype(np.int64))

    def clone(self) -> "Tensor":
        from . import _math

        return _math.Clone.apply(self)

    # --- arithmetic (broadcasting, gradients un-broadcast in _math) ------------------------
    def __add__(self, other: Any) -> "Tensor":
        return _m().Add.apply(self, _operand(other, self))

    def __radd__(self, other: Any) -> "Tensor":
        return _m().Add.apply(_operand(other, self), self)

    def __sub__(self, other: Any) -> "Tensor":
        return _m().Sub.apply(self, _operand(other, self))

    def __rsub__(self, other: Any) -> "Tensor":
        return _m().Sub.apply(_operand(other, self), self)

    def __mul__(self, other: Any) -> "Tensor":
        return _m().Mul.apply(self, _operand(other, self))

    def __rmul__(self, other: Any) -> "Tensor":
        return _m().Mul.apply(_operand(other, self), self)

    def __truediv__(self, other: Any) -> "Tensor":
        return _m().Div.apply(self, _operand(other, self))

    def __rtruediv__(self, other: Any) -> "Tensor":
        return _m().Div.apply(_operand(other, self), self)

    def __neg__(self) -> "Tensor":
        return _m().Neg.apply(self)

    def __pos__(self) -> "Tensor":
        return self

    def __pow__(self, exponent: Any) -> "Tensor":
        return self.pow(exponent)

    def __rpow__(self, base: Any) -> "Tensor":
        return _m().Pow.apply(_operand(base, self), self)

    def __matmul__(self, other: Any) -> "Tensor":
        return _m().MatMul.apply(self, _operand(other, self))

    def __rmatmul__(self, other: Any) -> "Tensor":
        return _m().MatMul.apply(_operand(other, self), self)

    # Comparisons give boolean tensors with no gradient, as in PyTorch.
    def __eq__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return Tensor._make(self.data == as_array(other))

    def __ne__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return Tensor._make(self.data != as_array(other))

    def __lt__(self, other: Any) -> "Tensor":
        return Tensor._make(self.data < as_array(other))

    def __le__(self, other: Any) -> "Tensor":
        return Tensor._make(self.data <= as_array(other))

    def __gt__(self, other: Any) -> "Tensor":
        return Tensor._make(self.data > as_array(other))

    def __ge__(self, other: Any) -> "Tensor":
        return Tensor._make(self.data >= as_array(other))

    def __getitem__(self, index: Any) -> "Tensor":
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        return _m().GetItem.apply(self, index=index)

    def __setitem__(self, index: Any, value: Any) -> None:
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError(
                "setitem: in-place assignment into a tensor that requires grad is not supported; "
                "wrap it in juanji.no_grad() or build a new tensor"
            )
        self.data[index] = as_array(value)

    # --- elementwise math ------------------------------------------------------------------
    def exp(self) -> "Tensor":
        return _m().Exp.apply(self)

    def log(self) -> "Tensor":
        return _m().Log.apply(self)

    def sqrt(self) -> "Tensor":
        return _m().Sqrt.apply(self)

    def abs(self) -> "Tensor":
        return _m().Abs.apply(self)

    def pow(self, exponent: Any) -> "Tensor":
        if isinstance(exponent, Tensor):
            return _m().Pow.apply(self, exponent)
        return _m().PowScalar.apply(self, exponent=exponent)

    def clip(self, min: float | None = None, max: float | None = None) -> "Tensor":
        return _m().Clip.apply(self, lo=min, hi=max)

    clamp = clip

    def relu(self) -> "Tensor":
        from .functional import relu

        return relu(self)

    def sigmoid(self) -> "Tensor":
        from .functional import sigmoid

        return sigmoid(self)

    def tanh(self) -> "Tensor":
        from .functional import tanh

        return tanh(self)

    def softmax(self, dim: int = -1) -> "Tensor":
        from .functional import softmax

        return softmax(self, dim=dim)

    def log_softmax(self, dim: int = -1) -> "Tensor":
        from .functional import log_softmax

        return log_softmax(self, dim=dim)

    # --- reductions ------------------------------------------------------------------------
    def sum(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> "Tensor":
        return _m().Sum.apply(self, axis=_axes(dim, self.ndim, "sum"), keepdims=keepdim)

    def mean(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> "Tensor":
        return _m().Mean.apply(self, axis=_axes(dim, self.ndim, "mean"), keepdims=keepdim)

    def var(self, dim: int | Sequence[int] | None = None, keepdim: bool = False,
            unbiased: bool = True) -> "Tensor":
        mu = self.mean(dim, keepdim=True)
        sq = ((self - mu) ** 2).sum(dim, keepdim=keepdim)
        n = self.numel() // max(sq.numel(), 1)
        return sq / (n - 1 if unbiased else n)

    def max(self, dim: int | None = None, keepdim: bool = False) -> "Tensor":
        return _m().Max.apply(self, axis=_axes(dim, self.ndim, "max"), keepdims=keepdim)

    def min(self, dim: int | None = None, keepdim: bool = False) -> "Tensor":
        return -((-self).max(dim, keepdim))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> "Tensor":
        return Tensor._make(xp.argmax(self.data, axis=dim, keepdims=keepdim))

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> "Tensor":
        return Tensor._make(xp.argmin(self.data, axis=dim, keepdims=keepdim))

    # --- shape -----------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> "Tensor":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _m().Reshape.apply(self, shape=tuple(int(s) for s in shape))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        if self.ndim == 0:
            return self.reshape(1)
        s = _dim(start_dim, self.ndim, "flatten")
        e = _dim(end_dim, self.ndim, "flatten")
        if s > e:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {self.shape}")
        new = self.shape[:s] + (int(np.prod(self.shape[s:e + 1])),) + self.shape[e + 1:]
        return self.reshape(new)

    def permute(self, *dims: Any) -> "Tensor":
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        axes = tuple(_dim(d, self.ndim, "permute") for d in dims)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"permute: dims {dims} are not a permutation of the {self.ndim} dims of shape {self.shape}")
        return _m().Transpose.apply(self, axes=axes)

    def transpose(self, dim0: int = 0, dim1: int = 1) -> "Tensor":
        """Swap two dimensions (PyTorch semantics, not NumPy's full-permutation form)."""
        axes = list(range(self.ndim))
        a, b = _dim(dim0, self.ndim, "transpose"), _dim(dim1, self.ndim, "transpose")
        axes[a], axes[b] = axes[b], axes[a]
        return _m().Transpose.apply(self, axes=tuple(axes))

    @property
    def T(self) -> "Tensor":
        return _m().Transpose.apply(self, axes=tuple(reversed(range(self.ndim))))

    def squeeze(self, dim: int | None = None) -> "Tensor":
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        d = _dim(dim, self.ndim, "squeeze")
        if self.shape[d] != 1:
            return self
        return self.reshape(self.shape[:d] + self.shape[d + 1:])

    def unsqueeze(self, dim: int) -> "Tensor":
        d = _dim(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def expand(self, *shape: Any) -> "Tensor":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _m().BroadcastTo.apply(self, shape=tuple(shape))


def _m() -> Any:
    from . import _math

    return _math


def _operand(value: Any, like: Tensor) -> Any:
    """Bring a Python scalar or array operand into the tensor's float dtype.

    ``float32_tensor * 0.5`` must stay float32, and so must ``float32_tensor * np.float64(2)``.
    Tensors pass through (dtype promotion between two tensors follows NumPy).
    """
    if isinstance(value, Tensor):
        return value
    arr = xp.asarray(value)
    if like.data.dtype.kind == "f" and (arr.dtype.kind in "biuf") and arr.ndim == 0:
        arr = arr.astype(like.data.dtype)
    return arr


def _dim(d: int, ndim: int, op: str) -> int:
    if not -ndim <= d < max(ndim, 1):
        raise ValueError(f"{op}: dim {d} is out of range for a tensor with {ndim} dims")
    return d % max(ndim, 1)


def _axes(dim: int | Sequence[int] | None, ndim: int, op: str) -> tuple[int, ...] | None:
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    return tuple(_dim(int(d), ndim, op) for d in dims)


# --- factories -------------------------------------------------------------------------------
def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Make a tensor from Python data or an array (copied). Python floats become float32."""
    arr = _as_data(data, dtype)
    return Tensor(np.array(arr, copy=True), requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """Wrap an ndarray without copying; dtype kept."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._make(array)


def _shape(op: str, shape: tuple[Any, ...]) -> tuple[int, ...]:
    """The size given to a creation function, ``f(2, 3)`` or ``f((2, 3))``, as a tuple of ints.

    As PyTorch: ints and NumPy ints (anything with ``__index__``) only, no bools, floats,
    strings or arrays (int() would turn 2.5 into 2 and "3" into 3), and none negative.
    """
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    out = []
    for s in shape:
        if isinstance(s, (bool, np.bool_)) or not hasattr(type(s), "__index__") or isinstance(s, np.ndarray):
            raise TypeError(f"{op}: size must be ints, got {s!r} of type {type(s).__name__}")
        out.append(s.__index__())
    for s in out:
        if s < 0:
            raise ValueError(f"{op}: negative size {s} in {tuple(out)}")
    return tuple(out)


def zeros(*shape: Any, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``; float32 by default."""
    return Tensor(xp.zeros(_shape("zeros", shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``; float32 by default."""
    return Tensor(xp.ones(_shape("ones", shape), dtype=dtype), requires_grad=requires_grad)


def full(shape: Sequence[int], fill_value: float, dtype: Any = DEFAULT_DTYPE,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``; float32 by default."""
    return Tensor(xp.full(_shape("full", (shape,)), fill_value, dtype=dtype), requires_grad=requires_grad)


def zeros_like(t: Tensor, dtype: Any = None) -> Tensor:
    """Zeros with the shape (and, unless given, the dtype) of ``t``."""
    return Tensor(xp.zeros_like(as_array(t), dtype=dtype))


def ones_like(t: Tensor, dtype: Any = None) -> Tensor:
    """Ones with the shape (and, unless given, the dtype) of ``t``."""
    return Tensor(xp.ones_like(as_array(t), dtype=dtype))


def randn(*shape: Any, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from juanji's seeded generator."""
    data = _random.default_generator().standard_normal(_shape("randn", shape)).astype(dtype, copy=False)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape: Any, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from juanji's seeded generator."""
    data = _random.default_generator().random(_shape("rand", shape)).astype(dtype, copy=False)
    return Tensor(data, requires_grad=requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None) -> Tensor:
    """Like ``numpy.arange``: integers stay int64, a float argument gives float32."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if is_int else DEFAULT_DTYPE
    return Tensor(xp.arange(start, end, step, dtype=dtype))
