"""The ``juanji`` command line: train, evaluate and predict.

    juanji train                                   # a small CNN on the bundled 8x8 digits
    juanji train --model lenet5 --data fashion-mnist --epochs 10 --out runs/lenet
    juanji evaluate --weights runs/lenet/weights.safetensors --data fashion-mnist
    juanji predict shirt.png boot.jpg --weights runs/lenet/weights.safetensors --top-k 3

``train`` writes a run folder (``runs/<data>-<model>-<timestamp>`` unless ``--out``):
``weights.safetensors`` (the final weights, with the model name, class names and input
shape in its metadata, so ``evaluate``/``predict`` need only ``--weights``),
``last.safetensors`` (a full checkpoint for ``--resume``), ``history.csv``,
``learning_curves.png`` and ``config.json`` (the arguments). The run holds the folder
(``flock`` on ``.lock``) while it lasts, and a folder that already holds a run is refused
unless ``--resume`` continues it or ``--overwrite`` replaces it. Validation is 10% of the
training data held out (``--val-split``); the test set is measured once, at the end.

Errors users can meet (bad arguments or files, divergence, a full or read-only disk, out of
memory) print as one line, ``juanji <command>: error: ...``, with a non-zero exit status
(2 for a bad argument or file, 1 for a failure while running); ``--debug`` shows the traceback.

Data sets by name: ``digits`` (scikit-learn's bundled 8x8 digits, the default),
``fashion-mnist`` (Debian's dataset-fashion-mnist, or ``--root``), ``mnist``, ``cifar10``,
``cifar100`` (these need ``--root DIR``; nothing is downloaded), or a directory of class
sub-folders (ImageFolder; with ``train/`` and ``test/`` (or ``val/``) inside, else split 80/20).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import inspect
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .threads import set_num_threads

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: run folders are checked but not locked
    fcntl = None  # type: ignore[assignment]

__all__ = ["main", "build_parser", "DATASETS", "PRESETS"]

DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10", "cifar100")

# Defaults per data set when --epochs/--batch-size/--lr are not given: chosen so the
# default run reaches the README's accuracy (digits >= 98%, Fashion-MNIST >= 90%) on a CPU.
PRESETS: dict[str, dict[str, Any]] = {
    "digits": {"model": "digits_cnn", "epochs": 40, "batch_size": 32, "lr": 3e-3, "scheduler": "cosine",
               "augment": 0},
    "fashion-mnist": {"model": "simple_convnet", "epochs": 10, "batch_size": 100, "lr": 1e-3, "scheduler": "none",
                      "augment": 0},
    "mnist": {"model": "simple_convnet", "epochs": 10, "batch_size": 100, "lr": 1e-3, "scheduler": "none", "augment": 0},
    "cifar10": {"model": "simple_convnet", "epochs": 20, "batch_size": 64, "lr": 1e-3, "scheduler": "cosine", "augment": 0},
    "cifar100": {"model": "simple_convnet", "epochs": 20, "batch_size": 64, "lr": 1e-3, "scheduler": "cosine",
                 "augment": 0},
    "folder": {"model": "simple_convnet", "epochs": 20, "batch_size": 32, "lr": 1e-3, "scheduler": "cosine", "augment": 0},
}

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
SCHEDULERS = ("none", "cosine", "step", "plateau")


class CLIError(Exception):
    """A user error: printed as ``juanji <command>: error: ...`` with exit status 2."""


# --- data ------------------------------------------------------------------------------------
def load_data(name: str, root: str | None = None, image_size: int = 64, grayscale: bool = False,
              seed: int = 0) -> tuple[Any, Any, list[str], str]:
    """(train dataset, test dataset, class names, preset key) for a data set name or folder path."""
    from . import data

    if name == "digits":
        return data.Digits(train=True), data.Digits(train=False), list(data.Digits.classes), name
    if name == "fashion-mnist":
        train = data.FashionMNIST(root=root, train=True)
        return train, data.FashionMNIST(root=root, train=False), list(train.classes), name
    if name in ("mnist", "cifar10", "cifar100"):
        if root is None:
            raise CLIError(f"--data {name} needs --root DIR, the directory holding its files "
                           "(juanji downloads nothing)")
        cls = {"mnist": data.MNIST, "cifar10": data.CIFAR10, "cifar100": data.CIFAR100}[name]
        train = cls(root, train=True)
        return train, cls(root, train=False), list(train.classes), name
    path = Path(name).expanduser()
    if not path.is_dir():
        raise CLIError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}, "
                       "or the path of an image folder (one sub-folder per class)")
    return (*_image_folder(path, image_size, grayscale, seed), "folder")


def _image_folder(path: Path, size: int, grayscale: bool, seed: int) -> tuple[Any, Any, list[str]]:
    from . import data

    resize = data.transforms.Resize((size, size))
    mode = "L" if grayscale else "RGB"
    test_dir = next((path / d for d in ("test", "val") if (path / d).is_dir()), None)
    if (path / "train").is_dir() and test_dir is not None:
        train = data.ImageFolder(path / "train", transform=resize, mode=mode)
        test = data.ImageFolder(test_dir, transform=resize, mode=mode)
        if test.classes != train.classes:
            raise CLIError(f"{path}: train/ has classes {train.classes} but {test_dir.name}/ has {test.classes}")
        return train, test, list(train.classes)
    full = data.ImageFolder(path, transform=resize, mode=mode)
    train, test = data.random_split(full, [0.8, 0.2], seed=seed)
    return train, test, list(full.classes)


def _input_shape(dataset: Any) -> tuple[int, int, int]:
    x = dataset[0][0]
    arr = np.asarray(getattr(x, "data", x))
    if arr.ndim != 3:
        raise CLIError(f"expected (C, H, W) images, but the data set's first sample has shape {arr.shape}")
    return tuple(int(s) for s in arr.shape)  # type: ignore[return-value]


# --- models ----------------------------------------------------------------------------------
def build_model(name: str, num_classes: int, input_shape: Sequence[int]) -> tuple[Any, dict[str, Any]]:
    """The registered model ``name`` sized for the data: (model, the keyword arguments used)."""
    from .models import get_model, list_models, model_builder

    if name not in list_models():
        raise CLIError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    params = inspect.signature(model_builder(name)).parameters
    c, h, w = input_shape
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if "in_channels" in params:
        kwargs["in_channels"] = c
    if "input_size" in params and h == w:
        kwargs["input_size"] = h
    try:
        return get_model(name, **kwargs), kwargs
    except (ValueError, TypeError) as e:
        raise CLIError(f"cannot build {name} for {c}x{h}x{w} images and {num_classes} classes: {e}") from e


def _optimizer(name: str, params: Any, lr: float, momentum: float, weight_decay: float) -> Any:
    from . import optim

    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    cls = {"adam": optim.Adam, "adamw": optim.AdamW, "adagrad": optim.Adagrad}[name]
    return cls(params, lr=lr, weight_decay=weight_decay)


def _scheduler(name: str, opt: Any, epochs: int) -> Any:
    from .optim import lr_scheduler as ls

    if name == "cosine":
        return ls.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    if name == "step":
        return ls.StepLR(opt, step_size=max(epochs // 3, 1), gamma=0.1)
    if name == "plateau":
        return ls.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2)
    return None


# --- train -----------------------------------------------------------------------------------
# Files that show a folder already holds a run (config.json is written first).
RUN_FILES = ("config.json", "weights.safetensors", "weights.npz", "last.safetensors", "last.npz",
             "history.csv", "log.csv")
# Every file a run writes: --overwrite removes the old run's before the new one starts, so the
# folder never mixes two runs (an old weights.npz beside a new last.safetensors). Other files stay.
RUN_OUTPUTS = (*RUN_FILES, "best.safetensors", "best.npz", "learning_curves.png")


def _claim_run_folder(out: Path, resume: str | None, overwrite: bool) -> int:
    """Lock the run folder for this process and refuse one that holds another run.

    The lock is ``flock`` on ``out/.lock``, held until the returned descriptor is closed or the
    process ends, so two runs can never mix their files and a killed run leaves no stale lock
    (the file stays; the kernel drops the lock). A folder holding a finished or stopped run is
    refused unless ``--resume`` continues a checkpoint inside it or ``--overwrite`` is given
    (which removes the old run's files, ``RUN_OUTPUTS``, and no others): nothing a user saved
    is replaced by accident.
    """
    out.mkdir(parents=True, exist_ok=True)
    lock = out / ".lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:  # no flock on Windows: the folder check below still applies
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CLIError(f"--out '{out}' is in use by another juanji train (locked: '{lock}')") from None
        existing = [name for name in RUN_FILES if (out / name).exists()]
        resuming_here = resume is not None and Path(resume).resolve().parent == out.resolve()
        if existing and not (overwrite or resuming_here):
            raise CLIError(f"--out '{out}' already holds a run ({', '.join(existing)}); continue it with "
                           f"--resume '{out / 'last.safetensors'}', replace it with --overwrite, or choose "
                           "another --out")
        if existing and overwrite and not resuming_here:  # a resumed run needs its checkpoint
            for name in RUN_OUTPUTS:
                (out / name).unlink(missing_ok=True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def cmd_train(args: argparse.Namespace) -> int:
    """``juanji train``: fit a model, print the test accuracy, write the run folder."""
    import juanji

    from .data import DataLoader, random_split
    from .data.transforms import RandomTranslate
    from .train import CSVLogger, EarlyStopping, ModelCheckpoint, Trainer

    with contextlib.ExitStack() as held:
        def claim(folder: Path) -> Path:
            held.callback(os.close, _claim_run_folder(folder, args.resume, args.overwrite))  # closing unlocks
            return folder

        # An explicit --out is claimed before the data is read, so a clash is reported at once;
        # the default folder's name needs the model, which may come from the data set's preset.
        out = claim(Path(args.out)) if args.out else None
        juanji.manual_seed(args.seed)
        train_ds, test_ds, classes, preset_key = load_data(args.data, args.root, args.image_size, args.grayscale,
                                                           args.seed)
        preset = PRESETS[preset_key]
        for key in ("model", "epochs", "batch_size", "lr", "scheduler", "augment"):
            if getattr(args, key) is None:
                setattr(args, key, preset[key])
        shape = _input_shape(train_ds)
        model, model_kwargs = build_model(args.model, len(classes), shape)
        # Validation is held out of the training data (seeded by --seed); the test set is
        # measured once, at the end, so it never steers training (early stopping, LR plateaus).
        val_ds = None
        if args.val_split > 0:
            train_ds, val_ds = random_split(train_ds, [1 - args.val_split, args.val_split], seed=args.seed)
        transform = RandomTranslate(args.augment) if args.augment else None
        train_loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, seed=args.seed,
                                  transform=transform)
        val_loader = DataLoader(val_ds, batch_size=256) if val_ds is not None else None
        test_loader = DataLoader(test_ds, batch_size=256)

        opt = _optimizer(args.optimizer, model.parameters(), args.lr, args.momentum, args.weight_decay)
        trainer = Trainer(model, opt, "cross_entropy", metrics=["accuracy"],
                          scheduler=_scheduler(args.scheduler, opt, args.epochs))
        if out is None:
            data_part = preset_key if preset_key == "folder" else args.data
            out = claim(Path("runs") / f"{data_part}-{args.model}-{time.strftime('%Y%m%d-%H%M%S')}")
        config = {k: v for k, v in vars(args).items() if k != "func"}
        # Atomic, like every other file of the run: a full disk must not leave half a config.
        text = (json.dumps(config, indent=2) + "\n").encode("utf-8")
        juanji.io.atomic_write(out / "config.json", lambda f: f.write(text))
        callbacks: list[Any] = [ModelCheckpoint(out, save_best=False), CSVLogger(out / "log.csv")]
        if args.patience is not None:
            callbacks.append(EarlyStopping(patience=args.patience))
        say = _printer(args.quiet)
        split = (f"{len(train_ds)} train / {len(val_ds)} validation" if val_ds is not None
                 else f"{len(train_ds)} train (no validation)")
        say(f"training {args.model} ({model.num_parameters():,} parameters) on {args.data}: "
            f"{split} / {len(test_ds)} test images (test measured once, at the end) "
            f"of shape {shape}, {len(classes)} classes; {args.epochs} epochs, batch {args.batch_size}, "
            f"{args.optimizer} lr {args.lr:g}, seed {args.seed}")
        start = time.perf_counter()
        history = trainer.fit(train_loader, val_loader, epochs=args.epochs, callbacks=callbacks,
                              resume=args.resume, verbose=not args.quiet)
        elapsed = time.perf_counter() - start
        result = trainer.evaluate(test_loader)
        meta = {"model": args.model, "model_kwargs": json.dumps(model_kwargs), "data": args.data,
                "classes": json.dumps(classes), "input_shape": json.dumps(list(shape)), "epochs": str(trainer.epoch)}
        weights_path = out / f"weights.{args.format}"
        trainer.check_finite(f"not writing '{weights_path}': the weights diverged")
        weights = juanji.io.save(model.state_dict(), weights_path, metadata=meta)
        history.to_csv(out / "history.csv")
        history.plot(out / "learning_curves.png", title=f"{args.model} on {args.data}", val_label="validation")
    n_test = len(test_ds)
    correct = int(round(result["accuracy"] * n_test))
    say(f"test accuracy: {result['accuracy']:.2%} ({correct}/{n_test})  test loss: {result['loss']:.4f}")
    if len(history):
        say(f"time: {elapsed:.1f} s ({np.mean(history['time']):.2f} s/epoch over {len(history)} epochs, "
            f"{np.mean(history['images_per_sec']):.0f} images/s training)")
    say(f"wrote {weights}, {out / 'history.csv'}, {out / 'learning_curves.png'}, {out / 'last.safetensors'}")
    if args.quiet:
        print(f"{result['accuracy']:.4f}")
    return 0


def _printer(quiet: bool) -> Any:
    def say(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)
    return say


# --- evaluate / predict ----------------------------------------------------------------------
# The largest input the CLI builds a model for from a file's metadata: 4 channels (RGBA) of
# 4096 x 4096. Checked before anything is allocated, so a corrupt or hostile file cannot make
# ``predict`` allocate terabytes (a probe batch at the cap is 4 x 4096^2 floats, 256 MiB).
MAX_INPUT_CHANNELS = 4
MAX_INPUT_SIDE = 4096


def _shown(raw: str, limit: int = 80) -> str:
    """A metadata value as an error message quotes it: repr'd, and cut short if long."""
    return repr(raw if len(raw) <= limit else raw[:limit - 3] + "...")


def read_weights_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata ``juanji train`` writes, parsed and checked, from a weights file or checkpoint.

    Returns ``model`` (str or None), ``data`` (str or None), ``classes`` (list of str or None),
    ``input_shape`` ((C, H, W) or None) and ``model_kwargs`` (dict or None); a key the file
    lacks is None.

    Raises:
        CLIError: a value is malformed: ``classes`` not a non-empty JSON list of strings,
            ``input_shape`` not 3 positive integers with C <= MAX_INPUT_CHANNELS and
            H, W <= MAX_INPUT_SIDE, ``model_kwargs`` not a JSON object. Names the file and value.
    """
    from . import io

    path = Path(path)
    if not path.is_file():
        raise CLIError(f"--weights: no such file: '{path}'")
    meta = io.read(path)[1]

    def parse(key: str, ok: Any, expected: str) -> Any:
        if key not in meta:
            return None
        raw = meta[key]
        try:
            value = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            value = ok  # a sentinel no check accepts
        if value is ok or not ok(value):
            raise CLIError(f"'{path}': metadata '{key}' must be {expected}, got {_shown(raw)}")
        return value

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    classes = parse("classes", lambda v: isinstance(v, list) and len(v) > 0 and all(isinstance(c, str) for c in v),
                    "a JSON list of class names (strings)")
    shape = parse("input_shape",
                  lambda v: (isinstance(v, list) and len(v) == 3 and all(is_int(n) and n > 0 for n in v)
                             and v[0] <= MAX_INPUT_CHANNELS and max(v[1:]) <= MAX_INPUT_SIDE),
                  f"a JSON list of 3 positive integers [C, H, W] with C <= {MAX_INPUT_CHANNELS} "
                  f"and H, W <= {MAX_INPUT_SIDE}")
    kwargs = parse("model_kwargs", lambda v: isinstance(v, dict), "a JSON object of the builder's keyword arguments")
    return {"model": meta.get("model"), "data": meta.get("data"), "classes": classes,
            "input_shape": tuple(shape) if shape is not None else None, "model_kwargs": kwargs}


def _load_model(weights: str, model_name: str | None, num_classes: int | None = None,
                input_shape: Sequence[int] | None = None) -> tuple[Any, dict[str, Any]]:
    """A model filled from a weights file or checkpoint, sized from its metadata or the arguments;
    returns it with the checked metadata (``read_weights_meta``)."""
    from .train.checkpoint import load_weights

    path = Path(weights)
    meta = read_weights_meta(path)
    name = model_name or meta["model"]
    if name is None:
        raise CLIError(f"'{path}' does not name its model (no 'model' metadata); give --model NAME")
    if input_shape is None:
        if meta["input_shape"] is None:
            raise CLIError(f"'{path}' does not record its input shape; give --data (or --size/--channels)")
        input_shape = meta["input_shape"]
    if num_classes is None:
        if meta["classes"] is None:
            raise CLIError(f"'{path}' does not record its classes; give --data")
        num_classes = len(meta["classes"])
    model, _ = build_model(name, num_classes, input_shape)
    try:
        load_weights(model, path)
    except ValueError as e:
        raise CLIError(f"{name} cannot take these weights: {e}") from e  # e names the file
    model.eval()
    return model, meta


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``juanji evaluate``: loss, accuracy and top-5 accuracy of saved weights on a data set's test part."""
    from .data import DataLoader
    from .train import Trainer, get_metric

    meta = read_weights_meta(args.weights)  # checked before a data set is read or a model built
    data_name = args.data or meta["data"] or "digits"
    _, test_ds, classes, _ = load_data(data_name, args.root, args.image_size, args.grayscale)
    model, _ = _load_model(args.weights, args.model, len(classes), _input_shape(test_ds))
    metrics = ["accuracy", "confusion_matrix"] + (["top5"] if len(classes) > 5 else [])
    trainer = Trainer(model, _NoOptimizer(), metrics=[get_metric(m) for m in metrics])
    start = time.perf_counter()
    res = trainer.evaluate(DataLoader(test_ds, batch_size=args.batch_size), verbose=not args.quiet)
    elapsed = time.perf_counter() - start
    print(f"{data_name} test set: {len(test_ds)} images, {len(classes)} classes")
    print(f"loss {res['loss']:.4f}  accuracy {res['accuracy']:.2%}"
          + (f"  top-5 accuracy {res['top5_accuracy']:.2%}" if "top5_accuracy" in res else "")
          + f"  ({len(test_ds) / elapsed:.0f} images/s)")
    cm = res["confusion_matrix"]
    per_class = cm.diagonal() / np.maximum(cm.sum(axis=1), 1)
    width = max(len(c) for c in classes)
    for c, acc, n in zip(classes, per_class, cm.sum(axis=1)):
        print(f"  {c:<{width}}  {acc:7.2%}  of {n}")
    return 0


class _NoOptimizer:
    """Stands in for an optimizer when a Trainer only evaluates."""

    param_groups: list[dict[str, Any]] = []

    def step(self) -> None:  # pragma: no cover - never called by evaluate
        raise RuntimeError("evaluate-only trainer cannot step")

    def zero_grad(self) -> None:  # pragma: no cover
        pass


def cmd_predict(args: argparse.Namespace) -> int:
    """``juanji predict``: the top-k classes of each image file, with probabilities."""
    from .data.transforms import Resize
    from .data import load_image
    from .train import Trainer

    model, meta = _load_model(args.weights, args.model)
    c, h, w = meta["input_shape"]  # _load_model refuses a file without one
    classes = meta["classes"]
    batch = []
    for image in args.images:
        try:
            img = load_image(image, mode="L" if c == 1 else "RGB")  # (C, H0, W0) uint8
        except FileNotFoundError as e:
            raise CLIError(f"no such image: '{image}'") from e
        except ValueError as e:
            raise CLIError(str(e)) from e
        x = Resize((h, w))(img.astype(np.float32) / 255.0)  # (C, H, W) in [0, 1], as the DataLoader scales
        batch.append(1.0 - x if args.invert else x)
    k = min(args.top_k, _num_classes(classes, model))
    probs = Trainer(model, _NoOptimizer(), metrics=[]).predict(np.stack(batch).astype(np.float32),
                                                               probabilities=True)  # (N, K)
    for image, p in zip(args.images, probs):
        top = np.argsort(-p, kind="stable")[:k]
        names = [classes[i] if classes else str(i) for i in top]
        print(f"{image}: " + ", ".join(f"{n} {p[i]:.1%}" for n, i in zip(names, top)))
    return 0


def _num_classes(classes: list[str] | None, model: Any) -> int:
    """The class count: from the recorded class names, else the last layer's output size."""
    if classes:
        return len(classes)
    return int(list(model.parameters())[-1].shape[0])


# --- parser ----------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return v


def _fraction(text: str) -> float:
    v = float(text)
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return v


def _data_args(p: argparse.ArgumentParser, default: str | None) -> None:
    p.add_argument("--data", default=default, metavar="NAME_OR_PATH",
                   help=f"data set: {', '.join(DATASETS)}, or an image folder (default: {default or 'from the weights, else digits'})")
    p.add_argument("--root", default=None, metavar="DIR",
                   help="directory with the data set's files (mnist, cifar10, cifar100; fashion-mnist defaults to Debian's copy)")
    p.add_argument("--image-size", type=_positive_int, default=64, metavar="S",
                   help="image folders only: resize every image to S x S (default 64)")
    p.add_argument("--grayscale", action="store_true", help="image folders only: read images as 1-channel grayscale")


def _debug_arg(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: a sub-command's default would otherwise overwrite a global ``juanji --debug``.
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show the Python traceback of an error instead of its one-line message")


def _threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="BLAS/OpenMP threads (default: as OMP_NUM_THREADS / OPENBLAS_NUM_THREADS "
                        "or the core count set them)")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``juanji`` and its sub-commands."""
    parser = argparse.ArgumentParser(prog="juanji", description="juanji (卷积): train, evaluate and run CNNs on NumPy.")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error instead of its one-line message")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    t = sub.add_parser("train", help="train a model and write a run folder",
                       description="Train a model (default: a small CNN on the bundled 8x8 digits) and write "
                                   "weights, a checkpoint, the history CSV and learning curves to a run folder.")
    t.add_argument("--model", default=None, help="registered model name (default: simple_convnet)")
    _data_args(t, "digits")
    t.add_argument("--epochs", type=_positive_int, default=None, help="epochs (default: per data set; digits 40)")
    t.add_argument("--batch-size", type=_positive_int, default=None, help="batch size (default: per data set)")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="optimizer (default adam)")
    t.add_argument("--lr", type=float, default=None, help="learning rate (default: per data set)")
    t.add_argument("--momentum", type=float, default=0.9, help="momentum for sgd/rmsprop (default 0.9)")
    t.add_argument("--weight-decay", type=float, default=0.0, help="weight decay (default 0)")
    t.add_argument("--scheduler", choices=SCHEDULERS, default=None, help="LR schedule (default: per data set)")
    t.add_argument("--augment", type=int, default=None, metavar="PIXELS",
                   help="random translation of training images by up to PIXELS (0: none; default: per data set)")
    t.add_argument("--val-split", type=_fraction, default=0.1, metavar="F",
                   help="hold out this fraction of the training set (seeded by --seed) for validation after "
                        "each epoch (default 0.1; 0: no validation). The test set is measured once, at the end")
    t.add_argument("--patience", type=int, default=None, help="stop early after this many epochs without improvement")
    t.add_argument("--seed", type=int, default=0, help="random seed (weights, shuffling, dropout; default 0)")
    t.add_argument("--out", default=None, metavar="DIR", help="run folder (default runs/<data>-<model>-<time>)")
    t.add_argument("--resume", default=None, metavar="CHECKPOINT", help="continue from a checkpoint (e.g. DIR/last.safetensors)")
    t.add_argument("--overwrite", action="store_true",
                   help="use an --out folder that already holds a run: its run files (weights, checkpoints, "
                        "logs, config, curves) are removed first; other files stay")
    t.add_argument("--format", choices=("safetensors", "npz"), default="safetensors", help="weights file format")
    t.add_argument("--quiet", action="store_true", help="no progress output; print only the test accuracy")
    _threads_arg(t)
    _debug_arg(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate saved weights on a data set's test part",
                       description="Loss, accuracy, top-5 accuracy and per-class accuracy of saved weights.")
    e.add_argument("--weights", required=True, metavar="PATH", help="weights (.safetensors/.npz) or a checkpoint")
    e.add_argument("--model", default=None, help="model name (default: recorded in the weights)")
    _data_args(e, None)
    e.add_argument("--batch-size", type=_positive_int, default=256)
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    _threads_arg(e)
    _debug_arg(e)
    e.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify image files",
                       description="Decode images with Pillow, resize them to the model's input size and "
                                   "print the top-k classes with their probabilities.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    p.add_argument("--weights", required=True, metavar="PATH", help="weights written by juanji train")
    p.add_argument("--model", default=None, help="model name (default: recorded in the weights)")
    p.add_argument("--top-k", type=_positive_int, default=3, help="how many classes to print (default 3)")
    p.add_argument("--invert", action="store_true",
                   help="invert the image (dark ink on white paper -> the white-on-black digits and MNIST were trained on)")
    _threads_arg(p)
    _debug_arg(p)
    p.set_defaults(func=cmd_predict)

    s = sub.add_parser("summary", help="print a model's layers, shapes, parameters, multiply-adds and memory",
                       description="Keras-style table of a registered model: per layer the output shape, "
                                   "parameters and multiply-adds; totals, inference and training memory.")
    s.add_argument("model", help="registered model name (see juanji.models.list_models())")
    s.add_argument("--input", default=None, metavar="C,H,W",
                   help="input shape without the batch (default: the model's own, else 3,224,224)")
    s.add_argument("--batch", type=_positive_int, default=1, help="batch size for the memory figures (default 1)")
    s.add_argument("--num-classes", type=_positive_int, default=None,
                   help="classes of the output layer (default: the model's own: 10 for lenet5, 1000 for resnet18)")
    s.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a keyword argument of the model's builder, VALUE read as JSON where it parses "
                        "(aux_logits=false, variant=original); repeat for more")
    _debug_arg(s)
    s.set_defaults(func=cmd_summary)
    return parser


def _builder_options(name: str, options: Sequence[str]) -> dict[str, Any]:
    """``--option KEY=VALUE`` as the builder's keyword arguments (VALUE as JSON where it parses)."""
    from .models import model_builder

    params = inspect.signature(model_builder(name)).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs: dict[str, Any] = {}
    for option in options:
        key, sep, text = option.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise CLIError(f"--option must be KEY=VALUE, got {option!r}")
        if key not in params and not takes_any:
            raise CLIError(f"--option {key}: {name} has no such option; its options: {', '.join(params)}")
        try:
            kwargs[key] = json.loads(text)
        except json.JSONDecodeError:
            kwargs[key] = text  # a bare word: variant=original
    return kwargs


def _summary_model(name: str, num_classes: int | None, shape: tuple[int, int, int] | None,
                   options: dict[str, Any]) -> tuple[Any, tuple[int, int, int]]:
    """The model ``juanji summary`` describes and its input: the builder's own defaults
    (classes, channels, input size), changed only by what the user gave."""
    from .models import get_model, model_builder

    params = inspect.signature(model_builder(name)).parameters
    kwargs = dict(options)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if shape is not None:  # size the model for the given input where its builder can
        c, h, w = shape
        if "in_channels" in params:
            kwargs.setdefault("in_channels", c)
        if "input_size" in params and h == w:
            kwargs.setdefault("input_size", h)
    try:
        model = get_model(name, **kwargs)
    except (ValueError, TypeError) as e:
        given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise CLIError(f"cannot build {name} with {given or 'its defaults'}: {e}") from e
    if shape is None:
        # The input the model is made for: recorded by the fixed-input nets (lenet5's depends
        # on its variant), else the builder's in_channels/input_size defaults, else 3x224x224.
        recorded = getattr(model, "input_shape", None)
        if recorded:
            shape = tuple(int(v) for v in recorded)  # type: ignore[assignment]
        else:
            c = kwargs.get("in_channels", params["in_channels"].default if "in_channels" in params else 3)
            size = kwargs.get("input_size", params["input_size"].default if "input_size" in params else 224)
            size = size if isinstance(size, int) else 224
            shape = (int(c), size, size)
    return model, shape  # type: ignore[return-value]


def cmd_summary(args: argparse.Namespace) -> int:
    """``juanji summary``: the layer table, parameters, multiply-adds and memory of a model."""
    from .analysis import summary
    from .models import list_models

    if args.model not in list_models():
        raise CLIError(f"unknown model {args.model!r}; known models: {', '.join(list_models())}")
    shape = None
    if args.input is not None:
        try:
            shape = tuple(int(v) for v in args.input.split(","))
        except ValueError:
            raise CLIError(f"--input must be C,H,W integers such as 3,224,224, got {args.input!r}") from None
        if len(shape) != 3 or min(shape) < 1:
            raise CLIError(f"--input must be three positive integers C,H,W, got {args.input!r}")
    model, shape = _summary_model(args.model, args.num_classes, shape, _builder_options(args.model, args.option))
    print(summary(model, shape, batch_size=args.batch))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``juanji`` command (``python -m juanji``); returns the exit status.

    Expected failures (bad arguments or files, divergence, a full or read-only disk, out of
    memory) print one line, ``juanji <command>: error: ...``, and return non-zero;
    ``--debug`` lets them raise with their traceback instead.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "threads", None) is not None:
        set_num_threads(args.threads)
    if args.debug:
        return int(args.func(args))
    try:
        # The CLI owns its process: NumPy's overflow warnings would print beside the one
        # line that reports a divergence (the Trainer checks the loss and the weights itself).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return int(args.func(args))
    except KeyboardInterrupt:
        print(f"juanji {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        status = _expected_failure(e)
        if status is None:
            raise  # a bug: the traceback is what a report needs
        print(f"juanji {args.command}: error: {_one_line(_message(e, args.command))}", file=sys.stderr)
        return status


def _expected_failure(e: BaseException) -> int | None:
    """The exit status of an expected failure, or None for a bug (which keeps its traceback)."""
    if isinstance(e, CLIError):
        return 2
    if isinstance(e, (FloatingPointError, OSError, MemoryError, ValueError)):
        return 1
    return None


# errno -> the words a user reads (os.strerror's, lower-cased, with the hint of what to do)
_OS_ERRORS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def _message(e: BaseException, command: str) -> str:
    if isinstance(e, MemoryError):
        # the commands with a --batch-size say which knob to turn
        hint = " (try a smaller --batch-size or model)" if command in ("train", "evaluate") else ""
        return "out of memory" + hint
    if isinstance(e, OSError) and e.errno is not None and e.strerror:
        words = _OS_ERRORS.get(e.errno, e.strerror[:1].lower() + e.strerror[1:])
        if e.filename is None:
            return words
        # Only a write can fill a disk or meet a read-only one; a permission can fail either way.
        action = "cannot write" if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) else "cannot access"
        return f"{action} '{e.filename}': {words}"
    return str(e) or type(e).__name__


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
