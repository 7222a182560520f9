"""The batch-last layout (juanji/kernels/layout.py): an (N, C, *spatial) array stored as
(C, *spatial, N), which the convolutions of short rows produce and pass on.

Every op must give the same values and gradients whichever layout its input has; the ops on
a batch-last network's path (conv, ReLU, batch norm, tiling max pool, add, cat, flatten)
must also hand the layout on, forward and backward, so no layer pays a transposing copy.
"""

from __future__ import annotations

import numpy as np
import pytest

import juanji
import juanji.functional as F
import juanji.nn as nn
from juanji.kernels.layout import empty_as, from_batch_last, is_batch_last, to_batch_last, zeros_as
from juanji.models import get_model


def batch_last(a: np.ndarray) -> np.ndarray:
    return from_batch_last(to_batch_last(a))


def test_layout_helpers():
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    b = batch_last(a)
    assert is_batch_last(b) and not is_batch_last(a)
    assert b.shape == a.shape and np.array_equal(a, b)
    assert to_batch_last(b).base is not None  # a view of b's storage, no copy
    assert np.shares_memory(to_batch_last(b), b)
    assert not is_batch_last(a[:1])  # N = 1: both layouts at once, counted as NCHW
    assert not is_batch_last(np.zeros((4, 3)))  # no spatial axis
    assert is_batch_last(empty_as(b, (2, 7, 4, 5))) and not is_batch_last(empty_as(a, (2, 7, 4, 5)))
    z = zeros_as(b, (2, 7, 4, 5), np.float64)
    assert is_batch_last(z) and z.dtype == np.float64 and not z.any()


OPS = {
    "relu": lambda x: F.relu(x),
    "batch_norm": lambda x: F.batch_norm(x, None, None, juanji.ones(3, dtype=x.dtype), juanji.zeros(3, dtype=x.dtype),
                                         training=True),
    "max_pool_2x2": lambda x: F.max_pool2d(x, 2),
    "max_pool_3x3_s2_pad1": lambda x: F.max_pool2d(x, 3, 2, 1),
    "avg_pool_2x2": lambda x: F.avg_pool2d(x, 2),
    "adaptive_avg_pool": lambda x: F.adaptive_avg_pool2d(x, 1),
    "global_avg_pool": lambda x: F.global_avg_pool2d(x),
    "add_self": lambda x: x + x * 2.0,
    "cat": lambda x: F.cat([x, F.relu(x)], dim=1),
    "flatten": lambda x: x.flatten(1),
    "conv3x3": lambda x: F.conv2d(x, juanji.ones(4, 3, 3, 3, dtype=x.dtype) * 0.1, padding=1),
    "local_response_norm": lambda x: F.local_response_norm(x, 3),
    "dropout_eval": lambda x: F.dropout(x, 0.5, training=False),
}


@pytest.mark.parametrize("op", list(OPS))
def test_ops_give_the_same_values_and_gradients_in_either_layout(op):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((4, 3, 8, 8))
    results = []
    for layout in (lambda a: a, batch_last):
        x = juanji.tensor(layout(data.copy()), requires_grad=True)
        out = OPS[op](x)
        out.backward(juanji.tensor(np.cos(np.arange(out.data.size)).reshape(out.shape)))
        results.append((out.data, x.grad.data))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", ["relu", "batch_norm", "max_pool_2x2", "add_self", "cat", "conv3x3"])
def test_ops_on_the_batch_last_path_keep_the_layout(op):
    x = juanji.tensor(batch_last(np.random.default_rng(1).standard_normal((4, 3, 8, 8))), requires_grad=True)
    out = OPS[op](x)
    assert is_batch_last(out.data), f"{op}: output lost the batch-last layout"
    out.backward(juanji.tensor(batch_last(np.ones(out.shape))))
    assert is_batch_last(x.grad.data), f"{op}: the input gradient lost the batch-last layout"


def test_flatten_hands_the_gradient_back_batch_last():
    x = juanji.tensor(batch_last(np.ones((4, 3, 2, 2))), requires_grad=True)
    x.flatten(1).sum().backward()
    assert is_batch_last(x.grad.data)


def test_resnet_runs_batch_last_from_its_stride_1_stem():
    """A small-image ResNet's stem (3 -> 64 at stride 1) goes batch-last, and every conv,
    norm and activation after it stays so; the training step matches the NCHW route."""
    juanji.manual_seed(0)
    model = get_model("resnet18", num_classes=10, small_input=True)
    x = juanji.randn(4, 3, 16, 16)
    layouts = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.BatchNorm2d, nn.ReLU)):
            module.register_forward_hook(lambda m, i, o, name=name: layouts.__setitem__(name, is_batch_last(o.data)))
    model(x)
    assert layouts and all(layouts.values()), [n for n, v in layouts.items() if not v]
