"""Datasets, random_split and the DataLoader: order, seeding, fast path, prefetch, resume."""

from __future__ import annotations

import numpy as np
import pytest

import juanji
from juanji.data import ArrayDataset, ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, random_split
from juanji.data import transforms as T
from tests.helpers import torch_or_skip


def indexed(n: int = 10, c: int = 1, h: int = 3, w: int = 4, dtype=np.uint8) -> ArrayDataset:
    """Image i is filled with the value i and labelled i, so a batch shows which samples it holds."""
    x = (np.arange(n)[:, None, None, None] * np.ones((1, c, h, w))).astype(dtype)  # (N, C, H, W)
    return ArrayDataset(x, np.arange(n))


class Slow(Dataset):
    """The same samples served one by one (no _gather), to compare the loop path with the fast path."""

    def __init__(self, inner: ArrayDataset) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int):
        return self.inner.data[i], int(self.inner.targets[i])


def epoch_labels(loader: DataLoader) -> list[int]:
    return [int(v) for _, y in loader for v in y.data]


# ---------------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------------

def test_array_dataset_layouts_and_dtypes():
    nhwc = np.arange(2 * 3 * 4 * 5, dtype=np.uint8).reshape(2, 3, 4, 5)  # (N, H, W, C)
    ds = ArrayDataset(nhwc, [0, 1], layout="NHWC")
    assert ds.data.shape == (2, 5, 3, 4) and ds.data.dtype == np.uint8
    np.testing.assert_array_equal(ds[1][0][2], nhwc[1, :, :, 2])  # channel 2 of image 1
    ds = ArrayDataset(np.zeros((2, 3, 4, 5), np.float64), np.array([0, 1]))
    assert ds.data.shape == (2, 3, 4, 5) and ds.data.dtype == np.float32
    ds = ArrayDataset(np.zeros((3, 28, 28), np.uint8), [0, 1, 2])
    assert ds.data.shape == (3, 1, 28, 28)
    x, y = ds[-1]
    assert x.shape == (1, 28, 28) and y == 2 and isinstance(y, int)
    assert TensorDataset is ArrayDataset
    t = ArrayDataset(juanji.zeros(4, 1, 2, 2), juanji.tensor(np.arange(4)))
    assert t.data.shape == (4, 1, 2, 2)


def test_array_dataset_bad_input():
    with pytest.raises(ValueError, match=r"layout must be 'NCHW' or 'NHWC', got 'CHW'"):
        ArrayDataset(np.zeros((2, 1, 2, 2)), [0, 1], layout="CHW")
    with pytest.raises(ValueError, match=r"X has 3 samples but y has 2 labels \(X shape \(3, 1, 2, 2\), y shape \(2,\)\)"):
        ArrayDataset(np.zeros((3, 1, 2, 2)), [0, 1])
    with pytest.raises(ValueError, match=r"y must be a 1-D array of integer labels, got shape \(2,\) and dtype float"):
        ArrayDataset(np.zeros((2, 1, 2, 2)), [0.5, 1.0])
    with pytest.raises(TypeError, match="X must be uint8 images, floating point or integer ids, got dtype complex128"):
        ArrayDataset(np.zeros((2, 1, 2, 2), np.complex128), [0, 1])
    with pytest.raises(TypeError, match="got dtype bool"):
        ArrayDataset(np.zeros((2, 3), bool), [0, 1])
    with pytest.raises(ValueError, match=r"X must be 2-D .* got shape \(2,\)"):
        ArrayDataset(np.zeros(2), [0, 1])
    with pytest.raises(IndexError, match="index 5 is out of range for a dataset of 2 samples"):
        ArrayDataset(np.zeros((2, 1, 2, 2)), [0, 1])[5]


def test_subset_and_concat():
    ds = indexed(6)
    sub = Subset(ds, [5, 0, 3])
    assert len(sub) == 3 and [sub[i][1] for i in range(3)] == [5, 0, 3]
    x, y = sub._gather(np.array([2, 0]))
    np.testing.assert_array_equal(y, [3, 5])
    with pytest.raises(IndexError, match="index 6 is out of range"):
        Subset(ds, [0, 6])
    both = ConcatDataset([ds, Subset(ds, [1])])
    assert len(both) == 7 and both[6][1] == 1 and both[5][1] == 5 and len(ds + ds) == 12


@pytest.mark.parametrize("lengths", [[0.33, 0.33, 0.34], [0.5, 0.5], [0.1, 0.2, 0.3, 0.4], [3, 7], [0.7, 0.3]])
def test_random_split_lengths_match_pytorch(lengths):
    torch = torch_or_skip()
    import torch.utils.data as tud

    n = 10
    parts = random_split(indexed(n), lengths, seed=0)
    expected = [len(p) for p in tud.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))]
    assert [len(p) for p in parts] == expected
    covered = np.sort(np.concatenate([p.indices for p in parts]))
    np.testing.assert_array_equal(covered, np.arange(n))  # disjoint and complete


def test_random_split_is_seeded():
    a = [p.indices.tolist() for p in random_split(indexed(20), [0.5, 0.5], seed=4)]
    b = [p.indices.tolist() for p in random_split(indexed(20), [0.5, 0.5], seed=4)]
    c = [p.indices.tolist() for p in random_split(indexed(20), [0.5, 0.5], seed=5)]
    assert a == b and a != c
    juanji.manual_seed(7)
    d = random_split(indexed(20), [10, 10])[0].indices.tolist()
    juanji.manual_seed(7)
    assert random_split(indexed(20), [10, 10])[0].indices.tolist() == d
    with pytest.raises(ValueError, match=r"the lengths \[3, 3\] must be non-negative and sum to the dataset's length 10"):
        random_split(indexed(10), [3, 3])
    with pytest.raises(ValueError, match=r"fractions \[0.5, 0.6\] must lie in \[0, 1\] and sum to 1"):
        random_split(indexed(10), [0.5, 0.6])


# ---------------------------------------------------------------------------------------------
# DataLoader
# ---------------------------------------------------------------------------------------------

def test_batches_in_order_dtypes_and_drop_last():
    ds = indexed(10)
    loader = DataLoader(ds, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [b[0].shape for b in batches] == [(4, 1, 3, 4), (4, 1, 3, 4), (2, 1, 3, 4)]
    x, y = batches[1]
    assert isinstance(x, juanji.Tensor) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y.data, [4, 5, 6, 7])
    np.testing.assert_array_equal(x.data[:, 0, 0, 0], np.array([4, 5, 6, 7], np.float32) / 255)  # uint8 / 255
    assert epoch_labels(DataLoader(ds, batch_size=4, drop_last=True)) == list(range(8))
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    fx, _ = next(iter(DataLoader(indexed(3, dtype=np.float32), batch_size=3)))
    np.testing.assert_array_equal(fx.data[:, 0, 0, 0], [0, 1, 2])  # float images are not rescaled


def test_shuffled_order_is_a_function_of_seed_and_epoch():
    ds = indexed(50)
    a, b = DataLoader(ds, batch_size=8, shuffle=True, seed=3), DataLoader(ds, batch_size=8, shuffle=True, seed=3)
    ea = [epoch_labels(a) for _ in range(3)]
    assert ea == [epoch_labels(b) for _ in range(3)]
    assert ea[0] != ea[1] != ea[2] and sorted(ea[0]) == list(range(50))
    assert ea[2] == a.order(2).tolist()  # served in exactly the order the loader reports
    c = DataLoader(ds, batch_size=8, shuffle=True, seed=3)
    c.set_epoch(2)
    assert epoch_labels(c) == ea[2]  # epoch 2 without running epochs 0 and 1
    assert epoch_labels(DataLoader(ds, batch_size=8, shuffle=True, seed=4)) != ea[0]


def test_seed_none_follows_juanji_manual_seed():
    ds = indexed(30)
    juanji.manual_seed(11)
    first = [epoch_labels(loader) for loader in [DataLoader(ds, batch_size=5, shuffle=True)] for _ in range(2)]
    juanji.manual_seed(11)
    again = [epoch_labels(loader) for loader in [DataLoader(ds, batch_size=5, shuffle=True)] for _ in range(2)]
    juanji.manual_seed(12)
    other = epoch_labels(DataLoader(ds, batch_size=5, shuffle=True))
    assert first == again and first[0] != first[1] and other != first[0]


def test_fast_path_is_one_gather_per_batch(monkeypatch):
    ds = indexed(20)

    def no_loop(self, i):
        raise AssertionError("the fast path must not fetch samples one by one")

    monkeypatch.setattr(ArrayDataset, "__getitem__", no_loop)
    calls = []
    original = ArrayDataset._gather
    monkeypatch.setattr(ArrayDataset, "_gather", lambda self, idx: calls.append(len(idx)) or original(self, idx))
    seen = []
    loader = DataLoader(Subset(ds, np.arange(1, 20)), batch_size=8, shuffle=True, seed=0,
                        transform=lambda x: seen.append(x.shape) or x)
    assert sorted(epoch_labels(loader)) == list(range(1, 20))
    assert calls == [8, 8, 3] and seen == [(8, 1, 3, 4), (8, 1, 3, 4), (3, 1, 3, 4)]


def test_fast_and_loop_paths_give_identical_batches_with_random_transforms():
    ds = indexed(23, c=3, h=6, w=5)
    ds.data[:] = np.random.default_rng(0).integers(0, 256, ds.data.shape, dtype=np.uint8)
    tf = T.Compose([T.RandomCrop((4, 4), padding=1), T.RandomHorizontalFlip(), T.ToFloat(),
                    T.PCAColorAugment(*T.IMAGENET_PCA)])
    fast = list(DataLoader(ds, batch_size=5, shuffle=True, seed=9, transform=tf))
    slow = list(DataLoader(Slow(ds), batch_size=5, shuffle=True, seed=9, transform=tf))
    for (xf, yf), (xs, ys) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(xf.data, xs.data)
        np.testing.assert_array_equal(yf.data, ys.data)
    assert fast[0][0].shape == (5, 3, 4, 4)


def test_per_sample_transform_and_one_hot_targets():
    ds = indexed(6)
    ds.transform = T.Compose([T.ToFloat(), T.Normalize([0.5], [0.5])])
    x, y = next(iter(DataLoader(ds, batch_size=6, target_transform=T.OneHot(6))))
    np.testing.assert_allclose(x.data[:, 0, 0, 0], (np.arange(6) / 255 - 0.5) / 0.5, rtol=1e-6)
    assert y.dtype == np.float32 and y.shape == (6, 6)
    np.testing.assert_array_equal(y.data, np.eye(6))


@pytest.mark.parametrize("prefetch", [1, 3])
def test_prefetch_changes_nothing(prefetch):
    ds = indexed(40, c=3, h=5, w=5)
    ds.data[:] = np.random.default_rng(1).integers(0, 256, ds.data.shape, dtype=np.uint8)
    tf = T.Compose([T.RandomTranslate(1), T.RandomHorizontalFlip()])

    def run(p):
        juanji.manual_seed(3)
        loader = DataLoader(ds, batch_size=6, shuffle=True, transform=tf, prefetch=p)
        out = []
        for _ in range(2):
            for x, y in loader:
                juanji.random.default_generator().random(5)  # other draws (dropout, say) in between
                out.append((x.data.copy(), y.data.copy()))
        return out

    plain, fetched = run(0), run(prefetch)
    assert len(plain) == len(fetched) == 14
    for (a, ya), (b, yb) in zip(plain, fetched):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ya, yb)


def test_prefetch_errors_propagate_and_early_exit_stops_the_thread():
    import threading

    class Broken(Slow):
        def __getitem__(self, i):
            if i == 7:
                raise RuntimeError("sample 7 is broken")
            return super().__getitem__(i)

    with pytest.raises(RuntimeError, match="sample 7 is broken"):
        list(DataLoader(Broken(indexed(10)), batch_size=2, prefetch=2))
    before = threading.active_count()
    it = iter(DataLoader(indexed(100), batch_size=1, prefetch=2))
    next(it)
    it.close()  # what a `break` out of the for loop does
    assert threading.active_count() == before


@pytest.mark.parametrize("prefetch", [0, 2])
def test_state_dict_resumes_the_exact_stream(prefetch):
    ds = indexed(17)
    tf = T.RandomTranslate(1)
    juanji.manual_seed(0)
    a = DataLoader(ds, batch_size=4, shuffle=True, transform=tf, prefetch=prefetch)
    stream = [(x.data.copy(), y.data.copy()) for _ in range(3) for x, y in a]  # 3 epochs of 5 batches
    juanji.manual_seed(0)
    b = DataLoader(ds, batch_size=4, shuffle=True, transform=tf, prefetch=prefetch)
    list(b)
    it = iter(b)
    next(it), next(it)
    state = b.state_dict()
    assert state == {"seed": a.seed, "epoch": 1, "batch": 2, "num_samples": 17}
    it.close()
    juanji.manual_seed(99)  # a fresh process would draw another seed: the state overrides it
    c = DataLoader(ds, batch_size=4, shuffle=True, transform=tf, prefetch=prefetch)
    c.load_state_dict(state)
    resumed = [(x.data, y.data) for _ in range(2) for x, y in c]
    assert len(resumed) == 3 + 5
    for (x, y), (ex, ey) in zip(resumed, stream[5 + 2:], strict=True):
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)
    assert c.state_dict() == {"seed": a.seed, "epoch": 3, "batch": 0, "num_samples": 17}


def test_loader_bad_arguments():
    ds = indexed(5)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="prefetch must be an int >= 0, got -1"):
        DataLoader(ds, prefetch=-1)
    with pytest.raises(TypeError, match="transform must be callable, got int"):
        DataLoader(ds, transform=3)
    with pytest.raises(TypeError, match="dataset must have __len__ and __getitem__, got int"):
        DataLoader(5)
    with pytest.raises(ValueError, match="the state was saved for 9 samples but this dataset has 5"):
        DataLoader(ds).load_state_dict({"seed": 0, "epoch": 0, "batch": 0, "num_samples": 9})
    with pytest.raises(KeyError, match=r"state is missing \['batch'\]"):
        DataLoader(ds).load_state_dict({"seed": 0, "epoch": 0})

    class Ragged(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return np.zeros((1, 2 + i, 2), np.uint8), i

    with pytest.raises(ValueError, match=r"the samples of a batch have different shapes \[\(1, 2, 2\), \(1, 3, 2\)\]"):
        list(DataLoader(Ragged(), batch_size=2))


# ---------------------------------------------------------------------------------------------
# The package: public API, layering, docstring examples
# ---------------------------------------------------------------------------------------------

def test_public_api_is_documented_and_hinted():
    import inspect

    import juanji.data as D

    missing = [n for n in D.__all__ if not hasattr(D, n)]
    assert not missing, f"juanji.data.__all__ names missing attributes: {missing}"
    objs = [(n, getattr(D, n)) for n in D.__all__ if not n.isupper()]
    objs += [(n, getattr(D.transforms, n)) for n in D.transforms.__all__]
    undocumented = [n for n, o in objs if (inspect.isfunction(o) or inspect.isclass(o)) and not inspect.getdoc(o)]
    assert not undocumented
    unhinted = [n for n, o in objs if inspect.isfunction(o) and "return" not in o.__annotations__]
    assert not unhinted


def test_data_imports_point_downwards_only():
    """juanji.data may use numpy, juanji.random, juanji.tensor, juanji._atomic (file writes) and
    juanji._world (the rank and world size a DistributedSampler defaults to), never
    io/nn/train/models/functional/distributed."""
    import ast
    from pathlib import Path

    import juanji.data as D

    allowed = {"random", "tensor", "_atomic", "_world"}
    for path in Path(D.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 2:  # from .. import X / from ..X import Y
                names = {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
                assert names <= allowed, f"{path.name} imports juanji.{names - allowed} (layers point downwards)"
            if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.level == 0):
                mods = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(m and m.startswith("juanji") for m in mods), f"{path.name}: absolute juanji import"


@pytest.mark.parametrize("module", ["dataset", "transforms", "loader", "bundled", "idx", "cifar", "folder", "text",
                                    "fortunes"])
def test_docstring_examples_run(module):
    import doctest
    import importlib
    from pathlib import Path

    import juanji.data as D

    if module == "idx" and not Path(D.DEBIAN_FASHION_MNIST, "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (sudo apt-get install dataset-fashion-mnist)")
    if module == "bundled":
        pytest.importorskip("sklearn")
    mod = importlib.import_module(f"juanji.data.{module}")
    globs = {**vars(D), **vars(mod), "np": np}
    result = doctest.testmod(mod, extraglobs=globs, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) of juanji.data.{module} failed"
