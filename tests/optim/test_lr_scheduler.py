"""Learning-rate schedules against torch.optim.lr_scheduler: the same lr floats for ~30 epochs
(OneCycleLR: every step of a whole cycle, with the momentum or beta1 it cycles)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import juanji
from juanji.nn import Parameter
from juanji.optim import SGD, Adagrad, Adam
from juanji.optim import lr_scheduler as S
from juanji.train.serialize import pack, unpack

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


def through_checkpoint(state):
    """``state`` as a checkpoint stores it: packed to JSON text (no pickle, no functions) and back."""
    tree, arrays = pack(state)
    return unpack(json.loads(json.dumps(tree, allow_nan=False)), arrays)


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
    ("LinearLR", dict()),  # 1/3 to 1 over 5 epochs
    ("LinearLR", dict(start_factor=0.05, end_factor=0.8, total_iters=12)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=30)),  # a linear decay to 0
    ("LambdaLR", dict(lr_lambda=lambda e: 0.9 ** e)),
    ("LambdaLR", dict(lr_lambda=[lambda e: 1 / (e + 1), lambda e: min(1.0, (e + 1) / 8)])),  # one per group
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


@pytest.mark.parametrize("name,kwargs", [SCHEDULES[0], SCHEDULES[3], SCHEDULES[8], SCHEDULES[11], SCHEDULES[14]])
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
    sched2.load_state_dict(through_checkpoint(ssd))
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


@pytest.mark.parametrize("name,kwargs", [SCHEDULES[0], SCHEDULES[3], SCHEDULES[5], SCHEDULES[8], SCHEDULES[11],
                                         SCHEDULES[14]])
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


# --- SequentialLR: the children's modules are passed in, so one builder makes juanji's and torch's.
SEQUENCES = [
    ("linear-warmup+cosine", lambda m, o: [m.LinearLR(o, start_factor=0.1, total_iters=5),
                                           m.CosineAnnealingLR(o, T_max=25, eta_min=0.001)], [5]),
    ("linear-warmup+exponential", lambda m, o: [m.LinearLR(o, start_factor=0.25, total_iters=4),
                                                m.ExponentialLR(o, gamma=0.9)], [6]),
    ("lambda+step+multistep", lambda m, o: [m.LambdaLR(o, lambda e: (e + 1) / 4),
                                            m.StepLR(o, step_size=3, gamma=0.5),
                                            m.MultiStepLR(o, milestones=[4, 9], gamma=0.3)], [3, 12]),
    ("single", lambda m, o: [m.LinearLR(o, start_factor=0.5, end_factor=0.1, total_iters=10)], []),
    ("cosine+linear-at-epoch-1", lambda m, o: [m.CosineAnnealingLR(o, T_max=3),
                                               m.LinearLR(o, start_factor=0.2, total_iters=8)], [1]),
]


def sequential(module, opt, build, milestones):
    return module.SequentialLR(opt, schedulers=build(module, opt), milestones=milestones)


@pytest.mark.parametrize("poke", [None, 12])
@pytest.mark.parametrize("label,build,milestones", SEQUENCES, ids=[s[0] for s in SEQUENCES])
def test_sequential_matches_torch(label, build, milestones, poke) -> None:
    torch = torch_or_skip()
    opt, topt = juanji_optimizer(), torch_optimizer(torch)
    sched = sequential(S, opt, build, milestones)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tsched = sequential(torch.optim.lr_scheduler, topt, build, milestones)
    assert [s.last_epoch for s in sched._schedulers] == [s.last_epoch for s in tsched._schedulers]
    ours = lr_sequence(opt, sched, EPOCHS, poke=poke)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lr_sequence(topt, tsched, EPOCHS, poke=poke)
    assert ours == theirs
    assert [s.last_epoch for s in sched._schedulers] == [s.last_epoch for s in tsched._schedulers]
    assert len(set(map(tuple, ours))) > 2


@pytest.mark.parametrize("stop", [3, 5, 17])  # before, at and after the milestone
def test_sequential_state_dict_resumes_identically(stop) -> None:
    build, milestones = SEQUENCES[0][1], SEQUENCES[0][2]
    opt = juanji_optimizer()
    full = lr_sequence(opt, sequential(S, opt, build, milestones), EPOCHS)
    opt1 = juanji_optimizer()
    sched1 = sequential(S, opt1, build, milestones)
    lr_sequence(opt1, sched1, stop)
    ssd = sched1.state_dict()
    assert [c["last_epoch"] for c in ssd["_schedulers"]] == [c.last_epoch for c in sched1._schedulers]
    opt2 = juanji_optimizer()
    sched2 = sequential(S, opt2, build, milestones)
    opt2.load_state_dict(opt1.state_dict())
    sched2.load_state_dict(through_checkpoint(ssd))
    assert lr_sequence(opt2, sched2, EPOCHS - stop) == full[stop:]


def test_sequential_state_dict_needs_the_same_schedules() -> None:
    opt = juanji_optimizer()
    two = S.SequentialLR(opt, [S.LinearLR(opt), S.ExponentialLR(opt, gamma=0.9)], milestones=[5])
    opt1 = juanji_optimizer()
    three = S.SequentialLR(opt1, [S.LinearLR(opt1), S.StepLR(opt1, 2), S.StepLR(opt1, 3)], milestones=[5, 9])
    with pytest.raises(ValueError, match=r"SequentialLR.load_state_dict: the state holds 2 schedulers' states "
                                         r"but this SequentialLR has 3"):
        three.load_state_dict(two.state_dict())


class Halving:
    """A callable object with state: its attributes are saved by LambdaLR.state_dict (as PyTorch)."""

    def __init__(self) -> None:
        self.every = 4

    def __call__(self, epoch: int) -> float:
        return 0.5 ** (epoch // self.every)


def test_lambda_state_dict_saves_a_callable_objects_attributes_only() -> None:
    opt = juanji_optimizer()
    fn = Halving()
    sched = S.LambdaLR(opt, [fn, lambda e: 1.0 / (e + 1)])
    lr_sequence(opt, sched, 6)
    fn.every = 2  # changed mid-run: the new value must travel with the scheduler's state
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"every": 2}, None]  # a lambda is not saved
    opt2 = juanji_optimizer()
    fn2 = Halving()
    sched2 = S.LambdaLR(opt2, [fn2, lambda e: 1.0 / (e + 1)])
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(through_checkpoint(state))
    assert fn2.every == 2 and sched2.last_epoch == 6
    assert lr_sequence(opt2, sched2, 4) == lr_sequence(opt, sched, 4)
    with pytest.raises(ValueError, match=r"LambdaLR.load_state_dict: .* this scheduler has 1 functions"):
        S.LambdaLR(SGD([Parameter(np.ones(2, np.float32))], lr=0.1), fn).load_state_dict(state)


# --- OneCycleLR: stepped per batch over the whole cycle, lr and momentum (SGD) or beta1 (Adam).
def onecycle_optimizers(kind, torch=None):
    """The same two-group optimizer, juanji's (torch None) or torch's."""
    if torch is None:
        ps, opt = [Parameter(np.ones(2, np.float32)), Parameter(np.ones(3, np.float32))], {"sgd": SGD, "adam": Adam}
    else:
        ps, opt = [torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))], {
            "sgd": torch.optim.SGD, "adam": torch.optim.Adam}
    groups = [{"params": ps[:1], "lr": LRS[0]}, {"params": ps[1:], "lr": LRS[1]}]
    return opt[kind](groups, lr=1.0, momentum=0.9) if kind == "sgd" else opt[kind](groups, lr=1.0, betas=(0.9, 0.99))


def momenta(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def cycle_sequence(opt, sched, steps, start=0):
    """(lrs, momenta) after construction and after each of ``steps`` batches' scheduler.step()."""
    seq = [(list(sched.get_last_lr()), momenta(opt))]
    for _ in range(steps):
        opt.step()
        sched.step()
        seq.append((list(sched.get_last_lr()), momenta(opt)))
        assert seq[-1][0] == [g["lr"] for g in opt.param_groups]
    return seq


ONECYCLE = [
    dict(max_lr=[1.0, 0.4], total_steps=50),
    dict(max_lr=0.3, epochs=4, steps_per_epoch=7, anneal_strategy="linear"),
    dict(max_lr=0.3, total_steps=37, pct_start=0.25, three_phase=True),
    dict(max_lr=[0.3, 0.6], total_steps=40, three_phase=True, anneal_strategy="linear", div_factor=10.0,
         final_div_factor=100.0, base_momentum=[0.8, 0.7], max_momentum=[0.9, 0.99]),
    dict(max_lr=0.5, total_steps=20, pct_start=0.5, cycle_momentum=False),
    dict(max_lr=0.2, total_steps=3),  # shorter than the warm-up's first step: p T - 1 < 0
]


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("kwargs", ONECYCLE, ids=[f"onecycle-{i}" for i in range(len(ONECYCLE))])
def test_onecycle_matches_torch(kwargs, kind) -> None:
    torch = torch_or_skip()
    opt, topt = onecycle_optimizers(kind), onecycle_optimizers(kind, torch)
    sched = S.OneCycleLR(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, **kwargs)
    keys = ["initial_lr", "max_lr", "min_lr"] + (["max_momentum", "base_momentum"] if sched.cycle_momentum else [])
    assert [[g[k] for k in keys] for g in opt.param_groups] == [[g[k] for k in keys] for g in topt.param_groups]
    total = sched.total_steps
    assert total == tsched.total_steps
    ours = cycle_sequence(opt, sched, total)  # the whole cycle: steps 0 .. total_steps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = cycle_sequence(topt, tsched, total)
    assert ours == theirs  # lr and momentum / beta1, the same floats
    lrs = [lr for lr, _ in ours]
    assert len(set(map(tuple, lrs))) > 2
    if kwargs.get("cycle_momentum", True):
        assert len(set(tuple(m) for _, m in ours)) > 2  # the momentum (or beta1) does cycle
    else:
        assert all(m == [0.9, 0.9] for _, m in ours)  # and is left alone when told to
    if kind == "adam":
        assert [g["betas"][1] for g in opt.param_groups] == [0.99, 0.99]  # beta2 untouched


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_onecycle_momentum_reaches_the_optimizer_like_torch(kind) -> None:
    """The cycled momentum / beta1 is the one the update uses: the parameters follow torch's."""
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    grads = [[rng.normal(size=n).astype(np.float32) for n in (2, 3)] for _ in range(30)]
    opt, topt = onecycle_optimizers(kind), onecycle_optimizers(kind, torch)
    sched = S.OneCycleLR(opt, max_lr=0.5, total_steps=30)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.5, total_steps=30)
    tparams = [p for g in topt.param_groups for p in g["params"]]
    for step_grads in grads:
        for p, tp, g in zip([p for grp in opt.param_groups for p in grp["params"]], tparams, step_grads):
            p.grad = juanji.Tensor(g)
            tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    for grp, tgrp in zip(opt.param_groups, topt.param_groups):
        for p, tp in zip(grp["params"], tgrp["params"]):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6)
    # Without the cycling the result differs: the test sees the momentum, not only the lr.
    opt2 = onecycle_optimizers(kind)
    sched2 = S.OneCycleLR(opt2, max_lr=0.5, total_steps=30, cycle_momentum=False)
    for step_grads in grads:
        for p, g in zip([p for grp in opt2.param_groups for p in grp["params"]], step_grads):
            p.grad = juanji.Tensor(g)
        opt2.step()
        sched2.step()
    assert not np.allclose(opt2.param_groups[1]["params"][0].data, opt.param_groups[1]["params"][0].data,
                           rtol=1e-4, atol=0)


def test_onecycle_refuses_a_step_past_the_cycle_like_torch() -> None:
    torch = torch_or_skip()
    opt, topt = onecycle_optimizers("sgd"), onecycle_optimizers("sgd", torch)
    sched = S.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, total_steps=10)
    cycle_sequence(opt, sched, 10)  # steps 1..10 are fine, in both
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cycle_sequence(topt, tsched, 10)
        with pytest.raises(ValueError, match="Tried to step 11 times"):
            tsched.step()
    before = (sched.last_epoch, sched.get_last_lr(), momenta(opt), sched.state_dict())
    with pytest.raises(ValueError, match=r"OneCycleLR: tried to step 11 times, but total_steps is 10"):
        sched.step()
    assert (sched.last_epoch, sched.get_last_lr(), momenta(opt), sched.state_dict()) == before  # nothing moved
    assert sched.last_epoch == 10


def test_onecycle_zero_length_warmup_starts_at_the_peak() -> None:
    """p T = 1: the warm-up phase ends at step 0 (PyTorch divides 0 by 0 there); juanji is at max_lr."""
    opt = onecycle_optimizers("sgd")
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.1)
    lrs = [lr[0] for lr, _ in cycle_sequence(opt, sched, 9)]
    min_lr = 1.0 / 25.0 / 1e4
    # then the cosine from max_lr (step 0) to min_lr (step 9): the documented formula
    expected = [min_lr + (1.0 - min_lr) / 2 * (1 + np.cos(np.pi * s / 9)) for s in range(10)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("kwargs", [ONECYCLE[0], ONECYCLE[3]], ids=["two-phase", "three-phase"])
def test_onecycle_state_dict_resumes_identically(kwargs, kind) -> None:
    opt = onecycle_optimizers(kind)
    full = cycle_sequence(opt, S.OneCycleLR(opt, **kwargs), 40)
    opt1 = onecycle_optimizers(kind)
    sched1 = S.OneCycleLR(opt1, **kwargs)
    cycle_sequence(opt1, sched1, 17)
    osd, ssd = through_checkpoint(opt1.state_dict()), through_checkpoint(sched1.state_dict())
    assert ssd["last_epoch"] == 17 and "optimizer" not in ssd
    opt2 = onecycle_optimizers(kind)
    sched2 = S.OneCycleLR(opt2, **kwargs)  # built fresh (step 0), then both states are loaded
    opt2.load_state_dict(osd)
    sched2.load_state_dict(ssd)
    assert cycle_sequence(opt2, sched2, 40 - 17) == full[17:]
    # A scheduler resumed from the optimizer's state alone (last_epoch=17, PyTorch's way) agrees too.
    opt3 = onecycle_optimizers(kind)
    opt3.load_state_dict(osd)
    sched3 = S.OneCycleLR(opt3, **{**kwargs, "max_lr": 123.0}, last_epoch=16)  # max_lr comes from the groups
    assert cycle_sequence(opt3, sched3, 40 - 17) == full[17:]


def test_onecycle_refused_arguments_change_nothing() -> None:
    opt = juanji_optimizer()
    before = [dict((k, v) for k, v in g.items() if k != "params") for g in opt.param_groups]
    with pytest.raises(ValueError, match="max_momentum"):
        S.OneCycleLR(opt, max_lr=0.1, total_steps=10, max_momentum=[0.9, 0.9, 0.9])
    assert [dict((k, v) for k, v in g.items() if k != "params") for g in opt.param_groups] == before


def test_onecycle_without_momentum_cycling_takes_any_optimizer() -> None:
    opt = Adagrad([Parameter(np.ones(2, np.float32))], lr=0.1)
    sched = S.OneCycleLR(opt, max_lr=0.1, total_steps=10, cycle_momentum=False)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(10):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs[0] == pytest.approx(0.1 / 25) and lrs[2] == pytest.approx(0.1)  # the peak at p T - 1 = 2
    assert lrs[9] == pytest.approx(0.1 / 25 / 1e4) and "momentum" not in opt.param_groups[0]


def adagrad(o):
    return Adagrad([p for g in o.param_groups for p in g["params"]], lr=0.1)


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
    (lambda o: S.LambdaLR(o, [lambda e: 1.0] * 3), ValueError,
     r"LambdaLR: expected 2 lr_lambdas \(one per param group\), got 3"),
    (lambda o: S.LambdaLR(o, [lambda e: 1.0]), ValueError, r"LambdaLR: expected 2 lr_lambdas .*got 1"),
    (lambda o: S.LambdaLR(o, 0.5), TypeError, r"LambdaLR: lr_lambda must be a function of the epoch .*got 0.5"),
    (lambda o: S.LinearLR(o, start_factor=0), ValueError,
     r"LinearLR: start_factor must be a number in \(0, 1\], got 0"),
    (lambda o: S.LinearLR(o, start_factor=1.5), ValueError, r"LinearLR: start_factor .* got 1.5"),
    (lambda o: S.LinearLR(o, end_factor=-0.1), ValueError,
     r"LinearLR: end_factor must be a number in \[0, 1\], got -0.1"),
    (lambda o: S.LinearLR(o, total_iters=0), ValueError, r"LinearLR: total_iters must be a positive int, got 0"),
    (lambda o: S.SequentialLR(o, [S.LinearLR(o), S.ExponentialLR(o, 0.9)], milestones=[3, 6]), ValueError,
     r"SequentialLR: milestones must number one fewer than the schedulers \(2 schedulers, so 1\), got 2: \[3, 6\]"),
    (lambda o: S.SequentialLR(o, [S.LinearLR(o), S.ExponentialLR(o, 0.9)], milestones=[]), ValueError,
     r"SequentialLR: milestones must number one fewer .*got 0: \[\]"),
    (lambda o: S.SequentialLR(o, [S.LinearLR(o), S.StepLR(o, 2), S.StepLR(o, 3)], milestones=[6, 6]), ValueError,
     r"SequentialLR: milestones must be increasing, got \[6, 6\]"),
    (lambda o: S.SequentialLR(o, [S.LinearLR(o), S.StepLR(o, 2)], milestones=[0]), ValueError,
     r"SequentialLR: milestones must be positive ints, got \[0\]"),
    (lambda o: S.SequentialLR(o, [], milestones=[]), ValueError, r"SequentialLR: expected at least one scheduler"),
    (lambda o: S.SequentialLR(o, [S.LinearLR(o), "cosine"], milestones=[5]), TypeError,
     r"SequentialLR: schedulers\[1\] is a str, not a juanji LRScheduler"),
    (lambda o: S.SequentialLR(o, [S.LinearLR(o), S.ReduceLROnPlateau(o)], milestones=[5]), ValueError,
     r"SequentialLR: schedulers\[1\] is a ReduceLROnPlateau"),
    (lambda o: S.SequentialLR(o, [S.LinearLR(o), S.LinearLR(juanji_optimizer())], milestones=[5]), ValueError,
     r"SequentialLR: schedulers\[1\] \(LinearLR\) schedules another optimizer"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=0.0), ValueError,
     r"OneCycleLR: pct_start .* must be a number in \(0, 1\), got 0.0"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.0), ValueError,
     r"OneCycleLR: pct_start .* got 1.0"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=-0.3), ValueError,
     r"OneCycleLR: pct_start .* got -0.3"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start="30%"), ValueError,
     r"OneCycleLR: pct_start .* got '30%'"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1), ValueError,
     r"OneCycleLR: give total_steps, or both epochs and steps_per_epoch \(got total_steps=None, epochs=None, "
     r"steps_per_epoch=None\)"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, epochs=5), ValueError,
     r"OneCycleLR: give total_steps, or both epochs and steps_per_epoch .*epochs=5, steps_per_epoch=None"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, steps_per_epoch=5), ValueError,
     r"OneCycleLR: give total_steps, .*epochs=None, steps_per_epoch=5"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=0), ValueError,
     r"OneCycleLR: total_steps must be a positive int, got 0"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=12.0), ValueError,
     r"OneCycleLR: total_steps must be a positive int, got 12.0"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, epochs=0, steps_per_epoch=5), ValueError,
     r"OneCycleLR: epochs must be a positive int, got 0"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, epochs=3, steps_per_epoch=-2), ValueError,
     r"OneCycleLR: steps_per_epoch must be a positive int, got -2"),
    (lambda o: S.OneCycleLR(o, max_lr=0.0, total_steps=10), ValueError,
     r"OneCycleLR: max_lr must be a positive number, got 0.0"),
    (lambda o: S.OneCycleLR(o, max_lr=[0.1, -0.2], total_steps=10), ValueError,
     r"OneCycleLR: max_lr must be a positive number, got -0.2"),
    (lambda o: S.OneCycleLR(o, max_lr=[0.1], total_steps=10), ValueError,
     r"OneCycleLR: expected 2 max_lrs \(one per param group\), got 1"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=10, div_factor=0), ValueError,
     r"OneCycleLR: div_factor must be a positive number, got 0"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=10, final_div_factor=-1e4), ValueError,
     r"OneCycleLR: final_div_factor must be a positive number, got -10000.0"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="cosine"), ValueError,
     r"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got 'cosine'"),
    (lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=10, base_momentum=(0.8, 0.8, 0.8)), ValueError,
     r"OneCycleLR: expected 2 base_momentums \(one per param group\), got 3"),
    (lambda o: S.OneCycleLR(adagrad(o), max_lr=0.1, total_steps=10), ValueError,
     r"OneCycleLR: cycle_momentum=True needs an optimizer with a 'momentum' or 'betas' hyper-parameter, "
     r"and Adagrad has neither; pass cycle_momentum=False"),
]


@pytest.mark.parametrize("make,exc,match", BAD)
def test_bad_arguments(make, exc, match) -> None:
    with pytest.raises(exc, match=match):
        make(juanji_optimizer())
