"""Time per epoch of each training recipe: juanji against PyTorch running the same recipe.

    python bench/recipes.py                              # every recipe, whole epochs, 3 rounds (long)
    python bench/recipes.py --only fashion-lenet5 --rounds 5
    python bench/recipes.py --extra fashion-resnet20-one-process   # also resnet20 in one process of 2 threads
    python bench/recipes.py --quick                      # a 30-step prefix, 2 rounds: projected, noisier

For each recipe of ``juanji recipes`` (juanji/recipes.py) this builds what ``juanji train
--recipe NAME`` builds, with the CLI's own functions: the data set loaded and scaled as the CLI
loads it (uint8 images / 255; the digits as the bundled reader gives them), the same training
split (``--val-split`` 0.1 held out, seeded), the model from the same builder with the same input
shape, class count and seed (so the same initial weights), the recipe's optimizer and learning-rate
schedule, and its loss (label smoothing included). PyTorch gets a twin of the model written below
(same layers, same names), loaded with juanji's initial state_dict; before any timing, the two
must give the same logits on the first batch in float32 (train mode, as the steps run), and
again after one training step each (which also checks the optimizer, schedule and loss agree).

What is timed, on both sides alike: the training steps of one epoch on batches built beforehand,
in the epoch's order (the juanji DataLoader's seeded permutation for epoch 0, used by both):
forward, loss (and its value read back, as juanji's Trainer and a usual PyTorch loop do), zero
grad, backward, optimizer step, the count of correct predictions, and the per-batch schedule step
where the recipe has one (onecycle). Per-epoch schedules (cosine) step between rounds, untimed.

What is not in the step time: building the batches and augmenting them. Augmentation is left
out of both (PyTorch would augment per sample in torchvision's transforms, another cost
altogether); juanji's own augmentation (``--augment`` translation, ``--hflip``, random erasing),
the transform the CLI's DataLoader applies to the uint8 batches, is timed by itself and shown in
its own column, so the table still adds up to juanji's whole epoch: epoch + augmentation (+ the
batch building, ``data_s_per_epoch`` in the JSON, which includes the augmentation). Validation
and the test pass are not timed.

A recipe of several processes (``mpirun -n N``; fashion-resnet20 trains on 2 processes of one
thread) is timed as one of its ranks: each library steps on the recipe's per-process batch with
threads / N threads, and an epoch is the rank's share of the steps (ceil(ceil(images / N) /
batch), as DistributedSampler shards it) times that step. Left out, on both sides alike: the
gradient allreduce (about 1 MB for resnet20, ~1 ms on one host's shared memory: bench/NOTES.md,
"Data-parallel training over MPI") and the other rank running beside it on the same memory.
The PyTorch side is what PyTorch's DistributedDataParallel would run on each rank.

How: both libraries get the same thread count (juanji.num_threads caps NumPy's BLAS;
torch.set_num_threads caps PyTorch), float32. Each round splits the timed steps into
alternating blocks (juanji, PyTorch, juanji, ...), each after a pause that lets the other
library's idle threads stop spinning and one untimed warm-up step, and times every step; a
round gives each library's median step and their ratio. Every recipe is timed in each of
--rounds passes over all recipes (a shared machine drifts for minutes), and the table gives
medians over the rounds with the range of the ratios. Epoch time is steps per epoch x the
median step, so it is a projection even when the whole epoch is timed (and with --steps or
--quick only a prefix of the epoch is). Quote ratios and medians, never a single time.
Results go to a JSON file and a Markdown table on stdout. Never part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import juanji  # noqa: E402
from juanji import cli  # noqa: E402
from juanji import nn as jnn  # noqa: E402
from juanji.recipes import RECIPES, Recipe  # noqa: E402
# A benchmark owns its process: it opts in to juanji's malloc tuning, as the juanji command does
# (juanji/allocator.py; JUANJI_MALLOC_TUNING=0 declines it), so its figures are the command's.
juanji.allocator.tune_malloc_unless_declined()

from bench_suite import cpu_model  # noqa: E402

Row = dict[str, Any]

# Runs timed that are not recipes: spelled out here, labelled as such in the table.
# fashion-resnet20-one-process is the fashion-resnet20 recipe in one process of all the threads,
# its two ranks' batches in one (128): the run the recipe's two processes replaced.
EXTRAS: dict[str, Recipe] = {
    "fashion-resnet20-one-process": Recipe(
        name="fashion-resnet20-one-process",
        summary="the fashion-resnet20 recipe in one process (batch 128, every thread)",
        options={**RECIPES["fashion-resnet20"].options,
                 "batch_size": RECIPES["fashion-resnet20"].processes * RECIPES["fashion-resnet20"].options["batch_size"]},
        target="not a recipe",
    ),
}

_BLOCKS = 3
# As bench_suite.py's: each block starts after this pause, so the other library's idle threads
# (OpenBLAS's, OpenMP's) have stopped spinning and do not run beside it.
_SETTLE_S = 0.3

# Equivalence tolerances, relative to the largest logit: float32 through up to 20 layers in two
# libraries' summation orders. After one step each the gradients and the optimizers' arithmetic
# are in it too, and Adam's first step (m / sqrt(v)) turns the rounding of a tiny gradient into a
# whole lr-sized move, so that check allows more.
_LOGITS_TOL = 1e-4
_STEP_TOL = 1e-3


# --- the recipe as juanji train builds it ------------------------------------------------------
def train_args(recipe: Recipe) -> argparse.Namespace:
    """``juanji train``'s arguments for the recipe: its command words parsed by the CLI's own
    parser, then the per-data-set presets and the optimizer default filled in as cmd_train does."""
    args = cli.build_parser().parse_args(["train", *recipe.arguments()])
    if args.optimizer is None:
        args.optimizer = "adam"
    return args


def _fill_presets(args: argparse.Namespace, preset_key: str) -> None:
    preset = cli.PRESETS[preset_key]
    for key in ("model", "epochs", "batch_size", "lr", "scheduler", "augment", "label_smoothing"):
        if getattr(args, key) is None:
            setattr(args, key, preset[key])


class TimedTransform:
    """The CLI's training transform, with the time its calls take added up."""

    def __init__(self, transform: Callable[[np.ndarray], np.ndarray]) -> None:
        self.transform = transform
        self.seconds = 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.transform(x)
        self.seconds += time.perf_counter() - t0
        return out


# --- the PyTorch twins ---------------------------------------------------------------------------
def torch_twin(torch: Any, name: str, jmodel: Any, kwargs: dict[str, Any]) -> Any:
    """A PyTorch module computing what juanji's ``name`` computes, with its state_dict's names."""
    tn = torch.nn
    k = kwargs["num_classes"]
    c = kwargs.get("in_channels", 1)
    if name == "simple_convnet":
        s = kwargs.get("input_size", 28)
        p = (s - 4) // 2
        return tn.Sequential(OrderedDict([
            ("conv1", tn.Conv2d(c, 30, 5)), ("relu1", tn.ReLU()), ("pool1", tn.MaxPool2d(2, 2)),
            ("flatten", tn.Flatten()), ("fc1", tn.Linear(30 * p * p, 100)), ("relu2", tn.ReLU()),
            ("fc2", tn.Linear(100, k))]))
    if name == "lenet5":
        s = kwargs.get("input_size", 28)
        return tn.Sequential(OrderedDict([
            ("c1", tn.Conv2d(c, 6, 5, padding=(32 - s) // 2)), ("relu1", tn.ReLU()), ("s2", tn.MaxPool2d(2, 2)),
            ("c3", tn.Conv2d(6, 16, 5)), ("relu3", tn.ReLU()), ("s4", tn.MaxPool2d(2, 2)), ("flatten", tn.Flatten()),
            ("c5", tn.Linear(400, 120)), ("relu5", tn.ReLU()), ("f6", tn.Linear(120, 84)), ("relu6", tn.ReLU()),
            ("output", tn.Linear(84, k))]))
    if name == "digits_cnn":
        side = kwargs.get("input_size", 8) // 4
        # juanji's padding="same" for a 3x3 kernel at stride 1 is padding 1.
        return tn.Sequential(
            tn.Conv2d(c, 16, 3, padding=1), tn.BatchNorm2d(16), tn.ReLU(), tn.MaxPool2d(2),
            tn.Conv2d(16, 32, 3, padding=1), tn.BatchNorm2d(32), tn.ReLU(), tn.MaxPool2d(2),
            tn.Flatten(), tn.Linear(32 * side * side, 64), tn.ReLU(), tn.Linear(64, k))
    if name in ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110"):
        return _torch_cifar_resnet(torch, jmodel.depth, k, c, jmodel.shortcut, jmodel.widths)
    raise SystemExit(f"bench/recipes.py has no PyTorch twin of {name!r}: add one to torch_twin()")


def _torch_cifar_resnet(torch: Any, depth: int, num_classes: int, in_channels: int, shortcut: str,
                        widths: tuple[int, int, int]) -> Any:
    """juanji's CifarResNet (juanji/models/cifar_resnet.py) in PyTorch, torchvision's names."""
    tn, TF = torch.nn, torch.nn.functional

    class Pad(tn.Module):  # option A: subsample, zero-pad the new channels on both ends
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.cin, self.cout, self.stride = cin, cout, stride

        def forward(self, x: Any) -> Any:
            s = self.stride
            x = x[:, :, ::s, ::s]
            extra = self.cout - self.cin
            return TF.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))

    class Block(tn.Module):
        def __init__(self, cin: int, cout: int, stride: int, downsample: Any) -> None:
            super().__init__()
            self.conv1 = tn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tn.BatchNorm2d(cout)
            self.relu = tn.ReLU(inplace=True)
            self.conv2 = tn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tn.BatchNorm2d(cout)
            self.downsample = downsample

        def forward(self, x: Any) -> Any:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    class Net(tn.Module):
        def __init__(self) -> None:
            super().__init__()
            n = (depth - 2) // 6
            self.conv1 = tn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
            self.bn1 = tn.BatchNorm2d(widths[0])
            self.relu = tn.ReLU(inplace=True)
            self.inplanes = widths[0]
            self.layer1 = self._layer(widths[0], n, 1)
            self.layer2 = self._layer(widths[1], n, 2)
            self.layer3 = self._layer(widths[2], n, 2)
            self.avgpool = tn.AdaptiveAvgPool2d((1, 1))
            self.fc = tn.Linear(widths[2], num_classes)

        def _layer(self, planes: int, blocks: int, stride: int) -> Any:
            down = None
            if stride != 1 or self.inplanes != planes:
                down = (Pad(self.inplanes, planes, stride) if shortcut == "A" else
                        tn.Sequential(tn.Conv2d(self.inplanes, planes, 1, stride, bias=False), tn.BatchNorm2d(planes)))
            stage = [Block(self.inplanes, planes, stride, down)]
            self.inplanes = planes
            stage += [Block(planes, planes, 1, None) for _ in range(1, blocks)]
            return tn.Sequential(*stage)

        def forward(self, x: Any) -> Any:
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.layer3(self.layer2(self.layer1(x)))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return Net()


def load_juanji_weights(torch: Any, tmodel: Any, jmodel: Any) -> None:
    """Copy juanji's state_dict into the twin: every name must match, every shape too (strict)."""
    target = tmodel.state_dict()
    state = {}
    for key, value in jmodel.state_dict().items():
        arr = np.asarray(value)
        if key not in target or tuple(target[key].shape) != arr.shape:
            raise AssertionError(f"the PyTorch twin has no {key} of shape {arr.shape} "
                                 f"(has {tuple(target[key].shape) if key in target else 'no such name'})")
        state[key] = torch.from_numpy(np.array(arr, copy=True)).to(target[key].dtype)
    tmodel.load_state_dict(state, strict=True)


def torch_optimizer(torch: Any, args: argparse.Namespace, params: Any) -> Any:
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    if args.optimizer == "sgd":
        return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                               nesterov=args.nesterov)
    raise SystemExit(f"bench/recipes.py: no PyTorch optimizer mapped for --optimizer {args.optimizer}")


def torch_schedule(torch: Any, args: argparse.Namespace, opt: Any, steps: int) -> tuple[Any, str]:
    """The PyTorch schedule of cli._image_schedule's: (scheduler or None, "step" or "epoch")."""
    ls = torch.optim.lr_scheduler
    if args.warmup_epochs:
        raise SystemExit("bench/recipes.py: --warmup-epochs schedules have no PyTorch twin here yet")
    if args.scheduler == "onecycle":
        cycle = args.optimizer == "adam" or args.momentum > 0
        return ls.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps, cycle_momentum=cycle), "step"
    if args.scheduler == "cosine":
        return ls.CosineAnnealingLR(opt, T_max=max(args.epochs, 1)), "epoch"
    if args.scheduler == "step":
        return ls.StepLR(opt, step_size=max(args.epochs // 3, 1), gamma=0.1), "epoch"
    if args.scheduler == "none":
        return None, "epoch"
    raise SystemExit(f"bench/recipes.py: --scheduler {args.scheduler} has no PyTorch twin here yet")


# --- one recipe: both sides built, checked and ready to time -------------------------------------
@dataclass
class Job:
    recipe: Recipe
    is_recipe: bool
    threads: int  # each library's threads for this recipe's step (threads / processes for a rank)
    args: argparse.Namespace
    model_kwargs: dict[str, Any]
    steps_per_epoch: int
    images_per_epoch: int
    batches: list[tuple[Any, Any, Any, Any]]  # (juanji x, juanji y, torch x, torch y), the timed prefix
    jstep: Callable[[Any, Any], None]
    tstep: Callable[[Any, Any], None]
    epoch_end: Callable[[], None]
    aug_epoch: Callable[[int], tuple[float, float]] | None  # (augmentation s, loader s) over a prefix
    augmentation: str
    equivalence: dict[str, Any]
    rounds: list[Row] = field(default_factory=list)


def _max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def prepare(torch: Any, recipe: Recipe, is_recipe: bool, steps: int | None, rounds: int, threads: int) -> Job:
    """Build both sides of one recipe as ``juanji train`` would (one rank of it, for a recipe of several
    processes), check they compute the same."""
    from juanji import functional as F
    from juanji.data import DataLoader, random_split

    args = train_args(recipe)
    cli._check_recipe_options(args)
    # cmd_train's order: seed, data, presets, model (so the initial weights are the CLI run's).
    juanji.manual_seed(args.seed)
    train_ds, _test, classes, preset_key = cli.load_data(args.data, args.root, args.image_size, args.grayscale,
                                                         args.seed)
    _fill_presets(args, preset_key)
    cli._check_recipe_options(args)  # again, as cmd_train: a preset may have chosen the scheduler
    shape = cli._input_shape(train_ds)
    model, kwargs = cli.build_model(args.model, len(classes), shape)
    if args.val_split > 0:
        train_ds, _val = random_split(train_ds, [1 - args.val_split, args.val_split], seed=args.seed)
    loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    # One rank's steps: DistributedSampler gives each of the N ranks ceil(images / N) of them.
    per_epoch = -(-(-(-len(train_ds) // recipe.processes)) // args.batch_size)
    timed = per_epoch if steps is None else min(steps, per_epoch)
    # The epoch-0 batches as the CLI's loader serves them (its seeded permutation; x / 255 for
    # uint8 images), without the transform: one set of arrays both libraries read.
    batches = []
    for b, (x, y) in enumerate(loader):
        if b == timed:
            break
        batches.append((x, y, torch.from_numpy(x.data), torch.from_numpy(y.data)))

    opt = cli._optimizer(args.optimizer, model.parameters(), args.lr, args.momentum, args.weight_decay,
                         args.nesterov)
    sched, interval = cli._image_schedule(args, opt, per_epoch)
    loss_fn = jnn.CrossEntropyLoss(label_smoothing=args.label_smoothing) if args.label_smoothing else F.cross_entropy

    tmodel = torch_twin(torch, args.model, model, kwargs)
    load_juanji_weights(torch, tmodel, model)
    topt = torch_optimizer(torch, args, tmodel.parameters())
    tsched, tinterval = torch_schedule(torch, args, topt, per_epoch)
    assert interval == tinterval, (interval, tinterval)
    tloss = torch.nn.CrossEntropyLoss(label_smoothing=args.label_smoothing or 0.0)
    model.train()
    tmodel.train()
    # A per-batch schedule has epochs x steps steps; PyTorch's OneCycleLR raises past its end.
    if interval == "step":
        needed = 1 + rounds * (timed + _BLOCKS)
        if needed > args.epochs * per_epoch:
            raise SystemExit(f"{recipe.name}: {rounds} rounds of {timed} steps step its schedule {needed} times, "
                             f"past its {args.epochs} x {per_epoch} steps; use fewer --rounds or --steps")

    def jstep(x: Any, y: Any) -> None:  # juanji's Trainer._train_epoch, one batch
        out = model(x)
        loss = loss_fn(out, y)
        float(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
        int((out.data.argmax(1) == y.data).sum())
        if interval == "step":
            sched.step()

    def tstep(x: Any, y: Any) -> None:  # the usual PyTorch loop, the same work
        out = tmodel(x)
        loss = tloss(out, y)
        float(loss.item())
        topt.zero_grad()
        loss.backward()
        topt.step()
        int((out.detach().argmax(1) == y).sum())
        if tinterval == "step":
            tsched.step()

    def epoch_end() -> None:  # an epoch schedule steps once an epoch (untimed, as in neither loop's steps)
        if interval == "epoch" and sched is not None:
            sched.step()
        if tinterval == "epoch" and tsched is not None:
            tsched.step()

    equivalence = check_equivalence(torch, model, tmodel, batches, jstep, tstep)

    transform = cli._train_transform(args)
    aug_epoch = None
    parts = ([f"translate {args.augment}px"] if args.augment else []) + (["hflip"] if args.hflip else []) + \
        ([f"random erasing p {args.random_erasing:g}"] if args.random_erasing else [])
    if transform is not None:
        timed_transform = TimedTransform(transform)
        aug_loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, seed=args.seed,
                                transform=timed_transform)

        def aug_epoch(n: int) -> tuple[float, float]:
            """(transform seconds, loader seconds) over the first n batches of the next epoch."""
            timed_transform.seconds = 0.0
            t0 = time.perf_counter()
            for b, _ in enumerate(aug_loader):
                if b + 1 == n:
                    break
            return timed_transform.seconds, time.perf_counter() - t0

    return Job(recipe, is_recipe, max(1, threads // recipe.processes), args, kwargs, per_epoch, len(train_ds),
               batches, jstep, tstep, epoch_end, aug_epoch, ", ".join(parts) or "none", equivalence)


def check_equivalence(torch: Any, model: Any, tmodel: Any, batches: list, jstep: Callable, tstep: Callable) -> Row:
    """Same logits on the first batch (train mode), and again on the next after one step each."""
    jx, _, tx, _ = batches[0]
    nx, _, ntx, _ = batches[1 % len(batches)]

    def logits(x: Any, t: Any) -> tuple[np.ndarray, np.ndarray]:
        with juanji.no_grad():
            a = np.asarray(model(x).data)
        with torch.no_grad():
            b = tmodel(t).numpy()
        return a, b

    a, b = logits(jx, tx)
    before = _max_rel_diff(a, b)
    jstep(batches[0][0], batches[0][1])
    tstep(batches[0][2], batches[0][3])
    a, b = logits(nx, ntx)
    after = _max_rel_diff(a, b)
    row = {"logits_max_rel_diff": before, "after_one_step_max_rel_diff": after,
           "tolerances": [_LOGITS_TOL, _STEP_TOL], "passed": before <= _LOGITS_TOL and after <= _STEP_TOL}
    if not row["passed"]:
        raise AssertionError(f"juanji and its PyTorch twin differ: logits {before:.2e} (tolerance {_LOGITS_TOL}), "
                             f"after one step {after:.2e} (tolerance {_STEP_TOL}), relative to the largest logit")
    return row


# --- timing --------------------------------------------------------------------------------------
def time_round(torch: Any, job: Job) -> Row:
    """One round of one recipe: its timed steps in alternating blocks; each library's median step."""
    with juanji.num_threads(job.threads):
        torch.set_num_threads(job.threads)
        return _time_round(job)


def _time_round(job: Job) -> Row:
    n = len(job.batches)
    per_block = -(-n // _BLOCKS)
    times: list[list[float]] = [[], []]
    for start in range(0, n, per_block):
        block = job.batches[start:start + per_block]
        for which, step in enumerate((job.jstep, job.tstep)):
            time.sleep(_SETTLE_S)  # the previous block's idle threads stop spinning
            x, y = (block[0][0], block[0][1]) if which == 0 else (block[0][2], block[0][3])
            step(x, y)  # warm-up: caches, lazily built buffers, this library's threads
            for bt in block:
                x, y = (bt[0], bt[1]) if which == 0 else (bt[2], bt[3])
                t0 = time.perf_counter()
                step(x, y)
                times[which].append(time.perf_counter() - t0)
    job.epoch_end()
    mj, mt = statistics.median(times[0]), statistics.median(times[1])
    row: Row = {"juanji_step_s": mj, "torch_step_s": mt, "ratio": mj / mt,
                "juanji_step_mean_s": statistics.fmean(times[0]), "torch_step_mean_s": statistics.fmean(times[1])}
    if job.aug_epoch is not None:
        time.sleep(_SETTLE_S)
        aug, data = job.aug_epoch(n)
        scale = job.steps_per_epoch / n
        row["augmentation_s_per_epoch"] = aug * scale
        row["data_s_per_epoch"] = data * scale
    return row


def merge(job: Job) -> Row:
    """The recipe's row: medians over the rounds, the median and range of the rounds' ratios."""
    rs = job.rounds
    a = job.args
    row: Row = {
        "recipe": job.recipe.name, "is_recipe": job.is_recipe, "summary": job.recipe.summary,
        "data": a.data, "model": a.model, "model_kwargs": job.model_kwargs, "batch_size": a.batch_size,
        "processes": job.recipe.processes, "threads": job.threads,
        "optimizer": a.optimizer, "lr": a.lr, "momentum": a.momentum if a.optimizer == "sgd" else None,
        "nesterov": a.nesterov, "weight_decay": a.weight_decay, "scheduler": a.scheduler,
        "label_smoothing": a.label_smoothing, "augmentation": job.augmentation,
        "images_per_epoch": job.images_per_epoch, "steps_per_epoch": job.steps_per_epoch,
        "steps_timed": len(job.batches), "projected_from_prefix": len(job.batches) < job.steps_per_epoch,
        "rounds": len(rs), "equivalence": job.equivalence,
    }
    for key in ("juanji_step_s", "torch_step_s", "juanji_step_mean_s", "torch_step_mean_s"):
        row[key] = statistics.median(r[key] for r in rs)
    ratios = [r["ratio"] for r in rs]
    row["ratio"], row["ratio_min"], row["ratio_max"] = statistics.median(ratios), min(ratios), max(ratios)
    for lib in ("juanji", "torch"):
        row[f"{lib}_epoch_s"] = job.steps_per_epoch * row[f"{lib}_step_s"]
        row[f"{lib}_images_per_s"] = job.images_per_epoch / row[f"{lib}_epoch_s"]
    for key in ("augmentation_s_per_epoch", "data_s_per_epoch"):
        row[key] = statistics.median(r[key] for r in rs) if key in rs[0] else None
    row["per_round"] = rs
    return row


# --- output --------------------------------------------------------------------------------------
COLUMNS = ["recipe", "model, batch", "steps/epoch", "juanji ms/step", "PyTorch ms/step", "juanji / PyTorch",
           "juanji epoch (s)", "PyTorch epoch (s)", "juanji augmentation (s/epoch)", "images/s juanji / PyTorch"]


def table_line(r: Row) -> str:
    name = r["recipe"] if r["is_recipe"] else f"{r['recipe']} (not a recipe)"
    spread = f" ({r['ratio_min']:.2f}-{r['ratio_max']:.2f})" if r["rounds"] > 1 else ""
    steps = (f"{r['steps_per_epoch']} ({r['steps_timed']} timed)" if r["projected_from_prefix"]
             else str(r["steps_per_epoch"]))
    aug = "none" if r["augmentation_s_per_epoch"] is None else \
        f"{r['augmentation_s_per_epoch']:.2f} ({r['augmentation']})"
    batch = str(r["batch_size"]) if r["processes"] == 1 else \
        f"{r['processes']} x {r['batch_size']} (one rank timed, {r['threads']} thread{'s' * (r['threads'] > 1)})"
    cells = [name, f"{r['model']}, {batch}", steps, f"{r['juanji_step_s'] * 1e3:.2f}",
             f"{r['torch_step_s'] * 1e3:.2f}", f"{r['ratio']:.2f}{spread}", f"{r['juanji_epoch_s']:.1f}",
             f"{r['torch_epoch_s']:.1f}", aug, f"{r['juanji_images_per_s']:.0f} / {r['torch_images_per_s']:.0f}"]
    return "| " + " | ".join(cells) + " |"


def run(names: list[str], extras: list[str], threads: int, rounds: int, steps: int | None,
        json_path: str | None, out: Any = None) -> dict[str, Any]:
    """Time the recipes ``names`` and the extras; print the table to ``out``; return (and write) the JSON."""
    try:
        import torch
    except ImportError:
        raise SystemExit("the benchmark compares against PyTorch: pip install torch==2.14.1") from None
    from threadpoolctl import threadpool_info

    rounds = max(1, rounds)
    with juanji.num_threads(threads):
        torch.set_num_threads(threads)
        jobs = [prepare(torch, RECIPES[n], True, steps, rounds, threads) for n in names]
        jobs += [prepare(torch, EXTRAS[n], False, steps, rounds, threads) for n in extras]
        for _ in range(rounds):
            for job in jobs:
                job.rounds.append(time_round(torch, job))
        torch.set_num_threads(threads)
        rows = [merge(job) for job in jobs]
        blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
                for i in threadpool_info() if i.get("user_api") == "blas"]
    projected = any(r["projected_from_prefix"] for r in rows)
    meta = {"date": time.strftime("%Y-%m-%d"), "threads": threads, "cpu_count": os.cpu_count(), "cpu": cpu_model(),
            "numpy": np.__version__, "torch": torch.__version__, "blas": blas, "rounds": rounds,
            "steps": steps, "blocks": _BLOCKS, "projected_from_prefix": projected,
            "timed": "forward, loss (+ .item()), zero_grad, backward, optimizer step, correct count, per-batch "
                     "schedule step; batches built beforehand; augmentation excluded from both"}
    say = lambda s="": print(s, file=out or sys.stdout)  # noqa: E731
    say(f"juanji vs PyTorch {torch.__version__}: training recipes, {threads} threads, float32, "
        f"{rounds} rounds, {meta['date']}")
    say(f"CPU: {meta['cpu']} ({os.cpu_count()} cores), BLAS: {'; '.join(blas)}")
    say("Step times are each round's median step (alternating blocks), then the median over the rounds; "
        "a ratio is the median of the rounds' ratios" + (", with their range in brackets." if rounds > 1 else "."))
    say("Epoch = steps per epoch x the median step (a projection); augmentation is excluded from both and juanji's "
        "is timed on its own.")
    if any(r["processes"] > 1 for r in rows):
        say("A recipe of N processes is timed as one rank (its per-process batch, threads / N threads, its share of "
            "the steps); the gradient allreduce and the other ranks beside it are left out of both.")
    if projected:
        say("PROJECTED: only a prefix of each epoch was timed (--steps/--quick); the epoch columns scale it up.")
    say("Every PyTorch twin matched juanji's logits before timing (train mode, float32, and after one step).\n")
    say("| " + " | ".join(COLUMNS) + " |")
    say("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        say(table_line(r))
    result = {"meta": meta, "rows": rows}
    if json_path:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))
        say(f"\nwrote {path}")
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--rounds", type=int, default=None,
                   help="time every recipe this many times, a full pass over the recipes apart, and report "
                        "medians with the range of the ratios (default 3; 2 with --quick)")
    p.add_argument("--steps", "--repeats", type=int, default=None,
                   help="time only the first N steps of the epoch and project the epoch from them "
                        "(default: the whole epoch; 30 with --quick)")
    p.add_argument("--only", default=None, help=f"comma-separated recipes (default all: {', '.join(RECIPES)})")
    p.add_argument("--extra", default="", help=f"comma-separated runs that are not recipes: {', '.join(EXTRAS)}")
    p.add_argument("--quick", action="store_true", help="a 30-step prefix of each epoch, 2 rounds: projected, noisier")
    p.add_argument("--json", default=None,
                   help="where to write the results (default bench/results/recipes.json; with --quick or --steps, "
                        "none unless given, so a projected run never replaces a full one)")
    a = p.parse_args(argv)
    names = list(RECIPES) if a.only is None else [n for n in a.only.split(",") if n]
    extras = [n for n in a.extra.split(",") if n]
    for n in list(names):  # --only may name an extra too
        if n in EXTRAS and n not in RECIPES:
            names.remove(n)
            extras.append(n)
    names, extras = list(dict.fromkeys(names)), list(dict.fromkeys(extras))  # each timed once
    unknown = [n for n in names if n not in RECIPES] + [n for n in extras if n not in EXTRAS]
    if unknown:
        p.error(f"unknown {', '.join(unknown)}; recipes: {', '.join(RECIPES)}; extras: {', '.join(EXTRAS)}")
    rounds = a.rounds if a.rounds is not None else (2 if a.quick else 3)
    steps = a.steps if a.steps is not None else (30 if a.quick else None)
    if steps is not None and steps < 1:
        p.error("--steps must be >= 1")
    json_path = a.json if a.json is not None else (None if steps is not None else "bench/results/recipes.json")
    run(names, extras, a.threads, rounds, steps, json_path)


if __name__ == "__main__":
    main()
