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
              lambda g: T.RandomTranslate(2, generator=g), lambda g: T.PCAColorAugment(*T.IMAGENET_PCA, generator=g),
              lambda g: T.RandomErasing(generator=g),
              lambda g: T.RandomErasing(p=1.0, value="random", generator=g)]
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


# -- RandomErasing ---------------------------------------------------------------------------------


def erased_boxes(x: np.ndarray, out: np.ndarray) -> list[tuple[int, int, int, int] | None]:
    """For each image of a batch, the (top, left, h, w) bounding box of the changed pixels (None if none)."""
    boxes = []
    for changed in np.any(out != x, axis=1):  # (H, W) per image
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        boxes.append(None if rows.size == 0 else
                     (int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)))
    return boxes


def textbook_erasing(u: np.ndarray, H: int, W: int, p: float, scale, ratio):
    """Zhong et al.'s loop as torchvision writes it, on the documented uniforms ``u`` (23,) of one image."""
    if not u[0] < p:
        return None
    for k in range(10):
        area = H * W * (scale[0] + (scale[1] - scale[0]) * u[1 + k])
        aspect = np.exp(np.log(ratio[0]) + (np.log(ratio[1]) - np.log(ratio[0])) * u[11 + k])
        h, w = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
        if h < H and w < W:
            return int(u[21] * (H - h + 1)), int(u[22] * (W - w + 1)), h, w
    return None


@pytest.mark.parametrize("H,W,p,scale,ratio", [(12, 17, 0.7, (0.02, 0.33), (0.3, 3.3)),
                                               (10, 16, 1.0, (0.3, 0.9), (0.3, 3.3)),  # many attempts fail
                                               (9, 9, 0.5, (0.1, 0.5), (1.0, 1.0))])
def test_random_erasing_geometry_replays_the_textbook_loop(H, W, p, scale, ratio):
    x = np.random.default_rng(0).standard_normal((300, 2, H, W)).astype(np.float32) + 10  # no pixel is 0
    out = T.RandomErasing(p=p, scale=scale, ratio=ratio, value=0, generator=4)(x)
    u = np.random.default_rng(4).random((300, 23))  # the documented draws
    expected = [textbook_erasing(row, H, W, p, scale, ratio) for row in u]
    expected = [None if e is None or e[2] * e[3] == 0 else e for e in expected]  # a 0-pixel rectangle erases nothing
    assert erased_boxes(x, out) == expected
    assert any(e is None for e in expected) and sum(e is not None for e in expected) > 100
    for k, e in enumerate(expected):  # inside the box every channel is exactly 0, outside untouched
        if e is not None:
            top, left, h, w = e
            assert np.all(out[k, :, top:top + h, left:left + w] == 0)


class _ReplayTorch:
    """Stands in for ``torch`` inside torchvision's transforms module: its draws come from ``u``.

    ``torch.rand(1)`` gives u[0]; the i-th ``empty(1).uniform_(a, b)`` gives ``a + (b - a) * v``
    with v the next area uniform (even calls) or log-ratio uniform (odd calls); ``randint(0, m)``
    gives ``floor(v * m)`` with v = u[21], then u[22]. Everything else is the real torch.
    """

    def __init__(self, torch, u):
        self._torch, self._u, self._calls, self._ints = torch, u, 0, 0

    def __getattr__(self, name):
        return getattr(self._torch, name)

    def rand(self, *size, **kw):
        return self._torch.tensor([self._u[0]], dtype=self._torch.float64)

    def empty(self, *size, **kw):
        if size != (1,):
            return self._torch.empty(*size, **kw)
        replay = self

        class Uniform:
            def uniform_(self, a, b):
                k, which = divmod(replay._calls, 2)
                replay._calls += 1
                v = replay._u[1 + k + 10 * which]
                return replay._torch.tensor(float(a) + (float(b) - float(a)) * v, dtype=replay._torch.float64)
        return Uniform()

    def randint(self, low, high, size):
        v = self._u[21 + self._ints]
        self._ints += 1
        return self._torch.tensor([low + int(v * (high - low))])


@pytest.mark.parametrize("value", [0, 2.5, (1.0, -2.0, 3.0)])
def test_random_erasing_matches_torchvision_fed_the_same_draws(monkeypatch, value):
    torch = torch_or_skip()
    import torchvision.transforms.transforms as tvt

    x = np.random.default_rng(1).standard_normal((200, 3, 10, 14)).astype(np.float32)
    settings = dict(p=0.8, scale=(0.1, 0.8), ratio=(0.4, 3.0), value=value)
    ours = T.RandomErasing(**settings, generator=9)(x)
    u = np.random.default_rng(9).random((200, 23))
    theirs = tvt.RandomErasing(**settings)
    changed = 0
    for k in range(200):
        monkeypatch.setattr(tvt, "torch", _ReplayTorch(torch, u[k]))
        expected = theirs(torch.from_numpy(x[k])).numpy()
        np.testing.assert_array_equal(ours[k], expected)
        changed += not np.array_equal(expected, x[k])
    assert 60 < changed < 200  # both outcomes occur: erased, and kept (u0 >= p or no fit)


def test_random_erasing_values_fill_exactly_the_rectangle():
    x = np.random.default_rng(2).standard_normal((50, 3, 8, 11)) + 100.0  # float64, no value near 0..3
    for value, per_channel in [(-1.5, [-1.5] * 3), ((0.0, 1.0, 2.0), [0.0, 1.0, 2.0]), ([7], [7.0] * 3)]:
        out = T.RandomErasing(p=1.0, scale=(0.1, 0.3), ratio=(0.5, 2.0), value=value, generator=0)(x)
        assert out.dtype == x.dtype and out.shape == x.shape
        boxes = erased_boxes(x, out)
        assert all(b is not None for b in boxes)  # p = 1 and a fit always exists here: every image erased
        for k, (top, left, h, w) in enumerate(boxes):
            region = out[k, :, top:top + h, left:left + w]
            np.testing.assert_array_equal(region, np.broadcast_to(np.reshape(per_channel, (3, 1, 1)), region.shape))
            rest = np.ones((8, 11), bool)
            rest[top:top + h, left:left + w] = False
            np.testing.assert_array_equal(out[k][:, rest], x[k][:, rest])
    out = T.RandomErasing(p=1.0, scale=(0.2, 0.3), ratio=(0.5, 2.0), value="random", generator=0)(x)
    for k, (top, left, h, w) in enumerate(erased_boxes(x, out)):
        region = out[k, :, top:top + h, left:left + w]
        assert np.all(np.isfinite(region)) and np.all(region != x[k, :, top:top + h, left:left + w])
        assert np.all(np.abs(region) < 10)  # standard normal noise, not the image's values near 100
    noise = np.concatenate([out[k][out[k] != x[k]] for k in range(50)])
    assert noise.size > 3000 and abs(noise.mean()) < 0.07 and abs(noise.std() - 1) < 0.05  # N(0, 1): stderr ~0.02


def test_random_erasing_p0_never_and_no_fit_never():
    x = np.random.default_rng(3).standard_normal((200, 2, 10, 10)).astype(np.float32)
    out = T.RandomErasing(p=0.0, scale=(0.1, 0.3), generator=0)(x)
    assert out is x and np.array_equal(out, x)
    # sqrt(0.95) * 10 rounds to 10 = H for every draw: no rectangle fits, so even p = 1 keeps every image.
    out = T.RandomErasing(p=1.0, scale=(0.95, 1.0), ratio=(1.0, 1.0), generator=0)(x)
    assert out is x and np.array_equal(out, x)
    out = T.RandomErasing(p=1.0, scale=(0.8, 0.85), ratio=(1.0, 1.0), generator=0)(x)  # 9x9 always fits
    assert all(b is not None and b[2:] == (9, 9) for b in erased_boxes(x, out))


def _erasing_stats(boxes, H, W):
    """Fraction of images kept, and the erased images' area fractions and log aspect ratios."""
    kept = np.mean([b is None for b in boxes])
    hw = np.array([b[2:] for b in boxes if b is not None], dtype=np.float64)
    return kept, hw[:, 0] * hw[:, 1] / (H * W), np.log(hw[:, 0] / hw[:, 1])


def _agree(a: np.ndarray, b: np.ndarray, sigmas: float = 4.0) -> bool:
    """Means of two samples agree within ``sigmas`` standard errors of their difference."""
    se = np.sqrt(a.var() / a.size + b.var() / b.size)
    return abs(a.mean() - b.mean()) < sigmas * se


@pytest.mark.parametrize("H,W,scale,ratio", [(40, 40, (0.02, 0.33), (0.3, 3.3)),  # the defaults
                                             (12, 20, (0.6, 0.95), (0.3, 3.3))])  # ~17% find no fit
def test_random_erasing_statistics_match_torchvision(H, W, scale, ratio):
    torch = torch_or_skip()
    import torchvision.transforms as tvtr

    n = 4000
    x = np.ones((1, H, W), np.float32)
    ours = T.RandomErasing(p=0.5, scale=scale, ratio=ratio, generator=11)(np.repeat(x[None], n, axis=0))
    torch.manual_seed(0)
    tv = tvtr.RandomErasing(p=0.5, scale=scale, ratio=ratio)
    theirs = np.stack([tv(torch.from_numpy(x)).numpy() for _ in range(n)])
    batch = np.repeat(x[None], n, axis=0)
    kept_a, frac_a, logr_a = _erasing_stats(erased_boxes(batch, ours), H, W)
    kept_b, frac_b, logr_b = _erasing_stats(erased_boxes(batch, theirs), H, W)
    # Kept fraction: binomial, stderr sqrt(q(1 - q)/n) each; 4 standard errors of the difference.
    q = (kept_a + kept_b) / 2
    assert abs(kept_a - kept_b) < 4 * np.sqrt(2 * q * (1 - q) / n)
    assert _agree(frac_a, frac_b) and _agree(logr_a, logr_b) and _agree(logr_a ** 2, logr_b ** 2)
    assert _agree(frac_a ** 2, frac_b ** 2)  # the spread of the area too


def test_random_erasing_area_and_log_ratio_follow_scale_and_ratio():
    # Here every attempt fits (s * r <= 0.2 * 2 < 1), so the first draw is used: the erased area
    # fraction is U(0.02, 0.2) and log(h / w) is U(log 0.5, log 2), up to rounding h and w (>= 6 px).
    n, H, W = 4000, 60, 60
    lo, hi = 0.02, 0.2
    x = np.ones((n, 1, H, W), np.float32)
    out = T.RandomErasing(p=1.0, scale=(lo, hi), ratio=(0.5, 2.0), generator=5)(x)
    kept, frac, logr = _erasing_stats(erased_boxes(x, out), H, W)
    assert kept == 0
    # Rounding each side by at most 0.5 px moves the smallest areas (sides >= 6 px) by under 15%, the
    # largest (sides >= 19 px) by under 6%; min and max come near the ends of scale.
    assert lo * 0.85 < frac.min() < lo * 1.1 and hi * 0.9 < frac.max() < hi * 1.06
    # U(a, b): mean (a + b)/2 and sd (b - a)/sqrt(12) = 0.052 (stderrs 0.0008 and 0.0004); tolerance 0.003.
    assert abs(frac.mean() - (lo + hi) / 2) < 0.003
    assert abs(frac.std() - (hi - lo) / np.sqrt(12)) < 0.003
    # log(h/w) uniform on [-log 2, log 2]: mean 0, sd 0.400 (stderr 0.006; rounding adds < 0.01 of spread).
    assert abs(logr.mean()) < 0.02 and abs(logr.std() - 2 * np.log(2) / np.sqrt(12)) < 0.02
    # Mass below -t, within +-t and above t, for t = 0.35 (edges away from the atom h == w at 0, where
    # rounding piles up): (log 2 - t) / (2 log 2) = 0.2475 on each side, 0.505 between; stderrs <= 0.008.
    parts = np.array([np.mean(logr < -0.35), np.mean(np.abs(logr) <= 0.35), np.mean(logr > 0.35)])
    assert np.all(np.abs(parts - [0.2475, 0.505, 0.2475]) < 0.03), parts


def test_random_erasing_batches_inplace_and_seeding():
    x = np.random.default_rng(6).standard_normal((64, 3, 12, 12)).astype(np.float32)
    keep = x.copy()
    t = T.RandomErasing(p=1.0, scale=(0.1, 0.3), generator=3)
    out = t(x)
    np.testing.assert_array_equal(x, keep)  # not in place: the input is untouched
    boxes = erased_boxes(x, out)
    assert len(set(boxes)) > 40  # each image of a batch draws its own rectangle
    one = T.RandomErasing(p=1.0, scale=(0.1, 0.3), generator=3)(x[0])
    assert one.shape == (3, 12, 12)
    np.testing.assert_array_equal(one, out[0])  # one image draws what the first image of a batch does
    np.testing.assert_array_equal(T.RandomErasing(p=1.0, scale=(0.1, 0.3), generator=3)(x), out)  # same seed
    inplace = T.RandomErasing(p=1.0, scale=(0.1, 0.3), inplace=True, generator=3)
    y = x.copy()
    assert inplace(y) is y
    np.testing.assert_array_equal(y, out)
    img = x[5].copy()
    res = T.RandomErasing(p=1.0, scale=(0.1, 0.3), value="random", inplace=True, generator=1)(img)
    assert np.shares_memory(res, img) and not np.array_equal(img, x[5])
    ro = x.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"RandomErasing: inplace=True needs a writeable array"):
        inplace(ro)
    assert not np.array_equal(T.RandomErasing(p=1.0, generator=3)(ro), ro)  # a copy is fine
    assert "RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False)" == repr(
        T.RandomErasing())


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(p=1.5), ValueError, r"RandomErasing: p must be a number in \[0, 1\], got 1.5"),
    (dict(p=-0.1), ValueError, r"RandomErasing: p must be a number in \[0, 1\], got -0.1"),
    (dict(scale=(0.5, 0.1)), ValueError, r"RandomErasing: scale must be a pair \(min, max\) of numbers with "
                                         r"0 <= min <= max <= 1, got \(0.5, 0.1\)"),
    (dict(scale=(-0.1, 0.3)), ValueError, r"RandomErasing: scale must be a pair .* got \(-0.1, 0.3\)"),
    (dict(scale=(0.1, 1.5)), ValueError, r"RandomErasing: scale must be a pair .* got \(0.1, 1.5\)"),
    (dict(scale=0.3), ValueError, r"RandomErasing: scale must be a pair .* got 0.3"),
    (dict(ratio=(3.3, 0.3)), ValueError, r"RandomErasing: ratio must be a pair \(min, max\) of numbers with "
                                         r"0 < min <= max, got \(3.3, 0.3\)"),
    (dict(ratio=(0, 3.3)), ValueError, r"RandomErasing: ratio must be a pair .* got \(0, 3.3\)"),
    (dict(ratio=(-1, 2)), ValueError, r"RandomErasing: ratio must be a pair .* got \(-1, 2\)"),
    (dict(value="noise"), ValueError, r"RandomErasing: value must be a number, a sequence of per-channel numbers "
                                      r"or 'random', got 'noise'"),
    (dict(value=()), ValueError, r"RandomErasing: value must be a number, .* got \(\)"),
    (dict(value=float("nan")), ValueError, r"RandomErasing: value must be finite, got nan"),
    (dict(inplace="yes"), TypeError, r"RandomErasing: inplace must be a bool, got 'yes'"),
    (dict(generator="seed"), TypeError, r"RandomErasing: generator must be None, an int seed"),
])
def test_random_erasing_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        T.RandomErasing(**kwargs)


def test_random_erasing_bad_images():
    with pytest.raises(ValueError, match=r"RandomErasing: value has 2 entries but the image has 3 channels "
                                         r"\(shape \(4, 3, 5, 5\)\); give one value or one per channel"):
        T.RandomErasing(p=0.0, value=(0.0, 1.0))(np.zeros((4, 3, 5, 5), np.float32))  # checked whatever the draw
    with pytest.raises(TypeError, match=r"RandomErasing: expected float images \(it acts after ToFloat and "
                                        r"Normalize\), got dtype uint8"):
        T.RandomErasing()(np.zeros((3, 5, 5), np.uint8))
    with pytest.raises(ValueError, match=r"RandomErasing: expected an image \(C, H, W\) or a batch \(N, C, H, W\), "
                                         r"got shape \(5, 5\)"):
        T.RandomErasing()(np.zeros((5, 5), np.float32))
