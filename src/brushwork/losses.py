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

from collections.abc import Callable, Sequence
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


def _channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def _pixels_by_channels(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] in channels-last memory -> [N, H·W, C] without a copy."""
    n, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(n, h * w, c)


def _gram_residual(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``Gram(features) − target``, computed in whichever memory layout the features have."""
    n, c, h, w = features.shape
    if _channels_last(features):
        flat = _pixels_by_channels(features)
        gram = torch.bmm(flat.transpose(1, 2), flat)
    else:
        flat = features.reshape(n, c, h * w)
        gram = torch.bmm(flat, flat.transpose(1, 2))
    return gram.div_(c * h * w).sub_(target)


def _gram_grad(features: torch.Tensor, factor: torch.Tensor, grad: torch.Tensor | None) -> torch.Tensor:
    """``grad + factor·F`` (factor symmetric, C×C) in the features' own memory layout."""
    n, c, h, w = features.shape
    if _channels_last(features):  # [N, HW, C]: (factor·F)ᵀ = Fᵀ·factor
        flat = _pixels_by_channels(features)
        out = (torch.bmm(flat, factor) if grad is None
               else torch.baddbmm(_pixels_by_channels(grad), flat, factor))
        return out.view(n, h, w, c).permute(0, 3, 1, 2)
    flat = features.reshape(n, c, h * w)
    out = torch.bmm(factor, flat) if grad is None else torch.baddbmm(grad.reshape(n, c, h * w), factor, flat)
    return out.view(n, c, h, w)


def _gram_grad_factor(features: torch.Tensor, residual: torch.Tensor, scale: float,
                      grad_loss: torch.Tensor) -> torch.Tensor:
    """``(G − A)`` times the constant of ``dL/dF = 4 (G − A) F / (N·C²·C·H·W·scale)``."""
    n, c, h, w = features.shape
    return residual * (grad_loss * 4.0 / (n * c * c * scale * c * h * w))


class _GramLoss(torch.autograd.Function):
    """``style_loss(gram_matrix(features), target) / scale`` with its gradient written out.

    Autograd's Gram backward runs two big matrix products (one per factor of ``F Fᵀ``) and adds
    them; since ``G − A`` is symmetric both are the same product, so one is enough. Nothing new is
    saved: ``F`` is kept by the next layer anyway, and ``G − A`` is only C×C.
    """

    @staticmethod
    def forward(ctx, features: torch.Tensor, target: torch.Tensor, scale: float) -> torch.Tensor:
        residual = _gram_residual(features, target)
        ctx.save_for_backward(features, residual)
        ctx.scale = scale
        n, c = features.shape[:2]
        return residual.pow(2).sum() / (n * c * c * scale)

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        features, residual = ctx.saved_tensors
        factor = _gram_grad_factor(features, residual, ctx.scale, grad_loss)
        return _gram_grad(features, factor, None), None, None


class _GramTap(torch.autograd.Function):
    """The same loss, computed *in line* on the loss network: returns ``(features, loss)``.

    Because the features pass through, the backward pass gets the gradient arriving from the
    deeper layers and adds the Gram term to it inside one fused product
    (``baddbmm(grad, (G − A)·k, F)``): no separate Gram gradient, no extra full-size addition.
    Per style layer that saves one C×C×HW product and one addition of two C×H×W tensors.
    """

    @staticmethod
    def forward(ctx, features: torch.Tensor, target: torch.Tensor, scale: float):
        residual = _gram_residual(features, target)
        ctx.save_for_backward(features, residual)
        ctx.scale = scale
        n, c = features.shape[:2]
        return features.view_as(features), residual.pow(2).sum() / (n * c * c * scale)

    @staticmethod
    def backward(ctx, grad_features: torch.Tensor | None, grad_loss: torch.Tensor):
        features, residual = ctx.saved_tensors
        factor = _gram_grad_factor(features, residual, ctx.scale, grad_loss)
        return _gram_grad(features, factor, grad_features), None, None


def gram_loss(features: torch.Tensor, target_gram: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``style_loss(gram_matrix(features), target_gram) / scale`` with a cheaper backward pass."""
    return _GramLoss.apply(features, target_gram, scale)


def gram_tap(features: torch.Tensor, target_gram: torch.Tensor, scale: float = 1.0
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features, gram_loss(features, target_gram, scale))`` for use inside the loss network's
    forward pass: continue the network from the returned features."""
    return _GramTap.apply(features, target_gram, scale)


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
        self.set_style_grams(self.style_grams(styles, blend))

    def set_style_grams(self, grams: dict[str, torch.Tensor]) -> None:
        """Use Grams computed before (``style_grams``): a training run that cycles through many
        paintings computes each one's once instead of at every step."""
        self.style_targets = grams
        self._style_scales = {n: self._scale(t) for n, t in grams.items()}

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
            total = total + weight * gram_loss(feats[name], grams[name], scale)
        return total

    def _style_taps(self, layer_losses: dict[str, torch.Tensor]) -> dict[str, Callable]:
        """One in-line Gram loss per style layer (see ``gram_tap``), writing into ``layer_losses``."""
        def tap(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
            def run(x: torch.Tensor) -> torch.Tensor:
                x, layer_losses[name] = gram_tap(x, self.style_targets[name], self._style_scales[name])
                return x
            return run
        return {name: tap(name) for name in self.style_layers}

    def __call__(self, image: torch.Tensor, content: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Weighted terms and their sum (``total``) for ``image``; ``content`` overrides the fixed
        content target (a training batch's photos)."""
        targets = self.content_features(content) if content is not None else self.content_targets
        layer_losses: dict[str, torch.Tensor] = {}
        feats = self.vgg(image, self.content_layers, taps=self._style_taps(layer_losses))
        zero = image.new_zeros(())
        w = self.weights
        pairs = zip(self.style_layers, self.style_layer_weights)
        style = sum(weight * layer_losses[n] for n, weight in pairs)
        parts = {
            "content": w["content"] * self.content_term(feats, targets) if self.content_layers else zero,
            "style": w["style"] * style,
            "tv": w["tv"] * tv_loss(image) if w["tv"] > 0 else zero,
        }
        parts["total"] = parts["content"] + parts["style"] + parts["tv"]
        return parts
