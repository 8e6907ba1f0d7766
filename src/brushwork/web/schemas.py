"""The API's answers as OpenAPI schemas, so clients (and schemathesis, tests/test_web_openapi.py)
can check every answer against /openapi.json: the error body, the job view, the catalogue.

The routes answer with these models (``routes.jobs.job_view`` builds a ``JobView``), and the
schema fuzz holds them to the documented shapes. ``tune_openapi`` makes the generated schema say what the
server really accepts: in a multipart form a missing field is how "no value" is sent (FastAPI
writes ``anyOf: [..., null]``, which a client would send as the text "null"), and the ids, methods
and ranges of ``POST /api/jobs`` come from this server's gallery, methods and limits.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from brushwork.web.jobs import JobStatus


class Problem(BaseModel):
    """Every 4xx answer: one readable sentence."""

    detail: str = Field(description="what was wrong, in one sentence")


class ProgressView(BaseModel):
    iteration: int
    total: int
    percent: float
    losses: dict[str, float]
    eta_seconds: float | None = Field(
        None, description="while running: seconds left, from the live rate (Gatys: an upper bound)"
    )


class JobUrls(BaseModel):
    self: str
    events: str
    photo: str
    cancel: str
    preview: str | None = Field(None, description="once a preview exists (Gatys)")
    result: str | None = Field(None, description="once done")
    download: str | None = Field(None, description="once done")
    download_jpeg: str | None = Field(None, description="once done, a picture's result as a JPEG")
    painting: str | None = Field(None, description="an uploaded painting, as stored (to paint it again)")
    second_painting: str | None = Field(None, description="an uploaded second painting, as stored")
    mask: str | None = Field(None, description="a job with a mask: the mask picture, as sent")


class JobView(BaseModel):
    """A job as ``GET /api/jobs/{id}`` shows it."""

    id: str = Field(pattern="^[0-9a-f]{32}$")
    status: JobStatus
    kind: Literal["image", "video"] = Field(
        "image", description="video: the photo was a video; progress counts frames and the result is an MP4"
    )
    method: str
    style: str
    style_title: str
    second_style: str | None
    options: dict
    created: float
    started: float | None
    finished: float | None
    error: str | None
    note: str | None = Field(None, description="why it stopped before its last step (converged at step N)")
    regions: dict | None = Field(
        None, description="a job with regions: source (mask or auto), region settings, feather, refine_edges"
    )
    warning: str | None = Field(None, description="painted, but not as asked (regions: no person found)")
    progress: ProgressView
    queue_position: int | None
    urls: JobUrls
    width: int | None = Field(None, description="of the result, once done")
    height: int | None = Field(None, description="of the result, once done")


class Lane(BaseModel):
    workers: int
    running: int
    waiting: int
    capacity: int


class Disk(BaseModel):
    free_bytes: int | None = Field(description="free space in the data folder")
    writable: bool = Field(description="a page of data was just written and removed there")


class Health(BaseModel):
    status: Literal["ok", "unhealthy"]
    version: str
    lanes: dict[str, Lane]
    workers_alive: int = Field(description="worker threads running (every lane)")
    workers: int = Field(description="worker threads configured (every lane)")
    restarts: int = Field(description="dead workers the supervisor replaced since the start")
    disk: Disk
    problem: str | None = Field(None, description="why the service is unhealthy")


ERROR_TEXT = {
    400: "a corrupt, truncated or empty upload",
    403: "a request from another site or origin, or a job submitted from another browser (exposed servers)",
    404: "no such job, style or sample",
    408: "the request body did not arrive in time (--body-timeout); the connection is closed",
    409: "not possible in the job's state",
    413: "an upload or the request too large, an image with too many pixels, or a video over the limits",
    415: "an upload that is not an image in a format brushwork reads (nor, as the photo, a video)",
    422: "a field missing, out of range or not valid for the method",
    429: "the queue is full; try again after Retry-After seconds",
    503: "unhealthy: the data folder takes no file, or a worker is not running",
    507: "the server's disk is full: the job's files cannot be stored; try again after Retry-After seconds",
}


class History(BaseModel):
    """``GET /api/history``: the page's history strip."""

    jobs: list[JobView] = Field(description="finished jobs of this browser, newest first")
    limit: int = Field(description="the most the list holds (the server's history_size)")
    max_age_hours: float = Field(description="how long a finished job is kept")


def errors(*codes: int) -> dict[int | str, dict]:
    """``responses=`` entries for these error statuses, each with the Problem body."""
    out: dict[int | str, dict] = {}
    for code in codes:
        out[code] = {"model": Problem, "description": ERROR_TEXT[code]}
        if code == 429:
            out[code]["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
    return out


#: Titles of the form models (``web.submission.JobForm``): multipart bodies, tuned as ``Body_*`` are.
FORM_MODELS = ("JobForm",)
#: An empty form field, which means "not given".
EMPTY = {"type": "string", "maxLength": 0}
#: How a form or query string may say yes or no (pydantic's lax booleans, any letter case).
BOOLEAN_TEXT = {
    "anyOf": [
        {"type": "boolean"},
        {"type": "string", "pattern": "^([01tfynTFYN]|[Oo][NnFf]|[Oo][Ff][Ff]|[Yy][Ee][Ss]|[Nn][Oo]"
                                      "|[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"},
    ]
}


def _lenient_boolean(schema: dict) -> dict:
    """A boolean field as the server reads it: also "1", "on", "yes", "False", ..."""
    if schema.get("type") != "boolean":
        return schema
    return {**{k: v for k, v in schema.items() if k != "type"}, **BOOLEAN_TEXT}


def _or_empty(schema: dict) -> dict:
    """A form field that may also be sent empty: FastAPI reads ``""`` as "not given"."""
    notes = {k: schema[k] for k in ("title", "description", "default") if k in schema}
    core = {k: v for k, v in schema.items() if k not in notes}
    return {"anyOf": [core, EMPTY], **notes}


def _drop_null(schema: dict) -> dict:
    """``anyOf: [X, {type: null}]`` -> X (a multipart field is left out rather than sent as null)."""
    alternatives = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(alternatives) != 1 or len(alternatives) == len(schema.get("anyOf", [])):
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**alternatives[0], **rest}


def tune_openapi(
    spec: dict, form_rules: dict[str, dict], examples: dict[str, list[dict]] | None = None
) -> dict:
    """Multipart bodies without ``null`` alternatives, ``form_rules`` (field -> extra schema: enums,
    minimum, maximum) merged into the fields they name, and ``examples`` (body schema title -> forms).
    Bodies: FastAPI's ``Body_*`` and the form models (``FORM_MODELS``)."""
    for schema in spec.get("components", {}).get("schemas", {}).values():
        title, properties = schema.get("title", ""), schema.get("properties")
        if not properties or not (title.startswith("Body_") or title in FORM_MODELS):
            continue
        for name, field in list(properties.items()):
            field = _lenient_boolean(_drop_null(field))
            if "default" in field and field["default"] is None:
                del field["default"]
            field.update(form_rules.get(name, {}))
            properties[name] = _or_empty(field)
        if examples and schema["title"] in examples:
            schema["examples"] = examples[schema["title"]]
    for path in spec.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and "schema" in parameter:
                    parameter["schema"] = _lenient_boolean(parameter["schema"])
    return spec
