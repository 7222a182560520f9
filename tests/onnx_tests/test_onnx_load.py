"""juanji.onnx.load: ONNX graphs imported as juanji Modules, checked against ONNX Runtime and PyTorch.

* Zoo models exported by torch.onnx.export (the TorchScript exporter, opset 17, dynamic batch):
  torchvision's resnet18 and googlenet, at 64x64 inputs to keep the file fast (both nets end
  in global average pooling, so the size changes nothing in the ops), run at batch 1 and 3
  against PyTorch and ONNX Runtime; state_dict names and values against torchvision's;
  gradients and training-mode BatchNormalization against PyTorch.
* Every supported op as a small onnx.helper graph, against ONNX Runtime (float32 rounding);
  random Conv and pooling geometries (hypothesis) against ONNX Runtime; the composite ops
  (pads juanji expresses through F.pad, LRN's even window, Where, Gemm's forms) through
  juanji.gradcheck in float64.
* Hostile and wrong files: unsupported ops (all listed), corrupt, truncated and mutated files,
  external data, size mismatches, folds larger than the file, opsets, wrong inputs at forward,
  a missing file.
"""

from __future__ import annotations

import copy
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import juanji
from juanji import Tensor

from tests.helpers import STRICT, assert_close, torch_or_skip

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:
    if STRICT:   # in CI a missing onnx must fail the run, not skip a whole file unseen
        raise
    pytest.skip("onnx is not installed: juanji.onnx.load tests skipped (pip install onnx onnxruntime)",
                allow_module_level=True)

from juanji.onnx import _load_ops  # noqa: E402
from juanji.onnx.load import _RESERVED, ONNXModel, _state_keys, load  # noqa: E402


def ort_or_skip():
    return pytest.importorskip("onnxruntime")


def run_ort(path: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    ort = ort_or_skip()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1   # the machine is shared; one thread is plenty for these sizes
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def close(actual: np.ndarray, expected: np.ndarray, rtol: float, what: str) -> None:
    """Relative agreement with an absolute floor at ``rtol`` of the output's largest value
    (an output near zero where the rest is large is compared at the scale of the rest)."""
    expected = np.asarray(expected)
    floor = rtol * float(np.max(np.abs(expected))) if expected.size else 0.0
    assert_close(actual, expected, rtol=rtol, atol=max(floor, 1e-30), what=what)


# --- zoo models exported by PyTorch ----------------------------------------------------------------
SIZE = 64


def _randomise_batchnorm(model, torch) -> None:
    """Give every BatchNorm distinct statistics and affine values (torchvision's init makes them
    all 0 and 1, which would also let the exporter merge them into shared initializers)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)


def _export(torch, model, path, x, preserve: bool = False) -> str:
    kwargs = {"training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False} if preserve else {}
    torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                      **kwargs)
    return str(path)


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    """torchvision models (eval mode, seed 0) and their exports, made once per test session:
    resnet18 exported as torch does by default (BatchNorm folded into the convolutions) and
    with its BatchNorm layers preserved (initializers named as in the state_dict), googlenet
    (aux_logits=False, init_weights=True) by default."""
    torch = torch_or_skip()
    import torchvision

    d = tmp_path_factory.mktemp("zoo")
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18().eval()
    _randomise_batchnorm(resnet, torch)
    torch.manual_seed(0)
    googlenet = torchvision.models.googlenet(aux_logits=False, init_weights=True).eval()
    _randomise_batchnorm(googlenet, torch)
    x = torch.randn(1, 3, SIZE, SIZE)
    return {
        "resnet18": (resnet, _export(torch, resnet, d / "resnet18.onnx", x)),
        "resnet18_named": (resnet, _export(torch, resnet, d / "resnet18_named.onnx", x, preserve=True)),
        "googlenet": (googlenet, _export(torch, googlenet, d / "googlenet.onnx", x)),
    }


@pytest.mark.parametrize("name", ["resnet18", "resnet18_named", "googlenet"])
def test_zoo_matches_pytorch_and_onnxruntime_at_batch_1_and_3(zoo, name):
    torch = torch_or_skip()
    tmodel, path = zoo[name]
    model = load(path)
    assert isinstance(model, juanji.nn.Module) and not model.training
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3, SIZE, SIZE)).astype(np.float32)
        with juanji.no_grad():
            y = model(x).numpy()
        with torch.no_grad():
            ref = tmodel(torch.from_numpy(x)).numpy()
        (ort_out,) = run_ort(path, {"input": x})
        assert y.shape == (batch, 1000)
        close(y, ref, 1e-4, f"{name} batch {batch} vs PyTorch")
        close(y, ort_out, 1e-4, f"{name} batch {batch} vs ONNX Runtime")


def test_resnet18_state_dict_matches_torchvision_by_name(zoo):
    tmodel, path = zoo["resnet18_named"]
    model = load(path)
    ours = model.state_dict()
    theirs = {k: v.numpy() for k, v in tmodel.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert set(ours) == set(theirs)
    for k, v in theirs.items():
        np.testing.assert_array_equal(ours[k], v, err_msg=k)
    # Kinds as in torchvision: running statistics are buffers, the rest trainable Parameters.
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    assert set(params) == {k for k, _ in tmodel.named_parameters()}
    assert set(buffers) == {k for k in theirs if k.endswith(("running_mean", "running_var"))}
    assert getattr(model.layer1, "0").bn1.running_mean is buffers["layer1.0.bn1.running_mean"]
    assert model.initializer_keys["conv1.weight"] == "conv1.weight"
    # torchvision's own weights load into the import by name.
    perturbed = {k: v + 1.0 for k, v in theirs.items()}
    model.load_state_dict(perturbed)
    np.testing.assert_array_equal(model.state_dict()["fc.bias"], theirs["fc.bias"] + 1.0)


def test_default_export_names_flattened(zoo):
    """torch's default export folds BatchNorm into the convolutions, naming the results
    onnx::Conv_<n>: those become flat, sanitised names; fc keeps its dotted name."""
    _, path = zoo["resnet18"]
    model = load(path)
    keys = list(model.state_dict())
    assert "fc.weight" in keys and "fc.bias" in keys
    onnx_names = [k for k in model.initializer_keys if k.startswith("onnx::Conv_")]
    assert onnx_names and all(model.initializer_keys[k] == k.replace("::", "__") for k in onnx_names)
    assert not list(model.buffers())   # no BatchNormalization left


def test_resnet18_gradients_match_pytorch(zoo):
    torch = torch_or_skip()
    tmodel, path = zoo["resnet18_named"]
    model = load(path)
    x = np.random.default_rng(5).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    r = np.random.default_rng(6).standard_normal((2, 1000)).astype(np.float32)
    xj = Tensor(x.copy(), requires_grad=True)
    (model(xj) * Tensor(r)).sum().backward()
    tm = copy.deepcopy(tmodel)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    (tm(xt) * torch.from_numpy(r)).sum().backward()
    tgrads = dict(tm.named_parameters())
    ours = dict(model.named_parameters())
    assert set(ours) == set(tgrads)
    for name, p in ours.items():   # every conv, BatchNorm and fc parameter
        close(p.grad.numpy(), tgrads[name].grad.numpy(), 1e-4, f"grad of {name}")
    close(xj.grad.numpy(), xt.grad.numpy(), 1e-4, "grad of the input")


def test_training_mode_batchnorm_uses_batch_statistics_as_pytorch(zoo):
    torch = torch_or_skip()
    tmodel, path = zoo["resnet18_named"]
    model = load(path).train()
    tm = copy.deepcopy(tmodel).train()
    x = np.random.default_rng(7).standard_normal((4, 3, SIZE, SIZE)).astype(np.float32)
    y = model(x)
    ref = tm(torch.from_numpy(x))
    close(y.detach().numpy(), ref.detach().numpy(), 1e-4, "train-mode output")
    # The running statistics moved as PyTorch's (ONNX momentum 0.9 = PyTorch momentum 0.1).
    for name in ("bn1.running_mean", "layer2.0.bn2.running_var", "layer4.1.bn2.running_mean"):
        close(model.state_dict()[name], tm.state_dict()[name].numpy(), 1e-4, name)
    # Back in eval mode the updated statistics are used, again as in PyTorch.
    model.eval(), tm.eval()
    with juanji.no_grad():
        y2 = model(x[:1]).numpy()
    with torch.no_grad():
        close(y2, tm(torch.from_numpy(x[:1])).numpy(), 1e-4, "eval after a training step")


def test_wrong_input_shape_names_the_declared_shape(zoo):
    _, path = zoo["resnet18"]
    model = load(path)
    with pytest.raises(ValueError, match=r"input 'input' has shape \(1, 3, 32, 32\) but the graph "
                                         r"expects \(batch, 3, 64, 64\)"):
        model(np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"has shape \(3, 64, 64\)"):
        model(np.zeros((3, SIZE, SIZE), np.float32))
    with pytest.raises(TypeError, match="has dtype int64 but the graph declares float32"):
        model(np.zeros((1, 3, SIZE, SIZE), np.int64))
    with pytest.raises(TypeError, match=r"takes 1 input\(s\) \['input'\], got 2"):
        model(np.zeros((1, 3, SIZE, SIZE), np.float32), np.zeros(1))


def test_truncated_export_is_refused(zoo, tmp_path):
    _, path = zoo["resnet18"]
    data = open(path, "rb").read()
    for cut in (len(data) // 2, len(data) - 7, 100):
        bad = tmp_path / f"cut{cut}.onnx"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=rf"'{bad}' is not a valid ONNX"):
            load(bad)


# --- small models exported by PyTorch: the Shape -> Reshape chain, embeddings ----------------
def test_view_by_batch_size_runs_on_shapes_at_any_batch(tmp_path):
    torch = torch_or_skip()
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)
            self.pool = nn.MaxPool2d(2, ceil_mode=True)
            self.avg = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
            self.drop = nn.Dropout(0.3)
            self.fc = nn.Linear(8 * 5 * 5, 10)

        def forward(self, x):
            x = self.avg(self.pool(nn.functional.leaky_relu(self.bn(self.conv(x)), 0.1)))
            x = x.view(x.size(0), -1)       # Shape -> Gather -> Unsqueeze -> Concat -> Reshape
            return torch.softmax(self.fc(self.drop(x)), dim=1)

    torch.manual_seed(0)
    net = Net().eval()
    _randomise_batchnorm(net, torch)
    path = _export(torch, net, tmp_path / "net.onnx", torch.randn(2, 3, 9, 9))
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert {"Shape", "Gather", "Concat", "Reshape", "AveragePool"} <= ops
    model = load(path)
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 9, 9)).astype(np.float32)
        y = model(x)
        with torch.no_grad():
            close(y.detach().numpy(), net(torch.from_numpy(x)).numpy(), 1e-4, f"batch {batch} vs PyTorch")
        close(y.detach().numpy(), run_ort(path, {"input": x})[0], 1e-4, f"batch {batch} vs ONNX Runtime")
    # The shape arithmetic stayed in NumPy, so the output is on the tape of the parameters.
    (y * Tensor(rnd(3, 10))).sum().backward()
    assert all(p.grad is not None and np.any(p.grad.numpy() != 0) for p in model.parameters())


def test_embedding_text_model_with_integer_ids(tmp_path):
    torch = torch_or_skip()
    nn = torch.nn

    class TextNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(50, 8)
            self.conv = nn.Conv1d(8, 6, 3)
            self.fc = nn.Linear(6, 4)

        def forward(self, ids):
            h = torch.relu(self.conv(self.emb(ids).transpose(1, 2)))
            return self.fc(h.max(dim=2).values)

    torch.manual_seed(0)
    net = TextNet().eval()
    ids = torch.randint(0, 50, (2, 12))
    path = _export(torch, net, tmp_path / "text.onnx", ids)
    model = load(path)
    assert set(model.state_dict()) == set(net.state_dict())
    ids3 = np.random.default_rng(0).integers(0, 50, (3, 12))
    y = model(ids3)
    with torch.no_grad():
        close(y.detach().numpy(), net(torch.from_numpy(ids3)).numpy(), 1e-4, "text model vs PyTorch")
    close(y.detach().numpy(), run_ort(path, {"input": ids3})[0], 1e-4, "text model vs ONNX Runtime")
    (y * Tensor(np.arange(12, dtype=np.float32).reshape(3, 4))).sum().backward()
    tnet = copy.deepcopy(net)
    (tnet(torch.from_numpy(ids3)) * torch.arange(12.0).reshape(3, 4)).sum().backward()
    close(model.emb.weight.grad.numpy(), tnet.emb.weight.grad.numpy(), 1e-4, "embedding gradient")


# --- per-op graphs against ONNX Runtime ----------------------------------------------------------
_ELEM = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE,
         np.dtype(np.int64): TensorProto.INT64, np.dtype(np.int32): TensorProto.INT32,
         np.dtype(np.bool_): TensorProto.BOOL}


def make_model(nodes, inputs, inits=None, outputs=("y",), opset=17, out_types=None, dims=None):
    """A model of ``nodes`` with graph inputs ``{name: array}`` (declared with the arrays' shapes,
    or ``dims`` per name), initializers ``{name: array}``, float outputs unless ``out_types`` says."""
    inits = inits or {}
    out_types = out_types or {}
    dims = dims or {}
    g = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(k, _ELEM[v.dtype], dims.get(k, v.shape)) for k, v in inputs.items()],
        [helper.make_tensor_value_info(o, out_types.get(o, TensorProto.FLOAT), None)
         for o in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
    # ONNX requires declared output shapes; onnx's own shape inference fills them in (a model
    # with an op onnx does not know keeps its outputs as declared).
    try:
        return onnx.shape_inference.infer_shapes(m)
    except onnx.shape_inference.InferenceError:
        return m


def save(model, tmp_path, name="m.onnx"):
    path = str(tmp_path / name)
    onnx.save(model, path)
    return path


def rnd(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def N(op, inputs, outputs=("y",), **attrs):
    return helper.make_node(op, list(inputs), list(outputs), **attrs)


X4 = rnd(2, 4, 7, 8)


def _case(nodes, inputs=None, inits=None, outputs=("y",), opset=17, out_types=None, grad=False, ort=True):
    """One per-op case: ``grad`` also checks it by finite differences, ``ort`` against ONNX Runtime."""
    return dict(nodes=nodes if isinstance(nodes, list) else [nodes], inputs=inputs or {"x": X4},
                inits=inits or {}, outputs=outputs, opset=opset, out_types=out_types, grad=grad, ort=ort)


W = rnd(6, 4, 3, 3, seed=1)
B = rnd(6, seed=2)
I64 = np.int64

CASES = {
    # Conv
    "conv": _case(N("Conv", "xwb"), inits={"w": W, "b": B}),
    "conv_no_bias_strided_dilated": _case(N("Conv", "xw", strides=[2, 1], dilations=[2, 1], pads=[1, 1, 1, 1]),
                                          inits={"w": W}),
    "conv_group": _case(N("Conv", "xwb", group=2, pads=[1, 0, 1, 0]), inits={"w": rnd(6, 2, 3, 3, seed=3), "b": B}),
    "conv_depthwise": _case(N("Conv", "xw", group=4, pads=[1, 1, 1, 1]), inits={"w": rnd(4, 1, 3, 3, seed=3)}),
    "conv_asymmetric_pads": _case(N("Conv", "xwb", pads=[0, 2, 1, 1]), inits={"w": W, "b": B}, grad=True),
    "conv_same_upper": _case(N("Conv", "xw", auto_pad="SAME_UPPER", strides=[2, 2]),
                             inits={"w": rnd(6, 4, 4, 4, seed=4)}),
    "conv_same_lower": _case(N("Conv", "xw", auto_pad="SAME_LOWER", strides=[2, 2]),
                             inits={"w": rnd(6, 4, 4, 4, seed=4)}, grad=True),
    "conv_valid": _case(N("Conv", "xw", auto_pad="VALID", strides=[2, 3]), inits={"w": W}),
    "conv_1d": _case(N("Conv", "xwb", pads=[2, 1], strides=[2]), inputs={"x": rnd(2, 4, 11)},
                     inits={"w": rnd(6, 4, 3, seed=5), "b": B}),
    "conv_3d": _case(N("Conv", "xw", pads=[1, 1, 1, 1, 1, 1]), inputs={"x": rnd(1, 2, 4, 5, 6)},
                     inits={"w": rnd(3, 2, 3, 3, 3, seed=5)}),
    # MaxPool
    "maxpool": _case(N("MaxPool", "x", kernel_shape=[2, 2])),
    "maxpool_strided_padded": _case(N("MaxPool", "x", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    "maxpool_ceil": _case(N("MaxPool", "x", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    "maxpool_ceil_padded_drop": _case(N("MaxPool", "x", kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1],
                                        ceil_mode=1), grad=True),
    "maxpool_asymmetric": _case(N("MaxPool", "x", kernel_shape=[3, 2], strides=[2, 1], pads=[0, 1, 2, 0]), grad=True),
    "maxpool_asymmetric_ceil": _case(N("MaxPool", "x", kernel_shape=[3, 3], strides=[2, 2], pads=[2, 0, 0, 1],
                                       ceil_mode=1), grad=True),
    "maxpool_dilated": _case(N("MaxPool", "x", kernel_shape=[2, 2], dilations=[2, 2], pads=[1, 1, 1, 1])),
    "maxpool_same_upper": _case(N("MaxPool", "x", kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")),
    "maxpool_same_lower": _case(N("MaxPool", "x", kernel_shape=[2, 2], strides=[1, 1], auto_pad="SAME_LOWER"),
                                grad=True),
    "maxpool_valid": _case(N("MaxPool", "x", kernel_shape=[3, 3], strides=[2, 2], auto_pad="VALID")),
    "maxpool_1d": _case(N("MaxPool", "x", kernel_shape=[3], strides=[2], pads=[1, 1]), inputs={"x": rnd(2, 3, 10)}),
    "maxpool_3d": _case(N("MaxPool", "x", kernel_shape=[2, 2, 2]), inputs={"x": rnd(1, 2, 4, 5, 6)}),
    # AveragePool
    "avgpool": _case(N("AveragePool", "x", kernel_shape=[2, 2])),
    "avgpool_pads_exclude": _case(N("AveragePool", "x", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    "avgpool_pads_include": _case(N("AveragePool", "x", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                    count_include_pad=1)),
    "avgpool_ceil_exclude": _case(N("AveragePool", "x", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1,
                                    pads=[1, 1, 1, 1])),
    "avgpool_ceil_include": _case(N("AveragePool", "x", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1,
                                    pads=[1, 1, 1, 1], count_include_pad=1)),
    "avgpool_asymmetric_exclude": _case(N("AveragePool", "x", kernel_shape=[3, 3], strides=[2, 2],
                                          pads=[2, 0, 1, 2]), grad=True),
    "avgpool_asymmetric_include": _case(N("AveragePool", "x", kernel_shape=[3, 3], strides=[2, 2],
                                          pads=[2, 0, 1, 2], count_include_pad=1), grad=True),
    "avgpool_asymmetric_ceil_include": _case(N("AveragePool", "x", kernel_shape=[3, 2], strides=[2, 2],
                                               pads=[0, 1, 1, 0], ceil_mode=1, count_include_pad=1), grad=True),
    "avgpool_same_upper_exclude": _case(N("AveragePool", "x", kernel_shape=[3, 3], strides=[2, 2],
                                          auto_pad="SAME_UPPER")),
    "avgpool_same_lower_include": _case(N("AveragePool", "x", kernel_shape=[4, 4], strides=[1, 1],
                                          auto_pad="SAME_LOWER", count_include_pad=1), grad=True),
    "avgpool_1d": _case(N("AveragePool", "x", kernel_shape=[3], pads=[1, 1]), inputs={"x": rnd(2, 3, 10)}),
    # LpPool and the global pools
    "lppool_p2": _case(N("LpPool", "x", kernel_shape=[2, 2], strides=[2, 2])),
    "lppool_p2_padded": _case(N("LpPool", "x", kernel_shape=[3, 3], pads=[1, 0, 1, 2], p=2), grad=True),
    "lppool_p1": _case(N("LpPool", "x", kernel_shape=[3, 3], strides=[2, 2], p=1)),
    "lppool_p3_ceil": _case(N("LpPool", "x", kernel_shape=[3, 3], strides=[2, 2], p=3, ceil_mode=1), opset=18,
                            grad=True),
    "global_avg": _case(N("GlobalAveragePool", "x")),
    "global_max": _case(N("GlobalMaxPool", "x")),
    "global_avg_1d": _case(N("GlobalAveragePool", "x"), inputs={"x": rnd(2, 3, 10)}),
    # normalisation
    "batchnorm": _case(N("BatchNormalization", ["x", "s", "b", "m", "v"], epsilon=1e-3),
                       inits={"s": rnd(4, seed=1), "b": rnd(4, seed=2), "m": rnd(4, seed=3),
                              "v": np.abs(rnd(4, seed=4)) + 0.5}),
    "lrn_odd": _case(N("LRN", "x", size=3, alpha=0.1, beta=0.75, bias=2.0), grad=True),
    # ONNX Runtime refuses even sizes; test_lrn_even_size_follows_the_onnx_window checks them.
    "lrn_even": _case(N("LRN", "x", size=4, alpha=0.2, beta=0.5, bias=1.5), grad=True, ort=False),
    # activations
    "relu": _case(N("Relu", "x")),
    "leaky_relu": _case(N("LeakyRelu", "x", alpha=0.2)),
    "prelu": _case(N("PRelu", "xs"), inits={"s": rnd(4, 1, 1, seed=1)}, grad=True),
    "elu": _case(N("Elu", "x", alpha=0.5)),
    "selu": _case(N("Selu", "x"), grad=True),
    "sigmoid": _case(N("Sigmoid", "x")),
    "hard_sigmoid": _case(N("HardSigmoid", "x", alpha=0.3, beta=0.4)),
    "hard_swish": _case(N("HardSwish", "x"), opset=17, grad=True),
    "tanh": _case(N("Tanh", "x")),
    "softplus": _case(N("Softplus", "x")),
    "gelu": _case(N("Gelu", "x"), opset=20),
    "gelu_tanh": _case(N("Gelu", "x", approximate="tanh"), opset=20),
    "softmax": _case(N("Softmax", "x", axis=1)),
    "softmax_last": _case(N("Softmax", "x")),
    "softmax_opset11_2d_view": _case(N("Softmax", "x", axis=2), opset=11, grad=True),
    "log_softmax": _case(N("LogSoftmax", "x", axis=-1)),
    "log_softmax_opset11": _case(N("LogSoftmax", "x"), opset=11),
    # products
    "gemm_linear": _case(N("Gemm", "awc", transB=1), inputs={"a": rnd(3, 5)},
                         inits={"w": rnd(4, 5, seed=1), "c": rnd(4, seed=2)}),
    "gemm_all_attributes": _case(N("Gemm", "awc", transA=1, transB=1, alpha=0.5, beta=2.0), inputs={"a": rnd(5, 3)},
                                 inits={"w": rnd(4, 5, seed=1), "c": rnd(3, 4, seed=2)}, grad=True),
    "gemm_no_trans_row_bias": _case(N("Gemm", "awc", alpha=1.5), inputs={"a": rnd(3, 5)},
                                    inits={"w": rnd(5, 4, seed=1), "c": rnd(1, 4, seed=2)}, grad=True),
    "gemm_scalar_c": _case(N("Gemm", "awc", transB=1, beta=-1.0), inputs={"a": rnd(3, 5)},
                           inits={"w": rnd(4, 5, seed=1), "c": np.array(0.25, np.float32)}),
    "gemm_no_c": _case(N("Gemm", "aw", transA=1), inputs={"a": rnd(5, 3)}, inits={"w": rnd(5, 4, seed=1)}),
    "matmul": _case(N("MatMul", "aw"), inputs={"a": rnd(3, 5)}, inits={"w": rnd(5, 4, seed=1)}),
    "matmul_batched": _case(N("MatMul", "ab"), inputs={"a": rnd(2, 3, 5), "b": rnd(5, 4, seed=1)}),
    # elementwise, broadcasting
    "add_broadcast": _case(N("Add", "xc"), inits={"c": rnd(4, 1, 1, seed=1)}),
    "sub_broadcast": _case(N("Sub", "cx"), inits={"c": rnd(8, seed=1)}),
    "mul_broadcast": _case(N("Mul", "xc"), inits={"c": rnd(1, 4, 7, 1, seed=1)}),
    "div_broadcast": _case(N("Div", "xc"), inits={"c": np.abs(rnd(4, 1, 1, seed=1)) + 0.5}),
    "two_inputs_add": _case(N("Add", "xz"), inputs={"x": X4, "z": rnd(7, 8, seed=3)}),
    "pow_scalar": _case(N("Pow", "xc"), inits={"c": np.array(2.0, np.float32)}),
    "pow_tensor": _case(N("Pow", "xc"), inputs={"x": np.abs(X4) + 0.1}, inits={"c": rnd(8, seed=1)}, grad=True),
    "neg": _case(N("Neg", "x")),
    "abs": _case(N("Abs", "x")),
    "sqrt": _case(N("Sqrt", "x"), inputs={"x": np.abs(X4) + 0.1}),
    "exp": _case(N("Exp", "x")),
    "log": _case(N("Log", "x"), inputs={"x": np.abs(X4) + 0.1}),
    "reciprocal": _case(N("Reciprocal", "x"), inputs={"x": np.abs(X4) + 0.1}),
    "clip": _case(N("Clip", ["x", "lo", "hi"]), inits={"lo": np.array(-0.5, np.float32),
                                                     "hi": np.array(0.7, np.float32)}),
    "clip_min_only": _case(N("Clip", ["x", "lo"]), inits={"lo": np.array(0.1, np.float32)}),
    "clip_opset9_attributes": _case(N("Clip", "x", min=-0.2, max=0.3), opset=9),
    "sum_mean_max_min": _case([N("Sum", "xab", ["s"]), N("Mean", "xab", ["m"]), N("Max", "xab", ["hi"]),
                               N("Min", "xab", ["lo"]), N("Concat", ["s", "m", "hi", "lo"], axis=1)],
                              inits={"a": rnd(4, 1, 1, seed=1), "b": rnd(8, seed=2)}, grad=True),
    "where_equal_not": _case([N("Equal", "ab", ["e"]), N("Not", "e", ["ne"]), N("Where", ["ne", "x", "c"])],
                             inits={"a": np.array([[1], [2], [3], [4]], I64).reshape(4, 1, 1),
                                    "b": np.array([2], I64), "c": rnd(7, 8, seed=3)}, grad=True),
    "where_less_greater": _case([N("Less", "xc", ["l"]), N("Greater", "xd", ["g"]), N("Or", "lg", ["o"]),
                                 N("And", "lg", ["a"]), N("Where", ["o", "x", "c"], ["w"]),
                                 N("Where", ["a", "d", "w"])],
                                inits={"c": np.array(-0.3, np.float32), "d": np.array(0.4, np.float32)}),
    "less_or_equal_greater_or_equal": _case([N("LessOrEqual", "xc", ["l"]), N("GreaterOrEqual", "xd", ["g"]),
                                             N("And", "lg", ["a"]), N("Where", ["a", "x", "c"])],
                                            inits={"c": np.array(0.5, np.float32), "d": np.array(-0.5, np.float32)},
                                            grad=True),
    # TextCNN's padding mask as juanji's exporter writes it: positions from Range over the length
    "range_from_shape": _case([N("Shape", "x", ["s"]), N("Gather", ["s", "three"], ["w"]),
                               N("Range", ["zero", "w", "one"], ["r"]), N("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
                               N("Mul", ["x", "rf"])],
                              inits={"three": np.array(3, I64), "zero": np.array(0, I64), "one": np.array(1, I64)},
                              grad=True),
    "range_int_negative_delta": _case([N("Range", ["a", "b", "c"], ["r"]), N("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
                                       N("Add", ["x", "rf"])],
                                      inits={"a": np.array(10, I64), "b": np.array(2, I64), "c": np.array(-1, I64)}),
    "expand": _case([N("Expand", ["c", "shape"], ["e"]), N("Add", ["x", "e"])],
                    inits={"c": rnd(7, 1, seed=4), "shape": np.array([4, 1, 8], I64)}, grad=True),
    # shapes
    "flatten": _case(N("Flatten", "x")),
    "flatten_axis0": _case(N("Flatten", "x", axis=0)),
    "flatten_axis_neg": _case(N("Flatten", "x", axis=-1)),
    "reshape_zero_minus_one": _case(N("Reshape", "xs"), inits={"s": np.array([0, -1, 8], I64)}),
    "transpose": _case(N("Transpose", "x", perm=[0, 2, 3, 1])),
    "transpose_default": _case(N("Transpose", "x")),
    "squeeze_unsqueeze_13": _case([N("Unsqueeze", "xa", ["u"]), N("Squeeze", "ub")],
                                  inits={"a": np.array([0, -1], I64), "b": np.array([0], I64)}),
    "squeeze_unsqueeze_11": _case([N("Unsqueeze", "x", ["u"], axes=[1, 5]), N("Squeeze", "u", axes=[1])], opset=11),
    "squeeze_all": _case(N("Squeeze", "x"), inputs={"x": rnd(1, 3, 1, 4)}),
    "concat": _case(N("Concat", "xc", axis=1), inits={"c": rnd(2, 3, 7, 8, seed=1)}),
    "split_13": _case([N("Split", "xs", ["a", "b"], axis=3), N("Mul", "ab")], inits={"s": np.array([4, 4], I64)}),
    "split_18_num_outputs": _case([N("Split", "x", ["a", "b", "c"], axis=3, num_outputs=3),
                                   N("Concat", "cab", axis=3)], opset=18),
    "split_11_attribute": _case([N("Split", "x", ["a", "b"], axis=2, split=[3, 4]), N("Concat", "ba", axis=2)],
                                opset=11),
    "gather_axis1": _case(N("Gather", "xi", axis=1), inits={"i": np.array([[3, 0], [-1, 1]], I64)}, grad=True),
    "gather_scalar_index": _case(N("Gather", "xi", axis=2), inits={"i": np.array(-2, I64)}),
    "gather_embedding": _case(N("Gather", "ti"), inputs={"i": np.array([[0, 4, 2], [4, 4, 1]], I64)},
                              inits={"t": rnd(5, 3, seed=1)}),
    "slice": _case(N("Slice", ["x", "s", "e", "a", "st"]),
                   inits={"s": np.array([1, -1], I64), "e": np.array([1000, -9], I64),
                          "a": np.array([2, 3], I64), "st": np.array([2, -2], I64)}, grad=True),
    "slice_default_axes": _case(N("Slice", ["x", "s", "e"]), inits={"s": np.array([0, 1], I64),
                                                                 "e": np.array([1, 3], I64)}),
    "slice_opset9_attributes": _case(N("Slice", "x", starts=[1, 0], ends=[3, -1], axes=[1, 3]), opset=9),
    "shape_gather_reshape": _case([N("Shape", "x", ["sh"]), N("Gather", ["sh", "i0"], ["n"], axis=0),
                                   N("Unsqueeze", ["n", "ax"], ["n1"]), N("Concat", ["n1", "m1"], ["s"], axis=0),
                                   N("Reshape", "xs")],
                                  inits={"i0": np.array(0, I64), "ax": np.array([0], I64), "m1": np.array([-1], I64)}),
    "shape_start_end": _case([N("Shape", "x", ["sh"], start=1, end=-1),
                              N("Cast", ["sh"], ["f"], to=TensorProto.FLOAT), N("Mul", "xf")],
                             inputs={"x": rnd(2, 3, 4, 2)}),
    "cast_float_int_float": _case([N("Cast", "x", ["i"], to=TensorProto.INT32),
                                   N("Cast", "i", ["y"], to=TensorProto.FLOAT)], inputs={"x": X4 * 3}),
    "cast_double": _case([N("Cast", "x", ["d"], to=TensorProto.DOUBLE), N("Cast", "d", ["y"], to=TensorProto.FLOAT)]),
    "dropout_identity_constant": _case([N("Dropout", "x", ["d"]), N("Identity", "d", ["i"]),
                                        helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(
                                            rnd(8, seed=1), "c")),
                                        helper.make_node("Constant", [], ["k"], value_float=2.0),
                                        N("Mul", "ic", ["m"]), N("Add", "mk")]),
    "reduce_mean_max_13": _case([N("ReduceMean", "x", ["a"], axes=[1, 3]), N("ReduceMax", "x", ["b"], axes=[1],
                                                                               keepdims=1),
                                 N("ReduceMin", "x", ["c"], axes=[1], keepdims=1),
                                 N("ReduceSum", ["x", "ax"], ["d"], keepdims=0),
                                 N("Concat", "bc", ["bc"], axis=1), N("Mul", ["a", "bc"], ["p"]),
                                 N("Unsqueeze", ["d", "ax"], ["du"]), N("Add", ["p", "du"])],
                                inits={"ax": np.array([1], I64)}, grad=True),
    "reduce_18_inputs": _case([N("ReduceMean", "xa", ["m"]), N("ReduceMax", ["x"], ["mx"], keepdims=0),
                               N("Add", ["m", "mx"])], inits={"a": np.array([-1], I64)}, opset=18),
    "pad_constant": _case(N("Pad", ["x", "p", "v"]), inits={"p": np.array([0, 0, 1, 2, 0, 1, 0, 1], I64),
                                                          "v": np.array(0.5, np.float32)}),
    "pad_negative_crop": _case(N("Pad", ["x", "p"]), inits={"p": np.array([0, 0, -1, 2, 0, 0, 1, -3], I64)}),
    "pad_reflect": _case(N("Pad", ["x", "p"], mode="reflect"), inits={"p": np.array([0, 0, 2, 1, 0, 0, 1, 3], I64)},
                         grad=True),
    "pad_edge_axes_18": _case(N("Pad", ["x", "p", "", "a"], mode="edge"),
                              inits={"p": np.array([1, 2, 3, 0], I64), "a": np.array([-1, 2], I64)}, opset=18),
    "pad_wrap_19": _case(N("Pad", ["x", "p"], mode="wrap"), inits={"p": np.array([0, 0, 2, 1, 0, 0, 1, 3], I64)},
                         opset=19),
    "pad_opset9_attributes": _case(N("Pad", "x", pads=[0, 0, 1, 1, 0, 0, 2, 0], value=-1.0), opset=9),
}


ORT_CASES = [k for k, c in CASES.items() if c["ort"]]


@pytest.mark.parametrize("case", ORT_CASES, ids=ORT_CASES)
def test_op_matches_onnxruntime(case, tmp_path):
    c = CASES[case]
    m = make_model(c["nodes"], c["inputs"], c["inits"], c["outputs"], c["opset"], c["out_types"])
    path = save(m, tmp_path)
    model = load(path)
    with juanji.no_grad():
        ours = model(*c["inputs"].values())
    ref = run_ort(path, dict(c["inputs"]))
    ours = ours if isinstance(ours, tuple) else (ours,)
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert a.numpy().dtype == b.dtype, f"{case} output {i}: dtype {a.numpy().dtype} vs {b.dtype}"
        close(a.numpy(), b, 1e-5, f"{case} output {i}")


GRAD_CASES = [k for k, c in CASES.items() if c["grad"]]


@pytest.mark.parametrize("case", GRAD_CASES, ids=GRAD_CASES)
def test_op_gradients_by_finite_differences(case, tmp_path):
    """The imported graph in float64: d/d(float input) and d/d(every Parameter) by central differences."""
    c = CASES[case]
    m = make_model(c["nodes"], c["inputs"], c["inits"], c["outputs"], c["opset"], c["out_types"])
    model = load(save(m, tmp_path)).double()
    args = []
    for v in c["inputs"].values():
        if v.dtype.kind == "f":
            # Away from kinks (|x| at 0, relu, max ties) so central differences are meaningful.
            v = v.astype(np.float64) + 0.01 * np.sign(v)
            args.append(Tensor(v, requires_grad=True))
        else:
            args.append(Tensor(v))
    params = list(model.parameters())
    k = len(args)
    assert juanji.gradcheck(lambda *ts: model(*ts[:k]), args + params, eps=1e-6, atol=1e-6, rtol=1e-4)


@st.composite
def window_node(draw):
    """A Conv or pooling node over a random 2-D geometry: kernel, strides, dilations (where the
    op has them), asymmetric pads below the kernel (ONNX Runtime's rule for pools),
    ceil_mode, count_include_pad, p; only geometries whose dilated kernel fits the padded input."""
    op = draw(st.sampled_from(["Conv", "MaxPool", "AveragePool", "LpPool"]))
    k = [draw(st.integers(1, 4)) for _ in range(2)]
    s = [draw(st.integers(1, 3)) for _ in range(2)]
    d = [draw(st.integers(1, 2)) for _ in range(2)] if op in ("Conv", "MaxPool") else [1, 1]
    pads = [draw(st.integers(0, kk - 1)) for kk in k + k]
    size = [draw(st.integers(3, 11)) for _ in range(2)]
    assume(all(di * (ki - 1) + 1 <= n + pads[i] + pads[i + 2] for i, (n, ki, di) in enumerate(zip(size, k, d))))
    attrs = {"strides": s, "pads": pads}
    if op in ("Conv", "MaxPool"):
        attrs["dilations"] = d
    if op != "Conv":
        attrs["kernel_shape"] = k
        attrs["ceil_mode"] = draw(st.integers(0, 1))
    if op == "AveragePool":
        attrs["count_include_pad"] = draw(st.integers(0, 1))
    if op == "LpPool":
        attrs["p"] = draw(st.integers(1, 3))
    return op, k, size, attrs


@settings(max_examples=60, deadline=None)
@given(window_node(), st.integers(0, 10 ** 6))
def test_window_geometry_matches_onnxruntime(tmp_path_factory, node, seed):
    """Every combination of pads (asymmetric), strides, dilations, ceil_mode, count_include_pad:
    the native juanji call or the F.pad + crop path, whichever the loader takes, as ONNX Runtime."""
    op, k, size, attrs = node
    x = rnd(2, 3, *size, seed=seed)
    inits = {"w": rnd(4, 3, *k, seed=seed + 1)} if op == "Conv" else {}
    m = make_model([N(op, "xw" if op == "Conv" else "x", **attrs)], {"x": x}, inits,
                   opset=18 if op == "LpPool" else 17)
    path = save(m, tmp_path_factory.mktemp("window"))
    with juanji.no_grad():
        ours = load(path)(x).numpy()
    close(ours, run_ort(path, {"x": x})[0], 1e-5, f"{op} {attrs} on {tuple(x.shape)}")


def test_lrn_even_size_follows_the_onnx_window(tmp_path):
    """ONNX's LRN window for an even size has its extra channel after c (floor((size-1)/2)
    before, ceil((size-1)/2) after), PyTorch's before it. ONNX Runtime refuses even sizes, so
    the import is checked against the specification's sum written out by hand."""
    x = rnd(1, 6, 3, 3)
    m = make_model([N("LRN", "x", size=2, alpha=1.0, beta=1.0, bias=1.0)], {"x": x})
    ours = load(save(m, tmp_path))(x).numpy()
    direct = juanji.functional.local_response_norm(Tensor(x), 2, 1.0, 1.0, 1.0).numpy()
    assert not np.allclose(ours, direct)
    # channel c uses channels c and c + 1 (zero past the last)
    sq = np.concatenate([x * x, np.zeros_like(x[:, :1])], axis=1)
    expected = x / (1.0 + (sq[:, :-1] + sq[:, 1:]) / 2)
    close(ours, expected, 1e-6, "even LRN by hand")


# --- what becomes what: parameters, buffers, constants, names ---------------------------------------
def test_initializer_kinds_and_identity_split(tmp_path):
    """Conv weights -> Parameters, BN statistics -> buffers, shapes -> constants; an Identity of
    an initializer (torch's merged duplicates) becomes a separate tensor under its own name."""
    nodes = [N("Identity", ["conv.weight"], ["conv2.weight"]),
             N("Conv", ["x", "conv.weight"], ["h"], pads=[1, 1, 1, 1]),
             N("BatchNormalization", ["h", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"], ["h2"]),
             N("Conv", ["h2", "conv2.weight"], ["h3"], pads=[1, 1, 1, 1]),
             N("Clip", ["h3", "lo"], ["h4"]),
             N("Reshape", ["h4", "shape"])]
    inits = {"conv.weight": rnd(4, 4, 3, 3, seed=1), "bn.weight": rnd(4, seed=2), "bn.bias": rnd(4, seed=3),
             "bn.running_mean": rnd(4, seed=4), "bn.running_var": np.abs(rnd(4, seed=5)) + 1,
             "lo": np.array(0.0, np.float32), "shape": np.array([2, -1], I64)}
    path = save(make_model(nodes, {"x": X4}, inits), tmp_path)
    model = load(path)
    assert set(dict(model.named_parameters())) == {"conv.weight", "conv2.weight", "bn.weight", "bn.bias"}
    assert set(dict(model.named_buffers())) == {"bn.running_mean", "bn.running_var"}
    assert set(model.state_dict()) == {"conv.weight", "conv2.weight", "bn.weight", "bn.bias", "bn.running_mean",
                                       "bn.running_var"}
    assert model.conv.weight is not model.conv2.weight
    np.testing.assert_array_equal(model.conv.weight.data, model.conv2.weight.data)
    y = model(X4)
    close(y.detach().numpy(), run_ort(path, {"x": X4})[0], 1e-5, "graph with kinds")
    y.sum().backward()
    assert model.conv.weight.grad is not None and model.conv2.weight.grad is not None
    assert not np.array_equal(model.conv.weight.grad.data, model.conv2.weight.grad.data)


def test_name_scheme():
    names = ["conv1.weight", "layer1.0.bn1.running_mean", "a", "a.b", "onnx::Conv_193", "forward",
             "x..y", "1abc", "7", "fc:w", "fc_w", "fc.bias", "train.x", "/conv/Constant_output_0"]
    keys = _state_keys(names, _RESERVED)
    assert keys["conv1.weight"] == "conv1.weight"
    assert keys["layer1.0.bn1.running_mean"] == "layer1.0.bn1.running_mean"
    assert keys["a.b"] == "a.b"
    assert keys["a"] == "a_1"                    # "a" is the module holding "a.b"
    assert keys["onnx::Conv_193"] == "onnx__Conv_193"
    assert keys["forward"] == "forward_1"        # would shadow Module.forward
    assert keys["x..y"] == "x__y"
    assert keys["1abc"] == "_1abc"
    assert keys["7"] == "7"                      # a number is a valid part (Sequential's children)
    assert keys["fc_w"] == "fc_w" and keys["fc:w"] == "fc_w_1"   # kept names come first
    assert keys["fc.bias"] == "fc.bias"
    assert keys["train.x"] == "train_x"          # "train" is a Module method
    assert keys["/conv/Constant_output_0"] == "_conv_Constant_output_0"
    assert len(set(keys.values())) == len(names)


def test_odd_names_register_and_train(tmp_path):
    inits = {"a": rnd(8, seed=1), "a.b": rnd(8, seed=2), "onnx::Mul_3": rnd(8, seed=3)}
    nodes = [N("Add", ["x", "a"], ["h"]), N("Mul", ["h", "a.b"], ["h2"]), N("Mul", ["h2", "onnx::Mul_3"])]
    model = load(save(make_model(nodes, {"x": X4}, inits), tmp_path))
    assert set(model.state_dict()) == {"a_1", "a.b", "onnx__Mul_3"}
    assert model.initializer_keys == {"a": "a_1", "a.b": "a.b", "onnx::Mul_3": "onnx__Mul_3"}
    opt = juanji.optim.SGD(model.parameters(), lr=0.1)
    before = model.state_dict()
    (model(X4) ** 2).sum().backward()
    opt.step()
    after = model.state_dict()
    assert all(not np.array_equal(before[k], after[k]) for k in before)
    assert "onnx__Mul_3" in repr(model)


def test_dropout_drops_only_in_training_mode(tmp_path):
    r = make_model([N("Dropout", ["x", "ratio"])], {"x": np.ones((4, 1000), np.float32)},
                   {"ratio": np.array(0.25, np.float32)}, opset=13)
    model = load(save(r, tmp_path))
    x = np.ones((4, 1000), np.float32)
    np.testing.assert_array_equal(model(x).numpy(), x)
    y = model.train()(x).numpy()
    kept = y != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)


def test_batchnorm_statistics_shared_with_a_parameter_do_not_move(tmp_path):
    """A running statistic that is also a Parameter (one initializer used as both) is used
    in training mode but never overwritten by the running-average update."""
    s = np.abs(rnd(4, seed=1)) + 0.5
    nodes = [N("BatchNormalization", ["x", "s", "b", "b", "s"])]
    model = load(save(make_model(nodes, {"x": X4}, {"s": s, "b": rnd(4, seed=2)}), tmp_path)).train()
    model(X4 * 3 + 1)
    np.testing.assert_array_equal(model.s.data, s)


# --- refusals ---------------------------------------------------------------------------------------
def test_unsupported_ops_all_listed(tmp_path):
    nodes = [N("Relu", "x", ["a"]), N("Resize", "a", ["b"]), N("Foo", "b", ["c"]), N("Foo", "c", ["d"]),
             helper.make_node("FusedConv", ["d"], ["e"], domain="com.microsoft"), N("Erf", "e")]
    m = make_model(nodes, {"x": X4})
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    path = save(m, tmp_path)
    with pytest.raises(ValueError) as e:
        load(path)
    msg = str(e.value)
    assert path in msg and "does not support" in msg
    for part in ("Erf (x1)", "Foo (x2)", "Resize (x1)", "com.microsoft.FusedConv (x1)"):
        assert part in msg
    assert "Relu" not in msg


@pytest.mark.parametrize("content", [b"", b"\x00" * 10, np.random.default_rng(0).bytes(2000), b"onnx" * 100],
                         ids=["empty", "zeros", "random", "text"])
def test_corrupt_files_refused(tmp_path, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"onnx.load: '{path}' is not a valid ONNX"):
        load(path)


def test_mutated_files_load_or_raise_value_error(tmp_path):
    """A bounded fuzz: bytes of small valid models flipped, cut and inserted. Each file either
    loads and runs (an op's error at forward is a ValueError or TypeError naming the node) or is
    refused with a ValueError naming it; nothing else escapes."""
    rng = np.random.default_rng(0)
    models = []
    for name in ("conv_asymmetric_pads", "maxpool_asymmetric_ceil", "shape_gather_reshape", "batchnorm",
                 "gemm_all_attributes", "slice", "where_equal_not"):
        c = CASES[name]
        m = make_model(c["nodes"], c["inputs"], c["inits"], c["outputs"], c["opset"], c["out_types"])
        models.append((m.SerializeToString(), list(c["inputs"].values())))
    path = tmp_path / "fuzz.onnx"
    outcomes = {"loaded": 0, "refused": 0}
    for it in range(210):
        data, inputs = models[it % len(models)]
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            i, how = int(rng.integers(len(b))), int(rng.integers(3))
            if how == 0:
                b[i] = int(rng.integers(256))
            elif how == 1:
                del b[i:i + int(rng.integers(1, 8))]
            else:
                b[i:i] = rng.bytes(int(rng.integers(1, 4)))
        path.write_bytes(bytes(b))
        try:
            model = load(path)
        except ValueError as e:
            assert str(path) in str(e)
            outcomes["refused"] += 1
            continue
        outcomes["loaded"] += 1
        try:
            with np.errstate(all="ignore"):
                model(*inputs)
        except (ValueError, TypeError) as e:
            assert "node" in str(e) or "input" in str(e)
    assert outcomes["loaded"] and outcomes["refused"]


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="no such file: 'nowhere/model.onnx'"):
        load("nowhere/model.onnx")


def test_external_data_refused_without_opening_it(tmp_path):
    m = make_model([N("Add", "xw")], {"x": X4}, {"w": rnd(1000, 8)})
    d = tmp_path / "ext"
    d.mkdir()
    onnx.save_model(m, str(d / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    (d / "weights.bin").unlink()   # were it opened, onnx would fail on the missing file first
    with pytest.raises(ValueError, match="initializer 'w' of the graph in an external file"):
        load(d / "m.onnx")
    # a location pointing outside the model's directory is refused the same way
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2], data_location=TensorProto.EXTERNAL)
    entry = t.external_data.add()
    entry.key, entry.value = "location", "../../../etc/passwd"
    g = make_model([N("Add", "xw")], {"x": rnd(2)})
    g.graph.initializer.append(t)
    with pytest.raises(ValueError, match="external file"):
        load(save(g, tmp_path, "escape.onnx"))


def test_initializer_size_mismatch_refused_before_allocating(tmp_path):
    m = make_model([N("Add", "xw")], {"x": rnd(4)}, {"w": rnd(4)})
    m.graph.initializer[0].raw_data = m.graph.initializer[0].raw_data[:12]
    with pytest.raises(ValueError, match=r"declares 4 values \(dims \[4\]\) for initializer 'w' of the graph "
                                         r"but its data holds 12 bytes"):
        load(save(m, tmp_path, "short.onnx"))
    # Declared dims of 10**12 values with no data: refused by counting, nothing allocated.
    huge = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[10 ** 6, 10 ** 6])
    m2 = make_model([N("Add", "xw")], {"x": rnd(4)})
    m2.graph.initializer.append(huge)
    with pytest.raises(ValueError, match=r"declares 1000000000000 values .* holds 0 values"):
        load(save(m2, tmp_path, "huge.onnx"))
    # The same inside a Constant node's tensor.
    c = helper.make_node("Constant", [], ["w"], value=TensorProto(name="c", data_type=TensorProto.FLOAT,
                                                                  dims=[10 ** 6, 10 ** 6]))
    with pytest.raises(ValueError, match="declares 1000000000000 values"):
        load(save(make_model([c, N("Add", "xw")], {"x": rnd(4)}), tmp_path, "huge_const.onnx"))


@pytest.mark.parametrize("opset", [7, 8, 26])
def test_opset_outside_range_refused(tmp_path, opset):
    path = save(make_model([N("Relu", "x")], {"x": rnd(3)}, opset=opset), tmp_path)
    with pytest.raises(ValueError, match=rf"uses opset {opset}; juanji reads opsets 9 to 25"):
        load(path)


def test_checker_failure_wrapped(tmp_path):
    # Add of a float and an int64 tensor: found by onnx's type inference at load.
    m = make_model([N("Add", "xw")], {"x": X4}, {"w": np.ones(8, I64)})
    with pytest.raises(ValueError, match="is not a valid ONNX model: .*Add"):
        load(save(m, tmp_path))
    # A node reading a value nothing defines.
    m2 = make_model([N("Relu", "q")], {"x": X4})
    with pytest.raises(ValueError, match="is not a valid ONNX model"):
        load(save(m2, tmp_path, "undefined.onnx"))


def test_attributes_juanji_cannot_honour_all_listed(tmp_path):
    nodes = [N("MaxPool", "x", ["a"], kernel_shape=[2, 2], pads=[2, 0, 0, 0]),
             N("AveragePool", "a", ["b"], kernel_shape=[2, 2], dilations=[2, 2]),
             N("MaxPool", "b", ["c", "idx"], kernel_shape=[2, 2]),
             N("Conv", "cw", pads=[0, 0, 5000, 0], name="c"),
             N("MaxPool", "y", ["z"], kernel_shape=[2, 2], auto_pad="VALID", ceil_mode=1)]
    m = make_model(nodes, {"x": rnd(1, 6, 40, 40)}, {"w": rnd(6, 6, 1, 1)}, outputs=("z",), opset=19)
    with pytest.raises(ValueError) as e:
        load(save(m, tmp_path))
    msg = str(e.value)
    assert "node 0 (MaxPool): pads [2, 0, 0, 0] must be >= 0 and smaller than kernel_shape [2, 2]" in msg
    assert "node 1 (AveragePool): dilations [2, 2] are not supported" in msg
    assert "node 2 (MaxPool): the Indices output is not supported" in msg
    assert "node 3 'c' (Conv): pads [0, 0, 5000, 0] exceed 1024 pixels" in msg
    assert "node 4 (MaxPool): auto_pad VALID with ceil_mode=1 is ambiguous" in msg


def test_load_does_not_fold_a_broadcast_larger_than_the_file(tmp_path):
    """Two 3000-long constant vectors added into a 3000 x 3000 matrix (36 MB from 24 kB of file):
    the sum is left to forward, so loading stays small."""
    import tracemalloc

    a, b = rnd(3000, 1, seed=1), rnd(1, 3000, seed=2)
    m = make_model([helper.make_node("Constant", [], ["a"], value=numpy_helper.from_array(a)),
                    helper.make_node("Constant", [], ["b"], value=numpy_helper.from_array(b)),
                    N("Add", "ab", ["s"]), N("Add", "sx")], {"x": rnd(1)})
    path = save(m, tmp_path)
    tracemalloc.start()
    try:
        model = load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2 ** 20, f"load peaked at {peak / 2 ** 20:.1f} MiB"
    np.testing.assert_allclose(model(rnd(1)).numpy(), a + b + rnd(1), rtol=1e-6)


def test_huge_pad_input_refused_at_forward_before_allocating(tmp_path):
    m = make_model([N("Shape", "x", ["s"]), N("Concat", ["s", "s"], ["s8"], axis=0), N("Mul", ["s8", "k"], ["p8"]),
                    N("Pad", ["x", "p8"])],
                   {"x": rnd(1, 1, 2, 2)}, {"k": np.array([10 ** 9], I64)})
    model = load(save(m, tmp_path))
    with pytest.raises(ValueError, match=r"node 3 \(Pad\): pads .* exceed 1024 pixels"):
        model(rnd(1, 1, 2, 2))


def test_conv_channel_mismatch_named_at_forward(tmp_path):
    """onnx's shape inference does not compare Conv's channels; juanji's conv2d does, at forward,
    and the error names the node."""
    m = make_model([N("Conv", "xw", name="stem")], {"x": X4}, {"w": rnd(6, 3, 3, 3)})
    model = load(save(m, tmp_path))
    with pytest.raises(ValueError, match=r"node 0 'stem' \(Conv\): conv2d: input has 4 channels but weight "
                                         r"expects 3"):
        model(X4)


def test_forward_errors_name_the_node(tmp_path):
    m = make_model([N("Relu", "x", ["r"], name="act"), N("Reshape", ["r", "s"], name="to_rows")],
                   {"x": X4}, {"s": np.array([5, -1], I64)}, dims={"x": ["n", 4, 7, 8]})
    model = load(save(m, tmp_path))
    with pytest.raises(ValueError, match=r"node 1 'to_rows' \(Reshape\): cannot reshape an input of shape "
                                         r"\(3, 4, 7, 8\) into \[5, -1\]"):
        model(rnd(3, 4, 7, 8))


def test_two_inputs_and_named_dims(tmp_path):
    m = make_model([N("Add", "ab")], {"a": rnd(2, 3), "b": rnd(2, 3)}, dims={"a": ["n", 3], "b": ["n", 3]})
    model = load(save(m, tmp_path))
    assert model.input_names == ["a", "b"]
    np.testing.assert_allclose(model(rnd(5, 3), rnd(5, 3, seed=1)).numpy(), rnd(5, 3) + rnd(5, 3, seed=1))
    with pytest.raises(ValueError, match="dim 'n' is 5 in input 'a' but 4 in input 'b'"):
        model(rnd(5, 3), rnd(4, 3))


def test_several_outputs_return_a_tuple(tmp_path):
    m = make_model([N("Relu", "x", ["r"]), N("Shape", "x", ["s"])], {"x": X4}, outputs=("r", "s"),
                   out_types={"s": TensorProto.INT64})
    r, s = load(save(m, tmp_path))(X4)
    np.testing.assert_array_equal(r.numpy(), np.maximum(X4, 0))
    np.testing.assert_array_equal(s.numpy(), np.array(X4.shape))


def test_submodules_are_not_callable(zoo):
    model = load(zoo["resnet18_named"][1])
    with pytest.raises(TypeError, match="only holds parameters"):
        model.layer1(np.zeros((1, 64, 8, 8), np.float32))


def test_load_ops_table_is_what_the_docstring_lists():
    # juanji.onnx.load is the function (the package binds it), the module is in sys.modules
    doc = sys.modules["juanji.onnx.load"].__doc__
    table = doc[doc.index("The op table"):doc.index("Shapes computed in the graph")]
    for op in _load_ops.SUPPORTED:
        assert op in table, f"{op} is run but not in the op table"
    assert isinstance(load.__doc__, str) and "Example" in load.__doc__ and issubclass(ONNXModel, juanji.nn.Module)


def test_range_larger_than_the_bound_is_refused(tmp_path):
    """Range(0, 1e12, 1) would make juanji allocate what the file does not hold."""
    from juanji.onnx._load_ops import MAX_RANGE

    nodes = [N("Range", ["a", "b", "c"], ["r"]), N("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
             N("ReduceSum", ["rf"], ["s"], keepdims=0), N("Add", ["x", "s"])]
    m = make_model(nodes, {"x": X4}, inits={"a": np.array(0, I64), "b": np.array(10**12, I64), "c": np.array(1, I64)})
    with pytest.raises(ValueError, match=rf"Range\(0, 1000000000000, 1\) would make 1,000,000,000,000 elements "
                                         rf"\(at most {MAX_RANGE:,}\)"):
        load(save(m, tmp_path))(X4)
