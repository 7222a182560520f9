"""2-D convolution by the FFT: the convolution theorem, forward and backward side by side.

Shape legend:

    N       batch                        G       groups
    C       input channels               Cg      input channels per group  = C / G
    F       output channels (filters)    Fg      output channels per group = F / G
    H, W    input size                   KH, KW  kernel size
    PT, PB  padding top, bottom          PL, PR  padding left, right
    OH, OW  output size: OH = H + PT + PB - KH + 1 (stride 1, dilation 1)
    SH, SW  FFT size (>= H + PT + PB, a fast length)
    SR      half-spectrum width = SW // 2 + 1 (real FFT along the width)

The convolution theorem: the DFT turns a circular convolution into a product, and a circular
correlation into a product with the conjugate. Along one axis of length S (2-D is the same
per axis), for real a and b zero-padded to S:

    circular convolution   (a (*) b)[m] = sum_j b[j] a[(m - j) mod S]   =  IDFT(A . B)[m]
    circular correlation   (a (x) b)[m] = sum_j b[j] a[(m + j) mod S]   =  IDFT(A . conj(B))[m]

(for the correlation: DFT_k of m -> a[m + j] is e^{+2 pi i k j / S} A[k], and
sum_j b[j] e^{+2 pi i k j / S} = conj(B[k]) since b is real).

What deep learning calls convolution (conv2d) is a correlation of the zero-padded input:

    out[n, f, y, x] = b[f] + sum_{c in group(f), i, j} w[f, c, i, j] * x[n, c, y + i - PT, x + j - PL]

(x read as zero outside the image). Per axis that is the circular correlation (x (x) w)[y - PT]:
the input sits at offset 0 of an FFT buffer of length S and the padding costs nothing, because
the buffer's zeros do it. The window of rows -PT .. OH - 1 - PT reads input rows -PT .. H + PB - 1,
so with S >= H + PT + PB a row index m < 0 wraps to S + m >= H + PB, a zero of the buffer, as the
top padding would be, and no index reaches past S - 1. The output rows are read from the
inverse FFT at (y - PT) mod S.

The channel sum is a product of small matrices at every frequency (u, v):

    Y[u, v, g, n, f] = sum_c X[u, v, g, n, c] * conj(Wc[u, v, g, f, c])      (N, Cg) @ (Cg, Fg)

so the batch is laid out frequency-major, (H, W, G, N, Cg), and the 2-D FFT is taken over the
first two axes: its (SH, SR, G, N, Cg) result is directly the stack of those matrices.

Backward, with dY the output gradient (N, F, OH, OW) and wc the correlation kernel (w itself;
w flipped for mode="convolution", below):

    dx[p]  = sum_{y, i: y + i - PT = p} wc[i] dY[y] = sum_i wc[i] dY[p + PT - i]
           = (dY (*) wc)[p + PT]              a full convolution:  DX = DY @ Wc        (N, Fg) @ (Fg, Cg)
    dwc[i] = sum_y dY[y] x[y + i - PT]
           = (x (x) dY)[i - PT]               a correlation:       DWc = conj(DY)^T @ X  (Fg, N) @ (N, Cg)
    db     = sum of dY over n, y, x

Neither wraps either: dY sits at rows 0 .. OH - 1, and dY[p + PT - i] with p + PT - i >= PT - KH + 1
wraps to at least S - KH + 1 + PT >= OH; dwc reads the same input rows as the forward.

mode="convolution" is the true convolution (the kernel flipped, as in signal processing and
F.convolve2d): it is the correlation with wc = w[:, :, ::-1, ::-1] (a view), and dw is dwc
flipped back.

Cost: per image and channel an FFT of SH x SW, O(S^2 log S), against the direct route's
O(OH*OW*KH*KW) per channel pair; the FFT wins for large kernels (bench/NOTES.md,
"fft_conv2d against the direct routes").
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Sequence

import numpy as np

from ..autograd import Function
from ..backend import xp
from ..tensor import Tensor
from .conv import Padding, _check_conv_args

__all__ = ["fft_conv2d"]

# Which FFT library computes the transforms when none is named. scipy.fft (pocketfft too, but
# transforming several lines at once along a strided axis) ran fft_conv2d faster than numpy.fft
# in most rows of the bench, forward and backward, at both image sizes (bench/NOTES.md,
# "fft_conv2d against the direct routes"), so it is used when installed; numpy.fft is the
# fallback and stays tested (fft_module="numpy"). scipy is optional (a test extra, not a
# dependency) and imported on first use: importing scipy.fft would add much to juanji's import.
_FFT_MODULES = ("numpy", "scipy")

_MODES = ("correlation", "convolution")


def _scipy_fft() -> ModuleType | None:
    try:
        import scipy.fft
    except ImportError:
        return None
    return scipy.fft


def _fft_module(name: str | None) -> ModuleType:
    """numpy.fft or scipy.fft by name; None: scipy.fft when installed, else numpy.fft."""
    if name == "numpy":
        return np.fft
    fft = _scipy_fft()
    if fft is None and name == "scipy":
        raise ImportError("fft_conv2d: fft_module='scipy' needs scipy (pip install scipy)")
    return fft if fft is not None else np.fft


def fast_length(n: int, primes: Sequence[int] = (2, 3, 5)) -> int:
    """The smallest m >= n whose prime factors all lie in ``primes`` (a fast FFT length).

    pocketfft has dedicated passes for radices 2, 3, 4, 5 (real transforms) and also 7, 11
    (complex ones); other prime factors fall back to a slower general pass (Bluestein's for
    large primes). The scan is short: above 100, 5-smooth numbers are at most 11% apart.

    Example:
        >>> fast_length(97), fast_length(97, primes=(2, 3, 5, 7, 11))
        (100, 98)
    """
    m = max(int(n), 1)
    while True:
        rest = m
        for p in primes:
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return m
        m += 1


def _window(start: int, length: int, size: int) -> slice | np.ndarray:
    """Indices start .. start + length - 1 of a circular buffer of ``size``, wrapped mod size.

    A slice (a view) when the window does not wrap, else an index array.
    """
    if 0 <= start and start + length <= size:
        return slice(start, start + length)
    return (start + xp.arange(length)) % size


class _Transforms:
    """The FFTs of one call: forward over the first two axes, inverse read through a window.

    Layouts are frequency-major: a signal (H, W, ...) has the spectrum (SH, SR, ...), so that
    every frequency's trailing axes form a matrix for the channel products.
    """

    def __init__(self, fft: ModuleType, size: tuple[int, int], dtype: np.dtype) -> None:
        self.fft, self.size, self.dtype = fft, size, dtype
        # numpy < 2 computes float32 FFTs in float64; the results are cast back to the
        # input's precision (a no-op with numpy >= 2 and scipy, which keep float32).
        self.cdtype = np.result_type(dtype, np.complex64)

    def rfft2(self, a: np.ndarray) -> np.ndarray:
        """(h, w, ...) zero-padded to (SH, SW) -> spectrum (SH, SR, ...)."""
        return self.fft.rfft2(a, s=self.size, axes=(0, 1)).astype(self.cdtype, copy=False)

    def irfft2_window(self, spec: np.ndarray, starts: tuple[int, int], lengths: tuple[int, int]) -> np.ndarray:
        """Rows starts[0] .. + lengths[0] and columns starts[1] .. + lengths[1] (mod S) of the
        inverse transform of ``spec`` (SH, SR, ...) -> (lengths[0], lengths[1], ...).

        The inverse is taken one axis at a time, as irfft2 does, but the rows outside the window
        are dropped between the two passes: the real inverse along the width then runs on
        lengths[0] rows instead of SH (KH rows for the weight gradient).
        """
        (sh, sw), (oh, ow) = self.size, lengths
        rows = self.fft.ifft(spec, axis=0)[_window(starts[0], oh, sh)]  # (oh, SR, ...) complex
        out = self.fft.irfft(rows, n=sw, axis=1)[:, _window(starts[1], ow, sw)]  # (oh, ow, ...)
        return out.astype(self.dtype, copy=False)


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a (..., M, R) @ b (..., R, P) per frequency and group; an outer product when R == 1.

    With R == 1 (depthwise: one input channel per group) matmul would make one tiny BLAS call
    per frequency; the broadcast product is one vectorised pass.
    """
    if a.shape[-1] == 1:
        return a * b  # (..., M, 1) * (..., 1, P) -> (..., M, P)
    return xp.matmul(a, b)


# --- layouts: NCHW <-> frequency-major ----------------------------------------------------------
def _images_last(x: np.ndarray, g: int) -> np.ndarray:
    """(N, C, H, W) -> (H, W, G, N, Cg), a view: the FFT axes first, a matrix per group last."""
    n, c, h, w = x.shape
    return x.reshape(n, g, c // g, h, w).transpose(3, 4, 1, 0, 2)


def _images_first(y: np.ndarray) -> np.ndarray:
    """(OH, OW, G, N, Fg) -> (N, F, OH, OW), contiguous (the inverse of _images_last)."""
    oh, ow, g, n, fg = y.shape
    return xp.ascontiguousarray(y.transpose(3, 2, 4, 0, 1)).reshape(n, g * fg, oh, ow)


def _kernels_last(w: np.ndarray, g: int) -> np.ndarray:
    """(F, Cg, KH, KW) -> (KH, KW, G, Fg, Cg), a view."""
    f, cg, kh, kw = w.shape
    return w.reshape(g, f // g, cg, kh, kw).transpose(3, 4, 0, 1, 2)


def _kernels_first(dw: np.ndarray) -> np.ndarray:
    """(KH, KW, G, Fg, Cg) -> (F, Cg, KH, KW), contiguous."""
    kh, kw, g, fg, cg = dw.shape
    return xp.ascontiguousarray(dw.transpose(2, 3, 4, 0, 1)).reshape(g * fg, cg, kh, kw)


class FFTConv2d(Function):
    """Stride-1 grouped 2-D correlation (or convolution) computed by real FFTs.

    Forward keeps the input's spectrum when the weight needs a gradient and the kernel's (as
    conj(Wc), the form forward multiplies by) when the input does: backward's products need
    exactly those (DWc = conj(DY)^T @ X, DX = DY @ Wc), and recomputing them would cost two more
    forward FFTs. The input's spectrum is about the size of the padded input (SH*SR complex
    numbers per plane = SH*SW reals, N*C planes); the kernel's has F*Cg planes of that size,
    more than the input's when F / G exceeds N.
    """

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, *,
                padding: tuple[tuple[int, int], tuple[int, int]], groups: int, mode: str,
                fft: ModuleType) -> np.ndarray:
        n, c, h, wd = x.shape
        f, _, kh, kw = w.shape
        (pt, pb), (pl, pr) = padding
        oh, ow = h + pt + pb - kh + 1, wd + pl + pr - kw + 1
        size = (fast_length(h + pt + pb), fast_length(wd + pl + pr))  # no wrap-around (module docstring)
        tr = _Transforms(fft, size, x.dtype)
        wc = w[:, :, ::-1, ::-1] if mode == "convolution" else w  # the correlation kernel, a view

        spec_x = tr.rfft2(_images_last(x, groups))  # X  (SH, SR, G, N, Cg)
        spec_wconj = tr.rfft2(_kernels_last(wc, groups))  # Wc (SH, SR, G, Fg, Cg), a fresh array ...
        xp.conjugate(spec_wconj, out=spec_wconj)  # ... conjugated in place: conj(Wc)
        spec_y = _matmul(spec_x, spec_wconj.swapaxes(-1, -2))  # Y = X @ conj(Wc)^T (SH, SR, G, N, Fg)
        y = tr.irfft2_window(spec_y, (-pt, -pl), (oh, ow))  # out[y] = (x (x) wc)[y - PT], (OH, OW, G, N, Fg)
        out = _images_first(y)  # (N, F, OH, OW)
        if b is not None:
            out += b.reshape(1, f, 1, 1)
        need_x, need_w = self.needs_input_grad[:2]
        self.save_for_backward(x.shape, w.shape, padding, groups, mode, tr,
                               spec_x if need_w else None, spec_wconj if need_x else None)
        return out

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x_shape, w_shape, padding, g, mode, tr, spec_x, spec_wconj = self.saved
        need_x, need_w, need_b = self.needs_input_grad[:3]
        (pt, _), (pl, _) = padding
        h, wd = x_shape[2:]
        kh, kw = w_shape[2:]

        db = grad.sum(axis=(0, 2, 3)) if need_b else None  # (F,)
        dx = dw = None
        if need_x or need_w:
            spec_dy = tr.rfft2(_images_last(grad, g))  # DY (SH, SR, G, N, Fg)
        if need_x:
            spec_dx = _matmul(spec_dy, spec_wconj.conj())  # DX = DY @ Wc  (SH, SR, G, N, Cg)
            dx = _images_first(tr.irfft2_window(spec_dx, (pt, pl), (h, wd)))  # dx[p] = (dY (*) wc)[p + PT]
        if need_w:
            xp.conjugate(spec_dy, out=spec_dy)  # conj(DY), in place: DY is not needed any more
            spec_dw = _matmul(spec_dy.swapaxes(-1, -2), spec_x)  # DWc = conj(DY)^T @ X  (SH, SR, G, Fg, Cg)
            dwc = _kernels_first(tr.irfft2_window(spec_dw, (-pt, -pl), (kh, kw)))  # dwc[i] = (x (x) dY)[i - PT]
            dw = xp.ascontiguousarray(dwc[:, :, ::-1, ::-1]) if mode == "convolution" else dwc
        return dx, dw, db


def _check_fft_args(input: Any, weight: Any, bias: Any, padding: Any, groups: Any,
                    mode: Any, fft_module: Any) -> dict[str, Any]:
    """conv2d's checks (stride 1, dilation 1), then the dtype, ``mode`` and ``fft_module``."""
    params = _check_conv_args("fft_conv2d", 2, input, weight, bias, 1, padding, 1, groups)
    if input.dtype not in (np.float32, np.float64):
        raise TypeError(f"fft_conv2d: input dtype {input.dtype} is not supported (float32 or float64; "
                        f"input shape {input.shape})")
    if mode not in _MODES:
        raise ValueError(f"fft_conv2d: mode must be 'correlation' or 'convolution', got {mode!r}")
    if fft_module is not None and fft_module not in _FFT_MODULES:
        raise ValueError(f"fft_conv2d: fft_module must be None, 'numpy' or 'scipy', got {fft_module!r}")
    return {"padding": params["padding"], "groups": params["groups"], "mode": mode,
            "fft": _fft_module(fft_module)}


def fft_conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, padding: Padding = 0,
               groups: int = 1, mode: str = "correlation", *, fft_module: str | None = None) -> Tensor:
    """2-D convolution by FFTs (stride 1, dilation 1), equal to conv2d up to rounding.

    The convolution theorem: each image and kernel plane is transformed by a real 2-D FFT of a
    fast length at least the padded input's size, the channel sum becomes a small matrix product
    at every frequency, and one inverse FFT per output plane gives the result. Backward is FFTs
    too (see the module docstring). Faster than the direct routes for large kernels: the cost
    depends on the kernel size only through the FFT size (bench/NOTES.md, "fft_conv2d against
    the direct routes", has the crossover).

    Args:
        input: (N, C, H, W), float32 or float64 (the output keeps the dtype).
        weight: (F, C/groups, KH, KW), the input's dtype.
        bias: (F,) or None.
        padding: int or (PH, PW) (zeros on both sides), "valid" (none) or "same" (TensorFlow's
            rule, as conv2d: OH = H; an odd total puts the extra row/column at the bottom/right).
        groups: split channels into this many independent groups (groups = C: depthwise).
        mode: "correlation" (the default: what conv2d computes, the kernel not flipped) or
            "convolution" (the true convolution: conv2d with weight[:, :, ::-1, ::-1]).
        fft_module: "numpy" or "scipy" to force an FFT library; None takes scipy.fft when it is
            installed (the faster one), else numpy.fft.

    Shape:
        output (N, F, OH, OW), OH = H + 2PH - KH + 1, likewise OW (stride and dilation are 1;
        there are no such arguments).

    Example:
        >>> x, w = juanji.randn(2, 3, 32, 32), juanji.randn(4, 3, 15, 15)
        >>> F.fft_conv2d(x, w, padding="same").shape
        (2, 4, 32, 32)
    """
    params = _check_fft_args(input, weight, bias, padding, groups, mode, fft_module)
    return FFTConv2d.apply(input, weight, bias, **params)
