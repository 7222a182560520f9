"""Named training recipes: ``juanji train --recipe NAME`` and ``juanji recipes``.

A recipe is a complete, documented set of ``juanji train`` options (data, model, optimizer,
learning-rate schedule and warm-up, weight decay, label smoothing, augmentation, batch size,
epochs) that reached a measured test accuracy on this project's 2-core machine. Any option
given on the command line overrides the recipe's value for it.

``measured`` is what the recipe's runs reached: the test set measured once, at the end, with
the validation split taken from the training data (``--val-split``, default 0.1), over the
seeds listed; ``minutes`` the median wall time of a run on 2 cores (training and evaluation,
data loading included). bench/NOTES.md, "Recipes", has every run and what was tried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Recipe", "RECIPES", "get_recipe"]


@dataclass(frozen=True)
class Recipe:
    """One recipe: ``options`` are ``juanji train``'s argument names (argparse dests) and values."""

    name: str
    summary: str
    options: dict[str, Any]
    target: str  # the accuracy the recipe is held to, and its source
    measured: str | None = None  # e.g. "99.24% ± 0.21 (seeds 0-3)"; None: not measured yet
    minutes: float | None = None  # median wall time of one run on 2 cores
    notes: tuple[str, ...] = field(default=())

    def command(self) -> str:
        """The recipe as a ``juanji train`` command line (its options spelled out)."""
        words = ["juanji", "train"]
        for key, value in self.options.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                words.append(flag)
            elif value is not False and value is not None:
                words += [flag, str(value)]
        return " ".join(words)


RECIPES: dict[str, Recipe] = {}


def _add(recipe: Recipe) -> None:
    RECIPES[recipe.name] = recipe


_add(Recipe(
    name="digits",
    summary="digits_cnn on scikit-learn's 8x8 digits: the default job (juanji train with no options)",
    options={"data": "digits", "model": "digits_cnn", "epochs": 40, "batch_size": 32, "optimizer": "adam",
             "lr": 3e-3, "scheduler": "cosine", "label_smoothing": 0.1},
    target=">= 99.0% mean over seeds 0-3, in under 30 s",
    measured="99.44% ± 0.23 (seeds 0-3: 99.72, 99.16, 99.44, 99.44)",
    minutes=0.17,
))


_add(Recipe(
    name="fashion-simple",
    summary="SimpleConvNet (conv 30@5x5, max-pool, linear 100, linear 10) on Fashion-MNIST",
    options={"data": "fashion-mnist", "model": "simple_convnet", "epochs": 30, "batch_size": 100,
             "optimizer": "adam", "lr": 2e-3, "scheduler": "onecycle", "weight_decay": 0.0,
             "label_smoothing": 0.1, "augment": 2, "hflip": True},
    target=">= 91.5% (small two-layer CNNs reach ~91-92% on Fashion-MNIST's benchmark page)",
    measured="91.97% ± 0.03 (seeds 0-2: 91.94, 92.00, 91.96)",
    minutes=4.4,
))

_add(Recipe(
    name="fashion-lenet5",
    summary="LeNet-5 (modern: ReLU, max pooling) on Fashion-MNIST",
    options={"data": "fashion-mnist", "model": "lenet5", "epochs": 40, "batch_size": 128,
             "optimizer": "adam", "lr": 3e-3, "scheduler": "onecycle", "weight_decay": 0.0,
             "label_smoothing": 0.1, "augment": 1, "hflip": True},
    target=">= 91.0%",
    measured="91.74% ± 0.17 (seeds 0-2: 91.60, 91.69, 91.93)",
    minutes=3.8,
))


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; a ValueError listing the recipes otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)} (juanji recipes lists them)") \
            from None
