"""CIFAR-10 and CIFAR-100 (https://www.cs.toronto.edu/~kriz/cifar.html), both distributed versions.

Python version (``cifar-10-batches-py``: ``data_batch_1`` .. ``data_batch_5``, ``test_batch``,
``batches.meta``; ``cifar-100-python``: ``train``, ``test``, ``meta``): each file is a pickled
dict with ``b"data"``, a (N, 3072) uint8 ndarray, and ``b"labels"`` (CIFAR-10) or
``b"fine_labels"``/``b"coarse_labels"`` (CIFAR-100). A pickle can run any code when loaded,
so these are read by ``safe_unpickle``: a restricted unpickler that admits only the few
names numpy's own array pickles use, checks every array's shape, dtype and bytes before it is
built, and refuses everything else (see ``_RestrictedUnpickler``).

Binary version (``cifar-10-batches-bin``: ``data_batch_1.bin`` .. ``test_batch.bin``,
``batches.meta.txt``; ``cifar-100-binary``: ``train.bin``, ``test.bin``,
``coarse_label_names.txt``, ``fine_label_names.txt``): fixed-size records of
1 label byte (CIFAR-100: coarse byte, fine byte) followed by 3072 pixel bytes.

In both, a row's 3072 bytes are the 1024 red, then green, then blue values of a 32x32
image in row-major order, so ``reshape(N, 3, 32, 32)`` gives NCHW directly.
"""

from __future__ import annotations

import io
import math
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import ArrayDataset, TargetTransform, Transform

__all__ = ["CIFAR10", "CIFAR100", "safe_unpickle"]

_PIXELS = 3 * 32 * 32


#: The largest file ``safe_unpickle`` and the binary-version reader read (1 GiB): a documented
#: cap, far above CIFAR-100's 155 MB ``train`` file, checked from the file's size before it is
#: read. (An unpickled array is backed by bytes of the file itself, so a load holds about twice
#: the file at most, never what a file merely declares.)
MAX_FILE_BYTES = 1 << 30

# The dtypes an array in a data file may have: plain booleans, integers and floats ('u1' for
# CIFAR). No object dtype (it would hold arbitrary objects), no structured, sub-array,
# datetime or string dtypes. Keys are what numpy's pickles pass to dtype(): 'u1', 'f8' ...
_SIMPLE_DTYPES = frozenset({"b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"})

# numpy's own dtype pickle state for a simple dtype, after its byte order:
# (version 3, byteorder, subarray, names, fields, elsize, alignment, flags).
_SIMPLE_DTYPE_STATE_TAIL = (None, None, None, -1, -1, 0)
_BYTE_ORDERS = ("<", ">", "|", "=", b"<", b">", b"|", b"=")  # str, or bytes from a Python 2 file

_MAX_DIMS = 32


class _Refused(pickle.UnpicklingError):
    """The pickle asked for something a data file must not contain."""


class _NdarrayName:
    """What the name ``numpy.ndarray`` unpickles to: a token that ``_reconstruct`` accepts as
    its class argument. It is not the class, so a pickle can never call ``numpy.ndarray(...)``
    (which allocates uninitialised memory, or views any buffer with any strides)."""

    def __repr__(self) -> str:
        return "<numpy.ndarray, as named by a pickle>"


_NDARRAY = _NdarrayName()


def _is_plain_int(v: Any) -> bool:
    return type(v) is int  # bool and numpy integers are not sizes


def _check_shape(shape: Any) -> tuple[int, ...]:
    if (type(shape) is not tuple or len(shape) > _MAX_DIMS
            or not all(_is_plain_int(d) and 0 <= d < (1 << 62) for d in shape)):
        raise _Refused(f"refused the array shape {shape!r} (expected a tuple of at most {_MAX_DIMS} sizes)")
    return shape


def _check_dtype(dtype: Any) -> np.dtype:
    if (not isinstance(dtype, np.dtype) or dtype.str[1:] not in _SIMPLE_DTYPES or dtype.names is not None
            or dtype.subdtype is not None or dtype.hasobject or dtype.metadata is not None):
        raise _Refused(f"refused the array dtype {dtype!r} (only plain numeric dtypes are allowed)")
    return dtype


def _check_data(data: Any, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """The array's bytes must be exactly prod(shape) * itemsize, so the array is backed by the
    file's own bytes and nothing is allocated beyond what the file holds."""
    if type(data) not in (bytes, bytearray):
        raise _Refused(f"refused array data of type {type(data).__name__} (expected bytes)")
    need = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if len(data) != need:
        raise _Refused(f"refused an array of shape {shape} and dtype {dtype.name}: it needs {need} bytes, "
                       f"the file gives {len(data)}")


class _RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """An unpickler that builds only containers, bytes, str, numbers and plain numeric ndarrays.

    Why the pure-Python unpickler (``pickle._Unpickler``) and not the C one: it lets us replace
    the BUILD opcode, which is where numpy's pickles hand an array its shape, dtype and bytes;
    its memo is a dict (the C unpickler sizes an array by the largest memo index a file names,
    so a ten-byte file can make it allocate gigabytes); and it reads from an in-memory file
    with ``read(n)``, which never allocates more than the file holds. It is slower, which
    CIFAR's few thousand opcodes per batch do not notice.

    What a file may name (``find_class``) and what each name does here:

    - ``numpy[._]core.multiarray._reconstruct``: only as ``_reconstruct(numpy.ndarray, (0,), b'b')``,
      which is how every ndarray pickle (protocols 0-4) starts: an empty int8 array, which the
      next BUILD fills from the state (version 1, shape, dtype, is_fortran, raw bytes). Our BUILD
      checks that state (plain shape, simple dtype, raw bytes exactly prod(shape) * itemsize)
      before numpy's ``__setstate__`` sees it, and builds each such array at most once.
    - ``numpy[._]core.numeric._frombuffer(buf, dtype, shape, order)``: protocol 5's ndarray, with
      the same checks on buf, dtype and shape.
    - ``numpy.ndarray``: a token (``_NdarrayName``) that only ``_reconstruct`` accepts; never callable.
    - ``numpy.dtype(name, align, copy)``: only a simple numeric name ('u1', 'f8' ...); always a
      fresh copy (so a BUILD can never change numpy's shared descriptors), whose BUILD state
      must be the plain one numpy writes for such a dtype (only the byte order varies).
    - ``_codecs.encode(text, 'latin1')``: how protocol 2 (Python 3) writes bytes; the result is no
      longer than the text, which is no longer than the file.
    - ``builtins.bytes()`` with no argument: protocol 2's empty bytes.

    Everything else (``os.system``, ``numpy.ndarray(...)``, ``as_strided``, other codecs ...)
    is refused, as are persistent ids and BUILD on anything but an array or dtype made above.
    """

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, encoding="bytes")
        # Arrays and dtypes made by _reconstruct / dtype() and not yet given their state, by id
        # (holding the object keeps its id unique while it waits).
        self._unbuilt: dict[int, Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): self._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): self._reconstruct,
            ("numpy.core.numeric", "_frombuffer"): self._frombuffer,
            ("numpy._core.numeric", "_frombuffer"): self._frombuffer,
            ("numpy", "ndarray"): _NDARRAY,
            ("numpy", "dtype"): self._dtype,
            ("_codecs", "encode"): self._latin1_encode,
            ("builtins", "bytes"): self._empty_bytes,
            ("__builtin__", "bytes"): self._empty_bytes,
        }.get((module, name))
        if allowed is None:
            raise _Refused(f"refused the global '{module}.{name}'")
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("refused a persistent id")

    # --- the callables a file may name -----------------------------------------------------

    def _reconstruct(self, cls: Any, shape: Any, typecode: Any) -> np.ndarray:
        if not (cls is _NDARRAY and type(shape) is tuple and len(shape) == 1 and _is_plain_int(shape[0])
                and shape[0] == 0 and typecode in (b"b", "b")):
            raise _Refused(f"refused _reconstruct{(cls, shape, typecode)!r} (only numpy's own "
                           f"_reconstruct(ndarray, (0,), b'b') is allowed)")
        arr = np.empty((0,), np.int8)  # what numpy's _reconstruct makes; BUILD gives it its data
        self._unbuilt[id(arr)] = arr
        return arr

    def _frombuffer(self, buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        dtype, shape = _check_dtype(dtype), _check_shape(shape)
        if order not in ("C", "F"):
            raise _Refused(f"refused the array order {order!r}")
        _check_data(buf, shape, dtype)
        return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)  # a view of the file's bytes

    def _dtype(self, name: Any, align: Any = False, copy: Any = True) -> np.dtype:
        text = name.decode("ascii", "replace") if type(name) is bytes else name  # Python 2 str -> bytes
        if type(text) is not str or text not in _SIMPLE_DTYPES or align not in (0, 1) or copy not in (0, 1):
            raise _Refused(f"refused the dtype {name!r} (only plain numeric dtypes are allowed)")
        dt = np.dtype(text, copy=True)  # a fresh descriptor, whatever copy= the file asked for
        self._unbuilt[id(dt)] = dt
        return dt

    def _latin1_encode(self, text: Any, encoding: Any = None) -> bytes:
        if type(text) is not str or encoding != "latin1":
            raise _Refused("refused _codecs.encode other than (str, 'latin1')")
        return text.encode("latin-1")

    def _empty_bytes(self, *args: Any) -> bytes:
        if args:
            raise _Refused("refused bytes(...) with arguments")
        return b""

    # --- BUILD --------------------------------------------------------------------------------

    def _load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if self._unbuilt.pop(id(inst), None) is not inst:
            raise _Refused(f"refused BUILD on a {type(inst).__name__} (only arrays and dtypes made by "
                           f"_reconstruct and dtype() take a state, once)")
        if isinstance(inst, np.dtype):
            if not (type(state) is tuple and len(state) == 8 and state[0] == 3 and state[1] in _BYTE_ORDERS
                    and state[2:] == _SIMPLE_DTYPE_STATE_TAIL):
                raise _Refused(f"refused the dtype state {state!r} (only a plain numeric dtype's)")
            inst.__setstate__(state)
            _check_dtype(inst)
            return
        if not (type(state) is tuple and len(state) == 5 and _is_plain_int(state[0]) and state[0] == 1):
            raise _Refused("refused an array state that is not (1, shape, dtype, is_fortran, bytes)")
        _, shape, dtype, fortran, data = state
        shape, dtype = _check_shape(shape), _check_dtype(dtype)
        if fortran not in (0, 1):
            raise _Refused(f"refused the array order flag {fortran!r}")
        _check_data(data, shape, dtype)
        inst.__setstate__(state)
        if inst.shape != shape or inst.dtype != dtype:  # numpy did what the state says, nothing else
            raise _Refused(f"refused an array that unpickled as {inst.dtype} {inst.shape}")

    dispatch[pickle.BUILD[0]] = _load_build

    def load(self) -> Any:
        obj = super().load()
        if any(isinstance(v, np.ndarray) for v in self._unbuilt.values()):
            raise _Refused("refused an array that was never given its data")
        return obj


def safe_unpickle(path: str | os.PathLike) -> Any:
    """Load a pickle that may contain only plain data: never runs code named by the file.

    Admitted: what a pickle holds without globals (dict, list, tuple, set, bytes, str, int,
    float, bool, None) and ndarrays of plain numeric dtypes, rebuilt only the way numpy's own
    pickles do it (Python 2's cPickle as CIFAR was written, and Python 3 at protocols 2 to 5),
    each array backed by exactly as many bytes of the file as its shape and dtype need (see
    ``_RestrictedUnpickler`` for the few names a file may use and the checks on each).
    Python 2 strings are read as bytes (``encoding="bytes"``), as CIFAR's keys are. Files over
    ``MAX_FILE_BYTES`` are refused before they are read.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file names any other global (e.g. ``os.system``), an array that is not
            plain numeric data backed by its bytes, or is not a valid pickle; the message names
            the file and the fault.

    Example:
        >>> batch = safe_unpickle("cifar-10-batches-py/data_batch_1")   # doctest: +SKIP
        >>> batch[b"data"].shape   # doctest: +SKIP
        (10000, 3072)
    """
    path = Path(path)
    with open(path, "rb") as f:  # FileNotFoundError for a missing file
        size = os.fstat(f.fileno()).st_size
        if size > MAX_FILE_BYTES:
            raise ValueError(f"safe_unpickle: refusing to load {path}: {size} bytes is more than MAX_FILE_BYTES "
                             f"({MAX_FILE_BYTES})")
        # read() sizes its buffer from the file; read(n) would allocate n bytes up front.
        raw = f.read()
    if len(raw) > MAX_FILE_BYTES:  # the file grew while it was read
        raise ValueError(f"safe_unpickle: refusing to load {path}: more than MAX_FILE_BYTES ({MAX_FILE_BYTES})")
    try:
        # BytesIO.read(n) returns at most what the file holds, however large the n a file declares.
        obj = _RestrictedUnpickler(io.BytesIO(raw)).load()
    except _Refused as e:
        raise ValueError(f"safe_unpickle: refusing to load {path}: {e} (only plain data and numeric numpy "
                         f"arrays are allowed in a data file)") from e
    except Exception as e:  # EOFError on truncation, and whatever a mangled stream provokes
        raise ValueError(f"safe_unpickle: {path} is not a valid pickle or is truncated "
                         f"({type(e).__name__}: {e})") from e
    return obj


def _key(batch: dict, path: Path, name: str) -> Any:
    """``batch[b"name"]`` (CIFAR's Python 2 keys) or ``batch["name"]`` (a Python 3 re-save)."""
    if not isinstance(batch, dict):
        raise ValueError(f"CIFAR: {path} should hold a dict, got {type(batch).__name__}")
    for k in (name.encode(), name):
        if k in batch:
            return batch[k]
    raise ValueError(f"CIFAR: {path} has no '{name}' entry (keys: {sorted(map(str, batch))})")


# A label column: the key in a python batch, what messages call it, and how many classes there are.
LabelSpec = tuple[str, str, int]


def _check_range(path: Path, lo: int, hi: int, what: str, n_classes: int) -> None:
    """Labels must index the classes; the message gives the offending value itself (the smallest
    if any is negative, else the largest)."""
    if lo < 0 or hi >= n_classes:
        raise ValueError(f"CIFAR: {path} has {what} {lo if lo < 0 else hi} (outside [0, {n_classes}))")


def _python_labels(path: Path, batch: dict, spec: LabelSpec, n_images: int) -> np.ndarray:
    """One label column of a python batch as (N,) int64: a flat list of ints (or a 1-D int array)."""
    key, what, n_classes = spec
    y = _key(batch, path, key)
    if isinstance(y, np.ndarray):
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise ValueError(f"CIFAR: {path}: '{key}' should be a flat list of ints, got an array {y.dtype} {y.shape}")
    elif isinstance(y, list):
        bad = next((i for i, v in enumerate(y) if type(v) is not int), None)  # bool, float, list ... are not labels
        if bad is not None:
            raise ValueError(f"CIFAR: {path}: '{key}' should be a flat list of ints, but item {bad} is "
                             f"{type(y[bad]).__name__} {y[bad]!r:.40}")
    else:
        raise ValueError(f"CIFAR: {path}: '{key}' should be a flat list of ints, got {type(y).__name__}")
    if len(y) != n_images:
        raise ValueError(f"CIFAR: {path} has {n_images} images but {len(y)} '{key}'")
    # The range in Python ints, before any conversion: a label past int64 is reported as it is.
    _check_range(path, int(min(y)), int(max(y)), what, n_classes)
    return np.asarray(y, dtype=np.int64)  # (N,)


def _python_batch(path: Path, specs: tuple[LabelSpec, ...]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Images (N, 3, 32, 32) uint8 and one (N,) label array per spec, from a python-version file."""
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR: missing file {path}")
    batch = safe_unpickle(path)
    data = _key(batch, path, "data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"CIFAR: {path}: 'data' should be a uint8 array (N, {_PIXELS}), got {got}")
    # safe_unpickle only builds arrays backed by exactly their bytes; checked again here, where the
    # (N, 3072) images are used, because an array that views memory it does not hold (zero
    # strides, a foreign buffer) is how a small file becomes a huge data set.
    if not (data.flags.c_contiguous or data.flags.f_contiguous) or data.nbytes != data.shape[0] * _PIXELS:
        raise ValueError(f"CIFAR: {path}: 'data' is not a plain array of its own bytes (strides {data.strides})")
    if data.shape[0] == 0:
        raise ValueError(f"CIFAR: {path} holds no images (an empty batch)")
    labels = [_python_labels(path, batch, spec, len(data)) for spec in specs]
    return data.reshape(-1, 3, 32, 32), labels  # (N, 3, 32, 32)


def _binary_batch(path: Path, specs: tuple[LabelSpec, ...]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Images and labels from a binary-version file of records (label bytes, 3072 pixel bytes)."""
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR: missing file {path}")
    n_labels = len(specs)
    record = n_labels + _PIXELS
    size = path.stat().st_size  # checked before anything is read or allocated
    if size == 0:
        raise ValueError(f"CIFAR: {path} holds no images (an empty file)")
    if size % record:
        raise ValueError(f"CIFAR: {path} is truncated or corrupt: {size} bytes is not a whole number of "
                         f"{record}-byte records ({n_labels} label byte(s) + {_PIXELS} pixels)")
    if size > MAX_FILE_BYTES:
        raise ValueError(f"CIFAR: {path} is {size} bytes, more than MAX_FILE_BYTES ({MAX_FILE_BYTES})")
    raw = np.fromfile(path, dtype=np.uint8, count=size)  # never more than was checked
    if raw.size != size:  # the file changed under us
        raise ValueError(f"CIFAR: {path} changed while it was read ({size} bytes, then {raw.size})")
    rows = raw.reshape(-1, record)  # (N, n_labels + 3072)
    labels = []
    for k, (_, what, n_classes) in enumerate(specs):
        y = rows[:, k].astype(np.int64)  # (N,)
        _check_range(path, int(y.min()), int(y.max()), what, n_classes)
        labels.append(y)
    return rows[:, n_labels:].reshape(-1, 3, 32, 32), labels  # (N, 3, 32, 32)


def _meta_names(path: Path, *keys: str) -> list[list[str] | None]:
    """The class names under each key of a python-version meta file (Nones when it is absent)."""
    if not path.is_file():
        return [None] * len(keys)
    meta = safe_unpickle(path)
    out: list[list[str] | None] = []
    for key in keys:
        names = _key(meta, path, key)
        if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
            raise ValueError(f"CIFAR: {path}: '{key}' should be a list of names, got {type(names).__name__} "
                             f"{names!r:.60}")
        try:
            out.append([n.decode() if isinstance(n, bytes) else n for n in names])
        except UnicodeDecodeError as e:
            raise ValueError(f"CIFAR: {path}: '{key}' holds a name that is not UTF-8 ({e})") from e
    return out


def _read_names(path: Path) -> list[str] | None:
    """The class names in a binary-version ``*.txt`` file, one a line (None when it is absent)."""
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"CIFAR: {path} is not a UTF-8 text file of class names ({e})") from e
    return [line.strip() for line in text.splitlines() if line.strip()]


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
        # The names first: each batch's labels are checked against their number as it is read.
        if self.format == "python":
            names, = _meta_names(d / "batches.meta", "label_names")
        else:
            names = _read_names(d / "batches.meta.txt")
        self.classes: list[str] = names or [str(k) for k in range(10)]
        spec = (("labels", "label", len(self.classes)),)
        if self.format == "python":
            parts = [_python_batch(d / s, spec) for s in stems]
        else:
            parts = [_binary_batch(d / f"{s}.bin", spec) for s in stems]
        x = np.concatenate([p[0] for p in parts])  # (N, 3, 32, 32)
        y = np.concatenate([p[1][0] for p in parts])
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
        # The names first: the labels are checked against their number as the file is read.
        if self.format == "python":
            fine_names, coarse_names = _meta_names(d / "meta", "fine_label_names", "coarse_label_names")
        else:
            fine_names = _read_names(d / "fine_label_names.txt")
            coarse_names = _read_names(d / "coarse_label_names.txt")
        self.fine_classes: list[str] = fine_names or [str(k) for k in range(100)]
        self.coarse_classes: list[str] = coarse_names or [str(k) for k in range(20)]
        fine_spec = ("fine_labels", "fine label", len(self.fine_classes))
        coarse_spec = ("coarse_labels", "coarse label", len(self.coarse_classes))
        if self.format == "python":
            x, (fine, coarse) = _python_batch(d / stem, (fine_spec, coarse_spec))
        else:
            x, (coarse, fine) = _binary_batch(d / f"{stem}.bin", (coarse_spec, fine_spec))  # coarse byte first
        self.fine_targets, self.coarse_targets = fine, coarse
        self.label = label
        self.classes = self.fine_classes if label == "fine" else self.coarse_classes
        super().__init__(x, fine if label == "fine" else coarse, transform=transform,
                         target_transform=target_transform)
