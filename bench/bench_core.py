"""Time juanji against PyTorch CPU on the same work, in one run, and print the ratio.

    python bench/bench_core.py [--threads 2] [--repeats 15] [--json bench/results/core.json]

Both libraries get the same thread count (threadpoolctl caps NumPy's BLAS,
torch.set_num_threads caps PyTorch), float32, the same shapes and a warm-up; each row
reports the median of the repeats and juanji/PyTorch (lower is better, 1.0 is parity).
The machines are shared and noisy: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import juanji  # noqa: E402
import juanji.functional as F  # noqa: E402
import juanji.nn as nn  # noqa: E402
from juanji.optim import Adam  # noqa: E402


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def conv_rows(torch: Any, repeats: int) -> list[dict[str, Any]]:
    rows = []
    rng = np.random.default_rng(0)
    cases = [
        ("conv2d 1->30 5x5, 100x28x28", (100, 1, 28, 28), (30, 1, 5, 5), 1, 0),
        ("conv2d 64->64 3x3 pad 1, 8x56x56", (8, 64, 56, 56), (64, 64, 3, 3), 1, 1),
    ]
    for name, xs, ws, stride, pad in cases:
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal(ws) * 0.1).astype(np.float32)
        b = rng.standard_normal(ws[0]).astype(np.float32)
        jx, jw, jb = (juanji.Tensor(a) for a in (x, w, b))
        tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))

        def jf() -> None:
            with juanji.no_grad():
                F.conv2d(jx, jw, jb, stride=stride, padding=pad)

        def tf() -> None:
            with torch.no_grad():
                torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=pad)

        jxg, jwg, jbg = (juanji.Tensor(a, requires_grad=True) for a in (x, w, b))
        txg, twg, tbg = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))

        def jfb() -> None:
            out = F.conv2d(jxg, jwg, jbg, stride=stride, padding=pad)
            out.backward(np.ones(out.shape, np.float32))

        def tfb() -> None:
            out = torch.nn.functional.conv2d(txg, twg, tbg, stride=stride, padding=pad)
            out.backward(torch.ones_like(out))

        n, c, h, wd = xs
        o, _, kh, kw = ws
        oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
        flops = 2.0 * n * o * oh * ow * c * kh * kw
        for kind, a, bfn, fl in (("forward", jf, tf, flops), ("forward+backward", jfb, tfb, 3 * flops)):
            tj, tt = median_time(a, repeats), median_time(bfn, repeats)
            rows.append({"row": f"{name} {kind}", "juanji_s": tj, "torch_s": tt, "ratio": tj / tt,
                         "juanji_gflops": fl / tj / 1e9})
    return rows


def simple_convnet_juanji() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(30 * 12 * 12, 100), nn.ReLU(), nn.Linear(100, 10),
    )


def train_rows(torch: Any, repeats: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 100)
    model = simple_convnet_juanji()
    opt = Adam(model.parameters(), lr=1e-3)
    tn = torch.nn
    tmodel = tn.Sequential(tn.Conv2d(1, 30, 5), tn.ReLU(), tn.MaxPool2d(2), tn.Flatten(),
                           tn.Linear(30 * 12 * 12, 100), tn.ReLU(), tn.Linear(100, 10))
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
    jx, jy = juanji.from_numpy(x), juanji.from_numpy(y)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def jstep() -> None:
        loss = F.cross_entropy(model(jx), jy)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def tstep() -> None:
        loss = torch.nn.functional.cross_entropy(tmodel(tx), ty)
        topt.zero_grad()
        loss.backward()
        topt.step()

    tj, tt = median_time(jstep, repeats), median_time(tstep, repeats)
    return [{"row": "SimpleConvNet train step (Adam), batch 100, 28x28", "juanji_s": tj, "torch_s": tt,
             "ratio": tj / tt, "juanji_images_per_s": 100 / tj, "torch_images_per_s": 100 / tt}]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--json", default="bench/results/core.json")
    a = p.parse_args()
    try:
        import torch
    except ImportError:
        raise SystemExit("the benchmark compares against PyTorch: pip install torch==2.14.1")
    from threadpoolctl import threadpool_info, threadpool_limits

    torch.set_num_threads(a.threads)
    with threadpool_limits(limits=a.threads):
        blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})" for i in threadpool_info()]
        rows = conv_rows(torch, a.repeats) + train_rows(torch, a.repeats)
    meta = {"date": time.strftime("%Y-%m-%d"), "threads": a.threads, "cpu_count": os.cpu_count(),
            "machine": platform.machine(), "cpu": cpu_model(), "numpy": np.__version__,
            "torch": torch.__version__, "blas": blas}
    print(f"juanji vs PyTorch {torch.__version__}, {a.threads} threads, float32, median of {a.repeats}")
    print(f"CPU: {meta['cpu']} ({os.cpu_count()} cores); BLAS: {'; '.join(blas)}")
    print(f"| row | juanji (ms) | PyTorch (ms) | juanji / PyTorch |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['row']} | {r['juanji_s'] * 1e3:.2f} | {r['torch_s'] * 1e3:.2f} | {r['ratio']:.2f} |")
    out = Path(a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
