"""CIFAR-10 and CIFAR-100 (https://www.cs.toronto.edu/~kriz/cifar.html), both distributed versions.

Python version (``cifar-10-batches-py``: ``data_batch_1`` .. ``data_batch_5``, ``test_batch``,
``batches.meta``; ``cifar-100-python``: ``train``, ``test``, ``meta``): each file is a pickled
dict with ``b"data"``, a (N, 3072) uint8 ndarray, and ``b"labels"`` (CIFAR-10) or
``b"fine_labels"``/``b"coarse_labels"`` (CIFAR-100). A pickle can run any code when loaded,
so these are read by ``safe_unpickle``: a restricted unpickler that refuses every global
except the three a pickled ndarray needs (see there).

Binary version (``cifar-10-batches-bin``: ``data_batch_1.bin`` .. ``test_batch.bin``,
``batches.meta.txt``; ``cifar-100-binary``: ``train.bin``, ``test.bin``,
``coarse_label_names.txt``, ``fine_label_names.txt``): fixed-size records of
1 label byte (CIFAR-100: coarse byte, fine byte) followed by 3072 pixel bytes.

In both, a row's 3072 bytes are the 1024 red, then green, then blue values of a 32x32
image in row-major order, so ``reshape(N, 3, 32, 32)`` gives NCHW directly.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import ArrayDataset, TargetTransform, Transform

__all__ = ["CIFAR10", "CIFAR100", "safe_unpickle"]

_PIXELS = 3 * 32 * 32


def _numpy_reconstruct() -> Any:
    """numpy's ``_reconstruct``, from ``numpy._core`` (NumPy 2) or ``numpy.core`` (NumPy 1)."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return _reconstruct


# The only globals a pickle may name: what pickle needs to rebuild a plain ndarray. CIFAR's
# files (written by Python 2's cPickle with NumPy 1) name numpy.core.multiarray._reconstruct;
# NumPy 2 writes the same function as numpy._core.multiarray._reconstruct. _reconstruct only
# allocates an empty array of a class that must itself be one of these globals (so ndarray).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
}


class _Refused(pickle.UnpicklingError):
    """The pickle asked for something a data file must not contain."""


class _RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that builds only containers, bytes, str, numbers and plain ndarrays."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise _Refused(f"refused the global '{module}.{name}'")
        return allowed()

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("refused a persistent id")


def safe_unpickle(path: str | os.PathLike) -> Any:
    """Load a pickle that may contain only plain data: never runs code named by the file.

    The unpickler's ``find_class`` refuses every global except ``numpy.core.multiarray._reconstruct``
    (and its NumPy 2 name ``numpy._core.multiarray._reconstruct``), ``numpy.ndarray`` and
    ``numpy.dtype``: exactly what a pickled ndarray (CIFAR's ``b"data"``) needs. Everything else
    a pickle can hold without globals (dict, list, tuple, set, bytes, str, int, float, bool, None)
    is admitted. Python 2 strings are read as bytes (``encoding="bytes"``), as CIFAR's keys are.
    Object arrays are refused after loading too.

    Raises:
        ValueError: the file names any other global (e.g. ``os.system``), or is not a valid pickle;
            the message names the file and the fault.

    Example:
        >>> batch = safe_unpickle("cifar-10-batches-py/data_batch_1")   # doctest: +SKIP
        >>> batch[b"data"].shape   # doctest: +SKIP
        (10000, 3072)
    """
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except _Refused as e:
        raise ValueError(f"safe_unpickle: refusing to load {path}: {e} (only plain data and numpy arrays "
                         f"are allowed in a data file)") from e
    except Exception as e:  # EOFError on truncation, and whatever a mangled stream provokes
        raise ValueError(f"safe_unpickle: {path} is not a valid pickle or is truncated "
                         f"({type(e).__name__}: {e})") from e
    _refuse_object_arrays(path, obj)
    return obj


def _refuse_object_arrays(path: Path, obj: Any, depth: int = 0) -> None:
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise ValueError(f"safe_unpickle: refusing {path}: it holds an object array (dtype {obj.dtype})")
    if depth < 4 and isinstance(obj, dict):
        for v in obj.values():
            _refuse_object_arrays(path, v, depth + 1)


def _key(batch: dict, path: Path, name: str) -> Any:
    """``batch[b"name"]`` (CIFAR's Python 2 keys) or ``batch["name"]`` (a Python 3 re-save)."""
    for k in (name.encode(), name):
        if k in batch:
            return batch[k]
    raise ValueError(f"CIFAR: {path} has no '{name}' entry (keys: {sorted(map(str, batch))})")


def _python_batch(path: Path, label_keys: tuple[str, ...]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Images (N, 3, 32, 32) uint8 and one (N,) label array per key, from a python-version file."""
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR: missing file {path}")
    batch = safe_unpickle(path)
    if not isinstance(batch, dict):
        raise ValueError(f"CIFAR: {path} should hold a dict, got {type(batch).__name__}")
    data = _key(batch, path, "data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"CIFAR: {path}: 'data' should be a uint8 array (N, {_PIXELS}), got {got}")
    labels = []
    for k in label_keys:
        y = np.asarray(_key(batch, path, k))
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise ValueError(f"CIFAR: {path}: '{k}' should be a list of ints, got {y.dtype} {y.shape}")
        if len(y) != len(data):
            raise ValueError(f"CIFAR: {path} has {len(data)} images but {len(y)} '{k}'")
        labels.append(y.astype(np.int64))
    return data.reshape(-1, 3, 32, 32), labels  # (N, 3, 32, 32)


def _binary_batch(path: Path, n_labels: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Images and labels from a binary-version file of records (label bytes, 3072 pixel bytes)."""
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR: missing file {path}")
    raw = np.fromfile(path, dtype=np.uint8)
    record = n_labels + _PIXELS
    if raw.size == 0 or raw.size % record:
        raise ValueError(f"CIFAR: {path} is truncated or corrupt: {raw.size} bytes is not a whole number of "
                         f"{record}-byte records ({n_labels} label byte(s) + {_PIXELS} pixels)")
    rows = raw.reshape(-1, record)  # (N, n_labels + 3072)
    labels = [rows[:, k].astype(np.int64) for k in range(n_labels)]
    return rows[:, n_labels:].reshape(-1, 3, 32, 32), labels  # (N, 3, 32, 32)


def _read_names(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _resolve(root: Path, name: str, layouts: dict[str, tuple[str, str]], fmt: str) -> tuple[str, Path]:
    """Which version and directory: ``root`` itself or its ``cifar-*`` sub-folder, python or binary."""
    if fmt not in ("auto", "python", "binary"):
        raise ValueError(f"{name}: format must be 'auto', 'python' or 'binary', got {fmt!r}")
    tried = []
    for version in (("python", "binary") if fmt == "auto" else (fmt,)):
        subdir, probe = layouts[version]
        for d in (root, root / subdir):
            tried.append(str(d / probe))
            if (d / probe).is_file():
                return version, d
    raise FileNotFoundError(f"{name}: no CIFAR files found; looked for {', '.join(tried)}. Download and unpack "
                            f"the python or binary version from https://www.cs.toronto.edu/~kriz/cifar.html "
                            f"and pass the directory as root=.")


class CIFAR10(ArrayDataset):
    """CIFAR-10: 50,000 train / 10,000 test 32x32 colour images in 10 classes, as uint8 NCHW.

    Args:
        root: ``cifar-10-batches-py`` or ``cifar-10-batches-bin`` (unpacked), or their parent.
        train: the five training batches, else the test batch.
        format: ``"python"``, ``"binary"`` or ``"auto"`` (python version if present).
        transform: per-sample transform on the ``(3, 32, 32)`` uint8 image (disables the
            DataLoader's one-gather fast path; prefer the loader's batch-level ``transform``).
        target_transform: per-sample transform on the label.

    Shape:
        ``data``: ``(N, 3, 32, 32)`` uint8; ``targets``: ``(N,)`` int64; ``classes``: 10 names.

    Example:
        >>> train = CIFAR10("~/data/cifar-10-batches-py")   # doctest: +SKIP
        >>> train.data.shape, train.classes[0]   # doctest: +SKIP
        ((50000, 3, 32, 32), 'airplane')
    """

    _layouts = {"python": ("cifar-10-batches-py", "data_batch_1"), "binary": ("cifar-10-batches-bin", "data_batch_1.bin")}

    def __init__(self, root: str | os.PathLike, train: bool = True, format: str = "auto",
                 transform: Transform | None = None, target_transform: TargetTransform | None = None) -> None:
        self.root = Path(root).expanduser()
        self.train = train
        self.format, d = _resolve(self.root, type(self).__name__, self._layouts, format)
        stems = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
        if self.format == "python":
            parts = [_python_batch(d / s, ("labels",)) for s in stems]
            meta = safe_unpickle(d / "batches.meta") if (d / "batches.meta").is_file() else None
            names = None if meta is None else [n.decode() if isinstance(n, bytes) else str(n)
                                               for n in _key(meta, d / "batches.meta", "label_names")]
        else:
            parts = [_binary_batch(d / f"{s}.bin", 1) for s in stems]
            names = _read_names(d / "batches.meta.txt") if (d / "batches.meta.txt").is_file() else None
        x = np.concatenate([p[0] for p in parts])  # (N, 3, 32, 32)
        y = np.concatenate([p[1][0] for p in parts])
        self.classes: list[str] = names or [str(k) for k in range(10)]
        if y.size and (y.min() < 0 or y.max() >= len(self.classes)):
            raise ValueError(f"{type(self).__name__}: label {int(y.max())} in {d} is outside [0, {len(self.classes)})")
        super().__init__(x, y, transform=transform, target_transform=target_transform)


class CIFAR100(ArrayDataset):
    """CIFAR-100: 50,000 train / 10,000 test 32x32 colour images, 100 fine classes in 20 coarse ones.

    Args:
        root: ``cifar-100-python`` or ``cifar-100-binary`` (unpacked), or their parent.
        train: the training file, else the test file.
        label: ``"fine"`` (100 classes, the default) or ``"coarse"`` (20 superclasses) for ``targets``;
            both are kept as ``fine_targets`` and ``coarse_targets``.
        format: ``"python"``, ``"binary"`` or ``"auto"``.
        transform: per-sample transform (see ``CIFAR10``).
        target_transform: per-sample label transform.

    Shape:
        ``data``: ``(N, 3, 32, 32)`` uint8; ``targets``, ``fine_targets``, ``coarse_targets``: ``(N,)`` int64.

    Example:
        >>> test = CIFAR100("~/data/cifar-100-python", train=False, label="coarse")   # doctest: +SKIP
        >>> len(test.classes)   # doctest: +SKIP
        20
    """

    _layouts = {"python": ("cifar-100-python", "train"), "binary": ("cifar-100-binary", "train.bin")}

    def __init__(self, root: str | os.PathLike, train: bool = True, label: str = "fine", format: str = "auto",
                 transform: Transform | None = None, target_transform: TargetTransform | None = None) -> None:
        if label not in ("fine", "coarse"):
            raise ValueError(f"CIFAR100: label must be 'fine' or 'coarse', got {label!r}")
        self.root = Path(root).expanduser()
        self.train = train
        self.format, d = _resolve(self.root, "CIFAR100", self._layouts, format)
        stem = "train" if train else "test"
        if self.format == "python":
            x, (fine, coarse) = _python_batch(d / stem, ("fine_labels", "coarse_labels"))
            fine_names = coarse_names = None
            if (d / "meta").is_file():
                meta = safe_unpickle(d / "meta")
                fine_names = [n.decode() if isinstance(n, bytes) else str(n)
                              for n in _key(meta, d / "meta", "fine_label_names")]
                coarse_names = [n.decode() if isinstance(n, bytes) else str(n)
                                for n in _key(meta, d / "meta", "coarse_label_names")]
        else:
            x, (coarse, fine) = _binary_batch(d / f"{stem}.bin", 2)  # coarse byte first, then fine
            fine_names = _read_names(d / "fine_label_names.txt") if (d / "fine_label_names.txt").is_file() else None
            coarse_names = (_read_names(d / "coarse_label_names.txt")
                            if (d / "coarse_label_names.txt").is_file() else None)
        self.fine_classes: list[str] = fine_names or [str(k) for k in range(100)]
        self.coarse_classes: list[str] = coarse_names or [str(k) for k in range(20)]
        for what, y, n in (("fine", fine, len(self.fine_classes)), ("coarse", coarse, len(self.coarse_classes))):
            if y.size and (y.min() < 0 or y.max() >= n):
                raise ValueError(f"CIFAR100: {what} label {int(y.max())} in {d} is outside [0, {n})")
        self.fine_targets, self.coarse_targets = fine, coarse
        self.label = label
        self.classes = self.fine_classes if label == "fine" else self.coarse_classes
        super().__init__(x, fine if label == "fine" else coarse, transform=transform,
                         target_transform=target_transform)
