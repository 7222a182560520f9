"""Tests of juanji/models/xception.py and juanji/models/senet.py.

Oracles: Keras's published Xception parameter count, the parameter arithmetic of
SE-ResNet-50 (derived here from the block widths, independently of the code), naive numpy
computations of SeparableConv2d and SEBlock, float64 finite differences for SEBlock's
backward, and PyTorch's depthwise conv for SeparableConv2d.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import juanji
import juanji.nn as nn
from juanji.models import get_model, list_models
from juanji.models.resnet import Bottleneck, resnet50
from juanji.models.senet import SEBlock, SEBottleneck, se_resnet50
from juanji.models.xception import SeparableConv2d, Xception, XceptionBlock, xception
from tests.helpers import assert_close, check_gradcheck, torch_or_skip


@pytest.fixture
def torch_one_thread() -> Any:
    """torch on one thread (its thread pool spins far longer than these tiny ops take), restored after."""
    torch = torch_or_skip()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(before)


def bn_statistics_count(model: nn.Module) -> int:
    return sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))


def naive_conv2d(x: np.ndarray, w: np.ndarray, pad: int = 0, groups: int = 1) -> np.ndarray:
    """Textbook loops: out[n, o, i, j] = sum_c,p,q x[n, g*C/G + c, i + p, j + q] * w[o, c, p, q]."""
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    out = np.zeros((n, o, h - kh + 1, wd - kw + 1))
    for oc in range(o):
        g = oc // og
        for i in range(h - kh + 1):
            for j in range(wd - kw + 1):
                patch = x[:, g * cg:(g + 1) * cg, i:i + kh, j:j + kw]
                out[:, oc, i, j] = np.sum(patch * w[oc], axis=(1, 2, 3))
    return out


# --- Xception -----------------------------------------------------------------------------------
def test_xception_parameter_count_matches_keras() -> None:
    # Keras's Xception(include_top=True).summary(): Total params 22,910,480, of which
    # 54,528 are BatchNorm moving statistics (non-trainable).
    model = xception()
    assert model.num_parameters() == 22_855_952
    assert bn_statistics_count(model) == 54_528
    assert model.num_parameters() + bn_statistics_count(model) == 22_910_480
    assert "xception" in list_models() and "se_resnet50" in list_models()


def test_xception_forward_backward_at_minimum_size() -> None:
    model = xception(num_classes=5)
    x = juanji.randn(2, 3, 71, 71, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 5)
    out.sum().backward()
    assert x.grad is not None and np.abs(x.grad.data).sum() > 0
    assert all(p.grad is not None for p in model.parameters())


def test_xception_flow_shapes() -> None:
    """Entry/middle/exit sizes at 299x299 (the paper's 19x19x728 middle flow, 10x10x2048 exit)."""
    model = Xception(num_classes=3).eval()
    shapes = {}
    for name in ["block1_conv2", "block2", "block4", "block12", "block13", "block14_sepconv2"]:
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, o.shape))
    with juanji.no_grad():
        out = model(juanji.randn(1, 3, 299, 299))
    assert out.shape == (1, 3)
    assert shapes == {"block1_conv2": (1, 64, 147, 147), "block2": (1, 128, 74, 74), "block4": (1, 728, 19, 19),
                      "block12": (1, 728, 19, 19), "block13": (1, 1024, 10, 10),
                      "block14_sepconv2": (1, 2048, 10, 10)}


def test_xception_keras_names() -> None:
    keys = xception(num_classes=2).state_dict()
    for key in ["block1_conv1.weight", "block1_conv1_bn.running_var", "block2.sepconv1.depthwise.weight",
                "block2.sepconv2.pointwise.weight", "block2.residual.weight", "block7.sepconv3_bn.bias",
                "block13.residual_bn.weight", "block14_sepconv2.pointwise.weight", "predictions.bias"]:
        assert key in keys, key
    assert "block1_conv1.bias" not in keys and "block2.sepconv1.pointwise.bias" not in keys
    assert "block5.residual.weight" not in keys  # middle-flow blocks have identity shortcuts
    assert keys["block2.sepconv1.depthwise.weight"].shape == (64, 1, 3, 3)
    assert keys["block13.sepconv2.pointwise.weight"].shape == (1024, 728, 1, 1)


def test_separable_conv_against_naive_loops() -> None:
    layer = SeparableConv2d(4, 6, 3, padding=1, bias=True).double()
    layer.pointwise.bias.data[...] = np.arange(6) * 0.1
    assert layer.num_parameters() == 4 * 9 + 4 * 6 + 6
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 7))
    depthwise = naive_conv2d(x, layer.depthwise.weight.data, pad=1, groups=4)
    expected = naive_conv2d(depthwise, layer.pointwise.weight.data) + layer.pointwise.bias.data.reshape(1, 6, 1, 1)
    assert_close(layer(juanji.tensor(x)).data, expected, 1e-10, 1e-10, "SeparableConv2d vs naive loops")


def test_separable_conv_against_torch(torch_one_thread: Any) -> None:
    torch = torch_one_thread
    layer = SeparableConv2d(6, 5, 3, stride=2, padding=1)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 9, 8)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    dw = torch.tensor(layer.depthwise.weight.data, requires_grad=True)
    pw = torch.tensor(layer.pointwise.weight.data, requires_grad=True)
    expected = torch.nn.functional.conv2d(torch.nn.functional.conv2d(tx, dw, stride=2, padding=1, groups=6), pw)
    jx = juanji.tensor(x, requires_grad=True)
    out = layer(jx)
    assert_close(out.data, expected.detach().numpy(), 1e-5, 1e-5, "SeparableConv2d vs torch")
    cot = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(cot)
    expected.backward(torch.tensor(cot))
    assert_close(jx.grad.data, tx.grad.numpy(), 1e-4, 1e-5, "input gradient")
    assert_close(layer.depthwise.weight.grad.data, dw.grad.numpy(), 1e-4, 1e-5, "depthwise gradient")
    assert_close(layer.pointwise.weight.grad.data, pw.grad.numpy(), 1e-4, 1e-5, "pointwise gradient")


@pytest.mark.parametrize("size, expected", [(9, 5), (8, 4)])
def test_xception_block_downsamples_like_tensorflow_same(size: int, expected: int) -> None:
    block = XceptionBlock(8, (16, 16), downsample=True)
    assert block(juanji.randn(2, 8, size, size + 1)).shape == (2, 16, expected, (size + 2) // 2)


def test_xception_errors() -> None:
    with pytest.raises(ValueError, match="an identity shortcut needs channels\\[-1\\] == in_channels"):
        XceptionBlock(728, (728, 1024))
    with pytest.raises(ValueError, match=r"Xception: input must be at least 71x71, got shape \(1, 3, 70, 90\)"):
        xception(num_classes=2)(juanji.randn(1, 3, 70, 90))
    with pytest.raises(ValueError, match="Xception: num_classes must be a positive int"):
        Xception(num_classes=0)


# --- SEBlock ------------------------------------------------------------------------------------
def naive_se(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Hu et al.'s equations, one image and one channel at a time."""
    n, c, h, w = x.shape
    out = np.empty_like(x)
    for i in range(n):
        z = np.array([x[i, ch].sum() / (h * w) for ch in range(c)])  # squeeze
        hidden = np.maximum(w1 @ z + b1, 0)
        s = 1 / (1 + np.exp(-(w2 @ hidden + b2)))  # excitation
        for ch in range(c):
            out[i, ch] = x[i, ch] * s[ch]  # scale
    return out


def test_se_block_against_naive_numpy() -> None:
    se = SEBlock(32, reduction=8).double()
    assert se.fc1.weight.shape == (4, 32) and se.fc2.weight.shape == (32, 4)
    x = np.random.default_rng(2).standard_normal((3, 32, 5, 4))
    expected = naive_se(x, se.fc1.weight.data, se.fc1.bias.data, se.fc2.weight.data, se.fc2.bias.data)
    assert_close(se(juanji.tensor(x)).data, expected, 1e-10, 1e-12, "SEBlock vs naive numpy")


def test_se_block_gradients_against_finite_differences() -> None:
    se = SEBlock(8, reduction=4).double()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 8, 3, 2))
    check_gradcheck(lambda t: se(t), [x])  # gradient of the input, through both paths of x

    # Parameter gradients: backward of L = sum(se(x) * R) against central differences.
    r = rng.standard_normal(x.shape)
    se.zero_grad()
    (se(juanji.tensor(x)) * juanji.tensor(r)).sum().backward()
    for p in [se.fc1.weight, se.fc1.bias, se.fc2.weight, se.fc2.bias]:
        numeric = np.zeros(p.shape)
        for idx in np.ndindex(p.shape):
            old = p.data[idx]
            p.data[idx] = old + 1e-6
            plus = float((se(juanji.tensor(x)).data * r).sum())
            p.data[idx] = old - 1e-6
            minus = float((se(juanji.tensor(x)).data * r).sum())
            p.data[idx] = old
            numeric[idx] = (plus - minus) / 2e-6
        assert_close(p.grad.data, numeric, 1e-5, 1e-7, f"SEBlock parameter gradient {p.shape}")


def test_se_block_errors() -> None:
    with pytest.raises(ValueError, match=r"SEBlock: expected input of shape \(N, 16, H, W\), got \(2, 8, 3, 3\)"):
        SEBlock(16)(juanji.randn(2, 8, 3, 3))
    with pytest.raises(ValueError, match="SEBlock: reduction must be a positive int"):
        SEBlock(16, reduction=0)
    assert SEBlock(8, reduction=16).fc1.out_features == 1  # never an empty hidden layer


# --- SE-ResNet-50 -------------------------------------------------------------------------------
def test_se_resnet50_parameter_count() -> None:
    # ResNet-50 (25,557,032) plus, per Bottleneck with C output channels and r = 16,
    # fc1 (C/r x C + C/r) and fc2 (C x C/r + C).
    se_params = sum(blocks * (2 * c * (c // 16) + c // 16 + c)
                    for c, blocks in [(256, 3), (512, 4), (1024, 6), (2048, 3)])
    assert se_params == 2_530_992
    model = se_resnet50()
    assert model.num_parameters() == 25_557_032 + se_params == 28_088_024
    expected_keys = set(resnet50().state_dict())
    se_keys = {k for k in model.state_dict() if ".se." in k}
    assert set(model.state_dict()) - se_keys == expected_keys
    assert "layer4.2.se.fc2.weight" in se_keys and len(se_keys) == 16 * 4


def test_se_resnet50_forward_backward() -> None:
    model = get_model("se_resnet50", num_classes=6)
    out = model(juanji.randn(2, 3, 32, 32))
    assert out.shape == (2, 6)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert np.abs(model.layer3[2].se.fc1.weight.grad.data).sum() > 0


def test_se_sits_on_the_residual_branch_before_the_addition() -> None:
    """Gate closed (s = 0): the block is relu(shortcut); gate open (s = 1): a plain Bottleneck."""
    block = SEBottleneck(64, 16).eval()
    plain = Bottleneck(64, 16).eval()
    plain.load_state_dict({k: v for k, v in block.state_dict().items() if ".se." not in k and not k.startswith("se.")})
    x = juanji.randn(2, 64, 5, 5)
    block.se.fc2.weight.data[...] = 0
    block.se.fc2.bias.data[...] = -100.0
    assert_close(block(x).data, np.maximum(x.data, 0), 0, 1e-6, "closed SE gate")
    block.se.fc2.bias.data[...] = 100.0
    assert_close(block(x).data, plain(x).data, 1e-6, 1e-6, "open SE gate")
    block.se.fc2.bias.data[...] = 0.0  # s = 1/2: the residual is halved before the addition
    half = np.maximum(0.5 * plain.residual(x).data + x.data, 0)
    assert_close(block(x).data, half, 1e-5, 1e-6, "half-open SE gate")


def test_se_resnet50_small_input_stem() -> None:
    model = se_resnet50(num_classes=10, small_input=True)
    assert model.conv1.weight.shape == (64, 3, 3, 3)
    with juanji.no_grad():
        assert model.eval()(juanji.randn(1, 3, 32, 32)).shape == (1, 10)
