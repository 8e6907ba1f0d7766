"""Regions in the web studio (issue 23, item 4): ``POST /api/mask`` (the person mask the page shows over
the photo), jobs with a mask or ``regions=auto`` and a painting (or the photo) per region on all three
methods, their record (so a page can paint them again), the 4xx one-liners for bad masks and settings,
and the page's region editor in a real browser (the real ``brushwork serve``, Debian's Chromium):
auto on, the overlay seen, a stroke with the mouse and one with touch, and a result whose kept region
is the photo.

Held-out photos from ../shared/data/photos (nothing in brushwork trains on them): the astronaut (a
person) and a building (none: the selfie network also takes a close house, a cat or an apple for a
person). Fast is the real any-painting network, the model method a shipped model,
Quality seeded random VGG weights (the region logic, not the look, is under test; seconds).
"""

from __future__ import annotations

import io
import time
import warnings
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import make_photo
from PIL import Image, ImageDraw
from support.web import app_clients

from brushwork.config import WebServiceConfig
from brushwork.metrics import ssim
from brushwork.web.app import create_app
from brushwork.web.methods import ArbitraryMethod, GatysMethod, ModelMethod

pytest.importorskip("httpx")
with warnings.catch_warnings():  # starlette asks for the newer httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
WITH_PERSON, NO_PERSON = PHOTOS / "skimage_astronaut.jpg", PHOTOS / "cv_building.jpg"
FEATHER = 4


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _photo(path: Path) -> bytes:
    if not path.is_file():
        pytest.skip(f"{path} is not here")
    return path.read_bytes()


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    """One server for the module: the real any-painting network, the shipped models, random-VGG Gatys."""
    config = WebServiceConfig(data_dir=str(tmp_path_factory.mktemp("web-regions")), gatys_weights="random")
    methods = {"fast": ArbitraryMethod(), "model": ModelMethod(), "gatys": GatysMethod("random")}
    with app_clients() as open_client:
        yield open_client(create_app(config, methods))


def _wait(client: TestClient, job: dict, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while job["status"] not in ("done", "failed", "cancelled") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['id']}").json()
    assert job["status"] == "done", job
    return job


def _picture(client: TestClient, url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(client.get(url).content)).convert("RGB"), np.float64) / 255


def _one_line(answer: httpx.Response, status: int, words: str) -> None:
    assert answer.status_code == status, (answer.status_code, answer.text)
    detail = answer.json()["detail"]
    assert "\n" not in detail and "Traceback" not in detail and words in detail, detail


# --- POST /api/mask ------------------------------------------------------------------------------
def test_the_mask_endpoint_finds_the_person_and_no_one_in_a_building(client: TestClient):
    answer = client.post("/api/mask", files={"photo": ("a.jpg", _photo(WITH_PERSON))}, data={"size": "256"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    mask = np.asarray(Image.open(io.BytesIO(answer.content)))
    assert mask.shape == (256, 256)  # the photo's shape (512 x 512), at the size asked for
    share = float(answer.headers["x-person-share"])
    assert 0.15 < share < 0.7 and abs(share - (mask > 127).mean()) < 0.01
    assert mask[30:80, 90:140].mean() > 200  # her face
    assert mask[:30, :60].mean() < 20 and mask[:100, 200:].mean() < 20  # the flag and the wall above
    assert "x-brushwork-warning" not in answer.headers

    house = client.post("/api/mask", files={"photo": ("h.jpg", _photo(NO_PERSON))})
    assert house.status_code == 200 and float(house.headers["x-person-share"]) == 0
    empty = np.asarray(Image.open(io.BytesIO(house.content)))
    assert empty.max() == 0 and "no person found" in house.headers["x-brushwork-warning"]
    with Image.open(NO_PERSON) as original:
        assert empty.shape == (original.height, original.width)  # the photo's own size by default

    sample = client.post("/api/mask", data={"sample": "canyon", "size": "64"})
    assert sample.status_code == 200 and max(Image.open(io.BytesIO(sample.content)).size) == 64


def test_the_mask_endpoint_refuses_bad_input_in_one_line(client: TestClient):
    photo = _png(make_photo(64, 48))
    _one_line(client.post("/api/mask", files={"photo": ("a.txt", b"just some text, not a picture")}),
              415, "not an image")
    _one_line(client.post("/api/mask", files={"photo": ("a.png", photo[:60])}), 400, "corrupt")
    _one_line(client.post("/api/mask", data={"sample": "canyon"}, files={"photo": ("a.png", photo)}),
              422, "exactly one")
    _one_line(client.post("/api/mask", data={"sample": "nope"}), 404, "no such sample")
    _one_line(client.post("/api/mask", data={"sample": "canyon", "size": "4"}), 422, "size must be")
    tiny = _png(make_photo(16, 16))
    _one_line(client.post("/api/mask", files={"photo": ("a.png", tiny)}), 422, "too small")


# --- jobs with regions ---------------------------------------------------------------------------
def _half_mask(width: int, height: int) -> Image.Image:
    """White on the left half (the region kept), black on the right; drawn as a page draws it."""
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, width // 2 - 1, height), fill=255)
    return mask


@pytest.mark.parametrize(
    ("method", "style", "extra"),
    [("fast", "great_wave", {}), ("model", "starry_night", {}),
     ("gatys", "starry_night", {"iterations": "6"})],
)
def test_a_region_left_as_the_photo_is_the_photo_and_the_rest_is_painted(client, method, style, extra):
    # The mask is 2:1 and half the photo's pixels: resized to the result as --mask is (nearest).
    size = 64 if method == "gatys" else 256
    form = {"method": method, "style": style, "size": str(size), "feather": str(FEATHER),
            "region": ["white=none", "black=default"], **extra}
    files = {"photo": ("astronaut.jpg", _photo(WITH_PERSON)), "mask": ("mask.png", _png(_half_mask(128, 64)))}
    answer = client.post("/api/jobs", data=form, files=files)
    assert answer.status_code in (200, 202), answer.text
    job = _wait(client, answer.json())
    result, photo = _picture(client, job["urls"]["result"]), _picture(client, job["urls"]["photo"])
    assert result.shape == photo.shape == (size, size, 3)
    band = 2 * FEATHER + 1  # the soft edge reaches 2 x feather from the mask's edge at most
    kept, painted = slice(0, size // 2 - band), slice(size // 2 + band, size)
    assert ssim(result[:, kept], photo[:, kept]) >= 0.98
    assert np.abs(result[:, kept] - photo[:, kept]).max() <= 1 / 255 + 1e-9
    assert np.abs(result[:, painted] - photo[:, painted]).mean() > 0.05  # painted: ~0.1-0.3 here
    # The record keeps what a page needs to paint it again; the mask comes back as sent.
    assert job["regions"] == {"source": "mask", "region": ["white=none", "black=default"],
                              "feather": FEATHER, "refine_edges": True}
    stored = Image.open(io.BytesIO(client.get(job["urls"]["mask"]).content))
    assert stored.size == (128, 64) and np.array_equal(np.asarray(stored.convert("L")),
                                                       np.asarray(_half_mask(128, 64)))
    listed = {j["id"]: j for j in client.get("/api/history").json()["jobs"]}
    assert listed[job["id"]]["regions"] == job["regions"]


def test_auto_regions_and_a_painting_per_region_and_no_person_is_a_warning(client: TestClient):
    # regions=auto on the server, the person in one painting at 0.5, the background in another.
    form = {"method": "fast", "style": "starry_night", "size": "192", "regions": "auto",
            "region": ["person=great_wave:0.5", "background=default"]}
    job = _wait(client, client.post("/api/jobs", data=form,
                                    files={"photo": ("a.jpg", _photo(WITH_PERSON))}).json())
    assert job["regions"]["source"] == "auto" and job["warning"] is None and "mask" not in job["urls"]
    plain = _wait(client, client.post("/api/jobs", data={"method": "fast", "style": "starry_night",
                                                         "size": "192"},
                                      files={"photo": ("a.jpg", _photo(WITH_PERSON))}).json())
    regions, whole = _picture(client, job["urls"]["result"]), _picture(client, plain["urls"]["result"])
    assert np.abs(regions[10:40, 10:40] - whole[10:40, 10:40]).max() < 2 / 255  # the wall: the same
    assert np.abs(regions[50:80, 70:110] - whole[50:80, 70:110]).mean() > 0.03  # the face: another one

    house = _wait(client, client.post("/api/jobs", data={**form, "region": ["person=none"]},
                                      files={"photo": ("h.jpg", _photo(NO_PERSON))}).json())
    assert "no person found" in house["warning"] and "\n" not in house["warning"]


def test_bad_masks_and_region_settings_are_one_line_4xx(client: TestClient):
    photo = ("p.png", _png(make_photo(96, 64)))
    mask = ("m.png", _png(_half_mask(96, 64)))
    noise = ("n.png", _png(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 96, 3), np.uint8))))

    def post(data: dict, files: dict) -> httpx.Response:
        return client.post("/api/jobs", data={"style": "starry_night", "size": "64", **data},
                           files={"photo": photo, **files})

    text = ("m.png", b"not a picture at all")
    _one_line(post({"region": "white=none"}, {"mask": text}), 415, "not an image")
    _one_line(post({"region": "white=none"}, {"mask": ("m.png", mask[1][:80])}), 400, "corrupt")
    _one_line(post({"region": "white=none"}, {"mask": ("m.png", b"")}), 400, "empty")
    _one_line(post({"region": "white=none"}, {"mask": noise}), 422, "one flat colour per region")
    _one_line(post({"region": "red=none"}, {"mask": mask}), 422, "has no region 'red'")
    _one_line(post({"region": "white=nosuchstyle"}, {"mask": mask}), 422, "no such style")
    _one_line(post({"region": "white=the_kiss"}, {"mask": mask}), 422, "no picture of its painting")
    _one_line(post({"region": "white=great_wave:1.5"}, {"mask": mask}), 422, "between 0 and 1")
    _one_line(post({"region": "white=great_wave:lots"}, {"mask": mask}), 422, "must be a number")
    _one_line(post({"region": "white=none:0.5"}, {"mask": mask}), 422, "takes no strength")
    _one_line(post({"region": "white"}, {"mask": mask}), 422, "NAME=STYLE")
    _one_line(post({"region": ["white=none", "WHITE=none"]}, {"mask": mask}), 422, "given twice")
    _one_line(post({"region": "white=none"}, {}), 422, "need regions")
    _one_line(post({"regions": "auto"}, {"mask": mask}), 422, "not both")
    _one_line(post({"regions": "everything"}, {}), 422, "regions must be auto")
    _one_line(post({"regions": "auto", "region": "sky=none"}, {}), 422, "has no region 'sky'")
    _one_line(post({"regions": "auto", "feather": "-3"}, {}), 422, "feather must be between")
    _one_line(post({"regions": "auto", "feather": "nan"}, {}), 422, "feather")
    _one_line(post({"regions": "auto", "second_style": "great_wave", "region": "person=default:0.5"}, {}),
              422, "leave the region's strength out")
    # A mask of another shape is resized to the picture (as --mask): accepted and painted.
    tall = ("t.png", _png(_half_mask(20, 90)))
    answer = post({"region": "white=none", "method": "fast"}, {"mask": tall})
    assert answer.status_code == 200 and answer.json()["status"] == "done", answer.text
