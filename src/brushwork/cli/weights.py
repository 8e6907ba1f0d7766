"""``brushwork weights``: list, fetch or locate the VGG weight files."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("weights", help="list, fetch or locate VGG weight files")
    wsub = p.add_subparsers(dest="weights_command", required=True)
    wsub.add_parser("list", help="weight sources and whether they are at hand")
    for name, text in (("fetch", "obtain and cache a source now"), ("path", "print a source's cache path")):
        q = wsub.add_parser(name, help=text)
        q.add_argument("source", nargs="?", default="default", help="default, torchvision or caffe")
        q.add_argument("--model", choices=("vgg16", "vgg19"), default="vgg19")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from brushwork.cli.progress import ProgressBar
    from brushwork.networks import weights

    if args.weights_command == "list":
        rows = weights.describe_sources()
        columns = ("source", "models", "preprocessing", "status")
        widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in columns}
        header = "  ".join(k.ljust(widths[k]) for k in widths) + "  about"
        print(header)
        for row in rows:
            print("  ".join(row[k].ljust(widths[k]) for k in widths) + "  " + row["about"])
        print(f"cache: {weights.weights_dir()}")
    elif args.weights_command == "fetch":
        with ProgressBar(unit="B") as bar:
            print(weights.fetch(args.source, args.model, progress=bar))
    else:
        print(weights.weights_path(args.source, args.model))
    return 0
