"""juanji.viz.spectrum: a kernel's frequency response and the convolution theorem, as numbers and figures.

The numbers are checked against closed forms (the box filter's Dirichlet kernel, the
Laplacian's cosines), the figures by their axes' titles, the PNGs by reading them back.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import juanji
import juanji.functional as F
from juanji import Tensor
from juanji.viz import spectrum

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def dirichlet(k: int, s: int) -> np.ndarray:
    """|sum_{j < k} exp(-2 pi i u j / s)| = |sin(pi u k / s) / sin(pi u / s)| (k at u = 0), u centred."""
    u = np.fft.fftshift(np.fft.fftfreq(s)) * s  # integer frequencies -s/2 .. s/2 - 1, centred
    out = np.full(s, float(k))
    nz = u != 0
    out[nz] = np.abs(np.sin(np.pi * u[nz] * k / s) / np.sin(np.pi * u[nz] / s))
    return out


# --- frequency_response ----------------------------------------------------------------------
@pytest.mark.parametrize("kh, kw, size", [(3, 3, 32), (5, 2, (16, 20)), (4, 4, None), (1, 7, 7)])
def test_box_filter_response_is_the_dirichlet_kernel(kh, kw, size):
    r = spectrum.frequency_response(np.ones((kh, kw)), size=size)
    sh, sw = (kh, kw) if size is None else ((size, size) if isinstance(size, int) else size)
    assert r.size == (sh, sw) and r.magnitude.shape == (sh, sw)
    # separable: the 2-D response is the product of the two 1-D Dirichlet kernels
    np.testing.assert_allclose(r.magnitude, np.outer(dirichlet(kh, sh), dirichlet(kw, sw)), rtol=1e-12, atol=1e-12)


def test_dc_gain_is_the_sum_of_the_kernel():
    k = np.random.default_rng(0).standard_normal((4, 5)) + 0.3
    r = spectrum.frequency_response(Tensor(k), size=(17, 12))
    assert r.dc_gain == pytest.approx(abs(k.sum()), rel=1e-12)
    assert r.spectrum[17 // 2, 12 // 2] == pytest.approx(k.sum(), rel=1e-12)  # DC is real: the plain sum
    fy, fx = r.frequencies
    assert fy[17 // 2] == 0 and fx[12 // 2] == 0 and fx[0] == -0.5 and fy[0] == pytest.approx(-8 / 17)
    # against the DFT written out at one frequency, (u, v) = (2, -3) cycles per 17 and 12 pixels
    u, v = 2, -3
    i, j = np.ogrid[:4, :5]
    want = np.sum(k * np.exp(-2j * np.pi * (u * i / 17 + v * j / 12)))
    assert r.spectrum[17 // 2 + u, 12 // 2 + v] == pytest.approx(want, rel=1e-12)


def test_low_pass_attenuates_high_frequencies():
    r = spectrum.frequency_response(spectrum.gaussian_kernel(9, 2.0), size=64)
    c = 32  # DC
    assert r.dc_gain == pytest.approx(1.0, rel=1e-12)  # a blur keeps flat regions as they are
    radius = np.hypot(*np.meshgrid(r.frequencies[0], r.frequencies[1], indexing="ij"))
    assert r.magnitude[radius >= 0.25].max() < 0.05 * r.magnitude[c, c]  # a quarter cycle per pixel: almost gone
    assert r.magnitude[0, 0] < 1e-3  # the checkerboard: gone (2e-4, the 9x9 truncation's sidelobe)


def test_laplacian_is_high_pass_with_its_closed_form():
    r = spectrum.frequency_response(spectrum.LAPLACIAN, size=32)
    fy, fx = np.meshgrid(*r.frequencies, indexing="ij")
    want = np.abs(-4 + 2 * np.cos(2 * np.pi * fy) + 2 * np.cos(2 * np.pi * fx))
    np.testing.assert_allclose(r.magnitude, want, atol=1e-12)
    assert r.dc_gain < 1e-12 and r.magnitude[0, 0] == pytest.approx(8.0)  # 0 at DC, 8 at (1/2, 1/2)


def test_frequency_response_figure_and_png(tmp_path):
    r = spectrum.frequency_response(np.array([[1.0, 0.0, -1.0]] * 3), size=16)
    titles = [ax.get_title() for ax in r.figure.axes]
    assert titles[0] == "kernel 3x3"
    assert titles[1].startswith("|DFT| at 16x16, centred")
    assert len(r.figure.axes) == 3  # kernel, magnitude, its colorbar
    assert r.figure.axes[1].get_xlabel() == "v (cycles / pixel)"
    out = r.save(tmp_path / "response.png", dpi=40)
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG" and im.size == (9 * 40, 4 * 40)
    assert [p.name for p in tmp_path.iterdir()] == ["response.png"]  # no temporary left behind


@pytest.mark.parametrize("kernel, size, exc, message", [
    (np.ones(3), None, ValueError,
     r"frequency_response: kernel must be a non-empty 2-D array \(H, W\), got shape \(3,\)"),
    (np.ones((0, 3)), None, ValueError, r"got shape \(0, 3\)"),
    (np.array([["a"]]), None, TypeError, r"frequency_response: kernel must hold numbers, got dtype <U1"),
    (np.array([[1.0, np.nan]]), None, ValueError, r"frequency_response: kernel has non-finite values"),
    (np.ones((5, 5)), 4, ValueError, r"frequency_response: size \(4, 4\) is smaller than the kernel \(5, 5\)"),
    (np.ones((3, 3)), (8, 8, 8), TypeError, r"frequency_response: size must be None, an int or a pair of ints"),
    (np.ones((3, 3)), 2.5, TypeError, r"size must be None, an int or a pair of ints, got 2.5"),
])
def test_frequency_response_bad_arguments(kernel, size, exc, message):
    with pytest.raises(exc, match=message):
        spectrum.frequency_response(kernel, size=size)


# --- convolution_theorem_demo ----------------------------------------------------------------
@pytest.fixture(scope="module")
def demo():
    return spectrum.convolution_theorem_demo()


def test_theorem_holds_on_the_sample_photo(demo):
    assert demo.image.shape == (427, 640) and 0 <= demo.image.min() and demo.image.max() <= 1
    assert set(demo.kernels) == {"low-pass", "high-pass"}
    for name, k in demo.kernels.items():
        assert demo.filtered[name].shape == demo.via_fft[name].shape == (427, 640)
        assert demo.max_abs_difference[name] < 1e-12  # float64 rounding
        assert demo.max_abs_difference[name] == np.max(np.abs(demo.via_fft[name] - demo.filtered[name]))
        # the spectra multiply: DC of the filtered image = DC of the image x the kernel's gain
        assert demo.responses[name][213, 320] == pytest.approx(k.sum(), abs=1e-12)
        # and juanji's own FFT convolution agrees (the true convolution, same window)
        x, w = Tensor(demo.image[None, None]), Tensor(k[None, None])
        with juanji.no_grad():
            got = F.fft_conv2d(x, w, padding="same", mode="convolution").data[0, 0]
        np.testing.assert_allclose(got, demo.filtered[name], atol=1e-12)
    # the blur keeps the mean brightness, the Laplacian removes it
    low, high = demo.filtered["low-pass"], demo.filtered["high-pass"]
    assert abs(low[20:-20, 20:-20].mean() - demo.image[20:-20, 20:-20].mean()) < 1e-3
    inner = high[1:-1, 1:-1]  # the border sees the zero padding: -image there
    assert abs(inner.mean()) < 1e-3 and inner.std() > 0.01
    # the blurred photo has far less energy at high frequencies than the photo
    def high_energy(img):
        s = np.abs(np.fft.fftshift(np.fft.fft2(img)))
        fy, fx = np.meshgrid(np.fft.fftshift(np.fft.fftfreq(img.shape[0])),
                             np.fft.fftshift(np.fft.fftfreq(img.shape[1])), indexing="ij")
        return np.sum(s[np.hypot(fy, fx) > 0.25] ** 2)
    # (1% is left: the DFT sees the image as periodic, and the jumps between opposite borders,
    # which no blur inside the image removes, have energy at every frequency)
    assert high_energy(low) < 0.02 * high_energy(demo.image)


def test_theorem_on_a_given_image_catches_a_wrong_window():
    rng = np.random.default_rng(1)
    img = rng.random((20, 23))
    d = spectrum.convolution_theorem_demo(Tensor(img))
    assert d.image.shape == (20, 23) and max(d.max_abs_difference.values()) < 1e-12
    # the check is sharp: one pixel of shift is far outside rounding
    shifted = np.roll(d.via_fft["low-pass"], 1, axis=1)
    assert np.max(np.abs(shifted - d.filtered["low-pass"])) > 1e-3


def test_demo_figure_and_png(demo, tmp_path):
    axes = demo.figure.axes
    assert len(axes) == 12  # 3 rows x 4 columns, no colorbars
    titles = [ax.get_title() for ax in axes]
    assert titles[:2] == ["image 427x640", "log(1 + |DFT(image)|)"]
    assert titles[4:8] == ["low-pass kernel 9x9", "|DFT(kernel)| (low-pass)",
                           f"image (*) kernel, max |diff| {demo.max_abs_difference['low-pass']:.1e}",
                           "log(1 + |DFT(image) . DFT(kernel)|)"]
    assert titles[8] == "high-pass kernel 3x3"
    out = demo.save(tmp_path / "theorem.png", dpi=20)
    with Image.open(out) as im:
        im.verify()
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    assert "max_abs_difference={'low-pass': " in repr(demo)


def test_demo_bad_image():
    with pytest.raises(ValueError, match=r"convolution_theorem_demo: image must be a non-empty 2-D array \(H, W\), "
                                         r"got shape \(2, 20, 20\)"):
        spectrum.convolution_theorem_demo(np.zeros((2, 20, 20)))
    with pytest.raises(ValueError, match=r"convolution_theorem_demo: image must be at least 9x9"):
        spectrum.convolution_theorem_demo(np.zeros((5, 20)))
