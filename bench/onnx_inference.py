"""ResNet-50 inference in ONNX Runtime (juanji's export), juanji itself and PyTorch, in one run.

    python bench/onnx_inference.py                       # batch 8 at 224x224, 3 rounds, ~4 minutes on 2 cores
    python bench/onnx_inference.py --batch 16 --rounds 1 --repeats 4

juanji's resnet50 (eval, float32, random weights) is exported with ``juanji.onnx.export`` and
run by ONNX Runtime's CPU provider; torchvision's resnet50 runs in PyTorch. All three get the
same thread count (ORT's intra_op_num_threads, ``juanji.num_threads`` for NumPy's BLAS,
``torch.set_num_threads``) and the same input. As bench_suite.py's ``paired``: each library's
calls run in blocks (a warm-up, then repeats / 3 timed calls), the three libraries' blocks
alternate, each after a pause that lets the previous library's idle threads stop spinning,
and every round gives a median per library; the table shows medians over the rounds and the
ratios' range (lower time is better). Quote ratios and medians, never a single time. Before
timing, ORT's output is compared with juanji's (the export's check). Never part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import juanji  # noqa: E402
import juanji.onnx  # noqa: E402
from bench_suite import _BLOCKS, _SETTLE_S, cpu_model  # noqa: E402
from juanji.models import get_model  # noqa: E402
# A benchmark owns its process: it opts in to juanji's malloc tuning, as the juanji command does
# (juanji/allocator.py; JUANJI_MALLOC_TUNING=0 declines it), so its figures are the command's.
juanji.allocator.tune_malloc_unless_declined()

LIBS = ("juanji", "pytorch", "onnxruntime")


def timed_blocks(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, timed in alternating blocks (see the docstring)."""
    per_block = max(1, -(-repeats // _BLOCKS))
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(_BLOCKS):
        for name, fn in fns.items():
            time.sleep(_SETTLE_S)  # the previous block's idle threads stop spinning
            fn()  # warm-up
            for _ in range(per_block):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=224, help="input side (default 224)")
    p.add_argument("--repeats", type=int, default=6, help="timed calls per library per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--opset", type=int, default=juanji.onnx.DEFAULT_OPSET)
    p.add_argument("--json", default="bench/results/onnx_inference.json")
    a = p.parse_args()
    try:
        import onnxruntime as ort
        import torch
        import torchvision
    except ImportError as e:
        raise SystemExit(f"this benchmark needs onnxruntime, torch and torchvision: {e}")

    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.batch, 3, a.size, a.size)).astype(np.float32)
    with juanji.num_threads(a.threads):
        juanji.manual_seed(0)
        model = get_model("resnet50").eval()
        tmodel = torchvision.models.resnet50().eval()
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            path = juanji.onnx.export(model, juanji.randn(1, 3, a.size, a.size), Path(tmp) / "resnet50.onnx",
                                      opset=a.opset)
            export_s = time.perf_counter() - t0
            size_mb = path.stat().st_size / 2**20
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = a.threads
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        jx, tx = juanji.from_numpy(x), torch.from_numpy(x)

        def run_juanji() -> Any:
            with juanji.no_grad():
                return model(jx).numpy()

        def run_torch() -> Any:
            with torch.no_grad():
                return tmodel(tx)

        def run_ort() -> Any:
            return sess.run(None, {"input": x})[0]

        ref = run_juanji()
        diff = float(np.abs(run_ort() - ref).max() / np.abs(ref).max())
        fns = {"juanji": run_juanji, "pytorch": run_torch, "onnxruntime": run_ort}
        rounds = [timed_blocks(fns, a.repeats) for _ in range(max(1, a.rounds))]

    med = {k: statistics.median(r[k] for r in rounds) for k in LIBS}
    ratios = {
        "juanji / onnxruntime": [r["juanji"] / r["onnxruntime"] for r in rounds],
        "pytorch / onnxruntime": [r["pytorch"] / r["onnxruntime"] for r in rounds],
        "juanji / pytorch": [r["juanji"] / r["pytorch"] for r in rounds],
    }
    meta = {"date": time.strftime("%Y-%m-%d"), "threads": a.threads, "cpu": cpu_model(),
            "cpu_count": os.cpu_count(), "batch": a.batch, "size": a.size, "opset": a.opset,
            "repeats": a.repeats, "rounds": max(1, a.rounds), "numpy": np.__version__,
            "torch": torch.__version__, "onnxruntime": ort.__version__, "export_s": export_s,
            "onnx_file_mib": size_mb, "ort_vs_juanji_max_rel_diff": diff}
    print(f"resnet50 inference, batch {a.batch}, 3x{a.size}x{a.size}, float32, {a.threads} threads, "
          f"{meta['date']}; median of {a.repeats} (alternating blocks) in each of {meta['rounds']} rounds")
    print(f"CPU: {meta['cpu']} ({os.cpu_count()} cores); onnxruntime {ort.__version__}, torch {torch.__version__}")
    print(f"export: {export_s:.1f} s, {size_mb:.0f} MiB, opset {a.opset}; ORT vs juanji max |diff| / max |logit| "
          f"= {diff:.1e}\n")
    print("| library | ms per batch | images/s |")
    print("|---|---:|---:|")
    for k in LIBS:
        print(f"| {k} | {med[k] * 1e3:.0f} | {a.batch / med[k]:.1f} |")
    print("\n| ratio (time) | median | range over rounds |")
    print("|---|---:|---:|")
    for k, v in ratios.items():
        print(f"| {k} | {statistics.median(v):.2f} | {min(v):.2f}-{max(v):.2f} |")
    out = Path(a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = {"median_s": med, "images_per_s": {k: a.batch / med[k] for k in LIBS},
            "ratios": {k: {"median": statistics.median(v), "min": min(v), "max": max(v)} for k, v in ratios.items()},
            "rounds": rounds}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
