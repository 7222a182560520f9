"""numba, for the few kernels NumPy cannot make fast (juanji/kernels/depthwise.py, winograd.py).

numba is optional (the ``fast`` extra): without it, or with JUANJI_NUMBA=0, every convolution
takes the NumPy path, which computes the same values and is tested both ways.
"""

from __future__ import annotations

import functools
import os
from typing import Any

__all__ = ["numba", "available", "follow_threads"]

# reassoc lets LLVM vectorise the sums; NaN and inf keep their IEEE meaning (no 'fast').
FASTMATH = {"reassoc", "contract"}


@functools.cache
def numba() -> Any:
    """numba, imported on the first compiled call (it adds ~0.15 s to an import), or None."""
    if os.environ.get("JUANJI_NUMBA", "1") == "0":
        return None
    # numba's default threading layer on Linux is OpenMP (the system libgomp, loaded at the
    # first parallel launch), whose threads spin for a while after each loop by default. Here
    # the loops alternate with OpenBLAS's GEMMs (the pointwise convs around every depthwise
    # one), so the spinning pool and BLAS's pool fought over the cores: an Xception training
    # step took 1.39-1.41 s with spinning threads and 0.68-0.86 s with passive waiting
    # (batch 4, 150x150, 2 cores, alternating processes). Passive waiting keeps the OpenMP
    # layer (thread-safe, unlike numba's 'workqueue'). A value the user set is kept.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import numba as nb
    except ImportError:  # numba is optional: the NumPy path is always there
        return None
    return nb


def available() -> bool:
    """Whether compiled kernels can run (numba installed, JUANJI_NUMBA not 0)."""
    return numba() is not None


def follow_threads() -> None:
    """Follow juanji's thread setting (the BLAS pool size) in numba's own pool."""
    from ..threads import get_num_threads
    nb = numba()
    nb.set_num_threads(max(1, min(get_num_threads(), nb.config.NUMBA_NUM_THREADS)))
