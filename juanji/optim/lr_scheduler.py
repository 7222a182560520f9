"""Learning-rate schedules: StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LambdaLR, LinearLR,
SequentialLR, OneCycleLR, ReduceLROnPlateau.

A scheduler rewrites ``group["lr"]`` of its optimizer's parameter groups. Call
``optimizer.step()`` during the epoch and ``scheduler.step()`` at its end (OneCycleLR:
after every batch). The schedules follow torch.optim.lr_scheduler line by line, including
the *recursive* (chainable) forms, in which each epoch's lr is computed from the previous
one, so the values are the same floats as PyTorch's.

``last_epoch`` counts the scheduler's steps; constructing a scheduler performs step 0
and records ``initial_lr`` in every group (``base_lrs`` is read from it).

``state_dict()`` holds plain numbers, strings, lists and dicts (never a function): a
LambdaLR's functions are not saved (give them to the constructor again), as in PyTorch.
"""

from __future__ import annotations

import math
import numbers
import types
import warnings
from bisect import bisect_right
from collections import Counter
from typing import Any, Callable, Iterable, Sequence

from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR", "LinearLR",
           "SequentialLR", "OneCycleLR", "ReduceLROnPlateau"]


def _check_optimizer(name: str, optimizer: Any) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{name}: {type(optimizer).__name__} is not a juanji.optim.Optimizer")
    return optimizer


def _check_positive_int(name: str, arg: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}: {arg} must be a positive int, got {value!r}")
    return value


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_positive_number(name: str, arg: str, value: Any) -> float:
    if not (_is_real(value) and 0 < value < math.inf):
        raise ValueError(f"{name}: {arg} must be a positive number, got {value!r}")
    return value


def _per_group(name: str, arg: str, value: Any, optimizer: Optimizer) -> list[Any]:
    """``value`` for every param group: a list or tuple must give one per group, anything else is repeated."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name}: expected {n} {arg}s (one per param group), got {len(value)}")
        return list(value)
    return [value] * n


class LRScheduler:
    """Base class: ``step()`` advances ``last_epoch`` and writes ``get_lr()`` into the groups.

    Args:
        optimizer: the optimizer whose learning rates are scheduled.
        last_epoch: index of the last epoch; -1 (default) starts a new schedule. A
            resumed schedule (last_epoch >= 0) needs ``initial_lr`` in every group.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        self.optimizer = _check_optimizer(name, optimizer)
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{name}: param 'initial_lr' is not specified in param_groups[{i}] "
                                   f"when resuming with last_epoch={last_epoch}")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """Step 0: reset the step count and step once in initial mode (SequentialLR calls it on a child)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rates of epoch ``last_epoch`` (subclasses implement this)."""
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr()")

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set, one per group."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (``epoch`` given: jump there with the closed form, deprecated as in PyTorch)."""
        if epoch is not None:
            warnings.warn("passing epoch to scheduler.step() is deprecated; call step() once per epoch",
                          UserWarning, stacklevel=2)
        self._step_count += 1
        try:
            self._update_lr(epoch)
        except BaseException:
            self._step_count -= 1
            raise

    def _update_lr(self, epoch: int | None = None) -> None:
        """Move to the next epoch (or to ``epoch``, by the closed form) and write its lrs.

        A ``get_lr`` that refuses (OneCycleLR past its last step) leaves ``last_epoch`` as it
        was, so the scheduler's state (and a checkpoint of it) stays a valid one.
        """
        before = self.last_epoch
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed = getattr(self, "_get_closed_form_lr", None)
                values = closed() if closed is not None else self.get_lr()
        except BaseException:
            self.last_epoch = before
            raise
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer (plain numbers and lists), copied."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()``."""
        self.__dict__.update({k: (list(v) if isinstance(v, list) else v) for k, v in state_dict.items()})

    def _lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs: lr_e = lr_0 * gamma^floor(e / step_size).

    Example:
        >>> sched = StepLR(opt, step_size=30, gamma=0.1)   # 0.1, 0.01 from epoch 30, ...
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size = _check_positive_int("StepLR", "step_size", step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone epoch (a repeated milestone counts twice).

    Example:
        >>> sched = MultiStepLR(opt, milestones=[30, 80], gamma=0.1)
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        milestones = list(milestones)
        for m in milestones:
            if not isinstance(m, int) or isinstance(m, bool):
                raise ValueError(f"MultiStepLR: milestones must be ints, got {milestones!r}")
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        milestones = sorted(self.milestones.elements())
        return [base * self.gamma ** bisect_right(milestones, self.last_epoch) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch: lr_e = lr_0 * gamma^e.

    Example:
        >>> sched = ExponentialLR(opt, gamma=0.95)
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the initial lr to ``eta_min`` over ``T_max`` epochs (SGDR without restarts).

    Closed form: lr_e = eta_min + (lr_0 - eta_min) (1 + cos(pi e / T_max)) / 2. Like PyTorch
    this computes it recursively from the previous lr,

        lr_e = eta_min + (lr_{e-1} - eta_min) (1 + cos(pi e / T_max)) / (1 + cos(pi (e - 1) / T_max)),

    so an lr changed by hand mid-schedule is followed; past T_max the lr rises again (period 2 T_max).

    Example:
        >>> sched = CosineAnnealingLR(opt, T_max=50, eta_min=1e-5)
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = _check_positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        e, T, eta = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._lrs()
        if self._step_count == 1 and e > 0:
            return [eta + (base - eta) * (1 + math.cos(e * math.pi / T)) / 2 for base in self.base_lrs]
        if (e - 1 - T) % (2 * T) == 0:
            # At the trough the ratio below would be 0/0: step up by the first increment instead.
            return [lr + (base - eta) * (1 - math.cos(math.pi / T)) / 2
                    for base, lr in zip(self.base_lrs, self._lrs())]
        return [(1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (lr - eta) + eta
                for lr in self._lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """The initial lr times a function of the epoch: lr_e = lr_0 * lr_lambda(e).

    Args:
        optimizer: the optimizer.
        lr_lambda: a function of the epoch (an int) giving the factor, or a list of such
            functions, one per param group.
        last_epoch: as for every schedule.

    Not chainable: each lr is recomputed from ``base_lrs``, so an lr changed by hand is
    overwritten at the next step. ``state_dict()`` does not hold the functions (code cannot
    be saved without pickle): a plain function or lambda is saved as None, a callable object
    as a copy of its attributes (``__dict__``), which ``load_state_dict`` writes back into the
    callables given to the constructor, as PyTorch does.

    Example:
        >>> warmup = LambdaLR(opt, lr_lambda=lambda e: min(1.0, (e + 1) / 5))
        >>> sched = LambdaLR(opt, lr_lambda=[lambda e: 0.95 ** e, lambda e: 1.0])   # two groups
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        optimizer = _check_optimizer("LambdaLR", optimizer)
        lambdas = _per_group("LambdaLR", "lr_lambda", lr_lambda, optimizer)
        for fn in lambdas:
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda must be a function of the epoch or a list of them "
                                f"(one per param group), got {fn!r}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        """The counters, and per function None (a function) or a copy of its attributes (a callable object)."""
        state = {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()
                 if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) or not hasattr(fn, "__dict__")
                               else dict(fn.__dict__) for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()``; the callables' saved attributes go back into this scheduler's callables."""
        saved = state_dict.get("lr_lambdas", [None] * len(self.lr_lambdas))
        if not isinstance(saved, list) or len(saved) != len(self.lr_lambdas):
            raise ValueError(f"LambdaLR.load_state_dict: the state holds {saved!r:.80} as lr_lambdas, but this "
                             f"scheduler has {len(self.lr_lambdas)} functions (one per param group)")
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "lr_lambdas"})
        for fn, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                fn.__dict__.update(attrs)


class LinearLR(LRScheduler):
    """Multiply the initial lr by a factor moving linearly from ``start_factor`` to ``end_factor``
    over ``total_iters`` epochs, then keep it (the usual warm-up).

    Closed form, with s = start_factor, t = end_factor, T = total_iters:

        lr_e = lr_0 (s + (t - s) min(e, T) / T).

    Like PyTorch this is computed recursively: the factor of epoch e over that of epoch e - 1 is
    (T s + e (t - s)) / (T s + (e - 1)(t - s)), so for 1 <= e <= T

        lr_e = lr_{e-1} (1 + (t - s) / (T s + (e - 1)(t - s))),

    epoch 0 multiplies the current lr by s and after epoch T the lr is left as it is (an lr
    changed by hand mid-schedule is followed). The denominator is s (T - e + 1) + t (e - 1) > 0
    since s > 0.

    Args:
        optimizer: the optimizer.
        start_factor: the factor at epoch 0, in (0, 1].
        end_factor: the factor from epoch ``total_iters`` on, in [0, 1].
        total_iters: the number of epochs the factor takes to reach ``end_factor`` (a positive int).
        last_epoch: as for every schedule.

    Example:
        >>> warmup = LinearLR(opt, start_factor=0.1, total_iters=5)   # 0.1 lr_0 at epoch 0, lr_0 from epoch 5
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        if not (_is_real(start_factor) and 0 < start_factor <= 1):
            raise ValueError(f"LinearLR: start_factor must be a number in (0, 1], got {start_factor!r}")
        if not (_is_real(end_factor) and 0 <= end_factor <= 1):
            raise ValueError(f"LinearLR: end_factor must be a number in [0, 1], got {end_factor!r}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = _check_positive_int("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        s, t, T, e = self.start_factor, self.end_factor, self.total_iters, self.last_epoch
        if e == 0:
            return [lr * s for lr in self._lrs()]
        if self._is_initial or e > T:
            return self._lrs()
        return [lr * (1.0 + (t - s) / (T * s + (e - 1) * (t - s))) for lr in self._lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        s, t, T = self.start_factor, self.end_factor, self.total_iters
        return [base * (s + (t - s) * min(T, self.last_epoch) / T) for base in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run schedules one after another, switching at milestone epochs (a warm-up, then a decay).

    ``schedulers[i]`` runs from ``milestones[i - 1]`` (epoch 0 for the first) until
    ``milestones[i]``. At its milestone a schedule restarts at its own epoch 0, by its closed
    form where it has one (CosineAnnealingLR and ExponentialLR start again from the initial
    lr, LinearLR from start_factor times it), and from there steps as it would alone.

    The children are built first, each performing its step 0 on the groups; construction
    takes those steps back (each child's ``last_epoch`` goes down by one), resets every lr to
    its ``initial_lr`` and performs step 0 of the first schedule only, as PyTorch does.
    ``state_dict()`` holds its own counters and, under ``_schedulers``, the children's
    state_dicts in order.

    Args:
        optimizer: the optimizer every schedule belongs to.
        schedulers: the schedules, in order (not ReduceLROnPlateau, whose step needs a metric).
        milestones: the epochs at which the next schedule takes over: one fewer than the
            schedules, positive and increasing.
        last_epoch: as for every schedule.

    Example:
        >>> warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
        >>> decay = CosineAnnealingLR(opt, T_max=95)
        >>> sched = SequentialLR(opt, schedulers=[warmup, decay], milestones=[5])
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
                 last_epoch: int = -1) -> None:
        name = "SequentialLR"
        optimizer = _check_optimizer(name, optimizer)
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError(f"{name}: expected at least one scheduler, got none")
        for i, sched in enumerate(schedulers):
            if not isinstance(sched, LRScheduler):
                raise TypeError(f"{name}: schedulers[{i}] is a {type(sched).__name__}, not a juanji LRScheduler")
            if isinstance(sched, ReduceLROnPlateau):
                raise ValueError(f"{name}: schedulers[{i}] is a ReduceLROnPlateau, whose step needs a metric; "
                                 "it cannot be sequenced")
            if sched.optimizer is not optimizer:
                raise ValueError(f"{name}: schedulers[{i}] ({type(sched).__name__}) schedules another optimizer; "
                                 "every schedule must belong to the optimizer given")
        milestones = list(milestones)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"{name}: milestones must number one fewer than the schedulers ({len(schedulers)} "
                             f"schedulers, so {len(schedulers) - 1}), got {len(milestones)}: {milestones!r}")
        for m in milestones:
            if not isinstance(m, int) or isinstance(m, bool) or m < 1:
                raise ValueError(f"{name}: milestones must be positive ints, got {milestones!r}")
        if any(b <= a for a, b in zip(milestones, milestones[1:])):
            # bisect below needs them sorted, and a repeated milestone would skip a schedule
            raise ValueError(f"{name}: milestones must be increasing, got {milestones!r}")
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self.recursive_undo()
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = list(self._schedulers[idx].get_last_lr())

    def recursive_undo(self, sched: Any = None) -> None:
        """Take back the step 0 each child (and a child's children) performed when it was built."""
        scheds = self if sched is None else sched
        if hasattr(scheds, "_schedulers"):
            for s in scheds._schedulers:
                self.recursive_undo(s)
        elif hasattr(scheds, "last_epoch"):
            scheds.last_epoch -= 1

    def step(self) -> None:  # type: ignore[override]
        """Advance one epoch: step the schedule whose turn it is (at its milestone, restart it at its epoch 0)."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        try:
            if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
                scheduler._update_lr(0)
            else:
                scheduler.step()
        except BaseException:
            self.last_epoch -= 1
            raise
        self._last_lr = list(scheduler.get_last_lr())

    def state_dict(self) -> dict[str, Any]:
        """The counters and milestones, and the children's state_dicts under ``_schedulers``."""
        state = {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()
                 if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()``, the children's included (the same schedules, in the same order)."""
        saved = state_dict.get("_schedulers")
        if not isinstance(saved, list) or len(saved) != len(self._schedulers):
            count = len(saved) if isinstance(saved, list) else "no"
            raise ValueError(f"SequentialLR.load_state_dict: the state holds {count} schedulers' states but "
                             f"this SequentialLR has {len(self._schedulers)}")
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "_schedulers"})
        for sched, state in zip(self._schedulers, saved):
            sched.load_state_dict(state)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith and Topin, "Super-Convergence", 2017), stepped once per batch.

    The lr rises from ``initial_lr = max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start`` of the steps, then falls to ``min_lr = initial_lr / final_div_factor`` by the
    last; the momentum (SGD's and RMSprop's ``momentum``, Adam's beta1, ``betas[0]``) moves the
    other way, from ``max_momentum`` down to ``base_momentum`` at the peak lr and back. With
    ``three_phase`` the lr comes back down to ``initial_lr`` symmetrically and only then anneals
    to ``min_lr`` with the momentum held at ``max_momentum`` (the paper's form); the default is
    fastai's two phases.

    With T = total_steps and p = pct_start, the phases end at the steps

        two phases:    p T - 1,  T - 1
        three phases:  p T - 1,  2 p T - 2,  T - 1

    and in a phase from step a (0 for the first, else the previous phase's end) to step b, with
    pct = (step - a) / (b - a), each value goes from its start to its end by

        'cos':     end + (start - end) / 2 * (1 + cos(pi pct))
        'linear':  start + (end - start) pct

    written as PyTorch writes them, so the floats are PyTorch's. Construction is step 0; call
    ``step()`` after every ``optimizer.step()``: after ``total_steps`` of them the cycle is over
    and one more raises a ValueError (and changes nothing). Not chainable: an lr set by hand is
    overwritten. The group keys ``initial_lr``, ``max_lr``, ``min_lr`` (and ``max_momentum``,
    ``base_momentum``) are written into the param groups, so they travel in the optimizer's
    state_dict, from which a resumed OneCycleLR (``last_epoch >= 0``) reads them.

    Where juanji differs from PyTorch: pct_start must lie strictly inside (0, 1) (PyTorch
    accepts 0 and 1; at 1 it divides by zero at the last step); a phase of zero length (p T = 1
    exactly, where PyTorch raises ZeroDivisionError at step 0) counts as finished, pct = 1;
    max_lr, div_factor and final_div_factor must be positive.

    Args:
        optimizer: the optimizer.
        max_lr: the peak lr, one number or one per param group.
        total_steps: the number of steps (batches) in the cycle; if None, epochs * steps_per_epoch.
        epochs: the number of epochs (with ``steps_per_epoch``, when total_steps is None).
        steps_per_epoch: the number of batches per epoch.
        pct_start: the fraction of the steps spent raising the lr, in (0, 1).
        anneal_strategy: 'cos' or 'linear'.
        cycle_momentum: cycle the momentum (or beta1) inversely to the lr; the optimizer must
            have a ``momentum`` or ``betas`` hyper-parameter.
        base_momentum: the momentum at the peak lr, one number or one per param group.
        max_momentum: the momentum at the start and end, one number or one per param group.
        div_factor: initial_lr = max_lr / div_factor.
        final_div_factor: min_lr = initial_lr / final_div_factor.
        three_phase: use the paper's three phases instead of fastai's two.
        last_epoch: the index of the last *batch* (-1 starts a new cycle).

    Example:
        >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> sched = OneCycleLR(opt, max_lr=0.1, epochs=10, steps_per_epoch=len(loader))
        >>> for epoch in range(10):
        ...     for x, y in loader:
        ...         ...                  # forward, backward
        ...         opt.step()
        ...         sched.step()
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85, max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        name = "OneCycleLR"
        optimizer = _check_optimizer(name, optimizer)
        # Everything is checked before any group is written, so a refused call changes nothing.
        if total_steps is not None:
            self.total_steps = _check_positive_int(name, "total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (_check_positive_int(name, "epochs", epochs)
                                * _check_positive_int(name, "steps_per_epoch", steps_per_epoch))
        else:
            raise ValueError(f"{name}: give total_steps, or both epochs and steps_per_epoch "
                             f"(got total_steps=None, epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r})")
        if not (_is_real(pct_start) and 0 < pct_start < 1):
            raise ValueError(f"{name}: pct_start (the fraction of steps spent raising the lr) must be a number "
                             f"in (0, 1), got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{name}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        max_lrs = [_check_positive_number(name, "max_lr", v) for v in _per_group(name, "max_lr", max_lr, optimizer)]
        _check_positive_number(name, "div_factor", div_factor)
        _check_positive_number(name, "final_div_factor", final_div_factor)
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{name}: cycle_momentum=True needs an optimizer with a 'momentum' or 'betas' "
                                 f"hyper-parameter, and {type(optimizer).__name__} has neither; "
                                 "pass cycle_momentum=False")
            max_momentums = _per_group(name, "max_momentum", max_momentum, optimizer)
            base_momentums = _per_group(name, "base_momentum", base_momentum, optimizer)

        # The phases' boundaries exactly as PyTorch computes them (float(p T) - 1 ...).
        T = self.total_steps
        if three_phase:
            self._schedule_phases = [
                {"end_step": float(pct_start * T) - 1, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * T) - 2, "start_lr": "max_lr", "end_lr": "initial_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
                {"end_step": T - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
                 "start_momentum": "max_momentum", "end_momentum": "max_momentum"},
            ]
        else:
            self._schedule_phases = [
                {"end_step": float(pct_start * T) - 1, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": T - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
            ]
        self._anneal_func_type = anneal_strategy
        if last_epoch == -1:
            for m, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = m / div_factor
                group["max_lr"] = m
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = "betas" in optimizer.defaults
            if last_epoch == -1:
                for m_mom, b_mom, group in zip(max_momentums, base_momentums, optimizer.param_groups):
                    if self.use_beta1:
                        group["betas"] = (m_mom, *group["betas"][1:])
                    else:
                        group["momentum"] = m_mom
                    group["max_momentum"] = m_mom
                    group["base_momentum"] = b_mom
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _annealing_cos(start: float, end: float, pct: float) -> float:
        """From ``start`` (pct 0) to ``end`` (pct 1) along half a cosine: end + (start - end)(1 + cos(pi pct)) / 2."""
        cos_out = math.cos(math.pi * pct) + 1
        return end + (start - end) / 2.0 * cos_out

    @staticmethod
    def _annealing_linear(start: float, end: float, pct: float) -> float:
        """From ``start`` (pct 0) to ``end`` (pct 1) along a line."""
        return (end - start) * pct + start

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return self._annealing_cos(start, end, pct)
        return self._annealing_linear(start, end, pct)

    def get_lr(self) -> list[float]:
        """This step's lrs; also writes this step's momentum (or beta1) into the groups when cycling it."""
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step_num} times, but total_steps is {self.total_steps}: "
                             "the cycle is over (step once per batch; for a longer run give a larger total_steps, "
                             "or epochs and steps_per_epoch)")
        last = len(self._schedule_phases) - 1
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == last:
                    span = end_step - start_step
                    # A zero-length phase (p T = 1) is over as soon as it starts: its end value.
                    pct = (step_num - start_step) / span if span != 0 else 1.0
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        momentum = self._anneal(group[phase["start_momentum"]], group[phase["end_momentum"]], pct)
                        if self.use_beta1:
                            group["betas"] = (momentum, *group["betas"][1:])
                        else:
                            group["momentum"] = momentum
                    break
                start_step = phase["end_step"]
        return lrs

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["_schedule_phases"] = [dict(phase) for phase in self._schedule_phases]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._schedule_phases = [dict(phase) for phase in self._schedule_phases]


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` when a metric has stopped improving for ``patience`` epochs.

    Args:
        optimizer: the optimizer.
        mode: "min" (the metric should fall, e.g. a loss) or "max" (e.g. an accuracy).
        factor: lr <- max(lr * factor, min_lr), factor < 1.
        patience: epochs without improvement tolerated; the lr falls after patience + 1 of them.
        threshold: how much better counts as an improvement.
        threshold_mode: "rel": better than best * (1 -/+ threshold); "abs": best -/+ threshold.
        cooldown: epochs to wait after a reduction before counting bad epochs again.
        min_lr: lower bound of the lr, one number or one per group.
        eps: a reduction smaller than eps is skipped.

    Unlike the other schedules it does not record ``initial_lr`` (as PyTorch).

    Example:
        >>> sched = ReduceLROnPlateau(opt, mode="min", patience=5)
        >>> for epoch in range(100):
        ...     sched.step(validate(model))
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | list[float] = 0, eps: float = 1e-8) -> None:
        name = "ReduceLROnPlateau"
        if not factor < 1.0:
            raise ValueError(f"{name}: factor should be < 1.0, got {factor!r}")
        self.factor = factor
        self.optimizer = _check_optimizer(name, optimizer)
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"{name}: expected {n} min_lrs (one per param group), got {len(min_lr)}")
            self.default_min_lr: float | None = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"{name}: patience must be an int >= 0, got {patience!r}")
        if not isinstance(cooldown, int) or cooldown < 0:
            raise ValueError(f"{name}: cooldown must be an int >= 0, got {cooldown!r}")
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._lrs()
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, a: float, best: float) -> bool:
        """Whether metric ``a`` improves on ``best`` by more than the threshold."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record this epoch's metric (a number or a one-element tensor) and reduce the lr if it stalled."""
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn("passing epoch to scheduler.step() is deprecated", UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"ReduceLROnPlateau: the optimizer now has {len(groups)} param groups but "
                                   f"min_lr lists {len(self.min_lrs)}; update the min_lrs attribute")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for i, group in enumerate(groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)
