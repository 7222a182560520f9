"""Flatten, Unflatten and Embedding layers.

Shape legend: N batch, C channels, H, W spatial; V = num_embeddings (rows of the
table), E = embedding_dim; ``(*)`` any shape.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .init import normal_
from .module import Module, Parameter

__all__ = ["Flatten", "Unflatten", "Embedding"]


class Flatten(Module):
    """Merge dims start_dim..end_dim (default: all but the batch dim).

    Shape:
        (N, C, H, W) -> (N, C * H * W) with the defaults.

    Example:
        >>> nn.Flatten()(juanji.zeros(8, 16, 5, 5)).shape
        (8, 400)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (one entry may be -1, inferred).

    Shape:
        (N, C * H * W) -> (N, C, H, W) with dim=1, unflattened_size=(C, H, W).

    Example:
        >>> nn.Unflatten(1, (16, 5, 5))(juanji.zeros(8, 400)).shape
        (8, 16, 5, 5)
    """

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)) or not all(
                isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in unflattened_size):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple of ints, got {unflattened_size!r}")
        if sum(1 for s in unflattened_size if s == -1) > 1 or any(s < -1 for s in unflattened_size):
            raise ValueError(f"Unflatten: unflattened_size may hold at most one -1 and no other "
                             f"negative size, got {tuple(unflattened_size)}")
        self.dim = dim
        self.unflattened_size = tuple(int(s) for s in unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        if not isinstance(input, Tensor):
            raise TypeError(f"Unflatten: input must be a juanji.Tensor, got {type(input).__name__}")
        nd = input.ndim
        if not isinstance(self.dim, (int, np.integer)) or not -nd <= self.dim < nd:
            raise ValueError(f"Unflatten: dim {self.dim} is out of range for input shape {input.shape}")
        d = int(self.dim) % nd
        n = input.shape[d]
        sizes = list(self.unflattened_size)
        known = math.prod(s for s in sizes if s != -1)
        if -1 in sizes and known > 0 and n % known == 0:
            sizes[sizes.index(-1)] = n // known
        if -1 in sizes or math.prod(sizes) != n:
            raise ValueError(f"Unflatten: cannot unflatten dim {self.dim} of size {n} (input shape "
                             f"{input.shape}) into {self.unflattened_size}")
        return input.reshape(input.shape[:d] + tuple(sizes) + input.shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Embedding(Module):
    """A table of V trainable vectors of size E, looked up by integer index.

    Args:
        num_embeddings: V, the number of rows.
        embedding_dim: E, the size of each vector.
        padding_idx: a row that stays zero at initialisation and gets no gradient
            (negative counts from the end, stored normalised as PyTorch does).
        dtype: parameter dtype, float32 by default.

    The table is initialised N(0, 1), as PyTorch does.

    Shape:
        integer indices (*) -> (*, E)

    Example:
        >>> emb = nn.Embedding(10, 3)
        >>> emb(juanji.tensor([[1, 2, 4, 5]])).shape
        (1, 4, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype: Any = None) -> None:
        super().__init__()
        for arg, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"Embedding: {arg} must be a non-negative int, got {value!r}")
        if padding_idx is not None:
            if not isinstance(padding_idx, (int, np.integer)) or not \
                    -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within num_embeddings "
                                 f"[{-num_embeddings}, {num_embeddings - 1}], got {padding_idx!r}")
            padding_idx = int(padding_idx) % num_embeddings
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.padding_idx = padding_idx
        dt = np.dtype(np.float32 if dtype is None else dtype)
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype=dt))  # (V, E)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """weight ~ N(0, 1); the padding row is zero."""
        normal_(self.weight, 0.0, 1.0)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True,
                        padding_idx: int | None = None) -> "Embedding":
        """An Embedding holding a copy of ``embeddings`` (V, E), as torch.nn.Embedding.from_pretrained.

        Args:
            embeddings: the (V, E) floating-point table (a Tensor or an array); copied.
            freeze: True sets ``weight.requires_grad`` False, so the table gets no gradient
                and an optimizer leaves it unchanged; False trains it (fine-tuning).
            padding_idx: a row that gets no gradient; unlike a new Embedding's, its values
                are kept, not zeroed (PyTorch does the same).

        Example:
            >>> emb = nn.Embedding.from_pretrained(vectors, freeze=False, padding_idx=0)
        """
        data = np.asarray(embeddings.data if isinstance(embeddings, Tensor) else embeddings)
        if data.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D (V, E), got shape {data.shape}")
        if data.dtype.kind != "f":
            raise TypeError(f"Embedding.from_pretrained: embeddings must be floating point, got dtype {data.dtype} "
                            f"(shape {data.shape}); convert them, e.g. .astype(np.float32)")
        emb = cls(data.shape[0], data.shape[1], padding_idx=padding_idx, dtype=data.dtype)
        emb.weight.data = np.array(data, copy=True)
        emb.weight.requires_grad_(not freeze)
        return emb

    def forward(self, input: Any) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
