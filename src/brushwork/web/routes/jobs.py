"""Jobs: submit one (a photo or sample, a style or an uploaded painting, optionally a second painting
to blend), follow it by polling or by Server-Sent Events, fetch its photo, preview and result, cancel it.

The form and its checks are ``web.submission``'s; these routes parse, answer and stream. The photo may be
a short video for the fast lane's methods: the job then counts frames as its progress, previews the latest
painted frame and its result is an MP4 (H.264, the audio kept)."""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from PIL import Image
from starlette.concurrency import run_in_threadpool

from brushwork.config import WebServiceConfig
from brushwork.web.changes import Changes
from brushwork.web.deps import (
    Config,
    Gallery,
    JobInPath,
    Manager,
    Methods,
    OwnedJob,
    browser_token,
    cancel_unfinished,
)
from brushwork.web.jobs import TERMINAL, Job, JobManager, JobStatus
from brushwork.web.methods import MIN_SIZE, JobMethod, largest_size
from brushwork.web.schemas import JobUrls, JobView, ProgressView, errors
from brushwork.web.security import OWNER_COOKIE, is_loopback, new_token, token_hash
from brushwork.web.styles import Registry
from brushwork.web.submission import JobForm, submit_job

#: How long a progress stream sleeps at most between looks at the server's stopping flag and the client's
#: connection; a job's change wakes it at once (``web.changes``).
SSE_WAKE_SECONDS = 0.25
SSE_KEEPALIVE_SECONDS = 15.0

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
#: OpenAPI links from a submitted job to what can be done with it (schemathesis follows them). Not
#: the preview: only Gatys jobs make one, after their first iteration.
JOB_LINKS = {
    name: {"operationId": operation, "parameters": {"job_id": "$response.body#/id"}}
    for name, operation in (
        ("GetJob", "get_job"), ("JobEvents", "job_events"), ("JobResult", "job_result"),
        ("JobPhoto", "job_photo"), ("CancelJob", "cancel_job"),
    )
}
#: The answer of every route that shows a job.
JOB_ROUTE = {"response_model": JobView, "response_model_exclude_unset": True}


def job_urls(job: Job) -> JobUrls:
    """The URLs that apply to ``job`` now (the stored inputs a page needs to paint it again, its result)."""
    base = f"/api/jobs/{job.id}"
    urls = JobUrls(self=base, events=f"{base}/events", photo=f"{base}/photo", cancel=f"{base}/cancel")
    if job.style == "upload":
        urls.painting = f"{base}/painting"
    if job.second_style == "upload":
        urls.second_painting = f"{base}/painting?second=true"
    if job.regions and job.regions.get("source") == "mask":
        urls.mask = f"{base}/mask"
    if job.preview:
        urls.preview = f"{base}/preview?v={job.preview}"
    if job.status == JobStatus.DONE:
        urls.result = f"{base}/result"
        urls.download = f"{base}/result?download=true"
        if job.kind == "image":
            urls.download_jpeg = f"{base}/result?format=jpeg&download=true"
    return urls


def job_view(job: Job, manager: JobManager) -> JobView:
    """A job as the API shows it: state, progress, queue position and the URLs that apply now."""
    done = job.status == JobStatus.DONE
    percent = 100.0 if done else (100.0 * job.iteration / job.total if job.total else 0.0)
    progress = ProgressView(
        iteration=job.iteration, total=job.total, percent=round(percent, 1),
        losses={k: v for k, v in job.losses.items() if math.isfinite(v)},
        eta_seconds=job.eta if job.status == JobStatus.RUNNING else None,
    )
    fields = ("id", "status", "kind", "method", "style", "style_title", "second_style", "options", "created",
              "started", "finished", "error", "note", "regions", "warning")
    view = JobView(
        **{name: getattr(job, name) for name in fields}, progress=progress, urls=job_urls(job),
        queue_position=manager.queue_position(job) if job.status == JobStatus.QUEUED else None,
    )
    if done:
        view.width, view.height = job.width, job.height
    return view


def form_rules(
    config: WebServiceConfig, methods: dict[str, JobMethod], registry: Registry
) -> dict[str, dict]:
    """What ``POST /api/jobs`` accepts on this server, for its OpenAPI schema (schemas.tune_openapi):
    the ids of its gallery, samples and methods, and the ranges ``job_options`` checks against this
    server's limits (the fixed ranges are ``JobForm``'s own)."""
    return {
        "sample": {"enum": sorted(registry.samples)},
        "style": {"enum": sorted(registry.styles)},
        "second_style": {"enum": sorted(s.id for s in registry.styles.values() if s.painting is not None)},
        "method": {"enum": list(methods)},
        "size": {"minimum": MIN_SIZE, "maximum": max(largest_size(m, config) for m in methods.values())},
        "iterations": {"minimum": 1, "maximum": config.max_iterations},
    }


def form_examples(registry: Registry) -> dict[str, list[dict]]:
    """Forms that paint on this server (the OpenAPI examples; schemathesis starts from them)."""
    sample = next(iter(registry.samples), None)
    fit = {m: next((s for s in registry.styles.values() if m in s.methods), None)
           for m in ("arbitrary", "gatys")}
    forms = [
        {"sample": sample, "style": style.id, "method": method, "size": 64, "iterations": 2}
        for method, style in fit.items()
        if sample and style
    ]
    for form in forms:
        if form["method"] != "gatys":
            del form["iterations"]
    return {"JobForm": forms}


@router.post(
    "",
    status_code=202,
    summary="Submit a job (photo or sample, style name or uploaded painting, optional second painting)",
    operation_id="submit_job",
    responses={
        200: {"model": JobView, "description": "finished at once (the fast lane)", "links": JOB_LINKS},
        202: {"model": JobView, "description": "queued or running: follow it", "links": JOB_LINKS},
        **errors(400, 404, 408, 413, 415, 422, 429, 507),
    },
    **JOB_ROUTE,
)
async def submit(
    request: Request, response: Response, form: Annotated[JobForm, Form(media_type="multipart/form-data")],
    config: Config, manager: Manager, registry: Gallery, methods: Methods,
) -> JobView:
    # Exposed servers: a job's files and cancel are the submitting browser's (web.security).
    token = None if is_loopback(config.host) else (browser_token(request) or new_token())
    job, notice = await submit_job(request, form, config, manager, methods, registry,
                                   owner=token_hash(token) if token else None)
    if methods[job.method].lane == "fast" and config.fast_inline_wait > 0 and job.kind == "image":
        await wait_until_over(request, job, manager.changes, config.fast_inline_wait)  # videos: follow them
    response.status_code = 200 if job.status in TERMINAL else 202
    response.headers["Location"] = f"/api/jobs/{job.id}"
    if notice:  # an old method name: the deprecation draft's header, the reason beside it
        response.headers["Deprecation"] = "true"
        response.headers["X-Deprecation-Notice"] = notice
    if token and request.cookies.get(OWNER_COOKIE) != token:
        response.set_cookie(OWNER_COOKIE, token, max_age=int(config.max_age_hours * 3600), httponly=True,
                            samesite="strict", path="/api/jobs")
    return job_view(job, manager)


async def wait_until_over(request: Request, job, changes: Changes, seconds: float) -> None:
    """Until ``job`` ends, ``seconds`` pass or the server stops; waits without holding a thread."""
    deadline = time.monotonic() + seconds
    stopping = request.app.state.stopping
    with changes.watch() as watch:
        while job.status not in TERMINAL and not stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await watch.wait(min(left, SSE_WAKE_SECONDS))


@router.get(
    "/{job_id}",
    summary="A job's state and progress",
    operation_id="get_job",
    responses=errors(404),
    **JOB_ROUTE,
)
async def get_job(job: JobInPath, manager: Manager) -> JobView:
    return job_view(job, manager)


@router.get(
    "/{job_id}/events",
    summary="Progress as Server-Sent Events",
    operation_id="job_events",
    responses={200: {"content": {"text/event-stream": {}}}, **errors(404)},
)
async def job_events(job: JobInPath, manager: Manager, request: Request) -> StreamingResponse:
    return progress_stream(request, job, "job", lambda: job_view(job, manager), manager.changes)


def _event_data(value) -> str:
    """A view as one line of JSON: a JobView as the routes answer it (unset fields left out), or a dict."""
    if isinstance(value, JobView):
        value = value.model_dump(mode="json", exclude_unset=True)
    return json.dumps(value)


def progress_stream(
    request: Request, job, event: str, render: Callable, changes: Changes
) -> StreamingResponse:
    """Server-Sent Events of ``job`` (anything with ``version`` and ``status``): ``render()`` as an
    ``event`` each time its version moves (``changes`` wakes the stream), until it ends, the client leaves
    or the server stops (the page retries), with a keep-alive comment when quiet. Painting and training
    jobs share it."""
    stopping = request.app.state.stopping

    async def stream():
        seen, quiet_since = -1, time.monotonic()
        yield "retry: 2000\n\n"
        with changes.watch() as watch:
            while not stopping.is_set():
                if job.version != seen:
                    seen, quiet_since = job.version, time.monotonic()
                    yield f"event: {event}\ndata: {_event_data(render())}\n\n"
                    if job.status in TERMINAL:
                        return
                elif time.monotonic() - quiet_since >= SSE_KEEPALIVE_SECONDS:
                    quiet_since = time.monotonic()
                    yield ": keep-alive\n\n"
                if await request.is_disconnected():
                    return
                await watch.wait(SSE_WAKE_SECONDS)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _job_file(
    manager: JobManager, job: Job, kind: str, media: str, headers: dict | None = None, missing: int = 404
) -> FileResponse:
    path = manager.file(job.id, kind)
    if path is None:
        raise HTTPException(missing, f"this job has no {kind} image yet")
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-store", **(headers or {})})


#: Quality of a result downloaded as JPEG (``format=jpeg``): no visible loss, a fraction of the PNG's bytes.
JPEG_QUALITY = 92


def _as_jpeg(path) -> bytes:
    with Image.open(path) as image:
        out = io.BytesIO()
        image.convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


@router.get(
    "/{job_id}/result",
    summary="The result: a PNG (or a JPEG with format=jpeg), or an MP4 for a video",
    operation_id="job_result",
    responses={
        200: {"content": {"image/png": {}, "image/jpeg": {}, "video/mp4": {}},
              "description": "the result (the job's kind)"},
        **errors(403, 404, 409, 422),
    },
)
async def job_result(
    job: OwnedJob, manager: Manager, download: bool = False, format: Literal["png", "jpeg"] = "png"
) -> Response:
    if job.status != "done":
        why = f"it {job.status}: {job.error}" if job.status in TERMINAL else f"it is {job.status}"
        raise HTTPException(409, f"this job has no result; {why}")
    video = job.kind == "video"
    if video and format == "jpeg":
        raise HTTPException(422, "this job's result is a video (MP4); format=jpeg is for pictures")
    headers = {}
    suffix = "mp4" if video else "jpg" if format == "jpeg" else "png"
    if download:
        headers["Content-Disposition"] = f'attachment; filename="brushwork-{job.style}-{job.id[:8]}.{suffix}"'
    if format == "jpeg":
        path = manager.file(job.id, job.result_kind)
        if path is None:
            raise HTTPException(404, f"this job has no {job.result_kind} image yet")
        data = await run_in_threadpool(_as_jpeg, path)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store", **headers})
    return _job_file(manager, job, job.result_kind, "video/mp4" if video else "image/png", headers)


@router.get(
    "/{job_id}/preview",
    summary="The latest preview (Gatys)",
    operation_id="job_preview",
    responses={200: {"content": {"image/jpeg": {}}}, **errors(403, 404, 409)},
)
async def job_preview(job: OwnedJob, manager: Manager) -> FileResponse:
    """409 while the job has no preview (not started; fast jobs make none): the job exists."""
    return _job_file(manager, job, "preview", "image/jpeg", missing=409)


@router.get(
    "/{job_id}/photo",
    summary="The photo as the job uses it (for before/after)",
    operation_id="job_photo",
    responses={200: {"content": {"image/png": {}}}, **errors(403, 404)},
)
async def job_photo(job: OwnedJob, manager: Manager) -> FileResponse:
    return _job_file(manager, job, "photo", "image/png")


@router.get(
    "/{job_id}/painting",
    summary="An uploaded painting as the job stored it (to paint it again)",
    operation_id="job_painting",
    responses={200: {"content": {"image/png": {}}}, **errors(403, 404)},
)
async def job_painting(job: OwnedJob, manager: Manager, second: bool = False) -> FileResponse:
    """404 for a gallery painting (its id is the job's ``style``): only uploads are stored."""
    return _job_file(manager, job, "second_painting" if second else "painting", "image/png")


@router.get(
    "/{job_id}/mask",
    summary="A job's mask picture as it was sent (to paint it again)",
    operation_id="job_mask",
    responses={200: {"content": {"image/png": {}}}, **errors(403, 404, 409)},
)
async def job_mask(job: OwnedJob, manager: Manager) -> FileResponse:
    """409 for a job painted without a mask (no regions, or regions=auto): the job exists, as with
    the preview (404 is for no such job)."""
    return _job_file(manager, job, "mask", "image/png", missing=409)


@router.post(
    "/{job_id}/cancel",
    summary="Cancel a queued or running job",
    operation_id="cancel_job",
    responses=errors(403, 404, 409),
    **JOB_ROUTE,
)
async def cancel_job(job: OwnedJob, manager: Manager) -> JobView:
    await cancel_unfinished(job, manager.cancel, "job")
    return job_view(job, manager)
