"""End to end: a small CNN learns scikit-learn's 8x8 digits, and float32 stays float32."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import juanji
import juanji.functional as F
import juanji.nn as nn

ROOT = Path(__file__).resolve().parents[1]


def _example():
    pytest.importorskip("sklearn", reason="scikit-learn provides the bundled digits (pip install -e '.[train]')")
    spec = importlib.util.spec_from_file_location("train_digits", ROOT / "examples" / "train_digits.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_digits_cnn_reaches_95_percent_held_out():
    # The README's main job, run as a test: conv-relu-pool x2, linear, Adam.
    _, acc = _example().train(epochs=12, verbose=False, seed=0)
    assert acc >= 0.95, f"held-out accuracy {acc:.3f} < 0.95"


def test_training_is_bit_identical_for_the_same_seed():
    ex = _example()
    m1, _ = ex.train(epochs=1, verbose=False, seed=3)
    m2, _ = ex.train(epochs=1, verbose=False, seed=3)
    for (n1, a), (n2, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert n1 == n2
        np.testing.assert_array_equal(a, b)


def test_float32_network_never_creates_float64_arrays(monkeypatch):
    """Every array an op returns in forward or backward of a float32 network is float32."""
    seen: list[str] = []
    original_apply = juanji.Function.apply.__func__

    def spy_apply(cls, *args, **kwargs):
        out = original_apply(cls, *args, **kwargs)
        if out.dtype.kind == "f" and out.dtype != np.float32:
            seen.append(f"{cls.__name__} forward -> {out.dtype}")
        ctx = out._ctx
        if ctx is not None:
            backward = ctx.backward

            def checked_backward(g, _backward=backward, _name=cls.__name__):
                grads = _backward(g)
                for gi in grads if isinstance(grads, tuple) else (grads,):
                    if gi is not None and gi.dtype != np.float32:
                        seen.append(f"{_name} backward -> {gi.dtype}")
                return grads

            ctx.backward = checked_backward
        return out

    monkeypatch.setattr(juanji.Function, "apply", classmethod(spy_apply))
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding="same", groups=8), nn.LocalResponseNorm(3), nn.ELU(),
        nn.AvgPool2d(2), nn.Dropout(0.5), nn.Flatten(), nn.Linear(8 * 2 * 2, 10),
    )
    x = juanji.randn(4, 3, 8, 8)
    loss = F.cross_entropy(model(x), juanji.tensor([1, 2, 3, 4]), label_smoothing=0.1)
    loss.backward()
    assert loss.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    assert not seen, seen
