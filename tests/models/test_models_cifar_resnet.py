"""Tests of juanji/models/cifar_resnet.py: He et al. (2016)'s CIFAR ResNets, section 4.2.

Oracles: the paper's parameter counts (Table 6: 0.27 M ... 1.7 M, exact figures derived by
hand below), the same network built in PyTorch as Yerlan Idelbayev's pytorch_resnet_cifar10
defines it (option A: ``F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))``)
but with torchvision's module names, compared in eval and in train mode (logits, every
gradient, the updated BatchNorm statistics); the option A shortcut against its definition
written as loops; and float64 numerical gradients of the shortcut and of a whole tiny net.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

import juanji
import juanji.nn as nn
from juanji.models import CifarResNet, PadShortcut, get_model, list_models, resnet20
from tests.helpers import assert_close, check_gradcheck, check_naive, check_torch
from tests.models.zoo_oracle import (  # noqa: F401  (torch_one_thread is a fixture)
    assert_same_outputs, assert_same_state_layout, calibrated_torch_weights, torch_one_thread,
)

DEPTHS = {"resnet20": 20, "resnet32": 32, "resnet44": 44, "resnet56": 56, "resnet110": 110}

# Exact counts with option A, 10 classes, 3 input channels. With n blocks per stage:
#   conv1 3*16*9 = 432, bn1 2*16 = 32                                         ->     464
#   layer1: n blocks of 2 * (16*16*9 + 2*16) = 4,672                          -> 4,672 n
#   layer2: first block 16*32*9 + 32*32*9 + 2*2*32 = 13,952 (option A: the
#           shortcut has no parameters), then n-1 blocks of 2*(32*32*9 + 64) = 18,560
#   layer3: first block 32*64*9 + 64*64*9 + 2*2*64 = 55,552, then n-1 of 2*(64*64*9 + 128) = 73,984
#   fc 64*10 + 10 = 650
#   total = 464 + 4,672 n + 13,952 + 18,560 (n-1) + 55,552 + 73,984 (n-1) + 650
#         = 97,216 n - 21,926:  n = 3, 5, 7, 9, 18 give the figures below.
OPTION_A_COUNTS = {"resnet20": 269_722, "resnet32": 464_154, "resnet44": 658_586, "resnet56": 853_018,
                   "resnet110": 1_727_962}
PAPER_MILLIONS = {"resnet20": 0.27, "resnet32": 0.46, "resnet44": 0.66, "resnet56": 0.85, "resnet110": 1.7}
# Option B adds two projections (1x1 conv without bias + BatchNorm), whatever the depth:
# layer2.0: 16*32 + 2*32 = 576; layer3.0: 32*64 + 2*64 = 2,176; together 2,752.
OPTION_B_EXTRA = 2_752
# in_channels=1: conv1 is 16*1*9 = 144 instead of 16*3*9 = 432.
GRAYSCALE_SAVING = 288


@functools.lru_cache(maxsize=None)
def default_model(name: str) -> nn.Module:
    """The 10-class option A model, built once per test session, for tests that only read it."""
    return get_model(name)


# --- parameter counts and structure --------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(DEPTHS))
def test_parameter_count_matches_the_paper(name: str) -> None:
    count = default_model(name).num_parameters()
    assert count == OPTION_A_COUNTS[name]
    assert count == 97_216 * ((DEPTHS[name] - 2) // 6) - 21_926
    digits = 1 if name == "resnet110" else 2  # the paper's Table 6 writes 1.7 M, the others to 0.01 M
    assert round(count / 1e6, digits) == PAPER_MILLIONS[name]


@pytest.mark.parametrize("name", ["resnet20", "resnet110"])
def test_option_b_and_grayscale_parameter_counts(name: str) -> None:
    assert get_model(name, shortcut="B").num_parameters() == OPTION_A_COUNTS[name] + OPTION_B_EXTRA
    gray = get_model(name, in_channels=1)
    assert gray.conv1.weight.shape == (16, 1, 3, 3)
    assert gray.num_parameters() == OPTION_A_COUNTS[name] - GRAYSCALE_SAVING
    # Only conv1 differs: every other parameter has the 3-channel model's shape.
    rgb = default_model(name).state_dict()
    diff = [k for k, v in gray.state_dict().items() if v.shape != rgb[k].shape]
    assert diff == ["conv1.weight"] and list(gray.state_dict()) == list(rgb)
    # 100 classes (CIFAR-100): fc 64*100 + 100 = 6,500 instead of 650.
    assert get_model(name, num_classes=100).num_parameters() == OPTION_A_COUNTS[name] + 5_850


def test_every_builder_is_registered() -> None:
    assert set(DEPTHS) <= set(list_models())
    for name, depth in DEPTHS.items():
        model = default_model(name)
        assert isinstance(model, CifarResNet) and model.depth == depth and model.shortcut == "A"


@pytest.mark.parametrize("name", sorted(DEPTHS))
@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_structure_counts_6n_plus_2_weighted_layers(name: str, shortcut: str) -> None:
    model = default_model(name) if shortcut == "A" else get_model(name, shortcut="B")
    n = (DEPTHS[name] - 2) // 6
    assert [len(model.layer1), len(model.layer2), len(model.layer3)] == [n, n, n]
    convs3x3 = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs3x3) + 1 == DEPTHS[name]  # + the fc: the paper's 6n + 2 (projections not counted)
    for stage, stride in [(model.layer1, 1), (model.layer2, 2), (model.layer3, 2)]:
        assert stage[0].conv1.stride == (stride, stride)
        assert all(block.conv1.stride == (1, 1) and block.downsample is None for block in list(stage)[1:])
    assert model.layer1[0].downsample is None  # 16 -> 16 channels, stride 1: the plain identity
    for stage, (cin, cout) in [(model.layer2, (16, 32)), (model.layer3, (32, 64))]:
        down = stage[0].downsample
        if shortcut == "A":
            assert isinstance(down, PadShortcut)
            assert (down.in_channels, down.out_channels, down.stride) == (cin, cout, 2)
        else:
            assert down[0].weight.shape == (cout, cin, 1, 1) and down[0].stride == (2, 2) and down[0].bias is None
            assert isinstance(down[1], nn.BatchNorm2d) and down[1].num_features == cout


def test_state_dict_uses_torchvision_names() -> None:
    keys = list(get_model("resnet20", shortcut="B").state_dict())
    for key in ["conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                "layer3.0.downsample.1.running_mean", "layer3.2.bn2.bias", "fc.weight", "fc.bias"]:
        assert key in keys, key
    assert not any("downsample" in k for k in default_model("resnet20").state_dict())  # option A: none


def test_feature_map_sizes() -> None:
    model = default_model("resnet20").eval()
    with juanji.no_grad():
        assert model.forward_features(juanji.randn(1, 3, 32, 32)).shape == (1, 64, 8, 8)
        assert model.forward_features(juanji.randn(1, 3, 33, 30)).shape == (1, 64, 9, 8)  # 33 -> 17 -> 9
        assert model(juanji.randn(2, 3, 32, 32)).shape == (2, 10)
    gray = resnet20(num_classes=4, in_channels=1).eval()
    with juanji.no_grad():
        assert gray.forward_features(juanji.randn(1, 1, 28, 28)).shape == (1, 64, 7, 7)
        assert gray(juanji.randn(2, 1, 28, 28)).shape == (2, 4)


def test_initialisation() -> None:
    model = default_model("resnet110")
    # The 3x3 64 -> 64 convs of layer3 together (2 * 18 - 1 of them): fan_out = 64 * 9.
    w = np.concatenate([m.weight.data.ravel() for m in model.layer3.modules()
                        if isinstance(m, nn.Conv2d) and m.weight.shape == (64, 64, 3, 3)])
    assert abs(w.std() / np.sqrt(2.0 / (64 * 9)) - 1) < 0.01 and abs(w.mean()) < 1e-3
    w1 = model.layer2[0].conv1.weight.data  # 16 -> 32: fan_out = 32 * 9 (fan_in would be 16 * 9)
    assert abs(w1.std() / np.sqrt(2.0 / (32 * 9)) - 1) < 0.05
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert np.all(m.weight.data == 1) and np.all(m.bias.data == 0)
    bound = 1 / np.sqrt(64)
    assert np.abs(model.fc.weight.data).max() <= bound and np.abs(model.fc.weight.data).max() > 0.9 * bound


# --- errors ---------------------------------------------------------------------------------------
def test_bad_arguments_raise_clear_errors() -> None:
    for depth in [21, 15, 2]:
        with pytest.raises(ValueError, match=rf"CifarResNet: depth must be 6n \+ 2 .*got {depth}$"):
            CifarResNet(depth)
    with pytest.raises(ValueError, match="CifarResNet: depth must be a positive int, got 0"):
        CifarResNet(0)
    with pytest.raises(ValueError, match="CifarResNet: depth must be a positive int, got '20'"):
        CifarResNet("20")
    with pytest.raises(ValueError, match="CifarResNet: shortcut must be 'A' .* or 'B' .*got 'C'"):
        CifarResNet(20, shortcut="C")
    with pytest.raises(ValueError, match="CifarResNet: shortcut must be .*got 'a'"):
        resnet20(shortcut="a")
    with pytest.raises(ValueError, match=r"CifarResNet: widths must not decrease .*got \(16, 8, 64\)"):
        CifarResNet(20, widths=(16, 8, 64))
    with pytest.raises(ValueError, match=r"CifarResNet: widths must list 3 stage widths, got \(16, 32\)"):
        CifarResNet(20, widths=(16, 32))
    with pytest.raises(ValueError, match="CifarResNet: every entry of widths must be a positive int, got 0"):
        CifarResNet(20, widths=(16, 0, 64))
    with pytest.raises(ValueError, match="CifarResNet: num_classes must be a positive int, got 0"):
        resnet20(num_classes=0)
    with pytest.raises(ValueError, match="CifarResNet: in_channels must be a positive int, got 2.5"):
        resnet20(in_channels=2.5)


def test_wrong_input_raises_clear_errors() -> None:
    model = resnet20(in_channels=1)
    with pytest.raises(ValueError, match=r"CifarResNet: expected input of shape \(N, 1, H, W\), got \(2, 3, 32, 32\)"):
        model(juanji.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"CifarResNet: expected input of shape \(N, 1, H, W\), got \(1, 28, 28\)"):
        model(juanji.randn(1, 28, 28))
    with pytest.raises(TypeError, match="CifarResNet: input must be a juanji.Tensor, got ndarray"):
        model(np.zeros((2, 1, 28, 28), dtype=np.float32))


# --- PadShortcut ------------------------------------------------------------------------------------
def naive_pad_shortcut(x: np.ndarray, out_channels: int, stride: int) -> np.ndarray:
    """out[n, c, i, j] = x[n, c - before, i * stride, j * stride] where that channel exists, else 0."""
    n, cin, h, w = x.shape
    before = (out_channels - cin) // 2
    oh, ow = len(range(0, h, stride)), len(range(0, w, stride))
    out = np.zeros((n, out_channels, oh, ow), dtype=x.dtype)
    for c in range(out_channels):
        if not 0 <= c - before < cin:
            continue
        for i in range(oh):
            for j in range(ow):
                out[:, c, i, j] = x[:, c - before, i * stride, j * stride]
    return out


def naive_pad_shortcut_backward(cot: np.ndarray, x: np.ndarray, out_channels: int, stride: int) -> list[np.ndarray]:
    """dx[n, c, i * stride, j * stride] = cot[n, c + before, i, j]; every other pixel of x gets 0."""
    dx = np.zeros_like(x)
    before = (out_channels - x.shape[1]) // 2
    for c in range(x.shape[1]):
        for i in range(cot.shape[2]):
            for j in range(cot.shape[3]):
                dx[:, c, i * stride, j * stride] = cot[:, c + before, i, j]
    return [dx]


# (in, out, stride, H, W, expected output H, W): the paper's two cases, odd sizes, an odd channel
# difference (2 before, 3 after), stride 1 with extra channels, a pure subsample, the identity.
PAD_CASES = [(16, 32, 2, 8, 8, 4, 4), (32, 64, 2, 7, 7, 4, 4), (3, 8, 1, 5, 6, 5, 6), (5, 12, 3, 7, 8, 3, 3),
             (4, 4, 2, 5, 4, 3, 2), (4, 4, 1, 3, 3, 3, 3)]


@pytest.mark.parametrize("cin,cout,stride,h,w,oh,ow", PAD_CASES)
def test_pad_shortcut_against_loops(cin: int, cout: int, stride: int, h: int, w: int, oh: int, ow: int) -> None:
    layer = PadShortcut(cin, cout, stride)
    assert layer.num_parameters() == 0
    x = np.random.default_rng(cin * cout + stride).standard_normal((2, cin, h, w))
    out = layer(juanji.tensor(x))
    assert out.shape == (2, cout, oh, ow)
    check_naive(lambda t: layer(t), lambda a: naive_pad_shortcut(a, cout, stride), [x],
                naive_backward=lambda cot, a: naive_pad_shortcut_backward(cot, a, cout, stride),
                what=f"PadShortcut({cin}, {cout}, {stride})")
    out32 = layer(juanji.tensor(x.astype(np.float32)))
    assert out32.dtype == np.float32


@pytest.mark.parametrize("cin,cout,stride,h,w", [(16, 32, 2, 7, 7), (3, 8, 1, 4, 5)])
def test_pad_shortcut_against_idelbayev_lambda(cin: int, cout: int, stride: int, h: int, w: int,
                                                torch_one_thread: Any) -> None:
    torch = torch_one_thread
    before = (cout - cin) // 2  # Idelbayev's planes // 4 when cout = 2 cin

    def lambda_layer(t: Any) -> Any:
        return torch.nn.functional.pad(t[:, :, ::stride, ::stride], (0, 0, 0, 0, before, cout - cin - before))

    x = np.random.default_rng(5).standard_normal((3, cin, h, w)).astype(np.float32)
    check_torch(lambda t: PadShortcut(cin, cout, stride)(t), lambda_layer, [x], what="PadShortcut")


def test_pad_shortcut_gradcheck() -> None:
    x = np.random.default_rng(4).standard_normal((2, 3, 7, 5))
    check_gradcheck(lambda t: PadShortcut(3, 8, 2)(t), [x])
    check_gradcheck(lambda t: PadShortcut(3, 4, 1)(t), [x])


def test_pad_shortcut_errors_and_repr() -> None:
    with pytest.raises(ValueError, match=r"PadShortcut: out_channels \(16\) must be at least in_channels \(32\)"):
        PadShortcut(32, 16)
    with pytest.raises(ValueError, match="PadShortcut: stride must be a positive int, got 0"):
        PadShortcut(16, 32, 0)
    with pytest.raises(ValueError, match="PadShortcut: in_channels must be a positive int, got -1"):
        PadShortcut(-1, 32)
    assert repr(PadShortcut(16, 32, 2)) == "PadShortcut(16, 32, stride=2)"


# --- the same net in PyTorch (Idelbayev's definition, torchvision's names) -------------------------
def idelbayev_resnet(torch: Any, depth: int, num_classes: int, in_channels: int, option: str) -> Any:
    """pytorch_resnet_cifar10's resnet.py, renamed as torchvision names its ResNets.

    Renamed: ``shortcut`` -> ``downsample`` and ``linear`` -> ``fc`` (and the blocks registered
    in torchvision's order), so the state_dict loads into juanji as it is. Its init
    (kaiming_normal_ fan_in on convs and the fc) is kept; the weights are copied anyway.
    """
    tnn, TF = torch.nn, torch.nn.functional

    class LambdaLayer(tnn.Module):
        def __init__(self, fn: Any) -> None:
            super().__init__()
            self.fn = fn

        def forward(self, x: Any) -> Any:
            return self.fn(x)

    class BasicBlock(tnn.Module):
        def __init__(self, in_planes: int, planes: int, stride: int) -> None:
            super().__init__()
            self.conv1 = tnn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.conv2 = tnn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.downsample = tnn.Sequential()
            if stride != 1 or in_planes != planes:
                if option == "A":
                    self.downsample = LambdaLayer(lambda x: TF.pad(
                        x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4), "constant", 0))
                else:
                    self.downsample = tnn.Sequential(tnn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                                     tnn.BatchNorm2d(planes))

        def forward(self, x: Any) -> Any:
            out = TF.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out = out + self.downsample(x)
            return TF.relu(out)

    class ResNet(tnn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.in_planes = 16
            self.conv1 = tnn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
            self.bn1 = tnn.BatchNorm2d(16)
            self.layer1 = self._make_layer(16, n, 1)
            self.layer2 = self._make_layer(32, n, 2)
            self.layer3 = self._make_layer(64, n, 2)
            self.fc = tnn.Linear(64, num_classes)
            for m in self.modules():
                if isinstance(m, (tnn.Linear, tnn.Conv2d)):
                    tnn.init.kaiming_normal_(m.weight)

        def _make_layer(self, planes: int, num_blocks: int, stride: int) -> Any:
            layers = []
            for s in [stride] + [1] * (num_blocks - 1):
                layers.append(BasicBlock(self.in_planes, planes, s))
                self.in_planes = planes
            return tnn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            out = TF.relu(self.bn1(self.conv1(x)))
            out = self.layer3(self.layer2(self.layer1(out)))
            out = TF.avg_pool2d(out, out.size()[3])
            return self.fc(out.view(out.size(0), -1))

    return ResNet((depth - 2) // 6)


# (name, input (C, H, W), shortcut)
TORCH_CASES = [("resnet20", (1, 28, 28), "A"), ("resnet20", (3, 32, 32), "A"), ("resnet20", (3, 32, 32), "B")]


def _case_id(case: tuple) -> str:
    name, (c, h, w), shortcut = case
    return f"{name}-{c}x{h}x{w}-{shortcut}"


def _loaded_pair(torch: Any, name: str, shape: tuple, shortcut: str, batch: np.ndarray) -> tuple[Any, nn.Module]:
    torch.manual_seed(0)
    theirs = idelbayev_resnet(torch, DEPTHS[name], 10, shape[0], shortcut)
    ours = get_model(name, in_channels=shape[0], shortcut=shortcut)
    assert_same_state_layout(ours, theirs)
    ours.load_state_dict(calibrated_torch_weights(torch, theirs, batch))
    return theirs, ours


@pytest.mark.parametrize("name", sorted(DEPTHS))
def test_state_layout_equals_idelbayev_renamed(name: str, torch_one_thread: Any) -> None:
    """Names and shapes for every depth (and so the parameter counts of an independent definition)."""
    theirs = idelbayev_resnet(torch_one_thread, DEPTHS[name], 10, 3, "A")
    assert_same_state_layout(default_model(name), theirs)
    assert sum(p.numel() for p in theirs.parameters()) == OPTION_A_COUNTS[name]


@pytest.mark.parametrize("case", TORCH_CASES, ids=_case_id)
def test_eval_logits_equal_idelbayev(case: tuple, torch_one_thread: Any) -> None:
    torch = torch_one_thread
    name, shape, shortcut = case
    batch = np.random.default_rng(1).standard_normal((8, *shape)).astype(np.float32)
    theirs, ours = _loaded_pair(torch, name, shape, shortcut, batch)
    ours.eval()
    assert_same_outputs(torch, ours, theirs, batch[:3], f"{_case_id(case)} eval logits")


def _train_step(torch: Any, ours: nn.Module, theirs: Any, x: np.ndarray, cot: np.ndarray) -> tuple[dict, dict]:
    """One training-mode forward (batch statistics) and backward of sum(logits * cot), both sides.

    Returns {what: array} for juanji and torch: the logits, the input's gradient, every
    parameter's gradient and every BatchNorm buffer after the step.
    """
    ours.train().zero_grad()
    theirs.train().zero_grad()
    jx = juanji.tensor(x, requires_grad=True)
    out = ours(jx)
    out.backward(cot)
    tx = torch.tensor(x, requires_grad=True)
    tout = theirs(tx)
    tout.backward(torch.from_numpy(cot))
    got = {"logits": out.data, "input gradient": jx.grad.data}
    expected = {"logits": tout.detach().numpy(), "input gradient": tx.grad.numpy()}
    for pname, p in ours.named_parameters():
        got[f"gradient of {pname}"] = p.grad.data
    for pname, p in theirs.named_parameters():
        expected[f"gradient of {pname}"] = p.grad.numpy()
    for bname, b in ours.named_buffers():
        got[bname] = b.data
    for bname, b in theirs.named_buffers():
        expected[bname] = b.numpy()
    assert list(got) == list(expected)
    # Copies: the buffers are the models' own arrays, which the next load_state_dict overwrites.
    return {k: np.array(v) for k, v in got.items()}, {k: np.array(v) for k, v in expected.items()}


@pytest.mark.parametrize("case", TORCH_CASES, ids=_case_id)
def test_train_step_equals_idelbayev(case: tuple, torch_one_thread: Any) -> None:
    """Training mode: logits, the input's and every parameter's gradient, and the new BN statistics.

    Tolerances as assert_same_outputs (tests/models/zoo_oracle.py), per array: float64 within 1e-9
    of the array's scale (max |value|; at least 1 for the logits), float32 within 1e-4 of it or
    3 times torch's own float32 rounding error (torch float32 vs float64), whichever is larger.
    """
    torch = torch_one_thread
    name, shape, shortcut = case
    rng = np.random.default_rng(2)
    batch = rng.standard_normal((8, *shape)).astype(np.float32)
    theirs, ours = _loaded_pair(torch, name, shape, shortcut, batch)
    x = batch[:4]
    cot = rng.standard_normal((4, 10)).astype(np.float32)
    state = {k: v.clone() for k, v in theirs.state_dict().items()}

    got64, exp64 = _train_step(torch, ours.double(), theirs.double(), x.astype(np.float64), cot.astype(np.float64))
    theirs.load_state_dict(state)  # the step moved the BN statistics: start the float32 step afresh
    ours.load_state_dict({k: v.numpy() for k, v in state.items()})
    got32, exp32 = _train_step(torch, ours.float(), theirs.float(), x, cot)
    assert exp32["gradient of conv1.weight"].dtype == np.float32 and got32["logits"].dtype == np.float32
    for what in exp64:
        scale = float(np.abs(exp64[what]).max())
        if what == "logits":
            scale = max(scale, 1.0)
        assert scale > 0 or what.endswith("num_batches_tracked"), f"{what} is all zeros: not a test"
        assert_close(got64[what], exp64[what], 0.0, 1e-9 * scale, f"{_case_id(case)} train {what} (float64)")
        rounding = float(np.abs(exp32[what] - exp64[what]).max())
        assert_close(got32[what], exp32[what], 0.0, max(1e-4 * scale, 3 * rounding),
                     f"{_case_id(case)} train {what} (float32)")


# --- a whole tiny net against finite differences ----------------------------------------------------
def test_tiny_net_gradcheck() -> None:
    """Every parameter and the input of CifarResNet(8, widths=(2, 2, 4)) in train mode, float64.

    widths (2, 2, 4): layer2's option A shortcut only subsamples (2 -> 2 channels), layer3's
    pads one channel on each side (2 -> 4). The input is 5x5 so each stride rounds up (5 -> 3 -> 2).
    Option B is left to the float64 comparison with PyTorch above (1e-9): its projection is a
    plain conv + BN, and a second net here would double this test's time (2.5 s).
    """
    juanji.manual_seed(3)
    model = CifarResNet(8, num_classes=3, in_channels=1, widths=(2, 2, 4)).double().train()
    x = juanji.tensor(np.random.default_rng(3).standard_normal((2, 1, 5, 5)), requires_grad=True)
    params = [x, *model.parameters()]
    assert juanji.gradcheck(lambda *ts: model(ts[0]), params, atol=1e-7, rtol=1e-5)


def test_docstring_examples_run() -> None:
    import doctest

    import juanji.models.cifar_resnet as mod

    result = doctest.testmod(mod, extraglobs={"juanji": juanji, "np": np},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted == 3 and result.failed == 0, f"{result.failed} docstring example(s) failed"
