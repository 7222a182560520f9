"""juanji.distributed: data-parallel training over MPI (mpi4py), as PyTorch's torch.distributed.

    # train.py, started as:  mpirun -n 4 python train.py   (docs/distributed.md: several hosts)
    import juanji.distributed as dist
    from juanji.data import DataLoader, DistributedSampler

    dist.init()                                          # a world of 1 without mpirun or mpi4py
    model = dist.DistributedDataParallel(dist.convert_sync_batchnorm(build_model()))
    loader = DataLoader(train, batch_size=64, sampler=DistributedSampler(train, seed=0))
    for x, y in loader:                                  # this rank's shard of each epoch
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()     # backward leaves averaged gradients

- ``init`` / ``rank`` / ``world_size`` / ``is_main``: the job (comm.py); collectives on NumPy
  arrays (``all_reduce``, ``broadcast_``, ...); ``abort_on_error`` turns one rank's exception
  into the end of the job with the rank and the error printed, never a hang.
- ``DistributedDataParallel`` (ddp.py): rank 0's weights broadcast at wrap time, gradients
  averaged in buckets by non-blocking allreduces that overlap backward; ``no_sync``,
  ``find_unused_parameters``.
- ``SyncBatchNorm``, ``convert_sync_batchnorm`` (sync_batchnorm.py): batch statistics over the
  whole distributed batch.
- ``DistributedSampler`` (juanji.data): each rank's disjoint shard of the epoch's order.
- ``juanji.train.Trainer`` takes a DistributedDataParallel model and all-reduces its metrics;
  ``mpirun -n N juanji train ...`` does all of this from the command line.
"""

from ..data.sampler import DistributedSampler
from .comm import (
    abort,
    abort_on_error,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast_,
    broadcast_object,
    failure_message,
    finalize,
    init,
    is_available,
    is_initialized,
    is_main,
    launched_world_size,
    rank,
    world_size,
)
from .ddp import DistributedDataParallel
from .sync_batchnorm import SyncBatchNorm, convert_sync_batchnorm, sync_batch_norm

__all__ = [
    "init", "is_available", "is_initialized", "rank", "world_size", "is_main", "launched_world_size",
    "barrier", "all_reduce", "broadcast_", "broadcast_object", "all_gather_object", "abort", "abort_on_error",
    "failure_message", "finalize",
    "DistributedDataParallel", "SyncBatchNorm", "convert_sync_batchnorm", "sync_batch_norm", "DistributedSampler",
]
