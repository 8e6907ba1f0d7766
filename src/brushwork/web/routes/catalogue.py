"""What the app offers: health, methods and their limits, styles, sample photos, thumbnails."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from brushwork import __version__
from brushwork.config import RegionConfig
from brushwork.web.deps import Config, Gallery, Manager, Methods
from brushwork.web.methods import MIN_SIZE, UNIT_LIMITS, WEIGHT_LIMITS, largest_size
from brushwork.web.schemas import Health, errors
from brushwork.web.styles import Registry
from brushwork.web.submission import method_defaults

#: The sizes the page offers a Gatys plan for (its slider's step).
PLAN_SIZE_STEP = 32
IMAGE_CACHE = {"Cache-Control": "public, max-age=3600"}
JPEG = {200: {"content": {"image/jpeg": {}}}, **errors(404)}

router = APIRouter(prefix="/api")


@router.get("/health", tags=["service"], summary="Liveness, workers, free space and queue state",
            response_model=None, responses={200: {"model": Health}, 503: {"model": Health,
                                            "description": "unhealthy: see problem"}})
async def health(manager: Manager) -> JSONResponse:
    """503 when the data folder takes no file (probed with a page of data, every 2 s at most) or a
    worker thread is not running (the supervisor restarts it within a second)."""
    state = await run_in_threadpool(manager.health)
    lanes = manager.stats()
    for name, lane in manager.lanes.items():
        lanes[name]["workers"] = sum(t.is_alive() for t in lane.threads)
    ok = state["writable"] and state["workers_alive"] == state["workers"]
    body = {"status": "ok" if ok else "unhealthy", "version": __version__, "lanes": lanes,
            "workers_alive": state["workers_alive"], "workers": state["workers"],
            "restarts": state["restarts"],
            "disk": {"free_bytes": state["free_bytes"], "writable": state["writable"]},
            "problem": None if ok else state["problem"]}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/methods", tags=["catalogue"], summary="Painting methods, their options and limits")
async def list_methods(methods: Methods, manager: Manager, config: Config) -> dict:
    items = []
    for method in methods.values():
        reason = method.unavailable_reason()
        items.append(
            {
                "name": method.name,
                "title": method.title,
                "summary": method.summary,
                "takes": method.takes,
                "options": list(method.options),
                "video": getattr(method, "video", False),
                "regions": getattr(method, "regions", False),
                "available": reason is None,
                "reason": reason,
                "defaults": method_defaults(method, config).to_dict(),
                "seconds_per_iteration_per_megapixel": manager.speed.get(method.name),
                # Gatys: the command line's schedule for each size the page offers ((side, most steps)
                # per scale, smallest first), for its time estimate and its "auto" label.
                "plans": {
                    str(size): method.plan(dataclasses.replace(method.defaults, size=size))
                    for size in range(PLAN_SIZE_STEP, config.max_size + 1, PLAN_SIZE_STEP)
                } if hasattr(method, "plan") else None,
                "limits": {
                    "size": [MIN_SIZE, largest_size(method, config)],
                    "iterations": [1, config.max_iterations],
                    "style_weight": list(WEIGHT_LIMITS),
                    "content_weight": list(WEIGHT_LIMITS),
                    "strength": list(UNIT_LIMITS),
                    "second_weight": list(UNIT_LIMITS),
                },
            }
        )
    return {
        "methods": items,
        "max_upload_mb": config.max_upload_mb,
        "max_megapixels": config.max_pixels / 1e6,
        "video_limits": {
            "mb": config.max_video_bytes / 2**20,
            "seconds": config.max_video_seconds,
            "frames": config.max_video_frames,
            "pixels": config.max_video_pixels,
        },
        # The region editor's starting values: the command line's (RegionConfig).
        "regions": {"feather": RegionConfig.feather, "refine_edges": RegionConfig.refine_edges},
    }


@router.get("/styles", tags=["catalogue"], summary="Styles: paintings and trained models, with their methods")
async def list_styles(registry: Gallery) -> dict:
    return {
        "styles": [
            {
                "id": s.id,
                "title": s.title,
                "credit": s.credit,
                "methods": list(s.methods),
                "painting": s.painting is not None,  # a region may take it (POST /api/jobs region=)
                "thumbnail": f"/api/styles/{s.id}/thumbnail",
            }
            for s in registry.styles.values()
        ]
    }


@router.get("/samples", tags=["catalogue"], summary="Sample photos to try without uploading")
async def list_samples(registry: Gallery) -> dict:
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


async def _thumbnail(registry: Registry, kind: str, item_id: str) -> Response:
    data = await run_in_threadpool(registry.thumbnail, kind, item_id)
    if data is None:
        raise HTTPException(404, f"no such {kind}")
    return Response(data, media_type="image/jpeg", headers=IMAGE_CACHE)


@router.get("/styles/{style_id}/thumbnail", tags=["catalogue"], summary="A style's square thumbnail",
            responses=JPEG)
async def style_thumbnail(style_id: str, registry: Gallery) -> Response:
    return await _thumbnail(registry, "style", style_id)


@router.get("/samples/{sample_id}/thumbnail", tags=["catalogue"], summary="A sample's square thumbnail",
            responses=JPEG)
async def sample_thumbnail(sample_id: str, registry: Gallery) -> Response:
    return await _thumbnail(registry, "sample", sample_id)


@router.get("/samples/{sample_id}/image", tags=["catalogue"], summary="A sample photo itself",
            responses=JPEG)
async def sample_image(sample_id: str, registry: Gallery) -> FileResponse:
    sample = registry.samples.get(sample_id)
    if sample is None:
        raise HTTPException(404, "no such sample")
    return FileResponse(sample.path, media_type="image/jpeg", headers=IMAGE_CACHE)
