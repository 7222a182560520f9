"""Adadelta against torch.optim.Adadelta step by step, Zeiler's algorithm written out as a loop,
its state_dict (round trip, PyTorch's layout, checks on load) and bad arguments.

The trajectory harness is tests/optim/test_optim.py's: both sides compute the same gradient of one
fixed function from their own current parameters, so a difference compounds over the steps.
"""

from __future__ import annotations

import numpy as np
import pytest

import juanji
from juanji.nn import Parameter
from juanji.optim import SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop

from tests.helpers import assert_close, torch_or_skip
from tests.optim.test_optim import (STEPS, compare, follow_torch_from_its_state, initial_arrays, juanji_run,
                              torch_run)

CONFIGS = [
    dict(),
    dict(rho=0.95, eps=1e-6),  # Kim (2014)
    dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1),
    dict(lr=2.0, weight_decay=0.05, maximize=True),
    dict(rho=0.0),
    dict(rho=1.0, eps=1e-3),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kwargs", CONFIGS, ids=[str(i) for i in range(len(CONFIGS))])
def test_trajectory_matches_torch(kwargs, dtype) -> None:
    torch = torch_or_skip()
    arrays = initial_arrays(dtype)
    ours, opt, params = juanji_run(Adadelta, kwargs, arrays, STEPS)
    theirs, topt = torch_run(torch, torch.optim.Adadelta, kwargs, arrays, STEPS)
    compare(ours, theirs, 1e-10 if dtype == np.float64 else 1e-5, f"Adadelta{kwargs}")
    for p, tp in zip(params, topt.param_groups[0]["params"]):
        assert p.dtype == dtype
        state, tstate = opt.state[p], topt.state[tp]
        assert sorted(state) == sorted(tstate) == ["acc_delta", "square_avg", "step"]
        assert state["step"] == int(tstate["step"])
        for name in ("square_avg", "acc_delta"):
            assert state[name].dtype == dtype and state[name].shape == p.shape
            assert_close(state[name], tstate[name].numpy(), 1e-9 if dtype == np.float64 else 1e-4, 1e-9, name)
    # The run moved the parameters: a no-op optimizer would not pass the comparison by accident.
    assert not np.allclose(ours[-1][0], arrays[0])


def test_matches_zeilers_algorithm_written_as_a_loop() -> None:
    """Zeiler (2012) Algorithm 1 per coordinate, with PyTorch's lr and L2 weight decay."""
    rho, eps, lr, wd = 0.9, 1e-6, 0.7, 0.01
    rng = np.random.default_rng(4)
    x0 = rng.standard_normal(5)
    p = Parameter(x0.copy())
    opt = Adadelta([p], lr=lr, rho=rho, eps=eps, weight_decay=wd)
    x, eg2, edx2 = x0.copy(), np.zeros(5), np.zeros(5)
    for k in range(6):
        g = rng.standard_normal(5)
        p.grad = juanji.Tensor(g.copy())
        opt.step()
        for i in range(5):
            gi = g[i] + wd * x[i]
            eg2[i] = rho * eg2[i] + (1 - rho) * gi * gi
            dx = -(np.sqrt(edx2[i] + eps) / np.sqrt(eg2[i] + eps)) * gi
            edx2[i] = rho * edx2[i] + (1 - rho) * dx * dx
            x[i] += lr * dx
        np.testing.assert_allclose(p.data, x, rtol=1e-12, atol=1e-14, err_msg=f"step {k}")


@pytest.mark.parametrize("kwargs", [CONFIGS[2], CONFIGS[3]])
def test_param_groups_with_different_lrs(kwargs) -> None:
    torch = torch_or_skip()
    arrays = initial_arrays(np.float64, seed=3)
    groups = lambda ps: [{"params": ps[:1], "lr": 0.3}, {"params": ps[1:], "rho": 0.5}]  # noqa: E731
    ours, opt, _ = juanji_run(Adadelta, kwargs, arrays, STEPS, groups=groups)
    theirs, _ = torch_run(torch, torch.optim.Adadelta, kwargs, arrays, STEPS, groups=groups)
    compare(ours, theirs, 1e-10, "Adadelta groups")
    assert opt.param_groups[0]["lr"] == 0.3 and opt.param_groups[1]["rho"] == 0.5


@pytest.mark.parametrize("kwargs", [CONFIGS[1], CONFIGS[2]])
def test_state_dict_round_trip_resumes_identically(kwargs) -> None:
    arrays = initial_arrays(np.float32, seed=5)
    full, _, _ = juanji_run(Adadelta, kwargs, arrays, STEPS)
    half, opt, params = juanji_run(Adadelta, kwargs, arrays, STEPS // 2)
    sd = opt.state_dict()
    assert sd["optimizer_class"] == "Adadelta"
    before = {k: {n: np.copy(v) for n, v in e.items()} for k, e in sd["state"].items()}
    juanji_run(Adadelta, kwargs, arrays, 1, opt=opt, params=params, start=STEPS // 2)
    for k, e in sd["state"].items():  # the saved state is a copy
        for n, v in e.items():
            assert np.array_equal(v, before[k][n])
    fresh = [Parameter(a.copy()) for a in half[-1]]
    opt2 = Adadelta(fresh, lr=123.0, rho=0.1)  # hyper-parameters come back from the state_dict
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kwargs.get("lr", 1.0) and opt2.param_groups[0]["rho"] == kwargs["rho"]
    resumed, _, _ = juanji_run(Adadelta, kwargs, arrays, STEPS - STEPS // 2, opt=opt2, params=fresh,
                               start=STEPS // 2)
    for a, b in zip(resumed[-1], full[-1]):
        assert np.array_equal(a, b), "Adadelta: the resumed run differs from the uninterrupted one"


def test_loads_torch_state_and_follows_torch() -> None:
    torch = torch_or_skip()
    arrays = initial_arrays(np.float32, seed=9)
    kwargs = dict(lr=0.5, rho=0.95, weight_decay=0.1)
    theirs, topt = torch_run(torch, torch.optim.Adadelta, kwargs, arrays, 4)
    _, opt, _ = juanji_run(Adadelta, kwargs, arrays, 4)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for k in sd["state"]:
        assert sorted(sd["state"][k]) == sorted(tsd["state"][k])
    assert set(sd["param_groups"][0]) <= set(tsd["param_groups"][0])
    follow_torch_from_its_state(torch, Adadelta, kwargs, theirs, topt, "acc_delta")


def _stepped(cls, **kwargs):
    params = [Parameter(np.ones((2, 3), np.float32)), Parameter(np.ones(4, np.float32))]
    opt = cls(params, **kwargs)
    for p in params:
        p.grad = juanji.Tensor(np.full(p.shape, 0.5, np.float32))
    opt.step()
    return opt, params


OTHERS = {"SGD": SGD, "Adagrad": Adagrad, "RMSprop": RMSprop, "Adam": Adam, "AdamW": AdamW}


@pytest.mark.parametrize("other", sorted(OTHERS))
def test_another_optimizers_state_is_refused_both_ways(other) -> None:
    params = [Parameter(np.ones((2, 3), np.float32)), Parameter(np.ones(4, np.float32))]
    opt = Adadelta(params, lr=0.5)
    with pytest.raises(ValueError, match=rf"Adadelta.load_state_dict: the state_dict is {other}'s, not Adadelta's"):
        opt.load_state_dict(_stepped(OTHERS[other])[0].state_dict())
    assert len(opt.state) == 0 and opt.param_groups[0]["lr"] == 0.5
    theirs = OTHERS[other](params, lr=0.5)
    with pytest.raises(ValueError, match=rf"{other}.load_state_dict: the state_dict is Adadelta's, not {other}'s"):
        theirs.load_state_dict(_stepped(Adadelta)[0].state_dict())


def test_state_without_class_name_is_judged_by_its_keys() -> None:
    sd = _stepped(Adadelta)[0].state_dict()
    del sd["optimizer_class"]
    params = [Parameter(np.ones((2, 3), np.float32)), Parameter(np.ones(4, np.float32))]
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: parameter group 0 of the state_dict lacks Adam's "
                                         r"hyper-parameters \['amsgrad', 'betas'\]"):
        Adam(params).load_state_dict(sd)
    rms = _stepped(RMSprop)[0].state_dict()
    del rms["optimizer_class"]
    with pytest.raises(ValueError, match=r"lacks Adadelta's hyper-parameters \['rho'\] \(it holds those of RMSprop\)"):
        Adadelta(params).load_state_dict(rms)


def _edit(fn):
    sd = _stepped(Adadelta)[0].state_dict()
    fn(sd)
    return sd


BAD_STATES = {
    "missing acc_delta": (lambda sd: sd["state"][1].pop("acc_delta"),
                          r"the state of parameter 1 lacks \['acc_delta'\]"),
    "foreign buffer": (lambda sd: sd["state"][0].update(exp_avg=np.zeros((2, 3))),
                       r"the state of parameter 0 has entries Adadelta does not keep: \['exp_avg'\]"),
    "wrong shape": (lambda sd: sd["state"][1].update(square_avg=np.zeros(3)),
                    r"state 'square_avg' of parameter 1 has shape \(3,\) but the parameter has shape \(4,\)"),
    "a scalar buffer": (lambda sd: sd["state"][1].update(acc_delta=0.5),
                        r"state 'acc_delta' of parameter 1 must be an array of shape \(4,\)"),
    "rho out of range": (lambda sd: sd["param_groups"][0].update(rho=1.5),
                         r"parameter group 0: Adadelta: invalid rho 1.5 \(must be in \[0, 1\]\)"),
    "step negative": (lambda sd: sd["state"][0].update(step=-1), r"state 'step' of parameter 0 must be a finite"),
}


@pytest.mark.parametrize("case", sorted(BAD_STATES))
def test_bad_state_is_refused_before_anything_changes(case) -> None:
    edit, match = BAD_STATES[case]
    sd = _edit(edit)
    params = [Parameter(np.ones((2, 3), np.float32)), Parameter(np.ones(4, np.float32))]
    opt = Adadelta(params, lr=0.5)
    with pytest.raises(ValueError, match=r"Adadelta.load_state_dict: .*" + match):
        opt.load_state_dict(sd)
    assert len(opt.state) == 0 and opt.param_groups[0]["lr"] == 0.5


@pytest.mark.parametrize("make,exc,match", [
    (lambda p: Adadelta(p, lr=-1.0), ValueError, r"Adadelta: invalid learning rate -1.0 \(must be >= 0\)"),
    (lambda p: Adadelta(p, rho=1.1), ValueError, r"Adadelta: invalid rho 1.1 \(must be in \[0, 1\]\)"),
    (lambda p: Adadelta(p, rho=-0.1), ValueError, r"Adadelta: invalid rho -0.1"),
    (lambda p: Adadelta(p, rho="x"), TypeError, r"Adadelta: rho must be a number, got 'x'"),
    (lambda p: Adadelta(p, eps=-1e-6), ValueError, r"Adadelta: invalid epsilon -1e-06"),
    (lambda p: Adadelta(p, weight_decay=-0.1), ValueError, r"Adadelta: invalid weight_decay -0.1"),
    (lambda p: Adadelta([], lr=1.0), ValueError, r"Adadelta: got an empty parameter list"),
])
def test_bad_arguments(make, exc, match) -> None:
    with pytest.raises(exc, match=match):
        make([Parameter(np.ones(3, np.float32))])


def test_float32_stays_float32_and_no_grad_means_no_step() -> None:
    p, q = Parameter(np.ones(4, np.float32)), Parameter(np.ones(2, np.float32))
    opt = Adadelta([p, q], lr=np.float64(1.0), weight_decay=np.float64(0.1))
    for _ in range(3):
        p.grad = juanji.Tensor(np.full(4, 0.5, np.float32))
        opt.step()
    assert p.data.dtype == np.float32 and np.all(p.data < 1)
    assert all(v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, np.ndarray))
    assert q not in opt.state and np.array_equal(q.data, np.ones(2, np.float32))


@pytest.mark.parametrize("kwargs", [dict(rho=0.95, eps=1e-6), dict(lr=0.5, rho=0.8, eps=1e-4, maximize=True),
                                    dict(rho=0.9, eps=1e-6, weight_decay=0.1)])
def test_table_with_few_rows_of_gradient_is_bit_equal_to_the_dense_update(kwargs, monkeypatch) -> None:
    """An embedding table's gradient is zero outside the batch's words; Adadelta then updates
    only those rows and decays the others' averages. The floats must be exactly the dense
    update's (and so torch's), over steps where rows join, leave and hold a NaN."""
    import juanji.optim.adadelta as adadelta

    rng = np.random.default_rng(3)
    table = rng.standard_normal((3000, 32)).astype(np.float32)  # 96,000 elements: large enough
    grads = []
    for k in range(6):
        g = np.zeros_like(table)
        rows = rng.choice(3000, size=40, replace=False)  # a batch's words, different each step
        g[rows] = rng.standard_normal((40, 32)).astype(np.float32)
        g[rows[0], 3] = -0.0
        if k == 4:
            g[7, 5] = np.nan  # a NaN row takes the full update and spreads as the dense one does
        grads.append(g)

    def run(sparse: bool) -> tuple[np.ndarray, dict]:
        monkeypatch.setattr(adadelta, "_SPARSE_MIN_SIZE", 1 << 16 if sparse else 1 << 62)
        p = Parameter(table.copy())
        opt = Adadelta([p], **kwargs)
        for g in grads:
            p.grad = juanji.Tensor(g.copy())
            opt.step()
        return p.data, opt.state[p]

    calls = []
    monkeypatch.setattr(adadelta, "_update", lambda *a, f=adadelta._update: (calls.append(a[0].shape), f(*a))[1])
    sparse, sparse_state = run(True)
    expect_sparse = "weight_decay" not in kwargs  # weight decay makes every row's gradient nonzero
    assert all(s == ((40,) if k != 4 else (41,)) + (32,) for k, s in enumerate(calls)) == expect_sparse, calls
    dense, dense_state = run(False)
    assert np.array_equal(sparse, dense, equal_nan=True)
    for name in ("square_avg", "acc_delta"):
        assert np.array_equal(sparse_state[name], dense_state[name], equal_nan=True), name
    assert np.isnan(sparse[7, 5]) and not np.isnan(sparse[8]).any()
    torch = torch_or_skip()
    tp = torch.nn.Parameter(torch.tensor(table))
    topt = torch.optim.Adadelta([tp], **kwargs)
    for g in grads:
        tp.grad = torch.tensor(g)
        topt.step()
    assert_close(np.nan_to_num(sparse), np.nan_to_num(tp.detach().numpy()), 1e-5, 1e-6, "Adadelta table")
