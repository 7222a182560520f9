"""The first picture of every CNN tutorial: two 7x7 line filters on two photos, and why they work.

    python examples/line_filters.py [--size 64] [--out examples_out]

1. ``line_filters.png``: scikit-learn's two sample photos (a Chinese pagoda, a flower) in grey,
   convolved with a vertical line filter (ones in the middle column) and a horizontal one
   (ones in the middle row). Each output pixel sums the 7 pixels on a line through it, so
   the vertical filter keeps vertical structure sharp and smears everything else up and
   down: a feature map lights up where the photo has the filter's orientation.
2. ``line_filter_response_vertical.png`` and ``..._horizontal.png``: each filter's frequency
   response (its 2-D DFT, zero frequency in the middle). The vertical filter averages along
   y, so it is a low-pass filter along y and passes every frequency along x: it keeps
   what changes across the image (vertical edges) and damps what changes down it.
3. ``convolution_theorem.png``: filtering in space is multiplying spectra. A Gaussian blur
   (low-pass) and the Laplacian (high-pass) are applied to a photo by ``conv2d`` and by
   IDFT(DFT(image) . DFT(kernel)); the two agree to float64 rounding.

No training and no data set beyond scikit-learn's bundled photos; a few seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import juanji.viz as viz


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64, help="DFT size of the filters' frequency responses")
    p.add_argument("--out", type=Path, default=Path("examples_out"))
    a = p.parse_args()
    if a.size < 7:
        p.error("--size must be at least the filters' size, 7")
    a.out.mkdir(parents=True, exist_ok=True)

    demo = viz.line_filters_demo()
    print(demo.save(a.out / "line_filters.png"))
    for k, orientation in enumerate(("vertical", "horizontal")):
        response = viz.frequency_response(demo.kernels[k, 0], size=a.size)  # (7, 7) -> (size, size) spectrum
        print(response.save(a.out / f"line_filter_response_{orientation}.png"))

    theorem = viz.convolution_theorem_demo()
    for name, diff in theorem.max_abs_difference.items():
        print(f"{name}: max |conv2d - IDFT(DFT . DFT)| = {diff:.1e}")
    print(theorem.save(a.out / "convolution_theorem.png"))


if __name__ == "__main__":
    main()
