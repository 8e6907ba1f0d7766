"""What the routes need from the app, as FastAPI dependencies: ``create_app`` puts each on ``app.state``
once, and a route asks for it by type (``manager: Manager``), so routes hold no globals and every app
(tests build many) has its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from brushwork.config import WebServiceConfig
from brushwork.web.jobs import Job, JobManager
from brushwork.web.methods import JobMethod
from brushwork.web.security import OWNER_COOKIE, OWNER_HEADER, is_loopback, owns
from brushwork.web.styles import Registry


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
    job = manager.get(job_id)
    if job is None:
        raise HTTPException(404, "no such job (it may have been cleaned up)")
    return job


JobInPath = Annotated[Job, Depends(get_job)]


def browser_token(request: Request) -> str | None:
    """The token a browser got with its first submission (``web.security``): cookie or header."""
    return request.headers.get(OWNER_HEADER) or request.cookies.get(OWNER_COOKIE)


def get_owned_job(job: JobInPath, request: Request, config: Config) -> Job:
    """The job in the path, when this browser submitted it (only checked when the server is exposed:
    ``--host`` beyond loopback); 403 otherwise."""
    if not is_loopback(config.host) and not owns(job.owner, browser_token(request)):
        raise HTTPException(403, "this job was submitted from another browser; its photo, result and cancel "
                            "are that browser's")
    return job


OwnedJob = Annotated[Job, Depends(get_owned_job)]
