"""``brushwork export``: a trained model as ONNX (onnxruntime, any H and W) or as an fp16 copy."""

from __future__ import annotations

import argparse
from pathlib import Path

from brushwork.cli.flags import add_overwrite_flag
from brushwork.config import NETWORK_HELP, NETWORKS, ApplyConfig
from brushwork.errors import ConfigError, DiskFullError


def add_parser(sub) -> None:
    e = sub.add_parser("export", help="export a trained model to ONNX (or an fp16 safetensors copy)",
                       description="Export MODEL, or (with --style) the arbitrary-style network (--network) "
                       "with the painting's style folded in: a per-style model without training; its "
                       "metadata names the network it started from.")
    e.add_argument("model", nargs="?", help="model file or shipped style name")
    e.add_argument("--style", dest="paintings", action="append", metavar="PAINTING",
                   help="fold this painting's style into the arbitrary-style network instead (repeat to "
                   "blend)")
    e.add_argument("--network", choices=NETWORKS, default=None,
                   help=f"with --style: {NETWORK_HELP} (default: {ApplyConfig.network})")
    e.add_argument("--onnx", help="write an ONNX model here (dynamic height and width)")
    e.add_argument("--half", help="write an fp16 .safetensors copy here")
    e.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    add_overwrite_flag(e)
    e.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.onnx and not args.half:
        raise ConfigError("say what to write: --onnx FILE.onnx and/or --half FILE.safetensors")
    from brushwork.fast.export import export_half, export_onnx, export_style_model
    from brushwork.fileio import check_name_length, check_replace, make_parent, same_file
    from brushwork.images import check_result_folder

    if bool(args.model) == bool(args.paintings):
        raise ConfigError("give a model to export, or --style PAINTING, not both")
    if args.network and not args.paintings:
        raise ConfigError("--network picks the network --style PAINTING is folded into; a model keeps "
                          "its own")
    targets = [Path(t) for t in (args.onnx, args.half) if t]
    if len(targets) == 2 and same_file(*targets):
        raise ConfigError(f"--onnx and --half both name {targets[0]}; give two file names")
    inputs = [*(args.paintings or ()), *([args.model] if args.model and Path(args.model).is_file() else [])]
    for target in targets:  # before minutes of work, and never over the model it is made from
        check_name_length(target)
        if target.is_dir() or (target.exists() and not target.is_file()):
            raise ConfigError(f"{target}: exists and is not a regular file; give a file name")
        check_replace(target, inputs, args.overwrite)
        check_result_folder(target)
    source = args.model or export_style_model(args.paintings, network=args.network)
    made = [folder for target in targets for folder in make_parent(target)]
    try:
        if args.onnx:
            print(f"wrote {export_onnx(source, args.onnx, args.opset)}")
        if args.half:
            print(f"wrote {export_half(source, args.half)}")
    except DiskFullError:  # nothing partial: the folders this run made go too (when still empty)
        from brushwork.fileio import remove_partial

        remove_partial(folders=made)
        raise
    return 0
