"""Pure loss functions of style transfer, and the weighted sum Gatys et al. minimise.

Conventions (documented because every implementation picks differently):

* Gram matrix: ``G = F Fᵀ / (C·H·W)`` for features ``F`` of shape [C, H·W], so its size does
  not depend on the image size (Johnson et al.'s normalisation).
* Content loss: mean squared feature difference.
* Style loss: mean squared Gram difference.
* Total variation: mean squared difference of neighbouring pixels (image in [0, 1]).

``relative_*`` divide by the mean square of the target, which makes the loss scale-free: the
same weights then work for caffe (0–255) and torchvision (normalised) weights and for every
layer, where raw VGG activations differ by orders of magnitude between layers.
"""

from __future__ import annotations

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, C], normalised by C·H·W."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean((features - target) ** 2)


def style_loss(gram: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    return torch.mean((gram - target_gram) ** 2)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of horizontally and vertically adjacent pixels."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return torch.mean(dx**2) + torch.mean(dy**2)


def scale_of(target: torch.Tensor) -> float:
    """Normaliser of a relative loss: the target's mean square (never zero)."""
    return float(torch.mean(target.detach() ** 2)) + 1e-8


def blend_grams(grams: list[torch.Tensor], blend_weights: list[float]) -> torch.Tensor:
    """Target Gram of several styles: their weighted mean (weights need not sum to one)."""
    total = sum(blend_weights)
    return sum(g * (w / total) for g, w in zip(grams, blend_weights))
