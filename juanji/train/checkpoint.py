"""Training checkpoints: everything needed to continue a run, in one file, without pickle.

A checkpoint is one ``.safetensors`` (or ``.npz``) file written atomically by
``juanji.io.save``:

- the model's ``state_dict`` as arrays named ``model/<name>``;
- every other array (the optimizer's moment buffers ...) named by its path, e.g.
  ``optimizer/state/0/exp_avg``;
- a JSON tree in the metadata entry ``juanji.checkpoint`` holding the rest: the epoch,
  the optimizer's ``param_groups`` and step counts, the scheduler's state, the history,
  the random generators' states and the callbacks' states (see ``serialize.pack``).

    >>> save_checkpoint("last.safetensors", model=model.state_dict(), epoch=3, optimizer=opt.state_dict())
    >>> ckpt = load_checkpoint("last.safetensors"); model.load_state_dict(ckpt["model"])
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import io
from ..nn import Module
from .serialize import pack, unpack

__all__ = ["save_checkpoint", "load_checkpoint", "is_checkpoint", "load_weights", "FORMAT"]

FORMAT = "juanji.checkpoint"
VERSION = 1
_META = "juanji.checkpoint"
_MODEL = "model/"


def save_checkpoint(path: str | os.PathLike[str], model: Mapping[str, Any], **state: Any) -> Path:
    """Write a checkpoint: a model ``state_dict`` plus any nested training state, atomically.

    Args:
        path: a ``.safetensors`` or ``.npz`` file.
        model: the model's ``state_dict`` (names to arrays).
        **state: anything ``serialize.pack`` can store (``epoch=3``, ``optimizer=opt.state_dict()``,
            ``history=[...]``, ``rng=juanji.get_rng_state()`` ...).

    Returns:
        The path written.
    """
    arrays: OrderedDict[str, np.ndarray] = OrderedDict((_MODEL + k, v) for k, v in io._arrays("save_checkpoint", model).items())
    tree, extra = pack(state)
    clash = [k for k in extra if k.startswith(_MODEL)]
    if clash:
        raise ValueError(f"save_checkpoint: state entries may not be named 'model': {clash[:3]}")
    arrays.update(extra)
    meta = {_META: json.dumps({"format": FORMAT, "version": VERSION, "state": tree}, allow_nan=False)}
    return io.save(arrays, path, metadata=meta)


def is_checkpoint(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a checkpoint (rather than a plain weights file)."""
    return _META in io.read(path)[1]


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``.

    Returns:
        A dict with ``"model"`` (an OrderedDict state_dict) and every entry given to
        ``save_checkpoint``, with their original types (int keys, tuples, ints ...).

    Raises:
        FileNotFoundError: no file.
        ValueError: a corrupt file, a plain weights file, or checkpoint metadata that is not
            the tree ``save_checkpoint`` writes (wrong types, unknown tags, nesting too deep).
    """
    arrays, meta = io.read(path)
    if _META not in meta:
        raise ValueError(f"load_checkpoint: '{path}' holds weights but no training state (no {_META!r} "
                         "metadata); load it with juanji.io.load and model.load_state_dict")
    try:
        doc = json.loads(meta[_META])
    except (ValueError, RecursionError) as e:  # json.loads recurses once per nesting level
        raise ValueError(f"load_checkpoint: '{path}' has corrupt checkpoint metadata: "
                         f"{'nested too deeply' if isinstance(e, RecursionError) else e}") from e
    if not isinstance(doc, dict):
        raise ValueError(f"load_checkpoint: '{path}' has malformed checkpoint metadata: a JSON "
                         f"{type(doc).__name__}, not an object")
    version = doc.get("version")
    if doc.get("format") != FORMAT or not isinstance(version, int) or isinstance(version, bool) or version > VERSION:
        raise ValueError(f"load_checkpoint: '{path}' has format {doc.get('format')!r} version "
                         f"{version!r}; this juanji reads {FORMAT!r} up to version {VERSION}")
    if not isinstance(doc.get("state"), dict):
        raise ValueError(f"load_checkpoint: '{path}' has malformed checkpoint metadata: 'state' must be an "
                         f"object, got {type(doc.get('state')).__name__}")
    try:
        state = unpack(doc["state"], arrays)
    except ValueError as e:
        raise ValueError(f"load_checkpoint: '{path}' has malformed checkpoint metadata: {e}") from e
    state["model"] = OrderedDict((k[len(_MODEL):], v) for k, v in arrays.items() if k.startswith(_MODEL))
    return state


def load_weights(model: Module, path: str | os.PathLike[str], strict: bool = True) -> dict[str, str]:
    """Load a model's weights from a weights file or a checkpoint; returns the file's metadata.

    Args:
        model: the module to fill.
        path: ``.safetensors``/``.npz`` written by ``juanji.io.save`` or ``save_checkpoint``.
        strict: passed to ``load_state_dict``.

    Example:
        >>> load_weights(model, "runs/digits/weights.safetensors")
    """
    arrays, meta = io.read(path)
    if _META in meta:
        arrays = OrderedDict((k[len(_MODEL):], v) for k, v in arrays.items() if k.startswith(_MODEL))
    try:
        model.load_state_dict(arrays, strict=strict)
    except ValueError as e:  # name the file, as every other refusal of a file does
        raise ValueError(f"load_weights: '{path}': {e}") from e
    return {k: v for k, v in meta.items() if k != _META}
