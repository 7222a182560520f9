"""juanji train --recipe NAME, juanji recipes, and the options recipes use (--hflip, the digits job's
label smoothing)."""

from __future__ import annotations

import argparse

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
    args = parsed(*recipe.command().split()[1:])
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
