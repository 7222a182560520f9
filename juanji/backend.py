"""Which array module juanji computes with.

Everything above this layer writes ``xp.something`` instead of ``numpy.something``
so that the array module is chosen in exactly one place. Today that is NumPy;
a CuPy build would swap it here and nowhere else.
"""

from __future__ import annotations

import numpy

xp = numpy

DEFAULT_DTYPE = numpy.float32

__all__ = ["xp", "DEFAULT_DTYPE"]
