"""Save and load weights: ``.safetensors`` or ``.npz``, chosen by the file's suffix, never pickle.

    >>> juanji.io.save(model.state_dict(), "weights.safetensors")
    >>> model.load_state_dict(juanji.io.load("weights.safetensors"))

Both formats hold a flat mapping from names (``conv1.weight``) to NumPy arrays, plus an
optional mapping of string metadata (the model's name, the class names ...):

- ``.safetensors`` (Hugging Face's format, via the ``safetensors`` package's NumPy API):
  a JSON header and raw little-endian bytes; metadata lives in the header.
- ``.npz`` (NumPy's zip of ``.npy`` files): each member's ``.npy`` header is parsed and
  checked against the zip directory before its array is allocated, an object array is
  refused instead of unpickled; metadata is a JSON string stored as the uint8 array
  ``__metadata__``.

Writes are atomic (``atomic_write``, from ``juanji._atomic``, where every layer that writes a
file finds it): the bytes go to a temporary file in the target's directory, which is flushed
and fsync'ed, then renamed over the target with ``os.replace`` (and the directory fsync'ed),
so a crash mid-write leaves the previous file intact, never a torn one.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ._atomic import atomic_write
from .tensor import Tensor

__all__ = ["save", "load", "read", "atomic_write", "SUFFIXES"]

SUFFIXES = (".safetensors", ".npz")
_META_KEY = "__metadata__"  # the npz member holding the metadata JSON
_ORDER_KEY = "juanji.keys"  # safetensors metadata entry keeping the insertion order of the keys
_LOADABLE = "biuf"  # the dtype kinds save writes and read returns: bool, signed and unsigned int, float


def _suffix(op: str, path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{op}: unsupported file suffix {path.suffix!r} in '{path}'; "
                         f"use one of {', '.join(SUFFIXES)}")
    return suffix


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
        if arr.dtype.kind not in _LOADABLE:
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

    Every declared size (a ``.npy`` member's header, a safetensors header's shapes and
    offsets) is checked against the file before anything is allocated, and only the dtypes
    ``save`` writes (bool, integer, floating) are returned; anything else refuses the whole
    file (nothing is returned half-read).

    Returns:
        (arrays, metadata): an OrderedDict of names to arrays of any shape, and a dict of
        strings.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unsupported suffix; a truncated, corrupt or non-zip file; a size that
            the file cannot hold (a size bomb); an array of another dtype (string, complex,
            datetime, structured ...; an ``.npz`` object array, which would need pickle);
            malformed metadata. The message names the file and the entry.

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


class _Refused(ValueError):
    """A reader's own, already worded error: passed through, not wrapped as "corrupt"."""


def _describe(shape: tuple[int, ...], dtype: np.dtype | str) -> str:
    return f"shape {tuple(shape)} {dtype}"


def _nbytes(shape: tuple[int, ...] | list[int], itemsize: int) -> int:
    # Python ints never overflow, where np.prod would wrap around at 2**63 and could
    # turn a hostile shape into a small (or negative) byte count.
    count = 1
    for n in shape:
        count *= int(n)
    return count * itemsize


def _refuse_dtype(path: Path, name: str, dtype: Any) -> None:
    raise _Refused(f"load: '{path}': entry {name!r} has dtype {dtype}; only bool, integer and floating "
                   "arrays are loaded (save refuses the others too)")


def _parse_json(text: bytes | str) -> Any:
    """``json.loads`` whose every failure (bad syntax, bad UTF-8, nesting deep enough to exhaust
    the parser's recursion) is one ValueError."""
    try:
        return json.loads(text)
    except RecursionError as e:
        raise ValueError("nested too deeply") from e


# --- .safetensors -------------------------------------------------------------------------------
# The header is read and checked here before the safetensors package sees the file, so a hostile
# header cannot make anything allocate more than the file's own size, and every refusal names the
# file and the entry. The package then validates the layout again (its offsets must tile the data).
_SAFETENSORS_MAX_HEADER = 100 * 1000 * 1000  # the safetensors package's own cap on the header (100 MB)
_SAFETENSORS_DTYPES = {
    "BOOL": np.dtype(np.bool_), "U8": np.dtype(np.uint8), "I8": np.dtype(np.int8),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "U32": np.dtype("<u4"), "I32": np.dtype("<i4"),
    "U64": np.dtype("<u8"), "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"),
}  # exactly what save writes: bool, integer, floating


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _safetensors_header(path: Path, raw: bytes) -> dict[str, Any]:
    """The checked JSON header of a .safetensors file held in ``raw``."""
    def corrupt(why: str) -> _Refused:
        return _Refused(f"load: '{path}' is not a valid .safetensors file (truncated or corrupt): {why}")

    if len(raw) < 8:
        raise corrupt(f"{len(raw)} bytes, fewer than the 8 of the header length")
    n = int.from_bytes(raw[:8], "little")
    if n > len(raw) - 8:
        raise corrupt(f"header length {n} exceeds the {len(raw) - 8} bytes after it")
    if n > _SAFETENSORS_MAX_HEADER:
        raise corrupt(f"header length {n} exceeds the cap of {_SAFETENSORS_MAX_HEADER} bytes")
    try:
        header = _parse_json(raw[8:8 + n])
    except ValueError as e:
        raise corrupt(f"the header is not JSON ({e})") from e
    if not isinstance(header, dict):
        raise corrupt(f"the header is a JSON {type(header).__name__}, not an object")
    data_len = len(raw) - 8 - n
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise corrupt("'__metadata__' must map strings to strings")
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("dtype"), str):
            raise corrupt(f"tensor {name!r} is not an object with a dtype, a shape and data_offsets")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise corrupt(f"tensor {name!r} has shape {shape!r}, not a list of non-negative ints")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets)
                or offsets[0] > offsets[1]):
            raise corrupt(f"tensor {name!r} has data_offsets {offsets!r}, not [begin, end] with begin <= end")
        dtype = _SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            _refuse_dtype(path, name, entry["dtype"])
        if offsets[1] > data_len:
            raise corrupt(f"tensor {name!r} ends at byte {offsets[1]}, beyond the {data_len} bytes of data")
        nbytes = _nbytes(shape, dtype.itemsize)
        if nbytes != offsets[1] - offsets[0]:
            raise corrupt(f"tensor {name!r} declares {_describe(shape, dtype.name)} ({nbytes} bytes) but its "
                          f"data_offsets span {offsets[1] - offsets[0]} bytes")
    return header


def _read_safetensors(path: Path) -> tuple["OrderedDict[str, np.ndarray]", dict[str, str]]:
    try:
        import safetensors.numpy as stnp
    except ImportError as e:  # pragma: no cover - part of the [train] extra
        raise ImportError("load: reading .safetensors needs the safetensors package (pip install safetensors)") from e
    raw = path.read_bytes()
    header = _safetensors_header(path, raw)
    try:
        arrays = stnp.load(raw)
    except Exception as e:  # SafetensorError is a bare Exception subclass
        raise ValueError(f"load: '{path}' is not a valid .safetensors file (truncated or corrupt): {e}") from e
    meta = dict(header.get("__metadata__") or {})
    order = _key_order(path, meta.pop(_ORDER_KEY, "[]"))
    ordered: OrderedDict[str, np.ndarray] = OrderedDict()
    for name in order:
        if name in arrays:
            ordered[name] = arrays.pop(name)
    ordered.update(sorted(arrays.items()))
    return ordered, meta


def _key_order(path: Path, text: str) -> list[str]:
    """The saved order of the tensor names (safetensors itself sorts them by dtype and size)."""
    try:
        order = _parse_json(text)
    except ValueError:
        order = None
    if not isinstance(order, list) or not all(isinstance(k, str) for k in order):
        raise ValueError(f"load: '{path}' has malformed metadata: {_ORDER_KEY!r} must be a JSON list of the "
                         f"tensor names, got {text[:60]!r}")
    return order


# --- .npz ----------------------------------------------------------------------------------------
# Each member's .npy header is read and checked against the zip directory before its array is
# allocated. A stored member's data must be exactly the bytes the header declares. A deflated
# member's uncompressed size (what the directory claims, and what zipfile will read up to) is capped
# at DEFLATE's own limit: one 258-byte match per (at best) 2 bits of output bounds the expansion at
# 1032:1, so a claim beyond that is a forged directory, i.e. a zip bomb; within it, memory stays
# below 1032 times the file's size. Other compression methods (bzip2, lzma expand far more) are
# refused: numpy's savez_compressed writes only DEFLATE.
_DEFLATE_MAX_RATIO = 1032
_DEFLATE_SLACK = 64  # bytes: the stream of a tiny member costs a few bytes of framing


def _read_npz(path: Path) -> tuple["OrderedDict[str, np.ndarray]", dict[str, str]]:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        with open(path, "rb") as f:
            start = f.read(4)
        # A zip (even a truncated one) starts with a local header; anything else is no zip at all,
        # e.g. a bare .npy or a pickle renamed to .npz.
        why = "truncated or corrupt" if len(start) < 4 or start == b"PK\x03\x04" else "not a zip archive"
        raise ValueError(f"load: '{path}' is not a valid .npz file ({why}): {e}") from e
    except NotImplementedError as e:  # a zip feature zipfile lacks (a newer zip version ...)
        raise ValueError(f"load: '{path}' uses a zip feature juanji cannot read: {e}") from e
    except (OSError, EOFError, ValueError) as e:
        raise ValueError(f"load: '{path}' is not a valid .npz file (truncated or corrupt): {e}") from e
    arrays: OrderedDict[str, np.ndarray] = OrderedDict()
    meta: dict[str, str] = {}
    try:
        with zf:
            size = path.stat().st_size
            for info in zf.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else None
                if name is None or info.is_dir():
                    raise _Refused(f"load: '{path}': member {info.filename!r} is not a .npy array")
                if name in arrays or (name == _META_KEY and meta):
                    raise _Refused(f"load: '{path}': the member {info.filename!r} appears twice")
                arr = _read_member(path, zf, info, size)
                if name == _META_KEY:
                    meta = _npz_metadata(path, arr)
                else:
                    arrays[name] = arr
    except _Refused:
        raise
    except NotImplementedError as e:  # patched data, strong encryption
        raise ValueError(f"load: '{path}' uses a zip feature juanji cannot read: {e}") from e
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, RecursionError, SyntaxError, zlib.error) as e:
        raise ValueError(f"load: '{path}' is not a valid .npz file (truncated or corrupt): {e}") from e
    return arrays, meta


def _read_member(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, size: int) -> np.ndarray:
    """One checked .npy member as an array; no allocation beyond what the zip directory vouches for."""
    where = f"load: '{path}': member {info.filename!r}"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _Refused(f"{where} uses zip compression method {info.compress_type}; only stored and deflated "
                       "members are read")
    if info.flag_bits & 0x1:  # zipfile would ask for a password (a RuntimeError)
        raise _Refused(f"{where} is encrypted; .npz members are plain")
    if info.header_offset + info.compress_size > size:
        raise _Refused(f"load: '{path}' is not a valid .npz file (truncated or corrupt): member "
                       f"{info.filename!r} ends beyond the file's {size} bytes")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise _Refused(f"{where} is stored uncompressed but claims {info.file_size} bytes in {info.compress_size}")
    if (info.compress_type == zipfile.ZIP_DEFLATED
            and info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + _DEFLATE_SLACK):
        raise _Refused(f"{where} claims {info.file_size} bytes uncompressed from {info.compress_size} compressed, "
                       f"more than DEFLATE's limit of {_DEFLATE_MAX_RATIO}:1 (a zip bomb?)")
    with zf.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:  # 3.0 only adds UTF-8 field names, i.e. structured dtypes, which are refused anyway
            raise _Refused(f"{where} is a .npy file of version {version[0]}.{version[1]}; versions 1.0 and "
                           "2.0 are read")
        name = info.filename[:-4]
        if dtype.hasobject:
            raise _Refused(f"load: '{path}' contains an object array, which only pickle could load (entry "
                           f"{name!r}); juanji never unpickles (re-save the arrays with a numeric dtype)")
        if dtype.kind not in _LOADABLE or dtype.fields is not None or dtype.subdtype is not None:
            _refuse_dtype(path, name, dtype)
        if not all(_is_count(d) for d in shape):
            raise _Refused(f"{where} has a negative dimension in shape {shape}")
        nbytes = _nbytes(shape, dtype.itemsize)
        held = info.file_size - member.tell()
        if nbytes != held:
            raise _Refused(f"{where} declares {_describe(shape, dtype)} ({nbytes} bytes) but holds {held} "
                           "bytes of data")
        flat = np.empty(nbytes // dtype.itemsize, dtype=dtype)
        view = memoryview(flat).cast("B") if nbytes else memoryview(b"")
        filled = 0
        while filled < nbytes:
            got = member.readinto(view[filled:])
            if not got:
                raise EOFError(f"member {info.filename!r} ends after {filled} of its {nbytes} data bytes")
            filled += got
        member.read(1)  # reach the end of the member, where zipfile checks its CRC
    if fortran:
        return flat.reshape(shape[::-1]).transpose()
    return flat.reshape(shape)


def _npz_metadata(path: Path, arr: np.ndarray) -> dict[str, str]:
    """The metadata member: a uint8 array holding a JSON object of strings."""
    meta: Any = None
    if arr.dtype == np.uint8 and arr.ndim == 1:
        try:
            meta = _parse_json(arr.tobytes().decode("utf-8"))
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            meta = None
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _Refused(f"load: '{path}' has malformed metadata (expected a JSON object of strings in the "
                       f"uint8 member {_META_KEY!r})")
    return meta
