"""The training report (issue 18): one self-contained HTML page about a ``juanji train`` run.

    >>> from juanji.report import build_report
    >>> build_report("runs/digits-digits_cnn-20261207-101500")     # doctest: +SKIP
    PosixPath('runs/digits-digits_cnn-20261207-101500/report.html')

``juanji train`` writes ``report.html`` into the run folder at the end of every run (unless
``--no-report``); ``juanji report RUN_DIR`` builds it again for any run folder, an old one
included. The page is one file that needs nothing else: the pictures are PNGs inside it
(base64 ``data:`` URIs), the CSS is inline, there is no JavaScript, and its Content Security
Policy forbids the browser to fetch anything or run a script, so a class name or a text from
the data can neither reach the network nor run (every string from the run is also
``html.escape``'d). It can be mailed, archived with the weights, or opened offline.

Sections, each a ``<section>`` with a stable id (``SECTIONS``):

    config         the ``juanji train`` command that reproduces the run, and config.json
    model          the model summary (``juanji.analysis.summary``, as ``juanji summary`` prints it)
    curves         the learning curves (learning_curves.png, else drawn from history.csv) and
                   the per-epoch table of history.csv
    test           test loss and accuracy, the confusion matrix and the accuracy per class
    misclassified  the most confident mistakes: a grid of images, or a table of texts
    filters        the first convolution's kernels before (initial.safetensors) and after training
    feature-maps   the feature maps of one test image and its saliency map (images only)
    machine        CPU, platform, Python, NumPy and its BLAS; seconds per epoch, samples/s

Where the data come from. Everything about the test set is computed here, from the logits:
the model is rebuilt from the weights' metadata and loaded with the run's weights (text runs:
with the vocabulary beside them) by the CLI's own loaders, and the test set is the one the run
measured, rebuilt from config.json by the CLI's own data readers (same data, same seed, same
splits). The report therefore depends on ``juanji.cli``: it sits in the command-line layer,
beside it (the CLI imports this module inside the commands that build a report, since this
module imports the CLI's loaders). A run whose data can no longer be read (moved, or read
relative to another directory) still gets a report, with a note where the test results would be.

The timing figures come from history.csv (measured while training); the machine section
describes the machine that built the report, which is the training machine when ``juanji
train`` builds it at the end of the run.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import cli, viz
from .autograd import no_grad
from .io import atomic_write
from .io import read as read_arrays
from .nn.conv import Conv2d
from .train.history import History

__all__ = ["build_report", "REPORT", "SECTIONS"]

#: The report's file name inside the run folder.
REPORT = "report.html"
#: The ids of the page's sections, in page order.
SECTIONS = ("config", "model", "curves", "test", "misclassified", "filters", "feature-maps", "machine")
#: How many mistakes the misclassified section shows.
MISCLASSIFIED_SHOWN = 16
#: Feature maps of at most this many convolutions, spread evenly over the network (a ResNet-50
#: has 53: one picture of them all would be metres tall and take seconds to draw).
FEATURE_LAYERS = 4

_PNG = b"\x89PNG\r\n\x1a\n"


def _e(value: Any) -> str:
    """Any value as HTML text: str() then escaped (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def _mpl(name: str) -> str:
    """A name as matplotlib text: a '$' would otherwise start mathtext (and a malformed formula,
    such as a class named '$\\frac$', fails the drawing)."""
    return name.replace("$", r"\$")


# --- the run folder ------------------------------------------------------------------------------
@dataclass
class _Run:
    dir: Path
    config: dict[str, Any]
    weights: Path
    meta: dict[str, Any]       # cli.read_weights_meta
    text: bool
    history: History | None
    history_note: str | None


def _not_a_run(run_dir: Path, why: str) -> ValueError:
    return ValueError(f"build_report: '{run_dir}' is not a juanji train run folder: {why}")


def _open_run(run_dir: Path) -> _Run:
    """The run folder's config, weights file and metadata, checked; ValueError naming what is wrong."""
    if not run_dir.is_dir():
        raise _not_a_run(run_dir, "no such folder")
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise _not_a_run(run_dir, f"'{config_path}' is missing")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"build_report: '{config_path}' is corrupt: {e}") from e
    if not isinstance(config, dict) or not isinstance(config.get("data"), str):
        raise ValueError(f"build_report: '{config_path}' is corrupt: expected a JSON object of juanji train's "
                         f"arguments with a 'data' entry")
    fmt = config.get("format") if config.get("format") in ("safetensors", "npz") else "safetensors"
    candidates = [run_dir / f"weights.{fmt}", *(run_dir / f"weights.{f}" for f in ("safetensors", "npz"))]
    weights = next((p for p in candidates if p.is_file()), None)
    if weights is None:
        raise _not_a_run(run_dir, f"'{candidates[0]}' is missing (juanji train writes it when training ends)")
    try:
        meta = cli.read_weights_meta(weights)  # the file read whole and checked
    except (cli.CLIError, ValueError) as e:
        raise ValueError(f"build_report: '{weights}' is corrupt: {e}") from e
    if meta["model"] is None or meta["classes"] is None:
        raise ValueError(f"build_report: '{weights}' lacks the metadata juanji train writes (model and classes)")
    history, note = None, None
    history_path = run_dir / "history.csv"
    if not history_path.is_file():
        note = f"'{history_path}' is missing"
    else:
        try:
            history = History.from_csv(history_path)
        except (ValueError, UnicodeDecodeError) as e:
            note = f"'{history_path}' cannot be read: {e}"
    return _Run(run_dir, config, weights, meta, meta["input"] == "text", history, note)


def _load_model(run: _Run) -> tuple[Any, Any, Any]:
    """(model in eval mode, vocab, tokenizer) by the CLI's loaders; vocab and tokenizer None for images."""
    try:
        if run.text:
            model, vocab, tokenize, meta = cli._load_text_model(str(run.weights), None, run.meta)
            run.meta = meta  # with max_len and tokenizer parsed
            return model, vocab, tokenize
        return cli._load_model(str(run.weights), None)[0], None, None
    except (cli.CLIError, ValueError) as e:  # names the file: the weights, or a vocab.json that does not fit
        raise ValueError(f"build_report: cannot rebuild the model of '{run.dir}': {e}") from e


# --- the test set, predicted ---------------------------------------------------------------------
@dataclass
class _Test:
    """The run's test set through the model: what the test, misclassified and feature-map sections show."""

    what: str                      # which data, for the captions
    logits: np.ndarray             # (N, K) float64
    labels: np.ndarray             # (N,) int64
    images: np.ndarray | None = None   # (N, C, H, W): only the misclassified images are filled in
    first: np.ndarray | None = None    # (C, H, W) the first test image
    texts: list[str] = field(default_factory=list)
    label_smoothing: float = 0.0   # the run's --label-smoothing: its test loss is the smoothed one

    @property
    def pred(self) -> np.ndarray:
        return self.logits.argmax(axis=1)

    @property
    def probs(self) -> np.ndarray:
        z = self.logits - self.logits.max(axis=1, keepdims=True)  # softmax without overflow
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    @property
    def loss(self) -> float:
        """The run's test loss: mean cross-entropy, -log softmax(z)_y, or with label smoothing e
        (as the run measured it, PyTorch's formula) (1 - e) * -log p_y + e * mean_c(-log p_c)."""
        z = self.logits - self.logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -logp[np.arange(len(self.labels)), self.labels]
        e = self.label_smoothing
        return float(((1 - e) * nll + e * -logp.mean(axis=1)).mean())


def _config_args(config: dict[str, Any]) -> argparse.Namespace:
    """config.json as the Namespace the CLI's data readers take (defaults for keys an older run lacks)."""
    defaults = {"root": None, "image_size": 64, "grayscale": False, "seed": 0, "val_split": 0.1, "test": None,
                "test_split": 0.1, "text_column": "text", "label_column": "label"}
    return argparse.Namespace(**{**defaults, **config})


def _image_test(run: _Run, model: Any) -> _Test:
    from .data import DataLoader

    args = _config_args(run.config)
    _, test_ds, classes, _ = cli.load_data(args.data, args.root, args.image_size, args.grayscale, args.seed)
    if list(classes) != run.meta["classes"]:
        raise cli.CLIError(f"the data set's classes {classes} are not the run's {run.meta['classes']}")
    logits, labels = [], []
    images = None
    first = None
    seen = 0
    with no_grad():
        for x, y in DataLoader(test_ds, batch_size=256):  # in order: no shuffle
            z = np.asarray(model(x).data, dtype=np.float64)
            yb = np.asarray(y.data, dtype=np.int64)
            if images is None:
                first = np.array(x.data[0], copy=True)
                # The misclassified picture takes the whole test set's images (its titles name a
                # mistake's position in it) but reads only the mistakes. np.zeros asks calloc for
                # zeroed memory, which the kernel hands out lazily: of fresh memory only the pages
                # written below, the mistakes, become resident (at worst, heap memory the process
                # already holds is cleared), not a copy of the whole test set.
                images = np.zeros((len(test_ds), *x.shape[1:]), np.float32)
            wrong = np.flatnonzero(z.argmax(axis=1) != yb)
            images[seen + wrong] = x.data[wrong]
            seen += len(yb)
            logits.append(z)
            labels.append(yb)
    if not logits:
        raise cli.CLIError("the test set is empty")
    what = f"{args.data} test set" if args.data in cli.DATASETS else f"test part of '{args.data}'"
    return _Test(what, np.concatenate(logits), np.concatenate(labels), images, first,
                 label_smoothing=float(run.config.get("label_smoothing") or 0.0))


def _text_test(run: _Run, model: Any, vocab: Any, tokenize: Any) -> _Test:
    from .train import Trainer

    parts = cli.load_text_data(_config_args(run.config))
    if list(parts["classes"]) != run.meta["classes"]:
        raise cli.CLIError(f"the data's classes {parts['classes']} are not the run's {run.meta['classes']}")
    texts, labels = parts["test"]
    if not len(texts):
        raise cli.CLIError("the test set is empty")
    _, loader = cli._text_loader(list(texts), np.asarray(labels), tokenize, vocab, run.meta["max_len"], 256)
    # The loader buckets by length: its batches' indices map the logits back to the texts' order.
    order = np.concatenate(loader.batches(0))
    logits = np.empty((len(texts), len(run.meta["classes"])), np.float64)
    logits[order] = Trainer(model, cli._NoOptimizer(), metrics=[]).predict(loader)
    return _Test(f"test split of {run.config['data']} ({parts['how']})", logits,
                 np.asarray(labels, dtype=np.int64), texts=list(texts))


def _predict(run: _Run, model: Any, vocab: Any, tokenize: Any) -> tuple[_Test | None, str | None]:
    """The test set through the model, or (None, why not) when the run's data cannot be read now."""
    try:
        if run.text:
            return _text_test(run, model, vocab, tokenize), None
        return _image_test(run, model), None
    except (cli.CLIError, OSError) as e:
        # The data moved, a relative path read from another directory, a data set not installed:
        # the rest of the report still stands.
        return None, f"the run's test data could not be read: {e}"


# --- HTML pieces ---------------------------------------------------------------------------------
def _img(png: bytes, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{_e(alt)}">'


def _figure(png: bytes, alt: str, caption: str) -> str:
    """A picture and its caption (``caption`` is HTML: its callers escape what came from the run)."""
    return f"<figure>{_img(png, alt)}<figcaption>{caption}</figcaption></figure>"


def _note(text: str) -> str:
    """A note where a picture or a result cannot be shown (``text`` is HTML, escaped by the caller)."""
    return f'<p class="note">{text}</p>'


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool] | None = None) -> str:
    numeric = numeric or [False] * len(header)
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if n else ""}>{_e(c)}</td>' for c, n in zip(r, numeric))
                   + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{_e(title)}</h2>\n{body}\n</section>'


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


# --- sections ------------------------------------------------------------------------------------
def _config_section(run: _Run) -> str:
    command = cli.train_command(run.config)
    rows = [(k, json.dumps(v, ensure_ascii=False)) for k, v in run.config.items() if k not in ("command", "debug")]
    return _section("config", "Command and configuration", (
        f"<p>Run folder <code>{_e(run.dir.resolve())}</code>. The command that trains this run again (every value "
        "the run used that is not the parser's default, the data set's presets included):</p>"
        f'<pre class="command">{_e(command)}</pre>'
        f"<details><summary>config.json ({len(rows)} entries)</summary>{_table(('argument', 'value'), rows)}</details>"))


def _model_section(run: _Run, model: Any) -> str:
    from .analysis import summary

    if run.text:
        length = run.meta["max_len"] or 50
        table = f"{summary(model, (length,), dtype=np.int64)}\n{cli.textcnn_conv_note(model, length)}"
        shape = f"{length} token ids (the run's max_len)" if run.meta["max_len"] else "50 token ids"
    else:
        table = str(summary(model, run.meta["input_shape"]))
        shape = "x".join(map(str, run.meta["input_shape"]))
    head = (f"<p><b>{_e(run.meta['model'])}</b>, {model.num_parameters():,} parameters, input {_e(shape)}, "
            f"{len(run.meta['classes'])} classes. As <code>juanji summary</code> prints it:</p>")
    return _section("model", "Model", head + f'<pre class="summary">{_e(table)}</pre>')


def _curves_png(run: _Run) -> bytes | None:
    """learning_curves.png as the run wrote it, else drawn again from history.csv."""
    path = run.dir / "learning_curves.png"
    if path.is_file():
        data = path.read_bytes()
        if data.startswith(_PNG):
            return data
    if run.history is None or not len(run.history):
        return None
    with tempfile.TemporaryDirectory() as tmp:  # History.plot writes a file; the run folder is left alone
        out = run.history.plot(Path(tmp) / "curves.png", title=f"{run.meta['model']} on {run.config['data']}",
                               val_label="validation")
        return out.read_bytes()


def _curves_section(run: _Run) -> str:
    parts = []
    png = _curves_png(run)
    if png is not None:
        parts.append(_figure(png, "learning curves", "Loss and accuracy per epoch: training (its running mean "
                             "over the epoch's batches) and validation (held out of the training data)."))
    if run.history is None:
        parts.append(_note(_e(run.history_note or "no history")))
    elif len(run.history):
        keys = run.history.keys()
        rows = [[_fmt(r.get(k)) for k in keys] for r in run.history]
        epochs = f"{len(run.history)} epoch{'s' if len(run.history) > 1 else ''}"
        parts.append(f"<details open><summary>history.csv ({epochs})</summary>"
                     f"{_table(keys, rows, [True] * len(keys))}</details>")
    return _section("curves", "Learning curves", "\n".join(parts))


def _test_section(run: _Run, test: _Test | None, why: str | None) -> str:
    if test is None:
        return _section("test", "Test results", _note(_e(why)))
    classes = run.meta["classes"]
    names = [_mpl(c) for c in classes]
    n = len(test.labels)
    correct = int((test.pred == test.labels).sum())
    cm = viz.confusion_matrix(test.labels, test.pred, num_classes=len(classes), class_names=names)
    pc = viz.per_class_accuracy(test.labels, test.pred, num_classes=len(classes), class_names=names)
    head = (f'<p class="metrics"><span>test accuracy <b>{correct / n:.2%}</b> ({correct}/{n})</span>'
            f"<span>test loss <b>{test.loss:.4f}</b></span></p>"
            f"<p>On the {_e(test.what)}: {n} {'texts' if run.text else 'images'}, measured here from the logits "
            f"of the run's weights ({_e(run.weights.name)}, epoch {_e(run.meta['raw'].get('epochs', '?'))}).</p>")
    figs = ('<div class="row">'
            + _figure(cm.png_bytes(), "confusion matrix", "Confusion matrix: rows the true class, columns the "
                      "predicted one.")
            + _figure(pc.png_bytes(), "accuracy per class", "Accuracy per class (the recall of each class).")
            + "</div>")
    rows = [(c, int(s), int(k), "" if s == 0 else f"{a:.2%}")
            for c, s, k, a in zip(classes, pc.support, pc.correct, pc.accuracy)]
    table = (f"<details><summary>accuracy per class ({len(classes)} classes)</summary>"
             f"{_table(('class', 'test samples', 'correct', 'accuracy'), rows, (False, True, True, True))}</details>")
    return _section("test", "Test results", head + figs + table)


def _misclassified_section(run: _Run, test: _Test | None, why: str | None) -> str:
    title = "Misclassified"
    if test is None:
        return _section("misclassified", title, _note(_e(why)))
    classes = run.meta["classes"]
    if not run.text:
        m = viz.misclassified(test.images, test.labels, test.logits, [_mpl(c) for c in classes],
                              k=MISCLASSIFIED_SHOWN, logits=True)
        caption = (f"The {len(m.indices)} most confident of the {m.total} misclassified test images, most confident "
                   "first: #position in the test set, true class, predicted class (its probability).")
        return _section("misclassified", title, _figure(m.png_bytes(), "misclassified test images", caption))
    probs = test.probs
    pred = test.pred
    conf = probs[np.arange(len(pred)), pred]
    wrong = np.flatnonzero(pred != test.labels)
    chosen = wrong[np.argsort(-conf[wrong], kind="stable")][:MISCLASSIFIED_SHOWN]  # ties: lower index first
    if not chosen.size:
        return _section("misclassified", title, _note(f"No misclassified text ({len(pred)} of {len(pred)} correct)."))

    def short(t: str) -> str:
        t = " ".join(t.split())
        return t if len(t) <= 240 else t[:237] + "..."

    rows = [(f"#{i}", short(test.texts[i]), classes[test.labels[i]], classes[pred[i]], f"{conf[i]:.2f}")
            for i in chosen]
    return _section("misclassified", title, (
        f"<p>The {len(chosen)} most confident of the {len(wrong)} misclassified test texts, most confident first "
        "(#position in the test split):</p>"
        + _table(("#", "text", "true", "predicted", "probability"), rows, (True, False, False, False, True))))


def _first_conv(model: Any) -> str | None:
    return next((n for n, m in model.named_modules() if n and isinstance(m, Conv2d)), None)


def _filters_section(run: _Run, model: Any) -> str:
    title = "First-layer filters, before and after training"
    if run.text:
        return _section("filters", title, _note("A text model: its filters span the word vectors, not an image "
                                                "(no picture of them here)."))
    name = _first_conv(model)
    if name is None:
        return _section("filters", title, _note(f"{_e(run.meta['model'])} has no convolution (Conv2d)."))
    after = dict(model.named_modules())[name].weight.data
    initial = run.dir / cli.INITIAL_WEIGHTS
    parts = []
    before = None
    if not initial.is_file():
        parts.append(_note(f"No {_e(cli.INITIAL_WEIGHTS)} in this run folder (a run from before juanji kept its "
                           "initial weights, or one resumed into a new folder): the filters after training only."))
    else:
        try:
            arrays = read_arrays(initial)[0]
        except ValueError as e:
            parts.append(_note(f"{_e(cli.INITIAL_WEIGHTS)} cannot be read: {_e(e)}"))
        else:
            before = arrays.get(f"{name}.weight")
            if before is None or before.shape != after.shape:
                parts.append(_note(f"{_e(cli.INITIAL_WEIGHTS)} holds no weight of shape {tuple(after.shape)} for "
                                   f"layer {_e(name)!s}: not this run's initial weights."))
                before = None
    figs = []
    if before is not None:
        figs.append(_figure(viz.filters(before, name=f"{name} before training").png_bytes(), "filters before training",
                            f"Layer {_e(name)} at initialisation ({_e(cli.INITIAL_WEIGHTS)})."))
    figs.append(_figure(viz.filters(after, name=f"{name} after training").png_bytes(), "filters after training",
                        f"Layer {_e(name)} after training ({_e(run.weights.name)})."))
    parts.append('<div class="row">' + "".join(figs) + "</div>")
    if before is not None:
        b, a = before.astype(np.float64), after.astype(np.float64)
        change = np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)
        parts.append(f"<p>Relative change of the layer's weight, ||W - W0|| / ||W0||: <b>{change:.3f}</b>. "
                     "Each tile is scaled to its own range.</p>")
    return _section("filters", title, "\n".join(parts))


def _feature_layers(model: Any) -> list[str]:
    """Up to FEATURE_LAYERS convolutions, the first and the last among them, evenly spread."""
    convs = [n for n, m in model.named_modules() if n and isinstance(m, Conv2d)]
    if len(convs) <= FEATURE_LAYERS:
        return convs
    picks = np.linspace(0, len(convs) - 1, FEATURE_LAYERS).round().astype(int)
    return [convs[i] for i in dict.fromkeys(picks.tolist())]


def _feature_section(run: _Run, model: Any, test: _Test | None, why: str | None) -> str:
    title = "Feature maps of one test image"
    if run.text:
        return _section("feature-maps", title, _note("A text model: no feature maps of an image."))
    layers = _feature_layers(model)
    if not layers:
        return _section("feature-maps", title, _note(f"{_e(run.meta['model'])} has no convolution (Conv2d)."))
    if test is None or test.first is None:
        return _section("feature-maps", title, _note(_e(why)))
    classes = run.meta["classes"]
    y, p = classes[test.labels[0]], classes[test.pred[0]]
    fm = viz.feature_maps(model, test.first, layers=layers)
    sal = viz.saliency(model, test.first)
    return _section("feature-maps", title, (
        f"<p>Test image #0 (true class <b>{_e(y)}</b>, predicted <b>{_e(p)}</b>): the outputs of "
        f"{'its convolution' if len(layers) == 1 else f'{len(layers)} of its convolutions'} "
        f"({_e(', '.join(layers))}), and which pixels the predicted class's score is most sensitive to.</p>"
        + _figure(fm.png_bytes(), "feature maps", "Feature maps, each channel scaled to its own range.")
        + _figure(sal.png_bytes(), "saliency map", "Saliency (Simonyan et al. 2013): max over channels of "
                  "|d logit / d pixel|.")))


def _blas() -> str:
    """NumPy's BLAS library, its version, threads and kernels (threadpoolctl, a juanji dependency)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - a dependency of juanji
        return "unknown (threadpoolctl is not installed)"
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    # NumPy's own lies in numpy/ or numpy.libs/; SciPy's (or another library's) may be loaded beside it.
    numpy_dir = os.path.realpath(os.path.dirname(np.__file__))
    own = [i for i in infos if os.path.realpath(i.get("filepath", "")).startswith(
        (numpy_dir + os.sep, numpy_dir + ".libs" + os.sep))]
    return "; ".join(f"{i.get('internal_api')} {i.get('version') or ''} ({i.get('num_threads')} threads"
                     + (f", {i['architecture']} kernels" if i.get("architecture") else "") + ")"
                     for i in own or infos) or "none found by threadpoolctl"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _machine_section(run: _Run, build_seconds: float) -> str:
    import juanji

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows = [("CPU", _cpu_name()), ("CPU cores", f"{os.cpu_count()} ({usable} usable by this process)"),
            ("platform", platform.platform()), ("Python", sys.version.split()[0]),
            ("NumPy", np.__version__), ("BLAS (NumPy's)", _blas()),
            ("juanji", f"{juanji.__version__}, {juanji.get_num_threads()} BLAS threads")]
    h = run.history
    unit = "texts" if run.text else "images"
    if h is not None and len(h) and "time" in h:
        times = [t for t in h["time"] if t is not None]
        rates = [r for r in h["images_per_sec"] if r is not None] if "images_per_sec" in h else []
        rows += [("epochs", f"{len(h)}"),
                 ("training time", f"{sum(times):.1f} s in all (the epochs of history.csv, validation included)"),
                 ("seconds per epoch", f"{np.mean(times):.2f} mean, {min(times):.2f}-{max(times):.2f}")]
        if rates:
            rows.append((f"training {unit}/s", f"{np.mean(rates):,.0f} mean, {min(rates):,.0f}-{max(rates):,.0f}"))
    else:
        rows.append(("timing", run.history_note or "history.csv has no timing"))
    rows.append(("this report", f"built in {build_seconds:.1f} s on {time.strftime('%Y-%m-%d %H:%M:%S')}"))
    return _section("machine", "Machine and timing", (
        "<p>The machine that built this report (the training machine, when <code>juanji train</code> wrote it at "
        "the end of the run); the timings are the run's own, from history.csv.</p>" + _table(("", ""), rows)))


# --- the page ------------------------------------------------------------------------------------
_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232a;background:#f4f5f7;margin:0}
main{max-width:1180px;margin:0 auto;padding:0 20px 40px}
header{background:#22313f;color:#fff;padding:18px 0 12px}
header div{max-width:1180px;margin:0 auto;padding:0 20px}
header h1{margin:0 0 4px;font-size:24px}
header p{margin:2px 0;color:#cfd8e3}
header .metrics span{background:#31475c;color:#fff}
nav{margin-top:10px}nav a{color:#9fd0ff;margin-right:14px;text-decoration:none}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:18px 0;padding:4px 20px 16px}
h2{font-size:19px;border-bottom:1px solid #e6e9ed;padding-bottom:6px}
pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:4px;padding:10px;overflow-x:auto;font-size:12.5px}
pre.command{font-size:14px;white-space:pre-wrap;word-break:break-all}
pre.summary{white-space:pre-wrap}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #e1e4e8;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:10px 0;display:inline-block;vertical-align:top;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #eef0f2}
figcaption{font-size:13px;color:#57606a;max-width:640px}
.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.row figure{flex:1 1 420px}
.metrics span{display:inline-block;background:#eef6ee;border-radius:4px;padding:4px 10px;margin-right:10px}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:8px 12px}
details summary{cursor:pointer;color:#0b5cad;margin:6px 0}
"""


def _page(run: _Run, test: _Test | None, sections: list[str], model: Any) -> str:
    classes = run.meta["classes"]
    if test is not None:
        correct = int((test.pred == test.labels).sum())
        glance = (f'<p class="metrics"><span>test accuracy {correct / len(test.labels):.2%}</span>'
                  f"<span>test loss {test.loss:.4f}</span>"
                  f"<span>{model.num_parameters():,} parameters</span>")
    else:
        glance = f'<p class="metrics"><span>{model.num_parameters():,} parameters</span>'
    if run.history is not None and len(run.history):
        glance += f"<span>{len(run.history)} epochs</span>"
        if "time" in run.history:
            glance += f"<span>{sum(t for t in run.history['time'] if t is not None):.1f} s training</span>"
    glance += "</p>"
    nav = "".join(f'<a href="#{sid}">{sid.replace("-", " ")}</a>' for sid in SECTIONS)
    title = f"{run.meta['model']} on {run.config['data']}"
    # The policy forbids every fetch and every script: the page is whole as it stands.
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>juanji report: {_e(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        f"<header><div><h1>juanji training report: {_e(title)}</h1>"
        f"<p>run {_e(run.dir.resolve().name)} &middot; {len(classes)} classes: {_e(', '.join(classes[:12]))}"
        f"{' ...' if len(classes) > 12 else ''}</p>{glance}<nav>{nav}</nav></div></header>\n"
        "<main>\n" + "\n".join(sections) + "\n</main>\n</body></html>\n")


def build_report(run_dir: str | os.PathLike[str]) -> Path:
    """Write ``run_dir/report.html``, the training report of a ``juanji train`` run folder.

    One self-contained HTML file (pictures as base64 PNG data URIs, inline CSS, no script, no
    external resource); sections ``SECTIONS`` (see the module docstring). The test results are
    computed here: the run's weights in the model rebuilt from their metadata, on the test set
    rebuilt from config.json; if that data cannot be read any more, those sections say why.

    Args:
        run_dir: the run folder (holding config.json and weights.safetensors or weights.npz).

    Returns:
        The path of the report, written atomically.

    Raises:
        ValueError: the folder is not a run (no config.json, no weights), or one of them is
            corrupt, or the model cannot take the weights; the message names the folder and file.
    """
    start = time.perf_counter()
    run = _open_run(Path(run_dir))
    model, vocab, tokenize = _load_model(run)
    test, why = _predict(run, model, vocab, tokenize)
    builders: list[Callable[[], str]] = [
        lambda: _config_section(run),
        lambda: _model_section(run, model),
        lambda: _curves_section(run),
        lambda: _test_section(run, test, why),
        lambda: _misclassified_section(run, test, why),
        lambda: _filters_section(run, model),
        lambda: _feature_section(run, model, test, why),
    ]
    sections = [build() for build in builders]
    sections.append(_machine_section(run, time.perf_counter() - start))
    data = _page(run, test, sections, model).encode("utf-8")
    return atomic_write(run.dir / REPORT, lambda f: f.write(data))
