"""``line_filters_demo``: the classic first picture of a CNN tutorial, end to end.

Two photos, two hand-made 7x7 filters, one convolution (the example of Géron, "Hands-On
Machine Learning", chapter 14 "Deep Computer Vision Using Convolutional Neural Networks"):

    vertical line filter    ones in the middle column (3), zeros elsewhere
    horizontal line filter  ones in the middle row (3), zeros elsewhere

Each output pixel is the sum of the 7 pixels on a vertical (horizontal) line through it,
so the vertical filter keeps vertical lines bright and blurs the rest along y: the
feature map lights up where the photo has that orientation.

Shape legend: (2, 1, H, W) photos, (2, 1, 7, 7) kernels (out, in, KH, KW), (2, 2, H, W)
maps; H x W = 427 x 640 for scikit-learn's sample photos.

    maps[n, f, y, x] = sum_{i, j} photo[n, y + i - 3, x + j - 3] * kernel[f, 0, i, j]

(zero outside the photo), i.e. ``F.conv2d(photos, kernels, padding="same")``: deep
learning's "convolution" is cross-correlation (no kernel flip; these kernels are symmetric
anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from .. import functional as F
from ..autograd import no_grad
from ..tensor import Tensor
from ._picture import INSTALL_HINT, Picture, new_figure

__all__ = ["line_filters_demo", "LineFilters", "grayscale"]

PHOTOS = ("china.jpg", "flower.jpg")

#: ITU-R BT.601 luma weights for R, G, B (what Pillow's ``convert("L")`` uses).
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(eq=False, repr=False)
class LineFilters(Picture):
    """The result of :func:`line_filters_demo`.

    Attributes:
        figure: a 2 x 3 grid; per photo: the photo, its vertical-filter map, its horizontal one.
        photos: (2, H, W) float32 grey photos in [0, 1].
        kernels: (2, 1, 7, 7) float32: [0] the vertical line filter, [1] the horizontal one.
        maps: (2, 2, H, W) float32: ``maps[n, f]`` is photo n convolved with kernel f.
        names: the photos' file names in scikit-learn.
    """

    photos: np.ndarray
    kernels: np.ndarray
    maps: np.ndarray
    names: tuple[str, ...]


def grayscale(rgb: np.ndarray) -> np.ndarray:
    """An RGB uint8 image (H, W, 3) as float32 grey in [0, 1]: (0.299 R + 0.587 G + 0.114 B) / 255."""
    return (rgb.astype(np.float32) @ LUMA) / np.float32(255.0)


def line_filters(size: int = 7) -> np.ndarray:
    """The vertical and horizontal line filters, (2, 1, size, size) float32 (``size`` odd)."""
    k = np.zeros((2, 1, size, size), dtype=np.float32)
    k[0, 0, :, size // 2] = 1.0  # vertical line: the middle column
    k[1, 0, size // 2, :] = 1.0  # horizontal line: the middle row
    return k


def line_filters_demo() -> LineFilters:
    """Convolve scikit-learn's two sample photos with a vertical and a horizontal line filter.

    The photos (``sklearn.datasets.load_sample_image("china.jpg")`` and ``"flower.jpg"``) are
    turned grey with the BT.601 luma weights (0.299 R + 0.587 G + 0.114 B, scaled to [0, 1]),
    stacked into a batch (2, 1, H, W) and passed through ``juanji.functional.conv2d`` with
    stride 1 and padding "same".

    Returns:
        :class:`LineFilters` with ``.photos`` (2, H, W), ``.kernels`` (2, 1, 7, 7) and
        ``.maps`` (2, 2, H, W).

    Raises:
        ImportError: scikit-learn (or Pillow, which it reads the JPEGs with) is missing.

    Example:
        >>> demo = juanji.viz.line_filters_demo()
        >>> demo.maps.shape
        (2, 2, 427, 640)
        >>> demo.save("line_filters.png")
    """
    op = "line_filters_demo"
    try:
        from sklearn.datasets import load_sample_image
    except ImportError as e:  # pragma: no cover - part of the [train] extra
        raise ImportError(f"{op}: the sample photos come with scikit-learn ({INSTALL_HINT})") from e
    photos = np.stack([grayscale(load_sample_image(n)) for n in PHOTOS])   # (2, H, W)
    kernels = line_filters(7)                                               # (2, 1, 7, 7)
    with no_grad():
        maps = F.conv2d(Tensor(photos[:, None]), Tensor(kernels), stride=1, padding="same").data  # (2, 2, H, W)

    fig = new_figure(op, 12.0, 5.6)
    axes = fig.subplots(2, 3)
    for n in range(2):
        panels = ((photos[n], PHOTOS[n]), (maps[n, 0], "vertical line filter"),
                  (maps[n, 1], "horizontal line filter"))
        for ax, (img, title) in zip(axes[n], panels):
            ax.imshow(img, cmap="gray", interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.suptitle("7x7 line filters, conv2d stride 1, padding 'same'", fontsize=10)
    return LineFilters(fig, photos, kernels, np.asarray(maps), PHOTOS)
