"""Issue 15's CLI failures, one test each: pipes and devices, thin images, long names, output paths,
partial-success exit codes, an unknown model's empty folder. Fast: tiny images, a tiny model."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from conftest import noise_png, save_tiny_model
from PIL import Image

from brushwork.cli import main
from brushwork.errors import EXIT_PARTIAL, ImageError
from brushwork.fileio import atomic_path
from brushwork.images import MIN_SIDE, open_image, read_input_file

GATYS = ["--size", "32", "--iterations", "1", "--weights", "random", "--no-multiscale", "-q"]



@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def _one_line_error(capsys, *names: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("brushwork: error:"), err
    assert all(n in err for n in names), err
    return err


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "dev_urandom", "socket", "folder"])
def test_only_regular_files_are_read(tmp_path, kind, capsys):
    path = tmp_path / "x.jpg"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        path = tmp_path / "s.jpg"
        here = os.getcwd()
        os.chdir(tmp_path)
        try:
            socket.socket(socket.AF_UNIX).bind(path.name)
        finally:
            os.chdir(here)
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero" if kind == "dev_zero" else "/dev/urandom")
    with pytest.raises(ImageError, match="x.jpg|s.jpg"):
        read_input_file(path)  # returns at once: a pipe would block a plain open() forever
    painting = noise_png(tmp_path / "p.png")
    out = noise_png(tmp_path / "out.png", 8, 8)
    before = out.read_bytes()
    for argv in (["stylize", str(path), str(painting)], ["stylize", str(painting), str(path)]):
        assert main([*argv, "-o", str(out), "--overwrite", *GATYS]) == 2  # even when allowed to replace
        _one_line_error(capsys, path.name)
    assert out.read_bytes() == before


def test_reads_are_bounded(tmp_path, monkeypatch):
    big = tmp_path / "big.png"
    with open(big, "wb") as handle:
        handle.truncate(64 * 1024)
    with pytest.raises(ImageError, match="big.png.*limit"):
        read_input_file(big, max_bytes=1024)


@pytest.mark.parametrize("size", [(1, 5000), (5000, 1), (100000, 1), (8, 8)])
def test_thin_images_refused_before_any_network(tmp_path, size, model, capsys):
    thin = tmp_path / "thin.png"
    Image.new("RGB", size, (90, 20, 200)).save(thin)
    painting = noise_png(tmp_path / "p.png")
    if max(size) > 32:  # an 8x8 picture is simply enlarged to --size 32 by stylize; apply keeps it 8x8
        assert main(["stylize", str(thin), str(painting), "-o", str(tmp_path / "r.png"), *GATYS]) == 2
        _one_line_error(capsys, "thin.png", "16 px")
        assert main(["stylize", str(painting), str(thin), "-o", str(tmp_path / "r.png"), *GATYS]) == 2
        _one_line_error(capsys, "thin.png", "16 px")
    assert main(["apply", str(model), str(thin), "-o", str(tmp_path / "out"), "-q"]) == 2
    _one_line_error(capsys, "thin.png", f"{MIN_SIDE} px")
    assert not (tmp_path / "r.png").exists()


def test_default_layers_need_16_px_at_the_first_scale(tmp_path, capsys):
    photo = noise_png(tmp_path / "wide.png", 400, 10)  # at --size 256: 256x6, too thin for relu5_1
    painting = noise_png(tmp_path / "p.png")
    code = main(["stylize", str(photo), str(painting), "-o", str(tmp_path / "r.png"), "--size", "256",
                 "--weights", "random", "--iterations", "1", "-q"])
    assert code == 2
    _one_line_error(capsys, "wide.png", "256x6")


def test_folder_run_skips_bad_files_and_exits_partial(tmp_path, model, capsys):
    src = tmp_path / "in"
    src.mkdir()
    noise_png(src / "a.png")
    Image.new("RGB", (1, 5000)).save(src / "b_thin.png")
    os.mkfifo(src / "c_pipe.png")
    (src / "d_dev.png").symlink_to("/dev/zero")
    noise_png(src / "e.png", seed=1)
    noise_png(src / ("L" * 244 + ".png"), seed=2)  # its temporary name used to overflow NAME_MAX
    out = tmp_path / "out"
    assert main(["apply", str(model), str(src), "-o", str(out), "-q", "--batch-size", "1"]) == EXIT_PARTIAL
    err = capsys.readouterr().err
    for name in ("b_thin.png", "c_pipe.png", "d_dev.png"):
        assert name in err
    assert "skipped 3 file(s) of 6" in err
    written = sorted(p.name for p in out.iterdir())
    # later good files still written, named after the photo and the model
    assert written == sorted(["a_tiny.png", "e_tiny.png", "L" * 244 + "_tiny.png"])


def test_long_names_fit_in_temporary_names(tmp_path):
    for length in (200, 244, 250, 251):
        target = tmp_path / ("n" * length + ".png")
        with atomic_path(target) as tmp:
            assert len(tmp.name.encode()) <= 255
            tmp.write_bytes(b"x")
        assert target.read_bytes() == b"x"
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_output_names_too_long_refused_before_work(tmp_path, capsys):
    photo, painting = noise_png(tmp_path / "p.png"), noise_png(tmp_path / "s.png")
    out = tmp_path / ("m" * 252 + ".png")
    assert main(["stylize", str(photo), str(painting), "-o", str(out), *GATYS]) == 2
    _one_line_error(capsys, "too long")


def test_output_paths_checked_before_work(tmp_path, model, capsys):
    photo = noise_png(tmp_path / "photo.png")
    existing = tmp_path / "notes.txt"
    existing.write_text("keep")
    # apply/train -o EXISTING_FILE
    assert main(["apply", str(model), str(photo), str(photo), "-o", str(existing), "-q"]) == 2
    _one_line_error(capsys, "notes.txt")
    data = tmp_path / "data"
    data.mkdir()
    noise_png(data / "x.png")
    assert main(["train", str(photo), "--data", str(data), "-o", str(existing), "--steps", "1",
                 "--loss-weights", "random", "-q"]) == 2
    _one_line_error(capsys, "notes.txt")
    assert existing.read_text() == "keep"
    # a target name that is an existing folder: that input is skipped, named
    out = tmp_path / "out"
    (out / "photo_tiny.png").mkdir(parents=True)  # named after the photo and the model
    assert main(["apply", str(model), str(photo), "-o", str(out), "-q"]) == 2
    _one_line_error(capsys, "photo_tiny.png", "existing folder")
    # unwritable places, found before the work (root passes os.access: the check writes)
    assert main(["stylize", str(photo), str(photo), "-o", "/proc/nope.png", *GATYS]) == 2
    _one_line_error(capsys, "/proc")
    assert main(["apply", str(model), str(photo), "-o", "/proc/out/", "-q"]) == 2
    _one_line_error(capsys, "/proc")


def test_apply_single_output_file(tmp_path, model, capsys):
    photo = noise_png(tmp_path / "photo.jpg")
    assert main(["apply", str(model), str(photo), "-o", str(tmp_path / "out.png"), "-q"]) == 0
    assert (tmp_path / "out.png").is_file() and open_image(tmp_path / "out.png").size == (48, 32)
    # several inputs and a file name: refused, nothing made
    assert main(["apply", str(model), str(photo), str(photo), "-o", str(tmp_path / "o2.png"), "-q"]) == 2
    _one_line_error(capsys, "o2.png")
    assert not (tmp_path / "o2.png").exists()


def test_unknown_model_leaves_no_folder(tmp_path, capsys):
    photo = noise_png(tmp_path / "photo.png")
    assert main(["apply", "no-such-style", str(photo), "-o", str(tmp_path / "new"), "-q"]) == 2
    _one_line_error(capsys, "no-such-style")
    assert not (tmp_path / "new").exists()


def test_train_lists_non_regular_photos(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    os.mkfifo(data / "pipe.png")
    style = noise_png(tmp_path / "style.png", 40, 40)
    code = main(["train", str(style), "--data", str(data), "-o", str(tmp_path / "o"), "--steps", "1",
                 "--loss-weights", "random", "-q"])
    assert code == 2
    _one_line_error(capsys, "pipe.png", "named pipe")
