"""juanji -> ONNX -> juanji: every zoo model, exported by ``juanji.onnx.export`` and read back by
``juanji.onnx.load``, gives the logits of the model it came from.

The export tests (test_onnx_export.py) compare each file with ONNX Runtime and the import tests
(test_onnx_load.py) read files written by PyTorch; this closes the circle, so the importer
covers every node the exporter writes (TextCNN's in-graph padding mask included), and an
imported model is a juanji Module that trains: its gradients equal the original's.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import juanji
import juanji.onnx
from juanji.models import model_builder

pytest.importorskip("onnx")

from tests.models.test_models_all import SMALL_INPUT, TEXT_VOCAB  # noqa: E402
from tests.onnx_tests.test_onnx_export import DEEP, HEAVY, _build, _zoo_cases, _zoo_id, assert_matches, juanji_out, lively  # noqa: E402

# The same float32 ops run on both sides, but an imported model may order a sum differently
# (a Gemm's bias, a folded mask): float32 rounding. Over the 50 to 150 layers of the deep
# ResNets, whose random-weight logits reach 1e10, that rounding reaches a few 1e-5 of the
# logits' scale (test_onnx_export.py measures juanji's own float32 against float64 there).
RTOL, FLOOR, DEEP_FLOOR = 1e-4, 1e-5, 3e-4


def _is_text(name: str) -> bool:
    return "vocab_size" in inspect.signature(model_builder(name)).parameters


@pytest.mark.parametrize("case", _zoo_cases(), ids=_zoo_id)
def test_every_model_comes_back_with_the_same_logits(case, tmp_path):
    name, kw = case
    juanji.manual_seed(0)
    model = _build(name, kw)
    rng = np.random.default_rng(2)
    path = tmp_path / f"{name}.onnx"
    if _is_text(name):
        model.eval()
        example = rng.integers(1, TEXT_VOCAB, (2, 12))
        inputs = [rng.integers(1, TEXT_VOCAB, (n, length)).astype(np.int64) for n, length in ((2, 12), (1, 3), (3, 20))]
        for ids in inputs:
            ids[0, ids.shape[1] // 2:] = 0  # a padded sentence: the mask is built from the ids in the graph
    else:
        shape = (1, 32, 32) if kw.get("variant") == "original" and name == "lenet5" else \
            SMALL_INPUT.get(name, (3, 32, 32))
        lively(model, shape)
        example = rng.standard_normal((2, *shape)).astype(np.float32)
        # The heavy models once, at batch 1 (test_onnx_export.py checks their dynamic batch in ORT).
        batches = (1,) if name in HEAVY or name.startswith("vgg") else (2, 1)
        inputs = [rng.standard_normal((n, *shape)).astype(np.float32) for n in batches]
    juanji.onnx.export(model, juanji.tensor(example), path)
    back = juanji.onnx.load(path)
    assert isinstance(back, juanji.nn.Module) and not back.training
    floor = DEEP_FLOOR if name in DEEP else FLOOR
    for x in inputs:
        assert_matches(juanji_out(back, x), juanji_out(model, x), f"{name} {x.shape} round trip", RTOL, floor)


def test_an_imported_model_has_the_original_gradients(tmp_path):
    """The imported LeNet-5's parameters are Parameters under the exported names, and a backward
    pass through it gives the original's gradients (so it can be fine-tuned)."""
    juanji.manual_seed(0)
    model = _build("lenet5", {})
    shape = SMALL_INPUT.get("lenet5", (1, 28, 28))
    lively(model, shape)
    path = tmp_path / "lenet5.onnx"
    juanji.onnx.export(model, juanji.randn(2, *shape), path)
    back = juanji.onnx.load(path)
    x = np.random.default_rng(3).standard_normal((4, *shape)).astype(np.float32)
    grads = []
    for m in (model, back):
        m.zero_grad()
        m(juanji.tensor(x)).sum().backward()
        grads.append({k: p.grad.data.copy() for k, p in m.named_parameters()})
    ours, theirs = grads
    shared = sorted(set(ours) & set(theirs))
    assert shared and set(k for k in ours if k.endswith("weight")) <= set(theirs), (sorted(ours), sorted(theirs))
    for k in shared:
        assert_matches(theirs[k], ours[k], f"gradient of {k}", RTOL, FLOOR)
