"""``filters``: a convolution's kernels as a grid of small images.

Shape legend: F output filters, C input channels, KH x KW kernel size.

A first-layer kernel lives in the image's own space, so drawing it shows what it responds
to: edges at some angle, colour blobs, frequencies (Zeiler & Fergus 2014; Krizhevsky et al.
2012, figure 3). Each tile is min-max scaled, ``(w - min) / (max - min)``, so that grey 0.5
is not "zero weight" but "the middle of this tile's range"; ``shared_scale=True`` uses one
min and max over all tiles instead, which keeps the filters' strengths comparable.

Layouts, by C:

    C = 1            one grey tile per filter                       tiles (F, KH, KW)
    C = 3            one RGB tile per filter (channels as colours)  tiles (F, KH, KW, 3)
    other C          one row per filter, one grey tile per input    tiles (F, C', KH, KW)
                     channel (the first 16: C' = min(C, 16))
    input_channel=i  one grey tile per filter, channel i only       tiles (F, KH, KW)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..nn.conv import Conv2d
from ..nn.module import Module
from ..tensor import Tensor
from ._picture import Picture, check_finite, colormap, grid_shape, mosaic, new_figure, positive_int, unit_scale

__all__ = ["filters", "Filters"]

#: With more than 3 input channels, the row of each filter shows its first this many channels.
MAX_CHANNEL_COLUMNS = 16


@dataclass(eq=False, repr=False)
class Filters(Picture):
    """The result of :func:`filters`.

    Attributes:
        figure: the grid of tiles (one image axes per filter).
        tiles: the scaled kernels drawn, in [0, 1]: (F, KH, KW) grey, (F, KH, KW, 3) RGB, or
            (F, C', KH, KW) one tile per input channel (F and C' after the caps).
        weight: the raw weight (F, C, KH, KW) as given (all filters, a copy).
        name: the title's layer name.
        scale: ``"per tile"`` or ``"shared"``.
    """

    tiles: np.ndarray
    weight: np.ndarray
    name: str
    scale: str


def _weight_of(op: str, obj: Any) -> tuple[np.ndarray, str]:
    """The weight array behind a Conv2d, a Tensor/Parameter or an array, and a default name."""
    if isinstance(obj, Module):
        if not isinstance(obj, Conv2d):
            w = getattr(obj, "weight", None)
            got = f" with weight {tuple(w.shape)}" if isinstance(w, Tensor) else ""
            raise ValueError(f"{op}: expected a Conv2d layer or a convolution's weight (F, C, KH, KW), "
                             f"got {type(obj).__name__}{got}")
        return obj.weight.data, type(obj).__name__
    if isinstance(obj, Tensor):
        return obj.data, "weight"
    if isinstance(obj, np.ndarray):
        return obj, "weight"
    raise TypeError(f"{op}: expected a Conv2d layer, a Parameter/Tensor or an ndarray of shape "
                    f"(F, C, KH, KW), got {type(obj).__name__}")


def filters(weight_or_layer: Any, *, name: str | None = None, input_channel: int | None = None,
            shared_scale: bool = False, max_filters: int = 64) -> Filters:
    """Draw a convolution's kernels as a grid of tiles (grey, RGB, or one row per filter).

    Args:
        weight_or_layer: a ``nn.Conv2d`` (its ``.weight`` is drawn), a Parameter/Tensor or an
            ndarray of shape (F, C, KH, KW).
        name: the layer's name for the title (default: the class name, or "weight").
        input_channel: draw only this input channel of every filter, as grey tiles.
        shared_scale: scale all tiles with one min and max (default: each tile on its own).
        max_filters: draw the first this many filters (the title says how many there are).

    Returns:
        :class:`Filters` with ``.tiles`` (see the module docstring for its shape),
        ``.weight`` (raw) and ``.name``.

    Raises:
        ValueError: a module that is not a convolution, a weight that is not 4-D, NaN or
            infinite weights, an ``input_channel`` out of range.
        TypeError: anything that is not a layer, Tensor or array.

    Example:
        >>> model = juanji.models.lenet5()
        >>> juanji.viz.filters(model.c1, name="c1").tiles.shape
        (6, 5, 5)
    """
    op = "filters"
    raw, default_name = _weight_of(op, weight_or_layer)
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"{op}: the weight must hold numbers, got dtype {raw.dtype}")
    if raw.ndim != 4:
        raise ValueError(f"{op}: expected a convolution's weight (F, C, KH, KW), got shape {tuple(raw.shape)}")
    if 0 in raw.shape:
        raise ValueError(f"{op}: the weight has an empty dimension, shape {tuple(raw.shape)}")
    check_finite(op, "the weight", raw)
    max_filters = positive_int(op, "max_filters", max_filters)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{op}: name must be a str, got {type(name).__name__}")
    name = default_name if name is None else name
    F, C, KH, KW = raw.shape
    if input_channel is not None:
        if isinstance(input_channel, bool) or not isinstance(input_channel, (int, np.integer)) \
                or not 0 <= input_channel < C:
            raise ValueError(f"{op}: input_channel must be an int in [0, {C}) for weight shape "
                             f"{tuple(raw.shape)}, got {input_channel!r}")
    weight = np.array(raw, copy=True)
    w = weight[:max_filters].astype(np.float64)  # (F', C, KH, KW)

    # Select the layout, then scale: per tile over the tile's own axes, or over everything.
    if input_channel is not None:
        shown = w[:, int(input_channel)]                      # (F', KH, KW)
        tile_axes: tuple[int, ...] = (1, 2)
    elif C == 1:
        shown = w[:, 0]                                       # (F', KH, KW)
        tile_axes = (1, 2)
    elif C == 3:
        shown = w.transpose(0, 2, 3, 1)                       # (F', KH, KW, 3): channels as R, G, B
        tile_axes = (1, 2, 3)
    else:
        shown = w[:, :MAX_CHANNEL_COLUMNS]                    # (F', C', KH, KW)
        tile_axes = (2, 3)
    tiles = unit_scale(shown, None if shared_scale else tile_axes)

    notes = []
    if F > max_filters:
        notes.append(f"first {max_filters} of {F} filters")
    if input_channel is not None:
        notes.append(f"input channel {int(input_channel)}")
    elif C > MAX_CHANNEL_COLUMNS and C != 3:
        notes.append(f"first {MAX_CHANNEL_COLUMNS} of {C} input channels")
    if shared_scale:
        notes.append(f"one scale [{w.min():.3g}, {w.max():.3g}]")
    else:
        notes.append("each tile scaled to its own range")
    title = f"{name}: weight {tuple(weight.shape)}\n" + ", ".join(notes)
    figure = _draw(tiles, title)
    return Filters(figure, tiles, weight, name, "shared" if shared_scale else "per tile")


def _draw(tiles: np.ndarray, title: str) -> Any:
    """One image axes per filter: a tile, or (multi-channel) the filter's row of channel tiles."""
    n = tiles.shape[0]
    if tiles.ndim == 4 and tiles.shape[-1] != 3:
        # (F, C', KH, KW): filter f is one axes showing its C' channel tiles side by side.
        Cs, KH, KW = tiles.shape[1:]
        rows, cols = n, 1
        width = min(16.0, max(4.0, 0.45 * Cs * (KW + 1) / max(KH, 1) + 1.0))
        fig = new_figure("filters", width, min(40.0, 0.45 * n + 1.2))
    else:
        rows, cols = grid_shape(n)
        fig = new_figure("filters", min(14.0, 1.0 * cols + 0.5), min(14.0, 1.0 * rows + 1.0))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    gray = colormap("gray")
    for f, ax in enumerate(axes):
        if f >= n:
            ax.remove()  # empty cells of the last row: no frame, and no image axes to count
            continue
        t = tiles[f]
        if t.ndim == 3 and t.shape[-1] != 3:
            ax.imshow(mosaic(t, t.shape[0]), cmap=gray, vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_ylabel(f"filter {f}", rotation=0, ha="right", va="center", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if f == 0:
                ax.set_title("input channels 0 .. " + str(t.shape[0] - 1), fontsize=8)
        else:
            ax.imshow(t, cmap=None if t.ndim == 3 else gray, vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title(str(f), fontsize=7)
            ax.axis("off")
    fig.suptitle(title, fontsize=9)
    return fig
