"""Save and load weights: ``.safetensors`` or ``.npz``, chosen by the file's suffix, never pickle.

    >>> juanji.io.save(model.state_dict(), "weights.safetensors")
    >>> model.load_state_dict(juanji.io.load("weights.safetensors"))

Both formats hold a flat mapping from names (``conv1.weight``) to NumPy arrays, plus an
optional mapping of string metadata (the model's name, the class names ...):

- ``.safetensors`` (Hugging Face's format, via the ``safetensors`` package's NumPy API):
  a JSON header and raw little-endian bytes; metadata lives in the header.
- ``.npz`` (NumPy's zip of ``.npy`` files): read with ``allow_pickle=False``, so an object
  array is refused instead of unpickled; metadata is a JSON string stored as the uint8
  array ``__metadata__``.

Writes are atomic: the bytes go to a temporary file in the target's directory, which is
flushed and fsync'ed, then renamed over the target with ``os.replace`` (and the directory
fsync'ed), so a crash mid-write leaves the previous file intact, never a torn one.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .tensor import Tensor

__all__ = ["save", "load", "read", "atomic_write", "SUFFIXES"]

SUFFIXES = (".safetensors", ".npz")
_META_KEY = "__metadata__"  # the npz member holding the metadata JSON
_ORDER_KEY = "juanji.keys"  # safetensors metadata entry keeping the insertion order of the keys


def _suffix(op: str, path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{op}: unsupported file suffix {path.suffix!r} in '{path}'; "
                         f"use one of {', '.join(SUFFIXES)}")
    return suffix


def atomic_write(path: str | os.PathLike[str], write: Callable[[Any], None]) -> Path:
    """Write a file atomically: ``write(fileobj)`` fills a temporary file that replaces ``path``.

    The temporary file lives in the target's directory (so ``os.replace`` is a rename on
    one file system), is flushed and fsync'ed before the rename, and the directory is
    fsync'ed after it, so the new name points at complete data even after a power cut.
    If ``write`` raises, the temporary file is removed and ``path`` is left untouched.

    Args:
        path: the file to create or replace; its directory must exist.
        write: called once with a binary file object opened for writing.

    Returns:
        ``path`` as a Path.

    Example:
        >>> atomic_write("notes.txt", lambda f: f.write(b"hello"))
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"save: directory '{directory}' does not exist (for '{path}')")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)
    return path


def _fsync_dir(directory: Path) -> None:
    # Persist the rename itself; not every platform lets a directory be opened (Windows).
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _arrays(op: str, state_dict: Mapping[str, Any]) -> "OrderedDict[str, np.ndarray]":
    """The state_dict's values as contiguous NumPy arrays, with checked names and dtypes."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"{op}: state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}")
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    for name, value in state_dict.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{op}: every key must be a non-empty str, got {name!r}")
        if name == _META_KEY:
            raise ValueError(f"{op}: the key {_META_KEY!r} is reserved for metadata")
        arr = value.data if isinstance(value, Tensor) else np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{op}: {name!r} has dtype {arr.dtype}; only bool, integer and floating "
                            "arrays can be saved")
        # not np.ascontiguousarray, which turns a 0-d array into shape (1,)
        out[name] = arr if arr.flags.c_contiguous else np.array(arr, order="C")
    return out


def _check_metadata(op: str, metadata: Mapping[str, str] | None) -> dict[str, str]:
    meta = dict(metadata or {})
    for k, v in meta.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"{op}: metadata must map str to str, got {k!r}: {type(v).__name__}")
    if _ORDER_KEY in meta:
        raise ValueError(f"{op}: the metadata key {_ORDER_KEY!r} is reserved")
    return meta


def save(state_dict: Mapping[str, Any], path: str | os.PathLike[str],
         metadata: Mapping[str, str] | None = None) -> Path:
    """Write a mapping of names to arrays (a ``state_dict``) to ``.safetensors`` or ``.npz``, atomically.

    Args:
        state_dict: names to NumPy arrays or Tensors (bool, integer or floating dtype).
        path: the file; its suffix (``.safetensors`` or ``.npz``) picks the format.
        metadata: optional strings stored alongside (read back by ``read``).

    Returns:
        The path written.

    Example:
        >>> juanji.io.save(model.state_dict(), "runs/digits/weights.safetensors")
    """
    path = Path(path)
    suffix = _suffix("save", path)
    arrays = _arrays("save", state_dict)
    meta = _check_metadata("save", metadata)
    if suffix == ".safetensors":
        data = _safetensors_bytes(arrays, meta)
        return atomic_write(path, lambda f: f.write(data))
    return atomic_write(path, lambda f: _write_npz(f, arrays, meta))


def _safetensors_bytes(arrays: Mapping[str, np.ndarray], meta: dict[str, str]) -> bytes:
    try:
        import safetensors.numpy as stnp
    except ImportError as e:  # pragma: no cover - part of the [train] extra
        raise ImportError("save: writing .safetensors needs the safetensors package "
                          "(pip install safetensors), or save to .npz") from e
    # safetensors sorts its tensors by dtype and size; keep the caller's order in the header.
    meta = {**meta, _ORDER_KEY: json.dumps(list(arrays))}
    return stnp.save(dict(arrays), metadata=meta)


def _write_npz(f: Any, arrays: Mapping[str, np.ndarray], meta: dict[str, str]) -> None:
    """The same layout as ``np.savez`` (a zip of ``name.npy`` members), without its keyword clashes."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)
        if meta:
            blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
            with zf.open(_META_KEY + ".npy", mode="w") as member:
                np.lib.format.write_array(member, blob, allow_pickle=False)


def read(path: str | os.PathLike[str]) -> tuple["OrderedDict[str, np.ndarray]", dict[str, str]]:
    """Read a ``.safetensors`` or ``.npz`` file: its arrays (in saved order) and its metadata.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unsupported suffix, a truncated or corrupt file, or (``.npz``) an
            object array, which would need pickle to load.

    Example:
        >>> arrays, meta = juanji.io.read("weights.safetensors")
    """
    path = Path(path)
    suffix = _suffix("load", path)
    if not path.is_file():
        raise FileNotFoundError(f"load: no such file: '{path}'")
    if suffix == ".safetensors":
        return _read_safetensors(path)
    return _read_npz(path)


def load(path: str | os.PathLike[str]) -> "OrderedDict[str, np.ndarray]":
    """Read the arrays written by ``save`` (a ``state_dict`` to pass to ``load_state_dict``).

    Args:
        path: a ``.safetensors`` or ``.npz`` file.

    Returns:
        An OrderedDict of names to NumPy arrays.

    Example:
        >>> model.load_state_dict(juanji.io.load("weights.npz"))
    """
    return read(path)[0]


def _read_safetensors(path: Path) -> tuple["OrderedDict[str, np.ndarray]", dict[str, str]]:
    try:
        import safetensors.numpy as stnp
    except ImportError as e:  # pragma: no cover - part of the [train] extra
        raise ImportError("load: reading .safetensors needs the safetensors package (pip install safetensors)") from e
    raw = path.read_bytes()
    try:
        arrays = stnp.load(raw)
        meta = _safetensors_metadata(raw)
    except Exception as e:  # SafetensorError is a bare Exception subclass
        raise ValueError(f"load: '{path}' is not a valid .safetensors file (truncated or corrupt): {e}") from e
    order = json.loads(meta.pop(_ORDER_KEY, "[]"))
    ordered: OrderedDict[str, np.ndarray] = OrderedDict()
    for name in order:
        if name in arrays:
            ordered[name] = arrays.pop(name)
    ordered.update(sorted(arrays.items()))
    return ordered, meta


def _safetensors_metadata(raw: bytes) -> dict[str, str]:
    # Header: u64 little-endian length, then that many bytes of JSON (validated by stnp.load).
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    return dict(header.get("__metadata__") or {})


def _read_npz(path: Path) -> tuple["OrderedDict[str, np.ndarray]", dict[str, str]]:
    arrays: OrderedDict[str, np.ndarray] = OrderedDict()
    meta: dict[str, str] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for name in npz.files:
                arr = npz[name]
                if name == _META_KEY:
                    meta = json.loads(arr.tobytes().decode("utf-8"))
                else:
                    arrays[name] = arr
    except ValueError as e:
        if "allow_pickle" in str(e) or "Object arrays" in str(e):
            raise ValueError(f"load: '{path}' contains an object array, which only pickle could load; "
                             "juanji never unpickles (re-save the arrays with a numeric dtype)") from e
        raise ValueError(f"load: '{path}' is not a valid .npz file (truncated or corrupt): {e}") from e
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, UnicodeDecodeError) as e:
        raise ValueError(f"load: '{path}' is not a valid .npz file (truncated or corrupt): {e}") from e
    if not isinstance(meta, dict):
        raise ValueError(f"load: '{path}' has malformed metadata (expected a JSON object)")
    return arrays, meta

