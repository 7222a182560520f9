"""DataLoader: batches of a map-style dataset as juanji Tensors, in a seedable, resumable order.

Randomness, all derived from one integer ``base seed`` (``seed=``, or drawn once from
``juanji.random.default_generator()`` when the loader is made, so ``juanji.manual_seed`` before
building it makes every epoch repeatable):

- the order of epoch ``e`` is ``permutation(n)`` drawn from ``SeedSequence(base, spawn_key=(e, 0, 0))``;
- random transforms without their own generator draw, while batch ``b`` of epoch ``e`` is
  built, from ``SeedSequence(base, spawn_key=(e, 1, b))`` (see ``transforms.generator_scope``);
- with ``bucket_by`` (length bucketing, for text), the same permutation is cut into pools of
  ``BUCKET_POOL_BATCHES * batch_size`` samples, each pool is sorted by length (stably, so ties
  keep the random order), cut into batches, and the order of all the epoch's batches is then
  shuffled by a second draw from the same generator (torchtext's ``BucketIterator``). Without
  ``shuffle`` the whole dataset is sorted by length and the batches served shortest first.

So any batch is a fixed function of (base seed, epoch, batch index): prefetching in a thread,
or draws elsewhere (dropout) in between, cannot change it, and ``state_dict()`` (base seed,
epoch, batches done) is all a checkpoint needs to resume the exact stream, even mid-epoch.

Distributed training (``sampler=DistributedSampler(dataset)``, juanji/data/sampler.py): the
sampler gives this rank's shard of the epoch's order in place of the permutation above, and
batch ``b`` of rank ``r`` of ``N`` draws its transforms from ``spawn_key=(e, 1, b * N + r)``,
its index among all the ranks' batches of the epoch (``b`` itself when N = 1), so every
batch is a fixed function of (base seed, epoch, rank, batch index) and no two ranks draw the
same augmentation.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator

import numpy as np

from .. import random as _random
from ..tensor import Tensor, from_numpy
from .dataset import Dataset
from .sampler import DistributedSampler
from .transforms import generator_scope

__all__ = ["DataLoader", "BUCKET_POOL_BATCHES"]

_PERMUTATION, _TRANSFORMS = 0, 1  # the middle word of the spawn key

#: With ``bucket_by``, samples are sorted by length within pools of this many batches (as
#: torchtext's BucketIterator): batches hold similar lengths, yet vary from epoch to epoch.
BUCKET_POOL_BATCHES = 100


def _int_arg(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"DataLoader: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class DataLoader:
    """Iterate over a dataset in batches of juanji Tensors ``(x, y)``.

    ``x`` is float32 NCHW (uint8 images become ``x / 255`` in [0, 1] unless a transform has
    already made them float; integer non-uint8 inputs such as token ids stay int64, never
    scaled or cast to float) and ``y`` int64 (float32 if a target transform made it float, e.g.
    ``OneHot``).

    With ``collate_fn`` (PyTorch's name), the loader hands it the list of the batch's samples
    (``[dataset[i] for i in batch]``) and serves what it returns: each ndarray of a returned
    tuple or list becomes a Tensor (integers int64, floats float32, uint8 left as it is), other
    values pass through. ``juanji.data.PadCollate`` pads variable-length token ids.

    Fast path: when the dataset holds its samples in memory (``ArrayDataset``, the MNIST/CIFAR/
    digits readers, and ``Subset``s of them) and has no per-sample transform, each batch is one
    fancy-index into the arrays, and ``transform`` is applied once to the whole batch array.
    Otherwise samples are fetched one by one and stacked.

    Args:
        dataset: a map-style dataset (``len(ds)``, ``ds[i] -> (x, y)``).
        batch_size: samples per batch.
        shuffle: a new random order every epoch (see the module notes for how it is drawn).
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        seed: base seed; None draws one from ``juanji.random.default_generator()`` now.
        transform: batch-level transform on the ``(B, C, H, W)`` array (e.g. the classes of
            ``juanji.data.transforms``, which treat each image of the batch independently).
        target_transform: batch-level transform on the ``(B,)`` label array (e.g. ``OneHot``).
        prefetch: build up to this many batches ahead in a background thread (0: none). The
            batches are identical with or without it.
        collate_fn: builds a batch from the list of its samples (then ``transform`` and
            ``target_transform`` must be None: transform inside ``collate_fn`` instead).
        bucket_by: ``(N,)`` sample lengths (e.g. ``TextDataset.lengths``): batch samples of
            similar length together (see the module notes); ``len(loader)`` is unchanged.
        sampler: where each epoch's sample order comes from instead of ``shuffle`` (PyTorch's
            name): a ``DistributedSampler`` (asked for ``indices(epoch)``), or any iterable of
            indices (given ``set_epoch(epoch)`` first if it has one). Excludes ``shuffle``.

    Example:
        >>> ds = ArrayDataset(np.zeros((10, 1, 4, 4), np.uint8), np.arange(10))
        >>> loader = DataLoader(ds, batch_size=4, shuffle=True, seed=0)
        >>> [tuple(x.shape) for x, y in loader]
        [(4, 1, 4, 4), (4, 1, 4, 4), (2, 1, 4, 4)]
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, transform: Callable[[np.ndarray], np.ndarray] | None = None,
                 target_transform: Callable[[np.ndarray], np.ndarray] | None = None, prefetch: int = 0,
                 collate_fn: Callable[[list[Any]], Any] | None = None, bucket_by: Any = None,
                 sampler: Any = None) -> None:
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset must have __len__ and __getitem__, got {type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = _int_arg("batch_size", batch_size, 1)
        self.prefetch = _int_arg("prefetch", prefetch, 0)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        for name, fn in (("transform", transform), ("target_transform", target_transform)):
            if fn is not None and not callable(fn):
                raise TypeError(f"DataLoader: {name} must be callable, got {type(fn).__name__}")
        self.transform = transform
        self.target_transform = target_transform
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        if collate_fn is not None and (transform is not None or target_transform is not None):
            raise ValueError("DataLoader: transform and target_transform act on the default batch arrays; "
                             "with a collate_fn, transform inside it instead")
        self.collate_fn = collate_fn
        if sampler is not None:
            if shuffle:
                raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle (the sampler "
                                 "decides the order; DistributedSampler(shuffle=True) shuffles)")
            if not (hasattr(sampler, "indices") or hasattr(sampler, "__iter__")):
                raise TypeError(f"DataLoader: sampler must be iterable (of sample indices), got {type(sampler).__name__}")
        self.sampler = sampler
        self.bucket_by: np.ndarray | None = None
        if bucket_by is not None:
            lengths = np.asarray(bucket_by)
            if lengths.ndim != 1 or (lengths.size and lengths.dtype.kind not in "iu"):
                raise ValueError(f"DataLoader: bucket_by must be a 1-D array of ints (sample lengths), got "
                                 f"shape {lengths.shape} and dtype {lengths.dtype}")
            if len(lengths) != len(dataset):
                raise ValueError(f"DataLoader: bucket_by has {len(lengths)} lengths but the dataset has "
                                 f"{len(dataset)} samples")
            self.bucket_by = lengths.astype(np.int64)
        if seed is None:
            seed = int(_random.default_generator().integers(0, 2**63))
        self.seed = _int_arg("seed", seed, 0)
        self._epoch = 0  # the next epoch to start
        self._resume_batch = 0  # set by load_state_dict to resume mid-epoch
        self._active: list[int] | None = None  # [epoch, batches yielded] while an epoch is running

    # -- sizes and order -------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of batches per epoch (of this rank's shard, with a sampler)."""
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def _replicas(self) -> tuple[int, int]:
        """(this rank, number of ranks) of a DistributedSampler; (0, 1) otherwise."""
        if isinstance(self.sampler, DistributedSampler):
            return self.sampler.rank, self.sampler.num_replicas
        return 0, 1

    def _sampler_order(self, epoch: int) -> np.ndarray:
        if hasattr(self.sampler, "indices"):
            order = np.asarray(self.sampler.indices(epoch))
        else:
            if hasattr(self.sampler, "set_epoch"):
                self.sampler.set_epoch(epoch)
            order = np.asarray(list(self.sampler))
        n = len(self.dataset)
        if order.ndim != 1 or (order.size and (order.dtype.kind not in "iu" or order.min() < 0 or order.max() >= n)):
            raise ValueError(f"DataLoader: the sampler must give a 1-D sequence of ints in [0, {n}), got shape "
                             f"{order.shape} dtype {order.dtype}"
                             + (f" from {order.min()} to {order.max()}" if order.size and order.dtype.kind in "iuf" else ""))
        return order.astype(np.int64)

    @property
    def epoch(self) -> int:
        """The epoch the next ``iter(loader)`` will run."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(loader)`` run epoch ``epoch`` (from its first batch)."""
        self._epoch = _int_arg("epoch", epoch, 0)
        self._resume_batch = 0

    def _seed_sequence(self, *key: int) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=key)))

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of epoch ``epoch``, in the order they are served (all of them)."""
        batches = self.batches(epoch, drop_last=False)
        return np.concatenate(batches) if batches else np.arange(0)

    def batches(self, epoch: int, drop_last: bool | None = None) -> list[np.ndarray]:
        """The sample indices of each batch of epoch ``epoch``, in the order they are served."""
        drop_last = self.drop_last if drop_last is None else drop_last
        bs = self.batch_size
        if self.sampler is not None:
            order = self._sampler_order(epoch)
            # with bucket_by: the pools' and the batches' shuffles follow the sampler's
            shuffled = bool(getattr(self.sampler, "shuffle", True))
            rng = self._seed_sequence(epoch, _PERMUTATION, 0) if shuffled else None
        else:
            rng = self._seed_sequence(epoch, _PERMUTATION, 0) if self.shuffle else None
            order = rng.permutation(len(self.dataset)) if rng is not None else np.arange(len(self.dataset))
        n = len(order)
        if self.bucket_by is not None:
            pool = bs * BUCKET_POOL_BATCHES if rng is not None else max(n, 1)
            order = np.concatenate([order[s:s + pool][np.argsort(self.bucket_by[order[s:s + pool]], kind="stable")]
                                    for s in range(0, n, pool)] or [order])
        cuts = [order[s:s + bs] for s in range(0, n, bs)]
        if drop_last and cuts and len(cuts[-1]) < bs:
            cuts.pop()
        if self.bucket_by is not None and rng is not None:
            cuts = [cuts[k] for k in rng.permutation(len(cuts))]
        return cuts

    # -- building one batch ----------------------------------------------------------------------

    def _fetch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gathered = self.dataset._gather(indices) if isinstance(self.dataset, Dataset) else None
        if gathered is not None:
            return gathered
        samples = [self.dataset[int(i)] for i in indices]
        try:
            x = np.stack([np.asarray(s[0].data if isinstance(s[0], Tensor) else s[0]) for s in samples])
        except ValueError as e:
            shapes = sorted({np.shape(s[0]) for s in samples})
            raise ValueError(f"DataLoader: the samples of a batch have different shapes {shapes}; "
                             f"resize or crop them to one size (e.g. with a Resize transform)") from e
        y = np.asarray([s[1] for s in samples])
        return x, y

    def _transform_generator(self, epoch: int, b: int) -> np.random.Generator:
        rank, replicas = self._replicas
        return self._seed_sequence(epoch, _TRANSFORMS, b * replicas + rank)

    def _collated(self, indices: np.ndarray, epoch: int, b: int) -> Any:
        with generator_scope(self._transform_generator(epoch, b)):
            out = self.collate_fn([self.dataset[int(i)] for i in indices])  # type: ignore[misc]
        if isinstance(out, tuple):
            return tuple(_to_tensor(v) for v in out)
        if isinstance(out, list):
            return [_to_tensor(v) for v in out]
        return _to_tensor(out)

    def _batch(self, indices: np.ndarray, epoch: int, b: int) -> Any:
        if self.collate_fn is not None:
            return self._collated(indices, epoch, b)
        with generator_scope(self._transform_generator(epoch, b)):
            x, y = self._fetch(indices)  # (B, C, H, W), (B,)
            if self.transform is not None:
                x = np.asarray(self.transform(x))
            if self.target_transform is not None:
                y = np.asarray(self.target_transform(y))
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / np.float32(255.0)
        elif x.dtype.kind == "f":
            x = x.astype(np.float32, copy=False)
        elif x.dtype.kind in "iu":
            x = x.astype(np.int64, copy=False)
        else:
            raise TypeError(f"DataLoader: images must be numeric arrays, got dtype {x.dtype}")
        y = y.astype(np.float32 if y.dtype.kind == "f" else np.int64, copy=False)
        return from_numpy(np.ascontiguousarray(x)), from_numpy(np.ascontiguousarray(y))

    def _batches(self, epoch: int, start: int) -> Iterator[tuple[Tensor, Tensor]]:
        batches = self.batches(epoch)
        for b in range(start, len(batches)):
            yield self._batch(batches[b], epoch, b)

    # -- iteration -------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        epoch, start = self._epoch, self._resume_batch
        self._epoch, self._resume_batch = epoch + 1, 0
        self._active = [epoch, start]
        batches = self._batches(epoch, start) if self.prefetch == 0 else self._prefetched(epoch, start)
        try:
            for batch in batches:
                # Counted as served once handed out, so a checkpoint taken in the loop body
                # (after training on this batch) resumes with the next one.
                self._active[1] += 1
                yield batch
        finally:
            # A finished or abandoned epoch counts as done, as in PyTorch: the next iter starts a new one.
            self._active = None
            batches.close()

    def _prefetched(self, epoch: int, start: int) -> Iterator[tuple[Tensor, Tensor]]:
        """The same batches as ``_batches``, built ahead by one background thread."""
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        done = object()

        def put(item: Any) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def work() -> None:
            try:
                for batch in self._batches(epoch, start):
                    if not put(batch):
                        return
                put(done)
            except BaseException as e:  # handed to the consumer, which re-raises it
                put(e)

        thread = threading.Thread(target=work, name="juanji-DataLoader-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                item = q.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join()

    # -- checkpoints -----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, int]:
        """Where the stream stands: ``{"seed", "epoch", "batch", "num_samples"}`` (plain ints).

        During an epoch, ``epoch`` is the running one and ``batch`` the number of batches
        handed out so far (including the one the loop body holds); between epochs, ``epoch``
        is the next one and ``batch`` is 0.
        """
        epoch, batch = self._active if self._active is not None else (self._epoch, self._resume_batch)
        state = {"seed": self.seed, "epoch": int(epoch), "batch": int(batch), "num_samples": len(self.dataset)}
        if self._replicas[1] > 1:
            state["num_replicas"] = self._replicas[1]
        return state

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume from ``state_dict()``: the next ``iter(loader)`` continues exactly where it stood."""
        missing = {"seed", "epoch", "batch"} - set(state)
        if missing:
            raise KeyError(f"DataLoader.load_state_dict: state is missing {sorted(missing)}")
        n = state.get("num_samples", len(self.dataset))
        if n != len(self.dataset):
            raise ValueError(f"DataLoader.load_state_dict: the state was saved for {n} samples but this "
                             f"dataset has {len(self.dataset)}")
        batch = _int_arg("batch", state["batch"], 0)
        replicas = state.get("num_replicas", 1)
        if replicas != self._replicas[1] and 0 < batch:
            # A batch index means another set of samples with another number of ranks; at an
            # epoch's end (where Trainer checkpoints) the position is the same for any number.
            raise ValueError(f"DataLoader.load_state_dict: the state was saved in the middle of an epoch "
                             f"(batch {batch}) of a run on {replicas} process(es); this loader's sampler has "
                             f"{self._replicas[1]}: resume from a checkpoint taken at the end of an epoch")
        if batch > len(self):
            raise ValueError(f"DataLoader.load_state_dict: batch {batch} is beyond the {len(self)} batches of an epoch")
        self.seed = _int_arg("seed", state["seed"], 0)
        self._epoch = _int_arg("epoch", state["epoch"], 0)
        self._resume_batch = batch
        if batch == len(self):  # saved after the epoch's last batch: continue with the next epoch
            self._epoch, self._resume_batch = self._epoch + 1, 0

    def __repr__(self) -> str:
        extra = (f", collate_fn={self.collate_fn!r}" if self.collate_fn is not None else "") + \
            (", bucket_by=lengths" if self.bucket_by is not None else "") + \
            (f", sampler={self.sampler!r}" if self.sampler is not None else "")
        return (f"DataLoader(n={len(self.dataset)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed}, prefetch={self.prefetch}{extra})")


def _to_tensor(value: Any) -> Any:
    """An ndarray from a collate_fn as a Tensor: integers int64 (token ids are never scaled), floats float32."""
    if not isinstance(value, np.ndarray):
        return value
    if value.dtype.kind in "iu" and value.dtype != np.uint8:
        value = value.astype(np.int64, copy=False)
    elif value.dtype.kind == "f":
        value = value.astype(np.float32, copy=False)
    return from_numpy(np.ascontiguousarray(value))
