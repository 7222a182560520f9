"""The tutorial pictures' example scripts run as a learner runs them, on a small budget.

Each ``examples/*.py`` that draws pictures is run in a subprocess (``python examples/X.py
--out DIR --limit N ...``) and must exit 0, print the path of every PNG it wrote, and write
exactly the PNGs its docstring promises, each a valid PNG that Pillow decodes. So a change in
``juanji.viz``, the models or the data readers that breaks an example fails here instead of
rotting unseen. Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` (CI installs it;
on a machine without it these tests skip, and CI's JUANJI_STRICT_SKIPS=1 fails on any skip).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMEOUT_S = 180  # each script takes a few seconds on an idle 2-core machine; generous for a loaded one

# script -> (budget arguments, the PNGs it must write)
SCRIPTS = {
    "filters_before_after.py": (["--limit", "300", "--epochs", "1"],
                                {"filters_before.png", "filters_after.png"}),
    "line_filters.py": (["--size", "32"],
                        {"line_filters.png", "line_filter_response_vertical.png",
                         "line_filter_response_horizontal.png", "convolution_theorem.png"}),
    "lenet5_feature_maps.py": (["--limit", "300", "--epochs", "1", "--index", "1"],
                               {"lenet5_input.png", "lenet5_feature_maps.png"}),
    "grad_cam.py": (["--limit", "300", "--epochs", "1", "--images", "2"],
                    {"saliency_0.png", "grad_cam_0.png", "saliency_1.png", "grad_cam_1.png",
                     "grad_cam_mistake_pred.png", "grad_cam_mistake_true.png",
                     "confusion_matrix.png", "per_class_accuracy.png", "misclassified.png"}),
}
NEEDS_FASHION_MNIST = {"filters_before_after.py", "lenet5_feature_maps.py", "grad_cam.py"}
#: Examples run elsewhere, or that need what a test cannot give (a browser, a trained run).
NOT_HERE = {"train_digits.py": "tests/test_end_to_end.py", "report_screenshot.py": "headless Chromium"}


@functools.lru_cache(maxsize=None)
def _fashion_mnist_missing() -> str | None:
    from juanji.data import FashionMNIST

    try:
        FashionMNIST(train=False)
    except FileNotFoundError as e:
        return str(e)
    return None


def _run(script: str, *args: str, env: dict[str, str] | None = None, cwd: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH: the repository's juanji even where it is not pip-installed (`python examples/X.py`
    # puts examples/, not the root, on sys.path).
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                **(env or {})}
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_example_writes_its_pictures(script: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the examples draw with matplotlib (pip install -e '.[train]')")
    pytest.importorskip("PIL", reason="Pillow decodes the PNGs (pip install -e '.[train]')")
    if script == "line_filters.py":
        pytest.importorskip("sklearn", reason="the sample photos ship with scikit-learn (pip install -e '.[train]')")
    if script in NEEDS_FASHION_MNIST and (missing := _fashion_mnist_missing()):
        pytest.skip(f"Fashion-MNIST is not installed: {missing}")
    from PIL import Image

    budget, expected = SCRIPTS[script]
    out = tmp_path / "nested" / "out"  # a folder that does not exist yet: the script creates it
    proc = _run(script, "--out", str(out), *budget, cwd=tmp_path)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"

    printed = [Path(line.strip()) for line in proc.stdout.splitlines() if line.strip().endswith(".png")]
    assert {p.name for p in printed} == expected, f"{script} printed {sorted(map(str, printed))}"
    assert len(printed) == len(expected), f"{script} printed a path twice: {printed}"
    assert {p.name for p in out.iterdir()} == expected, f"{script} wrote {sorted(os.listdir(out))}"
    for path in printed:
        assert path.resolve().parent == out.resolve(), f"{script} printed {path}, outside --out {out}"
        with open(path, "rb") as f:
            assert f.read(8) == PNG_SIGNATURE, f"{path} is not a PNG"
        with Image.open(path) as im:
            im.load()  # decodes every pixel: a truncated file fails here
            assert im.format == "PNG" and im.width >= 150 and im.height >= 150, (path, im.format, im.size)
            lo, hi = im.convert("L").getextrema()
            assert hi - lo > 50, f"{path} is (nearly) blank: grey levels {lo}..{hi}"


@pytest.mark.parametrize("script", sorted(NEEDS_FASHION_MNIST))
def test_example_without_fashion_mnist_says_how_to_install_it(script: str, tmp_path: Path) -> None:
    proc = _run(script, "--out", str(tmp_path / "out"), "--limit", "10",
                env={"JUANJI_FASHION_MNIST": str(tmp_path / "nowhere")}, cwd=tmp_path)
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "dataset-fashion-mnist" in proc.stderr and str(tmp_path / "nowhere") in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()  # failed before writing anything


def test_every_picture_example_is_run_here() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py")}
    untested = scripts - set(SCRIPTS) - set(NOT_HERE)
    assert not untested, f"add {sorted(untested)} to SCRIPTS in {Path(__file__).name} (with a small budget)"
    assert set(SCRIPTS) <= scripts, f"SCRIPTS names missing files: {sorted(set(SCRIPTS) - scripts)}"
