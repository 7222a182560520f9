"""Transforms of juanji.data: each one's exact effect, batches, seeding, and torchvision as oracle."""

from __future__ import annotations

import numpy as np
import pytest

import juanji
from juanji.data import transforms as T
from tests.helpers import torch_or_skip


def coords(n: int, c: int, h: int, w: int) -> np.ndarray:
    """Pixel (y, x) of image k holds 1 + 10000*k + 100*y + x, so any crop reveals where it came from."""
    k, _, y, x = np.meshgrid(np.arange(n), np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    return (1 + 10000 * k + 100 * y + x).astype(np.float64)  # (N, C, H, W)


def test_to_float_and_normalize_values():
    x = np.array([[[0, 51, 255]], [[102, 204, 0]]], np.uint8)  # (2, 1, 3)
    f = T.ToFloat()(x)
    assert f.dtype == np.float32
    np.testing.assert_allclose(f, [[[0, 0.2, 1]], [[0.4, 0.8, 0]]], rtol=1e-7)
    n = T.Normalize(mean=[0.5, 0.25], std=[0.5, 0.1])(f)
    np.testing.assert_allclose(n, [[[-1, -0.6, 1]], [[1.5, 5.5, -2.5]]], rtol=1e-6)
    batch = np.stack([f, f * 0])  # (2, 2, 1, 3)
    nb = T.Normalize([0.5, 0.25], [0.5, 0.1])(batch)
    np.testing.assert_allclose(nb[0], n)
    np.testing.assert_allclose(nb[1, 1], -2.5)
    with pytest.raises(ValueError, match=r"the image has 2 channels \(shape \(2, 1, 3\)\) but mean/std have 3 values"):
        T.Normalize([0, 0, 0], [1, 1, 1])(f)
    with pytest.raises(TypeError, match="expected float images \\(apply ToFloat first\\), got dtype uint8"):
        T.Normalize([0, 0], [1, 1])(x)
    with pytest.raises(ValueError, match=r"std must be positive, got \[1.0, 0.0\]"):
        T.Normalize([0, 0], [1, 0])
    with pytest.raises(TypeError, match="ToFloat: expected uint8 or float images, got dtype int16"):
        T.ToFloat()(x.astype(np.int16))


def test_one_hot():
    np.testing.assert_array_equal(T.OneHot(4)(2), [0, 0, 1, 0])
    np.testing.assert_array_equal(T.OneHot(3)(np.array([[1], [0]])), [[[0, 1, 0]], [[1, 0, 0]]])
    with pytest.raises(ValueError, match=r"label 3 is outside \[0, 3\)"):
        T.OneHot(3)(np.array([0, 3]))
    with pytest.raises(TypeError, match="labels must be integers"):
        T.OneHot(3)(np.array([0.5]))


def test_pad_argument_forms():
    x = np.ones((1, 2, 3), np.float32)
    out = T.Pad((1, 2, 3, 4), fill=7)(x)  # left, top, right, bottom
    assert out.shape == (1, 2 + 2 + 4, 1 + 3 + 3)
    np.testing.assert_array_equal(out[0, 2:4, 1:4], 1)
    assert out.sum() == 6 + 7 * (out.size - 6)
    assert T.Pad((1, 2))(x).shape == (1, 6, 5) and T.Pad(1)(np.ones((4, 1, 2, 3))).shape == (4, 1, 4, 5)
    with pytest.raises(ValueError, match="mode must be one of"):
        T.Pad(1, mode="wrap")
    with pytest.raises(ValueError, match="reflect padding .* needs each pad smaller than the image size"):
        T.Pad(3, mode="reflect")(x)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad_matches_torchvision(mode):
    torch_or_skip()
    import torch
    import torchvision.transforms.functional as TF

    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6)).astype(np.float32)
    ours = T.Pad((1, 2, 3, 4), mode=mode)(x)
    theirs = TF.pad(torch.from_numpy(x), [1, 2, 3, 4], padding_mode=mode).numpy()
    np.testing.assert_array_equal(ours, theirs)


def test_random_crop_offsets_are_exact_and_uniform():
    x = coords(1, 2, 6, 7)[0]  # (2, 6, 7)
    crop = T.RandomCrop((3, 4), generator=0)
    seen = set()
    for _ in range(400):
        out = crop(x)
        assert out.shape == (2, 3, 4)
        top, left = divmod(int(out[0, 0, 0]) - 1, 100)
        np.testing.assert_array_equal(out, x[:, top:top + 3, left:left + 4])
        seen.add((top, left))
    assert seen == {(t, l) for t in range(4) for l in range(4)}  # every offset in [0, H-h] x [0, W-w]


def test_random_crop_with_padding_and_batches():
    x = coords(64, 1, 4, 4)  # (64, 1, 4, 4)
    out = T.RandomCrop(4, padding=1, generator=3)(x)
    assert out.shape == (64, 1, 4, 4)
    offsets = set()
    for k in range(64):
        padded = np.pad(x[k], ((0, 0), (1, 1), (1, 1)))
        matches = [(t, l) for t in range(3) for l in range(3) if np.array_equal(out[k], padded[:, t:t + 4, l:l + 4])]
        assert len(matches) == 1, f"image {k} is not a window of its padded self"
        offsets.add(matches[0])
        assert set(np.unique(out[k])) - {0} <= set(np.unique(x[k]))  # its own pixels (or padding) only
    assert len(offsets) == 9  # each image of the batch draws its own offsets
    with pytest.raises(ValueError, match=r"crop size \(5, 5\) is larger than the \(padded\) image \(4, 4\)"):
        T.RandomCrop(5)(x)


@pytest.mark.parametrize("hw,size", [((7, 6), (4, 3)), ((9, 9), (4, 5)), ((5, 8), (5, 1))])
def test_center_crop_offsets(hw, size):
    x = coords(2, 1, *hw)
    out = T.CenterCrop(size)(x)
    top, left = divmod(int(out[0, 0, 0, 0]) - 1, 100)
    # torchvision's rule: offset = int(round((H - h) / 2)) with Python's round (half to even).
    assert (top, left) == (int(round((hw[0] - size[0]) / 2)), int(round((hw[1] - size[1]) / 2)))
    assert out.shape == (2, 1) + size
    torch_or_skip()
    import torch
    import torchvision.transforms.functional as TF

    np.testing.assert_array_equal(out, TF.center_crop(torch.from_numpy(x), list(size)).numpy())


def test_horizontal_flip():
    x = coords(1, 2, 3, 4)[0]
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x), x[:, :, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x), x)
    batch = coords(2000, 1, 2, 3)
    out = T.RandomHorizontalFlip(generator=1)(batch)
    flipped = np.array([np.array_equal(o, b[:, :, ::-1]) for o, b in zip(out, batch)])
    kept = np.array([np.array_equal(o, b) for o, b in zip(out, batch)])
    assert np.all(flipped ^ kept)  # every image exactly flipped or exactly kept
    assert abs(flipped.mean() - 0.5) < 0.045  # p = 0.5 (4.0 standard deviations for n = 2000)


def test_random_translate_shifts_with_fill():
    x = coords(1, 1, 5, 6)[0]  # (1, 5, 6)
    t = T.RandomTranslate((2, 1), fill=-1, generator=0)
    shifts = set()
    for _ in range(300):
        out = t(x)
        # Find (dy, dx) from where pixel (2, 2) of the input went; then check every pixel.
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-1, 2)
                   if all(out[0, y, xx] == (x[0, y - dy, xx - dx] if 0 <= y - dy < 5 and 0 <= xx - dx < 6 else -1)
                          for y in range(5) for xx in range(6))]
        assert len(matches) == 1
        shifts.add(matches[0])
    assert shifts == {(dy, dx) for dy in range(-2, 3) for dx in range(-1, 2)}
    assert T.RandomTranslate(0)(x) is not None and np.array_equal(T.RandomTranslate(0)(x), x)


def test_random_translate_direction_convention():
    """Positive dy moves the content down, positive dx to the right (out[y, x] = in[y - dy, x - dx])."""
    x = coords(1, 1, 5, 6)[0]
    for seed in range(5):
        # The documented draw: integers(-m, m + 1) for (dy, dx) of each image, in that order.
        dy, dx = np.random.default_rng(seed).integers([-2, -2], [3, 3], size=(1, 2))[0]
        out = T.RandomTranslate(2, generator=seed)(x)
        y0, x0 = max(dy, 0), max(dx, 0)
        assert out[0, y0, x0] == x[0, y0 - dy, x0 - dx]


@pytest.mark.parametrize("size", [(13, 7), (4, 9), (8, 8), 5])
def test_resize_matches_torch_bilinear(size):
    torch = torch_or_skip()
    import torch.nn.functional as tF

    x = np.random.default_rng(2).standard_normal((2, 3, 8, 11)).astype(np.float32)
    ours = T.Resize(size)(x)
    hw = size if isinstance(size, tuple) else (5, int(5 * 11 / 8))
    theirs = tF.interpolate(torch.from_numpy(x), size=hw, mode="bilinear", align_corners=False,
                            antialias=False).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_resize_exact_cases():
    x = np.arange(12, dtype=np.float64).reshape(1, 3, 4)
    np.testing.assert_allclose(T.Resize((3, 4))(x), x)  # same size: identity
    # Doubling a 1-D ramp [0, 1] with half-pixel centres samples at -0.25, 0.25, 0.75, 1.25 -> clamp.
    np.testing.assert_allclose(T.Resize((1, 4))(np.array([[[0.0, 1.0]]])), [[[0, 0.25, 0.75, 1]]])
    u = T.Resize((2, 2))(np.full((3, 4, 4), 200, np.uint8))
    assert u.dtype == np.uint8 and np.all(u == 200)
    assert T.Resize(4)(np.zeros((1, 8, 16))).shape == (1, 4, 8)  # shorter side to 4, aspect kept


def test_pca_color_augment_noise_lies_in_the_eigen_span_with_the_right_scale():
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))  # orthonormal columns p_i
    eigval = np.array([2.0, 0.5, 0.0])  # rank 2: the noise must have no component along p_3
    aug = T.PCAColorAugment(eigval, q, std=0.1, generator=5)
    x = np.random.default_rng(1).random((4000, 3, 2, 3))
    shift = aug(x) - x  # (N, 3, H, W)
    per_image = shift[:, :, 0, 0]  # (N, 3)
    np.testing.assert_allclose(shift, per_image[:, :, None, None] * np.ones((1, 1, 2, 3)), atol=1e-12)
    coef = per_image @ q  # (N, 3): alpha_i * lambda_i in the eigenbasis
    np.testing.assert_allclose(coef[:, 2], 0, atol=1e-12)
    alpha = coef[:, :2] / eigval[:2]
    assert np.all(np.abs(alpha.std(axis=0) - 0.1) < 0.006)  # std 0.1 (stderr 0.0011)
    assert np.all(np.abs(alpha.mean(axis=0)) < 0.006)
    assert abs(np.corrcoef(alpha.T)[0, 1]) < 0.07  # drawn independently
    one = T.PCAColorAugment(eigval, q, generator=5)(x[0])
    np.testing.assert_allclose(one - x[0], shift[0])  # the first image of a batch draws what a single one does
    with pytest.raises(TypeError, match=r"expected float images \(apply ToFloat first\)"):
        aug(np.zeros((3, 2, 2), np.uint8))
    with pytest.raises(ValueError, match=r"expected 3 \(RGB\) channels, got shape \(1, 2, 2\)"):
        aug(np.zeros((1, 2, 2)))


def test_pca_fit_recovers_the_covariance():
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    lam = np.array([0.09, 0.01, 0.001])
    pixels = rng.standard_normal((200000, 3)) * np.sqrt(lam) @ q.T  # covariance q diag(lam) q^T
    images = pixels.reshape(2000, 10, 10, 3).transpose(0, 3, 1, 2)  # (N, 3, H, W)
    aug = T.PCAColorAugment.fit(images)
    np.testing.assert_allclose(aug.eigval, lam, rtol=0.03)
    np.testing.assert_allclose(np.abs(np.sum(aug.eigvec * q, axis=0)), 1, atol=1e-3)  # same axes, up to sign


def test_seeded_repeatability_of_every_random_transform():
    x = np.random.default_rng(0).random((6, 3, 8, 8)).astype(np.float32)
    makers = [lambda g: T.RandomCrop(5, padding=2, generator=g), lambda g: T.RandomHorizontalFlip(generator=g),
              lambda g: T.RandomTranslate(2, generator=g), lambda g: T.PCAColorAugment(*T.IMAGENET_PCA, generator=g)]
    for make in makers:
        a, b, c = make(7), make(7), make(8)
        ya = a(x)
        np.testing.assert_array_equal(ya, b(x))
        assert not np.array_equal(ya, c(x)) or not np.array_equal(a(x), c(x))
        juanji.manual_seed(1)
        d = make(None)(x)
        juanji.manual_seed(1)
        np.testing.assert_array_equal(d, make(None)(x))  # no generator: juanji.random's, so manual_seed repeats
        with T.generator_scope(np.random.default_rng(7)):
            np.testing.assert_array_equal(make(None)(x), ya)  # inside a loader: the loader's generator
    with pytest.raises(TypeError, match="generator must be None, an int seed or a numpy.random.Generator, got str"):
        T.RandomCrop(2, generator="seed")


def test_compose_and_errors():
    t = T.Compose([T.Pad(1), T.CenterCrop(2), T.ToFloat()])
    out = t(np.full((1, 2, 2), 255, np.uint8))
    assert out.dtype == np.float32 and np.all(out == 1.0)
    with pytest.raises(TypeError, match="every transform must be callable"):
        T.Compose([T.ToFloat(), 3])
    with pytest.raises(ValueError, match=r"expected an image \(C, H, W\) or a batch \(N, C, H, W\), got shape \(2, 2\)"):
        T.CenterCrop(1)(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"CenterCrop: crop size \(3, 3\) is larger than the image \(2, 2\)"):
        T.CenterCrop(3)(np.zeros((1, 2, 2)))
    assert "RandomCrop(size=(5, 5)" in repr(T.RandomCrop(5))
