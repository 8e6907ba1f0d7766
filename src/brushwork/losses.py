"""Pure loss functions of style transfer, and the one perceptual objective built from them.

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

from collections.abc import Sequence
from typing import Literal

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


# --- the one perceptual objective -----------------------------------------------------------------
Scaling = Literal["relative", "raw"]


class PerceptualObjective:
    """Content + style (+ TV) loss on VGG features: the one objective of Gatys optimisation,
    fast-network training and the reference metrics.

    ``scaling="relative"`` divides each layer's term by its target's mean square (Gatys and the
    metrics: weights mean the same for every layer and weight source); ``"raw"`` keeps plain MSEs
    (training: its weights were tuned on raw caffe-VGG19 magnitudes, see ``brushwork.fast.train``).
    Layer weights are used as given: pass ``(1/n,)*n`` for a mean, ``(1,)*n`` for a sum. The
    content term is the mean over the content layers.
    """

    def __init__(self, vgg, content_layers: Sequence[str], style_layers: Sequence[str],
                 style_layer_weights: Sequence[float] | None = None, content_weight: float = 1.0,
                 style_weight: float = 1.0, tv_weight: float = 0.0, scaling: Scaling = "relative"):
        self.vgg = vgg
        self.content_layers = tuple(content_layers) if content_weight > 0 else ()
        self.style_layers = tuple(style_layers)
        self.style_layer_weights = tuple(style_layer_weights or (1.0,) * len(self.style_layers))
        self.weights = {"content": content_weight, "style": style_weight, "tv": tv_weight}
        self.scaling = scaling
        self.layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        vgg.check_layers(self.layers)
        self.style_targets: dict[str, torch.Tensor] = {}
        self.content_targets: dict[str, torch.Tensor] | None = None

    def _scale(self, target: torch.Tensor) -> float | torch.Tensor:
        return scale_of(target) if self.scaling == "relative" else 1.0

    @torch.no_grad()
    def style_grams(self, styles: Sequence[torch.Tensor], blend: Sequence[float] | None = None
                    ) -> dict[str, torch.Tensor]:
        """Target Grams of one or more paintings ([1,3,H,W] each), blended by ``blend``."""
        per_style = [self.vgg(s, self.style_layers) for s in styles]
        weights = list(blend or [1.0] * len(styles))
        return {n: blend_grams([gram_matrix(f[n]) for f in per_style], weights) for n in self.style_layers}

    def set_style(self, styles: Sequence[torch.Tensor], blend: Sequence[float] | None = None) -> None:
        self.style_targets = self.style_grams(styles, blend)
        self._style_scales = {n: self._scale(t) for n, t in self.style_targets.items()}

    @torch.no_grad()
    def content_features(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        return {n: f.detach() for n, f in self.vgg(content, self.content_layers).items()} \
            if self.content_layers else {}

    def set_content(self, content: torch.Tensor) -> None:
        """Fix the content target (Gatys: one photo); training passes a batch to ``__call__`` instead."""
        self.content_targets = self.content_features(content)

    def content_term(self, feats: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        terms = [content_loss(feats[n], targets[n]) / self._scale(targets[n]) for n in self.content_layers]
        return sum(terms) / len(terms)

    def style_term(self, feats: dict[str, torch.Tensor], grams: dict[str, torch.Tensor] | None = None,
                   layers: Sequence[str] | None = None) -> torch.Tensor:
        """Weighted sum of the style layers' Gram errors (``layers``: only these, each weighted 1)."""
        grams = grams if grams is not None else self.style_targets
        pairs = (zip(self.style_layers, self.style_layer_weights) if layers is None
                 else ((n, 1.0) for n in layers))
        total = 0.0
        for name, weight in pairs:
            scale = self._style_scales[name] if grams is self.style_targets else self._scale(grams[name])
            total = total + weight * style_loss(gram_matrix(feats[name]), grams[name]) / scale
        return total

    def __call__(self, image: torch.Tensor, content: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Weighted terms and their sum (``total``) for ``image``; ``content`` overrides the fixed
        content target (a training batch's photos)."""
        targets = self.content_features(content) if content is not None else self.content_targets
        feats = self.vgg(image, self.layers)
        zero = image.new_zeros(())
        w = self.weights
        parts = {
            "content": w["content"] * self.content_term(feats, targets) if self.content_layers else zero,
            "style": w["style"] * self.style_term(feats),
            "tv": w["tv"] * tv_loss(image) if w["tv"] > 0 else zero,
        }
        parts["total"] = parts["content"] + parts["style"] + parts["tv"]
        return parts
