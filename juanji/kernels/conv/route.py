"""What a convolution route is, and the plan that names one route per direction.

A route is one way to compute a convolution: a name, the layouts it runs in, and up to three
directions (forward, the weight gradient dW, the input gradient dx) with the scratch memory
each allocates. What it *can* compute is the route's own business (``supports``: the
shapes, dtypes and installed packages it needs); when it *pays* is the planner's, in one table
(juanji/kernels/conv/planner.py). Like cuDNN's algorithms or PyTorch's conv backends.

Arrays a route receives are laid out as the plan's layout says:

* ``"nchw"``: x (N, C, *spatial), dout (N, O, *out) as NumPy holds them (routes that need a
  contiguous array make it so), and the results in the same layout;
* ``"batch_last"``: x_t (C, *spatial, N), dout_t (O, *out, N), results (O, *out, N) and
  (C, *spatial, N) (juanji/kernels/layout.py).

dW comes back as (O, Cg, *kernel) in either layout. Workspaces count the elements of the
scratch arrays a call allocates beyond what it returns (the output, dW or dx); the tests
check each against tracemalloc.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..im2col import pad_zeros
from .geometry import Geometry

if TYPE_CHECKING:
    from .planner import Thresholds

__all__ = ["Route", "OnePassRoute", "Plan", "LAYOUTS", "DIRECTIONS"]

LAYOUTS = ("nchw", "batch_last")
DIRECTIONS = ("forward", "dw", "dx")


class Route:
    """A way to compute a convolution; subclasses implement the directions they list."""

    name: str = ""
    layouts: tuple[str, ...] = LAYOUTS
    directions: tuple[str, ...] = DIRECTIONS

    def supports(self, geom: Geometry, direction: str, layout: str) -> str | None:
        """None when this route can compute ``direction`` of ``geom`` in ``layout``, else the
        reason it cannot (shown by ``explain`` and by a forced route that cannot run)."""
        if direction not in self.directions:
            return f"{self.name} has no {direction} pass"
        if layout not in self.layouts:
            return f"{self.name} does not run in the {layout} layout"
        return self.can(geom, direction, layout)

    def can(self, geom: Geometry, direction: str, layout: str) -> str | None:
        """The route's own conditions, beyond direction and layout; None means it can run."""
        return None

    # --- the directions --------------------------------------------------------------------
    def forward(self, geom: Geometry, layout: str, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                th: "Thresholds") -> np.ndarray:
        raise NotImplementedError(f"{self.name}: no forward pass")

    def weight_grad(self, geom: Geometry, layout: str, x: np.ndarray, w: np.ndarray, dout: np.ndarray,
                    th: "Thresholds") -> np.ndarray:
        raise NotImplementedError(f"{self.name}: no weight gradient")

    def input_grad(self, geom: Geometry, layout: str, x: np.ndarray, w: np.ndarray, dout: np.ndarray,
                   th: "Thresholds") -> np.ndarray:
        raise NotImplementedError(f"{self.name}: no input gradient")

    def grads(self, geom: Geometry, layout: str, x: np.ndarray, w: np.ndarray, dout: np.ndarray, need_w: bool,
              need_x: bool, th: "Thresholds") -> tuple[np.ndarray | None, np.ndarray | None]:
        """(dW, dx) when the plan takes both from this route. Routes whose two gradients share
        one pass over the columns override this to run it once."""
        return (self.weight_grad(geom, layout, x, w, dout, th) if need_w else None,
                self.input_grad(geom, layout, x, w, dout, th) if need_x else None)

    # --- scratch memory, in elements --------------------------------------------------------
    def forward_workspace(self, geom: Geometry, layout: str, bias: bool, th: "Thresholds") -> int:
        return 0

    def grads_workspace(self, geom: Geometry, layout: str, need_w: bool, need_x: bool, th: "Thresholds") -> int:
        """Peak scratch of ``grads(need_w, need_x)``, counting dW while dx is computed."""
        return 0

    def __repr__(self) -> str:
        return f"<conv route {self.name!r}>"


class OnePassRoute(Route):
    """A route whose dW and dx share one pass over the columns (``grads``), so each alone is
    that pass with the other gradient switched off."""

    def weight_grad(self, geom: Geometry, layout: str, x: np.ndarray, w: np.ndarray, dout: np.ndarray,
                    th: "Thresholds") -> np.ndarray:
        return self.grads(geom, layout, x, w, dout, True, False, th)[0]

    def input_grad(self, geom: Geometry, layout: str, x: np.ndarray, w: np.ndarray, dout: np.ndarray,
                   th: "Thresholds") -> np.ndarray:
        return self.grads(geom, layout, x, w, dout, False, True, th)[1]


@dataclass(frozen=True)
class Plan:
    """The routes one convolution takes: its layout and a route per direction.

    ``dx_via``: when the input gradient is a correlation (the ``adjoint`` route), the name of
    the forward route that correlation takes (chosen with the plan, under the same settings). ``reasons``: per direction, the planner rule that chose it.
    """

    geom: Geometry
    layout: str
    forward: Route
    dw: Route
    dx: Route
    dx_via: str | None
    reasons: dict[str, str]
    th: Any  # the Thresholds in force when the plan was made

    def _layout_copy(self) -> int:
        """Elements of the input's copy into the plan's layout (0 when it arrives in it)."""
        g = self.geom
        moved = (self.layout == "batch_last") != g.x_batch_last
        return moved * g.n * g.c * math.prod(g.spatial)

    def forward_workspace(self, bias: bool) -> int:
        """Elements of the scratch arrays the forward call allocates beyond its output."""
        return self._layout_copy() + self.forward.forward_workspace(self.geom, self.layout, bias, self.th)

    def backward_workspace(self, need_w: bool, need_x: bool) -> int:
        """Peak elements of the scratch arrays backward allocates beyond the output gradient it
        is given (taken to arrive in the output's layout) and the gradients it returns."""
        g, layout, th = self.geom, self.layout, self.th
        if need_w and need_x and self.dw is self.dx:
            rest = self.dw.grads_workspace(g, layout, True, True, th)
            return rest + (self._layout_copy() if layout == "batch_last" else 0)
        dx = self.dx.grads_workspace(g, layout, False, True, th) if need_x else 0
        dw = self.dw.grads_workspace(g, layout, True, False, th) if need_w else 0
        if need_w and layout == "batch_last":
            dw += self._layout_copy()  # x into the batch-last layout, for dW
        return max(dx, dw)  # one after the other (dx, returned, is not scratch)

    def names(self) -> dict[str, str]:
        """{'layout': ..., 'forward': ..., 'dw': ..., 'dx': ...}, dx as 'adjoint/winograd' when
        it is a correlation."""
        dx = self.dx.name if self.dx_via is None else f"{self.dx.name}/{self.dx_via}"
        return {"layout": self.layout, "forward": self.forward.name, "dw": self.dw.name, "dx": dx}

    def describe(self) -> str:
        """One line per direction with the rule that chose it."""
        names = self.names()
        lines = [self.geom.describe()]
        for key in ("layout", "forward", "dw", "dx"):
            lines.append(f"  {key:8s} {names[key]:22s} {self.reasons.get(key, '')}")
        return "\n".join(lines)


# --- helpers shared by the routes ---------------------------------------------------------------
def batch_chunk(n: int, bytes_per_image: int, th: "Thresholds", min_images: int = 1) -> int:
    """Images per chunk: as many as the column budget holds, and at least ``min_images``;
    within [1, n] (and at most th.max_chunk when set)."""
    by_budget = th.cols_budget_bytes // max(bytes_per_image, 1)
    chunk = max(1, min(n, max(by_budget, min_images)))
    return chunk if th.max_chunk is None else min(chunk, th.max_chunk)


def row_chunk(out_rows: int, bytes_per_row: int, th: "Thresholds", min_rows: int = 1) -> int:
    """Output rows (first spatial axis) per chunk of the batch-last layout: as many as its
    column budget holds, and at least ``min_rows``; within [1, out_rows]."""
    by_budget = th.batch_last_budget_bytes // max(bytes_per_row, 1)
    rows = max(1, min(out_rows, max(by_budget, min_rows)))
    return rows if th.max_chunk is None else min(rows, th.max_chunk)


def padded_buffer(geom: Geometry, chunk: int) -> np.ndarray | None:
    """A zeroed (chunk, C, HP, WP) buffer that pad_zeros refills chunk by chunk; None if unpadded."""
    if not geom.is_padded:
        return None
    return np.zeros((chunk, geom.c, *geom.padded), dtype=geom.dtype)


def padded_chunk(x: np.ndarray, geom: Geometry, buf: np.ndarray | None, start: int, stop: int) -> np.ndarray:
    """x[start:stop] zero-padded, in buf's head when there is padding (else x's own view)."""
    return pad_zeros(x[start:stop], geom.padding, out=None if buf is None else buf[: stop - start])


def weight_matrix(w: np.ndarray, b: np.ndarray | None, g: int) -> np.ndarray:
    """(O, Cg, *K) -> (G, Og, Cg*K), with the bias appended as a last column when given (G = 1):
    [W | b] @ [cols; 1] = W @ cols + b, the bias inside the product."""
    o_ch = w.shape[0]
    if b is None:
        return w.reshape(g, o_ch // g, -1)
    return np.concatenate([w.reshape(o_ch, -1), b[:, None]], axis=1)[None]  # (1, O, C*K + 1)
