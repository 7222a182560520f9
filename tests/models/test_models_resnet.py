"""Tests of juanji/models/resnet.py: torchvision's ResNets and Keras's ResNet50.

Oracles: the published parameter counts (torchvision's model cards, Keras's ``summary()``),
torchvision's own ResNets (state_dict names and shapes, and eval-mode logits after loading
the same random weights and BatchNorm statistics), and the architecture's arithmetic.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

import juanji
import juanji.nn as nn
from juanji.models import get_model, list_models
from juanji.models.resnet import (
    BasicBlock, Bottleneck, KerasBottleneck, ResNet, ResNet50Keras, resnet18, resnet50_keras,
)
from tests.helpers import assert_close
from tests.models.zoo_oracle import (  # noqa: F401  (torch_one_thread is a fixture)
    assert_same_outputs, assert_same_state_layout, calibrated_torch_weights, torch_one_thread,
)

PUBLISHED = {  # torchvision's documented parameter counts, num_classes=1000
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
    "resnet101": 44_549_160, "resnet152": 60_192_808,
}


def bn_statistics_count(model: nn.Module) -> int:
    """Number of BatchNorm moving statistics (Keras counts them as non-trainable parameters)."""
    return sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))


# --- parameter counts, forward, backward -------------------------------------------------------
@functools.lru_cache(maxsize=None)
def default_model(name: str) -> nn.Module:
    """The 1000-class model, built once per test session, for tests that only read it."""
    return get_model(name)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_matches_torchvision_and_forward_runs(name: str) -> None:
    model = default_model(name)
    assert model.num_parameters() == PUBLISHED[name]
    model.eval()
    with juanji.no_grad():
        out = model(juanji.randn(1, 3, 32, 32))  # the smallest input: 32 / 32 = 1x1 before the pool
    assert out.shape == (1, 1000)
    assert np.all(np.isfinite(out.data))


def test_keras_resnet50_parameter_count_matches_keras() -> None:
    # Keras's ResNet50(include_top=True).summary(): Total params 25,636,712 of which
    # 53,120 are the non-trainable BatchNorm moving mean/variance.
    model = default_model("resnet50_keras")
    assert model.num_parameters() == 25_583_592
    assert bn_statistics_count(model) == 53_120
    assert model.num_parameters() + bn_statistics_count(model) == 25_636_712


def test_every_builder_is_registered() -> None:
    for name in [*PUBLISHED, "resnet50_keras"]:
        assert name in list_models()


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_forward_backward_small_input(name: str) -> None:
    model = get_model(name, num_classes=7)
    x = juanji.randn(2, 3, 32, 32, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 7)
    out.sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, pname
        assert np.all(np.isfinite(p.grad.data)), pname
    assert x.grad is not None and np.abs(x.grad.data).sum() > 0


def test_feature_map_sizes_follow_the_strides() -> None:
    model = default_model("resnet50").eval()
    with juanji.no_grad():
        assert model.forward_features(juanji.randn(1, 3, 64, 96)).shape == (1, 2048, 2, 3)
        # Odd sizes: every stride-2 layer rounds up, as (n + 2p - k) // s + 1 does.
        assert model.forward_features(juanji.randn(1, 3, 33, 35)).shape == (1, 2048, 2, 2)


def test_cifar_stem() -> None:
    model = resnet18(num_classes=10, small_input=True)
    assert model.stem == "cifar" and resnet18(num_classes=10, stem="cifar").stem == "cifar"
    assert model.conv1.weight.shape == (64, 3, 3, 3)
    assert model.conv1.stride == (1, 1) and model.conv1.padding == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)
    assert model.num_parameters() == PUBLISHED["resnet18"] - 64 * 3 * (49 - 9) - 512 * 990 - 990
    x = juanji.randn(2, 3, 32, 32)
    assert model.forward_features(x).shape == (2, 512, 4, 4)  # 32 / 8: no stride in the stem
    assert model(x).shape == (2, 10)


def test_in_channels() -> None:
    model = resnet18(num_classes=4, in_channels=1)
    assert model.conv1.weight.shape == (64, 1, 7, 7)
    assert model(juanji.randn(2, 1, 32, 32)).shape == (2, 4)


def test_bottleneck_stride_sits_on_the_3x3_conv() -> None:
    model = default_model("resnet50")
    block = model.layer2[0]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2) and block.conv3.stride == (1, 1)
    assert block.downsample[0].stride == (2, 2)
    assert model.layer1[0].downsample is not None  # 64 -> 256 channels needs a projection
    assert model.layer1[1].downsample is None


# --- initialisation -----------------------------------------------------------------------------
def test_torchvision_initialisation() -> None:
    model = default_model("resnet50")
    w = model.layer4[0].conv2.weight.data  # (512, 512, 3, 3): fan_out = 512 * 9
    assert abs(w.std() / np.sqrt(2.0 / (512 * 9)) - 1) < 0.02
    assert abs(w.mean()) < 1e-3
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert np.all(m.weight.data == 1) and np.all(m.bias.data == 0)
    bound = 1 / np.sqrt(2048)  # Linear keeps PyTorch's default U(-1/sqrt(in), 1/sqrt(in))
    assert np.abs(model.fc.weight.data).max() <= bound and np.abs(model.fc.weight.data).max() > 0.9 * bound


@pytest.mark.parametrize("block_type", [BasicBlock, Bottleneck])
def test_zero_init_residual_makes_blocks_identities(block_type: type) -> None:
    model = ResNet(block_type, [1, 1, 2, 1], num_classes=10, zero_init_residual=True)
    last_bn = "bn2" if block_type is BasicBlock else "bn3"
    blocks = [m for m in model.modules() if isinstance(m, block_type)]
    assert blocks and all(np.all(getattr(b, last_bn).weight.data == 0) for b in blocks)
    block = model.layer3[1].eval()
    x = juanji.randn(2, block.conv1.in_channels, 4, 4)
    assert_close(block(x).data, np.maximum(x.data, 0), 0, 0, "block with zeroed residual")


# --- errors -------------------------------------------------------------------------------------
def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="num_classes must be a positive int, got 0"):
        resnet18(num_classes=0)
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        resnet18(in_channels=2.5)
    with pytest.raises(ValueError, match="stem must be one of"):
        resnet18(stem="tiny")
    with pytest.raises(ValueError, match="small_input=True asks for the 'cifar' stem"):
        resnet18(small_input=True, stem="imagenet")
    with pytest.raises(ValueError, match="layers must list 4 stage depths"):
        ResNet(BasicBlock, [2, 2, 2])
    with pytest.raises(ValueError, match="only groups=1 and base_width=64"):
        BasicBlock(64, 64, groups=2)
    model = resnet18(num_classes=3)
    with pytest.raises(ValueError, match=r"ResNet: expected input of shape \(N, 3, H, W\), got \(2, 1, 32, 32\)"):
        model(juanji.randn(2, 1, 32, 32))
    with pytest.raises(TypeError, match="input must be a juanji.Tensor"):
        model(np.zeros((2, 3, 32, 32), dtype=np.float32))


# --- torchvision --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_state_dict_and_logits_equal_torchvision(name: str, torch_one_thread: Any) -> None:
    """Same state_dict names and shapes, and the same eval logits from the same weights."""
    torch = torch_one_thread
    torchvision = pytest.importorskip("torchvision", reason="torchvision is the oracle for the model zoo")
    torch.manual_seed(0)
    tv_model = getattr(torchvision.models, name)(weights=None)
    ours = get_model(name)
    assert_same_state_layout(ours, tv_model)
    batch = np.random.default_rng(1).standard_normal((16, 3, 40, 56)).astype(np.float32)
    ours.load_state_dict(calibrated_torch_weights(torch, tv_model, batch))
    ours.eval()
    assert_same_outputs(torch, ours, tv_model, batch[:2], f"{name} logits")


# --- Keras ResNet50 -----------------------------------------------------------------------------
def test_keras_resnet50_names_and_structure() -> None:
    model = resnet50_keras(num_classes=10)
    keys = model.state_dict()
    for key in ["conv1_conv.weight", "conv1_conv.bias", "conv1_bn.running_var", "conv2_block1.0_conv.weight",
                "conv2_block3.3_bn.bias", "conv4_block6.2_conv.weight", "conv5_block3.3_conv.bias",
                "predictions.weight"]:
        assert key in keys, key
    assert "conv2_block2.0_conv.weight" not in keys  # identity shortcut after the first block
    blocks = [name for name, m in model.named_children() if isinstance(m, KerasBottleneck)]
    assert len(blocks) == 16 and blocks[0] == "conv2_block1" and blocks[-1] == "conv5_block3"
    first = dict(model.conv3_block1.named_children())
    # v1, as Keras: the stride is on the first 1x1 conv and the shortcut, not the 3x3.
    assert first["1_conv"].stride == (2, 2) and first["2_conv"].stride == (1, 1)
    assert first["0_conv"].stride == (2, 2) and first["0_conv"].weight.shape == (512, 256, 1, 1)
    assert dict(model.conv2_block1.named_children())["1_conv"].stride == (1, 1)
    assert first["1_bn"].eps == 1.001e-5


def test_keras_resnet50_forward_backward() -> None:
    model = ResNet50Keras(num_classes=6)
    x = juanji.randn(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, 6)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_keras_bottleneck_against_numpy() -> None:
    """A KerasBottleneck in eval mode against the same computation written with numpy."""
    block = KerasBottleneck(8, 4, stride=2, conv_shortcut=True).eval()
    rng = np.random.default_rng(3)
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.data[...] = rng.standard_normal(m.num_features)
            m.running_var.data[...] = rng.uniform(0.5, 2, m.num_features)
    x = rng.standard_normal((2, 8, 7, 6)).astype(np.float32)
    layers = dict(block.named_children())

    def conv(a: np.ndarray, name: str, stride: int = 1, pad: int = 0) -> np.ndarray:
        w, b = layers[name].weight.data, layers[name].bias.data
        a = np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        k = w.shape[2]
        oh, ow = (a.shape[2] - k) // stride + 1, (a.shape[3] - k) // stride + 1
        out = np.zeros((a.shape[0], w.shape[0], oh, ow))
        for i in range(oh):
            for j in range(ow):
                patch = a[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
                out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w) + b
        return out

    def bn(a: np.ndarray, name: str) -> np.ndarray:
        m = layers[name]
        shape = (1, -1, 1, 1)
        return ((a - m.running_mean.data.reshape(shape)) / np.sqrt(m.running_var.data.reshape(shape) + m.eps)
                * m.weight.data.reshape(shape) + m.bias.data.reshape(shape))

    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    h = relu(bn(conv(x, "1_conv", stride=2), "1_bn"))
    h = relu(bn(conv(h, "2_conv", pad=1), "2_bn"))
    h = bn(conv(h, "3_conv"), "3_bn")
    expected = relu(h + bn(conv(x, "0_conv", stride=2), "0_bn"))
    with juanji.no_grad():
        got = block(juanji.tensor(x)).data
    assert got.shape == (2, 16, 4, 3)
    assert_close(got, expected, 1e-4, 1e-5, "KerasBottleneck vs numpy")


def test_keras_bottleneck_identity_shortcut_needs_matching_shape() -> None:
    with pytest.raises(ValueError, match="an identity shortcut needs stride 1 and in_channels == 4 \\* filters"):
        KerasBottleneck(64, 64, conv_shortcut=False)
