"""Faults in the web app (issue 27): a full disk under a real server, a dying worker thread, and pages
of other sites in the user's browser.

* Full disk: an 8 MB tmpfs is the data folder; it is filled (dd) to one page more than a job's inputs
  need, then to the last page, then emptied. Every job ends (failed with a message, never "running" or
  "queued" for ever), no answer is a 500, submissions on a full disk get 507, ``/api/health`` says
  unhealthy while nothing can be written and ok again after, with every worker alive, and jobs
  submitted after space is freed are painted.
* A worker killed by an exception no job handler catches is replaced by the supervisor; its job fails.
* Security: a cross-site POST is 403, a foreign Host is 400, static files carry the page's headers, and
  an exposed server keeps a job's files and cancel to the browser that submitted it.
"""

from __future__ import annotations

import io
import math
import os
import time
import warnings
from pathlib import Path

import httpx
import pytest
from support.web import GatedMethod, PosterizeMethod, serve_in_thread
from test_faults import FILLER, fill, tmpfs

from brushwork.config import WebServiceConfig
from brushwork.web.app import create_app
from brushwork.web.routes.pages import PAGE_HEADERS

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import make_photo  # noqa: E402

PAGE = 4096


def _png(seed: int = 0, size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    make_photo(*size, seed=seed).save(buffer, format="PNG")
    return buffer.getvalue()


def _submit(client: httpx.Client, seed: int = 0) -> httpx.Response:
    return client.post("/api/jobs", data={"style": "posterize", "method": "arbitrary", "size": "64"},
                       files={"photo": ("photo.png", _png(seed), "image/png")})


def _wait_end(client: httpx.Client, job_id: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        view = client.get(f"/api/jobs/{job_id}").json()
        if view["status"] in ("done", "failed", "cancelled") or time.monotonic() > deadline:
            return view
        time.sleep(0.05)


def _pages(folder: Path) -> int:
    return sum(math.ceil(p.stat().st_size / PAGE) for p in folder.iterdir() if p.is_file())


@pytest.mark.slow
def test_full_disk_fails_jobs_with_a_message_507s_and_recovers(tmp_path: Path):
    with tmpfs(tmp_path / "data", "8m") as data:
        config = WebServiceConfig(data_dir=str(data), fast_workers=2, fast_inline_wait=5.0)
        app = create_app(config, {"arbitrary": PosterizeMethod()})
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30.0) as client:
            first = _submit(client)
            assert first.status_code == 200 and first.json()["status"] == "done", first.text
            folder = data / "jobs" / first.json()["id"]
            inputs = math.ceil((folder / "photo.png").stat().st_size / PAGE) + 1  # photo and job.json
            assert _pages(folder) > inputs

            fill(data, leave=(inputs + 1) * PAGE)  # the inputs fit, the job's later writes do not
            answers = []
            for seed in range(1, 6):  # more jobs than workers: before, each one killed a worker
                answer = _submit(client, seed)
                assert answer.status_code in (200, 202, 507), answer.text
                answers.append(answer)
                if answer.status_code != 507:
                    view = _wait_end(client, answer.json()["id"])
                    assert view["status"] == "failed", view
                    assert "disk is full" in view["error"], view["error"]
                else:
                    assert "disk is full" in answer.json()["detail"]
            assert any(a.status_code != 507 for a in answers)  # one was accepted and failed cleanly
            health = client.get("/api/health")
            assert health.json()["workers_alive"] == 2

            os.unlink(data / FILLER)
            fill(data)  # the last page gone
            full = _submit(client, 9)
            assert full.status_code == 507, full.text
            assert "disk is full" in full.json()["detail"]
            time.sleep(2.1)  # the health probe's measurement is reused for 2 s
            health = client.get("/api/health")
            assert health.status_code == 503, health.text
            assert health.json()["status"] == "unhealthy" and health.json()["disk"]["writable"] is False

            os.unlink(data / FILLER)  # space freed: back to normal without a restart
            time.sleep(2.1)
            health = client.get("/api/health")
            assert health.status_code == 200, health.text
            body = health.json()
            assert body["status"] == "ok" and body["workers_alive"] == body["workers"] == 2
            assert body["disk"]["free_bytes"] > 4 * 2**20
            for seed in range(10, 14):
                answer = _submit(client, seed)
                assert answer.status_code in (200, 202), answer.text
                assert _wait_end(client, answer.json()["id"])["status"] == "done"
            left = [p.name for p in (data / "jobs").rglob(".*.tmp")]
            assert left == []


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_worker_is_replaced_and_its_job_fails(tmp_path: Path):
    dying = GatedMethod(fail=SystemExit("a worker-killing bug"))  # not an Exception: no handler takes it
    config = WebServiceConfig(data_dir=str(tmp_path / "data"), gatys_workers=1)
    app = create_app(config, {"arbitrary": PosterizeMethod(), "gatys": dying})
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30.0) as client:
        photo, painting = _png(), _png(1, (40, 40))
        submitted = client.post("/api/jobs", data={"method": "gatys", "size": "32", "iterations": "3"},
                                files={"photo": ("p.png", photo, "image/png"),
                                       "painting": ("a.png", painting, "image/png")})
        assert submitted.status_code == 202, submitted.text
        view = _wait_end(client, submitted.json()["id"])
        assert view["status"] == "failed" and "worker" in view["error"], view
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            health = client.get("/api/health").json()
            if health["restarts"] >= 1 and health["workers_alive"] == health["workers"]:
                break
            time.sleep(0.1)
        assert health["restarts"] >= 1 and health["workers_alive"] == health["workers"], health
        dying.fail = None
        dying.release()
        again = client.post("/api/jobs", data={"method": "gatys", "size": "32", "iterations": "3"},
                            files={"photo": ("p.png", photo, "image/png"),
                                   "painting": ("a.png", painting, "image/png")})
        assert _wait_end(client, again.json()["id"])["status"] == "done"


# --- the API answers its own page ------------------------------------------------------------------
def _client(tmp_path: Path, **config) -> TestClient:
    settings = WebServiceConfig(data_dir=str(tmp_path / "data"), **config)
    app = create_app(settings, {"arbitrary": PosterizeMethod()})
    return TestClient(app, base_url="http://localhost:8000")


FORM = {"style": "posterize", "method": "arbitrary", "size": "64"}


def test_cross_site_posts_are_refused_and_the_own_page_is_not(tmp_path: Path):
    with _client(tmp_path) as client:
        files = {"photo": ("p.png", _png(), "image/png")}
        for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                        {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:9999"},
                        {"Origin": "null"}):
            refused = client.post("/api/jobs", data=FORM, files=files, headers=headers)
            assert refused.status_code == 403, (headers, refused.text)
            assert "only this server's own page" in refused.json()["detail"]
        assert list((tmp_path / "data" / "jobs").iterdir()) == []  # nothing was stored
        own = {"Origin": "http://localhost:8000", "Sec-Fetch-Site": "same-origin"}
        done = client.post("/api/jobs", data=FORM, files=files, headers=own)
        assert done.status_code == 200, done.text
        assert client.post("/api/jobs", data=FORM, files=files).status_code == 200  # curl: no headers
        job = done.json()["id"]
        evil = {"Origin": "https://evil.example"}
        assert client.post(f"/api/jobs/{job}/cancel", headers=evil).status_code == 403


def test_foreign_host_names_are_refused(tmp_path: Path):
    with _client(tmp_path, allowed_host=("paint.lan",)) as client:
        for host in ("evil.example", "evil.example:8000", "localhost.evil.example"):
            answer = client.get("/api/styles", headers={"Host": host})
            assert answer.status_code == 400, (host, answer.status_code)
            assert "--allowed-host" in answer.json()["detail"]
        for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "192.168.1.20:8000", "paint.lan",
                     "app.localhost"):
            assert client.get("/api/styles", headers={"Host": host}).status_code == 200, host


def test_every_static_file_has_the_pages_security_headers(tmp_path: Path):
    static = Path(__file__).resolve().parents[1] / "src" / "brushwork" / "web" / "static"
    names = [p.name for p in static.iterdir() if p.is_file()]
    assert "index.html" in names
    with _client(tmp_path) as client:
        for name in names:
            answer = client.get(f"/static/{name}")
            assert answer.status_code == 200, name
            for header, value in PAGE_HEADERS.items():
                assert answer.headers.get(header) == value, (name, header)
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_an_exposed_server_keeps_a_jobs_files_to_its_browser(tmp_path: Path):
    with _client(tmp_path, host="0.0.0.0") as client:
        done = client.post("/api/jobs", data=FORM, files={"photo": ("p.png", _png(), "image/png")})
        assert done.status_code == 200, done.text
        token = done.cookies.get("brushwork_owner")
        assert token
        job = done.json()["id"]
        for path in ("result", "photo"):
            assert client.get(f"/api/jobs/{job}/{path}").status_code == 200  # the cookie is sent back
        client.cookies.clear()
        for path in ("result", "photo"):
            assert client.get(f"/api/jobs/{job}/{path}").status_code == 403
            guess, own = {"X-Brushwork-Token": "guess"}, {"X-Brushwork-Token": token}
            assert client.get(f"/api/jobs/{job}/{path}", headers=guess).status_code == 403
            assert client.get(f"/api/jobs/{job}/{path}", headers=own).status_code == 200
        assert client.post(f"/api/jobs/{job}/cancel").status_code == 403
    with _client(tmp_path / "local") as client:  # on loopback a job id is enough, as before
        done = client.post("/api/jobs", data=FORM, files={"photo": ("p.png", _png(), "image/png")})
        assert "brushwork_owner" not in done.cookies
        client.cookies.clear()
        assert client.get(f"/api/jobs/{done.json()['id']}/result").status_code == 200


def test_exposed_start_up_says_what_is_exposed():
    from brushwork.web.security import exposure_warning

    assert exposure_warning(WebServiceConfig()) is None
    text = exposure_warning(WebServiceConfig(host="0.0.0.0", port=8080))
    assert "port 8080" in text and "no login" in text and "--allowed-host" in text
