"""juanji train's recipe options (the recipes issue): --scheduler onecycle, --warmup-epochs,
--label-smoothing, --random-erasing, --nesterov. Each reaches the object it configures, the lr
of a run follows PyTorch's schedules, a run interrupted mid-schedule resumes to the same bits,
the options round-trip through config.json, and every bad combination is one line."""

from __future__ import annotations

import argparse
import json
import shlex

import numpy as np
import pytest

import juanji
import juanji.functional as F
import juanji.train
from juanji import nn
from juanji.cli import build_model, build_parser, main, train_command

pytest.importorskip("sklearn", reason="scikit-learn provides the bundled digits (pip install -e '.[train]')")

BATCH = 100  # the digits' 1294 training images (1438 less 10% validation): 13 batches an epoch
QUICK = ["--batch-size", str(BATCH), "--quiet", "--no-report"]


@pytest.fixture
def trainers(monkeypatch):
    """Every Trainer juanji train builds, kept for the test to inspect after the run."""
    built = []

    class Recording(juanji.train.Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(juanji.train, "Trainer", Recording)
    return built


def _batches(loader) -> int:
    return sum(1 for _ in loader)  # counted by iterating, not by the loader's __len__


def _torch_lrs(make_schedule, lr: float, steps: int, **sgd) -> list[float]:
    """The lr of each of ``steps`` optimizer steps under a PyTorch schedule (the oracle)."""
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, **sgd)
    sched = make_schedule(torch.optim.lr_scheduler, opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs + [opt.param_groups[0]["lr"]]  # and the lr after the last step


def _history_lr(out) -> list[float]:
    import csv

    with open(out / "history.csv", newline="") as f:
        return [float(r["lr"]) for r in csv.DictReader(f)]


def test_help_shows_every_recipe_option(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    for words in ("--scheduler {none,cosine,step,plateau,onecycle}", "--warmup-epochs K", "--label-smoothing E",
                  "--random-erasing P", "--nesterov", "same smoothed loss", "stepped per batch"):
        assert words in text, words


def test_onecycle_spans_the_run_per_batch_with_nesterov_and_label_smoothing(tmp_path, trainers):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--optimizer", "sgd", "--lr", "0.05", "--nesterov",
                 "--scheduler", "onecycle", "--label-smoothing", "0.1", "--out", str(out), *QUICK]) == 0
    (trainer,) = trainers
    steps = _batches(trainer._train_loader)
    assert steps == 13
    sched = trainer.scheduler
    assert type(sched).__name__ == "OneCycleLR" and trainer.scheduler_interval == "step"
    assert sched.total_steps == 2 * steps and sched.last_epoch == 2 * steps and trainer.global_step == 2 * steps
    assert sched.cycle_momentum  # SGD with momentum 0.9: cycled
    group = trainer.optimizer.param_groups[0]
    assert type(trainer.optimizer).__name__ == "SGD" and group["nesterov"] is True
    assert isinstance(trainer.loss_fn, nn.CrossEntropyLoss) and trainer.loss_fn.label_smoothing == 0.1
    expected = _torch_lrs(lambda ls, o: ls.OneCycleLR(o, max_lr=0.05, total_steps=2 * steps), 0.05, 2 * steps,
                          momentum=0.9, nesterov=True)
    assert _history_lr(out) == pytest.approx(expected[0:2 * steps:steps], rel=1e-12, abs=0)
    assert group["lr"] == pytest.approx(expected[-1], rel=1e-12, abs=0)
    config = json.loads((out / "config.json").read_text())
    assert (config["scheduler"], config["nesterov"], config["label_smoothing"]) == ("onecycle", True, 0.1)


def test_without_the_options_nothing_changes(tmp_path, trainers):
    # The digits preset smooths its labels (cli.DIGITS_LABEL_SMOOTHING); --label-smoothing 0 is the
    # plain cross-entropy, and nothing else changes without the options.
    assert main(["train", "--epochs", "1", "--label-smoothing", "0", "--out", str(tmp_path / "run"), *QUICK]) == 0
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "preset"), *QUICK]) == 0
    trainer, preset = trainers
    assert trainer.loss_fn is F.cross_entropy and trainer.scheduler_interval == "epoch"
    assert type(trainer.scheduler).__name__ == "CosineAnnealingLR"  # the digits preset
    assert trainer._train_loader.transform is None
    assert trainer.optimizer.param_groups[0].get("nesterov") is None  # adam
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["warmup_epochs"], config["label_smoothing"], config["random_erasing"], config["nesterov"]) == \
        (0, 0.0, 0.0, False)
    assert isinstance(preset.loss_fn, nn.CrossEntropyLoss) and preset.loss_fn.label_smoothing == 0.1
    assert json.loads((tmp_path / "preset" / "config.json").read_text())["label_smoothing"] == 0.1


def test_onecycle_cycles_adams_beta1_and_not_a_momentum_sgd_lacks(tmp_path, trainers):
    assert main(["train", "--epochs", "1", "--scheduler", "onecycle", "--lr", "0.01", "--out",
                 str(tmp_path / "adam"), *QUICK]) == 0
    assert trainers[-1].scheduler.cycle_momentum and trainers[-1].optimizer.param_groups[0]["betas"][0] != 0.9
    assert main(["train", "--epochs", "1", "--scheduler", "onecycle", "--optimizer", "sgd", "--momentum", "0",
                 "--lr", "0.05", "--out", str(tmp_path / "sgd"), *QUICK]) == 0
    assert not trainers[-1].scheduler.cycle_momentum and trainers[-1].optimizer.param_groups[0]["momentum"] == 0
    assert main(["train", "--epochs", "1", "--scheduler", "onecycle", "--optimizer", "adagrad",
                 "--lr", "0.05", "--out", str(tmp_path / "adagrad"), *QUICK]) == 0
    assert not trainers[-1].scheduler.cycle_momentum


@pytest.mark.parametrize("after", ["cosine", "step", "none"])
def test_warmup_is_per_batch_then_the_schedule_over_the_epochs_left(tmp_path, trainers, after):
    out = tmp_path / after
    assert main(["train", "--epochs", "4", "--warmup-epochs", "1", "--scheduler", after, "--lr", "0.01",
                 "--out", str(out), *QUICK]) == 0
    (trainer,) = trainers
    steps = _batches(trainer._train_loader)
    assert trainer.scheduler_interval == "step" and trainer.global_step == 4 * steps

    def schedule(ls, opt):
        warm = ls.LinearLR(opt, start_factor=0.01, end_factor=1.0, total_iters=steps)
        if after == "none":
            return warm
        main_part = (ls.CosineAnnealingLR(opt, T_max=3 * steps) if after == "cosine"
                     else ls.StepLR(opt, step_size=1 * steps, gamma=0.1))  # (4 - 1) // 3 epochs
        return ls.SequentialLR(opt, [warm, main_part], milestones=[steps])

    expected = _torch_lrs(schedule, 0.01, 4 * steps)
    lrs = _history_lr(out)
    assert lrs == pytest.approx(expected[0:4 * steps:steps], rel=1e-9, abs=1e-15)
    assert lrs[0] == pytest.approx(1e-4) and lrs[1] == pytest.approx(0.01)  # lr/100, then lr at the warm-up's end
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(expected[-1], rel=1e-9, abs=1e-15)


def test_random_erasing_follows_translation_on_float_images(tmp_path, trainers):
    from juanji.data.transforms import Compose, RandomErasing, RandomTranslate, ToFloat

    assert main(["train", "--epochs", "1", "--augment", "1", "--random-erasing", "0.25",
                 "--out", str(tmp_path / "both"), *QUICK]) == 0
    transform = trainers[-1]._train_loader.transform
    assert isinstance(transform, Compose)
    assert [type(t) for t in transform.transforms] == [RandomTranslate, ToFloat, RandomErasing]
    assert transform.transforms[0].max_shift == (1, 1) and transform.transforms[2].p == 0.25
    # On the batches: erasing every image (p = 1) zeroes a rectangle of the [0, 1] images the
    # loader would give without it, and changes nothing else.
    firsts = []
    for p in ("0", "1"):
        assert main(["train", "--epochs", "1", "--random-erasing", p, "--out", str(tmp_path / p), *QUICK]) == 0
        firsts.append(np.asarray(next(iter(trainers[-1]._train_loader))[0].data))
    plain, erased = firsts
    assert erased.dtype == np.float32 and plain.max() == 1.0
    changed = plain != erased
    assert changed.reshape(len(plain), -1).any(axis=1).mean() > 0.9  # nearly every image (some rectangles miss)
    assert np.all(erased[changed] == 0)


def test_resnet20_builds_for_grayscale_fashion_mnist():
    model, kwargs = build_model("resnet20", 10, (1, 28, 28))
    assert kwargs == {"num_classes": 10, "in_channels": 1}
    with juanji.no_grad():
        assert model(juanji.tensor(np.zeros((2, 1, 28, 28), np.float32))).shape == (2, 10)


@pytest.mark.parametrize("schedule", [["--scheduler", "onecycle"], ["--warmup-epochs", "1", "--scheduler", "cosine"]])
def test_resume_mid_schedule_is_bit_exact(tmp_path, monkeypatch, schedule):
    args = ["train", "--epochs", "3", "--optimizer", "sgd", "--lr", "0.05", "--nesterov", "--label-smoothing", "0.1",
            "--augment", "1", "--random-erasing", "0.5", *schedule, *QUICK]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    # The same run stopped at the start of epoch 3 (a Ctrl-C), then resumed from its checkpoint.
    run_epoch = juanji.train.Trainer._run_epoch

    def interrupted(self, train, val, epoch, epochs, verbose):
        if epoch == 3:
            raise KeyboardInterrupt
        return run_epoch(self, train, val, epoch, epochs, verbose)

    monkeypatch.setattr(juanji.train.Trainer, "_run_epoch", interrupted)
    assert main([*args, "--out", str(tmp_path / "part")]) == 130
    monkeypatch.setattr(juanji.train.Trainer, "_run_epoch", run_epoch)
    last = tmp_path / "part" / "last.safetensors"
    assert juanji.train.load_checkpoint(last)["epoch"] == 2  # mid-schedule: 26 of 39 steps
    assert main([*args, "--out", str(tmp_path / "part"), "--resume", str(last)]) == 0
    a = juanji.io.read(tmp_path / "whole" / "weights.safetensors")[0]
    b = juanji.io.read(tmp_path / "part" / "weights.safetensors")[0]
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert _history_lr(tmp_path / "part") == _history_lr(tmp_path / "whole")


def test_resuming_a_one_cycle_run_with_another_length_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--scheduler", "onecycle", "--out", str(out), *QUICK]
    assert main([*args, "--epochs", "1"]) == 0
    capsys.readouterr()
    # The checkpoint's 13-step cycle would replace this run's 26-step one and end after a batch.
    assert main([*args, "--epochs", "2", "--resume", str(out / "last.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("juanji train: error: --resume ") and \
        "its one-cycle schedule spans 13 steps, but --epochs 2 x 13 batches is 26" in err, err


def test_the_options_round_trip_through_config_json(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--optimizer", "sgd", "--nesterov", "--warmup-epochs", "1",
                 "--scheduler", "step", "--label-smoothing", "0.05", "--random-erasing", "0.3", "--out", str(out),
                 *QUICK]) == 0
    config = json.loads((out / "config.json").read_text())
    command = train_command(config)
    for words in ("--nesterov", "--warmup-epochs 1", "--label-smoothing 0.05", "--random-erasing 0.3"):
        assert words in command, command
    parsed = vars(build_parser().parse_args(shlex.split(command)[1:]))
    assert {k: config[k] for k in ("nesterov", "warmup_epochs", "scheduler", "label_smoothing", "random_erasing")} \
        == {k: parsed[k] for k in ("nesterov", "warmup_epochs", "scheduler", "label_smoothing", "random_erasing")}


def _text_file(tmp_path):
    path = tmp_path / "tiny.tsv"
    path.write_text("label\ttext\n" + "".join(f"{'ab'[i % 2]}\tword{i % 2} other\n" for i in range(40)))
    return str(path)


@pytest.mark.parametrize("argv, message", [
    (["--nesterov"], "--nesterov is Nesterov momentum for --optimizer sgd; --optimizer adam has none"),
    (["--nesterov", "--optimizer", "rmsprop"], "--optimizer rmsprop has none"),
    (["--nesterov", "--optimizer", "sgd", "--momentum", "0"], "--nesterov needs --momentum > 0, got --momentum 0"),
    (["--warmup-epochs", "1", "--scheduler", "onecycle"],
     "--warmup-epochs cannot be combined with --scheduler onecycle, which has its own warm-up"),
    (["--warmup-epochs", "1", "--scheduler", "plateau"], "--warmup-epochs cannot be combined with --scheduler plateau"),
    (["--warmup-epochs", "3", "--epochs", "3"], "--warmup-epochs 3 must be fewer than --epochs 3"),
    (["--warmup-epochs", "40"], "--warmup-epochs 40 must be fewer than --epochs 40"),  # the digits preset's epochs
    (["TEXT", "--random-erasing", "0.5"], "--random-erasing erases rectangles of images; it does not apply to text"),
    (["TEXT", "--scheduler", "onecycle"], "--scheduler onecycle is for image runs; text runs train with Kim's recipe"),
    (["TEXT", "--warmup-epochs", "1"], "--warmup-epochs is for image runs"),
    (["TEXT", "--label-smoothing", "0.1"], "--label-smoothing is for image runs"),
    (["TEXT", "--nesterov", "--optimizer", "sgd"], "--nesterov is for image runs"),
])
def test_bad_combinations_are_one_line(tmp_path, capsys, monkeypatch, argv, message):
    if argv[0] == "TEXT":
        argv = ["--data", _text_file(tmp_path), *argv[1:]]
    # Refused before anything is trained (or, for the text checks, read).
    monkeypatch.setattr(juanji.train.Trainer, "fit", lambda *a, **k: pytest.fail("trained despite the error"))
    assert main(["train", *argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("juanji train: error: ") and err.count("\n") == 1, err
    assert message in err, err


@pytest.mark.parametrize("argv, message", [
    (["--label-smoothing", "1"], "argument --label-smoothing: must be in [0, 1), got 1"),
    (["--label-smoothing", "-0.1"], "argument --label-smoothing: must be in [0, 1), got -0.1"),
    (["--random-erasing", "1.5"], "argument --random-erasing: must be a probability in [0, 1], got 1.5"),
    (["--random-erasing", "nan"], "argument --random-erasing: must be a probability in [0, 1], got nan"),
    (["--warmup-epochs", "-1"], "argument --warmup-epochs: must be an integer >= 0, got -1"),
    (["--scheduler", "onecyle"], "argument --scheduler: invalid choice: 'onecyle'"),
])
def test_bad_values_are_refused_by_the_parser(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(["train", *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("juanji train: error: ") and message in err, err
