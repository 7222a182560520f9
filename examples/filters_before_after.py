"""What a first convolution learns: SimpleConvNet's 30 filters before and after training.

    python examples/filters_before_after.py [--epochs 2] [--limit N] [--out examples_out]

The tutorials' SimpleConvNet (conv 30@5x5, ReLU, max-pool 2, linear 100, ReLU, linear 10) is
drawn before training, when its first layer's kernels are random noise, trained with Adam on
Fashion-MNIST, and drawn again: the kernels have become detectors of edges at some angle, of
light-dark transitions and of blobs, the strokes the clothes are made of. Each 5x5 tile is
scaled to its own range, so grey is "the middle of this kernel's values", not zero.

The first layer starts as the tutorial starts it, with small N(0, 0.01) weights, so what
training adds dominates the picture after (two epochs move the weights by about 9 times
their initial size). PyTorch's default initialisation (``--torch-init``) draws weights up to
0.2, and two epochs move them by only about half their size: the "after" grid then looks
much like the "before" one, though that network is no worse (88% test accuracy after two
epochs; 86% from the small start).

Writes ``filters_before.png`` and ``filters_after.png`` into ``--out``. Two epochs of the
60,000 training images take about half a minute on two idle cores; ``--limit 500 --epochs 1``
(500 training and 500 test images) runs in seconds, and the filters then barely leave the noise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import juanji
import juanji.nn as nn
import juanji.viz as viz
from juanji.data import DataLoader, FashionMNIST, Subset
from juanji.models import get_model
from juanji.optim import Adam
from juanji.train import Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--limit", type=int, default=None,
                   help="use the first N training and test images (default: all 60,000 and 10,000)")
    p.add_argument("--torch-init", action="store_true",
                   help="keep PyTorch's default initialisation of conv1 instead of N(0, 0.01)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("examples_out"))
    a = p.parse_args()
    if a.epochs < 1 or (a.limit is not None and a.limit < 1):
        p.error("--epochs and --limit must be positive")
    try:
        train, test = FashionMNIST(train=True), FashionMNIST(train=False)
    except FileNotFoundError as e:
        sys.exit(str(e))
    if a.limit is not None:
        train, test = (Subset(d, range(min(a.limit, len(d)))) for d in (train, test))
    a.out.mkdir(parents=True, exist_ok=True)

    juanji.manual_seed(a.seed)
    model = get_model("simple_convnet")
    if not a.torch_init:
        nn.init.normal_(model.conv1.weight, 0.0, 0.01)   # the tutorial's weight_init_std
    before = viz.filters(model.conv1, name="conv1 before training")  # keeps a copy of the weights

    trainer = Trainer(model, Adam(model.parameters(), lr=a.lr))
    trainer.fit(DataLoader(train, batch_size=100, shuffle=True, seed=a.seed), epochs=a.epochs)
    result = trainer.evaluate(DataLoader(test, batch_size=500))
    print(f"after {a.epochs} epoch(s) on {len(train)} images: "
          f"{result['accuracy']:.2%} of {len(test)} test images right")
    after = viz.filters(model.conv1, name=f"conv1 after {a.epochs} epoch(s)")
    moved = np.linalg.norm(after.weight - before.weight) / np.linalg.norm(before.weight)
    print(f"conv1's weights moved by {moved:.0%} of their initial size")

    print(before.save(a.out / "filters_before.png"))
    print(after.save(a.out / "filters_after.png"))


if __name__ == "__main__":
    main()
