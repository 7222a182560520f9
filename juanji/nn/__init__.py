"""juanji.nn: Modules holding Parameters, one layer for every functional op."""

import sys as _sys

from .. import functional  # noqa: F401  (juanji.nn.functional is juanji.functional, as in PyTorch)

from . import activation as _activation, conv as _conv, dropout as _dropout, linear as _linear
from . import loss as _loss, misc as _misc, norm as _norm, pool as _pool
from . import init  # noqa: F401
from . import utils  # noqa: F401  (juanji.nn.utils: max_norm_, MaxNorm)
from .activation import *  # noqa: F401,F403
from .containers import ModuleDict, ModuleList, Sequential
from .conv import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .misc import *  # noqa: F401,F403
from .module import Module, Parameter
from .norm import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403

_sys.modules[__name__ + ".functional"] = functional  # makes ``import juanji.nn.functional as F`` work

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "init", "utils", "functional",
    *_activation.__all__, *_conv.__all__, *_dropout.__all__, *_linear.__all__, *_loss.__all__,
    *_misc.__all__, *_norm.__all__, *_pool.__all__,
]
