"""The juanji command line on text (issue 22): train / resume / predict / evaluate a TextCNN on tiny
corpora the tests write, Kim's defaults, the best-validation weights, max-norm, vectors, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import juanji
from juanji.cli import main, vectors_epochs
from juanji.data import Vocab

WORDS = {
    "food": "bread cheese apple soup cook eat dinner salt sugar bake".split(),
    "sport": "ball goal team match score run win player coach field".split(),
    "tech": "code bug server cpu disk linux compile byte network kernel".split(),
}
COMMON = "the a is and of to in it".split()
# Small enough to train in a second or two: the corpus, the widths and the epochs.
SMALL = ["--embed-dim", "12", "--num-filters", "6", "--filter-sizes", "2,3", "--quiet"]
FAST = ["--optimizer", "adam", "--lr", "0.02", "--batch-size", "20"]


def _sentences(n: int, seed: int, labels: str = "cycle") -> list[tuple[str, str]]:
    """n (label, text) pairs: each text mixes its class's words with common ones."""
    rng = np.random.default_rng(seed)
    classes = list(WORDS)
    rows = []
    for i in range(n):
        c = classes[i % 3] if labels == "cycle" else classes[int(rng.integers(0, 3))]
        own = classes[i % 3]
        toks = [str(rng.choice(WORDS[own])) if rng.random() < 0.6 else str(rng.choice(COMMON))
                for _ in range(int(rng.integers(3, 12)))]
        rows.append((c, " ".join(toks)))
    return rows


def _tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("label\ttext\n" + "".join(f"{c}\t{t}\n" for c, t in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("text")
    return _tsv(d / "train.tsv", _sentences(300, 0)), _tsv(d / "test.tsv", _sentences(60, 1))


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory):
    train, test = corpus
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--data", str(train), "--test", str(test), "--epochs", "6", *FAST, *SMALL,
                 "--out", str(out), "--overwrite"]) == 0
    return out


def _meta(path: Path) -> dict[str, str]:
    return juanji.io.read(path)[1]


def test_train_writes_a_text_run_that_predict_and_evaluate_read(run, corpus, capsys, tmp_path):
    for name in ("weights.safetensors", "vocab.json", "best.safetensors", "last.safetensors", "history.csv",
                 "config.json"):
        assert (run / name).is_file(), name
    meta = _meta(run / "weights.safetensors")
    kwargs = json.loads(meta["model_kwargs"])
    vocab = Vocab.load(run / "vocab.json")
    assert meta["model"] == "textcnn" and meta["input"] == "text"
    assert json.loads(meta["tokenizer"]) == {"kind": "word", "lower": True}
    assert json.loads(meta["classes"]) == ["food", "sport", "tech"]
    assert json.loads(meta["max_len"]) == 200
    assert kwargs["variant"] == "rand" and kwargs["vocab_size"] == len(vocab) == int(meta["vocab_size"])
    assert kwargs["filter_sizes"] == [2, 3] and kwargs["embed_dim"] == 12
    # every test word is a class word or a common one: the vocabulary (train split) holds them all
    assert set(vocab.itos) == {"<pad>", "<unk>", *COMMON, *(w for ws in WORDS.values() for w in ws)}

    capsys.readouterr()
    texts = ["bread cheese soup for dinner", "the team scored a goal", "a kernel bug on the server"]
    lines_file = tmp_path / "lines.txt"
    lines_file.write_text("\n".join(texts) + "\n\n", encoding="utf-8")
    assert main(["predict", "--weights", str(run / "weights.safetensors"), *sum((["--text", t] for t in texts), []),
                 "--text-file", str(lines_file), "--top-k", "2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 6  # 3 --text, 3 lines of the file (the blank one skipped)
    for line, want in zip(out, ["food", "sport", "tech"] * 2):
        top = line.split(": ", 1)[1].split(",")[0].split()
        assert top[0] == want, line
        assert 0.0 < float(top[1].rstrip("%")) <= 100.0
    assert main(["predict", "--weights", str(run / "weights.safetensors"), "--text", "zzz qqq"]) == 0
    assert "no token of it is in the vocabulary" in capsys.readouterr().out

    _, test = corpus
    assert main(["evaluate", "--weights", str(run / "weights.safetensors"), "--data", str(test), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"'{test}': 60 texts, 3 classes" in out
    acc = float(out.split("accuracy ")[1].split("%")[0]) / 100
    assert acc >= 0.9
    # the figure is the model's own on those texts, recomputed here by hand
    from juanji.data import PadCollate, TextDataset, WordTokenizer, read_delimited
    from juanji.models import textcnn
    from juanji.train import load_weights

    texts, labels, _ = read_delimited(test, classes=["food", "sport", "tech"])
    ds = TextDataset(texts, labels, WordTokenizer(), vocab, max_len=200)
    model = textcnn(**kwargs)
    load_weights(model, run / "weights.safetensors")
    model.eval()
    ids, y = PadCollate()([ds[i] for i in range(len(ds))])
    with juanji.no_grad():
        pred = np.asarray(model(juanji.tensor(ids)).data).argmax(axis=1)
    assert acc == pytest.approx(np.mean(pred == y), abs=1e-4)


def test_the_weights_are_those_of_the_best_validation_epoch(corpus, tmp_path, capsys):
    # Random labels and a large step: the model memorises the training set and its validation
    # loss climbs after the first epochs, so the best epoch is not the last one.
    train = _tsv(tmp_path / "noisy.tsv", _sentences(200, 3, labels="random"))
    out = tmp_path / "run"
    assert main(["train", "--data", str(train), "--test", str(corpus[1]), "--epochs", "8", "--optimizer", "adam",
                 "--lr", "0.05", "--batch-size", "20", "--val-split", "0.3", "--dropout", "0",
                 "--embed-dim", "16", "--num-filters", "16", "--filter-sizes", "2,3", "--out", str(out)]) == 0
    log = capsys.readouterr().out
    rows = [line.split(",") for line in (out / "history.csv").read_text().splitlines()]
    val = [float(r[rows[0].index("val_loss")]) for r in rows[1:]]
    best = int(np.argmin(val)) + 1
    assert best < len(val), val  # the setting above makes the last epoch not the best
    assert f"keeping the weights of epoch {best} (best validation loss {min(val):.4f}" in log
    weights = juanji.io.read(out / "weights.safetensors")[0]
    from juanji.train import load_checkpoint

    best_ckpt = load_checkpoint(out / "best.safetensors")["model"]
    last_ckpt = load_checkpoint(out / "last.safetensors")["model"]
    assert _meta(out / "weights.safetensors")["best_epoch"] == str(best)
    for k in weights:
        np.testing.assert_array_equal(weights[k], best_ckpt[k], err_msg=k)
    assert any(not np.array_equal(weights[k], last_ckpt[k]) for k in weights)


def test_kims_recipe_is_the_text_default(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(corpus[0]), "--epochs", "1", "--embed-dim", "8", "--out", str(out)]) == 0
    log = capsys.readouterr().out
    assert "batch 50, adadelta lr 1, max-norm 3" in log
    assert "30 test texts (test: 0.1 of the file held out (seed 0)" in log  # --test-split of 300
    assert "243 train / 27 validation" in log  # then --val-split 0.1 of the 270 left
    kwargs = json.loads(_meta(out / "weights.safetensors")["model_kwargs"])
    assert kwargs["filter_sizes"] == [3, 4, 5] and kwargs["num_filters"] == 100
    assert kwargs["dropout"] == 0.5 and kwargs["max_norm"] == 3.0
    from juanji.train import load_checkpoint

    opt = load_checkpoint(out / "last.safetensors")["optimizer"]
    assert opt["param_groups"][0]["rho"] == 0.95 and opt["param_groups"][0]["lr"] == 1.0


def test_resume_continues_a_text_run_exactly(corpus, tmp_path):
    args = ["train", "--data", str(corpus[0]), *FAST, *SMALL]
    assert main([*args, "--epochs", "3", "--out", str(tmp_path / "whole")]) == 0
    assert main([*args, "--epochs", "2", "--out", str(tmp_path / "part")]) == 0
    assert main([*args, "--epochs", "3", "--out", str(tmp_path / "part"),
                 "--resume", str(tmp_path / "part" / "last.safetensors")]) == 0
    a = juanji.io.read(tmp_path / "whole" / "weights.safetensors")[0]
    b = juanji.io.read(tmp_path / "part" / "weights.safetensors")[0]
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert (tmp_path / "whole" / "history.csv").read_text().count("\n") == 4


def test_max_norm_holds_after_training_with_a_large_step(corpus, tmp_path):
    def fc_norms(max_norm):
        out = tmp_path / f"run{max_norm}"
        assert main(["train", "--data", str(corpus[0]), "--epochs", "2", "--optimizer", "sgd", "--lr", "5",
                     "--momentum", "0", "--max-norm", max_norm, *SMALL, "--out", str(out)]) == 0
        for name in ("weights.safetensors", "last.safetensors", "best.safetensors"):
            w = juanji.io.read(out / name)[0]
            key = next(k for k in w if k.endswith("fc.weight"))
            yield np.linalg.norm(w[key], axis=1).max()

    assert max(fc_norms("0")) > 0.5  # without the constraint the rows grow past s
    assert max(fc_norms("0.25")) <= 0.25 + 1e-5


def test_a_text_folder_is_told_from_an_image_folder(tmp_path, capsys):
    root = tmp_path / "docs"
    for i, (c, t) in enumerate(_sentences(90, 4)):
        (root / c).mkdir(parents=True, exist_ok=True)
        (root / c / f"{i:03d}.txt").write_text(t, encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", "--data", str(root), "--epochs", "1", *SMALL, "--out", str(out)]) == 0
    assert json.loads(_meta(out / "weights.safetensors")["classes"]) == ["food", "sport", "tech"]


def test_vectors_from_a_file_and_trained_with_fasttext(corpus, tmp_path, capsys):
    vocab_words = [w for ws in WORDS.values() for w in ws][:20]
    vec = tmp_path / "v.vec"
    rng = np.random.default_rng(0)
    vec.write_text(f"{len(vocab_words)} 5\n" + "".join(
        w + " " + " ".join(f"{v:.4f}" for v in rng.normal(size=5)) + "\n" for w in vocab_words), encoding="utf-8")
    out = tmp_path / "static"
    assert main(["train", "--data", str(corpus[0]), "--epochs", "1", "--variant", "static", "--vectors", str(vec),
                 "--num-filters", "4", "--filter-sizes", "2", "--out", str(out)]) == 0
    log = capsys.readouterr().out
    assert f"vectors '{vec}': 5-d, 20/38 vocabulary tokens found (52.6% coverage)" in log
    kwargs = json.loads(_meta(out / "weights.safetensors")["model_kwargs"])
    assert kwargs["embed_dim"] == 5 and kwargs["variant"] == "static"
    # a static run predicts from its own file (the builder's vectors are replaced by the weights')
    assert main(["predict", "--weights", str(out / "weights.safetensors"), "--text", "bread"]) == 0

    if shutil.which("fasttext") is None:
        pytest.skip("Debian's fasttext is not installed")
    out = tmp_path / "trained"
    assert main(["train", "--data", str(corpus[0]), "--epochs", "1", "--variant", "non-static", "--train-vectors",
                 "--embed-dim", "10", "--num-filters", "4", "--filter-sizes", "2", "--out", str(out)]) == 0
    log = capsys.readouterr().out
    assert "trained 10-d skipgram vectors on the 243 training texts only: fasttext skipgram" in log
    # a tiny corpus gets the most epochs the default allows (see test_skipgram_epochs_grow_as_the_corpus_shrinks)
    assert " -epoch 50 " in log
    assert "38/38 vocabulary tokens found (100.0% coverage)" in log
    lines = (out / "vectors" / "train.txt").read_text().splitlines()
    assert len(lines) == 243  # the train split only: no validation or test text
    assert json.loads(_meta(out / "weights.safetensors")["model_kwargs"])["embed_dim"] == 10


def test_skipgram_epochs_grow_as_the_corpus_shrinks():
    # ~10 million token visits in all: 5 epochs (fastText's default) for a corpus of 2M tokens or
    # more, 30 for fortunes-topics' 338k, at most 50 for tiny corpora.
    assert [vectors_epochs(n) for n in (4_377_462, 2_000_000, 1_999_999, 337_668, 200_000, 1_000, 0)] == \
        [5, 5, 6, 30, 50, 50, 50]


def _fails(capsys, argv, status, *words):
    assert main(argv) == status
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"juanji {argv[0]}: error: "), err
    for w in words:
        assert w in err, err
    return err


def test_bad_text_input_is_one_line(run, corpus, tmp_path, capsys):
    w = str(run / "weights.safetensors")
    _fails(capsys, ["predict", "--weights", w, "--text", "ok", "--text", "  "], 2, "--text number 2 is empty")
    _fails(capsys, ["predict", "--weights", w], 2, "--text TEXT / --text-file PATH")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n", encoding="utf-8")
    _fails(capsys, ["predict", "--weights", w, "--text-file", str(blank)], 2, str(blank), "holds no text")
    _fails(capsys, ["predict", "--weights", w, "x.png"], 2, "is a text model")
    # a vocabulary that is not the weights': both files named
    other = Vocab(["a", "b"])
    other.save(tmp_path / "vocab.json")
    _fails(capsys, ["predict", "--weights", w, "--text", "x", "--vocab", str(tmp_path / "vocab.json")], 2,
           str(tmp_path / "vocab.json"), w, "has 4 tokens", "embedding rows")
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(w, lone / "weights.safetensors")
    _fails(capsys, ["predict", "--weights", str(lone / "weights.safetensors"), "--text", "x"], 2,
           str(lone / "vocab.json"), "--vocab")
    # an unknown label in a test file: read_delimited names the file and line
    bad = _tsv(tmp_path / "bad.tsv", [("food", "bread"), ("space", "rocket")])
    _fails(capsys, ["evaluate", "--weights", w, "--data", str(bad)], 1, f"{bad}:3", "unknown label 'space'")
    _fails(capsys, ["evaluate", "--weights", w], 2, "give its test file with --data")
    train = str(corpus[0])
    _fails(capsys, ["train", "--data", train, "--variant", "static", "--out", str(tmp_path / "r1")], 2,
           "--variant static needs pretrained vectors")
    vec = tmp_path / "v.vec"
    vec.write_text("2 3\nbread 1 2 3\nball 3 2 1\n", encoding="utf-8")
    _fails(capsys, ["train", "--data", train, "--variant", "static", "--vectors", str(vec), "--embed-dim", "300",
                    "--out", str(tmp_path / "r2")], 2, str(vec), "3-d vectors but --embed-dim is 300")
    vec.write_text("2 3\nbread 1 2 3\nball 3 2\n", encoding="utf-8")
    _fails(capsys, ["train", "--data", train, "--variant", "static", "--vectors", str(vec),
                    "--out", str(tmp_path / "r3")], 1, str(vec))
    _fails(capsys, ["train", "--data", train, "--model", "lenet5", "--out", str(tmp_path / "r4")], 2,
           "--model lenet5 takes images")
    _fails(capsys, ["train", "--data", "digits", "--model", "textcnn", "--out", str(tmp_path / "r5")], 2,
           "is not text")
    _fails(capsys, ["train", "--data", str(tmp_path / "none.tsv"), "--out", str(tmp_path / "r6")], 2,
           "no such file or folder")


def test_summary_of_textcnn_takes_a_sentence_length(capsys):
    assert main(["summary", "textcnn", "--input", "60", "--option", "embed_dim=64", "--num-classes", "11"]) == 0
    out = capsys.readouterr().out
    assert "input: (60,)" in out and "dtype: int64" in out
    # conv MACs by hand: sum over h of (60 - h + 1) windows x 100 filters x h x 64
    macs = sum((60 - h + 1) * 100 * h * 64 for h in (3, 4, 5))
    assert f"{macs:,} multiply-adds per sample of length 60" in out
    assert main(["summary", "textcnn", "--input", "3,8,8"]) == 2
    assert "sentence length" in capsys.readouterr().err


@pytest.mark.skipif(not Path("/usr/share/games/fortunes/de").is_dir(), reason="Debian's fortunes-de is not installed")
def test_fortunes_languages_trains_end_to_end(tmp_path, capsys):
    out = tmp_path / "lang"
    assert main(["train", "--data", "fortunes-languages", "--epochs", "1", "--max-len", "32", "--embed-dim", "8",
                 "--num-filters", "8", "--filter-sizes", "3", "--out", str(out)]) == 0
    log = capsys.readouterr().out
    assert "30102 train / 3866 validation / 3784 test texts (the corpus' own splits" in log
    assert json.loads(_meta(out / "weights.safetensors")["tokenizer"])["kind"] == "char"
    acc = float(log.split("test accuracy: ")[1].split("%")[0])
    assert acc > 50  # 11 classes: chance is under 11%
    assert main(["predict", "--weights", str(out / "weights.safetensors"), "--text", "Привет, как дела?"]) == 0
    assert capsys.readouterr().out.split(": ")[1].startswith("ru ")


def test_a_folder_holding_a_vocabulary_is_not_overwritten(corpus, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "vocab.json").write_text("my own", encoding="utf-8")
    _fails(capsys, ["train", "--data", str(corpus[0]), "--out", str(out)], 2, "already holds a run (vocab.json)")
    assert (out / "vocab.json").read_text(encoding="utf-8") == "my own"
