"""Callbacks: code that ``Trainer.fit`` runs at the start and end of training, epochs and steps.

- ``ModelCheckpoint``: full checkpoints (``last`` every epoch, ``best`` by a monitored value).
- ``EarlyStopping``: stop when a monitored value has not improved for ``patience`` epochs.
- ``LRSchedulerCallback``: step an LR schedule each epoch (``ReduceLROnPlateau`` gets the
  monitored value).
- ``CSVLogger``: append each epoch's row to a CSV file as it finishes.
- ``AfterStep``: call a function on the model right after every optimizer step;
  ``MaxNormCallback`` is the one Kim's TextCNN needs (``model.max_norm_constraint()``).

Each hook gets the trainer; ``logs`` is the epoch's row (``loss``, ``accuracy``,
``val_loss`` ...). A callback that has state worth resuming (a best value, a patience
counter) returns it from ``state_dict`` and it travels in the checkpoints.

    >>> trainer.fit(train, val, epochs=30, callbacks=[EarlyStopping(patience=3), ModelCheckpoint("runs/x")])
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .trainer import Trainer

__all__ = ["Callback", "ModelCheckpoint", "EarlyStopping", "LRSchedulerCallback", "CSVLogger", "AfterStep",
           "MaxNormCallback"]


class Callback:
    """Base class: override any of the hooks; each does nothing by default.

    ``main_process_only``: in a distributed run, only rank 0 calls this callback's hooks (the
    callbacks that write files set it); the others keep it, unused, so that every rank lists
    the same callbacks.
    """

    main_process_only = False

    def on_train_begin(self, trainer: "Trainer") -> None:
        """Before the first epoch of ``fit`` (after a resumed checkpoint is loaded)."""

    def on_epoch_begin(self, trainer: "Trainer", epoch: int) -> None:
        """Before epoch ``epoch`` (1-based)."""

    def on_step_end(self, trainer: "Trainer", step: int) -> None:
        """Right after ``optimizer.step()`` of step ``step`` (1-based within the epoch), before the
        step's bookkeeping and before the weights are used again: for constraints on the weights."""

    def on_batch_end(self, trainer: "Trainer", step: int, logs: dict[str, float]) -> None:
        """After optimizer step ``step`` (1-based within the epoch); logs hold ``loss`` and ``batch_size``."""

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        """After epoch ``epoch``, validation and the trainer's own scheduler step; set
        ``trainer.stop_training = True`` to stop after it."""

    def on_epoch_saved(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        """After every callback's ``on_epoch_end``: the epoch's state is final (ModelCheckpoint writes here)."""

    def on_train_end(self, trainer: "Trainer") -> None:
        """After the last epoch (also after an early stop)."""

    def state_dict(self) -> dict[str, Any]:
        """State to keep in checkpoints (plain numbers, strings, lists, dicts)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``."""


class _Monitor:
    """Tracks the best value of one logged quantity, with a direction and a minimum change."""

    def __init__(self, owner: str, monitor: str | None, mode: str, min_delta: float = 0.0) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if not isinstance(min_delta, (int, float)) or min_delta < 0:
            raise ValueError(f"{owner}: min_delta must be a number >= 0, got {min_delta!r}")
        self.owner, self.monitor, self.mode, self.min_delta = owner, monitor, mode, float(min_delta)
        self.best: float | None = None

    def resolve(self, logs: dict[str, Any]) -> str:
        """The monitored key: as given, or ``val_loss`` when validating, else ``loss``."""
        if self.monitor is None:
            self.monitor = "val_loss" if "val_loss" in logs else "loss"
        if self.mode == "auto":
            self.mode = "max" if ("acc" in self.monitor or self.monitor.endswith("score")) else "min"
        return self.monitor

    def value(self, logs: dict[str, Any]) -> float:
        key = self.resolve(logs)
        if key not in logs or logs[key] is None:
            known = ", ".join(k for k, v in logs.items() if isinstance(v, (int, float)))
            raise ValueError(f"{self.owner}: monitored quantity {key!r} is not in the epoch's logs; "
                             f"available: {known}")
        return float(logs[key])

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best by more than ``min_delta`` (the first value always does)."""
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "mode": self.mode, "best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.monitor, self.mode, self.best = state["monitor"], state["mode"], state["best"]


class ModelCheckpoint(Callback):
    """Write full training checkpoints: ``last`` after every epoch, ``best`` when the monitored value improves.

    Each file is a checkpoint that ``fit(..., resume=path)`` continues from and that
    ``load_weights`` (and ``juanji evaluate --weights``) reads the model from.

    Args:
        directory: where the files go (created if missing).
        monitor: the logged quantity that decides "best" (default ``val_loss`` when
            validating, else ``loss``).
        mode: "min", "max" or "auto" (max for names containing "acc", else min).
        save_best: write ``best<suffix>``.
        save_last: write ``last<suffix>``.
        suffix: ``.safetensors`` or ``.npz``.

    Example:
        >>> ModelCheckpoint("runs/exp1", monitor="val_accuracy")
    """

    main_process_only = True  # one writer of the run's files in a distributed run

    def __init__(self, directory: str | os.PathLike[str], monitor: str | None = None, mode: str = "auto",
                 save_best: bool = True, save_last: bool = True, suffix: str = ".safetensors") -> None:
        if suffix not in (".safetensors", ".npz"):
            raise ValueError(f"ModelCheckpoint: suffix must be '.safetensors' or '.npz', got {suffix!r}")
        if not (save_best or save_last):
            raise ValueError("ModelCheckpoint: save_best and save_last are both False: nothing to save")
        self.directory = Path(directory)
        self.save_best, self.save_last = save_best, save_last
        self.best_path = self.directory / f"best{suffix}"
        self.last_path = self.directory / f"last{suffix}"
        self._monitor = _Monitor("ModelCheckpoint", monitor, mode)
        self.best_epoch: int | None = None
        self._is_best = False

    @property
    def best(self) -> float | None:
        """The best monitored value so far."""
        return self._monitor.best

    def on_train_begin(self, trainer: "Trainer") -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        self._is_best = False
        if self.save_best:
            value = self._monitor.value(logs)
            if self._monitor.improved(value):
                self._monitor.best = value
                self.best_epoch = epoch
                self._is_best = True

    def on_epoch_saved(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        # Written here, not in on_epoch_end, so that callbacks listed after this one (an
        # EarlyStopping's patience counter ...) have updated the state the file records.
        if self._is_best:
            trainer.save_checkpoint(self.best_path)
        if self.save_last:
            trainer.save_checkpoint(self.last_path)

    def state_dict(self) -> dict[str, Any]:
        return {**self._monitor.state_dict(), "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._monitor.load_state_dict(state)
        self.best_epoch = state.get("best_epoch")


class EarlyStopping(Callback):
    """Stop training when the monitored value has not improved by ``min_delta`` for ``patience`` epochs.

    Args:
        monitor: the logged quantity (default ``val_loss`` when validating, else ``loss``).
        patience: epochs without improvement to tolerate before stopping (0: stop at the first).
        min_delta: the smallest change that counts as an improvement.
        mode: "min", "max" or "auto" (max for names containing "acc").
        restore_best_weights: at the stop, load the weights of the best epoch back into the model.

    Example:
        >>> EarlyStopping(monitor="val_accuracy", patience=3, min_delta=1e-3)
    """

    def __init__(self, monitor: str | None = None, patience: int = 0, min_delta: float = 0.0, mode: str = "auto",
                 restore_best_weights: bool = False) -> None:
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        self.patience = patience
        self.restore_best_weights = restore_best_weights
        self._monitor = _Monitor("EarlyStopping", monitor, mode, min_delta)
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_epoch: int | None = None
        self._best_weights: dict[str, Any] | None = None

    @property
    def best(self) -> float | None:
        """The best monitored value so far."""
        return self._monitor.best

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        value = self._monitor.value(logs)
        if self._monitor.improved(value):
            self._monitor.best = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self._best_weights = trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True
            if self.restore_best_weights and self._best_weights is not None:
                trainer.model.load_state_dict(self._best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {**self._monitor.state_dict(), "wait": self.wait, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._monitor.load_state_dict(state)
        self.wait, self.best_epoch = state["wait"], state.get("best_epoch")


class LRSchedulerCallback(Callback):
    """Step an LR scheduler at the end of every epoch.

    ``Trainer(scheduler=...)`` already does this; use the callback for a second schedule or
    to choose the monitored value. ``ReduceLROnPlateau`` is stepped with the monitored value.

    Args:
        scheduler: a ``juanji.optim.lr_scheduler`` schedule.
        monitor: for ReduceLROnPlateau, the logged quantity (default ``val_loss`` when
            validating, else ``loss``).

    Example:
        >>> LRSchedulerCallback(ReduceLROnPlateau(opt, patience=2), monitor="val_loss")
    """

    def __init__(self, scheduler: Any, monitor: str | None = None) -> None:
        if not hasattr(scheduler, "step"):
            raise TypeError(f"LRSchedulerCallback: {type(scheduler).__name__} has no step() method")
        self.scheduler = scheduler
        self._monitor = _Monitor("LRSchedulerCallback", monitor, "min")

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        step_scheduler(self.scheduler, self._monitor, logs)

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler.state_dict()} if hasattr(self.scheduler, "state_dict") else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])


def step_scheduler(scheduler: Any, monitor: _Monitor, logs: dict[str, Any]) -> None:
    """``scheduler.step(value)`` for ReduceLROnPlateau (which needs the metric), else ``step()``."""
    from ..optim.lr_scheduler import ReduceLROnPlateau

    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(monitor.value(logs))
    else:
        scheduler.step()


class CSVLogger(Callback):
    """Append each epoch's row to a CSV file as soon as the epoch ends (flushed each time).

    The header comes from the first row written. With ``append=True`` (and when resuming),
    rows go after those already in the file.

    Args:
        path: the CSV file (its directory is created if missing).
        append: keep the existing rows instead of starting a new file.

    Example:
        >>> CSVLogger("runs/x/log.csv")
    """

    main_process_only = True  # one writer of the run's files in a distributed run

    def __init__(self, path: str | os.PathLike[str], append: bool = False) -> None:
        self.path = Path(path)
        self.append = append
        self._fields: list[str] | None = None

    def on_train_begin(self, trainer: "Trainer") -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        resumed = trainer.epoch > 0
        if (self.append or resumed) and self.path.is_file() and self.path.stat().st_size > 0:
            with open(self.path, newline="", encoding="utf-8") as f:
                self._fields = next(csv.reader(f), None)
        else:
            self._fields = None
            self.path.write_text("", encoding="utf-8")

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        row = {k: v for k, v in logs.items() if v is None or isinstance(v, (int, float))}
        row["epoch"] = epoch
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            if self._fields is None:
                self._fields = ["epoch", *[k for k in row if k != "epoch"]]
                csv.writer(f, lineterminator="\n").writerow(self._fields)
            writer = csv.DictWriter(f, fieldnames=self._fields, extrasaction="ignore", lineterminator="\n")
            writer.writerow({k: ("" if v is None else repr(v)) for k, v in row.items()})
            f.flush()


class AfterStep(Callback):
    """Call ``fn(model)`` right after every optimizer step (``on_step_end``).

    For constraints that must hold after each update (a max-norm, a projection, clipping of
    weights). ``fn`` may change the parameters' values in place; it should not replace them.

    Example:
        >>> AfterStep(lambda model: model.fc.weight.data.clip(-1, 1, out=model.fc.weight.data))
    """

    def __init__(self, fn: Any) -> None:
        if not callable(fn):
            raise TypeError(f"AfterStep: fn must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.calls = 0

    def on_step_end(self, trainer: "Trainer", step: int) -> None:
        self.fn(trainer.model)
        self.calls += 1


class MaxNormCallback(AfterStep):
    """Kim (2014)'s max-norm constraint after every step: ``model.max_norm_constraint()(model)``.

    Rescales the rows of the model's final layer whose L2 norm exceeds s (TextCNN: s = 3 on
    ``fc.weight``) right after each optimizer step, so the constraint holds for every forward
    pass. The constraint is read from the model when training begins.

    Args:
        constraint: a ``juanji.nn.utils.MaxNorm`` (or any ``fn(model)``); None takes
            ``trainer.model.max_norm_constraint()`` at the start of ``fit``.

    Example:
        >>> trainer.fit(train, val, epochs=10, callbacks=[MaxNormCallback()])
    """

    def __init__(self, constraint: Any = None) -> None:
        super().__init__(constraint if constraint is not None else (lambda model: None))
        self._given = constraint is not None

    def on_train_begin(self, trainer: "Trainer") -> None:
        if self._given:
            return
        get = getattr(trainer.model, "max_norm_constraint", None)
        if not callable(get):
            raise TypeError(f"MaxNormCallback: {type(trainer.model).__name__} has no max_norm_constraint(); "
                            "pass the constraint")
        constraint = get()
        self.fn = constraint if constraint is not None else (lambda model: None)
