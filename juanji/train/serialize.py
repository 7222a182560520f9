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


def unpack(tree: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """Rebuild the object ``pack`` split into ``tree`` and ``arrays``.

    Raises:
        ValueError: a tag is unknown or names an array that ``arrays`` lacks.
    """
    if isinstance(tree, list):
        return [unpack(v, arrays) for v in tree]
    if not isinstance(tree, dict):
        return tree
    tag = tree.get(_TAG)
    if tag is None:
        return {k: unpack(v, arrays) for k, v in tree.items()}
    if tag == "tuple":
        return tuple(unpack(v, arrays) for v in tree["items"])
    if tag == "dict":
        return {unpack(k, arrays): unpack(v, arrays) for k, v in tree["items"]}
    if tag == "counter":
        return Counter({unpack(k, arrays): unpack(v, arrays) for k, v in tree["items"]})
    if tag == "float":
        return float(tree["v"])
    if tag in ("array", "scalar"):
        key = tree["key"]
        if key not in arrays:
            raise ValueError(f"unpack: the array {key!r} is missing from the stored arrays")
        arr = np.array(arrays[key], copy=True)
        return arr[()] if tag == "scalar" else arr
    raise ValueError(f"unpack: unknown tag {tag!r}")
