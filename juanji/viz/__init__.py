"""juanji.viz: the pictures the CNN tutorials teach with, as numbers and as figures.

Shape legend: N images, C channels, H x W image size, K classes; a layer's output
(C', h, w); a convolution weight (F, C, KH, KW).

    filters(conv)                      a layer's kernels as tiles           .tiles, .weight
    feature_maps(model, x)             chosen layers' outputs for an image  .maps {name: (C', h, w)}
    saliency(model, x)                 dy^c/dx, max_ch |dy^c/dx|            .gradient, .saliency
    grad_cam(model, x)                 ReLU(sum_k alpha_k A^k), upsampled   .cam, .heatmap, .weights
    confusion_matrix(y_true, y_pred)   (K, K) counts, rows true             .counts, .matrix
    per_class_accuracy(y_true, y_pred) recall of each class                 .accuracy, .support
    misclassified(images, y, probs)    the most confident mistakes          .indices, .confidence
    line_filters_demo()                two photos x two 7x7 line filters    .photos, .kernels, .maps
    frequency_response(kernel)         a kernel's centred 2-D spectrum      .spectrum, .magnitude
    convolution_theorem_demo()         conv = IDFT(DFT . DFT) on a photo    .responses, .max_abs_difference

The math, with citations, heads each module: saliency maps (Simonyan et al. 2013) and
Grad-CAM (Selvaraju et al. 2017) in ``attribution.py``, the convolution theorem in
``spectrum.py`` (the op itself is ``juanji.functional.fft_conv2d``).

Every function returns a small dataclass (a :class:`Picture`): ``.figure`` is a
``matplotlib.figure.Figure`` (drawn without pyplot), the arrays it draws are attributes,
``.save(path, dpi=100)`` writes a PNG atomically and ``.png_bytes(dpi=100)`` returns one.
The functions that run a model leave it as they found it: training flags, parameters,
gradients and hooks. matplotlib is imported only when drawing (``pip install -e ".[train]"``).

    >>> import juanji, juanji.viz as viz
    >>> model = juanji.models.lenet5()
    >>> viz.filters(model.c1, name="c1").save("c1_filters.png")
    >>> viz.grad_cam(model, x_test[0]).heatmap.shape
    (28, 28)
"""

from ._picture import Picture
from .activations import FeatureMaps, feature_maps
from .attribution import GradCam, Saliency, grad_cam, saliency
from .demo import LineFilters, line_filters_demo
from .evaluation import (ConfusionMatrix, Misclassified, PerClassAccuracy, confusion_matrix, misclassified,
                         per_class_accuracy)
from .spectrum import ConvolutionTheorem, FrequencyResponse, convolution_theorem_demo, frequency_response
from .weights import Filters, filters

__all__ = [
    "Picture",
    "filters", "Filters",
    "feature_maps", "FeatureMaps",
    "saliency", "Saliency",
    "grad_cam", "GradCam",
    "confusion_matrix", "ConfusionMatrix",
    "per_class_accuracy", "PerClassAccuracy",
    "misclassified", "Misclassified",
    "line_filters_demo", "LineFilters",
    "frequency_response", "FrequencyResponse",
    "convolution_theorem_demo", "ConvolutionTheorem",
]
