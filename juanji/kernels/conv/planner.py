"""The planner: which route each convolution takes, decided in one place, by one table.

``plan(geom)`` returns a ``Plan``: the layout, then a route per direction (forward, dW, dx).
Each decision is the first rule of its list below that holds and whose route can run the
geometry (``Route.supports``); the last rule of every list always holds. Every threshold is
a field of ``Thresholds``, one line each with the measurement behind it (bench/NOTES.md,
by heading). They were tuned on one 2-core machine; ``python bench/tune_conv.py`` re-measures
them on yours and prints the values to pass to ``set_thresholds``.

Forcing routes (the tests use this, and so can anyone comparing routes):

    with use_routes(forward="im2col", dx="im2col"):        # by name, for a block of code
        y = F.conv2d(x, w)
    with use_routes(exclude=("winograd", "rowshift")):     # leave some out of every choice
        ...
    with use_thresholds(winograd_min_channels=64):          # change a rule's threshold
        ...

A forced route is taken wherever it can run; elsewhere the rules decide, unless
``strict=True``, which raises instead. ``explain(geom)`` prints the plan and the rule behind
each choice; juanji.analysis.conv_plans does it for every conv of a model.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from dataclasses import dataclass
from typing import Callable, Iterator

from .adjoint import ADJOINT
from .batch_inner import BATCH_INNER
from .batch_last import BATCH_LAST
from .depthwise import DEPTHWISE
from .direct import DIRECT
from .geometry import Geometry
from .im2col_gemm import IM2COL
from .pointwise import POINTWISE
from .route import DIRECTIONS, LAYOUTS, Plan, Route
from .rowshift import ROWSHIFT, product_rows
from .winograd import WINOGRAD

__all__ = ["Thresholds", "ROUTES", "plan", "forward_route", "explain", "use_routes", "use_thresholds",
           "set_thresholds", "thresholds", "LAYOUT_RULES", "FORWARD_RULES", "DW_RULES", "DX_RULES"]

MiB = 2**20
_NOTES = "bench/NOTES.md"


@dataclass(frozen=True)
class Thresholds:
    """Every number the planner and the routes decide by (bench/NOTES.md has the measurements)."""

    # Columns are gathered a chunk of images at a time into a reused buffer of this size and
    # multiplied while in cache ("Changes kept": cache-sized chunks).
    cols_budget_bytes: int = 8 * MiB
    # Batch-last chunks of output rows get more: one row of resnet18-CIFAR's first stage is
    # 4.7 MB at batch 64 ("The batch-last layout (this session)": batch-last column budget).
    batch_last_budget_bytes: int = 32 * MiB
    # Bands of the products per kernel row (2 to 16 MB measured alike; "Products per kernel
    # row (2026-12-04)").
    rowshift_budget_bytes: int = 8 * MiB
    # A dW chunk spans at least this many positions, so its sum stays long ("Changes kept",
    # the notes under its first table).
    min_dw_positions: int = 4096
    # Backward with the batch inside the columns from this Cg*K ("Changes kept": conv backward
    # with the batch inside the columns).
    batch_inner_min_cgk: int = 64
    # Below this many output positions an image's product is thin: batch-last layout
    # ("The batch-last layout (this session)").
    forward_per_image_min_l: int = 1024
    # A stride-1 layer with this many times more output than input channels (3 -> 64) goes
    # batch-last at any size ("The batch-last layout (this session)": a stride-1 first layer).
    first_layer_widening: int = 8
    # dx as a correlation from this many input channels per group ("Changes kept": conv
    # backward at stride 1, dx as a correlation).
    adjoint_min_channels: int = 64
    # Winograd from this many channels on both sides ("Winograd and thread pools (2026-11-23)").
    winograd_min_channels: int = 128
    # Products per kernel row from this many product rows ("Products per kernel row
    # (2026-12-04)": the size rule).
    rowshift_min_rows: int = 24
    # The direct loop for at most this many output channels ... ("2026-12-05": the direct
    # compiled loop)
    direct_max_out_channels: int = 8
    # ... and a batch of at least this many images (same section).
    direct_min_batch: int = 32
    # A thin batch-last dW product is cut into pieces of this many positions ... ("The
    # batch-last layout (this session)": the batch-last dW cut into pieces)
    split_k_piece: int = 1024
    # ... when its result has at most this many entries (same section).
    split_k_max_elems: int = 1024
    # Along an axis whose stride is at least this and wider than the dilated kernel, only the
    # taps are gathered first (juanji/functional/conv.py; "2026-12-07: strides wider than the
    # window").
    gather_min_stride: int = 3
    # At most this many images (NCHW) or output rows (batch-last) per chunk; None: by the
    # budgets alone. A cap on memory; the tests use it to run many chunks on small shapes.
    max_chunk: int | None = None


@dataclass(frozen=True)
class _Settings:
    thresholds: Thresholds = Thresholds()
    layout: str | None = None
    forced: tuple[tuple[str, str], ...] = ()  # (direction, route name)
    exclude: frozenset[str] = frozenset()
    strict: bool = False


_DEFAULT = [_Settings()]  # the process-wide settings (set_thresholds); a list so it can be replaced
_settings: contextvars.ContextVar[_Settings | None] = contextvars.ContextVar("juanji_conv_settings", default=None)


def _current() -> _Settings:
    s = _settings.get()
    return _DEFAULT[0] if s is None else s


def thresholds() -> Thresholds:
    """The thresholds in force here."""
    return _current().thresholds


ROUTES: dict[str, Route] = {r.name: r for r in (DEPTHWISE, WINOGRAD, DIRECT, ROWSHIFT, POINTWISE, ADJOINT,
                                                 BATCH_LAST, BATCH_INNER, IM2COL)}

# --- the rules ------------------------------------------------------------------------------------
# (what it picks, why, when): the first whose condition holds (and whose route can run) wins.
Rule = tuple[str, str, Callable[[Geometry, Thresholds], bool]]


def _always(geom: Geometry, th: Thresholds) -> bool:
    return True


LAYOUT_RULES: tuple[Rule, ...] = (
    ("nchw", "2-D depthwise: its compiled loops read NCHW", lambda g, t: _allowed("depthwise", g, "forward", "nchw")),
    ("batch_last", "the input arrives batch-last (a batch-last layer before)", lambda g, t: g.x_batch_last),
    ("nchw", "1x1 at stride 1 on NCHW: the columns are the input", lambda g, t: g.pointwise),
    ("batch_last", "a stride-1 layer that widens as a first layer does (O >= {first_layer_widening} * C): "
                   "the layers after it follow",
     lambda g, t: g.c * t.first_layer_widening <= g.o and g.unit_stride),
    ("batch_last", "few output positions (L < {forward_per_image_min_l}): per-image products would be thin",
     lambda g, t: g.positions < t.forward_per_image_min_l),
    ("nchw", "long rows: one product per chunk of images", _always),
)

FORWARD_RULES: tuple[Rule, ...] = (
    ("depthwise", "2-D depthwise: compiled loops, no columns", _always),
    ("winograd", "3x3 stride 1 with >= {winograd_min_channels} channels on both sides",
     lambda g, t: min(g.c, g.o) >= t.winograd_min_channels),
    ("direct", "few output channels (<= {direct_max_out_channels}), a batch >= {direct_min_batch}, stride 1",
     lambda g, t: g.o <= t.direct_max_out_channels and g.n >= t.direct_min_batch and g.unit_stride),
    ("rowshift", "products per kernel row with >= {rowshift_min_rows} rows",
     lambda g, t: product_rows(g) >= t.rowshift_min_rows),
    ("pointwise", "1x1 at stride 1: the columns are the input", _always),
    ("batch_last", "the general route, batch-last", _always),
    ("im2col", "the general route", _always),
)

DW_RULES: tuple[Rule, ...] = (
    ("depthwise", "2-D depthwise: compiled loops", _always),
    ("rowshift", "products per kernel row with >= {rowshift_min_rows} rows",
     lambda g, t: product_rows(g) >= t.rowshift_min_rows),
    ("pointwise", "1x1 at stride 1, unpadded: one product per image on x where it lies", _always),
    ("batch_last", "the general route, batch-last", _always),
    ("batch_inner", "Cg*K >= {batch_inner_min_cgk}: one long product per chunk of images",
     lambda g, t: g.cgk >= t.batch_inner_min_cgk),
    ("im2col", "the general route: per image", _always),
)

DX_RULES: tuple[Rule, ...] = (
    ("depthwise", "2-D depthwise: compiled loops", _always),
    ("adjoint", "stride 1 and >= {adjoint_min_channels} input channels per group: a correlation",
     lambda g, t: g.cg >= t.adjoint_min_channels),
    ("rowshift", "products per kernel row with >= {rowshift_min_rows} rows",
     lambda g, t: product_rows(g) >= t.rowshift_min_rows),
    ("batch_last", "the general route, batch-last (col2im)", _always),
    ("batch_inner", "Cg*K >= {batch_inner_min_cgk}: col2im a chunk of images at a time",
     lambda g, t: g.cgk >= t.batch_inner_min_cgk),
    ("im2col", "the general route: per image (col2im)", _always),
)

_RULES = {"forward": FORWARD_RULES, "dw": DW_RULES, "dx": DX_RULES}


def _why(reason: str, th: Thresholds) -> str:
    """A rule's reason with its thresholds' values: '... >= rowshift_min_rows (24) rows'."""
    return reason.format(**{k: f"{k} ({v})" for k, v in dataclasses.asdict(th).items()})


def _allowed(name: str, geom: Geometry, direction: str, layout: str) -> bool:
    """Whether route ``name`` may run ``direction`` under the settings in force: not excluded,
    and able to run the geometry. (A route forced for the direction steers the layout
    afterwards, in _layout.)"""
    return name not in _current().exclude and ROUTES[name].supports(geom, direction, layout) is None


def _choose(geom: Geometry, direction: str, layout: str, s: _Settings) -> tuple[Route, str]:
    forced = dict(s.forced).get(direction)
    if forced is not None:
        why = ROUTES[forced].supports(geom, direction, layout)
        if why is None:
            return ROUTES[forced], "forced (use_routes)"
        if s.strict:
            raise ValueError(f"conv: the forced {direction} route {forced!r} cannot run {geom.describe()} "
                             f"in the {layout} layout: {why}")
    for name, reason, holds in _RULES[direction]:
        if name in s.exclude or ROUTES[name].supports(geom, direction, layout) is not None:
            continue
        if holds(geom, s.thresholds):
            return ROUTES[name], _why(reason, s.thresholds)
    raise ValueError(f"conv: no {direction} route can run {geom.describe()} in the {layout} layout "
                     f"(excluded: {sorted(s.exclude)})")


def _layout(geom: Geometry, s: _Settings) -> tuple[str, str]:
    if s.layout is not None:
        return s.layout, "forced (use_routes)"
    for layout, reason, holds in LAYOUT_RULES:
        if holds(geom, s.thresholds):
            break
    else:
        raise AssertionError("unreachable: the last layout rule always holds")
    forced = dict(s.forced).get("forward")
    if forced is not None and ROUTES[forced].supports(geom, "forward", layout) is not None:
        other = LAYOUTS[1 - LAYOUTS.index(layout)]
        if ROUTES[forced].supports(geom, "forward", other) is None:
            return other, f"the forced forward route {forced!r} runs in it"
    return layout, _why(reason, s.thresholds)


def forward_route(geom: Geometry, layout: str) -> tuple[Route, str]:
    """The forward route and its reason for ``geom`` in a given layout (the adjoint route
    plans its correlation with this)."""
    return _choose(geom, "forward", layout, _current())


_CACHE: dict[tuple[Geometry, _Settings], Plan] = {}
_CACHE_SIZE = 4096


def plan(geom: Geometry) -> Plan:
    """The routes ``geom`` takes under the settings in force (cached per geometry and settings)."""
    s = _current()
    key = (geom, s)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    layout, why_layout = _layout(geom, s)
    fwd, why_f = _choose(geom, "forward", layout, s)
    dw, why_w = _choose(geom, "dw", layout, s)
    dx, why_x = _choose(geom, "dx", layout, s)
    via = None
    if dx is ADJOINT:
        dx = ADJOINT.bound(geom, layout)  # the correlation's route, chosen under these settings
        via = dx.via.name
    made = Plan(geom=geom, layout=layout, forward=fwd, dw=dw, dx=dx, dx_via=via,
                reasons={"layout": why_layout, "forward": why_f, "dw": why_w, "dx": why_x}, th=s.thresholds)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[key] = made
    return made


def explain(geom: Geometry) -> str:
    """The plan of ``geom`` with the rule behind each choice, one line per direction."""
    return plan(geom).describe()


# --- forcing and tuning ---------------------------------------------------------------------------
def _check_name(direction: str, name: str | None) -> None:
    if name is None:
        return
    if name not in ROUTES:
        raise ValueError(f"use_routes: unknown {direction} route {name!r}; routes: {', '.join(ROUTES)}")
    if direction not in ROUTES[name].directions:
        raise ValueError(f"use_routes: route {name!r} has no {direction} pass (it has "
                         f"{', '.join(ROUTES[name].directions)})")


@contextlib.contextmanager
def use_routes(*, layout: str | None = None, forward: str | None = None, dw: str | None = None,
               dx: str | None = None, exclude: tuple[str, ...] | list[str] = (),
               strict: bool = False) -> Iterator[None]:
    """Within the block, convolutions take the named routes wherever they can run (``strict``:
    raise where one cannot), the given layout, and none of the ``exclude``d routes. Nested
    blocks add to the outer one; thread- and task-local (a context variable)."""
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"use_routes: layout must be one of {LAYOUTS}, got {layout!r}")
    for direction, name in zip(DIRECTIONS, (forward, dw, dx)):
        _check_name(direction, name)
    for name in exclude:
        if name not in ROUTES:
            raise ValueError(f"use_routes: unknown route {name!r} in exclude; routes: {', '.join(ROUTES)}")
    s = _current()
    forced = dict(s.forced)
    forced.update({d: n for d, n in zip(DIRECTIONS, (forward, dw, dx)) if n is not None})
    new = dataclasses.replace(s, layout=layout or s.layout, forced=tuple(sorted(forced.items())),
                              exclude=s.exclude | frozenset(exclude), strict=strict or s.strict)
    token = _settings.set(new)
    try:
        yield
    finally:
        _settings.reset(token)


def _changed(th: Thresholds, changes: dict) -> Thresholds:
    names = {f.name for f in dataclasses.fields(Thresholds)}
    for key, value in changes.items():
        if key not in names:
            raise ValueError(f"conv thresholds: unknown threshold {key!r}; thresholds: {', '.join(sorted(names))}")
        if not (value is None and key == "max_chunk") and (isinstance(value, bool) or not isinstance(value, int)
                                                           or value < 0):
            raise ValueError(f"conv thresholds: {key} must be an int >= 0, got {value!r}")
    return dataclasses.replace(th, **changes)


@contextlib.contextmanager
def use_thresholds(**changes: int | None) -> Iterator[Thresholds]:
    """Within the block, the planner and the routes use these thresholds (see Thresholds)."""
    s = _current()
    new = dataclasses.replace(s, thresholds=_changed(s.thresholds, changes))
    token = _settings.set(new)
    try:
        yield new.thresholds
    finally:
        _settings.reset(token)


def set_thresholds(**changes: int | None) -> Thresholds:
    """Change the process-wide thresholds (e.g. to the table bench/tune_conv.py printed);
    returns the previous ones, which ``set_thresholds(**dataclasses.asdict(previous))``
    restores. Only when asked: juanji never calls this itself."""
    previous = _DEFAULT[0].thresholds
    _DEFAULT[0] = dataclasses.replace(_DEFAULT[0], thresholds=_changed(previous, changes))
    return previous
