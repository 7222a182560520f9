"""Shared oracle helpers for the zoo tests: torchvision models with calibrated random weights.

Used by tests/models/test_models_resnet.py, test_models_inception.py and test_models_cifar_resnet.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import juanji
import juanji.nn as nn
from tests.helpers import assert_close, torch_or_skip


@pytest.fixture
def torch_one_thread() -> Any:
    """torch on one thread for the oracle tests, restored afterwards.

    On a small shared machine torch's thread pool spins for far longer than these small
    convolutions take (measured: 6 s of CPU for an Inception v3 build + forward, 0.5 s on one
    thread).
    """
    torch = torch_or_skip()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(before)


def calibrated_torch_weights(torch: Any, tv_model: Any, calib: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Give a torchvision model random BatchNorm parameters and running statistics; return its state_dict.

    BN weights and biases are drawn at random (so a swapped name cannot pass). The running
    statistics are set during one eval-mode forward of ``calib`` (the test input), layer by
    layer: each BN takes the mean and variance of its own input, perturbed (variance times a
    factor in [0.8, 1.25], mean shifted by 0.1 std) so that batch statistics cannot pass for
    running ones. Activations then stay of order 1 through the whole depth and a 1e-4
    comparison is meaningful; independent random statistics would grow them geometrically
    (to ~1e9 for Inception v3), and float32 rounding with them.
    """
    rng = np.random.default_rng(seed)

    def set_statistics(bn: Any, inputs: tuple) -> None:
        x = inputs[0]
        mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
        noise = torch.from_numpy(rng.standard_normal(bn.num_features).astype(np.float32))
        factor = torch.from_numpy(rng.uniform(0.8, 1.25, bn.num_features).astype(np.float32))
        bn.running_mean.copy_(mean + 0.1 * var.sqrt() * noise)
        bn.running_var.copy_(var * factor)

    handles = []
    with torch.no_grad():
        for m in tv_model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, m.num_features).astype(np.float32)))
                m.bias.copy_(torch.from_numpy((0.1 * rng.standard_normal(m.num_features)).astype(np.float32)))
                handles.append(m.register_forward_pre_hook(set_statistics))
        tv_model.eval()
        tv_model(torch.from_numpy(calib))
    for handle in handles:
        handle.remove()
    return {k: v.detach().numpy().copy() for k, v in tv_model.state_dict().items()}


def assert_same_outputs(torch: Any, ours: Any, theirs: Any, x: np.ndarray, what: str) -> None:
    """Our module against torchvision's on ``x``, both in eval mode, in float64 and float32.

    float64: within 1e-9 of the outputs' scale (max |output|, at least 1): only the same
    arithmetic gets there. float32: within 1e-4 of that scale, or within 3 times torch's own
    float32 rounding error (torch float32 vs torch float64) where that is larger: with random
    weights, Inception v3's logits move by ~3e-4 of their scale in torch itself.
    """
    with torch.no_grad():
        expected64 = theirs.double()(torch.from_numpy(x).double()).numpy()
        expected = theirs.float()(torch.from_numpy(x)).numpy()
    with juanji.no_grad():
        got64 = ours.double()(juanji.tensor(x.astype(np.float64))).data
        got = ours.float()(juanji.tensor(x)).data
    scale = max(1.0, float(np.abs(expected64).max()))
    assert_close(got64, expected64, 0.0, 1e-9 * scale, f"{what} vs torchvision (float64)")
    torch_rounding = float(np.abs(expected - expected64).max())
    assert_close(got, expected, 0.0, max(1e-4 * scale, 3 * torch_rounding), f"{what} vs torchvision (float32)")


def assert_same_state_layout(ours: nn.Module, tv_model: Any) -> None:
    ours_sd, tv_sd = ours.state_dict(), tv_model.state_dict()
    assert list(ours_sd) == list(tv_sd), f"keys differ: {set(ours_sd) ^ set(tv_sd)}"
    for k, v in tv_sd.items():
        assert ours_sd[k].shape == tuple(v.shape), f"{k}: {ours_sd[k].shape} != {tuple(v.shape)}"
