"""Small compiled helpers shared by the loop modules (depthwise_loops.py, maxpool_loops.py).

Imported only by those modules, after compiled.numba() has imported numba.
"""

from numba import njit


@njit(cache=True)
def span(offset, step, count, size):  # pragma: no cover - compiled
    """Outputs t in [lo, hi) whose input index t*step + offset lies inside [0, size): the
    zero (or -inf) padding is never materialised, the loops skip it."""
    lo = 0 if offset >= 0 else (step - 1 - offset) // step
    last = size - 1 - offset
    hi = 0 if last < 0 else min(count, last // step + 1)
    return lo, max(lo, hi)
