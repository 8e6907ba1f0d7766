"""``brushwork export``: a trained model as ONNX (onnxruntime, any H and W) or as an fp16 copy."""

from __future__ import annotations

import argparse

from brushwork.errors import ConfigError


def add_parser(sub) -> None:
    e = sub.add_parser("export", help="export a trained model to ONNX (or an fp16 safetensors copy)",
                       description="Export MODEL, or (with --style) the arbitrary-style network with "
                       "the painting's style folded in: a per-style model without training.")
    e.add_argument("model", nargs="?", help="model file or shipped style name")
    e.add_argument("--style", dest="paintings", action="append", metavar="PAINTING",
                   help="fold this painting's style into Magenta's network instead (repeat to blend)")
    e.add_argument("--onnx", help="write an ONNX model here (dynamic height and width)")
    e.add_argument("--half", help="write an fp16 .safetensors copy here")
    e.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    e.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.onnx and not args.half:
        raise ConfigError("say what to write: --onnx FILE.onnx and/or --half FILE.safetensors")
    from brushwork.fast.export import export_half, export_onnx, export_style_model

    if bool(args.model) == bool(args.paintings):
        raise ConfigError("give a model to export, or --style PAINTING, not both")
    source = args.model or export_style_model(args.paintings)
    if args.onnx:
        print(f"wrote {export_onnx(source, args.onnx, args.opset)}")
    if args.half:
        print(f"wrote {export_half(source, args.half)}")
    return 0
