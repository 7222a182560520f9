"""The compiled loop of juanji/kernels/direct.py (see there for the formula).

Imported only by direct._kernels(), after compiled.numba() has imported numba and chosen its
threading layer. At module level, not in a closure, so that numba's disk cache finds it
again in the next process (see depthwise_loops.py).
"""

import numpy as np
from numba import njit, prange

from ..compiled import FASTMATH


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def forward(x, w, bias, out, sh, sw, dh, dw, ph, pw):  # pragma: no cover - compiled
    c_ch, height, width, n = x.shape
    o_ch, oh, ow = out.shape[0], out.shape[1], out.shape[2]
    kh, kw = w.shape[2], w.shape[3]
    for y in prange(oh):
        acc = np.empty((o_ch, n), dtype=out.dtype)  # this output pixel, every channel and image
        for col in range(ow):
            for o in range(o_ch):
                acc[o, :] = bias[o]
            for c in range(c_ch):
                for i in range(kh):
                    r = y * sh + i * dh - ph
                    if r < 0 or r >= height:
                        continue  # a tap on the zero border
                    for j in range(kw):
                        s = col * sw + j * dw - pw
                        if s < 0 or s >= width:
                            continue
                        v = x[c, r, s]  # (N,): the tap's input for every image, contiguous
                        for o in range(o_ch):
                            wv = w[o, c, i, j]
                            a = acc[o]
                            for t in range(n):
                                a[t] += wv * v[t]
            for o in range(o_ch):
                out[o, y, col, :] = acc[o]
