"""The textbook CNN functions, written the way the tutorials write them: loops, one formula each.

These are the functions a learner derives in Andrew Ng's "Convolutional Model: step by step"
(``zero_pad``, ``conv_single_step``, ``conv_forward``, ``conv_backward``, ``pool_forward``,
``create_mask_from_window``, ``distribute_value``, ``pool_backward``) and in "Deep Learning from
Scratch" (``im2col``, ``col2im``). They are slow on purpose: plain NumPy, no juanji Tensor, no
autograd, a loop over every image, output row, output column and filter, so that each line can
be checked against the formula above it. They are the reference juanji's fast ops are tested
against (tests/functional/test_conv.py, tests/functional/test_pool.py, tests/test_textbook.py);
to train a network use ``juanji.functional.conv2d``, ``max_pool2d`` and ``avg_pool2d``
(juanji/functional/conv.py and pool.py), whose im2col lives in juanji/kernels/im2col.py.

Layout: juanji's and PyTorch's, NOT the course's. Activations are NCHW, (m, n_C, n_H, n_W);
filters are (n_C, n_C_prev / groups, f_H, f_W); the bias is (n_C,). The course keeps
activations NHWC, (m, n_H, n_W, n_C), filters as (f, f, n_C_prev, n_C) and b as (1, 1, 1, n_C).
Translation for course readers, in and out:

    A_prev = A_course.transpose(0, 3, 1, 2); W = W_course.transpose(3, 2, 0, 1); b = b_course.reshape(-1)
    Z_course = Z.transpose(0, 2, 3, 1)    (and likewise dA_prev, and dW.transpose(2, 3, 1, 0))

Shape legend (the course's names; juanji's own legend in brackets):

    m                    number of images in the batch                [N]
    n_C_prev             input channels                               [C]
    n_H_prev, n_W_prev   input height and width                       [H, W]
    n_C                  output channels = number of filters          [O]
    f_H, f_W             filter (kernel) height and width             [KH, KW]
    s_H, s_W             stride                                       [SH, SW]
    d_H, d_W             dilation (gap between filter taps)           [DH, DW]
    pad                  zero padding, (before, after) per axis       [PH, PW]
    groups               channel groups; each filter sees n_C_prev / groups channels  [G]
    n_H, n_W             output height and width                      [OH, OW]

Convolution (what deep learning calls convolution is cross-correlation: the filter is not
flipped). With A_pad the zero-padded input and g = c // (n_C / groups) the group of filter c:

    Z[i, c, h, w] = b[c] + sum_{k, p, q} W[c, k, p, q]
                                         * A_pad[i, g*n_C_prev/groups + k, h*s_H + p*d_H, w*s_W + q*d_W]
    n_H = floor((n_H_prev + pad_top + pad_bottom - d_H*(f_H - 1) - 1) / s_H) + 1    (likewise n_W)

Its backward pass runs the same loops and sends dZ back along every product:

    dA_pad[i, g*n_C_prev/groups + k, h*s_H + p*d_H, w*s_W + q*d_W] += W[c, k, p, q] * dZ[i, c, h, w]
    dW[c, k, p, q] += A_pad[i, g*n_C_prev/groups + k, h*s_H + p*d_H, w*s_W + q*d_W] * dZ[i, c, h, w]
    db[c] += dZ[i, c, h, w]
    dA_prev = dA_pad without its padding

Pooling (no padding, no dilation, the course's):

    A[i, c, h, w] = max or mean of A_prev[i, c, h*s_H : h*s_H + f_H, w*s_W : w*s_W + f_W]
    n_H = floor((n_H_prev - f_H) / s_H) + 1                                            (likewise n_W)

    max:     the window's gradient goes to its (first) maximum: create_mask_from_window
    average: each of the f_H*f_W cells gets dA / (f_H*f_W): distribute_value

im2col lays every window out as one row of a matrix, so that the convolution is one product:

    col[(i, h, w), (c, p, q)] = X_pad[i, c, h*s_H + p, w*s_W + q]        shape (m*n_H*n_W, n_C_prev*f_H*f_W)
    Z = (col @ W.reshape(n_C, -1).T + b).reshape(m, n_H, n_W, n_C).transpose(0, 3, 1, 2)

and col2im is its adjoint: it adds every entry of col back onto the pixel it was read from,
so a pixel inside several windows receives the sum of their values.

The functions check their arguments first and raise a ValueError (a TypeError for a value of
the wrong kind) that names the function, the argument and the shapes involved.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Sequence

import numpy as np

__all__ = ["zero_pad", "conv_single_step", "conv_forward", "conv_backward", "pool_forward",
           "create_mask_from_window", "distribute_value", "pool_backward", "im2col", "col2im"]

IntPair = int | tuple[int, int]
# An int (the same on all four sides), (pad_H, pad_W), or ((top, bottom), (left, right)).
Pad = int | tuple[int, int] | tuple[tuple[int, int], tuple[int, int]]
PadPairs = tuple[tuple[int, int], tuple[int, int]]


# --- argument checks, apart from the math ----------------------------------------------------
def _index(value: Any) -> int | None:
    """``value`` as a Python int when it is an integer (not a bool), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _array(func: str, name: str, value: Any, legend: str) -> np.ndarray:
    """``value`` as a 4-D array of real numbers, or a clear error."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{func}: {name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 4:
        raise ValueError(f"{func}: expected {name} to be 4-D {legend}, got shape {array.shape}")
    return array


def _pair(func: str, name: str, value: Any, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints (height, width), each at least ``minimum``."""
    if _index(value) is not None:
        pair = (_index(value), _index(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(_index(v) is not None for v in value):
        pair = (_index(value[0]), _index(value[1]))
    elif isinstance(value, (tuple, list)):
        raise ValueError(f"{func}: {name} must be an int or a pair of ints ({name}_H, {name}_W), got {value!r}")
    else:
        raise TypeError(f"{func}: {name} must be an int or a pair of ints ({name}_H, {name}_W), got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{func}: {name} must be >= {minimum}, got {value!r}")
    return pair  # type: ignore[return-value]


def _pads(func: str, pad: Any) -> PadPairs:
    """``pad`` as ((top, bottom), (left, right))."""
    message = (f"{func}: pad must be an int, a pair (pad_H, pad_W) or per-side pairs "
               f"((top, bottom), (left, right)), got {pad!r}")
    if _index(pad) is not None:
        pairs = ((_index(pad), _index(pad)),) * 2
    elif isinstance(pad, (tuple, list)) and len(pad) == 2 and all(_index(p) is not None for p in pad):
        pairs = ((_index(pad[0]), _index(pad[0])), (_index(pad[1]), _index(pad[1])))
    elif (isinstance(pad, (tuple, list)) and len(pad) == 2
          and all(isinstance(p, (tuple, list)) and len(p) == 2 and all(_index(v) is not None for v in p)
                  for p in pad)):
        pairs = tuple((_index(p[0]), _index(p[1])) for p in pad)
    elif isinstance(pad, (tuple, list)):
        raise ValueError(message)
    else:
        raise TypeError(message)
    if min(min(p) for p in pairs) < 0:
        raise ValueError(f"{func}: pad must be >= 0, got {pad!r}")
    return pairs  # type: ignore[return-value]


def _output_size(func: str, size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                 dilation: tuple[int, int], pads: PadPairs, where: str) -> tuple[int, int]:
    """(n_H, n_W) = floor((n + before + after - d*(f - 1) - 1) / s) + 1, or an error when the
    (dilated) kernel does not fit in the padded input."""
    spans = tuple(d * (f - 1) + 1 for f, d in zip(kernel, dilation))
    padded = tuple(n + before + after for n, (before, after) in zip(size, pads))
    if spans[0] > padded[0] or spans[1] > padded[1]:
        dilated = f" (dilated to {spans[0]}x{spans[1]})" if spans != kernel else ""
        input_ = "the padded input" if padded != tuple(size) else "the input"
        raise ValueError(f"{func}: kernel {kernel[0]}x{kernel[1]}{dilated} is larger than {input_} "
                         f"{padded[0]}x{padded[1]} ({where})")
    return ((padded[0] - spans[0]) // stride[0] + 1, (padded[1] - spans[1]) // stride[1] + 1)


def _float_dtype(*arrays: np.ndarray | None) -> np.dtype:
    """The arrays' common dtype when it is floating point, else float64 (integer inputs)."""
    dtype = np.result_type(*[a for a in arrays if a is not None])
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _check_conv(func: str, A_prev: Any, W: Any, b: Any, groups: Any
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """The shapes conv_forward and conv_backward need, checked against each other."""
    A_prev = _array(func, "A_prev", A_prev, "(m, n_C_prev, n_H_prev, n_W_prev)")
    W = _array(func, "W", W, "(n_C, n_C_prev/groups, f_H, f_W)")
    g = _index(groups)
    if g is None:
        raise TypeError(f"{func}: groups must be an int, got {groups!r}")
    if g < 1:
        raise ValueError(f"{func}: groups must be >= 1, got {g}")
    n_C_prev, (n_C, n_C_group) = A_prev.shape[1], W.shape[:2]
    if n_C_prev == 0 or n_C == 0:
        raise ValueError(f"{func}: A_prev shape {A_prev.shape} and W shape {W.shape} need at least one "
                         f"input and one output channel")
    if n_C_prev % g:
        raise ValueError(f"{func}: the {n_C_prev} channels of A_prev (shape {A_prev.shape}) are not "
                         f"divisible by groups={g}")
    if n_C % g:
        raise ValueError(f"{func}: the {n_C} filters of W (shape {W.shape}) are not divisible by groups={g}")
    if n_C_group * g != n_C_prev:
        raise ValueError(f"{func}: A_prev has {n_C_prev} channels but W expects {n_C_group * g} "
                         f"(W shape {W.shape}, groups={g}); the layouts are NCHW and (n_C, n_C_prev/groups, "
                         f"f_H, f_W): the course's arrays are A_prev.transpose(0, 3, 1, 2) and "
                         f"W.transpose(3, 2, 0, 1)")
    if b is not None:
        b = np.asarray(b)
        if b.dtype.kind not in "iuf":
            raise TypeError(f"{func}: b must hold real numbers, got dtype {b.dtype}")
        if b.shape != (n_C,):
            raise ValueError(f"{func}: b must have shape ({n_C},) to match W shape {W.shape}, got {b.shape}")
    return A_prev, W, b, g


def _check_mode(func: str, mode: Any) -> str:
    if mode not in ("max", "average"):
        raise ValueError(f"{func}: mode must be 'max' or 'average', got {mode!r}")
    return mode


def _check_gradient(func: str, name: str, value: Any, expected: tuple[int, ...], made: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{func}: {name} must hold real numbers, got dtype {array.dtype}")
    if array.shape != expected:
        raise ValueError(f"{func}: {name} has shape {array.shape} but the forward pass made {made} of shape "
                         f"{expected}")
    return array


# --- padding -----------------------------------------------------------------------------------
def zero_pad(X: np.ndarray, pad: Pad) -> np.ndarray:
    """Pad the height and width of every image in X with zeros.

    Args:
        X: a batch of images, shape (m, n_C, n_H, n_W).
        pad: an int (the same on all four sides), a pair (pad_H, pad_W), or per-side pairs
            ((top, bottom), (left, right)).

    Returns:
        X_pad of shape (m, n_C, n_H + top + bottom, n_W + left + right).

    Example:
        >>> X = np.ones((1, 1, 2, 3))
        >>> zero_pad(X, 1).shape
        (1, 1, 4, 5)
        >>> zero_pad(X, ((0, 1), (2, 0)))[0, 0]
        array([[0., 0., 1., 1., 1.],
               [0., 0., 1., 1., 1.],
               [0., 0., 0., 0., 0.]])
    """
    X = _array("zero_pad", "X", X, "(m, n_C, n_H, n_W)")
    (top, bottom), (left, right) = _pads("zero_pad", pad)
    # The batch and channel axes are not padded; height and width are, by (before, after).
    X_pad = np.pad(X, ((0, 0), (0, 0), (top, bottom), (left, right)), mode="constant", constant_values=(0, 0))
    return X_pad


# --- convolution -------------------------------------------------------------------------------
def conv_single_step(a_slice_prev: np.ndarray, W: np.ndarray, b: float | np.ndarray) -> float:
    """One output value: a window of the input times one filter, summed, plus the bias.

    Z = sum(a_slice_prev * W) + b

    Args:
        a_slice_prev: one window of the (padded) input, shape (n_C_prev/groups, f_H, f_W).
        W: one filter, the same shape.
        b: that filter's bias, a number (or an array holding one).

    Returns:
        Z, a float.

    Example:
        >>> conv_single_step(np.ones((3, 2, 2)), np.full((3, 2, 2), 0.5), 1.0)
        7.0
    """
    a_slice_prev, W = np.asarray(a_slice_prev), np.asarray(W)
    if a_slice_prev.shape != W.shape:
        raise ValueError(f"conv_single_step: a_slice_prev has shape {a_slice_prev.shape} but W has shape "
                         f"{W.shape}; they must match")
    if np.size(b) != 1:
        raise ValueError(f"conv_single_step: b must be a single number, got shape {np.shape(b)}")
    s = a_slice_prev * W                      # element-wise product, (n_C_prev/groups, f_H, f_W)
    Z = np.sum(s)                             # sum over all entries of the volume
    Z = Z + np.asarray(b).reshape(()).item()  # add the bias
    return float(Z)


def conv_forward(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray | None, stride: IntPair = 1, pad: Pad = 0,
                 dilation: IntPair = 1, groups: int = 1) -> tuple[np.ndarray, tuple]:
    """Forward pass of a convolution layer, one output value at a time.

    Z[i, c, h, w] = b[c] + sum_{k, p, q} W[c, k, p, q] * A_pad[i, g*n_C_prev/groups + k,
    h*s_H + p*d_H, w*s_W + q*d_W], with g = c // (n_C / groups) the group of filter c.

    Args:
        A_prev: the previous layer's activations, shape (m, n_C_prev, n_H_prev, n_W_prev).
        W: the filters, shape (n_C, n_C_prev/groups, f_H, f_W).
        b: the biases, shape (n_C,), or None for none.
        stride: an int or (s_H, s_W).
        pad: an int, (pad_H, pad_W) or ((top, bottom), (left, right)), as in zero_pad.
        dilation: an int or (d_H, d_W): filter taps d apart (1: next to each other).
        groups: the channels and filters are split into this many groups, and filter c sees
            only the n_C_prev/groups channels of its own group (groups = n_C_prev: depthwise).

    Returns:
        Z of shape (m, n_C, n_H, n_W), and cache = (A_prev, W, b, hparameters) for
        conv_backward, where hparameters = {"stride": (s_H, s_W), "pad": ((top, bottom),
        (left, right)), "dilation": (d_H, d_W), "groups": groups}.

    Shape:
        n_H = floor((n_H_prev + top + bottom - d_H*(f_H - 1) - 1) / s_H) + 1, likewise n_W.

    Example:
        >>> A_prev = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> W = np.ones((1, 1, 3, 3))                  # one 3x3 filter that sums its window
        >>> Z, cache = conv_forward(A_prev, W, np.array([0.5]), stride=1, pad=0)
        >>> Z
        array([[[[45.5, 54.5],
                 [81.5, 90.5]]]])
        >>> conv_forward(np.zeros((2, 4, 7, 6)), np.zeros((6, 2, 3, 3)), None, stride=2, pad=1, groups=2)[0].shape
        (2, 6, 4, 3)
    """
    A_prev, W, b, groups = _check_conv("conv_forward", A_prev, W, b, groups)
    (s_H, s_W) = _pair("conv_forward", "stride", stride, 1)
    (d_H, d_W) = _pair("conv_forward", "dilation", dilation, 1)
    pads = _pads("conv_forward", pad)
    (m, n_C_prev, n_H_prev, n_W_prev) = A_prev.shape
    (n_C, n_C_group, f_H, f_W) = W.shape   # n_C_group = n_C_prev / groups channels per filter
    n_H, n_W = _output_size("conv_forward", (n_H_prev, n_W_prev), (f_H, f_W), (s_H, s_W), (d_H, d_W), pads,
                            f"A_prev shape {A_prev.shape}, W shape {W.shape}, pad {pads}")
    filters_per_group = n_C // groups

    Z = np.zeros((m, n_C, n_H, n_W), dtype=_float_dtype(A_prev, W, b))
    A_prev_pad = zero_pad(A_prev, pads)            # (m, n_C_prev, n_H_prev + pads, n_W_prev + pads)
    for i in range(m):                             # loop over the batch of images
        a_prev_pad = A_prev_pad[i]                 # (n_C_prev, padded height, padded width)
        for h in range(n_H):                       # loop over the output rows
            vert_start = h * s_H
            vert_end = vert_start + d_H * (f_H - 1) + 1
            for w in range(n_W):                   # loop over the output columns
                horiz_start = w * s_W
                horiz_end = horiz_start + d_W * (f_W - 1) + 1
                for c in range(n_C):               # loop over the filters (output channels)
                    g = c // filters_per_group     # the group filter c belongs to
                    channels = slice(g * n_C_group, (g + 1) * n_C_group)
                    # The window, every d-th row and column of the dilated span.
                    a_slice_prev = a_prev_pad[channels, vert_start:vert_end:d_H, horiz_start:horiz_end:d_W]
                    Z[i, c, h, w] = conv_single_step(a_slice_prev, W[c], 0.0 if b is None else b[c])

    hparameters = {"stride": (s_H, s_W), "pad": pads, "dilation": (d_H, d_W), "groups": groups}
    cache = (A_prev, W, b, hparameters)
    return Z, cache


def conv_backward(dZ: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of a convolution layer: the same loops as conv_forward, run backwards.

    dA_pad[i, g*n_C_prev/groups + k, h*s_H + p*d_H, w*s_W + q*d_W] += W[c, k, p, q] * dZ[i, c, h, w]
    dW[c, k, p, q] += A_pad[i, g*n_C_prev/groups + k, h*s_H + p*d_H, w*s_W + q*d_W] * dZ[i, c, h, w]
    db[c] += dZ[i, c, h, w]

    Args:
        dZ: the gradient of the cost with respect to Z, shape (m, n_C, n_H, n_W).
        cache: the (A_prev, W, b, hparameters) that conv_forward returned.

    Returns:
        dA_prev (m, n_C_prev, n_H_prev, n_W_prev), dW (n_C, n_C_prev/groups, f_H, f_W) and
        db (n_C,): the gradients of the cost with respect to A_prev, W and b (db also when b
        was None: it is what a bias would receive).

    Example:
        >>> Z, cache = conv_forward(np.arange(16.0).reshape(1, 1, 4, 4), np.ones((1, 1, 3, 3)), np.zeros(1))
        >>> dA_prev, dW, db = conv_backward(np.ones_like(Z), cache)
        >>> dA_prev[0, 0]                              # how many windows hold each pixel
        array([[1., 2., 2., 1.],
               [2., 4., 4., 2.],
               [2., 4., 4., 2.],
               [1., 2., 2., 1.]])
        >>> db
        array([4.])
    """
    if not (isinstance(cache, tuple) and len(cache) == 4 and isinstance(cache[3], dict)):
        raise ValueError("conv_backward: cache must be the (A_prev, W, b, hparameters) that conv_forward "
                         f"returned, got {type(cache).__name__}")
    (A_prev, W, b, hparameters) = cache
    A_prev, W, b, groups = _check_conv("conv_backward", A_prev, W, b, hparameters.get("groups", 1))
    (s_H, s_W) = _pair("conv_backward", "stride", hparameters.get("stride", 1), 1)
    (d_H, d_W) = _pair("conv_backward", "dilation", hparameters.get("dilation", 1), 1)
    pads = _pads("conv_backward", hparameters.get("pad", 0))
    (m, n_C_prev, n_H_prev, n_W_prev) = A_prev.shape
    (n_C, n_C_group, f_H, f_W) = W.shape
    n_H, n_W = _output_size("conv_backward", (n_H_prev, n_W_prev), (f_H, f_W), (s_H, s_W), (d_H, d_W), pads,
                            f"A_prev shape {A_prev.shape}, W shape {W.shape}, pad {pads}")
    dZ = _check_gradient("conv_backward", "dZ", dZ, (m, n_C, n_H, n_W), "Z")
    filters_per_group = n_C // groups

    dtype = _float_dtype(dZ, A_prev, W, b)
    A_prev_pad = zero_pad(A_prev, pads)                       # (m, n_C_prev, padded height, padded width)
    dA_prev_pad = np.zeros(A_prev_pad.shape, dtype=dtype)     # the same shape
    dW = np.zeros(W.shape, dtype=dtype)                       # (n_C, n_C_prev/groups, f_H, f_W)
    db = np.zeros(n_C, dtype=dtype)                           # (n_C,)
    for i in range(m):                             # loop over the batch of images
        a_prev_pad = A_prev_pad[i]
        da_prev_pad = dA_prev_pad[i]
        for h in range(n_H):                       # loop over the output rows
            vert_start = h * s_H
            vert_end = vert_start + d_H * (f_H - 1) + 1
            for w in range(n_W):                   # loop over the output columns
                horiz_start = w * s_W
                horiz_end = horiz_start + d_W * (f_W - 1) + 1
                for c in range(n_C):               # loop over the filters
                    g = c // filters_per_group
                    channels = slice(g * n_C_group, (g + 1) * n_C_group)
                    rows = slice(vert_start, vert_end, d_H)
                    cols = slice(horiz_start, horiz_end, d_W)
                    a_slice = a_prev_pad[channels, rows, cols]
                    # Z[i, c, h, w] = sum(a_slice * W[c]) + b[c], so its gradient dZ[i, c, h, w]
                    # flows to the window through W[c], to W[c] through the window, and to b[c].
                    da_prev_pad[channels, rows, cols] += W[c] * dZ[i, c, h, w]
                    dW[c] += a_slice * dZ[i, c, h, w]
                    db[c] += dZ[i, c, h, w]

    # Drop the padding. (The course writes da_prev_pad[pad:-pad, pad:-pad], which is empty
    # when pad is 0; cutting by the input size works for every pad.)
    (top, _), (left, _) = pads
    dA_prev = dA_prev_pad[:, :, top:top + n_H_prev, left:left + n_W_prev]
    return dA_prev, dW, db


# --- pooling -----------------------------------------------------------------------------------
def pool_forward(A_prev: np.ndarray, kernel: IntPair, stride: IntPair, mode: str = "max"
                 ) -> tuple[np.ndarray, tuple]:
    """Forward pass of a pooling layer: the max or the mean of each window, channel by channel.

    A[i, c, h, w] = max (or mean) of A_prev[i, c, h*s_H : h*s_H + f_H, w*s_W : w*s_W + f_W]

    Args:
        A_prev: input, shape (m, n_C, n_H_prev, n_W_prev).
        kernel: the window, an int or (f_H, f_W).
        stride: an int or (s_H, s_W).
        mode: "max" or "average".

    Returns:
        A of shape (m, n_C, n_H, n_W), and cache = (A_prev, hparameters) for pool_backward,
        where hparameters = {"kernel": (f_H, f_W), "stride": (s_H, s_W), "mode": mode}.

    Shape:
        n_H = floor((n_H_prev - f_H) / s_H) + 1, likewise n_W (no padding).

    Example:
        >>> A_prev = np.array([[[[1., 3., 2., 0.], [4., 2., 1., 5.], [0., 1., 3., 2.], [6., 2., 0., 1.]]]])
        >>> A, cache = pool_forward(A_prev, kernel=2, stride=2, mode="max")
        >>> A
        array([[[[4., 5.],
                 [6., 3.]]]])
        >>> pool_forward(A_prev, kernel=(2, 4), stride=2, mode="average")[0]   # 2x4 windows
        array([[[[2.25 ],
                 [1.875]]]])
    """
    A_prev = _array("pool_forward", "A_prev", A_prev, "(m, n_C, n_H_prev, n_W_prev)")
    (f_H, f_W) = _pair("pool_forward", "kernel", kernel, 1)
    (s_H, s_W) = _pair("pool_forward", "stride", stride, 1)
    mode = _check_mode("pool_forward", mode)
    (m, n_C, n_H_prev, n_W_prev) = A_prev.shape
    n_H, n_W = _output_size("pool_forward", (n_H_prev, n_W_prev), (f_H, f_W), (s_H, s_W), (1, 1),
                            ((0, 0), (0, 0)), f"A_prev shape {A_prev.shape}")

    A = np.zeros((m, n_C, n_H, n_W), dtype=_float_dtype(A_prev))
    for i in range(m):                             # loop over the batch of images
        for h in range(n_H):                       # loop over the output rows
            vert_start = h * s_H
            vert_end = vert_start + f_H
            for w in range(n_W):                   # loop over the output columns
                horiz_start = w * s_W
                horiz_end = horiz_start + f_W
                for c in range(n_C):               # loop over the channels
                    a_prev_slice = A_prev[i, c, vert_start:vert_end, horiz_start:horiz_end]
                    if mode == "max":
                        A[i, c, h, w] = np.max(a_prev_slice)
                    else:
                        A[i, c, h, w] = np.mean(a_prev_slice)

    hparameters = {"kernel": (f_H, f_W), "stride": (s_H, s_W), "mode": mode}
    cache = (A_prev, hparameters)
    return A, cache


def create_mask_from_window(x: np.ndarray) -> np.ndarray:
    """Where a max-pooling window sends its gradient: True at the window's maximum.

    With ties only the first maximum (in row-major order) is marked, as PyTorch and juanji do:
    the course's ``x == np.max(x)`` marks every tie, and a window holding two equal maxima
    would then pass its gradient on twice. (A window holding NaN: np.argmax marks its first
    NaN, where PyTorch sends the gradient to the last one.)

    Args:
        x: one window, shape (f_H, f_W) (any non-empty shape).

    Returns:
        mask: a boolean array of the same shape with exactly one True.

    Example:
        >>> create_mask_from_window(np.array([[1., 3.], [3., 2.]]))
        array([[False,  True],
               [False, False]])
    """
    x = np.asarray(x)
    if x.size == 0:
        raise ValueError(f"create_mask_from_window: x is an empty window (shape {x.shape})")
    mask = np.zeros(x.shape, dtype=bool)
    mask.flat[np.argmax(x)] = True                 # argmax: the first maximum, row-major
    return mask


def distribute_value(dz: float, shape: Sequence[int], divisor: float | None = None) -> np.ndarray:
    """Spread the gradient of one average-pooling output evenly over its window.

    Every cell of the window counted 1/(f_H*f_W) in the mean, so each gets dz / (f_H*f_W).

    Args:
        dz: the gradient of one output value, a number.
        shape: the window's shape (f_H, f_W).
        divisor: what the mean divided by, when not the window's size (PyTorch's
            ``count_include_pad=False`` or ``divisor_override`` divide by another count).

    Returns:
        an array of ``shape`` holding dz / divisor in every cell.

    Example:
        >>> distribute_value(2.0, (2, 2))
        array([[0.5, 0.5],
               [0.5, 0.5]])
    """
    if np.size(dz) != 1:
        raise ValueError(f"distribute_value: dz must be a single number, got shape {np.shape(dz)}")
    if not all(_index(n) is not None and _index(n) >= 1 for n in shape):
        raise ValueError(f"distribute_value: shape must be positive ints, got {shape!r}")
    if divisor is None:
        divisor = math.prod(shape)                 # (n_H * n_W) in the course
    average = dz / divisor                         # the value every cell gets
    a = np.ones(shape) * average
    return a


def pool_backward(dA: np.ndarray, cache: tuple, mode: str | None = None) -> np.ndarray:
    """Backward pass of a pooling layer.

    max:     dA_prev[window] += create_mask_from_window(A_prev[window]) * dA[i, c, h, w]
    average: dA_prev[window] += distribute_value(dA[i, c, h, w], (f_H, f_W))

    Args:
        dA: the gradient of the cost with respect to pool_forward's output, (m, n_C, n_H, n_W).
        cache: the (A_prev, hparameters) that pool_forward returned.
        mode: "max" or "average"; None takes pool_forward's (kept in the cache), and a mode
            given here must be that one.

    Returns:
        dA_prev, the gradient with respect to A_prev, shape (m, n_C, n_H_prev, n_W_prev).

    Example:
        >>> A_prev = np.array([[[[1., 3., 2., 0.], [4., 2., 1., 5.], [0., 1., 3., 2.], [6., 2., 0., 1.]]]])
        >>> A, cache = pool_forward(A_prev, kernel=2, stride=2, mode="max")
        >>> pool_backward(np.ones_like(A), cache, mode="max")[0, 0]
        array([[0., 0., 0., 0.],
               [1., 0., 0., 1.],
               [0., 0., 1., 0.],
               [1., 0., 0., 0.]])
    """
    if not (isinstance(cache, tuple) and len(cache) == 2 and isinstance(cache[1], dict)):
        raise ValueError("pool_backward: cache must be the (A_prev, hparameters) that pool_forward returned, "
                         f"got {type(cache).__name__}")
    (A_prev, hparameters) = cache
    A_prev = _array("pool_backward", "A_prev", A_prev, "(m, n_C, n_H_prev, n_W_prev)")
    (f_H, f_W) = _pair("pool_backward", "kernel", hparameters.get("kernel"), 1)
    (s_H, s_W) = _pair("pool_backward", "stride", hparameters.get("stride"), 1)
    forward_mode = hparameters.get("mode")
    if mode is None:
        if forward_mode is None:
            raise ValueError("pool_backward: give mode ('max' or 'average'): the cache does not say")
        mode = forward_mode
    mode = _check_mode("pool_backward", mode)
    if forward_mode is not None and forward_mode != mode:
        raise ValueError(f"pool_backward: mode is {mode!r} but the cache comes from pool_forward with "
                         f"mode={forward_mode!r}")
    (m, n_C, n_H_prev, n_W_prev) = A_prev.shape
    n_H, n_W = _output_size("pool_backward", (n_H_prev, n_W_prev), (f_H, f_W), (s_H, s_W), (1, 1),
                            ((0, 0), (0, 0)), f"A_prev shape {A_prev.shape}")
    dA = _check_gradient("pool_backward", "dA", dA, (m, n_C, n_H, n_W), "A")

    dA_prev = np.zeros(A_prev.shape, dtype=_float_dtype(dA, A_prev))
    for i in range(m):                             # loop over the batch of images
        a_prev = A_prev[i]
        for h in range(n_H):                       # loop over the output rows
            vert_start = h * s_H
            vert_end = vert_start + f_H
            for w in range(n_W):                   # loop over the output columns
                horiz_start = w * s_W
                horiz_end = horiz_start + f_W
                for c in range(n_C):               # loop over the channels
                    window = (i, c, slice(vert_start, vert_end), slice(horiz_start, horiz_end))
                    if mode == "max":
                        a_prev_slice = a_prev[c, vert_start:vert_end, horiz_start:horiz_end]
                        mask = create_mask_from_window(a_prev_slice)
                        # Only the maximum reached the output, so only it gets the gradient;
                        # += because overlapping windows can share a maximum.
                        dA_prev[window] += mask * dA[i, c, h, w]
                    else:
                        da = dA[i, c, h, w]
                        dA_prev[window] += distribute_value(da, (f_H, f_W))
    return dA_prev


# --- im2col / col2im ("Deep Learning from Scratch") ---------------------------------------------
def im2col(X: np.ndarray, kernel: IntPair, stride: IntPair = 1, pad: Pad = 0) -> np.ndarray:
    """Lay every convolution window of X out as one row of a matrix, so a convolution is one product.

    col[(i, h, w), (c, p, q)] = X_pad[i, c, h*s_H + p, w*s_W + q]

    As the book writes it: a loop over the filter offsets (p, q), each copying one strided
    slice of the padded input for every image, channel and output position at once (not a
    loop over output pixels).

    Args:
        X: input, shape (N, C, H, W).
        kernel: an int or (filter_h, filter_w).
        stride: an int or (s_H, s_W).
        pad: an int, (pad_H, pad_W) or ((top, bottom), (left, right)), as in zero_pad.

    Returns:
        col of shape (N*out_h*out_w, C*filter_h*filter_w): one row per output position (image
        by image, row-major), one column per filter tap (channel, row, column).
        ``col.reshape(N, out_h*out_w, -1).transpose(0, 2, 1)`` is PyTorch's ``unfold`` and
        juanji/kernels/im2col.py's layout, (N, C*filter_h*filter_w, out_h*out_w).

    Shape:
        out_h = floor((H + top + bottom - filter_h) / s_H) + 1, likewise out_w.

    Example:
        >>> X = np.arange(2 * 3 * 5 * 5.0).reshape(2, 3, 5, 5)
        >>> col = im2col(X, kernel=3, stride=1, pad=1)
        >>> col.shape                                  # (N*out_h*out_w, C*filter_h*filter_w)
        (50, 27)
        >>> W, b = np.random.default_rng(0).standard_normal((4, 3, 3, 3)), np.arange(4.0)
        >>> Z = (col @ W.reshape(4, -1).T + b).reshape(2, 5, 5, 4).transpose(0, 3, 1, 2)
        >>> np.allclose(Z, conv_forward(X, W, b, stride=1, pad=1)[0])
        True
    """
    X = _array("im2col", "X", X, "(N, C, H, W)")
    filter_h, filter_w = _pair("im2col", "kernel", kernel, 1)
    (s_H, s_W) = _pair("im2col", "stride", stride, 1)
    pads = _pads("im2col", pad)
    N, C, H, W = X.shape
    out_h, out_w = _output_size("im2col", (H, W), (filter_h, filter_w), (s_H, s_W), (1, 1), pads,
                                f"X shape {X.shape}, pad {pads}")

    img = zero_pad(X, pads)                                              # (N, C, padded H, padded W)
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w), dtype=_float_dtype(X))
    for y in range(filter_h):                      # loop over the filter rows
        y_max = y + s_H * out_h
        for x in range(filter_w):                  # loop over the filter columns
            x_max = x + s_W * out_w
            # Tap (y, x) meets output (h, w) at img[:, :, y + h*s_H, x + w*s_W]: every h, w at once.
            col[:, :, y, x, :, :] = img[:, :, y:y_max:s_H, x:x_max:s_W]   # (N, C, out_h, out_w)
    col = col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)  # (N*out_h*out_w, C*fh*fw)
    return col


def col2im(col: np.ndarray, X_shape: Sequence[int], kernel: IntPair, stride: IntPair = 1, pad: Pad = 0
           ) -> np.ndarray:
    """The adjoint of im2col: add every entry of col back onto the input pixel it was read from.

    X[i, c, h*s_H + p - top, w*s_W + q - left] += col[(i, h, w), (c, p, q)]

    A pixel inside several windows receives the sum of their entries (so col2im(im2col(X)) is X
    times the number of windows holding each pixel, not X). This is how the gradient of the
    columns, dcol = dZ_rows @ W_matrix, becomes the gradient of the input.

    Args:
        col: shape (N*out_h*out_w, C*filter_h*filter_w), as im2col returns.
        X_shape: the input's shape (N, C, H, W).
        kernel, stride, pad: as given to im2col.

    Returns:
        an array of shape X_shape (the padding dropped).

    Example:
        >>> col2im(np.ones((4, 9)), (1, 1, 4, 4), kernel=3, stride=1, pad=0)[0, 0]
        array([[1., 2., 2., 1.],
               [2., 4., 4., 2.],
               [2., 4., 4., 2.],
               [1., 2., 2., 1.]])
    """
    if not (isinstance(X_shape, (tuple, list)) and len(X_shape) == 4
            and all(_index(n) is not None and _index(n) >= 0 for n in X_shape)):
        raise ValueError(f"col2im: X_shape must be the input's shape (N, C, H, W), got {X_shape!r}")
    N, C, H, W = (_index(n) for n in X_shape)
    filter_h, filter_w = _pair("col2im", "kernel", kernel, 1)
    (s_H, s_W) = _pair("col2im", "stride", stride, 1)
    pads = _pads("col2im", pad)
    out_h, out_w = _output_size("col2im", (H, W), (filter_h, filter_w), (s_H, s_W), (1, 1), pads,
                                f"X_shape {(N, C, H, W)}, pad {pads}")
    col = np.asarray(col)
    if col.dtype.kind not in "iuf":
        raise TypeError(f"col2im: col must hold real numbers, got dtype {col.dtype}")
    expected = (N * out_h * out_w, C * filter_h * filter_w)
    if col.shape != expected:
        raise ValueError(f"col2im: col has shape {col.shape} but X_shape {(N, C, H, W)} with kernel "
                         f"{filter_h}x{filter_w}, stride {(s_H, s_W)} and pad {pads} gives {expected} "
                         f"(N*out_h*out_w, C*filter_h*filter_w)")

    (top, bottom), (left, right) = pads
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)  # (N, C, fh, fw, oh, ow)
    img = np.zeros((N, C, H + top + bottom, W + left + right), dtype=_float_dtype(col))  # padded input
    for y in range(filter_h):                      # loop over the filter rows
        y_max = y + s_H * out_h
        for x in range(filter_w):                  # loop over the filter columns
            x_max = x + s_W * out_w
            # += : windows overlap when the stride is smaller than the filter, and each adds its share.
            img[:, :, y:y_max:s_H, x:x_max:s_W] += col[:, :, y, x, :, :]
    return img[:, :, top:top + H, left:left + W]
