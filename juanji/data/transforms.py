"""Image transforms on NumPy arrays: one image ``(C, H, W)`` or a whole batch ``(N, C, H, W)``.

Every transform takes either shape (a random transform draws independently for each image of
a batch), so the same object serves as a dataset's per-sample ``transform`` and as the
DataLoader's batch-level ``transform``, where it costs one vectorised call per batch.

Randomness: a random transform draws from the ``generator`` it was given (an int seed or a
``numpy.random.Generator``). Given none, it draws from the generator of the DataLoader that
is running it (see ``generator_scope``; the loader derives one per batch from its seed, so
results do not depend on prefetching or on other draws), and outside a loader from
``juanji.random.default_generator()``, so ``juanji.manual_seed`` makes it repeatable.

Legend: N batch, C channels, H/W image height/width, h/w output height/width.
"""

from __future__ import annotations

import contextlib
import math
import threading
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .. import random as _random

__all__ = ["Transform", "Compose", "ToFloat", "Normalize", "OneHot", "Pad", "RandomCrop", "CenterCrop",
           "RandomHorizontalFlip", "RandomTranslate", "Resize", "PCAColorAugment", "IMAGENET_PCA",
           "RandomErasing", "generator_scope"]

_scope = threading.local()


@contextlib.contextmanager
def generator_scope(generator: np.random.Generator) -> Iterator[None]:
    """Within this block (and this thread), transforms without their own generator draw from ``generator``.

    Example:
        >>> with generator_scope(np.random.default_rng(0)):
        ...     y = RandomHorizontalFlip()(np.zeros((1, 2, 2), np.float32))
    """
    previous = getattr(_scope, "generator", None)
    _scope.generator = generator
    try:
        yield
    finally:
        _scope.generator = previous


def _make_generator(name: str, generator: Any) -> np.random.Generator | None:
    if generator is None or isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(f"{name}: generator must be None, an int seed or a numpy.random.Generator, "
                    f"got {type(generator).__name__}")


def _pair(name: str, arg: str, value: Any, minimum: int = 1) -> tuple[int, int]:
    """An int or an (h, w) pair of ints, each at least ``minimum``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        raise TypeError(f"{name}: {arg} must be an int or a pair of ints (h, w), got {value!r}")
    if min(value) < minimum:
        raise ValueError(f"{name}: {arg} must be at least {minimum}, got {tuple(value)}")
    return int(value[0]), int(value[1])


def _image(name: str, x: Any) -> np.ndarray:
    """``x`` as an ndarray of one image (C, H, W) or a batch (N, C, H, W)."""
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"{name}: expected an image (C, H, W) or a batch (N, C, H, W), got shape {x.shape}")
    return x


class Transform:
    """Base class: a callable on one image ``(C, H, W)`` or a batch ``(N, C, H, W)``.

    Random subclasses call ``self.rng()`` for their draws.
    """

    generator: np.random.Generator | None = None

    def rng(self) -> np.random.Generator:
        """The generator to draw from: our own, else the running loader's, else juanji's default."""
        if self.generator is not None:
            return self.generator
        scoped = getattr(_scope, "generator", None)
        return scoped if scoped is not None else _random.default_generator()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator" and not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Apply transforms one after the other.

    Example:
        >>> t = Compose([ToFloat(), Normalize([0.5], [0.5])])
        >>> float(t(np.full((1, 2, 2), 255, np.uint8))[0, 0, 0])
        1.0
    """

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        bad = [t for t in transforms if not callable(t)]
        if bad:
            raise TypeError(f"Compose: every transform must be callable, got {bad!r}")
        self.transforms = list(transforms)

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x


class ToFloat(Transform):
    """uint8 pixels to float32 in [0, 1] (``x / 255``); float input becomes float32 unchanged.

    Example:
        >>> ToFloat()(np.array([[[0, 255]]], np.uint8))
        array([[[0., 1.]]], dtype=float32)
    """

    def __call__(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype == np.uint8:
            return x.astype(np.float32) / np.float32(255.0)
        if x.dtype.kind != "f":
            raise TypeError(f"ToFloat: expected uint8 or float images, got dtype {x.dtype}")
        return x.astype(np.float32, copy=False)


class Normalize(Transform):
    """Per-channel ``(x - mean[c]) / std[c]`` on float images.

    Args:
        mean: one value per channel.
        std: one positive value per channel.

    Example:
        >>> Normalize([0.5, 0.5], [0.25, 0.5])(np.ones((2, 1, 1), np.float32)).ravel()
        array([2., 1.], dtype=float32)
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"Normalize: mean has {self.mean.size} values but std has {self.std.size}")
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be positive, got {self.std.tolist()}")

    def __call__(self, x: Any) -> np.ndarray:
        x = _image("Normalize", x)
        if x.dtype.kind != "f":
            raise TypeError(f"Normalize: expected float images (apply ToFloat first), got dtype {x.dtype}")
        c = x.shape[-3]
        if c != self.mean.size:
            raise ValueError(f"Normalize: the image has {c} channels (shape {x.shape}) but mean/std have "
                             f"{self.mean.size} values")
        mean = self.mean.reshape(c, 1, 1).astype(x.dtype)  # (C, 1, 1) broadcasts over (N, C, H, W) too
        std = self.std.reshape(c, 1, 1).astype(x.dtype)
        return (x - mean) / std


class OneHot(Transform):
    """Integer labels to one-hot float32 rows: ``y`` of shape S becomes ``(*S, num_classes)``.

    Example:
        >>> OneHot(3)(np.array([2, 0]))
        array([[0., 0., 1.],
               [1., 0., 0.]], dtype=float32)
    """

    def __init__(self, num_classes: int) -> None:
        if not isinstance(num_classes, (int, np.integer)) or num_classes <= 0:
            raise ValueError(f"OneHot: num_classes must be a positive int, got {num_classes!r}")
        self.num_classes = int(num_classes)

    def __call__(self, y: Any) -> np.ndarray:
        y = np.asarray(y)
        if y.dtype.kind not in "iu":
            raise TypeError(f"OneHot: labels must be integers, got dtype {y.dtype}")
        bad = y[(y < 0) | (y >= self.num_classes)]
        if bad.size:
            raise ValueError(f"OneHot: label {int(bad.ravel()[0])} is outside [0, {self.num_classes})")
        return np.eye(self.num_classes, dtype=np.float32)[y]


_PAD_MODES = ("constant", "edge", "reflect", "symmetric")


class Pad(Transform):
    """Pad the last two axes (H, W); torchvision's argument order.

    Args:
        padding: ``p`` (all sides), ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.
        mode: ``"constant"`` (with ``fill``), ``"edge"``, ``"reflect"`` or ``"symmetric"`` (NumPy's
            ``np.pad`` modes, which torchvision's names match).
        fill: the value for ``"constant"``.

    Shape:
        ``(..., H, W) -> (..., top + H + bottom, left + W + right)``

    Example:
        >>> Pad((1, 0, 0, 0))(np.ones((1, 1, 1), np.float32))
        array([[[0., 1.]]], dtype=float32)
    """

    def __init__(self, padding: int | Sequence[int], mode: str = "constant", fill: float = 0) -> None:
        p = [padding] if isinstance(padding, (int, np.integer)) else list(padding)
        if len(p) not in (1, 2, 4) or not all(isinstance(v, (int, np.integer)) for v in p) or min(p) < 0:
            raise ValueError(f"Pad: padding must be a non-negative int, (lr, tb) or (left, top, right, bottom), "
                             f"got {padding!r}")
        if mode not in _PAD_MODES:
            raise ValueError(f"Pad: mode must be one of {_PAD_MODES}, got {mode!r}")
        if len(p) == 1:
            p = p * 4
        elif len(p) == 2:
            p = [p[0], p[1], p[0], p[1]]
        self.padding = tuple(int(v) for v in p)  # (left, top, right, bottom)
        self.mode = mode
        self.fill = fill

    def __call__(self, x: Any) -> np.ndarray:
        x = _image("Pad", x)
        left, top, right, bottom = self.padding
        widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
        if self.mode == "constant":
            return np.pad(x, widths, mode="constant", constant_values=self.fill)
        if self.mode == "reflect" and (max(top, bottom) >= x.shape[-2] or max(left, right) >= x.shape[-1]):
            raise ValueError(f"Pad: reflect padding {self.padding} needs each pad smaller than the image "
                             f"size, got image shape {x.shape}")
        return np.pad(x, widths, mode=self.mode)


def _crop_at(x: np.ndarray, top: np.ndarray, left: np.ndarray, h: int, w: int) -> np.ndarray:
    """Crop image n of the batch ``x`` (N, C, H, W) at (top[n], left[n]) to (h, w), with one gather."""
    windows = np.lib.stride_tricks.sliding_window_view(x, (h, w), axis=(2, 3))  # (N, C, H-h+1, W-w+1, h, w)
    return windows[np.arange(len(x)), :, top, left]  # (N, C, h, w)


class RandomCrop(Transform):
    """Crop a random ``size`` window, after optional padding (the CIFAR recipe: pad 4, crop 32).

    Each image's offsets are drawn uniformly: ``top`` in ``[0, H' - h]``, ``left`` in
    ``[0, W' - w]`` (``H', W'`` after padding), top first then left, for each image in turn.

    Args:
        size: ``h`` or ``(h, w)``.
        padding: optional padding as for ``Pad``, applied first.
        pad_mode: ``Pad``'s mode.
        generator: int seed or ``numpy.random.Generator`` (see the module notes).

    Example:
        >>> RandomCrop(32, padding=4, generator=0)(np.zeros((3, 32, 32), np.uint8)).shape
        (3, 32, 32)
    """

    def __init__(self, size: int | tuple[int, int], padding: int | Sequence[int] | None = None,
                 pad_mode: str = "constant", generator: Any = None) -> None:
        self.size = _pair("RandomCrop", "size", size)
        self.pad = None if padding is None else Pad(padding, mode=pad_mode)
        self.generator = _make_generator("RandomCrop", generator)

    def __call__(self, x: Any) -> np.ndarray:
        x = _image("RandomCrop", x)
        if self.pad is not None:
            x = self.pad(x)
        batch = x if x.ndim == 4 else x[None]  # (N, C, H, W)
        h, w = self.size
        H, W = batch.shape[-2:]
        if h > H or w > W:
            raise ValueError(f"RandomCrop: crop size {(h, w)} is larger than the (padded) image {(H, W)}")
        offsets = self.rng().integers(0, [H - h + 1, W - w + 1], size=(len(batch), 2))  # (N, 2): top, left
        out = _crop_at(batch, offsets[:, 0], offsets[:, 1], h, w)
        return out if x.ndim == 4 else out[0]


class CenterCrop(Transform):
    """Crop the central ``size`` window; offsets ``round((H - h) / 2)``, ``round((W - w) / 2)`` as torchvision.

    Example:
        >>> CenterCrop(2)(np.arange(16.0).reshape(1, 4, 4))[0]
        array([[ 5.,  6.],
               [ 9., 10.]])
    """

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.size = _pair("CenterCrop", "size", size)

    def __call__(self, x: Any) -> np.ndarray:
        x = _image("CenterCrop", x)
        h, w = self.size
        H, W = x.shape[-2:]
        if h > H or w > W:
            raise ValueError(f"CenterCrop: crop size {(h, w)} is larger than the image {(H, W)} (shape {x.shape})")
        top, left = int(round((H - h) / 2.0)), int(round((W - w) / 2.0))
        return x[..., top:top + h, left:left + w]


class RandomHorizontalFlip(Transform):
    """Mirror left-right with probability ``p`` (independently for each image of a batch).

    Example:
        >>> RandomHorizontalFlip(p=1.0)(np.array([[[1, 2, 3]]]))
        array([[[3, 2, 1]]])
    """

    def __init__(self, p: float = 0.5, generator: Any = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)
        self.generator = _make_generator("RandomHorizontalFlip", generator)

    def __call__(self, x: Any) -> np.ndarray:
        x = _image("RandomHorizontalFlip", x)
        if x.ndim == 3:
            return x[..., ::-1].copy() if self.rng().random() < self.p else x
        flip = self.rng().random(len(x)) < self.p  # (N,)
        out = x.copy()
        out[flip] = x[flip, ..., ::-1]
        return out


class RandomTranslate(Transform):
    """Shift by whole pixels, ``dy, dx`` uniform in ``[-max_shift, max_shift]``, filling with ``fill``.

    ``out[y, x] = in[y - dy, x - dx]`` where that lies inside the image, else ``fill``
    (positive ``dy`` moves the content down, positive ``dx`` to the right). Each image draws
    ``dy`` then ``dx``.

    Args:
        max_shift: ``m`` or ``(my, mx)``, the largest shift in pixels.
        fill: value shifted in at the borders.

    Example:
        >>> RandomTranslate(2, generator=0)(np.ones((1, 5, 5), np.float32)).shape
        (1, 5, 5)
    """

    def __init__(self, max_shift: int | tuple[int, int], fill: float = 0, generator: Any = None) -> None:
        self.max_shift = _pair("RandomTranslate", "max_shift", max_shift, minimum=0)
        self.fill = fill
        self.generator = _make_generator("RandomTranslate", generator)

    def __call__(self, x: Any) -> np.ndarray:
        x = _image("RandomTranslate", x)
        batch = x if x.ndim == 4 else x[None]  # (N, C, H, W)
        my, mx = self.max_shift
        shifts = self.rng().integers([-my, -mx], [my + 1, mx + 1], size=(len(batch), 2))  # (N, 2): dy, dx
        padded = np.pad(batch, [(0, 0), (0, 0), (my, my), (mx, mx)], constant_values=self.fill)
        # Cropping the padded image at (my - dy, mx - dx) puts in[y - dy, x - dx] at out[y, x].
        out = _crop_at(padded, my - shifts[:, 0], mx - shifts[:, 1], *batch.shape[-2:])
        return out if x.ndim == 4 else out[0]


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of 1-D linear interpolation with half-pixel centres (align_corners=False).

    Output pixel i samples the input at ``s = (i + 0.5) * n_in / n_out - 0.5``, clamped to
    ``[0, n_in - 1]``, mixing pixels ``floor(s)`` and ``floor(s) + 1`` with weights
    ``1 - frac`` and ``frac``: the rule of ``torch.nn.functional.interpolate(mode="bilinear")``.
    """
    s = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0, n_in - 1)  # (n_out,)
    lo = np.floor(s).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = s - lo
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(m, (np.arange(n_out), hi), frac)
    return m


class Resize(Transform):
    """Bilinear resize in NumPy (no antialiasing), as ``F.interpolate(mode="bilinear", align_corners=False)``.

    The resize is separable: ``out = Ry @ x @ Rx.T`` with the 1-D interpolation matrices
    ``Ry`` (h, H) and ``Rx`` (w, W), one matrix product per axis for a whole batch. Not
    antialiased, so large downscales alias (as torch's ``antialias=False``). uint8 input is
    rounded back to uint8; float input keeps its float dtype.

    Args:
        size: ``(h, w)``, or an int: the shorter side becomes ``size`` and the other keeps
            the aspect ratio (``int(size * long / short)``, as torchvision).

    Example:
        >>> Resize((4, 6))(np.ones((3, 2, 3), np.float32)).shape
        (3, 4, 6)
    """

    def __init__(self, size: int | tuple[int, int]) -> None:
        if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
            if size <= 0:
                raise ValueError(f"Resize: size must be positive, got {size}")
            self.size: int | tuple[int, int] = int(size)
        else:
            self.size = _pair("Resize", "size", size)

    def output_size(self, H: int, W: int) -> tuple[int, int]:
        """The (h, w) an (H, W) image is resized to."""
        if isinstance(self.size, tuple):
            return self.size
        if H <= W:
            return self.size, int(self.size * W / H)
        return int(self.size * H / W), self.size

    def __call__(self, x: Any) -> np.ndarray:
        x = _image("Resize", x)
        H, W = x.shape[-2:]
        h, w = self.output_size(H, W)
        dtype = x.dtype if x.dtype.kind == "f" else np.float32
        ry = _bilinear_matrix(H, h).astype(dtype)  # (h, H)
        rx = _bilinear_matrix(W, w).astype(dtype)  # (w, W)
        out = ry @ x.astype(dtype, copy=False) @ rx.T  # (..., h, w)
        if x.dtype == np.uint8:
            return np.clip(np.rint(out), 0, 255).astype(np.uint8)
        return out


#: Eigenvalues and eigenvectors (columns) of the RGB covariance of ImageNet pixels in [0, 1], as
#: circulated with fb.resnet.torch's "Lighting" transform. Use them with ``PCAColorAugment(*IMAGENET_PCA)``;
#: for other data prefer ``PCAColorAugment.fit(images)``.
IMAGENET_PCA = (
    np.array([0.2175, 0.0188, 0.0045], dtype=np.float32),
    np.array([[-0.5675, 0.7192, 0.4009],
              [-0.5808, -0.0045, -0.8140],
              [-0.5836, -0.6948, 0.4203]], dtype=np.float32),
)


class PCAColorAugment(Transform):
    """AlexNet's "fancy PCA" colour augmentation (Krizhevsky et al., 2012, section 4.1).

    For each image draw ``alpha_i ~ N(0, std^2)`` (i = 1..3) and add the same RGB shift
    ``sum_i alpha_i * lambda_i * p_i`` to every pixel, where ``lambda_i, p_i`` are the
    eigenvalues and (unit) eigenvectors of the 3x3 covariance of the RGB pixel values.

    Args:
        eigval: ``(3,)`` eigenvalues ``lambda_i``.
        eigvec: ``(3, 3)`` matrix whose column ``i`` is the eigenvector ``p_i``.
        std: standard deviation of ``alpha`` (0.1 in the paper).
        generator: int seed or ``numpy.random.Generator`` (see the module notes).

    Shape:
        ``(3, H, W)`` or ``(N, 3, H, W)`` float images, same shape out. The eigen-decomposition
        must have been computed on pixels of the same scale (e.g. both in [0, 1]).

    Example:
        >>> images = np.random.default_rng(0).random((8, 3, 4, 4)).astype(np.float32)
        >>> PCAColorAugment.fit(images, generator=0)(images).shape
        (8, 3, 4, 4)
    """

    def __init__(self, eigval: Any, eigvec: Any, std: float = 0.1, generator: Any = None) -> None:
        self.eigval = np.asarray(eigval, dtype=np.float64).reshape(-1)
        self.eigvec = np.asarray(eigvec, dtype=np.float64)
        if self.eigval.shape != (3,) or self.eigvec.shape != (3, 3):
            raise ValueError(f"PCAColorAugment: eigval must have shape (3,) and eigvec (3, 3), got "
                             f"{self.eigval.shape} and {self.eigvec.shape}")
        if std < 0:
            raise ValueError(f"PCAColorAugment: std must be non-negative, got {std}")
        self.std = float(std)
        self.generator = _make_generator("PCAColorAugment", generator)

    @classmethod
    def fit(cls, images: Any, std: float = 0.1, generator: Any = None) -> "PCAColorAugment":
        """Build the augmentation from the RGB covariance of ``images`` ``(N, 3, H, W)`` (or one ``(3, H, W)``)."""
        x = _image("PCAColorAugment.fit", images)
        if x.shape[-3] != 3:
            raise ValueError(f"PCAColorAugment.fit: expected 3 (RGB) channels, got shape {x.shape}")
        pixels = np.moveaxis(x, -3, -1).reshape(-1, 3).astype(np.float64)  # (N*H*W, 3)
        eigval, eigvec = np.linalg.eigh(np.cov(pixels, rowvar=False))  # ascending order
        return cls(eigval[::-1].copy(), eigvec[:, ::-1].copy(), std=std, generator=generator)

    def __call__(self, x: Any) -> np.ndarray:
        x = _image("PCAColorAugment", x)
        if x.dtype.kind != "f":
            raise TypeError(f"PCAColorAugment: expected float images (apply ToFloat first), got dtype {x.dtype}")
        if x.shape[-3] != 3:
            raise ValueError(f"PCAColorAugment: expected 3 (RGB) channels, got shape {x.shape}")
        batch = x if x.ndim == 4 else x[None]
        alpha = self.rng().normal(0.0, self.std, size=(len(batch), 3))  # (N, 3)
        shift = (alpha * self.eigval) @ self.eigvec.T  # (N, 3): sum_i alpha_i lambda_i p_i
        out = batch + shift[:, :, None, None].astype(x.dtype)  # (N, 3, H, W)
        return out if x.ndim == 4 else out[0]


#: Attempts at a rectangle that fits, per image, before RandomErasing leaves it unchanged (torchvision's 10).
ERASING_ATTEMPTS = 10


def _range_pair(name: str, arg: str, value: Any, low: float, high: float, low_open: bool) -> tuple[float, float]:
    """A ``(min, max)`` pair of finite floats with ``low <= min <= max <= high`` (``low < min`` if ``low_open``)."""
    ok = (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in value))
    if ok:
        lo, hi = float(value[0]), float(value[1])
        ok = (lo > low if low_open else lo >= low) and lo <= hi <= high  # False for NaN too
    if not ok:
        bound = f"{low:g} < min" if low_open else f"{low:g} <= min"
        top = "" if high == math.inf else f" <= {high:g}"
        raise ValueError(f"{name}: {arg} must be a pair (min, max) of numbers with {bound} <= max{top}, got {value!r}")
    return lo, hi


class RandomErasing(Transform):
    """Random Erasing (Zhong et al., 2017): with probability ``p``, overwrite a random rectangle.

    torchvision's ``RandomErasing`` with its arguments and its sampling. For each image:

    1. erase at all only if ``u0 < p``;
    2. up to ``ERASING_ATTEMPTS`` (10) times draw an area fraction ``s ~ U(scale)`` and an aspect
       ratio ``r = exp(U(log ratio))`` (log-uniform, so ``r`` and ``1/r`` are equally likely), and
       take ``h = round(sqrt(s * H * W * r))``, ``w = round(sqrt(s * H * W / r))`` (half to even, as
       Python's ``round``); the first attempt with ``h < H`` and ``w < W`` is used, and if none
       fits the image is returned unchanged;
    3. the top-left corner is uniform: ``top`` in ``[0, H - h]``, ``left`` in ``[0, W - w]``;
    4. pixels ``[:, top:top + h, left:left + w]`` become ``value``.

    It acts on float images **after** ``ToFloat``/``Normalize``, as torchvision's acts on tensors
    after ``Normalize``: so ``value=0`` erases to the normalised mean pixel, and ``"random"`` fills
    with standard normal noise, which has the statistics of normalised pixels.

    Draws (so a result can be replayed): ``rng.random((N, 23))``, row ``n`` for image ``n`` holding
    ``u0``, the 10 fractions' uniforms, the 10 log-ratios' uniforms, then ``top`` and ``left`` as
    ``floor(u * (H - h + 1))`` and ``floor(u * (W - w + 1))``; all 10 attempts are drawn even when an
    earlier one fits (the attempts are independent, so taking the first fit is torchvision's
    distribution). With ``value="random"`` the noise follows, one ``standard_normal`` per erased
    pixel in (image, channel, row, column) order. One image draws what the first image of a batch
    draws (except the noise). Unlike torchvision, which erases one rectangle across a whole
    batch tensor, each image of a batch gets its own draw, as every transform here.

    Args:
        p: probability of erasing an image, in ``[0, 1]``.
        scale: ``(min, max)`` fraction of the image area to erase, ``0 <= min <= max <= 1``.
        ratio: ``(min, max)`` aspect ratio ``h / w`` of the rectangle, ``0 < min <= max``.
        value: a number, one number per channel (a tuple or list, or a single-entry one), or
            ``"random"`` for per-pixel standard normal noise.
        inplace: write into the input array (which must be writeable) instead of a copy.
            Without it the input is never modified; an image that is left unchanged comes
            back as the input array itself, as in torchvision.
        generator: int seed or ``numpy.random.Generator`` (see the module notes).

    Shape:
        ``(C, H, W)`` or ``(N, C, H, W)`` float images, same shape and dtype out.

    Example:
        >>> out = RandomErasing(p=1.0, value=(1.0, 2.0), generator=0)(np.zeros((2, 8, 8), np.float32))
        >>> sorted(np.unique(out[0]).tolist()), sorted(np.unique(out[1]).tolist())
        ([0.0, 1.0], [0.0, 2.0])
    """

    def __init__(self, p: float = 0.5, scale: tuple[float, float] = (0.02, 0.33),
                 ratio: tuple[float, float] = (0.3, 3.3), value: float | Sequence[float] | str = 0,
                 inplace: bool = False, generator: Any = None) -> None:
        if (not isinstance(p, (int, float, np.integer, np.floating)) or isinstance(p, bool)
                or not 0.0 <= p <= 1.0):
            raise ValueError(f"RandomErasing: p must be a number in [0, 1], got {p!r}")
        self.p = float(p)
        self.scale = _range_pair("RandomErasing", "scale", scale, 0.0, 1.0, low_open=False)
        # The ratio is sampled in log space, so both ends must be positive.
        self.ratio = _range_pair("RandomErasing", "ratio", ratio, 0.0, math.inf, low_open=True)
        self._fill: np.ndarray | None  # (K,) with K = 1 or C; None for "random"
        if isinstance(value, str):
            if value != "random":
                raise ValueError(f"RandomErasing: value must be a number, a sequence of per-channel numbers or "
                                 f"'random', got {value!r}")
            self._fill = None
        else:
            entries = list(value) if isinstance(value, (tuple, list, np.ndarray)) else [value]
            if not entries or not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                                      for v in entries):
                raise ValueError(f"RandomErasing: value must be a number, a sequence of per-channel numbers or "
                                 f"'random', got {value!r}")
            self._fill = np.array(entries, dtype=np.float64)
            if not np.all(np.isfinite(self._fill)):
                raise ValueError(f"RandomErasing: value must be finite, got {value!r}")
        self.value = value
        if not isinstance(inplace, (bool, np.bool_)):
            raise TypeError(f"RandomErasing: inplace must be a bool, got {inplace!r}")
        self.inplace = bool(inplace)
        self.generator = _make_generator("RandomErasing", generator)

    def _rectangles(self, n: int, H: int, W: int) -> tuple[np.ndarray, ...]:
        """Draw (erase, top, left, h, w), each ``(n,)``: the sampling of the class notes, vectorised."""
        k = ERASING_ATTEMPTS
        u = self.rng().random((n, 3 + 2 * k))  # (n, 23)
        lo, hi = self.scale
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        area = (H * W) * (lo + (hi - lo) * u[:, 1:1 + k])  # (n, k) erased area in pixels
        aspect = np.exp(log_lo + (log_hi - log_lo) * u[:, 1 + k:1 + 2 * k])  # (n, k) h / w
        # h * w = area and h / w = aspect; np.rint rounds half to even, as Python's round.
        hs = np.rint(np.sqrt(area * aspect)).astype(np.int64)
        ws = np.rint(np.sqrt(area / aspect)).astype(np.int64)
        fits = (hs < H) & (ws < W)  # (n, k)
        first = np.argmax(fits, axis=1)  # the first attempt that fits (0 when none does)
        rows = np.arange(n)
        h, w = hs[rows, first], ws[rows, first]
        erase = (u[:, 0] < self.p) & fits.any(axis=1)
        # floor(u * m) is uniform on {0, ..., m - 1}; the minimum guards the float edge u -> 1.
        top = np.minimum(np.floor(u[:, 1 + 2 * k] * (H - h + 1)).astype(np.int64), H - h)
        left = np.minimum(np.floor(u[:, 2 + 2 * k] * (W - w + 1)).astype(np.int64), W - w)
        return erase, top, left, h, w

    def __call__(self, x: Any) -> np.ndarray:
        x = _image("RandomErasing", x)
        if x.dtype.kind != "f":
            raise TypeError(f"RandomErasing: expected float images (it acts after ToFloat and Normalize), "
                            f"got dtype {x.dtype}")
        C, H, W = x.shape[-3:]
        if self._fill is not None and self._fill.size not in (1, C):
            raise ValueError(f"RandomErasing: value has {self._fill.size} entries but the image has {C} channels "
                             f"(shape {x.shape}); give one value or one per channel")
        if self.inplace and not x.flags.writeable:
            raise ValueError(f"RandomErasing: inplace=True needs a writeable array, got a read-only one of "
                             f"shape {x.shape}")
        batch = x if x.ndim == 4 else x[None]  # (N, C, H, W); a view, so writes reach x
        erase, top, left, h, w = self._rectangles(len(batch), H, W)
        # Pixel (y, x) of image n is erased iff top <= y < top + h and left <= x < left + w.
        ys, xs = np.arange(H), np.arange(W)
        in_rows = (ys >= top[:, None]) & (ys < (top + h)[:, None]) & erase[:, None]  # (N, H)
        in_cols = (xs >= left[:, None]) & (xs < (left + w)[:, None])  # (N, W)
        mask = in_rows[:, None, :, None] & in_cols[:, None, None, :]  # (N, 1, H, W)
        if not mask.any():
            return x
        out = batch if self.inplace else batch.copy()
        if self._fill is None:
            mask = np.broadcast_to(mask, out.shape)  # (N, C, H, W)
            out[mask] = self.rng().standard_normal(int(mask.sum())).astype(x.dtype)
        else:
            fill = self._fill.astype(x.dtype).reshape(-1, 1, 1)  # (1 or C, 1, 1)
            np.copyto(out, fill, where=mask)  # both broadcast to (N, C, H, W)
        return out if x.ndim == 4 else out[0]
