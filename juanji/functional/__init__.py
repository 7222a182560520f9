"""juanji.functional (imported as F): one differentiable function per op, PyTorch signatures.

Each op family lives in one file with its Functions' forward and backward side by side.
"""

from .activation import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .signal import *  # noqa: F401,F403
from . import activation, conv, dropout, linear, loss, norm, pool, shape, signal

__all__ = [
    *activation.__all__, *conv.__all__, *dropout.__all__, *linear.__all__, *loss.__all__,
    *norm.__all__, *pool.__all__, *shape.__all__, *signal.__all__,
]
