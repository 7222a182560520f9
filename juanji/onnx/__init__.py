"""juanji.onnx: ONNX export (``export``, a tracer over juanji's ops) and import (``load``).

    >>> juanji.onnx.export(model.eval(), juanji.randn(1, 3, 224, 224), "model.onnx")
    >>> model = juanji.onnx.load("model.onnx")

Both need the ``onnx`` package; running an exported file needs a runtime such as onnxruntime.
"""

from __future__ import annotations

from .export import DEFAULT_OPSET, ExportError, export
from .load import load

__all__ = ["export", "load", "ExportError", "DEFAULT_OPSET"]
