"""Every registered model: forward and backward at a small input size and batch 2
(token ids for a text model, one whose builder takes ``vocab_size``).

The per-family test files check architecture details and fidelity; this one guarantees
that no model in the registry is left without a training-mode forward and a backward pass
that reaches every trainable parameter with a finite gradient of the right shape.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import juanji
from juanji.models import get_model, list_models, model_builder

# The smallest inputs each family accepts (C, H, W); 3x32x32 for everything else.
SMALL_INPUT = {
    "simple_convnet": (1, 28, 28), "lenet5": (1, 28, 28), "four_stage_cnn": (1, 28, 28),
    "digits_cnn": (1, 8, 8), "signs_convnet": (3, 64, 64), "alexnet": (3, 63, 63),
    "inception_v3": (3, 75, 75), "xception": (3, 71, 71),
}
TEXT_VOCAB = 50  # the vocabulary of the text models (builders taking vocab_size), fed token ids


def _build(name: str) -> juanji.nn.Module:
    params = inspect.signature(model_builder(name)).parameters
    kwargs = {"num_classes": 3}
    if "vocab_size" in params:  # a text model: token ids in, sized by its vocabulary
        kwargs["vocab_size"] = TEXT_VOCAB
    if "aux_logits" in params and name == "inception_v3":
        kwargs["aux_logits"] = False  # its aux head needs 287x287 inputs; tested in its own file
    return get_model(name, **kwargs)


def _logits_sum(out) -> juanji.Tensor:
    # GoogLeNet returns (logits, aux2, aux1) in training: every head must get a gradient.
    if isinstance(out, tuple):
        total = out[0].sum()
        for extra in out[1:]:
            if extra is not None:
                total = total + extra.sum()
        return total
    return out.sum()


@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_one_step_at_small_input(name):
    juanji.manual_seed(0)
    model = _build(name).train()
    if "vocab_size" in inspect.signature(model_builder(name)).parameters:
        # Token ids (N, L) int64, right-padded with 0 (one sentence shorter than the other).
        ids = np.random.default_rng(0).integers(1, TEXT_VOCAB, (2, 12))
        ids[1, 7:] = 0
        out = model(juanji.tensor(ids))
    else:
        shape = SMALL_INPUT.get(name, (3, 32, 32))
        out = model(juanji.randn(2, *shape))
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape == (2, 3), f"{name}: logits shape {logits.shape}"
    _logits_sum(out).backward()
    for pname, p in model.named_parameters():
        if not p.requires_grad:
            continue
        assert p.grad is not None, f"{name}: no gradient reached {pname}"
        assert p.grad.shape == p.shape and p.grad.dtype == np.float32, f"{name}: {pname}"
        assert np.isfinite(p.grad.data).all(), f"{name}: non-finite gradient in {pname}"
