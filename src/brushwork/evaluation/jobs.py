"""One evaluation result: what a job is (method x photo x painting), its cache key, and painting and
measuring it into a row. ``run.evaluate`` runs jobs inline, ``distributed`` on Ray actors; both
import this module, so neither needs the other.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import typing
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from brushwork.config import EvaluateConfig
from brushwork.errors import BrushworkError, StylizeInterrupted
from brushwork.evaluation.inputs import Input
from brushwork.evaluation.methods import MethodSpec
from brushwork.evaluation.report import COLUMNS, brushwork_version
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

#: The image metrics of one result, in the order they are computed (time and memory are measured apart).
IMAGE_METRICS = ("content_loss", "style_loss", "style_ratio_all", "style_ratio_deep", "style_ratio_low",
                 "ssim", "psnr", "mse", "hist_distance")


#: Kept in a video result's cached record besides the columns (the report plots them).
VIDEO_EXTRAS = ("warp_errors", "scene_cuts")


# --- one result -------------------------------------------------------------------------------------
@dataclass
class EvaluationJob:
    content: Input
    style: Input | None
    method: MethodSpec

    @property
    def style_name(self) -> str:
        return self.style.name if self.style is not None else "(own)"


def job_key(job: EvaluationJob, config: EvaluateConfig) -> str:
    """Hash of everything a result depends on: method and its settings, input bytes, measuring setup."""
    payload = {
        "method": job.method.spec, "settings": job.method.cache_settings(), "size": config.size,
        "seed": config.seed, "eval_size": config.eval_size, "reference": config.reference_weights,
        "content": job.content.digest or str(job.content.path),
        "style": (job.style.digest or str(job.style.path)) if job.style else None,
        "max_frames": config.max_frames, "version": brushwork_version(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def base_row(job: EvaluationJob, key: str) -> dict[str, typing.Any]:
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


def _remeasured(cached: dict, job: EvaluationJob, cache: Path, key: str,
                reference: ReferenceLoss) -> dict | None:
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


def run_job(job: EvaluationJob, config: EvaluateConfig, reference: ReferenceLoss,
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


def plan_jobs(contents: list[Input], styles: list[Input], methods: list[MethodSpec]) -> list[EvaluationJob]:
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
                jobs += [EvaluationJob(content, style, method) for style in styles]
            else:
                own = method.own_style(styles) if not method.error else None
                jobs.append(EvaluationJob(content, own, method))
    return jobs
