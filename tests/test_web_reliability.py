"""Reliability of `brushwork serve` (issue 15), on real servers and real sockets:

* slow clients (a body or headers trickled one byte every 0.5 s) are cut off after the configured
  time-outs while /api/health stays fast, and the connection cap answers 503 beyond it;
* one format rule for the web app and the command line (``brushwork.images.INPUT_FORMATS``);
* a server SIGKILLed mid-queue and restarted keeps finished results, marks interrupted jobs
  failed, serves new ones, and leaves no half-written file in its data folder.
"""

from __future__ import annotations

import io
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import pytest
from PIL import Image
from support.slowclients import run_slow_clients
from support.web import PosterizeMethod, serve_cli, start_cli_server, stop_cli_server

from brushwork.config import WebServiceConfig
from brushwork.errors import EXIT_PARTIAL
from brushwork.images import INPUT_FORMATS
from brushwork.web.app import create_app
from brushwork.web.jobs import FILES, INTERRUPTED

with warnings.catch_warnings():  # starlette asks for the newer httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import make_painting, make_photo  # noqa: E402

pytestmark = pytest.mark.slow


def _probe_health(url: str, alive) -> list[float]:
    """Milliseconds per GET /api/health, one every 0.1 s while ``alive()``."""
    latencies = []
    with httpx.Client(base_url=url, timeout=10.0) as client:
        while alive():
            started = time.perf_counter()
            assert client.get("/api/health").status_code == 200
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.1)
    return latencies


# --- slow clients ------------------------------------------------------------------------------------
def test_slow_bodies_and_headers_are_cut_off_while_health_stays_fast(tmp_path: Path):
    photo = io.BytesIO()
    make_photo().save(photo, format="PNG")
    with serve_cli(tmp_path, "--body-timeout", "2", "--header-timeout", "2") as url:
        bodies, body_waiter = run_slow_clients(url, 60, "body", interval=0.5, give_up=20)
        heads, head_waiter = run_slow_clients(url, 5, "headers", interval=0.5, give_up=20)
        health = _probe_health(url, lambda: body_waiter.is_alive() or head_waiter.is_alive())
        # A client that sends its upload in time is served as before.
        files = {"photo": ("p.png", photo.getvalue(), "image/png")}
        form = {"style": "starry_night", "method": "arbitrary", "size": "64"}
        served = httpx.post(f"{url}/api/jobs", data=form, files=files, timeout=60)
    print(f"health during 65 slow clients: median {statistics.median(health):.0f} ms, "
          f"max {max(health):.0f} ms; "
          f"bodies cut after {min(r.seconds for r in bodies):.1f}-{max(r.seconds for r in bodies):.1f} s, "
          f"headers after {min(r.seconds for r in heads):.1f}-{max(r.seconds for r in heads):.1f} s")
    assert len(bodies) == 60 and len(heads) == 5
    assert {r.status for r in bodies} == {408}, bodies[:3]
    assert all(2.0 <= r.seconds < 6.0 for r in bodies), max(r.seconds for r in bodies)
    assert all(r.cut_off and 2.0 <= r.seconds < 6.0 for r in heads), heads
    assert statistics.median(health) < 250 and max(health) < 2000, health
    assert served.status_code == 200 and served.json()["status"] == "done", served.text


def test_connection_cap_answers_503_beyond_it(tmp_path: Path):
    with serve_cli(tmp_path, "--body-timeout", "3", "--max-connections", "10") as url:
        inside, first = run_slow_clients(url, 9, "body", interval=0.5, give_up=20)
        time.sleep(1.0)  # nine open connections; the cap counts this one too
        beyond, second = run_slow_clients(url, 5, "body", interval=0.5, give_up=20)
        first.join(30)
        second.join(30)
        after = httpx.get(f"{url}/api/health", timeout=10)  # the slow ones are gone: served again
    assert [r.status for r in inside] == [408] * 9, inside
    assert [r.status for r in beyond] == [503] * 5, beyond
    assert all(r.seconds < 1.0 for r in beyond)
    assert after.status_code == 200


# --- one format rule ---------------------------------------------------------------------------------
#: (Pillow format, suffix): readable ones and a few Pillow opens that the rule refuses.
ACCEPTED = [("TGA", "tga"), ("JPEG2000", "jp2"), ("ICO", "ico"), ("PPM", "ppm"), ("AVIF", "avif"),
            ("QOI", "qoi"), ("PCX", "pcx"), ("SGI", "sgi"), ("DDS", "dds"), ("PNG", "png"),
            ("JPEG", "jpg"), ("WEBP", "webp"), ("GIF", "gif"), ("BMP", "bmp"), ("TIFF", "tif")]
REFUSED = [("EPS", "eps"), ("IM", "im"), ("SPIDER", "spi"), ("MSP", "msp"), ("XBM", "xbm")]


def _write_formats(folder: Path) -> dict[str, Path]:
    folder.mkdir()
    photo = make_photo(64, 48)
    written = {}
    for fmt, suffix in ACCEPTED + REFUSED:
        mode = {"XBM": "1", "MSP": "1", "SPIDER": "L"}.get(fmt, "RGB")
        image = photo.convert(mode)
        path = folder / f"photo_{suffix}.{suffix}"
        image.save(path, format=fmt)
        written[fmt] = path
    return written


def test_one_format_rule_for_the_web_app_and_the_command_line(tmp_path: Path):
    assert {f for f, _ in ACCEPTED} <= INPUT_FORMATS and not {f for f, _ in REFUSED} & INPUT_FORMATS
    files = _write_formats(tmp_path / "in")
    make_painting(64, 64).save(tmp_path / "painting.png")
    # Command line: a folder of every format through `brushwork apply`.
    run = subprocess.run(
        [sys.executable, "-m", "brushwork", "apply", "--style", str(tmp_path / "painting.png"),
         str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--size", "64"],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode in (0, EXIT_PARTIAL), run.stderr
    assert "Traceback" not in run.stderr
    out = tmp_path / "out"
    cli_ok = {fmt for fmt, path in files.items() if list(out.glob(f"{path.stem}_painting.*"))}
    for fmt in {f for f, _ in REFUSED}:
        assert f"the {fmt} format is not one brushwork reads" in run.stderr, (fmt, run.stderr)
    # Web app: each file as an uploaded photo (the posterizing stand-in paints it).
    config = WebServiceConfig(data_dir=str(tmp_path / "data"))
    web_ok, refused = set(), {}
    app = create_app(config, {"arbitrary": PosterizeMethod()})
    with TestClient(app, base_url="http://localhost") as client:
        for fmt, path in files.items():
            response = client.post(
                "/api/jobs",
                data={"style": "posterize", "method": "arbitrary", "size": "64"},
                files={"photo": (path.name, path.read_bytes(), "application/octet-stream")},
            )
            if response.status_code == 200:
                web_ok.add(fmt)
            else:
                refused[fmt] = (response.status_code, response.json()["detail"])
    assert cli_ok == web_ok == {f for f, _ in ACCEPTED}, (cli_ok, web_ok, refused)
    assert all(status == 415 and fmt in detail for fmt, (status, detail) in refused.items()), refused


# --- kill ----------------------------------------------------------------------------------------------
def _half_written(data: Path) -> list[str]:
    """Files in the job store that are temporary leftovers or do not parse/decode completely."""
    bad = []
    for path in (data / "jobs").rglob("*"):
        if path.is_dir():
            continue
        if path.name == "job.json":
            try:
                json.loads(path.read_text())
            except ValueError:
                bad.append(str(path))
        elif path.name in FILES.values():
            try:
                with Image.open(path) as image:
                    image.load()
            except OSError:
                bad.append(str(path))
        else:
            bad.append(str(path))
    return bad


def test_sigkill_mid_queue_keeps_results_fails_interrupted_and_serves_new_jobs(tmp_path: Path):
    data = tmp_path / "data"
    args = ("--gatys-weights", "random", "--gatys-workers", "1", "--preview-every", "1")
    process, url = start_cli_server(data, *args)
    try:
        client = httpx.Client(base_url=url, timeout=120)
        fast = client.post("/api/jobs", data={"sample": "canyon", "style": "starry_night", "size": "64"})
        assert fast.status_code == 200 and fast.json()["status"] == "done", fast.text
        result = client.get(fast.json()["urls"]["result"]).content
        slow = {"sample": "canyon", "style": "starry_night", "method": "gatys", "size": "96",
                "iterations": "1000"}
        queued = [client.post("/api/jobs", data=slow).json()["id"] for _ in range(3)]
        deadline = time.monotonic() + 60
        while client.get(f"/api/jobs/{queued[0]}").json()["progress"]["iteration"] < 3:
            assert time.monotonic() < deadline, "the Gatys job never got going"
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGKILL)  # mid-job, mid-queue, previews being written
        process.wait(10)
    finally:
        stop_cli_server(process)
    assert not [p for p in _half_written(data) if not p.endswith(".tmp")]
    process, url = start_cli_server(data, *args)
    try:
        client = httpx.Client(base_url=url, timeout=120)
        assert _half_written(data) == []  # leftovers of writes cut short are gone
        assert client.get(f"/api/jobs/{fast.json()['id']}/result").content == result
        for job_id in queued:
            job = client.get(f"/api/jobs/{job_id}").json()
            assert job["status"] == "failed" and job["error"] == INTERRUPTED, job
        again = client.post("/api/jobs", data={"sample": "canyon", "style": "great_wave", "size": "64"})
        assert again.status_code == 200 and again.json()["status"] == "done", again.text
        tiny = client.post("/api/jobs", data={**slow, "size": "32", "iterations": "2"}).json()
        deadline = time.monotonic() + 60
        while (job := client.get(f"/api/jobs/{tiny['id']}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert job["status"] == "done", job
    finally:
        stop_cli_server(process)
