"""A screenshot of a training report (report.html) in headless Chromium, for the README.

    python examples/report_screenshot.py                       # train the default job, shoot docs/report.png
    python examples/report_screenshot.py runs/X --out x.png    # an existing run folder
    python examples/report_screenshot.py --sections all --full-page

Without RUN_DIR it runs the default job (``juanji train``: digits_cnn on the bundled 8x8
digits, 40 epochs) into a temporary folder. The report is built again (``juanji.report``), then
opened in Debian's headless Chromium through selenium (``apt-get install chromium
chromium-driver``; ``pip install selenium``) in a window 1200 px wide. By default the page is
cut down to its header and the sections named by ``--sections`` (the others are hidden before
the shot; the file itself is not changed) and shot whole; ``--sections all`` keeps every
section, and without ``--full-page`` only the first ``--height`` pixels of it are shot. A PNG
over ``--max-kb`` is reduced to 256 colours (the report's flat colours survive that).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

from juanji.cli import main as juanji_main
from juanji.report import SECTIONS, build_report

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def screenshot(report: Path, out: Path, sections: list[str], width: int, height: int, full_page: bool,
               max_kb: int) -> Path:
    """Shoot ``report`` in headless Chromium and write the PNG ``out``; returns ``out``."""
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(report.resolve().as_uri())
        if sections != list(SECTIONS):
            # WebDriver's scripts run outside the page's Content-Security-Policy (which forbids the
            # page's own): hide the sections not asked for, and the header's links to them.
            driver.execute_script(
                "const keep = new Set(arguments[0]);"
                "for (const s of document.querySelectorAll('section')) if (!keep.has(s.id)) s.style.display = 'none';"
                "for (const a of document.querySelectorAll('nav a'))"
                "  if (!keep.has(a.getAttribute('href').slice(1))) a.style.display = 'none';", sections)
        if full_page:
            driver.set_window_size(width, driver.execute_script("return document.documentElement.scrollHeight"))
        png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    if buf.tell() > max_kb * 1024:
        buf = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buf, format="PNG", optimize=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", nargs="?", help="a juanji train run folder (default: train the default job)")
    p.add_argument("--out", default="docs/report.png", help="the PNG to write (default docs/report.png)")
    p.add_argument("--sections", default="test,filters",
                   help=f"comma-separated section ids to show, or 'all' (ids: {', '.join(SECTIONS)}; "
                        "default test,filters)")
    p.add_argument("--width", type=int, default=1200, help="window width in pixels (default 1200)")
    p.add_argument("--height", type=int, default=900, help="first-screen height without --full-page (default 900)")
    p.add_argument("--full-page", action="store_true",
                   help="shoot the whole page (implied unless --sections all)")
    p.add_argument("--max-kb", type=int, default=400, help="reduce to 256 colours above this size (default 400)")
    args = p.parse_args(argv)
    sections = list(SECTIONS) if args.sections == "all" else [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        p.error(f"--sections: unknown {', '.join(unknown)}; the report's sections: {', '.join(SECTIONS)}")
    with tempfile.TemporaryDirectory() as tmp:
        # named as juanji train names its default run folders (the report's header shows the name)
        run = Path(args.run_dir) if args.run_dir else Path(tmp) / f"digits-digits_cnn-{time.strftime('%Y%m%d-%H%M%S')}"
        if args.run_dir is None:
            status = juanji_main(["train", "--out", str(run)])
            if status:
                return status
        report = build_report(run)
        out = screenshot(report, Path(args.out), sections, args.width, args.height,
                         args.full_page or args.sections != "all", args.max_kb)
    print(f"{out} ({out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
