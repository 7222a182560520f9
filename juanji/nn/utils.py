"""Weight constraints applied between optimizer steps: the max-norm constraint.

Shape legend: a weight W of any shape; along ``dim`` it has R slices ("rows"), each
slice W.select(dim, r) is one vector whose norm is constrained. For a Linear weight
(out, in) and dim=0, row r is output unit r's incoming weights.

The rule is torch.renorm's (and Hinton et al. 2012's, Kim 2014's):

    n_r = ||W_r||_p
    W_r <- W_r * s / (n_r + 1e-7)      if n_r > s, else unchanged

The 1e-7 is torch.renorm's (its kernel adds it before dividing), so a rescaled row ends
a hair under s; Kim's Theano code has the same 1e-7.

Which rows Kim (2014) means: section 2.1 constrains "l2-norms of the weight vectors by
rescaling w to have ||w||_2 = s whenever ||w||_2 > s after a gradient descent step", where
w is the softmax layer's weight (y = w . (z o r) + b); section 3.1 sets s = 3. His code
(yoonkim/CNN_sentence, conv_net_sentence.py, sgd_updates_adadelta) applies it to every 2-D
parameter except the word vectors, i.e. the final layer's W of Theano shape (in, out),
with norms over axis 0 -- one norm per output class, which is row r of PyTorch's (out, in)
Linear weight: ``max_norm_(model.fc, 3.0)`` == ``torch.renorm(fc.weight, 2, 0, 3.0)``.
(His code multiplies every column by norm_clipped / (norm + 1e-7), so rows under s also
shrink by a factor 1 - 1e-7/n; torch.renorm and this module leave them exactly unchanged.)
The convolution filters (4-D in his code) are not constrained.

How to apply it after each step: ``MaxNorm`` is a callable on the model, for the training
loop to call right after ``optimizer.step()``:

    >>> constraint = MaxNorm("fc.weight", max_norm=3.0)
    >>> loss.backward(); opt.step(); constraint(model)

(``juanji.train``'s Trainer runs callbacks after each step through ``Callback.on_batch_end``;
a callback there holding a MaxNorm is the hook. ``nn`` knows nothing of training, so the
callback belongs to ``juanji.train``.)
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..tensor import Tensor
from .module import Module

__all__ = ["max_norm_", "MaxNorm"]

_EPS = 1e-7  # torch.renorm's


def max_norm_(weight: Tensor | Module, max_norm: float = 3.0, dim: int = 0,
              norm_type: float = 2.0) -> np.ndarray:
    """Rescale, in place, each slice of ``weight`` along ``dim`` whose norm exceeds ``max_norm``.

    torch.renorm(weight, norm_type, dim, max_norm), written into the weight (no gradient
    is recorded, as for an optimizer step).

    Args:
        weight: a Tensor (Parameter), or a Module with a ``weight`` (e.g. nn.Linear).
        max_norm: s, the largest norm a slice may keep (> 0).
        dim: the dimension whose slices are constrained; 0 for a Linear weight (out, in)
            constrains each output unit's incoming weights.
        norm_type: p of the p-norm (2: Euclidean); ``math.inf`` for the largest magnitude.

    Returns:
        The norms of the R slices before rescaling, shape (R,), in float64.

    Example:
        >>> fc = nn.Linear(300, 2)
        >>> norms = max_norm_(fc, 3.0)   # after opt.step(): rows of fc.weight have norm <= 3
    """
    op = "max_norm_"
    w = getattr(weight, "weight", None) if isinstance(weight, Module) else weight
    if not isinstance(w, Tensor):
        what = f"{type(weight).__name__} has no Tensor 'weight'" if isinstance(weight, Module) \
            else f"got {type(weight).__name__}"
        raise TypeError(f"{op}: weight must be a Tensor or a Module with a weight; {what}")
    if w.dtype.kind != "f":
        raise TypeError(f"{op}: weight must be floating point, got dtype {w.dtype} (shape {w.shape})")
    for name, value in (("max_norm", max_norm), ("norm_type", norm_type)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not value > 0:
            raise ValueError(f"{op}: {name} must be a number > 0, got {value!r}")
    if w.ndim < 2:  # torch.renorm refuses these too: a slice of a vector is one number
        raise ValueError(f"{op}: weight must have at least 2 dimensions (slices to constrain), got shape {w.shape}")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -w.ndim <= dim < w.ndim:
        raise ValueError(f"{op}: dim {dim!r} is out of range for weight shape {w.shape}")
    d = int(dim) % w.ndim
    data = w.data
    rows = np.moveaxis(data, d, 0).reshape(data.shape[d], -1)  # (R, rest): a copy when d != 0
    # Norms in float64 whatever the weight's dtype, so a float32 row's norm is not rounded twice.
    mags = np.abs(rows.astype(np.float64))
    if math.isinf(norm_type):
        norms = mags.max(axis=1, initial=0.0)
    else:
        norms = (mags ** float(norm_type)).sum(axis=1) ** (1.0 / float(norm_type))  # (R,)
    over = norms > max_norm
    if over.any():
        scale = np.ones_like(norms)
        scale[over] = float(max_norm) / (norms[over] + _EPS)
        shape = [1] * data.ndim
        shape[d] = data.shape[d]
        data *= scale.reshape(shape).astype(data.dtype)  # in place: optimizers hold the same array
    return norms


class MaxNorm:
    """The max-norm constraint on named parameters of a model, to call after each optimizer step.

    Args:
        names: a parameter name (as ``model.named_parameters()`` lists it, e.g. ``"fc.weight"``)
            or a sequence of them.
        max_norm: s (Kim 2014: 3).
        dim: the dimension whose slices are constrained (0: rows of a Linear's (out, in) weight).
        norm_type: p of the p-norm.

    Calling it on the model rescales each named parameter with :func:`max_norm_` and
    returns ``{name: norms before rescaling}``; a name the model does not have is an error
    listing the model's parameters.

    Example:
        >>> constraint = MaxNorm("fc.weight", 3.0)
        >>> opt.step(); constraint(model)
    """

    def __init__(self, names: str | Sequence[str], max_norm: float = 3.0, dim: int = 0,
                 norm_type: float = 2.0) -> None:
        names = [names] if isinstance(names, str) else list(names)
        if not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"MaxNorm: names must be one parameter name or a non-empty list of them, "
                             f"got {names!r}")
        for name, value in (("max_norm", max_norm), ("norm_type", norm_type)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not value > 0:
                raise ValueError(f"MaxNorm: {name} must be a number > 0, got {value!r}")
        self.names = names
        self.max_norm = float(max_norm)
        self.dim = dim
        self.norm_type = float(norm_type)

    def __call__(self, model: Module) -> dict[str, np.ndarray]:
        if not isinstance(model, Module):
            raise TypeError(f"MaxNorm: expected a Module, got {type(model).__name__}")
        params = dict(model.named_parameters())
        missing = [n for n in self.names if n not in params]
        if missing:
            raise ValueError(f"MaxNorm: {type(model).__name__} has no parameter {missing[0]!r}; "
                             f"its parameters: {', '.join(params) or 'none'}")
        return {n: max_norm_(params[n], self.max_norm, self.dim, self.norm_type) for n in self.names}

    def __repr__(self) -> str:
        return f"MaxNorm({self.names!r}, max_norm={self.max_norm}, dim={self.dim}, norm_type={self.norm_type})"
