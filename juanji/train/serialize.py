"""Nested Python state as JSON plus flat arrays, faithfully and without pickle.

An optimizer's ``state_dict`` mixes dicts with int keys, tuples (``betas``), bools,
Python ints (``step``), floats that may be infinite (a scheduler's ``best``), Counters
(``MultiStepLR.milestones``) and NumPy arrays. Plain JSON would turn int keys into
strings, tuples into lists and refuse infinities, so ``pack`` tags what JSON cannot say:

    {"__j__": "tuple", "items": [...]}          a tuple
    {"__j__": "dict", "items": [[k, v], ...]}   a dict whose keys are not all plain strings
    {"__j__": "counter", "items": [[k, n], ...]} a collections.Counter
    {"__j__": "float", "v": "inf"}              inf, -inf or nan
    {"__j__": "array", "key": "opt/state/0/exp_avg"}   an ndarray, stored apart
    {"__j__": "scalar", "key": ...}             a NumPy scalar (np.float32(1.5) ...), stored apart

and ``unpack`` reverses it exactly: ``unpack(*pack(x)) == x`` with every type kept.

    >>> tree, arrays = pack({"state": {0: {"step": 3, "m": np.zeros(2)}}, "betas": (0.9, 0.999)})
    >>> unpack(tree, arrays)["state"][0]["step"]
    3
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Mapping

import numpy as np

from ..tensor import Tensor

__all__ = ["pack", "unpack"]

_TAG = "__j__"


def pack(obj: Any, prefix: str = "") -> tuple[Any, dict[str, np.ndarray]]:
    """Split ``obj`` into a JSON-serialisable tree and a dict of arrays named by their path.

    Args:
        obj: nested dicts, lists, tuples, Counters, None/bool/int/float/str, ndarrays,
            NumPy scalars and Tensors.
        prefix: prepended to every array's name (``"optimizer/"``).

    Returns:
        (tree, arrays): ``json.dumps(tree, allow_nan=False)`` works, and the arrays are
        NumPy arrays ready for ``juanji.io.save``.
    """
    arrays: dict[str, np.ndarray] = {}
    tree = _pack(obj, prefix.rstrip("/") if prefix else "", arrays)
    return tree, arrays


def _join(path: str, part: Any) -> str:
    return f"{path}/{part}" if path else str(part)


def _pack(obj: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int) and not isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {_TAG: "float", "v": repr(obj)}
    if isinstance(obj, (Tensor, np.ndarray, np.generic)):
        arr = obj.data if isinstance(obj, Tensor) else np.asarray(obj)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"pack: {path or 'value'} has dtype {arr.dtype}; only numeric arrays can be stored")
        key = path or "value"
        if key in arrays:
            raise ValueError(f"pack: two arrays would be stored under the name {key!r}")
        arrays[key] = np.array(arr, copy=True)
        return {_TAG: "scalar" if isinstance(obj, np.generic) else "array", "key": key}
    if isinstance(obj, tuple):
        return {_TAG: "tuple", "items": [_pack(v, _join(path, i), arrays) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_pack(v, _join(path, i), arrays) for i, v in enumerate(obj)]
    if isinstance(obj, Counter):
        return {_TAG: "counter", "items": [[_pack(k, _join(path, f"k{i}"), arrays), _pack(v, _join(path, k), arrays)]
                                           for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj) and _TAG not in obj:
            return {k: _pack(v, _join(path, k), arrays) for k, v in obj.items()}
        return {_TAG: "dict", "items": [[_pack(k, _join(path, f"k{i}"), arrays), _pack(v, _join(path, k), arrays)]
                                        for i, (k, v) in enumerate(obj.items())]}
    raise TypeError(f"pack: cannot store {type(obj).__name__} at {path or 'the top level'!r} "
                    "(use dicts, lists, tuples, numbers, strings, None and arrays)")


# A checkpoint's tree nests a handful of levels (state -> optimizer -> state -> 0 -> exp_avg);
# a file nesting deeper than this is hostile, and refusing it keeps unpack far from Python's
# recursion limit.
MAX_DEPTH = 100
_FLOATS = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def unpack(tree: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """Rebuild the object ``pack`` split into ``tree`` and ``arrays``.

    The tree is checked as it is rebuilt (it may come from a hostile file): every tag must
    be known and carry its fields with the right types, dict and Counter keys must be
    hashable, arrays must exist, and nesting is at most ``MAX_DEPTH`` levels.

    Raises:
        ValueError: naming the place in the tree (``optimizer/state/0``) and what is wrong.
    """
    return _unpack(tree, arrays, "", 0)


def _bad(path: str, why: str) -> ValueError:
    return ValueError(f"unpack: {path or 'the top level'}: {why}")


def _pairs(tree: dict[str, Any], path: str) -> list[list[Any]]:
    items = tree.get("items")
    if not isinstance(items, list) or not all(isinstance(kv, list) and len(kv) == 2 for kv in items):
        raise _bad(path, f"a {tree[_TAG]!r} entry needs 'items', a list of [key, value] pairs")
    return items


def _key(value: Any, path: str) -> Any:
    try:
        hash(value)
    except TypeError:
        raise _bad(path, f"a {type(value).__name__} cannot be a dict key") from None
    return value


def _unpack(tree: Any, arrays: Mapping[str, np.ndarray], path: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _bad(path, f"nested more than {MAX_DEPTH} levels deep")
    depth += 1
    if isinstance(tree, list):
        return [_unpack(v, arrays, _join(path, i), depth) for i, v in enumerate(tree)]
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    if not isinstance(tree, dict):
        raise _bad(path, f"a {type(tree).__name__} is not a JSON value")
    if _TAG not in tree:
        return {k: _unpack(v, arrays, _join(path, k), depth) for k, v in tree.items()}
    tag = tree[_TAG]
    if tag == "tuple":
        items = tree.get("items")
        if not isinstance(items, list):
            raise _bad(path, "a 'tuple' entry needs 'items', a list")
        return tuple(_unpack(v, arrays, _join(path, i), depth) for i, v in enumerate(items))
    if tag in ("dict", "counter"):
        out = {}
        for i, (k, v) in enumerate(_pairs(tree, path)):
            key = _key(_unpack(k, arrays, _join(path, f"k{i}"), depth), _join(path, f"k{i}"))
            out[key] = _unpack(v, arrays, _join(path, key), depth)
        if tag == "dict":
            return out
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in out.values()):
            raise _bad(path, "a Counter's counts must be ints")
        return Counter(out)
    if tag == "float":
        v = tree.get("v")
        if v not in _FLOATS:
            raise _bad(path, f"a 'float' entry holds 'inf', '-inf' or 'nan', got {v!r}")
        return _FLOATS[v]
    if tag in ("array", "scalar"):
        key = tree.get("key")
        if not isinstance(key, str):
            raise _bad(path, f"an {tag!r} entry needs 'key', a str, got {key!r}")
        if key not in arrays:
            raise ValueError(f"unpack: the array {key!r} is missing from the stored arrays")
        arr = np.array(arrays[key], copy=True)
        if tag == "scalar":
            if arr.ndim != 0:
                raise _bad(path, f"the scalar {key!r} is stored with shape {arr.shape}")
            return arr[()]
        return arr
    raise _bad(path, f"unknown tag {tag!r}")
