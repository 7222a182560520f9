"""Named training recipes: ``juanji train --recipe NAME`` and ``juanji recipes``.

A recipe is a complete, documented set of ``juanji train`` options (data, model, optimizer,
learning-rate schedule and warm-up, weight decay, label smoothing, augmentation, batch size,
epochs) that reached a measured test accuracy on this project's 2-core machine. Any option
given on the command line overrides the recipe's value for it.

``measured`` is what the recipe's runs reached: the test set measured once, at the end, with
the validation split taken from the training data (``--val-split``, default 0.1), over the
seeds listed; ``minutes`` the median wall time of a run on 2 cores (training and evaluation,
data loading included). bench/NOTES.md, "Recipes", has every run and what was tried.

A recipe with ``processes`` > 1 is data-parallel training over MPI (docs/distributed.md): its
command starts with ``mpirun -n N``, ``batch_size`` is each process's batch (N times that per
step), and each process gets cores / N BLAS threads. On 2 cores, two one-thread processes train
a small network's step ~1.3x faster than one process of two threads (bench/NOTES.md, "resnet20
on two processes"). Run with another number of processes, the recipe's options still apply,
but each step then sees that number times the batch: ``juanji train`` says so when it starts.
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
    processes: int = 1  # MPI processes the recipe was measured with (mpirun -n N)

    def __post_init__(self) -> None:
        if isinstance(self.processes, bool) or not isinstance(self.processes, int) or self.processes < 1:
            raise ValueError(f"Recipe {self.name!r}: processes must be an int >= 1, got {self.processes!r}")

    def arguments(self) -> list[str]:
        """The recipe's options as ``juanji train`` arguments, e.g. ``["--data", "digits", ...]``."""
        words: list[str] = []
        for key, value in self.options.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                words.append(flag)
            elif value is not False and value is not None:
                words += [flag, str(value)]
        return words

    def launcher(self) -> list[str]:
        """What starts the command: ``["mpirun", "-n", "2"]`` for a recipe of 2 processes, else nothing."""
        return ["mpirun", "-n", str(self.processes)] if self.processes > 1 else []

    def train_words(self) -> list[str]:
        """``["juanji", "train"]``, after the launcher if the recipe has one."""
        return [*self.launcher(), "juanji", "train"]

    def command(self) -> str:
        """The recipe as a command line (its options spelled out; ``mpirun -n N`` first if N > 1)."""
        return " ".join([*self.train_words(), *self.arguments()])

    def world_note(self, world_size: int) -> str | None:
        """What a run of ``--recipe`` with ``world_size`` processes should be told, if not the recipe's number."""
        if world_size == self.processes:
            return None
        batch = self.options.get("batch_size")
        per_step = f"{self.processes} x {batch} = {self.processes * batch}" if batch else "its batch"
        ours = f"{world_size} x {batch} = {world_size * batch}" if batch else "another batch"
        start = " ".join([*self.train_words(), "--recipe", self.name]) if self.processes > 1 \
            else f"juanji train --recipe {self.name} (one process)"
        return (f"recipe {self.name} was measured with {self.processes} process{'es' * (self.processes > 1)} "
                f"({start}): {per_step} images a step; this run has {world_size}, so {ours} a step, and its "
                f"accuracy and time are not the recipe's")


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

_add(Recipe(
    name="fashion-resnet20",
    summary="resnet20 (He et al.'s CIFAR ResNet, 3 stages of 16/32/64 channels, option A) on Fashion-MNIST, "
            "two processes",
    options={"data": "fashion-mnist", "model": "resnet20", "epochs": 21, "batch_size": 64,
             "optimizer": "sgd", "lr": 0.2, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
             "scheduler": "onecycle", "label_smoothing": 0.1, "augment": 2, "hflip": True},
    target=">= 94.0% in <= 60 min a run (ResNet-18-class networks reach ~94-95% with augmentation)",
    measured="94.04% ± 0.09 (seeds 0-2: 93.94, 94.09, 94.10)",
    minutes=49.6,
    notes=("two processes: needs pip install -e '.[train,fast,distributed]' (mpi4py, and MPICH's mpirun in the "
           "environment's bin/); measured with numba installed (the fast extra)",),
    processes=2,
))


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; a ValueError listing the recipes otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)} (juanji recipes lists them)") \
            from None
