"""The public API: every exported name exists, is documented and carries type hints."""

from __future__ import annotations

import inspect

import pytest

import juanji
import juanji.functional as F
import juanji.nn as nn
import juanji.optim as optim
import juanji.analysis as analysis
import juanji.data as data
import juanji.models as models
import juanji.train as train


def _public(module):
    return [(name, getattr(module, name)) for name in module.__all__]


@pytest.mark.parametrize("module", [juanji, F, nn, nn.init, optim, data, models, train, analysis],
                         ids=lambda m: m.__name__)
def test_every_exported_name_exists_and_is_documented(module):
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{module.__name__}.__all__ names missing attributes: {missing}"
    undocumented = [n for n, obj in _public(module)
                    if (inspect.isfunction(obj) or inspect.isclass(obj)) and not inspect.getdoc(obj)]
    assert not undocumented, f"{module.__name__}: no docstring for {undocumented}"


def test_functional_ops_have_type_hints():
    unhinted = [n for n, obj in _public(F) if inspect.isfunction(obj)
                and "return" not in getattr(obj, "__annotations__", {})]
    assert not unhinted, f"functional ops without a return type hint: {unhinted}"


def test_issue_op_list_is_complete():
    ops = """conv1d conv2d conv3d correlate2d convolve2d max_pool1d max_pool2d max_pool3d avg_pool1d
    avg_pool2d avg_pool3d lp_pool1d lp_pool2d adaptive_avg_pool2d adaptive_max_pool2d global_avg_pool2d
    global_max_pool2d linear relu leaky_relu elu sigmoid tanh softmax log_softmax dropout batch_norm
    local_response_norm embedding flatten pad cat stack split cross_entropy nll_loss mse_loss
    binary_cross_entropy_with_logits""".split()
    assert [o for o in ops if o not in F.__all__] == []
    layers = """Conv1d Conv2d Conv3d MaxPool1d MaxPool2d MaxPool3d AvgPool1d AvgPool2d AvgPool3d LPPool2d
    AdaptiveAvgPool2d Linear ReLU LeakyReLU ELU Sigmoid Tanh Softmax Dropout BatchNorm1d BatchNorm2d
    LocalResponseNorm Flatten Embedding Identity Module Parameter Sequential ModuleList ModuleDict""".split()
    assert [n for n in layers if n not in nn.__all__] == []
    opts = "SGD Adagrad RMSprop Adam AdamW".split()
    assert [n for n in opts if n not in optim.__all__] == []
    scheds = "StepLR MultiStepLR ExponentialLR CosineAnnealingLR ReduceLROnPlateau LambdaLR LinearLR SequentialLR OneCycleLR".split()
    assert [n for n in scheds if not hasattr(optim.lr_scheduler, n)] == []
