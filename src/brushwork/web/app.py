"""The FastAPI app: JSON/multipart API under /api, the page at /, API docs at /docs.

``create_app(config, methods)`` wires a self-contained app (tests build many): it puts the
config, the methods, the job manager and the gallery on ``app.state`` (routes reach them through
``brushwork.web.deps``), includes the routers of ``brushwork.web.routes`` and adds the middleware.
The job pools start and stop with the app's lifespan.
"""

from __future__ import annotations

import contextlib
import re
import threading

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from brushwork import __version__
from brushwork.config import TrainConfig, WebServiceConfig
from brushwork.web.jobs import JobManager
from brushwork.web.live import IsolationMiddleware
from brushwork.web.methods import JobMethod, default_methods
from brushwork.web.routes import catalogue, history, jobs, live, pages, regions, training
from brushwork.web.schemas import Problem, tune_openapi
from brushwork.web.security import GuardMiddleware
from brushwork.web.styles import Registry
from brushwork.web.training import TrainingManager, model_method, trained_styles
from brushwork.web.uploads import BodyLimitMiddleware

#: Uploads decoded at once (CPU work in threads); a few keep the event loop, and so /api/health and
#: the progress streams, responsive during a burst of submissions.
DECODE_SLOTS = 4
DESCRIPTION = (
    "Paint photos in the style of a painting. Submit a job with `POST /api/jobs`, follow it with "
    "`GET /api/jobs/{id}/events` (Server-Sent Events) or by polling `GET /api/jobs/{id}`, then fetch "
    "`GET /api/jobs/{id}/result`. Methods (`GET /api/methods`): `arbitrary` "
    "(`fast` before: still accepted, with a `Deprecation` header), "
    "any painting in about a second "
    "(with `strength` and an optional second painting to blend); `model`, a style's trained model; "
    "`gatys`, quality optimisation in minutes. The photo may be a short video (MP4, MOV, MKV, WebM, AVI) "
    "for `arbitrary` and `model`: progress counts frames and the result is an MP4 with the audio kept."
)


def _validation_message(exc: RequestValidationError) -> str:
    """Pydantic's error list as one readable line: 'size: Input should be a valid integer'."""
    parts = []
    for error in exc.errors():
        if error.get("type") == "value_error":  # a form model's own rule: its sentence names the field
            parts.append(str(error.get("ctx", {}).get("error", error.get("msg", "invalid"))))
            continue
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "form"))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": _validation_message(exc)}, status_code=422)


async def _not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """405 with every documented method of the path in ``Allow``: GET and DELETE /api/jobs/{id} are two
    routes, and the router names only the first one's."""
    path = request.scope["path"]
    allowed = sorted({
        method.upper()
        for template, operations in request.app.openapi().get("paths", {}).items()
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path)
        for method in operations
    })
    headers = {"Allow": ", ".join(allowed)} if allowed else dict(getattr(exc, "headers", None) or {})
    return JSONResponse({"detail": "Method Not Allowed"}, status_code=405, headers=headers)


def create_app(config: WebServiceConfig | None = None, methods: dict[str, JobMethod] | None = None,
               train_config: TrainConfig | None = None) -> FastAPI:
    """The app; ``train_config``: the settings of the page's training jobs (default: train's own)."""
    config = config or WebServiceConfig()
    methods = methods if methods is not None else default_methods(config.gatys_weights)
    manager = JobManager(config, methods)
    # The models the page trained before this start: offered by the model method, each its own card.
    painter, trained = model_method(methods), trained_styles(config)
    for model, _ in trained if painter is not None else ():
        painter.add(model)
    registry = Registry(config, methods, [style for _, style in trained] if painter is not None else ())
    trainer = TrainingManager(config, methods, registry, train_config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.decoding = anyio.CapacityLimiter(DECODE_SLOTS)
        await run_in_threadpool(manager.start)
        await run_in_threadpool(trainer.start)
        try:
            yield
        finally:
            await run_in_threadpool(trainer.stop)  # a running job checkpoints its step (resumed on start)
            await run_in_threadpool(manager.stop)

    app = FastAPIOffline(
        title="brushwork",
        version=__version__,
        lifespan=lifespan,
        description=DESCRIPTION,
        separate_input_output_schemas=False,  # documented answers need not carry their defaults
        responses={422: {"model": Problem, "description": "a field missing or of the wrong type"}},
    )
    app.state.config = config
    app.state.stopping = threading.Event()  # set by web.server.Server on shutdown: long answers end
    app.state.methods = methods
    app.state.manager = manager
    app.state.registry = registry
    app.state.training = trainer
    _add_middleware(app, config)
    _add_routes(app)
    _tune_openapi(app, config, methods)
    return app


def _add_middleware(app: FastAPI, config: WebServiceConfig) -> None:
    app.add_middleware(
        BodyLimitMiddleware,
        limit=config.max_upload_bytes + max(config.max_upload_bytes, config.max_video_bytes) + 2**20,
        timeout=config.body_timeout,
    )
    app.add_middleware(IsolationMiddleware)  # COOP/COEP: WebAssembly threads for the Live mode
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )
    # Outermost: a foreign Host or a cross-site state change is refused before a body is read.
    app.add_middleware(GuardMiddleware, config=config, page_headers=pages.PAGE_HEADERS)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(405, _not_allowed)


def _add_routes(app: FastAPI) -> None:
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    app.include_router(catalogue.router)
    app.include_router(jobs.router)
    app.include_router(history.router)
    app.include_router(live.router)
    app.include_router(regions.router)
    app.include_router(training.router)


def _tune_openapi(app: FastAPI, config: WebServiceConfig, methods: dict[str, JobMethod]) -> None:
    generated = app.openapi

    def openapi() -> dict:
        """FastAPI's schema, tuned once to what this server accepts (see schemas.tune_openapi)."""
        if not getattr(app.state, "openapi_tuned", False):
            rules = jobs.form_rules(config, methods, app.state.registry)
            app.openapi_schema = tune_openapi(generated(), rules, jobs.form_examples(app.state.registry))
            app.state.openapi_tuned = True
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
