"""The bounded fuzz run of every file reader (tests/fuzz_readers.py), as CI runs it.

Every reader (IDX plain and gzip, CIFAR python (pickle protocols 2 and 5) and binary, PNG
and JPEG through load_image, .safetensors and .npz through juanji.io.read, weights into a
model through load_weights, and a checkpoint through Trainer.load_checkpoint) gets 300
byte-flipped and truncated variants of a valid file, in a child process whose address space
is capped at 512 MiB above its start-up size, each case with a 10 s alarm. A case passes
with a correct load or a ValueError naming the file; anything else is listed with the case
number that reproduces it (``python tests/fuzz_readers.py --formats NAME --only N``).

The longer run for release checks: ``python tests/fuzz_readers.py --cases 5000 --seed 1``.
"""

from __future__ import annotations

import pytest

from tests import fuzz_readers

pytest.importorskip("PIL", reason="Pillow (juanji[train]) decodes the image cases")
pytest.importorskip("safetensors", reason="safetensors (juanji[train]) writes the weights cases")


def test_fuzz_every_reader_bounded_run() -> None:
    report = fuzz_readers.run(cases=300, seed=0, timeout=600)
    formats = report["formats"]
    assert set(formats) == set(fuzz_readers.FORMATS)
    defects = {name: c["defects"][:3] for name, c in formats.items() if c["defects"]}
    assert not defects, f"readers that failed the fuzz run (first three each): {defects}"
    for name, c in formats.items():
        assert c["cases"] == 300, name
        # Both outcomes occur for every format: the mutations reach the readers' checks and
        # also leave loadable files (a harness that only ever made garbage would prove little).
        assert c["errors"] > 0, name
        if name != "idx-gzip":  # gzip's CRC catches nearly every flipped byte
            assert c["loads"] > 0, name


def test_mutations_are_reproducible_and_varied() -> None:
    data = bytes(range(256)) * 4
    first = [m for _, m in fuzz_readers.mutations(data, seed=3, count=50)]
    again = [m for _, m in fuzz_readers.mutations(data, seed=3, count=50)]
    assert first == again
    assert sum(m != data for m in first) >= 45  # a random byte may equal the one it replaces
    assert len({len(m) for m in first}) > 5  # truncations, deletions, duplications, appends
