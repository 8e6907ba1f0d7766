"""What the routes need from the app, as FastAPI dependencies: ``create_app`` puts each on ``app.state``
once, and a route asks for it by type (``manager: Manager``), so routes hold no globals and every app
(tests build many) has its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import anyio.to_thread
from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from brushwork.config import WebServiceConfig
from brushwork.errors import DiskFullError
from brushwork.web.jobs import TERMINAL, Job, JobManager, QueueFull
from brushwork.web.methods import JobMethod
from brushwork.web.security import OWNER_COOKIE, OWNER_HEADER, is_loopback, owns
from brushwork.web.styles import Registry

T = TypeVar("T")


def get_config(request: Request) -> WebServiceConfig:
    return request.app.state.config


def get_manager(request: Request) -> JobManager:
    return request.app.state.manager


def get_registry(request: Request) -> Registry:
    return request.app.state.registry


def get_methods(request: Request) -> dict[str, JobMethod]:
    return request.app.state.methods


Config = Annotated[WebServiceConfig, Depends(get_config)]
Manager = Annotated[JobManager, Depends(get_manager)]
Gallery = Annotated[Registry, Depends(get_registry)]
Methods = Annotated[dict[str, JobMethod], Depends(get_methods)]


def get_job(job_id: str, manager: Manager) -> Job:
    """The job named in the path, or 404 (also for ids that are not 32 hex digits)."""
    return found(manager.get(job_id), "no such job (it may have been cleaned up)")


JobInPath = Annotated[Job, Depends(get_job)]


def browser_token(request: Request) -> str | None:
    """The token a browser got with its first submission (``web.security``): cookie or header."""
    return request.headers.get(OWNER_HEADER) or request.cookies.get(OWNER_COOKIE)


def get_owned_job(job: JobInPath, request: Request, config: Config) -> Job:
    """The job in the path, when this browser submitted it (only checked when the server is exposed:
    ``--host`` beyond loopback); 403 otherwise."""
    check_owner(job.owner, request, config, "this job was submitted from another browser; its photo, "
                "result and cancel are that browser's")
    return job


OwnedJob = Annotated[Job, Depends(get_owned_job)]


# --- steps the painting and the training routes share -------------------------------------------
def found(value: T | None, message: str) -> T:
    """``value``, or 404 with ``message`` (an id in the path that names nothing)."""
    if value is None:
        raise HTTPException(404, message)
    return value


def check_owner(owner: str | None, request: Request, config: WebServiceConfig, message: str) -> None:
    """403 with ``message`` unless this browser submitted the job (checked on exposed servers only)."""
    if not is_loopback(config.host) and not owns(owner, browser_token(request)):
        raise HTTPException(403, message)


async def queue_in_thread(request: Request, prepare: Callable[[], T], retry_after_full: int) -> T:
    """``prepare()`` (decode, store and queue a job) in a worker thread under the app's decoding limit;
    a full queue answers 429 (retry after ``retry_after_full`` s), a full disk 507 (nothing is kept)."""
    try:
        return await anyio.to_thread.run_sync(prepare, limiter=request.app.state.decoding)
    except QueueFull as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(retry_after_full)}) from None
    except DiskFullError as exc:
        raise HTTPException(507, str(exc), headers={"Retry-After": "60"}) from None


async def cancel_unfinished(job, cancel: Callable[[object], None], what: str) -> None:
    """``cancel(job)`` in a worker thread; 409 when ``job`` is already over."""
    if job.status in TERMINAL:
        raise HTTPException(409, f"this {what} has already finished ({job.status})")
    await run_in_threadpool(cancel, job)
