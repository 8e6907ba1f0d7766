"""The web studio's "Make a model of this painting" (web/training.py, routes/training.py).

Real training (train's magenta recipe, the real arbitrary network and VGG19) at 64 px crops, batch 1,
a few steps, validated on 2 held-out photos at 64 px: seconds a step on a loaded 2-core machine. The
server is a real uvicorn in a thread (support.web.serve_in_thread), so a restart is a real lifespan
shutdown and start on the same data folder. Painting jobs use the stand-in ``GatedMethod``, which runs
until released: it shows a painting job running while a training job runs.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import httpx
import pytest
from conftest import make_painting, make_photo
from PIL import Image
from support.web import CHROMIUM, CHROMIUM_ARGS, GatedMethod, app_clients, serve_in_thread

from brushwork.config import TrainConfig, WebServiceConfig
from brushwork.errors import DiskFullError
from brushwork.web.app import create_app
from brushwork.web.methods import ModelJobMethod, default_methods

#: A tiny run of train's default recipe (what the page runs, at its default steps, on a real server).
TINY = TrainConfig(steps=4, image_size=64, batch_size=1, style_size=64, val_size=64, val_photos=2,
                   num_samples=1, sample_every=2)
TERMINAL = ("done", "failed", "cancelled")


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Eight small readable photos (train's minimum)."""
    root = tmp_path_factory.mktemp("train-photos")
    for i in range(8):
        make_photo(96, 72, seed=i).save(root / f"photo{i}.png")
    return root


def make_app(data: Path, photos: Path, steps: int = 4, methods: dict | None = None, **overrides):
    config = WebServiceConfig(data_dir=str(data), train_photos=str(photos), train_checkpoint_every=1,
                              **overrides)
    methods = methods if methods is not None else {"model": ModelJobMethod(models=())}
    return create_app(config, methods, TINY.replace(steps=steps))


def submit_training(url_or_client, name: str = "My Stripes", painting: bytes | None = None, **form):
    post = url_or_client.post if not isinstance(url_or_client, str) else (
        lambda path, **kw: httpx.post(url_or_client + path, timeout=30, **kw))
    files = {"painting": ("mine.png", painting if painting is not None else png(make_painting(96, 96)),
                          "image/png")} if "style" not in form else None
    return post("/api/training", data={"name": name, **form}, files=files)


def wait_training(url: str, job_id: str, until=TERMINAL, timeout: float = 180.0, step: int = 0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/api/training/{job_id}", timeout=10).json()
        if job["status"] in until and job["progress"]["step"] >= step:
            return job
        time.sleep(0.1)
    raise AssertionError(f"training job {job_id} did not reach {until}: {job}")


def events(url: str, job_id: str, timeout: float = 180.0) -> list[dict]:
    """Every event of the job's SSE stream until it ends."""
    seen = []
    with httpx.stream("GET", f"{url}/api/training/{job_id}/events", timeout=timeout) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "training":
                seen.append(json.loads(line[6:]))
    return seen


@pytest.mark.slow
def test_a_training_job_streams_progress_paints_with_fast_and_blocks_no_painting_job(tmp_path, photos):
    gated = GatedMethod()
    model = ModelJobMethod(models=())
    app = make_app(tmp_path / "data", photos, methods={"model": model, "gatys": gated})
    with serve_in_thread(app) as url:
        answer = submit_training(url, "My Stripes")
        assert answer.status_code == 202, answer.text
        job = answer.json()
        assert job["status"] in ("queued", "running") and job["name"] == "my_stripes"
        # A painting job starts and runs while the training job trains: their lanes are apart.
        wait_training(url, job["id"], until=("running",))
        form = {"sample": "canyon", "style": "starry_night", "method": "gatys", "size": "32"}
        painting_job = httpx.post(f"{url}/api/jobs", data=form, timeout=30).json()
        assert gated.started.wait(30), "the painting job waited behind the training job"
        assert httpx.get(f"{url}/api/training/{job['id']}").json()["status"] == "running"
        gated.release()
        seen = events(url, job["id"])
        assert httpx.get(f"{url}/api/jobs/{painting_job['id']}").json()["status"] == "done"
        assert seen[-1]["status"] == "done", seen[-1]
        steps = [e["progress"]["step"] for e in seen]  # each step seen (the last one with "done")
        assert steps == sorted(steps) and {1, 2, 3, 4} <= set(steps), steps
        assert all(e["progress"]["total"] == 4 for e in seen if e["progress"]["step"])
        assert any(e["progress"]["eta_seconds"] is not None for e in seen if e["status"] == "running")
        figures = seen[-1]["validation"]
        assert figures["step"] == 4 and figures["style_x"] > 0 and figures["ssim_x"] > 0, figures
        assert seen[-1]["better_from"] is None or 2 <= seen[-1]["better_from"] <= 4
        # In the gallery without a restart, with its model and painting; Fast (trained model) paints it.
        style = seen[-1]["style"]
        assert style["id"] == "my_stripes" and style["title"] == "My Stripes" and "model" in style["methods"]
        listed = {s["id"]: s for s in httpx.get(f"{url}/api/styles").json()["styles"]}
        assert listed["my_stripes"]["methods"] == style["methods"] and listed["my_stripes"]["painting"]
        assert httpx.get(f"{url}{style['thumbnail']}").status_code == 200
        form = {"sample": "canyon", "style": "my_stripes", "method": "model", "size": "64"}
        painted = httpx.post(f"{url}/api/jobs", data=form, timeout=60)
        assert painted.status_code == 200 and painted.json()["status"] == "done", painted.text
        result = Image.open(io.BytesIO(httpx.get(f"{url}/api/jobs/{painted.json()['id']}/result").content))
        assert max(result.size) == 64
        # The same name again gets its own id: a style id is the server's, never overwritten.
        again = submit_training(url, "My Stripes")
        assert again.status_code == 202 and again.json()["name"] == "my_stripes_2"
        httpx.post(f"{url}/api/training/{again.json()['id']}/cancel")
        assert wait_training(url, again.json()["id"])["status"] == "cancelled"
    models = tmp_path / "data" / "models"
    assert sorted(p.name for p in models.iterdir()) == [f"my_stripes.{x}" for x in ("json", "png",
                                                                                     "safetensors")]


@pytest.mark.slow
def test_a_restart_resumes_training_from_its_checkpoint_and_the_model_stays(tmp_path, photos):
    data = tmp_path / "data"
    STEPS = 12  # noqa: N806  # room to stop mid-run: with 4, a quiet machine finished before the stop took
    with serve_in_thread(make_app(data, photos, steps=STEPS)) as url:
        job = submit_training(url, "Resumed").json()
        wait_training(url, job["id"], until=("running",), step=2)
    record = json.loads((data / "training" / job["id"] / "job.json").read_text())
    assert record["status"] == "running" and 2 <= record["step"] < STEPS, record  # stopped, not finished
    assert (data / "training" / job["id"] / "run" / "checkpoint.safetensors").is_file()
    with serve_in_thread(make_app(data, photos, steps=STEPS)) as url:
        done = wait_training(url, job["id"])
        assert done["status"] == "done", done
        assert done["resumed_from"] == record["step"] and done["progress"]["step"] == STEPS
        assert "resumed" in done["style"]["id"]
    # A later start lists it from the models folder, and paints with it.
    with app_clients() as open_client:
        client = open_client(make_app(data, photos, steps=4))
        styles = {s["id"]: s for s in client.get("/api/styles").json()["styles"]}
        assert "model" in styles["resumed"]["methods"]
        painted = client.post("/api/jobs", data={"sample": "canyon", "style": "resumed", "method": "model",
                                                 "size": "64"})
        assert painted.json()["status"] == "done", painted.text
        assert client.get(f"/api/training/{job['id']}").json()["status"] == "done"


def test_bad_paintings_and_names_get_one_line_4xx(tmp_path, photos):
    with app_clients() as open_client:
        client = open_client(make_app(tmp_path / "data", photos))
        cases = [
            (submit_training(client, painting=b"not an image at all"), 415, "not an image"),
            (submit_training(client, painting=png(make_painting(96, 96))[:60]), 400, ""),
            (submit_training(client, painting=png(make_painting(20, 96))), 422, "at least 32 px"),
            (submit_training(client, name="  "), 422, "name"),
            (submit_training(client, style="no_such_style"), 404, "no style"),
            (client.post("/api/training", data={"name": "x"}), 422, "painting"),
        ]
        for answer, status, text in cases:
            assert answer.status_code == status, (status, answer.text)
            detail = answer.json()["detail"]
            assert isinstance(detail, str) and "\n" not in detail and text in detail, detail
        assert not any((tmp_path / "data" / "training").iterdir())  # nothing stored for a refusal


def test_fewer_than_8_readable_photos_is_refused_with_the_reason(tmp_path):
    few = tmp_path / "few"
    few.mkdir()
    for i in range(7):
        make_photo(96, 72, seed=i).save(few / f"photo{i}.png")
    (few / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    with app_clients() as open_client:
        client = open_client(make_app(tmp_path / "data", few))
        info = client.get("/api/training").json()
        assert info["available"] is False and "7 readable training photo(s)" in info["reason"]
        answer = submit_training(client, style="starry_night")
        assert answer.status_code == 409
        detail = answer.json()["detail"]
        assert "at least 8" in detail and "--train-photos" in detail and str(few) not in detail


def test_a_full_disk_fails_the_job_with_the_message(tmp_path, photos, monkeypatch):
    """The run's files do not fit: the job fails with the painting jobs' disk message (no server path)."""
    import brushwork.fast.train

    class FullDisk:
        def __init__(self, *args, **kwargs):
            raise DiskFullError(f"no space left on device writing {tmp_path}/x", tmp_path)

    monkeypatch.setattr(brushwork.fast.train, "Training", FullDisk)
    with app_clients() as open_client:
        client = open_client(make_app(tmp_path / "data", photos))
        job = submit_training(client, style="starry_night").json()
        deadline = time.monotonic() + 30
        while job["status"] not in TERMINAL and time.monotonic() < deadline:
            time.sleep(0.05)
            job = client.get(f"/api/training/{job['id']}").json()
        assert job["status"] == "failed" and "disk is full" in job["error"], job
        assert str(tmp_path) not in job["error"]
        assert "starry_night" in {s["id"] for s in client.get("/api/styles").json()["styles"]}


@pytest.mark.slow
def test_the_page_makes_a_model_and_its_card_appears(tmp_path, photos):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Python playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from test_web_browser import _watch

    mine = tmp_path / "my_stripes.png"
    make_painting(96, 96).save(mine)
    app = make_app(tmp_path / "data", photos, steps=2, methods=default_methods("random"))
    with serve_in_thread(app) as url, \
            sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems = _watch(page)
        page.goto(url)
        page.wait_for_selector(".card img")
        # The first gallery painting is chosen at the start: it can be trained on as it is.
        page.wait_for_function("!document.querySelector('#train-open').disabled")
        assert "2 steps" in page.text_content("#train-hint")
        with page.expect_file_chooser() as chooser:
            page.click("#upload-card")
        chooser.value.set_files(str(mine))
        page.wait_for_function("!document.querySelector('#train-open').disabled")
        page.click("#train-open")
        assert page.input_value("#train-name") == "my_stripes"
        page.fill("#train-name", "Stripes of mine")
        page.click("#train-start")
        page.wait_for_selector("#train-progress:not([hidden])")
        card = page.wait_for_selector('.card:has(input[value="stripes_of_mine"])', timeout=180_000)
        assert "Stripes of mine" in card.inner_text() and "has a trained model" in card.inner_text()
        assert "in the gallery" in page.text_content("#train-status")
        assert "Against Fast" in page.text_content("#train-figure")
        assert page.get_attribute("#train-bar", "value") == "100"
        artifacts = Path(__file__).resolve().parents[1] / "out" / "test-artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        page.locator("#train").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "train_done.png"))  # for people to look at
        card.click()  # app.js takes the new card as any other
        assert page.is_checked('input[value="stripes_of_mine"]')
        browser.close()
    assert problems == [], problems


def test_a_job_left_running_by_a_killed_server_is_queued_again_with_resume(tmp_path, photos, monkeypatch):
    """A SIGKILL writes nothing at the end: the record still says running, the run folder holds the last
    periodic checkpoint. The next start queues it and hands train ``resume=True``."""
    import brushwork.fast.train

    calls = []

    class Recording:
        def __init__(self, painting, data, out, config, *, resume=False, vgg=None):
            calls.append((Path(out), resume))
            raise DiskFullError("stop here", Path(out))  # ends the job at once

    folder = tmp_path / "data" / "training" / ("ab" * 16)
    (folder / "run").mkdir(parents=True)
    (folder / "run" / "checkpoint.safetensors").write_bytes(b"checkpoint")
    (folder / ".job.json.x.tmp").write_text("half a record")
    make_painting(96, 96).save(folder / "painting.png")
    record = {"id": "ab" * 16, "name": "killed", "title": "Killed", "source": "upload", "status": "running",
              "step": 3, "total": 10, "created": time.time()}
    (folder / "job.json").write_text(json.dumps(record))
    monkeypatch.setattr(brushwork.fast.train, "Training", Recording)
    monkeypatch.setattr("brushwork.web.training.TrainingManager.loss_network", lambda self: None)
    with app_clients() as open_client:
        client = open_client(make_app(tmp_path / "data", photos))
        deadline = time.monotonic() + 30
        while not calls and time.monotonic() < deadline:
            time.sleep(0.05)
        assert calls == [(folder / "run", True)]
        assert not (folder / ".job.json.x.tmp").exists()
        job = client.get(f"/api/training/{'ab' * 16}").json()
        assert job["name"] == "killed" and job["progress"]["step"] == 3
