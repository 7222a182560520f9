"""The CLI under failure, as a user meets it: every expected failure is one line on stderr
(``juanji <command>: error: ...``) and a non-zero exit; ``--debug`` shows the traceback.

Divergence, a full disk, a read-only folder, running out of memory, hostile weights
metadata, two runs writing one folder, and output without a terminal.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import juanji
from juanji import io
from juanji.cli import main

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("sklearn", reason="scikit-learn provides the bundled digits (pip install -e '.[train]')")


def _run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """The CLI as a user runs it from a script or CI: no terminal on any stream."""
    return subprocess.run([sys.executable, "-m", "juanji", *args], cwd=ROOT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def _one_error_line(err: str, command: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"juanji {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A trained weights file of the default digits job (1 epoch is enough to have a file)."""
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    return out / "weights.safetensors"


def _with_meta(src: Path, dst: Path, **changes: str) -> Path:
    arrays, meta = io.read(src)
    meta.update(changes)
    io.save(arrays, dst, metadata=meta)
    return dst


# --- 1. divergence ----------------------------------------------------------------------------
def test_divergence_is_one_line_and_keeps_no_non_finite_weights(tmp_path):
    out = tmp_path / "run"
    res = _run("train", "--optimizer", "sgd", "--lr", "1e6", "--epochs", "3", "--out", str(out))
    assert res.returncode == 1, res.stderr
    line = _one_error_line(res.stderr, "train")
    assert "diverged" in line and "epoch 1" in line and ("nan" in line or "inf" in line), line
    # no weights file with NaN or inf was written
    assert not (out / "weights.safetensors").exists()
    for f in out.glob("*.safetensors"):
        for name, a in io.read(f)[0].items():
            assert np.isfinite(a).all(), (f, name)


def test_divergence_in_the_buffers_names_the_tensor_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    """A running variance that overflows while the loss stays finite (the review's sgd lr 1e6 run
    ended at 8.9% with running_var = inf) stops the run at the epoch's check."""
    from juanji.train import Trainer

    real = Trainer._train_epoch

    def poisoned(self, train, bar, epoch):
        logs = real(self, train, bar, epoch)
        if epoch == 2:
            bn = next(m for m in self.model.modules() if hasattr(m, "running_var"))
            bn.running_var.data[0] = np.inf
        return logs

    monkeypatch.setattr(Trainer, "_train_epoch", poisoned)
    out = tmp_path / "run"
    code = main(["train", "--epochs", "3", "--out", str(out), "--quiet"])  # digits_cnn: conv-BN stages
    assert code == 1
    line = _one_error_line(capsys.readouterr().err, "train")
    assert "1.running_var" in line and "inf" in line and "epoch 2" in line, line
    ckpt = juanji.train.load_checkpoint(out / "last.safetensors")
    assert ckpt["epoch"] == 1  # the good epoch-1 checkpoint was not replaced
    assert all(np.isfinite(a).all() for a in ckpt["model"].values())
    assert not (out / "weights.safetensors").exists()


# --- 2. one line for every expected failure, --debug for the traceback -----------------------
def _failing_save(err_no: int):
    real = io.save

    def save(state, path, *args, **kwargs):
        if Path(path).name.startswith("last."):
            raise OSError(err_no, os.strerror(err_no), str(path))
        return real(state, path, *args, **kwargs)
    return save


@pytest.mark.parametrize("err_no,words", [
    (errno.ENOSPC, "cannot write '{}': no space left on device"),
    (errno.EROFS, "cannot write '{}': read-only file system"),
    (errno.EACCES, "cannot access '{}': permission denied"),
])
def test_write_failures_are_one_line(tmp_path, monkeypatch, capsys, err_no, words):
    # Injected: this suite may run as root, for whom chmod does not block writes.
    monkeypatch.setattr(io, "save", _failing_save(err_no))
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(out), "--quiet"]) == 1
    line = _one_error_line(capsys.readouterr().err, "train")
    assert line == "juanji train: error: " + words.format(out / "last.safetensors"), line


def test_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(io, "save", _failing_save(errno.ENOSPC))
    for argv in (["--debug", "train"], ["train", "--debug"]):
        with pytest.raises(OSError) as info:
            main([*argv, "--epochs", "1", "--out", str(tmp_path / argv[0]), "--quiet"])
        assert info.value.errno == errno.ENOSPC


def test_out_of_memory_is_one_line(tmp_path, monkeypatch, capsys):
    from juanji.train import Trainer

    def fit(self, *args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(Trainer, "fit", fit)
    assert main(["train", "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 1
    line = _one_error_line(capsys.readouterr().err, "train")
    assert line == "juanji train: error: out of memory (try a smaller --batch-size or model)", line


def test_a_real_subprocess_failure_prints_no_traceback(tmp_path):
    # a file where the run folder should be: mkdir fails with an OSError the user must see as one line
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = _run("train", "--epochs", "1", "--out", str(blocker / "run"))
    assert res.returncode == 1
    line = _one_error_line(res.stderr, "train")
    assert str(blocker) in line, line


@pytest.mark.parametrize("key,value,shown", [
    ("classes", "not json", "'classes' must be a JSON list of class names"),
    ("classes", "5", "'classes' must be a JSON list of class names"),
    ("classes", "[]", "'classes' must be a JSON list of class names"),
    ("input_shape", "[1, 8]", "'input_shape' must be a JSON list of 3 positive integers"),
    ("input_shape", '"8x8"', "'input_shape' must be a JSON list of 3 positive integers"),
    ("input_shape", "[1, 8.5, 8]", "'input_shape' must be a JSON list of 3 positive integers"),
    ("input_shape", "[1, 100000, 100000]", "'input_shape' must be a JSON list of 3 positive integers"),
    ("input_shape", "[1000, 8, 8]", "'input_shape' must be a JSON list of 3 positive integers"),
    ("model_kwargs", "{not json", "'model_kwargs' must be a JSON object"),
    ("model_kwargs", "[1, 2]", "'model_kwargs' must be a JSON object"),
])
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_malformed_weights_metadata_is_one_line(weights, tmp_path, capsys, key, value, shown, command):
    bad = _with_meta(weights, tmp_path / "bad.safetensors", **{key: value})
    argv = ["predict", str(tmp_path / "any.png")] if command == "predict" else ["evaluate", "--quiet"]
    assert main([*argv, "--weights", str(bad)]) == 2
    line = _one_error_line(capsys.readouterr().err, command)
    assert line.startswith(f"juanji {command}: error: '{bad}': metadata {shown}"), line
    assert repr(value) in line, line  # names the value found


def test_huge_input_shape_is_refused_before_allocating(weights, tmp_path):
    """The review's 4.66 TiB: refused by the metadata check (exit 2, the file and value named),
    not met as an allocation failure (which would be exit 1, "out of memory")."""
    from PIL import Image

    bad = _with_meta(weights, tmp_path / "huge.safetensors", input_shape="[1, 100000, 100000]")
    img = tmp_path / "d.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(img)
    res = _run("predict", str(img), "--weights", str(bad))
    assert res.returncode == 2
    line = _one_error_line(res.stderr, "predict")
    assert line == (f"juanji predict: error: '{bad}': metadata 'input_shape' must be a JSON list of 3 positive "
                    f"integers [C, H, W] with C <= 4 and H, W <= 4096, got '[1, 100000, 100000]'"), line


# --- 4. one run per folder --------------------------------------------------------------------
def test_a_folder_in_use_or_holding_a_run_is_refused(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "juanji", "train", "--epochs", "200", "--out", str(out)],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / "config.json").exists():
            assert first.poll() is None, "the first run ended early"
            assert time.monotonic() < deadline, "the first run never wrote its config"
            time.sleep(0.2)
        second = _run("train", "--epochs", "1", "--out", str(out))
        assert second.returncode == 2
        line = _one_error_line(second.stderr, "train")
        assert line == f"juanji train: error: --out '{out}' is in use by another juanji train (locked: '{out / '.lock'}')"
        # even --overwrite does not write into a folder another run holds
        assert _run("train", "--epochs", "1", "--out", str(out), "--overwrite").returncode == 2
    finally:
        first.send_signal(signal.SIGKILL)  # a killed run leaves no stale lock
        first.wait()
    third = _run("train", "--epochs", "1", "--out", str(out))
    assert third.returncode == 2
    line = _one_error_line(third.stderr, "train")
    assert line.startswith(f"juanji train: error: --out '{out}' already holds a run (config.json"), line
    assert "--overwrite" in line and "--resume" in line
    assert _run("train", "--epochs", "1", "--out", str(out), "--overwrite", "--quiet").returncode == 0
    # resuming from the folder's own checkpoint is allowed, and continues it
    res = _run("train", "--epochs", "2", "--out", str(out), "--resume", str(out / "last.safetensors"), "--quiet")
    assert res.returncode == 0, res.stderr
    assert [r.split(",")[0] for r in (out / "history.csv").read_text().splitlines()[1:]] == ["1", "2"]


# --- 5. no progress bar without a terminal ----------------------------------------------------
def test_without_a_terminal_one_line_per_epoch(tmp_path):
    res = _run("train", "--epochs", "3", "--out", str(tmp_path / "run"))
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stderr and "\r" not in res.stdout
    lines = res.stderr.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"], res.stderr
    for ln in lines:
        assert "train loss " in ln and "accuracy " in ln and "val loss " in ln and " s " in ln + " ", ln


def test_overwrite_replaces_the_old_run_whole_and_keeps_other_files(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("config.json", "weights.npz", "best.safetensors", "log.csv"):
        (out / name).write_text("old run")
    (out / "notes.txt").write_text("mine")
    assert main(["train", "--epochs", "1", "--out", str(out), "--quiet"]) == 2
    assert (out / "weights.npz").read_text() == "old run"  # refused: nothing touched
    assert main(["train", "--epochs", "1", "--out", str(out), "--quiet", "--overwrite"]) == 0
    names = {p.name for p in out.iterdir()}
    assert "weights.npz" not in names and "best.safetensors" not in names  # no mix of two runs
    assert {"weights.safetensors", "last.safetensors", "config.json", "log.csv", "notes.txt"} <= names
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "config.json").read_text())["overwrite"] is True


def test_out_of_memory_in_predict_is_one_line(weights, tmp_path, monkeypatch, capsys):
    from PIL import Image

    from juanji.train import Trainer

    def predict(self, *args, **kwargs):
        raise MemoryError("Unable to allocate 4.66 TiB for an array")

    monkeypatch.setattr(Trainer, "predict", predict)
    img = tmp_path / "d.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(img)
    assert main(["predict", str(img), "--weights", str(weights)]) == 1
    assert _one_error_line(capsys.readouterr().err, "predict") == "juanji predict: error: out of memory"
