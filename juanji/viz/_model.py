"""Running a model on one image for a picture, without changing the model.

``feature_maps``, ``saliency`` and ``grad_cam`` all look inside a trained model. Looking must
not touch it: ``unchanged(model)`` puts every module in eval mode (dropout off, batch norm
on its running statistics, which then are not updated) and, for the gradient pictures,
turns ``requires_grad`` off on every parameter so the backward pass computes only the
gradients the picture needs and writes no ``.grad`` into the model. On the way out, even
when the forward pass fails, each module's ``training`` flag and each parameter's
``requires_grad`` flag and ``.grad`` are put back exactly as they were; the callers remove
their forward hooks in the same ``finally``.
"""

from __future__ import annotations

import contextlib
import difflib
from typing import Any, Iterator

import numpy as np

from ..nn.conv import Conv2d
from ..nn.module import Module
from ..tensor import Tensor
from ._picture import as_numpy

__all__: list[str] = []


def check_model(op: str, model: Any) -> Module:
    if not isinstance(model, Module):
        raise TypeError(f"{op}: model must be a juanji.nn.Module, got {type(model).__name__}")
    return model


def model_dtype(model: Module) -> np.dtype:
    """The floating dtype of the model's parameters (float32 when it has none)."""
    for p in model.parameters():
        if p.data.dtype.kind == "f":
            return p.data.dtype
    return np.dtype(np.float32)


def conv_names(model: Module) -> list[str]:
    """Dotted names of every Conv2d in the model, in registration order."""
    return [n for n, m in model.named_modules() if n and isinstance(m, Conv2d)]


def one_image(op: str, model: Module, x: Any) -> np.ndarray:
    """``x`` as a batch of one image (1, C, H, W) in the model's dtype, checked against its first conv.

    Raises:
        ValueError: ``x`` is not (C, H, W) or (1, C, H, W), or its channel count is not the
            ``in_channels`` of the model's first Conv2d.
    """
    arr = as_numpy(op, "x", x)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[0] != 1:
        hint = "; pass x[i] for image i of a batch" if arr.ndim == 4 else ""
        raise ValueError(f"{op}: x must be one image (C, H, W) or a batch of one (1, C, H, W), "
                         f"got shape {tuple(np.shape(x))}{hint}")
    if 0 in arr.shape:
        raise ValueError(f"{op}: x has an empty dimension, shape {tuple(arr.shape)}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{op}: x (shape {tuple(arr.shape)}) has NaN or infinite values")
    for name, m in model.named_modules():
        if isinstance(m, Conv2d):
            if arr.shape[1] != m.in_channels:
                raise ValueError(f"{op}: x has {arr.shape[1]} channels (shape {tuple(arr.shape)}) but the "
                                 f"model's first convolution {name!r} expects {m.in_channels} "
                                 f"(weight shape {tuple(m.weight.shape)})")
            break
    # A copy: the caller's array must not become (or alias) a tensor the graph writes into.
    return np.array(arr, dtype=model_dtype(model), copy=True)


def resolve_layer(op: str, model: Module, layer: Any, arg: str = "layer") -> tuple[str, Module]:
    """A layer given by dotted name (or as the module object itself) → (name, module).

    Raises:
        TypeError: ``layer`` is neither a str nor a Module.
        ValueError: no such layer, listing the valid names and the nearest match.
    """
    named = [(n, m) for n, m in model.named_modules() if n]
    if isinstance(layer, Module):
        for n, m in named:
            if m is layer:
                return n, m
        raise ValueError(f"{op}: the {type(layer).__name__} passed as {arg} is not a layer of "
                         f"{type(model).__name__}")
    if not isinstance(layer, str):
        raise TypeError(f"{op}: {arg} must be a layer name (a str from model.named_modules()), "
                        f"got {type(layer).__name__}")
    for n, m in named:
        if n == layer:
            return n, m
    names = [n for n, _ in named]
    close = difflib.get_close_matches(layer, names, n=3, cutoff=0.5)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    if len(names) <= 40:
        listing = f" Layers: {', '.join(names)}"
    else:
        # A ResNet has hundreds of modules; the convolutions and leaf layers are what one
        # pictures, and the near matches above cover a typo in any other name.
        leaves = [n for n, m in named if isinstance(m, Conv2d)] or \
                 [n for n, m in named if not any(True for _ in m.children())]
        listing = (f" Convolutions: {', '.join(leaves[:60])}{' ...' if len(leaves) > 60 else ''} "
                   f"({len(names)} modules in all: see model.named_modules())")
    raise ValueError(f"{op}: {type(model).__name__} has no layer named {layer!r}{hint}.{listing}")


@contextlib.contextmanager
def unchanged(model: Module, freeze: bool) -> Iterator[None]:
    """Eval mode (and, with ``freeze``, no parameter gradients) inside; everything restored after."""
    flags = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad, p.grad) for p in model.parameters()]
    try:
        model.eval()
        if freeze:
            for p, _, _ in params:
                p.requires_grad = False  # a leaf, so the plain flag is all requires_grad_ would set
        yield
    finally:
        for m, flag in flags:
            object.__setattr__(m, "training", flag)  # as Module.train does, one module at a time
        for p, flag, grad in params:
            p.requires_grad = flag
            p.grad = grad


def forward(op: str, model: Module, x: Tensor) -> Any:
    """``model(x)``, with a failure re-raised as a ValueError naming ``op`` and the input shape."""
    try:
        return model(x)
    except Exception as e:
        raise ValueError(f"{op}: the forward pass of {type(model).__name__} on an input of shape "
                         f"{tuple(x.shape)} ({x.dtype}) failed: {type(e).__name__}: {e}") from e


def logits_of(op: str, out: Any) -> Tensor:
    """The model's output checked to be one row of class scores (1, K)."""
    if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != 1 or out.shape[1] < 1:
        got = f"shape {tuple(out.shape)}" if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"{op}: the model must return logits of shape (1, K) for one image, got {got}")
    if out.data.dtype.kind == "f" and not np.all(np.isfinite(out.data)):
        raise ValueError(f"{op}: the model's logits {tuple(out.shape)} contain NaN or infinite values "
                         f"(diverged weights?)")
    return out


def target_class(op: str, target: Any, logits: np.ndarray) -> int:
    """``target`` checked against K, or the predicted class (argmax of the logits) when None."""
    K = logits.shape[-1]
    if target is None:
        return int(np.argmax(logits))
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < K:
        raise ValueError(f"{op}: target must be a class index in [0, {K}) for logits of shape "
                         f"{tuple(logits.shape)}, got {target!r}")
    return int(target)
