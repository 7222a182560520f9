"""A probe of the machine's slow spells: where a 64->64 3x3 forward's time goes, minute by minute.

    python bench/cross_core.py --seconds 300

Times juanji's row-shifted forward (juanji/kernels/rowshift.py) of 64->64 3x3 on 8x56x56 in
its parts, one line per round, so that a slow spell shows which part slows:

* fill:  the column fills inside the real forward (one thread writes each image's columns),
* prod:  the products inside the real forward (NumPy's BLAS, all threads, reading them),
* fixed: fills plus products again, but the products read a fixed copy of the columns, so
  that the fills never write memory another BLAS thread has just read,
* 1T:    the whole forward on a one-thread BLAS, as a fraction of the one-thread 2048^3 GEMM,
* ceil:  the 2048^3 GEMM on all threads (GFLOP/s).

What it showed on this project's 2-core machine (bench/NOTES.md, "Slow states"): in a slow
spell fill went 1.2 -> 6.4 ms while prod stayed at 10-11 ms, fixed at 11-12 ms and 1T at
86-89%: writing memory that the other core has just read is what slows. Each line holds
medians of --repeats forwards; a benchmark, never part of the tests' claims.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import juanji  # noqa: E402
from bench_suite import median_time  # noqa: E402
from juanji.kernels import blas  # noqa: E402
from juanji.kernels.conv import rowshift  # noqa: E402
# A benchmark owns its process: it opts in to juanji's malloc tuning, as the juanji command does
# (juanji/allocator.py; JUANJI_MALLOC_TUNING=0 declines it), so its figures are the command's.
juanji.allocator.tune_malloc_unless_declined()

SHAPE, KERNEL, PAD = (8, 64, 56, 56), (64, 64, 3, 3), ((1, 1), (1, 1))
BUDGET = 8 * 2**20
FLOPS = 2 * 8 * 56 * 56 * 64 * 64 * 9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    if not blas.available(np.float32):
        raise SystemExit("the row-shifted forward needs NumPy's OpenBLAS (see juanji/kernels/blas.py)")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    w = (rng.standard_normal(KERNEL) * 0.1).astype(np.float32)
    b = np.zeros(KERNEL[0], np.float32)
    out = np.empty((8, 64, 56, 56), np.float32)
    gemm_a = rng.standard_normal((2048, 2048)).astype(np.float32)
    products = rowshift._products(w, b, 1, 1)
    chunks = lambda: rowshift._image_chunks(x, (3, 3), (1, 1), PAD, (1, 1), (56, 56), BUDGET)  # noqa: E731
    fixed = next(chunks())[2].copy()  # image 0's columns, never written again

    def forward(read_fixed: bool) -> tuple[float, float]:
        fill = prod = 0.0
        gen = chunks()
        while True:
            t0 = time.perf_counter()
            try:
                i0, _, cols = next(gen)  # the fill happens here
            except StopIteration:
                return fill, prod
            t1 = time.perf_counter()
            src = fixed if read_fixed else cols
            for k, (w_a, rows, s) in enumerate(products):
                blas.gemm(w_a, src[rows, s * 56: s * 56 + 3136], out[i0].reshape(64, 3136), beta=float(k > 0))
            fill, prod = fill + t1 - t0, prod + time.perf_counter() - t1

    print("time   fill ms  prod ms  fixed ms  1T (% of 1T GEMM)  ceil GFLOP/s")
    start = time.time()
    while time.time() - start < a.seconds:
        parts = np.median(np.array([forward(False) for _ in range(a.repeats)]), axis=0) * 1e3
        fixed_ms = statistics.median(sum(forward(True)) for _ in range(a.repeats)) * 1e3
        ceiling = 2 * 2048**3 / median_time(lambda: gemm_a @ gemm_a, 2, warmup=1) / 1e9
        with juanji.num_threads(1):
            one_forward = lambda: rowshift.forward_nchw(x, w, b, (1, 1), PAD, (1, 1), out, BUDGET)  # noqa: E731
            one = FLOPS / median_time(one_forward, 3, warmup=1)
            one_ceiling = 2 * 2048**3 / median_time(lambda: gemm_a @ gemm_a, 1, warmup=1)
        print(f"{time.time() - start:5.0f}s {parts[0]:7.2f} {parts[1]:8.2f} {fixed_ms:9.2f} {one / one_ceiling:12.0%}"
              f"       {ceiling:8.0f}", flush=True)


if __name__ == "__main__":
    main()
