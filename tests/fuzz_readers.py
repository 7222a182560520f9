"""Fuzz every file reader: byte-flipped and truncated variants of valid files, under a memory cap.

    python tests/fuzz_readers.py                       # the bounded run CI does (tests/test_fuzz.py)
    python tests/fuzz_readers.py --cases 2000 --seed 1 # the release check: ~15 minutes on 2 cores
    python tests/fuzz_readers.py --formats npz,cifar-python --cases 500 --show 5

For each format a small valid file is written, then mutated ``--cases`` times. A mutation is
one of: a few bytes set to random or boundary values (0x00, 0x7f, 0x80, 0xff), a bit flip,
a 4-byte field set to a boundary integer, a truncation, a run of bytes deleted or
duplicated, or random bytes appended. Positions favour the first 256 bytes, where the
headers live and where a flip changes what a reader allocates.

A case passes when the reader either
- loads the file and returns arrays no larger than the file could describe (a reader that
  returns more bytes than the file holds has invented data: uninitialised memory, or a
  zero-stride view), or
- raises ``ValueError`` (``FileNotFoundError`` where it applies) whose message names the file.
Anything else is a defect: another exception type, a message without the file's name, a
``MemoryError`` (the file asked for more than the cap: the reader should have refused it
from the declared sizes), or a case that runs past the time bound.

The run happens in a child process whose address space is capped with
``resource.setrlimit(RLIMIT_AS)`` at its size after start-up plus ``--mem-mib`` (512 MiB by
default), and each case has an alarm of ``--case-seconds``. The result is one JSON object on
stdout: per format, the cases tried, correct loads, clean errors and the defects (with the
seed and case number that reproduce each: ``--only-case FORMAT:N``).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import pickle
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# --- mutations --------------------------------------------------------------------------------

_BOUNDARY_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)
_BOUNDARY_INTS = (0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**16, 2**24, 255)


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random mutation of ``data`` (see the module docstring for the kinds)."""
    buf = bytearray(data)
    n = len(buf)

    def pos() -> int:
        # Half the positions in the first 256 bytes (the headers), half anywhere.
        hi = min(n, 256) if rng.random() < 0.5 else n
        return int(rng.integers(0, max(hi, 1)))

    kind = int(rng.integers(0, 8))
    if n == 0:
        return bytes(rng.integers(0, 256, size=8, dtype=np.uint8))
    if kind == 0:  # a few random bytes
        for _ in range(int(rng.integers(1, 9))):
            buf[pos()] = int(rng.integers(0, 256))
    elif kind == 1:  # boundary bytes
        for _ in range(int(rng.integers(1, 5))):
            buf[pos()] = _BOUNDARY_BYTES[int(rng.integers(0, len(_BOUNDARY_BYTES)))]
    elif kind == 2:  # one bit
        p = pos()
        buf[p] ^= 1 << int(rng.integers(0, 8))
    elif kind == 3:  # a 4-byte field set to a boundary integer, either byte order
        p = min(pos(), max(n - 4, 0))
        value = _BOUNDARY_INTS[int(rng.integers(0, len(_BOUNDARY_INTS)))]
        order = "big" if rng.random() < 0.5 else "little"
        buf[p:p + 4] = value.to_bytes(4, order)[: n - p]
    elif kind == 4:  # truncation
        return bytes(buf[: int(rng.integers(0, n))])
    elif kind == 5:  # delete a run
        p = pos()
        del buf[p:p + int(rng.integers(1, 17))]
    elif kind == 6:  # duplicate a run
        p = pos()
        buf[p:p] = buf[p:p + int(rng.integers(1, 17))]
    else:  # append random bytes
        buf += bytes(rng.integers(0, 256, size=int(rng.integers(1, 65)), dtype=np.uint8))
    return bytes(buf)


def mutations(data: bytes, seed: int, count: int, stream: int = 0) -> Iterator[tuple[int, bytes]]:
    """``count`` mutations of ``data``; case ``i`` depends only on (seed, stream, i)."""
    for i in range(count):
        yield i, mutate(data, np.random.default_rng([seed, stream, i]))


# --- the formats: a valid file, and the public call that reads it -------------------------------

def _idx_bytes() -> bytes:
    x = np.random.default_rng(0).integers(0, 256, size=(3, 8, 8), dtype=np.uint8)
    header = bytes([0, 0, 0x08, 3]) + b"".join(int(s).to_bytes(4, "big") for s in x.shape)
    return header + x.tobytes()


def _cifar_dict() -> dict[bytes, Any]:
    rng = np.random.default_rng(0)
    return {b"batch_label": b"testing batch 1 of 1",
            b"labels": [int(v) for v in rng.integers(0, 10, size=4)],
            b"data": rng.integers(0, 256, size=(4, 3072), dtype=np.uint8),
            b"filenames": [b"a.png", b"b.png", b"c.png", b"d.png"]}


def _cifar_binary_bytes() -> bytes:
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, size=(3, 1 + 3072), dtype=np.uint8)
    rows[:, 0] %= 10
    return rows.tobytes()


def _image_bytes(fmt: str) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8))
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def _model_and_optimizer() -> tuple[Any, Any]:
    import juanji.nn as nn
    from juanji.optim import Adam

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    return model, Adam(model.parameters(), lr=1e-3)


def _weights_bytes(suffix: str) -> bytes:
    import juanji

    model, _ = _model_and_optimizer()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"w{suffix}"
        juanji.io.save(model.state_dict(), path, metadata={"model": "tiny", "classes": '["a", "b", "c"]'})
        return path.read_bytes()


def _checkpoint_bytes() -> bytes:
    import juanji
    import juanji.functional as F
    from juanji.train import save_checkpoint

    model, opt = _model_and_optimizer()
    loss = F.cross_entropy(model(juanji.randn(2, 1, 6, 6)), juanji.tensor([0, 2]))
    loss.backward()
    opt.step()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "last.safetensors"
        save_checkpoint(path, model=model.state_dict(), epoch=1, optimizer=opt.state_dict(),
                        history=[{"epoch": 1, "loss": 0.5}], rng=juanji.get_rng_state())
        return path.read_bytes()


def _read_idx(path: Path) -> list[np.ndarray]:
    from juanji.data import read_idx

    return [read_idx(path)]


def _read_cifar_python(path: Path) -> list[np.ndarray]:
    from juanji.data import CIFAR10

    ds = CIFAR10(path.parent, train=False, format="python")
    return [ds.data, ds.targets]


def _read_cifar_binary(path: Path) -> list[np.ndarray]:
    from juanji.data import CIFAR10

    ds = CIFAR10(path.parent, train=False, format="binary")
    return [ds.data, ds.targets]


def _read_image(path: Path) -> list[np.ndarray]:
    from juanji.data import load_image

    return [load_image(path)]


def _read_weights(path: Path) -> list[np.ndarray]:
    import juanji

    arrays, _meta = juanji.io.read(path)
    return list(arrays.values())


def _load_weights_into_model(path: Path) -> list[np.ndarray]:
    # The whole path a user takes: read, check against the model, fill it (all or nothing).
    from juanji.train import load_weights

    model, _ = _model_and_optimizer()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    try:
        load_weights(model, path)
    except Exception:
        after = model.state_dict()
        changed = [k for k in before if not np.array_equal(before[k], after[k], equal_nan=True)]
        if changed:
            raise AssertionError(f"a failed load changed the model: {changed}") from None
        raise
    return [np.asarray(v) for v in model.state_dict().values()]


def _resume(path: Path) -> list[np.ndarray]:
    # A resume restores the model and the optimizer from a checkpoint: all or nothing.
    from juanji.train import Trainer

    model, opt = _model_and_optimizer()
    trainer = Trainer(model, opt, "cross_entropy")
    before = {k: v.copy() for k, v in model.state_dict().items()}
    try:
        trainer.load_checkpoint(path)
    except Exception:
        after = model.state_dict()
        changed = [k for k in before if not np.array_equal(before[k], after[k], equal_nan=True)]
        if changed:
            raise AssertionError(f"a failed resume changed the model: {changed}") from None
        raise
    return [np.asarray(v) for v in model.state_dict().values()]


# name: (file name, valid bytes, reader, whether returned bytes may exceed the file's size)
Format = tuple[str, Callable[[], bytes], Callable[[Path], list[np.ndarray]], bool]
FORMATS: dict[str, Format] = {
    "idx": ("images-idx3-ubyte", _idx_bytes, _read_idx, False),
    "idx-gzip": ("images-idx3-ubyte.gz", lambda: gzip.compress(_idx_bytes(), mtime=0), _read_idx, True),
    "cifar-python-2": ("test_batch", lambda: pickle.dumps(_cifar_dict(), protocol=2), _read_cifar_python, False),
    "cifar-python-5": ("test_batch", lambda: pickle.dumps(_cifar_dict(), protocol=5), _read_cifar_python, False),
    "cifar-binary": ("test_batch.bin", _cifar_binary_bytes, _read_cifar_binary, False),
    "png": ("image.png", lambda: _image_bytes("PNG"), _read_image, True),
    "jpeg": ("image.jpg", lambda: _image_bytes("JPEG"), _read_image, True),
    "safetensors": ("weights.safetensors", lambda: _weights_bytes(".safetensors"), _read_weights, False),
    "npz": ("weights.npz", lambda: _weights_bytes(".npz"), _read_weights, False),
    "load-weights": ("weights.safetensors", lambda: _weights_bytes(".safetensors"), _load_weights_into_model, False),
    "checkpoint": ("last.safetensors", _checkpoint_bytes, _resume, False),
}

# Files a reader looks for before it reads the fuzzed one (CIFAR finds its folder by data_batch_1).
PROBES = {"cifar-python-2": ("data_batch_1",), "cifar-python-5": ("data_batch_1",),
          "cifar-binary": ("data_batch_1.bin",)}


# --- one case -----------------------------------------------------------------------------------

class _Timeout(BaseException):
    """Raised by the alarm: a case ran past its time bound (BaseException, so no reader catches it)."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Timeout()


def run_case(name: str, data: bytes, directory: Path, seconds: int) -> tuple[str, str]:
    """('load' | 'error' | 'defect', detail) for the reader of ``name`` on the bytes ``data``."""
    filename, _valid, reader, may_expand = FORMATS[name]
    path = directory / filename
    path.write_bytes(data)
    signal.alarm(seconds)
    try:
        arrays = reader(path)
    except _Timeout:
        return "defect", f"ran past {seconds} s"
    except MemoryError as e:
        return "defect", f"MemoryError (the reader allocated past the cap): {e}"
    except (ValueError, FileNotFoundError) as e:
        if str(path) in str(e) or path.name in str(e):
            return "error", f"{type(e).__name__}: {e}"
        return "defect", f"{type(e).__name__} without the file's name: {e}"
    except Exception as e:  # noqa: BLE001 - every other exception is what the fuzzer looks for
        tb = traceback.extract_tb(e.__traceback__)[-1]
        return "defect", f"{type(e).__name__} at {Path(tb.filename).name}:{tb.lineno}: {e}"
    finally:
        signal.alarm(0)
    returned = sum(int(a.nbytes) for a in arrays)
    # Labels come back as int64 (8 bytes for every label byte or list entry): allow that much.
    if not may_expand and returned > 8 * len(data) + 64:
        return "defect", f"returned {returned} bytes of arrays from a {len(data)}-byte file"
    return "load", ""


def fuzz(formats: list[str], cases: int, seed: int, seconds: int, only: int | None = None) -> dict[str, Any]:
    """Run the mutations of every format in this process; the JSON-ready summary."""
    import warnings

    warnings.simplefilter("ignore")  # Pillow warns about odd files; the outcome is what counts
    report: dict[str, Any] = {}
    signal.signal(signal.SIGALRM, _on_alarm)
    for stream, name in enumerate(FORMATS):
        if name not in formats:
            continue
        valid = FORMATS[name][1]()
        counts = {"cases": 0, "loads": 0, "errors": 0, "defects": []}
        with tempfile.TemporaryDirectory() as d:
            for probe in PROBES.get(name, ()):
                (Path(d) / probe).write_bytes(valid)
            # The valid file must load: a reader that refuses it has a defect of its own.
            outcome, detail = run_case(name, valid, Path(d), seconds)
            if outcome != "load":
                counts["defects"].append({"case": "valid file", "detail": detail[:300]})
                report[name] = counts
                continue
            for i, data in mutations(valid, seed, cases, stream):
                if only is not None and i != only:
                    continue
                outcome, detail = run_case(name, data, Path(d), seconds)
                counts["cases"] += 1
                if outcome == "defect":
                    counts["defects"].append({"case": i, "detail": detail[:300]})
                else:
                    counts["loads" if outcome == "load" else "errors"] += 1
        report[name] = counts
    return report


def _vm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1])
    return 0


def child(args: argparse.Namespace) -> None:
    """The capped process: imports, valid files, then the address-space cap, then the cases."""
    sys.path.insert(0, str(ROOT))
    import juanji  # noqa: F401 - import before measuring the baseline
    from juanji.data import CIFAR10, load_image, read_idx  # noqa: F401
    from juanji.train import Trainer  # noqa: F401
    import PIL.Image  # noqa: F401
    import safetensors.numpy  # noqa: F401

    formats = args.formats.split(",") if args.formats else list(FORMATS)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise SystemExit(f"fuzz: unknown formats {unknown}; known: {', '.join(FORMATS)}")
    cap = _vm_kib() * 1024 + args.mem_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    start = time.perf_counter()
    report = fuzz(formats, args.cases, args.seed, args.case_seconds, args.only)
    print(json.dumps({"seed": args.seed, "cases_per_format": args.cases, "mem_cap_mib": args.mem_mib,
                      "seconds": round(time.perf_counter() - start, 1), "formats": report}))


def run(cases: int = 150, seed: int = 0, formats: str = "", mem_mib: int = 512, case_seconds: int = 10,
        only: int | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Run the fuzzer in a capped child process and return its report (used by tests/test_fuzz.py)."""
    # One BLAS thread: the child's address space is capped, and every thread reserves a stack.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--child", "--cases", str(cases), "--seed", str(seed),
           "--mem-mib", str(mem_mib), "--case-seconds", str(case_seconds), "--formats", formats]
    if only is not None:
        cmd += ["--only", str(only)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"fuzz child failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=150, help="mutations per format (default 150)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--formats", default="", help=f"comma-separated subset of: {', '.join(FORMATS)}")
    p.add_argument("--mem-mib", type=int, default=512, help="address space allowed above start-up (MiB)")
    p.add_argument("--case-seconds", type=int, default=10, help="time bound of one case")
    p.add_argument("--only", type=int, default=None, help="run only this case number (to reproduce a defect)")
    p.add_argument("--show", type=int, default=3, help="defects to print per format")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    report = run(args.cases, args.seed, args.formats, args.mem_mib, args.case_seconds, args.only)
    total = {"cases": 0, "loads": 0, "errors": 0, "defects": 0}
    print(f"{'format':16} {'cases':>7} {'loads':>7} {'clean errors':>13} {'defects':>8}")
    for name, c in report["formats"].items():
        print(f"{name:16} {c['cases']:7d} {c['loads']:7d} {c['errors']:13d} {len(c['defects']):8d}")
        for k in ("cases", "loads", "errors"):
            total[k] += c[k]
        total["defects"] += len(c["defects"])
    print(f"{'all':16} {total['cases']:7d} {total['loads']:7d} {total['errors']:13d} {total['defects']:8d}"
          f"   ({report['seconds']} s, seed {report['seed']}, memory cap +{report['mem_cap_mib']} MiB)")
    for name, c in report["formats"].items():
        for d in c["defects"][: args.show]:
            print(f"  {name} case {d['case']}: {d['detail']}")
    sys.exit(1 if total["defects"] else 0)


if __name__ == "__main__":
    main()
