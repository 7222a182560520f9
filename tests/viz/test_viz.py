"""juanji.viz: the numbers behind every picture, checked by hand, against PyTorch and scikit-learn.

The figures themselves are checked as a reader meets them: the PNG bytes decode with Pillow
at the size asked for, and the axes holding images are counted. Every model-running picture
must leave the model exactly as it was (modes, hooks, parameters, gradients).
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

import juanji
import juanji.nn as nn
import juanji.viz as viz
from juanji import Tensor

from tests.helpers import torch_or_skip

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def image_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.images]


def snapshot(model: nn.Module) -> dict:
    """Everything a picture must not change: modes, hooks, parameters, their flags and grads."""
    return {
        "training": [(n, m.training) for n, m in model.named_modules()],
        "hooks": [(n, list(m._forward_hooks)) for n, m in model.named_modules()],
        "state": {k: v.copy() for k, v in model.state_dict().items()},
        "flags": [(n, p.requires_grad) for n, p in model.named_parameters()],
        "grads": [(n, id(p.grad)) for n, p in model.named_parameters()],
    }


def assert_unchanged(model: nn.Module, before: dict) -> None:
    after = snapshot(model)
    assert after["training"] == before["training"]
    assert after["hooks"] == before["hooks"]
    assert after["flags"] == before["flags"]
    assert after["grads"] == before["grads"]
    assert after["state"].keys() == before["state"].keys()
    for k in before["state"]:
        assert after["state"][k].tobytes() == before["state"][k].tobytes(), k


def tiny_cnn(dtype=np.float32) -> nn.Sequential:
    """Conv2d -> ReLU -> MaxPool -> Conv2d -> ReLU -> Flatten -> Linear: (1, 2, 10, 10) -> (1, 4)."""
    model = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(2, 3, 3)), ("relu1", nn.ReLU()), ("pool", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(3, 5, 2)), ("relu2", nn.ReLU()), ("flatten", nn.Flatten()),
        ("fc", nn.Linear(5 * 3 * 3, 4)),
    ]))
    return model.to(dtype)


def torch_twin(torch, model: nn.Sequential):
    """The same network in PyTorch, float64, with juanji's weights."""
    tn = torch.nn
    twin = tn.Sequential(tn.Conv2d(2, 3, 3), tn.ReLU(), tn.MaxPool2d(2), tn.Conv2d(3, 5, 2), tn.ReLU(),
                         tn.Flatten(), tn.Linear(5 * 3 * 3, 4)).double()
    names = {"0": "conv1", "3": "conv2", "6": "fc"}
    twin.load_state_dict({k: torch.from_numpy(model.state_dict()[names[k.split(".")[0]] + "." + k.split(".")[1]]
                                              .astype(np.float64)) for k in twin.state_dict()})
    return twin


# --- Picture: save and png_bytes --------------------------------------------------------------------
def test_png_bytes_and_save_write_a_png_of_the_asked_size(tmp_path):
    from PIL import Image

    pic = viz.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
    w_in, h_in = pic.figure.get_size_inches()
    data = pic.png_bytes(dpi=50)
    assert data[:8] == PNG_SIGNATURE
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG" and im.size == (round(w_in * 50), round(h_in * 50))
    path = pic.save(tmp_path / "cm.png", dpi=80)
    assert path == tmp_path / "cm.png"
    raw = path.read_bytes()
    assert raw[:8] == PNG_SIGNATURE
    with Image.open(path) as im:
        im.load()
        assert im.size == (round(w_in * 80), round(h_in * 80))
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]  # no temporary file left behind
    with pytest.raises(ValueError, match=r"png_bytes: dpi"):
        pic.png_bytes(dpi=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pic.save(tmp_path / "missing" / "cm.png")


def test_import_does_not_load_matplotlib():
    code = "import sys, juanji, juanji.viz; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_missing_matplotlib_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    with pytest.raises(ImportError, match=r'confusion_matrix: drawing needs matplotlib \(pip install -e "\.\[train\]"'):
        viz.confusion_matrix([0, 1], [1, 1])


# --- filters --------------------------------------------------------------------------------------
def test_filters_per_tile_and_shared_scale_grey():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((7, 1, 3, 4)).astype(np.float32)
    w[2] = 0.25  # a constant tile
    f = viz.filters(w, name="conv1")
    assert f.tiles.shape == (7, 3, 4) and f.name == "conv1" and f.scale == "per tile"
    for i in (0, 1, 3, 6):
        t = w[i, 0].astype(np.float64)
        np.testing.assert_allclose(f.tiles[i], (t - t.min()) / (t.max() - t.min()), rtol=0, atol=1e-12)
        assert f.tiles[i].min() == 0.0 and f.tiles[i].max() == 1.0
    np.testing.assert_array_equal(f.tiles[2], 0.5)
    np.testing.assert_array_equal(f.weight, w)
    assert len(image_axes(f.figure)) == 7 and len(f.figure.axes) == 7  # empty grid cells removed

    s = viz.filters(w, shared_scale=True)
    lo, hi = w.min(), w.max()
    np.testing.assert_allclose(s.tiles, (w[:, 0].astype(np.float64) - lo) / (hi - lo), atol=1e-7)
    assert s.tiles.min() == 0.0 and s.tiles.max() == 1.0 and s.scale == "shared"
    assert not np.allclose(s.tiles[2], 0.5)  # a constant tile is not special under one scale


def test_filters_rgb_multichannel_and_input_channel_layouts():
    rng = np.random.default_rng(2)
    w3 = rng.standard_normal((5, 3, 3, 3))
    f = viz.filters(w3)
    assert f.tiles.shape == (5, 3, 3, 3)  # (F, KH, KW, RGB)
    t = w3[4].transpose(1, 2, 0)
    np.testing.assert_allclose(f.tiles[4], (t - t.min()) / (t.max() - t.min()))  # one scale over R, G, B
    assert len(image_axes(f.figure)) == 5
    assert image_axes(f.figure)[0].images[0].get_array().shape == (3, 3, 3)

    w5 = rng.standard_normal((4, 5, 2, 3))
    m = viz.filters(w5)
    assert m.tiles.shape == (4, 5, 2, 3)
    np.testing.assert_allclose(m.tiles[3, 1], (w5[3, 1] - w5[3, 1].min()) / np.ptp(w5[3, 1]))
    assert len(image_axes(m.figure)) == 4  # one row (axes) per filter

    one = viz.filters(w5, input_channel=2)
    assert one.tiles.shape == (4, 2, 3)
    np.testing.assert_allclose(one.tiles[0], (w5[0, 2] - w5[0, 2].min()) / np.ptp(w5[0, 2]))

    wide = viz.filters(rng.standard_normal((2, 20, 3, 3)))
    assert wide.tiles.shape == (2, 16, 3, 3)  # columns capped
    many = viz.filters(rng.standard_normal((70, 1, 3, 3)))
    assert many.tiles.shape == (64, 3, 3) and many.weight.shape == (70, 1, 3, 3)
    assert len(image_axes(many.figure)) == 64
    assert viz.filters(rng.standard_normal((70, 1, 3, 3)), max_filters=10).tiles.shape == (10, 3, 3)


def test_filters_accepts_layers_parameters_and_tensors():
    model = juanji.models.lenet5()
    a = viz.filters(model.c1)
    b = viz.filters(model.c1.weight)
    c = viz.filters(model.c1.weight.data)
    assert a.name == "Conv2d" and b.name == "weight"
    np.testing.assert_array_equal(a.tiles, b.tiles)
    np.testing.assert_array_equal(a.tiles, c.tiles)
    assert a.tiles.shape == (6, 5, 5)
    assert "(6, 1, 5, 5)" in a.figure._suptitle.get_text()
    assert viz.filters(model.c3, name="c3").tiles.shape == (16, 6, 5, 5)


def test_filters_refuses_what_is_not_a_convolution():
    with pytest.raises(ValueError, match=r"filters: expected a Conv2d layer or a convolution's weight "
                                         r"\(F, C, KH, KW\), got Linear with weight \(3, 4\)"):
        viz.filters(nn.Linear(4, 3))
    with pytest.raises(ValueError, match=r"filters: expected a convolution's weight \(F, C, KH, KW\), got shape \(3, 4\)"):
        viz.filters(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="filters: expected a Conv2d layer"):
        viz.filters([[1.0]])
    with pytest.raises(ValueError, match=r"filters: input_channel must be an int in \[0, 2\)"):
        viz.filters(np.zeros((3, 2, 3, 3)), input_channel=2)
    bad = np.zeros((2, 1, 3, 3))
    bad[1, 0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="filters: the weight .* NaN"):
        viz.filters(bad)
    with pytest.raises(ValueError, match="filters: max_filters must be a positive int"):
        viz.filters(np.zeros((2, 1, 3, 3)), max_filters=0)


# --- feature_maps ------------------------------------------------------------------------------
def test_feature_maps_equal_the_layers_run_by_hand_and_leave_the_model_alone():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3))
    user_hook = model[0].register_forward_hook(lambda m, a, o: None)  # must survive the call
    model.train()
    for p in model.parameters():
        p.grad = Tensor(np.ones_like(p.data))
    before = snapshot(model)
    x = np.random.default_rng(3).standard_normal((1, 12, 12)).astype(np.float32)

    fm = viz.feature_maps(model, x)
    assert fm.layers == ["0", "3"]  # every Conv2d by default
    with juanji.no_grad():
        h0 = model[0](Tensor(x[None]))
        h3 = model[3](model[2](model[1](h0)))
    np.testing.assert_array_equal(fm.maps["0"], h0.data[0])
    np.testing.assert_array_equal(fm.maps["3"], h3.data[0])
    assert fm.maps["3"].shape == (6, 3, 3)
    assert_unchanged(model, before)
    assert len(image_axes(fm.figure)) == 2
    user_hook.remove()

    chosen = viz.feature_maps(model, x[None], layers=["2", "1"], max_channels=2)
    assert chosen.layers == ["2", "1"]
    np.testing.assert_array_equal(chosen.maps["1"], np.maximum(h0.data[0], 0))
    assert chosen.maps["2"].shape == (4, 5, 5)  # .maps keeps every channel, the figure the first 2


def test_feature_maps_in_eval_mode_keep_batchnorm_statistics():
    model = juanji.models.digits_cnn()
    x = np.random.default_rng(4).random((1, 8, 8), dtype=np.float32)
    before = snapshot(model)
    fm = viz.feature_maps(model, x, layers="2")  # after conv and batch norm (eval: running stats)
    assert_unchanged(model, before)
    with juanji.no_grad():
        model.eval()
        expected = model[2](model[1](model[0](Tensor(x[None])))).data[0]
        model.train()
    np.testing.assert_array_equal(fm.maps["2"], expected)


def test_feature_maps_zoo_lenet5():
    model = juanji.models.lenet5()
    fm = viz.feature_maps(model, np.zeros((1, 28, 28), np.float32) + 0.5, layers=["c1", "s2", "c3"])
    assert {k: v.shape for k, v in fm.maps.items()} == {"c1": (6, 28, 28), "s2": (6, 14, 14), "c3": (16, 10, 10)}


def test_feature_maps_errors_name_the_layer_and_the_shapes():
    model = juanji.models.lenet5()
    x = np.zeros((1, 28, 28), np.float32)
    with pytest.raises(ValueError, match=r"feature_maps: LeNet5 has no layer named 'conv3' \(did you mean 'c3'.*"
                                         r"Layers: c1, relu1, s2, c3"):
        viz.feature_maps(model, x, layers=["conv3"])
    with pytest.raises(ValueError, match=r"feature_maps: x has 3 channels \(shape \(1, 3, 28, 28\)\) but the "
                                         r"model's first convolution 'c1' expects 1 \(weight shape \(6, 1, 5, 5\)\)"):
        viz.feature_maps(model, np.zeros((3, 28, 28)))
    with pytest.raises(ValueError, match=r"feature_maps: x must be one image .* got shape \(2, 1, 28, 28\)"):
        viz.feature_maps(model, np.zeros((2, 1, 28, 28)))
    with pytest.raises(ValueError, match=r"feature_maps: layer 'c5' outputs shape \(1, 120\), not feature maps"):
        viz.feature_maps(model, x, layers="c5")
    with pytest.raises(ValueError, match=r"feature_maps: no Conv2d|has no Conv2d layer"):
        viz.feature_maps(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match=r"feature_maps: the forward pass of LeNet5 on an input of shape \(1, 1, 8, 8\)"):
        viz.feature_maps(model, np.zeros((1, 8, 8)))
    # a failed call leaves no hook behind
    assert all(not m._forward_hooks for m in model.modules())


def test_layer_errors_list_convolutions_of_a_large_model():
    model = juanji.models.get_model("resnet18", num_classes=10)
    with pytest.raises(ValueError, match=r"grad_cam: ResNet has no layer named 'layer1.0.conv3' "
                                         r"\(did you mean 'layer1.0.conv2'.*Convolutions: conv1, layer1.0.conv1, .*layer4.1.conv2 \(67 modules"):
        viz.grad_cam(model, np.zeros((3, 32, 32)), layer="layer1.0.conv3")


# --- saliency ---------------------------------------------------------------------------------
def test_saliency_of_a_linear_model_is_the_weight_row():
    C, H, W, K = 2, 4, 5, 3
    model = nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, K)).double()
    x = np.random.default_rng(5).standard_normal((C, H, W))
    w = model[1].weight.data  # (K, C*H*W)
    logits = w @ x.ravel() + model[1].bias.data
    s = viz.saliency(model, x)
    assert s.target == int(np.argmax(logits))
    np.testing.assert_allclose(s.logits, logits, rtol=1e-12)
    for c in range(K):
        sc = viz.saliency(model, x, target=c)
        np.testing.assert_allclose(sc.gradient, w[c].reshape(C, H, W), rtol=1e-12)  # dy_c/dx = W[c]
        np.testing.assert_allclose(sc.saliency, np.abs(w[c].reshape(C, H, W)).max(axis=0), rtol=1e-12)
    with pytest.raises(ValueError, match=r"saliency: target must be a class index in \[0, 3\) for logits of shape \(3,\), got 3"):
        viz.saliency(model, x, target=3)


def test_saliency_matches_torch_autograd_and_restores_the_model():
    torch = torch_or_skip()
    model = tiny_cnn(np.float64)
    model.train()
    model.conv1.bias.requires_grad_(False)  # a frozen parameter stays frozen
    model.fc.weight.grad = Tensor(np.full(model.fc.weight.shape, 7.0))  # an earlier step's gradient stays
    before = snapshot(model)
    x = np.random.default_rng(6).standard_normal((2, 10, 10))
    s = viz.saliency(model, x, target=2)
    assert_unchanged(model, before)
    np.testing.assert_array_equal(model.fc.weight.grad.data, 7.0)
    assert model.conv2.weight.grad is None

    twin = torch_twin(torch, model)
    xt = torch.from_numpy(x[None].copy()).requires_grad_(True)
    out = twin(xt)
    out[0, 2].backward()
    np.testing.assert_allclose(s.logits, out[0].detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s.gradient, xt.grad[0].numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(s.saliency, xt.grad[0].abs().amax(0).numpy(), rtol=1e-10, atol=1e-14)
    assert len(image_axes(s.figure)) == 2


# --- grad_cam ---------------------------------------------------------------------------------
def test_grad_cam_after_global_pooling_is_cam():
    # With A -> global average pool -> Linear, dy_c/dA^k_ij = W[c, k] / (h w), so
    # alpha_k = W[c, k] / (h w) and Grad-CAM = ReLU(sum_k W[c, k] A^k) / (h w): CAM (Zhou et al. 2016).
    model = nn.Sequential(OrderedDict([("conv", nn.Conv2d(2, 5, 3)), ("relu", nn.ReLU()),
                                       ("gap", nn.GlobalAvgPool2d()), ("fc", nn.Linear(5, 3))])).double()
    x = np.random.default_rng(7).standard_normal((2, 9, 8))
    g = viz.grad_cam(model, x, target=1, layer="relu")
    with juanji.no_grad():
        A = np.maximum(model.conv(Tensor(x[None])).data[0], 0)  # (5, 7, 6)
    Wc = model.fc.weight.data[1]
    h, w = A.shape[1:]
    np.testing.assert_allclose(g.activations, A, rtol=1e-12)
    np.testing.assert_allclose(g.weights, Wc / (h * w), rtol=1e-12)
    np.testing.assert_allclose(g.gradients, np.broadcast_to(Wc[:, None, None] / (h * w), A.shape), rtol=1e-12)
    np.testing.assert_allclose(g.cam, np.maximum(np.tensordot(Wc, A, 1), 0) / (h * w), rtol=1e-12, atol=1e-15)
    assert g.target == 1 and g.layer == "relu" and g.heatmap.shape == (9, 8)


def test_grad_cam_matches_torch_and_bilinear_interpolate():
    torch = torch_or_skip()
    model = tiny_cnn(np.float64)
    model.train()
    before = snapshot(model)
    x = np.random.default_rng(8).standard_normal((2, 10, 10))
    g = viz.grad_cam(model, x)  # default: the last Conv2d, the predicted class
    assert_unchanged(model, before)
    assert g.layer == "conv2"

    twin = torch_twin(torch, model)
    acts = {}

    def keep(module, args, output):
        output.retain_grad()
        acts["A"] = output

    twin[3].register_forward_hook(keep)
    out = twin(torch.from_numpy(x[None].copy()))
    c = int(out[0].argmax())
    out[0, c].backward()
    A, dA = acts["A"][0].detach(), acts["A"].grad[0]
    alpha = dA.mean(dim=(1, 2))
    cam = torch.relu((alpha[:, None, None] * A).sum(0))
    assert g.target == c
    np.testing.assert_allclose(g.activations, A.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g.gradients, dA.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g.weights, alpha.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g.cam, cam.numpy(), rtol=1e-10, atol=1e-14)
    up = torch.nn.functional.interpolate(cam[None, None], size=(10, 10), mode="bilinear", align_corners=False)[0, 0]
    assert float(up.max()) > 0
    np.testing.assert_allclose(g.heatmap, (up / up.max()).numpy(), rtol=1e-10, atol=1e-12)
    assert g.heatmap.max() == pytest.approx(1.0) and g.heatmap.min() >= 0
    assert len(image_axes(g.figure)) == 3


@pytest.mark.parametrize("size,layer", [((28, 28), "c3"), ((28, 28), "c1"), ((28, 28), "s4")])
def test_grad_cam_upsampling_on_lenet5_is_torch_bilinear(size, layer):
    torch = torch_or_skip()
    model = juanji.models.lenet5()
    x = np.random.default_rng(9).random((1, *size), dtype=np.float32)
    g = viz.grad_cam(model, x, target=4, layer=layer)
    cam = torch.from_numpy(g.cam)
    up = torch.nn.functional.interpolate(cam[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    peak = float(up.max())
    expected = (up / peak).numpy() if peak > 0 else np.zeros(size)
    np.testing.assert_allclose(g.heatmap, expected, rtol=1e-9, atol=1e-12)
    assert g.cam.shape == {"c3": (10, 10), "c1": (28, 28), "s4": (5, 5)}[layer]


def test_grad_cam_bilinear_against_torch_on_odd_sizes():
    # A 5x3 map of a model whose input is 13x11: non-integer scale factors in both axes.
    torch = torch_or_skip()
    model = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3, stride=2, padding=(0, 0))),
                                       ("gap", nn.GlobalAvgPool2d()), ("fc", nn.Linear(2, 2))])).double()
    model.fc.weight.data[...] = np.array([[1.0, 2.0], [-1.0, 0.5]])
    model.conv.weight.data[...] = np.abs(model.conv.weight.data)
    x = np.random.default_rng(10).random((1, 13, 11))
    g = viz.grad_cam(model, x, target=0, layer="conv")
    assert g.cam.shape == (6, 5)
    up = torch.nn.functional.interpolate(torch.from_numpy(g.cam)[None, None], size=(13, 11), mode="bilinear",
                                         align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(g.heatmap, up / up.max(), rtol=1e-12, atol=1e-14)


def test_grad_cam_errors():
    model = juanji.models.lenet5()
    x = np.zeros((1, 28, 28), np.float32)
    with pytest.raises(ValueError, match=r"grad_cam: layer 'f6' outputs shape \(1, 84\), not feature maps"):
        viz.grad_cam(model, x, layer="f6")
    with pytest.raises(TypeError, match="grad_cam: layer must be a layer name"):
        viz.grad_cam(model, x, layer=3)
    with pytest.raises(ValueError, match=r"grad_cam: target must be a class index in \[0, 10\)"):
        viz.grad_cam(model, x, target=-1)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, padding=1)
            self.fc = nn.Linear(16, 2)

        def forward(self, x):
            return self.fc(self.conv(self.conv(x)).flatten(1))

    twice = Twice()
    with pytest.raises(ValueError, match="grad_cam: layer 'conv' ran 2 times in one forward pass"):
        viz.grad_cam(twice, np.zeros((1, 4, 4)))
    assert not twice.conv._forward_hooks

    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, padding=1)
            self.fc = nn.Linear(16, 2)

        def forward(self, x):
            self.conv(x)
            return self.fc(x.flatten(1))

    with pytest.raises(ValueError, match="grad_cam: the logits of Unused do not depend on layer 'conv'"):
        viz.grad_cam(Unused(), np.zeros((1, 4, 4)))
    nan_model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    nan_model[1].bias.data[0] = np.nan
    with pytest.raises(ValueError, match=r"saliency: the model's logits \(1, 2\) contain NaN"):
        viz.saliency(nan_model, np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match=r"saliency: the model must return logits of shape \(1, K\)"):
        viz.saliency(nn.Sequential(nn.Conv2d(1, 2, 3)), np.zeros((1, 4, 4)))


# --- confusion matrix, accuracy per class, misclassified ----------------------------------------------
@pytest.mark.parametrize("normalize", [None, "true", "pred", "all"])
def test_confusion_matrix_matches_sklearn(normalize):
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    rng = np.random.default_rng(11)
    y_true = rng.integers(0, 5, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 5, 200))
    y_true[y_true == 3] = 4  # class 3 never occurs as a true label: an empty row
    y_pred[y_pred == 3] = 2
    y_pred[:3] = 5           # ... and class 5 only as a prediction: K = 6
    cm = viz.confusion_matrix(y_true, y_pred, normalize=normalize, class_names=list("abcdef"))
    expected_counts = sk_confusion_matrix(y_true, y_pred, labels=range(6))
    np.testing.assert_array_equal(cm.counts, expected_counts)
    assert cm.counts.dtype == np.int64
    expected = sk_confusion_matrix(y_true, y_pred, labels=range(6), normalize=normalize)
    np.testing.assert_allclose(cm.matrix, expected, rtol=1e-12, atol=0)
    assert [t.get_text() for t in cm.figure.axes[0].get_xticklabels()] == list("abcdef")
    assert cm.normalize == normalize


def test_confusion_matrix_inputs_and_errors():
    cm = viz.confusion_matrix(juanji.tensor([0, 1, 1]), np.array([0.0, 1.0, 0.0]), num_classes=3)
    np.testing.assert_array_equal(cm.counts, [[1, 0, 0], [1, 1, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match=r"confusion_matrix: y_true has shape \(3,\) but y_pred has shape \(2,\)"):
        viz.confusion_matrix([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match=r"confusion_matrix: a label is 3 but there are only 3 classes"):
        viz.confusion_matrix([0, 1, 3], [0, 1, 1], num_classes=3)
    with pytest.raises(ValueError, match="confusion_matrix: normalize must be one of"):
        viz.confusion_matrix([0], [0], normalize="rows")
    with pytest.raises(ValueError, match="confusion_matrix: class_names has 2 names but there are 3 classes"):
        viz.confusion_matrix([0, 2], [0, 1], class_names=["a", "b"], num_classes=3)
    with pytest.raises(TypeError, match="confusion_matrix: y_pred must hold integer class indices"):
        viz.confusion_matrix([0, 1], [0, 0.5])
    with pytest.raises(ValueError, match=r"confusion_matrix: y_true must be 1-D class indices \(N,\), got shape \(2, 1\)"):
        viz.confusion_matrix([[0], [1]], [0, 1])


def test_per_class_accuracy_by_hand():
    y_true = [0, 0, 0, 1, 1, 3, 3, 3, 3]
    y_pred = [0, 1, 0, 1, 1, 0, 3, 2, 3]
    pa = viz.per_class_accuracy(y_true, y_pred, class_names=["cat", "dog", "eel", "fox"])
    np.testing.assert_array_equal(pa.support, [3, 2, 0, 4])
    np.testing.assert_array_equal(pa.correct, [2, 2, 0, 2])
    np.testing.assert_allclose(pa.accuracy[[0, 1, 3]], [2 / 3, 1.0, 0.5])
    assert np.isnan(pa.accuracy[2])  # no samples: NaN, drawn as "no samples"
    texts = [t.get_text() for t in pa.figure.axes[0].texts]
    assert "no samples" in texts and "66.7% (2/3)" in texts
    assert [t.get_text() for t in pa.figure.axes[0].get_yticklabels()] == ["cat", "dog", "eel", "fox"]


def test_misclassified_picks_the_most_confident_mistakes_in_order():
    probs = np.array([
        [0.9, 0.1, 0.0],    # 0: pred 0, true 0 (right)
        [0.2, 0.7, 0.1],    # 1: pred 1, true 0 -> 0.7
        [0.05, 0.05, 0.9],  # 2: pred 2, true 1 -> 0.9
        [0.6, 0.3, 0.1],    # 3: pred 0, true 2 -> 0.6
        [0.1, 0.7, 0.2],    # 4: pred 1, true 2 -> 0.7 (tie with 1: lower index first)
        [0.3, 0.3, 0.4],    # 5: pred 2, true 2 (right)
    ])
    y = np.array([0, 0, 1, 2, 2, 2])
    images = np.random.default_rng(12).random((6, 1, 5, 5))
    m = viz.misclassified(images, y, probs, class_names=["a", "b", "c"], k=3)
    np.testing.assert_array_equal(m.indices, [2, 1, 4])
    np.testing.assert_allclose(m.confidence, [0.9, 0.7, 0.7])
    np.testing.assert_array_equal(m.true, [1, 0, 2])
    np.testing.assert_array_equal(m.pred, [2, 1, 1])
    assert m.total == 4
    assert len(image_axes(m.figure)) == 3
    assert image_axes(m.figure)[0].get_title() == "#2 true b\npred c (0.90)"

    logits = np.log(probs + 1e-12) + 3.0  # the same ranking from logits
    ml = viz.misclassified(images[:, 0], y, logits, k=16, logits=True)
    np.testing.assert_array_equal(ml.indices, [2, 1, 4, 3])
    with pytest.raises(ValueError, match=r"misclassified: probs \(shape \(6, 3\)\) must be probabilities .* logits=True"):
        viz.misclassified(images, y, logits)
    with pytest.raises(ValueError, match=r"misclassified: images \(6, 1, 5, 5\), y_true \(5,\) and probs \(6, 3\)"):
        viz.misclassified(images, y[:5], probs)


def test_misclassified_with_no_mistakes():
    m = viz.misclassified(np.zeros((3, 4, 4)), [0, 1, 1], np.array([[0.8, 0.2], [0.1, 0.9], [0.4, 0.6]]))
    assert m.indices.shape == (0,) and m.confidence.shape == (0,) and m.total == 0
    assert not image_axes(m.figure)
    assert "no misclassified images" in m.figure.axes[0].texts[0].get_text()
    assert m.png_bytes()[:8] == PNG_SIGNATURE


# --- the tutorial's line filters ---------------------------------------------------------------
def test_line_filters_demo_matches_scipy_correlate2d():
    from scipy.signal import correlate2d
    from sklearn.datasets import load_sample_image

    demo = viz.line_filters_demo()
    H, W = 427, 640
    assert demo.photos.shape == (2, H, W) and demo.photos.dtype == np.float32
    assert demo.kernels.shape == (2, 1, 7, 7) and demo.maps.shape == (2, 2, H, W)
    vertical = np.zeros((7, 7), np.float32)
    vertical[:, 3] = 1
    np.testing.assert_array_equal(demo.kernels[0, 0], vertical)
    np.testing.assert_array_equal(demo.kernels[1, 0], vertical.T)
    rgb = load_sample_image("flower.jpg").astype(np.float64)
    np.testing.assert_allclose(demo.photos[1], (rgb @ [0.299, 0.587, 0.114]) / 255, atol=1e-6)  # BT.601 luma
    assert 0 <= demo.photos.min() and demo.photos.max() <= 1
    for n in range(2):
        for f in range(2):
            expected = correlate2d(demo.photos[n].astype(np.float64), demo.kernels[f, 0].astype(np.float64), mode="same")
            np.testing.assert_allclose(demo.maps[n, f], expected, rtol=0, atol=2e-6)  # 7 float32 terms <= 1
    assert len(image_axes(demo.figure)) == 6
