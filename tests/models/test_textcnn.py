"""TextCNN (Kim 2014) and the max-norm constraint.

The model three ways: PyTorch CPU (the same net built in torch from the same weights, with
Kim's nn.Conv2d(C, F, (h, E)) where juanji computes a conv1d), Kim's formula written as
loops over sentences, filters and window positions (float64), and a float64 numerical
gradient. Then the padding rule (a padded batch gives each sentence's logits run alone),
sentences shorter than the filters, the frozen channel under training, Kim's
initialisation, bad inputs; and max_norm_ / MaxNorm against torch.renorm.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import juanji
import juanji.functional as F
import juanji.nn as nn
from juanji.models import TextCNN, get_model, list_models, textcnn
from juanji.nn.utils import MaxNorm, max_norm_
from juanji.optim import Adadelta

from tests.helpers import assert_close, torch_or_skip

V, E, PAD = 11, 5, 0


def _vectors(seed: int = 0, v: int = V, e: int = E) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((v, e))


def _model(variant: str, seed: int = 0, dtype=np.float64, **kwargs) -> TextCNN:
    juanji.manual_seed(seed)
    kw = dict(num_filters=3, filter_sizes=(2, 3, 4), dropout=0.5)
    kw.update(kwargs)
    pretrained = None if variant == "rand" else _vectors(seed + 1, kw.get("vocab_size", V))
    model = textcnn(kw.pop("vocab_size", V), kw.pop("num_classes", 3), embed_dim=None if pretrained is not None
                    else E, variant=variant, pretrained=pretrained, **kw)
    # Random biases and head (Kim's are zero / PyTorch default), so every parameter matters.
    rng = np.random.default_rng(seed + 2)
    for conv in model.convs:
        conv.bias.data = rng.standard_normal(conv.bias.shape) * 0.3
    return model.to(dtype)


def _lengths(ids: np.ndarray, pad: int = PAD) -> list[int]:
    """Kim's length, by a loop: one past the last non-padding token."""
    out = []
    for row in ids:
        n = 0
        for i, token in enumerate(row):
            if token != pad:
                n = i + 1
        out.append(n)
    return out


def _naive_logits(model: TextCNN, ids: np.ndarray) -> np.ndarray:
    """Kim's equations (1)-(3) per sentence, filter and window, zero vectors for padding."""
    tables = [model.embedding.weight.data]
    if model.variant == "multichannel":
        tables.append(model.embedding_static.weight.data)
    out = []
    for row, n in zip(ids, _lengths(ids)):
        feats = []
        for h, conv in zip(model.filter_sizes, model.convs):
            w, b = conv.weight.data, conv.bias.data  # (F, C, h, E), (F,)
            span = max(n, h)  # a sentence shorter than h is padded with zero vectors to h
            x = np.zeros((len(tables), span, w.shape[3]))
            for c, table in enumerate(tables):
                for i in range(span):
                    token = row[i] if i < len(row) else PAD
                    x[c, i] = table[token] if token != PAD else 0.0
            for f in range(w.shape[0]):
                best = -math.inf
                for t in range(span - h + 1):
                    s = b[f]
                    for c in range(w.shape[1]):
                        for k in range(h):
                            for e in range(w.shape[3]):
                                s += w[f, c, k, e] * x[c, t + k, e]
                    best = max(best, max(s, 0.0))
                feats.append(best)
        out.append(model.fc.weight.data @ np.array(feats) + model.fc.bias.data)
    return np.array(out)


def _torch_net(torch, model: TextCNN):
    """The same net in torch: Kim's Conv2d(C, F, (h, E)) over (N, C, L, E), -inf beyond each
    sentence's last window, every parameter a leaf holding juanji's values."""
    to = lambda a, grad=True: torch.tensor(np.array(a), requires_grad=grad)  # noqa: E731
    params = {name: to(p.data, p.requires_grad) for name, p in model.named_parameters()}

    def forward(ids: np.ndarray):
        hmax = max(model.filter_sizes)
        lengths = torch.tensor(_lengths(ids))
        if ids.shape[1] < hmax:
            ids = np.concatenate([ids, np.full((ids.shape[0], hmax - ids.shape[1]), PAD)], axis=1)
        t_ids = torch.tensor(ids)
        x = torch.nn.functional.embedding(t_ids, params["embedding.weight"], padding_idx=PAD)
        chans = [x]
        if model.variant == "multichannel":
            chans.append(torch.nn.functional.embedding(t_ids, params["embedding_static.weight"], padding_idx=PAD))
        x = torch.stack(chans, dim=1)  # (N, C, L', E)
        feats = []
        for i, h in enumerate(model.filter_sizes):
            y = torch.relu(torch.nn.functional.conv2d(x, params[f"convs.{i}.weight"], params[f"convs.{i}.bias"]))
            y = y.squeeze(3)  # (N, F, T)
            t = torch.arange(y.shape[2])
            valid = t[None, :] <= (torch.clamp(lengths, min=h) - h)[:, None]
            y = y.masked_fill(~valid[:, None, :], float("-inf"))
            feats.append(y.max(dim=2).values)
        z = torch.cat(feats, dim=1)
        return torch.nn.functional.linear(z, params["fc.weight"], params["fc.bias"])

    return forward, params


BATCHES = {
    "mixed lengths": np.array([[3, 4, 5, 6, 7, 0, 0], [1, 2, 0, 0, 0, 0, 0], [8, 9, 10, 1, 2, 3, 4],
                               [5, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0], [2, 0, 3, 0, 4, 0, 0]]),
    "shorter than every filter": np.array([[4, 5], [6, 0]]),
    "one token": np.array([[7]]),
}


@pytest.mark.parametrize("variant", ["rand", "static", "non-static", "multichannel"])
@pytest.mark.parametrize("batch", sorted(BATCHES))
def test_forward_backward_match_torch(variant, batch) -> None:
    torch = torch_or_skip()
    ids = BATCHES[batch]
    model = _model(variant, dtype=np.float32).eval()
    forward, tparams = _torch_net(torch, model)
    out = model(juanji.tensor(ids))
    tout = forward(ids)
    assert out.dtype == np.float32 and out.shape == (len(ids), 3)
    assert_close(out.data, tout.detach().numpy(), 1e-5, 1e-6, f"{variant} logits")
    cot = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    out.backward(cot)
    tout.backward(torch.tensor(cot))
    for name, p in model.named_parameters():
        tp = tparams[name]
        if not p.requires_grad:
            assert p.grad is None and tp.grad is None, name
            continue
        assert p.grad is not None, f"{variant}: no gradient for {name}"
        assert_close(p.grad.data, tp.grad.numpy(), 1e-4, 1e-5, f"{variant} gradient of {name}")
    if model.embedding.weight.requires_grad:
        assert not model.embedding.weight.grad.data[PAD].any()  # the padding row is never trained


@pytest.mark.parametrize("variant", ["rand", "multichannel"])
def test_forward_matches_kims_formula_written_as_loops(variant) -> None:
    model = _model(variant).eval()
    for ids in BATCHES.values():
        assert_close(model(ids).data, _naive_logits(model, ids), 1e-11, 1e-12, f"{variant} vs loops")


@pytest.mark.parametrize("variant", ["rand", "multichannel"])
def test_gradcheck_every_parameter(variant) -> None:
    # Lengths >= the tallest filter: windows that start in the padding exist but are masked,
    # and no window reads the padding row (which by design gets no gradient).
    model = _model(variant, num_filters=2, filter_sizes=(2, 3), num_classes=2, dropout=0.0)
    model.embedding.weight.data[PAD] = 0
    ids = np.array([[3, 4, 5, 6, 0, 0], [1, 2, 9, 0, 0, 0], [8, 9, 10, 1, 2, 3]])
    params = [p for p in model.parameters() if p.requires_grad]
    assert juanji.gradcheck(lambda *ps: model(ids), params, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 2e-6)])
@pytest.mark.parametrize("variant", ["rand", "multichannel"])
def test_padded_batch_gives_each_sentence_its_logits_alone(variant, dtype, tol) -> None:
    """Equal up to the rounding of a GEMM of another size (bit-equal is not promised)."""
    model = _model(variant, dtype=dtype).eval()
    ids = BATCHES["mixed lengths"]
    batch = model(ids).data
    for i, (row, n) in enumerate(zip(ids, _lengths(ids))):
        alone = model(row[None, :n]).data  # no padding at all (n = 0: an empty sentence)
        assert_close(batch[i], alone[0], tol, tol, f"sentence {i} (length {n}) alone")
        wider = model(np.concatenate([row, np.zeros(9, dtype=row.dtype)])[None]).data  # more padding
        assert_close(batch[i], wider[0], tol, tol, f"sentence {i} with more padding")
    # The mask is what makes this hold: a window starting in the padding would win otherwise.
    model.convs[0].bias.data[:] = 50.0  # padding windows (bias only) now beat every real one
    model.embedding.weight.data[1:] *= -1
    assert_close(model(ids).data[0], model(ids[:1, :5]).data[0], tol, tol, "with large biases")


def test_sentences_shorter_than_the_filters() -> None:
    model = _model("rand").eval()  # filters of height 2, 3, 4
    empty = model(np.zeros((1, 0), dtype=np.int64))
    assert empty.shape == (1, 3) and np.isfinite(empty.data).all()
    assert_close(empty.data, model(np.zeros((1, 6), dtype=np.int64)).data, 1e-13, 1e-13, "empty vs all padding")
    # A one-token sentence: each filter's only window holds the token then zero vectors.
    one = model(np.array([[7]])).data
    assert_close(one, _naive_logits(model, np.array([[7, 0, 0, 0]])), 1e-11, 1e-12, "one token")
    model.train()
    out = model(np.array([[7], [3]]))
    out.sum().backward()
    assert all(p.grad is not None and np.isfinite(p.grad.data).all() for p in model.parameters())


def _train_steps(model: TextCNN, steps: int = 4) -> None:
    opt = Adadelta(model.parameters(), rho=0.95)
    constraint = model.max_norm_constraint()
    ids = BATCHES["mixed lengths"]
    target = juanji.tensor(np.array([0, 1, 2, 0, 1, 2]))
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(ids), target).backward()
        opt.step()
        constraint(model)


def test_multichannel_frozen_channel_stays_bit_equal_while_the_other_moves() -> None:
    model = _model("multichannel", dtype=np.float32).train()
    static0 = model.embedding_static.weight.data.copy()
    tuned0 = model.embedding.weight.data.copy()
    np.testing.assert_array_equal(static0, tuned0)  # two copies of the same vectors
    assert not model.embedding_static.weight.requires_grad and model.embedding.weight.requires_grad
    _train_steps(model)
    np.testing.assert_array_equal(model.embedding_static.weight.data, static0)
    moved = np.abs(model.embedding.weight.data - tuned0).max(axis=1)
    used = np.unique(BATCHES["mixed lengths"])
    assert (moved[used[used != PAD]] > 0).all(), "every used word's fine-tuned vector moves"
    assert moved[PAD] == 0 and not model.embedding.weight.data[PAD].any()


def test_static_never_changes_and_non_static_does() -> None:
    static, tuned = _model("static", dtype=np.float32), _model("non-static", dtype=np.float32)
    before = static.embedding.weight.data.copy()
    np.testing.assert_array_equal(before, tuned.embedding.weight.data)
    _train_steps(static)
    _train_steps(tuned)
    np.testing.assert_array_equal(static.embedding.weight.data, before)
    assert not np.array_equal(tuned.embedding.weight.data, before)
    assert static.convs[0].weight.grad is not None  # the rest of the static model trains


def test_kims_initialisation() -> None:
    juanji.manual_seed(0)
    model = textcnn(5000, 2)  # Kim's sizes: E 300, filters 3, 4, 5, 100 each
    w = model.embedding.weight.data
    assert w.shape == (5000, 300) and w.dtype == np.float32
    assert not w[PAD].any()
    rows = np.delete(w, PAD, axis=0)
    assert rows.min() >= -0.25 and rows.max() <= 0.25
    assert abs(rows.std() - 0.25 / math.sqrt(3)) < 0.002  # U[-a, a] has sd a / sqrt(3)
    for h, conv in zip((3, 4, 5), model.convs):
        assert conv.weight.shape == (100, 1, h, 300)
        bound = math.sqrt(6 / (1 * h * 300 + 100 * h * 300))  # Xavier-uniform: fan_in C h E, fan_out F h E
        assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.weight.data).max() > 0.99 * bound
        assert not conv.bias.data.any()
    assert model.fc.weight.shape == (2, 300) and model.dropout.p == 0.5 and model.max_norm == 3.0
    vectors = _vectors(3, 6, 4).astype(np.float32)
    pre = textcnn(6, 2, variant="non-static", pretrained=vectors)
    np.testing.assert_array_equal(pre.embedding.weight.data[1:], vectors[1:])
    assert not pre.embedding.weight.data[PAD].any() and vectors[PAD].any()  # a copy, padding row zeroed
    assert pre.embedding.embedding_dim == 4 and pre.convs[0].weight.shape == (100, 1, 3, 4)


def test_registered_with_its_state_dict_names() -> None:
    assert "textcnn" in list_models()
    model = get_model("textcnn", vocab_size=20, num_classes=4, variant="multichannel",
                      pretrained=_vectors(0, 20, 6), num_filters=2)
    assert isinstance(model, TextCNN)
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        "embedding.weight": (20, 6), "embedding_static.weight": (20, 6),
        "convs.0.weight": (2, 2, 3, 6), "convs.0.bias": (2,), "convs.1.weight": (2, 2, 4, 6), "convs.1.bias": (2,),
        "convs.2.weight": (2, 2, 5, 6), "convs.2.bias": (2,), "fc.weight": (4, 6), "fc.bias": (4,)}


BAD_INPUTS = [
    (np.array([[1, 2, 11]]), ValueError,
     r"TextCNN: token id 11 is out of range for a vocabulary of 11 \(valid ids 0..10; input shape \(1, 3\)\)"),
    (np.array([[1, -2, 3]]), ValueError, r"TextCNN: token id -2 is out of range for a vocabulary of 11"),
    (np.array([[1.0, 2.0]]), TypeError, r"TextCNN: input must hold integer token ids \(int64\), got dtype float64"),
    (juanji.tensor([[1.0, 2.0]]), TypeError, r"TextCNN: input must hold integer token ids \(int64\), got dtype "
                                             r"float32 \(shape \(1, 2\)\)"),
    (np.array([1, 2, 3]), ValueError, r"TextCNN: input must be a batch of token ids of shape \(N, L\), got shape "
                                      r"\(3,\) \(add the batch dim: ids\[None\]\)"),
    (np.ones((2, 3, 4), dtype=np.int64), ValueError, r"TextCNN: input must be a batch of token ids of shape "
                                                     r"\(N, L\), got shape \(2, 3, 4\)"),
    ([[1, 2]], TypeError, r"TextCNN: input must be token ids, a juanji.Tensor or ndarray of shape \(N, L\), got list"),
]


@pytest.mark.parametrize("ids,exc,match", BAD_INPUTS)
def test_bad_input_is_a_clear_error(ids, exc, match) -> None:
    with pytest.raises(exc, match=match):
        _model("rand")(ids)


BAD_BUILDS = [
    (dict(variant="random"), r"textcnn: variant must be one of 'rand', 'static', 'non-static', 'multichannel', "
                             r"got 'random'"),
    (dict(variant="static"), r"textcnn: variant 'static' needs pretrained vectors, a \(V, E\) array"),
    (dict(variant="rand", pretrained=np.zeros((10, 3))), r"textcnn: variant 'rand' learns its vectors"),
    (dict(variant="non-static", pretrained=np.zeros((9, 3))),
     r"textcnn: pretrained has 9 rows \(shape \(9, 3\)\) but vocab_size is 10"),
    (dict(variant="non-static", pretrained=np.zeros((10, 3)), embed_dim=4),
     r"textcnn: pretrained vectors have width 3 \(shape \(10, 3\)\) but embed_dim is 4"),
    (dict(variant="non-static", pretrained=np.zeros(10)), r"textcnn: pretrained must be a 2-D numeric \(V, E\) "
                                                          r"array, got shape \(10,\)"),
    (dict(variant="static", pretrained=np.full((10, 3), np.nan)), r"textcnn: pretrained vectors hold NaN"),
    (dict(filter_sizes=()), r"textcnn: filter_sizes must be a non-empty list of ints >= 1, got \(\)"),
    (dict(filter_sizes=(3, 0)), r"textcnn: filter_sizes entry must be an int >= 1, got 0"),
    (dict(num_filters=0), r"textcnn: num_filters must be an int >= 1, got 0"),
    (dict(padding_idx=10), r"textcnn: padding_idx must be an int in \[0, 9\], got 10"),
    (dict(max_norm=0), r"textcnn: max_norm must be a number > 0 or None, got 0"),
    (dict(num_classes=0), r"textcnn: num_classes must be an int >= 1, got 0"),
]


@pytest.mark.parametrize("kwargs,match", BAD_BUILDS)
def test_bad_builder_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        textcnn(10, **{"num_classes": 2, **kwargs})


# --- max-norm ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,dim,p", [((4, 6), 0, 2.0), ((4, 6), 1, 2.0), ((4, 6), -1, 1.0),
                                          ((3, 2, 5), 1, 2.0), ((5, 2, 3, 3), 0, 3.0), ((6, 1), 0, 2.0),
                                          ((4, 6), 0, math.inf)])
def test_max_norm_matches_torch_renorm(shape, dim, p, dtype) -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(7)
    w = rng.standard_normal(shape).astype(dtype)
    w *= rng.uniform(0.2, 2.0, w.shape[dim]).reshape([-1 if i == dim % w.ndim else 1 for i in range(w.ndim)])
    slices = np.moveaxis(w, dim, 0).reshape(w.shape[dim], -1)
    true_norms = np.linalg.norm(slices.astype(np.float64), ord=p, axis=1)
    limit = float(np.median(np.unique(true_norms)[:2]))  # between the two smallest: some kept, some rescaled
    expected = torch.renorm(torch.tensor(w), p, dim, limit).numpy()
    t = juanji.Tensor(w.copy())
    buf = t.data
    norms = max_norm_(t, limit, dim=dim, norm_type=p)
    assert t.data is buf and t.dtype == dtype  # in place
    tol = 1e-12 if dtype == np.float64 else 2e-6
    assert_close(t.data, expected, tol, tol, f"max_norm_ {shape} dim={dim} p={p}")
    assert_close(norms, true_norms, 1e-6, 1e-9, "norms")
    assert (norms > limit).any() and (norms < limit).any(), "the case must rescale some slices and keep others"
    kept = norms <= limit
    np.testing.assert_array_equal(np.moveaxis(t.data, dim, 0)[kept], np.moveaxis(w, dim, 0)[kept])


def test_max_norm_on_a_linear_is_kims_constraint_on_class_rows() -> None:
    torch = torch_or_skip()
    fc = nn.Linear(8, 3)
    fc.weight.data *= 20
    before = fc.weight.data.copy()
    max_norm_(fc, 3.0)
    np.testing.assert_allclose(fc.weight.data, torch.renorm(torch.tensor(before), 2, 0, 3.0).numpy(), rtol=2e-6)
    assert np.all(np.linalg.norm(fc.weight.data.astype(np.float64), axis=1) <= 3.0 * (1 + 1e-6))  # float32
    assert np.allclose(np.linalg.norm(fc.weight.data, axis=1), 3.0, rtol=1e-6)


def test_maxnorm_object_after_each_step() -> None:
    model = _model("rand", dtype=np.float32, num_filters=20)
    model.fc.weight.data *= 50  # every row far above s = 3
    constraint = model.max_norm_constraint()
    assert isinstance(constraint, MaxNorm) and constraint.names == ["fc.weight"] and constraint.max_norm == 3.0
    conv_before = model.convs[0].weight.data.copy()
    norms = constraint(model)
    assert set(norms) == {"fc.weight"} and (norms["fc.weight"] > 3).all()
    assert np.all(np.linalg.norm(model.fc.weight.data.astype(np.float64), axis=1) <= 3.0 * (1 + 1e-6))  # float32
    np.testing.assert_array_equal(model.convs[0].weight.data, conv_before)  # filters are not constrained
    _train_steps(model, steps=2)  # the helper applies it after every step
    assert np.all(np.linalg.norm(model.fc.weight.data.astype(np.float64), axis=1) <= 3.0 * (1 + 1e-6))  # float32
    assert _model("rand", max_norm=None).max_norm_constraint() is None


@pytest.mark.parametrize("call,exc,match", [
    (lambda: max_norm_(juanji.zeros(3, 3), 0.0), ValueError, r"max_norm_: max_norm must be a number > 0, got 0.0"),
    (lambda: max_norm_(juanji.zeros(3, 3), 1.0, dim=2), ValueError,
     r"max_norm_: dim 2 is out of range for weight shape \(3, 3\)"),
    (lambda: max_norm_(juanji.tensor([[1, 2]]), 1.0), TypeError, r"max_norm_: weight must be floating point, got "
                                                                 r"dtype int64"),
    (lambda: max_norm_(nn.ReLU(), 1.0), TypeError, r"max_norm_: weight must be a Tensor or a Module with a "
                                                   r"weight; ReLU has no Tensor 'weight'"),
    (lambda: max_norm_(juanji.zeros(3, 2), 1.0, norm_type=-1), ValueError, r"max_norm_: norm_type must be a number"),
    (lambda: max_norm_(juanji.zeros(3), 1.0), ValueError, r"max_norm_: weight must have at least 2 dimensions "
                                                          r"\(slices to constrain\), got shape \(3,\)"),
    (lambda: MaxNorm([]), ValueError, r"MaxNorm: names must be one parameter name or a non-empty list"),
    (lambda: MaxNorm("fc.weight", max_norm=-3), ValueError, r"MaxNorm: max_norm must be a number > 0, got -3"),
    (lambda: MaxNorm("head.weight")(nn.Linear(2, 2)), ValueError,
     r"MaxNorm: Linear has no parameter 'head.weight'; its parameters: weight, bias"),
])
def test_max_norm_bad_arguments(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call()
