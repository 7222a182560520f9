"""Where a trained network looks, and how it errs: Grad-CAM, saliency, the confusion matrix.

    python examples/grad_cam.py [--epochs 1] [--limit N] [--images 3] [--out examples_out]

SimpleConvNet (conv 30@5x5, ReLU, max-pool 2, linear 100, ReLU, linear 10) is trained on
Fashion-MNIST, then asked *why* it predicts what it does:

- ``saliency_I.png`` (Simonyan et al. 2013): the gradient of the class score with respect to
  every pixel, |dy/dx|. Bright pixels are the ones where a small change moves the score most:
  usually the garment's outline, the places where one class differs from another.
- ``grad_cam_I.png`` (Selvaraju et al. 2017): the conv layer's 30 maps, each weighted by how
  much the class score depends on it on average, summed, negative evidence cut off. Here the
  one conv layer sees the image at 24x24, so the heatmap is sharp; in deep nets it is coarse.
- ``grad_cam_mistake_pred.png`` / ``..._true.png``: the most confident mistake, explained for
  the class the net chose and for the right one: where each class found its evidence.
- ``confusion_matrix.png``, ``per_class_accuracy.png``: which classes are confused with which
  (shirts, T-shirts, pullovers and coats with each other; trousers and bags hardly ever).
- ``misclassified.png``: the mistakes made with the most confidence.

One epoch of the 60,000 training images takes about fifteen seconds on two idle cores;
``--limit 500`` (500 training and 500 test images) runs in seconds.
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--limit", type=int, default=None,
                   help="use the first N training and test images (default: all 60,000 and 10,000)")
    p.add_argument("--images", type=int, default=3, help="how many test images to explain")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("examples_out"))
    a = p.parse_args()
    if a.epochs < 1 or a.images < 1 or (a.limit is not None and a.limit < 1):
        p.error("--epochs, --images and --limit must be positive")
    try:
        train, test = FashionMNIST(train=True), FashionMNIST(train=False)
    except FileNotFoundError as e:
        sys.exit(str(e))
    names = test.classes
    n_test = len(test) if a.limit is None else min(a.limit, len(test))
    x_test = test.data[:n_test].astype(np.float32) / 255   # (N, 1, 28, 28), as the DataLoader scales it
    y_test = test.targets[:n_test]                          # (N,)
    if a.limit is not None:
        train = Subset(train, range(min(a.limit, len(train))))
    a.out.mkdir(parents=True, exist_ok=True)

    juanji.manual_seed(a.seed)
    model = get_model("simple_convnet")
    trainer = Trainer(model, Adam(model.parameters(), lr=1e-3))
    trainer.fit(DataLoader(train, batch_size=100, shuffle=True, seed=a.seed), epochs=a.epochs)
    logits = trainer.predict(x_test)                        # (N, 10)
    pred = logits.argmax(axis=1)

    written = []
    for i in range(min(a.images, n_test)):
        print(f"test image {i}: {names[y_test[i]]}, predicted {names[pred[i]]}")
        written.append(viz.saliency(model, x_test[i]).save(a.out / f"saliency_{i}.png"))
        written.append(viz.grad_cam(model, x_test[i], layer="conv1").save(a.out / f"grad_cam_{i}.png"))

    mistakes = viz.misclassified(x_test, y_test, logits, names, k=16, logits=True)
    if mistakes.total:
        i, true, wrong = int(mistakes.indices[0]), int(mistakes.true[0]), int(mistakes.pred[0])
        print(f"most confident mistake: test image {i}, {names[true]} predicted as {names[wrong]} "
              f"({mistakes.confidence[0]:.0%})")
        for target, tag in ((wrong, "pred"), (true, "true")):
            cam = viz.grad_cam(model, x_test[i], target=target, layer="conv1")
            written.append(cam.save(a.out / f"grad_cam_mistake_{tag}.png"))

    print(f"test accuracy: {np.mean(pred == y_test):.2%} of {n_test} images")
    written.append(viz.confusion_matrix(y_test, pred, class_names=names).save(a.out / "confusion_matrix.png"))
    written.append(viz.per_class_accuracy(y_test, pred, class_names=names).save(a.out / "per_class_accuracy.png"))
    written.append(mistakes.save(a.out / "misclassified.png"))
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
