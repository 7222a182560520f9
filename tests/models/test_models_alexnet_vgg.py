"""AlexNet and VGG: published parameter counts, torchvision's names and shapes, and its logits.

The full-size models (61M-143M parameters) take seconds to build on a laptop CPU, so each
is built once per module (fixtures below) and shared by the tests that need it. The
parameter counts are torchvision's published figures (its model docs); the AlexNet
paper variant's count is written out layer by layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import juanji
import juanji.functional as F
from juanji import Tensor, nn
from juanji.models import (VGG, AlexNet, alexnet, get_model, list_models, make_vgg_layers, vgg11,
                           vgg11_bn)
from tests.helpers import assert_close

TORCHVISION_COUNTS = {
    "vgg11": 132_863_336, "vgg11_bn": 132_868_840, "vgg13": 133_047_848, "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544, "vgg16_bn": 138_365_992, "vgg19": 143_667_240, "vgg19_bn": 143_678_248,
}
VGG_NAMES = list(TORCHVISION_COUNTS)


def _torchvision() -> Any:
    tv = pytest.importorskip("torchvision", reason="torchvision is not installed: oracle test skipped "
                             "(pip install torchvision)")
    import torch

    torch.set_default_dtype(torch.float32)
    return tv


def _built(builder: Any, **kwargs: Any) -> nn.Module:
    juanji.manual_seed(0)
    return builder(**kwargs)


@pytest.fixture(scope="module")
def tv_alexnet() -> nn.Module:
    return _built(alexnet)


@pytest.fixture(scope="module")
def paper_alexnet() -> nn.Module:
    return _built(alexnet, variant="original")


@pytest.fixture(scope="module")
def full_vgg11() -> nn.Module:
    return _built(vgg11)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def forward_backward(model: nn.Module, shape: tuple[int, ...], k: int) -> None:
    """Batch-2 forward and backward: (2, k) finite logits and a finite gradient for every parameter."""
    model.train()
    logits = model(juanji.randn(*shape))
    assert logits.shape == (2, k)
    F.cross_entropy(logits, juanji.tensor(np.array([0, 1]))).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert np.all(np.isfinite(p.grad.data)), name
    assert np.abs(next(model.parameters()).grad.data).max() > 0       # reaches the first conv
    model.zero_grad()                                                 # free the big gradients


def assert_same_layout(ours: nn.Module, theirs: Any) -> None:
    """Same state_dict keys, in the same order, with the same shapes."""
    mine = [(k, tuple(v.shape)) for k, v in ours.state_dict().items()]
    ref = [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert mine == ref


def assert_torchvision_logits(ours: nn.Module, theirs: Any, size: int) -> None:
    """Copy torchvision's (random) weights into ours; eval-mode logits agree within 1e-4."""
    import torch

    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    with juanji.no_grad():
        got = ours(Tensor(x)).data
    assert got.dtype == np.float32
    assert_close(got, expected, 1e-4, 1e-4, f"{type(ours).__name__} vs torchvision")


# --- AlexNet, torchvision's variant ----------------------------------------------------------
def test_alexnet_parameter_count(tv_alexnet: nn.Module) -> None:
    assert isinstance(tv_alexnet, AlexNet)
    assert tv_alexnet.num_parameters() == 61_100_840


def test_alexnet_matches_torchvision(tv_alexnet: nn.Module) -> None:
    tv = _torchvision()
    ref = tv.models.alexnet(weights=None)
    assert_same_layout(tv_alexnet, ref)
    assert_torchvision_logits(tv_alexnet, ref, 67)


def test_alexnet_forward_backward_and_min_size(tv_alexnet: nn.Module) -> None:
    forward_backward(tv_alexnet, (2, 3, 63, 63), 1000)
    with pytest.raises(ValueError, match=r"max_pool2d: kernel_size \(3, 3\) is larger than the padded input"):
        tv_alexnet(juanji.randn(1, 3, 62, 62))


def test_alexnet_small_head_and_in_channels() -> None:
    model = alexnet(num_classes=10, in_channels=1, dropout=0.3)
    assert model.features[0].weight.shape == (64, 1, 11, 11)
    assert model.classifier[6].weight.shape == (10, 4096)
    assert model.classifier[0].p == 0.3 and model.classifier[3].p == 0.3


# --- AlexNet, the paper's variant ------------------------------------------------------------
def test_alexnet_original_parameter_count(paper_alexnet: nn.Module) -> None:
    convs = [(3, 96, 11), (96, 256, 5), (256, 384, 3), (384, 384, 3), (384, 256, 3)]
    fcs = [(9216, 4096), (4096, 4096), (4096, 1000)]
    expected = sum(o * i * k * k + o for i, o, k in convs) + sum(i * o + o for i, o in fcs)
    assert expected == 62_378_344
    assert paper_alexnet.num_parameters() == expected
    got = [tuple(m.weight.shape) for m in paper_alexnet.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert got == [(o, i, k, k) for i, o, k in convs] + [(o, i) for i, o in fcs]


def test_alexnet_original_layers(paper_alexnet: nn.Module) -> None:
    kinds = [type(m).__name__ for m in paper_alexnet.features]
    assert kinds == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d", "Conv2d", "ReLU",
                     "LocalResponseNorm", "MaxPool2d", "Conv2d", "ReLU", "Conv2d", "ReLU",
                     "Conv2d", "ReLU", "MaxPool2d"]
    pools = [m for m in paper_alexnet.features if isinstance(m, nn.MaxPool2d)]
    assert all(p.kernel_size == 3 and p.stride == 2 for p in pools)         # overlapping pools
    # Dropout on the outputs of fc1 and fc2 (section 4.2).
    assert [type(m).__name__ for m in paper_alexnet.classifier] == [
        "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    # 224x224 input: the paper's 55x55x96 first maps and 6x6x256 last maps.
    shapes = {}
    for i in (0, 14):
        paper_alexnet.features[i].register_forward_hook(
            lambda m, inp, out, i=i: shapes.__setitem__(i, tuple(out.shape[1:])))
    with juanji.no_grad():
        paper_alexnet.features(juanji.randn(1, 3, 224, 224))
    assert shapes == {0: (96, 55, 55), 14: (256, 6, 6)}
    for m in paper_alexnet.features:
        m._forward_hooks.clear()


def test_alexnet_original_lrn_is_the_papers(paper_alexnet: nn.Module) -> None:
    lrn = paper_alexnet.features[2]
    x = np.random.default_rng(1).standard_normal((2, 9, 3, 4)).astype(np.float64) * 20
    # Section 3.3: b_c = a_c / (k + alpha * sum_{j=max(0, c-n/2)}^{min(N-1, c+n/2)} a_j^2)^beta,
    # k=2, n=5, alpha=1e-4, beta=0.75 (no division by n).
    expected = np.empty_like(x)
    for c in range(9):
        window = (x[:, max(0, c - 2):min(8, c + 2) + 1] ** 2).sum(axis=1)
        expected[:, c] = x[:, c] / (2 + 1e-4 * window) ** 0.75
    assert_close(lrn(Tensor(x)).data, expected, 1e-10, 1e-10, "AlexNet LRN vs the paper's formula")


def test_alexnet_original_init(paper_alexnet: nn.Module) -> None:
    layers = [m for m in paper_alexnet.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    # Section 5: biases 1 in conv2, conv4, conv5, fc1 and fc2; 0 in conv1, conv3 and fc3.
    assert [float(m.bias.data[0]) for m in layers] == [0, 1, 0, 1, 1, 1, 1, 0]
    assert all(np.all(m.bias.data == m.bias.data[0]) for m in layers)
    w = layers[3].weight.data                                              # 1.3M draws
    assert abs(w.mean()) < 1e-4 and abs(w.std() - 0.01) < 2e-4


def test_alexnet_original_forward_backward(paper_alexnet: nn.Module) -> None:
    forward_backward(paper_alexnet, (2, 3, 63, 63), 1000)


# --- VGG ---------------------------------------------------------------------------------------
def test_vgg11_parameter_count(full_vgg11: nn.Module) -> None:
    assert full_vgg11.num_parameters() == TORCHVISION_COUNTS["vgg11"]


@pytest.mark.parametrize("name", VGG_NAMES)
def test_vgg_parameter_counts(name: str, full_vgg11: nn.Module) -> None:
    # The full 25088-wide head is the same for every depth and costs seconds to build; build
    # the convolutional stack of each depth (cheap) and add the head's count from vgg11.
    features = get_model(name, num_classes=1000, small_input=True).features
    head = count(full_vgg11.avgpool) + count(full_vgg11.classifier)
    assert head == (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert count(features) + head == TORCHVISION_COUNTS[name]


def test_vgg11_matches_torchvision(full_vgg11: nn.Module) -> None:
    tv = _torchvision()
    ref = tv.models.vgg11(weights=None)
    assert_same_layout(full_vgg11, ref)
    assert_torchvision_logits(full_vgg11, ref, 32)


def test_vgg11_bn_matches_torchvision() -> None:
    # The full head is vgg11's (checked above); the BN layers are all in ``features``, so
    # compare the convolutional stack of a cheap small-input vgg11_bn with torchvision's.
    tv = _torchvision()
    import torch

    ref = tv.models.vgg11_bn(weights=None).features
    # Random BN statistics and affine parameters, so eval mode really exercises them.
    gen = torch.Generator().manual_seed(0)
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
    ours = vgg11_bn(num_classes=10, small_input=True).features
    assert_same_layout(ours, ref)
    assert sum(1 for k in ours.state_dict() if k.endswith("running_var")) == 8
    assert_torchvision_logits(ours, ref, 32)


@pytest.mark.parametrize("name", VGG_NAMES)
def test_vgg_small_input_forward_backward(name: str) -> None:
    model = get_model(name, num_classes=10, small_input=True)
    assert isinstance(model, VGG)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    n_conv = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert n_conv == {"11": 8, "13": 10, "16": 13, "19": 16}[name[3:5]]
    assert n_bn == (n_conv if name.endswith("_bn") else 0)
    forward_backward(model, (2, 3, 32, 32), 10)


def test_vgg_small_input_head() -> None:
    model = get_model("vgg16", num_classes=10, small_input=True)
    assert model.avgpool.output_size == (1, 1)
    assert [tuple(m.weight.shape) for m in model.classifier if isinstance(m, nn.Linear)] == [
        (512, 512), (512, 512), (10, 512)]
    assert model.num_parameters() == 14_714_688 + 2 * (512 * 512 + 512) + (512 * 10 + 10)
    assert [type(m).__name__ for m in model.classifier] == [
        "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]


def test_vgg_init_is_torchvisions() -> None:
    model = get_model("vgg11_bn", num_classes=10, small_input=True)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    # kaiming_normal_(mode="fan_out", nonlinearity="relu"): std = sqrt(2 / (out * 3 * 3)).
    for conv in (convs[0], convs[-1]):
        out = conv.weight.shape[0]
        std = conv.weight.data.std()
        assert abs(std / np.sqrt(2 / (out * 9)) - 1) < 0.1, (conv, std)
        assert np.all(conv.bias.data == 0)
    bns = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
    assert all(np.all(b.weight.data == 1) and np.all(b.bias.data == 0) for b in bns)
    fc = model.classifier[0].weight.data
    assert abs(fc.std() - 0.01) < 5e-4 and np.all(model.classifier[0].bias.data == 0)


def test_vgg_batch_norm_flag_equals_bn_builder() -> None:
    a = vgg11(num_classes=10, batch_norm=True, small_input=True)
    b = vgg11_bn(num_classes=10, small_input=True)
    assert [(k, v.shape) for k, v in a.state_dict().items()] == [(k, v.shape) for k, v in b.state_dict().items()]


def test_registered_names() -> None:
    names = list_models()
    for name in ["alexnet", *VGG_NAMES]:
        assert name in names


def test_errors() -> None:
    with pytest.raises(ValueError, match="alexnet: variant must be 'torchvision' or 'original', got 'paper'"):
        alexnet(variant="paper")
    with pytest.raises(ValueError, match="alexnet: num_classes must be a positive int, got 0"):
        alexnet(num_classes=0)
    with pytest.raises(ValueError, match="vgg16: num_classes must be a positive int, got 2.0"):
        get_model("vgg16", num_classes=2.0)
    with pytest.raises(ValueError, match="vgg11_bn: in_channels must be a positive int, got 0"):
        vgg11_bn(in_channels=0)
    with pytest.raises(ValueError, match="make_vgg_layers: entries must be positive ints or 'M', got 'X'"):
        make_vgg_layers([64, "X"])
    with pytest.raises(ValueError, match=r"Dropout: dropout probability p must be in \[0, 1\], got 2"):
        alexnet(num_classes=5, dropout=2)
