"""Re-measure the conv planner's size-rule thresholds on this machine; print the values to use.

    python bench/tune_conv.py                        # every size rule, a few minutes on 2 cores
    python bench/tune_conv.py --quick                # few shapes, few repeats: < 60 s, noisier
    python bench/tune_conv.py --only winograd_min_channels,rowshift_min_rows
    python bench/tune_conv.py --threads 1 --json bench/results/tune_conv.json

The planner (juanji/kernels/conv/planner.py) picks a convolution's routes by rules whose
thresholds were measured on one 2-core machine. Each threshold that decides between two
routes is re-measured here: both routes are timed on a sweep of shapes that differ in the
thresholded size (channels, product rows, output positions, ...), each forced with
``use_routes`` so only that decision changes, and the crossover is the smallest size from
which the route the rule picks wins consistently (it never loses again further up the sweep;
sizes where the two are even may lie in between). The script changes nothing: it prints a
Markdown table and a line to paste, ``juanji.kernels.conv.set_thresholds(...)``, naming only
the thresholds whose measured value differs from the one in force (``thresholds()``).

How it times: float32; --threads BLAS threads (``juanji.num_threads``); per size, --rounds
rounds of two blocks, one per route, in alternating order (A B, B A, ...), each block a
pause, a warm-up call and --repeats timed calls (more where a call takes under a
millisecond); a route's time is the median of its calls.
The ratio is (the rule's route) / (the other route): below 1 the rule's route is faster. A
size counts for a route only when the ratio is beyond +-5% and every round's ratio lies on
the same side of 1; elsewhere the two are called even. Where no size counts, the table says
"no clear crossover" and the current value stays. The machines are shared and noisy: run it
twice and paste only what both runs agree on. Forward only for forward rules, forward and
backward for rules that also (or only) choose a gradient route. The rules do not look at
the batch size, but batch-last routes gain with it: each sweep fixes one batch (below), so
a crossover holds for batches near it. Never part of the tests' timing claims
(tests/test_tune_conv.py only checks the structure of a tiny run).

The sweeps (``SWEEPS``; each row of the table names the routes it compared):

* winograd_min_channels: C -> C 3x3 stride 1, C = 32..256, the image side halving as C
  doubles (64x64 at 32 channels, 8x8 at 256: a ResNet's stages, constant work per layer),
  batch 32, in the planner's layout; winograd against the route the rules pick without it.
  Forward.
* rowshift_min_rows: C -> 32 3x3 stride 1 at 24x24, C = 3..32 (9..96 product rows), batch
  32, batch-last; rowshift against the general route, every direction. Forward and backward.
* direct_max_out_channels: LeNet-5's c1 (1 -> O 5x5 at 28x28), O = 2..24, batch 128;
  direct against batch_last. Forward.
* direct_min_batch: 1 -> 6 5x5 at 28x28, batch 4..128; the same two routes. Forward.
* batch_inner_min_cgk: C -> 32 3x3 at 32x32, batch 16, NCHW, Cg*K = 9..288; dW and dx by
  batch_inner against im2col (per image). Forward and backward.
* adjoint_min_channels: C -> 64 3x3 stride 1 at 32x32, batch 8, NCHW, C = 8..128; dx as a
  correlation against the route the rules pick without it (products per kernel row, where
  they can run). Forward and backward.
* forward_per_image_min_l: 64 -> 64 3x3 stride 1, batch 8, output 8x8..64x64 (L =
  64..4096); the NCHW layout against batch-last, the input arriving in each (as from a layer
  before it in the same layout). Forward and backward.
* first_layer_widening: a first layer 3 -> 3r 3x3 stride 1 at 32x32, batch 64, r = 1..32;
  batch-last against NCHW, the input arriving NCHW. Forward and backward (no input
  gradient). The rule's reason is also that the layers after it then stay batch-last, which
  this layer-alone timing leaves out: check a whole model before changing it.

Not re-measured: the memory budgets (cols_budget_bytes, batch_last_budget_bytes,
rowshift_budget_bytes), min_dw_positions, split_k_*, and max_chunk: sizes of chunks within
one route, or caps on memory, not a choice between two routes; nor gather_min_stride, a
guard for strides wider than the window rather than a speed rule.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import juanji  # noqa: E402
import juanji.functional as F  # noqa: E402
from juanji.kernels.conv import thresholds, use_routes  # noqa: E402
from juanji.kernels.layout import from_batch_last, to_batch_last  # noqa: E402
from bench_suite import cpu_model  # noqa: E402  (the same machine line as the speed benchmark)

# A benchmark owns its process: it opts in to juanji's malloc tuning, as the juanji command does
# (juanji/allocator.py; JUANJI_MALLOC_TUNING=0 declines it), so its figures are the command's.
juanji.allocator.tune_malloc_unless_declined()

__all__ = ["SWEEPS", "Sweep", "Case", "measure", "analyse", "markdown_table", "sweep_lines", "suggestion",
           "TOLERANCE"]

# A size counts for one route only when the two differ by more than this: a shared 2-core
# machine moves single medians by a few percent between blocks, and a threshold that moves
# on a smaller difference would follow the noise.
TOLERANCE = 0.05

# Calls per block, blocks per route and size, and the pause before each block. --quick trades
# repeats for time: two rounds can agree by chance, so its verdicts are the weaker ones.
# A block of short calls (under a millisecond: LeNet-sized layers) gets more of them, up to
# min_block seconds or 50 calls, so that one thread wake-up does not decide its median.
FULL = {"repeats": 5, "rounds": 4, "settle": 0.15, "min_block": 0.1}
QUICK = {"repeats": 2, "rounds": 3, "settle": 0.05, "min_block": 0.03}


@dataclass(frozen=True)
class Case:
    """One convolution to time: shapes and arguments as conv2d's."""

    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    stride: int = 1
    padding: int = 0
    # The input arrives in the layout the plan runs in, as the output of a layer before it in
    # the same layout would (a batch-last model transposes once, at its first layer); False:
    # it arrives NCHW, as a model's input does.
    input_in_plan_layout: bool = True
    x_grad: bool = True  # False for a first layer: nothing asks for its input's gradient

    def describe(self) -> str:
        n, c, h, w = self.x_shape
        o, _, kh, kw = self.w_shape
        return f"{n}x{c}x{h}x{w} * {o}x{c}x{kh}x{kw}" + (f" pad {self.padding}" if self.padding else "")


@dataclass(frozen=True)
class Sweep:
    """A threshold that decides between two routes, and the shapes that measure it.

    ``rule`` / ``other``: use_routes arguments that force the route the rule picks where it
    holds, and the one taken where it does not. The rule holds for size >= threshold, or for
    size <= threshold when ``at_most`` (direct_max_out_channels). ``directions``: the keys of
    ``Plan.names()`` that the two must differ in (checked at every size)."""

    name: str
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]
    case: Callable[[int], Case]  # size -> the convolution
    rule: dict[str, Any]
    other: dict[str, Any]
    directions: tuple[str, ...]
    backward: bool
    at_most: bool = False
    size_label: str = "size"
    caveat: str = ""


def _winograd_case(c: int) -> Case:
    side = max(4, 2048 // c)  # a ResNet's stage: the side halves as the channels double
    return Case((32, c, side, side), (c, c, 3, 3), padding=1)


SWEEPS: dict[str, Sweep] = {s.name: s for s in (
    Sweep("winograd_min_channels", (32, 48, 64, 96, 128, 192, 256), (32, 64, 128, 256), _winograd_case,
          rule=dict(forward="winograd"), other=dict(exclude=("winograd",)), directions=("forward",),
          backward=False, size_label="channels"),
    Sweep("rowshift_min_rows", (9, 12, 18, 24, 36, 48, 72, 96), (9, 18, 24, 36, 72),
          lambda rows: Case((32, rows // 3, 24, 24), (32, rows // 3, 3, 3), padding=1),
          rule=dict(layout="batch_last", forward="rowshift", dw="rowshift", dx="rowshift"),
          other=dict(layout="batch_last", exclude=("rowshift",)), directions=("forward", "dw", "dx"),
          backward=True, size_label="product rows (C*KW)"),
    Sweep("direct_max_out_channels", (2, 4, 6, 8, 12, 16, 24), (4, 8, 12, 16),
          lambda o: Case((128, 1, 28, 28), (o, 1, 5, 5)),
          rule=dict(layout="batch_last", forward="direct"), other=dict(layout="batch_last", exclude=("direct",)),
          directions=("forward",), backward=False, at_most=True, size_label="output channels"),
    Sweep("direct_min_batch", (4, 8, 16, 32, 64, 128), (8, 16, 32, 64),
          lambda n: Case((n, 1, 28, 28), (6, 1, 5, 5)),
          rule=dict(layout="batch_last", forward="direct"), other=dict(layout="batch_last", exclude=("direct",)),
          directions=("forward",), backward=False, size_label="batch"),
    Sweep("batch_inner_min_cgk", (9, 18, 36, 72, 144, 288), (18, 36, 72, 144),
          lambda cgk: Case((16, cgk // 9, 32, 32), (32, cgk // 9, 3, 3), padding=1),
          rule=dict(layout="nchw", dw="batch_inner", dx="batch_inner"),
          other=dict(layout="nchw", dw="im2col", dx="im2col"), directions=("dw", "dx"), backward=True,
          size_label="Cg*K"),
    Sweep("adjoint_min_channels", (8, 16, 32, 48, 64, 96, 128), (16, 32, 64, 128),
          lambda c: Case((8, c, 32, 32), (64, c, 3, 3), padding=1),
          rule=dict(layout="nchw", dx="adjoint"), other=dict(layout="nchw", exclude=("adjoint",)),
          directions=("dx",), backward=True, size_label="input channels per group"),
    Sweep("forward_per_image_min_l", (64, 256, 576, 1024, 2304, 4096), (256, 576, 1024, 2304),
          lambda l: Case((8, 64, int(l**0.5), int(l**0.5)), (64, 64, 3, 3), padding=1),
          rule=dict(layout="nchw"), other=dict(layout="batch_last"), directions=("layout",), backward=True,
          size_label="output positions L"),
    Sweep("first_layer_widening", (1, 2, 4, 8, 16, 32), (2, 4, 8, 32),
          lambda r: Case((64, 3, 32, 32), (3 * r, 3, 3, 3), padding=1, input_in_plan_layout=False, x_grad=False),
          rule=dict(layout="batch_last"), other=dict(layout="nchw"), directions=("layout",), backward=True,
          size_label="O / C",
          caveat="the layer alone; the rule's reason is also the layers after it, which stay batch-last"),
)}


# --- timing --------------------------------------------------------------------------------------
def _strict(routes: dict[str, Any]) -> dict[str, Any]:
    """A forced route that cannot run raises instead of quietly timing another one."""
    forced = any(routes.get(k) for k in ("forward", "dw", "dx"))
    return {**routes, "strict": True} if forced else dict(routes)


def _runner(case: Case, routes: dict[str, Any], backward: bool) -> tuple[Callable[[], None], dict[str, str]]:
    """A call of the convolution under ``routes``, and the plan's route names."""
    rng = np.random.default_rng(0)  # the same numbers for both routes
    routes = _strict(routes)
    kw = dict(stride=case.stride, padding=case.padding)
    with use_routes(**routes):
        p = F.conv_plan(case.x_shape, case.w_shape, **kw)
        batch_last_in = case.input_in_plan_layout and p.layout == "batch_last"
        if batch_last_in:
            p = F.conv_plan(case.x_shape, case.w_shape, batch_last_input=True, **kw)
    x_np = rng.standard_normal(case.x_shape).astype(np.float32)
    if batch_last_in:
        x_np = from_batch_last(to_batch_last(x_np))  # stored (C, H, W, N)
    fan_in = int(np.prod(case.w_shape[1:]))
    w_np = (rng.standard_normal(case.w_shape) / np.sqrt(fan_in)).astype(np.float32)
    x = juanji.Tensor(x_np, requires_grad=backward and case.x_grad)
    w = juanji.Tensor(w_np, requires_grad=backward)
    b = juanji.Tensor(np.zeros(case.w_shape[0], np.float32), requires_grad=backward)

    if not backward:
        def call() -> None:
            with use_routes(**routes), juanji.no_grad():
                F.conv2d(x, w, b, **kw)
        return call, p.names()

    with use_routes(**routes):
        # The output gradient arrives in the output's layout, as the next layer (in the same
        # layout) hands it back: ones_like keeps a batch-last output's storage order.
        g = np.ones_like(F.conv2d(x, w, b, **kw).data)

    def call() -> None:
        with use_routes(**routes):
            F.conv2d(x, w, b, **kw).backward(g)
        x.grad = w.grad = b.grad = None  # no accumulation pass: each call computes afresh

    return call, p.names()


def _time_pair(fns: tuple[Callable[[], None], Callable[[], None]], repeats: int, rounds: int,
               settle: float) -> tuple[list[list[float]], list[float]]:
    """Both in alternating blocks (A B, B A, ...): each block a pause, a warm-up call and
    ``repeats`` timed calls. Returns each one's times and each round's ratio of medians.

    Blocks rather than call-by-call alternation, and a pause before each, for bench_suite.py's
    reason: a BLAS pool keeps spinning for a while after a call, and the compiled loops of
    one route would share the cores with the spin left by the other's products. Alternating
    the order spreads a shared machine's drift over both."""
    times: list[list[float]] = [[], []]
    ratios = []
    for r in range(rounds):
        medians = [0.0, 0.0]
        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
            time.sleep(settle)
            fns[i]()  # warm-up: caches, lazily built buffers, the pool's threads
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fns[i]()
                ts.append(time.perf_counter() - t0)
            times[i] += ts
            medians[i] = statistics.median(ts)
        ratios.append(medians[0] / medians[1])
    return times, ratios


def _verdict(ratio: float, round_ratios: list[float], tol: float) -> str:
    """'rule' or 'other' (which route wins at this size), or '~' where the two are even or the
    rounds disagree on which is faster."""
    if ratio < 1 - tol and all(r < 1 for r in round_ratios):
        return "rule"
    if ratio > 1 + tol and all(r > 1 for r in round_ratios):
        return "other"
    return "~"


def measure_point(sweep: Sweep, size: int, repeats: int, rounds: int, settle: float, min_block: float = 0.0,
                  tol: float = TOLERANCE) -> dict[str, Any]:
    """Time the rule's route against the other at one size of the sweep."""
    case = sweep.case(size)
    fns, names, once = [], [], []
    for routes in (sweep.rule, sweep.other):
        fn, plan_names = _runner(case, routes, sweep.backward)
        fn()  # first call apart from the timing: compiled loops load, buffers are made
        t0 = time.perf_counter()
        fn()
        once.append(time.perf_counter() - t0)
        fns.append(fn)
        names.append(plan_names)
    calls = max(repeats, min(50, math.ceil(min_block / max(min(once), 1e-6))))  # the same for both
    same = [d for d in sweep.directions if names[0][d] == names[1][d]]
    if same:
        raise RuntimeError(f"{sweep.name} at {size}: both candidates took the same {', '.join(same)} route "
                           f"({names[0]})")
    times, round_ratios = _time_pair((fns[0], fns[1]), calls, rounds, settle)
    t_rule, t_other = statistics.median(times[0]), statistics.median(times[1])
    ratio = t_rule / t_other
    return {"size": size, "case": case.describe(), "rule_plan": names[0], "other_plan": names[1],
            "rule_s": t_rule, "other_s": t_other, "ratio": ratio, "round_ratios": round_ratios,
            "rule_times": times[0], "other_times": times[1], "verdict": _verdict(ratio, round_ratios, tol)}


# --- the crossover -------------------------------------------------------------------------------
def analyse(points: list[dict[str, Any]], current: int, at_most: bool = False) -> dict[str, Any]:
    """The crossover of one sweep from its points' sizes, ratios and verdicts.

    The rule picks its route at size >= T (size <= T with ``at_most``). Read in that direction,
    the last size where the other route won is ``lo``, and the first size after it where the
    rule's route won is ``hi``: from hi on the rule's route wins or the two are even, so T
    belongs in (lo, hi] and the measured value is hi, the smallest size from which the rule's
    route wins consistently. The current value stays where it lies in that interval (the
    measurements cannot tell them apart); otherwise the suggestion is hi, or, where the rule's
    route never won after lo, the first size past lo (the two even from there). Where it lost at
    the sweep's last size the value lies beyond the sweep: nothing is suggested. No size with a
    winner: no clear crossover."""
    sign = -1 if at_most else 1  # in key = sign * size the rule holds for key >= sign * T
    pts = sorted(points, key=lambda p: sign * p["size"])
    verdicts = [p["verdict"] for p in pts]
    ratios = [p["ratio"] for p in pts]
    out: dict[str, Any] = {"current": current, "measured": None, "suggested": None, "lo": None, "hi": None,
                           "monotone": True}
    if all(v == "~" for v in verdicts):
        out["measured_text"] = "no clear crossover"
        out["neighbours"] = f"{min(ratios):.2f}-{max(ratios):.2f} across the sweep"
        out["status"] = f"keep {current}: the two routes are within the noise at every size"
        return out
    lo = max((i for i, v in enumerate(verdicts) if v == "other"), default=-1)
    hi = next((i for i in range(lo + 1, len(pts)) if verdicts[i] == "rule"), None)
    out["monotone"] = not any(v == "rule" for v in verdicts[:max(lo, 0)])
    out["lo"] = pts[lo]["size"] if lo >= 0 else None
    out["hi"] = pts[hi]["size"] if hi is not None else None
    right = hi if hi is not None else lo + 1  # the first size past lo where the rule's route does not lose
    near = [pts[i] for i in (lo, right) if 0 <= i < len(pts)]
    out["neighbours"] = ", ".join(f"{p['size']}: {p['ratio']:.2f}" for p in near)
    key_cur = sign * current
    above_lo = lo < 0 or key_cur > sign * pts[lo]["size"]
    target: int | None
    if hi is not None:
        target = pts[hi]["size"]
        edge = hi == 0  # the rule's route won already at the sweep's first size
        even = [str(p["size"]) for p in pts[lo + 1:hi]]
        out["measured_text"] = ((">= " if at_most else "<= ") if edge else "") + str(target) + (
            f" (even at {', '.join(even)})" if even else "")
        consistent = above_lo and key_cur <= sign * target
    elif lo + 1 < len(pts):  # even after the last size the other route won: either route will do
        target = pts[lo + 1]["size"]
        out["measured_text"] = f"{target} (even from there on)"
        consistent = above_lo
    else:  # the other route won at the sweep's last size
        target = None
        out["measured_text"] = ("< " if at_most else "> ") + f"{pts[lo]['size']} (the rule's route lost at the end)"
        consistent = above_lo
    out["measured"] = target
    if consistent or target == current:
        out["status"] = f"keep {current}: consistent with the measurements"
    elif target is None:
        out["status"] = (f"keep {current} for now: the rule's route lost up to the sweep's end, so the value "
                         f"lies beyond it (not suggested)")
    else:
        out["suggested"] = target
        out["status"] = f"change {current} -> {target}"
    if not out["monotone"]:
        wins = [str(p["size"]) for p, v in zip(pts[:lo], verdicts[:lo]) if v == "rule"]
        out["status"] += f" (not monotone: the rule's route also won at {', '.join(wins)})"
    return out


def measure(names: list[str] | None = None, quick: bool = False, repeats: int | None = None,
            rounds: int | None = None, settle: float | None = None, min_block: float | None = None,
            sizes: dict[str, tuple[int, ...]] | None = None,
            log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Measure each named threshold (all of SWEEPS by default): one row per threshold with its
    points (per size) and the analysis. Unset timing arguments come from FULL, or QUICK when
    ``quick``; ``sizes`` overrides a sweep's sizes (the tests use it).
    A sweep whose routes cannot run here (no numba, no adding BLAS) gets a row that says so."""
    names = list(SWEEPS) if names is None else names
    unknown = [n for n in names if n not in SWEEPS]
    if unknown:
        raise ValueError(f"unknown threshold(s) {', '.join(unknown)}; these are measured: {', '.join(SWEEPS)}")
    mode = QUICK if quick else FULL
    repeats = repeats or mode["repeats"]
    rounds = rounds or mode["rounds"]
    settle = mode["settle"] if settle is None else settle
    min_block = mode["min_block"] if min_block is None else min_block
    th = thresholds()
    rows = []
    for name in names:
        sweep = SWEEPS[name]
        current = getattr(th, name)
        chosen = (sizes or {}).get(name) or (sweep.quick_sizes if quick else sweep.sizes)
        row: dict[str, Any] = {"threshold": name, "current": current, "size_label": sweep.size_label,
                               "at_most": sweep.at_most, "caveat": sweep.caveat, "points": []}
        t0 = time.perf_counter()
        try:
            for size in chosen:
                row["points"].append(measure_point(sweep, size, repeats, rounds, settle, min_block))
        except (ValueError, RuntimeError) as e:  # a forced route that cannot run here
            row.update(measured=None, suggested=None, measured_text="not measured", neighbours="",
                       status=f"keep {current}: {e}")
        else:
            row.update(analyse(row["points"], current, sweep.at_most))
        row["routes"] = _route_labels(sweep, row["points"])
        row["seconds"] = time.perf_counter() - t0
        if log:
            log(f"  {name}: {row['measured_text']} ({row['seconds']:.1f} s)")
        rows.append(row)
    return rows


def _route_labels(sweep: Sweep, points: list[dict[str, Any]]) -> str:
    """'winograd / rowshift': the routes compared, in the directions the rule decides."""
    def label(key: str) -> str:
        seen: list[str] = []
        for p in points:
            s = "+".join(dict.fromkeys(p[key][d] for d in sweep.directions))
            if s not in seen:
                seen.append(s)
        return ", ".join(seen) or "?"
    return f"{label('rule_plan')} / {label('other_plan')}" if points else ""


# --- output --------------------------------------------------------------------------------------
def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| threshold | current | measured crossover | ratio at the neighbours | routes (rule's / other) | "
             "verdict |", "|---|---:|---:|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['threshold']} | {r['current']} | {r['measured_text']} | {r['neighbours']} | "
                     f"{r['routes']} | {r['status']} |")
    return "\n".join(lines)


def sweep_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Per threshold, every size with its ratio; '+' the rule's route won, '-' the other, '~' even."""
    mark = {"rule": "+", "other": "-", "~": "~"}
    out = []
    for r in rows:
        if r["points"]:
            cells = "  ".join(f"{p['size']} {p['ratio']:.2f}{mark[p['verdict']]}" for p in r["points"])
            out.append(f"- {r['threshold']} ({r['size_label']}; {r['points'][0]['case']} ...): {cells}")
    return out


def suggestion(rows: list[dict[str, Any]]) -> str | None:
    """The line to paste, naming only the thresholds whose measured value differs; None if none."""
    changes = [f"{r['threshold']}={r['suggested']}" for r in rows
               if r.get("suggested") is not None and r["suggested"] != r["current"]]
    return f"juanji.kernels.conv.set_thresholds({', '.join(changes)})" if changes else None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--quick", action="store_true", help="few shapes, few repeats (< 60 s on 2 cores; noisier)")
    p.add_argument("--only", default=",".join(SWEEPS), help=f"comma-separated, of: {', '.join(SWEEPS)}")
    p.add_argument("--repeats", type=int, help=f"timed calls per block, at least (default {FULL['repeats']}, "
                                               f"--quick {QUICK['repeats']}; more for calls under a millisecond)")
    p.add_argument("--rounds", type=int, help=f"blocks per route and size, in alternating order (default "
                                              f"{FULL['rounds']}, --quick {QUICK['rounds']})")
    p.add_argument("--json", help="save the measurements (every call's time) here")
    a = p.parse_args(argv)
    names = [n.strip() for n in a.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SWEEPS]
    if unknown:
        p.error(f"unknown threshold(s) {', '.join(unknown)}; choose from {', '.join(SWEEPS)}")
    from threadpoolctl import threadpool_info

    t0 = time.perf_counter()
    with juanji.num_threads(a.threads):
        blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
                for i in threadpool_info() if i.get("user_api") == "blas"]
        rows = measure(names, quick=a.quick, repeats=a.repeats, rounds=a.rounds,
                       log=lambda s: print(s, file=sys.stderr, flush=True))
    repeats = a.repeats or (QUICK if a.quick else FULL)["repeats"]
    rounds = a.rounds or (QUICK if a.quick else FULL)["rounds"]
    print(f"Conv planner thresholds on this machine: {a.threads} threads, float32; per route and size "
          f"{rounds} blocks in alternating order, each >= {repeats} timed calls{' (--quick)' if a.quick else ''}; "
          f"{time.strftime('%Y-%m-%d')}, {time.perf_counter() - t0:.0f} s")
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores), BLAS: {'; '.join(blas)}")
    print(f"Ratio: the rule's route / the other route (< 1: the rule's route is faster); a size counts "
          f"beyond +-{TOLERANCE:.0%} when every round agrees.\n")
    print(markdown_table(rows))
    print("\nPer size (ratio; + the rule's route won, - the other, ~ even or unsure):")
    for line in sweep_lines(rows):
        print(line)
    for r in rows:
        if r["caveat"] and r.get("suggested") is not None:
            print(f"\nNote on {r['threshold']}: {r['caveat']}.")
    line = suggestion(rows)
    print()
    if line:
        print("To use the measured values in a process (nothing was changed; run twice and keep what agrees):")
        print(f"    {line}")
    else:
        print("Nothing to change: every measured threshold is consistent with the current one, or the timings "
              "could not call a crossover.")
    if a.json:
        out = Path(a.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        meta = {"date": time.strftime("%Y-%m-%d"), "threads": a.threads, "quick": a.quick, "repeats": repeats,
                "rounds": rounds, "tolerance": TOLERANCE, "cpu": cpu_model(), "cpu_count": os.cpu_count(),
                "numpy": np.__version__, "blas": blas, "thresholds": dataclasses.asdict(thresholds())}
        out.write_text(json.dumps({"meta": meta, "rows": rows, "suggestion": line}, indent=2))
        print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
