"""The training report (juanji.report, issue 18) and the ``juanji report`` / ``juanji viz`` commands.

What a person sees is tested as a person sees it: the report of a real ``juanji train`` run on the
digits is opened in headless Chromium (no console error, every image decoded, every section
there, a screenshot that is not blank). The reports of the other kinds of run (a colour and a
grayscale image folder, a text file) are checked without a browser: the sections, the HTML's
structure, every image a valid PNG, nothing outside the page referenced, every string from the
data escaped, and the test figures equal to what ``juanji train`` printed.
"""

from __future__ import annotations

import base64
import contextlib
import html.parser
import io as pyio
import json
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

import juanji
from juanji.cli import build_model, build_parser, main, train_command
from juanji.report import REPORT, SECTIONS, build_report

pytest.importorskip("sklearn", reason="scikit-learn provides the bundled digits and photos (pip install -e '.[train]')")
pytest.importorskip("matplotlib", reason="the report draws with matplotlib (pip install -e '.[train]')")
Image = pytest.importorskip("PIL.Image", reason="Pillow decodes the report's PNGs (pip install -e '.[train]')")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# The pictures of an image run's report: learning curves, confusion matrix, accuracy per class,
# misclassified grid, filters before and after, feature maps, saliency.
IMAGE_RUN_PICTURES = 8
TEXT_RUN_PICTURES = 3  # curves, confusion matrix, accuracy per class
_RESULT = re.compile(r"test accuracy: ([\d.]+)% \((\d+)/(\d+)\)  test loss: ([\d.]+)")


def _cli(*args: str) -> tuple[int, str, str]:
    """``juanji ARGS`` in this process: (exit status, stdout, stderr)."""
    out, err = pyio.StringIO(), pyio.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def _one_error_line(err: str, command: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"juanji {command}: error: "), err
    return lines[0]


# --- reading a report as a parser does --------------------------------------------------------
class _Page(html.parser.HTMLParser):
    """The structure of a page: its sections, images, references, ids, text; nesting errors."""

    VOID = {"meta", "img", "br", "hr", "link", "input", "source", "wbr", "base", "col", "area", "embed"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: set[str] = set()
        self.ids: list[str] = []
        self.sections: list[str | None] = []
        self.images: list[str] = []
        self.refs: list[tuple[str, str, str]] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._section_text: dict[str, list[str]] = {}
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        if a.get("id"):
            self.ids.append(a["id"])
        if tag == "section":
            self.sections.append(a.get("id"))
            self._in.append(a.get("id") or "")
            self._section_text[a.get("id") or ""] = []
        if tag == "img":
            self.images.append(a.get("src") or "")
        for k, v in attrs:
            if k in ("src", "href", "srcset", "action", "poster", "data", "background", "formaction"):
                self.refs.append((tag, k, v or ""))
            if k.startswith("on"):
                self.errors.append(f"an event handler {k}= on <{tag}>")
            if k == "style":
                self.styles.append(v or "")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
            return
        self.stack.pop()
        if tag == "section":
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "style":
            self.styles.append(data)
        self.text.append(data)
        if self._in:
            self._section_text[self._in[-1]].append(data)

    def section_text(self, sid: str) -> str:
        return " ".join(" ".join(self._section_text[sid]).split())


def _check_report(path: Path, pictures: int) -> _Page:
    """Parse a report and check what every report must be; returns the parsed page."""
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    page.close()
    assert page.errors == [] and page.stack == [], (page.errors, page.stack)
    assert page.sections == list(SECTIONS)
    assert len(page.ids) == len(set(page.ids)), "ids must be unique"
    # Nothing runs and nothing is fetched: no script or embedding element, only data: images and
    # in-page anchors, no url() or @import in the CSS.
    assert not page.tags & {"script", "iframe", "object", "embed", "link", "base", "frame", "audio", "video"}
    for tag, attr, value in page.refs:
        if attr == "href":
            assert value.startswith("#") and value[1:] in page.ids, (tag, attr, value)
        else:
            assert tag == "img" and attr == "src" and value.startswith("data:image/png;base64,"), (tag, attr, value[:60])
    for css in page.styles:
        assert "url(" not in css and "@import" not in css
    assert len(page.images) == pictures, f"{len(page.images)} images, expected {pictures}"
    for src in page.images:
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(pyio.BytesIO(png)) as im:
            im.load()  # decodes every pixel: a truncated or corrupt PNG raises
            assert im.format == "PNG" and min(im.size) >= 50
    return page


def _accuracy(page: _Page) -> tuple[int, int, float]:
    """(correct, total, loss) as the report's test section states them."""
    m = re.search(r"test accuracy ([\d.]+)% \((\d+)/(\d+)\) test loss ([\d.]+)", page.section_text("test"))
    assert m, page.section_text("test")
    return int(m.group(2)), int(m.group(3)), float(m.group(4))


def _command_round_trips(run: Path) -> str:
    """The report's command line; parsed again, it must give the arguments config.json holds."""
    command = html.unescape(re.search(r'<pre class="command">(.*?)</pre>', (run / REPORT).read_text()).group(1))
    words = shlex.split(command)
    assert words[:2] == ["juanji", "train"]
    config = json.loads((run / "config.json").read_text())
    parsed = {k: v for k, v in vars(build_parser().parse_args(words[1:])).items() if k != "func"}
    # config.json also records what is not an argument: the number of processes (1 here).
    assert set(config) - set(parsed) == {"processes"} and config["processes"] == 1
    assert {k: parsed[k] for k in parsed if k != "debug"} == {k: v for k, v in config.items() if k in parsed and k != "debug"}
    return command


# --- runs --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> tuple[Path, str]:
    """The default job, one epoch: (run folder, what train printed)."""
    out = tmp_path_factory.mktemp("digits")
    status, stdout, stderr = _cli("train", "--epochs", "1", "--out", str(out))
    assert status == 0, stderr
    return out, stdout


def _photo_folder(root: Path, classes: dict[str, str], size: int, grayscale: bool) -> Path:
    """An image folder of crops of the bundled photos: class name -> photo ("china"/"flower")."""
    rng = np.random.default_rng(0)
    for name, photo in classes.items():
        img = juanji.data.load_sample_image(photo).transpose(1, 2, 0)  # (427, 640, 3) uint8
        (root / name).mkdir(parents=True)
        for i in range(10):
            y, x = rng.integers(0, 427 - 96), rng.integers(0, 640 - 96)
            crop = Image.fromarray(img[y:y + 96, x:x + 96]).resize((size, size))
            (crop.convert("L") if grayscale else crop).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> tuple[Path, str]:
    """A TextCNN run on a small TSV whose class names and texts carry markup: (run folder, accuracy printed)."""
    root = tmp_path_factory.mktemp("text")
    rng = np.random.default_rng(0)
    words = {"sport": "ball goal team match player score win run coach field".split(),
             "food": "bread cheese apple soup salt pepper cook dinner taste eat".split(),
             '<script>alert("x")</script>': "tag html page script browser click link window code web".split()}
    every = sum(words.values(), [])
    lines = ["text\tlabel"]
    for i in range(120):
        label = list(words)[i % 3]
        ws = list(rng.choice(words[label], 6)) + list(rng.choice(every, 6))
        lines.append(" ".join(ws + ["<img src=x onerror=alert(1)>"]) + "\t" + label)
    (root / "t.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = root / "run"
    status, stdout, stderr = _cli("train", "--data", str(root / "t.tsv"), "--epochs", "1", "--embed-dim", "16",
                                  "--num-filters", "8", "--out", str(out), "--quiet")
    assert status == 0, stderr
    return out, stdout.strip()


# --- the report of the default job ------------------------------------------------------------
def test_train_writes_the_report_with_its_own_test_result(digits_run):
    out, printed = digits_run
    report = out / REPORT
    assert printed.splitlines()[-1] == f"wrote {out / 'weights.safetensors'}, {out / 'history.csv'}, " \
        f"{out / 'learning_curves.png'}, {out / 'last.safetensors'}, {report}"
    page = _check_report(report, IMAGE_RUN_PICTURES)
    # The report computes the test result itself, from the logits: it must be what train measured.
    _, correct, total, loss = _RESULT.search(printed).groups()
    assert _accuracy(page) == (int(correct), int(total), pytest.approx(float(loss), abs=2e-4))
    assert total == "359"
    command = _command_round_trips(out)
    assert "--epochs 1" in command and "--model digits_cnn" in command
    # The model section is juanji summary's table; the filters section compares two files.
    assert f"Total params: {juanji.models.get_model('digits_cnn').num_parameters():,}" in page.section_text("model")
    assert "initial.safetensors" in page.section_text("filters")
    assert "Relative change" in page.section_text("filters")
    assert "BLAS" in page.section_text("machine") and "seconds per epoch" in page.section_text("machine")


def _chrome():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]'): the report is not checked in a browser")
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).is_file():
            pytest.skip(f"{path} not found (apt-get install {package}): the report is not checked in a browser")
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_the_report_in_headless_chromium(digits_run):
    report = digits_run[0] / REPORT
    driver = _chrome()
    try:
        driver.get(report.resolve().as_uri())  # returns once the page has loaded
        assert driver.execute_script("return document.readyState") == "complete"
        images = driver.execute_script(
            "return Array.from(document.images, i => [i.complete, i.naturalWidth, i.naturalHeight, i.alt])")
        assert len(images) == IMAGE_RUN_PICTURES
        for complete, width, height, alt in images:
            assert complete and width > 0 and height > 0, (alt, complete, width, height)
        sections = driver.execute_script(
            "return Array.from(document.querySelectorAll('section'), s => [s.id, s.getBoundingClientRect().height])")
        assert [s for s, _ in sections] == list(SECTIONS)
        assert all(h > 50 for _, h in sections), sections
        # Nothing was fetched: data: images are no requests, and there is nothing else.
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
        assert "test accuracy" in driver.find_element("id", "test").text
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == [], severe
        height = driver.execute_script("return document.documentElement.scrollHeight")
        assert height > 2000  # eight pictures and the tables
        driver.set_window_size(1200, height)
        shot = Image.open(pyio.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    finally:
        driver.quit()
    pixels = np.asarray(shot)
    assert shot.size[0] >= 1000 and shot.size[1] >= 2000, shot.size
    colours = np.unique(pixels.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 200, len(colours)  # the plots' colour maps, not a blank or one-colour page
    assert pixels.std() > 20, pixels.std()


# --- image folders: colour and grayscale -------------------------------------------------------
@pytest.mark.parametrize("grayscale", [False, True], ids=["colour", "grayscale"])
def test_image_folder_reports(tmp_path, grayscale):
    # Class names from the folder names: markup and an ampersand must show as text.
    classes = {"Ankle boot": "china", "Bag & co": "flower"} if grayscale else \
        {"china <b>bold": "china", "fl<script>ower": "flower"}
    data = _photo_folder(tmp_path / "data", classes, 28 if grayscale else 24, grayscale)
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--epochs", "1", "--image-size", "16", "--batch-size", "8", "--out",
            str(out), "--quiet"] + (["--grayscale"] if grayscale else [])
    status, stdout, stderr = _cli(*args)
    assert status == 0, stderr
    page = _check_report(out / REPORT, IMAGE_RUN_PICTURES)
    correct, total, _ = _accuracy(page)
    assert total == 4 and correct / total == pytest.approx(float(stdout), abs=1e-4)  # 20 images, 80/20
    meta = juanji.io.read(out / "weights.safetensors")[1]
    channels = json.loads(meta["input_shape"])[0]
    assert channels == (1 if grayscale else 3)
    raw = (out / REPORT).read_text(encoding="utf-8")
    for name in classes:
        assert html.escape(name) in raw
        assert name in page.section_text("test")  # the per-class table shows the name as text
    assert "<script" not in raw and "china <b>bold" not in raw and "Bag & co" not in raw


# --- text --------------------------------------------------------------------------------------
def test_text_report(text_run):
    out, printed = text_run
    page = _check_report(out / REPORT, TEXT_RUN_PICTURES)
    correct, total, _ = _accuracy(page)
    assert total == 12 and correct / total == pytest.approx(float(printed), abs=1e-4)
    assert "text model" in page.section_text("filters") and "text model" in page.section_text("feature-maps")
    assert "Convolutions (run as conv1d" in page.section_text("model")
    assert "--embed-dim 16" in _command_round_trips(out)
    rows = page.section_text("misclassified").count("<img src=x onerror=alert(1)>")
    assert rows == min(16, total - correct)  # one row per mistake shown, every text carries the tag
    raw = (out / REPORT).read_text(encoding="utf-8")
    assert "<script" not in raw and "<img src=x" not in raw
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in raw


def test_the_command_of_a_run_of_several_processes_starts_with_mpirun():
    # its global batch was N times --batch-size: the same command in one process would train another run
    assert train_command({"processes": 2, "epochs": 3, "batch_size": 16}) == \
        "mpirun -n 2 juanji train --epochs 3 --batch-size 16"
    assert train_command({"processes": 1, "epochs": 3}) == "juanji train --epochs 3"
    assert train_command({"epochs": 3, "unknown_key": 1}) == "juanji train --epochs 3"


# --- runs the report must cope with, and folders that are not runs ----------------------------
def test_report_of_an_old_run_whose_data_moved(digits_run, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(digits_run[0], old, ignore=shutil.ignore_patterns(".lock", REPORT, "initial.safetensors",
                                                                     "learning_curves.png"))
    config = json.loads((old / "config.json").read_text())
    config["data"] = str(tmp_path / "moved")
    (old / "config.json").write_text(json.dumps(config))
    status, stdout, stderr = _cli("report", str(old))
    assert (status, stdout, stderr) == (0, f"{old / REPORT}\n", "")
    # The curves drawn again from history.csv, the filters after training only; notes elsewhere.
    page = _check_report(old / REPORT, 2)
    for sid in ("test", "misclassified", "feature-maps"):
        assert "the run's test data could not be read" in page.section_text(sid), sid
    assert "No initial.safetensors" in page.section_text("filters")
    assert not (old / "learning_curves.png").exists()  # the run folder is left as it was


def test_folders_that_are_not_runs_are_refused(digits_run, tmp_path):
    run = digits_run[0]
    missing = tmp_path / "missing"
    empty = tmp_path / "empty"
    empty.mkdir()
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    shutil.copy(run / "config.json", no_weights)
    bad_config = tmp_path / "bad_config"
    bad_config.mkdir()
    (bad_config / "config.json").write_text("{not json")
    bad_weights = tmp_path / "bad_weights"
    shutil.copytree(run, bad_weights, ignore=shutil.ignore_patterns(".lock", REPORT))
    (bad_weights / "weights.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
    cases = {
        missing: f"'{missing}' is not a juanji train run folder: no such folder",
        empty: f"'{empty}' is not a juanji train run folder: '{empty / 'config.json'}' is missing",
        no_weights: f"'{no_weights}' is not a juanji train run folder: '{no_weights / 'weights.safetensors'}' is missing",
        bad_config: f"'{bad_config / 'config.json'}' is corrupt",
        bad_weights: f"'{bad_weights / 'weights.safetensors'}' is corrupt",
    }
    for folder, message in cases.items():
        with pytest.raises(ValueError, match=re.escape("build_report: " + message)):
            build_report(folder)
        status, stdout, stderr = _cli("report", str(folder))
        assert status == 2 and stdout == ""
        assert _one_error_line(stderr, "report").startswith("juanji report: error: " + message), stderr
        assert not (folder / REPORT).exists()


# --- train: --no-report, and a report that fails ------------------------------------------------
def test_train_without_a_report_and_with_a_failing_one(tmp_path, monkeypatch):
    status, stdout, stderr = _cli("train", "--epochs", "1", "--out", str(tmp_path / "a"), "--no-report")
    assert status == 0, stderr
    assert not (tmp_path / "a" / REPORT).exists() and REPORT not in stdout.splitlines()[-1]

    def fail(run_dir):
        raise RuntimeError("the plotting library is broken")

    monkeypatch.setattr("juanji.report.build_report", fail)
    out = tmp_path / "b"
    status, stdout, stderr = _cli("train", "--epochs", "1", "--out", str(out), "--quiet")
    assert status == 0  # the weights are written: the run succeeded
    assert 0.1 < float(stdout) <= 1.0 and (out / "weights.safetensors").is_file()
    assert stderr.splitlines() == [f"juanji train: warning: the run is complete, but its report could not be "
                                   f"written: the plotting library is broken (try again with: juanji report '{out}')"]


# --- juanji viz ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digit_png(tmp_path_factory) -> Path:
    """A digit 3 as a 32x32 grayscale PNG (viz --fit reads it as predict does: resized to 8x8)."""
    path = tmp_path_factory.mktemp("img") / "three.png"
    test = juanji.data.Digits(train=False)
    i = int(np.flatnonzero(test.targets == 3)[0])
    Image.fromarray((test.data[i, 0] * 255).astype(np.uint8)).resize((32, 32)).save(path)
    return path


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG"
        return im.size


def test_viz_commands_write_their_pictures(digits_run, digit_png, tmp_path):
    run = digits_run[0]
    weights = str(run / "weights.safetensors")
    cases = [
        (["filters"], run / "filters.png"),
        (["filters", "--layer", "4", "--out", str(tmp_path / "f4.png")], tmp_path / "f4.png"),
        (["features", str(digit_png), "--fit"], run / "features-three.png"),
        (["features", str(digit_png), "--fit", "--layers", "0,3", "--out", str(tmp_path / "fm.png")],
         tmp_path / "fm.png"),
        (["saliency", str(digit_png), "--fit", "--target", "3"], run / "saliency-three.png"),
        (["gradcam", str(digit_png), "--fit", "--layer", "0", "--invert"], run / "gradcam-three.png"),
    ]
    # An image of the model's own size and channels needs no --fit.
    exact = tmp_path / "three8.png"
    Image.open(digit_png).resize((8, 8)).save(exact)
    cases.append((["saliency", str(exact)], run / "saliency-three8.png"))
    for args, expected in cases:
        status, stdout, stderr = _cli("viz", *args, "--weights", weights)
        assert (status, stdout, stderr) == (0, f"{expected}\n", ""), args
        width, height = _png_size(expected)
        assert width >= 200 and height >= 150
    # the layer drawn is the one asked for: conv 4 has 32 filters, conv 0 16 (a 4x8 grid vs 4x4)
    assert _png_size(tmp_path / "f4.png")[0] > _png_size(run / "filters.png")[0]


def test_viz_errors_are_one_line(digits_run, digit_png, text_run, tmp_path):
    weights = str(digits_run[0] / "weights.safetensors")
    two_channel = tmp_path / "two.safetensors"
    model, kwargs = build_model("digits_cnn", 10, (2, 8, 8))
    juanji.io.save(model.state_dict(), two_channel, metadata={
        "model": "digits_cnn", "model_kwargs": json.dumps(kwargs), "classes": json.dumps([str(d) for d in range(10)]),
        "input_shape": "[2, 8, 8]"})
    rgb = tmp_path / "rgb.jpg"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(rgb)
    cases = [
        (["filters", "--weights", weights, "--layer", "2"],
         "--layer '2' is a ReLU, not a convolution (Conv2d); the convolutions of digits_cnn: 0, 4"),
        (["filters", "--weights", weights, "--layer", "conv9"],
         "--layer: Sequential has no layer named 'conv9'. Layers: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11"),
        (["features", str(digit_png), "--weights", weights],
         f"'{digit_png}' is a 1-channel 32x32 image, but digits_cnn takes input of shape (C, H, W) = (1, 8, 8); "
         "give an image of that size and channels, or --fit"),
        (["saliency", str(rgb), "--weights", weights],
         f"'{rgb}' is a 3-channel 8x8 image, but digits_cnn takes input of shape (C, H, W) = (1, 8, 8)"),
        (["features", str(digit_png), "--fit", "--weights", weights, "--layers", "0,9"],
         "feature_maps: layer '9' outputs shape (1, 64), not feature maps (1, C, H, W)"),
        (["features", str(digit_png), "--fit", "--weights", weights, "--layers", "nope"],
         "feature_maps: Sequential has no layer named 'nope'"),
        (["saliency", str(digit_png), "--fit", "--weights", weights, "--target", "cat"],
         "--target 'cat' is not a class of the model: give a class name or an index 0..9; the classes: 0, 1, 2"),
        (["saliency", str(digit_png), "--fit", "--weights", weights, "--target", "10"],
         "--target '10' is not a class"),
        (["gradcam", str(tmp_path / "none.png"), "--weights", weights], f"no such image: '{tmp_path / 'none.png'}'"),
        (["features", str(digit_png), "--fit", "--weights", str(two_channel)],
         "the model takes 2-channel images (input shape (2, 8, 8)), but an image file is read as 1 channel "
         "(grayscale) or 3 (RGB)"),
        (["filters", "--weights", str(text_run[0] / "weights.safetensors")],
         f"'{text_run[0] / 'weights.safetensors'}' is a text model (textcnn): juanji viz draws"),
        (["filters", "--weights", weights, "--out", str(tmp_path / "no" / "f.png")],
         f"--out '{tmp_path / 'no' / 'f.png'}': no such folder '{tmp_path / 'no'}'"),
        (["filters", "--weights", str(tmp_path / "none.safetensors")],
         f"--weights: no such file: '{tmp_path / 'none.safetensors'}'"),
    ]
    for args, message in cases:
        status, stdout, stderr = _cli("viz", *args)
        assert status == 2 and stdout == "", (args, stderr)
        line = _one_error_line(stderr, "viz")
        assert line.startswith("juanji viz: error: " + message), (args, line)
    assert not list(tmp_path.glob("*.png")) and not list(digits_run[0].glob("*-rgb.png"))


def test_help_of_the_new_commands():
    for args in (["report"], ["viz"], ["viz", "filters"], ["viz", "features"], ["viz", "saliency"],
                 ["viz", "gradcam"]):
        out = pyio.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
            main([*args, "--help"])
        assert exit_.value.code == 0 and "usage: juanji " + " ".join(args) in out.getvalue()
    out = pyio.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--no-report" in out.getvalue()
