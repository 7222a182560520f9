"""``juanji.nn.functional`` is ``juanji.functional``, so ``import juanji.nn.functional as F`` works."""

from ..functional import *  # noqa: F401,F403
from ..functional import __all__  # noqa: F401
