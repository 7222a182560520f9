"""Trainer: fit / evaluate / predict a classifier, with progress bars, history, callbacks and resume.

    >>> trainer = Trainer(model, Adam(model.parameters(), lr=1e-3), "cross_entropy", metrics=["accuracy"])
    >>> history = trainer.fit(train_loader, val_loader, epochs=10)
    >>> trainer.evaluate(test_loader)
    {'loss': 0.27, 'accuracy': 0.91}

``train``/``val``/``data`` are DataLoaders or any re-iterable of ``(x, y)`` batches
(x: (N, C, H, W) float images, or (N, L) int64 token ids for a text model, as a Tensor or
array; y: (N,) int labels). One epoch is one pass
over ``train``; ``epochs`` counts epochs from the start of the run, so
``fit(..., epochs=10, resume="last.safetensors")`` after epoch 4 trains epochs 5 to 10.

Divergence stops a run: a NaN or infinite loss at the step it happens, a NaN or infinite
parameter or buffer (a running variance can overflow while the loss stays finite) at the end
of the epoch, with a ``DivergedError`` (a FloatingPointError) naming the epoch, step and tensor;
``save_checkpoint`` refuses such weights, so the last checkpoint on disk stays the last good one.
``verbose`` draws a progress bar on a terminal and prints one line per epoch anywhere else.
x need not be images: integer token ids (N, L) int64 go to the model as they are (never cast
to float); ``unit`` names what a sample is in the speed figures (``img/s``, ``sample/s``).
Callbacks' ``on_step_end`` runs right after every ``optimizer.step()``, before anything else
sees the weights (``AfterStep``/``MaxNormCallback``: Kim's max-norm constraint).

The LR schedule steps once per epoch (after validation; ``scheduler_interval="epoch"``, the
default) or once per optimizer step (``scheduler_interval="step"``, Lightning's name: for
OneCycleLR and per-batch warm-ups), at the end of each batch, after the batch's callbacks, so
every callback of a batch sees the lr that batch was trained with. The history's ``lr`` column
is the lr at the start of each epoch in both cases.

Resuming is exact: a checkpoint holds the model, optimizer, scheduler, epoch, history,
callbacks' state and random-generator states (juanji's global generator, which drives
dropout and, by default, shuffling; and the train loader's own, if it has one), so
1 epoch + resume + 1 epoch gives the same bits as 2 epochs.

Distributed (``Trainer(DistributedDataParallel(model), ...)`` in every process of an MPI job,
each with its own shard of the data, e.g. ``DataLoader(..., sampler=DistributedSampler(ds))``):
``trainer.model`` is the wrapped model (what is saved, evaluated and handed to callbacks), the
training forward goes through the wrapper, and the averaged gradients are awaited before every
optimizer step. Each epoch's loss and metrics, and ``evaluate``'s, are summed over the ranks
before they are logged, so every rank logs the same numbers and takes the same decisions
(early stopping, LR plateaus); only rank 0 prints, and callbacks marked ``main_process_only``
(``ModelCheckpoint``, ``CSVLogger``: the ones that write files) run on rank 0 alone. A
checkpoint holds nothing rank-specific: rank 0 reads it on resume and broadcasts it, and
juanji's global generator (dropout) is reseeded at every epoch from (the run's seed, epoch,
rank), so a run resumes exactly at an epoch boundary with the same or another number of ranks.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .. import functional as F
from ..autograd import no_grad
from ..distributed import comm as dist
from ..distributed.ddp import DistributedDataParallel
from ..nn import Module
from ..random import default_generator, get_rng_state, manual_seed, set_rng_state
from ..tensor import Tensor
from .callbacks import Callback, _Monitor, step_scheduler
from .checkpoint import load_checkpoint, save_checkpoint
from .history import History
from .metrics import Metric, get_metrics

__all__ = ["Trainer", "LOSSES", "DivergedError"]


class DivergedError(FloatingPointError):
    """Training diverged: the loss, a parameter or a buffer holds NaN or infinity.

    Raised by ``Trainer.fit`` (the loss at every step; parameters and buffers after every
    epoch) and by ``Trainer.check_finite`` / ``save_checkpoint`` before anything is written,
    so the last checkpoint on disk is the last good one.
    """

LOSSES: dict[str, Callable[..., Tensor]] = {
    "cross_entropy": F.cross_entropy,
    "nll_loss": F.nll_loss,
    "mse_loss": F.mse_loss,
}


def _to_tensor(value: Any, what: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor._make(value)
    try:
        return Tensor(np.asarray(value))
    except Exception as e:
        raise TypeError(f"Trainer: {what} must be a Tensor or an array, got {type(value).__name__}") from e


def _unpack(batch: Any, step: int) -> tuple[Tensor, Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError(f"Trainer: batch {step} must be an (x, y) pair, got {type(batch).__name__}"
                        + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""))
    x, y = _to_tensor(batch[0], "x"), _to_tensor(batch[1], "y")
    if len(x) != len(y):
        raise ValueError(f"Trainer: batch {step} has {len(x)} inputs but {len(y)} targets "
                         f"(x shape {x.shape}, y shape {y.shape})")
    return x, y


def _loader_state(loader: Any) -> Any:
    """The loader's own random state, if it has one (``state_dict()`` or a ``generator`` attribute)."""
    if loader is None:
        return None
    if callable(getattr(loader, "state_dict", None)):
        return loader.state_dict()
    gen = getattr(loader, "generator", None)
    if isinstance(gen, np.random.Generator):
        return {"generator": gen.bit_generator.state}
    return None


def _set_loader_state(loader: Any, state: Any) -> None:
    if loader is None or state is None:
        return
    if callable(getattr(loader, "load_state_dict", None)):
        loader.load_state_dict(state)
    elif isinstance(getattr(loader, "generator", None), np.random.Generator):
        loader.generator.bit_generator.state = state["generator"]


class Trainer:
    """Trains a model with an optimizer on a loss, tracking metrics.

    Args:
        model: the network; called as ``model(x)`` and returns (N, C) scores. A
            ``DistributedDataParallel`` model trains data-parallel (see the module notes).
        optimizer: a ``juanji.optim`` optimizer over the model's parameters.
        loss: ``"cross_entropy"`` (default), ``"nll_loss"``, ``"mse_loss"``, or a callable
            ``loss(output, target) -> scalar Tensor`` such as ``nn.CrossEntropyLoss()``.
        metrics: names (``"accuracy"``, ``"top5"``, ``"confusion_matrix"``) or Metric objects.
        scheduler: an LR schedule, stepped at the end of every epoch (after validation) or
            after every optimizer step (see ``scheduler_interval``); ``ReduceLROnPlateau`` is
            stepped with ``scheduler_monitor``, once per epoch.
        scheduler_interval: ``"epoch"`` (default) or ``"step"``: step the scheduler once per
            optimizer step, right after it (and after that batch's callbacks), and not at the
            end of the epoch; a schedule over ``epochs * len(train)`` steps (OneCycleLR) then
            spans the run. The history's ``lr`` column stays the lr at the start of each epoch.
        scheduler_monitor: the logged value ReduceLROnPlateau watches (default ``val_loss``
            when validating, else ``loss``).
        unit: what one sample is called in the speed figure of the progress output
            (``"img"``: ``img/s``; ``"sample"`` for text). The history's ``images_per_sec``
            column counts samples per second whatever the unit (one name for every run).

    Attributes:
        epoch: epochs completed so far (0 before training).
        history: a ``History`` with one row per epoch.
        stop_training: set by a callback to stop after the current epoch.

    Example:
        >>> trainer = Trainer(model, SGD(model.parameters(), lr=0.1), metrics=["accuracy"])
        >>> trainer.fit(train_loader, epochs=3, verbose=False)
    """

    def __init__(self, model: Module, optimizer: Any, loss: "str | Callable[..., Tensor]" = "cross_entropy",
                 metrics: Sequence["str | Metric"] = ("accuracy",), scheduler: Any = None,
                 scheduler_monitor: str | None = None, unit: str = "img",
                 scheduler_interval: str = "epoch") -> None:
        if not isinstance(model, Module):
            raise TypeError(f"Trainer: model must be a juanji.nn.Module, got {type(model).__name__}")
        if not hasattr(optimizer, "step") or not hasattr(optimizer, "zero_grad"):
            raise TypeError(f"Trainer: optimizer must be a juanji.optim optimizer, got {type(optimizer).__name__}")
        if isinstance(loss, str):
            if loss not in LOSSES:
                raise ValueError(f"Trainer: unknown loss {loss!r}; known: {', '.join(LOSSES)} or a callable")
            loss = LOSSES[loss]
        if not callable(loss):
            raise TypeError(f"Trainer: loss must be a name or a callable, got {type(loss).__name__}")
        if not isinstance(unit, str) or not unit:
            raise ValueError(f"Trainer: unit must be a non-empty string such as 'img', got {unit!r}")
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"Trainer: scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        if scheduler_interval == "step" and scheduler is not None:
            from ..optim.lr_scheduler import ReduceLROnPlateau

            if isinstance(scheduler, ReduceLROnPlateau):
                # Its step needs the monitored value, which exists once per epoch.
                raise ValueError("Trainer: scheduler_interval='step' cannot step a ReduceLROnPlateau, which "
                                 "needs the monitored value of a whole epoch; use scheduler_interval='epoch'")
        self.scheduler_interval = scheduler_interval
        self.unit = unit
        # Distributed: the wrapper runs the training forward (its hooks average the gradients);
        # everything else (saving, evaluating, callbacks) sees the plain model, so checkpoints
        # carry no ``module.`` prefix and load into a model trained on any number of processes.
        self.ddp = model if isinstance(model, DistributedDataParallel) and dist.world_size() > 1 else None
        self.model = model.module if isinstance(model, DistributedDataParallel) else model
        # The base of every rank's per-epoch dropout seed (rank 0's draw, the same everywhere).
        self._distributed_seed = None if self.ddp is None else \
            int(dist.broadcast_object(int(default_generator().integers(0, 2**63))))
        self.optimizer = optimizer
        self.loss_fn = loss
        self.metrics = get_metrics(list(metrics))
        self.scheduler = scheduler
        self._scheduler_monitor = _Monitor("Trainer scheduler", scheduler_monitor, "min")
        self.epoch = 0
        self.global_step = 0
        self.history = History()
        self.stop_training = False
        self._train_loader: Any = None
        self._callbacks: list[Callback] = []

    # --- fit ---------------------------------------------------------------------------------
    def fit(self, train: Iterable[Any], val: Iterable[Any] | None = None, epochs: int = 1,
            callbacks: Sequence[Callback] = (), resume: str | os.PathLike[str] | None = None,
            verbose: bool = True) -> History:
        """Train for epochs ``self.epoch + 1`` to ``epochs``, validating after each on ``val``.

        Args:
            train: the training batches (re-iterated every epoch).
            val: optional validation batches; their loss and metrics are logged as ``val_*``.
            epochs: the epoch to train up to, counted from the start of the run.
            callbacks: Callback objects (ModelCheckpoint, EarlyStopping, CSVLogger ...).
            resume: a checkpoint to continue from (model, optimizer, scheduler, history,
                random state and callbacks' state are restored first).
            verbose: a tqdm progress bar per epoch (loss, metrics, samples/s); False prints nothing.

        Returns:
            ``self.history``.

        Raises:
            DivergedError: (a FloatingPointError) the loss became NaN or infinite (names the
                epoch and step), or a parameter or buffer did by the end of an epoch (names
                the tensor); nothing non-finite is saved.
        """
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
            raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"fit: callbacks must be Callback objects, got {type(cb).__name__}")
        self._train_loader, self._callbacks = train, list(callbacks)
        self.stop_training = False
        verbose = verbose and dist.is_main()
        if resume is not None:
            self.load_checkpoint(resume, train_loader=train)
        for cb in self._running_callbacks():
            cb.on_train_begin(self)
        try:
            for epoch in range(self.epoch + 1, epochs + 1):
                self._run_epoch(train, val, epoch, epochs, verbose)
                if self.stop_training:
                    break
        finally:
            for cb in self._running_callbacks():
                cb.on_train_end(self)
        return self.history

    def _running_callbacks(self) -> list[Callback]:
        """The callbacks this process runs: all of them, but those that write files
        (``main_process_only``) only on rank 0 of a distributed run. All of them stay in
        ``self._callbacks``, so every rank's checkpoint state lists the same ones."""
        if self.ddp is None or dist.is_main():
            return self._callbacks
        return [cb for cb in self._callbacks if not getattr(cb, "main_process_only", False)]

    def _run_epoch(self, train: Iterable[Any], val: Iterable[Any] | None, epoch: int, epochs: int,
                   verbose: bool) -> None:
        start = time.perf_counter()
        lr = float(self.optimizer.param_groups[0]["lr"]) if hasattr(self.optimizer, "param_groups") else None
        if self.ddp is not None:
            # Dropout draws from juanji's global generator: a function of (seed, epoch, rank) so
            # ranks differ, and a resume with any number of ranks draws what a full run would.
            seq = np.random.SeedSequence(self._distributed_seed, spawn_key=(epoch, dist.rank()))
            manual_seed(int(seq.generate_state(1, np.uint64)[0] >> np.uint64(1)))
        for cb in self._running_callbacks():
            cb.on_epoch_begin(self, epoch)
        bar = _progress(train, f"epoch {epoch}/{epochs}", verbose)
        try:
            logs, seen = self._train_epoch(train, bar, epoch)
            # Once per epoch, before validation and before any callback saves a checkpoint:
            # a loss can stay finite while a running variance overflows (two reductions per
            # tensor, no temporaries, so it costs far less than one step).
            self.check_finite(f"fit: the weights diverged in epoch {epoch} (step {self.global_step})")
        except BaseException:
            if bar is not None:
                bar.close()
            raise
        train_time = time.perf_counter() - start
        if val is not None:
            for k, v in self.evaluate(val).items():
                if np.ndim(v) == 0:
                    logs["val_" + k] = float(v)
        logs.update(lr=lr, time=time.perf_counter() - start, images_per_sec=seen / max(train_time, 1e-12))
        self.epoch = epoch
        self.history.append({"epoch": epoch, **{k: v for k, v in logs.items() if isinstance(v, (int, float))}})
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            step_scheduler(self.scheduler, self._scheduler_monitor, logs)
        for cb in self._running_callbacks():
            cb.on_epoch_end(self, epoch, logs)
        for cb in self._running_callbacks():
            cb.on_epoch_saved(self, epoch, logs)
        _finish(bar, logs, verbose, epoch, epochs, self.unit)

    def _train_epoch(self, train: Iterable[Any], bar: Any, epoch: int) -> tuple[dict[str, Any], int]:
        """One pass of optimizer steps; returns the epoch's mean loss and metrics, and the image count."""
        self.model.train()
        for m in self.metrics:
            m.reset()
        total_loss, seen = 0.0, 0
        start = time.perf_counter()
        step = 0
        forward = self.model if self.ddp is None else self.ddp
        callbacks = self._running_callbacks()
        # Per-step schedules advance with the optimizer: one scheduler step per optimizer step
        # (there is one optimizer step per batch here; global_step counts them). Distributed,
        # every rank steps its own copy the same number of times, since each rank's loader
        # yields the same number of batches (DistributedSampler pads the shards to equal length).
        step_schedule = self.scheduler if self.scheduler_interval == "step" else None
        for step, batch in enumerate(train, start=1):
            x, y = _unpack(batch, step)
            out = forward(x)
            loss = self.loss_fn(out, y)
            value = float(loss.item())
            if not math.isfinite(value):
                raise DivergedError(f"fit: the loss is {value} at epoch {epoch}, step {step} (batch of {len(x)}): "
                                    "training diverged; lower the learning rate or check the data")
            self.optimizer.zero_grad()
            loss.backward()
            if self.ddp is not None:  # normally done inside backward; raises for unused parameters
                self.ddp.finish_gradient_synchronization()
            self.optimizer.step()
            self.global_step += 1
            # Right after the step, before the weights are used again (Kim's max-norm
            # constraint must hold for every forward pass, the next one included).
            for cb in callbacks:
                cb.on_step_end(self, step)
            total_loss += value * len(x)
            seen += len(x)
            for m in self.metrics:
                m.update(out.data, y.data)
            if bar is not None:
                bar.set_postfix(self._postfix(total_loss / seen, seen / max(time.perf_counter() - start, 1e-12)),
                                refresh=False)
                bar.update(1)
            for cb in callbacks:
                cb.on_batch_end(self, step, {"loss": value, "batch_size": len(x)})
            if step_schedule is not None:
                step_schedule.step()  # the lr of the next optimizer step
        total_loss, seen = self._summed(total_loss, seen)
        if seen == 0:
            raise ValueError(f"fit: the training data yielded no batches in epoch {epoch}")
        logs: dict[str, Any] = {"loss": total_loss / seen}
        logs.update(self._metric_values())
        return logs, seen

    def _postfix(self, loss: float, speed: float) -> dict[str, str]:
        post = {"loss": f"{loss:.4f}"}
        for m in self.metrics:
            if m.scalar:
                post[_short(m.name)] = f"{m.compute():.4f}"
        post[f"{self.unit}/s"] = f"{speed:.0f}"
        return post

    def _summed(self, total_loss: float, seen: int) -> tuple[float, int]:
        """The loss sum and sample count over every rank, and every metric's state likewise
        (nothing to do in a single process)."""
        if self.ddp is None:
            return total_loss, seen
        for m in self.metrics:
            m.all_reduce_()
        summed = dist.all_reduce(np.array([total_loss, seen], dtype=np.float64))
        return float(summed[0]), int(summed[1])

    def _metric_values(self) -> dict[str, Any]:
        return {m.name: (float(m.compute()) if m.scalar else m.compute()) for m in self.metrics}

    # --- evaluate / predict ------------------------------------------------------------------
    def evaluate(self, data: Iterable[Any], verbose: bool = False) -> dict[str, Any]:
        """Mean loss and metrics over ``data`` in eval mode, without gradients.

        Distributed, every rank must call it with its own part of the data: the sums are
        taken over all ranks (a collective), and every rank gets the same result.

        Returns:
            ``{"loss": ..., "accuracy": ..., ...}`` (a confusion matrix as an array).
            The model's train/eval mode is restored afterwards.
        """
        was_training = self.model.training
        self.model.eval()
        for m in self.metrics:
            m.reset()
        total_loss, seen = 0.0, 0
        bar = _progress(data, "evaluate", verbose and dist.is_main())
        try:
            with no_grad():
                for step, batch in enumerate(data, start=1):
                    x, y = _unpack(batch, step)
                    out = self.model(x)
                    total_loss += float(self.loss_fn(out, y).item()) * len(x)
                    seen += len(x)
                    for m in self.metrics:
                        m.update(out.data, y.data)
                    if bar is not None:
                        bar.update(1)
        finally:
            self.model.train(was_training)
            if bar is not None:
                bar.close()
        total_loss, seen = self._summed(total_loss, seen)  # every rank evaluates its own shard
        if seen == 0:
            raise ValueError("evaluate: the data yielded no batches")
        return {"loss": total_loss / seen, **self._metric_values()}

    def predict(self, data: Any, probabilities: bool = False, batch_size: int = 256) -> np.ndarray:
        """The model's outputs for every sample, batched, in eval mode and without gradients.

        Args:
            data: an array or Tensor (N, C, H, W), or an iterable of batches (``x`` or ``(x, y)``).
            probabilities: return softmax probabilities instead of raw scores (logits).
            batch_size: batch size when ``data`` is an array.

        Returns:
            (N, num_classes) array.
        """
        if isinstance(data, (np.ndarray, Tensor)):
            arr = data.data if isinstance(data, Tensor) else data
            if arr.ndim < 2:
                raise ValueError(f"predict: an array input must be batched (N, ...), got shape {arr.shape}")
            batches: Iterable[Any] = (arr[i:i + batch_size] for i in range(0, len(arr), batch_size))
        else:
            batches = data
        was_training = self.model.training
        self.model.eval()
        outs = []
        try:
            with no_grad():
                for batch in batches:
                    x = batch[0] if isinstance(batch, (tuple, list)) else batch
                    outs.append(np.asarray(self.model(_to_tensor(x, "x")).data))
        finally:
            self.model.train(was_training)
        if not outs:
            raise ValueError("predict: the data yielded no batches")
        scores = np.concatenate(outs, axis=0)  # (N, num_classes)
        if probabilities:
            shifted = scores - scores.max(axis=1, keepdims=True)  # softmax without overflow
            e = np.exp(shifted)
            scores = e / e.sum(axis=1, keepdims=True)
        return scores

    # --- checkpoints -------------------------------------------------------------------------
    def check_finite(self, context: str | None = None) -> None:
        """Raise ``DivergedError`` naming the first parameter or buffer that holds NaN or inf.

        Call it before saving weights; ``fit`` calls it after every epoch and
        ``save_checkpoint`` before writing. ``context`` starts the message.
        """
        named = [*self.model.named_parameters(), *self.model.named_buffers()]
        for name, t in named:
            a = t.data
            if a.size == 0 or a.dtype.kind not in "fc":
                continue
            # min and max propagate NaN and reach +-inf: both finite <=> every element finite.
            lo, hi = a.min(), a.max()
            if np.isfinite(lo) and np.isfinite(hi):
                continue
            bad = "nan" if np.isnan(lo) or np.isnan(hi) else "inf"
            where = context or f"the weights diverged after epoch {self.epoch}"
            raise DivergedError(f"{where}: {name} holds {bad}; lower the learning rate (the last "
                                f"checkpoint saved before this is kept)")

    def save_checkpoint(self, path: str | os.PathLike[str], train_loader: Any = None) -> Path:
        """Write everything needed to resume after ``self.epoch`` to one file (see checkpoint.py).

        Raises ``DivergedError`` (and writes nothing) if a parameter or buffer is not finite,
        so a diverged run never replaces a good checkpoint.
        """
        self.check_finite(f"save_checkpoint: not writing '{path}': the weights diverged by epoch {self.epoch}")
        loader = train_loader if train_loader is not None else self._train_loader
        state: dict[str, Any] = {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "optimizer": self.optimizer.state_dict(),
            **({"distributed_seed": self._distributed_seed} if self.ddp is not None else {}),
            "history": self.history.records,
            "rng": get_rng_state(),
            "callbacks": [[type(cb).__name__, cb.state_dict()] for cb in self._callbacks],
        }
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        loader_state = _loader_state(loader)
        if loader_state is not None:
            state["loader"] = loader_state
        return save_checkpoint(path, self.model.state_dict(), **state)

    def load_checkpoint(self, path: str | os.PathLike[str], train_loader: Any = None) -> int:
        """Restore a ``save_checkpoint`` file into this trainer; returns the epoch it was saved after.

        All or nothing: the model, optimizer, scheduler, counters, history, random generators,
        loader and callbacks either all take the checkpoint's state, or (when any part of it
        does not fit) all keep their own and a ValueError names the file. Callbacks currently
        attached (during ``fit``) get their saved state back, matched by position and class name.
        """
        ckpt = self._read_checkpoint(path)  # a malformed file is refused here, naming it
        loader = train_loader if train_loader is not None else self._train_loader
        # Each part checks what it is given, but only its own part: a checkpoint whose model
        # fits and whose optimizer state does not would otherwise leave a half-restored run.
        # So the trainer's own state is kept first and put back if any part refuses.
        before = self._restorable_state(loader)
        try:
            self._restore(ckpt, path, loader)
        except Exception as e:
            self._restore(before, path, loader)
            if isinstance(e, ValueError) and str(path) in str(e):
                raise
            raise ValueError(f"load_checkpoint: '{path}' does not fit this trainer, nothing was changed: "
                             f"{type(e).__name__}: {e}") from e
        return self.epoch

    def _read_checkpoint(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """``load_checkpoint(path)``; distributed, rank 0 reads it (the run folder may exist on
        its host only) and broadcasts it, or its refusal, to every rank."""
        if self.ddp is None:
            return load_checkpoint(path)
        ckpt, error = None, None
        if dist.is_main():
            try:
                ckpt = load_checkpoint(path)
            except Exception as e:  # noqa: BLE001 - raised on every rank below
                error = e
        ckpt, error = dist.broadcast_object((ckpt, error))
        if error is not None:
            raise error
        return ckpt

    def _restorable_state(self, loader: Any) -> dict[str, Any]:
        """A deep copy of everything ``_restore`` sets, in the checkpoint's own form."""
        state: dict[str, Any] = {
            "model": {k: np.array(v, copy=True) for k, v in self.model.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "epoch": self.epoch, "global_step": self.global_step, "history": list(self.history),
            "rng": get_rng_state(),
            "callbacks": [[type(cb).__name__, copy.deepcopy(cb.state_dict())] for cb in self._callbacks],
            "distributed_seed": self._distributed_seed,
        }
        if self.scheduler is not None:
            state["scheduler"] = copy.deepcopy(self.scheduler.state_dict())
        if loader is not None and callable(getattr(loader, "state_dict", None)):
            state["loader"] = copy.deepcopy(loader.state_dict())
        elif isinstance(getattr(loader, "generator", None), np.random.Generator):
            state["loader"] = {"generator": copy.deepcopy(loader.generator.bit_generator.state)}
        return state

    def _restore(self, ckpt: dict[str, Any], path: str | os.PathLike[str], loader: Any) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None:
            if "scheduler" not in ckpt:
                raise ValueError(f"load_checkpoint: '{path}' has no scheduler state but this trainer has a "
                                 f"{type(self.scheduler).__name__}")
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.epoch = int(ckpt["epoch"])
        self.global_step = int(ckpt.get("global_step", 0))
        if self.ddp is not None and ckpt.get("distributed_seed") is not None:
            self._distributed_seed = int(ckpt["distributed_seed"])
        self.history = History(ckpt.get("history", []))
        set_rng_state(ckpt["rng"])
        _set_loader_state(loader, ckpt.get("loader"))
        for cb, entry in zip(self._callbacks, ckpt.get("callbacks", [])):
            if entry[0] == type(cb).__name__:
                cb.load_state_dict(entry[1])


def _short(name: str) -> str:
    return name.replace("accuracy", "acc")


def _progress(data: Iterable[Any], desc: str, verbose: bool) -> Any:
    """A tqdm bar sized to ``data`` when verbose and the bar's stream is a terminal, else None.

    Without a terminal (a log file, CI, a pipe) a bar's carriage-return redraws pile up as
    hundreds of lines, so ``fit`` prints one line per epoch there instead (``_finish``).
    The bar is advanced by hand rather than wrapping the iterable, because tqdm closes a
    wrapped bar as soon as the data runs out, before validation results can be shown on it.
    """
    if not verbose or not _is_terminal(sys.stderr):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the [train] extra
        return None
    total = len(data) if hasattr(data, "__len__") else None  # type: ignore[arg-type]
    return tqdm(desc=desc, total=total, unit="batch", leave=True, dynamic_ncols=True, file=sys.stderr)


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def _finish(bar: Any, logs: dict[str, Any], verbose: bool, epoch: int, epochs: int, unit: str = "img") -> None:
    """Put the whole epoch's numbers (validation included) on the bar and close it; without a
    bar, print them as one line: ``epoch 3/40: train loss 0.1234 accuracy 0.9581, val loss ...``."""
    if not verbose:
        return
    if bar is not None:
        shown = {_short(k): f"{v:.4f}" for k, v in logs.items()
                 if isinstance(v, float) and k not in ("lr", "time", "images_per_sec")}
        shown[f"{unit}/s"] = f"{logs['images_per_sec']:.0f}"
        bar.set_postfix(shown, refresh=True)
        bar.close()
        return
    scalars = {k: v for k, v in logs.items()
               if isinstance(v, float) and k not in ("lr", "time", "images_per_sec")}
    train = " ".join(f"{k} {v:.4f}" for k, v in scalars.items() if not k.startswith("val_"))
    val = " ".join(f"{k[4:]} {v:.4f}" for k, v in scalars.items() if k.startswith("val_"))
    line = f"epoch {epoch}/{epochs}: train {train}" + (f", val {val}" if val else "")
    line += f", {logs['time']:.2f} s ({logs['images_per_sec']:.0f} {unit}/s)"
    print(line, file=sys.stderr, flush=True)
