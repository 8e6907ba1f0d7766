"""Regions: masks, soft edges, per-region settings for apply (models, --style) and stylize (guided Grams)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import make_painting, make_photo
from PIL import Image, ImageDraw

from brushwork.config import ApplyConfig, RegionConfig
from brushwork.errors import ConfigError, ImageError
from brushwork.images import image_to_tensor
from brushwork.losses import gram_matrix
from brushwork.regions import (
    RegionPainter,
    coarse_guided_filter,
    guided_filter,
    guided_gram,
    mask_labels,
    parse_settings,
    person_regions,
    refine_step,
    regions_from_mask,
    soften,
)


def _half_mask(width: int = 64, height: int = 48, left: str = "black", right: str = "white") -> Image.Image:
    mask = Image.new("RGB", (width, height), left)
    ImageDraw.Draw(mask).rectangle((width // 2, 0, width, height), fill=right)
    return mask


def test_region_settings_parse_and_refuse_in_one_line(tmp_path):
    painting = tmp_path / "p.png"
    make_painting().save(painting)
    settings = parse_settings([f"person={painting}:0.5", "background=none", "sky=starry-night"])
    assert settings["person"].kind == "painting" and settings["person"].strength == 0.5
    assert settings["background"].kind == "none" and settings["sky"].kind == "model"
    for bad in ("person", "person=", f"a={painting}:2", "a=none:0.5", "a=missing.jpg"):
        with pytest.raises(ConfigError):
            parse_settings([bad])
    with pytest.raises(ConfigError, match="models work with brushwork apply"):
        parse_settings(["a=starry-night"], allow_models=False)
    with pytest.raises(ConfigError, match="needs regions"):
        RegionConfig(region=("a=none",))


def test_mask_colours_are_regions_with_every_name_and_jpeg_noise_is_merged():
    keys, labels = mask_labels(_half_mask(), (32, 24))
    assert keys == [["0", "black", "#000000"], ["255", "white", "#ffffff"]]
    assert labels.shape == (24, 32) and (labels[:, :16] == 0).all() and (labels[:, 16:] == 1).all()
    noisy = np.asarray(_half_mask(200, 100, "red", "blue")).copy()
    noisy[::37, ::41] = (250, 3, 7)  # a few stray pixels, as a JPEG leaves
    keys, labels = mask_labels(Image.fromarray(noisy), (200, 100))
    assert [k[0] for k in keys] == ["blue", "red"] and set(np.unique(labels)) == {0, 1}
    rng = np.random.default_rng(0)
    with pytest.raises(ImageError, match="flat colour per region"):
        mask_labels(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), (64, 64))


@pytest.mark.parametrize("refine", [True, False])
def test_soft_edges_stay_within_twice_the_feather(refine):
    hard = np.zeros((2, 40, 80), np.float32)
    hard[0, :, :40] = 1
    hard[1] = 1 - hard[0]
    guide = np.asarray(make_photo(80, 40).convert("L"), np.float32) / 255
    soft = soften(hard, guide, feather=4, refine=refine)
    assert np.allclose(soft.sum(0), 1, atol=1e-5)
    far = np.r_[0:40 - 8, 40 + 8:80]
    assert np.array_equal(soft[:, :, far], hard[:, :, far])  # exactly the hard weights beyond 2x feather
    assert 0.05 < soft[0, :, 38:42].mean() < 0.95  # a soft edge near it


def test_the_coarse_guided_filter_follows_the_full_one_and_keeps_flat_parts_exact():
    """From 512 px the automatic mask's edges are refined on a coarser grid (its coefficients
    upsampled): close to the full-resolution filter, the guide's own edges kept, and the weight
    exactly 0 or 1 beyond about 2 x feather + 1.5 x step of an edge."""
    import cv2

    assert [refine_step(s, s, 8) for s in (384, 511, 512, 1024, 4096)] == [1, 1, 2, 4, 4]
    assert refine_step(1024, 768, 2) == 1  # at least 2 grid pixels of radius
    rng = np.random.default_rng(0)
    xx = np.mgrid[:384, :512][1]
    inside = xx < 250  # a person on the left, the edge at x = 249.5
    guide = np.clip(np.where(inside, 0.7, 0.3) + rng.normal(0, 0.02, inside.shape), 0, 1).astype(np.float32)
    low = cv2.resize(inside.astype(np.float32), (256, 256), interpolation=cv2.INTER_AREA)  # network's size
    up = cv2.resize(low, (512, 384), interpolation=cv2.INTER_LINEAR)
    full = np.clip(guided_filter(guide, up, 8), 0, 1)
    coarse = coarse_guided_filter(guide, low, 8, 2)
    assert coarse.shape == guide.shape and coarse.dtype == np.float32
    assert np.abs(coarse - full).mean() < 0.003 and np.abs(coarse - full).max() < 0.1
    dist = np.abs(xx - 249.5)
    far = dist > 2 * 8 + 1.5 * 2 + 2  # + 2: the network's own soft edge (area down, bilinear up)
    assert np.array_equal(coarse[far], inside[far].astype(np.float32))
    edge = dist < 1
    assert 0.2 < coarse[edge].mean() < 0.8 and abs(coarse[edge].mean() - full[edge].mean()) < 0.05
    assert (coarse[dist < 8] > 0.5).mean() > (up[dist < 8] > 0.5).mean() - 0.01  # not eroded


def test_guided_gram_is_the_gram_for_a_full_mask_and_ignores_what_the_mask_leaves_out():
    f = torch.rand(1, 8, 6, 10)
    assert torch.allclose(guided_gram(f, torch.ones(6, 10)), gram_matrix(f), atol=1e-6)
    half = torch.zeros(6, 10)
    half[:, :5] = 1
    assert torch.allclose(guided_gram(f, half), gram_matrix(f[..., :5]), atol=1e-6)


def test_the_person_is_found_and_a_flat_picture_has_none():
    warnings: list[str] = []
    flat = torch.full((1, 3, 64, 64), 0.5)
    regions = person_regions(flat, RegionConfig(regions="auto"), "flat.png", warnings.append)
    assert regions.names == ["person", "background"] and float(regions.weights[1].min()) == 1
    assert warnings and "no person found" in warnings[0]


def test_a_region_left_as_the_photo_is_the_photo_and_the_other_is_painted():
    photo = make_photo(64, 48)
    x = image_to_tensor(photo)
    config = ApplyConfig(engine="torch", precision="fp32")
    regions = RegionConfig(mask="unused.png", region=("white=none",), feather=4)
    from brushwork.fast.inference import load_stylizer

    stylizer = load_stylizer(None, config, styles=[make_painting(64, 64)])
    painter = RegionPainter.__new__(RegionPainter)  # the mask comes from memory, not a file
    painter.default, painter.config, painter.warn, painter._stylizers = stylizer, config, print, {}
    painter.settings = parse_settings(regions.region)

    class Source:
        def regions(self, photo, name, warn):
            return regions_from_mask(_half_mask(), photo, regions)

    painter.source = Source()
    out = painter.paint_tensor(x)
    assert torch.equal(out[..., 32 + 8:], x[..., 32 + 8:])  # the kept half, beyond 2x feather
    assert float((out[..., :32 - 8] - x[..., :32 - 8]).abs().mean()) > 0.05  # the painted half


def _cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "brushwork", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.slow
def test_bad_region_input_is_one_line_never_a_traceback(tmp_path):
    photo, painting = tmp_path / "photo.png", tmp_path / "painting.png"
    make_photo(64, 48).save(photo)
    make_painting(64, 64).save(painting)
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a picture")
    _half_mask().save(tmp_path / "mask.png")
    Image.new("RGB", (10, 10), "red").save(tmp_path / "flat.png")
    base = ["apply", "--style", str(painting), str(photo), "--engine", "torch"]
    for extra, expected in (
        (["--mask", "corrupt.png"], "corrupt"),
        (["--mask", "mask.png", "--region", "sky=none"], "has no region 'sky'"),
        (["--region", "person=none"], "needs regions"),
    ):
        done = _cli(*base, "-o", "out.png", *extra, cwd=tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = _cli(*base, "-o", "flat.jpg", "--mask", "flat.png", cwd=tmp_path)
    assert done.returncode == 0 and "one colour" in done.stderr and (tmp_path / "flat.jpg").is_file()
    Image.new("RGB", (64, 48), (128, 128, 128)).save(tmp_path / "wall.png")  # no person
    auto = ["apply", "--style", str(painting), "wall.png", "--engine", "torch"]
    done = _cli(*auto, "-o", "auto.jpg", "--regions", "auto", "--region", "person=none", cwd=tmp_path)
    assert done.returncode == 0 and "no person found" in done.stderr, done.stderr
    assert (tmp_path / "auto.jpg").is_file()
    done = _cli(*base, "-o", "two.png", "--mask", "mask.png", "--region", "white=none", "black=none",
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "two.png")), np.asarray(Image.open(photo)))
