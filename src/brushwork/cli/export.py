"""``brushwork export``: a trained model as ONNX (onnxruntime, any H and W) or as an fp16 copy."""

from __future__ import annotations

import argparse

from brushwork.errors import ConfigError


def add_parser(sub) -> None:
    e = sub.add_parser("export", help="export a trained model to ONNX (or an fp16 safetensors copy)")
    e.add_argument("model", help="model file or shipped style name")
    e.add_argument("--onnx", help="write an ONNX model here (dynamic height and width)")
    e.add_argument("--half", help="write an fp16 .safetensors copy here")
    e.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    e.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.onnx and not args.half:
        raise ConfigError("say what to write: --onnx FILE.onnx and/or --half FILE.safetensors")
    from brushwork.fast.export import export_half, export_onnx

    if args.onnx:
        print(f"wrote {export_onnx(args.model, args.onnx, args.opset)}")
    if args.half:
        print(f"wrote {export_half(args.model, args.half)}")
    return 0
