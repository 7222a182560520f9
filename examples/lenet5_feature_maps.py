"""What each layer of LeNet-5 sees: the feature maps of one Fashion-MNIST test image.

    python examples/lenet5_feature_maps.py [--epochs 1] [--limit N] [--index 0] [--out examples_out]

LeNet-5 (modern: ReLU and max pooling) is trained briefly on Fashion-MNIST, then one test
image is passed through it and every layer's output is drawn, each channel scaled to its own
range:

    c1    (6, 28, 28)   six 5x5 filters: edges and light or dark regions of the garment
    relu1 (6, 28, 28)   the same maps with the negative responses cut to 0
    s2    (6, 14, 14)   2x2 max pooling: the strongest response of each 2x2 block, half the size
    c3    (16, 10, 10)  sixteen 5x5 filters over all six maps: combinations of edges, coarser parts
    relu3 (16, 10, 10)  some channels are all 0 for this image (drawn as one flat colour)
    s4    (16, 5, 5)    little of the picture is left: which part is where

The deeper the layer, the smaller and more abstract its maps (Zeiler & Fergus 2014); the
linear layers after s4 see only these 400 numbers.

Writes ``lenet5_input.png`` (the image, its class and the prediction) and
``lenet5_feature_maps.png`` into ``--out``. One epoch of the 60,000 training images takes
about ten seconds on two idle cores; ``--limit 500`` (500 training images) runs in seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import juanji
import juanji.viz as viz
from juanji.data import DataLoader, FashionMNIST, Subset
from juanji.models import get_model
from juanji.optim import Adam
from juanji.train import Trainer

LAYERS = ["c1", "relu1", "s2", "c3", "relu3", "s4"]  # names from model.named_modules()


def save_image(image: np.ndarray, title: str, path: Path) -> Path:
    """One grey image (H, W) in [0, 1] as a small PNG (a matplotlib Figure: no pyplot, no window)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.6, 2.9), layout="constrained")
    ax = fig.subplots()
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    fig.savefig(path, dpi=100)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--limit", type=int, default=None, help="train on the first N images (default: all 60,000)")
    p.add_argument("--index", type=int, default=0, help="which test image to look at (0-9,999)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("examples_out"))
    a = p.parse_args()
    if a.epochs < 1 or (a.limit is not None and a.limit < 1):
        p.error("--epochs and --limit must be positive")
    try:
        train, test = FashionMNIST(train=True), FashionMNIST(train=False)
    except FileNotFoundError as e:
        sys.exit(str(e))
    if not 0 <= a.index < len(test):
        p.error(f"--index must be in [0, {len(test)})")
    if a.limit is not None:
        train = Subset(train, range(min(a.limit, len(train))))
    a.out.mkdir(parents=True, exist_ok=True)

    juanji.manual_seed(a.seed)
    model = get_model("lenet5")  # 28x28 input: c1 pads by 2, as if the image were 32x32
    trainer = Trainer(model, Adam(model.parameters(), lr=2e-3))
    trainer.fit(DataLoader(train, batch_size=128, shuffle=True, seed=a.seed), epochs=a.epochs)

    image, label = test[a.index]                  # (1, 28, 28) uint8, int
    x = image.astype(np.float32) / 255            # in [0, 1], as the DataLoader scales it
    probs = trainer.predict(x[None], probabilities=True)[0]
    guess = int(probs.argmax())
    said = f"LeNet-5 says {test.classes[guess]} ({probs[guess]:.0%})"
    print(f"test image {a.index}: {test.classes[label]}; {said}")

    picture = viz.feature_maps(model, x, layers=LAYERS)
    for name in picture.layers:
        print(f"  {name:6s} {picture.maps[name].shape}")
    print(save_image(x[0], f"test image {a.index}: {test.classes[label]}\n{said}", a.out / "lenet5_input.png"))
    print(picture.save(a.out / "lenet5_feature_maps.png"))


if __name__ == "__main__":
    main()
