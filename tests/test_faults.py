"""Faults, not bad files (issue 27), on the command line: a full disk, runs that are done, signals.

The disk is real: a 1 MiB tmpfs mounted for the test and filled with ``dd`` (root only; skipped with
the reason otherwise). Every command must end in one ``brushwork: error:`` line with exit code
``EXIT_DISK`` (5), leave no temporary file, no half-written result and none of its partial outputs
(``--save-every`` images and CSV, an empty ``samples/`` folder) behind.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brushwork.cli.main import main
from brushwork.errors import EXIT_DISK

FILLER = "filler.bin"
def _train_flag(flag: str) -> bool:
    """Whether ``brushwork train`` has ``flag`` (recipes and validation photos came in one change)."""
    from brushwork.cli.main import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    return flag in train._option_string_actions


#: A tiny TransformerNet from random weights (``--recipe johnson`` where train has recipes).
TRAIN = [*(["--recipe", "johnson"] if _train_flag("--recipe") else []),
         *(["--val-photos", "0"] if _train_flag("--val-photos") else []), "--steps", "2",
         "--image-size", "32",
         "--batch-size", "1", "--width", "4", "--res-blocks", "0", "--loss-weights", "random",
         "--style-layers", "relu1_2",
         "relu2_1", "-q", "--sample-every", "1", "--checkpoint-every", "1"]
STYLIZE = ["--size", "64", "--weights", "random", "--no-multiscale", "-q", "--content-layers", "relu2_1",
           "--style-layers", "relu1_1", "relu2_1"]


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "1m"):
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); the full-disk "
                    "tests need root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill ``disk`` with dd to the last block, then give back ``leave`` bytes (whole pages)."""
    filler = disk / FILLER
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4096"], capture_output=True)
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


@pytest.fixture()
def disk(tmp_path):
    with tmpfs(tmp_path / "disk") as mount:
        yield mount


def noise(path: Path, size=(96, 64), seed=0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)).save(path)
    return path


def left_on(disk: Path) -> list[str]:
    return sorted(str(p.relative_to(disk)) for p in disk.rglob("*") if p.name != FILLER)


def one_disk_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("brushwork: error:")]
    assert len(err) == 1, err
    assert "no space left" in err[0], err[0]
    return err[0]


# --- a full disk -------------------------------------------------------------------------------------
def test_stylize_on_a_full_disk_fails_up_front_in_one_line(disk, tmp_path, capsys):
    photo, painting = noise(tmp_path / "photo.png"), noise(tmp_path / "painting.png", seed=1)
    fill(disk)
    started = time.perf_counter()
    code = main(["stylize", str(photo), str(painting), "-o", str(disk / "out" / "x.png"), "--iterations", "2",
                 *STYLIZE])
    assert code == EXIT_DISK
    one_disk_line(capsys)
    assert left_on(disk) == []  # not even the out/ folder
    assert time.perf_counter() - started < 5  # the probe writes a page: no optimisation ran


def test_stylize_save_every_takes_its_files_back_when_the_disk_fills(disk, tmp_path, capsys):
    photo, painting = noise(tmp_path / "photo.png"), noise(tmp_path / "painting.png", seed=1)
    fill(disk, leave=6 * 4096)  # the probe and a numbered image or two fit, not the whole run
    code = main(["stylize", str(photo), str(painting), "-o", str(disk / "x.png"), "--iterations", "20",
                 "--save-every", "1", *STYLIZE])
    assert code == EXIT_DISK
    line = one_disk_line(capsys)
    assert "--save-every file(s) of this run" in line
    assert left_on(disk) == []  # no x_0001.png, no x_losses.csv, no .x.*.tmp


def test_export_on_a_full_disk(disk, capsys):
    fill(disk, leave=2 * 4096)
    code = main(["export", "starry-night", "--onnx", str(disk / "m.onnx")])
    assert code == EXIT_DISK
    one_disk_line(capsys)
    assert left_on(disk) == []


def test_train_on_a_full_disk_leaves_no_empty_samples_folder(disk, tmp_path, capsys):
    photos = tmp_path / "photos"
    for i in range(8):
        noise(photos / f"p{i}.png", seed=i)
    painting = noise(tmp_path / "painting.png", size=(64, 64), seed=9)
    fill(disk)
    assert main(["train", str(painting), "--data", str(photos), "-o", str(disk / "run"), *TRAIN]) == EXIT_DISK
    one_disk_line(capsys)
    assert left_on(disk) == []
    os.unlink(disk / FILLER)
    fill(disk, leave=3 * 4096)  # room for the probe and a sample grid or two, not a checkpoint
    assert main(["train", str(painting), "--data", str(photos), "-o", str(disk / "run"), *TRAIN]) == EXIT_DISK
    one_disk_line(capsys)
    assert left_on(disk) == []  # nothing to resume from: the grids and the folders went too


def test_batch_on_a_full_disk_is_refused_before_ray(disk, tmp_path, capsys, monkeypatch):
    ray = pytest.importorskip("ray")

    def init(*args, **kwargs):
        raise AssertionError("ray.init was called")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    noise(tmp_path / "in" / "a.png")
    fill(disk)
    assert main(["batch", str(tmp_path / "in"), "-o", str(disk / "out"), "--model", "starry-night", "-q"]) \
        == EXIT_DISK
    one_disk_line(capsys)
    assert left_on(disk) == []


# --- runs that are done -----------------------------------------------------------------------------
def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resume_of_a_finished_run_changes_no_byte(tmp_path, capsys):
    photos = tmp_path / "photos"
    for i in range(8):
        noise(photos / f"p{i}.png", seed=i)
    for i in range(3):  # unusable files: skipped.txt lists them (pipes when listed, bad JPEGs when read)
        (photos / f"bad{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
        os.mkfifo(photos / f"pipe{i}.jpg")
    painting = noise(tmp_path / "painting.png", size=(64, 64), seed=9)
    run = tmp_path / "run"
    args = ["train", str(painting), "--data", str(photos), "-o", str(run), *TRAIN]
    assert main(args) == 4  # files skipped
    before = _snapshot(run)
    assert len(before["skipped.txt"].splitlines()) >= 3
    capsys.readouterr()
    started = time.perf_counter()
    assert main([*args, "--resume"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert _snapshot(run) == before
    assert time.perf_counter() - started < 10  # the loss network is not even loaded


@pytest.mark.skipif(not _train_flag("--val-data"), reason="needs train --val-data")
def test_only_validation_photo_corrupt_falls_back_and_says_so(tmp_path, capsys):
    photos = tmp_path / "photos"
    for i in range(8):
        noise(photos / f"p{i}.png", seed=i)
    val = tmp_path / "val"
    val.mkdir()
    (val / "held_out.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    painting = noise(tmp_path / "painting.png", size=(64, 64), seed=9)
    at = TRAIN.index("--val-photos")
    args = TRAIN[:at] + TRAIN[at + 2:]  # validation figures off below, sample grids on
    run = tmp_path / "run"
    code = main(["train", str(painting), "--data", str(photos), "--val-data", str(val), "-o", str(run), *args,
                 "--val-photos", "0"])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "none of the validation photos could be read" in err and "held_out.jpg" in err
    assert sorted(p.name for p in (run / "samples").glob("step_*.png"))  # sample grids were made


def test_sigint_as_a_finished_run_exits_is_not_a_signal_death(tmp_path):
    """The CLI's own process: a SIGINT that arrives once the command has returned (as the console
    script's ``sys.exit(main())`` unwinds, or Python shuts down) must not turn a finished run into a
    death by SIGINT (rc -2)."""
    script = ("import os, signal, sys\n"
              "from brushwork.cli import main\n"
              "sys.argv = ['brushwork', 'models']\n"
              "code = main()\n"
              "os.kill(os.getpid(), signal.SIGINT)  # the Ctrl-C lands as the finished run exits\n"
              "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])



# --- batch: plans and checks its outputs before Ray --------------------------------------------------
@pytest.fixture()
def no_ray(monkeypatch):
    ray = pytest.importorskip("ray")

    def init(*args, **kwargs):
        raise AssertionError("ray.init was called")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)


def test_batch_with_nothing_left_to_do_starts_no_ray(tmp_path, capsys, no_ray):
    from brushwork.batch.plan import Painting, plan_batch

    source = tmp_path / "in"
    for i in range(3):
        noise(source / f"p{i}.png", seed=i)
    out = tmp_path / "out"
    for item in plan_batch(source, out, Painting("model", "starry-night")):  # a finished earlier run
        noise(Path(item.target), seed=7)
    started = time.perf_counter()
    assert main(["batch", str(source), "-o", str(out), "--model", "starry-night", "-q"]) == 0
    assert time.perf_counter() - started <= 2.0
    assert "0 painted, 3 skipped (already there)" in capsys.readouterr().out
    assert (out / "batch_report.csv").read_text().count(",skipped,") == 3


def test_batch_on_a_read_only_output_is_refused_before_ray(tmp_path, capsys, no_ray):
    noise(tmp_path / "in" / "a.png")
    with tmpfs(tmp_path / "ro") as mount:
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        started = time.perf_counter()
        code = main(["batch", str(tmp_path / "in"), "-o", str(mount / "out"), "--model", "starry-night",
                     "-q"])
        assert code == 2
        err = capsys.readouterr().err
        assert "not writable" in err and len(err.strip().splitlines()) == 1, err
        assert time.perf_counter() - started <= 2.0


def test_batch_reports_a_link_under_its_own_name_and_names_failed_files(tmp_path, capsys, no_ray):
    from brushwork.batch.plan import Painting, plan_batch

    source = tmp_path / "in"
    real = noise(tmp_path / "elsewhere" / "real.png")
    source.mkdir()
    (source / "link.png").symlink_to(real)
    (source / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    plan = plan_batch(source, tmp_path / "out", Painting("model", "starry-night"))
    items = {Path(i.source).name: i for i in plan}
    assert items["link.png"].source == str(source / "link.png")  # not .../elsewhere/real.png
    assert items["clip.mp4"].error.startswith(str(source / "clip.mp4"))


def test_batch_warns_before_ray_when_the_disk_looks_too_small(tmp_path, capsys, no_ray):
    """The estimate (pixels x bytes per pixel of the output format) against the free space, said
    before Ray starts; an estimate is a warning, not a refusal (the run then starts: here it meets
    the stub of ray.init)."""
    from brushwork.batch.checks import output_bytes
    from brushwork.batch.plan import Painting, plan_batch

    source = tmp_path / "in"
    for i in range(4):
        noise(source / f"p{i}.png", size=(400, 300), seed=i)
    items = plan_batch(source, tmp_path / "elsewhere", Painting("model", "starry-night"))
    assert 4 * 400 * 300 * 1.4 < output_bytes(items) < 4 * 400 * 300 * 1.6  # PNG outputs
    assert output_bytes(items, size=200) < output_bytes(items) / 3.5  # --size 200 of 400 px
    with tmpfs(tmp_path / "small", size="256k") as mount:
        assert main(["batch", str(source), "-o", str(mount / "out"), "--model", "starry-night", "-q"]) != 0
        err = capsys.readouterr().err
        assert "brushwork: warning:" in err and "free" in err and "may write about" in err, err
        assert err.index("warning") < err.index("ray.init was called")  # said before Ray starts
        assert main(["batch", str(source), "-o", str(mount / "out"), "--model", "starry-night", "-q",
                     "--size", "32"]) != 0
        err = capsys.readouterr().err
        assert "warning" not in err and "ray.init was called" in err  # room enough: no warning
