"""A registry of model builders, so ``juanji train --model resnet18`` resolves by name.

Each builder module decorates its public functions with ``@register_model``; the
registry maps the function's name to it. Builders take keyword arguments such as
``num_classes`` and ``in_channels`` and return an ``nn.Module``.
"""

from __future__ import annotations

from typing import Any, Callable

from ..nn import Module

__all__ = ["register_model", "get_model", "list_models", "model_builder"]

_MODELS: dict[str, Callable[..., Module]] = {}


def register_model(fn: Callable[..., Module]) -> Callable[..., Module]:
    """Decorator: make ``fn`` available as ``get_model(fn.__name__)``."""
    name = fn.__name__
    if name in _MODELS and _MODELS[name] is not fn:
        raise ValueError(f"register_model: a model named {name!r} is already registered")
    _MODELS[name] = fn
    return fn


def list_models() -> list[str]:
    """The names of every registered model, sorted."""
    return sorted(_MODELS)


def model_builder(name: str) -> Callable[..., Module]:
    """The builder function registered as ``name`` (to inspect its arguments)."""
    if name not in _MODELS:
        raise ValueError(f"model_builder: unknown model {name!r}; known models: {', '.join(list_models())}")
    return _MODELS[name]


def get_model(name: str, **kwargs: Any) -> Module:
    """Build the registered model ``name`` with ``kwargs`` (e.g. ``num_classes=10``)."""
    if name not in _MODELS:
        raise ValueError(f"get_model: unknown model {name!r}; known models: {', '.join(list_models())}")
    return _MODELS[name](**kwargs)
