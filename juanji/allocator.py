"""glibc's malloc, told to keep the memory a training step frees for the next step.

A training step allocates and frees the same large arrays every time (activations, their
gradients, column buffers: tens of MB). glibc's malloc hands memory above its mmap
threshold back to the kernel when it is freed, and trims the top of its heap once more than
a threshold is free there, so the next step gets fresh pages and pays a page fault for every
4 KiB of them: SimpleConvNet's step (batch 100) took 4,900-5,400 page faults and 19-20 ms on
this project's 2-core VM, against 1 fault and 10-10.5 ms with the three settings below
(bench/NOTES.md has the other models).

``tune_malloc()`` sets, through ``mallopt``:

* M_MMAP_THRESHOLD 1 GiB: arrays up to 1 GiB come from the heap, which keeps them when they
  are freed, instead of each getting its own mapping (an older glibc refuses more than
  32 MiB, the ceiling of its own adaptive threshold; juanji then sets that). 32 MiB was not
  enough for VGG-11 at 224x224: its 411 MB first-classifier gradient, mapped anew every
  step, made the step 2.16-2.23 s against 1.81-1.85 s untuned and 1.68-1.71 s at 512 MiB
  or more (batch 4);
* M_TRIM_THRESHOLD 1 GiB: up to that much free memory stays at the top of the heap;
* M_TOP_PAD 64 MiB: the heap grows in steps of at least that much.

Setting any of them turns off glibc's own adjustment of the mmap threshold (setting one
alone made ResNet-50 inference slower, 150,000 faults a pass), hence all three together. The
cost is memory that stays with the process after it is freed, up to the trim threshold,
rather than going back to the system, and a peak that can grow a little where freed blocks
do not fit the next request: ResNet-50's training step (batch 8) peaked where it did
untuned, VGG-11's (batch 4, 224x224) at 2,991 MiB instead of 2,805-2,812.

These settings are process-wide and glibc offers no way back, so a library must not make
them behind its host program's back: ``import juanji`` changes nothing. They are opt-in:

* in a program: ``juanji.allocator.tune_malloc()`` (or JUANJI_MALLOC_TUNING=1 in the
  environment before juanji is imported);
* the ``juanji`` command and the benchmarks in bench/, which own their processes, opt in
  through ``tune_malloc_unless_declined()``: JUANJI_MALLOC_TUNING=0, or malloc settings of the
  user's own in the environment (any of glibc's MALLOC_MMAP_THRESHOLD_,
  MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_, or a glibc.malloc tunable in GLIBC_TUNABLES),
  decline it.

Only on glibc (Linux); elsewhere nothing is changed. The same settings can be given to any
process by glibc's own variables (MALLOC_MMAP_THRESHOLD_=1073741824
MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864), or a different allocator
preloaded (jemalloc, tcmalloc), as PyTorch's CPU tuning guide suggests for the same reason.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["tune_malloc", "tune_malloc_unless_declined", "malloc_tuned", "SETTINGS"]

# mallopt's parameter numbers (glibc's malloc.h) and the values juanji sets.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {"M_MMAP_THRESHOLD": 2**30, "M_TRIM_THRESHOLD": 2**30, "M_TOP_PAD": 64 * 2**20}
_OLD_GLIBC_MMAP_MAX = 32 * 2**20  # the largest M_MMAP_THRESHOLD an older glibc accepts
_NUMBERS = {"M_MMAP_THRESHOLD": _M_MMAP_THRESHOLD, "M_TRIM_THRESHOLD": _M_TRIM_THRESHOLD,
            "M_TOP_PAD": _M_TOP_PAD}

_tuned = False


def _glibc() -> ctypes.CDLL | None:
    """The C library, if it is glibc (which has mallopt and these parameters), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the C library this Python already uses (no search, no subprocess)
        libc.gnu_get_libc_version  # only glibc has it (musl's mallopt does nothing)
        libc.mallopt
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return libc


def tune_malloc() -> bool:
    """Apply SETTINGS through glibc's mallopt, for the whole process and for good; returns
    whether they are in effect. Safe to call again."""
    global _tuned
    libc = _glibc()
    if libc is None:
        return False
    results = []
    for name, value in SETTINGS.items():
        ok = libc.mallopt(_NUMBERS[name], value) == 1
        if not ok and name == "M_MMAP_THRESHOLD":  # an older glibc: its largest instead
            ok = libc.mallopt(_NUMBERS[name], _OLD_GLIBC_MMAP_MAX) == 1
        results.append(ok)
    _tuned = all(results)
    return _tuned


def malloc_tuned() -> bool:
    """Whether juanji's malloc settings are in effect in this process."""
    return _tuned


def _user_tuned(environ: dict[str, str]) -> bool:
    """Whether the environment already sets glibc's malloc parameters (then juanji keeps them)."""
    own = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
    return any(name in environ for name in own) or "glibc.malloc." in environ.get("GLIBC_TUNABLES", "")


def tune_malloc_unless_declined(environ: dict[str, str] | None = None) -> bool:
    """``tune_malloc()`` for a process juanji owns (the ``juanji`` command, a benchmark),
    unless the environment declines it: JUANJI_MALLOC_TUNING=0, or malloc settings of the
    user's own (then those are kept). Returns whether juanji's settings are in effect."""
    environ = dict(os.environ if environ is None else environ)
    if environ.get("JUANJI_MALLOC_TUNING", "1") == "0" or _user_tuned(environ):
        return _tuned
    return tune_malloc()


# A program opts in from outside with JUANJI_MALLOC_TUNING=1; nothing else changes malloc at import.
if os.environ.get("JUANJI_MALLOC_TUNING") == "1" and not _user_tuned(dict(os.environ)):
    tune_malloc()
