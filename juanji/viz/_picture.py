"""The shared base of every picture, and the small helpers the picture functions share.

Every function of ``juanji.viz`` returns a ``Picture`` subclass: a dataclass holding the
``matplotlib.figure.Figure`` it drew and the arrays behind it (so tests and reports check
numbers, not pixels). ``save`` writes the PNG atomically; ``png_bytes`` returns it in memory
(the HTML report embeds it as base64).

matplotlib is imported only when a picture is drawn, so ``import juanji`` and
``import juanji.viz`` never need it. Figures are built on ``matplotlib.figure.Figure`` with
the Agg canvas that ``savefig`` picks for PNG: no pyplot (no global figure registry to leak
into, no GUI backend to start), never ``show()``.
"""

from __future__ import annotations

import io as _pyio
import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io import atomic_write
from ..nn.module import Module
from ..tensor import Tensor

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

__all__ = ["Picture"]

#: What a user without matplotlib is told to install (the ``train`` extra of pyproject.toml).
INSTALL_HINT = 'pip install -e ".[train]"'


def new_figure(op: str, width: float, height: float) -> "Figure":
    """A blank ``Figure`` of ``width`` x ``height`` inches with constrained layout.

    Raises:
        ImportError: matplotlib is missing, naming ``op`` and the install command.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # matplotlib is part of the [train] extra, not of juanji's core
        raise ImportError(f"{op}: drawing needs matplotlib ({INSTALL_HINT}, or pip install matplotlib)") from e
    return Figure(figsize=(float(width), float(height)), dpi=100, layout="constrained")


def colormap(name: str, bad: str = "white") -> Any:
    """The matplotlib colormap ``name`` with NaN drawn as ``bad`` (mosaic gaps, missing values)."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad=bad)


def _summary(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array{tuple(value.shape)}" if value.ndim else repr(value.item())
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_summary(v)}" for k, v in value.items()) + "}"
    return repr(value)


@dataclass(eq=False)
class Picture:
    """A drawn figure and the arrays it shows.

    Attributes:
        figure: the ``matplotlib.figure.Figure`` (draw on it further, or save it).
    """

    figure: "Figure"

    def png_bytes(self, dpi: float = 100) -> bytes:
        """The figure as PNG bytes (for embedding, e.g. base64 in an HTML report).

        Args:
            dpi: dots per inch; the figure's size in inches times ``dpi`` gives the pixels.
        """
        dpi = _dpi(type(self).__name__ + ".png_bytes", dpi)
        buf = _pyio.BytesIO()
        self.figure.savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()

    def save(self, path: str | os.PathLike[str], dpi: float = 100) -> Path:
        """Write the figure as a PNG file atomically (a reader never sees a half-written file).

        Args:
            path: the ``.png`` file; its directory must exist.
            dpi: dots per inch.

        Returns:
            ``path`` as a Path.

        Example:
            >>> juanji.viz.confusion_matrix([0, 1, 1], [0, 1, 0]).save("cm.png")
            PosixPath('cm.png')
        """
        data = self.png_bytes(dpi)  # draw first: a failing draw leaves no file behind
        return atomic_write(path, lambda f: f.write(data))

    def __repr__(self) -> str:
        # Arrays by shape, not by value: a Filters of 64 kernels would otherwise print pages.
        parts = [f"{f.name}={_summary(getattr(self, f.name))}" for f in fields(self) if f.name != "figure"]
        return f"{type(self).__name__}({', '.join(parts)})"


def _dpi(op: str, dpi: Any) -> float:
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float, np.integer, np.floating)) \
            or not math.isfinite(dpi) or not 1 <= dpi <= 2400:
        raise ValueError(f"{op}: dpi must be a number in [1, 2400], got {dpi!r}")
    return float(dpi)


# --- argument checks shared by the picture functions ---------------------------------------------
def as_numpy(op: str, name: str, value: Any) -> np.ndarray:
    """The ndarray behind a Tensor / array / nested list, refusing non-numeric data."""
    if isinstance(value, Tensor):
        arr = value.data
    elif isinstance(value, Module):
        raise TypeError(f"{op}: {name} must be an array or a Tensor, got the module {type(value).__name__}")
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as e:  # ragged nested lists
            raise TypeError(f"{op}: {name} must be an array or a Tensor ({e})") from e
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{op}: {name} must hold numbers, got dtype {arr.dtype} (shape {arr.shape})")
    return arr


def positive_int(op: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {value!r}")
    return int(value)


def check_finite(op: str, name: str, arr: np.ndarray) -> None:
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"{op}: {name} (shape {arr.shape}) has {bad} NaN or infinite values")


# --- turning arrays into images ------------------------------------------------------------------
def unit_scale(a: np.ndarray, axes: tuple[int, ...] | None = None) -> np.ndarray:
    """Min-max scale to [0, 1] over ``axes`` (None: the whole array), in float64.

    ``(a - min) / (max - min)``; where max == min (a constant tile) the result is 0.5, the
    middle grey, rather than 0/0.
    """
    a = np.asarray(a, dtype=np.float64)
    lo = a.min(axis=axes, keepdims=True)
    hi = a.max(axis=axes, keepdims=True)
    span = hi - lo
    flat = span == 0
    out = (a - lo) / np.where(flat, 1.0, span)
    return np.where(flat, 0.5, out)


def display_image(img: np.ndarray) -> tuple[np.ndarray, str | None]:
    """An image (C, H, W) or (H, W) as something ``imshow`` draws: (H, W) grey or (H, W, 3) RGB.

    Images already in [0, 1] are shown as they are (so a dark photo stays dark); any other
    range is min-max scaled to [0, 1]. One channel: grey; three: RGB; any other count: the
    mean over channels, in grey. Returns the array and the colormap name (None for RGB).
    """
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 3:
        img = img.transpose(1, 2, 0) if img.shape[0] == 3 else (img[0] if img.shape[0] == 1 else img.mean(axis=0))
    if img.size and not (img.min() >= 0.0 and img.max() <= 1.0):
        img = unit_scale(img)
    return img, (None if img.ndim == 3 else "gray")


def mosaic(tiles: np.ndarray, ncols: int, gap: int = 1) -> np.ndarray:
    """Lay tiles (T, h, w) out as one image, ``ncols`` per row, separated by NaN gaps.

    The gaps (and unused cells of the last row) are NaN, which ``colormap(..., bad=...)``
    draws in the background colour, so no tile's values bleed into the separators.

    Returns:
        (rows * (h + gap) - gap, ncols * (w + gap) - gap) float64, rows = ceil(T / ncols).
    """
    T, h, w = tiles.shape
    rows = -(-T // ncols)
    out = np.full((rows * (h + gap) - gap, ncols * (w + gap) - gap), np.nan)
    for t in range(T):  # loop over tiles (at most a few dozen), not pixels
        r, c = divmod(t, ncols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tiles[t]
    return out


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, cols) of a near-square grid holding ``n`` cells, wider than tall."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return max(1, -(-n // cols)), cols
