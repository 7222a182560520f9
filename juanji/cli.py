"""The ``juanji`` command line: train, evaluate, predict, summary, report, viz and export.

    juanji train                                   # a small CNN on the bundled 8x8 digits
    juanji train --model lenet5 --data fashion-mnist --epochs 10 --out runs/lenet
    juanji evaluate --weights runs/lenet/weights.safetensors --data fashion-mnist
    juanji predict shirt.png boot.jpg --weights runs/lenet/weights.safetensors --top-k 3
    juanji report runs/lenet                       # (re)build runs/lenet/report.html
    juanji viz filters --weights runs/lenet/weights.safetensors [--layer c1] [--out c1.png]
    juanji viz features shirt.png --weights runs/lenet/weights.safetensors [--layers c1,c3]
    juanji viz saliency shirt.png --weights runs/lenet/weights.safetensors [--target Shirt]
    juanji viz gradcam shirt.png --weights runs/lenet/weights.safetensors [--layer c3]
    juanji export runs/lenet/weights.safetensors --out lenet.onnx   # for ONNX Runtime (juanji.onnx)

``train`` writes a run folder (``runs/<data>-<model>-<timestamp>`` unless ``--out``):
``weights.safetensors`` (the final weights, with the model name, class names and input
shape in its metadata, so ``evaluate``/``predict`` need only ``--weights``),
``initial.safetensors`` (the weights before the first step), ``last.safetensors`` (a full
checkpoint for ``--resume``), ``history.csv``, ``learning_curves.png``, ``config.json`` (the
arguments) and ``report.html`` (``juanji.report``: one self-contained HTML page with the
command, the model summary, the curves, the test metrics and confusion matrix, the
misclassified samples, the first layer's filters before and after training, feature maps and
the timings; ``--no-report`` skips it, and a report that fails to build is a warning, not a
failed run; ``juanji report RUN_DIR`` builds it again). The ``viz`` pictures are PNGs written
beside the weights unless ``--out``; their images are read as ``predict`` reads them.

The run holds the folder (``flock`` on ``.lock``) while it lasts, and a folder that already
holds a run is refused unless ``--resume`` continues it or ``--overwrite`` replaces it.
Validation is 10% of the training data held out (``--val-split``); the test set is measured
once, at the end.

Several processes (``mpirun -n N juanji train ...``, or ``--distributed``; docs/distributed.md):
data-parallel training over MPI. Each process trains on its shard of every epoch
(``DistributedSampler``) at ``--batch-size`` samples per step, so the global batch is N times
that; the learning rate is used as given. Gradients are averaged by
``DistributedDataParallel``, validation and test metrics summed over the processes, and only
rank 0 prints and writes the run folder (checkpoints, report). A checkpoint resumes with any
number of processes. A failure on any rank ends the whole job with that rank's error.

Recipe options (images only; text runs refuse them and keep Kim's recipe): ``--scheduler
onecycle`` (OneCycleLR up to ``--lr`` over the whole run, stepped per batch), ``--warmup-epochs
K`` (a per-batch linear warm-up from lr/100, then ``--scheduler`` cosine/step/none per batch
over the epochs left), ``--label-smoothing E`` (the training, validation and test losses alike),
``--random-erasing P`` (after ``--augment``, on images scaled to [0, 1]) and ``--nesterov``
(SGD). All are recorded in config.json and continue exactly under ``--resume``; a per-batch
schedule is fixed by the run's ``--epochs``, so resume with the same ``--epochs`` (a one-cycle
checkpoint whose cycle has another length is refused).

Errors users can meet (bad arguments or files, divergence, a full or read-only disk, out of
memory) print as one line, ``juanji <command>: error: ...``, with a non-zero exit status
(2 for a bad argument or file, 1 for a failure while running); ``--debug`` shows the traceback.

Data sets by name: ``digits`` (scikit-learn's bundled 8x8 digits, the default),
``fashion-mnist`` (Debian's dataset-fashion-mnist, or ``--root``), ``mnist``, ``cifar10``,
``cifar100`` (these need ``--root DIR``; nothing is downloaded), or a directory of class
sub-folders (ImageFolder; with ``train/`` and ``test/`` (or ``val/``) inside, else split 80/20).

Text (TextCNN, Kim 2014; ``--model textcnn``, the default model for text data):
``fortunes-languages`` and ``fortunes-topics`` (Debian's fortune files, their own fixed
train/validation/test splits), a TSV/CSV file (``--data FILE.tsv``, columns by
``--text-column``/``--label-column``), or a folder of class sub-folders of ``.txt`` files (told
apart from an image folder by its files' extensions). Kim's recipe is the text default
(``TEXT_PRESETS``): Adadelta (lr 1.0, rho 0.95), batches of 50 bucketed by length, dropout
0.5, max-norm 3 on the last layer after every step, filters 3,4,5 x 100, and the weights of
the epoch with the best validation loss kept (``best.safetensors``): the test split is
measured once, at the end, with those, and they are what ``weights.safetensors`` holds.
``vocab.json`` lies beside the weights; ``predict --text`` and ``evaluate`` read it.

    juanji train --data fortunes-languages --epochs 10 --out runs/lang
    juanji predict --weights runs/lang/weights.safetensors --text "Wer nicht wagt, gewinnt nicht"
    juanji evaluate --weights runs/lang/weights.safetensors
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
# The digits job smooths its labels (Szegedy et al. 2016): on 1,295 training images the
# network fits the training set within a few epochs, and the soft targets keep its logits from
# growing without bound; it lifted the mean test accuracy over seeds 0-3 above 99% at no cost in
# time (bench/NOTES.md, "Recipes": the default job).
DIGITS_LABEL_SMOOTHING = 0.1
PRESETS: dict[str, dict[str, Any]] = {
    "digits": {"model": "digits_cnn", "epochs": 40, "batch_size": 32, "lr": 3e-3, "scheduler": "cosine",
               "augment": 0, "label_smoothing": DIGITS_LABEL_SMOOTHING},
    "fashion-mnist": {"model": "simple_convnet", "epochs": 10, "batch_size": 100, "lr": 1e-3, "scheduler": "none",
                      "augment": 0, "label_smoothing": 0.0},
    "mnist": {"model": "simple_convnet", "epochs": 10, "batch_size": 100, "lr": 1e-3, "scheduler": "none", "augment": 0,
              "label_smoothing": 0.0},
    "cifar10": {"model": "simple_convnet", "epochs": 20, "batch_size": 64, "lr": 1e-3, "scheduler": "cosine",
                "augment": 0, "label_smoothing": 0.0},
    "cifar100": {"model": "simple_convnet", "epochs": 20, "batch_size": 64, "lr": 1e-3, "scheduler": "cosine",
                 "augment": 0, "label_smoothing": 0.0},
    "folder": {"model": "simple_convnet", "epochs": 20, "batch_size": 32, "lr": 1e-3, "scheduler": "cosine",
               "augment": 0, "label_smoothing": 0.0},
}

# Text data (issue 22): Kim (2014)'s recipe. Epochs: 10 for the fortunes corpora (the validation
# loss has flattened by then on both; Kim's 25 epochs are for a 300-d word2vec net on a few
# thousand sentences). fortunes-languages is character level with 64-d vectors (an alphabet,
# not a lexicon: 300 dims would only slow it down); fortunes-topics and user files are word
# level with Kim's 300. max_len cuts the long entries (poems, lists) that would otherwise set
# the width of a whole bucket: 256 characters identify a language, 200 words a topic.
TEXT_DATASETS = ("fortunes-languages", "fortunes-topics")
_KIM = {"model": "textcnn", "epochs": 10, "batch_size": 50, "lr": 1.0, "optimizer": "adadelta",
        "scheduler": "none", "augment": 0}
TEXT_PRESETS: dict[str, dict[str, Any]] = {
    "fortunes-languages": {**_KIM, "tokenizer": "char", "embed_dim": 64, "max_len": 256},
    "fortunes-topics": {**_KIM, "tokenizer": "word", "embed_dim": 300, "max_len": 200},
    "text-file": {**_KIM, "tokenizer": "word", "embed_dim": 300, "max_len": 200},
}
TEXT_MODELS = ("textcnn",)
_TEXT_SUFFIXES = (".tsv", ".tab", ".csv")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad", "adadelta")
SCHEDULERS = ("none", "cosine", "step", "plateau", "onecycle")
# --warmup-epochs starts at 1% of --lr: torchvision's classification reference scripts'
# --lr-warmup-decay default (the factor of LinearLR's start_factor there).
WARMUP_START_FACTOR = 0.01


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
                       "or the path of an image folder (one sub-folder per class); text: "
                       f"{', '.join(TEXT_DATASETS)}, a .tsv/.csv file or a folder of class sub-folders of .txt files")
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


def _optimizer(name: str, params: Any, lr: float, momentum: float, weight_decay: float,
               nesterov: bool = False) -> Any:
    from . import optim

    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    if name == "adadelta":  # Kim (2014) trains with rho 0.95 (the class's default is Zeiler's 0.9)
        return optim.Adadelta(params, lr=lr, rho=0.95, weight_decay=weight_decay)
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


def _check_recipe_options(args: argparse.Namespace) -> None:
    """Refuse the image recipe options' bad combinations before any data is read (one line each)."""
    if args.nesterov and args.optimizer != "sgd":
        raise CLIError(f"--nesterov is Nesterov momentum for --optimizer sgd; --optimizer {args.optimizer} has none")
    if args.nesterov and args.momentum <= 0:
        raise CLIError(f"--nesterov needs --momentum > 0, got --momentum {args.momentum:g}")
    if args.warmup_epochs and args.scheduler == "onecycle":
        raise CLIError("--warmup-epochs cannot be combined with --scheduler onecycle, which has its own warm-up "
                       "(the lr rises from lr/25 to --lr over its first 30% of steps)")
    if args.warmup_epochs and args.scheduler == "plateau":
        raise CLIError("--warmup-epochs cannot be combined with --scheduler plateau: ReduceLROnPlateau steps on an "
                       "epoch's validation loss and cannot follow a per-batch warm-up; use cosine, step or none")


def _image_schedule(args: argparse.Namespace, opt: Any, steps: int) -> tuple[Any, str]:
    """The LR schedule of an image run and how often it steps: (scheduler or None, interval).

    ``steps`` is the number of optimizer steps per epoch (batches of this rank's training
    loader). Without ``--warmup-epochs`` and onecycle, the schedules step once per epoch as
    they always have. OneCycleLR (Smith & Topin 2018) spans ``epochs * steps`` steps with
    ``max_lr = --lr`` and steps per batch; it cycles the momentum (SGD's, RMSprop's, or Adam's
    beta1) from 0.95 to 0.85 and back where the optimizer has one (not with ``--momentum 0``).

    A warm-up of K epochs is per batch (Goyal et al. 2017): LinearLR from
    ``WARMUP_START_FACTOR * lr`` to lr over ``K * steps`` steps. Then the schedule chosen
    runs, in batches as well, over the epochs left (SequentialLR switches at ``K * steps``):
    one scheduler in one unit keeps one state in the checkpoint and one stepping rule in the
    Trainer. So cosine becomes a per-batch cosine over ``(epochs - K) * steps`` steps (as in
    timm and fastai), step drops the lr ten-fold every ``(epochs - K) // 3`` whole epochs,
    and none holds lr after the warm-up.
    """
    from .optim import lr_scheduler as ls

    if args.scheduler == "onecycle":
        cycle = "betas" in opt.defaults or opt.defaults.get("momentum", 0) > 0
        return ls.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps, cycle_momentum=cycle), "step"
    if not args.warmup_epochs:
        return _scheduler(args.scheduler, opt, args.epochs), "epoch"
    warm = args.warmup_epochs * steps
    warmup = ls.LinearLR(opt, start_factor=WARMUP_START_FACTOR, end_factor=1.0, total_iters=warm)
    rest = args.epochs - args.warmup_epochs
    if args.scheduler == "cosine":
        after = ls.CosineAnnealingLR(opt, T_max=rest * steps)
    elif args.scheduler == "step":
        after = ls.StepLR(opt, step_size=max(rest // 3, 1) * steps, gamma=0.1)
    else:  # none: LinearLR holds end_factor (1) once its total_iters are done
        return warmup, "step"
    return ls.SequentialLR(opt, [warmup, after], milestones=[warm]), "step"


def _check_cycle_length(path: str, total_steps: int, epochs: int, steps: int) -> None:
    """Refuse to resume a one-cycle run whose saved cycle has another length than this run's.

    The checkpoint's schedule (its total_steps included) replaces the one built here, so a
    finished 10-epoch run resumed with --epochs 20 would stop at its first batch, past the
    cycle's end; say so before training, in the CLI's words. Distributed, rank 0 reads the
    file (as the Trainer does) and tells the others. A checkpoint that cannot be read is
    left to the Trainer, which names the file.
    """
    from .distributed import comm as dist
    from .train import load_checkpoint

    saved = None
    if dist.is_main():
        with contextlib.suppress(Exception):
            saved = load_checkpoint(path).get("scheduler", {}).get("total_steps")
    saved = dist.broadcast_object(saved)
    if isinstance(saved, int) and saved != total_steps:
        raise CLIError(f"--resume '{path}': its one-cycle schedule spans {saved} steps, but --epochs {epochs} x "
                       f"{steps} batches is {total_steps}; resume with the --epochs and --batch-size of the run "
                       "it continues")


def _recipe_words(args: argparse.Namespace) -> str:
    """The schedule and recipe options of an image run, as the start-of-run line shows them."""
    words = [" nesterov"] if args.nesterov else []
    if args.scheduler == "onecycle":
        words.append(", one-cycle schedule per batch")
    elif args.warmup_epochs:
        words.append(f", {args.warmup_epochs}-epoch warm-up then {args.scheduler} schedule, per batch")
    elif args.scheduler != "none":
        words.append(f", {args.scheduler} schedule per epoch")
    if args.label_smoothing:
        words.append(f", label smoothing {args.label_smoothing:g}")
    if args.hflip:
        words.append(", horizontal flips")
    if args.random_erasing:
        words.append(f", random erasing p {args.random_erasing:g}")
    return "".join(words)


def _train_transform(args: argparse.Namespace) -> Any:
    """The training batches' transform: ``--augment`` translation, ``--hflip``, then ``--random-erasing``.

    Random erasing acts on float images (torchvision's on tensors), so the batch is made float
    in [0, 1] first (``ToFloat``: the DataLoader's own x / 255, done earlier), and a rectangle is
    erased to 0: the CLI does not normalise, so that is black (the background of MNIST-style
    images: the occlusion the method imitates).
    """
    from .data.transforms import Compose, RandomErasing, RandomHorizontalFlip, RandomTranslate, ToFloat

    parts: list[Any] = [RandomTranslate(args.augment)] if args.augment else []
    if args.hflip:
        parts.append(RandomHorizontalFlip())
    if args.random_erasing:
        parts += [ToFloat(), RandomErasing(p=args.random_erasing)]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Compose(parts)


# --- train -----------------------------------------------------------------------------------
# The weights as training found them (before the first step), kept for the report's
# filters-before-and-after picture and for anyone who wants to see how far each layer moved.
INITIAL_WEIGHTS = "initial.safetensors"
# Files that show a folder already holds a run (config.json is written first).
RUN_FILES = ("config.json", "weights.safetensors", "weights.npz", "last.safetensors", "last.npz",
             "history.csv", "log.csv", "vocab.json")
# Every file a run writes: --overwrite removes the old run's before the new one starts, so the
# folder never mixes two runs (an old weights.npz beside a new last.safetensors). Other files stay.
RUN_OUTPUTS = (*RUN_FILES, "best.safetensors", "best.npz", "learning_curves.png", INITIAL_WEIGHTS, "report.html")


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

    from . import nn
    from .data import DataLoader, random_split
    from .train import CSVLogger, EarlyStopping, ModelCheckpoint, Trainer

    from .distributed import DistributedSampler
    from .distributed import comm as dist

    with contextlib.ExitStack() as held:
        def claim(folder: Path) -> Path:
            # Distributed, rank 0 alone holds and writes the run folder; it names the folder
            # (a default name holds the time) and every rank uses that name.
            folder = Path(dist.broadcast_object(str(folder)))
            if dist.is_main():
                held.callback(os.close, _claim_run_folder(folder, args.resume, args.overwrite))  # closing unlocks
            return folder

        if args.sync_batchnorm and dist.world_size() == 1:
            raise CLIError("--sync-batchnorm needs several processes (mpirun -n N juanji train ...)")
        # An explicit --out is claimed before the data is read, so a clash is reported at once;
        # the default folder's name needs the model, which may come from the data set's preset.
        out = claim(Path(args.out)) if args.out else None
        if is_text_data(args.data) or args.model in TEXT_MODELS:
            return _train_text(args, out, claim)
        if args.optimizer is None:
            args.optimizer = "adam"
        _check_recipe_options(args)
        juanji.manual_seed(args.seed)
        train_ds, test_ds, classes, preset_key = load_data(args.data, args.root, args.image_size, args.grayscale,
                                                           args.seed)
        preset = PRESETS[preset_key]
        for key in ("model", "epochs", "batch_size", "lr", "scheduler", "augment", "label_smoothing"):
            if getattr(args, key) is None:
                setattr(args, key, preset[key])
        _check_recipe_options(args)  # again: the preset may have chosen the scheduler
        if args.warmup_epochs >= args.epochs:
            raise CLIError(f"--warmup-epochs {args.warmup_epochs} must be fewer than --epochs {args.epochs}: the "
                           "schedule needs epochs after its warm-up")
        shape = _input_shape(train_ds)
        model, model_kwargs = build_model(args.model, len(classes), shape)
        # Validation is held out of the training data (seeded by --seed); the test set is
        # measured once, at the end, so it never steers training (early stopping, LR plateaus).
        val_ds = None
        if args.val_split > 0:
            train_ds, val_ds = random_split(train_ds, [1 - args.val_split, args.val_split], seed=args.seed)
        transform = _train_transform(args)
        if dist.world_size() > 1:
            # Each rank: its shard of every epoch's order (padded to equal lengths), and its
            # own part of the validation and test sets (exact counts: the sums are reduced).
            train_loader = DataLoader(train_ds, batch_size=args.batch_size, seed=args.seed, transform=transform,
                                      sampler=DistributedSampler(train_ds, seed=args.seed))
        else:
            train_loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, seed=args.seed,
                                      transform=transform)
        val_loader = DataLoader(_rank_part(val_ds), batch_size=256) if val_ds is not None else None
        test_loader = DataLoader(_rank_part(test_ds), batch_size=256)

        opt = _optimizer(args.optimizer, model.parameters(), args.lr, args.momentum, args.weight_decay,
                         args.nesterov)
        # Per rank under distributed training: each rank steps once per batch of its own shard.
        scheduler, interval = _image_schedule(args, opt, len(train_loader))
        # Smoothed targets for training and for the validation and test losses alike (as
        # torchvision's reference scripts evaluate with their training criterion); accuracy
        # does not depend on it. Without smoothing, the plain loss exactly as before.
        loss = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing) if args.label_smoothing else "cross_entropy"
        trainer = Trainer(_data_parallel(model, args), opt, loss, metrics=["accuracy"], scheduler=scheduler,
                          scheduler_interval=interval)
        if args.resume is not None and args.scheduler == "onecycle":
            _check_cycle_length(args.resume, scheduler.total_steps, args.epochs, len(train_loader))
        if out is None:
            data_part = preset_key if preset_key == "folder" else args.data
            out = claim(Path("runs") / f"{data_part}-{args.model}-{time.strftime('%Y%m%d-%H%M%S')}")
        config = {**{k: v for k, v in vars(args).items() if k != "func"}, "processes": dist.world_size()}
        # Atomic, like every other file of the run: a full disk must not leave half a config.
        text = (json.dumps(config, indent=2) + "\n").encode("utf-8")
        meta = {"model": args.model, "model_kwargs": json.dumps(model_kwargs), "data": args.data,
                "classes": json.dumps(classes), "input_shape": json.dumps(list(shape))}
        if dist.is_main():
            juanji.io.atomic_write(out / "config.json", lambda f: f.write(text))
            _save_initial(out, model, {**meta, "epochs": "0"}, args.resume)
        callbacks: list[Any] = [ModelCheckpoint(out, save_best=False), CSVLogger(out / "log.csv")]
        if args.patience is not None:
            callbacks.append(EarlyStopping(patience=args.patience))
        say = _printer(args.quiet or not dist.is_main())
        _say_distributed(say, args.batch_size, args.lr)
        split = (f"{len(train_ds)} train / {len(val_ds)} validation" if val_ds is not None
                 else f"{len(train_ds)} train (no validation)")
        say(f"training {args.model} ({model.num_parameters():,} parameters) on {args.data}: "
            f"{split} / {len(test_ds)} test images (test measured once, at the end) "
            f"of shape {shape}, {len(classes)} classes; {args.epochs} epochs, batch {args.batch_size}, "
            f"{args.optimizer} lr {args.lr:g}{_recipe_words(args)}, seed {args.seed}")
        start = time.perf_counter()
        history = trainer.fit(train_loader, val_loader, epochs=args.epochs, callbacks=callbacks,
                              resume=args.resume, verbose=not args.quiet)
        elapsed = time.perf_counter() - start
        result = trainer.evaluate(test_loader)
        meta["epochs"] = str(trainer.epoch)
        if dist.is_main():
            _finish_run(args, trainer, history, result, meta, out, len(test_ds), elapsed, "images", [])
    return 0


def _rank_part(dataset: Any) -> Any:
    """This rank's part of an evaluation set (samples rank, rank + N, ...; all of it in a
    single process): no sample twice, so the loss and metrics summed over the ranks are exact."""
    from .data import Subset
    from .distributed import comm as dist

    if dataset is None or dist.world_size() == 1:
        return dataset
    return Subset(dataset, np.arange(dist.rank(), len(dataset), dist.world_size()))


def _data_parallel(model: Any, args: argparse.Namespace) -> Any:
    """The model wrapped in DistributedDataParallel (its batch norms made SyncBatchNorm with
    --sync-batchnorm) when several processes train; the model itself otherwise."""
    from .distributed import DistributedDataParallel, convert_sync_batchnorm
    from .distributed import comm as dist

    if dist.world_size() == 1:
        return model
    if args.sync_batchnorm:
        convert_sync_batchnorm(model)
    return DistributedDataParallel(model)


def _say_distributed(say: Any, batch_size: int, lr: float) -> None:
    from .distributed import comm as dist

    n = dist.world_size()
    if n > 1:
        say(f"distributed: {n} processes x batch {batch_size} = {n * batch_size} samples per step; the learning "
            f"rate {lr:g} is used as given (the linear scaling rule would suggest up to {lr * n:g} for the "
            f"{n}x larger batch, with a warm-up; see docs/distributed.md)")


def _save_initial(out: Path, model: Any, meta: dict[str, str], resume: str | None) -> None:
    """Write the model's initial weights to ``out/initial.safetensors`` (a resumed run keeps the
    file of its first start: its model already moved)."""
    import juanji

    if resume is None:
        juanji.io.save(model.state_dict(), out / INITIAL_WEIGHTS, metadata=meta)


def _finish_run(args: argparse.Namespace, trainer: Any, history: Any, result: dict[str, float],
                meta: dict[str, str], out: Path, n_test: int, elapsed: float, unit: str,
                extra_files: list[Path]) -> None:
    """Write the weights (never non-finite ones), the history and the curves; print the test result."""
    import juanji

    say = _printer(args.quiet)
    weights_path = out / f"weights.{args.format}"
    trainer.check_finite(f"not writing '{weights_path}': the weights diverged")
    weights = juanji.io.save(trainer.model.state_dict(), weights_path, metadata=meta)
    history.to_csv(out / "history.csv")
    history.plot(out / "learning_curves.png", title=f"{args.model} on {args.data}", val_label="validation")
    correct = int(round(result["accuracy"] * n_test))
    say(f"test accuracy: {result['accuracy']:.2%} ({correct}/{n_test})  test loss: {result['loss']:.4f}")
    if len(history):
        say(f"time: {elapsed:.1f} s ({np.mean(history['time']):.2f} s/epoch over {len(history)} epochs, "
            f"{np.mean(history['images_per_sec']):.0f} {unit}/s training)")
    written = [weights, *extra_files, out / "history.csv", out / "learning_curves.png", out / "last.safetensors"]
    if not getattr(args, "no_report", False):
        report = _write_report(out, getattr(args, "debug", False))
        if report is not None:
            written.append(report)
    say(f"wrote {', '.join(map(str, written))}")
    if args.quiet:
        print(f"{result['accuracy']:.4f}")


def _write_report(out: Path, debug: bool) -> Path | None:
    """Build ``out/report.html`` at the end of a run; on any failure print one warning and go on.

    The weights, history and curves are written by then, so a report that cannot be built
    (a data set that cannot be read again, a missing plotting library, a bug) must not turn
    a finished run into a failed one: ``juanji report RUN_DIR`` can build it later.
    """
    from .report import build_report

    try:
        return build_report(out)
    except Exception as e:  # noqa: BLE001 - whatever the cause, the run itself succeeded
        if debug:
            import traceback

            traceback.print_exc()
        print(f"juanji train: warning: the run is complete, but its report could not be written: "
              f"{_one_line(_message(e, 'train'))} (try again with: juanji report '{out}')", file=sys.stderr, flush=True)
        return None


def cmd_report(args: argparse.Namespace) -> int:
    """``juanji report RUN_DIR``: (re)build a run folder's report.html and print its path."""
    from .report import build_report

    try:
        path = build_report(args.run_dir)
    except ValueError as e:  # not a run folder, or a corrupt file in it: a bad argument
        raise CLIError(str(e).removeprefix("build_report: ")) from e
    except ImportError as e:  # matplotlib or Pillow missing: the message says what to install
        raise CLIError(str(e)) from e
    print(path)
    return 0


def _printer(quiet: bool) -> Any:
    """``say(msg)``: print unless quiet (distributed, every rank but 0 is quiet)."""
    def say(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)
    return say


# --- text (TextCNN) ----------------------------------------------------------------------------
def _folder_kind(path: Path, limit: int = 10_000) -> str:
    """``"text"`` when a folder's files are ``.txt`` and none is an image, else ``"image"``
    (looks at up to ``limit`` files, hidden ones skipped)."""
    texts = images = seen = 0
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for fn in filenames:
            if fn.startswith("."):
                continue
            suffix = Path(fn).suffix.lower()
            texts += suffix == ".txt"
            images += suffix in _IMAGE_SUFFIXES
            seen += 1
            if seen >= limit:
                break
        if seen >= limit:
            break
    return "text" if texts and not images else "image"


def is_text_data(name: str | None) -> bool:
    """Whether ``--data name`` is text: a fortunes corpus, a .tsv/.csv file, or a folder of .txt files."""
    if not name:
        return False
    if name in TEXT_DATASETS:
        return True
    path = Path(name).expanduser()
    if path.suffix.lower() in _TEXT_SUFFIXES:
        return True
    return path.is_dir() and _folder_kind(path) == "text"


def _tokenizer(spec: dict[str, Any]) -> Any:
    from .data import CharTokenizer, WordTokenizer

    cls = {"word": WordTokenizer, "char": CharTokenizer}[spec["kind"]]
    return cls(lower=spec.get("lower", True))


def _read_labelled(path: Path, args: argparse.Namespace, classes: Sequence[str] | None,
                   what: str) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts, labels and classes of a TSV/CSV file or a folder of class sub-folders of .txt files."""
    from .data import read_delimited, read_text_folder

    if not path.exists():
        raise CLIError(f"{what}: no such file or folder: '{path}'")
    if path.is_dir():
        return read_text_folder(path, classes=classes)
    column = lambda v: int(v) if v.isdigit() else v  # noqa: E731 - a name or a 0-based index
    return read_delimited(path, text_column=column(args.text_column), label_column=column(args.label_column),
                          classes=classes)


def _seeded_split(n: int, fraction: float, seed: int, salt: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) index arrays: ``floor(n * fraction)`` indices held out, chosen by (seed, salt)."""
    order = np.random.default_rng([seed, salt]).permutation(n)
    k = int(n * fraction)
    return np.sort(order[k:]), np.sort(order[:k])


def load_text_data(args: argparse.Namespace) -> dict[str, Any]:
    """The text splits of ``--data``: ``{"train"|"val"|"test": (texts, labels), "classes", "preset", "how"}``.

    fortunes corpora: their own splits. A file or folder: ``--test PATH`` is the test set, else
    ``--test-split`` of it is held out (seeded by ``--seed``); a folder with ``train/`` and
    ``test/`` uses those; validation is ``--val-split`` of what is left (seeded), as for images.
    """
    name = args.data
    if name in TEXT_DATASETS:
        from .data.fortunes import FORTUNES_DATASETS

        corpus = FORTUNES_DATASETS[name]()
        parts = {s: corpus.split(s) for s in ("train", "val", "test")}
        if args.test is not None:
            raise CLIError(f"--test: {name} has its own test split; --test is for a file or folder of your own")
        return {**parts, "classes": list(corpus.classes), "preset": name, "how": "the corpus' own splits"}
    path = Path(name).expanduser()
    if path.is_dir() and (path / "train").is_dir() and (path / "test").is_dir() and args.test is None:
        texts, labels, classes = _read_labelled(path / "train", args, None, "--data")
        test = _read_labelled(path / "test", args, classes, "--data")[:2]
        how = f"test from '{path / 'test'}'"
    else:
        texts, labels, classes = _read_labelled(path, args, None, "--data")
        if args.test is not None:
            test = _read_labelled(Path(args.test).expanduser(), args, classes, "--test")[:2]
            how = f"test from '{args.test}'"
        else:
            keep, held = _seeded_split(len(texts), args.test_split, args.seed, 1)
            if len(held) == 0:
                raise CLIError(f"--data '{path}': {len(texts)} texts leave no test set at --test-split "
                               f"{args.test_split}; give --test PATH or a larger --test-split")
            test = ([texts[i] for i in held], labels[held])
            texts, labels = [texts[i] for i in keep], labels[keep]
            how = f"test: {args.test_split:g} of the file held out (seed {args.seed})"
    val: tuple[list[str], np.ndarray] | None = None
    if args.val_split > 0:
        keep, held = _seeded_split(len(texts), args.val_split, args.seed, 2)
        if len(held):
            val = ([texts[i] for i in held], labels[held])
            texts, labels = [texts[i] for i in keep], labels[keep]
    return {"train": (texts, labels), "val": val, "test": test, "classes": classes, "preset": "text-file",
            "how": how}


# fastText's default of 5 skipgram epochs presumes a large corpus. On a small one the vectors barely
# leave their shared starting direction: after 5 epochs over fortunes-topics' 338k training tokens,
# two random words' vectors have a mean cosine of 0.97 and static TextCNN reaches 28% on the test
# split; after 30 epochs the cosine is 0.23, a word's neighbours share its stem (computer:
# minicomputer, compute, computerised) and static TextCNN reaches 56% (bench/NOTES.md, "TextCNN
# against fastText"). So --train-vectors runs enough epochs for this many token visits in all.
VECTOR_TOKEN_VISITS = 10_000_000


def vectors_epochs(n_tokens: int) -> int:
    """Skipgram epochs for a training corpus of ``n_tokens`` tokens: ceil(10M / n_tokens), in [5, 50]."""
    return min(50, max(5, -(-VECTOR_TOKEN_VISITS // max(n_tokens, 1))))


def _pretrained(args: argparse.Namespace, vocab: Any, train_texts: list[str], tokenize: Any, out: Path,
                say: Any) -> np.ndarray | None:
    """The (V, E) vectors for --vectors / --train-vectors aligned to the vocabulary, else None."""
    from .data import align_vectors, read_vectors, train_fasttext_vectors

    if args.vectors and args.train_vectors:
        raise CLIError("--vectors and --train-vectors: give one (a file of vectors, or train them here)")
    if not (args.vectors or args.train_vectors):
        if args.variant != "rand":
            raise CLIError(f"--variant {args.variant} needs pretrained vectors: --vectors PATH or --train-vectors")
        return None
    if args.variant == "rand":
        raise CLIError("--variant rand learns its vectors from scratch; with --vectors/--train-vectors choose "
                       "--variant static, non-static or multichannel")
    if args.train_vectors:
        # Tokenised as the vocabulary is, joined by spaces (fastText splits on whitespace).
        # The train split only: vectors that saw the test sentences would leak them.
        start = time.perf_counter()
        dim = args.embed_dim
        vec_dir = out / "vectors"
        lines = [" ".join(tokenize(t)) for t in train_texts]
        epochs = args.vectors_epochs or vectors_epochs(sum(len(line.split()) for line in lines))
        path = train_fasttext_vectors(lines, vec_dir, dim=dim, epochs=epochs, min_count=args.min_freq,
                                      seed=args.seed)
        say(f"trained {dim}-d skipgram vectors on the {len(lines)} training texts only: fasttext skipgram "
            f"-input {vec_dir / 'train.txt'} -output {vec_dir / 'vectors'} -dim {dim} -epoch {epochs} "
            f"-minCount {args.min_freq} -thread 1 -seed {args.seed} ({time.perf_counter() - start:.1f} s)")
    else:
        path = Path(args.vectors).expanduser()
        if not path.is_file():
            raise CLIError(f"--vectors: no such file: '{path}'")
    words, vectors = read_vectors(path, vocab=vocab)
    if args.embed_dim_given and vectors.shape[1] != args.embed_dim:
        raise CLIError(f"--vectors '{path}' holds {vectors.shape[1]}-d vectors but --embed-dim is {args.embed_dim}; "
                       "drop --embed-dim (the vectors' width is taken) or give vectors of that width")
    aligned = align_vectors(vocab, words, vectors, seed=args.seed)
    say(f"vectors '{path}': {vectors.shape[1]}-d, {aligned.found}/{len(vocab) - 2} vocabulary tokens found "
        f"({aligned.coverage:.1%} coverage); the others drawn from U[-a, a], a = {float(np.mean(aligned.scale)):.3f}")
    args.embed_dim = int(vectors.shape[1])
    return aligned.weights


def _text_meta(args: argparse.Namespace, model_kwargs: dict[str, Any], classes: list[str], tok_spec: dict[str, Any],
               epochs: int, best_epoch: int | None) -> dict[str, str]:
    meta = {"model": args.model, "model_kwargs": json.dumps(model_kwargs), "data": str(args.data),
            "classes": json.dumps(classes), "input": "text", "tokenizer": json.dumps(tok_spec),
            "max_len": json.dumps(args.max_len), "vocab_size": str(model_kwargs["vocab_size"]), "epochs": str(epochs)}
    if best_epoch is not None:
        meta["best_epoch"] = str(best_epoch)
    return meta


def _train_text(args: argparse.Namespace, out: Path | None, claim: Any) -> int:
    """``juanji train`` on text: a TextCNN with Kim's recipe (see the module notes)."""
    import juanji

    from .data import DataLoader, DistributedSampler, PadCollate, TextDataset, Vocab
    from .distributed import comm as dist
    from .models import get_model
    from .train import CSVLogger, EarlyStopping, MaxNormCallback, ModelCheckpoint, Trainer, load_weights

    if args.model is not None and args.model not in TEXT_MODELS:
        raise CLIError(f"--model {args.model} takes images; text data ({args.data}) needs --model "
                       f"{' or '.join(TEXT_MODELS)}")
    if not is_text_data(args.data):
        raise CLIError(f"--model {args.model} classifies text, but --data {args.data} is not text; give "
                       f"{', '.join(TEXT_DATASETS)}, a .tsv/.csv file or a folder of class sub-folders of .txt files")
    if args.augment:
        raise CLIError("--augment translates images; it does not apply to text")
    if args.random_erasing:
        raise CLIError("--random-erasing erases rectangles of images; it does not apply to text")
    if args.hflip:
        raise CLIError("--hflip mirrors images; it does not apply to text")
    for given, option in ((args.scheduler == "onecycle", "--scheduler onecycle"),
                          (args.warmup_epochs, "--warmup-epochs"), (args.label_smoothing, "--label-smoothing"),
                          (args.nesterov, "--nesterov")):
        if given:
            raise CLIError(f"{option} is for image runs; text runs train with Kim's recipe (Adadelta, no schedule, "
                           "plain cross-entropy; see TEXT_PRESETS)")
    if args.train_vectors and dist.world_size() > 1:
        raise CLIError("--train-vectors trains fastText in the run folder of one process; train the vectors in a "
                       "single-process run (or with fasttext) and give them to the distributed run with --vectors")
    juanji.manual_seed(args.seed)
    parts = load_text_data(args)
    preset = TEXT_PRESETS[parts["preset"]]
    args.embed_dim_given = args.embed_dim is not None
    for key in ("model", "epochs", "batch_size", "lr", "optimizer", "scheduler", "tokenizer", "embed_dim", "max_len"):
        if getattr(args, key) is None:
            setattr(args, key, preset[key])
    classes = parts["classes"]
    tok_spec = {"kind": args.tokenizer, "lower": True}
    tokenize = _tokenizer(tok_spec)
    train_texts, train_labels = parts["train"]
    if out is None:
        data_part = args.data if args.data in TEXT_DATASETS else Path(args.data).stem
        out = claim(Path("runs") / f"{data_part}-{args.model}-{time.strftime('%Y%m%d-%H%M%S')}")
    say = _printer(args.quiet or not dist.is_main())
    vocab_path = out / "vocab.json"
    vocab = None
    if dist.is_main():  # distributed: rank 0's vocabulary (the run folder may be on its host only)
        if args.resume is not None and vocab_path.is_file():
            vocab = Vocab.load(vocab_path)  # the resumed run's own ids, whatever the options now
        else:
            vocab = Vocab.build(map(tokenize, train_texts), min_freq=args.min_freq)
    vocab = dist.broadcast_object(vocab)
    pretrained = _pretrained(args, vocab, train_texts, tokenize, out, say)
    model_kwargs: dict[str, Any] = {
        "vocab_size": len(vocab), "num_classes": len(classes), "embed_dim": args.embed_dim,
        "filter_sizes": list(args.filter_sizes), "num_filters": args.num_filters, "dropout": args.dropout,
        "variant": args.variant, "max_norm": args.max_norm if args.max_norm > 0 else None}
    try:
        model = get_model(args.model, **model_kwargs, pretrained=pretrained)
    except (ValueError, TypeError) as e:
        raise CLIError(f"cannot build {args.model}: {e}") from e

    def dataset(part: tuple[list[str], np.ndarray]) -> Any:
        return TextDataset(part[0], part[1], tokenize, vocab, max_len=args.max_len)

    train_ds = dataset(parts["train"])
    val_ds = dataset(parts["val"]) if parts["val"] is not None else None
    test_ds = dataset(parts["test"])
    # Bucketed by length: a batch pads to its longest sentence, so similar lengths waste less.
    sampler = DistributedSampler(train_ds, seed=args.seed) if dist.world_size() > 1 else None
    train_loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=sampler is None, seed=args.seed,
                              collate_fn=PadCollate(), bucket_by=train_ds.lengths, sampler=sampler)

    def eval_loader(ds: Any) -> Any:
        part = _rank_part(ds)
        lengths = ds.lengths if part is ds else ds.lengths[part.indices]
        return DataLoader(part, batch_size=256, collate_fn=PadCollate(), bucket_by=lengths)

    val_loader = eval_loader(val_ds) if val_ds is not None else None
    opt = _optimizer(args.optimizer, model.parameters(), args.lr, args.momentum, args.weight_decay)
    trainer = Trainer(_data_parallel(model, args), opt, "cross_entropy", metrics=["accuracy"],
                      scheduler=_scheduler(args.scheduler, opt, args.epochs), unit="sample")
    config = {**{k: v for k, v in vars(args).items() if k not in ("func", "embed_dim_given")},
              "processes": dist.world_size()}
    text = (json.dumps(config, indent=2) + "\n").encode("utf-8")
    if dist.is_main():
        juanji.io.atomic_write(out / "config.json", lambda f: f.write(text))
        if not (args.resume is not None and vocab_path.is_file()):
            vocab.save(vocab_path)
        _save_initial(out, model, _text_meta(args, model_kwargs, classes, tok_spec, 0, None), args.resume)
    _say_distributed(say, args.batch_size, args.lr)
    # Kim: the model of the epoch with the best validation loss is the one tested and kept.
    checkpoint = ModelCheckpoint(out, monitor="val_loss" if val_ds is not None else "loss", mode="min",
                                 save_best=val_ds is not None)
    callbacks: list[Any] = [MaxNormCallback(), checkpoint, CSVLogger(out / "log.csv")]
    if args.patience is not None:
        callbacks.append(EarlyStopping(patience=args.patience))
    split = (f"{len(train_ds)} train / {len(val_ds)} validation" if val_ds is not None
             else f"{len(train_ds)} train (no validation)")
    say(f"training {args.model} ({args.variant}, {model.num_parameters():,} parameters) on {args.data}: {split} / "
        f"{len(test_ds)} test texts ({parts['how']}; test measured once, at the end), {len(classes)} classes; "
        f"{args.tokenizer} tokens, vocabulary {len(vocab):,} (train split, min freq {args.min_freq}), "
        f"max length {args.max_len}, embedding {args.embed_dim}; {args.epochs} epochs, batch {args.batch_size}, "
        f"{args.optimizer} lr {args.lr:g}, max-norm {args.max_norm:g}, seed {args.seed}")
    start = time.perf_counter()
    history = trainer.fit(train_loader, val_loader, epochs=args.epochs, callbacks=callbacks,
                          resume=args.resume, verbose=not args.quiet)
    elapsed = time.perf_counter() - start
    best_epoch = checkpoint.best_epoch if val_ds is not None else None
    if best_epoch is not None and checkpoint.best_path.is_file():
        load_weights(model, checkpoint.best_path)
        say(f"keeping the weights of epoch {best_epoch} (best validation loss {checkpoint.best:.4f}, "
            f"'{checkpoint.best_path}') for the test and for the weights file")
    elif dist.is_main():
        say("no validation split: keeping the last epoch's weights")
    if dist.world_size() > 1:  # rank 0 alone wrote and read best.safetensors: its weights for all
        best_epoch = dist.broadcast_object(best_epoch)
        for t in [*model.parameters(), *model.buffers()]:
            dist.broadcast_(t.data)
    result = trainer.evaluate(eval_loader(test_ds))
    meta = _text_meta(args, model_kwargs, classes, tok_spec, trainer.epoch, best_epoch)
    if dist.is_main():
        _finish_run(args, trainer, history, result, meta, out, len(test_ds), elapsed, "texts", [vocab_path])
    return 0


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
    lacks is None. ``input`` is ``"text"`` for a text run (``"image"`` otherwise) and ``raw``
    the file's metadata as stored (text runs keep their tokenizer and max_len there).

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
            "input_shape": tuple(shape) if shape is not None else None, "model_kwargs": kwargs,
            "input": meta.get("input", "image"), "raw": meta}


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
    if meta["input"] == "text":
        return _evaluate_text(args, meta)
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


# --- text: evaluate / predict ------------------------------------------------------------------
_MAX_FILTERS = 1 << 16


def _load_text_model(weights: str, vocab_arg: str | None, meta: dict[str, Any]) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(model, vocab, tokenizer, metadata) of a text run's weights; the vocabulary is ``vocab_arg``
    or ``vocab.json`` beside the weights, and must be the one the weights were trained with."""
    from . import io
    from .data import Vocab
    from .models import get_model, list_models
    from .train.checkpoint import load_weights

    path = Path(weights)
    raw = meta["raw"]
    name = meta["model"]
    if name not in list_models():
        raise CLIError(f"'{path}': metadata 'model' {_shown(str(name))} is not a known model")
    kwargs = meta["model_kwargs"]
    try:
        tok_spec = json.loads(raw.get("tokenizer", "null"))
        max_len = json.loads(raw.get("max_len", "null"))
    except json.JSONDecodeError:
        tok_spec = max_len = "bad"
    if not (isinstance(tok_spec, dict) and tok_spec.get("kind") in ("word", "char")
            and isinstance(tok_spec.get("lower", True), bool)):
        raise CLIError(f"'{path}': metadata 'tokenizer' must be a JSON object with kind 'word' or 'char', "
                       f"got {_shown(raw.get('tokenizer', '(none)'))}")
    if max_len is not None and (not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 1):
        raise CLIError(f"'{path}': metadata 'max_len' must be a positive integer or null, got {_shown(raw['max_len'])}")
    if not isinstance(kwargs, dict) or not isinstance(kwargs.get("vocab_size"), int):
        raise CLIError(f"'{path}': metadata 'model_kwargs' does not record the vocabulary size")
    vocab_path = Path(vocab_arg) if vocab_arg else path.parent / "vocab.json"
    if not vocab_path.is_file():
        raise CLIError(f"no vocabulary for '{path}': '{vocab_path}' not found (train writes vocab.json beside "
                       "the weights; give --vocab PATH)")
    vocab = Vocab.load(vocab_path)  # a malformed file is a ValueError naming it
    # The embedding's rows come from the file itself, so nothing is built from a size that only
    # the metadata claims: the vocabulary, the metadata and the weights must agree.
    arrays = io.read(path)[0]
    emb = arrays.get("embedding.weight")
    rows = int(emb.shape[0]) if emb is not None and getattr(emb, "ndim", 0) == 2 else kwargs["vocab_size"]
    if len(vocab) != rows or rows != kwargs["vocab_size"]:
        raise CLIError(f"the vocabulary '{vocab_path}' has {len(vocab)} tokens but the weights '{path}' have "
                       f"{rows} embedding rows: not the vocabulary these weights were trained with")
    if emb is not None and getattr(emb, "ndim", 0) == 2 and kwargs.get("embed_dim") != int(emb.shape[1]):
        raise CLIError(f"'{path}': metadata embed_dim {kwargs.get('embed_dim')!r} but the embedding is {emb.shape[1]} wide")
    if not isinstance(kwargs.get("num_filters", 100), int) or kwargs.get("num_filters", 100) > _MAX_FILTERS:
        raise CLIError(f"'{path}': metadata num_filters must be an int <= {_MAX_FILTERS}")
    build = dict(kwargs)
    if build.get("variant", "rand") != "rand":  # the builder wants vectors; the file's replace them
        build["pretrained"] = np.zeros((rows, int(emb.shape[1]) if emb is not None else build["embed_dim"]), np.float32)
    try:
        model = get_model(name, **build)
        load_weights(model, path)
    except (ValueError, TypeError) as e:
        raise CLIError(f"{name} cannot take the weights '{path}': {e}") from e
    model.eval()
    return model, vocab, _tokenizer(tok_spec), {**meta, "max_len": max_len, "tokenizer": tok_spec}


def _text_loader(texts: list[str], labels: np.ndarray, tokenize: Any, vocab: Any, max_len: int | None,
                 batch_size: int) -> tuple[Any, Any]:
    from .data import DataLoader, PadCollate, TextDataset

    ds = TextDataset(texts, labels, tokenize, vocab, max_len=max_len)
    return ds, DataLoader(ds, batch_size=batch_size, collate_fn=PadCollate(), bucket_by=ds.lengths)


def _evaluate_text(args: argparse.Namespace, meta: dict[str, Any]) -> int:
    from .train import Trainer, get_metric

    model, vocab, tokenize, meta = _load_text_model(args.weights, args.vocab, meta)
    classes = meta["classes"]
    if classes is None:
        raise CLIError(f"'{args.weights}' does not record its classes")
    data_name = args.data or meta["data"]
    if data_name in TEXT_DATASETS:
        from .data.fortunes import FORTUNES_DATASETS

        corpus = FORTUNES_DATASETS[data_name]()
        if list(corpus.classes) != classes:
            raise CLIError(f"'{args.weights}' was trained on the classes {classes} but {data_name} has "
                           f"{list(corpus.classes)} here")
        texts, labels = corpus.split("test")
        what = f"{data_name} test split"
    elif args.data is not None:
        texts, labels, _ = _read_labelled(Path(args.data).expanduser(), args, classes, "--data")
        what = f"'{args.data}'"
    else:
        raise CLIError(f"'{args.weights}' was trained on {data_name!r}, not a corpus juanji knows: give its test "
                       "file with --data PATH (TSV/CSV or a folder of class sub-folders)")
    ds, loader = _text_loader(texts, labels, tokenize, vocab, meta["max_len"], args.batch_size)
    metrics = ["accuracy", "confusion_matrix"] + (["top5"] if len(classes) > 5 else [])
    trainer = Trainer(model, _NoOptimizer(), metrics=[get_metric(m) for m in metrics])
    start = time.perf_counter()
    res = trainer.evaluate(loader, verbose=not args.quiet)
    elapsed = time.perf_counter() - start
    print(f"{what}: {len(ds)} texts, {len(classes)} classes")
    print(f"loss {res['loss']:.4f}  accuracy {res['accuracy']:.2%}"
          + (f"  top-5 accuracy {res['top5_accuracy']:.2%}" if "top5_accuracy" in res else "")
          + f"  ({len(ds) / max(elapsed, 1e-9):.0f} texts/s)")
    _per_class(res["confusion_matrix"], classes)
    return 0


def _per_class(cm: np.ndarray, classes: list[str]) -> None:
    per_class = cm.diagonal() / np.maximum(cm.sum(axis=1), 1)
    width = max(len(c) for c in classes)
    for c, acc, n in zip(classes, per_class, cm.sum(axis=1)):
        print(f"  {c:<{width}}  {acc:7.2%}  of {n}")


def _predict_texts(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(how to show it, text) for each --text and each non-blank line of each --text-file."""
    from .data.text import MAX_TEXT_FILE_BYTES, decode_text

    texts: list[tuple[str, str]] = []
    for i, t in enumerate(args.text or [], start=1):
        if not t.strip():
            raise CLIError(f"--text number {i} is empty: give the text to classify")
        texts.append((t, t))
    for f in args.text_file or []:
        path = Path(f)
        if not path.is_file():
            raise CLIError(f"--text-file: no such file: '{path}'")
        if path.stat().st_size > MAX_TEXT_FILE_BYTES:
            raise CLIError(f"--text-file '{path}' is larger than {MAX_TEXT_FILE_BYTES} bytes (MAX_TEXT_FILE_BYTES)")
        lines = [ln for ln in decode_text(path.read_bytes(), path, "--text-file").splitlines() if ln.strip()]
        if not lines:
            raise CLIError(f"--text-file '{path}' holds no text (blank lines are skipped)")
        texts += [(ln, ln) for ln in lines]
    return texts


def _predict_text(args: argparse.Namespace, meta: dict[str, Any]) -> int:
    model, vocab, tokenize, meta = _load_text_model(args.weights, args.vocab, meta)
    texts = _predict_texts(args)
    classes = meta["classes"]
    _, loader = _text_loader([t for _, t in texts], np.zeros(len(texts), np.int64), tokenize, vocab,
                             meta["max_len"], 256)
    from .train import Trainer

    # The loader buckets by length, so map its batches back to the texts' own order.
    order = np.concatenate(loader.batches(0))
    probs = np.empty((len(texts), _num_classes(classes, model)), np.float64)
    probs[order] = Trainer(model, _NoOptimizer(), metrics=[]).predict(loader, probabilities=True)
    k = min(args.top_k, probs.shape[1])
    for (shown, text), p in zip(texts, probs):
        top = np.argsort(-p, kind="stable")[:k]
        names = [classes[i] if classes else str(i) for i in top]
        label = " ".join(shown.split())
        label = label if len(label) <= 60 else label[:57] + "..."
        ids = vocab.encode(tokenize(text))
        note = "  (no token of it is in the vocabulary)" if len(ids) and (ids == vocab.unk_index).all() else ""
        print(f"{label!r}: " + ", ".join(f"{n} {p[i]:.1%}" for n, i in zip(names, top)) + note)
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
    from .train import Trainer

    if not args.images and not (args.text or args.text_file):
        raise CLIError("give image files to classify, or --text TEXT / --text-file PATH for a text model")
    if args.images and (args.text or args.text_file):
        raise CLIError("give image files or --text/--text-file, not both")
    meta = read_weights_meta(args.weights)
    if meta["input"] == "text":
        if args.images:
            raise CLIError(f"'{args.weights}' is a text model ({meta['model']}): give --text TEXT or --text-file "
                           f"PATH, not image files")
        return _predict_text(args, meta)
    if args.text or args.text_file:
        raise CLIError(f"'{args.weights}' classifies images, not text: give image files")
    model, meta = _load_model(args.weights, args.model)
    classes = meta["classes"]
    batch = [read_image(image, meta["input_shape"], args.invert) for image in args.images]
    k = min(args.top_k, _num_classes(classes, model))
    probs = Trainer(model, _NoOptimizer(), metrics=[]).predict(np.stack(batch).astype(np.float32),
                                                               probabilities=True)  # (N, K)
    for image, p in zip(args.images, probs):
        top = np.argsort(-p, kind="stable")[:k]
        names = [classes[i] if classes else str(i) for i in top]
        print(f"{image}: " + ", ".join(f"{n} {p[i]:.1%}" for n, i in zip(names, top)))
    return 0


def read_image(path: str, input_shape: Sequence[int], invert: bool = False) -> np.ndarray:
    """An image file as the model's input (C, H, W) float32 in [0, 1], as ``predict`` reads it.

    Decoded with Pillow, converted to grayscale (C = 1) or RGB (C = 3), resized bilinearly to
    (H, W) whatever its own size (``Resize``, half-pixel centres) and scaled by 1/255 as the
    DataLoader scales uint8 images; ``invert`` gives 1 - x (dark ink on white paper -> the
    white-on-black digits). Every way it can fail is a CLIError naming the file.
    """
    from .data import load_image
    from .data.transforms import Resize

    c, h, w = input_shape
    if c not in (1, 3):
        raise CLIError(f"the model takes {c}-channel images (input shape {tuple(input_shape)}), but an image file "
                       f"is read as 1 channel (grayscale) or 3 (RGB)")
    try:
        img = load_image(path, mode="L" if c == 1 else "RGB")  # (C, H0, W0) uint8
    except FileNotFoundError as e:
        raise CLIError(f"no such image: '{path}'") from e
    except ValueError as e:
        raise CLIError(str(e)) from e
    x = Resize((h, w))(img.astype(np.float32) / 255.0)  # (C, H, W) in [0, 1], as the DataLoader scales
    return (1.0 - x if invert else x).astype(np.float32)


def _num_classes(classes: list[str] | None, model: Any) -> int:
    """The class count: from the recorded class names, else the last layer's output size."""
    if classes:
        return len(classes)
    return int(list(model.parameters())[-1].shape[0])


# --- viz -------------------------------------------------------------------------------------
def _viz_model(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The image model of ``--weights`` (eval mode) and its metadata; a text model is refused."""
    meta = read_weights_meta(args.weights)
    if meta["input"] == "text":
        raise CLIError(f"'{args.weights}' is a text model ({meta['model']}): juanji viz draws the filters, feature "
                       "maps and saliency of image models")
    return _load_model(args.weights, args.model)


def _viz_out(args: argparse.Namespace, default: str) -> Path:
    """``--out``, else ``default`` beside the weights (the run folder)."""
    return Path(args.out) if args.out else Path(args.weights).parent / default


def _viz_target(text: str | None, classes: list[str] | None, model: Any) -> int | None:
    """``--target`` as a class index: a class name (as the weights record them) or an index."""
    if text is None:
        return None
    if classes and text in classes:
        return classes.index(text)
    k = _num_classes(classes, model)
    if text.strip().isdigit() and int(text) < k:
        return int(text)
    names = f"; the classes: {', '.join(classes)}" if classes else ""
    raise CLIError(f"--target {text!r} is not a class of the model: give a class name or an index 0..{k - 1}{names}")


def _viz_image(args: argparse.Namespace, meta: dict[str, Any]) -> np.ndarray:
    """The image for a picture, (C, H, W) float32 in [0, 1]. A picture shows where in the image
    the model looked, so the image must already have the model's input size and channels (a
    silent resize would stretch what the maps show); ``--fit`` converts and resizes it as
    ``predict`` does instead."""
    c, h, w = meta["input_shape"]
    if not args.fit:
        from PIL import Image

        try:
            with Image.open(args.image) as img:
                size, mode = img.size, img.mode  # (W0, H0), read from the header alone
        except FileNotFoundError as e:
            raise CLIError(f"no such image: '{args.image}'") from e
        except Exception:  # not an image, corrupt, a bomb: read_image below names the problem
            size, mode = None, None
        if size is not None:
            channels = {"1": 1, "L": 1, "I": 1, "F": 1, "I;16": 1, "RGB": 3, "P": 3, "YCbCr": 3}.get(mode)
            wrong_size = (size[1], size[0]) != (h, w)
            if wrong_size or channels != c:
                own = f"{channels}-channel" if channels else f"{mode}-mode"
                raise CLIError(f"'{args.image}' is a {own} {size[1]}x{size[0]} image, but {meta['model']} takes "
                               f"input of shape (C, H, W) = ({c}, {h}, {w}); give an image of that size and "
                               "channels, or --fit to convert and resize it as predict does")
    return read_image(args.image, meta["input_shape"], args.invert)  # decodes, converts, checks


def _viz_save(picture: Any, path: Path) -> int:
    if not path.parent.is_dir():
        raise CLIError(f"--out '{path}': no such folder '{path.parent}'")
    print(picture.save(path))
    return 0


def cmd_viz(args: argparse.Namespace) -> int:
    """``juanji viz filters|features|saliency|gradcam``: a picture of a trained model, as a PNG."""
    from . import viz
    from .nn.conv import Conv2d
    from .viz._model import resolve_layer

    model, meta = _viz_model(args)
    convs = [n for n, m in model.named_modules() if n and isinstance(m, Conv2d)]
    try:
        if args.viz_command == "filters":
            if args.layer is None:
                if not convs:
                    raise CLIError(f"{meta['model']} has no convolution (Conv2d) whose filters could be drawn")
                name, layer = convs[0], dict(model.named_modules())[convs[0]]
            else:
                name, layer = resolve_layer("--layer", model, args.layer)
                if not isinstance(layer, Conv2d):
                    raise CLIError(f"--layer {name!r} is a {type(layer).__name__}, not a convolution (Conv2d); the "
                                   f"convolutions of {meta['model']}: {', '.join(convs) or '(none)'}")
            return _viz_save(viz.filters(layer, name=name), _viz_out(args, "filters.png"))
        x = _viz_image(args, meta)  # (C, H, W)
        stem = Path(args.image).stem
        if args.viz_command == "features":
            layers = [n.strip() for n in args.layers.split(",") if n.strip()] if args.layers else None
            if layers is None and not convs:
                raise CLIError(f"{meta['model']} has no convolution (Conv2d): choose layers with --layers A,B")
            return _viz_save(viz.feature_maps(model, x, layers=layers), _viz_out(args, f"features-{stem}.png"))
        target = _viz_target(args.target, meta["classes"], model)
        if args.viz_command == "saliency":
            return _viz_save(viz.saliency(model, x, target=target), _viz_out(args, f"saliency-{stem}.png"))
        if args.layer is None and not convs:
            raise CLIError(f"{meta['model']} has no convolution (Conv2d) for Grad-CAM: choose one with --layer NAME")
        return _viz_save(viz.grad_cam(model, x, target=target, layer=args.layer), _viz_out(args, f"gradcam-{stem}.png"))
    except (ValueError, TypeError) as e:  # the picture functions' checks name the argument and shapes
        raise CLIError(str(e)) from e


def _viz_parsers(sub: Any) -> None:
    v = sub.add_parser("viz", help="draw a trained image model's filters, feature maps, saliency or Grad-CAM",
                       description="Pictures of what a trained image model learned, each written as a PNG (default: "
                                   "beside the weights) whose path is printed. Images must have the model's input size and "
                                   "channels; --fit converts and resizes them as predict does.")
    pics = v.add_subparsers(dest="viz_command", metavar="PICTURE")
    pics.required = True

    def common(p: argparse.ArgumentParser, out: str, image: bool) -> None:
        if image:
            p.add_argument("image", metavar="IMAGE", help="an image file (PNG, JPEG, ...)")
        p.add_argument("--weights", required=True, metavar="PATH", help="weights written by juanji train")
        p.add_argument("--model", default=None, help="model name (default: recorded in the weights)")
        p.add_argument("--out", default=None, metavar="PNG", help=f"the picture (default: {out} beside the weights)")
        if image:
            p.add_argument("--invert", action="store_true",
                           help="invert the image (dark ink on white paper -> the white-on-black digits)")
            p.add_argument("--fit", action="store_true",
                           help="convert the image to the model's channels and resize it to its input, as predict "
                                "does (default: an image of another size or channel count is an error, since the "
                                "maps would show a stretched image)")
        _threads_arg(p)
        _debug_arg(p)
        p.set_defaults(func=cmd_viz)

    f = pics.add_parser("filters", help="a convolution's kernels as a grid of tiles",
                        description="Draw a convolution's kernels, one tile per filter (grey for 1 input channel, "
                                    "colour for 3, one row of channels per filter otherwise).")
    f.add_argument("--layer", default=None, metavar="NAME",
                   help="the convolution, by its name in model.named_modules() (default: the first Conv2d)")
    common(f, "filters.png", image=False)
    fm = pics.add_parser("features", help="the feature maps of chosen layers for one image",
                         description="Run one image through the model and draw chosen layers' outputs, each "
                                     "channel scaled to its own range.")
    fm.add_argument("--layers", default=None, metavar="A,B",
                    help="layer names, comma-separated, as in model.named_modules() (default: every Conv2d)")
    common(fm, "features-IMAGE.png", image=True)
    sa = pics.add_parser("saliency", help="which pixels a class score is most sensitive to (Simonyan et al. 2013)",
                         description="The gradient of a class logit with respect to the image: max over channels "
                                     "of |d logit / d pixel|, beside the image.")
    sa.add_argument("--target", default=None, metavar="CLASS",
                    help="the class to explain, by name or index (default: the predicted class)")
    common(sa, "saliency-IMAGE.png", image=True)
    gc = pics.add_parser("gradcam", help="where a convolution saw the class (Grad-CAM, Selvaraju et al. 2017)",
                         description="Grad-CAM: a convolution's activations weighted by the mean gradient of a "
                                     "class logit, kept where positive, upsampled over the image.")
    gc.add_argument("--target", default=None, metavar="CLASS",
                    help="the class to explain, by name or index (default: the predicted class)")
    gc.add_argument("--layer", default=None, metavar="NAME", help="the layer (default: the last Conv2d)")
    common(gc, "gradcam-IMAGE.png", image=True)


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


def _probability(text: str) -> float:
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text}")
    return v


def _nonnegative_int(text: str) -> int:
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return v


def _data_args(p: argparse.ArgumentParser, default: str | None) -> None:
    p.add_argument("--data", default=default, metavar="NAME_OR_PATH",
                   help=f"data set: {', '.join(DATASETS)}, or an image folder (default: {default or 'from the weights, else digits'})")
    p.add_argument("--root", default=None, metavar="DIR",
                   help="directory with the data set's files (mnist, cifar10, cifar100; fashion-mnist defaults to Debian's copy)")
    p.add_argument("--image-size", type=_positive_int, default=64, metavar="S",
                   help="image folders only: resize every image to S x S (default 64)")
    p.add_argument("--grayscale", action="store_true", help="image folders only: read images as 1-channel grayscale")


def _filter_sizes(text: str) -> list[int]:
    try:
        sizes = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated positive integers such as 3,4,5, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"must be comma-separated positive integers such as 3,4,5, got {text!r}")
    return sizes


def _nonnegative_float(text: str) -> float:
    v = float(text)
    if not (v >= 0 and np.isfinite(v)):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return v


def _text_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("text files (TSV/CSV)")
    g.add_argument("--text-column", default="text", metavar="NAME_OR_INDEX",
                   help="the text column of a TSV/CSV file: a header name or 0-based index (default 'text')")
    g.add_argument("--label-column", default="label", metavar="NAME_OR_INDEX",
                   help="the label column of a TSV/CSV file (default 'label')")


def _text_train_args(t: argparse.ArgumentParser) -> None:
    _text_data_args(t)
    g = t.add_argument_group("text (TextCNN, Kim 2014; defaults per data set, see TEXT_PRESETS)")
    g.add_argument("--test", default=None, metavar="PATH",
                   help="a TSV/CSV file or folder of your own: the test set (default: --test-split of --data)")
    g.add_argument("--test-split", type=_fraction, default=0.1, metavar="F",
                   help="without --test, hold out this fraction of a text file or folder for the test, seeded "
                        "by --seed (default 0.1); validation is --val-split of the rest")
    g.add_argument("--variant", choices=("rand", "static", "non-static", "multichannel"), default="rand",
                   help="rand: vectors learned from scratch (default); static/non-static/multichannel need "
                        "--vectors or --train-vectors")
    g.add_argument("--vectors", default=None, metavar="PATH",
                   help="pretrained word vectors (word2vec text/binary, fastText .vec), aligned to the vocabulary; "
                        "their width is the embedding's")
    g.add_argument("--train-vectors", action="store_true",
                   help="train skipgram vectors with fastText on the training split only, into RUN/vectors/")
    g.add_argument("--vectors-epochs", type=_positive_int, default=None, metavar="N",
                   help="fastText epochs for --train-vectors (default: enough for ~10 million token visits, "
                        "at least 5, at most 50)")
    g.add_argument("--tokenizer", choices=("word", "char"), default=None,
                   help="word or character tokens (default: char for fortunes-languages, else word)")
    g.add_argument("--embed-dim", type=_positive_int, default=None, metavar="E",
                   help="embedding width (default 64 for fortunes-languages, else 300)")
    g.add_argument("--max-len", type=_positive_int, default=None, metavar="L",
                   help="keep the first L tokens of a text (default 256 for fortunes-languages, else 200)")
    g.add_argument("--min-freq", type=_positive_int, default=1, metavar="N",
                   help="keep tokens seen at least N times in the training split (default 1)")
    g.add_argument("--filter-sizes", type=_filter_sizes, default=[3, 4, 5], metavar="H,H,..",
                   help="filter heights (default 3,4,5)")
    g.add_argument("--num-filters", type=_positive_int, default=100, metavar="F", help="filters per height (default 100)")
    g.add_argument("--dropout", type=_fraction, default=0.5, help="dropout before the last layer (default 0.5)")
    g.add_argument("--max-norm", type=_nonnegative_float, default=3.0, metavar="S",
                   help="max-norm of the last layer's rows after every step (default 3; 0: off)")


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
                                   "weights, a checkpoint, the history CSV, learning curves and an HTML report "
                                   "(report.html) to a run folder.")
    t.add_argument("--recipe", default=None, metavar="NAME",
                   help="a named recipe (juanji recipes lists them): its data, model, optimizer, schedule, "
                        "regularisation, augmentation, batch size and epochs; any option given here overrides "
                        "the recipe's value for it")
    t.add_argument("--model", default=None, help="registered model name (default: simple_convnet)")
    _data_args(t, "digits")
    t.add_argument("--epochs", type=_positive_int, default=None, help="epochs (default: per data set; digits 40)")
    t.add_argument("--batch-size", type=_positive_int, default=None, help="batch size (default: per data set)")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                   help="optimizer (default adam for images; adadelta, rho 0.95, for text as in Kim 2014)")
    t.add_argument("--lr", type=float, default=None, help="learning rate (default: per data set)")
    t.add_argument("--momentum", type=float, default=0.9, help="momentum for sgd/rmsprop (default 0.9)")
    t.add_argument("--weight-decay", type=float, default=0.0, help="weight decay (default 0)")
    t.add_argument("--scheduler", choices=SCHEDULERS, default=None,
                   help="LR schedule (default: per data set): none, cosine (to 0 over the run), step (x0.1 at a "
                        "third and two thirds), plateau (halve after 2 epochs without a lower validation loss), all "
                        "stepped per epoch; onecycle: OneCycleLR (Smith & Topin) stepped per batch, from lr/25 up "
                        "to --lr over the first 30%% of the steps and down to lr/250000, cycling the momentum (or "
                        "Adam's beta1) 0.95-0.85-0.95 unless --momentum 0")
    t.add_argument("--warmup-epochs", type=_nonnegative_int, default=0, metavar="K",
                   help="images: raise the lr linearly, per batch, from lr/100 to --lr over the first K epochs, then "
                        "run --scheduler (cosine/step/none) per batch over the epochs left (default 0: no warm-up; "
                        "not with onecycle, which has its own, nor plateau)")
    t.add_argument("--label-smoothing", type=_fraction, default=None, metavar="E",
                   help="images: cross-entropy against (1 - E) one-hot + E / classes (default: per data set, 0.1 "
                        "for digits, else 0); the validation "
                        "and test losses are reported with the same smoothed loss, as PyTorch scripts that "
                        "evaluate with their criterion do (accuracy is unaffected)")
    t.add_argument("--augment", type=int, default=None, metavar="PIXELS",
                   help="random translation of training images by up to PIXELS (0: none; default: per data set)")
    t.add_argument("--random-erasing", type=_probability, default=0.0, metavar="P",
                   help="images: random erasing (Zhong et al.) of each training image with probability P, after "
                        "--augment, on the images scaled to [0, 1]: a rectangle of 2-33%% of the area, aspect "
                        "0.3-3.3 (torchvision's defaults), set to 0 (default 0: off)")
    t.add_argument("--hflip", action="store_true",
                   help="images: flip each training image left-right with probability 0.5, after --augment")
    t.add_argument("--nesterov", action="store_true", help="Nesterov momentum (--optimizer sgd, --momentum > 0)")
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
    t.add_argument("--no-report", action="store_true",
                   help="do not write report.html (the run's HTML report; juanji report RUN_DIR writes it later)")
    g = t.add_argument_group("several processes (MPI; docs/distributed.md)")
    g.add_argument("--distributed", action="store_true",
                   help="join an MPI job (automatic under mpirun -n N with N > 1): each process trains on its "
                        "shard at --batch-size per step, gradients are averaged, rank 0 writes the run")
    g.add_argument("--sync-batchnorm", action="store_true",
                   help="batch norm statistics over all processes' samples (SyncBatchNorm) instead of each one's")
    _text_train_args(t)
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
    e.add_argument("--vocab", default=None, metavar="PATH",
                   help="text models: the vocabulary (default: vocab.json beside --weights)")
    _text_data_args(e)
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    _threads_arg(e)
    _debug_arg(e)
    e.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify image files or texts",
                       description="Decode images with Pillow, resize them to the model's input size and "
                                   "print the top-k classes with their probabilities; for a text model "
                                   "(textcnn), classify --text/--text-file with the vocabulary beside the weights.")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    p.add_argument("--text", action="append", default=None, metavar="TEXT",
                   help="a text to classify with a text model (repeat for more)")
    p.add_argument("--text-file", action="append", default=None, metavar="PATH",
                   help="a file of texts to classify, one per line (blank lines skipped; repeatable)")
    p.add_argument("--vocab", default=None, metavar="PATH",
                   help="text models: the vocabulary (default: vocab.json beside --weights)")
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
                   help="input shape without the batch (default: the model's own, else 3,224,224); for "
                        f"textcnn the sentence length L in tokens (default 50; vocabulary {SUMMARY_VOCAB:,} "
                        "unless --option vocab_size=V)")
    s.add_argument("--batch", type=_positive_int, default=1, help="batch size for the memory figures (default 1)")
    s.add_argument("--num-classes", type=_positive_int, default=None,
                   help="classes of the output layer (default: the model's own: 10 for lenet5, 1000 for resnet18)")
    s.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a keyword argument of the model's builder, VALUE read as JSON where it parses "
                        "(aux_logits=false, variant=original); repeat for more")
    _debug_arg(s)
    s.set_defaults(func=cmd_summary)

    r = sub.add_parser("report", help="write a run folder's HTML report (report.html) and print its path",
                       description="(Re)build RUN_DIR/report.html, the training report juanji train writes at the "
                                   "end of a run: one self-contained HTML file (command and configuration, model "
                                   "summary, learning curves, test metrics and confusion matrix, misclassified "
                                   "samples, first-layer filters before and after training, feature maps, machine "
                                   "and timing). The test set is read again from the run's config.json.")
    r.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by juanji train")
    _threads_arg(r)
    _debug_arg(r)
    r.set_defaults(func=cmd_report)
    rc = sub.add_parser("recipes", help="list the named training recipes (juanji train --recipe NAME)",
                        description="The named recipes of juanji train --recipe: each one's options, the test "
                                    "accuracy its runs reached on this project's 2-core machine (mean ± std over "
                                    "seeds) and a run's wall time.")
    _debug_arg(rc)
    rc.set_defaults(func=cmd_recipes)
    _viz_parsers(sub)
    from .onnx._cli import add_export_parser  # juanji export (needs the onnx package only when it runs)

    add_export_parser(sub)
    return parser


def cmd_recipes(args: argparse.Namespace) -> int:
    """``juanji recipes``: the recipes, their measured accuracy and time, and their commands."""
    from .recipes import RECIPES

    for recipe in RECIPES.values():
        measured = recipe.measured or "not measured yet"
        cores = "2 cores" if recipe.processes == 1 else f"2 cores ({recipe.processes} processes)"
        minutes = f"{recipe.minutes:g} min a run on {cores}" if recipe.minutes is not None else "time not measured yet"
        print(f"{recipe.name}: {recipe.summary}")
        print(f"  test accuracy: {measured}; {minutes}; target {recipe.target}")
        for note in recipe.notes:
            print(f"  {note}")
        print(f"  {recipe.command()}")
        print(f"  ({' '.join(recipe.train_words())} --recipe {recipe.name} [options that override it])")
    return 0


def train_command(config: dict[str, Any]) -> str:
    """The ``juanji train ...`` command line of a run's ``config.json``, shell-quoted.

    config.json holds the arguments after the data set's preset filled in what was not given
    (model, epochs, batch size, ...), so the command spells out every value that differs from
    the parser's default: running it again trains the same run, whatever the presets are then.
    Keys the parser does not know (a config from another version) are left out; a run of several
    processes (config's ``processes``) is launched again by ``mpirun -n N``, since the global batch
    is N times the batch given.
    """
    import shlex

    train = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    processes = config.get("processes", 1)
    words = (["mpirun", "-n", str(processes)] if isinstance(processes, int) and processes > 1 else []) + ["juanji", "train"]
    for action in train._actions:
        # --recipe is left out: config.json holds every value the recipe set, spelled out below,
        # and a value the command line set back to the parser's default must not be refilled by it.
        if not action.option_strings or action.dest in ("help", "debug", "recipe") or action.dest not in config:
            continue
        value = config[action.dest]
        if value == action.default or value is None:
            continue
        option = max(action.option_strings, key=len)  # the long form
        if action.nargs == 0:  # a flag: store_true
            if value is True:
                words.append(option)
            continue
        words += [option, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return shlex.join(words)


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
    if args.model in TEXT_MODELS:
        return _summary_text(args)
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


#: The vocabulary ``juanji summary textcnn`` sizes the embedding for unless --option vocab_size=V.
SUMMARY_VOCAB = 10_000


def _summary_text(args: argparse.Namespace) -> int:
    """``juanji summary textcnn``: the input is L token ids (``--input L``, default 50), int64."""
    from .analysis import summary
    from .models import get_model

    length = 50
    if args.input is not None:
        try:
            length = int(args.input)
        except ValueError:
            raise CLIError(f"--input for {args.model} is the sentence length L in tokens, such as 50, "
                           f"got {args.input!r}") from None
        if length < 1:
            raise CLIError(f"--input for {args.model} must be a positive sentence length, got {args.input!r}")
    kwargs = {"vocab_size": SUMMARY_VOCAB, **_builder_options(args.model, args.option)}
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    if kwargs.get("variant", "rand") != "rand" and "pretrained" not in kwargs:
        kwargs["pretrained"] = np.zeros((int(kwargs["vocab_size"]), int(kwargs.get("embed_dim") or 300)), np.float32)
    try:
        model = get_model(args.model, **kwargs)
    except (ValueError, TypeError) as e:
        given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k != "pretrained")
        raise CLIError(f"cannot build {args.model} with {given}: {e}") from e
    print(summary(model, (length,), batch_size=args.batch, dtype=np.int64))
    print(textcnn_conv_note(model, length))
    return 0


def textcnn_conv_note(model: Any, length: int) -> str:
    """The line that completes a TextCNN's summary table: its convolutions and their multiply-adds.

    TextCNN runs each Conv2d's weight through functional conv1d (see models/textcnn.py), so
    the summary's tracer, which sees module calls, does not list the convolutions.
    """
    padded = max(length, *model.filter_sizes)
    convs = [(h, c.weight.shape, int(c.weight.data.size + c.bias.data.size)) for h, c in zip(model.filter_sizes, model.convs)]
    macs = sum(int(np.prod(w)) * (padded - h + 1) for h, w, _ in convs)
    return ("Convolutions (run as conv1d, not listed above): " + ", ".join(
        f"h={h}: weight {tuple(w)}, {n:,} params" for h, w, n in convs)
        + f"; {macs:,} multiply-adds per sample of length {length} (add them to the total above)")


def run() -> None:
    """The ``juanji`` program (console script and ``python -m juanji``): its own process, so it
    opts in to juanji's malloc tuning (juanji.allocator; JUANJI_MALLOC_TUNING=0 declines it),
    then exits with ``main()``'s status. ``main()`` itself, called from a program, leaves the
    host process's allocator alone."""
    from .allocator import tune_malloc_unless_declined

    tune_malloc_unless_declined()
    sys.exit(main())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``juanji`` command (``python -m juanji``); returns the exit status.

    Expected failures (bad arguments or files, divergence, a full or read-only disk, out of
    memory) print one line, ``juanji <command>: error: ...``, and return non-zero;
    ``--debug`` lets them raise with their traceback instead.
    """
    from .distributed import comm as dist

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train" and args.recipe is not None:
        if args.debug:
            _apply_recipe(parser, args, sys.argv[1:] if argv is None else list(argv))
        else:
            try:
                _apply_recipe(parser, args, sys.argv[1:] if argv is None else list(argv))
            except CLIError as e:
                print(f"juanji train: error: {e}", file=sys.stderr)
                return 2
    if getattr(args, "threads", None) is not None:
        set_num_threads(args.threads)
    if args.command == "train" and (args.distributed or dist.launched_world_size() > 1):
        _join_job(args)
    if args.command == "train" and args.recipe is not None and dist.is_main():
        from .recipes import get_recipe

        note = get_recipe(args.recipe).world_note(dist.world_size())
        if note:
            print(f"juanji train: note: {note}", file=sys.stderr, flush=True)
    if args.debug:
        with dist.abort_on_error(show_traceback=True):  # distributed: one rank's error ends the job
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
        if dist.world_size() > 1:
            # The other ranks would wait for this one in their next allreduce for ever: end the
            # job (MPI_Abort), naming the rank. A bug keeps its traceback.
            if status is None:
                import traceback

                traceback.print_exc()
                what = dist.failure_message(e)
            else:
                what = f"rank {dist.rank()} of {dist.world_size()}: {_one_line(_message(e, args.command))}"
            dist.abort(f"juanji {args.command}: error: {what}; aborting the job (MPI_Abort)", status or 1)
        if status is None:
            raise  # a bug: the traceback is what a report needs
        print(f"juanji {args.command}: error: {_one_line(_message(e, args.command))}", file=sys.stderr)
        return status


def _apply_recipe(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> None:
    """Fill ``args`` with the options of ``--recipe NAME`` that the command line did not give.

    Which options were given is read by parsing the command's own words again into a namespace
    that already holds a marker for every option: argparse writes a default only where the
    namespace has no value, so the markers left are exactly the options not given."""
    from .recipes import get_recipe

    try:
        recipe = get_recipe(args.recipe)
    except ValueError as e:
        raise CLIError(f"--recipe: {e}") from None
    train = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    words = argv[argv.index("train") + 1:] if "train" in argv else argv
    unset = object()
    probe = argparse.Namespace(**{a.dest: unset for a in train._actions if a.dest != "help"})
    train.parse_known_args(words, namespace=probe)
    for key, value in recipe.options.items():
        if getattr(probe, key, unset) is unset:
            setattr(args, key, value)


def _join_job(args: argparse.Namespace) -> None:
    """Join the MPI job (``juanji train`` under ``mpirun -n N``, or ``--distributed``).

    The CLI owns its process, so it also sizes the BLAS pool: N processes on one host with a
    pool of every core each would fight over the cores, so without --threads (or
    OMP_NUM_THREADS / OPENBLAS_NUM_THREADS) each gets cores / (processes on this host).
    """
    from .distributed import comm as dist

    try:
        dist.init()
    except RuntimeError as e:  # launched by mpirun, but mpi4py is missing
        print(f"juanji train: error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    if dist.world_size() == 1 or args.threads is not None:
        return
    if any(os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")):
        return
    from mpi4py import MPI

    from . import _world

    host = _world.comm.Split_type(MPI.COMM_TYPE_SHARED)  # the processes on this host
    local = host.Get_size()
    host.Free()
    set_num_threads(max(1, (os.cpu_count() or 1) // local))


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
