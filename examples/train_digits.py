"""The training loop written out: a small CNN on scikit-learn's bundled 8x8 digits.

    python examples/train_digits.py [--epochs 15] [--seed 0]

``juanji train`` does the same with progress bars, checkpoints and plots; this file shows
the loop itself: forward, loss, zero_grad, backward, step. The model is the registered
``digits_cnn`` (two 3x3 "same" conv-BN-ReLU-pool stages, a 64-unit head), trained with
Adam on 1,438 images and tested on the 359 held out.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import juanji
import juanji.functional as F
import juanji.nn as nn
from juanji.data import DataLoader, Digits
from juanji.models import get_model
from juanji.optim import Adam


def accuracy(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = total = 0
    with juanji.no_grad():
        for x, y in loader:
            correct += int((model(x).data.argmax(axis=1) == y.data).sum())
            total += len(y)
    model.train()
    return correct / total


def train(epochs: int = 15, batch_size: int = 32, lr: float = 3e-3, seed: int = 0,
          verbose: bool = True) -> tuple[nn.Module, float]:
    """Train ``digits_cnn`` and return the model and its held-out accuracy."""
    juanji.manual_seed(seed)
    train_loader = DataLoader(Digits(train=True), batch_size=batch_size, shuffle=True, seed=seed)
    test_loader = DataLoader(Digits(train=False), batch_size=256)
    model = get_model("digits_cnn")
    opt = Adam(model.parameters(), lr=lr)
    for epoch in range(1, epochs + 1):
        start, losses, seen = time.perf_counter(), [], 0
        for x, y in train_loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            seen += len(y)
        if verbose:
            print(f"epoch {epoch:2d}  loss {np.mean(losses):.4f}  "
                  f"test accuracy {accuracy(model, test_loader):.4f}  "
                  f"({seen / (time.perf_counter() - start):.0f} images/s)")
    acc = accuracy(model, test_loader)
    if verbose:
        print(f"final test accuracy on {len(test_loader.dataset)} held-out digits: {acc:.2%}")
    return model, acc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    train(a.epochs, a.batch_size, a.lr, a.seed)


if __name__ == "__main__":
    main()
