"""The page's history strip: the finished paintings this browser made, newest first, and deleting one.

The server keeps them (the job store, ``web.jobs``): a reload or another tab of the same browser sees the
same list, bounded by ``history_size`` entries and, as every job, by ``max_age_hours`` and
``max_data_mb``. On an exposed server (``--host`` beyond loopback) a browser sees and deletes only its
own jobs (the owner token of ``web.security``); on loopback the one user sees all of them.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from brushwork.web.deps import Config, Manager, OwnedJob, browser_token
from brushwork.web.routes.jobs import job_view
from brushwork.web.schemas import History, errors
from brushwork.web.security import is_loopback, owns

router = APIRouter(prefix="/api", tags=["history"])


@router.get(
    "/history",
    summary="Finished paintings of this browser, newest first",
    operation_id="list_history",
    response_model=History,
    response_model_exclude_unset=True,
)
async def list_history(request: Request, manager: Manager, config: Config) -> History:
    loopback, token = is_loopback(config.host), browser_token(request)
    with manager.lock:
        jobs = list(manager.jobs.values())
    mine = [job for job in jobs if job.status == "done" and (loopback or owns(job.owner, token))]
    mine.sort(key=lambda job: job.finished or job.created, reverse=True)
    return History(jobs=[job_view(job, manager) for job in mine[: config.history_size]],
                   limit=config.history_size, max_age_hours=config.max_age_hours)


@router.delete(
    "/jobs/{job_id}",
    summary="Delete a finished job: its result, photo and record",
    operation_id="delete_job",
    status_code=204,
    responses={204: {"description": "deleted"}, **errors(403, 404, 409)},
)
async def delete_job(job: OwnedJob, manager: Manager) -> Response:
    if not manager.delete(job):
        raise HTTPException(409, f"this job is {job.status}; cancel it first, then delete it")
    return Response(status_code=204)
