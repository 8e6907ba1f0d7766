"""Photos as phones make them: a 48 MP JPEG is shrunk on arrival (draft-mode decode, bounded memory),
HEIC is read, a picture under 32 px a side is refused, and bombs are still refused."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_photo  # noqa: E402
from PIL import Image
from support.web import app_clients

from brushwork.config import WebServiceConfig
from brushwork.web.app import create_app
from brushwork.web.methods import GatysJobMethod, ModelJobMethod

GATYS = GatysJobMethod("random")


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def big_jpeg(width: int = 8000, height: int = 6000) -> bytes:
    """A 48 MP phone-sized JPEG (a smooth photo scaled up, with grain: a few MB)."""
    photo = make_photo(400, 300).resize((width, height), Image.Resampling.BILINEAR)
    return encode(photo, "JPEG", quality=85)


@pytest.fixture
def client(tmp_path: Path):
    with app_clients() as open_client:
        config = WebServiceConfig(data_dir=str(tmp_path / "data"), gatys_weights="random")
        yield open_client(create_app(config, {"model": ModelJobMethod(models=()), "gatys": GATYS}))


def paint(client, photo: bytes, name: str, size: int = 64):
    return client.post(
        "/api/jobs",
        data={"style": "starry_night", "method": "gatys", "size": str(size), "iterations": "1"},
        files={"photo": (name, photo, "application/octet-stream")},
    )


def finished(client, job_id: str) -> dict:
    deadline = time.monotonic() + 240  # generous: the machines are shared
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(job)


def test_a_48_megapixel_jpeg_is_shrunk_not_refused(client):
    data = big_jpeg()
    assert len(data) < WebServiceConfig().max_upload_bytes  # within the upload limit, over the pixel one
    response = paint(client, data, "IMG_0001.JPG", size=64)
    assert response.status_code == 202, response.text
    job = finished(client, response.json()["id"])
    assert job["status"] == "done" and (job["width"], job["height"]) == (64, 48), job
    # The photo as the job used it is the upload, shrunk.
    photo = Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/photo").content))
    assert photo.size == (64, 48)


PEAK_RSS = """
import json, sys
from brushwork.images import decode_image
data = open(sys.argv[1], "rb").read()
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:  # resets the peak (VmHWM) to the present RSS
    f.write("5")
image = decode_image(data, max_pixels=100_000_000, reduce_to=int(sys.argv[2]) or None)
print(json.dumps({"before_mb": before, "peak_mb": status("VmHWM"), "size": image.size}))
"""


@pytest.mark.slow
def test_the_48_megapixel_jpeg_decodes_in_bounded_memory(tmp_path: Path):
    """Peak RSS of the decode itself, in a fresh process: in draft mode a 48 MP JPEG needs a few MB
    (its full RGB pixels are 144 MB)."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc/self/clear_refs to measure a peak")
    path = tmp_path / "big.jpg"
    path.write_bytes(big_jpeg())

    def peak(reduce_to: int) -> dict:
        run = subprocess.run([sys.executable, "-c", PEAK_RSS, str(path), str(reduce_to)],
                             capture_output=True, text=True, check=True, timeout=120)
        found = json.loads(run.stdout)
        found["grown_mb"] = found["peak_mb"] - found["before_mb"]
        return found

    drafted, full = peak(1024), peak(0)
    print(f"48 MP JPEG ({path.stat().st_size / 1e6:.1f} MB): decoded for 1024 px at {drafted['size']}, "
          f"peak RSS +{drafted['grown_mb']:.0f} MB; in full at {full['size']}, +{full['grown_mb']:.0f} MB")
    assert 1024 <= max(drafted["size"]) <= 2048 and tuple(full["size"]) == (8000, 6000)
    assert drafted["grown_mb"] < 60 and full["grown_mb"] > 140, (drafted, full)


def test_bombs_are_still_refused(client):
    # A PNG of 48 MP: no draft mode, so its decoded pixels are over the 40 MP limit.
    png = encode(Image.new("RGB", (8000, 6000), (120, 90, 60)), "PNG")
    response = paint(client, png, "big.png")
    assert response.status_code == 413 and "megapixels" in response.json()["detail"], response.text
    # A small JPEG whose header claims 30000x30000: refused from the header, before any pixel.
    data = bytearray(encode(make_photo(40, 30), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = (30000).to_bytes(2, "big") * 2
    response = paint(client, bytes(data), "bomb.jpg")
    assert response.status_code == 413 and "too many pixels" in response.json()["detail"], response.text
    assert client.get("/api/health").json()["status"] == "ok"


def test_a_heic_photo_is_painted(client):
    heif = pytest.importorskip("pillow_heif")
    assert heif  # registered by brushwork.images, not here
    data = encode(make_photo(80, 60), "HEIF", quality=90)
    assert data[4:12] in (b"ftypheic", b"ftypmif1", b"ftypheix")
    response = paint(client, data, "IMG_0002.HEIC", size=64)
    assert response.status_code == 202, response.text
    job = finished(client, response.json()["id"])
    assert job["status"] == "done" and (job["width"], job["height"]) == (64, 48), job
    photo = np.asarray(Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/photo").content)), np.float32)
    expected = np.asarray(make_photo(80, 60).resize((64, 48), Image.Resampling.LANCZOS), np.float32)
    assert np.abs(photo - expected).mean() < 12  # the picture itself, not a grey square


@pytest.mark.parametrize("side", [(1, 1), (31, 200), (20, 20)])
def test_a_photo_under_32_px_a_side_is_refused(client, side):
    response = paint(client, encode(Image.new("RGB", side, (200, 10, 10)), "PNG"), "tiny.png")
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert f"{side[0]}x{side[1]} pixels, too small to paint" in detail and "32 px" in detail
    assert "\n" not in detail


def test_not_an_image_names_the_common_formats_only(client):
    response = paint(client, b"just some notes\n" * 10, "notes.jpg")
    assert response.status_code == 415
    detail = response.json()["detail"]
    assert "JPEG" in detail and "HEIC" in detail and "ICNS" not in detail and "DDS" not in detail


# --- Quality is the command line's recipe, with honest times ---------------------------------------
def test_quality_runs_the_command_lines_defaults_and_says_why_it_stopped(client):
    """A Gatys job given no iterations runs StylizeConfig's schedule and tolerance rule, sized by the
    web's size alone: the same picture as ``brushwork.stylize`` with the same size and weights."""
    import torch

    from brushwork.config import StylizeConfig
    from brushwork.gatys.optimize import stylize
    from brushwork.web.methods import JobOptions

    assert GatysJobMethod.defaults == JobOptions() and JobOptions().iterations is None
    defaults = StylizeConfig()
    assert JobOptions().size == defaults.size and JobOptions().style_weight == defaults.style_weight
    gatys = next(m for m in client.get("/api/methods").json()["methods"] if m["name"] == "gatys")
    assert gatys["defaults"]["iterations"] is None and gatys["defaults"]["size"] == StylizeConfig().size
    assert gatys["plans"]["512"] == [[256, 40], [512, 20]]  # the CLI's 40 + 20 at 512 px

    photo = encode(make_photo(80, 60), "PNG")
    response = client.post(
        "/api/jobs", data={"style": "starry_night", "method": "gatys", "size": "64"},
        files={"photo": ("p.png", photo, "image/png")},
    )
    assert response.status_code == 202, response.text
    assert response.json()["options"]["iterations"] is None
    job = finished(client, response.json()["id"])
    assert job["status"] == "done", job
    config = StylizeConfig(size=64, weights="random")
    assert job["progress"]["total"] == sum(config.iterations_per_scale(1)) == 40
    if job["progress"]["iteration"] < job["progress"]["total"]:  # the tolerance rule stopped it: it says so
        assert job["note"].startswith(f"converged at step {job['progress']['iteration']} of 40"), job
    web = np.asarray(Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/result").content)), np.float32)
    stored = [Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/{k}").content)).convert("RGB")
              for k in ("photo", "painting")]
    torch.manual_seed(0)
    cli = np.asarray(stylize(stored[0], stored[1], config), np.float32)
    assert web.shape == cli.shape and np.abs(web - cli).mean() < 1.0, np.abs(web - cli).mean()


def test_a_running_job_reports_seconds_left(client):
    """While a Quality job runs, its view carries an ETA from the live rate (an upper bound)."""
    photo = encode(make_photo(80, 60), "PNG")
    response = client.post(
        "/api/jobs", data={"style": "starry_night", "method": "gatys", "size": "64", "iterations": "30"},
        files={"photo": ("p.png", photo, "image/png")},
    )
    job_id, seen = response.json()["id"], []
    deadline = time.monotonic() + 240  # generous: the machines are shared
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] == "running" and job["progress"]["iteration"] >= 3:
            seen.append((job["progress"]["iteration"], job["progress"]["eta_seconds"]))
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["status"] == "done" and job["progress"]["eta_seconds"] is None, job
    assert seen and all(eta is not None and eta >= 0 for _, eta in seen), seen
    # The ETA falls as the job goes on.
    assert seen[-1][1] <= seen[0][1] or seen[-1][0] == seen[0][0], seen


def test_the_measured_speed_counts_each_scale_at_its_own_size(client):
    """A multi-scale Quality job's coarse steps cost a quarter of the fine ones: the server's measured
    speed (the page's estimate before a job) counts each step at its own size, not all at the result's."""
    photo = encode(make_photo(80, 60), "PNG")
    response = client.post(
        "/api/jobs", data={"style": "starry_night", "method": "gatys", "size": "384", "iterations": "2"},
        files={"photo": ("p.png", photo, "image/png")},
    )
    job = finished(client, response.json()["id"])
    assert job["status"] == "done" and (job["width"], job["height"]) == (384, 288), job
    gatys = next(m for m in client.get("/api/methods").json()["methods"] if m["name"] == "gatys")
    work = 2 * (192 * 144 + 384 * 288) / 1e6  # two steps at each of the two scales
    elapsed = job["finished"] - job["started"]
    assert abs(gatys["seconds_per_iteration_per_megapixel"] * work / elapsed - 1) < 0.01
