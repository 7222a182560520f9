"""The classic from-scratch CNN, as the tutorials write it: the baseline row of the benchmark.

A faithful stand-in for the NumPy code that CNN tutorials derive (Saito's "Deep Learning
from Scratch" style): float64 everywhere, im2col by a Python loop over kernel offsets,
col2im as the matching scatter loop, max pooling through im2col with a dense one-hot mask
for backward, and a hand-written Adam. It is kept in bench/ only, to measure how much
faster juanji's kernels are on the same SimpleConvNet training step; it is not a code path
of the library.
"""

from __future__ import annotations

import numpy as np


def im2col(x: np.ndarray, fh: int, fw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    n, c, h, w = x.shape
    oh = (h + 2 * pad - fh) // stride + 1
    ow = (w + 2 * pad - fw) // stride + 1
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((n, c, fh, fw, oh, ow))
    for y in range(fh):
        y_max = y + stride * oh
        for x_ in range(fw):
            x_max = x_ + stride * ow
            col[:, :, y, x_, :, :] = img[:, :, y:y_max:stride, x_:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def col2im(col: np.ndarray, shape: tuple[int, ...], fh: int, fw: int, stride: int = 1,
           pad: int = 0) -> np.ndarray:
    n, c, h, w = shape
    oh = (h + 2 * pad - fh) // stride + 1
    ow = (w + 2 * pad - fw) // stride + 1
    col = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1))
    for y in range(fh):
        y_max = y + stride * oh
        for x_ in range(fw):
            x_max = x_ + stride * ow
            img[:, :, y:y_max:stride, x_:x_max:stride] += col[:, :, y, x_, :, :]
    return img[:, :, pad:h + pad, pad:w + pad]


class Convolution:
    def __init__(self, w: np.ndarray, b: np.ndarray) -> None:
        self.W, self.b = w, b

    def forward(self, x: np.ndarray) -> np.ndarray:
        fn, _, fh, fw = self.W.shape
        n, _, h, w = x.shape
        oh, ow = h - fh + 1, w - fw + 1
        self.x, self.col = x, im2col(x, fh, fw)
        self.col_W = self.W.reshape(fn, -1).T
        out = self.col @ self.col_W + self.b
        return out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        fn, c, fh, fw = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.db = dout.sum(axis=0)
        self.dW = (self.col.T @ dout).transpose(1, 0).reshape(fn, c, fh, fw)
        return col2im(dout @ self.col_W.T, self.x.shape, fh, fw)


class Pooling:
    def __init__(self, size: int) -> None:
        self.size = size

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        p = self.size
        oh, ow = (h - p) // p + 1, (w - p) // p + 1
        col = im2col(x, p, p, p).reshape(-1, p * p)
        self.x, self.arg_max = x, np.argmax(col, axis=1)
        return np.max(col, axis=1).reshape(n, oh, ow, c).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        p = self.size
        dout = dout.transpose(0, 2, 3, 1)
        # The dense mask: a (N*OH*OW*C, P*P) matrix of zeros with one gradient per row.
        dmax = np.zeros((dout.size, p * p))
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(dout.shape + (p * p,)).reshape(-1, p * p * self.x.shape[1])
        return col2im(dcol, self.x.shape, p, p, p)


class SimpleConvNet:
    """conv 30@5x5 - relu - pool 2 - affine 100 - relu - affine 10 - softmax, float64."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": 0.01 * rng.standard_normal((30, 1, 5, 5)), "b1": np.zeros(30),
            "W2": 0.01 * rng.standard_normal((30 * 12 * 12, 100)), "b2": np.zeros(100),
            "W3": 0.01 * rng.standard_normal((100, 10)), "b3": np.zeros(10),
        }
        self.m = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.t = 0

    def train_step(self, x: np.ndarray, t: np.ndarray, lr: float = 1e-3) -> float:
        p = self.params
        conv, pool = Convolution(p["W1"], p["b1"]), Pooling(2)
        a1 = conv.forward(x)
        r1 = a1 > 0
        h1 = pool.forward(a1 * r1)
        flat = h1.reshape(len(x), -1)
        a2 = flat @ p["W2"] + p["b2"]
        r2 = a2 > 0
        h2 = a2 * r2
        y = h2 @ p["W3"] + p["b3"]
        y = y - y.max(axis=1, keepdims=True)
        prob = np.exp(y) / np.exp(y).sum(axis=1, keepdims=True)
        loss = -np.log(prob[np.arange(len(t)), t] + 1e-7).mean()
        dy = prob.copy()
        dy[np.arange(len(t)), t] -= 1
        dy /= len(t)
        grads = {"W3": h2.T @ dy, "b3": dy.sum(0)}
        dh2 = dy @ p["W3"].T * r2
        grads.update({"W2": flat.T @ dh2, "b2": dh2.sum(0)})
        dh1 = (dh2 @ p["W2"].T).reshape(h1.shape)
        conv.backward(pool.backward(dh1) * r1)
        grads.update({"W1": conv.dW, "b1": conv.db})
        self.t += 1
        lr_t = lr * np.sqrt(1 - 0.999 ** self.t) / (1 - 0.9 ** self.t)
        for k in p:
            self.m[k] += (1 - 0.9) * (grads[k] - self.m[k])
            self.v[k] += (1 - 0.999) * (grads[k] ** 2 - self.v[k])
            p[k] -= lr_t * self.m[k] / (np.sqrt(self.v[k]) + 1e-7)
        return float(loss)
