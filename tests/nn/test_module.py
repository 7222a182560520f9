"""Module, Parameter, containers, state_dict, init and gradcheck itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

import juanji
import juanji.nn as nn
from juanji import Tensor


class Affine(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(np.ones((n, n), dtype=np.float32))
        self.bias = nn.Parameter(np.zeros(n, dtype=np.float32))
        self.register_buffer("count", juanji.zeros(1))
        self.register_buffer("scratch", juanji.zeros(2), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.weight + self.bias


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = Affine(3)
        self.blocks = nn.ModuleList([Affine(3), Affine(3)])
        self.heads = nn.ModuleDict({"x": Affine(3)})
        self.seq = nn.Sequential(Affine(3))

    def forward(self, x: Tensor) -> Tensor:
        x = self.a(x)
        for b in self.blocks:
            x = b(x)
        return self.seq(self.heads["x"](x))


def test_registration_and_names_follow_pytorch():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["a.weight", "a.bias", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight",
                     "blocks.1.bias", "heads.x.weight", "heads.x.bias", "seq.0.weight", "seq.0.bias"]
    sd = net.state_dict()
    assert "a.count" in sd and "a.scratch" not in sd
    assert [n for n, _ in net.named_children()] == ["a", "blocks", "heads", "seq"]
    assert len(list(net.modules())) == 9
    assert net.num_parameters() == 5 * 12


def test_shared_parameter_counted_once():
    a = Affine(2)
    seq = nn.Sequential(a, a)
    assert len(list(seq.parameters())) == 2


def test_train_eval_propagates():
    net = Net()
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_backward_through_modules():
    net = Net()
    out = net(juanji.ones(2, 3)).sum()
    out.backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_round_trip_copies():
    a, b = Net(), Net()
    for p in a.parameters():
        p.data[...] = juanji.randn(*p.shape).data
    b.load_state_dict(a.state_dict())
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb
        np.testing.assert_array_equal(pa.data, pb.data)
        assert pa.data is not pb.data
    sd = a.state_dict()
    sd["a.weight"][...] = 99  # a copy: the model is untouched
    assert not (a.a.weight.data == 99).any()


def test_load_state_dict_errors_name_keys_and_shapes():
    net = Net()
    sd = net.state_dict()
    del sd["a.bias"]
    sd["extra.weight"] = np.zeros(3)
    sd["blocks.0.weight"] = np.zeros((4, 3))
    before = net.blocks[0].weight.data.copy()
    with pytest.raises(ValueError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert "missing keys: ['a.bias']" in msg
    assert "unexpected keys: ['extra.weight']" in msg
    assert "blocks.0.weight: shape (4, 3) in the state_dict but (3, 3) in the model" in msg
    np.testing.assert_array_equal(net.blocks[0].weight.data, before)  # nothing modified
    sd["blocks.0.weight"] = np.zeros((3, 3))
    keys = net.load_state_dict(sd, strict=False)
    assert keys.missing_keys == ["a.bias"] and keys.unexpected_keys == ["extra.weight"]


def test_load_keeps_parameter_dtype():
    net = Affine(2)
    net.load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(2), "count": np.zeros(1)})
    assert net.weight.dtype == np.float32


def test_repr_is_a_tree():
    r = repr(nn.Sequential(Affine(2), nn.ModuleList([Affine(2)])))
    assert r.splitlines()[0] == "Sequential("
    assert "(0): Affine()" in r and "(1): ModuleList(" in r and "  (0): Affine()" in r


def test_setattr_before_init_and_wrong_types():
    class Bad(nn.Module):
        def __init__(self) -> None:
            self.x = 1

    with pytest.raises(AttributeError, match="super"):
        Bad()
    m = Affine(2)
    with pytest.raises(TypeError, match="cannot assign ndarray to 'weight'"):
        m.weight = np.zeros((2, 2))
    with pytest.raises(IndexError, match="out of range"):
        nn.Sequential(Affine(2))[3]


def test_forward_hook_sees_output_and_can_be_removed():
    seen = []
    m = Affine(2)
    h = m.register_forward_hook(lambda mod, inp, out: seen.append(out.shape))
    m(juanji.ones(1, 2))
    h.remove()
    m(juanji.ones(1, 2))
    assert seen == [(1, 2)]


def test_module_to_float64():
    m = Affine(2).double()
    assert m.weight.dtype == np.float64 and m.count.dtype == np.float64


# --- init -------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(64, 32), (16, 8, 3, 5)])
def test_init_statistics(shape):
    w = juanji.zeros(*shape)
    fan_in = shape[1] * int(np.prod(shape[2:]))
    fan_out = shape[0] * int(np.prod(shape[2:]))
    nn.init.xavier_uniform_(w)
    b = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w.data).max() <= b and np.abs(w.data).max() > 0.9 * b
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert abs(w.data.std() - math.sqrt(2 / fan_in)) < 0.1 * math.sqrt(2 / fan_in)
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    assert np.abs(w.data).max() <= 1 / math.sqrt(fan_in)
    nn.init.constant_(w, 0.25)
    assert (w.data == 0.25).all() and w.dtype == np.float32


def test_init_gain_table_matches_torch():
    from tests.helpers import torch_or_skip

    torch = torch_or_skip()
    for nl, p in [("relu", None), ("tanh", None), ("leaky_relu", 0.2), ("sigmoid", None), ("linear", None)]:
        assert nn.init.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p))
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        nn.init.calculate_gain("swish")


# --- gradcheck --------------------------------------------------------------------------------
def test_gradcheck_passes_on_correct_and_fails_on_wrong_backward():
    class WrongSquare(juanji.Function):
        def forward(self, a):
            self.save_for_backward(a)
            return a * a

        def backward(self, g):
            (a,) = self.saved
            return g * a  # should be 2a

    x = juanji.randn(3, 2, dtype=np.float64, requires_grad=True)
    assert juanji.gradcheck(lambda t: t * t, [x])
    with pytest.raises(juanji.GradcheckError, match=r"gradient of input 0 \(shape \(3, 2\)\) is wrong at index"):
        juanji.gradcheck(lambda t: WrongSquare.apply(t), [x])
    assert juanji.gradcheck(lambda t: WrongSquare.apply(t), [x], raise_exception=False) is False


def test_gradcheck_requires_float64():
    with pytest.raises(TypeError, match="float64"):
        juanji.gradcheck(lambda t: t * 2, [juanji.randn(2, requires_grad=True)])
    with pytest.raises(ValueError, match="no input has requires_grad"):
        juanji.gradcheck(lambda t: t * 2, [juanji.randn(2, dtype=np.float64)])


class Counted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(np.ones((2, 2), dtype=np.float32))
        self.bias = nn.Parameter(np.zeros(2, dtype=np.float32))
        self.register_buffer("steps", juanji.Tensor(np.zeros((), dtype=np.int64)))


BAD_VALUES = {
    "strings": (np.array(["a", "b"]), r"bias: dtype <U1"),
    "objects of None": (np.array([None, None], dtype=object), r"bias: dtype object"),  # would load as NaN
    "complex": (np.array([1 + 1j, 0j]), r"bias: dtype complex128"),
    "datetime": (np.array(["2020-01-01", "2020-01-02"], "datetime64[D]"), r"bias: dtype datetime64\[D\]"),
    "a string": ("ab", r"bias: dtype <U2"),
    "ragged": ([[1.0], [1.0, 2.0]], r"bias: not an array"),
    "too big for float32": (np.array([1e300, 0.0]), r"bias: .*float64 .* float32"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_load_state_dict_validates_every_entry_before_changing_any(case):
    net = Counted()
    value, match = BAD_VALUES[case]
    good = {"weight": np.full((2, 2), 7.0, np.float32), "steps": np.array(3)}
    for strict in (True, False):
        with pytest.raises(ValueError, match=rf"load_state_dict: cannot load into Counted: {match}"):
            net.load_state_dict({**good, "bias": value}, strict=strict)
        np.testing.assert_array_equal(net.weight.data, np.ones((2, 2), np.float32))  # weight came first
        assert net.steps.data == 0


def test_load_state_dict_refuses_nan_into_an_integer_buffer():
    net = Counted()
    with pytest.raises(ValueError, match=r"steps: .*float64 .* int64"):
        net.load_state_dict({"weight": np.zeros((2, 2)), "bias": np.zeros(2), "steps": np.array(np.nan)})
    assert net.steps.data == 0 and (net.weight.data == 1).all()


def test_load_state_dict_accepts_numeric_casts_and_tensors():
    net = Counted()
    net.load_state_dict({"weight": juanji.Tensor(np.full((2, 2), 2.0)), "bias": np.array([1, 2], np.int32),
                         "steps": np.array(5.0)})
    np.testing.assert_array_equal(net.bias.data, np.array([1.0, 2.0], np.float32))
    assert net.bias.dtype == np.float32 and net.steps.data.dtype == np.int64 and int(net.steps.data) == 5


@pytest.mark.parametrize("bad", [None, [("weight", np.zeros((2, 2)))], np.zeros(3), "weights.npz"])
def test_load_state_dict_of_a_non_mapping_is_a_clear_type_error(bad):
    with pytest.raises(TypeError, match=rf"Counted.load_state_dict: expected a mapping of names to arrays, "
                                        rf"got {type(bad).__name__}"):
        Counted().load_state_dict(bad)
