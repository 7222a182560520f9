"""bench/recipes.py, the recipes' epoch-time benchmark, still runs (a tiny configuration).

The digits recipe, two steps, one round, one thread, in this process: the table's columns, the
JSON's keys and the equivalence check (juanji's model against its PyTorch twin) are checked, not
the times. A twin whose weights differ must stop the benchmark before anything is timed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Any:
    torch = pytest.importorskip("torch", reason="the benchmark compares against PyTorch (CI installs it)")
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts the repository and bench/ first
    had_suite = "bench_suite" in sys.modules
    spec = importlib.util.spec_from_file_location("bench_recipes", ROOT / "bench" / "recipes.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_recipes", module)  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    yield module
    torch.set_num_threads(threads)  # the benchmark sets PyTorch's threads for the whole process
    if not had_suite:
        sys.modules.pop("bench_suite", None)  # imported by the script from bench/


def test_digits_recipe_two_steps_one_round(bench: Any, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "recipes.json"
    bench.main(["--only", "digits", "--steps", "2", "--rounds", "1", "--threads", "1", "--json", str(out)])
    text = capsys.readouterr().out
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| recipe |"))
    assert [c.strip() for c in header.strip("|").split("|")] == bench.COLUMNS
    rows = [line for line in lines if line.startswith("| digits |")]
    assert len(rows) == 1 and len(rows[0].strip("|").split("|")) == len(bench.COLUMNS), text
    assert "PROJECTED" in text and "(2 timed)" in rows[0], text  # 2 of the epoch's 41 steps

    result = json.loads(out.read_text())
    assert result["meta"]["threads"] == 1 and result["meta"]["rounds"] == 1
    assert result["meta"]["projected_from_prefix"] is True
    (row,) = result["rows"]
    for key in ("recipe", "is_recipe", "model", "batch_size", "optimizer", "scheduler", "label_smoothing",
                "steps_per_epoch", "steps_timed", "juanji_step_s", "torch_step_s", "ratio", "ratio_min",
                "ratio_max", "juanji_epoch_s", "torch_epoch_s", "juanji_images_per_s", "torch_images_per_s",
                "augmentation_s_per_epoch", "equivalence", "per_round"):
        assert key in row, key
    assert row["recipe"] == "digits" and row["is_recipe"] is True and row["model"] == "digits_cnn"
    # The CLI's split: 1,438 training images less the 10% held out for validation, in batches of 32.
    assert row["images_per_epoch"] == 1295 and row["steps_per_epoch"] == 41 and row["steps_timed"] == 2
    assert row["juanji_step_s"] > 0 and row["torch_step_s"] > 0 and len(row["per_round"]) == 1
    assert row["juanji_epoch_s"] == pytest.approx(41 * row["juanji_step_s"])
    assert row["augmentation_s_per_epoch"] is None  # the digits recipe does not augment
    eq = row["equivalence"]
    assert eq["passed"] is True
    assert eq["logits_max_rel_diff"] <= bench._LOGITS_TOL and eq["after_one_step_max_rel_diff"] <= bench._STEP_TOL


def test_a_twin_that_differs_is_refused(bench: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    loaded = bench.load_juanji_weights

    def off_by_a_little(torch_: Any, tmodel: Any, jmodel: Any) -> None:
        loaded(torch_, tmodel, jmodel)
        with torch.no_grad():
            list(tmodel.parameters())[-1].add_(0.01)  # the output layer's bias (no batch norm after it)

    monkeypatch.setattr(bench, "load_juanji_weights", off_by_a_little)
    with pytest.raises(AssertionError, match="differ"):
        bench.run(["digits"], [], threads=1, rounds=1, steps=2, json_path=None)


def test_a_recipe_of_two_processes_is_timed_as_one_rank(bench: Any, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    import dataclasses

    import torch

    from juanji.recipes import RECIPES

    two = dataclasses.replace(RECIPES["digits"], name="digits-2p", processes=2)
    monkeypatch.setitem(RECIPES, "digits-2p", two)
    seen: list[tuple[int, int]] = []
    time_round = bench._time_round

    def spy(job: Any) -> Any:
        import juanji
        seen.append((juanji.get_num_threads(), torch.get_num_threads()))
        return time_round(job)

    monkeypatch.setattr(bench, "_time_round", spy)
    result = bench.run(["digits-2p"], [], threads=2, rounds=1, steps=2, json_path=None)
    (row,) = result["rows"]
    # Each rank: ceil(1295 / 2) = 648 images, 21 batches of 32; one thread of the two each.
    assert (row["processes"], row["threads"], row["steps_per_epoch"]) == (2, 1, 21)
    assert row["images_per_epoch"] == 1295 and row["juanji_epoch_s"] == pytest.approx(21 * row["juanji_step_s"])
    assert seen == [(1, 1)] and torch.get_num_threads() == 2
    text = capsys.readouterr().out
    assert "| digits-2p | digits_cnn, 2 x 32 (one rank timed, 1 thread) | 21 (2 timed) |" in text, text
    assert "timed as one rank" in text


def test_the_one_process_extra_is_the_resnet_recipe_with_both_ranks_batches(bench: Any) -> None:
    from juanji.recipes import RECIPES

    recipe, extra = RECIPES["fashion-resnet20"], bench.EXTRAS["fashion-resnet20-one-process"]
    assert extra.processes == 1 and recipe.processes == 2
    assert extra.options == {**recipe.options, "batch_size": 2 * recipe.options["batch_size"]}
