"""Human-readable numbers for the summary tables: thousands separators, KiB/MiB/GiB, k/M/G."""

from __future__ import annotations

from typing import Sequence

__all__ = ["human_bytes", "human_count", "format_table"]


def human_bytes(n: float) -> str:
    """Bytes in binary units labelled as such: 512 -> "512 B", 11_200 -> "10.94 KiB", 3_613_400 -> "3.45 MiB".

    KiB, MiB and GiB are 1024, 1024**2 and 1024**3 bytes (Keras prints these as "KB"/"MB",
    which are 1000-based units: the label says what was computed).
    """
    n = float(n)
    for unit, size in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def human_count(n: float) -> str:
    """A count in decimal units: 1_399_500_000 -> "1.40 G", 153_600 -> "153.60 k"."""
    n = float(n)
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """Fixed-width columns; ``align`` has one "<" or ">" per column. Returns the lines,
    header first, each as wide as the widest line."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

    return [line(header)] + [line(r) for r in rows]
