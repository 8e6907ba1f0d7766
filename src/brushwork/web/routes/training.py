"""Training jobs: "Make a model of this painting" (``web.training``): submit one from an uploaded or a
gallery painting and a name, follow it by polling or Server-Sent Events (the painting jobs' stream: a
version counter, woken by the trainer's ``changes``), cancel it. Every refusal is one line: a painting
that is not an image (415), corrupt (400) or too small (422), a missing name (422), a server without
enough training photos (409: not possible in the server's state; a 5xx would say the server failed), a
full queue (429) or disk (507)."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from PIL import Image
from starlette.concurrency import run_in_threadpool

from brushwork.errors import ImageError
from brushwork.fast.inference import MIN_PAINTING_SIDE
from brushwork.images import MIN_SIDE, check_side, open_image, resize_longest
from brushwork.web.deps import (
    Config,
    Gallery,
    browser_token,
    cancel_unfinished,
    check_owner,
    found,
    queue_in_thread,
)
from brushwork.web.routes.jobs import progress_stream
from brushwork.web.schemas import errors
from brushwork.web.security import is_loopback, token_hash
from brushwork.web.submission import PAINTING_STORE_SIZE
from brushwork.web.training import TrainingJob, TrainingManager
from brushwork.web.uploads import decode_upload, read_limited

#: Longest name a user may give a model (its gallery title).
MAX_NAME = 60

router = APIRouter(prefix="/api/training", tags=["training"])


def get_training(request: Request) -> TrainingManager:
    return request.app.state.training


Trainer = Annotated[TrainingManager, Depends(get_training)]


def get_training_job(job_id: str, trainer: Trainer) -> TrainingJob:
    return found(trainer.get(job_id), "no such training job")


TrainingInPath = Annotated[TrainingJob, Depends(get_training_job)]


def view(job: TrainingJob, trainer: TrainingManager) -> dict:
    """A training job as the API shows it; ``style`` (the gallery entry) once its model is made."""
    base = f"/api/training/{job.id}"
    percent = 100.0 if job.status == "done" else (100.0 * job.step / job.total if job.total else 0.0)
    style = trainer.registry.styles.get(job.name) if job.status == "done" else None
    return {
        "id": job.id,
        "status": job.status,
        "name": job.name,
        "title": job.title,
        "source": job.source,
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
        "error": job.error,
        "note": job.note,
        "progress": {
            "step": job.step,
            "total": job.total,
            "percent": round(percent, 1),
            "losses": {k: v for k, v in job.losses.items() if math.isfinite(v)},
            "eta_seconds": None if job.status != "running" or job.eta is None else round(job.eta, 1),
        },
        # Against Fast (the arbitrary network) on held-out photos: style_x < 1 paints more of the painting.
        "validation": {
            "step": job.validated_at,
            **{k.removeprefix("val_"): v for k, v in job.validation.items() if math.isfinite(v)},
        } if job.validation else None,
        "better_from": job.better_from,
        "resumed_from": job.resumed_from,
        "queue_position": trainer.queue_position(job) if job.status == "queued" else None,
        "style": {
            "id": style.id, "title": style.title, "credit": style.credit, "methods": list(style.methods),
            "painting": style.painting is not None, "thumbnail": f"/api/styles/{style.id}/thumbnail",
        } if style else None,
        "urls": {"self": base, "events": f"{base}/events", "cancel": f"{base}/cancel"},
    }


@router.get("", summary="Whether this server can make a model, the steps a job takes, and its jobs")
async def list_training(trainer: Trainer) -> dict:
    reason = await run_in_threadpool(trainer.unavailable_reason)
    jobs = sorted(trainer.jobs.values(), key=lambda j: j.created, reverse=True)
    return {"available": reason is None, "reason": reason, "steps": trainer.train_config.steps
            or trainer.train_config.default_steps, "jobs": [view(j, trainer) for j in jobs]}


@router.post(
    "",
    status_code=202,
    summary="Make a model of a painting (an upload or a gallery style) under a name; runs in the background",
    response_model=None,
    responses=errors(400, 404, 408, 409, 413, 415, 422, 429, 507),
)
async def submit_training(
    request: Request,
    config: Config,
    trainer: Trainer,
    registry: Gallery,
    name: Annotated[str, Form(description="the model's name: its title in the gallery")],
    painting: Annotated[UploadFile | None, File(description="the painting to learn")] = None,
    style: Annotated[str | None, Form(description="or: a gallery style id with a painting")] = None,
) -> JSONResponse:
    title = name.strip()
    if not title:
        raise HTTPException(422, "name: give the model a name")
    if len(title) > MAX_NAME:
        raise HTTPException(422, f"name: at most {MAX_NAME} characters")
    if (painting is None) == (style is None or not style.strip()):
        raise HTTPException(422, "give a painting (an upload) or a style (a gallery id), not both")
    entry = None
    if painting is None:
        entry = registry.styles.get(style.strip())
        if entry is None:
            raise HTTPException(404, f"no style {style.strip()[:64]!r} in the gallery")
        if entry.painting is None:
            raise HTTPException(422, f"{entry.title} has no painting on this server to learn from")
    reason = await run_in_threadpool(trainer.unavailable_reason)
    if reason:
        raise HTTPException(409, reason)
    if not trainer.lane.has_room():
        raise HTTPException(429, "the server is busy with training jobs; please try again later",
                            headers={"Retry-After": "60"})
    data = await read_limited(painting, config.max_upload_bytes, "painting") if painting else None
    need = trainer.train_config.style_size or trainer.train_config.image_size

    def prepare() -> TrainingJob:
        if data is not None:
            art = decode_upload(data, "painting", config.max_pixels, reduce_to=PAINTING_STORE_SIZE)
        else:
            art = open_image(entry.painting)
        check_painting(art, need)
        source = entry.id if entry else "upload"
        art = resize_longest(art, PAINTING_STORE_SIZE)
        return trainer.submit(art, title, source, _owner(request, config))

    job = await queue_in_thread(request, prepare, retry_after_full=60)
    return JSONResponse(view(job, trainer), status_code=202, headers={"Location": f"/api/training/{job.id}"})


def check_painting(art: Image.Image, size: int) -> None:
    """train's rules for a painting (``fast.train.Training``), as a 422 before anything is stored."""
    if min(art.size) < MIN_PAINTING_SIDE:
        raise HTTPException(422, f"the painting is {art.width}x{art.height} pixels, too small to show a "
                            f"style; please use one at least {MIN_PAINTING_SIDE} px on each side")
    try:
        check_side(art, "the painting", size, MIN_SIDE, what="size")
    except ImageError as exc:
        raise HTTPException(422, str(exc)) from None


def _owner(request: Request, config) -> str | None:
    """Exposed servers: the submitting browser's token hash (its cancel is that browser's)."""
    if is_loopback(config.host):
        return None
    token = browser_token(request)
    return token_hash(token) if token else None


@router.get("/{job_id}", summary="A training job's state, progress and validation figures",
            responses=errors(404))
async def get_training_job_view(job: TrainingInPath, trainer: Trainer) -> dict:
    return view(job, trainer)


@router.get("/{job_id}/events", summary="A training job's progress as Server-Sent Events",
            responses={200: {"content": {"text/event-stream": {}}}, **errors(404)})
async def training_events(job: TrainingInPath, trainer: Trainer, request: Request) -> StreamingResponse:
    return progress_stream(request, job, "training", lambda: view(job, trainer), trainer.changes)


@router.post("/{job_id}/cancel", summary="Cancel a queued or running training job",
             responses=errors(403, 404, 409))
async def cancel_training(job: TrainingInPath, trainer: Trainer, request: Request, config: Config) -> dict:
    check_owner(job.owner, request, config, "this training job was submitted from another browser")
    await cancel_unfinished(job, trainer.cancel, "training job")
    return view(job, trainer)
