"""juanji.allocator: opted in, glibc's malloc keeps the memory a training step frees, so the
next step takes no page faults. ``import juanji`` alone changes nothing (a library does not
retune its host process); the juanji command opts in for its own process; JUANJI_MALLOC_TUNING
and the user's own malloc settings decide. Each case runs in a fresh process, since the
settings are process-wide and cannot be undone."""

import os
import subprocess
import sys

import pytest

from juanji.allocator import _glibc

needs_glibc = pytest.mark.skipif(_glibc() is None, reason="malloc tuning applies to glibc (Linux) only")

# SimpleConvNet's training step at batch 100 (the suite's row): page
# faults per step after two warm-up steps, and whether the settings are in effect.
STEP_FAULTS = """
import resource, numpy as np, juanji, juanji.functional as F
from juanji.allocator import malloc_tuned
from juanji.models import get_model
from juanji.optim import Adam
juanji.manual_seed(0)
model = get_model("simple_convnet")
opt = Adam(model.parameters(), lr=1e-3)
rng = np.random.default_rng(0)
x = juanji.from_numpy(rng.standard_normal((100, 1, 28, 28)).astype(np.float32))
y = juanji.from_numpy(rng.integers(0, 10, 100))
def step():
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
step(); step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print(malloc_tuned(), (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


_OWN = ("JUANJI_MALLOC_TUNING", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
        "GLIBC_TUNABLES")


def _run(env_value: str | None, **extra: str) -> tuple[bool, float]:
    env = {k: v for k, v in os.environ.items() if k not in _OWN}
    if env_value is not None:
        env["JUANJI_MALLOC_TUNING"] = env_value
    env.update(extra)
    out = subprocess.run([sys.executable, "-c", STEP_FAULTS], env=env, capture_output=True, text=True,
                         timeout=300, check=True)
    tuned, faults = out.stdout.split()
    return tuned == "True", float(faults)


@needs_glibc
def test_importing_juanji_leaves_malloc_alone():
    tuned, _ = _run(None)
    assert not tuned


@needs_glibc
def test_a_training_step_reuses_freed_memory_without_page_faults():
    # Untuned, this step took ~4,900 page faults (19 MB of fresh pages) on the project's VM,
    # about half its time; tuned, 1. JUANJI_MALLOC_TUNING=1 opts a program in at import.
    tuned, faults = _run("1")
    assert tuned
    assert faults < 50, f"{faults} page faults per step"


@needs_glibc
def test_juanji_malloc_tuning_0_leaves_malloc_alone():
    tuned, _ = _run("0")
    assert not tuned


@needs_glibc
def test_malloc_settings_the_user_chose_are_kept():
    assert not _run("1", MALLOC_TRIM_THRESHOLD_="0")[0]
    assert not _run("1", GLIBC_TUNABLES="glibc.malloc.mmap_threshold=65536")[0]
    assert _run("1", GLIBC_TUNABLES="glibc.pthread.rseq=0")[0]  # not a malloc tunable


# The juanji program (console script, python -m juanji) runs main() after cli.run() opted in;
# main() is replaced here by a report of the setting, so nothing else runs.
RUN_THE_COMMAND = """
import juanji.allocator, juanji.cli
juanji.cli.main = lambda: print(juanji.allocator.malloc_tuned()) or 0
juanji.cli.run()
"""
# main() called from a program (as a library function) leaves the host process alone.
CALL_MAIN = """
import contextlib, io, juanji.allocator
from juanji.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["summary", "digits_cnn"])
print(juanji.allocator.malloc_tuned())
"""


def _tuned_after(script: str, **env_extra: str) -> bool:
    env = {k: v for k, v in os.environ.items() if k not in _OWN}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                         check=True)
    return out.stdout.split()[-1] == "True"


@needs_glibc
def test_the_juanji_command_opts_in_for_its_own_process():
    assert _tuned_after(RUN_THE_COMMAND)
    assert not _tuned_after(RUN_THE_COMMAND, JUANJI_MALLOC_TUNING="0")
    assert not _tuned_after(RUN_THE_COMMAND, MALLOC_TOP_PAD_="0")
    assert not _tuned_after(CALL_MAIN)


@needs_glibc
def test_tune_malloc_reports_what_glibc_accepted():
    from juanji import allocator
    assert allocator.tune_malloc() is True and allocator.malloc_tuned()  # again: the same settings


def test_an_older_glibc_that_refuses_a_1_gib_mmap_threshold_gets_32_mib(monkeypatch):
    # glibc used to refuse mmap thresholds above 32 MiB (half its largest heap); tune_malloc
    # then sets that ceiling, and the other two settings all the same. A stand-in C library
    # records the calls (the real settings are process-wide and stay in the other tests'
    # fresh processes).
    from juanji import allocator
    calls = []

    class OldGlibc:
        @staticmethod
        def mallopt(param, value):
            calls.append((param, value))
            return 0 if param == -3 and value > 32 * 2**20 else 1

    monkeypatch.setattr(allocator, "_glibc", lambda: OldGlibc)
    monkeypatch.setattr(allocator, "_tuned", False)
    assert allocator.tune_malloc() is True
    assert calls == [(-3, 2**30), (-3, 32 * 2**20), (-1, 2**30), (-2, 64 * 2**20)]

    class NoMallopt:
        @staticmethod
        def mallopt(param, value):
            return 0

    monkeypatch.setattr(allocator, "_glibc", lambda: NoMallopt)
    assert allocator.tune_malloc() is False and not allocator.malloc_tuned()
