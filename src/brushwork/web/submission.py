"""Submitting a painting job: the form a browser posts (``JobForm``, every value checked where it is
declared), the checks that need this server (its methods, gallery and limits), and ``submit_job``, which
reads the uploads, stores the inputs and queues the job. The routes only parse and answer.

The options take one shape on the way: the form becomes the job's ``JobOptions`` once (``job_options``:
the server's defaults filled in, its limits checked), and the job's method turns that into the engines'
config (``methods``). Regions (``NAME=STYLE[:STRENGTH]``, ``NAME=default[:STRENGTH]``, ``NAME=none``, a
mask or ``regions=auto``) are checked here too (``region_options``, ``check_mask``) before the job is queued.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import HTTPException, Request, UploadFile
from PIL import Image
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from brushwork.config import MAX_REGIONS, NETWORKS, RegionConfig, WebServiceConfig
from brushwork.errors import ConfigError, ImageError
from brushwork.images import MIN_PHOTO_SIDE, MIN_SIDE, check_side, open_image, resize_longest
from brushwork.regions import BACKGROUND, DEFAULT, PERSON, check_names, mask_labels
from brushwork.web.deps import queue_in_thread
from brushwork.web.jobs import Job, JobManager, disk_text
from brushwork.web.methods import (
    MIN_SIZE,
    OLD_METHOD_NAMES,
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
from brushwork.web.styles import Registry, Style
from brushwork.web.uploads import VIDEO_LIST, VideoUpload, decode_upload, read_limited, sniff_video

#: Stored paintings are capped here: style images are resized to the output size anyway.
PAINTING_STORE_SIZE = 1024
#: Region settings one job may send: one per region of a mask at most (the engines' limit).
MAX_REGION_SETTINGS = MAX_REGIONS


def _within(low: float, high: float, what: str) -> AfterValidator:
    """A number in ``[low, high]`` (NaN is not), with the page's one-line message."""

    def check(value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            raise ValueError(f"{what} must be between {low:g} and {high:g}, got {value}")
        return value

    return AfterValidator(check)


def _range(low: float, high: float) -> dict:
    return {"minimum": low, "maximum": high}


Weight = Annotated[float | None, Field(json_schema_extra=_range(*WEIGHT_LIMITS))]
Unit = Annotated[float | None, Field(json_schema_extra=_range(*UNIT_LIMITS))]


class JobForm(BaseModel):
    """``POST /api/jobs``: what a job may send (a multipart form). A field left out, or sent empty, is
    "not given"; the server's defaults fill it in (``job_options``)."""

    model_config = ConfigDict(title="JobForm")

    photo: UploadFile | None = Field(
        None, description="the photo (any common image format), or a short video for arbitrary and model "
        "(MP4, MOV, MKV, WebM, AVI; the result is then an MP4)")
    sample: str | None = Field(None, description="or: a sample photo id from /api/samples")
    style: str | None = Field(None, description="a style id from /api/styles")
    painting: UploadFile | None = Field(None, description="or: a painting to take the style from")
    method: str | None = Field(
        None, description="arbitrary (any painting, about a second; fast: its old name), model (a style's "
        "trained model) or gatys (quality, minutes); default: "
        "arbitrary when available, else gatys")
    size: int | None = Field(None, description="longest side of the result in pixels")
    iterations: int | None = Field(None, description="Gatys iterations")
    style_weight: Annotated[Weight, _within(*WEIGHT_LIMITS, "style weight")] = Field(
        None, description="Gatys style weight")
    content_weight: Annotated[Weight, _within(*WEIGHT_LIMITS, "content weight")] = Field(
        None, description="Gatys content weight")
    preserve_colors: bool = Field(False, description="keep the photo's colours")
    strength: Annotated[Unit, _within(*UNIT_LIMITS, "strength")] = Field(
        None, description="arbitrary and model: 1 = fully painted (default); lower mixes in the photo's own "
        "style (arbitrary) or fades to the photo (model)")
    second_style: str | None = Field(
        None, description="arbitrary only: a style id whose painting is blended with the first")
    second_painting: UploadFile | None = Field(
        None, description="arbitrary only: or a second painting file to blend with the first")
    second_weight: Annotated[Unit, _within(*UNIT_LIMITS, "second weight")] = Field(
        None, description="arbitrary only: the second painting's share of the blend (default: the server's "
        "--second-weight, 0.5)")
    network: str | None = Field(None, description="arbitrary only: the arbitrary-style network, brushwork or "
                                "magenta (default: the server's, as the command line's --network)")
    mask: UploadFile | None = Field(
        None, description="regions: a mask picture (any size: resized to the result); each flat colour is a "
        "region, named by its grey level (0-255), basic colour (white, black, red, ...) or #rrggbb")
    regions: str | None = Field(
        None, description="regions: auto = person and background, found on the server")
    region: list[str] | None = Field(
        None, description="a region's setting (repeat the field): NAME=STYLE[:STRENGTH] (a style id), "
        "NAME=default[:STRENGTH] (the job's own style) or NAME=none (left as the photo); regions not "
        "named get the job's own style")
    feather: float | None = Field(
        None, description="regions: width in pixels of the soft edge between regions (default: the command "
        "line's --feather)")

    @property
    def blends(self) -> bool:
        """The job has a second painting (``second_weight`` is its share)."""
        return self.second_style is not None or self.second_painting is not None

    @model_validator(mode="after")
    def _consistent(self) -> JobForm:
        """The rules between fields that need nothing of the server."""
        if self.style_weight == 0 and self.content_weight == 0:
            raise ValueError("style weight and content weight cannot both be 0")
        if self.second_weight is not None and not self.blends:
            raise ValueError("second_weight needs a second painting (second_style or second_painting)")
        if self.second_style is not None and self.second_painting is not None:
            raise ValueError("send a second style id or a second painting file, not both")
        return self


def choose_method(form: JobForm, methods: dict[str, JobMethod]) -> tuple[JobMethod, str | None]:
    """The job's method (default: arbitrary when it can run, else gatys) and, for an old name
    (``OLD_METHOD_NAMES``), the deprecation notice the answer carries."""
    name, notice = form.method, None
    if name is None:
        arbitrary = methods.get("arbitrary")
        name = "arbitrary" if arbitrary is not None and arbitrary.unavailable_reason() is None else "gatys"
    elif name in OLD_METHOD_NAMES:
        notice = f"method={name} is deprecated; use method={OLD_METHOD_NAMES[name]}"
        name = OLD_METHOD_NAMES[name]
    chosen = methods.get(name)
    if chosen is None:
        raise HTTPException(422, f"unknown method {name[:40]!r}; choose from {', '.join(methods)}")
    reason = chosen.unavailable_reason()
    if reason:
        raise HTTPException(422, f"the {name} method is not available: {reason}")
    return chosen, notice


def _check_method_options(method: JobMethod, form: JobForm) -> None:
    if form.network is not None and "network" not in method.options:
        raise HTTPException(422, f"network is not an option of the {method.name} method")
    if form.network is not None and form.network not in NETWORKS:
        raise HTTPException(422, f"network must be one of {', '.join(NETWORKS)}, got {form.network[:40]!r}")
    if form.strength is not None and "strength" not in method.options:
        raise HTTPException(
            422, f"strength is not an option of the {method.name} method; its style strength is style_weight"
        )


def method_defaults(method: JobMethod, config: WebServiceConfig) -> JobOptions:
    """What a job of ``method`` gets for what it leaves out: the method's (the config classes'), with the
    fast lane's size from this server (``WebServiceConfig.fast_size``)."""
    if method.lane == "fast":
        return dataclasses.replace(method.defaults, size=config.fast_size)
    return method.defaults


def job_options(method: JobMethod, config: WebServiceConfig, form: JobForm) -> JobOptions:
    """The job's options, once: the form's values, else the method's defaults (a fast job's size and a
    blend's share: the server's ``fast_size`` / ``second_weight``), held to this server's limits."""
    _check_method_options(method, form)
    defaults = method_defaults(method, config)
    fields = set(JobOptions.__dataclass_fields__) - {"second_weight"}
    given = {k: v for k, v in form.model_dump(include=fields).items() if v is not None}
    share = None
    if form.blends:
        share = config.second_weight if form.second_weight is None else form.second_weight
    options = dataclasses.replace(defaults, **given, second_weight=share)
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
    return options


def _hint(names: tuple[str, ...]) -> str:
    return " or ".join(f"method={n}" for n in names) if names else "another style"


def check_choices(
    method: JobMethod,
    registry: Registry,
    form: JobForm,
) -> Style | None:
    """Exactly one photo source and one style source, both known and fit for ``method``; returns the
    gallery entry of the chosen style (None for an uploaded painting)."""
    sample, style, has_painting = form.sample, form.style, form.painting is not None
    has_photo = form.photo is not None
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
            "method=arbitrary (any painting, seconds) or method=gatys (quality, minutes)",
        )
    return entry


def check_second(method: JobMethod, registry: Registry, form: JobForm) -> Style | None:
    """At most one second painting, known and with a picture, for a method that blends; returns the
    gallery entry (None for an uploaded second painting or no second painting)."""
    second_style = form.second_style
    if not form.blends:
        return None
    if "second_painting" not in method.options:
        raise HTTPException(
            422, f"the {method.name} method cannot blend a second painting; method=arbitrary can"
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




def region_options(
    method: JobMethod, registry: Registry, form: JobForm
) -> tuple[RegionOptions | None, dict[int, Style]]:
    """A job's regions from its form, each value checked (422 in one line), and the gallery entry of each
    region setting that names a style (by its index); (None, {}) when the form asks for no regions."""
    has_mask, regions, feather, blends = form.mask is not None, form.regions, form.feather, form.blends
    region = [spec for spec in form.region or () if spec.strip()]
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
        check_region_names(options, [PERSON, BACKGROUND], None, "regions=auto")
    return options, entries


def check_region_names(options: RegionOptions, names: list[str], keys: list[set[str]] | None,
                       source: str) -> None:
    """Every region a setting names exists (the command line's rule, ``regions.check_names``)."""
    try:
        check_names({parse_region(spec)[0]: DEFAULT for spec in options.region}, (names, keys), source)
    except ConfigError as exc:
        raise HTTPException(422, str(exc).replace("--region ", "region ", 1)) from None


def check_mask(data: bytes, options: RegionOptions, config: WebServiceConfig) -> Image.Image:
    """An uploaded mask: an image (415/400/413 as every upload), of flat colours (422:
    ``regions.mask_labels``, the command line's rule) that has every region its settings name. Any size
    or shape: it is resized to the result (nearest neighbour), as ``--mask`` is."""
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
            "(method=arbitrary with any painting, or method=model)",
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




@dataclass
class Uploads:
    """The bytes of a form's files, read within their limits (before any is decoded)."""

    photo: bytes | None
    painting: bytes | None
    second_painting: bytes | None
    mask: bytes | None

    @classmethod
    async def read(cls, form: JobForm, config: WebServiceConfig) -> Uploads:
        photo_limit = max(config.max_upload_bytes, config.max_video_bytes)  # a photo, or a video (prepare)
        limit = config.max_upload_bytes

        async def read(upload: UploadFile | None, limit: int, what: str) -> bytes | None:
            return await read_limited(upload, limit, what) if upload else None

        return cls(
            photo=await read(form.photo, photo_limit, "photo"),
            painting=await read(form.painting, limit, "painting"),
            second_painting=await read(form.second_painting, limit, "second painting"),
            mask=await read(form.mask, limit, "mask"),
        )


@dataclass
class Submission:
    """A checked job not stored yet: what ``prepare`` turns into a queued ``Job`` (in a worker thread)."""

    method: JobMethod
    config: WebServiceConfig
    registry: Registry
    form: JobForm
    options: JobOptions
    entry: Style | None  # the gallery style (None: an uploaded painting)
    second_entry: Style | None
    regions: RegionOptions | None
    region_entries: dict[int, Style]
    uploads: Uploads
    owner: str | None  # hash of the submitting browser's token (exposed servers)

    def painting(self, data: bytes | None, gallery: Style | None, what: str) -> Image.Image:
        """A gallery painting, or an upload decoded, checked and capped at ``PAINTING_STORE_SIZE``."""
        if data is None:
            return open_image(gallery.painting)
        art = decode_upload(data, what, self.config.max_pixels, reduce_to=PAINTING_STORE_SIZE)
        check_painting_size(art, what, self.method.min_painting_side)
        return resize_longest(art, PAINTING_STORE_SIZE)

    def picture(self, video: VideoUpload | None) -> Image.Image:
        """The photo (a video's first frame, an upload or a sample) at the job's size."""
        if video is not None:
            self.options = video_options(self.method, self.options, video)
            picture = video.first_frame
        elif self.uploads.photo is not None:
            picture = decode_photo(self.uploads.photo, self.config, self.options.size)
        else:
            picture = open_image(self.registry.samples[self.form.sample].path)
        check_photo_side(picture, self.options.size)
        return resize_longest(picture, self.options.size)

    def region_inputs(self, video: VideoUpload | None) -> tuple[Image.Image | None, dict[int, Image.Image]]:
        """The mask picture and the regions' gallery paintings (none without regions)."""
        if self.regions is None:
            return None, {}
        if video is not None:
            raise HTTPException(422, "regions are for photos here, not videos (brushwork apply paints a "
                                "video's regions)")
        mask = None
        if self.uploads.mask is not None:
            mask = check_mask(self.uploads.mask, self.regions, self.config)
        return mask, {i: resize_longest(open_image(e.painting), PAINTING_STORE_SIZE)
                      for i, e in self.region_entries.items()}

    def style(self) -> tuple[StyleInput, str, str, str | None]:
        """(the style input, its style id, title, second style id)."""
        entry = self.entry
        if self.uploads.painting is not None or self.method.takes == "painting":
            art = self.painting(self.uploads.painting, entry, "painting")
            style_id, title = (entry.id, entry.title) if entry else ("upload", "your painting")
            model_id = None
        else:
            art, style_id, title, model_id = None, entry.id, entry.title, entry.fast_model
        second, second_id = None, None
        if self.form.blends:
            second = self.painting(self.uploads.second_painting, self.second_entry, "second painting")
            second_id = self.second_entry.id if self.second_entry else "upload"
            second_title = self.second_entry.title if self.second_entry else "your second painting"
            share = round(100 * self.options.second_weight)
            title = f"{title} ({100 - share} %) + {second_title} ({share} %)"
        style = StyleInput(painting=art, fast_model=model_id, second_painting=second)
        return style, style_id, title, second_id

    def prepare(self, manager: JobManager) -> Job:
        """Decode, resize and store the inputs, then queue the job (in a worker thread)."""
        photo = self.uploads.photo
        video = sniff_video(photo, self.config) if photo is not None else None
        picture = self.picture(video)
        mask, region_paintings = self.region_inputs(video)
        style_input, style_id, title, second_id = self.style()
        return manager.submit(
            self.method.name, style_id, title, style_input, picture, self.options, second_id,
            video=photo if video is not None else None, frames=video.frames if video else 0,
            owner=self.owner, regions=self.regions, mask=mask, region_paintings=region_paintings,
        )


def check_form(
    form: JobForm, config: WebServiceConfig, methods: dict[str, JobMethod], registry: Registry
) -> tuple[JobMethod, str | None, JobOptions, Style | None, Style | None]:
    """Everything about a form that needs this server and no upload's contents: (method, deprecation
    notice, options, style entry, second style entry)."""
    method, notice = choose_method(form, methods)
    second_entry = check_second(method, registry, form)
    options = job_options(method, config, form)
    entry = check_choices(method, registry, form)
    return method, notice, options, entry, second_entry


async def submit_job(
    request: Request, form: JobForm, config: WebServiceConfig, manager: JobManager,
    methods: dict[str, JobMethod], registry: Registry, owner: str | None,
) -> tuple[Job, str | None]:
    """Check the form, read its uploads and queue the job; (the job, a deprecation notice or None).
    429 / 507 before reading any upload when the queue or the disk has no room."""
    method, notice, options, entry, second_entry = check_form(form, config, methods, registry)
    regions, region_entries = region_options(method, registry, form)
    if not manager.has_room(method.name):  # say so before spending time on the uploads
        raise HTTPException(429, manager.busy_message(method.name), headers={"Retry-After": "30"})
    if manager.disk_full():  # no room for any upload: before reading them
        raise HTTPException(507, disk_text(), headers={"Retry-After": "60"})
    uploads = await Uploads.read(form, config)
    submission = Submission(method, config, registry, form, options, entry, second_entry, regions,
                            region_entries, uploads, owner)
    job = await queue_in_thread(request, lambda: submission.prepare(manager), retry_after_full=30)
    return job, notice
