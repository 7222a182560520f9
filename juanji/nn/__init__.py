"""juanji.nn: Modules holding Parameters, one layer for every functional op."""

from . import functional_alias as functional  # noqa: F401  (juanji.nn.functional, as in PyTorch)
from . import init  # noqa: F401
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
from . import activation, conv, dropout, linear, loss, misc, norm, pool

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "init", "functional",
    *activation.__all__, *conv.__all__, *dropout.__all__, *linear.__all__, *loss.__all__,
    *misc.__all__, *norm.__all__, *pool.__all__,
]
