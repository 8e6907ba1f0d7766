"""``brushwork apply``: stylise images, folders and videos with a fast style network: a trained
per-style model (``apply MODEL INPUT...``) or the arbitrary-style network given paintings
(``apply --style PAINTING INPUT...``; one painting per ``--style``, so an input is never taken for
a painting)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from brushwork.cli.flags import add_config_arguments, config_from_args
from brushwork.config import ApplyConfig
from brushwork.errors import BrushworkError, ConfigError, ImageError


def add_parser(sub) -> None:
    p = sub.add_parser("apply", help="stylise images, folders or videos with a fast style network "
                       "(a trained model, or any painting with --style)",
                       usage="brushwork apply (MODEL | --style PAINTING [--style ...]) INPUT [INPUT ...] "
                       "-o DIR [options]",
                       description="MODEL is a .safetensors file from `brushwork train`, an .onnx file "
                       "from `brushwork export`, or a shipped style name (see `brushwork models`). "
                       "Instead of a model, --style PAINTING paints in the style of any painting with "
                       "Magenta's arbitrary-style network (about a second; give --style several times "
                       "to blend paintings).")
    p.add_argument("items", nargs="+", metavar="MODEL|INPUT",
                   help="the model, then image files, folders, videos (with --style: inputs only)")
    p.add_argument("--style", dest="paintings", action="append", metavar="PAINTING",
                   help="a painting for the arbitrary-style network (repeat to blend several)")
    p.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_config_arguments(p, ApplyConfig)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from brushwork.cli.progress import ProgressBar
    from brushwork.fast.inference import load_stylizer
    from brushwork.fast.media import apply_files, apply_video, plan_jobs

    config = config_from_args(ApplyConfig, args)
    model, inputs = (None, args.items) if args.paintings else (args.items[0], args.items[1:])
    if not inputs:
        raise ConfigError("no inputs: give image files, folders or videos after the model")
    output = Path(args.output)
    jobs = plan_jobs(inputs, output)
    if not jobs:
        raise ConfigError("no input files found")
    output.mkdir(parents=True, exist_ok=True)
    stylizer = load_stylizer(model, config, styles=args.paintings)
    started = time.perf_counter()
    images = [j for j in jobs if not j.video]
    failures: list[str] = []
    if images:
        with ProgressBar(quiet=args.quiet, unit="img") as bar:
            failures = apply_files(stylizer, images, config, progress=bar)
    frames = 0
    for job in (j for j in jobs if j.video):
        try:
            with ProgressBar(quiet=args.quiet, unit="frame") as bar:
                frames += apply_video(stylizer, job.source, job.target, config, progress=bar)
        except ImageError as exc:
            failures.append(str(exc))
    done = len(jobs) - len(failures)
    seconds = time.perf_counter() - started
    extra = f" ({frames} video frames)" if frames else ""
    print(f"wrote {done} file(s){extra} to {output} in {seconds:.1f} s with {stylizer.name} "
          f"({stylizer.runtime})")
    if failures:
        print(f"skipped {len(failures)} unreadable file(s):", file=sys.stderr)
        for message in failures:
            print(f"  {message}", file=sys.stderr)
        if done == 0:
            raise BrushworkError("no input could be read")
    return 0
