"""Checkpoints: nested state (optimizer, schedulers, rng) round-trips exactly, without pickle."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

import juanji
import juanji.functional as F
import juanji.nn as nn
from juanji.optim import SGD, Adam, AdamW, RMSprop
from juanji.optim.lr_scheduler import CosineAnnealingLR, MultiStepLR, ReduceLROnPlateau
from juanji.train import is_checkpoint, load_checkpoint, load_weights, pack, save_checkpoint, unpack


def _same(a, b, where="root"):
    """Deep equality that also demands equal types (tuple vs list, int vs float, dtype)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_pack_unpack_keeps_every_type():
    obj = {
        "state": {0: {"step": 3, "exp_avg": np.arange(3, dtype=np.float32)}, 1: {"step": 4}},
        "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "amsgrad": False, "params": [0, 1],
                          "param_names": ["a", "b"], "foreach": None}],
        "best": math.inf, "worst": -math.inf, "nan": math.nan,
        "milestones": Counter({30: 1, 80: 2}),
        "scalar": np.float32(1.5), "big": 2**100 + 1,
        "nested": ((1, 2), [3, (4,)]),
        "__j__": "a user key that looks like a tag",
    }
    tree, arrays = pack(obj, prefix="opt/")
    text = json.dumps(tree, allow_nan=False)  # strict JSON: no NaN/Infinity literals
    back = unpack(json.loads(text), arrays)
    _same(back, obj)
    assert set(arrays) == {"opt/state/0/exp_avg", "opt/scalar"}
    assert type(back["scalar"]) is np.float32


def test_pack_refuses_what_it_cannot_store():
    with pytest.raises(TypeError, match=r"cannot store object at 'a/0'"):
        pack({"a": [object()]})
    with pytest.raises(TypeError, match="only numeric arrays"):
        pack({"a": np.array(["x"])})


def _model():
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))


def _train_steps(model, opt, n, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x = juanji.tensor(rng.standard_normal((8, 4)).astype(np.float32))
        loss = F.cross_entropy(model(x), juanji.tensor(rng.integers(0, 3, 8)))
        opt.zero_grad()
        loss.backward()
        opt.step()


OPTIMIZERS = {
    "adam_amsgrad": lambda p: Adam(p, lr=1e-2, betas=(0.8, 0.99), amsgrad=True),
    "adamw": lambda p: AdamW(p, lr=1e-2, weight_decay=0.1),
    "sgd_nesterov": lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "rmsprop": lambda p: RMSprop(p, lr=1e-3, momentum=0.5, centered=True),
}


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_state_round_trips_and_training_continues_identically(tmp_path, name, suffix):
    juanji.manual_seed(0)
    model = _model()
    opt = OPTIMIZERS[name](model.parameters())
    _train_steps(model, opt, 3)
    path = save_checkpoint(tmp_path / f"c{suffix}", model.state_dict(), optimizer=opt.state_dict(), epoch=3)
    ckpt = load_checkpoint(path)
    _same(ckpt["optimizer"], opt.state_dict())
    step = ckpt["optimizer"]["state"][0].get("step")  # SGD keeps no step count
    assert step is None or (type(step) is int and step == 3)

    juanji.manual_seed(5)
    model2 = _model()
    opt2 = OPTIMIZERS[name](model2.parameters())
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optimizer"])
    _train_steps(model, opt, 2, seed=1)
    _train_steps(model2, opt2, 2, seed=1)
    for (k, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)


def test_scheduler_and_rng_state_round_trip(tmp_path):
    model = _model()
    opt = SGD(model.parameters(), lr=0.1)
    multi = MultiStepLR(opt, milestones=[2, 2, 5], gamma=0.5)
    cos = CosineAnnealingLR(SGD(model.parameters(), lr=0.1), T_max=7)
    plateau = ReduceLROnPlateau(SGD(model.parameters(), lr=0.1), mode="max", patience=1)
    for _ in range(3):
        multi.step()
        cos.step()
    plateau.step(0.5)
    juanji.randn(3)  # move the generator
    rng = juanji.get_rng_state()
    path = save_checkpoint(tmp_path / "c.npz", model.state_dict(), multi=multi.state_dict(),
                           cos=cos.state_dict(), plateau=plateau.state_dict(), rng=rng)
    ckpt = load_checkpoint(path)
    _same(ckpt["multi"], multi.state_dict())
    _same(ckpt["cos"], cos.state_dict())
    _same(ckpt["plateau"], plateau.state_dict())
    assert ckpt["plateau"]["mode_worse"] == -math.inf
    _same(ckpt["rng"], rng)
    expected = juanji.randn(4).data
    juanji.manual_seed(123)
    juanji.set_rng_state(ckpt["rng"])
    np.testing.assert_array_equal(juanji.randn(4).data, expected)


def test_checkpoint_versus_plain_weights(tmp_path):
    model = _model()
    ck = save_checkpoint(tmp_path / "c.safetensors", model.state_dict(), epoch=1)
    juanji.io.save(model.state_dict(), tmp_path / "w.safetensors", metadata={"model": "x"})
    assert is_checkpoint(ck) and not is_checkpoint(tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="holds weights but no training state"):
        load_checkpoint(tmp_path / "w.safetensors")
    other = _model()
    load_weights(other, ck)
    assert load_weights(other, tmp_path / "w.safetensors") == {"model": "x"}
    for a, b in zip(model.parameters(), other.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_checkpoint_with_unsupported_state_is_refused_before_writing(tmp_path):
    with pytest.raises(TypeError, match="cannot store function"):
        save_checkpoint(tmp_path / "c.npz", {}, callback=lambda: None)
    assert not (tmp_path / "c.npz").exists()


def test_checkpoint_of_one_optimizer_is_refused_by_another_at_load_time(tmp_path):
    juanji.manual_seed(0)
    model = _model()
    adam = Adam(model.parameters(), lr=1e-2)
    _train_steps(model, adam, 2)
    path = save_checkpoint(tmp_path / "c.safetensors", model.state_dict(), optimizer=adam.state_dict())
    sgd = SGD(_model().parameters(), lr=0.1, momentum=0.9)  # what `--optimizer sgd --resume` builds
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: the state_dict is Adam's, not SGD's"):
        sgd.load_state_dict(load_checkpoint(path)["optimizer"])
    assert len(sgd.state) == 0 and sgd.param_groups[0]["lr"] == 0.1
    # A checkpoint written before optimizer_class existed still resumes its own optimizer.
    old = adam.state_dict()
    del old["optimizer_class"]
    path = save_checkpoint(tmp_path / "old.npz", model.state_dict(), optimizer=old)
    again = Adam(_model().parameters(), lr=0.5)
    again.load_state_dict(load_checkpoint(path)["optimizer"])
    assert again.param_groups[0]["lr"] == 1e-2
    with pytest.raises(ValueError, match=r"lacks SGD's hyper-parameters .* \(it holds those of Adam or AdamW\)"):
        sgd.load_state_dict(load_checkpoint(path)["optimizer"])


@pytest.mark.parametrize("damage", ["optimizer", "epoch", "callbacks", "scheduler"])
def test_a_resume_that_does_not_fit_changes_nothing(tmp_path, damage):
    """The model part of this checkpoint fits, a later part does not: the trainer keeps all its
    own state (model, optimizer, rng, counters) and the error names the file."""
    from juanji.train import EarlyStopping, Trainer

    def net():
        juanji.manual_seed(1)
        return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))

    src = net()
    src_opt = Adam(src.parameters(), lr=0.1)
    F.cross_entropy(src(juanji.randn(5, 4)), juanji.tensor([0, 1, 0, 1, 1])).backward()
    src_opt.step()
    for p in src.parameters():
        p.data += 1.0  # the checkpoint's model differs from the trainer's in every entry
    state = {"epoch": 3, "optimizer": src_opt.state_dict(), "rng": juanji.get_rng_state(),
             "callbacks": [["EarlyStopping", EarlyStopping(patience=2).state_dict()]]}
    if damage == "optimizer":
        state["optimizer"] = SGD(src.parameters(), lr=0.1, momentum=0.9).state_dict()
    elif damage == "epoch":
        state["epoch"] = "three"
    elif damage == "callbacks":
        state["callbacks"] = [["EarlyStopping", {"best": "high", "wait": []}]]
    path = save_checkpoint(tmp_path / "last.safetensors", model=src.state_dict(), **state)

    model = net()
    opt = Adam(model.parameters(), lr=0.1)
    F.cross_entropy(model(juanji.randn(5, 4)), juanji.tensor([1, 1, 0, 0, 1])).backward()
    opt.step()
    sched = CosineAnnealingLR(opt, T_max=5) if damage == "scheduler" else None
    trainer = Trainer(model, opt, "cross_entropy", scheduler=sched)
    trainer._callbacks = [EarlyStopping(patience=2)]
    before_model = {k: v.copy() for k, v in model.state_dict().items()}
    before_opt = json.dumps(pack(opt.state_dict())[0], sort_keys=True)
    before_rng = juanji.get_rng_state()
    with pytest.raises(ValueError, match=str(path).replace(".", r"\.")):
        trainer.load_checkpoint(path)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before_model[k], err_msg=k)
    assert json.dumps(pack(opt.state_dict())[0], sort_keys=True) == before_opt
    assert juanji.get_rng_state() == before_rng
    assert trainer.epoch == 0 and trainer.global_step == 0
