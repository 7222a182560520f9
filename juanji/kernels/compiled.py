"""numba, for the few kernels NumPy cannot make fast (juanji/kernels/conv/depthwise.py, winograd.py,
direct.py; juanji/kernels/batchnorm.py, maxpool.py).

numba is optional (the ``fast`` extra): without it, or with JUANJI_NUMBA=0, every such op
takes its NumPy path, which computes the same values and is tested both ways.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

__all__ = ["numba", "available", "lock"]

# reassoc lets LLVM vectorise the sums; NaN and inf keep their IEEE meaning (no 'fast').
FASTMATH = {"reassoc", "contract"}


@functools.cache
def numba() -> Any:
    """numba, imported on the first compiled call rather than with juanji (its import is slow:
    bench/NOTES.md, "Changes kept", the notes under its first table), or None."""
    if os.environ.get("JUANJI_NUMBA", "1") == "0":
        return None
    try:
        import numba as nb
    except ImportError:  # numba is optional: the NumPy path is always there
        return None
    # The loops alternate with OpenBLAS's GEMMs (the products around every transform and
    # every depthwise conv). numba's default threading layer on Linux is OpenMP, whose
    # threads spin for a while after each loop and then fought BLAS's threads for the cores;
    # numba's own 'workqueue' pool did not. Passive OpenMP waiting (OMP_WAIT_POLICY=PASSIVE)
    # did as well alone, but is read once when libgomp loads, and PyTorch's import loads it
    # first, so beside PyTorch the OpenMP threads kept spinning (bench/NOTES.md, "Winograd
    # and thread pools (2026-11-23)"). workqueue aborts if two threads launch loops at once,
    # so juanji's launches hold ``lock``. A layer the user chose (NUMBA_THREADING_LAYER) is
    # kept, and so is one numba already started.
    if "NUMBA_THREADING_LAYER" not in os.environ:
        nb.config.THREADING_LAYER = "workqueue"
    return nb


def available() -> bool:
    """Whether compiled kernels can run (numba installed, JUANJI_NUMBA not 0)."""
    return numba() is not None


class _Launch:
    """Held around every launch of a compiled parallel loop: ``with compiled.lock: loop(...)``.

    It serialises the launches (numba's workqueue pool aborts when two threads launch at once;
    see numba()) and, for the launch only, sets numba's thread count (numba keeps one per calling
    thread) to juanji's thread setting, the BLAS pool's size, then puts the caller's back: a
    program's own numba code in the same thread keeps the count it chose."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._saved: int | None = None

    def __enter__(self) -> "_Launch":
        self._lock.acquire()
        try:
            from ..threads import get_num_threads
            nb = numba()
            saved = nb.get_num_threads()
            wanted = max(1, min(get_num_threads(), nb.config.NUMBA_NUM_THREADS))
            if wanted != saved:
                nb.set_num_threads(wanted)
            self._saved = saved if wanted != saved else None
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._saved is not None:
                numba().set_num_threads(self._saved)
                self._saved = None
        finally:
            self._lock.release()


lock = _Launch()
