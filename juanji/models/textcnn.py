"""TextCNN: Kim (2014), "Convolutional Neural Networks for Sentence Classification".

Shape legend: N batch, L sentence length (token positions), V vocabulary size, E embedding
dim, C embedding channels (1, or 2 for 'multichannel'), h a filter height (3, 4, 5),
F filters per height, T = L' - h + 1 window positions, K classes.

    token ids (N, L) int -> pad to L' = max(L, max h) with padding_idx
      -> embedding (N, C, L', E)      C = 2 for multichannel: a frozen and a fine-tuned copy
      -> for each h: conv (F filters of h x E, over all C channels) -> ReLU -> (N, F, T)
         -> max over the valid positions t (below) -> (N, F)
      -> concatenate (N, F * #heights) -> dropout -> linear -> (N, K) logits

Variants (Kim section 3.2): 'rand' (every vector U[-0.25, 0.25], trained), 'static'
(pretrained vectors, frozen), 'non-static' (pretrained, fine-tuned), 'multichannel' (two
copies of the pretrained vectors as two input channels of the same filters: one frozen,
one fine-tuned).

Padding and the max over time. Sentences are right-padded with ``padding_idx`` (0: the
data layer's ``Vocab`` pads with 0); a sentence's length ``len`` is the position after its
last non-padding token. A filter of height h has windows t = 0 .. L' - h, and only those
with t <= max(len, h) - h take part in the max: the others start in (or run into) the
padding, and are set to -inf before the max. A sentence shorter than h (even an empty one)
keeps exactly one window, t = 0: its tokens followed by padding vectors up to h (Kim's code
pads with the zero vector too). The padding row of every embedding table is zero and gets
no gradient (Kim's code resets it to zero after each step), so padding vectors are zeros.
The consequence, tested: a sentence's logits do not depend on the padding added around it
in a batch -- a padded batch gives each sentence's logits as if run alone (eval mode).

The convolution. A filter spans the whole embedding width, so the Conv2d over (h, E) with
C input channels is a Conv1d over the L axis with C*E input channels: weight (F, C, h, E)
-> (F, C*E, h) and input (N, C, L', E) -> (N, C*E, L'). The parameters keep the Conv2d
layout (F, C, h, E) (a PyTorch TextCNN's nn.Conv2d(C, F, (h, E)) state_dict loads by name);
the computation is the conv1d: at Kim's sizes (N 50, L 60, E 300, F 100, h 3, 4, 5) a
training step's forward and backward through it was never slower than through the conv2d
and steadier (the conv2d's times varied twice as much); the figures are in issue 22's
report, for bench/NOTES.md.

Initialisation (Kim's code, yoonkim/CNN_sentence): conv weights Xavier-uniform, biases
zero; 'rand' vectors U[-0.25, 0.25] (his code gives unknown words the same draw when
building the pretrained table -- the vector readers' job here); the padding row zero.
The final Linear keeps PyTorch's default init (his code starts it at zero).

Regularisation (Kim section 2.1): dropout p = 0.5 on the concatenated features and the
max-norm constraint s = 3 on the rows of the final layer's weight, applied after every
optimizer step by the training loop: ``model.max_norm_constraint()`` returns the
``juanji.nn.utils.MaxNorm`` to call. Kim trains with Adadelta (rho 0.95), batches of 50.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import functional as F
from .. import nn
from ..tensor import Tensor
from .registry import register_model

__all__ = ["TextCNN", "textcnn"]

VARIANTS = ("rand", "static", "non-static", "multichannel")


class TextCNN(nn.Module):
    """Kim (2014)'s sentence classifier; see the module docstring and :func:`textcnn`.

    Attributes:
        embedding: the (fine-tuned, or for 'static' frozen) embedding, channel 0.
        embedding_static: the frozen second channel ('multichannel' only, else absent).
        convs: one Conv2d(C, F, (h, E)) per filter height.
        dropout, fc: the head.
        max_norm: s of the max-norm constraint on ``fc.weight``'s rows (None: off).
        padding_idx, filter_sizes, variant: as given.

    Shape:
        token ids (N, L), integer dtype, each in [0, V) -> logits (N, K)
    """

    def __init__(self, vocab_size: int, num_classes: int, embed_dim: int = 300,
                 filter_sizes: Sequence[int] = (3, 4, 5), num_filters: int = 100, dropout: float = 0.5,
                 variant: str = "rand", pretrained: Any = None, padding_idx: int = 0,
                 max_norm: float | None = 3.0) -> None:
        super().__init__()
        self.variant = variant
        self.padding_idx = padding_idx
        self.filter_sizes = tuple(filter_sizes)
        self.max_norm = max_norm
        if variant == "rand":
            self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
            nn.init.uniform_(self.embedding.weight, -0.25, 0.25)
            self.embedding.weight.data[padding_idx] = 0
        else:
            table = np.array(pretrained, dtype=np.float32, copy=True)  # (V, E)
            table[padding_idx] = 0  # padding is the zero vector, as in Kim's code
            self.embedding = nn.Embedding.from_pretrained(table, freeze=variant == "static",
                                                          padding_idx=padding_idx)
            if variant == "multichannel":
                self.embedding_static = nn.Embedding.from_pretrained(table, freeze=True, padding_idx=padding_idx)
        channels = 2 if variant == "multichannel" else 1
        self.convs = nn.ModuleList([nn.Conv2d(channels, num_filters, (h, embed_dim)) for h in self.filter_sizes])
        for conv in self.convs:
            nn.init.xavier_uniform_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(num_filters * len(self.filter_sizes), num_classes)

    def forward(self, input: Any) -> Tensor:
        ids = _token_ids(input, self.embedding.num_embeddings)        # (N, L)
        n, length = ids.shape
        pad = self.padding_idx
        hmax = max(self.filter_sizes)
        nonpad = ids != pad
        # len = 1 + the position of the last non-padding token (0 for an all-padding row).
        lengths = (nonpad * np.arange(1, length + 1)).max(axis=1, initial=0)  # (N,)
        if length < hmax:  # too short for the tallest filter: pad to L' = max h (zero vectors)
            ids = np.concatenate([ids, np.full((n, hmax - length), pad, dtype=ids.dtype)], axis=1)
        padded = ids.shape[1]                                          # L'
        x = self.embedding(ids)                                        # (N, L', E)
        if self.variant == "multichannel":
            x = F.stack([x, self.embedding_static(ids)], dim=1)        # (N, 2, L', E)
            x = x.permute(0, 1, 3, 2).reshape(n, -1, padded)           # (N, 2E, L'), channels (c, e)
        else:
            x = x.permute(0, 2, 1)                                     # (N, E, L')
        features = []
        for h, conv in zip(self.filter_sizes, self.convs):
            f = conv.weight.shape[0]
            w = conv.weight.permute(0, 1, 3, 2).reshape(f, -1, h)     # (F, C*E, h), channels (c, e)
            y = F.relu(F.conv1d(x, w, conv.bias))                      # (N, F, T), T = L' - h + 1
            t = np.arange(padded - h + 1)                              # (T,)
            last = np.maximum(lengths, h) - h                          # (N,) last valid window start
            mask = np.where(t[None, :] <= last[:, None], 0.0, -np.inf).astype(y.dtype)  # (N, T)
            features.append((y + mask[:, None, :]).max(dim=2))        # (N, F)
        z = F.cat(features, dim=1) if len(features) > 1 else features[0]  # (N, F * #heights)
        return self.fc(self.dropout(z))                                # (N, K)

    def max_norm_constraint(self) -> "nn.utils.MaxNorm | None":
        """The max-norm constraint (Kim: s = 3 on ``fc.weight``'s rows) to call after each
        optimizer step, ``constraint(model)``; None when ``max_norm`` is None."""
        return None if self.max_norm is None else nn.utils.MaxNorm("fc.weight", self.max_norm, dim=0)

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, padding_idx={self.padding_idx}, max_norm={self.max_norm}"


def _token_ids(input: Any, vocab_size: int) -> np.ndarray:
    """The (N, L) integer array of ``input``, or an error naming TextCNN and what is wrong."""
    ids = input.data if isinstance(input, Tensor) else input
    if not isinstance(ids, np.ndarray):
        raise TypeError(f"TextCNN: input must be token ids, a juanji.Tensor or ndarray of shape (N, L), "
                        f"got {type(input).__name__}")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"TextCNN: input must hold integer token ids (int64), got dtype {ids.dtype} "
                        f"(shape {ids.shape})")
    if ids.ndim != 2:
        raise ValueError(f"TextCNN: input must be a batch of token ids of shape (N, L), got shape {ids.shape}"
                         + (" (add the batch dim: ids[None])" if ids.ndim == 1 else ""))
    if ids.size:
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= vocab_size:
            bad = low if low < 0 else high
            raise ValueError(f"TextCNN: token id {bad} is out of range for a vocabulary of {vocab_size} "
                             f"(valid ids 0..{vocab_size - 1}; input shape {ids.shape})")
    return ids


def _check_int(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"textcnn: {name} must be an int >= {low}, got {value!r}")
    return int(value)


@register_model
def textcnn(vocab_size: int, num_classes: int = 2, embed_dim: int | None = None,
            filter_sizes: Sequence[int] = (3, 4, 5), num_filters: int = 100, dropout: float = 0.5,
            variant: str = "rand", pretrained: Any = None, padding_idx: int = 0,
            max_norm: float | None = 3.0) -> TextCNN:
    """Kim (2014)'s TextCNN for token ids (N, L) -> logits (N, K); Kim's settings by default.

    Args:
        vocab_size: V, the rows of the embedding table (``len(vocab.itos)``).
        num_classes: K.
        embed_dim: E; None takes the pretrained vectors' width, or 300 for 'rand'.
        filter_sizes: the filter heights h (Kim: 3, 4, 5).
        num_filters: F, filters per height (Kim: 100).
        dropout: the dropout probability on the concatenated features (Kim: 0.5).
        variant: 'rand', 'static', 'non-static' or 'multichannel' (Kim section 3.2).
        pretrained: the (V, E) vectors (row i is ``vocab.itos[i]``'s), required by every
            variant but 'rand'; copied, as float32, with the padding row set to zero.
        padding_idx: the padding token id (the data layer's ``Vocab`` uses 0).
        max_norm: s of the max-norm constraint on the rows of ``fc.weight`` (Kim: 3), which
            the training loop applies after each step through ``model.max_norm_constraint()``;
            None turns it off.

    Example:
        >>> model = textcnn(len(vocab.itos), 2, variant="non-static", pretrained=vectors)
        >>> model(juanji.tensor(ids)).shape          # ids (N, L) int64, right-padded with 0
        (N, 2)
    """
    vocab_size = _check_int("vocab_size", vocab_size)
    num_classes = _check_int("num_classes", num_classes)
    num_filters = _check_int("num_filters", num_filters)
    if variant not in VARIANTS:
        raise ValueError(f"textcnn: variant must be one of {', '.join(repr(v) for v in VARIANTS)}, got {variant!r}")
    if isinstance(filter_sizes, (int, str)) or not isinstance(filter_sizes, Sequence) or not filter_sizes:
        raise ValueError(f"textcnn: filter_sizes must be a non-empty list of ints >= 1, got {filter_sizes!r}")
    sizes = tuple(_check_int("filter_sizes entry", h) for h in filter_sizes)
    if variant == "rand":
        if pretrained is not None:
            raise ValueError("textcnn: variant 'rand' learns its vectors from scratch; pretrained vectors were "
                             "given (use variant 'static', 'non-static' or 'multichannel')")
        embed_dim = 300 if embed_dim is None else _check_int("embed_dim", embed_dim)
    else:
        if pretrained is None:
            raise ValueError(f"textcnn: variant {variant!r} needs pretrained vectors, a (V, E) array")
        data = pretrained.data if isinstance(pretrained, Tensor) else pretrained
        try:
            table = np.asarray(data)
        except (TypeError, ValueError) as e:
            raise ValueError(f"textcnn: pretrained must be a (V, E) array of numbers ({e})") from e
        if table.ndim != 2 or table.dtype.kind not in "iuf":
            raise ValueError(f"textcnn: pretrained must be a 2-D numeric (V, E) array, got shape {table.shape} "
                             f"and dtype {table.dtype}")
        if table.shape[0] != vocab_size:
            raise ValueError(f"textcnn: pretrained has {table.shape[0]} rows (shape {table.shape}) but "
                             f"vocab_size is {vocab_size}")
        if embed_dim is not None and _check_int("embed_dim", embed_dim) != table.shape[1]:
            raise ValueError(f"textcnn: pretrained vectors have width {table.shape[1]} (shape {table.shape}) "
                             f"but embed_dim is {embed_dim}")
        if table.shape[1] < 1:
            raise ValueError(f"textcnn: pretrained vectors must have width >= 1, got shape {table.shape}")
        if not np.isfinite(table).all():
            raise ValueError("textcnn: pretrained vectors hold NaN or infinite values")
        embed_dim, pretrained = int(table.shape[1]), table
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) or \
            not 0 <= padding_idx < vocab_size:
        raise ValueError(f"textcnn: padding_idx must be an int in [0, {vocab_size - 1}], got {padding_idx!r}")
    if max_norm is not None and (isinstance(max_norm, bool) or not isinstance(max_norm, (int, float))
                                 or not max_norm > 0):
        raise ValueError(f"textcnn: max_norm must be a number > 0 or None, got {max_norm!r}")
    return TextCNN(vocab_size, num_classes, embed_dim, sizes, num_filters, dropout, variant, pretrained,
                   int(padding_idx), None if max_norm is None else float(max_norm))
