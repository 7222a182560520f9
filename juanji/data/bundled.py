"""Data that needs no download: scikit-learn's bundled 8x8 digits and its two sample photographs.

These ship inside the scikit-learn package (``sklearn/datasets/data/digits.csv.gz`` and
``sklearn/datasets/images/{china,flower}.jpg``), so they work offline and in CI.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .dataset import ArrayDataset, TargetTransform, Transform

__all__ = ["Digits", "SampleImages", "load_sample_image", "SAMPLE_IMAGE_NAMES"]

SAMPLE_IMAGE_NAMES = ("china", "flower")


def _sklearn_datasets() -> Any:
    try:
        import sklearn.datasets
    except ImportError as e:
        raise ImportError("this data set ships with scikit-learn: pip install 'juanji[train]' "
                          "(or pip install scikit-learn)") from e
    return sklearn.datasets


class Digits(ArrayDataset):
    """scikit-learn's 1,797 handwritten 8x8 digits, as float32 NCHW ``(N, 1, 8, 8)`` in [0, 1].

    The pixel counts 0..16 are divided by 16. The split is a fixed permutation
    ``numpy.random.default_rng(seed).permutation(1797)``: its first ``floor(1797 * test_fraction)``
    samples are the test set, the rest the training set (the same split as
    ``examples/train_digits.py`` for the defaults).

    Args:
        train: the training part, else the test part.
        test_fraction: the share held out for testing, in [0, 1).
        seed: seed of the split permutation.
        transform: per-sample transform on the ``(1, 8, 8)`` image.
        target_transform: per-sample label transform.

    Shape:
        ``data``: ``(N, 1, 8, 8)`` float32; ``targets``: ``(N,)`` int64 in [0, 9].

    Example:
        >>> train, test = Digits(train=True), Digits(train=False)
        >>> len(train), len(test), train.data.shape[1:]
        (1438, 359, (1, 8, 8))
    """

    classes = [str(d) for d in range(10)]

    def __init__(self, train: bool = True, test_fraction: float = 0.2, seed: int = 0,
                 transform: Transform | None = None, target_transform: TargetTransform | None = None) -> None:
        if not 0.0 <= test_fraction < 1.0:
            raise ValueError(f"Digits: test_fraction must be in [0, 1), got {test_fraction}")
        digits = _sklearn_datasets().load_digits()
        x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]  # (1797, 1, 8, 8)
        y = digits.target.astype(np.int64)
        order = np.random.default_rng(seed).permutation(len(x))
        n_test = int(math.floor(len(x) * test_fraction))
        part = order[n_test:] if train else order[:n_test]
        self.train = train
        super().__init__(x[part], y[part], transform=transform, target_transform=target_transform)


def load_sample_image(name: str) -> np.ndarray:
    """One of scikit-learn's two sample photographs as ``(3, 427, 640)`` uint8 RGB.

    Args:
        name: ``"china"`` or ``"flower"`` (``".jpg"`` may be appended).

    Example:
        >>> load_sample_image("china").shape
        (3, 427, 640)
    """
    stem = name[:-4] if name.endswith(".jpg") else name
    if stem not in SAMPLE_IMAGE_NAMES:
        raise ValueError(f"load_sample_image: unknown image {name!r}; the bundled ones are {SAMPLE_IMAGE_NAMES}")
    img = _sklearn_datasets().load_sample_image(f"{stem}.jpg")  # (H, W, 3) uint8
    return np.ascontiguousarray(img.transpose(2, 0, 1))  # (3, H, W)


class SampleImages(ArrayDataset):
    """The two bundled photographs (china, flower) as a 2-sample dataset of ``(3, 427, 640)`` uint8.

    Labels are 0 (china) and 1 (flower); ``classes`` names them. Handy for trying a transform
    pipeline or a pretrained-style network on real photos with no download.

    Example:
        >>> ds = SampleImages()
        >>> ds.data.shape, ds.classes
        ((2, 3, 427, 640), ['china', 'flower'])
    """

    classes = list(SAMPLE_IMAGE_NAMES)

    def __init__(self, transform: Transform | None = None, target_transform: TargetTransform | None = None) -> None:
        x = np.stack([load_sample_image(n) for n in SAMPLE_IMAGE_NAMES])  # (2, 3, 427, 640)
        super().__init__(x, np.arange(len(SAMPLE_IMAGE_NAMES)), transform=transform,
                         target_transform=target_transform)
