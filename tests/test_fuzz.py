"""The bounded fuzz run of every file reader (tests/fuzz_readers.py), as CI runs it.

Every reader juanji has (the targets listed in tests/fuzz_readers.py: IDX, MNIST, CIFAR python,
meta and binary files, safe_unpickle at pickle protocols 2, 4 and 5, JPEG, PNG, ImageFolder,
.safetensors and .npz through juanji.io.read and load_weights, a checkpoint through
Trainer.load_checkpoint) gets 300 byte-flipped and truncated variants of a valid file, in a
child process whose address space is capped at 512 MiB above its start-up size, each case
under a 10 s alarm. A case passes with a believable load or a ValueError holding the file's
path (and a model left as it was); anything else is listed with the case number that
reproduces it (``python tests/fuzz_readers.py --targets NAME --only N``).

The longer run for release checks: ``python tests/fuzz_readers.py --cases 5000 --seed 1``.
"""

from __future__ import annotations

import pytest

from tests import fuzz_readers

pytest.importorskip("PIL", reason="Pillow (juanji[train]) decodes the image cases")
pytest.importorskip("safetensors", reason="safetensors (juanji[train]) writes the weights cases")


def test_fuzz_every_reader_bounded_run() -> None:
    report = fuzz_readers.run(cases=300, seed=0, timeout=600)
    targets = report["targets"]
    assert len(targets) >= 20, sorted(targets)
    defects = {name: c["defects"][:3] for name, c in targets.items() if c["defects"]}
    assert not defects, f"readers that failed the fuzz run (first three each): {defects}"
    for name, c in targets.items():
        assert c["cases"] == 300, name
        # Every reader met damage it had to refuse; and the mutations also left loadable
        # files (a harness that only ever made garbage would prove little), except behind
        # gzip's CRC, which catches nearly every damaged byte.
        assert c["errors"] > 0, name
        if "gzip" not in name and "MNIST images" not in name:
            assert c["loads"] > 0, name


def test_mutations_are_reproducible_and_varied() -> None:
    data = bytes(range(256)) * 4
    first = [m for _, m in fuzz_readers.mutations(data, seed=3, count=200)]
    assert first == [m for _, m in fuzz_readers.mutations(data, seed=3, count=200)]
    assert first != [m for _, m in fuzz_readers.mutations(data, seed=4, count=200)]
    assert sum(m != data for m in first) >= 190  # a random byte may equal the one it replaces
    assert sum(len(m) < len(data) for m in first) > 20 and sum(len(m) > len(data) for m in first) > 20
    assert sum(len(m) == len(data) and m != data for m in first) > 80
    # Positions favour the headers: most same-length changes touch the first 256 bytes.
    heads = [m for m in first if len(m) == len(data) and m != data]
    assert sum(m[:256] != data[:256] for m in heads) > len(heads) // 3
