"""Types from bytes (issue 27): a JPEG named ``clip.mp4`` or ``.gif`` is painted as the picture it is,
an MP4 named ``photo.jpg`` as the video it is, on the command line (apply, stylize, batch planning) and
in the web upload; a picture asked for a video result is refused in one line that says what it is."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brushwork.batch.plan import Painting, plan_folder
from brushwork.cli import main
from brushwork.filetype import UNKNOWN, sniff_bytes, sniff_file
from brushwork.media import is_video_input, plan_jobs

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import make_photo, save_tiny_model  # noqa: E402

STYLIZE = ["--size", "32", "--weights", "random", "--no-multiscale", "-q", "--content-layers", "relu2_1",
           "--style-layers", "relu1_1", "--iterations", "1"]


def _jpeg(path: Path | None = None) -> bytes:
    buffer = io.BytesIO()
    make_photo(40, 32).save(buffer, format="JPEG")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def _mp4(path: Path, frames: int = 3) -> Path:
    import av

    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(frames):
            image = np.full((32, 32, 3), 40 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def test_signatures():
    assert sniff_bytes(_jpeg()).kind == "image" and sniff_bytes(_jpeg()).suffix == ".jpg"
    assert sniff_bytes(b"GIF89a\x01\x00").kind == "gif"
    assert sniff_bytes(b"\x00\x00\x00\x20ftypisom").name == "an MP4/MOV video"
    assert sniff_bytes(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm").suffix == ".webm"
    assert sniff_bytes(b"RIFF\x10\x00\x00\x00AVI LIST").kind == "video"
    assert sniff_bytes(b"RIFF\x10\x00\x00\x00WEBPVP8 ").kind == "image"
    assert sniff_bytes(b"") is UNKNOWN and sniff_bytes(b"not a picture at all") is UNKNOWN


def test_the_bytes_decide_and_the_name_only_when_they_say_nothing(tmp_path):
    jpeg_mp4, jpeg_gif = tmp_path / "clip.mp4", tmp_path / "anim.gif"
    _jpeg(jpeg_mp4), _jpeg(jpeg_gif)
    video_jpg = _mp4(tmp_path / "photo.jpg")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    assert not is_video_input(jpeg_mp4) and not is_video_input(jpeg_gif)
    assert is_video_input(video_jpg) and sniff_file(video_jpg).kind == "video"
    assert is_video_input(broken)  # unknown bytes: its name says video, and it is refused as one
    jobs = {j.source.name: j for j in plan_jobs([str(tmp_path)], tmp_path / "out", style="s")}
    # A result is named for what it is, never under a name that lies about it.
    assert jobs["clip.mp4"].target.name == "clip_s.jpg" and not jobs["clip.mp4"].video
    assert jobs["anim.gif"].target.name == "anim_s.jpg" and not jobs["anim.gif"].video
    assert jobs["photo.jpg"].target.name == "photo_s.mp4" and jobs["photo.jpg"].video


def test_apply_paints_a_jpeg_named_mp4_and_refuses_a_video_result_for_it(tmp_path, model, capsys):
    clip = tmp_path / "in" / "clip.mp4"
    _jpeg(clip)
    out = tmp_path / "out"
    assert main(["apply", str(model), str(clip.parent), "-o", str(out), "-q", "--engine", "torch"]) == 0
    result = out / "clip_tiny.jpg"
    with Image.open(result) as image:
        assert image.format == "JPEG" and image.size == (40, 32)
    one = tmp_path / "one.png"
    assert main(["apply", str(model), str(clip), "-o", str(one), "-q", "--engine", "torch"]) == 0
    assert (tmp_path / "one.png").is_file()
    capsys.readouterr()
    assert main(["apply", str(model), str(clip), "-o", str(tmp_path / "x.mp4"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a JPEG image, whatever its name says" in err[0], err
    assert not (tmp_path / "x.mp4").exists()


def test_stylize_paints_a_jpeg_named_mp4_or_gif(tmp_path, capsys):
    painting = tmp_path / "painting.png"
    make_photo(32, 32, seed=3).save(painting)
    for name in ("clip.mp4", "anim.gif"):
        photo = tmp_path / name
        _jpeg(photo)
        out = tmp_path / f"{photo.stem}.png"
        code = main(["stylize", str(photo), str(painting), "-o", str(out), *STYLIZE])
        assert code == 0, capsys.readouterr()
        assert Image.open(out).size[0] == 32
    capsys.readouterr()
    assert main(["stylize", str(tmp_path / "clip.mp4"), str(painting), "-o", str(tmp_path / "v.mp4"),
                 *STYLIZE]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "clip.mp4 is a JPEG image, whatever its name says, not a video" in err[0], err


def test_stylize_takes_an_mp4_named_jpg_for_the_video_it_is(tmp_path, capsys):
    video = _mp4(tmp_path / "photo.jpg")
    painting = tmp_path / "painting.png"
    make_photo(32, 32, seed=3).save(painting)
    assert main(["stylize", str(video), str(painting), "-o", str(tmp_path / "out.png"), *STYLIZE]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "photo.jpg is an MP4/MOV video; give a video name" in err[0], err


def test_batch_plans_by_bytes_and_names_the_file(tmp_path):
    folder = tmp_path / "in"
    _jpeg(folder / "clip.mp4")
    _mp4(folder / "photo.jpg")
    painting = Painting("arbitrary", str(tmp_path / "p.png"))
    items = {Path(i.source).name: i for i in plan_folder(folder, tmp_path / "out", painting)}
    assert items["clip.mp4"].error == "" and items["clip.mp4"].target.endswith("clip_p.jpg")
    assert items["photo.jpg"].error.startswith(str(folder / "photo.jpg") + ": a video")


def test_the_web_upload_goes_by_the_bytes_too(tmp_path):
    from support.web import PosterizeMethod

    from brushwork.config import WebServiceConfig
    from brushwork.web.app import create_app

    app = create_app(WebServiceConfig(data_dir=str(tmp_path / "data")), {"arbitrary": PosterizeMethod()})
    form = {"style": "posterize", "method": "arbitrary", "size": "64"}
    with TestClient(app, base_url="http://localhost:8000") as client:
        for name, kind in (("clip.mp4", "video/mp4"), ("anim.gif", "image/gif")):
            done = client.post("/api/jobs", data=form, files={"photo": (name, _jpeg(), kind)})
            assert done.status_code == 200, done.text
            assert done.json()["status"] == "done" and done.json().get("kind", "image") == "image"
        video = _mp4(tmp_path / "photo.jpg").read_bytes()
        refused = client.post("/api/jobs", data=form, files={"photo": ("photo.jpg", video, "image/jpeg")})
        assert refused.status_code in (400, 415, 422), refused.text
        assert "video" in refused.json()["detail"]
