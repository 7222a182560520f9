"""ImageFolder: a directory of class sub-folders of images, decoded with Pillow.

    root/cat/001.jpg
    root/cat/002.png
    root/dog/abc.jpeg

gives classes ``["cat", "dog"]`` (sorted) and labels 0, 0, 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .dataset import Dataset, TargetTransform, Transform, _check_index

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["ImageFolder", "IMG_EXTENSIONS", "MAX_IMAGE_PIXELS", "load_image"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")


#: The most pixels ``load_image`` decodes unless its ``max_pixels`` says otherwise: 2**26 (about
#: 67 million, e.g. 8192 x 8192), a little below Pillow's own decompression-bomb threshold
#: (``PIL.Image.MAX_IMAGE_PIXELS``, 89 million), which is process-wide and left as the user set it.
#: Checked from the header, before anything is decoded.
MAX_IMAGE_PIXELS = 1 << 26

# Start-of-frame markers of arithmetic-coded JPEGs, which can spend less than one bit on a block
# (see _check_jpeg_data).
_ARITHMETIC_SOF = tuple(bytes([0xFF, m]) for m in (0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class _Refused(ValueError):
    """An image refused by load_image's own checks (the message is complete)."""


def _check_jpeg_data(img: "Image.Image", path: str | os.PathLike, file_size: int, scan_start: int) -> None:
    """Refuse a JPEG whose header declares more 8x8 blocks than its compressed data can code.

    libjpeg decodes a JPEG whose size fields were corrupted (e.g. 8 x 12 read as 8 x 20748) by
    filling the blocks the data does not reach, and Pillow reports no error. But Huffman coding
    spends at least one bit on each code, and every block of every component has at least one
    (its DC difference; a sequential JPEG spends at least two, with the end-of-block code, which
    an optimised all-black image reaches exactly, so one bit is the bound used, with room to
    spare). So the data after the first start-of-scan must hold at least ``blocks / 8`` bytes.
    Arithmetic-coded files can do better and are not checked.
    """
    layers = getattr(img, "layer", None)  # (id, h, v, table) per component, from the start of frame
    if not layers or scan_start <= 0:
        return
    hs, vs = [c[1] for c in layers], [c[2] for c in layers]
    if min(hs) < 1 or min(vs) < 1:
        return  # libjpeg refuses such sampling factors itself
    w, h = img.size
    hmax, vmax = max(hs), max(vs)
    # Each component is (w * h_i / hmax) x (h * v_i / vmax) pixels, rounded up, in 8x8 blocks.
    blocks = sum(_ceil_div(_ceil_div(w * hi, hmax), 8) * _ceil_div(_ceil_div(h * vi, vmax), 8)
                 for hi, vi in zip(hs, vs))
    data = file_size - scan_start
    if blocks <= 8 * data:
        return
    with open(path, "rb") as f:
        head = f.read(scan_start)
    if any(m in head for m in _ARITHMETIC_SOF):
        return
    raise _Refused(f"load_image: {path} is corrupt: its header declares {w} x {h} pixels ({blocks} blocks of "
                   f"8 x 8, at least one bit each), more than its {data} bytes of image data can hold")


def load_image(path: str | os.PathLike, mode: str = "RGB", max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode one image file with Pillow into a ``(C, H, W)`` uint8 array.

    The file is opened twice: first to read its size from the header (refused if a side is 0 or
    there are more than ``max_pixels`` pixels) and ``verify()`` its structure (checksums,
    chunk order) without decoding; then to decode it, after checking that a JPEG's data can
    code the blocks its header declares. Truncated data is an error (Pillow's
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` is left False).

    Args:
        path: the image file.
        mode: Pillow mode to convert to: ``"RGB"`` (3 channels) or ``"L"`` (grayscale, 1 channel).
        max_pixels: the most pixels (width x height) to decode (``MAX_IMAGE_PIXELS`` by default).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be decoded, is truncated or corrupt, or declares a size of 0
            or over ``max_pixels`` (the message names it).

    Example:
        >>> load_image("photo.jpg").shape   # doctest: +SKIP
        (3, 480, 640)
    """
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - Pillow is in the [train] extra
        raise ImportError("load_image needs Pillow: pip install 'juanji[train]'") from e
    if mode not in ("RGB", "L"):
        raise ValueError(f"load_image: mode must be 'RGB' or 'L', got {mode!r}")
    try:
        file_size = os.stat(path).st_size
        with Image.open(path) as img:  # reads the header only
            w, h = img.size
            if w <= 0 or h <= 0:
                raise _Refused(f"load_image: {path} is corrupt: its header declares {w} x {h} pixels")
            if w * h > max_pixels:
                raise _Refused(f"load_image: {path} declares {w} x {h} = {w * h} pixels, more than "
                               f"max_pixels={max_pixels} (pass a larger max_pixels to load_image for a genuine "
                               f"image this large)")
            img.verify()
        with Image.open(path) as img:  # verify() leaves the image unusable: open it again to decode
            if img.format == "JPEG":
                _check_jpeg_data(img, path, file_size, img.fp.tell() if img.fp is not None else 0)
            if img.size != (w, h):
                raise _Refused(f"load_image: {path} changed while it was read")
            img.load()  # truncated or corrupt data raises here (OSError, SyntaxError ...)
            arr = np.asarray(img.convert(mode))  # (H, W, 3) or (H, W)
    except (FileNotFoundError, _Refused):
        raise
    except Exception as e:  # UnidentifiedImageError, OSError, SyntaxError, DecompressionBombError, MemoryError ...
        raise ValueError(f"load_image: cannot decode image {path}: {type(e).__name__}: {e}") from e
    return arr[None] if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(2, 0, 1))  # (C, H, W)


class ImageFolder(Dataset):
    """Images in class sub-folders, decoded with Pillow when indexed.

    Args:
        root: the directory whose sub-folders are the classes (sorted by name).
        transform: per-sample transform on the ``(C, H, W)`` uint8 image (images of different
            sizes must be resized/cropped to one size before they can be batched).
        target_transform: per-sample transform on the label.
        mode: ``"RGB"`` or ``"L"`` (grayscale).
        extensions: file name endings counted as images (case-insensitive).

    Attributes:
        classes: the sorted class names; ``class_to_idx``: name -> label;
        samples: ``(path, label)`` pairs, sorted by class then file name; ``targets``: the labels.

    Raises:
        FileNotFoundError: ``root`` does not exist. ValueError: it has no class folders, or no images.

    Example:
        >>> ds = ImageFolder("flowers/", transform=Compose([Resize((64, 64))]))   # doctest: +SKIP
        >>> ds.classes, ds[0][0].shape   # doctest: +SKIP
        (['daisy', 'rose'], (3, 64, 64))
    """

    def __init__(self, root: str | os.PathLike, transform: Transform | None = None,
                 target_transform: TargetTransform | None = None, mode: str = "RGB",
                 extensions: tuple[str, ...] = IMG_EXTENSIONS) -> None:
        if mode not in ("RGB", "L"):
            raise ValueError(f"ImageFolder: mode must be 'RGB' or 'L', got {mode!r}")
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"ImageFolder: no such directory: {self.root}")
        self.classes = sorted(d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not self.classes:
            raise ValueError(f"ImageFolder: {self.root} has no class sub-folders (expected root/<class>/<image>)")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        exts = tuple(e.lower() for e in extensions)
        self.samples: list[tuple[str, int]] = []
        for c in self.classes:
            files = sorted(p for p in (self.root / c).rglob("*") if p.is_file() and p.suffix.lower() in exts)
            self.samples.extend((str(p), self.class_to_idx[c]) for p in files)
        if not self.samples:
            raise ValueError(f"ImageFolder: found no images with extensions {exts} in the class folders "
                             f"{self.classes} of {self.root}")
        self.targets = np.array([s[1] for s in self.samples], dtype=np.int64)
        self.mode = mode
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        path, label = self.samples[_check_index("ImageFolder", index, len(self))]
        x = load_image(path, self.mode)  # (C, H, W) uint8
        y = label
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def __repr__(self) -> str:
        return f"ImageFolder(root={str(self.root)!r}, n={len(self)}, classes={len(self.classes)}, mode={self.mode!r})"
