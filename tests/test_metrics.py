"""Metrics against values worked out by hand on tiny images."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_painting, make_photo

from brushwork import metrics


def _image(h=16, w=12, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3))


def test_identical_images_are_perfect():
    a = _image()
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.psnr(a, a) == math.inf
    assert metrics.mse(a, a) == 0.0
    assert metrics.histogram_distance(a, a) == pytest.approx(0.0, abs=1e-7)


def test_mse_and_psnr_by_hand():
    black = np.zeros((4, 4, 3))
    grey = np.full((4, 4, 3), 0.5)
    assert metrics.mse(black, grey) == pytest.approx(0.25)
    assert metrics.psnr(black, grey) == pytest.approx(10 * math.log10(4))  # 6.0206 dB
    half = black.copy()
    half[:2] = 1.0  # half the pixels differ by 1
    assert metrics.mse(black, half) == pytest.approx(0.5)
    assert metrics.psnr(black, half) == pytest.approx(10 * math.log10(2))


def test_ssim_orders_by_similarity():
    a = _image(32, 32)
    noisy = np.clip(a + np.random.default_rng(1).normal(0, 0.05, a.shape), 0, 1)
    other = _image(32, 32, seed=7)
    assert metrics.ssim(a, noisy) < 1.0
    assert metrics.ssim(a, noisy) > metrics.ssim(a, other)
    assert abs(metrics.ssim(a, other)) < 0.2  # unrelated noise
    assert metrics.ssim(a, 1 - a) < 0  # inverted: anti-correlated structure


def test_ssim_refuses_tiny_or_mismatched_images():
    with pytest.raises(ValueError, match="3x3"):
        metrics.ssim(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="shape"):
        metrics.mse(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))


def test_histogram_distance_by_hand():
    black = np.zeros((4, 4, 3))
    white = np.ones((4, 4, 3))
    half = black.copy()
    half[:2] = 1.0
    assert metrics.histogram_distance(black, white) == pytest.approx(1.0)  # disjoint palettes
    # Bhattacharyya coefficient sqrt(0.5 * 1) => Hellinger sqrt(1 - 0.7071) = 0.5412
    assert metrics.histogram_distance(black, half) == pytest.approx(math.sqrt(1 - math.sqrt(0.5)))
    hist = metrics.color_histogram(half)
    assert hist.sum() == pytest.approx(1.0) and hist.shape == (512,)
    assert hist[0] == pytest.approx(0.5) and hist[-1] == pytest.approx(0.5)


def test_temporal_difference_plain_and_warped():
    frame = _image(8, 8)
    assert metrics.temporal_difference([frame, frame, frame]) == 0.0
    black, white = np.zeros((4, 4, 3)), np.ones((4, 4, 3))
    assert metrics.temporal_difference([black, white, black]) == pytest.approx(1.0)
    # a pattern moving one pixel right: large plain difference, zero once warped by the true flow
    pattern = np.zeros((6, 6, 3))
    pattern[:, 2] = 1.0
    moved = np.roll(pattern, 1, axis=1)
    flow = np.zeros((6, 6, 2))
    flow[..., 0] = -1.0  # backward flow: each pixel of the second frame was one pixel to its left
    assert metrics.temporal_difference([pattern, moved]) > 0.2
    assert metrics.temporal_difference([pattern, moved], flows=[flow]) == pytest.approx(0.0)


def test_peak_memory_sees_an_allocation():
    with metrics.PeakMemory() as memory:
        block = np.ones(60 * 2**20 // 8)  # 60 MB, every page touched
        block.sum()
        del block
    if memory.peak is None:
        pytest.skip("no /proc/self/statm on this system")
    assert memory.peak >= 40 * 2**20


def test_reference_losses_zero_on_identity_and_positive_otherwise(random_vgg):
    reference = metrics.ReferenceLoss(size=48, vgg=random_vgg)
    photo, painting = make_photo(48, 32), make_painting(40, 40)
    assert reference.content_loss(photo, photo) == pytest.approx(0.0, abs=1e-9)
    assert reference.style_loss(painting, painting) == pytest.approx(0.0, abs=1e-9)
    assert reference.content_loss(painting, photo) > 0.01
    assert reference.style_loss(photo, painting) > 0.01
    # the result is resized to the photo's evaluation size, so any result size can be compared
    big = photo.resize((96, 64))
    assert reference.content_loss(big, photo) < reference.content_loss(painting, photo)
