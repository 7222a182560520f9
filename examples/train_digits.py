"""Train a small CNN on scikit-learn's bundled 8x8 digits (no download needed).

    python examples/train_digits.py [--epochs 15] [--seed 0]

conv 16@3x3 same -> ReLU -> max-pool 2 -> conv 32@3x3 same -> ReLU -> max-pool 2
-> flatten -> linear 64 -> ReLU -> linear 10, trained with Adam on 1,437 images and
tested on the 360 held out. Prints the loss per epoch and the test accuracy.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import juanji
import juanji.functional as F
import juanji.nn as nn
from juanji.optim import Adam


def load_digits(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The 1,797 8x8 digits as float32 NCHW in [0, 1], split 80/20 with a fixed permutation."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as e:  # pragma: no cover - the README installs the [data] extra
        raise SystemExit("this example needs scikit-learn: pip install -e '.[train]'") from e
    digits = sk_load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]  # (1797, 1, 8, 8)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = len(x) // 5
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),   # (N, 16, 4, 4)
        nn.Conv2d(16, 32, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 2, 2)
        nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with juanji.no_grad():
        pred = model(juanji.from_numpy(x)).data.argmax(axis=1)
    model.train()
    return float((pred == y).mean())


def train(epochs: int = 15, batch_size: int = 32, lr: float = 3e-3, seed: int = 0,
          verbose: bool = True) -> tuple[nn.Module, float]:
    """Train and return the model and its test accuracy."""
    juanji.manual_seed(seed)
    x_train, y_train, x_test, y_test = load_digits(seed)
    model = make_model()
    opt = Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        start, losses = time.perf_counter(), []
        order = rng.permutation(len(x_train))
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(model(juanji.from_numpy(x_train[idx])), juanji.from_numpy(y_train[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        if verbose:
            print(f"epoch {epoch:2d}  loss {np.mean(losses):.4f}  "
                  f"test accuracy {accuracy(model, x_test, y_test):.4f}  "
                  f"({len(x_train) / (time.perf_counter() - start):.0f} images/s)")
    acc = accuracy(model, x_test, y_test)
    if verbose:
        print(f"final test accuracy on {len(x_test)} held-out digits: {acc:.2%}")
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
