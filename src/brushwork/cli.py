"""Command line: parse, dispatch, report. Flags are derived from the config dataclasses.

Every failure a user can cause ends in one line on stderr and a non-zero exit code:
2 bad input or option, 3 NaN/inf loss (last good image kept), 130 interrupted (image saved).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import os
import sys
import time
import typing
from collections.abc import Sequence
from pathlib import Path

from brushwork import __version__
from brushwork.config import StylizeConfig
from brushwork.errors import BrushworkError, ConfigError, StoppedEarly

PROG = "brushwork"


# --- flags from dataclass fields -------------------------------------------------------------
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type, skip: Sequence[str] = ()) -> None:
    """One flag per dataclass field, typed from its annotation, helped from its metadata."""
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        if f.name in skip:
            continue
        hint = hints[f.name]
        args = typing.get_args(hint)
        non_none = [a for a in args if a is not type(None)]
        optional = type(None) in args
        base = non_none[0] if optional and len(non_none) == 1 else hint
        default = f.default if f.default is not dataclasses.MISSING else None
        help_text = f.metadata.get("help", "")
        kwargs: dict = {"dest": f.name, "default": argparse.SUPPRESS}
        origin = typing.get_origin(base)
        if base is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is typing.Literal:
            kwargs["choices"] = typing.get_args(base)
        elif origin is tuple:
            item = typing.get_args(base)[0]
            kwargs.update(nargs="+", type=item)
        elif base in (int, float, str):
            kwargs["type"] = base
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        kwargs["help"] = f"{help_text} (default: {shown})" if shown is not None else help_text
        parser.add_argument(_flag(f.name), **kwargs)


def config_from_args(config_cls: type, args: argparse.Namespace):
    names = {f.name for f in dataclasses.fields(config_cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    for key, value in values.items():
        if isinstance(value, list):
            values[key] = tuple(value)
    return config_cls(**values)


# --- stylize -----------------------------------------------------------------------------------
def _stylize_parser(sub) -> None:
    p = sub.add_parser(
        "stylize",
        help="Gatys optimisation: paint CONTENT in the style of STYLE (several are blended)",
        description="Optimise an image so its VGG features match the photo and its Gram "
        "matrices match the painting(s).",
    )
    p.add_argument("content", help="the photo")
    p.add_argument("styles", nargs="+", metavar="style", help="painting(s); several are blended")
    p.add_argument("-o", "--output", required=True, help="result image (.png, .jpg, .webp, ...)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_config_arguments(p, StylizeConfig)
    p.set_defaults(run=run_stylize)


def _numbered(path: Path, iteration: int) -> Path:
    return path.with_name(f"{path.stem}_{iteration:04d}{path.suffix}")


def _write_losses_csv(path: Path, rows: list[dict]) -> None:
    from brushwork.fileio import atomic_write_text

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["iteration", "scale", "width", "height", "total",
                                                "content", "style", "tv", "seconds"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _close(bars: list) -> None:
    for bar in bars:
        bar.close()


def run_stylize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from brushwork.images import check_output_path, open_image, save_image
    from brushwork.optimize import stylize

    config: StylizeConfig = config_from_args(StylizeConfig, args)
    output = Path(args.output)
    check_output_path(output)
    content = open_image(args.content)
    styles = [open_image(s) for s in args.styles]
    if config.style_blend_weights is not None and len(config.style_blend_weights) != len(styles):
        raise ConfigError(
            f"{len(config.style_blend_weights)} style blend weights for {len(styles)} style images"
        )
    csv_path = output.with_name(f"{output.stem}_losses.csv")
    history: list[dict] = []
    bars: list = []  # created on the first iteration, so errors before it print no empty bar

    def progress(it) -> None:
        if not bars:
            bars.append(tqdm(total=it.total_iterations, unit="it", disable=args.quiet,
                             dynamic_ncols=True, file=sys.stderr))
        bar = bars[0]
        history.append({"iteration": it.iteration, "scale": it.scale, "width": it.width,
                        "height": it.height, **{k: f"{v:.6g}" for k, v in it.losses.items()},
                        "seconds": f"{it.seconds:.4f}"})
        bar.set_postfix(
            scale=f"{it.scale + 1}/{it.scales}",
            loss=f"{it.losses['total']:.4g}", content=f"{it.losses['content']:.3g}",
            style=f"{it.losses['style']:.3g}", tv=f"{it.losses['tv']:.2g}", refresh=False,
        )
        bar.update(1)
        if config.save_every and it.iteration % config.save_every == 0:
            save_image(it.image(), _numbered(output, it.iteration))
            _write_losses_csv(csv_path, history)

    started = time.perf_counter()
    try:
        result = stylize(content, styles, config, callback=progress)
    except StoppedEarly as exc:  # NaN loss or Ctrl-C: keep the last good image
        _close(bars)
        if exc.image is not None:
            save_image(exc.image, output)
            exc.args = (f"{exc.args[0]}; saved the last good image to {output}",)
        raise
    finally:
        _close(bars)
        if config.save_every and history:
            _write_losses_csv(csv_path, history)
    save_image(result, output)
    elapsed = time.perf_counter() - started
    print(f"wrote {output} ({result.width}x{result.height}) in {elapsed:.1f} s")
    return 0


# --- weights -------------------------------------------------------------------------------------
def _weights_parser(sub) -> None:
    p = sub.add_parser("weights", help="list, fetch or locate VGG weight files")
    wsub = p.add_subparsers(dest="weights_command", required=True)
    wsub.add_parser("list", help="weight sources and whether they are at hand")
    for name, text in (("fetch", "obtain and cache a source now"), ("path", "print a source's cache path")):
        q = wsub.add_parser(name, help=text)
        q.add_argument("source", nargs="?", default="default", help="default, torchvision or caffe")
        q.add_argument("--model", choices=("vgg16", "vgg19"), default="vgg19")
    p.set_defaults(run=run_weights)


def run_weights(args: argparse.Namespace) -> int:
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
        print(weights.fetch(args.source, args.model))
    else:
        print(weights.weights_path(args.source, args.model))
    return 0


# --- entry point -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Neural style transfer on a laptop CPU.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    # The other commands register themselves; imported here because they use this module's helpers.
    from brushwork import apply, evaluate, train
    from brushwork.web import serve

    for register in (_stylize_parser, _weights_parser, train.add_parser, apply.add_apply_parsers,
                     evaluate.add_parser, serve.add_parser):
        register(sub)
    return parser


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except BrushworkError as exc:
        _error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except MemoryError:
        _error("out of memory; try a smaller --size")
        return 1
    except RuntimeError as exc:
        if os.environ.get("BRUSHWORK_DEBUG"):
            raise
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "memory" in text.lower() or "alloc" in text.lower():
            _error(f"out of memory ({text}); try a smaller --size")
        else:
            _error(f"{text} (set BRUSHWORK_DEBUG=1 for the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
