"""juanji.io: save/load of weights as .safetensors and .npz, atomic writes, no pickle."""

from __future__ import annotations

import os
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

import juanji
import juanji.io as jio
import juanji.nn as nn

SUFFIXES = [".safetensors", ".npz"]


def _state() -> "OrderedDict[str, np.ndarray]":
    rng = np.random.default_rng(0)
    return OrderedDict([
        ("conv1.weight", rng.standard_normal((6, 1, 5, 3)).astype(np.float32)),
        ("conv1.bias", rng.standard_normal(6).astype(np.float32)),
        ("bn.num_batches_tracked", np.array(7, dtype=np.int64)),  # 0-d stays 0-d
        ("fc.weight", rng.standard_normal((3, 4))),  # float64 stays float64
        ("mask", np.array([True, False, True])),
        ("file", np.arange(3, dtype=np.uint8)),  # a name np.savez(file, **kw) would choke on
        ("a_transposed_view", np.arange(6, dtype=np.int32).reshape(2, 3).T),  # not C-contiguous
    ])


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_keeps_names_order_dtypes_shapes_and_values(tmp_path, suffix):
    state = _state()
    path = jio.save(state, tmp_path / f"w{suffix}", metadata={"model": "lenet5"})
    arrays, meta = jio.read(path)
    assert list(arrays) == list(state)
    for k, v in state.items():
        assert arrays[k].dtype == v.dtype, k
        assert arrays[k].shape == v.shape, k
        np.testing.assert_array_equal(arrays[k], v)
    assert meta == {"model": "lenet5"}
    assert list(jio.load(path)) == list(state)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_model_state_dict_round_trip_gives_identical_outputs(tmp_path, suffix):
    def net() -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))

    juanji.manual_seed(1)
    a = net()
    a(juanji.randn(8, 1, 6, 6))  # move BatchNorm's running statistics off their defaults
    jio.save(a.state_dict(), tmp_path / f"m{suffix}")
    juanji.manual_seed(2)
    b = net()
    b.load_state_dict(jio.load(tmp_path / f"m{suffix}"))
    x = juanji.randn(2, 1, 6, 6)
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_tensors_are_accepted_as_values(tmp_path):
    jio.save({"t": juanji.tensor([1.0, 2.0])}, tmp_path / "t.npz")
    np.testing.assert_array_equal(jio.load(tmp_path / "t.npz")["t"], np.array([1.0, 2.0], np.float32))


@pytest.mark.parametrize("name", ["w.pt", "w.pkl", "w", "w.json"])
def test_unknown_suffix_is_refused_on_save_and_load(tmp_path, name):
    with pytest.raises(ValueError, match=r"save: unsupported file suffix .* use one of \.safetensors, \.npz"):
        jio.save({"a": np.zeros(1)}, tmp_path / name)
    (tmp_path / name).write_bytes(b"x")
    with pytest.raises(ValueError, match="load: unsupported file suffix"):
        jio.load(tmp_path / name)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_missing_file_is_file_not_found(tmp_path, suffix):
    with pytest.raises(FileNotFoundError, match="load: no such file"):
        jio.load(tmp_path / f"nope{suffix}")


def test_save_into_missing_directory_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory .* does not exist"):
        jio.save({"a": np.zeros(1)}, tmp_path / "no" / "such" / "w.npz")


def test_bad_values_and_keys_are_refused(tmp_path):
    with pytest.raises(TypeError, match="'names' has dtype <U1; only bool, integer and floating"):
        jio.save({"names": np.array(["a", "b"])}, tmp_path / "w.npz")
    with pytest.raises(TypeError, match="every key must be a non-empty str, got 3"):
        jio.save({3: np.zeros(1)}, tmp_path / "w.npz")
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        jio.save([np.zeros(1)], tmp_path / "w.npz")
    with pytest.raises(TypeError, match="metadata must map str to str"):
        jio.save({"a": np.zeros(1)}, tmp_path / "w.npz", metadata={"epoch": 3})


def test_npz_with_an_object_array_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, weight=np.zeros(2, np.float32), payload=np.array([{"x": 1}, "y"], dtype=object))
    with pytest.raises(ValueError, match="contains an object array, which only pickle could load"):
        jio.load(path)


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("keep", [0.0, 0.05, 0.5, 0.97])
def test_truncated_file_gives_a_clear_error(tmp_path, suffix, keep):
    path = jio.save(_state(), tmp_path / f"w{suffix}")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match=rf"load: '.*w\{suffix}' is not a valid \{suffix} file \(truncated or corrupt\)"):
        jio.load(path)


def test_garbage_npz_member_gives_a_clear_error(tmp_path):
    path = tmp_path / "bad.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("w.npy", b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(ValueError, match="not a valid .npz file"):
        jio.load(path)


def _assert_only(directory: Path, names: set[str]) -> None:
    assert {p.name for p in directory.iterdir()} == names, "a temporary file was left behind"


def test_interrupted_npz_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    jio.save({"a": np.ones(3)}, path)
    before = path.read_bytes()
    real_write_array = np.lib.format.write_array
    calls = []

    def dying_writer(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first array is already in the temporary file
            raise KeyboardInterrupt("simulated crash mid-save")
        return real_write_array(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", dying_writer)
    with pytest.raises(KeyboardInterrupt):
        jio.save({"a": np.zeros(3), "b": np.zeros(2)}, path)
    assert len(calls) == 2
    assert path.read_bytes() == before
    np.testing.assert_array_equal(jio.load(path)["a"], np.ones(3))
    _assert_only(tmp_path, {"w.npz"})


def test_interrupted_safetensors_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    jio.save({"a": np.ones(3)}, path)
    before = path.read_bytes()

    def failing_fsync(fd):  # the bytes are written, the rename has not happened
        raise OSError("simulated disk failure")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="simulated disk failure"):
        jio.save({"a": np.zeros(3)}, path)
    assert path.read_bytes() == before
    _assert_only(tmp_path, {"w.safetensors"})


def test_atomic_write_half_written_then_crash(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old contents")

    def half(f):
        f.write(b"new con")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        jio.atomic_write(path, half)
    assert path.read_bytes() == b"old contents"
    _assert_only(tmp_path, {"f.bin"})
    jio.atomic_write(path, lambda f: f.write(b"new contents"))
    assert path.read_bytes() == b"new contents"


def test_safetensors_file_is_readable_by_the_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy", reason="safetensors is in the [train] extra")
    jio.save(_state(), tmp_path / "w.safetensors")
    other = st.load_file(str(tmp_path / "w.safetensors"))
    np.testing.assert_array_equal(other["conv1.weight"], _state()["conv1.weight"])


def test_npz_file_is_readable_by_numpy(tmp_path):
    jio.save(_state(), tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz", allow_pickle=False) as z:
        np.testing.assert_array_equal(z["fc.weight"], _state()["fc.weight"])
        assert z["bn.num_batches_tracked"].shape == ()
