"""Activation functions: elementwise nonlinearities and softmax, forward and backward.

Shape legend: activations are elementwise, so every array keeps the input's shape,
written ``(*)`` (any shape: (N, C), (N, C, H, W), ...). ``softmax``/``log_softmax``
normalise along one dim ``dim`` and keep the shape too.

Where the output alone determines the derivative, backward reads the saved output
instead of recomputing from the input (sigmoid: s(1 - s); tanh: 1 - t^2; softmax:
y (g - sum(g y))). Every Function keeps one array (or one boolean mask) for backward.

Numerical stability: nothing here overflows for finite inputs. sigmoid evaluates
exp(-|x|) only, softmax subtracts the max, log_softmax uses log-sum-exp, softplus uses
max(z, 0) + log1p(exp(-|z|)), and elu takes expm1 of min(x, 0).

dtype: all arithmetic stays in the input dtype (float32 in -> float32 out); Python
float constants are "weak" scalars in NumPy 2, so ``x * 0.01`` stays float32.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.polynomial import chebyshev as _cheb

from ..autograd import Function
from ..backend import xp
from ..tensor import Tensor

__all__ = [
    "relu", "relu6", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "log_softmax",
    "gelu", "softplus",
]


# --- argument checks (kept apart from the math) -------------------------------------------
def _check_float(op: str, x: Any, name: str = "input") -> Tensor:
    """``x`` must be a floating-point juanji.Tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a juanji.Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be floating point, got dtype {x.dtype}")
    return x


def _check_dim(op: str, dim: Any, shape: tuple[int, ...]) -> int:
    """Normalise a (possibly negative) dim; a 0-d tensor has the single dim 0 / -1."""
    if dim is None:
        raise TypeError(
            f"{op}: dim must be given (PyTorch's implicit-dim rule is deprecated), "
            f"e.g. {op}(x, dim=1) for scores of shape (N, C); input shape {shape}"
        )
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    n = max(len(shape), 1)
    if not -n <= dim < n:
        raise ValueError(
            f"{op}: dim {dim} is out of range for input of shape {shape} (expected {-n}..{n - 1})"
        )
    return int(dim) % n


def _number(op: str, name: str, value: Any) -> float:
    """A real Python float (never an np.float64, which would promote float32 arrays)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a number, got {value!r}")
    return float(value)


def _stable_sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) without overflow: only exp(-|z|) <= 1 is ever evaluated."""
    e = xp.exp(-xp.abs(z))                                # (*)
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))     # (*)


# --- rectifiers -----------------------------------------------------------------------------
class ReLU(Function):
    """y = max(x, 0); dy/dx = 1 where x > 0, else 0 (PyTorch's choice at x = 0)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward(x > 0)                     # (*) bool
        return xp.maximum(x, 0)                           # (*)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        (mask,) = self.saved
        # g * mask, not where(mask, g, 0): measured ~13x faster on (100, 30, 24, 24) float32.
        return (g * mask,)                                # (*)


class ReLU6(Function):
    """y = min(max(x, 0), 6); the gradient passes only strictly inside (0, 6)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.save_for_backward((x > 0) & (x < 6))         # (*) bool
        return xp.clip(x, 0, 6)                           # (*)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        (mask,) = self.saved
        # g * mask, not where(mask, g, 0): measured ~13x faster on (100, 30, 24, 24) float32.
        return (g * mask,)                                # (*)


class LeakyReLU(Function):
    """y = x for x > 0, slope * x otherwise."""

    def forward(self, x: np.ndarray, slope: float) -> np.ndarray:
        mask = x > 0                                      # (*) bool
        self.save_for_backward(mask, slope)
        return xp.where(mask, x, x * slope)               # (*)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        mask, slope = self.saved
        return (xp.where(mask, g, g * slope),)            # (*)


class ELU(Function):
    """y = x for x > 0, alpha (e^x - 1) otherwise; dy/dx = alpha e^x for x <= 0.

    Backward recomputes alpha e^x from the saved input rather than from y + alpha,
    which would lose precision by cancellation for very negative x.
    """

    def forward(self, x: np.ndarray, alpha: float) -> np.ndarray:
        self.save_for_backward(x, alpha)
        return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))   # (*)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        x, alpha = self.saved
        return (xp.where(x > 0, g, g * (alpha * xp.exp(xp.minimum(x, 0)))),)   # (*)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """Rectified linear unit, max(x, 0), elementwise.

    Args:
        input: floating-point tensor of any shape.
        inplace: accepted for PyTorch compatibility; juanji always returns a new tensor.

    Shape:
        (*) -> (*)

    Example:
        >>> F.relu(juanji.tensor([-1.0, 2.0]))
        tensor([0., 2.])
    """
    return ReLU.apply(_check_float("relu", input))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6), elementwise (MobileNet's bounded ReLU). Shape (*) -> (*).

    Example:
        >>> F.relu6(juanji.tensor([-1.0, 3.0, 9.0]))
        tensor([0., 3., 6.])
    """
    return ReLU6.apply(_check_float("relu6", input))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, ``negative_slope * x`` otherwise. Shape (*) -> (*).

    Example:
        >>> F.leaky_relu(juanji.tensor([-2.0, 2.0]), 0.1)
        tensor([-0.2,  2. ])
    """
    slope = _number("leaky_relu", "negative_slope", negative_slope)
    return LeakyReLU.apply(_check_float("leaky_relu", input), slope=slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Exponential linear unit: x for x > 0, alpha (e^x - 1) otherwise. Shape (*) -> (*).

    Example:
        >>> F.elu(juanji.tensor([-1.0, 1.0]))
        tensor([-0.63212055,  1.        ])
    """
    a = _number("elu", "alpha", alpha)
    return ELU.apply(_check_float("elu", input), alpha=a)


# --- squashing functions -------------------------------------------------------------------
class Sigmoid(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        out = _stable_sigmoid(x)                          # (*)
        self.save_for_backward(out)
        return out

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        (s,) = self.saved
        return (g * s * (1 - s),)                         # (*)  ds/dx = s (1 - s)


class Tanh(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        out = xp.tanh(x)                                  # (*)
        self.save_for_backward(out)
        return out

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        (t,) = self.saved
        return (g * (1 - t * t),)                         # (*)  dt/dx = 1 - t^2


class Softplus(Function):
    """y = log(1 + e^(beta x)) / beta, and y = x where beta x > threshold (as PyTorch).

    log(1 + e^z) is evaluated as max(z, 0) + log1p(e^-|z|), which never overflows;
    dy/dx = sigmoid(beta x) below the threshold and 1 above it.
    """

    def forward(self, x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
        z = x * beta                                                    # (*)
        soft = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / beta   # (*)
        linear = z > threshold                                          # (*) bool
        self.save_for_backward(z, linear)
        return xp.where(linear, x, soft)                                # (*)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        z, linear = self.saved
        return (xp.where(linear, g, g * _stable_sigmoid(z)),)           # (*)


def sigmoid(input: Tensor) -> Tensor:
    """Logistic function 1 / (1 + e^-x), stable for any finite x. Shape (*) -> (*).

    Example:
        >>> F.sigmoid(juanji.tensor([0.0, 1e4, -1e4]))
        tensor([0.5, 1. , 0. ])
    """
    return Sigmoid.apply(_check_float("sigmoid", input))


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent, elementwise. Shape (*) -> (*).

    Example:
        >>> F.tanh(juanji.tensor([0.0]))
        tensor([0.])
    """
    return Tanh.apply(_check_float("tanh", input))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Smooth ReLU: log(1 + e^(beta x)) / beta; linear where beta x > threshold.

    Args:
        input: floating-point tensor of any shape.
        beta: sharpness (non-zero).
        threshold: above ``beta * x > threshold`` the function returns x itself.

    Shape:
        (*) -> (*)

    Example:
        >>> F.softplus(juanji.tensor([0.0]))
        tensor([0.6931472])
    """
    b = _number("softplus", "beta", beta)
    t = _number("softplus", "threshold", threshold)
    if b == 0:
        raise ValueError("softplus: beta must be non-zero, got 0")
    return Softplus.apply(_check_float("softplus", input), beta=b, threshold=t)


# --- GELU ---------------------------------------------------------------------------------
# GELU needs the standard normal CDF Phi(x) = erfc(-x / sqrt(2)) / 2 to full precision,
# and the core uses NumPy only (no scipy.special.erf). For z >= 0 write (the transform
# of Numerical Recipes' erfccheb)
#     erfc(z) = t * exp(-z^2 + P(t)),   t = 2 / (2 + z) in (0, 1],
# where P is smooth and slowly varying; P is a Chebyshev series interpolated once, at
# import, from Python's math.erfc on t in [2/28, 1] (z in [0, 26]). Beyond z = 26,
# erfc(z) < 1e-296, and exp(-z^2) underflows to 0 anyway. For z < 0, erfc(z) = 2 - erfc(-z).
# Relative error against math.erfc is below 1e-12 over the whole range in float64.
_ERFC_ZMAX = 26.0
_ERFC_TMIN = 2.0 / (2.0 + _ERFC_ZMAX)


def _erfc_log_factor(t: float) -> float:
    z = 2.0 / t - 2.0
    return math.log(math.erfc(z) / t) + z * z


def _fit_erfc_series(degree: int = 24) -> np.ndarray:
    def f(y: np.ndarray) -> np.ndarray:
        t = _ERFC_TMIN + (np.asarray(y) + 1) * (1 - _ERFC_TMIN) / 2
        return np.array([_erfc_log_factor(float(v)) for v in np.atleast_1d(t)])

    return _cheb.chebinterpolate(f, degree)               # (degree + 1,) float64


_ERFC_COEFFS = _fit_erfc_series()
_erfc_coeffs_cache: dict[np.dtype, np.ndarray] = {}


def _erfc_coeffs(dtype: np.dtype) -> np.ndarray:
    """The series cut where the remaining terms are below 1% of dtype's epsilon.

    float32 needs 14 terms where float64 needs 25, which halves GELU's cost.
    """
    if dtype not in _erfc_coeffs_cache:
        big = np.nonzero(np.abs(_ERFC_COEFFS) > 0.01 * np.finfo(dtype).eps)[0]
        _erfc_coeffs_cache[dtype] = _ERFC_COEFFS[: big[-1] + 1].astype(dtype)   # (terms,)
    return _erfc_coeffs_cache[dtype]


def _erfc_nonneg(z: np.ndarray) -> np.ndarray:
    """erfc(z) for z >= 0 in z's dtype (Clenshaw recurrence for the Chebyshev series)."""
    c = _erfc_coeffs(z.dtype)                             # (terms,)
    t = 2 / (2 + z)                                       # (*)
    # Map t in [TMIN, 1] onto y in [-1, 1]; clipping t only matters where exp(-z^2) = 0.
    y = (2 * xp.maximum(t, _ERFC_TMIN) - (1 + _ERFC_TMIN)) / (1 - _ERFC_TMIN)   # (*)
    b1 = xp.zeros_like(z)                                 # (*)
    b2 = xp.zeros_like(z)                                 # (*)
    for ck in c[:0:-1]:  # one pass per coefficient, not per element
        b1, b2 = 2 * y * b1 - b2 + ck, b1
    p = y * b1 - b2 + c[0]                                # (*)  P(t) = sum c_k T_k(y)
    return t * xp.exp(p - z * z)                          # (*)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) = erfc(-x / sqrt 2) / 2, accurate in relative terms for x << 0 as well."""
    z = x * -(1 / math.sqrt(2.0))                         # (*)
    e = _erfc_nonneg(xp.abs(z))                           # (*)
    return xp.where(z >= 0, e, 2 - e) / 2                 # (*)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_TANH_C = 0.044715


class GELU(Function):
    """Exact: y = x Phi(x), dy/dx = Phi(x) + x phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi).

    tanh approximation (Hendrycks & Gimpel): u = sqrt(2/pi) (x + 0.044715 x^3),
    y = x (1 + tanh u) / 2, dy/dx = (1 + tanh u) / 2 + x (1 - tanh^2 u) u' / 2.
    """

    def forward(self, x: np.ndarray, approximate: str) -> np.ndarray:
        if approximate == "tanh":
            th = xp.tanh(_SQRT_2_OVER_PI * (x + _GELU_TANH_C * x * x * x))   # (*)
            self.save_for_backward(x, th, approximate)
            return x * (1 + th) / 2                                       # (*)
        cdf = _normal_cdf(x)                                              # (*)
        self.save_for_backward(x, cdf, approximate)
        return x * cdf                                                    # (*)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        x, s, approximate = self.saved
        if approximate == "tanh":
            du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_TANH_C * x * x)         # (*)
            return (g * ((1 + s) / 2 + x * (1 - s * s) * du / 2),)        # (*)
        pdf = _INV_SQRT_2PI * xp.exp(x * x / -2)                          # (*)
        return (g * (s + x * pdf),)                                       # (*)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit x * Phi(x) (exact erf form, or ``approximate="tanh"``).

    Args:
        input: floating-point tensor of any shape.
        approximate: ``"none"`` (exact, via an erfc series accurate to ~1e-12 relative)
            or ``"tanh"`` (0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))).

    Shape:
        (*) -> (*)

    Example:
        >>> F.gelu(juanji.tensor([0.0, 1.0]))
        tensor([0.       , 0.8413447])
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(_check_float("gelu", input), approximate=approximate)


# --- softmax ------------------------------------------------------------------------------
class Softmax(Function):
    """y_i = e^(x_i - m) / sum_j e^(x_j - m), m = max_j x_j (the shift changes nothing
    mathematically and keeps every exponent <= 0). Backward: dx = y (g - sum_j g_j y_j)."""

    def forward(self, x: np.ndarray, dim: int) -> np.ndarray:
        if x.size == 0:  # nothing to normalise (max over an empty dim is undefined)
            self.save_for_backward(x, dim)
            return x.copy()
        e = xp.exp(x - x.max(axis=dim, keepdims=True))    # (*)
        out = e / e.sum(axis=dim, keepdims=True)          # (*)
        self.save_for_backward(out, dim)
        return out

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        y, dim = self.saved
        return (y * (g - (g * y).sum(axis=dim, keepdims=True)),)   # (*)


class LogSoftmax(Function):
    """y_i = (x_i - m) - log sum_j e^(x_j - m). Backward: dx = g - e^y sum_j g_j."""

    def forward(self, x: np.ndarray, dim: int) -> np.ndarray:
        if x.size == 0:  # nothing to normalise (max over an empty dim is undefined)
            self.save_for_backward(x, dim)
            return x.copy()
        shifted = x - x.max(axis=dim, keepdims=True)                         # (*)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))  # (*)
        self.save_for_backward(out, dim)
        return out

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        y, dim = self.saved
        return (g - xp.exp(y) * g.sum(axis=dim, keepdims=True),)   # (*)


def _softmax_like(op: str, fn: type[Function], input: Tensor, dim: Any) -> Tensor:
    x = _check_float(op, input)
    d = _check_dim(op, dim, x.shape)
    if x.ndim == 0:  # a scalar is a softmax over one element
        return fn.apply(x.reshape(1), dim=0).reshape(())
    return fn.apply(x, dim=d)


def softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """Softmax along ``dim``: exp(x) / sum(exp(x)), computed as exp(x - max) / sum(...).

    Args:
        input: floating-point tensor.
        dim: the dim that sums to 1 (negative counts from the end). Required: leaving it
            out raises instead of guessing (PyTorch's implicit dim is deprecated).

    Shape:
        (*) -> (*)

    Example:
        >>> F.softmax(juanji.tensor([[1.0, 1.0]]), dim=1)
        tensor([[0.5, 0.5]])
    """
    return _softmax_like("softmax", Softmax, input, dim)


def log_softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """log(softmax(x)) along ``dim``, as x - max - log(sum(exp(x - max))) (log-sum-exp).

    Shape:
        (*) -> (*)

    Example:
        >>> F.log_softmax(juanji.tensor([[0.0, 0.0]]), dim=-1)
        tensor([[-0.6931472, -0.6931472]])
    """
    return _softmax_like("log_softmax", LogSoftmax, input, dim)
