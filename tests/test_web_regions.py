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
import re
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
from brushwork.web.methods import ArbitraryJobMethod, GatysJobMethod, ModelJobMethod

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
    methods = {"arbitrary": ArbitraryJobMethod(), "model": ModelJobMethod(),
               "gatys": GatysJobMethod("random")}
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
    [("arbitrary", "great_wave", {}), ("model", "starry_night", {}),
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
    form = {"method": "arbitrary", "style": "starry_night", "size": "192", "regions": "auto",
            "region": ["person=great_wave:0.5", "background=default"]}
    job = _wait(client, client.post("/api/jobs", data=form,
                                    files={"photo": ("a.jpg", _photo(WITH_PERSON))}).json())
    assert job["regions"]["source"] == "auto" and job["warning"] is None and "mask" not in job["urls"]
    plain = _wait(client, client.post("/api/jobs", data={"method": "arbitrary", "style": "starry_night",
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
    answer = post({"region": "white=none", "method": "arbitrary"}, {"mask": tall})
    assert answer.status_code == 200 and answer.json()["status"] == "done", answer.text


# --- the page, in a real browser ---------------------------------------------------------------------
ARTIFACTS = Path(__file__).resolve().parents[1] / "out" / "test-artifacts"
#: The photo under the tint, compared with the photo alone at a point (fx, fy of the canvas): the sum of
#: the three channels' differences, 0 where the region is not painted.
TINT = """async ([fx, fy]) => {
  const canvas = document.querySelector('#mask-canvas');
  const img = new Image();
  img.src = document.querySelector('#photo-thumb').src;
  await img.decode();
  const plain = document.createElement('canvas');
  plain.width = canvas.width; plain.height = canvas.height;
  plain.getContext('2d').drawImage(img, 0, 0, canvas.width, canvas.height);
  const x = Math.round(fx * canvas.width), y = Math.round(fy * canvas.height);
  const a = canvas.getContext('2d').getImageData(x, y, 1, 1).data;
  const b = plain.getContext('2d').getImageData(x, y, 1, 1).data;
  return Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2]);
}"""
#: A stroke with a finger: Pointer Events with pointerType touch, as a phone's browser sends them.
TOUCH_STROKE = """([x0, x1, y]) => {
  const canvas = document.querySelector('#mask-canvas');
  const base = {pointerId: 7, pointerType: 'touch', isPrimary: true, bubbles: true, cancelable: true,
                width: 20, height: 20, pressure: 0.5};
  canvas.dispatchEvent(new PointerEvent('pointerdown', {...base, clientX: x0, clientY: y, buttons: 1}));
  for (let i = 1; i <= 8; i++) {
    const x = x0 + (x1 - x0) * i / 8;
    canvas.dispatchEvent(new PointerEvent('pointermove', {...base, clientX: x, clientY: y, buttons: 1}));
  }
  canvas.dispatchEvent(new PointerEvent('pointerup', {...base, clientX: x1, clientY: y}));
}"""


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """The real ``brushwork serve`` and Debian's Chromium, started with tests/support/web.py's helpers."""
    from support.web import CHROMIUM, CHROMIUM_ARGS, serve_cli

    sync_api = pytest.importorskip("playwright.sync_api", reason="Python playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set BRUSHWORK_CHROMIUM)")
    data = tmp_path_factory.mktemp("web-data")
    with serve_cli(data, timeout=30) as url, sync_api.sync_playwright() as play:
        chromium = play.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield url, chromium
        finally:
            chromium.close()


def _share(page) -> float:
    return float(page.get_attribute("#mask-canvas", "data-share"))


@pytest.mark.slow
def test_the_region_editor_auto_a_mouse_and_a_touch_stroke_and_the_kept_person(studio, tmp_path: Path):
    from scipy.ndimage import binary_erosion
    from test_web_browser import _watch  # the page's errors, failed requests and console errors

    server, chromium = studio
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(_photo(WITH_PERSON))
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    problems = _watch(page)
    page.goto(server)
    page.wait_for_selector(".card img")
    assert not page.evaluate("() => document.querySelector('#regions').open")  # collapsed for everyone else
    page.set_input_files("#photo-input", str(photo))
    page.wait_for_function("() => document.querySelector('#photo-label').textContent.includes('astronaut')")
    page.click("#regions summary")
    page.check("#regions-auto")
    page.wait_for_function("() => document.querySelector('#mask-canvas').dataset.state === 'ready'")
    person = _share(page)
    assert 0.3 < person < 0.7, person  # the server's mask, thresholded (0.55 at 256 px)
    # The overlay: her face is tinted, the flag above the shoulder is the photo.
    assert page.evaluate(TINT, [0.45, 0.2]) > 60 and page.evaluate(TINT, [0.1, 0.05]) < 6
    page.locator("#mask-canvas").scroll_into_view_if_needed()

    def at(fx: float, fy: float) -> tuple[float, float]:
        box = page.locator("#mask-canvas").bounding_box()  # where it is now (a click may scroll the page)
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    # The brush with the mouse, across the flag (no person there): it joins the painted part.
    page.mouse.move(*at(0.03, 0.06))
    page.mouse.down()
    page.mouse.move(*at(0.28, 0.06), steps=8)
    page.mouse.up()
    after_mouse = _share(page)
    assert after_mouse > person + 0.005 and page.evaluate(TINT, [0.15, 0.06]) > 60
    # The eraser with a finger, across her face: it leaves the painted part. Undo, then again.
    page.click("label:has(#tool-eraser)")  # the label, as a user clicks it (the radio is hidden)
    stroke = [at(0.36, 0.2)[0], at(0.54, 0.2)[0], at(0.36, 0.2)[1]]
    page.evaluate(TOUCH_STROKE, stroke)
    after_touch = _share(page)
    assert after_touch < after_mouse - 0.005 and page.evaluate(TINT, [0.45, 0.2]) < 6
    page.click("#mask-undo")
    assert _share(page) == pytest.approx(after_mouse, abs=1e-4)
    page.evaluate(TOUCH_STROKE, stroke)
    assert _share(page) == pytest.approx(after_touch, abs=1e-4)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#regions").screenshot(path=str(ARTIFACTS / "regions_editor.png"))

    # Person / painted part: keep the photo; the rest: the chosen painting (the page's defaults).
    assert page.input_value("#region-person") == "none"
    assert page.input_value("#region-background") == "default"
    page.eval_on_selector("#size", "el => { el.value = 192; el.dispatchEvent(new Event('input')); }")
    page.click("#go")
    page.wait_for_selector("#download:not([hidden])", timeout=60_000)
    job_id = re.search(r"#job=([0-9a-f]{32})$", page.url).group(1)
    job = httpx.get(f"{server}/api/jobs/{job_id}").json()
    assert job["status"] == "done" and job["regions"]["source"] == "mask", job
    assert job["regions"]["region"] == ["white=none", "black=default:1.00"]

    def fetch(url: str) -> Image.Image:
        return Image.open(io.BytesIO(httpx.get(server + url).content))

    drawn = np.asarray(fetch(job["urls"]["mask"]).convert("L"))
    assert set(np.unique(drawn)) == {0, 255}  # as drawn: two flat colours
    result = np.asarray(fetch(job["urls"]["result"]).convert("RGB"), np.float64)
    picture = np.asarray(fetch(job["urls"]["photo"]).convert("RGB"), np.float64)
    kept = np.asarray(Image.fromarray(drawn).resize(result.shape[1::-1], Image.NEAREST)) > 127
    band = int(2 * job["regions"]["feather"]) + 1
    square = np.ones((3, 3), bool)  # the filters' reach is a square (box filters), not a diamond
    inside = binary_erosion(kept, square, iterations=band)
    outside = binary_erosion(~kept, square, iterations=band)
    assert inside.sum() > 500 and outside.sum() > 2000, (inside.sum(), outside.sum())
    assert np.abs(result[inside] - picture[inside]).max() <= 1.0  # the kept person: the photo
    assert np.abs(result[outside] - picture[outside]).mean() > 12  # the rest: painted

    # A reload comes back to the job with its regions: the section open, its mask over its photo, and
    # Paint it paints it again with the same settings.
    page.reload()
    page.wait_for_function("() => document.querySelector('#mask-canvas').dataset.state === 'ready'")
    assert page.evaluate("() => document.querySelector('#regions').open")
    assert not page.is_checked("#regions-auto") and page.input_value("#region-person") == "none"
    assert _share(page) == pytest.approx(after_touch, abs=0.01)  # the mask, over the job's 192 px photo
    page.click("#go")
    page.wait_for_function(f"() => !location.hash.includes('{job_id}')")
    page.wait_for_selector("#download:not([hidden])", timeout=60_000)
    again = httpx.get(f"{server}/api/jobs/{re.search(r'#job=([0-9a-f]{32})$', page.url).group(1)}").json()
    assert again["regions"] == job["regions"] and again["status"] == "done"
    assert not problems, problems
