"""juanji.functional (imported as F): one differentiable function per op, PyTorch signatures.

Each op family lives in one file with its Functions' forward and backward side by side.
"""

# Submodules first, under private names: the star imports below rebind ``linear`` and
# ``dropout`` to the functions of the same name, as in torch.nn.functional.
from . import activation as _activation, conv as _conv, dropout as _dropout, fft_conv as _fft_conv
from . import linear as _linear
from . import loss as _loss, norm as _norm, pool as _pool, shape as _shape, signal as _signal
from .activation import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .fft_conv import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .signal import *  # noqa: F401,F403

__all__ = [
    *_activation.__all__, *_conv.__all__, *_dropout.__all__, *_fft_conv.__all__, *_linear.__all__,
    *_loss.__all__, *_norm.__all__, *_pool.__all__, *_shape.__all__, *_signal.__all__,
]
