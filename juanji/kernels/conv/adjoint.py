"""Route "adjoint": at stride 1 the input gradient is itself a correlation, run as a forward.

The forward sums w[o, c, i] * xp[h' + D*i] over the taps; so input position h (of the
unpadded input, h' = h + PB in the padded one) receives, from every output position y with
y + D*i = h + PB,

    dx[n, c, h] = sum_{o, i} w[o, c, i] * dout[n, o, h + PB - D*i]

which is a correlation of dout, padded by D*(K-1) - PB before and D*(K-1) - PA after, with
the kernel reversed (i -> K-1-i) and its two channel axes swapped, (O, Cg) -> (Cg, O) per
group (Geometry.adjoint_padding; the pads must be >= 0, so the padding may be no wider than
the dilated kernel). So dx takes the fast forward routes (Winograd for wide 3x3 layers,
products per kernel row, ...) chosen by the same planner for that correlation's geometry,
in the forward's layout, with no column gradient and no col2im, and comes out contiguous.
At stride > 1 dout would first have to be spread out with zeros, so those keep col2im.
The correlation's products have Cg rows, so with few input channels per group they are thin
and col2im wins (the planner's adjoint_min_channels).
"""

from __future__ import annotations

import numpy as np

from .geometry import Geometry
from .route import Route

__all__ = ["Adjoint", "ADJOINT", "adjoint_weight"]


def adjoint_weight(w: np.ndarray, groups: int) -> np.ndarray:
    """(O, Cg, *K) -> (C, Og, *K): per group, in and out channels swapped, every kernel axis reversed."""
    o_ch, cg = w.shape[:2]
    nd = w.ndim - 2
    w_t = w.reshape(groups, o_ch // groups, cg, *w.shape[2:]).swapaxes(1, 2)  # (G, Cg, Og, *K)
    w_t = w_t[(Ellipsis, *(slice(None, None, -1),) * nd)]  # kernel reversed
    return w_t.reshape(groups * cg, o_ch // groups, *w.shape[2:])  # (C, Og, *K), one small copy


class Adjoint(Route):
    """dx as a correlation. The planner binds each plan's instance to the forward route it chose
    for the correlation (``via``), under the settings in force when the plan was made."""

    name = "adjoint"
    directions = ("dx",)

    def __init__(self, via: Route | None = None) -> None:
        self.via = via

    def can(self, geom: Geometry, direction: str, layout: str) -> str | None:
        if geom.adjoint_padding is None:
            return ("stride > 1" if not geom.unit_stride else "padding wider than the dilated kernel")
        return None

    @staticmethod
    def correlation(geom: Geometry, layout: str) -> tuple[Geometry, Route]:
        """The correlation's geometry and the forward route the planner gives it in ``layout``."""
        from .planner import forward_route  # the planner imports this module
        adj = geom.adjoint(x_batch_last=layout == "batch_last")
        return adj, forward_route(adj, layout)[0]

    def bound(self, geom: Geometry, layout: str) -> "Adjoint":
        """This route with the correlation's forward route chosen now."""
        return Adjoint(self.correlation(geom, layout)[1])

    def _via(self, geom: Geometry, layout: str) -> tuple[Geometry, Route]:
        adj = geom.adjoint(x_batch_last=layout == "batch_last")
        return (adj, self.via) if self.via is not None else self.correlation(geom, layout)

    def input_grad(self, geom: Geometry, layout: str, x, w, dout, th) -> np.ndarray:
        adj, route = self._via(geom, layout)
        if layout == "nchw":
            dout = np.ascontiguousarray(dout)
        return route.forward(adj, layout, dout, adjoint_weight(w, geom.groups), None, th)

    def grads_workspace(self, geom: Geometry, layout: str, need_w: bool, need_x: bool, th) -> int:
        if not need_x:
            return 0
        adj, route = self._via(geom, layout)
        return route.forward_workspace(adj, layout, False, th)

    def __repr__(self) -> str:
        return f"<conv route 'adjoint' via {self.via.name!r}>" if self.via is not None else "<conv route 'adjoint'>"


ADJOINT = Adjoint()
