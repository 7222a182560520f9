"""Bad arguments to the creation functions: the errors PyTorch raises, naming the function
and the argument.

torch 2.14.1, checked: ``torch.randn(2.5)`` and ``torch.zeros('3')`` raise TypeError ("argument
'size' must be tuple of ints, not float"), so do numpy float scalars, None, nested lists,
arrays and bools (``torch.zeros(True)``, ``torch.zeros((True, 2))``; only a bool after the
first of several int arguments slips through there, which we do not copy); a negative size
raises ("Dimension size must be non-negative"; our ValueError). ``torch.tensor`` refuses
strings, bytes, None, datetimes and object arrays, and ragged lists ("expected sequence of
length 2 at dim 1 (got 1)").
"""

from __future__ import annotations

import datetime

import numpy as np
import pytest

import juanji
from juanji import Tensor

from tests.helpers import torch_or_skip

SIZED = ["zeros", "ones", "randn", "rand"]

BAD_SIZES = [
    ((2.5,), TypeError, "got 2.5 of type float"),
    (("3",), TypeError, "got '3' of type str"),
    ((2, 3.0), TypeError, "got 3.0 of type float"),
    (((2, 3.0),), TypeError, "got 3.0 of type float"),
    ((np.float64(2),), TypeError, r"got .*2\.0\)? of type float64"),
    ((None,), TypeError, "got None of type NoneType"),
    ((True,), TypeError, "got True of type bool"),
    (((True, 2),), TypeError, "got True of type bool"),
    (([[2]],), TypeError, r"got \[2\] of type list"),
    ((np.array([2, 3]),), TypeError, r"got array\(\[2, 3\]\) of type ndarray"),
    ((-1,), ValueError, r"negative size -1 in \(-1,\)"),
    (((2, -3),), ValueError, r"negative size -3 in \(2, -3\)"),
]


@pytest.mark.parametrize("name", SIZED)
@pytest.mark.parametrize("args,exc,message", BAD_SIZES)
def test_creation_functions_refuse_sizes_that_are_not_non_negative_ints(name, args, exc, message):
    torch = torch_or_skip()
    with pytest.raises(exc, match=rf"{name}: size must be ints, {message}" if exc is TypeError
                       else rf"{name}: {message}"):
        getattr(juanji, name)(*args)
    with pytest.raises(TypeError if exc is TypeError else RuntimeError):  # PyTorch refuses them too
        getattr(torch, name)(*args)


@pytest.mark.parametrize("args,exc,message", [((2.5, 1.0), TypeError, "full: size must be ints, got 2.5"),
                                              (((2, "3"), 1.0), TypeError, "full: size must be ints, got '3'"),
                                              (((-1,), 1.0), ValueError, r"full: negative size -1 in \(-1,\)")])
def test_full_refuses_bad_sizes(args, exc, message):
    with pytest.raises(exc, match=message):
        juanji.full(*args)


@pytest.mark.parametrize("name", SIZED)
def test_creation_functions_take_ints_numpy_ints_and_int_sequences(name):
    torch = torch_or_skip()
    f = getattr(juanji, name)
    for args in [(2, 3), ((2, 3),), ([2, 3],), (np.int64(2), np.int32(3)), ((np.int64(2), 3),),
                 (torch.Size([2, 3]),)]:
        assert f(*args).shape == (2, 3) == tuple(getattr(torch, name)(*args).shape), args
    assert f(()).shape == () and f(0).shape == (0,)


@pytest.mark.parametrize("data,dtype", [
    (["a", "b"], "<U1"), ("abc", "<U3"), ([b"a"], "|S1"), ([1.0, "2"], "<U32"), ([None, 1], "object"),
    ([datetime.datetime(2020, 1, 1)], "object"), (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64"),
    (np.timedelta64(1, "D"), "timedelta64"), (np.array([1, 2], dtype=object), "object"), ({1: 2}, "object"),
])
def test_tensor_refuses_data_that_is_not_numbers(data, dtype):
    torch = torch_or_skip()
    for make in (juanji.tensor, Tensor):
        with pytest.raises(TypeError, match=rf"tensor: cannot hold data of dtype {dtype}"):
            make(data)
    with pytest.raises(TypeError, match=rf"tensor: cannot hold data of dtype {dtype}"):
        juanji.tensor(data, dtype=np.float32)  # numpy would parse "2" as 2.0
    with pytest.raises((TypeError, ValueError, RuntimeError)):
        torch.tensor(data)


@pytest.mark.parametrize("data", [[[1, 2], [3]], [[1], [2, 3]], [[[1.0, 2.0]], [[1.0]]]])
def test_tensor_refuses_ragged_lists(data):
    torch = torch_or_skip()
    with pytest.raises(ValueError, match=r"tensor: the nested sequences are ragged \(rows of different lengths\)"):
        juanji.tensor(data)
    with pytest.raises(ValueError, match="expected sequence of length"):
        torch.tensor(data)


def test_tensor_keeps_taking_numbers_and_bools():
    assert juanji.tensor([True, False]).dtype == np.bool_
    assert juanji.tensor([1, 2]).dtype == np.int64 and juanji.tensor([1.5]).dtype == np.float32
    assert juanji.tensor(np.zeros(2)).dtype == np.float64 and juanji.tensor([[1, 2], [3, 4]]).shape == (2, 2)
