"""fft_conv2d against the direct convolution routes: where does the FFT start to win?

    python bench/fft_conv.py                              # k = 3, 5, ..., 31 on 64x64 and 224x224
    python bench/fft_conv.py --sizes 64 --kernels 3,9,15  # a quicker look

Every row is one kernel size k on one image size, "same" padding, stride 1, float32, a batch of
N = 8 images with C = 16 input and F = 16 output channels (a mid-network layer of a small CNN;
--batch and --channels change them), timed as forward alone (no_grad) and as forward+backward
(every gradient: input, weight, bias), for

    fft        F.fft_conv2d with its default FFT library (scipy.fft where installed)
    fft-numpy  F.fft_conv2d(..., fft_module="numpy"), the fallback without scipy
    direct     F.conv2d, juanji's direct routes (im2col / row-shift products + BLAS)
    torch      torch.nn.functional.conv2d on the CPU (oneDNN), the same thread count

As in bench/bench_suite.py, the calls of each row run in alternating blocks (fft, fft-numpy,
direct, torch, fft, ...), each block after a pause that lets the previous library's idle
threads stop spinning, and the table gives the medians; quote medians and ratios, never one
time. The direct routes cost O(k^2) per output, the FFT only what the larger FFT size adds, so
once a direct route has been more than --give-up times slower than fft for two kernel sizes in
a row it is not timed at larger k, where it can only fall further behind (and its calls on
224x224 images would take the sweep hours); the table marks those cells "-". The crossover
printed under each table is the smallest k from which fft is faster than the route at every
timed k.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import juanji  # noqa: E402
# A benchmark owns its process: it opts in to juanji's malloc tuning, as the juanji command does
# (juanji/allocator.py; JUANJI_MALLOC_TUNING=0 declines it), so its figures are the command's.
juanji.allocator.tune_malloc_unless_declined()
import juanji.functional as F  # noqa: E402
from bench_suite import _SETTLE_S  # noqa: E402

ROUTES = ("fft", "fft-numpy", "direct", "torch")
_BLOCKS = 3


def rotate(fns: dict[str, Callable[[], Any]], budget_s: float) -> dict[str, float]:
    """Median seconds per call of each function, timed in alternating blocks.

    The first block of each function starts with a warm-up call, whose time sets how many calls
    a block times: about budget_s / _BLOCKS seconds' worth, 1 to 10 (so a 20 s call runs 4 times
    in all, a 10 ms one 31 times).
    """
    per_block: dict[str, int] = {}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(_BLOCKS):
        for name, fn in fns.items():
            time.sleep(_SETTLE_S)  # the previous block's idle threads stop spinning
            if name not in per_block:
                t0 = time.perf_counter()
                fn()  # warm-up: caches, lazily built buffers, this library's threads
                per_block[name] = int(min(10, max(1, budget_s / _BLOCKS / (time.perf_counter() - t0))))
            for _ in range(per_block[name]):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def row_fns(torch: Any, size: int, k: int, batch: int, channels: int, backward: bool,
            routes: list[str]) -> dict[str, Callable[[], Any]]:
    rng = np.random.default_rng(k)
    x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
    w = (rng.standard_normal((channels, channels, k, k)) / np.sqrt(channels * k * k)).astype(np.float32)
    b = rng.standard_normal(channels).astype(np.float32)
    jx, jw, jb = (juanji.Tensor(a, requires_grad=backward) for a in (x, w, b))
    tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_(backward) for a in (x, w, b))
    grad = np.ones((batch, channels, size, size), np.float32)
    tgrad = torch.from_numpy(grad)
    before, after = (k - 1) // 2, k - 1 - (k - 1) // 2  # TensorFlow's "same": the odd pad after

    calls = {
        "fft": lambda: F.fft_conv2d(jx, jw, jb, padding="same"),
        "fft-numpy": lambda: F.fft_conv2d(jx, jw, jb, padding="same", fft_module="numpy"),
        "direct": lambda: F.conv2d(jx, jw, jb, padding="same"),
        "torch": lambda: torch.nn.functional.conv2d(
            torch.nn.functional.pad(tx, (before, after, before, after)), tw, tb),
    }

    def timed(name: str) -> Callable[[], Any]:
        call = calls[name]
        if backward:
            return (lambda: call().backward(tgrad)) if name == "torch" else (lambda: call().backward(grad))
        if name == "torch":
            def no_grad_torch() -> None:
                with torch.no_grad():
                    call()
            return no_grad_torch

        def no_grad_juanji() -> None:
            with juanji.no_grad():
                call()
        return no_grad_juanji

    return {name: timed(name) for name in routes}


def sweep(torch: Any, size: int, kernels: list[int], batch: int, channels: int, backward: bool,
          give_up: float, budget_s: float) -> list[dict[str, Any]]:
    rows = []
    routes = list(ROUTES)
    behind = {r: 0 for r in ROUTES}  # consecutive kernel sizes a route was > give_up x slower than fft
    for k in kernels:
        medians = rotate(row_fns(torch, size, k, batch, channels, backward, routes), budget_s)
        rows.append({"k": k, **medians})
        print(f"  {size}x{size} k={k:2d} {'fwd+bwd' if backward else 'forward'}: "
              + ", ".join(f"{r} {t * 1e3:.1f} ms" for r, t in medians.items()), file=sys.stderr, flush=True)
        for r in ("direct", "torch"):
            if r in medians:
                behind[r] = behind[r] + 1 if medians[r] > give_up * medians["fft"] else 0
                if behind[r] >= 2:
                    routes.remove(r)
    return rows


def crossover(rows: list[dict[str, Any]], route: str) -> str:
    """The smallest k from which fft beats ``route`` at every k where both were timed."""
    timed = [r for r in rows if route in r]
    for i, r in enumerate(timed):
        if all(s["fft"] < s[route] for s in timed[i:]):
            return f"k >= {r['k']}"
    return f"none up to k = {timed[-1]['k']}" if timed else "not timed"


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| k | fft (ms) | fft-numpy (ms) | direct (ms) | torch (ms) | fft / direct | fft / torch "
             "| fft-numpy / fft |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ms = [f"{r[n] * 1e3:.1f}" if n in r else "-" for n in ROUTES]
        ratios = [f"{r['fft'] / r[n]:.2f}" if n in r else "-" for n in ("direct", "torch")]
        lines.append(f"| {r['k']} | " + " | ".join(ms + ratios) + f" | {r['fft-numpy'] / r['fft']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="64,224", help="image sizes (square), comma-separated")
    p.add_argument("--kernels", default=",".join(str(k) for k in range(3, 32, 2)))
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--channels", type=int, default=16, help="C = F")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--give-up", type=float, default=4.0,
                   help="stop timing a direct route after two kernel sizes at more than this x fft's time")
    p.add_argument("--budget", type=float, default=2.0, help="seconds of timed calls per route and row, roughly")
    a = p.parse_args()
    try:
        import torch
    except ImportError:
        raise SystemExit("the benchmark compares against PyTorch: pip install torch==2.14.1 torchvision==0.29.1")
    import scipy

    torch.set_num_threads(a.threads)
    kernels = [int(k) for k in a.kernels.split(",")]
    print(f"fft_conv2d vs direct conv2d vs PyTorch {torch.__version__}: N={a.batch}, C=F={a.channels}, "
          f"'same' padding, float32, {a.threads} threads, NumPy {np.__version__}, SciPy {scipy.__version__}, "
          f"{time.strftime('%Y-%m-%d')}; medians of alternating blocks")
    with juanji.num_threads(a.threads):
        for size in (int(s) for s in a.sizes.split(",")):
            for backward in (False, True):
                rows = sweep(torch, size, kernels, a.batch, a.channels, backward, a.give_up, a.budget)
                print(f"\n{size}x{size}, {'forward+backward' if backward else 'forward (no_grad)'}\n")
                print(table(rows))
                print(f"\ncrossover: fft faster than direct from {crossover(rows, 'direct')}, "
                      f"than torch from {crossover(rows, 'torch')}", flush=True)


if __name__ == "__main__":
    main()
