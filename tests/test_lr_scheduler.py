"""Learning-rate schedules against torch.optim.lr_scheduler: the same lr floats for ~30 epochs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from juanji.nn import Parameter
from juanji.optim import SGD, Adam
from juanji.optim import lr_scheduler as S

from tests.helpers import torch_or_skip

EPOCHS = 30
LRS = (0.1, 0.05)


def juanji_optimizer():
    ps = [Parameter(np.ones(2, np.float32)), Parameter(np.ones(3, np.float32))]
    return SGD([{"params": ps[:1], "lr": LRS[0]}, {"params": ps[1:], "lr": LRS[1]}], lr=1.0, momentum=0.9)


def torch_optimizer(torch):
    ps = [torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))]
    return torch.optim.SGD([{"params": ps[:1], "lr": LRS[0]}, {"params": ps[1:], "lr": LRS[1]}], lr=1.0,
                           momentum=0.9)


def lr_sequence(opt, sched, epochs, metrics=None, poke=None):
    """lrs after construction and after each epoch's scheduler.step() (optimizer.step() first)."""
    seq = [list(sched.get_last_lr())]
    for e in range(epochs):
        opt.step()
        if poke is not None and e == poke:
            for g in opt.param_groups:
                g["lr"] = g["lr"] * 0.5  # a hand-made change the recursive forms must follow
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[e])
        seq.append(list(sched.get_last_lr()))
        assert seq[-1] == [g["lr"] for g in opt.param_groups]
    return seq


SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("StepLR", dict(step_size=1, gamma=0.9)),
    ("StepLR", dict(step_size=7)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 11], gamma=0.3)),
    ("MultiStepLR", dict(milestones=[20, 3])),
    ("ExponentialLR", dict(gamma=0.9)),
    ("ExponentialLR", dict(gamma=1.05)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
    ("CosineAnnealingLR", dict(T_max=1, eta_min=0.001)),
]


@pytest.mark.parametrize("poke", [None, 12])
@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULES)])
def test_schedule_matches_torch(name, kwargs, poke) -> None:
    torch = torch_or_skip()
    opt, topt = juanji_optimizer(), torch_optimizer(torch)
    sched = getattr(S, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS)
    assert sched.base_lrs == tsched.base_lrs and sched.last_epoch == tsched.last_epoch == 0
    ours = lr_sequence(opt, sched, EPOCHS, poke=poke)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lr_sequence(topt, tsched, EPOCHS, poke=poke)
    assert ours == theirs  # the same floats, not just close ones
    assert sched.last_epoch == tsched.last_epoch == EPOCHS
    assert len(set(map(tuple, ours))) > 1  # the schedule does move


def metric_sequence(seed: int) -> list[float]:
    """Improvements, plateaus and noise around them, so every branch of the rule is taken."""
    rng = np.random.default_rng(seed)
    base = np.concatenate([np.linspace(1.0, 0.5, 6), np.full(10, 0.5), np.linspace(0.5, 0.45, 4), np.full(20, 0.45)])
    return [float(v) for v in base[:EPOCHS + 10] + rng.normal(0, 0.002, base[:EPOCHS + 10].shape)]


PLATEAU = [
    dict(),
    dict(patience=2, factor=0.5),
    dict(patience=0, factor=0.5, cooldown=2),
    dict(patience=1, threshold=0.05, threshold_mode="abs", cooldown=1),
    dict(patience=2, threshold=0.1, threshold_mode="rel", min_lr=[0.02, 0.0]),
    dict(mode="max", patience=1, factor=0.3),
    dict(mode="max", patience=0, threshold=0.01, threshold_mode="abs", cooldown=3, min_lr=0.004),
    dict(mode="max", patience=3, threshold_mode="rel", eps=0.05),
]


@pytest.mark.parametrize("kwargs", PLATEAU)
def test_reduce_on_plateau_matches_torch(kwargs) -> None:
    torch = torch_or_skip()
    metrics = metric_sequence(len(str(kwargs)))
    if kwargs.get("mode") == "max":
        metrics = [1 - m for m in metrics]
    opt, topt = juanji_optimizer(), torch_optimizer(torch)
    sched = S.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    assert "initial_lr" not in opt.param_groups[0]  # as PyTorch: this one does not record it
    ours = lr_sequence(opt, sched, EPOCHS + 10, metrics)
    theirs = lr_sequence(topt, tsched, EPOCHS + 10, metrics)
    assert ours == theirs
    assert ours[-1] != ours[0]  # the lr was reduced at least once
    assert (sched.best, sched.num_bad_epochs, sched.cooldown_counter) == (
        tsched.best, tsched.num_bad_epochs, tsched.cooldown_counter)


def test_reduce_on_plateau_accepts_a_tensor_metric() -> None:
    import juanji

    opt = juanji_optimizer()
    sched = S.ReduceLROnPlateau(opt, patience=0)
    sched.step(juanji.tensor(1.0))
    sched.step(juanji.tensor([1.0]))
    assert sched.get_last_lr() == [LRS[0] * 0.1, LRS[1] * 0.1]


@pytest.mark.parametrize("name,kwargs", [SCHEDULES[0], SCHEDULES[3], SCHEDULES[8]])
def test_state_dict_resumes_identically(name, kwargs) -> None:
    opt = juanji_optimizer()
    sched = getattr(S, name)(opt, **kwargs)
    full = lr_sequence(opt, sched, EPOCHS)
    opt1 = juanji_optimizer()
    sched1 = getattr(S, name)(opt1, **kwargs)
    lr_sequence(opt1, sched1, 10)
    osd, ssd = opt1.state_dict(), sched1.state_dict()
    assert "optimizer" not in ssd and ssd["last_epoch"] == 10
    opt2 = juanji_optimizer()
    sched2 = getattr(S, name)(opt2, **kwargs)
    opt2.load_state_dict(osd)
    sched2.load_state_dict(ssd)
    rest = lr_sequence(opt2, sched2, EPOCHS - 10)
    assert rest == full[10:]


def test_plateau_state_dict_round_trip() -> None:
    metrics = metric_sequence(1)
    opt = juanji_optimizer()
    sched = S.ReduceLROnPlateau(opt, patience=1, cooldown=1)
    full = lr_sequence(opt, sched, EPOCHS, metrics)
    opt1 = juanji_optimizer()
    sched1 = S.ReduceLROnPlateau(opt1, patience=1, cooldown=1)
    lr_sequence(opt1, sched1, 12, metrics)
    opt2 = juanji_optimizer()
    sched2 = S.ReduceLROnPlateau(opt2)
    opt2.load_state_dict(opt1.state_dict())
    sched2.load_state_dict(sched1.state_dict())
    assert lr_sequence(opt2, sched2, EPOCHS - 12, metrics[12:]) == full[12:]


@pytest.mark.parametrize("name,kwargs", [SCHEDULES[0], SCHEDULES[3], SCHEDULES[5], SCHEDULES[8]])
def test_epoch_argument_uses_closed_form_like_torch(name, kwargs) -> None:
    torch = torch_or_skip()
    opt, topt = juanji_optimizer(), torch_optimizer(torch)
    sched = getattr(S, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for epoch in (5, 13, 4):
        with pytest.warns(UserWarning, match="deprecated"):
            sched.step(epoch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tsched.step(epoch)
        assert sched.get_last_lr() == tsched.get_last_lr()


def test_resuming_needs_initial_lr() -> None:
    opt = juanji_optimizer()
    with pytest.raises(KeyError, match=r"StepLR: param 'initial_lr' is not specified in param_groups\[0\]"):
        S.StepLR(opt, step_size=2, last_epoch=5)
    S.StepLR(opt, step_size=2)
    resumed = S.StepLR(opt, step_size=2, last_epoch=5)
    assert resumed.last_epoch == 6


def test_works_with_any_optimizer() -> None:
    p = Parameter(np.ones(2, np.float32))
    opt = Adam([p], lr=0.01)
    sched = S.ExponentialLR(opt, gamma=0.5)
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.005 and isinstance(sched, S.LRScheduler)


BAD = [
    (lambda o: S.StepLR(o, step_size=0), ValueError, r"StepLR: step_size must be a positive int, got 0"),
    (lambda o: S.StepLR(o, step_size=2.5), ValueError, r"StepLR: step_size must be a positive int, got 2.5"),
    (lambda o: S.CosineAnnealingLR(o, T_max=0), ValueError, r"CosineAnnealingLR: T_max must be a positive int"),
    (lambda o: S.MultiStepLR(o, milestones=[3, 4.5]), ValueError, r"MultiStepLR: milestones must be ints"),
    (lambda o: S.ExponentialLR("sgd", gamma=0.5), TypeError, r"ExponentialLR: str is not a juanji.optim.Optimizer"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), ValueError, r"ReduceLROnPlateau: factor should be < 1.0, got 1.0"),
    (lambda o: S.ReduceLROnPlateau(o, mode="mid"), ValueError, r"mode must be 'min' or 'max', got 'mid'"),
    (lambda o: S.ReduceLROnPlateau(o, threshold_mode="relative"), ValueError,
     r"threshold_mode must be 'rel' or 'abs', got 'relative'"),
    (lambda o: S.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, r"expected 2 min_lrs \(one per param group\), got 1"),
    (lambda o: S.ReduceLROnPlateau(o, patience=-1), ValueError, r"patience must be an int >= 0, got -1"),
]


@pytest.mark.parametrize("make,exc,match", BAD)
def test_bad_arguments(make, exc, match) -> None:
    with pytest.raises(exc, match=match):
        make(juanji_optimizer())
