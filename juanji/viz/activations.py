"""``feature_maps``: what chosen layers output for one input image.

Shape legend: C channels, H x W the map size of a layer (different per layer).

A forward hook on each chosen layer copies its output during one forward pass in eval mode
under ``no_grad``; the hooks are removed and every ``training`` flag restored afterwards, so
the model is exactly as it was (batch norm's running statistics are not updated in eval
mode, and no autograd graph is built). Early layers' maps look like edge and colour filters
of the photo; deeper ones grow coarser and more abstract (Zeiler & Fergus 2014).

Each layer is drawn as one mosaic of its first ``max_channels`` channels, each channel
min-max scaled on its own (so a faint channel is still visible; the raw values are in
``.maps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..autograd import no_grad
from ..nn.module import Module
from ..tensor import Tensor
from ._model import check_model, conv_names, forward, one_image, resolve_layer, unchanged
from ._picture import Picture, colormap, grid_shape, mosaic, new_figure, positive_int, unit_scale

__all__ = ["feature_maps", "FeatureMaps"]


@dataclass(eq=False, repr=False)
class FeatureMaps(Picture):
    """The result of :func:`feature_maps`.

    Attributes:
        figure: one panel per layer, its channels as a grid.
        maps: layer name -> that layer's whole output for the image, (C, H, W).
        layers: the layer names, in the order given (default: every Conv2d, in model order).
    """

    maps: dict[str, np.ndarray]
    layers: list[str]


def feature_maps(model: Module, x: Any, layers: str | Sequence[str] | None = None, *,
                 max_channels: int = 16) -> FeatureMaps:
    """Capture and draw the outputs of chosen layers for one input image.

    Args:
        model: a ``juanji.nn.Module`` (left unchanged: mode, hooks and parameters restored).
        x: one image (C, H, W) or (1, C, H, W), array or Tensor.
        layers: a layer name or names as in ``model.named_modules()`` (e.g. ``"c1"``,
            ``"layer1.0.conv1"``); default: every Conv2d.
        max_channels: draw the first this many channels of each layer (``.maps`` keeps all).

    Returns:
        :class:`FeatureMaps` with ``.maps`` (name -> (C, H, W)) and ``.layers``.

    Raises:
        ValueError: an unknown layer name (listing the valid ones), a model without Conv2d
            and no ``layers``, an image that does not fit the model, a layer whose output is
            not a map (1, C, H, W) or that does not run in the forward pass.

    Example:
        >>> model = juanji.models.lenet5()
        >>> fm = juanji.viz.feature_maps(model, juanji.randn(1, 28, 28), layers=["c1", "c3"])
        >>> fm.maps["c3"].shape
        (16, 10, 10)
    """
    op = "feature_maps"
    model = check_model(op, model)
    max_channels = positive_int(op, "max_channels", max_channels)
    if layers is None:
        names = conv_names(model)
        if not names:
            raise ValueError(f"{op}: {type(model).__name__} has no Conv2d layer; pass layers=[...] "
                             f"with names from model.named_modules()")
    else:
        if isinstance(layers, str):
            layers = [layers]
        if not isinstance(layers, (list, tuple)) or not layers:
            raise TypeError(f"{op}: layers must be a layer name or a non-empty list of names, got {layers!r}")
        names = []
        for layer in layers:
            n, _ = resolve_layer(op, model, layer, "layers")
            if n not in names:
                names.append(n)
    arr = one_image(op, model, x)
    modules = dict(model.named_modules())

    outputs: dict[str, Any] = {}

    def make_hook(name: str) -> Any:
        def hook(module: Module, args: tuple, output: Any) -> None:
            # A module called twice in one pass (shared weights) shows its first call.
            if name not in outputs:
                outputs[name] = np.array(output.data, copy=True) if isinstance(output, Tensor) else output
        return hook

    handles = [modules[n].register_forward_hook(make_hook(n)) for n in names]
    try:
        with unchanged(model, freeze=False), no_grad():
            forward(op, model, Tensor(arr))
    finally:
        for h in handles:
            h.remove()

    maps: dict[str, np.ndarray] = {}
    for n in names:
        if n not in outputs:
            raise ValueError(f"{op}: layer {n!r} did not run in the forward pass of {type(model).__name__}")
        out = outputs[n]
        if not isinstance(out, np.ndarray) or out.ndim != 4 or out.shape[0] != 1:
            got = f"shape {tuple(out.shape)}" if isinstance(out, np.ndarray) else type(out).__name__
            raise ValueError(f"{op}: layer {n!r} outputs {got}, not feature maps (1, C, H, W); choose a "
                             f"convolution, activation, normalisation or pooling layer")
        maps[n] = out[0]
    figure = _draw(maps, max_channels)
    return FeatureMaps(figure, maps, names)


def _draw(maps: dict[str, np.ndarray], max_channels: int) -> Any:
    rows, cols = grid_shape(len(maps))
    fig = new_figure("feature_maps", min(16.0, 3.6 * cols), min(40.0, 3.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    cmap = colormap("viridis")
    for ax, (name, m) in zip(axes, maps.items()):
        C = m.shape[0]
        shown = unit_scale(m[:max_channels], (1, 2))  # each channel on its own scale
        _, grid_cols = grid_shape(shown.shape[0])
        ax.imshow(mosaic(shown, grid_cols), cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        which = f"channels 0-{shown.shape[0] - 1} of {C}" if C > shown.shape[0] else f"{C} channels"
        ax.set_title(f"{name}  {tuple(m.shape)}\n{which}", fontsize=8)
        ax.axis("off")
    for ax in axes[len(maps):]:
        ax.remove()
    fig.suptitle("feature maps (each channel scaled to its own range)", fontsize=9)
    return fig
