"""GEMM that adds into its output, C = A @ B + beta*C, on the BLAS that NumPy itself uses.

NumPy's matmul always overwrites its output, so a sum of products, C = A1 @ B1 + A2 @ B2,
costs a temporary per term and a pass over C to add it in. BLAS's own sgemm/dgemm take
``beta``: with beta = 1 each product is added into C while C's tile is in registers, for free.
The row-shifted convolution (juanji/kernels/rowshift.py) is such a sum, one product per
kernel row, so it calls BLAS directly, through ctypes, the same library NumPy's matmul
calls (found with threadpoolctl), on the same thread pool (juanji.set_num_threads applies).

Operands are strided 2-D views with unit inner stride: BLAS reads a matrix whose rows are
``lda`` elements apart, so A or B may be a window of a larger array (the shifted views
of rowshift.py), never copied. ``gemm`` falls back to matmul and an add when no
BLAS with a known interface is found (``available()`` is then False and callers prefer
their plain-matmul routes); JUANJI_BLAS=0 forces the fallback (the tests use both).

``gemm`` and ``matmul`` (np.matmul with the same rule) run a memory-bound product, one with
fewer than MIN_INTENSITY multiply-adds per number it touches, on the calling thread alone
(``one_thread``): a second BLAS thread would mostly fetch numbers from the other core's
cache (see MIN_INTENSITY for what that cost LeNet-5). The convolution and linear layers
call ``matmul`` where they used np.matmul.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
from typing import Any, Callable, Iterator

import numpy as np

__all__ = ["available", "gemm", "matmul", "one_thread"]

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112  # CBLAS_ORDER, CBLAS_TRANSPOSE

# CBLAS symbol names, with the integer width of their arguments. NumPy's wheels (2.x) ship
# scipy-openblas built with 64-bit integers and these prefixed, suffixed names; 1.2x wheels
# had the suffix only. A plain ``cblas_sgemm`` is not tried: its integer width cannot be
# told from the library, and a wrong guess would corrupt memory.
_SYMBOLS = (("scipy_cblas_{t}gemm64_", ctypes.c_int64), ("cblas_{t}gemm64_", ctypes.c_int64))


def _numpy_blas_paths() -> list[str]:
    """File paths of the BLAS libraries loaded in this process, NumPy's own first."""
    from threadpoolctl import threadpool_info
    numpy_dir = os.path.realpath(os.path.dirname(np.__file__))  # its BLAS is in numpy/ or numpy.libs/
    paths = [info["filepath"] for info in threadpool_info() if info.get("user_api") == "blas"]
    # Not all of site-packages: SciPy's own OpenBLAS (scipy.libs/) is loaded beside it once imported.
    return sorted(paths, key=lambda p: not os.path.realpath(p).startswith((numpy_dir + os.sep,
                                                                           numpy_dir + ".libs" + os.sep)))


# OpenBLAS's thread-count controls, named like the CBLAS symbols of the same build.
_THREAD_SYMBOLS = {"scipy_cblas_{t}gemm64_": "scipy_openblas_{}_num_threads64_",
                   "cblas_{t}gemm64_": "openblas_{}_num_threads64_"}


@functools.cache
def _library() -> tuple[ctypes.CDLL, str, Any] | None:
    """NumPy's BLAS with a known CBLAS interface: (library, sgemm symbol pattern, integer
    type), or None (JUANJI_BLAS=0, or no known interface)."""
    if os.environ.get("JUANJI_BLAS", "1") == "0":
        return None
    for path in _numpy_blas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name, int_t in _SYMBOLS:
            if getattr(lib, name.format(t="s"), None) is not None:
                return lib, name, int_t
    return None


@functools.cache
def _cblas(kind: str) -> Callable[..., None] | None:
    """The CBLAS routine ``sgemm`` or ``dgemm`` as a ctypes function, or None."""
    found = _library()
    fn = getattr(found[0], found[1].format(t=kind), None) if found is not None else None
    if fn is None:
        return None
    int_t = found[2]
    real = ctypes.c_float if kind == "s" else ctypes.c_double
    ptr = ctypes.c_void_p
    # (order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
    fn.argtypes = [int_t, int_t, int_t, int_t, int_t, int_t, real, ptr, int_t, ptr, int_t, real, ptr, int_t]
    fn.restype = None
    return fn


@functools.cache
def _thread_controls() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """(get, set) of the thread count of the BLAS ``gemm`` calls (one count for the whole
    process), or None when that library's controls are not known."""
    found = _library()
    if found is None:
        return None
    lib, name = found[0], _THREAD_SYMBOLS[found[1]]
    get, set_ = getattr(lib, name.format("get"), None), getattr(lib, name.format("set"), None)
    if get is None or set_ is None:
        return None
    get.argtypes, get.restype = [], ctypes.c_int64
    set_.argtypes, set_.restype = [ctypes.c_int64], None
    return (lambda: int(get())), (lambda n: set_(n))


# A product doing fewer multiply-adds than this per number it reads or writes (M*K*N over
# M*K + K*N + M*N) runs on the calling thread alone. Such a product is bound by memory: a
# second BLAS thread adds little, and it must fetch its share of the operands from the
# cache of the core that has just written them, which on this project's machine is slow
# for minutes at a time (bench/NOTES.md, "Products per kernel row (2026-12-04)", its slow
# states). LeNet-5's first layer at batch 128, 6 x 26 by 26 x 100,352, has intensity
# 15,654,912 / (156 + 2,609,152 + 602,112) = 4.9 and is one; its second, 16 x 30 by
# 30 x 12,800, has 10.4 and a 64->64 3x3 product (64 x 192 by 192 x 3,136) 47, so a bound
# of 8 puts only the first layer on one thread. On one thread LeNet-5's step lost a little in
# quiet minutes and gained more in slow ones; a bound of 12, taking the second layer too, was
# slower in quiet minutes (bench/NOTES.md, "Changes kept": memory-bound products on one BLAS
# thread).
MIN_INTENSITY = 8

_one_lock = threading.Lock()
_one_depth = 0
_one_saved = 1


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Within the block, NumPy's BLAS runs on one thread (process-wide: OpenBLAS has one count;
    nested and concurrent blocks share it, the count set aside comes back when the last ends).
    Does nothing when the BLAS's controls are not known."""
    global _one_depth, _one_saved
    controls = _thread_controls()
    if controls is None:
        yield
        return
    get, set_ = controls
    with _one_lock:
        if _one_depth == 0:
            _one_saved = get()
            if _one_saved > 1:
                set_(1)
        _one_depth += 1
    try:
        yield
    finally:
        with _one_lock:
            _one_depth -= 1
            if _one_depth == 0 and _one_saved > 1:
                set_(_one_saved)


def _small(m: int, k: int, n: int) -> bool:
    """Whether a product of (m, k) by (k, n) runs on one thread (MIN_INTENSITY)."""
    return m * k * n < MIN_INTENSITY * (m * k + k * n + m * n)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """np.matmul(a, b, out=out), on the calling thread alone when each of its products (one
    BLAS call per matrix of a stack) is bound by memory (MIN_INTENSITY)."""
    if a.ndim >= 2 and b.ndim >= 2 and _small(a.shape[-2], a.shape[-1], b.shape[-1]):
        with one_thread():
            return np.matmul(a, b, out=out)
    return np.matmul(a, b, out=out)


def available(dtype: Any = np.float32) -> bool:
    """Whether ``gemm`` runs on BLAS directly for this dtype (float32 or float64)."""
    kind = {np.dtype(np.float32): "s", np.dtype(np.float64): "d"}.get(np.dtype(dtype))
    return kind is not None and _cblas(kind) is not None


def _operand(m: np.ndarray, name: str) -> tuple[int, int]:
    """(CBLAS transpose flag, leading dimension) of a 2-D view whose rows, or whose columns
    (a transposed view, read as such by BLAS), are contiguous and do not overlap."""
    rows, cols = m.shape
    item = m.itemsize
    if m.strides[0] % item == 0 and m.strides[1] % item == 0:
        s0, s1 = m.strides[0] // item, m.strides[1] // item
        if (s1 == 1 or cols == 1) and (rows == 1 or s0 >= cols):
            return _NO_TRANS, max(s0 if rows > 1 else cols, cols, 1)
        if (s0 == 1 or rows == 1) and (cols == 1 or s1 >= rows):
            return _TRANS, max(s1 if cols > 1 else rows, rows, 1)
    raise ValueError(f"gemm: {name} must be a 2-D view with contiguous rows or columns that do not "
                     f"overlap, got shape {m.shape} and strides {m.strides}")


def gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray, beta: float = 0.0) -> np.ndarray:
    """c = a @ b + beta * c, in place; a (M, K), b (K, N), c (M, N), one float dtype.

    Each operand is a 2-D array or view whose rows are contiguous (unit inner stride) and
    any distance apart; a and b may also be transposed views of such (BLAS reads them
    transposed, no copy). beta = 0 ignores c's previous contents (NaN included), as BLAS does.
    """
    if not (a.dtype == b.dtype == c.dtype):
        raise TypeError(f"gemm: dtypes differ: a {a.dtype}, b {b.dtype}, c {c.dtype}")
    m, k = a.shape
    if b.shape[0] != k or c.shape != (m, b.shape[1]):
        raise ValueError(f"gemm: shapes do not chain: a {a.shape} @ b {b.shape} -> c {c.shape}")
    kind = {np.dtype(np.float32): "s", np.dtype(np.float64): "d"}.get(a.dtype)
    fn = _cblas(kind) if kind is not None else None
    if fn is None or 0 in (m, k, b.shape[1]):
        if beta == 0.0:
            np.matmul(a, b, out=c)
        else:
            c *= beta
            c += a @ b
        return c
    (ta, lda), (tb, ldb), (tc, ldc) = _operand(a, "a"), _operand(b, "b"), _operand(c, "c")
    if tc != _NO_TRANS or not c.flags.writeable:
        raise ValueError(f"gemm: c must be a writeable view with contiguous rows, got strides {c.strides}")
    args = (_ROW_MAJOR, ta, tb, m, b.shape[1], k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb,
            beta, c.ctypes.data, ldc)
    if _small(m, k, b.shape[1]):
        with one_thread():
            fn(*args)
    else:
        fn(*args)
    return c
