"""Jobs: submit one (a photo or sample, a style or an uploaded painting, optionally a second painting
to blend), follow it by polling or by Server-Sent Events, fetch its photo, preview and result, cancel it.

The photo may be a short video for the fast methods (``uploads.sniff_video`` holds it to the server's
limits): the job then counts frames as its progress, previews the latest painted frame and its
result is an MP4 (H.264, the audio kept).

Regions (a painting per part of a photo, as the command line's ``--mask``/``--regions auto``): a ``mask``
picture (each flat colour a region) or ``regions=auto`` (person / background), ``region`` settings
(``NAME=STYLE[:STRENGTH]``, ``NAME=default[:STRENGTH]``, ``NAME=none``) and ``feather``; all checked here
(``region_options``, ``check_mask``) before the job is queued."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import math
import time
from typing import Annotated, Literal

import anyio.to_thread
from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from PIL import Image
from starlette.concurrency import run_in_threadpool

from brushwork.config import MAX_REGIONS, NETWORKS, RegionConfig, WebServiceConfig
from brushwork.errors import ConfigError, DiskFullError, ImageError
from brushwork.images import MIN_PHOTO_SIDE, MIN_SIDE, check_side, open_image, resize_longest
from brushwork.web.deps import Config, Gallery, JobInPath, Manager, Methods, OwnedJob, browser_token
from brushwork.web.jobs import TERMINAL, Job, JobManager, QueueFull, disk_text
from brushwork.web.methods import (
    MIN_SIZE,
    REGION_DEFAULT,
    REGION_NONE,
    UNIT_LIMITS,
    WEIGHT_LIMITS,
    JobMethod,
    JobOptions,
    RegionOptions,
    StyleInput,
    largest_size,
    parse_region,
)
from brushwork.web.schemas import JobView, errors
from brushwork.web.security import OWNER_COOKIE, is_loopback, new_token, token_hash
from brushwork.web.styles import Registry, Style
from brushwork.web.uploads import VIDEO_LIST, VideoUpload, decode_upload, read_limited, sniff_video

#: Stored paintings are capped here: style images are resized to the output size anyway.
PAINTING_STORE_SIZE = 1024
#: Region settings one job may send: one per region of a mask at most (the engines' limit).
MAX_REGION_SETTINGS = MAX_REGIONS
#: How often a progress stream looks at its job's version (an int compare: cheap). 0.1 s missed every
#: frame of a short clip once the fast paths ran through onnxruntime (12 frames in under 0.1 s).
SSE_POLL_SECONDS = 0.02
INLINE_POLL_SECONDS = 0.02
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


def job_view(job: Job, manager: JobManager) -> dict:
    """A job as the API shows it: state, progress, queue position and the URLs that apply now."""
    base = f"/api/jobs/{job.id}"
    percent = 100.0 if job.status == "done" else (100.0 * job.iteration / job.total if job.total else 0.0)
    view = {
        "id": job.id,
        "status": job.status,
        "kind": job.kind,
        "method": job.method,
        "style": job.style,
        "style_title": job.style_title,
        "second_style": job.second_style,
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
            "eta_seconds": job.eta if job.status == "running" else None,
        },
        "note": job.note,
        "regions": job.regions,
        "warning": job.warning,
        "queue_position": manager.queue_position(job) if job.status == "queued" else None,
        "urls": {
            "self": base,
            "events": f"{base}/events",
            "photo": f"{base}/photo",
            "cancel": f"{base}/cancel",
        },
    }
    # The stored inputs a page needs to paint the job again (after a reload, a failure or a restart).
    if job.style == "upload":
        view["urls"]["painting"] = f"{base}/painting"
    if job.second_style == "upload":
        view["urls"]["second_painting"] = f"{base}/painting?second=true"
    if job.regions and job.regions.get("source") == "mask":
        view["urls"]["mask"] = f"{base}/mask"
    if job.preview:
        view["urls"]["preview"] = f"{base}/preview?v={job.preview}"
    if job.status == "done":
        view["urls"]["result"] = f"{base}/result"
        view["urls"]["download"] = f"{base}/result?download=true"
        if job.kind == "image":
            view["urls"]["download_jpeg"] = f"{base}/result?format=jpeg&download=true"
        view["width"], view["height"] = job.width, job.height
    return view


def job_options(
    method: JobMethod,
    config: WebServiceConfig,
    size: int | None,
    iterations: int | None,
    style_weight: float | None,
    content_weight: float | None,
    preserve_colors: bool,
    strength: float | None = None,
    second_weight: float | None = None,
    blends: bool = False,
    network: str | None = None,
) -> JobOptions:
    """Fill in the method's defaults and check each value against the server's limits.

    ``blends``: the job has a second painting (``second_weight`` is its share, 0.5 unless given).
    ``network``: the fast method's arbitrary-style network (``config.NETWORKS``; default: the method's)."""
    defaults = method.defaults
    if network is not None and "network" not in method.options:
        raise HTTPException(422, f"network is not an option of the {method.name} method")
    if network is not None and network not in NETWORKS:
        raise HTTPException(422, f"network must be one of {', '.join(NETWORKS)}, got {network[:40]!r}")
    if strength is not None and "strength" not in method.options:
        raise HTTPException(
            422, f"strength is not an option of the {method.name} method; its style strength is style_weight"
        )
    if second_weight is not None and not blends:
        raise HTTPException(422, "second_weight needs a second painting (second_style or second_painting)")
    options = JobOptions(
        size=defaults.size if size is None else size,
        iterations=defaults.iterations if iterations is None else iterations,
        style_weight=defaults.style_weight if style_weight is None else style_weight,
        content_weight=defaults.content_weight if content_weight is None else content_weight,
        preserve_colors=preserve_colors,
        strength=defaults.strength if strength is None else strength,
        second_weight=(0.5 if second_weight is None else second_weight) if blends else None,
        network=defaults.network if network is None else network,
    )
    largest = largest_size(method, config)
    if not MIN_SIZE <= options.size <= largest:
        raise HTTPException(
            422, f"size must be between {MIN_SIZE} and {largest} pixels for the {method.name} method, "
            f"got {options.size}"
        )
    if options.iterations is not None and not 1 <= options.iterations <= config.max_iterations:
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
    low, high = UNIT_LIMITS
    for name in ("strength", "second_weight"):
        value = getattr(options, name)
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            what = name.replace("_", " ")
            raise HTTPException(422, f"{what} must be between {low:g} and {high:g}, got {value}")
    return options


def _hint(names: tuple[str, ...]) -> str:
    return " or ".join(f"method={n}" for n in names) if names else "another style"


def check_choices(
    method: JobMethod,
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
    if entry is not None and method.name not in entry.methods:
        why = "it has no trained model" if method.takes == "model" else "no picture of its painting is here"
        raise HTTPException(
            422,
            f"style {entry.title!r} cannot be painted with method={method.name} ({why}); "
            f"use {_hint(entry.methods)}",
        )
    if has_painting and method.takes != "painting":
        raise HTTPException(
            422,
            "trained models are trained for one painting each; an uploaded painting needs "
            "method=fast (any painting, seconds) or method=gatys (quality, minutes)",
        )
    return entry


def check_second(
    method: JobMethod, registry: Registry, second_style: str | None, has_second_painting: bool
) -> Style | None:
    """At most one second painting, known and with a picture, for a method that blends; returns the
    gallery entry (None for an uploaded second painting or no second painting)."""
    if second_style is None and not has_second_painting:
        return None
    if second_style is not None and has_second_painting:
        raise HTTPException(422, "send a second style id or a second painting file, not both")
    if "second_painting" not in method.options:
        raise HTTPException(
            422, f"the {method.name} method cannot blend a second painting; method=fast can"
        )
    if second_style is None:
        return None
    entry = registry.styles.get(second_style)
    if entry is None:
        raise HTTPException(404, "no such second style; see /api/styles")
    if entry.painting is None:
        raise HTTPException(
            422, f"style {entry.title!r} has no picture of its painting here, so it cannot be blended"
        )
    return entry


def form_rules(
    config: WebServiceConfig, methods: dict[str, JobMethod], registry: Registry
) -> dict[str, dict]:
    """What ``POST /api/jobs`` accepts on this server, for its OpenAPI schema (schemas.tune_openapi):
    the ids of its gallery, samples and methods, and the ranges ``job_options`` checks."""
    low, high = WEIGHT_LIMITS
    return {
        "sample": {"enum": sorted(registry.samples)},
        "style": {"enum": sorted(registry.styles)},
        "second_style": {"enum": sorted(s.id for s in registry.styles.values() if s.painting is not None)},
        "method": {"enum": list(methods)},
        "size": {"minimum": MIN_SIZE, "maximum": max(largest_size(m, config) for m in methods.values())},
        "iterations": {"minimum": 1, "maximum": config.max_iterations},
        "style_weight": {"minimum": low, "maximum": high},
        "content_weight": {"minimum": low, "maximum": high},
    }


def form_examples(registry: Registry) -> dict[str, list[dict]]:
    """Forms that paint on this server (the OpenAPI examples; schemathesis starts from them)."""
    sample = next(iter(registry.samples), None)
    fit = {m: next((s for s in registry.styles.values() if m in s.methods), None) for m in ("fast", "gatys")}
    forms = [
        {"sample": sample, "style": style.id, "method": method, "size": 64, "iterations": 2}
        for method, style in fit.items()
        if sample and style
    ]
    for form in forms:
        if form["method"] != "gatys":
            del form["iterations"]
    return {"Body_submit_job": forms}


def region_options(
    method: JobMethod,
    registry: Registry,
    has_mask: bool,
    regions: str | None,
    region: list[str] | None,
    feather: float | None,
    blends: bool,
) -> tuple[RegionOptions | None, dict[int, Style]]:
    """A job's regions from its form, each value checked (422 in one line), and the gallery entry of each
    region setting that names a style (by its index); (None, {}) when the form asks for no regions."""
    region = [spec for spec in region or () if spec.strip()]
    if not (has_mask or regions or region or feather is not None):
        return None, {}
    if regions is not None and regions != "auto":
        raise HTTPException(422, f"regions must be auto (person / background), got {regions[:40]!r}")
    if has_mask and regions:
        raise HTTPException(422, "send a mask file or regions=auto, not both")
    if not (has_mask or regions):
        raise HTTPException(422, "region and feather need regions: send a mask file or regions=auto")
    if not getattr(method, "regions", False):
        raise HTTPException(422, f"the {method.name} method cannot paint regions")
    if len(region) > MAX_REGION_SETTINGS:
        raise HTTPException(422, f"at most {MAX_REGION_SETTINGS} region settings, got {len(region)}")
    entries: dict[int, Style] = {}
    seen: set[str] = set()
    for index, spec in enumerate(region):
        try:
            name, value, strength = parse_region(spec)
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None
        if name.lower() in seen:
            raise HTTPException(422, f"region {name[:40]} is given twice")
        seen.add(name.lower())
        if value == REGION_DEFAULT and strength is not None and blends:
            raise HTTPException(422, f"region {name[:40]}: the job's own blend of two paintings takes the "
                                "job's strength; leave the region's strength out")
        if value in (REGION_NONE, REGION_DEFAULT):
            continue
        entry = registry.styles.get(value)
        if entry is None:
            raise HTTPException(422, f"region {name[:40]}: no such style {value[:40]!r}; see /api/styles "
                                "(or use default or none)")
        if entry.painting is None:
            raise HTTPException(422, f"region {name[:40]}: style {entry.title!r} has no picture of its "
                                "painting here, so it cannot paint a region")
        entries[index] = entry
    options = RegionOptions("mask" if has_mask else "auto", tuple(region))
    if feather is not None:
        options = RegionOptions(options.source, options.region, feather)
    try:  # the engines' own rules (feather's range, ...)
        RegionConfig(regions="auto", feather=options.feather, refine_edges=options.refine_edges)
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    if options.source == "auto":
        from brushwork.regions import BACKGROUND, PERSON

        check_region_names(options, [PERSON, BACKGROUND], None, "regions=auto")
    return options, entries


def check_region_names(options: RegionOptions, names: list[str], keys: list[set[str]] | None,
                       source: str) -> None:
    """Every region a setting names exists (the command line's rule, ``regions.check_names``)."""
    from brushwork.regions import DEFAULT, check_names

    try:
        check_names({parse_region(spec)[0]: DEFAULT for spec in options.region}, (names, keys), source)
    except ConfigError as exc:
        raise HTTPException(422, str(exc).replace("--region ", "region ", 1)) from None


def check_mask(data: bytes, options: RegionOptions, config: WebServiceConfig) -> Image.Image:
    """An uploaded mask: an image (415/400/413 as every upload), of flat colours (422:
    ``regions.mask_labels``, the command line's rule) that has every region its settings name. Any size
    or shape: it is resized to the result (nearest neighbour), as ``--mask`` is."""
    from brushwork.regions import mask_labels

    mask = decode_upload(data, "mask", config.max_pixels)
    try:
        keys, _ = mask_labels(mask, mask.size, "the mask")
    except ImageError as exc:
        raise HTTPException(422, str(exc)) from None
    check_region_names(options, [k[0] for k in keys], [set(k) for k in keys], "the mask")
    return mask


def check_painting_size(art: Image.Image, what: str, minimum: int) -> None:
    """A method may need some pixels to read a style from (the any-painting network: as in the CLI)."""
    if min(art.size) < minimum:
        raise HTTPException(
            422,
            f"the {what} is {art.width}x{art.height} pixels, too small to show a style; "
            f"please use one at least {minimum} px on each side",
        )


def decode_photo(data: bytes, config: WebServiceConfig, size: int | None = None) -> Image.Image:
    """An uploaded photo that is no video: within the image upload limit, decoded (uploads.decode_upload);
    a JPEG larger than ``size`` (the job's output size) is decoded reduced, in draft mode."""
    if len(data) > config.max_upload_bytes:
        raise HTTPException(413, f"the photo is larger than the {config.max_upload_mb:g} MB upload limit")
    try:
        return decode_upload(data, "photo", config.max_pixels, reduce_to=size)
    except HTTPException as exc:
        if exc.status_code == 415 and "not an image" in str(exc.detail):
            raise HTTPException(415, f"{exc.detail}, nor a video ({VIDEO_LIST})") from None
        raise


def video_options(method: JobMethod, options: JobOptions, video: VideoUpload) -> JobOptions:
    """A video is painted by the fast methods only, and never larger than it is (``size`` is capped at
    its longest side: upscaling every frame costs time and adds nothing)."""
    if not getattr(method, "video", False):
        raise HTTPException(
            422,
            f"the {method.name} method paints photos only, not videos; use a fast method for a video "
            "(method=fast with any painting, or method=model)",
        )
    return dataclasses.replace(options, size=min(options.size, max(video.width, video.height)))


def check_photo_side(photo: Image.Image, size: int) -> None:
    """A photo needs ``MIN_PHOTO_SIDE`` px a side as sent (a 1x1 picture would be painted into a flat
    square), and, the command line's rule (``images.check_side``), ``MIN_SIDE`` px a side at the size it
    is painted at, or a thin strip (1x5000) fails inside the network as an internal error."""
    if min(photo.size) < MIN_PHOTO_SIDE:
        raise HTTPException(
            422,
            f"the photo is {photo.width}x{photo.height} pixels, too small to paint; "
            f"please use one at least {MIN_PHOTO_SIDE} px on each side",
        )
    try:
        check_side(photo, "the photo", size, MIN_SIDE, what="size")
    except ImageError as exc:
        raise HTTPException(422, str(exc)) from None


@router.post(
    "",
    status_code=202,
    summary="Submit a job (photo or sample, style name or uploaded painting, optional second painting)",
    operation_id="submit_job",
    response_model=None,
    responses={
        200: {"model": JobView, "description": "finished at once (the fast methods)", "links": JOB_LINKS},
        202: {"model": JobView, "description": "queued or running: follow it", "links": JOB_LINKS},
        **errors(400, 404, 408, 413, 415, 422, 429, 507),
    },
)
async def submit(
    request: Request,
    config: Config,
    manager: Manager,
    registry: Gallery,
    methods: Methods,
    photo: Annotated[
        UploadFile | None,
        File(
            description="the photo (any common image format), or a short video for fast and model "
            "(MP4, MOV, MKV, WebM, AVI; the result is then an MP4)"
        ),
    ] = None,
    sample: Annotated[str | None, Form(description="or: a sample photo id from /api/samples")] = None,
    style: Annotated[str | None, Form(description="a style id from /api/styles")] = None,
    painting: Annotated[UploadFile | None, File(description="or: a painting to take the style from")] = None,
    method: Annotated[
        str | None,
        Form(
            description="fast (any painting, about a second), model (a style's trained model) or gatys "
            "(quality, minutes); default: fast when available, else gatys"
        ),
    ] = None,
    size: Annotated[int | None, Form(description="longest side of the result in pixels")] = None,
    iterations: Annotated[int | None, Form(description="Gatys iterations")] = None,
    style_weight: Annotated[float | None, Form(description="Gatys style weight")] = None,
    content_weight: Annotated[float | None, Form(description="Gatys content weight")] = None,
    preserve_colors: Annotated[bool, Form(description="keep the photo's colours")] = False,
    strength: Annotated[
        float | None,
        Form(
            description="fast and model: 1 = fully painted (default); lower mixes in the photo's own "
            "style (fast) or fades to the photo (model)",
            json_schema_extra={"minimum": UNIT_LIMITS[0], "maximum": UNIT_LIMITS[1]},
        ),
    ] = None,
    second_style: Annotated[
        str | None, Form(description="fast only: a style id whose painting is blended with the first")
    ] = None,
    second_painting: Annotated[
        UploadFile | None, File(description="fast only: or a second painting file to blend with the first")
    ] = None,
    second_weight: Annotated[
        float | None,
        Form(
            description="fast only: the second painting's share of the blend (default 0.5)",
            json_schema_extra={"minimum": UNIT_LIMITS[0], "maximum": UNIT_LIMITS[1]},
        ),
    ] = None,
    network: Annotated[
        str | None,
        Form(description="fast only: the arbitrary-style network, brushwork or magenta (default: the "
             "server's, as the command line's --network)"),
    ] = None,
    mask: Annotated[
        UploadFile | None,
        File(description="regions: a mask picture (any size: resized to the result); each flat colour is a "
             "region, named by its grey level (0-255), basic colour (white, black, red, ...) or #rrggbb"),
    ] = None,
    regions: Annotated[
        str | None, Form(description="regions: auto = person and background, found on the server")
    ] = None,
    region: Annotated[
        list[str] | None,
        Form(description="a region's setting (repeat the field): NAME=STYLE[:STRENGTH] (a style id), "
             "NAME=default[:STRENGTH] (the job's own style) or NAME=none (left as the photo); regions not "
             "named get the job's own style"),
    ] = None,
    feather: Annotated[
        float | None,
        Form(description="regions: width in pixels of the soft edge between regions (default: the command "
             "line's --feather)"),
    ] = None,
) -> JSONResponse:
    if method is None:
        fast = methods.get("fast")
        method = "fast" if fast is not None and fast.unavailable_reason() is None else "gatys"
    chosen = methods.get(method)
    if chosen is None:
        raise HTTPException(422, f"unknown method {method[:40]!r}; choose from {', '.join(methods)}")
    reason = chosen.unavailable_reason()
    if reason:
        raise HTTPException(422, f"the {method} method is not available: {reason}")
    second_entry = check_second(chosen, registry, second_style, second_painting is not None)
    blends = second_style is not None or second_painting is not None
    options = job_options(
        chosen, config, size, iterations, style_weight, content_weight, preserve_colors,
        strength, second_weight, blends, network,
    )
    entry = check_choices(chosen, registry, photo is not None, sample, style, painting is not None)
    region_choice, region_entries = region_options(
        chosen, registry, mask is not None, regions, region, feather, blends
    )
    if not manager.has_room(method):  # say so before spending time on the uploads
        raise HTTPException(429, manager.busy_message(method), headers={"Retry-After": "30"})
    if manager.disk_full():  # no room for any upload: before reading them
        raise HTTPException(507, disk_text(), headers={"Retry-After": "60"})
    photo_limit = max(config.max_upload_bytes, config.max_video_bytes)  # a photo, or a video (prepare)
    photo_bytes = await read_limited(photo, photo_limit, "photo") if photo else None
    painting_bytes = await read_limited(painting, config.max_upload_bytes, "painting") if painting else None
    second_bytes = (
        await read_limited(second_painting, config.max_upload_bytes, "second painting")
        if second_painting
        else None
    )
    mask_bytes = await read_limited(mask, config.max_upload_bytes, "mask") if mask else None

    def load_painting(data: bytes | None, gallery: Style | None, what: str) -> Image.Image:
        if data is None:
            return open_image(gallery.painting)
        art = decode_upload(data, what, config.max_pixels, reduce_to=PAINTING_STORE_SIZE)
        check_painting_size(art, what, chosen.min_painting_side)
        return resize_longest(art, PAINTING_STORE_SIZE)

    def prepare() -> Job:
        """Decode, resize and store the inputs, then queue the job (in a worker thread)."""
        nonlocal options
        video = sniff_video(photo_bytes, config) if photo_bytes is not None else None
        if video is not None:
            options = video_options(chosen, options, video)
            picture = video.first_frame
        elif photo_bytes is not None:
            picture = decode_photo(photo_bytes, config, options.size)
        else:
            picture = open_image(registry.samples[sample].path)
        check_photo_side(picture, options.size)
        picture = resize_longest(picture, options.size)
        mask_picture, region_paintings = None, {}
        if region_choice is not None:
            if video is not None:
                raise HTTPException(422, "regions are for photos here, not videos (brushwork apply paints a "
                                    "video's regions)")
            if mask_bytes is not None:
                mask_picture = check_mask(mask_bytes, region_choice, config)
            region_paintings = {i: resize_longest(open_image(e.painting), PAINTING_STORE_SIZE)
                                for i, e in region_entries.items()}
        if painting_bytes is not None or chosen.takes == "painting":
            art = load_painting(painting_bytes, entry, "painting")
            style_id, title = (entry.id, entry.title) if entry else ("upload", "your painting")
            model_id = None
        else:
            art, style_id, title, model_id = None, entry.id, entry.title, entry.fast_model
        second, second_id = None, None
        if blends:
            second = load_painting(second_bytes, second_entry, "second painting")
            second_id = second_entry.id if second_entry else "upload"
            second_title = second_entry.title if second_entry else "your second painting"
            share = round(100 * options.second_weight)
            title = f"{title} ({100 - share} %) + {second_title} ({share} %)"
        style_input = StyleInput(painting=art, fast_model=model_id, second_painting=second)
        return manager.submit(
            method, style_id, title, style_input, picture, options, second_id,
            video=photo_bytes if video is not None else None, frames=video.frames if video else 0,
            owner=token_hash(token) if token else None,
            regions=region_choice, mask=mask_picture, region_paintings=region_paintings,
        )

    # Exposed servers: a job's files and cancel are the submitting browser's (web.security).
    token = None if is_loopback(config.host) else (browser_token(request) or new_token())

    try:
        job = await anyio.to_thread.run_sync(prepare, limiter=request.app.state.decoding)
    except QueueFull as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": "30"}) from None
    except DiskFullError as exc:  # the inputs did not fit: nothing of the job is left
        raise HTTPException(507, str(exc), headers={"Retry-After": "60"}) from None
    status = 202
    if chosen.lane == "fast" and config.fast_inline_wait > 0 and job.kind == "image":  # videos: follow them
        deadline = time.monotonic() + config.fast_inline_wait
        stopping = request.app.state.stopping
        while job.status not in TERMINAL and time.monotonic() < deadline and not stopping.is_set():
            await asyncio.sleep(INLINE_POLL_SECONDS)  # waits without holding a thread
        status = 200 if job.status in TERMINAL else 202
    location = {"Location": f"/api/jobs/{job.id}"}
    answer = JSONResponse(job_view(job, manager), status_code=status, headers=location)
    if token and request.cookies.get(OWNER_COOKIE) != token:
        answer.set_cookie(OWNER_COOKIE, token, max_age=int(config.max_age_hours * 3600), httponly=True,
                          samesite="strict", path="/api/jobs")
    return answer


@router.get(
    "/{job_id}",
    summary="A job's state and progress",
    operation_id="get_job",
    response_model=None,
    responses={200: {"model": JobView}, **errors(404)},
)
async def get_job(job: JobInPath, manager: Manager) -> dict:
    return job_view(job, manager)


@router.get(
    "/{job_id}/events",
    summary="Progress as Server-Sent Events",
    operation_id="job_events",
    responses={200: {"content": {"text/event-stream": {}}}, **errors(404)},
)
async def job_events(job: JobInPath, manager: Manager, request: Request) -> StreamingResponse:
    return progress_stream(request, job, "job", lambda: job_view(job, manager))


def progress_stream(request: Request, job, event: str, render) -> StreamingResponse:
    """Server-Sent Events of ``job`` (anything with ``version`` and ``status``): ``render()`` as an
    ``event`` each time its version moves, until it ends, the client leaves or the server stops (the
    page retries), with a keep-alive comment when quiet. Painting and training jobs share it."""
    stopping = request.app.state.stopping

    async def stream():
        seen, quiet = -1, 0.0
        yield "retry: 2000\n\n"
        while not stopping.is_set():
            if job.version != seen:
                seen, quiet = job.version, 0.0
                yield f"event: {event}\ndata: {json.dumps(render())}\n\n"
                if job.status in TERMINAL:
                    return
            elif quiet >= SSE_KEEPALIVE_SECONDS:
                quiet = 0.0
                yield ": keep-alive\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(SSE_POLL_SECONDS)
            quiet += SSE_POLL_SECONDS

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
    response_model=None,
    responses={200: {"model": JobView}, **errors(403, 404, 409)},
)
async def cancel_job(job: OwnedJob, manager: Manager) -> dict:
    if job.status in TERMINAL:
        raise HTTPException(409, f"this job has already finished ({job.status})")
    await run_in_threadpool(manager.cancel, job)
    return job_view(job, manager)
