"""Nothing a user has is overwritten (issue 28): the one output rule of apply, stylize, export and batch.

An output that is one of the run's inputs is refused even with --overwrite; an existing file is refused
unless --overwrite; folder results carry the style in their names, so two styles never collide; a
missing output folder is created by every command; one --size limit everywhere. Tiny images and a
tiny model: seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import noise_png, save_tiny_model
from PIL import Image

from brushwork.cli import main
from brushwork.config import MAX_SIZE, ApplyConfig, EvaluateConfig, StylizeConfig
from brushwork.errors import EXIT_PARTIAL, ConfigError

GATYS = ["--size", "32", "--iterations", "1", "--weights", "random", "--no-multiscale", "-q"]



@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model") / "My Model.safetensors")


def _error(capsys, *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("brushwork: error:"), err
    assert all(w in err for w in words), err
    return err


# --- apply ---------------------------------------------------------------------------------------------
def test_apply_never_writes_over_its_input(tmp_path, model, capsys):
    photo = noise_png(tmp_path / "photo.png")
    before = photo.read_bytes()
    for extra in ([], ["--overwrite"]):  # not even when asked to overwrite
        assert main(["apply", str(model), str(photo), "-o", str(photo), "-q", *extra]) == 2
        _error(capsys, "photo.png", "one of the inputs")
        assert photo.read_bytes() == before
    painting = noise_png(tmp_path / "painting.png", 64, 64, seed=3)
    kept = painting.read_bytes()
    assert main(["apply", "--style", str(painting), str(photo), "-o", str(painting), "-q", "--overwrite",
                 "--size", "32"]) == 2
    _error(capsys, "painting.png", "one of the inputs")
    assert painting.read_bytes() == kept


def test_apply_refuses_an_existing_file_unless_overwrite(tmp_path, model, capsys):
    photo, out = noise_png(tmp_path / "photo.png"), tmp_path / "result.png"
    out.write_bytes(b"someone's picture")
    assert main(["apply", str(model), str(photo), "-o", str(out), "-q"]) == 2
    _error(capsys, "result.png", "exists", "--overwrite")
    assert out.read_bytes() == b"someone's picture"
    assert main(["apply", str(model), str(photo), "-o", str(out), "-q", "--overwrite"]) == 0
    assert Image.open(out).size == (48, 32)


def test_folder_results_carry_the_style_so_two_styles_never_collide(tmp_path, model, capsys):
    photos = tmp_path / "photos"
    noise_png(photos / "photo.jpg")
    noise_png(photos / "sub" / "b.png", seed=1)
    out = tmp_path / "out"
    painting = noise_png(tmp_path / "My Painting.png", 64, 64, seed=5)
    assert main(["apply", "starry-night", str(photos), "-o", str(out), "-q", "--size", "32"]) == 0
    assert main(["apply", str(model), str(photos), "-o", str(out), "-q", "--size", "32"]) == 0
    assert main(["apply", "--style", str(painting), str(photos / "photo.jpg"), "-o", str(out), "-q",
                 "--size", "32"]) == 0
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert names == {"photo_starry-night.jpg", "sub/b_starry-night.png", "photo_my-model.jpg",
                     "sub/b_my-model.png", "photo_my-painting.jpg"}
    a, b = (np.asarray(Image.open(out / n), dtype=float)
            for n in ("photo_starry-night.jpg", "photo_my-model.jpg"))
    assert np.abs(a - b).mean() > 5  # two different pictures, both kept


def test_a_folder_rerun_keeps_what_exists(tmp_path, model, capsys):
    photos = tmp_path / "photos"
    noise_png(photos / "a.png")
    noise_png(photos / "b.png", seed=1)
    out = tmp_path / "out"
    assert main(["apply", str(model), str(photos), "-o", str(out), "-q"]) == 0
    (out / "a_my-model.png").write_bytes(b"edited by hand")
    (out / "b_my-model.png").unlink()
    capsys.readouterr()
    assert main(["apply", str(model), str(photos), "-o", str(out), "-q"]) == EXIT_PARTIAL
    err = capsys.readouterr().err
    assert "a_my-model.png: exists" in err and "--overwrite" in err and "Traceback" not in err
    assert (out / "a_my-model.png").read_bytes() == b"edited by hand" and (out / "b_my-model.png").is_file()
    assert main(["apply", str(model), str(photos), "-o", str(out), "-q", "--overwrite"]) == 0
    assert Image.open(out / "a_my-model.png").size == (48, 32)


def test_apply_output_folder_rules(tmp_path, model, capsys):
    photos = tmp_path / "photos"
    noise_png(photos / "a.png")
    assert main(["apply", str(model), str(photos), "-o", str(photos), "-q"]) == 2
    _error(capsys, "is the input folder")
    # inside the input folder is fine: those files are never taken for photos, now or next time
    for _ in range(2):
        styled = photos / "styled"
        assert main(["apply", str(model), str(photos), "-o", str(styled), "-q", "--overwrite"]) == 0
    assert sorted(p.name for p in (photos / "styled").iterdir()) == ["a_my-model.png"]
    # a missing folder for a single result is created, as for a folder result
    assert main(["apply", str(model), str(photos / "a.png"), "-o", str(tmp_path / "new" / "deep" / "x.png"),
                 "-q"]) == 0
    assert (tmp_path / "new" / "deep" / "x.png").is_file()


# --- stylize -------------------------------------------------------------------------------------------
def test_stylize_never_writes_over_its_inputs_or_an_existing_file(tmp_path, capsys):
    photo, painting = noise_png(tmp_path / "photo.png"), noise_png(tmp_path / "painting.png", seed=2)
    before = {p: p.read_bytes() for p in (photo, painting)}
    for target in (photo, painting):
        assert main(["stylize", str(photo), str(painting), "-o", str(target), "--overwrite", *GATYS]) == 2
        _error(capsys, target.name, "one of the inputs")
    assert {p: p.read_bytes() for p in (photo, painting)} == before
    out = tmp_path / "made" / "here" / "result.png"  # a missing folder is created
    assert main(["stylize", str(photo), str(painting), "-o", str(out), *GATYS]) == 0
    first = out.read_bytes()
    assert main(["stylize", str(photo), str(painting), "-o", str(out), *GATYS]) == 2
    _error(capsys, "result.png", "exists", "--overwrite")
    assert out.read_bytes() == first
    assert main(["stylize", str(photo), str(painting), "-o", str(out), "--overwrite", *GATYS,
                 "--seed", "7", "--init", "random"]) == 0
    assert out.read_bytes() != first
    # --save-every's numbered pictures and loss CSV are results too
    (tmp_path / "run_losses.csv").write_text("kept")
    assert main(["stylize", str(photo), str(painting), "-o", str(tmp_path / "run.png"), "--save-every", "1",
                 *GATYS]) == 2
    _error(capsys, "run_losses.csv", "exists")
    assert (tmp_path / "run_losses.csv").read_text() == "kept" and not (tmp_path / "run.png").exists()


# --- export --------------------------------------------------------------------------------------------
def test_export_never_writes_over_its_model_or_an_existing_file(tmp_path, model, capsys):
    source = tmp_path / "mine.safetensors"
    source.write_bytes(model.read_bytes())
    before = source.read_bytes()
    assert main(["export", str(source), "--half", str(source), "--overwrite"]) == 2
    _error(capsys, "mine.safetensors", "one of the inputs")
    assert source.read_bytes() == before
    onnx_path = tmp_path / "exports" / "mine.onnx"  # a missing folder is created
    assert main(["export", str(source), "--onnx", str(onnx_path)]) == 0
    first = onnx_path.read_bytes()
    assert main(["export", str(source), "--onnx", str(onnx_path)]) == 2
    _error(capsys, "mine.onnx", "exists", "--overwrite")
    assert onnx_path.read_bytes() == first
    assert main(["export", str(source), "--onnx", str(onnx_path), "--overwrite"]) == 0
    assert main(["export", str(source), "--onnx", str(onnx_path), "--half", str(onnx_path)]) == 2
    _error(capsys, "both name")


# --- batch (planning only: no Ray needed) --------------------------------------------------------------
def test_batch_plans_refuse_outputs_that_are_inputs_and_name_the_style(tmp_path):
    from brushwork.batch.plan import Painting, plan_batch

    root = tmp_path / "shop"
    noise_png(root / "0.jpg")
    noise_png(root / "1.jpg", seed=1)
    out = tmp_path / "out"
    items = plan_batch(root, out, Painting("model", "starry-night"))
    assert sorted(Path(i.target).name for i in items) == ["0_starry-night.jpg", "1_starry-night.jpg"]
    manifest = root / "list.csv"
    manifest.write_text("input,output\n0.jpg,\n1.jpg,0.jpg\n")  # row 2 into row 1's photo
    with pytest.raises(ConfigError, match="replace one of its inputs"):
        plan_batch(manifest, root, Painting("model", "starry-night"))
    painting = noise_png(root / "Kiss.png", seed=4)
    manifest.write_text("input,output\n0.jpg,\n1.jpg,Kiss.png\n")  # row 2 into the painting
    with pytest.raises(ConfigError, match="replace one of its inputs"):
        plan_batch(manifest, root, Painting("arbitrary", str(painting)))
    manifest.write_text("input,output\n0.jpg,\n")
    items = plan_batch(manifest, out, Painting("arbitrary", str(painting)))
    assert [Path(i.target).name for i in items] == ["0_kiss.jpg"]


# --- one size rule -------------------------------------------------------------------------------------
def test_one_size_limit_for_every_command(tmp_path, model, capsys):
    too_big = MAX_SIZE + 1
    messages = set()
    for make in (StylizeConfig, ApplyConfig, EvaluateConfig):
        with pytest.raises(ConfigError) as exc:
            make(size=too_big)
        messages.add(str(exc.value).split(" (")[0])
    photo = noise_png(tmp_path / "p.png")
    assert main(["apply", str(model), str(photo), "-o", str(tmp_path / "x.png"), "-q", "--size",
                 str(too_big)]) == 2
    messages.add(_error(capsys).removeprefix("brushwork: error: ").split(" (")[0])
    assert main(["stylize", str(photo), str(photo), "-o", str(tmp_path / "y.png"), "-q", "--size",
                 str(too_big)]) == 2
    messages.add(_error(capsys).removeprefix("brushwork: error: ").split(" (")[0])
    assert messages == {f"size must be between 16 and {MAX_SIZE} pixels, got {too_big}"}
