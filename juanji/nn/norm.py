"""Normalisation layers: BatchNorm1d/2d/3d, LayerNorm, GroupNorm, LocalResponseNorm.

Shape legend: N batch, C channels (num_features), L length, H height, W width, D depth.
Names, defaults, parameters (``weight`` ones, ``bias`` zeros) and buffers
(``running_mean`` zeros, ``running_var`` ones, ``num_batches_tracked`` int64) follow
PyTorch, so a ``state_dict`` moves between the two by name.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "LocalResponseNorm"]


class _BatchNorm(Module):
    """Shared body of BatchNorm1d/2d/3d; subclasses name the accepted input ranks."""

    _ranks: tuple[int, ...] = ()
    _layout: str = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *, bias: bool = True) -> None:
        super().__init__()
        if not isinstance(num_features, (int, np.integer)) or isinstance(num_features, bool) \
                or num_features < 1:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive int, got {num_features!r}")
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=np.float32))   # (C,)
            if bias:
                self.bias = Parameter(np.zeros(self.num_features, dtype=np.float32))  # (C,)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(self.num_features, dtype=np.float32)))  # (C,)
            self.register_buffer("running_var", Tensor(np.ones(self.num_features, dtype=np.float32)))    # (C,)
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))           # ()
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def _check_input(self, x: Tensor) -> None:
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: input must be a juanji.Tensor, got {type(x).__name__}")
        if x.ndim not in self._ranks:
            want = " or ".join(f"{r}-D" for r in self._ranks)
            raise ValueError(f"{name}: expected {want} input {self._layout}, got {x.ndim}-D input of shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}: input has {x.shape[1]} channels but num_features is "
                             f"{self.num_features} (input shape {x.shape})")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        # As PyTorch: momentum=None means a cumulative average, factor 1 / batches seen.
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        # Batch statistics in training, and in eval when no running statistics exist.
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if track else None, self.running_var if track else None,
                            self.weight, self.bias, use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input (statistics over N, or N and L).

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: running = (1 - momentum) * running + momentum * batch; None for a
            cumulative moving average.
        affine: learn per-channel ``weight`` (gamma, ones) and ``bias`` (beta, zeros).
        track_running_stats: keep ``running_mean``/``running_var`` for eval; if False,
            batch statistics are used in eval too.

    Shape:
        (N, C) or (N, C, L) -> same shape.

    Example:
        >>> nn.BatchNorm1d(16)(juanji.randn(8, 16)).shape
        (8, 16)
    """

    _ranks = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input, statistics per channel over N, H, W.

    Args: as BatchNorm1d.

    Shape:
        (N, C, H, W) -> (N, C, H, W).

    Example:
        >>> nn.BatchNorm2d(6)(juanji.randn(4, 6, 28, 28)).shape
        (4, 6, 28, 28)
    """

    _ranks = (4,)
    _layout = "(N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over (N, C, D, H, W) input, statistics per channel over N, D, H, W.

    Args: as BatchNorm1d.

    Shape:
        (N, C, D, H, W) -> (N, C, D, H, W).

    Example:
        >>> nn.BatchNorm3d(4)(juanji.randn(2, 4, 3, 8, 8)).shape
        (2, 4, 3, 8, 8)
    """

    _ranks = (5,)
    _layout = "(N, C, D, H, W)"


class LayerNorm(Module):
    """Layer normalisation over the trailing ``normalized_shape`` dims of each sample.

    Args:
        normalized_shape: int or tuple; the input must end with these dims.
        eps: added to the variance.
        elementwise_affine: learn ``weight`` (ones) and ``bias`` (zeros) of shape normalized_shape.
        bias: learn the bias (only with elementwise_affine).

    Shape:
        (*, *normalized_shape) -> same shape.

    Example:
        >>> nn.LayerNorm(10)(juanji.randn(4, 7, 10)).shape
        (4, 7, 10)
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True) -> None:
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=np.float32))  # normalized_shape
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=np.float32))  # normalized_shape
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Group normalisation: channels split into ``num_groups`` groups, statistics per sample and group.

    Args:
        num_groups: G; num_channels must be divisible by it.
        num_channels: C.
        eps: added to the variance.
        affine: learn per-channel ``weight`` (ones) and ``bias`` (zeros).

    Shape:
        (N, C, *) -> same shape.

    Example:
        >>> nn.GroupNorm(2, 6)(juanji.randn(3, 6, 5, 5)).shape
        (3, 6, 5, 5)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 *, bias: bool = True) -> None:
        super().__init__()
        if num_groups < 1 or num_channels % num_groups != 0:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = Parameter(np.ones(num_channels, dtype=np.float32))  # (C,)
            if bias:
                self.bias = Parameter(np.zeros(num_channels, dtype=np.float32))  # (C,)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(x, Tensor) and x.ndim >= 2 and x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: input has {x.shape[1]} channels but num_channels is "
                             f"{self.num_channels} (input shape {x.shape})")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class LocalResponseNorm(Module):
    """Local response normalisation across channels (AlexNet), as ``torch.nn.LocalResponseNorm``.

    b_c = a_c / (k + alpha / size * sum of a_j^2 over the size channels around c) ** beta.
    The AlexNet paper's alpha is not divided by size: use alpha = size * alpha_paper
    (see ``juanji.functional.local_response_norm``).

    Args:
        size: number of neighbouring channels summed.
        alpha, beta, k: as in the formula.

    Shape:
        (N, C, *) -> same shape (at least 3-D).

    Example:
        >>> nn.LocalResponseNorm(5, alpha=5e-4, k=2.0)(juanji.randn(2, 96, 55, 55)).shape
        (2, 96, 55, 55)
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
