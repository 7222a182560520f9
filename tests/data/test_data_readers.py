"""Readers of juanji.data on real files: IDX (Fashion-MNIST), CIFAR-10/100 (both versions),
scikit-learn's bundled digits and photos, image folders; and every kind of bad file.

The CIFAR files are written here with the real layouts: the python version as Python 2's
cPickle wrote it (protocol 2, byte strings, NumPy 1's ndarray reduce), the binary version as
records of label byte(s) + 3072 pixel bytes.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from juanji.data import (CIFAR10, CIFAR100, FASHION_MNIST_CLASSES, MNIST, DataLoader, Digits, FashionMNIST,
                         ImageFolder, SampleImages, load_image, load_sample_image, read_idx, safe_unpickle)

FASHION = Path("/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------------------------------------
# IDX
# ---------------------------------------------------------------------------------------------

def write_idx(path: Path, arr: np.ndarray, code: int, gz: bool = False) -> Path:
    """An IDX file written with struct, independently of the reader."""
    be = arr.astype(arr.dtype.newbyteorder(">"))
    raw = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + be.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.mark.parametrize("dtype,code", [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C),
                                        (np.float32, 0x0D), (np.float64, 0x0E)])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_every_type_code(tmp_path, dtype, code, gz):
    arr = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    if dtype == np.uint8:
        arr = np.arange(30, dtype=np.uint8).reshape(2, 3, 5) * 8
    got = read_idx(write_idx(tmp_path / "a.idx", arr, code, gz))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, arr)


def _fashion_files_or_skip() -> None:
    if not (FASHION / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (sudo apt-get install dataset-fashion-mnist)")


def _independent_idx(path: Path) -> tuple[tuple[int, ...], bytes]:
    """Header dims and payload of an IDX.gz file, parsed with gzip + struct only."""
    raw = gzip.open(path).read()
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return dims, raw[4 + 4 * ndim:]


@pytest.fixture(scope="module")
def fashion():
    _fashion_files_or_skip()
    return FashionMNIST(train=True), FashionMNIST(train=False)


def test_fashion_mnist_real_files(fashion):
    train, test = fashion
    assert train.data.shape == (60000, 1, 28, 28) and test.data.shape == (10000, 1, 28, 28)
    assert train.data.dtype == np.uint8 and train.targets.dtype == np.int64
    # Fashion-MNIST is balanced: 6,000 train and 1,000 test images per class.
    np.testing.assert_array_equal(np.bincount(train.targets, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(test.targets, minlength=10), [1000] * 10)
    assert train.classes == FASHION_MNIST_CLASSES and len(train.classes) == 10
    assert train.classes[int(train.targets[0])] == "Ankle boot"
    # The pixel statistics, from the raw bytes parsed independently with gzip + struct.
    dims, payload = _independent_idx(FASHION / "train-images-idx3-ubyte.gz")
    assert dims == (60000, 28, 28)
    total = int(np.frombuffer(payload, dtype=np.uint8).sum(dtype=np.int64))
    assert int(train.data.sum(dtype=np.int64)) == total
    first = np.frombuffer(payload[:784], dtype=np.uint8).reshape(28, 28)
    np.testing.assert_array_equal(train.data[0, 0], first)
    # The published normalisation mean of Fashion-MNIST's training pixels: 0.2860.
    assert abs(total / (60000 * 784 * 255) - 0.2860) < 5e-5
    _, labels = _independent_idx(FASHION / "t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(test.targets, np.frombuffer(labels, dtype=np.uint8))


def test_fashion_mnist_in_a_loader(fashion):
    x, y = next(iter(DataLoader(fashion[1], batch_size=256)))
    assert x.shape == (256, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x.data, fashion[1].data[:256] / np.float32(255))
    assert 0.0 <= x.data.min() and x.data.max() <= 1.0


def test_fashion_mnist_missing_files_say_what_and_how(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte\.gz and train-labels-idx1-ubyte\.gz"
                       r".*apt-get install dataset-fashion-mnist.*root="):
        FashionMNIST(root=tmp_path)


def _mnist_dir(tmp_path: Path, n_img: int = 5, n_lab: int = 5, gz: bool = True, sub: str = "") -> Path:
    d = tmp_path / sub if sub else tmp_path
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    write_idx(d / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_img, 28, 28), dtype=np.uint8), 8, gz)
    write_idx(d / f"t10k-labels-idx1-ubyte{suffix}", np.arange(n_lab, dtype=np.uint8) % 10, 8, gz)
    return d


@pytest.mark.parametrize("gz,sub", [(True, ""), (False, "MNIST/raw")])
def test_mnist_reads_plain_or_gzip_and_torchvision_layout(tmp_path, gz, sub):
    _mnist_dir(tmp_path, gz=gz, sub=sub)
    ds = MNIST(tmp_path, train=False)
    assert ds.data.shape == (5, 1, 28, 28)
    np.testing.assert_array_equal(ds.targets, [0, 1, 2, 3, 4])
    x, y = ds[2]
    assert x.shape == (1, 28, 28) and y == 2


def test_mnist_count_mismatch(tmp_path):
    _mnist_dir(tmp_path, n_img=5, n_lab=4)
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz has 5 images but .*/t10k-labels-idx1-ubyte\.gz "
                                         r"has 4 labels"):
        MNIST(tmp_path, train=False)


def test_idx_wrong_magic(tmp_path):
    p = tmp_path / "bad.idx"
    p.write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 3) + b"abc")
    with pytest.raises(ValueError, match=r"bad\.idx has a bad magic number 0x00000701"):
        read_idx(p)
    p.write_bytes(b"PK\x03\x04" + bytes(20))  # a zip file, say
    with pytest.raises(ValueError, match="bad magic number 0x504b0304"):
        read_idx(p)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated_payload(tmp_path, gz):
    p = write_idx(tmp_path / "t.idx", np.zeros((4, 3, 3), np.uint8), 8)
    raw = p.read_bytes()[:-5]
    p.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(ValueError, match=r"t\.idx is truncated: dimensions \(4, 3, 3\) of uint8 need 52 bytes, "
                                         r"the file has 47"):
        read_idx(p)


def test_idx_truncated_header_and_corrupt_gzip(tmp_path):
    p = tmp_path / "h.idx"
    p.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">I", 4))
    with pytest.raises(ValueError, match=r"h\.idx is truncated: the header of 3 dimensions needs 16 bytes"):
        read_idx(p)
    g = tmp_path / "c.idx.gz"
    g.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 1000) + bytes(1000))[:-30])
    with pytest.raises(ValueError, match=r"c\.idx\.gz is a corrupt or truncated gzip file"):
        read_idx(g)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_idx(tmp_path / "nope.idx")


# ---------------------------------------------------------------------------------------------
# CIFAR: files written with the real layouts
# ---------------------------------------------------------------------------------------------

def py2_pickle(obj) -> bytes:
    """Serialise ``obj`` as Python 2's cPickle (protocol 2) with NumPy 1 wrote CIFAR's batches.

    dict/list of byte strings, ints and one uint8 ndarray; byte strings are Python 2 ``str``
    (BINSTRING opcodes), and the ndarray is ``numpy.core.multiarray._reconstruct`` + BUILD.
    """
    out = bytearray(b"\x80\x02")

    def string(s: bytes) -> None:
        out.extend(b"U" + bytes([len(s)]) + s if len(s) < 256 else b"T" + struct.pack("<i", len(s)) + s)

    def integer(v: int) -> None:
        if 0 <= v < 256:
            out.extend(b"K" + bytes([v]))
        elif 0 <= v < 65536:
            out.extend(b"M" + struct.pack("<H", v))
        else:
            out.extend(b"J" + struct.pack("<i", v))

    def dump(o) -> None:
        if isinstance(o, dict):
            out.extend(b"}(")
            for k, v in o.items():
                dump(k)
                dump(v)
            out.extend(b"u")
        elif isinstance(o, list):
            out.extend(b"](")
            for v in o:
                dump(v)
            out.extend(b"e")
        elif isinstance(o, bytes):
            string(o)
        elif isinstance(o, int):
            integer(o)
        elif isinstance(o, np.ndarray):
            assert o.dtype == np.uint8
            out.extend(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R")
            out.extend(b"(K\x01")  # state: (version, shape, dtype, fortran, raw bytes)
            for d in o.shape:
                integer(d)
            out.extend({1: b"\x85", 2: b"\x86"}[o.ndim])
            out.extend(b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
            out.extend(b"\x89")
            string(o.tobytes())
            out.extend(b"tb")
        else:
            raise TypeError(type(o))

    dump(obj)
    out.extend(b".")
    return bytes(out)


def _images(rng, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)


def write_cifar10(root: Path, fmt: str, n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Six batches of n images; returns all train images and labels in file order."""
    rng = np.random.default_rng(1)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    d = root / ("cifar-10-batches-py" if fmt == "python" else "cifar-10-batches-bin")
    d.mkdir(parents=True)
    xs, ys = [], []
    for stem in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x, y = _images(rng, n), rng.integers(0, 10, n)
        if stem != "test_batch":
            xs.append(x)
            ys.append(y)
        if fmt == "python":
            batch = {b"batch_label": stem.encode(), b"labels": [int(v) for v in y],
                     b"data": x.reshape(n, 3072), b"filenames": [b"img_%d.png" % i for i in range(n)]}
            (d / stem).write_bytes(py2_pickle(batch))
        else:
            rows = np.concatenate([y.astype(np.uint8)[:, None], x.reshape(n, 3072)], axis=1)
            (d / f"{stem}.bin").write_bytes(rows.tobytes())
    if fmt == "python":
        (d / "batches.meta").write_bytes(py2_pickle({b"num_cases_per_batch": 10000, b"label_names": names,
                                                     b"num_vis": 3072}))
    else:
        (d / "batches.meta.txt").write_text("\n".join(n.decode() for n in names) + "\n\n")
    return np.concatenate(xs), np.concatenate(ys)


def test_py2_pickle_writer_matches_pickle():
    """The writer's bytes load with the standard unpickler to the intended object."""
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    obj = pickle.loads(py2_pickle({b"k": [1, 300, 70000], b"data": a}), encoding="bytes")
    assert obj[b"k"] == [1, 300, 70000]
    np.testing.assert_array_equal(obj[b"data"], a)


@pytest.mark.parametrize("fmt", ["python", "binary"])
def test_cifar10_both_versions(tmp_path, fmt):
    x, y = write_cifar10(tmp_path, fmt)
    ds = CIFAR10(tmp_path, train=True)
    assert ds.format == fmt
    assert ds.data.shape == (15, 3, 32, 32) and ds.data.dtype == np.uint8
    np.testing.assert_array_equal(ds.data, x)
    np.testing.assert_array_equal(ds.targets, y)
    assert ds.classes[0] == "airplane" and len(ds.classes) == 10
    # The red plane of image 4 is its first 1024 bytes.
    np.testing.assert_array_equal(ds[4][0][0].ravel(), x[4].reshape(3072)[:1024])
    test = CIFAR10(tmp_path / ("cifar-10-batches-py" if fmt == "python" else "cifar-10-batches-bin"),
                   train=False, format=fmt)
    assert len(test) == 3


def write_cifar100(root: Path, fmt: str, n: int = 4):
    rng = np.random.default_rng(2)
    x, fine, coarse = _images(rng, n), rng.integers(0, 100, n), rng.integers(0, 20, n)
    if fmt == "python":
        d = root / "cifar-100-python"
        d.mkdir(parents=True)
        for stem in ("train", "test"):
            (d / stem).write_bytes(py2_pickle({b"filenames": [b"f"] * n, b"batch_label": b"training batch 1 of 1",
                                               b"fine_labels": [int(v) for v in fine],
                                               b"coarse_labels": [int(v) for v in coarse],
                                               b"data": x.reshape(n, 3072)}))
        (d / "meta").write_bytes(py2_pickle({b"fine_label_names": [b"apple"] + [b"f%d" % i for i in range(1, 100)],
                                             b"coarse_label_names": [b"aquatic_mammals"] + [b"c%d" % i for i in range(1, 20)]}))
    else:
        d = root / "cifar-100-binary"
        d.mkdir(parents=True)
        rows = np.concatenate([coarse.astype(np.uint8)[:, None], fine.astype(np.uint8)[:, None],
                               x.reshape(n, 3072)], axis=1)  # coarse byte, fine byte, pixels
        for stem in ("train", "test"):
            (d / f"{stem}.bin").write_bytes(rows.tobytes())
        (d / "fine_label_names.txt").write_text("apple\n" + "\n".join(f"f{i}" for i in range(1, 100)))
        (d / "coarse_label_names.txt").write_text("aquatic_mammals\n" + "\n".join(f"c{i}" for i in range(1, 20)))
    return x, fine, coarse


@pytest.mark.parametrize("fmt", ["python", "binary"])
def test_cifar100_both_versions_fine_and_coarse(tmp_path, fmt):
    x, fine, coarse = write_cifar100(tmp_path, fmt)
    ds = CIFAR100(tmp_path, train=True)
    np.testing.assert_array_equal(ds.data, x)
    np.testing.assert_array_equal(ds.targets, fine)
    np.testing.assert_array_equal(ds.coarse_targets, coarse)
    assert ds.classes[0] == "apple" and len(ds.classes) == 100
    dc = CIFAR100(tmp_path, train=False, label="coarse", format=fmt)
    np.testing.assert_array_equal(dc.targets, coarse)
    assert dc.classes[0] == "aquatic_mammals" and len(dc.classes) == 20


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for stem in [f"data_batch_{i}" for i in range(1, 6)]:
        (d / stem).write_bytes(pickle.dumps({"data": Evil(), "labels": [0]}, protocol=2))
    with pytest.raises(ValueError, match=r"refusing to load .*data_batch_1: refused the global '(posix|os|nt)\.system'"):
        CIFAR10(tmp_path)
    assert not marker.exists()
    # The same for a modern protocol, and for builtins.eval hidden in a list.
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps([1, Evil()], protocol=5))
    with pytest.raises(ValueError, match="refused the global"):
        safe_unpickle(evil)
    evil.write_bytes(b"\x80\x02]q\x00(cbuiltins\neval\nU\x0bprint('hi')\x85Re.")
    with pytest.raises(ValueError, match=r"refused the global 'builtins\.eval'"):
        safe_unpickle(evil)
    assert not marker.exists()


def test_safe_unpickle_admits_plain_data_and_numpy2_arrays(tmp_path):
    p = tmp_path / "ok.pkl"
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    p.write_bytes(pickle.dumps({"data": a, "labels": [1, 2], "t": (1.5, None, "s", b"b")}, protocol=4))
    obj = safe_unpickle(p)
    np.testing.assert_array_equal(obj["data"], a)
    assert obj["t"] == (1.5, None, "s", b"b")
    p.write_bytes(pickle.dumps({"data": np.array([None, 1], dtype=object)}, protocol=4))
    with pytest.raises(ValueError, match=r"refusing to load .*ok\.pkl: refused the dtype 'O8' \(only plain numeric"):
        safe_unpickle(p)


def test_cifar_truncated_and_corrupt_files(tmp_path):
    write_cifar10(tmp_path / "py", "python")
    f = tmp_path / "py" / "cifar-10-batches-py" / "data_batch_3"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"data_batch_3 is not a valid pickle or is truncated"):
        CIFAR10(tmp_path / "py")
    write_cifar10(tmp_path / "bin", "binary")
    b = tmp_path / "bin" / "cifar-10-batches-bin" / "data_batch_2.bin"
    b.write_bytes(b.read_bytes()[:-7])
    with pytest.raises(ValueError, match=r"data_batch_2\.bin is truncated or corrupt: 9212 bytes is not a whole "
                                         r"number of 3073-byte records"):
        CIFAR10(tmp_path / "bin")


def test_cifar_wrong_content_and_missing(tmp_path):
    write_cifar10(tmp_path, "python")
    d = tmp_path / "cifar-10-batches-py"
    (d / "data_batch_5").write_bytes(py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1, 2]}))
    with pytest.raises(ValueError, match=r"data_batch_5 has 2 images but 3 'labels'"):
        CIFAR10(tmp_path)
    (d / "data_batch_5").write_bytes(py2_pickle({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ValueError, match=r"data_batch_5: 'data' should be a uint8 array \(N, 3072\), got uint8 \(2, 100\)"):
        CIFAR10(tmp_path)
    (d / "data_batch_5").unlink()
    with pytest.raises(FileNotFoundError, match="missing file .*data_batch_5"):
        CIFAR10(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no CIFAR files found; looked for .*cifar-10-batches-py/data_batch_1"):
        CIFAR10(tmp_path / "elsewhere")


# ---------------------------------------------------------------------------------------------
# Bundled: scikit-learn's digits and photographs
# ---------------------------------------------------------------------------------------------

def test_digits_split_and_values():
    sk = pytest.importorskip("sklearn.datasets")
    train, test = Digits(train=True), Digits(train=False)
    assert (len(train), len(test)) == (1438, 359)
    assert train.data.shape == (1438, 1, 8, 8) and train.data.dtype == np.float32
    assert train.data.min() == 0.0 and train.data.max() == 1.0
    ref = sk.load_digits()
    order = np.random.default_rng(0).permutation(1797)
    np.testing.assert_array_equal(test.data[:, 0] * 16, ref.images[order[:359]])
    np.testing.assert_array_equal(train.targets, ref.target[order[359:]])
    # Disjoint and complete: the two parts together are the whole set, each image once.
    a, b = Digits(test_fraction=0.5, seed=3), Digits(train=False, test_fraction=0.5, seed=3)
    rows = np.concatenate([a.data, b.data]).reshape(1797, 64) * 16
    ref_rows = ref.images.reshape(1797, 64)
    np.testing.assert_array_equal(rows[np.lexsort(rows.T)], ref_rows[np.lexsort(ref_rows.T)])
    with pytest.raises(ValueError, match=r"test_fraction must be in \[0, 1\), got 1.5"):
        Digits(test_fraction=1.5)


def test_sample_images():
    sk = pytest.importorskip("sklearn.datasets")
    china = load_sample_image("china")
    assert china.shape == (3, 427, 640) and china.dtype == np.uint8
    np.testing.assert_array_equal(china.transpose(1, 2, 0), sk.load_sample_image("china.jpg"))
    ds = SampleImages()
    assert ds.classes == ["china", "flower"] and ds.data.shape == (2, 3, 427, 640)
    np.testing.assert_array_equal(ds[1][0], load_sample_image("flower.jpg"))
    with pytest.raises(ValueError, match=r"unknown image 'lena'; the bundled ones are \('china', 'flower'\)"):
        load_sample_image("lena")


# ---------------------------------------------------------------------------------------------
# ImageFolder
# ---------------------------------------------------------------------------------------------

def _folder(tmp_path: Path) -> dict[str, np.ndarray]:
    from PIL import Image

    rng = np.random.default_rng(3)
    made = {}
    for cls, files in {"dog": ["b.png", "a.png"], "cat": ["z.bmp"], ".hidden": ["q.png"]}.items():
        (tmp_path / cls).mkdir()
        for f in files:
            arr = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)  # (H, W, 3)
            Image.fromarray(arr).save(tmp_path / cls / f)
            made[f"{cls}/{f}"] = arr
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    return made


def test_image_folder(tmp_path):
    pytest.importorskip("PIL")
    made = _folder(tmp_path)
    ds = ImageFolder(tmp_path)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert [Path(p).name for p, _ in ds.samples] == ["z.bmp", "a.png", "b.png"]
    np.testing.assert_array_equal(ds.targets, [0, 1, 1])
    x, y = ds[1]
    assert x.shape == (3, 5, 7) and x.dtype == np.uint8 and y == 1
    np.testing.assert_array_equal(x, made["dog/a.png"].transpose(2, 0, 1))  # PNG is lossless
    gray = ImageFolder(tmp_path, mode="L")[0][0]
    r, g, b = made["cat/z.bmp"].astype(np.int64).transpose(2, 0, 1)
    # Pillow's L conversion: ITU-R 601-2 luma, L = R*299/1000 + G*587/1000 + B*114/1000 (rounded).
    assert gray.shape == (1, 5, 7)
    assert np.abs(gray[0].astype(np.int64) - (r * 299 + g * 587 + b * 114) / 1000).max() <= 0.5 + 1e-9
    xb, yb = next(iter(DataLoader(ds, batch_size=3)))
    assert xb.shape == (3, 3, 5, 7) and yb.data.tolist() == [0, 1, 1]


def test_image_folder_bad_inputs(tmp_path):
    pytest.importorskip("PIL")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        ImageFolder(tmp_path / "missing")
    with pytest.raises(ValueError, match="has no class sub-folders"):
        ImageFolder(tmp_path)
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"found no images with extensions .* in the class folders \['cat'\]"):
        ImageFolder(tmp_path)
    (tmp_path / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    ds = ImageFolder(tmp_path)
    with pytest.raises(ValueError, match=r"cannot decode image .*broken\.jpg"):
        ds[0]
    with pytest.raises(ValueError, match="mode must be 'RGB' or 'L'"):
        load_image(tmp_path / "cat" / "broken.jpg", mode="CMYK")
