"""juanji.analysis.conv_plans and summary's route column: a model's convolutions, planned as
training runs them."""

from __future__ import annotations

import numpy as np
import pytest

import juanji
import juanji.nn as nn
from juanji.analysis import conv_plans, summary
from juanji.kernels import compiled
from juanji.kernels.conv import use_routes
from juanji.models import get_model


def test_conv_plans_name_each_conv_call_with_the_routes_it_runs(monkeypatch):
    # The plans conv_plans reports are the routes a training step then runs, call by call.
    from juanji.kernels.conv import ROUTES
    model = get_model("lenet5")
    plans = conv_plans(model, (1, 28, 28), batch_size=64)
    assert [lp.name for lp in plans.layers] == ["c1", "c3"]
    ran = []
    for route in ROUTES.values():
        for name in ("forward", "weight_grad", "input_grad", "grads"):
            original = getattr(route, name)
            monkeypatch.setattr(route, name, lambda *a, _f=original, _r=route.name, _n=name:
                                ran.append((_r, _n)) or _f(*a))
    x = juanji.tensor(np.random.default_rng(0).standard_normal((64, 1, 28, 28)).astype(np.float32))
    model(x).sum().backward()
    for lp in plans.layers:
        names = lp.plan.names()
        assert (names["forward"], "forward") in ran, (lp.name, names, ran)
        assert (names["dw"], "weight_grad") in ran or (names["dw"], "grads") in ran, (lp.name, names, ran)


def test_conv_plans_table_counts_and_explain():
    model = get_model("resnet18", num_classes=10)
    plans = conv_plans(model, (3, 32, 32), batch_size=16)
    assert len(plans.layers) == 20  # 17 3x3/7x7 convs and 3 downsampling 1x1s
    text = str(plans)
    assert text.splitlines()[0].startswith("Conv plans: ResNet, batch size 16 (20 conv calls")
    for column in ("Layout", "Forward", "dW", "dx", "Scratch fwd", "Scratch bwd"):
        assert column in text
    assert sum(plans.counts().values()) == 3 * len(plans.layers)
    explained = plans.explain()
    assert explained.count("  forward ") == 20 and "layer4.1.conv2" in explained
    assert set(plans.routes()) == {lp.name for lp in plans.layers}
    for lp in plans.layers:
        assert lp.forward_workspace_bytes >= 0 and lp.backward_workspace_bytes >= 0


def test_conv_plans_follow_forced_routes_and_reject_bad_arguments():
    model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))
    with use_routes(forward="im2col", dw="im2col", dx="im2col", layout="nchw"):
        plans = conv_plans(model, (8, 40, 40), batch_size=2)
    assert [lp.plan.names()["forward"] for lp in plans.layers] == ["im2col", "im2col"]
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        conv_plans(model, (8, 40, 40), batch_size=0)
    with pytest.raises(TypeError, match="model must be a juanji.nn.Module"):
        conv_plans(object(), (8, 40, 40))


def test_summary_has_a_route_column_for_convolutions_only():
    s = summary(get_model("lenet5"), (1, 28, 28), batch_size=128)
    routes = {r.name: r.route for r in s.rows}
    assert routes["relu1"] is None and routes["c5"] is None
    c1 = conv_plans(get_model("lenet5"), (1, 28, 28), batch_size=128).routes()["c1"]
    expected = f"{c1['forward']} | {c1['dw']} | {c1['dx']}"
    assert routes["c1"] == (f"BL: {expected}" if c1["layout"] == "batch_last" else expected)
    if compiled.available():
        assert c1["forward"] == "direct"  # LeNet-5's c1 at batch 128: the direct loop's size rule
    text = str(s)
    assert "Route (forward | dW | dx)" in text and routes["c1"] in text
    assert "BL: batch-last layout" in text
    assert "Route (" not in str(summary(nn.Sequential(nn.Linear(4, 2)), (4,)))  # no convs, no column
