"""The juanji command line: train / evaluate / predict on the bundled digits, help and clear errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import juanji
from juanji import io
from juanji.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "juanji", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    pytest.importorskip("sklearn", reason="scikit-learn provides the bundled digits (pip install -e '.[train]')")
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--epochs", "4", "--out", str(out), "--quiet"]) == 0
    return out


def test_help_for_every_command():
    for args in ([], ["train"], ["evaluate"], ["predict"]):
        res = _run(*args, "--help")
        assert res.returncode == 0, res.stderr
        assert "usage: juanji" in res.stdout
    assert "--batch-size" in _run("train", "--help").stdout
    assert "--top-k" in _run("predict", "--help").stdout


def test_train_writes_the_run_folder_and_learns(run_dir, capsys):
    names = {p.name for p in run_dir.iterdir()}
    assert {"weights.safetensors", "last.safetensors", "history.csv", "learning_curves.png", "config.json",
            "log.csv"} <= names
    with open(run_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"]) / 2
    assert float(rows[-1]["val_accuracy"]) > 0.8  # chance is 0.1
    meta = io.read(run_dir / "weights.safetensors")[1]
    assert meta["model"] == "digits_cnn" and json.loads(meta["input_shape"]) == [1, 8, 8]
    assert json.loads(meta["classes"]) == [str(d) for d in range(10)]
    assert (run_dir / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((run_dir / "config.json").read_text())["epochs"] == 4
    # The initial weights, kept for the report's filters before and after training: the same
    # names and shapes as the final ones, other values, and the model's metadata at epoch 0.
    initial, initial_meta = io.read(run_dir / "initial.safetensors")
    final = io.read(run_dir / "weights.safetensors")[0]
    assert list(initial) == list(final) and all(initial[k].shape == final[k].shape for k in final)
    assert not np.array_equal(initial["0.weight"], final["0.weight"])  # the first convolution moved
    assert initial_meta["model"] == "digits_cnn" and initial_meta["epochs"] == "0"


def test_train_quiet_prints_only_the_accuracy(tmp_path, capsys):
    assert main(["train", "--epochs", "1", "--out", str(tmp_path), "--quiet", "--format", "npz"]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert 0.1 < float(out.out.strip()) <= 1.0
    assert (tmp_path / "weights.npz").is_file()


def test_resume_continues_the_run(run_dir, tmp_path, capsys):
    out = tmp_path / "resumed"
    assert main(["train", "--epochs", "5", "--out", str(out), "--quiet",
                 "--resume", str(run_dir / "last.safetensors")]) == 0
    with open(out / "history.csv", newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3, 4, 5]


def test_evaluate_prints_accuracy(run_dir, capsys):
    assert main(["evaluate", "--weights", str(run_dir / "weights.safetensors"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "digits test set: 359 images, 10 classes" in out
    acc = float(out.split("accuracy ")[1].split("%")[0]) / 100
    # the same weights scored here, by hand, on the 359 test images (validation is held out of
    # the training set now, so history.csv's val_accuracy is another set's)
    from juanji.data import Digits
    from juanji.models import get_model
    from juanji.train import load_weights

    model = get_model("digits_cnn")
    load_weights(model, run_dir / "weights.safetensors")
    model.eval()
    test = Digits(train=False)
    with juanji.no_grad():
        predicted = np.asarray(model(juanji.tensor(test.data)).data).argmax(axis=1)
    assert acc == pytest.approx(np.mean(predicted == np.asarray(test.targets)), abs=1e-4)
    # a checkpoint works as --weights too, with the model given by name
    assert main(["evaluate", "--weights", str(run_dir / "last.safetensors"), "--model", "digits_cnn",
                 "--data", "digits", "--quiet"]) == 0


def test_predict_prints_top_k_with_probabilities(run_dir, tmp_path, capsys):
    from PIL import Image

    from juanji.data import Digits

    test = Digits(train=False)
    paths = []
    for i in range(3):
        img = (test.data[i, 0] * 255).astype(np.uint8)  # (8, 8) white-on-black, as trained
        big = Image.fromarray(img).resize((32, 32), Image.NEAREST)  # predict resizes back to 8x8
        paths.append(tmp_path / f"d{i}.png")
        big.save(paths[-1])
    assert main(["predict", *map(str, paths), "--weights", str(run_dir / "weights.safetensors"), "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for line, path in zip(lines, paths):
        name, rest = line.split(": ", 1)
        assert name == str(path)
        top = rest.split(", ")
        assert len(top) == 2
        probs = [float(t.split()[1].rstrip("%")) for t in top]
        assert 0 <= probs[1] <= probs[0] <= 100
    predicted = [line.split(": ")[1].split()[0] for line in lines]
    assert sum(p == str(int(test.targets[i])) for i, p in enumerate(predicted)) >= 2


def test_unknown_model_and_data_list_the_known_ones(tmp_path, capsys):
    assert main(["train", "--model", "resnet9000", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'resnet9000'; known models:" in err and "lenet5" in err and "simple_convnet" in err
    assert main(["train", "--data", "imagenet-22k", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown data set 'imagenet-22k'; known: digits, fashion-mnist, mnist, cifar10, cifar100" in err
    assert main(["train", "--data", "cifar10", "--out", str(tmp_path)]) == 2
    assert "--data cifar10 needs --root DIR" in capsys.readouterr().err


def test_model_that_does_not_fit_the_data_is_a_clear_error(tmp_path, capsys):
    pytest.importorskip("sklearn", reason="scikit-learn provides the bundled digits")
    assert main(["train", "--model", "lenet5", "--out", str(tmp_path)]) == 2
    assert "cannot build lenet5 for 1x8x8 images and 10 classes" in capsys.readouterr().err


def test_bad_weights_and_images(run_dir, tmp_path, capsys):
    assert main(["evaluate", "--weights", str(tmp_path / "none.safetensors")]) == 2
    assert "--weights: no such file" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "nope.png"), "--weights", str(run_dir / "weights.safetensors")]) == 2
    assert "no such image" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["predict", str(bad), "--weights", str(run_dir / "weights.safetensors")]) == 2
    assert "bad.png" in capsys.readouterr().err
    # an image model is given texts, or nothing at all: one line each
    assert main(["predict", "--text", "hello", "--weights", str(run_dir / "weights.safetensors")]) == 2
    assert "classifies images, not text: give image files" in capsys.readouterr().err
    assert main(["predict", "--weights", str(run_dir / "weights.safetensors")]) == 2
    assert "give image files to classify" in capsys.readouterr().err


def test_bad_arguments_exit_2():
    res = _run("train", "--epochs", "0")
    assert res.returncode == 2 and "must be a positive integer" in res.stderr
    res = _run("train", "--optimizer", "lbfgs")
    assert res.returncode == 2 and "invalid choice: 'lbfgs'" in res.stderr
    res = _run()
    assert res.returncode == 2 and "COMMAND" in res.stderr


def test_summary_command_prints_the_table(capsys):
    assert main(["summary", "lenet5", "--batch", "32", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "c3 (Conv2d)" in out and "(32, 16, 10, 10)" in out
    assert "Total params: 61,706" in out and "Training memory with Adam" in out
    assert main(["summary", "resnet18", "--input", "3,32,32"]) == 0
    assert "Total params: 11,689,512" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["summary", "resnet9000"], "unknown model 'resnet9000'; known models:"),
    (["summary", "lenet5", "--input", "1,28"], "--input must be three positive integers C,H,W"),
    (["summary", "lenet5", "--input", "a,b,c"], "--input must be C,H,W integers"),
])
def test_summary_command_bad_arguments(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_validation_is_held_out_of_training_and_the_test_set_measured_once(tmp_path, capsys, plot_labels):
    pytest.importorskip("sklearn", reason="scikit-learn provides the bundled digits")
    # the default: 10% of the 1,438 training images (143, random_split rounds down) held out, seeded
    # by --seed; never the test set
    assert main(["train", "--epochs", "2", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr()
    assert "1295 train / 143 validation / 359 test images (test measured once, at the end)" in out.out
    assert [line.split(": ")[0] for line in out.err.splitlines()] == ["epoch 1/2", "epoch 2/2"]
    assert all(", val loss " in line for line in out.err.splitlines())
    assert "test accuracy: " in out.out
    assert set(plot_labels) == {"train", "validation"}
    with open(tmp_path / "a" / "history.csv", newline="") as f:
        assert "val_accuracy" in next(csv.DictReader(f))
    # --val-split 0: no validation at all (the test set still only at the end)
    assert main(["train", "--epochs", "1", "--val-split", "0", "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr()
    assert "1438 train (no validation) / 359 test images" in out.out
    assert ", val " not in out.err
    with open(tmp_path / "b" / "history.csv", newline="") as f:
        assert not any(k.startswith("val_") for k in next(csv.DictReader(f)))


@pytest.mark.parametrize("argv,shown", [
    # each model at its own defaults (10 classes, 1x28x28), not with 1,000 classes
    (["summary", "lenet5"], ["input: (1, 28, 28)", "Total params: 61,706 "]),
    (["summary", "simple_convnet"], ["input: (1, 28, 28)", "Total params: 433,890 "]),
    (["summary", "signs_convnet"], ["input: (3, 64, 64)"]),
    (["summary", "lenet5", "--num-classes", "26"], ["Total params: 63,066 "]),  # 61,706 + 16 x 84 + 16
    # builder options: the 1998 LeNet-5 at its 32x32 input, with the paper's 60,000
    (["summary", "lenet5", "--option", "variant=original"], ["input: (1, 32, 32)", "Trainable params: 60,000 "]),
    # torchvision's GoogLeNet without the auxiliary classifiers: 6,624,904 parameters
    (["summary", "googlenet", "--option", "aux_logits=false", "--input", "3,64,64"], ["Total params: 6,624,904 "]),
])
def test_summary_uses_the_models_own_defaults_and_options(argv, shown, capsys):
    assert main(argv) == 0
    out = capsys.readouterr().out
    for text in shown:
        assert text in out, (text, out[:400])


@pytest.mark.parametrize("argv,message", [
    (["summary", "lenet5", "--option", "colour=red"],
     "--option colour: lenet5 has no such option; its options: num_classes, in_channels, variant, input_size"),
    (["summary", "lenet5", "--option", "variant"], "--option must be KEY=VALUE, got 'variant'"),
    (["summary", "lenet5", "--option", "variant=new"], "cannot build lenet5 with variant='new':"),
])
def test_summary_bad_options_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"juanji summary: error: {message}") and err.count("\n") == 1, err
