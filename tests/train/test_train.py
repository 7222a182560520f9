"""Trainer: learning happens, runs are bit-reproducible, resume is exact, callbacks and history work."""

from __future__ import annotations

import csv
import io
import math
import sys

import numpy as np
import pytest

import juanji
import juanji.nn as nn
from juanji.data.dataset import ArrayDataset
from juanji.data.loader import DataLoader
from juanji.optim import SGD, Adam
from juanji.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from juanji.train import (
    CSVLogger, EarlyStopping, History, LRSchedulerCallback, ModelCheckpoint, Trainer, load_checkpoint,
)


def _arrays(n=240, seed=0):
    """A separable 3-class problem on 1x6x6 images: the class is the brightest of three regions."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 6, 6)).astype(np.float32) * 0.5
    y = rng.integers(0, 3, n)
    for c, (r0, r1) in enumerate(((0, 2), (2, 4), (4, 6))):
        x[y == c, 0, r0:r1, :] += 0.6
    return x, y.astype(np.int64)


def _net():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Dropout(0.3), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


def _setup(seed=0, lr=1e-2, scheduler=None, metrics=("accuracy",)):
    juanji.manual_seed(seed)
    x, y = _arrays()
    model = _net()
    opt = Adam(model.parameters(), lr=lr)
    train = DataLoader(ArrayDataset(x[:180], y[:180]), batch_size=20, shuffle=True)  # seed drawn from juanji's rng
    val = DataLoader(ArrayDataset(x[180:], y[180:]), batch_size=32)
    sched = scheduler(opt) if scheduler else None
    return Trainer(model, opt, "cross_entropy", metrics=list(metrics), scheduler=sched), train, val


def _weights(trainer):
    return trainer.model.state_dict()


def _assert_same_weights(a, b):
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_learning_happens():
    trainer, train, val = _setup()
    first = trainer.evaluate(val)
    history = trainer.fit(train, val, epochs=6, verbose=False)
    last = trainer.evaluate(val)
    assert history["loss"][-1] < history["loss"][0] / 2, history["loss"]
    assert last["loss"] < first["loss"] / 2
    assert last["accuracy"] >= 0.9, last  # chance is 1/3
    assert len(history) == 6 and history["epoch"] == [1, 2, 3, 4, 5, 6]
    assert set(history.keys()) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time", "images_per_sec"}
    assert all(v > 0 for v in history["images_per_sec"])


def test_plain_list_of_batches_works():
    x, y = _arrays(60)
    juanji.manual_seed(0)
    model = _net()
    trainer = Trainer(model, SGD(model.parameters(), lr=0.5), metrics=[])
    batches = [(x[i:i + 20], y[i:i + 20]) for i in range(0, 60, 20)]  # NumPy arrays, not Tensors
    h = trainer.fit(batches, epochs=8, verbose=False)
    assert h["loss"][-1] < h["loss"][0] / 2


def test_same_seed_same_data_gives_bit_identical_weights():
    runs = []
    for _ in range(2):
        trainer, train, val = _setup(seed=3)
        trainer.fit(train, val, epochs=2, verbose=False)
        runs.append(_weights(trainer))
    _assert_same_weights(*runs)
    trainer, train, val = _setup(seed=4)
    trainer.fit(train, val, epochs=2, verbose=False)
    assert not np.array_equal(runs[0]["4.weight"], _weights(trainer)["4.weight"])


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, suffix):
    # Shuffling (loader seed drawn from juanji's generator), dropout and an LR schedule all on.
    sched = lambda opt: StepLR(opt, step_size=1, gamma=0.5)  # noqa: E731
    straight, train, val = _setup(seed=7, scheduler=sched)
    straight.fit(train, val, epochs=3, verbose=False)

    first, train, val = _setup(seed=7, scheduler=sched)
    first.fit(train, val, epochs=1, verbose=False, callbacks=[ModelCheckpoint(tmp_path, suffix=suffix)])
    # A new process, in effect: other seed, fresh model, optimizer, schedule and loader.
    resumed, train, val = _setup(seed=99, scheduler=sched)
    history = resumed.fit(train, val, epochs=3, verbose=False, resume=tmp_path / f"last{suffix}")
    _assert_same_weights(_weights(straight), _weights(resumed))
    assert resumed.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"] == 1e-2 / 8
    assert history["epoch"] == [1, 2, 3]
    assert history["loss"] == straight.history["loss"]
    assert history["val_loss"] == straight.history["val_loss"]


def test_resume_restores_callback_state(tmp_path):
    trainer, train, val = _setup()
    trainer.fit(train, val, epochs=2, verbose=False, callbacks=[ModelCheckpoint(tmp_path), EarlyStopping(patience=5)])
    stopper = EarlyStopping(patience=5)
    trainer2, train, val = _setup()
    trainer2.fit(train, val, epochs=2, verbose=False, resume=tmp_path / "last.safetensors",
                 callbacks=[ModelCheckpoint(tmp_path), stopper])
    assert trainer2.epoch == 2 and stopper.best == min(trainer.history["val_loss"])


def test_nan_loss_stops_with_the_epoch_and_step():
    trainer, train, val = _setup()
    calls = []
    real = trainer.loss_fn

    def poisoned(out, y):
        calls.append(1)
        loss = real(out, y)
        return loss * float("nan") if len(calls) == 9 + 3 else loss  # 9 steps per epoch

    trainer.loss_fn = poisoned
    before = trainer.model.state_dict()
    with pytest.raises(FloatingPointError, match=r"fit: the loss is nan at epoch 2, step 3 \(batch of 20\)"):
        trainer.fit(train, epochs=3, verbose=False)
    assert trainer.epoch == 1
    assert not np.array_equal(before["4.weight"], trainer.model.state_dict()["4.weight"])
    assert all(np.isfinite(p.data).all() for p in trainer.model.parameters())  # the bad step was not applied


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, as a console's does."""

    def isatty(self) -> bool:
        return True


def test_verbose_false_prints_nothing_and_verbose_shows_a_bar_on_a_terminal(capsys, monkeypatch):
    trainer, train, val = _setup()
    trainer.fit(train, val, epochs=1, verbose=False)
    trainer.evaluate(val)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    trainer.fit(train, val, epochs=2, verbose=True)
    err = terminal.getvalue()
    assert "epoch 2/2" in err and "loss=" in err and "val_loss=" in err and "img/s=" in err and "acc=" in err
    assert "\r" in err  # a bar redraws in place


def test_verbose_without_a_terminal_prints_one_line_per_epoch(capsys):
    # capsys' stderr is not a terminal, as a log file, a pipe or CI's is not
    trainer, train, val = _setup()
    trainer.fit(train, val, epochs=3, verbose=True)
    trainer.evaluate(val, verbose=True)
    out = capsys.readouterr()
    assert out.out == "" and "\r" not in out.err
    lines = out.err.splitlines()
    assert len(lines) == 3, out.err
    for epoch, line in enumerate(lines, start=1):
        h = trainer.history.records[epoch - 1]
        assert line == (f"epoch {epoch}/3: train loss {h['loss']:.4f} accuracy {h['accuracy']:.4f}, "
                        f"val loss {h['val_loss']:.4f} accuracy {h['val_accuracy']:.4f}, "
                        f"{h['time']:.2f} s ({h['images_per_sec']:.0f} img/s)")


def test_evaluate_and_predict_use_eval_mode_without_gradients():
    trainer, train, val = _setup()
    trainer.fit(train, epochs=2, verbose=False)
    x, y = _arrays()
    trainer.model.train()
    p1 = trainer.predict(x[180:], batch_size=7)
    p2 = trainer.predict(val)  # a loader of (x, y) batches
    assert trainer.model.training  # mode restored
    np.testing.assert_allclose(p1, p2, rtol=1e-6)  # dropout off: deterministic
    assert p1.shape == (60, 3)
    probs = trainer.predict(juanji.tensor(x[180:]), probabilities=True)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(probs.argmax(1), p1.argmax(1))
    res = trainer.evaluate(val)
    assert res["accuracy"] == pytest.approx(float((p1.argmax(1) == y[180:]).mean()))
    trainer.model.zero_grad()
    trainer.predict(val)
    trainer.evaluate(val)
    assert all(p.grad is None for p in trainer.model.parameters())
    with pytest.raises(ValueError, match="predict: an array input must be batched"):
        trainer.predict(np.zeros(3, np.float32))


def test_confusion_matrix_and_top_k_metrics_in_evaluate():
    trainer, train, val = _setup(metrics=("accuracy", "top2", "confusion_matrix"))
    h = trainer.fit(train, val, epochs=1, verbose=False)
    res = trainer.evaluate(val)
    assert res["confusion_matrix"].shape == (3, 3) and res["confusion_matrix"].sum() == 60
    assert res["top2_accuracy"] >= res["accuracy"]
    assert "confusion_matrix" not in h.keys() and "val_top2_accuracy" in h.keys()


def test_early_stopping_stops_and_can_restore_best(tmp_path):
    trainer, train, val = _setup()
    stopper = EarlyStopping(monitor="val_loss", patience=1, min_delta=10.0, restore_best_weights=True)
    h = trainer.fit(train, val, epochs=10, verbose=False, callbacks=[stopper])
    # Nothing improves by 10: epoch 1 is the best, epochs 2 and 3 are bad, stop after 3.
    assert len(h) == 3 and stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    ckpt_trainer, train, val = _setup()
    ckpt_trainer.fit(train, val, epochs=1, verbose=False)
    _assert_same_weights(ckpt_trainer.model.state_dict(), trainer.model.state_dict())


def test_early_stopping_mode_max_on_accuracy():
    trainer, train, val = _setup()
    stopper = EarlyStopping(monitor="val_accuracy", patience=0)
    trainer.fit(train, val, epochs=4, verbose=False, callbacks=[stopper])
    assert stopper._monitor.mode == "max"
    with pytest.raises(ValueError, match="patience must be an int >= 0"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'"):
        EarlyStopping(mode="up")


def test_model_checkpoint_best_and_last(tmp_path):
    trainer, train, val = _setup()
    cb = ModelCheckpoint(tmp_path / "ck", monitor="val_accuracy")
    h = trainer.fit(train, val, epochs=4, verbose=False, callbacks=[cb])
    last = load_checkpoint(tmp_path / "ck" / "last.safetensors")
    best = load_checkpoint(tmp_path / "ck" / "best.safetensors")
    assert last["epoch"] == 4
    best_row = h.best("val_accuracy", "max")
    assert best["epoch"] == cb.best_epoch == best_row["epoch"]
    assert cb.best == best_row["val_accuracy"]
    _assert_same_weights(last["model"], trainer.model.state_dict())
    assert last["history"] == h.records


def test_monitored_value_missing_is_a_clear_error():
    trainer, train, _ = _setup()
    with pytest.raises(ValueError, match="EarlyStopping: monitored quantity 'val_accuracy' is not in the epoch's logs"):
        trainer.fit(train, epochs=1, verbose=False, callbacks=[EarlyStopping(monitor="val_accuracy")])


def test_reduce_lr_on_plateau_gets_the_monitored_value():
    trainer, train, val = _setup(scheduler=lambda opt: ReduceLROnPlateau(opt, mode="min", patience=0, threshold=10.0,
                                                                          threshold_mode="abs"))
    h = trainer.fit(train, val, epochs=3, verbose=False)
    # threshold 10 (absolute): nothing after epoch 1 counts as better, so the lr falls after epochs 2 and 3.
    assert h["lr"] == pytest.approx([1e-2, 1e-2, 1e-3])
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert trainer.scheduler.best == h["val_loss"][0]


def test_lr_scheduler_callback():
    trainer, train, val = _setup()
    sched = StepLR(trainer.optimizer, step_size=1, gamma=0.1)
    h = trainer.fit(train, val, epochs=3, verbose=False, callbacks=[LRSchedulerCallback(sched)])
    assert h["lr"] == pytest.approx([1e-2, 1e-3, 1e-4])


def test_csv_logger_and_history_csv_and_plot(tmp_path):
    trainer, train, val = _setup()
    h = trainer.fit(train, val, epochs=3, verbose=False, callbacks=[CSVLogger(tmp_path / "log.csv")])
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["val_loss"]) for r in rows] == h["val_loss"]
    h.to_csv(tmp_path / "history.csv")
    again = History.from_csv(tmp_path / "history.csv")
    assert again.records == h.records  # floats exact through repr
    png = h.plot(tmp_path / "curves.png", title="test")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    from PIL import Image

    with Image.open(png) as im:
        assert im.size == (1000, 400)  # two panels (loss, accuracy) of 5x4 inches at 100 dpi
    assert h.curves() == ["loss", "accuracy"]


def test_csv_logger_appends_when_resuming(tmp_path):
    trainer, train, val = _setup()
    trainer.fit(train, val, epochs=2, verbose=False,
                callbacks=[ModelCheckpoint(tmp_path), CSVLogger(tmp_path / "log.csv")])
    trainer2, train, val = _setup()
    trainer2.fit(train, val, epochs=3, verbose=False, resume=tmp_path / "last.safetensors",
                 callbacks=[ModelCheckpoint(tmp_path), CSVLogger(tmp_path / "log.csv")])
    with open(tmp_path / "log.csv", newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3]


def test_history_basics_and_errors(tmp_path):
    h = History([{"epoch": 1, "loss": 2.0, "val_loss": 2.5}, {"epoch": 2, "loss": 1.0, "val_loss": math.nan}])
    assert h["loss"] == [2.0, 1.0] and h.best("val_loss")["epoch"] == 1
    with pytest.raises(KeyError, match="no column 'acc'"):
        h["acc"]
    with pytest.raises(ValueError, match="needs an 'epoch' entry"):
        h.append({"loss": 1.0})
    with pytest.raises(FileNotFoundError, match="no such file"):
        History.from_csv(tmp_path / "none.csv")
    with pytest.raises(ValueError, match="no epochs recorded"):
        History().plot(tmp_path / "x.png")


def test_bad_trainer_arguments():
    model = _net()
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        Trainer(model, opt, "hinge")
    with pytest.raises(TypeError, match="model must be a juanji.nn.Module"):
        Trainer(lambda x: x, opt)
    t = Trainer(model, opt)
    with pytest.raises(ValueError, match="epochs must be an int >= 0"):
        t.fit([], epochs=-1)
    with pytest.raises(ValueError, match="the training data yielded no batches in epoch 1"):
        t.fit([], epochs=1, verbose=False)
    with pytest.raises(TypeError, match=r"batch 1 must be an \(x, y\) pair"):
        t.fit([np.zeros((2, 1, 6, 6), np.float32)], epochs=1, verbose=False)
    with pytest.raises(TypeError, match="callbacks must be Callback objects"):
        t.fit([], epochs=1, callbacks=[print])


@pytest.mark.parametrize("val_label", ["validation", "test"])
def test_learning_curves_name_the_held_out_curve(tmp_path, plot_labels, val_label):
    # a caller that validates on a test set must be able to say so in the legend
    from juanji.train import History

    h = History([{"epoch": 1, "loss": 2.0, "val_loss": 2.5}, {"epoch": 2, "loss": 1.0, "val_loss": 1.5}])
    h.plot(tmp_path / "c.png", val_label=val_label)
    assert plot_labels == ["train", val_label]


def _bn_setup():
    juanji.manual_seed(0)
    x, y = _arrays()
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    trainer = Trainer(model, Adam(model.parameters(), lr=1e-2), metrics=[])
    return trainer, DataLoader(ArrayDataset(x[:180], y[:180]), batch_size=20, shuffle=True)


def test_a_buffer_that_overflows_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    # The loss can stay finite while BatchNorm's running variance is inf (the review's sgd lr 1e6
    # run ended at 8.9% accuracy with running_var = inf): the epoch's check must catch it.
    from juanji.train.trainer import DivergedError

    trainer, train = _bn_setup()

    class Overflow(juanji.train.Callback):
        def on_batch_end(self, trainer, step, logs):
            if trainer.epoch == 1 and step == 4:  # during epoch 2
                trainer.model[1].running_var.data[2] = np.inf

    ckpt = ModelCheckpoint(tmp_path, save_best=False)
    with pytest.raises(DivergedError, match=r"fit: the weights diverged in epoch 2 \(step 18\): "
                                            r"1\.running_var holds inf") as info:
        trainer.fit(train, epochs=3, callbacks=[ckpt, Overflow()], verbose=False)
    assert isinstance(info.value, FloatingPointError)
    assert trainer.epoch == 1
    saved = load_checkpoint(tmp_path / "last.safetensors")
    assert saved["epoch"] == 1 and all(np.isfinite(a).all() for a in saved["model"].values())


def test_save_checkpoint_refuses_non_finite_weights_and_leaves_the_file(tmp_path):
    from juanji.train.trainer import DivergedError

    trainer, train = _bn_setup()
    trainer.fit(train, epochs=1, verbose=False)
    path = tmp_path / "c.safetensors"
    trainer.save_checkpoint(path)
    good = path.read_bytes()
    trainer.model[4].weight.data[0, 0] = np.nan
    with pytest.raises(DivergedError, match=r"save_checkpoint: not writing '.*c\.safetensors': .*4\.weight holds nan"):
        trainer.save_checkpoint(path)
    assert path.read_bytes() == good
    with pytest.raises(DivergedError, match="4.weight holds nan"):
        trainer.check_finite()


# --- text batches, on_step_end and the max-norm constraint (issue 22) ---------------------------
def _token_loaders(seed=0, n=120):
    """Token ids (N, L) int64 whose class is which of three id ranges the sentence draws from."""
    from juanji.data import PadCollate, TextDataset, Vocab

    rng = np.random.default_rng(seed)
    words = [[f"a{i}" for i in range(8)], [f"b{i}" for i in range(8)], [f"c{i}" for i in range(8)]]
    y = rng.integers(0, 3, n)
    texts = [" ".join(rng.choice(words[c], size=int(rng.integers(2, 9)))) for c in y]
    tok = str.split
    vocab = Vocab.build(map(tok, texts))
    ds = TextDataset(texts, y.astype(np.int64), tok, vocab)
    loader = DataLoader(ds, batch_size=10, shuffle=True, seed=seed, collate_fn=PadCollate(), bucket_by=ds.lengths)
    return vocab, loader


def test_trains_on_int64_token_ids_and_names_samples_not_images(capsys):
    from juanji.models import textcnn

    vocab, loader = _token_loaders()
    x, _ = next(iter(loader))
    assert x.data.dtype == np.int64  # the batches hold ids, never floats
    juanji.manual_seed(0)
    model = textcnn(len(vocab.itos), 3, embed_dim=8, filter_sizes=(2, 3), num_filters=4)
    trainer = Trainer(model, Adam(model.parameters(), lr=1e-2), unit="sample")
    history = trainer.fit(loader, loader, epochs=8, verbose=True)
    assert history["loss"][-1] < history["loss"][0] * 0.5
    assert history["val_accuracy"][-1] >= 0.9
    err = capsys.readouterr().err
    assert "sample/s" in err and "img/s" not in err


def test_on_step_end_runs_right_after_every_optimizer_step():
    trainer, train, _ = _setup()
    seen = []

    class Spy(juanji.train.Callback):
        def on_step_end(self, tr, step):
            seen.append(("step_end", step, tr.global_step))

        def on_batch_end(self, tr, step, logs):
            seen.append(("batch_end", step, tr.global_step))

    real_step = trainer.optimizer.step

    def step():
        seen.append(("optimizer.step", None, trainer.global_step))
        real_step()

    trainer.optimizer.step = step
    trainer.fit(train, epochs=1, callbacks=[Spy()], verbose=False)
    n = len(train)
    expected = []
    for s in range(1, n + 1):
        expected += [("optimizer.step", None, s - 1), ("step_end", s, s), ("batch_end", s, s)]
    assert seen == expected


def test_max_norm_callback_keeps_the_rows_within_s_after_every_step():
    from juanji.models import textcnn
    from juanji.optim import Adadelta
    from juanji.train import MaxNormCallback

    vocab, loader = _token_loaders()
    norms = []

    class After(juanji.train.Callback):  # listed after the constraint: sees the weights the next step uses
        def on_step_end(self, tr, step):
            norms.append(np.linalg.norm(tr.model.fc.weight.data, axis=1).max())

    def run(callbacks):
        juanji.manual_seed(0)
        model = textcnn(len(vocab.itos), 3, embed_dim=8, filter_sizes=(2, 3), num_filters=4, max_norm=1.0)
        trainer = Trainer(model, Adadelta(model.parameters(), lr=50.0, rho=0.95))
        trainer.fit(loader, epochs=2, callbacks=callbacks, verbose=False)
        return model

    run([After()])
    unconstrained = list(norms)
    assert max(unconstrained) > 1.5  # the large lr does push rows past s
    norms.clear()
    model = run([MaxNormCallback(), After()])
    assert len(norms) == 2 * len(loader)
    assert max(norms) <= 1.0 + 1e-5
    assert np.linalg.norm(model.fc.weight.data, axis=1).max() <= 1.0 + 1e-5


def test_after_step_refuses_a_non_callable():
    from juanji.train import AfterStep

    with pytest.raises(TypeError, match="AfterStep: fn must be callable"):
        AfterStep(3)
    with pytest.raises(ValueError, match="Trainer: unit"):
        Trainer(_net(), Adam(_net().parameters()), unit="")


# --- scheduler_interval="step": a per-batch schedule (OneCycleLR) ------------------------------
def _onecycle_setup(seed, epochs=3, interval="step"):
    """_setup's problem with SGD + Nesterov and a OneCycleLR over ``epochs`` epochs of batches."""
    from juanji.optim.lr_scheduler import OneCycleLR

    juanji.manual_seed(seed)
    x, y = _arrays()
    model = _net()
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    train = DataLoader(ArrayDataset(x[:180], y[:180]), batch_size=20, shuffle=True)
    val = DataLoader(ArrayDataset(x[180:], y[180:]), batch_size=32)
    sched = OneCycleLR(opt, max_lr=0.05, total_steps=epochs * len(train))
    return Trainer(model, opt, metrics=["accuracy"], scheduler=sched, scheduler_interval=interval), train, val


def test_step_interval_steps_the_schedule_after_every_optimizer_step():
    torch = pytest.importorskip("torch")
    trainer, train, val = _onecycle_setup(seed=1)
    seen = []

    class LrAtBatchEnd(juanji.train.Callback):
        def on_batch_end(self, trainer, step, logs):  # the lr this batch was trained with
            seen.append(trainer.optimizer.param_groups[0]["lr"])

    history = trainer.fit(train, val, epochs=3, verbose=False, callbacks=[LrAtBatchEnd()])
    steps = -(-180 // 20)  # 9 batches an epoch
    # PyTorch's OneCycleLR on a torch SGD, stepped once per optimizer step, as the oracle.
    p = torch.nn.Parameter(torch.zeros(1))
    topt = torch.optim.SGD([p], lr=0.05, momentum=0.9, nesterov=True)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.05, total_steps=3 * steps)
    expected = []
    for _ in range(3 * steps):
        expected.append(topt.param_groups[0]["lr"])
        topt.step()
        tsched.step()
    assert trainer.global_step == 3 * steps and trainer.scheduler.last_epoch == 3 * steps
    assert seen == pytest.approx(expected, rel=1e-12, abs=0)
    # The history's lr column: the lr at the start of each epoch.
    assert history["lr"] == pytest.approx(expected[::steps], rel=1e-12, abs=0)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)
    assert trainer.optimizer.param_groups[0]["momentum"] == pytest.approx(topt.param_groups[0]["momentum"], rel=1e-12)


def test_epoch_interval_is_the_default_and_steps_once_per_epoch():
    trainer, train, val = _setup(scheduler=lambda opt: StepLR(opt, step_size=1, gamma=0.5))
    assert trainer.scheduler_interval == "epoch"
    trainer.fit(train, val, epochs=2, verbose=False)
    assert trainer.scheduler.last_epoch == 2 and trainer.history["lr"] == [1e-2, 1e-2 / 2]


def test_resume_mid_onecycle_run_is_bit_identical(tmp_path):
    straight, train, val = _onecycle_setup(seed=5)
    straight.fit(train, val, epochs=3, verbose=False)

    first, train, val = _onecycle_setup(seed=5)
    first.fit(train, val, epochs=1, verbose=False, callbacks=[ModelCheckpoint(tmp_path)])
    assert first.scheduler.last_epoch == 9  # stopped mid-cycle: 9 of 27 steps
    resumed, train, val = _onecycle_setup(seed=99)  # a new process, in effect
    history = resumed.fit(train, val, epochs=3, verbose=False, resume=tmp_path / "last.safetensors")
    _assert_same_weights(_weights(straight), _weights(resumed))
    assert resumed.scheduler.last_epoch == straight.scheduler.last_epoch == 27
    assert history["lr"] == straight.history["lr"] and history["loss"] == straight.history["loss"]
    assert resumed.optimizer.param_groups[0]["momentum"] == straight.optimizer.param_groups[0]["momentum"]


def test_bad_scheduler_interval():
    model = _net()
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="scheduler_interval must be 'epoch' or 'step', got 'batch'"):
        Trainer(model, opt, scheduler_interval="batch")
    with pytest.raises(ValueError, match="scheduler_interval='step' cannot step a ReduceLROnPlateau"):
        Trainer(model, opt, scheduler=ReduceLROnPlateau(opt), scheduler_interval="step")
