"""``brushwork train``'s recipes, validation against the arbitrary network, the stop hook and bad input
(issue 21). Tiny runs: 32 px crops, random loss-network weights."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_TRAIN
from PIL import Image

from brushwork.cli import main
from brushwork.config import RECIPES, TrainConfig
from brushwork.errors import BrushworkError, ConfigError
from brushwork.fast.checkpoint import CHECKPOINT, FINAL_MODEL, LOSSES_CSV
from brushwork.fast.train import Training, train, validation_figures
from brushwork.networks.arbitrary import FoldedTransfer
from brushwork.networks.model_files import load_transformer, read_metadata

SHIPPED = Path(__file__).parents[1] / "src" / "brushwork" / "models"
#: The magenta recipe at test size: Magenta's folded network on 32 px crops, 2 validation photos.
TINY_MAGENTA = dict(image_size=32, batch_size=2, style_size=64, loss_weights="random", sample_every=2,
                    checkpoint_every=2, num_samples=1, val_photos=2, val_size=48)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Nine smooth random photos (one more than the fewest a run accepts)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(1)
    for i in range(9):
        small = rng.random((6, 8, 3)) * 255
        Image.fromarray(small.astype(np.uint8)).resize((48 + 4 * i, 40), Image.Resampling.BICUBIC).save(
            root / f"p{i}.png")
    return root


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_transformer(path)[0].state_dict()


def test_default_recipe_is_the_shipped_models_recipe():
    """No flag = how the shipped models were made (their metadata) but for the style weight (15, the
    weight brushwork's own arbitrary network was trained at; the shipped models used 5), johnson = the
    old defaults."""
    meta = read_metadata(SHIPPED / "starry_night.safetensors")
    config = TrainConfig()
    assert config.recipe == "magenta" and config.init == "arbitrary"
    assert config.loss_scaling == meta["loss_scaling"] == "relative"
    assert config.content_layer == meta["content_layer"] == "relu4_2"
    assert list(config.style_layers) == json.loads(meta["style_layers"])
    assert list(config.style_layer_weights) == json.loads(meta["style_layer_weights"]) == [4, 1, 1, 1, 1]
    assert float(meta["style_weight"]) == 5.0 and config.style_weight == 15.0
    assert config.lr == float(meta["lr"])
    assert config.style_size == json.loads(meta["config"])["style_size"] == 512
    old = TrainConfig(recipe="johnson")
    assert (old.init, old.loss_scaling, old.style_weight, old.lr) == (None, "raw", 0.05, 1e-3)
    assert old.resolved_style_layers == ("relu1_2", "relu2_2", "relu3_4", "relu4_4")
    assert old.default_steps == 2000 and old.batch_size == 4
    # A flag overrides the preset; layers given without weights are weighted equally.
    assert TrainConfig(style_weight=2.0).style_weight == 2.0
    assert TrainConfig(style_layers=("relu1_1", "relu2_1")).style_layer_weights is None
    assert set(RECIPES) == {"magenta", "johnson"}


def test_help_says_what_each_recipe_is_for(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "magenta, the default, is how the shipped models were made" in text
    assert "johnson is the old default" in text and "--resume a run made before --recipe" in text
    assert "(default: magenta 0.0003; johnson 0.001)" in text  # --lr: both presets' values


def test_validation_stop_hook_and_bit_identical_resume(tmp_path, photos, style_image, vgg):
    """The default recipe fine-tunes the folded arbitrary network, measures held-out photos against it,
    stops when ``stop`` says so (a finished run's files at that step), and resumes bit-identically."""
    config = TrainConfig(**TINY_MAGENTA, steps=5)
    straight = train(style_image, photos, tmp_path / "a", config, vgg=vgg)
    assert isinstance(load_transformer(straight)[0], FoldedTransfer)
    rows = list(csv.DictReader((tmp_path / "a" / LOSSES_CSV).open()))
    validated = [int(r["step"]) for r in rows if r["val_style_x"]]
    assert validated == [2, 4, 5]  # every --sample-every steps and the last
    for r in rows:
        assert float(r["elapsed_s"]) > 0
        if r["val_style_x"]:
            assert float(r["val_style"]) > 0 and 0 < float(r["val_ssim"]) <= 1 and float(r["val_style_x"]) > 0

    seen = []
    run = Training(style_image, photos, tmp_path / "b", config, vgg=vgg)
    base = run.validation.baseline
    final = run.fit(seen.append, stop=lambda info: info.done == 3)
    assert read_metadata(final)["steps"] == "3" and (tmp_path / "b" / CHECKPOINT).is_file()
    assert [i.done for i in seen] == [1, 2, 3] and seen[-1].eta == 0 and seen[0].eta > 0
    figures = [validation_figures(i) for i in seen]
    assert figures[1] and figures[2] and not figures[0]
    # The figures are the net's against the arbitrary network's on the same photos.
    assert figures[1]["val_style_x"] == pytest.approx(figures[1]["val_style"] / base["style"])
    assert figures[1]["val_ssim_x"] == pytest.approx(figures[1]["val_ssim"] / base["ssim"])
    resumed = train(style_image, photos, tmp_path / "b", config, vgg=vgg, resume=True)
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [int(r["step"]) for r in csv.DictReader((tmp_path / "b" / LOSSES_CSV).open())]
    assert steps == [1, 2, 3, 4, 5]


def test_minutes_budget_ends_the_run_with_a_model(tmp_path, photos, style_image, vgg):
    config = TrainConfig(**TINY_TRAIN, steps=50, minutes=1e-6)
    final = train(style_image, photos, tmp_path, config, vgg=vgg)
    assert read_metadata(final)["steps"] == "1"
    # train() takes the stop hook too.
    other = train(style_image, photos, tmp_path / "b", config.replace(minutes=None), vgg=vgg,
                  stop=lambda info: info.done == 2)
    assert read_metadata(other)["steps"] == "2"
    # --minutes may change on --resume (it bounds one invocation, not the result).
    final = train(style_image, photos, tmp_path, config.replace(minutes=None, steps=2), vgg=vgg, resume=True)
    assert read_metadata(final)["steps"] == "2"


def _one_line_error(argv: list[str], capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("brushwork: error:"), err
    return err


def test_bad_training_input_is_one_line_and_loses_nothing(tmp_path, photos, style_image, capsys):
    tiny = ["--recipe", "johnson", "--steps", "1", "--image-size", "32", "--batch-size", "1", "--width", "4",
            "--res-blocks", "0", "--loss-weights", "random", "--style-layers", "relu1_2", "-q"]
    few = tmp_path / "few"
    few.mkdir()
    for name in ("p0.png", "p1.png", "p2.png"):
        (few / name).write_bytes((photos / name).read_bytes())
    (few / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    def run(painting, data, out):
        return _one_line_error(["train", str(painting), "--data", str(data), "-o", str(out), *tiny], capsys)

    err = run(style_image, few, tmp_path / "o1")
    assert "3 readable photo(s) of 4" in err and "at least 8" in err and "broken.jpg" in err
    assert not (tmp_path / "o1").exists()

    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(style_image.read_bytes()[:60])
    err = run(corrupt, photos, tmp_path / "o2")
    assert "corrupt.png" in err
    small = tmp_path / "small.png"
    Image.open(style_image).resize((40, 20)).save(small)
    err = run(small, photos, tmp_path / "o3")
    assert "40x20" in err and "32 px" in err
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()

    # An output folder holding another run's files (here a model and its losses, no checkpoint).
    other = tmp_path / "other"
    other.mkdir()
    (other / FINAL_MODEL).write_bytes(b"someone's model")
    (other / LOSSES_CSV).write_text("step\n1\n")
    err = run(style_image, photos, other)
    assert "already holds a training run" in err and FINAL_MODEL in err
    assert (other / FINAL_MODEL).read_bytes() == b"someone's model"
    assert (other / LOSSES_CSV).read_text() == "step\n1\n"
    assert sorted(p.name for p in other.iterdir()) == [LOSSES_CSV, FINAL_MODEL]
    # An output folder inside the photo folder: its samples would be trained on.
    err = run(style_image, photos, photos / "run")
    assert "inside the photo folder" in err and not (photos / "run").exists()
    with pytest.raises(BrushworkError):
        TrainConfig(val_photos=-1)
    with pytest.raises(ConfigError, match="minutes"):
        TrainConfig(minutes=0)


KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from brushwork.config import TrainConfig
    from brushwork.fast.train import train
    from brushwork.networks.weights import load_vgg
    style, data, out, config = sys.argv[1:5]
    def kill(info):
        if info.done == 5:  # after the checkpoint of step 4, in the middle of the run
            os.kill(os.getpid(), signal.SIGKILL)
    train(style, data, out, TrainConfig(**eval(config)), callback=kill,
          vgg=load_vgg("vgg19", "random", progress=False))
""")


@pytest.mark.slow
def test_run_killed_by_sigkill_resumes_bit_identically(tmp_path, photos, style_image, vgg):
    settings = {**TINY_MAGENTA, "steps": 7, "checkpoint_every": 2}
    straight = train(style_image, photos, tmp_path / "a", TrainConfig(**settings), vgg=vgg)
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    argv = [sys.executable, "-c", KILLED_RUN, str(style_image), str(photos), str(tmp_path / "b"),
            repr(settings)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr[-2000:]
    assert not (tmp_path / "b" / FINAL_MODEL).exists()
    resumed = train(style_image, photos, tmp_path / "b", TrainConfig(**settings), vgg=vgg, resume=True)
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = list(csv.DictReader((tmp_path / "b" / LOSSES_CSV).open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 8))


def test_run_made_before_recipes_resumes_with_johnson(tmp_path, photos, style_image, vgg):
    """A checkpoint whose config has no ``recipe`` (made when johnson was the default) says what to add."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    train(style_image, photos, tmp_path, TrainConfig(**TINY_TRAIN, steps=2), vgg=vgg)
    path = tmp_path / CHECKPOINT
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    old = json.loads(meta["config"])
    del old["recipe"]
    save_file(tensors, str(path), metadata={**meta, "config": json.dumps(old)})
    plain = {k: v for k, v in TINY_TRAIN.items() if k != "recipe"}
    with pytest.raises(ConfigError, match="made before --recipe existed: add --recipe johnson"):
        train(style_image, photos, tmp_path, TrainConfig(**plain, steps=3), vgg=vgg, resume=True)
    final = train(style_image, photos, tmp_path, TrainConfig(**TINY_TRAIN, steps=3), vgg=vgg, resume=True)
    assert read_metadata(final)["steps"] == "3"
