"""``juanji export``: a trained run's weights as an ONNX file.

    juanji export runs/lenet/weights.safetensors --out lenet.onnx
    juanji export runs/lang/weights.safetensors --out lang.onnx          # a text run (vocab.json beside)

The model is rebuilt from the weights file's metadata (model name, classes, input shape:
``juanji.cli.read_weights_meta``), filled with the weights, and traced on a random example
input of the recorded shape. ``juanji.cli`` registers the sub-command with
``add_export_parser`` and runs ``cmd_export``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_export_parser", "cmd_export"]

# Token ids per example sentence when tracing a text model (TextCNN's graph takes any length).
_TEXT_EXAMPLE_LENGTH = 16


def add_export_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``export`` sub-command to ``juanji``'s sub-parsers; returns its parser."""
    from ..cli import _debug_arg, _positive_int
    from .export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET

    p = subparsers.add_parser(
        "export", help="write trained weights as an ONNX model",
        description="Rebuild the model recorded in a weights file, load the weights and write the "
                    "inference graph as an ONNX file (input 'input', output 'output', the batch dim "
                    "dynamic), checked by onnx's checker. Text runs read vocab.json beside the weights.")
    p.add_argument("weights", metavar="WEIGHTS", help="weights written by juanji train (RUN/weights.safetensors)")
    p.add_argument("--model", default=None, help="model name (default: recorded in the weights)")
    p.add_argument("--out", required=True, metavar="PATH", help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, metavar="N",
                   help=f"ONNX opset, {MIN_OPSET} to {MAX_OPSET} (default {DEFAULT_OPSET})")
    p.add_argument("--batch", type=_positive_int, default=2, metavar="N",
                   help="batch of the example input the model is traced with (default 2: a batch above 1 "
                        "lets export catch values computed outside juanji's ops); the file takes any "
                        "batch size unless --static-batch")
    p.add_argument("--static-batch", action="store_true", help="fix the file's batch size at --batch")
    p.add_argument("--vocab", default=None, metavar="PATH",
                   help="text models: the vocabulary (default: vocab.json beside the weights)")
    _debug_arg(p)
    p.set_defaults(func=cmd_export)
    return p


def cmd_export(args: argparse.Namespace) -> int:
    """``juanji export``: load the run's model and weights, export, print the written path."""
    from .. import cli
    from ..tensor import Tensor
    from .export import ExportError, export

    meta = cli.read_weights_meta(args.weights)
    rng = np.random.default_rng(0)
    if meta["input"] == "text":
        if args.model is not None and args.model != meta["model"]:
            raise cli.CLIError(f"'{args.weights}' holds a {meta['model']} text model; --model {args.model} "
                               "cannot be built from it")
        model, vocab, _, _ = cli._load_text_model(args.weights, args.vocab, meta)
        example = rng.integers(1, max(len(vocab), 2), (args.batch, _TEXT_EXAMPLE_LENGTH)).astype(np.int64)
    else:
        model, meta = cli._load_model(args.weights, args.model)
        example = rng.standard_normal((args.batch, *meta["input_shape"])).astype(np.float32)
    out = Path(args.out)
    if out.is_dir():
        raise cli.CLIError(f"--out '{out}' is a directory; give the .onnx file to write")
    if not out.parent.is_dir():
        raise cli.CLIError(f"--out: the directory '{out.parent}' does not exist")
    try:
        path = export(model, Tensor._make(example), out, opset=args.opset, dynamic_batch=not args.static_batch)
    except (ExportError, ValueError, TypeError) as e:
        raise cli.CLIError(str(e)) from e
    except ImportError as e:  # the onnx package is an extra: say how to get it, in one line
        raise cli.CLIError(f"{e} (or pip install -e \".[onnx]\")") from e
    print(path)
    return 0
