from __future__ import annotations

import torch

from brushwork import losses


def test_gram_matrix_by_hand():
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)  # C=2, H=1, W=2
    expected = torch.tensor([[1 + 4, 3 + 8], [3 + 8, 9 + 16]]) / (2 * 1 * 2)
    assert torch.allclose(losses.gram_matrix(features)[0], expected)


def test_gram_matrix_does_not_depend_on_image_size():
    torch.manual_seed(0)
    patch = torch.rand(1, 8, 5, 5)
    tiled = patch.repeat(1, 1, 3, 3)  # the same texture, nine times the area
    assert torch.allclose(losses.gram_matrix(patch), losses.gram_matrix(tiled), atol=1e-6)


def test_content_and_style_losses_are_zero_only_at_target():
    a = torch.rand(1, 4, 6, 6)
    assert losses.content_loss(a, a) == 0
    assert losses.content_loss(a, a + 1) > 0
    g = losses.gram_matrix(a)
    assert losses.style_loss(g, g) == 0
    assert losses.style_loss(g, g * 2) > 0


def test_tv_loss():
    flat = torch.full((1, 3, 8, 8), 0.5)
    assert losses.tv_loss(flat) == 0
    checker = (torch.arange(64).reshape(8, 8) + torch.arange(8).reshape(8, 1)) % 2
    noisy = checker.float().expand(1, 3, 8, 8)
    assert torch.isclose(losses.tv_loss(noisy), torch.tensor(2.0))


def test_blend_grams_is_weighted_mean():
    a, b = torch.ones(1, 2, 2), torch.zeros(1, 2, 2)
    assert torch.allclose(losses.blend_grams([a, b], [3, 1]), torch.full((1, 2, 2), 0.75))


def test_scale_of_is_positive():
    assert losses.scale_of(torch.zeros(3)) > 0
    assert abs(losses.scale_of(torch.full((4,), 2.0)) - 4.0) < 1e-6
