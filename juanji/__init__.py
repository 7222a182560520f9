"""juanji (卷积, "convolution"): a convolutional-neural-network library on NumPy.

Every layer's forward and backward is explicit, readable array code::

    import juanji
    import juanji.nn as nn
    import juanji.functional as F

    x = juanji.randn(8, 1, 28, 28)
    conv = nn.Conv2d(1, 30, 5)
    y = F.max_pool2d(F.relu(conv(x)), 2)   # (8, 30, 12, 12)
"""

from . import allocator  # noqa: F401  (opt-in malloc tuning: allocator.tune_malloc(); see allocator.py)
from .autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck
from .random import get_rng_state, manual_seed, set_rng_state
from .threads import get_num_threads, num_threads, set_num_threads
from .tensor import (
    Tensor,
    arange,
    from_numpy,
    full,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from . import functional  # noqa: E402
from . import nn  # noqa: E402
from . import optim  # noqa: E402
from .functional import cat, chunk, split, stack  # noqa: E402  (torch.cat, torch.stack, ...)
from . import data  # noqa: E402
from . import io  # noqa: E402
from .io import load, save  # noqa: E402
from . import train  # noqa: E402
from . import models  # noqa: E402
from .analysis import receptive_field, summary  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand",
    "arange", "from_numpy", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "manual_seed", "get_rng_state", "set_rng_state", "gradcheck", "GradcheckError", "Function",
    "functional", "nn", "optim", "cat", "stack", "split", "chunk", "data", "models",
    "summary", "receptive_field", "io", "save", "load", "train",
    "set_num_threads", "get_num_threads", "num_threads",
]
