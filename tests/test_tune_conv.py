"""bench/tune_conv.py, the planner-threshold tuner: the structure of what it reports.

Its timings are never checked (a shared machine decides them); this runs its core in-process
on a tiny sweep of two thresholds whose routes need neither numba nor an adding BLAS, checks
the rows and the suggested line against a fabricated sweep whose crossover is known, and
executes such a line against juanji.kernels.conv.set_thresholds.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest

import juanji
from juanji.kernels.conv import set_thresholds, thresholds

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tune():
    spec = importlib.util.spec_from_file_location("tune_conv", ROOT / "bench" / "tune_conv.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["tune_conv"] = mod  # dataclasses resolve their module by name
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop("tune_conv", None)


def _run_line(line: str) -> juanji.kernels.conv.Thresholds:
    """Execute a suggested line as a user would paste it; return the thresholds it set, and
    put the process-wide ones back."""
    previous = set_thresholds()  # no change: just the thresholds in force
    try:
        exec(line, {"juanji": juanji})
        return thresholds()
    finally:
        set_thresholds(**dataclasses.asdict(previous))


def test_a_tiny_sweep_reports_every_threshold(tune, monkeypatch):
    # the two sweeps on small images and batches: the same machinery, a fraction of the work
    tiny = {"adjoint_min_channels": lambda c: tune.Case((2, c, 12, 12), (16, c, 3, 3), padding=1),
            "batch_inner_min_cgk": lambda cgk: tune.Case((2, cgk // 9, 12, 12), (8, cgk // 9, 3, 3), padding=1)}
    for name, case in tiny.items():
        monkeypatch.setitem(tune.SWEEPS, name, dataclasses.replace(tune.SWEEPS[name], case=case))
    names = list(tiny)
    sizes = {"adjoint_min_channels": (8, 16), "batch_inner_min_cgk": (9, 18)}
    rows = tune.measure(names, quick=True, repeats=1, rounds=2, settle=0.0, min_block=0.0, sizes=sizes)
    assert [r["threshold"] for r in rows] == names
    for r in rows:
        assert r["current"] == getattr(thresholds(), r["threshold"])
        assert [p["size"] for p in r["points"]] == list(sizes[r["threshold"]])
        for p in r["points"]:
            assert p["rule_s"] > 0 and p["other_s"] > 0 and len(p["round_ratios"]) == 2
            assert p["verdict"] in ("rule", "other", "~")
        assert r["measured_text"] and r["status"]
        assert r["suggested"] is None or r["suggested"] != r["current"]
    # the routes compared really differ in the direction the threshold decides
    assert all(p["rule_plan"]["dx"].startswith("adjoint") and not p["other_plan"]["dx"].startswith("adjoint")
               for p in rows[0]["points"])
    assert all((p["rule_plan"]["dw"], p["other_plan"]["dw"]) == ("batch_inner", "im2col") for p in rows[1]["points"])
    table = tune.markdown_table(rows).splitlines()
    assert len(table) == 2 + len(rows) and all(f"| {n} |" in t for n, t in zip(names, table[2:]))
    line = tune.suggestion(rows)
    changed = {r["threshold"]: r["suggested"] for r in rows if r["suggested"] is not None}
    if line is None:
        assert not changed
    else:
        after = _run_line(line)
        assert {k: getattr(after, k) for k in changed} == changed


def _points(sizes, verdicts):
    ratio = {"rule": 0.8, "other": 1.25, "~": 1.0}
    return [{"size": s, "verdict": v, "ratio": ratio[v]} for s, v in zip(sizes, verdicts)]


def test_the_crossover_of_a_known_sweep(tune):
    sizes = (16, 32, 64, 128, 256)
    # the rule's route wins from 128 on, the two are even at 64: T belongs in (32, 128]
    pts = _points(sizes, ["other", "other", "~", "rule", "rule"])
    assert tune.analyse(pts, 64)["suggested"] is None  # consistent: kept
    a = tune.analyse(pts, 256)
    assert (a["measured"], a["suggested"]) == (128, 128)
    assert tune.analyse(pts, 16)["suggested"] == 128
    # noise everywhere: no crossover, nothing suggested
    a = tune.analyse(_points(sizes, ["~"] * 5), 64)
    assert a["measured_text"] == "no clear crossover" and a["suggested"] is None
    # the rule's route loses at the sweep's end: the value lies beyond it, nothing suggested
    assert tune.analyse(_points(sizes, ["other", "~", "other", "~", "other"]), 64)["suggested"] is None
    # an "at most" rule (direct_max_out_channels): the rule's route wins at the small sizes
    a = tune.analyse(_points((2, 4, 8, 16, 24), ["rule", "rule", "rule", "other", "other"]), 4, at_most=True)
    assert (a["measured"], a["suggested"]) == (8, 8)
    assert tune.analyse(_points((2, 4, 8, 16, 24), ["rule", "rule", "rule", "~", "other"]), 12,
                        at_most=True)["suggested"] is None


def test_the_line_names_only_what_differs_and_runs(tune):
    rows = [{"threshold": "winograd_min_channels", "current": 128, "suggested": 96},
            {"threshold": "rowshift_min_rows", "current": 24, "suggested": None},
            {"threshold": "adjoint_min_channels", "current": 64, "suggested": 64}]
    line = tune.suggestion(rows)
    assert line == "juanji.kernels.conv.set_thresholds(winograd_min_channels=96)"
    before = thresholds()
    assert _run_line(line).winograd_min_channels == 96
    assert thresholds() == before  # put back
    assert tune.suggestion(rows[1:]) is None
