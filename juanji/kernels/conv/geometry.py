"""The geometry of one convolution call: every size a route needs, computed once.

A convolution is fixed by its shapes and arguments (see juanji/functional/conv.py for the
legend): N images of C channels and size ``spatial``, O filters of Cg = C/G channels and size
``kernel``, the stride S, the padding (before, after) per axis, the dilation D and the groups G.
From those follow, per spatial axis,

    padded = size + before + after
    out    = (padded - D*(K - 1) - 1) // S + 1

and L = prod(out) output positions per image. Every route and the planner read these from one
frozen ``Geometry`` instead of re-deriving them from arrays, so they cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Sequence

import numpy as np

from ..im2col import conv_output_shape

__all__ = ["Geometry"]


@dataclass(frozen=True)
class Geometry:
    """Shapes and arguments of one convolution (N, C, *spatial) * (O, Cg, *kernel).

    ``x_batch_last``: the input arrives stored batch-last, (C, *spatial, N), as the output of a
    batch-last layer does (juanji/kernels/layout.py); the planner keeps such inputs batch-last.
    """

    n: int
    c: int
    o: int
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    groups: int
    dtype: np.dtype = field(default=np.dtype(np.float32))
    x_batch_last: bool = False

    @classmethod
    def of(cls, x: np.ndarray, w_shape: Sequence[int], stride: Sequence[int],
           padding: Sequence[tuple[int, int]], dilation: Sequence[int], groups: int,
           x_batch_last: bool = False) -> "Geometry":
        """The geometry of conv(x, w) from the input array and the weight's shape."""
        return cls(n=int(x.shape[0]), c=int(x.shape[1]), o=int(w_shape[0]),
                   spatial=tuple(int(s) for s in x.shape[2:]), kernel=tuple(int(k) for k in w_shape[2:]),
                   stride=tuple(stride), padding=tuple(tuple(p) for p in padding),  # type: ignore[misc]
                   dilation=tuple(dilation), groups=int(groups), dtype=np.dtype(x.dtype),
                   x_batch_last=bool(x_batch_last))

    # --- sizes ---------------------------------------------------------------------------
    @property
    def nd(self) -> int:
        """Spatial dimensions: 1, 2 or 3."""
        return len(self.spatial)

    @cached_property
    def padded(self) -> tuple[int, ...]:
        """(HP, WP): the input size with its zero padding."""
        return tuple(s + b + a for s, (b, a) in zip(self.spatial, self.padding))

    @cached_property
    def out_size(self) -> tuple[int, ...]:
        """(OH, OW)."""
        return conv_output_shape(self.padded, self.kernel, self.stride, self.dilation)

    @cached_property
    def positions(self) -> int:
        """L = OH*OW, output positions per image."""
        return math.prod(self.out_size)

    @property
    def cg(self) -> int:
        """Input channels per group."""
        return self.c // self.groups

    @property
    def og(self) -> int:
        """Output channels per group."""
        return self.o // self.groups

    @cached_property
    def taps(self) -> int:
        """K = KH*KW, the kernel's taps."""
        return math.prod(self.kernel)

    @property
    def cgk(self) -> int:
        """Cg*K: the inner dimension of the im2col product."""
        return self.cg * self.taps

    @property
    def w_shape(self) -> tuple[int, ...]:
        return (self.o, self.cg, *self.kernel)

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.n, self.c, *self.spatial)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def is_padded(self) -> bool:
        return any(b or a for b, a in self.padding)

    @property
    def unit_stride(self) -> bool:
        return all(s == 1 for s in self.stride)

    @property
    def pointwise(self) -> bool:
        """A 1x1 (1x1x1) kernel at stride 1: the columns are the input itself."""
        return self.taps == 1 and self.unit_stride

    @property
    def crop(self) -> tuple[slice, ...]:
        """Per spatial axis, the slice of the padded input that is the input."""
        return tuple(slice(b, b + s) for s, (b, _) in zip(self.spatial, self.padding))

    # --- the input gradient as a correlation ----------------------------------------------
    @cached_property
    def adjoint_padding(self) -> tuple[tuple[int, int], ...] | None:
        """The padding under which dx = correlate(dout, the kernel reversed), or None.

        At stride 1, dx[h] = sum_i dout[h + PB - D*i] * w[i]: a correlation of dout padded by
        D*(K-1) - PB before and D*(K-1) - PA after, with the kernel reversed (i -> K-1-i) and
        its channel axes swapped. Both pads must be >= 0 (padding no wider than the dilated
        kernel); at larger strides dout would have to be zero-dilated first, so None.
        """
        if not self.unit_stride:
            return None
        pads = tuple((d * (k - 1) - pb, d * (k - 1) - pa)
                     for k, d, (pb, pa) in zip(self.kernel, self.dilation, self.padding))
        if any(pb < 0 or pa < 0 for pb, pa in pads):
            return None
        return pads

    def adjoint(self, x_batch_last: bool) -> "Geometry":
        """The geometry of that correlation: dout (N, O, *out) with weight (C, Og, *kernel);
        ``x_batch_last``: whether dout is stored batch-last (it arrives in the output's layout)."""
        pads = self.adjoint_padding
        if pads is None:
            raise ValueError(f"conv: no adjoint correlation for stride {self.stride}, padding {self.padding}")
        return replace(self, c=self.o, o=self.c, spatial=self.out_size, padding=pads, x_batch_last=x_batch_last)

    def describe(self) -> str:
        """One line, e.g. '(8, 64, 56, 56) * (64, 64, 3, 3), stride 1, padding 1'."""
        pads = {b for p in self.padding for b in p}
        pad = str(pads.pop()) if len(pads) == 1 else str(self.padding)
        parts = [f"({', '.join(map(str, self.x_shape))}) * ({', '.join(map(str, self.w_shape))})",
                 f"stride {self.stride[0] if len(set(self.stride)) == 1 else self.stride}", f"padding {pad}"]
        if any(d != 1 for d in self.dilation):
            parts.append(f"dilation {self.dilation}")
        if self.groups != 1:
            parts.append(f"groups {self.groups}")
        return ", ".join(parts)
