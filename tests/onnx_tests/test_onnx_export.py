"""juanji.onnx.export: every model of the zoo and every op, run by ONNX Runtime against juanji.

Each exported file passed ``onnx.checker.check_model(full_check=True)`` inside export (on the
bytes it then wrote); the tests check every written file again, and run it in ONNX Runtime (CPU provider, 2 intra-op threads, the thread count the bench uses) at the
example's batch and at other batch sizes (the batch dim is dynamic).

Inputs: the zoo at test_models_all.py's small sizes (3x32x32 unless listed there), batch 2;
the VGGs with their ``small_input`` classifier, the one they have for 32x32 input (1x1 pool,
512 wide; the full classifier's 1x1 -> 7x7 adaptive pool is AlexNet's 1x1 -> 6x6 here and a
pooling case below). Random weights, with the batch-norm statistics of one random batch, so that
activations neither vanish nor blow up (torchvision's init leaves GoogLeNet's logits equal for
every image). The batch sizes 1 and 3 run on the models that are cheap to run (all but the
AlexNets, VGGs and the ResNets from 34 layers), which between them hold every op of the zoo.

Tolerance. ORT's output equals juanji's within 1e-4 relative, with an absolute floor of 1e-4
of the logits' largest magnitude; 3e-4 for the ResNets of 50 or more layers, whose float32
sums, in a different order on each side (juanji takes Winograd's route for the wide 3x3
convs), drift apart by up to 1.1e-4 of the scale. That drift is rounding, not the export:
``test_deep_model_matches_float64_truth`` checks ORT against juanji in float64.
"""

from __future__ import annotations

import argparse
import inspect
import json
import threading

import numpy as np
import pytest

import juanji
import juanji.onnx
from juanji import autograd, nn
from juanji import functional as F
from juanji.autograd import Function
from juanji.models import get_model, list_models, model_builder
from juanji.onnx import ExportError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from tests.models.test_models_all import SMALL_INPUT, TEXT_VOCAB  # noqa: E402

THREADS = 2
DEEP = {"resnet50", "resnet50_keras", "resnet101", "resnet152", "se_resnet50"}
HEAVY = {"alexnet", "resnet34", "resnet50", "resnet50_keras", "resnet101", "resnet152"}  # + every VGG


# --- helpers -------------------------------------------------------------------------------------
def session(path) -> "ort.InferenceSession":
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # no warnings on stderr
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def juanji_out(model, x: np.ndarray) -> np.ndarray:
    with juanji.no_grad():
        return model(juanji.tensor(x)).numpy()


def assert_matches(got: np.ndarray, ref: np.ndarray, what: str, rtol: float = 1e-4, floor: float = 1e-4) -> None:
    """|got - ref| <= rtol |ref| + floor * max|ref| elementwise, same shape."""
    assert got.shape == ref.shape, f"{what}: ORT shape {got.shape} != juanji {ref.shape}"
    scale = max(float(np.abs(ref).max()), 1e-6)
    err = np.abs(got.astype(np.float64) - ref) - (rtol * np.abs(ref) + floor * scale)
    assert np.isfinite(got).all() == np.isfinite(ref).all(), f"{what}: non-finite values differ"
    assert err.max() <= 0, (f"{what}: max |ORT - juanji| = {np.abs(got - ref).max():.3g} at logit scale "
                            f"{scale:.3g} (rtol {rtol}, floor {floor} of the scale)")


def lively(model: nn.Module, input_shape, seed: int = 0, dtype=np.float32) -> nn.Module:
    """He-normal weights, random biases and affine parameters, and batch-norm statistics taken
    from one random batch (momentum 1), then eval mode."""
    rng = np.random.default_rng(seed)
    for name, p in model.named_parameters():
        d = p.data
        if d.ndim >= 2:
            d[...] = rng.standard_normal(d.shape) * np.sqrt(2.0 / np.prod(d.shape[1:]))
        elif name.endswith("weight"):
            d[...] = rng.uniform(0.5, 1.5, d.shape)
        else:
            d[...] = rng.normal(0.0, 0.2, d.shape)
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 1.0
    model.train()
    with juanji.no_grad():
        model(juanji.tensor(rng.standard_normal((2, *input_shape)).astype(dtype)))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return model.eval()


def roundtrip(module: nn.Module, shape, tmp_path, opset: int = 17, batches=(2, 1, 3), seed: int = 0,
              name: str = "m", rtol: float = 1e-4, floor: float = 1e-5, scale_input: float = 1.0,
              **kwargs) -> "onnx.ModelProto":
    """Export ``module`` (eval) at batch ``batches[0]``, check the file, and compare ORT with
    juanji at every batch size; returns the loaded ModelProto."""
    module.eval()
    rng = np.random.default_rng(seed)
    path = tmp_path / f"{name}.onnx"
    example = (rng.standard_normal((batches[0], *shape)) * scale_input).astype(np.float32)
    written = juanji.onnx.export(module, juanji.tensor(example), path, opset=opset, **kwargs)
    assert written == path and path.is_file()
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    # Every module here keeps the batch first: the tracer must have followed it through each op.
    assert model.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "N", f"{name}: batch axis lost"
    sess = session(path)
    for n in batches:
        x = (rng.standard_normal((n, *shape)) * scale_input).astype(np.float32)
        assert_matches(sess.run(None, {"input": x})[0], juanji_out(module, x), f"{name} batch {n}", rtol, floor)
    return model


def op_types(model: "onnx.ModelProto") -> list[str]:
    return [n.op_type for n in model.graph.node]


class Lambda(nn.Module):
    """A module whose forward is ``fn(x)`` (the op under test), holding any given parameters."""

    def __init__(self, fn, **params) -> None:
        super().__init__()
        self.fn = fn
        for k, v in params.items():
            setattr(self, k, v)

    def forward(self, x):
        return self.fn(self, x)


# --- the zoo -------------------------------------------------------------------------------------------
def _zoo_cases():
    cases = [(name, {}) for name in list_models()]
    for i, (name, kw) in enumerate(cases):
        if name.startswith("vgg"):
            cases[i] = (name, {"small_input": True})
    return cases + [("lenet5", {"variant": "original"}), ("alexnet", {"variant": "original"}),
                    ("resnet18", {"small_input": True})]


def _zoo_id(case) -> str:
    name, kw = case
    return name + "".join(f"-{k}={v}" for k, v in kw.items())


def _build(name: str, kw: dict):
    params = inspect.signature(model_builder(name)).parameters
    kwargs = {"num_classes": 3, **kw}
    if "vocab_size" in params:
        kwargs["vocab_size"] = TEXT_VOCAB
    if name == "inception_v3":
        kwargs["aux_logits"] = False
    return get_model(name, **kwargs)


@pytest.mark.parametrize("case", _zoo_cases(), ids=_zoo_id)
def test_every_model_runs_in_onnxruntime_as_in_juanji(case, tmp_path):
    name, kw = case
    juanji.manual_seed(0)
    model = _build(name, kw)
    rng = np.random.default_rng(1)
    path = tmp_path / f"{name}.onnx"
    if "vocab_size" in inspect.signature(model_builder(name)).parameters:
        model.eval()
        ids = rng.integers(1, TEXT_VOCAB, (2, 12))
        ids[1, 7:] = 0
        juanji.onnx.export(model, juanji.tensor(ids), path)
        onnx.checker.check_model(str(path), full_check=True)
        sess = session(path)
        for n, length in ((2, 12), (1, 3), (3, 20)):  # dynamic batch and sentence length
            ids = rng.integers(1, TEXT_VOCAB, (n, length)).astype(np.int64)
            ids[0, length // 2:] = 0
            assert_matches(sess.run(None, {"input": ids})[0], juanji_out(model, ids), f"{name} {ids.shape}")
        return
    # LeNet-5 1998 is laid out for 32x32 (its builder's default); the rest as test_models_all.py.
    shape = (1, 32, 32) if kw.get("variant") == "original" and name == "lenet5" else SMALL_INPUT.get(name, (3, 32, 32))
    lively(model, shape)
    juanji.onnx.export(model, juanji.randn(2, *shape), path)
    onnx.checker.check_model(str(path), full_check=True)
    model_proto = onnx.load(str(path), load_external_data=False)
    assert [i.name for i in model_proto.graph.input] == ["input"]
    assert [o.name for o in model_proto.graph.output] == ["output"]
    dims = model_proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == list(shape)
    state = model.state_dict()
    inits = {i.name for i in model_proto.graph.initializer}
    convs = [k for k in state if k.endswith("weight") and state[k].ndim == 4 and k in inits]
    assert convs, f"{name}: no conv weight kept its state_dict name"
    del model_proto
    sess = session(path)
    floor = 3e-4 if name in DEEP else 1e-4
    batches = (2,) if name in HEAVY or name.startswith("vgg") else (2, 1, 3)
    for n in batches:
        x = rng.standard_normal((n, *shape)).astype(np.float32)
        ref = juanji_out(model, x)
        if n == 2:  # the comparison can fail: the logits differ from image to image
            assert np.ptp(ref, axis=0).max() > 1e-3 * np.abs(ref).max(), f"{name}: logits equal for every image"
        assert_matches(sess.run(None, {"input": x})[0], ref, f"{name} batch {n}", floor=floor)


def test_deep_model_matches_float64_truth(tmp_path):
    """The slack of DEEP is float32 rounding: ORT is as close to juanji's float64 forward as
    juanji's own float32 forward is (both within 1e-4 of the logit scale)."""
    model = lively(_build("se_resnet50", {}), (3, 32, 32))
    path = juanji.onnx.export(model, juanji.randn(2, 3, 32, 32), tmp_path / "se.onnx")
    x = np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(np.float32)
    ref32 = juanji_out(model, x)
    got = session(path).run(None, {"input": x})[0]
    truth = juanji_out(model.double(), x.astype(np.float64))
    scale = np.abs(truth).max()
    assert np.abs(got - truth).max() <= 1e-4 * scale
    assert np.abs(ref32 - truth).max() <= 1e-4 * scale


def test_textcnn_mask_from_ids_in_the_graph(tmp_path):
    """TextCNN's own graph: lengths and the max-over-time mask come from the ids, so any batch,
    any length (also below the tallest filter), padded rows and an all-padding row match juanji."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((30, 8)).astype(np.float32)
    for variant in ("rand", "multichannel"):
        kw = {"pretrained": vectors} if variant != "rand" else {}
        model = get_model("textcnn", vocab_size=30, num_classes=4, embed_dim=8, num_filters=5,
                          filter_sizes=(2, 4, 5), variant=variant, **kw).eval()
        path = juanji.onnx.export(model, juanji.tensor(rng.integers(1, 30, (2, 9))), tmp_path / f"{variant}.onnx")
        m = onnx.load(str(path))
        dims = m.graph.input[0].type.tensor_type.shape.dim
        assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
        assert [d.dim_param for d in dims] == ["N", "L"]
        assert {"Equal", "Range", "LessOrEqual", "Where", "Gather", "Conv"} <= set(op_types(m))
        sess = session(path)
        for n, length in ((1, 1), (2, 3), (4, 9), (3, 40)):
            ids = rng.integers(1, 30, (n, length)).astype(np.int64)
            for i in range(n):
                ids[i, rng.integers(0, length + 1):] = 0  # right padding, sometimes the whole row
            assert_matches(sess.run(None, {"input": ids})[0], juanji_out(model, ids), f"{variant} {ids.shape}",
                           floor=1e-5)


# --- ops -------------------------------------------------------------------------------------------------
CONV_CASES = {
    "int": (lambda: nn.Conv2d(3, 4, 3, padding=1), (3, 7, 7)),
    "pair": (lambda: nn.Conv2d(3, 4, (3, 5), padding=(1, 2)), (3, 7, 8)),
    "same-odd": (lambda: nn.Conv2d(3, 4, 3, padding="same"), (3, 7, 7)),
    "same-even": (lambda: nn.Conv2d(3, 4, 4, padding="same"), (3, 7, 6)),
    "same-even-stride2": (lambda: nn.Conv2d(3, 4, 4, stride=2, padding="same"), (3, 9, 8)),
    "valid-stride2": (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="valid"), (3, 9, 9)),
    "strides-2x1-nobias": (lambda: nn.Conv2d(3, 4, 3, stride=(2, 1), padding=(0, 1), bias=False), (3, 8, 7)),
    "groups2": (lambda: nn.Conv2d(4, 6, 3, groups=2, padding=1), (4, 6, 6)),
    "depthwise": (lambda: nn.Conv2d(4, 8, 3, groups=4), (4, 6, 6)),
    "dilation2": (lambda: nn.Conv2d(3, 4, 3, dilation=2, padding=2), (3, 9, 9)),
    "stride-wider-than-kernel": (lambda: nn.Conv2d(3, 4, 2, stride=4, padding=1), (3, 11, 10)),
    "conv1d-same-stride2": (lambda: nn.Conv1d(3, 4, 5, stride=2, padding="same"), (3, 11)),
    "conv3d": (lambda: nn.Conv3d(2, 3, 3, padding=1), (2, 4, 5, 5)),
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_padding_groups_dilation_strides(case, tmp_path):
    make, shape = CONV_CASES[case]
    m = roundtrip(make(), shape, tmp_path, name=case)
    assert "Conv" in op_types(m)


def test_same_padding_is_explicit_and_asymmetric(tmp_path):
    m = roundtrip(nn.Conv2d(1, 1, 4, padding="same"), (1, 6, 6), tmp_path)
    conv = next(n for n in m.graph.node if n.op_type == "Conv")
    pads = next(a for a in conv.attribute if a.name == "pads").ints
    assert list(pads) == [1, 1, 2, 2]  # TensorFlow: total 3, the extra pixel at the bottom/right


POOL_CASES = {
    "max2": (lambda: nn.MaxPool2d(2), (3, 8, 8)),
    "max3-s2-p1": (lambda: nn.MaxPool2d(3, stride=2, padding=1), (3, 8, 8)),
    "max3-s2-ceil": (lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True), (3, 8, 8)),
    "max2-same": (lambda: nn.MaxPool2d(2, stride=2, padding="same"), (3, 7, 7)),
    "max-dilated-ceil-pad-ge-kernel": (lambda: nn.MaxPool2d(2, stride=4, dilation=3, ceil_mode=True), (2, 5, 5)),
    "max1d": (lambda: nn.MaxPool1d(3, stride=2, padding=1), (3, 9)),
    "max3d": (lambda: nn.MaxPool3d(2), (2, 4, 4, 4)),
    "avg3-s2-p1": (lambda: nn.AvgPool2d(3, stride=2, padding=1), (3, 8, 8)),
    "avg3-s2-p1-exclude": (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (3, 8, 8)),
    "avg3-s2-p1-ceil": (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), (3, 8, 8)),
    "avg3-s2-p1-ceil-exclude": (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True,
                                                      count_include_pad=False), (3, 8, 8)),
    "avg2-same": (lambda: nn.AvgPool2d(2, padding="same"), (3, 7, 7)),
    "avg-divisor-override": (lambda: nn.AvgPool2d(3, stride=2, padding=1, divisor_override=5), (3, 7, 7)),
    "avg1d-ceil": (lambda: nn.AvgPool1d(3, stride=2, ceil_mode=True), (3, 8)),
    "lp2": (lambda: nn.LPPool2d(2, 2), (3, 8, 8)),
    "lp2-ceil": (lambda: nn.LPPool2d(2, 3, stride=2, ceil_mode=True), (3, 8, 8)),
    "lp3-abs": (lambda: Lambda(lambda s, x: F.lp_pool2d(x.abs(), 3, 2)), (3, 6, 6)),
    "lp-inf": (lambda: nn.LPPool2d(float("inf"), 2), (3, 6, 6)),
    "global-avg": (lambda: nn.GlobalAvgPool2d(), (3, 5, 4)),
    "global-max": (lambda: nn.GlobalMaxPool2d(), (3, 5, 4)),
    "adaptive-avg-1": (lambda: nn.AdaptiveAvgPool2d(1), (3, 5, 7)),
    "adaptive-avg-divisible": (lambda: nn.AdaptiveAvgPool2d(2), (3, 4, 6)),
    "adaptive-avg-one-cell-bins": (lambda: nn.AdaptiveAvgPool2d((7, 3)), (3, 1, 1)),
    "adaptive-avg-uneven": (lambda: nn.AdaptiveAvgPool2d(3), (3, 5, 7)),
    "adaptive-avg-none-dim": (lambda: nn.AdaptiveAvgPool2d((3, None)), (3, 5, 4)),
    "adaptive-avg-1d": (lambda: nn.AdaptiveAvgPool1d(3), (3, 7)),
    "adaptive-max-1": (lambda: nn.AdaptiveMaxPool2d(1), (3, 5, 7)),
    "adaptive-max-divisible": (lambda: nn.AdaptiveMaxPool2d((2, 3)), (3, 4, 6)),
    "adaptive-max-one-cell-bins": (lambda: nn.AdaptiveMaxPool2d(4), (3, 2, 2)),
}


@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pooling(case, tmp_path):
    make, shape = POOL_CASES[case]
    roundtrip(make(), shape, tmp_path, name=case)


def test_pool_node_choices(tmp_path):
    """Native nodes where ONNX's semantics are PyTorch's; the spelled-out forms elsewhere."""
    assert "LpPool" in op_types(roundtrip(nn.LPPool2d(2, 2), (2, 4, 4), tmp_path, name="lp"))
    # |x|^3 is not x^3: odd p is spelled out (on positive input, where PyTorch's p-th root is defined)
    odd = Lambda(lambda s, x: F.lp_pool2d(x.abs(), 3, 2))
    assert "LpPool" not in op_types(roundtrip(odd, (2, 4, 4), tmp_path, name="lp3"))
    assert op_types(roundtrip(nn.AdaptiveAvgPool2d(1), (2, 3, 3), tmp_path, name="g"))[0] == "GlobalAveragePool"
    assert "AveragePool" in op_types(roundtrip(nn.AdaptiveAvgPool2d(2), (2, 4, 4), tmp_path, name="u"))
    assert "MatMul" in op_types(roundtrip(nn.AdaptiveAvgPool2d(3), (2, 5, 5), tmp_path, name="mm"))
    m = roundtrip(nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), (2, 8, 8), tmp_path, name="ceil")
    assert "Div" in op_types(m)  # PyTorch does not count ceil_mode's extra cells: juanji's divisors
    m = roundtrip(nn.MaxPool2d(2, stride=4, dilation=3, ceil_mode=True), (2, 5, 5), tmp_path, name="pad")
    assert op_types(m)[:2] == ["Pad", "MaxPool"]  # a pad as large as the kernel: ORT wants it explicit


def test_adaptive_max_pool_without_fixed_windows_is_refused(tmp_path):
    with pytest.raises(ExportError, match=r"AdaptiveMaxPoolNd in module 'Lambda'.*adaptive_max_pool from \(5, 7\) "
                                          r"to \(3, 3\).*no fixed window"):
        juanji.onnx.export(Lambda(lambda s, x: F.adaptive_max_pool2d(x, 3)).eval(), juanji.randn(2, 3, 5, 7),
                           tmp_path / "a.onnx")
    assert not (tmp_path / "a.onnx").exists()


LRN_CASES = {
    "alexnet-odd": (lambda: nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0), (8, 4, 4), True),
    "size3-default": (lambda: nn.LocalResponseNorm(3), (6, 3, 3), True),
    "even-size": (lambda: nn.LocalResponseNorm(4, alpha=1e-2, beta=0.5, k=1.5), (7, 3, 3), False),
    "3d-input": (lambda: nn.LocalResponseNorm(3, alpha=1e-2), (6, 5), False),
}


@pytest.mark.parametrize("case", sorted(LRN_CASES))
def test_local_response_norm(case, tmp_path):
    """ONNX's LRN window and alpha/size scaling are PyTorch's for odd sizes (checked numerically,
    inputs scaled so the normaliser matters); even sizes and 3-D input are spelled out."""
    make, shape, native = LRN_CASES[case]
    m = roundtrip(make(), shape, tmp_path, name=case, scale_input=10.0)
    assert ("LRN" in op_types(m)) == native


ACTIVATIONS = {
    "relu": nn.ReLU, "relu6": nn.ReLU6, "leaky_relu": lambda: nn.LeakyReLU(0.2), "elu": lambda: nn.ELU(0.7),
    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "softplus": nn.Softplus,
    "softplus-beta2-threshold5": lambda: nn.Softplus(beta=2.0, threshold=5.0),
    "gelu": nn.GELU, "gelu-tanh": lambda: nn.GELU(approximate="tanh"),
    "softmax": lambda: nn.Softmax(dim=1), "log_softmax": lambda: nn.LogSoftmax(dim=-1),
}


@pytest.mark.parametrize("case,opset", [(c, 17) for c in sorted(ACTIVATIONS)]
                         + [("gelu", 20), ("gelu-tanh", 20)])  # opset 20 brings the Gelu node
def test_activations(case, opset, tmp_path):
    m = roundtrip(ACTIVATIONS[case](), (4, 5), tmp_path, opset=opset, name=case, scale_input=4.0)
    if case.startswith("gelu"):
        assert ("Gelu" in op_types(m)) == (opset >= 20)


def _bn(cls, c: int) -> nn.Module:
    bn = cls(c)
    rng = np.random.default_rng(4)
    bn.running_mean.data[...] = rng.normal(0, 1, c)
    bn.running_var.data[...] = rng.uniform(0.2, 3, c)
    bn.weight.data[...] = rng.uniform(0.5, 2, c)
    bn.bias.data[...] = rng.normal(0, 1, c)
    return bn


NORM_CASES = {
    "batch_norm2d": (lambda: _bn(nn.BatchNorm2d, 3), (3, 4, 4), 17),
    "batch_norm1d": (lambda: _bn(nn.BatchNorm1d, 5), (5,), 13),
    "layer_norm-17": (lambda: nn.LayerNorm((4, 5)), (3, 4, 5), 17),
    "layer_norm-13": (lambda: nn.LayerNorm(5), (3, 5), 13),
    "group_norm": (lambda: nn.GroupNorm(2, 4), (4, 3, 3), 17),
}


@pytest.mark.parametrize("case", sorted(NORM_CASES))
def test_normalisation(case, tmp_path):
    make, shape, opset = NORM_CASES[case]
    module = make()
    for p in module.parameters():  # affine parameters away from 1 and 0
        p.data[...] = np.random.default_rng(5).uniform(0.5, 1.5, p.shape)
    m = roundtrip(module, shape, tmp_path, opset=opset, name=case)
    if case.startswith("batch_norm"):
        node = next(n for n in m.graph.node if n.op_type == "BatchNormalization")
        assert list(node.input[1:]) == ["weight", "bias", "running_mean", "running_var"]


W = juanji.nn.Parameter(np.random.default_rng(6).standard_normal((5, 3)).astype(np.float32))
SHAPE_OPS = {
    "slice-channels": lambda s, x: x[:, 1:3],
    "negative-step": lambda s, x: x[:, ::-2],
    "int-index-ellipsis": lambda s, x: x[..., 0],
    "none-and-negative": lambda s, x: x[:, None, -2:, 1::2],
    "integer-array-index": lambda s, x: x[:, [3, 0, 3]],
    "boolean-mask": lambda s, x: x[:, np.array([True, False, True, True, False])],
    "cat-stack": lambda s, x: F.cat([x, F.stack([x, x * 2], dim=1).sum(dim=1)], dim=1),
    "split-chunk": lambda s, x: F.split(x, [2, 3], dim=1)[1] + F.chunk(x, 5, dim=1)[0],
    "pad-constant": lambda s, x: F.pad(x, (1, 2, 0, 1), value=0.5),
    "pad-crop": lambda s, x: F.pad(x, (-1, 2, 1, -2)),
    "pad-reflect": lambda s, x: F.pad(x, (2, 1, 1, 2), mode="reflect"),
    "pad-replicate": lambda s, x: F.pad(x, (2, 1, 1, 2), mode="replicate"),
    "permute-transpose": lambda s, x: x.permute(0, 2, 3, 1).transpose(1, 2),
    "expand": lambda s, x: x[:, :, :1].expand(x.shape[0], 5, 4, 6) * x,
    "flatten-unflatten": lambda s, x: nn.Unflatten(1, (6, 20))(F.flatten(x, 1)),
    "squeeze-unsqueeze": lambda s, x: x[:, :1].squeeze(1).unsqueeze(-1),
    "arith": lambda s, x: ((x - 1) * 2 / (x.abs() + 1) + x ** 2 - (x.abs() + 1).sqrt()).exp().log(),
    "pow-tensor": lambda s, x: (x.abs() + 0.5) ** (x[:, :1] * 0.1),
    "clamp": lambda s, x: x.clamp(-0.5, 0.5) + x.clamp(min=0.2) + x.clamp(max=-0.1),
    "reductions": lambda s, x: (x.mean(dim=(2, 3), keepdim=True) + x.sum(dim=1, keepdim=True)
                                + x.max(dim=3, keepdim=True)),
    "var-min": lambda s, x: x.var(dim=1) + x.min(dim=1),
    "matmul-param": lambda s, x: x.permute(0, 2, 3, 1)[..., :3] @ s.w.T,
    "matmul-broadcast-and-vectors": lambda s, x: F.cat([
        (s.w @ x[:, :3, 0, :]) @ juanji.tensor(np.linspace(-1, 1, 6, dtype=np.float32)),   # (N, 5)
        juanji.tensor(np.linspace(-1, 1, 5, dtype=np.float32)) @ x[:, :, 0, :]], dim=1),   # (N, 6)
    "linear-3d": lambda s, x: F.linear(x.reshape(x.shape[0], 5, 24)[..., :3], s.w, s.w[:, 0]),
    "cast-clone": lambda s, x: x.double().clone().float() * 1.5,
}


@pytest.mark.parametrize("case", sorted(SHAPE_OPS))
def test_tensor_and_shape_ops(case, tmp_path):
    roundtrip(Lambda(SHAPE_OPS[case], w=W), (5, 4, 6), tmp_path, name=case)


def test_circular_pad_needs_opset_19(tmp_path):
    module = Lambda(lambda s, x: F.pad(x, (1, 2), mode="circular"))
    roundtrip(module, (2, 5), tmp_path, opset=19)
    with pytest.raises(ExportError, match="Pad in module 'Lambda'.*circular padding needs.*opset 19"):
        juanji.onnx.export(module, juanji.randn(2, 2, 5), tmp_path / "c.onnx", opset=17)


def test_embedding_with_integer_input(tmp_path):
    """A generic model reading token ids: the input is int64 and Embedding is a Gather."""
    module = Lambda(lambda s, ids: s.emb(ids).mean(dim=1), emb=nn.Embedding(10, 4)).eval()
    ids = np.random.default_rng(0).integers(0, 10, (2, 7))
    path = juanji.onnx.export(module, juanji.tensor(ids), tmp_path / "e.onnx")
    assert onnx.load(str(path)).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    sess = session(path)
    for n in (1, 3):
        x = np.random.default_rng(n).integers(0, 10, (n, 7))
        assert_matches(sess.run(None, {"input": x})[0], juanji_out(module, x), f"embedding batch {n}")


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_opsets(opset, tmp_path):
    """A small net through every opset export supports (reduce axes moved from attribute to input at 18)."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding="same"), _bn(nn.BatchNorm2d, 4), nn.ReLU(),
                        nn.MaxPool2d(2, ceil_mode=True), nn.LocalResponseNorm(3),
                        Lambda(lambda s, x: x.mean(dim=(2, 3)) + x.max(dim=2).sum(dim=2)), nn.Softmax(dim=1))
    m = roundtrip(net, (3, 7, 7), tmp_path, opset=opset)
    assert m.opset_import[0].version == opset


def test_names_of_values_nodes_and_initializers(tmp_path):
    model = lively(get_model("resnet18", num_classes=3), (3, 32, 32))
    path = juanji.onnx.export(model, juanji.randn(1, 3, 32, 32), tmp_path / "r.onnx")
    m = onnx.load(str(path))
    inits = {i.name for i in m.graph.initializer}
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "fc.weight", "fc.bias"} <= inits
    names = [n.name for n in m.graph.node]
    assert "layer1.0.conv1/Conv" in names and "fc/Gemm" in names and len(set(names)) == len(names)
    assert m.graph.node[-1].output[0] == "output"


def test_lenet5_original_folds_the_c3_mask_and_spells_the_rbf(tmp_path):
    model = lively(get_model("lenet5", variant="original"), (1, 32, 32))
    path = juanji.onnx.export(model, juanji.randn(2, 1, 32, 32), tmp_path / "l.onnx")
    m = onnx.load(str(path))
    c3 = next(i for i in m.graph.initializer if i.name == "c3.weight.mul")
    folded = onnx.numpy_helper.to_array(c3)
    np.testing.assert_array_equal(folded, model.c3.weight.data * model.c3.mask.data)
    assert (folded[~model.c3.mask.data.astype(bool)[:, :, 0, 0]] == 0).all()  # 36 unconnected kernels are 0
    assert op_types(m)[-4:] == ["Sub", "Mul", "ReduceSum", "Neg"]


# --- what export refuses ------------------------------------------------------------------------------------
class Cube(Function):
    """A user's op juanji's exporter has never heard of."""

    def forward(self, x):
        return x ** 3

    def backward(self, g):
        return g


class WithCustomOp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 2, 3), Lambda(lambda s, x: Cube.apply(x)))

    def forward(self, x):
        return self.body(x).sum(dim=(2, 3))


def test_unsupported_op_names_the_function_and_its_module(tmp_path):
    with pytest.raises(ExportError, match=r"WithCustomOp uses 1 op\(s\) with no ONNX form: Cube in module "
                                          r"'body\.1': no ONNX mapping for [\w.]*test_onnx_export\.Cube"):
        juanji.onnx.export(WithCustomOp().eval(), juanji.randn(2, 1, 5, 5), tmp_path / "x.onnx")
    assert autograd._trace_hook is None  # the tracer is gone after a failure too


def test_training_mode_is_refused(tmp_path):
    model = get_model("lenet5")
    with pytest.raises(ExportError, match=r"LeNet5 is in training mode; call model\.eval\(\) first"):
        juanji.onnx.export(model, juanji.randn(1, 1, 28, 28), tmp_path / "t.onnx")
    model.eval()
    model.c1.train()
    with pytest.raises(ExportError, match=r"module 'c1' is.*call model\.eval\(\) first"):
        juanji.onnx.export(model, juanji.randn(1, 1, 28, 28), tmp_path / "t.onnx")


def test_wrong_example_shape_names_the_shape(tmp_path):
    with pytest.raises(ExportError, match=r"LeNet5 cannot run on the example input of shape \(2, 3, 28, 28\) "
                                          r"\(float32\): ValueError: LeNet5: expected input of shape"):
        juanji.onnx.export(get_model("lenet5").eval(), juanji.randn(2, 3, 28, 28), tmp_path / "s.onnx")
    with pytest.raises(ExportError, match=r"TextCNN takes token ids.*shape \(2, 5\) and dtype float32"):
        juanji.onnx.export(get_model("textcnn", vocab_size=9).eval(), juanji.randn(2, 5), tmp_path / "t.onnx")


def test_values_computed_with_numpy_are_refused(tmp_path):
    """A mask made from x.data with NumPy would be frozen into the graph: refused, not silently wrong."""
    module = Lambda(lambda s, x: x * juanji.tensor((x.data > 0).astype(np.float32)))
    with pytest.raises(ExportError, match=r"Mul in module 'Lambda': a constant of shape \(2, 3\).*batch size 2.*"
                                          r"computed from the input outside juanji's ops"):
        juanji.onnx.export(module.eval(), juanji.randn(2, 3), tmp_path / "n.onnx")
    constant_out = Lambda(lambda s, x: juanji.tensor(x.data * 2))
    with pytest.raises(ExportError, match="does not depend on the input through juanji ops"):
        juanji.onnx.export(constant_out.eval(), juanji.randn(2, 3), tmp_path / "n.onnx")


def test_textcnn_traced_generically_is_refused_not_frozen(tmp_path):
    """A TextCNN subclass is not TextCNN's own graph: traced, its NumPy mask would be a constant
    of the example's shape; export catches that instead of writing a graph frozen to one input."""

    class MyTextCNN(juanji.models.TextCNN):
        pass

    model = MyTextCNN(vocab_size=20, num_classes=2, embed_dim=4, num_filters=3).eval()
    with pytest.raises(ExportError, match=r"Add in module 'MyTextCNN': a constant of shape \(2, 1, 8\)"):
        juanji.onnx.export(model, juanji.tensor(np.ones((2, 10), dtype=np.int64)), tmp_path / "t.onnx")


def test_reshape_merging_the_batch_needs_a_static_batch(tmp_path):
    module = Lambda(lambda s, x: x.reshape(-1) * 2)
    with pytest.raises(ExportError, match=r"reshape from \(2, 3\) to \(6,\) merges the batch dim.*dynamic_batch=False"):
        juanji.onnx.export(module.eval(), juanji.randn(2, 3), tmp_path / "r.onnx")
    path = juanji.onnx.export(module, juanji.randn(2, 3), tmp_path / "r.onnx", dynamic_batch=False)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [2, 3]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(session(path).run(None, {"input": x})[0], x.reshape(-1) * 2)


def test_dropout_forced_into_training_and_losses_are_refused(tmp_path):
    module = Lambda(lambda s, x: F.dropout(x, 0.5, training=True))
    with pytest.raises(ExportError, match="Dropout in module 'Lambda': dropout ran in training mode"):
        juanji.onnx.export(module.eval(), juanji.randn(2, 3), tmp_path / "d.onnx")
    module = Lambda(lambda s, x: F.cross_entropy(x, np.array([0, 1])))
    with pytest.raises(ExportError, match="CrossEntropy in module 'Lambda': a loss is not part of an inference graph"):
        juanji.onnx.export(module.eval(), juanji.randn(2, 3), tmp_path / "d.onnx")


def test_bad_arguments(tmp_path):
    model = get_model("digits_cnn").eval()
    with pytest.raises(ValueError, match="opset must be between 13 and 21, got 12"):
        juanji.onnx.export(model, juanji.randn(1, 1, 8, 8), tmp_path / "o.onnx", opset=12)
    with pytest.raises(TypeError, match="model must be a juanji.nn.Module"):
        juanji.onnx.export(lambda x: x, juanji.randn(1, 1, 8, 8), tmp_path / "o.onnx")
    with pytest.raises(TypeError, match="example_input must be a juanji.Tensor or numpy.ndarray, got list"):
        juanji.onnx.export(model, [[1.0]], tmp_path / "o.onnx")


def test_failed_export_leaves_an_existing_file_alone(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"the previous model")
    with pytest.raises(ExportError):
        juanji.onnx.export(WithCustomOp().eval(), juanji.randn(2, 1, 5, 5), path)
    assert path.read_bytes() == b"the previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary file left


def test_tracing_is_per_thread_and_off_afterwards(tmp_path):
    """A forward in another thread during an export is not recorded; outside an export the hook is None."""
    started, release = threading.Event(), threading.Event()

    class Waits(nn.Module):
        def forward(self, x):
            started.set()
            release.wait(10)
            return F.relu(x)

    def other() -> None:
        started.wait(10)
        with juanji.no_grad():
            F.sigmoid(juanji.randn(3))  # runs while the export's tracer is installed
        release.set()

    t = threading.Thread(target=other)
    t.start()
    path = juanji.onnx.export(Waits().eval(), juanji.randn(2, 3), tmp_path / "w.onnx")
    t.join()
    assert op_types(onnx.load(str(path))) == ["Relu"]
    assert autograd._trace_hook is None


# --- the CLI helper ---------------------------------------------------------------------------------------------
def _export_args(*argv: str) -> argparse.Namespace:
    from juanji.onnx._cli import add_export_parser

    parser = argparse.ArgumentParser()
    add_export_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["export", *argv])


def test_cli_exports_a_trained_run(tmp_path, capsys):
    from juanji.cli import _load_model, main
    from juanji.onnx._cli import cmd_export

    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    out = tmp_path / "digits.onnx"
    capsys.readouterr()
    assert cmd_export(_export_args(str(run / "weights.safetensors"), "--out", str(out))) == 0
    assert capsys.readouterr().out.strip() == str(out)
    onnx.checker.check_model(str(out), full_check=True)
    model, meta = _load_model(str(run / "weights.safetensors"), None)
    x = np.random.default_rng(0).random((5, *meta["input_shape"])).astype(np.float32)
    assert_matches(session(out).run(None, {"input": x})[0], juanji_out(model, x), "digits run")


def test_cli_exports_a_text_run(tmp_path):
    from juanji.cli import main
    from juanji.onnx._cli import cmd_export

    rng = np.random.default_rng(0)
    words = {"pets": "cat dog bird fish".split(), "colours": "red blue green black".split()}
    lines = ["text\tlabel"] + [" ".join(rng.choice(words[c], rng.integers(1, 8))) + f"\t{c}"
                               for c in ["pets", "colours"] * 20]
    (tmp_path / "tiny.tsv").write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "tiny.tsv"), "--epochs", "1", "--out", str(run), "--quiet",
                 "--embed-dim", "8", "--num-filters", "4"]) == 0
    out = tmp_path / "text.onnx"
    assert cmd_export(_export_args(str(run / "weights.safetensors"), "--out", str(out), "--opset", "13")) == 0
    m = onnx.load(str(out))
    assert m.opset_import[0].version == 13 and m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    from juanji import cli

    weights = run / "weights.safetensors"
    model = cli._load_text_model(str(weights), None, cli.read_weights_meta(weights))[0]
    ids = np.array([[1, 2, 3, 0, 0], [4, 0, 0, 0, 0]], dtype=np.int64)
    assert_matches(session(out).run(None, {"input": ids})[0], juanji_out(model, ids), "text run")


def test_cli_errors(tmp_path):
    from juanji.cli import CLIError
    from juanji.onnx._cli import cmd_export

    with pytest.raises(CLIError, match="no such file"):
        cmd_export(_export_args(str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "m.onnx")))
    weights, wrong = tmp_path / "w.safetensors", tmp_path / "wrong.safetensors"
    state = get_model("digits_cnn").state_dict()
    meta = {"model": "digits_cnn", "classes": json.dumps([str(i) for i in range(10)]), "input_shape": "[1, 8, 8]"}
    juanji.io.save(state, weights, metadata=meta)
    juanji.io.save(state, wrong, metadata={**meta, "classes": '["a", "b"]'})
    with pytest.raises(CLIError, match="digits_cnn cannot take these weights"):
        cmd_export(_export_args(str(wrong), "--out", str(tmp_path / "m.onnx")))
    with pytest.raises(CLIError, match="directory .* does not exist"):
        cmd_export(_export_args(str(weights), "--out", str(tmp_path / "nowhere" / "m.onnx")))
    with pytest.raises(CLIError, match="is a directory"):
        cmd_export(_export_args(str(weights), "--out", str(tmp_path)))
    with pytest.raises(CLIError, match="opset must be between 13 and 21"):
        cmd_export(_export_args(str(weights), "--out", str(tmp_path / "m.onnx"), "--opset", "9"))
    assert not (tmp_path / "m.onnx").exists()
