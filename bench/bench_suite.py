"""The speed benchmark: juanji against PyTorch CPU (and the from-scratch baseline), one run.

    python bench/bench_suite.py                      # everything, 3 rounds, ~8 minutes on 2 cores
    python bench/bench_suite.py --only conv,train    # some sections
    python bench/bench_suite.py --repeats 5 --rounds 1   # quicker, noisier

Both libraries get the same thread count (juanji.num_threads caps NumPy's BLAS; torch.set_num_threads
caps PyTorch), float32, the same shapes and a warm-up; their repeats run in alternating blocks,
each after a pause that lets the other library's idle threads stop spinning; each row reports
the median of the repeats and juanji / PyTorch (lower is better; 1.0 is parity). The machines are shared and
noisy, and a slow spell lasts minutes, longer than one row takes: so every row is timed in
each of --rounds passes over all rows, and the table gives medians over the rounds with the
range of the ratios. Quote ratios and medians, never a single absolute time. Results go to a JSON file and
a Markdown table on stdout. Never part of the tests.

Sections: ceiling (NumPy float32 GEMM GFLOP/s), conv, pool (max pool, batch norm), train
(training steps and inference in images/s), memory (peak RSS of a resnet50 training step, each
library in its own process), baseline (the tutorials' from-scratch NumPy CNN).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import juanji  # noqa: E402
import juanji.functional as F  # noqa: E402
from juanji.models import get_model  # noqa: E402
from juanji.optim import Adam  # noqa: E402
# A benchmark owns its process: it opts in to juanji's malloc tuning, as the juanji command does
# (juanji/allocator.py; JUANJI_MALLOC_TUNING=0 declines it), so its figures are the command's.
juanji.allocator.tune_malloc_unless_declined()

Row = dict[str, Any]


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


_BLOCKS = 3

# Each block starts after this pause. A library's idle threads keep spinning after its last
# call: OpenBLAS's for ~0.1 s (bench/NOTES.md, "Slow states"), so a block that followed
# another library's at once ran beside them. Measured: PyTorch's 64->64 3x3 forward took
# 16.9 ms right after a juanji block and 8.5 ms after a 0.3 s pause (medians of 24).
_SETTLE_S = 0.3


def paired(name: str, jfn: Callable[[], Any], tfn: Callable[[], Any], repeats: int,
           ceiling_fn: Callable[[], Any] | None = None, **extra: Any) -> Row:
    """Time both in alternating blocks (juanji, PyTorch, juanji, ...), each block a warm-up
    and then repeats/_BLOCKS timed calls; report the median of each library's calls.

    Blocks, not call-by-call interleaving: each library's thread pool (OpenBLAS's for NumPy,
    OpenMP's for PyTorch) keeps spinning for a while after a call, and alternating every call
    made the two fight over the 2 cores (64->64 3x3 forward: juanji 14.5 -> 21.8 ms and
    PyTorch 9.5 -> 34 ms); for the same reason each block starts after a pause of _SETTLE_S.
    Alternating blocks still spreads a shared machine's drift over both.
    ``ceiling_fn`` (the 2048^3 GEMM), when given, gets its own blocks in the same rotation, so
    a row's fraction of the ceiling compares work done under the same machine conditions.
    """
    fns = [jfn, tfn] + ([ceiling_fn] if ceiling_fn is not None else [])
    per_block = max(1, -(-repeats // _BLOCKS))
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(_BLOCKS):
        for fn, ts in zip(fns, times):
            time.sleep(_SETTLE_S)  # the previous block's idle threads stop spinning
            fn()  # warm-up: caches, lazily built buffers, this library's threads
            for _ in range(per_block):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
    mj, mt = statistics.median(times[0]), statistics.median(times[1])
    row = {"row": name, "juanji_s": mj, "torch_s": mt, "ratio": mj / mt, **extra}
    if ceiling_fn is not None:
        row["ceiling_gflops"] = _GEMM_FLOPS / statistics.median(times[2]) / 1e9
    return row


# --- 5. the ceiling -----------------------------------------------------------------------------
_GEMM_N = 2048
_GEMM_FLOPS = 2 * _GEMM_N**3


def _ceiling_gemm() -> Callable[[], Any]:
    a = np.random.default_rng(0).standard_normal((_GEMM_N, _GEMM_N)).astype(np.float32)
    return lambda: a @ a


def gemm_ceiling(repeats: int) -> float:
    """NumPy float32 matmul GFLOP/s on 2048x2048 (the best this BLAS does here)."""
    t = median_time(_ceiling_gemm(), max(3, repeats // 2))
    return _GEMM_FLOPS / t / 1e9


# --- 1. convolution -----------------------------------------------------------------------------
CONV_CASES = [
    # name, input (N, C, H, W), weight (O, C/g, KH, KW), stride, padding, groups
    ("1->30 5x5 on 100x28x28", (100, 1, 28, 28), (30, 1, 5, 5), 1, 0, 1),
    ("3->64 3x3 pad 1 on 32x3x32x32", (32, 3, 32, 32), (64, 3, 3, 3), 1, 1, 1),
    ("64->64 3x3 pad 1 on 8x56x56", (8, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1),
    ("256->64 1x1 on 8x28x28", (8, 256, 28, 28), (64, 256, 1, 1), 1, 0, 1),
    ("3->96 11x11 stride 4 on 8x227x227", (8, 3, 227, 227), (96, 3, 11, 11), 4, 0, 1),
    ("depthwise 3x3 x64 on 8x56x56", (8, 64, 56, 56), (64, 1, 3, 3), 1, 1, 64),
    ("32->64 5x5 'same' stride 2 on 16x64x64", (16, 32, 64, 64), (64, 32, 5, 5), 2, "same", 1),
]


def _torch_same_pad(torch: Any, x: Any, k: tuple[int, int], s: int) -> Any:
    """TensorFlow "same" for PyTorch with stride > 1: pad asymmetrically, then conv with 0."""
    pads = []
    for n, kk in zip((x.shape[3], x.shape[2]), (k[1], k[0])):
        out = -(-n // s)
        total = max((out - 1) * s + kk - n, 0)
        pads += [total // 2, total - total // 2]
    return torch.nn.functional.pad(x, pads)


def conv_rows(torch: Any, repeats: int) -> list[Row]:
    rows = []
    rng = np.random.default_rng(0)
    gemm = _ceiling_gemm()
    for name, xs, ws, stride, pad, groups in CONV_CASES:
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal(ws) * 0.1).astype(np.float32)
        b = rng.standard_normal(ws[0]).astype(np.float32)
        jx, jw, jb = (juanji.Tensor(a, requires_grad=True) for a in (x, w, b))
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))

        def tconv(xx: Any) -> Any:
            if pad == "same":
                return torch.nn.functional.conv2d(_torch_same_pad(torch, xx, ws[2:], stride), tw, tb,
                                                  stride=stride, groups=groups)
            return torch.nn.functional.conv2d(xx, tw, tb, stride=stride, padding=pad, groups=groups)

        def jconv() -> Any:
            return F.conv2d(jx, jw, jb, stride=stride, padding=pad, groups=groups)

        with juanji.no_grad():
            out_shape = jconv().shape
        flops = 2.0 * np.prod(out_shape) * ws[1] * ws[2] * ws[3]

        def jf() -> None:
            with juanji.no_grad():
                jconv()

        def tf() -> None:
            with torch.no_grad():
                tconv(tx)

        g_np = np.ones(out_shape, np.float32)
        g_t = torch.ones(out_shape)

        def jfb() -> None:
            jconv().backward(g_np)

        def tfb() -> None:
            tconv(tx).backward(g_t)

        r = paired(f"conv2d {name} forward", jf, tf, repeats, ceiling_fn=gemm)
        r["juanji_gflops"] = flops / r["juanji_s"] / 1e9
        r["fraction_of_ceiling"] = r["juanji_gflops"] / r["ceiling_gflops"]
        rows.append(r)
        r = paired(f"conv2d {name} forward+backward", jfb, tfb, repeats)
        r["juanji_gflops"] = 3 * flops / r["juanji_s"] / 1e9
        rows.append(r)
    return rows


# --- 2. pooling and batch norm --------------------------------------------------------------------
def pool_rows(torch: Any, repeats: int) -> list[Row]:
    rows = []
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 64, 112, 112)).astype(np.float32)
    for k, s in ((2, 2), (3, 2)):
        jx = juanji.Tensor(x, requires_grad=True)
        tx = torch.from_numpy(x).requires_grad_()
        jo = F.max_pool2d(jx, k, s)
        gj, gt = np.ones(jo.shape, np.float32), torch.ones(jo.shape)
        rows.append(paired(f"max_pool2d {k}x{k}/{s} on 8x64x112x112 forward+backward",
                           lambda: F.max_pool2d(jx, k, s).backward(gj),
                           lambda: torch.nn.functional.max_pool2d(tx, k, s).backward(gt), repeats))
    xb = rng.standard_normal((8, 64, 56, 56)).astype(np.float32)
    jx = juanji.Tensor(xb, requires_grad=True)
    jw, jb = juanji.ones(64, requires_grad=True), juanji.zeros(64, requires_grad=True)
    rm, rv = juanji.zeros(64), juanji.ones(64)
    tx = torch.from_numpy(xb).requires_grad_()
    tw, tb = torch.ones(64, requires_grad=True), torch.zeros(64, requires_grad=True)
    trm, trv = torch.zeros(64), torch.ones(64)
    g = np.ones(xb.shape, np.float32)
    gt = torch.ones(xb.shape)
    rows.append(paired(
        "batch_norm2d (training) on 8x64x56x56 forward+backward",
        lambda: F.batch_norm(jx, rm, rv, jw, jb, training=True).backward(g),
        lambda: torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training=True).backward(gt),
        repeats))
    return rows


# --- 3. training steps and inference --------------------------------------------------------------
def _torch_models(torch: Any) -> dict[str, Callable[[], Any]]:
    tn = torch.nn
    try:
        import torchvision
    except ImportError:  # e.g. beside the torch 2.13.0 CPU build: the ResNet rows are skipped
        torchvision = None

    def simple() -> Any:
        return tn.Sequential(tn.Conv2d(1, 30, 5), tn.ReLU(), tn.MaxPool2d(2), tn.Flatten(),
                             tn.Linear(30 * 12 * 12, 100), tn.ReLU(), tn.Linear(100, 10))

    def lenet() -> Any:
        return tn.Sequential(tn.Conv2d(1, 6, 5, padding=2), tn.ReLU(), tn.MaxPool2d(2),
                             tn.Conv2d(6, 16, 5), tn.ReLU(), tn.MaxPool2d(2), tn.Flatten(),
                             tn.Linear(400, 120), tn.ReLU(), tn.Linear(120, 84), tn.ReLU(),
                             tn.Linear(84, 10))

    def resnet18_cifar() -> Any:
        m = torchvision.models.resnet18(num_classes=10)
        m.conv1 = tn.Conv2d(3, 64, 3, 1, 1, bias=False)
        m.maxpool = tn.Identity()
        return m

    models = {"simple": simple, "lenet": lenet}
    if torchvision is not None:
        models.update(resnet18_cifar=resnet18_cifar, resnet50=lambda: torchvision.models.resnet50())
    return models


def train_rows(torch: Any, repeats: int) -> list[Row]:
    rows = []
    rng = np.random.default_rng(0)
    tm = _torch_models(torch)
    cases = [
        ("SimpleConvNet train step, batch 100, 1x28x28", "simple_convnet", {}, "simple", (100, 1, 28, 28), 10),
        ("LeNet-5 train step, batch 128, 1x28x28", "lenet5", {}, "lenet", (128, 1, 28, 28), 10),
        ("resnet18 (CIFAR stem) train step, batch 64, 3x32x32", "resnet18",
         {"num_classes": 10, "small_input": True}, "resnet18_cifar", (64, 3, 32, 32), 10),
    ]
    for name, jname, kwargs, tname, shape, classes in cases:
        if tname not in tm:
            print(f"skipped (torchvision not installed): {name}", file=sys.stderr)
            continue
        juanji.manual_seed(0)
        model = get_model(jname, **kwargs)
        opt = Adam(model.parameters(), lr=1e-3)
        tmodel = tm[tname]()
        topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
        x = rng.standard_normal(shape).astype(np.float32)
        y = rng.integers(0, classes, shape[0])
        jx, jy, tx, ty = juanji.from_numpy(x), juanji.from_numpy(y), torch.from_numpy(x), torch.from_numpy(y)

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

        r = paired(name, jstep, tstep, repeats)
        r["juanji_images_per_s"] = shape[0] / r["juanji_s"]
        r["torch_images_per_s"] = shape[0] / r["torch_s"]
        rows.append(r)

    if "resnet50" not in tm:
        return rows
    model = get_model("resnet50").eval()
    tmodel = tm["resnet50"]().eval()
    x = rng.standard_normal((8, 3, 224, 224)).astype(np.float32)
    jx, tx = juanji.from_numpy(x), torch.from_numpy(x)

    def jinf() -> None:
        with juanji.no_grad():
            model(jx)

    def tinf() -> None:
        with torch.no_grad():
            tmodel(tx)

    r = paired("resnet50 inference, batch 8, 3x224x224", jinf, tinf, max(3, repeats // 3))
    r["juanji_images_per_s"] = 8 / r["juanji_s"]
    r["torch_images_per_s"] = 8 / r["torch_s"]
    rows.append(r)
    return rows


# --- 4. peak memory, each library in its own process ----------------------------------------------
def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def memory_child(lib: str, threads: int) -> None:
    """Print JSON: RSS after imports, and peak RSS over model build + two training steps."""
    if lib == "torch":
        import torch
        import torchvision

        torch.set_num_threads(threads)
        base = _rss_kib("VmRSS")
        model = torchvision.models.resnet50()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.randn(8, 3, 224, 224)
        y = torch.randint(0, 1000, (8,))
        for _ in range(2):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    else:
        base = _rss_kib("VmRSS")
        model = get_model("resnet50")
        opt = Adam(model.parameters(), lr=1e-3)
        x = juanji.randn(8, 3, 224, 224)
        y = juanji.from_numpy(np.random.default_rng(0).integers(0, 1000, 8))
        for _ in range(2):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    print(json.dumps({"lib": lib, "base_kib": base, "peak_kib": _rss_kib("VmHWM")}))


def memory_rows(threads: int) -> list[Row]:
    out = {}
    for lib in ("juanji", "torch"):
        proc = subprocess.run([sys.executable, __file__, "--memory-child", lib, "--threads", str(threads)],
                              capture_output=True, text=True, check=True)
        out[lib] = json.loads(proc.stdout.strip().splitlines()[-1])
    used = {k: (v["peak_kib"] - v["base_kib"]) / 1024 for k, v in out.items()}
    return [{"row": "resnet50 training (Adam), batch 8, 224x224: peak RSS above the imported library (MiB)",
             "juanji_mib": used["juanji"], "torch_mib": used["torch"], "ratio": used["juanji"] / used["torch"],
             "juanji_peak_rss_mib": out["juanji"]["peak_kib"] / 1024,
             "torch_peak_rss_mib": out["torch"]["peak_kib"] / 1024}]


# --- 6. the from-scratch baseline -----------------------------------------------------------------
def baseline_rows(repeats: int) -> list[Row]:
    from baseline_scratch import SimpleConvNet as ScratchNet

    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 100)
    scratch = ScratchNet()
    x64 = x.astype(np.float64)
    juanji.manual_seed(0)
    model = get_model("simple_convnet")
    opt = Adam(model.parameters(), lr=1e-3)
    jx, jy = juanji.from_numpy(x), juanji.from_numpy(y)

    def jstep() -> None:
        loss = F.cross_entropy(model(jx), jy)
        opt.zero_grad()
        loss.backward()
        opt.step()

    # The same alternating blocks as the PyTorch rows, with the stand-in in PyTorch's place.
    r = paired("baseline", jstep, lambda: scratch.train_step(x64, y), repeats)
    tj, ts = r["juanji_s"], r["torch_s"]
    return [{"row": "SimpleConvNet train step, batch 100: from-scratch baseline / juanji (speed-up)",
             "juanji_s": tj, "baseline_s": ts, "speedup": ts / tj}]


def merge_rounds(rounds: list[list[Row]]) -> list[Row]:
    """One row per name from several rounds of the same rows: medians of the times, and the
    median, min and max of each round's ratio (fraction of the ceiling, speed-up)."""
    merged = []
    for same in zip(*rounds):
        row = dict(same[0])
        for key in ("juanji_s", "torch_s", "baseline_s", "ceiling_gflops"):
            if key in row:
                row[key] = statistics.median(r[key] for r in same)
        for key in ("ratio", "fraction_of_ceiling", "speedup"):
            if key in row:
                values = [r[key] for r in same]
                row[key], row[key + "_min"], row[key + "_max"] = statistics.median(values), min(values), max(values)
        if "juanji_gflops" in row:
            row["juanji_gflops"] = statistics.median(r["juanji_gflops"] for r in same)
        for key in ("juanji_images_per_s", "torch_images_per_s"):
            if key in row:
                row[key] = statistics.median(r[key] for r in same)
        row["rounds"] = len(same)
        merged.append(row)
    return merged


def _spread(r: Row, key: str, fmt: str) -> str:
    if r.get("rounds", 1) < 2:
        return ""
    return f" ({format(r[key + '_min'], fmt)}-{format(r[key + '_max'], fmt)})"


def _fmt(r: Row) -> str:
    if "juanji_mib" in r:
        return f"| {r['row']} | {r['juanji_mib']:.0f} MiB | {r['torch_mib']:.0f} MiB | {r['ratio']:.2f} |"
    if "baseline_s" in r:
        return (f"| {r['row']} | {r['juanji_s'] * 1e3:.1f} ms | baseline {r['baseline_s'] * 1e3:.1f} ms "
                f"| {r['speedup']:.1f}x faster{_spread(r, 'speedup', '.1f')} |")
    extra = ""
    if "fraction_of_ceiling" in r:
        extra = (f" ({r['juanji_gflops']:.0f} GFLOP/s, {r['fraction_of_ceiling']:.0%}"
                 f"{_spread(r, 'fraction_of_ceiling', '.0%')} of a ceiling of {r['ceiling_gflops']:.0f} "
                 f"timed alongside)")
    elif "juanji_images_per_s" in r:
        extra = f" ({r['juanji_images_per_s']:.0f} vs {r['torch_images_per_s']:.0f} images/s)"
    return (f"| {r['row']}{extra} | {r['juanji_s'] * 1e3:.2f} | {r['torch_s'] * 1e3:.2f} "
            f"| {r['ratio']:.2f}{_spread(r, 'ratio', '.2f')} |")


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
    p.add_argument("--repeats", type=int, default=11)
    p.add_argument("--rounds", type=int, default=3,
                   help="time every row this many times, a full pass over the rows apart, and report "
                        "medians with the range of the ratios (a shared machine drifts for minutes)")
    p.add_argument("--only", default="ceiling,conv,pool,train,memory,baseline")
    p.add_argument("--json", default="bench/results/suite.json")
    p.add_argument("--memory-child", choices=["juanji", "torch"], help=argparse.SUPPRESS)
    a = p.parse_args()
    from threadpoolctl import threadpool_info

    with juanji.num_threads(a.threads):
        if a.memory_child:
            memory_child(a.memory_child, a.threads)
            return
        try:
            import torch
        except ImportError:
            raise SystemExit("the benchmark compares against PyTorch: pip install torch==2.14.1 torchvision==0.29.1")
        torch.set_num_threads(a.threads)
        sections = set(a.only.split(","))
        ceiling = gemm_ceiling(a.repeats)
        rounds: list[list[Row]] = []
        for _ in range(max(1, a.rounds)):
            timed: list[Row] = []
            if "conv" in sections:
                timed += conv_rows(torch, a.repeats)
            if "pool" in sections:
                timed += pool_rows(torch, a.repeats)
            if "train" in sections:
                timed += train_rows(torch, a.repeats)
            if "baseline" in sections:
                timed += baseline_rows(a.repeats)
            rounds.append(timed)
        rows = merge_rounds(rounds)
        if "memory" in sections and "resnet50" in _torch_models(torch):
            at = len(rows) - 1 if rows and "baseline_s" in rows[-1] else len(rows)  # before the baseline
            rows[at:at] = memory_rows(a.threads)  # measured once: a peak, not a timing
        blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
                for i in threadpool_info() if i.get("user_api") == "blas"]
    meta = {"date": time.strftime("%Y-%m-%d"), "threads": a.threads, "cpu_count": os.cpu_count(),
            "cpu": cpu_model(), "kernel": platform.release(), "numpy": np.__version__,
            "torch": torch.__version__, "blas": blas, "gemm_ceiling_gflops": ceiling, "repeats": a.repeats,
            "rounds": max(1, a.rounds)}
    print(f"juanji vs PyTorch {torch.__version__}: {a.threads} threads, float32, median of {a.repeats} "
          f"(alternating blocks) in each of {max(1, a.rounds)} rounds, {meta['date']}")
    if a.rounds > 1:
        print("Times are medians over the rounds; a ratio is the median of the rounds' ratios, "
              "with their range in brackets.")
    print(f"CPU: {meta['cpu']} ({os.cpu_count()} cores), kernel {meta['kernel']}, BLAS: {'; '.join(blas)}")
    print(f"NumPy float32 GEMM ceiling: {ceiling:.0f} GFLOP/s\n")
    print("| row | juanji (ms) | PyTorch (ms) | juanji / PyTorch |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(_fmt(r))
    out = Path(a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
