"""TextCNN (Kim 2014) against fastText's supervised classifier, on exactly the same splits.

    python bench/textcnn_vs_fasttext.py                                   # both corpora, all variants, 3 seeds
    python bench/textcnn_vs_fasttext.py --data fortunes-languages --variants rand --seeds 0
    python bench/textcnn_vs_fasttext.py --variants "" --autotune-seconds 120   # fastText only
    python bench/textcnn_vs_fasttext.py --table                           # the table of what has run so far

The corpora are juanji's offline fortunes corpora (juanji.data.fortunes: train/validation/test
splits by a stable hash of each entry's text). fastText (Debian's ``fasttext`` command) reads the
same three splits, written in its ``__label__`` format: for seed 0 it is trained on the train
split with its hyper-parameters tuned on the validation split by its own
``-autotune-validation`` (for ``--autotune-seconds``), and the options it chose (from its log)
are recorded; the other seeds train with those options. Two
threads (``--fasttext-threads``), as juanji's BLAS on the 2-core reference machine; each model
is tested once on the test split.
Each TextCNN variant is the command line a user runs, ``juanji train --model textcnn --data NAME
--variant V --seed S`` with the recipe's defaults (Kim's: Adadelta, batch 50, dropout 0.5, max-norm
3, the weights of the best validation loss tested once); the pretrained variants train their word
vectors with fastText's skipgram on the train split only (``--train-vectors``).

Every finished run is appended to a JSON file (``--results``, default bench/results/textcnn.json)
and skipped when the script runs again, so a session that stops mid-way continues where it
stopped. The table gives, per corpus, each method's test accuracy as mean +- std over the seeds
run (with their count) and the median training time. Never part of the tests.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATASETS = ("fortunes-languages", "fortunes-topics")
VARIANTS = ("rand", "static", "non-static", "multichannel")


def _load_results(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.is_file() else []


def _save_result(path: Path, row: dict[str, Any]) -> None:
    from juanji.io import atomic_write

    rows = _load_results(path) + [row]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write((json.dumps(rows, indent=1) + "\n").encode()))


def _done(rows: list[dict[str, Any]], data: str, method: str, seed: int) -> bool:
    return any(r["data"] == data and r["method"] == method and r["seed"] == seed for r in rows)


def write_fasttext_splits(name: str, directory: Path) -> dict[str, Path]:
    """The corpus' train/val/test splits as fastText input files (``__label__CLASS text`` per line)."""
    from juanji.data import FORTUNES_DATASETS

    corpus = FORTUNES_DATASETS[name]()
    paths = {}
    for split in ("train", "val", "test"):
        texts, labels = corpus.split(split)
        path = directory / f"{name}.{split}.txt"
        with open(path, "w", encoding="utf-8") as f:
            for text, y in zip(texts, labels):
                # fastText reads one example per line; its labels may not hold spaces.
                f.write(f"__label__{corpus.classes[int(y)].replace(' ', '_')} {' '.join(text.split())}\n")
        paths[split] = path
    return paths


def _fasttext() -> str:
    exe = shutil.which("fasttext")
    if exe is None:
        raise SystemExit("fastText is missing: apt-get install fasttext")
    return exe


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=timeout)
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {e.returncode}):\n{e.stderr[-2000:]}") from e


# The options fastText's autotune tunes, as it prints them after "Best selected args" (with
# -verbose 3): a supervised run takes them back as -epoch 45 -lr 0.0455 ... (dsub, its other
# entry, belongs to quantization).
_TUNED = ("epoch", "lr", "dim", "minCount", "wordNgrams", "minn", "maxn", "bucket", "loss")


def tuned_args(log: str) -> list[str]:
    """The options autotune chose, from its log: ``["-epoch", "45", "-lr", "0.0455", ...]``."""
    if "Best selected args" not in log:
        raise RuntimeError(f"fastText's autotune printed no 'Best selected args':\n{log[-2000:]}")
    block = log.split("Best selected args", 1)[1]
    values = dict(re.findall(r"^(\w+) = (\S+)$", block, flags=re.M))
    missing = [k for k in _TUNED if k not in values]
    if missing:
        raise RuntimeError(f"fastText's autotune log lacks {missing} after 'Best selected args':\n{block[:2000]}")
    return [x for k in _TUNED for x in (f"-{k}", values[k])]


def test_accuracy(exe: str, model_bin: Path, test_file: Path) -> float:
    """The fraction of the test file's lines whose top prediction is their label (``fasttext
    test`` rounds its P@1 to three digits; this counts)."""
    predicted = _run([exe, "predict", str(model_bin), str(test_file), "1"], 600).stdout.split("\n")
    truth = [line.split(" ", 1)[0] for line in test_file.read_text(encoding="utf-8").splitlines()]
    if len(predicted) < len(truth) or any(p.strip() == "" for p in predicted[:len(truth)]):
        raise RuntimeError(f"fasttext predict gave {len(predicted)} lines for the {len(truth)} of '{test_file}'")
    return sum(p.strip() == t for p, t in zip(predicted, truth)) / len(truth)


def run_fasttext(name: str, seed: int, autotune_seconds: int, threads: int, workdir: Path,
                 tuned: list[str] | None) -> dict[str, Any]:
    """fastText on the corpus' splits: tuned on the validation split by ``-autotune-validation``
    when ``tuned`` is None (seed 0), else trained with those tuned options and this seed."""
    exe = _fasttext()
    paths = write_fasttext_splits(name, workdir)
    model = workdir / f"{name}.s{seed}"
    cmd = [exe, "supervised", "-input", str(paths["train"]), "-output", str(model)]
    if tuned is None:
        cmd += ["-autotune-validation", str(paths["val"]), "-autotune-duration", str(autotune_seconds)]
    else:
        cmd += tuned
    cmd += ["-thread", str(threads), "-seed", str(seed), "-verbose", "3" if tuned is None else "1"]
    start = time.perf_counter()
    # Autotune keeps to its budget, then trains once more with the best options it found:
    # allow that final run as long again, and a few minutes, before calling it hung.
    proc = _run(cmd, 2 * autotune_seconds + 600)
    seconds = time.perf_counter() - start
    accuracy = test_accuracy(exe, Path(str(model) + ".bin"), paths["test"])
    shown = ["fasttext", *(Path(c).name if Path(c).parent == workdir else c for c in cmd[1:])]
    return {"data": name, "method": "fastText", "seed": seed, "test_accuracy": accuracy, "seconds": seconds,
            "command": " ".join(shown), "tuned": " ".join(tuned if tuned is not None else tuned_args(proc.stdout.replace("\r", "\n")
                                                                             + proc.stderr.replace("\r", "\n")))}


def run_textcnn(name: str, variant: str, seed: int, workdir: Path, extra: list[str]) -> dict[str, Any]:
    out = workdir / f"{name}-{variant}-s{seed}"
    cmd = [sys.executable, "-m", "juanji.cli", "train", "--model", "textcnn", "--data", name, "--variant", variant,
           "--seed", str(seed), "--out", str(out), "--overwrite", *extra]
    if variant != "rand":
        cmd.append("--train-vectors")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    m = re.search(r"test accuracy: ([0-9.]+)%", proc.stdout)
    if m is None:
        raise RuntimeError(f"no test accuracy in the output of {' '.join(cmd)}:\n{proc.stdout[-2000:]}")
    shown = [c if c != sys.executable else "python" for c in cmd]
    return {"data": name, "method": f"TextCNN-{variant}", "seed": seed, "test_accuracy": float(m.group(1)) / 100,
            "seconds": seconds, "command": " ".join(shown[3:] if shown[:3] == ["python", "-m", "juanji.cli"] else shown)}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| corpus | method | test accuracy (mean ± std) | seeds | median time |", "|---|---|---:|---:|---:|"]
    for name in DATASETS:
        for method in ("fastText", *(f"TextCNN-{v}" for v in VARIANTS)):
            accs = [r["test_accuracy"] for r in rows if r["data"] == name and r["method"] == method]
            if not accs:
                continue
            times = [r["seconds"] for r in rows if r["data"] == name and r["method"] == method]
            std = statistics.stdev(accs) if len(accs) > 1 else 0.0
            when = f"{statistics.median(times):.0f} s"
            tuning = [r for r in rows if r["data"] == name and r["method"] == method and "autotune" in r["command"]]
            if tuning and len(times) > 1:  # the median is of the retraining; say what the tuning took
                when += f" (autotune run: {tuning[0]['seconds']:.0f} s)"
            lines.append(f"| {name} | {method} | {100 * statistics.mean(accs):.2f}% ± {100 * std:.2f} | "
                         f"{len(accs)} | {when} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=",".join(DATASETS), help="comma-separated corpora")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated TextCNN variants")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--no-fasttext", action="store_true", help="TextCNN runs only")
    p.add_argument("--autotune-seconds", type=int, default=300, help="fastText's autotune budget (seed 0)")
    p.add_argument("--fasttext-threads", type=int, default=2,
                   help="fastText's threads (default 2: the cores juanji's BLAS uses on the reference machine)")
    p.add_argument("--results", default=str(ROOT / "bench" / "results" / "textcnn.json"))
    p.add_argument("--workdir", default=None, help="where run folders go (default: a temporary folder)")
    p.add_argument("--table", action="store_true", help="print the table of the results so far and stop")
    p.add_argument("extra", nargs="*", help="after --, options passed to every juanji train")
    a = p.parse_args()
    results = Path(a.results)
    if a.table:
        print(table(_load_results(results)))
        return
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="textcnn-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in a.seeds.split(",")]
    for name in a.data.split(","):
        for seed in seeds:
            if not a.no_fasttext and not _done(_load_results(results), name, "fastText", seed):
                # Tuned once, on seed 0's run; the other seeds train with the options it chose.
                if seed != 0 and not _done(_load_results(results), name, "fastText", 0):
                    _save_result(results, run_fasttext(name, 0, a.autotune_seconds, a.fasttext_threads, work, None))
                tuned = None if seed == 0 else next(
                    r["tuned"].split() for r in _load_results(results)
                    if r["data"] == name and r["method"] == "fastText" and r["seed"] == 0)
                row = run_fasttext(name, seed, a.autotune_seconds, a.fasttext_threads, work, tuned)
                _save_result(results, row)
                print(f"{name} fastText seed {seed}: {100 * row['test_accuracy']:.2f}% in {row['seconds']:.0f} s",
                      flush=True)
            for variant in [v for v in a.variants.split(",") if v]:
                if _done(_load_results(results), name, f"TextCNN-{variant}", seed):
                    continue
                row = run_textcnn(name, variant, seed, work, a.extra)
                _save_result(results, row)
                print(f"{name} TextCNN-{variant} seed {seed}: {100 * row['test_accuracy']:.2f}% in "
                      f"{row['seconds']:.0f} s", flush=True)
    print(table(_load_results(results)))


if __name__ == "__main__":
    main()
