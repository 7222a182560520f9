"""History: one row per epoch of losses, metrics, learning rate and speed, as CSV and as a plot.

Each row is a dict such as ``{"epoch": 3, "loss": 0.41, "accuracy": 0.86, "val_loss": 0.45,
"val_accuracy": 0.84, "lr": 0.001, "time": 12.3, "images_per_sec": 4870.0}``.
``history["val_loss"]`` gives a column (as Keras' ``history.history["val_loss"]``).

    >>> history = trainer.fit(train, val, epochs=10)
    >>> history.to_csv("runs/x/history.csv"); history.plot("runs/x/learning_curves.png")
"""

from __future__ import annotations

import csv
import io as _pyio
import math
import os
from pathlib import Path
from typing import Any, Iterator

from ..io import atomic_write

__all__ = ["History"]

# Columns that describe the run rather than the model's quality: not plotted as curves.
_BOOKKEEPING = ("epoch", "lr", "time", "images_per_sec")


class History:
    """Per-epoch records of a training run.

    Args:
        records: rows to start from (e.g. from a checkpoint), each a dict with an ``"epoch"``.

    Example:
        >>> h = History(); h.append({"epoch": 1, "loss": 0.9}); h["loss"]
        [0.9]
    """

    def __init__(self, records: list[dict[str, Any]] | None = None) -> None:
        self.records: list[dict[str, Any]] = []
        for r in records or []:
            self.append(r)

    def append(self, row: dict[str, Any]) -> None:
        """Add one epoch's row (must contain ``"epoch"``; values are ints, floats or None)."""
        if "epoch" not in row:
            raise ValueError(f"History.append: a row needs an 'epoch' entry, got keys {sorted(row)}")
        clean: dict[str, Any] = {}
        for k, v in row.items():
            if v is not None and not isinstance(v, (int, float)):
                raise TypeError(f"History.append: {k!r} must be a number or None, got {type(v).__name__}")
            clean[k] = v
        self.records.append(clean)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def keys(self) -> list[str]:
        """Every column name, in first-seen order."""
        seen: dict[str, None] = {}
        for r in self.records:
            seen.update(dict.fromkeys(r))
        return list(seen)

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __getitem__(self, key: str) -> list[Any]:
        if key not in self.keys():
            raise KeyError(f"History: no column {key!r}; columns are {self.keys()}")
        return [r.get(key) for r in self.records]

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, columns {self.keys()})"

    def best(self, monitor: str, mode: str = "min") -> dict[str, Any]:
        """The row with the lowest (``mode="min"``) or highest (``"max"``) value of ``monitor``."""
        if mode not in ("min", "max"):
            raise ValueError(f"History.best: mode must be 'min' or 'max', got {mode!r}")
        rows = [r for r in self.records if r.get(monitor) is not None and not math.isnan(r[monitor])]
        if not rows:
            raise ValueError(f"History.best: no epoch has a value for {monitor!r}; columns are {self.keys()}")
        pick = min if mode == "min" else max
        return pick(rows, key=lambda r: r[monitor])

    # --- CSV ---------------------------------------------------------------------------------
    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the rows as CSV (header = ``keys()``; floats exact via repr), atomically."""
        buf = _pyio.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.keys(), lineterminator="\n")
        writer.writeheader()
        for r in self.records:
            writer.writerow({k: ("" if v is None else repr(v)) for k, v in r.items()})
        data = buf.getvalue().encode("utf-8")
        return atomic_write(path, lambda f: f.write(data))

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> "History":
        """Read a CSV written by ``to_csv`` (or ``CSVLogger``)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"History.from_csv: no such file: '{path}'")
        rows = []
        with open(path, newline="", encoding="utf-8") as f:
            for line, raw in enumerate(csv.DictReader(f), start=2):
                row: dict[str, Any] = {}
                for k, v in raw.items():
                    if v is None or v == "":
                        row[k] = None
                        continue
                    try:
                        row[k] = int(v) if k == "epoch" else float(v)
                    except ValueError as e:
                        raise ValueError(f"History.from_csv: '{path}' line {line}: {k}={v!r} is not a number") from e
                rows.append(row)
        return cls(rows)

    # --- plot --------------------------------------------------------------------------------
    def curves(self) -> list[str]:
        """The quantities to plot: ``loss`` first, then each metric (train and ``val_`` merged)."""
        names: list[str] = []
        for k in self.keys():
            base = k[4:] if k.startswith("val_") else k
            if base not in _BOOKKEEPING and base not in names:
                names.append(base)
        return sorted(names, key=lambda n: (n != "loss", names.index(n)))

    def plot(self, path: str | os.PathLike[str], title: str | None = None,
             val_label: str = "validation") -> Path:
        """Draw learning curves (one panel per quantity: loss, accuracy ...; train vs val) to a PNG.

        Uses matplotlib's Agg canvas directly (no pyplot, no display needed), written atomically.

        Args:
            path: the ``.png`` file.
            title: an optional figure title.
            val_label: legend name of the ``val_*`` curves (``juanji train`` holds its
                validation data out of the training set, so "validation"; a caller that
                validates on a test set should say "test").
        """
        try:
            from matplotlib.figure import Figure
        except ImportError as e:  # pragma: no cover - part of the [train] extra
            raise ImportError("History.plot needs matplotlib (pip install matplotlib)") from e
        if not self.records:
            raise ValueError("History.plot: no epochs recorded")
        panels = self.curves()
        fig = Figure(figsize=(5.0 * len(panels), 4.0), dpi=100, layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        epochs = self["epoch"]
        for ax, name in zip(axes, panels):
            for key, label, style in ((name, "train", "-o"), ("val_" + name, val_label, "-s")):
                if key in self:
                    pts = [(e, v) for e, v in zip(epochs, self[key]) if v is not None]
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, markersize=3, label=label)
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.set_title(name.replace("_", " "))
            ax.grid(True, alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        buf = _pyio.BytesIO()
        fig.savefig(buf, format="png")
        data = buf.getvalue()
        return atomic_write(path, lambda f: f.write(data))
