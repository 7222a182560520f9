"""Test configuration.

Oracle tests (PyTorch) and data-set tests may skip on a user's machine. In CI,
``JUANJI_STRICT_SKIPS=1`` turns every skip into a failure, so a missing oracle can never
make the suite pass silently.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

STRICT = os.environ.get("JUANJI_STRICT_SKIPS") == "1"

# The test run is a process of juanji's own: it opts in to the malloc tuning the juanji command
# has (juanji/allocator.py), so in-process tests run as the command does. test_allocator.py
# checks the library's default (no tuning at import) in fresh processes.
from juanji.allocator import tune_malloc_unless_declined  # noqa: E402

tune_malloc_unless_declined()

# In CI (CI=true) hypothesis draws the same examples every run, so a landing can never hinge
# on an unlucky draw; on a developer's machine it keeps exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(f"{report.nodeid}: {report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if STRICT and _skipped:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if STRICT and _skipped:
        terminalreporter.write_sep("=", "JUANJI_STRICT_SKIPS=1: skipped tests are failures in CI", red=True)
        for line in _skipped:
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _seed() -> None:
    import numpy as np

    import juanji

    juanji.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def plot_labels(monkeypatch: pytest.MonkeyPatch) -> list:
    """The ``label=`` of every line matplotlib's ``Axes.plot`` draws during the test, in order."""
    from matplotlib.axes import Axes

    labels: list = []
    original = Axes.plot

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        labels.append(kwargs.get("label"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", spy)
    return labels
