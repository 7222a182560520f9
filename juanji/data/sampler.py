"""DistributedSampler: each rank's disjoint shard of an epoch's order (PyTorch's name and contract).

Every rank draws the same permutation of the n samples for epoch e, from ``SeedSequence(seed,
spawn_key=(e, 0, 0))``, exactly as a shuffling ``DataLoader`` with that seed does, so with one
rank the sampler serves the loader's own order. The permutation is padded with its own first
samples up to a multiple of the number of ranks N (or cut down to one, with ``drop_last``), and
rank r takes every N-th sample from position r:

    padded = perm + perm[:pad],   shard_r = padded[r::N],   len(shard_r) = ceil(n / N)

so the shards are disjoint (but for the at most N - 1 padding repeats), cover the epoch, and
have equal lengths: every rank takes the same number of steps, which collective operations
need. Interleaving (rather than contiguous slices) means batch b of every rank together holds
positions b*N*B .. (b+1)*N*B - 1 of the permutation: N ranks at batch B see, step by step,
the samples one process at batch N * B would see.

Used by ``DataLoader(dataset, batch_size=B, sampler=DistributedSampler(dataset))``: the loader
asks the sampler for the order of the epoch it is about to run (``indices(epoch)``), so
``set_epoch`` is not needed there, and a resumed loader serves the same shard.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .. import _world

__all__ = ["DistributedSampler"]


def _index_arg(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"DistributedSampler: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class DistributedSampler:
    """The sample indices of this rank's shard of each epoch (see the module notes).

    Args:
        dataset: anything with ``len()``.
        num_replicas: N, the number of ranks (default: ``juanji.distributed.world_size()``).
        rank: this process's rank in [0, N) (default: ``juanji.distributed.rank()``).
        shuffle: a new permutation every epoch (False: the dataset's order, 0 .. n - 1).
        seed: the permutation's seed; must be the same on every rank.
        drop_last: cut the epoch to a multiple of N instead of padding it.

    Example:
        >>> s = DistributedSampler(range(10), num_replicas=4, rank=1, shuffle=False)
        >>> list(s), len(s)
        ([1, 5, 9], 3)
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if not hasattr(dataset, "__len__"):
            raise TypeError(f"DistributedSampler: dataset must have __len__, got {type(dataset).__name__}")
        self.dataset = dataset
        self.num_replicas = _index_arg("num_replicas", _world.size if num_replicas is None else num_replicas, 1)
        self.rank = _index_arg("rank", _world.rank if rank is None else rank, 0)
        if self.rank >= self.num_replicas:
            raise ValueError(f"DistributedSampler: rank {self.rank} is out of range for num_replicas "
                             f"{self.num_replicas} (ranks are 0 .. {self.num_replicas - 1})")
        self.shuffle = bool(shuffle)
        self.seed = _index_arg("seed", seed, 0)
        self.drop_last = bool(drop_last)
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        """Samples per rank per epoch."""
        n, k = len(self.dataset), self.num_replicas
        return n // k if self.drop_last else -(-n // k)

    @property
    def total_size(self) -> int:
        """Samples per epoch over all ranks (padding included)."""
        return self.num_samples * self.num_replicas

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Make ``iter(sampler)`` serve epoch ``epoch`` (PyTorch's contract; a DataLoader with this
        sampler passes its own epoch to ``indices`` instead)."""
        self.epoch = _index_arg("epoch", epoch, 0)

    def indices(self, epoch: int) -> np.ndarray:
        """This rank's sample indices for epoch ``epoch``, in order: (num_samples,) int64."""
        n = len(self.dataset)
        if self.shuffle:
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(epoch, 0, 0))))
            order = rng.permutation(n)
        else:
            order = np.arange(n)
        total = self.total_size
        if total > n:  # pad with the order's own first samples (repeated if n < N)
            order = np.concatenate([order, np.resize(order, total - n)]) if n else order
        return order[:total][self.rank::self.num_replicas].astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices(self.epoch).tolist())

    def __repr__(self) -> str:
        return (f"DistributedSampler(n={len(self.dataset)}, num_replicas={self.num_replicas}, rank={self.rank}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last})")
