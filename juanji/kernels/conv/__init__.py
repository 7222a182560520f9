"""Convolution routes and the planner that chooses among them (see planner.py).

    geometry.py    the frozen sizes of one convolution call
    route.py       what a route is, and the Plan (layout + a route per direction)
    planner.py     every threshold in one table, the rules, use_routes / use_thresholds
    im2col_gemm.py the baseline: im2col + GEMM forward, dW GEMM, col2im dx (read this first)
    batch_inner.py backward with the batch inside the columns
    batch_last.py  im2col in the batch-last layout (C, *spatial, N)
    pointwise.py   1x1 at stride 1: no gather
    adjoint.py     dx at stride 1 as a correlation
    rowshift.py    products per kernel row on width-gathered columns
    winograd.py    F(2x2, 3x3) on compiled loops
    direct.py      the direct compiled loop, batch-last, for few output channels
    depthwise.py   2-D depthwise on compiled loops
"""

from .geometry import Geometry
from .planner import (ROUTES, Thresholds, explain, forward_route, plan, set_thresholds, thresholds, use_routes,
                      use_thresholds)
from .route import Plan, Route

__all__ = ["Geometry", "Plan", "Route", "ROUTES", "Thresholds", "explain", "forward_route", "plan",
           "set_thresholds", "thresholds", "use_routes", "use_thresholds"]
