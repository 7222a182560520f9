"""The program tests/distributed/test_distributed.py runs under ``mpiexec -n 2``: one scenario per call.

    mpiexec -n 2 python tests/distributed/distributed_worker.py SCENARIO OUT_DIR

Every rank writes what it computed to ``OUT_DIR/SCENARIO-rank<R>.npz`` (arrays by name) and
the test compares them with each other and with a single-process reference that rank 0 also
computes (in the same process, with no communication). The assertions live in the test, so a
failure shows there; this file only computes. The fault scenario raises on purpose.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import juanji
import juanji.distributed as dist
import juanji.functional as F
import juanji.nn as nn
from juanji.data import ArrayDataset, DataLoader, DistributedSampler
from juanji.optim import SGD, Adam

B = 6          # samples per rank per step
STEPS = 4      # optimizer steps compared


def data(n: int = 48, seed: int = 3, dtype: str = "float32") -> ArrayDataset:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2, 8, 8)).astype(dtype)
    y = rng.integers(0, 5, n)
    return ArrayDataset(x, y)


def net(batch_norm: bool) -> nn.Module:
    juanji.manual_seed(7)
    layers = [nn.Conv2d(2, 4, 3, padding=1)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(4))
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 5)]
    return nn.Sequential(*layers)


def state(model: nn.Module, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}/{k}": np.array(v) for k, v in model.state_dict().items()}


def train(model: nn.Module, loader: DataLoader, opt_name: str, steps: int, forward=None) -> None:
    forward = forward or model
    opt = (Adam(model.parameters(), lr=1e-2) if opt_name == "adam"
           else SGD(model.parameters(), lr=0.05, momentum=0.9))
    done = 0
    dtype = next(model.parameters()).dtype  # the loader serves float32; float64 runs cast it
    while done < steps:
        for x, y in loader:
            loss = F.cross_entropy(forward(juanji.tensor(x.data.astype(dtype))), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if done == steps:
                return


def equivalence(dtype: str, batch_norm: bool, opt_name: str) -> dict[str, np.ndarray]:
    """N ranks at batch B with DDP (and SyncBatchNorm) vs one process at batch N * B."""
    ds = data(dtype=dtype)
    out: dict[str, np.ndarray] = {}
    model = net(batch_norm).to(dtype)
    if dist.rank() == 1:  # different initial weights: the wrap must replace them by rank 0's
        for p in model.parameters():
            p.data += 1.0
    ddp = dist.DistributedDataParallel(dist.convert_sync_batchnorm(model) if batch_norm else model,
                                       bucket_cap_mb=0.004)  # several buckets on this small net
    loader = DataLoader(ds, batch_size=B, sampler=DistributedSampler(ds, seed=11))
    train(ddp.module, loader, opt_name, STEPS, forward=ddp)
    out.update(state(ddp.module, "ddp"))
    out["buckets"] = np.array(len(ddp.bucket_sizes))
    out["done_before_wait"] = np.array(ddp.comm_stats["done_before_wait"])
    out["steps"] = np.array(ddp.comm_stats["steps"])
    if dist.rank() == 0:  # the reference: one process, batch N * B, the loader's own order
        ref = net(batch_norm).to(dtype)
        ref_loader = DataLoader(ds, batch_size=B * dist.world_size(), shuffle=True, seed=11)
        train(ref, ref_loader, opt_name, STEPS)
        out.update(state(ref, "ref"))
    return out


def sync_batchnorm() -> dict[str, np.ndarray]:
    """SyncBatchNorm on each rank's half against BatchNorm2d on the joined batch, forward and backward."""
    rng = np.random.default_rng(5)
    n = dist.world_size()
    x_all = rng.standard_normal((4 * n, 3, 5, 5)) * 2 + 1          # (8, 3, 5, 5) float64
    w_all = rng.standard_normal(x_all.shape)                        # upstream gradient weights
    rows = slice(4 * dist.rank(), 4 * dist.rank() + 4)
    sync = dist.SyncBatchNorm(3).double()
    sync.weight.data[:] = [1.5, -0.5, 2.0]
    sync.bias.data[:] = [0.1, 0.2, -0.3]
    x = juanji.tensor(x_all[rows], requires_grad=True)
    y = sync(x)
    (y * juanji.tensor(w_all[rows])).sum().backward()
    out = {"y": y.data, "dx": x.grad.data, "dw": sync.weight.grad.data, "db": sync.bias.grad.data,
           "running_mean": sync.running_mean.data, "running_var": sync.running_var.data}
    # the local weight/bias gradients, summed over the ranks, are the joined batch's
    out["dw_sum"] = dist.all_reduce(out["dw"])
    out["db_sum"] = dist.all_reduce(out["db"])
    bn = nn.BatchNorm2d(3).double()
    bn.weight.data[:] = [1.5, -0.5, 2.0]
    bn.bias.data[:] = [0.1, 0.2, -0.3]
    xr = juanji.tensor(x_all, requires_grad=True)
    yr = bn(xr)
    (yr * juanji.tensor(w_all)).sum().backward()
    out.update({"ref_y": yr.data[rows], "ref_dx": xr.grad.data[rows], "ref_dw": bn.weight.grad.data,
                "ref_db": bn.bias.grad.data, "ref_running_mean": bn.running_mean.data,
                "ref_running_var": bn.running_var.data})
    return out


def f64(a: np.ndarray) -> juanji.Tensor:
    return juanji.Tensor(np.asarray(a, dtype=np.float64))


def no_sync() -> dict[str, np.ndarray]:
    """Two micro-batches accumulated under no_sync, then a synchronised one: the gradient is the
    average over ranks of each rank's sum of three micro-batch gradients."""
    ds = data(dtype="float64")
    model = net(False).double()
    ddp = dist.DistributedDataParallel(model)
    batches = [ds._gather(np.arange(s, s + 4) + 12 * dist.rank()) for s in (0, 4, 8)]
    with ddp.no_sync():
        for x, y in batches[:2]:
            F.cross_entropy(ddp(f64(x)), juanji.tensor(y)).backward()
    local_after_no_sync = {n: p.grad.data.copy() for n, p in model.named_parameters()}
    x, y = batches[2]
    F.cross_entropy(ddp(f64(x)), juanji.tensor(y)).backward()
    out = {f"grad/{n}": p.grad.data for n, p in model.named_parameters()}
    out.update({f"local/{n}": g for n, g in local_after_no_sync.items()})
    # the reference: every rank's three micro-batches, one process, no communication
    ref = net(False).double()
    for r in range(dist.world_size()):
        for s in (0, 4, 8):
            xr, yr = ds._gather(np.arange(s, s + 4) + 12 * r)
            F.cross_entropy(ref(f64(xr)), juanji.tensor(yr)).backward()
    out.update({f"ref/{n}": p.grad.data / dist.world_size() for n, p in ref.named_parameters()})
    return out


class TwoHeads(nn.Module):
    """A head used by every rank, one used by rank 1 only, and one used by no rank."""

    def __init__(self) -> None:
        super().__init__()
        juanji.manual_seed(3)
        self.body = nn.Linear(4, 4)
        self.common = nn.Linear(4, 2)
        self.rank1_only = nn.Linear(4, 2)
        self.never = nn.Linear(4, 2)

    def forward(self, x):
        h = self.body(x).relu()
        out = self.common(h)
        if dist.rank() == 1:
            out = out + self.rank1_only(h)
        return out


def unused() -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    x = juanji.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4) * (dist.rank() + 1))
    # default: the parameters without a gradient are named in the error
    strict = dist.DistributedDataParallel(TwoHeads())
    strict(x).sum().backward()
    try:
        strict.finish_gradient_synchronization()
        out["strict_error"] = np.array("")
    except RuntimeError as e:
        out["strict_error"] = np.array(str(e))
    loose_model = TwoHeads()
    loose = dist.DistributedDataParallel(loose_model, find_unused_parameters=True)
    loose(x).sum().backward()
    loose.finish_gradient_synchronization()
    for name, p in loose_model.named_parameters():
        out[f"grad/{name}"] = np.array([]) if p.grad is None else p.grad.data
    # the reference for rank1_only: rank 1's gradient / 2 (rank 0 contributes zeros)
    ref = TwoHeads()
    x1 = juanji.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4) * 2)
    h = ref.body(x1).relu()
    (ref.common(h) + ref.rank1_only(h)).sum().backward()
    out["ref/rank1_only.weight"] = ref.rank1_only.weight.grad.data / 2
    return out


def fault() -> dict[str, np.ndarray]:
    """Rank 1 raises at step 3 of Trainer.fit; abort_on_error must end the job at once."""
    from juanji.train import Callback, Trainer

    class Boom(Callback):
        def on_step_end(self, trainer, step):
            if dist.rank() == 1 and step == 3:
                raise RuntimeError("injected failure at step 3")

    ds = data(96)
    model = dist.DistributedDataParallel(net(False))
    trainer = Trainer(model, SGD(model.module.parameters(), lr=0.01))
    loader = DataLoader(ds, batch_size=4, sampler=DistributedSampler(ds))
    with dist.abort_on_error():
        trainer.fit(loader, epochs=50, callbacks=[Boom()], verbose=False)
    return {}


SCENARIOS = {
    "float64_sgd": lambda: equivalence("float64", False, "sgd"),
    "float64_adam_syncbn": lambda: equivalence("float64", True, "adam"),
    "float32_sgd": lambda: equivalence("float32", False, "sgd"),
    "sync_batchnorm": sync_batchnorm,
    "no_sync": no_sync,
    "unused": unused,
    "fault": fault,
}


def main() -> None:
    names, out_dir = sys.argv[1].split(","), Path(sys.argv[2])
    dist.init()
    for name in names:
        result = SCENARIOS[name]()
        np.savez(out_dir / f"{name}-rank{dist.rank()}.npz", **result)


if __name__ == "__main__":
    main()
