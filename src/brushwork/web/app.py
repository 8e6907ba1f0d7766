"""The FastAPI app: JSON/multipart API under /api, the page at /, API docs at /docs.

``create_app(config, methods)`` builds a self-contained app (tests build many); the job
pools start and stop with the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from brushwork import __version__
from brushwork.images import open_image, resize_longest
from brushwork.config import WebServiceConfig
from brushwork.web.jobs import TERMINAL, Job, JobManager, QueueFull
from brushwork.web.methods import JobOptions, Method, StyleInput, default_methods
from brushwork.web.styles import (
    Style,
    find_paintings,
    find_samples,
    merge_fast_models,
    model_preview_bytes,
    swatch_bytes,
    thumbnail_bytes,
)
from brushwork.web.uploads import BodyLimitMiddleware, decode_upload, read_limited

log = logging.getLogger("brushwork.web")
STATIC = Path(__file__).resolve().parent / "static"
#: Stored paintings are capped here: style images are resized to the output size anyway.
PAINTING_STORE_SIZE = 1024
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
SSE_POLL_SECONDS = 0.1
INLINE_POLL_SECONDS = 0.02
DECODE_SLOTS = 4
SSE_KEEPALIVE_SECONDS = 15.0


class Registry:
    """Styles, samples and thumbnails the app offers; built once at start-up."""

    def __init__(self, config: WebServiceConfig, methods: dict[str, Method]):
        models: dict[str, str] = {}
        for method in methods.values():
            if method.unavailable_reason() is None:
                models.update(method.models())
        self.styles: dict[str, Style] = merge_fast_models(find_paintings(config.styles_dir), models)
        self.samples = find_samples()
        self._thumbs: dict[tuple[str, str], bytes] = {}

    def thumbnail(self, kind: str, item_id: str) -> bytes | None:
        key = (kind, item_id)
        if key not in self._thumbs:
            if kind == "style" and item_id in self.styles:
                style = self.styles[item_id]
                if style.painting:
                    self._thumbs[key] = thumbnail_bytes(style.painting)
                else:
                    preview = model_preview_bytes(style.fast_model) if style.fast_model else None
                    self._thumbs[key] = preview or swatch_bytes(style.id)
            elif kind == "sample" and item_id in self.samples:
                self._thumbs[key] = thumbnail_bytes(self.samples[item_id].path)
            else:
                return None
        return self._thumbs[key]


def _job_view(job: Job, manager: JobManager) -> dict:
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


def _options(
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
    if not 32 <= options.size <= config.max_size:
        raise HTTPException(422, f"size must be between 32 and {config.max_size} pixels, got {options.size}")
    if not 1 <= options.iterations <= config.max_iterations:
        raise HTTPException(
            422, f"iterations must be between 1 and {config.max_iterations}, got {options.iterations}"
        )
    for name in ("style_weight", "content_weight"):
        value = getattr(options, name)
        if not (math.isfinite(value) and 0 <= value <= 1e4):
            raise HTTPException(422, f"{name.replace('_', ' ')} must be between 0 and 10000, got {value}")
    if options.style_weight == 0 and options.content_weight == 0:
        raise HTTPException(422, "style weight and content weight cannot both be 0")
    return options


def _validation_message(exc: RequestValidationError) -> str:
    """Pydantic's error list as one readable line: 'size: Input should be a valid integer'."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "form"))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def create_app(config: WebServiceConfig | None = None, methods: dict[str, Method] | None = None) -> FastAPI:
    config = config or WebServiceConfig()
    methods = methods if methods is not None else default_methods(config.gatys_weights)
    manager = JobManager(config, methods)
    registry = Registry(config, methods)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # Decoding uploads is CPU work in threads; a few at a time keeps the event loop (and so
        # /api/health and the progress streams) responsive during a burst of submissions.
        app.state.decoding = anyio.CapacityLimiter(DECODE_SLOTS)
        await run_in_threadpool(manager.start)
        try:
            yield
        finally:
            await run_in_threadpool(manager.stop)

    app = FastAPIOffline(
        title="brushwork",
        version=__version__,
        lifespan=lifespan,
        description="Paint photos in the style of a painting. Submit a job with `POST /api/jobs`, follow it "
        "with `GET /api/jobs/{id}/events` (Server-Sent Events) or by polling `GET /api/jobs/{id}`, then "
        "fetch `GET /api/jobs/{id}/result`.",
    )
    app.state.config = config
    app.state.manager = manager
    app.state.registry = registry
    app.add_middleware(BodyLimitMiddleware, limit=2 * config.max_upload_bytes + 2**20)
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    def job_or_404(job_id: str) -> Job:
        job = manager.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job (it may have been cleaned up)")
        return job

    # --- the page -----------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # --- catalogue ----------------------------------------------------------------------------
    @app.get("/api/health", tags=["service"], summary="Liveness and queue state")
    async def health() -> dict:
        return {"status": "ok", "version": __version__, "lanes": manager.stats()}

    @app.get("/api/methods", tags=["catalogue"], summary="Painting methods, their options and limits")
    async def list_methods() -> dict:
        items = []
        for method in methods.values():
            reason = method.unavailable_reason()
            defaults = method.defaults
            items.append(
                {
                    "name": method.name,
                    "title": method.title,
                    "available": reason is None,
                    "reason": reason,
                    "defaults": defaults.to_dict(),
                    "seconds_per_iteration_per_megapixel": manager.speed.get(method.name),
                    "limits": {
                        "size": [32, config.max_size],
                        "iterations": [1, config.max_iterations],
                        "style_weight": [0, 10000],
                        "content_weight": [0, 10000],
                    },
                }
            )
        return {
            "methods": items,
            "max_upload_mb": config.max_upload_mb,
            "max_megapixels": config.max_pixels / 1e6,
        }

    @app.get("/api/styles", tags=["catalogue"], summary="Styles: bundled paintings and fast models")
    async def list_styles() -> dict:
        return {
            "styles": [
                {
                    "id": s.id,
                    "title": s.title,
                    "credit": s.credit,
                    "methods": list(s.methods),
                    "thumbnail": f"/api/styles/{s.id}/thumbnail",
                }
                for s in registry.styles.values()
            ]
        }

    @app.get("/api/samples", tags=["catalogue"], summary="Sample photos to try without uploading")
    async def list_samples() -> dict:
        return {
            "samples": [
                {
                    "id": s.id,
                    "title": s.title,
                    "credit": s.credit,
                    "thumbnail": f"/api/samples/{s.id}/thumbnail",
                    "image": f"/api/samples/{s.id}/image",
                }
                for s in registry.samples.values()
            ]
        }

    async def thumbnail(kind: str, item_id: str) -> Response:
        data = await run_in_threadpool(registry.thumbnail, kind, item_id)
        if data is None:
            raise HTTPException(404, f"no such {kind}")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})

    @app.get(
        "/api/styles/{style_id}/thumbnail",
        tags=["catalogue"],
        summary="A style's square thumbnail",
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    async def style_thumbnail(style_id: str) -> Response:
        return await thumbnail("style", style_id)

    @app.get(
        "/api/samples/{sample_id}/thumbnail",
        tags=["catalogue"],
        summary="A sample's square thumbnail",
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    async def sample_thumbnail(sample_id: str) -> Response:
        return await thumbnail("sample", sample_id)

    @app.get(
        "/api/samples/{sample_id}/image",
        tags=["catalogue"],
        summary="A sample photo itself",
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    async def sample_image(sample_id: str) -> FileResponse:
        sample = registry.samples.get(sample_id)
        if sample is None:
            raise HTTPException(404, "no such sample")
        return FileResponse(
            sample.path, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"}
        )

    # --- jobs ---------------------------------------------------------------------------------
    @app.post(
        "/api/jobs",
        tags=["jobs"],
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
        photo: Annotated[UploadFile | None, File(description="the photo (any common image format)")] = None,
        sample: Annotated[str | None, Form(description="or: a sample photo id from /api/samples")] = None,
        style: Annotated[str | None, Form(description="a style id from /api/styles")] = None,
        painting: Annotated[
            UploadFile | None, File(description="or: a painting to take the style from")
        ] = None,
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
        options = _options(chosen, config, size, iterations, style_weight, content_weight, preserve_colors)
        if (photo is None) == (sample is None):
            raise HTTPException(422, "send either a photo file or a sample id (exactly one of them)")
        if (style is None) == (painting is None):
            raise HTTPException(422, "send either a style id or a painting file (exactly one of them)")
        if sample is not None and sample not in registry.samples:
            raise HTTPException(404, "no such sample photo; see /api/samples")
        if style is not None and style not in registry.styles:
            raise HTTPException(404, "no such style; see /api/styles")
        entry = registry.styles.get(style) if style else None
        if entry is not None and method not in entry.methods:
            hint = "the quality (gatys) method" if "gatys" in entry.methods else "the fast method"
            raise HTTPException(422, f"style {entry.title!r} cannot be painted with {method}; use {hint}")
        if painting is not None and method == "fast":
            raise HTTPException(
                422,
                "fast models are trained for one painting each; an uploaded painting "
                "needs the quality (gatys) method",
            )
        if not manager.has_room(method):  # say so before spending time on the uploads
            raise HTTPException(429, manager.busy_message(method), headers={"Retry-After": "30"})
        photo_bytes = await read_limited(photo, config.max_upload_bytes, "photo") if photo else None
        painting_bytes = (
            await read_limited(painting, config.max_upload_bytes, "painting") if painting else None
        )

        def prepare() -> Job:
            if photo_bytes is not None:
                picture = decode_upload(photo_bytes, "photo", config.max_pixels)
            else:
                picture = open_image(registry.samples[sample].path)
            picture = resize_longest(picture, options.size)
            if painting_bytes is not None:
                art = resize_longest(
                    decode_upload(painting_bytes, "painting", config.max_pixels), PAINTING_STORE_SIZE
                )
                style_input, style_id, title = StyleInput(painting=art), "upload", "your painting"
            else:
                art = open_image(entry.painting) if entry.painting and method == "gatys" else None
                style_input = StyleInput(
                    painting=art, fast_model=entry.fast_model if method == "fast" else None
                )
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
        return JSONResponse(
            _job_view(job, manager), status_code=status, headers={"Location": f"/api/jobs/{job.id}"}
        )

    @app.get("/api/jobs/{job_id}", tags=["jobs"], summary="A job's state and progress")
    async def get_job(job_id: str) -> dict:
        return _job_view(job_or_404(job_id), manager)

    @app.get(
        "/api/jobs/{job_id}/events",
        tags=["jobs"],
        summary="Progress as Server-Sent Events",
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        job = job_or_404(job_id)

        async def stream():
            seen, quiet = -1, 0.0
            yield "retry: 2000\n\n"
            while True:
                if job.version != seen:
                    seen, quiet = job.version, 0.0
                    yield f"event: job\ndata: {json.dumps(_job_view(job, manager))}\n\n"
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

    def job_file(job_id: str, kind: str, media: str, headers: dict | None = None) -> FileResponse:
        job = job_or_404(job_id)
        path = manager.file(job.id, kind)
        if path is None:
            raise HTTPException(404, f"this job has no {kind} image yet")
        return FileResponse(path, media_type=media, headers={"Cache-Control": "no-store", **(headers or {})})

    @app.get(
        "/api/jobs/{job_id}/result",
        tags=["jobs"],
        summary="The result PNG",
        responses={200: {"content": {"image/png": {}}}, 409: {"description": "not finished"}},
    )
    async def job_result(job_id: str, download: bool = False) -> FileResponse:
        job = job_or_404(job_id)
        if job.status != "done":
            why = f"it {job.status}: {job.error}" if job.status in TERMINAL else f"it is {job.status}"
            raise HTTPException(409, f"this job has no result; {why}")
        headers = {}
        if download:
            headers["Content-Disposition"] = f'attachment; filename="brushwork-{job.style}-{job.id[:8]}.png"'
        return job_file(job.id, "result", "image/png", headers)

    @app.get(
        "/api/jobs/{job_id}/preview",
        tags=["jobs"],
        summary="The latest preview (Gatys)",
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    async def job_preview(job_id: str) -> FileResponse:
        return job_file(job_id, "preview", "image/jpeg")

    @app.get(
        "/api/jobs/{job_id}/photo",
        tags=["jobs"],
        summary="The photo as the job uses it (for before/after)",
        responses={200: {"content": {"image/png": {}}}},
    )
    async def job_photo(job_id: str) -> FileResponse:
        return job_file(job_id, "photo", "image/png")

    @app.post("/api/jobs/{job_id}/cancel", tags=["jobs"], summary="Cancel a queued or running job")
    async def cancel_job(job_id: str) -> dict:
        job = job_or_404(job_id)
        if job.status in TERMINAL:
            raise HTTPException(409, f"this job has already finished ({job.status})")
        await run_in_threadpool(manager.cancel, job)
        return _job_view(job, manager)

    return app
