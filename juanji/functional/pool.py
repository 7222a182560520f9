"""Pooling in 1, 2 and 3 spatial dims: max, average, power-average, adaptive and global.

Shape legend (2-D names; 1-D drops H, 3-D adds D before H):

    N       batch                        C       channels
    H, W    input size                   OH, OW  output size
    KH, KW  kernel size                  SH, SW  stride (defaults to the kernel size)
    PH, PW  padding                      DH, DW  dilation (max pooling only)

Output size per dim (PyTorch): OH = floor((H + 2*PH - DH*(KH-1) - 1) / SH) + 1, rounded up
instead with ``ceil_mode``, where the last window must still start inside the input or the
left padding. ``padding="same"`` (TensorFlow) gives OH = ceil(H / SH), padding the extra cell
at the bottom/right; "same" max pooling ignores the padded cells and "same" average pooling
leaves them out of the count, as TensorFlow does.

    max:  out[n, c, y, x] = max_{i, j} xp[n, c, y*SH + i*DH, x*SW + j*DW]     (xp padded with -inf)
    avg:  out[n, c, y, x] = sum_{i, j} xp[n, c, y*SH + i, x*SW + j] / divisor  (xp padded with 0)
    lp:   out = (sum_{window} x^p)^(1/p)
    adaptive: bins start = floor(o*H/OH), end = ceil((o+1)*H/OH) along each dim

Max-pool backward sends each window's gradient to its first maximum (PyTorch's choice on
ties) and sums where windows overlap. The array code is in juanji/kernels/pool.py, and for
2-D max pooling also in the compiled loops of juanji/kernels/maxpool.py.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .. import _math
from ..autograd import Function
from ..backend import xp
from ..kernels import maxpool as compiled_max_pool
from ..kernels import pool as K
from ..kernels.layout import is_batch_last, to_batch_last
from ..tensor import Tensor
from ._args import check_input, ntuple, output_size, resolve_padding

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "lp_pool1d", "lp_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "global_avg_pool2d", "global_max_pool2d",
]

Size = int | Sequence[int]
Padding = int | Sequence[int] | str


# 2-D max pooling runs on compiled loops when numba is installed (juanji/kernels/maxpool.py)
# where they were measured faster than the NumPy path of juanji/kernels/pool.py, forward and
# backward, one process, float32 (None: by this rule; the tests force True or False, to keep
# both paths covered, and compare them):
# * windows that do not tile (overlapping, padded, dilated): 3x3/2 on 8x64x112x112 0.39-0.47x,
#   on 64x64x32x32 0.47x (batch-last 0.17x), 3x3/1 on 8x192x28x28 0.24x, 3x3/2 on 4x256x27x27
#   0.70x, batch-last 128x16x10x10 0.42x; but NCHW outputs under 8 wide lost (3x3/2 to 6x6
#   1.12x, to 4x4 1.19x): those keep the NumPy path;
# * tiling windows (stride = kernel), where the NumPy path needs no scatter either: NCHW
#   outputs at least 32 wide (2x2/2 on 8x64x112x112 0.46x; 24x24 inputs 1.35x), batch-last
#   inputs of at least 2^20 numbers (2x2/2 on SimpleConvNet's 100x30x24x24 0.50x alone, 6.1 ->
#   4.2 ms inside its step; 64x64x32x32 0.52x). LeNet-5's 128x6x28x28 was 0.93x alone but
#   1.0x in its step, beside OpenBLAS's spinning worker, and its 128x16x10x10 1.70x.
_COMPILED_MAX_POOL: bool | None = None
_MAX_POOL_MIN_WIDTH = 8              # NCHW output width from which untiled windows go compiled
_MAX_POOL_TILES_MIN_WIDTH = 32       # ... and tiling windows
_MAX_POOL_TILES_MIN_SIZE = 1 << 20   # batch-last input size from which tiling windows go compiled


def _compiled_max_pool(x: np.ndarray, geo: "_Geometry", tiles: bool) -> bool:
    """Whether this max pool runs on the compiled loops (see _COMPILED_MAX_POOL)."""
    if _COMPILED_MAX_POOL is False or not compiled_max_pool.usable(x, len(geo.kernel)):
        return False
    if _COMPILED_MAX_POOL:
        return True
    if is_batch_last(x):
        return not tiles or x.size >= _MAX_POOL_TILES_MIN_SIZE
    return geo.out_size[1] >= (_MAX_POOL_TILES_MIN_WIDTH if tiles else _MAX_POOL_MIN_WIDTH)


# --- argument checks, apart from the math ---------------------------------------------------
class _Geometry:
    """Checked window geometry of one pooling call (all tuples have one entry per spatial dim)."""

    def __init__(self, op: str, x: Any, nd: int, kernel_size: Size, stride: Size | None,
                 padding: Padding, dilation: Size, ceil_mode: bool, is_max: bool) -> None:
        check_input(op, x, nd)
        self.kernel = ntuple(kernel_size, nd, op, "kernel_size", minimum=1)
        empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
        self.stride = self.kernel if empty else ntuple(stride, nd, op, "stride", minimum=1)
        self.dilation = ntuple(dilation, nd, op, "dilation", minimum=1)
        self.in_size = tuple(x.shape[2:])
        self.string_padding = isinstance(padding, str)
        pads = resolve_padding(padding, self.in_size, self.kernel, self.stride, self.dilation, op)
        if not self.string_padding:
            for p, k in zip(pads, self.kernel):
                # PyTorch (the autograd path of max_pool2d_with_indices, and avg_pool):
                # pad <= kernel_size / 2, whatever the dilation.
                if 2 * p[0] > k:
                    raise ValueError(f"{op}: padding should be at most half of the kernel size, got "
                                     f"padding={tuple(q[0] for q in pads)} with kernel_size={self.kernel}")
        self.pads = pads
        self.out_size = tuple(
            output_size(n, k, s, p[0] + p[1], d, bool(ceil_mode), p_before=p[0])
            for n, k, s, p, d in zip(self.in_size, self.kernel, self.stride, pads, self.dilation))
        if any(o < 1 for o in self.out_size):
            dil = f" (dilation {self.dilation})" if any(d != 1 for d in self.dilation) else ""
            raise ValueError(
                f"{op}: kernel_size {self.kernel}{dil} is larger than the padded input: input shape "
                f"{tuple(x.shape)}, padding {tuple(pads)} gives output size {self.out_size}")
        self.eff_pads = K.effective_pads(self.in_size, self.kernel, self.stride, self.dilation,
                                         pads, self.out_size)


def _adaptive_size(op: str, x: Tensor, nd: int, output_size: Any) -> tuple[int, ...]:
    """output_size as an int or a tuple whose None entries keep the input size."""
    items = (output_size,) * nd if not isinstance(output_size, (tuple, list)) else tuple(output_size)
    if len(items) != nd or not all(
            v is None or (isinstance(v, (int, np.integer)) and not isinstance(v, bool)) for v in items):
        raise TypeError(f"{op}: output_size must be an int, None or a tuple of {nd} ints/None, "
                        f"got {output_size!r}")
    out = tuple(int(n if v is None else v) for v, n in zip(items, x.shape[2:]))
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: output_size must be >= 1, got {output_size!r} (input shape {tuple(x.shape)})")
    return out


# --- Functions ------------------------------------------------------------------------------
class MaxPoolNd(Function):
    """Max over each window; backward routes the gradient to the first arg-max of each window."""

    def forward(self, x: np.ndarray, geo: _Geometry) -> np.ndarray:
        tiles = K.tiles_fit(geo.kernel, geo.stride, geo.dilation, geo.eff_pads, geo.in_size, geo.out_size)
        if _compiled_max_pool(x, geo, tiles):
            route = "compiled"  # 2-D: compiled loops (kernels/maxpool.py)
            out, args = compiled_max_pool.forward(x, geo.kernel, geo.stride, geo.dilation, geo.eff_pads,
                                                  geo.out_size)                  # (N, C, OH, OW) each
        elif tiles:
            route = "tiles"  # 2x2/2 and friends: windows tile the input (measured ~5x faster backward)
            out, args = K.max_pool_tiles_forward(x, geo.kernel, geo.out_size,
                                                 with_argmax=self.requires_grad)  # (N, C, OH, OW)
        else:
            route = "separable"
            out, args = K.max_pool_forward(x, geo.kernel, geo.stride, geo.dilation, geo.eff_pads,
                                           geo.out_size, with_argmax=self.requires_grad)  # (N, C, OH, OW)
        self.save_for_backward(args if self.requires_grad else None, x.shape, geo, route)
        return out

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        args, shape, geo, route = self.saved
        if route == "compiled":
            return (compiled_max_pool.backward(g, args, shape, geo.kernel, geo.stride, geo.dilation,
                                               geo.eff_pads),)                   # (N, C, H, W)
        if route == "tiles":
            return (K.max_pool_tiles_backward(g, args, shape, geo.kernel),)      # (N, C, H, W)
        return (K.max_pool_backward(g, args, shape, geo.kernel, geo.stride, geo.dilation,
                                    geo.eff_pads),)                              # (N, C, H, W)


class AvgPoolNd(Function):
    """Window sums divided by PyTorch's divisor (or TensorFlow's for padding="same")."""

    def forward(self, x: np.ndarray, geo: _Geometry, include_pad: bool,
                divisor_override: int | None) -> np.ndarray:
        total = K.sum_pool_forward(x, geo.kernel, geo.stride, geo.eff_pads, geo.out_size)  # (N, C, OH, OW)
        if divisor_override is not None:
            div = xp.asarray(divisor_override, dtype=x.dtype)                    # ()
        else:
            div = K.avg_divisor(geo.in_size, geo.kernel, geo.stride, geo.pads, geo.out_size,
                                include_pad, x.dtype)                            # (OH, OW)
        self.save_for_backward(x.shape, geo, div)
        total /= div
        return total

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        shape, geo, div = self.saved
        # d out / d x = 1/divisor for every cell of the window (including padding, dropped).
        return (K.sum_pool_backward(g / div, shape, geo.kernel, geo.stride, geo.eff_pads),)


class LPPoolNd(Function):
    """PyTorch's power-average pool: y = K * avg_pool(x^p), out = y^(1/p).

    PyTorch computes (sign(y) * relu(|y|))^(1/p), whose gradient is 0 where y == 0 (an
    all-zero window) and dout/dy = y^(1/p - 1) / p elsewhere. K = prod(kernel_size) even
    for windows that ceil_mode clips, whose avg divisor is the clipped size.
    """

    def forward(self, x: np.ndarray, geo: _Geometry, p: float) -> np.ndarray:
        pt = xp.asarray(p, dtype=x.dtype)
        xpow = x ** pt                                                           # (N, C, H, W)
        total = K.sum_pool_forward(xpow, geo.kernel, geo.stride, geo.eff_pads, geo.out_size)
        div = K.avg_divisor(geo.in_size, geo.kernel, geo.stride, geo.pads, geo.out_size,
                            True, x.dtype)                                       # (OH, OW)
        scale = xp.asarray(math.prod(geo.kernel), dtype=x.dtype)
        y = total / div * scale                                                  # (N, C, OH, OW)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = y ** (1 / pt)                                                  # (N, C, OH, OW)
        self.save_for_backward(x, y, div, scale, geo, pt)
        return out

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        x, y, div, scale, geo, pt = self.saved
        one = xp.asarray(1, dtype=x.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):
            gy = xp.where(y != 0, g * y ** (one / pt - one) / pt, 0).astype(x.dtype)  # (N, C, OH, OW)
            gpow = K.sum_pool_backward(gy * (scale / div), x.shape, geo.kernel, geo.stride,
                                       geo.eff_pads)                             # (N, C, H, W)
            # d(x^p)/dx = p x^(p-1) (PyTorch's pow backward).
            gx = gpow * (pt * x ** (pt - one))                                   # (N, C, H, W)
        return (gx.astype(x.dtype, copy=False),)


class AdaptiveMaxPoolNd(Function):
    """Max over PyTorch's adaptive bins, one axis at a time (last axis first, for the tie rule)."""

    def forward(self, x: np.ndarray, out_size: tuple[int, ...]) -> np.ndarray:
        nd = len(out_size)
        y = x
        args: list[np.ndarray | None] = [None] * nd
        for i in reversed(range(nd)):
            y, args[i] = K.adaptive_max_axis(y, 2 + i, out_size[i], self.requires_grad)  # (.., O, ..)
        self.save_for_backward(args, x.shape)
        return xp.ascontiguousarray(y)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        args, shape = self.saved
        for i in range(len(args)):
            g = K.adaptive_max_axis_backward(g, args[i], 2 + i, shape[2 + i])    # (.., n, ..)
        return (g,)


class AdaptiveAvgPoolNd(Function):
    """Average over adaptive bins: one (O, n) averaging matrix per axis, applied by matmul."""

    def forward(self, x: np.ndarray, out_size: tuple[int, ...]) -> np.ndarray:
        mats = [K.adaptive_avg_matrix(n, o, x.dtype) for n, o in zip(x.shape[2:], out_size)]
        y = x
        for i, a in enumerate(mats):
            y = K.apply_along_axis_matrix(y, a, 2 + i)                           # (.., O, ..)
        self.save_for_backward(mats)
        return y

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        (mats,) = self.saved
        for i, a in enumerate(mats):
            g = K.apply_along_axis_matrix(g, xp.ascontiguousarray(a.T), 2 + i)   # (.., n, ..)
        return (g,)


class GlobalAvgPool(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward(x.shape)
        n, c, s = x.shape[0], x.shape[1], math.prod(x.shape[2:])
        if is_batch_last(x):
            # Stored (C, S, N): NumPy's mean over the middle axis runs ~20x slower than this
            # sum as a product with a row of ones ((4, 512, 28, 28): 6.0 -> 0.25 ms).
            sums = xp.ones((1, s), dtype=x.dtype) @ to_batch_last(x).reshape(c, s, n)  # (C, 1, N)
            return sums[:, 0, :].T / xp.asarray(s, dtype=x.dtype)                      # (N, C)
        return x.reshape(n, c, s).mean(axis=2)                                          # (N, C)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        (shape,) = self.saved
        count = xp.asarray(math.prod(shape[2:]), dtype=g.dtype)
        return (xp.broadcast_to((g / count).reshape(g.shape + (1,) * (len(shape) - 2)), shape),)


class GlobalMaxPool(Function):
    """Max over all positions; the gradient goes to the first maximum (PyTorch's adaptive rule)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        flat = x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))                             # (N, C, H*W)
        idx = flat.argmax(axis=2)                                                # (N, C)
        self.save_for_backward(idx, x.shape)
        return xp.take_along_axis(flat, idx[:, :, None], axis=2)[:, :, 0]        # (N, C)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        idx, shape = self.saved
        grad = xp.zeros((shape[0], shape[1], math.prod(shape[2:])), dtype=g.dtype)  # (N, C, H*W)
        xp.put_along_axis(grad, idx[:, :, None], g[:, :, None], axis=2)
        return (grad.reshape(shape),)


# --- public functions -----------------------------------------------------------------------
def _max_pool(op: str, nd: int, input: Tensor, kernel_size: Size, stride: Size | None,
              padding: Padding, dilation: Size, ceil_mode: bool, return_indices: bool) -> Any:
    geo = _Geometry(op, input, nd, kernel_size, stride, padding, dilation, ceil_mode, is_max=True)
    out = MaxPoolNd.apply(input, geo=geo)
    if not return_indices:
        return out
    _, args = K.max_pool_forward(input.data, geo.kernel, geo.stride, geo.dilation, geo.eff_pads,
                                 geo.out_size, with_argmax=True)
    idx = K.argmax_to_indices(args, geo.in_size, geo.stride, geo.dilation, geo.eff_pads)
    return out, Tensor._make(idx)


def max_pool1d(input: Tensor, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
               dilation: Size = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """1-D max pooling over (N, C, L); see ``max_pool2d`` for the arguments.

    Shape: (N, C, L) -> (N, C, OL), OL = floor((L + 2P - D(K-1) - 1) / S) + 1.
    Example: ``F.max_pool1d(juanji.randn(2, 3, 9), 3).shape == (2, 3, 3)``
    """
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input: Tensor, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
               dilation: Size = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """2-D max pooling, PyTorch semantics.

    Args:
        input: (N, C, H, W) floating-point tensor.
        kernel_size: window size, int or (KH, KW).
        stride: step between windows; None means kernel_size.
        padding: int/tuple of implicit -inf padding (at most half the kernel size), or
            "valid" (none) or "same" (TensorFlow: output ceil(H / SH), extra cell at the end).
        dilation: spacing between window elements.
        ceil_mode: round the output size up (windows must start inside input or left padding).
        return_indices: also return the flat index (in each H*W plane) of every maximum.

    Shape:
        (N, C, H, W) -> (N, C, OH, OW), OH = floor((H + 2PH - DH(KH-1) - 1) / SH) + 1.

    Example:
        >>> F.max_pool2d(juanji.randn(8, 30, 24, 24), 2).shape
        (8, 30, 12, 12)
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool3d(input: Tensor, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
               dilation: Size = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """3-D max pooling over (N, C, D, H, W); see ``max_pool2d`` for the arguments.

    Shape: (N, C, D, H, W) -> (N, C, OD, OH, OW), each dim as in ``max_pool2d``.
    Example: ``F.max_pool3d(juanji.randn(1, 2, 4, 6, 6), 2).shape == (1, 2, 2, 3, 3)``
    """
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def _avg_pool(op: str, nd: int, input: Tensor, kernel_size: Size, stride: Size | None,
              padding: Padding, ceil_mode: bool, count_include_pad: bool,
              divisor_override: int | None) -> Tensor:
    geo = _Geometry(op, input, nd, kernel_size, stride, padding, 1, ceil_mode, is_max=False)
    if divisor_override is not None:
        if not isinstance(divisor_override, (int, np.integer)) or isinstance(divisor_override, bool):
            raise TypeError(f"{op}: divisor_override must be an int, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must not be zero")
    # TensorFlow's "same" average leaves the padded cells out of the count.
    include = bool(count_include_pad) and not geo.string_padding
    return AvgPoolNd.apply(input, geo=geo, include_pad=include, divisor_override=divisor_override)


def avg_pool1d(input: Tensor, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over (N, C, L); see ``avg_pool2d``.

    Shape: (N, C, L) -> (N, C, OL), OL = floor((L + 2P - K) / S) + 1.
    Example: ``F.avg_pool1d(juanji.randn(2, 3, 8), 2).shape == (2, 3, 4)``
    """
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """2-D average pooling, PyTorch semantics.

    Args:
        input: (N, C, H, W) floating-point tensor.
        kernel_size, stride, ceil_mode: as in ``max_pool2d``.
        padding: int/tuple of zero padding (at most half the kernel), "valid" or "same"
            (TensorFlow: padded cells are never counted).
        count_include_pad: count the zero padding in the divisor (cells that ceil_mode
            adds past the right padding are never counted, as in PyTorch).
        divisor_override: divide every window sum by this instead.

    Shape:
        (N, C, H, W) -> (N, C, OH, OW), OH = floor((H + 2PH - KH) / SH) + 1.

    Example:
        >>> F.avg_pool2d(juanji.randn(1, 3, 7, 7), 3, stride=2, padding=1).shape
        (1, 3, 4, 4)
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool3d(input: Tensor, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """3-D average pooling over (N, C, D, H, W); see ``avg_pool2d``.

    Shape: (N, C, D, H, W) -> (N, C, OD, OH, OW), each dim as in ``avg_pool2d``.
    Example: ``F.avg_pool3d(juanji.randn(1, 2, 4, 4, 4), 2).shape == (1, 2, 2, 2, 2)``
    """
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def _lp_pool(op: str, nd: int, input: Tensor, norm_type: float, kernel_size: Size,
             stride: Size | None, ceil_mode: bool) -> Tensor:
    if not isinstance(norm_type, (int, float, np.integer, np.floating)) or isinstance(norm_type, bool):
        raise TypeError(f"{op}: norm_type must be a number, got {norm_type!r}")
    if math.isinf(norm_type):
        # PyTorch: p = inf is max pooling of |x|; p = -inf is minus max pooling of -|x|.
        a = _math.Abs.apply(input)
        if norm_type > 0:
            return _max_pool(op, nd, a, kernel_size, stride, 0, 1, ceil_mode, False)
        return -_max_pool(op, nd, -a, kernel_size, stride, 0, 1, ceil_mode, False)
    if not norm_type > 0:
        raise ValueError(f"{op}: norm_type must be > 0, got {norm_type!r}")
    geo = _Geometry(op, input, nd, kernel_size, stride, 0, 1, ceil_mode, is_max=False)
    return LPPoolNd.apply(input, geo=geo, p=float(norm_type))


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: Size, stride: Size | None = None,
              ceil_mode: bool = False) -> Tensor:
    """1-D power-average pooling: (sum over the window of x^p)^(1/p), PyTorch's formula.

    Shape: (N, C, L) -> (N, C, OL), OL = floor((L - K) / S) + 1.
    Example: ``F.lp_pool1d(juanji.rand(2, 3, 8), 2, 2).shape == (2, 3, 4)``
    """
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size: Size, stride: Size | None = None,
              ceil_mode: bool = False) -> Tensor:
    """2-D power-average pooling (p = 2 is L2 pooling), PyTorch's formula.

    PyTorch computes it as (KH*KW * avg_pool2d(x^p))^(1/p) with zero gradient where the
    window sum is 0; windows clipped by ceil_mode are therefore scaled by KH*KW / clipped size.
    p = inf gives max pooling of |x|. Negative window sums with p != 1 give NaN, as in PyTorch.

    Args:
        input: (N, C, H, W); norm_type: p > 0 (or +-inf); kernel_size, stride, ceil_mode as
        in ``max_pool2d`` (no padding).

    Shape:
        (N, C, H, W) -> (N, C, OH, OW), OH = floor((H - KH) / SH) + 1.

    Example:
        >>> F.lp_pool2d(juanji.rand(1, 2, 6, 6), 2, 3).shape
        (1, 2, 2, 2)
    """
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def adaptive_avg_pool1d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """Average over PyTorch's adaptive bins along L; see ``adaptive_avg_pool2d``.

    Shape: (N, C, L) -> (N, C, OL). Example: ``F.adaptive_avg_pool1d(juanji.randn(1, 2, 10), 3)``
    """
    check_input("adaptive_avg_pool1d", input, 1)
    return AdaptiveAvgPoolNd.apply(input, out_size=_adaptive_size("adaptive_avg_pool1d", input, 1, output_size))


def adaptive_avg_pool2d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """Average pooling to a fixed output size, PyTorch's bins.

    Bin o along a dim of size n covers [floor(o*n/O), ceil((o+1)*n/O)); bins may overlap
    when O does not divide n. ``output_size`` is an int or a tuple, None keeping that dim.

    Shape:
        (N, C, H, W) -> (N, C, OH, OW).

    Example:
        >>> F.adaptive_avg_pool2d(juanji.randn(2, 8, 7, 5), (3, None)).shape
        (2, 8, 3, 5)
    """
    check_input("adaptive_avg_pool2d", input, 2)
    return AdaptiveAvgPoolNd.apply(input, out_size=_adaptive_size("adaptive_avg_pool2d", input, 2, output_size))


def adaptive_max_pool1d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """Max over PyTorch's adaptive bins along L; see ``adaptive_max_pool2d``.

    Shape: (N, C, L) -> (N, C, OL). Example: ``F.adaptive_max_pool1d(juanji.randn(1, 2, 10), 3)``
    """
    check_input("adaptive_max_pool1d", input, 1)
    return AdaptiveMaxPoolNd.apply(input, out_size=_adaptive_size("adaptive_max_pool1d", input, 1, output_size))


def adaptive_max_pool2d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """Max pooling to a fixed output size, PyTorch's bins (see ``adaptive_avg_pool2d``).

    The gradient of each bin goes to its first maximum in row-major order, as in PyTorch.

    Shape:
        (N, C, H, W) -> (N, C, OH, OW).

    Example:
        >>> F.adaptive_max_pool2d(juanji.randn(2, 8, 7, 5), 3).shape
        (2, 8, 3, 3)
    """
    check_input("adaptive_max_pool2d", input, 2)
    return AdaptiveMaxPoolNd.apply(input, out_size=_adaptive_size("adaptive_max_pool2d", input, 2, output_size))


def global_avg_pool2d(input: Tensor) -> Tensor:
    """Mean over H and W (Keras's GlobalAveragePooling2D): (N, C, H, W) -> (N, C).

    Example: ``F.global_avg_pool2d(juanji.randn(4, 16, 7, 7)).shape == (4, 16)``
    """
    check_input("global_avg_pool2d", input, 2)
    return GlobalAvgPool.apply(input)


def global_max_pool2d(input: Tensor) -> Tensor:
    """Max over H and W (Keras's GlobalMaxPooling2D): (N, C, H, W) -> (N, C).

    The gradient goes to the first maximum (row-major), PyTorch's adaptive_max_pool2d rule.
    Example: ``F.global_max_pool2d(juanji.randn(4, 16, 7, 7)).shape == (4, 16)``
    """
    check_input("global_max_pool2d", input, 2)
    return GlobalMaxPool.apply(input)
