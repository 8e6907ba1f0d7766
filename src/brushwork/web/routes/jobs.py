"""Jobs: submit one (a photo or sample, a style or an uploaded painting), follow it by polling or by
Server-Sent Events, fetch its photo, preview and result, cancel it."""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from brushwork.config import WebServiceConfig
from brushwork.images import open_image, resize_longest
from brushwork.web.deps import Config, Gallery, JobInPath, Manager, Methods
from brushwork.web.jobs import TERMINAL, Job, JobManager, QueueFull
from brushwork.web.methods import MIN_SIZE, WEIGHT_LIMITS, JobOptions, Method, StyleInput
from brushwork.web.styles import Registry, Style
from brushwork.web.uploads import decode_upload, read_limited

#: Stored paintings are capped here: style images are resized to the output size anyway.
PAINTING_STORE_SIZE = 1024
SSE_POLL_SECONDS = 0.1
INLINE_POLL_SECONDS = 0.02
SSE_KEEPALIVE_SECONDS = 15.0

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


def job_view(job: Job, manager: JobManager) -> dict:
    """A job as the API shows it: state, progress, queue position and the URLs that apply now."""
    base = f"/api/jobs/{job.id}"
    percent = 100.0 if job.status == "done" else (100.0 * job.iteration / job.total if job.total else 0.0)
    view = {
        "id": job.id,
        "status": job.status,
        "method": job.method,
        "style": job.style,
        "style_title": job.style_title,
        "options": job.options,
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
        "error": job.error,
        "progress": {
            "iteration": job.iteration,
            "total": job.total,
            "percent": round(percent, 1),
            "losses": {k: v for k, v in job.losses.items() if math.isfinite(v)},
        },
        "queue_position": manager.queue_position(job) if job.status == "queued" else None,
        "urls": {
            "self": base,
            "events": f"{base}/events",
            "photo": f"{base}/photo",
            "cancel": f"{base}/cancel",
        },
    }
    if job.preview:
        view["urls"]["preview"] = f"{base}/preview?v={job.preview}"
    if job.status == "done":
        view["urls"]["result"] = f"{base}/result"
        view["urls"]["download"] = f"{base}/result?download=true"
        view["width"], view["height"] = job.width, job.height
    return view


def job_options(
    method: Method,
    config: WebServiceConfig,
    size: int | None,
    iterations: int | None,
    style_weight: float | None,
    content_weight: float | None,
    preserve_colors: bool,
) -> JobOptions:
    """Fill in the method's defaults and check each value against the server's limits."""
    defaults = method.defaults
    options = JobOptions(
        size=defaults.size if size is None else size,
        iterations=defaults.iterations if iterations is None else iterations,
        style_weight=defaults.style_weight if style_weight is None else style_weight,
        content_weight=defaults.content_weight if content_weight is None else content_weight,
        preserve_colors=preserve_colors,
    )
    if not MIN_SIZE <= options.size <= config.max_size:
        raise HTTPException(
            422, f"size must be between {MIN_SIZE} and {config.max_size} pixels, got {options.size}"
        )
    if not 1 <= options.iterations <= config.max_iterations:
        raise HTTPException(
            422, f"iterations must be between 1 and {config.max_iterations}, got {options.iterations}"
        )
    low, high = WEIGHT_LIMITS
    for name in ("style_weight", "content_weight"):
        value = getattr(options, name)
        if not (math.isfinite(value) and low <= value <= high):
            what = name.replace("_", " ")
            raise HTTPException(422, f"{what} must be between {low} and {high}, got {value}")
    if options.style_weight == 0 and options.content_weight == 0:
        raise HTTPException(422, "style weight and content weight cannot both be 0")
    return options


def check_choices(
    method: str,
    registry: Registry,
    has_photo: bool,
    sample: str | None,
    style: str | None,
    has_painting: bool,
) -> Style | None:
    """Exactly one photo source and one style source, both known and fit for ``method``; returns the
    gallery entry of the chosen style (None for an uploaded painting)."""
    if has_photo == (sample is not None):
        raise HTTPException(422, "send either a photo file or a sample id (exactly one of them)")
    if has_painting == (style is not None):
        raise HTTPException(422, "send either a style id or a painting file (exactly one of them)")
    if sample is not None and sample not in registry.samples:
        raise HTTPException(404, "no such sample photo; see /api/samples")
    if style is not None and style not in registry.styles:
        raise HTTPException(404, "no such style; see /api/styles")
    entry = registry.styles.get(style) if style else None
    if entry is not None and method not in entry.methods:
        hint = "the quality (gatys) method" if "gatys" in entry.methods else "the fast method"
        raise HTTPException(422, f"style {entry.title!r} cannot be painted with {method}; use {hint}")
    if has_painting and method == "fast":
        raise HTTPException(
            422,
            "fast models are trained for one painting each; an uploaded painting "
            "needs the quality (gatys) method",
        )
    return entry


@router.post(
    "",
    status_code=202,
    summary="Submit a job (photo or sample, style name or uploaded painting)",
    responses={
        200: {"description": "finished at once (fast method)"},
        429: {"description": "queue full"},
        413: {"description": "upload too large"},
        415: {"description": "not an image"},
    },
)
async def submit(
    request: Request,
    config: Config,
    manager: Manager,
    registry: Gallery,
    methods: Methods,
    photo: Annotated[UploadFile | None, File(description="the photo (any common image format)")] = None,
    sample: Annotated[str | None, Form(description="or: a sample photo id from /api/samples")] = None,
    style: Annotated[str | None, Form(description="a style id from /api/styles")] = None,
    painting: Annotated[UploadFile | None, File(description="or: a painting to take the style from")] = None,
    method: Annotated[str, Form(description="fast or gatys")] = "gatys",
    size: Annotated[int | None, Form(description="longest side of the result in pixels")] = None,
    iterations: Annotated[int | None, Form(description="Gatys iterations")] = None,
    style_weight: Annotated[float | None, Form(description="Gatys style weight")] = None,
    content_weight: Annotated[float | None, Form(description="Gatys content weight")] = None,
    preserve_colors: Annotated[bool, Form(description="keep the photo's colours")] = False,
) -> JSONResponse:
    chosen = methods.get(method)
    if chosen is None:
        raise HTTPException(422, f"unknown method {method[:40]!r}; choose from {', '.join(methods)}")
    reason = chosen.unavailable_reason()
    if reason:
        raise HTTPException(422, f"the {method} method is not available: {reason}")
    options = job_options(chosen, config, size, iterations, style_weight, content_weight, preserve_colors)
    entry = check_choices(method, registry, photo is not None, sample, style, painting is not None)
    if not manager.has_room(method):  # say so before spending time on the uploads
        raise HTTPException(429, manager.busy_message(method), headers={"Retry-After": "30"})
    photo_bytes = await read_limited(photo, config.max_upload_bytes, "photo") if photo else None
    painting_bytes = await read_limited(painting, config.max_upload_bytes, "painting") if painting else None

    def prepare() -> Job:
        """Decode, resize and store the inputs, then queue the job (in a worker thread)."""
        if photo_bytes is not None:
            picture = decode_upload(photo_bytes, "photo", config.max_pixels)
        else:
            picture = open_image(registry.samples[sample].path)
        picture = resize_longest(picture, options.size)
        if painting_bytes is not None:
            art = decode_upload(painting_bytes, "painting", config.max_pixels)
            art = resize_longest(art, PAINTING_STORE_SIZE)
            style_input, style_id, title = StyleInput(painting=art), "upload", "your painting"
        else:
            art = open_image(entry.painting) if entry.painting and method == "gatys" else None
            style_input = StyleInput(painting=art, fast_model=entry.fast_model if method == "fast" else None)
            style_id, title = entry.id, entry.title
        return manager.submit(method, style_id, title, style_input, picture, options)

    try:
        job = await anyio.to_thread.run_sync(prepare, limiter=request.app.state.decoding)
    except QueueFull as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": "30"}) from None
    status = 202
    if chosen.lane == "fast" and config.fast_inline_wait > 0:
        deadline = time.monotonic() + config.fast_inline_wait
        while job.status not in TERMINAL and time.monotonic() < deadline:
            await asyncio.sleep(INLINE_POLL_SECONDS)  # waits without holding a thread
        status = 200 if job.status in TERMINAL else 202
    location = {"Location": f"/api/jobs/{job.id}"}
    return JSONResponse(job_view(job, manager), status_code=status, headers=location)


@router.get("/{job_id}", summary="A job's state and progress")
async def get_job(job: JobInPath, manager: Manager) -> dict:
    return job_view(job, manager)


@router.get(
    "/{job_id}/events",
    summary="Progress as Server-Sent Events",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def job_events(job: JobInPath, manager: Manager, request: Request) -> StreamingResponse:
    async def stream():
        seen, quiet = -1, 0.0
        yield "retry: 2000\n\n"
        while True:
            if job.version != seen:
                seen, quiet = job.version, 0.0
                yield f"event: job\ndata: {json.dumps(job_view(job, manager))}\n\n"
                if job.status in TERMINAL:
                    return
            elif quiet >= SSE_KEEPALIVE_SECONDS:
                quiet = 0.0
                yield ": keep-alive\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(SSE_POLL_SECONDS)
            quiet += SSE_POLL_SECONDS

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _job_file(
    manager: JobManager, job: Job, kind: str, media: str, headers: dict | None = None
) -> FileResponse:
    path = manager.file(job.id, kind)
    if path is None:
        raise HTTPException(404, f"this job has no {kind} image yet")
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-store", **(headers or {})})


@router.get(
    "/{job_id}/result",
    summary="The result PNG",
    responses={200: {"content": {"image/png": {}}}, 409: {"description": "not finished"}},
)
async def job_result(job: JobInPath, manager: Manager, download: bool = False) -> FileResponse:
    if job.status != "done":
        why = f"it {job.status}: {job.error}" if job.status in TERMINAL else f"it is {job.status}"
        raise HTTPException(409, f"this job has no result; {why}")
    headers = {}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="brushwork-{job.style}-{job.id[:8]}.png"'
    return _job_file(manager, job, "result", "image/png", headers)


@router.get(
    "/{job_id}/preview",
    summary="The latest preview (Gatys)",
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def job_preview(job: JobInPath, manager: Manager) -> FileResponse:
    return _job_file(manager, job, "preview", "image/jpeg")


@router.get(
    "/{job_id}/photo",
    summary="The photo as the job uses it (for before/after)",
    responses={200: {"content": {"image/png": {}}}},
)
async def job_photo(job: JobInPath, manager: Manager) -> FileResponse:
    return _job_file(manager, job, "photo", "image/png")


@router.post("/{job_id}/cancel", summary="Cancel a queued or running job")
async def cancel_job(job: JobInPath, manager: Manager) -> dict:
    if job.status in TERMINAL:
        raise HTTPException(409, f"this job has already finished ({job.status})")
    await run_in_threadpool(manager.cancel, job)
    return job_view(job, manager)
