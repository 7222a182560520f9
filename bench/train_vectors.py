"""Train word vectors with fastText on a strfile corpus (Debian's fortunes) and report coverage and timing.

    python bench/train_vectors.py                       # the English fortune files, dim 100, 5 epochs
    python bench/train_vectors.py /usr/share/games/fortunes/{science,linux} --dim 50 --epochs 10
    python bench/train_vectors.py --out runs/vectors    # keep train.txt, vectors.vec and vectors.bin

Entries are read, split and tokenised by juanji.data (``read_strfile``, the fortunes corpora's
hash split ``split_of``, ``WordTokenizer``), so the split is the one the fortunes TextCNN data
sets use. ONLY the train entries are given to fastText: vectors trained on test sentences would
leak them into the test score. The script prints how much of the train vocabulary and of the
test tokens the vectors cover, the nearest neighbours of a few words, and the time of each step.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from juanji.data import Vocab, WordTokenizer, align_vectors, read_vectors, train_fasttext_vectors  # noqa: E402
from juanji.data.fortunes import ENGLISH_TOPICS, FORTUNES_ROOT, _read_fortune_file, split_of  # noqa: E402

ROOT = Path(FORTUNES_ROOT)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="*", type=Path, help="strfile text files (default: the English fortune files)")
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--min-count", type=int, default=2, help="fastText's -minCount and the vocabulary's")
    p.add_argument("--threads", type=int, default=1, help="1 (default) is deterministic; more are faster")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="where to keep the files (default: a temporary folder)")
    args = p.parse_args()

    files = args.files or [ROOT / name for name in ENGLISH_TOPICS if (ROOT / name).is_file()]
    if not files:
        raise SystemExit(f"train_vectors: no corpus files given and none found in {ROOT} (apt install fortunes)")
    t0 = time.perf_counter()
    tokenize = WordTokenizer(lower=True)
    entries = sorted({e for f in files for e in _read_fortune_file(f)})
    splits: dict[str, list[list[str]]] = {"train": [], "val": [], "test": []}
    for e in entries:
        splits[split_of(e)].append(tokenize(e))
    train, test = splits["train"], splits["test"]
    t_read = time.perf_counter() - t0
    print(f"corpus: {len(files)} files, {len(entries)} distinct entries; train {len(train)}, "
          f"val {len(splits['val'])}, test {len(test)} (only train is given to fastText); "
          f"{sum(map(len, train))} train tokens; read and tokenised in {t_read:.2f} s")

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        t0 = time.perf_counter()
        vec = train_fasttext_vectors([" ".join(t) for t in train], out, dim=args.dim, epochs=args.epochs,
                                     min_count=args.min_count, threads=args.threads, seed=args.seed)
        t_train = time.perf_counter() - t0
        vocab = Vocab.build(train, min_freq=args.min_count)
        t0 = time.perf_counter()
        words_all, _ = read_vectors(vec)
        t_read_all = time.perf_counter() - t0
        t0 = time.perf_counter()
        words, vectors = read_vectors(vec, vocab=vocab)
        t_read_vocab = time.perf_counter() - t0
        t0 = time.perf_counter()
        al = align_vectors(vocab, words, vectors, seed=args.seed)
        t_align = time.perf_counter() - t0
        size = vec.stat().st_size

    print(f"fastText skipgram dim {args.dim}, {args.epochs} epochs, minCount {args.min_count}, "
          f"{args.threads} thread(s): {t_train:.2f} s; {len(words_all)} vectors ({size / 1e6:.1f} MB .vec)")
    print(f"read_vectors: all {t_read_all:.3f} s, vocab-filtered {t_read_vocab:.3f} s; align {t_align:.3f} s")
    print(f"train vocabulary (min count {args.min_count}): {len(vocab) - 2} words, {al.found} with a vector "
          f"(coverage {al.coverage:.1%}); unknown rows drawn from U[-{al.scale:.3f}, {al.scale:.3f}]")
    known = set(words)
    test_tokens = [w for t in test for w in t]
    covered = sum(w in known for w in test_tokens)
    print(f"test tokens covered by a trained vector: {covered}/{len(test_tokens)} "
          f"({covered / max(len(test_tokens), 1):.1%})")
    unit = al.weights / np.maximum(np.linalg.norm(al.weights, axis=1, keepdims=True), 1e-12)
    for probe in ("computer", "love", "money", "god"):
        i = vocab.stoi.get(probe)
        if i is None or probe not in known:
            continue
        sims = unit @ unit[i]
        sims[[0, 1, i]] = -np.inf
        near = [vocab.itos[j] for j in np.argsort(-sims)[:6]]
        print(f"  nearest to {probe!r}: {', '.join(near)}")


if __name__ == "__main__":
    main()
