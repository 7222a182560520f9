"""juanji train --recipe NAME, juanji recipes, and the options recipes use (--hflip, the digits job's
label smoothing)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from juanji import cli
from juanji.recipes import RECIPES, Recipe, get_recipe


def parsed(*words: str) -> argparse.Namespace:
    parser = cli.build_parser()
    argv = list(words)
    args = parser.parse_args(argv)
    if args.command == "train" and args.recipe is not None:
        cli._apply_recipe(parser, args, argv)
    return args


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_is_a_valid_complete_command(name):
    recipe = get_recipe(name)
    # Its command parses (every option exists and every value is valid) and sets what the recipe says.
    args = parsed("train", *recipe.arguments())
    for key, value in recipe.options.items():
        assert getattr(args, key) == value, key
    # Complete: the choices a training run depends on are all named, none left to a data set's preset.
    for key in ("data", "model", "epochs", "batch_size", "optimizer", "lr", "scheduler", "label_smoothing"):
        assert key in recipe.options, f"recipe {name} leaves {key} to the preset"
    # --recipe NAME alone gives the same arguments as the spelled-out command.
    by_name = parsed("train", "--recipe", name)
    for key, value in recipe.options.items():
        assert getattr(by_name, key) == value, key


def test_options_given_on_the_command_line_override_the_recipe():
    recipe = get_recipe("digits")
    args = parsed("train", "--recipe", "digits", "--epochs", "2", "--label-smoothing", "0", "--lr=0.01")
    assert (args.epochs, args.label_smoothing, args.lr) == (2, 0.0, 0.01)  # given, even when it is the default
    assert args.batch_size == recipe.options["batch_size"] and args.scheduler == recipe.options["scheduler"]
    # A global option before the command does not confuse which options were given.
    args = cli.build_parser().parse_args(["--debug", "train", "--recipe", "digits", "--seed", "3"])
    cli._apply_recipe(cli.build_parser(), args, ["--debug", "train", "--recipe", "digits", "--seed", "3"])
    assert args.seed == 3 and args.epochs == recipe.options["epochs"]


def test_an_unknown_recipe_is_one_clear_line(capsys):
    assert cli.main(["train", "--recipe", "resnet9000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"juanji train: error: --recipe: unknown recipe 'resnet9000'; recipes: {', '.join(RECIPES)} "
                   "(juanji recipes lists them)"]


def test_juanji_recipes_lists_each_recipe_with_its_numbers_and_command(capsys):
    assert cli.main(["recipes"]) == 0
    out = capsys.readouterr().out
    for recipe in RECIPES.values():
        assert f"{recipe.name}: {recipe.summary}" in out
        assert recipe.command() in out and f"juanji train --recipe {recipe.name}" in out
        assert (recipe.measured or "not measured yet") in out


def test_recipe_command_spells_out_flags_and_values():
    r = Recipe("x", "s", {"data": "fashion-mnist", "hflip": True, "nesterov": False, "lr": 0.2}, target="t")
    assert r.command() == "juanji train --data fashion-mnist --hflip --lr 0.2"


def test_the_recorded_command_leaves_the_recipe_out_and_keeps_every_value():
    # config.json holds the values after the recipe filled them in; the command rebuilt from it
    # spells them out and leaves --recipe out, so it trains the same run: a value the command line
    # set back to the parser's default (--weight-decay 0 under a recipe with weight decay) is not
    # refilled by the recipe on the rerun.
    recipe = get_recipe("digits")
    for extra, changed in ((), {}), (("--label-smoothing", "0"), {"label_smoothing": 0.0}), \
            (("--momentum", "0.9", "--weight-decay", "0"), {}):
        args = parsed("train", "--recipe", "digits", *extra)
        command = cli.train_command(vars(args))
        assert "--recipe" not in command
        again = parsed(*command.split()[1:])
        for key, value in {**recipe.options, **changed}.items():
            assert getattr(again, key) == value, (key, command)
    with_wd = Recipe("wd", "s", {**recipe.options, "weight_decay": 5e-4}, target="t")
    cli_recipes = dict(RECIPES)
    try:
        RECIPES["wd"] = with_wd
        args = parsed("train", "--recipe", "wd", "--weight-decay", "0")
        assert args.weight_decay == 0.0
        assert parsed(*cli.train_command(vars(args)).split()[1:]).weight_decay == 0.0
    finally:
        RECIPES.clear()
        RECIPES.update(cli_recipes)


def test_the_digits_job_smooths_its_labels_and_hflip_builds_a_flip():
    assert cli.PRESETS["digits"]["label_smoothing"] == cli.DIGITS_LABEL_SMOOTHING == 0.1
    assert all(p["label_smoothing"] == 0.0 for k, p in cli.PRESETS.items() if k != "digits")
    from juanji.data.transforms import Compose, RandomHorizontalFlip, RandomTranslate
    t = cli._train_transform(parsed("train", "--hflip", "--augment", "2"))
    assert isinstance(t, Compose) and [type(p) for p in t.transforms] == [RandomTranslate, RandomHorizontalFlip]
    assert isinstance(cli._train_transform(parsed("train", "--hflip")), RandomHorizontalFlip)
    assert cli._train_transform(parsed("train")) is None


def test_a_recipe_of_two_processes_starts_with_mpirun_and_says_so_in_the_listing(capsys):
    recipe = get_recipe("fashion-resnet20")
    assert recipe.processes == 2 and recipe.launcher() == ["mpirun", "-n", "2"]
    assert recipe.command().startswith("mpirun -n 2 juanji train --data fashion-mnist --model resnet20 ")
    assert recipe.command().split()[5:] == recipe.arguments()
    assert cli.main(["recipes"]) == 0
    out = capsys.readouterr().out
    assert "(mpirun -n 2 juanji train --recipe fashion-resnet20 [options that override it])" in out
    assert "(juanji train --recipe digits [options that override it])" in out
    with pytest.raises(ValueError, match="processes must be an int >= 1, got 0"):
        Recipe("bad", "s", {}, target="t", processes=0)


def test_a_run_with_another_number_of_processes_is_told_its_steps_are_not_the_recipes(tmp_path, monkeypatch, capsys):
    two = get_recipe("fashion-resnet20")
    assert two.world_note(2) is None and get_recipe("digits").world_note(1) is None
    assert two.world_note(1) == (
        "recipe fashion-resnet20 was measured with 2 processes (mpirun -n 2 juanji train --recipe fashion-resnet20): "
        "2 x 64 = 128 images a step; this run has 1, so 1 x 64 = 64 a step, and its accuracy and time are not the "
        "recipe's")
    assert "measured with 1 process (juanji train --recipe digits (one process)): 1 x 32 = 32" in \
        get_recipe("digits").world_note(2)
    # juanji train prints it (one process here) before anything else happens; the bad --root then stops the run.
    monkeypatch.chdir(tmp_path)
    status = cli.main(["train", "--recipe", "fashion-resnet20", "--root", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert err.startswith(f"juanji train: note: {two.world_note(1)}\n"), err
    assert status != 0


@pytest.mark.parametrize("name", [n for n, r in RECIPES.items() if r.measured])
def test_readme_recipe_table_states_what_the_recipe_measured(name):
    # The figures live twice, in juanji/recipes.py (what `juanji recipes` prints) and in the README's
    # recipe table; a run added to one must reach the other.
    recipe = get_recipe(name)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith(f"| `{name}`")]
    assert len(rows) == 1, f"README has {len(rows)} recipe rows for {name}"
    accuracy, seeds = re.fullmatch(r"(\S+% ± \S+) \(seeds (\d+-\d+):.*\)", recipe.measured).groups()
    first, last = map(int, seeds.split("-"))
    assert f"| {accuracy} |" in rows[0]
    assert "S = " + ", ".join(str(s) for s in range(first, last + 1)) + " |" in rows[0]
