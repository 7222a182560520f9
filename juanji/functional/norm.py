"""Normalisation ops: batch norm, layer norm, group norm and local response norm.

Shape legend: N batch, C channels, S = prod(spatial dims) (L for 1-D, H*W for 2-D,
D*H*W for 3-D), G groups, R rows and M values per row of a flattened statistic.

Batch, layer and group norm all compute, over some set of m values of x,

    mean = sum(x) / m,   var = sum((x - mean)^2) / m   (biased),
    invstd = 1 / sqrt(var + eps),   xhat = (x - mean) * invstd,   y = gamma * xhat + beta

and differ only in which values share a statistic: batch norm over (N, *spatial) per
channel, layer norm over the trailing ``normalized_shape`` per sample, group norm over
(C/G, *spatial) per sample and group. Their backward is the compact textbook formula

    dxhat = dy * gamma
    dx    = (invstd / m) * (m * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))
    dgamma = sum(dy * xhat),   dbeta = sum(dy)

(sums over the same m values; dgamma/dbeta over everything that shares gamma).

Cache: like PyTorch's native kernels, each Function keeps x, mean and invstd rather than
xhat. x is alive anyway (the tape holds the input Tensor), so this costs only the small
statistic vectors, where keeping xhat would add a second full-size array; backward pays
one elementwise pass to rebuild xhat = (x - mean) * invstd.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..autograd import Function
from ..backend import xp
from ..kernels import batchnorm as compiled_bn
from ..kernels.layout import is_batch_last, to_batch_last
from ..tensor import Tensor

__all__ = ["batch_norm", "layer_norm", "group_norm", "local_response_norm"]


# --- argument checks (apart from the math) ---------------------------------------------------
def _check_x(op: str, x: Any, min_ndim: int, layout: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a juanji.Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point, got dtype {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{op}: expected an input of at least {min_ndim} dims {layout}, got shape {x.shape}")


def _check_param(op: str, name: str, t: Any, shape: tuple[int, ...], x: Tensor, what: str) -> None:
    """``t`` is None or a Tensor of exactly ``shape`` and x's dtype (no silent broadcast or cast)."""
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a juanji.Tensor or None, got {type(t).__name__}")
    if t.shape != shape:
        raise ValueError(f"{op}: {name} has shape {t.shape} but {what} needs shape {shape} "
                         f"(input shape {x.shape})")
    if t.dtype != x.dtype:
        raise TypeError(f"{op}: {name} has dtype {t.dtype} but input has dtype {x.dtype}; "
                        "convert one of them (e.g. module.to(dtype))")


def _check_eps(op: str, eps: float, strict: bool) -> float:
    eps = float(eps)
    if eps < 0 or (strict and eps == 0):
        raise ValueError(f"{op}: eps must be {'positive' if strict else 'non-negative'}, got {eps}")
    return eps


def _verify_batch_size(op: str, size: Sequence[int], shown: tuple[int, ...]) -> None:
    # PyTorch refuses a statistic over one value: var would be 0 and xhat identically 0.
    if size[0] * math.prod(size[2:]) == 1:
        raise ValueError(f"{op}: Expected more than 1 value per channel when training, "
                         f"got input size {shown}")


# --- batch norm --------------------------------------------------------------------------------
# Batch norm's passes run fused in compiled loops when numba is installed (see
# juanji/kernels/batchnorm.py: forward and backward 4.7 -> 1.8 ms on 8x64x56x56): the training
# forward and backward and the evaluation forward. The tests turn this off to keep the NumPy
# path below covered, and compare both.
_COMPILED_BATCH_NORM = True


def _channel_sum(a: np.ndarray) -> np.ndarray:
    """Sum of (N, C, *spatial) over everything but C, as (C,): first the contiguous
    spatial axis (NumPy's pairwise summation keeps float32 accurate), then the batch."""
    n, c = a.shape[0], a.shape[1]
    if is_batch_last(a):  # stored (C, *spatial, N): one contiguous row per channel
        return to_batch_last(a).reshape(c, -1).sum(axis=1)  # (C,)
    return a.reshape(n, c, -1).sum(axis=2).sum(axis=0)  # (C,)


def _channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum of a * b over everything but C, as (C,), with no (N, C, *spatial) temporary:
    one dot product per (n, c) row (a batched matmul of (1, S) by (S, 1)), then the sum over
    the batch. Measured 1.0 ms against 3.4 ms for (a * b) summed, on (64, 64, 32, 32)."""
    n, c = a.shape[0], a.shape[1]
    if is_batch_last(a) and is_batch_last(b):  # one contiguous row per channel: C dot products
        return (to_batch_last(a).reshape(c, 1, -1) @ to_batch_last(b).reshape(c, -1, 1)).reshape(c)
    a, b = xp.ascontiguousarray(a), xp.ascontiguousarray(b)  # matmul's BLAS path needs unit strides
    return (a.reshape(n, c, 1, -1) @ b.reshape(n, c, -1, 1)).reshape(n, c).sum(axis=0)  # (C,)


class BatchNormFunction(Function):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta per channel; mean/var from the batch
    (training) or the running statistics (eval). Training updates the running arrays in place."""

    def forward(self, x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None,
                running_mean: np.ndarray | None, running_var: np.ndarray | None,
                training: bool, momentum: float, eps: float) -> np.ndarray:
        c = x.shape[1]
        if x.size == 0:
            # An empty batch (or spatial extent): nothing to normalise, and, as in PyTorch,
            # the running statistics are left alone.
            self.save_for_backward(x, weight, None, None, training)
            return x.copy()
        m = x.size // c                                     # values per channel: N * S
        bshape = (1, c) + (1,) * (x.ndim - 2)               # (1, C, 1, ...) broadcasts on x
        compiled = _COMPILED_BATCH_NORM and compiled_bn.usable(x)
        if training:
            if compiled:  # the same statistics and y, fused (kernels/batchnorm.py)
                out, mean, var, invstd = compiled_bn.train_forward(x, weight, bias, eps)
            else:
                mean = _channel_sum(x) / m                  # (C,)
                d = x - mean.reshape(bshape)                # (N, C, *S)
                var = _channel_dot(d, d) / m                # (C,) biased
            if running_mean is not None:
                # running = (1 - momentum) running + momentum * batch; PyTorch tracks the
                # unbiased variance var * m / (m - 1) (Bessel) although it normalises by var.
                running_mean *= 1.0 - momentum
                running_mean += (momentum * mean).astype(running_mean.dtype, copy=False)
                running_var *= 1.0 - momentum
                running_var += (momentum * m / (m - 1) * var).astype(running_var.dtype, copy=False)
            if not compiled:
                invstd = 1.0 / np.sqrt(var + eps)            # (C,)
                scale = invstd if weight is None else invstd * weight  # (C,)
                d *= scale.reshape(bshape)                   # y = (x - mean) * gamma * invstd
                if bias is not None:
                    d += bias.reshape(bshape)                # ... + beta
                out = d
        else:
            # Copies: a later training step may update the running arrays before backward.
            mean = running_mean.astype(x.dtype, copy=True)   # (C,)
            var = running_var.astype(x.dtype, copy=True)     # (C,)
            invstd = 1.0 / np.sqrt(var + eps)                # (C,)
            scale = invstd if weight is None else invstd * weight  # (C,)
            # An affine map per channel, two passes: y = x * scale + (beta - mean * scale).
            shift = -mean * scale if bias is None else bias - mean * scale  # (C,)
            if compiled:
                out = compiled_bn.affine(x, scale, shift)    # one fused pass
            else:
                out = x * scale.reshape(bshape)              # (N, C, *S)
                out += shift.reshape(bshape)
        self.save_for_backward(x, weight, mean, invstd, training)
        return out

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, weight, mean, invstd, training = self.saved
        c = x.shape[1]
        need_x, need_w, need_b = self.needs_input_grad[:3]
        if x.size == 0:  # empty: every sum is over no values
            zeros = np.zeros(c, dtype=x.dtype)
            return (np.zeros_like(x) if need_x else None, zeros if need_w else None,
                    zeros.copy() if need_b else None)
        m = x.size // c
        bshape = (1, c) + (1,) * (x.ndim - 2)
        if training and _COMPILED_BATCH_NORM and compiled_bn.usable(x):  # kernels/batchnorm.py
            dx, dw, db = compiled_bn.train_backward(dy, x, weight, mean, invstd, need_x)
            return dx, dw if need_w else None, db if need_b else None
        dx = dw = db = None
        sum_dy = _channel_sum(dy) if (need_b or (need_x and training)) else None  # (C,)
        sum_dy_xhat = None
        if need_w or (need_x and training):
            d = x - mean.reshape(bshape)                     # (N, C, *S): x - mean
            sum_dy_xhat = _channel_dot(dy, d) * invstd       # (C,): sum(dy * xhat)
        if need_x:
            g_invstd = invstd if weight is None else weight * invstd  # (C,)
            if training:
                # dx = gamma invstd / m * (m dy - sum(dy) - xhat sum(dy xhat)), with
                # xhat = (x - mean) invstd: dy * k - (x - mean) * a - c per channel.
                dx = dy * g_invstd.reshape(bshape)           # (N, C, *S)
                d *= (g_invstd * invstd * sum_dy_xhat / m).reshape(bshape)  # d's own buffer
                dx -= d
                dx -= (g_invstd * sum_dy / m).reshape(bshape)
            else:
                # Eval is an affine map per channel: dx = dy * gamma * invstd_running.
                dx = dy * g_invstd.reshape(bshape)           # (N, C, *S)
        if need_w:
            dw = sum_dy_xhat                                 # (C,)
        if need_b:
            db = sum_dy                                      # (C,)
        return dx, dw, db


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation (Ioffe & Szegedy, 2015) per channel, as ``torch.nn.functional.batch_norm``.

    y = (x - mean) / sqrt(var + eps) * weight + bias, with mean and biased var over
    (N, *spatial) of each channel in training, or the running statistics in eval.

    Args:
        input: (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W) (any rank >= 2).
        running_mean, running_var: (C,) Tensors, or both None. In training they are updated
            in place: running = (1 - momentum) * running + momentum * batch_stat, where the
            batch variance is the unbiased one (divided by m - 1), as in PyTorch. None in
            training means no tracking; None in eval is an error (as PyTorch).
        weight, bias: optional (C,) affine parameters gamma and beta.
        training: use batch statistics (and update the running ones).
        momentum: weight of the new batch statistic; for a cumulative average pass
            1 / num_batches (``BatchNorm2d(momentum=None)`` does this).
        eps: added to the variance for stability.

    Shape:
        input (N, C, *) -> output (N, C, *), same shape.

    Example:
        >>> x = juanji.randn(8, 3, 5, 5)
        >>> F.batch_norm(x, None, None, training=True).shape
        (8, 3, 5, 5)
    """
    op = "batch_norm"
    _check_x(op, input, 2, "(N, C, *)")
    c = input.shape[1]
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: running_mean and running_var must both be given or both be None")
    if not training and running_mean is None:
        raise ValueError(f"{op}: running_mean and running_var must be given in evaluation mode "
                         "(training=False)")
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_param(op, name, t, (c,), input, f"an input with {c} channels")
    eps = _check_eps(op, eps, strict=bool(training))
    if training:
        _verify_batch_size(op, input.shape, input.shape)
        if running_mean is not None and momentum is None:
            raise TypeError(f"{op}: momentum must be a float; for a cumulative moving average "
                            "pass 1 / num_batches_tracked (as nn.BatchNorm2d(momentum=None) does)")
    rm = None if running_mean is None else running_mean.data
    rv = None if running_var is None else running_var.data
    return BatchNormFunction.apply(input, weight, bias, running_mean=rm, running_var=rv,
                                   training=bool(training),
                                   momentum=0.0 if momentum is None else float(momentum), eps=eps)


# --- layer norm and group norm: statistics over the last axis of an (R, M) view --------------
def _row_stats(x2: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """mean and invstd of each row of ``x2`` (..., M), kept as (..., 1)."""
    mean = x2.mean(axis=-1, keepdims=True)                   # (..., 1)
    d = x2 - mean                                            # (..., M)
    var = np.square(d, out=d).mean(axis=-1, keepdims=True)   # (..., 1) biased, two-pass
    return mean, 1.0 / np.sqrt(var + eps)


def _row_backward(dxhat: np.ndarray, xhat: np.ndarray, invstd: np.ndarray) -> np.ndarray:
    """dx = invstd / M * (M dxhat - sum(dxhat) - xhat sum(dxhat xhat)), sums over the last axis."""
    mean_dxhat = dxhat.mean(axis=-1, keepdims=True)          # (..., 1)
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=-1, keepdims=True)  # (..., 1)
    dx = dxhat - mean_dxhat                                  # (..., M)
    dx -= xhat * mean_dxhat_xhat
    dx *= invstd
    return dx


class LayerNormFunction(Function):
    """y = gamma * xhat + beta with statistics over the trailing k dims of each sample."""

    def forward(self, x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None,
                k: int, eps: float) -> np.ndarray:
        m = math.prod(x.shape[x.ndim - k:])
        x2 = x.reshape(-1, m)                                # (R, M)
        mean, invstd = _row_stats(x2, eps)                   # (R, 1) each
        y = (x2 - mean) * invstd                             # (R, M) = xhat
        if weight is not None:
            y *= weight.reshape(m)
        if bias is not None:
            y += bias.reshape(m)
        self.save_for_backward(x, weight, mean, invstd, k)
        return y.reshape(x.shape)

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, weight, mean, invstd, k = self.saved
        norm_shape = x.shape[x.ndim - k:]
        m = math.prod(norm_shape)
        dy2 = dy.reshape(-1, m)                              # (R, M)
        xhat = (x.reshape(-1, m) - mean) * invstd            # (R, M)
        dx = dw = db = None
        if self.needs_input_grad[0]:
            dxhat = dy2 if weight is None else dy2 * weight.reshape(m)  # (R, M)
            dx = _row_backward(dxhat, xhat, invstd).reshape(x.shape)
        if self.needs_input_grad[1]:
            dw = (dy2 * xhat).sum(axis=0).reshape(norm_shape)  # normalized_shape
        if self.needs_input_grad[2]:
            db = dy2.sum(axis=0).reshape(norm_shape)         # normalized_shape
        return dx, dw, db


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation (Ba et al., 2016) over the trailing dims, as PyTorch's.

    Each sample's last ``len(normalized_shape)`` dims are normalised with their own mean
    and biased variance; weight and bias (shape ``normalized_shape``) act elementwise.

    Args:
        input: (*, *normalized_shape).
        normalized_shape: int or tuple, the trailing dims of input to normalise over.
        weight, bias: optional Tensors of shape ``normalized_shape``.
        eps: added to the variance.

    Shape:
        output has the input's shape.

    Example:
        >>> F.layer_norm(juanji.randn(4, 10, 6), (10, 6)).shape
        (4, 10, 6)
    """
    op = "layer_norm"
    _check_x(op, input, 1, "(*, *normalized_shape)")
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        shape = (int(normalized_shape),)
    elif isinstance(normalized_shape, (tuple, list)) and len(normalized_shape) > 0 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in normalized_shape):
        shape = tuple(int(s) for s in normalized_shape)
    else:
        raise TypeError(f"{op}: normalized_shape must be an int or a non-empty tuple of ints, "
                        f"got {normalized_shape!r}")
    k = len(shape)
    if input.ndim < k or input.shape[input.ndim - k:] != shape:
        raise ValueError(f"{op}: normalized_shape={shape} expects an input of shape (*, "
                         f"{', '.join(map(str, shape))}), got {input.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        _check_param(op, name, t, shape, input, f"normalized_shape={shape}")
    eps = _check_eps(op, eps, strict=False)
    return LayerNormFunction.apply(input, weight, bias, k=k, eps=eps)


class GroupNormFunction(Function):
    """Statistics per (sample, group) over the group's C/G channels and all positions."""

    def forward(self, x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None,
                num_groups: int, eps: float) -> np.ndarray:
        n, c = x.shape[0], x.shape[1]
        x3 = x.reshape(n, num_groups, -1)                    # (N, G, C/G * S)
        mean, invstd = _row_stats(x3, eps)                   # (N, G, 1) each
        y = ((x3 - mean) * invstd).reshape(n, c, -1)         # (N, C, S) = xhat
        if weight is not None:
            y *= weight.reshape(1, c, 1)
        if bias is not None:
            y += bias.reshape(1, c, 1)
        self.save_for_backward(x, weight, mean, invstd)
        return y.reshape(x.shape)

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, weight, mean, invstd = self.saved
        n, c = x.shape[0], x.shape[1]
        g = mean.shape[1]
        dy3 = dy.reshape(n, c, -1)                           # (N, C, S)
        xhat = (x.reshape(n, g, -1) - mean) * invstd         # (N, G, C/G * S)
        dx = dw = db = None
        if self.needs_input_grad[0]:
            dxhat = dy3 if weight is None else dy3 * weight.reshape(1, c, 1)  # (N, C, S)
            dx = _row_backward(dxhat.reshape(n, g, -1), xhat, invstd).reshape(x.shape)
        if self.needs_input_grad[1]:
            dw = _channel_sum(dy3 * xhat.reshape(n, c, -1))  # (C,)
        if self.needs_input_grad[2]:
            db = _channel_sum(dy3)                           # (C,)
        return dx, dw, db


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Group normalisation (Wu & He, 2018), as ``torch.nn.functional.group_norm``.

    The C channels are split into ``num_groups`` groups of C/G consecutive channels; each
    (sample, group) is normalised over its C/G * S values; weight and bias are per channel.
    G = 1 is layer norm over (C, *spatial); G = C is instance norm.

    Args:
        input: (N, C, *) with C divisible by num_groups.
        num_groups: G.
        weight, bias: optional (C,) Tensors.
        eps: added to the variance.

    Shape:
        output has the input's shape.

    Example:
        >>> F.group_norm(juanji.randn(2, 6, 4, 4), 3).shape
        (2, 6, 4, 4)
    """
    op = "group_norm"
    _check_x(op, input, 2, "(N, C, *)")
    if not isinstance(num_groups, (int, np.integer)) or isinstance(num_groups, bool):
        raise TypeError(f"{op}: num_groups must be an int, got {num_groups!r}")
    c = input.shape[1]
    if num_groups < 1 or c % num_groups != 0:
        raise ValueError(f"{op}: the {c} input channels must be divisible by num_groups={num_groups} "
                         f"(input shape {input.shape})")
    for name, t in (("weight", weight), ("bias", bias)):
        _check_param(op, name, t, (c,), input, f"an input with {c} channels")
    eps = _check_eps(op, eps, strict=False)
    n = input.shape[0]
    _verify_batch_size(op, [n * c // num_groups, num_groups, *input.shape[2:]], input.shape)
    return GroupNormFunction.apply(input, weight, bias, num_groups=int(num_groups), eps=eps)


# --- local response norm ------------------------------------------------------------------------
def _channel_window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """out[:, c] = sum of a[:, j] for j in [c - before, c + after], zero outside [0, C).

    Zero-pad the channel axis, then add ``before + after + 1`` shifted slices: the loop is
    over window offsets, every channel at once.
    """
    c = a.shape[1]
    pad = [(0, 0)] * a.ndim
    pad[1] = (before, after)
    ap = np.pad(a, pad)                                      # (N, C + before + after, *S)
    out = ap[:, 0:c].copy()                                  # (N, C, *S)
    for i in range(1, before + after + 1):
        out += ap[:, i:i + c]
    return out


class LocalResponseNormFunction(Function):
    """y_c = x_c / D_c^beta,  D_c = k + alpha/size * sum_{j = c - size//2}^{c + (size-1)//2} x_j^2."""

    def forward(self, x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
        sq_sum = _channel_window_sum(x * x, size // 2, (size - 1) // 2)  # (N, C, *S)
        d = sq_sum
        d *= alpha / size
        d += k                                               # D, (N, C, *S)
        self.save_for_backward(x, d, size, alpha, beta)
        return x * d ** -beta                                # (N, C, *S)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x, d, size, alpha, beta = self.saved
        # dL/dx_j = dy_j D_j^-beta - (2 alpha beta / size) x_j sum_{c: j in W(c)} dy_c x_c D_c^(-beta-1);
        # j in W(c) <=> c in [j - (size-1)//2, j + size//2]: the mirrored window.
        d_pow = d ** -beta                                   # (N, C, *S)
        t = dy * x * d_pow / d                               # (N, C, *S)
        back = _channel_window_sum(t, (size - 1) // 2, size // 2)  # (N, C, *S)
        back *= x
        back *= 2.0 * alpha * beta / size
        return dy * d_pow - back


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """Local response normalisation across channels, exactly as PyTorch computes it.

        b_c = a_c / (k + alpha / size * sum_{j=c-size//2}^{c+(size-1)//2} a_j^2) ** beta

    with a_j = 0 outside [0, C): PyTorch zero-pads size//2 channels before and
    (size-1)//2 after and takes the *average* of the squares over the window (an
    avg_pool that always divides by size, even at the edges).

    AlexNet (Krizhevsky et al., 2012, section 3.3) writes
    b_c = a_c / (k + alpha_paper * sum a_j^2) ** beta over n neighbours, with no division
    by n (k=2, n=5, alpha=1e-4, beta=0.75). So the paper's layer is
    ``local_response_norm(x, size=n, alpha=n * alpha_paper, beta, k)``, e.g. size=5,
    alpha=5e-4, k=2 for AlexNet; the centred window is the same for odd n.

    Args:
        input: (N, C, *) with at least one spatial dim (3-D or more).
        size: number of neighbouring channels in the window (>= 1).
        alpha, beta, k: as in the formula.

    Shape:
        output has the input's shape.

    Example:
        >>> F.local_response_norm(juanji.randn(2, 8, 5, 5), size=5, alpha=5e-4, k=2.0).shape
        (2, 8, 5, 5)
    """
    op = "local_response_norm"
    _check_x(op, input, 3, "(N, C, *spatial)")
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool):
        raise TypeError(f"{op}: size must be an int, got {size!r}")
    if size < 1:
        raise ValueError(f"{op}: size must be >= 1, got {size}")
    return LocalResponseNormFunction.apply(input, size=int(size), alpha=float(alpha),
                                           beta=float(beta), k=float(k))
