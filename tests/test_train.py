"""Training a fast style network: tiny nets, tiny photos, random loss-network weights."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_TRAIN as TINY
from PIL import Image

from brushwork.cli import main
from brushwork.config import TrainConfig
from brushwork.errors import ConfigError
from brushwork.fast.checkpoint import CHECKPOINT
from brushwork.fast.data import PhotoSource, batch_indices, list_photos, split_photos
from brushwork.fast.train import train
from brushwork.networks.model_files import load_transformer


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Eight smooth random photos in a folder tree, plus a truncated JPEG and a text file."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        small = rng.random((6, 8, 3)) * 255
        img = Image.fromarray(small.astype(np.uint8)).resize((48 + 4 * i, 40), Image.Resampling.BICUBIC)
        img.save(root / ("sub" if i % 3 == 0 else ".") / f"p{i}.png")
    good = root / "p1.png"
    Image.open(good).save(root / "full.jpg")
    (root / "truncated.jpg").write_bytes((root / "full.jpg").read_bytes()[:200])
    (root / "full.jpg").unlink()
    (root / "notes.txt").write_text("not a photo")
    return root


def _weights(path: Path) -> dict[str, torch.Tensor]:
    net, _ = load_transformer(path)
    return net.state_dict()


@pytest.mark.slow
def test_training_writes_everything_and_loss_goes_down(tmp_path, photos, style_image, vgg):
    config = TrainConfig(**{**TINY, "sample_every": 4}, steps=8, lr=1e-2)
    final = train(style_image, photos, tmp_path, config, vgg=vgg)
    for name in ("model.safetensors", CHECKPOINT, "losses.csv", "loss_plot.png", "samples/photos.png",
                 "samples/step_000004.png", "samples/step_000008.png"):
        assert (tmp_path / name).is_file(), name
    rows = list(csv.DictReader((tmp_path / "losses.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 9))
    totals = [float(r["total"]) for r in rows]
    assert np.mean(totals[-3:]) < 0.7 * np.mean(totals[:3])
    assert float(rows[3]["val_total"]) > 0 and all(float(r["images_per_s"]) > 0 for r in rows)
    net, meta = load_transformer(final)
    assert meta["style_image"] == "stripes.png" and meta["steps"] == "8"
    assert meta["loss_network"] == "vgg19" and len(meta["style_sha256"]) == 64
    assert net.spec.width == 4
    # The truncated JPEG and the text file were skipped, counted and named.
    skipped = (tmp_path / "skipped.txt").read_text()
    assert "truncated.jpg" in skipped or "notes.txt" in skipped


def test_training_objective_keeps_the_old_numbers(vgg):
    """The shared PerceptualObjective (raw scaling, style layers summed) gives exactly what the old
    train.PerceptualLoss gave: cw * content MSE + sw * sum of Gram MSEs + tw * TV."""
    from brushwork.fast.train import training_objective

    config = TrainConfig(**{**TINY, "content_weight": 2.0}, tv_weight=0.5)
    torch.manual_seed(0)
    style, photos = torch.rand(1, 3, 40, 40), torch.rand(2, 3, 32, 32)
    output = torch.rand(2, 3, 32, 32)
    got = training_objective(vgg, style, config)(output, content=photos)

    def gram(f):
        n, c, h, w = f.shape
        flat = f.reshape(n, c, h * w)
        return flat @ flat.transpose(1, 2) / (c * h * w)

    cl, sl = config.resolved_content_layer, config.resolved_style_layers
    target, feats, style_feats = vgg(photos, [cl])[cl], vgg(output, [cl, *sl]), vgg(style, sl)
    content = 2.0 * torch.mean((feats[cl] - target) ** 2)
    style_term = 1e3 * sum(torch.mean((gram(feats[n]) - gram(style_feats[n])) ** 2) for n in sl)
    tv = 0.5 * (torch.mean((output[..., :, 1:] - output[..., :, :-1]) ** 2)
                + torch.mean((output[..., 1:, :] - output[..., :-1, :]) ** 2))
    expected = {"content": content, "style": style_term, "tv": tv, "total": content + style_term + tv}
    for key, value in expected.items():
        assert float(value) > 0, key
        torch.testing.assert_close(got[key], value, rtol=1e-6, atol=0, msg=key)


def test_loss_plot_title_is_wrapped_to_fit():
    from brushwork.fast.report import loss_figure

    rows = [{"step": i, "epoch": 1, "content": 2.0 / i, "style": 1.0, "tv": 0, "total": 1 + 2.0 / i,
             "val_total": "1.5" if i % 5 == 0 else ""} for i in range(1, 21)]
    title = ("starry-night (CPU fine-tune): channels 16-32-32-8-4, 5 res blocks, style weight 0.04, "
             "tv 500000, 192 px, batch 8")
    fig = loss_figure(rows, title)
    box = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height
    assert "\n" in fig.axes[0].title.get_text()
    assert fig.axes[0].title.get_text().replace("\n", " ") == title


def test_photo_source_skips_bad_files(photos):
    files = list_photos(photos)
    assert len(files) == 10
    source = PhotoSource(files)
    loaded = {source.load(i)[0] for i in range(len(files))}
    assert len(loaded) == 8 and len(source.bad) == 2


def test_split_and_shards_are_disjoint_and_cover_an_epoch():
    files = [Path(f"{i}.jpg") for i in range(40)]
    train_files, val = split_photos(files, 0.1, seed=3)
    assert len(val) == 4 and not set(val) & set(train_files)
    assert split_photos(files, 0.1, seed=3) == (train_files, val)
    seen = []
    for step in range(5):  # 36 photos, batch 3 x 2 processes -> 6 steps per epoch
        a = batch_indices(step, 36, 3, 0, 2, seed=1)
        b = batch_indices(step, 36, 3, 1, 2, seed=1)
        assert not set(a) & set(b)
        seen += a + b
    assert len(set(seen)) == len(seen) == 30


@pytest.mark.slow
def test_resume_after_interrupt_and_crash_equals_uninterrupted(tmp_path, photos, style_image, vgg):
    config = TrainConfig(**TINY, steps=7)
    straight = train(style_image, photos, tmp_path / "a", config, vgg=vgg)

    def stop_at(step, exc):
        def callback(info):
            if info.done == step:
                raise exc
        return callback

    # Ctrl-C at step 3 saves a checkpoint there; a crash at step 6 falls back to the one of step 4.
    with pytest.raises(KeyboardInterrupt):
        train(style_image, photos, tmp_path / "b", config, vgg=vgg,
              callback=stop_at(3, KeyboardInterrupt()))
    with pytest.raises(RuntimeError):
        train(style_image, photos, tmp_path / "b", config, vgg=vgg, resume=True,
              callback=stop_at(6, RuntimeError("power cut")))
    resumed = train(style_image, photos, tmp_path / "b", config, vgg=vgg, resume=True)
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = list(csv.DictReader((tmp_path / "b" / "losses.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 8))


@pytest.mark.slow
def test_resume_refuses_changed_settings(tmp_path, photos, style_image, vgg):
    train(style_image, photos, tmp_path, TrainConfig(**TINY, steps=2), vgg=vgg)
    with pytest.raises(ConfigError, match="already holds a checkpoint"):
        train(style_image, photos, tmp_path, TrainConfig(**TINY, steps=2), vgg=vgg)
    with pytest.raises(ConfigError, match="lr"):
        train(style_image, photos, tmp_path, TrainConfig(**TINY, steps=4, lr=0.5),
              vgg=vgg, resume=True)
    # More steps is allowed: it continues.
    final = train(style_image, photos, tmp_path, TrainConfig(**TINY, steps=4), vgg=vgg,
                  resume=True)
    assert load_transformer(final)[1]["steps"] == "4"
    # A checkpoint written before an option existed resumes with that option's default.
    _drop_from_checkpoint_config(tmp_path / "checkpoint.safetensors", "edge_kernel")
    train(style_image, photos, tmp_path, TrainConfig(**TINY, steps=4), vgg=vgg, resume=True)
    with pytest.raises(ConfigError, match="edge_kernel"):
        train(style_image, photos, tmp_path, TrainConfig(**TINY, steps=4, edge_kernel=5),
              vgg=vgg, resume=True)
    # Resuming a finished run trains nothing more and changes no file (issue 27: it says so instead).
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    again = train(style_image, photos, tmp_path, TrainConfig(**TINY, steps=4), vgg=vgg,
                  resume=True)
    assert load_transformer(again)[1]["steps"] == "4"
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def _drop_from_checkpoint_config(path, key):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    config = json.loads(meta["config"])
    del config[key]
    save_file(tensors, str(path), metadata={**meta, "config": json.dumps(config)})


@pytest.mark.slow
def test_init_warm_starts_from_a_model(tmp_path, photos, style_image, vgg):
    first = train(style_image, photos, tmp_path / "a", TrainConfig(**TINY, steps=2), vgg=vgg)
    # A learning rate of 1e-9 leaves the copied weights unchanged after one step.
    warm = train(style_image, photos, tmp_path / "b", TrainConfig(**TINY, steps=1, lr=1e-9, init=str(first)),
                 vgg=vgg)
    a, b = _weights(first), _weights(warm)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert load_transformer(warm)[1]["init"] == "model.safetensors"
    with pytest.raises(ConfigError, match="architecture"):
        wider = TrainConfig(**{**TINY, "width": 8}, steps=1, init=str(first))
        train(style_image, photos, tmp_path / "c", wider, vgg=vgg)


def test_config_validation():
    with pytest.raises(ConfigError, match="not both"):
        TrainConfig(steps=10, epochs=1)
    with pytest.raises(ConfigError, match="image-size"):
        TrainConfig(image_size=30)
    with pytest.raises(ConfigError, match="content-weight"):
        TrainConfig(content_weight=-1)
    johnson = TrainConfig(recipe="johnson")
    assert johnson.resolved_style_layers == ("relu1_2", "relu2_2", "relu3_4", "relu4_4")
    assert TrainConfig(recipe="johnson", loss_network="vgg16").resolved_style_layers[-1] == "relu4_3"


def test_cli_errors_are_one_line(tmp_path, style_image, capsys):
    code = main(["train", str(style_image), "--data", str(tmp_path / "nothing"), "-o", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("brushwork: error:") and "not a folder" in err and len(err.splitlines()) == 1
    code = main(["train", str(style_image), "--data", str(tmp_path), "-o", str(tmp_path / "o"),
                 "--loss-network", "vgg16", "--steps", "1"])
    assert code == 2  # no empty folder crash, and VGG16 weights are not available offline


def test_cli_trains(tmp_path, photos, style_image, capsys):
    code = main(["train", str(style_image), "--data", str(photos), "-o", str(tmp_path), "--steps", "2",
                 "--recipe", "johnson", "--image-size", "32", "--batch-size", "1", "--width", "4",
                 "--res-blocks", "0",
                 "--loss-weights", "random", "--style-layers", "relu1_2", "relu2_1", "-q"])
    # The photo check before training read notes.txt (among the first 8 files): it is named, exit 4.
    err = capsys.readouterr().err
    assert code == 4 and "notes.txt" in err, err
    assert (tmp_path / "model.safetensors").is_file()


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path, photos, style_image):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "brushwork", "train", str(style_image), "--data", str(photos), "-o", str(tmp_path),
           "--recipe", "johnson", "--steps", "3", "--image-size", "32", "--batch-size", "2", "--width", "4",
           "--res-blocks", "1",
           "--loss-weights", "random", "--style-layers", "relu1_2", "relu2_1", "-q"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    _, meta = load_transformer(tmp_path / "model.safetensors")
    assert meta["world_size"] == "2" and meta["steps"] == "3"
    rows = list(csv.DictReader((tmp_path / "losses.csv").open()))
    assert len(rows) == 3 and float(rows[0]["images_per_s"]) > 0


def test_a_run_killed_before_its_first_checkpoint_starts_again_with_resume(tmp_path, photos, style_image,
                                                                             vgg):
    """Its folder holds sample grids and a log but no checkpoint: a plain run there is refused (another
    run's files), --resume has nothing to continue, so it starts the run again in its own folder."""
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "step_000000.png").write_bytes(b"grid")
    (tmp_path / "losses.csv").write_text("step,total\n")
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(style_image, photos, tmp_path, TrainConfig(**TINY, steps=2), vgg=vgg)
    final = train(style_image, photos, tmp_path, TrainConfig(**TINY, steps=2), vgg=vgg, resume=True)
    assert load_transformer(final)[1]["steps"] == "2"
    with pytest.raises(ConfigError, match="no checkpoint"):
        train(style_image, photos, tmp_path / "empty", TrainConfig(**TINY, steps=2), vgg=vgg, resume=True)
