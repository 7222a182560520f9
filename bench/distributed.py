"""Data-parallel training on this machine: 1 process x 2 threads against 2 processes x 1 thread.

    python bench/distributed.py [--rounds 3] [--steps 6] [--models simple_convnet,resnet18_cifar]

For each model, at one global batch (SimpleConvNet 100 at 1x28x28, resnet18 with the CIFAR stem
64 at 3x32x32; Adam), three configurations are timed in turns, ``--rounds`` times each (the
machine is shared: medians over rounds, and the range):

- ``1x2``: one process, a BLAS pool of 2 threads, batch G;
- ``1x1``: one process, one thread, batch G (what one core does alone: 2x1 / 1x1 is the
  scaling efficiency of two processes on two cores);
- ``2x1``: ``mpiexec -n 2``, one BLAS thread each, DistributedDataParallel at G/2 per rank,
  default buckets (the overlap of allreduce and backward);
- ``2x1-end``: the same with one bucket of every gradient (``bucket_cap_mb`` huge), started only
  when backward has finished: no overlap, the baseline the overlap is measured against.

Per configuration: images/s (G / median step time), and for the two DDP ones, per step
(medians): the seconds blocked waiting for the allreduces after backward
(``comm_stats['wait_s']``) on the rank that finished its backward last (``wait``: the
communication backward did not hide) and on the one that finished first (``wait_first``: that
plus the time it waited for the other rank's backward, which on a shared machine is mostly
the other rank being descheduled), the seconds inside the hooks (copies into buckets, starts,
progress tests), and the fraction of buckets already reduced when the wait began. A blocking
``MPI_Allreduce`` of the whole gradient, timed alone in the same job, is what the
communication costs when nothing hides it; ``hidden = 1 - wait(2x1) / wait(2x1-end)``.
Writes bench/results/distributed.json; the figures and the scaling model are in bench/NOTES.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS = {
    # name: (builder, kwargs, per-sample shape, global batch, classes)
    "simple_convnet": ("simple_convnet", {}, (1, 28, 28), 100, 10),
    "resnet18_cifar": ("resnet18", {"num_classes": 10, "small_input": True}, (3, 32, 32), 64, 10),
}


def worker(args: argparse.Namespace) -> None:
    """One configuration: time ``--steps`` training steps after 2 warm-up steps; print JSON (rank 0)."""
    sys.path.insert(0, str(ROOT))
    import juanji
    import juanji.distributed as dist
    import juanji.functional as F
    from juanji.models import get_model
    from juanji.optim import Adam
    # A benchmark owns its process: it opts in to juanji's malloc tuning, as the juanji command does
    # (juanji/allocator.py; JUANJI_MALLOC_TUNING=0 declines it), so its figures are the command's.
    juanji.allocator.tune_malloc_unless_declined()

    dist.init()
    juanji.set_num_threads(args.threads)
    name, kwargs, shape, global_batch, classes = MODELS[args.model]
    batch = global_batch // dist.world_size()
    juanji.manual_seed(0)
    model = get_model(name, **kwargs)
    ddp = None
    if args.bucket_cap_mb >= 1e4:  # 2x1-end: one bucket, so not even the 1 MB first bucket starts early
        import juanji.distributed.ddp

        juanji.distributed.ddp.FIRST_BUCKET_MB = args.bucket_cap_mb
    if dist.world_size() > 1:
        ddp = dist.DistributedDataParallel(model, bucket_cap_mb=args.bucket_cap_mb)
    forward = ddp or model
    opt = Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(dist.rank())
    x = juanji.tensor(rng.standard_normal((batch, *shape)).astype(np.float32))
    y = juanji.tensor(rng.integers(0, classes, batch))
    times, waits, waits_first, hooks, done = [], [], [], [], []
    for step in range(2 + args.steps):
        if ddp is not None:
            before = dict(ddp.comm_stats)
        dist.barrier()
        start = time.perf_counter()
        loss = F.cross_entropy(forward(x), y)
        opt.zero_grad()
        loss.backward()
        if ddp is not None:
            ddp.finish_gradient_synchronization()
        opt.step()
        elapsed = time.perf_counter() - start
        if step < 2:
            continue
        times.append(dist.all_reduce(elapsed, "max"))  # a step lasts until its slowest rank is done
        if ddp is not None:
            wait = ddp.comm_stats["wait_s"] - before["wait_s"]
            waits.append(dist.all_reduce(wait, "min"))  # the last rank out of backward waits least
            waits_first.append(dist.all_reduce(wait, "max"))
            hooks.append(ddp.comm_stats["hook_s"] - before["hook_s"])
            done.append((ddp.comm_stats["done_before_wait"] - before["done_before_wait"]) / len(ddp.bucket_sizes))
    result = {"step_s": float(np.median(times)), "images_per_s": global_batch / float(np.median(times)),
              "processes": dist.world_size(), "threads": args.threads, "global_batch": global_batch}
    if ddp is not None:
        grad_bytes = sum(ddp.bucket_sizes)
        buf = np.ones(grad_bytes // 4, np.float32)
        alone = []
        for _ in range(5):  # the whole gradient in one blocking allreduce, nothing else running
            dist.barrier()
            t = time.perf_counter()
            dist.all_reduce(buf)
            alone.append(time.perf_counter() - t)
        result.update(wait_s=float(np.median(waits)), wait_first_s=float(np.median(waits_first)),
                      hook_s=float(np.median(hooks)),
                      done_before_wait=float(np.median(done)), buckets=len(ddp.bucket_sizes),
                      gradient_bytes=grad_bytes, allreduce_alone_s=float(np.median(alone)))
    if dist.is_main():
        print("RESULT " + json.dumps(result), flush=True)


def run(model: str, config: str, steps: int) -> dict:
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    me = [sys.executable, str(Path(__file__).resolve()), "--worker", "--model", model, "--steps", str(steps)]
    if config in ("1x2", "1x1"):
        threads = config[-1]
        env.update(OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
        cmd = [*me, "--threads", threads]
    else:
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        mpiexec = Path(sys.executable).parent / "mpiexec"
        cap = "100000" if config == "2x1-end" else "4"
        cmd = [str(mpiexec if mpiexec.exists() else "mpiexec"), "-n", "2", *me, "--threads", "1",
               "--bucket-cap-mb", cap]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{config} {model} failed:\n{done.stderr[-3000:]}")
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", default="simple_convnet")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bucket-cap-mb", type=float, default=4.0)
    p.add_argument("--steps", type=int, default=6, help="timed steps per configuration and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--models", default="simple_convnet,resnet18_cifar")
    p.add_argument("--configs", default="1x2,1x1,2x1,2x1-end")
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    configs = tuple(args.configs.split(","))
    results: dict[str, dict[str, list[dict]]] = {}
    for model in args.models.split(","):
        steps = args.steps if model == "resnet18_cifar" else 5 * args.steps
        results[model] = {c: [] for c in configs}
        for r in range(args.rounds):
            for c in configs:  # in turns, so a slow spell of the shared machine hits all alike
                res = run(model, c, steps)
                results[model][c].append(res)
                print(f"{model} round {r + 1} {c}: {res['images_per_s']:.0f} img/s, step {res['step_s'] * 1e3:.1f} ms"
                      + (f", wait {res['wait_s'] * 1e3:.1f} ms (first rank {res['wait_first_s'] * 1e3:.1f}), allreduce alone {res['allreduce_alone_s'] * 1e3:.1f} ms,"
                         f" done before wait {res['done_before_wait']:.0%}" if "wait_s" in res else ""), flush=True)
    summary = {}
    print()
    print("| model | configuration | images/s (range) | step (ms) | wait after backward, last rank / first rank (ms) "
          "| hooks (ms) | allreduce alone (ms) | buckets reduced before the wait |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for model, by_config in results.items():
        summary[model] = {}
        for c, runs in by_config.items():
            med = {k: float(np.median([r[k] for r in runs])) for k in runs[0] if isinstance(runs[0][k], float)}
            rng = {k: (float(min(r[k] for r in runs)), float(max(r[k] for r in runs))) for k in med}
            summary[model][c] = {"median": med, "range": rng, "runs": runs}
            wait = f"{med['wait_s'] * 1e3:.1f} / {med['wait_first_s'] * 1e3:.1f}" if "wait_s" in med else "-"
            hook = f"{med['hook_s'] * 1e3:.1f}" if "hook_s" in med else "-"
            alone = f"{med['allreduce_alone_s'] * 1e3:.1f}" if "allreduce_alone_s" in med else "-"
            before = f"{med['done_before_wait']:.0%}" if "done_before_wait" in med else "-"
            print(f"| {model} | {c} | {med['images_per_s']:.0f} ({rng['images_per_s'][0]:.0f}-"
                  f"{rng['images_per_s'][1]:.0f}) | {med['step_s'] * 1e3:.1f} | {wait} | {hook} | {alone} | {before} |")
        s = summary[model]
        ips = {c: s[c]["median"]["images_per_s"] for c in configs}
        if "2x1" in ips and "1x2" in ips:
            s["ratio_2x1_over_1x2"] = ips["2x1"] / ips["1x2"]
            print(f"{model}: images/s 2x1 / 1x2 = {s['ratio_2x1_over_1x2']:.2f}")
        if "2x1" in ips and "1x1" in ips:
            s["ratio_2x1_over_1x1"] = ips["2x1"] / ips["1x1"]
            print(f"{model}: images/s 2x1 / 1x1 = {s['ratio_2x1_over_1x1']:.2f} (2 is perfect scaling)")
        if "2x1" in ips and "2x1-end" in ips:
            s["hidden_fraction"] = 1 - s["2x1"]["median"]["wait_s"] / s["2x1-end"]["median"]["wait_s"]
            print(f"{model}: wait after backward {s['2x1']['median']['wait_s'] * 1e3:.1f} ms with overlap, "
                  f"{s['2x1-end']['median']['wait_s'] * 1e3:.1f} ms with one bucket at the end: "
                  f"{s['hidden_fraction']:.0%} of it hidden behind backward")
    out = HERE / "results" / "distributed.json"
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "summary": summary}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
