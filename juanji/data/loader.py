"""DataLoader: batches of a map-style dataset as juanji Tensors, in a seedable, resumable order.

Randomness, all derived from one integer ``base seed`` (``seed=``, or drawn once from
``juanji.random.default_generator()`` when the loader is made, so ``juanji.manual_seed`` before
building it makes every epoch repeatable):

- the order of epoch ``e`` is ``permutation(n)`` drawn from ``SeedSequence(base, spawn_key=(e, 0, 0))``;
- random transforms without their own generator draw, while batch ``b`` of epoch ``e`` is
  built, from ``SeedSequence(base, spawn_key=(e, 1, b))`` (see ``transforms.generator_scope``).

So any batch is a fixed function of (base seed, epoch, batch index): prefetching in a thread,
or draws elsewhere (dropout) in between, cannot change it, and ``state_dict()`` (base seed,
epoch, batches done) is all a checkpoint needs to resume the exact stream, even mid-epoch.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator

import numpy as np

from .. import random as _random
from ..tensor import Tensor, from_numpy
from .dataset import Dataset
from .transforms import generator_scope

__all__ = ["DataLoader"]

_PERMUTATION, _TRANSFORMS = 0, 1  # the middle word of the spawn key


def _int_arg(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"DataLoader: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class DataLoader:
    """Iterate over a dataset in batches of juanji Tensors ``(x, y)``.

    ``x`` is float32 NCHW (uint8 images become ``x / 255`` in [0, 1] unless a transform has
    already made them float; integer non-uint8 inputs such as token ids stay int64) and ``y``
    int64 (float32 if a target transform made it float, e.g. ``OneHot``).

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

    Example:
        >>> ds = ArrayDataset(np.zeros((10, 1, 4, 4), np.uint8), np.arange(10))
        >>> loader = DataLoader(ds, batch_size=4, shuffle=True, seed=0)
        >>> [tuple(x.shape) for x, y in loader]
        [(4, 1, 4, 4), (4, 1, 4, 4), (2, 1, 4, 4)]
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, transform: Callable[[np.ndarray], np.ndarray] | None = None,
                 target_transform: Callable[[np.ndarray], np.ndarray] | None = None, prefetch: int = 0) -> None:
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
        if seed is None:
            seed = int(_random.default_generator().integers(0, 2**63))
        self.seed = _int_arg("seed", seed, 0)
        self._epoch = 0  # the next epoch to start
        self._resume_batch = 0  # set by load_state_dict to resume mid-epoch
        self._active: list[int] | None = None  # [epoch, batches yielded] while an epoch is running

    # -- sizes and order -------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

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
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return self._seed_sequence(epoch, _PERMUTATION, 0).permutation(n)

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

    def _batch(self, indices: np.ndarray, epoch: int, b: int) -> tuple[Tensor, Tensor]:
        with generator_scope(self._seed_sequence(epoch, _TRANSFORMS, b)):
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
        order = self.order(epoch)
        for b in range(start, len(self)):
            yield self._batch(order[b * self.batch_size:(b + 1) * self.batch_size], epoch, b)

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
        return {"seed": self.seed, "epoch": int(epoch), "batch": int(batch), "num_samples": len(self.dataset)}

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
        if batch > len(self):
            raise ValueError(f"DataLoader.load_state_dict: batch {batch} is beyond the {len(self)} batches of an epoch")
        self.seed = _int_arg("seed", state["seed"], 0)
        self._epoch = _int_arg("epoch", state["epoch"], 0)
        self._resume_batch = batch
        if batch == len(self):  # saved after the epoch's last batch: continue with the next epoch
            self._epoch, self._resume_batch = self._epoch + 1, 0

    def __repr__(self) -> str:
        return (f"DataLoader(n={len(self.dataset)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed}, prefetch={self.prefetch})")
