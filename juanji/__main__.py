"""``python -m juanji``: the juanji command line (see juanji.cli)."""

import sys

from .cli import main

sys.exit(main())
