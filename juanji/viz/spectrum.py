"""A kernel's frequency response, and the convolution theorem as a picture.

Shape legend: a kernel (KH, KW); its spectrum zero-padded to (SH, SW); a grey image (H, W).

The 2-D DFT of a kernel k zero-padded to SH x SW is its frequency response

    K[u, v] = sum_{i < KH, j < KW} k[i, j] * exp(-2 pi i (u i / SH + v j / SW))

sampled at u / SH, v / SW cycles per pixel; zero-padding only samples the same continuous
response more finely. ``fftshift`` moves the zero frequency (the DC term, K[0, 0] = sum of k:
the filter's gain on a flat image) to the centre, so low frequencies sit in the middle of the
picture and the Nyquist frequency (1/2 cycle per pixel: a checkerboard) at the edges.

The convolution theorem: the DFT of a (zero-padded, so linear) convolution is the product of
the DFTs,

    image (*) k  =  IDFT( DFT(image) . DFT(k) )        both padded to (H + KH - 1, W + KW - 1)

so a filter multiplies each frequency of the image by its response there: a low-pass filter
(a Gaussian blur) keeps the middle of the spectrum, a high-pass one (the Laplacian, gain 0 at
DC) keeps the edges, the image's fine detail. ``convolution_theorem_demo`` draws exactly this and
checks it against the spatial convolution of ``juanji.functional.conv2d``.

Each function returns a small dataclass: ``.figure`` is a ``matplotlib.figure.Figure`` (built
without pyplot, never shown), the arrays it draws are attributes, ``.save(path)`` writes a PNG
atomically. matplotlib is imported only when drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import functional as F
from ..autograd import no_grad
from ..tensor import Tensor
from ._picture import INSTALL_HINT, Picture, new_figure

__all__ = ["frequency_response", "FrequencyResponse", "convolution_theorem_demo", "ConvolutionTheorem",
           "gaussian_kernel", "LAPLACIAN"]

#: The 4-neighbour Laplacian: a high-pass (edge) filter, response -4 + 2 cos(2 pi u) + 2 cos(2 pi v)
#: (u, v in cycles per pixel): 0 at DC, -8 at the checkerboard frequency (1/2, 1/2).
LAPLACIAN = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])

#: ITU-R BT.601 luma weights for R, G, B (what Pillow's ``convert("L")`` uses).
_LUMA = np.array([0.299, 0.587, 0.114])

def _as_2d(op: str, name: str, value: Any) -> np.ndarray:
    """A finite, non-empty 2-D float64 array from an array, a Tensor or nested lists."""
    arr = value.data if isinstance(value, Tensor) else np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{op}: {name} must hold numbers, got dtype {arr.dtype} (shape {arr.shape})")
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{op}: {name} must be a non-empty 2-D array (H, W), got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{op}: {name} has non-finite values (shape {arr.shape})")
    return arr


# --- a kernel's frequency response ------------------------------------------------------------
@dataclass(eq=False, repr=False)
class FrequencyResponse(Picture):
    """The result of :func:`frequency_response`.

    Attributes:
        figure: the kernel (left) and the magnitude of its centred spectrum (right).
        kernel: (KH, KW) float64, as given.
        size: (SH, SW), the DFT size.
        spectrum: (SH, SW) complex, the DFT centred by ``fftshift`` (DC at [SH // 2, SW // 2]).
        magnitude: (SH, SW) float64, ``abs(spectrum)``.
        frequencies: (fy, fx), the centred frequencies of the rows and columns in cycles per
            pixel, (SH,) and (SW,), from -1/2 up to (but for odd sizes not including) 1/2.
    """

    kernel: np.ndarray
    size: tuple[int, int]
    spectrum: np.ndarray
    magnitude: np.ndarray
    frequencies: tuple[np.ndarray, np.ndarray]

    @property
    def dc_gain(self) -> float:
        """|K[0, 0]| = |sum of the kernel|: what the filter does to a flat image."""
        sh, sw = self.size
        return float(self.magnitude[sh // 2, sw // 2])


def _size(op: str, size: Any, kernel_shape: tuple[int, int]) -> tuple[int, int]:
    if size is None:
        return kernel_shape
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    if not (isinstance(size, (tuple, list)) and len(size) == 2
            and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size)):
        raise TypeError(f"{op}: size must be None, an int or a pair of ints, got {size!r}")
    if size[0] < kernel_shape[0] or size[1] < kernel_shape[1]:
        raise ValueError(f"{op}: size {tuple(size)} is smaller than the kernel {kernel_shape}; "
                         "zero-padding cannot shrink it")
    return int(size[0]), int(size[1])


def _centred_frequencies(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return np.fft.fftshift(np.fft.fftfreq(size[0])), np.fft.fftshift(np.fft.fftfreq(size[1]))


def _extent(freqs: tuple[np.ndarray, np.ndarray]) -> list[float]:
    """imshow extent putting each pixel's centre on its frequency (rows downwards)."""
    fy, fx = freqs
    dy = fy[1] - fy[0] if len(fy) > 1 else 1.0
    dx = fx[1] - fx[0] if len(fx) > 1 else 1.0
    return [fx[0] - dx / 2, fx[-1] + dx / 2, fy[-1] + dy / 2, fy[0] - dy / 2]


def frequency_response(kernel: Any, size: int | tuple[int, int] | None = None) -> FrequencyResponse:
    """The 2-D spectrum of a kernel: its DFT, zero-padded to ``size``, centred, and drawn.

    Args:
        kernel: (KH, KW) array or Tensor (a conv weight's one plane: ``conv.weight[f, c]``).
        size: the DFT size (SH, SW) or one int for both, at least the kernel's size; None
            (the default) takes the kernel's own size. Larger sizes sample the same
            continuous response more finely (e.g. 64 for a smooth picture of a 3x3 kernel).

    Shape:
        spectrum, magnitude: (SH, SW), the zero frequency at [SH // 2, SW // 2].

    Example:
        >>> r = frequency_response(np.ones((3, 3)) / 9, size=64)
        >>> round(r.dc_gain, 6), r.magnitude.shape
        (1.0, (64, 64))
        >>> r.save("box_response.png")
    """
    op = "frequency_response"
    k = _as_2d(op, "kernel", kernel)
    size_ = _size(op, size, k.shape)
    spectrum = np.fft.fftshift(np.fft.fft2(k, s=size_))  # K[u, v], DC moved to the centre
    magnitude = np.abs(spectrum)
    freqs = _centred_frequencies(size_)

    fig = new_figure(op, 9.0, 4.0)
    ax_k, ax_m = fig.subplots(1, 2)
    lim = float(np.max(np.abs(k))) or 1.0
    ax_k.imshow(k, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax_k.set_title(f"kernel {k.shape[0]}x{k.shape[1]}", fontsize=10)
    if k.size <= 49:  # small kernels: write the taps in
        for (i, j), v in np.ndenumerate(k):
            ax_k.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=8,
                      color="white" if abs(v) > lim / 2 else "black")  # legible on dark and light tiles
    ax_k.set_xticks([])
    ax_k.set_yticks([])
    image = ax_m.imshow(magnitude, cmap="viridis", extent=_extent(freqs), interpolation="nearest")
    dc = magnitude[size_[0] // 2, size_[1] // 2]
    ax_m.set_title(f"|DFT| at {size_[0]}x{size_[1]}, centred (DC gain {dc:.3g})", fontsize=10)
    ax_m.set_xlabel("v (cycles / pixel)")
    ax_m.set_ylabel("u (cycles / pixel)")
    fig.colorbar(image, ax=ax_m, shrink=0.85)
    return FrequencyResponse(fig, k, size_, spectrum, magnitude, freqs)


# --- the convolution theorem ----------------------------------------------------------------------
def gaussian_kernel(size: int = 9, sigma: float = 2.0) -> np.ndarray:
    """A (size, size) Gaussian blur, exp(-(i^2 + j^2) / (2 sigma^2)) about the centre, summing to 1.

    Its response is close to a Gaussian of width 1 / (2 pi sigma) cycles per pixel: a low-pass filter.
    """
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


@dataclass(eq=False, repr=False)
class ConvolutionTheorem(Picture):
    """The result of :func:`convolution_theorem_demo`. Dicts are keyed "low-pass" and "high-pass".

    Attributes:
        figure: 3 rows x 4 columns: the photo and its spectrum; then per filter its kernel,
            its response, the filtered photo and the filtered photo's spectrum (= the photo's
            spectrum times the response).
        image: (H, W) float64 grey image in [0, 1].
        image_spectrum: (H, W) complex, the image's centred DFT.
        kernels: {name: (KH, KW)}: a Gaussian blur and the Laplacian.
        responses: {name: (H, W) complex}: each kernel's centred DFT at the image's size.
        filtered: {name: (H, W)}: the spatial convolution, ``F.conv2d`` with the flipped kernel
            and padding "same".
        via_fft: {name: (H, W)}: IDFT(DFT(image) . DFT(kernel)), both padded to
            (H + KH - 1, W + KW - 1), cut to the same window.
        max_abs_difference: {name: max |via_fft - filtered|}: float64 rounding.
    """

    image: np.ndarray
    image_spectrum: np.ndarray
    kernels: dict[str, np.ndarray]
    responses: dict[str, np.ndarray]
    filtered: dict[str, np.ndarray]
    via_fft: dict[str, np.ndarray]
    max_abs_difference: dict[str, float]


def _sample_photo(op: str, name: str = "china.jpg") -> np.ndarray:
    """scikit-learn's bundled sample photo as float64 grey in [0, 1] (BT.601 luma)."""
    try:
        from sklearn.datasets import load_sample_image
    except ImportError as e:  # pragma: no cover - part of the [train] extra
        raise ImportError(f"{op}: the sample photos come with scikit-learn ({INSTALL_HINT})") from e
    return (load_sample_image(name).astype(np.float64) @ _LUMA) / 255.0  # (H, W)


def _convolve_by_fft(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The true convolution of image with kernel by the convolution theorem, "same" window.

    Padding both to (H + KH - 1, W + KW - 1) makes the circular convolution linear:

        full[m] = sum_i kernel[i] image[m - i] = IDFT(DFT(image) . DFT(kernel))[m]

    conv2d with the flipped kernel and TensorFlow's "same" padding PT = (KH - 1) // 2 computes
    out[y] = sum_i kernel[KH - 1 - i] image[y + i - PT] = full[y + KH - 1 - PT], so the window
    starts at KH - 1 - PT (likewise along the width).
    """
    (h, w), (kh, kw) = image.shape, kernel.shape
    size = (h + kh - 1, w + kw - 1)
    full = np.fft.irfft2(np.fft.rfft2(image, s=size) * np.fft.rfft2(kernel, s=size), s=size)
    top, left = kh - 1 - (kh - 1) // 2, kw - 1 - (kw - 1) // 2
    return full[top:top + h, left:left + w]


def convolution_theorem_demo(image: Any = None) -> ConvolutionTheorem:
    """Filter a photo in space and in frequency, and show both agree (the convolution theorem).

    A low-pass filter (a 9x9 Gaussian blur, sigma 2) and a high-pass one (the 3x3 Laplacian) are
    applied to the photo twice: as a spatial convolution (``juanji.functional.conv2d``, float64)
    and as the inverse FFT of the product of the photo's and the kernel's spectra. The figure
    shows the photo's spectrum, each kernel with its response, and the filtered photos with their
    spectra: the product, frequency by frequency.

    Args:
        image: (H, W) grey image (array or Tensor), at least 9x9; None (the default) takes
            scikit-learn's sample photo ``china.jpg`` (427x640) in grey, in [0, 1].

    Returns:
        :class:`ConvolutionTheorem`; ``max_abs_difference`` holds the check per filter.

    Example:
        >>> demo = convolution_theorem_demo()
        >>> max(demo.max_abs_difference.values()) < 1e-12
        True
        >>> demo.save("convolution_theorem.png")
    """
    op = "convolution_theorem_demo"
    img = _sample_photo(op) if image is None else _as_2d(op, "image", image)
    kernels = {"low-pass": gaussian_kernel(9, 2.0), "high-pass": LAPLACIAN.copy()}
    if img.shape[0] < 9 or img.shape[1] < 9:
        raise ValueError(f"{op}: image must be at least 9x9 (the blur's size), got shape {img.shape}")
    responses, filtered, via_fft, diff = {}, {}, {}, {}
    for name, k in kernels.items():
        responses[name] = np.fft.fftshift(np.fft.fft2(k, s=img.shape))
        with no_grad():  # the true convolution: conv2d (a correlation) with the kernel flipped
            x, w = Tensor(img[None, None]), Tensor(np.ascontiguousarray(k[::-1, ::-1])[None, None])
            filtered[name] = F.conv2d(x, w, padding="same").data[0, 0]
        via_fft[name] = _convolve_by_fft(img, k)
        diff[name] = float(np.max(np.abs(via_fft[name] - filtered[name])))
    spectrum = np.fft.fftshift(np.fft.fft2(img))

    fig = new_figure(op, 14.0, 9.0)
    axes = fig.subplots(3, 4)
    freqs = _extent(_centred_frequencies(img.shape))

    def show_spectrum(ax: Any, z: np.ndarray, title: str) -> None:
        ax.imshow(np.log1p(np.abs(z)), cmap="magma", extent=freqs, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("cycles / pixel", fontsize=8)

    axes[0, 0].imshow(img, cmap="gray", interpolation="nearest")
    axes[0, 0].set_title(f"image {img.shape[0]}x{img.shape[1]}", fontsize=9)
    show_spectrum(axes[0, 1], spectrum, "log(1 + |DFT(image)|)")
    axes[0, 2].axis("off")
    check = "\n".join(f"  {n}: {d:.1e}" for n, d in diff.items())
    axes[0, 2].text(0, 0.5, "IDFT(DFT(image) . DFT(kernel))\n= image (*) kernel\n\n"
                    f"max |difference| from conv2d:\n{check}", fontsize=10, va="center")
    axes[0, 3].axis("off")
    for row, name in enumerate(kernels, start=1):
        k = kernels[name]
        lim = float(np.max(np.abs(k)))
        axes[row, 0].imshow(k, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        axes[row, 0].set_title(f"{name} kernel {k.shape[0]}x{k.shape[1]}", fontsize=9)
        axes[row, 1].imshow(np.abs(responses[name]), cmap="viridis", extent=freqs, interpolation="nearest")
        axes[row, 1].set_title(f"|DFT(kernel)| ({name})", fontsize=9)
        axes[row, 1].set_xlabel("cycles / pixel", fontsize=8)
        axes[row, 2].imshow(filtered[name], cmap="gray", interpolation="nearest")
        axes[row, 2].set_title(f"image (*) kernel, max |diff| {diff[name]:.1e}", fontsize=9)
        show_spectrum(axes[row, 3], spectrum * responses[name], "log(1 + |DFT(image) . DFT(kernel)|)")
    for ax in (axes[0, 0], axes[1, 0], axes[2, 0], axes[1, 2], axes[2, 2]):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("The convolution theorem: filtering in space = multiplying spectra", fontsize=11)
    return ConvolutionTheorem(fig, img, spectrum, kernels, responses, filtered, via_fft, diff)
