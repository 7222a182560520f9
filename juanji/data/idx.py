"""IDX files (the MNIST family) and the MNIST and Fashion-MNIST datasets.

IDX format (http://yann.lecun.com/exdb/mnist/), all integers big-endian:

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4 .. 4+4d   d sizes, uint32 each
    then        prod(sizes) elements of that type, row-major

Files may be gzipped (recognised by their content, not their name).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Sequence

import numpy as np

from .dataset import ArrayDataset, TargetTransform, Transform

__all__ = ["read_idx", "MNIST", "FashionMNIST", "FASHION_MNIST_CLASSES", "DEBIAN_FASHION_MNIST", "MAX_IDX_BYTES"]

_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

#: Where Debian's ``dataset-fashion-mnist`` package installs the files.
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


#: The largest array ``read_idx`` allocates unless its ``max_bytes`` says otherwise: 2 GiB, about
#: four times the largest IDX file published (EMNIST ByClass's training images, 547 MB). A header
#: is checked against it before anything is allocated or decompressed.
MAX_IDX_BYTES = 2 << 30

# Deflate cannot expand data more than 1032-fold (its longest match, 258 bytes, costs at least
# 2 bits), so a gzip file of n bytes decompresses to at most 1032 * n: a header declaring more is
# refused before the array is allocated.
_DEFLATE_MAX_RATIO = 1032

# Bytes decompressed per step: bounds the decompressor's temporary buffers, so the peak memory
# of a read is the array plus one step.
_STEP = 1 << 22

# How much of the data after a gzip file's declared array is decompressed to say how long the
# file is (no more: the rest of a gzip bomb is never expanded).
_TRAILING_COUNT_LIMIT = 1 << 24


def _read_into(f: BinaryIO, buf: memoryview) -> int:
    """Fill ``buf`` from ``f`` in steps; the number of bytes read (fewer at the end of the file)."""
    pos = 0
    while pos < len(buf):
        n = f.readinto(buf[pos:pos + _STEP])
        if not n:
            break
        pos += n
    return pos


def _read(f: BinaryIO, n: int) -> bytes:
    buf = bytearray(n)
    return bytes(buf[:_read_into(f, memoryview(buf))])


def _count_rest(f: BinaryIO, limit: int) -> tuple[int, bool]:
    """How many bytes are left in ``f``, reading at most ``limit`` (and whether it stopped there)."""
    total = 0
    while total <= limit:
        chunk = f.read(min(1 << 20, limit + 1 - total))
        if not chunk:
            return total, False
        total += len(chunk)
    return total, True


def read_idx(path: str | os.PathLike, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a native-endian ndarray.

    The header is read first and the array's size, ``prod(dims) * itemsize`` (Python ints, so
    no overflow), is checked against ``max_bytes`` and against the file (its size when plain;
    deflate's 1032-fold limit when gzipped) before the array is allocated; then exactly that many
    bytes are read (decompressed in steps) into it, so the peak memory is about the array itself.

    Args:
        path: the file, e.g. ``train-images-idx3-ubyte.gz``.
        max_bytes: the largest array to allocate (``MAX_IDX_BYTES``, 2 GiB, by default).

    Returns:
        The array with the file's dimensions (e.g. ``(60000, 28, 28)`` uint8 for MNIST images).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a bad magic number, an unknown type code, a corrupt gzip stream, a declared
            size over ``max_bytes``, or a body shorter or longer than the header says (the message
            names the file and both sizes).

    Example:
        >>> read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").shape
        (10000,)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_idx: no such file: {path}")
    size = path.stat().st_size
    with open(path, "rb") as plain:
        gz = plain.read(2) == b"\x1f\x8b"  # gzip's magic: recognised by content, not name
        plain.seek(0)
        f: BinaryIO = gzip.GzipFile(fileobj=plain, mode="rb") if gz else plain  # type: ignore[assignment]
        try:
            return _parse_idx(path, f, gz, size, max_bytes)
        except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
            if not gz:
                raise  # a plain file's read error is the system's, not the file's content
            raise ValueError(f"read_idx: {path} is a corrupt or truncated gzip file ({e})") from e


def _parse_idx(path: Path, f: BinaryIO, gz: bool, size: int, max_bytes: int) -> np.ndarray:
    """``read_idx`` on an open stream ``f`` (decompressing when ``gz``) of ``size`` bytes on disk."""
    where = " (decompressed)" if gz else ""
    head = _read(f, 4)
    if len(head) < 4:
        raise ValueError(f"read_idx: {path} is too short ({len(head)} bytes) to hold an IDX header")
    zero, code, ndim = int.from_bytes(head[0:2], "big"), head[2], head[3]
    if zero != 0 or code not in _IDX_TYPES:
        raise ValueError(f"read_idx: {path} has a bad magic number 0x{head.hex()} (expected 0x0000TTDD "
                         f"with type TT in {sorted(hex(c) for c in _IDX_TYPES)}); not an IDX file?")
    header = 4 + 4 * ndim
    sizes = _read(f, 4 * ndim)
    if len(sizes) < 4 * ndim:
        raise ValueError(f"read_idx: {path} is truncated: the header of {ndim} dimensions needs {header} bytes, "
                         f"the file has {4 + len(sizes)}{where}")
    dims = struct.unpack(f">{ndim}I", sizes)
    dtype = _IDX_TYPES[code]
    count = math.prod(dims)  # a Python int: dimensions of 2**32 - 1 cannot overflow it
    nbytes = count * dtype.itemsize
    expected = header + nbytes
    if nbytes > max_bytes:
        raise ValueError(f"read_idx: {path} declares dimensions {dims} of {dtype.name}, {nbytes} bytes, more than "
                         f"max_bytes={max_bytes} (pass a larger max_bytes to read_idx if the file is genuine)")
    if gz and expected > _DEFLATE_MAX_RATIO * size:
        raise ValueError(f"read_idx: {path} is corrupt: it declares dimensions {dims} of {dtype.name}, {nbytes} "
                         f"bytes, but {size} bytes of gzip can hold at most {_DEFLATE_MAX_RATIO * size}")
    if not gz and size != expected:
        what = "truncated" if size < expected else "longer than its header says"
        raise ValueError(f"read_idx: {path} is {what}: dimensions {dims} of {dtype.name} need {expected} bytes, "
                         f"the file has {size}")
    data = np.empty(count, dtype=dtype)  # the file's byte order: filled in place, no second copy
    got = _read_into(f, memoryview(data.view(np.uint8)))
    if got < nbytes:
        raise ValueError(f"read_idx: {path} is truncated: dimensions {dims} of {dtype.name} need {expected} bytes, "
                         f"the file has {header + got}{where}")
    rest, stopped = _count_rest(f, _TRAILING_COUNT_LIMIT) if gz else (0, False)
    if rest:
        has = f"more than {expected + rest}" if stopped else str(expected + rest)
        raise ValueError(f"read_idx: {path} is longer than its header says: dimensions {dims} of {dtype.name} need "
                         f"{expected} bytes, the file has {has}{where}")
    if not dtype.isnative:
        data.byteswap(inplace=True)  # in place: the peak stays at one array
        data = data.view(dtype.newbyteorder("="))
    return data.reshape(dims)


def _find(names: Sequence[str], search: Sequence[Path]) -> Path | None:
    """The first ``dir/name`` that exists, for dir in ``search`` and name in ``names`` (plain or .gz)."""
    for d in search:
        for name in names:
            for candidate in (d / name, d / (name + ".gz")):
                if candidate.is_file():
                    return candidate
    return None


class MNIST(ArrayDataset):
    """MNIST handwritten digits from the four IDX files: 60,000 train / 10,000 test images, 1x28x28 uint8.

    Looks for ``{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (or the same with ``.gz``) in
    ``root``, ``root/raw`` and ``root/MNIST/raw`` (torchvision's layout). Nothing is downloaded.

    Args:
        root: the directory holding the files.
        train: the 60,000 training images, else the 10,000 test images.
        transform: per-sample transform on the ``(1, 28, 28)`` uint8 image (disables the
            DataLoader's one-gather fast path; prefer the loader's batch-level ``transform``).
        target_transform: per-sample transform on the label.

    Shape:
        ``data``: ``(N, 1, 28, 28)`` uint8; ``targets``: ``(N,)`` int64 in [0, 9].

    Example:
        >>> test = MNIST("~/data/mnist", train=False)   # doctest: +SKIP
        >>> test.data.shape   # doctest: +SKIP
        (10000, 1, 28, 28)
    """

    name = "MNIST"
    classes: list[str] = [str(d) for d in range(10)]
    _subdir = "MNIST"

    def __init__(self, root: str | os.PathLike, train: bool = True, transform: Transform | None = None,
                 target_transform: TargetTransform | None = None) -> None:
        root_path = Path(root).expanduser()
        self.root = root_path
        self.train = train
        images, labels = self._locate(root_path, train)
        x = read_idx(images)
        y = read_idx(labels)
        if x.ndim != 3 or x.dtype != np.uint8:
            raise ValueError(f"{self.name}: {images} should hold uint8 images (N, H, W), got {x.dtype} {x.shape}")
        if y.ndim != 1 or y.dtype != np.uint8:
            raise ValueError(f"{self.name}: {labels} should hold uint8 labels (N,), got {y.dtype} {y.shape}")
        if len(x) != len(y):
            raise ValueError(f"{self.name}: {images} has {len(x)} images but {labels} has {len(y)} labels")
        if y.size and y.max() >= len(self.classes):
            raise ValueError(f"{self.name}: {labels} has label {int(y.max())}, outside [0, {len(self.classes)})")
        super().__init__(x, y, transform=transform, target_transform=target_transform)  # (N, 1, H, W)

    @classmethod
    def _file_names(cls, train: bool) -> tuple[str, str]:
        split = "train" if train else "t10k"
        return f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"

    @classmethod
    def _search_dirs(cls, root: Path) -> list[Path]:
        return [root, root / "raw", root / cls._subdir / "raw"]

    def _locate(self, root: Path, train: bool) -> tuple[Path, Path]:
        names = self._file_names(train)
        dirs = self._search_dirs(root)
        found = [_find([n], dirs) for n in names]
        if found[0] is not None and found[1] is not None:
            return found[0], found[1]
        raise FileNotFoundError(self._missing_message(names, dirs))

    def _missing_message(self, names: Sequence[str], dirs: Sequence[Path]) -> str:
        where = ", ".join(str(d) for d in dirs)
        return (f"{self.name}: could not find {names[0]}[.gz] and {names[1]}[.gz] in {where}. "
                f"Put the IDX files (from http://yann.lecun.com/exdb/mnist/ or a mirror) in one of "
                f"these directories and pass it as root=.")

    def __repr__(self) -> str:
        return f"{self.name}(train={self.train}, n={len(self)}, root={str(self.root)!r})"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 10 clothing classes, MNIST's file format and sizes (1x28x28 uint8).

    With ``root=None`` the files installed by Debian's ``dataset-fashion-mnist`` package
    (``/usr/share/datasets/fashion-mnist``, or the directory in the environment variable
    ``JUANJI_FASHION_MNIST`` when set) are used; nothing is ever downloaded.

    Args:
        root: directory with ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` (also searched:
            ``root/raw``, ``root/FashionMNIST/raw``); None for Debian's copy.
        train: the 60,000 training images, else the 10,000 test images.
        transform: per-sample transform (see ``MNIST``).
        target_transform: per-sample label transform.

    Shape:
        ``data``: ``(N, 1, 28, 28)`` uint8; ``targets``: ``(N,)`` int64 indexing ``classes``.

    Example:
        >>> test = FashionMNIST(train=False)
        >>> test.data.shape, test.classes[int(test.targets[0])]
        ((10000, 1, 28, 28), 'Ankle boot')
    """

    name = "FashionMNIST"
    classes = FASHION_MNIST_CLASSES
    _subdir = "FashionMNIST"

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 transform: Transform | None = None, target_transform: TargetTransform | None = None) -> None:
        if root is None:
            root = os.environ.get("JUANJI_FASHION_MNIST", DEBIAN_FASHION_MNIST)
        super().__init__(root, train=train, transform=transform, target_transform=target_transform)

    def _missing_message(self, names: Sequence[str], dirs: Sequence[Path]) -> str:
        where = ", ".join(str(d) for d in dirs)
        return (f"{self.name}: could not find {names[0]}.gz and {names[1]}.gz (gzipped or not) in {where}. "
                f"Install them with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; the files go "
                f"to {DEBIAN_FASHION_MNIST}), or download them from https://github.com/zalandoresearch/fashion-mnist "
                f"and pass their directory as root=.")
