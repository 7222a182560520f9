"""juanji.analysis: inspect a model without training it.

* ``summary(model, input_shape, batch_size=1)``: Keras-style table of output shapes,
  parameters, multiply-adds and memory (inference and training estimates).
* ``receptive_field(model, input_shape)``: size, jump and start of every layer's
  receptive field in a sequential CNN.
* ``conv_plans(model, input_shape, batch_size=1)``: which route each convolution takes
  (layout, forward, dW, dx) and the planner rule behind each choice.

    >>> import juanji.nn as nn
    >>> from juanji.analysis import summary
    >>> print(summary(nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU()), (1, 28, 28)))
"""

from .conv_plans import ConvPlans, LayerPlan, conv_plans
from .receptive_field import RFLayer, ReceptiveField, receptive_field
from .summary import OPTIMIZER_STATE, LayerRow, ModelSummary, summary

__all__ = ["summary", "ModelSummary", "LayerRow", "OPTIMIZER_STATE",
           "receptive_field", "ReceptiveField", "RFLayer", "conv_plans", "ConvPlans", "LayerPlan"]
