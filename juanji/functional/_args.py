"""Argument checks shared by the windowed ops (convolution and pooling).

Kept apart from the math so each op's forward reads as the formula it implements.
Every error names the op and the argument, and shows what came.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..tensor import Tensor

__all__: list[str] = []


_INT64_LIMIT = 2 ** 62  # headroom for sums of a few such values in int64


def ntuple(value: Any, n: int, op: str, name: str, minimum: int | None = None) -> tuple[int, ...]:
    """Expand an int to an n-tuple, or check a sequence has length n; ints only.

    ``minimum`` (e.g. 1 for stride and dilation, 0 for padding) is enforced per element.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        out = (int(value),) * n
    elif isinstance(value, (tuple, list)) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        if len(value) != n:
            raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {tuple(value)}")
        out = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if minimum is not None and any(v < minimum for v in out):
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    # Sizes and offsets are computed in NumPy's int64 (PyTorch's too): a larger value would
    # overflow there, so it is refused here, by name.
    if any(abs(v) >= _INT64_LIMIT for v in out):
        raise ValueError(f"{op}: {name} must be below 2**62, got {value!r}")
    return out


def check_input(op: str, x: Any, spatial: int, name: str = "input") -> Tensor:
    """Check ``x`` is a Tensor of rank 2 + ``spatial`` (N, C, *spatial)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a juanji.Tensor, got {type(x).__name__}")
    want = 2 + spatial
    if x.ndim != want:
        layout = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}[spatial]
        raise ValueError(f"{op}: expected a {want}-D {name} {layout}, got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be floating point, got dtype {x.dtype}")
    return x


def output_size(n: int, k: int, s: int, p_total: int, d: int = 1, ceil_mode: bool = False,
                p_before: int | None = None) -> int:
    """Output length of a window op: floor((n + p_total - d*(k-1) - 1) / s) + 1.

    With ``ceil_mode`` the division rounds up, but (as PyTorch) the last window must
    start inside the input or the left padding: if it would start past n + p_before,
    it is dropped.
    """
    span = n + p_total - d * (k - 1) - 1
    if ceil_mode:
        out = -(-span // s) + 1
        if p_before is not None and (out - 1) * s >= n + p_before:
            out -= 1
    else:
        out = span // s + 1
    return out


def same_padding(n: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's "same" padding for one spatial dim: output = ceil(n / s).

    total = max((ceil(n/s) - 1) * s + d*(k-1) + 1 - n, 0); the extra pixel of an odd
    total goes after (bottom/right).
    """
    out = math.ceil(n / s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def resolve_padding(padding: Any, spatial_in: Sequence[int], kernel: Sequence[int],
                    stride: Sequence[int], dilation: Sequence[int], op: str) -> tuple[tuple[int, int], ...]:
    """Turn int / tuple / "valid" / "same" into one (before, after) pair per spatial dim."""
    n = len(spatial_in)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0),) * n
        if mode == "same":
            return tuple(same_padding(spatial_in[i], kernel[i], stride[i], dilation[i]) for i in range(n))
        raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
    p = ntuple(padding, n, op, "padding", minimum=0)
    return tuple((v, v) for v in p)
