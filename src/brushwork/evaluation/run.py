"""The evaluation itself: every method on every pair it applies to, each result measured the same way.

Every result is cached under ``OUT/cache/<key>.{png,json}``, the key hashing the method's settings,
the input files' bytes and the measuring settings, so a re-run (or a resumed, interrupted one) only
computes what is missing; a cached still result that lacks a metric added since (the style ratios,
say) is measured again from its PNG rather than painted again. Anything that goes wrong with one
result — an unreadable image, a missing model, an unknown option, a NaN — becomes a failed row with
its reason; the evaluation goes on.
Progress is reported through a ``brushwork.progress`` callback, one event per result.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from brushwork.config import EvaluateConfig
from brushwork.errors import BrushworkError, ConfigError, StylizeInterrupted
from brushwork.evaluation.inputs import Input, load_inputs
from brushwork.evaluation.methods import Method, expand_methods, parse_method
from brushwork.evaluation.regions import region_config
from brushwork.evaluation.report import COLUMNS, brushwork_version, summarise, write_report, write_tables
from brushwork.evaluation.video import flicker, save_strip, steady, temporal_strength
from brushwork.fileio import atomic_path, atomic_write_text
from brushwork.images import resize_longest, resize_to, save_image
from brushwork.metrics import (
    ReferenceLoss,
    histogram_distance,
    mse,
    psnr,
    ssim,
    temporal_difference,
    timed,
    to_array,
)
from brushwork.painters import loss_network
from brushwork.progress import ProgressCallback, report

#: The image metrics of one result, in the order they are computed (time and memory are measured apart).
IMAGE_METRICS = ("content_loss", "style_loss", "style_ratio_all", "style_ratio_deep", "style_ratio_low",
                 "ssim", "psnr", "mse", "hist_distance")


#: Kept in a video result's cached record besides the columns (the report plots them).
VIDEO_EXTRAS = ("warp_errors", "scene_cuts")


# --- one result -------------------------------------------------------------------------------------
@dataclass
class Job:
    content: Input
    style: Input | None
    method: Method

    @property
    def style_name(self) -> str:
        return self.style.name if self.style is not None else "(own)"


def job_key(job: Job, config: EvaluateConfig) -> str:
    """Hash of everything a result depends on: method and its settings, input bytes, measuring setup."""
    payload = {
        "method": job.method.spec, "settings": job.method.cache_settings(), "size": config.size,
        "seed": config.seed, "eval_size": config.eval_size, "reference": config.reference_weights,
        "content": job.content.digest or str(job.content.path),
        "style": (job.style.digest or str(job.style.path)) if job.style else None,
        "max_frames": config.max_frames, "version": brushwork_version(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def base_row(job: Job, key: str) -> dict[str, typing.Any]:
    settings = ";".join(f"{k}={v}" for k, v in job.method.settings().items())
    row = {c: "" for c in COLUMNS}
    row.update(content=job.content.name, style=job.style_name, method=job.method.label,
               kind=job.method.kind, settings=settings, key=key)
    return row


def measure(result_frames: list[Image.Image], content: Input, style: Image.Image | None,
            reference: ReferenceLoss) -> dict[str, float]:
    """All image metrics of one result (the mean over frames for a video)."""
    values: dict[str, list[float]] = {k: [] for k in IMAGE_METRICS}
    style_array = to_array(resize_longest(style, min(256, max(style.size)))) if style else None
    for result, source in zip(result_frames, content.frames):
        out = to_array(result)
        photo = to_array(resize_to(source, *result.size))
        values["ssim"].append(ssim(out, photo))
        values["psnr"].append(psnr(out, photo))
        values["mse"].append(mse(out, photo))
        values["content_loss"].append(reference.content_loss(result, source))
        if style is not None:
            measures = reference.style_measures(result, source, style)  # one VGG pass over the result
            values["style_loss"].append(measures.pop("style_loss"))
            for group, ratio in measures.items():
                values[f"style_ratio_{group}"].append(ratio)
            values["hist_distance"].append(histogram_distance(out, style_array))
    row = {k: (statistics.fmean(v) if v else math.nan) for k, v in values.items()}
    if len(result_frames) > 1:
        row["temporal"] = temporal_difference([to_array(f) for f in result_frames])
    return row


def _cached_row(cache: Path, key: str) -> dict | None:
    """The stored columns of a finished result, or None (missing, unreadable or not a success)."""
    record = cache / f"{key}.json"
    if not (record.is_file() and (cache / f"{key}.png").is_file()):
        return None
    try:
        saved = json.loads(record.read_text())
    except (OSError, ValueError):
        return None  # unreadable cache entry: recompute
    if saved.get("status") != "ok":
        return None
    return {k: saved[k] for k in (*COLUMNS, *VIDEO_EXTRAS) if k in saved and k not in ("content", "style")}


def _remeasured(cached: dict, job: Job, cache: Path, key: str, reference: ReferenceLoss) -> dict | None:
    """A cached still result that lacks some image metric (cached before it existed), measured again
    from its lossless PNG and stored; None when it cannot be (a video, an unreadable PNG): recompute."""
    if job.content.error or job.content.is_video or (job.style is not None and job.style.error):
        return None
    try:
        with Image.open(cache / f"{key}.png") as stored:
            result = stored.convert("RGB")
    except OSError:
        return None
    cached.update(measure([result], job.content, job.style.image if job.style else None, reference))
    return cached


def run_job(job: Job, config: EvaluateConfig, reference: ReferenceLoss,
            cache: Path) -> dict[str, typing.Any]:
    """Make (or reuse) one result and measure it; never raises for the user's mistakes."""
    key = job_key(job, config)
    row = base_row(job, key)
    row["image"] = f"cache/{key}.png"
    cached = _cached_row(cache, key)
    if cached is not None and any(m not in cached for m in IMAGE_METRICS):
        cached = _remeasured(cached, job, cache, key, reference)
        if cached is not None:
            atomic_write_text(cache / f"{key}.json", json.dumps({**row, **cached}, default=_json_default,
                                                                indent=1))
    if cached is not None:
        row.update(cached)
        return row
    failure = job.method.error or job.content.error or (job.style.error if job.style else None)
    if failure:
        return {**row, "status": "failed", "reason": failure, "image": ""}
    try:
        job.method.ready()
        frames, seconds, peaks = [], 0.0, []
        style = job.style.image if job.style and job.method.uses_style else None
        for frame in job.content.frames:
            result, took, peak = timed(job.method.run, frame, style)
            frames.append(result.convert("RGB"))
            seconds += took
            peaks.append(peak)
        video = None
        if len(frames) > 1:  # a video: steadied as apply makes it, its flicker measured (evaluation.video)
            per_frame, frames = frames, steady(job.content.frames, frames, temporal_strength(job.method))
            video = flicker(job.content.frames, per_frame, frames)
        row.update(measure(frames, job.content, job.style.image if job.style else None, reference))
        row.update(video or {})
    except StylizeInterrupted:  # Ctrl-C inside Gatys: stop, do not record
        raise KeyboardInterrupt from None
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - one broken result must not end the evaluation
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not isinstance(exc, BrushworkError):
            reason = f"{type(exc).__name__}: {reason}"
        return {**row, "status": "failed", "reason": reason, "image": ""}
    row.update(status="ok", width=frames[0].width, height=frames[0].height, frames=len(frames),
               seconds=seconds, peak_mem_mb=(max(peaks) / 2**20 if None not in peaks else math.nan))
    save_image(frames[0], cache / f"{key}.png")
    if len(frames) > 1:
        _save_animation(frames, cache / f"{key}.gif")
        save_strip(job.content.frames, per_frame, frames, cache / f"{key}_strip.png")
    atomic_write_text(cache / f"{key}.json", json.dumps(row, default=_json_default, indent=1))
    return row


def _json_default(value):
    return float(value) if isinstance(value, (int, float)) else str(value)


def _save_animation(frames: list[Image.Image], path: Path) -> None:
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def plan_jobs(contents: list[Input], styles: list[Input], methods: list[Method]) -> list[Job]:
    """Every method on every pair it applies to; a method with its own style once per photo, paired
    with its training painting when that is among the styles (so its style loss can be measured)."""
    jobs = []
    for method in methods:
        if not method.uses_style and not method.error:
            try:
                method.prepare()  # loads the model, to read which painting it was trained on
            except BrushworkError as exc:
                method.error = str(exc)
    for content in contents:
        for method in methods:
            if method.uses_style:
                jobs += [Job(content, style, method) for style in styles]
            else:
                jobs.append(Job(content, method.own_style(styles) if not method.error else None, method))
    return jobs


# --- the whole run ------------------------------------------------------------------------------------
@dataclass
class Evaluation:
    """What ``evaluate`` made: the rows of results.csv and summary.csv, and the files written
    (``files["report"]`` is report.html, ``files["results"]`` results.csv, ...), all in ``output``."""

    config: EvaluateConfig
    rows: list[dict]
    summary: list[dict]
    files: dict[str, Path]
    computed: int = 0
    #: The report folder: every file above, and ``cache/`` (finished results a re-run reuses).
    output: Path | None = None


def evaluate(config: EvaluateConfig, progress: ProgressCallback | None = None,
             on_row: Callable[[dict], None] | None = None) -> Evaluation:
    """Run the evaluation described by ``config`` and write its report folder, ``config.output``
    (required: nothing is written anywhere unasked; the returned ``Evaluation.output`` is that folder).

    ``progress`` gets one ``brushwork.progress.Progress`` before and after each result (unit
    ``result``, the method and pair in ``message``); ``on_row`` gets each finished row. Raises
    ``ConfigError`` when there is nothing to evaluate or no output folder; a failing result is a row,
    not an exception.

    >>> from brushwork import EvaluateConfig, evaluate
    >>> config = EvaluateConfig(contents=("photos/",), styles=("art/",), output="report")
    >>> report = evaluate(config)  # doctest: +SKIP
    >>> report.files["report"]  # doctest: +SKIP
    PosixPath('report/report.html')
    """
    if not config.output:
        raise ConfigError("no output folder: give EvaluateConfig(output=FOLDER) (brushwork evaluate -o "
                          "FOLDER); the report, its tables and the result cache are written there")
    if not config.contents:
        raise ConfigError("no content images: give --contents FILES_OR_FOLDERS")
    methods = [parse_method(s, config) for s in expand_methods(config)]
    if any(m.uses_style for m in methods) and not config.styles:
        raise ConfigError("no style images: give --styles FILES_OR_FOLDERS")
    regions = region_config(config)
    region_names: list[str] = []
    if regions is not None:  # the mask is read (a corrupt one refused) before any work
        from brushwork.evaluation.regions import region_names as names_of

        region_names = names_of(regions)
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "cache"
    cache.mkdir(exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    contents = load_inputs(config.contents, config.max_frames)
    styles = load_inputs(config.styles, 1) if config.styles else []
    if not contents:
        raise ConfigError(f"no images found in {', '.join(config.contents)}")
    if any(m.uses_style for m in methods) and not styles:
        raise ConfigError(f"no images found in {', '.join(config.styles)}")
    reference = ReferenceLoss(config.eval_size, config.reference_weights,
                                      vgg=loss_network("vgg19", config.reference_weights))
    jobs = plan_jobs(contents, styles, methods)
    rows: list[dict] = []
    computed = 0
    if config.engine != "inline":  # the same jobs on Ray actors, rows back in plan order
        from brushwork.evaluation.distributed import run_on_ray

        steps = {"plan_jobs": plan_jobs, "run_job": run_job, "job_key": job_key, "base_row": base_row}
        rows, computed = run_on_ray(jobs, config, steps, progress, on_row)
    for done, job in enumerate(jobs if config.engine == "inline" else []):
        label = f"{job.method.label} | {job.content.name} x {job.style_name}"
        report(progress, done, len(jobs), "result", label)
        before = (cache / f"{job_key(job, config)}.json").is_file()
        row = run_job(job, config, reference, cache)
        computed += int(row["status"] == "ok" and not before)
        rows.append(row)
        report(progress, done + 1, len(jobs), "result", label)
        if on_row is not None:
            on_row(row)
    extra: list[str] = []
    if regions is not None:  # per-region columns, measured on each still result's lossless PNG
        from brushwork.evaluation.regions import measure_regions, region_columns

        extra = region_columns(region_names)
        for job, row in zip(jobs, rows):
            row.update(dict.fromkeys(extra, math.nan))
            if row["status"] != "ok" or job.content.is_video or not row.get("image"):
                continue
            with Image.open(out / row["image"]) as stored:
                result = stored.convert("RGB")
            style = job.style.image if job.style is not None and not job.style.error else None
            row.update(measure_regions(result, job.content.frames[0], style, regions, reference))
    summary = summarise(rows)
    files = write_tables(out, rows, summary, extra)
    files.update(write_report(out, config, rows, summary, contents, styles, methods))
    return Evaluation(config=config, rows=rows, summary=summary, files=files, computed=computed, output=out)
