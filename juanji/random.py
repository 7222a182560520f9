"""One seedable random generator drives everything random in juanji.

Weight initialisation, ``randn``/``rand``, dropout masks and data shuffling all draw
from ``default_generator()``, so ``juanji.manual_seed(0)`` makes a whole run
repeatable, and ``get_rng_state``/``set_rng_state`` let a checkpoint resume it exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["manual_seed", "default_generator", "get_rng_state", "set_rng_state", "seed"]

_generator = np.random.Generator(np.random.PCG64())


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator; returns it."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    global _generator
    _generator = np.random.Generator(np.random.PCG64(int(seed)))
    return _generator


def seed() -> int:
    """Seed the global generator from the operating system's entropy; returns the seed."""
    s = int(np.random.SeedSequence().entropy % (2**63))
    manual_seed(s)
    return s


def default_generator() -> np.random.Generator:
    """The generator every random op in juanji draws from."""
    return _generator


def get_rng_state() -> dict[str, Any]:
    """The generator's full state (a plain dict of ints and strings, safe to serialise)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state returned by ``get_rng_state``."""
    _generator.bit_generator.state = state
