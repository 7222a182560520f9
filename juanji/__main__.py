"""``python -m juanji``: the juanji command line (see juanji.cli)."""

from .cli import run

run()
