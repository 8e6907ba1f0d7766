"""The temporal (stability) term of training: synthetic motion, the loss, and runs that use it."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_TRAIN as TINY
from PIL import Image

from brushwork.config import TrainConfig
from brushwork.errors import ConfigError
from brushwork.fast.data import seeded_generator
from brushwork.fast.motion import (
    BORDER,
    MAX_SHIFT,
    affine_theta,
    affine_warp,
    draw_motion,
    moved_photos,
    temporal_loss,
    valid_region,
)
from brushwork.fast.train import train
from brushwork.networks.model_files import load_transformer

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "brushwork" / "models" / "starry_night.safetensors"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(8):  # the fewest photos a run accepts
        small = rng.random((6, 8, 3)) * 255
        Image.fromarray(small.astype(np.uint8)).resize((48 + 4 * i, 40), Image.Resampling.BICUBIC).save(
            root / f"p{i}.png")
    return root


def _shift(dx: int, dy: int, size: int = 48) -> torch.Tensor:
    return affine_theta((float(dx), float(dy)), 0.0, 1.0, (size, size))[None]


def test_warp_by_whole_pixels_moves_the_picture_and_marks_what_came_in():
    image = torch.rand(1, 3, 48, 48)
    moved = affine_warp(image, _shift(3, -2))
    # output (x, y) samples the source at (x + 3, y − 2)
    torch.testing.assert_close(moved[..., 2:, :45], image[..., :46, 3:], rtol=0, atol=1e-5)
    valid = valid_region(_shift(3, -2), (48, 48))[0, 0]
    assert not valid[:2 + BORDER].any() and not valid[:, 45 - BORDER:].any()
    assert valid[2 + BORDER:48 - BORDER, BORDER:45 - BORDER].all()


def test_temporal_loss_is_zero_for_an_equivariant_net_and_rises_for_one_that_is_not():
    torch.manual_seed(0)
    photos = torch.rand(2, 3, 48, 48)
    theta = torch.cat([_shift(2, 1), _shift(-3, 2)])
    moved = affine_warp(photos, theta)
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)  # convolutions move with their input
    with torch.no_grad():
        assert float(temporal_loss(photos, photos.clone(), torch.cat([_shift(0, 0)] * 2))) < 1e-12
        assert float(temporal_loss(conv(photos), conv(moved), theta)) < 1e-10
        # A pattern fixed to the frame (what flickers on video) does not move with the picture.
        pattern = torch.rand(1, 3, 48, 48)
        weak, strong = (float(temporal_loss(photos + a * pattern, moved + a * pattern, theta))
                        for a in (0.1, 0.3))
    assert 1e-4 < weak < strong and strong == pytest.approx(9 * weak, rel=1e-3)


def test_synthetic_motion_is_small_and_fixed_by_the_seed():
    a = draw_motion(4, (64, 64), seeded_generator(0, 7, 0, -1))
    b = draw_motion(4, (64, 64), seeded_generator(0, 7, 0, -1))
    c = draw_motion(4, (64, 64), seeded_generator(0, 8, 0, -1))
    assert torch.equal(a.theta, b.theta) and torch.equal(a.noise, b.noise) and torch.equal(a.gain, b.gain)
    assert not torch.equal(a.theta, c.theta)
    shift_px = a.theta[:, :, 2] * 32  # normalised -> pixels of a 64 px image
    assert shift_px.abs().max() <= MAX_SHIFT * 1.001 and shift_px.abs().max() > 0.1
    share = valid_region(a.theta, (64, 64)).float().mean()
    assert 0.4 < share < 0.95
    photos = torch.rand(4, 3, 64, 64)
    moved = moved_photos(photos, a)
    assert moved.min() >= 0 and moved.max() <= 1 and not torch.allclose(moved, affine_warp(photos, a.theta))


def test_temporal_weight_must_be_a_finite_non_negative_number():
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ConfigError, match="temporal-weight"):
            TrainConfig(temporal_weight=bad)
    assert TrainConfig().temporal_weight == 0


@pytest.mark.slow
def test_training_with_a_temporal_term_logs_it_and_resumes_bit_identical(tmp_path, photos, style_image, vgg):
    config = TrainConfig(**TINY, steps=5, temporal_weight=50.0)
    straight = train(style_image, photos, tmp_path / "a", config, vgg=vgg)
    rows = list(csv.DictReader((tmp_path / "a" / "losses.csv").open()))
    assert list(rows[0])[:7] == ["step", "epoch", "content", "style", "tv", "temporal", "total"]
    assert all(float(r["temporal"]) > 0 for r in rows)
    for r in rows:  # the total includes the new term
        parts = sum(float(r[k]) for k in ("content", "style", "tv", "temporal"))
        assert float(r["total"]) == pytest.approx(parts, rel=1e-4)
    assert load_transformer(straight)[1]["temporal_weight"] == "50.0"

    def stop_at(step):
        def callback(info):
            if info.done == step:
                raise KeyboardInterrupt
        return callback

    with pytest.raises(KeyboardInterrupt):
        train(style_image, photos, tmp_path / "b", config, vgg=vgg, callback=stop_at(3))
    resumed = train(style_image, photos, tmp_path / "b", config, vgg=vgg, resume=True)
    a, b = load_transformer(straight)[0].state_dict(), load_transformer(resumed)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ConfigError, match="temporal_weight"):
        train(style_image, photos, tmp_path / "b", TrainConfig(**TINY, steps=6), vgg=vgg, resume=True)
    # Off (the default): the same crops give other weights, and the CSV has no temporal column.
    plain = train(style_image, photos, tmp_path / "c", TrainConfig(**TINY, steps=5), vgg=vgg)
    c = load_transformer(plain)[0].state_dict()
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert "temporal" not in next(csv.DictReader((tmp_path / "c" / "losses.csv").open()))


@pytest.mark.slow
def test_init_fine_tunes_a_shipped_model_of_magentas_network(tmp_path, photos, style_image, vgg):
    copy = tmp_path / "shipped.safetensors"
    copy.write_bytes(SHIPPED.read_bytes())
    config = TrainConfig(**{**TINY, "batch_size": 1}, steps=1, lr=1e-9, init=str(copy), temporal_weight=1.0)
    final = train(style_image, photos, tmp_path / "run", config, vgg=vgg)
    shipped, tuned = load_transformer(SHIPPED)[0].state_dict(), load_transformer(final)[0].state_dict()
    assert tuned.keys() == shipped.keys()
    assert all(torch.allclose(shipped[k], tuned[k], atol=1e-5) for k in shipped)
    copy.unlink()  # a resume rebuilds the network from the checkpoint alone
    again = train(style_image, photos, tmp_path / "run", config.replace(steps=2), vgg=vgg, resume=True)
    assert load_transformer(again)[1]["steps"] == "2"
