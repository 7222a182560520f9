"""ImageFolder: a directory of class sub-folders of images, decoded with Pillow.

    root/cat/001.jpg
    root/cat/002.png
    root/dog/abc.jpeg

gives classes ``["cat", "dog"]`` (sorted) and labels 0, 0, 1.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .dataset import Dataset, TargetTransform, Transform, _check_index

__all__ = ["ImageFolder", "IMG_EXTENSIONS", "load_image"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")


def load_image(path: str | os.PathLike, mode: str = "RGB") -> np.ndarray:
    """Decode one image file with Pillow into a ``(C, H, W)`` uint8 array.

    Args:
        path: the image file.
        mode: Pillow mode to convert to: ``"RGB"`` (3 channels) or ``"L"`` (grayscale, 1 channel).

    Raises:
        ValueError: the file cannot be decoded (the message names it).

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
        with Image.open(path) as img:
            arr = np.asarray(img.convert(mode))  # (H, W, 3) or (H, W)
    except FileNotFoundError:
        raise
    except Exception as e:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError ... on bad files
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
