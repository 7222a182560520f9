"""bench/cross_core.py, the slow-state probe, still runs against juanji's kernels (one round).

The benchmark scripts are never part of the tests' timing claims; this only keeps the probe
from rotting when the row-shifted kernels it reaches into change.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from juanji.kernels import blas

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not blas.available(np.float32),
                    reason="no BLAS with a known CBLAS interface in this NumPy: the probe needs rowshift")
def test_cross_core_probe_prints_a_round():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "cross_core.py"), "--seconds", "0.01",
                          "--repeats", "1"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("time") and len(lines) == 2, out.stdout
    fill, prod, fixed, one, ceiling = lines[1].split()[1:]
    assert float(fill) > 0 and float(prod) > 0 and float(fixed) > 0 and float(ceiling) > 0
    assert 0 < float(one.rstrip("%")) < 200
