"""SyncBatchNorm: batch normalisation whose statistics cover the whole distributed batch.

Under DistributedDataParallel each rank sees only its B samples, so a plain BatchNorm
normalises with the mean and variance of B samples (PyTorch's default too). When B is small
those statistics are noisy; SyncBatchNorm computes them over all N * B samples of the step, so
N ranks at batch B normalise exactly as one process at batch N * B.

Forward (training). Each rank r has m_r values per channel (m_r = B_r * prod(spatial)) with
mean_r and M2_r = sum((x - mean_r)^2); one allgather of (m_r, mean_r, M2_r) gives every rank
all of them, and Chan et al.'s pairwise formula combines them without the cancellation of
E[x^2] - E[x]^2:

    n = sum m_r,   mean = sum(m_r mean_r) / n,   M2 = sum(M2_r + m_r (mean_r - mean)^2),
    var = M2 / n (biased; the running variance gets M2 / (n - 1), as in BatchNorm).

Backward. With xhat = (x - mean) * invstd, batch norm's input gradient needs two sums over the
whole batch (functional/norm.py: dx = gamma invstd (dy - sum(dy)/n - xhat sum(dy xhat)/n));
one allreduce of the local (sum(dy), sum(dy xhat)) gives them. The gradients of gamma and
beta are the local sums: DistributedDataParallel averages them over the ranks like every
other parameter gradient (as PyTorch's SyncBatchNorm does). With each rank's loss a mean
over its own B samples, rank r's dy is N times the joined batch's, so the N-rank average of
the local sums is the joined batch's gradient.

Every rank must run the same SyncBatchNorm layers in the same order (they are collectives),
which DistributedDataParallel's identical replicas do. In evaluation mode, or in a world of 1,
it is BatchNorm.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _world
from ..autograd import Function
from ..functional.norm import _channel_dot, _channel_sum, _check_eps, _check_param, _check_x
from ..nn import Module
from ..nn.norm import _BatchNorm
from ..tensor import Tensor
from .comm import _mpi

__all__ = ["SyncBatchNorm", "convert_sync_batchnorm", "sync_batch_norm"]


class SyncBatchNormFunction(Function):
    """Training-mode batch norm with statistics and backward sums allreduced over the job."""

    def forward(self, x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None,
                running_mean: np.ndarray | None, running_var: np.ndarray | None,
                momentum: float, eps: float) -> np.ndarray:
        c = x.shape[1]
        bshape = (1, c) + (1,) * (x.ndim - 2)               # (1, C, 1, ...) broadcasts on x
        m = x.size // c if c else 0                         # this rank's values per channel
        if m:
            mean_r = _channel_sum(x) / m                    # (C,)
            d = x - mean_r.reshape(bshape)                  # (N, C, *S)
            m2_r = _channel_dot(d, d)                       # (C,)
        else:  # an empty shard still takes part in the collective
            mean_r = m2_r = np.zeros(c, dtype=x.dtype)
        mine = np.concatenate([[m], mean_r, m2_r]).astype(np.float64)   # (2C + 1,)
        every = np.empty((_world.size, 2 * c + 1), dtype=np.float64)   # (ranks, 2C + 1)
        _world.comm.Allgather(mine, every)
        counts, means, m2s = every[:, 0], every[:, 1:c + 1], every[:, c + 1:]  # (R,), (R, C), (R, C)
        n = counts.sum()
        if n <= 1:
            raise ValueError(f"SyncBatchNorm: Expected more than 1 value per channel when training, got {int(n)} "
                             f"over all {_world.size} ranks (this rank's input shape {x.shape})")
        mean = (counts[:, None] * means).sum(axis=0) / n   # (C,)
        m2 = (m2s + counts[:, None] * (means - mean) ** 2).sum(axis=0)  # (C,)
        var = m2 / n                                        # (C,) biased
        if running_mean is not None:
            running_mean *= 1.0 - momentum
            running_mean += (momentum * mean).astype(running_mean.dtype)
            running_var *= 1.0 - momentum
            running_var += (momentum * m2 / (n - 1)).astype(running_var.dtype)
        mean, invstd = mean.astype(x.dtype), (1.0 / np.sqrt(var + eps)).astype(x.dtype)  # (C,)
        scale = invstd if weight is None else invstd * weight  # (C,)
        out = (x - mean.reshape(bshape)) * scale.reshape(bshape)  # (N, C, *S)
        if bias is not None:
            out += bias.reshape(bshape)
        self.save_for_backward(x, weight, mean, invstd, n)
        return out

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, weight, mean, invstd, n = self.saved
        c = x.shape[1]
        bshape = (1, c) + (1,) * (x.ndim - 2)
        d = x - mean.reshape(bshape)                        # (N, C, *S): x - mean
        if x.size:
            sum_dy = _channel_sum(dy)                       # (C,) local
            sum_dy_xhat = _channel_dot(dy, d) * invstd      # (C,) local
        else:
            sum_dy = sum_dy_xhat = np.zeros(c, dtype=x.dtype)
        both = np.concatenate([sum_dy, sum_dy_xhat]).astype(np.float64)  # (2C,)
        _world.comm.Allreduce(_mpi().IN_PLACE, both, op=_mpi().SUM)
        g_sum_dy, g_sum_dy_xhat = both[:c].astype(x.dtype), both[c:].astype(x.dtype)  # (C,) global
        dx = None
        if self.needs_input_grad[0]:
            g_invstd = invstd if weight is None else weight * invstd  # (C,)
            # dx = gamma invstd (dy - sum(dy)/n - xhat sum(dy xhat)/n), sums over the whole job
            dx = dy * g_invstd.reshape(bshape)
            d *= (g_invstd * invstd * g_sum_dy_xhat / n).reshape(bshape)
            dx -= d
            dx -= (g_invstd * g_sum_dy / n).reshape(bshape)
        dw = sum_dy_xhat if self.needs_input_grad[1] else None
        db = sum_dy if self.needs_input_grad[2] else None
        return dx, dw, db


def sync_batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                    weight: Tensor | None = None, bias: Tensor | None = None, momentum: float = 0.1,
                    eps: float = 1e-5) -> Tensor:
    """Training-mode batch norm over the joined batch of every rank (see the module notes).

    Shape:
        input (N, C, *) -> (N, C, *); N may differ between ranks (even 0).
    """
    op = "sync_batch_norm"
    _check_x(op, input, 2, "(N, C, *)")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_param(op, name, t, (c,), input, f"an input with {c} channels")
    eps = _check_eps(op, eps, strict=True)
    rm = None if running_mean is None else running_mean.data
    rv = None if running_var is None else running_var.data
    return SyncBatchNormFunction.apply(input, weight, bias, running_mean=rm, running_var=rv,
                                       momentum=float(momentum), eps=eps)


class SyncBatchNorm(_BatchNorm):
    """Batch norm with statistics over the whole distributed batch (PyTorch's ``nn.SyncBatchNorm``).

    Args: as BatchNorm1d (``num_features``, ``eps``, ``momentum``, ``affine``,
    ``track_running_stats``); ``process_group`` must be None (the job's communicator).

    Shape:
        (N, C, *) -> same shape, any rank >= 2.

    Example:
        >>> model = SyncBatchNorm.convert_sync_batchnorm(model)   # every BatchNorm*d replaced
    """

    _ranks = (2, 3, 4, 5)
    _layout = "(N, C, *)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group: Any = None) -> None:
        if process_group is not None:
            raise ValueError("SyncBatchNorm: process_group must be None; statistics are reduced over the job "
                             "that juanji.distributed.init() joined")
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or _world.size == 1 or _world.comm is None:
            return super().forward(x)
        self._check_input(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        track = self.track_running_stats
        return sync_batch_norm(x, self.running_mean if track else None, self.running_var if track else None,
                               self.weight, self.bias, factor, self.eps)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with every BatchNorm1d/2d/3d replaced by a SyncBatchNorm that takes over its
        parameters and buffers (the same objects: an optimizer built before keeps working).

        Returns:
            The converted module (a new object when ``module`` itself is a batch norm).
        """
        if process_group is not None:
            raise ValueError("convert_sync_batchnorm: process_group must be None")
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            sync = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
            for name in ("weight", "bias"):
                sync._parameters[name] = module._parameters.get(name)
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                sync._buffers[name] = module._buffers.get(name)
            sync.train(module.training)
            return sync
        for name, child in list(module._modules.items()):
            if child is not None:
                module._modules[name] = cls.convert_sync_batchnorm(child)
        return module


def convert_sync_batchnorm(module: Module) -> Module:
    """``SyncBatchNorm.convert_sync_batchnorm(module)``."""
    return SyncBatchNorm.convert_sync_batchnorm(module)
