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

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from brushwork.config import EvaluateConfig
from brushwork.errors import ConfigError
from brushwork.evaluation.distributed import run_on_ray
from brushwork.evaluation.inputs import Input, load_inputs
from brushwork.evaluation.jobs import EvaluationJob, job_key, plan_jobs, run_job
from brushwork.evaluation.methods import MethodSpec, expand_methods, parse_method
from brushwork.evaluation.regions import measure_regions, region_columns, region_config
from brushwork.evaluation.regions import region_names as region_names_of
from brushwork.evaluation.report import summarise, write_report, write_tables
from brushwork.metrics import ReferenceLoss
from brushwork.painters import loss_network
from brushwork.progress import ProgressCallback, report


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
    methods = _check_config(config)
    regions = region_config(config)
    region_names = region_names_of(regions) if regions is not None else []  # a corrupt mask: refused now
    out = Path(config.output)
    (out / "cache").mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    contents, styles = _load(config, methods)
    reference = ReferenceLoss(config.eval_size, config.reference_weights,
                              vgg=loss_network("vgg19", config.reference_weights))
    jobs = plan_jobs(contents, styles, methods)
    if config.engine != "inline":  # the same jobs on Ray actors, rows back in plan order
        rows, computed = run_on_ray(jobs, config, progress, on_row)
    else:
        rows, computed = _run_inline(jobs, config, reference, out / "cache", progress, on_row)
    extra: list[str] = []
    if regions is not None:  # per-region columns, measured on each still result's lossless PNG
        extra = region_columns(region_names)
        _measure_regions(jobs, rows, extra, out, regions, reference)
    summary = summarise(rows)
    files = write_tables(out, rows, summary, extra)
    files.update(write_report(out, config, rows, summary, contents, styles, methods))
    return Evaluation(config=config, rows=rows, summary=summary, files=files, computed=computed, output=out)


def _check_config(config: EvaluateConfig) -> list[MethodSpec]:
    """The methods to run; ConfigError when there is nothing to evaluate or nowhere to write."""
    if not config.output:
        raise ConfigError("no output folder: give EvaluateConfig(output=FOLDER) (brushwork evaluate -o "
                          "FOLDER); the report, its tables and the result cache are written there")
    if not config.contents:
        raise ConfigError("no content images: give --contents FILES_OR_FOLDERS")
    methods = [parse_method(s, config) for s in expand_methods(config)]
    if any(m.uses_style for m in methods) and not config.styles:
        raise ConfigError("no style images: give --styles FILES_OR_FOLDERS")
    return methods


def _load(config: EvaluateConfig, methods: list[MethodSpec]) -> tuple[list[Input], list[Input]]:
    """The photos (frames of videos) and paintings; ConfigError when a folder holds none."""
    contents = load_inputs(config.contents, config.max_frames)
    styles = load_inputs(config.styles, 1) if config.styles else []
    if not contents:
        raise ConfigError(f"no images found in {', '.join(config.contents)}")
    if any(m.uses_style for m in methods) and not styles:
        raise ConfigError(f"no images found in {', '.join(config.styles)}")
    return contents, styles


def _run_inline(jobs: list[EvaluationJob], config: EvaluateConfig, reference: ReferenceLoss, cache: Path,
                progress: ProgressCallback | None,
                on_row: Callable[[dict], None] | None) -> tuple[list[dict], int]:
    """Each job's row in this process, in order; and how many were computed rather than cached."""
    rows: list[dict] = []
    computed = 0
    for done, job in enumerate(jobs):
        label = f"{job.method.label} | {job.content.name} x {job.style_name}"
        report(progress, done, len(jobs), "result", label)
        before = (cache / f"{job_key(job, config)}.json").is_file()
        row = run_job(job, config, reference, cache)
        computed += int(row["status"] == "ok" and not before)
        rows.append(row)
        report(progress, done + 1, len(jobs), "result", label)
        if on_row is not None:
            on_row(row)
    return rows, computed


def _measure_regions(jobs: list[EvaluationJob], rows: list[dict], columns: list[str], out: Path,
                     regions, reference: ReferenceLoss) -> None:
    """Add each still result's per-region columns to its row (NaN where there is none)."""
    for job, row in zip(jobs, rows):
        row.update(dict.fromkeys(columns, math.nan))
        if row["status"] != "ok" or job.content.is_video or not row.get("image"):
            continue
        with Image.open(out / row["image"]) as stored:
            result = stored.convert("RGB")
        style = job.style.image if job.style is not None and not job.style.error else None
        row.update(measure_regions(result, job.content.frames[0], style, regions, reference))
