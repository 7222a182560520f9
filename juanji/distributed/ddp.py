"""DistributedDataParallel: one model replica per process, gradients averaged over the job.

Every rank holds the same model (rank 0's parameters and buffers are broadcast when it is
wrapped), runs forward and backward on its own shard of the batch, and after backward holds
the average of all ranks' gradients, so the same optimizer step keeps the replicas identical.
With the loss a mean over each rank's B samples, the average of N such gradients is the
gradient of the mean over all N * B samples: N ranks at batch B take the steps of one process
at batch N * B (PyTorch's ``torch.nn.parallel.DistributedDataParallel`` contract).

How the gradients travel (as PyTorch's reducer):

- Buckets. The trainable parameters are grouped, in reverse order of ``parameters()`` (roughly
  the order backward produces their gradients), into flat buffers of at most
  ``bucket_cap_mb`` megabytes (the first, which holds the last layers, of at most 1 MB so
  communication starts early), one dtype per bucket. One message per bucket instead of one
  per tensor saves the per-message latency of dozens of small layers.
- Overlap. Each parameter has a post-accumulate-grad hook
  (``Tensor.register_post_accumulate_grad_hook``), which backward calls as soon as that
  parameter's gradient is final, while the layers below it are still being differentiated.
  The hook copies the gradient into its bucket; when a bucket is full it is reduced with a
  non-blocking ``MPI_Iallreduce``, in bucket order on every rank (collectives must be issued
  in the same order everywhere). MPI implementations without a progress thread move a
  non-blocking collective along only inside MPI calls, so every hook also tests the
  outstanding requests (``MPI_Testall``) to push them on.
- The wait. When the last bucket has been started, backward is done with the parameters;
  the hook then waits for every request, divides by N and copies the averages back into each
  ``.grad``. So, as in PyTorch, when ``loss.backward()`` returns the gradients are averaged,
  and the optimizer step that follows sees them. ``finish_gradient_synchronization()`` is the
  explicit form of that wait (the Trainer calls it before every step; it returns at once when
  backward already finished the work, and raises if parameters never received a gradient).

Parameters that take no part in the loss: with ``find_unused_parameters=False`` (the default,
as PyTorch) their buckets never fill, and ``finish_gradient_synchronization()`` (or the next
forward) raises naming them. With ``True``, forward walks the graph from the outputs, marks the
parameters it cannot reach as ready with a zero gradient, and a 1-bit-per-parameter allreduce
at the end tells which were used by no rank: those keep the ``.grad`` they had (None after
``zero_grad``), so the optimizer skips them, as in PyTorch.

``no_sync()``: inside it, forward does not arm the hooks and gradients accumulate locally; the
first backward after it reduces the accumulated sums (gradient accumulation over micro-batches
with one allreduce).

Buffers (batch norm's running statistics): with ``broadcast_buffers=True`` (the default),
rank 0's buffers are broadcast before every forward in training mode, so every replica
normalises with the same running statistics and evaluates alike; the batch statistics
themselves stay per rank unless the model uses ``SyncBatchNorm``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

import numpy as np

from .. import _world
from ..autograd import is_grad_enabled
from ..nn import Module
from ..tensor import Tensor
from .comm import _mpi

__all__ = ["DistributedDataParallel"]

#: The first bucket (the network's last layers, whose gradients backward produces first) is
#: capped at 1 MB, as in PyTorch, so that the first allreduce starts as early as possible.
FIRST_BUCKET_MB = 1.0


class _Bucket:
    """A flat buffer of some parameters' gradients, reduced with one allreduce."""

    def __init__(self, index: int, dtype: np.dtype, params: list[int], offsets: list[int], sizes: list[int]) -> None:
        self.index = index
        self.params = params                      # indices into DDP._params
        self.offsets, self.sizes = offsets, sizes
        self.buffer = np.zeros(offsets[-1] + sizes[-1], dtype=dtype)  # (sum of numels,)
        self.pending = len(params)                # parameters not yet ready in this step
        self.request: Any = None

    def view(self, k: int) -> np.ndarray:
        """The flat slice of the k-th parameter of this bucket."""
        return self.buffer[self.offsets[k]:self.offsets[k] + self.sizes[k]]


class DistributedDataParallel(Module):
    """Data parallelism over an MPI job (PyTorch's name and contract; see the module notes).

    Args:
        module: the model; every rank must build the same architecture (checked at wrap time).
            Its parameters and buffers are replaced by rank 0's, in place.
        bucket_cap_mb: the largest bucket of gradients reduced in one message (MB); the first
            bucket is at most 1 MB. Smaller buckets start communicating earlier in backward,
            larger ones pay the per-message latency less often.
        broadcast_buffers: broadcast rank 0's buffers before every training forward.
        find_unused_parameters: allow parameters that get no gradient in a step (see notes).
        device_ids, output_device: accepted for PyTorch compatibility and must be None.

    Attributes:
        module: the wrapped model (save ``ddp.module.state_dict()`` for weights without the
            ``module.`` prefix).
        comm_stats: counters since construction: ``steps`` (synchronised backward passes),
            ``buckets``, ``bytes`` (reduced per rank), ``wait_s`` (seconds blocked waiting for
            allreduces after the last bucket started), ``hook_s`` (seconds inside the hooks:
            copies, starts, progress tests), ``done_before_wait`` (buckets whose allreduce had
            already finished when the wait began: communication fully hidden by backward).

    Example:
        >>> juanji.distributed.init()
        >>> model = DistributedDataParallel(build_model())
        >>> loss = F.cross_entropy(model(x_shard), y_shard); loss.backward()   # averaged .grad
        >>> opt.step()
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None, dim: int = 0,
                 broadcast_buffers: bool = True, bucket_cap_mb: float = 4.0,
                 find_unused_parameters: bool = False) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a juanji.nn.Module, got {type(module).__name__}")
        if device_ids is not None or output_device is not None or dim != 0:
            raise ValueError("DistributedDataParallel: device_ids, output_device and dim are PyTorch's GPU options; "
                             "juanji runs one process per replica on the CPU, leave them at None (dim 0)")
        if not isinstance(bucket_cap_mb, (int, float)) or isinstance(bucket_cap_mb, bool) or not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.require_backward_grad_sync = True
        object.__setattr__(self, "comm_stats", {"steps": 0, "buckets": 0, "bytes": 0, "wait_s": 0.0,
                                                "hook_s": 0.0, "done_before_wait": 0})
        # A communicator of its own (as a PyTorch process group): its allreduces can never be
        # matched with another part of the program's collectives, even after an error here.
        object.__setattr__(self, "_comm", _world.comm.Dup() if _world.size > 1 else None)
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        object.__setattr__(self, "_names", [n for n, _ in named])
        object.__setattr__(self, "_params", [p for _, p in named])
        self._check_same_model()
        self._broadcast_state()
        object.__setattr__(self, "_buckets", self._make_buckets())
        # parameter index -> (bucket, position in it)
        object.__setattr__(self, "_where", {i: (b, k) for b in self._buckets for k, i in enumerate(b.params)})
        object.__setattr__(self, "_handles", [])
        object.__setattr__(self, "_armed", False)      # a forward prepared the hooks for a backward
        object.__setattr__(self, "_ready", np.zeros(len(self._params), dtype=bool))
        object.__setattr__(self, "_used", np.ones(len(self._params), dtype=np.int32))
        object.__setattr__(self, "_next_bucket", 0)    # the next bucket to start, in order
        object.__setattr__(self, "_hooks_fired", 0)    # hooks called in this backward
        if _world.size > 1:
            for i, p in enumerate(self._params):
                self._handles.append(p.register_post_accumulate_grad_hook(
                    lambda t, i=i: self._on_grad_ready(i)))

    # --- set-up ---------------------------------------------------------------------------
    def _check_same_model(self) -> None:
        """Every rank must hold the same parameters and buffers (names, shapes, dtypes): a
        mismatch would make the broadcasts and allreduces mix unrelated arrays."""
        if _world.size == 1:
            return
        mine = [(n, tuple(t.shape), str(t.dtype)) for n, t in
                [*self.module.named_parameters(), *self.module.named_buffers()]]
        every = self._comm.allgather(mine)
        for r, theirs in enumerate(every):
            if theirs != every[0]:
                diff = sorted(set(theirs) ^ set(every[0]))[:3]
                raise ValueError(f"DistributedDataParallel: rank {r}'s model differs from rank 0's "
                                 f"(parameters/buffers as (name, shape, dtype), first differences: {diff}); "
                                 "every rank must build the same model")

    def _broadcast_state(self) -> None:
        """Give every rank rank 0's parameters and buffers (every rank starts from one model)."""
        if _world.size == 1:
            return
        for t in [*self.module.parameters(), *self.module.buffers()]:
            self._bcast_tensor(t)

    def _bcast_tensor(self, t: Tensor) -> None:
        a = t.data
        if not (a.flags.c_contiguous and a.flags.writeable):
            a = t.data = np.ascontiguousarray(a).copy()
        self._comm.Bcast(a, root=0)

    def _make_buckets(self) -> list[_Bucket]:
        """Parameters in reverse registration order, cut into buckets by size and dtype; the
        buckets are numbered in the order they close, which is the order backward fills them."""
        closed: list[tuple[np.dtype, list[int]]] = []
        filling: dict[np.dtype, tuple[list[int], int]] = {}  # dtype -> (members, bytes)
        for i in reversed(range(len(self._params))):
            a = self._params[i].data
            members, nbytes = filling.get(a.dtype, ([], 0))
            cap = (min(FIRST_BUCKET_MB, self.bucket_cap_mb) if not closed else self.bucket_cap_mb) * 1024 * 1024
            if members and nbytes + a.nbytes > cap:
                closed.append((a.dtype, members))
                members, nbytes = [], 0
            members.append(i)
            filling[a.dtype] = (members, nbytes + a.nbytes)
        closed.extend((dt, members) for dt, (members, _) in filling.items())
        return [self._bucket(k, dt, members) for k, (dt, members) in enumerate(closed)]

    def _bucket(self, index: int, dtype: np.dtype, members: list[int]) -> _Bucket:
        sizes = [self._params[i].data.size for i in members]
        offsets = [int(x) for x in np.concatenate([[0], np.cumsum(sizes)[:-1]])]
        return _Bucket(index, dtype, members, offsets, sizes)

    @property
    def bucket_sizes(self) -> list[int]:
        """Bytes of each bucket, in the order they are reduced."""
        return [b.buffer.nbytes for b in self._buckets]

    # --- forward ----------------------------------------------------------------------------
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if _world.size > 1:
            self._check_finished("forward")
            if self.broadcast_buffers and self.module.training:
                self._sync_buffers()
        out = self.module(*inputs, **kwargs)
        if _world.size > 1 and is_grad_enabled() and self.require_backward_grad_sync:
            self._prepare_for_backward(out)
        return out

    def _sync_buffers(self) -> None:
        """Rank 0's buffers on every rank: one broadcast per dtype of all of them packed together."""
        by_dtype: dict[np.dtype, list[Tensor]] = {}
        for b in self.module.buffers():
            by_dtype.setdefault(b.data.dtype, []).append(b)
        for group in by_dtype.values():
            flat = np.concatenate([b.data.reshape(-1) for b in group])
            self._comm.Bcast(flat, root=0)
            start = 0
            for b in group:
                np.copyto(b.data, flat[start:start + b.data.size].reshape(b.data.shape))
                start += b.data.size

    def _prepare_for_backward(self, out: Any) -> None:
        object.__setattr__(self, "_armed", True)
        self._ready[:] = False
        self._used[:] = 1
        object.__setattr__(self, "_next_bucket", 0)
        object.__setattr__(self, "_hooks_fired", 0)
        for b in self._buckets:
            b.pending, b.request = len(b.params), None
        if self.find_unused_parameters:
            reached = _reachable_leaves(out)
            for i, p in enumerate(self._params):
                if id(p) not in reached:
                    self._used[i] = 0
                    self._mark_ready(i)
            if self._next_bucket == len(self._buckets):  # no parameter takes part at all
                self._finish()

    # --- backward: hooks, buckets, the wait ---------------------------------------------------
    def _on_grad_ready(self, i: int) -> None:
        if not self._armed:  # a backward not prepared by forward (no_sync, or the bare module)
            return
        start = time.perf_counter()
        if self._ready[i]:
            raise RuntimeError(f"DistributedDataParallel: parameter {self._names[i]!r} received its gradient twice "
                               "in one synchronised backward (backward called twice on one forward?); call "
                               "forward again before each backward")
        object.__setattr__(self, "_hooks_fired", self._hooks_fired + 1)
        self._mark_ready(i)
        self._poke()
        self.comm_stats["hook_s"] += time.perf_counter() - start
        if self._next_bucket == len(self._buckets):  # every bucket started: backward is done with them
            self._finish()

    def _mark_ready(self, i: int) -> None:
        bucket, k = self._where[i]
        self._ready[i] = True
        grad = self._params[i].grad
        view = bucket.view(k)
        if grad is None:  # unused on this rank: contributes zeros
            view[...] = 0
        else:
            np.copyto(view.reshape(self._params[i].shape), grad.data)
        bucket.pending -= 1
        # Start buckets strictly in order: every rank must issue its collectives in one order.
        while self._next_bucket < len(self._buckets) and self._buckets[self._next_bucket].pending == 0:
            b = self._buckets[self._next_bucket]
            MPI = _mpi()
            b.request = self._comm.Iallreduce(MPI.IN_PLACE, b.buffer, op=MPI.SUM)
            object.__setattr__(self, "_next_bucket", self._next_bucket + 1)

    def _poke(self) -> None:
        """Let MPI move the outstanding allreduces along (see the module notes)."""
        requests = [b.request for b in self._buckets[:self._next_bucket] if b.request is not None]
        if requests:
            _mpi().Request.Testall(requests)

    def _finish(self) -> None:
        MPI = _mpi()
        requests = [b.request for b in self._buckets]
        start = time.perf_counter()
        done = sum(bool(r.Test()) for r in requests)
        MPI.Request.Waitall(requests)
        self.comm_stats["wait_s"] += time.perf_counter() - start
        self.comm_stats["done_before_wait"] += done
        used = self._used
        if self.find_unused_parameters:  # which parameters did any rank use?
            used = self._used.copy()
            self._comm.Allreduce(MPI.IN_PLACE, used, op=MPI.SUM)
        n = _world.size
        for b in self._buckets:
            b.buffer /= n
            b.request = None
            for k, i in enumerate(b.params):
                if not used[i]:
                    continue  # no rank used it: its .grad stays as it was, as in PyTorch
                p = self._params[i]
                avg = b.view(k).reshape(p.shape)
                if p.grad is None:
                    p.grad = Tensor._make(avg.copy())
                else:
                    np.copyto(p.grad.data, avg)
            self.comm_stats["bytes"] += b.buffer.nbytes
        self.comm_stats["steps"] += 1
        self.comm_stats["buckets"] += len(self._buckets)
        object.__setattr__(self, "_armed", False)

    def _check_finished(self, where: str) -> None:
        """Raise if the last synchronised backward left parameters without a gradient."""
        if not self._armed:
            return
        if self._hooks_fired == 0:
            # A forward that no backward followed (a loss computed for logging): drop it. Buckets
            # of unused parameters that forward started are finished first; every rank started
            # the same ones, having run the same forward.
            _mpi().Request.Waitall([b.request for b in self._buckets if b.request is not None])
            object.__setattr__(self, "_armed", False)
            return
        missing = [self._names[i] for i in np.flatnonzero(~self._ready)]
        raise RuntimeError(f"DistributedDataParallel ({where}): expected the gradients of every parameter to be "
                           f"reduced after backward, but {len(missing)} parameter(s) received no gradient on rank "
                           f"{_world.rank}: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}; they took "
                           "no part in the loss. Pass find_unused_parameters=True to reduce zeros for them, or "
                           "remove them from the model (requires_grad_(False))")

    def finish_gradient_synchronization(self) -> None:
        """Make sure the averaged gradients are in every ``.grad`` before the optimizer step.

        Backward already did it when every parameter received a gradient (the usual case), and
        then this returns at once; the Trainer calls it before every step.

        Raises:
            RuntimeError: naming the parameters that received no gradient in the last backward
                (with ``find_unused_parameters=False``).
        """
        if _world.size > 1:
            self._check_finished("finish_gradient_synchronization")

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside, forward/backward accumulate gradients locally with no communication; the first
        synchronised backward after it reduces the accumulated sums.

            with ddp.no_sync():
                for x, y in micro_batches[:-1]:
                    loss_fn(ddp(x), y).backward()
            loss_fn(ddp(x_last), y_last).backward()   # one allreduce of the accumulated gradients
        """
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def extra_repr(self) -> str:
        return (f"world_size={_world.size}, buckets={len(self._buckets)}, bucket_cap_mb={self.bucket_cap_mb:g}, "
                f"find_unused_parameters={self.find_unused_parameters}")


def _reachable_leaves(out: Any) -> set[int]:
    """ids of the leaf tensors that the graph behind ``out`` (a Tensor or a nest of them) reaches."""
    stack: list[Tensor] = []

    def collect(o: Any) -> None:
        if isinstance(o, Tensor):
            stack.append(o)
        elif isinstance(o, (list, tuple)):
            for v in o:
                collect(v)
        elif isinstance(o, dict):
            for v in o.values():
                collect(v)

    collect(out)
    seen: set[int] = set()
    leaves: set[int] = set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._ctx is None:
            leaves.add(id(t))
            continue
        stack.extend(x for x in t._ctx.inputs if isinstance(x, Tensor) and x.requires_grad)
    return leaves
