"""Hostile files for juanji.data's readers: each must load correctly or be refused with a
ValueError (FileNotFoundError for a missing file) whose message names the file, without
running code named by the file and without allocating more than the file declares.

The crafted files here are written independently of the readers (pickle, pickletools-style
hand-written opcodes, struct, gzip, Pillow).
"""

from __future__ import annotations

import pickle
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from juanji.data import CIFAR10, CIFAR100, safe_unpickle
from tests.data.test_data_readers import py2_pickle

# ---------------------------------------------------------------------------------------------
# CIFAR python batches: what real files (and re-saves of them) look like is accepted ...
# ---------------------------------------------------------------------------------------------


def _batch(n: int, seed: int = 0) -> dict:
    """A CIFAR-10 batch as a Python 3 re-save holds it: str keys, a (n, 3072) uint8 array, int labels."""
    rng = np.random.default_rng(seed)
    return {"batch_label": "training batch 1 of 5", "labels": [int(v) for v in rng.integers(0, 10, n)],
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "filenames": [f"im_{i}.png" for i in range(n)]}


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_python3_resaves_load(tmp_path, protocol):
    """Real batches re-saved by Python 3: protocol 2 names _codecs.encode for bytes, 5 names _frombuffer."""
    batch = _batch(4, seed=protocol)
    p = tmp_path / "one_batch"
    p.write_bytes(pickle.dumps(batch, protocol=protocol))
    got = safe_unpickle(p)
    assert got["labels"] == batch["labels"] and got["filenames"] == batch["filenames"]
    assert got["data"].dtype == np.uint8 and got["data"].shape == (4, 3072)
    np.testing.assert_array_equal(got["data"], batch["data"])
    # ... and a whole data set of them.
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for i, stem in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        (d / stem).write_bytes(pickle.dumps(_batch(3, seed=10 + i), protocol=protocol))
    ds = CIFAR10(tmp_path)
    assert ds.data.shape == (15, 3, 32, 32)
    np.testing.assert_array_equal(ds.data[3:6].reshape(3, 3072), _batch(3, seed=11)["data"])
    np.testing.assert_array_equal(ds.targets[:3], _batch(3, seed=10)["labels"])


def test_python2_batch_loads_and_owns_exactly_its_bytes(tmp_path):
    x = np.random.default_rng(5).integers(0, 256, (3, 3072), dtype=np.uint8)
    p = tmp_path / "data_batch_1"
    p.write_bytes(py2_pickle({b"data": x, b"labels": [1, 2, 3]}))
    got = safe_unpickle(p)[b"data"]
    np.testing.assert_array_equal(got, x)
    assert got.nbytes == 3 * 3072 and got.flags.c_contiguous and 0 not in got.strides


def test_unpickling_does_not_change_numpys_shared_dtypes(tmp_path):
    """dtype('i4', align=0, copy=0) is numpy's shared int32 descriptor: a BUILD must never reach it."""
    p = tmp_path / "d.pkl"
    p.write_bytes(b"\x80\x02cnumpy\ndtype\nU\x02i4K\x00K\x00\x87R(K\x03U\x01>NNNJ\xff\xff\xff\xffJ\xff\xff"
                  b"\xff\xffK\x00tb.")
    try:
        safe_unpickle(p)
    except ValueError as e:
        assert str(p) in str(e)
    assert np.dtype("i4").byteorder == "=" and np.dtype("i4").isnative


# ---------------------------------------------------------------------------------------------
# ... and everything else is refused, naming the file.
# ---------------------------------------------------------------------------------------------

def _u(s: str) -> bytes:
    """A protocol-2 SHORT_BINSTRING (Python 2 str) opcode."""
    return b"U" + bytes([len(s)]) + s.encode()


def _int(v: int) -> bytes:
    return b"J" + struct.pack("<i", v)


def _cifar_dict(data_ops: bytes, n_labels: int) -> bytes:
    """{b'labels': [0] * n_labels, b'data': <data_ops>} as protocol-2 opcodes."""
    labels = b"](" + b"K\x00" * n_labels + b"e" if n_labels else b"]"
    return b"\x80\x02}(" + _u("labels") + labels + _u("data") + data_ops + b"u."


_NDARRAY = b"cnumpy\nndarray\n"
_DTYPE_U1 = b"cnumpy\ndtype\n" + _u("u1") + b"K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"

HOSTILE_PICKLES = {
    # numpy.ndarray((n, 3072), 'u1'): an array of uninitialised process memory, no buffer in the file.
    "ndarray without a buffer": _cifar_dict(_NDARRAY + b"(" + _int(3) + _int(3072) + b"\x86" + _u("u1") + b"tR", 3),
    "ndarray without a buffer, huge n": _cifar_dict(_NDARRAY + b"(" + _int(200_000) + _int(3072) + b"\x86"
                                                    + _u("u1") + b"tR", 0),
    # numpy.ndarray(shape, 'u1', buffer=b'x', offset=0, strides=(0, 0)): a zero-stride view.
    "zero-stride view": _cifar_dict(_NDARRAY + b"(" + _int(1000) + _int(3072) + b"\x86" + _u("u1") + _u("x")
                                    + b"K\x00K\x00K\x00\x86tR", 1000),
    "as_strided": _cifar_dict(b"cnumpy.lib.stride_tricks\nas_strided\n(" + _u("x") + b"tR", 1),
    # _reconstruct allocating an uninitialised array itself, or for another class.
    "_reconstruct of a large empty array": _cifar_dict(b"cnumpy.core.multiarray\n_reconstruct\n" + _NDARRAY
                                                       + _int(10_000_000) + b"\x85" + _u("b") + b"\x87R", 1),
    "_reconstruct of a dtype": _cifar_dict(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\ndtype\n"
                                           + b"K\x00\x85" + _u("b") + b"\x87R", 1),
    # BUILD of an array whose declared shape does not match its bytes.
    "state shape larger than its bytes": _cifar_dict(b"cnumpy.core.multiarray\n_reconstruct\n" + _NDARRAY
                                                     + b"K\x00\x85" + _u("b") + b"\x87R(K\x01" + _int(1 << 20)
                                                     + _int(3072) + b"\x86" + _DTYPE_U1 + b"\x89" + _u("abc")
                                                     + b"tb", 1),
    # codecs other than latin1: a decompressor in disguise.
    "_codecs.encode with zlib": _cifar_dict(b"c_codecs\nencode\n" + _u("x" * 50) + _u("zlib_codec") + b"\x86R", 1),
    "_codecs.decode": _cifar_dict(b"c_codecs\ndecode\n" + _u("x") + _u("latin1") + b"\x86R", 1),
    "builtins.eval": b"\x80\x02cbuiltins\neval\n" + _u("1+1") + b"\x85R.",
    "os.system": b"\x80\x02cos\nsystem\n" + _u("true") + b"\x85R.",
    "BUILD on a list": b"\x80\x02](K\x01e}b.",
}


def _pickle_of(obj, protocol: int) -> bytes:
    return pickle.dumps(obj, protocol=protocol)


for _proto in (2, 4, 5):
    HOSTILE_PICKLES[f"structured dtype, protocol {_proto}"] = _pickle_of(
        {"data": np.zeros(3, dtype=[("a", "u1"), ("b", "<i4")]), "labels": [0, 0, 0]}, _proto)
    HOSTILE_PICKLES[f"object array, protocol {_proto}"] = _pickle_of(
        {"data": np.array([None, 1], dtype=object), "labels": [0, 0]}, _proto)
    HOSTILE_PICKLES[f"subarray dtype, protocol {_proto}"] = _pickle_of(np.dtype(("u1", (3,))), _proto)
    HOSTILE_PICKLES[f"datetime array, protocol {_proto}"] = _pickle_of(np.zeros(2, "M8[s]"), _proto)


@pytest.mark.parametrize("name", sorted(HOSTILE_PICKLES))
def test_hostile_pickle_refused_naming_the_file(tmp_path, name):
    p = tmp_path / "data_batch_1"
    p.write_bytes(HOSTILE_PICKLES[name])
    with pytest.raises(ValueError, match=re.escape(str(p))):
        safe_unpickle(p)


@pytest.mark.parametrize("name", ["ndarray without a buffer", "zero-stride view", "state shape larger than its bytes"])
def test_hostile_cifar_batch_refused_by_the_data_set(tmp_path, name):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    good = py2_pickle({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]})
    for stem in [f"data_batch_{k}" for k in range(1, 6)]:
        (d / stem).write_bytes(good)
    (d / "data_batch_3").write_bytes(HOSTILE_PICKLES[name])
    with pytest.raises(ValueError, match=re.escape(str(d / "data_batch_3"))):
        CIFAR10(tmp_path)


# ---------------------------------------------------------------------------------------------
# Running a reader in a fresh process under a memory cap
# ---------------------------------------------------------------------------------------------

_CAPPED_PRELUDE = r'''
import os, resource, sys
import numpy as np
import juanji.data
def _vm_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
# The cap counts from what this process has already mapped (Python, numpy, BLAS reserve
# address space up front), so it bounds what the code below may add.
_cap = _vm_bytes() + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (_cap, _cap))
'''


def run_capped(code: str, extra_bytes: int, timeout: float = 120) -> "subprocess.CompletedProcess[str]":
    """Run ``code`` in a fresh Python (juanji and numpy imported) allowed ``extra_bytes`` more address space."""
    return subprocess.run([sys.executable, "-c", _CAPPED_PRELUDE + code, str(extra_bytes)], capture_output=True,
                          text=True, timeout=timeout, cwd=Path(__file__).resolve().parent.parent)


def refusal_in_capped_process(call: str, extra_bytes: int,
                              timeout: float = 120) -> "subprocess.CompletedProcess[str]":
    """Run the reader ``call`` under the cap; a ValueError it raises is printed as 'ValueError: ...'."""
    return run_capped(f"try:\n    {call}\nexcept ValueError as e:\n    print('ValueError:', e)\n", extra_bytes, timeout)


def peak_traced_bytes_of(code: str) -> int:
    """The peak of memory allocated (Python objects and numpy arrays, as tracemalloc sees them)
    while a fresh process runs ``code``. (Peak RSS would not do: importing juanji already
    peaks higher than the reads measured here.)"""
    out = run_capped("import tracemalloc\ntracemalloc.start()\n" + code
                     + "\nprint(tracemalloc.get_traced_memory()[1])", 8 << 30)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


# ---------------------------------------------------------------------------------------------
# IDX: sizes are checked before anything is allocated or decompressed
# ---------------------------------------------------------------------------------------------

def _idx_header(code: int, dims: tuple[int, ...]) -> bytes:
    return struct.pack(">BBBB", 0, 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def test_idx_gzip_bomb_is_refused_without_decompressing_it(tmp_path):
    """A 10-byte array followed by 1 GiB of zeros (1 MB of gzip): refused after reading 11 bytes."""
    import gzip

    p = tmp_path / "bomb-idx1-ubyte.gz"
    member = gzip.compress(bytes(1 << 24), compresslevel=9)  # 16 MiB of zeros, ~16 kB
    p.write_bytes(gzip.compress(_idx_header(8, (10,)) + bytes(10)) + member * 64)  # 1 GiB more after the array
    out = refusal_in_capped_process(f"juanji.data.read_idx({str(p)!r})", 256 << 20, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ValueError:" in out.stdout and str(p) in out.stdout and "longer than its header says" in out.stdout


@pytest.mark.parametrize("gz", [False, True])
def test_idx_declared_size_over_the_cap_or_int64_is_refused_before_allocating(tmp_path, gz):
    import gzip

    from juanji.data import read_idx

    p = tmp_path / "huge.idx"
    for dims in [(0xFFFFFFFF,) * 3, (1 << 16, 1 << 16, 1 << 16)]:  # 2^96 (overflows int64) and 2^48 bytes
        raw = _idx_header(8, dims) + bytes(100)
        p.write_bytes(gzip.compress(raw) if gz else raw)
        declared = dims[0] * dims[1] * dims[2]
        with pytest.raises(ValueError, match=re.escape(str(p)) + r".*" + re.escape(f"{declared} bytes")):
            read_idx(p)


def test_idx_gzip_declaring_more_than_deflate_can_hold_is_refused(tmp_path):
    """Deflate expands at most 1032-fold, so a 50-byte gzip cannot hold a 100 MB array."""
    import gzip

    from juanji.data import read_idx

    p = tmp_path / "small.idx.gz"
    p.write_bytes(gzip.compress(_idx_header(8, (100, 1000, 1000))))
    out = refusal_in_capped_process(f"juanji.data.read_idx({str(p)!r})", 32 << 20)
    assert out.returncode == 0 and str(p) in out.stdout and "100000000 bytes" in out.stdout, out.stderr[-2000:]
    with pytest.raises(ValueError, match=re.escape(str(p))):
        read_idx(p)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_peak_memory_is_about_the_array(tmp_path, gz):
    """Reading a 64 MiB int32 array peaks at about 64 MiB more, not twice that."""
    import gzip

    n = 16 << 20  # int32 elements: 64 MiB
    p = tmp_path / ("big.idx.gz" if gz else "big.idx")
    raw = _idx_header(0x0C, (n // 4096, 4096)) + np.arange(n, dtype=">i4").tobytes()
    p.write_bytes(gzip.compress(raw, compresslevel=1) if gz else raw)
    del raw
    grown = peak_traced_bytes_of(f"a = juanji.data.read_idx({str(p)!r})\nassert a.dtype == np.int32 and a.shape == "
                              f"({n // 4096}, 4096) and int(a[-1, -1]) == {n - 1} and a.dtype.isnative")
    assert grown < 1.25 * 4 * n, f"peak grew by {grown / 2**20:.0f} MiB for a 64 MiB array"


@pytest.mark.parametrize("gz", [False, True])
def test_idx_trailing_bytes_and_short_bodies_name_sizes(tmp_path, gz):
    import gzip

    from juanji.data import read_idx

    p = tmp_path / "t.idx"
    raw = _idx_header(8, (4, 3)) + bytes(12)
    for body, what, has in [(raw + b"xyz", "longer than its header says", 27), (raw[:-2], "truncated", 22)]:
        p.write_bytes(gzip.compress(body) if gz else body)
        with pytest.raises(ValueError, match=re.escape(f"{p} is {what}: dimensions (4, 3) of uint8 need 24 bytes, "
                                                       f"the file has {has}")):
            read_idx(p)


# ---------------------------------------------------------------------------------------------
# CIFAR: labels, empty batches, nested lists, meta files, binary sizes
# ---------------------------------------------------------------------------------------------

def _cifar10_dir(tmp_path: Path, fmt: str = "python") -> Path:
    from tests.data.test_data_readers import write_cifar10

    write_cifar10(tmp_path, fmt)
    return tmp_path / ("cifar-10-batches-py" if fmt == "python" else "cifar-10-batches-bin")


@pytest.mark.parametrize("bad,shown", [(-1, "-1"), (10, "10"), (-7, "-7"), (2**70, str(2**70))])
def test_cifar10_out_of_range_label_is_reported_as_it_is(tmp_path, bad, shown):
    d = _cifar10_dir(tmp_path)
    (d / "data_batch_4").write_bytes(pickle.dumps({b"data": np.zeros((3, 3072), np.uint8), b"labels": [3, bad, 9]},
                                                  protocol=4))
    with pytest.raises(ValueError, match=re.escape(str(d / "data_batch_4")) + r".*\blabel " + re.escape(shown)
                       + r" .*outside \[0, 10\)"):
        CIFAR10(tmp_path)


def test_cifar100_out_of_range_labels_name_file_and_value(tmp_path):
    from tests.data.test_data_readers import write_cifar100

    write_cifar100(tmp_path, "python")
    d = tmp_path / "cifar-100-python"
    (d / "train").write_bytes(py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [5, -3],
                                          b"coarse_labels": [1, 2]}))
    with pytest.raises(ValueError, match=re.escape(str(d / "train")) + r".*fine label -3 .*outside \[0, 100\)"):
        CIFAR100(tmp_path)
    write_cifar100(tmp_path / "b", "binary")
    b = tmp_path / "b" / "cifar-100-binary" / "test.bin"
    rows = np.zeros((2, 3074), np.uint8)
    rows[:, 0], rows[:, 1] = [3, 25], [7, 8]  # coarse byte 25 is outside [0, 20)
    b.write_bytes(rows.tobytes())
    with pytest.raises(ValueError, match=re.escape(str(b)) + r".*coarse label 25 .*outside \[0, 20\)"):
        CIFAR100(tmp_path / "b", train=False)


@pytest.mark.parametrize("labels,why", [([[0], [1], [2]], "flat list of ints"), ([[0, 1], [2], 3], "flat list of ints"),
                                        ([0, 1.5, 2], "flat list of ints"), (b"abc", "flat list of ints"),
                                        ([0, True, 2], "flat list of ints")])
def test_cifar_labels_that_are_not_a_flat_int_list(tmp_path, labels, why):
    d = _cifar10_dir(tmp_path)
    (d / "data_batch_2").write_bytes(pickle.dumps({"data": np.zeros((3, 3072), np.uint8), "labels": labels},
                                                  protocol=4))
    with pytest.raises(ValueError, match=re.escape(str(d / "data_batch_2")) + ".*" + why):
        CIFAR10(tmp_path)


def test_cifar_empty_batch_is_refused_clearly(tmp_path):
    d = _cifar10_dir(tmp_path)
    (d / "data_batch_1").write_bytes(py2_pickle({b"data": np.zeros((0, 3072), np.uint8), b"labels": []}))
    with pytest.raises(ValueError, match=re.escape(str(d / "data_batch_1")) + r" holds no images"):
        CIFAR10(tmp_path)
    b = _cifar10_dir(tmp_path / "b", "binary")
    (b / "test_batch.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=re.escape(str(b / "test_batch.bin")) + r" holds no images"):
        CIFAR10(tmp_path / "b", train=False)


@pytest.mark.parametrize("meta", [[1, 2], {"label_names": 5}, {"label_names": [b"\xff\xfe"]},
                                  {"label_names": [b"a", 7]}])
def test_cifar_bad_meta_file(tmp_path, meta):
    d = _cifar10_dir(tmp_path)
    (d / "batches.meta").write_bytes(pickle.dumps(meta, protocol=4))  # BINBYTES: no _codecs needed
    with pytest.raises(ValueError, match=re.escape(str(d / "batches.meta"))):
        CIFAR10(tmp_path)


def test_cifar_binary_meta_that_is_not_text(tmp_path):
    d = _cifar10_dir(tmp_path, "binary")
    (d / "batches.meta.txt").write_bytes(b"cat\n\xff\xfe\x00dog\n")
    with pytest.raises(ValueError, match=re.escape(str(d / "batches.meta.txt"))):
        CIFAR10(tmp_path)


def test_cifar_binary_size_is_checked_before_reading(tmp_path):
    """A sparse 4 GiB file whose size is no whole number of records: refused from its size alone."""
    d = _cifar10_dir(tmp_path, "binary")
    with open(d / "data_batch_2.bin", "r+b") as f:
        f.truncate((4 << 30) + 1)
    out = refusal_in_capped_process(f"juanji.data.CIFAR10({str(tmp_path)!r}, format='binary')", 512 << 20)
    assert out.returncode == 0, out.stderr[-2000:]
    assert str(d / "data_batch_2.bin") in out.stdout and "4294967297 bytes" in out.stdout


# ---------------------------------------------------------------------------------------------
# Images: corrupt files that Pillow would decode to absurd sizes, truncated files, bombs
# ---------------------------------------------------------------------------------------------

def _jpeg_bytes(h: int = 8, w: int = 12, seed: int = 0, **save) -> bytes:
    import io

    from PIL import Image

    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", **save)
    return buf.getvalue()


def _with_sof_size(jpeg: bytes, h: int, w: int) -> bytes:
    """The JPEG with the height and width in its start-of-frame segment replaced (found by its marker)."""
    sof = next(m.start() for m in re.finditer(rb"\xff[\xc0\xc2]", jpeg))  # baseline or progressive SOF
    return jpeg[:sof + 5] + struct.pack(">HH", h, w) + jpeg[sof + 9:]


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("h,w", [(8, 20748), (35336, 12), (6, 16135)])
def test_jpeg_whose_header_declares_far_more_than_its_data_is_refused(tmp_path, h, w, progressive):
    from juanji.data import load_image

    p = tmp_path / "odd.jpg"
    p.write_bytes(_with_sof_size(_jpeg_bytes(progressive=progressive), h, w))
    with pytest.raises(ValueError, match=re.escape(str(p))):
        load_image(p)


def test_real_jpegs_still_load(tmp_path):
    """The plausibility check must not refuse honest files: uniform images compress best."""
    import io

    from PIL import Image

    from juanji.data import load_image

    for i, (arr, save) in enumerate([(np.zeros((1000, 1500, 3), np.uint8), {}),
                                     (np.full((999, 3, 3), 200, np.uint8), {"progressive": True}),
                                     (np.zeros((2000, 2000), np.uint8), {"quality": 1}),
                                     (np.full((16, 4000, 3), 255, np.uint8), {"subsampling": 0}),
                                     (np.zeros((2048, 2048), np.uint8), {"optimize": True}),
                                     (np.zeros((2048, 2048), np.uint8), {"optimize": True, "progressive": True})]):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", **save)
        p = tmp_path / f"plain{i}.jpg"
        p.write_bytes(buf.getvalue())
        got = load_image(p, mode="L" if arr.ndim == 2 else "RGB")
        assert got.shape[1:] == arr.shape[:2]
        assert np.abs(got.astype(int) - np.asarray(Image.open(p)).reshape(got.shape[1:] + (-1,))
                      .transpose(2, 0, 1)).max() == 0


def test_truncated_images_are_refused(tmp_path):
    import io

    from PIL import Image

    from juanji.data import load_image

    jpeg = _jpeg_bytes(64, 64)
    png = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(png, "PNG")
    for name, data in [("t.jpg", jpeg[: len(jpeg) // 2]), ("t.png", png.getvalue()[: len(png.getvalue()) // 2])]:
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(ValueError, match=re.escape(str(p))):
            load_image(p)


def _png(w: int, h: int, body: bool = False) -> bytes:
    """A grayscale PNG declaring w x h, with black pixels (``body``) or an empty IDAT; correct CRCs."""
    import zlib

    z = zlib.compressobj(9)
    idat = b"".join(z.compress(bytes(1 + w)) for _ in range(h if body else 0)) + z.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.mark.parametrize("w,h,body", [(0, 5, False), (5, 0, False), (30000, 30000, False), (9000, 9000, True)])
def test_image_sizes_zero_or_over_the_pixel_cap_are_refused_before_decoding(tmp_path, w, h, body):
    """9000 x 9000 black pixels (81 M, 80 kB of PNG) is under Pillow's bomb check but over ours."""
    p = tmp_path / "big.png"
    p.write_bytes(_png(w, h, body))
    out = refusal_in_capped_process(f"juanji.data.load_image({str(p)!r})", 256 << 20)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ValueError:" in out.stdout and str(p) in out.stdout and "MemoryError" not in out.stdout
    if w * h > 1000:
        assert "pixels" in out.stdout  # refused for its size, before decoding


def test_pixel_cap_is_documented_and_adjustable(tmp_path):
    from PIL import Image

    from juanji.data import load_image
    from juanji.data.folder import MAX_IMAGE_PIXELS

    assert 10_000_000 <= MAX_IMAGE_PIXELS < 89_478_485  # below Pillow's own warning threshold
    p = tmp_path / "wide.png"
    Image.fromarray(np.zeros((10, 300), np.uint8)).save(p)
    with pytest.raises(ValueError, match=re.escape(str(p)) + r".*3000 pixels.*max_pixels=2000"):
        load_image(p, mode="L", max_pixels=2000)
    assert load_image(p, mode="L").shape == (1, 10, 300)


# The byte-flip and truncation fuzz run over every reader lives in tests/fuzz_readers.py
# (run by tests/test_fuzz.py).


def test_mnist_count_mismatch_names_both_files_in_full(tmp_path):
    from juanji.data import MNIST
    from tests.data.test_data_readers import write_idx

    images = write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8), 8)
    labels = write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8), 8)
    with pytest.raises(ValueError, match=re.escape(f"{images} has 3 images but {labels} has 2 labels")):
        MNIST(tmp_path, train=False)
