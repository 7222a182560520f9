"""Tensor, autograd tape and the arithmetic behind the operators.

Each op is checked against float64 central differences, the plain NumPy formula
(the naive reference: the operators are elementwise, so the formula is the loop),
and PyTorch CPU in float32.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import juanji
from juanji import Tensor
from tests.helpers import assert_close, check_gradcheck, check_torch, torch_or_skip

rng = np.random.default_rng(0)


def arr(*shape: int, positive: bool = False, dtype=np.float32) -> np.ndarray:
    a = rng.standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    return a.astype(dtype)


# (name, juanji fn, torch fn, input shapes, positive inputs)
BINARY = [
    ("add", lambda a, b: a + b, (3, 1, 4), (2, 1)),
    ("sub", lambda a, b: a - b, (4,), (3, 4)),
    ("mul", lambda a, b: a * b, (2, 3, 4), (1, 4)),
    ("div", lambda a, b: a / b, (2, 3), (3,)),
    ("matmul_2d", lambda a, b: a @ b, (3, 4), (4, 5)),
    ("matmul_batched_broadcast", lambda a, b: a @ b, (2, 1, 3, 4), (5, 4, 2)),
    ("matmul_vec_mat", lambda a, b: a @ b, (4,), (2, 4, 3)),
    ("matmul_mat_vec", lambda a, b: a @ b, (2, 3, 4), (4,)),
    ("pow_tensor", lambda a, b: a ** b, (3, 4), (4,)),
]

UNARY = [
    ("neg", lambda a: -a, (3, 4), False),
    ("exp", lambda a: a.exp(), (3, 4), False),
    ("log", lambda a: a.log(), (3, 4), True),
    ("sqrt", lambda a: a.sqrt(), (3, 4), True),
    ("abs", lambda a: a.abs(), (3, 4), False),
    ("pow_scalar", lambda a: a ** 3, (3, 4), False),
    ("pow_frac", lambda a: a ** 0.5, (3, 4), True),
    ("clip", lambda a: a.clip(-0.5, 0.7), (3, 4), False),
    ("sum_all", lambda a: a.sum(), (3, 4), False),
    ("sum_dim", lambda a: a.sum(dim=1), (3, 4, 2), False),
    ("sum_dims_keep", lambda a: a.sum(dim=(0, 2), keepdim=True), (3, 4, 2), False),
    ("mean_all", lambda a: a.mean(), (3, 4), False),
    ("mean_neg_dim", lambda a: a.mean(dim=-1), (3, 4), False),
    ("max_all", lambda a: a.max(), (3, 4), False),
    ("max_dim", lambda a: a.max(dim=1), (3, 4, 5), False),
    ("min_dim_keep", lambda a: a.min(dim=0, keepdim=True), (3, 4), False),
    ("reshape", lambda a: a.reshape(4, -1), (2, 3, 4), False),
    ("transpose", lambda a: a.transpose(0, 2), (2, 3, 4), False),
    ("permute", lambda a: a.permute(2, 0, 1), (2, 3, 4), False),
    ("flatten", lambda a: a.flatten(1), (2, 3, 4), False),
    ("squeeze_unsqueeze", lambda a: a.squeeze(1).unsqueeze(-1), (3, 1, 4), False),
    ("getitem_slice", lambda a: a[1:, ::2, -1], (3, 4, 5), False),
    ("getitem_int_array", lambda a: a[np.array([0, 2, 0])], (3, 4), False),
    ("expand", lambda a: a.expand(2, 3, 4), (3, 1), False),
    ("var", lambda a: a.var(dim=1), (3, 5), False),
]


def _torch_unary(name: str):
    torch = torch_or_skip()
    table = {
        "neg": lambda a: -a, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs,
        "pow_scalar": lambda a: a ** 3, "pow_frac": lambda a: a ** 0.5,
        "clip": lambda a: a.clamp(-0.5, 0.7), "sum_all": lambda a: a.sum(),
        "sum_dim": lambda a: a.sum(dim=1), "sum_dims_keep": lambda a: a.sum(dim=(0, 2), keepdim=True),
        "mean_all": lambda a: a.mean(), "mean_neg_dim": lambda a: a.mean(dim=-1),
        "max_all": lambda a: a.max(), "max_dim": lambda a: a.max(dim=1).values,
        "min_dim_keep": lambda a: a.min(dim=0, keepdim=True).values,
        "reshape": lambda a: a.reshape(4, -1), "transpose": lambda a: a.transpose(0, 2),
        "permute": lambda a: a.permute(2, 0, 1), "flatten": lambda a: a.flatten(1),
        "squeeze_unsqueeze": lambda a: a.squeeze(1).unsqueeze(-1),
        "getitem_slice": lambda a: a[1:, ::2, -1],
        "getitem_int_array": lambda a: a[torch.tensor([0, 2, 0])],
        "expand": lambda a: a.expand(2, 3, 4), "var": lambda a: a.var(dim=1),
    }
    return table[name]


@pytest.mark.parametrize("name,fn,sa,sb", BINARY, ids=[b[0] for b in BINARY])
def test_binary_ops(name, fn, sa, sb):
    positive = name == "pow_tensor"
    a, b = arr(*sa, positive=positive), arr(*sb, positive=positive)
    check_gradcheck(fn, [a, b])
    check_torch(fn, fn, [a, b], what=name)
    # Naive reference: NumPy's own broadcasting formula in float64.
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    assert_close(fn(Tensor(a64), Tensor(b64)).data, fn(a64, b64), 1e-12, 1e-12, name)


@pytest.mark.parametrize("name,fn,shape,positive", UNARY, ids=[u[0] for u in UNARY])
def test_unary_ops(name, fn, shape, positive):
    # Distinct values keep max/min away from ties, where the derivative is undefined.
    a = (rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 0.8).astype(np.float32)
    if positive:
        a = np.abs(a) + 0.5
    # Values are k/7 - 0.8, at least 0.01 from clip's kinks at -0.5 and 0.7.
    check_gradcheck(fn, [a])
    check_torch(fn, _torch_unary(name), [a], what=name)


def test_max_ties_share_gradient_equally():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 0.5, 0.5], [0, 0, 0]])


def test_scalar_operands_keep_float32():
    x = juanji.randn(3, 4, requires_grad=True)
    y = (2.0 * x + np.float64(1.5)) / 3 - 1 + x ** 2
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    z = np.ones((3, 4)) * x  # ndarray on the left defers to Tensor.__rmul__
    assert isinstance(z, Tensor)


def test_float64_stays_float64():
    x = juanji.randn(2, 3, dtype=np.float64, requires_grad=True)
    y = (x * 0.5).exp().sum()
    y.backward()
    assert y.dtype == np.float64 and x.grad.dtype == np.float64


def test_gradient_accumulates_when_tensor_used_twice():
    # y = x*x + x (a residual-like reuse): dy/dx = 2x + 1
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    a = x * x
    b = a + x
    c = b + a  # a used twice too: dc/dx = 4x + 1
    c.sum().backward()
    np.testing.assert_allclose(x.grad.data, 4 * x.data + 1)


def test_grads_accumulate_across_backward_calls_and_zero_grad():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None


def test_backward_twice_is_a_clear_error_and_retain_graph_allows_it():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, [4.0, 8.0])
    with pytest.raises(RuntimeError, match="graph was freed"):
        y.backward()


def test_graph_is_freed_after_backward():
    x = Tensor(np.ones(3), requires_grad=True)
    h = x * 2
    y = (h * h).sum()
    y.backward()
    assert y._ctx._saved is None and y._ctx.inputs == ()
    assert h._ctx._saved is None


def test_no_grad_records_nothing_and_keeps_no_cache():
    x = juanji.randn(4, 4, requires_grad=True)
    with juanji.no_grad():
        y = (x * x).exp()
    assert not y.requires_grad and y._ctx is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()

    @juanji.no_grad()
    def f(t):
        return t * 2

    assert f(x)._ctx is None
    assert juanji.is_grad_enabled()


def test_backward_non_scalar_needs_grad_argument():
    x = juanji.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="one-element"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"grad has shape \(2,\)"):
        (x * 2).backward(np.ones(2))


def test_detach_cuts_the_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.detach() * x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [1.0, 2.0])


def test_deep_chain_does_not_hit_recursion_limit():
    x = Tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1.0
    y.backward(np.ones(1))
    assert x.grad.data[0] == 1.0


@settings(max_examples=25, deadline=None)
@given(
    sa=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    drop=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_broadcast_unbroadcast_randomised(sa, drop):
    # b has a's trailing shape with some dims set to 1 and possibly fewer dims.
    sb = [1 if d else s for s, d in zip(sa, drop)][len(sa) // 2:]
    a, b = arr(*sa), arr(*sb) if sb else np.array(1.5, dtype=np.float32)
    check_torch(lambda p, q: p * q + q, lambda p, q: p * q + q, [a, b], what="broadcast")


def test_factories_dtypes_and_seed():
    assert juanji.tensor([1.0, 2.0]).dtype == np.float32
    assert juanji.tensor([1, 2]).dtype == np.int64
    assert juanji.tensor(np.zeros(2)).dtype == np.float64
    assert juanji.zeros(2, 3).shape == (2, 3) and juanji.ones((4,)).dtype == np.float32
    assert juanji.arange(5).dtype == np.int64 and juanji.arange(0, 1, 0.25).shape == (4,)
    juanji.manual_seed(7)
    a = juanji.randn(5).data.copy()
    juanji.manual_seed(7)
    np.testing.assert_array_equal(a, juanji.randn(5).data)
    state = juanji.get_rng_state()
    b = juanji.rand(3).data.copy()
    juanji.set_rng_state(state)
    np.testing.assert_array_equal(b, juanji.rand(3).data)
    base = np.arange(3.0)
    assert juanji.from_numpy(base).data is base


def test_item_numpy_and_errors():
    t = juanji.tensor([[2.5]])
    assert t.item() == 2.5 and t.shape == (1, 1) and t.ndim == 2
    with pytest.raises(ValueError, match="only one-element"):
        juanji.tensor([1.0, 2.0]).item()
    with pytest.raises(RuntimeError, match="requires grad"):
        juanji.tensor([1.0], requires_grad=True).numpy()
    with pytest.raises(TypeError, match="floating-point"):
        juanji.tensor([1, 2], requires_grad=True)
    with pytest.raises(ValueError, match=r"mul: shapes \(3,\) and \(4,\) cannot be broadcast"):
        juanji.ones(3) * juanji.ones(4)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\) are not aligned"):
        juanji.ones(2, 3) @ juanji.ones(2, 3)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\)"):
        juanji.ones(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match="permute"):
        juanji.ones(2, 3).permute(0, 0)
    with pytest.raises(ValueError, match="dim 3 is out of range"):
        juanji.ones(2, 3).sum(dim=3)


def test_comparisons_are_boolean_without_grad():
    x = juanji.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == bool and not m.requires_grad
    np.testing.assert_array_equal(m.data, [False, True, True])
    np.testing.assert_array_equal((x == 2.0).data, [False, True, False])
