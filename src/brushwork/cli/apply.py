"""``brushwork apply``: stylise images, folders and videos with a fast style network: a trained
per-style model (``apply MODEL INPUT...``) or the arbitrary-style network given paintings
(``apply --style PAINTING INPUT...``; one painting per ``--style``, so an input is never taken for
a painting)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from brushwork.cli.flags import add_config_arguments, add_overwrite_flag, config_from_args
from brushwork.cli.regions import add_region_arguments, region_config
from brushwork.config import ApplyConfig
from brushwork.errors import EXIT_PARTIAL, BrushworkError, ConfigError, DiskFullError


def add_parser(sub) -> None:
    p = sub.add_parser("apply", help="stylise images, folders or videos with a fast style network "
                       "(a trained model, or any painting with --style)",
                       usage="brushwork apply (MODEL | --style PAINTING [--style ...]) INPUT [INPUT ...] "
                       "-o DIR [options]",
                       description="MODEL is a .safetensors file from `brushwork train`, an .onnx file "
                       "from `brushwork export`, or a shipped style name (see `brushwork models`). "
                       "Instead of a model, --style PAINTING paints in the style of any painting with "
                       "an arbitrary-style network (about a second; give --style several times to blend "
                       "paintings): --network picks brushwork's own (a fine-tune of Magenta's; `brushwork "
                       "models` says how long it was trained) or Magenta's original.")
    p.add_argument("items", nargs="+", metavar="MODEL|INPUT",
                   help="the model, then image files, folders, videos (with --style: inputs only)")
    p.add_argument("--style", dest="paintings", action="append", metavar="PAINTING",
                   help="a painting for the arbitrary-style network (repeat to blend several)")
    p.add_argument("-o", "--output", required=True,
                   help="output folder (created if missing), where each result is named after its "
                   "input and the style (photo_starry-night.jpg); with one input file, a file name "
                   "such as out.png writes that file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_overwrite_flag(p)
    add_config_arguments(p, ApplyConfig)
    add_region_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from brushwork.fileio import make_parent
    from brushwork.media import plan_jobs, style_label
    from brushwork.painters import ModelPainter

    config = config_from_args(ApplyConfig, args)
    regions = region_config(args)
    model, inputs = (None, args.items) if args.paintings else (args.items[0], args.items[1:])
    if not inputs:
        raise ConfigError("no inputs: give image files, folders or videos after the model")
    output = Path(args.output)
    single = _check_output(inputs, output)
    skipped: list[str] = []
    protected = [*(args.paintings or ()), *([model] if model and Path(model).is_file() else [])]
    if regions.active:
        from brushwork.regions import region_inputs

        protected += region_inputs(regions)
    jobs = plan_jobs(inputs, output, skipped, style=style_label(model, args.paintings or ()),
                     overwrite=args.overwrite, protected=protected)
    if not jobs:
        _nothing_done(skipped)
    painter = ModelPainter(model, config, paintings=args.paintings)  # an unknown model: no folder made
    regional = None
    if regions.active:
        from brushwork.cli.regions import warn
        from brushwork.regions import RegionPainter

        regional = RegionPainter(painter.stylizer, config, regions, warn=warn)  # every setting checked
    made = make_parent(output if single else output / "result")  # the folders this run makes
    started = time.perf_counter()
    images = [j for j in jobs if not j.video]
    failures: list[str] = list(skipped)
    try:
        frames = _paint(args, jobs, images, painter, regional, failures)
    except DiskFullError as exc:  # exit 5, one line; the results written before it are whole
        if made:  # no empty folder left behind (the layout's sub-folders, then the folders made)
            from brushwork.fileio import remove_partial

            inner = sorted((p for p in made[0].rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
            remove_partial(folders=[*inner, *made])
        exc.args = (f"{exc.args[0]}; the results written before it are whole",)
        raise
    done = len(jobs) + len(skipped) - len(failures)
    seconds = time.perf_counter() - started
    extra = f" ({frames} video frames)" if frames else ""
    if done == 0:
        _nothing_done(failures)
    _list_skipped(failures, done)
    print(f"wrote {done} file(s){extra} to {output} in {seconds:.1f} s with {painter.name} "
          f"({painter.runtime})" + (f"; skipped {len(failures)} (listed on stderr)" if failures else ""))
    return EXIT_PARTIAL if failures else 0


def _check_output(inputs: list[str], output: Path) -> bool:
    """Every output check before any work: a file for one input named like one (returns True), else
    a folder (False)."""
    from brushwork.fileio import check_name_length, check_output_dir
    from brushwork.images import SAVE_FORMATS, check_output_path, check_result_folder
    from brushwork.media import VIDEO_SUFFIXES, single_output

    check_name_length(output)
    single = single_output(inputs, output)
    if single and output.suffix.lower() in SAVE_FORMATS:
        check_output_path(output)
    elif single:  # a video file
        if output.is_dir() or (output.exists() and not output.is_file()):
            raise ConfigError(f"-o {output}: exists and is not a regular file; give another output name")
        check_result_folder(output)
    elif not output.is_dir() and output.suffix.lower() in {**SAVE_FORMATS, **VIDEO_SUFFIXES}:
        what = f"{inputs[0]} is a folder" if len(inputs) == 1 else f"{len(inputs)} inputs need one"
        raise ConfigError(f"-o {output}: named like a file, but {what}; give an output folder name")
    else:
        check_output_dir(output)
    return single


def _paint(args, jobs, images, painter, regional, failures: list[str]) -> int:
    """Paint the image jobs, then the videos (with ``regional``, a ``RegionPainter``: a painting per
    region); failures are appended; returns the video frames."""
    from brushwork.cli.progress import ProgressBar

    if images:
        with ProgressBar(quiet=args.quiet, unit="img") as bar:
            if regional is not None:
                from brushwork.regions import apply_region_files

                failures += apply_region_files(regional, images, progress=bar)
            else:
                failures += painter.paint_files(images, progress=bar)
    frames = 0
    for job in (j for j in jobs if j.video):
        try:
            with ProgressBar(quiet=args.quiet, unit="frame") as bar:
                runner = None
                if regional is not None:  # regions: the mask found again (auto) or held, per frame
                    from brushwork.regions import RegionFrames

                    runner = RegionFrames(regional, str(job.source))
                frames += painter.paint_video(job.source, job.target, callback=bar, frames=runner)
        except DiskFullError:
            raise
        except BrushworkError as exc:
            failures.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - one broken video must not end a folder run
            failures.append(f"{job.source}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    return frames


def _nothing_done(messages: list[str]) -> None:
    """Nothing was written: one input's reason is the one-line error; several are listed first."""
    if len(messages) == 1:
        raise BrushworkError(messages[0])
    _list_skipped(messages, 0)
    raise BrushworkError("no input files found" if not messages else "no input could be used (listed above)")


def _list_skipped(messages: list[str], done: int) -> None:
    """Every input that was not written, one line each on stderr (exit code EXIT_PARTIAL if some were)."""
    if messages:
        print(f"skipped {len(messages)} file(s) of {done + len(messages)}:", file=sys.stderr)
        for message in messages:
            print(f"  {message}", file=sys.stderr)
