"""``brushwork stylize``: Gatys optimisation of one photo toward one or more paintings."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from brushwork.cli.flags import add_config_arguments, add_overwrite_flag, config_from_args
from brushwork.cli.regions import add_region_arguments, region_config
from brushwork.config import RegionConfig, StylizeConfig
from brushwork.errors import ConfigError, DiskFullError, StoppedEarly
from brushwork.progress import Progress

LOSS_COLUMNS = ("iteration", "scale", "width", "height", "total", "content", "style", "tv", "seconds")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "stylize",
        help="Gatys optimisation: paint CONTENT in the style of STYLE (several are blended)",
        description="Optimise an image so its VGG features match the photo and its Gram "
        "matrices match the painting(s).",
    )
    p.add_argument("content", help="the photo, or a video (.mp4, .mov, .mkv, .webm, ...): every frame is "
                   "painted, tied to the one before by the optical flow (--temporal-weight)")
    p.add_argument("styles", nargs="+", metavar="style", help="painting(s); several are blended")
    p.add_argument("-o", "--output", required=True, help="result image (.png, .jpg, .webp, ...), or video; "
                   "missing folders are created")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_overwrite_flag(p)
    add_config_arguments(p, StylizeConfig)
    add_region_arguments(p)
    p.set_defaults(run=run)


def _numbered(path: Path, iteration: int) -> Path:
    return path.with_name(f"{path.stem}_{iteration:04d}{path.suffix}")


class _GatysSteps:
    """The listener of one ``stylize`` run: each step's row of the loss history (the CSV), the bar
    (scale, losses and the tolerance rule's stops) and the ``--save-every`` pictures, kept in
    ``written`` (taken back when the disk fills). Only a saved step's picture is ever made."""

    def __init__(self, config: StylizeConfig, output: Path, csv_path: Path, bar) -> None:
        self.config, self.output, self.csv_path, self.bar = config, output, csv_path, bar
        self.history: list[dict] = []
        self.stops: list[str] = []  # "scale 2/2 converged at step N" of scales stopped by --tolerance
        self.written: list[Path] = []

    def __call__(self, it: Progress) -> None:
        self.history.append({"iteration": it.done, "scale": it.scale, "width": it.width,
                             "height": it.height, **{k: f"{v:.6g}" for k, v in it.losses.items()},
                             "seconds": f"{it.seconds:.4f}"})
        if it.converged:
            self.stops.append(f"scale {it.scale + 1}/{it.scales} converged at step {it.done}")
        self.bar(self._shown(it))
        if self.config.save_every and it.done % self.config.save_every == 0:
            self._save(it)

    def _shown(self, it: Progress) -> Progress:
        """The bar's record: scale and rounded losses; its total ends at a last scale that converged."""
        info = {"scale": f"{it.scale + 1}/{it.scales}", "loss": f"{it.losses['total']:.4g}",
                "content": f"{it.losses['content']:.3g}", "style": f"{it.losses['style']:.3g}",
                "tv": f"{it.losses['tv']:.2g}"}
        if self.stops:
            info["stop"] = self.stops[-1]
        last_scale = it.scale + 1 == it.scales
        return Progress(it.done, it.done if it.converged and last_scale else it.total, "it", info=info)

    def _save(self, it: Progress) -> None:
        from brushwork.fileio import write_csv
        from brushwork.images import save_image

        self.written.append(_numbered(self.output, it.done))
        save_image(it.image, self.written[-1])
        if self.csv_path not in self.written:
            self.written.append(self.csv_path)
        write_csv(self.csv_path, self.history, LOSS_COLUMNS)


def _is_video(content: Path, output: Path) -> bool:
    """A video content is painted frame by frame (a GIF only when the output is a video). What the
    content is comes from its bytes (``brushwork.filetype``: a JPEG named clip.mp4 is painted as the
    picture it is); from its name only when the bytes are of no type we know."""
    from brushwork.filetype import sniff_file
    from brushwork.media import VIDEO_SUFFIXES

    kind = sniff_file(content)
    if kind.known:
        return kind.kind == "video" or (kind.kind == "gif" and output.suffix.lower() in VIDEO_SUFFIXES)
    suffix = content.suffix.lower()
    return suffix in VIDEO_SUFFIXES and (suffix != ".gif" or output.suffix.lower() in VIDEO_SUFFIXES)


def _check_picture_output(content: Path, output: Path) -> None:
    """A picture (by its bytes) asked to be painted into a video name: refused in one line that says
    what the content really is."""
    from brushwork.filetype import sniff_file
    from brushwork.media import VIDEO_SUFFIXES

    kind = sniff_file(content)
    if kind.known and output.suffix.lower() in VIDEO_SUFFIXES:
        lies = content.suffix.lower() in VIDEO_SUFFIXES and kind.kind != "gif"
        what = f"{kind.name}{', whatever its name says,' if lies else ''}"
        raise ConfigError(f"-o {output}: {content} is {what} not a video; give an image name "
                          "(.png, .jpg, .webp, ...)")


def _video_name(content: Path) -> str:
    from brushwork.filetype import sniff_file

    kind = sniff_file(content)
    return kind.name if kind.kind == "video" else "a video"


def _run_video(args: argparse.Namespace, config: StylizeConfig, regions: RegionConfig, output: Path) -> int:
    """Gatys video (``brushwork.gatys.video``): one frame at a time, written atomically; with regions
    each frame through its own mask (found and steadied along the flow, or the fixed ``--mask``)."""
    from brushwork.cli.progress import ProgressBar
    from brushwork.cli.regions import warn
    from brushwork.fileio import check_name_length, check_replace, make_parent
    from brushwork.gatys.video import stylize_video
    from brushwork.images import check_result_folder, open_image
    from brushwork.media import VIDEO_SUFFIXES

    if output.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(f"-o {output}: {args.content} is {_video_name(Path(args.content))}; "
                          "give a video name "
                          f"({', '.join(sorted(VIDEO_SUFFIXES))})")
    if output.is_dir() or (output.exists() and not output.is_file()):
        raise ConfigError(f"-o {output}: exists and is not a regular file; give another output name")
    if config.save_every:
        raise ConfigError("--save-every is for images; a video is written when every frame is done")
    check_name_length(output)
    inputs = [args.content, *args.styles]
    if regions.active:  # the mask and the region paintings are inputs too; all checked before any folder
        from brushwork.regions import check_regions, region_inputs

        inputs += region_inputs(regions)
        check_regions(regions, allow_models=False)
    check_replace(output, inputs, args.overwrite)
    check_result_folder(output)
    styles = [open_image(s) for s in args.styles]
    if config.style_blend_weights is not None and len(config.style_blend_weights) != len(styles):
        raise ConfigError(
            f"{len(config.style_blend_weights)} style blend weights for {len(styles)} style images"
        )
    make_parent(output)
    started = time.perf_counter()
    with ProgressBar(quiet=args.quiet, unit="frame") as bar:
        try:
            stats = stylize_video(args.content, styles, output, config, progress=bar, regions=regions,
                                  warn=warn)
        except StoppedEarly as exc:  # NaN loss or Ctrl-C: the half-made video is not kept
            exc.args = (f"{exc.args[0]}; nothing was written to {output}",)
            raise
    print(f"wrote {output} ({stats.frames} frames, {stats.cuts} scene cuts, {stats.iterations} steps) "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


def run(args: argparse.Namespace) -> int:
    from brushwork.cli.progress import ProgressBar
    from brushwork.fileio import check_name_length, check_replace, make_parent, remove_partial
    from brushwork.gatys.optimize import check_sizes, scale_sizes
    from brushwork.images import check_output_path, open_image

    config: StylizeConfig = config_from_args(StylizeConfig, args)
    regions = region_config(args)
    output = Path(args.output)
    if _is_video(Path(args.content), output):
        return _run_video(args, config, regions, output)
    _check_picture_output(Path(args.content), output)
    check_output_path(output)
    inputs = [args.content, *args.styles]
    if regions.active:
        from brushwork.regions import region_inputs

        inputs += region_inputs(regions)
    check_replace(output, inputs, args.overwrite)
    csv_path = output.with_name(f"{output.stem}_losses.csv")
    if config.save_every:  # the numbered images and the CSV are longer names beside the result
        last = sum(config.iterations_per_scale(len(scale_sizes(config.size, config.resolved_multiscale))))
        check_output_path(_numbered(output, last))
        check_name_length(csv_path)
        for path in (csv_path, *(_numbered(output, i) for i in range(config.save_every, last + 1,
                                                                     config.save_every))):
            check_replace(path, inputs, args.overwrite)
    content = open_image(args.content)
    styles = [open_image(s) for s in args.styles]
    if config.style_blend_weights is not None and len(config.style_blend_weights) != len(styles):
        raise ConfigError(
            f"{len(config.style_blend_weights)} style blend weights for {len(styles)} style images"
        )
    check_sizes(content, styles, config, [args.content, *args.styles])  # before VGG is loaded
    _warn_space(output, content, config)
    made = make_parent(output)
    bar = ProgressBar(quiet=args.quiet, unit="it")
    steps = _GatysSteps(config, output, csv_path, bar)
    started = time.perf_counter()
    try:
        result = _stylize_written(content, styles, config, regions, args, output, csv_path, steps.history,
                                  steps, bar)
    except DiskFullError as exc:  # nothing partial: the --save-every files and the folders made go too
        bar.close()
        count = remove_partial(steps.written, made)
        if count:
            exc.args = (f"{exc.args[0]}; removed the {count} --save-every file(s) of this run",)
        raise
    elapsed = time.perf_counter() - started
    stops = steps.stops
    print(f"wrote {output} ({result.width}x{result.height}) in {elapsed:.1f} s, {len(steps.history)} steps"
          + (f"; {'; '.join(stops)}" if stops else ""))
    return 0


def _warn_space(output: Path, content, config: StylizeConfig) -> None:
    """Say before the run when the disk looks too small for what it will write (an uncompressed
    estimate: the result, and each --save-every image)."""
    from brushwork.cli.disk import warn_space
    from brushwork.gatys.optimize import scale_sizes

    scale = config.size / max(content.size) if config.size else 1.0
    one = int(content.width * scale * content.height * scale * 3) + 4096
    images = 1
    if config.save_every:
        last = sum(config.iterations_per_scale(len(scale_sizes(config.size, config.resolved_multiscale))))
        images += last // config.save_every
    warn_space(output.parent if str(output.parent) else Path("."), one * images)


def _stylize_written(content, styles, config, regions, args, output, csv_path, history, progress, bar):
    """The optimisation and the writes of ``run`` (its last good image on NaN or Ctrl-C)."""
    from brushwork.fileio import write_csv
    from brushwork.gatys.optimize import stylize
    from brushwork.images import save_image

    try:
        if regions.active:
            from brushwork.cli.regions import warn
            from brushwork.regions import stylize_regions

            result = stylize_regions(content, styles, config, regions, callback=progress, warn=warn,
                                     content_name=args.content)
        else:
            result = stylize(content, styles, config, callback=progress)
    except StoppedEarly as exc:  # NaN loss or Ctrl-C: keep the last good image
        bar.close()
        if exc.image is not None:
            save_image(exc.image, output)
            exc.args = (f"{exc.args[0]}; saved the last good image to {output}",)
        raise
    finally:
        bar.close()
        if config.save_every and history:
            write_csv(csv_path, history, LOSS_COLUMNS)
    save_image(result, output)
    return result
