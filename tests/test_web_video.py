"""Video uploads in the web app: a short clip painted by a fast method (the real any-painting network)
end to end, with progress in frames over Server-Sent Events; the limits (bytes, frame size, length,
frame count) refused from the metadata with 4xx, and the frame cap held while decoding; corrupt,
truncated and audio-only files refused in plain words; Gatys refused. The app runs through FastAPI's
test client, as in tests/test_web_api.py; clips come from tests/support/clips.py (96x64, seconds)."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import time
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from support.clips import load_photo, pan, read_video, write_video
from support.web import app_clients

from brushwork.config import ApplyConfig, WebServiceConfig
from brushwork.errors import ImageError
from brushwork.painters import ArbitraryPainter
from brushwork.web.app import create_app
from brushwork.web.methods import ArbitraryJobMethod, GatysJobMethod, ModelJobMethod, shipped_fast_models

with warnings.catch_warnings():  # starlette asks for the newer httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

#: The any-painting network, two frames a batch (so a 12-frame clip reports progress six times).
FAST = ArbitraryJobMethod(ApplyConfig(batch_size=2))
GATYS = GatysJobMethod("random")
FRAMES, SIZE = 12, (96, 64)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """The clips: 12 frames of a pan over a photo at 96x64 and 12 fps, as MP4 with a tone and as WebM
    without; an audio-only MP4."""
    folder = tmp_path_factory.mktemp("clips")
    frames = pan(load_photo(), FRAMES, SIZE)
    paths = {"mp4": folder / "pan.mp4", "webm": folder / "pan.webm", "audio": folder / "tone.m4a"}
    write_video(paths["mp4"], frames, fps=12, audio=True)
    write_video(paths["webm"], frames, fps=12)
    _write_tone(paths["audio"])
    return paths


def _write_tone(path: Path, seconds: float = 0.5) -> None:
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        stream.layout = "mono"
        samples = int(48000 * seconds)
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)[None]
        for start in range(0, samples, 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start:start + 1024]),
                                               format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 48000, start, Fraction(1, 48000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


@pytest.fixture
def make_client(tmp_path: Path):
    with app_clients() as open_client:
        def make(
            job_config: dict | None = None, model: ModelJobMethod | None = None, **overrides
        ) -> TestClient:
            """A client of a fresh app; ``job_config`` overrides what the job runner (not the upload
            checks) is held to, as when a video's metadata lies about it."""
            config = WebServiceConfig(data_dir=str(tmp_path / "data"), gatys_weights="random", **overrides)
            model = model or ModelJobMethod(models=())
            app = create_app(config, {"arbitrary": FAST, "model": model, "gatys": GATYS})
            if job_config:
                app.state.manager.config = dataclasses.replace(config, **job_config)
            return open_client(app)

        yield make


def submit_video(client: TestClient, data: bytes, name: str = "clip.bin", **form):
    """POST /api/jobs with ``data`` as the photo (its name says nothing: the bytes decide)."""
    fields = {"style": "starry_night", "method": "arbitrary", **{k: str(v) for k, v in form.items()}}
    return client.post("/api/jobs", data=fields, files={"photo": (name, data, "application/octet-stream")})


def events(client: TestClient, job: dict) -> list[dict]:
    """Every job state the event stream sends until the job is over."""
    seen = []
    with client.stream("GET", job["urls"]["events"]) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                if seen[-1]["status"] in ("done", "failed", "cancelled"):
                    break
    return seen


def wait_for(client: TestClient, job_id: str, timeout: float = 240.0) -> dict:
    """The job once it is over (seconds on a quiet machine; the time-out allows for a loaded one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish: {job}")


@pytest.mark.slow
def test_a_short_clip_is_painted_with_progress_in_frames(make_client, clips, tmp_path: Path, caplog):
    client = make_client()
    response = submit_video(client, clips["mp4"].read_bytes())
    assert response.status_code == 202, response.text  # a video is followed, never waited for inline
    job = response.json()
    assert job["kind"] == "video" and job["progress"]["total"] == FRAMES
    assert job["options"]["size"] == max(SIZE)  # never painted larger than it is (the default is 512)

    states = events(client, job)
    assert states[-1]["status"] == "done", states[-1]
    running = [s["progress"]["iteration"] for s in states if s["status"] == "running"]
    # frames done rise; the stream samples the job, so a loaded machine may show only some of them
    assert running == sorted(running) and any(0 < n < FRAMES for n in running), running
    assert all(0 <= n <= FRAMES for n in running)
    done = states[-1]
    assert done["progress"] == {
        "iteration": FRAMES, "total": FRAMES, "percent": 100.0, "losses": {}, "eta_seconds": None
    }
    assert (done["width"], done["height"]) == SIZE

    result = client.get(done["urls"]["result"])
    assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
    (tmp_path / "out.mp4").write_bytes(result.content)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    painted, rate, audio_streams = read_video(tmp_path / "out.mp4")
    original, _, _ = read_video(clips["mp4"])
    assert len(painted) == FRAMES and painted[0].shape == (SIZE[1], SIZE[0], 3)
    assert rate == pytest.approx(12) and audio_streams == 1  # the tone is kept
    change = [np.abs(p.astype(np.float32) - o).mean() for p, o in zip(painted, original)]
    assert min(change) > 10, change  # every frame painted, not copied
    download = client.get(done["urls"]["download"])
    assert download.headers["content-disposition"].endswith('.mp4"')

    # Before/after: the photo is the first frame; the preview the latest painted frame.
    photo = Image.open(io.BytesIO(client.get(done["urls"]["photo"]).content))
    assert photo.size == SIZE and np.abs(np.asarray(photo, np.float32) - original[0]).mean() < 8
    preview = Image.open(io.BytesIO(client.get(done["urls"]["preview"].split("?")[0]).content))
    assert preview.format == "JPEG" and preview.size == SIZE
    job_dir = tmp_path / "data" / "jobs" / job["id"]
    assert not (job_dir / "input.video").exists()  # the upload goes once it has been painted
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_webm_is_accepted_by_its_bytes_and_gatys_refuses_video(make_client, clips):
    client = make_client()
    webm = clips["webm"].read_bytes()
    refused = submit_video(client, webm, method="gatys", size=64)
    assert refused.status_code == 422 and "photos only" in refused.json()["detail"]
    accepted = submit_video(client, webm, name="holiday.jpg", size=48)  # the name lies; the bytes decide
    assert accepted.status_code == 202, accepted.text
    job = wait_for(client, accepted.json()["id"])
    assert job["status"] == "done" and (job["width"], job["height"]) == (48, 32), job
    assert job["progress"]["iteration"] == FRAMES


def test_a_trained_model_paints_a_video_too(make_client, clips):
    shipped = [m for m in shipped_fast_models() if m.id == "starry-night"]
    client = make_client(model=ModelJobMethod(shipped, ApplyConfig(batch_size=4)))
    response = submit_video(client, clips["mp4"].read_bytes(), method="model", strength=0.8)
    assert response.status_code == 202, response.text
    job = wait_for(client, response.json()["id"])
    assert job["status"] == "done" and job["progress"]["iteration"] == FRAMES, job
    assert client.get(job["urls"]["result"]).headers["content-type"] == "video/mp4"


@pytest.mark.parametrize(
    "limit, message",
    [
        ({"max_video_seconds": 0.5}, "1.0 s long, over the 0.5 s limit"),
        ({"max_video_frames": 10}, "12 frames, over the 10-frame limit"),
        ({"max_video_pixels": 80 * 60}, "96x64 = 6,144 pixels, over the 4,800-pixel limit"),
        ({"max_video_mb": 0.01}, "larger than the 0.01 MB limit for videos"),
    ],
)
def test_videos_over_a_limit_are_refused_from_their_metadata(make_client, clips, limit, message):
    client = make_client(**limit)
    response = submit_video(client, clips["mp4"].read_bytes())
    assert response.status_code == 413 and message in response.json()["detail"], response.text
    assert client.get("/api/health").json()["lanes"]["fast"]["waiting"] == 0  # nothing was queued


def test_the_frame_cap_holds_while_decoding_when_the_metadata_lies(make_client, clips, tmp_path: Path):
    """The upload checks pass (12 frames declared, 600 allowed) but the decoder meets more frames than
    the job may paint: it stops there, the job fails with the limit named, and no result is left."""
    client = make_client(job_config={"max_video_frames": 5})
    response = submit_video(client, clips["mp4"].read_bytes())
    assert response.status_code == 202, response.text
    job = wait_for(client, response.json()["id"])
    assert job["status"] == "failed" and job["error"] == "the video has more than 5 frames, the limit", job
    assert job["progress"]["iteration"] <= 5
    assert client.get(f"/api/jobs/{job['id']}/result").status_code == 409
    assert sorted(p.name for p in (tmp_path / "data" / "jobs" / job["id"]).iterdir()) == [
        "job.json", "painting.png", "photo.png", "preview.jpg"
    ]


def test_the_painter_stops_at_the_frame_cap_and_when_told(clips, tmp_path: Path):
    """The frame cap, and a stop raised from the progress callback (how a job is cancelled or
    timed out): either way the painter stops mid-video and leaves nothing half-written."""
    painter = ArbitraryPainter(ApplyConfig(size=64, batch_size=2))
    painting = Image.new("RGB", (64, 64), (30, 60, 200))
    target = tmp_path / "capped.mp4"
    with pytest.raises(ImageError, match="more than 4 frames"):
        painter.paint_video(clips["mp4"], target, painting, max_frames=4)
    assert list(tmp_path.iterdir()) == []

    class Stop(Exception):
        pass

    steps = []

    def stop_at_four(step) -> None:
        steps.append((step.done, step.image.size))
        if step.done >= 4:
            raise Stop

    with pytest.raises(Stop):
        painter.paint_video(clips["mp4"], target, painting, callback=stop_at_four)
    assert steps == [(2, (64, 42)), (4, (64, 42))] and list(tmp_path.iterdir()) == []


def test_broken_videos_are_refused_in_plain_words(make_client, clips, caplog):
    client = make_client()
    mp4 = clips["mp4"].read_bytes()
    cases = [
        ("truncated MP4", mp4[: len(mp4) // 2], 400, "the video is corrupt or truncated"),
        ("MP4 header, then zeros", mp4[:40] + bytes(4000), 400, "the video is corrupt or truncated"),
        ("audio only", clips["audio"].read_bytes(), 415, "no video stream"),
        ("neither picture nor video", b"\x00\x01 not a video" * 100, 415, "nor a video"),
    ]
    for name, data, status, message in cases:
        response = submit_video(client, data)
        assert response.status_code == status, (name, response.text)
        assert message in response.json()["detail"], (name, response.json())
    # A WebM cut short opens and starts, then its job fails with one line (no path on the server).
    webm = clips["webm"].read_bytes()
    response = submit_video(client, webm[: int(len(webm) * 0.6)])
    assert response.status_code == 202, response.text
    job = wait_for(client, response.json()["id"])
    assert job["status"] == "failed" and job["error"].startswith("truncated video: it stops at"), job
    assert "/" not in job["error"] and "\n" not in job["error"]
    assert job["progress"]["total"] == FRAMES  # the declared length stays the measure
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback logged
    assert client.get("/api/health").json()["status"] == "ok"
