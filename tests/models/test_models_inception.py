"""Tests of juanji/models/inception.py: GoogLeNet (Inception v1) and Inception v3.

Oracles: torchvision's published parameter counts, torchvision's own GoogLeNet and
Inception3 (state_dict names and shapes, eval-mode logits and auxiliary heads after loading
the same random weights), the paper's loss (numpy cross-entropy), and the architecture's
arithmetic.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

import juanji
import juanji.nn as nn
from juanji.models import get_model, list_models
from juanji.models.inception import (
    GoogLeNet, GoogLeNetOutputs, Inception, Inception3, InceptionOutputs, InceptionV3Aux, googlenet,
    _transform_input, googlenet_loss, inception_v3,
)
from tests.helpers import assert_close, torch_or_skip
from tests.models.zoo_oracle import (  # noqa: F401  (torch_one_thread is a fixture)
    assert_same_outputs, assert_same_state_layout, calibrated_torch_weights, torch_one_thread,
)


@functools.lru_cache(maxsize=None)
def default_model(name: str, aux_logits: bool) -> nn.Module:
    """The 1000-class model, built once per test session, for tests that only read it."""
    return get_model(name, aux_logits=aux_logits)


def torchvision_or_skip() -> Any:
    torch_or_skip()
    return pytest.importorskip("torchvision", reason="torchvision is the oracle for the model zoo")


def numpy_cross_entropy(logits: np.ndarray, target: np.ndarray) -> float:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(target)), target].mean())


# --- GoogLeNet ----------------------------------------------------------------------------------
@pytest.mark.parametrize("aux_logits, expected", [(False, 6_624_904), (True, 13_004_888)])
def test_googlenet_parameter_count(aux_logits: bool, expected: int) -> None:
    assert default_model("googlenet", aux_logits).num_parameters() == expected


def test_models_are_registered() -> None:
    assert {"googlenet", "inception_v3"} <= set(list_models())


def test_inception_module_widths_and_torchvision_quirk() -> None:
    block = Inception(192, 64, 96, 128, 16, 32, 32)
    assert block(juanji.randn(2, 192, 5, 6)).shape == (2, 64 + 128 + 32 + 32, 5, 6)
    # torchvision's "5x5" branch is a 3x3 conv (pytorch/vision#906): kept for weight compatibility.
    assert block.branch3[1].conv.weight.shape == (32, 16, 3, 3)
    assert block.branch2[1].conv.weight.shape == (128, 96, 3, 3)
    assert block.branch4[0].ceil_mode and block.branch1.bn.eps == 0.001


def test_googlenet_training_returns_three_outputs_and_loss_backpropagates() -> None:
    model = googlenet(num_classes=5)
    heads = {}
    for name in ["aux1", "aux2", "fc"]:
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: heads.__setitem__(name, o))
    x = juanji.randn(2, 3, 32, 32)  # the smallest size every ceil-mode pool accepts
    out = model(x)
    assert isinstance(out, GoogLeNetOutputs)
    assert out._fields == ("logits", "aux_logits2", "aux_logits1")
    assert [o.shape for o in out] == [(2, 5), (2, 5), (2, 5)]
    # torchvision's order: (logits, aux2, aux1), aux1 fed by inception4a and aux2 by inception4d.
    assert out.logits is heads["fc"] and out.aux_logits1 is heads["aux1"] and out.aux_logits2 is heads["aux2"]
    target = np.array([1, 4])
    loss = googlenet_loss(out, target)
    expected = numpy_cross_entropy(out.logits.data, target) + 0.3 * (
        numpy_cross_entropy(out.aux_logits1.data, target) + numpy_cross_entropy(out.aux_logits2.data, target))
    assert_close(loss.data, expected, 1e-5, 1e-6, "googlenet_loss vs numpy")
    loss.backward()
    for name in ["conv1.conv.weight", "aux1.fc2.weight", "aux2.conv.conv.weight", "fc.weight"]:
        p = dict(model.named_parameters())[name]
        assert p.grad is not None and np.abs(p.grad.data).sum() > 0, name


def test_googlenet_eval_and_no_aux_return_logits() -> None:
    model = googlenet(num_classes=3, aux_logits=False)
    out = model(juanji.randn(2, 3, 40, 48))
    assert isinstance(out, juanji.Tensor) and out.shape == (2, 3)
    assert model.aux1 is None and model.aux2 is None
    eval_model = default_model("googlenet", True).eval()
    with juanji.no_grad():
        out = eval_model(juanji.randn(1, 3, 32, 32))
    assert isinstance(out, juanji.Tensor) and out.shape == (1, 1000)
    loss = googlenet_loss(out, np.array([7]))  # plain logits: just the cross-entropy
    assert_close(loss.data, numpy_cross_entropy(out.data, np.array([7])), 1e-5, 1e-6, "loss of logits")


def test_googlenet_initialisation() -> None:
    model = default_model("googlenet", True)
    w = model.inception4e.branch2[1].conv.weight.data
    assert abs(w.std() / 0.01 - 1) < 0.02 and np.abs(w).max() < 0.1
    assert np.all(model.inception4e.branch2[1].bn.weight.data == 1)


def test_googlenet_loss_rejects_other_outputs() -> None:
    with pytest.raises(TypeError, match="googlenet_loss: outputs must be a Tensor, GoogLeNetOutputs"):
        googlenet_loss([juanji.randn(2, 3)], np.array([0, 1]))


def test_googlenet_errors() -> None:
    with pytest.raises(ValueError, match="GoogLeNet: num_classes must be a positive int"):
        GoogLeNet(num_classes=-1)
    with pytest.raises(ValueError, match="transform_input needs in_channels=3, got 1"):
        GoogLeNet(transform_input=True, in_channels=1)
    model = googlenet(num_classes=2, aux_logits=False, in_channels=1)
    with pytest.raises(ValueError, match=r"GoogLeNet: expected input of shape \(N, 1, H, W\)"):
        model(juanji.randn(2, 3, 32, 32))


# --- Inception v3 -------------------------------------------------------------------------------
@pytest.mark.parametrize("aux_logits, expected", [(False, 23_834_568), (True, 27_161_264)])
def test_inception_v3_parameter_count(aux_logits: bool, expected: int) -> None:
    assert default_model("inception_v3", aux_logits).num_parameters() == expected


def test_inception_v3_forward_backward_at_minimum_size() -> None:
    model = inception_v3(num_classes=4, aux_logits=False)
    x = juanji.randn(2, 3, 75, 75, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 4)
    out.sum().backward()
    assert x.grad is not None and np.abs(x.grad.data).sum() > 0
    assert all(p.grad is not None for p in model.parameters())


def test_inception_v3_training_at_299_returns_aux_logits() -> None:
    model = default_model("inception_v3", True).train()
    with juanji.no_grad():
        out = model(juanji.randn(2, 3, 299, 299))
    model.eval()
    assert isinstance(out, InceptionOutputs) and out._fields == ("logits", "aux_logits")
    assert out.logits.shape == (2, 1000) and out.aux_logits.shape == (2, 1000)
    assert googlenet_loss(out, np.array([0, 999])).shape == ()


def test_inception_v3_aux_head_backward_and_size_check() -> None:
    head = InceptionV3Aux(768, 6)
    out = head(juanji.randn(2, 768, 17, 17))
    assert out.shape == (2, 6)
    out.sum().backward()
    assert head.conv1.conv.weight.grad is not None
    with pytest.raises(ValueError, match="InceptionV3Aux: needs a feature map of at least 17x17"):
        head(juanji.randn(2, 768, 3, 3))


def test_inception_v3_errors() -> None:
    model = inception_v3(num_classes=2, aux_logits=False)
    with pytest.raises(ValueError, match=r"Inception3: input must be at least 75x75, got shape \(1, 3, 74, 80\)"):
        model(juanji.randn(1, 3, 74, 80))
    with pytest.raises(ValueError, match="Inception3: transform_input needs in_channels=3"):
        Inception3(transform_input=True, in_channels=4)


def test_inception_v3_initialisation() -> None:
    model = default_model("inception_v3", True)
    w = model.Mixed_7c.branch3x3dbl_2.conv.weight.data  # std 0.1 truncated to [-2, 2]
    assert abs(w.std() / 0.1 - 1) < 0.02
    assert abs(model.AuxLogits.fc.weight.data.std() / 0.001 - 1) < 0.05


# --- torchvision --------------------------------------------------------------------------------
def test_transform_input_equals_torchvision(torch_one_thread: Any) -> None:
    torch = torch_one_thread
    torchvision = torchvision_or_skip()
    tv_model = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False,
                                            transform_input=True)
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 5)).astype(np.float32)
    expected = tv_model._transform_input(torch.from_numpy(x)).numpy()
    assert_close(_transform_input(juanji.tensor(x)).data, expected, 1e-6, 1e-6, "transform_input")
    model = googlenet(num_classes=3, aux_logits=False, transform_input=True).eval()
    plain = googlenet(num_classes=3, aux_logits=False).eval()
    plain.load_state_dict(model.state_dict())
    with juanji.no_grad():
        got = model(juanji.tensor(np.resize(x, (2, 3, 32, 32)))).data
        want = plain(juanji.tensor(tv_model._transform_input(torch.from_numpy(np.resize(x, (2, 3, 32, 32))))
                                   .numpy())).data
    assert_close(got, want, 1e-5, 1e-6, "GoogLeNet(transform_input=True)")


def test_googlenet_state_dict_logits_and_aux_heads_equal_torchvision(torch_one_thread: Any) -> None:
    """Same state_dict names and shapes; same eval logits and aux head outputs from the same weights."""
    torch = torch_one_thread
    torchvision = torchvision_or_skip()
    torch.manual_seed(0)
    tv_model = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)
    ours = googlenet()
    assert_same_state_layout(ours, tv_model)
    rng = np.random.default_rng(2)
    batch = rng.standard_normal((16, 3, 64, 72)).astype(np.float32)
    feats = rng.standard_normal((16, 528, 14, 14)).astype(np.float32)
    calibrated_torch_weights(torch, tv_model, batch)  # eval mode: the aux heads do not run
    calibrated_torch_weights(torch, tv_model.aux2, feats)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in tv_model.state_dict().items()})
    ours.eval()
    assert_same_outputs(torch, ours, tv_model, batch[:2], "googlenet logits")
    assert_same_outputs(torch, ours.aux2, tv_model.aux2, feats[:2], "googlenet aux2 (eval)")


def test_inception_v3_state_dict_logits_and_aux_head_equal_torchvision(torch_one_thread: Any) -> None:
    """Same state_dict names and shapes; same eval logits and aux head outputs from the same weights."""
    torch = torch_one_thread
    torchvision = torchvision_or_skip()
    torch.manual_seed(0)
    tv_model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=True)
    ours = inception_v3()
    assert_same_state_layout(ours, tv_model)
    rng = np.random.default_rng(3)
    batch = rng.standard_normal((16, 3, 75, 83)).astype(np.float32)
    feats = rng.standard_normal((16, 768, 17, 17)).astype(np.float32)  # the aux head's 17x17 input
    calibrated_torch_weights(torch, tv_model, batch)  # eval mode: the aux head does not run
    calibrated_torch_weights(torch, tv_model.AuxLogits, feats)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in tv_model.state_dict().items()})
    ours.eval()
    assert_same_outputs(torch, ours, tv_model, batch[:2], "inception_v3 logits")
    assert_same_outputs(torch, ours.AuxLogits, tv_model.AuxLogits, feats[:2], "inception_v3 aux head (eval)")
