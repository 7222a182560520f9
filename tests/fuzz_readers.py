"""Fuzz every file reader: byte-flipped and truncated variants of valid files, under a memory cap.

    python tests/fuzz_readers.py                          # 300 cases per target, as tests/test_fuzz.py
    python tests/fuzz_readers.py --cases 5000 --seed 1    # the release check (see README, How it is tested)
    python tests/fuzz_readers.py --targets "read_idx gzip" --only 17   # reproduce one case

Targets: every reader a user's file reaches. IDX (plain, float32, gzip; MNIST and
Fashion-MNIST), CIFAR-10/100 python batches (Python 2 pickles and Python 3 re-saves at
protocols 2, 4 and 5 through safe_unpickle), CIFAR's meta file and binary records, JPEG
(baseline and progressive) and PNG through load_image and ImageFolder, ``.safetensors`` and
``.npz`` through juanji.io.read and through load_weights into a model, and a checkpoint
through Trainer.load_checkpoint. For each a small valid file is written, then mutated
``--cases`` times. A mutation is one of: a few bytes set to random or boundary values, a bit
flip, a 4-byte field set to a boundary integer (either byte order), a truncation, a run of
bytes deleted or duplicated, or random bytes appended. Half the positions fall in the first
256 bytes (headers, pickle opcodes) and a fifth in the last 64 (gzip trailers, zip
directories); case i of a target depends only on (seed, target, i).

A case passes when the reader either
- returns a believable result (arrays no larger than the file could describe: a reader that
  returns more bytes than the file holds has invented data, uninitialised memory or a
  zero-stride view; labels in range; images of a bounded size), or
- raises ``ValueError`` (``FileNotFoundError`` where it applies) whose message holds the
  file's path, and, for a load into a model or a resume, leaves the model as it was.
Anything else is a defect: another exception type, a message without the path, a model
changed by a failed load, a ``MemoryError`` (the reader should have refused the file from
its declared sizes), or a case that runs past the time bound.

The cases run in a child process whose address space is capped with
``resource.setrlimit(RLIMIT_AS)`` at its size after start-up plus ``--mem-mib`` (512 MiB by
default); each case has an alarm of ``--case-seconds``. The report gives, per target, the
cases tried, correct loads, clean errors and each defect's case number.
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass
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
        # Half the positions in the first 256 bytes (headers), a fifth in the last 64 (trailers).
        r = rng.random()
        if r < 0.5:
            return int(rng.integers(0, min(n, 256)))
        if r < 0.7:
            return n - 1 - int(rng.integers(0, min(n, 64)))
        return int(rng.integers(0, n))

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


# --- the targets: a valid file, the public call that reads it, and what a believable load is ----

@dataclass
class Target:
    """One reader on one file: ``load(path)`` reads the (mutated) file at ``path``; ``sane(result)``
    says whether what it returned is a believable load of a file of that size."""

    name: str
    path: Path
    load: Callable[[Path], Any]
    sane: Callable[[Any], bool]


def _array_ok(limit: int) -> Callable[[Any], bool]:
    # A reader that returns more bytes than the file could describe has invented data
    # (uninitialised memory, a zero-stride view): ``limit`` bounds what the file may hold.
    return lambda a: isinstance(a, np.ndarray) and a.dtype.isnative and a.nbytes <= limit


def _cifar_ok(ds: Any) -> bool:
    return (ds.data.shape[1:] == (3, 32, 32) and ds.data.dtype == np.uint8 and len(ds.targets) == len(ds.data)
            and len(ds.data) <= 20 and int(ds.targets.min()) >= 0 and int(ds.targets.max()) < len(ds.classes))


def _mnist_ok(ds: Any) -> bool:
    return ds.data.ndim == 4 and ds.data.dtype == np.uint8 and len(ds.targets) == len(ds.data) \
        and ds.data.nbytes <= 1032 * 4096


def _image_ok(a: Any) -> bool:
    return isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.ndim == 3 and a.shape[0] == 3 \
        and a.shape[1] * a.shape[2] <= 1 << 22


def _tiny_model() -> tuple[Any, Any]:
    import juanji.nn as nn
    from juanji.optim import Adam

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    return model, Adam(model.parameters(), lr=1e-3)


def _all_or_nothing(load: Callable[[Any, Path], None]) -> Callable[[Path], Any]:
    """A load into a fresh model that, when it fails, must leave the model as it was."""

    def run(path: Path) -> Any:
        model, opt = _tiny_model()
        before = {k: v.copy() for k, v in model.state_dict().items()}
        try:
            load((model, opt), path)
        except Exception:
            after = model.state_dict()
            changed = [k for k in before if not np.array_equal(before[k], after[k], equal_nan=True)]
            if changed:
                raise AssertionError(f"a failed load changed the model: {changed}") from None
            raise
        return model.state_dict()

    return run


def _weights_ok(size: int) -> Callable[[Any], bool]:
    def ok(arrays: Any) -> bool:
        values = list(arrays.values())
        return all(isinstance(a, np.ndarray) and a.dtype.kind in "biuf" for a in values) \
            and sum(a.nbytes for a in values) <= size
    return ok


def _load_weights(mo: tuple[Any, Any], path: Path) -> None:
    from juanji.train import load_weights

    load_weights(mo[0], path)


def _resume(mo: tuple[Any, Any], path: Path) -> None:
    from juanji.train import Trainer

    Trainer(mo[0], mo[1], "cross_entropy").load_checkpoint(path)


def targets(root: Path) -> list[Target]:
    """One small valid file of each format juanji reads, written under ``root``, with its reader."""
    import juanji
    import juanji.functional as F
    from PIL import Image

    from juanji.data import CIFAR10, CIFAR100, MNIST, FashionMNIST, ImageFolder, load_image, read_idx, safe_unpickle
    from juanji.train import save_checkpoint
    from tests.data.test_data_readers import write_cifar10, write_cifar100, write_idx

    rng = np.random.default_rng(0)
    out: list[Target] = []
    # IDX, plain and gzip, and the two data sets built on it.
    small = _array_ok(1032 * 4096)
    idx = write_idx(root / "a.idx", rng.integers(0, 256, (3, 4, 5), dtype=np.uint8), 8)
    out.append(Target("read_idx plain", idx, read_idx, small))
    idx_f = write_idx(root / "f.idx", rng.standard_normal((2, 3)).astype(np.float32), 0x0D)
    out.append(Target("read_idx float32", idx_f, read_idx, small))
    idx_gz = write_idx(root / "a.idx.gz", rng.integers(0, 256, (3, 4, 5), dtype=np.uint8), 8, gz=True)
    out.append(Target("read_idx gzip", idx_gz, read_idx, small))
    mn = root / "mnist"
    mn.mkdir()
    write_idx(mn / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), 8, gz=True)
    write_idx(mn / "t10k-labels-idx1-ubyte", np.array([1, 2, 9], np.uint8), 8)
    out.append(Target("MNIST images", mn / "t10k-images-idx3-ubyte.gz", lambda p: MNIST(p.parent, train=False),
                      _mnist_ok))
    out.append(Target("FashionMNIST labels", mn / "t10k-labels-idx1-ubyte",
                      lambda p: FashionMNIST(p.parent, train=False), _mnist_ok))
    # CIFAR: python batches (Python 2's pickles, and Python 3 re-saves), meta files, binary records.
    write_cifar10(root / "c10py", "python", n=1)
    c10 = root / "c10py" / "cifar-10-batches-py"
    out.append(Target("CIFAR10 python batch", c10 / "data_batch_2", lambda p: CIFAR10(p.parent), _cifar_ok))
    out.append(Target("CIFAR10 python meta", c10 / "batches.meta", lambda p: CIFAR10(p.parent), _cifar_ok))
    write_cifar10(root / "c10bin", "binary", n=1)
    c10b = root / "c10bin" / "cifar-10-batches-bin"
    out.append(Target("CIFAR10 binary batch", c10b / "test_batch.bin", lambda p: CIFAR10(p.parent, train=False),
                      _cifar_ok))
    write_cifar100(root / "c100py", "python", n=2)
    out.append(Target("CIFAR100 python", root / "c100py" / "cifar-100-python" / "test",
                      lambda p: CIFAR100(p.parent, train=False), _cifar_ok))
    write_cifar100(root / "c100bin", "binary", n=2)
    out.append(Target("CIFAR100 binary", root / "c100bin" / "cifar-100-binary" / "train.bin",
                      lambda p: CIFAR100(p.parent), _cifar_ok))
    x = rng.integers(0, 256, (1, 3072), dtype=np.uint8)
    for proto in (2, 4, 5):
        p = root / f"resave{proto}.pkl"
        p.write_bytes(pickle.dumps({"data": x, "labels": [3], "batch_label": "b"}, protocol=proto))
        # Any plain data is a correct result of safe_unpickle (a mangled stream may hold a str).
        out.append(Target(f"safe_unpickle protocol {proto}", p, safe_unpickle, lambda o: True))
    # Images: Pillow's decoders behind load_image and ImageFolder.
    img = rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)
    for fmt, ext, save in [("JPEG", "jpg", {}), ("JPEG", "jpeg", {"progressive": True}), ("PNG", "png", {})]:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, fmt, **save)
        p = root / f"img.{ext}"
        p.write_bytes(buf.getvalue())
        out.append(Target(f"load_image {ext}{' progressive' if save else ''}", p, load_image, _image_ok))
    folder = root / "folder" / "cat"
    folder.mkdir(parents=True)
    Image.fromarray(img).save(folder / "a.png")
    out.append(Target("ImageFolder", folder / "a.png", lambda p: ImageFolder(p.parent.parent)[0][0], _image_ok))
    # Text: a vocabulary file, a labelled TSV, a strfile (fortunes) file, and word vectors in the
    # word2vec text, fastText .vec and word2vec binary formats (autodetected, as a user's call is).
    from juanji.data import Vocab, read_delimited, read_strfile, read_vectors
    from tests.data.test_vectors import write_word2vec_binary, write_word2vec_text

    vocab = Vocab.build([["le", "chat", "noir"], ["the", "black", "cat"], ["东京", "naïve"]])
    vpath = root / "vocab.json"
    vocab.save(vpath)
    out.append(Target("Vocab.load", vpath, Vocab.load, lambda v: len(v.itos) <= 64))
    tsv = root / "labelled.tsv"
    tsv.write_text("label\ttext\nen\tthe black cat\nfr\tle chat noir\nru\tчёрный кот\n", encoding="utf-8")
    out.append(Target("read_delimited tsv", tsv, read_delimited,
                      lambda r: len(r[0]) == len(r[1]) <= 8 and r[1].dtype == np.int64))
    strfile = root / "fortunes"
    strfile.write_text("A first fortune.\n%\nЭто вторая.\n%\n第三个。\n%\n", encoding="utf-8")
    out.append(Target("read_strfile", strfile, read_strfile, lambda r: isinstance(r, list) and len(r) <= 16))
    words = [f"w{i}" for i in range(12)] + ["naïve", "东京"]
    vecs = rng.standard_normal((len(words), 5)).astype(np.float32)

    def vectors_ok(limit: int) -> Callable[[Any], bool]:
        return lambda r: len(r[0]) == len(r[1]) and _array_ok(limit)(r[1])

    for name, path in (("read_vectors word2vec text", write_word2vec_text(root / "v.txt", words, vecs)),
                       ("read_vectors fastText vec", write_word2vec_text(root / "v.vec", words, vecs,
                                                                         trailing_space=True)),
                       ("read_vectors word2vec binary", write_word2vec_binary(root / "v.bin", words, vecs))):
        out.append(Target(name, path, read_vectors, vectors_ok(2 * path.stat().st_size + 256)))
    # Weights and checkpoints: juanji.io.read, load_weights into a model, a resume into a Trainer.
    model, opt = _tiny_model()
    meta = {"model": "tiny", "classes": '["a", "b", "c"]'}
    for suffix in (".safetensors", ".npz"):
        p = juanji.io.save(model.state_dict(), root / f"weights{suffix}", metadata=meta)
        size = p.stat().st_size
        out.append(Target(f"io.read {suffix}", p, lambda q: juanji.io.read(q)[0], _weights_ok(size)))
        out.append(Target(f"load_weights {suffix}", p, _all_or_nothing(_load_weights), _weights_ok(size)))
    F.cross_entropy(model(juanji.randn(2, 1, 6, 6)), juanji.tensor([0, 2])).backward()
    opt.step()
    ckpt = save_checkpoint(root / "last.safetensors", model=model.state_dict(), epoch=1,
                           optimizer=opt.state_dict(), history=[{"epoch": 1, "loss": 0.5}],
                           rng=juanji.get_rng_state())
    out.append(Target("Trainer.load_checkpoint", ckpt, _all_or_nothing(_resume),
                      _weights_ok(ckpt.stat().st_size)))
    return out


# --- one case -----------------------------------------------------------------------------------

class _Timeout(BaseException):
    """Raised by the alarm: a case ran past its time bound (BaseException, so no reader catches it)."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Timeout()


def _overwrite(path: Path, data: bytes) -> None:
    """Replace the file's content in place. (Not write_bytes: ext4 flushes a file truncated to
    zero length when it is closed, milliseconds per case, most of the fuzz run's time.)"""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, data)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def run_case(target: Target, data: bytes, seconds: int) -> tuple[str, str]:
    """('load' | 'error' | 'defect', detail) for ``target``'s reader on the bytes ``data``."""
    path = target.path
    _overwrite(path, data)
    signal.alarm(seconds)
    try:
        result = target.load(path)
    except _Timeout:
        return "defect", f"ran past {seconds} s"
    except MemoryError as e:
        return "defect", f"MemoryError (the reader allocated past the cap): {e}"
    except (ValueError, FileNotFoundError) as e:
        if str(path) in str(e):
            return "error", f"{type(e).__name__}: {e}"
        return "defect", f"{type(e).__name__} without the file's path: {e}"
    except Exception as e:  # noqa: BLE001 - every other exception is what the fuzzer looks for
        tb = traceback.extract_tb(e.__traceback__)[-1]
        return "defect", f"{type(e).__name__} at {Path(tb.filename).name}:{tb.lineno}: {e}"
    finally:
        signal.alarm(0)
    if not target.sane(result):
        return "defect", f"accepted an implausible result from a {len(data)}-byte file: {result!r:.200}"
    return "load", ""


def fuzz(root: Path, cases: int, seed: int, seconds: int, names: list[str] | None = None,
         only: int | None = None) -> dict[str, Any]:
    """Run the mutations of every target (or those named) in this process; the JSON-ready summary."""
    import warnings

    warnings.simplefilter("ignore")  # Pillow warns about odd files; the outcome is what counts
    signal.signal(signal.SIGALRM, _on_alarm)
    report: dict[str, Any] = {}
    for stream, target in enumerate(targets(root)):
        if names and target.name not in names:
            continue
        valid = target.path.read_bytes()
        counts: dict[str, Any] = {"cases": 0, "loads": 0, "errors": 0, "defects": []}
        report[target.name] = counts
        # The valid file must load: a reader that refuses it has a defect of its own.
        outcome, detail = run_case(target, valid, seconds)
        if outcome != "load":
            counts["defects"].append({"case": "the valid file", "detail": detail[:300]})
            continue
        for i, data in mutations(valid, seed, cases, stream):
            if only is not None and i != only:
                continue
            outcome, detail = run_case(target, data, seconds)
            counts["cases"] += 1
            if outcome == "defect":
                counts["defects"].append({"case": i, "detail": detail[:300]})
            else:
                counts["loads" if outcome == "load" else "errors"] += 1
        _overwrite(target.path, valid)
    return report


def _vm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1])
    return 0


def child(args: argparse.Namespace) -> None:
    """The capped process: imports, then the address-space cap, then the cases."""
    sys.path.insert(0, str(ROOT))
    import importlib

    # Import everything the readers use before measuring the baseline the cap counts from.
    for module in ("juanji.data", "juanji.train", "PIL.Image", "PIL.JpegImagePlugin", "PIL.PngImagePlugin",
                   "safetensors.numpy"):
        importlib.import_module(module)

    names = [n for n in args.targets.split(",") if n] if args.targets else None
    cap = _vm_kib() * 1024 + args.mem_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        report = fuzz(Path(d), args.cases, args.seed, args.case_seconds, names, args.only)
    if names and set(names) - set(report):
        raise SystemExit(f"fuzz: unknown targets {sorted(set(names) - set(report))}")
    print(json.dumps({"seed": args.seed, "cases_per_target": args.cases, "mem_cap_mib": args.mem_mib,
                      "seconds": round(time.perf_counter() - start, 1), "targets": report}))


def run(cases: int = 150, seed: int = 0, targets: str = "", mem_mib: int = 512, case_seconds: int = 10,
        only: int | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Run the fuzzer in a capped child process and return its report (used by tests/test_fuzz.py)."""
    # One BLAS thread: the child's address space is capped, and every thread reserves a stack.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--child", "--cases", str(cases), "--seed", str(seed),
           "--mem-mib", str(mem_mib), "--case-seconds", str(case_seconds), "--targets", targets]
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
    p.add_argument("--targets", default="", help="comma-separated subset of the targets' names (default all)")
    p.add_argument("--mem-mib", type=int, default=512, help="address space allowed above start-up (MiB)")
    p.add_argument("--case-seconds", type=int, default=10, help="time bound of one case")
    p.add_argument("--only", type=int, default=None, help="run only this case number (to reproduce a defect)")
    p.add_argument("--show", type=int, default=3, help="defects to print per format")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    report = run(args.cases, args.seed, args.targets, args.mem_mib, args.case_seconds, args.only)
    total = {"cases": 0, "loads": 0, "errors": 0, "defects": 0}
    print(f"{'target':30} {'cases':>7} {'loads':>7} {'clean errors':>13} {'defects':>8}")
    for name, c in report["targets"].items():
        print(f"{name:30} {c['cases']:7d} {c['loads']:7d} {c['errors']:13d} {len(c['defects']):8d}")
        for k in ("cases", "loads", "errors"):
            total[k] += c[k]
        total["defects"] += len(c["defects"])
    print(f"{'all':30} {total['cases']:7d} {total['loads']:7d} {total['errors']:13d} {total['defects']:8d}"
          f"   ({report['seconds']} s, seed {report['seed']}, memory cap +{report['mem_cap_mib']} MiB)")
    for name, c in report["targets"].items():
        for d in c["defects"][: args.show]:
            print(f"  {name} case {d['case']}: {d['detail']}")
    sys.exit(1 if total["defects"] else 0)


if __name__ == "__main__":
    main()
