"""HTTP API of `brushwork serve`, through FastAPI's test client: every endpoint, every bad input.

Real Gatys runs use seeded random VGG weights at 32 px (seconds); the fast method is the real
arbitrary-style network at 128 px (well under a second per job); queue, cancel and time-limit
cases use the stand-in methods of tests/support/web.py so their timing is deterministic.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support.web import GatedMethod, PosterizeMethod, app_clients

from brushwork.config import StylizeConfig, WebServiceConfig
from brushwork.errors import ConfigError
from brushwork.models import shipped_models
from brushwork.web.app import create_app
from brushwork.web.jobs import INTERRUPTED, Job, JobStatus
from brushwork.web.methods import ArbitraryJobMethod, FastModel, GatysJobMethod, ModelJobMethod

pytest.importorskip("httpx")
with warnings.catch_warnings():  # starlette asks for the newer httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import make_painting, make_photo  # noqa: E402

SHARED_GATYS = GatysJobMethod("random")  # one random VGG for the whole module (its load costs ~1 s)
ARBITRARY = ArbitraryJobMethod()  # the real any-painting network (its weights load once per process)
NO_MODELS = ModelJobMethod(models=())  # a server without trained models


def png_bytes(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def make_client(tmp_path: Path):
    with app_clients() as open_client:
        def make(methods=None, data_dir: Path | None = None, **overrides) -> TestClient:
            config = WebServiceConfig(
                data_dir=str(data_dir or tmp_path / "data"), gatys_weights="random", **overrides
            )
            if methods is None:
                methods = {"arbitrary": ARBITRARY, "model": NO_MODELS, "gatys": SHARED_GATYS}
            return open_client(create_app(config, methods))

        yield make


def wait_for(client: TestClient, job_id: str, statuses=("done", "failed", "cancelled"), timeout=30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not reach {statuses}: {job}")


def submit(client: TestClient, files=None, **form):
    """POST /api/jobs: a small Gatys job on the sample unless ``form`` says otherwise (None drops a field)."""
    data = {"sample": "canyon", "style": "starry_night", "method": "gatys", "size": "32", "iterations": "3"}
    data.update({k: str(v) for k, v in form.items() if v is not None})
    for key in [k for k, v in form.items() if v is None]:
        data.pop(key, None)
    return client.post("/api/jobs", data=data, files=files)


# --- catalogue ---------------------------------------------------------------------------------
def test_health_methods_styles_samples(make_client):
    client = make_client()
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and set(health["lanes"]) == {"fast", "gatys"}  # fast and model share
    methods = {m["name"]: m for m in client.get("/api/methods").json()["methods"]}
    assert list(methods) == ["arbitrary", "model", "gatys"]
    # Quality's defaults are the command line's (StylizeConfig): its size and its schedule.
    assert methods["gatys"]["available"] and methods["gatys"]["defaults"]["size"] == StylizeConfig().size
    assert methods["gatys"]["defaults"]["iterations"] is None
    fast = methods["arbitrary"]
    assert fast["available"] and fast["title"] == "Fast" and fast["takes"] == "painting"
    assert {"strength", "second_painting"} <= set(fast["options"]) and fast["defaults"]["strength"] == 1.0
    assert fast["limits"]["strength"] == [0.0, 1.0] and fast["limits"]["second_weight"] == [0.0, 1.0]
    assert "strength" not in methods["gatys"]["options"]
    assert not methods["model"]["available"] and "no trained models" in methods["model"]["reason"]
    styles = {s["id"]: s for s in client.get("/api/styles").json()["styles"]}
    assert {"starry_night", "great_wave"} <= set(styles)
    assert all(s["methods"] == ["arbitrary", "gatys"] for s in styles.values())  # no models: no model styles
    samples = client.get("/api/samples").json()["samples"]
    assert [s["id"] for s in samples] == ["canyon"]
    for url in (styles["great_wave"]["thumbnail"], samples[0]["thumbnail"]):
        response = client.get(url)
        assert response.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(response.content)).size == (256, 256)
    image = client.get(samples[0]["image"])
    assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).size[0] > 256
    assert client.get("/api/samples/nope/image").status_code == 404
    assert client.get("/api/styles/nope/thumbnail").status_code == 404
    assert client.get("/api/samples/..%2F..%2Fcli.py/thumbnail").status_code == 404


def test_model_styles_are_listed_when_the_model_method_has_models(make_client):
    client = make_client(
        methods={
            "arbitrary": ARBITRARY,
            "model": PosterizeMethod(("posterize", "starry_night"), name="model"),
            "gatys": SHARED_GATYS,
        }
    )
    styles = {s["id"]: s for s in client.get("/api/styles").json()["styles"]}
    assert styles["posterize"]["methods"] == ["model"]  # no picture of a painting: only its model
    # A model named like a painting joins its entry: any-painting network, model and Gatys.
    assert styles["starry_night"]["methods"] == ["arbitrary", "model", "gatys"]
    assert client.get("/api/styles/posterize/thumbnail").status_code == 200  # a colour swatch


def test_a_shipped_model_without_a_painting_shows_its_work():
    """Its gallery tile is the bundled photo painted by it; an unknown model gets a swatch."""
    from brushwork.web.styles import model_preview_bytes, swatch_bytes

    preview = Image.open(io.BytesIO(model_preview_bytes("the-kiss")))
    assert preview.size == (256, 256)
    pixels = np.asarray(preview, dtype=np.float32)
    assert pixels.std(axis=(0, 1)).mean() > 10  # a picture, not a flat tile
    assert model_preview_bytes("no-such-model") is None
    swatch = np.asarray(Image.open(io.BytesIO(swatch_bytes("x"))), dtype=np.float32)
    assert swatch.std(axis=(0, 1)).mean() < 2


def test_styles_dir_adds_paintings_with_safe_ids(make_client, tmp_path: Path):
    folder = tmp_path / "more"
    folder.mkdir()
    make_painting(20, 20).save(folder / "Klimt The Kiss.png")
    (folder / "notes.txt").write_text("not a painting")
    client = make_client(styles_dir=str(folder))
    styles = {s["id"]: s for s in client.get("/api/styles").json()["styles"]}
    assert styles["klimt_the_kiss"]["title"] == "Klimt The Kiss"
    assert "notes" not in styles


def test_page_static_files_and_offline_docs(make_client):
    client = make_client()
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css", "/static/favicon.svg"):
        response = client.get(asset)
        assert response.status_code == 200, asset
        text = response.text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, not a download
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, (
            f"{asset} loads remote files"
        )
    assert "https://" not in page.text and "http://" not in page.text
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower() and "swagger-ui-bundle.js" in docs
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/health",
        "/api/methods",
        "/api/styles",
        "/api/samples",
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/events",
        "/api/jobs/{job_id}/result",
        "/api/jobs/{job_id}/preview",
        "/api/jobs/{job_id}/photo",
        "/api/jobs/{job_id}/cancel",
        "/api/styles/{style_id}/thumbnail",
    ):
        assert path in paths, path
    # The new form fields are described with their types and ranges.
    form = paths["/api/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    fields = schema["components"]["schemas"][form["$ref"].rsplit("/", 1)[1]]["properties"]
    for name in ("strength", "second_weight"):  # a number in range, or empty ("not given"; never "null")
        number, empty = fields[name]["anyOf"]
        assert number["type"] == "number" and (number["minimum"], number["maximum"]) == (0, 1), name
        assert empty == {"type": "string", "maxLength": 0}, name
    for name in ("painting", "second_painting"):
        assert fields[name]["anyOf"][0].get("contentMediaType"), name
    # The largest size any method takes: the fast lane's fast_max_size (Gatys: max_size, 1024).
    assert fields["size"]["anyOf"][0]["maximum"] == 2048 and "canyon" in fields["sample"]["anyOf"][0]["enum"]
    assert "second_style" in fields and "arbitrary" in fields["method"]["description"]


# --- jobs: the real Gatys path ----------------------------------------------------------------
@pytest.mark.slow
def test_gatys_job_streams_progress_and_delivers_a_png(make_client):
    client = make_client(preview_every=2)
    response = submit(client, size=32, iterations=4)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/api/jobs/{job['id']}"
    events = []
    with client.stream("GET", job["urls"]["events"]) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[-1]["status"] == "done"
    iterations = [e["progress"]["iteration"] for e in events if e["status"] == "running"]
    # The stream sends the job's latest state, so a fast run may skip iterations between events.
    assert iterations == sorted(iterations) and max(iterations) >= 1
    assert events[-1]["progress"]["iteration"] == 4
    assert any("preview" in e["urls"] for e in events)
    done = events[-1]
    assert done["progress"]["percent"] == 100.0 and max(done["width"], done["height"]) == 32
    result = client.get(done["urls"]["result"])
    assert result.headers["content-type"] == "image/png"
    painted = Image.open(io.BytesIO(result.content)).convert("RGB")
    photo = Image.open(io.BytesIO(client.get(done["urls"]["photo"]).content)).convert("RGB")
    assert painted.size == photo.size
    diff = np.asarray(painted, dtype=np.float32) - np.asarray(photo, dtype=np.float32)
    assert np.abs(diff).mean() > 1.0  # the style changed the picture
    preview = client.get(f"/api/jobs/{job['id']}/preview")
    assert preview.headers["content-type"] == "image/jpeg"
    download = client.get(done["urls"]["download"])
    assert 'attachment; filename="brushwork-starry_night-' in download.headers["content-disposition"]
    assert download.content == result.content
    speeds = {
        m["name"]: m["seconds_per_iteration_per_megapixel"]
        for m in client.get("/api/methods").json()["methods"]
    }
    assert speeds["gatys"] > 0 and speeds["arbitrary"] is None  # measured by the finished job


@pytest.mark.slow
def test_uploaded_photo_and_painting(make_client):
    client = make_client()
    files = {
        "photo": ("holiday.jpg", png_bytes(make_photo(48, 36), "JPEG"), "image/jpeg"),
        "painting": ("art.png", png_bytes(make_painting(30, 30)), "image/png"),
    }
    response = submit(
        client, files=files, sample=None, style=None, size=40, iterations=2, preserve_colors="true"
    )
    assert response.status_code == 202, response.text
    assert response.json()["style"] == "upload" and response.json()["options"]["preserve_colors"] is True
    job = wait_for(client, response.json()["id"])
    assert job["status"] == "done" and (job["width"], job["height"]) == (40, 30)


def test_polling_a_job_shows_queue_position_then_progress(make_client):
    gated = GatedMethod()
    client = make_client(methods={"gatys": gated}, queue_size=2)
    first = submit(client).json()
    second = submit(client).json()
    assert gated.started.wait(5)
    assert client.get(f"/api/jobs/{second['id']}").json()["queue_position"] == 1
    running = wait_for(client, first["id"], statuses=("running",))
    assert running["queue_position"] is None
    time.sleep(0.05)
    assert client.get(f"/api/jobs/{first['id']}").json()["progress"]["iteration"] >= 1
    assert client.get(f"/api/jobs/{first['id']}/result").status_code == 409  # not finished yet
    gated.release()
    assert wait_for(client, second["id"])["status"] == "done"


# --- fast: the arbitrary-style network (any painting) ---------------------------------------------
def result_pixels(client: TestClient, job: dict, kind: str = "result") -> np.ndarray:
    response = client.get(job["urls"][kind])
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"), np.float32)


def other_painting(size: int = 64) -> Image.Image:
    """A painting unlike ``make_painting``: warm blobs on green, turned the other way."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    blobs = 0.5 + 0.5 * np.sin(x / 3.0) * np.cos(y / 7.0)
    array = np.stack([0.9 * blobs + 0.1, 0.6 + 0.0 * x, 0.1 * blobs], axis=-1)
    return Image.fromarray((array * 255).astype(np.uint8), "RGB")


def fast_job(client: TestClient, files=None, **form) -> dict:
    """A fast job at 128 px on the sample photo, answered in the same request; returns the finished job."""
    defaults = {"method": "arbitrary", "size": 128, "iterations": None}
    response = submit(client, files=files, **{**defaults, **form})
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "done", job
    return job


def test_fast_paints_an_uploaded_painting_in_the_request(make_client):
    client = make_client()
    upload = {"painting": ("mine.png", png_bytes(make_painting(64, 64)), "image/png")}
    job = fast_job(client, files=upload, style=None)
    assert job["method"] == "arbitrary" and job["style"] == "upload" and job["style_title"] == "your painting"
    assert job["options"]["strength"] == 1.0 and job["options"]["second_weight"] is None
    assert job["progress"]["percent"] == 100.0 and max(job["width"], job["height"]) == 128
    painted, photo = result_pixels(client, job), result_pixels(client, job, "photo")
    assert painted.shape == photo.shape and np.abs(painted - photo).mean() > 10  # painted, not the photo
    other = {"painting": ("other.png", png_bytes(other_painting()), "image/png")}
    second = result_pixels(client, fast_job(client, files=other, style=None))
    assert np.abs(second - painted).mean() > 5  # another painting, another picture
    # A gallery painting goes the same way, and the method may be left out: fast is the default.
    default = submit(client, method=None, size=128, iterations=None)
    assert default.status_code == 200 and default.json()["method"] == "arbitrary", default.text
    assert client.get("/api/health").json()["lanes"]["fast"]["running"] == 0


def test_the_old_method_name_fast_still_paints_with_a_deprecation_header(make_client):
    client = make_client()
    new = fast_job(client)
    assert "deprecation" not in {k.lower() for k in submit(client, method="arbitrary", size=128).headers}
    old = submit(client, method="fast", size=128, iterations=None)
    assert old.status_code == 200 and old.headers["Deprecation"] == "true", old.text
    assert "use method=arbitrary" in old.headers["X-Deprecation-Notice"]
    job = old.json()
    assert job["method"] == "arbitrary" and job["options"] == new["options"]


def test_statuses_come_from_one_enum_and_reach_the_page(make_client):
    client = make_client()
    script = client.get("/vocabulary.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    words = json.loads(script.text.split("const BRUSHWORK = ", 1)[1].rstrip().rstrip(";"))
    assert words == {"statuses": [s.value for s in JobStatus], "terminal": ["done", "failed", "cancelled"]}
    assert '<script src="/vocabulary.js" defer></script>' in client.get("/").text
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["JobStatus"]["enum"] == [s.value for s in JobStatus]


def test_fast_strength_mixes_in_the_photos_own_style(make_client):
    client = make_client()
    full = fast_job(client, strength=1)
    light = fast_job(client, strength=0.3)
    assert light["options"]["strength"] == 0.3
    photo = result_pixels(client, full, "photo")
    full_pixels, light_pixels = result_pixels(client, full), result_pixels(client, light)
    assert np.abs(full_pixels - light_pixels).mean() > 3
    # Less of the painting: the colours stay nearer the photo's.
    assert np.abs(light_pixels.mean((0, 1)) - photo.mean((0, 1))).mean() < np.abs(
        full_pixels.mean((0, 1)) - photo.mean((0, 1))
    ).mean()


def test_fast_blends_a_second_painting(make_client):
    client = make_client()
    first = result_pixels(client, fast_job(client))  # The Starry Night alone
    alone = result_pixels(client, fast_job(client, style="great_wave"))
    job = fast_job(client, second_style="great_wave", second_weight=0.5)
    assert job["second_style"] == "great_wave" and job["options"]["second_weight"] == 0.5
    assert job["style_title"] == "The Starry Night (50 %) + The Great Wave off Kanagawa (50 %)"
    blend = result_pixels(client, job)
    assert np.abs(blend - first).mean() > 3 and np.abs(blend - alone).mean() > 3
    # All of the weight on the second painting paints it alone.
    only_second = result_pixels(client, fast_job(client, second_style="great_wave", second_weight=1))
    assert np.abs(only_second - alone).mean() < 1
    # An uploaded second painting, with the default 50/50 mix.
    upload = {"second_painting": ("b.png", png_bytes(other_painting()), "image/png")}
    mixed = fast_job(client, files=upload)
    assert mixed["second_style"] == "upload" and mixed["options"]["second_weight"] == 0.5
    assert np.abs(result_pixels(client, mixed) - first).mean() > 3


def test_fast_options_are_checked_with_clear_messages(make_client):
    client = make_client(methods={"arbitrary": ARBITRARY, "model": PosterizeMethod(name="model"),
                                  "gatys": SHARED_GATYS})
    not_an_image = ("notes.png", b"just some text", "image/png")
    cases = [
        ({"strength": 1.5}, None, 422, "strength must be between 0 and 1, got 1.5"),
        ({"strength": -0.1}, None, 422, "strength must be between 0 and 1"),
        ({"strength": "nan"}, None, 422, "strength must be between 0 and 1"),
        ({"strength": "lots"}, None, 422, "strength: "),
        ({"second_weight": 0.3}, None, 422, "second_weight needs a second painting"),
        ({"second_style": "great_wave", "second_weight": 2}, None, 422,
         "second weight must be between 0 and 1"),
        ({"second_style": "nope"}, None, 404, "no such second style"),
        ({"second_style": "great_wave"}, {"second_painting": not_an_image}, 422, "not both"),
        ({}, {"second_painting": not_an_image}, 415, "the second painting is not an image"),
        ({}, {"second_painting": ("x.png", b"", "image/png")}, 400, "second painting file is empty"),
        ({"style": None}, {"painting": ("tiny.png", png_bytes(make_painting(20, 20)), "image/png")}, 422,
         "20x20 pixels, too small to show a style"),
        ({"style": None}, {"painting": ("x.jpg", png_bytes(make_photo(), "JPEG")[:200], "image/jpeg")}, 400,
         "corrupt"),
        ({"method": "gatys", "strength": 0.5}, None, 422, "strength is not an option of the gatys method"),
        ({"method": "gatys", "second_style": "great_wave"}, None, 422, "cannot blend a second painting"),
        ({"method": "model", "style": "posterize", "second_style": "great_wave"}, None, 422,
         "cannot blend"),
        ({"style": "posterize"}, None, 422, "use method=model"),
        ({"second_style": "posterize"}, None, 422, "cannot be blended"),
    ]
    for form, files, status, message in cases:
        form = {"method": "arbitrary", "size": 128, "iterations": None, **form}
        response = submit(client, files=files, **form)
        assert response.status_code == status, (form, response.text)
        assert message in response.json()["detail"], (form, response.json())
    # A grayscale painting is fine: it is read as RGB, like everywhere else.
    gray = {"painting": ("gray.png", png_bytes(make_painting(64, 64).convert("L")), "image/png")}
    assert fast_job(client, files=gray, style=None)["status"] == "done"


# --- model: trained per-style models ------------------------------------------------------------
def test_model_is_rejected_clearly_when_no_models_exist(make_client):
    client = make_client()
    response = submit(client, method="model")
    assert response.status_code == 422
    assert "model method is not available" in response.json()["detail"]


def test_model_jobs_are_answered_directly(make_client):
    model = PosterizeMethod(("posterize",), name="model")
    client = make_client(methods={"arbitrary": ARBITRARY, "model": model, "gatys": SHARED_GATYS})
    response = submit(client, method="model", style="posterize", size=48)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "done" and "result" in body["urls"] and model.runs == 1
    image = Image.open(io.BytesIO(client.get(body["urls"]["result"]).content))
    assert max(image.size) == 48
    # A style without a model, and an uploaded painting, cannot go the trained-model way.
    refused = submit(client, method="model", style="great_wave").json()["detail"]
    assert "cannot be painted with method=model" in refused and "method=arbitrary or method=gatys" in refused
    files = {"painting": ("a.png", png_bytes(make_painting()), "image/png")}
    refused = submit(client, files=files, method="model", style=None)
    assert refused.status_code == 422 and "trained for one painting" in refused.json()["detail"]
    # And a model-only style cannot go the Gatys way.
    assert submit(client, method="gatys", style="posterize").status_code == 422


# --- queue, cancel, limits ----------------------------------------------------------------------
def test_full_queue_answers_429_and_the_server_stays_up(make_client):
    gated = GatedMethod()
    client = make_client(methods={"gatys": gated}, queue_size=1)
    accepted = [submit(client) for _ in range(2)]  # one runs, one waits
    assert [r.status_code for r in accepted] == [202, 202]
    busy = submit(client)
    assert busy.status_code == 429
    assert "busy" in busy.json()["detail"] and busy.headers["retry-after"] == "30"
    assert client.get("/api/health").json()["lanes"]["gatys"]["waiting"] == 1
    gated.release()
    for response in accepted:
        assert wait_for(client, response.json()["id"])["status"] == "done"
    assert submit(client).status_code == 202  # room again


def test_cancel_queued_and_running_jobs(make_client):
    gated = GatedMethod()
    client = make_client(methods={"gatys": gated}, queue_size=2)
    running = submit(client).json()
    queued = submit(client).json()
    assert gated.started.wait(5)
    response = client.post(f"/api/jobs/{queued['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    client.post(f"/api/jobs/{running['id']}/cancel")
    job = wait_for(client, running["id"])
    assert job["status"] == "cancelled"
    again = client.post(f"/api/jobs/{running['id']}/cancel")
    assert again.status_code == 409 and "already finished" in again.json()["detail"]
    result = client.get(f"/api/jobs/{running['id']}/result")
    assert result.status_code == 409 and "cancelled" in result.json()["detail"]


def test_per_job_time_limit(make_client):
    client = make_client(methods={"gatys": GatedMethod()}, job_time_limit=0.2)
    job = wait_for(client, submit(client).json()["id"])
    assert job["status"] == "failed" and "time limit" in job["error"]


def test_a_crashing_method_fails_its_job_not_the_server(make_client):
    client = make_client(methods={"gatys": GatedMethod(fail=RuntimeError("boom"))})
    job = wait_for(client, submit(client).json()["id"])
    assert job["status"] == "failed" and job["error"] == "internal error: boom"
    assert client.get("/api/health").status_code == 200


def test_limits_on_options(make_client):
    client = make_client(max_size=256, max_iterations=50)
    cases = {
        "size": ("4000", "between 16 and 256"),
        "iterations": ("0", "between 1 and 50"),
        "style_weight": ("nan", "style weight must be between"),
        "content_weight": ("-1", "content weight must be between"),
    }
    for field, (value, message) in cases.items():
        response = submit(client, **{field: value})
        assert response.status_code == 422 and message in response.json()["detail"], (field, response.text)
    typed = submit(client, size="big")
    assert typed.status_code == 422 and typed.json()["detail"].startswith("size:")
    assert "unknown method" in submit(client, method="magic").json()["detail"]


# --- bad input and security ---------------------------------------------------------------------
def crafted_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's signature)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_bad_uploads_get_4xx_with_a_message(make_client, monkeypatch):
    def no_unpickling(*args, **kwargs):
        raise AssertionError("an upload was unpickled")

    monkeypatch.setattr(torch, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    client = make_client(max_upload_mb=0.05, max_pixels=100_000)
    model_file = io.BytesIO()
    torch.save({"weight": torch.zeros(3)}, model_file)
    big = Image.effect_noise((200, 200), 64).convert("RGB")  # incompressible: > 50 kB as PNG
    cases = [
        ("text named .jpg", ("photo.jpg", b"hello, I am not a picture", "image/jpeg"), 415, "not an image"),
        (
            "pickled model",
            ("model.pth", model_file.getvalue(), "application/octet-stream"),
            415,
            "not an image",
        ),
        (
            "svg",
            ("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
            415,
            "not an image",
        ),
        ("pdf", ("x.jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "image/jpeg"), 415, "not an image"),
        ("empty", ("x.png", b"", "image/png"), 400, "empty"),
        ("truncated", ("x.jpg", png_bytes(make_photo(), "JPEG")[:200], "image/jpeg"), 400, "corrupt"),
        (
            "too many pixels",
            ("x.png", png_bytes(Image.new("RGB", (400, 400))), "image/png"),
            413,
            "megapixels",
        ),
        ("decompression bomb", ("x.png", crafted_png(100_000, 100_000), "image/png"), 413, "pixels"),
        ("bomb under Pillow's guard", ("x.png", crafted_png(3000, 3000), "image/png"), 413, "megapixels"),
        ("too large", ("x.png", png_bytes(big), "image/png"), 413, "upload limit"),
    ]
    for name, upload, status, message in cases:
        for field in ("photo", "painting"):
            form = {"sample": None} if field == "photo" else {"style": None}
            response = submit(client, files={field: upload}, **form)
            assert response.status_code == status, (name, field, response.text)
            assert message in response.json()["detail"], (name, field, response.json())
    # The type comes from the bytes, not the name or the declared type.
    sniffed = submit(
        client, files={"photo": ("notes.txt", png_bytes(make_photo()), "text/plain")}, sample=None
    )
    assert sniffed.status_code == 202, sniffed.text
    assert client.get("/api/health").json()["status"] == "ok"


def test_request_body_limit_before_parsing(make_client):
    client = make_client(max_upload_mb=0.01)
    limit = 2 * int(0.01 * 2**20) + 2**20
    response = client.post(
        "/api/jobs",
        content=b"x" * (limit + 10),
        headers={"content-type": "multipart/form-data; boundary=zzz"},
    )
    assert response.status_code == 413 and "limit" in response.json()["detail"]

    def chunks():  # no Content-Length: counted while it streams in
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536

    streamed = client.post(
        "/api/jobs", content=chunks(), headers={"content-type": "multipart/form-data; boundary=zzz"}
    )
    assert streamed.status_code == 413
    assert client.get("/api/health").status_code == 200


def test_choices_must_be_exactly_one_and_known(make_client):
    client = make_client()
    photo = {"photo": ("p.png", png_bytes(make_photo()), "image/png")}
    assert "exactly one" in submit(client, files=photo).json()["detail"]  # photo and sample
    assert "exactly one" in submit(client, sample=None).json()["detail"]  # neither
    assert "exactly one" in submit(client, style=None).json()["detail"]
    assert submit(client, sample="../../etc/passwd").status_code == 404
    response = submit(client, style="../../../src/brushwork/data/samples/starry_night")
    assert response.status_code == 404 and "no such style" in response.json()["detail"]


@pytest.mark.parametrize(
    "job_id",
    [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "..",
        "%2e%2e",
        "0" * 31 + "g",
        "A" * 32,
        "0" * 33,
        "job.json",
    ],
)
def test_job_ids_cannot_traverse(make_client, job_id):
    client = make_client()
    for suffix in ("", "/result", "/preview", "/photo", "/events"):
        response = client.get(f"/api/jobs/{job_id}{suffix}")
        assert response.status_code == 404, (job_id, suffix, response.status_code)
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 404


def test_unknown_job_is_404(make_client):
    client = make_client()
    response = client.get("/api/jobs/" + "0" * 32)
    assert response.status_code == 404 and "no such job" in response.json()["detail"]


def test_cors_closed_by_default_and_opt_in(make_client, tmp_path: Path):
    client = make_client()
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    response = client.options("/api/jobs", headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    assert (
        "access-control-allow-origin"
        not in client.get("/api/styles", headers={"Origin": "https://evil.example"}).headers
    )
    opened = make_client(data_dir=tmp_path / "other", cors_origins=("https://app.example",))
    allowed = opened.get("/api/styles", headers={"Origin": "https://app.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    denied = opened.get("/api/styles", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in denied.headers
    with pytest.raises(ConfigError, match="any web site"):
        WebServiceConfig(cors_origins=("*",))


# --- persistence and clean-up --------------------------------------------------------------------
def test_restart_keeps_results_and_fails_interrupted_jobs(make_client, tmp_path: Path):
    data = tmp_path / "persist"
    fast = PosterizeMethod(("posterize",))
    first = make_client(methods={"arbitrary": fast}, data_dir=data)
    done = submit(first, method="arbitrary", style="posterize").json()
    assert done["status"] == "done"
    original = first.get(done["urls"]["result"]).content
    # A job that was running when the server died: its record says so.
    ghost = Job(id="f" * 32, method="fast", style="posterize", style_title="P", options={},  # an old record
                status="running")
    (data / "jobs" / ghost.id).mkdir()
    (data / "jobs" / ghost.id / "job.json").write_text(json.dumps(ghost.record()))
    (data / "jobs" / ("e" * 32)).mkdir()  # a submission cut short: no record, removed
    second = make_client(methods={"arbitrary": fast}, data_dir=data)
    assert second.get(f"/api/jobs/{done['id']}/result").content == original
    interrupted = second.get(f"/api/jobs/{ghost.id}").json()
    assert interrupted["status"] == "failed" and interrupted["error"] == INTERRUPTED
    assert interrupted["method"] == "arbitrary"  # a record of the old name reads as the new one
    assert not (data / "jobs" / ("e" * 32)).exists()


def test_shutdown_marks_running_jobs_interrupted(make_client, tmp_path: Path):
    data = tmp_path / "stop"
    gated = GatedMethod()
    client = make_client(methods={"gatys": gated}, data_dir=data)
    job_id = submit(client).json()["id"]
    assert gated.started.wait(5)
    client.__exit__(None, None, None)
    record = json.loads((data / "jobs" / job_id / "job.json").read_text())
    assert record["status"] == "failed" and record["error"] == INTERRUPTED


def test_cleanup_by_age_and_by_size(make_client, tmp_path: Path):
    fast = PosterizeMethod(("posterize",))
    client = make_client(methods={"arbitrary": fast}, data_dir=tmp_path / "clean", max_age_hours=1.0)
    manager = client.app.state.manager
    ids = [submit(client, method="arbitrary", style="posterize", size=64).json()["id"] for _ in range(3)]
    manager.jobs[ids[0]].finished = time.time() - 2 * 3600
    assert manager.cleanup() == [ids[0]]
    assert client.get(f"/api/jobs/{ids[0]}").status_code == 404
    assert not (tmp_path / "clean" / "jobs" / ids[0]).exists()
    # Size cap: with room for about one job, the oldest finished ones go first.
    one_job = sum(p.stat().st_size for p in (tmp_path / "clean" / "jobs" / ids[2]).iterdir())
    object.__setattr__(manager.config, "max_data_mb", one_job * 1.5 / 2**20)
    assert manager.cleanup() == [ids[1]]
    assert client.get(f"/api/jobs/{ids[2]}/result").status_code == 200


def test_serve_command_is_registered_and_validates(capsys):
    from brushwork.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["serve", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--port" in out and "--queue-size" in out and "127.0.0.1" in out
    assert main(["serve", "--port", "70000"]) == 2
    assert "port has an impossible value" in capsys.readouterr().err


# --- the trained-model method and its painters ---------------------------------------------------------
def _tiny_model(path: Path, seed: int) -> Path:
    """An untrained, tiny TransformerNet file: enough to exercise loading and painting."""
    from brushwork.networks.model_files import save_transformer
    from brushwork.networks.transformer import TransformerNet, TransformerSpec

    torch.manual_seed(seed)
    save_transformer(path, TransformerNet(TransformerSpec(width=8, res_blocks=1)), {})
    return path


def test_fast_method_loads_each_model_once(make_client, tmp_path: Path, monkeypatch):
    """ModelJobMethod with two tiny model files (no trained model needed): styles, one load, options."""
    from brushwork import painters

    loads: list = []
    real_load = painters.load_stylizer

    def counting_load(ref, config=None):
        loads.append(ref)
        return real_load(ref, config)

    monkeypatch.setattr(painters, "load_stylizer", counting_load)
    models = [
        FastModel("starry-night", "Van Gogh net", _tiny_model(tmp_path / "a.safetensors", 0)),
        FastModel("mosaic", "Mosaic net", _tiny_model(tmp_path / "b.safetensors", 1)),
    ]
    client = make_client(methods={"model": ModelJobMethod(models), "gatys": SHARED_GATYS})
    styles = {s["id"]: s for s in client.get("/api/styles").json()["styles"]}
    assert styles["starry_night"]["methods"] == ["model", "gatys"]  # the model joined its painting
    assert styles["mosaic"]["methods"] == ["model"] and styles["mosaic"]["title"] == "Mosaic net"
    for _ in range(2):
        response = submit(client, method="model", style="starry_night", size=40, preserve_colors="true")
        assert response.status_code == 200 and response.json()["status"] == "done", response.text
    assert loads == [models[0].ref]  # loaded once, reused
    body = response.json()
    result = Image.open(io.BytesIO(client.get(body["urls"]["result"]).content)).convert("YCbCr")
    photo = Image.open(io.BytesIO(client.get(body["urls"]["photo"]).content)).convert("YCbCr")
    assert max(result.size) == 40 and result.size == photo.size
    chroma = np.asarray(result, np.float32)[..., 1:] - np.asarray(photo, np.float32)[..., 1:]
    assert np.abs(chroma).mean() < 3  # preserve_colors reached the painter: the photo's colours kept
    # strength reaches it too: 0 fades all the way back to the photo.
    faded = submit(client, method="model", style="mosaic", size=40, strength=0).json()
    assert faded["status"] == "done" and faded["options"]["strength"] == 0
    assert np.abs(result_pixels(client, faded) - result_pixels(client, faded, "photo")).mean() < 1


def test_real_trained_models_when_installed(make_client):
    if not shipped_models():
        pytest.skip("no trained model is installed; the method is covered by the tiny-model test above")
    client = make_client(methods={"arbitrary": ARBITRARY, "model": ModelJobMethod(), "gatys": SHARED_GATYS})
    model_styles = [s for s in client.get("/api/styles").json()["styles"] if "model" in s["methods"]]
    assert model_styles
    response = submit(client, method="model", style=model_styles[0]["id"], size=64)
    assert response.status_code == 200 and response.json()["status"] == "done", response.text
    body = response.json()
    result = np.asarray(
        Image.open(io.BytesIO(client.get(body["urls"]["result"]).content)).convert("RGB"), np.float32
    )
    photo = np.asarray(
        Image.open(io.BytesIO(client.get(body["urls"]["photo"]).content)).convert("RGB"), np.float32
    )
    assert result.shape == photo.shape and np.abs(result - photo).mean() > 5
