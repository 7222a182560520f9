"""Which pixels a prediction rests on: gradient saliency maps and Grad-CAM.

Shape legend: C, H, W the input image; K classes (logits y, one per class); k = 1..K' the
channels of the chosen layer's activations A (K', h, w).

Saliency (Simonyan, Vedaldi & Zisserman 2013, "Deep Inside Convolutional Networks", sec. 3):
the class score is, near the image x, approximately linear, y^c(x) ~ w^T x + b with
w = dy^c/dx, so |w| ranks the pixels by how much a small change there moves the score:

    gradient = dy^c / dx                          (C, H, W)
    saliency[i, j] = max_ch |gradient[ch, i, j]|  (H, W)

Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", eq. 1-2): the activations A^k of a late convolution keep
the spatial layout; weight each channel by how much the class score depends on it on
average, keep the positive evidence:

    alpha_k = 1/(h w) sum_{i,j} dy^c / dA^k_ij    (K',)  the "neuron importance weights"
    cam     = ReLU( sum_k alpha_k A^k )           (h, w)

then upsample cam bilinearly to (H, W) (``juanji.data.transforms.Resize``: half-pixel
centres, as ``F.interpolate(mode="bilinear", align_corners=False)``) and divide by its
maximum for the overlay. With global average pooling and one Linear layer after A, alpha_k
is the Linear weight W[c, k] / (h w) and Grad-CAM is CAM (Zhou et al. 2016).

y^c is the logit (before softmax), as both papers use. Both pictures run the model in eval
mode with the parameters' ``requires_grad`` off, so the backward pass computes only the
input (or activation) gradient; the model's flags and ``.grad`` are restored afterwards.
For Grad-CAM a forward hook swaps the layer's output for a leaf Tensor with the same values,
so the backward pass stops there and leaves dy^c/dA in that leaf's ``.grad``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..autograd import enable_grad
from ..data.transforms import Resize
from ..nn.module import Module
from ..tensor import Tensor
from ._model import (check_model, conv_names, forward, logits_of, one_image, resolve_layer,
                     target_class, unchanged)
from ._picture import Picture, colormap, display_image, new_figure

__all__ = ["saliency", "grad_cam", "Saliency", "GradCam"]


@dataclass(eq=False, repr=False)
class Saliency(Picture):
    """The result of :func:`saliency`.

    Attributes:
        figure: the image and its saliency map side by side.
        gradient: dy^target / dx for the image, (C, H, W).
        saliency: max over channels of |gradient|, (H, W).
        target: the class whose logit was differentiated.
        logits: the model's logits for the image, (K,).
        image: the input image, (C, H, W).
    """

    gradient: np.ndarray
    saliency: np.ndarray
    target: int
    logits: np.ndarray
    image: np.ndarray


@dataclass(eq=False, repr=False)
class GradCam(Picture):
    """The result of :func:`grad_cam`.

    Attributes:
        figure: the image, the heatmap, and the heatmap over the image.
        cam: ReLU(sum_k alpha_k A^k) at the layer's resolution, (h, w), not normalised.
        heatmap: cam upsampled bilinearly to the input's (H, W) and divided by its maximum,
            in [0, 1] (all zeros when the cam is zero everywhere).
        weights: alpha, the channel weights, (K',).
        activations: A, the layer's output for the image, (K', h, w).
        gradients: dy^target / dA, (K', h, w).
        target: the class explained.
        layer: the layer's dotted name.
        logits: the model's logits for the image, (K,).
        image: the input image, (C, H, W).
    """

    cam: np.ndarray
    heatmap: np.ndarray
    weights: np.ndarray
    activations: np.ndarray
    gradients: np.ndarray
    target: int
    layer: str
    logits: np.ndarray
    image: np.ndarray


def saliency(model: Module, x: Any, target: int | None = None) -> Saliency:
    """The gradient of a class logit with respect to the input image (Simonyan et al. 2013).

    Args:
        model: a ``juanji.nn.Module`` returning logits (1, K) (left unchanged).
        x: one image (C, H, W) or (1, C, H, W).
        target: the class to explain; default: the predicted class (argmax of the logits).

    Returns:
        :class:`Saliency` with ``.gradient`` (C, H, W), ``.saliency`` (H, W), ``.target``
        and ``.logits`` (K,).

    Raises:
        ValueError: an image that does not fit the model, an output that is not (1, K), a
            target out of range.

    Example:
        >>> s = juanji.viz.saliency(juanji.models.lenet5(), juanji.randn(1, 28, 28), target=3)
        >>> s.saliency.shape
        (28, 28)
    """
    op = "saliency"
    model = check_model(op, model)
    arr = one_image(op, model, x)
    with unchanged(model, freeze=True), enable_grad():
        xt = Tensor(arr, requires_grad=True)
        out = logits_of(op, forward(op, model, xt))
        logits = np.array(out.data[0], copy=True)
        c = target_class(op, target, logits)
        if not out.requires_grad:
            raise ValueError(f"{op}: the output of {type(model).__name__} does not depend on its input "
                             f"through recorded ops (does its forward detach, or use no_grad?)")
        seed = np.zeros_like(out.data)  # d y^c / d logits: one-hot at c
        seed[0, c] = 1
        out.backward(seed)
        grad = xt.grad.data[0] if xt.grad is not None else np.zeros_like(arr[0])
    gradient = np.array(grad, copy=True)                  # (C, H, W)
    sal = np.abs(gradient).max(axis=0)                    # (H, W)

    image = arr[0]
    fig = new_figure(op, 8.0, 4.0)
    ax_img, ax_sal = fig.subplots(1, 2)
    shown, cmap = display_image(image)
    ax_img.imshow(shown, cmap=cmap, interpolation="nearest")
    ax_img.set_title(f"input {tuple(image.shape)}", fontsize=9)
    im = ax_sal.imshow(sal, cmap=colormap("hot"), interpolation="nearest")
    ax_sal.set_title("saliency  max_ch |dy/dx|", fontsize=9)
    fig.colorbar(im, ax=ax_sal, shrink=0.8)
    for ax in (ax_img, ax_sal):
        ax.axis("off")
    fig.suptitle(f"class {c} (logit {logits[c]:.3g}; predicted {int(np.argmax(logits))})", fontsize=10)
    return Saliency(fig, gradient, sal, c, logits, image)


def grad_cam(model: Module, x: Any, target: int | None = None, layer: str | Module | None = None) -> GradCam:
    """Grad-CAM (Selvaraju et al. 2017): where in the image a convolution layer saw the class.

    Args:
        model: a ``juanji.nn.Module`` returning logits (1, K) (left unchanged).
        x: one image (C, H, W) or (1, C, H, W).
        target: the class to explain; default: the predicted class.
        layer: the layer whose activations are weighted, by dotted name (or the module
            itself); default: the last Conv2d in ``model.named_modules()`` order. It must
            output maps (1, K', h, w) and run exactly once per forward pass.

    Returns:
        :class:`GradCam` with ``.cam`` (h, w), ``.heatmap`` (H, W) in [0, 1], ``.weights``
        (K',), ``.activations`` and ``.gradients`` (K', h, w), ``.target`` and ``.layer``.

    Raises:
        ValueError: an unknown layer (listing the valid names), a model without Conv2d and no
            ``layer``, an image that does not fit, a layer that does not output maps, does not
            run, runs twice, or does not influence the logits; a target out of range.

    Example:
        >>> g = juanji.viz.grad_cam(juanji.models.lenet5(), juanji.randn(1, 28, 28), layer="c3")
        >>> g.cam.shape, g.heatmap.shape
        ((10, 10), (28, 28))
    """
    op = "grad_cam"
    model = check_model(op, model)
    if layer is None:
        convs = conv_names(model)
        if not convs:
            raise ValueError(f"{op}: {type(model).__name__} has no Conv2d layer; pass layer= with a name "
                             f"from model.named_modules()")
        name, module = resolve_layer(op, model, convs[-1])
    else:
        name, module = resolve_layer(op, model, layer)
    arr = one_image(op, model, x)

    leaves: list[Any] = []
    values: list[np.ndarray] = []

    def hook(mod: Module, args: tuple, output: Any) -> Any:
        if not isinstance(output, Tensor) or output.ndim != 4 or output.shape[0] != 1:
            leaves.append(output)
            return None
        # A fresh leaf with the same values: the layers above compute on it (and record their
        # ops, as it requires grad), so backward stops here with dy^c/dA in its .grad. A copy
        # of A is kept now, in case a later layer writes into the array in place.
        leaf = Tensor(output.data, requires_grad=True)
        leaves.append(leaf)
        values.append(np.array(output.data[0], dtype=np.float64))
        return leaf

    handle = module.register_forward_hook(hook)
    try:
        with unchanged(model, freeze=True), enable_grad():
            out = logits_of(op, forward(op, model, Tensor(arr)))
            logits = np.array(out.data[0], copy=True)
            c = target_class(op, target, logits)
            if not leaves:
                raise ValueError(f"{op}: layer {name!r} did not run in the forward pass of {type(model).__name__}")
            if len(leaves) > 1:
                raise ValueError(f"{op}: layer {name!r} ran {len(leaves)} times in one forward pass (shared "
                                 f"weights?); choose a layer that runs once")
            leaf = leaves[0]
            if not isinstance(leaf, Tensor) or leaf.ndim != 4:
                got = f"shape {tuple(leaf.shape)}" if isinstance(leaf, Tensor) else type(leaf).__name__
                raise ValueError(f"{op}: layer {name!r} outputs {got}, not feature maps (1, K', h, w); choose a "
                                 f"convolution (or the activation or pooling after one)")
            if out.requires_grad:
                seed = np.zeros_like(out.data)  # one-hot at c: backpropagate y^c alone
                seed[0, c] = 1
                out.backward(seed)
            if leaf.grad is None:
                raise ValueError(f"{op}: the logits of {type(model).__name__} do not depend on layer {name!r}")
    finally:
        handle.remove()

    A = values[0]                                                # (K', h, w)
    dA = np.array(leaf.grad.data[0], dtype=np.float64)           # (K', h, w)
    alpha = dA.mean(axis=(1, 2))                                 # (K',)  eq. 1
    cam = np.maximum(np.tensordot(alpha, A, axes=1), 0.0)        # (h, w) eq. 2
    H, W = arr.shape[2:]
    up = Resize((H, W))(cam[None])[0]                            # (H, W), bilinear, half-pixel centres
    peak = up.max()
    # Bilinear weights are convex, so up >= 0 and its maximum is cam's maximum (or 0).
    heatmap = up / peak if peak > 0 else np.zeros_like(up)

    image = arr[0]
    fig = _draw_cam(image, cam, heatmap, name, c, logits)
    return GradCam(fig, cam, heatmap, alpha, A, dA, c, name, logits, image)


def _draw_cam(image: np.ndarray, cam: np.ndarray, heatmap: np.ndarray, name: str, c: int,
              logits: np.ndarray) -> Any:
    fig = new_figure("grad_cam", 11.0, 4.0)
    ax_img, ax_cam, ax_over = fig.subplots(1, 3)
    shown, cmap = display_image(image)
    ax_img.imshow(shown, cmap=cmap, interpolation="nearest")
    ax_img.set_title(f"input {tuple(image.shape)}", fontsize=9)
    jet = colormap("jet")
    ax_cam.imshow(cam, cmap=jet, interpolation="nearest")
    ax_cam.set_title(f"Grad-CAM at {name!r} {tuple(cam.shape)}", fontsize=9)
    grey = shown if shown.ndim == 2 else shown.mean(axis=2)
    ax_over.imshow(grey, cmap="gray", interpolation="nearest")
    ax_over.imshow(heatmap, cmap=jet, alpha=0.5, vmin=0.0, vmax=1.0, interpolation="bilinear")
    ax_over.set_title("overlay (upsampled, / max)", fontsize=9)
    for ax in (ax_img, ax_cam, ax_over):
        ax.axis("off")
    fig.suptitle(f"class {c} (logit {logits[c]:.3g}; predicted {int(np.argmax(logits))})", fontsize=10)
    return fig
