"""Hostile files: size bombs, refused dtypes, crafted metadata and orphaned temporary files.

Every file here is built by hand (not by ``juanji.io.save``) the way an attacker or a
corrupting disk would, and each must be refused with a ValueError that names the file and
what is wrong, before any large allocation.
"""

from __future__ import annotations

import io as pyio
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import juanji._atomic as _atomic
import juanji.io as jio
from juanji.train import is_checkpoint, load_checkpoint, load_weights, save_checkpoint
import juanji.nn as nn

ROOT = Path(__file__).resolve().parents[1]


# --- hand-made files ---------------------------------------------------------------------------
def _npy_header(descr: str, shape: tuple, fortran: bool = False) -> bytes:
    buf = pyio.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return buf.getvalue()


def _npz(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _safetensors(path: Path, header: object, data: bytes = b"", raw_header: bytes | None = None) -> Path:
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    return path


def _forge_uncompressed_size(path: Path, size: int) -> None:
    """Overwrite the uncompressed size of the (only) member in the local and central headers."""
    raw = bytearray(path.read_bytes())
    local = raw.index(b"PK\x03\x04")
    raw[local + 22:local + 26] = struct.pack("<I", size)
    central = raw.index(b"PK\x01\x02")
    raw[central + 24:central + 28] = struct.pack("<I", size)
    path.write_bytes(bytes(raw))


# --- 1. size bombs ------------------------------------------------------------------------------
def test_npz_member_claiming_4_tib_is_refused_before_allocating(tmp_path):
    path = _npz(tmp_path / "bomb.npz", {"w.npy": _npy_header("<f4", (2**40,))})
    assert path.stat().st_size < 400
    with pytest.raises(ValueError, match=r"load: '.*bomb\.npz': member 'w\.npy' declares shape \(1099511627776,\) "
                                         r"float32 \(4398046511104 bytes\) but holds 0 bytes of data"):
        jio.read(path)


def test_npz_member_whose_shape_product_overflows_int64_is_refused(tmp_path):
    path = _npz(tmp_path / "bomb.npz", {"w.npy": _npy_header("<f8", (2**40, 2**40, 2**40))})
    with pytest.raises(ValueError, match=r"member 'w\.npy' declares shape \(1099511627776, 1099511627776, "
                                         r"1099511627776\) float64"):
        jio.read(path)


def test_npz_member_with_more_data_than_declared_is_refused(tmp_path):
    path = _npz(tmp_path / "long.npz", {"w.npy": _npy_header("<f4", (2,)) + b"\0" * 12})
    with pytest.raises(ValueError, match=r"member 'w\.npy' declares shape \(2,\) float32 \(8 bytes\) but holds 12"):
        jio.read(path)


def test_deflated_member_whose_directory_size_beats_deflate_is_refused(tmp_path):
    # A 1 KiB deflated member whose zip directory claims ~4 GiB: no DEFLATE stream expands that much
    # (the format's limit is 1032:1), so the reader must refuse it before reading or allocating.
    n = (2**32 - 256) // 4
    header = _npy_header("<f4", (n,))
    path = _npz(tmp_path / "zipbomb.npz", {"w.npy": header + b"\0" * 1024}, zipfile.ZIP_DEFLATED)
    _forge_uncompressed_size(path, len(header) + 4 * n)
    with pytest.raises(ValueError, match=r"load: '.*zipbomb\.npz': member 'w\.npy' claims \d+ bytes uncompressed "
                                         r"from \d+ compressed"):
        jio.read(path)


def test_deflated_npz_written_by_numpy_still_loads(tmp_path):
    w = np.arange(50_000, dtype=np.float32).reshape(250, 200)
    np.savez_compressed(tmp_path / "c.npz", w=w, zeros=np.zeros((300, 300)))  # ratio ~ 1000:1
    arrays = jio.load(tmp_path / "c.npz")
    np.testing.assert_array_equal(arrays["w"], w)
    np.testing.assert_array_equal(arrays["zeros"], np.zeros((300, 300)))


def test_fortran_ordered_npz_member_loads_with_its_values(tmp_path):
    a = np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3))
    np.savez(tmp_path / "f.npz", a=a)
    np.testing.assert_array_equal(jio.load(tmp_path / "f.npz")["a"], a)


@pytest.mark.parametrize("length", [2**63, 2**40, 10_000])
def test_safetensors_header_length_beyond_the_file_is_refused(tmp_path, length):
    path = tmp_path / "w.safetensors"
    path.write_bytes(struct.pack("<Q", length) + b"{}")
    with pytest.raises(ValueError, match=rf"load: '.*w\.safetensors' is not a valid \.safetensors file "
                                         rf"\(truncated or corrupt\): header length {length} exceeds"):
        jio.read(path)


def test_safetensors_tensor_claiming_4_tib_is_refused(tmp_path):
    path = _safetensors(tmp_path / "w.safetensors",
                        {"w": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 4 * 2**40]}})
    with pytest.raises(ValueError, match=r"w\.safetensors' is not a valid .*: tensor 'w' ends at byte 4398046511104, "
                                         r"beyond the 0 bytes of data"):
        jio.read(path)


def test_safetensors_shape_disagreeing_with_offsets_is_refused(tmp_path):
    path = _safetensors(tmp_path / "w.safetensors",
                        {"w": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 8]}}, b"\0" * 8)
    with pytest.raises(ValueError, match=r"tensor 'w' declares shape \(1099511627776,\) float32 "
                                         r"\(4398046511104 bytes\) but its data_offsets span 8 bytes"):
        jio.read(path)


# --- 2. dtypes that save refuses are refused on load too ---------------------------------------
REFUSED = {
    "str": np.array(["ab", "c"]),
    "bytes": np.array([b"ab"]),
    "complex": np.array([1 + 2j], np.complex64),
    "datetime": np.array(["2020-01-01"], "datetime64[D]"),
    "timedelta": np.array([3], "timedelta64[s]"),
    "void": np.zeros(2, "V4"),
    "structured": np.zeros(2, [("a", "<f4"), ("b", "<i4")]),
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_npz_with_a_dtype_save_refuses_is_refused(tmp_path, kind):
    arr = REFUSED[kind]
    with pytest.raises(TypeError):
        jio.save({"x": arr}, tmp_path / "saved.npz")  # what save refuses ...
    np.savez(tmp_path / "w.npz", good=np.zeros(2, np.float32), x=arr)
    with pytest.raises(ValueError, match=rf"load: '.*w\.npz': entry 'x' has dtype .*; only bool, integer and "
                                         rf"floating arrays are loaded"):
        jio.read(tmp_path / "w.npz")  # ... load refuses as well


def test_safetensors_complex_tensor_is_refused(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "w.safetensors"
    path.write_bytes(st.save({"z": np.array([1 + 2j], np.complex64), "w": np.ones(2, np.float32)}))
    with pytest.raises(ValueError, match=r"w\.safetensors': entry 'z' has dtype C64; only bool, integer and "
                                         r"floating arrays are loaded"):
        jio.read(path)


def test_safetensors_unknown_dtype_is_refused(tmp_path):
    path = _safetensors(tmp_path / "w.safetensors", {"w": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}},
                        b"\0\0")
    with pytest.raises(ValueError, match=r"entry 'w' has dtype BF16"):
        jio.read(path)


# --- 4. crafted structure and metadata -----------------------------------------------------------
def test_non_zip_npz_is_reported_as_not_a_zip(tmp_path):
    path = tmp_path / "w.npz"
    path.write_bytes(b"this is not a zip archive at all" * 4)
    with pytest.raises(ValueError, match=r"load: '.*w\.npz' is not a valid \.npz file \(not a zip archive\)"):
        jio.read(path)


def test_npz_member_that_is_not_npy_is_refused(tmp_path):
    path = _npz(tmp_path / "w.npz", {"readme.txt": b"hello"})
    with pytest.raises(ValueError, match=r"'.*w\.npz': member 'readme\.txt' is not a \.npy array"):
        jio.read(path)


@pytest.mark.parametrize("meta", [b"[1, 2]", b'{"a": 1}', b"[" * 100_000, b"\xff\xfe"])
def test_npz_malformed_metadata_is_a_value_error(tmp_path, meta):
    path = tmp_path / "w.npz"
    np.savez(path, w=np.zeros(1), __metadata__=np.frombuffer(meta, np.uint8))
    with pytest.raises(ValueError, match=r"load: '.*w\.npz' has malformed metadata"):
        jio.read(path)


@pytest.mark.parametrize("keys", ["5", "x", "[[1]]", '"w"', "{}", "[" * 100_000])
def test_safetensors_crafted_key_order_is_a_value_error(tmp_path, keys):
    st = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "w.safetensors"
    path.write_bytes(st.save({"w": np.ones(2, np.float32)}, metadata={"juanji.keys": keys}))
    with pytest.raises(ValueError, match=r"load: '.*w\.safetensors' has malformed metadata: 'juanji\.keys'"):
        jio.read(path)


@pytest.mark.parametrize("header", [
    b"[1, 2]", b'"text"', b"[" * 100_000 + b"]" * 100_000, b"{not json", b"\xff\xff",
    b'{"w": 3}', b'{"w": {"dtype": "F32", "shape": "big", "data_offsets": [0, 4]}}',
    b'{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}',
    b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}',
    b'{"__metadata__": {"a": 1}}', b'{"__metadata__": [1]}',
])
def test_safetensors_crafted_header_is_a_value_error(tmp_path, header):
    path = _safetensors(tmp_path / "w.safetensors", None, b"\0" * 4, raw_header=header)
    with pytest.raises(ValueError, match=r"load: '.*w\.safetensors'"):
        jio.read(path)


def _checkpoint_with(tmp_path: Path, doc: str | None, suffix: str = ".safetensors") -> Path:
    model = nn.Linear(2, 1)
    path = tmp_path / f"c{suffix}"
    arrays = {"model/" + k: v for k, v in model.state_dict().items()}
    arrays["optimizer/state/0/exp_avg"] = np.zeros(2, np.float32)
    jio.save(arrays, path, metadata=None if doc is None else {"juanji.checkpoint": doc})
    return path


CRAFTED_TREES = {
    "not json": "{",
    "deep": "[" * 100_000 + "]" * 100_000,
    "not a dict": "[1, 2]",
    "no state": json.dumps({"format": "juanji.checkpoint", "version": 1}),
    "state not a dict": json.dumps({"format": "juanji.checkpoint", "version": 1, "state": [1]}),
    "tuple without items": json.dumps({"format": "juanji.checkpoint", "version": 1,
                                       "state": {"betas": {"__j__": "tuple"}}}),
    "dict items not pairs": json.dumps({"format": "juanji.checkpoint", "version": 1,
                                        "state": {"d": {"__j__": "dict", "items": [[1, 2, 3]]}}}),
    "dict items a string": json.dumps({"format": "juanji.checkpoint", "version": 1,
                                       "state": {"d": {"__j__": "dict", "items": "ab"}}}),
    "unhashable key": json.dumps({"format": "juanji.checkpoint", "version": 1,
                                  "state": {"d": {"__j__": "dict", "items": [[[1], 2]]}}}),
    "counter of lists": json.dumps({"format": "juanji.checkpoint", "version": 1,
                                    "state": {"m": {"__j__": "counter", "items": [[{"a": 1}, 2]]}}}),
    "float not a number": json.dumps({"format": "juanji.checkpoint", "version": 1,
                                      "state": {"best": {"__j__": "float", "v": "1e999x"}}}),
    "float without v": json.dumps({"format": "juanji.checkpoint", "version": 1,
                                   "state": {"best": {"__j__": "float"}}}),
    "array key not a str": json.dumps({"format": "juanji.checkpoint", "version": 1,
                                       "state": {"a": {"__j__": "array", "key": [1]}}}),
    "array key missing": json.dumps({"format": "juanji.checkpoint", "version": 1,
                                     "state": {"a": {"__j__": "array", "key": "nope"}}}),
    "unknown tag": json.dumps({"format": "juanji.checkpoint", "version": 1,
                               "state": {"a": {"__j__": "pickle", "items": []}}}),
    "tag not a str": json.dumps({"format": "juanji.checkpoint", "version": 1,
                                 "state": {"a": {"__j__": [1]}}}),
    "scalar with a shape": json.dumps({"format": "juanji.checkpoint", "version": 1,
                                       "state": {"a": {"__j__": "scalar", "key": "optimizer/state/0/exp_avg"}}}),
    "deep but parseable": '{"format": "juanji.checkpoint", "version": 1, "state": {"x": '
    + "[" * 500 + "]" * 500 + "}}",
}


@pytest.mark.parametrize("case", sorted(CRAFTED_TREES))
def test_crafted_checkpoint_tree_is_a_value_error(tmp_path, case):
    path = _checkpoint_with(tmp_path, CRAFTED_TREES[case])
    with pytest.raises(ValueError, match=r"load_checkpoint: '.*c\.safetensors' has (corrupt|malformed) "
                                         r"checkpoint metadata"):
        load_checkpoint(path)


def test_every_reader_refuses_a_non_zip_npz_with_a_value_error(tmp_path):
    path = tmp_path / "c.npz"
    path.write_bytes(b"\x93NUMPY garbage, not a zip")
    for reader in (jio.read, is_checkpoint, load_checkpoint, lambda p: load_weights(nn.Linear(2, 1), p)):
        with pytest.raises(ValueError, match=r"'.*c\.npz' is not a valid \.npz file \(not a zip archive\)"):
            reader(path)


def test_valid_checkpoint_still_loads_after_the_checks(tmp_path):
    model = nn.Linear(2, 1)
    path = save_checkpoint(tmp_path / "c.npz", model.state_dict(), epoch=2, best=float("inf"),
                           betas=(0.9, 0.99), counts={3: "x"})
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 2 and ckpt["best"] == float("inf") and ckpt["betas"] == (0.9, 0.99)
    assert ckpt["counts"] == {3: "x"}
    assert is_checkpoint(path)


# --- 6. orphaned temporary files and file modes ---------------------------------------------------
_WRITER = textwrap.dedent("""
    import sys, time
    import juanji.io as jio
    def write(f):
        f.write(b"x" * 100_000)
        f.flush()
        print("writing", flush=True)
        time.sleep(60)
    jio.atomic_write(sys.argv[1], write)
""")


def _start_writer(target: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "writing"  # the temporary file exists now
    return proc


def _temps(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.skipif(os.name != "posix", reason="liveness by pid is a POSIX check")
def test_save_removes_the_orphan_of_a_writer_killed_mid_write(tmp_path):
    target = tmp_path / "w.npz"
    proc = _start_writer(target)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    orphans = _temps(tmp_path)
    assert len(orphans) == 1 and orphans[0].stat().st_size == 100_000
    jio.save({"a": np.ones(2)}, target)
    assert _temps(tmp_path) == []
    np.testing.assert_array_equal(jio.load(target)["a"], np.ones(2))


@pytest.mark.skipif(os.name != "posix", reason="liveness by pid is a POSIX check")
def test_save_keeps_the_temporary_file_of_a_live_writer(tmp_path):
    target = tmp_path / "w.npz"
    proc = _start_writer(target)
    try:
        live = _temps(tmp_path)
        assert len(live) == 1
        jio.save({"a": np.ones(2)}, target)  # the same target, while the other writer is mid-write
        assert _temps(tmp_path) == live
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()


@pytest.mark.skipif(os.name != "posix", reason="liveness by pid is a POSIX check")
def test_cleanup_removes_dead_writers_orphans_only_and_leaves_files_that_are_not_ours(tmp_path):
    dead = 99_999_999  # above Linux's largest pid (2**22)
    keep = [tmp_path / ".w.npz.abcdefgh.tmp", tmp_path / "notes.tmp", tmp_path / ".w.npz.host-1.tmp",
            tmp_path / f".w.npz.{_atomic._HOST}x-{dead}.{'a' * 16}.tmp"]  # another machine's writer
    orphans = [tmp_path / f".other.bin.{_atomic._HOST}-{dead}.{'b' * 16}.tmp",  # any target in the folder
               tmp_path / f".w.npz.{_atomic._HOST}-{dead}.{'c' * 16}.tmp"]
    for p in keep + orphans:
        p.write_bytes(b"user data")
    jio.save({"a": np.ones(2)}, tmp_path / "w.npz")
    assert _temps(tmp_path) == sorted(keep)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_gets_the_mode_an_ordinary_open_gives(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        jio.save({"a": np.ones(2)}, tmp_path / "w.safetensors")
        (tmp_path / "plain").write_bytes(b"x")  # what open(path, 'w') gives, for comparison
    finally:
        os.umask(old)
    assert (tmp_path / "plain").stat().st_mode & 0o777 == mode
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == mode


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_replacing_a_file_keeps_its_mode_as_an_ordinary_write_does(tmp_path):
    path = tmp_path / "w.npz"
    jio.save({"a": np.ones(2)}, path)
    os.chmod(path, 0o640)
    jio.save({"a": np.zeros(2)}, path)
    assert path.stat().st_mode & 0o777 == 0o640


def test_temporary_name_carries_the_writer_pid(tmp_path):
    seen = []

    def write(f):
        seen.extend(p.name for p in _temps(tmp_path))
        f.write(b"data")

    jio.atomic_write(tmp_path / "f.bin", write)
    assert len(seen) == 1 and f"-{os.getpid()}." in seen[0], seen
    assert _temps(tmp_path) == []


def test_encrypted_npz_member_is_a_value_error(tmp_path):
    path = jio.save({"w": np.ones(3, np.float32)}, tmp_path / "w.npz")
    raw = bytearray(path.read_bytes())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # general-purpose flags: bit 0 = encrypted
        at = raw.index(sig) + flag_at
        raw[at] |= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"load: '.*w\.npz': member 'w\.npy' is encrypted"):
        jio.read(path)


def test_load_weights_names_the_file_when_the_weights_do_not_fit(tmp_path):
    path = jio.save({"weight": np.ones((3, 2), np.float32), "bias": np.zeros(3, np.float32)}, tmp_path / "w.npz")
    with pytest.raises(ValueError, match=r"load_weights: '.*w\.npz': load_state_dict: cannot load into Linear: "
                                         r"weight: shape \(3, 2\)"):
        load_weights(nn.Linear(2, 1), path)


@pytest.mark.parametrize("field,value", [("extract_version", 245), ("flag_bits", 0x20), ("flag_bits", 0x40)])
def test_npz_needing_an_unsupported_zip_feature_is_a_value_error(tmp_path, field, value):
    path = jio.save({"w": np.ones(3, np.float32)}, tmp_path / "w.npz")
    raw = bytearray(path.read_bytes())
    # (offset in the local header, offset in the central directory) of each little-endian u16
    local_at, central_at = {"extract_version": (4, 6), "flag_bits": (6, 8)}[field]
    for sig, at in ((b"PK\x03\x04", local_at), (b"PK\x01\x02", central_at)):
        raw[raw.index(sig) + at:raw.index(sig) + at + 2] = struct.pack("<H", value)
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"load: '.*w\.npz'"):
        jio.read(path)
