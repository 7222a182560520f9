"""Shared checks for every op: the three references of DESIGN.md.

An op is checked by
  1. ``check_gradcheck``: juanji's backward against float64 central differences;
  2. ``check_naive``: forward (and, given a naive backward, gradients) against the
     textbook loop formula (juanji.textbook, or loops written in the test file);
  3. ``check_torch``: forward and gradients against PyTorch CPU in float32
     (within 1e-4 relative), and optionally float64.

Gradients are those of L = sum(out * R) for a fixed random cotangent R, which tests
every element of every input's gradient with one backward call.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np
import pytest

import juanji
from juanji import Tensor

STRICT = os.environ.get("JUANJI_STRICT_SKIPS") == "1"


def torch_or_skip() -> Any:
    """Import torch, or skip with a reason (in CI, a skip is turned into a failure)."""
    try:
        import torch
    except ImportError:
        pytest.skip("PyTorch is not installed: oracle test skipped (pip install torch==2.14.1 torchvision==0.29.1)")
    torch.set_default_dtype(torch.float32)
    return torch


def assert_close(actual: Any, expected: Any, rtol: float, atol: float, what: str) -> None:
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != expected {expected.shape}"
    if not np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=False):
        err = np.abs(actual - expected) - (atol + rtol * np.abs(expected))
        i = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
        raise AssertionError(
            f"{what}: mismatch at {i}: got {actual[i]!r}, expected {expected[i]!r} "
            f"(max abs diff {np.max(np.abs(actual - expected)):.3g}, rtol={rtol}, atol={atol})"
        )


def juanji_forward_backward(
    fn: Callable[..., Tensor], arrays: Sequence[np.ndarray], grad_mask: Sequence[bool] | None = None,
    cotangent: np.ndarray | None = None, seed: int = 1,
) -> tuple[np.ndarray, list[np.ndarray | None], np.ndarray]:
    """Run ``fn`` on Tensors made from ``arrays``; return output, input gradients, cotangent."""
    grad_mask = grad_mask or [a.dtype.kind == "f" for a in arrays]
    tensors = [Tensor(a.copy(order="K"), requires_grad=m) for a, m in zip(arrays, grad_mask)]  # keeps a batch-last layout
    out = fn(*tensors)
    if cotangent is None:
        cotangent = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    if any(grad_mask):
        out.backward(cotangent)
    grads = [t.grad.data if (m and t.grad is not None) else (np.zeros_like(a) if m else None)
             for t, a, m in zip(tensors, arrays, grad_mask)]
    return out.data, grads, cotangent


def torch_forward_backward(
    fn: Callable[..., Any], arrays: Sequence[np.ndarray], cotangent: np.ndarray,
    grad_mask: Sequence[bool] | None = None,
) -> tuple[np.ndarray, list[np.ndarray | None]]:
    torch = torch_or_skip()
    grad_mask = grad_mask or [a.dtype.kind == "f" for a in arrays]
    tensors = [torch.tensor(a.copy(), requires_grad=bool(m)) for a, m in zip(arrays, grad_mask)]
    out = fn(*tensors)
    if any(grad_mask):
        out.backward(torch.tensor(cotangent))
    grads = [(t.grad.numpy() if t.grad is not None else np.zeros_like(a)) if m else None
             for t, a, m in zip(tensors, arrays, grad_mask)]
    return out.detach().numpy(), grads


def check_torch(
    fn: Callable[..., Tensor], torch_fn: Callable[..., Any], arrays: Sequence[np.ndarray],
    grad_mask: Sequence[bool] | None = None, rtol: float = 1e-4, atol: float = 1e-5, what: str = "op",
) -> None:
    """juanji against PyTorch CPU on the same arrays (dtype taken from the arrays)."""
    out, grads, cot = juanji_forward_backward(fn, arrays, grad_mask)
    t_out, t_grads = torch_forward_backward(torch_fn, arrays, cot, grad_mask)
    assert out.dtype == arrays[0].dtype, f"{what}: output dtype {out.dtype} != input dtype {arrays[0].dtype}"
    assert_close(out, t_out, rtol, atol, f"{what} forward vs PyTorch")
    for i, (g, tg) in enumerate(zip(grads, t_grads)):
        if g is not None:
            assert g.dtype == arrays[i].dtype, f"{what}: grad {i} dtype {g.dtype} != {arrays[i].dtype}"
            assert_close(g, tg, rtol, atol, f"{what} gradient of input {i} vs PyTorch")


def check_naive(
    fn: Callable[..., Tensor], naive_forward: Callable[..., np.ndarray], arrays: Sequence[np.ndarray],
    naive_backward: Callable[..., Sequence[np.ndarray]] | None = None,
    grad_mask: Sequence[bool] | None = None, rtol: float = 1e-9, atol: float = 1e-10, what: str = "op",
) -> None:
    """juanji against the textbook loops, in float64.

    ``naive_backward(cotangent, *arrays)`` returns the gradient of every input that has one.
    """
    arrays = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    out, grads, cot = juanji_forward_backward(fn, arrays, grad_mask)
    assert_close(out, naive_forward(*arrays), rtol, atol, f"{what} forward vs naive loops")
    if naive_backward is not None:
        expected = list(naive_backward(cot, *arrays))
        got = [g for g in grads if g is not None]
        assert len(expected) == len(got), f"{what}: naive backward gave {len(expected)} grads, juanji {len(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_close(g, e, rtol, atol, f"{what} gradient {i} vs naive loops")


def check_gradcheck(
    fn: Callable[..., Tensor], arrays: Sequence[np.ndarray], grad_mask: Sequence[bool] | None = None,
    atol: float = 1e-6, rtol: float = 1e-4,
) -> None:
    """juanji's backward against float64 central differences (juanji.gradcheck)."""
    grad_mask = grad_mask or [a.dtype.kind == "f" for a in arrays]
    tensors = [Tensor(a.astype(np.float64) if m else a, requires_grad=m) for a, m in zip(arrays, grad_mask)]
    assert juanji.gradcheck(fn, tensors, atol=atol, rtol=rtol)
