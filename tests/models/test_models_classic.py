"""The classic small CNNs: SimpleConvNet, LeNet-5 (modern and 1998), the signs net, the four-stage CNN.

Expected parameter counts are the published figures (LeCun et al. 1998, section II.B) or
written out layer by layer from the layer sizes; the shapes are the layer tables in the
docstrings, recomputed by hand; PyTorch (where installed) is an independent oracle for
the forward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import juanji
import juanji.functional as F
from juanji import Tensor, nn, optim
from juanji.models import (LeNet5Original, MaskedConv2d, RBFOutput, ScaledTanh, Subsampling2d,
                           four_stage_cnn, get_model, lenet5, list_models, signs_convnet,
                           simple_convnet)
from juanji.models.classic import LENET5_C3_TABLE, digit_bitmaps
from tests.helpers import assert_close, torch_or_skip

BUILDERS = {
    "simple_convnet": (simple_convnet, {}, (1, 28, 28), 10),
    "lenet5": (lenet5, {}, (1, 28, 28), 10),
    "lenet5_32": (lenet5, {"input_size": 32}, (1, 32, 32), 10),
    "lenet5_original": (lenet5, {"variant": "original"}, (1, 32, 32), 10),
    "lenet5_original_28": (lenet5, {"variant": "original", "input_size": 28}, (1, 28, 28), 10),
    "signs_convnet": (signs_convnet, {}, (3, 64, 64), 6),
    "four_stage_cnn": (four_stage_cnn, {}, (1, 28, 28), 10),
}


def shapes_by_layer(model: nn.Module, x: Tensor) -> dict[str, tuple[int, ...]]:
    """Run ``model`` and record each direct child's output shape (without the batch dim)."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [child.register_forward_hook(
        lambda m, inp, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
        for name, child in model.named_children()]
    model(x)
    for h in handles:
        h.remove()
    return shapes


def layer_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- every model: forward and backward -----------------------------------------------------
@pytest.mark.parametrize("key", list(BUILDERS))
def test_forward_backward_batch2(key: str) -> None:
    builder, kwargs, in_shape, k = BUILDERS[key]
    model = builder(**kwargs)
    x = juanji.randn(2, *in_shape)
    logits = model(x)
    assert logits.shape == (2, k)
    assert np.all(np.isfinite(logits.data))
    loss = F.cross_entropy(logits, juanji.tensor(np.array([0, 1])))
    loss.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{key}: {name} got no gradient"
            assert p.grad.shape == p.shape and np.all(np.isfinite(p.grad.data)), name
    # Some gradient is non-zero in the first layer: the whole chain is connected.
    first = next(p for _, p in model.named_parameters())
    assert np.abs(first.grad.data).max() > 0


@pytest.mark.parametrize("name", ["simple_convnet", "lenet5", "signs_convnet", "four_stage_cnn"])
def test_registered(name: str) -> None:
    assert name in list_models()
    assert isinstance(get_model(name, num_classes=3), nn.Module)
    assert get_model(name, num_classes=3)[-1].out_features == 3


# --- SimpleConvNet ---------------------------------------------------------------------------
def test_simple_convnet_layers_and_count() -> None:
    model = simple_convnet()
    shapes = shapes_by_layer(model, juanji.randn(2, 1, 28, 28))
    assert shapes["conv1"] == (30, 24, 24)
    assert shapes["pool1"] == (30, 12, 12)
    assert shapes["fc1"] == (100,) and shapes["fc2"] == (10,)
    assert layer_params(model.conv1) == 30 * 25 + 30
    assert layer_params(model.fc1) == 4320 * 100 + 100
    assert model.num_parameters() == 780 + 432100 + 1010 == 433890
    wide = simple_convnet(num_classes=5, in_channels=3, input_size=32)
    assert wide(juanji.randn(2, 3, 32, 32)).shape == (2, 5)
    assert wide.fc1.in_features == 30 * 14 * 14


def test_simple_convnet_matches_torch() -> None:
    torch = torch_or_skip()
    model = simple_convnet(num_classes=7)
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 30, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(4320, 100), torch.nn.ReLU(),
                              torch.nn.Linear(100, 7))
    names = {"conv1": "0", "fc1": "4", "fc2": "6"}
    ref.load_state_dict({names[k.split(".")[0]] + "." + k.split(".")[1]: torch.tensor(v)
                         for k, v in model.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    assert_close(model(Tensor(x)).data, ref(torch.tensor(x)).detach().numpy(), 1e-4, 1e-5,
                 "simple_convnet vs torch")


# --- LeNet-5, modern ---------------------------------------------------------------------------
def test_lenet5_modern_shapes_and_count() -> None:
    model = lenet5()
    shapes = shapes_by_layer(model, juanji.randn(2, 1, 28, 28))
    assert shapes["c1"] == (6, 28, 28) and shapes["s2"] == (6, 14, 14)
    assert shapes["c3"] == (16, 10, 10) and shapes["s4"] == (16, 5, 5)
    assert shapes["flatten"] == (400,) and shapes["c5"] == (120,) and shapes["f6"] == (84,)
    assert shapes["output"] == (10,)
    # C1 156, C3 with all 96 kernels 2,416, C5 48,120, F6 10,164, output 850.
    assert model.num_parameters() == 156 + 2416 + 48120 + 10164 + 850 == 61706
    assert model.c1.padding == (2, 2)
    assert lenet5(input_size=32).c1.padding == (0, 0)


def test_lenet5_modern_matches_torch() -> None:
    torch = torch_or_skip()
    model = lenet5()
    tn = torch.nn
    ref = tn.Sequential(tn.Conv2d(1, 6, 5, padding=2), tn.ReLU(), tn.MaxPool2d(2), tn.Conv2d(6, 16, 5),
                        tn.ReLU(), tn.MaxPool2d(2), tn.Flatten(), tn.Linear(400, 120), tn.ReLU(),
                        tn.Linear(120, 84), tn.ReLU(), tn.Linear(84, 10))
    index = {"c1": 0, "c3": 3, "c5": 7, "f6": 9, "output": 11}
    ref.load_state_dict({f"{index[k.split('.')[0]]}.{k.split('.')[1]}": torch.tensor(v)
                         for k, v in model.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((3, 1, 28, 28)).astype(np.float32)
    assert_close(model(Tensor(x)).data, ref(torch.tensor(x)).detach().numpy(), 1e-4, 1e-5,
                 "lenet5 vs torch")


# --- LeNet-5, 1998 -----------------------------------------------------------------------------
def test_lenet5_original_paper_parameter_counts() -> None:
    model = lenet5(variant="original")
    assert isinstance(model, LeNet5Original)
    # LeCun et al. 1998, section II.B.
    paper = {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164}
    for name, count in paper.items():
        assert getattr(model, name).num_parameters(trainable_only=True) == count, name
    assert model.c3.num_connections() == 60
    assert model.num_parameters(trainable_only=True) == 60000
    assert model.num_parameters() == 60000 + 84 * 10          # plus the fixed RBF centres
    # The raw arrays hold the 36 unconnected 5x5 kernels as well.
    assert sum(p.numel() for p in model.parameters()) == 60840 + 36 * 25


def test_lenet5_original_shapes() -> None:
    model = lenet5(variant="original")
    shapes = shapes_by_layer(model, juanji.randn(2, 1, 32, 32))
    expected = {"c1": (6, 28, 28), "s2": (6, 14, 14), "c3": (16, 10, 10), "s4": (16, 5, 5),
                "c5": (120, 1, 1), "flatten": (120,), "f6": (84,), "output": (10,)}
    for name, shape in expected.items():
        assert shapes[name] == shape, name
    # A 28x28 digit through the model built for it equals the same digit zero-padded to 32x32.
    small = lenet5(variant="original", input_size=28)
    small.load_state_dict(model.state_dict())
    x = np.random.default_rng(2).standard_normal((2, 1, 28, 28)).astype(np.float32)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    assert_close(small(Tensor(x)).data, model(Tensor(padded)).data, 1e-5, 1e-5, "28 vs padded 32")


def test_c3_table_is_the_papers() -> None:
    # Table I described in words: C3 maps 0-5 take 3 neighbouring S2 maps (cyclically), 6-11
    # take 4 neighbouring maps, 12-14 take the non-neighbouring sets below, 15 takes all six.
    expected = np.zeros((16, 6), dtype=bool)
    for j in range(6):
        expected[j, [(j + d) % 6 for d in range(3)]] = True
        expected[6 + j, [(j + d) % 6 for d in range(4)]] = True
    for j, maps in zip((12, 13, 14), ([0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5])):
        expected[j, maps] = True
    expected[15, :] = True
    model = lenet5(variant="original")
    assert np.array_equal(model.c3.mask.data[:, :, 0, 0] == 1, expected)
    rows = LENET5_C3_TABLE.split()
    assert len(rows) == 6 and all(len(r) == 16 for r in rows)


def test_c3_output_uses_only_connected_maps() -> None:
    model = lenet5(variant="original")
    c3 = model.c3
    x = np.random.default_rng(3).standard_normal((2, 6, 14, 14)).astype(np.float32)
    conn = c3.mask.data[:, :, 0, 0] == 1
    w, b = c3.weight.data, c3.bias.data
    # Naive: out[n, o] = b[o] + sum over connected i of the 5x5 cross-correlation of x[n, i], w[o, i].
    win = np.lib.stride_tricks.sliding_window_view(x, (5, 5), axis=(2, 3))   # (N, 6, 10, 10, 5, 5)
    expected = np.zeros((2, 16, 10, 10), dtype=np.float64)
    for o in range(16):
        expected[:, o] = b[o]
        for i in np.flatnonzero(conn[o]):
            expected[:, o] += np.einsum("nyxij,ij->nyx", win[:, i], w[o, i])
    assert_close(c3(Tensor(x)).data, expected, 1e-4, 1e-5, "C3 vs naive partial connection")
    # Writing into an unconnected kernel changes nothing.
    c3.weight.data[0, 3] = 5.0
    assert_close(c3(Tensor(x)).data, expected, 1e-4, 1e-5, "C3 ignores unconnected kernels")


@pytest.mark.parametrize("make_opt", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
    lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=1e-3),
])
def test_c3_unconnected_weights_stay_zero_after_training(make_opt: Any) -> None:
    model = lenet5(variant="original")
    unconnected = model.c3.mask.data[:, :, 0, 0] == 0                     # (16, 6)
    assert unconnected.sum() == 36
    assert np.all(model.c3.weight.data[unconnected] == 0)
    before = model.c3.weight.data.copy()
    opt = make_opt(model.parameters())
    x = juanji.randn(4, 1, 32, 32)
    y = juanji.tensor(np.array([0, 1, 2, 3]))
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    assert np.all(model.c3.weight.data[unconnected] == 0)
    assert not np.array_equal(model.c3.weight.data[~unconnected], before[~unconnected])
    assert model.c3.num_parameters() == 1516


def test_lenet5_original_init_follows_the_paper() -> None:
    model = lenet5(variant="original")
    # U(-2.4/F, 2.4/F): F = 25 for C1, 4 for S2, 400 for C5, 120 for F6.
    for layer, fan_in in ((model.c1, 25), (model.c5, 400), (model.f6, 120)):
        w = layer.weight.data
        assert np.abs(w).max() <= 2.4 / fan_in and np.abs(w).max() > 0.9 * 2.4 / fan_in
    assert np.abs(model.s2.weight.data).max() <= 0.6
    # C3 map 0 sees 3 maps (F = 75), map 15 sees all 6 (F = 150).
    assert np.abs(model.c3.weight.data[0]).max() <= 2.4 / 75
    assert np.abs(model.c3.weight.data[15]).max() <= 2.4 / 150


def test_lenet5_original_trains() -> None:
    # Overfit 16 fixed random images: the loss must fall well below chance (ln 10 = 2.30).
    model = lenet5(variant="original")
    x = juanji.randn(16, 1, 32, 32)
    y = juanji.tensor(np.arange(16) % 10)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first


def test_lenet5_original_matches_torch() -> None:
    torch = torch_or_skip()
    model = lenet5(variant="original")
    sd = {k: torch.tensor(v) for k, v in model.state_dict().items()}
    mask = torch.tensor(model.c3.mask.data)

    def act(a: Any) -> Any:
        return 1.7159 * torch.tanh(a * 2 / 3)

    def sub(a: Any, name: str) -> Any:
        s = torch.nn.functional.avg_pool2d(a, 2) * 4
        return s * sd[name + ".weight"].view(1, -1, 1, 1) + sd[name + ".bias"].view(1, -1, 1, 1)

    x = np.random.default_rng(4).standard_normal((2, 1, 32, 32)).astype(np.float32)
    tf = torch.nn.functional
    a = act(tf.conv2d(torch.tensor(x), sd["c1.weight"], sd["c1.bias"]))
    a = act(sub(a, "s2"))
    a = act(tf.conv2d(a, sd["c3.weight"] * mask, sd["c3.bias"]))
    a = act(sub(a, "s4"))
    a = act(tf.conv2d(a, sd["c5.weight"], sd["c5.bias"])).flatten(1)
    a = act(tf.linear(a, sd["f6.weight"], sd["f6.bias"]))
    expected = -((a[:, None, :] - sd["output.weight"][None]) ** 2).sum(-1)
    assert_close(model(Tensor(x)).data, expected.numpy(), 1e-4, 1e-4, "LeNet-5 1998 vs torch")


# --- LeNet-5's special layers ------------------------------------------------------------------
def test_scaled_tanh() -> None:
    x = np.linspace(-3, 3, 13).astype(np.float32)
    out = ScaledTanh()(Tensor(x)).data
    assert_close(out, 1.7159 * np.tanh(2.0 / 3.0 * x), 1e-6, 1e-6, "scaled tanh")
    # The constants are chosen so that f(+-1) = +-1.
    assert_close(ScaledTanh()(Tensor(np.array([-1.0, 1.0]))).data, [-1.0, 1.0], 0, 1e-3, "f(+-1)")


def test_subsampling2d_forward_and_gradcheck() -> None:
    layer = Subsampling2d(3).double()
    x = np.random.default_rng(5).standard_normal((2, 3, 6, 4))
    w, b = layer.weight.data, layer.bias.data
    sums = x.reshape(2, 3, 3, 2, 2, 2).sum(axis=(3, 5))                    # 2x2 window sums
    expected = sums * w[None, :, None, None] + b[None, :, None, None]
    assert_close(layer(Tensor(x)).data, expected, 1e-12, 1e-12, "Subsampling2d vs naive")
    assert layer_params(layer) == 6
    xt = Tensor(x, requires_grad=True)
    assert juanji.gradcheck(lambda t: layer(t), [xt])
    assert juanji.gradcheck(lambda wt, bt: F.avg_pool2d(Tensor(x), 2) * 4.0 * wt.reshape(1, -1, 1, 1)
                            + bt.reshape(1, -1, 1, 1),
                            [Tensor(w.copy(), requires_grad=True), Tensor(b.copy(), requires_grad=True)])
    # The parameters get the gradients the formula gives: dL/dw[c] = sum of window sums.
    layer.zero_grad()                                                      # gradcheck ran backward
    layer(Tensor(x)).sum().backward()
    assert_close(layer.weight.grad.data, sums.sum(axis=(0, 2, 3)), 1e-10, 1e-10, "dL/dweight")


def test_rbf_output() -> None:
    layer = RBFOutput(84, 10)
    centres = layer.weight.data
    assert set(np.unique(centres)) == {-1.0, 1.0}
    assert len({c.tobytes() for c in centres}) == 10                     # ten distinct bitmaps
    assert not layer.weight.requires_grad
    x = np.random.default_rng(6).standard_normal((3, 84)).astype(np.float32)
    dist = ((x[:, None, :] - centres[None]) ** 2).sum(-1)                  # (3, 10)
    assert_close(layer(Tensor(x)).data, -dist, 1e-5, 1e-4, "RBF logits")
    # The class whose bitmap the input is gets distance 0 and wins.
    assert np.array_equal(layer(Tensor(centres)).data.argmax(1), np.arange(10))
    assert np.all(layer(Tensor(centres)).data.max(1) == 0)
    other = RBFOutput(84, 4)
    assert other.weight.shape == (4, 84) and set(np.unique(other.weight.data)) == {-1.0, 1.0}
    xt = Tensor(x.astype(np.float64), requires_grad=True)
    assert juanji.gradcheck(lambda t: RBFOutput(84, 10).double()(t), [xt])
    with pytest.raises(ValueError, match=r"RBFOutput: expected input of shape \(N, 84\), got \(3, 5\)"):
        layer(juanji.randn(3, 5))


def test_digit_bitmaps_shape() -> None:
    bitmaps = digit_bitmaps()
    assert bitmaps.shape == (10, 84) and bitmaps.dtype == np.float32
    # A "1" has less ink than an "8".
    assert (bitmaps[1] > 0).sum() < (bitmaps[8] > 0).sum()


def test_masked_conv2d_gradcheck() -> None:
    conn = np.array([[1, 0, 1], [0, 1, 0]], dtype=bool)                   # (O=2, C=3)
    layer = MaskedConv2d(3, 2, (3, 2), connections=conn, padding=1).double()
    x = np.random.default_rng(7).standard_normal((2, 3, 5, 4))
    assert juanji.gradcheck(lambda t: layer(t), [Tensor(x, requires_grad=True)])
    assert juanji.gradcheck(lambda w: F.conv2d(Tensor(x), w * layer.mask, layer.bias, padding=1),
                            [Tensor(layer.weight.data.copy(), requires_grad=True)])
    layer.zero_grad()
    layer(Tensor(x)).sum().backward()
    assert np.all(layer.weight.grad.data[~conn] == 0) and np.all(layer.weight.grad.data[conn] != 0)
    assert layer.num_parameters() == 3 * 6 + 2 and layer.num_connections() == 3


def test_masked_conv2d_errors() -> None:
    with pytest.raises(ValueError, match=r"MaskedConv2d: connections must have shape .* \(4, 3\), got \(3, 4\)"):
        MaskedConv2d(3, 4, 3, connections=np.ones((3, 4), dtype=bool))
    with pytest.raises(ValueError, match="MaskedConv2d: groups must be 1"):
        MaskedConv2d(4, 4, 3, connections=np.ones((4, 4), dtype=bool), groups=2)


# --- the signs net and the four-stage CNN ------------------------------------------------------
def test_signs_convnet_shapes_and_count() -> None:
    model = signs_convnet()
    shapes = shapes_by_layer(model, juanji.randn(2, 3, 64, 64))
    assert shapes["conv1"] == (8, 64, 64) and shapes["pool1"] == (8, 8, 8)
    assert shapes["conv2"] == (16, 8, 8) and shapes["pool2"] == (16, 2, 2)
    assert shapes["fc"] == (6,)
    assert model.num_parameters() == (8 * 3 * 16 + 8) + (16 * 8 * 4 + 16) + (64 * 6 + 6) == 1310
    assert np.all(model.conv1.bias.data == 0)                              # Keras's zeros
    bound = np.sqrt(6 / (3 * 16 + 8 * 16))                                 # glorot_uniform
    assert np.abs(model.conv1.weight.data).max() <= bound


def test_four_stage_cnn_shapes_count_and_dropout() -> None:
    model = four_stage_cnn()
    model.eval()
    shapes = shapes_by_layer(model, juanji.randn(2, 1, 28, 28))
    assert [shapes[f"pool{i}"] for i in range(1, 5)] == [(16, 14, 14), (32, 7, 7), (64, 4, 4), (128, 2, 2)]
    assert shapes["conv2"] == (32, 14, 14) and shapes["flatten"] == (512,)
    convs = (16 * 25 + 16) + (32 * 16 * 4 + 32) + (64 * 32 * 25 + 64) + (128 * 64 * 25 + 128)
    assert model.num_parameters() == convs + (512 * 128 + 128) + (128 * 10 + 10) == 325642
    assert [getattr(model, f"drop{i}").p for i in range(1, 5)] == [0.25] * 4
    x = juanji.randn(2, 1, 28, 28)
    assert np.array_equal(model(x).data, model(x).data)                    # eval: deterministic
    model.train()
    assert not np.array_equal(model(x).data, model(x).data)                # train: dropout on


# --- errors ------------------------------------------------------------------------------------
def test_builder_errors() -> None:
    with pytest.raises(ValueError, match="lenet5: variant must be 'modern' or 'original', got 'lenet'"):
        lenet5(variant="lenet")
    with pytest.raises(ValueError, match="lenet5: input_size must be 28 .* or 32, got 30"):
        lenet5(input_size=30)
    with pytest.raises(ValueError, match="lenet5: num_classes must be a positive int, got 0"):
        lenet5(num_classes=0)
    with pytest.raises(ValueError, match="simple_convnet: in_channels must be a positive int, got 1.5"):
        simple_convnet(in_channels=1.5)
    with pytest.raises(ValueError, match="simple_convnet: input_size must be >= 6"):
        simple_convnet(input_size=5)
    with pytest.raises(ValueError, match="signs_convnet: num_classes must be a positive int, got -1"):
        signs_convnet(num_classes=-1)
    with pytest.raises(ValueError, match=r"Dropout: dropout probability p must be in \[0, 1\]"):
        four_stage_cnn(dropout=1.5)


def test_forward_checks_input_shape() -> None:
    with pytest.raises(ValueError, match=r"LeNet5: expected input of shape \(N, 1, 28, 28\), got \(2, 1, 32, 32\)"):
        lenet5()(juanji.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"LeNet5Original: expected input of shape \(N, 1, 32, 32\), got \(1, 28, 28\)"):
        lenet5(variant="original")(juanji.randn(1, 28, 28))
    with pytest.raises(ValueError, match=r"SignsConvNet: expected input of shape \(N, 3, 64, 64\), got \(2, 1, 64, 64\)"):
        signs_convnet()(juanji.randn(2, 1, 64, 64))
    with pytest.raises(TypeError, match="SimpleConvNet: input must be a juanji.Tensor, got ndarray"):
        simple_convnet()(np.zeros((1, 1, 28, 28), dtype=np.float32))
