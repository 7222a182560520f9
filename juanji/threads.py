"""How many threads juanji's array work may use: ``set_num_threads``, ``get_num_threads``
and the ``num_threads`` context manager (PyTorch's ``torch.set_num_threads``, for NumPy).

juanji's heavy lifting is BLAS: every convolution and linear layer ends in NumPy's matmul,
which runs on the BLAS library's thread pool (OpenBLAS for NumPy's wheels); the rest of
NumPy is single-threaded. These functions resize the thread pools loaded in this process,
BLAS and OpenMP alike, through threadpoolctl.

juanji does not resize them on its own, with one exception: a memory-bound product (a
thin one, such as LeNet-5's first layer) runs on one BLAS thread for the duration of the
call, and the count comes back after it (juanji/kernels/blas.py, ``one_thread``; meanwhile
NumPy calls from other threads run on one thread too). At import the pools keep what the
usual environment variables gave them (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS,
MKL_NUM_THREADS; otherwise the core count), so those are respected, and so is a
``threadpool_limits`` block around juanji calls. Call ``set_num_threads`` to choose explicitly, e.g. 1 thread per process when
several training runs share a machine.

Example:
    >>> import juanji
    >>> juanji.set_num_threads(1)
    >>> juanji.get_num_threads()
    1
    >>> with juanji.num_threads(2):
    ...     pass  # up to 2 BLAS threads in here, 1 again after
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
from threadpoolctl import ThreadpoolController, threadpool_limits

__all__ = ["set_num_threads", "get_num_threads", "num_threads"]


def _check(op: str, n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{op}: the number of threads must be an int, got {n!r}")
    if n < 1:
        raise ValueError(f"{op}: the number of threads must be >= 1, got {n}")
    return int(n)


_controller: ThreadpoolController | None = None


def get_num_threads() -> int:
    """Threads of the BLAS pool that NumPy's matmul uses (the largest, if several are loaded).

    Returns 1 when no BLAS pool is visible to threadpoolctl (a single-threaded BLAS). Cheap
    (~1 us): the BLAS libraries are found once, NumPy having loaded its BLAS on import, and
    each call asks them for their current size.
    """
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    counts = [lib.num_threads for lib in _controller.lib_controllers if lib.user_api == "blas"]
    return max(counts, default=1)


def set_num_threads(n: int) -> None:
    """Use at most ``n`` threads in every BLAS and OpenMP pool of this process, from now on.

    Raises:
        TypeError: ``n`` is not an int. ValueError: ``n`` < 1.
    """
    threadpool_limits(limits=_check("set_num_threads", n))  # not a context: the limit stays


@contextlib.contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Within the block, at most ``n`` threads per pool; the previous sizes come back after."""
    with threadpool_limits(limits=_check("num_threads", n)):
        yield
