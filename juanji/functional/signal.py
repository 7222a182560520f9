"""2-D cross-correlation and convolution in the signal-processing sense (scipy.signal's API).

Shape legend: in1 is (H, W), in2 is (KH, KW); the output is (OH, OW).

The two textbook operations differ only in whether the kernel is flipped:

    cross-correlation  c[y, x] = sum_{i, j} in1[y + i, x + j] * in2[i, j]
    convolution        v[y, x] = sum_{i, j} in1[y - i, x - j] * in2[i, j]
                              = cross-correlation of in1 with in2 flipped in both axes

(indices outside in1 read as zero). Convolution is commutative and is what a linear
filter does to a signal; cross-correlation is a sliding dot product, i.e. template
matching. What deep learning calls "convolution" (``conv2d``, Conv2d) is really
cross-correlation: the kernel is learned, so flipping it would change nothing but the
bookkeeping, and every framework skips the flip. ``convolve2d`` here is the true,
flipped convolution, agreeing with ``scipy.signal.convolve2d``.

Modes (scipy's conventions, ``boundary="fill"`` with fill value 0):

    "full"   every overlap:          OH = H + KH - 1
    "same"   the size of in1, cut from the middle of "full": correlate2d starts at
             row KH // 2 of "full", convolve2d at row (KH - 1) // 2 (they differ for even KH)
    "valid"  only full overlaps:     OH = |H - KH| + 1. Either input may be the larger one,
             but it must be at least as large in every dim; scipy then swaps the inputs, and
             the result is the same as cutting rows min(H, KH) - 1 .. max(H, KH) - 1 of "full".

Each mode is one zero-padded cross-correlation (``ConvNd`` of conv.py with one image, one
channel and asymmetric padding), so both inputs get gradients from conv2d's backward.
"""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .conv import ConvNd

__all__ = ["correlate2d", "convolve2d"]

_MODES = ("full", "same", "valid")


def _check_signal_args(op: str, in1: Any, in2: Any, mode: Any) -> None:
    for name, t in (("in1", in1), ("in2", in2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a juanji.Tensor, got {type(t).__name__}")
        if t.ndim != 2:
            raise ValueError(f"{op}: {name} must be 2-D, got shape {t.shape}")
        if t.dtype.kind != "f":
            raise TypeError(f"{op}: {name} must be floating point, got dtype {t.dtype}")
        if t.data.size == 0:
            raise ValueError(f"{op}: {name} must not be empty, got shape {t.shape}")
    if in1.dtype != in2.dtype:
        raise TypeError(f"{op}: in1 dtype {in1.dtype} and in2 dtype {in2.dtype} differ")
    if mode not in _MODES:
        raise ValueError(f"{op}: mode must be 'full', 'same' or 'valid', got {mode!r}")
    if mode == "valid":
        bigger1 = all(a >= b for a, b in zip(in1.shape, in2.shape))
        bigger2 = all(b >= a for a, b in zip(in1.shape, in2.shape))
        if not (bigger1 or bigger2):
            raise ValueError(
                f"{op}: for 'valid' mode one input must be at least as large as the other in "
                f"every dimension, got in1 shape {in1.shape} and in2 shape {in2.shape}")


def _pads(n: int, k: int, mode: str, flipped: bool) -> tuple[int, int]:
    """(before, after) zero padding of in1 along one dim so a plain cross-correlation gives ``mode``.

    "full" pads k - 1 each side (output n + k - 1). "same" keeps n outputs, so
    before + after = k - 1; the output starting at row s of "full" means before = k - 1 - s,
    with s = k // 2 for correlate2d and (k - 1) // 2 for convolve2d. "valid" with in2 larger
    (k > n) keeps rows n - 1 .. k - 1 of "full": before = after = k - n.
    """
    if mode == "full":
        return k - 1, k - 1
    if mode == "same":
        start = (k - 1) // 2 if flipped else k // 2
        return k - 1 - start, start
    extra = max(k - n, 0)
    return extra, extra


def _correlate(op: str, in1: Tensor, in2: Tensor, mode: str, flipped: bool) -> Tensor:
    _check_signal_args(op, in1, in2, mode)
    kernel = in2[::-1, ::-1] if flipped else in2  # (KH, KW); a flip is differentiable indexing
    pads = tuple(_pads(n, k, mode, flipped) for n, k in zip(in1.shape, in2.shape))
    x = in1.reshape(1, 1, *in1.shape)  # (1, 1, H, W): one image, one channel
    w = kernel.reshape(1, 1, *in2.shape)  # (1, 1, KH, KW): one filter
    out = ConvNd.apply(x, w, None, stride=(1, 1), padding=pads, dilation=(1, 1), groups=1)  # (1, 1, OH, OW)
    return out.reshape(out.shape[2:])  # (OH, OW)


def correlate2d(in1: Tensor, in2: Tensor, mode: str = "full") -> Tensor:
    """2-D cross-correlation of in1 with in2 (kernel not flipped), as scipy.signal.correlate2d.

    c[y, x] = sum_{i, j} in1[y + i - P, x + j - Q] * in2[i, j], with P, Q the offset of ``mode``
    and zeros outside in1. Differentiable with respect to both inputs.

    Args:
        in1: (H, W) float Tensor.
        in2: (KH, KW) float Tensor of the same dtype.
        mode: "full", "same" or "valid" (see the module docstring for scipy's conventions).

    Shape:
        "full": (H + KH - 1, W + KW - 1); "same": (H, W); "valid": (|H - KH| + 1, |W - KW| + 1).

    Example:
        >>> a, k = juanji.randn(5, 6), juanji.randn(3, 3)
        >>> F.correlate2d(a, k, mode="valid").shape
        (3, 4)
    """
    return _correlate("correlate2d", in1, in2, mode, flipped=False)


def convolve2d(in1: Tensor, in2: Tensor, mode: str = "full") -> Tensor:
    """2-D convolution of in1 with in2 (kernel flipped), as scipy.signal.convolve2d.

    v[y, x] = sum_{i, j} in1[y - i + P, x - j + Q] * in2[i, j], with P, Q the offset of
    ``mode`` and zeros outside in1; equal to correlate2d with in2[::-1, ::-1] except for
    the "same" centring of even kernels. Differentiable with respect to both inputs.

    Args:
        in1: (H, W) float Tensor.
        in2: (KH, KW) float Tensor of the same dtype.
        mode: "full", "same" or "valid".

    Shape:
        "full": (H + KH - 1, W + KW - 1); "same": (H, W); "valid": (|H - KH| + 1, |W - KW| + 1).

    Example:
        >>> a, k = juanji.randn(5, 6), juanji.randn(2, 2)
        >>> F.convolve2d(a, k).shape
        (6, 7)
    """
    return _correlate("convolve2d", in1, in2, mode, flipped=True)
