"""Linear (fully connected) layer and Identity.

Shape legend: IN = in_features, OUT = out_features; ``(*)`` any leading dims.

``Linear`` holds ``weight`` (OUT, IN) and ``bias`` (OUT,) exactly as
``torch.nn.Linear`` does, so a state_dict moves between the two by name, and is
initialised as PyTorch does (``init.default_layer_init_``): weight and bias
~ U(-1/sqrt(IN), 1/sqrt(IN)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .init import default_layer_init_
from .module import Module, Parameter

__all__ = ["Linear", "Identity"]


class Linear(Module):
    """y = x W^T + b.

    Args:
        in_features: size of each input's last dim (IN).
        out_features: size of each output's last dim (OUT).
        bias: learn an additive bias (OUT,).
        device: None or "cpu" (accepted for PyTorch compatibility).
        dtype: parameter dtype, float32 by default.

    Shape:
        (*, IN) -> (*, OUT)

    Example:
        >>> fc = nn.Linear(20, 30)
        >>> fc(juanji.randn(128, 20)).shape
        (128, 30)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        for arg, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"Linear: {arg} must be a non-negative int, got {value!r}")
        if device not in (None, "cpu"):
            raise ValueError(f"Linear: device must be None or 'cpu', got {device!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dt = np.dtype(np.float32 if dtype is None else dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dt))  # (OUT, IN)
        if bias:
            self.bias = Parameter(np.empty((self.out_features,), dtype=dt))  # (OUT,)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight and bias ~ U(-1/sqrt(IN), 1/sqrt(IN))."""
        default_layer_init_(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Returns its input unchanged; any constructor arguments are ignored (as PyTorch).

    Handy as a placeholder, e.g. to remove a model's classifier head:
    ``model.fc = nn.Identity()``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input
